/*
 * ingest/mqtt.h — MQTT 3.1.1 and 5.0: the packet codec and the server-side
 * session state machine. No I/O: bytes in -> events and reply bytes out.
 *
 * Codec (mqtt_codec.c): mqtt_decode() turns one complete packet into an
 * mqtt_packet whose slices point into the caller's bytes (no allocation);
 * mqtt_encode() appends one packet to an st_buf. Both directions are
 * supported for every packet type, so the bridge (stratad as a client of
 * another broker) can use the same code. Pure functions; any thread.
 *
 * Session (mqtt_session.c): one per connection, owned by the connection,
 * called only from that connection's I/O loop thread. It owns its input
 * carry buffer (a partial packet between reads), its output buffer, the
 * QoS 1/2 in-flight table, the topic-alias table, and copies of the client
 * id and the will. Memory grows to the largest packet seen (bounded by
 * max_packet_bytes) and the in-flight table (bounded by receive_max for 5.0
 * clients and by the 65,535 packet ids for 3.1.1); nothing is allocated per
 * message once those have grown.
 *
 * Reason codes: decode errors report an MQTT 5.0 reason code in *reason
 * (0x81 malformed, 0x82 protocol error, 0x90 topic name invalid ...) for
 * both versions; for 3.1.1 the session sends nothing and closes.
 */
#ifndef ST_MQTT_H
#define ST_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"

/* ---- constants -------------------------------------------------------- */

enum mqtt_type {
    MQTT_CONNECT = 1, MQTT_CONNACK = 2, MQTT_PUBLISH = 3, MQTT_PUBACK = 4,
    MQTT_PUBREC = 5, MQTT_PUBREL = 6, MQTT_PUBCOMP = 7, MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9, MQTT_UNSUBSCRIBE = 10, MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12, MQTT_PINGRESP = 13, MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15 /* 5.0 only */
};

#define MQTT_V311 4
#define MQTT_V5   5
#define MQTT_MAX_REMAINING 268435455u /* FF FF FF 7F */

/* 3.1.1 CONNACK return codes. */
enum mqtt_connack_rc {
    MQTT_CONNACK_ACCEPTED = 0, MQTT_CONNACK_BAD_VERSION = 1,
    MQTT_CONNACK_ID_REJECTED = 2, MQTT_CONNACK_UNAVAILABLE = 3,
    MQTT_CONNACK_BAD_AUTH = 4, MQTT_CONNACK_NOT_AUTHORIZED = 5
};

/* 5.0 reason codes (the ones Strata uses or reports). */
enum mqtt_reason {
    MQTT_RC_SUCCESS = 0x00, MQTT_RC_GRANTED_QOS1 = 0x01, MQTT_RC_GRANTED_QOS2 = 0x02,
    MQTT_RC_DISCONNECT_WITH_WILL = 0x04, MQTT_RC_NO_SUBSCRIBERS = 0x10,
    MQTT_RC_NO_SUBSCRIPTION = 0x11,
    MQTT_RC_UNSPECIFIED = 0x80, MQTT_RC_MALFORMED = 0x81, MQTT_RC_PROTOCOL = 0x82,
    MQTT_RC_IMPL_SPECIFIC = 0x83, MQTT_RC_BAD_VERSION = 0x84,
    MQTT_RC_BAD_CLIENT_ID = 0x85, MQTT_RC_BAD_AUTH = 0x86,
    MQTT_RC_NOT_AUTHORIZED = 0x87, MQTT_RC_UNAVAILABLE = 0x88, MQTT_RC_BUSY = 0x89,
    MQTT_RC_SHUTTING_DOWN = 0x8B, MQTT_RC_BAD_AUTH_METHOD = 0x8C,
    MQTT_RC_KEEPALIVE_TIMEOUT = 0x8D, MQTT_RC_TAKEN_OVER = 0x8E,
    MQTT_RC_FILTER_INVALID = 0x8F, MQTT_RC_TOPIC_INVALID = 0x90,
    MQTT_RC_PID_IN_USE = 0x91, MQTT_RC_PID_NOT_FOUND = 0x92,
    MQTT_RC_RECEIVE_MAX = 0x93, MQTT_RC_ALIAS_INVALID = 0x94,
    MQTT_RC_TOO_LARGE = 0x95, MQTT_RC_QUOTA = 0x97, MQTT_RC_PAYLOAD_INVALID = 0x99,
    MQTT_RC_RETAIN_UNSUPPORTED = 0x9A, MQTT_RC_QOS_UNSUPPORTED = 0x9B,
    MQTT_RC_SHARED_UNSUPPORTED = 0x9E, MQTT_RC_SUBID_UNSUPPORTED = 0xA1,
    MQTT_RC_WILDCARD_UNSUPPORTED = 0xA2
};

/* 5.0 property identifiers. */
enum mqtt_prop_id {
    MQTT_P_PAYLOAD_FORMAT = 0x01, MQTT_P_MESSAGE_EXPIRY = 0x02,
    MQTT_P_CONTENT_TYPE = 0x03, MQTT_P_RESPONSE_TOPIC = 0x08,
    MQTT_P_CORRELATION_DATA = 0x09, MQTT_P_SUBSCRIPTION_ID = 0x0B,
    MQTT_P_SESSION_EXPIRY = 0x11, MQTT_P_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_P_SERVER_KEEP_ALIVE = 0x13, MQTT_P_AUTH_METHOD = 0x15,
    MQTT_P_AUTH_DATA = 0x16, MQTT_P_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_P_WILL_DELAY = 0x18, MQTT_P_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_P_RESPONSE_INFO = 0x1A, MQTT_P_SERVER_REFERENCE = 0x1C,
    MQTT_P_REASON_STRING = 0x1F, MQTT_P_RECEIVE_MAX = 0x21,
    MQTT_P_TOPIC_ALIAS_MAX = 0x22, MQTT_P_TOPIC_ALIAS = 0x23,
    MQTT_P_MAX_QOS = 0x24, MQTT_P_RETAIN_AVAILABLE = 0x25,
    MQTT_P_USER_PROPERTY = 0x26, MQTT_P_MAX_PACKET_SIZE = 0x27,
    MQTT_P_WILDCARD_SUB_AVAILABLE = 0x28, MQTT_P_SUB_ID_AVAILABLE = 0x29,
    MQTT_P_SHARED_SUB_AVAILABLE = 0x2A
};

/* ---- packet values (open types; slices are borrowed) ------------------ */

typedef struct mqtt_user_prop { st_slice key, value; } mqtt_user_prop;

/* A 5.0 property block. `present` has bit (1 << id) set for each property
 * present (ids are < 64). Decode: slices point into the packet, `raw` is the
 * whole block (for mqtt_props_user_next), user_count counts user properties
 * and `user` is NULL. Encode: `raw` is ignored; the properties whose bits are
 * set are written in id order, then the `user_count` pairs of `user`. A
 * zeroed struct is the empty block. Subscription Identifier: the first one. */
typedef struct mqtt_props {
    uint64_t present;
    uint8_t  payload_format, request_problem_info, request_response_info;
    uint8_t  max_qos, retain_available, wildcard_sub_available;
    uint8_t  sub_id_available, shared_sub_available;
    uint16_t server_keep_alive_s, receive_max, topic_alias_max, topic_alias;
    uint32_t message_expiry_s, subscription_id, session_expiry_s;
    uint32_t will_delay_s, max_packet_size;
    st_slice content_type, response_topic, correlation_data;
    st_slice assigned_client_id, auth_method, auth_data;
    st_slice response_info, server_reference, reason_string;
    st_slice raw;
    const mqtt_user_prop *user; /* borrowed; encode only */
    uint32_t user_count;
} mqtt_props;

#define MQTT_HAS(props, id) (((props)->present >> (id)) & 1u)
#define MQTT_SET(props, id) ((props)->present |= (uint64_t)1 << (id))

typedef struct mqtt_connect {
    uint8_t  version;      /* 4 (3.1.1) or 5 */
    uint8_t  clean;        /* clean session (3.1.1) / clean start (5.0) */
    uint8_t  has_will, will_qos, will_retain;
    uint8_t  has_username, has_password;
    uint16_t keep_alive_s;
    st_slice client_id, will_topic, will_payload, username, password;
    mqtt_props props, will_props;
} mqtt_connect;

typedef struct mqtt_connack {
    uint8_t session_present;
    uint8_t code;          /* 3.1.1 return code or 5.0 reason code */
    mqtt_props props;
} mqtt_connack;

typedef struct mqtt_publish {
    uint8_t  qos, retain, dup;
    uint16_t packet_id;    /* 0 for QoS 0 */
    st_slice topic;        /* may be empty in 5.0 when a topic alias is used */
    st_slice payload;
    mqtt_props props;
} mqtt_publish;

/* PUBACK, PUBREC, PUBREL, PUBCOMP. 3.1.1: reason 0, props empty. */
typedef struct mqtt_ack {
    uint16_t packet_id;
    uint8_t  reason;
    mqtt_props props;
} mqtt_ack;

/* One subscription (options: bits 1-0 max QoS; 5.0 also bit 2 No Local,
 * bit 3 Retain As Published, bits 5-4 Retain Handling). */
typedef struct mqtt_sub { st_slice filter; uint8_t options; } mqtt_sub;

/* SUBSCRIBE and UNSUBSCRIBE. Decode: `list` holds the filters (read them with
 * mqtt_sub_next), `count` how many, `subs` is NULL. Encode: `count` entries
 * of `subs` (UNSUBSCRIBE ignores options). */
typedef struct mqtt_subscribe {
    uint16_t packet_id;
    uint32_t count;
    st_slice list;
    const mqtt_sub *subs;  /* borrowed; encode only */
    mqtt_props props;
} mqtt_subscribe;

/* SUBACK and UNSUBACK: one code per filter (3.1.1 UNSUBACK has none). */
typedef struct mqtt_suback {
    uint16_t packet_id;
    st_slice codes;
    mqtt_props props;
} mqtt_suback;

/* DISCONNECT and AUTH (5.0; 3.1.1 DISCONNECT has neither). */
typedef struct mqtt_reason_pkt {
    uint8_t reason;
    mqtt_props props;
} mqtt_reason_pkt;

typedef struct mqtt_packet {
    uint8_t type;          /* enum mqtt_type */
    uint8_t flags;         /* low nibble of the first byte, as decoded */
    union {
        mqtt_connect connect;
        mqtt_connack connack;
        mqtt_publish publish;
        mqtt_ack ack;
        mqtt_subscribe subscribe;
        mqtt_suback suback;
        mqtt_reason_pkt reason;
    } u;
} mqtt_packet;

/* ---- codec ------------------------------------------------------------ */

/* Variable Byte Integer. Decode: 0 (*v, *used written), ST_EAGAIN (need more
 * bytes) or ST_EPROTO (a 4th byte with the continuation bit: 5-byte form).
 * Non-minimal encodings are accepted. Encode: bytes written (1..4); v must
 * be <= MQTT_MAX_REMAINING (larger values are clamped). */
int    mqtt_varint_decode(const uint8_t *p, size_t len, uint32_t *v, size_t *used);
size_t mqtt_varint_encode(uint32_t v, uint8_t out[4]);

/* Frame the packet at the start of p: 0 with the fixed-header length and the
 * remaining length (the packet is complete when len >= hdr + rem),
 * ST_EAGAIN when the fixed header itself is incomplete, ST_EPROTO for a
 * 5-byte remaining length. Does not look at the type or flags. */
int mqtt_frame(const uint8_t *p, size_t len, size_t *hdr_bytes, uint32_t *rem_bytes);

/* Decode exactly one complete packet p[0..len) (as framed by mqtt_frame).
 * `version` (4 or 5) selects the grammar for everything except CONNECT,
 * which carries its own. Validates fixed-header flags, lengths, UTF-8 (well
 * formed, no U+0000, no surrogates), packet ids, property ids/duplicates/
 * values per packet type, CONNECT flags, topic names (no wildcards).
 * Returns 0, ST_EPROTO with *reason = the 5.0 reason code (0x81 malformed,
 * 0x82 protocol error, 0x90 topic name invalid), or ST_EUNSUPPORTED for a
 * CONNECT with another protocol level or the 3.1 name "MQIsdp" (*reason =
 * 0x84; out->u.connect.version holds the level). *out is written only on
 * success (except connect.version on ST_EUNSUPPORTED). */
int mqtt_decode(const uint8_t *p, size_t len, uint8_t version, mqtt_packet *out,
                uint8_t *reason);

/* Append one encoded packet to out. Every type, both versions; type and the
 * union member select the content (`flags` is ignored: PUBLISH flags come
 * from qos/retain/dup, PUBREL/SUBSCRIBE/UNSUBSCRIBE get 0b0010). 5.0 acks
 * and DISCONNECT use the short forms when reason is 0 and there are no
 * properties. 0, ST_EINVAL (string > 65,535 bytes, bad type/QoS, packet id 0
 * where one is required), ST_ETOOLARGE (remaining length > 268,435,455) or
 * ST_ENOMEM; out is unchanged on error. */
int mqtt_encode(st_buf *out, uint8_t version, const mqtt_packet *p);

/* Iterate SUBSCRIBE/UNSUBSCRIBE filters of a decoded packet: *off starts at
 * 0; returns 1 and fills *sub, or 0 at the end. */
int mqtt_sub_next(const mqtt_packet *p, size_t *off, mqtt_sub *sub);
/* Iterate the user properties of a decoded block: 1 per pair, 0 at the end. */
int mqtt_props_user_next(const mqtt_props *pr, size_t *off, st_slice *key, st_slice *value);

/* 1 if f is a valid topic filter: non-empty, '+' and '#' only as whole
 * levels, '#' only as the last level. (UTF-8 is checked by the decoder.) */
int mqtt_filter_valid(st_slice f);
/* 1 if t is a valid topic name: non-empty, no '+' or '#'. */
int mqtt_topic_valid(st_slice t);
/* 1 if s is well-formed UTF-8 without U+0000 and without surrogates. */
int mqtt_utf8_valid(st_slice s);

/* ---- session (server side, one per connection) -------------------------- */

typedef struct mqtt_session mqtt_session;

typedef struct mqtt_session_opts {
    uint32_t max_packet_bytes;   /* whole packet incl. fixed header; 0 = 1 MiB.
                                    Larger -> error 0x95; announced to 5.0 clients */
    uint16_t receive_max;        /* unacked QoS>0 PUBLISHes a 5.0 client may have
                                    in flight (0 = 1024); more -> error 0x93 */
    uint16_t topic_alias_max;    /* announced to 5.0 clients; 0 = aliases refused */
    uint16_t keepalive_min_s;    /* 0 = no lower bound */
    uint16_t keepalive_max_s;    /* 0 = no upper bound; also the idle limit used
                                    when a client asks for keep-alive 0 */
    uint8_t  max_qos;            /* 1 or 2; 0 (and > 2) = 2. A PUBLISH above it
                                    -> 0x9B; announced to 5.0 clients when 1 */
    uint8_t  require_credentials;/* 1: a CONNECT without username+password is
                                    refused (0x86 / rc 4) before the event */
    uint64_t conn_id;            /* makes the assigned client id "strata-<hex>" */
} mqtt_session_opts;

typedef enum mqtt_event_type {
    MQTT_EV_CONNECT = 1,   /* set ev->connect_reply (default accepted) */
    MQTT_EV_PUBLISH,       /* QoS>0: later call mqtt_session_ack(packet_id) */
    MQTT_EV_SUBSCRIBE,     /* informative; SUBACK already queued */
    MQTT_EV_UNSUBSCRIBE,   /* informative; UNSUBACK already queued */
    MQTT_EV_DISCONNECT,    /* client said goodbye; send output, then close */
    MQTT_EV_ERROR          /* protocol error / refusal: send output, then close */
} mqtt_event_type;

/* Reply value for connect_reply: decide later with mqtt_session_connack(). */
#define MQTT_CONNECT_DEFER 0x100

/* Everything here is borrowed and valid only during the callback. */
typedef struct mqtt_event {
    mqtt_event_type type;
    uint8_t version;              /* 4 or 5 (0 before a CONNECT was decoded) */
    const mqtt_packet *pkt;       /* the decoded packet; NULL for ERROR */
    /* CONNECT */
    st_slice client_id;           /* effective: assigned when the client sent none */
    uint8_t  client_id_assigned;
    uint16_t keep_alive_s;        /* effective (after the server's bounds) */
    int      connect_reply;       /* out: 0 accept, else a 5.0 reason code
                                     (0x86, 0x87, 0x88 ...; mapped to the 3.1.1
                                     return code for 3.1.1 clients), or
                                     MQTT_CONNECT_DEFER */
    /* PUBLISH */
    st_slice topic;               /* alias resolved */
    /* DISCONNECT: 1 if the will is kept (5.0 reason 0x04), 0 if discarded */
    uint8_t  will_kept;
    uint32_t session_expiry_s;    /* 5.0, after a DISCONNECT update */
    /* ERROR (and DISCONNECT: the client's 5.0 reason) */
    int      err;                 /* ST_EPROTO, ST_ELIMIT, ST_ETOOLARGE,
                                     ST_EUNSUPPORTED, ST_EAUTH */
    uint8_t  reason;              /* 5.0 reason code: in the DISCONNECT or
                                     CONNACK queued for a 5.0 client; for 3.1.1
                                     only informative (log it) */
    const char *detail;           /* static text for the log line */
} mqtt_event;

/* Return 0 to go on; any other value stops the feed, which returns it (the
 * packet that caused the event counts as consumed; the rest of the bytes is
 * kept: call mqtt_session_feed(s, NULL, 0, ...) to go on). The callback may
 * call mqtt_session_ack, _output, _consume, _disconnect, but not _feed
 * (not re-entrant) nor _destroy. */
typedef int (*mqtt_event_cb)(void *ctx, mqtt_event *ev);

/* 0 or ST_ENOMEM. opts are copied; NULL opts = defaults. */
int  mqtt_session_create(const mqtt_session_opts *opts, mqtt_session **out);
void mqtt_session_destroy(mqtt_session *s); /* accepts NULL */

/* Parse every complete packet of the bytes received so far (any split works;
 * a partial packet is kept), report events, queue replies. now_ms: the
 * caller's monotonic clock, for the keep-alive. bytes may be NULL when len
 * is 0 (resume after mqtt_session_connack). Returns 0, ST_ECLOSED when the
 * session has ended (input ignored), ST_ENOMEM (session ended), or the
 * callback's non-zero value. Protocol errors are events, and then the
 * session is closed: the next feed returns ST_ECLOSED. */
int mqtt_session_feed(mqtt_session *s, const void *bytes, size_t len, int64_t now_ms,
                      mqtt_event_cb cb, void *ctx);

/* Answer a deferred CONNECT (reason as for connect_reply; 0 accepts). Then
 * call mqtt_session_feed(s, NULL, 0, ...) to parse what arrived meanwhile.
 * 0, ST_EINVAL (no CONNECT pending) or ST_ENOMEM. */
int mqtt_session_connack(mqtt_session *s, int reason);

/* The points of PUBLISH packet_id are durable: QoS 1 -> PUBACK, QoS 2 ->
 * PUBREC (the id then waits for PUBREL). reason (5.0 only; 3.1.1 ignores it):
 * 0 or e.g. 0x83/0x97/0x99 to refuse the message. 0, ST_ENOTFOUND (not an id
 * awaiting an ack), ST_ECLOSED or ST_ENOMEM (state unchanged: retry). */
int mqtt_session_ack(mqtt_session *s, uint16_t packet_id);
int mqtt_session_ack_reason(mqtt_session *s, uint16_t packet_id, uint8_t reason);

/* The server ends the session (0x8B shutting down, 0x8D keep-alive timeout,
 * 0x8E taken over): queues a 5.0 DISCONNECT (nothing for 3.1.1) and closes.
 * 0, ST_ECLOSED or ST_ENOMEM. */
int mqtt_session_disconnect(mqtt_session *s, uint8_t reason);

/* Output bytes to send, borrowed until the next call that changes the
 * session; consume(n) drops n sent bytes. */
void mqtt_session_output(const mqtt_session *s, const uint8_t **ptr, size_t *len);
void mqtt_session_consume(mqtt_session *s, size_t n);

/* now_ms after which the connection must be closed for silence (1.5 x the
 * effective keep-alive since the last complete packet received); 0 = none
 * (before CONNECT, keep-alive 0 without a server bound, or closed). */
int64_t mqtt_session_keepalive_deadline_ms(const mqtt_session *s);

/* 1 while connected (CONNACK accepted sent, no DISCONNECT/error yet). */
int mqtt_session_connected(const mqtt_session *s);
uint8_t mqtt_session_version(const mqtt_session *s);      /* 0 before CONNECT */
st_slice mqtt_session_client_id(const mqtt_session *s);   /* owned copy */
/* QoS>0 PUBLISHes delivered and not yet acked + QoS 2 awaiting PUBREL. */
uint32_t mqtt_session_inflight(const mqtt_session *s);

/* The will to publish when the connection ends without a normal DISCONNECT
 * (keep-alive timeout, socket error, protocol error). NULL if none or
 * discarded. Slices are owned by the session. */
typedef struct mqtt_will {
    st_slice topic, payload;
    uint8_t  qos, retain;
    uint32_t delay_s;     /* 5.0 Will Delay Interval */
} mqtt_will;
const mqtt_will *mqtt_session_will(const mqtt_session *s);

#endif
