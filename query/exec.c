/*
 * query/exec.c — the InfluxQL executor: runs parsed statements against the
 * storage engine (series index for meta data, stor_read for points) and
 * writes rows through the result writer (query/json.c).
 *
 * SELECT, as planned here:
 *   1. the WHERE clause is split into the time range (time comparisons
 *      reachable through AND; the enclosing query's range for a subquery)
 *      and a condition evaluated per series on its tags, three-valued, so
 *      a field comparison is "unknown" there; series that may pass are
 *      found through the posting lists of top-level tag equalities;
 *   2. when the condition names fields, it is evaluated again per row on
 *      the field values at that time (a missing value compares false);
 *   3. series are grouped by the GROUP BY tags (none: one group, merged by
 *      time, as InfluxDB does);
 *   4. raw selections (fields, tags, *, arithmetic and math functions over
 *      them) read each column per series and merge rows by time (rows whose
 *      fields are all null are skipped); aggregates gather each call's
 *      points per group, sorted by time, reduce them per GROUP BY time
 *      window, then fill; distinct/top/bottom/sample give several rows per
 *      window; transformations run over the windows or over raw points.
 *   tz('Zone') aligns windows longer than an hour to local wall time (a
 *   time(1d) window runs from local midnight to local midnight: 23 or 25
 *   hours on DST days) and prints RFC3339 times with the zone's offset.
 *   fn(*) and fn(/re/) expand per measurement to one column per field the
 *   function accepts, named fn_field. FROM (SELECT ...) runs the inner
 *   statement into memory first (see "subqueries").
 * Choices where InfluxDB leaves room: a GROUP BY time query without a lower
 * time bound starts at the first point's window; without an upper bound it
 * ends at now(); count() fills empty windows with 0 under fill(null) (as
 * InfluxDB 1.x does); integral() is the area under the line through the
 * group's points clipped to each window; mode() breaks ties with the
 * smallest value; sample() is seeded by the query's now(); a raw
 * transformation over several series merges them by time first.
 *
 * Not yet: SELECT INTO, DROP MEASUREMENT/SERIES (no storage API),
 * holt_winters, time comparisons joined by OR, chunked output split by
 * chunk_size (one chunk per statement), tags of a subquery's SELECT * kept
 * as tags (they become string fields).
 *
 * Threads: one query per call, on the caller's thread; all scratch in the
 * query's arena or freed before the statement ends. The only thread-local
 * state is the qsort context of exec_multi_group. One exception: the groups
 * of a GROUP BY tags aggregate answered by fast_agg may also run on idle
 * query workers the caller lends (qry_request.offer; see "groups on
 * several threads"), each with its own copy of the per-group state.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/num.h"
#include "common/timefmt.h"
#include "common/tz.h"
#include "query/iql.h"
#include "query/fastagg.h"
#include "query/qry_int.h"
#include "query/query.h"

#define MAX_WINDOWS 10000000LL

typedef struct qre {
    pcre2_code *code;
    pcre2_match_data *md;
    struct qre *next;
} qre;

typedef struct qfield qfield;

typedef struct ctx {
    stor *s;
    sidx *idx;
    const qry_request *req;
    st_arena *a;
    qw *w;
    int64_t now_ns;
    int64_t deadline_mono_ns;   /* 0 = none */
    _Atomic uint64_t points;    /* read by the current statement (root's, also counted by helpers) */
    struct ctx *root;           /* the query's own ctx (itself, or the one a group helper works for) */
    qre *res;                   /* compiled regexes of the statement */
    qfield *cf;                 /* fields named by the WHERE of the current measurement (arena) */
    size_t ncf, cf_cap;
    st_tz *tz;                  /* owned: tz() of the current statement */
    struct vtab *vt;            /* borrowed: the subquery result the SELECT reads instead of storage, or NULL */
    int64_t sub_tmin, sub_tmax; /* the enclosing query's time range, pushed into its subqueries */
    pcre2_match_context *mctx;
    qfa_result fr;              /* owned: fast_agg's windows, reused group after group */
    char err[512];
} ctx;

static int fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return ST_EINVAL;
}

/* subquery results (see "subqueries" below) */
struct qseries;
static int q_read(ctx *c, uint64_t sid, uint64_t fid, int64_t tmin, int64_t tmax, stor_points *out);
static int vt_field_each(ctx *c, st_slice m, sidx_field_fn fn, void *arg);
static int vt_tag_key_each(ctx *c, st_slice m, sidx_name_fn fn, void *arg);
static int vt_load_series(ctx *c, st_slice m, const iql_expr *cond, struct qseries **out, size_t *n);

static int ieq(st_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

static st_slice adup(ctx *c, st_slice s)
{
    char *d = st_arena_strndup(c->a, s.ptr ? s.ptr : "", s.len);
    return d ? (st_slice){ d, s.len } : (st_slice){ NULL, 0 };
}

static int check_budget(ctx *c, size_t more)
{
    uint64_t pts = atomic_fetch_add_explicit(&c->root->points, more, memory_order_relaxed) + more;
    if (c->req->max_points && pts > c->req->max_points)
        return fail(c, "max-select-point limit exceeded: (%llu/%llu)", (unsigned long long)pts,
                    (unsigned long long)c->req->max_points);
    if (c->deadline_mono_ns && st_mono_ns() > c->deadline_mono_ns) return fail(c, "query-timeout limit exceeded");
    return 0;
}

/* ---- regular expressions (PCRE2, match-limited) ---- */

static void re_free_all(ctx *c)
{
    for (qre *r = c->res, *n; r; r = n) {
        n = r->next;
        pcre2_match_data_free(r->md);
        pcre2_code_free(r->code);
        st_free(r);
    }
    c->res = NULL;
}

static int re_compile(ctx *c, st_slice pat, qre **out)
{
    int ec;
    PCRE2_SIZE eo;
    uint32_t opts = PCRE2_UTF;
#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat.ptr, pat.len, opts, &ec, &eo, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return fail(c, "invalid regex /%.*s/: %s", (int)(pat.len > 200 ? 200 : pat.len), pat.ptr, (char *)msg);
    }
    qre *r = st_calloc(1, sizeof *r);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    if (!r || !md) {
        st_free(r);
        pcre2_match_data_free(md);
        pcre2_code_free(code);
        return ST_ENOMEM;
    }
    r->code = code;
    r->md = md;
    r->next = c->res;
    c->res = r;
    *out = r;
    return 0;
}

static int re_match(ctx *c, qre *r, st_slice s)
{
    int rc = pcre2_match(r->code, (PCRE2_SPTR)(s.ptr ? s.ptr : ""), s.len, 0, 0, r->md, c->mctx);
    return rc >= 0;
}

/* ---- time conditions ---- */

static int is_time_ident(const iql_expr *e) { return e->kind == IQL_E_IDENT && ieq(e->name, "time"); }

static int is_cmp(iql_tok op)
{
    return op == IQL_T_EQ || op == IQL_T_NEQ || op == IQL_T_LT || op == IQL_T_LTE || op == IQL_T_GT ||
           op == IQL_T_GTE || op == IQL_T_EQREGEX || op == IQL_T_NEQREGEX;
}

static int time_value(ctx *c, const iql_expr *e, int64_t *out)
{
    int64_t a, b;
    int rc;
    switch (e->kind) {
    case IQL_E_STRING:
        if (st_time_parse_rfc3339(e->s.ptr, e->s.len, out) != 0)
            return fail(c, "invalid operation: time and *influxql.StringLiteral are not compatible");
        return 0;
    case IQL_E_INTEGER: case IQL_E_DURATION: *out = e->i; return 0;
    case IQL_E_NUMBER:
        if (!(e->f > -9.2e18 && e->f < 9.2e18)) return fail(c, "time value out of range");
        *out = (int64_t)e->f;
        return 0;
    case IQL_E_PAREN: return time_value(c, e->lhs, out);
    case IQL_E_PARAM: return fail(c, "missing parameter: %.*s", (int)e->name.len, e->name.ptr);
    case IQL_E_CALL:
        if (ieq(e->name, "now") && e->nargs == 0) { *out = c->now_ns; return 0; }
        return fail(c, "invalid time expression: %.*s()", (int)e->name.len, e->name.ptr);
    case IQL_E_BINARY:
        if (e->op != IQL_T_ADD && e->op != IQL_T_SUB) return fail(c, "invalid time expression");
        if ((rc = time_value(c, e->lhs, &a)) || (rc = time_value(c, e->rhs, &b))) return rc;
        if (e->op == IQL_T_ADD ? __builtin_add_overflow(a, b, out) : __builtin_sub_overflow(a, b, out))
            return fail(c, "time value out of range");
        return 0;
    default:
        return fail(c, "invalid time expression");
    }
}

/* Narrow [*tmin, *tmax] by the time comparisons reachable through AND. */
static int collect_time(ctx *c, const iql_expr *e, int under_or, int64_t *tmin, int64_t *tmax)
{
    if (!e) return 0;
    if (e->kind == IQL_E_PAREN) return collect_time(c, e->lhs, under_or, tmin, tmax);
    if (e->kind != IQL_E_BINARY) return 0;
    int rc;
    if (e->op == IQL_T_AND || e->op == IQL_T_OR) {
        int o = under_or || e->op == IQL_T_OR;
        if ((rc = collect_time(c, e->lhs, o, tmin, tmax))) return rc;
        return collect_time(c, e->rhs, o, tmin, tmax);
    }
    if (!is_cmp(e->op)) return 0;
    int lt = is_time_ident(e->lhs), rt = is_time_ident(e->rhs);
    if (!lt && !rt) return 0;
    if (under_or) return fail(c, "invalid condition: time comparisons joined by OR are not supported");
    iql_tok op = e->op;
    int64_t v;
    if ((rc = time_value(c, lt ? e->rhs : e->lhs, &v))) return rc;
    if (!lt) { /* 10 < time  ->  time > 10 */
        if (op == IQL_T_LT) op = IQL_T_GT;
        else if (op == IQL_T_LTE) op = IQL_T_GTE;
        else if (op == IQL_T_GT) op = IQL_T_LT;
        else if (op == IQL_T_GTE) op = IQL_T_LTE;
    }
    switch (op) {
    case IQL_T_GT: if (v == INT64_MAX) { *tmin = INT64_MAX; *tmax = INT64_MIN; } else if (v + 1 > *tmin) *tmin = v + 1; break;
    case IQL_T_GTE: if (v > *tmin) *tmin = v; break;
    case IQL_T_LT: if (v == INT64_MIN) { *tmin = INT64_MAX; *tmax = INT64_MIN; } else if (v - 1 < *tmax) *tmax = v - 1; break;
    case IQL_T_LTE: if (v < *tmax) *tmax = v; break;
    case IQL_T_EQ: if (v > *tmin) *tmin = v; if (v < *tmax) *tmax = v; break;
    default: return fail(c, "invalid time comparison operator: %s", iql_tok_name(op));
    }
    return 0;
}

/* ---- series and tag conditions ---- */

typedef struct qseries {
    uint64_t id;              /* series id (subquery: index + 1 in the vtab) */
    sidx_tag *tags;   /* arena */
    size_t ntags;
    size_t group;
    const st_slice *gk;       /* arena: its GROUP BY tag values (sel.gtags order), set before grouping */
} qseries;

static st_slice tag_get(const qseries *s, st_slice key)
{
    for (size_t i = 0; i < s->ntags; i++)
        if (st_slice_eq(s->tags[i].key, key)) return s->tags[i].val;
    return (st_slice){ "", 0 };
}

typedef struct name_list {
    st_slice *v;
    size_t n, cap;
    ctx *c;
    int oom;
} name_list;

static int name_push(name_list *l, st_slice s)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        st_slice *m = st_arena_alloc(l->c->a, nc * sizeof *m);
        if (!m) { l->oom = 1; return 1; }
        if (l->n) memcpy(m, l->v, l->n * sizeof *m);
        l->v = m;
        l->cap = nc;
    }
    st_slice d = adup(l->c, s);
    if (!d.ptr) { l->oom = 1; return 1; }
    l->v[l->n++] = d;
    return 0;
}

static int name_cb(void *arg, st_slice name) { return name_push(arg, name); }

static int name_has(const name_list *l, st_slice s)
{
    for (size_t i = 0; i < l->n; i++)
        if (st_slice_eq(l->v[i], s)) return 1;
    return 0;
}

struct qfield {
    uint64_t id;
    st_slice key;
    st_type type;
};

typedef struct field_list {
    qfield *v;
    size_t n, cap;
    ctx *c;
    int oom;
} field_list;

static int field_cb(void *arg, uint64_t id, st_slice key, st_type type)
{
    field_list *l = arg;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        qfield *m = st_arena_alloc(l->c->a, nc * sizeof *m);
        if (!m) { l->oom = 1; return 1; }
        if (l->n) memcpy(m, l->v, l->n * sizeof *m);
        l->v = m;
        l->cap = nc;
    }
    st_slice k = adup(l->c, key);
    if (!k.ptr) { l->oom = 1; return 1; }
    l->v[l->n++] = (qfield){ id, k, type };
    return 0;
}

static const qfield *field_find(const field_list *l, st_slice key)
{
    for (size_t i = 0; i < l->n; i++)
        if (st_slice_eq(l->v[i].key, key)) return &l->v[i];
    return NULL;
}

/* ---- WHERE conditions ----
 *
 * One evaluator, two phases. Series phase (env->fv NULL): tags are known,
 * fields are not, so a comparison on a field is "unknown" and the result is
 * three-valued (false / true / unknown, SQL style); a series is read unless
 * the condition is false for it. Row phase (env->fv set): the values of the
 * fields the condition names at the row's time (null when the field has no
 * point there) decide. A comparison with null is false (InfluxDB). Time
 * comparisons were turned into the read range (collect_time) and count as
 * true here. Identifiers are fields when the measurement has such a field
 * (unless cast ::tag), else tags (a missing tag is ""). */

enum { C_F = 0, C_T = 1, C_U = 2 };

typedef struct qenv {
    const qseries *s;
    const st_value *fv;   /* per condition field (c->cf order); NULL = series phase */
} qenv;

static int cf_register(ctx *c, const qfield *f)
{
    for (size_t i = 0; i < c->ncf; i++)
        if (c->cf[i].id == f->id) return (int)i;
    if (c->ncf == c->cf_cap) {
        size_t nc = c->cf_cap ? c->cf_cap * 2 : 8;
        qfield *m = st_arena_alloc(c->a, nc * sizeof *m);
        if (!m) return -1;
        if (c->ncf) memcpy(m, c->cf, c->ncf * sizeof *m);
        c->cf = m;
        c->cf_cap = nc;
    }
    c->cf[c->ncf] = *f;
    return (int)c->ncf++;
}

static int cond_prepare_val(ctx *c, iql_expr *e, const field_list *fields)
{
    int rc;
    switch (e->kind) {
    case IQL_E_IDENT: {
        e->aux = NULL;
        const qfield *f = fields && !ieq(e->cast, "tag") ? field_find(fields, e->name) : NULL;
        if (f) {
            int i = cf_register(c, f);
            if (i < 0) return ST_ENOMEM;
            e->aux = (void *)(uintptr_t)(i + 1);
        }
        return 0;
    }
    case IQL_E_STRING: case IQL_E_INTEGER: case IQL_E_NUMBER: case IQL_E_BOOL: case IQL_E_DURATION: return 0;
    case IQL_E_PAREN: return cond_prepare_val(c, e->lhs, fields);
    case IQL_E_BINARY:
        if (e->op != IQL_T_ADD && e->op != IQL_T_SUB && e->op != IQL_T_MUL && e->op != IQL_T_DIV && e->op != IQL_T_MOD)
            return fail(c, "invalid condition: unsupported operator %s", iql_tok_name(e->op));
        if ((rc = cond_prepare_val(c, e->lhs, fields))) return rc;
        return cond_prepare_val(c, e->rhs, fields);
    case IQL_E_PARAM:
        return fail(c, "missing parameter: %.*s", (int)e->name.len, e->name.ptr);
    default: return fail(c, "invalid condition: unsupported comparison");
    }
}

/* Check a WHERE condition, compile its regexes and register the fields it
 * names in c->cf; time comparisons are left to collect_time. */
static int cond_prepare(ctx *c, iql_expr *e, const field_list *fields)
{
    if (!e) return 0;
    if (e->kind == IQL_E_PAREN) return cond_prepare(c, e->lhs, fields);
    if (e->kind == IQL_E_BOOL) return 0;
    if (e->kind == IQL_E_PARAM) return fail(c, "missing parameter: %.*s", (int)e->name.len, e->name.ptr);
    if (e->kind != IQL_E_BINARY) return fail(c, "invalid condition");
    int rc;
    if (e->op == IQL_T_AND || e->op == IQL_T_OR) {
        if ((rc = cond_prepare(c, e->lhs, fields))) return rc;
        return cond_prepare(c, e->rhs, fields);
    }
    if (!is_cmp(e->op)) return fail(c, "invalid condition");
    if (is_time_ident(e->lhs) || is_time_ident(e->rhs)) return 0;
    if (e->op == IQL_T_EQREGEX || e->op == IQL_T_NEQREGEX) {
        iql_expr *val = e->rhs;
        if (val->kind != IQL_E_REGEX) return fail(c, "invalid condition: =~ needs a regex");
        if (!val->aux) {
            qre *r;
            if ((rc = re_compile(c, val->s, &r))) return rc;
            val->aux = r;
        }
        return cond_prepare_val(c, e->lhs, fields);
    }
    if ((rc = cond_prepare_val(c, e->lhs, fields))) return rc;
    return cond_prepare_val(c, e->rhs, fields);
}

static int where_prepare(ctx *c, iql_expr *e, const field_list *fields)
{
    c->ncf = 0;
    return cond_prepare(c, e, fields);
}

static int is_num(const st_value *v) { return v->type == ST_TYPE_FLOAT || v->type == ST_TYPE_INT || v->type == ST_TYPE_UINT; }
static double num_of(const st_value *v);
static qval arith(iql_tok op, qval a, qval b);

/* Value of a condition operand; 0 known, 1 unknown (a field in the series phase). */
static int cond_val(const iql_expr *e, const qenv *env, qval *out)
{
    out->type = ST_TYPE_NONE;
    switch (e->kind) {
    case IQL_E_IDENT:
        if (e->aux) {
            if (!env->fv) return 1;
            *out = env->fv[(uintptr_t)e->aux - 1];
            return 0;
        }
        out->type = ST_TYPE_STRING;
        out->v.s = tag_get(env->s, e->name);
        return 0;
    case IQL_E_STRING: out->type = ST_TYPE_STRING; out->v.s = e->s; return 0;
    case IQL_E_INTEGER: case IQL_E_DURATION: out->type = ST_TYPE_INT; out->v.i = e->i; return 0;
    case IQL_E_NUMBER: out->type = ST_TYPE_FLOAT; out->v.f = e->f; return 0;
    case IQL_E_BOOL: out->type = ST_TYPE_BOOL; out->v.b = e->i != 0; return 0;
    case IQL_E_PAREN: return cond_val(e->lhs, env, out);
    case IQL_E_BINARY: {
        qval a, b;
        int ua = cond_val(e->lhs, env, &a), ub = cond_val(e->rhs, env, &b);
        if (ua || ub) return 1;
        *out = arith(e->op, a, b);
        return 0;
    }
    default: return 0;
    }
}

static int cmp_result(iql_tok op, int cmp)
{
    switch (op) {
    case IQL_T_EQ: return cmp == 0;
    case IQL_T_NEQ: return cmp != 0;
    case IQL_T_LT: return cmp < 0;
    case IQL_T_LTE: return cmp <= 0;
    case IQL_T_GT: return cmp > 0;
    case IQL_T_GTE: return cmp >= 0;
    default: return 0;
    }
}

static int cond3(ctx *c, const iql_expr *e, const qenv *env)
{
    if (!e) return C_T;
    if (e->kind == IQL_E_PAREN) return cond3(c, e->lhs, env);
    if (e->kind == IQL_E_BOOL) return e->i ? C_T : C_F;
    if (e->kind != IQL_E_BINARY) return C_T;
    if (e->op == IQL_T_AND) {
        int a = cond3(c, e->lhs, env);
        if (a == C_F) return C_F;
        int b = cond3(c, e->rhs, env);
        if (b == C_F) return C_F;
        return a == C_T && b == C_T ? C_T : C_U;
    }
    if (e->op == IQL_T_OR) {
        int a = cond3(c, e->lhs, env);
        if (a == C_T) return C_T;
        int b = cond3(c, e->rhs, env);
        if (b == C_T) return C_T;
        return a == C_F && b == C_F ? C_F : C_U;
    }
    if (is_time_ident(e->lhs) || is_time_ident(e->rhs)) return C_T;
    qval a, b;
    if (e->op == IQL_T_EQREGEX || e->op == IQL_T_NEQREGEX) {
        if (cond_val(e->lhs, env, &a)) return C_U;
        if (a.type != ST_TYPE_STRING) return C_F;
        int m = re_match(c, (qre *)e->rhs->aux, a.v.s);
        return (e->op == IQL_T_EQREGEX ? m : !m) ? C_T : C_F;
    }
    int ua = cond_val(e->lhs, env, &a), ub = cond_val(e->rhs, env, &b);
    if (ua || ub) return C_U;
    if (a.type == ST_TYPE_NONE || b.type == ST_TYPE_NONE) return C_F;
    int cmp;
    if (is_num(&a) && is_num(&b)) {
        if (a.type == ST_TYPE_INT && b.type == ST_TYPE_INT) cmp = (a.v.i > b.v.i) - (a.v.i < b.v.i);
        else {
            double x = num_of(&a), y = num_of(&b);
            if (x != x || y != y) return C_F;
            cmp = (x > y) - (x < y);
        }
    } else if (a.type == ST_TYPE_BOOL && b.type == ST_TYPE_BOOL) {
        cmp = (int)a.v.b - (int)b.v.b;
    } else {
        /* text comparison (tags, strings; a tag compared with a number or
         * true/false compares with the literal's text, as before) */
        char na[ST_DOUBLE_BUF + 8], nb[ST_DOUBLE_BUF + 8];
        st_slice sa, sb;
        const qval *vv[2] = { &a, &b };
        st_slice *ss[2] = { &sa, &sb };
        char *bufs[2] = { na, nb };
        for (int i = 0; i < 2; i++) {
            const qval *v = vv[i];
            switch (v->type) {
            case ST_TYPE_STRING: *ss[i] = v->v.s; break;
            case ST_TYPE_INT: snprintf(bufs[i], sizeof na, "%lld", (long long)v->v.i); *ss[i] = st_slice_cstr(bufs[i]); break;
            case ST_TYPE_UINT: snprintf(bufs[i], sizeof na, "%llu", (unsigned long long)v->v.u); *ss[i] = st_slice_cstr(bufs[i]); break;
            case ST_TYPE_FLOAT: st_format_double(v->v.f, bufs[i]); *ss[i] = st_slice_cstr(bufs[i]); break;
            case ST_TYPE_BOOL: *ss[i] = st_slice_cstr(v->v.b ? "true" : "false"); break;
            default: *ss[i] = (st_slice){ "", 0 }; break;
            }
        }
        /* a string field never equals a number */
        if (env->fv && ((a.type == ST_TYPE_STRING) != (b.type == ST_TYPE_STRING)) &&
            ((e->lhs->aux && e->lhs->kind == IQL_E_IDENT) || (e->rhs->aux && e->rhs->kind == IQL_E_IDENT)))
            return C_F;
        cmp = st_slice_cmp(sa, sb);
    }
    return cmp_result(e->op, cmp) ? C_T : C_F;
}

/* Series phase: may the series hold rows that pass? */
static int cond_eval(ctx *c, const iql_expr *e, const qseries *s)
{
    qenv env = { s, NULL };
    return cond3(c, e, &env) != C_F;
}

/* Row phase: the condition fields' points of one series, walked forward in
 * time (rows of a series are visited in time order). */
typedef struct rowf {
    stor_points *pts;   /* owned, c->ncf of them */
    size_t *pos;
    st_value *fv;
    size_t n;
} rowf;

static void rowf_fini(rowf *r)
{
    if (r->pts) for (size_t i = 0; i < r->n; i++) stor_points_fini(&r->pts[i]);
    st_free(r->pts);
    st_free(r->pos);
    st_free(r->fv);
    memset(r, 0, sizeof *r);
}

static int check_budget(ctx *c, size_t more);

static int rowf_load(ctx *c, rowf *r, uint64_t sid, int64_t tmin, int64_t tmax)
{
    if (!r->pts) {
        r->n = c->ncf;
        r->pts = st_calloc(r->n, sizeof *r->pts);
        r->pos = st_calloc(r->n, sizeof *r->pos);
        r->fv = st_calloc(r->n, sizeof *r->fv);
        if (!r->pts || !r->pos || !r->fv) return ST_ENOMEM;
        for (size_t i = 0; i < r->n; i++) stor_points_init(&r->pts[i]);
    }
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++) {
        r->pos[i] = 0;
        int rc = q_read(c, sid, c->cf[i].id, tmin, tmax, &r->pts[i]);
        if (rc) return rc;
        total += r->pts[i].n;
    }
    return check_budget(c, total);
}

static int rowf_pass(ctx *c, rowf *r, const qseries *s, const iql_expr *cond, int64_t t)
{
    for (size_t i = 0; i < r->n; i++) {
        stor_points *p = &r->pts[i];
        while (r->pos[i] < p->n && p->ts[r->pos[i]] < t) r->pos[i]++;
        if (r->pos[i] < p->n && p->ts[r->pos[i]] == t) r->fv[i] = p->vals[r->pos[i]];
        else r->fv[i].type = ST_TYPE_NONE;
    }
    qenv env = { s, r->fv };
    return cond3(c, cond, &env) == C_T;
}

static int series_cmp(const void *pa, const void *pb)
{
    const qseries *a = pa, *b = pb;
    if (a->group != b->group) return a->group < b->group ? -1 : 1;
    size_t n = a->ntags < b->ntags ? a->ntags : b->ntags;
    for (size_t i = 0; i < n; i++) {
        int r = st_slice_cmp(a->tags[i].key, b->tags[i].key);
        if (r) return r;
        r = st_slice_cmp(a->tags[i].val, b->tags[i].val);
        if (r) return r;
    }
    if (a->ntags != b->ntags) return a->ntags < b->ntags ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* *a (st_malloc'd, sorted, *na ids) |= b (sorted). 0 or ST_ENOMEM. */
static int ids_union(uint64_t **a, size_t *na, const uint64_t *b, size_t nb)
{
    if (!nb) return 0;
    uint64_t *o = st_malloc((*na + nb) * sizeof *o);
    if (!o) return ST_ENOMEM;
    size_t i = 0, j = 0, k = 0;
    const uint64_t *x = *a;
    while (i < *na || j < nb) {
        uint64_t v;
        if (j >= nb || (i < *na && x[i] < b[j])) v = x[i++];
        else if (i >= *na || b[j] < x[i]) v = b[j++];
        else { v = x[i++]; j++; }
        o[k++] = v;
    }
    st_free(*a);
    *a = o;
    *na = k;
    return 0;
}

/* Candidate series from the posting lists of the tag equalities that the
 * condition ANDs at its top level ("host" = 'a' AND ...), intersected: the
 * full condition is still evaluated on each; ORs of such conditions and
 * tag regexes (over the tag's value list) unite them. 1 when the condition
 * gives no such bound (use every series of the measurement). */
static int cond_postings(ctx *c, uint64_t db_id, st_slice m, const iql_expr *e, uint64_t **ids, size_t *n)
{
    while (e && e->kind == IQL_E_PAREN) e = e->lhs;
    if (!e || e->kind != IQL_E_BINARY) return 1;
    if (e->op == IQL_T_AND) {
        uint64_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        int ra = cond_postings(c, db_id, m, e->lhs, &a, &na);
        if (ra < 0) return ra;
        int rb = cond_postings(c, db_id, m, e->rhs, &b, &nb);
        if (rb < 0) { st_free(a); return rb; }
        if (ra == 1 && rb == 1) return 1;
        if (ra == 1) { *ids = b; *n = nb; return 0; }
        if (rb == 1) { *ids = a; *n = na; return 0; }
        size_t k = 0, i = 0, j = 0;
        while (i < na && j < nb) {
            if (a[i] < b[j]) i++;
            else if (a[i] > b[j]) j++;
            else { a[k++] = a[i]; i++; j++; }
        }
        st_free(b);
        if (!k) { st_free(a); a = NULL; }
        *ids = a;
        *n = k;
        return 0;
    }
    if (e->op == IQL_T_OR) {
        uint64_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        int ra = cond_postings(c, db_id, m, e->lhs, &a, &na);
        if (ra) return ra;
        int rb = cond_postings(c, db_id, m, e->rhs, &b, &nb);
        if (rb) { st_free(a); return rb; }
        int rc = ids_union(&a, &na, b, nb);
        st_free(b);
        if (rc) { st_free(a); return rc; }
        *ids = a;
        *n = na;
        return 0;
    }
    if (e->op != IQL_T_EQ && e->op != IQL_T_EQREGEX) return 1;
    const iql_expr *id = e->lhs, *val = e->rhs;
    if (id->kind != IQL_E_IDENT) { id = e->rhs; val = e->lhs; }
    if (id->kind != IQL_E_IDENT || id->aux || is_time_ident(id)) return 1;
    if (e->op == IQL_T_EQREGEX) {
        /* the tag's values that match, their postings united (Grafana's
         * multi-value variables: "host" =~ /^(a|b)$/) */
        if (val->kind != IQL_E_REGEX || !val->aux) return 1;
        qre *r = val->aux;
        if (re_match(c, r, (st_slice){ "", 0 })) return 1; /* matches series without the tag */
        name_list vals;
        memset(&vals, 0, sizeof vals);
        vals.c = c;
        int rc = sidx_tag_value_each(c->idx, db_id, m, id->name, name_cb, &vals);
        if (vals.oom) return ST_ENOMEM;
        if (rc == ST_ENOTFOUND) return rc;
        uint64_t *acc = NULL;
        size_t nacc = 0;
        for (size_t i = 0; i < vals.n; i++) {
            if (!re_match(c, r, vals.v[i])) continue;
            uint64_t *p = NULL;
            size_t np = 0;
            if ((rc = sidx_postings_copy(c->idx, db_id, m, id->name, vals.v[i], &p, &np))) { st_free(acc); return rc; }
            rc = ids_union(&acc, &nacc, p, np);
            st_free(p);
            if (rc) { st_free(acc); return rc; }
        }
        *ids = acc;
        *n = nacc;
        return 0;
    }
    if (val->kind != IQL_E_STRING) return 1;
    if (val->s.len == 0) return 1; /* = '' also matches series without the tag */
    return sidx_postings_copy(c->idx, db_id, m, id->name, val->s, ids, n);
}

/* Series keys copied into the query's arena under the index's lock
 * (sidx_series_get_many: no malloc and free, and no lock, per series). */
typedef struct key_copy {
    uint64_t id;
    const char *key;
    size_t len;
} key_copy;

typedef struct key_copies {
    st_arena *a;
    key_copy *v;        /* room for every id asked */
    size_t n;
} key_copies;

static int key_to_arena(void *arg, uint64_t series_id, uint64_t db_id, const void *key, size_t key_len)
{
    key_copies *k = arg;
    (void)db_id;
    char *p = st_arena_alloc_bytes(k->a, key_len ? key_len : 1);
    if (!p) return ST_ENOMEM;
    memcpy(p, key, key_len);
    k->v[k->n++] = (key_copy){ series_id, p, key_len };
    return 0;
}

#define LOAD_TAGS 64

/* The measurement's series passing cond, in no particular order (vtabs'
 * come sorted); *n = 0 when the measurement is unknown. */
static int load_series_unsorted(ctx *c, uint64_t db_id, st_slice m, const iql_expr *cond, qseries **out, size_t *n)
{
    uint64_t *ids = NULL;
    size_t nids = 0;
    *out = NULL;
    *n = 0;
    if (c->vt) return vt_load_series(c, m, cond, out, n);
    int rc = cond_postings(c, db_id, m, cond, &ids, &nids);
    if (rc == 1) rc = sidx_measurement_series_copy(c->idx, db_id, m, &ids, &nids);
    if (rc == ST_ENOTFOUND) return 0;
    if (rc) return rc;
    qseries *v = nids ? st_arena_alloc(c->a, nids * sizeof *v) : NULL;
    key_copies kc = { c->a, nids ? st_arena_alloc(c->a, nids * sizeof *kc.v) : NULL, 0 };
    if (nids && (!v || !kc.v)) { st_free(ids); return ST_ENOMEM; }
    rc = sidx_series_get_many(c->idx, ids, nids, key_to_arena, &kc);
    st_free(ids);
    if (rc) return rc;
    size_t k = 0;
    sidx_tag tb[LOAD_TAGS]; /* one decode for a series with up to LOAD_TAGS tags */
    for (size_t i = 0; i < kc.n; i++) {
        key_copy kcp = kc.v[i];
        st_slice mm;
        size_t nt = 0;
        rc = sidx_key_decode(kcp.key, kcp.len, &mm, tb, LOAD_TAGS, &nt);
        if (rc != 0 && rc != ST_ERANGE) continue;
        sidx_tag *tags = nt ? st_arena_alloc(c->a, nt * sizeof *tags) : NULL;
        if (nt && !tags) return ST_ENOMEM;
        if (rc == 0 && nt) memcpy(tags, tb, nt * sizeof *tags);
        else if (sidx_key_decode(kcp.key, kcp.len, &mm, tags, nt, &nt) != 0) continue;
        qseries s = { kcp.id, tags, nt, 0, NULL };
        if (!cond_eval(c, cond, &s)) continue;
        v[k++] = s;
    }
    *out = v;
    *n = k;
    return 0;
}

/* The measurement's series passing cond, sorted by tags (series_cmp: the
 * order InfluxDB answers in); *n = 0 when the measurement is unknown. */
static int load_series(ctx *c, uint64_t db_id, st_slice m, const iql_expr *cond, qseries **out, size_t *n)
{
    int rc = load_series_unsorted(c, db_id, m, cond, out, n);
    if (!rc && *n > 1) qsort(*out, *n, sizeof **out, series_cmp);
    return rc;
}

/* ---- database resolution ---- */

static int resolve_db(ctx *c, st_slice name, uint64_t *id)
{
    if (name.len == 0) return fail(c, "database name required");
    sidx_db_info info;
    int rc = sidx_db_lookup(c->idx, name, &info);
    if (rc == ST_ENOTFOUND) return fail(c, "database not found: %.*s", (int)(name.len > 256 ? 256 : name.len), name.ptr);
    if (rc) return rc;
    *id = info.id;
    return 0;
}

static int resolve_source_db(ctx *c, const iql_source *src, uint64_t *id)
{
    st_slice db = src && src->db.len ? src->db : c->req->db;
    int rc = resolve_db(c, db, id);
    if (rc) return rc;
    st_slice rp = src && src->rp.len ? src->rp : c->req->rp;
    if (rp.len && sidx_db_rp_check(c->idx, *id, rp) != 0)
        return fail(c, "retention policy not found: %.*s", (int)(rp.len > 256 ? 256 : rp.len), rp.ptr);
    return 0;
}

/* Measurements named by a statement's sources (regexes expanded), sorted
 * and de-duplicated; all measurements when there are no sources. */
static int source_measurements(ctx *c, const iql_stmt *st, uint64_t *db_id, name_list *out)
{
    memset(out, 0, sizeof *out);
    out->c = c;
    int rc;
    if (st->db.len) { /* ON db */
        if ((rc = resolve_db(c, st->db, db_id))) return rc;
    } else if ((rc = resolve_source_db(c, st->nsources ? &st->sources[0] : NULL, db_id))) {
        return rc;
    }
    name_list all;
    memset(&all, 0, sizeof all);
    all.c = c;
    int need_all = st->nsources == 0;
    for (size_t i = 0; i < st->nsources; i++) need_all |= st->sources[i].is_regex;
    if (need_all) {
        rc = sidx_measurement_each(c->idx, *db_id, name_cb, &all);
        if (all.oom) return ST_ENOMEM;
        if (rc && rc != ST_ENOTFOUND) return rc;
    }
    if (st->nsources == 0) { *out = all; return 0; }
    for (size_t i = 0; i < st->nsources; i++) {
        const iql_source *src = &st->sources[i];
        if (!src->is_regex) {
            if (!name_has(out, src->name) && name_push(out, src->name)) return ST_ENOMEM;
            continue;
        }
        qre *r;
        if ((rc = re_compile(c, src->name, &r))) return rc;
        for (size_t j = 0; j < all.n; j++)
            if (re_match(c, r, all.v[j]) && !name_has(out, all.v[j]) && name_push(out, all.v[j])) return ST_ENOMEM;
    }
    /* sort by name */
    for (size_t i = 1; i < out->n; i++)
        for (size_t j = i; j > 0 && st_slice_cmp(out->v[j - 1], out->v[j]) > 0; j--) {
            st_slice t = out->v[j];
            out->v[j] = out->v[j - 1];
            out->v[j - 1] = t;
        }
    return 0;
}

/* ---- SHOW and DDL ---- */

static void row1(ctx *c, st_slice s)
{
    qval v;
    v.type = ST_TYPE_STRING;
    v.v.s = s;
    qw_row(c->w, &v, 1);
}

typedef struct db_collect {
    name_list names;
    uint64_t want_id;
    sidx_db_info info;
    st_slice rp;
} db_collect;

static int db_cb(void *arg, const sidx_db_info *db)
{
    db_collect *d = arg;
    if (d->want_id) {
        if (db->id != d->want_id) return 0;
        d->info = *db;
        d->rp = adup(d->names.c, db->rp_name.len ? db->rp_name : (st_slice){ SIDX_RP_DEFAULT_NAME, 7 });
        return 1;
    }
    return name_push(&d->names, db->name);
}

static int offset_limit_ok(const iql_stmt *st, size_t *k);

static int exec_show_databases(ctx *c, const iql_stmt *st)
{
    db_collect d;
    memset(&d, 0, sizeof d);
    d.names.c = c;
    sidx_db_each(c->idx, db_cb, &d);
    if (d.names.oom) return ST_ENOMEM;
    st_slice col = ST_SLICE_LIT("name");
    qw_series_begin(c->w, ST_SLICE_LIT("databases"), NULL, 0, &col, 1);
    size_t k = 0;
    for (size_t i = 0; i < d.names.n; i++)
        if (offset_limit_ok(st, &k)) row1(c, d.names.v[i]);
    qw_series_end(c->w);
    return 0;
}

static int exec_show_rp(ctx *c, const iql_stmt *st)
{
    uint64_t id;
    int rc = resolve_db(c, st->db.len ? st->db : c->req->db, &id);
    if (rc) return rc;
    db_collect d;
    memset(&d, 0, sizeof d);
    d.names.c = c;
    d.want_id = id;
    sidx_db_each(c->idx, db_cb, &d);
    if (!d.rp.ptr) return ST_ENOMEM;
    static const st_slice cols[] = { ST_SLICE_LIT("name"), ST_SLICE_LIT("duration"),
                                     ST_SLICE_LIT("shardGroupDuration"), ST_SLICE_LIT("replicaN"),
                                     ST_SLICE_LIT("default") };
    char dur[ST_DURATION_BUF], sg[ST_DURATION_BUF];
    st_duration_format(d.info.rp_duration_ns, dur);
    st_duration_format(d.info.shard_duration_ns ? d.info.shard_duration_ns : SIDX_SHARD_DEFAULT_NS, sg);
    qval v[5];
    v[0].type = ST_TYPE_STRING; v[0].v.s = d.rp;
    v[1].type = ST_TYPE_STRING; v[1].v.s = st_slice_cstr(dur);
    v[2].type = ST_TYPE_STRING; v[2].v.s = st_slice_cstr(sg);
    v[3].type = ST_TYPE_INT; v[3].v.i = 1;
    v[4].type = ST_TYPE_BOOL; v[4].v.b = 1;
    qw_series_begin(c->w, (st_slice){ "", 0 }, NULL, 0, cols, 5);
    qw_row(c->w, v, 5);
    qw_series_end(c->w);
    return 0;
}

static int offset_limit_ok(const iql_stmt *st, size_t *k)
{
    size_t i = (*k)++;
    if ((int64_t)i < st->offset) return 0;
    if (st->limit > 0 && (int64_t)i >= st->offset + st->limit) return 0;
    return 1;
}

/* Does the measurement have a series passing the statement's condition? */
static int measurement_matches(ctx *c, uint64_t db_id, st_slice m, const iql_expr *cond, int *yes)
{
    qseries *ss;
    size_t n;
    int rc = load_series(c, db_id, m, cond, &ss, &n);
    if (rc) return rc;
    *yes = n > 0;
    return 0;
}

static int prepare_where(ctx *c, iql_stmt *st, uint64_t db_id, st_slice m)
{
    if (!st->where) return 0;
    field_list fl;
    memset(&fl, 0, sizeof fl);
    fl.c = c;
    int rc = sidx_field_each(c->idx, db_id, m, field_cb, &fl);
    if (fl.oom) return ST_ENOMEM;
    (void)rc;
    int64_t tmin = INT64_MIN, tmax = INT64_MAX;
    if ((rc = collect_time(c, st->where, 0, &tmin, &tmax))) return rc;
    return where_prepare(c, st->where, &fl);
}

static int exec_show_measurements(ctx *c, iql_stmt *st)
{
    uint64_t db_id;
    int rc = resolve_db(c, st->db.len ? st->db : c->req->db, &db_id);
    if (rc) return rc;
    name_list all;
    memset(&all, 0, sizeof all);
    all.c = c;
    rc = sidx_measurement_each(c->idx, db_id, name_cb, &all);
    if (all.oom) return ST_ENOMEM;
    qre *r = NULL;
    if (st->with_op == IQL_T_EQREGEX && (rc = re_compile(c, st->with_vals[0], &r))) return rc;
    st_slice col = ST_SLICE_LIT("name");
    qw_series_begin(c->w, ST_SLICE_LIT("measurements"), NULL, 0, &col, 1);
    size_t k = 0;
    for (size_t i = 0; i < all.n; i++) {
        if (st->with_op == IQL_T_EQ && !st_slice_eq(all.v[i], st->with_vals[0])) continue;
        if (r && !re_match(c, r, all.v[i])) continue;
        if (st->where) {
            int yes;
            if ((rc = prepare_where(c, st, db_id, all.v[i]))) return rc;
            if ((rc = measurement_matches(c, db_id, all.v[i], st->where, &yes))) return rc;
            if (!yes) continue;
        }
        if (offset_limit_ok(st, &k)) row1(c, all.v[i]);
    }
    qw_series_end(c->w);
    return 0;
}

static int exec_show_field_keys(ctx *c, iql_stmt *st)
{
    uint64_t db_id;
    name_list ms;
    int rc = source_measurements(c, st, &db_id, &ms);
    if (rc) return rc;
    static const st_slice cols[] = { ST_SLICE_LIT("fieldKey"), ST_SLICE_LIT("fieldType") };
    for (size_t i = 0; i < ms.n; i++) {
        field_list fl;
        memset(&fl, 0, sizeof fl);
        fl.c = c;
        sidx_field_each(c->idx, db_id, ms.v[i], field_cb, &fl);
        if (fl.oom) return ST_ENOMEM;
        qw_series_begin(c->w, ms.v[i], NULL, 0, cols, 2);
        size_t k = 0;
        for (size_t j = 0; j < fl.n; j++) {
            if (!offset_limit_ok(st, &k)) continue;
            qval v[2];
            v[0].type = ST_TYPE_STRING; v[0].v.s = fl.v[j].key;
            v[1].type = ST_TYPE_STRING; v[1].v.s = st_slice_cstr(st_type_name(fl.v[j].type));
            qw_row(c->w, v, 2);
        }
        qw_series_end(c->w);
    }
    return 0;
}

/* Tag keys (or key=value pairs) present in the measurement's series that
 * pass the statement's WHERE: from the index when there is no WHERE. */
static int exec_show_tag_keys(ctx *c, iql_stmt *st)
{
    uint64_t db_id;
    name_list ms;
    int rc = source_measurements(c, st, &db_id, &ms);
    if (rc) return rc;
    st_slice col = ST_SLICE_LIT("tagKey");
    size_t sk = 0;
    for (size_t i = 0; i < ms.n; i++) {
        name_list keys;
        memset(&keys, 0, sizeof keys);
        keys.c = c;
        if (!st->where) {
            sidx_tag_key_each(c->idx, db_id, ms.v[i], name_cb, &keys);
            if (keys.oom) return ST_ENOMEM;
        } else {
            qseries *ss;
            size_t n;
            if ((rc = prepare_where(c, st, db_id, ms.v[i]))) return rc;
            if ((rc = load_series(c, db_id, ms.v[i], st->where, &ss, &n))) return rc;
            for (size_t j = 0; j < n; j++)
                for (size_t t = 0; t < ss[j].ntags; t++)
                    if (!name_has(&keys, ss[j].tags[t].key) && name_push(&keys, ss[j].tags[t].key)) return ST_ENOMEM;
            for (size_t a = 1; a < keys.n; a++)
                for (size_t b = a; b > 0 && st_slice_cmp(keys.v[b - 1], keys.v[b]) > 0; b--) {
                    st_slice t = keys.v[b]; keys.v[b] = keys.v[b - 1]; keys.v[b - 1] = t;
                }
        }
        if (keys.n == 0) continue;
        size_t s_i = sk++;
        if ((int64_t)s_i < st->soffset || (st->slimit > 0 && (int64_t)s_i >= st->soffset + st->slimit)) continue;
        qw_series_begin(c->w, ms.v[i], NULL, 0, &col, 1);
        size_t k = 0;
        for (size_t j = 0; j < keys.n; j++)
            if (offset_limit_ok(st, &k)) row1(c, keys.v[j]);
        qw_series_end(c->w);
    }
    return 0;
}

static int key_selected(ctx *c, const iql_stmt *st, st_slice key, qre *r)
{
    switch (st->with_op) {
    case IQL_T_EQ: return st_slice_eq(key, st->with_vals[0]);
    case IQL_T_NEQ: return !st_slice_eq(key, st->with_vals[0]);
    case IQL_T_EQREGEX: return re_match(c, r, key);
    case IQL_T_NEQREGEX: return !re_match(c, r, key);
    case IQL_T_IN:
        for (size_t i = 0; i < st->nwith_vals; i++)
            if (st_slice_eq(key, st->with_vals[i])) return 1;
        return 0;
    default: return 0;
    }
}

typedef struct kv { st_slice k, v; } kv;
static int kv_cmp(const void *pa, const void *pb)
{
    const kv *a = pa, *b = pb;
    int r = st_slice_cmp(a->k, b->k);
    return r ? r : st_slice_cmp(a->v, b->v);
}

static int exec_show_tag_values(ctx *c, iql_stmt *st)
{
    uint64_t db_id;
    name_list ms;
    int rc = source_measurements(c, st, &db_id, &ms);
    if (rc) return rc;
    qre *r = NULL;
    if ((st->with_op == IQL_T_EQREGEX || st->with_op == IQL_T_NEQREGEX) && (rc = re_compile(c, st->with_vals[0], &r)))
        return rc;
    static const st_slice cols[] = { ST_SLICE_LIT("key"), ST_SLICE_LIT("value") };
    for (size_t i = 0; i < ms.n; i++) {
        kv *pairs = NULL;
        size_t np = 0, cap = 0;
        qseries *ss = NULL;
        size_t n = 0;
        if (!st->where) {
            /* from the index's tag value lists, no series decoded */
            name_list keys;
            memset(&keys, 0, sizeof keys);
            keys.c = c;
            sidx_tag_key_each(c->idx, db_id, ms.v[i], name_cb, &keys);
            if (keys.oom) return ST_ENOMEM;
            for (size_t j = 0; j < keys.n; j++) {
                if (!key_selected(c, st, keys.v[j], r)) continue;
                name_list vals;
                memset(&vals, 0, sizeof vals);
                vals.c = c;
                sidx_tag_value_each(c->idx, db_id, ms.v[i], keys.v[j], name_cb, &vals);
                if (vals.oom) { st_free(pairs); return ST_ENOMEM; }
                if (st_grow(&pairs, &cap, np + vals.n, sizeof *pairs, 64)) { st_free(pairs); return ST_ENOMEM; }
                for (size_t v = 0; v < vals.n; v++) pairs[np++] = (kv){ keys.v[j], vals.v[v] };
            }
        } else {
            if ((rc = prepare_where(c, st, db_id, ms.v[i]))) return rc;
            if ((rc = load_series(c, db_id, ms.v[i], st->where, &ss, &n))) return rc;
        }
        for (size_t j = 0; j < n; j++)
            for (size_t t = 0; t < ss[j].ntags; t++) {
                if (!key_selected(c, st, ss[j].tags[t].key, r)) continue;
                if (st_grow(&pairs, &cap, np + 1, sizeof *pairs, 64)) { st_free(pairs); return ST_ENOMEM; }
                pairs[np++] = (kv){ ss[j].tags[t].key, ss[j].tags[t].val };
            }
        if (np) qsort(pairs, np, sizeof *pairs, kv_cmp);
        qw_series_begin(c->w, ms.v[i], NULL, 0, cols, 2);
        size_t k = 0;
        for (size_t j = 0; j < np; j++) {
            if (j && kv_cmp(&pairs[j - 1], &pairs[j]) == 0) continue;
            if (!offset_limit_ok(st, &k)) continue;
            qval v[2];
            v[0].type = ST_TYPE_STRING; v[0].v.s = pairs[j].k;
            v[1].type = ST_TYPE_STRING; v[1].v.s = pairs[j].v;
            qw_row(c->w, v, 2);
        }
        qw_series_end(c->w);
        st_free(pairs);
    }
    return 0;
}

static int lp_esc(st_buf *b, st_slice s, int meas)
{
    int rc = 0;
    for (size_t i = 0; i < s.len && !rc; i++) {
        char ch = s.ptr[i];
        if (ch == ',' || ch == ' ' || (!meas && ch == '=')) rc = st_buf_append_byte(b, '\\');
        if (!rc) rc = st_buf_append_byte(b, ch);
    }
    return rc;
}

static int str_cmp(const void *pa, const void *pb) { return st_slice_cmp(*(const st_slice *)pa, *(const st_slice *)pb); }

static int exec_show_series(ctx *c, iql_stmt *st)
{
    uint64_t db_id;
    name_list ms;
    int rc = source_measurements(c, st, &db_id, &ms);
    if (rc) return rc;
    name_list keys;
    memset(&keys, 0, sizeof keys);
    keys.c = c;
    st_buf b;
    st_buf_init(&b);
    for (size_t i = 0; i < ms.n && !rc; i++) {
        qseries *ss;
        size_t n;
        if ((rc = prepare_where(c, st, db_id, ms.v[i]))) break;
        if ((rc = load_series(c, db_id, ms.v[i], st->where, &ss, &n))) break;
        for (size_t j = 0; j < n && !rc; j++) {
            st_buf_clear(&b);
            rc = lp_esc(&b, ms.v[i], 1);
            for (size_t t = 0; t < ss[j].ntags && !rc; t++) {
                rc = st_buf_append_byte(&b, ',');
                if (!rc) rc = lp_esc(&b, ss[j].tags[t].key, 0);
                if (!rc) rc = st_buf_append_byte(&b, '=');
                if (!rc) rc = lp_esc(&b, ss[j].tags[t].val, 0);
            }
            if (!rc && name_push(&keys, (st_slice){ b.ptr, b.len })) rc = ST_ENOMEM;
        }
    }
    st_buf_fini(&b);
    if (rc) return rc;
    if (keys.n > 1) qsort(keys.v, keys.n, sizeof *keys.v, str_cmp);
    st_slice col = ST_SLICE_LIT("key");
    qw_series_begin(c->w, (st_slice){ "", 0 }, NULL, 0, &col, 1);
    size_t k = 0;
    for (size_t j = 0; j < keys.n; j++)
        if (offset_limit_ok(st, &k)) row1(c, keys.v[j]);
    qw_series_end(c->w);
    return 0;
}

static int exec_create_db(ctx *c, const iql_stmt *st)
{
    uint64_t id;
    if (st->db.len == 0) return fail(c, "database name required");
    int rc = stor_db_create(c->s, st->db, &id);
    if (rc == ST_EINVAL) return fail(c, "invalid database name");
    if (rc == ST_EREADONLY) return fail(c, "storage is read-only");
    return rc;
}

static int exec_drop_db(ctx *c, const iql_stmt *st)
{
    sidx_db_info info;
    int rc = sidx_db_lookup(c->idx, st->db, &info);
    if (rc == ST_ENOTFOUND) return 0; /* InfluxDB: dropping a missing database is not an error */
    if (rc) return rc;
    rc = stor_db_drop(c->s, info.id);
    if (rc == ST_ENOTFOUND) return 0;
    if (rc == ST_EREADONLY) return fail(c, "storage is read-only");
    return rc;
}

/* ---- retention policies, drops and deletes ---- */

static int rp_check_name(ctx *c, uint64_t db_id, st_slice rp)
{
    if (sidx_db_rp_check(c->idx, db_id, rp) == 0) return 0;
    return fail(c, "retention policy not found: %.*s", (int)rp.len, rp.ptr);
}

/* Strata keeps one retention policy per database (DESIGN.md "Data
 * model"): CREATE with its name sets the duration like ALTER does. */
static int exec_rp(ctx *c, const iql_stmt *st)
{
    uint64_t db_id;
    int rc = resolve_db(c, st->db, &db_id);
    if (rc) return rc;
    if (sidx_db_rp_check(c->idx, db_id, st->rp_name) != 0) {
        if (st->kind == IQL_S_CREATE_RP)
            return fail(c, "Strata keeps one retention policy per database (\"autogen\"): "
                           "set its duration with ALTER RETENTION POLICY \"autogen\" ON \"%.*s\" DURATION ...",
                        (int)st->db.len, st->db.ptr);
        return rp_check_name(c, db_id, st->rp_name);
    }
    if (st->has_shard) {
        sidx_db_info info;
        if (sidx_db_get(c->idx, db_id, &info) == 0 && info.shard_duration_ns != st->shard_ns)
            return fail(c, "the shard (partition) duration is fixed when a database is created");
    }
    if (!st->has_duration) return 0;
    rc = stor_db_set_retention(c->s, db_id, st->duration_ns);
    if (rc == ST_EREADONLY) return fail(c, "storage is read-only");
    return rc;
}

static int exec_drop_measurement(ctx *c, const iql_stmt *st)
{
    uint64_t db_id;
    int rc = resolve_source_db(c, &st->sources[0], &db_id);
    if (rc) return rc;
    rc = stor_measurement_drop(c->s, db_id, st->sources[0].name);
    if (rc == ST_EREADONLY) return fail(c, "storage is read-only");
    return rc;
}

/* DROP SERIES and DELETE: the series the FROM/WHERE tag conditions select,
 * per measurement; DELETE also takes the WHERE time range. */
static int exec_drop_or_delete(ctx *c, iql_stmt *st)
{
    uint64_t db_id;
    name_list ms;
    int rc = source_measurements(c, st, &db_id, &ms);
    if (rc) return rc;
    int64_t tmin = ST_TIME_MIN_NS, tmax = ST_TIME_MAX_NS;
    if (st->kind == IQL_S_DELETE && (rc = collect_time(c, st->where, 0, &tmin, &tmax))) return rc;
    for (size_t i = 0; i < ms.n && !rc; i++) {
        qseries *ss;
        size_t n;
        if ((rc = prepare_where(c, st, db_id, ms.v[i]))) break;
        if (c->ncf) return fail(c, "fields not supported in WHERE clause during deletion");
        if ((rc = load_series(c, db_id, ms.v[i], st->where, &ss, &n))) break;
        if (!n) continue;
        uint64_t *ids = st_arena_alloc(c->a, n * sizeof *ids);
        if (!ids) return ST_ENOMEM;
        for (size_t j = 0; j < n; j++) ids[j] = ss[j].id;
        if (st->kind == IQL_S_DELETE && (tmin != ST_TIME_MIN_NS || tmax != ST_TIME_MAX_NS))
            rc = stor_delete(c->s, db_id, ids, n, tmin, tmax);
        else
            rc = stor_series_drop(c->s, db_id, ids, n);
        if (rc == ST_EREADONLY) return fail(c, "storage is read-only");
    }
    return rc;
}

/* ---- SELECT ---- */

enum agg_fn { AGG_COUNT, AGG_SUM, AGG_MEAN, AGG_MIN, AGG_MAX, AGG_FIRST, AGG_LAST, AGG_SPREAD, AGG_STDDEV,
              AGG_MEDIAN, AGG_PERCENTILE, AGG_MODE, AGG_INTEGRAL, AGG_COUNT_DISTINCT, AGG__N };
static const char *const agg_names[AGG__N] = { "count", "sum", "mean", "min", "max", "first", "last",
                                               "spread", "stddev", "median", "percentile", "mode", "integral",
                                               "count" };

/* Math functions over values (after aggregation): name, arguments. */
static const struct { const char *name; int nargs; } math_fns[] = {
    { "abs", 1 }, { "ceil", 1 }, { "floor", 1 }, { "round", 1 }, { "sqrt", 1 }, { "pow", 2 }, { "ln", 1 },
    { "log", 2 }, { "log2", 1 }, { "log10", 1 }, { "exp", 1 }, { "sin", 1 }, { "cos", 1 }, { "tan", 1 },
    { "asin", 1 }, { "acos", 1 }, { "atan", 1 }, { "atan2", 2 } };

static int find_math(st_slice name)
{
    for (size_t i = 0; i < sizeof math_fns / sizeof math_fns[0]; i++)
        if (ieq(name, math_fns[i].name)) return (int)i + 1;
    return 0;
}
static int agg_is_selector(int f) { return f == AGG_MIN || f == AGG_MAX || f == AGG_FIRST || f == AGG_LAST || f == AGG_PERCENTILE; }

typedef struct qcall {
    int fn;
    st_slice field;
    double pct;
    int64_t unit_ns;          /* integral */
    int64_t win_lo, win_hi;   /* the window being reduced (integral) */
    const qfield *f;          /* per measurement; NULL if the field is absent */
    /* per group */
    int64_t *ts;
    st_value *vals;
    uint32_t *sid;            /* each point's series (ordinal in the group) */
    size_t n, cap;
    size_t pos;               /* window cursor */
    qval cur;                 /* this window's result */
    int64_t cur_ts;           /* selector's point time */
    size_t cur_i;             /* selector's point index (SIZE_MAX: none) */
    int has_data;             /* this window had points */
    qval prev;                /* fill(previous) */
} qcall;

typedef struct qcol {
    st_slice name;
    iql_expr *expr;           /* aggregate mode: expression over calls */
    int aux;                  /* aggregate mode: a field or tag next to one selector, taken from its point */
    /* raw mode, per measurement */
    const qfield *f;
    int is_tag;
    st_slice tag;
} qcol;

/* A transformation over a column's windows. */
typedef struct tfspec { int tf; int64_t unit, n; const iql_expr *expr; } tfspec;

typedef struct sel {
    iql_stmt *st;
    int agg;                  /* aggregate mode */
    qcall *calls;
    size_t ncalls;
    qcol *cols;
    size_t ncols;
    int wildcard;             /* raw SELECT * */
    int wildcard_fields_only;
    int64_t tmin, tmax;
    int64_t interval, offset;
    size_t nvis;              /* raw mode: visible columns (hidden ones, read for expressions, follow) */
    /* aggregate mode, per measurement (plan_agg_cols): where each column's
     * value comes from, COL_AUX, COL_TF, COL_EVAL or 1 + the call it is
     * (the window's result taken as it is); need_cur: some column reads
     * the calls' cur (an expression or an aux point) */
    ptrdiff_t *col_src;
    int need_cur;
    st_slice *gtags;          /* GROUP BY tag keys (sorted) for the measurement */
    size_t ngtags;
    int gwild;                /* GROUP BY * */
    qre *gregex;
    size_t series_emitted;    /* for SLIMIT */
    int tf;                   /* transformation over the single column (TF_*), 0 = none */
    int expand;               /* fn(*) or fn(/re/): calls and columns per measurement */
    int has_aux;              /* columns with cols[].aux */
    int multi;                /* MULTI_*: distinct/top/bottom/sample, several rows per window */
    int64_t multi_n;          /* top/bottom/sample N */
    st_slice *multi_tags;     /* top/bottom tag arguments */
    size_t nmulti_tags;
    int64_t tf_unit;          /* derivative unit (ns) */
    int64_t tf_n;             /* moving_average window */
    int tf_raw;               /* the transformation reads raw values (tf_arg: a synthetic first(field)) */
    struct tfspec *ftf;       /* per column: transformations among several columns (tf 0 = plain), or NULL */
    int64_t pull_windows;     /* moving_average: windows read before the range so the first output is full */
    int64_t emit_from;        /* ... and rows start at the window holding this time (INT64_MIN = all) */
    iql_expr *tf_arg;
} sel;

enum { TF_NONE, TF_DERIVATIVE, TF_NN_DERIVATIVE, TF_DIFFERENCE, TF_NN_DIFFERENCE, TF_CUMSUM, TF_MOVAVG, TF_ELAPSED };
static const struct { const char *name; int tf; } tf_names[] = {
    { "derivative", TF_DERIVATIVE }, { "non_negative_derivative", TF_NN_DERIVATIVE },
    { "difference", TF_DIFFERENCE }, { "non_negative_difference", TF_NN_DIFFERENCE },
    { "cumulative_sum", TF_CUMSUM }, { "moving_average", TF_MOVAVG }, { "elapsed", TF_ELAPSED } };

static int find_tf(st_slice name)
{
    for (size_t i = 0; i < sizeof tf_names / sizeof tf_names[0]; i++)
        if (ieq(name, tf_names[i].name)) return tf_names[i].tf;
    return 0;
}

static int find_agg(st_slice name)
{
    for (int i = 0; i < AGG__N; i++)
        if (ieq(name, agg_names[i])) return i;
    return -1;
}

static int find_multi(st_slice name);

/* Register the calls inside e (aggregate mode); 1 in *has_call if any. */
static int collect_calls(ctx *c, sel *q, iql_expr *e, size_t *cap, int *has_call, int *has_ident)
{
    int rc;
    switch (e->kind) {
    case IQL_E_CALL: {
        int mf = find_math(e->name);
        if (mf) {
            if ((int)e->nargs != math_fns[mf - 1].nargs && !(ieq(e->name, "log") && e->nargs == 1))
                return fail(c, "invalid number of arguments for %s, expected %d, got %zu", math_fns[mf - 1].name,
                            math_fns[mf - 1].nargs, e->nargs);
            e->aux = NULL;
            for (size_t i = 0; i < e->nargs; i++)
                if ((rc = collect_calls(c, q, e->args[i], cap, has_call, has_ident))) return rc;
            return 0;
        }
        int fn = find_agg(e->name);
        if (fn < 0 && find_multi(e->name))
            return fail(c, "%.*s() cannot be combined with other functions or fields", (int)e->name.len, e->name.ptr);
        if (fn < 0 && (ieq(e->name, "holt_winters") || ieq(e->name, "holt_winters_with_fit")))
            return fail(c, "%.*s() is not supported", (int)e->name.len, e->name.ptr);
        if (fn < 0) return fail(c, "undefined function %.*s()", (int)e->name.len, e->name.ptr);
        size_t want = fn == AGG_PERCENTILE ? 2 : 1;
        if (fn == AGG_INTEGRAL && e->nargs == 2) want = 2;
        if (e->nargs != want)
            return fail(c, "invalid number of arguments for %s, expected %zu, got %zu", agg_names[fn], want, e->nargs);
        const iql_expr *a0 = e->args[0];
        if (a0->kind == IQL_E_CALL && ieq(a0->name, "distinct")) {
            if (fn != AGG_COUNT) return fail(c, "expected field argument in %s()", agg_names[fn]);
            if (a0->nargs != 1 || a0->args[0]->kind != IQL_E_IDENT)
                return fail(c, "distinct function requires at least one argument");
            fn = AGG_COUNT_DISTINCT;
            a0 = a0->args[0];
        }
        if (a0->kind == IQL_E_WILDCARD || a0->kind == IQL_E_REGEX)
            return fail(c, "%s() over * or a regex is not supported yet", agg_names[fn]);
        if (a0->kind != IQL_E_IDENT) return fail(c, "expected field argument in %s()", agg_names[fn]);
        double pct = 0;
        if (fn == AGG_PERCENTILE) {
            const iql_expr *a1 = e->args[1];
            if (a1->kind == IQL_E_INTEGER) pct = (double)a1->i;
            else if (a1->kind == IQL_E_NUMBER) pct = a1->f;
            else return fail(c, "expected float argument in percentile()");
        }
        int64_t unit = 1000000000LL;
        if (fn == AGG_INTEGRAL && e->nargs == 2) {
            if (e->args[1]->kind != IQL_E_DURATION || e->args[1]->i <= 0)
                return fail(c, "second argument must be a duration");
            unit = e->args[1]->i;
        }
        if (q->ncalls == *cap) {
            size_t nc = *cap ? *cap * 2 : 8;
            qcall *m = st_arena_alloc(c->a, nc * sizeof *m);
            if (!m) return ST_ENOMEM;
            if (q->ncalls) memcpy(m, q->calls, q->ncalls * sizeof *m);
            q->calls = m;
            *cap = nc;
        }
        qcall *k = &q->calls[q->ncalls];
        memset(k, 0, sizeof *k);
        k->fn = fn;
        k->field = a0->name;
        k->pct = pct;
        k->unit_ns = unit;
        e->aux = (void *)(uintptr_t)(q->ncalls + 1);
        q->ncalls++;
        *has_call = 1;
        return 0;
    }
    case IQL_E_BINARY:
        if (e->op != IQL_T_ADD && e->op != IQL_T_SUB && e->op != IQL_T_MUL && e->op != IQL_T_DIV && e->op != IQL_T_MOD)
            return fail(c, "invalid operator %s in SELECT", iql_tok_name(e->op));
        if ((rc = collect_calls(c, q, e->lhs, cap, has_call, has_ident))) return rc;
        return collect_calls(c, q, e->rhs, cap, has_call, has_ident);
    case IQL_E_PAREN: return collect_calls(c, q, e->lhs, cap, has_call, has_ident);
    case IQL_E_IDENT: case IQL_E_WILDCARD: case IQL_E_REGEX: *has_ident = 1; return 0;
    case IQL_E_INTEGER: case IQL_E_NUMBER: return 0;
    case IQL_E_PARAM: return fail(c, "missing parameter: %.*s", (int)e->name.len, e->name.ptr);
    default: return fail(c, "unsupported expression in SELECT");
    }
}

static st_slice expr_name(const iql_expr *e)
{
    switch (e->kind) {
    case IQL_E_CALL: return e->name;
    case IQL_E_IDENT: return e->name;
    case IQL_E_PAREN: return expr_name(e->lhs);
    case IQL_E_BINARY: {
        st_slice l = expr_name(e->lhs);
        return l.len ? l : expr_name(e->rhs);
    }
    default: return (st_slice){ "", 0 };
    }
}

/* InfluxDB renames duplicate columns name_1, name_2... */
static int dedupe_names(ctx *c, qcol *cols, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < i; j++) dup |= st_slice_eq(cols[i].name, cols[j].name);
        if (!dup) continue;
        for (int k = 1; k < 1000; k++) {
            char buf[300];
            int len = snprintf(buf, sizeof buf, "%.*s_%d", (int)(cols[i].name.len > 250 ? 250 : cols[i].name.len),
                               cols[i].name.ptr, k);
            st_slice cand = { buf, (size_t)len };
            int used = 0;
            for (size_t j = 0; j < n; j++) used |= j != i && st_slice_eq(cols[j].name, cand);
            if (!used) {
                cols[i].name = adup(c, cand);
                if (!cols[i].name.ptr) return ST_ENOMEM;
                break;
            }
        }
    }
    return 0;
}

enum { MULTI_NONE, MULTI_DISTINCT, MULTI_TOP, MULTI_BOTTOM, MULTI_SAMPLE };
static int find_multi(st_slice name)
{
    if (ieq(name, "distinct")) return MULTI_DISTINCT;
    if (ieq(name, "top")) return MULTI_TOP;
    if (ieq(name, "bottom")) return MULTI_BOTTOM;
    if (ieq(name, "sample")) return MULTI_SAMPLE;
    return 0;
}

/* distinct(x), top(x[, tag...], N), bottom(...), sample(x, N) as the only
 * column: one call that yields several rows per window. */
static int plan_multi(ctx *c, sel *q)
{
    iql_stmt *st = q->st;
    iql_field *fd = &st->fields[0];
    iql_expr *e = fd->expr;
    int kind = find_multi(e->name);
    const char *nm = kind == MULTI_DISTINCT ? "distinct" : kind == MULTI_TOP ? "top" : kind == MULTI_BOTTOM ? "bottom" : "sample";
    if (kind == MULTI_DISTINCT && e->nargs != 1) return fail(c, "distinct function can only have one argument");
    if (kind == MULTI_SAMPLE && e->nargs != 2)
        return fail(c, "invalid number of arguments for sample, expected 2, got %zu", e->nargs);
    if ((kind == MULTI_TOP || kind == MULTI_BOTTOM) && e->nargs < 2)
        return fail(c, "invalid number of arguments for %s, expected at least 2, got %zu", nm, e->nargs);
    if (e->args[0]->kind != IQL_E_IDENT) return fail(c, "expected first argument to be a field in %s(), found %s", nm,
                                                     e->args[0]->kind == IQL_E_WILDCARD ? "*" : "an expression");
    if (kind != MULTI_DISTINCT) {
        const iql_expr *last = e->args[e->nargs - 1];
        if (last->kind != IQL_E_INTEGER) return fail(c, "expected integer as last argument in %s(), found %s", nm, "another value");
        if (last->i <= 0) return fail(c, "limit (%lld) in %s function must be at least 1", (long long)last->i, nm);
        q->multi_n = last->i;
        q->nmulti_tags = e->nargs - 2;
        if (q->nmulti_tags) {
            q->multi_tags = st_arena_alloc(c->a, q->nmulti_tags * sizeof *q->multi_tags);
            if (!q->multi_tags) return ST_ENOMEM;
            for (size_t i = 0; i < q->nmulti_tags; i++) {
                if (e->args[i + 1]->kind != IQL_E_IDENT)
                    return fail(c, "only fields or tags are allowed in %s(), found another value", nm);
                q->multi_tags[i] = e->args[i + 1]->name;
            }
        }
    }
    q->multi = kind;
    q->calls = st_arena_alloc(c->a, sizeof *q->calls);
    q->cols = st_arena_alloc(c->a, (1 + q->nmulti_tags) * sizeof *q->cols);
    if (!q->calls || !q->cols) return ST_ENOMEM;
    memset(q->calls, 0, sizeof *q->calls);
    q->calls[0].fn = AGG_FIRST;
    q->calls[0].field = e->args[0]->name;
    q->ncalls = 1;
    q->ncols = 1 + q->nmulti_tags;
    memset(q->cols, 0, q->ncols * sizeof *q->cols);
    q->cols[0].name = fd->alias.len ? fd->alias : st_slice_cstr(nm);
    for (size_t i = 0; i < q->nmulti_tags; i++) q->cols[i + 1].name = q->multi_tags[i];
    return dedupe_names(c, q->cols, q->ncols);
}

static int is_expand_call(const iql_expr *e)
{
    return e->kind == IQL_E_CALL && find_agg(e->name) >= 0 && e->nargs >= 1 &&
           (e->args[0]->kind == IQL_E_WILDCARD || e->args[0]->kind == IQL_E_REGEX);
}

/* Does fn take values of type t (for fn(*) / fn(/re/) expansion)? */
static int agg_takes(int fn, st_type t)
{
    int num = t == ST_TYPE_FLOAT || t == ST_TYPE_INT || t == ST_TYPE_UINT;
    switch (fn) {
    case AGG_COUNT: case AGG_FIRST: case AGG_LAST: case AGG_MODE: return 1;
    case AGG_MIN: case AGG_MAX: return num || t == ST_TYPE_BOOL;
    default: return num;
    }
}

/* fn(*) and fn(/re/) for one measurement: one call per matching field (in
 * field-name order) named <fn>_<field> (<alias>_<field> with AS), as
 * InfluxDB; other columns as written. */
static int expand_calls(ctx *c, sel *q, const field_list *fl)
{
    iql_stmt *st = q->st;
    size_t n = 0, cap = 0;
    iql_field *out = NULL;
    for (size_t i = 0; i < st->nfields; i++) {
        iql_expr *e = st->fields[i].expr;
        size_t add = is_expand_call(e) ? fl->n : 1;
        if (n + add > cap) {
            size_t nc = (n + add) * 2 + 4;
            iql_field *m = st_arena_alloc(c->a, nc * sizeof *m);
            if (!m) return ST_ENOMEM;
            if (n) memcpy(m, out, n * sizeof *m);
            out = m;
            cap = nc;
        }
        if (!is_expand_call(e)) { out[n++] = st->fields[i]; continue; }
        qre *r = NULL;
        int rc;
        if (e->args[0]->kind == IQL_E_REGEX && (rc = re_compile(c, e->args[0]->s, &r))) return rc;
        int fn = find_agg(e->name);
        size_t start = n;
        for (size_t j = 0; j < fl->n; j++) {
            const qfield *f = &fl->v[j];
            if (r && !re_match(c, r, f->key)) continue;
            if (!agg_takes(fn, f->type)) continue;
            iql_expr *call = st_arena_alloc(c->a, sizeof *call);
            iql_expr *id = st_arena_alloc(c->a, sizeof *id);
            iql_expr **args = st_arena_alloc(c->a, e->nargs * sizeof *args);
            if (!call || !id || !args) return ST_ENOMEM;
            *call = *e;
            call->aux = NULL;
            memset(id, 0, sizeof *id);
            id->kind = IQL_E_IDENT;
            id->name = f->key;
            id->cast = (st_slice){ "", 0 };
            id->pos = e->args[0]->pos;
            args[0] = id;
            for (size_t k = 1; k < e->nargs; k++) args[k] = e->args[k];
            call->args = args;
            st_slice pre = st->fields[i].alias.len ? st->fields[i].alias : e->name;
            char *nm = st_arena_alloc_bytes(c->a, pre.len + 1 + f->key.len + 1);
            if (!nm) return ST_ENOMEM;
            memcpy(nm, pre.ptr, pre.len);
            nm[pre.len] = '_';
            memcpy(nm + pre.len + 1, f->key.ptr, f->key.len);
            nm[pre.len + 1 + f->key.len] = 0;
            out[n].expr = call;
            out[n].alias = (st_slice){ nm, pre.len + 1 + f->key.len };
            n++;
        }
        /* field-name order */
        for (size_t a = start + 1; a < n; a++)
            for (size_t b = a; b > start && st_slice_cmp(out[b - 1].alias, out[b].alias) > 0; b--) {
                iql_field t = out[b]; out[b] = out[b - 1]; out[b - 1] = t;
            }
    }
    q->ncalls = 0;
    q->calls = NULL;
    size_t ccap = 0;
    for (size_t i = 0; i < n; i++) {
        int hc = 0, hi = 0;
        int rc = collect_calls(c, q, out[i].expr, &ccap, &hc, &hi);
        if (rc) return rc;
        if (hi) return fail(c, "mixing aggregate and non-aggregate queries is not supported");
    }
    q->ncols = n;
    q->cols = st_arena_alloc(c->a, (n ? n : 1) * sizeof *q->cols);
    if (!q->cols) return ST_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        memset(&q->cols[i], 0, sizeof q->cols[i]);
        q->cols[i].expr = out[i].expr;
        q->cols[i].name = out[i].alias.len ? out[i].alias : expr_name(out[i].expr);
    }
    return dedupe_names(c, q->cols, q->ncols);
}

/* A raw-mode column expression: fields/tags, numbers, + - * / %, math
 * functions, parentheses. */
static int raw_expr_ok(const iql_expr *e, int depth)
{
    if (depth > IQL_MAX_DEPTH * 2) return 0;
    switch (e->kind) {
    case IQL_E_IDENT: case IQL_E_INTEGER: case IQL_E_NUMBER: return 1;
    case IQL_E_PAREN: return raw_expr_ok(e->lhs, depth + 1);
    case IQL_E_BINARY:
        if (e->op != IQL_T_ADD && e->op != IQL_T_SUB && e->op != IQL_T_MUL && e->op != IQL_T_DIV && e->op != IQL_T_MOD) return 0;
        return raw_expr_ok(e->lhs, depth + 1) && raw_expr_ok(e->rhs, depth + 1);
    case IQL_E_CALL: {
        int mf = find_math(e->name);
        if (!mf || ((int)e->nargs != math_fns[mf - 1].nargs && !(ieq(e->name, "log") && e->nargs == 1))) return 0;
        for (size_t i = 0; i < e->nargs; i++)
            if (!raw_expr_ok(e->args[i], depth + 1)) return 0;
        return 1;
    }
    default: return 0;
    }
}

static size_t raw_expr_idents(const iql_expr *e)
{
    switch (e->kind) {
    case IQL_E_IDENT: return 1;
    case IQL_E_PAREN: return raw_expr_idents(e->lhs);
    case IQL_E_BINARY: return raw_expr_idents(e->lhs) + raw_expr_idents(e->rhs);
    case IQL_E_CALL: {
        size_t n = 0;
        for (size_t i = 0; i < e->nargs; i++) n += raw_expr_idents(e->args[i]);
        return n;
    }
    default: return 0;
    }
}

/* Give each identifier of a raw expression a (hidden) column to read. */
static void raw_expr_bind(sel *q, iql_expr *e, const field_list *fl, const name_list *tagkeys)
{
    switch (e->kind) {
    case IQL_E_IDENT: {
        const qfield *f = ieq(e->cast, "tag") ? NULL : field_find(fl, e->name);
        int is_tag = !f && name_has(tagkeys, e->name) && !ieq(e->cast, "field");
        size_t k;
        for (k = q->nvis; k < q->ncols; k++)
            if (q->cols[k].f == f && q->cols[k].is_tag == is_tag && (f || st_slice_eq(q->cols[k].tag, e->name))) break;
        if (k == q->ncols) {
            qcol *h = &q->cols[q->ncols++];
            memset(h, 0, sizeof *h);
            h->name = e->name;
            h->f = f;
            h->is_tag = is_tag;
            h->tag = is_tag ? e->name : (st_slice){ "", 0 };
        }
        e->aux = (void *)(uintptr_t)(k + 1);
        return;
    }
    case IQL_E_PAREN: raw_expr_bind(q, e->lhs, fl, tagkeys); return;
    case IQL_E_BINARY: raw_expr_bind(q, e->lhs, fl, tagkeys); raw_expr_bind(q, e->rhs, fl, tagkeys); return;
    case IQL_E_CALL: for (size_t i = 0; i < e->nargs; i++) raw_expr_bind(q, e->args[i], fl, tagkeys); return;
    default: return;
    }
}

static qval eval_math(const iql_expr *e, qval a, qval b);

/* Value of a raw expression over a row's cells (cell[0] is the time). */
static qval raw_eval(const iql_expr *e, const qval *cell)
{
    qval r;
    r.type = ST_TYPE_NONE;
    switch (e->kind) {
    case IQL_E_IDENT: return cell[(uintptr_t)e->aux];
    case IQL_E_INTEGER: r.type = ST_TYPE_INT; r.v.i = e->i; return r;
    case IQL_E_NUMBER: r.type = ST_TYPE_FLOAT; r.v.f = e->f; return r;
    case IQL_E_PAREN: return raw_eval(e->lhs, cell);
    case IQL_E_BINARY: return arith(e->op, raw_eval(e->lhs, cell), raw_eval(e->rhs, cell));
    case IQL_E_CALL: return eval_math(e, raw_eval(e->args[0], cell), e->nargs > 1 ? raw_eval(e->args[1], cell) : r);
    default: return r;
    }
}

static int plan_select(ctx *c, sel *q)
{
    iql_stmt *st = q->st;
    size_t cap = 0;
    int any_call = 0, any_ident = 0;
    /* transformations (derivative(mean(v), 1s)...): one as the only column
     * (q->tf; over raw values too), or several next to other columns (q->ftf) */
    iql_expr *tfe = NULL;
    for (size_t i = 0; i < st->nfields; i++) {
        iql_expr *e = st->fields[i].expr;
        if (e->kind != IQL_E_CALL || !find_tf(e->name)) continue;
        tfspec t = { find_tf(e->name), 0, 0, NULL };
        size_t want_max = t.tf == TF_DERIVATIVE || t.tf == TF_NN_DERIVATIVE || t.tf == TF_MOVAVG || t.tf == TF_ELAPSED ? 2 : 1;
        if (e->nargs < 1 || e->nargs > want_max || (t.tf == TF_MOVAVG && e->nargs != 2))
            return fail(c, "invalid number of arguments for %.*s, got %zu", (int)e->name.len, e->name.ptr, e->nargs);
        if (t.tf == TF_MOVAVG) {
            if (e->args[1]->kind != IQL_E_INTEGER || e->args[1]->i < 1)
                return fail(c, "moving_average window must be greater than 1, got %lld", (long long)e->args[1]->i);
            if (e->args[1]->i > 1000000)
                return fail(c, "moving_average window must be at most 1000000, got %lld", (long long)e->args[1]->i);
            t.n = e->args[1]->i;
        } else if (e->nargs == 2) {
            if (e->args[1]->kind != IQL_E_DURATION || e->args[1]->i <= 0)
                return fail(c, "second argument to %.*s must be a duration", (int)e->name.len, e->name.ptr);
            t.unit = e->args[1]->i;
        }
        if (st->nfields != 1) {
            if (e->args[0]->kind != IQL_E_CALL)
                return fail(c, "%.*s() over raw values must be the only column of the SELECT", (int)e->name.len, e->name.ptr);
            if (!q->ftf) {
                q->ftf = st_arena_alloc(c->a, st->nfields * sizeof *q->ftf);
                if (!q->ftf) return ST_ENOMEM;
                memset(q->ftf, 0, st->nfields * sizeof *q->ftf);
            }
            t.expr = e->args[0];
            q->ftf[i] = t;
            continue;
        }
        q->tf = t.tf;
        q->tf_n = t.n;
        q->tf_unit = t.unit;
        tfe = e;
        if (e->args[0]->kind == IQL_E_IDENT) {
            /* over raw values: every point is a "window" (see exec_agg_group) */
            iql_expr *call = st_arena_alloc(c->a, sizeof *call);
            iql_expr **args = st_arena_alloc(c->a, sizeof *args);
            if (!call || !args) return ST_ENOMEM;
            memset(call, 0, sizeof *call);
            call->kind = IQL_E_CALL;
            call->name = ST_SLICE_LIT("first");
            call->pos = e->pos;
            args[0] = e->args[0];
            call->args = args;
            call->nargs = 1;
            q->tf_raw = 1;
            q->tf_arg = call;
        } else if (e->args[0]->kind != IQL_E_CALL) {
            return fail(c, "expected field argument in %.*s()", (int)e->name.len, e->name.ptr);
        }
    }
    if (st->nfields == 1 && st->fields[0].expr->kind == IQL_E_CALL && find_multi(st->fields[0].expr->name)) {
        int rc = plan_multi(c, q);
        if (rc) return rc;
        any_call = 1;
    }
    for (size_t i = 0; i < st->nfields && !q->multi; i++) {
        if (tfe) {
            int hc = 0, hi = 0;
            int rc = collect_calls(c, q, q->tf_raw ? q->tf_arg : tfe->args[0], &cap, &hc, &hi);
            if (rc) return rc;
            any_call = 1;
            break;
        }
        int hc = 0, hi = 0;
        if (is_expand_call(st->fields[i].expr)) {
            if (q->ftf) return fail(c, "functions over * or a regex next to transformations are not supported");
            q->expand = 1;
            any_call = 1;
            continue;
        }
        iql_expr *ce = q->ftf && q->ftf[i].tf ? (iql_expr *)q->ftf[i].expr : st->fields[i].expr;
        int rc = collect_calls(c, q, ce, &cap, &hc, &hi);
        if (rc) return rc;
        if (hc && hi) return fail(c, "mixing aggregate and non-aggregate queries is not supported");
        any_call |= hc;
        any_ident |= hi;
    }
    if (any_call && any_ident) {
        /* one selector with plain fields or tags beside it (SELECT last(v), host) */
        int ok = q->ncalls == 1 && !q->tf && !q->ftf && !q->expand && !q->multi && agg_is_selector(q->calls[0].fn);
        for (size_t i = 0; ok && i < st->nfields; i++) {
            const iql_expr *e = st->fields[i].expr;
            ok = e->kind == IQL_E_CALL || e->kind == IQL_E_IDENT;
        }
        if (!ok) return fail(c, "mixing aggregate and non-aggregate queries is not supported");
        q->has_aux = 1;
    }
    q->agg = any_call;
    for (size_t i = 0; i < st->ndims; i++) {
        iql_dim *d = &st->dims[i];
        if (d->kind == IQL_DIM_TIME) {
            if (q->interval) return fail(c, "multiple time dimensions");
            q->interval = d->interval_ns;
            q->offset = d->offset_ns == INT64_MIN ? c->now_ns % d->interval_ns : d->offset_ns;
        } else if (d->kind == IQL_DIM_WILDCARD) {
            q->gwild = 1;
        } else if (d->kind == IQL_DIM_REGEX) {
            int rc = re_compile(c, d->name, &q->gregex);
            if (rc) return rc;
        }
    }
    if (q->interval && !q->agg) return fail(c, "GROUP BY requires at least one aggregate function");
    if (q->tf && !q->tf_raw && !q->interval) return fail(c, "%s aggregate requires a GROUP BY interval", tf_names[q->tf - 1].name);
    if (q->tf_raw && q->interval) return fail(c, "aggregate function required inside the call to %s", tf_names[q->tf - 1].name);
    /* derivative's default unit is the GROUP BY interval, else 1s (InfluxDB's DerivativeInterval) */
    int64_t dunit = q->interval ? q->interval : 1000000000LL;
    if (q->tf && !q->tf_unit)
        q->tf_unit = (q->tf == TF_DERIVATIVE || q->tf == TF_NN_DERIVATIVE) ? dunit : q->tf == TF_ELAPSED ? 1 : 0;
    if (q->tf == TF_MOVAVG && q->interval) q->pull_windows = q->tf_n - 1;
    for (size_t i = 0; q->ftf && i < st->nfields; i++) {
        tfspec *t = &q->ftf[i];
        if (!t->tf) continue;
        if (!q->interval) return fail(c, "%s aggregate requires a GROUP BY interval", tf_names[t->tf - 1].name);
        if (!t->unit) t->unit = (t->tf == TF_DERIVATIVE || t->tf == TF_NN_DERIVATIVE) ? dunit : 1;
        if (t->tf == TF_MOVAVG && t->n - 1 > q->pull_windows) q->pull_windows = t->n - 1;
    }
    if (q->expand || q->multi) return 0; /* columns per measurement: expand_calls; plan_multi */
    if (q->agg) {
        q->ncols = st->nfields;
        q->cols = st_arena_alloc(c->a, q->ncols * sizeof *q->cols);
        if (!q->cols) return ST_ENOMEM;
        for (size_t i = 0; i < st->nfields; i++) {
            memset(&q->cols[i], 0, sizeof q->cols[i]);
            q->cols[i].expr = tfe ? (q->tf_raw ? q->tf_arg : tfe->args[0])
                                  : q->ftf && q->ftf[i].tf ? (iql_expr *)q->ftf[i].expr : st->fields[i].expr;
            q->cols[i].name = st->fields[i].alias.len ? st->fields[i].alias : expr_name(st->fields[i].expr);
            q->cols[i].aux = q->has_aux && st->fields[i].expr->kind == IQL_E_IDENT;
        }
        return dedupe_names(c, q->cols, q->ncols);
    }
    for (size_t i = 0; i < st->nfields; i++) {
        iql_expr *e = st->fields[i].expr;
        if (e->kind == IQL_E_WILDCARD) {
            q->wildcard = 1;
            q->wildcard_fields_only = ieq(e->cast, "field");
            continue;
        }
        if (e->kind != IQL_E_IDENT && !raw_expr_ok(e, 0))
            return fail(c, "only fields, tags, *, arithmetic and math functions are supported in a SELECT without aggregates");
    }
    return 0;
}

/* Raw-mode columns for one measurement. */
static int plan_raw_cols(ctx *c, sel *q, const field_list *fl, const name_list *tagkeys)
{
    iql_stmt *st = q->st;
    size_t cap = st->nfields + (q->wildcard ? fl->n + tagkeys->n : 0);
    for (size_t i = 0; i < st->nfields; i++)
        if (st->fields[i].expr->kind != IQL_E_IDENT) cap += raw_expr_idents(st->fields[i].expr);
    q->cols = st_arena_alloc(c->a, (cap ? cap : 1) * sizeof *q->cols);
    if (!q->cols) return ST_ENOMEM;
    q->ncols = 0;
    for (size_t i = 0; i < st->nfields; i++) {
        iql_expr *e = st->fields[i].expr;
        if (e->kind == IQL_E_WILDCARD) {
            /* fields and tags, alphabetically; tags grouped by are left out */
            size_t start = q->ncols;
            for (size_t j = 0; j < fl->n; j++) {
                qcol *k = &q->cols[q->ncols++];
                memset(k, 0, sizeof *k);
                k->name = fl->v[j].key;
                k->f = &fl->v[j];
            }
            if (!q->wildcard_fields_only)
                for (size_t j = 0; j < tagkeys->n; j++) {
                    int grouped = q->gwild;
                    for (size_t g = 0; g < q->ngtags; g++) grouped |= st_slice_eq(q->gtags[g], tagkeys->v[j]);
                    if (grouped) continue;
                    qcol *k = &q->cols[q->ncols++];
                    memset(k, 0, sizeof *k);
                    k->name = tagkeys->v[j];
                    k->is_tag = 1;
                    k->tag = tagkeys->v[j];
                }
            for (size_t a = start + 1; a < q->ncols; a++)
                for (size_t b = a; b > start && st_slice_cmp(q->cols[b - 1].name, q->cols[b].name) > 0; b--) {
                    qcol t = q->cols[b]; q->cols[b] = q->cols[b - 1]; q->cols[b - 1] = t;
                }
            continue;
        }
        if (is_time_ident(e) && !st->fields[i].alias.len) continue; /* the time column is always first */
        qcol *k = &q->cols[q->ncols++];
        memset(k, 0, sizeof *k);
        if (e->kind != IQL_E_IDENT) {
            k->expr = e;
            k->name = st->fields[i].alias.len ? st->fields[i].alias : expr_name(e);
            continue;
        }
        k->name = st->fields[i].alias.len ? st->fields[i].alias : e->name;
        const qfield *f = ieq(e->cast, "tag") ? NULL : field_find(fl, e->name);
        if (f) k->f = f;
        else if (name_has(tagkeys, e->name) && !ieq(e->cast, "field")) { k->is_tag = 1; k->tag = e->name; }
    }
    /* expressions read their identifiers through hidden trailing columns */
    q->nvis = q->ncols;
    for (size_t k = 0; k < q->nvis; k++)
        if (q->cols[k].expr) raw_expr_bind(q, q->cols[k].expr, fl, tagkeys);
    return dedupe_names(c, q->cols, q->nvis);
}

typedef struct rawrow {
    int64_t ts;
    uint32_t series;  /* ordinal in the group */
    uint32_t idx0;    /* first cell in the cells array */
} rawrow;

static int rawrow_cmp(const void *pa, const void *pb)
{
    const rawrow *a = pa, *b = pb;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    if (a->series != b->series) return a->series < b->series ? -1 : 1;
    return a->idx0 < b->idx0 ? -1 : a->idx0 > b->idx0;
}

static void group_tags(const sel *q, const qseries *s, sidx_tag *out)
{
    for (size_t g = 0; g < q->ngtags; g++) {
        out[g].key = q->gtags[g];
        out[g].val = tag_get(s, q->gtags[g]);
    }
}

static int slimit_take(sel *q)
{
    size_t i = q->series_emitted++;
    const iql_stmt *st = q->st;
    if ((int64_t)i < st->soffset) return 0;
    if (st->slimit > 0 && (int64_t)i >= st->soffset + st->slimit) return 0;
    return 1;
}

/* Emit rows (already in time order) honouring ORDER BY, OFFSET, LIMIT;
 * the first `shown` cells of each row of `width`. */
static void emit_rows2(ctx *c, const sel *q, qval *cells, const rawrow *rows, size_t nrows, size_t width, size_t shown)
{
    const iql_stmt *st = q->st;
    size_t emitted = 0, skipped = 0;
    (void)width;
    for (size_t r = 0; r < nrows; r++) {
        const rawrow *row = &rows[st->order_desc ? nrows - 1 - r : r];
        if ((int64_t)skipped < st->offset) { skipped++; continue; }
        if (st->limit > 0 && (int64_t)emitted >= st->limit) break;
        qw_row(c->w, &cells[row->idx0], shown);
        emitted++;
    }
}

static void emit_rows(ctx *c, const sel *q, qval *cells, const rawrow *rows, size_t nrows, size_t width)
{
    const iql_stmt *st = q->st;
    size_t emitted = 0, skipped = 0;
    for (size_t r = 0; r < nrows; r++) {
        const rawrow *row = &rows[st->order_desc ? nrows - 1 - r : r];
        if ((int64_t)skipped < st->offset) { skipped++; continue; }
        if (st->limit > 0 && (int64_t)emitted >= st->limit) break;
        qw_row(c->w, &cells[row->idx0], width);
        emitted++;
    }
}

/* The series' opening: "time", the visible columns, the GROUP BY tags of s. */
static int raw_series_begin(ctx *c, const sel *q, st_slice m, const qseries *s)
{
    st_slice *names = st_arena_alloc(c->a, (q->nvis + 1) * sizeof *names);
    sidx_tag *gt = q->ngtags ? st_arena_alloc(c->a, q->ngtags * sizeof *gt) : NULL;
    if (!names || (q->ngtags && !gt)) return ST_ENOMEM;
    names[0] = ST_SLICE_LIT("time");
    for (size_t k = 0; k < q->nvis; k++) names[k + 1] = q->cols[k].name;
    group_tags(q, s, gt);
    qw_series_begin(c->w, m, gt, q->ngtags, names, q->nvis + 1);
    return 0;
}

/* One field of one series, nothing to evaluate per row, in time order (the
 * dashboard's raw panel): from the read straight to the writer, without
 * the row and cell arrays the general merge below builds. */
static int exec_raw_one(ctx *c, sel *q, st_slice m, const qseries *s)
{
    const iql_stmt *st = q->st;
    stor_points pts;
    stor_points_init(&pts);
    int rc = q_read(c, s->id, q->cols[0].f->id, q->tmin, q->tmax, &pts);
    if (!rc) rc = check_budget(c, pts.n);
    if (rc || pts.n == 0 || !slimit_take(q) || (rc = raw_series_begin(c, q, m, s))) goto out;
    size_t from = st->offset > 0 ? (size_t)st->offset : 0, to = pts.n;
    if (st->limit > 0 && from < to && to - from > (uint64_t)st->limit) to = from + (size_t)st->limit;
    qval row[2];
    row[0].type = QV_TIME;
    for (size_t j = from; j < to; j++) {
        row[0].v.i = pts.ts[j];
        row[1] = pts.vals[j];
        qw_row(c->w, row, 2);
    }
    qw_series_end(c->w);
out:
    stor_points_fini(&pts);
    return rc;
}

static int exec_raw_group(ctx *c, sel *q, st_slice m, qseries *ss, size_t n)
{
    size_t ncols = q->ncols, width = ncols + 1;
    if (n == 1 && ncols == 1 && q->nvis == 1 && q->cols[0].f && !q->cols[0].is_tag && !q->cols[0].expr && !c->ncf &&
        !q->st->order_desc)
        return exec_raw_one(c, q, m, ss);
    int rc = 0;
    stor_points *pts = st_calloc(ncols ? ncols : 1, sizeof *pts);
    size_t *pos = st_calloc(ncols ? ncols : 1, sizeof *pos);
    qval *cells = NULL;
    rawrow *rows = NULL;
    size_t nrows = 0, rcap = 0;
    rowf rf;
    memset(&rf, 0, sizeof rf);
    const iql_expr *cond = c->ncf ? q->st->where : NULL;
    if (!pts || !pos) { rc = ST_ENOMEM; goto out; }
    for (size_t k = 0; k < ncols; k++) stor_points_init(&pts[k]);
    for (size_t si = 0; si < n && !rc; si++) {
        size_t total = 0;
        for (size_t k = 0; k < ncols && !rc; k++) {
            pts[k].n = 0;
            pos[k] = 0;
            if (!q->cols[k].f) continue;
            rc = q_read(c, ss[si].id, q->cols[k].f->id, q->tmin, q->tmax, &pts[k]);
            total += pts[k].n;
        }
        if (rc || (rc = check_budget(c, total))) break;
        if (cond && total && (rc = rowf_load(c, &rf, ss[si].id, q->tmin, q->tmax))) break;
        /* strings: copy into the arena so they survive the next read */
        for (size_t k = 0; k < ncols; k++)
            if (pts[k].n && pts[k].type == ST_TYPE_STRING)
                for (size_t j = 0; j < pts[k].n; j++) {
                    st_slice d = adup(c, pts[k].vals[j].v.s);
                    if (!d.ptr) { rc = ST_ENOMEM; break; }
                    pts[k].vals[j].v.s = d;
                }
        if (rc) break;
        for (;;) {
            int64_t t = INT64_MAX;
            int any = 0;
            for (size_t k = 0; k < ncols; k++)
                if (pos[k] < pts[k].n && (!any || pts[k].ts[pos[k]] < t)) { t = pts[k].ts[pos[k]]; any = 1; }
            if (!any) break;
            if (nrows == rcap) {
                /* cells hold width values a row; rcap moves once both have grown */
                size_t nc = rcap;
                if (st_grow(&rows, &nc, nrows + 1, sizeof *rows, 256) ||
                    st_grow(&cells, &(size_t){ rcap * width }, nc * width, sizeof *cells, 256 * width)) {
                    rc = ST_ENOMEM;
                    break;
                }
                rcap = nc;
            }
            qval *cell = &cells[nrows * width];
            cell[0].type = QV_TIME;
            cell[0].v.i = t;
            int anyfield = 0;
            for (size_t k = 0; k < ncols; k++) {
                qval *v = &cell[k + 1];
                v->type = ST_TYPE_NONE;
                if (q->cols[k].is_tag) {
                    st_slice tv = tag_get(&ss[si], q->cols[k].tag);
                    if (tv.len) { v->type = ST_TYPE_STRING; v->v.s = tv; }
                } else if (pos[k] < pts[k].n && pts[k].ts[pos[k]] == t) {
                    *v = pts[k].vals[pos[k]];
                    pos[k]++;
                    anyfield = 1;
                }
            }
            if (!anyfield) continue;
            if (cond && !rowf_pass(c, &rf, &ss[si], cond, t)) continue;
            for (size_t k = 0; k < q->nvis; k++)
                if (q->cols[k].expr) cell[k + 1] = raw_eval(q->cols[k].expr, cell);
            rows[nrows] = (rawrow){ t, (uint32_t)si, (uint32_t)(nrows * width) };
            nrows++;
        }
    }
    if (rc) goto out;
    if (nrows == 0) goto out;
    {
        /* one series, or series that do not interleave: already in order */
        int sorted = 1;
        for (size_t i = 1; i < nrows && sorted; i++) sorted = rawrow_cmp(&rows[i - 1], &rows[i]) <= 0;
        if (!sorted) qsort(rows, nrows, sizeof *rows, rawrow_cmp);
    }
    if (slimit_take(q)) {
        if ((rc = raw_series_begin(c, q, m, &ss[0]))) goto out;
        emit_rows2(c, q, cells, rows, nrows, width, q->nvis + 1);
        qw_series_end(c->w);
    }
out:
    rowf_fini(&rf);
    if (pts) for (size_t k = 0; k < ncols; k++) stor_points_fini(&pts[k]);
    st_free(pts);
    st_free(pos);
    st_free(cells);
    st_free(rows);
    return rc;
}

/* ---- aggregates ---- */

static double num_of(const st_value *v)
{
    switch (v->type) {
    case ST_TYPE_FLOAT: return v->v.f;
    case ST_TYPE_INT: return (double)v->v.i;
    case ST_TYPE_UINT: return (double)v->v.u;
    default: return 0;
    }
}

static int val_lt(const st_value *a, const st_value *b)
{
    if (a->type == ST_TYPE_INT && b->type == ST_TYPE_INT) return a->v.i < b->v.i;
    if (a->type == ST_TYPE_UINT && b->type == ST_TYPE_UINT) return a->v.u < b->v.u;
    return num_of(a) < num_of(b);
}

static int dbl_cmp(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Total order on values of one column: numbers by value (NaN first), then strings, booleans. */
static int val_cmp(const void *pa, const void *pb)
{
    const st_value *a = pa, *b = pb;
    if (is_num(a) && is_num(b)) {
        if (a->type == ST_TYPE_INT && b->type == ST_TYPE_INT) return (a->v.i > b->v.i) - (a->v.i < b->v.i);
        double x = num_of(a), y = num_of(b);
        if (x != x || y != y) return (y != y) - (x != x);
        return (x > y) - (x < y);
    }
    if (a->type != b->type) return a->type < b->type ? -1 : 1;
    if (a->type == ST_TYPE_STRING) return st_slice_cmp(a->v.s, b->v.s);
    if (a->type == ST_TYPE_BOOL) return (int)a->v.b - (int)b->v.b;
    return 0;
}

typedef struct idx_val { double v; int64_t ts; size_t i; } idx_val;
static int idx_val_cmp(const void *pa, const void *pb)
{
    const idx_val *a = pa, *b = pb;
    if (a->v != b->v) return a->v < b->v ? -1 : 1;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Reduce vals[lo, hi) (sorted by time). */
static int reduce(ctx *c, qcall *k, size_t lo, size_t hi)
{
    k->cur.type = ST_TYPE_NONE;
    k->cur_ts = 0;
    k->cur_i = SIZE_MAX;
    k->has_data = hi > lo;
    size_t n = hi - lo;
    const st_value *v = k->vals + lo;
    const int64_t *ts = k->ts + lo;
    st_type ty = k->f ? k->f->type : ST_TYPE_NONE;
    int numeric = ty == ST_TYPE_FLOAT || ty == ST_TYPE_INT || ty == ST_TYPE_UINT;
    if (k->fn == AGG_COUNT) {
        k->cur.type = ST_TYPE_INT;
        k->cur.v.i = (int64_t)n;
        return 0;
    }
    if (k->fn == AGG_COUNT_DISTINCT || k->fn == AGG_MODE) {
        k->cur.type = k->fn == AGG_COUNT_DISTINCT ? ST_TYPE_INT : ST_TYPE_NONE;
        k->cur.v.i = 0;
        if (n == 0) return 0;
        st_value *tmp = st_malloc(n * sizeof *tmp);
        if (!tmp) return ST_ENOMEM;
        memcpy(tmp, v, n * sizeof *tmp);
        qsort(tmp, n, sizeof *tmp, val_cmp);
        size_t distinct = 1, best = 0, best_n = 1, run = 1;
        for (size_t i = 1; i < n; i++) {
            if (val_cmp(&tmp[i - 1], &tmp[i]) == 0) run++;
            else { distinct++; run = 1; }
            if (run > best_n) { best_n = run; best = i; } /* ties: the smallest value (InfluxDB sorts, then counts) */
        }
        if (k->fn == AGG_COUNT_DISTINCT) k->cur.v.i = (int64_t)distinct;
        else k->cur = tmp[best];
        st_free(tmp);
        return 0;
    }
    if (k->fn == AGG_INTEGRAL) {
        if (!numeric) return fail(c, "unsupported integral iterator type: %s", st_type_name(ty));
        /* area under the line through the group's points, clipped to the
         * window (neighbours outside it interpolate the edges) */
        size_t i0 = lo ? lo - 1 : 0, i1 = hi < k->n ? hi : k->n - 1;
        double area = 0;
        for (size_t i = i0; i < i1; i++) {
            int64_t ta = k->ts[i], tb = k->ts[i + 1];
            if (tb <= ta) continue;
            int64_t xa = ta > k->win_lo ? ta : k->win_lo, xb = tb < k->win_hi ? tb : k->win_hi;
            if (xb <= xa) continue;
            double va = num_of(&k->vals[i]), vb = num_of(&k->vals[i + 1]);
            double span = (double)(tb - ta);
            double ya = va + (vb - va) * (double)(xa - ta) / span, yb = va + (vb - va) * (double)(xb - ta) / span;
            area += (ya + yb) / 2 * ((double)(xb - xa) / (double)k->unit_ns);
        }
        k->cur.type = ST_TYPE_FLOAT;
        k->cur.v.f = area;
        return 0;
    }
    if (n == 0) return 0;
    if (!numeric && k->fn != AGG_FIRST && k->fn != AGG_LAST && !(ty == ST_TYPE_BOOL && (k->fn == AGG_MIN || k->fn == AGG_MAX)))
        return fail(c, "unsupported %s iterator type: %s", agg_names[k->fn], st_type_name(ty));
    switch (k->fn) {
    case AGG_SUM:
        if (ty == ST_TYPE_INT) { int64_t s = 0; for (size_t i = 0; i < n; i++) s += v[i].v.i; k->cur.type = ST_TYPE_INT; k->cur.v.i = s; }
        else if (ty == ST_TYPE_UINT) { uint64_t s = 0; for (size_t i = 0; i < n; i++) s += v[i].v.u; k->cur.type = ST_TYPE_UINT; k->cur.v.u = s; }
        else { double s = 0; for (size_t i = 0; i < n; i++) s += v[i].v.f; k->cur.type = ST_TYPE_FLOAT; k->cur.v.f = s; }
        return 0;
    case AGG_MEAN: {
        /* running mean, as InfluxDB's FloatMeanReducer sums then divides */
        double s = 0;
        for (size_t i = 0; i < n; i++) s += num_of(&v[i]);
        k->cur.type = ST_TYPE_FLOAT;
        k->cur.v.f = s / (double)n;
        return 0;
    }
    case AGG_MIN: case AGG_MAX: {
        size_t best = 0;
        for (size_t i = 1; i < n; i++) {
            if (ty == ST_TYPE_BOOL) {
                if (k->fn == AGG_MIN ? (v[i].v.b < v[best].v.b) : (v[i].v.b > v[best].v.b)) best = i;
            } else if (k->fn == AGG_MIN ? val_lt(&v[i], &v[best]) : val_lt(&v[best], &v[i])) {
                best = i;
            }
        }
        k->cur = v[best];
        k->cur_ts = ts[best];
        k->cur_i = lo + best;
        return 0;
    }
    case AGG_FIRST: k->cur = v[0]; k->cur_ts = ts[0]; k->cur_i = lo; return 0;
    case AGG_LAST: k->cur = v[n - 1]; k->cur_ts = ts[n - 1]; k->cur_i = hi - 1; return 0;
    case AGG_SPREAD: {
        st_value mn = v[0], mx = v[0];
        for (size_t i = 1; i < n; i++) {
            if (val_lt(&v[i], &mn)) mn = v[i];
            if (val_lt(&mx, &v[i])) mx = v[i];
        }
        k->cur.type = ty;
        if (ty == ST_TYPE_INT) k->cur.v.i = mx.v.i - mn.v.i;
        else if (ty == ST_TYPE_UINT) k->cur.v.u = mx.v.u - mn.v.u;
        else k->cur.v.f = mx.v.f - mn.v.f;
        return 0;
    }
    case AGG_STDDEV: {
        if (n < 2) return 0;
        double mean = 0;
        for (size_t i = 0; i < n; i++) mean += num_of(&v[i]);
        mean /= (double)n;
        double ss = 0;
        for (size_t i = 0; i < n; i++) { double d = num_of(&v[i]) - mean; ss += d * d; }
        k->cur.type = ST_TYPE_FLOAT;
        k->cur.v.f = __builtin_sqrt(ss / (double)(n - 1));
        return 0;
    }
    case AGG_MEDIAN: {
        double *tmp = st_malloc(n * sizeof *tmp);
        if (!tmp) return ST_ENOMEM;
        for (size_t i = 0; i < n; i++) tmp[i] = num_of(&v[i]);
        qsort(tmp, n, sizeof *tmp, dbl_cmp);
        k->cur.type = ST_TYPE_FLOAT;
        k->cur.v.f = n % 2 ? tmp[n / 2] : tmp[n / 2 - 1] + (tmp[n / 2] - tmp[n / 2 - 1]) / 2;
        st_free(tmp);
        return 0;
    }
    case AGG_PERCENTILE: {
        double r = (double)n * k->pct / 100.0 + 0.5;
        int64_t i = (int64_t)r - 1;
        if (r < 1 || i < 0 || (size_t)i >= n) return 0;
        idx_val *tmp = st_malloc(n * sizeof *tmp);
        if (!tmp) return ST_ENOMEM;
        for (size_t j = 0; j < n; j++) tmp[j] = (idx_val){ num_of(&v[j]), ts[j], j };
        qsort(tmp, n, sizeof *tmp, idx_val_cmp);
        k->cur = v[tmp[i].i];
        k->cur_ts = tmp[i].ts;
        k->cur_i = lo + tmp[i].i;
        st_free(tmp);
        return 0;
    }
    default: return 0;
    }
}

typedef struct tv { int64_t ts; uint32_t seq; uint32_t pad; st_value v; } tv;
static int tv_cmp(const void *pa, const void *pb)
{
    const tv *a = pa, *b = pb;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Gather a call's points over the group's series, sorted by time. */
static int gather(ctx *c, sel *q, qcall *k, qseries *ss, size_t n, stor_points *pts)
{
    k->n = 0;
    k->pos = 0;
    if (!k->f) return 0;
    tv *all = NULL;
    size_t na = 0, cap = 0;
    int rc = 0;
    rowf rf;
    memset(&rf, 0, sizeof rf);
    const iql_expr *cond = c->ncf ? q->st->where : NULL;
    for (size_t si = 0; si < n && !rc; si++) {
        if ((rc = q_read(c, ss[si].id, k->f->id, q->tmin, q->tmax, pts))) break;
        if ((rc = check_budget(c, pts->n))) break;
        if (cond && pts->n && (rc = rowf_load(c, &rf, ss[si].id, q->tmin, q->tmax))) break;
        if ((rc = st_grow(&all, &cap, na + pts->n, sizeof *all, 256))) break;
        for (size_t j = 0; j < pts->n; j++) {
            st_value v = pts->vals[j];
            if (cond && !rowf_pass(c, &rf, &ss[si], cond, pts->ts[j])) continue;
            if (v.type == ST_TYPE_STRING) {
                v.v.s = adup(c, v.v.s);
                if (!v.v.s.ptr) { rc = ST_ENOMEM; break; }
            }
            all[na++] = (tv){ pts->ts[j], (uint32_t)si, 0, v };
        }
    }
    if (!rc && na > 1) qsort(all, na, sizeof *all, tv_cmp);
    if (!rc && na) {
        k->ts = st_arena_alloc(c->a, na * sizeof *k->ts);
        k->vals = st_arena_alloc(c->a, na * sizeof *k->vals);
        k->sid = st_arena_alloc(c->a, na * sizeof *k->sid);
        if (!k->ts || !k->vals || !k->sid) rc = ST_ENOMEM;
        for (size_t i = 0; !rc && i < na; i++) { k->ts[i] = all[i].ts; k->vals[i] = all[i].v; k->sid[i] = all[i].seq; }
        if (!rc) k->n = na;
    }
    rowf_fini(&rf);
    st_free(all);
    return rc;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t d = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) d--;
    return d;
}

/* a op b on numbers (null otherwise): integers stay integers except for
 * division; division by zero gives 0 (InfluxDB). */
static qval arith(iql_tok op, qval a, qval b)
{
    qval r;
    r.type = ST_TYPE_NONE;
    if (!is_num(&a) || !is_num(&b)) return r;
    if (a.type == ST_TYPE_INT && b.type == ST_TYPE_INT && op != IQL_T_DIV) {
        r.type = ST_TYPE_INT;
        switch (op) {
        case IQL_T_ADD: r.v.i = (int64_t)((uint64_t)a.v.i + (uint64_t)b.v.i); break;
        case IQL_T_SUB: r.v.i = (int64_t)((uint64_t)a.v.i - (uint64_t)b.v.i); break;
        case IQL_T_MUL: r.v.i = (int64_t)((uint64_t)a.v.i * (uint64_t)b.v.i); break;
        case IQL_T_MOD: if (b.v.i == 0 || (a.v.i == INT64_MIN && b.v.i == -1)) r.v.i = 0; else r.v.i = a.v.i % b.v.i; break;
        default: r.type = ST_TYPE_NONE; break;
        }
        return r;
    }
    double x = num_of(&a), y = num_of(&b);
    r.type = ST_TYPE_FLOAT;
    switch (op) {
    case IQL_T_ADD: r.v.f = x + y; break;
    case IQL_T_SUB: r.v.f = x - y; break;
    case IQL_T_MUL: r.v.f = x * y; break;
    case IQL_T_DIV: r.v.f = y == 0 ? 0 : x / y; break;
    case IQL_T_MOD: r.v.f = y == 0 ? 0 : __builtin_fmod(x, y); break;
    default: r.type = ST_TYPE_NONE; break;
    }
    return r;
}

/* A math function (abs, round, pow...) of one value (two for pow, log
 * with a base, atan2); null in, null out. Integers stay integers for abs,
 * ceil, floor and round, as InfluxDB. */
static qval eval_math(const iql_expr *e, qval a, qval b)
{
    qval r;
    r.type = ST_TYPE_NONE;
    if (!is_num(&a)) return r;
    st_slice n = e->name;
    if (a.type == ST_TYPE_INT && (ieq(n, "ceil") || ieq(n, "floor") || ieq(n, "round"))) return a;
    if (a.type == ST_TYPE_INT && ieq(n, "abs")) {
        r = a;
        if (a.v.i < 0 && a.v.i != INT64_MIN) r.v.i = -a.v.i;
        return r;
    }
    if (a.type == ST_TYPE_UINT && (ieq(n, "abs") || ieq(n, "ceil") || ieq(n, "floor") || ieq(n, "round"))) return a;
    double x = num_of(&a), y = 0, o;
    if (e->nargs > 1) {
        if (!is_num(&b)) return r;
        y = num_of(&b);
    }
    if (ieq(n, "abs")) o = fabs(x);
    else if (ieq(n, "ceil")) o = ceil(x);
    else if (ieq(n, "floor")) o = floor(x);
    else if (ieq(n, "round")) o = round(x);
    else if (ieq(n, "sqrt")) o = sqrt(x);
    else if (ieq(n, "pow")) o = pow(x, y);
    else if (ieq(n, "ln")) o = log(x);
    else if (ieq(n, "log")) o = e->nargs > 1 ? log(x) / log(y) : log(x);
    else if (ieq(n, "log2")) o = log2(x);
    else if (ieq(n, "log10")) o = log10(x);
    else if (ieq(n, "exp")) o = exp(x);
    else if (ieq(n, "sin")) o = sin(x);
    else if (ieq(n, "cos")) o = cos(x);
    else if (ieq(n, "tan")) o = tan(x);
    else if (ieq(n, "asin")) o = asin(x);
    else if (ieq(n, "acos")) o = acos(x);
    else if (ieq(n, "atan")) o = atan(x);
    else if (ieq(n, "atan2")) o = atan2(x, y);
    else return r;
    r.type = ST_TYPE_FLOAT;
    r.v.f = o;
    return r;
}

/* 1 + the call a column is, when it is one call and nothing more
 * (eval_col would return that call's cur); else 0. */
static size_t col_call(const iql_expr *e)
{
    return e->kind == IQL_E_CALL && e->aux ? (size_t)(uintptr_t)e->aux : 0;
}

enum { COL_AUX = -1, COL_TF = -2, COL_EVAL = -3 };

/* q->col_src and q->need_cur for the measurement's columns (exec_agg_group's
 * rows; multi-row functions have their own): decided once, not tested in
 * every row of every group. */
static int plan_agg_cols(ctx *c, sel *q)
{
    q->col_src = st_arena_alloc(c->a, (q->ncols ? q->ncols : 1) * sizeof *q->col_src);
    if (!q->col_src) return ST_ENOMEM;
    q->need_cur = 0;
    for (size_t k = 0; k < q->ncols; k++) {
        ptrdiff_t s = q->cols[k].aux ? COL_AUX : q->ftf && q->ftf[k].tf ? COL_TF : COL_EVAL;
        size_t ci = s == COL_EVAL ? col_call(q->cols[k].expr) : 0;
        if (ci) s = (ptrdiff_t)ci;
        q->col_src[k] = s;
        q->need_cur |= s == COL_AUX || s == COL_EVAL;
    }
    return 0;
}

/* Evaluate a SELECT column expression over this window's call results. */
static qval eval_col(const sel *q, const iql_expr *e)
{
    qval r;
    r.type = ST_TYPE_NONE;
    switch (e->kind) {
    case IQL_E_CALL:
        if (e->aux) return q->calls[(uintptr_t)e->aux - 1].cur;
        return eval_math(e, eval_col(q, e->args[0]), e->nargs > 1 ? eval_col(q, e->args[1]) : r);
    case IQL_E_PAREN: return eval_col(q, e->lhs);
    case IQL_E_INTEGER: r.type = ST_TYPE_INT; r.v.i = e->i; return r;
    case IQL_E_NUMBER: r.type = ST_TYPE_FLOAT; r.v.f = e->f; return r;
    case IQL_E_BINARY: return arith(e->op, eval_col(q, e->lhs), eval_col(q, e->rhs));
    default: return r;
    }
}

/* One transformation over a column's per-window values: out[w] for each
 * window (null where there is none). Nulls are skipped; the first output
 * needs a previous value (derivative, difference, elapsed) or a full
 * window (moving_average). */

static int tf_run(sel *q, const tfspec *t, const qval *res, size_t nw, const int64_t *bnd, qval *out)
{
    double *ring = t->tf == TF_MOVAVG ? st_malloc((size_t)t->n * sizeof *ring) : NULL;
    if (t->tf == TF_MOVAVG && !ring) return ST_ENOMEM;
    size_t nring = 0;
    int have_prev = 0;
    qval prev = { 0 }, acc = { 0 };
    int64_t prev_t = 0;
    acc.type = ST_TYPE_NONE;
    for (size_t w = 0; w < nw; w++) {
        out[w].type = ST_TYPE_NONE;
        for (size_t i = 0; i < q->ncalls; i++) q->calls[i].cur = res[w * q->ncalls + i];
        qval v = eval_col(q, t->expr);
        if (v.type != ST_TYPE_FLOAT && v.type != ST_TYPE_INT && v.type != ST_TYPE_UINT) continue;
        int64_t tm = bnd[w];
        qval o;
        o.type = ST_TYPE_NONE;
        switch (t->tf) {
        case TF_DERIVATIVE: case TF_NN_DERIVATIVE:
            if (have_prev) {
                double d = (num_of(&v) - num_of(&prev)) / ((double)(tm - prev_t) / (double)t->unit);
                if (t->tf == TF_DERIVATIVE || d >= 0) { o.type = ST_TYPE_FLOAT; o.v.f = d; }
            }
            break;
        case TF_DIFFERENCE: case TF_NN_DIFFERENCE:
            if (have_prev) {
                if (v.type == ST_TYPE_INT && prev.type == ST_TYPE_INT) {
                    o.type = ST_TYPE_INT;
                    o.v.i = (int64_t)((uint64_t)v.v.i - (uint64_t)prev.v.i);
                    if (t->tf == TF_NN_DIFFERENCE && o.v.i < 0) o.type = ST_TYPE_NONE;
                } else {
                    double d = num_of(&v) - num_of(&prev);
                    if (t->tf == TF_DIFFERENCE || d >= 0) { o.type = ST_TYPE_FLOAT; o.v.f = d; }
                }
            }
            break;
        case TF_ELAPSED:
            if (have_prev) { o.type = ST_TYPE_INT; o.v.i = (tm - prev_t) / t->unit; }
            break;
        case TF_CUMSUM:
            if (acc.type == ST_TYPE_NONE) acc = v;
            else if (acc.type == ST_TYPE_INT && v.type == ST_TYPE_INT) acc.v.i = (int64_t)((uint64_t)acc.v.i + (uint64_t)v.v.i);
            else { double x = num_of(&acc) + num_of(&v); acc.type = ST_TYPE_FLOAT; acc.v.f = x; }
            o = acc;
            break;
        case TF_MOVAVG: {
            ring[nring % (size_t)t->n] = num_of(&v);
            nring++;
            if (nring >= (size_t)t->n) {
                double sum = 0;
                for (int64_t k = 0; k < t->n; k++) sum += ring[k];
                o.type = ST_TYPE_FLOAT;
                o.v.f = sum / (double)t->n;
            }
            break;
        }
        default: break;
        }
        prev = v;
        prev_t = tm;
        have_prev = 1;
        out[w] = o;
    }
    st_free(ring);
    return 0;
}

/* The single transformed column: rows only where it gives a value. */
static int emit_transformed(ctx *c, sel *q, st_slice m, const sidx_tag *gt, const st_slice *names, const qval *res,
                            const uint8_t *has, size_t nw, const int64_t *bnd)
{
    const iql_stmt *st = q->st;
    (void)has;
    qval *tfv = st_malloc((nw ? nw : 1) * sizeof *tfv);
    qval *out = st_malloc((nw ? nw : 1) * 2 * sizeof *out);
    if (!tfv || !out) { st_free(tfv); st_free(out); return ST_ENOMEM; }
    tfspec t = { q->tf, q->tf_unit, q->tf_n, q->cols[0].expr };
    int rc = tf_run(q, &t, res, nw, bnd, tfv);
    size_t nout = 0;
    for (size_t w = 0; !rc && w < nw; w++) {
        if (tfv[w].type == ST_TYPE_NONE) continue;
        if (q->interval && bnd[w + 1] <= q->emit_from) continue; /* read only to fill moving_average */
        out[nout * 2].type = QV_TIME;
        out[nout * 2].v.i = bnd[w];
        out[nout * 2 + 1] = tfv[w];
        nout++;
    }
    if (nout) {
        qw_series_begin(c->w, m, gt, q->ngtags, names, 2);
        size_t emitted = 0, skipped = 0;
        for (size_t r = 0; r < nout; r++) {
            size_t i = st->order_desc ? nout - 1 - r : r;
            if ((int64_t)skipped < st->offset) { skipped++; continue; }
            if (st->limit > 0 && (int64_t)emitted >= st->limit) break;
            qw_row(c->w, &out[i * 2], 2);
            emitted++;
        }
        qw_series_end(c->w);
    }
    st_free(tfv);
    st_free(out);
    return rc;
}

/* UTC instant of local wall time local_ns; a wall time in a spring-forward
 * gap maps to the first instant after the gap, a repeated one (autumn) to
 * the earlier instant. */
static int64_t local_to_utc_ns(const st_tz *tz, int64_t local_ns)
{
    int64_t sec = floor_div(local_ns, 1000000000LL), rem = local_ns - sec * 1000000000LL;
    int64_t out[2];
    for (int k = 0; k < 96; k++) { /* gaps end on a quarter hour, within a day */
        int n = st_tz_local_to_utc(tz, sec + (int64_t)k * 900, out);
        if (n > 0) return k ? out[0] * 1000000000LL : out[0] * 1000000000LL + rem;
    }
    return local_ns - (int64_t)st_tz_offset_at(tz, sec, NULL, NULL) * 1000000000LL;
}

/* GROUP BY time windows covering [lo, hi]: the first starts at or before lo,
 * aligned to the epoch plus the offset. With tz() the alignment is in local
 * wall time: an interval longer than an hour steps in local time (so
 * time(1d) windows start at local midnight and are 23 or 25 hours long on
 * DST days); one of an hour or less keeps a fixed length, aligned by the
 * zone's offset at lo (as InfluxDB, which only shifts windows longer than
 * the offset change). *bnd gets nw + 1 boundaries (st_malloc'd). */
static int make_windows(ctx *c, const sel *q, int64_t lo, int64_t hi, int64_t **bnd, size_t *nw)
{
    int64_t iv = q->interval, off = q->offset % iv;
    const st_tz *tz = c->tz;
    /* keep the window arithmetic below far from int64 overflow */
    if (lo < -(INT64_C(1) << 62) || hi > (INT64_C(1) << 62) || iv > (INT64_C(1) << 60))
        return fail(c, "too many windows: the time range is too large for GROUP BY time");
    int64_t zoff = tz ? (int64_t)st_tz_offset_at(tz, floor_div(lo, 1000000000LL), NULL, NULL) * 1000000000LL : 0;
    int local = tz && iv > 3600LL * 1000000000LL;
    int64_t wstart;
    if (__builtin_add_overflow(lo, zoff, &wstart)) wstart = lo;
    wstart = floor_div(wstart - off, iv) * iv + off; /* local (or UTC) wall time */
    int64_t nwin;
    if (!local) {
        wstart -= zoff;
        if (wstart > lo) wstart -= iv;
        nwin = floor_div(hi - wstart, iv) + 1;
        if (nwin < 1) nwin = 1;
    } else {
        /* days (or weeks) of about iv each: 25 h days make at most a few
         * fewer windows than the UTC count, never more than it + 2 */
        nwin = floor_div(hi - (wstart - zoff), iv) + 3;
        if (nwin < 1) nwin = 1;
    }
    if (nwin > MAX_WINDOWS)
        return fail(c, "too many windows: %lld (GROUP BY time interval too small for the range)", (long long)nwin);
    int64_t *b = st_malloc(((size_t)nwin + 2) * sizeof *b);
    if (!b) return ST_ENOMEM;
    if (!local) {
        for (int64_t w = 0; w <= nwin; w++) b[w] = wstart + w * iv;
        *bnd = b;
        *nw = (size_t)nwin;
        return 0;
    }
    int64_t L = wstart;
    for (int k = 0; k < 4 && local_to_utc_ns(tz, L) > lo; k++) L -= iv;
    size_t n = 0;
    for (;;) {
        int64_t u = local_to_utc_ns(tz, L);
        if (n && u <= b[n - 1]) u = b[n - 1] + 1; /* defensive: strictly increasing */
        b[n++] = u;
        if (u > hi || n >= (size_t)nwin + 2) break;
        L += iv;
    }
    *bnd = b;
    *nw = n - 1 ? n - 1 : 1;
    if (n == 1) b[1] = b[0] + iv;
    return 0;
}

typedef struct mpt { int64_t ts; size_t i; } mpt; /* a point of the call: time, index */

/* qsort has no context argument: the call being sorted, per thread */
static _Thread_local const qcall *g_mk;

/* top: larger first, ties earlier first; bottom: smaller first. */
static int mpt_better(const qcall *k, int top, size_t a, size_t b)
{
    int r = val_cmp(&k->vals[a], &k->vals[b]);
    if (r) return top ? r > 0 : r < 0;
    return k->ts[a] < k->ts[b];
}

static _Thread_local int g_mtop;
static int mpt_rank_cmp(const void *pa, const void *pb)
{
    const mpt *a = pa, *b = pb;
    if (mpt_better(g_mk, g_mtop, a->i, b->i)) return -1;
    if (mpt_better(g_mk, g_mtop, b->i, a->i)) return 1;
    return 0;
}

static int mpt_time_cmp(const void *pa, const void *pb)
{
    const mpt *a = pa, *b = pb;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static int idx_val_cmp_k(const void *pa, const void *pb)
{
    const mpt *a = pa, *b = pb;
    int r = val_cmp(&g_mk->vals[a->i], &g_mk->vals[b->i]);
    return r ? r : (a->i > b->i) - (a->i < b->i);
}

/* distinct / top / bottom / sample: several rows per window. Rows carry the
 * point's time (top, bottom, sample; selectors) or the window start
 * (distinct, values in ascending order), as InfluxDB. */
static int exec_multi_group(ctx *c, sel *q, st_slice m, qseries *ss, size_t n)
{
    qcall *k = &q->calls[0];
    stor_points pts;
    stor_points_init(&pts);
    int rc = gather(c, q, k, ss, n, &pts);
    stor_points_fini(&pts);
    if (rc || k->n == 0) return rc;
    st_type ty = k->f ? k->f->type : ST_TYPE_NONE;
    if ((q->multi == MULTI_TOP || q->multi == MULTI_BOTTOM) && ty != ST_TYPE_FLOAT && ty != ST_TYPE_INT && ty != ST_TYPE_UINT)
        return fail(c, "unsupported %s iterator type: %s", q->multi == MULTI_TOP ? "top" : "bottom", st_type_name(ty));
    if (!slimit_take(q)) return 0;
    int64_t *bnd = NULL;
    size_t nw = 1;
    if (q->interval) {
        int64_t lo = q->tmin == INT64_MIN ? k->ts[0] : q->tmin;
        int64_t hi = q->tmax == INT64_MAX ? k->ts[k->n - 1] : q->tmax;
        if ((rc = make_windows(c, q, lo, hi, &bnd, &nw))) return rc;
    }
    size_t width = q->ncols + 1;
    mpt *sel_pts = st_malloc(k->n * sizeof *sel_pts);
    mpt *tmp = st_malloc(k->n * sizeof *tmp);
    qval *cells = st_malloc(k->n * width * sizeof *cells);
    rawrow *rows = st_malloc(k->n * sizeof *rows);
    st_slice *names = st_arena_alloc(c->a, width * sizeof *names);
    sidx_tag *gt = q->ngtags ? st_arena_alloc(c->a, q->ngtags * sizeof *gt) : NULL;
    size_t nrows = 0;
    if (!sel_pts || !tmp || !cells || !rows || !names || (q->ngtags && !gt)) { rc = ST_ENOMEM; goto out; }
    g_mk = k;
    g_mtop = q->multi == MULTI_TOP;
    uint64_t rng = (uint64_t)c->now_ns | 1;
    size_t pos = 0;
    for (size_t w = 0; w < nw; w++) {
        size_t lo = pos, hi = lo;
        if (q->interval) while (hi < k->n && k->ts[hi] < bnd[w + 1]) hi++;
        else hi = k->n;
        pos = hi;
        if (hi == lo) continue;
        size_t ns = 0;
        int64_t wtime = q->interval ? bnd[w] : (q->tmin == INT64_MIN ? 0 : q->tmin);
        if (q->multi == MULTI_DISTINCT) {
            for (size_t i = lo; i < hi; i++) tmp[i - lo] = (mpt){ k->ts[i], i };
            qsort(tmp, hi - lo, sizeof *tmp, idx_val_cmp_k);
            for (size_t i = 0; i < hi - lo; i++)
                if (i == 0 || val_cmp(&k->vals[tmp[i - 1].i], &k->vals[tmp[i].i]) != 0)
                    sel_pts[ns++] = (mpt){ wtime, tmp[i].i };
        } else if (q->multi == MULTI_SAMPLE) {
            /* reservoir sampling (xorshift64*, seeded by the query's now) */
            for (size_t i = lo; i < hi; i++) {
                size_t seen = i - lo;
                if (seen < (size_t)q->multi_n) { sel_pts[ns++] = (mpt){ k->ts[i], i }; continue; }
                rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
                uint64_t r = (rng * 2685821657736338717ULL) % (seen + 1);
                if (r < (uint64_t)q->multi_n) sel_pts[r] = (mpt){ k->ts[i], i };
            }
            qsort(sel_pts, ns, sizeof *sel_pts, mpt_time_cmp);
        } else {
            /* with tag arguments: the best point per distinct tag tuple first */
            size_t nc = 0;
            for (size_t i = lo; i < hi; i++) {
                if (q->nmulti_tags) {
                    size_t j = 0;
                    for (; j < nc; j++) {
                        int same = 1;
                        for (size_t t = 0; t < q->nmulti_tags && same; t++)
                            same = st_slice_eq(tag_get(&ss[k->sid[tmp[j].i]], q->multi_tags[t]),
                                               tag_get(&ss[k->sid[i]], q->multi_tags[t]));
                        if (same) break;
                    }
                    if (j < nc) {
                        if (mpt_better(k, g_mtop, i, tmp[j].i)) tmp[j] = (mpt){ k->ts[i], i };
                        continue;
                    }
                }
                tmp[nc++] = (mpt){ k->ts[i], i };
            }
            qsort(tmp, nc, sizeof *tmp, mpt_rank_cmp);
            ns = nc < (size_t)q->multi_n ? nc : (size_t)q->multi_n;
            memcpy(sel_pts, tmp, ns * sizeof *sel_pts);
            qsort(sel_pts, ns, sizeof *sel_pts, mpt_time_cmp);
        }
        for (size_t j = 0; j < ns; j++) {
            qval *cell = &cells[nrows * width];
            cell[0].type = QV_TIME;
            cell[0].v.i = sel_pts[j].ts;
            cell[1] = k->vals[sel_pts[j].i];
            for (size_t t = 0; t < q->nmulti_tags; t++) {
                cell[2 + t].type = ST_TYPE_STRING;
                cell[2 + t].v.s = tag_get(&ss[k->sid[sel_pts[j].i]], q->multi_tags[t]);
            }
            rows[nrows] = (rawrow){ sel_pts[j].ts, 0, (uint32_t)(nrows * width) };
            nrows++;
        }
    }
    if (nrows) {
        names[0] = ST_SLICE_LIT("time");
        for (size_t i = 0; i < q->ncols; i++) names[i + 1] = q->cols[i].name;
        group_tags(q, &ss[0], gt);
        qw_series_begin(c->w, m, gt, q->ngtags, names, width);
        emit_rows(c, q, cells, rows, nrows, width);
        qw_series_end(c->w);
    }
out:
    g_mk = NULL;
    st_free(bnd);
    st_free(sel_pts);
    st_free(tmp);
    st_free(cells);
    st_free(rows);
    return rc;
}

/* An auxiliary column's value at the selector's point (index pi of k): the
 * tag of the point's series, or the field's value in that series at that
 * time (null if none). */
static qval aux_value(const sel *q, const qcall *k, const qcall *af, const qcol *col, const qseries *ss, size_t pi)
{
    (void)q;
    qval r;
    r.type = ST_TYPE_NONE;
    if (pi == SIZE_MAX || pi >= k->n) return r;
    uint32_t sid = k->sid[pi];
    int64_t t = k->ts[pi];
    if (col->is_tag) {
        st_slice v = tag_get(&ss[sid], col->tag);
        if (v.len) { r.type = ST_TYPE_STRING; r.v.s = v; }
        return r;
    }
    if (!col->f || !af->n) return r;
    size_t lo = 0, hi = af->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (af->ts[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < af->n && af->ts[lo] == t; lo++)
        if (af->sid[lo] == sid) return af->vals[lo];
    return r;
}

/* ---- the fast path: windowed simple aggregates streamed from storage ----
 * count/sum/mean/min/max/first/last/spread over stored fields, no field
 * condition, no auxiliary columns, not over a subquery: query/fastagg.c
 * folds each series' points in time order (no gathering, no sort) and
 * takes whole blocks' statistics where a block fits a window. Produces the
 * same per-window cells as the gather/reduce path. */

/* The QFA_* bit of an aggregate, or -1. */
static int qfa_fn(int fn)
{
    switch (fn) {
    case AGG_COUNT: return QFA_COUNT;
    case AGG_SUM: return QFA_SUM;
    case AGG_MEAN: return QFA_MEAN;
    case AGG_MIN: return QFA_MIN;
    case AGG_MAX: return QFA_MAX;
    case AGG_FIRST: return QFA_FIRST;
    case AGG_LAST: return QFA_LAST;
    case AGG_SPREAD: return QFA_SPREAD;
    default: return -1;
    }
}

static int fast_ok(const ctx *c, const sel *q)
{
    if (c->vt || c->ncf || q->tf_raw || q->has_aux || q->ncalls == 0) return 0;
    for (size_t i = 0; i < q->ncalls; i++) {
        const qcall *k = &q->calls[i];
        int b = qfa_fn(k->fn);
        if (b < 0 || !k->f) return 0;
        if (!qfa_supported((unsigned)b, k->f->type)) return 0;
    }
    return 1;
}

static int qfa_budget(void *arg, uint64_t n) { return check_budget(arg, (size_t)n); }

/* Window w's cell of aggregate fn into *v, field by field (a qval built
 * on the stack and copied whole stalls on store forwarding). */
static void cell_put(ctx *c, int fn, const qfa_win *w, qval *v, int64_t *selts)
{
    *selts = 0;
    if (fn == AGG_COUNT) { v->type = ST_TYPE_INT; v->v.i = (int64_t)w->count; return; }
    v->type = ST_TYPE_NONE;
    if (w->count == 0) return;
    switch (fn) {
    case AGG_SUM: *v = w->sum; break;
    case AGG_MEAN: v->type = ST_TYPE_FLOAT; v->v.f = w->mean; break;
    case AGG_SPREAD: *v = w->spread; break;
    case AGG_MIN: *v = w->min; *selts = w->min_ts; break;
    case AGG_MAX: *v = w->max; *selts = w->max_ts; break;
    case AGG_FIRST: *v = w->first; *selts = w->first_ts; break;
    case AGG_LAST: *v = w->last; *selts = w->last_ts; break;
    default: break;
    }
    if (v->type == ST_TYPE_STRING) v->v.s = adup(c, v->v.s);
}

/* A group's per-window results, nw windows by nc calls, in one block that
 * starts at *res (the only pointer to free): the values, the selected
 * points' times, whether the window had data, and nc bytes of zeros after
 * them for the caller (fast_agg's done marks). */
static int win_arrays(size_t nw, size_t nc, qval **res, int64_t **sel_ts, uint8_t **has, uint8_t **extra)
{
    size_t cells = nw * nc;
    if (nc && cells / nc != nw) return ST_ENOMEM;
    if (cells > (SIZE_MAX - nc) / (sizeof **res + sizeof **sel_ts + 1)) return ST_ENOMEM;
    char *p = st_malloc(cells * (sizeof **res + sizeof **sel_ts + 1) + nc);
    if (!p) return ST_ENOMEM;
    *res = (qval *)(void *)p;
    *sel_ts = (int64_t *)(void *)(p + cells * sizeof **res);
    *has = (uint8_t *)(p + cells * (sizeof **res + sizeof **sel_ts));
    if (extra) {
        *extra = *has + cells;
        memset(*extra, 0, nc);
    }
    return 0;
}

/* Fill bnd/nw and the per-window cells; *total = points seen (0: no rows). */
static int fast_agg(ctx *c, sel *q, qseries *ss, size_t n, int64_t **bnd_out, size_t *nw_out, qval **res_out,
                    int64_t **selts_out, uint8_t **has_out, uint64_t *total)
{
    int rc = 0;
    int64_t iv = q->interval;
    uint64_t *ids = st_arena_alloc(c->a, (n ? n : 1) * sizeof *ids);
    if (!ids) return ST_ENOMEM;
    for (size_t i = 0; i < n; i++) ids[i] = ss[i].id;
    int64_t tmin = q->tmin == INT64_MIN ? ST_TIME_MIN_NS : q->tmin;
    int64_t tmax = q->tmax == INT64_MAX ? ST_TIME_MAX_NS : q->tmax;
    int single_selector = q->ncalls == 1 && agg_is_selector(q->calls[0].fn) && !iv;
    int64_t *bnd = NULL;
    size_t nw = 1;
    qfa_result *fr = &c->fr;
    *total = 0;
    if (iv) {
        int64_t lo = q->tmin, hi = q->tmax;
        if (lo == INT64_MIN || hi == INT64_MAX) {
            /* The data's own first and last times bound the windows. */
            qfa_opts o1 = { QFA_FIRST | QFA_LAST, 0, !c->req->no_block_stats, qfa_budget, c };
            int64_t f_ts = INT64_MAX, l_ts = INT64_MIN;
            for (size_t i = 0; i < q->ncalls && !rc; i++) {
                qfa_query fq = { q->calls[i].f->id, (uint8_t)q->calls[i].f->type, ids, n, tmin, tmax, NULL, 1 };
                rc = qfa_run(c->s, &o1, &fq, fr);
                if (!rc && fr->win[0].count) {
                    if (fr->win[0].first_ts < f_ts) f_ts = fr->win[0].first_ts;
                    if (fr->win[0].last_ts > l_ts) l_ts = fr->win[0].last_ts;
                }
            }
            if (rc || f_ts == INT64_MAX) return rc;
            if (lo == INT64_MIN) lo = f_ts;
            if (hi == INT64_MAX) hi = c->now_ns > l_ts ? c->now_ns : l_ts;
        }
        if ((rc = make_windows(c, q, lo, hi, &bnd, &nw))) return rc;
    }
    size_t nc = q->ncalls;
    qval *res = NULL;
    int64_t *sel_ts = NULL;
    uint8_t *has = NULL, *done = NULL;
    rc = win_arrays(nw, nc, &res, &sel_ts, &has, &done);
    /* One scan per distinct field, for all its calls. */
    for (size_t i = 0; i < nc && !rc; i++) {
        if (done[i]) continue;
        const qfield *f = q->calls[i].f;
        unsigned aggs = 0;
        for (size_t j = i; j < nc; j++)
            if (q->calls[j].f->id == f->id) aggs |= (unsigned)qfa_fn(q->calls[j].fn);
        qfa_opts o = { aggs, single_selector ? QFA_SEL_TS : 0, !c->req->no_block_stats, qfa_budget, c };
        qfa_query fq = { f->id, (uint8_t)f->type, ids, n, tmin, tmax, bnd, nw };
        if (!iv && q->ncalls == 1 && q->calls[0].fn == AGG_LAST) rc = qfa_last(c->s, &o, &fq, fr);
        else rc = qfa_run(c->s, &o, &fq, fr);
        for (size_t j = i; j < nc && !rc; j++) {
            if (q->calls[j].f->id != f->id) continue;
            done[j] = 1;
            for (size_t w = 0; w < nw; w++) {
                const qfa_win *fw = &fr->win[w];
                cell_put(c, q->calls[j].fn, fw, &res[w * nc + j], &sel_ts[w * nc + j]);
                has[w * nc + j] = fw->count > 0;
                if (j == i) *total += fw->count;
            }
        }
    }
    if (rc || *total == 0) {
        st_free(res);
        st_free(bnd);
        return rc;
    }
    *bnd_out = bnd;
    *nw_out = nw;
    *res_out = res;
    *selts_out = sel_ts;
    *has_out = has;
    return 0;
}

static int exec_agg_group(ctx *c, sel *q, st_slice m, qseries *ss, size_t n)
{
    int rc = 0;
    int64_t wstart, iv = q->interval;
    int64_t *bnd = NULL; /* window boundaries: window w is [bnd[w], bnd[w + 1]) */
    size_t nw = 1;
    qval *tfvals = NULL;
    size_t *sel_i = NULL;
    qcall *auxf = NULL;
    qval *res = NULL;
    int64_t *sel_ts = NULL;
    uint8_t *has = NULL;
    st_slice *names = NULL;
    qval *row = NULL;
    sidx_tag *gt = NULL;
    size_t width = q->ncols + 1;
    const iql_stmt *st = q->st;
    if (fast_ok(c, q)) {
        uint64_t seen = 0;
        if ((rc = fast_agg(c, q, ss, n, &bnd, &nw, &res, &sel_ts, &has, &seen)) || seen == 0) return rc;
        if (!slimit_take(q)) { rc = 0; goto out; }
        wstart = iv ? bnd[0] : (q->tmin == INT64_MIN ? 0 : q->tmin);
        names = st_arena_alloc(c->a, width * sizeof *names);
        row = st_arena_alloc(c->a, width * sizeof *row);
        gt = q->ngtags ? st_arena_alloc(c->a, q->ngtags * sizeof *gt) : NULL;
        if (!names || !row || (q->ngtags && !gt)) { rc = ST_ENOMEM; goto out; }
        names[0] = ST_SLICE_LIT("time");
        for (size_t k = 0; k < q->ncols; k++) names[k + 1] = q->cols[k].name;
        group_tags(q, &ss[0], gt);
        goto fill;
    }
    stor_points pts;
    stor_points_init(&pts);
    int64_t first_ts = INT64_MAX, last_ts = INT64_MIN;
    size_t total = 0;
    for (size_t i = 0; i < q->ncalls && !rc; i++) {
        rc = gather(c, q, &q->calls[i], ss, n, &pts);
        if (!rc && q->calls[i].n) {
            total += q->calls[i].n;
            if (q->calls[i].ts[0] < first_ts) first_ts = q->calls[i].ts[0];
            if (q->calls[i].ts[q->calls[i].n - 1] > last_ts) last_ts = q->calls[i].ts[q->calls[i].n - 1];
        }
    }
    stor_points_fini(&pts);
    if (rc || total == 0) return rc;
    if (!slimit_take(q)) return 0;

    if (q->tf_raw) {
        /* each point its own window: the transformation walks raw values */
        qcall *k = &q->calls[0];
        size_t w2 = 2;
        st_slice *nm2 = st_arena_alloc(c->a, w2 * sizeof *nm2);
        sidx_tag *gt2 = q->ngtags ? st_arena_alloc(c->a, q->ngtags * sizeof *gt2) : NULL;
        int64_t *tb = st_malloc((k->n + 1) * sizeof *tb);
        qval *res2 = st_malloc(k->n * sizeof *res2);
        uint8_t *has2 = st_malloc(k->n);
        if (!nm2 || (q->ngtags && !gt2) || !tb || !res2 || !has2) rc = ST_ENOMEM;
        for (size_t i = 0; !rc && i < k->n; i++) { tb[i] = k->ts[i]; res2[i] = k->vals[i]; has2[i] = 1; }
        if (!rc) {
            tb[k->n] = k->n ? k->ts[k->n - 1] + 1 : 0;
            nm2[0] = ST_SLICE_LIT("time");
            nm2[1] = q->cols[0].name;
            group_tags(q, &ss[0], gt2);
            rc = emit_transformed(c, q, m, gt2, nm2, res2, has2, k->n, tb);
        }
        st_free(tb);
        st_free(res2);
        st_free(has2);
        return rc;
    }
    if (iv) {
        int64_t lo = q->tmin == INT64_MIN ? first_ts : q->tmin;
        int64_t hi = q->tmax == INT64_MAX ? (c->now_ns > last_ts ? c->now_ns : last_ts) : q->tmax;
        if ((rc = make_windows(c, q, lo, hi, &bnd, &nw))) return rc;
        wstart = bnd[0];
    } else {
        wstart = q->tmin == INT64_MIN ? 0 : q->tmin;
    }
    names = st_arena_alloc(c->a, width * sizeof *names);
    row = st_arena_alloc(c->a, width * sizeof *row);
    gt = q->ngtags ? st_arena_alloc(c->a, q->ngtags * sizeof *gt) : NULL;
    if (!names || !row || (q->ngtags && !gt)) { st_free(bnd); return ST_ENOMEM; }
    names[0] = ST_SLICE_LIT("time");
    for (size_t k = 0; k < q->ncols; k++) names[k + 1] = q->cols[k].name;
    group_tags(q, &ss[0], gt);

    /* has_aux: auxf holds the aux fields' points, per column */
    if (q->has_aux) {
        sel_i = st_malloc(nw * sizeof *sel_i);
        auxf = st_calloc(q->ncols, sizeof *auxf);
        if (!sel_i || !auxf) { st_free(sel_i); st_free(auxf); st_free(bnd); return ST_ENOMEM; }
        stor_points ap;
        stor_points_init(&ap);
        for (size_t k = 0; k < q->ncols && !rc; k++) {
            if (!q->cols[k].aux || !q->cols[k].f) continue;
            auxf[k].fn = AGG_FIRST;
            auxf[k].f = q->cols[k].f;
            rc = gather(c, q, &auxf[k], ss, n, &ap);
        }
        stor_points_fini(&ap);
        if (rc) { st_free(sel_i); st_free(auxf); st_free(bnd); return rc; }
    }
    /* windows -> per call results; buffer all rows (fill linear looks ahead) */
    if ((rc = win_arrays(nw, q->ncalls, &res, &sel_ts, &has, NULL))) goto out;
    for (size_t w = 0; w < nw && !rc; w++) {
        for (size_t i = 0; i < q->ncalls && !rc; i++) {
            qcall *k = &q->calls[i];
            size_t lo = k->pos, hi = lo;
            if (iv) {
                while (hi < k->n && k->ts[hi] < bnd[w + 1]) hi++;
            } else {
                hi = k->n;
            }
            k->pos = hi;
            k->win_lo = iv ? bnd[w] : INT64_MIN;
            k->win_hi = iv ? bnd[w + 1] : INT64_MAX;
            rc = reduce(c, k, lo, hi);
            res[w * q->ncalls + i] = k->cur;
            sel_ts[w * q->ncalls + i] = k->cur_ts;
            if (sel_i) sel_i[w] = k->cur_i; /* has_aux: one call */
            has[w * q->ncalls + i] = (uint8_t)k->has_data;
        }
        if (!rc && (w & 1023) == 0 && c->deadline_mono_ns && st_mono_ns() > c->deadline_mono_ns)
            rc = fail(c, "query-timeout limit exceeded");
    }
    if (rc) goto out;
fill:
    for (size_t i = 0; i < q->ncalls; i++) {
        qcall *k = &q->calls[i];
        size_t prev = SIZE_MAX;
        for (size_t w = 0; w < nw; w++) {
            qval *v = &res[w * q->ncalls + i];
            if (v->type != ST_TYPE_NONE && has[w * q->ncalls + i]) { prev = w; continue; }
            if (v->type != ST_TYPE_NONE && (k->fn == AGG_COUNT || k->fn == AGG_COUNT_DISTINCT) && st->fill != IQL_FILL_NULL)
                v->type = ST_TYPE_NONE;
            if (v->type != ST_TYPE_NONE) continue;
            switch (st->fill) {
            case IQL_FILL_NUMBER:
                if (st->fill_is_int && (k->fn == AGG_COUNT || k->fn == AGG_COUNT_DISTINCT || (k->f && k->f->type == ST_TYPE_INT && k->fn != AGG_MEAN &&
                                                              k->fn != AGG_MEDIAN && k->fn != AGG_STDDEV))) {
                    v->type = ST_TYPE_INT; v->v.i = (int64_t)st->fill_value;
                } else {
                    v->type = ST_TYPE_FLOAT; v->v.f = st->fill_value;
                }
                break;
            case IQL_FILL_PREVIOUS:
                if (prev != SIZE_MAX) *v = res[prev * q->ncalls + i];
                break;
            case IQL_FILL_LINEAR: {
                if (prev == SIZE_MAX || !iv) break;
                size_t nx = w + 1;
                while (nx < nw && !(has[nx * q->ncalls + i] && res[nx * q->ncalls + i].type != ST_TYPE_NONE)) nx++;
                if (nx >= nw) break;
                qval a = res[prev * q->ncalls + i], b = res[nx * q->ncalls + i];
                if (a.type == ST_TYPE_INT && b.type == ST_TYPE_INT) {
                    v->type = ST_TYPE_INT;
                    v->v.i = a.v.i + (b.v.i - a.v.i) * (int64_t)(w - prev) / (int64_t)(nx - prev);
                } else if (a.type == ST_TYPE_FLOAT || a.type == ST_TYPE_INT || a.type == ST_TYPE_UINT) {
                    double x = num_of(&a), y = num_of(&b);
                    v->type = ST_TYPE_FLOAT;
                    v->v.f = x + (y - x) * (double)(w - prev) / (double)(nx - prev);
                }
                break;
            }
            default: break;
            }
        }
    }
    if (q->tf) { rc = emit_transformed(c, q, m, gt, names, res, has, nw, bnd); goto out; }
    /* transformations among the columns: their values per window first */
    if (q->ftf) {
        tfvals = st_malloc(q->ncols * nw * sizeof *tfvals);
        if (!tfvals) { rc = ST_ENOMEM; goto out; }
        for (size_t k = 0; k < q->ncols && !rc; k++)
            if (q->ftf[k].tf) rc = tf_run(q, &q->ftf[k], res, nw, bnd, &tfvals[k * nw]);
        if (rc) goto out;
    }
    /* rows */
    {
        int single_selector = q->ncalls == 1 && agg_is_selector(q->calls[0].fn) && !iv;
        int all_tf = q->ftf != NULL;
        for (size_t k = 0; q->ftf && k < q->ncols; k++) all_tf &= q->ftf[k].tf != 0;
        size_t emitted = 0, skipped = 0;
        qw_series_begin(c->w, m, gt, q->ngtags, names, width);
        for (size_t r = 0; r < nw; r++) {
            size_t w = st->order_desc ? nw - 1 - r : r;
            int anyhas = 0, anyval = 0;
            for (size_t i = 0; i < q->ncalls; i++) {
                anyhas |= has[w * q->ncalls + i];
                anyval |= res[w * q->ncalls + i].type != ST_TYPE_NONE;
            }
            if (!anyhas && (st->fill == IQL_FILL_NONE || !iv)) continue;
            if (iv && bnd[w + 1] <= q->emit_from) continue;
            if (all_tf) {
                int anytf = 0;
                for (size_t k = 0; k < q->ncols; k++) anytf |= tfvals[k * nw + w].type != ST_TYPE_NONE;
                if (!anytf) continue;
            }
            (void)anyval;
            if ((int64_t)skipped < st->offset) { skipped++; continue; }
            if (st->limit > 0 && (int64_t)emitted >= st->limit) break;
            /* the calls' cur only for the columns that read them (plan_agg_cols) */
            for (size_t i = 0; q->need_cur && i < q->ncalls; i++) q->calls[i].cur = res[w * q->ncalls + i];
            row[0].type = QV_TIME;
            row[0].v.i = iv ? bnd[w] : (single_selector && has[w * q->ncalls] ? sel_ts[w * q->ncalls] : wstart);
            const qval *rw = &res[w * q->ncalls];
            for (size_t k = 0; k < q->ncols; k++) {
                ptrdiff_t s = q->col_src[k];
                if (s > 0) row[k + 1] = rw[s - 1];
                else if (s == COL_TF) row[k + 1] = tfvals[k * nw + w];
                else if (s == COL_AUX) row[k + 1] = aux_value(q, &q->calls[0], &auxf[k], &q->cols[k], ss, sel_i[w]);
                else row[k + 1] = eval_col(q, q->cols[k].expr);
            }
            qw_row(c->w, row, width);
            emitted++;
        }
        qw_series_end(c->w);
    }
out:
    st_free(sel_i);
    st_free(auxf);
    st_free(tfvals);
    st_free(bnd);
    st_free(res); /* and sel_ts, has: one block (win_arrays) */
    return rc;
}

static int gkey_cmp_series(const sel *q, const qseries *a, const qseries *b)
{
    for (size_t g = 0; g < q->ngtags; g++) {
        int r = st_slice_cmp(a->gk[g], b->gk[g]);
        if (r) return r;
    }
    return 0;
}

/* Each series' group key, looked up once rather than at every comparison. */
static int set_group_keys(ctx *c, const sel *q, qseries *ss, size_t n)
{
    st_slice *gk = st_arena_alloc(c->a, n * q->ngtags * sizeof *gk);
    if (!gk) return ST_ENOMEM;
    for (size_t i = 0; i < n; i++, gk += q->ngtags) {
        for (size_t g = 0; g < q->ngtags; g++) gk[g] = tag_get(&ss[i], q->gtags[g]);
        ss[i].gk = gk;
    }
    return 0;
}

/* Group key, then series order (series_cmp, a total order: no two
 * series compare equal, so the sort needs no stability). */
static int group_then_series_cmp(const void *pa, const void *pb, void *q)
{
    const qseries *a = pa, *b = pb;
    int r = gkey_cmp_series(q, a, b);
    return r ? r : series_cmp(a, b);
}

/* Order ss (in any order: load_series_unsorted) by group key, and by
 * series order within a group (InfluxDB's). One sort for both: the group
 * keys decide almost every comparison, which is cheaper than sorting by
 * the whole tag set first. */
static void sort_groups(const sel *q, qseries *ss, size_t n)
{
    if (n > 1) qsort_r(ss, n, sizeof *ss, group_then_series_cmp, (void *)q);
}

/* ---- groups on several threads ----
 *
 * A GROUP BY tags aggregate that fast_agg answers, over PAR_MIN_GROUPS
 * groups or more, also runs on idle query workers the caller lends
 * (qry_request.offer). The groups are cut into chunks of consecutive
 * groups; each thread takes the next chunk from an atomic counter and
 * writes that chunk's series with a writer of its own, through its own
 * copies of the per-group state (ctx with its own arena and fast_agg
 * result, sel with its own calls, whose cur carries each row). The query's
 * thread takes chunks too, then appends the chunks' text in group order
 * (qw_join): the body is byte for byte what one thread writes.
 *
 * The shared pjob is reference-counted. A lent worker that starts late
 * finds no chunk left and only drops its reference, so the query's thread
 * waits only for chunks a worker has taken, never for a worker to wake.
 * Every chunk is taken by someone; after an error the takers mark the rest
 * not run, and the error reported is the first chunk's that failed (the
 * group one thread would have stopped at). The point budget is the root
 * ctx's, counted atomically.
 *
 * Not used for CSV (its header lines depend on what came before), rows
 * captured for a subquery, SLIMIT/SOFFSET (which count series in order),
 * or without a lender.
 */
#define PAR_MIN_GROUPS 8
#define PAR_MAX_HELPERS 3
#define PAR_CHUNKS 16                 /* about this many chunks */

typedef struct pchunk {
    st_buf text;                      /* the chunk's series, as qw's stmt holds them */
    int nseries;
    int ran;                          /* 0: not run (an earlier error stopped the query) */
    int rc;
    char *err;                        /* owned: the message of a failure */
    _Atomic int done;
} pchunk;

typedef struct pjob {
    _Atomic int refs;
    _Atomic size_t next;              /* the next chunk to take */
    _Atomic int stop;                 /* a chunk failed: run no more */
    size_t nchunks, per, ngroups;
    /* borrowed from the query's thread, read only while a chunk is taken */
    ctx *root;
    const sel *q;
    st_slice m;
    qseries *ss;
    const size_t *gb;                 /* group g is ss[gb[g], gb[g + 1]) */
    pchunk *ch;                       /* owned: nchunks */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int waiting;                      /* under mu: the query's thread waits on cv */
} pjob;

static int par_ok(const ctx *c, const sel *q)
{
    return c->req->offer && q->agg && !q->multi && q->ngtags && !c->w->cap && !c->w->csv && q->st->slimit <= 0 &&
           q->st->soffset <= 0 && fast_ok(c, q);
}

static void pjob_unref(pjob *j)
{
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1) return;
    for (size_t k = 0; k < j->nchunks; k++) {
        st_buf_fini(&j->ch[k].text);
        st_free(j->ch[k].err);
    }
    st_free(j->ch);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    st_free(j);
}

/* Take chunks until none is left. The copies are made at the first one. */
static void par_run(pjob *j)
{
    size_t k = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (k >= j->nchunks) return;
    const ctx *r = j->root;
    st_arena a;
    st_arena_init(&a, 0);
    qw w;
    qw_init(&w, NULL, 0, r->w->epoch, 0);
    w.tz = r->w->tz;
    ctx c;
    memset(&c, 0, sizeof c);
    c.s = r->s;
    c.idx = r->idx;
    c.req = r->req;
    c.root = j->root;
    c.a = &a;
    c.w = &w;
    c.now_ns = r->now_ns;
    c.deadline_mono_ns = r->deadline_mono_ns;
    c.tz = r->tz; /* borrowed: not freed here */
    c.sub_tmin = r->sub_tmin;
    c.sub_tmax = r->sub_tmax;
    qfa_result_init(&c.fr);
    sel q = *j->q;
    q.calls = st_arena_alloc(&a, q.ncalls * sizeof *q.calls);
    if (q.calls) {
        memcpy(q.calls, j->q->calls, q.ncalls * sizeof *q.calls);
        for (size_t i = 0; i < q.ncalls; i++) {
            q.calls[i].ts = NULL; /* the gather buffers stay the root's (fast_agg uses none) */
            q.calls[i].vals = NULL;
            q.calls[i].sid = NULL;
            q.calls[i].n = q.calls[i].cap = 0;
        }
    }
    do {
        pchunk *ch = &j->ch[k];
        int rc = q.calls ? 0 : ST_ENOMEM;
        if (!atomic_load_explicit(&j->stop, memory_order_relaxed)) {
            ch->ran = 1;
            size_t g1 = (k + 1) * j->per < j->ngroups ? (k + 1) * j->per : j->ngroups;
            for (size_t g = k * j->per; g < g1 && !rc; g++)
                rc = exec_agg_group(&c, &q, j->m, j->ss + j->gb[g], j->gb[g + 1] - j->gb[g]);
            if (!rc && w.oom) rc = ST_ENOMEM;
            if (rc) {
                ch->rc = rc;
                if (c.err[0]) ch->err = st_strdup(c.err);
                atomic_store_explicit(&j->stop, 1, memory_order_relaxed);
            }
            ch->nseries = w.nseries;
            ch->text = w.stmt; /* the chunk takes the text; the writer starts a new one */
            st_buf_init(&w.stmt);
            /* the next chunk's text is about this one's size: made room
             * for once, not grown by doubling (a failure only loses that) */
            (void)st_buf_reserve(&w.stmt, ch->text.len + ch->text.len / 8);
            qw_stmt_discard(&w);
        }
        pthread_mutex_lock(&j->mu);
        atomic_store_explicit(&ch->done, 1, memory_order_release);
        if (j->waiting) pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    } while ((k = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->nchunks);
    qfa_result_fini(&c.fr);
    qw_fini(&w);
    st_arena_fini(&a);
}

static void par_helper(void *arg)
{
    pjob *j = arg;
    par_run(j);
    pjob_unref(j);
}

/* The groups of ss (sorted by group key) on this thread and lent ones.
 * ST_EUNSUPPORTED: too few groups (the caller runs them itself). */
static int exec_groups_par(ctx *c, sel *q, st_slice m, qseries *ss, size_t n)
{
    size_t *gb = st_arena_alloc(c->a, (n + 1) * sizeof *gb); /* group starts, at most n */
    if (!gb) return ST_ENOMEM;
    size_t ng = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || gkey_cmp_series(q, &ss[i - 1], &ss[i]) != 0) gb[ng++] = i;
    gb[ng] = n;
    if (ng < PAR_MIN_GROUPS) return ST_EUNSUPPORTED;
    pjob *j = st_calloc(1, sizeof *j);
    size_t per = (ng + PAR_CHUNKS - 1) / PAR_CHUNKS;
    size_t nchunks = (ng + per - 1) / per;
    pchunk *ch = j ? st_calloc(nchunks, sizeof *ch) : NULL;
    if (!ch) {
        st_free(j);
        return ST_ENOMEM;
    }
    for (size_t k = 0; k < nchunks; k++) st_buf_init(&ch[k].text);
    atomic_init(&j->refs, 1);
    atomic_init(&j->next, 0);
    atomic_init(&j->stop, 0);
    j->nchunks = nchunks;
    j->per = per;
    j->ngroups = ng;
    j->root = c;
    j->q = q;
    j->m = m;
    j->ss = ss;
    j->gb = gb;
    j->ch = ch;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    for (int h = 0; h < PAR_MAX_HELPERS && (size_t)h + 1 < nchunks; h++) {
        atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed);
        if (!c->req->offer(c->req->offer_arg, par_helper, j)) {
            atomic_fetch_sub_explicit(&j->refs, 1, memory_order_relaxed);
            break;
        }
    }
    par_run(j);
    /* Every chunk is taken. In group order: wait for the ones lent workers
     * still run (all of them: they read c), appending each chunk's text as
     * it is done, while later ones still run. */
    int rc = 0;
    for (size_t k = 0; k < nchunks; k++) {
        if (!atomic_load_explicit(&ch[k].done, memory_order_acquire)) {
            pthread_mutex_lock(&j->mu);
            j->waiting = 1;
            while (!atomic_load_explicit(&ch[k].done, memory_order_acquire)) pthread_cond_wait(&j->cv, &j->mu);
            pthread_mutex_unlock(&j->mu);
        }
        if (rc || !ch[k].ran) continue;
        if ((rc = ch[k].rc) != 0) {
            if (ch[k].err) snprintf(c->err, sizeof c->err, "%s", ch[k].err);
            continue;
        }
        /* the chunks after the first are about its size: room for all */
        qw_join(c->w, &ch[k].text, ch[k].nseries, k == 0 ? (nchunks - 1) * (ch[0].text.len + ch[0].text.len / 8) : 0);
    }
    pjob_unref(j);
    return rc;
}

static int exec_select_measurement(ctx *c, sel *q, uint64_t db_id, st_slice m)
{
    field_list fl;
    memset(&fl, 0, sizeof fl);
    fl.c = c;
    int rc = c->vt ? vt_field_each(c, m, field_cb, &fl) : sidx_field_each(c->idx, db_id, m, field_cb, &fl);
    if (fl.oom) return ST_ENOMEM;
    if (rc == ST_ENOTFOUND) return 0;
    name_list tk;
    memset(&tk, 0, sizeof tk);
    tk.c = c;
    if (c->vt) vt_tag_key_each(c, m, name_cb, &tk);
    else sidx_tag_key_each(c->idx, db_id, m, name_cb, &tk);
    if (tk.oom) return ST_ENOMEM;
    if ((rc = where_prepare(c, q->st->where, &fl))) return rc;

    /* GROUP BY tags for this measurement */
    q->ngtags = 0;
    q->gtags = st_arena_alloc(c->a, (q->st->ndims + tk.n + 1) * sizeof *q->gtags);
    if (!q->gtags) return ST_ENOMEM;
    for (size_t i = 0; i < q->st->ndims; i++) {
        const iql_dim *d = &q->st->dims[i];
        if (d->kind == IQL_DIM_TAG) {
            int dup = 0;
            for (size_t g = 0; g < q->ngtags; g++) dup |= st_slice_eq(q->gtags[g], d->name);
            if (!dup) q->gtags[q->ngtags++] = d->name;
        }
    }
    if (q->gwild || q->gregex)
        for (size_t j = 0; j < tk.n; j++) {
            if (!q->gwild && !re_match(c, q->gregex, tk.v[j])) continue;
            int dup = 0;
            for (size_t g = 0; g < q->ngtags; g++) dup |= st_slice_eq(q->gtags[g], tk.v[j]);
            if (!dup) q->gtags[q->ngtags++] = tk.v[j];
        }
    for (size_t a = 1; a < q->ngtags; a++)
        for (size_t b = a; b > 0 && st_slice_cmp(q->gtags[b - 1], q->gtags[b]) > 0; b--) {
            st_slice t = q->gtags[b]; q->gtags[b] = q->gtags[b - 1]; q->gtags[b - 1] = t;
        }

    if (q->expand && (rc = expand_calls(c, q, &fl))) return rc;
    for (size_t k = 0; q->has_aux && k < q->ncols; k++) {
        qcol *col = &q->cols[k];
        if (!col->aux) continue;
        const iql_expr *e = col->expr;
        col->f = ieq(e->cast, "tag") ? NULL : field_find(&fl, e->name);
        col->is_tag = !col->f && !ieq(e->cast, "field");
        col->tag = e->name;
    }
    if (q->agg) {
        for (size_t i = 0; i < q->ncalls; i++) {
            q->calls[i].f = field_find(&fl, q->calls[i].field);
            int fn = q->calls[i].fn;
            if (q->calls[i].f && q->calls[i].f->type == ST_TYPE_STRING && fn != AGG_COUNT && fn != AGG_FIRST &&
                fn != AGG_LAST && fn != AGG_MODE && fn != AGG_COUNT_DISTINCT)
                return fail(c, "unsupported %s iterator type: string", agg_names[q->calls[i].fn]);
        }
        int any = 0;
        for (size_t i = 0; i < q->ncalls; i++) any |= q->calls[i].f != NULL;
        if (!any) return 0;
        if (!q->multi && (rc = plan_agg_cols(c, q))) return rc;
    } else {
        if ((rc = plan_raw_cols(c, q, &fl, &tk))) return rc;
        int any = 0;
        for (size_t k = 0; k < q->ncols; k++) any |= q->cols[k].f != NULL;
        if (!any) return 0;
    }

    qseries *ss;
    size_t n;
    if (q->ngtags) { /* sorted by group, then by tags: one sort */
        if ((rc = load_series_unsorted(c, db_id, m, q->st->where, &ss, &n))) return rc;
        if (n == 0) return 0;
        if ((rc = set_group_keys(c, q, ss, n))) return rc;
        sort_groups(q, ss, n);
    } else {
        if ((rc = load_series(c, db_id, m, q->st->where, &ss, &n))) return rc;
        if (n == 0) return 0;
    }
    if (par_ok(c, q) && (rc = exec_groups_par(c, q, m, ss, n)) != ST_EUNSUPPORTED) return rc;
    rc = 0;
    size_t start = 0;
    while (start < n && !rc) {
        size_t end = start + 1;
        while (end < n && gkey_cmp_series(q, &ss[start], &ss[end]) == 0) end++;
        rc = q->multi ? exec_multi_group(c, q, m, ss + start, end - start)
             : q->agg ? exec_agg_group(c, q, m, ss + start, end - start)
                      : exec_raw_group(c, q, m, ss + start, end - start);
        start = end;
    }
    return rc;
}

/* ---- subqueries ----
 *
 * FROM (SELECT ...): the inner statement runs first with its rows diverted
 * (qw_capture) into a vtab held in memory: one vser per result series
 * (measurement name, GROUP BY tags, columns). The outer SELECT then runs
 * unchanged over it: its measurements are the series names, its fields the
 * inner columns (type of the first non-null value), its tags the inner
 * GROUP BY tags, and q_read stands in for stor_read. Inner rows count
 * against the point budget when the outer query reads them. */

typedef struct vser {
    st_slice name;
    sidx_tag *tags;           /* arena */
    size_t ntags;
    st_slice *cols;           /* arena; the columns after time */
    size_t ncols;
    int64_t *ts;              /* owned (st_malloc) */
    qval *vals;               /* owned: nrows * ncols */
    size_t nrows, cap;
    size_t vm;                /* its vmeas */
    int *colmap;              /* arena: vmeas column -> own column, -1 if absent */
} vser;

typedef struct vmeas {
    st_slice name;
    st_slice *cols;           /* arena: union of the series' columns */
    st_type *types;
    size_t ncols, cap;
    st_slice *tagkeys;        /* arena: union of tag keys, sorted */
    size_t ntagkeys, tcap;
} vmeas;

typedef struct vtab {
    ctx *c;
    vser *s;                  /* owned */
    size_t n, cap;
    vmeas *ms;                /* arena */
    size_t nms;
} vtab;

static int vt_series_cb(void *arg, st_slice name, const sidx_tag *tags, size_t ntags, const st_slice *cols, size_t ncols)
{
    vtab *vt = arg;
    ctx *c = vt->c;
    if (st_grow(&vt->s, &vt->cap, vt->n + 1, sizeof *vt->s, 16)) return ST_ENOMEM;
    vser *v = &vt->s[vt->n];
    memset(v, 0, sizeof *v);
    vt->n++;
    v->name = adup(c, name);
    v->tags = ntags ? st_arena_alloc(c->a, ntags * sizeof *v->tags) : NULL;
    v->cols = ncols > 1 ? st_arena_alloc(c->a, (ncols - 1) * sizeof *v->cols) : NULL;
    if (!v->name.ptr || (ntags && !v->tags) || (ncols > 1 && !v->cols)) return ST_ENOMEM;
    for (size_t i = 0; i < ntags; i++) {
        v->tags[i].key = adup(c, tags[i].key);
        v->tags[i].val = adup(c, tags[i].val);
        if (!v->tags[i].key.ptr || !v->tags[i].val.ptr) return ST_ENOMEM;
    }
    v->ntags = ntags;
    for (size_t i = 1; i < ncols; i++) {
        v->cols[i - 1] = adup(c, cols[i]);
        if (!v->cols[i - 1].ptr) return ST_ENOMEM;
    }
    v->ncols = ncols ? ncols - 1 : 0;
    return 0;
}

static int vt_row_cb(void *arg, const qval *vals, size_t n)
{
    vtab *vt = arg;
    if (!vt->n || n == 0) return 0;
    vser *v = &vt->s[vt->n - 1];
    if (v->nrows == v->cap) {
        /* vals hold w values a row; v->cap moves once both have grown */
        size_t nc = v->cap, w = v->ncols ? v->ncols : 1;
        if (st_grow(&v->ts, &nc, v->nrows + 1, sizeof *v->ts, 64) ||
            st_grow(&v->vals, &(size_t){ v->cap * w }, nc * w, sizeof *v->vals, 64 * w))
            return ST_ENOMEM;
        v->cap = nc;
    }
    v->ts[v->nrows] = vals[0].v.i;
    qval *row = &v->vals[v->nrows * v->ncols];
    for (size_t i = 0; i < v->ncols; i++) {
        row[i].type = ST_TYPE_NONE;
        if (i + 1 >= n) continue;
        row[i] = vals[i + 1];
        if (row[i].type == QV_TIME) row[i].type = ST_TYPE_INT;
        if (row[i].type == ST_TYPE_STRING) {
            row[i].v.s = adup(vt->c, row[i].v.s);
            if (!row[i].v.s.ptr) return ST_ENOMEM;
        }
    }
    v->nrows++;
    return 0;
}

static void vtab_free(vtab *vt)
{
    for (size_t i = 0; i < vt->n; i++) {
        st_free(vt->s[i].ts);
        st_free(vt->s[i].vals);
    }
    st_free(vt->s);
    memset(vt, 0, sizeof *vt);
}

/* Group the captured series by name into measurements with column and tag
 * key unions. */
static int vt_finish(vtab *vt)
{
    ctx *c = vt->c;
    vt->ms = vt->n ? st_arena_alloc(c->a, vt->n * sizeof *vt->ms) : NULL;
    if (vt->n && !vt->ms) return ST_ENOMEM;
    vt->nms = 0;
    for (size_t i = 0; i < vt->n; i++) {
        vser *v = &vt->s[i];
        size_t m = 0;
        while (m < vt->nms && !st_slice_eq(vt->ms[m].name, v->name)) m++;
        if (m == vt->nms) {
            memset(&vt->ms[m], 0, sizeof vt->ms[m]);
            vt->ms[m].name = v->name;
            vt->nms++;
        }
        v->vm = m;
        vmeas *vm = &vt->ms[m];
        for (size_t k = 0; k < v->ncols; k++) {
            size_t j = 0;
            while (j < vm->ncols && !st_slice_eq(vm->cols[j], v->cols[k])) j++;
            if (j == vm->ncols) {
                if (vm->ncols == vm->cap) {
                    size_t nc = vm->cap ? vm->cap * 2 : 8;
                    st_slice *a = st_arena_alloc(c->a, nc * sizeof *a);
                    st_type *t = st_arena_alloc(c->a, nc * sizeof *t);
                    if (!a || !t) return ST_ENOMEM;
                    if (vm->ncols) { memcpy(a, vm->cols, vm->ncols * sizeof *a); memcpy(t, vm->types, vm->ncols * sizeof *t); }
                    vm->cols = a;
                    vm->types = t;
                    vm->cap = nc;
                }
                vm->cols[j] = v->cols[k];
                vm->types[j] = ST_TYPE_NONE;
                vm->ncols++;
            }
            if (vm->types[j] == ST_TYPE_NONE)
                for (size_t r = 0; r < v->nrows; r++) {
                    st_type t = (st_type)v->vals[r * v->ncols + k].type;
                    if (t != ST_TYPE_NONE) { vm->types[j] = t; break; }
                }
        }
        for (size_t t = 0; t < v->ntags; t++) {
            size_t j = 0;
            while (j < vm->ntagkeys && !st_slice_eq(vm->tagkeys[j], v->tags[t].key)) j++;
            if (j < vm->ntagkeys) continue;
            if (vm->ntagkeys == vm->tcap) {
                size_t nc = vm->tcap ? vm->tcap * 2 : 8;
                st_slice *a = st_arena_alloc(c->a, nc * sizeof *a);
                if (!a) return ST_ENOMEM;
                if (vm->ntagkeys) memcpy(a, vm->tagkeys, vm->ntagkeys * sizeof *a);
                vm->tagkeys = a;
                vm->tcap = nc;
            }
            vm->tagkeys[vm->ntagkeys++] = v->tags[t].key;
        }
    }
    for (size_t m = 0; m < vt->nms; m++) {
        vmeas *vm = &vt->ms[m];
        for (size_t a = 1; a < vm->ntagkeys; a++)
            for (size_t b = a; b > 0 && st_slice_cmp(vm->tagkeys[b - 1], vm->tagkeys[b]) > 0; b--) {
                st_slice t = vm->tagkeys[b]; vm->tagkeys[b] = vm->tagkeys[b - 1]; vm->tagkeys[b - 1] = t;
            }
        for (size_t j = 0; j < vm->ncols; j++)
            if (vm->types[j] == ST_TYPE_NONE) vm->types[j] = ST_TYPE_FLOAT;
    }
    for (size_t i = 0; i < vt->n; i++) {
        vser *v = &vt->s[i];
        vmeas *vm = &vt->ms[v->vm];
        v->colmap = st_arena_alloc(c->a, (vm->ncols ? vm->ncols : 1) * sizeof *v->colmap);
        if (!v->colmap) return ST_ENOMEM;
        for (size_t j = 0; j < vm->ncols; j++) {
            v->colmap[j] = -1;
            for (size_t k = 0; k < v->ncols; k++)
                if (st_slice_eq(vm->cols[j], v->cols[k])) { v->colmap[j] = (int)k; break; }
        }
    }
    return 0;
}

static const vmeas *vt_meas(const vtab *vt, st_slice m)
{
    for (size_t i = 0; i < vt->nms; i++)
        if (st_slice_eq(vt->ms[i].name, m)) return &vt->ms[i];
    return NULL;
}

static int vt_field_each(ctx *c, st_slice m, sidx_field_fn fn, void *arg)
{
    const vmeas *vm = vt_meas(c->vt, m);
    if (!vm) return ST_ENOTFOUND;
    for (size_t j = 0; j < vm->ncols; j++)
        if (fn(arg, j + 1, vm->cols[j], vm->types[j])) break;
    return 0;
}

static int vt_tag_key_each(ctx *c, st_slice m, sidx_name_fn fn, void *arg)
{
    const vmeas *vm = vt_meas(c->vt, m);
    if (!vm) return ST_ENOTFOUND;
    for (size_t j = 0; j < vm->ntagkeys; j++)
        if (fn(arg, vm->tagkeys[j])) break;
    return 0;
}

static int vt_load_series(ctx *c, st_slice m, const iql_expr *cond, qseries **out, size_t *n)
{
    vtab *vt = c->vt;
    qseries *v = vt->n ? st_arena_alloc(c->a, vt->n * sizeof *v) : NULL;
    if (vt->n && !v) return ST_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < vt->n; i++) {
        if (!st_slice_eq(vt->s[i].name, m)) continue;
        qseries s = { i + 1, vt->s[i].tags, vt->s[i].ntags, 0, NULL };
        if (!cond_eval(c, cond, &s)) continue;
        v[k++] = s;
    }
    if (k > 1) qsort(v, k, sizeof *v, series_cmp);
    *out = v;
    *n = k;
    return 0;
}

static int q_read(ctx *c, uint64_t sid, uint64_t fid, int64_t tmin, int64_t tmax, stor_points *out)
{
    if (!c->vt) return stor_read(c->s, sid, fid, tmin, tmax, out);
    vtab *vt = c->vt;
    out->n = 0;
    if (sid == 0 || sid > vt->n) return 0;
    const vser *v = &vt->s[sid - 1];
    const vmeas *vm = &vt->ms[v->vm];
    if (fid == 0 || fid > vm->ncols) return 0;
    out->type = (uint8_t)vm->types[fid - 1];
    int k = v->colmap[fid - 1];
    if (k < 0) return 0;
    size_t cnt = 0;
    for (size_t r = 0; r < v->nrows; r++)
        if (v->ts[r] >= tmin && v->ts[r] <= tmax && v->vals[r * v->ncols + (size_t)k].type != ST_TYPE_NONE) cnt++;
    if (!cnt) return 0;
    int64_t *ts = st_realloc(out->ts, cnt * sizeof *ts);
    if (!ts) return ST_ENOMEM;
    out->ts = ts;
    st_value *vals = st_realloc(out->vals, cnt * sizeof *vals);
    if (!vals) return ST_ENOMEM;
    out->vals = vals;
    st_free(out->quality);
    out->quality = NULL;
    /* inner rows are in time order per series (ORDER BY DESC reversed them: sort back) */
    size_t j = 0;
    for (size_t r = 0; r < v->nrows; r++) {
        const qval *x = &v->vals[r * v->ncols + (size_t)k];
        if (v->ts[r] < tmin || v->ts[r] > tmax || x->type == ST_TYPE_NONE) continue;
        out->ts[j] = v->ts[r];
        out->vals[j] = *x;
        j++;
    }
    for (size_t a = 1; a < cnt; a++)
        if (out->ts[a - 1] > out->ts[a]) {
            for (size_t x = 0, y = cnt - 1; x < y; x++, y--) {
                int64_t t = out->ts[x]; out->ts[x] = out->ts[y]; out->ts[y] = t;
                st_value w = out->vals[x]; out->vals[x] = out->vals[y]; out->vals[y] = w;
            }
            break;
        }
    out->n = cnt;
    return 0;
}

static int exec_select(ctx *c, iql_stmt *st);

static int exec_from_subquery(ctx *c, sel *q, iql_stmt *sub)
{
    vtab vt;
    memset(&vt, 0, sizeof vt);
    vt.c = c;
    qw_capture cap = { vt_series_cb, vt_row_cb, &vt };
    const qw_capture *save_cap = c->w->cap;
    const struct st_tz *save_wtz = c->w->tz;
    st_tz *save_tz = c->tz;
    vtab *save_vt = c->vt;
    int64_t save_lo = c->sub_tmin, save_hi = c->sub_tmax;
    c->w->cap = &cap;
    c->tz = NULL;
    c->vt = NULL;
    c->sub_tmin = q->tmin;
    c->sub_tmax = q->tmax;
    int rc = exec_select(c, sub);
    c->sub_tmin = save_lo;
    c->sub_tmax = save_hi;
    if (!rc && c->w->oom) rc = ST_ENOMEM;
    st_tz_free(c->tz);
    c->tz = save_tz;
    c->w->tz = save_wtz;
    c->w->cap = save_cap;
    if (!rc) rc = vt_finish(&vt);
    c->vt = &vt;
    for (size_t m = 0; !rc && m < vt.nms; m++) rc = exec_select_measurement(c, q, 0, vt.ms[m].name);
    c->vt = save_vt;
    vtab_free(&vt);
    return rc;
}

static int exec_select(ctx *c, iql_stmt *st)
{
    sel q;
    memset(&q, 0, sizeof q);
    q.st = st;
    q.tmin = INT64_MIN;
    q.tmax = INT64_MAX;
    int rc = plan_select(c, &q);
    if (rc) return rc;
    if (st->tz.len) {
        rc = st_tz_load(st->tz.ptr, st->tz.len, &c->tz);
        if (rc == ST_ENOMEM) return rc;
        if (rc) return fail(c, "unable to find time zone %.*s", (int)(st->tz.len > 100 ? 100 : st->tz.len), st->tz.ptr);
        c->w->tz = c->tz;
    }
    if ((rc = collect_time(c, st->where, 0, &q.tmin, &q.tmax))) return rc;
    if (c->sub_tmin > q.tmin) q.tmin = c->sub_tmin;
    if (c->sub_tmax < q.tmax) q.tmax = c->sub_tmax;
    if (q.interval && q.tmax == INT64_MAX) q.tmax = c->now_ns;
    if (q.tmin > q.tmax) return 0;
    q.emit_from = INT64_MIN;
    if (q.pull_windows > 0 && q.tmin != INT64_MIN) {
        /* moving_average: read n - 1 windows before the range */
        int64_t back;
        q.emit_from = q.tmin;
        if (__builtin_mul_overflow(q.pull_windows, q.interval, &back) || __builtin_sub_overflow(q.tmin, back, &q.tmin))
            q.tmin = INT64_MIN;
    }
    for (size_t i = 0; i < st->nsources; i++) {
        const iql_source *src = &st->sources[i];
        if (src->sub) {
            if ((rc = exec_from_subquery(c, &q, src->sub))) return rc;
            continue;
        }
        uint64_t db_id;
        if ((rc = resolve_source_db(c, src, &db_id))) return rc;
        name_list ms;
        memset(&ms, 0, sizeof ms);
        ms.c = c;
        if (src->is_regex) {
            name_list all;
            memset(&all, 0, sizeof all);
            all.c = c;
            sidx_measurement_each(c->idx, db_id, name_cb, &all);
            if (all.oom) return ST_ENOMEM;
            qre *r;
            if ((rc = re_compile(c, src->name, &r))) return rc;
            for (size_t j = 0; j < all.n; j++)
                if (re_match(c, r, all.v[j]) && name_push(&ms, all.v[j])) return ST_ENOMEM;
        } else if (name_push(&ms, src->name)) {
            return ST_ENOMEM;
        }
        for (size_t j = 0; j < ms.n; j++)
            if ((rc = exec_select_measurement(c, &q, db_id, ms.v[j]))) return rc;
    }
    return 0;
}

/* ---- driver ---- */

static int exec_stmt(ctx *c, iql_stmt *st)
{
    switch (st->kind) {
    case IQL_S_SELECT: return exec_select(c, st);
    case IQL_S_SHOW_DATABASES: return exec_show_databases(c, st);
    case IQL_S_SHOW_MEASUREMENTS: return exec_show_measurements(c, st);
    case IQL_S_SHOW_FIELD_KEYS: return exec_show_field_keys(c, st);
    case IQL_S_SHOW_TAG_KEYS: return exec_show_tag_keys(c, st);
    case IQL_S_SHOW_TAG_VALUES: return exec_show_tag_values(c, st);
    case IQL_S_SHOW_SERIES: return exec_show_series(c, st);
    case IQL_S_SHOW_RETENTION_POLICIES: return exec_show_rp(c, st);
    case IQL_S_CREATE_DATABASE: return exec_create_db(c, st);
    case IQL_S_DROP_DATABASE: return exec_drop_db(c, st);
    case IQL_S_DROP_MEASUREMENT: return exec_drop_measurement(c, st);
    case IQL_S_DROP_SERIES: return exec_drop_or_delete(c, st);
    case IQL_S_DELETE: return exec_drop_or_delete(c, st);
    case IQL_S_CREATE_RP: case IQL_S_ALTER_RP: return exec_rp(c, st);
    }
    return fail(c, "unsupported statement");
}

void qry_request_init(qry_request *r)
{
    memset(r, 0, sizeof *r);
    r->epoch = QRY_EPOCH_RFC3339;
}

int qry_epoch_parse(st_slice s, int *out)
{
    static const struct { const char *n; int e; } t[] = {
        { "ns", QRY_EPOCH_NS }, { "n", QRY_EPOCH_NS }, { "u", QRY_EPOCH_US }, { "us", QRY_EPOCH_US },
        { "\xC2\xB5", QRY_EPOCH_US }, { "ms", QRY_EPOCH_MS }, { "s", QRY_EPOCH_S }, { "m", QRY_EPOCH_M },
        { "h", QRY_EPOCH_H } };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (st_slice_eq_cstr(s, t[i].n)) { *out = t[i].e; return 0; }
    return ST_EINVAL;
}

/* ---- bound parameters (params={"name": value}) ---- */

static void js_ws(const char *p, size_t n, size_t *i)
{
    while (*i < n && (p[*i] == ' ' || p[*i] == '\t' || p[*i] == '\n' || p[*i] == '\r')) (*i)++;
}

/* A JSON string at p[*i] ('"'), unescaped into the arena. 0 or -1. */
static int js_str(st_arena *a, const char *p, size_t n, size_t *i, st_slice *out)
{
    if (*i >= n || p[*i] != '"') return -1;
    size_t j = *i + 1;
    char *d = st_arena_alloc_bytes(a, n - j + 1);
    if (!d) return -1;
    size_t k = 0;
    while (j < n && p[j] != '"') {
        char ch = p[j++];
        if ((unsigned char)ch < 0x20) return -1;
        if (ch != '\\') { d[k++] = ch; continue; }
        if (j >= n) return -1;
        ch = p[j++];
        switch (ch) {
        case '"': case '\\': case '/': d[k++] = ch; break;
        case 'n': d[k++] = '\n'; break;
        case 't': d[k++] = '\t'; break;
        case 'r': d[k++] = '\r'; break;
        case 'b': d[k++] = '\b'; break;
        case 'f': d[k++] = '\f'; break;
        case 'u': {
            if (j + 4 > n) return -1;
            unsigned cp = 0;
            for (int h = 0; h < 4; h++) {
                char x = p[j++];
                cp <<= 4;
                if (x >= '0' && x <= '9') cp |= (unsigned)(x - '0');
                else if ((x | 32) >= 'a' && (x | 32) <= 'f') cp |= (unsigned)((x | 32) - 'a' + 10);
                else return -1;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) return -1; /* surrogates: not needed for parameters */
            if (cp < 0x80) d[k++] = (char)cp;
            else if (cp < 0x800) { d[k++] = (char)(0xC0 | (cp >> 6)); d[k++] = (char)(0x80 | (cp & 63)); }
            else { d[k++] = (char)(0xE0 | (cp >> 12)); d[k++] = (char)(0x80 | ((cp >> 6) & 63)); d[k++] = (char)(0x80 | (cp & 63)); }
            break;
        }
        default: return -1;
        }
    }
    if (j >= n) return -1;
    d[k] = 0;
    *i = j + 1;
    *out = (st_slice){ d, k };
    return 0;
}

typedef struct qparam { st_slice name; iql_expr val; } qparam;

/* Parse the params object into literal nodes. 0, or -1 with a message. */
static int params_parse(st_arena *a, st_slice js, qparam **out, size_t *nout, char *err, size_t cap)
{
    const char *p = js.ptr;
    size_t n = js.len, i = 0, np = 0, pcap = 0;
    qparam *v = NULL;
    *out = NULL;
    *nout = 0;
    js_ws(p, n, &i);
    if (i >= n || p[i] != '{') { snprintf(err, cap, "expected a JSON object"); return -1; }
    i++;
    js_ws(p, n, &i);
    if (i < n && p[i] == '}') { i++; goto end; }
    for (int guard = 0; guard < 100000; guard++) {
        js_ws(p, n, &i);
        st_slice key;
        if (js_str(a, p, n, &i, &key)) { snprintf(err, cap, "invalid key at offset %zu", i); return -1; }
        js_ws(p, n, &i);
        if (i >= n || p[i] != ':') { snprintf(err, cap, "expected ':' at offset %zu", i); return -1; }
        i++;
        js_ws(p, n, &i);
        if (np == pcap) {
            size_t nc = pcap ? pcap * 2 : 8;
            qparam *m = st_arena_alloc(a, nc * sizeof *m);
            if (!m) { snprintf(err, cap, "out of memory"); return -1; }
            if (np) memcpy(m, v, np * sizeof *m);
            v = m;
            pcap = nc;
        }
        qparam *q = &v[np];
        memset(q, 0, sizeof *q);
        q->name = key;
        if (i < n && p[i] == '"') {
            q->val.kind = IQL_E_STRING;
            if (js_str(a, p, n, &i, &q->val.s)) { snprintf(err, cap, "invalid string for %.*s", (int)(key.len > 64 ? 64 : key.len), key.ptr); return -1; }
        } else if (n - i >= 4 && memcmp(p + i, "true", 4) == 0) {
            q->val.kind = IQL_E_BOOL; q->val.i = 1; i += 4;
        } else if (n - i >= 5 && memcmp(p + i, "false", 5) == 0) {
            q->val.kind = IQL_E_BOOL; q->val.i = 0; i += 5;
        } else {
            size_t st0 = i;
            int isf = 0;
            if (i < n && p[i] == '-') i++;
            while (i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == 'e' || p[i] == 'E' || p[i] == '+' || p[i] == '-')) {
                if (p[i] == '.' || p[i] == 'e' || p[i] == 'E') isf = 1;
                i++;
            }
            if (i == st0) { snprintf(err, cap, "unsupported value for %.*s", (int)(key.len > 64 ? 64 : key.len), key.ptr); return -1; }
            if (!isf && st_parse_int64(p + st0, i - st0, &q->val.i) == 0) q->val.kind = IQL_E_INTEGER;
            else if (st_parse_double(p + st0, i - st0, 0, &q->val.f) == 0) q->val.kind = IQL_E_NUMBER;
            else { snprintf(err, cap, "invalid number for %.*s", (int)(key.len > 64 ? 64 : key.len), key.ptr); return -1; }
        }
        np++;
        js_ws(p, n, &i);
        if (i < n && p[i] == ',') { i++; continue; }
        if (i < n && p[i] == '}') { i++; break; }
        snprintf(err, cap, "expected ',' or '}' at offset %zu", i);
        return -1;
    }
end:
    js_ws(p, n, &i);
    if (i != n) { snprintf(err, cap, "trailing bytes at offset %zu", i); return -1; }
    *out = v;
    *nout = np;
    return 0;
}

/* Replace $name nodes by their values (in place); unbound ones stay and
 * fail at execution with "missing parameter". */
static void bind_expr(iql_expr *e, const qparam *v, size_t n, int depth)
{
    if (!e || depth > IQL_MAX_DEPTH * 2) return;
    if (e->kind == IQL_E_PARAM) {
        for (size_t i = 0; i < n; i++)
            if (st_slice_eq(v[i].name, e->name)) {
                size_t pos = e->pos;
                *e = v[i].val;
                e->pos = pos;
                e->cast = (st_slice){ "", 0 };
                return;
            }
        return;
    }
    bind_expr(e->lhs, v, n, depth + 1);
    bind_expr(e->rhs, v, n, depth + 1);
    for (size_t i = 0; i < e->nargs; i++) bind_expr(e->args[i], v, n, depth + 1);
}

static void bind_params(iql_query *qq, const qparam *v, size_t n)
{
    for (size_t s = 0; s < qq->nstmts; s++) {
        iql_stmt *st = qq->stmts[s];
        for (size_t f = 0; f < st->nfields; f++) bind_expr(st->fields[f].expr, v, n, 0);
        bind_expr(st->where, v, n, 0);
    }
}

static int top_error(st_buf *out, const char *msg, int csv)
{
    if (csv) {
        int rc = st_buf_append_str(out, "error\n");
        if (!rc) rc = st_buf_append_str(out, msg);
        return rc ? rc : st_buf_append_byte(out, '\n');
    }
    int rc = st_buf_append_str(out, "{\"error\":");
    if (!rc) rc = qry_json_str(out, msg, strlen(msg));
    return rc ? rc : st_buf_append_str(out, "}\n");
}

int qry_execute(stor *s, const qry_request *req, st_buf *out, int *http_status)
{
    size_t out_start = out->len;
    if (req->q.len == 0) {
        *http_status = 400;
        return top_error(out, "missing required parameter \"q\"", req->csv);
    }
    st_arena a;
    st_arena_init(&a, 0);
    char perr[512];
    iql_query *qq = NULL;
    int rc = iql_parse(&a, req->q.ptr, req->q.len, &qq, perr, sizeof perr);
    if (rc) {
        st_arena_fini(&a);
        if (rc == ST_ENOMEM) { *http_status = 500; top_error(out, "out of memory", req->csv); return ST_ENOMEM; }
        char msg[600];
        snprintf(msg, sizeof msg, "error parsing query: %s", perr);
        *http_status = 400;
        return top_error(out, msg, req->csv);
    }
    if (req->params.len) {
        qparam *pv;
        size_t np;
        char perr2[200];
        if (params_parse(&a, req->params, &pv, &np, perr2, sizeof perr2) != 0) {
            st_arena_fini(&a);
            char msg[300];
            snprintf(msg, sizeof msg, "error parsing query parameters: %s", perr2);
            *http_status = 400;
            return top_error(out, msg, req->csv);
        }
        bind_params(qq, pv, np);
    }
    ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.idx = stor_index(s);
    c.req = req;
    c.root = &c;
    c.a = &a;
    c.now_ns = req->now_ns ? req->now_ns : st_now_ns();
    c.sub_tmin = INT64_MIN;
    c.sub_tmax = INT64_MAX;
    if (req->timeout_ms > 0) c.deadline_mono_ns = st_mono_ns() + req->timeout_ms * 1000000;
    c.mctx = pcre2_match_context_create(NULL);
    qfa_result_init(&c.fr);
    st_buf body;
    st_buf_init(&body);
    qw w;
    qw_init(&w, req->pretty && !req->csv ? &body : out, req->csv, req->epoch, req->chunked);
    c.w = &w;
    if (!c.mctx) { rc = ST_ENOMEM; goto done; }
    pcre2_set_match_limit(c.mctx, 1000000);
    pcre2_set_depth_limit(c.mctx, 10000);
    qw_begin(&w);
    for (size_t i = 0; i < qq->nstmts; i++) {
        c.err[0] = 0;
        c.points = 0;
        int src = exec_stmt(&c, qq->stmts[i]);
        re_free_all(&c);
        c.ncf = 0;
        if (src == ST_ENOMEM) { rc = ST_ENOMEM; break; }
        if (src && !c.err[0]) snprintf(c.err, sizeof c.err, "%s", st_strerror(src));
        qw_series_end(&w);
        qw_stmt_end(&w, src ? c.err : NULL);
        w.tz = NULL;
        st_tz_free(c.tz);
        c.tz = NULL;
    }
    qw_end(&w);
    if (!rc && w.oom) rc = ST_ENOMEM;
    if (!rc && req->pretty && !req->csv) {
        /* indent each line (chunked output has one object per line) */
        size_t i = 0;
        while (i < body.len && !rc) {
            const char *nl = memchr(body.ptr + i, '\n', body.len - i);
            size_t e = nl ? (size_t)(nl - body.ptr) : body.len;
            rc = qry_json_indent(body.ptr + i, e - i, out);
            if (!rc && nl) rc = st_buf_append_byte(out, '\n');
            i = e + 1;
        }
    }
done:
    re_free_all(&c);
    st_tz_free(c.tz);
    pcre2_match_context_free(c.mctx);
    qfa_result_fini(&c.fr);
    qw_fini(&w);
    st_buf_fini(&body);
    st_arena_fini(&a);
    if (rc == ST_ENOMEM) {
        out->len = out_start;
        if (out->ptr) out->ptr[out->len] = 0;
        *http_status = 500;
        top_error(out, "out of memory", req->csv);
        return ST_ENOMEM;
    }
    *http_status = 200;
    return 0;
}
