/*
 * server/http.c — HTTP/1.1 connections (see http.h). Loop thread only.
 *
 * Invariants:
 *  1. At most one request per connection is in handling; llhttp is paused at
 *     each message end and resumed once that request is finished, so
 *     pipelined requests are answered in order. The resume never nests a
 *     parse in a parse: a request finished from inside llhttp's callbacks
 *     resumes through a post; one finished from a completion (a post, a
 *     write callback) resumes at once, saving the loop a wake-up.
 *  2. A request is finished exactly once: after its response was queued and
 *     its message completed, or when the connection closes while no
 *     asynchronous operation holds it. on_free runs then.
 *  3. An asynchronous handler holds a connection ref from http_req_go_async
 *     until it responds; responses to a closed connection are dropped.
 *  4. While the parser is paused, reading goes on (no epoll change per
 *     request) but bytes only collect in `pending`, up to PENDING_MAX_BYTES
 *     (then reading stops until the resume), and are parsed after the
 *     resume; the client's end or a read error seen meanwhile is kept
 *     (read_eof) and acted on at the resume, after the answers, as the
 *     next read would have. So nothing read while a request is in handling
 *     makes the loop write to or close the connection (http.h D1-D2).
 */
#include "server/http.h"

#include <ctype.h>
#include <errno.h>
#include <llhttp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/num.h"
#include "server/srv.h"
#include "server/version.h"

enum { READ_BUF_BYTES = 64 * 1024, PENDING_MAX_BYTES = 64 * 1024, DISCARD_LIMIT_BYTES = 256u * 1024 * 1024 };

enum hdr_id { H_NONE = -1, H_CONTENT_ENCODING, H_AUTHORIZATION, H_ORIGIN, H_ACCEPT, H_CONTENT_TYPE,
              H_REQUEST_ID, H_X_REQUEST_ID, H_EXPECT, H__COUNT };
static const char *const hdr_names[H__COUNT] = {
    "content-encoding", "authorization", "origin", "accept", "content-type", "request-id",
    "x-request-id", "expect",
};

struct http_conn {
    uv_tcp_t tcp;               /* embedded; the conn is freed after its close cb */
    srv_loop *loop;             /* borrowed */
    llhttp_t parser;
    int refs;                   /* 1 for the socket + 1 per async handler */
    int closing;                /* conn_close called (uv_close too, unless D2 defers it) */
    int writes;                 /* uv_write requests whose callback has not run */
    int in_req;                 /* a request began and is not finished */
    int msg_complete;           /* its message is fully parsed */
    int discard;                /* drop the rest of the body (answered early) */
    int keep_alive;
    int paused;                 /* parser paused at a message end */
    int parsing;                /* inside llhttp_execute (its callbacks may finish a request) */
    int resume_posted;          /* a resume_cb is due (posted, or about to run inline) */
    int read_eof;               /* the client's end (or a read error) came while paused */
    int expect_continue;
    uint64_t discarded;
    uint64_t header_bytes;
    http_req req;
    st_buf hfield;              /* current header name */
    int cur_hdr;                /* enum hdr_id being accumulated */
    st_buf pending;             /* owned: unparsed bytes held while paused */
    struct http_conn *prev, *next; /* the loop's list of connections */
    char rbuf[READ_BUF_BYTES];
};

static llhttp_settings_t g_settings;
static pthread_once_t g_settings_once = PTHREAD_ONCE_INIT;

static void conn_close(http_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void conn_process(http_conn *c, const char *p, size_t n);
static void req_finish(http_conn *c);

/* ---- small helpers ---- */

int http_json_escape(st_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = st_buf_reserve(out, n + 8);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (ch) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
                u[4] = hex[ch >> 4]; u[5] = hex[ch & 15]; u[6] = 0;
                esc = u;
            }
        }
        if (esc) rc = st_buf_append_str(out, esc);
        else rc = st_buf_append_byte(out, (char)ch);
        if (rc) return rc;
    }
    return 0;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

int http_url_decode(st_slice src, int form, st_buf *out)
{
    for (size_t i = 0; i < src.len; i++) {
        char ch = src.ptr[i];
        if (ch == '%' && i + 2 < src.len + 0 && hexval(src.ptr[i + 1]) >= 0 && hexval(src.ptr[i + 2]) >= 0) {
            ch = (char)(hexval(src.ptr[i + 1]) * 16 + hexval(src.ptr[i + 2]));
            i += 2;
        } else if (ch == '+' && form) {
            ch = ' ';
        }
        int rc = st_buf_append_byte(out, ch);
        if (rc) return rc;
    }
    if (!out->ptr) return st_buf_reserve(out, 0);
    return 0;
}

int http_query_param(st_slice q, const char *name, st_buf *out)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i <= q.len) {
        size_t j = i;
        while (j < q.len && q.ptr[j] != '&') j++;
        st_slice kv = { q.ptr + i, j - i };
        size_t eq = 0;
        while (eq < kv.len && kv.ptr[eq] != '=') eq++;
        st_slice k = { kv.ptr, eq };
        /* Keys are matched decoded (a client may encode them). */
        st_buf kd;
        st_buf_init(&kd);
        int match = 0;
        if (http_url_decode(k, 1, &kd) == 0) match = kd.len == nlen && memcmp(kd.ptr, name, nlen) == 0;
        st_buf_fini(&kd);
        if (match) {
            st_buf_clear(out);
            st_slice v = eq < kv.len ? (st_slice){ kv.ptr + eq + 1, kv.len - eq - 1 } : (st_slice){ "", 0 };
            http_url_decode(v, 1, out);
            return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* ---- lifetime ---- */

void http_conn_ref(http_conn *c) { c->refs++; }

static void conn_free(http_conn *c)
{
    srv_loop *l = c->loop;
    srv *s = l->server;
    st_buf_fini(&c->hfield);
    st_buf_fini(&c->pending);
    st_buf_fini(&c->req.url);
    st_buf_fini(&c->req.direct_head);
    st_buf *hs[] = { &c->req.h_content_encoding, &c->req.h_authorization, &c->req.h_origin,
                     &c->req.h_accept, &c->req.h_content_type, &c->req.h_request_id };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) st_buf_fini(hs[i]);
    if (c->prev) c->prev->next = c->next; else l->conn_list = c->next;
    if (c->next) c->next->prev = c->prev;
    st_free(c);
    l->conns--;
    atomic_fetch_sub_explicit(&s->counters.connections_open, 1, memory_order_relaxed);
    srv_loop_maybe_done(l);
}

void http_conn_unref(http_conn *c)
{
    if (--c->refs == 0) conn_free(c);
}

int http_conn_closed(const http_conn *c) { return c->closing; }

static void on_close(uv_handle_t *h)
{
    http_conn *c = h->data;
    http_conn_unref(c);
}

static void conn_close(http_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    /* A request no async operation holds is finished now; an async one is
     * finished by its completion (http_respond on a closed connection). */
    if (c->in_req && !c->req.async) req_finish(c);
    if (c->req.direct) return; /* D2: a worker may be sending; http_direct_end closes the handle */
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

void http_req_go_async(http_req *req) { http_conn_ref(req->conn); req->async = 1; }

/* ---- responses ---- */

typedef struct write_req {
    uv_write_t w;
    http_conn *c;
    int close_after;
    http_written_fn written; /* may be NULL; runs once the write is done */
    void *written_arg;
    size_t len;
    char data[];
} write_req;

static void on_write(uv_write_t *w, int status)
{
    write_req *wr = (write_req *)w;
    http_conn *c = wr->c;
    c->writes--;
    if (status < 0 || wr->close_after) conn_close(c);
    else if (c->read_eof && !c->writes && !c->in_req && !c->paused) conn_close(c); /* invariant 4 */
    if (wr->written) wr->written(wr->written_arg, status < 0 ? ST_EIO : 0);
    st_free(wr);
    http_conn_unref(c);
}

/* Queue a then b (either may be empty) as one write. written (may be NULL)
 * runs exactly once: from on_write, or before this returns when the bytes
 * cannot be queued (status ST_ECLOSED). */
static void conn_send2(http_conn *c, const char *a, size_t na, const char *b, size_t nb, int close_after,
                       http_written_fn written, void *warg)
{
    if (c->closing) { if (written) written(warg, ST_ECLOSED); return; }
    write_req *wr = st_malloc(sizeof *wr + na + nb);
    if (!wr) { conn_close(c); if (written) written(warg, ST_ECLOSED); return; }
    if (na) memcpy(wr->data, a, na);
    if (nb) memcpy(wr->data + na, b, nb);
    wr->len = na + nb;
    wr->c = c;
    wr->close_after = close_after;
    wr->written = written;
    wr->written_arg = warg;
    http_conn_ref(c);
    uv_buf_t buf = uv_buf_init(wr->data, (unsigned)wr->len);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
        st_free(wr);
        http_conn_unref(c);
        conn_close(c);
        if (written) written(warg, ST_ECLOSED);
        return;
    }
    c->writes++;
}

static void conn_send_cb(http_conn *c, const char *p, size_t n, int close_after, http_written_fn written,
                         void *warg)
{
    conn_send2(c, p, n, NULL, 0, close_after, written, warg);
}

static void conn_send(http_conn *c, const char *p, size_t n, int close_after)
{
    conn_send2(c, p, n, NULL, 0, close_after, NULL, NULL);
}

static const char *status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default:  return "Unknown";
    }
}

/* "Tue, 15 Nov 1994 08:12:31 GMT" for now, formatted once a second per
 * thread (loops and query workers build heads). */
static const char *http_date(void)
{
    static _Thread_local time_t last = -1;
    static _Thread_local char text[64];
    time_t t = time(NULL);
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = t;
    }
    return text;
}

#define APPEND_LIT(b, lit) st_buf_append((b), (lit), sizeof(lit) - 1)

/* Status line and the common headers (not Content-Length, not the blank
 * line), without printf: heads are built per response. full_cors: the
 * preflight lines too (whole responses send them, streamed ones do not).
 * Reads only what stays put while the request is in handling (D3): any
 * thread. 0 or ST_ENOMEM. */
static int head_common(const http_req *req, st_buf *out, int status, const char *content_type, int close_after,
                       const char *extra_headers, int full_cors)
{
    char num[24];
    int rc = st_buf_reserve(out, 256);
    rc |= APPEND_LIT(out, "HTTP/1.1 ");
    rc |= st_buf_append(out, num, st_format_uint64((uint64_t)(status < 0 ? 0 : status), num));
    rc |= st_buf_append_byte(out, ' ');
    rc |= st_buf_append_str(out, status_text(status));
    rc |= APPEND_LIT(out, "\r\n");
    if (content_type) {
        rc |= APPEND_LIT(out, "Content-Type: ");
        rc |= st_buf_append_str(out, content_type);
        rc |= APPEND_LIT(out, "\r\n");
    }
    rc |= APPEND_LIT(out, "Date: ");
    rc |= st_buf_append_str(out, http_date());
    rc |= APPEND_LIT(out, "\r\nX-Influxdb-Build: OSS\r\nX-Influxdb-Version: " ST_VERSION "\r\n");
    if (req->h_request_id.len) {
        rc |= APPEND_LIT(out, "Request-Id: ");
        rc |= st_buf_append(out, req->h_request_id.ptr, req->h_request_id.len);
        rc |= APPEND_LIT(out, "\r\nX-Request-Id: ");
        rc |= st_buf_append(out, req->h_request_id.ptr, req->h_request_id.len);
        rc |= APPEND_LIT(out, "\r\n");
    }
    if (req->h_origin.len) {
        rc |= APPEND_LIT(out, "Access-Control-Allow-Origin: ");
        rc |= st_buf_append(out, req->h_origin.ptr, req->h_origin.len);
        rc |= APPEND_LIT(out, "\r\n");
        if (full_cors)
            rc |= APPEND_LIT(out, "Access-Control-Allow-Methods: DELETE, GET, OPTIONS, POST, PUT, PATCH\r\n"
                                  "Access-Control-Allow-Headers: Accept, Accept-Encoding, Authorization, "
                                  "Content-Length, Content-Type, User-Agent, X-CSRF-Token, X-HTTP-Method-Override\r\n");
        rc |= APPEND_LIT(out, "Access-Control-Expose-Headers: Date, X-InfluxDB-Version, X-InfluxDB-Build\r\n");
    }
    if (extra_headers) rc |= st_buf_append_str(out, extra_headers);
    if (close_after) rc |= APPEND_LIT(out, "Connection: close\r\n");
    return rc ? ST_ENOMEM : 0;
}

void http_respond_start(http_req *req, int status, const char *content_type, const char *extra_headers)
{
    http_conn *c = req->conn;
    if (req->responded || req->streaming) return;
    req->streaming = 1;
    if (c->closing) return;
    st_buf out;
    st_buf_init(&out);
    int close_after = !c->keep_alive || c->loop->stopping || req->http_minor == 0;
    head_common(req, &out, status, content_type, close_after, extra_headers, 0);
    if (req->http_minor > 0) st_buf_append_str(&out, "Transfer-Encoding: chunked\r\n");
    st_buf_append_str(&out, "\r\n");
    if (close_after) c->keep_alive = 0;
    if (out.ptr) conn_send(c, out.ptr, out.len, 0);
    else conn_close(c);
    st_buf_fini(&out);
}

void http_respond_chunk(http_req *req, const char *data, size_t len, http_written_fn written, void *arg)
{
    http_conn *c = req->conn;
    if (!req->streaming || req->responded || c->closing || len == 0 || req->method == HTTP_HEAD) {
        if (written) written(arg, c->closing ? ST_ECLOSED : 0);
        return;
    }
    if (req->http_minor == 0) { conn_send_cb(c, data, len, 0, written, arg); return; }
    st_buf out;
    st_buf_init(&out);
    st_buf_printf(&out, "%zx\r\n", len);
    st_buf_append(&out, data, len);
    st_buf_append_str(&out, "\r\n");
    if (out.ptr) conn_send_cb(c, out.ptr, out.len, 0, written, arg);
    else { conn_close(c); if (written) written(arg, ST_ECLOSED); }
    st_buf_fini(&out);
}

void http_respond_end(http_req *req, int ok)
{
    http_conn *c = req->conn;
    if (!req->streaming || req->responded) return;
    req->responded = 1;
    if (!c->closing) {
        if (ok && req->http_minor > 0) conn_send(c, "0\r\n\r\n", 5, !c->keep_alive);
        else conn_close(c); /* HTTP/1.0 ends the body with the connection; a failed stream must not look whole */
    }
    if (c->msg_complete || c->closing) req_finish(c);
    else if (!c->discard) c->discard = 1;
}

/* The head http_respond sends (status line, headers, blank line): any
 * thread (see head_common). */
static int respond_head(const http_req *req, st_buf *out, int status, const char *content_type, size_t body_len,
                        const char *extra_headers, int close_after)
{
    int rc = head_common(req, out, status, body_len ? content_type : NULL, close_after, extra_headers, 1);
    if (status != 204 && status != 304 && !(status >= 100 && status < 200)) {
        char num[24];
        rc |= APPEND_LIT(out, "Content-Length: ");
        rc |= st_buf_append(out, num, st_format_uint64(body_len, num));
        rc |= APPEND_LIT(out, "\r\n");
    }
    rc |= APPEND_LIT(out, "\r\n");
    return rc ? ST_ENOMEM : 0;
}

/* Body bytes that follow the head (none for HEAD and bodiless statuses). */
static size_t respond_body_len(const http_req *req, int status, size_t body_len)
{
    return req->method != HTTP_HEAD && status != 204 ? body_len : 0;
}

void http_respond(http_req *req, int status, const char *content_type, const char *body,
                  size_t body_len, const char *extra_headers)
{
    http_conn *c = req->conn;
    if (req->responded || req->streaming) return;
    req->responded = 1;
    if (!c->closing) {
        st_buf out;
        st_buf_init(&out);
        int close_after = !c->keep_alive || c->loop->stopping || (!c->msg_complete && c->discard == 2);
        if (respond_head(req, &out, status, content_type, body_len, extra_headers, close_after) == 0)
            conn_send2(c, out.ptr, out.len, body, respond_body_len(req, status, body_len), close_after, NULL, NULL);
        else
            conn_close(c);
        st_buf_fini(&out);
        if (close_after) c->keep_alive = 0;
    }
    if (c->msg_complete || c->closing) req_finish(c);
    else if (!c->discard) c->discard = 1; /* answered early: drop the rest of the body */
}

/* ---- answering from a worker (http.h: D1-D3) ---- */

int http_direct_begin(http_req *req)
{
    http_conn *c = req->conn;
    uv_os_fd_t fd;
    if (!req->async || req->responded || req->streaming || c->closing || !c->msg_complete || c->writes ||
        c->loop->stopping || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return 0;
    req->direct = 1;
    req->direct_close = !c->keep_alive;
    req->direct_fd = fd;
    req->direct_err = 0;
    req->direct_body = NULL;
    req->direct_body_len = req->direct_sent = 0;
    st_buf_clear(&req->direct_head);
    return 1;
}

void http_direct_respond(http_req *req, int status, const char *content_type, const char *body,
                         size_t body_len, const char *extra_headers)
{
    st_buf *h = &req->direct_head;
    if (respond_head(req, h, status, content_type, body_len, extra_headers, req->direct_close) != 0) {
        req->direct_err = ST_ENOMEM;
        return;
    }
    req->direct_body = body;
    req->direct_body_len = respond_body_len(req, status, body_len);
    size_t total = h->len + req->direct_body_len, sent = 0;
    while (sent < total) {
        struct iovec iov[2];
        int n = 0;
        if (sent < h->len) iov[n++] = (struct iovec){ h->ptr + sent, h->len - sent };
        size_t boff = sent > h->len ? sent - h->len : 0;
        if (req->direct_body_len > boff)
            iov[n++] = (struct iovec){ (char *)body + boff, req->direct_body_len - boff };
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(req->direct_fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) req->direct_err = ST_EIO;
            break; /* a full buffer: http_direct_end queues the rest */
        }
        sent += (size_t)w;
    }
    req->direct_sent = sent;
}

void http_direct_end(http_req *req)
{
    http_conn *c = req->conn;
    if (!req->direct || req->responded) return;
    req->direct = 0;
    req->responded = 1;
    if (c->closing) {
        uv_close((uv_handle_t *)&c->tcp, on_close); /* deferred by conn_close (D2) */
    } else {
        int close_after = req->direct_close || !c->keep_alive || c->loop->stopping;
        const st_buf *h = &req->direct_head;
        size_t sent = req->direct_sent;
        if (req->direct_err) {
            conn_close(c);
        } else if (sent < h->len + req->direct_body_len) {
            size_t hs = sent < h->len ? sent : h->len;
            size_t bs = sent - hs;
            conn_send2(c, h->ptr + hs, h->len - hs, req->direct_body + bs, req->direct_body_len - bs, close_after,
                       NULL, NULL);
        } else if (close_after) {
            conn_close(c);
        }
        if (close_after) c->keep_alive = 0;
    }
    if (c->msg_complete || c->closing) req_finish(c);
}

void http_respond_error(http_req *req, int status, const char *msg)
{
    st_buf body, hdr;
    st_buf_init(&body);
    st_buf_init(&hdr);
    st_buf_append_str(&body, "{\"error\":\"");
    http_json_escape(&body, msg, strlen(msg));
    st_buf_append_str(&body, "\"}\n");
    /* X-Influxdb-Error: the first 1024 bytes, on one line. */
    st_buf_append_str(&hdr, "X-Influxdb-Error: ");
    size_t n = strlen(msg);
    if (n > 1024) n = 1024;
    for (size_t i = 0; i < n; i++) {
        char ch = msg[i];
        st_buf_append_byte(&hdr, (ch == '\r' || ch == '\n') ? ' ' : ch);
    }
    st_buf_append_str(&hdr, "\r\n");
    if (body.ptr && hdr.ptr) http_respond(req, status, "application/json", body.ptr, body.len, hdr.ptr);
    else http_respond(req, 503, NULL, NULL, 0, NULL);
    st_buf_fini(&body);
    st_buf_fini(&hdr);
}

/* ---- request lifecycle ---- */

static void req_reset(http_req *r)
{
    st_buf_clear(&r->url);
    st_buf_clear(&r->h_content_encoding);
    st_buf_clear(&r->h_authorization);
    st_buf_clear(&r->h_origin);
    st_buf_clear(&r->h_accept);
    st_buf_clear(&r->h_content_type);
    st_buf_clear(&r->h_request_id);
    r->path = r->query = (st_slice){ "", 0 };
    r->content_length = -1;
    r->responded = 0;
    r->streaming = 0;
    r->async = 0;
    r->handler = NULL;
    r->state = NULL;
    r->body_bytes = 0;
}

static void resume_cb(void *arg)
{
    http_conn *c = arg;
    c->resume_posted = 0;
    if (!c->closing && c->paused && !c->in_req) {
        c->paused = 0;
        llhttp_resume(&c->parser);
        st_buf held = c->pending;
        st_buf_init(&c->pending);
        if (held.len) conn_process(c, held.ptr, held.len);
        st_buf_fini(&held);
        if (!c->closing && !c->paused) {
            /* what the next read would have found; once the answers are written */
            if (c->read_eof) { if (!c->writes) conn_close(c); }
            else uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        }
    }
    http_conn_unref(c);
}

/* The request is over (answered and fully read, or abandoned). */
static void req_finish(http_conn *c)
{
    if (!c->in_req) return;
    http_req *r = &c->req;
    int was_async = r->async, resume_now = 0;
    if (r->handler && r->handler->on_free) r->handler->on_free(r);
    r->state = NULL;
    c->in_req = 0;
    c->msg_complete = 0;
    c->discard = 0;
    c->discarded = 0;
    if (!c->closing) {
        if (!c->keep_alive || c->loop->stopping) {
            /* conn_send closes after the last write; nothing more to read. */
            uv_read_stop((uv_stream_t *)&c->tcp);
        } else if (c->paused && !c->resume_posted) {
            c->resume_posted = 1;
            http_conn_ref(c);
            if (!c->parsing) resume_now = 1; /* a completion callback: no parser frame below us */
            else if (srv_loop_post(c->loop, resume_cb, c) != 0) { c->resume_posted = 0; http_conn_unref(c); conn_close(c); }
        }
    }
    if (was_async) { r->async = 0; http_conn_unref(c); }
    if (resume_now) resume_cb(c);
}

/* ---- llhttp callbacks ---- */

static int cb_message_begin(llhttp_t *p)
{
    http_conn *c = p->data;
    req_reset(&c->req);
    c->in_req = 1;
    c->msg_complete = 0;
    c->discard = 0;
    c->header_bytes = 0;
    c->cur_hdr = H_NONE;
    c->expect_continue = 0;
    st_buf_clear(&c->hfield);
    atomic_fetch_add_explicit(&c->loop->server->counters.http_requests, 1, memory_order_relaxed);
    return 0;
}

static int cb_url(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    if (c->req.url.len + n > HTTP_MAX_URL_BYTES) {
        llhttp_set_error_reason(p, "request URL too long");
        return HPE_USER;
    }
    return st_buf_append(&c->req.url, at, n) ? HPE_USER : 0;
}

static int cb_header_field(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    c->header_bytes += n;
    if (c->header_bytes > HTTP_MAX_HEADERS_BYTES) { llhttp_set_error_reason(p, "headers too large"); return HPE_USER; }
    return st_buf_append(&c->hfield, at, n) ? HPE_USER : 0;
}

static int cb_header_field_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    c->cur_hdr = H_NONE;
    for (int i = 0; i < H__COUNT; i++) {
        if (c->hfield.len == strlen(hdr_names[i]) && strncasecmp(c->hfield.ptr, hdr_names[i], c->hfield.len) == 0) {
            c->cur_hdr = i;
            break;
        }
    }
    st_buf_clear(&c->hfield);
    return 0;
}

static st_buf *hdr_buf(http_conn *c, int id)
{
    switch (id) {
    case H_CONTENT_ENCODING: return &c->req.h_content_encoding;
    case H_AUTHORIZATION: return &c->req.h_authorization;
    case H_ORIGIN: return &c->req.h_origin;
    case H_ACCEPT: return &c->req.h_accept;
    case H_CONTENT_TYPE: return &c->req.h_content_type;
    case H_REQUEST_ID: case H_X_REQUEST_ID: return &c->req.h_request_id;
    default: return NULL;
    }
}

static int cb_header_value(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    c->header_bytes += n;
    if (c->header_bytes > HTTP_MAX_HEADERS_BYTES) { llhttp_set_error_reason(p, "headers too large"); return HPE_USER; }
    if (c->cur_hdr == H_EXPECT) {
        if (n >= 12 && strncasecmp(at, "100-continue", 12) == 0) c->expect_continue = 1;
        return 0;
    }
    st_buf *b = hdr_buf(c, c->cur_hdr);
    if (!b) return 0;
    if (c->cur_hdr == H_X_REQUEST_ID && c->req.h_request_id.len) return 0;
    return st_buf_append(b, at, n) ? HPE_USER : 0;
}

static int cb_headers_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    http_req *r = &c->req;
    r->method = (uint8_t)llhttp_get_method(p);
    r->http_minor = llhttp_get_http_minor(p);
    c->keep_alive = llhttp_should_keep_alive(p);
    if (p->flags & F_CONTENT_LENGTH) r->content_length = (int64_t)p->content_length;
    if (!r->url.ptr) st_buf_reserve(&r->url, 0);
    const char *u = r->url.ptr ? r->url.ptr : "";
    size_t ulen = r->url.len;
    const char *qm = memchr(u, '?', ulen);
    r->path = (st_slice){ u, qm ? (size_t)(qm - u) : ulen };
    r->query = qm ? (st_slice){ qm + 1, ulen - (size_t)(qm - u) - 1 } : (st_slice){ "", 0 };
    r->handler = srv_route(r);
    if (r->handler && r->handler->on_headers) r->handler->on_headers(r);
    if (!r->responded && c->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_send(c, cont, sizeof cont - 1, 0);
    }
    return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    http_req *r = &c->req;
    r->body_bytes += n;
    atomic_fetch_add_explicit(&c->loop->server->counters.bytes_received, n, memory_order_relaxed);
    if (c->discard || r->responded) {
        c->discarded += n;
        if (c->discarded > DISCARD_LIMIT_BYTES) { c->keep_alive = 0; return HPE_USER; }
        return 0;
    }
    if (r->handler && r->handler->on_body && r->handler->on_body(r, at, n) != 0 && !r->responded)
        c->discard = 1;
    return 0;
}

static int cb_message_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    http_req *r = &c->req;
    c->msg_complete = 1;
    if (!r->responded) {
        if (r->handler && r->handler->on_complete) r->handler->on_complete(r);
        else http_respond_error(r, 404, "not found");
    } else {
        req_finish(c);
    }
    /* Stop here: the next pipelined request waits for this one. */
    if (c->in_req || c->resume_posted || !c->keep_alive) {
        c->paused = 1;
        return HPE_PAUSED;
    }
    return 0;
}

static void settings_init(void) /* once: every loop thread's connections share them */
{
    llhttp_settings_init(&g_settings);
    g_settings.on_message_begin = cb_message_begin;
    g_settings.on_url = cb_url;
    g_settings.on_header_field = cb_header_field;
    g_settings.on_header_field_complete = cb_header_field_complete;
    g_settings.on_header_value = cb_header_value;
    g_settings.on_headers_complete = cb_headers_complete;
    g_settings.on_body = cb_body;
    g_settings.on_message_complete = cb_message_complete;
}

/* ---- reading ---- */

static void conn_process(http_conn *c, const char *buf, size_t n)
{
    if (c->closing) return;
    if (c->paused) {
        st_buf_append(&c->pending, buf, n);
        if (c->pending.len >= PENDING_MAX_BYTES) uv_read_stop((uv_stream_t *)&c->tcp);
        return;
    }
    c->parsing++;
    llhttp_errno_t err = llhttp_execute(&c->parser, buf, n);
    c->parsing--;
    if (err == HPE_OK) return;
    if (err == HPE_PAUSED) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        size_t used = pos ? (size_t)(pos - buf) : n;
        if (used < n) st_buf_append(&c->pending, buf + used, n - used);
        c->paused = 1;
        /* Reading goes on into `pending` (invariant 4) unless a flood
         * fills it or the connection ends after this request. */
        if (c->pending.len >= PENDING_MAX_BYTES || !c->keep_alive) uv_read_stop((uv_stream_t *)&c->tcp);
        if (!c->in_req && !c->resume_posted && c->keep_alive && !c->loop->stopping) {
            c->resume_posted = 1;
            http_conn_ref(c);
            srv_loop_post(c->loop, resume_cb, c);
        }
        return;
    }
    /* Protocol error: answer 400 when we can, then close. */
    const char *reason = llhttp_get_error_reason(&c->parser);
    char msg[256];
    snprintf(msg, sizeof msg, "bad request: %s", reason ? reason : llhttp_errno_name(err));
    c->keep_alive = 0;
    if (!c->in_req) {
        cb_message_begin(&c->parser);
    }
    if (!c->req.responded) {
        c->msg_complete = 1;
        http_respond_error(&c->req, 400, msg);
    } else {
        conn_close(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    http_conn *c = h->data;
    *b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    http_conn *c = s->data;
    if (nread < 0) {
        if (c->paused) {
            /* Requests are being answered (invariant 4): their answers and
             * the pipelined ones in `pending` go first; resume_cb closes. */
            c->read_eof = 1;
            uv_read_stop((uv_stream_t *)&c->tcp);
            return;
        }
        /* Client gone (or EOF). A request mid-body is abandoned: nothing written. */
        conn_close(c);
        return;
    }
    if (nread == 0) return;
    http_conn_ref(c);
    conn_process(c, b->base, (size_t)nread);
    http_conn_unref(c);
}

void http_loop_stopping(srv_loop *l)
{
    http_conn *c = l->conn_list;
    while (c) {
        http_conn *next = c->next;
        if (!c->in_req) conn_close(c);
        else c->keep_alive = 0;
        c = next;
    }
}

int http_conn_start(srv_loop *l, uv_stream_t *server)
{
    pthread_once(&g_settings_once, settings_init);
    srv *s = l->server;
    http_conn *c = st_calloc(1, sizeof *c);
    if (!c) return ST_ENOMEM;
    uv_tcp_init(&l->uv, &c->tcp);
    c->tcp.data = c;
    c->loop = l;
    c->refs = 1;
    l->conns++;
    atomic_fetch_add_explicit(&s->counters.connections_open, 1, memory_order_relaxed);
    c->next = l->conn_list;
    if (c->next) c->next->prev = c;
    l->conn_list = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return ST_EIO;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &g_settings);
    c->parser.data = c;
    c->req.conn = c;
    c->req.loop = l;
    c->cur_hdr = H_NONE;
    uint64_t open = atomic_load_explicit(&s->counters.connections_open, memory_order_relaxed);
    if (s->opts.max_connections && open > s->opts.max_connections) {
        atomic_fetch_add_explicit(&s->counters.connections_refused, 1, memory_order_relaxed);
        static const char body[] = "{\"error\":\"too many connections (max-connections)\"}";
        char busy[256];
        int n = snprintf(busy, sizeof busy,
                         "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         "Connection: close\r\nContent-Length: %zu\r\n\r\n%s", sizeof body - 1, body);
        conn_send(c, busy, (size_t)n, 1);
        return 0;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    return 0;
}
