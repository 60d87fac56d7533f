/*
 * tools/bench/qbench.c — query latency client for the query benchmark
 * (Strata and InfluxDB answer GET /query, VictoriaMetrics GET /api/v1/...).
 *
 *   qbench --port P [--host 127.0.0.1] [--runs 20] [--warmup 1]
 *          [--ping PATH] [--save DIR] [--timeout-s 120]
 *          (--query LABEL PATH [--param KEY=VALUE]... [--expect TEXT])...
 *
 * One keep-alive HTTP/1.1 connection (TCP_NODELAY; tools/httpc.h, the strata
 * CLI's client) sends GET requests one at a time. --ping PATH (e.g. /ping) is timed first, like a query, under the
 * label "ping": the round trip of an empty request, the floor under every
 * query time (any 2xx answer counts as success for it). Each --query then runs --warmup times untimed and --runs times
 * timed; a time runs from the first byte sent to the last byte of the
 * response read (status line, headers, Content-Length or chunked body). --param appends KEY=VALUE, percent-encoded, to the preceding
 * --query's path; --expect makes a response that lacks TEXT an error. Every
 * response must be 200; anything else, a missing --expect text or a failed
 * connection counts as an error, and the first error's status and body
 * start are printed to stderr. For each label one line:
 *
 *   qbench: <label> median_ms=<x> p90_ms=<y> min_ms=<z> bytes=<n>
 *           runs=<n> errors=<n> series=<n> points=<n> nulls=<n>
 *
 * (on one line). bytes is the last response's body size. series/points/nulls
 * come from a scan of the last body as JSON: every array under a "values" key
 * is one series whose child arrays are its points (InfluxDB's
 * results[].series[].values, Prometheus' matrix result[].values), every array
 * under a "value" key one series of one point (a Prometheus instant vector);
 * a point whose second element is null counts in nulls too. --save DIR writes
 * each label's last body to DIR/<label>.json.
 *
 * median is the middle run (mean of the two middle ones for an even count),
 * p90 the nearest-rank 90th percentile, min the fastest run.
 *
 * Exit status: 0 if every request succeeded, 1 if any failed, 2 on usage.
 * Bounded: socket send/receive timeouts, --timeout-s for the whole program,
 * at most MAX_RECONNECTS re-opened connections, MAX_RUNS runs per query,
 * MAX_BODY_BYTES per response. Only a numeric IPv4 --host is accepted.
 *
 * Threads: one (main). Buffers are allocated once, before any timing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "tools/httpc.h"

#define MAX_QUERIES 64
#define MAX_RUNS 10000
#define MAX_RECONNECTS 16
#define MAX_PATH_BYTES 16384
#define MAX_BODY_BYTES (512u * 1024 * 1024)
#define ERR_SHOW_BYTES 300
#define IO_TIMEOUT_S 120
#define JSON_MAX_DEPTH 64

typedef struct qb_query {
    const char *label;
    char path[MAX_PATH_BYTES]; /* path?query, encoded */
    size_t path_len;
    const char *expect;        /* borrowed from argv; NULL = none */
} qb_query;

typedef struct qb_conn {
    httpc *hc;                 /* owned: the keep-alive connection (tools/httpc.h) */
    httpc_resp resp;           /* owned: the last response's status and head */
    int failures;              /* requests that got no response */
    st_buf body;               /* owned: the last response's body, NUL-terminated */
} qb_conn;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Body bytes appended to c->body (at most MAX_BODY_BYTES). */
static int body_sink(void *arg, const char *p, size_t n)
{
    qb_conn *c = arg;
    if (n > MAX_BODY_BYTES || c->body.len + n > MAX_BODY_BYTES) return -1;
    return st_buf_append(&c->body, p, n);
}

/* GET path (already percent-encoded) on the connection; the body into
 * c->body. The status, or -1 when no response came (httpc reopens a
 * keep-alive connection the server dropped, once per request). */
static int do_request(qb_conn *c, const char *path)
{
    st_buf_clear(&c->body);
    if (c->failures >= MAX_RECONNECTS) return -1;
    if (httpc_request(c->hc, "GET", path, "Accept: application/json\r\n", NULL, 0, &c->resp, body_sink, c) != 0) {
        c->failures++;
        return -1;
    }
    return c->resp.status;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) (n >= 1) and returns its median. */
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The kind of the innermost open array (0 when none or nested too deep). */
static int top_kind(const int *kind, int depth)
{
    return depth > 0 && depth <= JSON_MAX_DEPTH ? kind[depth - 1] : 0;
}

/* Series, points and null points in a JSON body (see the file comment).
 * A small scanner, not a validator: strings are skipped with their
 * escapes, and it tracks for each open array whether it is the value of a
 * "values"/"value" key (kind 1/2) or a point directly inside one (kind 3). */
static void json_count(const char *p, size_t n, uint64_t *series, uint64_t *points, uint64_t *nulls)
{
    int kind[JSON_MAX_DEPTH];
    int elems[JSON_MAX_DEPTH]; /* elements started in each open array */
    int depth = 0;
    char last_key[16] = "";
    int key_pending = 0;       /* the last string was followed by ':' */
    *series = *points = *nulls = 0;
    const char *end = p + n;
    const char *str = NULL;
    size_t str_len = 0;
    while (p < end) {
        char ch = *p;
        if (ch == '"') {
            const char *s = ++p;
            while (p < end && *p != '"') p += *p == '\\' ? 2 : 1;
            str = s;
            str_len = (size_t)((p < end ? p : end) - s);
            p++;
            if (top_kind(kind, depth) == 3) elems[depth - 1]++;
            continue;
        }
        if (ch == ':') {
            key_pending = 1;
            size_t k = str && str_len < sizeof last_key ? str_len : 0;
            memcpy(last_key, str ? str : "", k);
            last_key[k] = '\0';
            p++;
            continue;
        }
        if (ch == '[') {
            int k = 0;
            if (key_pending && strcmp(last_key, "values") == 0) { k = 1; (*series)++; }
            else if (key_pending && strcmp(last_key, "value") == 0) { k = 2; (*series)++; (*points)++; }
            else if (!key_pending && top_kind(kind, depth) == 1) { k = 3; (*points)++; }
            if (depth < JSON_MAX_DEPTH) { kind[depth] = k; elems[depth] = 0; }
            depth++;
            key_pending = 0;
            p++;
            continue;
        }
        if (ch == ']' || ch == '}') {
            if (depth > 0) depth -= ch == ']';
            key_pending = 0;
            p++;
            continue;
        }
        if (ch == '{') { key_pending = 0; p++; continue; }
        if (ch == ',') { key_pending = 0; p++; continue; }
        if (ch == 'n' && end - p >= 4 && memcmp(p, "null", 4) == 0) {
            if (top_kind(kind, depth) == 3) {
                if (elems[depth - 1] == 1) (*nulls)++;
                elems[depth - 1]++;
            }
            key_pending = 0;
            p += 4;
            continue;
        }
        if ((ch >= '0' && ch <= '9') || ch == '-' || ch == 't' || ch == 'f') {
            if (top_kind(kind, depth) == 3) elems[depth - 1]++;
            while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\n') p++;
            key_pending = 0;
            continue;
        }
        p++;
    }
}

/* Appends "&KEY=VALUE" (or "?..." first) with VALUE percent-encoded. */
static int append_param(qb_query *q, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq) return -1;
    char *o = q->path + q->path_len;
    char *lim = q->path + sizeof q->path - 4;
    *o++ = memchr(q->path, '?', q->path_len) ? '&' : '?';
    for (const char *s = kv; s <= eq; s++) {
        if (o >= lim) return -1;
        *o++ = *s;
    }
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *s = (const unsigned char *)eq + 1; *s; s++) {
        if (o >= lim) return -1;
        if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
            *s == '-' || *s == '_' || *s == '.' || *s == '~') {
            *o++ = (char)*s;
        } else {
            *o++ = '%';
            *o++ = hex[*s >> 4];
            *o++ = hex[*s & 15];
        }
    }
    *o = '\0';
    q->path_len = (size_t)(o - q->path);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: qbench --port P [--host 127.0.0.1] [--runs 20] [--warmup 1] [--ping PATH] [--save DIR]\n"
            "              [--timeout-s 120] (--query LABEL PATH [--param KEY=VALUE]... [--expect TEXT])...\n");
}

static int label_ok(const char *s)
{
    if (!*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *save = NULL;
    long port = 0, runs = 20, warmup = 1;
    double timeout_s = 120;
    static qb_query qs[MAX_QUERIES + 1]; /* [0] is the ping when asked for */
    int nq = 0, have_ping = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--host") && more) host = argv[++i];
        else if (!strcmp(a, "--port") && more) port = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--runs") && more) runs = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--warmup") && more) warmup = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--timeout-s") && more) timeout_s = strtod(argv[++i], NULL);
        else if (!strcmp(a, "--save") && more) save = argv[++i];
        else if ((!strcmp(a, "--ping") && more) || (!strcmp(a, "--query") && i + 2 < argc)) {
            int is_ping = a[2] == 'p';
            if (nq >= MAX_QUERIES || (is_ping && have_ping)) { usage(); return 2; }
            if (is_ping) { /* the ping goes first, whatever the argument order */
                memmove(&qs[1], &qs[0], (size_t)nq * sizeof qs[0]);
                have_ping = 1;
            }
            qb_query *q = is_ping ? &qs[0] : &qs[nq];
            q->label = is_ping ? "ping" : argv[++i];
            const char *path = argv[++i];
            q->path_len = strlen(path);
            q->expect = NULL;
            if (!label_ok(q->label) || path[0] != '/' || q->path_len >= sizeof q->path - 4) {
                fprintf(stderr, "qbench: bad label or path: %s %s\n", q->label, path);
                return 2;
            }
            memcpy(q->path, path, q->path_len + 1);
            nq++;
        } else if ((!strcmp(a, "--param") || !strcmp(a, "--expect")) && more && nq > 0) {
            qb_query *q = &qs[nq - 1];
            if (a[2] == 'e') q->expect = argv[++i];
            else if (append_param(q, argv[++i]) != 0) {
                fprintf(stderr, "qbench: bad or too long --param %s\n", argv[i]);
                return 2;
            }
        } else { usage(); return 2; }
    }
    if (port <= 0 || port > 65535 || runs < 1 || runs > MAX_RUNS || warmup < 0 || warmup > MAX_RUNS ||
        nq == 0 || !(timeout_s > 0)) {
        usage();
        return 2;
    }
    static qb_conn c;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) != 1) {
        fprintf(stderr, "qbench: --host must be a numeric IPv4 address\n");
        return 2;
    }
    char url[64], uerr[128];
    snprintf(url, sizeof url, "http://%s:%ld", host, port);
    httpc_url u;
    httpc_opts ho = { 10000, IO_TIMEOUT_S * 1000, NULL };
    if (httpc_url_parse(url, &u, uerr, sizeof uerr) != 0 || httpc_create(&u, &ho, &c.hc) != 0) {
        fprintf(stderr, "qbench: %s\n", uerr);
        return 2;
    }
    httpc_resp_init(&c.resp);
    st_buf_init(&c.body);
    double *ms = malloc((size_t)runs * sizeof *ms);
    if (!ms) { fprintf(stderr, "qbench: out of memory\n"); return 1; }
    double t_end = now_ms() + timeout_s * 1e3;
    int any_err = 0;
    for (int qi = 0; qi < nq; qi++) {
        qb_query *q = &qs[qi];
        long errors = 0, timed = 0;
        int printed_err = 0; /* the first error of each query is shown */
        for (long r = 0; r < warmup + runs; r++) {
            if (now_ms() > t_end) {
                errors += warmup + runs - r;
                if (!printed_err++) fprintf(stderr, "qbench: gave up after --timeout-s %.0f\n", timeout_s);
                break;
            }
            double t0 = now_ms();
            int st = do_request(&c, q->path);
            double t1 = now_ms();
            /* /ping answers 204 (InfluxDB, Strata) or 200 (VictoriaMetrics' /health) */
            int ok_status = have_ping && qi == 0 ? st / 100 == 2 : st == 200;
            int bad = !ok_status || (q->expect && (!c.body.ptr || !strstr(c.body.ptr, q->expect)));
            if (bad) {
                errors++;
                if (!printed_err++) {
                    if (st < 0) fprintf(stderr, "qbench: %s: %s\n", q->label, httpc_errmsg(c.hc));
                    else
                        fprintf(stderr, "qbench: %s: HTTP %d%s: %.*s\n", q->label, st,
                                ok_status ? " without the expected text" : "",
                                (int)(c.body.len < ERR_SHOW_BYTES ? c.body.len : ERR_SHOW_BYTES),
                                c.body.ptr ? c.body.ptr : "");
                }
                if (st < 0 && c.failures >= MAX_RECONNECTS) {
                    errors += warmup + runs - r - 1;
                    break;
                }
            }
            if (r >= warmup && !bad) ms[timed++] = t1 - t0;
        }
        if (errors) any_err = 1;
        uint64_t series = 0, points = 0, nulls = 0;
        if (c.body.len) json_count(c.body.ptr, c.body.len, &series, &points, &nulls);
        if (save && c.body.len) {
            char fn[4096];
            snprintf(fn, sizeof fn, "%s/%s.json", save, q->label);
            FILE *f = fopen(fn, "wb");
            if (!f || fwrite(c.body.ptr, 1, c.body.len, f) != c.body.len) perror(fn);
            if (f) fclose(f);
        }
        if (timed == 0) {
            printf("qbench: %s median_ms=nan p90_ms=nan min_ms=nan bytes=%zu runs=0 errors=%ld series=%llu "
                   "points=%llu nulls=%llu\n",
                   q->label, c.body.len, errors, (unsigned long long)series, (unsigned long long)points,
                   (unsigned long long)nulls);
            fflush(stdout);
            continue;
        }
        double med = median(ms, (size_t)timed); /* sorts ms */
        long r90 = (long)((9 * timed + 9) / 10); /* ceil(0.9 n), 1-based */
        if (r90 < 1) r90 = 1;
        printf("qbench: %s median_ms=%.3f p90_ms=%.3f min_ms=%.3f bytes=%zu runs=%ld errors=%ld series=%llu "
               "points=%llu nulls=%llu",
               q->label, med, ms[r90 - 1], ms[0], c.body.len, timed, errors, (unsigned long long)series,
               (unsigned long long)points, (unsigned long long)nulls);
        printf("\n");
        fflush(stdout);
    }
    httpc_destroy(c.hc);
    httpc_resp_fini(&c.resp);
    st_buf_fini(&c.body);
    free(ms);
    return any_err ? 1 : 0;
}
