/*
 * storage/seg_format.h — the segment file on disk, format v1, byte by byte.
 * Format only: encode/decode helpers, no I/O. Any thread.
 *
 * FILES. data/db/ID/PARTITION/NNNNNNNN.seg, N = the file id in lower-case
 * hex, at least 8 digits. Written as NNNNNNNN.seg.tmp, fsynced, renamed,
 * directory fsynced (storage/seg.h, the crash story). Immutable once named.
 *
 * Integers are little-endian. uvarint = unsigned LEB128 (at most 10 bytes);
 * zz(x) = (x << 1) ^ (x >> 63), the zigzag map; fbits(d) = uvarint of the
 * byte-swapped IEEE-754 bits of a double (so the zero low mantissa bytes of
 * "round" values such as 1.0 or 81.5 cost nothing: 2-4 bytes; at most 10).
 *
 * LAYOUT
 *   [file header, 64 bytes][block][block]...[index][footer, 48 bytes]
 *
 * FILE HEADER, 64 bytes at offset 0 (written last, before the fsync):
 *   0  8  magic        "STRATASG"
 *   8  4  version      1
 *  12  4  flags        bit 0 (SEG_HDR_FLAG_FSUM4): FLOAT block sums are
 *                      four-lane sums (STATISTICS below); other bits 0.
 *                      Every file written now sets it; files without it
 *                      hold left-to-right sums (checked as such).
 *  16  8  file_id      equal to N in the file name
 *  24  8  min_ts       smallest timestamp in the file (int64 ns)
 *  32  8  max_ts       largest timestamp in the file
 *  40  8  created_ns   wall clock at creation (int64 ns; informational)
 *  48  4  block_points the writer's target points per block (informational)
 *  52  8  reserved     0
 *  60  4  crc          CRC32C of bytes 0..59
 *
 * BLOCK: one slice of one column (series id, field id), at most
 * SEG_MAX_BLOCK_POINTS points, timestamps strictly increasing:
 *   0  4  crc          CRC32C of bytes 4..len-1 of the block
 *   4  1  tag          0xB1 (block format 1)
 *   5  1  type         st_type of the field (1 float .. 5 string)
 *   6  1  flags        bit 0: a quality section follows; set exactly when
 *                      some point's quality is not Good (absent = all Good);
 *                      bit 1: a page table follows (set exactly when the
 *                      index says so); other bits 0
 *   7  .. uvarint series_id, uvarint field_id, uvarint count (>= 1),
 *         uvarint zz(min_ts), uvarint (max_ts - min_ts),
 *         uvarint ts_len, uvarint val_len, [uvarint q_len if flag bit 0],
 *         [uvarint p_len if flag bit 1]
 *      then ts_len bytes: enc_block_encode(ENC_TYPE_TIME) of the timestamps,
 *           val_len bytes: enc_block_encode of the values (FLOAT: double,
 *             INT: int64, UINT: uint64, BOOL: uint8 0/1, STRING: slices),
 *           q_len bytes: enc_block_encode(ENC_TYPE_QUALITY) of the StatusCodes,
 *           p_len bytes: the page table;
 *      ending exactly at the block's length (given by the index).
 *
 * PAGE TABLE: statistics of the block's points per UTC-aligned cell of a
 * grid (a minute, 10 minutes, an hour or a day), so that a query grouping
 * by time windows the block spans (GROUP BY time(1h) over blocks of a day)
 * answers from statistics without decoding the values. A page is the
 * block's points in one cell [k*G, (k+1)*G), G the grid's width in ns (k
 * by floor division; times before 1970 fall in negative cells); only
 * non-empty cells have pages. Compaction writes page tables (the head's
 * flush does not: seg_writer_opts.no_pages). The writer picks the finest grid whose
 * spanned cells average at least SEG_PAGE_MIN_POINTS points, the block
 * spans at least two cells of, and whose table costs at most
 * 1/SEG_PAGE_MAX_SHARE of the value section and SEG_PAGE_MAX_BYTES_PER_POINT
 * bytes a point (so pages cost a few percent of the bytes at most, and
 * full-precision values, whose statistics do not compress, get coarser
 * cells or none); columns FLOAT, INT, UINT and BOOL only.
 *   u8      grid       1: 1 min, 2: 10 min, 3: 1 h, 4: 1 day (seg_page_grid_ns)
 *   uvarint npages     2..count
 *   then arrays of npages values, each uvarint len + len bytes of
 *   enc_block_encode (the block's zstd level):
 *     counts   ENC_TYPE_UINT, each >= 1, adding up to count
 *     min_ts   ENC_TYPE_TIME, the page's first time: strictly increasing,
 *              the first equal to the block's min_ts
 *     max_ts   ENC_TYPE_TIME, the page's last time: >= its min_ts, in the
 *              same cell, below the next page's min_ts; the last equal to
 *              the block's max_ts
 *     FLOAT/INT/UINT: first, last, min, max, sum, each of the column's
 *              encoding type (INT sum: the wrapping int64; FLOAT sum: the
 *              four-lane sum over the page's points, STATISTICS below)
 *     BOOL:    ntrue ENC_TYPE_UINT (<= the page's count), first and last
 *              ENC_TYPE_BOOL (min and max follow from ntrue)
 *   ending exactly at p_len. Page statistics are defined as a block's are
 *   (STATISTICS), over the page's points.
 *   The encoding ids live in the first byte of each encoded section
 *   (storage/enc.h, block format).
 *
 * INDEX: stored_len bytes at index_offset; when footer flag bit 0 is set
 * it is one zstd frame whose content is raw_len bytes, else raw. Raw:
 *   uvarint ncols (== footer column_count)
 *   per column, sorted by (series_id, field_id), no duplicates:
 *     uvarint sdelta     series_id - previous column's series_id (first: series_id)
 *     uvarint fcode      sdelta == 0 (and not the first): field_id - previous
 *                        field_id - 1; else field_id
 *     u8      type       st_type, 1..5
 *     uvarint nblocks    >= 1
 *     per block, in time order (min_ts ascending, ranges disjoint):
 *       uvarint gap      offset - end of the previous block in the file
 *                        (first block of the file: offset - 64). Blocks are
 *                        laid out in index order, so this is normally 0.
 *       uvarint len      block length in bytes
 *       uvarint count    points, 1..SEG_MAX_BLOCK_POINTS
 *       uvarint tdelta   first block of the column: min_ts - file min_ts;
 *                        else min_ts - previous block's max_ts - 1
 *       uvarint span     max_ts - min_ts
 *       statistics (first/last are the values at min_ts/max_ts):
 *         FLOAT: u8 mask: bit0 min==first, bit1 min==last, bit2 max==first,
 *                bit3 max==last (bitwise; at most one of bit0/bit1 and one
 *                of bit2/bit3), bit4 some point is not Good (the block has
 *                a quality section), bit5 the block has a page table,
 *                other bits 0; fbits(first);
 *                count>1: fbits(last); unless bit0|bit1: fbits(min);
 *                unless bit2|bit3: fbits(max); count>2: fbits(sum).
 *         INT:   the same mask, with uvarint zz(v) for each value.
 *         UINT:  the same mask, with uvarint v for each value.
 *         BOOL:  uvarint ntrue (<= count); u8 first | last << 1 | notgood << 2
 *                | pages << 3.
 *         STRING: nothing.
 *       Omitted values: count 1: last = min = max = sum = first;
 *       count 2: sum = first + last (FLOAT: a NaN sum canonical, as
 *       seg_acc_stats gives it).
 *     STRING columns end with uvarint len + len bytes: the column's last value.
 *   The index must be consumed exactly.
 *
 * STATISTICS, defined so the reader can trust them bit-exactly:
 *   min/max: FLOAT ignores NaN (all NaN: min = max = first); ties keep the
 *   earlier value (so -0.0 vs 0.0 depends on order). sum: INT/UINT
 *   wrapping mod 2^64; BOOL the number of true; FLOAT (IEEE double
 *   addition, NaN and Inf propagate) in four lanes, seg_fsum: lane r is
 *   the left-to-right sum of the values whose index is r mod 4, and the
 *   sum is (L0 + L1) + (L2 + L3), absent lanes left out (1 value: L0; 2:
 *   L0 + L1; 3: (L0 + L1) + L2); a NaN sum of two or more values is the
 *   quiet NaN 0x7ff8000000000000 (which NaN an addition gives depends on
 *   its operands' order, which a compiler may swap). Four independent additions per step
 *   instead of one chain: a query folding a block's points is bound by the
 *   adder's throughput, not its latency, and still gets the statistics'
 *   sum bit for bit. (Files without header flag bit 0: left to right.)
 *   Per column, "the last timestamp and value in this file" are the last
 *   block's max_ts and last (strings: the stored last value).
 *
 * FOOTER, the last 48 bytes of the file:
 *   0  8  index_offset   64 <= index_offset, index ends where the footer starts
 *   8  4  index_len      stored bytes of the index
 *  12  4  index_raw_len  bytes after decompression (== index_len when raw)
 *  16  4  index_crc      CRC32C of the stored index bytes
 *  20  4  flags          bit 0: the index is zstd-compressed
 *  24  4  column_count
 *  28  4  block_count    total blocks (bounds allocation before parsing)
 *  32  4  version        1
 *  36  4  footer_crc     CRC32C of bytes 0..35
 *  40  8  magic          "STRSEGFT"
 *
 * Bytes on disk are untrusted: every decoder bounds every count and length
 * by the bytes that remain before allocating, and checks every offset.
 */
#ifndef STOR_SEG_FORMAT_H
#define STOR_SEG_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/crc32c.h"

#define SEG_FORMAT_VERSION 1u
#define SEG_HDR_SIZE 64
#define SEG_FOOTER_SIZE 48
#define SEG_MAGIC "STRATASG"
#define SEG_FOOTER_MAGIC "STRSEGFT"
#define SEG_BLOCK_TAG 0xB1u
#define SEG_BLOCK_FLAG_QUALITY 0x01u
#define SEG_BLOCK_FLAG_PAGES   0x02u
/* Pages: at least this many points per spanned cell on average; a table of
 * at most 1/SEG_PAGE_MAX_SHARE of the value section's bytes and at most
 * SEG_PAGE_MAX_BYTES_PER_POINT bytes per point of the block (measured with
 * `make bench BENCH_ARGS=disk`: hour pages of 2-decimal values at 10 s
 * cost about 0.05 B a point, of full-precision values about 0.11: those
 * get coarser cells or none, and their set keeps its size). */
#define SEG_PAGE_MIN_POINTS 256u
#define SEG_PAGE_MAX_SHARE 16u
#define SEG_PAGE_MAX_BYTES_PER_POINT 0.075
#define SEG_PAGE_GRIDS 4
#define SEG_INDEX_FLAG_ZSTD 0x01u
#define SEG_HDR_FLAG_FSUM4 0x01u
/* Fixed part of a block header (crc, tag, type, flags). */
#define SEG_BLOCK_FIXED 7
/* Largest points in one block (bounds decode allocations). */
#define SEG_MAX_BLOCK_POINTS 65536u
/* Largest block and index we accept (bounds allocations on untrusted input). */
#define SEG_MAX_BLOCK_BYTES (256u * 1024u * 1024u)
#define SEG_MAX_INDEX_BYTES (1024u * 1024u * 1024u)
/* Smallest index entry of one block: gap, len, count, tdelta, span, 1 byte of stats
 * (a STRING block has no stats, so 5). */
#define SEG_MIN_BLOCK_ENTRY 5u
/* "00000001.seg" and ".tmp" */
#define SEG_SUFFIX ".seg"
#define SEG_TMP_SUFFIX ".seg.tmp"

#define SEG_MASK_MIN_FIRST 0x01u
#define SEG_MASK_MIN_LAST  0x02u
#define SEG_MASK_MAX_FIRST 0x04u
#define SEG_MASK_MAX_LAST  0x08u
#define SEG_MASK_NOT_GOOD  0x10u
#define SEG_MASK_PAGES     0x20u
#define SEG_BOOL_PAGES     0x08u

_Static_assert(SEG_HDR_SIZE == 64, "file header is 64 bytes");
_Static_assert(SEG_FOOTER_SIZE == 48, "footer is 48 bytes");
_Static_assert(sizeof(SEG_MAGIC) - 1 == 8, "magic is 8 bytes");
_Static_assert(sizeof(SEG_FOOTER_MAGIC) - 1 == 8, "footer magic is 8 bytes");
_Static_assert(SEG_MAX_BLOCK_POINTS <= UINT32_MAX, "count fits u32");

/* Decoded file header (a value; not a byte image). */
typedef struct seg_hdr {
    uint32_t version;
    uint64_t file_id;
    int64_t min_ts, max_ts;
    int64_t created_ns;
    uint32_t block_points;
    uint32_t flags;         /* SEG_HDR_FLAG_* */
} seg_hdr;

typedef struct seg_footer {
    uint64_t index_offset;
    uint32_t index_len, index_raw_len, index_crc, flags;
    uint32_t column_count, block_count;
    uint32_t version;
} seg_footer;

/* A 64-bit statistic: which member is meant depends on the column type
 * (FLOAT f, INT i, UINT u; BOOL u as 0/1 or, for sum, the true count). */
typedef union seg_num {
    double f;
    int64_t i;
    uint64_t u;
} seg_num;

/* Per-block statistics, decoded. */
typedef struct seg_stats {
    seg_num min, max, sum, first, last;
} seg_stats;

/* One page of a block's page table, decoded (storage/seg.h). */
typedef struct seg_page {
    uint32_t start, count;  /* the block's points [start, start + count) */
    int64_t min_ts, max_ts;
    seg_stats stats;
} seg_page;

/* Grid g (1..SEG_PAGE_GRIDS): cell width in ns. */
static inline int64_t seg_page_grid_ns(unsigned g)
{
    static const int64_t w[SEG_PAGE_GRIDS + 1] = { 0, 60000000000LL, 600000000000LL, 3600000000000LL,
                                                   86400000000000LL };
    return g >= 1 && g <= SEG_PAGE_GRIDS ? w[g] : 0;
}

/* The cell of t on a grid of width g ns (floor division). */
static inline int64_t seg_page_cell(int64_t t, int64_t g)
{
    int64_t q = t / g;
    return (t % g < 0) ? q - 1 : q;
}

static inline void seg__put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static inline void seg__put64(unsigned char *p, uint64_t v)
{
    seg__put32(p, (uint32_t)v);
    seg__put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t seg__get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t seg__get64(const unsigned char *p)
{
    return (uint64_t)seg__get32(p) | (uint64_t)seg__get32(p + 4) << 32;
}
static inline uint64_t seg__zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t seg__unzz(uint64_t z) { return (int64_t)((z >> 1) ^ (~(z & 1) + 1)); }

/* uvarint into p (room for 10 bytes); returns the bytes written. */
static inline size_t seg__put_uvarint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) { p[n++] = (unsigned char)(v | 0x80); v >>= 7; }
    p[n++] = (unsigned char)v;
    return n;
}
/* uvarint from [p+*pos, p+len): 0, or -1 when truncated or over 64 bits. */
static inline int seg__get_uvarint(const unsigned char *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = *pos;
    for (unsigned s = 0; s < 64; s += 7) {
        if (i >= len) return -1;
        unsigned char c = p[i++];
        if (s == 63 && c > 1) return -1;
        v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) { *pos = i; *out = v; return 0; }
    }
    return -1;
}

static inline void seg_hdr_encode(const seg_hdr *h, unsigned char out[SEG_HDR_SIZE])
{
    memset(out, 0, SEG_HDR_SIZE);
    memcpy(out, SEG_MAGIC, 8);
    seg__put32(out + 8, SEG_FORMAT_VERSION);
    seg__put32(out + 12, h->flags);
    seg__put64(out + 16, h->file_id);
    seg__put64(out + 24, (uint64_t)h->min_ts);
    seg__put64(out + 32, (uint64_t)h->max_ts);
    seg__put64(out + 40, (uint64_t)h->created_ns);
    seg__put32(out + 48, h->block_points);
    seg__put32(out + 60, st_crc32c(0, out, 60));
}

/* 1 when valid (out written), else 0. */
static inline int seg_hdr_decode(const unsigned char in[SEG_HDR_SIZE], seg_hdr *out)
{
    if (memcmp(in, SEG_MAGIC, 8) != 0) return 0;
    if (seg__get32(in + 60) != st_crc32c(0, in, 60)) return 0;
    seg_hdr h;
    h.version = seg__get32(in + 8);
    h.flags = seg__get32(in + 12);
    if (h.version != SEG_FORMAT_VERSION || (h.flags & ~SEG_HDR_FLAG_FSUM4)) return 0;
    h.file_id = seg__get64(in + 16);
    h.min_ts = (int64_t)seg__get64(in + 24);
    h.max_ts = (int64_t)seg__get64(in + 32);
    h.created_ns = (int64_t)seg__get64(in + 40);
    h.block_points = seg__get32(in + 48);
    if (h.min_ts > h.max_ts) return 0;
    *out = h;
    return 1;
}

static inline void seg_footer_encode(const seg_footer *f, unsigned char out[SEG_FOOTER_SIZE])
{
    seg__put64(out + 0, f->index_offset);
    seg__put32(out + 8, f->index_len);
    seg__put32(out + 12, f->index_raw_len);
    seg__put32(out + 16, f->index_crc);
    seg__put32(out + 20, f->flags);
    seg__put32(out + 24, f->column_count);
    seg__put32(out + 28, f->block_count);
    seg__put32(out + 32, SEG_FORMAT_VERSION);
    seg__put32(out + 36, st_crc32c(0, out, 36));
    memcpy(out + 40, SEG_FOOTER_MAGIC, 8);
}

/* 1 when valid (out written), else 0. Offsets are checked against the file
 * size by the caller. */
static inline int seg_footer_decode(const unsigned char in[SEG_FOOTER_SIZE], seg_footer *out)
{
    if (memcmp(in + 40, SEG_FOOTER_MAGIC, 8) != 0) return 0;
    if (seg__get32(in + 36) != st_crc32c(0, in, 36)) return 0;
    seg_footer f;
    f.index_offset = seg__get64(in + 0);
    f.index_len = seg__get32(in + 8);
    f.index_raw_len = seg__get32(in + 12);
    f.index_crc = seg__get32(in + 16);
    f.flags = seg__get32(in + 20);
    f.column_count = seg__get32(in + 24);
    f.block_count = seg__get32(in + 28);
    f.version = seg__get32(in + 32);
    if (f.version != SEG_FORMAT_VERSION) return 0;
    if (f.flags & ~SEG_INDEX_FLAG_ZSTD) return 0;
    if (f.index_len > SEG_MAX_INDEX_BYTES || f.index_raw_len > SEG_MAX_INDEX_BYTES) return 0;
    if (!(f.flags & SEG_INDEX_FLAG_ZSTD) && f.index_len != f.index_raw_len) return 0;
    if (f.column_count > f.block_count) return 0;
    *out = f;
    return 1;
}

/* ---- statistics: one definition for writer and reader ---- */

static inline uint64_t seg__fbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline double seg__fval(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

/* Fold value v (the k-th of the block, k from 0) into s. type is st_type
 * (FLOAT 1, INT 2, UINT 3, BOOL 4; STRING: nothing). */
static inline void seg_stats_add(seg_stats *s, int type, size_t k, seg_num v)
{
    if (type == 1) {
        if (k == 0) { s->first = s->last = s->min = s->max = s->sum = v; return; }
        s->last = v;
        s->sum.f = s->sum.f + v.f;
        if (v.f == v.f) {
            if (s->min.f != s->min.f || v.f < s->min.f) s->min = v;
            if (s->max.f != s->max.f || v.f > s->max.f) s->max = v;
        }
    } else if (type == 2) {
        if (k == 0) { s->first = s->last = s->min = s->max = s->sum = v; return; }
        s->last = v;
        s->sum.u = s->sum.u + v.u;
        if (v.i < s->min.i) s->min = v;
        if (v.i > s->max.i) s->max = v;
    } else if (type == 3) {
        if (k == 0) { s->first = s->last = s->min = s->max = s->sum = v; return; }
        s->last = v;
        s->sum.u = s->sum.u + v.u;
        if (v.u < s->min.u) s->min = v;
        if (v.u > s->max.u) s->max = v;
    } else if (type == 4) {
        uint64_t b = v.u ? 1 : 0;
        if (k == 0) { s->first.u = s->last.u = s->min.u = s->max.u = s->sum.u = b; return; }
        s->last.u = b;
        s->sum.u += b;
        if (b < s->min.u) s->min.u = b;
        if (b > s->max.u) s->max.u = b;
    }
}

/* A NaN sum is the canonical quiet NaN: which NaN an addition returns
 * depends on its operands' order, which compilers may swap. */
static inline double seg__fsum_nan(double s)
{
    return s == s ? s : seg__fval(0x7ff8000000000000ull);
}

/* The FLOAT sum of n values as the statistics define it (four lanes). */
static inline double seg_fsum(const double *f, size_t n)
{
    if (n < 4) {
        double s = n ? f[0] : 0.0;
        for (size_t k = 1; k < n; k++) s += f[k];
        return n > 1 ? seg__fsum_nan(s) : s;
    }
    double l0 = f[0], l1 = f[1], l2 = f[2], l3 = f[3];
    size_t k = 4;
    for (; k + 4 <= n; k += 4) {
        l0 += f[k];
        l1 += f[k + 1];
        l2 += f[k + 2];
        l3 += f[k + 3];
    }
    if (k < n) l0 += f[k];
    if (k + 1 < n) l1 += f[k + 1];
    if (k + 2 < n) l2 += f[k + 2];
    return seg__fsum_nan((l0 + l1) + (l2 + l3));
}

/* Statistics built a value at a time (writer, head chunks, check):
 * seg_acc_add the k-th value, seg_acc_stats for count values so far. */
typedef struct seg_stats_acc {
    seg_stats s;          /* FLOAT sum: left to right (files without FSUM4) */
    double lane[4];       /* FLOAT: the four lanes of seg_fsum */
} seg_stats_acc;

static inline void seg_acc_add(seg_stats_acc *a, int type, size_t k, seg_num v)
{
    seg_stats_add(&a->s, type, k, v);
    if (type == 1) a->lane[k & 3] = k < 4 ? v.f : a->lane[k & 3] + v.f;
}

/* fsum4 0: the left-to-right FLOAT sum (files without SEG_HDR_FLAG_FSUM4). */
static inline seg_stats seg_acc_stats(const seg_stats_acc *a, int type, size_t count, int fsum4)
{
    seg_stats s = a->s;
    if (type == 1 && count == 2) s.sum.f = seg__fsum_nan(s.sum.f); /* as the index decodes it */
    if (type == 1 && fsum4 && count > 1) {
        const double *l = a->lane;
        s.sum.f = seg__fsum_nan(count == 2 ? l[0] + l[1] : count == 3 ? (l[0] + l[1]) + l[2] : (l[0] + l[1]) + (l[2] + l[3]));
    }
    return s;
}

static inline size_t seg__put_num(unsigned char *p, int type, seg_num v)
{
    if (type == 1) return seg__put_uvarint(p, __builtin_bswap64(v.u));
    if (type == 2) return seg__put_uvarint(p, seg__zz(v.i));
    return seg__put_uvarint(p, v.u);
}
static inline int seg__get_num(const unsigned char *p, size_t len, size_t *pos, int type, seg_num *out)
{
    uint64_t x;
    if (seg__get_uvarint(p, len, pos, &x)) return -1;
    if (type == 1) out->u = __builtin_bswap64(x);
    else if (type == 2) out->i = seg__unzz(x);
    else out->u = x;
    return 0;
}

/* Encode the statistics of a block of `count` points into p (room for
 * SEG_STATS_MAX bytes); not_good: some point's quality is not Good.
 * Returns the bytes written. */
#define SEG_STATS_MAX 51
static inline size_t seg_stats_encode(const seg_stats *s, int type, uint64_t count, int not_good, int pages,
                                      unsigned char *p)
{
    size_t n = 0;
    if (type == 4) {
        n += seg__put_uvarint(p, s->sum.u);
        p[n++] = (unsigned char)((s->first.u ? 1 : 0) | (s->last.u ? 2 : 0) | (not_good ? 4 : 0) |
                                 (pages ? SEG_BOOL_PAGES : 0));
        return n;
    }
    if (type < 1 || type > 3) return 0;
    unsigned mask = (not_good ? SEG_MASK_NOT_GOOD : 0) | (pages ? SEG_MASK_PAGES : 0);
    if (s->min.u == s->first.u) mask |= SEG_MASK_MIN_FIRST;
    else if (s->min.u == s->last.u) mask |= SEG_MASK_MIN_LAST;
    if (s->max.u == s->first.u) mask |= SEG_MASK_MAX_FIRST;
    else if (s->max.u == s->last.u) mask |= SEG_MASK_MAX_LAST;
    p[n++] = (unsigned char)mask;
    n += seg__put_num(p + n, type, s->first);
    if (count > 1) n += seg__put_num(p + n, type, s->last);
    if (!(mask & (SEG_MASK_MIN_FIRST | SEG_MASK_MIN_LAST))) n += seg__put_num(p + n, type, s->min);
    if (!(mask & (SEG_MASK_MAX_FIRST | SEG_MASK_MAX_LAST))) n += seg__put_num(p + n, type, s->max);
    if (count > 2) n += seg__put_num(p + n, type, s->sum);
    return n;
}

/* Decode statistics at p[*pos..len): 0, or -1 when malformed. *not_good
 * (STRING: 1, as it is not recorded) and *pages are written. */
static inline int seg_stats_decode(const unsigned char *p, size_t len, size_t *pos, int type, uint64_t count,
                                   seg_stats *out, int *not_good, int *pages)
{
    seg_stats s;
    memset(&s, 0, sizeof s);
    *pages = 0;
    if (type == 5) { *out = s; *not_good = 1; return 0; }
    if (type == 4) {
        if (seg__get_uvarint(p, len, pos, &s.sum.u) || s.sum.u > count || *pos >= len) return -1;
        unsigned b = p[(*pos)++];
        if (b > 15) return -1;
        s.first.u = b & 1;
        s.last.u = (b >> 1) & 1;
        *not_good = (b >> 2) & 1;
        *pages = (b >> 3) & 1;
        s.min.u = s.sum.u == count ? 1 : 0;
        s.max.u = s.sum.u ? 1 : 0;
        if (count == 1 && (s.first.u != s.sum.u || s.last.u != s.sum.u)) return -1;
        *out = s;
        return 0;
    }
    if (type < 1 || type > 3 || *pos >= len) return -1;
    unsigned mask = p[(*pos)++];
    if (mask & ~0x3fu) return -1;
    *not_good = (mask & SEG_MASK_NOT_GOOD) != 0;
    *pages = (mask & SEG_MASK_PAGES) != 0;
    if ((mask & SEG_MASK_MIN_FIRST) && (mask & SEG_MASK_MIN_LAST)) return -1;
    if ((mask & SEG_MASK_MAX_FIRST) && (mask & SEG_MASK_MAX_LAST)) return -1;
    if (seg__get_num(p, len, pos, type, &s.first)) return -1;
    s.last = s.first;
    if (count > 1 && seg__get_num(p, len, pos, type, &s.last)) return -1;
    if (mask & SEG_MASK_MIN_FIRST) s.min = s.first;
    else if (mask & SEG_MASK_MIN_LAST) s.min = s.last;
    else if (seg__get_num(p, len, pos, type, &s.min)) return -1;
    if (mask & SEG_MASK_MAX_FIRST) s.max = s.first;
    else if (mask & SEG_MASK_MAX_LAST) s.max = s.last;
    else if (seg__get_num(p, len, pos, type, &s.max)) return -1;
    if (count > 2) {
        if (seg__get_num(p, len, pos, type, &s.sum)) return -1;
    } else {
        s.sum = s.first;
        if (count == 2) {
            if (type == 1) s.sum.f = seg__fsum_nan(s.first.f + s.last.f);
            else s.sum.u = s.first.u + s.last.u;
        }
    }
    *out = s;
    return 0;
}

#endif
