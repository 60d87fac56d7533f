/*
 * storage/seg_write.c — the segment writer (storage/seg.h): points of
 * columns in (series, field) order -> blocks of block_points points ->
 * one sequential temp file, then index, footer, header, fsync, rename,
 * directory fsync. Owned by one thread (flush or compaction).
 *
 * Memory: one block of pending points (typed arrays, string bytes copied),
 * encode scratch buffers, a ~1 MiB output buffer, and the index entries of
 * every block written so far (about 80 bytes per block), encoded at finish
 * once the file's min time is known. No allocation per value.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <zstd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "storage/enc.h"
#include "storage/seg.h"

/* Blocks are buffered and written in pieces of about this size. A flush
 * writes while both heads are held (the process's memory peak), so the
 * buffer stays small: 256 KiB (its capacity then 512 KiB, where 1 MiB
 * pieces held 2 MiB). */
#define SEG_OUT_FLUSH_BYTES (256u << 10)
/* A string block ends early past this many bytes of strings. */
#define SEG_STR_BLOCK_BYTES (4u << 20)
/* A single string longer than this is refused (keeps blocks < SEG_MAX_BLOCK_BYTES). */
#define SEG_MAX_STRING_BYTES (64u << 20)

typedef struct seg_wcol {
    uint64_t series, field;
    uint8_t type;
    size_t first_block, nblocks;
    size_t last_off, last_len; /* STRING: last value in w->lastbuf */
} seg_wcol;

struct seg_writer {
    const stor_io *io;            /* borrowed */
    char *tmp_path, *final_path, *dir; /* owned */
    int fd;
    uint64_t file_id;
    uint32_t block_points;
    int zstd_level;
    int no_pages;
    int64_t created_ns;
    int err;                      /* sticky I/O error */

    st_buf out;                   /* owned: bytes not yet written */
    uint64_t out_off;             /* file offset of out.ptr[0] */

    /* current column */
    int have_col;
    uint64_t series, field;
    uint8_t type;
    int64_t col_last_ts;
    int col_has_points;

    /* pending points of the current column (capacity block_points) */
    size_t np;
    int64_t *pts;                 /* owned */
    seg_num *pval;                /* owned: FLOAT/INT/UINT */
    uint8_t *pbool;               /* owned */
    uint32_t *pq;                 /* owned */
    uint64_t *pstr;               /* owned: (offset, len) pairs into strbytes */
    st_slice *slices;             /* owned: encode scratch */
    st_buf strbytes;              /* owned */
    int pq_any;

    st_buf blk, enc_ts, enc_val, enc_q; /* owned scratch */
    st_buf enc_pg, enc_tmp;       /* owned scratch: the page table, one array of it */
    enc_zctx zctx;                /* owned: one zstd context for every block */
    size_t pg_cap;                /* pages a block can have */
    uint64_t *pg_cnt;             /* owned, pg_cap each: page counts, */
    int64_t *pg_min, *pg_max;     /*   first and last times, */
    seg_num *pg_st[5];            /*   first, last, min, max, sum */
    uint8_t *pg_b[2];             /*   BOOL first, last */
    st_buf lastbuf;               /* owned: last string of each string column */
    st_buf curlast;               /* owned: last string of the current column */

    seg_wcol *cols;               /* owned */
    size_t ncols, cols_cap;
    seg_block_info *blocks;       /* owned */
    size_t nblocks, blocks_cap;
    uint64_t npoints;
    int64_t min_ts, max_ts;
};

int seg_path(const char *dir, uint64_t file_id, int tmp, char *out, size_t out_len)
{
    int n = snprintf(out, out_len, "%s/%08" PRIx64 "%s", dir, file_id, tmp ? SEG_TMP_SUFFIX : SEG_SUFFIX);
    if (n < 0 || (size_t)n >= out_len) return ST_ETOOLARGE;
    return 0;
}

static char *path_dup(const char *dir, uint64_t file_id, int tmp)
{
    size_t cap = strlen(dir) + 40;
    char *p = st_malloc(cap);
    if (p && seg_path(dir, file_id, tmp, p, cap) != 0) { st_free(p); p = NULL; }
    return p;
}

static void writer_free(seg_writer *w)
{
    st_free(w->tmp_path);
    st_free(w->final_path);
    st_free(w->dir);
    st_buf_fini(&w->out);
    st_free(w->pts);
    st_free(w->pval);
    st_free(w->pbool);
    st_free(w->pq);
    st_free(w->pstr);
    st_free(w->slices);
    st_buf_fini(&w->strbytes);
    st_buf_fini(&w->blk);
    st_buf_fini(&w->enc_ts);
    st_buf_fini(&w->enc_val);
    st_buf_fini(&w->enc_q);
    st_buf_fini(&w->enc_pg);
    st_buf_fini(&w->enc_tmp);
    enc_zctx_fini(&w->zctx);
    st_free(w->pg_cnt);
    st_free(w->pg_min);
    st_free(w->pg_max);
    for (int k = 0; k < 5; k++) st_free(w->pg_st[k]);
    for (int k = 0; k < 2; k++) st_free(w->pg_b[k]);
    st_buf_fini(&w->lastbuf);
    st_buf_fini(&w->curlast);
    st_free(w->cols);
    st_free(w->blocks);
    st_free(w);
}

int seg_writer_open(const stor_io *io, const char *dir, uint64_t file_id, const seg_writer_opts *opts,
                    seg_writer **out)
{
    if (!io || !dir || !out) return ST_EINVAL;
    uint32_t bp = opts && opts->block_points ? opts->block_points : SEG_DEFAULT_BLOCK_POINTS;
    int zl = opts ? opts->zstd_level : SEG_DEFAULT_ZSTD_LEVEL;
    if (bp > SEG_MAX_BLOCK_POINTS || zl < 0 || zl > 19) return ST_EINVAL;
    seg_writer *w = st_calloc(1, sizeof *w);
    if (!w) return ST_ENOMEM;
    w->io = io;
    w->fd = -1;
    w->file_id = file_id;
    w->block_points = bp;
    w->zstd_level = zl;
    w->no_pages = opts ? opts->no_pages : 0;
    w->created_ns = opts ? opts->created_ns : 0;
    if (!w->created_ns) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        w->created_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    }
    st_buf_init(&w->out);
    st_buf_init(&w->strbytes);
    st_buf_init(&w->blk);
    st_buf_init(&w->enc_ts);
    st_buf_init(&w->enc_val);
    st_buf_init(&w->enc_q);
    st_buf_init(&w->enc_pg);
    st_buf_init(&w->enc_tmp);
    enc_zctx_init(&w->zctx);
    st_buf_init(&w->lastbuf);
    st_buf_init(&w->curlast);
    w->out_off = SEG_HDR_SIZE;
    w->tmp_path = path_dup(dir, file_id, 1);
    w->final_path = path_dup(dir, file_id, 0);
    w->dir = st_strdup(dir);
    w->pts = st_malloc(bp * sizeof *w->pts);
    w->pval = st_malloc(bp * sizeof *w->pval);
    w->pbool = st_malloc(bp);
    w->pq = st_malloc(bp * sizeof *w->pq);
    w->pstr = st_malloc(2 * bp * sizeof *w->pstr);
    w->slices = st_malloc(bp * sizeof *w->slices);
    /* pages average SEG_PAGE_MIN_POINTS points per spanned cell */
    w->pg_cap = bp / SEG_PAGE_MIN_POINTS + 1;
    w->pg_cnt = st_malloc(w->pg_cap * sizeof *w->pg_cnt);
    w->pg_min = st_malloc(w->pg_cap * sizeof *w->pg_min);
    w->pg_max = st_malloc(w->pg_cap * sizeof *w->pg_max);
    int pg_ok = w->pg_cnt && w->pg_min && w->pg_max;
    for (int k = 0; k < 5; k++) pg_ok = (w->pg_st[k] = st_malloc(w->pg_cap * sizeof(seg_num))) && pg_ok;
    for (int k = 0; k < 2; k++) pg_ok = (w->pg_b[k] = st_malloc(w->pg_cap)) && pg_ok;
    if (!w->tmp_path || !w->final_path || !w->dir || !w->pts || !w->pval || !w->pbool || !w->pq || !w->pstr ||
        !w->slices || !pg_ok) {
        writer_free(w);
        return ST_ENOMEM;
    }
    /* O_RDWR: the header is rewritten at offset 0 at finish, and the
     * simulator reads what a pwrite overwrites. */
    int rc = io->open(io->ctx, w->tmp_path, O_RDWR | O_CREAT | O_TRUNC, 0644, &w->fd);
    if (rc) {
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* Write out the buffered bytes (or those beyond the flush threshold). */
static int out_flush(seg_writer *w, int all)
{
    if (w->err) return w->err;
    if (!w->out.len || (!all && w->out.len < SEG_OUT_FLUSH_BYTES)) return 0;
    int rc = w->io->pwrite(w->io->ctx, w->fd, w->out.ptr, w->out.len, w->out_off);
    if (rc) {
        ST_ERROR("seg", "write failed file=%s offset=%" PRIu64 " err=%s", w->tmp_path, w->out_off, st_errname(rc));
        w->err = rc;
        return rc;
    }
    w->out_off += w->out.len;
    st_buf_clear(&w->out);
    return 0;
}

static enc_type enc_type_of(uint8_t t)
{
    switch (t) {
    case ST_TYPE_FLOAT: return ENC_TYPE_FLOAT;
    case ST_TYPE_INT: return ENC_TYPE_INT;
    case ST_TYPE_UINT: return ENC_TYPE_UINT;
    case ST_TYPE_BOOL: return ENC_TYPE_BOOL;
    default: return ENC_TYPE_STRING;
    }
}

/* One array of the page table: uvarint length, then the encoding. */
static int put_page_array(seg_writer *w, enc_type et, const void *vals, size_t n)
{
    st_buf_clear(&w->enc_tmp);
    int rc = enc_block_encode_z(et, -1, vals, n, &w->enc_tmp, w->zstd_level, &w->zctx);
    if (!rc) rc = st_buf_put_uvarint(&w->enc_pg, w->enc_tmp.len);
    if (!rc) rc = st_buf_append(&w->enc_pg, w->enc_tmp.ptr, w->enc_tmp.len);
    return rc;
}

/* The pending block's page table on grid `grid` (storage/seg_format.h,
 * PAGE TABLE) into w->enc_pg. */
static int encode_page_table(seg_writer *w, uint8_t t, unsigned grid)
{
    st_buf_clear(&w->enc_pg);
    size_t n = w->np, np = 0, start = 0;
    int64_t g = seg_page_grid_ns(grid);
    int64_t cell = seg_page_cell(w->pts[0], g);
    for (size_t k = 1; k <= n; k++) {
        int64_t c = k < n ? seg_page_cell(w->pts[k], g) : cell;
        if (k < n && c == cell) continue;
        if (np == w->pg_cap) return ST_ECORRUPT; /* cannot happen: cells average >= SEG_PAGE_MIN_POINTS */
        seg_stats_acc acc;
        memset(&acc, 0, sizeof acc);
        for (size_t j = start; j < k; j++) {
            seg_num v;
            if (t == ST_TYPE_BOOL) v.u = w->pbool[j];
            else v = w->pval[j];
            seg_acc_add(&acc, t, j - start, v);
        }
        seg_stats st = seg_acc_stats(&acc, t, k - start, 1);
        w->pg_cnt[np] = k - start;
        w->pg_min[np] = w->pts[start];
        w->pg_max[np] = w->pts[k - 1];
        w->pg_st[0][np] = st.first;
        w->pg_st[1][np] = st.last;
        w->pg_st[2][np] = st.min;
        w->pg_st[3][np] = st.max;
        w->pg_st[4][np] = st.sum;
        w->pg_b[0][np] = (uint8_t)(st.first.u != 0);
        w->pg_b[1][np] = (uint8_t)(st.last.u != 0);
        np++;
        start = k;
        cell = c;
    }
    unsigned char gb = (unsigned char)grid;
    int rc = st_buf_append(&w->enc_pg, &gb, 1);
    if (!rc) rc = st_buf_put_uvarint(&w->enc_pg, np);
    if (!rc) rc = put_page_array(w, ENC_TYPE_UINT, w->pg_cnt, np);
    if (!rc) rc = put_page_array(w, ENC_TYPE_TIME, w->pg_min, np);
    if (!rc) rc = put_page_array(w, ENC_TYPE_TIME, w->pg_max, np);
    if (t == ST_TYPE_BOOL) {
        for (size_t k = 0; k < np; k++) w->pg_cnt[k] = w->pg_st[4][k].u; /* ntrue: counts are written */
        if (!rc) rc = put_page_array(w, ENC_TYPE_UINT, w->pg_cnt, np);
        for (int k = 0; k < 2 && !rc; k++) rc = put_page_array(w, ENC_TYPE_BOOL, w->pg_b[k], np);
    } else {
        for (int k = 0; k < 5 && !rc; k++) rc = put_page_array(w, enc_type_of(t), w->pg_st[k], np);
    }
    return rc;
}

/* The pending block's page table into w->enc_pg, left empty when the
 * block gets none: the finest grid whose cells average SEG_PAGE_MIN_POINTS
 * points and whose table stays within SEG_PAGE_MAX_SHARE of the value bytes
 * and SEG_PAGE_MAX_BYTES_PER_POINT bytes a point (full-precision values
 * make a page table dear: they get coarser cells or none). */
static int encode_pages(seg_writer *w, uint8_t t)
{
    st_buf_clear(&w->enc_pg);
    size_t n = w->np;
    if (w->no_pages || t == ST_TYPE_STRING || n < 2 * SEG_PAGE_MIN_POINTS) return 0;
    for (unsigned k = 1; k <= SEG_PAGE_GRIDS; k++) {
        int64_t wd = seg_page_grid_ns(k);
        uint64_t cells = (uint64_t)(seg_page_cell(w->pts[n - 1], wd) - seg_page_cell(w->pts[0], wd)) + 1;
        if (cells < 2) break;
        if (n / cells < SEG_PAGE_MIN_POINTS) continue;
        int rc = encode_page_table(w, t, k);
        if (rc) return rc;
        if (w->enc_pg.len * SEG_PAGE_MAX_SHARE <= w->enc_val.len &&
            (double)w->enc_pg.len <= SEG_PAGE_MAX_BYTES_PER_POINT * (double)n)
            return 0;
    }
    st_buf_clear(&w->enc_pg);
    return 0;
}

/* Encode and append the pending points as one block. */
static int flush_block(seg_writer *w)
{
    if (!w->np) return 0;
    if (w->err) return w->err;
    int rc = st_grow(&w->blocks, &w->blocks_cap, w->nblocks + 1, sizeof *w->blocks, 64);
    if (rc) return rc;
    size_t n = w->np;
    uint8_t t = w->type;
    seg_block_info bi;
    memset(&bi, 0, sizeof bi);
    bi.count = (uint32_t)n;
    bi.not_all_good = (uint8_t)(w->pq_any || t == ST_TYPE_STRING);
    bi.min_ts = w->pts[0];
    bi.max_ts = w->pts[n - 1];
    const void *vals;
    seg_stats_acc acc;
    memset(&acc, 0, sizeof acc);
    if (t == ST_TYPE_BOOL) {
        for (size_t k = 0; k < n; k++) { seg_num v; v.u = w->pbool[k]; seg_acc_add(&acc, t, k, v); }
        vals = w->pbool;
    } else if (t == ST_TYPE_STRING) {
        for (size_t k = 0; k < n; k++) {
            w->slices[k].ptr = w->strbytes.ptr ? w->strbytes.ptr + w->pstr[2 * k] : "";
            w->slices[k].len = (size_t)w->pstr[2 * k + 1];
        }
        vals = w->slices;
    } else {
        for (size_t k = 0; k < n; k++) seg_acc_add(&acc, t, k, w->pval[k]);
        vals = w->pval;
    }
    bi.stats = seg_acc_stats(&acc, t, n, 1);
    st_buf_clear(&w->enc_ts);
    st_buf_clear(&w->enc_val);
    st_buf_clear(&w->enc_q);
    rc = enc_block_encode_z(ENC_TYPE_TIME, -1, w->pts, n, &w->enc_ts, w->zstd_level, &w->zctx);
    if (!rc) rc = enc_block_encode_z(enc_type_of(t), -1, vals, n, &w->enc_val, w->zstd_level, &w->zctx);
    if (!rc && w->pq_any) rc = enc_block_encode_z(ENC_TYPE_QUALITY, -1, w->pq, n, &w->enc_q, w->zstd_level, &w->zctx);
    if (!rc) rc = encode_pages(w, t);
    if (rc) return rc;
    bi.has_pages = w->enc_pg.len > 0;
    if (t == ST_TYPE_STRING) {
        st_buf_clear(&w->curlast);
        rc = st_buf_append(&w->curlast, w->slices[n - 1].ptr, w->slices[n - 1].len);
        if (rc) return rc;
    }

    unsigned char h[SEG_BLOCK_FIXED + 80];
    size_t hl = SEG_BLOCK_FIXED;
    h[4] = SEG_BLOCK_TAG;
    h[5] = t;
    h[6] = (unsigned char)((w->pq_any ? SEG_BLOCK_FLAG_QUALITY : 0) | (bi.has_pages ? SEG_BLOCK_FLAG_PAGES : 0));
    hl += seg__put_uvarint(h + hl, w->series);
    hl += seg__put_uvarint(h + hl, w->field);
    hl += seg__put_uvarint(h + hl, n);
    hl += seg__put_uvarint(h + hl, seg__zz(bi.min_ts));
    hl += seg__put_uvarint(h + hl, (uint64_t)bi.max_ts - (uint64_t)bi.min_ts);
    hl += seg__put_uvarint(h + hl, w->enc_ts.len);
    hl += seg__put_uvarint(h + hl, w->enc_val.len);
    if (w->pq_any) hl += seg__put_uvarint(h + hl, w->enc_q.len);
    if (bi.has_pages) hl += seg__put_uvarint(h + hl, w->enc_pg.len);
    uint64_t total = hl + w->enc_ts.len + w->enc_val.len + w->enc_q.len + w->enc_pg.len;
    if (total > SEG_MAX_BLOCK_BYTES) return ST_ETOOLARGE;
    uint32_t crc = st_crc32c(0, h + 4, hl - 4);
    crc = st_crc32c(crc, w->enc_ts.ptr, w->enc_ts.len);
    crc = st_crc32c(crc, w->enc_val.ptr, w->enc_val.len);
    crc = st_crc32c(crc, w->enc_q.ptr, w->enc_q.len);
    crc = st_crc32c(crc, w->enc_pg.ptr, w->enc_pg.len);
    seg__put32(h, crc);
    bi.offset = w->out_off + w->out.len;
    bi.len = (uint32_t)total;
    rc = st_buf_reserve(&w->out, total);
    if (rc) return rc;
    st_buf_append(&w->out, h, hl);
    st_buf_append(&w->out, w->enc_ts.ptr, w->enc_ts.len);
    st_buf_append(&w->out, w->enc_val.ptr, w->enc_val.len);
    st_buf_append(&w->out, w->enc_q.ptr, w->enc_q.len);
    st_buf_append(&w->out, w->enc_pg.ptr, w->enc_pg.len);

    w->blocks[w->nblocks++] = bi;
    w->cols[w->ncols - 1].nblocks++;
    if (w->npoints == 0 || bi.min_ts < w->min_ts) w->min_ts = bi.min_ts;
    if (w->npoints == 0 || bi.max_ts > w->max_ts) w->max_ts = bi.max_ts;
    w->npoints += n;
    w->np = 0;
    w->pq_any = 0;
    st_buf_clear(&w->strbytes);
    return out_flush(w, 0);
}

/* Finish the current column: its last block, its last string. */
static int close_column(seg_writer *w)
{
    if (!w->have_col) return 0;
    int rc = flush_block(w);
    if (rc) return rc;
    seg_wcol *c = &w->cols[w->ncols - 1];
    if (c->type == ST_TYPE_STRING) {
        c->last_off = w->lastbuf.len;
        c->last_len = w->curlast.len;
        rc = st_buf_append(&w->lastbuf, w->curlast.ptr ? w->curlast.ptr : "", w->curlast.len);
        if (rc) return rc;
    }
    w->have_col = 0;
    return 0;
}

static int writer_add(seg_writer *w, uint64_t series_id, uint64_t field_id, st_type type, size_t n,
                      const int64_t *ts, const st_value *vals, const uint32_t *quality);

int seg_writer_add(seg_writer *w, uint64_t series_id, uint64_t field_id, st_type type, size_t n,
                   const int64_t *ts, const st_value *vals, const uint32_t *quality)
{
    if (!w) return ST_EINVAL;
    int rc = writer_add(w, series_id, field_id, type, n, ts, vals, quality);
    /* Past validation, any failure leaves a half-added column: fail the writer. */
    if (rc && rc != ST_EINVAL && !w->err) w->err = rc;
    return rc;
}

static int writer_add(seg_writer *w, uint64_t series_id, uint64_t field_id, st_type type, size_t n,
                      const int64_t *ts, const st_value *vals, const uint32_t *quality)
{
    if (w->err) return w->err;
    if (type < ST_TYPE_FLOAT || type > ST_TYPE_STRING) return ST_EINVAL;
    if (n && (!ts || !vals)) return ST_EINVAL;
    int same = w->have_col && series_id == w->series && field_id == w->field;
    if (w->have_col && !same &&
        (series_id < w->series || (series_id == w->series && field_id < w->field)))
        return ST_EINVAL;
    if (!w->have_col && w->ncols) {
        const seg_wcol *lc = &w->cols[w->ncols - 1];
        if (series_id < lc->series || (series_id == lc->series && field_id <= lc->field)) return ST_EINVAL;
    }
    if (same && type != w->type) return ST_EINVAL;
    if (n == 0) return 0;
    /* Validate everything before changing anything. */
    int64_t prev = same && w->col_has_points ? w->col_last_ts : 0;
    int have_prev = same && w->col_has_points;
    for (size_t k = 0; k < n; k++) {
        if (ts[k] < ST_TIME_MIN_NS || ts[k] > ST_TIME_MAX_NS) return ST_EINVAL;
        if (have_prev && ts[k] <= prev) return ST_EINVAL;
        prev = ts[k];
        have_prev = 1;
        if (vals[k].type != (uint8_t)type) return ST_EINVAL;
        if (type == ST_TYPE_STRING && (vals[k].v.s.len > SEG_MAX_STRING_BYTES || (!vals[k].v.s.ptr && vals[k].v.s.len)))
            return ST_EINVAL;
    }
    int rc;
    if (!same) {
        rc = close_column(w);
        if (rc) return rc;
        rc = st_grow(&w->cols, &w->cols_cap, w->ncols + 1, sizeof *w->cols, 64);
        if (rc) return rc;
        seg_wcol *c = &w->cols[w->ncols++];
        memset(c, 0, sizeof *c);
        c->series = series_id;
        c->field = field_id;
        c->type = (uint8_t)type;
        c->first_block = w->nblocks;
        w->have_col = 1;
        w->series = series_id;
        w->field = field_id;
        w->type = (uint8_t)type;
        w->col_has_points = 0;
        st_buf_clear(&w->curlast);
    }
    for (size_t k = 0; k < n; k++) {
        if (w->np == w->block_points ||
            (type == ST_TYPE_STRING && w->np && w->strbytes.len + vals[k].v.s.len > SEG_STR_BLOCK_BYTES)) {
            rc = flush_block(w);
            if (rc) return rc;
        }
        size_t j = w->np;
        w->pts[j] = ts[k];
        switch (type) {
        case ST_TYPE_FLOAT: w->pval[j].f = vals[k].v.f; break;
        case ST_TYPE_INT: w->pval[j].i = vals[k].v.i; break;
        case ST_TYPE_UINT: w->pval[j].u = vals[k].v.u; break;
        case ST_TYPE_BOOL: w->pbool[j] = vals[k].v.b ? 1 : 0; break;
        default:
            w->pstr[2 * j] = w->strbytes.len;
            w->pstr[2 * j + 1] = vals[k].v.s.len;
            if (vals[k].v.s.len) {
                rc = st_buf_append(&w->strbytes, vals[k].v.s.ptr, vals[k].v.s.len);
                if (rc) return rc;
            }
            break;
        }
        uint32_t q = quality ? quality[k] : ST_QUALITY_GOOD;
        if (q != ST_QUALITY_GOOD && !w->pq_any) {
            memset(w->pq, 0, j * sizeof *w->pq);
            w->pq_any = 1;
        }
        w->pq[j] = q;
        w->np++;
        w->col_last_ts = ts[k];
        w->col_has_points = 1;
    }
    return 0;
}

/* The raw index (storage/seg_format.h) of everything written. */
static int encode_index(seg_writer *w, st_buf *idx)
{
    unsigned char tmp[SEG_STATS_MAX + 64];
    int rc = st_buf_put_uvarint(idx, w->ncols);
    uint64_t prev_end = SEG_HDR_SIZE;
    for (size_t c = 0; c < w->ncols && !rc; c++) {
        const seg_wcol *col = &w->cols[c];
        size_t n = 0;
        if (c == 0) {
            n += seg__put_uvarint(tmp + n, col->series);
            n += seg__put_uvarint(tmp + n, col->field);
        } else {
            const seg_wcol *p = &w->cols[c - 1];
            uint64_t sd = col->series - p->series;
            n += seg__put_uvarint(tmp + n, sd);
            n += seg__put_uvarint(tmp + n, sd ? col->field : col->field - p->field - 1);
        }
        tmp[n++] = col->type;
        n += seg__put_uvarint(tmp + n, col->nblocks);
        rc = st_buf_append(idx, tmp, n);
        int64_t prev_max = 0;
        for (size_t b = 0; b < col->nblocks && !rc; b++) {
            const seg_block_info *bi = &w->blocks[col->first_block + b];
            n = 0;
            n += seg__put_uvarint(tmp + n, bi->offset - prev_end);
            n += seg__put_uvarint(tmp + n, bi->len);
            n += seg__put_uvarint(tmp + n, bi->count);
            n += seg__put_uvarint(tmp + n, b == 0 ? (uint64_t)bi->min_ts - (uint64_t)w->min_ts
                                                  : (uint64_t)bi->min_ts - (uint64_t)prev_max - 1);
            n += seg__put_uvarint(tmp + n, (uint64_t)bi->max_ts - (uint64_t)bi->min_ts);
            n += seg_stats_encode(&bi->stats, col->type, bi->count, bi->not_all_good, bi->has_pages, tmp + n);
            rc = st_buf_append(idx, tmp, n);
            prev_end = bi->offset + bi->len;
            prev_max = bi->max_ts;
        }
        if (!rc && col->type == ST_TYPE_STRING) {
            rc = st_buf_put_uvarint(idx, col->last_len);
            if (!rc && col->last_len) rc = st_buf_append(idx, w->lastbuf.ptr + col->last_off, col->last_len);
        }
    }
    return rc;
}

static void writer_discard(seg_writer *w, int renamed)
{
    if (w->fd >= 0) {
        w->io->close(w->io->ctx, w->fd);
        w->fd = -1;
    }
    w->io->unlink(w->io->ctx, w->tmp_path);
    if (renamed) w->io->unlink(w->io->ctx, w->final_path);
    writer_free(w);
}

void seg_writer_abort(seg_writer *w)
{
    if (!w) return;
    writer_discard(w, 0);
}

int seg_writer_finish(seg_writer *w, seg_info *info)
{
    if (!w) return ST_EINVAL;
    int rc = w->err;
    int renamed = 0;
    st_buf idx, z;
    st_buf_init(&idx);
    st_buf_init(&z);
    if (!rc) rc = close_column(w);
    if (!rc) rc = encode_index(w, &idx);
    if (!rc && idx.len > SEG_MAX_INDEX_BYTES) rc = ST_ETOOLARGE;
    if (!rc && w->nblocks > UINT32_MAX) rc = ST_ETOOLARGE;
    seg_footer ft;
    memset(&ft, 0, sizeof ft);
    const char *stored = idx.ptr ? idx.ptr : "";
    size_t stored_len = idx.len;
    if (!rc && w->zstd_level > 0 && idx.len >= 64) {
        size_t cap = ZSTD_compressBound(idx.len);
        rc = st_buf_reserve(&z, cap);
        if (!rc) {
            size_t zl = ZSTD_compress(z.ptr, cap, idx.ptr, idx.len, w->zstd_level);
            if (!ZSTD_isError(zl) && zl + zl / 8 < idx.len) {
                z.len = zl;
                stored = z.ptr;
                stored_len = zl;
                ft.flags = SEG_INDEX_FLAG_ZSTD;
            }
        }
    }
    unsigned char fb[SEG_FOOTER_SIZE], hb[SEG_HDR_SIZE];
    if (!rc) {
        ft.index_offset = w->out_off + w->out.len;
        ft.index_len = (uint32_t)stored_len;
        ft.index_raw_len = (uint32_t)idx.len;
        ft.index_crc = st_crc32c(0, stored, stored_len);
        ft.column_count = (uint32_t)w->ncols;
        ft.block_count = (uint32_t)w->nblocks;
        seg_footer_encode(&ft, fb);
        rc = st_buf_append(&w->out, stored, stored_len);
        if (!rc) rc = st_buf_append(&w->out, fb, sizeof fb);
    }
    if (!rc) rc = out_flush(w, 1);
    if (!rc) {
        seg_hdr h;
        memset(&h, 0, sizeof h);
        h.file_id = w->file_id;
        h.min_ts = w->npoints ? w->min_ts : 0;
        h.max_ts = w->npoints ? w->max_ts : 0;
        h.created_ns = w->created_ns;
        h.block_points = w->block_points;
        h.flags = SEG_HDR_FLAG_FSUM4;
        seg_hdr_encode(&h, hb);
        rc = w->io->pwrite(w->io->ctx, w->fd, hb, sizeof hb, 0);
        if (rc) ST_ERROR("seg", "write failed file=%s offset=0 err=%s", w->tmp_path, st_errname(rc));
    }
    if (!rc) {
        rc = w->io->fsync(w->io->ctx, w->fd);
        if (rc) ST_ERROR("seg", "fsync failed file=%s err=%s", w->tmp_path, st_errname(rc));
    }
    if (!rc) {
        int crc = w->io->close(w->io->ctx, w->fd);
        w->fd = -1;
        rc = crc;
    }
    if (!rc) {
        rc = w->io->rename(w->io->ctx, w->tmp_path, w->final_path);
        if (rc) ST_ERROR("seg", "rename failed file=%s err=%s", w->tmp_path, st_errname(rc));
        else renamed = 1;
    }
    if (!rc) {
        rc = w->io->fsync_dir(w->io->ctx, w->dir);
        if (rc) ST_ERROR("seg", "directory fsync failed dir=%s file=%s err=%s", w->dir, w->final_path, st_errname(rc));
    }
    if (rc) {
        st_buf_fini(&idx);
        st_buf_fini(&z);
        writer_discard(w, renamed);
        return rc;
    }
    if (info) {
        info->file_id = w->file_id;
        info->file_bytes = ft.index_offset + stored_len + SEG_FOOTER_SIZE;
        info->columns = w->ncols;
        info->blocks = w->nblocks;
        info->points = w->npoints;
        info->min_ts = w->npoints ? w->min_ts : 0;
        info->max_ts = w->npoints ? w->max_ts : 0;
        info->index_bytes = stored_len;
    }
    st_buf_fini(&idx);
    st_buf_fini(&z);
    writer_free(w);
    return 0;
}
