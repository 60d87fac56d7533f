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
    if (p->n + more <= p->cap) return 0;
    size_t cap = p->cap ? p->cap : 256;
    while (cap < p->n + more) cap *= 2;
    int64_t *ts = st_realloc(p->ts, cap * sizeof *ts);
    if (!ts) return ST_ENOMEM;
    p->ts = ts;
    st_value *v = st_realloc(p->vals, cap * sizeof *v);
    if (!v) return ST_ENOMEM;
    p->vals = v;
    uint32_t *q = st_realloc(p->q, cap * sizeof *q);
    if (!q) return ST_ENOMEM;
    p->q = q;
    uint32_t *pr = st_realloc(p->prio, cap * sizeof *pr);
    if (!pr) return ST_ENOMEM;
    p->prio = pr;
    size_t *so = st_realloc(p->soff, cap * sizeof *so);
    if (!so) return ST_ENOMEM;
    p->soff = so;
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

int stor_read(stor *s, uint64_t series_id, uint64_t field_id, int64_t tmin, int64_t tmax, stor_points *out)
{
    int rc = 0;
    src_pts sp;
    memset(&sp, 0, sizeof sp);
    st_buf_init(&sp.strs);
    uint32_t prio = 0;
    int sorted = 1;               /* sources so far are in time order end to end */
    int64_t last_ts = INT64_MIN;

    /* 1. segments of the partitions in range, oldest file first */
    sdb d = { 0 };
    if (s->nparts && sidx_series_get(s->idx, series_id, sdb_cb, &d) == 0) {
        seg **refs = NULL;
        size_t nrefs = 0, cap = 0;
        pthread_rwlock_rdlock(&s->parts_lock);
        for (size_t i = 0; i < s->nparts && !rc; i++) {
            stor_part *p = &s->parts[i];
            if (p->db_id != d.db) continue;
            int64_t pmin = p->index * p->width_ns, pmax = pmin + (p->width_ns - 1);
            if (pmax < tmin || pmin > tmax) continue;
            for (size_t k = 0; k < p->n; k++) {
                if (nrefs == cap) {
                    size_t nc = cap ? cap * 2 : 16;
                    seg **nr = st_realloc(refs, nc * sizeof *nr);
                    if (!nr) { rc = ST_ENOMEM; break; }
                    refs = nr;
                    cap = nc;
                }
                seg_ref(p->segs[k]);
                refs[nrefs++] = p->segs[k];
            }
        }
        pthread_rwlock_unlock(&s->parts_lock);
        /* Partitions are in time order, files within one in write order. */
        for (size_t i = 0; i < nrefs && !rc; i++) {
            const seg_column *col;
            if (seg_column_find(refs[i], series_id, field_id, &col) != 0) continue;
            size_t before = sp.n;
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
            if (sp.n > before) {
                if (sp.ts[before] <= last_ts) sorted = 0;
                last_ts = sp.ts[sp.n - 1];
            }
            prio++;
        }
        for (size_t i = 0; i < nrefs; i++) seg_unref(refs[i]);
        st_free(refs);
    }

    /* 2-3. the heads, frozen then active */
    if (!rc) {
        head_points hp;
        head_points_init(&hp);
        pthread_rwlock_rdlock(&s->heads_lock);
        head *hs[2] = { s->frozen, s->active };
        for (int h = 0; h < 2 && !rc; h++) {
            if (!hs[h]) continue;
            rc = head_read(hs[h], series_id, field_id, tmin, tmax, &hp);
            if (rc || hp.n == 0) continue;
            if (sp.n == 0 && h == 1 && !s->frozen) {
                /* The common case: everything is in the active head. */
                pthread_rwlock_unlock(&s->heads_lock);
                head_points_fini(out);
                *out = hp;
                sp_fini(&sp);
                return 0;
            }
            size_t before = sp.n;
            for (size_t j = 0; j < hp.n && !rc; j++) rc = sp_add(&sp, hp.ts[j], hp.vals[j], hp.quality[j], prio);
            if (sp.n > before) {
                if (sp.ts[before] <= last_ts) sorted = 0;
                last_ts = sp.ts[sp.n - 1];
            }
            prio++;
        }
        pthread_rwlock_unlock(&s->heads_lock);
        head_points_fini(&hp);
    }
    if (rc) { sp_fini(&sp); return rc; }

    /* Merge: order by (ts, source), keep the last of each timestamp. */
    size_t n = sp.n;
    size_t *ord = NULL;
    if (!sorted && n > 1) {
        ord = st_malloc(n * sizeof *ord);
        if (!ord) { sp_fini(&sp); return ST_ENOMEM; }
        for (size_t i = 0; i < n; i++) ord[i] = i;
        ord_ctx oc = { sp.ts, sp.prio };
        qsort_r(ord, n, sizeof *ord, ord_cmp, &oc);
    }
    int64_t *ts = st_malloc((n ? n : 1) * sizeof *ts);
    st_value *vals = st_malloc((n ? n : 1) * sizeof *vals);
    uint32_t *q = st_malloc((n ? n : 1) * sizeof *q);
    if (!ts || !vals || !q) {
        st_free(ts); st_free(vals); st_free(q); st_free(ord); sp_fini(&sp);
        return ST_ENOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t x = ord ? ord[i] : i;
        size_t nx = i + 1 < n ? (ord ? ord[i + 1] : i + 1) : (size_t)-1;
        if (nx != (size_t)-1 && sp.ts[nx] == sp.ts[x]) continue;
        ts[m] = sp.ts[x];
        vals[m] = sp.vals[x];
        q[m] = sp.q[x];
        if (sp.type == ST_TYPE_STRING) vals[m].v.s.ptr = (const char *)(uintptr_t)sp.soff[x];
        m++;
    }
    st_free(ord);
    head_points_fini(out);
    head_points_init(out);
    out->n = m;
    out->type = n ? sp.type : ST_TYPE_NONE;
    out->ts = ts;
    out->vals = vals;
    out->quality = q;
    if (sp.type == ST_TYPE_STRING) {
        out->strings = sp.strs; /* take the bytes */
        st_buf_init(&sp.strs);
        for (size_t i = 0; i < m; i++)
            vals[i].v.s.ptr = (out->strings.ptr ? out->strings.ptr : "") + (uintptr_t)vals[i].v.s.ptr;
    }
    sp_fini(&sp);
    return 0;
}
