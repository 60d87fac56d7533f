/*
 * server/h_query.c — GET|POST /query (InfluxQL).
 *
 * Parameters come from the URL query and, for POST with Content-Type
 * application/x-www-form-urlencoded, from the body (body values take
 * precedence, as Go's Request.FormValue gives them): q, db, rp, epoch,
 * pretty, chunked, chunk_size, u/p. Accept: application/csv or text/csv
 * answers CSV. The query runs on the server's query pool (never on the
 * loop): on_complete copies the parameters into the handler state, goes
 * asynchronous, asks http_direct_begin whether the worker may answer the
 * socket itself, and submits the job embedded in the state. The worker
 * runs the query and, when begin said yes, sends the response itself
 * (http_direct_respond: the bytes leave without waking the loop first);
 * otherwise it touches only the state. done runs on the loop thread: it
 * finishes the request (http_direct_end) or responds (a no-op when the
 * client has gone). Both paths send the same bytes (q_answer). The state
 * is freed in on_free, which the request runs only after done, so the
 * worker can never see freed memory.
 *
 * Loop thread, except q_work (a query worker).
 */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"
#include "query/query.h"
#include "server/handlers.h"

typedef struct qstate {
    http_req *req;          /* borrowed */
    srv *s;                 /* borrowed */
    int form;               /* POST body is a urlencoded form */
    st_buf body;            /* the form body */
    st_buf q, db, rp, params; /* decoded parameters */
    qry_request qr;         /* slices into q, db, rp, params */
    st_buf out;             /* the response body, written by the worker */
    int status;
    int direct;             /* the worker sends the response (http_direct_begin said yes) */
    srv_job job;            /* the query pool's while the query runs */
} qstate;

static void q_free(http_req *r)
{
    qstate *st = r->state;
    if (!st) return;
    st_buf_fini(&st->body);
    st_buf_fini(&st->q);
    st_buf_fini(&st->db);
    st_buf_fini(&st->rp);
    st_buf_fini(&st->params);
    st_buf_fini(&st->out);
    st_free(st);
    r->state = NULL;
}

static int q_headers(http_req *r)
{
    srv *s = req_srv(r);
    atomic_fetch_add_explicit(&s->counters.query_requests, 1, memory_order_relaxed);
    if (r->method != HTTP_GET && r->method != HTTP_POST && r->method != HTTP_HEAD) {
        http_respond_error(r, 405, "method not allowed: use GET or POST");
        return 0;
    }
    qstate *st = st_calloc(1, sizeof *st);
    if (!st) { http_respond_error(r, 503, "out of memory"); return 0; }
    st->req = r;
    st->s = s;
    st_buf_init(&st->body);
    st_buf_init(&st->q);
    st_buf_init(&st->db);
    st_buf_init(&st->rp);
    st_buf_init(&st->params);
    st_buf_init(&st->out);
    r->state = st;
    if (r->method == HTTP_POST && r->h_content_type.len &&
        strncasecmp(r->h_content_type.ptr, "application/x-www-form-urlencoded", 33) == 0) {
        st->form = 1;
        if (s->opts.max_body_bytes && r->content_length > 0 && (uint64_t)r->content_length > s->opts.max_body_bytes) {
            http_respond_error(r, 413, "Request Entity Too Large");
            return 0;
        }
    }
    return 0;
}

static int q_body(http_req *r, const char *p, size_t n)
{
    qstate *st = r->state;
    if (!st || !st->form) return 0; /* other bodies are ignored, as InfluxDB does */
    if (st->s->opts.max_body_bytes && st->body.len + n > st->s->opts.max_body_bytes) {
        http_respond_error(r, 413, "Request Entity Too Large");
        return -1;
    }
    if (st_buf_append(&st->body, p, n) != 0) {
        http_respond_error(r, 503, "out of memory");
        return -1;
    }
    return 0;
}

/* Body value first, then the URL's. 1 found. */
static int param(qstate *st, const char *name, st_buf *out)
{
    if (st->form && st->body.len && http_query_param((st_slice){ st->body.ptr, st->body.len }, name, out)) return 1;
    return http_query_param(st->req->query, name, out);
}

static int truthy(const st_buf *b) { return b->len && (strcasecmp(b->ptr, "true") == 0 || strcmp(b->ptr, "1") == 0); }

typedef void (*respond_fn)(http_req *r, int status, const char *content_type, const char *body, size_t body_len,
                           const char *extra_headers);

/* The answer, through respond: the loop's http_respond or the worker's
 * http_direct_respond (the same bytes either way). */
static void q_answer(qstate *st, respond_fn respond)
{
    http_req *r = st->req;
    const char *ctype = st->qr.csv ? "text/csv" : "application/json";
    const char *body = st->out.ptr ? st->out.ptr : "";
    if (st->status == 200) {
        respond(r, 200, ctype, body, st->out.len, NULL);
        return;
    }
    /* errors carry X-Influxdb-Error: the message on one line */
    st_buf hdr;
    st_buf_init(&hdr);
    st_buf_append_str(&hdr, "X-Influxdb-Error: ");
    const char *b = body;
    size_t n = st->out.len;
    const char *pre = "{\"error\":\"";
    if (n > strlen(pre) && strncmp(b, pre, strlen(pre)) == 0) { b += strlen(pre); n -= strlen(pre); }
    if (n && b[n - 1] == '\n') n--;
    if (n && b[n - 1] == '}') n--;
    if (n && b[n - 1] == '"') n--;
    if (n > 1024) n = 1024;
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        if (ch == '\\' && i + 1 < n) { ch = b[++i]; if (ch == 'n' || ch == 'r' || ch == 't') ch = ' '; }
        st_buf_append_byte(&hdr, (ch == '\r' || ch == '\n') ? ' ' : ch);
    }
    st_buf_append_str(&hdr, "\r\n");
    respond(r, st->status, ctype, body, st->out.len, hdr.ptr);
    st_buf_fini(&hdr);
}

static void q_work(void *arg)
{
    qstate *st = arg;
    qry_execute(st->s->storage, &st->qr, &st->out, &st->status);
    if (st->direct) q_answer(st, http_direct_respond);
}

static void q_done(void *arg)
{
    qstate *st = arg;
    if (st->direct) http_direct_end(st->req);
    else q_answer(st, http_respond);
}

static void q_complete(http_req *r)
{
    qstate *st = r->state;
    if (!st) { http_respond_error(r, 503, "out of memory"); return; }
    srv *s = st->s;
    param(st, "db", &st->db);
    if (srv_auth_request(r, "query", (st_slice){ st->db.ptr, st->db.len })) return;
    st_buf v;
    st_buf_init(&v);
    qry_request *qr = &st->qr;
    qry_request_init(qr);
    param(st, "q", &st->q);
    param(st, "rp", &st->rp);
    qr->q = (st_slice){ st->q.ptr, st->q.len };
    qr->db = (st_slice){ st->db.ptr, st->db.len };
    qr->rp = (st_slice){ st->rp.ptr, st->rp.len };
    if (param(st, "params", &st->params)) qr->params = (st_slice){ st->params.ptr, st->params.len };
    if (param(st, "epoch", &v) && v.len && qry_epoch_parse((st_slice){ v.ptr, v.len }, &qr->epoch) != 0)
        qr->epoch = QRY_EPOCH_RFC3339;
    if (param(st, "pretty", &v)) qr->pretty = truthy(&v);
    if (param(st, "chunked", &v)) qr->chunked = truthy(&v);
    if (param(st, "chunk_size", &v) && v.len) qr->chunk_size = (size_t)strtoull(v.ptr, NULL, 10);
    st_buf_fini(&v);
    const char *acc = r->h_accept.len ? r->h_accept.ptr : "";
    qr->csv = strstr(acc, "application/csv") != NULL || strstr(acc, "text/csv") != NULL;
    qr->is_get = r->method != HTTP_POST;
    qr->timeout_ms = s->opts.query_timeout_ms;
    qr->max_points = s->opts.query_max_points;
    qr->no_block_stats = s->opts.query_no_block_stats;
    qr->offer = srv_query_offer;
    qr->offer_arg = s;
    if (qr->q.len == 0) {
        /* answered here: nothing to run */
        qry_execute(s->storage, qr, &st->out, &st->status);
        q_answer(st, http_respond);
        return;
    }
    http_req_go_async(r);
    st->direct = http_direct_begin(r);
    srv_query_submit(s, r->loop, &st->job, q_work, q_done, st);
}

const http_handler h_query = { q_headers, q_body, q_complete, q_free };
