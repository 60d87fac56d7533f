/*
 * storage/seg_read.c — the segment reader and verifier (storage/seg.h).
 * seg_open reads header, footer and index once and keeps the decoded
 * column/block table; blocks are pread, CRC-checked, decoded and checked
 * against their index entry on demand, through the block cache. A seg is
 * shared read-only by any number of threads.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <zstd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "storage/enc.h"
#include "storage/seg.h"

struct seg {
    atomic_long refs;
    const stor_io *io;      /* borrowed; outlives the seg */
    int fd;
    char *path;             /* owned */
    bcache *cache;          /* borrowed; may be NULL */
    uint64_t cache_fid;
    uint64_t file_size;
    seg_hdr hdr;
    seg_footer ft;
    seg_column *cols;       /* owned */
    size_t ncols;
    seg_block_info *blocks; /* owned */
    size_t nblocks;
    unsigned char *index;   /* owned: raw index (last strings point into it) */
    atomic_uchar *bad;      /* owned: per block, 1 once found corrupt (logged once) */
};

/* A decoded block with its private parts; pub first (pub.ce first in pub). */
typedef struct seg_blk {
    seg_block pub;
    void *raw;              /* owned: block bytes, kept for string slices */
    st_buf store;           /* owned: zstd string storage */
} seg_blk;

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

static void seg_free(seg *s)
{
    if (!s) return;
    if (s->fd >= 0) s->io->close(s->io->ctx, s->fd);
    st_free(s->path);
    st_free(s->cols);
    st_free(s->blocks);
    st_free(s->index);
    st_free(s->bad);
    st_free(s);
}

static int read_exact(seg *s, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    int rc = s->io->pread(s->io->ctx, s->fd, buf, len, off, &got);
    if (rc) return rc;
    return got == len ? 0 : ST_ECORRUPT;
}

/* Parse the raw index into s->cols / s->blocks. */
static int parse_index(seg *s, const unsigned char *p, size_t len, char *why, size_t why_len)
{
    size_t pos = 0;
    uint64_t ncols;
    if (seg__get_uvarint(p, len, &pos, &ncols) || ncols != s->ft.column_count) {
        WHY("index column count does not match the footer");
        return ST_ECORRUPT;
    }
    uint64_t nbl = s->ft.block_count;
    /* Each block entry takes >= SEG_MIN_BLOCK_ENTRY bytes, each column >= 4. */
    if (nbl > len / SEG_MIN_BLOCK_ENTRY + 1 || ncols > len / 4 + 1) {
        WHY("index counts exceed its length");
        return ST_ECORRUPT;
    }
    s->cols = st_calloc(ncols ? ncols : 1, sizeof *s->cols);
    s->blocks = st_calloc(nbl ? nbl : 1, sizeof *s->blocks);
    if (!s->cols || !s->blocks) return ST_ENOMEM;
    uint64_t prev_end = SEG_HDR_SIZE, used = 0;
    uint64_t file_span = (uint64_t)s->hdr.max_ts - (uint64_t)s->hdr.min_ts;
    for (uint64_t c = 0; c < ncols; c++) {
        seg_column *col = &s->cols[c];
        uint64_t sd, fc, nb;
        if (seg__get_uvarint(p, len, &pos, &sd) || seg__get_uvarint(p, len, &pos, &fc) || pos >= len) goto bad;
        if (c == 0) {
            col->series_id = sd;
            col->field_id = fc;
        } else {
            const seg_column *pc = &s->cols[c - 1];
            if (sd) {
                if (pc->series_id + sd < pc->series_id) goto bad;
                col->series_id = pc->series_id + sd;
                col->field_id = fc;
            } else {
                col->series_id = pc->series_id;
                if (fc >= UINT64_MAX - pc->field_id) goto bad;
                col->field_id = pc->field_id + fc + 1;
            }
        }
        col->type = p[pos++];
        if (col->type < ST_TYPE_FLOAT || col->type > ST_TYPE_STRING) goto bad;
        if (seg__get_uvarint(p, len, &pos, &nb) || nb == 0 || nb > nbl - used) goto bad;
        col->nblocks = (uint32_t)nb;
        col->blocks = &s->blocks[used];
        int64_t prev_max = 0;
        for (uint64_t b = 0; b < nb; b++) {
            seg_block_info *bi = &s->blocks[used + b];
            uint64_t gap, bl, cnt, td, span;
            if (seg__get_uvarint(p, len, &pos, &gap) || seg__get_uvarint(p, len, &pos, &bl) ||
                seg__get_uvarint(p, len, &pos, &cnt) || seg__get_uvarint(p, len, &pos, &td) ||
                seg__get_uvarint(p, len, &pos, &span))
                goto bad;
            if (gap > s->ft.index_offset || bl < SEG_BLOCK_FIXED + 8 || bl > SEG_MAX_BLOCK_BYTES) goto bad;
            if (prev_end + gap > s->ft.index_offset || s->ft.index_offset - prev_end - gap < bl) goto bad;
            if (cnt == 0 || cnt > SEG_MAX_BLOCK_POINTS) goto bad;
            bi->offset = prev_end + gap;
            bi->len = (uint32_t)bl;
            bi->count = (uint32_t)cnt;
            /* Times as offsets from the file's min_ts, all within file_span. */
            uint64_t rel;
            if (b == 0) {
                rel = td;
            } else {
                uint64_t pr = (uint64_t)prev_max - (uint64_t)s->hdr.min_ts;
                if (td >= file_span - pr) goto bad; /* also rules out pr == file_span */
                rel = pr + 1 + td;
            }
            if (rel > file_span || span > file_span - rel || span < cnt - 1) goto bad;
            bi->min_ts = (int64_t)((uint64_t)s->hdr.min_ts + rel);
            bi->max_ts = (int64_t)((uint64_t)bi->min_ts + span);
            int ng = 0, pg = 0;
            if (seg_stats_decode(p, len, &pos, col->type, cnt, &bi->stats, &ng, &pg)) goto bad;
            if (pg && cnt < 2) goto bad;
            bi->not_all_good = (uint8_t)ng;
            bi->has_pages = (uint8_t)pg;
            prev_end = bi->offset + bl;
            prev_max = bi->max_ts;
            col->count += cnt;
        }
        used += nb;
        col->last_ts = prev_max;
        col->last.type = col->type;
        const seg_block_info *lb = &col->blocks[nb - 1];
        switch (col->type) {
        case ST_TYPE_FLOAT: col->last.v.f = lb->stats.last.f; break;
        case ST_TYPE_INT: col->last.v.i = lb->stats.last.i; break;
        case ST_TYPE_UINT: col->last.v.u = lb->stats.last.u; break;
        case ST_TYPE_BOOL: col->last.v.b = lb->stats.last.u ? 1 : 0; break;
        default: {
            uint64_t sl;
            if (seg__get_uvarint(p, len, &pos, &sl) || sl > len - pos) goto bad;
            col->last.v.s.ptr = (const char *)p + pos;
            col->last.v.s.len = (size_t)sl;
            pos += (size_t)sl;
            break;
        }
        }
        if (c > 0) {
            const seg_column *pc = &s->cols[c - 1];
            if (col->series_id == pc->series_id && col->field_id <= pc->field_id) goto bad;
        }
    }
    if (pos != len || used != nbl) goto bad;
    s->ncols = (size_t)ncols;
    s->nblocks = (size_t)nbl;
    return 0;
bad:
    WHY("index malformed near index byte %zu", pos);
    return ST_ECORRUPT;
}

static int seg_open_impl(const stor_io *io, const char *path, bcache *cache, seg **out, char *why, size_t why_len)
{
    seg *s = st_calloc(1, sizeof *s);
    if (!s) return ST_ENOMEM;
    atomic_init(&s->refs, 1);
    s->io = io;
    s->fd = -1;
    s->cache = cache;
    s->path = st_strdup(path);
    unsigned char *raw = NULL;
    int rc = s->path ? 0 : ST_ENOMEM;
    if (!rc) rc = io->open(io->ctx, path, O_RDONLY, 0, &s->fd);
    if (rc) { WHY("cannot open: %s", st_errname(rc)); goto fail; }
    rc = io->file_size(io->ctx, s->fd, &s->file_size);
    if (rc) { WHY("cannot stat: %s", st_errname(rc)); goto fail; }
    if (s->file_size < SEG_HDR_SIZE + SEG_FOOTER_SIZE) {
        WHY("file too short (%" PRIu64 " bytes)", s->file_size);
        rc = ST_ECORRUPT;
        goto fail;
    }
    unsigned char hb[SEG_HDR_SIZE], fb[SEG_FOOTER_SIZE];
    rc = read_exact(s, hb, sizeof hb, 0);
    if (rc) { WHY("cannot read header: %s", st_errname(rc)); goto fail; }
    if (!seg_hdr_decode(hb, &s->hdr)) { WHY("bad file header (magic, version or CRC)"); rc = ST_ECORRUPT; goto fail; }
    rc = read_exact(s, fb, sizeof fb, s->file_size - SEG_FOOTER_SIZE);
    if (rc) { WHY("cannot read footer: %s", st_errname(rc)); goto fail; }
    if (!seg_footer_decode(fb, &s->ft)) { WHY("bad footer (magic, version or CRC)"); rc = ST_ECORRUPT; goto fail; }
    if (s->ft.index_offset < SEG_HDR_SIZE ||
        s->ft.index_offset + s->ft.index_len + SEG_FOOTER_SIZE != s->file_size) {
        WHY("footer index range does not match the file size");
        rc = ST_ECORRUPT;
        goto fail;
    }
    raw = st_malloc(s->ft.index_len ? s->ft.index_len : 1);
    if (!raw) { rc = ST_ENOMEM; goto fail; }
    rc = read_exact(s, raw, s->ft.index_len, s->ft.index_offset);
    if (rc) { WHY("cannot read index: %s", st_errname(rc)); goto fail; }
    if (st_crc32c(0, raw, s->ft.index_len) != s->ft.index_crc) {
        WHY("index CRC mismatch at offset %" PRIu64, s->ft.index_offset);
        rc = ST_ECORRUPT;
        goto fail;
    }
    if (s->ft.flags & SEG_INDEX_FLAG_ZSTD) {
        unsigned long long fcs = ZSTD_getFrameContentSize(raw, s->ft.index_len);
        if (fcs != s->ft.index_raw_len) { WHY("index zstd frame size mismatch"); rc = ST_ECORRUPT; goto fail; }
        s->index = st_malloc(s->ft.index_raw_len ? s->ft.index_raw_len : 1);
        if (!s->index) { rc = ST_ENOMEM; goto fail; }
        size_t got = ZSTD_decompress(s->index, s->ft.index_raw_len, raw, s->ft.index_len);
        if (ZSTD_isError(got) || got != s->ft.index_raw_len) {
            WHY("index does not decompress");
            rc = ST_ECORRUPT;
            goto fail;
        }
        st_free(raw);
    } else {
        s->index = raw;
    }
    raw = NULL;
    rc = parse_index(s, s->index, s->ft.index_raw_len, why, why_len);
    if (rc) goto fail;
    s->bad = st_calloc(s->nblocks ? s->nblocks : 1, sizeof *s->bad);
    if (!s->bad) { rc = ST_ENOMEM; goto fail; }
    if (cache) s->cache_fid = bcache_file_id(cache);
    *out = s;
    return 0;
fail:
    st_free(raw);
    seg_free(s);
    return rc;
}

int seg_open(const stor_io *io, const char *path, bcache *cache, seg **out)
{
    if (!io || !path || !out) return ST_EINVAL;
    char why[256];
    why[0] = 0;
    int rc = seg_open_impl(io, path, cache, out, why, sizeof why);
    if (rc == ST_ECORRUPT) ST_ERROR("seg", "corrupt segment file=%s: %s", path, why);
    else if (rc && rc != ST_ENOTFOUND && rc != ST_ENOMEM)
        ST_ERROR("seg", "cannot open segment file=%s: %s", path, why[0] ? why : st_errname(rc));
    return rc;
}

void seg_ref(seg *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void seg_unref(seg *s)
{
    if (!s) return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
    if (s->cache) bcache_drop_file(s->cache, s->cache_fid);
    seg_free(s);
}

const seg_hdr *seg_header(const seg *s) { return &s->hdr; }
const char *seg_path_of(const seg *s) { return s->path; }
uint64_t seg_file_size(const seg *s) { return s->file_size; }
size_t seg_column_count(const seg *s) { return s->ncols; }
const seg_column *seg_column_at(const seg *s, size_t i) { return i < s->ncols ? &s->cols[i] : NULL; }

int seg_column_find(const seg *s, uint64_t series_id, uint64_t field_id, const seg_column **out)
{
    size_t lo = 0, hi = s->ncols;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const seg_column *c = &s->cols[mid];
        if (c->series_id < series_id || (c->series_id == series_id && c->field_id < field_id)) lo = mid + 1;
        else hi = mid;
    }
    if (lo < s->ncols && s->cols[lo].series_id == series_id && s->cols[lo].field_id == field_id) {
        *out = &s->cols[lo];
        return 0;
    }
    return ST_ENOTFOUND;
}

uint32_t seg_column_seek(const seg_column *col, int64_t t)
{
    uint32_t lo = 0, hi = col->nblocks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (col->blocks[mid].max_ts < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int seg_column_last(const seg *s, const seg_column *col, int64_t *ts_out, st_value *value_out)
{
    (void)s;
    *ts_out = col->last_ts;
    *value_out = col->last;
    return 0;
}

static void blk_destroy(bcache_entry *e)
{
    seg_blk *b = (seg_blk *)e;
    st_free(b->raw);
    st_buf_fini(&b->store);
    st_free(b);
}

void seg_block_release(const seg_block *b)
{
    if (b) bcache_entry_unref((bcache_entry *)&((seg_block *)b)->ce);
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* A block's bytes, CRC-checked, and where its sections lie. */
typedef struct blk_raw {
    unsigned char *raw;     /* owned: bi->len bytes */
    size_t pos;             /* the timestamps section */
    uint64_t tl, vl, ql, pl; /* section lengths: times, values, quality, pages */
} blk_raw;

/* Read a block and check its CRC and header against the index (no cache,
 * no logging). On success r->raw is the caller's. */
static int block_raw(seg *s, const seg_column *col, const seg_block_info *bi, blk_raw *r, char *why, size_t why_len)
{
    memset(r, 0, sizeof *r);
    unsigned char *raw = st_malloc(bi->len);
    if (!raw) return ST_ENOMEM;
    int rc = read_exact(s, raw, bi->len, bi->offset);
    if (rc) {
        if (rc == ST_ECORRUPT) WHY("block truncated (file shorter than the index says)");
        else WHY("block read failed: %s", st_errname(rc));
        st_free(raw);
        return rc;
    }
    if (seg__get32(raw) != st_crc32c(0, raw + 4, bi->len - 4)) { WHY("block CRC mismatch"); goto bad; }
    size_t pos = SEG_BLOCK_FIXED;
    uint64_t sid, fid, cnt, zmin, span, tl, vl, ql = 0, pl = 0;
    if (raw[4] != SEG_BLOCK_TAG || raw[5] != col->type ||
        (raw[6] & ~(SEG_BLOCK_FLAG_QUALITY | SEG_BLOCK_FLAG_PAGES)) ||
        (col->type != ST_TYPE_STRING && !(raw[6] & SEG_BLOCK_FLAG_QUALITY) != !bi->not_all_good) ||
        !(raw[6] & SEG_BLOCK_FLAG_PAGES) != !bi->has_pages) {
        WHY("block header tag/type/flags mismatch");
        goto bad;
    }
    if (seg__get_uvarint(raw, bi->len, &pos, &sid) || seg__get_uvarint(raw, bi->len, &pos, &fid) ||
        seg__get_uvarint(raw, bi->len, &pos, &cnt) || seg__get_uvarint(raw, bi->len, &pos, &zmin) ||
        seg__get_uvarint(raw, bi->len, &pos, &span) || seg__get_uvarint(raw, bi->len, &pos, &tl) ||
        seg__get_uvarint(raw, bi->len, &pos, &vl) ||
        ((raw[6] & SEG_BLOCK_FLAG_QUALITY) && seg__get_uvarint(raw, bi->len, &pos, &ql)) ||
        ((raw[6] & SEG_BLOCK_FLAG_PAGES) && seg__get_uvarint(raw, bi->len, &pos, &pl))) {
        WHY("block header malformed");
        goto bad;
    }
    if (sid != col->series_id || fid != col->field_id || cnt != bi->count || seg__unzz(zmin) != bi->min_ts ||
        span != (uint64_t)bi->max_ts - (uint64_t)bi->min_ts) {
        WHY("block header does not match the index");
        goto bad;
    }
    size_t rem = bi->len - pos;
    if (tl > rem || vl > rem - tl || ql > rem - tl - vl || pl != rem - tl - vl - ql) {
        WHY("block section lengths do not add up");
        goto bad;
    }
    r->raw = raw;
    r->pos = pos;
    r->tl = tl;
    r->vl = vl;
    r->ql = ql;
    r->pl = pl;
    return 0;
bad:
    st_free(raw);
    return ST_ECORRUPT;
}

/* Read, check and decode one block (no cache, no logging). */
static int block_load(seg *s, const seg_column *col, const seg_block_info *bi, seg_blk **out, char *why,
                      size_t why_len)
{
    uint32_t n = bi->count;
    size_t vsz = col->type == ST_TYPE_BOOL ? 1 : col->type == ST_TYPE_STRING ? sizeof(st_slice) : 8;
    blk_raw br;
    int rc = block_raw(s, col, bi, &br, why, why_len);
    if (rc) return rc;
    unsigned char *raw = br.raw;
    size_t pos = br.pos;
    uint64_t tl = br.tl, vl = br.vl, ql = br.ql;
    seg_blk *b = NULL;
    size_t off_vals = align8(sizeof(seg_blk) + (size_t)n * 8);
    size_t off_q = align8(off_vals + (size_t)n * vsz);
    size_t total = off_q + (ql ? (size_t)n * 4 : 0);
    b = st_calloc(1, total);
    if (!b) { st_free(raw); return ST_ENOMEM; }
    st_buf_init(&b->store);
    char *base = (char *)b;
    int64_t *ts = (int64_t *)(base + sizeof(seg_blk));
    void *vals = base + off_vals;
    uint32_t *q = ql ? (uint32_t *)(base + off_q) : NULL;
    const unsigned char *sec = raw + pos;
    rc = enc_block_decode(sec, (size_t)tl, ENC_TYPE_TIME, n, ts);
    if (rc == ST_ENOMEM) goto fail;
    if (rc) { WHY("timestamps do not decode"); goto bad; }
    if (ts[0] != bi->min_ts || ts[n - 1] != bi->max_ts) { WHY("timestamps do not match the index range"); goto bad; }
    for (uint32_t k = 1; k < n; k++)
        if (ts[k] <= ts[k - 1]) { WHY("timestamps not strictly increasing at point %u", k); goto bad; }
    sec += tl;
    enc_type et = col->type == ST_TYPE_FLOAT ? ENC_TYPE_FLOAT : col->type == ST_TYPE_INT ? ENC_TYPE_INT
                : col->type == ST_TYPE_UINT ? ENC_TYPE_UINT : col->type == ST_TYPE_BOOL ? ENC_TYPE_BOOL
                : ENC_TYPE_STRING;
    if (et == ENC_TYPE_STRING) rc = enc_block_decode_str(sec, (size_t)vl, n, &b->store, vals);
    else rc = enc_block_decode(sec, (size_t)vl, et, n, vals);
    if (rc == ST_ENOMEM) goto fail;
    if (rc) { WHY("values do not decode"); goto bad; }
    sec += vl;
    if (q) {
        rc = enc_block_decode(sec, (size_t)ql, ENC_TYPE_QUALITY, n, q);
        if (rc == ST_ENOMEM) goto fail;
        if (rc) { WHY("quality does not decode"); goto bad; }
    }
    seg_block *pb = &b->pub;
    atomic_init(&pb->ce.refs, 1);
    pb->ce.destroy = blk_destroy;
    pb->type = col->type;
    pb->n = n;
    pb->ts = ts;
    pb->quality = q;
    switch (col->type) {
    case ST_TYPE_FLOAT: pb->f = vals; break;
    case ST_TYPE_INT: pb->i = vals; break;
    case ST_TYPE_UINT: pb->u = vals; break;
    case ST_TYPE_BOOL: pb->b = vals; break;
    default: pb->s = vals; break;
    }
    if (col->type == ST_TYPE_STRING) {
        b->raw = raw; /* slices may borrow from it */
        pb->ce.charge_bytes = total + bi->len + b->store.cap;
    } else {
        st_free(raw);
        pb->ce.charge_bytes = total;
    }
    *out = b;
    return 0;
bad:
    rc = ST_ECORRUPT;
fail:
    if (b) { st_buf_fini(&b->store); st_free(b); }
    st_free(raw);
    return rc;
}

static int check_col(const seg *s, const seg_column *col)
{
    return col >= s->cols && col < s->cols + s->ncols;
}

static int block_read(seg *s, const seg_column *col, uint32_t block_index, int fill, const seg_block **out);

int seg_block_read(seg *s, const seg_column *col, uint32_t block_index, const seg_block **out)
{
    return block_read(s, col, block_index, 1, out);
}

int seg_block_read_once(seg *s, const seg_column *col, uint32_t block_index, const seg_block **out)
{
    return block_read(s, col, block_index, 0, out);
}

/* A block (or its page table) could not be read: a corrupt block is
 * logged once per open file and marked bad (later reads fail fast,
 * silently); other failures are logged each time, except ENOMEM. */
static void block_failed(seg *s, const seg_column *col, const seg_block_info *bi, size_t gi, int rc, const char *why)
{
    if (rc == ST_ECORRUPT && !atomic_exchange(&s->bad[gi], 1))
        ST_ERROR("seg", "corrupt block not served file=%s series=%" PRIu64 " field=%" PRIu64
                 " offset=%" PRIu64 " len=%" PRIu32 " lost_points=%" PRIu32 " min_ts=%" PRId64
                 " max_ts=%" PRId64 ": %s",
                 s->path, col->series_id, col->field_id, bi->offset, bi->len, bi->count, bi->min_ts,
                 bi->max_ts, why);
    else if (rc != ST_ECORRUPT && rc != ST_ENOMEM)
        ST_ERROR("seg", "block read failed file=%s series=%" PRIu64 " field=%" PRIu64 " offset=%" PRIu64
                 ": %s", s->path, col->series_id, col->field_id, bi->offset, why);
}

/* Loads one cache entry of a block (the decoded block, its page table). */
typedef int (*entry_load_fn)(seg *s, const seg_column *col, const seg_block_info *bi, bcache_entry **out,
                             char *why, size_t why_len);

/* The entry of block block_index under the key offset | key_bits: from the
 * cache, or loaded (and cached when fill). Damage is logged once and
 * remembered (block_failed). */
static int cached_entry(seg *s, const seg_column *col, uint32_t block_index, uint64_t key_bits, entry_load_fn load,
                        int fill, bcache_entry **out)
{
    if (!s || !col || !out || !check_col(s, col) || block_index >= col->nblocks) return ST_EINVAL;
    const seg_block_info *bi = &col->blocks[block_index];
    size_t gi = (size_t)(bi - s->blocks);
    if (atomic_load_explicit(&s->bad[gi], memory_order_relaxed)) return ST_ECORRUPT;
    if (s->cache) {
        bcache_entry *e = bcache_lookup(s->cache, s->cache_fid, bi->offset | key_bits);
        if (e) { *out = e; return 0; }
    }
    char why[160];
    bcache_entry *e = NULL;
    int rc = load(s, col, bi, &e, why, sizeof why);
    if (rc) {
        block_failed(s, col, bi, gi, rc, why);
        return rc;
    }
    if (s->cache && fill) e = bcache_insert(s->cache, s->cache_fid, bi->offset | key_bits, e);
    *out = e;
    return 0;
}

static int load_block_entry(seg *s, const seg_column *col, const seg_block_info *bi, bcache_entry **out, char *why,
                            size_t why_len)
{
    seg_blk *b = NULL;
    int rc = block_load(s, col, bi, &b, why, why_len);
    if (!rc) *out = &b->pub.ce;
    return rc;
}

static int block_read(seg *s, const seg_column *col, uint32_t block_index, int fill, const seg_block **out)
{
    bcache_entry *e = NULL;
    int rc = cached_entry(s, col, block_index, 0, load_block_entry, fill, &e);
    if (!rc) *out = (const seg_block *)e;
    return rc;
}

/* ---- page tables ---- */

/* The cache key of a block's page table: its offset with the top bit set
 * (block offsets stay far below it). */
#define PAGES_KEY_BIT (1ull << 63)

static void pages_destroy(bcache_entry *e) { st_free(e); }

void seg_pages_release(const seg_pages *p)
{
    if (p) bcache_entry_unref((bcache_entry *)&((seg_pages *)p)->ce);
}

/* One array of a page table into out (n values of et). */
static int page_array(const unsigned char *p, size_t len, size_t *pos, enc_type et, size_t n, void *out)
{
    uint64_t l;
    if (seg__get_uvarint(p, len, pos, &l) || l > len - *pos) return ST_ECORRUPT;
    int rc = enc_block_decode(p + *pos, (size_t)l, et, n, out);
    *pos += (size_t)l;
    return rc == ST_ENOMEM ? rc : rc ? ST_ECORRUPT : 0;
}

/* Read and decode a block's page table, checking its structure against
 * the index entry (no cache, no logging). Its statistics are checked
 * against the values by seg_verify. */
static int pages_load(seg *s, const seg_column *col, const seg_block_info *bi, seg_pages **out, char *why,
                      size_t why_len)
{
    blk_raw br;
    int rc = block_raw(s, col, bi, &br, why, why_len);
    if (rc) return rc;
    const unsigned char *p = br.raw + br.pos + br.tl + br.vl + br.ql;
    size_t len = (size_t)br.pl, pos = 0;
    seg_pages *pg = NULL;
    uint64_t *tmp = NULL, np = 0;
    int64_t g = len ? seg_page_grid_ns(p[pos++]) : 0;
    if (!g || seg__get_uvarint(p, len, &pos, &np) || np < 2 || np > bi->count) {
        WHY("page table header malformed");
        goto bad;
    }
    pg = st_calloc(1, sizeof *pg + (size_t)np * sizeof(seg_page));
    tmp = st_malloc((size_t)np * 8);
    if (!pg || !tmp) { rc = ST_ENOMEM; goto fail; }
    seg_page *pa = (seg_page *)(pg + 1);
    size_t n = (size_t)np;
    /* counts, first and last times */
    if ((rc = page_array(p, len, &pos, ENC_TYPE_UINT, n, tmp))) goto arr;
    uint64_t start = 0;
    for (size_t k = 0; k < n; k++) {
        if (tmp[k] == 0 || tmp[k] > bi->count - start) { WHY("page counts do not add up"); goto bad; }
        pa[k].start = (uint32_t)start;
        pa[k].count = (uint32_t)tmp[k];
        start += tmp[k];
    }
    if (start != bi->count) { WHY("page counts do not add up"); goto bad; }
    if ((rc = page_array(p, len, &pos, ENC_TYPE_TIME, n, tmp))) goto arr;
    for (size_t k = 0; k < n; k++) pa[k].min_ts = (int64_t)tmp[k];
    if ((rc = page_array(p, len, &pos, ENC_TYPE_TIME, n, tmp))) goto arr;
    for (size_t k = 0; k < n; k++) pa[k].max_ts = (int64_t)tmp[k];
    if (pa[0].min_ts != bi->min_ts || pa[n - 1].max_ts != bi->max_ts) { WHY("page times do not match the block"); goto bad; }
    for (size_t k = 0; k < n; k++) {
        int64_t c = seg_page_cell(pa[k].min_ts, g);
        if (pa[k].max_ts < pa[k].min_ts || seg_page_cell(pa[k].max_ts, g) != c ||
            (uint64_t)pa[k].max_ts - (uint64_t)pa[k].min_ts < pa[k].count - 1u ||
            (k + 1 < n && seg_page_cell(pa[k + 1].min_ts, g) <= c)) {
            WHY("page %zu times out of order or across cells", k);
            goto bad;
        }
    }
    /* statistics */
    if (col->type == ST_TYPE_BOOL) {
        if ((rc = page_array(p, len, &pos, ENC_TYPE_UINT, n, tmp))) goto arr;
        for (size_t k = 0; k < n; k++) {
            if (tmp[k] > pa[k].count) { WHY("page %zu true count above its points", k); goto bad; }
            pa[k].stats.sum.u = tmp[k];
            pa[k].stats.min.u = tmp[k] == pa[k].count;
            pa[k].stats.max.u = tmp[k] != 0;
        }
        uint8_t *b8 = (uint8_t *)tmp;
        if ((rc = page_array(p, len, &pos, ENC_TYPE_BOOL, n, b8))) goto arr;
        for (size_t k = 0; k < n; k++) pa[k].stats.first.u = b8[k];
        if ((rc = page_array(p, len, &pos, ENC_TYPE_BOOL, n, b8))) goto arr;
        for (size_t k = 0; k < n; k++) pa[k].stats.last.u = b8[k];
    } else if (col->type == ST_TYPE_FLOAT || col->type == ST_TYPE_INT || col->type == ST_TYPE_UINT) {
        enc_type et = col->type == ST_TYPE_FLOAT ? ENC_TYPE_FLOAT : col->type == ST_TYPE_INT ? ENC_TYPE_INT : ENC_TYPE_UINT;
        for (int a = 0; a < 5; a++) {
            if ((rc = page_array(p, len, &pos, et, n, tmp))) goto arr;
            for (size_t k = 0; k < n; k++) {
                seg_stats *st = &pa[k].stats;
                seg_num *dst = a == 0 ? &st->first : a == 1 ? &st->last : a == 2 ? &st->min : a == 3 ? &st->max : &st->sum;
                dst->u = tmp[k];
            }
        }
    } else {
        WHY("page table on a string block");
        goto bad;
    }
    if (pos != len) { WHY("page table has trailing bytes"); goto bad; }
    atomic_init(&pg->ce.refs, 1);
    pg->ce.destroy = pages_destroy;
    pg->ce.charge_bytes = sizeof *pg + n * sizeof(seg_page);
    pg->grid = br.raw[br.pos + br.tl + br.vl + br.ql];
    pg->n = (uint32_t)n;
    pg->pages = pa;
    st_free(tmp);
    st_free(br.raw);
    *out = pg;
    return 0;
arr:
    if (rc == ST_ENOMEM) goto fail;
    WHY("page table arrays do not decode");
bad:
    rc = ST_ECORRUPT;
fail:
    st_free(pg);
    st_free(tmp);
    st_free(br.raw);
    return rc;
}

static int load_pages_entry(seg *s, const seg_column *col, const seg_block_info *bi, bcache_entry **out, char *why,
                            size_t why_len)
{
    seg_pages *pg = NULL;
    int rc = pages_load(s, col, bi, &pg, why, why_len);
    if (!rc) *out = &pg->ce;
    return rc;
}

int seg_block_pages(seg *s, const seg_column *col, uint32_t block_index, const seg_pages **out)
{
    if (s && col && check_col(s, col) && block_index < col->nblocks && !col->blocks[block_index].has_pages)
        return ST_EINVAL;
    bcache_entry *e = NULL;
    int rc = cached_entry(s, col, block_index, PAGES_KEY_BIT, load_pages_entry, 1, &e);
    if (!rc) *out = (const seg_pages *)e;
    return rc;
}

int seg_column_value_at(seg *s, const seg_column *col, int64_t t, seg_point *out)
{
    if (!s || !col || !out || !check_col(s, col)) return ST_EINVAL;
    uint32_t i = seg_column_seek(col, t); /* first block with max_ts >= t */
    seg_point p;
    memset(&p, 0, sizeof p);
    if (i == col->nblocks || col->blocks[i].min_ts > t) {
        /* t is after block i-1's last point: that point is the answer. */
        if (i == 0) return ST_ENOTFOUND;
        const seg_block_info *bi = &col->blocks[i - 1];
        if (col->type != ST_TYPE_STRING && !bi->not_all_good) {
            p.ts = bi->max_ts;
            p.value.type = col->type;
            switch (col->type) {
            case ST_TYPE_FLOAT: p.value.v.f = bi->stats.last.f; break;
            case ST_TYPE_INT: p.value.v.i = bi->stats.last.i; break;
            case ST_TYPE_UINT: p.value.v.u = bi->stats.last.u; break;
            default: p.value.v.b = bi->stats.last.u ? 1 : 0; break;
            }
            p.quality = ST_QUALITY_GOOD;
            *out = p;
            return 0;
        }
        i--;
    }
    const seg_block *b = NULL;
    int rc = seg_block_read(s, col, i, &b);
    if (rc) return rc;
    /* Last k with ts[k] <= t; ts[0] <= t holds here. */
    uint32_t lo = 0, hi = b->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b->ts[mid] <= t) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) { seg_block_release(b); return ST_ENOTFOUND; } /* not reached for a checked block */
    p.ts = b->ts[lo - 1];
    p.value = seg_block_value(b, lo - 1);
    p.quality = seg_block_quality(b, lo - 1);
    p.hold = b;
    *out = p;
    return 0;
}

/* ---------------- verify ---------------- */

static int stats_equal(uint8_t type, const seg_stats *a, const seg_stats *b)
{
    if (type == ST_TYPE_STRING) return 1;
    return a->min.u == b->min.u && a->max.u == b->max.u && a->sum.u == b->sum.u && a->first.u == b->first.u &&
           a->last.u == b->last.u;
}

/* The statistics of points [j0, j1) of a decoded block (fsum4: the
 * four-lane FLOAT sum, else left to right); zero for STRING. */
static seg_stats block_stats(const seg_block *pb, uint32_t j0, uint32_t j1, int fsum4)
{
    seg_stats_acc acc;
    memset(&acc, 0, sizeof acc);
    for (uint32_t j = j0; j < j1 && pb->type != ST_TYPE_STRING; j++) {
        seg_num v;
        switch (pb->type) {
        case ST_TYPE_FLOAT: v.f = pb->f[j]; break;
        case ST_TYPE_INT: v.i = pb->i[j]; break;
        case ST_TYPE_UINT: v.u = pb->u[j]; break;
        default: v.u = pb->b[j]; break;
        }
        seg_acc_add(&acc, pb->type, j - j0, v);
    }
    return seg_acc_stats(&acc, pb->type, j1 - j0, fsum4);
}

/* A block's page table against its decoded points: one page per
 * non-empty cell of its grid, each with the points' times and statistics. */
static int pages_verify(seg *s, const seg_column *col, const seg_block_info *bi, const seg_block *pb, char *why,
                        size_t why_len)
{
    seg_pages *pg = NULL;
    int rc = pages_load(s, col, bi, &pg, why, why_len);
    if (rc) return rc;
    int64_t g = seg_page_grid_ns(pg->grid);
    for (uint32_t k = 0; k < pg->n && !rc; k++) {
        const seg_page *x = &pg->pages[k];
        uint32_t e = x->start + x->count;
        int64_t c = seg_page_cell(pb->ts[x->start], g);
        if (x->min_ts != pb->ts[x->start] || x->max_ts != pb->ts[e - 1] || seg_page_cell(pb->ts[e - 1], g) != c ||
            (x->start > 0 && seg_page_cell(pb->ts[x->start - 1], g) == c)) {
            WHY("page %u does not hold its cell's points", k);
            rc = ST_ECORRUPT;
            break;
        }
        seg_stats st = block_stats(pb, x->start, e, 1);
        if (!stats_equal(col->type, &st, &x->stats)) {
            WHY("page %u statistics do not match its values", k);
            rc = ST_ECORRUPT;
        }
    }
    pages_destroy(&pg->ce);
    return rc;
}

int seg_verify(const stor_io *io, const char *path, seg_verify_cb cb, void *arg, seg_verify_result *result)
{
    char why[256];
    why[0] = 0;
    seg *s = NULL;
    seg_verify_result r;
    memset(&r, 0, sizeof r);
    int rc = seg_open_impl(io, path, NULL, &s, why, sizeof why);
    if (rc) {
        if (cb) cb(arg, path, 0, 0, 0, rc, why[0] ? why : st_strerror(rc));
        if (result) *result = r;
        return rc;
    }
    int bad = 0;
    r.columns = s->ncols;
    if (s->ncols) {
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (size_t c = 0; c < s->ncols; c++) {
            if (s->cols[c].blocks[0].min_ts < lo) lo = s->cols[c].blocks[0].min_ts;
            if (s->cols[c].last_ts > hi) hi = s->cols[c].last_ts;
        }
        if (lo != s->hdr.min_ts || hi != s->hdr.max_ts) {
            bad = 1;
            if (cb) cb(arg, path, 0, 0, 0, ST_ECORRUPT, "header time range does not match the blocks");
        }
    }
    uint64_t covered = 0;
    for (size_t k = 0; k < s->nblocks; k++) covered += s->blocks[k].len;
    if (covered != s->ft.index_offset - SEG_HDR_SIZE) {
        bad = 1;
        if (cb) cb(arg, path, 0, 0, SEG_HDR_SIZE, ST_ECORRUPT, "bytes between blocks that no block covers");
    }
    for (size_t c = 0; c < s->ncols; c++) {
        const seg_column *col = &s->cols[c];
        for (uint32_t k = 0; k < col->nblocks; k++) {
            const seg_block_info *bi = &col->blocks[k];
            seg_blk *b = NULL;
            r.blocks++;
            rc = block_load(s, col, bi, &b, why, sizeof why);
            if (rc == ST_ENOMEM) { seg_unref(s); if (result) *result = r; return rc; }
            if (!rc) {
                const seg_block *pb = &b->pub;
                seg_stats st = block_stats(pb, 0, pb->n, (s->hdr.flags & SEG_HDR_FLAG_FSUM4) != 0);
                if (!stats_equal(col->type, &st, &bi->stats)) {
                    snprintf(why, sizeof why, "block statistics do not match its values");
                    rc = ST_ECORRUPT;
                } else if (bi->has_pages) {
                    rc = pages_verify(s, col, bi, pb, why, sizeof why);
                    if (rc == ST_ENOMEM) { blk_destroy(&b->pub.ce); seg_unref(s); if (result) *result = r; return rc; }
                } else if (col->type == ST_TYPE_STRING && k + 1 == col->nblocks &&
                           !st_slice_eq(pb->s[pb->n - 1], col->last.v.s)) {
                    snprintf(why, sizeof why, "column last value does not match its last block");
                    rc = ST_ECORRUPT;
                }
                blk_destroy(&b->pub.ce);
            }
            if (rc) {
                bad = 1;
                r.bad_blocks++;
                if (cb) cb(arg, path, col->series_id, col->field_id, bi->offset, rc, why);
            } else {
                r.points += bi->count;
            }
        }
    }
    seg_unref(s);
    if (result) *result = r;
    return bad ? ST_ECORRUPT : 0;
}
