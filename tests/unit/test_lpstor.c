/*
 * tests/unit/test_lpstor.c — parsed lines into storage batches
 * (ingest/lpstor.c): the series cache keyed by the line's key as written
 * gives the same points as the long way, across batches, with tags in any
 * order and escaped names; UTF-8 checks name the same part either way.
 * Values: v = t * 10 + host, w = host.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "ingest/lp.h"
#include "ingest/lpstor.h"
#include "storage/stor.h"
#include "tests/unit/unit.h"

typedef struct feed_ctx {
    lpstor *x;
    stor_batch *b;
    int strip_key;       /* deliver lines without their key (the long way) */
    int bad, refused;
    char last_msg[256];
} feed_ctx;

static int on_line(void *arg, const lp_line *ln)
{
    feed_ctx *c = arg;
    lp_line l = *ln;
    if (c->strip_key) l.key = (st_slice){ NULL, 0 };
    uint32_t dropped;
    int rc = lpstor_add(c->x, c->b, &l, c->last_msg, sizeof c->last_msg, &dropped);
    if (rc == LPSTOR_BAD_NAME) c->bad++;
    else if (rc == LPSTOR_REFUSED) c->refused++;
    else if (rc) return rc;
    return 0;
}

static int on_error(void *arg, uint64_t lineno, st_slice msg)
{
    (void)lineno; (void)msg;
    ((feed_ctx *)arg)->bad++;
    return 0;
}

static void on_done(void *arg, int status) { atomic_store((_Atomic int *)arg, status + 1000); }

/* Parse text into one batch of db and write it (fsync never: done at once
 * or soon; wait for it). */
static int feed(stor *s, uint64_t db, feed_ctx *c, const char *text)
{
    int rc = stor_batch_create(s, db, &c->b);
    if (rc) return rc;
    lp_opts o;
    memset(&o, 0, sizeof o);
    rc = lp_parse_buffer(&o, text, strlen(text), on_line, on_error, c, NULL);
    if (rc) { stor_batch_destroy(c->b); return rc; }
    _Atomic int done = 0;
    rc = stor_write(c->b, on_done, &done);
    while (!rc && !atomic_load(&done)) usleep(1000);
    return rc ? rc : atomic_load(&done) - 1000;
}

static void gen(st_buf *t, int64_t t0, int64_t t1)
{
    for (int64_t ts = t0; ts < t1; ts++)
        for (int h = 0; h < 5; h++) {
            /* the same series written with its tags in either order */
            if ((ts + h) % 7 == 0) st_buf_printf(t, "m,zone=z%d,host=h%d v=%" PRId64 ",w=%di %" PRId64 "\n", h % 2, h, ts * 10 + h, h, ts);
            else st_buf_printf(t, "m,host=h%d,zone=z%d v=%" PRId64 ",w=%di %" PRId64 "\n", h, h % 2, ts * 10 + h, h, ts);
        }
    st_buf_printf(t, "  m\\ x,host=h\\,0 v=%" PRId64 " %" PRId64 "\n", t0, t0); /* escaped names, leading blanks */
}

static int check_series(stor *s, uint64_t db, const char *meas, const char *host, const char *zone, int hnum,
                        int64_t t0, int64_t t1)
{
    sidx_tag tags[2] = { { st_slice_cstr("host"), st_slice_cstr(host) }, { st_slice_cstr("zone"), st_slice_cstr(zone) } };
    uint64_t sid, fv, fw;
    unsigned fl;
    st_type ex;
    int ok = sidx_series_resolve(stor_index(s), db, st_slice_cstr(meas), tags, zone ? 2 : 1, &sid, &fl) == 0 &&
             sidx_field_resolve(stor_index(s), db, st_slice_cstr(meas), st_slice_cstr("v"), ST_TYPE_FLOAT, &fv, &fl, &ex) == 0;
    if (!ok) return 0;
    stor_points p;
    stor_points_init(&p);
    ok = stor_read(s, sid, fv, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &p) == 0 && p.n == (size_t)(t1 - t0);
    for (size_t i = 0; ok && i < p.n; i++)
        ok = p.ts[i] == t0 + (int64_t)i && p.vals[i].v.f == (double)((t0 + (int64_t)i) * (zone ? 10 : 1) + (zone ? hnum : 0));
    if (ok && zone) {
        ok = sidx_field_resolve(stor_index(s), db, st_slice_cstr(meas), st_slice_cstr("w"), ST_TYPE_INT, &fw, &fl, &ex) == 0 &&
             stor_read(s, sid, fw, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &p) == 0 && p.n == (size_t)(t1 - t0);
        for (size_t i = 0; ok && i < p.n; i++) ok = p.vals[i].v.i == hnum;
    }
    stor_points_fini(&p);
    return ok;
}

static void run_case(int strip_key)
{
    char dir[512];
    REQUIRE(unit_tmpdir(dir, sizeof dir, "lpstor") != NULL);
    stor_opts so;
    memset(&so, 0, sizeof so);
    so.data_dir = dir;
    so.fsync_mode = STOR_FSYNC_NEVER;
    stor *s;
    REQUIRE(stor_open(&so, &s) == 0);
    uint64_t db;
    REQUIRE(stor_db_create(s, st_slice_cstr("db"), &db) == 0);
    lpstor x;
    lpstor_init(&x);
    feed_ctx c = { &x, NULL, strip_key, 0, 0, { 0 } };
    /* three batches through one lpstor: its cache follows the batch */
    static const int64_t cut[4] = { 0, 40, 41, 100 };
    for (int k = 0; k < 3; k++) {
        st_buf t;
        st_buf_init(&t);
        gen(&t, cut[k], cut[k + 1]);
        CHECK_EQ_INT(feed(s, db, &c, t.ptr), 0);
        st_buf_fini(&t);
    }
    CHECK_EQ_INT(c.bad, 0);
    CHECK_EQ_INT(c.refused, 0);
    static const char *hosts[5] = { "h0", "h1", "h2", "h3", "h4" };
    for (int h = 0; h < 5; h++) CHECK(check_series(s, db, "m", hosts[h], h % 2 ? "z1" : "z0", h, 0, 100));
    /* the escaped series got one point per batch, at t0 with v = t0 */
    sidx_tag et = { st_slice_cstr("host"), st_slice_cstr("h,0") };
    uint64_t sid, fv;
    unsigned fl;
    st_type ex;
    REQUIRE(sidx_series_resolve(stor_index(s), db, st_slice_cstr("m x"), &et, 1, &sid, &fl) == 0);
    REQUIRE(sidx_field_resolve(stor_index(s), db, st_slice_cstr("m x"), st_slice_cstr("v"), ST_TYPE_FLOAT, &fv, &fl, &ex) == 0);
    stor_points p;
    stor_points_init(&p);
    REQUIRE(stor_read(s, sid, fv, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &p) == 0);
    CHECK_EQ_INT(p.n, 3);
    for (size_t i = 0; i < p.n && i < 3; i++) CHECK(p.ts[i] == cut[i] && p.vals[i].v.f == (double)cut[i]);
    stor_points_fini(&p);

    /* UTF-8: the same part is named whether the key is cached or not */
    static const struct { const char *line; const char *part; } bad[] = {
        { "m,host=h0 \xff=1 500\n", "field key" },          /* a cached key, a bad field key */
        { "m,host=\xc3 v=1 500\n", "tag value" },
        { "m,host=\xc3 v=1 501\n", "tag value" },            /* the same bad key again */
        { "m,\xe2\x82=x v=1 500\n", "tag key" },
        { "m\xf0,host=h0 v=1 500\n", "measurement" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "m,host=h0 v=1 499\n%s", bad[i].line);
        c.bad = 0;
        CHECK_EQ_INT(feed(s, db, &c, text), 0);
        CHECK_EQ_INT(c.bad, 1);
        char want[64];
        snprintf(want, sizeof want, "invalid UTF-8 in %s", bad[i].part);
        CHECK_EQ_STR(c.last_msg, want);
    }
    lpstor_fini(&x);
    stor_close(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) { /* best effort */ }
}

TEST(series_cache_same_points_as_long_way)
{
    run_case(0);
}

TEST(long_way_without_keys)
{
    run_case(1);
}

int main(void)
{
    st_log_set_level(ST_LOG_OFF);
    RUN(series_cache_same_points_as_long_way);
    RUN(long_way_without_keys);
    return unit_done();
}
