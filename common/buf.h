/*
 * common/buf.h — growable byte buffer (st_malloc'd, owned by the struct).
 * Caller's storage: init/fini. Not thread-safe.
 */
#ifndef ST_BUF_H
#define ST_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct st_buf {
    char  *ptr;  /* owned; NUL-terminated after every append when cap > 0 */
    size_t len;
    size_t cap;
} st_buf;

void st_buf_init(st_buf *b);
void st_buf_fini(st_buf *b);
static inline void st_buf_clear(st_buf *b) { b->len = 0; if (b->ptr) b->ptr[0] = 0; }
int  st_buf__grow(st_buf *b, size_t n);  /* st_buf_reserve when the room is short */
int  st_buf__append_byte(st_buf *b, char c);
/* Make room for n more bytes (plus the NUL). 0 or ST_ENOMEM. The check is
 * inline: writers reserve once per row and then write in place. */
static inline int st_buf_reserve(st_buf *b, size_t n) { return n < b->cap - b->len ? 0 : st_buf__grow(b, n); }
int  st_buf_append(st_buf *b, const void *p, size_t n);
int  st_buf_append_str(st_buf *b, const char *s);
static inline int st_buf_append_byte(st_buf *b, char c)
{
    if (b->cap - b->len < 2) return st_buf__append_byte(b, c);
    b->ptr[b->len++] = c;
    b->ptr[b->len] = 0;
    return 0;
}
int  st_buf_printf(st_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int  st_buf_vprintf(st_buf *b, const char *fmt, va_list ap);
/* Hand the bytes to the caller (who st_free()s them); the buffer is left empty. */
char *st_buf_take(st_buf *b);

/* Little-endian fixed-width appends for on-disk formats. */
int st_buf_put_u8(st_buf *b, uint8_t v);
int st_buf_put_u16le(st_buf *b, uint16_t v);
int st_buf_put_u32le(st_buf *b, uint32_t v);
int st_buf_put_u64le(st_buf *b, uint64_t v);
/* Unsigned LEB128 varint. */
int st_buf_put_uvarint(st_buf *b, uint64_t v);

#endif
