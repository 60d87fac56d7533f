/*
 * storage/bits.h — bit writer and bit reader (inline) and the few helpers
 * the column encodings share (varints, zigzag, fixed-width bit packing).
 * Private to storage/enc_*.c; enc.h includes it only for the reader types.
 *
 * Bit order: LSB first. Bit k of a stream is bit (k % 8) of byte k / 8, so a
 * run of bits read as 64-bit little-endian words gives value i of a packed
 * array of width w at bits [i*w, i*w + w). A field of w bits is written with
 * its least significant bit first. Unused bits of the last byte are zero.
 *
 * The writer appends into an st_buf in place, so the buffer is readable at
 * any time (the head reads chunks while they grow). Callers reserve
 * ENC_BITW_SLACK bytes per value before writing it, so a failed reservation
 * leaves the stream unchanged.
 *
 * The reader never reads outside [p, p + len). A read past the end returns
 * 0 and sets `bad`; decoders check `bad` once per value and report
 * ST_ECORRUPT. No state outside the structs: any thread, one owner each.
 */
#ifndef ST_STORAGE_BITS_H
#define ST_STORAGE_BITS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/slice.h"

static inline uint64_t enc__ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void enc__st64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

static inline uint64_t enc__mask(unsigned w) { return w >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << w) - 1); }

static inline uint64_t enc__zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t enc__unzz(uint64_t z) { return (int64_t)((z >> 1) ^ (~(z & 1) + 1)); }

/* ---- writer ---- */

/* Bytes to reserve before writing up to 80 bits of one value. */
#define ENC_BITW_SLACK 24

/* Append the low w bits (0..64) of v at bit *nbits of b. The caller has
 * reserved room: b->len + 9 < b->cap for every call. */
static inline void enc__bitw_put(st_buf *b, uint64_t *nbits, uint64_t v, unsigned w)
{
    if (!w) return;
    v &= enc__mask(w);
    size_t byte = (size_t)(*nbits >> 3);
    unsigned sh = (unsigned)(*nbits & 7);
    uint8_t *p = (uint8_t *)b->ptr + byte;
    uint64_t cur = sh ? (uint64_t)(p[0] & ((1u << sh) - 1)) : 0;
    enc__st64(p, cur | (v << sh));
    if (sh + w > 64) p[8] = (uint8_t)(v >> (64 - sh));
    *nbits += w;
    b->len = (size_t)((*nbits + 7) >> 3);
}

/* ---- reader ---- */

typedef struct enc_bitr {
    const uint8_t *p; /* borrowed */
    size_t len;       /* bytes */
    uint64_t pos;     /* next bit */
    uint64_t lim;     /* len * 8 */
    int bad;          /* a read went past the end */
} enc_bitr;

static inline void enc__bitr_init(enc_bitr *r, const void *p, size_t len)
{
    r->p = (const uint8_t *)p;
    r->len = len;
    r->pos = 0;
    r->lim = (uint64_t)len * 8;
    r->bad = 0;
}

/* w (1..64) bits LSB-first at bit pos of p, unmasked above w; the caller
 * knows the 9 bytes from pos's byte lie inside the buffer. */
static inline uint64_t enc__bits_at(const uint8_t *p, uint64_t pos, unsigned w)
{
    size_t byte = (size_t)(pos >> 3);
    unsigned sh = (unsigned)(pos & 7);
    uint64_t v = enc__ld64(p + byte) >> sh;
    if (sh + w > 64) v |= (uint64_t)p[byte + 8] << (64 - sh);
    return v;
}

static inline uint64_t enc__bitr_get(enc_bitr *r, unsigned w)
{
    if (!w) return 0;
    if (r->pos + w > r->lim) { r->bad = 1; r->pos = r->lim; return 0; }
    uint64_t v;
    if ((size_t)(r->pos >> 3) + 9 <= r->len) {
        v = enc__bits_at(r->p, r->pos, w);
    } else {
        v = 0;
        unsigned got = 0;
        uint64_t pos = r->pos;
        while (got < w) {
            unsigned bo = (unsigned)(pos & 7);
            unsigned take = 8 - bo;
            if (take > w - got) take = w - got;
            uint64_t bits = (uint64_t)((r->p[pos >> 3] >> bo) & ((1u << take) - 1));
            v |= bits << got;
            got += take;
            pos += take;
        }
    }
    r->pos += w;
    return v & enc__mask(w);
}

static inline unsigned enc__bitr_bit(enc_bitr *r)
{
    if (r->pos >= r->lim) { r->bad = 1; return 0; }
    unsigned b = (r->p[r->pos >> 3] >> (r->pos & 7)) & 1u;
    r->pos++;
    return b;
}

/* Bytes the stream has used so far (the rest of the last byte is padding). */
static inline size_t enc__bitr_used(const enc_bitr *r) { return (size_t)((r->pos + 7) >> 3); }

/* ---- byte helpers ---- */

/* Unsigned LEB128 from [p+*pos, p+len): 0, or -1 when truncated or longer
 * than 10 bytes / 64 bits. */
static inline int enc__get_uvarint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = *pos;
    for (unsigned s = 0; s < 64; s += 7) {
        if (i >= len) return -1;
        uint8_t c = p[i++];
        if (s == 63 && c > 1) return -1;
        v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) { *pos = i; *out = v; return 0; }
    }
    return -1;
}

static inline size_t enc__uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

/* Bits needed for v (0 -> 0). */
static inline unsigned enc__bitwidth(uint64_t v) { return v ? 64u - (unsigned)__builtin_clzll(v) : 0u; }

/* ---- zigzag buckets of the head streams (format in storage/enc.h) ---- */

/* Write z in its bucket. Needs 9 bytes of reserved slack per put. */
static inline void enc__bucket_put(st_buf *b, uint64_t *nbits, uint64_t z)
{
    if (z == 0) { enc__bitw_put(b, nbits, 0, 1); return; }
    if (z < ((uint64_t)1 << 8))  { enc__bitw_put(b, nbits, 0x1u | (z << 2), 10); return; }
    if (z < ((uint64_t)1 << 16)) { enc__bitw_put(b, nbits, 0x3u | (z << 3), 19); return; }
    if (z < ((uint64_t)1 << 24)) { enc__bitw_put(b, nbits, 0x7u | (z << 4), 28); return; }
    if (z < ((uint64_t)1 << 40)) { enc__bitw_put(b, nbits, 0xfu | (z << 5), 45); return; }
    enc__bitw_put(b, nbits, 0x1f, 5);
    enc__bitw_put(b, nbits, z, 64);
}

static inline uint64_t enc__bucket_get(enc_bitr *r)
{
    static const unsigned width[6] = { 0, 8, 16, 24, 40, 64 };
    unsigned k = 0;
    while (k < 5 && enc__bitr_bit(r)) k++;
    return enc__bitr_get(r, width[k]);
}

/* ---- fixed-width packing (storage/enc_pack.c) ---- */

/* Bytes that n values of w bits occupy. */
static inline uint64_t enc__packed_bytes(uint64_t n, unsigned w) { return (n * w + 7) / 8; }
/* Append n values of w bits (0..64) LSB-first. 0 or ST_ENOMEM. */
int  enc__pack(st_buf *out, const uint64_t *v, size_t n, unsigned w);
/* Unpack n values of w bits from in, which holds enc__packed_bytes(n, w)
 * bytes (checked by the caller). */
void enc__unpack(const uint8_t *in, size_t n, unsigned w, uint64_t *out);
/* Unpack one group of 32 values of w bits (0..64), packed as above, into
 * out[0..32). Reads ENC_UNPACK32_READ(w) bytes from in: the group's 4w bytes
 * rounded up to whole 64-bit words (up to 4 bytes past an odd-width group). */
#define ENC_UNPACK32_READ(w) ((size_t)8 * (((w) + 1) / 2))
void enc__unpack32(const uint8_t *in, unsigned w, uint64_t *out);

/*
 * The integer pack ("INTPACK") shared by timestamps, integers and the
 * decimal path: order 0/1/2, frame of reference, fixed width, patched
 * exceptions. Format, byte aligned:
 *   u8       order o: 0 values, 1 deltas, 2 delta-of-deltas
 *   bases    min(n, o) zigzag uvarints: x0, then (o = 2) d1 = x1 - x0
 *   if m = n - min(n, o) > 0 residuals (r_i = x_i, x_i - x_{i-1}, or
 *   (x_i - x_{i-1}) - (x_{i-1} - x_{i-2}), all mod 2^64), with d_j =
 *   r_j - base mod 2^64:
 *     uvarint  zigzag(base)
 *     u8       w (0..64), or ENC_PLANES | w with w in 8, 16, .. 64
 *     uvarint  x, the number of exceptions (<= m)
 *     packed   m values in w bits each: d_j, or 0 where d_j >= 2^w;
 *              with ENC_PLANES instead w/8 byte planes of m bytes each,
 *              plane k holding byte k (the least significant first) of
 *              every such value
 *     x times  uvarint position gap (first: the index j in 0..m-1, then
 *              j - previous j - 1), uvarint zigzag(d_j as int64)
 * The encoder tries base = min(r) and a low quantile of a sample (so a
 * rare outlier below does not widen every value), and the width that
 * minimises packed bytes + exception bytes.
 * Byte planes are for a block zstd compresses next (enc_hint.planes): w-bit
 * fields straddle bytes, which hides their skew from zstd's byte-wise
 * Huffman coder; whole bytes show it. Sensor noise quantized to its
 * resolution (a few values far more frequent than the rest) then costs
 * close to its order-0 entropy instead of its full width. The encoder
 * takes planes (base min(r), no exceptions) when the planes' order-0
 * entropy, plus a table allowance, is ENC_PLANES_MIN_GAIN (storage/enc.h)
 * percent below the packed bytes.
 * Encode appends the smallest of the three orders (or the given one when
 * force_order >= 0); decode reads it back from [p + *pos, p + len).
 * enc__intpack_size is that estimate (planes by their entropy).
 */
#define ENC_PLANES 0x80u
typedef struct enc_hint {
    int planes;       /* in: byte planes may be chosen (zstd follows) */
    int planes_used;  /* out: set to 1 when some INTPACK chose them */
} enc_hint;
int enc__intpack_encode(const int64_t *x, size_t n, int force_order, enc_hint *h, st_buf *out);
size_t enc__intpack_size(const int64_t *x, size_t n, int order, const enc_hint *h);
int enc__intpack_decode(const uint8_t *p, size_t len, size_t *pos, size_t n, int64_t *out);

/* ---- per-type block payloads (dispatched by storage/enc_block.c) ---- */
/* encode: append the payload of the smallest candidate (or of encoding
 * `force` when >= 0: ST_EINVAL if not of this type, ST_ERANGE if it cannot
 * hold these values) to out, set *id.
 * decode: payload [p, p+len) of encoding id into n values; ST_ECORRUPT. */
/* h (NULL: none) lets INTPACK sections choose byte planes, see above. */
int enc__time_block_encode(const int64_t *v, size_t n, int force, enc_hint *h, st_buf *out, int *id);
int enc__time_block_decode(int id, const uint8_t *p, size_t len, size_t n, int64_t *out);
int enc__int_block_encode(const int64_t *v, size_t n, int force, enc_hint *h, st_buf *out, int *id);
int enc__int_block_decode(int id, const uint8_t *p, size_t len, size_t n, int64_t *out);
int enc__float_block_encode(const double *v, size_t n, int force, enc_hint *h, st_buf *out, int *id);
int enc__float_block_decode(int id, const uint8_t *p, size_t len, size_t n, double *out);
int enc__bool_block_encode(const uint8_t *v, size_t n, int force, st_buf *out, int *id);
int enc__bool_block_decode(int id, const uint8_t *p, size_t len, size_t n, uint8_t *out);
int enc__str_block_encode(const st_slice *v, size_t n, int force, st_buf *out, int *id);
int enc__str_block_decode(int id, const uint8_t *p, size_t len, size_t n, st_slice *out);
int enc__qual_block_encode(const uint32_t *v, size_t n, int force, st_buf *out, int *id);
int enc__qual_block_decode(int id, const uint8_t *p, size_t len, size_t n, uint32_t *out);

/* int64 columns (time, int, uint): the smallest of INTPACK, INTPACK_DIV10
 * and RAW (or `force`). */
int enc__int64_encode(const int64_t *v, size_t n, int force, enc_hint *h, st_buf *out, int *id);
int enc__int64_decode(int id, const uint8_t *p, size_t len, size_t n, int64_t *out);

/* RAW payload of 8-byte values. */
int enc__raw64_encode(const uint64_t *v, size_t n, st_buf *out);
int enc__raw64_decode(const uint8_t *p, size_t len, size_t n, uint64_t *out);

#endif
