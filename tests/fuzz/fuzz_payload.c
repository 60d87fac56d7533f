/*
 * tests/fuzz/fuzz_payload.c — MQTT payload decoding (topic rules, JSON,
 * plain, line protocol) under libFuzzer, replayed over
 * tests/fuzz/corpus/payload by `make test`.
 *
 * Input: byte 0 picks the topic (and so the rule and format: auto, json,
 * plain, lp, or the default mapping), the rest is the payload. Every
 * delivered point is checked against the lp_line contract (non-empty
 * measurement, tags sorted and unique with non-empty values, at least one
 * field with a non-empty key and a known type, timestamp in range); an
 * error must come with a message naming the topic; the arena must stay
 * within a fixed multiple of the payload size. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/point.h"
#include "ingest/payload.h"
#include "ingest/topicmap.h"

static tmap *rules;

static void setup(void)
{
    if (rules) return;
    if (tmap_create(&rules)) abort();
    const char *k[1] = { "site" }, *v[1] = { "s1" };
    tmap_rule_def d[] = {
        { "j/+line/#field", "json_m", k, v, 1, "json", NULL },
        { "p/+host/+field", NULL, NULL, NULL, 0, "plain", NULL },
        { "l/+measurement/#", NULL, k, v, 1, "lp", NULL },
        { "a/+measurement/+field", NULL, NULL, NULL, 0, "auto", "v" },
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        if (tmap_add_rule(rules, &d[i], NULL, 0)) abort();
}

static int on_point(void *ctx, const lp_line *l)
{
    (void)ctx;
    if (l->measurement.len == 0 || l->field_count == 0) abort();
    for (uint32_t i = 0; i < l->tag_count; i++) {
        if (l->tags[i].key.len == 0 || l->tags[i].val.len == 0) abort();
        if (i && st_slice_cmp(l->tags[i - 1].key, l->tags[i].key) >= 0) abort();
    }
    for (uint32_t i = 0; i < l->field_count; i++) {
        const lp_field *f = &l->fields[i];
        if (f->key.len == 0 || f->value.type < ST_TYPE_FLOAT || f->value.type > ST_TYPE_STRING) abort();
        if (f->value.type == ST_TYPE_STRING && f->value.v.s.len && !f->value.v.s.ptr) abort();
        for (uint32_t k = 0; k < i; k++)
            if (l->field_count < 64 && st_slice_eq(l->fields[k].key, f->key)) abort();
    }
    if (l->ts_ns < ST_TIME_MIN_NS || l->ts_ns > ST_TIME_MAX_NS) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const topics[] = { "j/l1/temp/x", "p/h1/temp", "l/cpu/x", "a/m/f", "plant/l1/m7/temp",
                                          "solo", "j/l2", "x//y/" };
    setup();
    if (size < 1) return 0;
    const char *topic = topics[data[0] % (sizeof topics / sizeof topics[0])];
    st_arena a;
    st_arena_init(&a, 4096);
    pl_opts o = { .now_ns = 1700000000000000000LL, .max_line_bytes = (data[0] & 0x80) ? 64 : 0 };
    pl_stats st;
    char err[PL_ERR_BYTES];
    int rc = pl_message(rules, NULL, st_slice_cstr(topic), (const char *)data + 1, size - 1, &o, &a, on_point, NULL,
                        &st, err, sizeof err);
    if (rc != 0 && rc != ST_EPARSE && rc != ST_EUNSUPPORTED) abort();
    if (rc == ST_EPARSE && strncmp(err, "topic ", 6) != 0) abort();
    if (st.format == TMAP_FORMAT_AUTO) abort();
    if (a.used_bytes > 128 * size + (1u << 20)) abort();
    st_arena_fini(&a);
    return 0;
}
