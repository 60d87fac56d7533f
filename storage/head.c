/*
 * storage/head.c — the in-memory head (see head.h).
 *
 * Invariants:
 *  1. A column's in-order stream holds non-decreasing timestamps, in WAL
 *     order; ooo holds every point that arrived with ts < the stream's last.
 *  2. For equal timestamps, later entries (in stream order, then ooo order)
 *     are newer; reads keep the newest.
 *  3. The column map and each column change only under the write lock.
 */
#include "storage/head.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/hmap.h"
#include "storage/enc.h"

typedef struct ooo_entry {
    int64_t ts;
    uint64_t bits;     /* float/int/uint/bool value bits, or string offset */
    uint32_t len;      /* string length */
    uint32_t quality;
} ooo_entry;

typedef struct column {
    uint64_t series_id, field_id;
    uint8_t type;
    int dropped;
    enc_ts_appender ts;
    union {
        enc_float_appender f;
        enc_int_appender i;
        enc_bool_appender b;
        enc_str_appender s;
    } v;
    enc_quality_appender q;
    int64_t last_ts;
    st_value last_v;   /* the value at last_ts (strings: not kept, last_v.type = NONE) */
    uint32_t last_q;
    ooo_entry *ooo;    /* owned */
    size_t ooo_n, ooo_cap;
    st_buf ooo_str;    /* owned: string bytes of OOO entries */
} column;

/* A series' live columns, in the order its fields first arrived: a line
 * usually carries the same fields in the same order, so its values find
 * their columns by position after one lookup of the series. */
typedef struct hseries {
    uint32_t *cols;        /* owned: indices into head.cols */
    uint32_t n, cap;
} hseries;

struct head {
    pthread_rwlock_t lock;
    st_hmap *map;          /* (series, field) -> column index + 1 */
    column **cols;         /* owned */
    size_t ncols, capcols;
    st_hmap *smap;         /* series -> index into sers + 1 */
    hseries *sers;         /* owned */
    size_t nsers, capsers;
    uint64_t points;
};

int head_create(head **out)
{
    head *h = st_calloc(1, sizeof *h);
    if (!h) return ST_ENOMEM;
    int rc = st_hmap_create(1024, &h->map);
    if (!rc) rc = st_hmap_create(256, &h->smap);
    if (rc) { st_hmap_destroy(h->map); st_free(h); return rc; }
    pthread_rwlock_init(&h->lock, NULL);
    *out = h;
    return 0;
}

static void col_free(column *c)
{
    if (!c) return;
    enc_ts_appender_fini(&c->ts);
    switch (c->type) {
    case ST_TYPE_FLOAT: enc_float_appender_fini(&c->v.f); break;
    case ST_TYPE_INT: enc_int_appender_fini(&c->v.i); break;
    case ST_TYPE_UINT: enc_uint_appender_fini(&c->v.i); break;
    case ST_TYPE_BOOL: enc_bool_appender_fini(&c->v.b); break;
    case ST_TYPE_STRING: enc_str_appender_fini(&c->v.s); break;
    default: break;
    }
    enc_quality_appender_fini(&c->q);
    st_free(c->ooo);
    st_buf_fini(&c->ooo_str);
    st_free(c);
}

void head_destroy(head *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->ncols; i++) col_free(h->cols[i]);
    st_free(h->cols);
    st_hmap_destroy(h->map);
    for (size_t i = 0; i < h->nsers; i++) st_free(h->sers[i].cols);
    st_free(h->sers);
    st_hmap_destroy(h->smap);
    pthread_rwlock_destroy(&h->lock);
    st_free(h);
}

void head_lock_write(head *h) { pthread_rwlock_wrlock(&h->lock); }
void head_unlock_write(head *h) { pthread_rwlock_unlock(&h->lock); }

static void col_key(uint64_t s, uint64_t f, unsigned char k[16])
{
    memcpy(k, &s, 8);
    memcpy(k + 8, &f, 8);
}

static column *col_find(head *h, uint64_t s, uint64_t f)
{
    unsigned char k[16];
    col_key(s, f, k);
    uint64_t v;
    if (!st_hmap_get(h->map, k, sizeof k, &v)) return NULL;
    column *c = h->cols[v - 1];
    return c->dropped ? NULL : c;
}

static int col_create(head *h, uint64_t s, uint64_t f, uint8_t type, column **out)
{
    if (h->ncols == h->capcols) {
        size_t cap = h->capcols ? h->capcols * 2 : 256;
        column **n = st_realloc(h->cols, cap * sizeof *n);
        if (!n) return ST_ENOMEM;
        h->cols = n;
        h->capcols = cap;
    }
    column *c = st_calloc(1, sizeof *c);
    if (!c) return ST_ENOMEM;
    c->series_id = s;
    c->field_id = f;
    c->type = type;
    c->last_ts = INT64_MIN;
    enc_ts_appender_init(&c->ts);
    switch (type) {
    case ST_TYPE_FLOAT: enc_float_appender_init(&c->v.f); break;
    case ST_TYPE_INT: enc_int_appender_init(&c->v.i); break;
    case ST_TYPE_UINT: enc_uint_appender_init(&c->v.i); break;
    case ST_TYPE_BOOL: enc_bool_appender_init(&c->v.b); break;
    case ST_TYPE_STRING: enc_str_appender_init(&c->v.s); break;
    default: st_free(c); return ST_EINVAL;
    }
    enc_quality_appender_init(&c->q);
    st_buf_init(&c->ooo_str);
    unsigned char k[16];
    col_key(s, f, k);
    int rc = st_hmap_put(h->map, k, sizeof k, h->ncols + 1);
    if (rc) { col_free(c); return rc; }
    h->cols[h->ncols++] = c;
    *out = c;
    return 0;
}

static uint64_t value_bits(const st_value *v)
{
    uint64_t b = 0;
    switch (v->type) {
    case ST_TYPE_FLOAT: memcpy(&b, &v->v.f, 8); break;
    case ST_TYPE_INT: b = (uint64_t)v->v.i; break;
    case ST_TYPE_UINT: b = v->v.u; break;
    case ST_TYPE_BOOL: b = v->v.b ? 1 : 0; break;
    default: break;
    }
    return b;
}

/* The series' entry in sers, created on first use. NULL on ST_ENOMEM. */
static hseries *series_get(head *h, uint64_t s)
{
    uint64_t v;
    if (st_hmap_get(h->smap, &s, sizeof s, &v)) return &h->sers[v - 1];
    if (h->nsers == h->capsers) {
        size_t cap = h->capsers ? h->capsers * 2 : 64;
        hseries *n = st_realloc(h->sers, cap * sizeof *n);
        if (!n) return NULL;
        h->sers = n;
        h->capsers = cap;
    }
    if (st_hmap_put(h->smap, &s, sizeof s, h->nsers + 1)) return NULL;
    hseries *e = &h->sers[h->nsers++];
    memset(e, 0, sizeof *e);
    return e;
}

static int series_add_col(hseries *e, size_t idx)
{
    if (e->n == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 16;
        uint32_t *n = st_realloc(e->cols, cap * sizeof *n);
        if (!n) return ST_ENOMEM;
        e->cols = n;
        e->cap = cap;
    }
    e->cols[e->n++] = (uint32_t)idx;
    return 0;
}

/* The column (s, f), created with type when absent; e is s's entry. */
static int col_get(head *h, hseries *e, uint32_t pos, uint64_t s, uint64_t f, uint8_t type, column **out)
{
    if (pos < e->n) {
        column *c = h->cols[e->cols[pos]];
        if (c->field_id == f) { *out = c; return 0; }
    }
    column *c = NULL;
    for (uint32_t k = 0; k < e->n && k < 32 && !c; k++)
        if (h->cols[e->cols[k]]->field_id == f) c = h->cols[e->cols[k]];
    if (!c) c = col_find(h, s, f);
    if (!c) {
        int rc = col_create(h, s, f, type, &c);
        if (rc) return rc;
        /* Out of memory here leaves the column off the list: it is then
         * found by hash (col_find above), never created twice. */
        (void)series_add_col(e, h->ncols - 1);
    }
    *out = c;
    return 0;
}

static int col_append(head *h, column *c, int64_t ts, const st_value *v, uint32_t quality);

int head_append(head *h, uint64_t s, uint64_t f, int64_t ts, const st_value *v, uint32_t quality)
{
    hseries *e = series_get(h, s);
    if (!e) return ST_ENOMEM;
    column *c;
    int rc = col_get(h, e, UINT32_MAX, s, f, v->type, &c);
    if (rc) return rc;
    return col_append(h, c, ts, v, quality);
}

int head_append_line(head *h, uint64_t s, int64_t ts, uint32_t quality, size_t n, const uint64_t *fields,
                     const st_value *vals, size_t *appended)
{
    *appended = 0;
    hseries *e = series_get(h, s);
    if (!e) return ST_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        column *c;
        int rc = col_get(h, e, i < UINT32_MAX ? (uint32_t)i : UINT32_MAX, s, fields[i], vals[i].type, &c);
        if (!rc) rc = col_append(h, c, ts, &vals[i], quality);
        if (rc == ST_ENOMEM) return rc;
        if (rc == 0) (*appended)++;
    }
    return 0;
}

static int col_append(head *h, column *c, int64_t ts, const st_value *v, uint32_t quality)
{
    if (c->type != v->type) return ST_ECONFLICT;
    if (ts < c->last_ts) {
        if (c->ooo_n == c->ooo_cap) {
            size_t cap = c->ooo_cap ? c->ooo_cap * 2 : 16;
            ooo_entry *n = st_realloc(c->ooo, cap * sizeof *n);
            if (!n) return ST_ENOMEM;
            c->ooo = n;
            c->ooo_cap = cap;
        }
        ooo_entry *e = &c->ooo[c->ooo_n];
        e->ts = ts;
        e->quality = quality;
        e->len = 0;
        if (v->type == ST_TYPE_STRING) {
            e->bits = c->ooo_str.len;
            e->len = (uint32_t)v->v.s.len;
            if (st_buf_append(&c->ooo_str, v->v.s.ptr, v->v.s.len)) return ST_ENOMEM;
        } else {
            e->bits = value_bits(v);
        }
        c->ooo_n++;
        h->points++;
        return 0;
    }
    /* In order. Each appender leaves itself unchanged on failure; a failure
     * after the first would desynchronise the streams, so reserve first by
     * appending value then quality then time (the time stream defines count). */
    int rc;
    switch (c->type) {
    case ST_TYPE_FLOAT: rc = enc_float_appender_append(&c->v.f, v->v.f); break;
    case ST_TYPE_INT: rc = enc_int_appender_append(&c->v.i, v->v.i); break;
    case ST_TYPE_UINT: rc = enc_uint_appender_append(&c->v.i, v->v.u); break;
    case ST_TYPE_BOOL: rc = enc_bool_appender_append(&c->v.b, v->v.b); break;
    default: rc = enc_str_appender_append(&c->v.s, v->v.s.ptr, v->v.s.len); break;
    }
    if (rc) return rc;
    rc = enc_quality_appender_append(&c->q, quality);
    if (rc) return rc; /* value stream is one ahead: reads use the ts count */
    rc = enc_ts_appender_append(&c->ts, ts);
    if (rc) return rc;
    c->last_ts = ts;
    c->last_v = *v;
    if (v->type == ST_TYPE_STRING) c->last_v.type = ST_TYPE_NONE;
    c->last_q = quality;
    h->points++;
    return 0;
}

void head_points_init(head_points *p)
{
    memset(p, 0, sizeof *p);
    st_buf_init(&p->strings);
}

void head_points_fini(head_points *p)
{
    st_free(p->ts);
    st_free(p->vals);
    st_free(p->quality);
    st_buf_fini(&p->strings);
    memset(p, 0, sizeof *p);
}

typedef struct ooo_ref {
    int64_t ts;
    size_t idx; /* arrival order */
} ooo_ref;

static int ooo_cmp(const void *a, const void *b)
{
    const ooo_ref *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static st_value ooo_value(const column *c, const ooo_entry *e)
{
    st_value v;
    memset(&v, 0, sizeof v);
    v.type = c->type;
    switch (c->type) {
    case ST_TYPE_FLOAT: memcpy(&v.v.f, &e->bits, 8); break;
    case ST_TYPE_INT: v.v.i = (int64_t)e->bits; break;
    case ST_TYPE_UINT: v.v.u = e->bits; break;
    case ST_TYPE_BOOL: v.v.b = (int)e->bits; break;
    default: v.v.s = (st_slice){ c->ooo_str.ptr ? c->ooo_str.ptr + e->bits : "", e->len }; break;
    }
    return v;
}

/* Decode the first n values of the in-order stream into vals. scratch holds
 * at least n * 16 bytes. */
static int decode_values(const column *c, size_t n, st_value *vals, void *scratch)
{
    int rc;
    switch (c->type) {
    case ST_TYPE_FLOAT: {
        double *d = scratch;
        rc = enc_float_gorilla_decode(c->v.f.buf.ptr, c->v.f.buf.len, n, d);
        for (size_t i = 0; !rc && i < n; i++) { vals[i].type = ST_TYPE_FLOAT; vals[i].v.f = d[i]; }
        return rc;
    }
    case ST_TYPE_INT: {
        int64_t *d = scratch;
        rc = enc_int_decode(c->v.i.buf.ptr, c->v.i.buf.len, n, d);
        for (size_t i = 0; !rc && i < n; i++) { vals[i].type = ST_TYPE_INT; vals[i].v.i = d[i]; }
        return rc;
    }
    case ST_TYPE_UINT: {
        uint64_t *d = scratch;
        rc = enc_uint_decode(c->v.i.buf.ptr, c->v.i.buf.len, n, d);
        for (size_t i = 0; !rc && i < n; i++) { vals[i].type = ST_TYPE_UINT; vals[i].v.u = d[i]; }
        return rc;
    }
    case ST_TYPE_BOOL: {
        uint8_t *d = scratch;
        rc = enc_bool_decode(c->v.b.buf.ptr, c->v.b.buf.len, n, d);
        for (size_t i = 0; !rc && i < n; i++) { vals[i].type = ST_TYPE_BOOL; vals[i].v.b = d[i]; }
        return rc;
    }
    default: {
        st_slice *d = scratch;
        rc = enc_str_decode(c->v.s.buf.ptr, c->v.s.buf.len, n, d);
        for (size_t i = 0; !rc && i < n; i++) { vals[i].type = ST_TYPE_STRING; vals[i].v.s = d[i]; }
        return rc;
    }
    }
}

/*
 * The stream is sorted (non-decreasing), so the range is found by binary
 * search on the decoded timestamps and values are decoded only up to its
 * end. Out-of-order entries in range are sorted among themselves (few) and
 * merged linearly; on equal timestamps the later write wins: stream order,
 * then OOO arrival order (every OOO entry is newer than any stream entry
 * with its timestamp, invariant 2).
 */
int head_read(head *h, uint64_t s, uint64_t f, int64_t tmin, int64_t tmax, head_points *out)
{
    int rc = 0;
    int64_t *sts = NULL, *ts = NULL;
    st_value *svals = NULL, *vals = NULL;
    uint32_t *sq = NULL, *q = NULL;
    void *scratch = NULL;
    ooo_ref *oo = NULL;
    pthread_rwlock_rdlock(&h->lock);
    column *c = col_find(h, s, f);
    if (!c) { out->n = 0; out->type = ST_TYPE_NONE; goto unlock; }
    out->type = c->type;
    size_t n = c->ts.count;
    size_t i0 = 0, i1 = 0;
    if (n) {
        sts = st_malloc(n * sizeof *sts);
        if (!sts) { rc = ST_ENOMEM; goto unlock; }
        if ((rc = enc_ts_decode(c->ts.buf.ptr, c->ts.buf.len, n, sts)) != 0) goto unlock;
        size_t lo = 0, hi = n;
        while (lo < hi) { size_t m = (lo + hi) / 2; if (sts[m] < tmin) lo = m + 1; else hi = m; }
        i0 = lo;
        hi = n;
        while (lo < hi) { size_t m = (lo + hi) / 2; if (sts[m] <= tmax) lo = m + 1; else hi = m; }
        i1 = lo;
    }
    size_t no = 0;
    if (c->ooo_n) {
        oo = st_malloc(c->ooo_n * sizeof *oo);
        if (!oo) { rc = ST_ENOMEM; goto unlock; }
        for (size_t k = 0; k < c->ooo_n; k++)
            if (c->ooo[k].ts >= tmin && c->ooo[k].ts <= tmax) { oo[no].ts = c->ooo[k].ts; oo[no].idx = k; no++; }
        if (no > 1) qsort(oo, no, sizeof *oo, ooo_cmp);
    }
    size_t cap = (i1 - i0) + no;
    if (cap == 0) { out->n = 0; goto unlock; }
    if (i1 > i0) {
        svals = st_malloc(i1 * sizeof *svals);
        sq = st_malloc(i1 * sizeof *sq);
        scratch = st_malloc(i1 * 16);
        if (!svals || !sq || !scratch) { rc = ST_ENOMEM; goto unlock; }
        if ((rc = decode_values(c, i1, svals, scratch)) != 0) goto unlock;
        if ((rc = enc_quality_decode(c->q.buf.ptr, c->q.buf.len, i1, sq)) != 0) goto unlock;
    }
    if (no == 0 && c->type != ST_TYPE_STRING) {
        /* Only the in-order stream (what a flush of data that came in
         * order reads): when no time repeats, the decoded arrays are the
         * answer, moved down to the range's start. */
        size_t x = i0 + 1;
        while (x < i1 && sts[x] != sts[x - 1]) x++;
        if (x >= i1) {
            size_t k = i1 - i0;
            if (i0) {
                memmove(sts, sts + i0, k * sizeof *sts);
                memmove(svals, svals + i0, k * sizeof *svals);
                memmove(sq, sq + i0, k * sizeof *sq);
            }
            st_buf_clear(&out->strings);
            st_free(out->ts);
            st_free(out->vals);
            st_free(out->quality);
            out->ts = sts;
            out->vals = svals;
            out->quality = sq;
            out->n = k;
            sts = NULL;
            svals = NULL;
            sq = NULL;
            goto unlock;
        }
    }
    ts = st_malloc(cap * sizeof *ts);
    vals = st_malloc(cap * sizeof *vals);
    q = st_malloc(cap * sizeof *q);
    if (!ts || !vals || !q) { rc = ST_ENOMEM; goto unlock; }
    /* Merge; equal timestamps collapse onto the newest (the last seen). */
    size_t k = 0, a = i0, b = 0;
    while (a < i1 || b < no) {
        int64_t t;
        st_value v;
        uint32_t qq;
        if (b >= no || (a < i1 && sts[a] <= oo[b].ts)) {
            t = sts[a]; v = svals[a]; qq = sq[a]; a++;
        } else {
            const ooo_entry *e = &c->ooo[oo[b].idx];
            t = e->ts; v = ooo_value(c, e); qq = e->quality; b++;
        }
        if (k && ts[k - 1] == t) k--;
        ts[k] = t; vals[k] = v; q[k] = qq; k++;
    }
    /* Strings point into the column; copy them out (the head moves on). */
    st_buf_clear(&out->strings);
    if (c->type == ST_TYPE_STRING) {
        size_t total = 0;
        for (size_t x = 0; x < k; x++) total += vals[x].v.s.len;
        if ((rc = st_buf_reserve(&out->strings, total)) != 0) goto unlock;
        for (size_t x = 0; x < k; x++) {
            size_t off = out->strings.len;
            st_buf_append(&out->strings, vals[x].v.s.ptr, vals[x].v.s.len);
            vals[x].v.s.ptr = out->strings.ptr + off;
        }
    }
    st_free(out->ts);
    st_free(out->vals);
    st_free(out->quality);
    out->ts = ts;
    out->vals = vals;
    out->quality = q;
    out->n = k;
    ts = NULL;
    vals = NULL;
    q = NULL;
unlock:
    pthread_rwlock_unlock(&h->lock);
    st_free(sts);
    st_free(svals);
    st_free(sq);
    st_free(scratch);
    st_free(oo);
    st_free(ts);
    st_free(vals);
    st_free(q);
    return rc;
}

int head_last_before(head *h, uint64_t s, uint64_t f, int64_t t, int64_t *ts_out, st_value *v_out,
                     uint32_t *q_out, st_buf *strings)
{
    int rc = 0, found = 0;
    int64_t *sts = NULL;
    st_value *svals = NULL;
    uint32_t *sq = NULL;
    void *scratch = NULL;
    int64_t best_ts = 0;
    st_value best;
    uint32_t best_q = 0;
    memset(&best, 0, sizeof best);
    pthread_rwlock_rdlock(&h->lock);
    column *c = col_find(h, s, f);
    if (!c) goto unlock;
    size_t n = c->ts.count;
    if (n && t >= c->last_ts && c->last_v.type != ST_TYPE_NONE) {
        /* The newest in-order point answers it (every OOO entry is older
         * than last_ts): no decoding. */
        best_ts = c->last_ts;
        best = c->last_v;
        best_q = c->last_q;
        found = 1;
        n = 0;
    }
    if (n) {
        sts = st_malloc(n * sizeof *sts);
        if (!sts) { rc = ST_ENOMEM; goto unlock; }
        if ((rc = enc_ts_decode(c->ts.buf.ptr, c->ts.buf.len, n, sts)) != 0) goto unlock;
        size_t lo = 0, hi = n;
        while (lo < hi) { size_t m = (lo + hi) / 2; if (sts[m] <= t) lo = m + 1; else hi = m; }
        if (lo > 0) {
            size_t k = lo; /* values 0..k-1 are needed; the last of them is the answer */
            svals = st_malloc(k * sizeof *svals);
            sq = st_malloc(k * sizeof *sq);
            scratch = st_malloc(k * 16);
            if (!svals || !sq || !scratch) { rc = ST_ENOMEM; goto unlock; }
            if ((rc = decode_values(c, k, svals, scratch)) != 0) goto unlock;
            if ((rc = enc_quality_decode(c->q.buf.ptr, c->q.buf.len, k, sq)) != 0) goto unlock;
            best_ts = sts[k - 1];
            best = svals[k - 1];
            best_q = sq[k - 1];
            found = 1;
        }
    }
    /* OOO entries are newer than stream entries of the same time. */
    for (size_t k = 0; k < c->ooo_n; k++) {
        const ooo_entry *e = &c->ooo[k];
        if (e->ts > t) continue;
        if (!found || e->ts >= best_ts) {
            best_ts = e->ts;
            best = ooo_value(c, e);
            best_q = e->quality;
            found = 1;
        }
    }
    if (found) {
        st_buf_clear(strings);
        if (best.type == ST_TYPE_STRING) {
            if ((rc = st_buf_append(strings, best.v.s.ptr, best.v.s.len)) != 0) goto unlock;
            best.v.s.ptr = strings->ptr ? strings->ptr : "";
        }
        *ts_out = best_ts;
        *v_out = best;
        *q_out = best_q;
    }
unlock:
    pthread_rwlock_unlock(&h->lock);
    st_free(sts);
    st_free(svals);
    st_free(sq);
    st_free(scratch);
    return rc ? rc : found;
}

int head_delete_range(head *h, uint64_t s, int64_t tmin, int64_t tmax)
{
    /* Collect the series' columns, then rebuild each from its kept points. */
    size_t *idx = NULL, n = 0;
    pthread_rwlock_rdlock(&h->lock);
    idx = st_malloc((h->ncols ? h->ncols : 1) * sizeof *idx);
    if (!idx) { pthread_rwlock_unlock(&h->lock); return ST_ENOMEM; }
    for (size_t i = 0; i < h->ncols; i++)
        if (h->cols[i]->series_id == s && !h->cols[i]->dropped) idx[n++] = i;
    pthread_rwlock_unlock(&h->lock);
    int rc = 0;
    head_points keep;
    head_points_init(&keep);
    for (size_t k = 0; k < n && !rc; k++) {
        column *c = h->cols[idx[k]];
        rc = head_read(h, s, c->field_id, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &keep);
        if (rc) break;
        pthread_rwlock_wrlock(&h->lock);
        column *fresh;
        /* A new column replaces the old one in place (same map slot). */
        column *old = h->cols[idx[k]];
        uint8_t type = old->type;
        fresh = st_calloc(1, sizeof *fresh);
        if (!fresh) { pthread_rwlock_unlock(&h->lock); rc = ST_ENOMEM; break; }
        fresh->series_id = old->series_id;
        fresh->field_id = old->field_id;
        fresh->type = type;
        fresh->last_ts = INT64_MIN;
        enc_ts_appender_init(&fresh->ts);
        switch (type) {
        case ST_TYPE_FLOAT: enc_float_appender_init(&fresh->v.f); break;
        case ST_TYPE_INT: enc_int_appender_init(&fresh->v.i); break;
        case ST_TYPE_UINT: enc_uint_appender_init(&fresh->v.i); break;
        case ST_TYPE_BOOL: enc_bool_appender_init(&fresh->v.b); break;
        default: enc_str_appender_init(&fresh->v.s); break;
        }
        enc_quality_appender_init(&fresh->q);
        st_buf_init(&fresh->ooo_str);
        h->cols[idx[k]] = fresh;
        uint64_t removed = old->ts.count + old->ooo_n; /* the kept ones are counted again as appended */
        for (size_t i = 0; i < keep.n && !rc; i++) {
            if (keep.ts[i] >= tmin && keep.ts[i] <= tmax) continue;
            rc = head_append(h, s, fresh->field_id, keep.ts[i], &keep.vals[i], keep.quality[i]);
        }
        h->points -= removed > h->points ? h->points : removed;
        pthread_rwlock_unlock(&h->lock);
        col_free(old);
    }
    head_points_fini(&keep);
    st_free(idx);
    return rc;
}

void head_drop_series(head *h, uint64_t s)
{
    pthread_rwlock_wrlock(&h->lock);
    for (size_t i = 0; i < h->ncols; i++)
        if (h->cols[i]->series_id == s) h->cols[i]->dropped = 1;
    uint64_t v;
    if (st_hmap_get(h->smap, &s, sizeof s, &v)) h->sers[v - 1].n = 0; /* later writes start new columns */
    pthread_rwlock_unlock(&h->lock);
}

static int pair_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : (x[1] > y[1]);
}

int head_columns(head *h, uint64_t **pairs, size_t *n)
{
    pthread_rwlock_rdlock(&h->lock);
    size_t k = 0;
    uint64_t *p = st_malloc((h->ncols ? h->ncols : 1) * 2 * sizeof *p);
    if (!p) { pthread_rwlock_unlock(&h->lock); return ST_ENOMEM; }
    for (size_t i = 0; i < h->ncols; i++) {
        column *c = h->cols[i];
        if (c->dropped || (c->ts.count == 0 && c->ooo_n == 0)) continue;
        p[2 * k] = c->series_id;
        p[2 * k + 1] = c->field_id;
        k++;
    }
    pthread_rwlock_unlock(&h->lock);
    qsort(p, k, 2 * sizeof *p, pair_cmp);
    *pairs = p;
    *n = k;
    return 0;
}

size_t head_bytes(head *h)
{
    pthread_rwlock_rdlock(&h->lock);
    size_t b = st_hmap_bytes(h->map) + h->capcols * sizeof(column *) + st_hmap_bytes(h->smap) +
               h->capsers * sizeof(hseries);
    for (size_t i = 0; i < h->nsers; i++) b += h->sers[i].cap * sizeof(uint32_t);
    for (size_t i = 0; i < h->ncols; i++) {
        column *c = h->cols[i];
        b += sizeof *c + c->ts.buf.cap + c->q.buf.cap + c->ooo_cap * sizeof(ooo_entry) + c->ooo_str.cap;
        switch (c->type) {
        case ST_TYPE_FLOAT: b += c->v.f.buf.cap; break;
        case ST_TYPE_INT: case ST_TYPE_UINT: b += c->v.i.buf.cap; break;
        case ST_TYPE_BOOL: b += c->v.b.buf.cap; break;
        default: b += c->v.s.buf.cap; break;
        }
    }
    pthread_rwlock_unlock(&h->lock);
    return b;
}

uint64_t head_points_count(head *h)
{
    pthread_rwlock_rdlock(&h->lock);
    uint64_t n = h->points;
    pthread_rwlock_unlock(&h->lock);
    return n;
}
