/*
 * query/fastagg.c — streaming windowed aggregates (see fastagg.h for the
 * semantics). One accumulator per window; each series of the group is
 * scanned once with stor_scan and folded straight into the accumulators,
 * in the group's series order, so the combining rules across series are
 * the tie rules (first: earlier series; last: later series; min/max:
 * earlier time, then earlier series).
 *
 * Points arrive per series in time order, in runs; a run is cut at window
 * boundaries (galloping search) and each slice is folded by a tight loop
 * specialised by type. A block offered as statistics is taken when it lies
 * inside one window and the aggregates asked for can be answered exactly:
 * INT/UINT statistics arrive as doubles, so they are taken only when
 * max(|min|, |max|) * count < 2^52 (then sum, min and max are exact and the
 * sum did not wrap).
 *
 * Threads: the caller's; state lives in the caller's qfa_result.
 */
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/alloc.h"
#include "common/err.h"
#include "common/num.h"
#include "query/fastagg.h"

typedef struct acc {
    uint64_t count;
    double dsum;                 /* FLOAT sum; mean's sum for every numeric type */
    uint64_t isum;               /* INT/UINT sum, wrapping */
    st_value min, max, first, last;
    int64_t min_ts, max_ts, first_ts, last_ts;
    int64_t min_hi, max_hi;      /* QFA_SEL_TS: a pending block's span [min_ts, min_hi] */
    uint32_t min_s, max_s, first_s, last_s;
    uint8_t min_pend, max_pend;
    size_t first_off, last_off;  /* STRING: offsets of the copies in r->strs */
} acc;

typedef struct run {
    stor *s;
    qfa_result *r;
    acc *a;
    const int64_t *b;            /* boundaries or NULL */
    size_t nw;
    uint8_t type;
    unsigned aggs, flags;
    int use_stats, numeric;
    uint32_t si;                 /* the series being scanned */
    uint64_t sid, field;
    uint64_t values;             /* values of this series */
    size_t last_len;             /* points in the last window cut by a search */
    size_t last_w;               /* the window of the last block offered (blocks come in time order) */
    int any_pend;
    int err;                     /* ST_ENOMEM while copying a string */
} run;

#define MINMAX_AGGS (QFA_MIN | QFA_MAX | QFA_SPREAD)
#define NUMERIC_AGGS (QFA_SUM | QFA_MEAN | QFA_MIN | QFA_MAX | QFA_SPREAD)

void qfa_result_init(qfa_result *r)
{
    memset(r, 0, sizeof *r);
    st_buf_init(&r->strs);
    stor_points_init(&r->scratch);
}

void qfa_result_fini(qfa_result *r)
{
    st_free(r->win);
    st_free(r->acc);
    st_buf_fini(&r->strs);
    stor_points_fini(&r->scratch);
    st_free(r->conv);
    memset(r, 0, sizeof *r);
}

int qfa_supported(unsigned aggs, st_type type)
{
    if (!aggs) aggs = QFA_ALL_AGGS;
    if (aggs & ~QFA_ALL_AGGS) return 0;
    switch (type) {
    case ST_TYPE_FLOAT: case ST_TYPE_INT: case ST_TYPE_UINT: return 1;
    case ST_TYPE_BOOL: case ST_TYPE_STRING: return (aggs & NUMERIC_AGGS) == 0;
    default: return 0;
    }
}

static int reserve(qfa_result *r, size_t nw)
{
    if (nw <= r->cap) return 0;
    qfa_win *w = st_malloc(nw * sizeof *w);
    acc *a = st_malloc(nw * sizeof *a);
    if (!w || !a) { st_free(w); st_free(a); return ST_ENOMEM; }
    st_free(r->win);
    st_free(r->acc);
    r->win = w;
    r->acc = a;
    r->cap = nw;
    return 0;
}

/* ---- value comparisons (one column type) ---- */

/* Numeric values travel as their 8 payload bytes (v.f, v.i or v.u read as
 * v.u) and are stored into an accumulator field by field. An st_value built
 * on the stack and copied whole makes the copy's 16-byte load wait on the
 * narrower stores that built it (a store-forwarding stall), which was most
 * of on_block's time. */
/* v is a better minimum than cur: NaN loses to any number (seg_stats). */
static inline int min_better(uint8_t ty, uint64_t v, const st_value *cur)
{
    switch (ty) {
    case ST_TYPE_FLOAT: return isnan(cur->v.f) ? !isnan(st_bits_double(v)) : st_bits_double(v) < cur->v.f;
    case ST_TYPE_INT: return (int64_t)v < cur->v.i;
    default: return v < cur->v.u;
    }
}

static inline int max_better(uint8_t ty, uint64_t v, const st_value *cur)
{
    switch (ty) {
    case ST_TYPE_FLOAT: return isnan(cur->v.f) ? !isnan(st_bits_double(v)) : st_bits_double(v) > cur->v.f;
    case ST_TYPE_INT: return (int64_t)v > cur->v.i;
    default: return v > cur->v.u;
    }
}

static inline int num_eq(uint8_t ty, uint64_t a, const st_value *b)
{
    switch (ty) {
    case ST_TYPE_FLOAT: return st_bits_double(a) == b->v.f || (isnan(st_bits_double(a)) && isnan(b->v.f));
    default: return a == b->v.u; /* INT and UINT: the same bits */
    }
}

/* ---- folding ---- */

/* A min/max candidate (payload bits v) from series x->si at ts (a block
 * when pend). On a tie the earlier point wins; the caller keeps pending
 * blocks out of ties. */
static inline void put_min(run *x, acc *a, uint64_t v, int64_t ts, int pend, int64_t hi)
{
    if (a->count == 0 || min_better(x->type, v, &a->min) || (num_eq(x->type, v, &a->min) && ts < a->min_ts)) {
        a->min.type = x->type; a->min.v.u = v;
        a->min_ts = ts; a->min_s = x->si; a->min_pend = (uint8_t)pend; a->min_hi = hi;
        if (pend) x->any_pend = 1;
    }
}

static inline void put_max(run *x, acc *a, uint64_t v, int64_t ts, int pend, int64_t hi)
{
    if (a->count == 0 || max_better(x->type, v, &a->max) || (num_eq(x->type, v, &a->max) && ts < a->max_ts)) {
        a->max.type = x->type; a->max.v.u = v;
        a->max_ts = ts; a->max_s = x->si; a->max_pend = (uint8_t)pend; a->max_hi = hi;
        if (pend) x->any_pend = 1;
    }
}

static inline size_t str_copy(run *x, st_value v)
{
    size_t off = x->r->strs.len;
    if (st_buf_append(&x->r->strs, v.v.s.ptr ? v.v.s.ptr : "", v.v.s.len)) x->err = ST_ENOMEM;
    return off;
}

/* first/last: whether a point at t replaces the window's (before count
 * grows), and the bookkeeping once its value is in a->first / a->last. */
static inline int first_wins(const run *x, const acc *a, int64_t t)
{
    return (x->aggs & QFA_FIRST) && (a->count == 0 || t < a->first_ts);
}

static inline int last_wins(const run *x, const acc *a, int64_t t)
{
    return (x->aggs & QFA_LAST) && (a->count == 0 || t >= a->last_ts);
}

static inline void took_first(run *x, acc *a, int64_t t)
{
    a->first_ts = t;
    a->first_s = x->si;
    if (a->first.type == ST_TYPE_STRING) a->first_off = str_copy(x, a->first);
}

static inline void took_last(run *x, acc *a, int64_t t)
{
    a->last_ts = t;
    a->last_s = x->si;
    if (a->last.type == ST_TYPE_STRING) a->last_off = str_copy(x, a->last);
}

/* first/last of a block (values made long before: copied whole). */
static inline void put_first_last(run *x, acc *a, const st_value *vf, int64_t tf, const st_value *vl, int64_t tl)
{
    if (first_wins(x, a, tf)) { a->first = *vf; took_first(x, a, tf); }
    if (last_wins(x, a, tl)) { a->last = *vl; took_last(x, a, tl); }
}

/* A run of one series' points, typed as storage/scan.h's stor_run (a
 * STRING run keeps its st_values in sv). */
typedef struct tview {
    const int64_t *ts;
    const double *f;
    const int64_t *i;
    const uint64_t *u;
    const uint8_t *b;
    const st_value *sv;
} tview;

/* Point j of a run into *d, field by field (see "value comparisons"). */
static inline void tv_put(st_value *d, uint8_t ty, const tview *v, size_t j)
{
    switch (ty) {
    case ST_TYPE_FLOAT: d->type = ty; d->v.f = v->f[j]; break;
    case ST_TYPE_INT: d->type = ty; d->v.i = v->i[j]; break;
    case ST_TYPE_UINT: d->type = ty; d->v.u = v->u[j]; break;
    case ST_TYPE_BOOL: d->type = ty; d->v.b = v->b[j]; break;
    default: *d = v->sv[j]; break;
    }
}

/* The payload bits of numeric point j. */
static inline uint64_t tv_bits(uint8_t ty, const tview *v, size_t j)
{
    switch (ty) {
    case ST_TYPE_FLOAT: return st_double_bits(v->f[j]);
    case ST_TYPE_INT: return (uint64_t)v->i[j];
    default: return v->u[j];
    }
}

/* The smallest and the largest of f[0..n) (n >= 1, f[0] not NaN; NaNs
 * never win). With SSE2, two lanes of min/max pairs each: MINPD/MAXPD return
 * their second operand when either is NaN or both are equal, so a lane
 * keeps its first extreme and never takes a NaN. The equal values of other
 * lanes (only -0.0 vs 0.0 differ in bits) are settled by the caller. */
static void fmin_max(const double *f, size_t n, double *mn_out, double *mx_out)
{
    double mn = f[0], mx = mn;
    size_t j = 1;
#if defined(__SSE2__)
    if (n >= 5) {
        __m128d mn0 = _mm_set1_pd(mn), mn1 = mn0, mx0 = mn0, mx1 = mn0;
        for (; j + 4 <= n; j += 4) {
            __m128d p = _mm_loadu_pd(f + j), q = _mm_loadu_pd(f + j + 2);
            mn0 = _mm_min_pd(p, mn0);
            mn1 = _mm_min_pd(q, mn1);
            mx0 = _mm_max_pd(p, mx0);
            mx1 = _mm_max_pd(q, mx1);
        }
        double l[8];
        _mm_storeu_pd(l, mn0);
        _mm_storeu_pd(l + 2, mn1);
        _mm_storeu_pd(l + 4, mx0);
        _mm_storeu_pd(l + 6, mx1);
        for (int r = 0; r < 4; r++) {
            if (l[r] < mn) mn = l[r];
            if (l[4 + r] > mx) mx = l[4 + r];
        }
    }
#endif
    for (; j < n; j++) {
        if (f[j] < mn) mn = f[j];
        if (f[j] > mx) mx = f[j];
    }
    *mn_out = mn;
    *mx_out = mx;
}

/* The first index of f[0..n) holding a value equal to v (there is one). */
static size_t first_eq(const double *f, size_t n, double v)
{
    size_t j = 0;
    while (j + 1 < n && !(f[j] == v)) j++;
    return j;
}

/* Fold points [o, o + n) of one window (n >= 1; time order, one series). */
static void fold_slice(run *x, acc *a, const tview *v, size_t o, size_t n)
{
    const int64_t *ts = v->ts + o;
    if (first_wins(x, a, ts[0])) { tv_put(&a->first, x->type, v, o); took_first(x, a, ts[0]); }
    if (last_wins(x, a, ts[n - 1])) { tv_put(&a->last, x->type, v, o + n - 1); took_last(x, a, ts[n - 1]); }
    int sums = (x->aggs & (QFA_SUM | QFA_MEAN)) != 0, minmax = (x->aggs & MINMAX_AGGS) != 0;
    size_t mi = 0, xi = 0;
    if (!x->numeric) {
        /* count, first, last only */
    } else if (x->type == ST_TYPE_FLOAT) {
        const double *f = v->f + o;
        if (sums) {
            /* summed as a block's statistics are (seg_fsum) */
            double sm = seg_fsum(f, n);
            a->dsum = a->count ? a->dsum + sm : sm;
        }
        if (minmax) {
            /* NaN is ignored unless every value is NaN (then the first) */
            size_t j0 = 0;
            while (j0 < n && isnan(f[j0])) j0++;
            if (j0 < n) {
                double mn, mx;
                fmin_max(f + j0, n - j0, &mn, &mx);
                /* The point's index, as a left-to-right scan keeping the
                 * earlier of equal values finds it, where it shows: its time
                 * for QFA_SEL_TS, the sign of a zero. Else the slice's first
                 * time stands for it (fastagg.h) and the value is exact. */
                int exact = (x->flags & QFA_SEL_TS) != 0;
                mi = j0 + (exact || mn == 0 ? first_eq(f + j0, n - j0, mn) : 0);
                xi = j0 + (exact || mx == 0 ? first_eq(f + j0, n - j0, mx) : 0);
                put_min(x, a, st_double_bits(exact || mn == 0 ? f[mi] : mn), ts[mi], 0, 0);
                put_max(x, a, st_double_bits(exact || mx == 0 ? f[xi] : mx), ts[xi], 0, 0);
                minmax = 0; /* done */
            }
        }
    } else if (x->type == ST_TYPE_INT) {
        const int64_t *d = v->i + o;
        if (sums) {
            uint64_t is = 0;
            double ds = (double)d[0];
            for (size_t j = 0; j < n; j++) is += (uint64_t)d[j];
            for (size_t j = 1; j < n; j++) ds += (double)d[j];
            a->isum += is;
            a->dsum = a->count ? a->dsum + ds : ds;
        }
        if (minmax) {
            int64_t mn = d[0], mx = mn;
            for (size_t j = 1; j < n; j++) {
                if (d[j] < mn) { mn = d[j]; mi = j; }
                if (d[j] > mx) { mx = d[j]; xi = j; }
            }
        }
    } else {
        const uint64_t *d = v->u + o;
        if (sums) {
            uint64_t is = 0;
            double ds = (double)d[0];
            for (size_t j = 0; j < n; j++) is += d[j];
            for (size_t j = 1; j < n; j++) ds += (double)d[j];
            a->isum += is;
            a->dsum = a->count ? a->dsum + ds : ds;
        }
        if (minmax) {
            uint64_t mn = d[0], mx = mn;
            for (size_t j = 1; j < n; j++) {
                if (d[j] < mn) { mn = d[j]; mi = j; }
                if (d[j] > mx) { mx = d[j]; xi = j; }
            }
        }
    }
    if (x->numeric && minmax) {
        put_min(x, a, tv_bits(x->type, v, o + mi), ts[mi], 0, 0);
        put_max(x, a, tv_bits(x->type, v, o + xi), ts[xi], 0, 0);
    }
    a->count += n;
}

/* First index in [i, n) with ts >= limit (galloping: windows are often a
 * few points wide, sometimes thousands). */
static size_t gallop(const int64_t *ts, size_t i, size_t n, int64_t limit)
{
    if (i >= n || ts[i] >= limit) return i;
    size_t lo = i, step = 1; /* ts[lo] < limit */
    size_t hi = i + 1;
    while (hi < n && ts[hi] < limit) {
        lo = hi;
        step *= 2;
        hi = lo + step;
    }
    if (hi > n) hi = n;
    /* ts[lo] < limit, answer in (lo, hi] */
    lo++;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < limit) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Window of t: [0, nw) or nw when outside. */
static size_t win_of(const run *x, int64_t t)
{
    if (!x->b) return 0;
    if (t < x->b[0] || t >= x->b[x->nw]) return x->nw;
    size_t lo = 0, hi = x->nw; /* b[lo] <= t < b[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->b[mid] <= t) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Points [o, o + n) of one window; q NULL: all Good. */
static void fold_window(run *x, acc *a, const tview *v, const uint32_t *q, size_t o, size_t n)
{
    if (!(x->flags & QFA_GOOD_ONLY) || !q) {
        fold_slice(x, a, v, o, n);
        x->values += n;
        x->r->values_points += n;
        return;
    }
    size_t i = o, e = o + n;
    while (i < e) {
        while (i < e && q[i] != ST_QUALITY_GOOD) i++;
        size_t j = i;
        while (j < e && q[j] == ST_QUALITY_GOOD) j++;
        if (j > i) {
            fold_slice(x, a, v, i, j - i);
            x->values += j - i;
            x->r->values_points += j - i;
        }
        i = j;
    }
}

/* The end of the window starting at i (first index with ts >= limit):
 * regular data puts it where the previous window's length says, checked
 * in O(1); else a galloping search. */
static size_t window_end(run *x, const int64_t *ts, size_t i, size_t n, int64_t limit)
{
    size_t e = i + x->last_len;
    if (x->last_len && e <= n && ts[e - 1] < limit && (e == n || ts[e] >= limit)) return e;
    e = gallop(ts, i, n, limit);
    x->last_len = e - i;
    return e;
}

/* A run of n points cut at window boundaries. */
static int fold_run(run *x, const tview *v, const uint32_t *q, size_t n)
{
    const int64_t *ts = v->ts;
    if (!x->b) {
        fold_window(x, &x->a[0], v, q, 0, n);
        return x->err;
    }
    size_t i = 0;
    while (i < n) {
        size_t w = win_of(x, ts[i]);
        if (w == x->nw) {
            if (ts[i] >= x->b[x->nw]) break;
            i = gallop(ts, i, n, x->b[0]);
            continue;
        }
        size_t end = window_end(x, ts, i, n, x->b[w + 1]);
        fold_window(x, &x->a[w], v, q, i, end - i);
        i = end;
        /* the next point is most often in the next window */
        while (i < n && w + 1 < x->nw && ts[i] >= x->b[w + 1] && ts[i] < x->b[w + 2]) {
            w++;
            end = window_end(x, ts, i, n, x->b[w + 1]);
            fold_window(x, &x->a[w], v, q, i, end - i);
            i = end;
        }
    }
    return x->err;
}

static int on_run(void *arg, const stor_run *r)
{
    run *x = arg;
    if (r->n == 0 || r->type != x->type) return 0; /* one column holds one type */
    tview v = { r->ts, r->f, r->i, r->u, r->b, NULL };
    return fold_run(x, &v, r->quality, r->n);
}

/* Merged points arrive as st_values: typed into r->conv first (strings
 * stay st_values). */
static int on_points(void *arg, size_t n, const int64_t *ts, const st_value *vals, const uint32_t *quality)
{
    run *x = arg;
    if (n == 0 || vals[0].type != x->type) return 0;
    tview v;
    memset(&v, 0, sizeof v);
    v.ts = ts;
    if (x->type == ST_TYPE_STRING) {
        v.sv = vals;
    } else {
        qfa_result *r = x->r;
        if (n > r->conv_cap) {
            void *c = st_realloc(r->conv, n * sizeof(uint64_t));
            if (!c) return ST_ENOMEM;
            r->conv = c;
            r->conv_cap = n;
        }
        switch (x->type) {
        case ST_TYPE_FLOAT: { double *d = r->conv; for (size_t j = 0; j < n; j++) d[j] = vals[j].v.f; v.f = d; break; }
        case ST_TYPE_INT: { int64_t *d = r->conv; for (size_t j = 0; j < n; j++) d[j] = vals[j].v.i; v.i = d; break; }
        case ST_TYPE_UINT: { uint64_t *d = r->conv; for (size_t j = 0; j < n; j++) d[j] = vals[j].v.u; v.u = d; break; }
        default: { uint8_t *d = r->conv; for (size_t j = 0; j < n; j++) d[j] = (uint8_t)(vals[j].v.b != 0); v.b = d; break; }
        }
    }
    return fold_run(x, &v, quality, n);
}

#define EXACT_LIMIT 4503599627370496.0 /* 2^52 */

/* A statistic (a double) as the payload bits of the column's type. */
static uint64_t stat_num(uint8_t ty, double d)
{
    if (ty == ST_TYPE_FLOAT) return st_double_bits(d);
    if (ty == ST_TYPE_INT) return (uint64_t)(int64_t)d;
    return (uint64_t)d;
}

/* win_of for a block: most often in the window of the block before, or the next. */
static size_t block_win(run *x, int64_t t)
{
    size_t w = x->last_w;
    if (x->b && w + 1 < x->nw && t >= x->b[w + 1]) w++;
    if (!x->b || (w < x->nw && t >= x->b[w] && t < x->b[w + 1])) return x->last_w = w;
    w = win_of(x, t);
    if (w < x->nw) x->last_w = w;
    return w;
}

static int on_block(void *arg, const stor_block_stats *bs)
{
    run *x = arg;
    if (!x->use_stats || (x->flags & QFA_GOOD_ONLY) || bs->type != x->type || bs->count == 0) return 0;
    size_t w = block_win(x, bs->min_ts);
    if (w == x->nw || (x->b && bs->max_ts >= x->b[w + 1])) return 0;
    acc *a = &x->a[w];
    int need_num = x->numeric && (x->aggs & NUMERIC_AGGS);
    if (need_num && x->type != ST_TYPE_FLOAT) {
        double m = fmax(fabs(bs->min), fabs(bs->max));
        if (!(m * (double)bs->count < EXACT_LIMIT)) return 0;
    }
    uint64_t mn = 0, mx = 0;
    if (need_num) {
        mn = stat_num(x->type, bs->min);
        mx = stat_num(x->type, bs->max);
        if ((x->flags & QFA_SEL_TS) && a->count && (x->aggs & MINMAX_AGGS)) {
            /* a tie with another series' point inside the block's span
             * needs the point's time: take the points */
            if (a->min_s != x->si && num_eq(x->type, mn, &a->min)) return 0;
            if (a->max_s != x->si && num_eq(x->type, mx, &a->max)) return 0;
        }
    }
    put_first_last(x, a, &bs->first, bs->min_ts, &bs->last, bs->max_ts);
    if (need_num) {
        if (x->aggs & (QFA_SUM | QFA_MEAN)) {
            a->dsum = a->count ? a->dsum + bs->sum : bs->sum;
            if (x->type == ST_TYPE_INT) a->isum += (uint64_t)(int64_t)bs->sum;
            else if (x->type == ST_TYPE_UINT) a->isum += (uint64_t)bs->sum;
        }
        if (x->aggs & MINMAX_AGGS) {
            int pend = (x->flags & QFA_SEL_TS) != 0;
            put_min(x, a, mn, bs->min_ts, pend, bs->max_ts);
            put_max(x, a, mx, bs->min_ts, pend, bs->max_ts);
        }
    }
    a->count += bs->count;
    x->values += bs->count;
    x->r->values_stats += bs->count;
    x->r->blocks_stats++;
    return 1;
}

/* QFA_SEL_TS: find the points behind min/max candidates taken from blocks
 * of the series just scanned: the block's first point equal to the value.
 * (If a write replaced that block meanwhile, the block's first time stays.) */
static int resolve_pending(run *x)
{
    stor_points *p = &x->r->scratch;
    for (size_t w = 0; w < x->nw; w++) {
        acc *a = &x->a[w];
        for (int k = 0; k < 2; k++) {
            uint8_t *pend = k ? &a->max_pend : &a->min_pend;
            if (!*pend) continue;
            int64_t *t = k ? &a->max_ts : &a->min_ts;
            st_value want = k ? a->max : a->min;
            int rc = stor_read(x->s, x->sid, x->field, *t, k ? a->max_hi : a->min_hi, p);
            if (rc) return rc;
            for (size_t j = 0; j < p->n; j++) {
                if (p->vals[j].type == x->type && num_eq(x->type, p->vals[j].v.u, &want)) { *t = p->ts[j]; break; }
            }
            *pend = 0;
        }
    }
    x->any_pend = 0;
    return 0;
}

/* Only the aggregates asked for are written (fastagg.h), field by field
 * rather than the window cleared first: a 208-byte memset per window cost
 * more than the window's aggregation, and so did copying every field. */
static void output(run *x)
{
    qfa_result *r = x->r;
    unsigned g = x->aggs;
    int sums = x->numeric && (g & (QFA_SUM | QFA_MEAN)), spread = x->numeric && (g & QFA_SPREAD);
    int mins = (g & (QFA_MIN | QFA_SPREAD)) != 0, maxs = (g & (QFA_MAX | QFA_SPREAD)) != 0;
    for (size_t w = 0; w < x->nw; w++) {
        const acc *a = &x->a[w];
        qfa_win *o = &r->win[w];
        o->count = a->count;
        if (!a->count) continue; /* the rest is meaningless (fastagg.h) */
        if (sums) {
            o->sum.type = x->type;
            if (x->type == ST_TYPE_FLOAT) o->sum.v.f = a->dsum;
            else o->sum.v.u = a->isum; /* INT: the same bits as v.i */
            o->mean = (g & QFA_MEAN) ? a->dsum / (double)a->count : 0;
        }
        if (spread) {
            o->spread.type = x->type;
            if (x->type == ST_TYPE_FLOAT) o->spread.v.f = a->max.v.f - a->min.v.f;
            else o->spread.v.u = a->max.v.u - a->min.v.u; /* wrapping, INT too */
        }
        if (mins) {
            o->min = a->min;
            o->min_ts = a->min_ts;
            o->min_series = a->min_s;
        }
        if (maxs) {
            o->max = a->max;
            o->max_ts = a->max_ts;
            o->max_series = a->max_s;
        }
        if (g & QFA_FIRST) {
            o->first = a->first;
            o->first_ts = a->first_ts;
            o->first_series = a->first_s;
            if (x->type == ST_TYPE_STRING) o->first.v.s.ptr = r->strs.ptr + a->first_off;
        }
        if (g & QFA_LAST) {
            o->last = a->last;
            o->last_ts = a->last_ts;
            o->last_series = a->last_s;
            if (x->type == ST_TYPE_STRING) o->last.v.s.ptr = r->strs.ptr + a->last_off;
        }
    }
}

static int begin(const qfa_opts *opts, const qfa_query *q, qfa_result *r, run *x)
{
    unsigned aggs = opts && opts->aggs ? opts->aggs : QFA_ALL_AGGS;
    if (q->nwindows == 0 || (!q->bounds_ns && q->nwindows != 1) || (q->nseries && !q->series)) return ST_EINVAL;
    if (!qfa_supported(aggs, (st_type)q->type)) return ST_EINVAL;
    if (q->nseries > UINT32_MAX) return ST_EINVAL;
    int rc = reserve(r, q->nwindows);
    if (rc) return rc;
    /* A window's fields are set by its first value (count 0), and output
     * reads only those of the aggregates asked: cleared here are only the
     * count, the integer sum (added to without looking at count) and the
     * pending marks resolve_pending looks at in every window. A memset of
     * the whole accumulators (208 bytes a window) cost more than folding a
     * window's block statistics. */
    for (size_t w = 0; w < q->nwindows; w++) {
        acc *a = (acc *)r->acc + w;
        a->count = a->isum = 0;
        a->min_pend = a->max_pend = 0;
    }
    st_buf_clear(&r->strs);
    r->nwindows = q->nwindows;
    r->values_points = r->values_stats = r->blocks_stats = 0;
    memset(x, 0, sizeof *x);
    x->r = r;
    x->a = r->acc;
    x->b = q->bounds_ns;
    x->nw = q->nwindows;
    x->type = q->type;
    x->aggs = aggs;
    x->flags = opts ? opts->flags : 0;
    x->use_stats = opts ? opts->use_stats : 0;
    x->numeric = q->type == ST_TYPE_FLOAT || q->type == ST_TYPE_INT || q->type == ST_TYPE_UINT;
    x->field = q->field_id;
    return 0;
}

int qfa_run(stor *s, const qfa_opts *opts, const qfa_query *q, qfa_result *r)
{
    run x;
    int rc = begin(opts, q, r, &x);
    if (rc) return rc;
    x.s = s;
    int64_t lo = q->tmin_ns, hi = q->tmax_ns;
    if (q->bounds_ns) {
        if (q->bounds_ns[0] > lo) lo = q->bounds_ns[0];
        if (q->bounds_ns[q->nwindows] - 1 < hi) hi = q->bounds_ns[q->nwindows] - 1;
    }
    stor_scan_cb cb = { on_block, on_points, on_run, &x, x.use_stats && !(x.flags & QFA_GOOD_ONLY) };
    for (size_t i = 0; i < q->nseries && lo <= hi; i++) {
        x.si = (uint32_t)i;
        x.sid = q->series[i];
        x.values = 0;
        rc = stor_scan(s, x.sid, q->field_id, lo, hi, &cb);
        if (!rc) rc = x.err;
        if (!rc && x.any_pend) rc = resolve_pending(&x);
        if (!rc && opts && opts->check) rc = opts->check(opts->check_arg, x.values);
        if (rc) return rc;
    }
    output(&x);
    return 0;
}

int qfa_last(stor *s, const qfa_opts *opts, const qfa_query *q, qfa_result *r)
{
    if (opts && (opts->flags & QFA_GOOD_ONLY)) return ST_EUNSUPPORTED;
    qfa_query one = *q;
    one.bounds_ns = NULL;
    one.nwindows = 1;
    qfa_opts o;
    memset(&o, 0, sizeof o);
    o.aggs = QFA_COUNT | QFA_FIRST | QFA_LAST;
    run x;
    int rc = begin(&o, &one, r, &x);
    if (rc) return rc;
    x.s = s;
    acc *a = &x.a[0];
    stor_points *p = &r->scratch;
    for (size_t i = 0; i < q->nseries; i++) {
        x.si = (uint32_t)i;
        rc = stor_last_before(s, q->series[i], q->field_id, q->tmax_ns, p);
        if (rc) return rc;
        uint64_t got = p->n == 1 && p->ts[0] >= q->tmin_ns && p->vals[0].type == q->type;
        if (got && (a->count == 0 || p->ts[0] >= a->last_ts)) {
            a->count = 0; /* the newest replaces: put_first_last takes it as the only point */
            put_first_last(&x, a, &p->vals[0], p->ts[0], &p->vals[0], p->ts[0]);
            if (x.err) return x.err;
            a->count = 1;
            a->min = a->max = a->last;
            a->min_ts = a->max_ts = a->last_ts;
            a->min_s = a->max_s = a->last_s;
        }
        if (opts && opts->check && (rc = opts->check(opts->check_arg, got))) return rc;
    }
    x.numeric = 0;
    output(&x);
    if (r->win[0].count) {
        r->win[0].min = r->win[0].max = r->win[0].last;
    }
    return 0;
}
