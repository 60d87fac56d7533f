/*
 * tools/bench/httpc.h — the client side of HTTP/1.1 that the benchmark
 * clients share (loadgen, qbench): a blocking keep-alive connection over a
 * receive buffer the caller owns, and one response read in two steps, the
 * head (status line and headers: Content-Length, chunked, Connection:
 * close) and then its body, whose bytes go to a sink the caller picks once
 * it knows the status.
 *
 * Bounded: at most HC_MAX_HEADERS header lines and trailers, HC_MAX_CHUNKS
 * chunks; a line longer than the buffer fails the read. Header-only; one
 * connection per thread; no allocation.
 */
#ifndef ST_TOOLS_BENCH_HTTPC_H
#define ST_TOOLS_BENCH_HTTPC_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { HC_MAX_HEADERS = 200, HC_MAX_CHUNKS = 10000000 };

typedef struct hc_conn {
    int fd;              /* -1 when closed */
    char *buf;           /* borrowed: received bytes not yet parsed */
    size_t cap, have, at;
} hc_conn;

typedef struct hc_head {
    int status;
    int64_t clen;        /* Content-Length, -1 when absent */
    int chunked;
} hc_head;

/* Body bytes to the caller: 0, or -1 to fail the read. */
typedef int (*hc_sink)(void *arg, const char *p, size_t n);

static inline void hc_init(hc_conn *c, char *buf, size_t cap)
{
    c->fd = -1;
    c->buf = buf;
    c->cap = cap;
    c->have = c->at = 0;
}

/* Connect (TCP_NODELAY, send/receive timeouts). 0, or -1 with errno set. */
static inline int hc_open(hc_conn *c, const struct sockaddr_in *addr, int timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = { .tv_sec = timeout_s, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    c->fd = fd;
    c->have = c->at = 0;
    return 0;
}

static inline void hc_close(hc_conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->have = c->at = 0;
}

/* Makes at least one more unparsed byte available (consumed bytes are
 * dropped first). -1 on EOF, error, timeout or a full buffer. */
static inline int hc_fill(hc_conn *c)
{
    if (c->at > 0) {
        memmove(c->buf, c->buf + c->at, c->have - c->at);
        c->have -= c->at;
        c->at = 0;
    }
    if (c->have == c->cap) return -1; /* a line longer than the buffer */
    for (;;) {
        ssize_t k = recv(c->fd, c->buf + c->have, c->cap - c->have, 0);
        if (k > 0) { c->have += (size_t)k; return 0; }
        if (k < 0 && errno == EINTR) continue;
        return -1;
    }
}

/* The next LF-terminated line; *line and *len exclude the CR LF. */
static inline int hc_read_line(hc_conn *c, const char **line, size_t *len)
{
    for (;;) {
        char *s = c->buf + c->at;
        char *nl = memchr(s, '\n', c->have - c->at);
        if (nl) {
            size_t n = (size_t)(nl - s);
            if (n && s[n - 1] == '\r') n--;
            *line = s;
            *len = n;
            c->at = (size_t)(nl - c->buf) + 1;
            return 0;
        }
        if (hc_fill(c) != 0) return -1;
    }
}

/* n body bytes to sink (NULL: dropped). */
static inline int hc_read_bytes(hc_conn *c, uint64_t n, hc_sink sink, void *arg)
{
    while (n > 0) {
        if (c->at == c->have && hc_fill(c) != 0) return -1;
        size_t k = c->have - c->at;
        if (k > n) k = (size_t)n;
        if (sink && sink(arg, c->buf + c->at, k) != 0) return -1;
        c->at += k;
        n -= k;
    }
    return 0;
}

/* An unsigned number in base at the start of [p, p + n): 0, or -1 when
 * there is none. */
static inline int hc_number(const char *p, size_t n, int base, unsigned long long *out)
{
    char tmp[32];
    size_t k = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
    memcpy(tmp, p, k);
    tmp[k] = '\0';
    char *s = tmp;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '-') return -1;
    char *end;
    *out = strtoull(s, &end, base);
    return end == s ? -1 : 0;
}

/* Status line and headers. *keep is set from the version and cleared by
 * Connection: close. 0, or -1 when the connection failed or the head is
 * malformed. */
static inline int hc_read_head(hc_conn *c, hc_head *h, int *keep)
{
    const char *l;
    size_t n;
    if (hc_read_line(c, &l, &n) != 0) return -1;
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0) return -1;
    h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    if (h->status < 100 || h->status > 599) return -1;
    h->clen = -1;
    h->chunked = 0;
    *keep = l[7] == '1';
    for (int k = 0;; k++) {
        if (k >= HC_MAX_HEADERS || hc_read_line(c, &l, &n) != 0) return -1;
        if (n == 0) return 0;
        if (n > 15 && strncasecmp(l, "content-length:", 15) == 0) {
            unsigned long long v;
            if (hc_number(l + 15, n - 15, 10, &v) != 0 || v > INT64_MAX) return -1;
            h->clen = (int64_t)v;
        } else if (n > 18 && strncasecmp(l, "transfer-encoding:", 18) == 0) {
            for (size_t i = 18; i + 7 <= n; i++)
                if (strncasecmp(l + i, "chunked", 7) == 0) h->chunked = 1;
        } else if (n > 11 && strncasecmp(l, "connection:", 11) == 0) {
            for (size_t i = 11; i + 5 <= n; i++)
                if (strncasecmp(l + i, "close", 5) == 0) *keep = 0;
        }
    }
}

/* The body hc_read_head announced, to sink (NULL: dropped). A body without
 * length runs until the server closes: read to the end when to_close,
 * else left unread; either way *keep is cleared. 0 or -1. */
static inline int hc_read_body(hc_conn *c, const hc_head *h, hc_sink sink, void *arg, int to_close, int *keep)
{
    const char *l;
    size_t n;
    if (h->status == 204 || h->status == 304 || h->status / 100 == 1) return 0;
    if (h->chunked) {
        for (int k = 0; k < HC_MAX_CHUNKS; k++) {
            unsigned long long sz;
            if (hc_read_line(c, &l, &n) != 0 || hc_number(l, n, 16, &sz) != 0) return -1;
            if (sz == 0) {
                for (int t = 0; t < HC_MAX_HEADERS; t++) { /* trailers, then the empty line */
                    if (hc_read_line(c, &l, &n) != 0) return -1;
                    if (n == 0) return 0;
                }
                return -1;
            }
            if (hc_read_bytes(c, sz, sink, arg) != 0) return -1;
            if (hc_read_line(c, &l, &n) != 0 || n != 0) return -1;
        }
        return -1;
    }
    if (h->clen >= 0) return hc_read_bytes(c, (uint64_t)h->clen, sink, arg);
    *keep = 0;
    if (!to_close) return 0;
    for (;;) {
        if (c->at == c->have && hc_fill(c) != 0) return 0; /* EOF ends the body */
        if (hc_read_bytes(c, c->have - c->at, sink, arg) != 0) return -1;
    }
}

#endif
