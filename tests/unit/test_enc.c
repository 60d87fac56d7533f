/*
 * tests/unit/test_enc.c — the column encodings (storage/enc.h): every head
 * stream and every block encoding round-trips bit-exactly on generated
 * columns (values from formulas and a seeded generator), blocks pick the
 * encoding we expect, and truncated or corrupted bytes give ST_ECORRUPT
 * without crashing. Prints bits/value for information. Single-threaded.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/num.h"
#include "storage/enc.h"
#include "tests/unit/unit.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return rng_state = x;
}
static double rnd01(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* ---------------- datasets ---------------- */

enum { F_RANDBITS, F_WALK, F_DEC1, F_DEC2, F_DEC3, F_CONST, F_INTS, F_COUNTER, F_ADVERSE, F_DEC2_EXC, F_MIXED, F_COUNT };
static const char *const fname[F_COUNT] = {
    "random-bits", "random-walk", "1-decimal", "2-decimal", "3-decimal", "constant",
    "integers", "counter", "adversarial", "2-decimal+exceptions", "2-decimal+3%-6-decimal",
};

static void gen_float(int kind, double *v, size_t n)
{
    double w = 100.0;
    static const uint64_t adv[] = {
        0x7ff8000000000000ull, 0x7ff0000000000001ull, 0xfff8000000000abcull, 0x7ff4000000000000ull,
        0x8000000000000000ull, 0x0000000000000000ull, 0x0000000000000001ull, 0x800fffffffffffffull,
        0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7fefffffffffffffull, 0xffefffffffffffffull,
        0x0010000000000000ull, 0x3ff0000000000000ull, 0x4340000000000001ull, 0x43e0000000000000ull,
    };
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case F_RANDBITS: v[i] = st_bits_double(rnd()); break;
        case F_WALK: w += rnd01() - 0.5; v[i] = w; break;
        case F_DEC1: w += rnd01() - 0.5; v[i] = round(w * 10) / 10; break;
        case F_DEC2: w += rnd01() - 0.5; v[i] = round(w * 100) / 100; break;
        case F_DEC3: w += rnd01() - 0.5; v[i] = round(w * 1000) / 1000; break;
        case F_CONST: v[i] = 42.125; break;
        case F_INTS: v[i] = (double)(int64_t)(rnd() % 2000) - 1000; break;
        case F_COUNTER: v[i] = (double)(i * 7 + (rnd() % 3)); break;
        case F_ADVERSE: v[i] = st_bits_double(adv[(i + (rnd() % 3 == 0)) % (sizeof adv / sizeof adv[0])]); break;
        case F_DEC2_EXC:
            w += rnd01() - 0.5;
            v[i] = (i % 97 == 5) ? st_bits_double(0x7ff8000000000000ull | i) : (i % 89 == 3) ? -0.0 : round(w * 100) / 100;
            break;
        case F_MIXED:
            w += rnd01() - 0.5;
            v[i] = (i % 33 == 0) ? round(w * 1e6) / 1e6 : round(w * 100) / 100;
            break;
        }
    }
}

enum { I_RANDOM, I_SMALL, I_COUNTER, I_EXTREMES, I_CONST, I_TS_REGULAR, I_TS_JITTER, I_TS_GAPS, I_TS_MS, I_COUNT };
static const char *const iname[I_COUNT] = {
    "random", "small", "counter", "extremes", "constant", "ts-regular-10s", "ts-jitter-ms", "ts-gaps",
    "ts-ms-precision",
};

static void gen_int(int kind, int64_t *v, size_t n)
{
    int64_t t = 1700000000000000000ll;
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case I_RANDOM: v[i] = (int64_t)rnd(); break;
        case I_SMALL: v[i] = (int64_t)(rnd() % 201) - 100; break;
        case I_COUNTER: v[i] = (int64_t)(i * 1000 + rnd() % 10); break;
        case I_EXTREMES: v[i] = (i & 1) ? INT64_MIN : (i % 3 ? INT64_MAX : 0); break;
        case I_CONST: v[i] = -7; break;
        case I_TS_REGULAR: v[i] = t + (int64_t)i * 10000000000ll; break;
        case I_TS_JITTER: v[i] = t + (int64_t)i * 10000000000ll + (int64_t)(rnd() % 2000000) - 1000000; break;
        case I_TS_MS: v[i] = t + (int64_t)i * 10000000000ll + ((int64_t)(rnd() % 200) - 100) * 1000000ll; break;
        case I_TS_GAPS: v[i] = t + (int64_t)i * 1000000000ll + (int64_t)(i / 100) * 3600000000000ll; break;
        }
    }
}

static const size_t sizes[] = { 0, 1, 2, 3, 7, 63, 64, 65, 127, 128, 129, 1000, 4096, 100000 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ---------------- head streams ---------------- */

TEST(test_float_stream)
{
    for (int k = 0; k < F_COUNT; k++) {
        size_t n = 100000;
        double *v = st_malloc(n * sizeof *v), *o = st_malloc(n * sizeof *o);
        REQUIRE(v && o);
        gen_float(k, v, n);
        enc_float_appender a;
        enc_float_appender_init(&a);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ_INT(enc_float_appender_append(&a, v[i]), 0);
            /* Readable while growing: decode a prefix at a few points. */
            if (i == 0 || i == 1 || i == 64 || i == 999) {
                CHECK_EQ_INT(enc_float_gorilla_decode(a.buf.ptr, a.buf.len, i + 1, o), 0);
                for (size_t j = 0; j <= i; j++) bad += st_double_bits(o[j]) != st_double_bits(v[j]);
            }
        }
        CHECK_EQ_U64(a.count, n);
        CHECK_EQ_INT(enc_float_gorilla_decode(a.buf.ptr, a.buf.len, n, o), 0);
        for (size_t j = 0; j < n; j++) bad += st_double_bits(o[j]) != st_double_bits(v[j]);
        enc_float_reader r;
        enc_float_reader_init(&r, a.buf.ptr, a.buf.len, n);
        double x;
        size_t got = 0;
        while (enc_float_reader_next(&r, &x) == 1) bad += st_double_bits(x) != st_double_bits(v[got++]);
        CHECK_EQ_U64(got, n);
        CHECK_EQ_INT(bad, 0);
        printf("  head gorilla %-22s %6.2f bits/value\n", fname[k], a.buf.len * 8.0 / (double)n);
        enc_float_appender_fini(&a);
        st_free(v);
        st_free(o);
    }
}

TEST(test_ts_stream)
{
    for (int k = 0; k < I_COUNT; k++) {
        size_t n = 20000;
        int64_t *v = st_malloc(n * sizeof *v), *o = st_malloc(n * sizeof *o);
        REQUIRE(v && o);
        gen_int(k, v, n);
        enc_ts_appender a;
        enc_ts_appender_init(&a);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ_INT(enc_ts_appender_append(&a, v[i]), 0);
            if (i == 0 || i == 2 || i == 100) {
                CHECK_EQ_INT(enc_ts_decode(a.buf.ptr, a.buf.len, i + 1, o), 0);
                for (size_t j = 0; j <= i; j++) bad += o[j] != v[j];
            }
        }
        CHECK_EQ_INT(enc_ts_decode(a.buf.ptr, a.buf.len, n, o), 0);
        for (size_t j = 0; j < n; j++) bad += o[j] != v[j];
        CHECK_EQ_INT(bad, 0);
        CHECK(enc_ts_decode(a.buf.ptr, a.buf.len / 2, n, o) == ST_ECORRUPT);
        printf("  head ts  %-16s %6.2f bits/value\n", iname[k], a.buf.len * 8.0 / (double)n);
        if (k == I_TS_REGULAR) CHECK(a.buf.len * 8 < n + 200);
        enc_ts_appender_fini(&a);
        st_free(v);
        st_free(o);
    }
}

TEST(test_int_stream)
{
    for (int k = 0; k < I_COUNT; k++) {
        size_t n = 20000;
        int64_t *v = st_malloc(n * sizeof *v), *o = st_malloc(n * sizeof *o);
        REQUIRE(v && o);
        gen_int(k, v, n);
        enc_int_appender a;
        enc_uint_appender ua;
        enc_int_appender_init(&a);
        enc_uint_appender_init(&ua);
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ_INT(enc_int_appender_append(&a, v[i]), 0);
            CHECK_EQ_INT(enc_uint_appender_append(&ua, (uint64_t)v[i] ^ 0x8000000000000000ull), 0);
        }
        int bad = 0;
        CHECK_EQ_INT(enc_int_decode(a.buf.ptr, a.buf.len, n, o), 0);
        for (size_t j = 0; j < n; j++) bad += o[j] != v[j];
        uint64_t *uo = (uint64_t *)o;
        CHECK_EQ_INT(enc_uint_decode(ua.buf.ptr, ua.buf.len, n, uo), 0);
        for (size_t j = 0; j < n; j++) bad += uo[j] != ((uint64_t)v[j] ^ 0x8000000000000000ull);
        enc_int_reader r;
        enc_int_reader_init(&r, a.buf.ptr, a.buf.len, n);
        int64_t x;
        size_t got = 0;
        while (enc_int_reader_next(&r, &x) == 1) bad += x != v[got++];
        CHECK_EQ_U64(got, n);
        CHECK_EQ_INT(bad, 0);
        printf("  head int %-16s %6.2f bits/value\n", iname[k], a.buf.len * 8.0 / (double)n);
        enc_int_appender_fini(&a);
        enc_uint_appender_fini(&ua);
        st_free(v);
        st_free(o);
    }
}

TEST(test_bool_str_quality_stream)
{
    enum { N = 5000 };
    static uint8_t bv[N], bo[N];
    enc_bool_appender b;
    enc_bool_appender_init(&b);
    for (int i = 0; i < N; i++) { bv[i] = (uint8_t)((rnd() % 5) == 0); CHECK_EQ_INT(enc_bool_appender_append(&b, bv[i]), 0); }
    CHECK_EQ_INT(enc_bool_decode(b.buf.ptr, b.buf.len, N, bo), 0);
    CHECK(memcmp(bv, bo, N) == 0);
    enc_bool_reader br;
    enc_bool_reader_init(&br, b.buf.ptr, b.buf.len, N);
    int x, bad = 0, got = 0;
    while (enc_bool_reader_next(&br, &x) == 1) bad += x != bv[got++];
    CHECK_EQ_INT(got, N);
    CHECK_EQ_INT(bad, 0);
    enc_bool_appender_fini(&b);

    /* Strings with embedded NULs and empties. */
    enc_str_appender s;
    enc_str_appender_init(&s);
    char tmp[300];
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i % 7 == 0 ? 0 : i % 300);
        for (size_t j = 0; j < len; j++) tmp[j] = (char)((i + j) % 3 == 0 ? 0 : 'a' + (i + j) % 26);
        CHECK_EQ_INT(enc_str_appender_append(&s, tmp, len), 0);
    }
    static st_slice so[N];
    CHECK_EQ_INT(enc_str_decode(s.buf.ptr, s.buf.len, N, so), 0);
    bad = 0;
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i % 7 == 0 ? 0 : i % 300);
        for (size_t j = 0; j < len; j++) tmp[j] = (char)((i + j) % 3 == 0 ? 0 : 'a' + (i + j) % 26);
        bad += so[i].len != len || (len && memcmp(so[i].ptr, tmp, len) != 0);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(enc_str_decode(s.buf.ptr, s.buf.len - 1, N, so) == ST_ECORRUPT);
    enc_str_appender_fini(&s);

    /* Quality: all good is one 8-byte run. */
    enc_quality_appender q;
    enc_quality_appender_init(&q);
    for (int i = 0; i < N; i++) CHECK_EQ_INT(enc_quality_appender_append(&q, 0), 0);
    CHECK_EQ_U64(q.buf.len, 8);
    static uint32_t qv[N], qo[N];
    for (int i = 0; i < N; i++) {
        qv[i] = (i / 100) % 3 == 1 ? 0x80000000u : (i % 1000 == 7 ? 0x40900000u : 0);
        CHECK_EQ_INT(enc_quality_appender_append(&q, qv[i]), 0);
    }
    static uint32_t all[2 * N];
    CHECK_EQ_INT(enc_quality_decode(q.buf.ptr, q.buf.len, 2 * N, all), 0);
    bad = 0;
    for (int i = 0; i < N; i++) bad += all[i] != 0 || all[N + i] != qv[i];
    CHECK_EQ_INT(bad, 0);
    enc_quality_reader qr;
    enc_quality_reader_init(&qr, q.buf.ptr, q.buf.len, 2 * N);
    uint32_t qq;
    got = 0;
    bad = 0;
    while (enc_quality_reader_next(&qr, &qq) == 1) { bad += qq != all[got]; got++; }
    CHECK_EQ_INT(got, 2 * N);
    CHECK_EQ_INT(bad, 0);
    CHECK(enc_quality_decode(q.buf.ptr, q.buf.len - 8, 2 * N, all) == ST_ECORRUPT);
    CHECK_EQ_INT(enc_quality_decode(q.buf.ptr, q.buf.len, N, qo), 0);
    printf("  head quality %d values in %zu bytes\n", 2 * N, q.buf.len);
    enc_quality_appender_fini(&q);
}

/* ---------------- blocks ---------------- */

static size_t elem_size(enc_type t)
{
    switch (t) {
    case ENC_TYPE_BOOL: return 1;
    case ENC_TYPE_QUALITY: return 4;
    case ENC_TYPE_STRING: return sizeof(st_slice);
    default: return 8;
    }
}

/* A new encoding id must join this table (and tests/fuzz/fuzz_enc.c's). */
_Static_assert(ENC_ID_COUNT == 12, "add the new encoding to ids_of[]");
static const int ids_of[7][4] = {
    [ENC_TYPE_TIME] = { ENC_TS_CONST, ENC_INTPACK, ENC_RAW, ENC_INTPACK_DIV10 },
    [ENC_TYPE_FLOAT] = { ENC_GORILLA, ENC_DECIMAL, ENC_RAW, ENC_FLOATPACK },
    [ENC_TYPE_INT] = { ENC_INTPACK, ENC_RAW, ENC_INTPACK_DIV10, -1 },
    [ENC_TYPE_UINT] = { ENC_INTPACK, ENC_RAW, ENC_INTPACK_DIV10, -1 },
    [ENC_TYPE_BOOL] = { ENC_BOOL_BITS, ENC_BOOL_RLE, -1, -1 },
    [ENC_TYPE_STRING] = { ENC_STR_PLAIN, ENC_STR_DICT, -1, -1 },
    [ENC_TYPE_QUALITY] = { ENC_QUAL_RLE, ENC_RAW, -1, -1 },
};

static int same_values(enc_type t, const void *a, const void *b, size_t n)
{
    if (t != ENC_TYPE_STRING) return memcmp(a, b, n * elem_size(t)) == 0;
    const st_slice *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i].len != y[i].len || (x[i].len && memcmp(x[i].ptr, y[i].ptr, x[i].len))) return 0;
    return 1;
}

static int decode_any(enc_type t, const void *p, size_t len, size_t n, void *out, st_buf *store)
{
    if (t == ENC_TYPE_STRING) return enc_block_decode_str(p, len, n, store, out);
    return enc_block_decode(p, len, t, n, out);
}

static size_t g_corrupt_runs;

/* Truncations and byte flips of one block must fail cleanly or decode n values. */
static void corrupt_block(enc_type t, const st_buf *b, size_t n, void *out)
{
    st_buf store;
    st_buf_init(&store);
    size_t lim = b->len < 600 ? b->len : 600;
    for (size_t cut = 0; cut < lim; cut++) {
        int rc = decode_any(t, b->ptr, cut, n, out, &store);
        /* Every payload is consumed exactly: no prefix decodes. */
        CHECK_EQ_INT(rc, ST_ECORRUPT);
        g_corrupt_runs++;
    }
    char *c = st_malloc(b->len ? b->len : 1);
    for (int k = 0; k < 200 && b->len; k++) {
        memcpy(c, b->ptr, b->len);
        size_t at = (size_t)(rnd() % b->len);
        c[at] ^= (char)(1u << (rnd() % 8));
        if (rnd() % 2) c[(size_t)(rnd() % b->len)] = (char)rnd();
        int rc = decode_any(t, c, b->len, n, out, &store);
        CHECK(rc == ST_ECORRUPT || rc == 0);
        g_corrupt_runs++;
    }
    st_free(c);
    st_buf_fini(&store);
}

/* Round-trip values through the chosen encoding and every forced one,
 * without zstd, with zstd, and at compaction's level through a context
 * (byte planes allowed). Returns the chosen block's size in bytes. */
static size_t block_roundtrip(enc_type t, const void *v, size_t n, int *chosen, int corrupt)
{
    void *out = st_malloc(n * elem_size(t) + 8);
    st_buf b, store;
    st_buf_init(&b);
    st_buf_init(&store);
    enc_zctx zc;
    enc_zctx_init(&zc);
    size_t chosen_len = 0;
    for (int z = 0; z <= 2; z++) {
        for (int k = -1; k < 4; k++) {
            int id = k < 0 ? -1 : ids_of[t][k];
            if (k >= 0 && id < 0) break;
            st_buf_clear(&b);
            int rc = z == 2 ? enc_block_encode_z(t, id, v, n, &b, 9, &zc) : enc_block_encode_with(t, id, v, n, &b, z ? 3 : 0);
            if (rc == ST_ERANGE) continue;
            CHECK_EQ_INT(rc, 0);
            if (rc) continue;
            if (k < 0 && !z) { chosen_len = b.len; *chosen = enc_block_id(b.ptr, b.len); }
            memset(out, 0xa5, n * elem_size(t));
            rc = decode_any(t, b.ptr, b.len, n, out, &store);
            CHECK_EQ_INT(rc, 0);
            if (!same_values(t, v, out, n)) {
                printf("  mismatch type %d id %d (forced %d) n %zu zstd %d\n", t, enc_block_id(b.ptr, b.len), id, n, z);
                CHECK(0);
            }
            /* One value too many must not decode. */
            if (n && t != ENC_TYPE_BOOL) {
                void *big = st_malloc((n + 1) * elem_size(t));
                rc = decode_any(t, b.ptr, b.len, n + 1, big, &store);
                CHECK_EQ_INT(rc, ST_ECORRUPT);
                st_free(big);
            }
            if (corrupt) corrupt_block(t, &b, n, out);
        }
    }
    enc_zctx_fini(&zc);
    st_buf_fini(&b);
    st_buf_fini(&store);
    st_free(out);
    return chosen_len;
}

TEST(test_block_float)
{
    double *v = st_malloc(100000 * sizeof *v);
    REQUIRE(v);
    for (int k = 0; k < F_COUNT; k++) {
        for (size_t s = 0; s < NSIZES; s++) {
            size_t n = sizes[s];
            gen_float(k, v, n);
            int id = -1;
            size_t len = block_roundtrip(ENC_TYPE_FLOAT, v, n, &id, n == 65 || n == 129);
            if (n == 4096) {
                st_buf g;
                st_buf_init(&g);
                CHECK_EQ_INT(enc_float_gorilla_encode(v, n, &g), 0);
                printf("  block float %-22s n=%zu %-8s %6.2f bits/value (gorilla %6.2f)\n", fname[k], n,
                       enc_id_name(id), len * 8.0 / (double)n, g.len * 8.0 / (double)n);
                if (k == F_DEC1 || k == F_DEC2 || k == F_DEC3 || k == F_DEC2_EXC || k == F_INTS || k == F_MIXED) {
                    CHECK_EQ_INT(id, ENC_DECIMAL);
                    CHECK(len * 2 < g.len);
                }
                if (k == F_RANDBITS) CHECK_EQ_INT(id, ENC_RAW);
                /* The choice (which skips Gorilla when a bound says it
                 * cannot win) is never larger than a forced candidate. */
                for (int f = 0; f < 4; f++) {
                    st_buf_clear(&g);
                    if (enc_block_encode_with(ENC_TYPE_FLOAT, ids_of[ENC_TYPE_FLOAT][f], v, n, &g, 0) == 0)
                        CHECK(len <= g.len);
                }
                st_buf_fini(&g);
            }
        }
    }
    st_free(v);
}

/* ---------------- FLOATPACK ---------------- */

static const uint64_t fp_special[] = {
    0x0000000000000000ull, 0x8000000000000000ull,                         /* +-0.0 */
    0x7ff8000000000000ull, 0xfff8000000000000ull, 0x7ff0000000000001ull, /* NaNs: quiet, */
    0x7ff4000000000abcull, 0xfff0000000000001ull, 0x7fffffffffffffffull, /* signalling, payloads */
    0xffffffffffffffffull,
    0x7ff0000000000000ull, 0xfff0000000000000ull,                         /* +-Inf */
    0x0000000000000001ull, 0x8000000000000001ull, 0x000fffffffffffffull, /* subnormals */
    0x800fffffffffffffull, 0x0008000000000000ull,
    0x0010000000000000ull, 0x8010000000000000ull,                         /* +-DBL_MIN */
    0x7fefffffffffffffull, 0xffefffffffffffffull,                         /* +-DBL_MAX */
    0x3ff0000000000000ull, 0xbff0000000000000ull, 0x4340000000000001ull, 0x43e0000000000000ull,
    0x0020000000000000ull, 0x7fe0000000000000ull,                         /* extreme exponents */
};
#define FP_NSPECIAL (sizeof fp_special / sizeof fp_special[0])

enum { P_CPU, P_ZERO_WALK, P_NOISE, P_RAMP, P_SPECIAL, P_RANDBITS, P_CONST, P_WALK_SPECIAL, P_COUNT };
static const char *const pname[P_COUNT] = {
    "cpu-walk-0..100", "walk-around-zero", "noise-2..4", "ramp-1/3", "special-values", "random-bits",
    "constant", "walk+specials",
};

static void gen_fp(int kind, double *v, size_t n)
{
    double w = kind == P_ZERO_WALK ? 0.0 : 50.0 + 40.0 * rnd01();
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case P_CPU: /* strata gen cpu: step uniform in [-1, 1], clamped to [0, 100] */
            w += 2.0 * rnd01() - 1.0;
            v[i] = w = w < 0.0 ? 0.0 : w > 100.0 ? 100.0 : w;
            break;
        case P_ZERO_WALK: w += rnd01() - 0.5; v[i] = w; break;
        case P_NOISE: v[i] = 2.0 + 2.0 * rnd01(); break;
        case P_RAMP: v[i] = 1000.0 + (double)i / 3.0; break;
        case P_SPECIAL: v[i] = st_bits_double(fp_special[rnd() % FP_NSPECIAL]); break;
        case P_RANDBITS: v[i] = st_bits_double(rnd()); break;
        case P_CONST: v[i] = -1.0 / 3.0; break;
        case P_WALK_SPECIAL:
            w += rnd01() - 0.5;
            v[i] = i % 37 == 11 ? st_bits_double(fp_special[(i / 37) % FP_NSPECIAL]) : w;
            break;
        }
    }
}

/* Decode from an exact-size copy, so a read past the end is caught by ASan. */
static int decode_exact(const void *p, size_t len, size_t n, double *out)
{
    void *c = st_malloc(len ? len : 1);
    if (!c) return ST_ENOMEM;
    memcpy(c, p, len);
    int rc = enc_block_decode(c, len, ENC_TYPE_FLOAT, n, out);
    st_free(c);
    return rc;
}

static int bits_equal(const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (st_double_bits(a[i]) != st_double_bits(b[i])) return 0;
    return 1;
}

/* The order byte of a FLOATPACK block without zstd. */
static int fp_order_of(const st_buf *b)
{
    const uint8_t *p = (const uint8_t *)b->ptr;
    size_t pos = 1;
    while (pos < b->len && (p[pos] & 0x80)) pos++;
    pos++;
    return pos < b->len ? p[pos] : -1;
}

/* The FLOATPACK payload of order o written from storage/enc.h's format
 * text, one bit at a time (a second implementation to compare with). */
static size_t fp_reference(const double *v, size_t n, int o, uint8_t *out)
{
    size_t len = 0;
    static uint64_t s[8192];
    for (size_t i = 0; i < n; i++) {
        uint64_t b = st_double_bits(v[i]);
        s[i] = b >> 63 ? b ^ 0x7fffffffffffffffull : b;
    }
    uint64_t b0 = n ? s[0] : 0;
    if (o == 0)
        for (size_t i = 0; i < n; i++) if ((int64_t)s[i] < (int64_t)b0) b0 = s[i];
    out[len++] = (uint8_t)o;
    if (n) for (int k = 0; k < 8; k++) out[len++] = (uint8_t)(b0 >> (8 * k));
    if (o == 2 && n >= 2) {
        int64_t d = (int64_t)(s[1] - s[0]);
        uint64_t z = ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
        do { out[len++] = (uint8_t)((z & 0x7f) | (z >= 0x80 ? 0x80 : 0)); z >>= 7; } while (z);
    }
    size_t first = n < (size_t)o ? n : (size_t)o;
    for (size_t g = first; g < n; g += 32) {
        size_t c = n - g < 32 ? n - g : 32;
        uint64_t r[32];
        unsigned w = 0;
        for (size_t j = 0; j < c; j++) {
            size_t i = g + j;
            if (o == 0) r[j] = s[i] - b0;
            else {
                int64_t d = o == 1 ? (int64_t)(s[i] - s[i - 1]) : (int64_t)((s[i] - s[i - 1]) - (s[i - 1] - s[i - 2]));
                r[j] = ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
            }
            while (w < 64 && (r[j] >> w)) w++;
        }
        out[len++] = (uint8_t)w;
        size_t nb = (c * w + 7) / 8;
        memset(out + len, 0, nb);
        for (size_t j = 0; j < c; j++)
            for (unsigned k = 0; k < w; k++)
                if ((r[j] >> k) & 1) out[len + (j * w + k) / 8] |= (uint8_t)(1u << ((j * w + k) % 8));
        len += nb;
    }
    return len;
}

/* The library's FLOATPACK payload is the reference's, byte for byte, at the
 * smallest of the three orders. */
static void fp_check_reference(const double *v, size_t n, const st_buf *b)
{
    static uint8_t ref[3][8192 * 9 + 64];
    size_t rl[3];
    int best = 0;
    for (int o = 0; o <= 2; o++) {
        rl[o] = fp_reference(v, n, o, ref[o]);
        if (rl[o] < rl[best]) best = o;
    }
    size_t hdr = 1;
    while (hdr < b->len && ((const uint8_t *)b->ptr)[hdr] & 0x80) hdr++;
    hdr++;
    CHECK_EQ_U64(b->len - hdr, rl[best]);
    if (b->len - hdr == rl[best] && memcmp(b->ptr + hdr, ref[best], rl[best]) != 0) {
        printf("  floatpack payload differs from the reference (n=%zu order %d)\n", n, best);
        CHECK(0);
    }
}

TEST(test_floatpack_roundtrip)
{
    static const size_t fsz[] = { 0, 1, 2, 3, 31, 32, 33, 34, 63, 64, 65, 95, 1000, 8192 };
    size_t nmax = 8192;
    double *v = st_malloc(nmax * sizeof *v), *o = st_malloc((nmax + 1) * sizeof *o);
    REQUIRE(v && o);
    st_buf b;
    st_buf_init(&b);
    for (int k = 0; k < P_COUNT; k++) {
        for (size_t s = 0; s < sizeof fsz / sizeof fsz[0]; s++) {
            size_t n = fsz[s];
            gen_fp(k, v, n);
            for (int z = 0; z <= 1; z++) {
                st_buf_clear(&b);
                REQUIRE(enc_block_encode_with(ENC_TYPE_FLOAT, ENC_FLOATPACK, v, n, &b, z ? 3 : 0) == 0);
                CHECK_EQ_INT(enc_block_id(b.ptr, b.len), ENC_FLOATPACK);
                if (!z) fp_check_reference(v, n, &b);
                memset(o, 0xa5, n * sizeof *o);
                CHECK_EQ_INT(decode_exact(b.ptr, b.len, n, o), 0);
                if (!bits_equal(v, o, n)) { printf("  floatpack mismatch %s n=%zu zstd %d\n", pname[k], n, z); CHECK(0); }
                CHECK_EQ_INT(decode_exact(b.ptr, b.len, n + 1, o), ST_ECORRUPT);
                if (n) CHECK_EQ_INT(decode_exact(b.ptr, b.len, n - 1, o), ST_ECORRUPT);
                /* Trailing garbage is refused. */
                if (!z) {
                    CHECK_EQ_INT(st_buf_put_u8(&b, 0), 0);
                    CHECK_EQ_INT(decode_exact(b.ptr, b.len, n, o), ST_ECORRUPT);
                    b.len--;
                }
                if (n <= 100 || n == 1000) corrupt_block(ENC_TYPE_FLOAT, &b, n, o);
            }
            if (n == 8192) {
                st_buf_clear(&b);
                CHECK_EQ_INT(enc_block_encode_with(ENC_TYPE_FLOAT, ENC_FLOATPACK, v, n, &b, 0), 0);
                int order = fp_order_of(&b);
                size_t fpl = b.len;
                st_buf g;
                st_buf_init(&g);
                CHECK_EQ_INT(enc_float_gorilla_encode(v, n, &g), 0);
                st_buf_clear(&b);
                CHECK_EQ_INT(enc_block_encode(ENC_TYPE_FLOAT, v, n, &b, 0), 0);
                int id = enc_block_id(b.ptr, b.len);
                printf("  floatpack %-18s n=%zu order %d %6.2f bits/value (gorilla %6.2f; chosen %s)\n", pname[k], n,
                       order, fpl * 8.0 / (double)n, g.len * 8.0 / (double)n, enc_id_name(id));
                /* Each order is the smallest for the data it is made for. */
                if (k == P_CPU || k == P_ZERO_WALK) {
                    CHECK_EQ_INT(order, 1);
                    CHECK_EQ_INT(id, ENC_FLOATPACK);
                    CHECK(fpl * 8 < n * 51);
                    CHECK(fpl + fpl / 32 < g.len);
                }
                if (k == P_NOISE) { CHECK_EQ_INT(order, 0); CHECK_EQ_INT(id, ENC_FLOATPACK); CHECK(fpl * 8 < n * 53); }
                if (k == P_RAMP) { CHECK_EQ_INT(order, 2); CHECK_EQ_INT(id, ENC_FLOATPACK); CHECK(fpl * 8 < n * 4); }
                if (k == P_CONST) CHECK(fpl * 8 < n);
                if (k == P_RANDBITS) CHECK_EQ_INT(id, ENC_RAW);
                CHECK(b.len <= g.len + 3 && b.len <= fpl);
                st_buf_fini(&g);
            }
        }
    }
    st_buf_fini(&b);
    st_free(v);
    st_free(o);
}

/* Columns whose residuals need exactly w bits, for every w: each unpack
 * width, in full groups, short last groups, and groups ending exactly at
 * the end of the block (decoded from the zero-padded copy). */
TEST(test_floatpack_widths)
{
    static const size_t ns[] = { 32, 33, 40, 64, 96, 100 };
    double v[100], o[100];
    st_buf b;
    st_buf_init(&b);
    int bad = 0;
    for (unsigned w = 0; w <= 64; w++) {
        for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++) {
            size_t n = ns[s];
            uint64_t base = rnd(), m = w >= 64 ? ~0ull : (1ull << w) - 1;
            for (size_t i = 0; i < n; i++) {
                uint64_t r = rnd() & m;
                if (i == 3 && w) r |= 1ull << (w - 1);
                v[i] = st_bits_double(base + r);
            }
            st_buf_clear(&b);
            REQUIRE(enc_block_encode_with(ENC_TYPE_FLOAT, ENC_FLOATPACK, v, n, &b, 0) == 0);
            fp_check_reference(v, n, &b);
            memset(o, 0x5a, sizeof o);
            if (decode_exact(b.ptr, b.len, n, o) != 0 || !bits_equal(v, o, n)) bad++;
            /* Cut anywhere: never decodes. */
            for (size_t cut = b.len > 40 ? b.len - 40 : 0; cut < b.len; cut++)
                if (decode_exact(b.ptr, cut, n, o) != ST_ECORRUPT) bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    st_buf_fini(&b);
}

/* Hand-made payloads: every field out of range is refused. */
TEST(test_floatpack_corrupt)
{
    double o[64];
    /* header: id 11, n = 2; payload: order, base, group */
    uint8_t blk[64] = { ENC_FLOATPACK, 2, 1, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 2, 0x02 };
    /* s_0 = the bits of 1.0; one group: width 2, residual zz(+1) = 2 */
    size_t len = 13;
    CHECK_EQ_INT(decode_exact(blk, len, 2, o), 0);
    CHECK_EQ_U64(st_double_bits(o[0]), 0x3ff0000000000000ull);
    CHECK_EQ_U64(st_double_bits(o[1]), 0x3ff0000000000001ull);
    blk[2] = 3; /* order 3 */
    CHECK_EQ_INT(decode_exact(blk, len, 2, o), ST_ECORRUPT);
    blk[2] = 1;
    blk[11] = 65; /* width 65 */
    CHECK_EQ_INT(decode_exact(blk, len, 2, o), ST_ECORRUPT);
    blk[11] = 9; /* width 9 needs 2 bytes */
    CHECK_EQ_INT(decode_exact(blk, len, 2, o), ST_ECORRUPT);
    blk[11] = 0; /* width 0: the residual byte is trailing garbage */
    CHECK_EQ_INT(decode_exact(blk, len, 2, o), ST_ECORRUPT);
    CHECK_EQ_INT(decode_exact(blk, len - 1, 2, o), 0);
    CHECK_EQ_U64(st_double_bits(o[1]), 0x3ff0000000000000ull);
    /* n = 0: just the order byte */
    uint8_t empty[3] = { ENC_FLOATPACK, 0, 1 };
    CHECK_EQ_INT(decode_exact(empty, 3, 0, o), 0);
    CHECK_EQ_INT(decode_exact(empty, 2, 0, o), ST_ECORRUPT);
    /* order 2 with n = 2: base and the first difference, no group */
    uint8_t o2[12] = { ENC_FLOATPACK, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x03 };
    CHECK_EQ_INT(decode_exact(o2, 12, 2, o), 0);
    CHECK_EQ_U64(st_double_bits(o[0]), 0);
    CHECK_EQ_U64(st_double_bits(o[1]), 0x8000000000000001ull); /* s = -2: -4.9e-324 */
    CHECK_EQ_INT(decode_exact(o2, 11, 2, o), ST_ECORRUPT);
    o2[11] = 0x80; /* unterminated varint */
    CHECK_EQ_INT(decode_exact(o2, 12, 2, o), ST_ECORRUPT);
    /* Random payloads after a valid FLOATPACK header: no crash, no read
     * past the end; short widths so some decode. */
    double big[300];
    st_buf j;
    st_buf_init(&j);
    int ok = 0;
    for (int t = 0; t < 20000; t++) {
        size_t n = (size_t)(rnd() % 300), l = (size_t)(rnd() % 400);
        st_buf_clear(&j);
        CHECK_EQ_INT(st_buf_put_u8(&j, ENC_FLOATPACK), 0);
        CHECK_EQ_INT(st_buf_put_uvarint(&j, n), 0);
        CHECK_EQ_INT(st_buf_put_u8(&j, (uint8_t)(rnd() % 3)), 0);
        for (size_t i = 0; i < l; i++) CHECK_EQ_INT(st_buf_put_u8(&j, (uint8_t)(i >= 8 && rnd() % 4 ? rnd() % 8 : rnd())), 0);
        int rc = decode_exact(j.ptr, j.len, n, big);
        CHECK(rc == 0 || rc == ST_ECORRUPT);
        ok += rc == 0;
    }
    printf("  floatpack random payloads: %d of 20000 decoded\n", ok);
    st_buf_fini(&j);
}

TEST(test_decimal_exponent)
{
    double v[1000];
    int e;
    size_t x;
    for (int d = 0; d <= 6; d++) {
        double p = pow(10, d);
        for (int i = 0; i < 1000; i++) {
            v[i] = round((rnd01() * 2000 - 1000) * p) / p;
            if (v[i] == 0) v[i] = 0; /* -0.0 is an exception */
        }
        enc_decimal_analyze(v, 1000, &e, &x);
        CHECK(e <= d);
        CHECK_EQ_U64(x, 0);
    }
    /* Values parsed from text behave the same. */
    const char *txt[] = { "0.1", "0.2", "0.3", "1.15", "2.675", "-13.37", "1e-5", "123456.789" };
    for (int i = 0; i < 8; i++) v[i] = strtod(txt[i], NULL);
    enc_decimal_analyze(v, 8, &e, &x);
    CHECK_EQ_U64(x, 0);
    CHECK_EQ_INT(e, 5);
}

TEST(test_block_int_time)
{
    int64_t *v = st_malloc(100000 * sizeof *v);
    REQUIRE(v);
    for (int k = 0; k < I_COUNT; k++) {
        for (size_t s = 0; s < NSIZES; s++) {
            size_t n = sizes[s];
            gen_int(k, v, n);
            int id = -1;
            size_t len = block_roundtrip(ENC_TYPE_INT, v, n, &id, n == 65);
            size_t ulen = block_roundtrip(ENC_TYPE_UINT, v, n, &id, 0);
            size_t tlen = block_roundtrip(ENC_TYPE_TIME, v, n, &id, n == 129);
            if (n == 4096) {
                printf("  block int/time %-16s n=%zu int %6.2f time %6.2f bits/value (%s)\n", iname[k], n,
                       len * 8.0 / (double)n, tlen * 8.0 / (double)n, enc_id_name(id));
                CHECK_EQ_U64(len, ulen);
            }
            if (k == I_TS_REGULAR && n > 1) CHECK_EQ_INT(id, ENC_TS_CONST);
            if (k == I_TS_MS && n >= 1000) { CHECK_EQ_INT(id, ENC_INTPACK_DIV10); CHECK(tlen * 8 < n * 10); }
        }
    }
    st_free(v);
}

TEST(test_block_bool_str_quality)
{
    static uint8_t bv[100000];
    static uint32_t qv[100000];
    static st_slice sv[4096];
    static char pool[4096 * 40];
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        int id;
        for (int kind = 0; kind < 3; kind++) {
            for (size_t i = 0; i < n; i++)
                bv[i] = (uint8_t)(kind == 0 ? rnd() & 1 : kind == 1 ? (i / 500) & 1 : 1);
            size_t len = block_roundtrip(ENC_TYPE_BOOL, bv, n, &id, n == 65);
            if (kind == 2 && n == 100000) CHECK(len < 12);
            for (size_t i = 0; i < n; i++)
                qv[i] = kind == 0 ? (uint32_t)rnd() : kind == 1 ? ((i / 300) % 2 ? 0x80000000u : 0) : 0;
            len = block_roundtrip(ENC_TYPE_QUALITY, qv, n, &id, n == 65);
            if (kind == 2 && n == 100000) { CHECK(len < 12); CHECK_EQ_INT(id, ENC_QUAL_RLE); }
            if (n > 4096) continue;
            size_t at = 0;
            for (size_t i = 0; i < n; i++) {
                size_t l = kind == 0 ? (size_t)(rnd() % 40) : kind == 1 ? (size_t)(i % 5) * 3 : 0;
                for (size_t j = 0; j < l; j++)
                    pool[at + j] = kind == 0 ? (char)rnd() : (char)("ab\0cd"[(i % 5 + j) % 5]);
                sv[i].ptr = pool + at;
                sv[i].len = l;
                at += l;
            }
            len = block_roundtrip(ENC_TYPE_STRING, sv, n, &id, n == 65);
            if (kind == 1 && n >= 1000) CHECK_EQ_INT(id, ENC_STR_DICT);
            if (n == 4096) printf("  block string kind %d n=%zu %s %zu bytes\n", kind, n, enc_id_name(id), len);
        }
    }
}

TEST(test_block_zstd_and_errors)
{
    /* Repetitive strings compress: the zstd flag must be set and decode. */
    static st_slice sv[2000];
    char txt[64];
    static char pool[2000 * 64];
    for (int i = 0; i < 2000; i++) {
        int l = snprintf(txt, sizeof txt, "state-%d-running-normally", (i * 7919) % 1500);
        memcpy(pool + i * 64, txt, (size_t)l);
        sv[i].ptr = pool + i * 64;
        sv[i].len = (size_t)l;
    }
    st_buf b, store;
    st_buf_init(&b);
    st_buf_init(&store);
    CHECK_EQ_INT(enc_block_encode(ENC_TYPE_STRING, sv, 2000, &b, 3), 0);
    CHECK(enc_block_is_zstd(b.ptr, b.len));
    static st_slice so[2000];
    CHECK_EQ_INT(enc_block_decode_str(b.ptr, b.len, 2000, &store, so), 0);
    CHECK(same_values(ENC_TYPE_STRING, sv, so, 2000));
    corrupt_block(ENC_TYPE_STRING, &b, 2000, so);
    double d[10];
    CHECK_EQ_INT(enc_block_decode(b.ptr, b.len, ENC_TYPE_STRING, 10, d), ST_EINVAL);
    CHECK_EQ_INT(enc_block_decode(b.ptr, 0, ENC_TYPE_FLOAT, 10, d), ST_ECORRUPT);
    CHECK_EQ_INT(enc_block_decode("\x7f", 1, ENC_TYPE_FLOAT, 0, d), ST_ECORRUPT);
    CHECK_EQ_INT(enc_block_encode_with(ENC_TYPE_FLOAT, ENC_STR_DICT, d, 1, &b, 0), ST_EINVAL);
    /* Huge claimed zstd length is refused before allocating. */
    CHECK_EQ_INT(enc_block_decode("\x83\xff\xff\xff\xff\x0f", 6, ENC_TYPE_FLOAT, 10, d), ST_ECORRUPT);
    printf("  corrupt/truncated decodes tried: %zu\n", g_corrupt_runs);
    st_buf_fini(&b);
    st_buf_fini(&store);
}

TEST(test_alloc_failures)
{
    double v[2000];
    gen_float(F_DEC2, v, 2000);
    for (int64_t k = 0;; k++) {
        st_buf b;
        st_buf_init(&b);
        int64_t live = st_alloc_live();
        st_alloc_fail_at(k, 0);
        int rc = enc_block_encode(ENC_TYPE_FLOAT, v, 2000, &b, 3);
        st_alloc_fail_at(-1, 0);
        st_buf_fini(&b);
        CHECK(rc == 0 || rc == ST_ENOMEM);
        CHECK_EQ_INT(st_alloc_live(), live);
        if (rc == 0) break;
        if (k > 100) { CHECK(0); break; }
    }
    double w[2000];
    gen_fp(P_CPU, w, 2000);
    for (int64_t k = 0;; k++) {
        st_buf b;
        st_buf_init(&b);
        int64_t live = st_alloc_live();
        st_alloc_fail_at(k, 0);
        int rc = enc_block_encode(ENC_TYPE_FLOAT, w, 2000, &b, 3);
        st_alloc_fail_at(-1, 0);
        if (rc == 0) CHECK_EQ_INT(enc_block_id(b.ptr, b.len), ENC_FLOATPACK);
        st_buf_fini(&b);
        CHECK(rc == 0 || rc == ST_ENOMEM);
        CHECK_EQ_INT(st_alloc_live(), live);
        if (rc == 0) break;
        if (k > 100) { CHECK(0); break; }
    }
    enc_float_appender a;
    enc_float_appender_init(&a);
    st_alloc_fail_at(0, 1);
    CHECK_EQ_INT(enc_float_appender_append(&a, 1.0), ST_ENOMEM);
    st_alloc_fail_at(-1, 0);
    CHECK_EQ_U64(a.count, 0);
    CHECK_EQ_INT(enc_float_appender_append(&a, 1.0), 0);
    enc_float_appender_fini(&a);
    enc_float_appender_fini(NULL);
}

TEST(test_trim)
{
    enc_ts_appender a;
    enc_ts_appender_init(&a);
    for (int i = 0; i < 1000; i++) CHECK_EQ_INT(enc_ts_appender_append(&a, (int64_t)i * 1000), 0);
    CHECK_EQ_INT(enc_buf_trim(&a.buf), 0);
    CHECK(a.buf.cap <= a.buf.len + ENC_BITW_SLACK + 1);
    for (int i = 1000; i < 1100; i++) CHECK_EQ_INT(enc_ts_appender_append(&a, (int64_t)i * 1000), 0);
    int64_t o[1100];
    CHECK_EQ_INT(enc_ts_decode(a.buf.ptr, a.buf.len, 1100, o), 0);
    int bad = 0;
    for (int i = 0; i < 1100; i++) bad += o[i] != (int64_t)i * 1000;
    CHECK_EQ_INT(bad, 0);
    enc_ts_appender_fini(&a);
    st_buf empty;
    st_buf_init(&empty);
    CHECK_EQ_INT(enc_buf_trim(&empty), 0);
}

/* Sensor values quantized to their resolution with skewed noise: at
 * compaction's level through a context, byte planes (or several small
 * values to a byte) let zstd's Huffman stage code them near their entropy,
 * so the block is smaller than without, and decodes bit for bit. */
static size_t planes_block(enc_type t, const void *v, size_t n, int with_ctx, int *used_zstd)
{
    st_buf b;
    st_buf_init(&b);
    enc_zctx zc;
    enc_zctx_init(&zc);
    int rc = with_ctx ? enc_block_encode_z(t, -1, v, n, &b, 9, &zc) : enc_block_encode_with(t, -1, v, n, &b, 9);
    CHECK_EQ_INT(rc, 0);
    size_t elem = t == ENC_TYPE_FLOAT ? sizeof(double) : sizeof(int64_t);
    void *out = st_malloc(n * elem);
    CHECK_EQ_INT(enc_block_decode(b.ptr, b.len, t, n, out), 0);
    CHECK(memcmp(out, v, n * elem) == 0);
    *used_zstd = enc_block_is_zstd(b.ptr, b.len);
    size_t len = b.len;
    st_free(out);
    enc_zctx_fini(&zc);
    st_buf_fini(&b);
    return len;
}

TEST(test_block_planes)
{
    enum { N = 8192 };
    double *v = st_malloc(N * sizeof *v);
    int64_t *iv = st_malloc(N * sizeof *iv);
    REQUIRE(v && iv);
    int za, zb;
    /* vibration: 2 + noise^2 at 0.01 (mostly 2.0x, a long tail to 4.25) */
    for (int i = 0; i < N; i++) {
        double u = rnd01() + rnd01() + rnd01() - 1.5;
        v[i] = round((2.0 + u * u) * 100) / 100;
    }
    size_t with = planes_block(ENC_TYPE_FLOAT, v, N, 1, &za), without = planes_block(ENC_TYPE_FLOAT, v, N, 0, &zb);
    printf("  vibration-like: %zu bytes with planes, %zu without\n", with, without);
    CHECK(za);
    CHECK(with * 100 < without * 95);
    /* temperature: an AR(1) walk at 0.1 whose steps are -3..3 tenths, most 0 or +-1 */
    double x = 50;
    for (int i = 0; i < N; i++) {
        x += (rnd01() - 0.5) * 0.25;
        v[i] = round(x * 10) / 10;
    }
    with = planes_block(ENC_TYPE_FLOAT, v, N, 1, &za);
    without = planes_block(ENC_TYPE_FLOAT, v, N, 0, &zb);
    printf("  temperature-like: %zu bytes with planes, %zu without\n", with, without);
    CHECK(with * 100 < without * 95);
    /* integers: a skewed count, and one outlier that widens the planes */
    for (int i = 0; i < N; i++) iv[i] = 1000 + (int64_t)(rnd01() * rnd01() * rnd01() * 200);
    iv[N / 2] = 1000000;
    with = planes_block(ENC_TYPE_INT, iv, N, 1, &za);
    without = planes_block(ENC_TYPE_INT, iv, N, 0, &zb);
    printf("  skewed integers: %zu bytes with planes, %zu without\n", with, without);
    CHECK(with <= without);
    /* never larger: full-precision noise and uniform steps keep their encoding */
    for (int i = 0; i < N; i++) v[i] = rnd01() * 100;
    CHECK(planes_block(ENC_TYPE_FLOAT, v, N, 1, &za) <= planes_block(ENC_TYPE_FLOAT, v, N, 0, &zb));
    x = 50;
    for (int i = 0; i < N; i++) { x += rnd01() * 2 - 1; v[i] = round(x * 100) / 100; }
    CHECK(planes_block(ENC_TYPE_FLOAT, v, N, 1, &za) <= planes_block(ENC_TYPE_FLOAT, v, N, 0, &zb));
    st_free(v);
    st_free(iv);
}

int main(void)
{
    RUN(test_float_stream);
    RUN(test_ts_stream);
    RUN(test_int_stream);
    RUN(test_bool_str_quality_stream);
    RUN(test_block_float);
    RUN(test_floatpack_roundtrip);
    RUN(test_floatpack_widths);
    RUN(test_floatpack_corrupt);
    RUN(test_decimal_exponent);
    RUN(test_block_int_time);
    RUN(test_block_bool_str_quality);
    RUN(test_block_zstd_and_errors);
    RUN(test_block_planes);
    RUN(test_alloc_failures);
    RUN(test_trim);
    return unit_done();
}
