/*
 * tools/bench/bench_lp.c — line protocol parse speed on one core.
 *
 *   bench_lp FILE [SECONDS]
 *
 * Reads FILE into memory, then parses it again and again (fed in 64 KiB
 * chunks, as an HTTP body arrives) for about SECONDS (default 2) with a
 * callback that only counts, and prints
 *   bench_lp: <MB/s> MB/s
 *   bench_lp: <lines/s> lines/s
 *   bench_lp: <values/s> values/s
 * Single-threaded; owns everything it allocates.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/err.h"
#include "ingest/lp.h"

typedef struct bench_count {
    uint64_t lines, values, errors;
} bench_count;

static int on_line(void *ctx, const lp_line *l)
{
    bench_count *c = ctx;
    c->lines++;
    c->values += l->field_count;
    return 0;
}

static int on_error(void *ctx, uint64_t lineno, st_slice msg)
{
    bench_count *c = ctx;
    if (c->errors++ == 0) fprintf(stderr, "bench_lp: line %llu: %.*s\n", (unsigned long long)lineno, (int)msg.len, msg.ptr);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_once(const char *buf, size_t len, bench_count *c)
{
    lp_opts o = { .precision = LP_PRECISION_NS, .default_ts_ns = 0,
                  .quality_field = ST_SLICE_LIT("quality"), .max_line_bytes = 0 };
    lp_parser *p;
    int rc = lp_parser_create(&o, on_line, on_error, c, &p);
    if (rc) return rc;
    const size_t chunk = 64 * 1024;
    for (size_t at = 0; at < len && !rc; at += chunk)
        rc = lp_parser_feed(p, buf + at, len - at < chunk ? len - at : chunk);
    if (!rc) rc = lp_parser_finish(p);
    lp_parser_destroy(p);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_lp FILE [SECONDS]\n");
        return 2;
    }
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    if (!(secs > 0)) secs = 2.0;
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n <= 0) { fprintf(stderr, "bench_lp: %s is empty\n", argv[1]); fclose(f); return 1; }
    char *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "bench_lp: cannot read %s\n", argv[1]);
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);

    bench_count c = { 0 };
    int rc = parse_once(buf, (size_t)n, &c); /* warm up, and check */
    if (rc) { fprintf(stderr, "bench_lp: %s\n", st_strerror(rc)); free(buf); return 1; }
    if (c.errors) fprintf(stderr, "bench_lp: %llu bad lines in the file\n", (unsigned long long)c.errors);
    c = (bench_count){ 0 };
    uint64_t rounds = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < secs) {
        parse_once(buf, (size_t)n, &c);
        rounds++;
        t = now_s();
    }
    double el = t - t0;
    printf("bench_lp: %.1f MB/s\n", (double)n * (double)rounds / el / 1e6);
    printf("bench_lp: %.0f lines/s\n", (double)c.lines / el);
    printf("bench_lp: %.0f values/s\n", (double)c.values / el);
    free(buf);
    return 0;
}
