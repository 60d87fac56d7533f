/*
 * ingest/topicmap.h — MQTT topic -> measurement, tags, field and payload
 * format (the `[[mqtt.rule]]` tables of the config). No I/O.
 *
 * A rule is built from plain C strings (the server reads the TOML and
 * passes the values in):
 *   topic       = "plant/+line/+machine/#field"   (required)
 *   measurement = "..."                   constant measurement (optional)
 *   tags        = { site = "a" }          constant tags (optional)
 *   format      = "json" | "lp" | "plain" | "sparkplug" | "auto" (default auto)
 *   field       = "value"                 field for single-value payloads
 *                                         (default "value")
 * Filter levels, split at '/':
 *   literal   must equal the topic level byte for byte;
 *   +         any one level;  +name  any one level, captured as tag `name`;
 *   #         the rest (zero or more levels, last level of the filter only);
 *   #name     the rest, joined by '/', captured as tag `name`.
 * Capture names `measurement` and `field` set those instead of a tag. An
 * empty capture (an empty level, or `#` matching nothing) sets nothing: the
 * tag is left out, the measurement/field fall back to their defaults. A
 * rule is refused when it names the measurement both as a constant and a
 * capture, names a tag twice (captures and constants together), uses the
 * tag key "time", or has '+'/'#' inside a level or '#' before the last
 * level. As in MQTT, a wildcard in the first level does not match a topic
 * starting with '$'.
 *
 * Matching: the rules in the order added, first match wins. The result:
 *   measurement  the constant, else the `measurement` capture, else the
 *                first non-empty topic level;
 *   field        the `field` capture, else the rule's field;
 *   tags         captures + constants, sorted by key.
 *
 * No rule matches -> the default (rule = -1, format auto): a line-protocol
 * payload is written as it stands (Telegraf's default MQTT format; nothing
 * is taken from the topic); for any other payload the topic's non-empty
 * levels L1/L2/.../Ln give measurement = L1, field = Ln (or "value" when
 * n = 1) and tags level1 = L2, level2 = L3, ..., level(n-2) = L(n-1).
 * A default topic with more than TMAP_MAX_DEFAULT_LEVELS levels is refused.
 *
 * Format auto (see payload.h): a topic starting with "spBv1.0/" is
 * Sparkplug B; a payload whose first non-blank byte is '{', '[' or '"' is
 * JSON; a payload that is one plain number or boolean is plain; anything
 * else is line protocol.
 *
 * Threads: a tmap is built once (single thread), then only read: any number
 * of threads may call tmap_match at the same time.
 */
#ifndef ST_TOPICMAP_H
#define ST_TOPICMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/slice.h"
#include "ingest/lp.h"

typedef enum tmap_format {
    TMAP_FORMAT_AUTO = 0,
    TMAP_FORMAT_LP,
    TMAP_FORMAT_JSON,
    TMAP_FORMAT_PLAIN,
    TMAP_FORMAT_SPARKPLUG,
} tmap_format;

#define TMAP_MAX_DEFAULT_LEVELS 64
#define TMAP_MAX_RULE_LEVELS    64

/* "auto" "lp" "json" "plain" "sparkplug" (also "line", "influx" for lp).
 * 0 or ST_EINVAL. */
int tmap_format_parse(const char *s, tmap_format *out);
const char *tmap_format_name(tmap_format f);

/* One `[[mqtt.rule]]`; every pointer is borrowed for the call only. */
typedef struct tmap_rule_def {
    const char *topic;              /* required */
    const char *measurement;        /* NULL or "" = none */
    const char *const *tag_keys;    /* tag_count entries */
    const char *const *tag_vals;
    size_t tag_count;
    const char *format;             /* NULL = "auto" */
    const char *field;              /* NULL or "" = "value" */
} tmap_rule_def;

typedef struct tmap tmap;

/* 0 or ST_ENOMEM. */
int  tmap_create(tmap **out);
void tmap_destroy(tmap *m); /* accepts NULL */
/* Append a rule (copied). 0, ST_ENOMEM, or ST_EINVAL with a message in
 * err (e.g. "mqtt.rule topic \"a/#x/b\": '#' must be the last level"). */
int  tmap_add_rule(tmap *m, const tmap_rule_def *def, char *err, size_t errlen);
size_t tmap_rule_count(const tmap *m);

typedef struct tmap_result {
    int rule;                /* index of the matching rule, -1 = the default */
    tmap_format format;
    st_slice measurement;    /* never empty on success */
    uint8_t measurement_set; /* 1: from the rule (constant or capture), not
                                the first-level default (Sparkplug keeps its
                                own default measurement otherwise) */
    const lp_tag *tags;      /* sorted by key, unique keys, non-empty values */
    uint32_t tag_count;
    st_slice field;          /* never empty on success */
} tmap_result;

/*
 * Map a topic. m may be NULL (no rules: the default). Slices point into the
 * topic, the tmap or the arena: valid while all three are. 0, ST_ENOMEM,
 * ST_EINVAL (empty topic, or a topic without any non-empty level) or
 * ST_ELIMIT (default mapping of a topic with too many levels).
 */
int tmap_match(const tmap *m, st_slice topic, st_arena *a, tmap_result *out);

#endif
