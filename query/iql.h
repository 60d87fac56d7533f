/*
 * query/iql.h — InfluxQL lexer, parser and syntax tree.
 *
 * iql_parse turns query text (untrusted) into a list of statements whose
 * nodes and strings live in a caller-supplied arena (common/arena.h): the
 * tree is freed with the arena, nothing else to release. Strings in the tree
 * are unescaped copies (identifiers, 'strings', /regex/ bodies).
 *
 * Errors use InfluxDB's wording, so clients and tests see the same text:
 *   "found X, expected Y at line L, char C"  (line and char from 1)
 * plus a few specific ones ("fill must be a function call", "unable to parse
 * ...", "invalid duration"). The caller prefixes "error parsing query: ".
 * Nesting (parentheses, calls) is limited to IQL_MAX_DEPTH: deeper input is
 * an error, never a stack overflow.
 *
 * Grammar covered (PROTOCOLS.md §3.6): SELECT with fields (expressions,
 * calls, *, AS), FROM (ident, "rp"."m", "db"."rp"."m", "db".."m", /re/,
 * lists), WHERE expressions (OR, AND, comparisons, =~ /re/, + - * / %,
 * now(), durations, 'strings', numbers, true/false, parentheses), GROUP BY
 * time(d[, offset]) / tags / * / /re/, fill(...), ORDER BY time ASC|DESC,
 * subqueries in FROM ("FROM (SELECT ...)", nested up to IQL_MAX_DEPTH),
 * LIMIT, OFFSET, SLIMIT, SOFFSET, tz('zone'); SHOW DATABASES | MEASUREMENTS
 * | FIELD KEYS | TAG KEYS | TAG VALUES | SERIES | RETENTION POLICIES; CREATE
 * DATABASE; DROP DATABASE | MEASUREMENT | SERIES. Statements are separated by
 * ';' (empty statements are skipped).
 *
 * Pure functions of their input: any thread, one arena per caller.
 */
#ifndef ST_IQL_H
#define ST_IQL_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/slice.h"

#define IQL_MAX_DEPTH 64

/* ---- lexer ---------------------------------------------------------- */

typedef enum iql_tok {
    IQL_T_ILLEGAL = 0, IQL_T_EOF, IQL_T_WS,
    IQL_T_IDENT,       /* bare identifier (not a keyword) or "quoted" */
    IQL_T_STRING,      /* 'single quoted' */
    IQL_T_BADSTRING,   /* unterminated string */
    IQL_T_BADESCAPE,   /* bad escape in string/ident */
    IQL_T_INTEGER, IQL_T_NUMBER, IQL_T_DURATION,
    IQL_T_REGEX,       /* only from iql_lex_regex */
    IQL_T_BOUNDPARAM,  /* $name */
    IQL_T_TRUE, IQL_T_FALSE,
    /* operators */
    IQL_T_ADD, IQL_T_SUB, IQL_T_MUL, IQL_T_DIV, IQL_T_MOD, IQL_T_BITAND, IQL_T_BITOR, IQL_T_BITXOR,
    IQL_T_AND, IQL_T_OR,
    IQL_T_EQ, IQL_T_NEQ, IQL_T_EQREGEX, IQL_T_NEQREGEX, IQL_T_LT, IQL_T_LTE, IQL_T_GT, IQL_T_GTE,
    IQL_T_LPAREN, IQL_T_RPAREN, IQL_T_COMMA, IQL_T_COLON, IQL_T_DOUBLECOLON, IQL_T_SEMICOLON,
    IQL_T_DOT,
    /* keywords (case-insensitive) */
    IQL_T_KW_FIRST,
    IQL_T_ALL = IQL_T_KW_FIRST, IQL_T_ALTER, IQL_T_ANALYZE, IQL_T_ANY, IQL_T_AS, IQL_T_ASC, IQL_T_BEGIN,
    IQL_T_BY, IQL_T_CARDINALITY, IQL_T_CREATE, IQL_T_CONTINUOUS, IQL_T_DATABASE, IQL_T_DATABASES,
    IQL_T_DEFAULT, IQL_T_DELETE, IQL_T_DESC, IQL_T_DESTINATIONS, IQL_T_DIAGNOSTICS, IQL_T_DISTINCT,
    IQL_T_DROP, IQL_T_DURATION_KW, IQL_T_END, IQL_T_EVERY, IQL_T_EXACT, IQL_T_EXPLAIN, IQL_T_FIELD,
    IQL_T_FOR, IQL_T_FROM, IQL_T_GRANT, IQL_T_GRANTS, IQL_T_GROUP, IQL_T_GROUPS, IQL_T_IN, IQL_T_INF,
    IQL_T_INSERT, IQL_T_INTO, IQL_T_KEY, IQL_T_KEYS, IQL_T_KILL, IQL_T_LIMIT, IQL_T_MEASUREMENT,
    IQL_T_MEASUREMENTS, IQL_T_NAME, IQL_T_OFFSET, IQL_T_ON, IQL_T_ORDER, IQL_T_PASSWORD,
    IQL_T_POLICY, IQL_T_POLICIES, IQL_T_PRIVILEGES, IQL_T_QUERIES, IQL_T_QUERY, IQL_T_READ,
    IQL_T_REPLICATION, IQL_T_RESAMPLE, IQL_T_RETENTION, IQL_T_REVOKE, IQL_T_SELECT, IQL_T_SERIES,
    IQL_T_SET, IQL_T_SHARD, IQL_T_SHARDS, IQL_T_SHOW, IQL_T_SLIMIT, IQL_T_SOFFSET, IQL_T_STATS,
    IQL_T_SUBSCRIPTION, IQL_T_SUBSCRIPTIONS, IQL_T_TAG, IQL_T_TO, IQL_T_USER, IQL_T_USERS,
    IQL_T_VALUES, IQL_T_WHERE, IQL_T_WITH, IQL_T_WRITE,
    IQL_T__COUNT
} iql_tok;

typedef struct iql_token {
    iql_tok tok;
    size_t pos;        /* byte offset of the first byte */
    size_t end;        /* byte offset after the token */
    st_slice lit;      /* raw text of the token (for quoted forms: the source bytes) */
} iql_token;

typedef struct iql_lexer {
    const char *src;   /* borrowed */
    size_t len;
    size_t pos;
} iql_lexer;

void iql_lexer_init(iql_lexer *lx, const char *src, size_t len);
/* Next token, whitespace and comments (-- line, / * block * /) skipped. */
iql_token iql_lex_next(iql_lexer *lx);
/* Scan a /regex/ starting at byte offset pos (which holds '/'). */
iql_token iql_lex_regex(iql_lexer *lx, size_t pos);
/* Keyword text ("SELECT") or operator text ("=") of a token kind. */
const char *iql_tok_name(iql_tok t);
/* 1-based line and char of a byte offset. */
void iql_pos_linechar(const char *src, size_t len, size_t pos, int *line, int *ch);

/* Unescape a "quoted identifier" or 'string' token body (without quotes):
 * \" \' \\ \n \t. Returns 0 or ST_EPARSE (bad escape). Arena copy. */
int iql_unquote(st_arena *a, const char *p, size_t n, char quote, st_slice *out);

/* ---- syntax tree ---------------------------------------------------- */

typedef enum iql_expr_kind {
    IQL_E_IDENT,     /* name, cast */
    IQL_E_STRING,    /* s */
    IQL_E_INTEGER,   /* i */
    IQL_E_NUMBER,    /* f */
    IQL_E_BOOL,      /* i (0/1) */
    IQL_E_DURATION,  /* i (ns) */
    IQL_E_REGEX,     /* s (pattern) */
    IQL_E_CALL,      /* name, args, nargs */
    IQL_E_BINARY,    /* op, lhs, rhs */
    IQL_E_PAREN,     /* lhs */
    IQL_E_WILDCARD,  /* * (cast: ::field / ::tag) */
    IQL_E_PARAM,     /* name ($x; unsupported at execution) */
} iql_expr_kind;

typedef struct iql_expr iql_expr;
struct iql_expr {
    iql_expr_kind kind;
    iql_tok op;            /* BINARY: IQL_T_ADD ... IQL_T_GTE, AND, OR */
    iql_expr *lhs, *rhs;
    st_slice name;         /* IDENT / CALL name (CALL names lower-cased) */
    st_slice s;            /* STRING / REGEX */
    st_slice cast;         /* IDENT "::field" etc. ("" when none) */
    int64_t i;
    double f;
    iql_expr **args;
    size_t nargs;
    size_t pos;            /* byte offset, for messages */
    void *aux;             /* executor scratch (compiled regex, call index); NULL from the parser */
};

typedef struct iql_field {
    iql_expr *expr;
    st_slice alias;        /* "" when none */
} iql_field;

typedef struct iql_source {
    st_slice db, rp;       /* "" when not given */
    st_slice name;         /* measurement, or the regex when is_regex */
    int is_regex;
    struct iql_stmt *sub;  /* FROM (SELECT ...): the subquery (name etc. empty), else NULL */
} iql_source;

typedef enum iql_dim_kind { IQL_DIM_TIME, IQL_DIM_TAG, IQL_DIM_REGEX, IQL_DIM_WILDCARD } iql_dim_kind;

typedef struct iql_dim {
    iql_dim_kind kind;
    st_slice name;         /* TAG: key; REGEX: pattern */
    int64_t interval_ns;   /* TIME */
    int64_t offset_ns;     /* TIME */
} iql_dim;

typedef enum iql_fill { IQL_FILL_NULL = 0, IQL_FILL_NONE, IQL_FILL_PREVIOUS, IQL_FILL_LINEAR,
                        IQL_FILL_NUMBER } iql_fill;

typedef enum iql_stmt_kind {
    IQL_S_SELECT,
    IQL_S_SHOW_DATABASES,
    IQL_S_SHOW_MEASUREMENTS,
    IQL_S_SHOW_FIELD_KEYS,
    IQL_S_SHOW_TAG_KEYS,
    IQL_S_SHOW_TAG_VALUES,
    IQL_S_SHOW_SERIES,
    IQL_S_SHOW_RETENTION_POLICIES,
    IQL_S_CREATE_DATABASE,
    IQL_S_DROP_DATABASE,
    IQL_S_DROP_MEASUREMENT,
    IQL_S_DROP_SERIES,
    IQL_S_CREATE_RP,       /* CREATE RETENTION POLICY name ON db DURATION d REPLICATION n [SHARD DURATION d] [DEFAULT] */
    IQL_S_ALTER_RP,        /* ALTER RETENTION POLICY name ON db [DURATION d] [REPLICATION n] [SHARD DURATION d] [DEFAULT] */
    IQL_S_DELETE,          /* DELETE [FROM m] [WHERE tags AND time] */
} iql_stmt_kind;

typedef struct iql_stmt {
    iql_stmt_kind kind;
    /* SELECT */
    iql_field *fields;
    size_t nfields;
    iql_source *sources;   /* SELECT FROM, SHOW ... FROM, DROP MEASUREMENT (one) */
    size_t nsources;
    iql_expr *where;       /* NULL when none */
    iql_dim *dims;
    size_t ndims;
    iql_fill fill;
    double fill_value;     /* IQL_FILL_NUMBER */
    int fill_is_int;       /* fill(0) written as an integer */
    int order_desc;
    int64_t limit, offset, slimit, soffset; /* 0 = none */
    st_slice tz;           /* "" when none */
    /* SHOW ... ON db, CREATE/DROP DATABASE name */
    st_slice db;
    /* SHOW TAG VALUES WITH KEY op ...; SHOW MEASUREMENTS WITH MEASUREMENT op ... */
    iql_tok with_op;       /* IQL_T_EQ, NEQ, EQREGEX, NEQREGEX, IN; IQL_T_ILLEGAL = none */
    st_slice *with_vals;   /* one value (or pattern), or the IN list */
    size_t nwith_vals;
    size_t pos;            /* byte offset of the statement */
    /* CREATE/ALTER RETENTION POLICY */
    st_slice rp_name;
    int has_duration, has_shard;
    int64_t duration_ns;   /* 0 = INF */
    int64_t shard_ns;
} iql_stmt;

typedef struct iql_query {
    iql_stmt **stmts;
    size_t nstmts;
} iql_query;

/*
 * Parse src. On success *out (arena-allocated) holds the statements.
 * On failure returns ST_EPARSE (or ST_ENOMEM) and writes the message
 * (without the "error parsing query: " prefix) into err (NUL-terminated,
 * truncated to err_cap).
 */
int iql_parse(st_arena *a, const char *src, size_t len, iql_query **out, char *err, size_t err_cap);

/* Render an expression back to InfluxQL text (tests, messages). */
struct st_buf;
int iql_expr_format(const iql_expr *e, struct st_buf *out);

#endif
