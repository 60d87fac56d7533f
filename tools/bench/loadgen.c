/*
 * tools/bench/loadgen.c — HTTP line-protocol load generator for the ingest
 * benchmark (Strata, InfluxDB, VictoriaMetrics: all take POST /write).
 *
 *   loadgen --file F [--host 127.0.0.1] [--port 8086] [--path /write]
 *           [--query db=bench] [--batch-lines 5000] [--connections 2]
 *           [--label NAME] [--timeout-s 600]
 *
 * Reads F (line protocol, e.g. from `strata gen cpu`) into memory and splits
 * it into batches of --batch-lines lines, counting the fields of every line
 * as it goes. Then --connections threads, each with one keep-alive
 * connection (tools/httpc.h, the strata CLI's client: TCP_NODELAY), take the
 * next batch from a shared atomic index, POST it (the body is sent from the
 * file's buffer, not copied) and read the whole response. A non-2xx status
 * counts as an error; the first error's message is printed. At the end it
 * prints one line:
 *
 *   loadgen: <label> <values/s> values/s <lines/s> lines/s batches=<n>
 *            errors=<n> seconds=<s> values=<n> lines=<n>
 *
 * (on one line) where seconds runs from the first send to the last response.
 * Exit status: 0 if every batch got a 2xx, 1 otherwise, 2 on usage errors.
 *
 * Bounded: every send and receive has a timeout, a thread gives up after
 * --timeout-s in total, and a thread stops after MAX_RECONNECTS requests that
 * got no response (the batch in flight counts as an error). Only 127.0.0.1
 * or another numeric IPv4 address is accepted as --host.
 *
 * Threads: main() loads and splits; one worker per connection, owning its
 * client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "tools/httpc.h"

#define MAX_CONNECTIONS 256
#define MAX_RECONNECTS 16
#define IO_TIMEOUT_S 120

typedef struct lg_batch {
    const char *body;        /* borrowed from the file buffer */
    size_t body_len;
} lg_batch;

typedef struct lg_opts {
    const char *host, *path, *query, *file, *label;
    int port, connections;
    long batch_lines;
    double timeout_s;
} lg_opts;

typedef struct lg_shared {
    const lg_opts *opts;
    httpc_url url;
    char target[1024];       /* path?query */
    lg_batch *batches;       /* owned by main */
    size_t nbatches;
    atomic_size_t next;      /* next batch to send */
    atomic_ullong done, errors;
    atomic_int err_printed;
    double t_start;
} lg_shared;

typedef struct lg_worker {
    lg_shared *sh;
    pthread_t thread;
    double t_last;            /* time of this worker's last response */
} lg_worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fields in one line-protocol line [p, end): the commas of the field set,
 * plus one. The field set starts after the first unescaped space outside
 * quotes (the measurement and tags) and ends at the next unquoted,
 * unescaped space. Returns 0 for blank lines and comments. */
static uint64_t lp_count_fields(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    if (p == end || *p == '#') return 0;
    for (; p < end; p++) { /* key: measurement,tags */
        if (*p == '\\') { p++; continue; }
        if (*p == ' ') break;
    }
    if (p >= end) return 0;
    uint64_t n = 1;
    int quoted = 0;
    for (p++; p < end; p++) {
        char c = *p;
        if (c == '\\') { p++; continue; }
        if (c == '"') { quoted = !quoted; continue; }
        if (quoted) continue;
        if (c == ',') n++;
        else if (c == ' ' || c == '\r') break;
    }
    return n;
}

static int load_file(const char *path, char **out, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size <= 0) {
        fprintf(stderr, "loadgen: %s is empty or unreadable\n", path);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n);
    if (!buf) { fprintf(stderr, "loadgen: out of memory for %zu bytes\n", n); fclose(f); return -1; }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) { fprintf(stderr, "loadgen: short read on %s\n", path); free(buf); return -1; }
    *out = buf;
    *out_len = n;
    return 0;
}

/* Splits buf into batches of opts->batch_lines lines. */
static int split_batches(const lg_opts *o, const char *buf, size_t len, lg_batch **out, size_t *out_n,
                         uint64_t *lines_out, uint64_t *values_out)
{
    size_t cap = 64, n = 0;
    lg_batch *b = malloc(cap * sizeof *b);
    if (!b) return -1;
    uint64_t lines = 0, values = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *start = p;
        long k = 0;
        while (p < end && k < o->batch_lines) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            uint64_t f = lp_count_fields(p, le);
            if (f) { values += f; lines++; k++; }
            p = nl ? nl + 1 : end;
        }
        if (k == 0) break; /* only blank lines or comments were left */
        if (n == cap) {
            cap *= 2;
            lg_batch *nb = realloc(b, cap * sizeof *b);
            if (!nb) { free(b); return -1; }
            b = nb;
        }
        lg_batch *x = &b[n++];
        x->body = start;
        x->body_len = (size_t)(p - start);
    }
    *out = b;
    *out_n = n;
    *lines_out = lines;
    *values_out = values;
    return 0;
}

static void *worker_main(void *arg)
{
    lg_worker *w = arg;
    lg_shared *sh = w->sh;
    int failures = 0;
    double deadline = sh->t_start + sh->opts->timeout_s;
    httpc *c = NULL;
    httpc_opts ho = { 10000, IO_TIMEOUT_S * 1000, NULL };
    httpc_resp resp;
    httpc_resp_init(&resp);
    st_buf msg;
    st_buf_init(&msg);
    if (httpc_create(&sh->url, &ho, &c) != 0) {
        fprintf(stderr, "loadgen: out of memory\n");
        return NULL; /* its batches are counted as never sent */
    }
    for (;;) {
        size_t i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->nbatches) break;
        if (now_s() > deadline) {
            atomic_fetch_add(&sh->errors, 1);
            if (atomic_exchange(&sh->err_printed, 1) == 0)
                fprintf(stderr, "loadgen: gave up after --timeout-s %.0f\n", sh->opts->timeout_s);
            continue;
        }
        const lg_batch *b = &sh->batches[i];
        int rc = httpc_request(c, "POST", sh->target, "Content-Type: text/plain; charset=utf-8\r\n", b->body,
                               b->body_len, &resp, NULL, NULL);
        w->t_last = now_s();
        if (rc == 0 && resp.status / 100 == 2) {
            atomic_fetch_add(&sh->done, 1);
            continue;
        }
        atomic_fetch_add(&sh->errors, 1);
        if (atomic_exchange(&sh->err_printed, 1) == 0) {
            if (rc) fprintf(stderr, "loadgen: batch %zu: %s\n", i, httpc_errmsg(c));
            else {
                httpc_error_text(&resp, &msg);
                fprintf(stderr, "loadgen: batch %zu: HTTP %d: %s\n", i, resp.status, msg.ptr ? msg.ptr : "");
            }
        }
        if (rc && ++failures > MAX_RECONNECTS) break;
    }
    httpc_destroy(c);
    httpc_resp_fini(&resp);
    st_buf_fini(&msg);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --file F [--host 127.0.0.1] [--port 8086] [--path /write] [--query db=bench]\n"
            "               [--batch-lines 5000] [--connections 2] [--label NAME] [--timeout-s 600]\n");
}

int main(int argc, char **argv)
{
    lg_opts o = { .host = "127.0.0.1", .path = "/write", .query = "db=bench", .file = NULL, .label = NULL,
                  .port = 8086, .connections = 2, .batch_lines = 5000, .timeout_s = 600 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) { usage(); return 2; }
        const char *v = argv[++i];
        if (strcmp(a, "--host") == 0) o.host = v;
        else if (strcmp(a, "--port") == 0) o.port = atoi(v);
        else if (strcmp(a, "--path") == 0) o.path = v;
        else if (strcmp(a, "--query") == 0) o.query = v;
        else if (strcmp(a, "--file") == 0) o.file = v;
        else if (strcmp(a, "--label") == 0) o.label = v;
        else if (strcmp(a, "--batch-lines") == 0) o.batch_lines = atol(v);
        else if (strcmp(a, "--connections") == 0) o.connections = atoi(v);
        else if (strcmp(a, "--timeout-s") == 0) o.timeout_s = atof(v);
        else { usage(); return 2; }
    }
    if (!o.file || o.port <= 0 || o.port > 65535 || o.batch_lines <= 0 || o.connections <= 0 ||
        o.connections > MAX_CONNECTIONS || !(o.timeout_s > 0)) {
        usage();
        return 2;
    }
    char label_buf[64];
    if (!o.label) {
        snprintf(label_buf, sizeof label_buf, "%s:%d", o.host, o.port);
        o.label = label_buf;
    }

    lg_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.opts = &o;
    struct in_addr a4;
    if (inet_pton(AF_INET, o.host, &a4) != 1) {
        fprintf(stderr, "loadgen: --host must be a numeric IPv4 address\n");
        return 2;
    }
    char url[64], uerr[128];
    snprintf(url, sizeof url, "http://%s:%d", o.host, o.port);
    int tl = snprintf(sh.target, sizeof sh.target, "%s%s%s", o.path, o.query[0] ? "?" : "", o.query);
    if (tl < 0 || (size_t)tl >= sizeof sh.target) {
        fprintf(stderr, "loadgen: --path/--query too long\n");
        return 2;
    }
    if (httpc_url_parse(url, &sh.url, uerr, sizeof uerr) != 0) {
        fprintf(stderr, "loadgen: %s\n", uerr);
        return 2;
    }

    char *buf = NULL;
    size_t len = 0;
    uint64_t lines = 0, values = 0;
    if (load_file(o.file, &buf, &len) != 0) return 1;
    if (split_batches(&o, buf, len, &sh.batches, &sh.nbatches, &lines, &values) != 0 || sh.nbatches == 0) {
        fprintf(stderr, "loadgen: no lines in %s\n", o.file);
        free(buf);
        return 1;
    }
    atomic_init(&sh.next, 0);
    atomic_init(&sh.done, 0);
    atomic_init(&sh.errors, 0);
    atomic_init(&sh.err_printed, 0);

    lg_worker *ws = calloc((size_t)o.connections, sizeof *ws);
    if (!ws) { free(sh.batches); free(buf); return 1; }
    sh.t_start = now_s();
    int started = 0;
    for (int c = 0; c < o.connections; c++) {
        ws[c].sh = &sh;
        ws[c].t_last = sh.t_start;
        if (pthread_create(&ws[c].thread, NULL, worker_main, &ws[c]) != 0) break;
        started++;
    }
    if (started == 0) worker_main(&ws[0]); /* no threads: run one connection here */
    double t_end = sh.t_start;
    for (int c = 0; c < started; c++) pthread_join(ws[c].thread, NULL);
    for (int c = 0; c < (started ? started : 1); c++)
        if (ws[c].t_last > t_end) t_end = ws[c].t_last;
    double secs = t_end - sh.t_start;
    if (secs <= 0) secs = 1e-9;
    unsigned long long errors = atomic_load(&sh.errors);
    errors += sh.nbatches - (atomic_load(&sh.done) + errors); /* batches never sent */
    printf("loadgen: %s %.0f values/s %.0f lines/s batches=%zu errors=%llu seconds=%.3f values=%llu lines=%llu\n",
           o.label, (double)values / secs, (double)lines / secs, sh.nbatches, errors, secs,
           (unsigned long long)values, (unsigned long long)lines);
    free(ws);
    free(sh.batches);
    free(buf);
    return errors ? 1 : 0;
}
