/*
 * tests/unit/test_sparkplug.c — Sparkplug B: the byte vectors of the
 * protocol reference, payloads built here with a tiny protobuf encoder:
 * NBIRTH with aliases then NDATA by alias, DBIRTH/DDATA/DDEATH, DATA before
 * BIRTH (rebirth requested), NDEATH with matching and stale bdSeq, every
 * datatype, the Quality property, transient/null/historical metrics,
 * malformed payloads, limits, allocation failures. Single-threaded.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/num.h"
#include "common/point.h"
#include "ingest/payload.h"
#include "ingest/sparkplug.h"
#include "unit.h"

#define NOW_NS 1800000000000000000LL
#define T0 1700000000000ULL /* ms */

/* ---- a tiny protobuf encoder ------------------------------------------- */

typedef struct enc { uint8_t b[8192]; size_t n; } enc;

static void e_varint(enc *e, uint64_t v)
{
    while (v >= 0x80) { e->b[e->n++] = (uint8_t)(v | 0x80); v >>= 7; }
    e->b[e->n++] = (uint8_t)v;
}
static void e_key(enc *e, unsigned f, unsigned wt) { e_varint(e, (uint64_t)f << 3 | wt); }
static void e_u(enc *e, unsigned f, uint64_t v) { e_key(e, f, 0); e_varint(e, v); }
static void e_bytes(enc *e, unsigned f, const void *p, size_t n)
{
    e_key(e, f, 2);
    e_varint(e, n);
    memcpy(e->b + e->n, p, n);
    e->n += n;
}
static void e_str(enc *e, unsigned f, const char *s) { e_bytes(e, f, s, strlen(s)); }
static void e_fixed(enc *e, unsigned f, uint64_t v, int bytes)
{
    e_key(e, f, bytes == 8 ? 1 : 5);
    for (int i = 0; i < bytes; i++) e->b[e->n++] = (uint8_t)(v >> (8 * i));
}

enum { K_NONE, K_INT, K_LONG, K_FLOAT, K_DOUBLE, K_BOOL, K_STR, K_BYTES, K_DATASET };

typedef struct mdef {
    const char *name;
    int64_t alias;      /* 0 none */
    uint64_t ts;        /* 0 none */
    int dt;             /* 0 none */
    int kind;
    uint64_t u;
    double d;
    const char *s;
    int hist, trans, null;
    int has_q;
    int64_t quality;
} mdef;

#define M(...) ((mdef){ __VA_ARGS__ })

static void e_metric(enc *e, const mdef *m)
{
    enc x = { .n = 0 };
    if (m->name) e_str(&x, 1, m->name);
    if (m->alias > 0) e_u(&x, 2, (uint64_t)m->alias);
    if (m->ts) e_u(&x, 3, m->ts);
    if (m->dt > 0) e_u(&x, 4, (uint64_t)m->dt);
    if (m->hist) e_u(&x, 5, 1);
    if (m->trans) e_u(&x, 6, 1);
    if (m->null) e_u(&x, 7, 1);
    if (m->has_q) {
        /* PropertySet { keys: ["engUnit", "Quality"], values: [{type 12, "C"}, {type 3, int_value}] } */
        enc ps = { .n = 0 }, v1 = { .n = 0 }, v2 = { .n = 0 };
        e_str(&ps, 1, "engUnit");
        e_str(&ps, 1, "Quality");
        e_u(&v1, 1, 12);
        e_str(&v1, 8, "C");
        e_bytes(&ps, 2, v1.b, v1.n);
        e_u(&v2, 1, 3);
        e_u(&v2, 3, (uint32_t)m->quality);
        e_bytes(&ps, 2, v2.b, v2.n);
        e_bytes(&x, 9, ps.b, ps.n);
    }
    switch (m->kind) {
    case K_INT: e_u(&x, 10, (uint32_t)m->u); break;
    case K_LONG: e_u(&x, 11, m->u); break;
    case K_FLOAT: { float f = (float)m->d; uint32_t b; memcpy(&b, &f, 4); e_fixed(&x, 12, b, 4); break; }
    case K_DOUBLE: { uint64_t b; memcpy(&b, &m->d, 8); e_fixed(&x, 13, b, 8); break; }
    case K_BOOL: e_u(&x, 14, m->u); break;
    case K_STR: e_str(&x, 15, m->s); break;
    case K_BYTES: e_bytes(&x, 16, "\x01\x02", 2); break;
    case K_DATASET: e_bytes(&x, 17, "\x08\x01", 2); break;
    default: break;
    }
    e_u(&x, 99, 7); /* an unknown field: skipped */
    e_bytes(e, 2, x.b, x.n);
}

static enc payload(uint64_t ts, int64_t seq, const mdef *ms, size_t n)
{
    enc e = { .n = 0 };
    if (ts) e_u(&e, 1, ts);
    for (size_t i = 0; i < n; i++) e_metric(&e, &ms[i]);
    if (seq >= 0) e_u(&e, 3, (uint64_t)seq);
    return e;
}

/* ---- capture ----------------------------------------------------------- */

typedef struct sink {
    char text[16384];
    size_t n;
    int points;
    uint64_t bits[64];
} sink;

static void put(sink *s, const char *str)
{
    size_t k = strlen(str);
    if (s->n + k < sizeof s->text) { memcpy(s->text + s->n, str, k + 1); s->n += k; }
}

static int on_point(void *ctx, const lp_line *l)
{
    sink *s = ctx;
    char b[512];
    if (s->points) put(s, "\n");
    snprintf(b, sizeof b, "%.*s", (int)l->measurement.len, l->measurement.ptr);
    put(s, b);
    for (uint32_t i = 0; i < l->tag_count; i++) {
        snprintf(b, sizeof b, ",%.*s=%.*s", (int)l->tags[i].key.len, l->tags[i].key.ptr,
                 (int)l->tags[i].val.len, l->tags[i].val.ptr);
        put(s, b);
    }
    for (uint32_t i = 0; i < l->field_count; i++) {
        const lp_field *f = &l->fields[i];
        snprintf(b, sizeof b, "%s%.*s=", i ? "," : " ", (int)f->key.len, f->key.ptr);
        put(s, b);
        switch (f->value.type) {
        case ST_TYPE_FLOAT:
            if (s->points < 64) memcpy(&s->bits[s->points], &f->value.v.f, 8);
            st_format_double(f->value.v.f, b);
            break;
        case ST_TYPE_INT: snprintf(b, sizeof b, "%lldi", (long long)f->value.v.i); break;
        case ST_TYPE_UINT: snprintf(b, sizeof b, "%lluu", (unsigned long long)f->value.v.u); break;
        case ST_TYPE_BOOL: snprintf(b, sizeof b, "%s", f->value.v.b ? "true" : "false"); break;
        case ST_TYPE_STRING: snprintf(b, sizeof b, "\"%.*s\"", (int)f->value.v.s.len, f->value.v.s.ptr); break;
        default: snprintf(b, sizeof b, "?");
        }
        put(s, b);
    }
    if (l->has_ts) snprintf(b, sizeof b, " %lld", (long long)l->ts_ns);
    else snprintf(b, sizeof b, l->ts_ns == NOW_NS ? " now" : " BAD-TS");
    put(s, b);
    if (l->has_quality) { snprintf(b, sizeof b, " q=0x%08x", l->quality); put(s, b); }
    s->points++;
    return 0;
}

typedef struct out {
    int rc;
    sink s;
    spb_result res;
    char err[512];
} out;

static out O;

static const char *handle_map(spb_state *st, const tmap_result *map, const char *topic, const void *p, size_t n)
{
    st_arena a;
    st_arena_init(&a, 0);
    memset(&O, 0, sizeof O);
    O.rc = spb_handle(st, map, st_slice_cstr(topic), p, n, NOW_NS, &a, on_point, &O.s, &O.res, O.err, sizeof O.err);
    st_arena_fini(&a);
    return O.s.text;
}

static const char *handle(spb_state *st, const char *topic, const void *p, size_t n)
{
    return handle_map(st, NULL, topic, p, n);
}

static size_t unhex(const char *h, uint8_t *bytes)
{
    size_t n = 0;
    while (*h) {
        while (*h == ' ') h++;
        if (!*h) break;
        unsigned v;
        sscanf(h, "%2x", &v);
        bytes[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

/* PROTOCOLS.md §4.9 */
static const char *NBIRTH_HEX =
    "08 80 d0 95 ff bc 31 12 14 0a 05 62 64 53 65 71 10 0a 18 80 d0 95 ff bc 31 20 04 58 00 12 23 0a 14 4e 6f 64 65 "
    "20 43 6f 6e 74 72 6f 6c 2f 52 65 62 69 72 74 68 10 0b 18 80 d0 95 ff bc 31 20 0b 70 00 12 20 0a 0a 4c 69 6e 65 "
    "31 2f 54 65 6d 70 10 01 18 80 d0 95 ff bc 31 20 0a 69 00 00 00 00 00 80 35 40 12 1e 0a 0b 4c 69 6e 65 31 2f 43 "
    "6f 75 6e 74 10 02 18 80 d0 95 ff bc 31 20 03 50 fb ff ff ff 0f 18 00";
static const char *NDATA_HEX =
    "08 e8 d7 95 ff bc 31 12 12 10 01 18 e8 d7 95 ff bc 31 69 00 00 00 00 00 40 36 40 12 0f 10 02 18 e8 d7 95 ff bc "
    "31 50 fc ff ff ff 0f 18 01";
static const char *NDEATH_HEX = "08 80 d0 95 ff bc 31 12 0b 0a 05 62 64 53 65 71 20 04 58 00";

#define TAGS "sparkplug,edge_node=E1,group=G1"

TEST(test_reference_vectors)
{
    uint8_t b[256];
    size_t n = unhex(NBIRTH_HEX, b);
    CHECK_EQ_INT(n, 134);
    spb_state *st;
    REQUIRE(spb_state_create(NULL, &st) == 0);
    CHECK_EQ_STR(handle(st, "spBv1.0/G1/NBIRTH/E1", b, n),
                 TAGS " online=true 1700000000000000000\n"
                 TAGS " bdSeq=0i 1700000000000000000\n"
                 TAGS " Node Control/Rebirth=false 1700000000000000000\n"
                 TAGS " Line1/Temp=21.5 1700000000000000000\n"
                 TAGS " Line1/Count=-5i 1700000000000000000");
    CHECK_EQ_INT(O.rc, 0);
    CHECK_EQ_INT(O.res.type, SPB_NBIRTH);
    CHECK_EQ_INT(O.res.points, 5);
    CHECK_EQ_INT(O.res.seq_gap, 0);
    n = unhex(NDATA_HEX, b);
    CHECK_EQ_INT(n, 46);
    CHECK_EQ_STR(handle(st, "spBv1.0/G1/NDATA/E1", b, n),
                 TAGS " Line1/Temp=22.25 1700000001000000000\n"
                 TAGS " Line1/Count=-4i 1700000001000000000");
    CHECK_EQ_INT(O.rc, 0);
    CHECK_EQ_INT(O.res.rebirth_needed, 0);
    CHECK_EQ_INT(O.res.seq_gap, 0);
    /* NDEATH with the matching bdSeq (0): offline + last values Uncertain at arrival */
    n = unhex(NDEATH_HEX, b);
    CHECK_EQ_STR(handle(st, "spBv1.0/G1/NDEATH/E1", b, n),
                 TAGS " online=false 1800000000000000000\n"
                 TAGS " bdSeq=0i 1800000000000000000 q=0x40900000\n"
                 TAGS " Node Control/Rebirth=false 1800000000000000000 q=0x40900000\n"
                 TAGS " Line1/Temp=22.25 1800000000000000000 q=0x40900000\n"
                 TAGS " Line1/Count=-4i 1800000000000000000 q=0x40900000");
    CHECK_EQ_INT(O.rc, 0);
    /* a second death changes nothing; DATA after death asks for a rebirth */
    CHECK_EQ_STR(handle(st, "spBv1.0/G1/NDEATH/E1", b, n), "");
    n = unhex(NDATA_HEX, b);
    handle(st, "spBv1.0/G1/NDATA/E1", b, n);
    CHECK_EQ_INT(O.rc, ST_ENOTFOUND);
    CHECK_EQ_INT(O.res.rebirth_needed, 1);
    CHECK(strstr(O.err, "NDATA before NBIRTH: rebirth needed") != NULL);
    CHECK(strstr(O.err, "spBv1.0/G1/NCMD/E1") != NULL);
    spb_state_destroy(st);
}

TEST(test_stale_ndeath)
{
    spb_state *st;
    REQUIRE(spb_state_create(NULL, &st) == 0);
    mdef birth[] = { M(.name = "bdSeq", .dt = 4, .kind = K_LONG, .u = 7),
                     M(.name = "t", .alias = 1, .dt = 10, .kind = K_DOUBLE, .d = 1.5, .ts = T0) };
    enc e = payload(T0, 0, birth, 2);
    handle(st, "spBv1.0/G/NBIRTH/E", e.b, e.n);
    CHECK_EQ_INT(O.rc, 0);
    mdef death6[] = { M(.name = "bdSeq", .dt = 4, .kind = K_LONG, .u = 6) };
    e = payload(T0, -1, death6, 1);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/NDEATH/E", e.b, e.n), "");
    CHECK_EQ_INT(O.rc, 0);
    CHECK_EQ_INT(O.res.stale_death, 1);
    CHECK(strstr(O.err, "NDEATH bdSeq 6 does not match the NBIRTH's 7") != NULL);
    e = payload(T0, -1, NULL, 0);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/NDEATH/E", e.b, e.n), "");
    CHECK_EQ_INT(O.res.stale_death, 1);
    mdef death7[] = { M(.name = "bdSeq", .dt = 4, .kind = K_LONG, .u = 7) };
    e = payload(T0, -1, death7, 1);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/NDEATH/E", e.b, e.n),
                 "sparkplug,edge_node=E,group=G online=false 1800000000000000000\n"
                 "sparkplug,edge_node=E,group=G bdSeq=7i 1800000000000000000 q=0x40900000\n"
                 "sparkplug,edge_node=E,group=G t=1.5 1800000000000000000 q=0x40900000");
    CHECK_EQ_INT(O.res.stale_death, 0);
    /* unknown node: offline only */
    CHECK_EQ_STR(handle(st, "spBv1.0/G/NDEATH/X", e.b, e.n),
                 "sparkplug,edge_node=X,group=G online=false 1800000000000000000");
    spb_state_destroy(st);
}

TEST(test_devices)
{
    spb_state *st;
    REQUIRE(spb_state_create(&(spb_opts){ .measurement = "plant" }, &st) == 0);
    mdef nb[] = { M(.name = "bdSeq", .dt = 4, .kind = K_LONG, .u = 1),
                  M(.name = "Up", .alias = 1, .dt = 11, .kind = K_BOOL, .u = 1, .ts = T0) };
    enc e = payload(T0, 0, nb, 2);
    handle(st, "spBv1.0/G/NBIRTH/E", e.b, e.n);
    CHECK_EQ_INT(O.rc, 0);
    mdef db[] = { M(.name = "Temp", .alias = 2, .dt = 9, .kind = K_FLOAT, .d = 20.5, .ts = T0 + 1),
                  M(.name = "Mode", .alias = 3, .dt = 12, .kind = K_STR, .s = "auto", .ts = T0 + 1) };
    e = payload(T0 + 1, 1, db, 2);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/DBIRTH/E/D1", e.b, e.n),
                 "plant,device=D1,edge_node=E,group=G online=true 1700000000001000000\n"
                 "plant,device=D1,edge_node=E,group=G Temp=20.5 1700000000001000000\n"
                 "plant,device=D1,edge_node=E,group=G Mode=\"auto\" 1700000000001000000");
    CHECK_EQ_INT(O.rc, 0);
    mdef dd[] = { M(.alias = 2, .kind = K_FLOAT, .d = 21.25, .ts = T0 + 2),
                  M(.alias = 3, .kind = K_STR, .s = "manual", .ts = T0 + 2) };
    e = payload(T0 + 2, 2, dd, 2);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/DDATA/E/D1", e.b, e.n),
                 "plant,device=D1,edge_node=E,group=G Temp=21.25 1700000000002000000\n"
                 "plant,device=D1,edge_node=E,group=G Mode=\"manual\" 1700000000002000000");
    CHECK_EQ_INT(O.res.seq_gap, 0);
    /* a node alias used on a device topic is not the device's */
    mdef wrong[] = { M(.alias = 1, .kind = K_BOOL, .u = 0, .ts = T0 + 3) };
    e = payload(T0 + 3, 3, wrong, 1);
    handle(st, "spBv1.0/G/DDATA/E/D1", e.b, e.n);
    CHECK_EQ_INT(O.rc, ST_ENOTFOUND);
    CHECK(strstr(O.err, "alias 1 unknown") != NULL);
    /* DDEATH: offline + the device's last values, at the payload time */
    e = payload(T0 + 4, 4, NULL, 0);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/DDEATH/E/D1", e.b, e.n),
                 "plant,device=D1,edge_node=E,group=G online=false 1700000000004000000\n"
                 "plant,device=D1,edge_node=E,group=G Temp=21.25 1700000000004000000 q=0x40900000\n"
                 "plant,device=D1,edge_node=E,group=G Mode=\"manual\" 1700000000004000000 q=0x40900000");
    /* seq gap is reported, not fatal */
    mdef nd[] = { M(.alias = 1, .kind = K_BOOL, .u = 0, .ts = T0 + 5) };
    e = payload(T0 + 5, 9, nd, 1);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/NDATA/E", e.b, e.n), "plant,edge_node=E,group=G Up=false 1700000000005000000");
    CHECK_EQ_INT(O.res.seq_gap, 1);
    CHECK_EQ_INT(O.rc, 0);
    /* DDATA for a device never born */
    mdef d2[] = { M(.alias = 2, .kind = K_FLOAT, .d = 1, .ts = T0) };
    e = payload(T0, 10, d2, 1);
    handle(st, "spBv1.0/G/DDATA/E/D2", e.b, e.n);
    CHECK_EQ_INT(O.rc, ST_ENOTFOUND);
    CHECK_EQ_INT(O.res.unknown, 1);
    spb_state_destroy(st);
}

TEST(test_data_before_birth)
{
    spb_state *st;
    REQUIRE(spb_state_create(NULL, &st) == 0);
    mdef nd[] = { M(.alias = 5, .kind = K_DOUBLE, .d = 1, .ts = T0),
                  M(.name = "selfdesc", .dt = 3, .kind = K_INT, .u = 0xFFFFFFFF, .ts = T0) };
    enc e = payload(T0, 3, nd, 2);
    /* the self-describing metric is written; the alias needs a rebirth */
    CHECK_EQ_STR(handle(st, "spBv1.0/G1/NDATA/E1", e.b, e.n), TAGS " selfdesc=-1i 1700000000000000000");
    CHECK_EQ_INT(O.rc, ST_ENOTFOUND);
    CHECK_EQ_INT(O.res.rebirth_needed, 1);
    CHECK_EQ_INT(O.res.unknown, 1);
    CHECK_EQ_STR(O.err, "topic spBv1.0/G1/NDATA/E1: NDATA before NBIRTH: rebirth needed "
                        "(publish NCMD \"Node Control/Rebirth\"=true on spBv1.0/G1/NCMD/E1)");
    /* after a birth the alias resolves; an unknown alias is reported by number */
    mdef nb[] = { M(.name = "x", .alias = 5, .dt = 10, .kind = K_DOUBLE, .d = 0, .ts = T0) };
    e = payload(T0, 0, nb, 1);
    handle(st, "spBv1.0/G1/NBIRTH/E1", e.b, e.n);
    CHECK_EQ_INT(O.rc, 0);
    mdef nd2[] = { M(.alias = 5, .kind = K_DOUBLE, .d = 2, .ts = T0 + 1), M(.alias = 6, .kind = K_DOUBLE, .d = 3) };
    e = payload(T0 + 1, 1, nd2, 2);
    CHECK_EQ_STR(handle(st, "spBv1.0/G1/NDATA/E1", e.b, e.n), TAGS " x=2 1700000000001000000");
    CHECK_EQ_INT(O.rc, ST_ENOTFOUND);
    CHECK(strstr(O.err, "alias 6 unknown (1 unresolved metrics): rebirth needed") != NULL);
    /* the rebirth request */
    char topic[128];
    size_t tl;
    CHECK_EQ_INT(spb_rebirth_topic(st_slice_cstr("spBv1.0/G1/DDATA/E1/D"), topic, sizeof topic, &tl), 0);
    CHECK_EQ_STR(topic, "spBv1.0/G1/NCMD/E1");
    CHECK_EQ_INT(tl, 18);
    CHECK_EQ_INT(spb_rebirth_topic(st_slice_cstr("a/b"), topic, sizeof topic, &tl), ST_EPARSE);
    uint8_t pb[64];
    size_t pn;
    REQUIRE(spb_rebirth_payload((int64_t)T0, pb, sizeof pb, &pn) == 0);
    st_arena a;
    st_arena_init(&a, 0);
    spb_payload p;
    REQUIRE(spb_payload_decode(pb, pn, &a, &p, NULL, 0) == 0);
    CHECK_EQ_U64(p.ts_ms, T0);
    REQUIRE(p.metric_count == 1);
    CHECK(st_slice_eq_cstr(p.metrics[0].name, "Node Control/Rebirth"));
    CHECK_EQ_INT(p.metrics[0].datatype, 11);
    CHECK_EQ_INT(p.metrics[0].kind, SPB_V_BOOL);
    CHECK_EQ_U64(p.metrics[0].u, 1);
    st_arena_fini(&a);
    spb_state_destroy(st);
}

TEST(test_datatypes)
{
    spb_state *st;
    REQUIRE(spb_state_create(NULL, &st) == 0);
    double nan_payload;
    uint64_t nb = 0x7FF8000000000123ULL;
    memcpy(&nan_payload, &nb, 8);
    mdef m[] = {
        M(.name = "i8", .dt = 1, .kind = K_INT, .u = 0xFF, .ts = T0),
        M(.name = "i16", .dt = 2, .kind = K_INT, .u = 0x8000, .ts = T0),
        M(.name = "i32", .dt = 3, .kind = K_INT, .u = 0x80000000, .ts = T0),
        M(.name = "i64", .dt = 4, .kind = K_LONG, .u = UINT64_MAX, .ts = T0),
        M(.name = "u8", .dt = 5, .kind = K_INT, .u = 0xFF, .ts = T0),
        M(.name = "u16", .dt = 6, .kind = K_INT, .u = 0xFFFF, .ts = T0),
        M(.name = "u32", .dt = 7, .kind = K_INT, .u = 0xFFFFFFFF, .ts = T0),
        M(.name = "u64", .dt = 8, .kind = K_LONG, .u = UINT64_MAX, .ts = T0),
        M(.name = "f", .dt = 9, .kind = K_FLOAT, .d = 0.1, .ts = T0),
        M(.name = "d", .dt = 10, .kind = K_DOUBLE, .d = nan_payload, .ts = T0),
        M(.name = "b", .dt = 11, .kind = K_BOOL, .u = 1, .ts = T0),
        M(.name = "s", .dt = 12, .kind = K_STR, .s = "hé", .ts = T0),
        M(.name = "dt", .dt = 13, .kind = K_LONG, .u = T0, .ts = T0),
        M(.name = "txt", .dt = 14, .kind = K_STR, .s = "long text", .ts = T0),
        M(.name = "uuid", .dt = 15, .kind = K_STR, .s = "123e4567-e89b-12d3-a456-426614174000", .ts = T0),
        M(.name = "ds", .dt = 16, .kind = K_DATASET, .ts = T0),
        M(.name = "bytes", .dt = 17, .kind = K_BYTES, .ts = T0),
        M(.name = "mismatch", .dt = 10, .kind = K_STR, .s = "x", .ts = T0),
        M(.name = "novalue", .dt = 10, .ts = T0),
        M(.name = "trans", .dt = 10, .kind = K_DOUBLE, .d = 1, .trans = 1, .ts = T0),
        M(.name = "null", .dt = 10, .null = 1, .ts = T0),
        M(.name = "inf", .dt = 10, .kind = K_DOUBLE, .d = -INFINITY), /* payload time */
    };
    enc e = payload(T0 + 9, 0, m, sizeof m / sizeof m[0]);
#define P(x) "sparkplug,edge_node=E,group=G " x " 1700000000000000000\n"
    CHECK_EQ_STR(handle(st, "spBv1.0/G/NBIRTH/E", e.b, e.n),
                 "sparkplug,edge_node=E,group=G online=true 1700000000009000000\n"
                 P("i8=-1i") P("i16=-32768i") P("i32=-2147483648i") P("i64=-1i") P("u8=255u") P("u16=65535u")
                 P("u32=4294967295u") P("u64=18446744073709551615u") P("f=0.10000000149011612") P("d=NaN")
                 P("b=true") P("s=\"hé\"") P("dt=1700000000000i") P("txt=\"long text\"")
                 P("uuid=\"123e4567-e89b-12d3-a456-426614174000\"")
                 "sparkplug,edge_node=E,group=G inf=-Inf 1700000000009000000");
#undef P
    CHECK_EQ_INT(O.rc, 0);
    CHECK_EQ_INT(O.res.skipped, 6); /* ds, bytes, mismatch, novalue, trans, null */
    CHECK_EQ_U64(O.s.bits[10], 0x7FF8000000000123ULL); /* NaN payload bit-exact */
    CHECK_EQ_U64(O.s.bits[16], 0xFFF0000000000000ULL);
    spb_state_destroy(st);
}

TEST(test_quality_and_historical)
{
    spb_state *st;
    REQUIRE(spb_state_create(NULL, &st) == 0);
    mdef m[] = {
        M(.name = "good", .alias = 1, .dt = 10, .kind = K_DOUBLE, .d = 1, .ts = T0, .has_q = 1, .quality = 192),
        M(.name = "bad", .alias = 2, .dt = 10, .kind = K_DOUBLE, .d = 2, .ts = T0, .has_q = 1, .quality = 0),
        M(.name = "stale", .alias = 3, .dt = 10, .kind = K_DOUBLE, .d = 3, .ts = T0, .has_q = 1, .quality = 500),
    };
    enc e = payload(T0, 0, m, 3);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/NBIRTH/E", e.b, e.n),
                 "sparkplug,edge_node=E,group=G online=true 1700000000000000000\n"
                 "sparkplug,edge_node=E,group=G good=1 1700000000000000000 q=0x00000000\n"
                 "sparkplug,edge_node=E,group=G bad=2 1700000000000000000 q=0x80000000\n"
                 "sparkplug,edge_node=E,group=G stale=3 1700000000000000000 q=0x40900000");
    CHECK_EQ_INT(spb_quality_status(192), ST_QUALITY_GOOD);
    CHECK_EQ_INT(spb_quality_status(0), ST_QUALITY_BAD);
    CHECK_EQ_INT(spb_quality_status(500), ST_QUALITY_UNCERTAIN);
    CHECK_EQ_INT(spb_quality_status(0x40), 0x40000000);
    /* historical: written with its own time, the last value is not updated */
    mdef h[] = { M(.alias = 1, .kind = K_DOUBLE, .d = 99, .ts = T0 - 5000, .hist = 1) };
    e = payload(T0 + 1, 1, h, 1);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/NDATA/E", e.b, e.n), "sparkplug,edge_node=E,group=G good=99 1699999995000000000");
    e = payload(T0 + 2, -1, NULL, 0);
    CHECK_EQ_STR(handle(st, "spBv1.0/G/NDEATH/E", e.b, e.n),
                 "sparkplug,edge_node=E,group=G online=false 1800000000000000000\n"
                 "sparkplug,edge_node=E,group=G good=1 1800000000000000000 q=0x40900000\n"
                 "sparkplug,edge_node=E,group=G bad=2 1800000000000000000 q=0x40900000\n"
                 "sparkplug,edge_node=E,group=G stale=3 1800000000000000000 q=0x40900000");
    spb_state_destroy(st);
}

TEST(test_rule_tags_and_measurement)
{
    spb_state *st;
    REQUIRE(spb_state_create(NULL, &st) == 0);
    tmap *m;
    REQUIRE(tmap_create(&m) == 0);
    const char *k[2] = { "site", "group" }, *v[2] = { "s1", "ignored" };
    tmap_rule_def d = { "spBv1.0/#", "spb", k, v, 2, "sparkplug", NULL };
    REQUIRE(tmap_add_rule(m, &d, NULL, 0) == 0);
    st_arena a;
    st_arena_init(&a, 0);
    tmap_result r;
    REQUIRE(tmap_match(m, st_slice_cstr("spBv1.0/G/NBIRTH/E"), &a, &r) == 0);
    mdef mm[] = { M(.name = "x", .dt = 3, .kind = K_INT, .u = 1, .ts = T0) };
    enc e = payload(T0, 0, mm, 1);
    CHECK_EQ_STR(handle_map(st, &r, "spBv1.0/G/NBIRTH/E", e.b, e.n),
                 "spb,edge_node=E,group=G,site=s1 online=true 1700000000000000000\n"
                 "spb,edge_node=E,group=G,site=s1 x=1i 1700000000000000000");
    /* through pl_message */
    pl_opts o = { .now_ns = NOW_NS };
    pl_stats ps;
    char err[512];
    sink s;
    memset(&s, 0, sizeof s);
    mdef nd[] = { M(.name = "x", .kind = K_INT, .u = 2, .ts = T0 + 1), M(.alias = 77, .kind = K_INT, .u = 2) };
    e = payload(T0 + 1, 1, nd, 2);
    CHECK_EQ_INT(pl_message(NULL, st, st_slice_cstr("spBv1.0/G/NDATA/E"), (const char *)e.b, e.n, &o, &a, on_point,
                            &s, &ps, err, sizeof err),
                 ST_ENOTFOUND);
    CHECK_EQ_STR(s.text, "sparkplug,edge_node=E,group=G x=2i 1700000000001000000");
    CHECK_EQ_INT(ps.format, TMAP_FORMAT_SPARKPLUG);
    CHECK_EQ_INT(ps.points, 1);
    CHECK_EQ_INT(ps.unknown, 1);
    CHECK_EQ_INT(ps.rebirth_needed, 1);
    CHECK_EQ_INT(pl_message(NULL, NULL, st_slice_cstr("spBv1.0/G/NDATA/E"), (const char *)e.b, e.n, &o, &a, on_point,
                            &s, &ps, err, sizeof err),
                 ST_EUNSUPPORTED);
    /* commands and STATE write nothing */
    handle(st, "spBv1.0/G/NCMD/E", e.b, e.n);
    CHECK_EQ_INT(O.rc, 0);
    CHECK_EQ_INT(O.res.type, SPB_NCMD);
    handle(st, "spBv1.0/STATE/host1", "{\"online\":true}", 15);
    CHECK_EQ_INT(O.rc, 0);
    CHECK_EQ_INT(O.res.type, SPB_STATE);
    CHECK_EQ_INT(O.s.points, 0);
    st_arena_fini(&a);
    tmap_destroy(m);
    spb_state_destroy(st);
}

TEST(test_topics)
{
    spb_topic t;
    CHECK_EQ_INT(spb_topic_parse(st_slice_cstr("spBv1.0/G/DDATA/E/D"), &t), 0);
    CHECK_EQ_INT(t.type, SPB_DDATA);
    CHECK(st_slice_eq_cstr(t.group, "G") && st_slice_eq_cstr(t.edge, "E") && st_slice_eq_cstr(t.device, "D"));
    const char *bad[] = { "spBv1.0/G/NDATA", "spBv1.0/G/NDATA/E/D", "spBv1.0/G/DDATA/E", "spBv1.0//NDATA/E",
                          "spBv1.0/G/XDATA/E", "spAv1.0/G/NDATA/E", "spBv1.0/STATE", "spBv1.0/G/NDATA/E/",
                          "spBv1.0/G/DDATA/E/D/x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (spb_topic_parse(st_slice_cstr(bad[i]), &t) != ST_EPARSE) UNIT__FAIL("accepted %s", bad[i]);
    spb_state *st;
    REQUIRE(spb_state_create(NULL, &st) == 0);
    handle(st, "spBv1.0/G/NDATA", "", 0);
    CHECK_EQ_INT(O.rc, ST_EPARSE);
    CHECK(strstr(O.err, "topic spBv1.0/G/NDATA: not a Sparkplug B topic") != NULL);
    spb_state_destroy(st);
}

TEST(test_malformed)
{
    struct { const char *hex, *msg; } cases[] = {
        { "08", "payload: at byte 1: truncated or overlong varint" },
        { "08 ff ff ff ff ff ff ff ff ff 7f", "truncated or overlong varint" },
        { "12 05 0a", "length beyond the end" },
        { "0b 00", "unsupported wire type" },       /* group start */
        { "0a 00", "wrong wire type" },             /* timestamp as bytes */
        { "00", "bad field number" },
        { "12 02 0a 05", "metric 0: length beyond the end" },
        { "12 02 68 01", "metric 0: known field with the wrong wire type" }, /* double_value as varint */
        { "12 03 4a 01 0a", "metric 0: truncated length" }, /* properties truncated */
        { "12 01 65", "metric 0: truncated fixed-width value" },
    };
    spb_state *st;
    REQUIRE(spb_state_create(NULL, &st) == 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t b[64];
        size_t n = unhex(cases[i].hex, b);
        handle(st, "spBv1.0/G/NBIRTH/E", b, n);
        CHECK_EQ_INT(O.rc, ST_EPARSE);
        CHECK_EQ_INT(O.s.points, 0);
        if (!strstr(O.err, cases[i].msg) || strncmp(O.err, "topic spBv1.0/G/NBIRTH/E: sparkplug payload", 43) != 0)
            UNIT__FAIL("case %zu: \"%s\" not in \"%s\"", i, cases[i].msg, O.err);
    }
    /* empty payload: a valid (empty) message */
    handle(st, "spBv1.0/G/NBIRTH/E", "", 0);
    CHECK_EQ_INT(O.rc, 0);
    CHECK_EQ_INT(O.s.points, 1); /* online=true */
    spb_state_destroy(st);
}

TEST(test_limits)
{
    spb_state *st;
    REQUIRE(spb_state_create(&(spb_opts){ .max_nodes = 1, .max_metrics = 2, .max_devices = 1 }, &st) == 0);
    mdef m[] = { M(.name = "a", .alias = 1, .dt = 3, .kind = K_INT, .u = 1, .ts = T0),
                 M(.name = "b", .alias = 2, .dt = 3, .kind = K_INT, .u = 2, .ts = T0),
                 M(.name = "c", .alias = 3, .dt = 3, .kind = K_INT, .u = 3, .ts = T0) };
    enc e = payload(T0, 0, m, 3);
    handle(st, "spBv1.0/G/NBIRTH/E", e.b, e.n);
    CHECK_EQ_INT(O.rc, ST_ELIMIT);
    CHECK_EQ_INT(O.s.points, 4);
    CHECK(strstr(O.err, "more than 2 metrics on this edge node: 1 not registered") != NULL);
    handle(st, "spBv1.0/G/NBIRTH/E2", e.b, e.n);
    CHECK_EQ_INT(O.rc, ST_ELIMIT);
    CHECK_EQ_INT(O.s.points, 0);
    CHECK(strstr(O.err, "more than 1 edge nodes") != NULL);
    CHECK_EQ_INT(spb_state_node_count(st), 1);
    handle(st, "spBv1.0/G/DBIRTH/E/D1", e.b, 0);
    CHECK_EQ_INT(O.rc, 0);
    handle(st, "spBv1.0/G/DBIRTH/E/D2", e.b, 0);
    CHECK_EQ_INT(O.rc, ST_ELIMIT);
    spb_state_destroy(st);
}

TEST(test_alloc_failures)
{
    uint8_t b[256];
    int64_t live = st_alloc_live();
    mdef db[] = { M(.name = "Temp", .alias = 20, .dt = 12, .kind = K_STR, .s = "x", .ts = T0) };
    enc dbe = payload(T0, 1, db, 1);
    for (int64_t n = 0;; n++) {
        spb_state *st = NULL;
        st_arena a;
        st_arena_init(&a, 128);
        sink s;
        memset(&s, 0, sizeof s);
        st_alloc_fail_at(n, 0);
        int rc = spb_state_create(NULL, &st);
        size_t len = unhex(NBIRTH_HEX, b);
        if (rc == 0) rc = spb_handle(st, NULL, st_slice_cstr("spBv1.0/G1/NBIRTH/E1"), b, len, NOW_NS, &a, on_point, &s, NULL, NULL, 0);
        if (rc == 0) rc = spb_handle(st, NULL, st_slice_cstr("spBv1.0/G1/DBIRTH/E1/D"), dbe.b, dbe.n, NOW_NS, &a, on_point, &s, NULL, NULL, 0);
        len = unhex(NDATA_HEX, b);
        if (rc == 0) rc = spb_handle(st, NULL, st_slice_cstr("spBv1.0/G1/NDATA/E1"), b, len, NOW_NS, &a, on_point, &s, NULL, NULL, 0);
        len = unhex(NDEATH_HEX, b);
        if (rc == 0) rc = spb_handle(st, NULL, st_slice_cstr("spBv1.0/G1/NDEATH/E1"), b, len, NOW_NS, &a, on_point, &s, NULL, NULL, 0);
        st_alloc_fail_at(-1, 0);
        spb_state_destroy(st);
        st_arena_fini(&a);
        CHECK_EQ_INT(st_alloc_live(), live);
        if (rc == 0) { CHECK_EQ_INT(s.points, 5 + 2 + 2 + 7); break; }
        CHECK_EQ_INT(rc, ST_ENOMEM);
        if (n > 500) { CHECK(0); break; }
    }
}

int main(void)
{
    RUN(test_reference_vectors);
    RUN(test_stale_ndeath);
    RUN(test_devices);
    RUN(test_data_before_birth);
    RUN(test_datatypes);
    RUN(test_quality_and_historical);
    RUN(test_rule_tags_and_measurement);
    RUN(test_topics);
    RUN(test_malformed);
    RUN(test_limits);
    RUN(test_alloc_failures);
    return unit_done();
}
