/*
 * storage/enc_pack.c — fixed-width bit packing and the integer pack
 * (INTPACK: order 0/1/2 + frame of reference + fixed width), shared by the
 * timestamp, integer and decimal block encodings, and the 32-value groups
 * FLOATPACK unpacks. Formats in storage/bits.h.
 *
 * Unpacking runs 64 values at a time through one function per width whose
 * shifts are compile-time constants (the loop is fully unrolled), so the
 * decoder is a straight run of loads, shifts and masks; the tail (< 64
 * values) takes a generic path that reads only the bytes it owns.
 * Pure functions; any thread.
 */
#include "storage/enc.h"

#include <math.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/err.h"

int enc__pack(st_buf *out, const uint64_t *v, size_t n, unsigned w)
{
    uint64_t bytes = enc__packed_bytes(n, w);
    if (w == 0 || n == 0) return 0;
    int rc = st_buf_reserve(out, (size_t)bytes + 8);
    if (rc) return rc;
    uint8_t *p = (uint8_t *)out->ptr + out->len;
    uint64_t mask = enc__mask(w), acc = 0;
    unsigned accbits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = v[i] & mask;
        acc |= x << accbits;
        if (accbits + w >= 64) {
            enc__st64(p + o, acc);
            o += 8;
            unsigned used = 64 - accbits;
            acc = used < 64 ? x >> used : 0;
            accbits = accbits + w - 64;
        } else {
            accbits += w;
        }
    }
    while (accbits > 0) {
        p[o++] = (uint8_t)acc;
        acc >>= 8;
        accbits = accbits > 8 ? accbits - 8 : 0;
    }
    out->len += (size_t)bytes;
    out->ptr[out->len] = 0;
    return 0;
}

#define ENC__UNPACK64(W)                                                      \
    static void unpack64_##W(const uint8_t *in, uint64_t *out)                \
    {                                                                         \
        _Pragma("GCC unroll 64")                                              \
        for (unsigned i = 0; i < 64; i++) {                                   \
            unsigned bit = i * (W), wi = bit >> 6, sh = bit & 63;             \
            uint64_t v = enc__ld64(in + 8 * wi) >> sh;                        \
            if (sh + (W) > 64) v |= enc__ld64(in + 8 * (wi + 1)) << ((64 - sh) & 63); \
            out[i] = v & enc__mask(W);                                        \
        }                                                                     \
    }

#define ENC__X8(M, a) M(a##0) M(a##1) M(a##2) M(a##3) M(a##4) M(a##5) M(a##6) M(a##7) M(a##8) M(a##9)
ENC__UNPACK64(1) ENC__UNPACK64(2) ENC__UNPACK64(3) ENC__UNPACK64(4) ENC__UNPACK64(5)
ENC__UNPACK64(6) ENC__UNPACK64(7) ENC__UNPACK64(8) ENC__UNPACK64(9)
ENC__X8(ENC__UNPACK64, 1) ENC__X8(ENC__UNPACK64, 2) ENC__X8(ENC__UNPACK64, 3)
ENC__X8(ENC__UNPACK64, 4) ENC__X8(ENC__UNPACK64, 5)
ENC__UNPACK64(60) ENC__UNPACK64(61) ENC__UNPACK64(62) ENC__UNPACK64(63) ENC__UNPACK64(64)

typedef void (*unpack64_fn)(const uint8_t *, uint64_t *);
#define ENC__F(W) unpack64_##W,
#define ENC__FX(a) ENC__F(a##0) ENC__F(a##1) ENC__F(a##2) ENC__F(a##3) ENC__F(a##4) \
    ENC__F(a##5) ENC__F(a##6) ENC__F(a##7) ENC__F(a##8) ENC__F(a##9)
static const unpack64_fn unpack64[65] = {
    NULL, ENC__F(1) ENC__F(2) ENC__F(3) ENC__F(4) ENC__F(5) ENC__F(6) ENC__F(7) ENC__F(8) ENC__F(9)
    ENC__FX(1) ENC__FX(2) ENC__FX(3) ENC__FX(4) ENC__FX(5)
    ENC__F(60) ENC__F(61) ENC__F(62) ENC__F(63) ENC__F(64)
};

void enc__unpack(const uint8_t *in, size_t n, unsigned w, uint64_t *out)
{
    if (w == 0) { memset(out, 0, n * sizeof *out); return; }
    size_t i = 0;
    unpack64_fn f = unpack64[w];
    for (; i + 64 <= n; i += 64) f(in + (i / 64) * 8 * w, out + i);
    if (i == n) return;
    enc_bitr r;
    size_t off = (i / 64) * 8 * w;
    enc__bitr_init(&r, in + off, (size_t)enc__packed_bytes(n, w) - off);
    for (; i < n; i++) out[i] = enc__bitr_get(&r, w);
}

/* Groups of 32 values (FLOATPACK): the same unrolled shape, 4w bytes a group. */
#define ENC__UNPACK32(W)                                                      \
    static void unpack32_##W(const uint8_t *in, uint64_t *out)                \
    {                                                                         \
        _Pragma("GCC unroll 32")                                              \
        for (unsigned i = 0; i < 32; i++) {                                   \
            unsigned bit = i * (W), wi = bit >> 6, sh = bit & 63;             \
            uint64_t v = enc__ld64(in + 8 * wi) >> sh;                        \
            if (sh + (W) > 64) v |= enc__ld64(in + 8 * (wi + 1)) << ((64 - sh) & 63); \
            out[i] = v & enc__mask(W);                                        \
        }                                                                     \
    }

ENC__UNPACK32(1) ENC__UNPACK32(2) ENC__UNPACK32(3) ENC__UNPACK32(4) ENC__UNPACK32(5)
ENC__UNPACK32(6) ENC__UNPACK32(7) ENC__UNPACK32(8) ENC__UNPACK32(9)
ENC__X8(ENC__UNPACK32, 1) ENC__X8(ENC__UNPACK32, 2) ENC__X8(ENC__UNPACK32, 3)
ENC__X8(ENC__UNPACK32, 4) ENC__X8(ENC__UNPACK32, 5)
ENC__UNPACK32(60) ENC__UNPACK32(61) ENC__UNPACK32(62) ENC__UNPACK32(63) ENC__UNPACK32(64)

#define ENC__G(W) unpack32_##W,
#define ENC__GX(a) ENC__G(a##0) ENC__G(a##1) ENC__G(a##2) ENC__G(a##3) ENC__G(a##4) \
    ENC__G(a##5) ENC__G(a##6) ENC__G(a##7) ENC__G(a##8) ENC__G(a##9)
static const unpack64_fn unpack32[65] = {
    NULL, ENC__G(1) ENC__G(2) ENC__G(3) ENC__G(4) ENC__G(5) ENC__G(6) ENC__G(7) ENC__G(8) ENC__G(9)
    ENC__GX(1) ENC__GX(2) ENC__GX(3) ENC__GX(4) ENC__GX(5)
    ENC__G(60) ENC__G(61) ENC__G(62) ENC__G(63) ENC__G(64)
};

void enc__unpack32(const uint8_t *in, unsigned w, uint64_t *out)
{
    if (w == 0) { memset(out, 0, 32 * sizeof *out); return; }
    unpack32[w](in, out);
}

/* ---- INTPACK ---- */

/* Residual i of x at order o (i >= min(n, o)), mod 2^64. */
static inline uint64_t resid(const int64_t *x, size_t i, int o)
{
    const uint64_t *u = (const uint64_t *)x;
    if (o == 0) return u[i];
    if (o == 1) return u[i] - u[i - 1];
    return (u[i] - u[i - 1]) - (u[i - 1] - u[i - 2]);
}

static size_t nbases(size_t n, int o) { return n < (size_t)o ? n : (size_t)o; }

typedef struct ip_plan {
    int order;
    int64_t base;
    unsigned w;
    int planes;   /* 0: packed, sized exactly; PLAN_PLANES: byte planes of
                   * w / 8 bytes; PLAN_NIBBLES: packed, w in 1, 2, 4 (whole
                   * values to a byte), chosen by estimate; both without
                   * exceptions */
    size_t bytes; /* whole encoding (planes: estimated after zstd) */
} ip_plan;

/* Byte planes are weighed up to this width: wider residuals are noise that
 * no byte-wise coder shrinks. */
#define PLANES_MAX_W 32u

enum { PLAN_PLANES = 1, PLAN_NIBBLES = 2 };

/* Estimated bytes of the residuals r - base (all >= 0, below 2^W) once
 * zstd's Huffman stage has coded them, laid out as W/8 byte planes (W a
 * multiple of 8) or packed 8/W to a byte (W 1, 2 or 4): each plane's byte
 * order-0 entropy plus an allowance for its table (a plane of one repeated
 * byte costs next to nothing). Huffman spends at least a bit a byte, which
 * is why values of a few bits go several to a byte. */
static size_t planes_estimate(const int64_t *x, size_t n, int o, uint64_t base, unsigned W)
{
    size_t b = nbases(n, o), m = n - b, nbytes = W >= 8 ? m : (m * W + 7) / 8;
    unsigned np = W >= 8 ? W / 8 : 1;
    uint32_t hist[PLANES_MAX_W / 8][256];
    memset(hist, 0, np * sizeof hist[0]);
    if (W >= 8) {
        for (size_t i = b; i < n; i++) {
            uint64_t d = resid(x, i, o) - base;
            for (unsigned k = 0; k < np; k++) hist[k][(d >> (8 * k)) & 255]++;
        }
    } else {
        unsigned acc = 0, bits = 0;
        for (size_t i = b; i < n; i++) {
            acc |= (unsigned)(resid(x, i, o) - base) << bits;
            if ((bits += W) == 8) { hist[0][acc]++; acc = 0; bits = 0; }
        }
        if (bits) hist[0][acc]++;
    }
    double bits = 0;
    size_t extra = 0;
    for (unsigned k = 0; k < np; k++) {
        unsigned distinct = 0;
        for (unsigned c = 0; c < 256; c++) {
            if (!hist[k][c]) continue;
            distinct++;
            bits += hist[k][c] * log2((double)nbytes / hist[k][c]);
        }
        extra += distinct > 1 ? 8 + distinct / 2 : 4;
    }
    return (size_t)(bits / 8) + extra;
}

/* Best width for a base: bytes of everything after the base varint. */
static size_t plan_base(const int64_t *x, size_t n, int o, int64_t base, unsigned *w_out)
{
    size_t b = nbases(n, o), m = n - b;
    uint64_t cnt[65] = { 0 }, exb[65] = { 0 };
    for (size_t i = b; i < n; i++) {
        uint64_t d = resid(x, i, o) - (uint64_t)base;
        unsigned k = enc__bitwidth(d);
        cnt[k]++;
        /* As an exception: ~1 byte of position gap + the zigzag varint,
         * which for k < 64 is (k + 1 bits) / 7 rounded up. */
        if (k == 64) exb[64] += 2 + enc__uvarint_len(enc__zz((int64_t)d));
    }
    for (unsigned k = 0; k < 64; k++) exb[k] = cnt[k] * (1 + (k + 1 + 6) / 7);
    size_t best = SIZE_MAX;
    unsigned bw = 64;
    uint64_t above = 0, xs = 0;
    /* Walk w downwards: values wider than w become exceptions. */
    for (int w = 64; w >= 0; w--) {
        if (w < 64) { above += exb[w + 1]; xs += cnt[w + 1]; }
        size_t c = 1 + enc__uvarint_len(xs) + (size_t)enc__packed_bytes(m, (unsigned)w) + (size_t)above;
        if (c <= best) { best = c; bw = (unsigned)w; }
    }
    *w_out = bw;
    return best;
}

/* The k-th smallest of x[0..n) (k < n, k < 8): what x[k] would be once
 * sorted, found by keeping the k + 1 smallest in order (a sort of the
 * whole sample for one small quantile cost more than the planning). */
static int64_t kth_smallest(const int64_t *x, size_t n, size_t k)
{
    int64_t best[8];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t v = x[i];
        if (m == k + 1 && v >= best[k]) continue;
        size_t j = m < k + 1 ? m++ : k;
        while (j > 0 && best[j - 1] > v) { best[j] = best[j - 1]; j--; }
        best[j] = v;
    }
    return best[k];
}

static void plan_order(const int64_t *x, size_t n, int o, const enc_hint *h, ip_plan *pl)
{
    const uint64_t *u = (const uint64_t *)x;
    size_t b = nbases(n, o), m = n - b;
    pl->order = o;
    pl->bytes = 1;
    if (n >= 1 && o >= 1) pl->bytes += enc__uvarint_len(enc__zz(x[0]));
    if (n >= 2 && o >= 2) pl->bytes += enc__uvarint_len(enc__zz((int64_t)(u[1] - u[0])));
    pl->base = 0;
    pl->w = 0;
    pl->planes = 0;
    if (!m) return;
    enum { SAMPLE = 256 };
    _Static_assert(SAMPLE / 64 < 8, "kth_smallest keeps at most 8");
    int64_t smp[SAMPLE];
    size_t step = m > SAMPLE ? m / SAMPLE : 1, ns = 0;
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (size_t i = b; i < n; i++) {
        int64_t r = (int64_t)resid(x, i, o);
        if (r < mn) mn = r;
        if (r > mx) mx = r;
    }
    for (size_t i = b; i < n && ns < SAMPLE; i += step) smp[ns++] = (int64_t)resid(x, i, o);
    int64_t cand[2] = { mn, kth_smallest(smp, ns, ns / 64) };
    size_t best = SIZE_MAX;
    for (int c = 0; c < (cand[1] != cand[0] ? 2 : 1); c++) {
        unsigned w;
        size_t s = enc__uvarint_len(enc__zz(cand[c])) + plan_base(x, n, o, cand[c], &w);
        if (s < best) { best = s; pl->base = cand[c]; pl->w = w; }
    }
    if (h && h->planes && m >= 64 && pl->w > 0) {
        /* the widest r - mn (mod 2^64, monotone in r from mn up) */
        unsigned W = enc__bitwidth((uint64_t)mx - (uint64_t)mn);
        W = W > 4 ? (W + 7) / 8 * 8 : W == 3 ? 4 : W;
        if (W <= PLANES_MAX_W) {
            size_t s = enc__uvarint_len(enc__zz(mn)) + 2 + planes_estimate(x, n, o, (uint64_t)mn, W);
            if (s * 100 <= best * (100 - ENC_PLANES_MIN_GAIN)) {
                best = s;
                pl->base = mn;
                pl->w = W;
                pl->planes = W >= 8 ? PLAN_PLANES : PLAN_NIBBLES;
            }
        }
    }
    pl->bytes += best;
}

size_t enc__intpack_size(const int64_t *x, size_t n, int order, const enc_hint *h)
{
    ip_plan pl;
    plan_order(x, n, order, h, &pl);
    return pl.bytes;
}

/* Append the residuals d_j (all below 2^(8 np)) as np byte planes. */
static int put_planes(st_buf *out, const int64_t *x, size_t n, int o, uint64_t base, unsigned np)
{
    size_t b = nbases(n, o), m = n - b;
    int rc = st_buf_reserve(out, m * np);
    if (rc) return rc;
    uint8_t *p = (uint8_t *)out->ptr + out->len;
    for (size_t j = 0; j < m; j++) {
        uint64_t d = resid(x, b + j, o) - base;
        for (unsigned k = 0; k < np; k++) p[k * m + j] = (uint8_t)(d >> (8 * k));
    }
    out->len += m * np;
    out->ptr[out->len] = 0;
    return 0;
}

int enc__intpack_encode(const int64_t *x, size_t n, int force_order, enc_hint *h, st_buf *out)
{
    const uint64_t *u = (const uint64_t *)x;
    ip_plan pl;
    if (force_order >= 0) {
        plan_order(x, n, force_order, h, &pl);
    } else {
        pl.bytes = SIZE_MAX;
        for (int o = 0; o <= 2; o++) {
            ip_plan t;
            plan_order(x, n, o, h, &t);
            if (t.bytes < pl.bytes) pl = t;
        }
    }
    int o = pl.order;
    size_t b = nbases(n, o), m = n - b;
    unsigned w = pl.w;
    uint64_t base = (uint64_t)pl.base, lim = enc__mask(w);
    int rc = st_buf_put_u8(out, (uint8_t)o);
    if (!rc && b >= 1) rc = st_buf_put_uvarint(out, enc__zz(x[0]));
    if (!rc && b >= 2) rc = st_buf_put_uvarint(out, enc__zz((int64_t)(u[1] - u[0])));
    if (rc || !m) return rc;
    if (pl.planes) h->planes_used = 1;
    if (pl.planes == PLAN_PLANES) {
        rc = st_buf_put_uvarint(out, enc__zz(pl.base));
        if (!rc) rc = st_buf_put_u8(out, (uint8_t)(ENC_PLANES | w));
        if (!rc) rc = st_buf_put_uvarint(out, 0);
        if (!rc) rc = put_planes(out, x, n, o, base, w / 8);
        return rc;
    }
    size_t xs = 0;
    for (size_t i = b; i < n; i++) xs += (resid(x, i, o) - base) > lim;
    rc = st_buf_put_uvarint(out, enc__zz(pl.base));
    if (!rc) rc = st_buf_put_u8(out, (uint8_t)w);
    if (!rc) rc = st_buf_put_uvarint(out, xs);
    if (rc) return rc;
    if (w) {
        /* Residuals in chunks of 1024 (a whole number of 64-bit words when
         * packed, so chunks concatenate byte-exactly); exceptions pack as 0. */
        enum { CH = 1024 };
        uint64_t tmp[CH];
        size_t done = 0;
        rc = st_buf_reserve(out, (size_t)enc__packed_bytes(m, w) + 8);
        while (!rc && done < m) {
            size_t k = m - done < CH ? m - done : CH;
            for (size_t j = 0; j < k; j++) {
                uint64_t d = resid(x, b + done + j, o) - base;
                tmp[j] = d > lim ? 0 : d;
            }
            rc = enc__pack(out, tmp, k, w);
            done += k;
        }
    }
    size_t last = 0;
    int have = 0;
    for (size_t j = 0; j < m && xs && !rc; j++) {
        uint64_t d = resid(x, b + j, o) - base;
        if (d <= lim) continue;
        rc = st_buf_put_uvarint(out, have ? j - last - 1 : j);
        if (!rc) rc = st_buf_put_uvarint(out, enc__zz((int64_t)d));
        last = j;
        have = 1;
    }
    return rc;
}

int enc__intpack_decode(const uint8_t *p, size_t len, size_t *pos, size_t n, int64_t *out)
{
    size_t i = *pos;
    if (i >= len) return ST_ECORRUPT;
    int o = p[i++];
    if (o > 2) return ST_ECORRUPT;
    uint64_t *u = (uint64_t *)out;
    uint64_t z, x0 = 0, d1 = 0;
    size_t b = nbases(n, o);
    if (b >= 1) { if (enc__get_uvarint(p, len, &i, &z)) return ST_ECORRUPT; x0 = (uint64_t)enc__unzz(z); u[0] = x0; }
    if (b >= 2) { if (enc__get_uvarint(p, len, &i, &z)) return ST_ECORRUPT; d1 = (uint64_t)enc__unzz(z); u[1] = x0 + d1; }
    size_t m = n - b;
    if (m) {
        uint64_t xs;
        if (enc__get_uvarint(p, len, &i, &z)) return ST_ECORRUPT;
        uint64_t base = (uint64_t)enc__unzz(z);
        if (i >= len) return ST_ECORRUPT;
        unsigned w = p[i] & ~ENC_PLANES, planes = p[i] & ENC_PLANES;
        i++;
        if (w > 64 || (planes && (w == 0 || w % 8))) return ST_ECORRUPT;
        if (enc__get_uvarint(p, len, &i, &xs) || xs > m) return ST_ECORRUPT;
        uint64_t need = planes ? (uint64_t)m * (w / 8) : enc__packed_bytes(m, w);
        if (need > len - i) return ST_ECORRUPT;
        uint64_t *r = u + b;
        if (planes) {
            const uint8_t *pl = p + i;
            for (size_t j = 0; j < m; j++) r[j] = pl[j];
            for (unsigned k = 1; k < w / 8; k++) {
                pl += m;
                for (size_t j = 0; j < m; j++) r[j] |= (uint64_t)pl[j] << (8 * k);
            }
        } else {
            enc__unpack(p + i, m, w, r);
        }
        i += (size_t)need;
        uint64_t at = 0;
        for (uint64_t j = 0; j < xs; j++) {
            uint64_t gap, v;
            if (enc__get_uvarint(p, len, &i, &gap) || enc__get_uvarint(p, len, &i, &v)) return ST_ECORRUPT;
            if (j) { if (gap >= m - at - 1) return ST_ECORRUPT; at += 1 + gap; }
            else { if (gap >= m) return ST_ECORRUPT; at = gap; }
            r[at] = (uint64_t)enc__unzz(v);
        }
        if (o == 0) {
            for (size_t j = 0; j < m; j++) r[j] += base;
        } else if (o == 1) {
            uint64_t prev = x0;
            for (size_t j = 0; j < m; j++) { prev += r[j] + base; r[j] = prev; }
        } else {
            uint64_t prev = x0 + d1, d = d1;
            for (size_t j = 0; j < m; j++) { d += r[j] + base; prev += d; r[j] = prev; }
        }
    }
    *pos = i;
    return 0;
}

/* ---- int64 columns: INTPACK, INTPACK_DIV10 or RAW ---- */

static const int64_t pow10_i64[19] = {
    1ll, 10ll, 100ll, 1000ll, 10000ll, 100000ll, 1000000ll, 10000000ll, 100000000ll,
    1000000000ll, 10000000000ll, 100000000000ll, 1000000000000ll, 10000000000000ll,
    100000000000000ll, 1000000000000000ll, 10000000000000000ll, 100000000000000000ll,
    1000000000000000000ll,
};

static size_t best_order(const int64_t *v, size_t n, const enc_hint *h, int *order)
{
    size_t best = SIZE_MAX;
    for (int o = 0; o <= 2; o++) {
        size_t s = enc__intpack_size(v, n, o, h);
        if (s < best) { best = s; *order = o; }
    }
    return best;
}

int enc__int64_encode(const int64_t *v, size_t n, int force, enc_hint *h, st_buf *out, int *id)
{
    if (force >= 0 && force != ENC_INTPACK && force != ENC_INTPACK_DIV10 && force != ENC_RAW) return ST_EINVAL;
    /* The largest power of ten dividing every value (ms timestamps in ns: 6). */
    int p = n ? 18 : 0;
    for (size_t i = 0; i < n && p > 0; i++)
        while (p > 0 && v[i] % pow10_i64[p] != 0) p--;
    if (force == ENC_INTPACK_DIV10 && p == 0) return ST_ERANGE;
    int order = 0, qorder = 0, rc;
    size_t plain = force < 0 || force == ENC_INTPACK ? best_order(v, n, h, &order) : SIZE_MAX;
    int64_t *q = NULL;
    size_t scaled = SIZE_MAX;
    if (p > 0 && (force < 0 || force == ENC_INTPACK_DIV10)) {
        q = st_malloc(n * sizeof *q);
        if (!q) return ST_ENOMEM;
        for (size_t i = 0; i < n; i++) q[i] = v[i] / pow10_i64[p];
        scaled = 1 + best_order(q, n, h, &qorder);
    }
    if (force == ENC_RAW || (force < 0 && plain >= n * 8 && scaled >= n * 8)) {
        *id = ENC_RAW;
        rc = enc__raw64_encode((const uint64_t *)v, n, out);
    } else if (force == ENC_INTPACK_DIV10 || (force < 0 && scaled < plain)) {
        *id = ENC_INTPACK_DIV10;
        rc = st_buf_put_u8(out, (uint8_t)p);
        if (!rc) rc = enc__intpack_encode(q, n, qorder, h, out);
    } else {
        *id = ENC_INTPACK;
        rc = enc__intpack_encode(v, n, order, h, out);
    }
    st_free(q);
    return rc;
}

int enc__int64_decode(int id, const uint8_t *p, size_t len, size_t n, int64_t *out)
{
    size_t pos = 0;
    if (id == ENC_RAW) return enc__raw64_decode(p, len, n, (uint64_t *)out);
    unsigned e = 0;
    if (id == ENC_INTPACK_DIV10) {
        if (len < 1 || p[0] < 1 || p[0] > 18) return ST_ECORRUPT;
        e = p[pos++];
    } else if (id != ENC_INTPACK) {
        return ST_ECORRUPT;
    }
    int rc = enc__intpack_decode(p, len, &pos, n, out);
    if (rc) return rc;
    if (pos != len) return ST_ECORRUPT;
    if (e) {
        uint64_t m = (uint64_t)pow10_i64[e], *u = (uint64_t *)out;
        for (size_t i = 0; i < n; i++) u[i] *= m;
    }
    return 0;
}
