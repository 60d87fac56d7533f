/*
 * ingest/sparkplug.c — Sparkplug B: topics, a hand-written protobuf reader
 * for the Payload message, and the per-edge-node state (alias tables,
 * bdSeq, last values for deaths). Behaviour and bounds: sparkplug.h.
 *
 * Why hand-written and not libprotobuf-c: we read a handful of fields of
 * one message, never recurse, and want every byte bounds-checked with our
 * own error messages, arena allocation per message and no new build rule
 * or library; the wire format needed (varint, fixed32/64, length-delimited)
 * is a page of code. ingest/sparkplug_b.proto documents the schema.
 *
 * Memory: decoded payloads live in the caller's arena. The state owns its
 * nodes (st_malloc): per node a metric table, two hash indexes (alias ->
 * metric, device+name -> metric) and a copy of each metric's last string
 * value; all bounded by spb_opts. One thread at a time per state.
 */
#include "ingest/sparkplug.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/hmap.h"
#include "common/point.h"

/* ---- errors ------------------------------------------------------------ */

static void msgf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#define TOPIC_ARG(t) (int)((t).len > 200 ? 200 : (t).len), (t).ptr

/* ---- topics ------------------------------------------------------------ */

static const char *const type_names[] = { "NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA",
                                          "DDEATH", "NCMD", "DCMD", "STATE" };

const char *spb_msg_type_name(spb_msg_type t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "?";
}

int spb_topic_parse(st_slice topic, spb_topic *out)
{
    st_slice lv[6];
    size_t n = 0, i = 0;
    while (i <= topic.len) {
        size_t j = i;
        while (j < topic.len && topic.ptr[j] != '/') j++;
        if (n == 6) return ST_EPARSE;
        lv[n++] = (st_slice){ topic.ptr + i, j - i };
        i = j + 1;
    }
    if (n < 3 || !st_slice_eq_cstr(lv[0], "spBv1.0")) return ST_EPARSE;
    for (size_t k = 0; k < n; k++)
        if (lv[k].len == 0) return ST_EPARSE;
    spb_topic t;
    memset(&t, 0, sizeof t);
    if (st_slice_eq_cstr(lv[1], "STATE")) {
        if (n != 3) return ST_EPARSE;
        t.type = SPB_STATE;
        t.edge = lv[2];
        *out = t;
        return 0;
    }
    if (n < 4) return ST_EPARSE;
    size_t k;
    for (k = 0; k < SPB_STATE; k++)
        if (st_slice_eq_cstr(lv[2], type_names[k])) break;
    if (k == SPB_STATE) return ST_EPARSE;
    t.type = (spb_msg_type)k;
    int dev = t.type == SPB_DBIRTH || t.type == SPB_DDATA || t.type == SPB_DDEATH || t.type == SPB_DCMD;
    if (n != (dev ? 5u : 4u)) return ST_EPARSE;
    t.group = lv[1];
    t.edge = lv[3];
    if (dev) t.device = lv[4];
    *out = t;
    return 0;
}

/* ---- protobuf reader --------------------------------------------------- */

typedef struct pb {
    const uint8_t *p, *end;
} pb;

static int pb_varint(pb *b, uint64_t *v)
{
    uint64_t r = 0;
    for (int i = 0; i < 10; i++) {
        if (b->p >= b->end) return -1;
        uint8_t c = *b->p++;
        if (i == 9 && c > 1) return -1;
        r |= (uint64_t)(c & 0x7F) << (7 * i);
        if (!(c & 0x80)) { *v = r; return 0; }
    }
    return -1;
}

static const char *pb_next(pb *b, uint32_t *field, uint32_t *wt)
{
    uint64_t k;
    if (pb_varint(b, &k)) return "truncated or overlong key";
    if ((k >> 3) == 0 || (k >> 3) > 0x1FFFFFFF) return "bad field number";
    *field = (uint32_t)(k >> 3);
    *wt = (uint32_t)(k & 7);
    return NULL;
}

/* Read a field's payload: varint into *v, fixed into *v (little-endian),
 * length-delimited into *sub. */
static const char *pb_value(pb *b, uint32_t wt, uint64_t *v, pb *sub)
{
    switch (wt) {
    case 0:
        return pb_varint(b, v) ? "truncated or overlong varint" : NULL;
    case 1:
    case 5: {
        size_t n = wt == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < n) return "truncated fixed-width value";
        uint64_t r = 0;
        for (size_t i = 0; i < n; i++) r |= (uint64_t)b->p[i] << (8 * i);
        b->p += n;
        *v = r;
        return NULL;
    }
    case 2: {
        uint64_t n;
        if (pb_varint(b, &n)) return "truncated length";
        if (n > (uint64_t)(b->end - b->p)) return "length beyond the end";
        sub->p = b->p;
        sub->end = b->p + n;
        b->p += n;
        return NULL;
    }
    default:
        return "unsupported wire type";
    }
}

static st_slice pb_slice(pb s) { return (st_slice){ (const char *)s.p, (size_t)(s.end - s.p) }; }

/* The value of property "Quality" in a PropertySet, if any. */
static const char *decode_quality(pb set, spb_metric *m)
{
    uint32_t f, wt;
    uint64_t v;
    pb sub;
    int64_t idx = -1, k = 0;
    pb b = set;
    while (b.p < b.end) {
        const char *e = pb_next(&b, &f, &wt);
        if (!e) e = pb_value(&b, wt, &v, &sub);
        if (e) return e;
        if (f == 1 && wt == 2) {
            if (idx < 0 && st_slice_eq_cstr(pb_slice(sub), "Quality")) idx = k;
            k++;
        }
    }
    if (idx < 0) return NULL;
    b = set;
    k = 0;
    while (b.p < b.end) {
        pb_next(&b, &f, &wt);
        pb_value(&b, wt, &v, &sub);
        if (f != 2 || wt != 2) continue;
        if (k++ != idx) continue;
        /* PropertyValue */
        pb pv = sub;
        while (pv.p < pv.end) {
            pb s2;
            const char *e = pb_next(&pv, &f, &wt);
            if (!e) e = pb_value(&pv, wt, &v, &s2);
            if (e) return e;
            if ((f == 3 || f == 4) && wt == 0) {
                m->has_quality = 1;
                m->quality = f == 3 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
            }
        }
        break;
    }
    return NULL;
}

static const char *decode_metric(pb b, spb_metric *m)
{
    memset(m, 0, sizeof *m);
    while (b.p < b.end) {
        uint32_t f, wt;
        uint64_t v = 0;
        pb sub = { NULL, NULL };
        const char *e = pb_next(&b, &f, &wt);
        if (!e) e = pb_value(&b, wt, &v, &sub);
        if (e) return e;
        int want; /* expected wire type for known fields, -1 unknown */
        switch (f) {
        case 1: case 8: case 9: case 15: case 16: case 17: case 18: case 19: want = 2; break;
        case 2: case 3: case 4: case 5: case 6: case 7: case 10: case 11: case 14: want = 0; break;
        case 12: want = 5; break;
        case 13: want = 1; break;
        default: want = -1; break;
        }
        if (want < 0) continue;
        if ((uint32_t)want != wt) return "known field with the wrong wire type";
        switch (f) {
        case 1: m->name = pb_slice(sub); m->has_name = 1; break;
        case 2: m->alias = v; m->has_alias = 1; break;
        case 3: m->ts_ms = v; m->has_ts = 1; break;
        case 4: m->datatype = (uint32_t)v; m->has_datatype = 1; break;
        case 5: m->is_historical = v != 0; break;
        case 6: m->is_transient = v != 0; break;
        case 7: m->is_null = v != 0; break;
        case 8: break; /* MetaData */
        case 9: if ((e = decode_quality(sub, m))) return e; break;
        case 10: m->kind = SPB_V_INT; m->u = (uint32_t)v; break;
        case 11: m->kind = SPB_V_LONG; m->u = v; break;
        case 12: { uint32_t x = (uint32_t)v; m->kind = SPB_V_FLOAT; memcpy(&m->f, &x, 4); break; }
        case 13: m->kind = SPB_V_DOUBLE; memcpy(&m->d, &v, 8); break;
        case 14: m->kind = SPB_V_BOOL; m->u = v != 0; break;
        case 15: m->kind = SPB_V_STRING; m->s = pb_slice(sub); break;
        case 16: m->kind = SPB_V_BYTES; m->s = pb_slice(sub); break;
        default: m->kind = SPB_V_OTHER; break;
        }
    }
    return NULL;
}

int spb_payload_decode(const uint8_t *p, size_t len, st_arena *a, spb_payload *out, char *err,
                       size_t errlen)
{
    spb_payload r;
    memset(&r, 0, sizeof r);
    pb b = { p, p + len };
    uint32_t f, wt, count = 0;
    uint64_t v;
    pb sub;
    /* pass 1: shape and count */
    while (b.p < b.end) {
        const char *e = pb_next(&b, &f, &wt);
        if (!e) e = pb_value(&b, wt, &v, &sub);
        if (!e && f <= 5 && wt != (f == 2 || f == 4 || f == 5 ? 2u : 0u)) e = "known field with the wrong wire type";
        if (e) {
            msgf(err, errlen, "payload: at byte %zu: %s", (size_t)(b.p - p), e);
            return ST_EPARSE;
        }
        switch (f) {
        case 1: r.ts_ms = v; r.has_ts = 1; break;
        case 2: count++; break;
        case 3: r.seq = v; r.has_seq = 1; break;
        case 4: r.uuid = pb_slice(sub); break;
        case 5: r.body = pb_slice(sub); break;
        default: break;
        }
    }
    if (count > SPB_MAX_METRICS_PER_MESSAGE) {
        msgf(err, errlen, "payload: %u metrics, more than %u", count, SPB_MAX_METRICS_PER_MESSAGE);
        return ST_EPARSE;
    }
    if (count) {
        r.metrics = st_arena_alloc(a, (size_t)count * sizeof *r.metrics);
        if (!r.metrics) { msgf(err, errlen, "out of memory"); return ST_ENOMEM; }
    }
    b = (pb){ p, p + len };
    while (b.p < b.end) {
        pb_next(&b, &f, &wt);
        pb_value(&b, wt, &v, &sub);
        if (f != 2) continue;
        const char *e = decode_metric(sub, &r.metrics[r.metric_count]);
        if (e) {
            msgf(err, errlen, "payload: metric %u: %s", r.metric_count, e);
            return ST_EPARSE;
        }
        r.metric_count++;
    }
    *out = r;
    return 0;
}

uint32_t spb_quality_status(int64_t q)
{
    if (q == 192) return ST_QUALITY_GOOD;
    if (q == 500) return ST_QUALITY_UNCERTAIN;
    if (q == 0) return ST_QUALITY_BAD;
    if (q > 0 && q < 256) {
        if ((q & 0xC0) == 0xC0) return ST_QUALITY_GOOD;
        if ((q & 0xC0) == 0x40) return 0x40000000u;
    }
    if (q > 0 && q < 256) return ST_QUALITY_BAD;
    return 0x40000000u; /* Uncertain */
}

/* ---- rebirth request --------------------------------------------------- */

int spb_rebirth_topic(st_slice topic, char *buf, size_t cap, size_t *len)
{
    spb_topic t;
    if (spb_topic_parse(topic, &t) || t.type == SPB_STATE) return ST_EPARSE;
    int n = snprintf(buf, cap, "spBv1.0/%.*s/NCMD/%.*s", (int)t.group.len, t.group.ptr, (int)t.edge.len,
                     t.edge.ptr);
    if (n < 0 || (size_t)n >= cap) return ST_ETOOLARGE;
    *len = (size_t)n;
    return 0;
}

static size_t put_varint(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) { o[n++] = (uint8_t)(v | 0x80); v >>= 7; }
    o[n++] = (uint8_t)v;
    return n;
}

int spb_rebirth_payload(int64_t now_ms, uint8_t *buf, size_t cap, size_t *len)
{
    static const char name[] = "Node Control/Rebirth";
    if (cap < 64) return ST_ETOOLARGE;
    uint8_t m[48];
    size_t k = 0;
    m[k++] = 0x0a;
    m[k++] = (uint8_t)(sizeof name - 1);
    memcpy(m + k, name, sizeof name - 1);
    k += sizeof name - 1;
    m[k++] = 0x18;
    k += put_varint(m + k, (uint64_t)now_ms);
    m[k++] = 0x20;
    m[k++] = SPB_DT_BOOLEAN;
    m[k++] = 0x70;
    m[k++] = 1;
    size_t n = 0;
    buf[n++] = 0x08;
    n += put_varint(buf + n, (uint64_t)now_ms);
    buf[n++] = 0x12;
    buf[n++] = (uint8_t)k;
    memcpy(buf + n, m, k);
    n += k;
    *len = n;
    return 0;
}

/* ---- state ------------------------------------------------------------- */

typedef struct spb_mst {
    char *name;          /* owned */
    size_t name_len;
    uint64_t alias;
    uint8_t has_alias;
    uint8_t has_last;
    uint32_t datatype;
    uint32_t device;     /* 0 = the node, k = devices[k - 1] */
    st_value last;       /* strings: last.v.s points at last_str */
    char *last_str;      /* owned */
    size_t last_cap;
} spb_mst;

typedef struct spb_dev {
    char *id;            /* owned */
    size_t len;
    uint8_t online;
} spb_dev;

typedef struct spb_node {
    char *group, *edge;  /* owned */
    size_t group_len, edge_len;
    uint8_t born, has_bdseq, has_seq;
    uint8_t seq;
    int64_t bdseq;
    spb_mst *m;          /* owned */
    uint32_t count;      /* at most max_metrics */
    size_t cap;
    st_hmap *by_alias;   /* owned: 8-byte alias -> index */
    st_hmap *by_name;    /* owned: 4-byte device + name -> index */
    spb_dev *dev;        /* owned */
    uint32_t ndev;       /* at most max_devices */
    size_t capdev;
} spb_node;

struct spb_state {
    char *measurement;   /* owned */
    size_t measurement_len;
    uint32_t max_nodes, max_metrics, max_devices;
    spb_node **nodes;    /* owned */
    size_t count, cap;
    st_hmap *index;      /* owned: group NUL edge -> node index */
};

static void mst_fini(spb_mst *m)
{
    st_free(m->name);
    st_free(m->last_str);
}

static void node_clear(spb_node *n)
{
    for (uint32_t i = 0; i < n->count; i++) mst_fini(&n->m[i]);
    n->count = 0;
    st_hmap_destroy(n->by_alias);
    st_hmap_destroy(n->by_name);
    n->by_alias = n->by_name = NULL;
}

static void node_destroy(spb_node *n)
{
    if (!n) return;
    node_clear(n);
    st_free(n->m);
    for (uint32_t i = 0; i < n->ndev; i++) st_free(n->dev[i].id);
    st_free(n->dev);
    st_free(n->group);
    st_free(n->edge);
    st_free(n);
}

int spb_state_create(const spb_opts *opts, spb_state **out)
{
    spb_state *s = st_calloc(1, sizeof *s);
    if (!s) return ST_ENOMEM;
    const char *meas = opts && opts->measurement && *opts->measurement ? opts->measurement : "sparkplug";
    s->measurement_len = strlen(meas);
    s->measurement = st_strndup(meas, s->measurement_len);
    s->max_nodes = opts && opts->max_nodes ? opts->max_nodes : 10000;
    s->max_metrics = opts && opts->max_metrics ? opts->max_metrics : 100000;
    s->max_devices = opts && opts->max_devices ? opts->max_devices : 10000;
    if (!s->measurement || st_hmap_create(0, &s->index)) {
        spb_state_destroy(s);
        return ST_ENOMEM;
    }
    *out = s;
    return 0;
}

void spb_state_destroy(spb_state *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->count; i++) node_destroy(s->nodes[i]);
    st_free(s->nodes);
    st_hmap_destroy(s->index);
    st_free(s->measurement);
    st_free(s);
}

size_t spb_state_node_count(const spb_state *s) { return s ? s->count : 0; }

static size_t node_key(char *buf, size_t cap, st_slice g, st_slice e)
{
    size_t n = g.len + 1 + e.len;
    if (n > cap) return 0;
    memcpy(buf, g.ptr, g.len);
    buf[g.len] = 0;
    memcpy(buf + g.len + 1, e.ptr, e.len);
    return n;
}

static spb_node *node_find(spb_state *s, st_slice g, st_slice e)
{
    char key[1024];
    size_t n = node_key(key, sizeof key, g, e);
    uint64_t idx;
    if (n && st_hmap_get(s->index, key, n, &idx)) return s->nodes[idx];
    if (!n) /* very long ids: linear */
        for (size_t i = 0; i < s->count; i++) {
            spb_node *x = s->nodes[i];
            if (st_slice_eq((st_slice){ x->group, x->group_len }, g) &&
                st_slice_eq((st_slice){ x->edge, x->edge_len }, e))
                return x;
        }
    return NULL;
}

/* ST_ENOMEM, ST_ELIMIT or 0. */
static int node_add(spb_state *s, st_slice g, st_slice e, spb_node **out)
{
    if (s->count >= s->max_nodes) return ST_ELIMIT;
    if (st_grow(&s->nodes, &s->cap, s->count + 1, sizeof *s->nodes, 8)) return ST_ENOMEM;
    spb_node *n = st_calloc(1, sizeof *n);
    if (!n) return ST_ENOMEM;
    n->group = st_strndup(g.ptr, g.len);
    n->edge = st_strndup(e.ptr, e.len);
    n->group_len = g.len;
    n->edge_len = e.len;
    if (!n->group || !n->edge) { node_destroy(n); return ST_ENOMEM; }
    char key[1024];
    size_t kn = node_key(key, sizeof key, g, e);
    if (kn && st_hmap_put(s->index, key, kn, s->count)) { node_destroy(n); return ST_ENOMEM; }
    s->nodes[s->count++] = n;
    *out = n;
    return 0;
}

/* Device index (1-based) or 0 if absent; with create, added. <0 on error. */
static int64_t dev_find(spb_state *s, spb_node *n, st_slice d, int create)
{
    for (uint32_t i = 0; i < n->ndev; i++)
        if (st_slice_eq((st_slice){ n->dev[i].id, n->dev[i].len }, d)) return (int64_t)i + 1;
    if (!create) return 0;
    if (n->ndev >= s->max_devices) return ST_ELIMIT;
    if (st_grow(&n->dev, &n->capdev, (size_t)n->ndev + 1, sizeof *n->dev, 4)) return ST_ENOMEM;
    char *id = st_strndup(d.ptr, d.len);
    if (!id) return ST_ENOMEM;
    n->dev[n->ndev] = (spb_dev){ id, d.len, 0 };
    return (int64_t)++n->ndev;
}

static size_t name_key(char *buf, size_t cap, uint32_t dev, const char *name, size_t len)
{
    if (len + 4 > cap) return 0;
    memcpy(buf, &dev, 4);
    memcpy(buf + 4, name, len);
    return len + 4;
}

/* Rebuild both indexes from the table. */
static int node_reindex(spb_node *n)
{
    st_hmap_destroy(n->by_alias);
    st_hmap_destroy(n->by_name);
    n->by_alias = n->by_name = NULL;
    if (st_hmap_create(n->count, &n->by_alias) || st_hmap_create(n->count, &n->by_name)) return ST_ENOMEM;
    char key[4096];
    for (uint32_t i = 0; i < n->count; i++) {
        spb_mst *m = &n->m[i];
        if (m->has_alias && st_hmap_put(n->by_alias, &m->alias, 8, i)) return ST_ENOMEM;
        size_t kn = name_key(key, sizeof key, m->device, m->name, m->name_len);
        if (kn && st_hmap_put(n->by_name, key, kn, i)) return ST_ENOMEM;
    }
    return 0;
}

static spb_mst *mst_by_alias(spb_node *n, uint64_t alias)
{
    uint64_t i;
    if (n->by_alias && st_hmap_get(n->by_alias, &alias, 8, &i)) return &n->m[i];
    return NULL;
}

static spb_mst *mst_by_name(spb_node *n, uint32_t dev, st_slice name)
{
    char key[4096];
    size_t kn = name_key(key, sizeof key, dev, name.ptr, name.len);
    uint64_t i;
    if (kn && n->by_name) {
        if (st_hmap_get(n->by_name, key, kn, &i)) return &n->m[i];
        return NULL;
    }
    for (uint32_t k = 0; k < n->count; k++)
        if (n->m[k].device == dev && st_slice_eq((st_slice){ n->m[k].name, n->m[k].name_len }, name))
            return &n->m[k];
    return NULL;
}

/* Forget the metrics of one device (or all: dev = UINT32_MAX). */
static void node_forget(spb_node *n, uint32_t dev)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n->count; i++) {
        if (dev == UINT32_MAX || n->m[i].device == dev) { mst_fini(&n->m[i]); continue; }
        n->m[k++] = n->m[i];
    }
    n->count = k;
}

/* ---- values ------------------------------------------------------------ */

/* 1 and *out for a storable value; 0 to skip. */
static int metric_value(const spb_metric *m, uint32_t dt, st_value *out)
{
    memset(out, 0, sizeof *out);
    int intish = m->kind == SPB_V_INT || m->kind == SPB_V_LONG;
    switch (dt) {
    case SPB_DT_INT8: case SPB_DT_INT16: case SPB_DT_INT32: case SPB_DT_INT64:
        if (!intish) return 0;
        out->type = ST_TYPE_INT;
        out->v.i = dt == SPB_DT_INT8 ? (int8_t)(uint8_t)m->u : dt == SPB_DT_INT16 ? (int16_t)(uint16_t)m->u
                 : dt == SPB_DT_INT32 ? (int32_t)(uint32_t)m->u : (int64_t)m->u;
        return 1;
    case SPB_DT_UINT8: case SPB_DT_UINT16: case SPB_DT_UINT32: case SPB_DT_UINT64:
        if (!intish) return 0;
        out->type = ST_TYPE_UINT;
        out->v.u = dt == SPB_DT_UINT8 ? (uint8_t)m->u : dt == SPB_DT_UINT16 ? (uint16_t)m->u
                 : dt == SPB_DT_UINT32 ? (uint32_t)m->u : m->u;
        return 1;
    case SPB_DT_DATETIME:
        if (!intish) return 0;
        out->type = ST_TYPE_INT;
        out->v.i = (int64_t)m->u;
        return 1;
    case SPB_DT_FLOAT: case SPB_DT_DOUBLE:
        if (m->kind == SPB_V_FLOAT) out->v.f = (double)m->f;
        else if (m->kind == SPB_V_DOUBLE) out->v.f = m->d;
        else return 0;
        out->type = ST_TYPE_FLOAT;
        return 1;
    case SPB_DT_BOOLEAN:
        if (m->kind != SPB_V_BOOL) return 0;
        out->type = ST_TYPE_BOOL;
        out->v.b = m->u != 0;
        return 1;
    case SPB_DT_STRING: case SPB_DT_TEXT: case SPB_DT_UUID:
        if (m->kind != SPB_V_STRING) return 0;
        out->type = ST_TYPE_STRING;
        out->v.s = m->s;
        return 1;
    default:
        return 0;
    }
}

static int mst_set_last(spb_mst *t, const st_value *v)
{
    if (v->type == ST_TYPE_STRING) {
        if (v->v.s.len > t->last_cap || !t->last_str) {
            size_t nc = v->v.s.len ? v->v.s.len : 1;
            char *ns = st_realloc(t->last_str, nc);
            if (!ns) return ST_ENOMEM;
            t->last_str = ns;
            t->last_cap = nc;
        }
        if (v->v.s.len) memcpy(t->last_str, v->v.s.ptr, v->v.s.len);
        t->last = *v;
        t->last.v.s = (st_slice){ t->last_str, v->v.s.len };
    } else {
        t->last = *v;
    }
    t->has_last = 1;
    return 0;
}

/* ---- emitting ---------------------------------------------------------- */

typedef struct spb_run {
    spb_state *s;
    const tmap_result *map;
    spb_topic t;
    st_slice topic;
    st_arena *a;
    pl_point_cb cb;
    void *ctx;
    spb_result *res;
    st_slice measurement;
    const lp_tag *node_tags, *dev_tags;
    uint32_t node_tag_count, dev_tag_count;
    int64_t now_ns;
    uint64_t lineno;
} spb_run;

static int tag_cmp(const void *a, const void *b)
{
    return st_slice_cmp(((const lp_tag *)a)->key, ((const lp_tag *)b)->key);
}

/* Sparkplug tags + the rule's (Sparkplug's win), sorted. */
static int build_tags(spb_run *r, st_slice device, const lp_tag **out, uint32_t *count)
{
    uint32_t extra = r->map && r->map->rule >= 0 ? r->map->tag_count : 0;
    lp_tag *t = st_arena_alloc(r->a, (3 + extra) * sizeof *t);
    if (!t) return ST_ENOMEM;
    uint32_t n = 0;
    t[n++] = (lp_tag){ ST_SLICE_LIT("group"), r->t.group };
    t[n++] = (lp_tag){ ST_SLICE_LIT("edge_node"), r->t.edge };
    if (device.len) t[n++] = (lp_tag){ ST_SLICE_LIT("device"), device };
    uint32_t own = n;
    for (uint32_t i = 0; i < extra; i++) {
        int dup = 0;
        for (uint32_t k = 0; k < own; k++) dup |= st_slice_eq(t[k].key, r->map->tags[i].key);
        if (!dup) t[n++] = r->map->tags[i];
    }
    qsort(t, n, sizeof *t, tag_cmp);
    *out = t;
    *count = n;
    return 0;
}

static int emit(spb_run *r, int device, st_slice field, const st_value *v, int64_t ts_ns, int has_ts,
                uint32_t quality, int has_q)
{
    lp_field f = { field, *v };
    lp_line l;
    memset(&l, 0, sizeof l);
    l.measurement = r->measurement;
    l.tags = device ? r->dev_tags : r->node_tags;
    l.tag_count = device ? r->dev_tag_count : r->node_tag_count;
    l.fields = &f;
    l.field_count = 1;
    l.ts_ns = ts_ns;
    l.has_ts = (uint8_t)has_ts;
    l.quality = quality;
    l.has_quality = (uint8_t)has_q;
    l.lineno = ++r->lineno;
    r->res->points++;
    return r->cb(r->ctx, &l);
}

static int ms_to_ns(uint64_t ms, int64_t *ns)
{
    if (ms > (uint64_t)(ST_TIME_MAX_NS / 1000000)) return -1;
    *ns = (int64_t)ms * 1000000;
    return 0;
}

static int emit_online(spb_run *r, int device, int online, int64_t ts_ns, int has_ts)
{
    st_value v;
    memset(&v, 0, sizeof v);
    v.type = ST_TYPE_BOOL;
    v.v.b = online;
    return emit(r, device, ST_SLICE_LIT("online"), &v, ts_ns, has_ts, ST_QUALITY_GOOD, 0);
}

/* Stale last values of the node's metrics of device dev (UINT32_MAX: all). */
static int emit_stale(spb_run *r, spb_node *n, uint32_t dev, int64_t ts_ns)
{
    for (uint32_t i = 0; i < n->count; i++) {
        spb_mst *m = &n->m[i];
        if (!m->has_last || (dev != UINT32_MAX && m->device != dev)) continue;
        if (m->device && m->device <= n->ndev) {
            if (dev == UINT32_MAX) {
                /* NDEATH covering devices: device tags differ per device */
                spb_dev *d = &n->dev[m->device - 1];
                int rc = build_tags(r, (st_slice){ d->id, d->len }, &r->dev_tags, &r->dev_tag_count);
                if (rc) return rc;
            }
            int rc = emit(r, 1, (st_slice){ m->name, m->name_len }, &m->last, ts_ns, 1, ST_QUALITY_UNCERTAIN, 1);
            if (rc) return rc;
        } else {
            int rc = emit(r, 0, (st_slice){ m->name, m->name_len }, &m->last, ts_ns, 1, ST_QUALITY_UNCERTAIN, 1);
            if (rc) return rc;
        }
    }
    return 0;
}

/* Register a BIRTH metric. 0, ST_ENOMEM, or 1 when over the limit. */
static int birth_register(spb_state *s, spb_node *n, uint32_t dev, const spb_metric *m, spb_mst **out)
{
    *out = NULL;
    spb_mst *t = mst_by_name(n, dev, m->name);
    if (!t) {
        if (n->count >= s->max_metrics) return 1;
        if (st_grow(&n->m, &n->cap, (size_t)n->count + 1, sizeof *n->m, 16)) return ST_ENOMEM;
        t = &n->m[n->count];
        memset(t, 0, sizeof *t);
        t->name = st_strndup(m->name.ptr, m->name.len);
        if (!t->name) return ST_ENOMEM;
        t->name_len = m->name.len;
        t->device = dev;
        n->count++;
        /* keep the name index current for duplicates within one birth */
        char key[4096];
        size_t kn = name_key(key, sizeof key, dev, t->name, t->name_len);
        if (n->by_name && kn && st_hmap_put(n->by_name, key, kn, n->count - 1)) return ST_ENOMEM;
    }
    t->datatype = m->datatype;
    t->has_alias = m->has_alias;
    t->alias = m->alias;
    *out = t;
    return 0;
}

static void seq_check(spb_node *n, const spb_payload *p, spb_msg_type type, spb_result *res)
{
    if (!p->has_seq) return;
    uint8_t seq = (uint8_t)p->seq;
    if (type == SPB_NBIRTH) {
        if (p->seq != 0) res->seq_gap = 1;
    } else if (n->has_seq && seq != (uint8_t)(n->seq + 1)) {
        res->seq_gap = 1;
    }
    n->seq = seq;
    n->has_seq = 1;
}

static int handle(spb_run *r, const spb_payload *p, char *err, size_t errlen)
{
    spb_state *s = r->s;
    spb_result *res = r->res;
    spb_topic *t = &r->t;
    int rc;
    int64_t pts_ns = r->now_ns;
    int p_has_ts = p->has_ts && ms_to_ns(p->ts_ms, &pts_ns) == 0;
    if (!p_has_ts) pts_ns = r->now_ns;

    if ((rc = build_tags(r, (st_slice){ NULL, 0 }, &r->node_tags, &r->node_tag_count))) return rc;
    if (t->device.len && (rc = build_tags(r, t->device, &r->dev_tags, &r->dev_tag_count))) return rc;

    spb_node *n = node_find(s, t->group, t->edge);
    int is_dev = t->device.len != 0;

    if (t->type == SPB_NDEATH || t->type == SPB_DDEATH) {
        int64_t when = t->type == SPB_NDEATH ? r->now_ns : pts_ns;
        int when_has = t->type == SPB_NDEATH ? 1 : p_has_ts;
        if (t->type == SPB_NDEATH) {
            if (n && n->has_bdseq) {
                int found = 0;
                int64_t bd = 0;
                for (uint32_t i = 0; i < p->metric_count; i++)
                    if (st_slice_eq_cstr(p->metrics[i].name, "bdSeq") &&
                        (p->metrics[i].kind == SPB_V_LONG || p->metrics[i].kind == SPB_V_INT)) {
                        found = 1;
                        bd = (int64_t)p->metrics[i].u;
                    }
                if (!found || bd != n->bdseq) {
                    res->stale_death = 1;
                    if (found)
                        msgf(err, errlen, "topic %.*s: NDEATH bdSeq %lld does not match the NBIRTH's %lld: "
                             "stale, ignored", TOPIC_ARG(r->topic), (long long)bd, (long long)n->bdseq);
                    else
                        msgf(err, errlen, "topic %.*s: NDEATH without bdSeq (the NBIRTH had %lld): "
                             "stale, ignored", TOPIC_ARG(r->topic), (long long)n->bdseq);
                    return 0;
                }
            }
            if (n && !n->born) return 0; /* already dead (or never born): nothing new */
            if ((rc = emit_online(r, 0, 0, when, when_has))) return rc;
            if (!n) return 0;
            for (uint32_t i = 0; i < n->ndev; i++) {
                if (!n->dev[i].online) continue;
                if ((rc = build_tags(r, (st_slice){ n->dev[i].id, n->dev[i].len }, &r->dev_tags,
                                     &r->dev_tag_count)))
                    return rc;
                if ((rc = emit_online(r, 1, 0, when, when_has))) return rc;
                n->dev[i].online = 0;
            }
            rc = emit_stale(r, n, UINT32_MAX, when);
            n->born = 0;
            n->has_seq = 0;
            return rc;
        }
        /* DDEATH */
        if ((rc = emit_online(r, 1, 0, when, when_has))) return rc;
        if (!n) return 0;
        seq_check(n, p, t->type, res);
        int64_t d = dev_find(s, n, t->device, 0);
        if (d <= 0) return 0;
        n->dev[d - 1].online = 0;
        return emit_stale(r, n, (uint32_t)d, when);
    }

    int birth = t->type == SPB_NBIRTH || t->type == SPB_DBIRTH;
    if (!n && (birth || t->type == SPB_NDATA || t->type == SPB_DDATA)) {
        rc = node_add(s, t->group, t->edge, &n);
        if (rc == ST_ELIMIT) {
            msgf(err, errlen, "topic %.*s: more than %u edge nodes: refused", TOPIC_ARG(r->topic), s->max_nodes);
            return rc;
        }
        if (rc) return rc;
    }
    uint32_t dev = 0;
    if (is_dev) {
        int64_t d = dev_find(s, n, t->device, 1);
        if (d == ST_ELIMIT) {
            msgf(err, errlen, "topic %.*s: more than %u devices on this edge node: refused",
                 TOPIC_ARG(r->topic), s->max_devices);
            return ST_ELIMIT;
        }
        if (d < 0) return (int)d;
        dev = (uint32_t)d;
    }
    seq_check(n, p, t->type, res);

    uint32_t over = 0;
    if (t->type == SPB_NBIRTH) {
        node_forget(n, UINT32_MAX);
        for (uint32_t i = 0; i < n->ndev; i++) n->dev[i].online = 0;
        n->has_bdseq = 0;
        n->born = 1;
        if ((rc = node_reindex(n))) return rc;
    } else if (t->type == SPB_DBIRTH) {
        node_forget(n, dev);
        if ((rc = node_reindex(n))) return rc;
        n->dev[dev - 1].online = 1;
        if (!n->born) res->rebirth_needed = 1;
    } else if (!n->born) {
        res->rebirth_needed = 1;
    }

    if (birth && (rc = emit_online(r, is_dev, 1, pts_ns, p_has_ts))) return rc;

    uint64_t first_unknown = 0;
    int have_unknown = 0;
    for (uint32_t i = 0; i < p->metric_count; i++) {
        const spb_metric *m = &p->metrics[i];
        spb_mst *tm = NULL;
        uint32_t dt = m->has_datatype ? m->datatype : 0;
        if (birth) {
            if (!m->has_name || !m->has_datatype) { res->skipped++; continue; }
            if (t->type == SPB_NBIRTH && st_slice_eq_cstr(m->name, "bdSeq") &&
                (m->kind == SPB_V_LONG || m->kind == SPB_V_INT)) {
                n->has_bdseq = 1;
                n->bdseq = (int64_t)m->u;
            }
            rc = birth_register(s, n, dev, m, &tm);
            if (rc < 0) return rc;
            if (rc == 1) over++;
        } else {
            if (m->has_alias) {
                tm = mst_by_alias(n, m->alias);
                if (tm && tm->device != dev) tm = NULL;
            } else if (m->has_name) {
                tm = mst_by_name(n, dev, m->name);
            }
            if (tm && !m->has_datatype) dt = tm->datatype;
            if (!tm && !(m->has_name && m->has_datatype)) {
                res->unknown++;
                res->rebirth_needed = 1;
                if (!have_unknown) { first_unknown = m->has_alias ? m->alias : UINT64_MAX; have_unknown = 1; }
                continue;
            }
        }
        if (m->is_transient || m->is_null) { res->skipped++; continue; }
        st_value v;
        if (!metric_value(m, dt, &v)) { res->skipped++; continue; }
        int64_t ts = pts_ns;
        int has_ts = p_has_ts;
        if (m->has_ts) {
            if (ms_to_ns(m->ts_ms, &ts)) { res->skipped++; continue; }
            has_ts = 1;
        }
        st_slice field = tm ? (st_slice){ tm->name, tm->name_len } : m->name;
        if (field.len == 0) { res->skipped++; continue; }
        uint32_t q = m->has_quality ? spb_quality_status(m->quality) : ST_QUALITY_GOOD;
        if (tm && !m->is_historical && (rc = mst_set_last(tm, &v))) return rc;
        if ((rc = emit(r, is_dev, field, &v, ts, has_ts, q, m->has_quality))) return rc;
    }
    if (birth && (rc = node_reindex(n))) return rc;

    if (over) {
        msgf(err, errlen, "topic %.*s: more than %u metrics on this edge node: %u not registered",
             TOPIC_ARG(r->topic), s->max_metrics, over);
        return ST_ELIMIT;
    }
    if (res->rebirth_needed && !birth) {
        char ncmd[512];
        size_t nl;
        if (spb_rebirth_topic(r->topic, ncmd, sizeof ncmd, &nl)) snprintf(ncmd, sizeof ncmd, "?");
        if (!n->born)
            msgf(err, errlen, "topic %.*s: %s before NBIRTH: rebirth needed (publish NCMD "
                 "\"Node Control/Rebirth\"=true on %s)", TOPIC_ARG(r->topic), spb_msg_type_name(t->type), ncmd);
        else if (first_unknown != UINT64_MAX)
            msgf(err, errlen, "topic %.*s: alias %llu unknown (%u unresolved metrics): rebirth needed "
                 "(publish NCMD \"Node Control/Rebirth\"=true on %s)", TOPIC_ARG(r->topic),
                 (unsigned long long)first_unknown, res->unknown, ncmd);
        else
            msgf(err, errlen, "topic %.*s: metric without alias or datatype unknown (%u unresolved "
                 "metrics): rebirth needed (publish NCMD \"Node Control/Rebirth\"=true on %s)",
                 TOPIC_ARG(r->topic), res->unknown, ncmd);
        return ST_ENOTFOUND;
    }
    return 0;
}

int spb_handle(spb_state *s, const tmap_result *map, st_slice topic, const uint8_t *payload,
               size_t len, int64_t now_ns, st_arena *a, pl_point_cb cb, void *ctx, spb_result *res,
               char *err, size_t errlen)
{
    spb_result dummy;
    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    if (err && errlen) err[0] = 0;
    spb_run r;
    memset(&r, 0, sizeof r);
    if (spb_topic_parse(topic, &r.t)) {
        msgf(err, errlen, "topic %.*s: not a Sparkplug B topic "
             "(spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|DDEATH|NCMD|DCMD>/<edge>[/<device>])",
             TOPIC_ARG(topic));
        return ST_EPARSE;
    }
    res->type = r.t.type;
    if (r.t.type == SPB_NCMD || r.t.type == SPB_DCMD || r.t.type == SPB_STATE) return 0;
    spb_payload p;
    char perr[256];
    int rc = spb_payload_decode(payload, len, a, &p, perr, sizeof perr);
    if (rc) {
        msgf(err, errlen, "topic %.*s: sparkplug %s", TOPIC_ARG(topic), perr);
        return rc;
    }
    r.s = s;
    r.map = map;
    r.topic = topic;
    r.a = a;
    r.cb = cb;
    r.ctx = ctx;
    r.res = res;
    r.now_ns = now_ns;
    r.measurement = map && map->rule >= 0 && map->measurement_set ? map->measurement
                  : (st_slice){ s->measurement, s->measurement_len };
    rc = handle(&r, &p, err, errlen);
    if (rc == ST_ENOMEM) msgf(err, errlen, "out of memory");
    return rc;
}
