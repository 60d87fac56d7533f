/*
 * ingest/payload.h — MQTT message payloads -> points: line protocol, JSON,
 * plain values, and (through ingest/sparkplug.h) Sparkplug B. No I/O.
 *
 * Every point is delivered as an lp_line (ingest/lp.h), so the server
 * treats an MQTT point exactly like a line-protocol line: measurement,
 * tags sorted by key, fields (key + st_value), ts_ns, quality. lineno is
 * the point's 1-based index in the message (the line number for lp); raw
 * is empty. Every slice is valid until the caller's arena is reset (or,
 * for lp payloads, during the callback only: copy what you keep, as
 * lp_batch_on_line does).
 *
 * Formats (the topic rule's `format`, see topicmap.h; "auto" sniffs):
 *
 * lp     One or many lines, parsed by ingest/lp.c with precision ns, the
 *        arrival time as default timestamp and the quality field of the
 *        options. A matching rule's tags (captures and constants) are added
 *        to each line, the line's own tag of the same key wins; with the
 *        default mapping nothing is added. Bad lines are reported and the
 *        good lines are still delivered (InfluxDB's partial write).
 *
 * plain  The payload without surrounding blanks (space, tab, CR, LF):
 *        "true"/"false" (any case, also t/f) -> boolean; a number -> float
 *        (Telegraf's `value` format with data_type float, IoTDB's default
 *        for integers too: a sensor sending 21 then 21.5 keeps one type);
 *        NaN/Inf/Infinity accepted and stored bit-exactly; a number
 *        suffixed with 'i' -> integer, 'u' -> unsigned, exact (as in line
 *        protocol). Anything else is stored as a string when the rule says
 *        format = "plain" (in auto mode it is read as line protocol).
 *        Field = the mapped field, time = arrival time, quality Good.
 *
 * json   RFC 8259, plus the bare tokens NaN, Infinity, -Infinity (any
 *        case, also inf/nan) as numbers. Every JSON number becomes a float
 *        (correctly rounded; NaN/±Inf bit-exact) — for the same reason as
 *        plain — except where IoTDB's `datatypes` says INT32/INT64, which
 *        parse exactly as integers. Strings decode every escape including
 *        \uXXXX and surrogate pairs (a lone surrogate is an error); raw
 *        control bytes in strings are errors. Nesting deeper than
 *        PL_JSON_MAX_DEPTH is an error. Shapes:
 *          42 / true / "run"       one point, field = the mapped field.
 *          {"value": v, "ts": t, "quality": q, ...}
 *                                  v is the mapped field; other scalar keys
 *                                  become fields of the same point (by
 *                                  their own key).
 *          {"temp": 21.5, "on": true, "state": "run", "ts": t}
 *                                  each key a field; nested objects are
 *                                  flattened with '.' ({"a":{"b":1}} ->
 *                                  field "a.b"), arrays by index ("a.0").
 *          {"device": "root.sg.d1", "timestamp": t, "measurements": [...],
 *           "values": [...]}       IoTDB: measurement = device, fields =
 *                                  measurements; "timestamps" + "values" as
 *                                  an array of rows gives one point per row;
 *                                  optional "datatypes" (DOUBLE FLOAT INT32
 *                                  INT64 BOOLEAN TEXT).
 *          [ any of the above, ... ]  one or more points per element.
 *        Time keys "ts", "timestamp", "time": an integer number is epoch
 *        seconds, ms, us or ns by magnitude (|t| < 1e11 s, < 1e14 ms,
 *        < 1e17 us, else ns); a number with a fraction is scaled the same
 *        way; a string is RFC3339 (or an integer in a string). No time key
 *        -> arrival time, has_ts = 0. The quality key (opts.quality_field,
 *        default "quality") holding an integer 0..4294967295 is the OPC UA
 *        StatusCode of the point; any other value is an ordinary field.
 *        Flattened keys may take at most 4 x the payload size + 64 KiB in
 *        all (a long key over a long array is refused, not multiplied).
 *        null values are skipped (counted in stats.skipped); a point left
 *        without fields is skipped too. A message is all or nothing: when
 *        any part of it is wrong no point of it is delivered.
 *
 * Errors name the topic and the reason, e.g.
 *   "topic plant/l1/temp: json: at byte 12: expected ':' after object key"
 *   "topic plant/l1/temp: plain: empty payload"
 *   "topic a/b: lp: unable to parse 'x': missing fields" (first bad line)
 *
 * Threads: pure functions over the caller's arena; one message per call;
 * any thread (the Sparkplug state is the caller's, see sparkplug.h).
 */
#ifndef ST_PAYLOAD_H
#define ST_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/slice.h"
#include "ingest/lp.h"
#include "ingest/topicmap.h"

#define PL_JSON_MAX_DEPTH 32
#define PL_ERR_BYTES      512 /* a good size for the err buffer */

typedef struct pl_opts {
    int64_t now_ns;          /* arrival time: points without a timestamp get it */
    st_slice quality_field;  /* lp field / JSON key carrying quality; len 0 = "quality" */
    size_t max_line_bytes;   /* lp payloads; 0 = unlimited */
} pl_opts;

/* Return 0 to go on; non-zero stops decoding and is returned. */
typedef int (*pl_point_cb)(void *ctx, const lp_line *pt);

typedef struct pl_stats {
    uint64_t points;     /* delivered */
    uint64_t errors;     /* bad lines (lp) or 1 for a rejected message */
    uint64_t skipped;    /* null values, transient/null Sparkplug metrics ... */
    tmap_format format;  /* the format actually used (never auto) */
    /* Sparkplug only (see sparkplug.h spb_result) */
    uint64_t unknown;        /* metrics that need a rebirth to resolve */
    uint8_t rebirth_needed;  /* publish spb_rebirth_payload() to spb_rebirth_topic() */
    uint8_t stale_death;     /* NDEATH of an earlier session: ignored */
} pl_stats;

/*
 * Decode one payload whose topic was mapped by tmap_match. map->format
 * AUTO sniffs (see topicmap.h); TMAP_FORMAT_SPARKPLUG is not handled here
 * (ST_EUNSUPPORTED: use spb_handle, or pl_message which dispatches).
 * Returns 0; ST_EPARSE with a message in err when the payload (or, for
 * lp, at least one line) is bad — for lp the good lines were delivered;
 * ST_ENOMEM; or the callback's non-zero return. stats may be NULL and is
 * filled in every case.
 */
int pl_decode(const tmap_result *map, st_slice topic, const char *payload, size_t len,
              const pl_opts *opts, st_arena *a, pl_point_cb cb, void *ctx, pl_stats *stats,
              char *err, size_t errlen);

/*
 * The MQTT listener's one call per PUBLISH: map the topic with rules (NULL
 * = no rules, the default mapping), then decode with pl_decode, or with
 * spb_handle for Sparkplug B (spb = the connection's or bridge's state;
 * NULL refuses Sparkplug with ST_EUNSUPPORTED). Returns what those return
 * (ST_EINVAL / ST_ELIMIT when the topic cannot be mapped); err names the
 * topic and the reason; stats is filled in every case. Points are valid
 * during the callback (copy them, e.g. with lp_batch_on_line).
 */
struct spb_state;
int pl_message(const tmap *rules, struct spb_state *spb, st_slice topic, const char *payload,
               size_t len, const pl_opts *opts, st_arena *a, pl_point_cb cb, void *ctx,
               pl_stats *stats, char *err, size_t errlen);

/* The format auto-detection would pick (never AUTO; SPARKPLUG for topics
 * starting with "spBv1.0/"). */
tmap_format pl_sniff(st_slice topic, const char *payload, size_t len);

#endif
