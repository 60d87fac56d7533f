/*
 * tests/fuzz/fuzz_mqtt.c — the MQTT codec and server session under
 * libFuzzer (and replayed over tests/fuzz/corpus/mqtt by `make test`).
 *
 * Byte 0 picks options: whether a valid CONNECT (3.1.1 or 5.0) goes first
 * (so the rest is parsed as traffic of a connected client), small or default
 * max packet size and receive maximum, topic aliases, maximum QoS, deferred
 * CONNACK, and a callback that pauses the feed every third event. Byte 1
 * picks a chunk size. The rest is the stream.
 *
 * Checks: the session never crashes; the stream fed whole, in chunks and
 * byte by byte (when short) gives the same events and the same reply bytes
 * (acks are given inline, so replies are deterministic); replies stay
 * within 256 + 2 x input bytes; the in-flight count stays within the
 * receive maximum (5.0) and the id space; no memory is left after destroy.
 * The codec: every prefix packet that decodes (either version) re-encodes,
 * and encode(decode(encode(decode(x)))) == encode(decode(x)). Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "ingest/mqtt.h"

typedef struct fz {
    uint64_t h, out_h;
    uint64_t events;
    mqtt_session *s;
    int pause;      /* return 1 on every third event */
    int defer;      /* defer the CONNECT decision */
    int deferred;   /* a CONNECT is waiting */
} fz;

static void mix(fz *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) f->h = (f->h ^ b[i]) * 0x100000001b3ULL;
    f->h = (f->h ^ 0xff) * 0x100000001b3ULL;
}

/* Output bytes hash as one stream, however the feeds split them. */
static void mix_stream(fz *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) f->out_h = (f->out_h ^ b[i]) * 0x100000001b3ULL;
}

static void mix_u(fz *f, uint64_t v) { mix(f, &v, sizeof v); }

static int on_event(void *ctx, mqtt_event *ev)
{
    fz *f = ctx;
    f->events++;
    mix_u(f, ev->type);
    switch (ev->type) {
    case MQTT_EV_CONNECT:
        mix(f, ev->client_id.ptr, ev->client_id.len);
        mix_u(f, ev->keep_alive_s);
        if (f->defer) { ev->connect_reply = MQTT_CONNECT_DEFER; f->deferred = 1; }
        break;
    case MQTT_EV_PUBLISH: {
        const mqtt_publish *p = &ev->pkt->u.publish;
        if (!ev->topic.len || !mqtt_topic_valid(ev->topic)) abort();
        mix(f, ev->topic.ptr, ev->topic.len);
        mix(f, p->payload.ptr, p->payload.len);
        mix_u(f, p->qos);
        mix_u(f, p->packet_id);
        if (p->qos && mqtt_session_ack(f->s, p->packet_id) == ST_ENOTFOUND) abort();
        break;
    }
    case MQTT_EV_SUBSCRIBE: case MQTT_EV_UNSUBSCRIBE:
        mix_u(f, ev->pkt->u.subscribe.count);
        break;
    case MQTT_EV_DISCONNECT:
        mix_u(f, ev->reason);
        break;
    case MQTT_EV_ERROR:
        mix_u(f, ev->reason);
        mix_u(f, (uint64_t)(int64_t)ev->err);
        break;
    }
    return f->pause && f->events % 3 == 0 ? 1 : 0;
}

static void drain(fz *f)
{
    const uint8_t *p;
    size_t n;
    mqtt_session_output(f->s, &p, &n);
    mix_stream(f, p, n);
    /* consume in two steps to exercise partial consumption */
    mqtt_session_consume(f->s, n / 2);
    mqtt_session_output(f->s, &p, &n);
    mqtt_session_consume(f->s, n);
}

typedef struct run_out { uint64_t h, out_bytes; } run_out;

static run_out run(const mqtt_session_opts *o, const uint8_t *pre, size_t pre_len,
                   const uint8_t *d, size_t n, size_t chunk, int pause, int defer)
{
    fz f;
    memset(&f, 0, sizeof f);
    f.h = 1469598103934665603ULL;
    f.pause = pause;
    f.defer = defer;
    run_out r = { 0, 0 };
    if (mqtt_session_create(o, &f.s)) abort();
    uint8_t *all = malloc(pre_len + n + 1);
    if (pre_len) memcpy(all, pre, pre_len);
    if (n) memcpy(all + pre_len, d, n);
    size_t total = pre_len + n, off = 0;
    uint64_t outb = 0;
    while (off < total) {
        size_t k = total - off < chunk ? total - off : chunk;
        int rc = mqtt_session_feed(f.s, all + off, k, 1000, on_event, &f);
        off += k;
        for (int guard = 0; rc == 1 && guard < 1000000; guard++)
            rc = mqtt_session_feed(f.s, NULL, 0, 1000, on_event, &f);
        if (f.deferred && !mqtt_session_connected(f.s)) {
            f.deferred = 0;
            if (mqtt_session_connack(f.s, 0) == 0) {
                rc = mqtt_session_feed(f.s, NULL, 0, 1000, on_event, &f);
                for (int guard = 0; rc == 1 && guard < 1000000; guard++)
                    rc = mqtt_session_feed(f.s, NULL, 0, 1000, on_event, &f);
            }
        }
        if (rc != 0 && rc != ST_ECLOSED && rc != ST_ENOMEM) abort();
        if (mqtt_session_inflight(f.s) > 65535) abort();
        if (mqtt_session_version(f.s) == MQTT_V5 && mqtt_session_inflight(f.s) > (o->receive_max ? o->receive_max : 1024u))
            abort();
        const uint8_t *p;
        size_t on;
        mqtt_session_output(f.s, &p, &on);
        outb += on;
        drain(&f);
        if (rc == ST_ECLOSED) break;
    }
    (void)mqtt_session_keepalive_deadline_ms(f.s);
    (void)mqtt_session_will(f.s);
    (void)mqtt_session_client_id(f.s);
    mqtt_session_destroy(f.s);
    free(all);
    r.h = f.h ^ (f.out_h * 31);
    r.out_bytes = outb;
    if (outb > 256 + 2 * (uint64_t)total) abort();
    return r;
}

/* Re-encode a decoded packet: SUBSCRIBE lists go back into an array; user
 * properties are dropped (decoded blocks carry them only as raw bytes). */
static mqtt_sub subs_buf[2048];

static void strip(mqtt_props *p)
{
    p->user_count = 0;
    p->present &= ~((uint64_t)1 << MQTT_P_USER_PROPERTY);
}

static int reencode(uint8_t ver, mqtt_packet *pk, st_buf *out)
{
    switch (pk->type) {
    case MQTT_CONNECT:
        strip(&pk->u.connect.props);
        strip(&pk->u.connect.will_props);
        break;
    case MQTT_CONNACK: strip(&pk->u.connack.props); break;
    case MQTT_PUBLISH: strip(&pk->u.publish.props); break;
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
        strip(&pk->u.ack.props);
        break;
    case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE: {
        strip(&pk->u.subscribe.props);
        size_t off = 0;
        uint32_t i = 0;
        mqtt_sub s;
        while (i < 2048 && mqtt_sub_next(pk, &off, &s)) subs_buf[i++] = s;
        if (i != pk->u.subscribe.count) return -1;
        pk->u.subscribe.subs = subs_buf;
        break;
    }
    case MQTT_SUBACK: case MQTT_UNSUBACK: strip(&pk->u.suback.props); break;
    case MQTT_DISCONNECT: case MQTT_AUTH: strip(&pk->u.reason.props); break;
    }
    return mqtt_encode(out, ver, pk);
}

static void codec_check(const uint8_t *d, size_t n)
{
    size_t hdr;
    uint32_t rem;
    if (mqtt_frame(d, n, &hdr, &rem) || n - hdr < rem) return;
    for (uint8_t ver = 4; ver <= 5; ver++) {
        mqtt_packet pk;
        uint8_t reason = 0;
        int rc = mqtt_decode(d, hdr + rem, ver, &pk, &reason);
        if (rc) {
            if (rc != ST_EPROTO && rc != ST_EUNSUPPORTED) abort();
            if (reason < 0x80) abort();
            continue;
        }
        uint8_t ev = pk.type == MQTT_CONNECT ? pk.u.connect.version : ver;
        st_buf a, b;
        st_buf_init(&a);
        st_buf_init(&b);
        rc = reencode(ev, &pk, &a);
        if (rc == 0) {
            mqtt_packet p2;
            if (mqtt_decode((const uint8_t *)a.ptr, a.len, ev, &p2, &reason)) abort();
            if (p2.type != pk.type) abort();
            if (reencode(ev, &p2, &b) || a.len != b.len || memcmp(a.ptr, b.ptr, a.len)) abort();
        } else if (rc != ST_ENOMEM && rc != -1) {
            abort();
        }
        st_buf_fini(&a);
        st_buf_fini(&b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t C4[] = { 0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 4, 'f', 'u', 'z', 'z' };
    static const uint8_t C5[] = { 0x10, 0x11, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 0, 4, 'f', 'u', 'z', 'z' };
    if (size < 2) return 0;
    uint8_t opt = data[0], ch = data[1];
    const uint8_t *d = data + 2;
    size_t n = size - 2;
    st_alloc_track(); /* before live0: the leak check counts from here */
    int64_t live0 = st_alloc_live();

    codec_check(d, n);

    mqtt_session_opts o;
    memset(&o, 0, sizeof o);
    o.max_packet_bytes = (opt & 0x04) ? 64 : 0;
    o.receive_max = (opt & 0x08) ? 3 : 0;
    o.topic_alias_max = (opt & 0x10) ? 4 : 0;
    o.max_qos = (opt & 0x20) ? 1 : 2;
    o.keepalive_max_s = 30;
    o.conn_id = 7;
    const uint8_t *pre = NULL;
    size_t pre_len = 0;
    if ((opt & 3) == 1) { pre = C4; pre_len = sizeof C4; }
    if ((opt & 3) == 2) { pre = C5; pre_len = sizeof C5; }
    int pause = (opt & 0x40) != 0;
    int defer = (opt & 0x80) != 0;

    size_t total = pre_len + n;
    run_out whole = run(&o, pre, pre_len, d, n, total ? total : 1, pause, defer);
    size_t chunk = 1 + ch % 17;
    run_out parts = run(&o, pre, pre_len, d, n, chunk, pause, defer);
    /* Deferred CONNACK bounds the input kept meanwhile, so only then may the
     * split change the outcome. */
    if (!defer && (whole.h != parts.h || whole.out_bytes != parts.out_bytes)) abort();
    if (total <= 512) {
        run_out bytes = run(&o, pre, pre_len, d, n, 1, pause, defer);
        if (!defer && bytes.h != whole.h) abort();
    }
    if (st_alloc_live() != live0) abort();
    return 0;
}
