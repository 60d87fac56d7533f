/*
 * server/mqtt_bridge.c — stratad as a client of an external broker (see
 * mqtt_bridge.h). Owns its socket, timer, resolver request, buffers, the
 * Sparkplug state and the packet-id table. Loop thread only (its loop).
 *
 * Invariants:
 *  1. CONNECT always has clean session = 0 and the same client id (given,
 *     or generated once and kept in the catalog by main.c), and every
 *     filter is subscribed with QoS 1: the broker keeps the session and
 *     queues QoS 1 messages while stratad is down, and delivers them when
 *     it reconnects.
 *  2. A PUBLISH is acknowledged (PUBACK) only from on_ack with status 0:
 *     its points are in the WAL. A failed write acknowledges nothing and
 *     drops the connection, so the broker redelivers.
 *  3. An ack is sent only on the connection the PUBLISH arrived on:
 *     pid_gen[packet id] holds the connection generation that awaits it;
 *     after a reconnect the broker may reuse the id for another message,
 *     and the old ack is dropped (the broker redelivers the old message:
 *     delivery is at least once, duplicates carry the same timestamps
 *     when the payload has them, and the last write wins).
 *  4. Reconnects back off from 100 ms doubling to 30 s, reset by a
 *     successful CONNACK; the loop never blocks (names resolve through
 *     uv_getaddrinfo).
 *  5. While the bridge exists it holds one l->busy count, released when
 *     its handles have closed after mqtt_bridge_stop; groups that still
 *     refer to it hold the loop open too, so it is freed only after the
 *     loop thread ended.
 */
#include "server/mqtt_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "ingest/mqtt.h"
#include "ingest/sparkplug.h"
#include "server/mqtt_srv.h"

enum {
    KEEPALIVE_S = 30,
    TICK_MS = 1000,
    BACKOFF_MIN_MS = 100,
    BACKOFF_MAX_MS = 30000,
    READ_BYTES = 64 * 1024,
    REBIRTH_EVERY_MS = 10000,
};

enum bstate { B_IDLE = 0, B_RESOLVING, B_CONNECTING, B_WAIT_CONNACK, B_UP };

struct mqtt_bridge {
    mqtt_peer peer;              /* first: group entries point here */
    srv *s;                      /* borrowed */
    srv_loop *loop;              /* borrowed */
    mqtt_bridge_url url;
    char *client_id;             /* owned */
    char **topics;               /* borrowed from s->opts */
    size_t ntopics;
    uv_tcp_t tcp;
    int tcp_open;                /* tcp initialised and not yet closed */
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    uv_timer_t timer;
    uv_write_t wreq;
    int state, stopping, handles, writing, busy_held;
    uint32_t gen;                /* connection generation (starts at 1) */
    uint32_t *pid_gen;           /* owned, 65536: generation awaiting the ack */
    st_buf in, out, wbuf;
    char *rbuf;                  /* owned, READ_BYTES */
    struct spb_state *spb;       /* owned */
    int64_t backoff_ms, next_try_ms, last_rx_ms, last_tx_ms;
    uint16_t next_pid;
    char last_rebirth[256];
    int64_t last_rebirth_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- URL ---- */

int mqtt_bridge_parse_url(const char *url, mqtt_bridge_url *out, char *err, size_t esz)
{
    mqtt_bridge_url u;
    memset(&u, 0, sizeof u);
    u.port = 1883;
    const char *p = url;
    if (strncmp(p, "mqtt://", 7) == 0) p += 7;
    else if (strncmp(p, "tcp://", 6) == 0) p += 6;
    else { snprintf(err, esz, "--mqtt-bridge: '%s' must start with mqtt://", url); return ST_EINVAL; }
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ul = colon ? (size_t)(colon - p) : (size_t)(at - p);
        if (ul >= sizeof u.user) { snprintf(err, esz, "--mqtt-bridge: user name too long"); return ST_EINVAL; }
        memcpy(u.user, p, ul);
        u.has_user = 1;
        if (colon) {
            size_t pl = (size_t)(at - colon - 1);
            if (pl >= sizeof u.pass) { snprintf(err, esz, "--mqtt-bridge: password too long"); return ST_EINVAL; }
            memcpy(u.pass, colon + 1, pl);
            u.has_pass = 1;
        }
        p = at + 1;
    }
    const char *hend;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend) { snprintf(err, esz, "--mqtt-bridge: missing ']' in '%s'", url); return ST_EINVAL; }
        p++;
    } else {
        hend = p + strcspn(p, ":/");
    }
    size_t hl = (size_t)(hend - p);
    if (hl == 0 || hl >= sizeof u.host) { snprintf(err, esz, "--mqtt-bridge: no host in '%s'", url); return ST_EINVAL; }
    memcpy(u.host, p, hl);
    const char *rest = *hend == ']' ? hend + 1 : hend;
    if (*rest == ':') {
        char *end;
        long port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || (*end && strcmp(end, "/") != 0) || port < 1 || port > 65535) {
            snprintf(err, esz, "--mqtt-bridge: bad port in '%s'", url);
            return ST_EINVAL;
        }
        u.port = (int)port;
    } else if (*rest && strcmp(rest, "/") != 0) {
        snprintf(err, esz, "--mqtt-bridge: unexpected '%s' in '%s'", rest, url);
        return ST_EINVAL;
    }
    *out = u;
    return 0;
}

/* ---- output ---- */

static void b_flush(mqtt_bridge *b);
static void b_drop(mqtt_bridge *b, const char *why);

static void on_write(uv_write_t *req, int status)
{
    mqtt_bridge *b = req->data;
    b->writing = 0;
    b->wbuf.len = 0;
    if (status < 0) { if (b->state >= B_WAIT_CONNACK) b_drop(b, uv_strerror(status)); return; }
    b_flush(b);
}

static void b_flush(mqtt_bridge *b)
{
    if (b->writing || b->out.len == 0 || b->state < B_WAIT_CONNACK) return;
    st_buf t = b->wbuf;
    b->wbuf = b->out;
    b->out = t;
    b->out.len = 0;
    uv_buf_t buf = uv_buf_init(b->wbuf.ptr, (unsigned)b->wbuf.len);
    b->wreq.data = b;
    if (uv_write(&b->wreq, (uv_stream_t *)&b->tcp, &buf, 1, on_write) != 0) { b_drop(b, "write failed"); return; }
    b->writing = 1;
    b->last_tx_ms = now_ms();
}

static int b_send(mqtt_bridge *b, const mqtt_packet *p)
{
    int rc = mqtt_encode(&b->out, MQTT_V311, p);
    if (rc) return rc;
    return 0;
}

/* ---- acks (mqtt_peer) ---- */

static void b_on_ack(mqtt_peer *p, uint16_t pid, uint8_t reason, int status)
{
    mqtt_bridge *b = (mqtt_bridge *)p;
    (void)reason; /* 3.1.1: a PUBACK has no reason; a refused payload is still consumed */
    if (b->pid_gen[pid] != b->gen || b->state != B_UP) return; /* from an earlier connection */
    b->pid_gen[pid] = 0;
    if (status) { b_drop(b, "the write failed: not acknowledged, the broker will redeliver"); return; }
    mqtt_packet a;
    memset(&a, 0, sizeof a);
    a.type = MQTT_PUBACK;
    a.u.ack.packet_id = pid;
    if (b_send(b, &a) != 0) b_drop(b, "out of memory");
}

static void b_peer_flush(mqtt_peer *p) { b_flush((mqtt_bridge *)p); }
static void b_unref(mqtt_peer *p) { (void)p; }

/* ---- connection ---- */

static void b_schedule(mqtt_bridge *b);

static void b_check_done(mqtt_bridge *b)
{
    if (b->stopping && b->handles == 0 && b->busy_held) {
        b->busy_held = 0;
        b->loop->busy--;
        srv_loop_maybe_done(b->loop);
    }
}

static void on_closed(uv_handle_t *h)
{
    mqtt_bridge *b = h->data;
    b->handles--;
    if (h == (uv_handle_t *)&b->tcp) {
        b->tcp_open = 0;
        if (!b->stopping) b_schedule(b);
    }
    b_check_done(b);
}

/* Lose the connection (or the attempt) and try again later. */
static void b_drop(mqtt_bridge *b, const char *why)
{
    if (!b->tcp_open || uv_is_closing((uv_handle_t *)&b->tcp)) return;
    if (!b->stopping)
        ST_WARN("mqtt-bridge", "%s:%d: %s; reconnecting in %lldms", b->url.host, b->url.port, why,
                (long long)b->backoff_ms);
    b->state = B_IDLE;
    b->gen++;
    b->in.len = 0;
    b->out.len = 0;
    uv_close((uv_handle_t *)&b->tcp, on_closed);
}

static void b_subscribe(mqtt_bridge *b)
{
    static const char *const all[] = { "#" };
    size_t n = b->ntopics ? b->ntopics : 1;
    mqtt_sub *subs = st_calloc(n, sizeof *subs);
    if (!subs) { b_drop(b, "out of memory"); return; }
    for (size_t i = 0; i < n; i++) {
        subs[i].filter = st_slice_cstr(b->ntopics ? b->topics[i] : all[0]);
        subs[i].options = 1; /* QoS 1 */
    }
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_SUBSCRIBE;
    if (++b->next_pid == 0) b->next_pid = 1;
    p.u.subscribe.packet_id = b->next_pid;
    p.u.subscribe.count = (uint32_t)n;
    p.u.subscribe.subs = subs;
    int rc = b_send(b, &p);
    st_free(subs);
    if (rc) b_drop(b, "cannot encode SUBSCRIBE");
}

static void b_publish_rebirth(mqtt_bridge *b, const char *topic)
{
    int64_t t = now_ms();
    if (strcmp(topic, b->last_rebirth) == 0 && t - b->last_rebirth_ms < REBIRTH_EVERY_MS) return;
    snprintf(b->last_rebirth, sizeof b->last_rebirth, "%s", topic);
    b->last_rebirth_ms = t;
    uint8_t payload[128];
    size_t len = 0;
    if (spb_rebirth_payload(st_now_ns() / 1000000, payload, sizeof payload, &len) != 0) return;
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    p.u.publish.qos = 0;
    p.u.publish.topic = st_slice_cstr(topic);
    p.u.publish.payload = (st_slice){ (const char *)payload, len };
    if (b_send(b, &p) == 0) ST_INFO("mqtt-bridge", "requested a Sparkplug rebirth on %s", topic);
}

static int b_packet(mqtt_bridge *b, const uint8_t *p, size_t n)
{
    mqtt_packet pk;
    uint8_t reason = 0;
    int rc = mqtt_decode(p, n, MQTT_V311, &pk, &reason);
    if (rc) { b_drop(b, "malformed packet from the broker"); return -1; }
    switch (pk.type) {
    case MQTT_CONNACK:
        if (b->state != B_WAIT_CONNACK) { b_drop(b, "unexpected CONNACK"); return -1; }
        if (pk.u.connack.code != 0) {
            char why[80];
            snprintf(why, sizeof why, "broker refused the connection (CONNACK return code %u)", pk.u.connack.code);
            b_drop(b, why);
            return -1;
        }
        b->state = B_UP;
        b->backoff_ms = BACKOFF_MIN_MS;
        atomic_fetch_add_explicit(&b->s->counters.mqtt_bridge_connects, 1, memory_order_relaxed);
        ST_INFO("mqtt-bridge", "connected to %s:%d client_id=%s session_present=%u", b->url.host, b->url.port,
                b->client_id, pk.u.connack.session_present);
        b_subscribe(b);
        return 0;
    case MQTT_SUBACK: {
        size_t granted = 0;
        for (size_t i = 0; i < pk.u.suback.codes.len; i++) {
            if ((uint8_t)pk.u.suback.codes.ptr[i] == 0x80)
                ST_ERROR("mqtt-bridge", "broker refused the subscription to %s",
                         b->ntopics > i ? b->topics[i] : "#");
            else granted++;
        }
        ST_INFO("mqtt-bridge", "subscribed filters=%zu", granted);
        return 0;
    }
    case MQTT_PUBLISH: {
        const mqtt_publish *pb = &pk.u.publish;
        if (b->state != B_UP) { b_drop(b, "PUBLISH before CONNACK"); return -1; }
        atomic_fetch_add_explicit(&b->s->counters.mqtt_bridge_messages, 1, memory_order_relaxed);
        if (pb->qos == 2) { b_drop(b, "QoS 2 PUBLISH on a QoS 1 subscription"); return -1; }
        uint16_t pid = pb->qos ? pb->packet_id : 0;
        if (pid) b->pid_gen[pid] = b->gen;
        char rebirth[256];
        rc = mqtt_srv_message(b->loop, &b->peer, b->spb, MQTT_V311, pb->topic, pb->payload.ptr, pb->payload.len,
                              pid, rebirth, sizeof rebirth);
        if (rc) { if (pid) b->pid_gen[pid] = 0; b_drop(b, "out of memory"); return -1; }
        if (rebirth[0]) b_publish_rebirth(b, rebirth);
        return 0;
    }
    case MQTT_PINGRESP:
    case MQTT_UNSUBACK:
        return 0;
    default:
        b_drop(b, "unexpected packet from the broker");
        return -1;
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    mqtt_bridge *b = h->data;
    *buf = uv_buf_init(b->rbuf, READ_BYTES);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    mqtt_bridge *b = st->data;
    if (n < 0) { b_drop(b, n == UV_EOF ? "connection closed by the broker" : uv_strerror((int)n)); return; }
    if (n == 0) return;
    b->last_rx_ms = now_ms();
    if (st_buf_append(&b->in, b->rbuf, (size_t)n) != 0) { b_drop(b, "out of memory"); return; }
    size_t off = 0;
    uint32_t maxp = b->s->opts.mqtt_max_packet_bytes ? b->s->opts.mqtt_max_packet_bytes : (1u << 20);
    while (off < b->in.len) {
        size_t hdr;
        uint32_t rem;
        const uint8_t *p = (const uint8_t *)b->in.ptr + off;
        size_t avail = b->in.len - off;
        int rc = mqtt_frame(p, avail, &hdr, &rem);
        if (rc == ST_EAGAIN) break;
        if (rc) { b_drop(b, "malformed packet from the broker"); return; }
        if ((uint64_t)hdr + rem > maxp) { b_drop(b, "packet larger than --mqtt-max-packet-bytes"); return; }
        if (avail < hdr + rem) break;
        if (b_packet(b, p, hdr + rem) != 0) return;
        off += hdr + rem;
    }
    if (off) {
        memmove(b->in.ptr, b->in.ptr + off, b->in.len - off);
        b->in.len -= off;
    }
    b_flush(b);
}

static void on_connect(uv_connect_t *req, int status)
{
    mqtt_bridge *b = req->data;
    if (b->stopping) return;
    if (status < 0) { b_drop(b, uv_strerror(status)); return; }
    b->state = B_WAIT_CONNACK;
    b->last_rx_ms = b->last_tx_ms = now_ms();
    uv_tcp_nodelay(&b->tcp, 1);
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_CONNECT;
    mqtt_connect *c = &p.u.connect;
    c->version = MQTT_V311;
    c->clean = 0;
    c->keep_alive_s = KEEPALIVE_S;
    c->client_id = st_slice_cstr(b->client_id);
    if (b->url.has_user) { c->has_username = 1; c->username = st_slice_cstr(b->url.user); }
    if (b->url.has_pass) { c->has_password = 1; c->password = st_slice_cstr(b->url.pass); }
    if (b_send(b, &p) != 0) { b_drop(b, "cannot encode CONNECT"); return; }
    if (uv_read_start((uv_stream_t *)&b->tcp, on_alloc, on_read) != 0) { b_drop(b, "read failed"); return; }
    b_flush(b);
}

static void b_connect_addr(mqtt_bridge *b, const struct sockaddr *sa)
{
    if (uv_tcp_init(&b->loop->uv, &b->tcp) != 0) { b_schedule(b); return; }
    b->tcp.data = b;
    b->tcp_open = 1;
    b->handles++;
    b->state = B_CONNECTING;
    b->creq.data = b;
    int rc = uv_tcp_connect(&b->creq, &b->tcp, sa, on_connect);
    if (rc) b_drop(b, uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    mqtt_bridge *b = req->data;
    b->handles--;
    if (b->stopping) {
        uv_freeaddrinfo(res);
        b_check_done(b);
        return;
    }
    if (status < 0 || !res) {
        ST_WARN("mqtt-bridge", "cannot resolve %s: %s; retrying in %lldms", b->url.host,
                uv_strerror(status), (long long)b->backoff_ms);
        uv_freeaddrinfo(res);
        b->state = B_IDLE;
        b_schedule(b);
        return;
    }
    b_connect_addr(b, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void b_try(mqtt_bridge *b)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    const char *h = strcmp(b->url.host, "localhost") == 0 ? "127.0.0.1" : b->url.host;
    if (uv_ip4_addr(h, b->url.port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(h, b->url.port, (struct sockaddr_in6 *)&ss) == 0) {
        b_connect_addr(b, (struct sockaddr *)&ss);
        return;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", b->url.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    b->gai.data = b;
    b->state = B_RESOLVING;
    if (uv_getaddrinfo(&b->loop->uv, &b->gai, on_resolved, b->url.host, port, &hints) == 0) b->handles++;
    else { b->state = B_IDLE; b_schedule(b); }
}

/* Next attempt after the back-off. */
static void b_schedule(mqtt_bridge *b)
{
    b->next_try_ms = now_ms() + b->backoff_ms;
    b->backoff_ms = b->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff_ms * 2;
}

static void on_tick(uv_timer_t *t)
{
    mqtt_bridge *b = t->data;
    if (b->stopping) return;
    int64_t now = now_ms();
    if (b->state == B_IDLE && !b->tcp_open && now >= b->next_try_ms) { b_try(b); return; }
    if (b->state == B_CONNECTING || b->state == B_WAIT_CONNACK) {
        if (b->state == B_WAIT_CONNACK && now - b->last_rx_ms > KEEPALIVE_S * 1000) b_drop(b, "no CONNACK");
        return;
    }
    if (b->state != B_UP) return;
    if (now - b->last_rx_ms > KEEPALIVE_S * 1500) { b_drop(b, "broker silent past the keep-alive"); return; }
    if (now - b->last_tx_ms >= KEEPALIVE_S * 1000 / 2) {
        mqtt_packet p;
        memset(&p, 0, sizeof p);
        p.type = MQTT_PINGREQ;
        if (b_send(b, &p) == 0) b_flush(b);
    }
}

/* ---- lifecycle ---- */

int mqtt_bridge_create(srv *s, srv_loop *l, mqtt_bridge **out)
{
    mqtt_bridge *b = st_calloc(1, sizeof *b);
    if (!b) return ST_ENOMEM;
    char err[300];
    if (mqtt_bridge_parse_url(s->opts.mqtt_bridge, &b->url, err, sizeof err) != 0) {
        ST_ERROR("mqtt-bridge", "%s", err);
        st_free(b);
        return ST_EINVAL;
    }
    const char *cid = s->opts.mqtt_bridge_client_id && *s->opts.mqtt_bridge_client_id
                          ? s->opts.mqtt_bridge_client_id : "strata-bridge";
    b->client_id = st_malloc(strlen(cid) + 1);
    b->pid_gen = st_calloc(65536, sizeof *b->pid_gen);
    b->rbuf = st_malloc(READ_BYTES);
    if (!b->client_id || !b->pid_gen || !b->rbuf || spb_state_create(NULL, &b->spb) != 0) {
        mqtt_bridge_free(b);
        return ST_ENOMEM;
    }
    memcpy(b->client_id, cid, strlen(cid) + 1);
    b->s = s;
    b->loop = l;
    b->topics = (char **)s->opts.mqtt_bridge_topics;
    b->ntopics = s->opts.mqtt_bridge_topic_count;
    b->peer.on_ack = b_on_ack;
    b->peer.flush = b_peer_flush;
    b->peer.unref = b_unref;
    b->gen = 1;
    b->backoff_ms = BACKOFF_MIN_MS;
    st_buf_init(&b->in);
    st_buf_init(&b->out);
    st_buf_init(&b->wbuf);
    uv_timer_init(&l->uv, &b->timer);
    b->timer.data = b;
    b->handles = 1;
    uv_timer_start(&b->timer, on_tick, 0, TICK_MS);
    l->busy++;
    b->busy_held = 1;
    ST_INFO("mqtt-bridge", "bridging %s:%d client_id=%s topics=%zu", b->url.host, b->url.port, b->client_id,
            b->ntopics ? b->ntopics : (size_t)1);
    *out = b;
    return 0;
}

srv_loop *mqtt_bridge_loop(const mqtt_bridge *b) { return b->loop; }

void mqtt_bridge_stop(mqtt_bridge *b)
{
    if (b->stopping) return;
    b->stopping = 1;
    if (b->state == B_UP) {
        /* A normal DISCONNECT: the broker keeps the session (clean = 0)
         * and queues what arrives until we are back. */
        mqtt_packet p;
        memset(&p, 0, sizeof p);
        p.type = MQTT_DISCONNECT;
        b_send(b, &p);
        b_flush(b);
    }
    if (b->tcp_open && !uv_is_closing((uv_handle_t *)&b->tcp)) {
        b->state = B_IDLE;
        b->gen++;
        uv_close((uv_handle_t *)&b->tcp, on_closed);
    }
    uv_close((uv_handle_t *)&b->timer, on_closed);
}

void mqtt_bridge_free(mqtt_bridge *b)
{
    if (!b) return;
    st_free(b->client_id);
    st_free(b->pid_gen);
    st_free(b->rbuf);
    st_buf_fini(&b->in);
    st_buf_fini(&b->out);
    st_buf_fini(&b->wbuf);
    spb_state_destroy(b->spb);
    st_free(b);
}
