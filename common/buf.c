/* common/buf.c — growable byte buffer. */
#include "common/buf.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

void st_buf_init(st_buf *b) { b->ptr = NULL; b->len = b->cap = 0; }

void st_buf_fini(st_buf *b)
{
    st_free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

int st_buf__grow(st_buf *b, size_t n)
{
    if (n > SIZE_MAX - b->len - 1) return ST_ENOMEM;
    size_t need = b->len + n + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = st_realloc(b->ptr, cap);
    if (!p) return ST_ENOMEM;
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int st_buf_append(st_buf *b, const void *p, size_t n)
{
    int rc = st_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = 0;
    return 0;
}

int st_buf_append_str(st_buf *b, const char *s) { return st_buf_append(b, s, strlen(s)); }
int st_buf__append_byte(st_buf *b, char c) { return st_buf_append(b, &c, 1); }

int st_buf_vprintf(st_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0) { va_end(ap2); return ST_EINVAL; }
    if ((size_t)n < sizeof tmp) { va_end(ap2); return st_buf_append(b, tmp, (size_t)n); }
    int rc = st_buf_reserve(b, (size_t)n);
    if (rc) { va_end(ap2); return rc; }
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

int st_buf_printf(st_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = st_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *st_buf_take(st_buf *b)
{
    char *p = b->ptr;
    b->ptr = NULL;
    b->len = b->cap = 0;
    return p;
}

int st_buf_put_u8(st_buf *b, uint8_t v) { return st_buf_append(b, &v, 1); }

int st_buf_put_u16le(st_buf *b, uint16_t v)
{
    unsigned char x[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
    return st_buf_append(b, x, 2);
}

int st_buf_put_u32le(st_buf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++) x[i] = (unsigned char)(v >> (8 * i));
    return st_buf_append(b, x, 4);
}

int st_buf_put_u64le(st_buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
    return st_buf_append(b, x, 8);
}

int st_buf_put_uvarint(st_buf *b, uint64_t v)
{
    unsigned char x[10];
    int n = 0;
    while (v >= 0x80) { x[n++] = (unsigned char)(v | 0x80); v >>= 7; }
    x[n++] = (unsigned char)v;
    return st_buf_append(b, x, (size_t)n);
}
