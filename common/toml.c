/*
 * common/toml.c — the TOML subset parser (see toml.h).
 *
 * One pass over the bytes, recursive descent for values (depth-bounded),
 * building nodes in the document's arena. Owns nothing outside the document.
 * Called by whichever thread loads a config file; no shared state.
 */
#include "common/toml.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/num.h"

#define TOML_MAX_DEPTH 64
#define TOML_MAX_KEY_PARTS 32

/* Table flags: how a table came to be, for the redefinition rules. */
#define F_EXPLICIT 1u /* [header] */
#define F_DOTTED   2u /* created by a dotted key a.b = ... */
#define F_INLINE   4u /* inline table or value array: closed once written */
#define F_AOT      8u /* array built by [[header]] */

typedef struct tentry {
    const char *key;  /* arena; NULL in arrays */
    size_t klen;
    st_toml_node *node;
} tentry;

struct st_toml_node {
    uint8_t type;
    uint8_t flags;
    int line;
    union {
        struct { const char *ptr; size_t len; } s;
        int64_t i;
        double f;
        int b;
        struct { tentry *e; size_t n, cap; } c; /* arrays and tables */
    } u;
};

struct st_toml_doc {
    st_arena arena;
    st_toml_node *root;
};

typedef struct parser {
    const char *p, *end;
    int line;
    const char *name;
    st_arena *a;
    char *err;
    size_t err_size;
    int depth;
    int oom;
} parser;

typedef struct tkey { const char *p; size_t n; } tkey;

__attribute__((format(printf, 2, 3)))
static int perr(parser *ps, const char *fmt, ...)
{
    if (ps->err && ps->err_size) {
        int n = snprintf(ps->err, ps->err_size, "%s:%d: ", ps->name, ps->line);
        if (n >= 0 && (size_t)n < ps->err_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + n, ps->err_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return ST_EPARSE;
}

static int oom(parser *ps)
{
    ps->oom = 1;
    if (ps->err && ps->err_size) snprintf(ps->err, ps->err_size, "%s: out of memory", ps->name);
    return ST_ENOMEM;
}

static st_toml_node *new_node(parser *ps, int type)
{
    st_toml_node *n = st_arena_alloc(ps->a, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->type = (uint8_t)type;
    n->line = ps->line;
    return n;
}

static int add_entry(parser *ps, st_toml_node *c, const char *key, size_t klen, st_toml_node *child)
{
    if (c->u.c.n == c->u.c.cap) {
        size_t ncap = c->u.c.cap ? c->u.c.cap * 2 : 4;
        tentry *ne = st_arena_alloc(ps->a, ncap * sizeof *ne);
        if (!ne) return oom(ps);
        if (c->u.c.n) memcpy(ne, c->u.c.e, c->u.c.n * sizeof *ne);
        c->u.c.e = ne;
        c->u.c.cap = ncap;
    }
    c->u.c.e[c->u.c.n++] = (tentry){ key, klen, child };
    return 0;
}

static st_toml_node *table_find(const st_toml_node *t, const char *key, size_t klen)
{
    for (size_t i = 0; i < t->u.c.n; i++)
        if (t->u.c.e[i].klen == klen && memcmp(t->u.c.e[i].key, key, klen) == 0) return t->u.c.e[i].node;
    return NULL;
}

/* Printable, bounded form of a key for messages. */
static int kshow(tkey k) { return k.n > 60 ? 60 : (int)k.n; }

/* ---- lexing helpers ---- */

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t')) ps->p++;
}

static int at_newline(const parser *ps)
{
    return ps->p < ps->end && (*ps->p == '\n' || (*ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n'));
}

static void eat_newline(parser *ps)
{
    if (*ps->p == '\r') ps->p++;
    ps->p++;
    ps->line++;
}

static int skip_comment(parser *ps)
{
    if (ps->p >= ps->end || *ps->p != '#') return 0;
    while (ps->p < ps->end && *ps->p != '\n') {
        unsigned char c = (unsigned char)*ps->p;
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) return perr(ps, "control character in comment");
        ps->p++;
    }
    return 0;
}

/* Whitespace, comments and newlines (inside arrays). */
static int skip_space_nl(parser *ps)
{
    for (;;) {
        skip_ws(ps);
        int rc = skip_comment(ps);
        if (rc) return rc;
        if (at_newline(ps)) eat_newline(ps);
        else return 0;
    }
}

/* After a key/value or a header: only a comment may follow on the line. */
static int expect_eol(parser *ps, const char *after)
{
    skip_ws(ps);
    int rc = skip_comment(ps);
    if (rc) return rc;
    if (ps->p >= ps->end) return 0;
    if (at_newline(ps)) {
        eat_newline(ps);
        return 0;
    }
    return perr(ps, "unexpected '%c' after %s (expected end of line)", *ps->p, after);
}

static int is_bare(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A "basic" or 'literal' string at ps->p; decoded into the arena. */
static int parse_string(parser *ps, const char **out, size_t *out_len)
{
    char q = *ps->p;
    if (ps->end - ps->p >= 3 && ps->p[1] == q && ps->p[2] == q)
        return perr(ps, "multi-line strings are not supported");
    ps->p++;
    const char *start = ps->p;
    /* Find the closing quote first: the decoded text is never longer. */
    const char *e = start;
    while (e < ps->end && *e != q && *e != '\n') {
        if (q == '"' && *e == '\\' && e + 1 < ps->end && e[1] != '\n') e++;
        e++;
    }
    if (e >= ps->end || *e != q) return perr(ps, "unterminated string");
    char *o = st_arena_alloc_bytes(ps->a, (size_t)(e - start) + 1);
    if (!o) return oom(ps);
    size_t n = 0;
    for (const char *s = start; s < e; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f) return perr(ps, "control character in string");
        if (q == '\'' || c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        s++;
        switch (*s) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case 'b': o[n++] = '\b'; break;
        case 't': o[n++] = '\t'; break;
        case 'n': o[n++] = '\n'; break;
        case 'f': o[n++] = '\f'; break;
        case 'r': o[n++] = '\r'; break;
        case 'u':
        case 'U': {
            int digits = *s == 'u' ? 4 : 8;
            if (e - (s + 1) < digits) return perr(ps, "\\%c needs %d hex digits", *s, digits);
            uint32_t cp = 0;
            for (int i = 1; i <= digits; i++) {
                int h = hexval(s[i]);
                if (h < 0) return perr(ps, "\\%c needs %d hex digits", *s, digits);
                cp = cp << 4 | (uint32_t)h;
            }
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return perr(ps, "\\%c escape is not a Unicode scalar value", *s);
            n += utf8_put(cp, o + n);
            s += digits;
            break;
        }
        default:
            return perr(ps, "invalid escape '\\%c' in string", (unsigned char)*s >= 0x20 ? *s : '?');
        }
    }
    o[n] = 0;
    ps->p = e + 1;
    *out = o;
    *out_len = n;
    return 0;
}

static int parse_simple_key(parser *ps, tkey *k)
{
    if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '\'')) return parse_string(ps, &k->p, &k->n);
    const char *s = ps->p;
    while (ps->p < ps->end && is_bare(*ps->p)) ps->p++;
    if (ps->p == s) {
        if (ps->p >= ps->end || at_newline(ps)) return perr(ps, "expected a key");
        return perr(ps, "invalid character '%c' in key", (unsigned char)*ps->p >= 0x20 ? *ps->p : '?');
    }
    k->n = (size_t)(ps->p - s);
    k->p = st_arena_strndup(ps->a, s, k->n); /* keys outlive the input buffer */
    if (!k->p) return oom(ps);
    return 0;
}

static int parse_key(parser *ps, tkey *parts, int *nparts)
{
    int n = 0;
    for (;;) {
        if (n == TOML_MAX_KEY_PARTS) return perr(ps, "key has more than %d parts", TOML_MAX_KEY_PARTS);
        int rc = parse_simple_key(ps, &parts[n++]);
        if (rc) return rc;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '.') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        *nparts = n;
        return 0;
    }
}

/* ---- numbers ---- */

static int digits_ok(const char *s, size_t n, int base)
{
    /* Digits of the base with '_' only between two digits. */
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_') {
            if (i == 0 || i + 1 == n || s[i + 1] == '_') return 0;
            continue;
        }
        int v = hexval(c);
        if (v < 0 || v >= base) return 0;
    }
    return 1;
}

static int parse_number(parser *ps, st_toml_node *node)
{
    const char *s = ps->p;
    while (ps->p < ps->end && (is_bare(*ps->p) || *ps->p == '+' || *ps->p == '.' || *ps->p == ':')) ps->p++;
    size_t n = (size_t)(ps->p - s);
    if (n > 4 && s[4] == '-' && s[0] >= '0' && s[0] <= '9') return perr(ps, "dates and times are not supported");
    if (memchr(s, ':', n)) return perr(ps, "dates and times are not supported");
    const char *t = s;
    size_t tn = n;
    int neg = 0;
    if (tn && (*t == '+' || *t == '-')) {
        neg = *t == '-';
        t++;
        tn--;
    }
    if (tn == 3 && (memcmp(t, "inf", 3) == 0 || memcmp(t, "nan", 3) == 0)) {
        node->type = ST_TOML_FLOAT;
        node->u.f = t[0] == 'i' ? (neg ? -__builtin_inf() : __builtin_inf()) : (neg ? -__builtin_nan("") : __builtin_nan(""));
        return 0;
    }
    if (n > 64) return perr(ps, "number too long");
    char clean[72];
    size_t cn = 0;
    if (tn > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
        int base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
        if (t != s) return perr(ps, "a sign is not allowed on a %s integer", base == 16 ? "hex" : base == 8 ? "octal" : "binary");
        if (!digits_ok(t + 2, tn - 2, base)) return perr(ps, "invalid number '%.*s'", (int)n, s);
        uint64_t v = 0;
        for (size_t i = 2; i < tn; i++) {
            if (t[i] == '_') continue;
            uint64_t d = (uint64_t)hexval(t[i]);
            if (v > (UINT64_MAX - d) / (uint64_t)base) return perr(ps, "integer out of range");
            v = v * (uint64_t)base + d;
        }
        if (v > INT64_MAX) return perr(ps, "integer out of range");
        node->type = ST_TOML_INT;
        node->u.i = (int64_t)v;
        return 0;
    }
    /* Decimal: int [ '.' digits ] [ e [sign] digits ] */
    size_t i = 0;
    while (i < tn && ((t[i] >= '0' && t[i] <= '9') || t[i] == '_')) i++;
    if (!digits_ok(t, i, 10)) goto bad;
    if (i > 1 && t[0] == '0') return perr(ps, "leading zeros are not allowed in '%.*s'", (int)n, s);
    int is_float = 0;
    if (neg) clean[cn++] = '-';
    for (size_t j = 0; j < i; j++) if (t[j] != '_') clean[cn++] = t[j];
    if (i < tn && t[i] == '.') {
        is_float = 1;
        size_t f = ++i;
        while (i < tn && ((t[i] >= '0' && t[i] <= '9') || t[i] == '_')) i++;
        if (!digits_ok(t + f, i - f, 10)) goto bad;
        clean[cn++] = '.';
        for (size_t j = f; j < i; j++) if (t[j] != '_') clean[cn++] = t[j];
    }
    if (i < tn && (t[i] == 'e' || t[i] == 'E')) {
        is_float = 1;
        clean[cn++] = 'e';
        i++;
        if (i < tn && (t[i] == '+' || t[i] == '-')) {
            if (t[i] == '-') clean[cn++] = '-';
            i++;
        }
        size_t f = i;
        while (i < tn && ((t[i] >= '0' && t[i] <= '9') || t[i] == '_')) i++;
        if (!digits_ok(t + f, i - f, 10)) goto bad;
        for (size_t j = f; j < i; j++) if (t[j] != '_') clean[cn++] = t[j];
    }
    if (i != tn) goto bad;
    if (is_float) {
        double d;
        int rc = st_parse_double(clean, cn, 0, &d);
        if (rc == ST_ERANGE) return perr(ps, "float out of range");
        if (rc) goto bad;
        node->type = ST_TOML_FLOAT;
        node->u.f = d;
    } else {
        int64_t v;
        int rc = st_parse_int64(clean, cn, &v);
        if (rc == ST_ERANGE) return perr(ps, "integer out of range");
        if (rc) goto bad;
        node->type = ST_TOML_INT;
        node->u.i = v;
    }
    return 0;
bad:
    return perr(ps, "invalid number '%.*s'", (int)(n > 40 ? 40 : n), s);
}

/* ---- values and tables ---- */

static int parse_value(parser *ps, st_toml_node **out);

/* Insert key parts into table t: intermediate parts make (or enter) tables
 * created by dotted keys; the last must be new. */
static int insert_kv(parser *ps, st_toml_node *t, tkey *parts, int nparts, st_toml_node *val)
{
    for (int i = 0; i < nparts - 1; i++) {
        st_toml_node *c = table_find(t, parts[i].p, parts[i].n);
        if (!c) {
            c = new_node(ps, ST_TOML_TABLE);
            if (!c) return oom(ps);
            c->flags = F_DOTTED;
            int rc = add_entry(ps, t, parts[i].p, parts[i].n, c);
            if (rc) return rc;
        } else if (c->type != ST_TOML_TABLE || (c->flags & F_INLINE)) {
            return perr(ps, "cannot add keys to '%.*s': it is already defined as %s", kshow(parts[i]), parts[i].p,
                        c->type == ST_TOML_TABLE ? "an inline table" : st_toml_type_name((st_toml_type)c->type));
        }
        t = c;
    }
    tkey last = parts[nparts - 1];
    if (table_find(t, last.p, last.n)) return perr(ps, "duplicate key '%.*s'", kshow(last), last.p);
    return add_entry(ps, t, last.p, last.n, val);
}

static int parse_array(parser *ps, st_toml_node *arr)
{
    ps->p++; /* '[' */
    for (;;) {
        int rc = skip_space_nl(ps);
        if (rc) return rc;
        if (ps->p >= ps->end) return perr(ps, "unterminated array (expected ']')");
        if (*ps->p == ']') break;
        st_toml_node *v;
        rc = parse_value(ps, &v);
        if (rc) return rc;
        rc = add_entry(ps, arr, NULL, 0, v);
        if (rc) return rc;
        rc = skip_space_nl(ps);
        if (rc) return rc;
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') break;
        if (ps->p >= ps->end) return perr(ps, "unterminated array (expected ']')");
        return perr(ps, "expected ',' or ']' in array");
    }
    ps->p++;
    return 0;
}

static void close_inline(st_toml_node *t)
{
    t->flags |= F_INLINE;
    for (size_t i = 0; i < t->u.c.n; i++)
        if (t->u.c.e[i].node->type == ST_TOML_TABLE) close_inline(t->u.c.e[i].node);
}

static int parse_inline_table(parser *ps, st_toml_node *t)
{
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        close_inline(t);
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || at_newline(ps)) return perr(ps, "unterminated inline table (expected '}' on the same line)");
        if (*ps->p == '}') break; /* trailing comma: accepted */
        tkey parts[TOML_MAX_KEY_PARTS];
        int np;
        int line = ps->line;
        int rc = parse_key(ps, parts, &np);
        if (rc) return rc;
        if (ps->p >= ps->end || *ps->p != '=') return perr(ps, "expected '=' after key");
        ps->p++;
        skip_ws(ps);
        st_toml_node *v;
        rc = parse_value(ps, &v);
        if (rc) return rc;
        v->line = line;
        rc = insert_kv(ps, t, parts, np, v);
        if (rc) return rc;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') break;
        if (ps->p >= ps->end || at_newline(ps))
            return perr(ps, "unterminated inline table (expected '}' on the same line)");
        return perr(ps, "expected ',' or '}' in inline table");
    }
    ps->p++;
    close_inline(t);
    return 0;
}

static int match_word(const parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0) return 0;
    return ps->p + n == ps->end || !is_bare(ps->p[n]);
}

static int parse_value(parser *ps, st_toml_node **out)
{
    if (ps->p >= ps->end || at_newline(ps)) return perr(ps, "expected a value");
    st_toml_node *n = new_node(ps, ST_TOML_STRING);
    if (!n) return oom(ps);
    int rc = 0;
    char c = *ps->p;
    if (c == '"' || c == '\'') {
        rc = parse_string(ps, &n->u.s.ptr, &n->u.s.len);
    } else if (c == '[' || c == '{') {
        if (++ps->depth > TOML_MAX_DEPTH) return perr(ps, "values nested more than %d deep", TOML_MAX_DEPTH);
        if (c == '[') {
            n->type = ST_TOML_ARRAY;
            n->flags = F_INLINE;
            rc = parse_array(ps, n);
        } else {
            n->type = ST_TOML_TABLE;
            rc = parse_inline_table(ps, n);
        }
        ps->depth--;
    } else if (match_word(ps, "true") || match_word(ps, "false")) {
        n->type = ST_TOML_BOOL;
        n->u.b = c == 't';
        ps->p += n->u.b ? 4 : 5;
    } else if ((c >= '0' && c <= '9') || c == '+' || c == '-' || match_word(ps, "inf") || match_word(ps, "nan")) {
        rc = parse_number(ps, n);
    } else {
        return perr(ps, "expected a value (string, number, true/false, array or inline table)");
    }
    if (rc) return rc;
    *out = n;
    return 0;
}

static int parse_header(parser *ps, st_toml_node *root, st_toml_node **cur)
{
    int aot = ps->end - ps->p >= 2 && ps->p[1] == '[';
    ps->p += aot ? 2 : 1;
    skip_ws(ps);
    tkey parts[TOML_MAX_KEY_PARTS];
    int np;
    int rc = parse_key(ps, parts, &np);
    if (rc) return rc;
    if (ps->p >= ps->end || *ps->p != ']' || (aot && (ps->end - ps->p < 2 || ps->p[1] != ']')))
        return perr(ps, "expected '%s' to close the table header", aot ? "]]" : "]");
    ps->p += aot ? 2 : 1;
    st_toml_node *t = root;
    for (int i = 0; i < np - 1; i++) {
        st_toml_node *c = table_find(t, parts[i].p, parts[i].n);
        if (!c) {
            c = new_node(ps, ST_TOML_TABLE);
            if (!c) return oom(ps);
            rc = add_entry(ps, t, parts[i].p, parts[i].n, c);
            if (rc) return rc;
        } else if (c->type == ST_TOML_ARRAY && (c->flags & F_AOT) && c->u.c.n) {
            c = c->u.c.e[c->u.c.n - 1].node;
        } else if (c->type != ST_TOML_TABLE || (c->flags & F_INLINE)) {
            return perr(ps, "'%.*s' is already defined as %s", kshow(parts[i]), parts[i].p,
                        c->type == ST_TOML_TABLE ? "an inline table" : st_toml_type_name((st_toml_type)c->type));
        }
        t = c;
    }
    tkey last = parts[np - 1];
    st_toml_node *c = table_find(t, last.p, last.n);
    if (aot) {
        if (!c) {
            c = new_node(ps, ST_TOML_ARRAY);
            if (!c) return oom(ps);
            c->flags = F_AOT;
            rc = add_entry(ps, t, last.p, last.n, c);
            if (rc) return rc;
        } else if (c->type != ST_TOML_ARRAY || !(c->flags & F_AOT)) {
            return perr(ps, "'%.*s' is already defined as %s, not an array of tables", kshow(last), last.p,
                        st_toml_type_name((st_toml_type)c->type));
        }
        st_toml_node *nt = new_node(ps, ST_TOML_TABLE);
        if (!nt) return oom(ps);
        nt->flags = F_EXPLICIT;
        rc = add_entry(ps, c, NULL, 0, nt);
        if (rc) return rc;
        *cur = nt;
    } else {
        if (!c) {
            c = new_node(ps, ST_TOML_TABLE);
            if (!c) return oom(ps);
            rc = add_entry(ps, t, last.p, last.n, c);
            if (rc) return rc;
        } else if (c->type != ST_TOML_TABLE || (c->flags & (F_EXPLICIT | F_DOTTED | F_INLINE))) {
            if (c->type == ST_TOML_TABLE) return perr(ps, "table [%.*s] is defined twice", kshow(last), last.p);
            return perr(ps, "'%.*s' is already defined as %s", kshow(last), last.p, st_toml_type_name((st_toml_type)c->type));
        }
        c->flags |= F_EXPLICIT;
        c->line = ps->line;
        *cur = c;
    }
    return expect_eol(ps, "table header");
}

static int parse_doc(parser *ps, st_toml_node *root)
{
    st_toml_node *cur = root;
    if (ps->end - ps->p >= 3 && memcmp(ps->p, "\xEF\xBB\xBF", 3) == 0) ps->p += 3;
    while (ps->p < ps->end) {
        skip_ws(ps);
        if (ps->p >= ps->end) break;
        if (at_newline(ps)) {
            eat_newline(ps);
            continue;
        }
        int rc;
        if (*ps->p == '#') {
            rc = expect_eol(ps, "comment");
        } else if (*ps->p == '[') {
            rc = parse_header(ps, root, &cur);
        } else {
            tkey parts[TOML_MAX_KEY_PARTS];
            int np;
            int line = ps->line;
            rc = parse_key(ps, parts, &np);
            if (rc) return rc;
            if (ps->p >= ps->end || *ps->p != '=') return perr(ps, "expected '=' after key");
            ps->p++;
            skip_ws(ps);
            st_toml_node *v;
            rc = parse_value(ps, &v);
            if (rc) return rc;
            v->line = line;
            rc = insert_kv(ps, cur, parts, np, v);
            if (rc) return rc;
            rc = expect_eol(ps, "value");
        }
        if (rc) return rc;
    }
    return 0;
}

int st_toml_parse(const char *buf, size_t len, const char *name, st_toml_doc **out, char *err, size_t err_size)
{
    if (err && err_size) err[0] = 0;
    st_toml_doc *doc = st_malloc(sizeof *doc);
    if (!doc) {
        if (err && err_size) snprintf(err, err_size, "%s: out of memory", name ? name : "<input>");
        return ST_ENOMEM;
    }
    st_arena_init(&doc->arena, 4096);
    parser ps = { buf, buf + len, 1, name ? name : "<input>", &doc->arena, err, err_size, 0, 0 };
    int rc;
    doc->root = new_node(&ps, ST_TOML_TABLE);
    if (!doc->root) rc = oom(&ps);
    else rc = parse_doc(&ps, doc->root);
    if (rc) {
        st_toml_free(doc);
        return ps.oom ? ST_ENOMEM : rc;
    }
    *out = doc;
    return 0;
}

void st_toml_free(st_toml_doc *doc)
{
    if (!doc) return;
    st_arena_fini(&doc->arena);
    st_free(doc);
}

/* ---- reading ---- */

const st_toml_node *st_toml_root(const st_toml_doc *doc) { return doc->root; }
st_toml_type st_toml_node_type(const st_toml_node *n) { return (st_toml_type)n->type; }
int st_toml_node_line(const st_toml_node *n) { return n->line; }

const char *st_toml_type_name(st_toml_type t)
{
    switch (t) {
    case ST_TOML_STRING: return "string";
    case ST_TOML_INT: return "integer";
    case ST_TOML_FLOAT: return "float";
    case ST_TOML_BOOL: return "boolean";
    case ST_TOML_ARRAY: return "array";
    case ST_TOML_TABLE: return "table";
    }
    return "unknown";
}

const st_toml_node *st_toml_get(const st_toml_node *t, const char *path)
{
    const char *p = path;
    for (;;) {
        if (!t || t->type != ST_TOML_TABLE) return NULL;
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        const st_toml_node *c = table_find(t, p, n);
        if (!dot || !c) return c;
        t = c;
        p = dot + 1;
    }
}

int st_toml_as_string(const st_toml_node *n, const char **s, size_t *len)
{
    if (!n || n->type != ST_TOML_STRING) return ST_EINVAL;
    *s = n->u.s.ptr;
    if (len) *len = n->u.s.len;
    return 0;
}

int st_toml_as_int(const st_toml_node *n, int64_t *v)
{
    if (!n || n->type != ST_TOML_INT) return ST_EINVAL;
    *v = n->u.i;
    return 0;
}

int st_toml_as_float(const st_toml_node *n, double *v)
{
    if (n && n->type == ST_TOML_INT) { *v = (double)n->u.i; return 0; }
    if (!n || n->type != ST_TOML_FLOAT) return ST_EINVAL;
    *v = n->u.f;
    return 0;
}

int st_toml_as_bool(const st_toml_node *n, int *v)
{
    if (!n || n->type != ST_TOML_BOOL) return ST_EINVAL;
    *v = n->u.b;
    return 0;
}

int st_toml_get_string(const st_toml_node *t, const char *path, const char **s)
{
    const st_toml_node *n = st_toml_get(t, path);
    return n ? st_toml_as_string(n, s, NULL) : ST_ENOTFOUND;
}

int st_toml_get_int(const st_toml_node *t, const char *path, int64_t *v)
{
    const st_toml_node *n = st_toml_get(t, path);
    return n ? st_toml_as_int(n, v) : ST_ENOTFOUND;
}

int st_toml_get_float(const st_toml_node *t, const char *path, double *v)
{
    const st_toml_node *n = st_toml_get(t, path);
    return n ? st_toml_as_float(n, v) : ST_ENOTFOUND;
}

int st_toml_get_bool(const st_toml_node *t, const char *path, int *v)
{
    const st_toml_node *n = st_toml_get(t, path);
    return n ? st_toml_as_bool(n, v) : ST_ENOTFOUND;
}

size_t st_toml_array_count(const st_toml_node *a)
{
    return a && a->type == ST_TOML_ARRAY ? a->u.c.n : 0;
}

const st_toml_node *st_toml_array_at(const st_toml_node *a, size_t i)
{
    if (!a || a->type != ST_TOML_ARRAY || i >= a->u.c.n) return NULL;
    return a->u.c.e[i].node;
}

int st_toml_array_is_tables(const st_toml_node *a)
{
    return a && a->type == ST_TOML_ARRAY && (a->flags & F_AOT) != 0;
}

size_t st_toml_table_count(const st_toml_node *t)
{
    return t && t->type == ST_TOML_TABLE ? t->u.c.n : 0;
}

const st_toml_node *st_toml_table_at(const st_toml_node *t, size_t i, const char **key)
{
    if (!t || t->type != ST_TOML_TABLE || i >= t->u.c.n) return NULL;
    if (key) *key = t->u.c.e[i].key;
    return t->u.c.e[i].node;
}
