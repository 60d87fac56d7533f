/*
 * storage/enc_float.c — float64 encodings: Gorilla XOR (head stream and a
 * block candidate), the decimal path (the ALP idea: a power of ten turns
 * the block's values into integers that convert back bit-exactly, then the
 * integer pack; values that do not convert are patched exceptions),
 * FLOATPACK (full-precision values: differences of the order-preserving
 * integers of the bit patterns, a bit width per 32 values), and RAW.
 * Formats in storage/enc.h. No global state; one owner per appender/reader.
 *
 * The decimal check is done with exactly the decoder's expression,
 * (double)k / 10^e with 10^e an exact double (e <= 18 < 23), so a value
 * accepted by the encoder decodes to the same 64 bits on any IEEE-754
 * machine with round-to-nearest (C11 FLT_EVAL_METHOD 0; no -ffast-math).
 * -0.0, NaN (any payload), +-Inf, subnormals and values with more digits
 * than 10^e captures fail the check and are stored verbatim.
 */
#include "storage/enc.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/num.h"

#if FLT_EVAL_METHOD != 0
#error "the decimal path needs FLT_EVAL_METHOD 0 (SSE2 doubles)"
#endif

/* ---- Gorilla ---- */

static inline void gorilla_put(st_buf *b, uint64_t *nbits, uint64_t *prev, uint8_t *lead, uint8_t *trail,
                               uint64_t cur, int first)
{
    if (first) {
        enc__bitw_put(b, nbits, cur, 64);
        *prev = cur;
        *lead = 64;
        *trail = 0;
        return;
    }
    uint64_t x = cur ^ *prev;
    *prev = cur;
    if (!x) { enc__bitw_put(b, nbits, 0, 1); return; }
    unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
    if (lz > 31) lz = 31;
    unsigned m_new = 64u - lz - tz;
    /* Reuse the window only when that is not dearer than opening a new one:
     * plain Gorilla keeps a window as long as values fit, so one wide XOR
     * (a sign or exponent change) makes every later value cost ~66 bits. */
    if (*lead != 64 && lz >= *lead && tz >= *trail && 64u - *lead - *trail <= m_new + 11) {
        unsigned m = 64u - *lead - *trail;
        enc__bitw_put(b, nbits, 0x1, 2);
        enc__bitw_put(b, nbits, x >> *trail, m);
        return;
    }
    enc__bitw_put(b, nbits, 0x3u | ((uint64_t)lz << 2) | ((uint64_t)(m_new - 1) << 7), 13);
    enc__bitw_put(b, nbits, x >> tz, m_new);
    *lead = (uint8_t)lz;
    *trail = (uint8_t)tz;
}

/* A lower bound of the Gorilla stream's bytes, without writing it: a
 * value costs 1 bit when it repeats, else at least the 2 control bits and
 * the XOR's meaningful bits (lead capped at 31, as stored). */
static size_t gorilla_min_bytes(const double *v, size_t n)
{
    if (!n) return 0;
    uint64_t bits = 64, prev = st_double_bits(v[0]);
    for (size_t i = 1; i < n; i++) {
        uint64_t cur = st_double_bits(v[i]), x = cur ^ prev;
        prev = cur;
        if (!x) { bits++; continue; }
        unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
        bits += 2 + 64 - (lz > 31 ? 31 : lz) - tz;
    }
    return (size_t)((bits + 7) / 8);
}

void enc_float_appender_init(enc_float_appender *a)
{
    memset(a, 0, sizeof *a);
    st_buf_init(&a->buf);
    a->lead = 64;
}

void enc_float_appender_fini(enc_float_appender *a)
{
    if (!a) return;
    st_buf_fini(&a->buf);
    memset(a, 0, sizeof *a);
}

int enc_float_appender_append(enc_float_appender *a, double v)
{
    int rc = st_buf_reserve(&a->buf, ENC_BITW_SLACK);
    if (rc) return rc;
    gorilla_put(&a->buf, &a->nbits, &a->prev, &a->lead, &a->trail, st_double_bits(v), a->count == 0);
    a->count++;
    return 0;
}

int enc_float_gorilla_encode(const double *v, size_t n, st_buf *out)
{
    /* At most 77 bits a value. */
    if (n > (SIZE_MAX - 32) / 10) return ST_ENOMEM;
    int rc = st_buf_reserve(out, n * 10 + 32);
    if (rc) return rc;
    uint64_t nbits = (uint64_t)out->len * 8, prev = 0;
    uint8_t lead = 64, trail = 0;
    for (size_t i = 0; i < n; i++) gorilla_put(out, &nbits, &prev, &lead, &trail, st_double_bits(v[i]), i == 0);
    out->ptr[out->len] = 0;
    return 0;
}

void enc_float_reader_init(enc_float_reader *r, const void *bytes, size_t len, uint64_t count)
{
    enc__bitr_init(&r->br, bytes, len);
    r->left = count;
    r->done = 0;
    r->prev = 0;
    r->lead = 64;
    r->trail = 0;
}

static inline int gorilla_next(enc_float_reader *r, uint64_t *out)
{
    if (r->done == 0) {
        r->prev = enc__bitr_get(&r->br, 64);
    } else if (enc__bitr_bit(&r->br)) {
        if (!enc__bitr_bit(&r->br)) {
            if (r->lead == 64) return ST_ECORRUPT;
            unsigned m = 64u - r->lead - r->trail;
            r->prev ^= enc__bitr_get(&r->br, m) << r->trail;
        } else {
            unsigned lz = (unsigned)enc__bitr_get(&r->br, 5);
            unsigned m = (unsigned)enc__bitr_get(&r->br, 6) + 1;
            if (lz + m > 64) return ST_ECORRUPT;
            unsigned tz = 64 - lz - m;
            uint64_t x = enc__bitr_get(&r->br, m);
            r->prev ^= tz < 64 ? x << tz : 0;
            r->lead = (uint8_t)lz;
            r->trail = (uint8_t)tz;
        }
    }
    if (r->br.bad) return ST_ECORRUPT;
    r->done++;
    r->left--;
    *out = r->prev;
    return 1;
}

int enc_float_reader_next(enc_float_reader *r, double *out)
{
    if (!r->left) return 0;
    uint64_t u;
    int rc = gorilla_next(r, &u);
    if (rc == 1) *out = st_bits_double(u);
    return rc;
}

/* n values from the reader r (fresh): the reader's loop, with the bit
 * position in a register and the control bits of a value read from one
 * load, while a whole value (at most 77 bits) and the loads' slack lie
 * inside the stream; gorilla_next takes the tail. Same results and errors
 * as gorilla_next one value at a time. */
static int gorilla_decode(enc_float_reader *r, size_t n, double *out)
{
    size_t i = 0;
    if (n) {
        uint64_t u;
        int rc = gorilla_next(r, &u);
        if (rc != 1) return rc < 0 ? rc : ST_ECORRUPT;
        out[i++] = st_bits_double(u);
    }
    const uint8_t *p = r->br.p;
    uint64_t pos = r->br.pos, prev = r->prev, fast_end = r->br.lim >= 160 ? r->br.lim - 160 : 0;
    unsigned lead = r->lead, trail = r->trail;
    while (i < n && pos <= fast_end) {
        uint64_t w = enc__ld64(p + (pos >> 3)) >> (pos & 7);
        if (!(w & 1)) {
            pos += 1;
        } else if (!(w & 2)) {
            if (lead == 64) return ST_ECORRUPT;
            unsigned m = 64u - lead - trail;
            prev ^= (enc__bits_at(p, pos + 2, m) & enc__mask(m)) << trail;
            pos += 2 + m;
        } else {
            unsigned lz = (unsigned)(w >> 2) & 31u, m = ((unsigned)(w >> 7) & 63u) + 1;
            if (lz + m > 64) return ST_ECORRUPT;
            unsigned tz = 64 - lz - m;
            uint64_t x = enc__bits_at(p, pos + 13, m) & enc__mask(m);
            prev ^= tz < 64 ? x << tz : 0;
            lead = lz;
            trail = tz;
            pos += 13 + m;
        }
        out[i++] = st_bits_double(prev);
    }
    r->br.pos = pos;
    r->prev = prev;
    r->lead = (uint8_t)lead;
    r->trail = (uint8_t)trail;
    r->done = i;
    r->left = n - i;
    for (; i < n; i++) {
        uint64_t u;
        int rc = gorilla_next(r, &u);
        if (rc != 1) return rc < 0 ? rc : ST_ECORRUPT;
        out[i] = st_bits_double(u);
    }
    return 0;
}

int enc_float_gorilla_decode(const void *bytes, size_t len, size_t n, double *out)
{
    enc_float_reader r;
    enc_float_reader_init(&r, bytes, len, n);
    return gorilla_decode(&r, n, out);
}

/* ---- decimal (ALP idea) ---- */

static const double pow10_tab[19] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
};
#define DEC_MAX_E 18
#define DEC_LIMIT 2251799813685247.0 /* 2^51 - 1 */

/* (double)k for |k| < 2^51, exactly, in a form the compiler vectorizes
 * (SSE2 has no packed int64 -> double): place k in the mantissa of
 * 2^52 + 2^51 and subtract. Out of range (corrupt input) gives some double,
 * never undefined behaviour. */
static inline double i2d(uint64_t k)
{
    return st_bits_double(k + 0x4338000000000000ull) - 6755399441055744.0;
}

/* 1 and *k when v == i2d(k) / 10^e bit for bit (the decoder's expression). */
static inline int dec_ok(double v, int e, int64_t *k)
{
    double x = v * pow10_tab[e];
    if (!(x > -DEC_LIMIT && x < DEC_LIMIT)) return 0;
    int64_t i = (int64_t)llrint(x);
    if (st_double_bits(i2d((uint64_t)i) / pow10_tab[e]) != st_double_bits(v)) return 0;
    *k = i;
    return 1;
}

/* The exponent that converts most of a sample (ties: the smallest), and
 * in *alt a smaller one that converts at least 90% as many (or -1): fewer
 * digits can beat a few exceptions, so the encoder tries both. *half: at
 * least half the sample converts (else the block is almost surely more
 * than half exceptions, which dec_encode refuses after a full pass). */
static int dec_choose_e(const double *v, size_t n, int quick, int *alt, int *half)
{
    size_t okc[DEC_MAX_E + 1] = { 0 };
    enum { SAMPLE = 256 };
    size_t step = n > SAMPLE ? n / SAMPLE : 1;
    size_t best_ok = 0, total = 0;
    int best_e = 0;
    for (size_t i = 0; i < n; i += step) total++;
    /* quick (the encoder, which only wants *half's answer when it is no):
     * a value that converts at some exponent also converts at the largest
     * keeping |v| 10^e below 2^51 (k/10^e and k 10^d / 10^(e+d) are the
     * same real number, so the same correctly rounded double). So the
     * sample's count at each value's own largest exponent bounds its count
     * at any one exponent: under half there, *half is 0 whatever e would
     * be, found with one test a value instead of 19 (full-precision
     * values, which convert at none, are most of what reaches this). */
    if (quick) {
        size_t ok = 0;
        for (size_t i = 0; i < n; i += step) {
            double a = fabs(v[i]);
            int e = 0;
            while (e < DEC_MAX_E && a * pow10_tab[e + 1] < DEC_LIMIT) e++;
            int64_t k;
            ok += (size_t)dec_ok(v[i], e, &k);
        }
        if (ok * 2 < total) {
            *alt = -1;
            *half = 0;
            return 0;
        }
    }
    for (int e = 0; e <= DEC_MAX_E; e++) {
        size_t ok = 0;
        int64_t k;
        for (size_t i = 0; i < n; i += step) ok += (size_t)dec_ok(v[i], e, &k);
        okc[e] = ok;
        if (ok > best_ok) { best_ok = ok; best_e = e; }
        if (ok == total) break;
    }
    *alt = -1;
    *half = best_ok * 2 >= total;
    for (int e = 0; e < best_e; e++)
        if (okc[e] * 10 >= best_ok * 9 && okc[e]) { *alt = e; break; }
    return best_e;
}

int enc_decimal_analyze(const double *v, size_t n, int *e_out, size_t *exceptions_out)
{
    int alt, half, e = dec_choose_e(v, n, 0, &alt, &half);
    size_t x = 0;
    int64_t k;
    for (size_t i = 0; i < n; i++) x += (size_t)!dec_ok(v[i], e, &k);
    *e_out = e;
    *exceptions_out = x;
    return 0;
}

/* Append the decimal payload; ST_ERANGE (nothing useful appended, out
 * restored) when more than half the values are exceptions. */
static int dec_encode(const double *v, size_t n, int forced, int e, enc_hint *h, st_buf *out)
{
    size_t start = out->len;
    int64_t *k = st_malloc(n ? n * sizeof *k : 1);
    if (!k) return ST_ENOMEM;
    size_t x = 0, first_ok = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (dec_ok(v[i], e, &k[i])) { if (first_ok == SIZE_MAX) first_ok = i; }
        else x++;
    }
    int rc = 0;
    if (!forced && x > n / 2 && n > 1) { rc = ST_ERANGE; goto done; }
    /* Fill exceptions with a neighbour so they cost no range. */
    int64_t fill = first_ok == SIZE_MAX ? 0 : k[first_ok];
    rc = st_buf_put_u8(out, (uint8_t)e);
    if (!rc) rc = st_buf_put_uvarint(out, x);
    size_t last = 0;
    int have_last = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t tmp;
        if (dec_ok(v[i], e, &tmp)) { fill = k[i]; continue; }
        k[i] = fill;
        rc = st_buf_put_uvarint(out, have_last ? i - last - 1 : i);
        if (!rc) rc = st_buf_put_u64le(out, st_double_bits(v[i]));
        last = i;
        have_last = 1;
    }
    if (!rc) rc = enc__intpack_encode(k, n, -1, h, out);
done:
    st_free(k);
    if (rc) { out->len = start; if (out->ptr) out->ptr[start] = 0; }
    return rc;
}

/* out[i] = i2d(u[i]) / pw; u and out may be the same array. Written with
 * vector extensions because gcc -O2 does not vectorize loops of unknown
 * length; SSE2 does two lanes at a time, AVX builds four. */
typedef uint64_t enc_v4u __attribute__((vector_size(32)));
typedef double enc_v4d __attribute__((vector_size(32)));
#define DEC_SCALE_BODY                                                        \
    size_t i = 0;                                                             \
    const enc_v4u magic = { 0x4338000000000000ull, 0x4338000000000000ull,     \
                            0x4338000000000000ull, 0x4338000000000000ull };   \
    const enc_v4d magicd = { 6755399441055744.0, 6755399441055744.0,          \
                             6755399441055744.0, 6755399441055744.0 };        \
    const enc_v4d p = { pw, pw, pw, pw };                                     \
    for (; i + 4 <= n; i += 4) {                                              \
        enc_v4u k;                                                            \
        enc_v4d d;                                                            \
        memcpy(&k, u + i, sizeof k);                                          \
        k += magic;                                                           \
        memcpy(&d, &k, sizeof d);                                             \
        d = (d - magicd) / p;                                                 \
        memcpy(out + i, &d, sizeof d);                                        \
    }                                                                         \
    for (; i < n; i++) out[i] = i2d(u[i]) / pw;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* Division dominates the decode: the same loop built for AVX (4 lanes per
 * vdivpd), chosen at run time. IEEE division is exact-rounded either way,
 * so both give the same bits. */
__attribute__((target("avx2")))
static void dec_scale_avx2(const uint64_t *u, double *out, size_t n, double pw)
{
    DEC_SCALE_BODY
}
#define DEC_HAVE_AVX2 1
#endif

static void dec_scale_generic(const uint64_t *u, double *out, size_t n, double pw)
{
    DEC_SCALE_BODY
}

static void dec_scale(const uint64_t *u, double *out, size_t n, double pw)
{
#ifdef DEC_HAVE_AVX2
    static atomic_int have = -1; /* every thread computes the same value */
    int h = atomic_load_explicit(&have, memory_order_relaxed);
    if (h < 0) {
        h = __builtin_cpu_supports("avx2") ? 1 : 0;
        atomic_store_explicit(&have, h, memory_order_relaxed);
    }
    if (h) { dec_scale_avx2(u, out, n, pw); return; }
#endif
    dec_scale_generic(u, out, n, pw);
}

static int dec_decode(const uint8_t *p, size_t len, size_t n, double *out)
{
    size_t pos = 0;
    if (len < 1) return ST_ECORRUPT;
    unsigned e = p[pos++];
    if (e > DEC_MAX_E) return ST_ECORRUPT;
    uint64_t x;
    if (enc__get_uvarint(p, len, &pos, &x) || x > n) return ST_ECORRUPT;
    size_t exc_start = pos;
    uint64_t at = 0;
    for (uint64_t j = 0; j < x; j++) {
        uint64_t gap;
        if (enc__get_uvarint(p, len, &pos, &gap)) return ST_ECORRUPT;
        if (j) { if (gap >= n - at - 1) return ST_ECORRUPT; at += 1 + gap; }
        else { if (gap >= n) return ST_ECORRUPT; at = gap; }
        if (len - pos < 8) return ST_ECORRUPT;
        pos += 8;
    }
    int rc = enc__intpack_decode(p, len, &pos, n, (int64_t *)(void *)out);
    if (rc) return rc;
    if (pos != len) return ST_ECORRUPT;
    const uint64_t *u = (const uint64_t *)(void *)out;
    double pw = pow10_tab[e];
    dec_scale(u, out, n, pw);
    pos = exc_start;
    at = 0;
    for (uint64_t j = 0; j < x; j++) {
        uint64_t gap = 0;
        (void)enc__get_uvarint(p, len, &pos, &gap);
        at = j ? at + 1 + gap : gap;
        out[at] = st_bits_double(enc__ld64(p + pos));
        pos += 8;
    }
    return 0;
}

/* ---- FLOATPACK: order-preserving integers, differences, width per group ---- */

/* The bits of a double as an int64 that orders like the double (negative
 * values get their 63 low bits flipped); its own inverse. */
static inline uint64_t fp_sort(uint64_t u) { return u ^ ((uint64_t)((int64_t)u >> 63) >> 1); }

#define FP_GROUP 32

/* Residual i (i >= the order) of order o over the sortable integers s. */
static inline uint64_t fp_resid(const double *v, size_t i, int o, uint64_t b0)
{
    uint64_t s = fp_sort(st_double_bits(v[i]));
    if (o == 0) return s - b0;
    uint64_t s1 = fp_sort(st_double_bits(v[i - 1]));
    if (o == 1) return enc__zz((int64_t)(s - s1));
    uint64_t s2 = fp_sort(st_double_bits(v[i - 2]));
    return enc__zz((int64_t)((s - s1) - (s1 - s2)));
}

/* b0 of order o: the smallest s_i (o = 0) or s_0. */
static uint64_t fp_base(const double *v, size_t n, int o)
{
    if (!n) return 0;
    if (o) return fp_sort(st_double_bits(v[0]));
    int64_t mn = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        int64_t s = (int64_t)fp_sort(st_double_bits(v[i]));
        if (s < mn) mn = s;
    }
    return (uint64_t)mn;
}

/* Index of the first residual: values before it are b0 (and s_1). */
static size_t fp_first(size_t n, int o) { return n < (size_t)o ? n : (size_t)o; }

/* Payload bytes of each order: sz[o]. Two passes: differences of orders 1
 * and 2 and the minimum, then order 0's residuals from that minimum. */
static void fp_sizes(const double *v, size_t n, size_t sz[3])
{
    for (int o = 0; o <= 2; o++) sz[o] = 1 + (n ? 8 : 0);
    if (!n) return;
    if (n >= 2) sz[2] += enc__uvarint_len(enc__zz((int64_t)(fp_sort(st_double_bits(v[1])) - fp_sort(st_double_bits(v[0])))));
    uint64_t s1 = fp_sort(st_double_bits(v[0])), d1 = 0, any1 = 0, any2 = 0;
    int64_t mn = (int64_t)s1;
    for (size_t i = 1; i < n; i++) {
        uint64_t s = fp_sort(st_double_bits(v[i])), d = s - s1;
        if ((int64_t)s < mn) mn = (int64_t)s;
        any1 |= enc__zz((int64_t)d);
        if ((i - 1) % FP_GROUP == FP_GROUP - 1 || i == n - 1) {
            size_t c = (i - 1) % FP_GROUP + 1;
            sz[1] += 1 + (size_t)enc__packed_bytes(c, enc__bitwidth(any1));
            any1 = 0;
        }
        if (i >= 2) {
            any2 |= enc__zz((int64_t)(d - d1));
            if ((i - 2) % FP_GROUP == FP_GROUP - 1 || i == n - 1) {
                size_t c = (i - 2) % FP_GROUP + 1;
                sz[2] += 1 + (size_t)enc__packed_bytes(c, enc__bitwidth(any2));
                any2 = 0;
            }
        }
        s1 = s;
        d1 = d;
    }
    for (size_t i = 0; i < n; i += FP_GROUP) {
        size_t c = n - i < FP_GROUP ? n - i : FP_GROUP;
        uint64_t any = 0;
        for (size_t j = 0; j < c; j++) any |= fp_sort(st_double_bits(v[i + j])) - (uint64_t)mn;
        sz[0] += 1 + (size_t)enc__packed_bytes(c, enc__bitwidth(any));
    }
}

/* The smallest order: its payload bytes, and the order in *o. */
static size_t fp_best(const double *v, size_t n, int *o)
{
    size_t sz[3], best = SIZE_MAX;
    fp_sizes(v, n, sz);
    for (int k = 0; k <= 2; k++)
        if (sz[k] < best) { best = sz[k]; *o = k; }
    return best;
}

/* Append the payload of order o (-1: the smallest). */
static int fp_encode(const double *v, size_t n, int o, st_buf *out)
{
    if (o < 0) (void)fp_best(v, n, &o);
    size_t start = out->len;
    uint64_t b0 = fp_base(v, n, o);
    int rc = st_buf_put_u8(out, (uint8_t)o);
    if (!rc && n) rc = st_buf_put_u64le(out, b0);
    if (!rc && o == 2 && n >= 2)
        rc = st_buf_put_uvarint(out, enc__zz((int64_t)(fp_sort(st_double_bits(v[1])) - b0)));
    uint64_t r[FP_GROUP];
    for (size_t i = fp_first(n, o); i < n && !rc; i += FP_GROUP) {
        size_t c = n - i < FP_GROUP ? n - i : FP_GROUP;
        uint64_t any = 0;
        for (size_t j = 0; j < c; j++) any |= r[j] = fp_resid(v, i + j, o, b0);
        unsigned w = enc__bitwidth(any);
        rc = st_buf_put_u8(out, (uint8_t)w);
        if (!rc) rc = enc__pack(out, r, c, w);
    }
    if (rc) { out->len = start; if (out->ptr) out->ptr[start] = 0; }
    return rc;
}

static int fp_decode(const uint8_t *p, size_t len, size_t n, double *out)
{
    size_t pos = 0;
    if (len < 1) return ST_ECORRUPT;
    int o = p[pos++];
    if (o > 2) return ST_ECORRUPT;
    uint64_t *u = (uint64_t *)(void *)out;
    uint64_t s = 0, d = 0;
    if (n) {
        if (len - pos < 8) return ST_ECORRUPT;
        s = enc__ld64(p + pos);
        pos += 8;
    }
    size_t first = fp_first(n, o);
    if (first >= 1) u[0] = fp_sort(s);
    if (first >= 2) {
        uint64_t z;
        if (enc__get_uvarint(p, len, &pos, &z)) return ST_ECORRUPT;
        d = (uint64_t)enc__unzz(z);
        s += d;
        u[1] = fp_sort(s);
    }
    const uint64_t b0 = s;
    uint64_t r[FP_GROUP];
    uint8_t pad[ENC_UNPACK32_READ(64)];
    for (size_t i = first; i < n; i += FP_GROUP) {
        size_t c = n - i < FP_GROUP ? n - i : FP_GROUP;
        if (pos >= len) return ST_ECORRUPT;
        unsigned w = p[pos++];
        if (w > 64) return ST_ECORRUPT;
        size_t nb = (size_t)enc__packed_bytes(c, w), rd = ENC_UNPACK32_READ(w);
        if (len - pos < nb) return ST_ECORRUPT;
        const uint8_t *g = p + pos;
        if (len - pos < rd) {
            /* The last bytes of the payload: unpack from a zero-padded copy. */
            memcpy(pad, g, nb);
            memset(pad + nb, 0, rd - nb);
            g = pad;
        }
        enc__unpack32(g, w, r);
        pos += nb;
        uint64_t *o_ = u + i;
        if (o == 0) {
            for (size_t j = 0; j < c; j++) o_[j] = fp_sort(b0 + r[j]);
        } else if (o == 1) {
            for (size_t j = 0; j < c; j++) { s += (uint64_t)enc__unzz(r[j]); o_[j] = fp_sort(s); }
        } else {
            for (size_t j = 0; j < c; j++) { d += (uint64_t)enc__unzz(r[j]); s += d; o_[j] = fp_sort(s); }
        }
    }
    return pos == len ? 0 : ST_ECORRUPT;
}

/* ---- blocks ---- */

int enc__float_block_encode(const double *v, size_t n, int force, enc_hint *h, st_buf *out, int *id)
{
    size_t start = out->len;
    if (force >= 0) {
        *id = force;
        if (force == ENC_RAW) return enc__raw64_encode((const uint64_t *)(const void *)v, n, out);
        if (force == ENC_GORILLA) return enc_float_gorilla_encode(v, n, out);
        if (force == ENC_DECIMAL) { int alt, half; return dec_encode(v, n, 1, dec_choose_e(v, n, 0, &alt, &half), h, out); }
        if (force == ENC_FLOATPACK) return fp_encode(v, n, -1, out);
        return ST_EINVAL;
    }
    /* The smallest payload; on a tie the faster decoder (FLOATPACK, then the
     * decimal path, then Gorilla). Gorilla, the slowest to encode, runs only
     * when a bound from one cheap pass says it could be smaller. */
    st_buf d;
    st_buf_init(&d);
    int alt, half, e = dec_choose_e(v, n, 1, &alt, &half);
    int rc = half ? dec_encode(v, n, 0, e, h, &d) : ST_ERANGE;
    if (half && (rc == 0 || rc == ST_ERANGE) && alt >= 0) {
        st_buf d2;
        st_buf_init(&d2);
        int rc2 = dec_encode(v, n, 0, alt, h, &d2);
        if (rc2 == 0 && (rc == ST_ERANGE || d2.len < d.len)) {
            st_buf t = d;
            d = d2;
            d2 = t;
            rc = 0;
        } else if (rc2 != ST_ERANGE && rc2 != 0) {
            rc = rc2;
        }
        st_buf_fini(&d2);
    }
    if (rc && rc != ST_ERANGE) goto done;
    size_t dec = rc == 0 ? d.len : SIZE_MAX;
    int fp_order = 0;
    size_t fp = fp_best(v, n, &fp_order), best = fp <= dec ? fp : dec;
    *id = fp <= dec ? ENC_FLOATPACK : ENC_DECIMAL;
    rc = 0;
    if (gorilla_min_bytes(v, n) < best) {
        rc = enc_float_gorilla_encode(v, n, out);
        if (rc) goto done;
        if (out->len - start < best) { *id = ENC_GORILLA; goto done; }
        out->len = start;
    }
    rc = *id == ENC_FLOATPACK ? fp_encode(v, n, fp_order, out) : st_buf_append(out, d.ptr, d.len);
done:
    st_buf_fini(&d);
    if (rc) return rc;
    if (out->len - start > n * 8) {
        out->len = start;
        *id = ENC_RAW;
        return enc__raw64_encode((const uint64_t *)(const void *)v, n, out);
    }
    return 0;
}

int enc__float_block_decode(int id, const uint8_t *p, size_t len, size_t n, double *out)
{
    switch (id) {
    case ENC_RAW:
        return enc__raw64_decode(p, len, n, (uint64_t *)(void *)out);
    case ENC_GORILLA: {
        enc_float_reader r;
        enc_float_reader_init(&r, p, len, n);
        int rc = gorilla_decode(&r, n, out);
        if (rc) return rc;
        return enc__bitr_used(&r.br) == len ? 0 : ST_ECORRUPT;
    }
    case ENC_DECIMAL:
        return dec_decode(p, len, n, out);
    case ENC_FLOATPACK:
        return fp_decode(p, len, n, out);
    default:
        return ST_ECORRUPT;
    }
}
