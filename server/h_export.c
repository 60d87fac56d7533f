/*
 * server/h_export.c — GET /api/strata/v1/export: a database's points as
 * line protocol or long-form CSV (formats: query/export.h), streamed with
 * chunked transfer coding.
 *
 *   ?db=D [&measurement=M] [&tag=k=v ...] [&start=T] [&end=T] [&format=lp|csv]
 *
 * T is RFC3339 or integer nanoseconds since the epoch; start and end are
 * inclusive. 400 for bad parameters, 404 for an unknown database (before
 * any body byte). Line protocol ends with one comment line
 * "# strata-export: points=N series=S nonfinite_skipped=K" (NaN/±Inf cannot
 * be line protocol; `strata import` ignores comments).
 *
 * Threads. The export runs on the query pool (x_work): it produces pieces of
 * up to QEXP_PIECE_BYTES and posts each to the loop (piece_cb), which writes
 * it as one chunk. At most XP_INFLIGHT pieces are posted or queued on the
 * socket at a time: the worker waits (back-pressure) until the socket took
 * one (piece_written), so memory stays bounded however slow the client.
 * A client that goes away cancels the export at the next piece; a client
 * that stops reading for XP_STALL_MS ends it the same way.
 * The state is freed in on_free, which runs only after x_done and the last
 * piece_written (both on the loop thread).
 */
#include <errno.h>
#include <llhttp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/num.h"
#include "common/timefmt.h"
#include "query/export.h"
#include "server/handlers.h"

#define XP_INFLIGHT 4
#define XP_STALL_MS 120000

typedef struct xstate {
    http_req *req;          /* borrowed */
    srv *s;                 /* borrowed */
    st_buf db, meas, quality, tags; /* decoded parameters; tags: "k\0v\0" pairs */
    qexp_opts o;            /* slices into the buffers above */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inflight;           /* pieces posted and not yet written (mu) */
    int cancelled;          /* client gone or stalled (mu) */
    int started;            /* loop: head sent */
    int finished;           /* loop: x_done ran */
    int rc;
    char err[256];
    qexp_stats stats;
    srv_job job;            /* the query pool's while the export runs */
} xstate;

typedef struct piece {
    xstate *st;
    size_t len;
    char data[];
} piece;

static void x_free(http_req *r)
{
    xstate *st = r->state;
    if (!st) return;
    st_buf_fini(&st->db);
    st_buf_fini(&st->meas);
    st_buf_fini(&st->quality);
    st_buf_fini(&st->tags);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    st_free(st);
    r->state = NULL;
}

static int x_headers(http_req *r)
{
    if (r->method != HTTP_GET) {
        http_respond_error(r, 405, "method not allowed: use GET");
        return 0;
    }
    xstate *st = st_calloc(1, sizeof *st);
    if (!st) { http_respond_error(r, 503, "out of memory"); return 0; }
    st->req = r;
    st->s = req_srv(r);
    st_buf_init(&st->db);
    st_buf_init(&st->meas);
    st_buf_init(&st->quality);
    st_buf_init(&st->tags);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    r->state = st;
    return 0;
}

static int x_body(http_req *r, const char *p, size_t n) { return 0; }

static const char *content_type(const xstate *st)
{
    return st->o.format == QEXP_CSV ? "text/csv; charset=utf-8" : "text/plain; charset=utf-8";
}

/* Loop thread: everything posted has been written; answer the end. */
static void try_finish(xstate *st)
{
    if (!st->finished || st->inflight > 0) return;
    http_req *r = st->req;
    if (!st->started) {
        if (st->rc == ST_ENOTFOUND) { http_respond_error(r, 404, st->err); return; }
        if (st->rc) { http_respond_error(r, st->rc == ST_ENOMEM ? 503 : 500, st->err); return; }
        http_respond_start(r, 200, content_type(st), NULL);
    }
    http_respond_end(r, st->rc == 0);
}

static void piece_written(void *arg, int status)
{
    xstate *st = arg;
    pthread_mutex_lock(&st->mu);
    st->inflight--;
    if (status) st->cancelled = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    try_finish(st); /* loop thread: finished is only set there */
}

static void piece_cb(void *arg)
{
    piece *pc = arg;
    xstate *st = pc->st;
    if (!st->started) {
        http_respond_start(st->req, 200, content_type(st), NULL);
        st->started = 1;
    }
    http_respond_chunk(st->req, pc->data, pc->len, piece_written, st);
    st_free(pc);
}

/* Worker: hand one piece to the loop, waiting while XP_INFLIGHT are out. */
static int emit(void *arg, const char *p, size_t n)
{
    xstate *st = arg;
    piece *pc = st_malloc(sizeof *pc + n);
    if (!pc) return 1;
    pc->st = st;
    pc->len = n;
    memcpy(pc->data, p, n);
    pthread_mutex_lock(&st->mu);
    int64_t deadline = st_mono_ns() + (int64_t)XP_STALL_MS * 1000000;
    while (st->inflight >= XP_INFLIGHT && !st->cancelled) {
        if (st_mono_ns() > deadline) { st->cancelled = 1; break; }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
    }
    int stop = st->cancelled;
    if (!stop) st->inflight++;
    pthread_mutex_unlock(&st->mu);
    if (stop) { st_free(pc); return 1; }
    if (srv_loop_post(st->req->loop, piece_cb, pc) != 0) {
        pthread_mutex_lock(&st->mu);
        st->inflight--;
        pthread_mutex_unlock(&st->mu);
        st_free(pc);
        return 1;
    }
    return 0;
}

static void x_work(void *arg)
{
    xstate *st = arg;
    st->rc = qexp_run(st->s->storage, &st->o, emit, st, &st->stats, st->err, sizeof st->err);
    if (st->rc == 0 && st->o.format == QEXP_LP) {
        char t[160];
        int n = snprintf(t, sizeof t, "# strata-export: points=%llu series=%llu nonfinite_skipped=%llu\n",
                         (unsigned long long)st->stats.points, (unsigned long long)st->stats.series,
                         (unsigned long long)st->stats.nonfinite_skipped);
        if (emit(st, t, (size_t)n)) st->rc = ST_ECLOSED;
    }
}

static void x_done(void *arg)
{
    xstate *st = arg;
    st->finished = 1;
    try_finish(st);
}

/* RFC3339 or integer ns. */
static int parse_time(const st_buf *v, int64_t *out)
{
    if (st_parse_int64(v->ptr, v->len, out) == 0) return 0;
    return st_time_parse_rfc3339(v->ptr, v->len, out);
}

static void x_complete(http_req *r)
{
    xstate *st = r->state;
    if (!st) { http_respond_error(r, 503, "out of memory"); return; }
    srv *s = st->s;
    http_query_param(r->query, "db", &st->db);
    if (srv_auth_request(r, "query", (st_slice){ st->db.ptr, st->db.len })) return;
    if (!st->db.len) { http_respond_error(r, 400, "database name required (db=)"); return; }
    qexp_opts *o = &st->o;
    o->db = (st_slice){ st->db.ptr, st->db.len };
    if (http_query_param(r->query, "measurement", &st->meas)) o->measurement = (st_slice){ st->meas.ptr, st->meas.len };
    o->tmin_ns = ST_TIME_MIN_NS;
    o->tmax_ns = ST_TIME_MAX_NS;
    st_buf v;
    st_buf_init(&v);
    char msg[300];
    if (http_query_param(r->query, "start", &v) && v.len && parse_time(&v, &o->tmin_ns)) {
        snprintf(msg, sizeof msg, "bad start '%.200s': want RFC3339 or integer nanoseconds", v.ptr);
        goto bad;
    }
    if (http_query_param(r->query, "end", &v) && v.len && parse_time(&v, &o->tmax_ns)) {
        snprintf(msg, sizeof msg, "bad end '%.200s': want RFC3339 or integer nanoseconds", v.ptr);
        goto bad;
    }
    o->format = QEXP_LP;
    if (http_query_param(r->query, "format", &v) && v.len) {
        if (!strcmp(v.ptr, "csv")) o->format = QEXP_CSV;
        else if (strcmp(v.ptr, "lp")) { snprintf(msg, sizeof msg, "bad format '%.200s': want lp or csv", v.ptr); goto bad; }
    }
    o->quality_field = st_slice_cstr(s->opts.quality_field ? s->opts.quality_field : "");
    /* tag=k=v, repeated: every one must match. Decoded into st->tags first
     * (slices are taken after, once the buffer no longer moves). */
    size_t i = 0;
    st_slice q = r->query;
    while (i < q.len) {
        size_t j = i;
        while (j < q.len && q.ptr[j] != '&') j++;
        if (j - i > 4 && memcmp(q.ptr + i, "tag=", 4) == 0) {
            st_buf_clear(&v);
            http_url_decode((st_slice){ q.ptr + i + 4, j - i - 4 }, 1, &v);
            char *eq = v.ptr ? memchr(v.ptr, '=', v.len) : NULL;
            if (!eq) { snprintf(msg, sizeof msg, "bad tag '%.200s': want tag=key=value", v.ptr ? v.ptr : ""); goto bad; }
            if (o->ntags == QEXP_MAX_TAGS) { snprintf(msg, sizeof msg, "at most %d tag= filters", QEXP_MAX_TAGS); goto bad; }
            o->ntags++;
            *eq = 0;
            st_buf_append(&st->tags, v.ptr, v.len);
            st_buf_append_byte(&st->tags, 0);
        }
        i = j + 1;
    }
    if (o->ntags && !st->tags.ptr) { st_buf_fini(&v); http_respond_error(r, 503, "out of memory"); return; }
    const char *tp = st->tags.ptr;
    for (size_t k = 0; k < o->ntags; k++) {
        size_t kl = strlen(tp);
        o->tag_keys[k] = (st_slice){ tp, kl };
        tp += kl + 1;
        size_t vl = strlen(tp);
        o->tag_vals[k] = (st_slice){ tp, vl };
        tp += vl + 1;
    }
    st_buf_fini(&v);
    http_req_go_async(r);
    srv_query_submit(s, r->loop, &st->job, x_work, x_done, st);
    return;
bad:
    st_buf_fini(&v);
    http_respond_error(r, 400, msg);
}

const http_handler h_export = { x_headers, x_body, x_complete, x_free };
