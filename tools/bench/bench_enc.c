/*
 * tools/bench/bench_enc.c — speed and size of the column encodings
 * (storage/enc.h) on 1M generated values, one core: each encoding is run
 * over blocks of BLOCK values (as segment files hold them) and, for the
 * head streams, as one growing chunk. Prints one line per case:
 *   bench_enc: <encoding> <dataset> decode <Mvalues/s> encode <Mvalues/s> <bits/value>
 * Usage: bench_enc [values] [block]. Single-threaded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "storage/enc.h"

static size_t N = 1000000, BLOCK = 8192;
static uint64_t rs = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }
static double rnd01(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint64_t sink;

/* Encode all blocks once (timed), then decode them repeatedly (timed). */
static void bench_block(const char *dataset, enc_type t, int id, const void *vals, size_t es, int zl)
{
    size_t nb = (N + BLOCK - 1) / BLOCK;
    st_buf *blk = calloc(nb, sizeof *blk);
    char *out = malloc(BLOCK * es);
    double best_enc = 1e9;
    enc_zctx zc; /* compaction's way: one context, byte planes at its level */
    enc_zctx_init(&zc);
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        for (size_t b = 0; b < nb; b++) {
            size_t n = N - b * BLOCK < BLOCK ? N - b * BLOCK : BLOCK;
            st_buf_clear(&blk[b]);
            int rc = enc_block_encode_z(t, id, (const char *)vals + b * BLOCK * es, n, &blk[b], zl, &zc);
            if (rc) { printf("bench_enc: %s %s encode failed: %s\n", enc_id_name(id), dataset, st_strerror(rc)); return; }
        }
        double dt = now_s() - t0;
        if (dt < best_enc) best_enc = dt;
    }
    size_t bytes = 0;
    for (size_t b = 0; b < nb; b++) bytes += blk[b].len;
    double best_dec = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (size_t b = 0; b < nb; b++) {
            size_t n = N - b * BLOCK < BLOCK ? N - b * BLOCK : BLOCK;
            int rc = enc_block_decode(blk[b].ptr, blk[b].len, t, n, out);
            if (rc) { printf("bench_enc: %s %s decode failed\n", enc_id_name(id), dataset); return; }
            if (memcmp(out, (const char *)vals + b * BLOCK * es, n * es)) { printf("bench_enc: %s %s MISMATCH\n", enc_id_name(id), dataset); return; }
            sink += (uint64_t)out[0];
        }
        double dt = now_s() - t0;
        if (dt < best_dec) best_dec = dt;
    }
    /* The memcmp check is inside the timed loop; time it alone and subtract. */
    double t0 = now_s();
    for (size_t b = 0; b < nb; b++) {
        size_t n = N - b * BLOCK < BLOCK ? N - b * BLOCK : BLOCK;
        memcpy(out, (const char *)vals + b * BLOCK * es, n * es);
        sink += (uint64_t)memcmp(out, (const char *)vals + b * BLOCK * es, n * es);
    }
    double cmp = now_s() - t0;
    if (best_dec - cmp > best_dec / 4) best_dec -= cmp;
    char name[48];
    snprintf(name, sizeof name, "%s%s", id < 0 ? "auto" : enc_id_name(id),
             zl >= ENC_PLANES_MIN_LEVEL ? "+zstd9" : zl ? "+zstd" : "");
    printf("bench_enc: %s %s decode %.0f encode %.0f %.2f\n", name, dataset,
           N / best_dec / 1e6, N / best_enc / 1e6, bytes * 8.0 / (double)N);
    for (size_t b = 0; b < nb; b++) st_buf_fini(&blk[b]);
    enc_zctx_fini(&zc);
    free(blk);
    free(out);
}

/* A head stream's decoder, typed away for head_report. */
typedef int (*head_decode_fn)(const st_buf *enc, void *out);
static int dec_gorilla(const st_buf *e, void *out) { return enc_float_gorilla_decode(e->ptr, e->len, N, out); }
static int dec_ts(const st_buf *e, void *out) { return enc_ts_decode(e->ptr, e->len, N, out); }

/* Times the decode of N values (best of 5: the first also faults in the
 * output), checks them against want and prints the figures. */
static void head_report(const char *codec, const char *dataset, const st_buf *enc, double te, const void *want,
                        head_decode_fn dec)
{
    uint64_t *o = malloc(N * sizeof *o);
    if (!o) return;
    double td = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        dec(enc, o);
        if (now_s() - t0 < td) td = now_s() - t0;
    }
    if (memcmp(o, want, N * 8)) printf("bench_enc: %s MISMATCH\n", codec);
    printf("bench_enc: %s %s decode %.0f encode %.0f %.2f\n", codec, dataset, N / td / 1e6, N / te / 1e6,
           enc->len * 8.0 / (double)N);
    free(o);
}

static void bench_head_float(const char *dataset, const double *v)
{
    enc_float_appender a;
    enc_float_appender_init(&a);
    double t0 = now_s();
    for (size_t i = 0; i < N; i++) enc_float_appender_append(&a, v[i]);
    head_report("head-gorilla", dataset, &a.buf, now_s() - t0, v, dec_gorilla);
    enc_float_appender_fini(&a);
}

static void bench_head_ts(const char *dataset, const int64_t *v)
{
    enc_ts_appender a;
    enc_ts_appender_init(&a);
    double t0 = now_s();
    for (size_t i = 0; i < N; i++) enc_ts_appender_append(&a, v[i]);
    head_report("head-ts", dataset, &a.buf, now_s() - t0, v, dec_ts);
    enc_ts_appender_fini(&a);
}

int main(int argc, char **argv)
{
    if (argc > 1) N = (size_t)strtoull(argv[1], NULL, 10);
    if (argc > 2) BLOCK = (size_t)strtoull(argv[2], NULL, 10);
    if (!N || !BLOCK) return 2;
    double *walk = malloc(N * 8), *dec2 = malloc(N * 8), *dec1 = malloc(N * 8), *cpu = malloc(N * 8);
    double *vib = malloc(N * 8);
    int64_t *ts = malloc(N * 8), *tsj = malloc(N * 8), *tsm = malloc(N * 8), *cnt = malloc(N * 8), *small = malloc(N * 8);
    double w = 100, c = 50;
    for (size_t i = 0; i < N; i++) {
        w += rnd01() - 0.5;
        walk[i] = w;
        /* strata gen cpu's fields: step uniform in [-1, 1], clamped to [0, 100] */
        c += 2.0 * rnd01() - 1.0;
        cpu[i] = c = c < 0.0 ? 0.0 : c > 100.0 ? 100.0 : c;
        dec2[i] = round(w * 100) / 100;
        dec1[i] = round(w * 10) / 10;
        ts[i] = 1700000000000000000ll + (int64_t)i * 10000000000ll;
        tsj[i] = ts[i] + (int64_t)(rnd() % 2000000) - 1000000;
        tsm[i] = ts[i] + ((int64_t)(rnd() % 200) - 100) * 1000000;
        cnt[i] = (int64_t)(i * 1000 + rnd() % 50);
        small[i] = (int64_t)(rnd() % 2001) - 1000;
    }
    for (size_t i = 0; i < N; i++) {
        /* strata gen plant's vibration while running: 2 + noise^2 at 0.01 */
        double u = rnd01() + rnd01() + rnd01() - 1.5;
        vib[i] = round((2.0 + u * u) * 100) / 100;
    }
    printf("bench_enc: %zu values, blocks of %zu\n", N, BLOCK);
    bench_block("random-walk", ENC_TYPE_FLOAT, ENC_GORILLA, walk, 8, 0);
    bench_block("2-decimal", ENC_TYPE_FLOAT, ENC_GORILLA, dec2, 8, 0);
    bench_block("2-decimal", ENC_TYPE_FLOAT, ENC_DECIMAL, dec2, 8, 0);
    bench_block("1-decimal", ENC_TYPE_FLOAT, ENC_DECIMAL, dec1, 8, 0);
    bench_block("2-decimal", ENC_TYPE_FLOAT, -1, dec2, 8, 0);
    bench_block("random-walk", ENC_TYPE_FLOAT, ENC_FLOATPACK, walk, 8, 0);
    bench_block("cpu-walk", ENC_TYPE_FLOAT, ENC_GORILLA, cpu, 8, 0);
    bench_block("cpu-walk", ENC_TYPE_FLOAT, ENC_FLOATPACK, cpu, 8, 0);
    bench_block("cpu-walk", ENC_TYPE_FLOAT, -1, cpu, 8, 0);
    bench_block("random-walk", ENC_TYPE_FLOAT, ENC_RAW, walk, 8, 0);
    bench_block("2-decimal", ENC_TYPE_FLOAT, -1, dec2, 8, 3);
    bench_block("random-walk", ENC_TYPE_FLOAT, -1, walk, 8, 3);
    bench_block("vibration-0.01", ENC_TYPE_FLOAT, -1, vib, 8, 3);
    bench_block("vibration-0.01", ENC_TYPE_FLOAT, -1, vib, 8, 9);
    bench_block("2-decimal", ENC_TYPE_FLOAT, -1, dec2, 8, 9);
    bench_block("counter", ENC_TYPE_INT, ENC_INTPACK, cnt, 8, 0);
    bench_block("small-random", ENC_TYPE_INT, ENC_INTPACK, small, 8, 0);
    bench_block("regular-10s", ENC_TYPE_TIME, ENC_TS_CONST, ts, 8, 0);
    bench_block("jitter-1ms", ENC_TYPE_TIME, ENC_INTPACK, tsj, 8, 0);
    bench_block("ms-precision-jitter-100ms", ENC_TYPE_TIME, -1, tsm, 8, 0);
    bench_head_float("random-walk", walk);
    bench_head_float("2-decimal", dec2);
    bench_head_ts("regular-10s", ts);
    bench_head_ts("jitter-1ms", tsj);
    free(walk); free(vib); free(cpu); free(dec2); free(dec1); free(ts); free(tsj); free(tsm); free(cnt); free(small);
    return (int)(sink & 0);
}
