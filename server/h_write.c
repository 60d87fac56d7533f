/*
 * server/h_write.c — POST /write (1.x) and POST /api/v2/write.
 *
 * The body streams through (gzip inflate ->) the line protocol parser into
 * a storage batch on the loop thread; bad lines are collected for the
 * partial-write reply; when the body is complete the batch goes to the WAL
 * and the reply waits for its durability callback (srv_loop_post back to
 * this loop). A client that disconnects mid-body writes nothing: the batch
 * is only submitted at message end.
 *
 * Replies (InfluxDB's, whose substrings Telegraf acts on): 204; 400
 * "unable to parse ..." / "partial write: ... dropped=N for database: db";
 * 404 "database not found: \"x\""; 413; 507 on a full disk; 503 when
 * storage is read-only. v2 answers {"code","message"} and 422 for partial
 * writes.
 */
#include <llhttp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "ingest/lp.h"
#include "ingest/lpstor.h"
#include "server/handlers.h"

enum { MAX_ERRORS_REPORTED = 10, INFLATE_CHUNK = 64 * 1024 };

typedef struct wstate {
    http_req *req;             /* borrowed */
    srv *s;                    /* borrowed */
    int v2;
    st_buf db, rp;
    uint64_t db_id;
    lp_parser *lp;             /* owned */
    stor_batch *batch;         /* owned until stor_write */
    int gzip;
    int z_ready;
    int z_ended;               /* the gzip stream reached its end */
    z_stream z;
    uint64_t body_decoded;     /* bytes after decompression */
    st_buf errmsg;             /* the first errors, joined by '\n' */
    uint64_t nerrors;          /* lines (or fields) rejected */
    uint64_t dropped;          /* values dropped by storage-side rejections */
    int parse_errors;          /* any "unable to parse" */
    int status;                /* completion status from storage */
    uint64_t points;           /* values in the submitted batch */
    uint64_t utf8_rejected;    /* lines refused for non-UTF-8 names */
    lpstor adapt;              /* owned: lines -> the batch */
    char zout[INFLATE_CHUNK];
} wstate;

static void w_free(http_req *r)
{
    wstate *w = r->state;
    if (!w) return;
    lp_parser_destroy(w->lp);
    stor_batch_destroy(w->batch);
    if (w->z_ready) inflateEnd(&w->z);
    st_buf_fini(&w->db);
    st_buf_fini(&w->rp);
    st_buf_fini(&w->errmsg);
    lpstor_fini(&w->adapt);
    st_free(w);
    r->state = NULL;
}

static void w_error(wstate *w, int status, const char *code, const char *msg)
{
    if (!w->v2) {
        http_respond_error(w->req, status, msg);
        return;
    }
    st_buf body;
    st_buf_init(&body);
    st_buf_printf(&body, "{\"code\":\"%s\",\"message\":\"", code);
    http_json_escape(&body, msg, strlen(msg));
    st_buf_append_str(&body, "\"}\n");
    if (body.ptr) http_respond(w->req, status, "application/json; charset=utf-8", body.ptr, body.len, NULL);
    else http_respond(w->req, 503, NULL, NULL, 0, NULL);
    st_buf_fini(&body);
}

static void add_error(wstate *w, const char *msg, size_t len)
{
    w->nerrors++;
    if (w->nerrors > MAX_ERRORS_REPORTED) return;
    if (w->errmsg.len) st_buf_append_byte(&w->errmsg, '\n');
    st_buf_append(&w->errmsg, msg, len);
}

static int on_lp_error(void *ctx, uint64_t lineno, st_slice msg)
{
    wstate *w = ctx;
    (void)lineno;
    w->parse_errors = 1;
    add_error(w, msg.ptr, msg.len);
    return 0;
}

static int on_lp_line(void *ctx, const lp_line *ln)
{
    wstate *w = ctx;
    char msg[512];
    uint32_t dropped = 0;
    int rc = lpstor_add(&w->adapt, w->batch, ln, msg, sizeof msg, &dropped);
    if (rc == LPSTOR_BAD_NAME) {
        /* InfluxDB refuses keys that are not UTF-8 ("key contains invalid unicode"). */
        char full[700];
        int n = snprintf(full, sizeof full, "unable to parse '%.*s': %s (line %llu)",
                         (int)(ln->raw.len > 200 ? 200 : ln->raw.len), ln->raw.ptr, msg, (unsigned long long)ln->lineno);
        w->parse_errors = 1;
        w->utf8_rejected++;
        add_error(w, full, (size_t)n < sizeof full ? (size_t)n : sizeof full - 1);
        return 0;
    }
    if (rc == LPSTOR_REFUSED) {
        w->dropped += dropped;
        add_error(w, msg, strlen(msg));
        return 0;
    }
    return rc;
}

static int w_headers(http_req *r, int v2)
{
    srv *s = req_srv(r);
    atomic_fetch_add_explicit(&s->counters.write_requests, 1, memory_order_relaxed);
    wstate *w = st_calloc(1, sizeof *w);
    if (!w) { http_respond_error(r, 503, "out of memory"); return 0; }
    lpstor_init(&w->adapt);
    w->req = r;
    w->s = s;
    w->v2 = v2;
    r->state = w;
    st_buf_init(&w->db);
    st_buf_init(&w->rp);
    st_buf_init(&w->errmsg);

    if (r->method != HTTP_POST) {
        w_error(w, 405, "method not allowed", "method not allowed: use POST");
        return 0;
    }
    lp_precision prec = LP_PRECISION_NS;
    st_buf p;
    st_buf_init(&p);
    if (v2) {
        st_buf bucket;
        st_buf_init(&bucket);
        if (!http_query_param(r->query, "bucket", &bucket) || bucket.len == 0) {
            st_buf_fini(&bucket);
            st_buf_fini(&p);
            w_error(w, 400, "invalid", "bucket name is required (bucket=db or bucket=db/rp)");
            return 0;
        }
        const char *slash = memchr(bucket.ptr, '/', bucket.len);
        if (slash) {
            st_buf_append(&w->db, bucket.ptr, (size_t)(slash - bucket.ptr));
            st_buf_append(&w->rp, slash + 1, bucket.len - (size_t)(slash - bucket.ptr) - 1);
        } else {
            st_buf_append(&w->db, bucket.ptr, bucket.len);
        }
        st_buf_fini(&bucket);
        if (http_query_param(r->query, "precision", &p) &&
            lp_precision_parse_v2(p.ptr, p.len, &prec) != 0) {
            st_buf_fini(&p);
            w_error(w, 400, "invalid", "invalid precision; valid precision units are ns, us, ms, and s");
            return 0;
        }
    } else {
        if (!http_query_param(r->query, "db", &w->db) || w->db.len == 0) {
            st_buf_fini(&p);
            w_error(w, 400, "invalid", "database is required");
            return 0;
        }
        http_query_param(r->query, "rp", &w->rp);
        if (http_query_param(r->query, "precision", &p) &&
            lp_precision_parse_v1(p.ptr, p.len, &prec) != 0) {
            char msg[128];
            snprintf(msg, sizeof msg, "invalid precision \"%.32s\" (use n, u, ms, s, m or h)", p.ptr ? p.ptr : "");
            st_buf_fini(&p);
            w_error(w, 400, "invalid", msg);
            return 0;
        }
    }
    st_buf_fini(&p);
    st_slice db = { w->db.ptr, w->db.len };
    if (srv_auth_request(r, "write", db)) return 0;

    if (s->opts.max_body_bytes && r->content_length > 0 && (uint64_t)r->content_length > s->opts.max_body_bytes) {
        w_error(w, 413, "request too large", "Request Entity Too Large");
        return 0;
    }
    if (stor_is_readonly(s->storage)) {
        w_error(w, 503, "unavailable", "storage is read-only after a disk error; restart the server to recover");
        return 0;
    }
    sidx_db_info dbi;
    int rc = sidx_db_lookup(stor_index(s->storage), db, &dbi);
    if (rc == 0) w->db_id = dbi.id;
    if (rc == ST_ENOTFOUND) {
        if (!s->opts.auto_create) {
            char msg[300];
            snprintf(msg, sizeof msg, "database not found: \"%.*s\"", (int)(db.len > 256 ? 256 : db.len), db.ptr);
            w_error(w, 404, "not found", msg);
            return 0;
        }
        rc = stor_db_create(s->storage, db, &w->db_id);
    }
    if (rc) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot open database \"%.*s\": %s", (int)(db.len > 200 ? 200 : db.len),
                 db.ptr, st_strerror(rc));
        w_error(w, rc == ST_EINVAL ? 400 : 500, "internal error", msg);
        return 0;
    }
    if (w->rp.len) {
        if (sidx_db_rp_check(stor_index(s->storage), w->db_id, (st_slice){ w->rp.ptr, w->rp.len }) != 0) {
            char msg[300];
            snprintf(msg, sizeof msg, "retention policy not found: %.*s", (int)(w->rp.len > 200 ? 200 : w->rp.len), w->rp.ptr);
            w_error(w, v2 ? 404 : 500, "not found", msg);
            return 0;
        }
    }
    if (r->h_content_encoding.len) {
        if (strcasecmp(r->h_content_encoding.ptr, "gzip") == 0) {
            w->gzip = 1;
            memset(&w->z, 0, sizeof w->z);
            if (inflateInit2(&w->z, 16 + MAX_WBITS) != Z_OK) { w_error(w, 503, "unavailable", "out of memory"); return 0; }
            w->z_ready = 1;
        } else if (strcasecmp(r->h_content_encoding.ptr, "identity") != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "unsupported Content-Encoding: %.64s (use gzip or identity)", r->h_content_encoding.ptr);
            w_error(w, 415, "invalid", msg);
            return 0;
        }
    }
    rc = stor_batch_create(s->storage, w->db_id, &w->batch);
    if (rc) { w_error(w, 503, "unavailable", st_strerror(rc)); return 0; }
    lp_opts o;
    memset(&o, 0, sizeof o);
    o.precision = prec;
    int64_t unit = lp_precision_ns(prec);
    int64_t now = st_now_ns();
    o.default_ts_ns = now - now % unit;
    o.quality_field = st_slice_cstr(s->opts.quality_field);
    o.max_line_bytes = s->opts.max_line_bytes;
    rc = lp_parser_create(&o, on_lp_line, on_lp_error, w, &w->lp);
    if (rc) { w_error(w, 503, "unavailable", "out of memory"); return 0; }
    return 0;
}

static int w_headers_v1(http_req *r) { return w_headers(r, 0); }
static int w_headers_v2(http_req *r) { return w_headers(r, 1); }

static int feed(wstate *w, const char *p, size_t n)
{
    srv *s = w->s;
    w->body_decoded += n;
    if (s->opts.max_body_bytes && w->body_decoded > s->opts.max_body_bytes) {
        w_error(w, 413, "request too large", "Request Entity Too Large");
        return -1;
    }
    int rc = lp_parser_feed(w->lp, p, n);
    if (rc) {
        w_error(w, 503, "unavailable", st_strerror(rc));
        return -1;
    }
    return 0;
}

static int w_body(http_req *r, const char *p, size_t n)
{
    wstate *w = r->state;
    if (!w || !w->lp) return -1;
    if (!w->gzip) return feed(w, p, n);
    w->z.next_in = (Bytef *)(uintptr_t)p;
    w->z.avail_in = (uInt)n;
    while (w->z.avail_in > 0) {
        w->z.next_out = (Bytef *)w->zout;
        w->z.avail_out = sizeof w->zout;
        int zr = inflate(&w->z, Z_NO_FLUSH);
        size_t got = sizeof w->zout - w->z.avail_out;
        if (got && feed(w, w->zout, got) != 0) return -1;
        if (zr == Z_STREAM_END) {
            w->z_ended = 1;
            /* Concatenated gzip members are legal: start the next one. */
            if (w->z.avail_in == 0) break;
            if (inflateReset(&w->z) != Z_OK) break;
            w->z_ended = 0;
            continue;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            char msg[200];
            snprintf(msg, sizeof msg, "gzip: invalid compressed body: %s", w->z.msg ? w->z.msg : "data error");
            w_error(w, 400, "invalid", msg);
            return -1;
        }
        if (zr == Z_BUF_ERROR && got == 0) break;
    }
    return 0;
}

static void w_reply(wstate *w)
{
    srv *s = w->s;
    http_req *r = w->req;
    if (w->status == ST_ENOSPC) {
        atomic_fetch_add_explicit(&s->counters.write_errors, 1, memory_order_relaxed);
        w_error(w, 507, "internal error", "no space left on device: the write was not stored; retry when space is freed");
        return;
    }
    if (w->status) {
        atomic_fetch_add_explicit(&s->counters.write_errors, 1, memory_order_relaxed);
        char msg[200];
        snprintf(msg, sizeof msg, "write failed: %s", w->status == ST_EREADONLY ?
                 "storage is read-only after a disk error; restart the server to recover" : st_strerror(w->status));
        w_error(w, w->status == ST_EREADONLY ? 503 : 500, "internal error", msg);
        return;
    }
    lp_stats st;
    lp_parser_stats(w->lp, &st);
    st.bad_lines += w->utf8_rejected;
    atomic_fetch_add_explicit(&s->counters.lines_rejected, st.bad_lines, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->counters.points_written, w->points, memory_order_relaxed);
    if (w->nerrors == 0) {
        http_respond(r, 204, NULL, NULL, 0, NULL);
        return;
    }
    st_buf msg;
    st_buf_init(&msg);
    int all_bad = st.lines == st.bad_lines && w->parse_errors && !w->dropped;
    if (!all_bad) st_buf_append_str(&msg, "partial write: ");
    st_buf_append(&msg, w->errmsg.ptr, w->errmsg.len);
    if (w->nerrors > MAX_ERRORS_REPORTED)
        st_buf_printf(&msg, "\n(and %llu more errors)", (unsigned long long)(w->nerrors - MAX_ERRORS_REPORTED));
    if (!all_bad) {
        st_buf_printf(&msg, " dropped=%llu for database: %.*s", (unsigned long long)w->dropped, (int)w->db.len, w->db.ptr);
        if (w->rp.len) st_buf_printf(&msg, " for retention policy: %.*s", (int)w->rp.len, w->rp.ptr);
    }
    w_error(w, w->v2 && !all_bad ? 422 : 400, w->v2 && !all_bad ? "unprocessable entity" : "invalid",
            msg.ptr ? msg.ptr : "bad request");
    st_buf_fini(&msg);
}

/* Storage says the batch is durable (or failed): hop back to the loop. */
static void w_done_loop(void *arg)
{
    w_reply(arg);
}

static void w_done(void *arg, int status)
{
    wstate *w = arg;
    w->status = status;
    srv_loop *l = w->req->loop;
    while (srv_loop_post(l, w_done_loop, w) != 0) {
        /* Out of memory on the WAL thread: the reply must not be lost. */
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
}

static void w_complete(http_req *r)
{
    wstate *w = r->state;
    if (!w || !w->lp) { http_respond_error(r, 400, "bad request"); return; }
    if (w->gzip && !w->z_ended && r->body_bytes > 0) {
        /* A body that ends before its gzip stream does is broken: write nothing. */
        w_error(w, 400, "invalid", "gzip: unexpected end of compressed body");
        return;
    }
    int rc = lp_parser_finish(w->lp);
    if (rc) { w_error(w, 503, "unavailable", st_strerror(rc)); return; }
    w->points = stor_batch_points(w->batch);
    if (w->points == 0) {
        stor_batch_destroy(w->batch);
        w->batch = NULL;
        w_reply(w);
        return;
    }
    http_req_go_async(r);
    stor_batch *b = w->batch;
    w->batch = NULL;
    rc = stor_write(b, w_done, w);
    if (rc) {
        /* Refused at once (read-only, out of memory): answer now; finishing
         * the request drops the async hold. */
        w->status = rc;
        w_reply(w);
    }
}

const http_handler h_write_v1 = { w_headers_v1, w_body, w_complete, w_free };
const http_handler h_write_v2 = { w_headers_v2, w_body, w_complete, w_free };
