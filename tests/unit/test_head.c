/*
 * tests/unit/test_head.c — the in-memory head against a model: random
 * appends (in order, out of order, repeated times, across hour boundaries,
 * backfill older than everything, non-Good qualities) of every type; then
 * head_read over random ranges equals the model (last write wins),
 * head_scan with statistics gives the same count / sum / min / max / first
 * / last as the model (chunks are taken as statistics only where that is
 * exact), and head_last_before agrees. Out-of-order points are merged into
 * the chunks when a chunk is sealed, or when a column holds many of them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "storage/head.h"
#include "tests/unit/unit.h"

#define HOUR INT64_C(3600000000000)
#define SEC INT64_C(1000000000)

typedef struct mpoint {
    int64_t ts;
    int64_t iv;       /* the value's seed: FLOAT iv / 4, INT iv, UINT iv + 1000, BOOL iv & 1, STRING "s<iv>" */
    uint32_t q;
    size_t order;     /* write order */
} mpoint;

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

typedef struct model {
    mpoint *w;        /* every write */
    size_t n, cap;
    mpoint *r;        /* resolved: time order, the last write per time */
    size_t nr;
} model;

static void model_add(model *m, int64_t ts, int64_t iv, uint32_t q)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->w = realloc(m->w, m->cap * sizeof *m->w);
    }
    m->w[m->n] = (mpoint){ ts, iv, q, m->n };
    m->n++;
}

static int mp_cmp(const void *a, const void *b)
{
    const mpoint *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

static void model_resolve(model *m)
{
    free(m->r);
    m->r = malloc((m->n ? m->n : 1) * sizeof *m->r);
    memcpy(m->r, m->w, m->n * sizeof *m->r);
    qsort(m->r, m->n, sizeof *m->r, mp_cmp);
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (k && m->r[k - 1].ts == m->r[i].ts) k--;
        m->r[k++] = m->r[i];
    }
    m->nr = k;
}

static st_value val_of(uint8_t type, int64_t iv, char *sbuf)
{
    st_value v;
    memset(&v, 0, sizeof v);
    v.type = type;
    switch (type) {
    case ST_TYPE_FLOAT: v.v.f = (double)iv / 4.0; break;
    case ST_TYPE_INT: v.v.i = iv; break;
    case ST_TYPE_UINT: v.v.u = (uint64_t)(iv + 1000); break;
    case ST_TYPE_BOOL: v.v.b = (int)(iv & 1); break;
    default: {
        int n = snprintf(sbuf, 32, "s%lld", (long long)iv);
        v.v.s = (st_slice){ sbuf, (size_t)n };
        break;
    }
    }
    return v;
}

static int val_eq(uint8_t type, st_value a, int64_t iv)
{
    char sb[32];
    st_value b = val_of(type, iv, sb);
    if (a.type != type) return 0;
    switch (type) {
    case ST_TYPE_FLOAT: return a.v.f == b.v.f;
    case ST_TYPE_INT: return a.v.i == b.v.i;
    case ST_TYPE_UINT: return a.v.u == b.v.u;
    case ST_TYPE_BOOL: return (a.v.b != 0) == (b.v.b != 0);
    default: return a.v.s.len == b.v.s.len && memcmp(a.v.s.ptr, b.v.s.ptr, a.v.s.len) == 0;
    }
}

static double num_of(uint8_t type, int64_t iv)
{
    char sb[32];
    st_value v = val_of(type, iv, sb);
    switch (type) {
    case ST_TYPE_FLOAT: return v.v.f;
    case ST_TYPE_INT: return (double)v.v.i;
    case ST_TYPE_UINT: return (double)v.v.u;
    default: return v.v.b;
    }
}

/* What a scan delivered, folded. */
typedef struct agg {
    uint8_t type;
    uint64_t count, blocks, runs, run_points;
    double sum, min, max;
    int64_t first_ts, last_ts, prev_ts;
    int order_ok;
} agg;

static void agg_num(agg *a, int64_t ts, double d)
{
    if (a->count == 0) { a->min = a->max = d; a->first_ts = ts; }
    if (d < a->min) a->min = d;
    if (d > a->max) a->max = d;
    a->sum += d;
    if (ts <= a->prev_ts && a->count) a->order_ok = 0;
    a->prev_ts = a->last_ts = ts;
    a->count++;
}

static int decline_some = 1;

static int agg_block(void *arg, const stor_block_stats *b)
{
    agg *a = arg;
    if (decline_some && rnd() % 4 == 0) return 0; /* their points must come instead */
    if (a->count && b->min_ts <= a->prev_ts) a->order_ok = 0;
    if (a->count == 0) { a->min = b->min; a->max = b->max; a->first_ts = b->min_ts; }
    if (b->min < a->min) a->min = b->min;
    if (b->max > a->max) a->max = b->max;
    a->sum += b->sum;
    a->count += b->count;
    a->prev_ts = a->last_ts = b->max_ts;
    a->blocks++;
    return 1;
}

static int agg_points(void *arg, size_t n, const int64_t *ts, const st_value *v, const uint32_t *q)
{
    agg *a = arg;
    (void)q;
    for (size_t i = 0; i < n; i++) {
        double d = 0;
        switch (v[i].type) {
        case ST_TYPE_FLOAT: d = v[i].v.f; break;
        case ST_TYPE_INT: d = (double)v[i].v.i; break;
        case ST_TYPE_UINT: d = (double)v[i].v.u; break;
        case ST_TYPE_BOOL: d = v[i].v.b; break;
        default: d = 0; break;
        }
        agg_num(a, ts[i], d);
    }
    return 0;
}

static int agg_run(void *arg, const stor_run *r)
{
    agg *a = arg;
    a->runs++;
    a->run_points += r->n;
    for (size_t i = 0; i < r->n; i++) {
        double d;
        switch (r->type) {
        case ST_TYPE_FLOAT: d = r->f[i]; break;
        case ST_TYPE_INT: d = (double)r->i[i]; break;
        case ST_TYPE_UINT: d = (double)r->u[i]; break;
        default: d = r->b[i]; break;
        }
        agg_num(a, r->ts[i], d);
    }
    return 0;
}

/* Compare the head with the model over [lo, hi]. */
static void check_range(head *h, uint8_t type, model *m, int64_t lo, int64_t hi, head_points *p)
{
    REQUIRE(head_read(h, 1, 1, lo, hi, p) == 0);
    size_t k = 0;
    int ok = 1;
    for (size_t i = 0; i < m->nr; i++) {
        const mpoint *x = &m->r[i];
        if (x->ts < lo || x->ts > hi) continue;
        if (k >= p->n || p->ts[k] != x->ts || !val_eq(type, p->vals[k], x->iv) || p->quality[k] != x->q) { ok = 0; break; }
        k++;
    }
    CHECK(ok);
    CHECK_EQ_U64(k, p->n);
    /* a scan with statistics (numeric and bool) and one with points only */
    agg want;
    memset(&want, 0, sizeof want);
    want.order_ok = 1;
    for (size_t i = 0; i < m->nr; i++)
        if (m->r[i].ts >= lo && m->r[i].ts <= hi) agg_num(&want, m->r[i].ts, type == ST_TYPE_STRING ? 0 : num_of(type, m->r[i].iv));
    for (int stats = 0; stats < 2; stats++) {
        agg got;
        memset(&got, 0, sizeof got);
        got.order_ok = 1;
        stor_scan_cb cb = { agg_block, agg_points, (rnd() & 1) ? agg_run : NULL, &got, 0 };
        REQUIRE(head_scan(h, 1, 1, lo, hi, stats, &cb) == 0);
        CHECK(got.order_ok);
        CHECK_EQ_U64(got.count, want.count);
        if (!stats) CHECK_EQ_U64(got.blocks, 0);
        if (got.count && want.count) {
            CHECK(got.min == want.min);
            CHECK(got.max == want.max);
            CHECK(got.first_ts == want.first_ts);
            CHECK(got.last_ts == want.last_ts);
            /* small integers and quarters: sums are exact in any order */
            CHECK(got.sum == want.sum);
        }
    }
    /* value at or before hi */
    int64_t ts = 0;
    st_value v;
    uint32_t q = 0;
    st_buf sb;
    st_buf_init(&sb);
    int r = head_last_before(h, 1, 1, hi, &ts, &v, &q, &sb);
    size_t j = m->nr;
    while (j > 0 && m->r[j - 1].ts > hi) j--;
    if (j == 0) CHECK_EQ_INT(r, 0);
    else {
        CHECK_EQ_INT(r, 1);
        CHECK(ts == m->r[j - 1].ts);
        CHECK(val_eq(type, v, m->r[j - 1].iv));
        CHECK_EQ_U64(q, m->r[j - 1].q);
    }
    st_buf_fini(&sb);
}

/* One column of `type` fed by a random mix of write shapes. */
static void run_type(uint8_t type, int rounds)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    model m;
    memset(&m, 0, sizeof m);
    head_points p;
    head_points_init(&p);
    char sb[32];
    int64_t t = 10 * HOUR + 7 * SEC;
    for (int round = 0; round < rounds; round++) {
        head_lock_write(h);
        int shape = (int)(rnd() % 6);
        int n = 1 + (int)(rnd() % 700);
        for (int i = 0; i < n; i++) {
            int64_t ts;
            switch (shape) {
            case 0: case 1: ts = t; t += 10 * SEC; break;               /* regular, in order */
            case 2: ts = t - (int64_t)(rnd() % 4000) * SEC; break;        /* late: OOO, some repeats */
            case 3: ts = t; if (rnd() % 3) t += SEC; break;                /* repeated times in order */
            case 4: ts = (int64_t)(rnd() % 5) * HOUR + (int64_t)(rnd() % 3600) * SEC; break; /* backfill, older than all */
            default: ts = t; t += (int64_t)(rnd() % 900) * SEC + 1; break; /* irregular, crosses hours */
            }
            int64_t iv = (int64_t)(rnd() % 2001) - 1000;
            uint32_t q = rnd() % 50 == 0 ? ST_QUALITY_BAD : ST_QUALITY_GOOD;
            st_value v = val_of(type, iv, sb);
            REQUIRE(head_append(h, 1, 1, ts, &v, q) == 0);
            model_add(&m, ts, iv, q);
        }
        head_unlock_write(h);
        model_resolve(&m);
        for (int c = 0; c < 3; c++) {
            int64_t lo = (int64_t)(rnd() % 20) * HOUR + (int64_t)(rnd() % 3600) * SEC;
            int64_t hi = lo + (int64_t)(rnd() % 30) * HOUR;
            if (c == 0) { lo = INT64_MIN + 2; hi = INT64_MAX - 1; }
            check_range(h, type, &m, lo, hi, &p);
        }
    }
    CHECK(head_bytes(h) > 0);
    head_points_fini(&p);
    head_destroy(h);
    free(m.w);
    free(m.r);
}

/* Out-of-order writes all over a column rebuild its chunks again and
 * again; the old copies are garbage in the head's arena until the live
 * chunks are compacted into a fresh one. Reads agree with the model
 * throughout (strings read back point into the arena), other columns of
 * the head keep their points (one dropped, one with a range deleted), and
 * the head stays small for its points. */
static void run_compaction(uint8_t type)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    model m;
    memset(&m, 0, sizeof m);
    head_points p;
    head_points_init(&p);
    char sb[32];
    /* series 2 and 3: in order, 20000 points each */
    head_lock_write(h);
    for (int i = 0; i < 20000; i++) {
        st_value v = { .type = ST_TYPE_INT, .v.i = i };
        CHECK_EQ_INT(head_append(h, 2, 1, (int64_t)i * SEC, &v, ST_QUALITY_GOOD), 0);
        CHECK_EQ_INT(head_append(h, 3, 1, (int64_t)i * SEC, &v, ST_QUALITY_GOOD), 0);
    }
    /* series 1: the last hour first, then points anywhere in two days */
    for (int i = 0; i < 360; i++) {
        st_value v = val_of(type, i, sb);
        CHECK_EQ_INT(head_append(h, 1, 1, 48 * HOUR + (int64_t)i * 10 * SEC, &v, ST_QUALITY_GOOD), 0);
        model_add(&m, 48 * HOUR + (int64_t)i * 10 * SEC, i, ST_QUALITY_GOOD);
    }
    head_unlock_write(h);
    for (int round = 0; round < 12; round++) {
        head_lock_write(h);
        for (int i = 0; i < 12000; i++) {
            int64_t ts = (int64_t)(rnd() % (48 * 3600)) * SEC;
            int64_t iv = (int64_t)(rnd() % 2001) - 1000;
            st_value v = val_of(type, iv, sb);
            REQUIRE(head_append(h, 1, 1, ts, &v, ST_QUALITY_GOOD) == 0);
            model_add(&m, ts, iv, ST_QUALITY_GOOD);
        }
        head_unlock_write(h);
        if (round == 4) head_drop_series(h, 2);
        if (round == 7) CHECK_EQ_INT(head_delete_range(h, 3, 5000 * SEC, 9999 * SEC), 0);
        model_resolve(&m);
        check_range(h, type, &m, INT64_MIN + 2, INT64_MAX - 1, &p);
        int64_t lo = (int64_t)(rnd() % 40) * HOUR;
        check_range(h, type, &m, lo, lo + 5 * HOUR, &p);
    }
    double per_point = (double)head_bytes(h) / (double)head_points_count(h);
    printf("  %s: %.1f bytes a point in the head\n", type == ST_TYPE_FLOAT ? "float" : "string", per_point);
    CHECK(per_point < 40);
    REQUIRE(head_read(h, 2, 1, INT64_MIN + 2, INT64_MAX - 1, &p) == 0);
    CHECK_EQ_U64(p.n, 0);
    REQUIRE(head_read(h, 3, 1, INT64_MIN + 2, INT64_MAX - 1, &p) == 0);
    CHECK_EQ_U64(p.n, 15000);
    int ok = p.n == 15000;
    for (size_t i = 0; ok && i < p.n; i++) {
        int64_t want = i < 5000 ? (int64_t)i : (int64_t)i + 5000;
        ok = p.ts[i] == want * SEC && p.vals[i].v.i == want;
    }
    CHECK(ok);
    head_points_fini(&p);
    head_destroy(h);
    free(m.w);
    free(m.r);
}

TEST(compaction_float) { run_compaction(ST_TYPE_FLOAT); }
TEST(compaction_string) { run_compaction(ST_TYPE_STRING); }

TEST(float_model) { run_type(ST_TYPE_FLOAT, 60); }
TEST(int_model) { run_type(ST_TYPE_INT, 40); }
TEST(uint_model) { run_type(ST_TYPE_UINT, 25); }
TEST(bool_model) { run_type(ST_TYPE_BOOL, 25); }
TEST(string_model) { run_type(ST_TYPE_STRING, 25); }


/* Scan column (1, 1) of h over [lo, hi] with statistics, every chunk
 * offered taken (decline_some off), into *got. */
static int scan_series_taking_all(head *h, uint64_t series, int64_t lo, int64_t hi, agg *got)
{
    memset(got, 0, sizeof *got);
    got->order_ok = 1;
    decline_some = 0;
    stor_scan_cb cb = { agg_block, agg_points, agg_run, got, 0 };
    int rc = head_scan(h, series, 1, lo, hi, 1, &cb);
    decline_some = 1;
    return rc;
}

static int scan_taking_all(head *h, int64_t lo, int64_t hi, agg *got)
{
    return scan_series_taking_all(h, 1, lo, hi, got);
}
/* Regular 10 s data: the chunks of whole hours are offered as statistics,
 * and a scan of 24 h takes them without decoding. */
TEST(hour_chunks_answer_from_stats)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    head_lock_write(h);
    for (int i = 0; i < 8640; i++) {
        st_value v = { .type = ST_TYPE_FLOAT, .v.f = i };
        REQUIRE(head_append(h, 1, 1, 100 * HOUR + i * 10 * SEC, &v, ST_QUALITY_GOOD) == 0);
    }
    head_unlock_write(h);
    agg got;
    REQUIRE(scan_taking_all(h, 100 * HOUR, 124 * HOUR - 1, &got) == 0);
    CHECK_EQ_U64(got.count, 8640);
    CHECK_EQ_U64(got.blocks, 24);
    CHECK_EQ_U64(got.runs, 0);
    CHECK(got.min == 0 && got.max == 8639);
    CHECK(got.sum == 8639.0 * 8640 / 2);
    head_destroy(h);
}

/* Two writers whose batches interleave: OOO points are merged into the
 * chunks when each chunk is sealed, so the sealed hours stay answerable
 * from statistics. */
TEST(interleaved_writers_merge_at_seal)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    head_lock_write(h);
    for (int b = 0; b < 4320 / 50; b += 2) { /* 12 h: fewer OOO points than HEAD_OOO_MERGE */
        for (int w = 1; w >= 0; w--) { /* the later batch lands first */
            for (int i = 0; i < 50; i++) {
                int k = (b + w) * 50 + i;
                st_value v = { .type = ST_TYPE_FLOAT, .v.f = k };
                REQUIRE(head_append(h, 1, 1, k * 10 * SEC, &v, ST_QUALITY_GOOD) == 0);
            }
        }
    }
    head_unlock_write(h);
    agg got;
    REQUIRE(scan_taking_all(h, 0, 12 * HOUR - 1, &got) == 0);
    CHECK(got.order_ok);
    CHECK_EQ_U64(got.count, 4300);
    CHECK(got.blocks >= 11); /* every sealed hour; the open chunk may still have OOO points */
    head_destroy(h);
}

/* A late batch inside the open hour's chunk (and one late rewrite of a
 * point it holds): the scan delivers the chunk's stretches around them as
 * typed runs and merges only the late points, the newest value winning. */
TEST(late_batch_delivered_around)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    head_lock_write(h);
    static const int order[][2] = { { 0, 150 }, { 200, 360 }, { 150, 200 } };
    for (int b = 0; b < 3; b++)
        for (int i = order[b][0]; i < order[b][1]; i++) {
            st_value v = { .type = ST_TYPE_FLOAT, .v.f = i };
            REQUIRE(head_append(h, 1, 1, 100 * HOUR + i * 10 * SEC, &v, ST_QUALITY_GOOD) == 0);
        }
    st_value late = { .type = ST_TYPE_FLOAT, .v.f = 1000 };
    REQUIRE(head_append(h, 1, 1, 100 * HOUR + 100 * 10 * SEC, &late, ST_QUALITY_GOOD) == 0);
    head_unlock_write(h);
    agg got;
    REQUIRE(scan_taking_all(h, 100 * HOUR, 101 * HOUR - 1, &got) == 0);
    CHECK(got.order_ok);
    CHECK_EQ_U64(got.count, 360);
    CHECK_EQ_U64(got.blocks, 0);
    CHECK(got.run_points >= 300);
    CHECK(got.max == 1000);
    CHECK(got.sum == 359.0 * 360 / 2 - 100 + 1000);
    head_points p;
    head_points_init(&p);
    REQUIRE(head_read(h, 1, 1, 100 * HOUR, 101 * HOUR - 1, &p) == 0);
    CHECK_EQ_U64(p.n, 360);
    int ok = p.n == 360;
    for (size_t i = 0; ok && i < p.n; i++)
        ok = p.ts[i] == 100 * HOUR + (int64_t)i * 10 * SEC && p.vals[i].v.f == (i == 100 ? 1000 : (double)i);
    CHECK(ok);
    head_points_fini(&p);
    head_destroy(h);
}

/* head_tidy merges the late points of a column once it has taken none for
 * a whole call interval: the hour is answered from statistics again. A
 * column still taking late points waits; a column whose range was deleted
 * (replaced in place) or that was dropped leaves the list cleanly. */
TEST(tidy_merges_quiet_columns)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    head_lock_write(h);
    for (uint64_t s = 1; s <= 4; s++) {
        for (int b = 0; b < 2; b++)
            for (int i = b ? 200 : 0; i < (b ? 360 : 150); i++) {
                st_value v = { .type = ST_TYPE_FLOAT, .v.f = i };
                REQUIRE(head_append(h, s, 1, 100 * HOUR + i * 10 * SEC, &v, ST_QUALITY_GOOD) == 0);
            }
        for (int i = 150; i < 200; i++) { /* the late batch */
            st_value v = { .type = ST_TYPE_FLOAT, .v.f = i };
            REQUIRE(head_append(h, s, 1, 100 * HOUR + i * 10 * SEC, &v, ST_QUALITY_GOOD) == 0);
        }
    }
    head_unlock_write(h);
    CHECK_EQ_U64(head_tidy(h), 0); /* the late points came after the previous call (none) */
    head_lock_write(h); /* series 2 takes one more late point: not quiet */
    st_value late = { .type = ST_TYPE_FLOAT, .v.f = 1000 };
    REQUIRE(head_append(h, 2, 1, 100 * HOUR + 100 * 10 * SEC, &late, ST_QUALITY_GOOD) == 0);
    head_unlock_write(h);
    CHECK_EQ_INT(head_delete_range(h, 3, 100 * HOUR + 300 * 10 * SEC, 101 * HOUR), 0);
    head_drop_series(h, 4);
    CHECK_EQ_U64(head_tidy(h), 1); /* series 1; 2 took a point since; 3 was rebuilt without OOO; 4 dropped */
    agg got;
    REQUIRE(scan_taking_all(h, 100 * HOUR, 101 * HOUR - 1, &got) == 0);
    CHECK_EQ_U64(got.count, 360);
    CHECK_EQ_U64(got.blocks, 1);
    CHECK_EQ_U64(got.run_points, 0);
    CHECK(got.sum == 359.0 * 360 / 2);
    CHECK_EQ_U64(head_tidy(h), 1); /* series 2, quiet now */
    REQUIRE(scan_series_taking_all(h, 2, 100 * HOUR, 101 * HOUR - 1, &got) == 0);
    CHECK_EQ_U64(got.count, 360);
    CHECK_EQ_U64(got.blocks, 1);
    CHECK(got.sum == 359.0 * 360 / 2 - 100 + 1000);
    CHECK_EQ_U64(head_tidy(h), 0);
    head_points p;
    head_points_init(&p);
    REQUIRE(head_read(h, 3, 1, 0, INT64_MAX - 1, &p) == 0);
    CHECK_EQ_U64(p.n, 300);
    REQUIRE(head_read(h, 4, 1, 0, INT64_MAX - 1, &p) == 0);
    CHECK_EQ_U64(p.n, 0);
    head_points_fini(&p);
    head_destroy(h);
}

/* Allocation failures anywhere, head_tidy's merges included, leave a
 * consistent head (reads agree with what was accepted) and leak nothing. */
TEST(oom)
{
    for (int nth = 1; nth < 400; nth += 3) {
        int64_t live = st_alloc_live();
        head *h;
        if (head_create(&h) != 0) continue;
        st_alloc_fail_at(nth, 0);
        model m;
        memset(&m, 0, sizeof m);
        for (int half = 0; half < 2; half++) {
            head_lock_write(h);
            for (int i = half * 1500; i < half * 1500 + 1500; i++) {
                int64_t ts = (i % 7 == 3) ? (int64_t)(i - 40) * 10 * SEC : (int64_t)i * 10 * SEC;
                st_value v = { .type = ST_TYPE_INT, .v.i = i };
                if (head_append(h, 1, 1, ts, &v, ST_QUALITY_GOOD) == 0) model_add(&m, ts, i, ST_QUALITY_GOOD);
            }
            head_unlock_write(h);
            head_tidy(h); /* twice: the column is quiet by the second */
            head_tidy(h);
        }
        st_alloc_fail_at(-1, 0);
        model_resolve(&m);
        head_points p;
        head_points_init(&p);
        if (head_read(h, 1, 1, INT64_MIN + 2, INT64_MAX - 1, &p) == 0) {
            int ok = p.n == m.nr;
            for (size_t i = 0; ok && i < p.n; i++) ok = p.ts[i] == m.r[i].ts && p.vals[i].v.i == m.r[i].iv;
            CHECK(ok);
        }
        head_points_fini(&p);
        head_destroy(h);
        free(m.w);
        free(m.r);
        CHECK_EQ_INT(st_alloc_live(), live);
    }
}

/* Sanitizers' shadow memory makes RSS say nothing about the head. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) v = atol(line + 6);
    fclose(f);
    return v;
}
#endif

/* What the process takes from the system for a head stays within what
 * head_bytes reports (the flush trigger and the writers' back-pressure go
 * by it), plus a little: 1000 columns of full-precision floats appended
 * line by line, the shape of the cpu benchmark, ~30 MiB. With each chunk's
 * streams malloc'd, grown and trimmed, holes between them made the heap
 * half as large again as the accounting. (Not under AddressSanitizer: its
 * redzones and quarantine are memory of its own.) */
TEST(memory_within_accounting)
{
#ifdef UNDER_ASAN
    printf("  (skipped under AddressSanitizer)\n");
#else
    long before = rss_kib();
    if (before < 0) { printf("  (no /proc/self/status: skipped)\n"); return; }
    head *h;
    REQUIRE(head_create(&h) == 0);
    enum { SERIES = 100, FIELDS = 10, POINTS = 3500 };
    uint64_t fields[FIELDS];
    st_value vals[FIELDS];
    uint64_t x = 88172645463325252ull;
    for (int p = 0; p < POINTS; p++) {
        head_lock_write(h);
        for (int s = 0; s < SERIES; s++) {
            for (int f = 0; f < FIELDS; f++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                fields[f] = (uint64_t)(s * FIELDS + f + 1);
                vals[f].type = ST_TYPE_FLOAT;
                vals[f].v.f = (double)(x >> 11) * (100.0 / 9007199254740992.0);
            }
            size_t took = 0;
            CHECK_EQ_INT(head_append_line(h, (uint64_t)s + 1, INT64_C(1451606400) * SEC + (int64_t)p * 10 * SEC,
                                          ST_QUALITY_GOOD, FIELDS, fields, vals, &took), 0);
        }
        head_unlock_write(h);
    }
    long grown = rss_kib() - before;
    size_t acct = head_bytes(h) / 1024;
    printf("  head_bytes %zu KiB, RSS grew %ld KiB\n", acct, grown);
    CHECK(acct > 20 * 1024);
    CHECK(grown <= (long)(acct + acct / 10 + 1024));
    head_destroy(h);
#endif
}

/* A chunk of long strings does not pin its buffer's size: at the seal the
 * bytes move to the arena and the large buffer is let go, so head_bytes
 * falls; the strings read back. */
TEST(long_string_buffer_released_at_seal)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    static char big[8192];
    head_lock_write(h);
    for (int i = 0; i < 100; i++) {
        memset(big, 'a' + i % 26, sizeof big);
        st_value v = { .type = ST_TYPE_STRING, .v.s = { big, sizeof big } };
        CHECK_EQ_INT(head_append(h, 1, 1, (int64_t)i * SEC, &v, ST_QUALITY_GOOD), 0);
    }
    size_t before = head_bytes(h);
    st_value small = { .type = ST_TYPE_STRING, .v.s = { "x", 1 } };
    CHECK_EQ_INT(head_append(h, 1, 1, HOUR + SEC, &small, ST_QUALITY_GOOD), 0); /* another hour: seal */
    head_unlock_write(h);
    CHECK(head_bytes(h) < before);
    head_points p;
    head_points_init(&p);
    REQUIRE(head_read(h, 1, 1, 0, 2 * HOUR, &p) == 0);
    CHECK_EQ_U64(p.n, 101);
    int ok = p.n == 101;
    for (size_t i = 0; ok && i < 100; i++)
        ok = p.vals[i].v.s.len == sizeof big && p.vals[i].v.s.ptr[0] == 'a' + (int)i % 26 &&
             p.vals[i].v.s.ptr[sizeof big - 1] == 'a' + (int)i % 26;
    CHECK(ok);
    head_points_fini(&p);
    head_destroy(h);
}

int main(void)
{
    st_log_set_level(ST_LOG_WARN);
    RUN(float_model);
    RUN(int_model);
    RUN(uint_model);
    RUN(bool_model);
    RUN(string_model);
    RUN(compaction_float);
    RUN(compaction_string);
    RUN(hour_chunks_answer_from_stats);
    RUN(interleaved_writers_merge_at_seal);
    RUN(late_batch_delivered_around);
    RUN(tidy_merges_quiet_columns);
    RUN(oom);
    RUN(memory_within_accounting);
    RUN(long_string_buffer_released_at_seal);
    return unit_done();
}
