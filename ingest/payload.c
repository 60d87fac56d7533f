/*
 * ingest/payload.c — MQTT payload decoders: line protocol (through lp.c),
 * JSON (a small DOM parser into the caller's arena) and plain values. The
 * shapes and number rules are documented in payload.h.
 *
 * JSON and plain messages are all-or-nothing: points are collected in the
 * arena and delivered only when the whole message decoded. Memory is the
 * arena's, bounded by a small multiple of the payload size; recursion is
 * bounded by PL_JSON_MAX_DEPTH. Pure functions; any thread.
 */
#include "ingest/payload.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/num.h"
#include "common/point.h"
#include "common/timefmt.h"
#include "ingest/sparkplug.h"

/* ---- errors ------------------------------------------------------------ */

static int pl_fail(char *err, size_t errlen, st_slice topic, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int pl_fail(char *err, size_t errlen, st_slice topic, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "topic %.*s%s: ", (int)(topic.len > 200 ? 200 : topic.len),
                         topic.ptr ? topic.ptr : "", topic.len > 200 ? "..." : "");
        if (n > 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return ST_EPARSE;
}

/* ---- JSON DOM ---------------------------------------------------------- */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    uint8_t type;
    uint8_t is_int;     /* J_NUM written without '.' or exponent */
    int b;
    double num;
    st_slice text;      /* J_NUM: the token; J_STR: decoded string */
    st_slice key;       /* member of an object: its decoded key */
    struct jv *child;   /* J_ARR / J_OBJ: first element */
    struct jv *next;
    uint32_t count;
} jv;

typedef struct jparse {
    const char *s, *p, *end;
    st_arena *a;
    const char *msg; /* static reason */
    size_t at;       /* byte offset of the error */
    int nomem;
} jparse;

static int jerr(jparse *j, const char *msg)
{
    if (!j->msg) { j->msg = msg; j->at = (size_t)(j->p - j->s); }
    return -1;
}

static void jws(jparse *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote. */
static int jstring(jparse *j, st_slice *out)
{
    j->p++;
    const char *start = j->p;
    int escaped = 0;
    const char *q = j->p;
    while (q < j->end && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20) { j->p = q; return jerr(j, "control character in string"); }
        if (c == '\\') { escaped = 1; q += 2; continue; }
        q++;
    }
    if (q >= j->end) { j->p = j->end; return jerr(j, "unterminated string"); }
    if (!escaped) { *out = (st_slice){ start, (size_t)(q - start) }; j->p = q + 1; return 0; }
    char *o = st_arena_alloc_bytes(j->a, (size_t)(q - start) + 1);
    if (!o) { j->nomem = 1; return jerr(j, "out of memory"); }
    size_t n = 0;
    const char *p = start;
    while (p < q) {
        if (*p != '\\') { o[n++] = *p++; continue; }
        j->p = p;
        p++;
        char e = *p++;
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p, q, &cp)) return jerr(j, "bad \\u escape");
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return jerr(j, "lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (q - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, q, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return jerr(j, "high surrogate not followed by a low surrogate");
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += utf8_put(o + n, cp);
            break;
        }
        default: return jerr(j, "bad escape in string");
        }
    }
    *out = (st_slice){ o, n };
    j->p = q + 1;
    return 0;
}

static int is_word_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int jnumber(jparse *j, jv *v)
{
    const char *q = j->p;
    if (q < j->end && (*q == '-' || *q == '+')) q++;
    if (q < j->end && is_word_byte(*q)) {
        /* NaN / Infinity / inf, optionally signed */
        const char *w = q;
        while (q < j->end && is_word_byte(*q)) q++;
        double d;
        if (st_parse_double(j->p, (size_t)(q - j->p), ST_NUM_ALLOW_SPECIAL | ST_NUM_ALLOW_PLUS, &d))
            return jerr(j, "unknown literal");
        (void)w;
        v->type = J_NUM;
        v->num = d;
        v->text = (st_slice){ j->p, (size_t)(q - j->p) };
        j->p = q;
        return 0;
    }
    if (*j->p == '+') return jerr(j, "'+' before a number");
    if (q >= j->end || *q < '0' || *q > '9') return jerr(j, "bad number");
    int is_int = 1;
    if (*q == '0') q++;
    else while (q < j->end && *q >= '0' && *q <= '9') q++;
    if (q < j->end && *q == '.') {
        is_int = 0;
        q++;
        if (q >= j->end || *q < '0' || *q > '9') { j->p = q; return jerr(j, "digit expected after '.'"); }
        while (q < j->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < j->end && (*q == 'e' || *q == 'E')) {
        is_int = 0;
        q++;
        if (q < j->end && (*q == '+' || *q == '-')) q++;
        if (q >= j->end || *q < '0' || *q > '9') { j->p = q; return jerr(j, "digit expected in exponent"); }
        while (q < j->end && *q >= '0' && *q <= '9') q++;
    }
    double d;
    int rc = st_parse_double(j->p, (size_t)(q - j->p), 0, &d);
    if (rc == ST_ERANGE) return jerr(j, "number out of range");
    if (rc) return jerr(j, "bad number");
    v->type = J_NUM;
    v->is_int = (uint8_t)is_int;
    v->num = d;
    v->text = (st_slice){ j->p, (size_t)(q - j->p) };
    j->p = q;
    return 0;
}

static int jvalue(jparse *j, jv *v, int depth);

static int jcontainer(jparse *j, jv *v, int depth)
{
    int obj = *j->p == '{';
    char close = obj ? '}' : ']';
    if (depth >= PL_JSON_MAX_DEPTH) return jerr(j, "nesting too deep");
    v->type = obj ? J_OBJ : J_ARR;
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == close) { j->p++; return 0; }
    jv **tail = &v->child;
    for (;;) {
        jv *c = st_arena_alloc(j->a, sizeof *c);
        if (!c) { j->nomem = 1; return jerr(j, "out of memory"); }
        memset(c, 0, sizeof *c);
        jws(j);
        if (obj) {
            if (j->p >= j->end || *j->p != '"') return jerr(j, "object key expected");
            if (jstring(j, &c->key)) return -1;
            jws(j);
            if (j->p >= j->end || *j->p != ':') return jerr(j, "expected ':' after object key");
            j->p++;
        }
        if (jvalue(j, c, depth + 1)) return -1;
        *tail = c;
        tail = &c->next;
        v->count++;
        jws(j);
        if (j->p >= j->end) return jerr(j, obj ? "unterminated object" : "unterminated array");
        if (*j->p == ',') { j->p++; continue; }
        if (*j->p == close) { j->p++; return 0; }
        return jerr(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jlit(jparse *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0) return 0;
    if ((size_t)(j->end - j->p) > n && is_word_byte(j->p[n])) return 0;
    j->p += n;
    return 1;
}

static int jvalue(jparse *j, jv *v, int depth)
{
    jws(j);
    if (j->p >= j->end) return jerr(j, "value expected");
    char c = *j->p;
    if (c == '{' || c == '[') return jcontainer(j, v, depth);
    if (c == '"') { v->type = J_STR; return jstring(j, &v->text); }
    if (jlit(j, "true")) { v->type = J_BOOL; v->b = 1; return 0; }
    if (jlit(j, "false")) { v->type = J_BOOL; v->b = 0; return 0; }
    if (jlit(j, "null")) { v->type = J_NULL; return 0; }
    return jnumber(j, v);
}

/* ---- point collection -------------------------------------------------- */

typedef struct pl_ctx {
    const tmap_result *map;
    const pl_opts *o;
    st_arena *a;
    st_slice topic;
    st_slice qkey;
    char *err;
    size_t errlen;
    pl_stats *st;
    /* the point being built */
    lp_field *f;
    uint32_t nf, capf;
    int64_t ts_ns;
    int has_ts;
    uint32_t quality;
    int has_q;
    /* finished points */
    lp_line *lines;
    size_t nl, capl;
    /* bytes of flattened keys still allowed: a long key over a long array
     * would otherwise cost key length x elements */
    size_t key_budget;
    size_t payload_len;
} pl_ctx;

#define PL_KEY_BUDGET(len) (4 * (len) + 65536)

static int enomem(pl_ctx *c)
{
    if (c->err && c->errlen) snprintf(c->err, c->errlen, "out of memory");
    return ST_ENOMEM;
}

static void pt_begin(pl_ctx *c)
{
    c->f = NULL;
    c->nf = c->capf = 0;
    c->ts_ns = c->o->now_ns;
    c->has_ts = 0;
    c->quality = ST_QUALITY_GOOD;
    c->has_q = 0;
}

static int pt_field(pl_ctx *c, st_slice key, st_value v)
{
    if (c->nf == c->capf) {
        uint32_t nc = c->capf ? c->capf * 2 : 8;
        lp_field *nf = st_arena_alloc(c->a, nc * sizeof *nf);
        if (!nf) return enomem(c);
        if (c->nf) memcpy(nf, c->f, c->nf * sizeof *nf);
        c->f = nf;
        c->capf = nc;
    }
    c->f[c->nf].key = key;
    c->f[c->nf].value = v;
    c->nf++;
    return 0;
}

typedef struct fidx { st_slice key; uint32_t i; } fidx;

static int fidx_cmp(const void *a, const void *b)
{
    const fidx *x = a, *y = b;
    int r = st_slice_cmp(x->key, y->key);
    if (r) return r;
    return (x->i > y->i) - (x->i < y->i);
}

/* Duplicate keys: the last one wins (as line protocol); order kept. */
static int pt_dedup(pl_ctx *c)
{
    if (c->nf < 2) return 0;
    fidx *ix = st_arena_alloc(c->a, c->nf * sizeof *ix);
    uint8_t *drop = st_arena_alloc(c->a, c->nf);
    if (!ix || !drop) return enomem(c);
    for (uint32_t i = 0; i < c->nf; i++) ix[i] = (fidx){ c->f[i].key, i };
    qsort(ix, c->nf, sizeof *ix, fidx_cmp);
    memset(drop, 0, c->nf);
    int any = 0;
    for (uint32_t i = 0; i + 1 < c->nf; i++)
        if (st_slice_eq(ix[i].key, ix[i + 1].key)) { drop[ix[i].i] = 1; any = 1; }
    if (!any) return 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->nf; i++)
        if (!drop[i]) c->f[n++] = c->f[i];
    c->nf = n;
    return 0;
}

static int pt_end(pl_ctx *c, st_slice measurement)
{
    int rc = pt_dedup(c);
    if (rc) return rc;
    if (c->nf == 0) { c->st->skipped++; return 0; }
    if (c->nl == c->capl) {
        size_t nc = c->capl ? c->capl * 2 : 8;
        lp_line *nl = st_arena_alloc(c->a, nc * sizeof *nl);
        if (!nl) return enomem(c);
        if (c->nl) memcpy(nl, c->lines, c->nl * sizeof *nl);
        c->lines = nl;
        c->capl = nc;
    }
    lp_line *l = &c->lines[c->nl++];
    memset(l, 0, sizeof *l);
    l->measurement = measurement;
    l->tags = c->map->tags;
    l->tag_count = c->map->tag_count;
    l->fields = c->f;
    l->field_count = c->nf;
    l->ts_ns = c->ts_ns;
    l->has_ts = (uint8_t)c->has_ts;
    l->quality = c->quality;
    l->has_quality = (uint8_t)c->has_q;
    l->lineno = c->nl;
    return 0;
}

/* ---- JSON shapes ------------------------------------------------------- */

static int is_time_key(st_slice k)
{
    return st_slice_eq_cstr(k, "ts") || st_slice_eq_cstr(k, "timestamp") || st_slice_eq_cstr(k, "time");
}

/* Epoch by magnitude: s, ms, us or ns. */
static int scale_int(int64_t t, int64_t *ns)
{
    uint64_t m = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
    int64_t mul = m < 100000000000ULL ? 1000000000 : m < 100000000000000ULL ? 1000000
                : m < 100000000000000000ULL ? 1000 : 1;
    int64_t r;
    if (__builtin_mul_overflow(t, mul, &r) || r < ST_TIME_MIN_NS || r > ST_TIME_MAX_NS) return ST_ERANGE;
    *ns = r;
    return 0;
}

static int scale_double(double d, int64_t *ns)
{
    if (!isfinite(d)) return ST_ERANGE;
    double m = fabs(d);
    double mul = m < 1e11 ? 1e9 : m < 1e14 ? 1e6 : m < 1e17 ? 1e3 : 1;
    double r = nearbyint(d * mul);
    if (!(r >= -9.2e18 && r <= 9.2e18)) return ST_ERANGE;
    *ns = (int64_t)r;
    return 0;
}

static int json_time(pl_ctx *c, const jv *v, int64_t *ns)
{
    int64_t t;
    int rc;
    if (v->type == J_NUM) {
        if (v->is_int && st_parse_int64(v->text.ptr, v->text.len, &t) == 0) rc = scale_int(t, ns);
        else rc = scale_double(v->num, ns);
        if (rc) return pl_fail(c->err, c->errlen, c->topic, "json: timestamp %.*s out of range",
                               (int)(v->text.len > 40 ? 40 : v->text.len), v->text.ptr);
        return 0;
    }
    if (v->type == J_STR) {
        if (st_parse_int64(v->text.ptr, v->text.len, &t) == 0) {
            if (scale_int(t, ns) == 0) return 0;
        } else if (st_time_parse_rfc3339(v->text.ptr, v->text.len, ns) == 0) {
            return 0;
        }
        return pl_fail(c->err, c->errlen, c->topic, "json: bad timestamp \"%.*s\"",
                       (int)(v->text.len > 64 ? 64 : v->text.len), v->text.ptr);
    }
    return pl_fail(c->err, c->errlen, c->topic, "json: timestamp must be a number or a string");
}

/* Quality from a JSON value: 1 when it is an integer StatusCode. */
static int json_quality(const jv *v, uint32_t *q)
{
    if (v->type != J_NUM || !(v->num >= 0 && v->num < 4294967296.0) || v->num != floor(v->num)) return 0;
    *q = (uint32_t)v->num;
    return 1;
}

static int scalar_value(const jv *v, st_value *out)
{
    memset(out, 0, sizeof *out);
    switch (v->type) {
    case J_NUM: out->type = ST_TYPE_FLOAT; out->v.f = v->num; return 1;
    case J_BOOL: out->type = ST_TYPE_BOOL; out->v.b = v->b; return 1;
    case J_STR: out->type = ST_TYPE_STRING; out->v.s = v->text; return 1;
    default: return 0;
    }
}

static st_slice join_key(pl_ctx *c, st_slice prefix, st_slice key, int *nomem)
{
    if (prefix.len == 0) return key;
    size_t need = prefix.len + 1 + key.len;
    if (need > c->key_budget) { *nomem = 2; return key; }
    c->key_budget -= need;
    char *k = st_arena_alloc_bytes(c->a, prefix.len + 1 + key.len);
    if (!k) { *nomem = 1; return key; }
    memcpy(k, prefix.ptr, prefix.len);
    k[prefix.len] = '.';
    if (key.len) memcpy(k + prefix.len + 1, key.ptr, key.len);
    return (st_slice){ k, prefix.len + 1 + key.len };
}

/* A value under key (already joined with its prefix): scalars become
 * fields, objects and arrays are flattened. */
static int flatten(pl_ctx *c, st_slice key, const jv *v)
{
    st_value sv;
    if (v->type == J_NULL) { c->st->skipped++; return 0; }
    if (scalar_value(v, &sv)) {
        if (key.len == 0) return pl_fail(c->err, c->errlen, c->topic, "json: empty field key");
        return pt_field(c, key, sv);
    }
    uint32_t i = 0;
    for (const jv *m = v->child; m; m = m->next, i++) {
        int nomem = 0;
        st_slice k;
        if (v->type == J_OBJ) {
            k = join_key(c, key, m->key, &nomem);
        } else {
            char num[16];
            int n = snprintf(num, sizeof num, "%u", i);
            char *d = st_arena_strndup(c->a, num, (size_t)n);
            if (!d) return enomem(c);
            k = join_key(c, key, (st_slice){ d, (size_t)n }, &nomem);
        }
        if (nomem == 2)
            return pl_fail(c->err, c->errlen, c->topic, "json: flattened field keys too long (more than %zu bytes)",
                           PL_KEY_BUDGET(c->payload_len));
        if (nomem) return enomem(c);
        int rc = flatten(c, k, m);
        if (rc) return rc;
    }
    return 0;
}

static const jv *member(const jv *o, const char *name)
{
    const jv *found = NULL;
    for (const jv *m = o->child; m; m = m->next)
        if (st_slice_eq_cstr(m->key, name)) found = m; /* last one wins */
    return found;
}

static int iotdb_type(pl_ctx *c, const jv *dt, uint32_t k, const jv *val, st_value *out)
{
    const jv *t = NULL;
    if (dt) {
        t = dt->child;
        for (uint32_t i = 0; t && i < k; i++) t = t->next;
    }
    memset(out, 0, sizeof *out);
    if (val->type == J_NULL) return 1;
    if (!t) {
        if (!scalar_value(val, out)) goto bad;
        return 0;
    }
    if (t->type != J_STR) goto bad;
    st_slice ts = t->text;
    st_slice txt = val->type == J_STR || val->type == J_NUM ? val->text : (st_slice){ NULL, 0 };
    if (st_slice_eq_cstr(ts, "DOUBLE") || st_slice_eq_cstr(ts, "FLOAT")) {
        out->type = ST_TYPE_FLOAT;
        if (val->type == J_NUM) { out->v.f = val->num; return 0; }
        if (val->type == J_STR &&
            st_parse_double(txt.ptr, txt.len, ST_NUM_ALLOW_SPECIAL | ST_NUM_ALLOW_PLUS, &out->v.f) == 0)
            return 0;
        goto bad;
    }
    if (st_slice_eq_cstr(ts, "INT32") || st_slice_eq_cstr(ts, "INT64")) {
        out->type = ST_TYPE_INT;
        if ((val->type == J_NUM || val->type == J_STR) && st_parse_int64(txt.ptr, txt.len, &out->v.i) == 0) {
            if (st_slice_eq_cstr(ts, "INT32") && (out->v.i < INT32_MIN || out->v.i > INT32_MAX)) goto bad;
            return 0;
        }
        goto bad;
    }
    if (st_slice_eq_cstr(ts, "BOOLEAN")) {
        out->type = ST_TYPE_BOOL;
        if (val->type == J_BOOL) { out->v.b = val->b; return 0; }
        if (val->type == J_STR && (st_slice_eq_cstr(txt, "true") || st_slice_eq_cstr(txt, "false"))) {
            out->v.b = txt.len == 4;
            return 0;
        }
        goto bad;
    }
    if (st_slice_eq_cstr(ts, "TEXT") || st_slice_eq_cstr(ts, "STRING")) {
        out->type = ST_TYPE_STRING;
        if (val->type == J_STR || val->type == J_NUM) { out->v.s = txt; return 0; }
        if (val->type == J_BOOL) { out->v.s = val->b ? ST_SLICE_LIT("true") : ST_SLICE_LIT("false"); return 0; }
        goto bad;
    }
    return pl_fail(c->err, c->errlen, c->topic, "json: iotdb datatype \"%.*s\" not supported",
                   (int)(ts.len > 32 ? 32 : ts.len), ts.ptr);
bad:
    return pl_fail(c->err, c->errlen, c->topic, "json: iotdb value %u does not fit its datatype", k);
}

/* One row: measurements[k] = row[k]. */
static int iotdb_row(pl_ctx *c, st_slice device, const jv *meas, const jv *dt, const jv *row)
{
    if (row->type != J_ARR || row->count != meas->count)
        return pl_fail(c->err, c->errlen, c->topic,
                       "json: iotdb \"values\" must be an array as long as \"measurements\"");
    const jv *m = meas->child, *v = row->child;
    for (uint32_t k = 0; m && v; k++, m = m->next, v = v->next) {
        if (m->type != J_STR || m->text.len == 0)
            return pl_fail(c->err, c->errlen, c->topic, "json: iotdb measurement names must be non-empty strings");
        st_value sv;
        int r = iotdb_type(c, dt, k, v, &sv);
        if (r < 0) return r;
        if (r == 1) { c->st->skipped++; continue; }
        r = pt_field(c, m->text, sv);
        if (r) return r;
    }
    return pt_end(c, device);
}

static int json_iotdb(pl_ctx *c, const jv *o)
{
    const jv *dev = member(o, "device"), *meas = member(o, "measurements"), *vals = member(o, "values");
    const jv *dt = member(o, "datatypes"), *ts1 = member(o, "timestamp"), *tsn = member(o, "timestamps");
    if (dev->type != J_STR || dev->text.len == 0)
        return pl_fail(c->err, c->errlen, c->topic, "json: iotdb \"device\" must be a non-empty string");
    if (!meas || meas->type != J_ARR || !vals || vals->type != J_ARR)
        return pl_fail(c->err, c->errlen, c->topic, "json: iotdb object needs \"measurements\" and \"values\" arrays");
    if (dt && (dt->type != J_ARR || dt->count != meas->count))
        return pl_fail(c->err, c->errlen, c->topic, "json: iotdb \"datatypes\" must be as long as \"measurements\"");
    int rc;
    if (tsn) {
        if (tsn->type != J_ARR || tsn->count != vals->count)
            return pl_fail(c->err, c->errlen, c->topic, "json: iotdb \"timestamps\" and \"values\" differ in length");
        const jv *t = tsn->child, *row = vals->child;
        for (; t && row; t = t->next, row = row->next) {
            pt_begin(c);
            if ((rc = json_time(c, t, &c->ts_ns))) return rc;
            c->has_ts = 1;
            if ((rc = iotdb_row(c, dev->text, meas, dt, row))) return rc;
        }
        return 0;
    }
    pt_begin(c);
    if (ts1) {
        if ((rc = json_time(c, ts1, &c->ts_ns))) return rc;
        c->has_ts = 1;
    }
    return iotdb_row(c, dev->text, meas, dt, vals);
}

static int json_object(pl_ctx *c, const jv *o)
{
    if (member(o, "device") && member(o, "measurements")) return json_iotdb(c, o);
    const jv *val = member(o, "value");
    pt_begin(c);
    int rc;
    for (const jv *m = o->child; m; m = m->next) {
        if (is_time_key(m->key) && m->type != J_OBJ && m->type != J_ARR) {
            if (m->type == J_NULL) continue;
            if ((rc = json_time(c, m, &c->ts_ns))) return rc;
            c->has_ts = 1;
            continue;
        }
        if (st_slice_eq(m->key, c->qkey) && json_quality(m, &c->quality)) {
            c->has_q = 1;
            continue;
        }
        if (m == val) {
            st_value sv;
            if (m->type == J_NULL) { c->st->skipped++; continue; }
            if (!scalar_value(m, &sv))
                return pl_fail(c->err, c->errlen, c->topic, "json: \"value\" must be a number, boolean or string");
            if ((rc = pt_field(c, c->map->field, sv))) return rc;
            continue;
        }
        if (val && st_slice_eq_cstr(m->key, "value")) continue; /* an earlier duplicate */
        if ((rc = flatten(c, m->key, m))) return rc;
    }
    return pt_end(c, c->map->measurement);
}

static int json_top(pl_ctx *c, const jv *v)
{
    st_value sv;
    if (v->type == J_OBJ) return json_object(c, v);
    if (v->type == J_ARR) {
        for (const jv *e = v->child; e; e = e->next) {
            if (e->type != J_OBJ)
                return pl_fail(c->err, c->errlen, c->topic, "json: array elements must be objects");
            int rc = json_object(c, e);
            if (rc) return rc;
        }
        return 0;
    }
    if (v->type == J_NULL) return pl_fail(c->err, c->errlen, c->topic, "json: payload is null");
    pt_begin(c);
    if (!scalar_value(v, &sv)) return pl_fail(c->err, c->errlen, c->topic, "json: unexpected value");
    int rc = pt_field(c, c->map->field, sv);
    return rc ? rc : pt_end(c, c->map->measurement);
}

static int decode_json(pl_ctx *c, const char *s, size_t n)
{
    jparse j = { s, s, s + n, c->a, NULL, 0, 0 };
    jv root;
    memset(&root, 0, sizeof root);
    if (jvalue(&j, &root, 0) == 0) {
        jws(&j);
        if (j.p != j.end) jerr(&j, "text after the JSON value");
    }
    if (j.nomem) return enomem(c);
    if (j.msg) return pl_fail(c->err, c->errlen, c->topic, "json: at byte %zu: %s", j.at, j.msg);
    return json_top(c, &root);
}

/* ---- plain ------------------------------------------------------------- */

static void trim(const char **s, size_t *n)
{
    const char *p = *s, *e = *s + *n;
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) e--;
    *s = p;
    *n = (size_t)(e - p);
}

static int ieq(const char *s, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (n != k) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        if (ch != w[i]) return 0;
    }
    return 1;
}

/* 1 and *out for a number or boolean; 0 otherwise; ST_ERANGE. */
static int plain_value(const char *s, size_t n, st_value *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) return 0;
    if (ieq(s, n, "true") || ieq(s, n, "t")) { out->type = ST_TYPE_BOOL; out->v.b = 1; return 1; }
    if (ieq(s, n, "false") || ieq(s, n, "f")) { out->type = ST_TYPE_BOOL; out->v.b = 0; return 1; }
    int rc;
    if (n > 1 && s[n - 1] == 'i') {
        rc = st_parse_int64(s, n - 1, &out->v.i);
        if (rc == 0) { out->type = ST_TYPE_INT; return 1; }
        return rc == ST_ERANGE ? ST_ERANGE : 0;
    }
    if (n > 1 && s[n - 1] == 'u') {
        rc = st_parse_uint64(s, n - 1, &out->v.u);
        if (rc == 0) { out->type = ST_TYPE_UINT; return 1; }
        return rc == ST_ERANGE ? ST_ERANGE : 0;
    }
    rc = st_parse_double(s, n, ST_NUM_ALLOW_SPECIAL | ST_NUM_ALLOW_PLUS, &out->v.f);
    if (rc == 0) { out->type = ST_TYPE_FLOAT; return 1; }
    return rc == ST_ERANGE ? ST_ERANGE : 0;
}

static int decode_plain(pl_ctx *c, const char *s, size_t n)
{
    trim(&s, &n);
    if (n == 0) return pl_fail(c->err, c->errlen, c->topic, "plain: empty payload");
    st_value v;
    int r = plain_value(s, n, &v);
    if (r == ST_ERANGE)
        return pl_fail(c->err, c->errlen, c->topic, "plain: number out of range: %.*s",
                       (int)(n > 64 ? 64 : n), s);
    if (r == 0) {
        v.type = ST_TYPE_STRING;
        v.v.s = (st_slice){ s, n };
    }
    pt_begin(c);
    int rc = pt_field(c, c->map->field, v);
    return rc ? rc : pt_end(c, c->map->measurement);
}

/* ---- line protocol ----------------------------------------------------- */

typedef struct lp_fwd {
    pl_ctx *c;
    pl_point_cb cb;
    void *ctx;
    int add_tags;
} lp_fwd;

static int lp_on_line(void *ctx, const lp_line *line)
{
    lp_fwd *f = ctx;
    pl_ctx *c = f->c;
    const tmap_result *m = c->map;
    lp_line l = *line;
    l.key = (st_slice){ NULL, 0 }; /* the topic's tags may join the line's: the key no longer names it */
    if (f->add_tags && m->tag_count) {
        lp_tag *t = st_arena_alloc(c->a, (line->tag_count + m->tag_count) * sizeof *t);
        if (!t) return enomem(c);
        uint32_t i = 0, k = 0, n = 0;
        while (i < line->tag_count || k < m->tag_count) {
            int cmp = i == line->tag_count ? 1 : k == m->tag_count ? -1
                    : st_slice_cmp(line->tags[i].key, m->tags[k].key);
            if (cmp < 0) t[n++] = line->tags[i++];
            else if (cmp > 0) t[n++] = m->tags[k++];
            else { t[n++] = line->tags[i++]; k++; } /* the line's own tag wins */
        }
        l.tags = t;
        l.tag_count = n;
    }
    c->st->points++;
    return f->cb(f->ctx, &l);
}

static int lp_on_error(void *ctx, uint64_t lineno, st_slice msg)
{
    lp_fwd *f = ctx;
    pl_ctx *c = f->c;
    if (c->st->errors++ == 0)
        pl_fail(c->err, c->errlen, c->topic, "lp: line %llu: %.*s", (unsigned long long)lineno,
                (int)(msg.len > 300 ? 300 : msg.len), msg.ptr);
    return 0;
}

static int decode_lp(pl_ctx *c, const char *s, size_t n, pl_point_cb cb, void *ctx)
{
    lp_opts lo = {
        .precision = LP_PRECISION_NS,
        .default_ts_ns = c->o->now_ns,
        .quality_field = c->qkey,
        .max_line_bytes = c->o->max_line_bytes,
    };
    lp_fwd f = { c, cb, ctx, c->map->rule >= 0 };
    lp_stats ls;
    int rc = lp_parse_buffer(&lo, s, n, lp_on_line, lp_on_error, &f, &ls);
    if (rc) return rc;
    if (ls.lines == 0) return pl_fail(c->err, c->errlen, c->topic, "lp: no lines in the payload");
    return c->st->errors ? ST_EPARSE : 0;
}

/* ---- entry points ------------------------------------------------------ */

tmap_format pl_sniff(st_slice topic, const char *payload, size_t len)
{
    if (topic.len >= 8 && memcmp(topic.ptr, "spBv1.0/", 8) == 0) return TMAP_FORMAT_SPARKPLUG;
    const char *s = payload;
    size_t n = len;
    trim(&s, &n);
    if (n == 0) return TMAP_FORMAT_PLAIN; /* which reports the empty payload */
    if (s[0] == '{' || s[0] == '[' || s[0] == '"') return TMAP_FORMAT_JSON;
    st_value v;
    if (plain_value(s, n, &v) != 0) return TMAP_FORMAT_PLAIN;
    return TMAP_FORMAT_LP;
}

int pl_decode(const tmap_result *map, st_slice topic, const char *payload, size_t len,
              const pl_opts *opts, st_arena *a, pl_point_cb cb, void *ctx, pl_stats *stats,
              char *err, size_t errlen)
{
    pl_stats dummy;
    pl_stats *st = stats ? stats : &dummy;
    memset(st, 0, sizeof *st);
    if (err && errlen) err[0] = 0;
    pl_ctx c;
    memset(&c, 0, sizeof c);
    c.map = map;
    c.o = opts;
    c.a = a;
    c.topic = topic;
    c.qkey = opts->quality_field.len ? opts->quality_field : ST_SLICE_LIT("quality");
    c.err = err;
    c.errlen = errlen;
    c.st = st;

    c.payload_len = len;
    c.key_budget = PL_KEY_BUDGET(len);
    tmap_format f = map->format == TMAP_FORMAT_AUTO ? pl_sniff(topic, payload, len) : map->format;
    st->format = f;
    int rc;
    switch (f) {
    case TMAP_FORMAT_LP:
        return decode_lp(&c, payload, len, cb, ctx);
    case TMAP_FORMAT_JSON:
        rc = decode_json(&c, payload, len);
        break;
    case TMAP_FORMAT_PLAIN:
        rc = decode_plain(&c, payload, len);
        break;
    default:
        pl_fail(err, errlen, topic, "sparkplug payloads are decoded by spb_handle");
        return ST_EUNSUPPORTED;
    }
    if (rc) {
        if (rc == ST_EPARSE) st->errors = 1;
        st->skipped = 0;
        return rc;
    }
    for (size_t i = 0; i < c.nl; i++) {
        st->points++;
        rc = cb(ctx, &c.lines[i]);
        if (rc) return rc;
    }
    return 0;
}

int pl_message(const tmap *rules, struct spb_state *spb, st_slice topic, const char *payload,
               size_t len, const pl_opts *opts, st_arena *a, pl_point_cb cb, void *ctx,
               pl_stats *stats, char *err, size_t errlen)
{
    pl_stats dummy;
    pl_stats *st = stats ? stats : &dummy;
    memset(st, 0, sizeof *st);
    if (err && errlen) err[0] = 0;
    tmap_result map;
    int rc = tmap_match(rules, topic, a, &map);
    if (rc) {
        st->errors = 1;
        if (rc == ST_ENOMEM) { if (err && errlen) snprintf(err, errlen, "out of memory"); return rc; }
        if (rc == ST_ELIMIT) pl_fail(err, errlen, topic, "more than %d topic levels", TMAP_MAX_DEFAULT_LEVELS);
        else pl_fail(err, errlen, topic, "no topic level to map");
        return rc;
    }
    tmap_format f = map.format == TMAP_FORMAT_AUTO ? pl_sniff(topic, payload, len) : map.format;
    if (f != TMAP_FORMAT_SPARKPLUG) {
        map.format = f;
        return pl_decode(&map, topic, payload, len, opts, a, cb, ctx, st, err, errlen);
    }
    st->format = f;
    if (!spb) {
        st->errors = 1;
        pl_fail(err, errlen, topic, "sparkplug: no Sparkplug state for this connection");
        return ST_EUNSUPPORTED;
    }
    spb_result res;
    rc = spb_handle(spb, &map, topic, (const uint8_t *)payload, len, opts->now_ns, a, cb, ctx, &res, err,
                    errlen);
    st->points = res.points;
    st->skipped = res.skipped;
    st->unknown = res.unknown;
    st->rebirth_needed = res.rebirth_needed;
    st->stale_death = res.stale_death;
    if (rc == ST_EPARSE || rc == ST_ELIMIT) st->errors = 1;
    return rc;
}
