/*
 * query/iql_parse.c — recursive-descent InfluxQL parser (see iql.h).
 * Everything it builds lives in the caller's arena; errors follow
 * InfluxDB's parser wording ("found X, expected Y at line L, char C").
 * Recursion is bounded by IQL_MAX_DEPTH. Any thread.
 */
#include "query/iql.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/num.h"
#include "common/timefmt.h"

typedef struct parser {
    iql_lexer lx;
    st_arena *a;
    char *err;
    size_t err_cap;
    int failed;
    int depth;
} parser;

/* ---- helpers ---- */

static int fail_at(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(parser *p, size_t pos, const char *fmt, ...)
{
    if (p->failed) return ST_EPARSE;
    p->failed = 1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, ch;
    iql_pos_linechar(p->lx.src, p->lx.len, pos, &line, &ch);
    if (p->err_cap) snprintf(p->err, p->err_cap, "%s at line %d, char %d", msg, line, ch);
    return ST_EPARSE;
}

static int fail_plain(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_plain(parser *p, const char *fmt, ...)
{
    if (p->failed) return ST_EPARSE;
    p->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    if (p->err_cap) vsnprintf(p->err, p->err_cap, fmt, ap);
    va_end(ap);
    return ST_EPARSE;
}

/* What the "found X" part shows: EOF, keyword names upper-case, otherwise
 * the literal (quoted forms without their quotes, as InfluxDB does). */
static void tokstr(const iql_token *t, char *out, size_t cap)
{
    if (t->tok == IQL_T_EOF) { snprintf(out, cap, "EOF"); return; }
    if (t->tok >= IQL_T_KW_FIRST || t->tok == IQL_T_AND || t->tok == IQL_T_OR) {
        snprintf(out, cap, "%s", iql_tok_name(t->tok));
        return;
    }
    st_slice l = t->lit;
    if ((t->tok == IQL_T_STRING || t->tok == IQL_T_IDENT) && l.len >= 2 && (l.ptr[0] == '"' || l.ptr[0] == '\'')) {
        l.ptr++;
        l.len -= 2;
    }
    if (l.len > 200) l.len = 200;
    snprintf(out, cap, "%.*s", (int)l.len, l.ptr);
}

static int expected(parser *p, const iql_token *t, const char *what)
{
    char f[256];
    if (t->tok == IQL_T_BADSTRING) return fail_at(p, t->pos, "found %s, expected %s", "unterminated string", what);
    if (t->tok == IQL_T_BADESCAPE) {
        tokstr(t, f, sizeof f);
        return fail_at(p, t->pos, "bad escape: %s", f);
    }
    tokstr(t, f, sizeof f);
    return fail_at(p, t->pos, "found %s, expected %s", f, what);
}

static iql_token scan(parser *p) { return iql_lex_next(&p->lx); }
static void unscan(parser *p, const iql_token *t) { p->lx.pos = t->pos; }
static iql_token peek(parser *p)
{
    iql_token t = scan(p);
    unscan(p, &t);
    return t;
}

static int lit_ieq(const iql_token *t, const char *s)
{
    size_t n = strlen(s);
    return t->tok == IQL_T_IDENT && t->lit.len == n && strncasecmp(t->lit.ptr, s, n) == 0;
}

static void *alloc0(parser *p, size_t n)
{
    void *m = st_arena_alloc(p->a, n);
    if (m) memset(m, 0, n);
    return m;
}

/* Append one element to an arena array (doubling). */
static int grow(parser *p, void **arr, size_t *n, size_t *cap, size_t elem)
{
    if (*n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    void *m = st_arena_alloc(p->a, nc * elem);
    if (!m) return ST_ENOMEM;
    if (*n) memcpy(m, *arr, *n * elem);
    *arr = m;
    *cap = nc;
    return 0;
}

/* Identifier token -> unescaped name. */
static int ident_value(parser *p, const iql_token *t, st_slice *out)
{
    if (t->lit.len >= 2 && t->lit.ptr[0] == '"') {
        int rc = iql_unquote(p->a, t->lit.ptr + 1, t->lit.len - 2, '"', out);
        if (rc == ST_EPARSE) return fail_at(p, t->pos, "bad escape");
        return rc;
    }
    char *d = st_arena_strndup(p->a, t->lit.ptr, t->lit.len);
    if (!d) return ST_ENOMEM;
    *out = (st_slice){ d, t->lit.len };
    return 0;
}

static int parse_ident(parser *p, st_slice *out)
{
    iql_token t = scan(p);
    if (t.tok != IQL_T_IDENT) return expected(p, &t, "identifier");
    return ident_value(p, &t, out);
}

static int string_value(parser *p, const iql_token *t, st_slice *out)
{
    int rc = iql_unquote(p->a, t->lit.ptr + 1, t->lit.len - 2, '\'', out);
    if (rc == ST_EPARSE) return fail_at(p, t->pos, "bad escape");
    return rc;
}

static int regex_value(parser *p, const iql_token *t, st_slice *out)
{
    return iql_unquote(p->a, t->lit.ptr + 1, t->lit.len - 2, '/', out);
}

/* An identifier or a /regex/ where the grammar allows either. */
static int parse_regex_tok(parser *p, const iql_token *t, st_slice *out)
{
    iql_token r = iql_lex_regex(&p->lx, t->pos);
    if (r.tok != IQL_T_REGEX) return fail_at(p, t->pos, "found %s, expected regex", "unterminated regex");
    return regex_value(p, &r, out);
}

static int parse_int(parser *p, int64_t *out)
{
    iql_token t = scan(p);
    if (t.tok != IQL_T_INTEGER) return expected(p, &t, "integer");
    int64_t v;
    if (st_parse_int64(t.lit.ptr, t.lit.len, &v) != 0) return fail_at(p, t.pos, "unable to parse integer");
    *out = v;
    return 0;
}

static int parse_duration_tok(parser *p, const iql_token *t, int64_t *out)
{
    if (t->tok != IQL_T_DURATION) return expected(p, t, "duration");
    if (st_duration_parse(t->lit.ptr, t->lit.len, out) != 0) return fail_at(p, t->pos, "invalid duration");
    return 0;
}

/* ---- expressions ---- */

static int parse_expr(parser *p, iql_expr **out);

static iql_expr *new_expr(parser *p, iql_expr_kind k, size_t pos)
{
    iql_expr *e = alloc0(p, sizeof *e);
    if (e) { e->kind = k; e->pos = pos; e->cast = (st_slice){ "", 0 }; e->name = e->cast; e->s = e->cast; }
    return e;
}

static int parse_call_args(parser *p, iql_expr *e)
{
    size_t cap = 0;
    iql_token t = scan(p);
    if (t.tok == IQL_T_RPAREN) return 0;
    unscan(p, &t);
    for (;;) {
        iql_expr *arg;
        int rc = parse_expr(p, &arg);
        if (rc) return rc;
        if ((rc = grow(p, (void **)&e->args, &e->nargs, &cap, sizeof *e->args))) return rc;
        e->args[e->nargs++] = arg;
        t = scan(p);
        if (t.tok == IQL_T_RPAREN) return 0;
        if (t.tok != IQL_T_COMMA) return expected(p, &t, ", or )");
    }
}

static int parse_unary(parser *p, iql_expr **out)
{
    iql_token t = scan(p);
    iql_expr *e;
    int rc;
    switch (t.tok) {
    case IQL_T_LPAREN: {
        if (++p->depth > IQL_MAX_DEPTH) return fail_at(p, t.pos, "expression nested too deeply");
        iql_expr *inner;
        if ((rc = parse_expr(p, &inner))) return rc;
        p->depth--;
        iql_token r = scan(p);
        if (r.tok != IQL_T_RPAREN) return expected(p, &r, ")");
        if (!(e = new_expr(p, IQL_E_PAREN, t.pos))) return ST_ENOMEM;
        e->lhs = inner;
        *out = e;
        return 0;
    }
    case IQL_T_DISTINCT: {
        /* distinct(x) is a call; "DISTINCT x" the same call */
        iql_token n = peek(p);
        if (n.tok != IQL_T_LPAREN) {
            iql_expr *arg;
            iql_token a = scan(p);
            if (a.tok != IQL_T_IDENT) return expected(p, &a, "identifier");
            if (!(arg = new_expr(p, IQL_E_IDENT, a.pos))) return ST_ENOMEM;
            if ((rc = ident_value(p, &a, &arg->name))) return rc;
            if (!(e = new_expr(p, IQL_E_CALL, t.pos))) return ST_ENOMEM;
            e->name = (st_slice){ "distinct", 8 };
            e->args = st_arena_alloc(p->a, sizeof *e->args);
            if (!e->args) return ST_ENOMEM;
            e->args[0] = arg;
            e->nargs = 1;
            *out = e;
            return 0;
        }
    }
    /* fall through */
    case IQL_T_IDENT: {
        iql_token n = peek(p);
        if (n.tok == IQL_T_LPAREN && (t.tok == IQL_T_DISTINCT || t.lit.ptr[0] != '"')) {
            scan(p);
            if (++p->depth > IQL_MAX_DEPTH) return fail_at(p, t.pos, "expression nested too deeply");
            if (!(e = new_expr(p, IQL_E_CALL, t.pos))) return ST_ENOMEM;
            char *nm = st_arena_strndup(p->a, t.lit.ptr, t.lit.len);
            if (!nm) return ST_ENOMEM;
            for (size_t i = 0; i < t.lit.len; i++)
                if (nm[i] >= 'A' && nm[i] <= 'Z') nm[i] = (char)(nm[i] + 32);
            e->name = (st_slice){ nm, t.lit.len };
            if ((rc = parse_call_args(p, e))) return rc;
            p->depth--;
            *out = e;
            return 0;
        }
        if (!(e = new_expr(p, IQL_E_IDENT, t.pos))) return ST_ENOMEM;
        if ((rc = ident_value(p, &t, &e->name))) return rc;
        if (n.tok == IQL_T_DOUBLECOLON) {
            scan(p);
            iql_token c = scan(p);
            if (c.tok != IQL_T_IDENT && c.tok != IQL_T_FIELD && c.tok != IQL_T_TAG)
                return expected(p, &c, "float, integer, string, boolean, field, tag");
            char *cs = st_arena_strndup(p->a, c.lit.ptr, c.lit.len);
            if (!cs) return ST_ENOMEM;
            for (size_t i = 0; i < c.lit.len; i++)
                if (cs[i] >= 'A' && cs[i] <= 'Z') cs[i] = (char)(cs[i] + 32);
            e->cast = (st_slice){ cs, c.lit.len };
        }
        *out = e;
        return 0;
    }
    case IQL_T_STRING:
        if (!(e = new_expr(p, IQL_E_STRING, t.pos))) return ST_ENOMEM;
        if ((rc = string_value(p, &t, &e->s))) return rc;
        *out = e;
        return 0;
    case IQL_T_INTEGER:
        if (!(e = new_expr(p, IQL_E_INTEGER, t.pos))) return ST_ENOMEM;
        if (st_parse_int64(t.lit.ptr, t.lit.len, &e->i) != 0) {
            /* too large for an integer: InfluxDB reads it as a number */
            e->kind = IQL_E_NUMBER;
            if (st_parse_double(t.lit.ptr, t.lit.len, 0, &e->f) != 0)
                return fail_at(p, t.pos, "unable to parse number");
        }
        *out = e;
        return 0;
    case IQL_T_NUMBER:
        if (!(e = new_expr(p, IQL_E_NUMBER, t.pos))) return ST_ENOMEM;
        if (st_parse_double(t.lit.ptr, t.lit.len, 0, &e->f) != 0) return fail_at(p, t.pos, "unable to parse number");
        *out = e;
        return 0;
    case IQL_T_DURATION:
        if (!(e = new_expr(p, IQL_E_DURATION, t.pos))) return ST_ENOMEM;
        if ((rc = parse_duration_tok(p, &t, &e->i))) return rc;
        *out = e;
        return 0;
    case IQL_T_TRUE:
    case IQL_T_FALSE:
        if (!(e = new_expr(p, IQL_E_BOOL, t.pos))) return ST_ENOMEM;
        e->i = t.tok == IQL_T_TRUE;
        *out = e;
        return 0;
    case IQL_T_DIV:
        if (!(e = new_expr(p, IQL_E_REGEX, t.pos))) return ST_ENOMEM;
        if ((rc = parse_regex_tok(p, &t, &e->s))) return rc;
        *out = e;
        return 0;
    case IQL_T_MUL:
        if (!(e = new_expr(p, IQL_E_WILDCARD, t.pos))) return ST_ENOMEM;
        if (peek(p).tok == IQL_T_DOUBLECOLON) {
            scan(p);
            iql_token c = scan(p);
            if (c.tok == IQL_T_FIELD) e->cast = (st_slice){ "field", 5 };
            else if (c.tok == IQL_T_TAG) e->cast = (st_slice){ "tag", 3 };
            else return expected(p, &c, "field, tag");
        }
        *out = e;
        return 0;
    case IQL_T_BOUNDPARAM:
        if (!(e = new_expr(p, IQL_E_PARAM, t.pos))) return ST_ENOMEM;
        e->name = (st_slice){ t.lit.ptr + 1, t.lit.len - 1 };
        *out = e;
        return 0;
    case IQL_T_SUB:
    case IQL_T_ADD: {
        iql_token n = scan(p);
        if (n.tok != IQL_T_INTEGER && n.tok != IQL_T_NUMBER && n.tok != IQL_T_DURATION) {
            unscan(p, &n);
            if (t.tok == IQL_T_ADD) return expected(p, &t, "identifier, string, number, bool");
            /* -expr: 0 - expr is not InfluxQL; -"v" is (a unary negation) */
            if (++p->depth > IQL_MAX_DEPTH) return fail_at(p, t.pos, "expression nested too deeply");
            iql_expr *inner;
            if ((rc = parse_unary(p, &inner))) return rc;
            p->depth--;
            iql_expr *m1 = new_expr(p, IQL_E_INTEGER, t.pos);
            if (!m1 || !(e = new_expr(p, IQL_E_BINARY, t.pos))) return ST_ENOMEM;
            m1->i = -1;
            e->op = IQL_T_MUL;
            e->lhs = m1;
            e->rhs = inner;
            *out = e;
            return 0;
        }
        /* a signed literal: scan it together with its sign */
        iql_token whole = n;
        whole.pos = t.pos;
        whole.lit = (st_slice){ t.lit.ptr, n.end - t.pos };
        if (n.tok == IQL_T_INTEGER) {
            if (!(e = new_expr(p, IQL_E_INTEGER, t.pos))) return ST_ENOMEM;
            if (t.tok == IQL_T_SUB) {
                if (st_parse_int64(whole.lit.ptr, whole.lit.len, &e->i) != 0) {
                    e->kind = IQL_E_NUMBER;
                    if (st_parse_double(whole.lit.ptr, whole.lit.len, 0, &e->f) != 0)
                        return fail_at(p, t.pos, "unable to parse number");
                }
            } else if (st_parse_int64(n.lit.ptr, n.lit.len, &e->i) != 0) {
                return fail_at(p, t.pos, "unable to parse integer");
            }
        } else if (n.tok == IQL_T_NUMBER) {
            if (!(e = new_expr(p, IQL_E_NUMBER, t.pos))) return ST_ENOMEM;
            if (st_parse_double(n.lit.ptr, n.lit.len, 0, &e->f) != 0) return fail_at(p, t.pos, "unable to parse number");
            if (t.tok == IQL_T_SUB) e->f = -e->f;
        } else {
            if (!(e = new_expr(p, IQL_E_DURATION, t.pos))) return ST_ENOMEM;
            if (t.tok == IQL_T_SUB) {
                if (st_duration_parse(whole.lit.ptr, whole.lit.len, &e->i) != 0) return fail_at(p, t.pos, "invalid duration");
            } else if ((rc = parse_duration_tok(p, &n, &e->i))) {
                return rc;
            }
        }
        *out = e;
        return 0;
    }
    default:
        return expected(p, &t, "identifier, string, number, bool");
    }
}

static int prec(iql_tok t)
{
    switch (t) {
    case IQL_T_OR: return 1;
    case IQL_T_AND: return 2;
    case IQL_T_EQ: case IQL_T_NEQ: case IQL_T_EQREGEX: case IQL_T_NEQREGEX:
    case IQL_T_LT: case IQL_T_LTE: case IQL_T_GT: case IQL_T_GTE: return 4;
    case IQL_T_ADD: case IQL_T_SUB: case IQL_T_BITOR: case IQL_T_BITXOR: return 5;
    case IQL_T_MUL: case IQL_T_DIV: case IQL_T_MOD: case IQL_T_BITAND: return 6;
    default: return 0;
    }
}

static int parse_binary(parser *p, int min_prec, iql_expr **out)
{
    iql_expr *lhs;
    int rc;
    if (++p->depth > IQL_MAX_DEPTH) return fail_at(p, p->lx.pos, "expression nested too deeply");
    if ((rc = parse_unary(p, &lhs))) return rc;
    for (;;) {
        iql_token op = peek(p);
        int pr = prec(op.tok);
        if (pr == 0 || pr < min_prec) break;
        scan(p);
        iql_expr *rhs;
        if (op.tok == IQL_T_EQREGEX || op.tok == IQL_T_NEQREGEX) {
            iql_token r = scan(p);
            if (r.tok != IQL_T_DIV) {
                /* InfluxDB also accepts a bound parameter here; we do not */
                return expected(p, &r, "regex");
            }
            if (!(rhs = new_expr(p, IQL_E_REGEX, r.pos))) return ST_ENOMEM;
            if ((rc = parse_regex_tok(p, &r, &rhs->s))) return rc;
        } else if ((rc = parse_binary(p, pr + 1, &rhs))) {
            return rc;
        }
        iql_expr *e = new_expr(p, IQL_E_BINARY, op.pos);
        if (!e) return ST_ENOMEM;
        e->op = op.tok;
        e->lhs = lhs;
        e->rhs = rhs;
        lhs = e;
    }
    p->depth--;
    *out = lhs;
    return 0;
}

static int parse_expr(parser *p, iql_expr **out) { return parse_binary(p, 1, out); }

/* ---- clauses ---- */

static int parse_source(parser *p, iql_source *src)
{
    memset(src, 0, sizeof *src);
    src->db = src->rp = (st_slice){ "", 0 };
    iql_token t = scan(p);
    if (t.tok == IQL_T_DIV) {
        src->is_regex = 1;
        return parse_regex_tok(p, &t, &src->name);
    }
    if (t.tok != IQL_T_IDENT) return expected(p, &t, "identifier, regex");
    st_slice seg[3];
    int nseg = 0, rc;
    if ((rc = ident_value(p, &t, &seg[nseg++]))) return rc;
    while (nseg < 3) {
        iql_token d = scan(p);
        if (d.tok != IQL_T_DOT) { unscan(p, &d); break; }
        iql_token n = scan(p);
        if (n.tok == IQL_T_DOT && nseg == 1) {
            /* "db".."m": the default retention policy */
            seg[nseg++] = (st_slice){ "", 0 };
            n = scan(p);
        }
        if (n.tok == IQL_T_DIV && nseg >= 1) {
            src->is_regex = 1;
            if ((rc = parse_regex_tok(p, &n, &src->name))) return rc;
            if (nseg == 2) { src->db = seg[0]; src->rp = seg[1]; } else src->rp = seg[0];
            return 0;
        }
        if (n.tok != IQL_T_IDENT) return expected(p, &n, "identifier");
        if ((rc = ident_value(p, &n, &seg[nseg++]))) return rc;
    }
    if (nseg == 1) src->name = seg[0];
    else if (nseg == 2) { src->rp = seg[0]; src->name = seg[1]; }
    else { src->db = seg[0]; src->rp = seg[1]; src->name = seg[2]; }
    return 0;
}

static int parse_select(parser *p, iql_stmt *s);
static int expect_kw(parser *p, iql_tok kw);

static int parse_sources(parser *p, iql_stmt *s)
{
    size_t cap = 0;
    for (;;) {
        int rc = grow(p, (void **)&s->sources, &s->nsources, &cap, sizeof *s->sources);
        if (rc) return rc;
        iql_token lp = peek(p);
        if (lp.tok == IQL_T_LPAREN && s->kind == IQL_S_SELECT) {
            /* subquery */
            scan(p);
            if (++p->depth > IQL_MAX_DEPTH) return fail_at(p, lp.pos, "subqueries nested too deeply");
            iql_source *src = &s->sources[s->nsources];
            memset(src, 0, sizeof *src);
            iql_stmt *sub = st_arena_alloc(p->a, sizeof *sub);
            if (!sub) return ST_ENOMEM;
            memset(sub, 0, sizeof *sub);
            sub->pos = lp.pos;
            if ((rc = expect_kw(p, IQL_T_SELECT))) return rc;
            if ((rc = parse_select(p, sub))) return rc;
            iql_token r = scan(p);
            if (r.tok != IQL_T_RPAREN) return expected(p, &r, ")");
            p->depth--;
            src->sub = sub;
            s->nsources++;
        } else {
            if ((rc = parse_source(p, &s->sources[s->nsources]))) return rc;
            s->nsources++;
        }
        iql_token t = scan(p);
        if (t.tok != IQL_T_COMMA) { unscan(p, &t); return 0; }
    }
}

static int maybe_kw(parser *p, iql_tok kw)
{
    iql_token t = scan(p);
    if (t.tok == kw) return 1;
    unscan(p, &t);
    return 0;
}

static int expect_kw(parser *p, iql_tok kw)
{
    iql_token t = scan(p);
    if (t.tok != kw) return expected(p, &t, iql_tok_name(kw));
    return 0;
}

static int parse_on(parser *p, iql_stmt *s)
{
    if (!maybe_kw(p, IQL_T_ON)) return 0;
    return parse_ident(p, &s->db);
}

static int parse_from_opt(parser *p, iql_stmt *s)
{
    if (!maybe_kw(p, IQL_T_FROM)) return 0;
    return parse_sources(p, s);
}

static int parse_where_opt(parser *p, iql_stmt *s)
{
    if (!maybe_kw(p, IQL_T_WHERE)) return 0;
    return parse_expr(p, &s->where);
}

static int parse_limit_offset(parser *p, iql_stmt *s, int with_slimit)
{
    int rc;
    if (maybe_kw(p, IQL_T_LIMIT) && (rc = parse_int(p, &s->limit))) return rc;
    if (maybe_kw(p, IQL_T_OFFSET) && (rc = parse_int(p, &s->offset))) return rc;
    if (with_slimit) {
        if (maybe_kw(p, IQL_T_SLIMIT) && (rc = parse_int(p, &s->slimit))) return rc;
        if (maybe_kw(p, IQL_T_SOFFSET) && (rc = parse_int(p, &s->soffset))) return rc;
    }
    return 0;
}

static int parse_dims(parser *p, iql_stmt *s)
{
    size_t cap = 0;
    for (;;) {
        int rc = grow(p, (void **)&s->dims, &s->ndims, &cap, sizeof *s->dims);
        if (rc) return rc;
        iql_dim *d = &s->dims[s->ndims];
        memset(d, 0, sizeof *d);
        iql_token t = scan(p);
        if (t.tok == IQL_T_MUL) {
            d->kind = IQL_DIM_WILDCARD;
        } else if (t.tok == IQL_T_DIV) {
            d->kind = IQL_DIM_REGEX;
            if ((rc = parse_regex_tok(p, &t, &d->name))) return rc;
        } else if (t.tok == IQL_T_IDENT && lit_ieq(&t, "time") && peek(p).tok == IQL_T_LPAREN) {
            scan(p);
            d->kind = IQL_DIM_TIME;
            iql_token a = scan(p);
            if (a.tok != IQL_T_DURATION) {
                if (a.tok == IQL_T_RPAREN) return fail_plain(p, "time dimension expected 1 or 2 arguments");
                iql_token y = peek(p);
                if (a.tok == IQL_T_INTEGER && y.tok == IQL_T_IDENT && y.pos == a.end && y.lit.len == 1 &&
                    (y.lit.ptr[0] | 32) == 'y' && a.lit.len < 20)
                    /* Grafana turns $__interval of a year or more into "1y" */
                    return fail_plain(p, "invalid duration %.*sy: InfluxQL has no year unit, use weeks or days "
                                         "(e.g. time(52w)); Grafana writes $__interval so for ranges of a year or more",
                                      (int)a.lit.len, a.lit.ptr);
                return fail_plain(p, "time dimension must have duration argument");
            }
            if ((rc = parse_duration_tok(p, &a, &d->interval_ns))) return rc;
            if (d->interval_ns <= 0) return fail_plain(p, "time dimension must have positive duration");
            iql_token c = scan(p);
            if (c.tok == IQL_T_COMMA) {
                iql_token o = scan(p);
                int neg = 0;
                if (o.tok == IQL_T_SUB) { neg = 1; o = scan(p); }
                if (o.tok == IQL_T_DURATION) {
                    if ((rc = parse_duration_tok(p, &o, &d->offset_ns))) return rc;
                    if (neg) d->offset_ns = -d->offset_ns;
                } else if (o.tok == IQL_T_IDENT && lit_ieq(&o, "now") && peek(p).tok == IQL_T_LPAREN) {
                    scan(p);
                    if ((rc = expect_kw(p, IQL_T_RPAREN))) return rc;
                    d->offset_ns = INT64_MIN; /* now(): resolved at execution */
                } else {
                    return fail_plain(p, "time dimension offset must be duration or now()");
                }
                c = scan(p);
            }
            if (c.tok != IQL_T_RPAREN) return expected(p, &c, ")");
        } else if (t.tok == IQL_T_IDENT) {
            d->kind = IQL_DIM_TAG;
            if ((rc = ident_value(p, &t, &d->name))) return rc;
            if (peek(p).tok == IQL_T_DOUBLECOLON) { /* "host"::tag */
                scan(p);
                iql_token c = scan(p);
                if (c.tok != IQL_T_TAG && c.tok != IQL_T_IDENT) return expected(p, &c, "tag");
            }
        } else {
            return expected(p, &t, "identifier, regex, *, time()");
        }
        s->ndims++;
        iql_token n = scan(p);
        if (n.tok != IQL_T_COMMA) { unscan(p, &n); return 0; }
    }
}

static int parse_fill(parser *p, iql_stmt *s)
{
    iql_token t = scan(p);
    if (!lit_ieq(&t, "fill")) { unscan(p, &t); return 0; }
    iql_token l = scan(p);
    if (l.tok != IQL_T_LPAREN) return fail_plain(p, "fill must be a function call");
    iql_token a = scan(p);
    if (a.tok == IQL_T_RPAREN) return fail_plain(p, "fill requires an argument, e.g.: 0, null, none, previous, linear");
    if (lit_ieq(&a, "null")) s->fill = IQL_FILL_NULL;
    else if (lit_ieq(&a, "none")) s->fill = IQL_FILL_NONE;
    else if (lit_ieq(&a, "previous")) s->fill = IQL_FILL_PREVIOUS;
    else if (lit_ieq(&a, "linear")) s->fill = IQL_FILL_LINEAR;
    else {
        int neg = 0;
        if (a.tok == IQL_T_SUB) { neg = 1; a = scan(p); }
        if (a.tok == IQL_T_INTEGER || a.tok == IQL_T_NUMBER) {
            double v;
            if (st_parse_double(a.lit.ptr, a.lit.len, 0, &v) != 0) return fail_plain(p, "expected number argument in fill()");
            s->fill = IQL_FILL_NUMBER;
            s->fill_value = neg ? -v : v;
            s->fill_is_int = a.tok == IQL_T_INTEGER;
        } else {
            return fail_plain(p, "expected number argument in fill()");
        }
    }
    iql_token r = scan(p);
    if (r.tok != IQL_T_RPAREN) return fail_plain(p, "fill requires an argument, e.g.: 0, null, none, previous, linear");
    return 0;
}

static int parse_select(parser *p, iql_stmt *s)
{
    int rc;
    size_t cap = 0;
    s->kind = IQL_S_SELECT;
    for (;;) {
        if ((rc = grow(p, (void **)&s->fields, &s->nfields, &cap, sizeof *s->fields))) return rc;
        iql_field *f = &s->fields[s->nfields];
        f->alias = (st_slice){ "", 0 };
        if ((rc = parse_expr(p, &f->expr))) return rc;
        if (maybe_kw(p, IQL_T_AS) && (rc = parse_ident(p, &f->alias))) return rc;
        s->nfields++;
        iql_token t = scan(p);
        if (t.tok != IQL_T_COMMA) { unscan(p, &t); break; }
    }
    if (maybe_kw(p, IQL_T_INTO)) {
        iql_token t = peek(p);
        return fail_at(p, t.pos, "SELECT INTO is not supported");
    }
    if ((rc = expect_kw(p, IQL_T_FROM))) return rc;
    if ((rc = parse_sources(p, s))) return rc;
    if ((rc = parse_where_opt(p, s))) return rc;
    if (maybe_kw(p, IQL_T_GROUP)) {
        if ((rc = expect_kw(p, IQL_T_BY))) return rc;
        if ((rc = parse_dims(p, s))) return rc;
    }
    if ((rc = parse_fill(p, s))) return rc;
    if (maybe_kw(p, IQL_T_ORDER)) {
        if ((rc = expect_kw(p, IQL_T_BY))) return rc;
        iql_token t = scan(p);
        if (!lit_ieq(&t, "time")) return fail_plain(p, "only ORDER BY time supported at this time");
        iql_token d = scan(p);
        if (d.tok == IQL_T_DESC) s->order_desc = 1;
        else if (d.tok != IQL_T_ASC) unscan(p, &d);
    }
    if ((rc = parse_limit_offset(p, s, 1))) return rc;
    iql_token t = scan(p);
    if (lit_ieq(&t, "tz")) {
        if ((rc = expect_kw(p, IQL_T_LPAREN))) return rc;
        iql_token z = scan(p);
        if (z.tok != IQL_T_STRING) return expected(p, &z, "string");
        if ((rc = string_value(p, &z, &s->tz))) return rc;
        if ((rc = expect_kw(p, IQL_T_RPAREN))) return rc;
    } else {
        unscan(p, &t);
    }
    return 0;
}

static int parse_with_key(parser *p, iql_stmt *s)
{
    int rc;
    if ((rc = expect_kw(p, IQL_T_WITH))) return rc;
    if ((rc = expect_kw(p, IQL_T_KEY))) return rc;
    iql_token op = scan(p);
    if (op.tok == IQL_T_IN) {
        s->with_op = IQL_T_IN;
        if ((rc = expect_kw(p, IQL_T_LPAREN))) return rc;
        size_t cap = 0;
        for (;;) {
            if ((rc = grow(p, (void **)&s->with_vals, &s->nwith_vals, &cap, sizeof *s->with_vals))) return rc;
            if ((rc = parse_ident(p, &s->with_vals[s->nwith_vals]))) return rc;
            s->nwith_vals++;
            iql_token t = scan(p);
            if (t.tok == IQL_T_RPAREN) return 0;
            if (t.tok != IQL_T_COMMA) return expected(p, &t, ", or )");
        }
    }
    if (op.tok != IQL_T_EQ && op.tok != IQL_T_NEQ && op.tok != IQL_T_EQREGEX && op.tok != IQL_T_NEQREGEX)
        return expected(p, &op, "=, !=, =~, !~, IN");
    s->with_op = op.tok;
    s->with_vals = st_arena_alloc(p->a, sizeof *s->with_vals);
    if (!s->with_vals) return ST_ENOMEM;
    s->nwith_vals = 1;
    iql_token v = scan(p);
    if (op.tok == IQL_T_EQREGEX || op.tok == IQL_T_NEQREGEX) {
        if (v.tok != IQL_T_DIV) return expected(p, &v, "regex");
        return parse_regex_tok(p, &v, &s->with_vals[0]);
    }
    if (v.tok != IQL_T_IDENT && v.tok != IQL_T_STRING) return expected(p, &v, "identifier");
    return v.tok == IQL_T_STRING ? string_value(p, &v, &s->with_vals[0]) : ident_value(p, &v, &s->with_vals[0]);
}

static int parse_show(parser *p, iql_stmt *s, const iql_token *show)
{
    int rc;
    iql_token t = scan(p);
    switch (t.tok) {
    case IQL_T_DATABASES:
        s->kind = IQL_S_SHOW_DATABASES;
        return parse_limit_offset(p, s, 0);
    case IQL_T_MEASUREMENTS:
        s->kind = IQL_S_SHOW_MEASUREMENTS;
        if ((rc = parse_on(p, s))) return rc;
        if (maybe_kw(p, IQL_T_WITH)) {
            if ((rc = expect_kw(p, IQL_T_MEASUREMENT))) return rc;
            iql_token op = scan(p);
            if (op.tok != IQL_T_EQ && op.tok != IQL_T_EQREGEX) return expected(p, &op, "=, =~");
            s->with_op = op.tok;
            s->with_vals = st_arena_alloc(p->a, sizeof *s->with_vals);
            if (!s->with_vals) return ST_ENOMEM;
            s->nwith_vals = 1;
            iql_token v = scan(p);
            if (v.tok == IQL_T_DIV) {
                s->with_op = IQL_T_EQREGEX;
                if ((rc = parse_regex_tok(p, &v, &s->with_vals[0]))) return rc;
            } else if (v.tok == IQL_T_IDENT) {
                s->with_op = IQL_T_EQ;
                if ((rc = ident_value(p, &v, &s->with_vals[0]))) return rc;
            } else {
                return expected(p, &v, "identifier, regex");
            }
        }
        if ((rc = parse_where_opt(p, s))) return rc;
        return parse_limit_offset(p, s, 0);
    case IQL_T_FIELD:
        if ((rc = expect_kw(p, IQL_T_KEYS))) return rc;
        s->kind = IQL_S_SHOW_FIELD_KEYS;
        if ((rc = parse_on(p, s)) || (rc = parse_from_opt(p, s))) return rc;
        return parse_limit_offset(p, s, 0);
    case IQL_T_TAG: {
        iql_token k = scan(p);
        if (k.tok == IQL_T_KEYS) {
            s->kind = IQL_S_SHOW_TAG_KEYS;
            if ((rc = parse_on(p, s)) || (rc = parse_from_opt(p, s)) || (rc = parse_where_opt(p, s))) return rc;
            return parse_limit_offset(p, s, 1);
        }
        if (k.tok == IQL_T_VALUES) {
            s->kind = IQL_S_SHOW_TAG_VALUES;
            if ((rc = parse_on(p, s)) || (rc = parse_from_opt(p, s)) || (rc = parse_with_key(p, s))) return rc;
            if ((rc = parse_where_opt(p, s))) return rc;
            return parse_limit_offset(p, s, 0);
        }
        return expected(p, &k, "KEYS, VALUES");
    }
    case IQL_T_SERIES:
        s->kind = IQL_S_SHOW_SERIES;
        if ((rc = parse_on(p, s)) || (rc = parse_from_opt(p, s)) || (rc = parse_where_opt(p, s))) return rc;
        return parse_limit_offset(p, s, 0);
    case IQL_T_RETENTION:
        if ((rc = expect_kw(p, IQL_T_POLICIES))) return rc;
        s->kind = IQL_S_SHOW_RETENTION_POLICIES;
        return parse_on(p, s);
    case IQL_T_CONTINUOUS: case IQL_T_DIAGNOSTICS: case IQL_T_GRANTS: case IQL_T_MEASUREMENT:
    case IQL_T_QUERIES: case IQL_T_SHARD: case IQL_T_SHARDS: case IQL_T_STATS:
    case IQL_T_SUBSCRIPTIONS: case IQL_T_USERS:
        return fail_at(p, show->pos, "SHOW %s is not supported", iql_tok_name(t.tok));
    default:
        return expected(p, &t, "CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, MEASUREMENT, MEASUREMENTS, "
                               "QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, SUBSCRIPTIONS, TAG, USERS");
    }
}

/* "name ON db" then DURATION / REPLICATION / SHARD DURATION / DEFAULT in any order. */
static int parse_rp_clauses(parser *p, iql_stmt *s, int create)
{
    int rc = parse_ident(p, &s->rp_name);
    if (rc) return rc;
    if ((rc = expect_kw(p, IQL_T_ON)) || (rc = parse_ident(p, &s->db))) return rc;
    int have_rep = 0, any = 0;
    for (;;) {
        iql_token t = peek(p);
        if (t.tok == IQL_T_DURATION_KW) {
            scan(p);
            iql_token d = scan(p);
            if (d.tok == IQL_T_INF) s->duration_ns = 0;
            else if ((rc = parse_duration_tok(p, &d, &s->duration_ns))) return rc;
            s->has_duration = 1;
        } else if (t.tok == IQL_T_REPLICATION) {
            scan(p);
            iql_token n = scan(p);
            if (n.tok != IQL_T_INTEGER) return expected(p, &n, "integer");
            have_rep = 1;
        } else if (t.tok == IQL_T_SHARD) {
            scan(p);
            if ((rc = expect_kw(p, IQL_T_DURATION_KW))) return rc;
            iql_token d = scan(p);
            if ((rc = parse_duration_tok(p, &d, &s->shard_ns))) return rc;
            s->has_shard = 1;
        } else if (t.tok == IQL_T_DEFAULT) {
            scan(p);
        } else {
            break;
        }
        any = 1;
    }
    if (create && !s->has_duration) { iql_token t = peek(p); return expected(p, &t, "DURATION"); }
    if (create && !have_rep) { iql_token t = peek(p); return expected(p, &t, "REPLICATION"); }
    if (!any) { iql_token t = peek(p); return expected(p, &t, "DURATION, REPLICATION, SHARD, DEFAULT"); }
    return 0;
}

static int parse_create(parser *p, iql_stmt *s, const iql_token *kw)
{
    iql_token t = scan(p);
    if (t.tok == IQL_T_DATABASE) {
        s->kind = IQL_S_CREATE_DATABASE;
        int rc = parse_ident(p, &s->db);
        if (rc) return rc;
        iql_token w = peek(p);
        if (w.tok == IQL_T_WITH) return fail_at(p, w.pos, "CREATE DATABASE ... WITH is not supported");
        return 0;
    }
    if (t.tok == IQL_T_RETENTION) {
        int rc = expect_kw(p, IQL_T_POLICY);
        if (rc) return rc;
        s->kind = IQL_S_CREATE_RP;
        return parse_rp_clauses(p, s, 1);
    }
    if (t.tok == IQL_T_CONTINUOUS || t.tok == IQL_T_USER || t.tok == IQL_T_SUBSCRIPTION)
        return fail_at(p, kw->pos, "CREATE %s is not supported", iql_tok_name(t.tok));
    return expected(p, &t, "CONTINUOUS, DATABASE, USER, RETENTION, SUBSCRIPTION");
}

static int parse_drop(parser *p, iql_stmt *s, const iql_token *kw)
{
    iql_token t = scan(p);
    int rc;
    switch (t.tok) {
    case IQL_T_DATABASE:
        s->kind = IQL_S_DROP_DATABASE;
        return parse_ident(p, &s->db);
    case IQL_T_MEASUREMENT:
        s->kind = IQL_S_DROP_MEASUREMENT;
        if ((rc = grow(p, (void **)&s->sources, &s->nsources, &(size_t){ 0 }, sizeof *s->sources))) return rc;
        memset(&s->sources[0], 0, sizeof s->sources[0]);
        s->sources[0].db = s->sources[0].rp = (st_slice){ "", 0 };
        s->nsources = 1;
        return parse_ident(p, &s->sources[0].name);
    case IQL_T_SERIES:
        s->kind = IQL_S_DROP_SERIES;
        if ((rc = parse_on(p, s)) || (rc = parse_from_opt(p, s)) || (rc = parse_where_opt(p, s))) return rc;
        if (!s->nsources && !s->where) return fail_plain(p, "DROP SERIES statement must have a FROM or WHERE clause");
        return 0;
    case IQL_T_CONTINUOUS: case IQL_T_RETENTION: case IQL_T_SHARD: case IQL_T_SUBSCRIPTION: case IQL_T_USER:
        return fail_at(p, kw->pos, "DROP %s is not supported", iql_tok_name(t.tok));
    default:
        return expected(p, &t, "CONTINUOUS, DATABASE, MEASUREMENT, RETENTION, SERIES, SHARD, SUBSCRIPTION, USER");
    }
}

static int parse_statement(parser *p, iql_stmt **out)
{
    iql_token t = scan(p);
    iql_stmt *s = alloc0(p, sizeof *s);
    if (!s) return ST_ENOMEM;
    s->pos = t.pos;
    s->db = s->tz = (st_slice){ "", 0 };
    s->with_op = IQL_T_ILLEGAL;
    int rc;
    switch (t.tok) {
    case IQL_T_SELECT: rc = parse_select(p, s); break;
    case IQL_T_SHOW: rc = parse_show(p, s, &t); break;
    case IQL_T_CREATE: rc = parse_create(p, s, &t); break;
    case IQL_T_DROP: rc = parse_drop(p, s, &t); break;
    case IQL_T_ALTER: {
        iql_token r = scan(p);
        if (r.tok != IQL_T_RETENTION) return fail_at(p, t.pos, "ALTER %s is not supported", iql_tok_name(r.tok));
        if ((rc = expect_kw(p, IQL_T_POLICY))) return rc;
        s->kind = IQL_S_ALTER_RP;
        rc = parse_rp_clauses(p, s, 0);
        break;
    }
    case IQL_T_DELETE:
        s->kind = IQL_S_DELETE;
        if ((rc = parse_from_opt(p, s)) == 0 && (rc = parse_where_opt(p, s)) == 0 && !s->nsources && !s->where)
            rc = fail_plain(p, "DELETE statement must have a FROM or WHERE clause");
        break;
    case IQL_T_EXPLAIN: case IQL_T_GRANT: case IQL_T_REVOKE:
    case IQL_T_SET: case IQL_T_KILL:
        return fail_at(p, t.pos, "%s is not supported", iql_tok_name(t.tok));
    default:
        return expected(p, &t, "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL");
    }
    if (rc) return rc;
    *out = s;
    return 0;
}

int iql_parse(st_arena *a, const char *src, size_t len, iql_query **out, char *err, size_t err_cap)
{
    parser p;
    memset(&p, 0, sizeof p);
    iql_lexer_init(&p.lx, src ? src : "", src ? len : 0);
    p.a = a;
    p.err = err;
    p.err_cap = err_cap;
    if (err_cap) err[0] = 0;
    iql_query *q = alloc0(&p, sizeof *q);
    if (!q) return ST_ENOMEM;
    size_t cap = 0;
    for (;;) {
        iql_token t = scan(&p);
        if (t.tok == IQL_T_EOF) break;
        if (t.tok == IQL_T_SEMICOLON) continue;
        unscan(&p, &t);
        iql_stmt *s = NULL;
        int rc = parse_statement(&p, &s);
        if (!rc) rc = grow(&p, (void **)&q->stmts, &q->nstmts, &cap, sizeof *q->stmts);
        if (rc) {
            if (rc == ST_ENOMEM && err_cap) snprintf(err, err_cap, "out of memory");
            return rc;
        }
        q->stmts[q->nstmts++] = s;
        iql_token e = scan(&p);
        if (e.tok != IQL_T_SEMICOLON && e.tok != IQL_T_EOF) {
            expected(&p, &e, ";");
            return ST_EPARSE;
        }
        if (e.tok == IQL_T_EOF) break;
    }
    if (q->nstmts == 0) {
        iql_token e = { IQL_T_EOF, len, len, { "", 0 } };
        p.lx.len = len;
        expected(&p, &e, "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL");
        return ST_EPARSE;
    }
    *out = q;
    return 0;
}

/* ---- formatting ---- */

static int fmt_ident(st_buf *o, st_slice s)
{
    int plain = s.len > 0 && !(s.ptr[0] >= '0' && s.ptr[0] <= '9');
    for (size_t i = 0; i < s.len && plain; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) plain = 0;
    }
    iql_lexer lx;
    iql_lexer_init(&lx, s.ptr, s.len);
    if (plain && iql_lex_next(&lx).tok != IQL_T_IDENT) plain = 0;
    if (plain) return st_buf_append(o, s.ptr, s.len);
    int rc = st_buf_append_byte(o, '"');
    for (size_t i = 0; i < s.len && !rc; i++) {
        if (s.ptr[i] == '"' || s.ptr[i] == '\\') rc = st_buf_append_byte(o, '\\');
        if (!rc) rc = st_buf_append_byte(o, s.ptr[i]);
    }
    return rc ? rc : st_buf_append_byte(o, '"');
}

int iql_expr_format(const iql_expr *e, st_buf *o)
{
    int rc = 0;
    char nb[ST_DOUBLE_BUF];
    switch (e->kind) {
    case IQL_E_IDENT:
        rc = fmt_ident(o, e->name);
        if (!rc && e->cast.len) rc = st_buf_printf(o, "::%.*s", (int)e->cast.len, e->cast.ptr);
        return rc;
    case IQL_E_STRING:
        rc = st_buf_append_byte(o, '\'');
        for (size_t i = 0; i < e->s.len && !rc; i++) {
            if (e->s.ptr[i] == '\'' || e->s.ptr[i] == '\\') rc = st_buf_append_byte(o, '\\');
            if (!rc) rc = st_buf_append_byte(o, e->s.ptr[i]);
        }
        return rc ? rc : st_buf_append_byte(o, '\'');
    case IQL_E_INTEGER: return st_buf_printf(o, "%lld", (long long)e->i);
    case IQL_E_NUMBER: st_format_double(e->f, nb); return st_buf_append_str(o, nb);
    case IQL_E_BOOL: return st_buf_append_str(o, e->i ? "true" : "false");
    case IQL_E_DURATION: {
        char db[ST_DURATION_BUF];
        /* InfluxQL prints durations in the largest exact unit */
        int64_t v = e->i;
        static const struct { int64_t ns; const char *u; } units[] = {
            { 604800000000000LL, "w" }, { 86400000000000LL, "d" }, { 3600000000000LL, "h" },
            { 60000000000LL, "m" }, { 1000000000LL, "s" }, { 1000000LL, "ms" }, { 1000LL, "u" }, { 1, "ns" } };
        if (v == 0) return st_buf_append_str(o, "0s");
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (v % units[i].ns == 0) {
                snprintf(db, sizeof db, "%lld%s", (long long)(v / units[i].ns), units[i].u);
                return st_buf_append_str(o, db);
            }
        return 0;
    }
    case IQL_E_REGEX:
        rc = st_buf_append_byte(o, '/');
        for (size_t i = 0; i < e->s.len && !rc; i++) {
            if (e->s.ptr[i] == '/') rc = st_buf_append_byte(o, '\\');
            if (!rc) rc = st_buf_append_byte(o, e->s.ptr[i]);
        }
        return rc ? rc : st_buf_append_byte(o, '/');
    case IQL_E_CALL:
        rc = st_buf_append(o, e->name.ptr, e->name.len);
        if (!rc) rc = st_buf_append_byte(o, '(');
        for (size_t i = 0; i < e->nargs && !rc; i++) {
            if (i) rc = st_buf_append_str(o, ", ");
            if (!rc) rc = iql_expr_format(e->args[i], o);
        }
        return rc ? rc : st_buf_append_byte(o, ')');
    case IQL_E_BINARY:
        rc = iql_expr_format(e->lhs, o);
        if (!rc) rc = st_buf_printf(o, " %s ", iql_tok_name(e->op));
        return rc ? rc : iql_expr_format(e->rhs, o);
    case IQL_E_PAREN:
        rc = st_buf_append_byte(o, '(');
        if (!rc) rc = iql_expr_format(e->lhs, o);
        return rc ? rc : st_buf_append_byte(o, ')');
    case IQL_E_WILDCARD:
        rc = st_buf_append_byte(o, '*');
        if (!rc && e->cast.len) rc = st_buf_printf(o, "::%.*s", (int)e->cast.len, e->cast.ptr);
        return rc;
    case IQL_E_PARAM: return st_buf_printf(o, "$%.*s", (int)e->name.len, e->name.ptr);
    }
    return 0;
}
