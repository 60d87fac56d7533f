/*
 * storage/enc_int.c — int64 and uint64 encodings: the head's zigzag-delta
 * bucket stream and the block candidates INTPACK (order 0/1/2, frame of
 * reference, fixed width) and RAW. uint64 shares every format with int64 by
 * reinterpreting the bits (differences are mod 2^64, so INT64_MIN next to
 * INT64_MAX and 0 next to UINT64_MAX round-trip). Formats in storage/enc.h.
 * No global state; one owner per appender/reader.
 */
#include "storage/enc.h"

#include "common/alloc.h"
#include "common/err.h"

void enc_int_appender_init(enc_int_appender *a)
{
    memset(a, 0, sizeof *a);
    st_buf_init(&a->buf);
}

void enc_int_appender_fini(enc_int_appender *a)
{
    if (!a) return;
    st_buf_fini(&a->buf);
    memset(a, 0, sizeof *a);
}

int enc_int_appender_append(enc_int_appender *a, int64_t v)
{
    int rc = st_buf_reserve(&a->buf, ENC_BITW_SLACK);
    if (rc) return rc;
    uint64_t u = (uint64_t)v;
    if (a->count == 0) enc__bitw_put(&a->buf, &a->nbits, u, 64);
    else enc__bucket_put(&a->buf, &a->nbits, enc__zz((int64_t)(u - a->prev)));
    a->prev = u;
    a->count++;
    return 0;
}

void enc_uint_appender_init(enc_uint_appender *a) { enc_int_appender_init(a); }
void enc_uint_appender_fini(enc_uint_appender *a) { enc_int_appender_fini(a); }
int  enc_uint_appender_append(enc_uint_appender *a, uint64_t v) { return enc_int_appender_append(a, (int64_t)v); }

void enc_int_reader_init(enc_int_reader *r, const void *bytes, size_t len, uint64_t count)
{
    enc__bitr_init(&r->br, bytes, len);
    r->left = count;
    r->done = 0;
    r->prev = 0;
}

int enc_uint_reader_next(enc_int_reader *r, uint64_t *out)
{
    if (!r->left) return 0;
    if (r->done == 0) r->prev = enc__bitr_get(&r->br, 64);
    else r->prev += (uint64_t)enc__unzz(enc__bucket_get(&r->br));
    if (r->br.bad) return ST_ECORRUPT;
    r->done++;
    r->left--;
    *out = r->prev;
    return 1;
}

int enc_int_reader_next(enc_int_reader *r, int64_t *out)
{
    uint64_t u;
    int rc = enc_uint_reader_next(r, &u);
    if (rc == 1) *out = (int64_t)u;
    return rc;
}

int enc_uint_decode(const void *bytes, size_t len, size_t n, uint64_t *out)
{
    enc_int_reader r;
    enc_int_reader_init(&r, bytes, len, n);
    for (size_t i = 0; i < n; i++) {
        int rc = enc_uint_reader_next(&r, &out[i]);
        if (rc != 1) return rc < 0 ? rc : ST_ECORRUPT;
    }
    return 0;
}

int enc_int_decode(const void *bytes, size_t len, size_t n, int64_t *out)
{
    return enc_uint_decode(bytes, len, n, (uint64_t *)out);
}

/* ---- blocks ---- */

int enc__int_block_encode(const int64_t *v, size_t n, int force, enc_hint *h, st_buf *out, int *id)
{
    return enc__int64_encode(v, n, force, h, out, id);
}

int enc__int_block_decode(int id, const uint8_t *p, size_t len, size_t n, int64_t *out)
{
    return enc__int64_decode(id, p, len, n, out);
}
