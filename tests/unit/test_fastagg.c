/*
 * tests/unit/test_fastagg.c — query/fastagg on a real stor in a temporary
 * directory: values from formulas, flushed to segment files (so blocks
 * carry statistics), more points and overlapping rewrites in a second file
 * and in the head (last write wins: overlapped blocks must not be answered
 * from statistics), windows smaller than a block, larger, misaligned and
 * clipped; every aggregate compared with a naive computation over stor_read
 * results, with statistics on and off, plus small hand-computed cases.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "query/fastagg.h"
#include "storage/stor.h"
#include "tests/unit/unit.h"

/* ---- a stor on a temporary directory ---- */

static char dirbuf[256];

static stor *open_tmp(uint64_t *db)
{
    if (!unit_tmpdir(dirbuf, sizeof dirbuf, "fastagg")) return NULL;
    stor_opts o;
    memset(&o, 0, sizeof o);
    o.data_dir = dirbuf;
    o.fsync_mode = STOR_FSYNC_NEVER;
    o.wal_segment_bytes = 1 << 20;
    stor *s;
    if (stor_open(&o, &s)) return NULL;
    if (stor_db_create(s, st_slice_cstr("db"), db)) { stor_close(s); return NULL; }
    return s;
}

static void close_tmp(stor *s)
{
    stor_close(s);
    char cmd[sizeof dirbuf + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dirbuf);
    if (system(cmd) != 0) { /* best effort */ }
}

static const char *host_name(int h)
{
    static const char *names[] = { "h0", "h1", "h2", "h3" };
    return names[h];
}

static int add(stor_batch *b, int h, const char *field, int64_t t, st_value v, uint32_t q)
{
    sidx_tag tag = { st_slice_cstr("host"), st_slice_cstr(host_name(h)) };
    stor_field_in f = { st_slice_cstr(field), v };
    char msg[128];
    uint32_t dropped;
    return stor_batch_add(b, st_slice_cstr("m"), &tag.key, &tag.val, 1, &f, 1, t, q, msg, sizeof msg, &dropped);
}

static uint64_t series_id(stor *s, uint64_t db, int h)
{
    sidx_tag tag = { st_slice_cstr("host"), st_slice_cstr(host_name(h)) };
    uint64_t sid = 0;
    unsigned fl;
    if (sidx_series_resolve(stor_index(s), db, st_slice_cstr("m"), &tag, 1, &sid, &fl)) return 0;
    return sid;
}

static uint64_t field_id(stor *s, uint64_t db, const char *f, st_type ty)
{
    uint64_t fid = 0;
    unsigned fl;
    st_type ex;
    if (sidx_field_resolve(stor_index(s), db, st_slice_cstr("m"), st_slice_cstr(f), ty, &fid, &fl, &ex)) return 0;
    return fid;
}

/* ---- the data set ---- */

#define NS 3
#define NPTS 3000
#define T0 1600000000000000000LL
#define STEP 1000000000LL          /* 1 s */
static char strs_s[50][8];

/* h0 and h1 share timestamps (ties); h2 is shifted by half a step. */
static int64_t ts_of(int h, int k) { return T0 + (int64_t)k * STEP + (h == 2 ? STEP / 2 : 0); }

/* Dyadic values (sums exact in any order), many ties, a few NaN. */
static double fval(int h, int k, int gen)
{
    if (k % 997 == 5 && h != 1) return NAN;
    if (h == 0 && k >= 2900 && k < 2920) return NAN; /* a NaN run */
    return ((k * 7 + h * 13) % 101 - 50) * 0.25 + gen * 1000.0;
}

/* Field r: dyadic like f but without a period, so its blocks do not
 * shrink to nearly nothing and carry page tables. */
static double rval(int h, int k, int gen)
{
    uint64_t x = (uint64_t)k * 0x9E3779B97F4A7C15ull + (uint64_t)h * 0xD1B54A32D192ED03ull + (uint64_t)gen;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (double)(int64_t)(x % 4001) * 0.25 - 500.0;
}

/* h2 holds integers near 2^60: statistics cannot be exact, sums wrap. */
static int64_t ival(int h, int k, int gen)
{
    if (h == 2) return ((int64_t)1 << 60) + k * 3 + gen;
    return (k * 31 + h * 7) % 1000 - 500 + gen * 5000;
}

static st_value F(double d) { st_value v; memset(&v, 0, sizeof v); v.type = ST_TYPE_FLOAT; v.v.f = d; return v; }
static st_value I(int64_t i) { st_value v; memset(&v, 0, sizeof v); v.type = ST_TYPE_INT; v.v.i = i; return v; }
static st_value B(int b) { st_value v; memset(&v, 0, sizeof v); v.type = ST_TYPE_BOOL; v.v.b = b; return v; }
static st_value S(const char *s) { st_value v; memset(&v, 0, sizeof v); v.type = ST_TYPE_STRING; v.v.s = st_slice_cstr(s); return v; }

static int write_range(stor *s, uint64_t db, int h, int k0, int k1, int gen)
{
    stor_batch *b;
    int rc = stor_batch_create(s, db, &b);
    if (rc) return rc;
    for (int k = k0; k < k1 && !rc; k++) {
        int64_t t = ts_of(h, k);
        rc = add(b, h, "f", t, F(fval(h, k, gen)), 0);
        if (!rc) rc = add(b, h, "r", t, F(rval(h, k, gen)), 0);
        if (!rc) rc = add(b, h, "i", t, I(ival(h, k, gen)), 0);
        if (!rc) rc = add(b, h, "b", t, B((k + gen) % 3 == 0), 0);
        if (!rc) rc = add(b, h, "s", t, S(strs_s[(k + gen * 7) % 50]), 0);
    }
    if (rc) { stor_batch_destroy(b); return rc; }
    return stor_write_wait(b);
}

/* Segment file 1: everything; file 2: h0 rewritten in [500, 520) and
 * [1030, 1040); head: h1 rewritten in [1500, 1600) (new maxima), h2 in
 * [2000, 2010), new points [3000, 3200) for every series. */
static stor *build(uint64_t *db)
{
    for (int i = 0; i < 50; i++) snprintf(strs_s[i], sizeof strs_s[i], "v%02d", i);
    stor *s = open_tmp(db);
    if (!s) return NULL;
    int rc = 0;
    for (int h = 0; h < NS && !rc; h++) rc = write_range(s, *db, h, 0, NPTS, 0);
    if (!rc) rc = stor_flush(s);
    if (!rc) rc = write_range(s, *db, 0, 500, 520, 1);
    if (!rc) rc = write_range(s, *db, 0, 1030, 1040, 2);
    if (!rc) rc = stor_flush(s);
    if (!rc) rc = write_range(s, *db, 1, 1500, 1600, 1);
    if (!rc) rc = write_range(s, *db, 2, 2000, 2010, 3);
    for (int h = 0; h < NS && !rc; h++) rc = write_range(s, *db, h, NPTS, NPTS + 200, 0);
    if (rc) { close_tmp(s); return NULL; }
    return s;
}

/* ---- the naive answer: stor_read, then every point of a window ---- */

static int is_num(uint8_t t) { return t == ST_TYPE_FLOAT || t == ST_TYPE_INT || t == ST_TYPE_UINT; }

/* a is a better minimum (dir 1: maximum) than b; NaN loses to numbers */
static int better(uint8_t t, int dir, st_value a, st_value b)
{
    if (t == ST_TYPE_FLOAT) return isnan(b.v.f) ? !isnan(a.v.f) : dir ? a.v.f > b.v.f : a.v.f < b.v.f;
    if (t == ST_TYPE_UINT) return dir ? a.v.u > b.v.u : a.v.u < b.v.u;
    return dir ? a.v.i > b.v.i : a.v.i < b.v.i;
}

static int same(uint8_t t, st_value a, st_value b)
{
    switch (t) {
    case ST_TYPE_FLOAT: return memcmp(&a.v.f, &b.v.f, sizeof a.v.f) == 0 || (isnan(a.v.f) && isnan(b.v.f));
    case ST_TYPE_INT: case ST_TYPE_UINT: return a.v.u == b.v.u;
    case ST_TYPE_BOOL: return !a.v.b == !b.v.b;
    default: return a.v.s.len == b.v.s.len && memcmp(a.v.s.ptr, b.v.s.ptr, a.v.s.len) == 0;
    }
}

static int numeq(uint8_t t, st_value a, st_value b)
{
    if (t == ST_TYPE_FLOAT) return a.v.f == b.v.f || (isnan(a.v.f) && isnan(b.v.f));
    return a.v.i == b.v.i;
}

/* Window w of q: [lo, hi] inclusive. */
static void win_span(const qfa_query *q, size_t w, int64_t *lo, int64_t *hi)
{
    if (!q->bounds_ns) { *lo = q->tmin_ns; *hi = q->tmax_ns; return; }
    *lo = q->bounds_ns[w] > q->tmin_ns ? q->bounds_ns[w] : q->tmin_ns;
    *hi = q->bounds_ns[w + 1] - 1 < q->tmax_ns ? q->bounds_ns[w + 1] - 1 : q->tmax_ns;
}

/* p: the points read (strings of out point into them; the caller fini's) */
static void naive(stor *s, const qfa_query *q, qfa_win *out, stor_points *p)
{
    uint8_t t = q->type;
    for (size_t i = 0; i < q->nseries; i++) {
        stor_points_init(&p[i]);
        if (stor_read(s, q->series[i], q->field_id, q->tmin_ns, q->tmax_ns, &p[i])) printf("stor_read failed\n");
    }
    for (size_t w = 0; w < q->nwindows; w++) {
        qfa_win *o = &out[w];
        memset(o, 0, sizeof *o);
        int64_t lo, hi;
        win_span(q, w, &lo, &hi);
        double dsum = 0;
        uint64_t isum = 0;
        for (size_t i = 0; i < q->nseries; i++) {
            for (size_t j = 0; j < p[i].n; j++) {
                int64_t ts = p[i].ts[j];
                st_value v = p[i].vals[j];
                if (ts < lo || ts > hi) continue;
                if (o->count == 0 || ts < o->first_ts) { o->first = v; o->first_ts = ts; o->first_series = (uint32_t)i; }
                if (o->count == 0 || ts >= o->last_ts) { o->last = v; o->last_ts = ts; o->last_series = (uint32_t)i; }
                if (is_num(t)) {
                    dsum += t == ST_TYPE_FLOAT ? v.v.f : t == ST_TYPE_INT ? (double)v.v.i : (double)v.v.u;
                    isum += v.v.u;
                    if (o->count == 0 || better(t, 0, v, o->min) || (numeq(t, v, o->min) && ts < o->min_ts)) {
                        o->min = v; o->min_ts = ts; o->min_series = (uint32_t)i;
                    }
                    if (o->count == 0 || better(t, 1, v, o->max) || (numeq(t, v, o->max) && ts < o->max_ts)) {
                        o->max = v; o->max_ts = ts; o->max_series = (uint32_t)i;
                    }
                }
                o->count++;
            }
        }
        if (o->count && is_num(t)) {
            o->sum.type = t;
            if (t == ST_TYPE_FLOAT) o->sum.v.f = dsum;
            else o->sum.v.u = isum;
            o->mean = dsum / (double)o->count;
            o->spread.type = t;
            if (t == ST_TYPE_FLOAT) o->spread.v.f = o->max.v.f - o->min.v.f;
            else o->spread.v.u = o->max.v.u - o->min.v.u;
        }
    }
}

/* Compare a run with the naive answer; exact_mean: the mean must match
 * bit for bit (float sums are exact on this data; big integers are not). */
static int compare(const qfa_query *q, const qfa_win *got, const qfa_win *want, int sel_ts, int exact_mean)
{
    int bad = 0;
    uint8_t t = q->type;
    for (size_t w = 0; w < q->nwindows && bad < 3; w++) {
        const qfa_win *g = &got[w], *e = &want[w];
        int ok = g->count == e->count;
        if (ok && e->count) {
            ok &= same(t, g->first, e->first) && g->first_ts == e->first_ts && g->first_series == e->first_series;
            ok &= same(t, g->last, e->last) && g->last_ts == e->last_ts && g->last_series == e->last_series;
            if (is_num(t)) {
                ok &= same(t, g->sum, e->sum) && same(t, g->min, e->min) && same(t, g->max, e->max);
                ok &= same(t, g->spread, e->spread);
                if (exact_mean) ok &= same(ST_TYPE_FLOAT, F(g->mean), F(e->mean));
                else ok &= fabs(g->mean - e->mean) <= 1e-12 * fabs(e->mean);
                if (sel_ts) {
                    ok &= g->min_ts == e->min_ts && g->min_series == e->min_series;
                    ok &= g->max_ts == e->max_ts && g->max_series == e->max_series;
                }
            }
        }
        if (!ok) {
            bad++;
            printf("  window %zu type %d: count %llu/%llu first_ts %lld/%lld min %g/%g min_ts %lld/%lld ser %u/%u "
                   "max %g/%g max_ts %lld/%lld sum %g/%g\n",
                   w, t, (unsigned long long)g->count, (unsigned long long)e->count, (long long)g->first_ts,
                   (long long)e->first_ts, t == ST_TYPE_FLOAT ? g->min.v.f : (double)g->min.v.i,
                   t == ST_TYPE_FLOAT ? e->min.v.f : (double)e->min.v.i, (long long)g->min_ts, (long long)e->min_ts,
                   g->min_series, e->min_series, t == ST_TYPE_FLOAT ? g->max.v.f : (double)g->max.v.i,
                   t == ST_TYPE_FLOAT ? e->max.v.f : (double)e->max.v.i, (long long)g->max_ts, (long long)e->max_ts,
                   t == ST_TYPE_FLOAT ? g->sum.v.f : (double)g->sum.v.i, t == ST_TYPE_FLOAT ? e->sum.v.f : (double)e->sum.v.i);
        }
    }
    return bad == 0;
}

/* Windows of width_s seconds from T0 + off_s over [lo, hi). */
static size_t make_bounds(int64_t *b, size_t cap, int64_t start, int64_t width, int64_t end)
{
    size_t n = 0;
    for (int64_t t = start; n < cap; t += width) {
        b[n++] = t;
        if (t >= end) break;
    }
    return n - 1;
}

static uint64_t g_stats_blocks;

/* Every field type, statistics on and off, with and without QFA_SEL_TS. */
static void check_all(stor *s, uint64_t db, qfa_query *q, const char *label)
{
    static const struct { const char *name; st_type t; } fields[] = {
        { "f", ST_TYPE_FLOAT }, { "r", ST_TYPE_FLOAT }, { "i", ST_TYPE_INT }, { "b", ST_TYPE_BOOL },
        { "s", ST_TYPE_STRING } };
    uint64_t sids[NS];
    for (int h = 0; h < NS; h++) sids[h] = series_id(s, db, h);
    q->series = sids;
    qfa_result r;
    qfa_result_init(&r);
    qfa_win *want = malloc(q->nwindows * sizeof *want);
    qfa_win *off = malloc(q->nwindows * sizeof *off);
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        q->type = (uint8_t)fields[f].t;
        q->field_id = field_id(s, db, fields[f].name, fields[f].t);
        stor_points p[NS];
        naive(s, q, want, p);
        unsigned aggs = is_num(q->type) ? 0 : QFA_COUNT | QFA_FIRST | QFA_LAST;
        for (int sel = 0; sel < 2; sel++) {
            uint64_t pts_off = 0;
            for (int st = 0; st < 2; st++) {
                qfa_opts o = { aggs, sel ? QFA_SEL_TS : 0u, st, NULL, NULL };
                int rc = qfa_run(s, &o, q, &r);
                CHECK_EQ_INT(rc, 0);
                CHECK_EQ_U64(r.nwindows, q->nwindows);
                if (rc) continue;
                int ok = compare(q, r.win, want, sel, q->type != ST_TYPE_INT);
                if (!ok) printf("  ^ %s field %s sel_ts %d use_stats %d\n", label, fields[f].name, sel, st);
                CHECK(ok);
                if (st == 0) {
                    CHECK_EQ_U64(r.blocks_stats, 0);
                    pts_off = r.values_points;
                    memcpy(off, r.win, q->nwindows * sizeof *off);
                } else {
                    g_stats_blocks += r.blocks_stats;
                    CHECK_EQ_U64(r.values_points + r.values_stats, pts_off);
                    /* bit for bit the same as without statistics (first/last
                     * strings compared through the naive answer above) */
                    for (size_t w = 0; w < q->nwindows && is_num(q->type); w++) {
                        if (r.win[w].count == 0) continue; /* nothing else is meaningful (fastagg.h) */
                        CHECK(same(ST_TYPE_FLOAT, F(r.win[w].mean), F(off[w].mean)));
                        CHECK(same(q->type, r.win[w].sum, off[w].sum));
                    }
                }
            }
        }
        for (size_t i = 0; i < q->nseries; i++) stor_points_fini(&p[i]);
    }
    free(want);
    free(off);
    qfa_result_fini(&r);
}

TEST(windows_match_naive)
{
    uint64_t db;
    stor *s = build(&db);
    REQUIRE(s);
    int64_t end = ts_of(2, NPTS + 200);
    static int64_t b[4096];
    qfa_query q;
    memset(&q, 0, sizeof q);
    q.nseries = NS;
    g_stats_blocks = 0;

    /* no GROUP BY time: the whole range, then a clipped range */
    q.tmin_ns = ST_TIME_MIN_NS; q.tmax_ns = ST_TIME_MAX_NS; q.bounds_ns = NULL; q.nwindows = 1;
    check_all(s, db, &q, "whole");
    uint64_t whole_stats = g_stats_blocks;
    CHECK(whole_stats > 0);
    q.tmin_ns = ts_of(0, 700) + 3; q.tmax_ns = ts_of(0, 2500);
    check_all(s, db, &q, "clipped");

    /* windows smaller than a block (7 s), larger (3000 s), misaligned */
    q.tmin_ns = ST_TIME_MIN_NS; q.tmax_ns = ST_TIME_MAX_NS;
    q.bounds_ns = b;
    q.nwindows = make_bounds(b, 4096, T0, 7 * STEP, end);
    check_all(s, db, &q, "7s");
    q.nwindows = make_bounds(b, 4096, T0 - 100 * STEP, 3000 * STEP, end);
    check_all(s, db, &q, "3000s");
    q.nwindows = make_bounds(b, 4096, T0 + 17 * STEP + 3, 1234 * STEP, end);
    check_all(s, db, &q, "1234s+17");
    g_stats_blocks = 0; /* [-17 s, 2483 s) holds the clean blocks [0 s, 1023 s] of h1 and h2 */
    q.nwindows = make_bounds(b, 4096, T0 - 17 * STEP + 3, 2500 * STEP, end);
    check_all(s, db, &q, "2500s-17");
    CHECK(g_stats_blocks > 0);
    /* bounds inside the range, range inside the bounds */
    q.nwindows = make_bounds(b, 4096, T0 + 300 * STEP, 600 * STEP, T0 + 2700 * STEP);
    check_all(s, db, &q, "inner bounds");
    q.tmin_ns = T0 + 333 * STEP; q.tmax_ns = T0 + 2222 * STEP + 1;
    q.nwindows = make_bounds(b, 4096, T0, 2048 * STEP, end);
    check_all(s, db, &q, "inner range");
    /* Merged into one file (a block of 3000 points per column, 50 min): 10-
     * minute windows on the UTC grid (T0 is 400 s past a boundary) over the
     * file only (the head's points start at 3000 s). No block fits in one,
     * so statistics can only come from the blocks' page tables
     * (storage/seg_format.h): h0's r has one (its rewrites merged). */
    REQUIRE(stor_compact(s) == 0);
    g_stats_blocks = 0;
    q.tmin_ns = ST_TIME_MIN_NS; q.tmax_ns = ts_of(0, 3000) - 1;
    q.nwindows = make_bounds(b, 4096, T0 - 400 * STEP, 600 * STEP, end);
    check_all(s, db, &q, "10m pages");
    CHECK(g_stats_blocks > 0);
    close_tmp(s);
}

/* Overlapping rewrites: a block overlapped by newer points is not taken
 * from statistics; the new maxima (h1, +1000) are found with statistics. */
TEST(last_write_wins_with_stats)
{
    uint64_t db;
    stor *s = build(&db);
    REQUIRE(s);
    uint64_t sids[NS];
    for (int h = 0; h < NS; h++) sids[h] = series_id(s, db, h);
    qfa_query q;
    memset(&q, 0, sizeof q);
    q.series = sids + 1;
    q.nseries = 1;
    q.type = ST_TYPE_FLOAT;
    q.field_id = field_id(s, db, "f", ST_TYPE_FLOAT);
    q.tmin_ns = ST_TIME_MIN_NS;
    q.tmax_ns = ST_TIME_MAX_NS;
    q.nwindows = 1;
    qfa_result r;
    qfa_result_init(&r);
    qfa_opts o = { QFA_MAX | QFA_COUNT, QFA_SEL_TS, 1, NULL, NULL };
    REQUIRE(qfa_run(s, &o, &q, &r) == 0);
    CHECK_EQ_U64(r.win[0].count, NPTS + 200);
    /* h1 never NaN; max of gen 1 over k in [1500,1600): (k*7+13)%101 max 100 -> 12.5 + 1000 */
    double best = -1e9;
    int64_t bts = 0;
    for (int k = 1500; k < 1600; k++) if (fval(1, k, 1) > best) { best = fval(1, k, 1); bts = ts_of(1, k); }
    CHECK(best == 1012.5);
    CHECK(r.win[0].max.v.f == best);
    CHECK_EQ_INT(r.win[0].max_ts, bts);
    CHECK(r.blocks_stats > 0);
    CHECK(r.values_points >= 1024); /* at least the overlapped block's points */
    qfa_result_fini(&r);
    close_tmp(s);
}

/* Hand-computed: two series, three windows of 10 s. */
TEST(hand_computed)
{
    uint64_t db;
    stor *s = open_tmp(&db);
    REQUIRE(s);
    stor_batch *b;
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    /* h0: t=1 1.5, t=5 -2, t=12 4, t=25 NaN; h1: t=1 3, t=12 4, t=13 -1 (uncertain), t=29 8 */
    CHECK_EQ_INT(add(b, 0, "f", 1, F(1.5), 0), 0);
    CHECK_EQ_INT(add(b, 0, "f", 5, F(-2), 0), 0);
    CHECK_EQ_INT(add(b, 0, "f", 12, F(4), 0), 0);
    CHECK_EQ_INT(add(b, 0, "f", 25, F(NAN), 0), 0);
    CHECK_EQ_INT(add(b, 1, "f", 1, F(3), 0), 0);
    CHECK_EQ_INT(add(b, 1, "f", 12, F(4), 0), 0);
    CHECK_EQ_INT(add(b, 1, "f", 13, F(-1), ST_QUALITY_UNCERTAIN), 0);
    CHECK_EQ_INT(add(b, 1, "f", 29, F(8), 0), 0);
    REQUIRE(stor_write_wait(b) == 0);
    REQUIRE(stor_flush(s) == 0);
    uint64_t sids[2] = { series_id(s, db, 0), series_id(s, db, 1) };
    int64_t bnd[4] = { 0, 10, 20, 30 };
    qfa_query q = { field_id(s, db, "f", ST_TYPE_FLOAT), ST_TYPE_FLOAT, sids, 2, 0, 100, bnd, 3 };
    qfa_result r;
    qfa_result_init(&r);
    for (int st = 0; st < 2; st++) {
        qfa_opts o = { 0, QFA_SEL_TS, st, NULL, NULL };
        REQUIRE(qfa_run(s, &o, &q, &r) == 0);
        const qfa_win *w = r.win;
        CHECK_EQ_U64(w[0].count, 3);
        CHECK(w[0].sum.v.f == 2.5);
        CHECK(w[0].mean == 2.5 / 3);
        CHECK(w[0].min.v.f == -2 && w[0].min_ts == 5 && w[0].min_series == 0);
        CHECK(w[0].max.v.f == 3 && w[0].max_ts == 1 && w[0].max_series == 1);
        CHECK(w[0].spread.v.f == 5);
        CHECK(w[0].first.v.f == 1.5 && w[0].first_ts == 1 && w[0].first_series == 0);
        CHECK(w[0].last.v.f == -2 && w[0].last_ts == 5);
        CHECK_EQ_U64(w[1].count, 3);
        CHECK(w[1].sum.v.f == 7);
        CHECK(w[1].max.v.f == 4 && w[1].max_ts == 12 && w[1].max_series == 0); /* tie: earlier series */
        CHECK(w[1].min.v.f == -1 && w[1].min_ts == 13);
        CHECK(w[1].first.v.f == 4 && w[1].first_series == 0);
        CHECK(w[1].last.v.f == -1 && w[1].last_ts == 13);
        CHECK_EQ_U64(w[2].count, 2);
        CHECK(isnan(w[2].sum.v.f));                           /* sum propagates NaN */
        CHECK(w[2].min.v.f == 8 && w[2].max.v.f == 8);       /* min/max ignore it */
        CHECK(w[2].spread.v.f == 0);
        CHECK(isnan(w[2].first.v.f) && w[2].last.v.f == 8);
        /* good only: the uncertain -1 at t=13 is left out */
        o.flags |= QFA_GOOD_ONLY;
        REQUIRE(qfa_run(s, &o, &q, &r) == 0);
        CHECK_EQ_U64(r.win[1].count, 2);
        CHECK(r.win[1].min.v.f == 4 && r.win[1].last.v.f == 4 && r.win[1].last_ts == 12);
        CHECK(r.win[1].last_series == 1);                     /* tie: later series */
        CHECK_EQ_U64(r.blocks_stats, 0);
    }
    /* all NaN: min = max = the first NaN */
    int64_t bnd2[2] = { 20, 29 };
    q.bounds_ns = bnd2;
    q.nwindows = 1;
    qfa_opts o = { QFA_MIN | QFA_MAX, 0, 1, NULL, NULL };
    REQUIRE(qfa_run(s, &o, &q, &r) == 0);
    CHECK_EQ_U64(r.win[0].count, 1);
    CHECK(isnan(r.win[0].min.v.f) && isnan(r.win[0].max.v.f));
    /* unsupported and invalid */
    q.type = ST_TYPE_STRING;
    CHECK_EQ_INT(qfa_run(s, &o, &q, &r), ST_EINVAL);
    q.type = ST_TYPE_FLOAT;
    q.bounds_ns = NULL;
    q.nwindows = 2;
    CHECK_EQ_INT(qfa_run(s, &o, &q, &r), ST_EINVAL);
    CHECK(qfa_supported(QFA_COUNT | QFA_LAST, ST_TYPE_STRING));
    CHECK(!qfa_supported(QFA_MEAN, ST_TYPE_BOOL));
    CHECK(qfa_supported(0, ST_TYPE_UINT));
    qfa_result_fini(&r);
    close_tmp(s);
}

/* Integer sums wrap as int64; unsigned columns too. */
TEST(int_sum_wraps)
{
    uint64_t db;
    stor *s = open_tmp(&db);
    REQUIRE(s);
    stor_batch *b;
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    for (int k = 0; k < 4; k++) CHECK_EQ_INT(add(b, 0, "i", k, I(INT64_MAX / 2 + 1), 0), 0);
    st_value u;
    memset(&u, 0, sizeof u);
    u.type = ST_TYPE_UINT;
    for (int k = 0; k < 3; k++) { u.v.u = UINT64_MAX - (uint64_t)k; CHECK_EQ_INT(add(b, 0, "u", k, u, 0), 0); }
    REQUIRE(stor_write_wait(b) == 0);
    REQUIRE(stor_flush(s) == 0);
    uint64_t sid = series_id(s, db, 0);
    qfa_query q = { field_id(s, db, "i", ST_TYPE_INT), ST_TYPE_INT, &sid, 1, 0, 100, NULL, 1 };
    qfa_result r;
    qfa_result_init(&r);
    for (int st = 0; st < 2; st++) {
        qfa_opts o = { 0, 0, st, NULL, NULL };
        q.field_id = field_id(s, db, "i", ST_TYPE_INT);
        q.type = ST_TYPE_INT;
        REQUIRE(qfa_run(s, &o, &q, &r) == 0);
        CHECK_EQ_INT(r.win[0].sum.v.i, 0);                 /* 4 * 2^62 wraps to 0 */
        CHECK(r.win[0].mean == 4611686018427387904.0);
        CHECK_EQ_INT(r.win[0].spread.v.i, 0);
        CHECK_EQ_U64(r.blocks_stats, 0);                   /* not exact from doubles */
        q.field_id = field_id(s, db, "u", ST_TYPE_UINT);
        q.type = ST_TYPE_UINT;
        REQUIRE(qfa_run(s, &o, &q, &r) == 0);
        CHECK_EQ_U64(r.win[0].sum.v.u, UINT64_MAX - 5);     /* -1 -2 -3 mod 2^64 */
        CHECK_EQ_U64(r.win[0].min.v.u, UINT64_MAX - 2);
        CHECK_EQ_U64(r.win[0].spread.v.u, 2);
    }
    qfa_result_fini(&r);
    close_tmp(s);
}

static int count_check(void *arg, uint64_t values)
{
    uint64_t *n = arg;
    *n += values;
    return *n > 5000 ? ST_ELIMIT : 0;
}

/* qfa_last: the newest point at or before tmax per group; check() stops. */
TEST(last_and_check)
{
    uint64_t db;
    stor *s = build(&db);
    REQUIRE(s);
    uint64_t sids[NS];
    for (int h = 0; h < NS; h++) sids[h] = series_id(s, db, h);
    qfa_query q;
    memset(&q, 0, sizeof q);
    q.series = sids;
    q.nseries = NS;
    q.tmin_ns = ST_TIME_MIN_NS;
    q.tmax_ns = ts_of(0, 1234);  /* h0 and h1 at 1234 (tie: h1), h2 at 1233.5 */
    q.nwindows = 1;
    q.type = ST_TYPE_STRING;
    q.field_id = field_id(s, db, "s", ST_TYPE_STRING);
    qfa_result r;
    qfa_result_init(&r);
    REQUIRE(qfa_last(s, NULL, &q, &r) == 0);
    CHECK_EQ_U64(r.win[0].count, 1);
    CHECK_EQ_INT(r.win[0].last_ts, ts_of(1, 1234));
    CHECK_EQ_INT(r.win[0].last_series, 1);
    CHECK_EQ_MEM(r.win[0].last.v.s.ptr, r.win[0].last.v.s.len, strs_s[1234 % 50], 3);
    q.nseries = 1;
    q.series = sids + 2;
    q.type = ST_TYPE_FLOAT;
    q.field_id = field_id(s, db, "f", ST_TYPE_FLOAT);
    REQUIRE(qfa_last(s, NULL, &q, &r) == 0);
    CHECK_EQ_INT(r.win[0].last_ts, ts_of(2, 1233));
    CHECK(r.win[0].last.v.f == fval(2, 1233, 0));
    q.tmin_ns = ts_of(2, 1233) + 1;                      /* nothing at or after tmin */
    REQUIRE(qfa_last(s, NULL, &q, &r) == 0);
    CHECK_EQ_U64(r.win[0].count, 0);
    qfa_opts go = { 0, QFA_GOOD_ONLY, 1, NULL, NULL };
    CHECK_EQ_INT(qfa_last(s, &go, &q, &r), ST_EUNSUPPORTED);
    /* the budget callback stops the run after the second series */
    uint64_t seen = 0;
    qfa_opts o = { QFA_COUNT, 0, 0, count_check, &seen };
    q.series = sids;
    q.nseries = NS;
    q.tmin_ns = ST_TIME_MIN_NS;
    q.tmax_ns = ST_TIME_MAX_NS;
    CHECK_EQ_INT(qfa_run(s, &o, &q, &r), ST_ELIMIT);
    CHECK_EQ_U64(seen, 2 * (NPTS + 200));
    qfa_result_fini(&r);
    close_tmp(s);
}

/* Out of memory at every allocation: a clean error, no leak. */
TEST(oom)
{
    uint64_t db;
    stor *s = build(&db);
    REQUIRE(s);
    uint64_t sids[NS];
    for (int h = 0; h < NS; h++) sids[h] = series_id(s, db, h);
    int64_t b[64];
    qfa_query q;
    memset(&q, 0, sizeof q);
    q.series = sids;
    q.nseries = NS;
    q.tmin_ns = ST_TIME_MIN_NS;
    q.tmax_ns = ST_TIME_MAX_NS;
    q.type = ST_TYPE_STRING;
    q.field_id = field_id(s, db, "s", ST_TYPE_STRING);
    q.bounds_ns = b;
    q.nwindows = make_bounds(b, 64, T0, 100 * STEP, ts_of(2, NPTS + 200));
    qfa_opts o = { QFA_COUNT | QFA_FIRST | QFA_LAST, QFA_SEL_TS, 1, NULL, NULL };
    /* Warm the block cache first: a block decoded by an iteration that then
     * fails stays cached (owned by the cache), which is not a leak. */
    {
        qfa_result w;
        qfa_result_init(&w);
        CHECK_EQ_INT(qfa_run(s, &o, &q, &w), 0);
        qfa_result_fini(&w);
    }
    int ok = 0;
    for (int64_t n = 0; n < 100000 && !ok; n++) {
        qfa_result r;
        qfa_result_init(&r);
        int64_t live = st_alloc_live();
        st_alloc_fail_at(n, 0);
        int rc = qfa_run(s, &o, &q, &r);
        st_alloc_fail_at(-1, 0);
        qfa_result_fini(&r);
        if (rc == 0) ok = 1;
        else CHECK_EQ_INT(rc, ST_ENOMEM);
        CHECK_EQ_INT(st_alloc_live(), live);
    }
    CHECK(ok);
    close_tmp(s);
}

int main(void)
{
    st_log_set_level(ST_LOG_WARN);
    RUN(hand_computed);
    RUN(int_sum_wraps);
    RUN(windows_match_naive);
    RUN(last_write_wins_with_stats);
    RUN(last_and_check);
    RUN(oom);
    return unit_done();
}
