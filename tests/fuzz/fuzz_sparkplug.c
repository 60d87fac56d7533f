/*
 * tests/fuzz/fuzz_sparkplug.c — Sparkplug B payloads and session state
 * under libFuzzer, replayed over tests/fuzz/corpus/sparkplug by
 * `make test`.
 *
 * Input: a sequence of messages, each `sel len_lo len_hi bytes[len]`
 * (a short last record takes the rest). sel picks the message type (low
 * nibble: NBIRTH NDATA NDEATH DBIRTH DDATA DDEATH NCMD DCMD STATE, then
 * a malformed topic), bit 4 the edge node (E1/E2), bit 5 the device
 * (D1/D2), bit 6 whether a topic rule applies. All messages go through one
 * spb_state with small limits, so births, aliases, deaths and rebirths
 * interact. Every point is checked against the lp_line contract; every
 * return code must be one spb_handle documents; the state's memory is
 * bounded by its limits; ASan checks for leaks at the end. Also decodes the
 * raw input as a single payload. Single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/point.h"
#include "ingest/payload.h"
#include "ingest/sparkplug.h"
#include "ingest/topicmap.h"

static int on_point(void *ctx, const lp_line *l)
{
    uint64_t *count = ctx;
    (*count)++;
    if (l->measurement.len == 0 || l->field_count != 1 || l->tag_count < 2) abort();
    for (uint32_t i = 0; i < l->tag_count; i++) {
        if (l->tags[i].key.len == 0 || l->tags[i].val.len == 0) abort();
        if (i && st_slice_cmp(l->tags[i - 1].key, l->tags[i].key) >= 0) abort();
    }
    const lp_field *f = &l->fields[0];
    if (f->key.len == 0 || f->value.type < ST_TYPE_FLOAT || f->value.type > ST_TYPE_STRING) abort();
    if (f->value.type == ST_TYPE_STRING && f->value.v.s.len) {
        /* touch every byte: a dangling last value would show under ASan */
        volatile unsigned x = 0;
        for (size_t i = 0; i < f->value.v.s.len; i++) x += (unsigned char)f->value.v.s.ptr[i];
        (void)x;
    }
    if (l->ts_ns < ST_TIME_MIN_NS || l->ts_ns > ST_TIME_MAX_NS) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = { "NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH", "NCMD", "DCMD" };
    spb_state *st;
    spb_opts so = { .max_nodes = 2, .max_metrics = 64, .max_devices = 2 };
    if (spb_state_create(&so, &st)) abort();
    tmap *rules;
    if (tmap_create(&rules)) abort();
    const char *k[1] = { "site" }, *v[1] = { "s1" };
    tmap_rule_def d = { "spBv1.0/#", "spb", k, v, 1, "sparkplug", NULL };
    if (tmap_add_rule(rules, &d, NULL, 0)) abort();
    st_arena a;
    st_arena_init(&a, 4096);
    uint64_t points = 0;

    /* the whole input as one payload */
    spb_payload p;
    if (spb_payload_decode(data, size, &a, &p, NULL, 0) == 0 && p.metric_count > size) abort();
    st_arena_reset(&a);

    size_t at = 0;
    while (at < size) {
        uint8_t sel = data[at++];
        size_t len = 0;
        if (at + 2 <= size) {
            len = (size_t)data[at] | (size_t)data[at + 1] << 8;
            at += 2;
        }
        if (len > size - at) len = size - at;
        unsigned t = sel & 15;
        char topic[128];
        const char *edge = (sel & 16) ? "E2" : "E1", *dev = (sel & 32) ? "D2" : "D1";
        if (t < 8) {
            int is_dev = t == 3 || t == 4 || t == 5 || t == 7;
            snprintf(topic, sizeof topic, "spBv1.0/G/%s/%s%s%s", types[t], edge, is_dev ? "/" : "", is_dev ? dev : "");
        } else if (t == 8) {
            snprintf(topic, sizeof topic, "spBv1.0/STATE/host");
        } else {
            snprintf(topic, sizeof topic, "spBv1.0/G/NDATA");
        }
        tmap_result map;
        const tmap_result *mp = NULL;
        if (sel & 64) {
            if (tmap_match(rules, st_slice_cstr(topic), &a, &map)) abort();
            mp = &map;
        }
        spb_result res;
        char err[512];
        uint64_t before = points;
        int rc = spb_handle(st, mp, st_slice_cstr(topic), data + at, len, 1700000000000000000LL, &a, on_point,
                            &points, &res, err, sizeof err);
        if (rc != 0 && rc != ST_EPARSE && rc != ST_ENOTFOUND && rc != ST_ELIMIT) abort();
        if (rc && strncmp(err, "topic ", 6) != 0) abort();
        if (res.points != points - before) abort();
        if (rc == ST_EPARSE && res.points) abort();
        if (rc == ST_ENOTFOUND && !res.rebirth_needed) abort();
        if (spb_state_node_count(st) > so.max_nodes) abort();
        at += len;
        st_arena_reset(&a);
    }
    st_arena_fini(&a);
    tmap_destroy(rules);
    spb_state_destroy(st);
    return 0;
}
