/*
 * ingest/sparkplug.h — Sparkplug B (3.0) for a historian (Host
 * Application): topic parsing, the Payload protobuf decoder, and the
 * per-edge-node session state (alias tables, births and deaths). No I/O.
 *
 * Decoder: hand-written protobuf wire-format reader for the Payload message
 * of ingest/sparkplug_b.proto (proto2; varint, zigzag-free here, fixed32/64,
 * length-delimited). Unknown fields are skipped by wire type; groups (wire
 * types 3/4) and malformed varints/lengths are errors. Only the metric
 * value fields, the metric's `Quality` property and the top-level fields are
 * read: DataSet, Template, MetaData and nested PropertySets are skipped as
 * opaque bytes, so decoding never recurses. Results point into the payload
 * and the caller's arena. No libprotobuf-c dependency.
 *
 * Mapping (spb_handle): every metric becomes one point
 *   measurement  spb_opts.measurement (default "sparkplug"), or the
 *                matching topic rule's measurement when the rule sets one
 *   tags         group=<group_id>, edge_node=<edge_node_id>[, device=<device_id>]
 *                plus a matching rule's tags (the Sparkplug tags win)
 *   field        the metric name as it stands ("Line1/Temp")
 *   time         metric timestamp (ms), else the payload timestamp, else the
 *                arrival time (has_ts = 0)
 *   quality      the metric's `Quality` property: 192 -> Good, 0 -> Bad
 *                (0x80000000), 500 -> Uncertain (0x40900000); other values
 *                by their OPC DA quality bits (0xC0 good, 0x40 uncertain
 *                0x40000000, else bad); no property -> Good, has_quality 0.
 *   value        Int8/16/32/64 -> integer (sign-extended from the declared
 *                width), UInt8/16/32/64 -> unsigned, Float/Double -> float
 *                (NaN/Inf kept), Boolean -> boolean, String/Text/UUID ->
 *                string, DateTime -> integer (ms since the epoch). Other
 *                types (DataSet, Bytes, File, Template, arrays) are skipped.
 * Skipped (counted in spb_result.skipped): is_transient, is_null, metrics
 * without a value or of an unsupported type, and metrics whose value field
 * does not fit their datatype. is_historical metrics are written like any
 * other (with their own timestamp) but do not update the "last value" kept
 * for deaths.
 *
 * Births and deaths:
 *   NBIRTH  resets the node (its metrics and devices), registers every
 *           metric (name, alias, datatype), remembers the `bdSeq` metric,
 *           writes the metrics and `online=true` for the node.
 *   DBIRTH  the same for one device (its old metrics are forgotten); a
 *           DBIRTH without a live NBIRTH is written and registered but sets
 *           rebirth_needed (return 0).
 *   NDATA/DDATA  metrics by alias (or by name); the datatype comes from the
 *           birth unless the metric carries one. A metric that cannot be
 *           resolved (unknown alias, or an unknown name without datatype),
 *           or any DATA for a node without a live NBIRTH, sets
 *           rebirth_needed and is counted in `unknown`; the resolvable
 *           metrics of the same message are still written. spb_handle then
 *           returns ST_ENOTFOUND with a message naming the topic and the
 *           alias. To request a rebirth, publish to spBv1.0/<group>/NCMD/<edge>
 *           a payload with metric "Node Control/Rebirth" (Boolean) = true:
 *           spb_rebirth_topic() and spb_rebirth_payload() build both.
 *   NDEATH  must carry the bdSeq of the live NBIRTH; otherwise it is a stale
 *           Will from an earlier session: ignored, stale_death = 1 (return
 *           0, a note in err). Accepted: `online=false` for the node and each
 *           online device, and for every metric with a last value a point
 *           with that value and quality Uncertain (0x40900000), all at the
 *           arrival time (the NDEATH's own timestamp is from CONNECT time).
 *           The node is then dead until its next NBIRTH.
 *   DDEATH  the same for one device, at the payload timestamp (else arrival).
 *   NCMD, DCMD, STATE  nothing is written (type reported).
 * A DEATH for a node or device never seen still writes `online=false`.
 * seq is checked (0 in NBIRTH, then +1 mod 256); a gap only sets seq_gap.
 *
 * Bounds: spb_opts.max_nodes edge nodes, max_metrics per node (node and
 * its devices together), max_devices per node. A birth past a limit
 * writes its points but registers only up to the limit and returns
 * ST_ELIMIT with a message; a new node past max_nodes is refused
 * (ST_ELIMIT, nothing written).
 *
 * Threads: spb_state is owned by the caller (one per MQTT connection or
 * per bridge) and used by one thread at a time. The other functions are
 * pure. With one state per connection, feed the connection's Will (the
 * NDEATH) through the same state before destroying it.
 *
 * Defaults: max_nodes bounds every edge node ever seen by the state,
 * including ones known only from DATA or DEATH messages; past it new
 * nodes are refused until the state is destroyed.
 */
#ifndef ST_SPARKPLUG_H
#define ST_SPARKPLUG_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/slice.h"
#include "ingest/payload.h"
#include "ingest/topicmap.h"

/* ---- topics ------------------------------------------------------------ */

typedef enum spb_msg_type {
    SPB_NBIRTH = 0, SPB_NDATA, SPB_NDEATH, SPB_DBIRTH, SPB_DDATA, SPB_DDEATH,
    SPB_NCMD, SPB_DCMD, SPB_STATE,
} spb_msg_type;

typedef struct spb_topic {
    spb_msg_type type;
    st_slice group;   /* STATE: empty */
    st_slice edge;    /* STATE: the host id */
    st_slice device;  /* D* messages only; else empty */
} spb_topic;

/* "spBv1.0/<group>/<type>/<edge>[/<device>]" (device required for D*,
 * forbidden for N*) or "spBv1.0/STATE/<host>". Levels must be non-empty.
 * 0 or ST_EPARSE. Slices point into topic. */
int spb_topic_parse(st_slice topic, spb_topic *out);
const char *spb_msg_type_name(spb_msg_type t);

/* ---- payload ----------------------------------------------------------- */

enum spb_datatype {
    SPB_DT_UNKNOWN = 0, SPB_DT_INT8 = 1, SPB_DT_INT16 = 2, SPB_DT_INT32 = 3, SPB_DT_INT64 = 4,
    SPB_DT_UINT8 = 5, SPB_DT_UINT16 = 6, SPB_DT_UINT32 = 7, SPB_DT_UINT64 = 8,
    SPB_DT_FLOAT = 9, SPB_DT_DOUBLE = 10, SPB_DT_BOOLEAN = 11, SPB_DT_STRING = 12,
    SPB_DT_DATETIME = 13, SPB_DT_TEXT = 14, SPB_DT_UUID = 15, SPB_DT_DATASET = 16,
    SPB_DT_BYTES = 17, SPB_DT_FILE = 18, SPB_DT_TEMPLATE = 19,
};

/* Which value field of the oneof was present (its field number). */
enum spb_value_kind {
    SPB_V_NONE = 0, SPB_V_INT = 10, SPB_V_LONG = 11, SPB_V_FLOAT = 12, SPB_V_DOUBLE = 13,
    SPB_V_BOOL = 14, SPB_V_STRING = 15, SPB_V_BYTES = 16, SPB_V_OTHER = 17,
};

typedef struct spb_metric {
    st_slice name;           /* into the payload */
    uint64_t alias;
    uint64_t ts_ms;
    uint32_t datatype;
    uint8_t has_name, has_alias, has_ts, has_datatype;
    uint8_t is_historical, is_transient, is_null;
    uint8_t kind;            /* spb_value_kind */
    uint8_t has_quality;
    int64_t quality;         /* the Quality property's value as sent */
    uint64_t u;              /* int_value, long_value, boolean_value */
    float f;
    double d;
    st_slice s;              /* string_value / bytes_value, into the payload */
} spb_metric;

typedef struct spb_payload {
    uint64_t ts_ms, seq;
    uint8_t has_ts, has_seq;
    spb_metric *metrics;     /* in the arena */
    uint32_t metric_count;
    st_slice uuid, body;     /* into the payload */
} spb_payload;

#define SPB_MAX_METRICS_PER_MESSAGE 1000000u

/* 0, ST_ENOMEM, or ST_EPARSE with a reason in err ("metric 3: truncated
 * varint", ...). out is written only on success. */
int spb_payload_decode(const uint8_t *p, size_t len, st_arena *a, spb_payload *out, char *err,
                       size_t errlen);

/* OPC UA StatusCode for a Sparkplug Quality property value. */
uint32_t spb_quality_status(int64_t q);

/* ---- rebirth request --------------------------------------------------- */

/* "spBv1.0/<group>/NCMD/<edge>" for the node of a Sparkplug topic. 0,
 * ST_EPARSE (not a Sparkplug node/device topic) or ST_ETOOLARGE (cap). Writes
 * a NUL; *len excludes it. */
int spb_rebirth_topic(st_slice topic, char *buf, size_t cap, size_t *len);
/* A Payload {timestamp, metrics: [{name "Node Control/Rebirth", timestamp,
 * datatype Boolean, boolean_value true}]}. 0 or ST_ETOOLARGE (cap < 64). */
int spb_rebirth_payload(int64_t now_ms, uint8_t *buf, size_t cap, size_t *len);

/* ---- session state ----------------------------------------------------- */

typedef struct spb_opts {
    const char *measurement;   /* NULL = "sparkplug"; copied */
    uint32_t max_nodes;        /* 0 = 10000 */
    uint32_t max_metrics;      /* per node incl. its devices; 0 = 100000 */
    uint32_t max_devices;      /* per node; 0 = 10000 */
} spb_opts;

typedef struct spb_state spb_state;

typedef struct spb_result {
    spb_msg_type type;
    uint32_t points;        /* delivered */
    uint32_t skipped;       /* transient, null, unsupported, no value */
    uint32_t unknown;       /* metrics that need a rebirth to resolve */
    uint8_t rebirth_needed; /* publish the NCMD rebirth request */
    uint8_t stale_death;    /* NDEATH with a bdSeq of another session: ignored */
    uint8_t seq_gap;
} spb_result;

/* 0 or ST_ENOMEM. opts may be NULL. */
int  spb_state_create(const spb_opts *opts, spb_state **out);
void spb_state_destroy(spb_state *s); /* accepts NULL */
/* Edge nodes known. */
size_t spb_state_node_count(const spb_state *s);

/*
 * Handle one message. map: the topic's tmap_match result (NULL = none).
 * Points go to cb; their slices are valid during the callback only.
 * Returns 0; ST_EPARSE (topic or payload malformed: nothing written);
 * ST_ENOTFOUND (DATA that needs a rebirth, see above; the resolvable
 * points were written); ST_ELIMIT; ST_ENOMEM; or the callback's non-zero
 * return. res (may be NULL) is filled in every case; err gets the reason.
 */
int spb_handle(spb_state *s, const tmap_result *map, st_slice topic, const uint8_t *payload,
               size_t len, int64_t now_ns, st_arena *a, pl_point_cb cb, void *ctx, spb_result *res,
               char *err, size_t errlen);

#endif
