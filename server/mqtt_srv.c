/*
 * server/mqtt_srv.c — the MQTT listener's connections and the write path
 * shared with the bridge (see mqtt_srv.h). Owns, per loop, one mqtt_loop
 * (open group, groups in the WAL, connection list, scratch); per
 * connection, its socket, keep-alive timer, session (ingest/mqtt.h) and
 * Sparkplug state. Loop thread only; the WAL thread only posts back.
 *
 * Invariants:
 *  1. A QoS 1/2 PUBLISH is acknowledged (mqtt_session_ack) only from
 *     group_done after its group's stor_write reported status 0: its
 *     points are in the WAL. A group that failed acknowledges nothing and
 *     closes the connections it owed acks to (the clients resend).
 *  2. Acks leave in PUBLISH order per connection: groups complete in FIFO
 *     order on their loop (a group whose WAL callback came early waits for
 *     the ones before it), and a message without points is still queued in
 *     the open group, never acked ahead of it.
 *  3. A connection is freed only when its handles are closed and no group
 *     entry refers to it (peer.refs == 0); until then l->conns counts it,
 *     so the loop cannot end under it. Groups in the WAL count in l->busy.
 *  4. Nothing is allocated per message once buffers have grown: the read
 *     buffer, the session, the group arrays and the decode arena are reused
 *     (the arena is reset after each message).
 *  5. Untrusted bytes only reach mqtt_session_feed and pl_message; every
 *     error there is an event or a return code, never an assert.
 *  6. A connection that ends without DISCONNECT has its Will decoded like
 *     a PUBLISH (Sparkplug NDEATH arrives this way) before its Sparkplug
 *     state is destroyed.
 */
#include "server/mqtt_srv.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/utf8.h"
#include "ingest/lpstor.h"
#include "ingest/mqtt.h"
#include "ingest/sparkplug.h"
#include "server/handlers.h"

enum {
    READ_BYTES = 64 * 1024,
    MAX_GROUPS_IN_FLIGHT = 64,   /* per loop: reading pauses beyond */
    MAX_GROUP_POINTS = 200000,   /* a group this large is submitted at once */
    LOG_BURST = 20,              /* warnings per LOG_WINDOW_MS per loop */
    LOG_WINDOW_MS = 10000,
    CONNECT_TIMEOUT_MS = 10000,  /* from accept to CONNECT */
};

typedef struct mq_ack {
    mqtt_peer *peer;
    uint16_t packet_id;
    uint8_t reason;
} mq_ack;

typedef struct mq_group {
    struct mq_group *next;
    struct mqtt_loop *ml;
    stor_batch *batch;           /* owned until stor_write */
    mq_ack *acks;                /* owned */
    size_t nacks, cap;
    uint64_t points;
    int done, status;
} mq_group;

typedef struct mq_conn mq_conn;

typedef struct mqtt_loop {
    srv_loop *loop;              /* borrowed */
    uv_check_t check;
    int check_open;
    mq_group *open;              /* collecting this iteration */
    mq_group *head, *tail;       /* submitted, FIFO */
    mq_group *free_list;
    size_t in_flight;
    mq_conn *conns;              /* listener connections on this loop */
    uint64_t next_conn_id;
    int paused;                  /* reading stopped: too many groups in flight */
    st_arena arena;              /* one message's decode */
    lpstor adapt;                /* owned: points -> the group's batch */
    uint64_t db_id;
    int64_t log_window_ms;
    uint32_t log_count;
    uint64_t log_suppressed;
    /* per message, while pl_message runs */
    mq_group *cur;
    uint64_t msg_rejected;
    char msg_err[256];
} mqtt_loop;

struct mq_conn {
    mqtt_peer peer;              /* first: group entries point here */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    mqtt_loop *ml;               /* borrowed */
    mqtt_session *sess;          /* owned */
    struct spb_state *spb;       /* owned, created on the first Sparkplug message */
    st_buf wbuf;                 /* bytes being written */
    char *rbuf;                  /* owned, READ_BYTES */
    mq_conn *prev, *next;
    int writing, closing, close_after_write, reading, handles;
    int said_goodbye;            /* DISCONNECT received: no Will */
    int64_t connect_deadline_ms; /* a client that sends no CONNECT is closed */
    char peer_name[INET_ADDRSTRLEN + 8];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static srv *ml_srv(mqtt_loop *ml) { return ml->loop->server; }

static void ml_warn(mqtt_loop *ml, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ml_warn(mqtt_loop *ml, const char *fmt, ...)
{
    int64_t t = now_ms();
    if (t - ml->log_window_ms > LOG_WINDOW_MS) {
        if (ml->log_suppressed)
            ST_WARN("mqtt", "%llu more such warnings suppressed in the last %ds",
                    (unsigned long long)ml->log_suppressed, LOG_WINDOW_MS / 1000);
        ml->log_window_ms = t;
        ml->log_count = 0;
        ml->log_suppressed = 0;
    }
    if (ml->log_count++ >= LOG_BURST) { ml->log_suppressed++; return; }
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ST_WARN("mqtt", "%s", line);
}

/* ---- groups ---- */

static void group_free(mq_group *g)
{
    if (!g) return;
    stor_batch_destroy(g->batch);
    st_free(g->acks);
    st_free(g);
}

/* The open group of this iteration, created on demand. */
static int group_get(mqtt_loop *ml, mq_group **out)
{
    if (ml->open) { *out = ml->open; return 0; }
    srv *s = ml_srv(ml);
    mq_group *g = ml->free_list;
    if (g) ml->free_list = g->next;
    else if (!(g = st_calloc(1, sizeof *g))) return ST_ENOMEM;
    g->next = NULL;
    g->ml = ml;
    g->nacks = 0;
    g->points = 0;
    g->done = g->status = 0;
    /* The database may have been dropped meanwhile: look it up per group. */
    st_slice db = st_slice_cstr(s->opts.mqtt_database ? s->opts.mqtt_database : "mqtt");
    sidx_db_info dbi;
    int rc = sidx_db_lookup(stor_index(s->storage), db, &dbi);
    if (rc == 0) ml->db_id = dbi.id;
    else if (rc == ST_ENOTFOUND && s->opts.auto_create) rc = stor_db_create(s->storage, db, &ml->db_id);
    if (!rc) rc = stor_batch_create(s->storage, ml->db_id, &g->batch);
    if (rc) { g->next = ml->free_list; ml->free_list = g; return rc; }
    ml->open = g;
    *out = g;
    return 0;
}

static int group_add_ack(mq_group *g, mqtt_peer *p, uint16_t pid, uint8_t reason)
{
    if (st_grow(&g->acks, &g->cap, g->nacks + 1, sizeof *g->acks, 64)) return ST_ENOMEM;
    g->acks[g->nacks++] = (mq_ack){ p, pid, reason };
    p->refs++;
    return 0;
}

static void resume_reading(mqtt_loop *ml);

/* Deliver the acks of every completed group at the head of the FIFO. */
static void groups_drain(mqtt_loop *ml)
{
    srv *s = ml_srv(ml);
    while (ml->head && ml->head->done) {
        mq_group *g = ml->head;
        ml->head = g->next;
        if (!ml->head) ml->tail = NULL;
        if (g->status) {
            atomic_fetch_add_explicit(&s->counters.mqtt_write_errors, 1, memory_order_relaxed);
            ST_ERROR("mqtt", "write of %llu points from %zu messages failed: %s; not acknowledged "
                     "(the clients will resend)", (unsigned long long)g->points, g->nacks,
                     st_strerror(g->status));
        } else {
            atomic_fetch_add_explicit(&s->counters.mqtt_points, g->points, memory_order_relaxed);
        }
        /* Ack all, then send once per peer, then release: a peer is
         * released (and may be freed) only by the entry that drops its
         * last reference, after which no entry refers to it. */
        for (size_t i = 0; i < g->nacks; i++) {
            mqtt_peer *p = g->acks[i].peer;
            p->on_ack(p, g->acks[i].packet_id, g->acks[i].reason, g->status);
            p->flush_pending = 1;
        }
        for (size_t i = 0; i < g->nacks; i++) {
            mqtt_peer *p = g->acks[i].peer;
            if (p->flush_pending) { p->flush_pending = 0; p->flush(p); }
        }
        for (size_t i = 0; i < g->nacks; i++) {
            mqtt_peer *p = g->acks[i].peer;
            if (--p->refs == 0) p->unref(p);
        }
        g->nacks = 0;
        ml->in_flight--;
        ml->loop->busy--;
        g->next = ml->free_list;
        ml->free_list = g;
    }
    if (ml->paused && ml->in_flight < MAX_GROUPS_IN_FLIGHT / 2) resume_reading(ml);
    srv_loop_maybe_done(ml->loop);
}

static void group_done_loop(void *arg)
{
    mq_group *g = arg;
    g->done = 1;
    groups_drain(g->ml);
}

static void group_done(void *arg, int status)
{
    mq_group *g = arg;
    g->status = status;
    while (srv_loop_post(g->ml->loop, group_done_loop, g) != 0) {
        struct timespec ts = { 0, 1000000 }; /* the acks must not be lost */
        nanosleep(&ts, NULL);
    }
}

/* Submit the open group (end of the loop iteration, or when large). */
static void group_submit(mqtt_loop *ml)
{
    mq_group *g = ml->open;
    if (!g) return;
    ml->open = NULL;
    g->next = NULL;
    if (ml->tail) ml->tail->next = g; else ml->head = g;
    ml->tail = g;
    ml->in_flight++;
    ml->loop->busy++;
    stor_batch *b = g->batch;
    g->batch = NULL;
    if (g->points == 0) {
        stor_batch_destroy(b);
        g->done = 1;   /* nothing to write: acks go in FIFO order */
        groups_drain(ml);
        return;
    }
    int rc = stor_write(b, group_done, g);
    if (rc) { g->status = rc; g->done = 1; groups_drain(ml); }
}

static void on_check(uv_check_t *h)
{
    mqtt_loop *ml = h->data;
    group_submit(ml);
}

/* ---- message -> points ---- */

static int on_point(void *ctx, const lp_line *ln)
{
    mqtt_loop *ml = ctx;
    mq_group *g = ml->cur;
    uint32_t dropped = 0;
    uint64_t before = stor_batch_points(g->batch);
    char msg[256];
    int rc = lpstor_add(&ml->adapt, g->batch, ln, msg, sizeof msg, &dropped);
    g->points += stor_batch_points(g->batch) - before;
    if (rc == LPSTOR_BAD_NAME || rc == LPSTOR_REFUSED) {
        ml->msg_rejected += dropped ? dropped : 1;
        if (!ml->msg_err[0]) snprintf(ml->msg_err, sizeof ml->msg_err, "%s", msg);
        return 0;
    }
    return rc;
}

int mqtt_srv_message(srv_loop *l, mqtt_peer *peer, struct spb_state *spb, uint8_t version, st_slice topic,
                     const void *payload, size_t len, uint16_t packet_id, char *rebirth, size_t rebirth_cap)
{
    mqtt_loop *ml = l->mqtt;
    srv *s = l->server;
    if (rebirth && rebirth_cap) rebirth[0] = 0;
    atomic_fetch_add_explicit(&s->counters.mqtt_messages, 1, memory_order_relaxed);
    mq_group *g;
    int rc = group_get(ml, &g);
    if (rc) {
        char t[240];
        snprintf(t, sizeof t, "%.*s", (int)(topic.len > 200 ? 200 : topic.len), topic.ptr);
        ml_warn(ml, "topic %s: cannot write to database %s: %s; closing the connection", t,
                s->opts.mqtt_database ? s->opts.mqtt_database : "mqtt",
                rc == ST_ENOTFOUND ? "database not found (--no-auto-create)" : st_strerror(rc));
        return ST_ENOMEM;
    }
    ml->cur = g;
    ml->msg_rejected = 0;
    ml->msg_err[0] = 0;
    pl_opts o;
    memset(&o, 0, sizeof o);
    o.now_ns = st_now_ns();
    o.quality_field = st_slice_cstr(s->opts.quality_field ? s->opts.quality_field : "");
    if (o.quality_field.len == 0) o.quality_field = st_slice_cstr("\x01"); /* "" = none */
    o.max_line_bytes = s->opts.max_line_bytes;
    pl_stats st;
    char err[PL_ERR_BYTES];
    err[0] = 0;
    uint64_t points_before = g->points;
    rc = pl_message(s->opts.mqtt_rules, spb, topic, payload, len, &o, &ml->arena, on_point, ml, &st, err,
                    sizeof err);
    st_arena_reset(&ml->arena);
    ml->cur = NULL;
    if (rc == ST_ENOMEM) return ST_ENOMEM;
    int wrote = g->points > points_before;
    if (rc == ST_ENOTFOUND) {
        atomic_fetch_add_explicit(&s->counters.mqtt_spb_unknown, st.unknown ? st.unknown : 1,
                                  memory_order_relaxed);
        char t[256];
        size_t tl = 0;
        if (spb_rebirth_topic(topic, t, sizeof t, &tl) != 0) snprintf(t, sizeof t, "(unknown node)");
        if (rebirth && rebirth_cap) snprintf(rebirth, rebirth_cap, "%s", t);
        ml_warn(ml, "%s", err[0] ? err : t);
    } else if (rc) {
        atomic_fetch_add_explicit(&s->counters.mqtt_messages_bad, 1, memory_order_relaxed);
        ml_warn(ml, "%s", err[0] ? err : "message refused");
    } else if (st.rebirth_needed) {
        char t[256];
        size_t tl = 0;
        if (spb_rebirth_topic(topic, t, sizeof t, &tl) == 0) {
            if (rebirth && rebirth_cap) snprintf(rebirth, rebirth_cap, "%s", t);
            ml_warn(ml, "sparkplug: %s needs a rebirth: publish Node Control/Rebirth=true to %s",
                    err[0] ? err : "birth without a live NBIRTH", t);
        }
    }
    if (ml->msg_rejected) {
        atomic_fetch_add_explicit(&s->counters.mqtt_points_rejected, ml->msg_rejected, memory_order_relaxed);
        char t[240];
        snprintf(t, sizeof t, "%.*s", (int)(topic.len > 200 ? 200 : topic.len), topic.ptr);
        ml_warn(ml, "topic %s: points refused: %s", t, ml->msg_err);
    }
    if (packet_id) {
        /* 5.0 clients learn that a message had nothing to write. */
        uint8_t reason = (!wrote && rc && rc != ST_ENOTFOUND && version == MQTT_V5) ? MQTT_RC_PAYLOAD_INVALID : 0;
        if (group_add_ack(g, peer, packet_id, reason) != 0) return ST_ENOMEM;
    }
    if (g->points >= MAX_GROUP_POINTS) group_submit(ml);
    return 0;
}

/* ---- connections ---- */

static void conn_flush(mq_conn *c);
static void conn_close(mq_conn *c);

static void conn_maybe_free(mq_conn *c)
{
    if (c->handles || c->peer.refs) return;
    mqtt_loop *ml = c->ml;
    srv_loop *l = ml->loop;
    if (c->prev) c->prev->next = c->next; else ml->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    mqtt_session_destroy(c->sess);
    spb_state_destroy(c->spb);
    st_buf_fini(&c->wbuf);
    st_free(c->rbuf);
    st_free(c);
    l->conns--;
    atomic_fetch_sub_explicit(&l->server->counters.connections_open, 1, memory_order_relaxed);
    srv_loop_maybe_done(l);
}

static void peer_on_ack(mqtt_peer *p, uint16_t pid, uint8_t reason, int status)
{
    mq_conn *c = (mq_conn *)p;
    if (c->closing) return;
    if (status) {
        /* Not durable: no ack; the client resends after reconnecting. */
        mqtt_session_disconnect(c->sess, MQTT_RC_UNSPECIFIED);
        c->close_after_write = 1;
        return;
    }
    int rc = mqtt_session_ack_reason(c->sess, pid, reason);
    if (rc == ST_ENOMEM) { c->close_after_write = 1; }
}

static void peer_flush(mqtt_peer *p) { conn_flush((mq_conn *)p); }
static void peer_unref(mqtt_peer *p)
{
    mq_conn *c = (mq_conn *)p;
    if (!c->closing && c->close_after_write) conn_flush(c); /* was waiting for its acks */
    else conn_maybe_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    mq_conn *c = h->data;
    c->handles--;
    conn_maybe_free(c);
}

/* The connection's Sparkplug state, created on its first Sparkplug topic. */
static int conn_spb(mq_conn *c, st_slice topic)
{
    if (c->spb || topic.len < 8 || memcmp(topic.ptr, "spBv1.0/", 8) != 0) return 0;
    return spb_state_create(NULL, &c->spb);
}

/* The Will of a connection that ended without DISCONNECT. */
static void conn_publish_will(mq_conn *c)
{
    if (c->said_goodbye || c->ml->loop->stopping) return;
    const mqtt_will *w = mqtt_session_will(c->sess);
    if (!w || conn_spb(c, w->topic) != 0) return;
    mqtt_srv_message(c->ml->loop, &c->peer, c->spb, mqtt_session_version(c->sess), w->topic, w->payload.ptr,
                     w->payload.len, 0, NULL, 0);
}

static void conn_close(mq_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    conn_publish_will(c);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_write(uv_write_t *req, int status)
{
    mq_conn *c = req->data;
    c->writing = 0;
    c->wbuf.len = 0;
    if (c->closing) return;
    if (status < 0) { conn_close(c); return; }
    conn_flush(c);
}

static void conn_flush(mq_conn *c)
{
    if (c->closing || c->writing) return;
    const uint8_t *p;
    size_t n;
    mqtt_session_output(c->sess, &p, &n);
    if (n == 0) {
        if (c->close_after_write && c->peer.refs == 0) conn_close(c);
        return;
    }
    c->wbuf.len = 0;
    if (st_buf_append(&c->wbuf, p, n) != 0) { conn_close(c); return; }
    mqtt_session_consume(c->sess, n);
    uv_buf_t b = uv_buf_init(c->wbuf.ptr, (unsigned)c->wbuf.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) { conn_close(c); return; }
    c->writing = 1;
}

static void arm_keepalive(mq_conn *c);

static void on_timer(uv_timer_t *t)
{
    mq_conn *c = t->data;
    if (c->closing) return;
    int64_t d = mqtt_session_keepalive_deadline_ms(c->sess);
    if (!d && !mqtt_session_version(c->sess)) d = c->connect_deadline_ms;
    if (d && now_ms() >= d) {
        ST_INFO("mqtt", "client %s: keep-alive timeout, closing", c->peer_name);
        mqtt_session_disconnect(c->sess, MQTT_RC_KEEPALIVE_TIMEOUT);
        c->close_after_write = 1;
        conn_flush(c);
        return;
    }
    arm_keepalive(c);
}

static void arm_keepalive(mq_conn *c)
{
    int64_t d = mqtt_session_keepalive_deadline_ms(c->sess);
    if (!d && !mqtt_session_version(c->sess)) d = c->connect_deadline_ms;
    if (!d) { uv_timer_stop(&c->timer); return; }
    int64_t wait = d - now_ms();
    uv_timer_start(&c->timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

static int on_event(void *ctx, mqtt_event *ev)
{
    mq_conn *c = ctx;
    mqtt_loop *ml = c->ml;
    srv *s = ml_srv(ml);
    switch (ev->type) {
    case MQTT_EV_CONNECT: {
        const mqtt_connect *cn = &ev->pkt->u.connect;
        srv_cred cred;
        srv_cred_init(&cred);
        if (cn->has_username) st_buf_append(&cred.user, cn->username.ptr, cn->username.len);
        if (cn->has_password) st_buf_append(&cred.pass, cn->password.ptr, cn->password.len);
        const char *msg = NULL;
        st_slice db = st_slice_cstr(s->opts.mqtt_database ? s->opts.mqtt_database : "mqtt");
        int rc = srv_auth_allow(s, &cred, "write", db, &msg);
        srv_cred_fini(&cred);
        if (rc) {
            ev->connect_reply = MQTT_RC_BAD_AUTH;
            ST_WARN("mqtt", "client %s id=%.*s: refused: %s", c->peer_name, (int)ev->client_id.len,
                    ev->client_id.ptr, msg ? msg : "bad user name or password");
        } else {
            ST_DEBUG("mqtt", "client %s connected id=%.*s version=%u keep_alive=%us", c->peer_name,
                     (int)ev->client_id.len, ev->client_id.ptr, ev->version, ev->keep_alive_s);
        }
        return 0;
    }
    case MQTT_EV_PUBLISH: {
        const mqtt_publish *pb = &ev->pkt->u.publish;
        if (conn_spb(c, ev->topic) != 0) return ST_ENOMEM;
        return mqtt_srv_message(ml->loop, &c->peer, c->spb, ev->version, ev->topic, pb->payload.ptr,
                                pb->payload.len, pb->qos ? pb->packet_id : 0, NULL, 0);
    }
    case MQTT_EV_SUBSCRIBE:
    case MQTT_EV_UNSUBSCRIBE:
        return 0;
    case MQTT_EV_DISCONNECT:
        if (!ev->will_kept) c->said_goodbye = 1;
        c->close_after_write = 1;
        return 0;
    case MQTT_EV_ERROR:
        atomic_fetch_add_explicit(&s->counters.mqtt_protocol_errors, 1, memory_order_relaxed);
        ST_WARN("mqtt", "client %s: %s (%s, reason 0x%02x); closing", c->peer_name,
                ev->detail ? ev->detail : "protocol error", st_strerror(ev->err), ev->reason);
        c->close_after_write = 1;
        return 0;
    }
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    mq_conn *c = h->data;
    *buf = uv_buf_init(c->rbuf, READ_BYTES);
}

static void conn_pause(mq_conn *c)
{
    if (c->reading) { uv_read_stop((uv_stream_t *)&c->tcp); c->reading = 0; }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    mq_conn *c = st->data;
    if (c->closing) return;
    if (n < 0) { conn_close(c); return; }
    if (n == 0) return;
    mqtt_loop *ml = c->ml;
    atomic_fetch_add_explicit(&ml_srv(ml)->counters.bytes_received, (uint64_t)n, memory_order_relaxed);
    int rc = mqtt_session_feed(c->sess, c->rbuf, (size_t)n, now_ms(), on_event, c);
    if (rc == ST_ENOMEM) {
        ST_ERROR("mqtt", "client %s: out of memory; closing", c->peer_name);
        c->close_after_write = 1;
    } else if (rc == ST_ECLOSED) {
        c->close_after_write = 1;
    }
    if (c->close_after_write) conn_pause(c);
    conn_flush(c);
    if (!c->closing) arm_keepalive(c);
    if (ml->in_flight >= MAX_GROUPS_IN_FLIGHT && !ml->paused) {
        ml->paused = 1;
        for (mq_conn *x = ml->conns; x; x = x->next) conn_pause(x);
    }
}

static void resume_reading(mqtt_loop *ml)
{
    ml->paused = 0;
    for (mq_conn *c = ml->conns; c; c = c->next)
        if (!c->closing && !c->reading && !c->close_after_write) {
            if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
        }
}

static void on_connection(uv_stream_t *server, int status)
{
    srv_loop *l = server->data;
    srv *s = l->server;
    if (status < 0 || l->stopping) return;
    mqtt_loop *ml = l->mqtt;
    mq_conn *c = st_calloc(1, sizeof *c);
    char *rbuf = st_malloc(READ_BYTES);
    mqtt_session_opts so;
    memset(&so, 0, sizeof so);
    so.max_packet_bytes = s->opts.mqtt_max_packet_bytes;
    so.receive_max = 65535;
    so.topic_alias_max = 64;
    so.keepalive_max_s = 0;
    so.max_qos = 2;
    so.conn_id = ((uint64_t)l->index << 48) | ++ml->next_conn_id;
    if (!c || !rbuf || mqtt_session_create(&so, &c->sess) != 0) {
        st_free(rbuf);
        if (c) mqtt_session_destroy(c->sess);
        st_free(c);
        uv_tcp_t tmp; /* accept and drop, so the backlog does not spin */
        uv_tcp_init(&l->uv, &tmp);
        if (uv_accept(server, (uv_stream_t *)&tmp) == 0) ST_ERROR("mqtt", "out of memory: connection refused");
        uv_close((uv_handle_t *)&tmp, NULL);
        uv_run(&l->uv, UV_RUN_NOWAIT);
        return;
    }
    c->rbuf = rbuf;
    c->ml = ml;
    c->peer.on_ack = peer_on_ack;
    c->peer.flush = peer_flush;
    c->peer.unref = peer_unref;
    st_buf_init(&c->wbuf);
    uv_tcp_init(&l->uv, &c->tcp);
    uv_timer_init(&l->uv, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    c->next = ml->conns;
    if (c->next) c->next->prev = c;
    ml->conns = c;
    l->conns++;
    atomic_fetch_add_explicit(&s->counters.connections_open, 1, memory_order_relaxed);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) { conn_close(c); return; }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    snprintf(c->peer_name, sizeof c->peer_name, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
        char h[INET_ADDRSTRLEN];
        uv_ip4_name((struct sockaddr_in *)&ss, h, sizeof h);
        snprintf(c->peer_name, sizeof c->peer_name, "%s:%d", h, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
    uint64_t open = atomic_load_explicit(&s->counters.connections_open, memory_order_relaxed);
    if (s->opts.max_connections && open > s->opts.max_connections) {
        atomic_fetch_add_explicit(&s->counters.connections_refused, 1, memory_order_relaxed);
        ST_WARN("mqtt", "client %s: refused: --max-connections reached", c->peer_name);
        conn_close(c);
        return;
    }
    atomic_fetch_add_explicit(&s->counters.mqtt_connections, 1, memory_order_relaxed);
    uv_tcp_nodelay(&c->tcp, 1);
    if (!ml->paused && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
    c->connect_deadline_ms = now_ms() + CONNECT_TIMEOUT_MS;
    arm_keepalive(c);
}

/* ---- loop lifecycle ---- */

int mqtt_srv_loop_init(srv_loop *l)
{
    if (l->mqtt) return 0;
    mqtt_loop *ml = st_calloc(1, sizeof *ml);
    if (ml) lpstor_init(&ml->adapt);
    if (!ml) return ST_ENOMEM;
    ml->loop = l;
    st_arena_init(&ml->arena, 64 * 1024);
    uv_check_init(&l->uv, &ml->check);
    ml->check.data = ml;
    uv_check_start(&ml->check, on_check);
    uv_unref((uv_handle_t *)&ml->check);
    ml->check_open = 1;
    l->mqtt = ml;
    return 0;
}

int mqtt_srv_loop_start(srv_loop *l, int fd)
{
    int rc = mqtt_srv_loop_init(l);
    if (rc) { close(fd); return rc; }
    uv_tcp_init(&l->uv, &l->mqtt_listener);
    l->mqtt_listener.data = l;
    uv_tcp_open(&l->mqtt_listener, fd);
    int uerr = uv_listen((uv_stream_t *)&l->mqtt_listener, 1024, on_connection);
    if (uerr) {
        ST_ERROR("mqtt", "listen: %s", uv_strerror(uerr));
        uv_close((uv_handle_t *)&l->mqtt_listener, NULL);
        return ST_EBUSY;
    }
    l->mqtt_listening = 1;
    return 0;
}

void mqtt_srv_loop_stopping(srv_loop *l)
{
    if (l->mqtt_listening) {
        uv_close((uv_handle_t *)&l->mqtt_listener, NULL);
        l->mqtt_listening = 0;
    }
    mqtt_loop *ml = l->mqtt;
    if (!ml) return;
    group_submit(ml);
    for (mq_conn *c = ml->conns; c; c = c->next) {
        if (c->closing) continue;
        conn_pause(c);
        if (mqtt_session_connected(c->sess)) mqtt_session_disconnect(c->sess, MQTT_RC_SHUTTING_DOWN);
        c->close_after_write = 1;
        /* Owed acks are sent when their group completes (on_ack skips a
         * closed connection, so wait for them before closing). */
        if (c->peer.refs == 0) conn_flush(c);
    }
}

void mqtt_srv_loop_close(srv_loop *l)
{
    mqtt_loop *ml = l->mqtt;
    if (!ml || !ml->check_open) return;
    /* Connections that waited for their acks: close them now. */
    for (mq_conn *c = ml->conns; c; c = c->next)
        if (!c->closing && c->peer.refs == 0 && c->close_after_write) conn_flush(c);
    if (l->conns || l->busy) return;
    ml->check_open = 0;
    uv_close((uv_handle_t *)&ml->check, NULL);
}

void mqtt_srv_loop_free(srv_loop *l)
{
    mqtt_loop *ml = l->mqtt;
    if (!ml) return;
    group_free(ml->open);
    while (ml->head) { mq_group *g = ml->head; ml->head = g->next; group_free(g); }
    while (ml->free_list) { mq_group *g = ml->free_list; ml->free_list = g->next; group_free(g); }
    st_arena_fini(&ml->arena);
    lpstor_fini(&ml->adapt);
    st_free(ml);
    l->mqtt = NULL;
}
