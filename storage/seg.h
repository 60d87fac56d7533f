/*
 * storage/seg.h — immutable segment files: the writer (flush, compaction),
 * the reader (queries), and the verifier (`strata check`). Format:
 * storage/seg_format.h. Blocks read through storage/bcache.h.
 *
 * INVARIANTS
 *  1. A file named NNNNNNNN.seg is complete: header, every block, index and
 *     footer were written and fsynced before the rename from
 *     NNNNNNNN.seg.tmp, and the directory was fsynced after it. Nothing
 *     ever writes to a .seg file again; compaction writes new files.
 *  2. Columns are stored in (series id, field id) order, one column's
 *     blocks contiguous and in time order, timestamps strictly increasing
 *     within a column (no duplicates: the caller resolved last-write-wins).
 *  3. Every block has a CRC32C; so have the index, the footer and the
 *     header. A reader never serves bytes whose CRC did not match, and
 *     checks every decoded block against its index entry (ids, count, time
 *     range, timestamps strictly increasing inside it).
 *  4. A seg handle is refcounted; the fd stays open until the last unref,
 *     so compaction may unlink a file that queries still read. Decoded
 *     blocks (seg_block) are refcounted separately and outlive the seg.
 *  5. The index (column and block table with statistics) is held in
 *     memory while the file is open: finding a column is a binary search,
 *     planning over blocks reads no block.
 *
 * CRASH STORY
 *  - A crash before the rename leaves NNNNNNNN.seg.tmp (any prefix of it):
 *    recovery deletes *.seg.tmp; the points are still in the WAL, which is
 *    checkpointed only after seg_writer_finish returned 0.
 *  - A crash after the rename but before the directory fsync may leave the
 *    file or not; either way its content is complete (fsynced first), and
 *    since the WAL was not yet checkpointed, replay writes the points
 *    again (the same data; last write wins makes it harmless). The flush
 *    code must record the file (catalog/manifest) only after finish.
 *  - seg_writer_finish failing (ENOSPC, EIO, a failed fsync) removes the
 *    temp file, and the final name if the rename had happened (best
 *    effort): no half-visible file. Per DESIGN.md a failed fsync makes the
 *    storage read-only; the caller decides that, never retries the fsync.
 *
 * THREADS. A writer belongs to one thread. A seg (after seg_open) is
 * read-only and may be used from any number of threads (pread only);
 * seg_ref/seg_unref are atomic.
 *
 * ERRORS. 0 or a negative code of common/err.h; outputs written only on
 * success. ST_ECORRUPT: a CRC or a structure check failed; one ERROR log
 * line names the file, what and where (column and offset for blocks).
 */
#ifndef STOR_SEG_H
#define STOR_SEG_H

#include <stddef.h>
#include <stdint.h>

#include "common/point.h"
#include "storage/bcache.h"
#include "storage/io.h"
#include "storage/seg_format.h"

/* ---------------- writer ---------------- */

/* Points per block. 1024 by measurement (tools/bench/bench_seg, gen-cpu
 * data, zstd 3): bytes/value full precision / 2 decimals 6.48 / 1.30 at
 * 256, 6.21 / 1.08 at 1024, 6.15 / 1.02 at 4096; a random one-block read
 * costs 2-5 us at 1024 and 8-24 us at 4096. 1024 keeps within 1-5% of the
 * larger block's size at a quarter of its read cost, and one block of a
 * sparse tag per file still holds up to 1024 points. */
#define SEG_DEFAULT_BLOCK_POINTS 1024u
#define SEG_DEFAULT_ZSTD_LEVEL 3

typedef struct seg_writer_opts {
    uint32_t block_points; /* 0 = SEG_DEFAULT_BLOCK_POINTS; at most SEG_MAX_BLOCK_POINTS */
    int zstd_level;        /* 0 = no zstd (ENC_ZSTD_NONE), 1..19; blocks and index */
    int64_t created_ns;    /* 0 = now */
    int no_pages;          /* 1: no page tables (seg_format.h). The flush of the head
                              sets it: its small blocks rarely earn one, and trying
                              costs the ingest; compaction writes them */
} seg_writer_opts;

typedef struct seg_writer seg_writer;

typedef struct seg_info {
    uint64_t file_id;
    uint64_t file_bytes;
    uint64_t columns, blocks, points;
    int64_t min_ts, max_ts; /* 0, 0 for an empty file */
    uint64_t index_bytes;   /* stored */
} seg_info;

/* Starts dir/NNNNNNNN.seg.tmp (created or truncated). opts may be NULL
 * (defaults). io and dir are borrowed (io must outlive the writer; dir is
 * copied). 0, ST_EINVAL, ST_ENOMEM, I/O errors. */
int seg_writer_open(const stor_io *io, const char *dir, uint64_t file_id, const seg_writer_opts *opts,
                    seg_writer **out);

/*
 * Append n points of one column. Columns in (series_id, field_id) order,
 * strictly increasing; the same column again continues it (its timestamps
 * must follow the ones given before). ts strictly increasing, within
 * [ST_TIME_MIN_NS, ST_TIME_MAX_NS]; vals[i].type == type; type FLOAT..
 * STRING; quality may be NULL (all Good). String bytes are copied.
 * ST_EINVAL (the writer is unchanged), or ST_ENOMEM, ST_ETOOLARGE or an I/O
 * error: the writer is then failed (every later call returns the error;
 * seg_writer_abort it, or seg_writer_finish, which cleans up and fails).
 */
int seg_writer_add(seg_writer *w, uint64_t series_id, uint64_t field_id, st_type type, size_t n,
                   const int64_t *ts, const st_value *vals, const uint32_t *quality);

/* Writes index, footer and header, fsyncs, renames to NNNNNNNN.seg, fsyncs
 * the directory, and frees the writer (also on error: then no file is left).
 * info may be NULL. An empty writer (no points) writes a valid empty file. */
int seg_writer_finish(seg_writer *w, seg_info *info);

/* Removes the temp file and frees the writer. NULL ok. */
void seg_writer_abort(seg_writer *w);

/* "dir/NNNNNNNN.seg" (tmp: ".seg.tmp") into out; ST_TOOLARGE if it does not fit. */
int seg_path(const char *dir, uint64_t file_id, int tmp, char *out, size_t out_len);

/* ---------------- reader ---------------- */

typedef struct seg seg;

/* A block's index entry (no decoding needed). Read-only. */
typedef struct seg_block_info {
    uint64_t offset;      /* in the file */
    uint32_t len;         /* bytes */
    uint32_t count;       /* points */
    int64_t min_ts, max_ts;
    seg_stats stats;      /* as in seg_format.h; zero for STRING. Over every
                             point, whatever its quality */
    uint8_t not_all_good; /* 1: some point's quality is not Good (aggregates
                             that skip bad points must decode); STRING: 1 */
    uint8_t has_pages;    /* 1: the block has a page table (seg_block_pages) */
} seg_block_info;

/* A column of the file. Read-only; borrowed from the seg. */
typedef struct seg_column {
    uint64_t series_id, field_id;
    uint8_t type;                  /* st_type */
    uint32_t nblocks;
    const seg_block_info *blocks;  /* nblocks, time order */
    uint64_t count;                /* points in the file */
    int64_t last_ts;               /* == blocks[nblocks-1].max_ts */
    st_value last;                 /* the value at last_ts (strings borrow from the seg) */
} seg_column;

/* Opens and checks header, footer and index (CRCs, structure). cache may
 * be NULL (no caching). path is copied. 0, ST_ENOTFOUND, ST_ECORRUPT (a log
 * line says what), ST_ENOMEM, I/O errors. The result holds one reference. */
int  seg_open(const stor_io *io, const char *path, bcache *cache, seg **out);
void seg_ref(seg *s);
/* Drops a reference; the last one closes the file, drops its cached
 * blocks and frees it. NULL ok. */
void seg_unref(seg *s);

const seg_hdr *seg_header(const seg *s);
const char *seg_path_of(const seg *s);
uint64_t seg_file_size(const seg *s);
size_t seg_column_count(const seg *s);
/* The i-th column in (series, field) order; NULL past the end. */
const seg_column *seg_column_at(const seg *s, size_t i);
/* Binary search. 0 or ST_ENOTFOUND. */
int  seg_column_find(const seg *s, uint64_t series_id, uint64_t field_id, const seg_column **out);
/* The first block whose max_ts >= t (nblocks when none): start of a range scan. */
uint32_t seg_column_seek(const seg_column *col, int64_t t);
/* The last point of the column in this file ("value at or before t" for t
 * >= last_ts). String slices borrow from the seg. Always 0. */
int  seg_column_last(const seg *s, const seg_column *col, int64_t *ts_out, st_value *value_out);

/* A decoded block. Read-only to users; refcounted (seg_block_release). */
typedef struct seg_block {
    bcache_entry ce;        /* private: first member */
    uint8_t type;           /* st_type */
    uint32_t n;
    const int64_t *ts;      /* n */
    /* values by type: FLOAT f, INT i, UINT u, BOOL b (0/1), STRING s */
    const double *f;
    const int64_t *i;
    const uint64_t *u;
    const uint8_t *b;
    const st_slice *s;      /* borrow from the block */
    const uint32_t *quality; /* n, or NULL when all Good */
} seg_block;

/* The value of point k as an st_value (strings borrow from the block). */
static inline st_value seg_block_value(const seg_block *b, uint32_t k)
{
    st_value v;
    memset(&v, 0, sizeof v);
    v.type = b->type;
    switch (b->type) {
    case ST_TYPE_FLOAT: v.v.f = b->f[k]; break;
    case ST_TYPE_INT: v.v.i = b->i[k]; break;
    case ST_TYPE_UINT: v.v.u = b->u[k]; break;
    case ST_TYPE_BOOL: v.v.b = b->b[k]; break;
    default: v.v.s = b->s[k]; break;
    }
    return v;
}
static inline uint32_t seg_block_quality(const seg_block *b, uint32_t k)
{
    return b->quality ? b->quality[k] : ST_QUALITY_GOOD;
}

/*
 * Block block_index of col (col from this seg): from the cache, or pread,
 * CRC check, decode, check, insert. The result holds a reference: release
 * it with seg_block_release (it stays valid after seg_unref).
 * 0, ST_EINVAL (index out of range), ST_ECORRUPT (one ERROR log line with
 * file, series, field, offset, points and time range lost, the first time
 * only: the block is remembered as bad while the file is open), ST_ENOMEM,
 * I/O errors (ST_EIO: the caller decides whether storage turns read-only).
 */
int  seg_block_read(seg *s, const seg_column *col, uint32_t block_index, const seg_block **out);
/* The same, but a block not in the cache is not put there (compaction
 * reads every block once: it would push the queries' blocks out). */
int  seg_block_read_once(seg *s, const seg_column *col, uint32_t block_index, const seg_block **out);
void seg_block_release(const seg_block *b); /* NULL ok */

/* A block's page table (seg_format.h, PAGE TABLE), decoded. Read-only;
 * refcounted like a block (seg_pages_release). */
typedef struct seg_pages {
    bcache_entry ce;        /* private: first member */
    uint8_t grid;           /* 1..SEG_PAGE_GRIDS */
    uint32_t n;
    const seg_page *pages;  /* n, time order */
} seg_pages;

/* The page table of block block_index (its index entry has has_pages),
 * through the cache under its own key: reading it costs the block's bytes
 * and CRC but decodes no value. 0, ST_EINVAL (no page table), ST_ECORRUPT
 * (logged; the block is marked bad like seg_block_read's), ST_ENOMEM, I/O
 * errors. */
int  seg_block_pages(seg *s, const seg_column *col, uint32_t block_index, const seg_pages **out);
void seg_pages_release(const seg_pages *p); /* NULL ok */

/* A point found by seg_column_value_at. */
typedef struct seg_point {
    int64_t ts;
    st_value value;          /* strings borrow from hold (or from the seg) */
    uint32_t quality;
    const seg_block *hold;   /* a block reference to release, or NULL */
} seg_point;

/*
 * "The value at or before t" in this file: the column's last point with
 * ts <= t. Answered from the index (no block read) when that point is a
 * block's last one and the block is all Good (not STRING); else one block
 * is read. Release out->hold with seg_block_release when done.
 * 0, ST_ENOTFOUND (every point of the column is after t), or the errors of
 * seg_block_read.
 */
int seg_column_value_at(seg *s, const seg_column *col, int64_t t, seg_point *out);

/* ---------------- verify (strata check) ---------------- */

/* One problem: what (a sentence), series/field/offset where known (else 0). */
typedef void (*seg_verify_cb)(void *arg, const char *path, uint64_t series_id, uint64_t field_id,
                              uint64_t offset, int err, const char *what);

typedef struct seg_verify_result {
    uint64_t columns, blocks, points;
    uint64_t bad_blocks;
} seg_verify_result;

/* Checks every CRC (header, footer, index, each block) and that every block
 * decodes to its count and matches its index entry (stats included).
 * Calls cb per problem (cb may be NULL). result may be NULL.
 * 0 when clean, ST_ECORRUPT when anything was reported, other codes when
 * the file could not be read at all (also reported through cb). */
int seg_verify(const stor_io *io, const char *path, seg_verify_cb cb, void *arg, seg_verify_result *result);

#endif
