/*
 * tools/httpc.c — blocking HTTP/1.1 client (see tools/httpc.h).
 *
 * The socket is non-blocking and every wait goes through poll() with the
 * configured timeout, so a server that stops answering can never hang a
 * CLI thread. Responses are read through one growable input buffer that is
 * kept across requests on the same connection (a well-behaved server sends
 * nothing unasked, but the buffer makes that an error we notice rather than
 * a hang). Not thread-safe; one httpc per thread.
 */
#include "tools/httpc.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <fcntl.h>

#include "common/alloc.h"
#include "common/err.h"

#define HTTPC_MAX_HEAD_BYTES (64u * 1024)
#define HTTPC_READ_CHUNK     (64u * 1024)

struct httpc {
    httpc_url url;
    int connect_timeout_ms;
    int io_timeout_ms;
    char *headers;   /* owned copy of opts->headers, or NULL */
    int fd;          /* -1 when not connected */
    int served;      /* requests completed on this connection */
    st_buf in;       /* received, not yet consumed bytes: [in_off, in.len) */
    size_t in_off;
    size_t got;      /* response bytes received for the current request */
    char err[512];
};

/* ---- URL ---- */

int httpc_url_parse(const char *url, httpc_url *out, char *err, size_t errlen)
{
    httpc_url u;
    memset(&u, 0, sizeof u);
    const char *p = url;
    if (strncasecmp(p, "https://", 8) == 0) {
        snprintf(err, errlen, "https is not supported (use http:// or a TLS-terminating proxy)");
        return ST_EINVAL;
    }
    if (strncasecmp(p, "http://", 7) == 0) p += 7;
    else if (strstr(p, "://")) {
        snprintf(err, errlen, "unsupported URL scheme in '%s' (use http://host:port)", url);
        return ST_EINVAL;
    }
    const char *hs = p, *he;
    if (*p == '[') {
        hs = p + 1;
        he = strchr(hs, ']');
        if (!he) { snprintf(err, errlen, "unterminated '[' in URL '%s'", url); return ST_EINVAL; }
        p = he + 1;
    } else {
        he = p + strcspn(p, ":/");
        p = he;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof u.host) {
        snprintf(err, errlen, "missing or too long host in URL '%s'", url);
        return ST_EINVAL;
    }
    memcpy(u.host, hs, (size_t)(he - hs));
    strcpy(u.port, "8086");
    if (*p == ':') {
        p++;
        size_t n = strspn(p, "0123456789");
        long port = n ? strtol(p, NULL, 10) : 0;
        if (n == 0 || n > 5 || port < 1 || port > 65535 || (p[n] && p[n] != '/')) {
            snprintf(err, errlen, "bad port in URL '%s'", url);
            return ST_EINVAL;
        }
        snprintf(u.port, sizeof u.port, "%ld", port);
        p += n;
    }
    if (*p && *p != '/') { snprintf(err, errlen, "bad URL '%s'", url); return ST_EINVAL; }
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/') n--;
    if (n >= sizeof u.prefix) { snprintf(err, errlen, "URL path too long in '%s'", url); return ST_EINVAL; }
    memcpy(u.prefix, p, n);
    *out = u;
    return 0;
}

/* ---- responses ---- */

void httpc_resp_init(httpc_resp *r)
{
    r->status = 0;
    st_buf_init(&r->head);
    st_buf_init(&r->body);
}

void httpc_resp_fini(httpc_resp *r)
{
    st_buf_fini(&r->head);
    st_buf_fini(&r->body);
}

int httpc_resp_header(const httpc_resp *r, const char *name, st_slice *out)
{
    size_t nl = strlen(name);
    const char *p = r->head.ptr, *end = p ? p + r->head.len : NULL;
    if (!p) return 0;
    const char *eol = memchr(p, '\n', (size_t)(end - p)); /* skip the status line */
    while (eol && eol + 1 < end) {
        p = eol + 1;
        eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if ((size_t)(le - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < le && (*v == ' ' || *v == '\t')) v++;
            const char *ve = le;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *out = (st_slice){ v, (size_t)(ve - v) };
            return 1;
        }
    }
    return 0;
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int put_utf8(st_buf *o, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | (cp >> 6)); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12)); b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18)); b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    return st_buf_append(o, b, n);
}

/* Unescape the JSON string whose opening quote is at p[-1]; 0 when it closed. */
static int json_unescape(const char *p, const char *end, st_buf *o)
{
    while (p < end) {
        char c = *p++;
        if (c == '"') return 0;
        if (c != '\\') { if (st_buf_append_byte(o, c)) return ST_ENOMEM; continue; }
        if (p >= end) break;
        c = *p++;
        int rc = 0;
        switch (c) {
        case 'n': rc = st_buf_append_byte(o, '\n'); break;
        case 't': rc = st_buf_append_byte(o, '\t'); break;
        case 'r': rc = st_buf_append_byte(o, '\r'); break;
        case 'b': rc = st_buf_append_byte(o, '\b'); break;
        case 'f': rc = st_buf_append_byte(o, '\f'); break;
        case 'u': {
            if (end - p < 4) return ST_EPARSE;
            unsigned cp = 0;
            for (int i = 0; i < 4; i++) {
                int h = hex_val((unsigned char)p[i]);
                if (h < 0) return ST_EPARSE;
                cp = cp * 16 + (unsigned)h;
            }
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = 0;
                int ok = 1;
                for (int i = 0; i < 4; i++) {
                    int h = hex_val((unsigned char)p[2 + i]);
                    if (h < 0) { ok = 0; break; }
                    lo = lo * 16 + (unsigned)h;
                }
                if (ok && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            rc = put_utf8(o, cp);
            break;
        }
        default: rc = st_buf_append_byte(o, c); break; /* \" \\ \/ */
        }
        if (rc) return ST_ENOMEM;
    }
    return ST_EPARSE;
}

static int json_find_string(const st_buf *b, const char *key, st_buf *out)
{
    if (!b->ptr) return ST_ENOTFOUND;
    char pat[64];
    int n = snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = b->ptr, *end = b->ptr + b->len;
    while ((p = memmem(p, (size_t)(end - p), pat, (size_t)n)) != NULL) {
        const char *q = p + n;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
            if (q < end && *q == '"') {
                st_buf_clear(out);
                int rc = json_unescape(q + 1, end, out);
                return rc == ST_ENOMEM ? rc : rc ? ST_ENOTFOUND : 0;
            }
        }
        p += n;
    }
    return ST_ENOTFOUND;
}

int httpc_error_text(const httpc_resp *r, st_buf *out)
{
    st_buf_clear(out);
    int rc = json_find_string(&r->body, "error", out);
    if (rc == ST_ENOTFOUND) rc = json_find_string(&r->body, "message", out);
    if (rc != ST_ENOTFOUND) return rc;
    st_slice h;
    st_buf_clear(out);
    if (httpc_resp_header(r, "X-Influxdb-Error", &h) && h.len) return st_buf_append(out, h.ptr, h.len);
    size_t n = r->body.len;
    while (n > 0 && (r->body.ptr[n - 1] == '\n' || r->body.ptr[n - 1] == '\r')) n--;
    if (n > 1000) n = 1000;
    if (n == 0) return st_buf_printf(out, "HTTP status %d", r->status);
    return st_buf_append(out, r->body.ptr, n);
}

/* ---- connection ---- */

int httpc_create(const httpc_url *url, const httpc_opts *opts, httpc **out)
{
    httpc *c = st_calloc(1, sizeof *c);
    if (!c) return ST_ENOMEM;
    c->url = *url;
    c->connect_timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 10000;
    c->io_timeout_ms = opts && opts->io_timeout_ms > 0 ? opts->io_timeout_ms : 60000;
    if (opts && opts->headers && !(c->headers = st_strdup(opts->headers))) {
        st_free(c);
        return ST_ENOMEM;
    }
    c->fd = -1;
    st_buf_init(&c->in);
    *out = c;
    return 0;
}

static void conn_close(httpc *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->served = 0;
    st_buf_clear(&c->in);
    c->in_off = 0;
}

void httpc_destroy(httpc *c)
{
    if (!c) return;
    conn_close(c);
    st_buf_fini(&c->in);
    st_free(c->headers);
    st_free(c);
}

const char *httpc_errmsg(const httpc *c) { return c->err; }

__attribute__((format(printf, 3, 4)))
static int fail(httpc *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return code;
}

static int conn_open(httpc *c)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int g = getaddrinfo(c->url.host, c->url.port, &hints, &res);
    if (g != 0)
        return fail(c, ST_EIO, "cannot resolve '%s': %s", c->url.host, gai_strerror(g));
    int rc = ST_EIO;
    c->err[0] = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) { rc = fail(c, ST_EIO, "socket: %s", strerror(errno)); continue; }
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            struct pollfd pf = { .fd = fd, .events = POLLOUT };
            int pr;
            do pr = poll(&pf, 1, c->connect_timeout_ms); while (pr < 0 && errno == EINTR);
            if (pr == 0) {
                close(fd);
                rc = fail(c, ST_ETIMEOUT, "connect %s:%s: timed out after %d ms", c->url.host, c->url.port,
                          c->connect_timeout_ms);
                continue;
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
            r = soerr ? -1 : 0;
            errno = soerr;
        }
        if (r != 0) {
            rc = fail(c, ST_EIO, "connect %s:%s: %s", c->url.host, c->url.port, strerror(errno));
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->served = 0;
        st_buf_clear(&c->in);
        c->in_off = 0;
        rc = 0;
        break;
    }
    freeaddrinfo(res);
    return rc;
}

static int wait_fd(httpc *c, short events, const char *what)
{
    struct pollfd pf = { .fd = c->fd, .events = events };
    int pr;
    do pr = poll(&pf, 1, c->io_timeout_ms); while (pr < 0 && errno == EINTR);
    if (pr == 0)
        return fail(c, ST_ETIMEOUT, "%s %s:%s: no progress for %d ms", what, c->url.host, c->url.port,
                    c->io_timeout_ms);
    if (pr < 0) return fail(c, ST_EIO, "poll: %s", strerror(errno));
    return 0;
}

static int send_all(httpc *c, const char *p, size_t n, int more)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (w > 0) { p += w; n -= (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(c, POLLOUT, "send to");
            if (rc) return rc;
            continue;
        }
        return fail(c, ST_EIO, "send to %s:%s: %s", c->url.host, c->url.port, strerror(errno));
    }
    return 0;
}

/* Read more bytes into c->in. >0 bytes read, 0 at EOF, <0 error. */
static int fill(httpc *c)
{
    if (c->in_off > 0 && c->in_off == c->in.len) { st_buf_clear(&c->in); c->in_off = 0; }
    if (c->in_off > HTTPC_READ_CHUNK && c->in_off * 2 > c->in.len) {
        memmove(c->in.ptr, c->in.ptr + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    if (st_buf_reserve(&c->in, HTTPC_READ_CHUNK)) return fail(c, ST_ENOMEM, "out of memory");
    for (;;) {
        ssize_t r = recv(c->fd, c->in.ptr + c->in.len, HTTPC_READ_CHUNK, 0);
        if (r > 0) { c->in.len += (size_t)r; c->got += (size_t)r; return (int)(r > INT32_MAX ? INT32_MAX : r); }
        if (r == 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(c, POLLIN, "receive from");
            if (rc) return rc;
            continue;
        }
        return fail(c, ST_EIO, "receive from %s:%s: %s", c->url.host, c->url.port, strerror(errno));
    }
}

typedef struct sink {
    httpc_resp *resp;
    httpc_body_cb cb;
    void *ctx;
} sink;

static int sink_put(httpc *c, sink *s, const char *p, size_t n)
{
    if (!n) return 0;
    if (s->cb) return s->cb(s->ctx, p, n) ? fail(c, ST_ECLOSED, "aborted by the body consumer") : 0;
    return st_buf_append(&s->resp->body, p, n) ? fail(c, ST_ENOMEM, "out of memory") : 0;
}

/* Index of the LF ending the next line in the buffer (reads more as needed). */
static int need_line(httpc *c, size_t max, size_t *lf, const char *what)
{
    size_t scanned = 0;
    for (;;) {
        const char *b = c->in.ptr ? c->in.ptr + c->in_off : NULL;
        size_t avail = c->in.len - c->in_off;
        const char *q = b && avail > scanned ? memchr(b + scanned, '\n', avail - scanned) : NULL;
        if (q) { *lf = (size_t)(q - b); return 0; }
        scanned = avail;
        if (avail > max) return fail(c, ST_EPROTO, "reply from %s:%s: line too long in %s", c->url.host, c->url.port, what);
        int r = fill(c);
        if (r < 0) return r;
        if (r == 0) return fail(c, ST_EIO, "%s:%s closed the connection in the middle of %s", c->url.host, c->url.port, what);
    }
}

static int read_chunked(httpc *c, sink *s)
{
    for (;;) {
        size_t lf;
        int rc = need_line(c, 1024, &lf, "a chunk header");
        if (rc) return rc;
        const char *p = c->in.ptr + c->in_off;
        uint64_t size = 0;
        size_t i = 0;
        int h;
        while (i < lf && (h = hex_val((unsigned char)p[i])) >= 0) {
            if (size > (UINT64_MAX >> 4)) return fail(c, ST_EPROTO, "reply: chunk size overflows");
            size = size * 16 + (unsigned)h;
            i++;
        }
        if (i == 0) return fail(c, ST_EPROTO, "reply: bad chunk size line");
        c->in_off += lf + 1;
        if (size == 0) {
            /* Trailers until an empty line. */
            for (;;) {
                rc = need_line(c, HTTPC_MAX_HEAD_BYTES, &lf, "the trailers");
                if (rc) return rc;
                const char *t = c->in.ptr + c->in_off;
                c->in_off += lf + 1;
                if (lf == 0 || (lf == 1 && t[0] == '\r')) return 0;
            }
        }
        while (size > 0) {
            if (c->in.len == c->in_off) {
                int r = fill(c);
                if (r < 0) return r;
                if (r == 0) return fail(c, ST_EIO, "%s:%s closed the connection in the middle of a chunk", c->url.host, c->url.port);
            }
            size_t take = c->in.len - c->in_off;
            if (take > size) take = (size_t)size;
            rc = sink_put(c, s, c->in.ptr + c->in_off, take);
            if (rc) return rc;
            c->in_off += take;
            size -= take;
        }
        rc = need_line(c, 2, &lf, "a chunk");
        if (rc) return rc;
        c->in_off += lf + 1;
    }
}

/* Read one response. *close_after: the connection cannot be reused. */
static int read_response(httpc *c, const char *method, sink *s, int *close_after)
{
    httpc_resp *resp = s->resp;
    for (;;) {
        /* Head: up to the empty line. */
        size_t scanned = 0, head_end = 0;
        for (;;) {
            const char *b = c->in.ptr ? c->in.ptr + c->in_off : NULL;
            size_t avail = c->in.len - c->in_off;
            const char *q = NULL;
            if (b && avail >= 2) {
                size_t from = scanned > 3 ? scanned - 3 : 0;
                for (const char *x = b + from; (x = memchr(x, '\n', (size_t)(b + avail - x))) != NULL; x++) {
                    if (x + 1 < b + avail && x[1] == '\n') { q = x + 2; break; }
                    if (x + 2 < b + avail && x[1] == '\r' && x[2] == '\n') { q = x + 3; break; }
                }
            }
            if (q) { head_end = (size_t)(q - b); break; }
            scanned = avail;
            if (avail > HTTPC_MAX_HEAD_BYTES)
                return fail(c, ST_EPROTO, "reply from %s:%s: headers larger than %u bytes", c->url.host, c->url.port,
                            HTTPC_MAX_HEAD_BYTES);
            int r = fill(c);
            if (r < 0) return r;
            if (r == 0)
                return fail(c, ST_EIO, "%s:%s closed the connection %s", c->url.host, c->url.port,
                            c->got ? "in the middle of the reply" : "without replying");
        }
        const char *h = c->in.ptr + c->in_off;
        st_buf_clear(&resp->head);
        st_buf_clear(&resp->body);
        if (st_buf_append(&resp->head, h, head_end)) return fail(c, ST_ENOMEM, "out of memory");
        c->in_off += head_end;
        int minor = 0, status = 0;
        if (head_end < 12 || strncmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') || h[8] != ' ' ||
            sscanf(h + 9, "%3d", &status) != 1 || status < 100 || status > 999)
            return fail(c, ST_EPROTO, "reply from %s:%s is not HTTP/1.x: '%.40s'", c->url.host, c->url.port, h);
        minor = h[7] - '0';
        resp->status = status;
        if (status >= 100 && status < 200) continue; /* 100 Continue and friends */

        st_slice v;
        int chunked = httpc_resp_header(resp, "Transfer-Encoding", &v) && v.len >= 7 &&
                      strncasecmp(v.ptr + v.len - 7, "chunked", 7) == 0;
        int has_len = 0;
        uint64_t clen = 0;
        if (!chunked && httpc_resp_header(resp, "Content-Length", &v)) {
            has_len = 1;
            for (size_t i = 0; i < v.len; i++) {
                if (v.ptr[i] < '0' || v.ptr[i] > '9' || clen > UINT64_MAX / 10)
                    return fail(c, ST_EPROTO, "reply: bad Content-Length '%.*s'", (int)(v.len > 40 ? 40 : v.len), v.ptr);
                clen = clen * 10 + (uint64_t)(v.ptr[i] - '0');
            }
        }
        int conn_close_hdr = httpc_resp_header(resp, "Connection", &v) && v.len == 5 && strncasecmp(v.ptr, "close", 5) == 0;
        int keep_hdr = httpc_resp_header(resp, "Connection", &v) && v.len == 10 && strncasecmp(v.ptr, "keep-alive", 10) == 0;
        *close_after = conn_close_hdr || (minor == 0 && !keep_hdr);

        if (strcmp(method, "HEAD") == 0 || status == 204 || status == 304) return 0;
        if (chunked) return read_chunked(c, s);
        if (has_len) {
            while (clen > 0) {
                if (c->in.len == c->in_off) {
                    int r = fill(c);
                    if (r < 0) return r;
                    if (r == 0) return fail(c, ST_EIO, "%s:%s closed the connection in the middle of the reply body", c->url.host, c->url.port);
                }
                size_t take = c->in.len - c->in_off;
                if (take > clen) take = (size_t)clen;
                int rc = sink_put(c, s, c->in.ptr + c->in_off, take);
                if (rc) return rc;
                c->in_off += take;
                clen -= take;
            }
            return 0;
        }
        /* No framing: the body runs to the end of the connection. */
        *close_after = 1;
        for (;;) {
            if (c->in.len > c->in_off) {
                int rc = sink_put(c, s, c->in.ptr + c->in_off, c->in.len - c->in_off);
                if (rc) return rc;
                c->in_off = c->in.len;
            }
            int r = fill(c);
            if (r < 0) return r;
            if (r == 0) return 0;
        }
    }
}

int httpc_request(httpc *c, const char *method, const char *target, const char *extra_headers,
                  const void *body, size_t body_len, httpc_resp *resp, httpc_body_cb on_body, void *ctx)
{
    st_buf head;
    st_buf_init(&head);
    int body_method = body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    int v6 = strchr(c->url.host, ':') != NULL;
    st_buf_printf(&head, "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: strata\r\n", method, c->url.prefix,
                  target, v6 ? "[" : "", c->url.host, v6 ? "]" : "", c->url.port);
    if (c->headers) st_buf_append_str(&head, c->headers);
    if (extra_headers) st_buf_append_str(&head, extra_headers);
    if (body_method) st_buf_printf(&head, "Content-Length: %zu\r\n", body_len);
    if (st_buf_append_str(&head, "\r\n")) { st_buf_fini(&head); return fail(c, ST_ENOMEM, "out of memory"); }

    sink s = { resp, on_body, ctx };
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->fd >= 0 && c->served > 0;
        resp->status = 0;
        c->got = 0;
        c->err[0] = 0;
        if (c->fd < 0 && (rc = conn_open(c)) != 0) break;
        if (c->in.len > c->in_off) {
            /* Bytes nobody asked for: the connection is out of step. */
            conn_close(c);
            if ((rc = conn_open(c)) != 0) break;
            reused = 0;
        }
        rc = send_all(c, head.ptr, head.len, body_len > 0);
        if (rc == 0 && body_len) rc = send_all(c, body, body_len, 0);
        int close_after = 0;
        if (rc == 0 || rc == ST_EIO) {
            /* Even after a failed send the server may have answered (413
             * before the body was read): prefer its reply to our error. */
            int send_rc = rc;
            char saved[sizeof c->err];
            memcpy(saved, c->err, sizeof saved);
            rc = read_response(c, method, &s, &close_after);
            if (rc && send_rc) { memcpy(c->err, saved, sizeof saved); rc = send_rc; }
            else if (send_rc && rc == 0) close_after = 1;
        }
        if (rc == 0) {
            c->served++;
            if (close_after) conn_close(c);
            break;
        }
        size_t got = c->got;
        conn_close(c);
        /* A reused keep-alive connection the server had already closed:
         * nothing of a reply arrived, so send once more on a fresh one. */
        if (!(reused && got == 0 && rc == ST_EIO)) break;
    }
    st_buf_fini(&head);
    return rc;
}

/* ---- encoding helpers ---- */

int httpc_urlencode(st_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int rc;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '_' || ch == '.' || ch == '~')
            rc = st_buf_append_byte(out, (char)ch);
        else {
            char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
            rc = st_buf_append(out, e, 3);
        }
        if (rc) return rc;
    }
    return 0;
}

int httpc_base64(st_buf *out, const void *p, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < len) v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < len) v |= s[i + 2];
        char e[4] = { tbl[(v >> 18) & 63], tbl[(v >> 12) & 63], i + 1 < len ? tbl[(v >> 6) & 63] : '=',
                      i + 2 < len ? tbl[v & 63] : '=' };
        if (st_buf_append(out, e, 4)) return ST_ENOMEM;
    }
    return 0;
}
