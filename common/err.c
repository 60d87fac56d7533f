/* common/err.c — texts for the error list in err.h. */
#include "common/err.h"

#include <errno.h>

static const char *const err_text[] = {
#define ST__ERR_TEXT(name, text) text,
    ST_ERRNO_MAP(ST__ERR_TEXT)
#undef ST__ERR_TEXT
};

static const char *const err_name[] = {
#define ST__ERR_NAME(name, text) "E" #name,
    ST_ERRNO_MAP(ST__ERR_NAME)
#undef ST__ERR_NAME
};

const char *st_strerror(int code)
{
    if (code == 0) return "success";
    int idx = -code - 1;
    if (idx < 0 || idx >= ST__IDX_COUNT) return "unknown error";
    return err_text[idx];
}

const char *st_errname(int code)
{
    if (code == 0) return "OK";
    int idx = -code - 1;
    if (idx < 0 || idx >= ST__IDX_COUNT) return "EUNKNOWN";
    return err_name[idx];
}

int st_from_errno(int errnum)
{
    switch (errnum) {
    case ENOSPC: case EDQUOT: return ST_ENOSPC;
    case ENOMEM: return ST_ENOMEM;
    case EINVAL: return ST_EINVAL;
    case ENOENT: return ST_ENOTFOUND;
    case EEXIST: return ST_EEXISTS;
    case EAGAIN: return ST_EAGAIN;
    case EROFS:  return ST_EREADONLY;
    default:     return ST_EIO;
    }
}
