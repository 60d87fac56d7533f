/*
 * common/err.h — the one list of Strata error codes.
 *
 * Functions that can fail return int: 0 (ST_OK) or one of the negative codes
 * below. The list is an X-macro so st_strerror() and the enum never drift.
 * Thread-safe; no state.
 */
#ifndef ST_ERR_H
#define ST_ERR_H

#define ST_ERRNO_MAP(X)                                   \
    X(NOMEM,       "out of memory")                       \
    X(INVAL,       "invalid argument")                    \
    X(IO,          "I/O error")                           \
    X(NOSPC,       "no space left on device")             \
    X(CORRUPT,     "data corrupt")                        \
    X(PROTO,       "protocol error")                      \
    X(PARSE,       "parse error")                         \
    X(RANGE,       "value out of range")                  \
    X(NOTFOUND,    "not found")                           \
    X(EXISTS,      "already exists")                      \
    X(LIMIT,       "limit exceeded")                      \
    X(BUSY,        "resource busy")                       \
    X(READONLY,    "storage is read-only")                \
    X(CONFLICT,    "type conflict")                       \
    X(TIMEOUT,     "timed out")                           \
    X(CLOSED,      "closed")                              \
    X(AGAIN,       "try again")                           \
    X(UNSUPPORTED, "not supported")                       \
    X(TOOLARGE,    "too large")                           \
    X(AUTH,        "authorization failed")

enum st_err_index {
#define ST__ERR_IDX(name, text) ST__IDX_##name,
    ST_ERRNO_MAP(ST__ERR_IDX)
#undef ST__ERR_IDX
    ST__IDX_COUNT
};

enum st_err {
    ST_OK = 0,
#define ST__ERR_DEF(name, text) ST_E##name = -(1 + ST__IDX_##name),
    ST_ERRNO_MAP(ST__ERR_DEF)
#undef ST__ERR_DEF
};

/* Text for a code from the list; "unknown error" for anything else. Never NULL. */
const char *st_strerror(int code);
/* Short symbolic name ("ENOMEM"...), for logs and tests. Never NULL. */
const char *st_errname(int code);
/* Map an errno value to the list (ENOSPC -> ST_ENOSPC, ENOMEM -> ST_ENOMEM, else ST_EIO). */
int st_from_errno(int errnum);

#endif
