/*
 * ingest/mqtt_session.c — the server side of one MQTT connection, without
 * I/O: bytes in -> events for the caller and reply bytes out.
 *
 * Owns: the input carry buffer (at most one partial packet, or what arrived
 * while a CONNECT decision was deferred), the output buffer the caller
 * drains, the in-flight table of QoS 1/2 packet ids, the topic-alias table,
 * a scratch buffer for SUBACK codes, and copies of the client id and will.
 * Called from the connection's I/O loop thread only; not thread-safe.
 *
 * Invariants:
 *  1. States go NEW -> (DEFER ->) CONNECTED -> CLOSED, or straight to
 *     CLOSED; nothing leaves CLOSED. Input is parsed only in NEW and
 *     CONNECTED; in DEFER it is kept (bounded by max_packet_bytes).
 *  2. In NEW the only packet accepted is CONNECT; any other first byte is a
 *     protocol error before its body arrives. In CONNECTED a CONNECT is a
 *     protocol error.
 *  3. No packet larger than max_packet_bytes is ever buffered: the size is
 *     checked as soon as the fixed header is complete, so the carry buffer
 *     never exceeds max_packet_bytes (DEFER: the same bound).
 *  4. Bytes are sent to a 5.0 client only after CONNACK; a 5.0 protocol
 *     error before CONNACK answers with a CONNACK reason code, after it
 *     with DISCONNECT. 3.1.1 errors send nothing (there is no error reply),
 *     except the CONNACK return codes of a refused CONNECT.
 *  5. A QoS 1/2 PUBLISH is delivered to the caller once per packet id: its
 *     id enters the in-flight table before the event, and a PUBLISH whose id
 *     is in the table is never delivered again. PUBACK/PUBREC is queued
 *     only from mqtt_session_ack (the caller's "durable" signal). A QoS 2 id
 *     stays (state RECEIVED) until PUBREL, which is answered with PUBCOMP;
 *     a duplicate QoS 2 PUBLISH in RECEIVED is answered with PUBREC again.
 *  6. For 5.0 clients the table never holds more than receive_max ids; the
 *     PUBLISH that would exceed it is a protocol error 0x93. For 3.1.1 the
 *     id space (65,535) bounds it.
 *  7. Events are delivered synchronously from feed; slices in an event are
 *     valid only during the callback. The table changes before the event,
 *     so an ack from inside the callback is allowed.
 *  8. A normal DISCONNECT discards the will (5.0: unless reason 0x04); a
 *     protocol error, keep-alive timeout or server disconnect keeps it for
 *     the caller to publish (mqtt_session_will).
 *  9. Any allocation failure closes the session (ST_ENOMEM), except in
 *     mqtt_session_ack, which leaves the state unchanged so it can retry.
 *
 * Crash story: nothing here is durable. A QoS 1/2 message whose ack was not
 * sent is re-sent by the client after reconnecting (clean session or not,
 * Strata keeps no session state), and the write path's last-write-wins
 * makes the duplicate harmless.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "ingest/mqtt.h"

enum sess_state { S_NEW, S_DEFER, S_CONNECTED, S_CLOSED };
enum pid_state { P_Q1 = 1, P_Q2, P_Q2_RECEIVED };

typedef struct pid_slot { uint16_t pid; uint8_t state; } pid_slot;
typedef struct alias_slot { char *ptr; uint16_t len, cap; } alias_slot;

struct mqtt_session {
    mqtt_session_opts o;
    enum sess_state state;
    uint8_t version;
    uint8_t has_will;
    uint8_t id_assigned;        /* for a deferred CONNACK */
    uint16_t client_keepalive_s;/* as the client asked */
    uint16_t keepalive_s;       /* effective */
    uint32_t session_expiry_s;
    int64_t last_rx_ms;
    st_buf in;                  /* owned: carry */
    st_buf out;                 /* owned: replies; [out_off, len) unsent */
    size_t out_off;
    st_buf scratch;             /* owned: SUBACK codes */
    pid_slot *tab;              /* owned: open addressing, pid 0 = empty */
    uint32_t tab_cap, tab_count;
    alias_slot *aliases;        /* owned: topic_alias_max + 1 slots, lazily */
    char *client_id;            /* owned */
    size_t client_id_len;
    char *will_mem;             /* owned: will topic + payload */
    mqtt_will will;
};

/* ---- in-flight table ---------------------------------------------------- */

static uint32_t pid_hash(uint16_t pid, uint32_t cap)
{
    uint32_t h = (uint32_t)pid * 2654435761u;
    return (h ^ (h >> 16)) & (cap - 1);
}

static pid_slot *tab_find(const mqtt_session *s, uint16_t pid)
{
    if (!s->tab_cap) return NULL;
    for (uint32_t i = pid_hash(pid, s->tab_cap);; i = (i + 1) & (s->tab_cap - 1)) {
        if (s->tab[i].pid == pid) return &s->tab[i];
        if (!s->tab[i].pid) return NULL;
    }
}

static void tab_place(pid_slot *tab, uint32_t cap, uint16_t pid, uint8_t st)
{
    uint32_t i = pid_hash(pid, cap);
    while (tab[i].pid) i = (i + 1) & (cap - 1);
    tab[i].pid = pid;
    tab[i].state = st;
}

/* 0 or ST_ENOMEM (table unchanged). pid must be absent. */
static int tab_insert(mqtt_session *s, uint16_t pid, uint8_t st)
{
    if ((uint64_t)(s->tab_count + 1) * 4 > (uint64_t)s->tab_cap * 3) {
        uint32_t cap = s->tab_cap ? s->tab_cap * 2 : 16;
        pid_slot *t = st_calloc(cap, sizeof *t);
        if (!t) return ST_ENOMEM;
        for (uint32_t i = 0; i < s->tab_cap; i++)
            if (s->tab[i].pid) tab_place(t, cap, s->tab[i].pid, s->tab[i].state);
        st_free(s->tab);
        s->tab = t;
        s->tab_cap = cap;
    }
    tab_place(s->tab, s->tab_cap, pid, st);
    s->tab_count++;
    return 0;
}

/* Backward-shift deletion: no tombstones. */
static void tab_remove(mqtt_session *s, pid_slot *slot)
{
    uint32_t mask = s->tab_cap - 1;
    uint32_t i = (uint32_t)(slot - s->tab);
    s->tab[i].pid = 0;
    for (uint32_t j = (i + 1) & mask; s->tab[j].pid; j = (j + 1) & mask) {
        uint32_t home = pid_hash(s->tab[j].pid, s->tab_cap);
        /* move j back to i if its home is not in the cyclic range (i, j] */
        int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            s->tab[i] = s->tab[j];
            s->tab[j].pid = 0;
            i = j;
        }
    }
    s->tab_count--;
}

/* ---- output ------------------------------------------------------------- */

static int emit(mqtt_session *s, const mqtt_packet *pk)
{
    return mqtt_encode(&s->out, s->version == MQTT_V5 ? MQTT_V5 : MQTT_V311, pk);
}

static int emit_ack(mqtt_session *s, uint8_t type, uint16_t pid, uint8_t reason)
{
    mqtt_packet pk;
    memset(&pk, 0, sizeof pk);
    pk.type = type;
    pk.u.ack.packet_id = pid;
    pk.u.ack.reason = s->version == MQTT_V5 ? reason : 0;
    return emit(s, &pk);
}

static int emit_disconnect(mqtt_session *s, uint8_t reason)
{
    if (s->version != MQTT_V5 || s->state != S_CONNECTED) return 0;
    mqtt_packet pk;
    memset(&pk, 0, sizeof pk);
    pk.type = MQTT_DISCONNECT;
    pk.u.reason.reason = reason;
    return emit(s, &pk);
}

static uint8_t v311_connack_code(int reason)
{
    switch (reason) {
    case 0: return MQTT_CONNACK_ACCEPTED;
    case MQTT_RC_BAD_VERSION: return MQTT_CONNACK_BAD_VERSION;
    case MQTT_RC_BAD_CLIENT_ID: return MQTT_CONNACK_ID_REJECTED;
    case MQTT_RC_BAD_AUTH: return MQTT_CONNACK_BAD_AUTH;
    case MQTT_RC_NOT_AUTHORIZED: case 0x8A: return MQTT_CONNACK_NOT_AUTHORIZED;
    default: return MQTT_CONNACK_UNAVAILABLE;
    }
}

/* A refusing CONNACK (version already set). */
static int emit_connack_refusal(mqtt_session *s, int reason)
{
    mqtt_packet pk;
    memset(&pk, 0, sizeof pk);
    pk.type = MQTT_CONNACK;
    pk.u.connack.code = s->version == MQTT_V5 ? (uint8_t)reason : v311_connack_code(reason);
    return emit(s, &pk);
}

/* ---- errors ------------------------------------------------------------- */

/* Close on a protocol error: queue what may be sent, report, keep the will. */
static int fail(mqtt_session *s, int err, uint8_t reason, const char *detail,
                mqtt_event_cb cb, void *ctx)
{
    (void)emit_disconnect(s, reason); /* best effort: we are closing anyway */
    s->state = S_CLOSED;
    mqtt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = MQTT_EV_ERROR;
    ev.version = s->version;
    ev.err = err;
    ev.reason = reason;
    ev.detail = detail;
    return cb ? cb(ctx, &ev) : 0;
}

static int fail_nomem(mqtt_session *s)
{
    s->state = S_CLOSED;
    return ST_ENOMEM;
}

/* ---- CONNECT ------------------------------------------------------------ */

static int save_connect(mqtt_session *s, const mqtt_connect *c, st_slice id)
{
    s->client_id = st_malloc(id.len + 1);
    if (!s->client_id) return ST_ENOMEM;
    if (id.len) memcpy(s->client_id, id.ptr, id.len);
    s->client_id[id.len] = 0;
    s->client_id_len = id.len;
    if (c->has_will) {
        size_t n = c->will_topic.len + c->will_payload.len;
        s->will_mem = st_malloc(n ? n : 1);
        if (!s->will_mem) return ST_ENOMEM;
        memcpy(s->will_mem, c->will_topic.ptr, c->will_topic.len);
        if (c->will_payload.len)
            memcpy(s->will_mem + c->will_topic.len, c->will_payload.ptr, c->will_payload.len);
        s->will.topic = (st_slice){ s->will_mem, c->will_topic.len };
        s->will.payload = (st_slice){ s->will_mem + c->will_topic.len, c->will_payload.len };
        s->will.qos = c->will_qos;
        s->will.retain = c->will_retain;
        s->will.delay_s = c->will_props.will_delay_s;
        s->has_will = 1;
    }
    return 0;
}

static int send_connack(mqtt_session *s, int reply, uint16_t client_keepalive, int assigned)
{
    if (reply) {
        s->has_will = 0; /* a refused connection never publishes its will */
        int rc = emit_connack_refusal(s, reply);
        s->state = S_CLOSED;
        return rc;
    }
    mqtt_packet pk;
    memset(&pk, 0, sizeof pk);
    pk.type = MQTT_CONNACK;
    if (s->version == MQTT_V5) {
        mqtt_props *pr = &pk.u.connack.props;
        if (s->o.receive_max != 65535) { MQTT_SET(pr, MQTT_P_RECEIVE_MAX); pr->receive_max = s->o.receive_max; }
        MQTT_SET(pr, MQTT_P_MAX_PACKET_SIZE);
        pr->max_packet_size = s->o.max_packet_bytes;
        if (s->o.topic_alias_max) { MQTT_SET(pr, MQTT_P_TOPIC_ALIAS_MAX); pr->topic_alias_max = s->o.topic_alias_max; }
        if (assigned) {
            MQTT_SET(pr, MQTT_P_ASSIGNED_CLIENT_ID);
            pr->assigned_client_id = (st_slice){ s->client_id, s->client_id_len };
        }
        if (s->keepalive_s != client_keepalive) {
            MQTT_SET(pr, MQTT_P_SERVER_KEEP_ALIVE);
            pr->server_keep_alive_s = s->keepalive_s;
        }
        if (s->o.max_qos < 2) { MQTT_SET(pr, MQTT_P_MAX_QOS); pr->max_qos = s->o.max_qos; }
        MQTT_SET(pr, MQTT_P_SHARED_SUB_AVAILABLE);
        pr->shared_sub_available = 0;
    }
    int rc = emit(s, &pk);
    if (rc) return rc;
    s->state = S_CONNECTED;
    return 0;
}

static uint16_t effective_keepalive(const mqtt_session *s, uint16_t k)
{
    uint16_t lo = s->o.keepalive_min_s, hi = s->o.keepalive_max_s;
    if (k == 0) return hi;
    if (lo && k < lo) k = lo;
    /* A 3.1.1 client cannot be told a shorter keep-alive: only 5.0 gets the cap. */
    if (hi && k > hi && s->version == MQTT_V5) k = hi;
    return k;
}

/* Does a CONNECT that failed to decode say level 5? (Then CONNACK may carry the reason.) */
static int looks_v5(const uint8_t *p, size_t n, size_t hdr)
{
    static const uint8_t pre[] = { 0, 4, 'M', 'Q', 'T', 'T', 5 };
    return n >= hdr + sizeof pre && memcmp(p + hdr, pre, sizeof pre) == 0;
}

static int on_connect(mqtt_session *s, const uint8_t *p, size_t n, size_t hdr,
                      mqtt_event_cb cb, void *ctx)
{
    mqtt_packet pk;
    uint8_t reason = 0;
    int rc = mqtt_decode(p, n, 0, &pk, &reason);
    if (rc == ST_EUNSUPPORTED) {
        s->version = MQTT_V311; /* answer in the 3.1.1 format: rc 1 */
        if (emit_connack_refusal(s, MQTT_RC_BAD_VERSION)) return fail_nomem(s);
        s->version = 0;
        return fail(s, rc, reason, "unsupported protocol name or level", cb, ctx);
    }
    if (rc) {
        if (looks_v5(p, n, hdr)) {
            s->version = MQTT_V5;
            if (emit_connack_refusal(s, reason)) return fail_nomem(s);
        }
        return fail(s, rc, reason, "malformed CONNECT", cb, ctx);
    }
    const mqtt_connect *c = &pk.u.connect;
    s->version = c->version;
    int v5 = s->version == MQTT_V5;
    if (v5 && MQTT_HAS(&c->props, MQTT_P_AUTH_METHOD)) {
        if (emit_connack_refusal(s, MQTT_RC_BAD_AUTH_METHOD)) return fail_nomem(s);
        return fail(s, ST_EUNSUPPORTED, MQTT_RC_BAD_AUTH_METHOD, "enhanced authentication not supported", cb, ctx);
    }
    if (c->client_id.len == 0 && !v5 && !c->clean) {
        if (emit_connack_refusal(s, MQTT_RC_BAD_CLIENT_ID)) return fail_nomem(s);
        return fail(s, ST_EPROTO, MQTT_RC_BAD_CLIENT_ID, "empty client id without clean session", cb, ctx);
    }
    if (s->o.require_credentials && (!c->has_username || !c->has_password)) {
        if (emit_connack_refusal(s, MQTT_RC_BAD_AUTH)) return fail_nomem(s);
        return fail(s, ST_EAUTH, MQTT_RC_BAD_AUTH, "username and password required", cb, ctx);
    }
    if (v5 && c->has_will && c->will_qos > s->o.max_qos) {
        if (emit_connack_refusal(s, MQTT_RC_QOS_UNSUPPORTED)) return fail_nomem(s);
        return fail(s, ST_EPROTO, MQTT_RC_QOS_UNSUPPORTED, "will QoS above the maximum", cb, ctx);
    }
    char idbuf[32];
    st_slice id = c->client_id;
    int assigned = 0;
    if (!id.len) {
        int k = snprintf(idbuf, sizeof idbuf, "strata-%016" PRIx64, s->o.conn_id);
        id = (st_slice){ idbuf, (size_t)k };
        assigned = 1;
    }
    if (save_connect(s, c, id)) return fail_nomem(s);
    s->keepalive_s = effective_keepalive(s, c->keep_alive_s);
    s->session_expiry_s = c->props.session_expiry_s;

    mqtt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = MQTT_EV_CONNECT;
    ev.version = s->version;
    ev.pkt = &pk;
    ev.client_id = (st_slice){ s->client_id, s->client_id_len };
    ev.client_id_assigned = (uint8_t)assigned;
    ev.keep_alive_s = s->keepalive_s;
    ev.session_expiry_s = s->session_expiry_s;
    ev.connect_reply = 0;
    rc = cb ? cb(ctx, &ev) : 0;
    if (s->state != S_NEW) return rc; /* the callback answered through the API */
    if (ev.connect_reply == MQTT_CONNECT_DEFER) {
        s->state = S_DEFER;
        s->client_keepalive_s = c->keep_alive_s;
        s->id_assigned = (uint8_t)assigned;
        return rc;
    }
    if (send_connack(s, ev.connect_reply, c->keep_alive_s, assigned)) return fail_nomem(s);
    return rc;
}

/* ---- packets after CONNECT ---------------------------------------------- */

/* Resolve (and record) a 5.0 topic alias. 0, ST_ENOMEM or ST_EPROTO (*reason). */
static int resolve_alias(mqtt_session *s, const mqtt_publish *pb, st_slice *topic, uint8_t *reason)
{
    *topic = pb->topic;
    if (!MQTT_HAS(&pb->props, MQTT_P_TOPIC_ALIAS)) return 0;
    uint16_t a = pb->props.topic_alias;
    if (a == 0 || a > s->o.topic_alias_max) { *reason = MQTT_RC_ALIAS_INVALID; return ST_EPROTO; }
    if (!s->aliases) {
        s->aliases = st_calloc((size_t)s->o.topic_alias_max + 1, sizeof *s->aliases);
        if (!s->aliases) return ST_ENOMEM;
    }
    alias_slot *sl = &s->aliases[a];
    if (pb->topic.len) {
        if (sl->cap < pb->topic.len) {
            char *np = st_realloc(sl->ptr, pb->topic.len);
            if (!np) return ST_ENOMEM;
            sl->ptr = np;
            sl->cap = (uint16_t)pb->topic.len;
        }
        memcpy(sl->ptr, pb->topic.ptr, pb->topic.len);
        sl->len = (uint16_t)pb->topic.len;
        return 0;
    }
    if (!sl->len) { *reason = MQTT_RC_PROTOCOL; return ST_EPROTO; }
    *topic = (st_slice){ sl->ptr, sl->len };
    return 0;
}

static int on_publish(mqtt_session *s, const mqtt_packet *pk, mqtt_event_cb cb, void *ctx)
{
    const mqtt_publish *pb = &pk->u.publish;
    if (pb->qos > s->o.max_qos)
        return fail(s, ST_EPROTO, MQTT_RC_QOS_UNSUPPORTED, "PUBLISH QoS above the maximum", cb, ctx);
    st_slice topic;
    uint8_t reason = 0;
    int rc = resolve_alias(s, pb, &topic, &reason);
    if (rc == ST_ENOMEM) return fail_nomem(s);
    if (rc) return fail(s, rc, reason, "bad topic alias", cb, ctx);
    if (pb->qos) {
        pid_slot *sl = tab_find(s, pb->packet_id);
        if (sl) {
            if (sl->state == P_Q2_RECEIVED && pb->qos == 2) {
                /* already durable: answer PUBREC again, do not deliver twice */
                if (emit_ack(s, MQTT_PUBREC, pb->packet_id, 0)) return fail_nomem(s);
                return 0;
            }
            if (sl->state == (pb->qos == 1 ? P_Q1 : P_Q2))
                return 0; /* a retransmission of one we are still writing: its ack covers it */
            return fail(s, ST_EPROTO, MQTT_RC_PID_IN_USE, "packet identifier in use", cb, ctx);
        }
        if (s->version == MQTT_V5 && s->tab_count >= s->o.receive_max)
            return fail(s, ST_ELIMIT, MQTT_RC_RECEIVE_MAX, "receive maximum exceeded", cb, ctx);
        if (tab_insert(s, pb->packet_id, pb->qos == 1 ? P_Q1 : P_Q2)) return fail_nomem(s);
    }
    mqtt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = MQTT_EV_PUBLISH;
    ev.version = s->version;
    ev.pkt = pk;
    ev.topic = topic;
    return cb ? cb(ctx, &ev) : 0;
}

static int on_pubrel(mqtt_session *s, const mqtt_packet *pk, mqtt_event_cb cb, void *ctx)
{
    uint16_t pid = pk->u.ack.packet_id;
    pid_slot *sl = tab_find(s, pid);
    if (!sl) {
        if (emit_ack(s, MQTT_PUBCOMP, pid, MQTT_RC_PID_NOT_FOUND)) return fail_nomem(s);
        return 0;
    }
    if (sl->state != P_Q2_RECEIVED)
        return fail(s, ST_EPROTO, MQTT_RC_PROTOCOL, "PUBREL before PUBREC", cb, ctx);
    if (emit_ack(s, MQTT_PUBCOMP, pid, 0)) return fail_nomem(s);
    tab_remove(s, sl);
    return 0;
}

static int on_subscribe(mqtt_session *s, const mqtt_packet *pk, mqtt_event_cb cb, void *ctx)
{
    int v5 = s->version == MQTT_V5;
    int unsub = pk->type == MQTT_UNSUBSCRIBE;
    st_buf_clear(&s->scratch);
    if (!unsub || v5) {
        if (st_buf_reserve(&s->scratch, pk->u.subscribe.count)) return fail_nomem(s);
        size_t off = 0;
        mqtt_sub sub;
        uint8_t maxq = s->o.max_qos < 1 ? s->o.max_qos : 1;
        while (mqtt_sub_next(pk, &off, &sub)) {
            uint8_t code;
            if (unsub) code = MQTT_RC_SUCCESS;
            else if (!mqtt_filter_valid(sub.filter)) code = v5 ? MQTT_RC_FILTER_INVALID : 0x80;
            else if (v5 && sub.filter.len >= 7 && memcmp(sub.filter.ptr, "$share/", 7) == 0)
                code = MQTT_RC_SHARED_UNSUPPORTED;
            else code = (sub.options & 3) < maxq ? (sub.options & 3) : maxq;
            s->scratch.ptr[s->scratch.len++] = (char)code;
        }
    }
    mqtt_packet ack;
    memset(&ack, 0, sizeof ack);
    ack.type = unsub ? MQTT_UNSUBACK : MQTT_SUBACK;
    ack.u.suback.packet_id = pk->u.subscribe.packet_id;
    ack.u.suback.codes = (st_slice){ s->scratch.ptr, s->scratch.len };
    if (emit(s, &ack)) return fail_nomem(s);
    mqtt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = unsub ? MQTT_EV_UNSUBSCRIBE : MQTT_EV_SUBSCRIBE;
    ev.version = s->version;
    ev.pkt = pk;
    return cb ? cb(ctx, &ev) : 0;
}

static int on_disconnect(mqtt_session *s, const mqtt_packet *pk, mqtt_event_cb cb, void *ctx)
{
    const mqtt_reason_pkt *d = &pk->u.reason;
    if (s->version == MQTT_V5 && MQTT_HAS(&d->props, MQTT_P_SESSION_EXPIRY)) {
        if (s->session_expiry_s == 0 && d->props.session_expiry_s != 0)
            return fail(s, ST_EPROTO, MQTT_RC_PROTOCOL, "session expiry set at DISCONNECT", cb, ctx);
        s->session_expiry_s = d->props.session_expiry_s;
    }
    int keep = s->version == MQTT_V5 && d->reason == MQTT_RC_DISCONNECT_WITH_WILL;
    if (!keep) s->has_will = 0;
    s->state = S_CLOSED;
    mqtt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = MQTT_EV_DISCONNECT;
    ev.version = s->version;
    ev.pkt = pk;
    ev.will_kept = (uint8_t)(keep && s->has_will);
    ev.session_expiry_s = s->session_expiry_s;
    ev.reason = d->reason;
    return cb ? cb(ctx, &ev) : 0;
}

/* One complete packet p[0..n) with a hdr-byte fixed header. */
static int on_packet(mqtt_session *s, const uint8_t *p, size_t n, size_t hdr,
                     mqtt_event_cb cb, void *ctx)
{
    if (s->state == S_NEW) return on_connect(s, p, n, hdr, cb, ctx);
    if ((p[0] >> 4) == MQTT_CONNECT)
        return fail(s, ST_EPROTO, MQTT_RC_PROTOCOL, "second CONNECT", cb, ctx);
    mqtt_packet pk;
    uint8_t reason = MQTT_RC_MALFORMED;
    int rc = mqtt_decode(p, n, s->version, &pk, &reason);
    if (rc) return fail(s, rc, reason, "malformed packet", cb, ctx);
    switch (pk.type) {
    case MQTT_PUBLISH: return on_publish(s, &pk, cb, ctx);
    case MQTT_PUBREL: return on_pubrel(s, &pk, cb, ctx);
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBCOMP:
        return 0; /* Strata never sends QoS>0 PUBLISH: nothing to settle */
    case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE: return on_subscribe(s, &pk, cb, ctx);
    case MQTT_PINGREQ: {
        mqtt_packet r;
        memset(&r, 0, sizeof r);
        r.type = MQTT_PINGRESP;
        if (emit(s, &r)) return fail_nomem(s);
        return 0;
    }
    case MQTT_DISCONNECT: return on_disconnect(s, &pk, cb, ctx);
    case MQTT_AUTH:
        return fail(s, ST_EUNSUPPORTED, MQTT_RC_BAD_AUTH_METHOD, "AUTH not supported", cb, ctx);
    default:
        return fail(s, ST_EPROTO, MQTT_RC_PROTOCOL, "server-to-client packet from a client", cb, ctx);
    }
}

/* Handle the complete packets at the start of p; *used = bytes consumed. Stops
 * at an incomplete packet or when the state no longer parses input. */
static int parse_from(mqtt_session *s, const uint8_t *p, size_t n, size_t *used,
                      int64_t now_ms, mqtt_event_cb cb, void *ctx)
{
    size_t off = 0;
    int rc = 0;
    while ((s->state == S_NEW || s->state == S_CONNECTED) && off < n) {
        if (s->state == S_NEW && (p[off] >> 4) != MQTT_CONNECT) {
            off = n;
            rc = fail(s, ST_EPROTO, MQTT_RC_PROTOCOL, "first packet is not CONNECT", cb, ctx);
            break;
        }
        size_t hdr;
        uint32_t rem;
        int fr = mqtt_frame(p + off, n - off, &hdr, &rem);
        if (fr == ST_EAGAIN) break;
        if (fr) {
            off = n;
            rc = fail(s, ST_EPROTO, MQTT_RC_MALFORMED, "remaining length longer than 4 bytes", cb, ctx);
            break;
        }
        if ((uint64_t)hdr + rem > s->o.max_packet_bytes) {
            off = n;
            rc = fail(s, ST_ETOOLARGE, MQTT_RC_TOO_LARGE, "packet larger than the maximum", cb, ctx);
            break;
        }
        if (n - off < hdr + rem) break;
        s->last_rx_ms = now_ms;
        rc = on_packet(s, p + off, hdr + rem, hdr, cb, ctx);
        off += hdr + rem;
        if (rc) break;
    }
    *used = off;
    return rc;
}

static void in_drop(mqtt_session *s, size_t n)
{
    if (n >= s->in.len) { st_buf_clear(&s->in); return; }
    memmove(s->in.ptr, s->in.ptr + n, s->in.len - n);
    s->in.len -= n;
}

/* Keep unparsed input. 0, ST_ENOMEM (closed) or the error event's result. */
static int stash(mqtt_session *s, const uint8_t *p, size_t n, mqtt_event_cb cb, void *ctx)
{
    if (!n || s->state == S_CLOSED) return 0;
    if (s->state == S_DEFER && s->in.len + n > s->o.max_packet_bytes)
        return fail(s, ST_ELIMIT, MQTT_RC_QUOTA, "too much input before CONNACK", cb, ctx);
    if (st_buf_append(&s->in, p, n)) return fail_nomem(s);
    return 0;
}

/* ---- public API --------------------------------------------------------- */

int mqtt_session_create(const mqtt_session_opts *opts, mqtt_session **out)
{
    mqtt_session *s = st_calloc(1, sizeof *s);
    if (!s) return ST_ENOMEM;
    if (opts) s->o = *opts;
    if (!s->o.max_packet_bytes) s->o.max_packet_bytes = 1u << 20;
    if (s->o.max_packet_bytes > MQTT_MAX_REMAINING + 5u) s->o.max_packet_bytes = MQTT_MAX_REMAINING + 5u;
    if (s->o.max_packet_bytes < 16) s->o.max_packet_bytes = 16;
    if (!s->o.receive_max) s->o.receive_max = 1024;
    if (!s->o.max_qos || s->o.max_qos > 2) s->o.max_qos = 2;
    st_buf_init(&s->in);
    st_buf_init(&s->out);
    st_buf_init(&s->scratch);
    s->state = S_NEW;
    *out = s;
    return 0;
}

void mqtt_session_destroy(mqtt_session *s)
{
    if (!s) return;
    st_buf_fini(&s->in);
    st_buf_fini(&s->out);
    st_buf_fini(&s->scratch);
    st_free(s->tab);
    if (s->aliases)
        for (uint32_t i = 0; i <= s->o.topic_alias_max; i++) st_free(s->aliases[i].ptr);
    st_free(s->aliases);
    st_free(s->client_id);
    st_free(s->will_mem);
    st_free(s);
}

int mqtt_session_feed(mqtt_session *s, const void *bytes, size_t len, int64_t now_ms,
                      mqtt_event_cb cb, void *ctx)
{
    const uint8_t *p = bytes;
    if (!p) len = 0;
    if (s->state == S_CLOSED) return ST_ECLOSED;
    for (;;) {
        if (s->state == S_CLOSED) return 0;
        if (s->state == S_DEFER) return stash(s, p, len, cb, ctx);
        size_t used;
        int rc;
        if (s->in.len) {
            rc = parse_from(s, (const uint8_t *)s->in.ptr, s->in.len, &used, now_ms, cb, ctx);
            in_drop(s, used);
            if (rc) { int r2 = stash(s, p, len, NULL, NULL); return r2 ? r2 : rc; }
            if (s->state != S_NEW && s->state != S_CONNECTED) continue;
            if (!s->in.len) continue;
            if (!len) return 0;
            /* Top up the carried partial packet with just what it needs. */
            size_t hdr, need = 1;
            uint32_t rem;
            if (mqtt_frame((const uint8_t *)s->in.ptr, s->in.len, &hdr, &rem) == 0 &&
                hdr + rem > s->in.len)
                need = hdr + rem - s->in.len;
            if (need > len) need = len;
            if (st_buf_append(&s->in, p, need)) return fail_nomem(s);
            p += need;
            len -= need;
            continue;
        }
        if (!len) return 0;
        rc = parse_from(s, p, len, &used, now_ms, cb, ctx);
        p += used;
        len -= used;
        if (rc) { int r2 = stash(s, p, len, NULL, NULL); return r2 ? r2 : rc; }
        if (s->state == S_NEW || s->state == S_CONNECTED) return stash(s, p, len, cb, ctx);
    }
}

int mqtt_session_connack(mqtt_session *s, int reason)
{
    if (s->state != S_DEFER) return ST_EINVAL;
    if (send_connack(s, reason, s->client_keepalive_s, s->id_assigned)) return fail_nomem(s);
    return 0;
}

int mqtt_session_ack_reason(mqtt_session *s, uint16_t packet_id, uint8_t reason)
{
    if (s->state == S_CLOSED) return ST_ECLOSED;
    pid_slot *sl = packet_id ? tab_find(s, packet_id) : NULL;
    if (!sl || sl->state == P_Q2_RECEIVED) return ST_ENOTFOUND;
    if (s->version != MQTT_V5) reason = 0;
    int rc = emit_ack(s, sl->state == P_Q1 ? MQTT_PUBACK : MQTT_PUBREC, packet_id, reason);
    if (rc) return rc;
    if (sl->state == P_Q1 || reason >= 0x80) tab_remove(s, sl); /* a failed PUBREC ends the flow */
    else sl->state = P_Q2_RECEIVED;
    return 0;
}

int mqtt_session_ack(mqtt_session *s, uint16_t packet_id)
{
    return mqtt_session_ack_reason(s, packet_id, 0);
}

int mqtt_session_disconnect(mqtt_session *s, uint8_t reason)
{
    if (s->state == S_CLOSED) return ST_ECLOSED;
    int rc = emit_disconnect(s, reason);
    s->state = S_CLOSED;
    return rc;
}

void mqtt_session_output(const mqtt_session *s, const uint8_t **ptr, size_t *len)
{
    *ptr = (const uint8_t *)s->out.ptr + s->out_off;
    *len = s->out.len - s->out_off;
}

void mqtt_session_consume(mqtt_session *s, size_t n)
{
    size_t left = s->out.len - s->out_off;
    if (n > left) n = left;
    s->out_off += n;
    if (s->out_off == s->out.len) {
        s->out_off = 0;
        st_buf_clear(&s->out);
    } else if (s->out_off > 4096 && s->out_off > s->out.len / 2) {
        memmove(s->out.ptr, s->out.ptr + s->out_off, s->out.len - s->out_off);
        s->out.len -= s->out_off;
        s->out_off = 0;
    }
}

int64_t mqtt_session_keepalive_deadline_ms(const mqtt_session *s)
{
    if ((s->state != S_CONNECTED && s->state != S_DEFER) || !s->keepalive_s) return 0;
    return s->last_rx_ms + (int64_t)s->keepalive_s * 1500;
}

int mqtt_session_connected(const mqtt_session *s) { return s->state == S_CONNECTED; }
uint8_t mqtt_session_version(const mqtt_session *s) { return s->version; }
st_slice mqtt_session_client_id(const mqtt_session *s) { return (st_slice){ s->client_id, s->client_id_len }; }
uint32_t mqtt_session_inflight(const mqtt_session *s) { return s->tab_count; }
const mqtt_will *mqtt_session_will(const mqtt_session *s) { return s->has_will ? &s->will : NULL; }
