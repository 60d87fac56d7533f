/*
 * server/http.h — HTTP/1.1 connections on a libuv loop, parsed by llhttp.
 *
 * One http_conn per TCP connection, owned by its loop thread. Requests are
 * handled one at a time per connection (pipelined requests wait: the parser
 * is paused at the end of each message until its response is written).
 * Bodies stream to the route's handler as they arrive; a handler may answer
 * at once or later (asynchronously: the write path answers when the WAL has
 * the batch; the query path when the worker is done) — always on the loop
 * thread, through srv_loop_post() from other threads.
 *
 * Lifetime: the connection is refcounted; a handler that goes asynchronous
 * holds a ref (http_conn_ref) and drops it after responding. If the client
 * disconnected meanwhile, http_respond is a no-op and the handler's abort
 * hook has already run (a write handler then discards nothing: its batch is
 * already in the WAL; a dropped client mid-body writes nothing).
 */
#ifndef ST_HTTP_H
#define ST_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "common/slice.h"

typedef struct http_conn http_conn;
typedef struct http_req http_req;
typedef struct srv_loop srv_loop;

/* What the handler of a route implements. Every hook runs on the loop thread. */
typedef struct http_handler {
    /* Headers are in: decide whether to accept the body (0) or answer now
     * (call http_respond and return 0: the body is then read and dropped). */
    int (*on_headers)(http_req *req);
    /* A piece of the (de-chunked, still compressed) body. Non-zero: stop
     * reading the body (the handler has answered). */
    int (*on_body)(http_req *req, const char *p, size_t n);
    /* The whole body is in. Answer now, or later via http_respond. */
    void (*on_complete)(http_req *req);
    /* The request ends without completing (client gone, protocol error):
     * free the handler's state. Also runs after a response, to free state. */
    void (*on_free)(http_req *req);
} http_handler;

enum { HTTP_MAX_HEADERS_BYTES = 64 * 1024, HTTP_MAX_URL_BYTES = 64 * 1024 };

struct http_req {
    http_conn *conn;          /* borrowed: the connection */
    srv_loop *loop;           /* borrowed */
    uint8_t method;           /* llhttp_method_t */
    st_buf url;               /* owned: the raw request target */
    st_slice path;            /* into url, percent-decoding NOT applied */
    st_slice query;           /* into url (after '?'), raw */
    /* Headers Strata looks at (owned copies, NUL-terminated; len 0 if absent). */
    st_buf h_content_encoding, h_authorization, h_origin, h_accept, h_content_type, h_request_id;
    int64_t content_length;   /* -1 when absent */
    int responded;            /* http_respond (or http_respond_end) was called */
    int streaming;            /* http_respond_start was called */
    int async;                /* a handler operation holds the request (http_req_go_async) */
    int http_minor;
    const http_handler *handler;
    void *state;              /* the handler's, freed in on_free */
    uint64_t body_bytes;      /* raw body bytes received */
    /* Answering from a worker (http_direct_*, see below). */
    int direct;               /* loop: between http_direct_begin (yes) and http_direct_end */
    int direct_close;         /* loop's snapshot at begin: the response ends the connection */
    int direct_fd;            /* the socket, for the worker's sendmsg */
    int direct_err;           /* worker: 0, ST_EIO (send failed) or ST_ENOMEM (no head) */
    st_buf direct_head;       /* worker: the response head (kept for a rest the kernel did not take) */
    const char *direct_body;  /* worker: the body to send (borrowed from the handler's state) */
    size_t direct_body_len;   /* worker: its bytes to send (0 for HEAD and bodiless statuses) */
    size_t direct_sent;       /* worker: bytes of head + body the kernel took */
};

/* Start serving a newly accepted client (takes the handle over). */
int  http_conn_start(srv_loop *loop, uv_stream_t *server);

void http_conn_ref(http_conn *c);
void http_conn_unref(http_conn *c);
/* 1 when the client is gone (responses are dropped). */
int  http_conn_closed(const http_conn *c);

/*
 * Send the response to req. extra_headers: zero or more complete
 * "Name: value\r\n" lines (may be NULL). Adds Content-Length, Date,
 * X-Influxdb-Version, X-Influxdb-Build, Request-Id, CORS headers when an
 * Origin was sent, and X-Influxdb-Error for errors with a JSON body.
 * Copies everything; may be called once per request.
 */
void http_respond(http_req *req, int status, const char *content_type, const char *body,
                  size_t body_len, const char *extra_headers);
/*
 * Streaming responses, loop thread only. http_respond_start sends the head
 * (Transfer-Encoding: chunked; HTTP/1.0 clients get the body up to the
 * connection's end), instead of http_respond. Each http_respond_chunk
 * copies len bytes into one chunk; written (may be NULL) runs exactly once
 * on the loop thread when the chunk has been handed to the kernel (0), or
 * failed / the client is gone (ST_EIO, ST_ECLOSED; then possibly before
 * http_respond_chunk returns) — producers wait for it to bound what is
 * queued (back-pressure). http_respond_end finishes the request like
 * http_respond: ok = 1 sends the last chunk; ok = 0 closes the connection
 * without it, so the client sees a cut body rather than a whole one.
 */
typedef void (*http_written_fn)(void *arg, int status);
void http_respond_start(http_req *req, int status, const char *content_type, const char *extra_headers);
void http_respond_chunk(http_req *req, const char *data, size_t len, http_written_fn written, void *arg);
void http_respond_end(http_req *req, int ok);
/* JSON {"error":"<msg>"} with status (msg is JSON-escaped). */
void http_respond_error(http_req *req, int status, const char *msg);

/* Query-string helpers: find a parameter, percent-decoded into out
 * (cleared first). 1 found, 0 absent. */
int  http_query_param(st_slice query, const char *name, st_buf *out);
/* Percent-decode (and '+' -> ' ' when form) src, appending to out. */
int  http_url_decode(st_slice src, int form, st_buf *out);
/* Append s JSON-escaped (no quotes) to out. */
int  http_json_escape(st_buf *out, const char *s, size_t n);

/* The handler will answer later (from srv_loop_post on this loop): holds a
 * connection ref until the request finishes. */
void http_req_go_async(http_req *req);

/*
 * Answering from a worker (the query pool): the worker sends the response
 * itself, so the bytes leave without first waking the loop; the loop only
 * finishes the request afterwards.
 *
 *   loop:   http_req_go_async(req); direct = http_direct_begin(req); submit
 *   worker: if (direct) http_direct_respond(req, ...)       (exactly once)
 *   loop:   if (direct) http_direct_end(req); else http_respond(req, ...)
 *
 * Why the worker may write on a socket libuv owns (D1-D3 hold from begin
 * until end; begin checks or establishes them on the loop thread):
 *  D1. libuv holds nothing of the connection's output: no write is in
 *      flight (no queued bytes, no write callback pending), and the
 *      request's message is complete, so the parser is paused (http.c
 *      invariant 1) until the request is finished, which only
 *      http_direct_end does; what is read meanwhile is only kept (http.c
 *      invariant 4).
 *  D2. The loop neither writes to the socket (only the request's own
 *      handler answers, through the worker) nor closes it: conn_close
 *      defers uv_close, which closes the fd, to http_direct_end, so the
 *      worker never writes to a closed or reused descriptor.
 *  D3. The worker reads only request fields the loop leaves alone while the
 *      request is in handling (header copies, method, version, the
 *      direct_* snapshot) and writes only req->direct_*; the pool's mutex
 *      orders begin's writes before the worker, srv_loop_post's mutex the
 *      worker's before end.
 * A rest the kernel did not take (full socket buffer) is sent by end
 * through libuv; a failed send closes the connection; a loop that began
 * stopping meanwhile closes it after the response.
 */
/* Loop thread, after http_req_go_async. 1: the worker answers. */
int  http_direct_begin(http_req *req);
/* Worker thread, once: the same response http_respond would send. */
void http_direct_respond(http_req *req, int status, const char *content_type, const char *body,
                         size_t body_len, const char *extra_headers);
/* Loop thread, once the worker has responded: finishes the request. */
void http_direct_end(http_req *req);
/* The loop is stopping: close idle connections, end keep-alive on busy ones. */
void http_loop_stopping(srv_loop *l);

/* Route table lookup, implemented by server/routes.c. */
const http_handler *srv_route(const http_req *req);

#endif
