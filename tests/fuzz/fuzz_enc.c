/*
 * tests/fuzz/fuzz_enc.c — libFuzzer target for the column encodings
 * (storage/enc.h). Input: byte 0 selects the mode and column type, bytes
 * 1-2 a count; the rest is the payload.
 *   mode 0 (byte0 & 0x80 == 0): the payload is untrusted encoded bytes:
 *     decode it as a block of the type with n = count (<= 4096), and as
 *     each head stream; must not crash, read out of bounds, or leak.
 *   mode 1: the payload is a column of values (8-byte doubles / int64s,
 *     1-byte bools, 4-byte StatusCodes, strings split at length bytes):
 *     encode with every block encoding of the type (and the automatic
 *     choice), without zstd, with it, and at compaction's level through a
 *     context (byte planes), and through the head appender; with byte 1's
 *     low bit set, numeric columns are instead one small skewed value a
 *     payload byte (integers, or hundredths), the shape planes are for;
 *     decoding must give back exactly the same bits, and the block cut by
 *     a byte or asked for one value more must give ST_ECORRUPT, else abort().
 * Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "storage/enc.h"

#define MAXN 4096

/* A new encoding id must join the ids[] table of roundtrip() below. */
_Static_assert(ENC_ID_COUNT == 12, "add the new encoding to roundtrip()'s ids[]");

/* A head stream decoded whole (enc_ts_decode's runs of zero
 * delta-of-delta, enc_float_gorilla_decode's register loop: rc, out) gives
 * the bits the reader gives one value at a time, and fails exactly where
 * the reader does. */
typedef int (*next_fn)(void *reader, uint64_t *bits);
static int ts_next(void *r, uint64_t *b)
{
    int64_t t;
    int k = enc_ts_reader_next(r, &t);
    *b = (uint64_t)t;
    return k;
}
static int float_next(void *r, uint64_t *b)
{
    double v;
    int k = enc_float_reader_next(r, &v);
    memcpy(b, &v, 8);
    return k;
}
static void decode_agrees(int rc, const uint64_t *out, size_t n, void *reader, next_fn next)
{
    size_t i = 0;
    uint64_t b;
    while (i < n && next(reader, &b) == 1) {
        if (rc == 0 && b != out[i]) abort();
        i++;
    }
    if ((rc == 0) != (i == n)) abort();
}

static void decode_untrusted(int type, const uint8_t *p, size_t len, size_t n)
{
    static uint8_t out[MAXN * 16 + 16];
    st_buf store;
    st_buf_init(&store);
    if (type == ENC_TYPE_STRING) (void)enc_block_decode_str(p, len, n, &store, (st_slice *)(void *)out);
    else (void)enc_block_decode(p, len, (enc_type)type, n, out);
    st_buf_fini(&store);
    enc_ts_reader tr;
    enc_ts_reader_init(&tr, p, len, n);
    decode_agrees(enc_ts_decode(p, len, n, (int64_t *)(void *)out), (const uint64_t *)(void *)out, n, &tr, ts_next);
    (void)enc_int_decode(p, len, n, (int64_t *)(void *)out);
    enc_float_reader fr;
    enc_float_reader_init(&fr, p, len, n);
    decode_agrees(enc_float_gorilla_decode(p, len, n, (double *)(void *)out), (const uint64_t *)(void *)out, n, &fr,
                  float_next);
    (void)enc_bool_decode(p, len, n, out);
    (void)enc_str_decode(p, len, n, (st_slice *)(void *)out);
    (void)enc_quality_decode(p, len, n, (uint32_t *)(void *)out);
}

static size_t esize(int type)
{
    switch (type) {
    case ENC_TYPE_BOOL: return 1;
    case ENC_TYPE_QUALITY: return 4;
    case ENC_TYPE_STRING: return sizeof(st_slice);
    default: return 8;
    }
}

static int same(int type, const void *a, const void *b, size_t n)
{
    if (type != ENC_TYPE_STRING) return n == 0 || memcmp(a, b, n * esize(type)) == 0;
    const st_slice *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i].len != y[i].len || (x[i].len && memcmp(x[i].ptr, y[i].ptr, x[i].len))) return 0;
    return 1;
}

static void check_head(int type, const void *v, size_t n, void *out)
{
    int ok = 1;
    switch (type) {
    case ENC_TYPE_TIME: {
        enc_ts_appender a;
        enc_ts_appender_init(&a);
        for (size_t i = 0; i < n; i++) if (enc_ts_appender_append(&a, ((const int64_t *)v)[i])) abort();
        ok = enc_ts_decode(a.buf.ptr, a.buf.len, n, out) == 0;
        enc_ts_appender_fini(&a);
        break;
    }
    case ENC_TYPE_FLOAT: {
        enc_float_appender a;
        enc_float_appender_init(&a);
        for (size_t i = 0; i < n; i++) if (enc_float_appender_append(&a, ((const double *)v)[i])) abort();
        ok = enc_float_gorilla_decode(a.buf.ptr, a.buf.len, n, out) == 0;
        enc_float_appender_fini(&a);
        break;
    }
    case ENC_TYPE_INT:
    case ENC_TYPE_UINT: {
        enc_int_appender a;
        enc_int_appender_init(&a);
        for (size_t i = 0; i < n; i++) if (enc_int_appender_append(&a, ((const int64_t *)v)[i])) abort();
        ok = enc_int_decode(a.buf.ptr, a.buf.len, n, out) == 0;
        enc_int_appender_fini(&a);
        break;
    }
    case ENC_TYPE_BOOL: {
        enc_bool_appender a;
        enc_bool_appender_init(&a);
        for (size_t i = 0; i < n; i++) if (enc_bool_appender_append(&a, ((const uint8_t *)v)[i])) abort();
        ok = enc_bool_decode(a.buf.ptr, a.buf.len, n, out) == 0;
        enc_bool_appender_fini(&a);
        break;
    }
    case ENC_TYPE_STRING: {
        enc_str_appender a;
        enc_str_appender_init(&a);
        const st_slice *s = v;
        for (size_t i = 0; i < n; i++) if (enc_str_appender_append(&a, s[i].ptr, s[i].len)) abort();
        ok = enc_str_decode(a.buf.ptr, a.buf.len, n, out) == 0 && same(type, v, out, n);
        enc_str_appender_fini(&a);
        if (!ok) abort();
        return;
    }
    case ENC_TYPE_QUALITY: {
        enc_quality_appender a;
        enc_quality_appender_init(&a);
        for (size_t i = 0; i < n; i++) if (enc_quality_appender_append(&a, ((const uint32_t *)v)[i])) abort();
        ok = enc_quality_decode(a.buf.ptr, a.buf.len, n, out) == 0;
        enc_quality_appender_fini(&a);
        break;
    }
    }
    if (!ok || !same(type, v, out, n)) abort();
}

static void roundtrip(int type, const uint8_t *p, size_t len, int small)
{
    static uint8_t vals[MAXN * 16 + 16], out[MAXN * 16 + 16];
    size_t n = 0;
    if (small && (type == ENC_TYPE_TIME || type == ENC_TYPE_INT || type == ENC_TYPE_UINT || type == ENC_TYPE_FLOAT)) {
        /* One byte a value, small and skewed like quantized sensor noise:
         * what byte planes are for (integers, or hundredths as doubles). */
        n = len < MAXN ? len : MAXN;
        for (size_t i = 0; i < n; i++) {
            int64_t k = (int8_t)p[i] / 4 * ((int8_t)p[i] % 4);
            if (type == ENC_TYPE_FLOAT) ((double *)(void *)vals)[i] = (double)k / 100;
            else ((int64_t *)(void *)vals)[i] = k;
        }
    } else if (type == ENC_TYPE_STRING) {
        st_slice *s = (st_slice *)(void *)vals;
        size_t i = 0;
        while (i < len && n < MAXN) {
            size_t l = p[i++] % 17;
            if (l > len - i) l = len - i;
            s[n].ptr = (const char *)p + i;
            s[n].len = l;
            n++;
            i += l;
        }
    } else {
        size_t es = esize(type);
        n = len / es;
        if (n > MAXN) n = MAXN;
        memcpy(vals, p, n * es);
        if (type == ENC_TYPE_BOOL) for (size_t i = 0; i < n; i++) vals[i] &= 1;
    }
    static const int ids[][4] = {
        [ENC_TYPE_TIME] = { ENC_TS_CONST, ENC_INTPACK, ENC_RAW, ENC_INTPACK_DIV10 },
        [ENC_TYPE_FLOAT] = { ENC_GORILLA, ENC_DECIMAL, ENC_RAW, ENC_FLOATPACK },
        [ENC_TYPE_INT] = { ENC_INTPACK, ENC_RAW, ENC_INTPACK_DIV10, -2 },
        [ENC_TYPE_UINT] = { ENC_INTPACK, ENC_RAW, ENC_INTPACK_DIV10, -2 },
        [ENC_TYPE_BOOL] = { ENC_BOOL_BITS, ENC_BOOL_RLE, -2, -2 },
        [ENC_TYPE_STRING] = { ENC_STR_PLAIN, ENC_STR_DICT, -2, -2 },
        [ENC_TYPE_QUALITY] = { ENC_QUAL_RLE, ENC_RAW, -2, -2 },
    };
    st_buf b, store;
    st_buf_init(&b);
    st_buf_init(&store);
    enc_zctx zc;
    enc_zctx_init(&zc);
    for (int z = 0; z <= 2; z++) {
        for (int k = -1; k < 4; k++) {
            int id = k < 0 ? -1 : ids[type][k];
            if (id == -2) break;
            st_buf_clear(&b);
            /* z 2: compaction's level through a context (byte planes) */
            int rc = z == 2 ? enc_block_encode_z((enc_type)type, id, vals, n, &b, ENC_PLANES_MIN_LEVEL, &zc)
                            : enc_block_encode_with((enc_type)type, id, vals, n, &b, z);
            if (rc == ST_ERANGE && (id == ENC_TS_CONST || id == ENC_INTPACK_DIV10)) continue;
            if (rc) abort();
            if (type == ENC_TYPE_STRING) rc = enc_block_decode_str(b.ptr, b.len, n, &store, (st_slice *)(void *)out);
            else rc = enc_block_decode(b.ptr, b.len, (enc_type)type, n, out);
            if (rc || !same(type, vals, out, n)) abort();
            /* A block is consumed exactly and carries its count: a byte
             * short or one value more never decodes. */
            if (type == ENC_TYPE_STRING) {
                if (enc_block_decode_str(b.ptr, b.len - 1, n, &store, (st_slice *)(void *)out) != ST_ECORRUPT) abort();
            } else {
                if (enc_block_decode(b.ptr, b.len - 1, (enc_type)type, n, out) != ST_ECORRUPT) abort();
                if (n < MAXN && enc_block_decode(b.ptr, b.len, (enc_type)type, n + 1, out) != ST_ECORRUPT) abort();
            }
        }
    }
    enc_zctx_fini(&zc);
    st_buf_fini(&b);
    st_buf_fini(&store);
    check_head(type, vals, n, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    int type = (data[0] & 0x7f) % (ENC_TYPE_QUALITY + 1);
    size_t n = ((size_t)data[1] | (size_t)data[2] << 8) % (MAXN + 1);
    if (data[0] & 0x80) roundtrip(type, data + 3, size - 3, data[1] & 1);
    else decode_untrusted(type, data + 3, size - 3, n);
    return 0;
}
