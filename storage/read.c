/*
 * storage/read.c — stor_read: one column's points in a time range, merged
 * from every place they live (segment files of the partitions in range, in
 * file order; the frozen head; the active head), last write winning on
 * equal timestamps (see stor_int.h). Any thread; takes references under the
 * locks and reads without holding them.
 */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "storage/stor_int.h"

typedef struct src_pts {
    size_t n, cap;
    int64_t *ts;
    st_value *vals;
    uint32_t *q;
    uint32_t *prio;
    size_t *soff;     /* string offsets into strs */
    st_buf strs;
    uint8_t type;
} src_pts;

static int sp_reserve(src_pts *p, size_t more)
{
    if (p->n + more <= p->cap) return 0; /* once a point: no calls */
    /* five arrays share p->cap: each grows from a copy of it, and p->cap
     * changes only once all have */
    size_t need = p->n + more, cap = p->cap;
    if (st_grow(&p->ts, &cap, need, sizeof *p->ts, 256) ||
        st_grow(&p->vals, &(size_t){ p->cap }, need, sizeof *p->vals, 256) ||
        st_grow(&p->q, &(size_t){ p->cap }, need, sizeof *p->q, 256) ||
        st_grow(&p->prio, &(size_t){ p->cap }, need, sizeof *p->prio, 256) ||
        st_grow(&p->soff, &(size_t){ p->cap }, need, sizeof *p->soff, 256))
        return ST_ENOMEM;
    p->cap = cap;
    return 0;
}

static int sp_add(src_pts *p, int64_t ts, st_value v, uint32_t q, uint32_t prio)
{
    int rc = sp_reserve(p, 1);
    if (rc) return rc;
    size_t k = p->n++;
    p->ts[k] = ts;
    p->vals[k] = v;
    p->q[k] = q;
    p->prio[k] = prio;
    p->type = v.type;
    if (v.type == ST_TYPE_STRING) {
        p->soff[k] = p->strs.len;
        if (st_buf_append(&p->strs, v.v.s.ptr, v.v.s.len)) return ST_ENOMEM;
    }
    return 0;
}

static void sp_fini(src_pts *p)
{
    st_free(p->ts);
    st_free(p->vals);
    st_free(p->q);
    st_free(p->prio);
    st_free(p->soff);
    st_buf_fini(&p->strs);
}

typedef struct sdb { uint64_t db; } sdb;
static int sdb_cb(void *arg, uint64_t sid, uint64_t db, const void *k, size_t kl)
{
    (void)sid; (void)k; (void)kl;
    ((sdb *)arg)->db = db;
    return 0;
}

/* Whether any partition exists (a hint, without parts_lock: the heads
 * were read first, so a partition a flush publishes meanwhile holds
 * points the heads still showed): reads of data that is all in the heads
 * skip the index lookup. */
static int has_parts(stor *s)
{
    return atomic_load_explicit(&s->nparts, memory_order_relaxed) != 0;
}

/* References to the segment files of the series' partitions overlapping
 * [tmin, tmax], partitions in time order and files in write order (oldest
 * first). The caller seg_unref()s each and st_free()s the array. */
static int collect_refs(stor *s, uint64_t series_id, int64_t tmin, int64_t tmax, seg ***out, size_t *nout)
{
    seg **refs = NULL;
    size_t nrefs = 0, cap = 0;
    int rc = 0;
    sdb d = { 0 };
    *out = NULL;
    *nout = 0;
    if (!has_parts(s) || sidx_series_get(s->idx, series_id, sdb_cb, &d) != 0) return 0;
    pthread_rwlock_rdlock(&s->parts_lock);
    for (size_t i = 0; i < s->nparts && !rc; i++) {
        stor_part *p = &s->parts[i];
        if (p->db_id != d.db) continue;
        int64_t pmin = p->index * p->width_ns, pmax = pmin + (p->width_ns - 1);
        if (pmax < tmin || pmin > tmax) continue;
        for (size_t k = 0; k < p->n; k++) {
            if ((rc = st_grow(&refs, &cap, nrefs + 1, sizeof *refs, 16))) break;
            seg_ref(p->segs[k]);
            refs[nrefs++] = p->segs[k];
        }
    }
    pthread_rwlock_unlock(&s->parts_lock);
    if (rc) {
        for (size_t i = 0; i < nrefs; i++) seg_unref(refs[i]);
        st_free(refs);
        return rc;
    }
    *out = refs;
    *nout = nrefs;
    return 0;
}

typedef struct ord_ctx { const int64_t *ts; const uint32_t *prio; } ord_ctx;

/* (ts, source, arrival): equal timestamps keep their write order. */
static int ord_cmp(const void *a, const void *b, void *arg)
{
    const ord_ctx *o = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (o->ts[x] != o->ts[y]) return o->ts[x] < o->ts[y] ? -1 : 1;
    if (o->prio[x] != o->prio[y]) return o->prio[x] < o->prio[y] ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/*
 * The points gathered in sp as one time-ordered run, last write winning:
 * ordered by (ts, source priority, arrival), only the last of each
 * timestamp kept (strictly increasing times, the usual single source,
 * need neither). out's arrays are replaced. take_strings: out takes sp's
 * string bytes (out->strings) and string values point there; else they
 * point into sp, which must outlive out's use. 0 or ST_ENOMEM.
 */
static int sp_resolve(src_pts *sp, int take_strings, stor_points *out)
{
    size_t n = sp->n;
    if (n == 0) { /* most scans of the active head: nothing to merge, nothing to allocate */
        head_points_fini(out);
        head_points_init(out);
        out->type = ST_TYPE_NONE;
        return 0;
    }
    int in_order = 1;
    for (size_t i = 1; i < n && in_order; i++) in_order = sp->ts[i - 1] < sp->ts[i];
    size_t *ord = NULL;
    if (!in_order) {
        ord = st_malloc(n * sizeof *ord);
        if (!ord) return ST_ENOMEM;
        for (size_t i = 0; i < n; i++) ord[i] = i;
        ord_ctx oc = { sp->ts, sp->prio };
        qsort_r(ord, n, sizeof *ord, ord_cmp, &oc);
    }
    int64_t *ts = st_malloc((n ? n : 1) * sizeof *ts);
    st_value *vals = st_malloc((n ? n : 1) * sizeof *vals);
    uint32_t *q = st_malloc((n ? n : 1) * sizeof *q);
    if (!ts || !vals || !q) {
        st_free(ts); st_free(vals); st_free(q); st_free(ord);
        return ST_ENOMEM;
    }
    head_points_fini(out);
    head_points_init(out);
    if (take_strings && sp->type == ST_TYPE_STRING) {
        out->strings = sp->strs;
        st_buf_init(&sp->strs);
    }
    const char *base = take_strings ? out->strings.ptr : sp->strs.ptr;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t x = ord ? ord[i] : i;
        if (i + 1 < n && sp->ts[ord ? ord[i + 1] : i + 1] == sp->ts[x]) continue;
        ts[m] = sp->ts[x];
        vals[m] = sp->vals[x];
        if (sp->type == ST_TYPE_STRING) vals[m].v.s.ptr = (base ? base : "") + sp->soff[x];
        q[m] = sp->q[x];
        m++;
    }
    st_free(ord);
    out->n = m;
    out->type = n ? sp->type : ST_TYPE_NONE;
    out->ts = ts;
    out->vals = vals;
    out->quality = q;
    return 0;
}

int stor_read(stor *s, uint64_t series_id, uint64_t field_id, int64_t tmin, int64_t tmax, stor_points *out)
{
    int rc = 0;
    src_pts sp;
    memset(&sp, 0, sizeof sp);
    st_buf_init(&sp.strs);
    uint32_t prio = 0;

    /* The heads FIRST, then the segment files: a flush that publishes its
     * file and drops the frozen head between the two steps then shows the
     * points twice (resolved below), never not at all. */
    head_points hp[2];
    head_points_init(&hp[0]);
    head_points_init(&hp[1]);
    pthread_rwlock_rdlock(&s->heads_lock);
    if (s->frozen) rc = head_read(s->frozen, series_id, field_id, tmin, tmax, &hp[0]);
    if (!rc) rc = head_read(s->active, series_id, field_id, tmin, tmax, &hp[1]);
    pthread_rwlock_unlock(&s->heads_lock);
    if (rc) goto heads_fail;

    /* 1. segments of the partitions in range, oldest file first */
    seg **refs = NULL;
    size_t nrefs = 0;
    if (!rc) rc = collect_refs(s, series_id, tmin, tmax, &refs, &nrefs);
    {
        /* Partitions are in time order, files within one in write order. */
        for (size_t i = 0; i < nrefs && !rc; i++) {
            const seg_column *col;
            if (seg_column_find(refs[i], series_id, field_id, &col) != 0) continue;
            for (uint32_t b = seg_column_seek(col, tmin); b < col->nblocks && !rc; b++) {
                if (col->blocks[b].min_ts > tmax) break;
                const seg_block *blk;
                int brc = seg_block_read(refs[i], col, b, &blk);
                if (brc == ST_ECORRUPT) continue; /* reported once by seg; never served */
                if (brc) { rc = brc; break; }
                for (uint32_t j = 0; j < blk->n && !rc; j++) {
                    if (blk->ts[j] < tmin || blk->ts[j] > tmax) continue;
                    rc = sp_add(&sp, blk->ts[j], seg_block_value(blk, j), seg_block_quality(blk, j), prio);
                }
                seg_block_release(blk);
            }
            prio++;
        }
        for (size_t i = 0; i < nrefs; i++) seg_unref(refs[i]);
        st_free(refs);
    }

    /* 2-3. the heads (read above), frozen then active */
    if (!rc && sp.n == 0 && hp[0].n == 0) {
        /* The common case: everything is in the active head. */
        head_points_fini(out);
        *out = hp[1];
        head_points_fini(&hp[0]);
        sp_fini(&sp);
        return 0;
    }
    for (int h = 0; h < 2 && !rc; h++) {
        if (hp[h].n == 0) continue;
        for (size_t j = 0; j < hp[h].n && !rc; j++) rc = sp_add(&sp, hp[h].ts[j], hp[h].vals[j], hp[h].quality[j], prio);
        prio++;
    }
heads_fail:
    head_points_fini(&hp[0]);
    head_points_fini(&hp[1]);
    if (rc) { sp_fini(&sp); return rc; }

    /* Merge: order by (ts, source), keep the last of each timestamp. */
    rc = sp_resolve(&sp, 1, out);
    sp_fini(&sp);
    return rc;
}

/* ---- stor_scan ---- */

typedef struct cand {
    size_t file;          /* index into refs */
    const seg_column *col;
    uint32_t block;
    int64_t min_ts, max_ts;
    int clean;
} cand;

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->min_ts != y->min_ts) return x->min_ts < y->min_ts ? -1 : 1;
    return x->file < y->file ? -1 : (x->file > y->file);
}

/* Deliver the merged points with ts < limit starting at *pos. */
static int deliver_until(const stor_scan_cb *cb, const stor_points *m, size_t *pos, int64_t limit, int inclusive_all)
{
    size_t i = *pos, j = i;
    while (j < m->n && (inclusive_all || m->ts[j] < limit)) j++;
    *pos = j;
    if (j > i) return cb->on_points(cb->arg, j - i, m->ts + i, m->vals + i, m->quality + i);
    return 0;
}

/* Points [j0, j1) of a clean block declined as statistics, typed when
 * the caller takes runs (no conversion), else as st_values. */
static int deliver_block(const stor_scan_cb *cb, const seg_block *blk, uint32_t j0, uint32_t j1)
{
    if (j1 <= j0) return 0;
    uint32_t n = j1 - j0;
    if (cb->on_run && blk->type != ST_TYPE_STRING) {
        stor_run r;
        memset(&r, 0, sizeof r);
        r.type = blk->type;
        r.n = n;
        r.ts = blk->ts + j0;
        r.f = blk->f ? blk->f + j0 : NULL;
        r.i = blk->i ? blk->i + j0 : NULL;
        r.u = blk->u ? blk->u + j0 : NULL;
        r.b = blk->b ? blk->b + j0 : NULL;
        r.quality = blk->quality ? blk->quality + j0 : NULL;
        return cb->on_run(cb->arg, &r);
    }
    st_value *vals = st_malloc(n * sizeof *vals);
    uint32_t *q = st_malloc(n * sizeof *q);
    int rc = vals && q ? 0 : ST_ENOMEM;
    for (uint32_t j = 0; !rc && j < n; j++) { vals[j] = seg_block_value(blk, j0 + j); q[j] = seg_block_quality(blk, j0 + j); }
    if (!rc) rc = cb->on_points(cb->arg, n, blk->ts + j0, vals, q);
    st_free(vals);
    st_free(q);
    return rc;
}

/* The first point of blk in [j0, j1) at or after t (j1 when none). */
static uint32_t range_lo(const seg_block *blk, uint32_t j0, uint32_t j1, int64_t t)
{
    while (j0 < j1) {
        uint32_t m = j0 + (j1 - j0) / 2;
        if (blk->ts[m] < t) j0 = m + 1;
        else j1 = m;
    }
    return j0;
}

/* A clean block not taken as a whole (declined, or cut by the range
 * [tmin, tmax]), with a page table: each page inside the range offered as
 * statistics in turn, the points in range of the others delivered in their
 * place (the block decoded at the first of them). ST_ECORRUPT: the block
 * is damaged (logged) and nothing more of it is delivered. */
static int deliver_pages(const stor_scan_cb *cb, seg *sg, const seg_column *col, uint32_t b, int64_t tmin,
                         int64_t tmax)
{
    const seg_pages *pg;
    int rc = seg_block_pages(sg, col, b, &pg);
    if (rc) return rc;
    const seg_block *blk = NULL;
    for (uint32_t k = 0; k < pg->n && !rc; k++) {
        const seg_page *p = &pg->pages[k];
        if (p->max_ts < tmin || p->min_ts > tmax) continue;
        if (p->min_ts >= tmin && p->max_ts <= tmax) {
            stor_block_stats bs;
            scan_stats_from_seg(col->type, p->count, p->min_ts, p->max_ts, &p->stats, &bs);
            if (cb->on_block(cb->arg, &bs)) continue;
        }
        if (!blk && (rc = seg_block_read(sg, col, b, &blk)) != 0) break;
        uint32_t e = p->start + p->count;
        uint32_t j0 = range_lo(blk, p->start, e, tmin);
        uint32_t j1 = tmax == INT64_MAX ? e : range_lo(blk, j0, e, tmax + 1);
        rc = deliver_block(cb, blk, j0, j1);
    }
    seg_block_release(blk);
    seg_pages_release(pg);
    return rc;
}

/*
 * Sources: segment blocks of the partitions in range, the frozen head, the
 * active head. Blocks that nothing else overlaps in time are clean (offered
 * as statistics, else delivered as they are); everything else is merged.
 * The common shape — the active head's points all after every other
 * source's — is split: the rest first, then the active head streamed by
 * head_scan (its chunks offered as statistics too).
 */
int stor_scan(stor *s, uint64_t series_id, uint64_t field_id, int64_t tmin, int64_t tmax, const stor_scan_cb *cb)
{
    int rc = 0;
    seg **refs = NULL;
    size_t nrefs = 0;
    cand *cands = NULL;
    size_t nc = 0, capc = 0;
    stor_points merged;
    head_points_init(&merged);
    src_pts sp;
    memset(&sp, 0, sizeof sp);
    st_buf_init(&sp.strs);
    head_points hp[2];
    head_points_init(&hp[0]);
    head_points_init(&hp[1]);

    /* The heads FIRST (see stor_read): references, so they can be read
     * after the lock; priorities above every file's. */
    pthread_rwlock_rdlock(&s->heads_lock);
    head *heads[2] = { s->frozen, s->active };
    for (int h = 0; h < 2; h++) if (heads[h]) head_ref(heads[h]);
    pthread_rwlock_unlock(&s->heads_lock);
    rc = collect_refs(s, series_id, tmin, tmax, &refs, &nrefs);
    /* Candidate blocks. */
    int64_t others_max = INT64_MIN;
    for (size_t i = 0; i < nrefs && !rc; i++) {
        const seg_column *col;
        if (seg_column_find(refs[i], series_id, field_id, &col) != 0) continue;
        for (uint32_t b = seg_column_seek(col, tmin); b < col->nblocks; b++) {
            if (col->blocks[b].min_ts > tmax) break;
            if ((rc = st_grow(&cands, &capc, nc + 1, sizeof *cands, 64))) break;
            cand *x = &cands[nc++];
            x->file = i;
            x->col = col;
            x->block = b;
            x->min_ts = col->blocks[b].min_ts;
            x->max_ts = col->blocks[b].max_ts;
            /* clean unless something overlaps it (below); a block cut by the
             * range is clean too: its points in range are delivered as they
             * are, and its pages inside the range offered */
            x->clean = col->type != ST_TYPE_STRING;
            if (x->max_ts > others_max) others_max = x->max_ts;
        }
    }
    if (!rc && heads[0]) {
        rc = head_read(heads[0], series_id, field_id, tmin, tmax, &hp[0]);
        if (!rc && hp[0].n && hp[0].ts[hp[0].n - 1] > others_max) others_max = hp[0].ts[hp[0].n - 1];
    }
    int64_t head_lo = 0;
    int split = !rc && head_first_ts(heads[1], series_id, field_id, tmin, tmax, &head_lo) &&
                (others_max == INT64_MIN || others_max < head_lo);
    if (!rc && !split) rc = head_read(heads[1], series_id, field_id, tmin, tmax, &hp[1]);
    for (int h = 0; h < 2 && !rc; h++)
        for (size_t j = 0; !rc && j < hp[h].n; j++)
            rc = sp_add(&sp, hp[h].ts[j], hp[h].vals[j], hp[h].quality[j], UINT32_MAX - 1u + (uint32_t)h);
    if (rc) goto out;
    /* A block is clean when nothing else has points in its time span. */
    if (nc > 1) qsort(cands, nc, sizeof *cands, cand_cmp);
    int64_t prefix_max = INT64_MIN;
    for (size_t i = 0; i < nc; i++) {
        cand *x = &cands[i];
        if (i > 0 && prefix_max >= x->min_ts) x->clean = 0;
        if (i + 1 < nc && cands[i + 1].min_ts <= x->max_ts) x->clean = 0;
        if (x->max_ts > prefix_max) prefix_max = x->max_ts;
        if (x->clean && sp.n) {
            /* any head point inside [min_ts, max_ts]? */
            for (size_t j = 0; j < sp.n; j++)
                if (sp.ts[j] >= x->min_ts && sp.ts[j] <= x->max_ts) { x->clean = 0; break; }
        }
    }
    /* Dirty blocks join the heads' points; then one merge. */
    for (size_t i = 0; i < nc && !rc; i++) {
        cand *x = &cands[i];
        if (x->clean) continue;
        const seg_block *blk;
        int brc = seg_block_read(refs[x->file], x->col, x->block, &blk);
        if (brc == ST_ECORRUPT) continue;
        if (brc) { rc = brc; break; }
        for (uint32_t j = 0; j < blk->n && !rc; j++) {
            if (blk->ts[j] < tmin || blk->ts[j] > tmax) continue;
            rc = sp_add(&sp, blk->ts[j], seg_block_value(blk, j), seg_block_quality(blk, j), (uint32_t)x->file);
        }
        seg_block_release(blk);
    }
    if (rc) goto out;
    if ((rc = sp_resolve(&sp, 0, &merged)) != 0) goto out; /* strings stay in sp */
    /* Interleave clean blocks (in time order) with the merged points. */
    size_t pos = 0;
    for (size_t i = 0; i < nc && !rc; i++) {
        cand *x = &cands[i];
        if (!x->clean) continue;
        rc = deliver_until(cb, &merged, &pos, x->min_ts, 0);
        if (rc) break;
        const seg_block_info *bi = &x->col->blocks[x->block];
        if (x->min_ts >= tmin && x->max_ts <= tmax && cb->on_block) {
            stor_block_stats bs;
            scan_stats_from_seg(x->col->type, bi->count, bi->min_ts, bi->max_ts, &bi->stats, &bs);
            if (cb->on_block(cb->arg, &bs)) continue;
        }
        if (cb->on_block && cb->pages && bi->has_pages) {
            rc = deliver_pages(cb, refs[x->file], x->col, x->block, tmin, tmax);
            if (rc == ST_ECORRUPT) rc = 0; /* logged; the block is not served */
            if (rc) break;
            continue;
        }
        const seg_block *blk;
        int brc = seg_block_read(refs[x->file], x->col, x->block, &blk);
        if (brc == ST_ECORRUPT) continue;
        if (brc) { rc = brc; break; }
        rc = deliver_block(cb, blk, range_lo(blk, 0, blk->n, tmin), range_lo(blk, 0, blk->n, tmax == INT64_MAX ? tmax : tmax + 1));
        seg_block_release(blk);
    }
    if (!rc) rc = deliver_until(cb, &merged, &pos, 0, 1);
    /* The active head after everything else. */
    if (!rc && split) rc = head_scan(heads[1], series_id, field_id, tmin, tmax, 1, cb);
out:
    for (size_t i = 0; i < nrefs; i++) seg_unref(refs[i]);
    st_free(refs);
    st_free(cands);
    for (int h = 0; h < 2; h++) head_destroy(heads[h]);
    head_points_fini(&hp[0]);
    head_points_fini(&hp[1]);
    head_points_fini(&merged);
    sp_fini(&sp);
    return rc;
}

/* ---- stor_last_before ---- */

/* The last point <= t inside one file's column: 1 found, 0 none, < 0 error.
 * Strings are copied into strs. */
static int seg_last_before(seg *sg, const seg_column *col, int64_t t, int64_t *ts, st_value *v, uint32_t *q, st_buf *strs)
{
    if (col->nblocks == 0) return 0;
    /* One block is decoded (its quality is needed too); the block index
     * finds it without touching older blocks, and the cache keeps it. */
    uint32_t b = seg_column_seek(col, t); /* first block with max_ts >= t */
    if (b >= col->nblocks) b = col->nblocks - 1;
    else if (col->blocks[b].min_ts > t) {
        if (b == 0) return 0;
        b--;
    }
    const seg_block *blk;
    int rc = seg_block_read(sg, col, b, &blk);
    if (rc) return rc == ST_ECORRUPT ? 0 : rc;
    uint32_t lo = 0, hi = blk->n;
    while (lo < hi) { uint32_t m = (lo + hi) / 2; if (blk->ts[m] <= t) lo = m + 1; else hi = m; }
    int found = 0;
    if (lo > 0) {
        *ts = blk->ts[lo - 1];
        *v = seg_block_value(blk, lo - 1);
        *q = seg_block_quality(blk, lo - 1);
        if (v->type == ST_TYPE_STRING) {
            st_buf_clear(strs);
            if (st_buf_append(strs, v->v.s.ptr, v->v.s.len)) { seg_block_release(blk); return ST_ENOMEM; }
            v->v.s.ptr = strs->ptr ? strs->ptr : "";
        }
        found = 1;
    }
    seg_block_release(blk);
    return found;
}

int stor_last_before(stor *s, uint64_t series_id, uint64_t field_id, int64_t t, stor_points *out)
{
    int rc = 0, found = 0;
    int64_t best_ts = 0;
    st_value best;
    uint32_t best_q = 0;
    st_buf best_str, tmp_str;
    st_buf_init(&best_str);
    st_buf_init(&tmp_str);
    memset(&best, 0, sizeof best);

    /* Heads first: active, then frozen (a tie goes to the newer source). */
    pthread_rwlock_rdlock(&s->heads_lock);
    head *hs[2] = { s->active, s->frozen };
    for (int h = 0; h < 2 && rc >= 0; h++) {
        if (!hs[h]) continue;
        int64_t ts;
        st_value v;
        uint32_t q;
        int r = head_last_before(hs[h], series_id, field_id, t, &ts, &v, &q, &tmp_str);
        if (r < 0) { rc = r; break; }
        if (r == 1 && (!found || ts > best_ts)) {
            best_ts = ts; best = v; best_q = q; found = 1;
            st_buf tswap = best_str; best_str = tmp_str; tmp_str = tswap;
            if (best.type == ST_TYPE_STRING) best.v.s.ptr = best_str.ptr ? best_str.ptr : "";
        }
    }
    pthread_rwlock_unlock(&s->heads_lock);

    /* Segments: newest partition at or before t first; within a partition
     * the newest file first. The first partition that has a point wins over
     * all older ones. */
    sdb d = { 0 };
    if (rc >= 0 && has_parts(s) && sidx_series_get(s->idx, series_id, sdb_cb, &d) == 0) {
        seg **refs = NULL;
        int64_t *pidx = NULL;
        size_t nrefs = 0, cap = 0;
        pthread_rwlock_rdlock(&s->parts_lock);
        for (size_t i = s->nparts; i-- > 0 && rc >= 0;) {
            stor_part *p = &s->parts[i];
            if (p->db_id != d.db || p->index * p->width_ns > t) continue;
            for (size_t k = p->n; k-- > 0;) {
                size_t c = cap;
                if (st_grow(&refs, &c, nrefs + 1, sizeof *refs, 16) ||
                    st_grow(&pidx, &cap, nrefs + 1, sizeof *pidx, 16)) { rc = ST_ENOMEM; break; }
                seg_ref(p->segs[k]);
                pidx[nrefs] = p->index;
                refs[nrefs++] = p->segs[k];
            }
        }
        pthread_rwlock_unlock(&s->parts_lock);
        int seg_found = 0;
        int64_t seg_part = 0;
        for (size_t i = 0; i < nrefs && rc >= 0; i++) {
            if (seg_found && pidx[i] != seg_part) break; /* older partitions cannot win */
            const seg_column *col;
            if (seg_column_find(refs[i], series_id, field_id, &col) != 0) continue;
            int64_t ts = 0;
            st_value v;
            uint32_t q = 0;
            memset(&v, 0, sizeof v);
            int r = seg_last_before(refs[i], col, t, &ts, &v, &q, &tmp_str);
            if (r < 0) { rc = r; break; }
            if (r == 1) {
                if (!seg_found) { seg_found = 1; seg_part = pidx[i]; }
                /* Heads are newer than files; files are visited newest first. */
                if (!found || ts > best_ts) {
                    best_ts = ts; best = v; best_q = q; found = 1;
                    st_buf tswap = best_str; best_str = tmp_str; tmp_str = tswap;
                    if (best.type == ST_TYPE_STRING) best.v.s.ptr = best_str.ptr ? best_str.ptr : "";
                }
            }
        }
        for (size_t i = 0; i < nrefs; i++) seg_unref(refs[i]);
        st_free(refs);
        st_free(pidx);
    }
    if (rc < 0) { st_buf_fini(&best_str); st_buf_fini(&tmp_str); return rc; }
    head_points_fini(out);
    head_points_init(out);
    out->type = found ? best.type : ST_TYPE_NONE;
    if (found) {
        out->ts = st_malloc(sizeof *out->ts);
        out->vals = st_malloc(sizeof *out->vals);
        out->quality = st_malloc(sizeof *out->quality);
        if (!out->ts || !out->vals || !out->quality) { rc = ST_ENOMEM; }
        else {
            out->n = 1;
            out->ts[0] = best_ts;
            out->vals[0] = best;
            out->quality[0] = best_q;
            if (best.type == ST_TYPE_STRING) {
                out->strings = best_str;
                st_buf_init(&best_str);
                out->vals[0].v.s.ptr = out->strings.ptr ? out->strings.ptr : "";
            }
        }
    }
    st_buf_fini(&best_str);
    st_buf_fini(&tmp_str);
    return rc < 0 ? rc : 0;
}
