/*
 * tests/unit/test_stor.c — the storage engine's write path end to end:
 * batches -> WAL -> head -> reads; last write wins; recovery after a
 * simulated power cut (storage/io.h simulator: unsynced writes dropped or
 * torn) keeps every acknowledged point and invents none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "common/timefmt.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "storage/stor.h"
#include "tests/unit/unit.h"

static char tmpl[256];

static const char *mkdata(void)
{
    return unit_tmpdir(tmpl, sizeof tmpl, "stor");
}

static void rmrf(const char *d)
{
    char cmd[sizeof tmpl + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0) { /* best effort */ }
}

static int open_stor(const char *dir, const stor_io *io, stor **out)
{
    stor_opts o;
    memset(&o, 0, sizeof o);
    o.data_dir = dir;
    o.fsync_mode = STOR_FSYNC_GROUP;
    o.wal_segment_bytes = 256 * 1024;
    o.io = io;
    return stor_open(&o, out);
}

/* open_stor with default options, then database "db". */
static int open_db(const char *dir, stor **s, uint64_t *db)
{
    int rc = open_stor(dir, NULL, s);
    if (rc) return rc;
    rc = stor_db_create(*s, st_slice_cstr("db"), db);
    if (rc) stor_close(*s);
    return rc;
}

/* Add value v (int) at time t to m,host=h field "v". */
static int add_int(stor_batch *b, const char *host, int64_t t, int64_t v)
{
    st_slice k = st_slice_cstr("host"), val = st_slice_cstr(host);
    stor_field_in f = { st_slice_cstr("v"), { .type = ST_TYPE_INT, .v.i = v } };
    char msg[256];
    uint32_t dropped;
    return stor_batch_add(b, st_slice_cstr("m"), &k, &val, 1, &f, 1, t, 0, msg, sizeof msg, &dropped);
}

static int read_col(stor *s, uint64_t db, const char *host, stor_points *pts)
{
    sidx_tag t = { st_slice_cstr("host"), st_slice_cstr(host) };
    uint64_t sid, fid;
    unsigned fl;
    st_type ex;
    int rc = sidx_series_resolve(stor_index(s), db, st_slice_cstr("m"), &t, 1, &sid, &fl);
    if (!rc) rc = sidx_field_resolve(stor_index(s), db, st_slice_cstr("m"), st_slice_cstr("v"), ST_TYPE_INT, &fid, &fl, &ex);
    if (!rc) rc = stor_read(s, sid, fid, ST_TIME_MIN_NS, ST_TIME_MAX_NS, pts);
    return rc;
}

TEST(write_read_last_write_wins)
{
    const char *dir = mkdata();
    stor *s;
    uint64_t db;
    REQUIRE(open_db(dir, &s, &db) == 0);
    stor_batch *b;
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(add_int(b, "a", 1000 + i * 10, i), 0);
    CHECK_EQ_INT(add_int(b, "a", 1000, 777), 0);    /* duplicate: last wins */
    CHECK_EQ_INT(add_int(b, "a", 5, -1), 0);        /* out of order */
    CHECK_EQ_INT(stor_write_wait(b), 0);
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    CHECK_EQ_INT(add_int(b, "a", 5, -2), 0);        /* overwrite the OOO point */
    CHECK_EQ_INT(add_int(b, "a", 1010, 888), 0);    /* overwrite an in-order point */
    CHECK_EQ_INT(stor_write_wait(b), 0);
    stor_points p;
    stor_points_init(&p);
    REQUIRE(read_col(s, db, "a", &p) == 0);
    CHECK_EQ_INT(p.n, 101);
    CHECK_EQ_INT(p.ts[0], 5);
    CHECK_EQ_INT(p.vals[0].v.i, -2);
    CHECK_EQ_INT(p.vals[1].v.i, 777);
    CHECK_EQ_INT(p.vals[2].v.i, 888);
    CHECK_EQ_INT(p.vals[100].v.i, 99);
    for (size_t i = 1; i < p.n; i++) CHECK(p.ts[i] > p.ts[i - 1]);
    /* Type conflict on the same field: rejected, the batch keeps others. */
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    st_slice k = st_slice_cstr("host"), val = st_slice_cstr("a");
    stor_field_in fs[2] = { { st_slice_cstr("v"), { .type = ST_TYPE_FLOAT, .v.f = 1.5 } },
                            { st_slice_cstr("w"), { .type = ST_TYPE_BOOL, .v.b = 1 } } };
    char msg[256];
    uint32_t dropped;
    CHECK_EQ_INT(stor_batch_add(b, st_slice_cstr("m"), &k, &val, 1, fs, 2, 9, 0, msg, sizeof msg, &dropped), ST_ECONFLICT);
    CHECK_EQ_INT(dropped, 1);
    CHECK(strstr(msg, "is type float, already exists as type integer") != NULL);
    CHECK_EQ_INT(stor_batch_points(b), 1);
    CHECK_EQ_INT(stor_write_wait(b), 0);
    stor_close(s);
    /* Recovery replays the same. */
    REQUIRE(open_stor(dir, NULL, &s) == 0);
    sidx_db_info dbi;
    REQUIRE(sidx_db_lookup(stor_index(s), st_slice_cstr("db"), &dbi) == 0);
    REQUIRE(read_col(s, dbi.id, "a", &p) == 0);
    CHECK_EQ_INT(p.n, 101);
    CHECK_EQ_INT(p.vals[0].v.i, -2);
    CHECK_EQ_INT(p.vals[2].v.i, 888);
    stor_points_fini(&p);
    stor_close(s);
    rmrf(dir);
}

typedef struct scan_acc {
    uint64_t count, blocks_taken, points_seen;
    double sum;
    int64_t last_ts;
    int ordered;
} scan_acc;

static int acc_block(void *arg, const stor_block_stats *b)
{
    scan_acc *a = arg;
    if (b->min_ts <= a->last_ts) a->ordered = 0;
    a->count += b->count;
    a->sum += b->sum;
    a->blocks_taken++;
    a->last_ts = b->max_ts;
    return 1;
}

static int acc_points(void *arg, size_t n, const int64_t *ts, const st_value *v, const uint32_t *q)
{
    scan_acc *a = arg;
    (void)q;
    for (size_t i = 0; i < n; i++) {
        if (ts[i] <= a->last_ts) a->ordered = 0;
        a->last_ts = ts[i];
        a->count++;
        a->sum += (double)v[i].v.i;
        a->points_seen++;
    }
    return 0;
}

TEST(flush_segments_and_scan_stats)
{
    const char *dir = mkdata();
    stor *s;
    uint64_t db;
    REQUIRE(open_db(dir, &s, &db) == 0);
    /* 5000 points: value = t, t = 0..4999 (one partition). */
    stor_batch *b;
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    for (int64_t t = 0; t < 5000; t++) CHECK_EQ_INT(add_int(b, "a", t, t), 0);
    CHECK_EQ_INT(stor_write_wait(b), 0);
    CHECK_EQ_INT(stor_flush(s), 0);
    stor_stats st;
    stor_get_stats(s, &st);
    CHECK(st.flushes >= 1 && st.segments_written >= 1);
    /* Overwrite t = 2500 after the flush: its block is no longer clean. */
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    CHECK_EQ_INT(add_int(b, "a", 2500, 1000000), 0);
    CHECK_EQ_INT(add_int(b, "a", 7000, 7000), 0);
    CHECK_EQ_INT(stor_write_wait(b), 0);
    stor_points p;
    stor_points_init(&p);
    REQUIRE(read_col(s, db, "a", &p) == 0);
    CHECK_EQ_INT(p.n, 5001);
    CHECK_EQ_INT(p.vals[2500].v.i, 1000000);
    CHECK_EQ_INT(p.vals[5000].v.i, 7000);
    sidx_tag t = { st_slice_cstr("host"), st_slice_cstr("a") };
    uint64_t sid, fid;
    unsigned fl;
    st_type ex;
    REQUIRE(sidx_series_resolve(stor_index(s), db, st_slice_cstr("m"), &t, 1, &sid, &fl) == 0);
    REQUIRE(sidx_field_resolve(stor_index(s), db, st_slice_cstr("m"), st_slice_cstr("v"), ST_TYPE_INT, &fid, &fl, &ex) == 0);
    scan_acc a = { 0, 0, 0, 0, INT64_MIN, 1 };
    stor_scan_cb cb = { acc_block, acc_points, NULL, &a, 1 };
    REQUIRE(stor_scan(s, sid, fid, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &cb) == 0);
    double want = 0;
    for (size_t i = 0; i < p.n; i++) want += (double)p.vals[i].v.i;
    CHECK_EQ_U64(a.count, p.n);
    CHECK(a.sum == want);
    CHECK(a.ordered);
    CHECK(a.blocks_taken >= 3);          /* untouched blocks answered from statistics */
    CHECK(a.points_seen < p.n);          /* ... so fewer points were decoded */
    /* A range cutting blocks: those partial blocks come as points. */
    scan_acc a2 = { 0, 0, 0, 0, INT64_MIN, 1 };
    stor_scan_cb cb2 = { acc_block, acc_points, NULL, &a2, 1 };
    REQUIRE(stor_scan(s, sid, fid, 100, 4100, &cb2) == 0);
    double want2 = 0;
    uint64_t n2 = 0;
    for (size_t i = 0; i < p.n; i++)
        if (p.ts[i] >= 100 && p.ts[i] <= 4100) { want2 += (double)p.vals[i].v.i; n2++; }
    CHECK_EQ_U64(a2.count, n2);
    CHECK(a2.sum == want2);
    /* Value at or before t, across the segment file and the head. */
    stor_points lb;
    stor_points_init(&lb);
    REQUIRE(stor_last_before(s, sid, fid, 2500, &lb) == 0);
    CHECK(lb.n == 1 && lb.ts[0] == 2500 && lb.vals[0].v.i == 1000000);
    REQUIRE(stor_last_before(s, sid, fid, 2499, &lb) == 0);
    CHECK(lb.n == 1 && lb.ts[0] == 2499 && lb.vals[0].v.i == 2499);
    REQUIRE(stor_last_before(s, sid, fid, 6000, &lb) == 0);
    CHECK(lb.n == 1 && lb.ts[0] == 4999 && lb.vals[0].v.i == 4999);
    REQUIRE(stor_last_before(s, sid, fid, ST_TIME_MAX_NS, &lb) == 0);
    CHECK(lb.n == 1 && lb.ts[0] == 7000);
    REQUIRE(stor_last_before(s, sid, fid, -1, &lb) == 0);
    CHECK_EQ_INT(lb.n, 0);
    stor_points_fini(&lb);
    /* Restart: the same from segment files + WAL. */
    stor_close(s);
    REQUIRE(open_stor(dir, NULL, &s) == 0);
    sidx_db_info dbi;
    REQUIRE(sidx_db_lookup(stor_index(s), st_slice_cstr("db"), &dbi) == 0);
    REQUIRE(read_col(s, dbi.id, "a", &p) == 0);
    CHECK_EQ_INT(p.n, 5001);
    CHECK_EQ_INT(p.vals[2500].v.i, 1000000);
    stor_points_fini(&p);
    stor_close(s);
    rmrf(dir);
}

TEST(drops_and_retention)
{
    const char *dir = mkdata();
    stor *s;
    uint64_t db;
    REQUIRE(open_db(dir, &s, &db) == 0);
    int64_t day = 86400LL * 1000000000LL;
    int64_t old = (st_now_ns() / day - 10) * day; /* ten days ago, partition-aligned */
    stor_batch *b;
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ_INT(add_int(b, "a", old + i, i), 0);
        CHECK_EQ_INT(add_int(b, "b", st_now_ns() - 1000 + i, i), 0);
    }
    CHECK_EQ_INT(stor_write_wait(b), 0);
    CHECK_EQ_INT(stor_flush(s), 0);
    stor_points p;
    stor_points_init(&p);
    REQUIRE(read_col(s, db, "a", &p) == 0);
    CHECK_EQ_INT(p.n, 100);
    /* A 2-day retention: the old partition goes, new old points are refused. */
    CHECK_EQ_INT(stor_db_set_retention(s, db, 2 * day), 0);
    for (int i = 0; i < 200 && p.n; i++) {
        struct timespec d = { 0, 10000000 };
        nanosleep(&d, NULL);
        REQUIRE(read_col(s, db, "a", &p) == 0);
    }
    CHECK_EQ_INT(p.n, 0);
    REQUIRE(read_col(s, db, "b", &p) == 0);
    CHECK_EQ_INT(p.n, 100);
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    CHECK_EQ_INT(add_int(b, "a", old, 1), ST_ERANGE);
    stor_batch_destroy(b);
    /* DROP MEASUREMENT: gone, also after a restart (WAL replay). */
    CHECK_EQ_INT(stor_measurement_drop(s, db, st_slice_cstr("m")), 0);
    uint64_t *ids = NULL;
    size_t n = 0;
    CHECK(sidx_measurement_series_copy(stor_index(s), db, st_slice_cstr("m"), &ids, &n) != 0 || n == 0);
    st_free(ids);
    stor_close(s);
    REQUIRE(open_stor(dir, NULL, &s) == 0);
    sidx_db_info dbi;
    REQUIRE(sidx_db_lookup(stor_index(s), st_slice_cstr("db"), &dbi) == 0);
    CHECK_EQ_INT(dbi.rp_duration_ns, 2 * day);
    ids = NULL;
    n = 0;
    CHECK(sidx_measurement_series_copy(stor_index(s), dbi.id, st_slice_cstr("m"), &ids, &n) != 0 || n == 0);
    st_free(ids);
    /* Written again after the drop: new series, only the new points. */
    REQUIRE(stor_batch_create(s, dbi.id, &b) == 0);
    CHECK_EQ_INT(add_int(b, "b", st_now_ns(), 7), 0);
    CHECK_EQ_INT(stor_write_wait(b), 0);
    REQUIRE(read_col(s, dbi.id, "b", &p) == 0);
    CHECK_EQ_INT(p.n, 1);
    stor_points_fini(&p);
    stor_close(s);
    rmrf(dir);
}

TEST(delete_time_range)
{
    const char *dir = mkdata();
    stor *s;
    uint64_t db;
    REQUIRE(open_db(dir, &s, &db) == 0);
    stor_batch *b;
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    for (int64_t t = 0; t < 3000; t++) { add_int(b, "a", t, t); add_int(b, "b", t, t); }
    CHECK_EQ_INT(stor_write_wait(b), 0);
    CHECK_EQ_INT(stor_flush(s), 0);                 /* 0..2999 in a segment file */
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    for (int64_t t = 3000; t < 4000; t++) add_int(b, "a", t, t);
    CHECK_EQ_INT(stor_write_wait(b), 0);                 /* 3000..3999 in the head */
    sidx_tag t = { st_slice_cstr("host"), st_slice_cstr("a") };
    uint64_t sid;
    unsigned fl;
    REQUIRE(sidx_series_resolve(stor_index(s), db, st_slice_cstr("m"), &t, 1, &sid, &fl) == 0);
    CHECK_EQ_INT(stor_delete(s, db, &sid, 1, 1000, 3499), 0);
    stor_points p;
    stor_points_init(&p);
    REQUIRE(read_col(s, db, "a", &p) == 0);
    CHECK_EQ_INT(p.n, 1000 + 500);
    CHECK_EQ_INT(p.ts[999], 999);
    CHECK_EQ_INT(p.ts[1000], 3500);
    REQUIRE(read_col(s, db, "b", &p) == 0);
    CHECK_EQ_INT(p.n, 3000);                        /* other series untouched */
    /* New points in the range after the delete are kept. */
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    add_int(b, "a", 2000, 42);
    CHECK_EQ_INT(stor_write_wait(b), 0);
    stor_close(s);
    REQUIRE(open_stor(dir, NULL, &s) == 0);
    sidx_db_info dbi;
    REQUIRE(sidx_db_lookup(stor_index(s), st_slice_cstr("db"), &dbi) == 0);
    REQUIRE(read_col(s, dbi.id, "a", &p) == 0);
    CHECK_EQ_INT(p.n, 1501);
    CHECK_EQ_INT(p.ts[1000], 2000);
    CHECK_EQ_INT(p.vals[1000].v.i, 42);
    stor_points_fini(&p);
    stor_close(s);
    rmrf(dir);
}

/* Power cut at a random mutating I/O call; every acknowledged batch survives. */
static void power_cut_round(uint64_t seed, int mode)
{
    const char *dir = mkdata();
    stor_io_sim *sim;
    REQUIRE(stor_io_sim_create(seed, &sim) == 0);
    stor *s;
    REQUIRE(open_stor(dir, stor_io_sim_io(sim), &s) == 0);
    uint64_t db;
    REQUIRE(stor_db_create(s, st_slice_cstr("db"), &db) == 0);
    srand((unsigned)seed);
    stor_io_sim_die_after(sim, 5 + (uint64_t)(rand() % 60));
    int acked_batches = 0, failed = 0;
    for (int bi = 0; bi < 200 && !failed; bi++) {
        stor_batch *b;
        if (stor_batch_create(s, db, &b) != 0) break;
        for (int i = 0; i < 50; i++) add_int(b, bi % 2 ? "b" : "a", (int64_t)bi * 1000 + i, bi * 1000 + i);
        int rc = stor_write_wait(b);
        if (rc == 0) acked_batches++;
        else failed = 1;
        /* Flushes too: the cut may land inside a segment file's writing. */
        if (!failed && bi % 4 == 3 && stor_flush(s) != 0) failed = 1;
    }
    if (getenv("TEST_STOR_VERBOSE")) printf("  seed %llu: %d batches acknowledged, cut=%d\n", (unsigned long long)seed, acked_batches, failed);
    CHECK(failed); /* the power did go out mid-stream */
    stor_close(s);
    CHECK_EQ_INT(stor_io_sim_crash(sim, (enum stor_io_crash_mode)mode), 0);
    stor_io_sim_destroy(sim);
    REQUIRE(open_stor(dir, NULL, &s) == 0);
    sidx_db_info dbi;
    int have_db = sidx_db_lookup(stor_index(s), st_slice_cstr("db"), &dbi) == 0;
    CHECK(have_db || acked_batches == 0);
    if (have_db) {
        stor_points p;
        stor_points_init(&p);
        for (int h = 0; h < 2; h++) {
            REQUIRE(read_col(s, dbi.id, h ? "b" : "a", &p) == 0);
            /* Acknowledged batches of this host: all 50 points each, exact. */
            size_t want = 0;
            for (int bi = h; bi < acked_batches; bi += 2) want += 50;
            CHECK(p.n >= want);
            size_t k = 0;
            for (int bi = h; bi < acked_batches; bi += 2)
                for (int i = 0; i < 50 && k < p.n; i++, k++) {
                    CHECK_EQ_INT(p.ts[k], (int64_t)bi * 1000 + i);
                    CHECK_EQ_INT(p.vals[k].v.i, bi * 1000 + i);
                }
            /* Anything beyond was written but not acknowledged: allowed, but
             * only whole, genuine values of the next batch of this host. */
            for (; k < p.n; k++) CHECK_EQ_INT(p.vals[k].v.i, p.ts[k]);
        }
        stor_points_fini(&p);
    }
    stor_close(s);
    rmrf(dir);
}

TEST(power_cut_drop)
{
    for (uint64_t seed = 1; seed <= 12; seed++) power_cut_round(seed, STOR_IO_CRASH_DROP);
}

TEST(power_cut_tear)
{
    for (uint64_t seed = 100; seed <= 112; seed++) power_cut_round(seed, STOR_IO_CRASH_TEAR);
}

/* A series resolved once per batch: refs carry later lines; a ref is
 * refused by any other batch; the definitions still reach the WAL (replay
 * after reopening finds every point). Values: v = t / 10 + host number. */
TEST(series_refs)
{
    const char *dir = mkdata();
    stor *s;
    uint64_t db;
    REQUIRE(open_db(dir, &s, &db) == 0);
    stor_batch *b;
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    stor_series_ref ref[3], none;
    CHECK_EQ_INT(stor_batch_series_ref(b, &none), ST_ENOTFOUND); /* nothing added yet */
    static const char *hosts[3] = { "h0", "h1", "h2" };
    for (int h = 0; h < 3; h++) {
        REQUIRE(add_int(b, hosts[h], 0, h) == 0);
        REQUIRE(stor_batch_series_ref(b, &ref[h]) == 0);
    }
    char msg[256];
    uint32_t dropped;
    for (int64_t t = 10; t < 1000; t += 10)
        for (int h = 0; h < 3; h++) {
            stor_field_in f = { st_slice_cstr("v"), { .type = ST_TYPE_INT, .v.i = t / 10 + h } };
            CHECK_EQ_INT(stor_batch_add_ref(b, ref[h], &f, 1, t, 0, msg, sizeof msg, &dropped), 0);
        }
    /* a conflicting field through a ref: refused alone, as through stor_batch_add */
    stor_field_in bad = { st_slice_cstr("v"), { .type = ST_TYPE_FLOAT, .v.f = 1 } };
    CHECK_EQ_INT(stor_batch_add_ref(b, ref[0], &bad, 1, 5, 0, msg, sizeof msg, &dropped), ST_ECONFLICT);
    CHECK_EQ_INT(dropped, 1);
    CHECK(strstr(msg, "on measurement \"m\" is type float") != NULL);
    CHECK_EQ_INT(stor_batch_points(b), 300);
    uint64_t first = stor_batch_id(b);
    CHECK_EQ_INT(stor_write_wait(b), 0);
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    CHECK(stor_batch_id(b) != first);
    stor_field_in f = { st_slice_cstr("v"), { .type = ST_TYPE_INT, .v.i = 1 } };
    CHECK_EQ_INT(stor_batch_add_ref(b, ref[1], &f, 1, 5, 0, msg, sizeof msg, &dropped), ST_EINVAL);
    CHECK_EQ_INT(stor_batch_points(b), 0);
    stor_batch_destroy(b);
    stor_close(s);
    REQUIRE(open_stor(dir, NULL, &s) == 0); /* replay: the series came with the first record */
    stor_points p;
    stor_points_init(&p);
    for (int h = 0; h < 3; h++) {
        REQUIRE(read_col(s, db, hosts[h], &p) == 0);
        CHECK_EQ_INT(p.n, 100);
        for (size_t i = 0; i < p.n; i++) CHECK_EQ_INT(p.vals[i].v.i, p.ts[i] / 10 + h);
    }
    stor_points_fini(&p);
    stor_close(s);
    rmrf(dir);
}

/* The posix table with every fsync slowed down: a flush takes a while. */
static int slow_fsync(void *ctx, int fd)
{
    struct timespec d = { 0, 300 * 1000000L };
    nanosleep(&d, NULL);
    return stor_io_posix()->fsync(ctx, fd);
}
static int slow_fdatasync(void *ctx, int fd)
{
    struct timespec d = { 0, 300 * 1000000L };
    nanosleep(&d, NULL);
    return stor_io_posix()->fdatasync(ctx, fd);
}
static int slow_fsync_dir(void *ctx, const char *path)
{
    struct timespec d = { 0, 300 * 1000000L };
    nanosleep(&d, NULL);
    return stor_io_posix()->fsync_dir(ctx, path);
}

/* One batch: `points` points of each of 10 series (field "v", float),
 * one second apart from *t; *t moves on. */
static int write_floats(stor *s, uint64_t db, int points, int64_t *t)
{
    stor_batch *b;
    int rc = stor_batch_create(s, db, &b);
    if (rc) return rc;
    st_slice k = st_slice_cstr("host");
    char host[16], msg[128];
    uint32_t dropped;
    for (int p = 0; p < points && !rc; p++, *t += INT64_C(1000000000)) {
        for (int h = 0; h < 10 && !rc; h++) {
            snprintf(host, sizeof host, "h%d", h);
            st_slice val = st_slice_cstr(host);
            stor_field_in f = { st_slice_cstr("v"), { .type = ST_TYPE_FLOAT, .v.f = (double)(*t / 1000000000 % 9973) * 1.37 + h } };
            rc = stor_batch_add(b, st_slice_cstr("m"), &k, &val, 1, &f, 1, *t, 0, msg, sizeof msg, &dropped);
        }
    }
    if (rc) { stor_batch_destroy(b); return rc; }
    return stor_write_wait(b);
}

/* Both heads together stay within max_head_bytes plus one record: a head
 * frozen well past half the budget (its last record was large) leaves the
 * next one that much less while it is being flushed (slowly here), where
 * before the next one could fill half the budget on top of it. Every
 * acknowledged point is then read back. */
TEST(heads_together_within_budget)
{
    const char *dir = mkdata();
    REQUIRE(dir != NULL);
    stor_io slow = *stor_io_posix();
    slow.fsync = slow_fsync;
    slow.fdatasync = slow_fdatasync;
    slow.fsync_dir = slow_fsync_dir;
    stor_opts o;
    memset(&o, 0, sizeof o);
    o.data_dir = dir;
    o.fsync_mode = STOR_FSYNC_NEVER;
    o.wal_segment_bytes = 64u << 20;
    o.max_head_bytes = 4u << 20;
    o.io = &slow;
    stor *s;
    REQUIRE(stor_open(&o, &s) == 0);
    uint64_t db;
    REQUIRE(stor_db_create(s, st_slice_cstr("db"), &db) == 0);
    int64_t t = INT64_C(1700000000) * 1000000000;
    uint64_t points = 0;
    stor_stats st;
    /* The first head to ~1.4 MiB in small records, then one record of
     * ~1.2 MiB: it is frozen at ~2.6 MiB, past half the budget (2 MiB). */
    do {
        REQUIRE(write_floats(s, db, 100, &t) == 0);
        points += 1000;
        stor_get_stats(s, &st);
    } while (st.head_bytes < (1400u << 10));
    REQUIRE(write_floats(s, db, 13000, &t) == 0);
    points += 130000;
    stor_get_stats(s, &st);
    CHECK(st.head_bytes > (2u << 20));
    /* Small records go on while it is flushed. */
    uint64_t most = 0, flushes0 = st.flushes;
    for (int i = 0; i < 20000 && st.flushes == flushes0; i++) {
        REQUIRE(write_floats(s, db, 50, &t) == 0);
        points += 500;
        stor_get_stats(s, &st);
        if (st.head_bytes > most) most = st.head_bytes;
    }
    CHECK(st.flushes > flushes0); /* the frozen head went while the writer waited */
    printf("  heads at most %" PRIu64 " KiB (budget %zu KiB)\n", most >> 10, o.max_head_bytes >> 10);
    CHECK(most <= o.max_head_bytes + (64u << 10));
    uint64_t got = 0;
    for (int h = 0; h < 10; h++) {
        char host[16];
        snprintf(host, sizeof host, "h%d", h);
        sidx_tag tag = { st_slice_cstr("host"), st_slice_cstr(host) };
        uint64_t sid, fid;
        unsigned fl;
        st_type ex;
        stor_points p;
        stor_points_init(&p);
        int rc = sidx_series_resolve(stor_index(s), db, st_slice_cstr("m"), &tag, 1, &sid, &fl);
        if (!rc) rc = sidx_field_resolve(stor_index(s), db, st_slice_cstr("m"), st_slice_cstr("v"), ST_TYPE_FLOAT, &fid, &fl, &ex);
        if (!rc) rc = stor_read(s, sid, fid, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &p);
        CHECK_EQ_INT(rc, 0);
        got += p.n;
        stor_points_fini(&p);
    }
    CHECK_EQ_U64(got, points);
    stor_close(s);
    rmrf(dir);
}

/* The flush at close has the machine to itself and writes its columns in
 * two threads, two files (storage/flush.c): every point comes back once. */
TEST(close_flush_in_two_threads)
{
    const char *dir = mkdata();
    stor *s;
    uint64_t db;
    REQUIRE(open_db(dir, &s, &db) == 0);
    enum { HOSTS = 100, POINTS = 50 };
    char host[16];
    stor_batch *b;
    REQUIRE(stor_batch_create(s, db, &b) == 0);
    for (int h = 0; h < HOSTS; h++) {
        snprintf(host, sizeof host, "h%03d", h);
        for (int i = 0; i < POINTS; i++) REQUIRE(add_int(b, host, 1000 + i * 10, h * 1000 + i) == 0);
    }
    CHECK_EQ_INT(stor_write_wait(b), 0);
    stor_close(s);
    char cmd[sizeof tmpl + 64];
    snprintf(cmd, sizeof cmd, "find '%s/db' -name '*.seg' | wc -l", dir);
    FILE *f = popen(cmd, "r");
    REQUIRE(f);
    int files = -1;
    CHECK_EQ_INT(fscanf(f, "%d", &files), 1);
    pclose(f);
    CHECK_EQ_INT(files, 2);
    REQUIRE(open_stor(dir, NULL, &s) == 0);
    stor_points p;
    stor_points_init(&p);
    int bad = 0;
    for (int h = 0; h < HOSTS; h++) {
        snprintf(host, sizeof host, "h%03d", h);
        if (read_col(s, db, host, &p) != 0 || p.n != POINTS) { bad++; continue; }
        for (size_t i = 0; i < p.n; i++) bad += p.vals[i].v.i != h * 1000 + (int64_t)i || p.ts[i] != 1000 + (int64_t)i * 10;
    }
    CHECK_EQ_INT(bad, 0);
    stor_points_fini(&p);
    stor_close(s);
    rmrf(dir);
}

int main(void)
{
    st_log_set_level(ST_LOG_OFF);
    RUN(write_read_last_write_wins);
    RUN(series_refs);
    RUN(flush_segments_and_scan_stats);
    RUN(close_flush_in_two_threads);
    RUN(drops_and_retention);
    RUN(delete_time_range);
    RUN(power_cut_drop);
    RUN(power_cut_tear);
    RUN(heads_together_within_budget);
    return unit_done();
}
