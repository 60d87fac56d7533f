/*
 * tools/query.c — strata query: run InfluxQL against a running stratad.
 *
 *   strata query 'IQL' [--db D] [--rp R] [--url U] [--format json|csv|table]
 *                [--epoch ns|u|ms|s|m|h] [--user U --password P | --token T]
 *                [--timeout S]
 *
 * SELECT and SHOW go as GET /query, other statements (CREATE, DROP...) as
 * POST, as InfluxDB 1.x wants. Output:
 *  - json: the reply body exactly as the server sent it;
 *  - table (the default when stdout is a terminal): per series a "name:"
 *    and "tags:" heading, then aligned columns, as the influx CLI prints;
 *  - csv: "name,tags,<columns>" header (repeated when the columns change),
 *    then one row per value row; tags as k=v joined by ','. RFC 4180 quoting.
 * Exit: 0; 1 for a non-200 reply or a statement error (message on stderr);
 * 2 usage; 3 the server could not be reached.
 *
 * The reply is held in memory to be parsed (query results are bounded by
 * the server's --query-max-points); the JSON parser below is a small DOM
 * with a depth limit. Single-threaded.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "tools/httpc.h"
#include "tools/tools.h"

enum { Q_OK = 0, Q_FAIL = 1, Q_USAGE = 2, Q_UNREACHABLE = 3 };
#define JSON_MAX_DEPTH 64

/* ---- a small JSON DOM ---- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype t;
    int b;
    char *s;             /* owned: string (unescaped) or number text */
    size_t n;            /* string length */
    struct jval *items;  /* owned: array items / object values */
    char **keys;         /* owned: object keys */
    size_t count;
} jval;

static void jfree(jval *v)
{
    if (!v) return;
    st_free(v->s);
    for (size_t i = 0; i < v->count; i++) {
        jfree(&v->items[i]);
        if (v->keys) st_free(v->keys[i]);
    }
    st_free(v->items);
    st_free(v->keys);
    memset(v, 0, sizeof *v);
}

typedef struct jparser {
    const char *p, *end;
    const char *err;
} jparser;

static void jws(jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int jstring(jparser *j, st_buf *o)
{
    j->p++; /* opening quote */
    while (j->p < j->end) {
        char c = *j->p++;
        if (c == '"') return 0;
        if (c != '\\') { if (st_buf_append_byte(o, c)) return ST_ENOMEM; continue; }
        if (j->p >= j->end) break;
        c = *j->p++;
        int rc = 0;
        switch (c) {
        case 'n': rc = st_buf_append_byte(o, '\n'); break;
        case 't': rc = st_buf_append_byte(o, '\t'); break;
        case 'r': rc = st_buf_append_byte(o, '\r'); break;
        case 'b': rc = st_buf_append_byte(o, '\b'); break;
        case 'f': rc = st_buf_append_byte(o, '\f'); break;
        case 'u': {
            unsigned cp = 0;
            if (j->end - j->p < 4) { j->err = "bad \\u escape"; return ST_EPARSE; }
            for (int i = 0; i < 4; i++) {
                int h = hexv((unsigned char)j->p[i]);
                if (h < 0) { j->err = "bad \\u escape"; return ST_EPARSE; }
                cp = cp * 16 + (unsigned)h;
            }
            j->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
                unsigned lo = 0;
                int ok = 1;
                for (int i = 0; i < 4; i++) {
                    int h = hexv((unsigned char)j->p[2 + i]);
                    if (h < 0) { ok = 0; break; }
                    lo = lo * 16 + (unsigned)h;
                }
                if (ok && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                }
            }
            char b[4];
            size_t n;
            if (cp < 0x80) { b[0] = (char)cp; n = 1; }
            else if (cp < 0x800) { b[0] = (char)(0xC0 | (cp >> 6)); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
            else if (cp < 0x10000) {
                b[0] = (char)(0xE0 | (cp >> 12)); b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                b[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
            } else {
                b[0] = (char)(0xF0 | (cp >> 18)); b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
            }
            rc = st_buf_append(o, b, n);
            break;
        }
        default: rc = st_buf_append_byte(o, c); break;
        }
        if (rc) return ST_ENOMEM;
    }
    j->err = "unterminated string";
    return ST_EPARSE;
}

static int jparse(jparser *j, jval *v, int depth);

static int jgrow(jval *v, size_t *cap, int obj)
{
    /* items and keys share *cap; it moves once both have grown */
    size_t nc = *cap;
    if (st_grow(&v->items, &nc, v->count + 1, sizeof *v->items, 4) ||
        (obj && st_grow(&v->keys, &(size_t){ *cap }, nc, sizeof *v->keys, 4)))
        return ST_ENOMEM;
    *cap = nc;
    return 0;
}

static int jparse(jparser *j, jval *v, int depth)
{
    memset(v, 0, sizeof *v);
    if (depth > JSON_MAX_DEPTH) { j->err = "nested too deeply"; return ST_EPARSE; }
    jws(j);
    if (j->p >= j->end) { j->err = "unexpected end"; return ST_EPARSE; }
    char c = *j->p;
    if (c == '{' || c == '[') {
        int obj = c == '{';
        v->t = obj ? J_OBJ : J_ARR;
        j->p++;
        size_t cap = 0;
        jws(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) { j->p++; return 0; }
        for (;;) {
            if (jgrow(v, &cap, obj)) return ST_ENOMEM;
            jws(j);
            if (obj) {
                if (j->p >= j->end || *j->p != '"') { j->err = "expected a key"; return ST_EPARSE; }
                st_buf k;
                st_buf_init(&k);
                int rc = jstring(j, &k);
                if (rc) { st_buf_fini(&k); return rc; }
                v->keys[v->count] = k.ptr ? st_buf_take(&k) : st_strdup("");
                if (!v->keys[v->count]) return ST_ENOMEM;
                jws(j);
                if (j->p >= j->end || *j->p != ':') { st_free(v->keys[v->count]); j->err = "expected ':'"; return ST_EPARSE; }
                j->p++;
            }
            int rc = jparse(j, &v->items[v->count], depth + 1);
            v->count++;
            if (rc) return rc;
            jws(j);
            if (j->p < j->end && *j->p == ',') { j->p++; continue; }
            if (j->p < j->end && *j->p == (obj ? '}' : ']')) { j->p++; return 0; }
            j->err = obj ? "expected ',' or '}'" : "expected ',' or ']'";
            return ST_EPARSE;
        }
    }
    if (c == '"') {
        st_buf s;
        st_buf_init(&s);
        int rc = jstring(j, &s);
        if (rc) { st_buf_fini(&s); return rc; }
        v->t = J_STR;
        v->n = s.len;
        v->s = s.ptr ? st_buf_take(&s) : st_strdup("");
        return v->s ? 0 : ST_ENOMEM;
    }
    if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) { j->p += 4; v->t = J_NULL; return 0; }
    if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) { j->p += 4; v->t = J_BOOL; v->b = 1; return 0; }
    if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) { j->p += 5; v->t = J_BOOL; return 0; }
    const char *s = j->p;
    while (j->p < j->end && (isdigit((unsigned char)*j->p) || strchr("+-.eE", *j->p))) j->p++;
    if (j->p == s) { j->err = "unexpected character"; return ST_EPARSE; }
    v->t = J_NUM;
    v->n = (size_t)(j->p - s);
    v->s = st_strndup(s, v->n);
    return v->s ? 0 : ST_ENOMEM;
}

static const jval *jget(const jval *o, const char *key)
{
    if (!o || o->t != J_OBJ) return NULL;
    for (size_t i = 0; i < o->count; i++)
        if (strcmp(o->keys[i], key) == 0) return &o->items[i];
    return NULL;
}

/* Text of a scalar for table/csv output (NULL for null). */
static const char *jtext(const jval *v, size_t *n)
{
    switch (v->t) {
    case J_NULL: *n = 0; return NULL;
    case J_BOOL: *n = v->b ? 4 : 5; return v->b ? "true" : "false";
    case J_NUM: *n = v->n; return v->s;
    case J_STR: *n = v->n; return v->s;
    default: *n = 0; return "";
    }
}

/* ---- output ---- */

static size_t text_width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) w++;
    return w;
}

static void put_cell(FILE *f, const char *s, size_t n, size_t width, int last)
{
    for (size_t i = 0; i < n; i++) fputc(s[i] == '\n' ? ' ' : s[i], f);
    if (!last)
        for (size_t w = text_width(s, n); w < width + 1; w++) fputc(' ', f);
}

static void csv_cell(FILE *f, const char *s, size_t n)
{
    int q = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
    for (size_t i = 0; i < n && !q; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') q = 1;
    if (!q) { fwrite(s, 1, n, f); return; }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

static void tags_text(const jval *tags, st_buf *out, const char *sep)
{
    st_buf_clear(out);
    if (!tags || tags->t != J_OBJ) return;
    for (size_t i = 0; i < tags->count; i++) {
        size_t n;
        const char *t = jtext(&tags->items[i], &n);
        st_buf_printf(out, "%s%s=%.*s", i ? sep : "", tags->keys[i], (int)n, t ? t : "");
    }
}

static void print_table(FILE *f, const jval *series, int *first)
{
    const jval *name = jget(series, "name"), *tags = jget(series, "tags");
    const jval *cols = jget(series, "columns"), *vals = jget(series, "values");
    if (!*first) fputc('\n', f);
    *first = 0;
    if (name && name->t == J_STR) fprintf(f, "name: %s\n", name->s);
    if (tags && tags->t == J_OBJ && tags->count) {
        st_buf t;
        st_buf_init(&t);
        tags_text(tags, &t, ", ");
        fprintf(f, "tags: %s\n", t.ptr ? t.ptr : "");
        st_buf_fini(&t);
    }
    size_t nc = cols && cols->t == J_ARR ? cols->count : 0;
    if (!nc) return;
    size_t *w = st_calloc(nc, sizeof *w);
    if (!w) return;
    for (size_t c = 0; c < nc; c++) {
        size_t n;
        const char *t = jtext(&cols->items[c], &n);
        w[c] = t ? text_width(t, n) : 0;
    }
    size_t nr = vals && vals->t == J_ARR ? vals->count : 0;
    for (size_t r = 0; r < nr; r++) {
        const jval *row = &vals->items[r];
        for (size_t c = 0; c < nc && row->t == J_ARR && c < row->count; c++) {
            size_t n;
            const char *t = jtext(&row->items[c], &n);
            size_t tw = t ? text_width(t, n) : 0;
            if (tw > w[c]) w[c] = tw;
        }
    }
    for (size_t c = 0; c < nc; c++) {
        size_t n;
        const char *t = jtext(&cols->items[c], &n);
        put_cell(f, t ? t : "", n, w[c], c + 1 == nc);
    }
    fputc('\n', f);
    for (size_t c = 0; c < nc; c++) {
        size_t n;
        const char *t = jtext(&cols->items[c], &n);
        size_t dw = t ? text_width(t, n) : 0;
        for (size_t k = 0; k < dw; k++) fputc('-', f);
        if (c + 1 < nc)
            for (size_t k = dw; k < w[c] + 1; k++) fputc(' ', f);
    }
    fputc('\n', f);
    for (size_t r = 0; r < nr; r++) {
        const jval *row = &vals->items[r];
        for (size_t c = 0; c < nc; c++) {
            size_t n = 0;
            const char *t = row->t == J_ARR && c < row->count ? jtext(&row->items[c], &n) : NULL;
            put_cell(f, t ? t : "", t ? n : 0, w[c], c + 1 == nc);
        }
        fputc('\n', f);
    }
    st_free(w);
}

static int same_columns(const jval *a, const jval *b)
{
    if (!a || !b || a->t != J_ARR || b->t != J_ARR || a->count != b->count) return 0;
    for (size_t i = 0; i < a->count; i++)
        if (a->items[i].t != J_STR || b->items[i].t != J_STR || strcmp(a->items[i].s, b->items[i].s) != 0) return 0;
    return 1;
}

static void print_csv(FILE *f, const jval *series, const jval **last_cols)
{
    const jval *name = jget(series, "name"), *tags = jget(series, "tags");
    const jval *cols = jget(series, "columns"), *vals = jget(series, "values");
    size_t nc = cols && cols->t == J_ARR ? cols->count : 0;
    if (!same_columns(*last_cols, cols)) {
        fputs("name,tags", f);
        for (size_t c = 0; c < nc; c++) {
            size_t n;
            const char *t = jtext(&cols->items[c], &n);
            fputc(',', f);
            csv_cell(f, t ? t : "", t ? n : 0);
        }
        fputc('\n', f);
        *last_cols = cols;
    }
    st_buf t;
    st_buf_init(&t);
    tags_text(tags, &t, ",");
    size_t nr = vals && vals->t == J_ARR ? vals->count : 0;
    for (size_t r = 0; r < nr; r++) {
        const jval *row = &vals->items[r];
        csv_cell(f, name && name->t == J_STR ? name->s : "", name && name->t == J_STR ? name->n : 0);
        fputc(',', f);
        csv_cell(f, t.ptr ? t.ptr : "", t.len);
        for (size_t c = 0; c < nc; c++) {
            size_t n = 0;
            const char *s = row->t == J_ARR && c < row->count ? jtext(&row->items[c], &n) : NULL;
            fputc(',', f);
            if (s) csv_cell(f, s, n);
        }
        fputc('\n', f);
    }
    st_buf_fini(&t);
}

/* ---- command ---- */

static void query_usage(FILE *f)
{
    fprintf(f,
            "usage: strata query 'INFLUXQL' [OPTIONS]\n"
            "Run InfluxQL against a running stratad (GET /query; POST for statements that change things).\n\n"
            "  --url URL          server (default http://127.0.0.1:8086)\n"
            "  --db NAME          database\n"
            "  --rp NAME          retention policy\n"
            "  --format F         json (the reply as is), csv or table (default: table on a terminal, else json)\n"
            "  --epoch E          times as integers in ns, u, ms, s, m or h (default RFC3339)\n"
            "  --user U --password P   HTTP Basic credentials\n"
            "  --token T          Authorization: Token T\n"
            "  --timeout S        connect / I/O timeout in seconds (default 300)\n\n"
            "Exit: 0; 1 the server answered an error; 2 usage; 3 the server could not be reached.\n");
}

/* SELECT (without INTO) and SHOW are read-only: GET. */
static int read_only(const char *q)
{
    while (*q && isspace((unsigned char)*q)) q++;
    if (strncasecmp(q, "SHOW", 4) == 0 && !isalnum((unsigned char)q[4])) return 1;
    if (strncasecmp(q, "SELECT", 6) == 0 && !isalnum((unsigned char)q[6])) {
        for (const char *p = q; *p; p++)
            if (strncasecmp(p, "INTO", 4) == 0 && (p == q || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[4]))
                return 0;
        return 1;
    }
    return 0;
}

int tool_query_main(int argc, char **argv)
{
    const char *url = "http://127.0.0.1:8086", *db = NULL, *rp = NULL, *format = NULL, *epoch = NULL;
    const char *user = NULL, *password = NULL, *token = NULL, *q = NULL;
    long timeout_s = 300;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { query_usage(stdout); return Q_OK; }
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (q) { fprintf(stderr, "strata query: give the query as one argument (quote it)\n"); return Q_USAGE; }
            q = a;
            continue;
        }
        char name[64];
        const char *v;
        const char *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 >= argc) { fprintf(stderr, "strata query: %s needs a value\n", a); return Q_USAGE; }
            v = argv[++i];
        }
        if (!strcmp(name, "--url")) url = v;
        else if (!strcmp(name, "--db") || !strcmp(name, "--database")) db = v;
        else if (!strcmp(name, "--rp")) rp = v;
        else if (!strcmp(name, "--format")) format = v;
        else if (!strcmp(name, "--epoch")) epoch = v;
        else if (!strcmp(name, "--user") || !strcmp(name, "--username")) user = v;
        else if (!strcmp(name, "--password")) password = v;
        else if (!strcmp(name, "--token")) token = v;
        else if (!strcmp(name, "--timeout")) {
            char *e;
            errno = 0;
            timeout_s = strtol(v, &e, 10);
            if (errno || *e || e == v || timeout_s < 1 || timeout_s > 86400) {
                fprintf(stderr, "strata query: --timeout must be seconds in [1, 86400], got '%s'\n", v);
                return Q_USAGE;
            }
        } else {
            fprintf(stderr, "strata query: unknown option '%s' (see strata query --help)\n", name);
            return Q_USAGE;
        }
    }
    if (!q || !*q) { fprintf(stderr, "strata query: no query given\n"); query_usage(stderr); return Q_USAGE; }
    int fmt;
    if (!format) fmt = isatty(1) ? 2 : 0;
    else if (!strcmp(format, "json")) fmt = 0;
    else if (!strcmp(format, "csv")) fmt = 1;
    else if (!strcmp(format, "table") || !strcmp(format, "column")) fmt = 2;
    else { fprintf(stderr, "strata query: --format must be json, csv or table, got '%s'\n", format); return Q_USAGE; }
    if (epoch) {
        static const char *const ok[] = { "ns", "n", "u", "us", "ms", "s", "m", "h" };
        int good = 0;
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) good |= !strcmp(epoch, ok[i]);
        if (!good) { fprintf(stderr, "strata query: --epoch must be ns, u, ms, s, m or h, got '%s'\n", epoch); return Q_USAGE; }
    }
    if (token && (user || password)) { fprintf(stderr, "strata query: give --token or --user/--password, not both\n"); return Q_USAGE; }
    if (!user != !password) { fprintf(stderr, "strata query: --user and --password go together\n"); return Q_USAGE; }
    httpc_url u;
    char err[300];
    if (httpc_url_parse(url, &u, err, sizeof err)) { fprintf(stderr, "strata query: --url: %s\n", err); return Q_USAGE; }

    int ret = Q_FAIL;
    st_buf params, auth, etext;
    st_buf_init(&params);
    st_buf_init(&auth);
    st_buf_init(&etext);
    httpc *c = NULL;
    httpc_resp resp;
    httpc_resp_init(&resp);
    jval root;
    memset(&root, 0, sizeof root);

    st_buf_append_str(&params, "q=");
    httpc_urlencode(&params, q, strlen(q));
    if (db) { st_buf_append_str(&params, "&db="); httpc_urlencode(&params, db, strlen(db)); }
    if (rp) { st_buf_append_str(&params, "&rp="); httpc_urlencode(&params, rp, strlen(rp)); }
    if (epoch) st_buf_printf(&params, "&epoch=%s", epoch);
    if (token) st_buf_printf(&auth, "Authorization: Token %s\r\n", token);
    else if (user) {
        st_buf cred;
        st_buf_init(&cred);
        st_buf_printf(&cred, "%s:%s", user, password);
        st_buf_append_str(&auth, "Authorization: Basic ");
        httpc_base64(&auth, cred.ptr, cred.len);
        st_buf_append_str(&auth, "\r\n");
        st_buf_fini(&cred);
    }
    if (!params.ptr) { fprintf(stderr, "strata query: out of memory\n"); goto out; }
    httpc_opts ho = { .connect_timeout_ms = 10000, .io_timeout_ms = (int)(timeout_s * 1000), .headers = auth.ptr };
    if (httpc_create(&u, &ho, &c)) { fprintf(stderr, "strata query: out of memory\n"); goto out; }
    int rc;
    if (read_only(q)) {
        st_buf target;
        st_buf_init(&target);
        st_buf_printf(&target, "/query?%s", params.ptr);
        rc = target.ptr ? httpc_request(c, "GET", target.ptr, NULL, NULL, 0, &resp, NULL, NULL) : ST_ENOMEM;
        st_buf_fini(&target);
    } else {
        rc = httpc_request(c, "POST", "/query", "Content-Type: application/x-www-form-urlencoded\r\n", params.ptr,
                           params.len, &resp, NULL, NULL);
    }
    if (rc) {
        fprintf(stderr, "strata query: %s: %s\n", url, rc == ST_ENOMEM ? "out of memory" : httpc_errmsg(c));
        ret = rc == ST_ENOMEM ? Q_FAIL : Q_UNREACHABLE;
        goto out;
    }
    if (resp.status != 200) {
        httpc_error_text(&resp, &etext);
        fprintf(stderr, "strata query: HTTP %d: %s\n", resp.status, etext.ptr ? etext.ptr : "");
        goto out;
    }
    jparser jp = { resp.body.ptr, resp.body.ptr + resp.body.len, NULL };
    if (!resp.body.ptr || jparse(&jp, &root, 0) != 0) {
        if (fmt == 0 && resp.body.ptr) fwrite(resp.body.ptr, 1, resp.body.len, stdout);
        fprintf(stderr, "strata query: the reply is not JSON (%s)\n", jp.err ? jp.err : "empty");
        goto out;
    }
    if (fmt == 0) fwrite(resp.body.ptr, 1, resp.body.len, stdout);
    ret = Q_OK;
    const jval *e = jget(&root, "error");
    if (e && e->t == J_STR) { fprintf(stderr, "strata query: %s\n", e->s); ret = Q_FAIL; }
    const jval *results = jget(&root, "results");
    int first = 1;
    const jval *last_cols = NULL;
    for (size_t i = 0; results && results->t == J_ARR && i < results->count; i++) {
        const jval *res = &results->items[i];
        const jval *se = jget(res, "error");
        if (se && se->t == J_STR) {
            if (results->count > 1) fprintf(stderr, "strata query: statement %zu: %s\n", i + 1, se->s);
            else fprintf(stderr, "strata query: %s\n", se->s);
            ret = Q_FAIL;
            continue;
        }
        const jval *series = jget(res, "series");
        for (size_t k = 0; series && series->t == J_ARR && k < series->count; k++) {
            if (fmt == 2) print_table(stdout, &series->items[k], &first);
            else if (fmt == 1) print_csv(stdout, &series->items[k], &last_cols);
        }
        const jval *msgs = jget(res, "messages");
        for (size_t k = 0; msgs && msgs->t == J_ARR && k < msgs->count; k++) {
            const jval *t = jget(&msgs->items[k], "text");
            if (t && t->t == J_STR) fprintf(stderr, "strata query: %s\n", t->s);
        }
    }
    if (fflush(stdout) != 0) { fprintf(stderr, "strata query: writing output: %s\n", strerror(errno)); ret = Q_FAIL; }

out:
    jfree(&root);
    httpc_resp_fini(&resp);
    httpc_destroy(c);
    st_buf_fini(&etext);
    st_buf_fini(&auth);
    st_buf_fini(&params);
    return ret;
}
