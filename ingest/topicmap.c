/*
 * ingest/topicmap.c — MQTT topic rules (see topicmap.h for the grammar and
 * the default mapping). A tmap owns copies of every rule string; matching
 * allocates only the result's tag array (and default tag keys) from the
 * caller's arena. Built on one thread, then read-only from any thread.
 */
#include "ingest/topicmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum { LV_LIT, LV_PLUS, LV_HASH };
enum { CAP_NONE, CAP_TAG, CAP_MEASUREMENT, CAP_FIELD };

typedef struct tmap_level {
    uint8_t kind;     /* LV_* */
    uint8_t cap;      /* CAP_* */
    st_slice text;    /* literal text, or the capture name; into rule->strings */
} tmap_level;

typedef struct tmap_rule {
    char *strings;          /* owned: every string of the rule, NUL-separated */
    tmap_level *levels;     /* owned */
    uint32_t level_count;
    lp_tag *consts;         /* owned array; slices into strings */
    uint32_t const_count;
    uint32_t capture_tags;  /* levels with CAP_TAG */
    st_slice measurement;   /* len 0 = none */
    st_slice field;
    tmap_format format;
} tmap_rule;

struct tmap {
    tmap_rule *rules; /* owned */
    size_t count, cap;
};

static const char *const format_names[] = { "auto", "lp", "json", "plain", "sparkplug" };

int tmap_format_parse(const char *s, tmap_format *out)
{
    if (!s || !*s) { *out = TMAP_FORMAT_AUTO; return 0; }
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
        if (strcmp(s, format_names[i]) == 0) { *out = (tmap_format)i; return 0; }
    if (strcmp(s, "line") == 0 || strcmp(s, "influx") == 0) { *out = TMAP_FORMAT_LP; return 0; }
    return ST_EINVAL;
}

const char *tmap_format_name(tmap_format f)
{
    return (unsigned)f < sizeof format_names / sizeof format_names[0] ? format_names[f] : "?";
}

int tmap_create(tmap **out)
{
    tmap *m = st_calloc(1, sizeof *m);
    if (!m) return ST_ENOMEM;
    *out = m;
    return 0;
}

static void rule_fini(tmap_rule *r)
{
    st_free(r->strings);
    st_free(r->levels);
    st_free(r->consts);
}

void tmap_destroy(tmap *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->count; i++) rule_fini(&m->rules[i]);
    st_free(m->rules);
    st_free(m);
}

size_t tmap_rule_count(const tmap *m) { return m ? m->count : 0; }

static int fail(char *err, size_t errlen, const char *topic, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *topic, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "mqtt.rule topic \"%.200s\": ", topic ? topic : "");
        if (n > 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return ST_EINVAL;
}

/* Copy s into the string block at *at; returns its slice. */
static st_slice put_str(char *block, size_t *at, const char *s)
{
    size_t n = strlen(s);
    memcpy(block + *at, s, n + 1);
    st_slice r = { block + *at, n };
    *at += n + 1;
    return r;
}

int tmap_add_rule(tmap *m, const tmap_rule_def *def, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    const char *topic = def ? def->topic : NULL;
    if (!def || !topic || !*topic) return fail(err, errlen, topic, "topic is required");
    tmap_rule r;
    memset(&r, 0, sizeof r);
    if (tmap_format_parse(def->format, &r.format))
        return fail(err, errlen, topic, "format \"%.64s\" is not one of auto, lp, json, plain, sparkplug",
                    def->format);
    if (def->tag_count && (!def->tag_keys || !def->tag_vals))
        return fail(err, errlen, topic, "tags without keys or values");
    for (size_t i = 0; i < def->tag_count; i++)
        if (!def->tag_keys[i] || !def->tag_vals[i])
            return fail(err, errlen, topic, "tag %zu is NULL", i);

    /* one block for every string */
    size_t total = strlen(topic) + 1;
    const char *meas = def->measurement && *def->measurement ? def->measurement : NULL;
    const char *field = def->field && *def->field ? def->field : "value";
    total += (meas ? strlen(meas) : 0) + 1 + strlen(field) + 1;
    for (size_t i = 0; i < def->tag_count; i++)
        total += strlen(def->tag_keys[i]) + strlen(def->tag_vals[i]) + 2;
    if (def->tag_count > 1024) return fail(err, errlen, topic, "too many tags");

    size_t levels = 1;
    for (const char *p = topic; *p; p++) levels += *p == '/';
    if (levels > TMAP_MAX_RULE_LEVELS)
        return fail(err, errlen, topic, "more than %d levels", TMAP_MAX_RULE_LEVELS);

    int rc = ST_ENOMEM;
    r.strings = st_malloc(total);
    r.levels = st_calloc(levels, sizeof *r.levels);
    r.consts = def->tag_count ? st_calloc(def->tag_count, sizeof *r.consts) : NULL;
    if (!r.strings || !r.levels || (def->tag_count && !r.consts)) goto out;
    size_t at = 0;
    st_slice t = put_str(r.strings, &at, topic);
    if (meas) r.measurement = put_str(r.strings, &at, meas);
    else r.strings[at++] = 0;
    r.field = put_str(r.strings, &at, field);

    /* levels */
    rc = ST_EINVAL;
    size_t start = 0;
    int meas_cap = 0, field_cap = 0;
    for (size_t i = 0; i <= t.len; i++) {
        if (i < t.len && t.ptr[i] != '/') continue;
        st_slice lv = { t.ptr + start, i - start };
        tmap_level *L = &r.levels[r.level_count++];
        if (lv.len && (lv.ptr[0] == '+' || lv.ptr[0] == '#')) {
            L->kind = lv.ptr[0] == '+' ? LV_PLUS : LV_HASH;
            L->text = (st_slice){ lv.ptr + 1, lv.len - 1 };
            if (L->kind == LV_HASH && i < t.len) {
                fail(err, errlen, topic, "'#' must be the last level");
                goto out;
            }
            if (memchr(L->text.ptr, '+', L->text.len) || memchr(L->text.ptr, '#', L->text.len)) {
                fail(err, errlen, topic, "capture name \"%.*s\" holds '+' or '#'", (int)L->text.len,
                     L->text.ptr);
                goto out;
            }
            if (L->text.len == 0) L->cap = CAP_NONE;
            else if (st_slice_eq_cstr(L->text, "measurement")) { L->cap = CAP_MEASUREMENT; meas_cap++; }
            else if (st_slice_eq_cstr(L->text, "field")) { L->cap = CAP_FIELD; field_cap++; }
            else {
                if (st_slice_eq_cstr(L->text, "time")) {
                    fail(err, errlen, topic, "tag key \"time\" is not allowed");
                    goto out;
                }
                L->cap = CAP_TAG;
                for (uint32_t k = 0; k + 1 < r.level_count; k++)
                    if (r.levels[k].cap == CAP_TAG && st_slice_eq(r.levels[k].text, L->text)) {
                        fail(err, errlen, topic, "tag \"%.*s\" captured twice", (int)L->text.len,
                             L->text.ptr);
                        goto out;
                    }
                r.capture_tags++;
            }
        } else {
            L->kind = LV_LIT;
            L->text = lv;
            if (memchr(lv.ptr, '+', lv.len) || memchr(lv.ptr, '#', lv.len)) {
                fail(err, errlen, topic, "'+' and '#' must fill a whole level");
                goto out;
            }
        }
        start = i + 1;
    }
    if (meas_cap > 1 || field_cap > 1) {
        fail(err, errlen, topic, "%s captured twice", meas_cap > 1 ? "measurement" : "field");
        goto out;
    }
    if (meas_cap && meas) {
        fail(err, errlen, topic, "measurement is both a constant and a capture");
        goto out;
    }
    for (size_t i = 0; i < def->tag_count; i++) {
        lp_tag *c = &r.consts[r.const_count];
        c->key = put_str(r.strings, &at, def->tag_keys[i]);
        c->val = put_str(r.strings, &at, def->tag_vals[i]);
        if (c->key.len == 0 || c->val.len == 0) {
            fail(err, errlen, topic, "tag %zu has an empty key or value", i);
            goto out;
        }
        if (st_slice_eq_cstr(c->key, "time")) {
            fail(err, errlen, topic, "tag key \"time\" is not allowed");
            goto out;
        }
        for (uint32_t k = 0; k < r.const_count; k++)
            if (st_slice_eq(r.consts[k].key, c->key)) {
                fail(err, errlen, topic, "tag \"%s\" given twice", def->tag_keys[i]);
                goto out;
            }
        for (uint32_t k = 0; k < r.level_count; k++)
            if (r.levels[k].cap == CAP_TAG && st_slice_eq(r.levels[k].text, c->key)) {
                fail(err, errlen, topic, "tag \"%s\" is both a constant and a capture", def->tag_keys[i]);
                goto out;
            }
        r.const_count++;
    }

    rc = ST_ENOMEM;
    if (st_grow(&m->rules, &m->cap, m->count + 1, sizeof *m->rules, 4)) goto out;
    m->rules[m->count++] = r;
    return 0;
out:
    if (rc == ST_ENOMEM && err && errlen) snprintf(err, errlen, "out of memory");
    rule_fini(&r);
    return rc;
}

static int tag_cmp(const void *a, const void *b)
{
    return st_slice_cmp(((const lp_tag *)a)->key, ((const lp_tag *)b)->key);
}

static st_slice first_level(st_slice topic)
{
    size_t i = 0;
    while (i < topic.len) {
        size_t j = i;
        while (j < topic.len && topic.ptr[j] != '/') j++;
        if (j > i) return (st_slice){ topic.ptr + i, j - i };
        i = j + 1;
    }
    return (st_slice){ NULL, 0 };
}

/* 1 and out filled when the rule matches. */
static int rule_match(const tmap_rule *r, st_slice topic, st_arena *a, tmap_result *out, int *nomem)
{
    st_slice caps[TMAP_MAX_RULE_LEVELS];
    size_t pos = 0;
    int topic_done = 0;
    for (uint32_t k = 0; k < r->level_count; k++) {
        const tmap_level *L = &r->levels[k];
        caps[k] = (st_slice){ NULL, 0 };
        if (L->kind == LV_HASH) {
            if (k == 0 && topic.len && topic.ptr[0] == '$') return 0;
            if (!topic_done) caps[k] = (st_slice){ topic.ptr + pos, topic.len - pos };
            topic_done = 1;
            continue;
        }
        if (topic_done) return 0;
        size_t end = pos;
        while (end < topic.len && topic.ptr[end] != '/') end++;
        st_slice lv = { topic.ptr + pos, end - pos };
        if (L->kind == LV_LIT) {
            if (!st_slice_eq(lv, L->text)) return 0;
        } else {
            if (k == 0 && lv.len && lv.ptr[0] == '$') return 0;
            caps[k] = lv;
        }
        if (end == topic.len) topic_done = 1;
        else pos = end + 1;
    }
    if (!topic_done) return 0;

    out->measurement = r->measurement;
    out->field = r->field;
    out->format = r->format;
    uint32_t n = 0;
    lp_tag *tags = NULL;
    if (r->capture_tags + r->const_count) {
        tags = st_arena_alloc(a, (r->capture_tags + r->const_count) * sizeof *tags);
        if (!tags) { *nomem = 1; return 0; }
    }
    for (uint32_t k = 0; k < r->level_count; k++) {
        const tmap_level *L = &r->levels[k];
        if (caps[k].len == 0) continue;
        if (L->cap == CAP_MEASUREMENT) out->measurement = caps[k];
        else if (L->cap == CAP_FIELD) out->field = caps[k];
        else if (L->cap == CAP_TAG) tags[n++] = (lp_tag){ L->text, caps[k] };
    }
    for (uint32_t k = 0; k < r->const_count; k++) tags[n++] = r->consts[k];
    if (n > 1) qsort(tags, n, sizeof *tags, tag_cmp);
    out->tags = tags;
    out->tag_count = n;
    out->measurement_set = out->measurement.len != 0;
    if (out->measurement.len == 0) out->measurement = first_level(topic);
    return 1;
}

int tmap_match(const tmap *m, st_slice topic, st_arena *a, tmap_result *out)
{
    if (topic.len == 0) return ST_EINVAL;
    for (size_t i = 0; m && i < m->count; i++) {
        tmap_result res;
        memset(&res, 0, sizeof res);
        int nomem = 0;
        if (rule_match(&m->rules[i], topic, a, &res, &nomem)) {
            if (res.measurement.len == 0) return ST_EINVAL;
            res.rule = (int)i;
            *out = res;
            return 0;
        }
        if (nomem) return ST_ENOMEM;
    }

    /* the default */
    st_slice lv[TMAP_MAX_DEFAULT_LEVELS];
    size_t n = 0, i = 0;
    while (i <= topic.len) {
        size_t j = i;
        while (j < topic.len && topic.ptr[j] != '/') j++;
        if (j > i) {
            if (n == TMAP_MAX_DEFAULT_LEVELS) return ST_ELIMIT;
            lv[n++] = (st_slice){ topic.ptr + i, j - i };
        }
        i = j + 1;
    }
    if (n == 0) return ST_EINVAL;
    tmap_result res;
    memset(&res, 0, sizeof res);
    res.rule = -1;
    res.format = TMAP_FORMAT_AUTO;
    res.measurement = lv[0];
    res.field = n > 1 ? lv[n - 1] : ST_SLICE_LIT("value");
    if (n > 2) {
        lp_tag *tags = st_arena_alloc(a, (n - 2) * sizeof *tags);
        if (!tags) return ST_ENOMEM;
        for (size_t k = 1; k + 1 < n; k++) {
            char *key = st_arena_alloc_bytes(a, 16);
            if (!key) return ST_ENOMEM;
            int kl = snprintf(key, 16, "level%zu", k);
            tags[k - 1] = (lp_tag){ { key, (size_t)kl }, lv[k] };
        }
        /* level10 sorts before level2: keep byte order as the contract says */
        if (n - 2 > 1) qsort(tags, n - 2, sizeof *tags, tag_cmp);
        res.tags = tags;
        res.tag_count = (uint32_t)(n - 2);
    }
    *out = res;
    return 0;
}
