/*
 * tools/bench/bench_fastagg.c — query/fastagg on a flushed stor.
 *
 *   bench_fastagg [SERIES [POINTS [TMPDIR]]]    (default 100 100000 $TMPDIR|/tmp)
 *
 * Writes SERIES series x POINTS points of one float field, 10 s apart: a
 * random walk with steps uniform in [-1, 1] rounded to 2 decimals
 * (xoshiro256**, fixed seed), flushes them to segment files, then times
 * max + mean + count per series (a) over the whole range and (b) by 1 h
 * windows, each with block statistics on and off (warm block cache; best of
 * 5 runs). Values/s = values in range / wall time: "effective" with
 * statistics, since most values are never decoded. Lines
 * "bench_fastagg: <label> <values/s> values/s" are the figures.
 * Single thread; the temporary directory is removed at the end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/rng.h"
#include "query/fastagg.h"
#include "storage/stor.h"


static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define T0 1451606400000000000LL /* 2016-01-01 */
#define STEP 10000000000LL       /* 10 s */
#define HOUR 3600000000000LL

static int load(stor *s, uint64_t db, int nseries, int npoints)
{
    st_rng r;
    st_rng_seed(&r, 42, 0);
    const int chunk = 10000;
    char host[32], msg[128];
    for (int h = 0; h < nseries; h++) {
        snprintf(host, sizeof host, "host%03d", h);
        st_slice tk = st_slice_cstr("host"), tv = st_slice_cstr(host);
        double v = st_rng_unit(&r) * 100;
        for (int k0 = 0; k0 < npoints; k0 += chunk) {
            stor_batch *b;
            int rc = stor_batch_create(s, db, &b);
            if (rc) return rc;
            for (int k = k0; k < k0 + chunk && k < npoints; k++) {
                v += st_rng_unit(&r) * 2 - 1;
                stor_field_in f = { st_slice_cstr("v"), { .type = ST_TYPE_FLOAT, .v.f = round(v * 100) / 100 } };
                uint32_t dropped;
                rc = stor_batch_add(b, st_slice_cstr("cpu"), &tk, &tv, 1, &f, 1, T0 + (int64_t)k * STEP, 0, msg, sizeof msg,
                                    &dropped);
                if (rc) { stor_batch_destroy(b); return rc; }
            }
            if ((rc = stor_write_wait(b))) return rc;
        }
    }
    return stor_flush(s);
}

/* Best of 5: seconds for one pass over every series. */
static double timed(stor *s, uint64_t *sids, int nseries, qfa_query *q, const qfa_opts *o, qfa_result *r,
                    double *checksum, uint64_t *blocks)
{
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double sum = 0;
        uint64_t nb = 0;
        double t0 = now_s();
        for (int h = 0; h < nseries; h++) {
            q->series = &sids[h];
            q->nseries = 1;
            int rc = qfa_run(s, o, q, r);
            if (rc) { fprintf(stderr, "bench_fastagg: qfa_run: %s\n", st_strerror(rc)); exit(1); }
            for (size_t w = 0; w < r->nwindows; w++) sum += r->win[w].max.v.f + r->win[w].mean + (double)r->win[w].count;
            nb += r->blocks_stats;
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
        *checksum = sum;
        *blocks = nb;
    }
    return best;
}

int main(int argc, char **argv)
{
    int nseries = argc > 1 ? atoi(argv[1]) : 100;
    int npoints = argc > 2 ? atoi(argv[2]) : 100000;
    const char *tmp = argc > 3 ? argv[3] : getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    if (nseries <= 0 || npoints <= 0) { fprintf(stderr, "usage: bench_fastagg [SERIES [POINTS [TMPDIR]]]\n"); return 2; }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bench-fastagg-XXXXXX", tmp);
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    st_log_set_level(ST_LOG_WARN);

    stor_opts so;
    memset(&so, 0, sizeof so);
    so.data_dir = dir;
    so.fsync_mode = STOR_FSYNC_NEVER;
    so.max_head_bytes = (size_t)2 << 30;
    so.block_cache_bytes = (size_t)1 << 30;
    stor *s;
    uint64_t db;
    int rc = stor_open(&so, &s);
    if (!rc) rc = stor_db_create(s, st_slice_cstr("bench"), &db);
    if (rc) { fprintf(stderr, "bench_fastagg: open: %s\n", st_strerror(rc)); return 1; }
    double t0 = now_s();
    rc = load(s, db, nseries, npoints);
    if (rc) { fprintf(stderr, "bench_fastagg: load: %s\n", st_strerror(rc)); return 1; }
    double values = (double)nseries * npoints;
    printf("bench_fastagg: loaded %.0f values in %.2f s (%d series x %d points, 10 s apart, flushed)\n", values,
           now_s() - t0, nseries, npoints);

    uint64_t *sids = malloc((size_t)nseries * sizeof *sids);
    uint64_t fid;
    unsigned fl;
    st_type ex;
    if (!sids || sidx_field_resolve(stor_index(s), db, st_slice_cstr("cpu"), st_slice_cstr("v"), ST_TYPE_FLOAT, &fid, &fl, &ex))
        return 1;
    for (int h = 0; h < nseries; h++) {
        char host[32];
        snprintf(host, sizeof host, "host%03d", h);
        sidx_tag t = { st_slice_cstr("host"), st_slice_cstr(host) };
        if (sidx_series_resolve(stor_index(s), db, st_slice_cstr("cpu"), &t, 1, &sids[h], &fl)) return 1;
    }

    int64_t tmax = T0 + (int64_t)npoints * STEP - 1;
    size_t nw = (size_t)((tmax - T0) / HOUR + 1);
    int64_t *bnd = malloc((nw + 1) * sizeof *bnd);
    if (!bnd) return 1;
    for (size_t w = 0; w <= nw; w++) bnd[w] = T0 + (int64_t)w * HOUR;

    qfa_result r;
    qfa_result_init(&r);
    static const char *labels[2][2] = { { "whole-range stats-off", "whole-range stats-on" },
                                        { "1h-windows stats-off", "1h-windows stats-on" } };
    double check[2][2];
    for (int mode = 0; mode < 2; mode++) {
        for (int st = 0; st < 2; st++) {
            qfa_query q = { fid, ST_TYPE_FLOAT, NULL, 0, T0, tmax, mode ? bnd : NULL, mode ? nw : 1 };
            qfa_opts o = { QFA_MAX | QFA_MEAN | QFA_COUNT, 0, st, NULL, NULL };
            uint64_t blocks;
            double dt = timed(s, sids, nseries, &q, &o, &r, &check[mode][st], &blocks);
            printf("bench_fastagg: %s %.0f values/s (%.2f ms, %llu blocks from statistics)\n", labels[mode][st],
                   values / dt, dt * 1e3, (unsigned long long)blocks);
        }
        if (fabs(check[mode][0] - check[mode][1]) > 1e-6 * fabs(check[mode][0]))
            printf("bench_fastagg: WARNING results differ with and without statistics\n");
    }
    qfa_result_fini(&r);
    free(bnd);
    free(sids);
    stor_close(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) { /* best effort */ }
    return 0;
}
