/*
 * tools/httpc.h — a small blocking HTTP/1.1 client for the strata CLI.
 *
 * One httpc is one keep-alive connection to one server (plain http only).
 * A request sends the head and an optional body, then reads the response:
 * status line, headers, and a body framed by Content-Length, chunked
 * transfer coding, or the end of the connection. Every connect, send and
 * receive waits at most the configured timeout (poll). The connection is
 * opened lazily and reopened after the server closes it; a request on a
 * reused connection that fails before any response byte arrives (the
 * server dropped an idle keep-alive connection) is sent once more on a
 * fresh one.
 *
 * Not thread-safe: one httpc per thread (the import workers own one each).
 * Owns its socket, its read buffer and the last error message.
 */
#ifndef ST_HTTPC_H
#define ST_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"

/* A parsed "http://host[:port][/prefix]" URL. Open value type. */
typedef struct httpc_url {
    char host[256]; /* without brackets for IPv6 literals */
    char port[8];
    char prefix[256]; /* path prefix without trailing '/', "" for none */
} httpc_url;

/* 0, or ST_EINVAL with a reason in err (https, bad port, missing host...). */
int httpc_url_parse(const char *url, httpc_url *out, char *err, size_t errlen);

typedef struct httpc_opts {
    int connect_timeout_ms; /* 0 = 10 s */
    int io_timeout_ms;      /* each send/receive wait; 0 = 60 s */
    const char *headers;    /* extra header lines, each ending in "\r\n", sent with
                               every request (Authorization...); borrowed, may be NULL */
} httpc_opts;

typedef struct httpc_resp {
    int status;
    st_buf head; /* the raw status line and headers (CRLF separated) */
    st_buf body; /* decoded body (when no body callback was given) */
} httpc_resp;

void httpc_resp_init(httpc_resp *r);
void httpc_resp_fini(httpc_resp *r);
/* Value of a response header (case-insensitive name, first match, trimmed);
 * 1 when present. out borrows from r->head. */
int httpc_resp_header(const httpc_resp *r, const char *name, st_slice *out);

/* The error text of a non-2xx reply, InfluxDB style: the JSON "error" (1.x)
 * or "message" (2.x) string unescaped, else the X-Influxdb-Error header,
 * else the body itself (cut at 1000 bytes). 0 or ST_ENOMEM. */
int httpc_error_text(const httpc_resp *r, st_buf *out);

typedef struct httpc httpc;

/* The url and opts are copied (opts->headers too). 0 or ST_ENOMEM. No I/O. */
int  httpc_create(const httpc_url *url, const httpc_opts *opts, httpc **out);
void httpc_destroy(httpc *c); /* accepts NULL; closes the connection */

/* Body consumer: return 0 to go on, non-zero to abort the request (the
 * connection is then closed and httpc_request returns ST_ECLOSED). */
typedef int (*httpc_body_cb)(void *ctx, const char *p, size_t n);

/*
 * Send METHOD target (target is appended to the URL's prefix; it holds the
 * path and query, already percent-encoded) with extra_headers (lines ending
 * "\r\n", may be NULL) and body (may be NULL with len 0; Content-Length is
 * always sent for POST/PUT). The response is written to resp (reset first);
 * its body goes to on_body when given, else to resp->body.
 * Returns 0 when a whole response arrived (any status), else:
 *   ST_EIO       connection refused/reset/closed, name not resolved
 *   ST_ETIMEOUT  connect, send or receive took longer than the timeout
 *   ST_EPROTO    the reply is not HTTP/1.x we understand
 *   ST_ECLOSED   on_body aborted
 *   ST_ENOMEM
 * httpc_errmsg() then says what happened ("connect 127.0.0.1:8086: Connection refused").
 * Any error closes the connection; the next request reconnects.
 */
int httpc_request(httpc *c, const char *method, const char *target, const char *extra_headers,
                  const void *body, size_t body_len, httpc_resp *resp, httpc_body_cb on_body, void *ctx);

/* The last error's text; "" when none. Valid until the next request. */
const char *httpc_errmsg(const httpc *c);

/* Percent-encode s for a query-string value (RFC 3986 unreserved kept). */
int httpc_urlencode(st_buf *out, const char *s, size_t len);
/* Standard base64 (for Basic auth). */
int httpc_base64(st_buf *out, const void *p, size_t len);

#endif
