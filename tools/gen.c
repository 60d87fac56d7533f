/*
 * tools/gen.c — strata gen: deterministic benchmark data.
 *
 *   strata gen cpu --hosts N --points N [--seed S] [--decimals D]
 *                  [--start RFC3339|ns] [--interval 10s] [--format lp|csv]
 *                  [--output FILE]
 *
 * `cpu` is TSBS's "cpu-only" use case: measurement cpu, the 10 TSBS tags
 * per host (hostname, region, datacenter, rack, os, arch, team, service,
 * service_version, service_environment) and the 10 usage_* fields, each an
 * independent random walk clamped to [0, 100] (start uniform in [0, 100],
 * step uniform in [-1, 1]). Points are ordered by time, then host; all hosts
 * share each timestamp. --points is per host.
 *
 * Determinism: every host owns a xoshiro256** generator seeded by splitmix64
 * from (seed, host index), so the same arguments give byte-identical output
 * on every machine, and host i's tags and values do not depend on --hosts.
 * The walk always runs at full precision; --decimals D only changes how a
 * value is printed (rounded half away from zero to D decimals, printed
 * exactly, trailing zeros trimmed: 58.29, 58, 0.5).
 *
 * `plant` is process-plant historian data (see the plant section below):
 * mixed types, fixed sensor resolutions, step changes, a counter, a sparse
 * measurement and quality episodes, for the storage encodings.
 *
 * Speed: each host's tag prefix is built once, the timestamp once per time
 * step, numbers go through st_format_double (full precision) or an integer
 * formatter (--decimals), and output is written in ~1 MiB chunks.
 * Single-threaded; owns its buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/num.h"
#include "common/rng.h"
#include "common/timefmt.h"
#include "tools/tools.h"

#define GEN_FLUSH_BYTES   (1u << 20)
#define GEN_MAX_DECIMALS  15
#define GEN_DEFAULT_START 1451606400000000000LL /* 2016-01-01T00:00:00Z, TSBS's default */
#define GEN_DEFAULT_STEP  10000000000LL         /* 10 s */
#define GEN_CPU_FIELDS    10

/* ---- TSBS's cpu-only tag vocabulary ---- */

static const struct { const char *name; const char *dcs[4]; } gen_regions[] = {
    { "us-east-1",      { "us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e" } },
    { "us-west-1",      { "us-west-1a", "us-west-1b" } },
    { "us-west-2",      { "us-west-2a", "us-west-2b", "us-west-2c" } },
    { "eu-west-1",      { "eu-west-1a", "eu-west-1b", "eu-west-1c" } },
    { "eu-central-1",   { "eu-central-1a", "eu-central-1b" } },
    { "ap-southeast-1", { "ap-southeast-1a", "ap-southeast-1b" } },
    { "ap-southeast-2", { "ap-southeast-2a", "ap-southeast-2b" } },
    { "ap-northeast-1", { "ap-northeast-1a", "ap-northeast-1c" } },
    { "sa-east-1",      { "sa-east-1a", "sa-east-1b", "sa-east-1c" } },
};
static const char *const gen_os[] = { "Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10" };
static const char *const gen_arch[] = { "x64", "x86" };
static const char *const gen_team[] = { "SF", "NYC", "LON", "CHI" };
static const char *const gen_env[] = { "production", "staging", "test" };
static const char *const gen_cpu_fields[GEN_CPU_FIELDS] = {
    "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
    "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice",
};
#define GEN_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- options ---- */

enum gen_format { GEN_LP, GEN_CSV };
enum gen_kind { GEN_CPU, GEN_PLANT };

typedef struct gen_opts {
    enum gen_kind kind;
    int64_t hosts;      /* cpu --hosts or plant --units; 0 = not given */
    int64_t points;     /* per host; 0 = not given */
    uint64_t seed;
    int decimals;       /* -1 = full precision */
    int64_t start_ns;
    int64_t interval_ns;
    enum gen_format format;
    const char *output; /* NULL = stdout */
} gen_opts;

static void gen_usage(FILE *f)
{
    fprintf(f,
        "usage: strata gen cpu --hosts N --points N [options]\n"
        "\n"
        "TSBS cpu-only data (measurement cpu, 10 tags, 10 fields) as line protocol.\n"
        "Points are ordered by time, then host; --points is per host.\n"
        "\n"
        "options:\n"
        "  --hosts N          number of hosts (series), >= 1 (required)\n"
        "  --points N         points per host, >= 1 (required)\n"
        "  --seed S           PRNG seed, unsigned 64-bit (default 1)\n"
        "  --decimals D       print values rounded to D decimals, 0..%d (default: full precision)\n"
        "  --start T          first timestamp, RFC3339 or integer ns (default 2016-01-01T00:00:00Z)\n"
        "  --interval D       time between points, e.g. 10s, 500ms, 1m (default 10s)\n"
        "  --format lp|csv    line protocol (default) or CSV with a header row\n"
        "  --output FILE      write to FILE instead of stdout\n"
        "\n"
        "usage: strata gen plant --units N --points N [--seed S] [--start T] [--interval 1s] [--output FILE]\n"
        "\n"
        "Process-plant historian data as line protocol: one series per equipment unit\n"
        "(measurement plant: temperature, pressure, flow, vibration, running, energy,\n"
        "mode and, during bad-quality episodes, quality) plus a sparse lab sample every\n"
        "6 hours (measurement lab). --points is scan ticks per unit; --interval defaults to 1s.\n",
        GEN_MAX_DECIMALS);
}

static int parse_i64_arg(const char *s, int64_t *out)
{
    return st_parse_int64(s, strlen(s), out);
}

static int gen_parse_args(enum gen_kind kind, int argc, char **argv, gen_opts *o)
{
    const char *count_flag = kind == GEN_CPU ? "--hosts" : "--units";
    o->kind = kind;
    o->hosts = 0;
    o->points = 0;
    o->seed = 1;
    o->decimals = -1;
    o->start_ns = GEN_DEFAULT_START;
    o->interval_ns = kind == GEN_CPU ? GEN_DEFAULT_STEP : 1000000000LL;
    o->format = GEN_LP;
    o->output = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            gen_usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "strata gen: unexpected argument '%s'\n", a);
            return ST_EINVAL;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "strata gen: %s needs a value\n", a);
            return ST_EINVAL;
        }
        const char *v = argv[++i];
        int64_t n;
        if (!strcmp(a, count_flag) || !strcmp(a, "--points")) {
            if (parse_i64_arg(v, &n) || n < 1 || n > 1000000000000LL) {
                fprintf(stderr, "strata gen: %s must be an integer >= 1, got '%s'\n", a, v);
                return ST_EINVAL;
            }
            if (a[2] != 'p') {
                if (n > 100000000) {
                    fprintf(stderr, "strata gen: %s at most 100000000, got '%s'\n", a, v);
                    return ST_EINVAL;
                }
                o->hosts = n;
            } else {
                o->points = n;
            }
        } else if (!strcmp(a, "--seed")) {
            uint64_t u;
            if (st_parse_uint64(v, strlen(v), &u)) {
                fprintf(stderr, "strata gen: --seed must be an unsigned integer, got '%s'\n", v);
                return ST_EINVAL;
            }
            o->seed = u;
        } else if (!strcmp(a, "--decimals") && kind == GEN_CPU) {
            if (parse_i64_arg(v, &n) || n < 0 || n > GEN_MAX_DECIMALS) {
                fprintf(stderr, "strata gen: --decimals must be 0..%d, got '%s'\n", GEN_MAX_DECIMALS, v);
                return ST_EINVAL;
            }
            o->decimals = (int)n;
        } else if (!strcmp(a, "--start")) {
            if (parse_i64_arg(v, &o->start_ns) && st_time_parse_rfc3339(v, strlen(v), &o->start_ns)) {
                fprintf(stderr, "strata gen: --start must be RFC3339 or integer ns, got '%s'\n", v);
                return ST_EINVAL;
            }
        } else if (!strcmp(a, "--interval")) {
            if (st_duration_parse(v, strlen(v), &n) || n < 1) {
                fprintf(stderr, "strata gen: --interval must be a positive duration (10s, 500ms), got '%s'\n", v);
                return ST_EINVAL;
            }
            o->interval_ns = n;
        } else if (!strcmp(a, "--format") && kind == GEN_CPU) {
            if (!strcmp(v, "lp")) o->format = GEN_LP;
            else if (!strcmp(v, "csv")) o->format = GEN_CSV;
            else {
                fprintf(stderr, "strata gen: --format must be lp or csv, got '%s'\n", v);
                return ST_EINVAL;
            }
        } else if (!strcmp(a, "--output") || !strcmp(a, "-o")) {
            o->output = v;
        } else {
            fprintf(stderr, "strata gen: unknown option '%s' (see strata gen --help)\n", a);
            return ST_EINVAL;
        }
    }
    if (!o->hosts || !o->points) {
        fprintf(stderr, "strata gen: %s is required (see strata gen --help)\n",
                !o->hosts ? count_flag : "--points");
        return ST_EINVAL;
    }
    /* The last timestamp must fit in int64 ns. */
    int64_t steps = o->points - 1;
    if (steps > 0 && (steps > INT64_MAX / o->interval_ns ||
                      (o->start_ns > 0 && o->start_ns > INT64_MAX - steps * o->interval_ns))) {
        fprintf(stderr, "strata gen: --start + --points * --interval overflows int64 ns\n");
        return ST_EINVAL;
    }
    return 0;
}

/* ---- output ---- */

typedef struct gen_out {
    int fd;
    char *buf;   /* owned */
    size_t len;
    size_t cap;
} gen_out;

static int out_flush(gen_out *w)
{
    size_t off = 0;
    while (off < w->len) {
        ssize_t n = write(w->fd, w->buf + off, w->len - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            fprintf(stderr, "strata gen: write: %s\n", strerror(e));
            return st_from_errno(e);
        }
        off += (size_t)n;
    }
    w->len = 0;
    return 0;
}

static const char gen_digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of v; returns the count written. */
static inline size_t fmt_u64(uint64_t v, char *out)
{
    char t[24];
    char *p = t + sizeof t;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, gen_digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, gen_digits2 + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    size_t n = (size_t)(t + sizeof t - p);
    memcpy(out, p, n);
    return n;
}

static const double gen_pow10[GEN_MAX_DECIMALS + 1] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
};
static const uint64_t gen_pow10u[GEN_MAX_DECIMALS + 1] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL,
};

/* v rounded half away from zero to d decimals, printed exactly with trailing
 * zeros trimmed. |v| <= 100 here, so v * 10^d stays far below 2^63. */
static inline size_t fmt_fixed(double v, int d, char *out)
{
    double r = round(v * gen_pow10[d]);
    size_t n = 0;
    if (r < 0) { out[n++] = '-'; r = -r; }
    uint64_t k = (uint64_t)r;
    if (k == 0) { out[0] = '0'; return 1; } /* never "-0" */
    uint64_t p = gen_pow10u[d];
    n += fmt_u64(k / p, out + n);
    uint64_t frac = k % p;
    if (frac) {
        int keep = d;
        while (frac % 10 == 0) { frac /= 10; keep--; }
        out[n++] = '.';
        char t[24];
        size_t fl = fmt_u64(frac, t);
        for (size_t z = fl; z < (size_t)keep; z++) out[n++] = '0';
        memcpy(out + n, t, fl);
        n += fl;
    }
    return n;
}

/* ---- cpu ---- */

typedef struct gen_host {
    st_rng rng;
    double v[GEN_CPU_FIELDS];
    size_t prefix_off, prefix_len; /* into gen_cpu.prefixes */
} gen_host;

typedef struct gen_cpu {
    gen_host *hosts;  /* owned */
    char *prefixes;   /* owned: per host "cpu,tags " (lp) or "tag values," (csv) */
    size_t max_prefix;
} gen_cpu;

static void gen_cpu_fini(gen_cpu *c)
{
    st_free(c->hosts);
    st_free(c->prefixes);
}

/* Draws each host's tags and starting values and caches its prefix. */
static int gen_cpu_init(gen_cpu *c, const gen_opts *o)
{
    size_t nh = (size_t)o->hosts;
    /* Longest tag set: "cpu," + names and '=' and ',' (< 128) + values (< 96). */
    const size_t slot = 256;
    c->hosts = st_calloc(nh, sizeof *c->hosts);
    c->prefixes = st_malloc(nh * slot);
    c->max_prefix = 0;
    if (!c->hosts || !c->prefixes) {
        gen_cpu_fini(c);
        return ST_ENOMEM;
    }
    for (size_t i = 0; i < nh; i++) {
        gen_host *h = &c->hosts[i];
        st_rng_seed(&h->rng, o->seed, i);
        size_t ri = st_rng_below(&h->rng, GEN_COUNT(gen_regions));
        size_t ndc = 0;
        while (ndc < 4 && gen_regions[ri].dcs[ndc]) ndc++;
        const char *dc = gen_regions[ri].dcs[st_rng_below(&h->rng, (uint32_t)ndc)];
        unsigned rack = st_rng_below(&h->rng, 100);
        const char *os = gen_os[st_rng_below(&h->rng, GEN_COUNT(gen_os))];
        const char *arch = gen_arch[st_rng_below(&h->rng, GEN_COUNT(gen_arch))];
        const char *team = gen_team[st_rng_below(&h->rng, GEN_COUNT(gen_team))];
        unsigned service = st_rng_below(&h->rng, 20);
        unsigned version = st_rng_below(&h->rng, 2);
        const char *env = gen_env[st_rng_below(&h->rng, GEN_COUNT(gen_env))];
        for (int f = 0; f < GEN_CPU_FIELDS; f++) h->v[f] = 100.0 * st_rng_unit(&h->rng);

        char *p = c->prefixes + i * slot;
        int n;
        if (o->format == GEN_LP)
            n = snprintf(p, slot,
                         "cpu,hostname=host_%zu,region=%s,datacenter=%s,rack=%u,os=%s,arch=%s,"
                         "team=%s,service=%u,service_version=%u,service_environment=%s ",
                         i, gen_regions[ri].name, dc, rack, os, arch, team, service, version, env);
        else
            n = snprintf(p, slot, "host_%zu,%s,%s,%u,%s,%s,%s,%u,%u,%s,",
                         i, gen_regions[ri].name, dc, rack, os, arch, team, service, version, env);
        if (n < 0 || (size_t)n >= slot) { /* cannot happen with the tables above */
            gen_cpu_fini(c);
            return ST_EINVAL;
        }
        h->prefix_off = i * slot;
        h->prefix_len = (size_t)n;
        if ((size_t)n > c->max_prefix) c->max_prefix = (size_t)n;
    }
    return 0;
}

static inline void gen_cpu_step(gen_host *h)
{
    for (int f = 0; f < GEN_CPU_FIELDS; f++) {
        double x = h->v[f] + (2.0 * st_rng_unit(&h->rng) - 1.0);
        h->v[f] = x < 0.0 ? 0.0 : x > 100.0 ? 100.0 : x;
    }
}

static int gen_cpu_run(const gen_opts *o, gen_out *w)
{
    gen_cpu c;
    int rc = gen_cpu_init(&c, o);
    if (rc) {
        fprintf(stderr, "strata gen: %s\n", st_strerror(rc));
        return rc;
    }
    /* Field keys with their '=' (lp) once, in one table. */
    char keys[GEN_CPU_FIELDS][24];
    size_t keylen[GEN_CPU_FIELDS];
    for (int f = 0; f < GEN_CPU_FIELDS; f++)
        keylen[f] = (size_t)snprintf(keys[f], sizeof keys[f], "%s=", gen_cpu_fields[f]);

    size_t max_line = c.max_prefix + GEN_CPU_FIELDS * (24 + ST_DOUBLE_BUF) + 64;
    w->cap = GEN_FLUSH_BYTES + max_line;
    w->buf = st_malloc(w->cap);
    if (!w->buf) {
        gen_cpu_fini(&c);
        fprintf(stderr, "strata gen: %s\n", st_strerror(ST_ENOMEM));
        return ST_ENOMEM;
    }

    if (o->format == GEN_CSV) {
        int n = snprintf(w->buf, w->cap, "time,hostname,region,datacenter,rack,os,arch,team,"
                         "service,service_version,service_environment");
        w->len = (size_t)n;
        for (int f = 0; f < GEN_CPU_FIELDS; f++) {
            w->buf[w->len++] = ',';
            memcpy(w->buf + w->len, gen_cpu_fields[f], keylen[f] - 1);
            w->len += keylen[f] - 1;
        }
        w->buf[w->len++] = '\n';
    }

    const int dec = o->decimals;
    const int lp = o->format == GEN_LP;
    char ts[32];
    for (int64_t t = 0; t < o->points && rc == 0; t++) {
        int64_t now = o->start_ns + t * o->interval_ns;
        size_t tslen;
        if (now < 0) {
            ts[0] = '-';
            tslen = 1 + fmt_u64((uint64_t)0 - (uint64_t)now, ts + 1);
        } else {
            tslen = fmt_u64((uint64_t)now, ts);
        }
        for (int64_t hi = 0; hi < o->hosts; hi++) {
            gen_host *h = &c.hosts[hi];
            if (t > 0) gen_cpu_step(h);
            char *p = w->buf + w->len;
            if (!lp) {
                memcpy(p, ts, tslen);
                p += tslen;
                *p++ = ',';
            }
            memcpy(p, c.prefixes + h->prefix_off, h->prefix_len);
            p += h->prefix_len;
            for (int f = 0; f < GEN_CPU_FIELDS; f++) {
                if (lp) {
                    memcpy(p, keys[f], keylen[f]);
                    p += keylen[f];
                }
                if (dec >= 0) {
                    p += fmt_fixed(h->v[f], dec, p);
                } else {
                    /* st_format_double writes a NUL we overwrite next. */
                    p += st_format_double(h->v[f], p);
                }
                *p++ = ',';
            }
            if (lp) {
                p[-1] = ' ';
                memcpy(p, ts, tslen);
                p += tslen;
                *p++ = '\n';
            } else {
                p[-1] = '\n';
            }
            w->len = (size_t)(p - w->buf);
            if (w->len >= GEN_FLUSH_BYTES && (rc = out_flush(w)) != 0) break;
        }
    }
    if (rc == 0) rc = out_flush(w);
    gen_cpu_fini(&c);
    return rc;
}

/* ---- plant ---- */

/*
 * One series per equipment unit, sampled every tick like a PLC scan:
 *   plant,site=site_<i/1000>,area=area_<(i/50)%20>,unit=<kind>_<i>
 *     temperature  float, 0.1 resolution: base + daily cycle + AR(1) noise,
 *                  warming up while running
 *     pressure     float, 0.01: setpoint (2.5/4/6, changes every ~8 h) while running
 *     flow         float, 0.001: proportional to pressure while running
 *     vibration    float, 0.01 (velocity RMS, mm/s): 2 + noise^2 while running
 *     running      boolean: toggles every ~4 h on average
 *     energy       integer counter (Wh), grows while running
 *     mode         string "auto" / "manual" (manual every ~12 h)
 *     quality      integer OPC UA StatusCode, present only during bad or
 *                  uncertain episodes (~1 a day, 10..600 ticks); values freeze then
 *   lab,<same tags> viscosity (0.1), ph (0.01): every 6 h of simulated time.
 * Only + - * / on doubles (no libm transcendental), so output is the same on
 * every IEEE-754 machine.
 */
static const char *const gen_unit_kinds[] = { "pump", "compressor", "boiler", "mixer", "conveyor", "chiller" };

typedef struct gen_unit {
    st_rng rng;
    double temp_base, temp_noise, heat, sp, kw, energy_wh;
    double frozen[4];
    int running, manual;
    int64_t bad_ticks;   /* > 0: in a quality episode */
    uint32_t bad_code;
    size_t prefix_off, prefix_len;
} gen_unit;

/* Bernoulli(p) */
static inline int rng_chance(st_rng *r, double p) { return st_rng_unit(r) < p; }

static size_t put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return n;
}

static int gen_plant_run(const gen_opts *o, gen_out *w)
{
    size_t nu = (size_t)o->hosts;
    const size_t slot = 128;
    gen_unit *units = st_calloc(nu, sizeof *units);
    char *prefixes = st_malloc(nu * slot);
    w->cap = GEN_FLUSH_BYTES + 2 * slot + 1024;
    w->buf = st_malloc(w->cap);
    if (!units || !prefixes || !w->buf) {
        st_free(units);
        st_free(prefixes);
        fprintf(stderr, "strata gen: %s\n", st_strerror(ST_ENOMEM));
        return ST_ENOMEM;
    }
    for (size_t i = 0; i < nu; i++) {
        gen_unit *u = &units[i];
        st_rng_seed(&u->rng, o->seed ^ 0x706C616E74ULL /* "plant" */, i);
        const char *kind = gen_unit_kinds[st_rng_below(&u->rng, GEN_COUNT(gen_unit_kinds))];
        u->temp_base = 20.0 + 60.0 * st_rng_unit(&u->rng);
        u->sp = (double[]){ 2.5, 4.0, 6.0 }[st_rng_below(&u->rng, 3)];
        u->kw = 5.0 + 195.0 * st_rng_unit(&u->rng);
        u->energy_wh = (double)st_rng_below(&u->rng, 1000000);
        u->running = rng_chance(&u->rng, 0.8);
        int n = snprintf(prefixes + i * slot, slot, ",site=site_%zu,area=area_%zu,unit=%s_%zu ",
                         i / 1000, (i / 50) % 20, kind, i);
        u->prefix_off = i * slot;
        u->prefix_len = (size_t)n;
    }

    const double tick_s = (double)o->interval_ns / 1e9;
    const double p_run = tick_s / 14400.0, p_sp = tick_s / 28800.0;
    const double p_mode = tick_s / 43200.0, p_bad = tick_s / 86400.0;
    const int64_t day_ns = 86400000000000LL, lab_ns = 21600000000000LL;
    char ts[32];
    int rc = 0;
    for (int64_t t = 0; t < o->points && rc == 0; t++) {
        int64_t now = o->start_ns + t * o->interval_ns;
        size_t tslen = now < 0 ? (ts[0] = '-', 1 + fmt_u64((uint64_t)0 - (uint64_t)now, ts + 1))
                               : fmt_u64((uint64_t)now, ts);
        int64_t tod = now % day_ns;
        if (tod < 0) tod += day_ns;
        double d = (double)tod / (double)day_ns - 0.5; /* -0.5 .. 0.5, 0 at noon */
        double daily = 1.0 - 8.0 * d * d;               /* parabola: -1 at midnight, 1 at noon */
        int lab = (now - o->start_ns) % lab_ns == 0;
        for (size_t i = 0; i < nu; i++) {
            gen_unit *u = &units[i];
            st_rng *r = &u->rng;
            if (rng_chance(r, p_run)) u->running = !u->running;
            if (rng_chance(r, p_sp)) u->sp = (double[]){ 2.5, 4.0, 6.0 }[st_rng_below(r, 3)];
            if (rng_chance(r, p_mode)) u->manual = !u->manual;
            if (u->bad_ticks > 0) {
                u->bad_ticks--;
            } else if (rng_chance(r, p_bad)) {
                u->bad_ticks = 10 + st_rng_below(r, 591);
                u->bad_code = rng_chance(r, 0.7) ? 0x80000000u : 0x40900000u;
            }
            u->temp_noise = 0.95 * u->temp_noise + 0.3 * (st_rng_unit(r) - 0.5);
            u->heat += ((u->running ? 15.0 : 0.0) - u->heat) * 0.01;
            double noise = st_rng_unit(r) + st_rng_unit(r) + st_rng_unit(r) - 1.5;
            if (u->running) u->energy_wh += u->kw * tick_s / 3.6;
            double v[4];
            if (u->bad_ticks > 0) {
                memcpy(v, u->frozen, sizeof v);
            } else {
                v[0] = u->temp_base + 5.0 * daily + u->temp_noise + u->heat;
                v[1] = u->running ? u->sp + 0.05 * noise : 0.02 * st_rng_unit(r);
                v[2] = u->running ? u->sp * 12.5 + 0.4 * noise : 0.0;
                v[3] = u->running ? 2.0 + noise * noise : 0.01 * st_rng_unit(r);
                memcpy(u->frozen, v, sizeof v);
            }
            char *p = w->buf + w->len;
            const char *pre = prefixes + u->prefix_off;
            p += put_str(p, "plant");
            memcpy(p, pre, u->prefix_len);
            p += u->prefix_len;
            p += put_str(p, "temperature=");
            p += fmt_fixed(v[0], 1, p);
            p += put_str(p, ",pressure=");
            p += fmt_fixed(v[1], 2, p);
            p += put_str(p, ",flow=");
            p += fmt_fixed(v[2], 3, p);
            p += put_str(p, ",vibration=");
            p += fmt_fixed(v[3], 2, p);
            p += put_str(p, u->running ? ",running=true,energy=" : ",running=false,energy=");
            p += fmt_u64((uint64_t)u->energy_wh, p);
            p += put_str(p, u->manual ? "i,mode=\"manual\"" : "i,mode=\"auto\"");
            if (u->bad_ticks > 0) {
                p += put_str(p, ",quality=");
                p += fmt_u64(u->bad_code, p);
                *p++ = 'i';
            }
            *p++ = ' ';
            memcpy(p, ts, tslen);
            p += tslen;
            *p++ = '\n';
            if (lab) {
                p += put_str(p, "lab");
                memcpy(p, pre, u->prefix_len);
                p += u->prefix_len;
                p += put_str(p, "viscosity=");
                p += fmt_fixed(40.0 + 20.0 * st_rng_unit(r), 1, p);
                p += put_str(p, ",ph=");
                p += fmt_fixed(6.0 + 2.0 * st_rng_unit(r), 2, p);
                *p++ = ' ';
                memcpy(p, ts, tslen);
                p += tslen;
                *p++ = '\n';
            }
            w->len = (size_t)(p - w->buf);
            if (w->len >= GEN_FLUSH_BYTES && (rc = out_flush(w)) != 0) break;
        }
    }
    if (rc == 0) rc = out_flush(w);
    st_free(units);
    st_free(prefixes);
    return rc;
}

int tool_gen_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        gen_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    enum gen_kind kind;
    if (!strcmp(argv[1], "cpu")) {
        kind = GEN_CPU;
    } else if (!strcmp(argv[1], "plant")) {
        kind = GEN_PLANT;
    } else {
        fprintf(stderr, "strata gen: unknown data set '%s' (known: cpu, plant)\n", argv[1]);
        return 2;
    }
    gen_opts o;
    if (gen_parse_args(kind, argc - 2, argv + 2, &o)) return 2;

    gen_out w = { .fd = STDOUT_FILENO };
    if (o.output) {
        w.fd = open(o.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (w.fd < 0) {
            fprintf(stderr, "strata gen: %s: %s\n", o.output, strerror(errno));
            return 1;
        }
    }
    int rc = kind == GEN_CPU ? gen_cpu_run(&o, &w) : gen_plant_run(&o, &w);
    st_free(w.buf);
    if (o.output && close(w.fd) != 0 && rc == 0) {
        fprintf(stderr, "strata gen: %s: %s\n", o.output, strerror(errno));
        rc = ST_EIO;
    }
    return rc ? 1 : 0;
}
