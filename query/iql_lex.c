/*
 * query/iql_lex.c — the InfluxQL scanner (see iql.h). Works on borrowed
 * bytes, never allocates except iql_unquote (arena). Any byte sequence is
 * accepted: invalid input becomes IQL_T_ILLEGAL / BADSTRING / BADESCAPE
 * tokens for the parser to report. Any thread.
 */
#include "query/iql.h"

#include <string.h>

#include "common/err.h"

static const char *const kw_names[IQL_T__COUNT - IQL_T_KW_FIRST] = {
    "ALL", "ALTER", "ANALYZE", "ANY", "AS", "ASC", "BEGIN", "BY", "CARDINALITY", "CREATE",
    "CONTINUOUS", "DATABASE", "DATABASES", "DEFAULT", "DELETE", "DESC", "DESTINATIONS",
    "DIAGNOSTICS", "DISTINCT", "DROP", "DURATION", "END", "EVERY", "EXACT", "EXPLAIN", "FIELD",
    "FOR", "FROM", "GRANT", "GRANTS", "GROUP", "GROUPS", "IN", "INF", "INSERT", "INTO", "KEY",
    "KEYS", "KILL", "LIMIT", "MEASUREMENT", "MEASUREMENTS", "NAME", "OFFSET", "ON", "ORDER",
    "PASSWORD", "POLICY", "POLICIES", "PRIVILEGES", "QUERIES", "QUERY", "READ", "REPLICATION",
    "RESAMPLE", "RETENTION", "REVOKE", "SELECT", "SERIES", "SET", "SHARD", "SHARDS", "SHOW", "SLIMIT",
    "SOFFSET", "STATS", "SUBSCRIPTION", "SUBSCRIPTIONS", "TAG", "TO", "USER", "USERS", "VALUES",
    "WHERE", "WITH", "WRITE",
};

const char *iql_tok_name(iql_tok t)
{
    switch (t) {
    case IQL_T_ILLEGAL: return "ILLEGAL";
    case IQL_T_EOF: return "EOF";
    case IQL_T_WS: return "WS";
    case IQL_T_IDENT: return "IDENT";
    case IQL_T_STRING: return "STRING";
    case IQL_T_BADSTRING: return "BADSTRING";
    case IQL_T_BADESCAPE: return "BADESCAPE";
    case IQL_T_INTEGER: return "INTEGER";
    case IQL_T_NUMBER: return "NUMBER";
    case IQL_T_DURATION: return "DURATION";
    case IQL_T_REGEX: return "REGEX";
    case IQL_T_BOUNDPARAM: return "BOUNDPARAM";
    case IQL_T_TRUE: return "TRUE";
    case IQL_T_FALSE: return "FALSE";
    case IQL_T_ADD: return "+";
    case IQL_T_SUB: return "-";
    case IQL_T_MUL: return "*";
    case IQL_T_DIV: return "/";
    case IQL_T_MOD: return "%";
    case IQL_T_BITAND: return "&";
    case IQL_T_BITOR: return "|";
    case IQL_T_BITXOR: return "^";
    case IQL_T_AND: return "AND";
    case IQL_T_OR: return "OR";
    case IQL_T_EQ: return "=";
    case IQL_T_NEQ: return "!=";
    case IQL_T_EQREGEX: return "=~";
    case IQL_T_NEQREGEX: return "!~";
    case IQL_T_LT: return "<";
    case IQL_T_LTE: return "<=";
    case IQL_T_GT: return ">";
    case IQL_T_GTE: return ">=";
    case IQL_T_LPAREN: return "(";
    case IQL_T_RPAREN: return ")";
    case IQL_T_COMMA: return ",";
    case IQL_T_COLON: return ":";
    case IQL_T_DOUBLECOLON: return "::";
    case IQL_T_SEMICOLON: return ";";
    case IQL_T_DOT: return ".";
    default:
        if (t >= IQL_T_KW_FIRST && t < IQL_T__COUNT) return kw_names[t - IQL_T_KW_FIRST];
        return "?";
    }
}

void iql_lexer_init(iql_lexer *lx, const char *src, size_t len)
{
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
}

void iql_pos_linechar(const char *src, size_t len, size_t pos, int *line, int *ch)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (src[i] == '\n') { l++; c = 1; } else c++;
    }
    *line = l;
    *ch = c;
}

static int is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static iql_tok keyword(const char *p, size_t n)
{
    char up[16];
    if (n == 0 || n >= sizeof up) return IQL_T_IDENT;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        up[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    up[n] = 0;
    if (strcmp(up, "AND") == 0) return IQL_T_AND;
    if (strcmp(up, "OR") == 0) return IQL_T_OR;
    if (strcmp(up, "TRUE") == 0) return IQL_T_TRUE;
    if (strcmp(up, "FALSE") == 0) return IQL_T_FALSE;
    /* every identifier of every query comes through here: compare the
     * first letter before calling strcmp */
    for (int i = 0; i < IQL_T__COUNT - IQL_T_KW_FIRST; i++)
        if (kw_names[i][0] == up[0] && strcmp(up, kw_names[i]) == 0) return (iql_tok)(IQL_T_KW_FIRST + i);
    return IQL_T_IDENT;
}

static iql_token mk(iql_tok t, const iql_lexer *lx, size_t start, size_t end)
{
    iql_token k;
    k.tok = t;
    k.pos = start;
    k.end = end;
    k.lit = (st_slice){ lx->src + start, end - start };
    return k;
}

/* Length of a duration unit at p (0 if none): ns u us µ µs ms s m h d w. */
static size_t unit_len(const char *p, size_t n)
{
    if (n == 0) return 0;
    unsigned char c = (unsigned char)p[0];
    if (c == 'n') return (n >= 2 && p[1] == 's') ? 2 : 0;
    if (c == 'u') return (n >= 2 && p[1] == 's') ? 2 : 1;
    if (c == 'm') return (n >= 2 && p[1] == 's') ? 2 : 1;
    if (c == 's' || c == 'h' || c == 'd' || c == 'w') return 1;
    if (c == 0xC2 && n >= 2 && (unsigned char)p[1] == 0xB5) return (n >= 3 && p[2] == 's') ? 3 : 2;
    if (c == 0xCE && n >= 2 && (unsigned char)p[1] == 0xBC) return (n >= 3 && p[2] == 's') ? 3 : 2;
    return 0;
}

/* Quoted run starting at the opening quote; returns the end (after the
 * closing quote) and the token kind. */
static iql_tok scan_quoted(const iql_lexer *lx, size_t start, char q, size_t *end)
{
    size_t i = start + 1;
    iql_tok t = q == '\'' ? IQL_T_STRING : IQL_T_IDENT;
    while (i < lx->len) {
        char c = lx->src[i];
        if (c == q) { *end = i + 1; return t; }
        if (c == '\n') { *end = i; return IQL_T_BADSTRING; }
        if (c == '\\') {
            if (i + 1 >= lx->len) break;
            char e = lx->src[i + 1];
            if (e != 'n' && e != 't' && e != '\\' && e != '"' && e != '\'') { *end = i + 2; return IQL_T_BADESCAPE; }
            i += 2;
            continue;
        }
        i++;
    }
    *end = lx->len;
    return IQL_T_BADSTRING;
}

iql_token iql_lex_next(iql_lexer *lx)
{
    const char *s = lx->src;
    size_t n = lx->len;
    for (;;) {
        while (lx->pos < n && is_ws((unsigned char)s[lx->pos])) lx->pos++;
        if (lx->pos + 1 < n && s[lx->pos] == '-' && s[lx->pos + 1] == '-') {
            while (lx->pos < n && s[lx->pos] != '\n') lx->pos++;
            continue;
        }
        if (lx->pos + 1 < n && s[lx->pos] == '/' && s[lx->pos + 1] == '*') {
            size_t i = lx->pos + 2;
            while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/')) i++;
            lx->pos = i + 1 < n ? i + 2 : n;
            continue;
        }
        break;
    }
    size_t st = lx->pos;
    if (st >= n) return mk(IQL_T_EOF, lx, n, n);
    unsigned char c = (unsigned char)s[st];
    size_t end;
    iql_tok t;
    if (is_letter(c)) {
        end = st + 1;
        while (end < n && (is_letter((unsigned char)s[end]) || is_digit((unsigned char)s[end]))) end++;
        t = keyword(s + st, end - st);
    } else if (c == '"' || c == '\'') {
        t = scan_quoted(lx, st, (char)c, &end);
    } else if (is_digit(c) || (c == '.' && st + 1 < n && is_digit((unsigned char)s[st + 1]))) {
        end = st;
        while (end < n && is_digit((unsigned char)s[end])) end++;
        t = IQL_T_INTEGER;
        if (end < n && s[end] == '.') {
            t = IQL_T_NUMBER;
            end++;
            while (end < n && is_digit((unsigned char)s[end])) end++;
        } else if (end > st) {
            size_t u = unit_len(s + end, n - end);
            if (u) {
                t = IQL_T_DURATION;
                end += u;
                /* compound: 1h30m */
                for (;;) {
                    size_t j = end;
                    while (j < n && is_digit((unsigned char)s[j])) j++;
                    if (j == end) break;
                    size_t u2 = unit_len(s + j, n - j);
                    if (!u2) break;
                    end = j + u2;
                }
                /* "10sx": a unit glued to letters is not a duration */
                if (end < n && (is_letter((unsigned char)s[end]) || is_digit((unsigned char)s[end]))) {
                    while (end < n && (is_letter((unsigned char)s[end]) || is_digit((unsigned char)s[end]))) end++;
                    t = IQL_T_ILLEGAL;
                }
            }
        }
    } else if (c == '$') {
        end = st + 1;
        while (end < n && (is_letter((unsigned char)s[end]) || is_digit((unsigned char)s[end]))) end++;
        t = end > st + 1 ? IQL_T_BOUNDPARAM : IQL_T_ILLEGAL;
    } else {
        end = st + 1;
        char d = st + 1 < n ? s[st + 1] : 0;
        switch (c) {
        case '+': t = IQL_T_ADD; break;
        case '-': t = IQL_T_SUB; break;
        case '*': t = IQL_T_MUL; break;
        case '/': t = IQL_T_DIV; break;
        case '%': t = IQL_T_MOD; break;
        case '&': t = IQL_T_BITAND; break;
        case '|': t = IQL_T_BITOR; break;
        case '^': t = IQL_T_BITXOR; break;
        case '(': t = IQL_T_LPAREN; break;
        case ')': t = IQL_T_RPAREN; break;
        case ',': t = IQL_T_COMMA; break;
        case ';': t = IQL_T_SEMICOLON; break;
        case '.': t = IQL_T_DOT; break;
        case ':':
            if (d == ':') { t = IQL_T_DOUBLECOLON; end++; } else t = IQL_T_COLON;
            break;
        case '=':
            if (d == '~') { t = IQL_T_EQREGEX; end++; } else t = IQL_T_EQ;
            break;
        case '!':
            if (d == '=') { t = IQL_T_NEQ; end++; }
            else if (d == '~') { t = IQL_T_NEQREGEX; end++; }
            else t = IQL_T_ILLEGAL;
            break;
        case '<':
            if (d == '=') { t = IQL_T_LTE; end++; }
            else if (d == '>') { t = IQL_T_NEQ; end++; }
            else t = IQL_T_LT;
            break;
        case '>':
            if (d == '=') { t = IQL_T_GTE; end++; } else t = IQL_T_GT;
            break;
        default: t = IQL_T_ILLEGAL; break;
        }
    }
    lx->pos = end;
    return mk(t, lx, st, end);
}

iql_token iql_lex_regex(iql_lexer *lx, size_t pos)
{
    size_t i = pos + 1;
    while (i < lx->len) {
        char c = lx->src[i];
        if (c == '\\' && i + 1 < lx->len) { i += 2; continue; }
        if (c == '/') {
            lx->pos = i + 1;
            return mk(IQL_T_REGEX, lx, pos, i + 1);
        }
        if (c == '\n') break;
        i++;
    }
    lx->pos = i;
    return mk(IQL_T_BADSTRING, lx, pos, i);
}

int iql_unquote(st_arena *a, const char *p, size_t n, char quote, st_slice *out)
{
    char *d = st_arena_alloc_bytes(a, n + 1);
    if (!d) return ST_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && quote != '/') {
            if (i + 1 >= n) return ST_EPARSE;
            char e = p[++i];
            switch (e) {
            case 'n': d[k++] = '\n'; break;
            case 't': d[k++] = '\t'; break;
            case '\\': d[k++] = '\\'; break;
            case '"': d[k++] = '"'; break;
            case '\'': d[k++] = '\''; break;
            default: return ST_EPARSE;
            }
            continue;
        }
        if (c == '\\' && quote == '/' && i + 1 < n && p[i + 1] == '/') {
            d[k++] = '/';
            i++;
            continue;
        }
        d[k++] = c;
    }
    d[k] = 0;
    *out = (st_slice){ d, k };
    return 0;
}
