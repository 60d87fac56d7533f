/*
 * ingest/mqtt_codec.c — MQTT 3.1.1 / 5.0 packet decode and encode.
 *
 * Decode reads one complete packet with a bounds-checked cursor: every read
 * checks the bytes left, so a lying length can never read past the packet;
 * the result's slices point into the caller's bytes. Encode runs the same
 * writer twice, once counting and once writing, so the remaining length and
 * property lengths are known before the first byte is written and the
 * output buffer grows once per packet. Owns nothing; pure; any thread.
 *
 * Reason codes chosen for decode errors (both versions; only 5.0 sends them):
 * structure (flags, QoS 3, DUP on QoS 0, lengths, strings running past the
 * packet, bad UTF-8, reserved bits, unknown property id) -> 0x81 malformed;
 * semantics (packet id 0, duplicate or misplaced property, property value
 * out of range, no filters, empty topic without alias, bad reason code)
 * -> 0x82 protocol error; wildcard in a topic name -> 0x90; topic alias 0
 * -> 0x94.
 */
#include <string.h>

#include "common/err.h"
#include "ingest/mqtt.h"

/* ---- UTF-8, topics, filters -------------------------------------------- */

int mqtt_utf8_valid(st_slice s)
{
    const uint8_t *p = (const uint8_t *)s.ptr;
    size_t i = 0, n = s.len;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            if (c == 0) return 0;
            i++;
            continue;
        }
        uint32_t cp;
        size_t k;
        if (c >= 0xC2 && c <= 0xDF) { cp = c & 0x1F; k = 1; }
        else if (c >= 0xE0 && c <= 0xEF) { cp = c & 0x0F; k = 2; }
        else if (c >= 0xF0 && c <= 0xF4) { cp = c & 0x07; k = 3; }
        else return 0;
        if (n - i - 1 < k) return 0;
        for (size_t j = 1; j <= k; j++) {
            uint8_t d = p[i + j];
            if ((d & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (d & 0x3F);
        }
        if (k == 2 && cp < 0x800) return 0;            /* overlong */
        if (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0;    /* surrogates */
        i += k + 1;
    }
    return 1;
}

int mqtt_topic_valid(st_slice t)
{
    if (t.len == 0) return 0;
    return memchr(t.ptr, '+', t.len) == NULL && memchr(t.ptr, '#', t.len) == NULL;
}

int mqtt_filter_valid(st_slice f)
{
    if (f.len == 0) return 0;
    size_t start = 0;
    for (size_t i = 0; i <= f.len; i++) {
        if (i < f.len && f.ptr[i] != '/') continue;
        /* level f[start..i) */
        size_t lvl = i - start;
        for (size_t j = start; j < i; j++) {
            char c = f.ptr[j];
            if ((c == '+' || c == '#') && lvl != 1) return 0;
            if (c == '#' && i != f.len) return 0;
        }
        start = i + 1;
    }
    return 1;
}

/* ---- varint / framing --------------------------------------------------- */

int mqtt_varint_decode(const uint8_t *p, size_t len, uint32_t *v, size_t *used)
{
    uint32_t val = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len) return ST_EAGAIN;
        val |= (uint32_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = val;
            *used = i + 1;
            return 0;
        }
    }
    return ST_EPROTO;
}

size_t mqtt_varint_encode(uint32_t v, uint8_t out[4])
{
    if (v > MQTT_MAX_REMAINING) v = MQTT_MAX_REMAINING;
    size_t n = 0;
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        if (v) b |= 0x80;
        out[n++] = b;
    } while (v);
    return n;
}

int mqtt_frame(const uint8_t *p, size_t len, size_t *hdr_bytes, uint32_t *rem_bytes)
{
    if (len < 2) return ST_EAGAIN;
    uint32_t v;
    size_t used;
    int rc = mqtt_varint_decode(p + 1, len - 1, &v, &used);
    if (rc) return rc;
    *hdr_bytes = 1 + used;
    *rem_bytes = v;
    return 0;
}

/* ---- properties table --------------------------------------------------- */

enum { PT_BYTE = 1, PT_U16, PT_U32, PT_VAR, PT_STR, PT_BIN, PT_PAIR };

/* Allowed-in masks: bit = packet type; bit 0 = will properties. */
#define B(t) (1u << (t))
#define WILL 1u
#define ACKS (B(MQTT_PUBACK) | B(MQTT_PUBREC) | B(MQTT_PUBREL) | B(MQTT_PUBCOMP))

static const struct { uint8_t type; uint32_t allowed; } PROPS[0x2B] = {
    [0x01] = { PT_BYTE, B(MQTT_PUBLISH) | WILL },
    [0x02] = { PT_U32, B(MQTT_PUBLISH) | WILL },
    [0x03] = { PT_STR, B(MQTT_PUBLISH) | WILL },
    [0x08] = { PT_STR, B(MQTT_PUBLISH) | WILL },
    [0x09] = { PT_BIN, B(MQTT_PUBLISH) | WILL },
    [0x0B] = { PT_VAR, B(MQTT_PUBLISH) | B(MQTT_SUBSCRIBE) },
    [0x11] = { PT_U32, B(MQTT_CONNECT) | B(MQTT_CONNACK) | B(MQTT_DISCONNECT) },
    [0x12] = { PT_STR, B(MQTT_CONNACK) },
    [0x13] = { PT_U16, B(MQTT_CONNACK) },
    [0x15] = { PT_STR, B(MQTT_CONNECT) | B(MQTT_CONNACK) | B(MQTT_AUTH) },
    [0x16] = { PT_BIN, B(MQTT_CONNECT) | B(MQTT_CONNACK) | B(MQTT_AUTH) },
    [0x17] = { PT_BYTE, B(MQTT_CONNECT) },
    [0x18] = { PT_U32, WILL },
    [0x19] = { PT_BYTE, B(MQTT_CONNECT) },
    [0x1A] = { PT_STR, B(MQTT_CONNACK) },
    [0x1C] = { PT_STR, B(MQTT_CONNACK) | B(MQTT_DISCONNECT) },
    [0x1F] = { PT_STR, B(MQTT_CONNACK) | ACKS | B(MQTT_SUBACK) | B(MQTT_UNSUBACK) |
                       B(MQTT_DISCONNECT) | B(MQTT_AUTH) },
    [0x21] = { PT_U16, B(MQTT_CONNECT) | B(MQTT_CONNACK) },
    [0x22] = { PT_U16, B(MQTT_CONNECT) | B(MQTT_CONNACK) },
    [0x23] = { PT_U16, B(MQTT_PUBLISH) },
    [0x24] = { PT_BYTE, B(MQTT_CONNACK) },
    [0x25] = { PT_BYTE, B(MQTT_CONNACK) },
    [0x26] = { PT_PAIR, 0xFFFFu },
    [0x27] = { PT_U32, B(MQTT_CONNECT) | B(MQTT_CONNACK) },
    [0x28] = { PT_BYTE, B(MQTT_CONNACK) },
    [0x29] = { PT_BYTE, B(MQTT_CONNACK) },
    [0x2A] = { PT_BYTE, B(MQTT_CONNACK) },
};

/* Where each property's value lives in mqtt_props. */
static void *prop_field(mqtt_props *pr, uint8_t id)
{
    switch (id) {
    case 0x01: return &pr->payload_format;
    case 0x02: return &pr->message_expiry_s;
    case 0x03: return &pr->content_type;
    case 0x08: return &pr->response_topic;
    case 0x09: return &pr->correlation_data;
    case 0x0B: return &pr->subscription_id;
    case 0x11: return &pr->session_expiry_s;
    case 0x12: return &pr->assigned_client_id;
    case 0x13: return &pr->server_keep_alive_s;
    case 0x15: return &pr->auth_method;
    case 0x16: return &pr->auth_data;
    case 0x17: return &pr->request_problem_info;
    case 0x18: return &pr->will_delay_s;
    case 0x19: return &pr->request_response_info;
    case 0x1A: return &pr->response_info;
    case 0x1C: return &pr->server_reference;
    case 0x1F: return &pr->reason_string;
    case 0x21: return &pr->receive_max;
    case 0x22: return &pr->topic_alias_max;
    case 0x23: return &pr->topic_alias;
    case 0x24: return &pr->max_qos;
    case 0x25: return &pr->retain_available;
    case 0x27: return &pr->max_packet_size;
    case 0x28: return &pr->wildcard_sub_available;
    case 0x29: return &pr->sub_id_available;
    case 0x2A: return &pr->shared_sub_available;
    default: return NULL;
    }
}

/* ---- decode cursor ------------------------------------------------------ */

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd;

#define FAIL(code) do { *reason = (code); return ST_EPROTO; } while (0)

static size_t rd_left(const rd *r) { return r->n - r->i; }

static int rd_u8(rd *r, uint8_t *v)
{
    if (rd_left(r) < 1) return -1;
    *v = r->p[r->i++];
    return 0;
}

static int rd_u16(rd *r, uint16_t *v)
{
    if (rd_left(r) < 2) return -1;
    *v = (uint16_t)((r->p[r->i] << 8) | r->p[r->i + 1]);
    r->i += 2;
    return 0;
}

static int rd_u32(rd *r, uint32_t *v)
{
    if (rd_left(r) < 4) return -1;
    const uint8_t *q = r->p + r->i;
    *v = ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3];
    r->i += 4;
    return 0;
}

static int rd_var(rd *r, uint32_t *v)
{
    size_t used;
    if (mqtt_varint_decode(r->p + r->i, rd_left(r), v, &used)) return -1;
    r->i += used;
    return 0;
}

static int rd_bin(rd *r, st_slice *s)
{
    uint16_t len;
    if (rd_u16(r, &len) || rd_left(r) < len) return -1;
    s->ptr = (const char *)r->p + r->i;
    s->len = len;
    r->i += len;
    return 0;
}

static int rd_str(rd *r, st_slice *s)
{
    if (rd_bin(r, s)) return -1;
    return mqtt_utf8_valid(*s) ? 0 : -1;
}

/* Decode a property block for packet type ptype (0 = will properties). */
static int props_decode(rd *r, unsigned ptype, mqtt_props *pr, uint8_t *reason)
{
    memset(pr, 0, sizeof *pr);
    uint32_t len;
    if (rd_var(r, &len) || len > rd_left(r)) FAIL(MQTT_RC_MALFORMED);
    rd q = { r->p + r->i, len, 0 };
    pr->raw.ptr = (const char *)q.p;
    pr->raw.len = len;
    r->i += len;
    uint32_t mask = ptype ? B(ptype) : WILL;
    while (rd_left(&q)) {
        uint32_t id;
        if (rd_var(&q, &id)) FAIL(MQTT_RC_MALFORMED);
        if (id >= 0x2B || !PROPS[id].type) FAIL(MQTT_RC_MALFORMED);
        if (!(PROPS[id].allowed & mask)) FAIL(MQTT_RC_PROTOCOL);
        int dup = MQTT_HAS(pr, id);
        if (dup && id != MQTT_P_USER_PROPERTY && !(id == MQTT_P_SUBSCRIPTION_ID && ptype == MQTT_PUBLISH))
            FAIL(MQTT_RC_PROTOCOL);
        void *f = prop_field(pr, (uint8_t)id);
        switch (PROPS[id].type) {
        case PT_BYTE: {
            uint8_t v;
            if (rd_u8(&q, &v)) FAIL(MQTT_RC_MALFORMED);
            if (v > 1) FAIL(MQTT_RC_PROTOCOL); /* every byte property is 0/1 */
            *(uint8_t *)f = v;
            break;
        }
        case PT_U16: {
            uint16_t v;
            if (rd_u16(&q, &v)) FAIL(MQTT_RC_MALFORMED);
            if (v == 0 && id == MQTT_P_RECEIVE_MAX) FAIL(MQTT_RC_PROTOCOL);
            if (v == 0 && id == MQTT_P_TOPIC_ALIAS) FAIL(MQTT_RC_ALIAS_INVALID);
            *(uint16_t *)f = v;
            break;
        }
        case PT_U32: {
            uint32_t v;
            if (rd_u32(&q, &v)) FAIL(MQTT_RC_MALFORMED);
            if (v == 0 && id == MQTT_P_MAX_PACKET_SIZE) FAIL(MQTT_RC_PROTOCOL);
            *(uint32_t *)f = v;
            break;
        }
        case PT_VAR: {
            uint32_t v;
            if (rd_var(&q, &v)) FAIL(MQTT_RC_MALFORMED);
            if (v == 0) FAIL(MQTT_RC_PROTOCOL);
            if (!dup) *(uint32_t *)f = v;
            break;
        }
        case PT_STR:
            if (rd_str(&q, (st_slice *)f)) FAIL(MQTT_RC_MALFORMED);
            break;
        case PT_BIN:
            if (rd_bin(&q, (st_slice *)f)) FAIL(MQTT_RC_MALFORMED);
            break;
        case PT_PAIR: {
            st_slice k, v;
            if (rd_str(&q, &k) || rd_str(&q, &v)) FAIL(MQTT_RC_MALFORMED);
            pr->user_count++;
            break;
        }
        }
        MQTT_SET(pr, id);
    }
    return 0;
}

int mqtt_props_user_next(const mqtt_props *pr, size_t *off, st_slice *key, st_slice *value)
{
    rd q = { (const uint8_t *)pr->raw.ptr, pr->raw.len, *off };
    while (rd_left(&q)) {
        uint32_t id;
        if (rd_var(&q, &id) || id >= 0x2B || !PROPS[id].type) return 0;
        int bad = 0;
        st_slice s;
        uint8_t b;
        uint16_t h;
        uint32_t w;
        switch (PROPS[id].type) {
        case PT_BYTE: bad = rd_u8(&q, &b); break;
        case PT_U16: bad = rd_u16(&q, &h); break;
        case PT_U32: bad = rd_u32(&q, &w); break;
        case PT_VAR: bad = rd_var(&q, &w); break;
        case PT_STR: case PT_BIN: bad = rd_bin(&q, &s); break;
        case PT_PAIR: {
            st_slice k, v;
            if (rd_bin(&q, &k) || rd_bin(&q, &v)) return 0;
            *key = k;
            *value = v;
            *off = q.i;
            return 1;
        }
        }
        if (bad) return 0;
    }
    *off = q.i;
    return 0;
}

/* ---- decode ------------------------------------------------------------- */

static int valid_ack_reason(unsigned type, uint8_t rc)
{
    if (type == MQTT_PUBREL || type == MQTT_PUBCOMP) return rc == 0x00 || rc == 0x92;
    switch (rc) {
    case 0x00: case 0x10: case 0x80: case 0x83: case 0x87: case 0x90: case 0x91:
    case 0x97: case 0x99:
        return 1;
    default:
        return 0;
    }
}

static int decode_connect(rd *r, mqtt_connect *c, uint8_t *reason)
{
    st_slice name;
    uint8_t level, fl;
    memset(c, 0, sizeof *c);
    if (rd_bin(r, &name) || rd_u8(r, &level)) FAIL(MQTT_RC_MALFORMED);
    c->version = level;
    if (!st_slice_eq_cstr(name, "MQTT") || (level != MQTT_V311 && level != MQTT_V5)) {
        *reason = MQTT_RC_BAD_VERSION;
        return ST_EUNSUPPORTED;
    }
    uint8_t v5 = level == MQTT_V5;
    if (rd_u8(r, &fl) || rd_u16(r, &c->keep_alive_s)) FAIL(MQTT_RC_MALFORMED);
    if (fl & 0x01) FAIL(MQTT_RC_MALFORMED);
    c->clean = (fl >> 1) & 1;
    c->has_will = (fl >> 2) & 1;
    c->will_qos = (fl >> 3) & 3;
    c->will_retain = (fl >> 5) & 1;
    c->has_password = (fl >> 6) & 1;
    c->has_username = (fl >> 7) & 1;
    if (c->will_qos == 3) FAIL(MQTT_RC_MALFORMED);
    if (!c->has_will && (c->will_qos || c->will_retain)) FAIL(MQTT_RC_MALFORMED);
    if (!v5 && c->has_password && !c->has_username) FAIL(MQTT_RC_MALFORMED);
    if (v5) {
        int rc = props_decode(r, MQTT_CONNECT, &c->props, reason);
        if (rc) return rc;
    }
    if (rd_str(r, &c->client_id)) FAIL(MQTT_RC_MALFORMED);
    if (c->has_will) {
        if (v5) {
            int rc = props_decode(r, 0, &c->will_props, reason);
            if (rc) return rc;
        }
        if (rd_str(r, &c->will_topic) || rd_bin(r, &c->will_payload)) FAIL(MQTT_RC_MALFORMED);
        if (!mqtt_topic_valid(c->will_topic)) FAIL(MQTT_RC_TOPIC_INVALID);
    }
    if (c->has_username && rd_str(r, &c->username)) FAIL(MQTT_RC_MALFORMED);
    if (c->has_password && rd_bin(r, &c->password)) FAIL(MQTT_RC_MALFORMED);
    if (rd_left(r)) FAIL(MQTT_RC_MALFORMED);
    return 0;
}

static int decode_publish(rd *r, uint8_t flags, int v5, mqtt_publish *pb, uint8_t *reason)
{
    memset(pb, 0, sizeof *pb);
    pb->retain = flags & 1;
    pb->qos = (flags >> 1) & 3;
    pb->dup = (flags >> 3) & 1;
    if (rd_str(r, &pb->topic)) FAIL(MQTT_RC_MALFORMED);
    if (pb->topic.len && !mqtt_topic_valid(pb->topic)) FAIL(MQTT_RC_TOPIC_INVALID);
    if (pb->qos) {
        if (rd_u16(r, &pb->packet_id)) FAIL(MQTT_RC_MALFORMED);
        if (!pb->packet_id) FAIL(MQTT_RC_PROTOCOL);
    }
    if (v5) {
        int rc = props_decode(r, MQTT_PUBLISH, &pb->props, reason);
        if (rc) return rc;
    }
    if (!pb->topic.len && !MQTT_HAS(&pb->props, MQTT_P_TOPIC_ALIAS)) FAIL(MQTT_RC_PROTOCOL);
    pb->payload.ptr = (const char *)r->p + r->i;
    pb->payload.len = rd_left(r);
    r->i = r->n;
    return 0;
}

static int decode_ack(rd *r, unsigned type, int v5, mqtt_ack *a, uint8_t *reason)
{
    memset(a, 0, sizeof *a);
    if (rd_u16(r, &a->packet_id)) FAIL(MQTT_RC_MALFORMED);
    if (!a->packet_id) FAIL(MQTT_RC_PROTOCOL);
    if (!v5) {
        if (rd_left(r)) FAIL(MQTT_RC_MALFORMED);
        return 0;
    }
    if (!rd_left(r)) return 0;
    if (rd_u8(r, &a->reason)) FAIL(MQTT_RC_MALFORMED);
    if (!valid_ack_reason(type, a->reason)) FAIL(MQTT_RC_PROTOCOL);
    if (!rd_left(r)) return 0;
    int rc = props_decode(r, type, &a->props, reason);
    if (rc) return rc;
    if (rd_left(r)) FAIL(MQTT_RC_MALFORMED);
    return 0;
}

static int decode_subscribe(rd *r, unsigned type, int v5, mqtt_subscribe *s, uint8_t *reason)
{
    memset(s, 0, sizeof *s);
    if (rd_u16(r, &s->packet_id)) FAIL(MQTT_RC_MALFORMED);
    if (!s->packet_id) FAIL(MQTT_RC_PROTOCOL);
    if (v5) {
        int rc = props_decode(r, type, &s->props, reason);
        if (rc) return rc;
    }
    s->list.ptr = (const char *)r->p + r->i;
    s->list.len = rd_left(r);
    while (rd_left(r)) {
        st_slice f;
        if (rd_str(r, &f)) FAIL(MQTT_RC_MALFORMED);
        if (type == MQTT_SUBSCRIBE) {
            uint8_t o;
            if (rd_u8(r, &o)) FAIL(MQTT_RC_MALFORMED);
            if ((o & 3) == 3) FAIL(MQTT_RC_MALFORMED);
            if (v5 ? ((o & 0xC0) || ((o >> 4) & 3) == 3) : (o & 0xFC)) FAIL(MQTT_RC_MALFORMED);
        }
        s->count++;
    }
    if (!s->count) FAIL(MQTT_RC_PROTOCOL);
    return 0;
}

static int decode_suback(rd *r, unsigned type, int v5, mqtt_suback *s, uint8_t *reason)
{
    memset(s, 0, sizeof *s);
    if (rd_u16(r, &s->packet_id)) FAIL(MQTT_RC_MALFORMED);
    if (!s->packet_id) FAIL(MQTT_RC_PROTOCOL);
    if (v5) {
        int rc = props_decode(r, type, &s->props, reason);
        if (rc) return rc;
    }
    s->codes.ptr = (const char *)r->p + r->i;
    s->codes.len = rd_left(r);
    r->i = r->n;
    if (type == MQTT_UNSUBACK && !v5) {
        if (s->codes.len) FAIL(MQTT_RC_MALFORMED);
        return 0;
    }
    if (!s->codes.len) FAIL(MQTT_RC_PROTOCOL);
    if (type == MQTT_SUBACK && !v5) {
        for (size_t i = 0; i < s->codes.len; i++) {
            uint8_t c = (uint8_t)s->codes.ptr[i];
            if (c > 2 && c != 0x80) FAIL(MQTT_RC_MALFORMED);
        }
    }
    return 0;
}

static int decode_reason(rd *r, unsigned type, int v5, mqtt_reason_pkt *d, uint8_t *reason)
{
    memset(d, 0, sizeof *d);
    if (!v5) {
        if (rd_left(r)) FAIL(MQTT_RC_MALFORMED);
        return 0;
    }
    if (!rd_left(r)) return 0;
    if (rd_u8(r, &d->reason)) FAIL(MQTT_RC_MALFORMED);
    if (type == MQTT_AUTH && d->reason != 0x00 && d->reason != 0x18 && d->reason != 0x19)
        FAIL(MQTT_RC_PROTOCOL);
    if (!rd_left(r)) return 0;
    int rc = props_decode(r, type, &d->props, reason);
    if (rc) return rc;
    if (rd_left(r)) FAIL(MQTT_RC_MALFORMED);
    return 0;
}

int mqtt_decode(const uint8_t *p, size_t len, uint8_t version, mqtt_packet *out, uint8_t *reason)
{
    size_t hdr;
    uint32_t rem;
    uint8_t dummy;
    if (!reason) reason = &dummy;
    if (!p || mqtt_frame(p, len, &hdr, &rem) || hdr + rem != len) FAIL(MQTT_RC_MALFORMED);
    unsigned type = p[0] >> 4, flags = p[0] & 0x0F;
    int v5 = version == MQTT_V5;
    if (type == 0 || (type == MQTT_AUTH && !v5)) FAIL(MQTT_RC_MALFORMED);
    if (type == MQTT_PUBLISH) {
        if (((flags >> 1) & 3) == 3) FAIL(MQTT_RC_MALFORMED);
        if ((flags & 0x08) && !(flags & 0x06)) FAIL(MQTT_RC_MALFORMED);
    } else if (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE) {
        if (flags != 2) FAIL(MQTT_RC_MALFORMED);
    } else if (flags != 0) {
        FAIL(MQTT_RC_MALFORMED);
    }
    rd r = { p + hdr, rem, 0 };
    mqtt_packet pk;
    int rc = 0;
    pk.type = (uint8_t)type;
    pk.flags = (uint8_t)flags;
    switch (type) {
    case MQTT_CONNECT:
        rc = decode_connect(&r, &pk.u.connect, reason);
        if (rc == ST_EUNSUPPORTED) out->u.connect.version = pk.u.connect.version;
        break;
    case MQTT_CONNACK: {
        mqtt_connack *c = &pk.u.connack;
        memset(c, 0, sizeof *c);
        uint8_t af;
        if (rd_u8(&r, &af) || rd_u8(&r, &c->code)) FAIL(MQTT_RC_MALFORMED);
        if (af & 0xFE) FAIL(MQTT_RC_MALFORMED);
        c->session_present = af;
        if (v5) rc = props_decode(&r, MQTT_CONNACK, &c->props, reason);
        else if (c->code > 5) FAIL(MQTT_RC_PROTOCOL);
        if (!rc && rd_left(&r)) FAIL(MQTT_RC_MALFORMED);
        break;
    }
    case MQTT_PUBLISH:
        rc = decode_publish(&r, (uint8_t)flags, v5, &pk.u.publish, reason);
        break;
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
        rc = decode_ack(&r, type, v5, &pk.u.ack, reason);
        break;
    case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE:
        rc = decode_subscribe(&r, type, v5, &pk.u.subscribe, reason);
        break;
    case MQTT_SUBACK: case MQTT_UNSUBACK:
        rc = decode_suback(&r, type, v5, &pk.u.suback, reason);
        break;
    case MQTT_PINGREQ: case MQTT_PINGRESP:
        if (rem) FAIL(MQTT_RC_MALFORMED);
        break;
    case MQTT_DISCONNECT: case MQTT_AUTH:
        rc = decode_reason(&r, type, v5, &pk.u.reason, reason);
        break;
    }
    if (rc) return rc;
    *out = pk;
    return 0;
}

int mqtt_sub_next(const mqtt_packet *p, size_t *off, mqtt_sub *sub)
{
    const mqtt_subscribe *s = &p->u.subscribe;
    rd r = { (const uint8_t *)s->list.ptr, s->list.len, *off };
    st_slice f;
    uint8_t o = 0;
    if (!rd_left(&r) || rd_bin(&r, &f)) return 0;
    if (p->type == MQTT_SUBSCRIBE && rd_u8(&r, &o)) return 0;
    sub->filter = f;
    sub->options = o;
    *off = r.i;
    return 1;
}

/* ---- encode ------------------------------------------------------------- */

/* p == NULL counts only. */
typedef struct wr {
    uint8_t *p;
    size_t n;
    int err;
} wr;

static void w8(wr *w, unsigned v)
{
    if (w->p) w->p[w->n] = (uint8_t)v;
    w->n++;
}

static void w16(wr *w, unsigned v) { w8(w, (v >> 8) & 0xFF); w8(w, v & 0xFF); }

static void w32(wr *w, uint32_t v) { w16(w, v >> 16); w16(w, v & 0xFFFF); }

static void wvar(wr *w, uint32_t v)
{
    uint8_t b[4];
    if (v > MQTT_MAX_REMAINING) w->err = ST_ETOOLARGE;
    size_t n = mqtt_varint_encode(v, b);
    for (size_t i = 0; i < n; i++) w8(w, b[i]);
}

static void wraw(wr *w, const void *p, size_t n)
{
    if (w->p && n) memcpy(w->p + w->n, p, n);
    w->n += n;
}

static void wstr(wr *w, st_slice s)
{
    if (s.len > 0xFFFF) { w->err = ST_EINVAL; return; }
    w16(w, (unsigned)s.len);
    wraw(w, s.ptr, s.len);
}

static int props_empty(const mqtt_props *pr) { return !pr->present && !pr->user_count; }

static void props_body(wr *w, const mqtt_props *pr)
{
    mqtt_props *m = (mqtt_props *)pr; /* prop_field only reads through it here */
    for (unsigned id = 1; id < 0x2B; id++) {
        if (!PROPS[id].type || id == MQTT_P_USER_PROPERTY || !MQTT_HAS(pr, id)) continue;
        const void *f = prop_field(m, (uint8_t)id);
        wvar(w, id);
        switch (PROPS[id].type) {
        case PT_BYTE: w8(w, *(const uint8_t *)f); break;
        case PT_U16: w16(w, *(const uint16_t *)f); break;
        case PT_U32: w32(w, *(const uint32_t *)f); break;
        case PT_VAR: wvar(w, *(const uint32_t *)f); break;
        case PT_STR: case PT_BIN: wstr(w, *(const st_slice *)f); break;
        }
    }
    for (uint32_t i = 0; i < pr->user_count && pr->user; i++) {
        w8(w, MQTT_P_USER_PROPERTY);
        wstr(w, pr->user[i].key);
        wstr(w, pr->user[i].value);
    }
}

static void wprops(wr *w, const mqtt_props *pr)
{
    wr c = { NULL, 0, 0 };
    props_body(&c, pr);
    if (c.err) w->err = c.err;
    wvar(w, (uint32_t)(c.n > MQTT_MAX_REMAINING ? MQTT_MAX_REMAINING + 1u : c.n));
    props_body(w, pr);
}

static void wpid(wr *w, uint16_t pid)
{
    if (!pid) w->err = ST_EINVAL;
    w16(w, pid);
}

static void enc_body(wr *w, int v5, const mqtt_packet *pk)
{
    switch (pk->type) {
    case MQTT_CONNECT: {
        const mqtt_connect *c = &pk->u.connect;
        if (c->will_qos > 2) w->err = ST_EINVAL;
        wstr(w, ST_SLICE_LIT("MQTT"));
        w8(w, v5 ? MQTT_V5 : MQTT_V311);
        unsigned fl = (c->clean ? 0x02 : 0) |
            (c->has_will ? 0x04 | ((c->will_qos & 3u) << 3) | (c->will_retain ? 0x20 : 0) : 0) |
            (c->has_password ? 0x40 : 0) | (c->has_username ? 0x80 : 0);
        w8(w, fl);
        w16(w, c->keep_alive_s);
        if (v5) wprops(w, &c->props);
        wstr(w, c->client_id);
        if (c->has_will) {
            if (v5) wprops(w, &c->will_props);
            wstr(w, c->will_topic);
            wstr(w, c->will_payload);
        }
        if (c->has_username) wstr(w, c->username);
        if (c->has_password) wstr(w, c->password);
        break;
    }
    case MQTT_CONNACK:
        w8(w, pk->u.connack.session_present ? 1 : 0);
        w8(w, pk->u.connack.code);
        if (v5) wprops(w, &pk->u.connack.props);
        break;
    case MQTT_PUBLISH: {
        const mqtt_publish *pb = &pk->u.publish;
        if (pb->qos > 2) w->err = ST_EINVAL;
        wstr(w, pb->topic);
        if (pb->qos) wpid(w, pb->packet_id);
        if (v5) wprops(w, &pb->props);
        wraw(w, pb->payload.ptr, pb->payload.len);
        break;
    }
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP: {
        const mqtt_ack *a = &pk->u.ack;
        wpid(w, a->packet_id);
        if (v5 && (a->reason || !props_empty(&a->props))) {
            w8(w, a->reason);
            if (!props_empty(&a->props)) wprops(w, &a->props);
        }
        break;
    }
    case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE: {
        const mqtt_subscribe *s = &pk->u.subscribe;
        wpid(w, s->packet_id);
        if (v5) wprops(w, &s->props);
        if (!s->count || !s->subs) w->err = ST_EINVAL;
        for (uint32_t i = 0; s->subs && i < s->count; i++) {
            wstr(w, s->subs[i].filter);
            if (pk->type == MQTT_SUBSCRIBE) w8(w, v5 ? s->subs[i].options & 0x3F : s->subs[i].options & 3);
        }
        break;
    }
    case MQTT_SUBACK: case MQTT_UNSUBACK: {
        const mqtt_suback *s = &pk->u.suback;
        wpid(w, s->packet_id);
        if (pk->type == MQTT_UNSUBACK && !v5) break;
        if (v5) wprops(w, &s->props);
        wraw(w, s->codes.ptr, s->codes.len);
        break;
    }
    case MQTT_PINGREQ: case MQTT_PINGRESP:
        break;
    case MQTT_DISCONNECT: case MQTT_AUTH: {
        const mqtt_reason_pkt *d = &pk->u.reason;
        if (!v5) {
            if (pk->type == MQTT_AUTH) w->err = ST_EINVAL;
            break;
        }
        if (d->reason || !props_empty(&d->props)) {
            w8(w, d->reason);
            if (!props_empty(&d->props)) wprops(w, &d->props);
        }
        break;
    }
    default:
        w->err = ST_EINVAL;
    }
}

int mqtt_encode(st_buf *out, uint8_t version, const mqtt_packet *pk)
{
    int v5 = version == MQTT_V5;
    wr c = { NULL, 0, 0 };
    enc_body(&c, v5, pk);
    if (c.err) return c.err;
    if (c.n > MQTT_MAX_REMAINING) return ST_ETOOLARGE;
    unsigned flags = 0;
    if (pk->type == MQTT_PUBLISH) {
        const mqtt_publish *pb = &pk->u.publish;
        flags = (pb->dup && pb->qos ? 8u : 0u) | ((unsigned)pb->qos << 1) | (pb->retain ? 1u : 0u);
    } else if (pk->type == MQTT_PUBREL || pk->type == MQTT_SUBSCRIBE || pk->type == MQTT_UNSUBSCRIBE) {
        flags = 2;
    }
    uint8_t hdr[5];
    hdr[0] = (uint8_t)((pk->type << 4) | flags);
    size_t hn = 1 + mqtt_varint_encode((uint32_t)c.n, hdr + 1);
    int rc = st_buf_reserve(out, hn + c.n);
    if (rc) return rc;
    uint8_t *dst = (uint8_t *)out->ptr + out->len;
    memcpy(dst, hdr, hn);
    wr w = { dst + hn, 0, 0 };
    enc_body(&w, v5, pk);
    out->len += hn + c.n;
    out->ptr[out->len] = 0;
    return 0;
}
