/*
 * common/settings.c — the settings table machinery (see settings.h).
 *
 * Owns nothing itself: strings, lists and address hosts it creates belong to
 * the caller's config struct until st_settings_free. Start-up thread only.
 */
#include "common/settings.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/num.h"
#include "common/toml.h"

#define FIELD(cfg, row, T) ((T *)(void *)((char *)(cfg) + (row)->offset))
#define CFIELD(cfg, row, T) ((const T *)(const void *)((const char *)(cfg) + (row)->offset))

__attribute__((format(printf, 3, 4)))
static int seterr(char *err, size_t size, const char *fmt, ...)
{
    if (err && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
    }
    return ST_EINVAL;
}

/* ---- value parsers ---- */

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
    }
    return ST_EINVAL;
}

static int parse_int(const char *s, int64_t *out)
{
    if (*s == '+') s++;
    return st_parse_int64(s, strlen(s), out);
}

int st_settings_parse_size(const char *s, uint64_t *out)
{
    const char *p = s;
    uint64_t ip = 0, frac = 0, fdiv = 1;
    if (*p < '0' || *p > '9') return ST_EINVAL;
    while (*p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p++ - '0');
        if (ip > (UINT64_MAX - d) / 10) return ST_ERANGE;
        ip = ip * 10 + d;
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return ST_EINVAL;
        while (*p >= '0' && *p <= '9') {
            if (fdiv < 1000000000000ULL) { frac = frac * 10 + (uint64_t)(*p - '0'); fdiv *= 10; }
            p++;
        }
    }
    while (*p == ' ') p++;
    static const struct { const char *suffix; uint64_t mult; } units[] = {
        { "", 1 }, { "b", 1 },
        { "k", 1000ULL }, { "kb", 1000ULL }, { "m", 1000000ULL }, { "mb", 1000000ULL },
        { "g", 1000000000ULL }, { "gb", 1000000000ULL }, { "t", 1000000000000ULL }, { "tb", 1000000000000ULL },
        { "ki", 1ULL << 10 }, { "kib", 1ULL << 10 }, { "mi", 1ULL << 20 }, { "mib", 1ULL << 20 },
        { "gi", 1ULL << 30 }, { "gib", 1ULL << 30 }, { "ti", 1ULL << 40 }, { "tib", 1ULL << 40 },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].suffix) != 0) continue;
        uint64_t m = units[i].mult;
        if (ip > UINT64_MAX / m) return ST_ERANGE;
        uint64_t v = ip * m;
        /* frac/fdiv * m without overflow: fdiv <= 1e12 and m <= 2^40 could
         * overflow, so divide first where needed. */
        __uint128_t fv = (__uint128_t)frac * m / fdiv;
        if (fv > UINT64_MAX - v) return ST_ERANGE;
        *out = v + (uint64_t)fv;
        return 0;
    }
    return ST_EINVAL;
}

int st_settings_parse_duration(const char *s, int64_t *out_ns)
{
    static const struct { const char *u; int64_t ns; } units[] = {
        { "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xc2\xb5", 1000 }, { "u", 1000 },
        { "ms", 1000000 }, { "s", 1000000000LL }, { "m", 60000000000LL }, { "h", 3600000000000LL },
        { "d", 86400000000000LL }, { "w", 604800000000000LL },
    };
    const char *p = s;
    if (strcmp(p, "0") == 0) { *out_ns = 0; return 0; }
    if (!*p) return ST_EINVAL;
    int64_t total = 0;
    while (*p) {
        if (*p < '0' || *p > '9') return ST_EINVAL;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return ST_ERANGE;
            v = v * 10 + (*p++ - '0');
        }
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t l = strlen(units[i].u);
            if (l > best_len && strncmp(p, units[i].u, l) == 0) { best = i; best_len = l; }
        }
        if (!best_len) return ST_EINVAL;
        p += best_len;
        if (v > INT64_MAX / units[best].ns) return ST_ERANGE;
        v *= units[best].ns;
        if (v > INT64_MAX - total) return ST_ERANGE;
        total += v;
    }
    *out_ns = total;
    return 0;
}

static int enum_index(const char *choices, const char *word)
{
    size_t wl = strlen(word);
    int idx = 0;
    for (const char *c = choices; *c; idx++) {
        const char *bar = strchr(c, '|');
        size_t l = bar ? (size_t)(bar - c) : strlen(c);
        if (l == wl && strncasecmp(c, word, l) == 0) return idx;
        if (!bar) break;
        c = bar + 1;
    }
    return -1;
}

static int enum_word(const char *choices, int idx, const char **w, size_t *wl)
{
    const char *c = choices;
    for (int i = 0; i < idx; i++) {
        c = strchr(c, '|');
        if (!c) return -1;
        c++;
    }
    const char *bar = strchr(c, '|');
    *w = c;
    *wl = bar ? (size_t)(bar - c) : strlen(c);
    return 0;
}

static int parse_addr(const char *s, bool allow_off, st_addr *out, char **hostp)
{
    if (allow_off && strcasecmp(s, "off") == 0) {
        out->off = true;
        out->port = 0;
        *hostp = NULL;
        return 0;
    }
    const char *colon, *hs = s, *he;
    if (*s == '[') {
        he = strchr(s, ']');
        if (!he || he[1] != ':') return ST_EINVAL;
        hs = s + 1;
        colon = he + 1;
        if (he == hs) return ST_EINVAL;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return ST_EINVAL;
        he = colon;
        if (memchr(s, ':', (size_t)(colon - s))) return ST_EINVAL; /* bare IPv6 needs [] */
    }
    for (const char *c = hs; c < he; c++)
        if (*c <= ' ' || *c == '/' || *c == '[' || *c == ']' || (unsigned char)*c >= 0x7f) return ST_EINVAL;
    const char *ps = colon + 1;
    if (!*ps || strlen(ps) > 5) return ST_EINVAL;
    int port = 0;
    for (const char *c = ps; *c; c++) {
        if (*c < '0' || *c > '9') return ST_EINVAL;
        port = port * 10 + (*c - '0');
    }
    if (port > 65535) return ST_ERANGE;
    char *h = st_strndup(hs, (size_t)(he - hs));
    if (!h) return ST_ENOMEM;
    out->off = false;
    out->port = port;
    *hostp = h;
    return 0;
}

static const char *type_hint(const st_setting *r)
{
    switch (r->type) {
    case ST_SET_BOOL: return "";
    case ST_SET_INT: return "N";
    case ST_SET_SIZE: return "SIZE";
    case ST_SET_DURATION: return "DURATION";
    case ST_SET_STRING: return "STRING";
    case ST_SET_ENUM: return r->choices;
    case ST_SET_ADDR: return "HOST:PORT";
    case ST_SET_STRLIST: return "STRING";
    }
    return "";
}

static const char *unit_name(int64_t unit_ns)
{
    switch (unit_ns) {
    case 0: case 1: return "ns";
    case 1000: return "us";
    case 1000000: return "ms";
    case 1000000000: return "s";
    default: return "units";
    }
}

/* Text -> field. ctx prefixes messages ("--max-body-bytes", "f.toml:3: http.x"). */
static int apply_text(const st_setting *r, void *cfg, const char *v, const char *ctx, char *err, size_t esz)
{
    switch (r->type) {
    case ST_SET_BOOL: {
        bool b;
        if (parse_bool(v, &b)) return seterr(err, esz, "%s: '%s' is not a boolean (use true or false)", ctx, v);
        *FIELD(cfg, r, bool) = b;
        return 0;
    }
    case ST_SET_INT: {
        int64_t x;
        int rc = parse_int(v, &x);
        if (rc == ST_ERANGE || (rc == 0 && (r->min || r->max) && (x < r->min || x > r->max)))
            return seterr(err, esz, "%s: '%s' is out of range (%lld..%lld)", ctx, v, (long long)r->min, (long long)r->max);
        if (rc) return seterr(err, esz, "%s: '%s' is not an integer", ctx, v);
        *FIELD(cfg, r, int64_t) = x;
        return 0;
    }
    case ST_SET_SIZE: {
        uint64_t x;
        int rc = st_settings_parse_size(v, &x);
        if (rc == ST_EINVAL) return seterr(err, esz, "%s: '%s' is not a size (use e.g. 25MB)", ctx, v);
        if (rc == ST_ERANGE || ((r->min || r->max) && (x < (uint64_t)r->min || x > (uint64_t)r->max)))
            return seterr(err, esz, "%s: '%s' is out of range (%lld..%lld bytes)", ctx, v, (long long)r->min, (long long)r->max);
        *FIELD(cfg, r, uint64_t) = x;
        return 0;
    }
    case ST_SET_DURATION: {
        int64_t ns, unit = r->unit_ns > 0 ? r->unit_ns : 1;
        int rc = st_settings_parse_duration(v, &ns);
        if (rc == ST_EINVAL) return seterr(err, esz, "%s: '%s' is not a duration (use e.g. 100ms, 10s, 1h)", ctx, v);
        if (rc == 0 && ns % unit)
            return seterr(err, esz, "%s: '%s' is not a whole number of %s", ctx, v, unit_name(unit));
        int64_t x = rc == 0 ? ns / unit : 0;
        if (rc == ST_ERANGE || ((r->min || r->max) && (x < r->min || x > r->max)))
            return seterr(err, esz, "%s: '%s' is out of range (%lld%s..%lld%s)", ctx, v, (long long)r->min,
                          unit_name(unit), (long long)r->max, unit_name(unit));
        *FIELD(cfg, r, int64_t) = x;
        return 0;
    }
    case ST_SET_STRING: {
        char *s = st_strdup(v);
        if (!s) return ST_ENOMEM;
        char **f = FIELD(cfg, r, char *);
        st_free(*f);
        *f = s;
        return 0;
    }
    case ST_SET_ENUM: {
        int idx = enum_index(r->choices, v);
        if (idx < 0) return seterr(err, esz, "%s: '%s' is not one of %s", ctx, v, r->choices);
        *FIELD(cfg, r, int) = idx;
        return 0;
    }
    case ST_SET_ADDR: {
        st_addr a = { 0 };
        char *host = NULL;
        int rc = parse_addr(v, (r->flags & ST_SET_F_OFF) != 0, &a, &host);
        if (rc == ST_ENOMEM) return rc;
        if (rc == ST_ERANGE) return seterr(err, esz, "%s: '%s': port out of range (0..65535)", ctx, v);
        if (rc)
            return seterr(err, esz, "%s: '%s' is not an address (use host:port, [::1]:port or :port%s)", ctx, v,
                          (r->flags & ST_SET_F_OFF) ? ", or off" : "");
        st_addr *f = FIELD(cfg, r, st_addr);
        st_free(f->host);
        a.host = host;
        *f = a;
        return 0;
    }
    case ST_SET_STRLIST: {
        st_strlist *l = FIELD(cfg, r, st_strlist);
        char *s = st_strdup(v);
        if (!s) return ST_ENOMEM;
        char **ni = st_realloc(l->items, (l->count + 1) * sizeof *ni);
        if (!ni) {
            st_free(s);
            return ST_ENOMEM;
        }
        ni[l->count++] = s;
        l->items = ni;
        return 0;
    }
    }
    return seterr(err, esz, "%s: bad setting type", ctx);
}

static void clear_field(const st_setting *r, void *cfg)
{
    switch (r->type) {
    case ST_SET_STRING: {
        char **f = FIELD(cfg, r, char *);
        st_free(*f);
        *f = NULL;
        break;
    }
    case ST_SET_ADDR: {
        st_addr *a = FIELD(cfg, r, st_addr);
        st_free(a->host);
        memset(a, 0, sizeof *a);
        break;
    }
    case ST_SET_STRLIST: {
        st_strlist *l = FIELD(cfg, r, st_strlist);
        for (size_t i = 0; i < l->count; i++) st_free(l->items[i]);
        st_free(l->items);
        l->items = NULL;
        l->count = 0;
        break;
    }
    default:
        break;
    }
}

void st_settings_free(const st_setting *rows, size_t n, void *cfg)
{
    if (!cfg) return;
    for (size_t i = 0; i < n; i++) clear_field(&rows[i], cfg);
}

int st_settings_set(const st_setting *row, void *cfg, const char *value, char *err, size_t err_size)
{
    char ctx[96];
    snprintf(ctx, sizeof ctx, "--%s", row->name);
    return apply_text(row, cfg, value, ctx, err, err_size);
}

int st_settings_defaults(const st_setting *rows, size_t n, void *cfg, char *err, size_t err_size)
{
    for (size_t i = 0; i < n; i++) {
        const st_setting *r = &rows[i];
        clear_field(r, cfg);
        if (!r->def) {
            switch (r->type) {
            case ST_SET_BOOL: *FIELD(cfg, r, bool) = false; break;
            case ST_SET_INT: case ST_SET_DURATION: *FIELD(cfg, r, int64_t) = 0; break;
            case ST_SET_SIZE: *FIELD(cfg, r, uint64_t) = 0; break;
            case ST_SET_ENUM: *FIELD(cfg, r, int) = 0; break;
            default: break;
            }
            continue;
        }
        if (r->type == ST_SET_STRLIST) {
            /* Default of a list: comma-separated items. */
            const char *p = r->def;
            while (*p) {
                const char *c = strchr(p, ',');
                size_t l = c ? (size_t)(c - p) : strlen(p);
                char item[256];
                if (l >= sizeof item) return seterr(err, err_size, "--%s: default item too long", r->name);
                memcpy(item, p, l);
                item[l] = 0;
                int rc = st_settings_set(r, cfg, item, err, err_size);
                if (rc) return rc;
                p += l + (c ? 1 : 0);
            }
            continue;
        }
        int rc = st_settings_set(r, cfg, r->def, err, err_size);
        if (rc) return rc;
    }
    return 0;
}

const st_setting *st_settings_find(const st_setting *rows, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0) return &rows[i];
    return NULL;
}

/* ---- suggestions ---- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

/* The closest of rows' names (by_key: config keys) to s, or NULL. */
static const char *suggest(const st_setting *rows, size_t n, const char *s, int by_key)
{
    const char *best = NULL;
    size_t bd = 99, limit = strlen(s) / 3 < 2 ? 2 : strlen(s) / 3;
    for (size_t i = 0; i < n; i++) {
        const char *cand = by_key ? rows[i].key : rows[i].name;
        size_t d = edit_distance(s, cand);
        if (d < bd) { bd = d; best = cand; }
    }
    return bd <= limit ? best : NULL;
}

/* ---- config file ---- */

typedef struct walk {
    const st_setting *rows;
    size_t n;
    void *cfg;
    const char *name;
    char *err;
    size_t esz;
} walk;

/* Is path a proper prefix (at a dot) of some row's key? */
static int is_key_prefix(const walk *w, const char *path)
{
    size_t l = strlen(path);
    for (size_t i = 0; i < w->n; i++)
        if (strncmp(w->rows[i].key, path, l) == 0 && w->rows[i].key[l] == '.') return 1;
    return 0;
}

static int apply_node(const walk *w, const st_setting *r, const st_toml_node *node, const char *path)
{
    char ctx[320];
    snprintf(ctx, sizeof ctx, "%s:%d: %s", w->name, st_toml_node_line(node), path);
    st_toml_type t = st_toml_node_type(node);
    const char *s;
    size_t sl;
    char num[32];
    if (r->type == ST_SET_STRLIST) {
        clear_field(r, w->cfg); /* the file's list replaces the default */
        if (t == ST_TOML_STRING) {
            st_toml_as_string(node, &s, &sl);
            if (memchr(s, 0, sl)) return seterr(w->err, w->esz, "%s: string contains a NUL byte", ctx);
            return apply_text(r, w->cfg, s, ctx, w->err, w->esz);
        }
        if (t != ST_TOML_ARRAY) return seterr(w->err, w->esz, "%s: expected an array of strings", ctx);
        for (size_t i = 0; i < st_toml_array_count(node); i++) {
            if (st_toml_as_string(st_toml_array_at(node, i), &s, &sl))
                return seterr(w->err, w->esz, "%s: expected an array of strings", ctx);
            if (memchr(s, 0, sl)) return seterr(w->err, w->esz, "%s: string contains a NUL byte", ctx);
            int rc = apply_text(r, w->cfg, s, ctx, w->err, w->esz);
            if (rc) return rc;
        }
        return 0;
    }
    switch (t) {
    case ST_TOML_BOOL: {
        if (r->type != ST_SET_BOOL) break;
        int b;
        st_toml_as_bool(node, &b);
        *FIELD(w->cfg, r, bool) = b != 0;
        return 0;
    }
    case ST_TOML_INT: {
        if (r->type != ST_SET_INT && r->type != ST_SET_SIZE) break;
        int64_t v;
        st_toml_as_int(node, &v);
        snprintf(num, sizeof num, "%lld", (long long)v);
        if (r->type == ST_SET_SIZE && v < 0)
            return seterr(w->err, w->esz, "%s: '%s' is not a size (use e.g. 25MB)", ctx, num);
        return apply_text(r, w->cfg, num, ctx, w->err, w->esz);
    }
    case ST_TOML_STRING: {
        if (r->type == ST_SET_BOOL || r->type == ST_SET_INT) break;
        st_toml_as_string(node, &s, &sl);
        if (memchr(s, 0, sl)) return seterr(w->err, w->esz, "%s: string contains a NUL byte", ctx);
        return apply_text(r, w->cfg, s, ctx, w->err, w->esz);
    }
    default:
        break;
    }
    static const char *const want[] = {
        [ST_SET_BOOL] = "true or false", [ST_SET_INT] = "an integer",
        [ST_SET_SIZE] = "a size such as \"25MB\" or an integer number of bytes",
        [ST_SET_DURATION] = "a duration string such as \"100ms\"", [ST_SET_STRING] = "a string",
        [ST_SET_ENUM] = "a string", [ST_SET_ADDR] = "a string \"host:port\"", [ST_SET_STRLIST] = "",
    };
    return seterr(w->err, w->esz, "%s: expected %s, not %s %s", ctx, want[r->type],
                  t == ST_TOML_INT || t == ST_TOML_ARRAY ? "an" : "a", st_toml_type_name(t));
}

static int walk_table(const walk *w, const st_toml_node *t, const char *prefix)
{
    size_t count = st_toml_table_count(t);
    for (size_t i = 0; i < count; i++) {
        const char *k;
        const st_toml_node *c = st_toml_table_at(t, i, &k);
        char path[256];
        int pl = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", k);
        if (pl < 0 || (size_t)pl >= sizeof path)
            return seterr(w->err, w->esz, "%s:%d: key too long", w->name, st_toml_node_line(c));
        const st_setting *r = NULL;
        for (size_t j = 0; j < w->n; j++)
            if (strcmp(w->rows[j].key, path) == 0) { r = &w->rows[j]; break; }
        if (r) {
            int rc = apply_node(w, r, c, path);
            if (rc) return rc;
            continue;
        }
        if (st_toml_node_type(c) == ST_TOML_TABLE && is_key_prefix(w, path)) {
            int rc = walk_table(w, c, path);
            if (rc) return rc;
            continue;
        }
        const char *sug = suggest(w->rows, w->n, path, 1);
        return seterr(w->err, w->esz, "%s:%d: unknown setting '%s'%s%s%s", w->name, st_toml_node_line(c), path,
                      sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
    }
    return 0;
}

int st_settings_load_toml(const st_setting *rows, size_t n, void *cfg, const char *text, size_t len,
                          const char *name, char *err, size_t err_size)
{
    st_toml_doc *doc = NULL;
    int rc = st_toml_parse(text, len, name, &doc, err, err_size);
    if (rc) return rc == ST_EPARSE ? ST_EINVAL : rc;
    walk w = { rows, n, cfg, name ? name : "<input>", err, err_size };
    rc = walk_table(&w, st_toml_root(doc), "");
    st_toml_free(doc);
    return rc;
}

int st_settings_load_file(const st_setting *rows, size_t n, void *cfg, const char *path, char *err, size_t err_size)
{
    int rc = 0;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        seterr(err, err_size, "--config: cannot open %s: %s", path, strerror(errno));
        return ST_EIO;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= (64u << 20)) {
                rc = seterr(err, err_size, "--config: %s is larger than 64 MiB", path);
                goto cleanup;
            }
            if ((rc = st_grow(&buf, &cap, len + 1, 1, 4096))) goto cleanup;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        seterr(err, err_size, "--config: cannot read %s", path);
        rc = ST_EIO;
        goto cleanup;
    }
    rc = st_settings_load_toml(rows, n, cfg, buf, len, path, err, err_size);
cleanup:
    st_free(buf);
    fclose(f);
    return rc;
}

/* ---- argv ---- */

static int in_list(const char *const *list, const char *name, size_t nl)
{
    for (; list && *list; list++)
        if (strlen(*list) == nl && strncmp(*list, name, nl) == 0) return 1;
    return 0;
}

int st_settings_load(const st_setting *rows, size_t n, void *cfg, int argc, char **argv,
                     const char *const *ignore, char *err, size_t err_size)
{
    int rc = st_settings_defaults(rows, n, cfg, err, err_size);
    if (rc) return rc;
    unsigned char *listed = NULL; /* string lists already set by a flag */
    const char *config = NULL;
    /* Pass 1: find --config, skipping the values of value-taking flags. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) continue;
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if (nl == 6 && strncmp(name, "config", 6) == 0) {
            if (config) return seterr(err, err_size, "--config: given more than once");
            if (eq) config = eq + 1;
            else if (i + 1 < argc) config = argv[++i];
            else return seterr(err, err_size, "--config: needs a file name");
            continue;
        }
        if (eq || in_list(ignore, name, nl)) continue;
        const st_setting *r = st_settings_find(rows, n, name);
        if (r && r->type != ST_SET_BOOL) i++;
    }
    if (config) {
        rc = st_settings_load_file(rows, n, cfg, config, err, err_size);
        if (rc) return rc;
    }
    listed = st_calloc(n ? n : 1, 1);
    if (!listed) return ST_ENOMEM;
    /* Pass 2: flags override the file. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            rc = seterr(err, err_size, "unexpected argument '%s'%s", a,
                        a[0] == '-' && a[1] != '-' && a[1] ? " (flags start with --)" : "");
            goto cleanup;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        char nbuf[96];
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if (nl >= sizeof nbuf) nl = sizeof nbuf - 1;
        memcpy(nbuf, name, nl);
        nbuf[nl] = 0;
        if (strcmp(nbuf, "config") == 0) {
            if (!eq) i++;
            continue;
        }
        if (in_list(ignore, nbuf, nl)) continue;
        const st_setting *r = st_settings_find(rows, n, nbuf);
        if (!r && strncmp(nbuf, "no-", 3) == 0) {
            const st_setting *b = st_settings_find(rows, n, nbuf + 3);
            if (b && b->type == ST_SET_BOOL) {
                if (eq) {
                    rc = seterr(err, err_size, "--%s: takes no value", nbuf);
                    goto cleanup;
                }
                *FIELD(cfg, b, bool) = false;
                continue;
            }
        }
        if (!r) {
            const char *sug = suggest(rows, n, nbuf, 0);
            rc = seterr(err, err_size, "unknown flag --%s%s%s%s", nbuf, sug ? " (did you mean --" : "",
                        sug ? sug : "", sug ? "?)" : "");
            goto cleanup;
        }
        const char *val;
        if (eq) val = eq + 1;
        else if (r->type == ST_SET_BOOL) val = "true";
        else if (i + 1 < argc) val = argv[++i];
        else {
            rc = seterr(err, err_size, "--%s: needs a value (%s)", nbuf, type_hint(r));
            goto cleanup;
        }
        if (r->type == ST_SET_STRLIST && !listed[r - rows]) {
            clear_field(r, cfg); /* the first flag replaces the file's (or default) list */
            listed[r - rows] = 1;
        }
        rc = st_settings_set(r, cfg, val, err, err_size);
        if (rc) goto cleanup;
    }
cleanup:
    st_free(listed);
    return rc;
}

/* ---- output ---- */

static int format_size(uint64_t v, st_buf *out)
{
    static const struct { const char *s; uint64_t m; } u[] = {
        { "TB", 1000000000000ULL }, { "TiB", 1ULL << 40 }, { "GB", 1000000000ULL }, { "GiB", 1ULL << 30 },
        { "MB", 1000000ULL }, { "MiB", 1ULL << 20 }, { "KB", 1000ULL }, { "KiB", 1ULL << 10 },
    };
    for (size_t i = 0; v && i < sizeof u / sizeof u[0]; i++)
        if (v % u[i].m == 0) return st_buf_printf(out, "%llu%s", (unsigned long long)(v / u[i].m), u[i].s);
    return st_buf_printf(out, "%llu", (unsigned long long)v);
}

static int format_duration(int64_t ns, st_buf *out)
{
    static const struct { const char *s; int64_t m; } u[] = {
        { "h", 3600000000000LL }, { "m", 60000000000LL }, { "s", 1000000000LL }, { "ms", 1000000LL }, { "us", 1000LL },
    };
    for (size_t i = 0; ns && i < sizeof u / sizeof u[0]; i++)
        if (ns % u[i].m == 0) return st_buf_printf(out, "%lld%s", (long long)(ns / u[i].m), u[i].s);
    return st_buf_printf(out, "%lldns", (long long)ns);
}

int st_settings_format(const st_setting *r, const void *cfg, st_buf *out)
{
    switch (r->type) {
    case ST_SET_BOOL: return st_buf_append_str(out, *CFIELD(cfg, r, bool) ? "true" : "false");
    case ST_SET_INT: return st_buf_printf(out, "%lld", (long long)*CFIELD(cfg, r, int64_t));
    case ST_SET_SIZE: return format_size(*CFIELD(cfg, r, uint64_t), out);
    case ST_SET_DURATION: {
        int64_t v = *CFIELD(cfg, r, int64_t), unit = r->unit_ns > 0 ? r->unit_ns : 1;
        if (v > INT64_MAX / unit || v < 0) return st_buf_printf(out, "%lld%s", (long long)v, unit_name(unit));
        return format_duration(v * unit, out);
    }
    case ST_SET_STRING: {
        const char *s = *CFIELD(cfg, r, char *);
        return st_buf_append_str(out, s ? s : "");
    }
    case ST_SET_ENUM: {
        const char *w;
        size_t wl;
        if (enum_word(r->choices, *CFIELD(cfg, r, int), &w, &wl)) return st_buf_append_str(out, "?");
        return st_buf_append(out, w, wl);
    }
    case ST_SET_ADDR: {
        const st_addr *a = CFIELD(cfg, r, st_addr);
        if (a->off) return st_buf_append_str(out, "off");
        const char *h = a->host ? a->host : "";
        return st_buf_printf(out, strchr(h, ':') ? "[%s]:%d" : "%s:%d", h, a->port);
    }
    case ST_SET_STRLIST: {
        const st_strlist *l = CFIELD(cfg, r, st_strlist);
        for (size_t i = 0; i < l->count; i++) {
            int rc = st_buf_printf(out, "%s%s", i ? "," : "", l->items[i]);
            if (rc) return rc;
        }
        return 0;
    }
    }
    return ST_EINVAL;
}

void st_settings_print_help(const st_setting *rows, size_t n, const char *usage, FILE *f)
{
    if (usage) fprintf(f, "%s\n", usage);
    for (size_t i = 0; i < n; i++) {
        const st_setting *r = &rows[i];
        int first = 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(rows[j].group, r->group) == 0) { first = 0; break; }
        if (!first) continue;
        fprintf(f, "\n%s:\n", r->group);
        for (size_t j = i; j < n; j++) {
            const st_setting *s = &rows[j];
            if (strcmp(s->group, r->group) != 0) continue;
            char left[128];
            const char *hint = type_hint(s);
            snprintf(left, sizeof left, "--%s%s%s", s->name, *hint ? " " : "", hint);
            fprintf(f, "  %-30s %s", left, s->help);
            if (s->type == ST_SET_STRLIST) fprintf(f, " (repeatable)");
            if (s->def && *s->def) fprintf(f, " [default: %s]", s->def);
            fprintf(f, " [file: %s]\n", s->key);
        }
    }
}

static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else fputc(*s, f);
    }
}

void st_settings_print_markdown(const st_setting *rows, size_t n, FILE *f)
{
    fprintf(f, "| flag | config key | default | description |\n|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const st_setting *r = &rows[i];
        const char *hint = type_hint(r);
        fprintf(f, "| `--%s%s", r->name, *hint ? " " : "");
        md_text(f, hint);
        fprintf(f, "` | `%s` | ", r->key);
        if (r->def && *r->def) {
            fputc('`', f);
            md_text(f, r->def);
            fputc('`', f);
        }
        fputs(" | ", f);
        md_text(f, r->help);
        if (r->type == ST_SET_STRLIST) fputs(" (repeatable)", f);
        fputs(" |\n", f);
    }
}
