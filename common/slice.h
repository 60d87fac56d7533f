/*
 * common/slice.h — a borrowed run of bytes. Open value type.
 * Network input travels as slices: no strlen on the wire.
 */
#ifndef ST_SLICE_H
#define ST_SLICE_H

#include <stddef.h>
#include <string.h>

typedef struct st_slice {
    const char *ptr; /* borrowed */
    size_t len;
} st_slice;

#define ST_SLICE_LIT(s) ((st_slice){ (s), sizeof(s) - 1 })

static inline st_slice st_slice_cstr(const char *s) { return (st_slice){ s, s ? strlen(s) : 0 }; }

static inline int st_slice_eq(st_slice a, st_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline int st_slice_eq_cstr(st_slice a, const char *s) { return st_slice_eq(a, st_slice_cstr(s)); }

/* memcmp order, shorter first on a common prefix. */
static inline int st_slice_cmp(st_slice a, st_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c) return c;
    return (a.len > b.len) - (a.len < b.len);
}

#endif
