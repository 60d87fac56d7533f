/*
 * tools/bench/loadgen.c — HTTP line-protocol load generator for the ingest
 * benchmark (Strata, InfluxDB, VictoriaMetrics: all take POST /write).
 *
 *   loadgen --file F [--host 127.0.0.1] [--port 8086] [--path /write]
 *           [--query db=bench] [--batch-lines 5000] [--connections 2]
 *           [--label NAME] [--timeout-s 600]
 *
 * Reads F (line protocol, e.g. from `strata gen cpu`) into memory, splits it
 * into batches of --batch-lines lines, counting the fields of every line as
 * it goes, and pre-builds each request's header (POST, Content-Length,
 * keep-alive). Then --connections threads, each with one blocking TCP socket
 * (TCP_NODELAY), take the next batch from a shared atomic index, send header
 * and body with writev (the body is sent from the file's buffer, not copied)
 * and read the whole response (status line, headers, Content-Length or
 * chunked body). A non-2xx status counts as an error; the first error's body
 * is printed. At the end it prints one line:
 *
 *   loadgen: <label> <values/s> values/s <lines/s> lines/s batches=<n>
 *            errors=<n> seconds=<s> values=<n> lines=<n>
 *
 * (on one line) where seconds runs from the first send to the last response.
 * Exit status: 0 if every batch got a 2xx, 1 otherwise, 2 on usage errors.
 *
 * Bounded: every socket has send/receive timeouts, a thread gives up after
 * --timeout-s in total, and a lost connection is re-opened at most
 * MAX_RECONNECTS times per thread (the batch in flight counts as an error).
 * Only 127.0.0.1 or another numeric IPv4 address is accepted as --host.
 *
 * Threads: main() loads and splits; one worker per connection; the hot loop
 * allocates nothing (each worker owns one response buffer).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench/httpc.h"

#define MAX_CONNECTIONS 256
#define MAX_RECONNECTS 16
#define RESP_BUF_BYTES (64 * 1024)
#define ERR_BODY_BYTES 1024
#define HDR_BYTES 512
#define IO_TIMEOUT_S 120

typedef struct lg_batch {
    const char *body;        /* borrowed from the file buffer */
    size_t body_len;
    char hdr[HDR_BYTES];     /* the request line and headers, ready to send */
    size_t hdr_len;
} lg_batch;

typedef struct lg_opts {
    const char *host, *path, *query, *file, *label;
    int port, connections;
    long batch_lines;
    double timeout_s;
} lg_opts;

typedef struct lg_shared {
    const lg_opts *opts;
    struct sockaddr_in addr;
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
    char buf[RESP_BUF_BYTES]; /* response bytes; owned */
    hc_conn h;                /* over buf */
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

/* Splits buf into batches of opts->batch_lines lines and builds each header. */
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
        int hl = snprintf(x->hdr, sizeof x->hdr,
                          "POST %s%s%s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: strata-loadgen\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                          "Connection: keep-alive\r\n\r\n",
                          o->path, o->query[0] ? "?" : "", o->query, o->host, o->port, x->body_len);
        if (hl < 0 || (size_t)hl >= sizeof x->hdr) {
            fprintf(stderr, "loadgen: --path/--query too long\n");
            free(b);
            return -1;
        }
        x->hdr_len = (size_t)hl;
    }
    *out = b;
    *out_n = n;
    *lines_out = lines;
    *values_out = values;
    return 0;
}

static int send_all(int fd, const lg_batch *b)
{
    struct iovec iov[2] = {
        { .iov_base = (void *)b->hdr, .iov_len = b->hdr_len },
        { .iov_base = (void *)b->body, .iov_len = b->body_len },
    };
    int i = 0;
    /* each pass sends at least one byte or fails, so this ends */
    while (i < 2) {
        ssize_t k = writev(fd, iov + i, 2 - i);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        size_t left = (size_t)k;
        while (i < 2 && left >= iov[i].iov_len) { left -= iov[i].iov_len; i++; }
        if (i < 2) { iov[i].iov_base = (char *)iov[i].iov_base + left; iov[i].iov_len -= left; }
    }
    return 0;
}

/* The start of an error response's body, for the message. */
typedef struct err_text {
    char *p;
    size_t *len;
} err_text;

static int err_sink(void *arg, const char *p, size_t n)
{
    err_text *e = arg;
    if (*e->len < ERR_BODY_BYTES) {
        size_t c = ERR_BODY_BYTES - *e->len < n ? ERR_BODY_BYTES - *e->len : n;
        memcpy(e->p + *e->len, p, c);
        *e->len += c;
    }
    return 0;
}

/* Reads one whole response. Returns the status code, or -1 if the
 * connection failed. *keep is cleared when the server will close. An
 * error's body start goes to err. */
static int read_response(lg_worker *w, char *err, size_t *err_len, int *keep)
{
    hc_head h;
    if (hc_read_head(&w->h, &h, keep) != 0) return -1;
    err_text e = { err, err_len };
    int ok = h.status / 100 == 2;
    if (hc_read_body(&w->h, &h, ok ? NULL : err_sink, &e, 0, keep) != 0) return -1;
    return h.status;
}

static void *worker_main(void *arg)
{
    lg_worker *w = arg;
    lg_shared *sh = w->sh;
    char err[ERR_BODY_BYTES];
    int reconnects = 0;
    double deadline = sh->t_start + sh->opts->timeout_s;
    for (;;) {
        size_t i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->nbatches) break;
        if (now_s() > deadline) {
            atomic_fetch_add(&sh->errors, 1);
            if (atomic_exchange(&sh->err_printed, 1) == 0)
                fprintf(stderr, "loadgen: gave up after --timeout-s %.0f\n", sh->opts->timeout_s);
            continue;
        }
        if (w->h.fd < 0 && hc_open(&w->h, &sh->addr, IO_TIMEOUT_S) != 0) {
            atomic_fetch_add(&sh->errors, 1);
            if (atomic_exchange(&sh->err_printed, 1) == 0)
                fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
            if (++reconnects > MAX_RECONNECTS) break;
            continue;
        }
        size_t err_len = 0;
        int keep = 1;
        int status = send_all(w->h.fd, &sh->batches[i]) == 0 ? read_response(w, err, &err_len, &keep) : -1;
        w->t_last = now_s();
        if (status >= 200 && status < 300) {
            atomic_fetch_add(&sh->done, 1);
        } else {
            atomic_fetch_add(&sh->errors, 1);
            if (atomic_exchange(&sh->err_printed, 1) == 0) {
                if (status < 0) fprintf(stderr, "loadgen: batch %zu: connection failed: %s\n", i, strerror(errno));
                else fprintf(stderr, "loadgen: batch %zu: HTTP %d: %.*s\n", i, status, (int)err_len, err);
            }
        }
        if (status < 0 || !keep) {
            hc_close(&w->h);
            if (status < 0 && ++reconnects > MAX_RECONNECTS) break;
        }
    }
    hc_close(&w->h);
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
    sh.addr.sin_family = AF_INET;
    sh.addr.sin_port = htons((uint16_t)o.port);
    if (inet_pton(AF_INET, o.host, &sh.addr.sin_addr) != 1) {
        fprintf(stderr, "loadgen: --host must be a numeric IPv4 address\n");
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
        hc_init(&ws[c].h, ws[c].buf, sizeof ws[c].buf);
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
