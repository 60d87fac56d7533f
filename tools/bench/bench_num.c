/*
 * tools/bench/bench_num.c — throughput of common/num on one core, beside
 * glibc's strtod / strtoll / snprintf in the same run.
 *
 *   build/bench/bench_num [seconds-per-figure]   (default 0.3)
 *
 * One line per figure: "bench_num: NAME X Mvalues/s Y MB/s libc Z Mvalues/s
 * ratio Rx". Inputs come from a fixed-seed PRNG, so runs are comparable.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/num.h"

#define NVALS 200000

static uint64_t rng = 0x2545F4914F6CDD1Du;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct strs {
    char *text;     /* owned: NUL-separated strings */
    size_t *off;    /* owned */
    size_t *len;    /* owned */
    size_t n, bytes;
};

static void strs_add(struct strs *s, const char *v)
{
    size_t l = strlen(v);
    memcpy(s->text + s->bytes, v, l + 1);
    s->off[s->n] = s->bytes;
    s->len[s->n++] = l;
    s->bytes += l + 1;
}

static void strs_init(struct strs *s)
{
    s->text = malloc(NVALS * 40);
    s->off = malloc(NVALS * sizeof(size_t));
    s->len = malloc(NVALS * sizeof(size_t));
    s->n = s->bytes = 0;
    if (!s->text || !s->off || !s->len) { fprintf(stderr, "bench_num: out of memory\n"); exit(1); }
}

static void strs_free(struct strs *s) { free(s->text); free(s->off); free(s->len); }

static double budget = 0.3;
static volatile uint64_t sink;

/* Runs fn over all values repeatedly for `budget` seconds; returns values/s. */
#define TIMED(rate, body) do { \
    double bench__t0 = now_s(), bench__t; size_t bench__done = 0; \
    do { body; bench__done += NVALS; bench__t = now_s() - bench__t0; } while (bench__t < budget); \
    rate = (double)bench__done / bench__t; \
} while (0)

static void bench_parse(const char *name, struct strs *s)
{
    double ours, libc;
    size_t text_bytes = s->bytes - s->n; /* without the NULs */
    TIMED(ours, {
        uint64_t acc = 0;
        for (size_t i = 0; i < s->n; i++) {
            double v;
            if (st_parse_double(s->text + s->off[i], s->len[i], 0, &v) == 0) { uint64_t b; memcpy(&b, &v, 8); acc += b; }
        }
        sink += acc;
    });
    TIMED(libc, {
        uint64_t acc = 0;
        for (size_t i = 0; i < s->n; i++) {
            double v = strtod(s->text + s->off[i], NULL);
            uint64_t b; memcpy(&b, &v, 8); acc += b;
        }
        sink += acc;
    });
    printf("bench_num: %s %.1f Mvalues/s %.1f MB/s strtod %.1f Mvalues/s ratio %.1fx\n", name, ours / 1e6,
           ours * ((double)text_bytes / (double)s->n) / 1e6, libc / 1e6, ours / libc);
}

static void bench_format(const char *name, const double *v)
{
    double ours, libc;
    char buf[64];
    size_t out_bytes = 0;
    for (size_t i = 0; i < NVALS; i++) out_bytes += st_format_double(v[i], buf);
    TIMED(ours, {
        size_t acc = 0;
        for (size_t i = 0; i < NVALS; i++) acc += st_format_double(v[i], buf);
        sink += acc;
    });
    TIMED(libc, {
        size_t acc = 0;
        for (size_t i = 0; i < NVALS; i++) acc += (size_t)snprintf(buf, sizeof buf, "%.17g", v[i]);
        sink += acc;
    });
    printf("bench_num: %s %.1f Mvalues/s %.1f MB/s snprintf%%.17g %.1f Mvalues/s ratio %.1fx\n", name, ours / 1e6,
           ours * ((double)out_bytes / NVALS) / 1e6, libc / 1e6, ours / libc);
}

int main(int argc, char **argv)
{
    if (argc > 1) budget = atof(argv[1]);
    if (budget <= 0) budget = 0.3;
    char t[64];
    struct strs s;
    double *v = malloc(NVALS * sizeof(double));
    if (!v) return 1;

    /* Sensor-style decimals: 12.34, 0.5, 98765.4321, 1e-3, -273.15, 42. */
    strs_init(&s);
    for (size_t i = 0; i < NVALS; i++) {
        uint64_t r = rnd();
        switch (r % 6) {
        case 0: snprintf(t, sizeof t, "%.2f", (double)(r >> 40 & 0xFFFF) / 100); break;
        case 1: snprintf(t, sizeof t, "0.%u", (unsigned)(r >> 20 & 0xFF) % 10); break;
        case 2: snprintf(t, sizeof t, "%.4f", (double)(r >> 20 & 0xFFFFFFF) / 1e4); break;
        case 3: snprintf(t, sizeof t, "%ue-%u", (unsigned)(r >> 12 & 0xF) % 10 + 1, (unsigned)(r >> 20 & 0x7) + 1); break;
        case 4: snprintf(t, sizeof t, "-%.2f", (double)(r >> 30 & 0xFFFFF) / 100); break;
        default: snprintf(t, sizeof t, "%u", (unsigned)(r >> 40 & 0xFFFFF)); break;
        }
        strs_add(&s, t);
    }
    bench_parse("parse_decimal_short", &s);
    strs_free(&s);

    /* Full-precision doubles in [0, 1000) as a %.17g writer prints them. */
    strs_init(&s);
    for (size_t i = 0; i < NVALS; i++) {
        snprintf(t, sizeof t, "%.17g", (double)(rnd() >> 11) / 9007199254740992.0 * 1000);
        strs_add(&s, t);
    }
    bench_parse("parse_double_17g", &s);
    strs_free(&s);

    /* Random 64-bit patterns (finite), %.17g: every exponent. */
    strs_init(&s);
    for (size_t i = 0; i < NVALS; i++) {
        double d;
        uint64_t b;
        do { b = rnd(); memcpy(&d, &b, 8); } while (!isfinite(d));
        v[i] = d;
        snprintf(t, sizeof t, "%.17g", d);
        strs_add(&s, t);
    }
    bench_parse("parse_random_bits_17g", &s);
    strs_free(&s);

    bench_format("format_random_bits", v);
    for (size_t i = 0; i < NVALS; i++) v[i] = (double)(int64_t)(rnd() >> 44) / 100;
    bench_format("format_decimal_short", v);
    for (size_t i = 0; i < NVALS; i++) v[i] = (double)(rnd() >> 11) / 9007199254740992.0 * 1000;
    bench_format("format_double_full", v);

    /* Integers as line protocol carries them (without the i suffix). */
    strs_init(&s);
    for (size_t i = 0; i < NVALS; i++) {
        snprintf(t, sizeof t, "%lld", (long long)((int64_t)rnd() >> (rnd() % 63)));
        strs_add(&s, t);
    }
    {
        double ours, libc;
        TIMED(ours, {
            uint64_t acc = 0;
            for (size_t i = 0; i < s.n; i++) {
                int64_t x;
                if (st_parse_int64(s.text + s.off[i], s.len[i], &x) == 0) acc += (uint64_t)x;
            }
            sink += acc;
        });
        TIMED(libc, {
            uint64_t acc = 0;
            for (size_t i = 0; i < s.n; i++) acc += (uint64_t)strtoll(s.text + s.off[i], NULL, 10);
            sink += acc;
        });
        printf("bench_num: parse_int64 %.1f Mvalues/s %.1f MB/s strtoll %.1f Mvalues/s ratio %.1fx\n", ours / 1e6,
               ours * ((double)(s.bytes - s.n) / (double)s.n) / 1e6, libc / 1e6, ours / libc);
    }
    strs_free(&s);
    free(v);
    return 0;
}
