/*
 * tests/unit/test_iql.c — the InfluxQL lexer and parser (query/iql.h):
 * every statement form the executor handles, the tree it builds, and the
 * error messages in InfluxDB's wording.
 */
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "query/iql.h"
#include "tests/unit/unit.h"

static st_arena g_arena;
static char g_err[512];

static iql_query *parse(const char *q)
{
    st_arena_reset(&g_arena);
    iql_query *out = NULL;
    if (iql_parse(&g_arena, q, strlen(q), &out, g_err, sizeof g_err) != 0) return NULL;
    return out;
}

static iql_stmt *parse1(const char *q)
{
    iql_query *r = parse(q);
    if (!r || r->nstmts != 1) return NULL;
    return r->stmts[0];
}

/* The parse error text for q ("" when it parses). */
static const char *perr(const char *q)
{
    if (parse(q)) return "";
    return g_err;
}

static const char *fmt(const iql_expr *e)
{
    static st_buf b;
    st_buf_fini(&b);
    st_buf_init(&b);
    iql_expr_format(e, &b);
    return b.ptr ? b.ptr : "";
}

static int seq(st_slice s, const char *lit) { return st_slice_eq_cstr(s, lit); }

TEST(lexer_tokens)
{
    const char *src = "SELECT \"a b\" ,'x\\'y' 10 1.5 10s 1h30m =~ !~ != <> <= >= :: $p -- c\n/* b */ now()";
    iql_lexer lx;
    iql_lexer_init(&lx, src, strlen(src));
    iql_tok want[] = { IQL_T_SELECT, IQL_T_IDENT, IQL_T_COMMA, IQL_T_STRING, IQL_T_INTEGER, IQL_T_NUMBER,
                       IQL_T_DURATION, IQL_T_DURATION, IQL_T_EQREGEX, IQL_T_NEQREGEX, IQL_T_NEQ, IQL_T_NEQ,
                       IQL_T_LTE, IQL_T_GTE, IQL_T_DOUBLECOLON, IQL_T_BOUNDPARAM, IQL_T_IDENT, IQL_T_LPAREN,
                       IQL_T_RPAREN, IQL_T_EOF };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        iql_token t = iql_lex_next(&lx);
        CHECK_EQ_INT(t.tok, want[i]);
    }
    /* keywords are case-insensitive */
    iql_lexer_init(&lx, "sElEcT", 6);
    CHECK_EQ_INT(iql_lex_next(&lx).tok, IQL_T_SELECT);
    /* unterminated string, bad escape */
    iql_lexer_init(&lx, "'abc", 4);
    CHECK_EQ_INT(iql_lex_next(&lx).tok, IQL_T_BADSTRING);
    iql_lexer_init(&lx, "\"a\\qb\"", 6);
    CHECK_EQ_INT(iql_lex_next(&lx).tok, IQL_T_BADESCAPE);
    /* regex on demand */
    iql_lexer_init(&lx, "/a\\/b/ x", 8);
    iql_token r = iql_lex_regex(&lx, 0);
    CHECK_EQ_INT(r.tok, IQL_T_REGEX);
    CHECK_EQ_INT(r.end, 6);
    int line, ch;
    iql_pos_linechar("ab\ncd", 5, 4, &line, &ch);
    CHECK_EQ_INT(line, 2);
    CHECK_EQ_INT(ch, 2);
}

TEST(show_statements)
{
    iql_stmt *s = parse1("SHOW DATABASES");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_SHOW_DATABASES);
    s = parse1("show measurements");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_SHOW_MEASUREMENTS);
    s = parse1("SHOW MEASUREMENTS ON \"plant\" WITH MEASUREMENT =~ /(?i)cp/ LIMIT 100");
    REQUIRE(s);
    CHECK(seq(s->db, "plant"));
    CHECK_EQ_INT(s->with_op, IQL_T_EQREGEX);
    CHECK(seq(s->with_vals[0], "(?i)cp"));
    CHECK_EQ_INT(s->limit, 100);
    s = parse1("SHOW FIELD KEYS FROM \"rp\".\"boiler\"");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_SHOW_FIELD_KEYS);
    REQUIRE(s->nsources == 1);
    CHECK(seq(s->sources[0].rp, "rp"));
    CHECK(seq(s->sources[0].name, "boiler"));
    s = parse1("SHOW TAG KEYS FROM cpu WHERE \"host\" = 'a'");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_SHOW_TAG_KEYS);
    CHECK_EQ_STR(fmt(s->where), "host = 'a'");
    s = parse1("SHOW TAG VALUES FROM \"boiler\" WITH KEY = \"unit\"");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_SHOW_TAG_VALUES);
    CHECK_EQ_INT(s->with_op, IQL_T_EQ);
    CHECK(seq(s->with_vals[0], "unit"));
    s = parse1("SHOW TAG VALUES WITH KEY IN (\"a\", b)");
    REQUIRE(s);
    CHECK_EQ_INT(s->with_op, IQL_T_IN);
    REQUIRE(s->nwith_vals == 2);
    CHECK(seq(s->with_vals[1], "b"));
    s = parse1("SHOW TAG VALUES WITH KEY =~ /h.*/ WHERE time > now() - 1h");
    REQUIRE(s);
    CHECK_EQ_INT(s->with_op, IQL_T_EQREGEX);
    CHECK_EQ_STR(fmt(s->where), "time > now() - 1h");
    s = parse1("SHOW SERIES FROM cpu LIMIT 2 OFFSET 1");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_SHOW_SERIES);
    CHECK_EQ_INT(s->offset, 1);
    s = parse1("SHOW RETENTION POLICIES on \"plant\"");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_SHOW_RETENTION_POLICIES);
    CHECK(seq(s->db, "plant"));
}

TEST(ddl_statements)
{
    iql_stmt *s = parse1("CREATE DATABASE \"my \\\"db\\\"\"");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_CREATE_DATABASE);
    CHECK(seq(s->db, "my \"db\""));
    s = parse1("DROP DATABASE x");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_DROP_DATABASE);
    s = parse1("DROP MEASUREMENT cpu");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_DROP_MEASUREMENT);
    CHECK(seq(s->sources[0].name, "cpu"));
    s = parse1("DROP SERIES FROM cpu WHERE host = 'a'");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_DROP_SERIES);
}

TEST(select_raw)
{
    iql_stmt *s = parse1("SELECT \"value\", v2 AS x FROM \"db\".\"rp\".\"cpu\" WHERE time >= '2023-01-01T00:00:00Z' "
                         "AND time <= now() LIMIT 10");
    REQUIRE(s);
    CHECK_EQ_INT(s->kind, IQL_S_SELECT);
    REQUIRE(s->nfields == 2);
    CHECK_EQ_STR(fmt(s->fields[0].expr), "value");
    CHECK(seq(s->fields[1].alias, "x"));
    REQUIRE(s->nsources == 1);
    CHECK(seq(s->sources[0].db, "db"));
    CHECK(seq(s->sources[0].rp, "rp"));
    CHECK(seq(s->sources[0].name, "cpu"));
    CHECK_EQ_STR(fmt(s->where), "time >= '2023-01-01T00:00:00Z' AND time <= now()");
    CHECK_EQ_INT(s->limit, 10);
    s = parse1("select * from cpu");
    REQUIRE(s);
    CHECK_EQ_INT(s->fields[0].expr->kind, IQL_E_WILDCARD);
    s = parse1("SELECT v FROM \"db\"..\"m\", /^c/");
    REQUIRE(s);
    REQUIRE(s->nsources == 2);
    CHECK(seq(s->sources[0].db, "db"));
    CHECK(seq(s->sources[0].rp, ""));
    CHECK(seq(s->sources[0].name, "m"));
    CHECK(s->sources[1].is_regex);
    CHECK(seq(s->sources[1].name, "^c"));
    s = parse1("SELECT v::field, host::tag FROM m ORDER BY time DESC LIMIT 1 OFFSET 2 SLIMIT 3 SOFFSET 4 tz('UTC')");
    REQUIRE(s);
    CHECK(seq(s->fields[0].expr->cast, "field"));
    CHECK(s->order_desc);
    CHECK_EQ_INT(s->offset, 2);
    CHECK_EQ_INT(s->slimit, 3);
    CHECK_EQ_INT(s->soffset, 4);
    CHECK(seq(s->tz, "UTC"));
}

TEST(select_grafana)
{
    iql_stmt *s = parse1("SELECT mean(\"value\") FROM \"cpu\" WHERE (\"host\" = 'a') AND time >= 1596240000000ms "
                         "and time <= 1596240300000ms GROUP BY time(10s), \"host\" fill(null)");
    REQUIRE(s);
    CHECK_EQ_STR(fmt(s->fields[0].expr), "mean(value)");
    CHECK_EQ_STR(fmt(s->where), "(host = 'a') AND time >= 18475d AND time <= 26604005m");
    REQUIRE(s->ndims == 2);
    CHECK_EQ_INT(s->dims[0].kind, IQL_DIM_TIME);
    CHECK_EQ_INT(s->dims[0].interval_ns, 10000000000LL);
    CHECK_EQ_INT(s->dims[1].kind, IQL_DIM_TAG);
    CHECK(seq(s->dims[1].name, "host"));
    CHECK_EQ_INT(s->fill, IQL_FILL_NULL);
    /* the duration literal is nanoseconds */
    const iql_expr *w = s->where->lhs->rhs;
    CHECK_EQ_INT(w->rhs->i, 1596240000000LL * 1000000);
    s = parse1("SELECT MEAN(v) / 100, max(v) * 8 AS \"x y\" FROM m GROUP BY time(1m, 30s), * fill(previous)");
    REQUIRE(s);
    CHECK_EQ_STR(fmt(s->fields[0].expr), "mean(v) / 100");
    CHECK_EQ_INT(s->dims[0].offset_ns, 30000000000LL);
    CHECK_EQ_INT(s->dims[1].kind, IQL_DIM_WILDCARD);
    CHECK_EQ_INT(s->fill, IQL_FILL_PREVIOUS);
    s = parse1("SELECT count(v) FROM m GROUP BY time(5m) fill(-1.5)");
    REQUIRE(s);
    CHECK_EQ_INT(s->fill, IQL_FILL_NUMBER);
    CHECK(s->fill_value == -1.5);
    s = parse1("SELECT last(v) FROM m GROUP BY time(5m) fill(0)");
    REQUIRE(s);
    CHECK(s->fill_is_int);
    s = parse1("SELECT percentile(v, 95) FROM m WHERE host =~ /a|b/ OR host !~ /c/ GROUP BY /ho/ fill(linear)");
    REQUIRE(s);
    CHECK_EQ_STR(fmt(s->where), "host =~ /a|b/ OR host !~ /c/");
    CHECK_EQ_INT(s->dims[0].kind, IQL_DIM_REGEX);
    CHECK_EQ_INT(s->fill, IQL_FILL_LINEAR);
}

TEST(expression_precedence)
{
    iql_stmt *s = parse1("SELECT v FROM m WHERE a = 'x' OR b = 'y' AND c = 'z'");
    REQUIRE(s);
    CHECK_EQ_INT(s->where->op, IQL_T_OR);
    CHECK_EQ_INT(s->where->rhs->op, IQL_T_AND);
    s = parse1("SELECT a + b * c - d FROM m");
    REQUIRE(s);
    const iql_expr *e = s->fields[0].expr;
    CHECK_EQ_INT(e->op, IQL_T_SUB);
    CHECK_EQ_INT(e->lhs->op, IQL_T_ADD);
    CHECK_EQ_INT(e->lhs->rhs->op, IQL_T_MUL);
    s = parse1("SELECT v FROM m WHERE time > now() - 1h30m AND time < -5");
    REQUIRE(s);
    CHECK_EQ_INT(s->where->lhs->rhs->rhs->i, 5400000000000LL);
    CHECK_EQ_INT(s->where->rhs->rhs->i, -5);
}

TEST(multiple_statements)
{
    iql_query *q = parse("SELECT mean(v) FROM m;SELECT last(v) FROM m;");
    REQUIRE(q);
    CHECK_EQ_INT(q->nstmts, 2);
    q = parse(";;SHOW DATABASES ; ; SHOW MEASUREMENTS");
    REQUIRE(q);
    CHECK_EQ_INT(q->nstmts, 2);
}

TEST(parse_errors)
{
    CHECK_EQ_STR(perr("SELEC"), "found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, "
                                "ALTER, SET, KILL at line 1, char 1");
    CHECK_EQ_STR(perr("SELECT value"), "found EOF, expected FROM at line 1, char 13");
    CHECK_EQ_STR(perr("SELECT"), "found EOF, expected identifier, string, number, bool at line 1, char 7");
    CHECK_EQ_STR(perr("SELECT v FROM"), "found EOF, expected identifier, regex at line 1, char 14");
    CHECK_EQ_STR(perr("SELECT v FROM m WHERE"), "found EOF, expected identifier, string, number, bool at line 1, char 22");
    CHECK_EQ_STR(perr("SELECT v FROM m LIMIT x"), "found x, expected integer at line 1, char 23");
    CHECK_EQ_STR(perr("SELECT v FROM m extra"), "found extra, expected ; at line 1, char 17");
    CHECK_EQ_STR(perr("SHOW\n  FOO"), "found FOO, expected CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, "
                                      "MEASUREMENT, MEASUREMENTS, QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, "
                                      "SUBSCRIPTIONS, TAG, USERS at line 2, char 3");
    CHECK_EQ_STR(perr("SHOW TAG VALUES FROM m"), "found EOF, expected WITH at line 1, char 23");
    CHECK_EQ_STR(perr("CREATE DATABASE"), "found EOF, expected identifier at line 1, char 16");
    CHECK_EQ_STR(perr("SHOW RETENTION"), "found EOF, expected POLICIES at line 1, char 15");
    CHECK_EQ_STR(perr("SELECT v FROM m GROUP BY time(10s) fill"), "fill must be a function call");
    CHECK_EQ_STR(perr("SELECT v FROM m GROUP BY time(10s) fill()"),
                 "fill requires an argument, e.g.: 0, null, none, previous, linear");
    CHECK_EQ_STR(perr("SELECT v FROM m WHERE host =~ 'x'"), "found x, expected regex at line 1, char 31");
    CHECK_EQ_STR(perr("SELECT v FROM m ORDER BY host"), "only ORDER BY time supported at this time");
    CHECK_EQ_STR(perr(""), "found EOF, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, "
                           "SET, KILL at line 1, char 1");
    CHECK_EQ_STR(perr("SELECT 'abc FROM m"), "found unterminated string, expected identifier, string, number, bool "
                                             "at line 1, char 8");
    CHECK(strlen(perr("SELECT v FROM m WHERE time > 10sx")) > 0);
}

TEST(nesting_is_bounded)
{
    char q[4096];
    size_t n = 0;
    n += (size_t)snprintf(q + n, sizeof q - n, "SELECT v FROM m WHERE ");
    for (int i = 0; i < 1000; i++) q[n++] = '(';
    q[n] = 0;
    CHECK_EQ_STR(perr(q), "expression nested too deeply at line 1, char 55");
    /* moderate nesting is fine */
    CHECK(parse1("SELECT v FROM m WHERE ((((a = 'b'))))") != NULL);
}

TEST(distinct_and_subqueries)
{
    iql_stmt *s = parse1("SELECT DISTINCT \"v\" FROM m");
    REQUIRE(s);
    CHECK_EQ_STR(fmt(s->fields[0].expr), "distinct(v)");
    s = parse1("SELECT count(DISTINCT(v)) FROM m");
    REQUIRE(s);
    CHECK_EQ_STR(fmt(s->fields[0].expr), "count(distinct(v))");
    s = parse1("SELECT max(m) FROM (SELECT mean(v) AS m FROM cpu GROUP BY time(1h), host) GROUP BY time(1d)");
    REQUIRE(s);
    CHECK_EQ_INT(s->nsources, 1);
    REQUIRE(s->sources[0].sub);
    const iql_stmt *in = s->sources[0].sub;
    CHECK_EQ_INT(in->kind, IQL_S_SELECT);
    CHECK(seq(in->fields[0].alias, "m"));
    CHECK_EQ_INT(in->ndims, 2);
    CHECK_EQ_INT(in->dims[0].interval_ns, 3600000000000LL);
    CHECK_EQ_INT(s->dims[0].interval_ns, 86400000000000LL);
    /* a subquery next to a measurement, and nested */
    s = parse1("SELECT v FROM a, (SELECT v FROM (SELECT v FROM b)) WHERE v > 1");
    REQUIRE(s);
    CHECK_EQ_INT(s->nsources, 2);
    CHECK(seq(s->sources[0].name, "a") && !s->sources[0].sub);
    REQUIRE(s->sources[1].sub && s->sources[1].sub->sources[0].sub);
    CHECK(seq(s->sources[1].sub->sources[0].sub->sources[0].name, "b"));
    CHECK_EQ_STR(perr("SELECT v FROM (SELECT v FROM b"), "found EOF, expected ) at line 1, char 31");
    CHECK_EQ_STR(perr("SHOW TAG KEYS FROM (SELECT v FROM b)"), "found (, expected identifier, regex at line 1, char 20");
    /* SHOW DATABASES takes LIMIT / OFFSET */
    s = parse1("SHOW DATABASES LIMIT 2 OFFSET 1");
    REQUIRE(s);
    CHECK_EQ_INT(s->limit, 2);
    CHECK_EQ_INT(s->offset, 1);
    /* Grafana's $__interval for ranges of a year or more */
    CHECK_EQ_STR(perr("SELECT mean(v) FROM m GROUP BY time(1y)"),
                 "invalid duration 1y: InfluxQL has no year unit, use weeks or days (e.g. time(52w)); "
                 "Grafana writes $__interval so for ranges of a year or more");
    s = parse1("SELECT v FROM m WHERE host = $h AND time > $t");
    REQUIRE(s);
    CHECK_EQ_STR(fmt(s->where), "host = $h AND time > $t");
}

static void deep_subquery(char *q, size_t cap, int n)
{
    size_t k = 0;
    for (int i = 0; i < n && k + 40 < cap; i++) k += (size_t)snprintf(q + k, cap - k, "SELECT v FROM (");
    k += (size_t)snprintf(q + k, cap - k, "SELECT v FROM m");
    for (int i = 0; i < n && k + 2 < cap; i++) q[k++] = ')';
    q[k] = 0;
}

TEST(subquery_nesting_is_bounded)
{
    static char q[8192];
    deep_subquery(q, sizeof q, 10);
    CHECK(parse(q) != NULL);
    deep_subquery(q, sizeof q, 200);
    CHECK(parse(q) == NULL);
    CHECK(strstr(g_err, "nested too deeply") != NULL);
}

int main(void)
{
    st_arena_init(&g_arena, 0);
    RUN(lexer_tokens);
    RUN(show_statements);
    RUN(ddl_statements);
    RUN(select_raw);
    RUN(select_grafana);
    RUN(expression_precedence);
    RUN(multiple_statements);
    RUN(parse_errors);
    RUN(nesting_is_bounded);
    RUN(distinct_and_subqueries);
    RUN(subquery_nesting_is_bounded);
    st_arena_fini(&g_arena);
    return unit_done();
}
