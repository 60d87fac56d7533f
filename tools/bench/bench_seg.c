/*
 * tools/bench/bench_seg.c — segment files on `strata gen cpu`-like data.
 *
 *   bench_seg [HOSTS [POINTS [TMPDIR]]]      (default 100 10000 $TMPDIR|/tmp)
 *
 * Builds in memory what `strata gen cpu` writes: per host 10 fields, each an
 * independent random walk clamped to [0, 100] (start uniform in [0, 100],
 * steps uniform in [-1, 1], xoshiro256**), 10 s apart from 2016-01-01; at
 * full precision and rounded to 2 decimals (the double `--decimals 2` text
 * parses back to). Writes one segment per configuration (block points,
 * zstd level) and prints, per configuration:
 *   bytes/value   file bytes / values
 *   write MB/s    input bytes (16 per point: timestamp + value) / write time
 *                 (encode, write, fsync, rename)
 *   scan values/s every block read (no cache), CRC-checked and decoded, summed
 *   random block  one random block read (no cache): microseconds per block
 * Lines "bench_seg: ..." are the figures for tools/bench/run.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/point.h"
#include "common/rng.h"
#include "storage/bcache.h"
#include "storage/io.h"
#include "storage/seg.h"

#define FIELDS 10


static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct cfg {
    uint32_t block_points;
    int zstd;
} cfg;

static int run(const char *dir, const char *label, size_t hosts, size_t points, const int64_t *ts,
               const double *vals, cfg c, st_value *scratch)
{
    seg_writer_opts o = { c.block_points, c.zstd, 1, 0 };
    seg_writer *w = NULL;
    double t0 = now_s();
    int rc = seg_writer_open(stor_io_posix(), dir, 1, &o, &w);
    for (size_t h = 0; h < hosts && !rc; h++) {
        for (size_t f = 0; f < FIELDS && !rc; f++) {
            const double *v = vals + (h * FIELDS + f) * points;
            for (size_t k = 0; k < points; k++) {
                scratch[k].type = ST_TYPE_FLOAT;
                scratch[k].v.f = v[k];
            }
            rc = seg_writer_add(w, h + 1, f + 1, ST_TYPE_FLOAT, points, ts, scratch, NULL);
        }
    }
    seg_info info;
    if (rc) { seg_writer_abort(w); fprintf(stderr, "bench_seg: write: %s\n", st_strerror(rc)); return 1; }
    rc = seg_writer_finish(w, &info);
    double t1 = now_s();
    if (rc) { fprintf(stderr, "bench_seg: finish: %s\n", st_strerror(rc)); return 1; }
    double nvals = (double)hosts * FIELDS * (double)points;

    char path[512];
    seg_path(dir, 1, 0, path, sizeof path);
    seg *sg = NULL;
    rc = seg_open(stor_io_posix(), path, NULL, &sg);
    if (rc) { fprintf(stderr, "bench_seg: open: %s\n", st_strerror(rc)); return 1; }
    /* Full scan, twice (the first warms the page cache); report the second. */
    double sum = 0, t2 = 0, t3 = 0;
    uint64_t seen = 0;
    for (int pass = 0; pass < 2; pass++) {
        sum = 0;
        seen = 0;
        t2 = now_s();
        for (size_t i = 0; i < seg_column_count(sg); i++) {
            const seg_column *col = seg_column_at(sg, i);
            for (uint32_t b = 0; b < col->nblocks; b++) {
                const seg_block *blk = NULL;
                rc = seg_block_read(sg, col, b, &blk);
                if (rc) { fprintf(stderr, "bench_seg: read: %s\n", st_strerror(rc)); seg_unref(sg); return 1; }
                for (uint32_t k = 0; k < blk->n; k++) sum += blk->f[k];
                seen += blk->n;
                seg_block_release(blk);
            }
        }
        t3 = now_s();
    }
    /* Random single-block reads. */
    uint64_t x = 12345;
    const int NR = 20000;
    double t4 = now_s();
    for (int r = 0; r < NR; r++) {
        const seg_column *col = seg_column_at(sg, (size_t)(st_splitmix64(&x) % seg_column_count(sg)));
        uint32_t b = (uint32_t)(st_splitmix64(&x) % col->nblocks);
        const seg_block *blk = NULL;
        if (seg_block_read(sg, col, b, &blk) == 0) sum += blk->f[0];
        seg_block_release(blk);
    }
    double t5 = now_s();
    seg_unref(sg);
    unlink(path);
    if (seen != (uint64_t)nvals) { fprintf(stderr, "bench_seg: scan saw %llu values\n", (unsigned long long)seen); return 1; }
    printf("bench_seg: %s-bp%u-z%d bytes/value %.3f\n", label, c.block_points, c.zstd, (double)info.file_bytes / nvals);
    printf("bench_seg: %s-bp%u-z%d write %.1f MB/s\n", label, c.block_points, c.zstd,
           nvals * 16 / (t1 - t0) / 1e6);
    printf("bench_seg: %s-bp%u-z%d scan %.0f values/s\n", label, c.block_points, c.zstd, nvals / (t3 - t2));
    printf("bench_seg: %s-bp%u-z%d random-block %.1f us\n", label, c.block_points, c.zstd, (t5 - t4) / NR * 1e6);
    printf("  (%s, %u points/block, zstd %d: %.1f MB, %llu blocks, index %.1f KB, write %.2fs, scan %.3fs, checksum %g)\n",
           label, c.block_points, c.zstd, (double)info.file_bytes / 1e6, (unsigned long long)info.blocks,
           (double)info.index_bytes / 1e3, t1 - t0, t3 - t2, sum);
    return 0;
}

int main(int argc, char **argv)
{
    size_t hosts = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 100;
    size_t points = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 10000;
    const char *tmp = argc > 3 ? argv[3] : getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    if (!hosts || !points) { fprintf(stderr, "usage: bench_seg [HOSTS [POINTS [TMPDIR]]]\n"); return 2; }
    st_log_set_level(ST_LOG_WARN);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/strata-bench-seg-XXXXXX", tmp);
    if (!mkdtemp(dir)) { perror("bench_seg: mkdtemp"); return 1; }

    int64_t *ts = malloc(points * sizeof *ts);
    double *full = malloc(hosts * FIELDS * points * sizeof *full);
    double *dec2 = malloc(hosts * FIELDS * points * sizeof *dec2);
    st_value *scratch = malloc(points * sizeof *scratch);
    if (!ts || !full || !dec2 || !scratch) { fprintf(stderr, "bench_seg: out of memory\n"); return 1; }
    for (size_t k = 0; k < points; k++) ts[k] = 1451606400000000000LL + (int64_t)k * 10000000000LL;
    for (size_t h = 0; h < hosts; h++) {
        st_rng r;
        st_rng_seed(&r, 1, h);
        double v[FIELDS];
        for (int f = 0; f < FIELDS; f++) v[f] = 100.0 * st_rng_unit(&r);
        for (size_t k = 0; k < points; k++) {
            if (k > 0) {
                for (int f = 0; f < FIELDS; f++) {
                    double y = v[f] + (2.0 * st_rng_unit(&r) - 1.0);
                    v[f] = y < 0.0 ? 0.0 : y > 100.0 ? 100.0 : y;
                }
            }
            for (int f = 0; f < FIELDS; f++) {
                size_t i = (h * FIELDS + (size_t)f) * points + k;
                full[i] = v[f];
                dec2[i] = round(v[f] * 100.0) / 100.0;
            }
        }
    }
    printf("  (%zu hosts x %d fields x %zu points = %.0f values, 10 s apart)\n", hosts, FIELDS, points,
           (double)hosts * FIELDS * (double)points);
    static const cfg cfgs[] = { { 1024, 3 }, { 256, 3 }, { 4096, 3 }, { 1024, 0 } };
    int rc = 0;
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0] && !rc; i++) {
        rc = run(dir, "full", hosts, points, ts, full, cfgs[i], scratch);
        if (!rc) rc = run(dir, "dec2", hosts, points, ts, dec2, cfgs[i], scratch);
    }
    rmdir(dir);
    free(ts);
    free(full);
    free(dec2);
    free(scratch);
    return rc;
}
