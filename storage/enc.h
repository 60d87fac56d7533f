/*
 * storage/enc.h — the column encodings of the storage engine.
 *
 * Two uses:
 *  (A) the head: streaming appenders, one per column chunk, that take one
 *      value at a time into an owned growable buffer (amortised growth, no
 *      allocation per value) and stay readable at any moment: a reader or a
 *      bulk decoder given (appender.buf.ptr, appender.buf.len,
 *      appender.count) decodes every value appended so far.
 *  (B) segment blocks: enc_block_encode() encodes a whole column slice,
 *      choosing per block the smallest candidate encoding, optionally zstd
 *      over it; enc_block_decode() turns it back, bit-exactly.
 *
 * Threads: no global state. An appender or reader has one owner; the head
 * holds its lock around appends and reads. A reader borrows the bytes: it
 * must not be used after the appender appends again (the buffer may move).
 *
 * Errors: functions that can fail return 0 or a negative code of
 * common/err.h: ST_ENOMEM, ST_EINVAL (bad arguments from our own code),
 * ST_ECORRUPT (encoded bytes that do not decode to exactly the values
 * asked for: truncated, trailing bytes, impossible fields). Decoders treat
 * bytes as untrusted: they never read or write outside the given ranges and
 * never write more than n values. Output parameters are written only on
 * success (bulk decoders may have written part of `out` on failure).
 *
 * ===================== (A) head stream formats =====================
 * Bit streams are LSB first (storage/bits.h). zz(x) is the zigzag map
 * (x << 1) ^ (x >> 63); all differences are taken mod 2^64 so any int64 /
 * uint64 sequence round-trips (INT64_MIN after INT64_MAX included).
 *
 * Timestamps (enc_ts_*), bit stream: value 0 in 64 bits; then for each
 * further value the delta-of-delta dod = (t_i - t_{i-1}) - (t_{i-1} -
 * t_{i-2}) (with t_{-1} = t_0, so the first dod is the first delta), as
 * z = zz(dod) in one of these buckets (prefix bits in write order):
 *     0              z == 0                 1 bit
 *     1 0     + 8    z < 2^8               10 bits
 *     1 1 0   + 16   z < 2^16              19 bits
 *     1 1 1 0 + 24   z < 2^24              28 bits
 *     1 1 1 1 0 + 40 z < 2^40              45 bits
 *     1 1 1 1 1 + 64 anything              69 bits
 *   Regular data costs 1 bit per point after the second point; ms jitter
 *   on ns timestamps 28 bits; irregular events (dod up to ~18 min) 45.
 * Integers (enc_int_*) and unsigned (enc_uint_*): the same stream with
 * order 1: value 0 in 64 bits, then z = zz(x_i - x_{i-1}) in the buckets.
 * Floats (enc_float_*), Gorilla XOR: value 0 in 64 bits, then x = bits_i ^
 * bits_{i-1}:
 *     0                                            x == 0
 *     1 0  + m bits (x >> trail)                   fits the previous window
 *     1 1  + 5 bits lead (capped 31) + 6 bits (m - 1) + m bits (x >> trail)
 *   where m = 64 - lead - trail; the first XOR always opens a window. The
 *   encoder reuses the window only when that costs no more than a new one
 *   (plain Gorilla reuses whenever it fits); decoders need not care.
 * Booleans (enc_bool_*): one bit per value, 1 = true.
 * Strings (enc_str_*), bytes: per value uvarint length, then the bytes.
 * Quality (enc_quality_*), bytes: runs of 8 bytes, u32le StatusCode then
 * u32le run length (>= 1); the last run is extended in place, so an
 * all-good chunk costs 8 bytes.
 *
 * ===================== (B) block format =====================
 *   u8       header: bits 0-6 encoding id (enum enc_id), bit 7 ENC_FLAG_ZSTD
 *   uvarint  n, the number of values (the decoder is told n and checks it)
 *   if ENC_FLAG_ZSTD: uvarint payload length, then one zstd frame whose
 *       content is the payload; else the payload itself, to the end.
 * Every payload must be consumed exactly (padding bits in the last byte of
 * a bit stream excepted).
 * Payloads by id (types allowed in brackets):
 *   ENC_RAW [time int uint float quality]: n values, u64le (u32le for
 *       quality; a float as its IEEE-754 bits).
 *   ENC_TS_CONST [time]: uvarint zz(t0), uvarint zz(interval); t_i = t0 +
 *       i * interval mod 2^64.
 *   ENC_INTPACK [time int uint]: the integer pack of storage/bits.h over
 *       the values (uint as int64 bits): order 0/1/2 (values, deltas,
 *       delta-of-deltas), frame of reference, fixed bit width.
 *   ENC_INTPACK_DIV10 [time int uint]: u8 p (1..18), then INTPACK of
 *       v_i / 10^p; every value is a multiple of 10^p (timestamps of ms or s
 *       precision in ns); decode multiplies back (mod 2^64).
 *   ENC_GORILLA [float]: the head's Gorilla stream of n values.
 *   ENC_DECIMAL [float]: the ALP idea.
 *       u8 e (0..18): v_i = (double)k_i / 10^e (IEEE division, 10^e an
 *           exact double, k_i converted exactly as |k_i| < 2^51)
 *       uvarint x, the number of exceptions (x <= n), then x times:
 *           uvarint position gap (first: the position, then position -
 *           previous position - 1), u64le the double's bits
 *       INTPACK of the n integers k_i (at exceptions: the previous
 *       non-exception integer, or the next one at the start)
 *     A value is an exception when round(v * 10^e) is outside
 *     +-(2^51 - 1) or k / 10^e differs from v in any bit (-0.0, NaN, Inf,
 *     subnormals, too many digits). The decoder writes k / 10^e for
 *     every position (for an exception position: from the filler k), then
 *     the exceptions' bits over them.
 *   ENC_FLOATPACK [float]: full-precision values (random walks, noise).
 *       Each double's IEEE-754 bits b (as int64) become the integer
 *       s = b ^ ((b >> 63) >>> 1) (>> arithmetic, >>> logical: a negative
 *       value's 63 low bits are flipped), which orders like the doubles and
 *       maps back by the same expression; every bit pattern round-trips.
 *         u8     order o: 0, 1 or 2
 *         if n >= 1: u64le b0: o = 0 any base (the encoder takes min s_i);
 *                o = 1, 2: s_0
 *         if o = 2 and n >= 2: uvarint zz(s_1 - s_0)
 *         residuals, all mod 2^64: o = 0: r_i = s_i - b0 for i in [0, n);
 *                o = 1: zz(s_i - s_{i-1}) for i in [1, n); o = 2:
 *                zz((s_i - s_{i-1}) - (s_{i-1} - s_{i-2})) for i in [2, n)
 *         in groups of 32 residuals (the last group has the rest, c <= 32):
 *                u8 w (0..64), then the c residuals in w bits each, LSB
 *                first (storage/bits.h), (c * w + 7) / 8 bytes (4w for a
 *                full group)
 *     Neighbours share sign, exponent and high mantissa bits, which the
 *     differences cancel; the width per 32 values follows the scale as a
 *     series moves between exponents (the difference of two patterns
 *     counts the doubles between them, about |v_i - v_{i-1}| / ulp). The
 *     encoder writes the smallest order; the decoder reads whole groups.
 *   ENC_BOOL_BITS [bool]: n bits packed LSB first.
 *   ENC_BOOL_RLE [bool]: u8 first value (0/1), then uvarint run lengths
 *       (>= 1, summing to n), values alternating.
 *   ENC_STR_PLAIN [string]: n times uvarint length + bytes.
 *   ENC_STR_DICT [string]: uvarint d (1..n), d times uvarint length +
 *       bytes, u8 w, n indices (< d) packed in w bits.
 *   ENC_QUAL_RLE [quality]: (uvarint StatusCode, uvarint run >= 1) pairs
 *       whose runs sum to n.
 */
#ifndef ST_STORAGE_ENC_H
#define ST_STORAGE_ENC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "storage/bits.h"

/* Column kinds of a block (not the catalog's st_type: time and quality are
 * columns too). Stored nowhere; never mind renumbering. */
typedef enum enc_type {
    ENC_TYPE_TIME = 0,    /* int64_t ns */
    ENC_TYPE_FLOAT,       /* double */
    ENC_TYPE_INT,         /* int64_t */
    ENC_TYPE_UINT,        /* uint64_t */
    ENC_TYPE_BOOL,        /* uint8_t 0/1 (decode writes 0/1; encode: nonzero = true) */
    ENC_TYPE_STRING,      /* st_slice */
    ENC_TYPE_QUALITY,     /* uint32_t OPC UA StatusCode */
} enc_type;

/* Encoding ids, stored in the block header byte: never renumber. */
typedef enum enc_id {
    ENC_RAW = 0,
    ENC_TS_CONST = 1,
    ENC_INTPACK = 2,
    ENC_GORILLA = 3,
    ENC_DECIMAL = 4,
    ENC_BOOL_BITS = 5,
    ENC_BOOL_RLE = 6,
    ENC_STR_PLAIN = 7,
    ENC_STR_DICT = 8,
    ENC_QUAL_RLE = 9,
    ENC_INTPACK_DIV10 = 10,
    ENC_FLOATPACK = 11,
    ENC_ID_COUNT
} enc_id;
#define ENC_FLAG_ZSTD 0x80u

/* ---------------- (A) streaming appenders ---------------- */
/* Each: init (no allocation), append (0 or ST_ENOMEM; on failure nothing
 * changed), fini (frees; accepts a zeroed struct). Fields are open for
 * reading: buf.ptr/buf.len are the encoded bytes, count the values,
 * buf.cap the memory held. */

typedef struct enc_ts_appender {
    st_buf buf;        /* owned */
    uint64_t nbits;
    uint64_t count;
    uint64_t prev, prev_delta;
} enc_ts_appender;
void enc_ts_appender_init(enc_ts_appender *a);
void enc_ts_appender_fini(enc_ts_appender *a);
int  enc_ts_appender_append(enc_ts_appender *a, int64_t ts_ns);

typedef struct enc_int_appender {
    st_buf buf;        /* owned */
    uint64_t nbits;
    uint64_t count;
    uint64_t prev;
} enc_int_appender;
void enc_int_appender_init(enc_int_appender *a);
void enc_int_appender_fini(enc_int_appender *a);
int  enc_int_appender_append(enc_int_appender *a, int64_t v);
/* Unsigned: the same stream over the same bits. */
typedef enc_int_appender enc_uint_appender;
void enc_uint_appender_init(enc_uint_appender *a);
void enc_uint_appender_fini(enc_uint_appender *a);
int  enc_uint_appender_append(enc_uint_appender *a, uint64_t v);

typedef struct enc_float_appender {
    st_buf buf;        /* owned */
    uint64_t nbits;
    uint64_t count;
    uint64_t prev;
    uint8_t lead, trail; /* current window; lead 64 = none yet */
} enc_float_appender;
void enc_float_appender_init(enc_float_appender *a);
void enc_float_appender_fini(enc_float_appender *a);
int  enc_float_appender_append(enc_float_appender *a, double v);

typedef struct enc_bool_appender {
    st_buf buf;        /* owned */
    uint64_t nbits;
    uint64_t count;
} enc_bool_appender;
void enc_bool_appender_init(enc_bool_appender *a);
void enc_bool_appender_fini(enc_bool_appender *a);
int  enc_bool_appender_append(enc_bool_appender *a, int v);

typedef struct enc_str_appender {
    st_buf buf;        /* owned */
    uint64_t count;
} enc_str_appender;
void enc_str_appender_init(enc_str_appender *a);
void enc_str_appender_fini(enc_str_appender *a);
int  enc_str_appender_append(enc_str_appender *a, const void *s, size_t len);

typedef struct enc_quality_appender {
    st_buf buf;        /* owned */
    uint64_t count;
} enc_quality_appender;
void enc_quality_appender_init(enc_quality_appender *a);
void enc_quality_appender_fini(enc_quality_appender *a);
int  enc_quality_appender_append(enc_quality_appender *a, uint32_t status);

/* Give back an appender's spare capacity (e.g. when a head chunk goes
 * quiet): keeps len + ENC_BITW_SLACK + 1 bytes, so the next append does not
 * reallocate at once. Pass &appender.buf. 0 or ST_ENOMEM (buffer unchanged). */
int enc_buf_trim(st_buf *buf);

/* ---------------- (A) readers over head streams ---------------- */
/* init(bytes, len, count): bytes borrowed, count = values to decode (at
 * most the appender's count). next: 1 and *out written, 0 when count
 * values were read, ST_ECORRUPT. init never fails. */

typedef struct enc_ts_reader {
    enc_bitr br;
    uint64_t left, done;
    uint64_t prev, prev_delta;
} enc_ts_reader;
void enc_ts_reader_init(enc_ts_reader *r, const void *bytes, size_t len, uint64_t count);
int  enc_ts_reader_next(enc_ts_reader *r, int64_t *out);

typedef struct enc_int_reader {
    enc_bitr br;
    uint64_t left, done;
    uint64_t prev;
} enc_int_reader;
void enc_int_reader_init(enc_int_reader *r, const void *bytes, size_t len, uint64_t count);
int  enc_int_reader_next(enc_int_reader *r, int64_t *out);
int  enc_uint_reader_next(enc_int_reader *r, uint64_t *out);

typedef struct enc_float_reader {
    enc_bitr br;
    uint64_t left, done;
    uint64_t prev;
    uint8_t lead, trail;
} enc_float_reader;
void enc_float_reader_init(enc_float_reader *r, const void *bytes, size_t len, uint64_t count);
int  enc_float_reader_next(enc_float_reader *r, double *out);

typedef struct enc_bool_reader {
    enc_bitr br;
    uint64_t left;
} enc_bool_reader;
void enc_bool_reader_init(enc_bool_reader *r, const void *bytes, size_t len, uint64_t count);
int  enc_bool_reader_next(enc_bool_reader *r, int *out);

typedef struct enc_str_reader {
    const uint8_t *p;  /* borrowed */
    size_t len, pos;
    uint64_t left;
} enc_str_reader;
void enc_str_reader_init(enc_str_reader *r, const void *bytes, size_t len, uint64_t count);
/* *out borrows from the bytes. */
int  enc_str_reader_next(enc_str_reader *r, st_slice *out);

typedef struct enc_quality_reader {
    const uint8_t *p;  /* borrowed */
    size_t len, pos;
    uint64_t left;
    uint32_t cur, run_left;
} enc_quality_reader;
void enc_quality_reader_init(enc_quality_reader *r, const void *bytes, size_t len, uint64_t count);
int  enc_quality_reader_next(enc_quality_reader *r, uint32_t *out);

/* ---------------- (A) bulk decode of head streams ---------------- */
/* Decode the first n values into out[0..n). 0 or ST_ECORRUPT. */
int enc_ts_decode(const void *bytes, size_t len, size_t n, int64_t *out);
int enc_int_decode(const void *bytes, size_t len, size_t n, int64_t *out);
int enc_uint_decode(const void *bytes, size_t len, size_t n, uint64_t *out);
int enc_float_gorilla_decode(const void *bytes, size_t len, size_t n, double *out);
int enc_bool_decode(const void *bytes, size_t len, size_t n, uint8_t *out);
int enc_str_decode(const void *bytes, size_t len, size_t n, st_slice *out); /* borrows */
int enc_quality_decode(const void *bytes, size_t len, size_t n, uint32_t *out);

/* Gorilla stream of a whole array in one call (appends to out). */
int enc_float_gorilla_encode(const double *v, size_t n, st_buf *out);

/* ---------------- (B) blocks ---------------- */

/* zstd levels: 0 = never compress; 1..19 as zstd's. */
#define ENC_ZSTD_NONE 0

/*
 * Encode values[0..n) of column kind `type` (array type as in enum
 * enc_type) as one block appended to out: the smallest candidate encoding,
 * then zstd at zstd_level over it when that saves at least 1/8.
 * 0, ST_ENOMEM, ST_EINVAL (unknown type).
 */
int enc_block_encode(enc_type type, const void *values, size_t n, st_buf *out, int zstd_level);

/* The same with the encoding forced (id_wanted >= 0; -1 chooses): for
 * tests, fuzzing and benchmarks. ST_EINVAL when the id is not one of the
 * type's, ST_ERANGE when it cannot hold these values (TS_CONST of an
 * irregular series). */
int enc_block_encode_with(enc_type type, int id_wanted, const void *values, size_t n, st_buf *out, int zstd_level);

/*
 * A zstd compression context and its output scratch, kept from block to
 * block by one owner (one thread at a time): made afresh for each block, a
 * context cost three to four times the compression of an 8 KB payload at
 * level 3 (allocation and table set-up), which is most blocks of a flush.
 * init allocates nothing (the context comes with the first block); fini
 * frees and accepts an initialised, unused one.
 */
struct ZSTD_CCtx_s;
typedef struct enc_zctx {
    struct ZSTD_CCtx_s *cctx; /* owned; NULL until first used */
    st_buf scratch;           /* owned: zstd's output */
    st_buf alt;               /* owned: the block without byte planes */
} enc_zctx;
void enc_zctx_init(enc_zctx *z);
void enc_zctx_fini(enc_zctx *z);

/* enc_block_encode_with through z (NULL: a context for this call only).
 * With z and zstd_level >= ENC_PLANES_MIN_LEVEL (compaction's level, not
 * the head's flush: the extra pass costs ingest CPU) integer packs may be
 * laid out in byte planes (storage/bits.h, INTPACK), which zstd's Huffman
 * stage codes close to the values' entropy; when a block took them it is
 * encoded once more without, and the planes kept only when they save at
 * least ENC_PLANES_MIN_GAIN percent: such a block decodes at about half
 * the speed (zstd's Huffman stage; `bench_enc`: 0.69 against 1.39 G values/s
 * for quantized noise), worth it for a fifth off the bytes, not for 3%. */
#define ENC_PLANES_MIN_LEVEL 6
#define ENC_PLANES_MIN_GAIN 8
int enc_block_encode_z(enc_type type, int id_wanted, const void *values, size_t n, st_buf *out, int zstd_level,
                       enc_zctx *z);

/*
 * Decode a block of exactly n values into out (int64_t / double / uint64_t
 * / uint8_t / uint32_t array of n). Not for strings (ST_EINVAL).
 * 0, ST_ECORRUPT, ST_ENOMEM (zstd blocks need a scratch buffer).
 */
int enc_block_decode(const void *bytes, size_t len, enc_type type, size_t n, void *out);

/*
 * Decode a string block of n values into out[0..n). The slices borrow from
 * `bytes`, or, for a zstd block, from `store` (cleared and refilled; keep
 * both alive while using the slices). 0, ST_ECORRUPT, ST_ENOMEM.
 */
int enc_block_decode_str(const void *bytes, size_t len, size_t n, st_buf *store, st_slice *out);

/* The encoding id of a block (header byte & 0x7f), -1 for an empty block;
 * enc_block_is_zstd: 1 when the zstd flag is set. For statistics/tests. */
int enc_block_id(const void *bytes, size_t len);
int enc_block_is_zstd(const void *bytes, size_t len);
const char *enc_id_name(int id);

/* Decimal path (exposed for tests and the bench): the exponent e (0..18)
 * that the block's values would use, and the number of exceptions. */
int enc_decimal_analyze(const double *v, size_t n, int *e_out, size_t *exceptions_out);

#endif
