/*
 * tests/unit/test_mqtt.c — MQTT codec (ingest/mqtt_codec.c) and server
 * session (ingest/mqtt_session.c).
 *
 * Byte-exact vectors from the protocol reference (PROTOCOLS.md §4.6a) and
 * the spec's examples, a round trip of every packet type in both versions,
 * each malformed case with its reason code, session flows (QoS 0/1/2 with
 * acks only after mqtt_session_ack, duplicates, PUBREL/PUBCOMP, ping,
 * subscribe, disconnect, will, keep-alive, receive maximum, aliases,
 * deferred CONNACK), a stream split at every byte boundary, and an OOM walk.
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "ingest/mqtt.h"
#include "tests/unit/unit.h"

/* ---- helpers ------------------------------------------------------------ */

/* Hex text ("10 16 00 04 ...") to bytes; returns the byte count. */
static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*h) {
        if (*h == ' ' || *h == '\n') { h++; continue; }
        unsigned v;
        if (sscanf(h, "%2x", &v) != 1 || n >= cap) abort();
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

static const char *tohex(const void *p, size_t n)
{
    static char buf[8192];
    const uint8_t *b = p;
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && o + 4 < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, i ? " %02X" : "%02X", b[i]);
    return buf;
}

/* Decode hex; returns rc, reason in *reason. */
static int dec_hex(const char *h, uint8_t ver, mqtt_packet *pk, uint8_t *reason, uint8_t *store, size_t cap)
{
    size_t n = unhex(h, store, cap);
    *reason = 0;
    return mqtt_decode(store, n, ver, pk, reason);
}

static const char *enc_hex(uint8_t ver, const mqtt_packet *pk)
{
    st_buf b;
    st_buf_init(&b);
    int rc = mqtt_encode(&b, ver, pk);
    const char *r = rc ? "ERR" : tohex(b.ptr, b.len);
    st_buf_fini(&b);
    return r;
}

#define SL(s) ST_SLICE_LIT(s)

static int slice_is(st_slice s, const char *c) { return st_slice_eq_cstr(s, c); }

/* ---- varint ------------------------------------------------------------- */

TEST(varint_vectors)
{
    static const struct { uint32_t v; const char *hex; } V[] = {
        { 0, "00" }, { 127, "7F" }, { 128, "80 01" }, { 16383, "FF 7F" },
        { 16384, "80 80 01" }, { 2097151, "FF FF 7F" }, { 2097152, "80 80 80 01" },
        { 268435455, "FF FF FF 7F" },
    };
    for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
        uint8_t b[4], want[8];
        size_t n = mqtt_varint_encode(V[i].v, b);
        size_t wn = unhex(V[i].hex, want, sizeof want);
        CHECK_EQ_MEM(b, n, want, wn);
        uint32_t v = 1;
        size_t used = 0;
        CHECK_EQ_INT(mqtt_varint_decode(want, wn, &v, &used), 0);
        CHECK_EQ_U64(v, V[i].v);
        CHECK_EQ_U64(used, wn);
        /* every truncation asks for more */
        for (size_t k = 0; k < wn; k++) CHECK_EQ_INT(mqtt_varint_decode(want, k, &v, &used), ST_EAGAIN);
    }
    uint8_t five[] = { 0xFF, 0xFF, 0xFF, 0xFF, 0x01 };
    uint32_t v;
    size_t used;
    CHECK_EQ_INT(mqtt_varint_decode(five, 5, &v, &used), ST_EPROTO);
    CHECK_EQ_INT(mqtt_varint_decode(five, 4, &v, &used), ST_EPROTO);
    /* non-minimal accepted leniently */
    uint8_t nm[] = { 0x80, 0x00 };
    CHECK_EQ_INT(mqtt_varint_decode(nm, 2, &v, &used), 0);
    CHECK_EQ_U64(v, 0);
    /* framing */
    uint8_t p[] = { 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 };
    size_t hdr;
    uint32_t rem;
    CHECK_EQ_INT(mqtt_frame(p, sizeof p, &hdr, &rem), ST_EPROTO);
    CHECK_EQ_INT(mqtt_frame(p, 1, &hdr, &rem), ST_EAGAIN);
    uint8_t q[] = { 0x30, 0x80, 0x01 };
    CHECK_EQ_INT(mqtt_frame(q, 3, &hdr, &rem), 0);
    CHECK_EQ_U64(hdr, 3);
    CHECK_EQ_U64(rem, 128);
}

/* A PUBLISH whose remaining length needs each width encodes its header exactly. */
TEST(publish_remaining_length_widths)
{
    static const uint32_t R[] = { 127, 128, 16383, 16384, 2097151, 2097152 };
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
        size_t plen = R[i] - 5; /* topic "a/b" = 2+3 bytes */
        char *payload = calloc(1, plen + 1);
        mqtt_packet pk;
        memset(&pk, 0, sizeof pk);
        pk.type = MQTT_PUBLISH;
        pk.u.publish.topic = SL("a/b");
        pk.u.publish.payload = (st_slice){ payload, plen };
        st_buf b;
        st_buf_init(&b);
        REQUIRE(mqtt_encode(&b, MQTT_V311, &pk) == 0);
        uint8_t vb[4];
        size_t vn = mqtt_varint_encode(R[i], vb);
        CHECK_EQ_U64(b.len, 1 + vn + R[i]);
        CHECK_EQ_MEM(b.ptr + 1, vn, vb, vn);
        mqtt_packet d;
        uint8_t reason;
        CHECK_EQ_INT(mqtt_decode((uint8_t *)b.ptr, b.len, MQTT_V311, &d, &reason), 0);
        CHECK_EQ_U64(d.u.publish.payload.len, plen);
        st_buf_fini(&b);
        free(payload);
    }
}

/* ---- byte-exact vectors (PROTOCOLS.md §4.6a) ----------------------------- */

TEST(vector_connect_311)
{
    uint8_t st[256], reason;
    mqtt_packet pk;
    const char *h = "10 16 00 04 4D 51 54 54 04 C2 00 3C 00 04 64 65 76 31 00 01 75 00 01 70";
    REQUIRE(dec_hex(h, 0, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.type, MQTT_CONNECT);
    const mqtt_connect *c = &pk.u.connect;
    CHECK_EQ_INT(c->version, 4);
    CHECK_EQ_INT(c->clean, 1);
    CHECK_EQ_INT(c->keep_alive_s, 60);
    CHECK(slice_is(c->client_id, "dev1"));
    CHECK(c->has_username && slice_is(c->username, "u"));
    CHECK(c->has_password && slice_is(c->password, "p"));
    CHECK_EQ_INT(c->has_will, 0);
    CHECK_EQ_STR(enc_hex(MQTT_V311, &pk), h);

    mqtt_packet ca;
    memset(&ca, 0, sizeof ca);
    ca.type = MQTT_CONNACK;
    CHECK_EQ_STR(enc_hex(MQTT_V311, &ca), "20 02 00 00");
    ca.u.connack.code = 1;
    CHECK_EQ_STR(enc_hex(MQTT_V311, &ca), "20 02 00 01");
}

TEST(vector_connect_5)
{
    uint8_t st[256], reason;
    mqtt_packet pk;
    const char *h = "10 11 00 04 4D 51 54 54 05 02 00 1E 00 00 04 64 65 76 31";
    REQUIRE(dec_hex(h, 0, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.u.connect.version, 5);
    CHECK_EQ_INT(pk.u.connect.keep_alive_s, 30);
    CHECK(slice_is(pk.u.connect.client_id, "dev1"));
    CHECK_EQ_U64(pk.u.connect.props.present, 0);
    CHECK_EQ_STR(enc_hex(MQTT_V5, &pk), h);

    mqtt_packet ca;
    memset(&ca, 0, sizeof ca);
    ca.type = MQTT_CONNACK;
    MQTT_SET(&ca.u.connack.props, MQTT_P_RECEIVE_MAX);
    ca.u.connack.props.receive_max = 100;
    CHECK_EQ_STR(enc_hex(MQTT_V5, &ca), "20 06 00 00 03 21 00 64");
    REQUIRE(dec_hex("20 06 00 00 03 21 00 64", 5, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.u.connack.props.receive_max, 100);
}

/* mosquitto_pub -t a -m b (-V 311 and -V 5): clean, keep-alive 60, a 23-byte id. */
TEST(vector_mosquitto_pub)
{
    uint8_t st[256], reason;
    mqtt_packet pk;
    const char *v4 = "10 23 00 04 4D 51 54 54 04 02 00 3C 00 17 "
                     "6D 6F 73 71 2D 61 62 63 64 65 66 67 68 69 6A 6B 6C 6D 6E 6F 70 71 72";
    REQUIRE(dec_hex(v4, 0, &pk, &reason, st, sizeof st) == 0);
    CHECK(slice_is(pk.u.connect.client_id, "mosq-abcdefghijklmnopqr"));
    CHECK_EQ_STR(enc_hex(MQTT_V311, &pk), v4);
    const char *v5 = "10 24 00 04 4D 51 54 54 05 02 00 3C 00 00 17 "
                     "6D 6F 73 71 2D 61 62 63 64 65 66 67 68 69 6A 6B 6C 6D 6E 6F 70 71 72";
    REQUIRE(dec_hex(v5, 0, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.u.connect.version, 5);
    CHECK_EQ_STR(enc_hex(MQTT_V5, &pk), v5);
    /* PUBLISH "a" "b" QoS0 */
    REQUIRE(dec_hex("30 04 00 01 61 62", 4, &pk, &reason, st, sizeof st) == 0);
    CHECK(slice_is(pk.u.publish.topic, "a") && slice_is(pk.u.publish.payload, "b"));
    REQUIRE(dec_hex("30 05 00 01 61 00 62", 5, &pk, &reason, st, sizeof st) == 0);
    CHECK(slice_is(pk.u.publish.payload, "b"));
}

TEST(vector_publish_flows)
{
    uint8_t st[256], reason;
    mqtt_packet pk;
    const char *q0 = "30 15 00 08 70 6C 61 6E 74 2F 6C 31 74 65 6D 70 20 76 3D 32 31 2E 35";
    REQUIRE(dec_hex(q0, 4, &pk, &reason, st, sizeof st) == 0);
    CHECK(slice_is(pk.u.publish.topic, "plant/l1"));
    CHECK(slice_is(pk.u.publish.payload, "temp v=21.5"));
    CHECK_EQ_INT(pk.u.publish.qos, 0);
    CHECK_EQ_STR(enc_hex(4, &pk), q0);

    REQUIRE(dec_hex("32 08 00 03 61 2F 62 00 01 78", 4, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.u.publish.qos, 1);
    CHECK_EQ_INT(pk.u.publish.packet_id, 1);
    CHECK_EQ_STR(enc_hex(4, &pk), "32 08 00 03 61 2F 62 00 01 78");
    REQUIRE(dec_hex("34 08 00 03 61 2F 62 00 02 78", 4, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.u.publish.qos, 2);
    CHECK_EQ_STR(enc_hex(4, &pk), "34 08 00 03 61 2F 62 00 02 78");

    mqtt_packet a;
    memset(&a, 0, sizeof a);
    a.u.ack.packet_id = 1;
    a.type = MQTT_PUBACK;
    CHECK_EQ_STR(enc_hex(4, &a), "40 02 00 01");
    a.u.ack.packet_id = 2;
    a.type = MQTT_PUBREC;
    CHECK_EQ_STR(enc_hex(4, &a), "50 02 00 02");
    a.type = MQTT_PUBREL;
    CHECK_EQ_STR(enc_hex(4, &a), "62 02 00 02");
    a.type = MQTT_PUBCOMP;
    CHECK_EQ_STR(enc_hex(4, &a), "70 02 00 02");
    REQUIRE(dec_hex("62 02 00 02", 4, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.type, MQTT_PUBREL);
    CHECK_EQ_INT(pk.u.ack.packet_id, 2);

    REQUIRE(dec_hex("32 09 00 03 61 2F 62 00 03 00 78", 5, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.u.publish.packet_id, 3);
    CHECK(slice_is(pk.u.publish.payload, "x"));
    a.type = MQTT_PUBACK;
    a.u.ack.packet_id = 3;
    a.u.ack.reason = 0x10;
    CHECK_EQ_STR(enc_hex(5, &a), "40 03 00 03 10");
    a.u.ack.reason = 0;
    CHECK_EQ_STR(enc_hex(5, &a), "40 02 00 03");
    REQUIRE(dec_hex("40 03 00 03 10", 5, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.u.ack.reason, 0x10);
}

TEST(vector_subscribe_ping_disconnect)
{
    uint8_t st[256], reason;
    mqtt_packet pk;
    REQUIRE(dec_hex("82 08 00 07 00 03 61 2F 23 01", 4, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.u.subscribe.packet_id, 7);
    CHECK_EQ_INT(pk.u.subscribe.count, 1);
    size_t off = 0;
    mqtt_sub sub;
    REQUIRE(mqtt_sub_next(&pk, &off, &sub) == 1);
    CHECK(slice_is(sub.filter, "a/#"));
    CHECK_EQ_INT(sub.options, 1);
    CHECK_EQ_INT(mqtt_sub_next(&pk, &off, &sub), 0);
    CHECK_EQ_STR(enc_hex(4, &(mqtt_packet){ .type = MQTT_SUBSCRIBE, .u.subscribe = {
        .packet_id = 7, .count = 1, .subs = &(mqtt_sub){ SL("a/#"), 1 } } }),
        "82 08 00 07 00 03 61 2F 23 01");
    CHECK_EQ_STR(enc_hex(4, &(mqtt_packet){ .type = MQTT_SUBACK, .u.suback = {
        .packet_id = 7, .codes = SL("\x01") } }), "90 03 00 07 01");
    CHECK_EQ_STR(enc_hex(4, &(mqtt_packet){ .type = MQTT_PINGREQ }), "C0 00");
    CHECK_EQ_STR(enc_hex(4, &(mqtt_packet){ .type = MQTT_PINGRESP }), "D0 00");
    CHECK_EQ_STR(enc_hex(4, &(mqtt_packet){ .type = MQTT_DISCONNECT }), "E0 00");
    CHECK_EQ_STR(enc_hex(5, &(mqtt_packet){ .type = MQTT_DISCONNECT }), "E0 00");
    CHECK_EQ_STR(enc_hex(5, &(mqtt_packet){ .type = MQTT_DISCONNECT, .u.reason = { .reason = 0x8D } }), "E0 01 8D");
    CHECK_EQ_STR(enc_hex(4, &(mqtt_packet){ .type = MQTT_UNSUBACK, .u.suback = { .packet_id = 7 } }), "B0 02 00 07");
    REQUIRE(dec_hex("C0 00", 4, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.type, MQTT_PINGREQ);
    REQUIRE(dec_hex("E0 00", 5, &pk, &reason, st, sizeof st) == 0);
    CHECK_EQ_INT(pk.u.reason.reason, 0);
}

TEST(vector_sparkplug_will)
{
    uint8_t st[256], reason;
    mqtt_packet pk;
    const char *h = "10 3A 00 04 4D 51 54 54 04 06 00 1E 00 02 45 31 00 14 73 70 42 76 31 2E 30 2F 47 31 "
                    "2F 4E 44 45 41 54 48 2F 45 31 00 14 08 80 D0 95 FF BC 31 12 0B 0A 05 62 64 53 65 71 20 04 58 00";
    REQUIRE(dec_hex(h, 0, &pk, &reason, st, sizeof st) == 0);
    const mqtt_connect *c = &pk.u.connect;
    CHECK(c->has_will);
    CHECK_EQ_INT(c->will_qos, 0);
    CHECK(slice_is(c->will_topic, "spBv1.0/G1/NDEATH/E1"));
    CHECK_EQ_U64(c->will_payload.len, 20);
    CHECK(slice_is(c->client_id, "E1"));
    CHECK_EQ_STR(enc_hex(4, &pk), h);
}

/* ---- round trips ---------------------------------------------------------- */

static void roundtrip(uint8_t ver, const mqtt_packet *pk, mqtt_packet *out, uint8_t *bytes, size_t cap, size_t *n)
{
    st_buf b;
    st_buf_init(&b);
    int rc = mqtt_encode(&b, ver, pk);
    CHECK_EQ_INT(rc, 0);
    if (!rc && b.len <= cap) {
        memcpy(bytes, b.ptr, b.len);
        *n = b.len;
        uint8_t reason = 0;
        CHECK_EQ_INT(mqtt_decode(bytes, b.len, ver, out, &reason), 0);
        CHECK_EQ_INT(out->type, pk->type);
        /* re-encode what was decoded: the same bytes (user props go through the iterator test) */
        if (!out->u.connect.props.user_count) CHECK_EQ_STR(enc_hex(ver, out), tohex(bytes, b.len));
    }
    st_buf_fini(&b);
}

TEST(roundtrip_all_types)
{
    uint8_t bytes[2048];
    size_t n;
    for (uint8_t ver = 4; ver <= 5; ver++) {
        mqtt_packet pk, d;
        /* CONNECT with will, username, password */
        memset(&pk, 0, sizeof pk);
        pk.type = MQTT_CONNECT;
        mqtt_connect *c = &pk.u.connect;
        c->version = ver;
        c->clean = 1;
        c->keep_alive_s = 1234;
        c->client_id = SL("client-\xC3\xA9");
        c->has_will = 1;
        c->will_qos = 2;
        c->will_retain = 1;
        c->will_topic = SL("w/t");
        c->will_payload = SL("bye");
        c->has_username = c->has_password = 1;
        c->username = SL("user");
        c->password = SL("pa\0ss");
        if (ver == 5) {
            MQTT_SET(&c->props, MQTT_P_SESSION_EXPIRY);
            c->props.session_expiry_s = 3600;
            MQTT_SET(&c->props, MQTT_P_RECEIVE_MAX);
            c->props.receive_max = 10;
            MQTT_SET(&c->props, MQTT_P_MAX_PACKET_SIZE);
            c->props.max_packet_size = 65536;
            MQTT_SET(&c->props, MQTT_P_TOPIC_ALIAS_MAX);
            c->props.topic_alias_max = 5;
            MQTT_SET(&c->props, MQTT_P_REQUEST_PROBLEM_INFO);
            c->props.request_problem_info = 0;
            MQTT_SET(&c->will_props, MQTT_P_WILL_DELAY);
            c->will_props.will_delay_s = 9;
            MQTT_SET(&c->will_props, MQTT_P_CONTENT_TYPE);
            c->will_props.content_type = SL("text/plain");
        }
        roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
        CHECK(slice_is(d.u.connect.client_id, "client-\xC3\xA9"));
        CHECK_EQ_INT(d.u.connect.will_qos, 2);
        CHECK_EQ_INT(d.u.connect.will_retain, 1);
        CHECK_EQ_MEM(d.u.connect.password.ptr, d.u.connect.password.len, "pa\0ss", 5);
        if (ver == 5) {
            CHECK_EQ_INT(d.u.connect.props.session_expiry_s, 3600);
            CHECK_EQ_INT(d.u.connect.props.receive_max, 10);
            CHECK_EQ_INT(d.u.connect.props.max_packet_size, 65536);
            CHECK_EQ_INT(d.u.connect.props.topic_alias_max, 5);
            CHECK(MQTT_HAS(&d.u.connect.props, MQTT_P_REQUEST_PROBLEM_INFO));
            CHECK_EQ_INT(d.u.connect.will_props.will_delay_s, 9);
            CHECK(slice_is(d.u.connect.will_props.content_type, "text/plain"));
        }

        /* CONNACK */
        memset(&pk, 0, sizeof pk);
        pk.type = MQTT_CONNACK;
        pk.u.connack.session_present = 1;
        pk.u.connack.code = ver == 5 ? 0x00 : 0;
        if (ver == 5) {
            mqtt_props *p = &pk.u.connack.props;
            MQTT_SET(p, MQTT_P_ASSIGNED_CLIENT_ID);
            p->assigned_client_id = SL("strata-1");
            MQTT_SET(p, MQTT_P_SERVER_KEEP_ALIVE);
            p->server_keep_alive_s = 30;
            MQTT_SET(p, MQTT_P_MAX_QOS);
            p->max_qos = 1;
            MQTT_SET(p, MQTT_P_RETAIN_AVAILABLE);
            MQTT_SET(p, MQTT_P_WILDCARD_SUB_AVAILABLE);
            MQTT_SET(p, MQTT_P_SUB_ID_AVAILABLE);
            MQTT_SET(p, MQTT_P_SHARED_SUB_AVAILABLE);
            MQTT_SET(p, MQTT_P_TOPIC_ALIAS_MAX);
            p->topic_alias_max = 16;
            MQTT_SET(p, MQTT_P_REASON_STRING);
            p->reason_string = SL("welcome");
            MQTT_SET(p, MQTT_P_RESPONSE_INFO);
            p->response_info = SL("ri");
            MQTT_SET(p, MQTT_P_SERVER_REFERENCE);
            p->server_reference = SL("other");
        }
        roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
        CHECK_EQ_INT(d.u.connack.session_present, 1);
        if (ver == 5) {
            CHECK(slice_is(d.u.connack.props.assigned_client_id, "strata-1"));
            CHECK_EQ_INT(d.u.connack.props.server_keep_alive_s, 30);
            CHECK_EQ_INT(d.u.connack.props.topic_alias_max, 16);
        }

        /* PUBLISH QoS 0/1/2, retain, dup */
        for (uint8_t q = 0; q <= 2; q++) {
            memset(&pk, 0, sizeof pk);
            pk.type = MQTT_PUBLISH;
            mqtt_publish *pb = &pk.u.publish;
            pb->qos = q;
            pb->retain = 1;
            pb->dup = q > 0;
            pb->packet_id = q ? (uint16_t)(0xFF00 + q) : 0;
            pb->topic = SL("plant/line1/temp");
            pb->payload = SL("t v=1");
            if (ver == 5) {
                mqtt_props *p = &pb->props;
                MQTT_SET(p, MQTT_P_PAYLOAD_FORMAT);
                p->payload_format = 1;
                MQTT_SET(p, MQTT_P_MESSAGE_EXPIRY);
                p->message_expiry_s = 60;
                MQTT_SET(p, MQTT_P_CONTENT_TYPE);
                p->content_type = SL("text/x-lp");
                MQTT_SET(p, MQTT_P_RESPONSE_TOPIC);
                p->response_topic = SL("r/t");
                MQTT_SET(p, MQTT_P_CORRELATION_DATA);
                p->correlation_data = SL("\x01\x02");
                MQTT_SET(p, MQTT_P_TOPIC_ALIAS);
                p->topic_alias = 3;
                MQTT_SET(p, MQTT_P_SUBSCRIPTION_ID);
                p->subscription_id = 300;
            }
            roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
            CHECK_EQ_INT(d.u.publish.qos, q);
            CHECK_EQ_INT(d.u.publish.retain, 1);
            CHECK_EQ_INT(d.u.publish.dup, q > 0);
            CHECK_EQ_INT(d.u.publish.packet_id, pk.u.publish.packet_id);
            CHECK(slice_is(d.u.publish.payload, "t v=1"));
            if (ver == 5) {
                CHECK_EQ_INT(d.u.publish.props.topic_alias, 3);
                CHECK_EQ_INT(d.u.publish.props.subscription_id, 300);
                CHECK_EQ_INT(d.u.publish.props.message_expiry_s, 60);
                CHECK(slice_is(d.u.publish.props.response_topic, "r/t"));
            }
        }

        /* acks */
        static const uint8_t AT[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP };
        for (size_t i = 0; i < 4; i++) {
            memset(&pk, 0, sizeof pk);
            pk.type = AT[i];
            pk.u.ack.packet_id = 513;
            if (ver == 5) {
                pk.u.ack.reason = (AT[i] == MQTT_PUBREL || AT[i] == MQTT_PUBCOMP) ? 0x92 : 0x83;
                MQTT_SET(&pk.u.ack.props, MQTT_P_REASON_STRING);
                pk.u.ack.props.reason_string = SL("why");
            }
            roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
            CHECK_EQ_INT(d.u.ack.packet_id, 513);
            CHECK_EQ_INT(d.u.ack.reason, pk.u.ack.reason);
            /* 5.0 short forms */
            if (ver == 5) {
                pk.u.ack.props.present = 0;
                roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
                CHECK_EQ_U64(n, 5);
                CHECK_EQ_INT(d.u.ack.reason, pk.u.ack.reason);
            }
        }

        /* SUBSCRIBE / UNSUBSCRIBE */
        mqtt_sub subs[3] = { { SL("a/+/c"), 0 }, { SL("#"), 1 }, { SL("x/y"), 2 } };
        if (ver == 5) subs[1].options = 1 | 4 | 8 | 0x20;
        for (int un = 0; un <= 1; un++) {
            memset(&pk, 0, sizeof pk);
            pk.type = un ? MQTT_UNSUBSCRIBE : MQTT_SUBSCRIBE;
            pk.u.subscribe.packet_id = 99;
            pk.u.subscribe.count = 3;
            pk.u.subscribe.subs = subs;
            if (ver == 5 && !un) {
                MQTT_SET(&pk.u.subscribe.props, MQTT_P_SUBSCRIPTION_ID);
                pk.u.subscribe.props.subscription_id = 268435455;
            }
            roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
            CHECK_EQ_INT(d.u.subscribe.count, 3);
            size_t off = 0;
            mqtt_sub s;
            for (int k = 0; k < 3; k++) {
                REQUIRE(mqtt_sub_next(&d, &off, &s));
                CHECK(st_slice_eq(s.filter, subs[k].filter));
                if (!un) CHECK_EQ_INT(s.options, subs[k].options);
            }
            CHECK_EQ_INT(mqtt_sub_next(&d, &off, &s), 0);
            if (ver == 5 && !un) CHECK_EQ_INT(d.u.subscribe.props.subscription_id, 268435455);
        }

        /* SUBACK / UNSUBACK */
        memset(&pk, 0, sizeof pk);
        pk.type = MQTT_SUBACK;
        pk.u.suback.packet_id = 99;
        pk.u.suback.codes = ver == 5 ? SL("\x00\x01\x8F") : SL("\x00\x01\x80");
        roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
        CHECK(st_slice_eq(d.u.suback.codes, pk.u.suback.codes));
        pk.type = MQTT_UNSUBACK;
        pk.u.suback.codes = ver == 5 ? SL("\x00\x11") : SL("");
        roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
        CHECK(st_slice_eq(d.u.suback.codes, pk.u.suback.codes));

        /* PINGREQ, PINGRESP, DISCONNECT */
        memset(&pk, 0, sizeof pk);
        pk.type = MQTT_PINGREQ;
        roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
        pk.type = MQTT_PINGRESP;
        roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
        pk.type = MQTT_DISCONNECT;
        if (ver == 5) {
            pk.u.reason.reason = MQTT_RC_DISCONNECT_WITH_WILL;
            MQTT_SET(&pk.u.reason.props, MQTT_P_SESSION_EXPIRY);
            pk.u.reason.props.session_expiry_s = 10;
        }
        roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
        if (ver == 5) {
            CHECK_EQ_INT(d.u.reason.reason, 4);
            CHECK_EQ_INT(d.u.reason.props.session_expiry_s, 10);
        }
        /* AUTH (5.0 only) */
        memset(&pk, 0, sizeof pk);
        pk.type = MQTT_AUTH;
        if (ver == 5) {
            pk.u.reason.reason = 0x18;
            MQTT_SET(&pk.u.reason.props, MQTT_P_AUTH_METHOD);
            pk.u.reason.props.auth_method = SL("SCRAM-SHA-1");
            MQTT_SET(&pk.u.reason.props, MQTT_P_AUTH_DATA);
            pk.u.reason.props.auth_data = SL("\x00\x01");
            roundtrip(ver, &pk, &d, bytes, sizeof bytes, &n);
            CHECK(slice_is(d.u.reason.props.auth_method, "SCRAM-SHA-1"));
        } else {
            CHECK_EQ_STR(enc_hex(4, &pk), "ERR");
        }
    }
}

TEST(user_properties)
{
    mqtt_user_prop up[3] = { { SL("k1"), SL("v1") }, { SL("k1"), SL("v2") }, { SL(""), SL("") } };
    mqtt_packet pk, d;
    memset(&pk, 0, sizeof pk);
    pk.type = MQTT_PUBLISH;
    pk.u.publish.topic = SL("t");
    pk.u.publish.payload = SL("p");
    MQTT_SET(&pk.u.publish.props, MQTT_P_CONTENT_TYPE);
    pk.u.publish.props.content_type = SL("ct");
    pk.u.publish.props.user = up;
    pk.u.publish.props.user_count = 3;
    uint8_t bytes[256];
    size_t n;
    roundtrip(5, &pk, &d, bytes, sizeof bytes, &n);
    CHECK_EQ_INT(d.u.publish.props.user_count, 3);
    CHECK(MQTT_HAS(&d.u.publish.props, MQTT_P_USER_PROPERTY));
    size_t off = 0;
    st_slice k, v;
    for (int i = 0; i < 3; i++) {
        REQUIRE(mqtt_props_user_next(&d.u.publish.props, &off, &k, &v));
        CHECK(st_slice_eq(k, up[i].key) && st_slice_eq(v, up[i].value));
    }
    CHECK_EQ_INT(mqtt_props_user_next(&d.u.publish.props, &off, &k, &v), 0);
    CHECK(slice_is(d.u.publish.payload, "p"));
}

TEST(encode_errors)
{
    static char big[70000];
    mqtt_packet pk;
    memset(&pk, 0, sizeof pk);
    pk.type = MQTT_PUBLISH;
    pk.u.publish.topic = (st_slice){ big, sizeof big };
    st_buf b;
    st_buf_init(&b);
    CHECK_EQ_INT(mqtt_encode(&b, 4, &pk), ST_EINVAL);
    pk.u.publish.topic = SL("t");
    pk.u.publish.qos = 1; /* packet id 0 */
    CHECK_EQ_INT(mqtt_encode(&b, 4, &pk), ST_EINVAL);
    pk.u.publish.qos = 3;
    pk.u.publish.packet_id = 1;
    CHECK_EQ_INT(mqtt_encode(&b, 4, &pk), ST_EINVAL);
    memset(&pk, 0, sizeof pk);
    pk.type = MQTT_SUBSCRIBE;
    pk.u.subscribe.packet_id = 1; /* no filters */
    CHECK_EQ_INT(mqtt_encode(&b, 4, &pk), ST_EINVAL);
    pk.type = 0;
    CHECK_EQ_INT(mqtt_encode(&b, 4, &pk), ST_EINVAL);
    CHECK_EQ_U64(b.len, 0);
    st_buf_fini(&b);
}

/* ---- malformed ---------------------------------------------------------- */

TEST(malformed_reason_codes)
{
    static const struct { const char *hex; uint8_t ver; int rc; uint8_t reason; } M[] = {
        { "36 07 00 03 61 2F 62 00 01", 4, ST_EPROTO, 0x81 },       /* QoS 3 */
        { "38 05 00 03 61 2F 62", 4, ST_EPROTO, 0x81 },             /* DUP with QoS 0 */
        { "80 08 00 07 00 03 61 2F 23 01", 4, ST_EPROTO, 0x81 },    /* SUBSCRIBE flags 0000 */
        { "A0 07 00 07 00 03 61 2F 23", 4, ST_EPROTO, 0x81 },       /* UNSUBSCRIBE flags 0000 */
        { "60 02 00 01", 4, ST_EPROTO, 0x81 },                      /* PUBREL flags 0000 */
        { "42 02 00 01", 4, ST_EPROTO, 0x81 },                      /* PUBACK flags 0010 */
        { "C1 00", 4, ST_EPROTO, 0x81 },                            /* PINGREQ flags */
        { "C0 01 00", 4, ST_EPROTO, 0x81 },                         /* PINGREQ with a body */
        { "E0 01 00", 4, ST_EPROTO, 0x81 },                         /* 3.1.1 DISCONNECT with a body */
        { "00 00", 4, ST_EPROTO, 0x81 },                            /* type 0 */
        { "F0 00", 4, ST_EPROTO, 0x81 },                            /* AUTH in 3.1.1 */
        { "10 0C 00 04 4D 51 54 54 04 03 00 3C 00 00", 0, ST_EPROTO, 0x81 },   /* reserved flag */
        { "10 0C 00 04 4D 51 54 54 04 0A 00 3C 00 00", 0, ST_EPROTO, 0x81 },   /* will QoS without will */
        { "10 0C 00 04 4D 51 54 54 04 22 00 3C 00 00", 0, ST_EPROTO, 0x81 },   /* will retain without will */
        { "10 0C 00 04 4D 51 54 54 04 1E 00 3C 00 00", 0, ST_EPROTO, 0x81 },   /* will QoS 3 */
        { "10 0F 00 04 4D 51 54 54 04 42 00 3C 00 00 00 01 70", 0, ST_EPROTO, 0x81 }, /* password, no user */
        { "10 0E 00 04 4D 51 54 54 04 02 00 3C 00 05 61", 0, ST_EPROTO, 0x81 },       /* id past end */
        { "10 0F 00 04 4D 51 54 54 04 02 00 3C 00 01 61 FF", 0, ST_EPROTO, 0x81 },    /* trailing byte */
        { "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 C0", 0, ST_EPROTO, 0x81 },       /* bad UTF-8 id */
        { "10 0C 00 06 4D 51 49 73 64 70 03 02 00 3C", 0, ST_EUNSUPPORTED, 0x84 },   /* MQIsdp 3 */
        { "10 0C 00 04 4D 51 54 54 06 02 00 3C 00 00", 0, ST_EUNSUPPORTED, 0x84 },   /* level 6 */
        { "32 08 00 03 61 2F 62 00 00 78", 4, ST_EPROTO, 0x82 },    /* QoS1 pid 0 */
        { "30 05 00 03 61 2F 2B", 4, ST_EPROTO, 0x90 },             /* topic a/+ */
        { "30 05 00 03 61 2F 23", 4, ST_EPROTO, 0x90 },             /* topic a/# */
        { "30 05 00 03 61 00 62", 4, ST_EPROTO, 0x81 },             /* U+0000 */
        { "30 06 00 04 61 ED A0 80", 4, ST_EPROTO, 0x81 },          /* surrogate */
        { "30 05 00 03 C0 80 61", 4, ST_EPROTO, 0x81 },             /* overlong NUL */
        { "30 04 00 05 61 62", 4, ST_EPROTO, 0x81 },                /* topic past end */
        { "30 02 00 00", 4, ST_EPROTO, 0x82 },                      /* empty topic */
        { "30 03 00 00 00", 5, ST_EPROTO, 0x82 },                   /* 5.0 empty topic, no alias */
        { "82 02 00 07", 4, ST_EPROTO, 0x82 },                      /* SUBSCRIBE without filters */
        { "A2 02 00 07", 4, ST_EPROTO, 0x82 },                      /* UNSUBSCRIBE without filters */
        { "82 08 00 07 00 03 61 2F 23 04", 4, ST_EPROTO, 0x81 },    /* 3.1.1 options bit 2 */
        { "82 08 00 07 00 03 61 2F 23 03", 4, ST_EPROTO, 0x81 },    /* QoS 3 subscription */
        { "82 09 00 07 00 00 03 61 2F 23 40", 5, ST_EPROTO, 0x81 }, /* 5.0 reserved bit 6 */
        { "82 09 00 07 00 00 03 61 2F 23 30", 5, ST_EPROTO, 0x81 }, /* retain handling 3 */
        { "82 07 00 07 00 03 61 2F 23", 4, ST_EPROTO, 0x81 },       /* options byte missing */
        { "82 08 00 00 00 03 61 2F 23 01", 4, ST_EPROTO, 0x82 },    /* SUBSCRIBE pid 0 */
        { "40 03 00 01 00", 4, ST_EPROTO, 0x81 },                   /* 3.1.1 PUBACK too long */
        { "40 01 00", 4, ST_EPROTO, 0x81 },                         /* PUBACK too short */
        { "40 03 00 01 05", 5, ST_EPROTO, 0x82 },                   /* PUBACK reason 0x05 */
        { "70 03 00 01 10", 5, ST_EPROTO, 0x82 },                   /* PUBCOMP reason 0x10 */
        /* 5.0 properties */
        { "30 0B 00 01 74 06 23 00 01 23 00 02 78", 5, ST_EPROTO, 0x82 }, /* duplicate alias */
        { "30 08 00 01 74 03 23 00 00 78", 5, ST_EPROTO, 0x94 },    /* alias 0 */
        { "30 07 00 01 74 02 7F 00 78", 5, ST_EPROTO, 0x81 },       /* unknown property */
        { "30 07 00 01 74 02 01 02 78", 5, ST_EPROTO, 0x82 },       /* payload format 2 */
        { "30 06 00 01 74 09 01 00", 5, ST_EPROTO, 0x81 },          /* props past end */
        { "30 08 00 01 74 03 11 00 00", 5, ST_EPROTO, 0x81 },       /* u32 cut short */
        { "30 09 00 01 74 05 11 00 00 00 01", 5, ST_EPROTO, 0x82 }, /* session expiry in PUBLISH */
        { "10 10 00 04 4D 51 54 54 05 02 00 3C 03 21 00 00 00 00", 0, ST_EPROTO, 0x82 }, /* recv max 0 */
        { "10 12 00 04 4D 51 54 54 05 02 00 3C 05 27 00 00 00 00 00 00", 0, ST_EPROTO, 0x82 }, /* max pkt 0 */
        { "10 10 00 04 4D 51 54 54 05 02 00 3C 03 23 00 01 00 00", 0, ST_EPROTO, 0x82 }, /* alias in CONNECT */
        { "10 17 00 04 4D 51 54 54 05 02 00 3C 0A 11 00 00 00 01 11 00 00 00 02 00 00", 0,
          ST_EPROTO, 0x82 },                                        /* duplicate session expiry */
        { "10 10 00 04 4D 51 54 54 05 06 00 3C 00 00 00 00 00 00", 0, ST_EPROTO, 0x81 }, /* will props short */
        { "10 15 00 04 4D 51 54 54 05 06 00 3C 00 00 00 00 00 03 61 2F 2B 00 00", 0,
          ST_EPROTO, 0x90 },                                        /* will topic a/+ */
        { "E0 03 8B 01 7F", 5, ST_EPROTO, 0x81 },                   /* DISCONNECT bad property */
        { "F0 01 05", 5, ST_EPROTO, 0x82 },                         /* AUTH reason 5 */
        { "20 02 02 00", 4, ST_EPROTO, 0x81 },                      /* CONNACK flags bit 1 */
        { "90 02 00 07", 4, ST_EPROTO, 0x82 },                      /* SUBACK without codes */
        { "90 03 00 07 03", 4, ST_EPROTO, 0x81 },                   /* 3.1.1 SUBACK code 3 */
    };
    for (size_t i = 0; i < sizeof M / sizeof M[0]; i++) {
        uint8_t st[256], reason = 0;
        mqtt_packet pk;
        int rc = dec_hex(M[i].hex, M[i].ver ? M[i].ver : 4, &pk, &reason, st, sizeof st);
        if (rc != M[i].rc || reason != M[i].reason)
            UNIT__FAIL("case %zu (%s): rc %d reason 0x%02X, want %d 0x%02X", i, M[i].hex, rc, reason,
                       M[i].rc, M[i].reason);
    }
    /* the 3.1 name reports its level */
    uint8_t st[64], reason;
    mqtt_packet pk;
    memset(&pk, 0, sizeof pk);
    CHECK_EQ_INT(dec_hex("10 0C 00 06 4D 51 49 73 64 70 03 02 00 3C", 0, &pk, &reason, st, sizeof st), ST_EUNSUPPORTED);
    CHECK_EQ_INT(pk.u.connect.version, 3);
    /* length mismatch with the frame */
    CHECK_EQ_INT(dec_hex("C0 00 00", 4, &pk, &reason, st, sizeof st), ST_EPROTO);
    CHECK_EQ_INT(mqtt_decode(NULL, 0, 4, &pk, &reason), ST_EPROTO);
    /* 5.0 allows a password without a username */
    CHECK_EQ_INT(dec_hex("10 10 00 04 4D 51 54 54 05 42 00 3C 00 00 00 00 01 70", 0, &pk, &reason, st, sizeof st), 0);
    /* subscription id may repeat in a server's PUBLISH */
    CHECK_EQ_INT(dec_hex("30 09 00 01 74 04 0B 01 0B 02 78", 5, &pk, &reason, st, sizeof st), 0);
    CHECK_EQ_INT(pk.u.publish.props.subscription_id, 1);
}

TEST(filters_topics_utf8)
{
    static const struct { const char *f; int ok; } F[] = {
        { "a/b", 1 }, { "#", 1 }, { "+", 1 }, { "a/#", 1 }, { "a/+/c", 1 }, { "+/+", 1 }, { "/", 1 },
        { "/+/", 1 }, { "$SYS/#", 1 }, { "", 0 }, { "a#", 0 }, { "a/#/b", 0 }, { "a+/b", 0 },
        { "a/b+", 0 }, { "##", 0 }, { "#/", 0 }, { "a/++", 0 },
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++)
        if (mqtt_filter_valid(st_slice_cstr(F[i].f)) != F[i].ok) UNIT__FAIL("filter %s", F[i].f);
    CHECK(mqtt_topic_valid(SL("a/b")));
    CHECK(mqtt_topic_valid(SL("/")));
    CHECK(!mqtt_topic_valid(SL("")));
    CHECK(!mqtt_topic_valid(SL("a/+")));
    CHECK(mqtt_utf8_valid(SL("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80")));
    CHECK(!mqtt_utf8_valid(SL("\xC3")));
    CHECK(!mqtt_utf8_valid(SL("\xE0\x80\x80")));     /* overlong */
    CHECK(!mqtt_utf8_valid(SL("\xF4\x90\x80\x80"))); /* > U+10FFFF */
    CHECK(!mqtt_utf8_valid(SL("\xED\xBF\xBF")));     /* surrogate */
    CHECK(!mqtt_utf8_valid(SL("\x80")));
    CHECK(!mqtt_utf8_valid((st_slice){ "a\0b", 3 }));
}

/* ---- session ------------------------------------------------------------ */

typedef struct rec {
    st_buf log;             /* one line per event */
    int reply;              /* connect_reply to answer */
    int ack_inline;         /* ack QoS>0 from inside the callback */
    mqtt_session *s;
} rec;

static int on_ev(void *ctx, mqtt_event *ev)
{
    rec *r = ctx;
    switch (ev->type) {
    case MQTT_EV_CONNECT: {
        const mqtt_connect *c = &ev->pkt->u.connect;
        st_buf_printf(&r->log, "CONNECT v%u id=%.*s%s clean=%u ka=%u user=%.*s pass=%.*s will=%u\n",
                      ev->version, (int)ev->client_id.len, ev->client_id.ptr,
                      ev->client_id_assigned ? "(assigned)" : "", c->clean, ev->keep_alive_s,
                      (int)c->username.len, c->username.ptr, (int)c->password.len, c->password.ptr,
                      c->has_will);
        ev->connect_reply = r->reply;
        break;
    }
    case MQTT_EV_PUBLISH: {
        const mqtt_publish *p = &ev->pkt->u.publish;
        st_buf_printf(&r->log, "PUBLISH %.*s q=%u r=%u id=%u %.*s\n", (int)ev->topic.len, ev->topic.ptr,
                      p->qos, p->retain, p->packet_id, (int)p->payload.len, p->payload.ptr);
        if (r->ack_inline && p->qos) CHECK_EQ_INT(mqtt_session_ack(r->s, p->packet_id), 0);
        break;
    }
    case MQTT_EV_SUBSCRIBE:
        st_buf_printf(&r->log, "SUBSCRIBE id=%u n=%u\n", ev->pkt->u.subscribe.packet_id, ev->pkt->u.subscribe.count);
        break;
    case MQTT_EV_UNSUBSCRIBE:
        st_buf_printf(&r->log, "UNSUBSCRIBE id=%u\n", ev->pkt->u.subscribe.packet_id);
        break;
    case MQTT_EV_DISCONNECT:
        st_buf_printf(&r->log, "DISCONNECT reason=%02X will_kept=%u\n", ev->reason, ev->will_kept);
        break;
    case MQTT_EV_ERROR:
        st_buf_printf(&r->log, "ERROR %s reason=%02X\n", st_errname(ev->err), ev->reason);
        break;
    }
    return 0;
}

typedef struct env {
    mqtt_session *s;
    rec r;
} env;

static void env_init(env *e, const mqtt_session_opts *o)
{
    memset(e, 0, sizeof *e);
    st_buf_init(&e->r.log);
    if (mqtt_session_create(o, &e->s)) abort();
    e->r.s = e->s;
}

static void env_fini(env *e)
{
    mqtt_session_destroy(e->s);
    st_buf_fini(&e->r.log);
}

/* Feed hex at now_ms; returns feed's rc. */
static int feed(env *e, const char *h, int64_t now)
{
    uint8_t b[1024];
    size_t n = unhex(h, b, sizeof b);
    return mqtt_session_feed(e->s, b, n, now, on_ev, &e->r);
}

/* Drain the output as hex. */
static const char *out(env *e)
{
    const uint8_t *p;
    size_t n;
    mqtt_session_output(e->s, &p, &n);
    const char *h = tohex(p, n);
    mqtt_session_consume(e->s, n);
    return h;
}

/* The log since last call. */
static const char *log_take(env *e)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s", e->r.log.ptr ? e->r.log.ptr : "");
    st_buf_clear(&e->r.log);
    return buf;
}

#define C311 "10 16 00 04 4D 51 54 54 04 C2 00 3C 00 04 64 65 76 31 00 01 75 00 01 70"
#define C5   "10 11 00 04 4D 51 54 54 05 02 00 1E 00 00 04 64 65 76 31"

TEST(session_311_qos_flows)
{
    env e;
    env_init(&e, NULL);
    CHECK_EQ_INT(feed(&e, C311, 1000), 0);
    CHECK_EQ_STR(log_take(&e), "CONNECT v4 id=dev1 clean=1 ka=60 user=u pass=p will=0\n");
    CHECK_EQ_STR(out(&e), "20 02 00 00");
    CHECK(mqtt_session_connected(e.s));
    CHECK_EQ_INT(mqtt_session_version(e.s), 4);
    CHECK(slice_is(mqtt_session_client_id(e.s), "dev1"));

    /* QoS 0: event, no reply */
    CHECK_EQ_INT(feed(&e, "30 15 00 08 70 6C 61 6E 74 2F 6C 31 74 65 6D 70 20 76 3D 32 31 2E 35", 1100), 0);
    CHECK_EQ_STR(log_take(&e), "PUBLISH plant/l1 q=0 r=0 id=0 temp v=21.5\n");
    CHECK_EQ_STR(out(&e), "");

    /* QoS 1: PUBACK only after ack */
    CHECK_EQ_INT(feed(&e, "32 08 00 03 61 2F 62 00 01 78", 1200), 0);
    CHECK_EQ_STR(log_take(&e), "PUBLISH a/b q=1 r=0 id=1 x\n");
    CHECK_EQ_STR(out(&e), "");
    CHECK_EQ_INT(mqtt_session_inflight(e.s), 1);
    /* a retransmission before the ack is not delivered again */
    CHECK_EQ_INT(feed(&e, "3A 08 00 03 61 2F 62 00 01 78", 1250), 0);
    CHECK_EQ_STR(log_take(&e), "");
    CHECK_EQ_INT(mqtt_session_ack(e.s, 1), 0);
    CHECK_EQ_STR(out(&e), "40 02 00 01");
    CHECK_EQ_INT(mqtt_session_ack(e.s, 1), ST_ENOTFOUND);
    CHECK_EQ_INT(mqtt_session_ack(e.s, 0), ST_ENOTFOUND);
    CHECK_EQ_INT(mqtt_session_inflight(e.s), 0);

    /* QoS 2: PUBREC after ack, duplicate not delivered, PUBREL -> PUBCOMP */
    CHECK_EQ_INT(feed(&e, "34 08 00 03 61 2F 62 00 02 78", 1300), 0);
    CHECK_EQ_STR(log_take(&e), "PUBLISH a/b q=2 r=0 id=2 x\n");
    CHECK_EQ_STR(out(&e), "");
    CHECK_EQ_INT(feed(&e, "3C 08 00 03 61 2F 62 00 02 78", 1300), 0); /* dup before ack */
    CHECK_EQ_STR(log_take(&e), "");
    CHECK_EQ_STR(out(&e), "");
    CHECK_EQ_INT(mqtt_session_ack(e.s, 2), 0);
    CHECK_EQ_STR(out(&e), "50 02 00 02");
    CHECK_EQ_INT(mqtt_session_ack(e.s, 2), ST_ENOTFOUND);
    CHECK_EQ_INT(feed(&e, "3C 08 00 03 61 2F 62 00 02 78", 1400), 0); /* dup after PUBREC */
    CHECK_EQ_STR(log_take(&e), "");
    CHECK_EQ_STR(out(&e), "50 02 00 02");
    CHECK_EQ_INT(mqtt_session_inflight(e.s), 1);
    CHECK_EQ_INT(feed(&e, "62 02 00 02", 1500), 0);
    CHECK_EQ_STR(out(&e), "70 02 00 02");
    CHECK_EQ_INT(mqtt_session_inflight(e.s), 0);
    /* the id is free again: a new message */
    CHECK_EQ_INT(feed(&e, "34 08 00 03 61 2F 62 00 02 79", 1600), 0);
    CHECK_EQ_STR(log_take(&e), "PUBLISH a/b q=2 r=0 id=2 y\n");
    /* PUBREL for an unknown id still gets PUBCOMP */
    CHECK_EQ_INT(feed(&e, "62 02 00 09", 1700), 0);
    CHECK_EQ_STR(out(&e), "70 02 00 09");
    /* PUBREL before our PUBREC: protocol error */
    CHECK_EQ_INT(feed(&e, "62 02 00 02", 1800), 0);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=82\n");
    CHECK_EQ_STR(out(&e), "");
    CHECK(!mqtt_session_connected(e.s));
    CHECK_EQ_INT(feed(&e, "C0 00", 1900), ST_ECLOSED);
    CHECK_EQ_INT(mqtt_session_ack(e.s, 2), ST_ECLOSED);
    env_fini(&e);
}

TEST(session_ping_subscribe_disconnect)
{
    env e;
    env_init(&e, NULL);
    feed(&e, C311, 0);
    out(&e);
    log_take(&e);
    CHECK_EQ_INT(feed(&e, "C0 00", 10), 0);
    CHECK_EQ_STR(out(&e), "D0 00");
    CHECK_EQ_INT(feed(&e, "82 08 00 07 00 03 61 2F 23 01", 20), 0);
    CHECK_EQ_STR(out(&e), "90 03 00 07 01");
    CHECK_EQ_STR(log_take(&e), "SUBSCRIBE id=7 n=1\n");
    /* QoS 2 asked -> 1 granted; invalid filter -> 0x80 */
    CHECK_EQ_INT(feed(&e, "82 10 00 08 00 01 78 02 00 03 61 23 62 00 00 01 2B 00", 30), 0);
    CHECK_EQ_STR(out(&e), "90 05 00 08 01 80 00");
    CHECK_EQ_INT(feed(&e, "A2 07 00 09 00 03 61 2F 23", 40), 0);
    CHECK_EQ_STR(out(&e), "B0 02 00 09");
    CHECK_EQ_STR(log_take(&e), "SUBSCRIBE id=8 n=3\nUNSUBSCRIBE id=9\n");
    /* client-only packets and stray acks */
    CHECK_EQ_INT(feed(&e, "40 02 00 05", 45), 0);
    CHECK_EQ_STR(out(&e), "");
    CHECK_EQ_INT(feed(&e, "E0 00", 50), 0);
    CHECK_EQ_STR(log_take(&e), "DISCONNECT reason=00 will_kept=0\n");
    CHECK_EQ_INT(feed(&e, "C0 00", 60), ST_ECLOSED);
    CHECK_EQ_STR(out(&e), "");
    env_fini(&e);
}

TEST(session_will)
{
    const char *sp = "10 3A 00 04 4D 51 54 54 04 06 00 1E 00 02 45 31 00 14 73 70 42 76 31 2E 30 2F 47 31 "
                     "2F 4E 44 45 41 54 48 2F 45 31 00 14 08 80 D0 95 FF BC 31 12 0B 0A 05 62 64 53 65 71 20 04 58 00";
    env e;
    /* normal DISCONNECT discards it */
    env_init(&e, NULL);
    feed(&e, sp, 0);
    REQUIRE(mqtt_session_will(e.s) != NULL);
    CHECK(slice_is(mqtt_session_will(e.s)->topic, "spBv1.0/G1/NDEATH/E1"));
    CHECK_EQ_U64(mqtt_session_will(e.s)->payload.len, 20);
    feed(&e, "E0 00", 1);
    CHECK(mqtt_session_will(e.s) == NULL);
    env_fini(&e);
    /* protocol error keeps it */
    env_init(&e, NULL);
    feed(&e, sp, 0);
    feed(&e, "36 00", 1);
    CHECK(mqtt_session_will(e.s) != NULL);
    env_fini(&e);
    /* server disconnect (keep-alive timeout) keeps it */
    env_init(&e, NULL);
    feed(&e, sp, 0);
    CHECK_EQ_INT(mqtt_session_disconnect(e.s, MQTT_RC_KEEPALIVE_TIMEOUT), 0);
    CHECK(mqtt_session_will(e.s) != NULL);
    CHECK_EQ_INT(mqtt_session_disconnect(e.s, MQTT_RC_KEEPALIVE_TIMEOUT), ST_ECLOSED);
    env_fini(&e);
    /* 5.0 DISCONNECT 0x04 keeps it; will properties */
    env_init(&e, NULL);
    /* CONNECT 5.0 id "w", will flag, will props {will delay 5}, topic "w/t", payload "x" */
    feed(&e, "10 1C 00 04 4D 51 54 54 05 06 00 00 00 00 01 77 05 18 00 00 00 05 00 03 77 2F 74 00 01 78", 0);
    CHECK(strncmp(out(&e), "20 ", 3) == 0);
    REQUIRE(mqtt_session_will(e.s) != NULL);
    CHECK_EQ_INT(mqtt_session_will(e.s)->delay_s, 5);
    log_take(&e);
    feed(&e, "E0 01 04", 1);
    CHECK_EQ_STR(log_take(&e), "DISCONNECT reason=04 will_kept=1\n");
    CHECK(mqtt_session_will(e.s) != NULL);
    env_fini(&e);
}

TEST(session_connect_refusals)
{
    env e;
    mqtt_session_opts o = { .require_credentials = 1 };
    /* first packet not CONNECT: error, nothing sent */
    env_init(&e, NULL);
    CHECK_EQ_INT(feed(&e, "30", 0), 0);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=82\n");
    CHECK_EQ_STR(out(&e), "");
    env_fini(&e);
    /* unsupported level -> 3.1.1 rc 1 */
    env_init(&e, NULL);
    feed(&e, "10 0E 00 06 4D 51 49 73 64 70 03 02 00 3C 00 00", 0);
    CHECK_EQ_STR(out(&e), "20 02 00 01");
    CHECK_EQ_STR(log_take(&e), "ERROR EUNSUPPORTED reason=84\n");
    env_fini(&e);
    /* 3.1.1 empty id without clean session -> rc 2 */
    env_init(&e, NULL);
    feed(&e, "10 0C 00 04 4D 51 54 54 04 00 00 3C 00 00", 0);
    CHECK_EQ_STR(out(&e), "20 02 00 02");
    env_fini(&e);
    /* 3.1.1 empty id with clean session -> assigned internally */
    env_init(&e, &(mqtt_session_opts){ .conn_id = 0xAB });
    feed(&e, "10 0C 00 04 4D 51 54 54 04 02 00 3C 00 00", 0);
    CHECK_EQ_STR(out(&e), "20 02 00 00");
    CHECK(slice_is(mqtt_session_client_id(e.s), "strata-00000000000000ab"));
    env_fini(&e);
    /* credentials required */
    env_init(&e, &o);
    feed(&e, C5, 0);
    CHECK_EQ_STR(out(&e), "20 03 00 86 00");
    CHECK_EQ_STR(log_take(&e), "ERROR EAUTH reason=86\n");
    env_fini(&e);
    env_init(&e, &o);
    feed(&e, "10 0E 00 04 4D 51 54 54 04 82 00 3C 00 00 00 00", 0); /* username only */
    CHECK_EQ_STR(out(&e), "20 02 00 04");
    env_fini(&e);
    env_init(&e, &o);
    feed(&e, C311, 0);
    CHECK_EQ_STR(out(&e), "20 02 00 00");
    env_fini(&e);
    /* caller refuses */
    env_init(&e, NULL);
    e.r.reply = MQTT_RC_NOT_AUTHORIZED;
    feed(&e, C311, 0);
    CHECK_EQ_STR(out(&e), "20 02 00 05");
    CHECK(!mqtt_session_connected(e.s));
    CHECK_EQ_INT(feed(&e, "C0 00", 1), ST_ECLOSED);
    env_fini(&e);
    env_init(&e, NULL);
    e.r.reply = MQTT_RC_NOT_AUTHORIZED;
    feed(&e, C5, 0);
    CHECK_EQ_STR(out(&e), "20 03 00 87 00");
    env_fini(&e);
    /* 5.0 malformed CONNECT -> CONNACK 0x81 */
    env_init(&e, NULL);
    feed(&e, "10 0D 00 04 4D 51 54 54 05 03 00 3C 00 00 00", 0);
    CHECK_EQ_STR(out(&e), "20 03 00 81 00");
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=81\n");
    env_fini(&e);
    /* 3.1.1 malformed CONNECT -> nothing */
    env_init(&e, NULL);
    feed(&e, "10 0C 00 04 4D 51 54 54 04 03 00 3C 00 00", 0);
    CHECK_EQ_STR(out(&e), "");
    env_fini(&e);
    /* 5.0 enhanced auth -> 0x8C */
    env_init(&e, NULL);
    feed(&e, "10 14 00 04 4D 51 54 54 05 02 00 3C 07 15 00 04 53 43 52 4D 00 00", 0);
    CHECK_EQ_STR(out(&e), "20 03 00 8C 00");
    env_fini(&e);
    /* second CONNECT */
    env_init(&e, NULL);
    feed(&e, C5, 0);
    out(&e);
    log_take(&e);
    feed(&e, C5, 1);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=82\n");
    CHECK_EQ_STR(out(&e), "E0 01 82");
    env_fini(&e);
    env_init(&e, NULL);
    feed(&e, C311, 0);
    out(&e);
    feed(&e, C311, 1);
    CHECK_EQ_STR(out(&e), "");
    env_fini(&e);
}

TEST(session_v5_connack_props)
{
    env e;
    mqtt_session_opts o = { .max_packet_bytes = 65536, .receive_max = 100, .topic_alias_max = 10,
                            .keepalive_max_s = 20, .max_qos = 1, .conn_id = 1 };
    env_init(&e, &o);
    /* empty id, keep alive 30 */
    feed(&e, "10 0D 00 04 4D 51 54 54 05 02 00 1E 00 00 00", 5000);
    CHECK_EQ_STR(log_take(&e), "CONNECT v5 id=strata-0000000000000001(assigned) clean=1 ka=20 user= pass= will=0\n");
    const uint8_t *p;
    size_t n;
    mqtt_session_output(e.s, &p, &n);
    mqtt_packet pk;
    uint8_t reason;
    REQUIRE(mqtt_decode(p, n, 5, &pk, &reason) == 0);
    const mqtt_props *pr = &pk.u.connack.props;
    CHECK_EQ_INT(pk.u.connack.code, 0);
    CHECK_EQ_INT(pr->receive_max, 100);
    CHECK_EQ_INT(pr->max_packet_size, 65536);
    CHECK_EQ_INT(pr->topic_alias_max, 10);
    CHECK_EQ_INT(pr->server_keep_alive_s, 20);
    CHECK(MQTT_HAS(pr, MQTT_P_MAX_QOS) && pr->max_qos == 1);
    CHECK(slice_is(pr->assigned_client_id, "strata-0000000000000001"));
    CHECK(MQTT_HAS(pr, MQTT_P_SHARED_SUB_AVAILABLE) && pr->shared_sub_available == 0);
    mqtt_session_consume(e.s, n);
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 5000 + 30000);
    /* QoS 2 above the maximum -> 0x9B */
    feed(&e, "34 09 00 03 61 2F 62 00 02 00 78", 5001);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=9B\n");
    CHECK_EQ_STR(out(&e), "E0 01 9B");
    env_fini(&e);
}

TEST(session_defaults)
{
    /* zeroed opts: QoS 2 accepted, 1 MiB packets, receive maximum 1024 */
    env e;
    mqtt_session_opts o;
    memset(&o, 0, sizeof o);
    env_init(&e, &o);
    feed(&e, C5, 0);
    const uint8_t *p;
    size_t n;
    mqtt_session_output(e.s, &p, &n);
    mqtt_packet pk;
    uint8_t reason;
    REQUIRE(mqtt_decode(p, n, 5, &pk, &reason) == 0);
    CHECK_EQ_INT(pk.u.connack.props.receive_max, 1024);
    CHECK_EQ_INT(pk.u.connack.props.max_packet_size, 1 << 20);
    CHECK(!MQTT_HAS(&pk.u.connack.props, MQTT_P_MAX_QOS));
    CHECK(!MQTT_HAS(&pk.u.connack.props, MQTT_P_TOPIC_ALIAS_MAX));
    mqtt_session_consume(e.s, n);
    log_take(&e);
    feed(&e, "34 09 00 03 61 2F 62 00 02 00 78", 1);
    CHECK_EQ_STR(log_take(&e), "PUBLISH a/b q=2 r=0 id=2 x\n");
    /* a second CONNECT, even with another level, is a protocol error */
    feed(&e, "10 0C 00 06 4D 51 49 73 64 70 03 02 00 3C", 2);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=82\n");
    CHECK_EQ_STR(out(&e), "E0 01 82");
    env_fini(&e);
    /* 3.1.1 QoS 2 above a maximum of 1: closed without a reply */
    env_init(&e, &(mqtt_session_opts){ .max_qos = 1 });
    feed(&e, C311, 0);
    out(&e);
    log_take(&e);
    feed(&e, "34 08 00 03 61 2F 62 00 02 78", 1);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=9B\n");
    CHECK_EQ_STR(out(&e), "");
    env_fini(&e);
}

TEST(session_keepalive)
{
    env e;
    env_init(&e, NULL);
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 0);
    feed(&e, C311, 1000);
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 1000 + 90000);
    feed(&e, "C0", 5000); /* incomplete packet: not "received" yet */
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 1000 + 90000);
    feed(&e, "00", 6000);
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 6000 + 90000);
    feed(&e, "E0 00", 7000);
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 0);
    env_fini(&e);
    /* keep alive 0: none, unless the server bounds it */
    env_init(&e, NULL);
    feed(&e, "10 0E 00 04 4D 51 54 54 04 02 00 00 00 02 69 64", 1000);
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 0);
    env_fini(&e);
    env_init(&e, &(mqtt_session_opts){ .keepalive_min_s = 10, .keepalive_max_s = 30 });
    feed(&e, "10 0E 00 04 4D 51 54 54 04 02 00 00 00 02 69 64", 1000);
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 1000 + 45000);
    env_fini(&e);
    env_init(&e, &(mqtt_session_opts){ .keepalive_min_s = 10, .keepalive_max_s = 30 });
    feed(&e, "10 0E 00 04 4D 51 54 54 04 02 00 02 00 02 69 64", 1000); /* 2 s -> 10 s */
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 1000 + 15000);
    env_fini(&e);
    /* 3.1.1 asking for more than the maximum keeps its own value */
    env_init(&e, &(mqtt_session_opts){ .keepalive_max_s = 30 });
    feed(&e, C311, 0);
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 90000);
    CHECK_EQ_INT(mqtt_session_disconnect(e.s, MQTT_RC_KEEPALIVE_TIMEOUT), 0);
    CHECK_EQ_STR(out(&e), "20 02 00 00"); /* no DISCONNECT for 3.1.1 */
    env_fini(&e);
    env_init(&e, NULL);
    feed(&e, C5, 0);
    out(&e);
    CHECK_EQ_INT(mqtt_session_disconnect(e.s, MQTT_RC_KEEPALIVE_TIMEOUT), 0);
    CHECK_EQ_STR(out(&e), "E0 01 8D");
    env_fini(&e);
}

TEST(session_receive_maximum)
{
    env e;
    env_init(&e, &(mqtt_session_opts){ .receive_max = 2 });
    feed(&e, C5, 0);
    const char *ca = out(&e);
    CHECK(strstr(ca, "21 00 02") != NULL);
    log_take(&e);
    feed(&e, "32 09 00 03 61 2F 62 00 01 00 78", 1);
    feed(&e, "34 09 00 03 61 2F 62 00 02 00 78", 2);
    CHECK_EQ_INT(mqtt_session_inflight(e.s), 2);
    CHECK_EQ_INT(mqtt_session_ack(e.s, 1), 0);
    CHECK_EQ_STR(out(&e), "40 02 00 01");
    feed(&e, "32 09 00 03 61 2F 62 00 03 00 78", 3);
    CHECK_EQ_INT(mqtt_session_ack(e.s, 2), 0); /* PUBREC: still counts until PUBCOMP */
    CHECK_EQ_STR(out(&e), "50 02 00 02");
    CHECK_EQ_STR(log_take(&e), "PUBLISH a/b q=1 r=0 id=1 x\nPUBLISH a/b q=2 r=0 id=2 x\nPUBLISH a/b q=1 r=0 id=3 x\n");
    feed(&e, "30 07 00 03 61 2F 62 00 78", 4); /* QoS 0 does not count */
    CHECK_EQ_STR(log_take(&e), "PUBLISH a/b q=0 r=0 id=0 x\n");
    feed(&e, "32 09 00 03 61 2F 62 00 04 00 78", 5);
    CHECK_EQ_STR(log_take(&e), "ERROR ELIMIT reason=93\n");
    CHECK_EQ_STR(out(&e), "E0 01 93");
    env_fini(&e);
    /* 5.0 ack with a reason; failed PUBREC ends the flow */
    env_init(&e, NULL);
    feed(&e, C5, 0);
    out(&e);
    feed(&e, "32 09 00 03 61 2F 62 00 01 00 78", 1);
    feed(&e, "34 09 00 03 61 2F 62 00 02 00 78", 1);
    CHECK_EQ_INT(mqtt_session_ack_reason(e.s, 1, MQTT_RC_PAYLOAD_INVALID), 0);
    CHECK_EQ_INT(mqtt_session_ack_reason(e.s, 2, MQTT_RC_QUOTA), 0);
    CHECK_EQ_STR(out(&e), "40 03 00 01 99 50 03 00 02 97");
    CHECK_EQ_INT(mqtt_session_inflight(e.s), 0);
    feed(&e, "62 02 00 02", 2);
    CHECK_EQ_STR(out(&e), "70 03 00 02 92");
    env_fini(&e);
}

TEST(session_v5_misc)
{
    env e;
    env_init(&e, &(mqtt_session_opts){ .topic_alias_max = 10 });
    feed(&e, C5, 0);
    out(&e);
    log_take(&e);
    /* alias 1 = "a/b", then used with an empty topic */
    feed(&e, "30 0A 00 03 61 2F 62 03 23 00 01 78", 1);
    feed(&e, "30 07 00 00 03 23 00 01 79", 2);
    /* re-point alias 1 to a longer topic */
    feed(&e, "30 0C 00 05 63 2F 64 2F 65 03 23 00 01 7A", 3);
    feed(&e, "30 07 00 00 03 23 00 01 77", 4);
    CHECK_EQ_STR(log_take(&e), "PUBLISH a/b q=0 r=0 id=0 x\nPUBLISH a/b q=0 r=0 id=0 y\n"
                               "PUBLISH c/d/e q=0 r=0 id=0 z\nPUBLISH c/d/e q=0 r=0 id=0 w\n");
    /* subscribe: invalid filter 0x8F, shared 0x9E */
    feed(&e, "82 15 00 05 00 00 02 61 23 01 00 0A 24 73 68 61 72 65 2F 67 2F 74 01", 5);
    CHECK_EQ_STR(out(&e), "90 05 00 05 00 8F 9E");
    feed(&e, "A2 0B 00 06 00 00 01 61 00 03 62 2F 63", 6);
    CHECK_EQ_STR(out(&e), "B0 05 00 06 00 00 00");
    log_take(&e);
    /* alias 11 > max */
    feed(&e, "30 07 00 00 03 23 00 0B 78", 7);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=94\n");
    CHECK_EQ_STR(out(&e), "E0 01 94");
    env_fini(&e);
    /* unknown alias with an empty topic */
    env_init(&e, &(mqtt_session_opts){ .topic_alias_max = 10 });
    feed(&e, C5, 0);
    out(&e);
    log_take(&e);
    feed(&e, "30 07 00 00 03 23 00 02 78", 1);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=82\n");
    env_fini(&e);
    /* aliases not announced -> any alias is invalid */
    env_init(&e, NULL);
    feed(&e, C5, 0);
    out(&e);
    log_take(&e);
    feed(&e, "30 0A 00 03 61 2F 62 03 23 00 01 78", 1);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=94\n");
    env_fini(&e);
    /* AUTH -> 0x8C */
    env_init(&e, NULL);
    feed(&e, C5, 0);
    out(&e);
    log_take(&e);
    feed(&e, "F0 00", 1);
    CHECK_EQ_STR(log_take(&e), "ERROR EUNSUPPORTED reason=8C\n");
    CHECK_EQ_STR(out(&e), "E0 01 8C");
    env_fini(&e);
    /* session expiry 0 at CONNECT, non-zero at DISCONNECT -> 0x82 */
    env_init(&e, NULL);
    feed(&e, C5, 0);
    out(&e);
    log_take(&e);
    feed(&e, "E0 07 00 05 11 00 00 00 0A", 1);
    CHECK_EQ_STR(log_take(&e), "ERROR EPROTO reason=82\n");
    CHECK_EQ_STR(out(&e), "E0 01 82");
    env_fini(&e);
    /* malformed in 5.0 -> DISCONNECT 0x81; packet too large -> 0x95 */
    env_init(&e, &(mqtt_session_opts){ .max_packet_bytes = 100 });
    feed(&e, C5, 0);
    out(&e);
    log_take(&e);
    feed(&e, "30 65", 1); /* 2 + 101 bytes: refused from the header alone */
    CHECK_EQ_STR(log_take(&e), "ERROR ETOOLARGE reason=95\n");
    CHECK_EQ_STR(out(&e), "E0 01 95");
    env_fini(&e);
    env_init(&e, NULL);
    feed(&e, C5, 0);
    out(&e);
    feed(&e, "36 00", 1);
    CHECK_EQ_STR(out(&e), "E0 01 81");
    env_fini(&e);
    env_init(&e, NULL);
    feed(&e, C5, 0);
    out(&e);
    feed(&e, "30 FF FF FF FF 01", 1);
    CHECK_EQ_STR(out(&e), "E0 01 81");
    env_fini(&e);
    /* server-to-client packet from a client */
    env_init(&e, NULL);
    feed(&e, C5, 0);
    out(&e);
    feed(&e, "D0 00", 1);
    CHECK_EQ_STR(out(&e), "E0 01 82");
    env_fini(&e);
}

TEST(session_deferred_connack)
{
    env e;
    env_init(&e, NULL);
    e.r.reply = MQTT_CONNECT_DEFER;
    /* CONNECT + PUBLISH in one read; the PUBLISH waits for the decision */
    CHECK_EQ_INT(feed(&e, C311 " 30 07 00 03 61 2F 62 78 79", 0), 0);
    CHECK_EQ_STR(log_take(&e), "CONNECT v4 id=dev1 clean=1 ka=60 user=u pass=p will=0\n");
    CHECK_EQ_STR(out(&e), "");
    CHECK(!mqtt_session_connected(e.s));
    CHECK_EQ_INT(mqtt_session_keepalive_deadline_ms(e.s), 90000);
    CHECK_EQ_INT(feed(&e, "C0 00", 1), 0);
    CHECK_EQ_STR(log_take(&e), "");
    CHECK_EQ_INT(mqtt_session_connack(e.s, 0), 0);
    CHECK_EQ_INT(mqtt_session_connack(e.s, 0), ST_EINVAL);
    CHECK_EQ_STR(out(&e), "20 02 00 00");
    CHECK_EQ_INT(mqtt_session_feed(e.s, NULL, 0, 2, on_ev, &e.r), 0);
    CHECK_EQ_STR(log_take(&e), "PUBLISH a/b q=0 r=0 id=0 xy\n");
    CHECK_EQ_STR(out(&e), "D0 00");
    env_fini(&e);
    /* deferred refusal */
    env_init(&e, NULL);
    e.r.reply = MQTT_CONNECT_DEFER;
    feed(&e, C5, 0);
    CHECK_EQ_INT(mqtt_session_connack(e.s, MQTT_RC_BAD_AUTH), 0);
    CHECK_EQ_STR(out(&e), "20 03 00 86 00");
    CHECK_EQ_INT(mqtt_session_feed(e.s, NULL, 0, 2, on_ev, &e.r), ST_ECLOSED);
    env_fini(&e);
    /* too much input while deferred */
    env_init(&e, &(mqtt_session_opts){ .max_packet_bytes = 64 });
    e.r.reply = MQTT_CONNECT_DEFER;
    feed(&e, C311, 0);
    log_take(&e);
    for (int i = 0; i < 40; i++) feed(&e, "C0 00", 1);
    CHECK_EQ_STR(log_take(&e), "ERROR ELIMIT reason=97\n");
    env_fini(&e);
}

/* A stream exercising every flow; the callback acks inline so replies are
 * deterministic across splits. */
static const char *STREAM =
    C5 " "
    "30 16 00 08 70 6C 61 6E 74 2F 6C 31 00 74 65 6D 70 20 76 3D 32 31 2E 35 "
    "32 09 00 03 61 2F 62 00 01 00 78 "
    "34 09 00 03 61 2F 62 00 02 00 78 "
    "3C 09 00 03 61 2F 62 00 02 00 78 "
    "62 02 00 02 "
    "82 09 00 07 00 00 03 61 2F 23 01 "
    "C0 00 "
    "A2 08 00 08 00 00 03 61 2F 23 "
    "31 89 01 00 01 7A 00" /* 137-byte remaining length: 2-byte varint */;

static size_t stream_bytes(uint8_t *b, size_t cap)
{
    size_t n = unhex(STREAM, b, cap);
    /* pad the last PUBLISH's payload to its declared length, then DISCONNECT */
    size_t last_start = n - 7;
    size_t want = last_start + 3 + 137;
    while (n < want) b[n++] = 'p';
    b[n++] = 0xE0;
    b[n++] = 0x00;
    return n;
}

static void run_split(const uint8_t *b, size_t n, const size_t *cuts, size_t ncuts, st_buf *log, st_buf *outb)
{
    env e;
    env_init(&e, NULL);
    e.r.ack_inline = 1;
    size_t prev = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        int rc = mqtt_session_feed(e.s, b + prev, end - prev, (int64_t)i, on_ev, &e.r);
        if (rc && rc != ST_ECLOSED) UNIT__FAIL("feed rc %d", rc);
        const uint8_t *p;
        size_t on;
        mqtt_session_output(e.s, &p, &on);
        st_buf_append(outb, p, on);
        mqtt_session_consume(e.s, on);
        prev = end;
    }
    st_buf_append(log, e.r.log.ptr, e.r.log.len);
    env_fini(&e);
}

TEST(session_split_every_boundary)
{
    uint8_t b[1024];
    size_t n = stream_bytes(b, sizeof b);
    st_buf log0, out0;
    st_buf_init(&log0);
    st_buf_init(&out0);
    run_split(b, n, NULL, 0, &log0, &out0);
    CHECK(log0.ptr && strstr(log0.ptr, "DISCONNECT reason=00") != NULL);
    CHECK(log0.ptr && strstr(log0.ptr, "PUBLISH plant/l1 q=0") != NULL);
    CHECK(log0.ptr && !strstr(log0.ptr, "ERROR"));
    /* replies: CONNACK, PUBACK 1, PUBREC 2, PUBREC 2 (dup), PUBCOMP 2, SUBACK, PINGRESP, UNSUBACK */
    CHECK(strstr(tohex(out0.ptr, out0.len), "40 02 00 01 50 02 00 02 50 02 00 02 70 02 00 02 "
                                            "90 04 00 07 00 01 D0 00 B0 04 00 08 00 00") != NULL);
    for (size_t cut = 1; cut < n; cut++) {
        st_buf l, o;
        st_buf_init(&l);
        st_buf_init(&o);
        run_split(b, n, &cut, 1, &l, &o);
        if (l.len != log0.len || memcmp(l.ptr, log0.ptr, l.len) || o.len != out0.len || memcmp(o.ptr, out0.ptr, o.len))
            UNIT__FAIL("split at %zu differs", cut);
        st_buf_fini(&l);
        st_buf_fini(&o);
    }
    /* byte by byte */
    size_t cuts[1024];
    for (size_t i = 0; i + 1 < n; i++) cuts[i] = i + 1;
    st_buf l, o;
    st_buf_init(&l);
    st_buf_init(&o);
    run_split(b, n, cuts, n - 1, &l, &o);
    CHECK_EQ_MEM(l.ptr, l.len, log0.ptr, log0.len);
    CHECK_EQ_MEM(o.ptr, o.len, out0.ptr, out0.len);
    st_buf_fini(&l);
    st_buf_fini(&o);
    st_buf_fini(&log0);
    st_buf_fini(&out0);
}

TEST(session_many_inflight_ids)
{
    /* fill and drain the table in a scrambled order (exercises growth and deletion) */
    env e;
    env_init(&e, &(mqtt_session_opts){ .receive_max = 65535 });
    feed(&e, C5, 0);
    out(&e);
    uint8_t pkt[16] = { 0x32, 0x08, 0x00, 0x01, 't', 0, 0, 0x00, 'x' };
    for (uint32_t id = 1; id <= 3000; id++) {
        pkt[5] = (uint8_t)(id >> 8);
        pkt[6] = (uint8_t)id;
        pkt[0] = id % 2 ? 0x32 : 0x34;
        /* 32 08 00 01 74 idH idL 00 78: topic "t", props 0, payload "x" */
        uint8_t p2[] = { pkt[0], 0x07, 0x00, 0x01, 't', pkt[5], pkt[6], 0x00, 'x' };
        p2[1] = 7;
        mqtt_session_feed(e.s, p2, sizeof p2, 1, NULL, NULL);
    }
    CHECK_EQ_INT(mqtt_session_inflight(e.s), 3000);
    for (uint32_t k = 0; k < 3000; k++) {
        uint16_t id = (uint16_t)(1 + (k * 1237u) % 3000u);
        if (mqtt_session_ack(e.s, id)) UNIT__FAIL("ack %u", id);
    }
    CHECK_EQ_INT(mqtt_session_inflight(e.s), 1500); /* the QoS 2 ones wait for PUBREL */
    for (uint32_t id = 2; id <= 3000; id += 2) {
        uint8_t rel[] = { 0x62, 0x02, (uint8_t)(id >> 8), (uint8_t)id };
        mqtt_session_feed(e.s, rel, 4, 2, NULL, NULL);
    }
    CHECK_EQ_INT(mqtt_session_inflight(e.s), 0);
    const uint8_t *p;
    size_t n;
    mqtt_session_output(e.s, &p, &n);
    CHECK_EQ_U64(n, 3000 * 4 + 1500 * 4);
    env_fini(&e);
}

/* Acks inline; an ack that fails for memory stops the feed with ST_ENOMEM. */
static int oom_cb(void *ctx, mqtt_event *ev)
{
    if (ev->type == MQTT_EV_PUBLISH && ev->pkt->u.publish.qos)
        return mqtt_session_ack((mqtt_session *)ctx, ev->pkt->u.publish.packet_id);
    if (ev->type == MQTT_EV_ERROR) return -2000;
    return 0;
}

TEST(session_oom_walk)
{
    uint8_t b[1024];
    size_t n = stream_bytes(b, sizeof b);
    int64_t live0 = st_alloc_live();
    int ok = 0;
    for (int64_t k = 0; k < 1000 && !ok; k++) {
        st_alloc_fail_at(k, 0);
        mqtt_session *s = NULL;
        int rc = mqtt_session_create(&(mqtt_session_opts){ .topic_alias_max = 4 }, &s);
        if (!rc) {
            rc = mqtt_session_feed(s, b, n, 0, oom_cb, s);
            if (!rc && (mqtt_session_inflight(s) != 0 || mqtt_session_connected(s))) rc = -1000;
            if (!rc && mqtt_session_feed(s, b, 2, 1, oom_cb, s) != ST_ECLOSED) rc = -1001;
            if (rc == 0) ok = 1;
            else if (rc != ST_ENOMEM) UNIT__FAIL("k=%" PRId64 " rc=%d", k, rc);
        } else {
            CHECK_EQ_INT(rc, ST_ENOMEM);
        }
        mqtt_session_destroy(s);
        if (st_alloc_live() != live0) UNIT__FAIL("leak at k=%" PRId64, k);
    }
    st_alloc_fail_at(-1, 0);
    CHECK(ok);
    /* an ack that fails for memory leaves the id waiting: the retry works */
    mqtt_session *s = NULL;
    REQUIRE(mqtt_session_create(NULL, &s) == 0);
    CHECK_EQ_INT(mqtt_session_feed(s, (const uint8_t *)"\x10\x11\x00\x04MQTT\x05\x02\x00\x1e\x00\x00\x04" "dev1", 19, 0, NULL, NULL), 0);
    CHECK_EQ_INT(mqtt_session_feed(s, (const uint8_t *)"\x32\x07\x00\x01t\x00\x05\x00x", 9, 0, NULL, NULL), 0);
    /* the output is never drained, so some ack must grow it */
    int failed = 0;
    for (uint16_t id = 5; id < 200 && !failed; id++) {
        uint8_t pub[] = { 0x32, 0x07, 0x00, 0x01, 't', (uint8_t)(id >> 8), (uint8_t)id, 0x00, 'x' };
        if (id > 5) CHECK_EQ_INT(mqtt_session_feed(s, pub, sizeof pub, 0, NULL, NULL), 0);
        CHECK_EQ_INT(mqtt_session_feed(s, (const uint8_t *)"\xC0\x00\xC0\x00\xC0\x00", 6, 0, NULL, NULL), 0);
        st_alloc_fail_at(0, 1);
        int rc = mqtt_session_ack(s, id);
        st_alloc_fail_at(-1, 0);
        if (rc == ST_ENOMEM) {
            failed = 1;
            CHECK_EQ_INT(mqtt_session_inflight(s), 1);
            CHECK_EQ_INT(mqtt_session_ack(s, id), 0);
        } else {
            CHECK_EQ_INT(rc, 0);
        }
        CHECK_EQ_INT(mqtt_session_inflight(s), 0);
    }
    CHECK(failed);
    mqtt_session_destroy(s);
    CHECK_EQ_INT(st_alloc_live(), live0);
}

int main(void)
{
    RUN(varint_vectors);
    RUN(publish_remaining_length_widths);
    RUN(vector_connect_311);
    RUN(vector_connect_5);
    RUN(vector_mosquitto_pub);
    RUN(vector_publish_flows);
    RUN(vector_subscribe_ping_disconnect);
    RUN(vector_sparkplug_will);
    RUN(roundtrip_all_types);
    RUN(user_properties);
    RUN(encode_errors);
    RUN(malformed_reason_codes);
    RUN(filters_topics_utf8);
    RUN(session_311_qos_flows);
    RUN(session_ping_subscribe_disconnect);
    RUN(session_will);
    RUN(session_connect_refusals);
    RUN(session_v5_connack_props);
    RUN(session_defaults);
    RUN(session_keepalive);
    RUN(session_receive_maximum);
    RUN(session_v5_misc);
    RUN(session_deferred_connack);
    RUN(session_split_every_boundary);
    RUN(session_many_inflight_ids);
    RUN(session_oom_walk);
    return unit_done();
}
