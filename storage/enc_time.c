/*
 * storage/enc_time.c — timestamp encodings: the head's delta-of-delta
 * stream (bucketed zigzag, 1 bit per regular point) and the block
 * candidates TS_CONST, INTPACK (order 0/1/2, frame of reference) and RAW.
 * Formats in storage/enc.h. No global state; one owner per appender/reader.
 *
 * All arithmetic on timestamps is done in uint64 (mod 2^64), so any int64
 * sequence round-trips, however far apart its values are.
 */
#include "storage/enc.h"

#include "common/alloc.h"
#include "common/err.h"

void enc_ts_appender_init(enc_ts_appender *a)
{
    memset(a, 0, sizeof *a);
    st_buf_init(&a->buf);
}

void enc_ts_appender_fini(enc_ts_appender *a)
{
    if (!a) return;
    st_buf_fini(&a->buf);
    memset(a, 0, sizeof *a);
}

int enc_ts_appender_append(enc_ts_appender *a, int64_t ts_ns)
{
    int rc = st_buf_reserve(&a->buf, ENC_BITW_SLACK);
    if (rc) return rc;
    uint64_t t = (uint64_t)ts_ns;
    if (a->count == 0) {
        enc__bitw_put(&a->buf, &a->nbits, t, 64);
        a->prev_delta = 0;
    } else {
        uint64_t d = t - a->prev;
        enc__bucket_put(&a->buf, &a->nbits, enc__zz((int64_t)(d - a->prev_delta)));
        a->prev_delta = d;
    }
    a->prev = t;
    a->count++;
    return 0;
}

void enc_ts_reader_init(enc_ts_reader *r, const void *bytes, size_t len, uint64_t count)
{
    enc__bitr_init(&r->br, bytes, len);
    r->left = count;
    r->done = 0;
    r->prev = r->prev_delta = 0;
}

int enc_ts_reader_next(enc_ts_reader *r, int64_t *out)
{
    if (!r->left) return 0;
    if (r->done == 0) {
        r->prev = enc__bitr_get(&r->br, 64);
    } else {
        r->prev_delta += (uint64_t)enc__unzz(enc__bucket_get(&r->br));
        r->prev += r->prev_delta;
    }
    if (r->br.bad) return ST_ECORRUPT;
    r->done++;
    r->left--;
    *out = (int64_t)r->prev;
    return 1;
}

/* The reader's loop, with runs of zero delta-of-delta (one 0 bit each:
 * regular data) taken up to 57 at a time from one 64-bit load while a whole
 * load lies inside the stream. Same results and errors as the reader. */
int enc_ts_decode(const void *bytes, size_t len, size_t n, int64_t *out)
{
    if (n == 0) return 0;
    enc_bitr br;
    enc__bitr_init(&br, bytes, len);
    uint64_t prev = enc__bitr_get(&br, 64), delta = 0;
    if (br.bad) return ST_ECORRUPT;
    out[0] = (int64_t)prev;
    size_t i = 1;
    while (i < n) {
        if (br.pos + 64 <= br.lim) {
            uint64_t w = enc__ld64(br.p + (br.pos >> 3)) >> (br.pos & 7); /* >= 57 valid bits */
            unsigned z = w ? (unsigned)__builtin_ctzll(w) : 57u;
            if (z > 57) z = 57;
            if (z) {
                size_t k = n - i < z ? n - i : z;
                for (size_t j = 0; j < k; j++) { prev += delta; out[i + j] = (int64_t)prev; }
                i += k;
                br.pos += k;
                continue;
            }
        }
        delta += (uint64_t)enc__unzz(enc__bucket_get(&br));
        prev += delta;
        if (br.bad) return ST_ECORRUPT;
        out[i++] = (int64_t)prev;
    }
    return 0;
}

/* ---- blocks ---- */

int enc__raw64_encode(const uint64_t *v, size_t n, st_buf *out)
{
    int rc = st_buf_reserve(out, n * 8);
    if (rc) return rc;
    uint8_t *p = (uint8_t *)out->ptr + out->len;
    for (size_t i = 0; i < n; i++) enc__st64(p + 8 * i, v[i]);
    out->len += n * 8;
    out->ptr[out->len] = 0;
    return 0;
}

int enc__raw64_decode(const uint8_t *p, size_t len, size_t n, uint64_t *out)
{
    if (n > len / 8 || len != n * 8) return ST_ECORRUPT;
    for (size_t i = 0; i < n; i++) out[i] = enc__ld64(p + 8 * i);
    return 0;
}

static int is_const_interval(const int64_t *v, size_t n)
{
    const uint64_t *u = (const uint64_t *)v;
    if (n < 2) return 1;
    uint64_t d = u[1] - u[0];
    for (size_t i = 2; i < n; i++)
        if (u[i] - u[i - 1] != d) return 0;
    return 1;
}

int enc__time_block_encode(const int64_t *v, size_t n, int force, enc_hint *h, st_buf *out, int *id)
{
    const uint64_t *u = (const uint64_t *)v;
    if (force >= 0 && force != ENC_TS_CONST && force != ENC_INTPACK && force != ENC_INTPACK_DIV10 && force != ENC_RAW)
        return ST_EINVAL;
    if (force == ENC_TS_CONST && !(n >= 1 && is_const_interval(v, n))) return ST_ERANGE;
    if ((force < 0 || force == ENC_TS_CONST) && n >= 1 && is_const_interval(v, n)) {
        int rc = st_buf_put_uvarint(out, enc__zz(v[0]));
        if (!rc) rc = st_buf_put_uvarint(out, enc__zz(n >= 2 ? (int64_t)(u[1] - u[0]) : 0));
        *id = ENC_TS_CONST;
        return rc;
    }
    return enc__int64_encode(v, n, force, h, out, id);
}

int enc__time_block_decode(int id, const uint8_t *p, size_t len, size_t n, int64_t *out)
{
    size_t pos = 0;
    switch (id) {
    case ENC_TS_CONST: {
        uint64_t z0, zd;
        if (enc__get_uvarint(p, len, &pos, &z0) || enc__get_uvarint(p, len, &pos, &zd) || pos != len)
            return ST_ECORRUPT;
        uint64_t t = (uint64_t)enc__unzz(z0), d = (uint64_t)enc__unzz(zd);
        for (size_t i = 0; i < n; i++, t += d) out[i] = (int64_t)t;
        return 0;
    }
    default:
        return enc__int64_decode(id, p, len, n, out);
    }
}
