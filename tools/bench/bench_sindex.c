/*
 * tools/bench/bench_sindex.c — series index figures: creation rate, resolve
 * throughput for existing series (one thread, two threads) and bytes held
 * per series, for N series of 10 tags each (default 100000).
 *
 *   bench_sindex [series_count] [seconds_per_run]
 *
 * Keys look like a plant's: site, area, line, cell, machine, sensor, unit,
 * vendor, model, serial — with cardinalities from 3 to N. The tag sets are
 * built beforehand; each thread walks them in its own pseudo-random order
 * and resolves them (key encoding included) as the write path does.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "storage/sindex.h"

#define NTAGS 10

typedef struct tagbuf { char v[NTAGS][24]; sidx_tag t[NTAGS]; } tagbuf;

static const char *const tag_names[NTAGS] = { "area", "cell", "line", "machine", "model",
                                              "sensor", "serial", "site", "unit", "vendor" };
static const unsigned tag_card[NTAGS] = { 12, 40, 30, 2000, 25, 5000, 0 /* = n */, 3, 6, 9 };

static uint64_t g_n;
static uint64_t g_db;
static tagbuf *g_tags; /* prebuilt tag sets: the timed loop measures resolve, not snprintf */
static double g_seconds = 1.0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void make_tags(uint64_t i, tagbuf *b)
{
    for (int k = 0; k < NTAGS; k++) {
        uint64_t card = tag_card[k] ? tag_card[k] : g_n;
        int len = snprintf(b->v[k], sizeof b->v[k], "%s-%llu", tag_names[k], (unsigned long long)(i % card));
        b->t[k].key = st_slice_cstr(tag_names[k]);
        b->t[k].val = (st_slice){ b->v[k], (size_t)len };
    }
}

typedef struct worker { sidx *idx; uint64_t seed; uint64_t ops; int err; } worker;

static void *run(void *p)
{
    worker *w = p;
    uint64_t x = w->seed | 1, ops = 0;
    double end = now_s() + g_seconds;
    while (!w->err) {
        for (int j = 0; j < 1024; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const tagbuf *b = &g_tags[x % g_n];
            uint64_t id;
            unsigned fl;
            if (sidx_series_resolve(w->idx, g_db, ST_SLICE_LIT("machine_state"), b->t, NTAGS, &id, &fl)) w->err = 1;
        }
        ops += 1024;
        if (now_s() >= end) break;
    }
    w->ops = ops;
    return NULL;
}

static double resolve_rate(sidx *idx, int threads)
{
    worker w[8];
    pthread_t th[8];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){ idx, 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1), 0, 0 };
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    uint64_t ops = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        ops += w[i].ops;
        if (w[i].err) fprintf(stderr, "bench_sindex: resolve failed\n");
    }
    return (double)ops / (now_s() - t0);
}

int main(int argc, char **argv)
{
    g_n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    if (argc > 2) g_seconds = atof(argv[2]);
    if (g_n == 0) g_n = 1;
    sidx *idx;
    if (sidx_create(NULL, &idx)) return 1;
    sidx_db_info info = { .name = ST_SLICE_LIT("bench") };
    if (sidx_db_create(idx, &info, &g_db)) return 1;
    size_t b0 = sidx_bytes(idx);

    g_tags = malloc(g_n * sizeof *g_tags);
    if (!g_tags) return 1;
    for (uint64_t i = 0; i < g_n; i++) make_tags(i, &g_tags[i]);
    tagbuf b;
    double t0 = now_s();
    for (uint64_t i = 0; i < g_n; i++) {
        b = g_tags[i];
        uint64_t id;
        unsigned fl;
        int rc = sidx_series_resolve(idx, g_db, ST_SLICE_LIT("machine_state"), b.t, NTAGS, &id, &fl);
        if (rc || !(fl & SIDX_F_CREATED)) {
            fprintf(stderr, "bench_sindex: create failed at %llu: %s\n", (unsigned long long)i, st_strerror(rc));
            return 1;
        }
    }
    double create_s = now_s() - t0;
    size_t bytes = sidx_bytes(idx) - b0;
    char key[SIDX_KEY_STACK_BYTES];
    size_t klen = 0;
    make_tags(g_n / 2, &b);
    sidx_key_encode(ST_SLICE_LIT("machine_state"), b.t, NTAGS, key, sizeof key, &klen);

    printf("sindex: %llu series x %d tags, key ~%zu bytes\n", (unsigned long long)g_n, NTAGS, klen);
    printf("sindex create:           %10.0f series/s\n", (double)g_n / create_s);
    printf("sindex resolve 1 thread: %10.0f lookups/s\n", resolve_rate(idx, 1));
    printf("sindex resolve 2 threads:%10.0f lookups/s (total)\n", resolve_rate(idx, 2));
    printf("sindex memory:           %10.1f bytes/series (%zu bytes total)\n", (double)bytes / (double)g_n, bytes);
    sidx_destroy(idx);
    free(g_tags);
    return 0;
}
