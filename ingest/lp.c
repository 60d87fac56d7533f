/*
 * ingest/lp.c — InfluxDB line protocol parser (see ingest/lp.h).
 *
 * Owns: the parser struct, its carry buffer (the partial line that
 * straddles two chunks), and its per-line scratch (tags, fields, unescaped
 * names and strings, the error message). Called by one thread at a time:
 * an I/O loop parsing a request body, or a tool.
 *
 * How a chunk is cut into lines (lp_scan_line, exported so that tools cut
 * input into batches exactly where the parser ends lines): memchr finds the
 * next LF; when the bytes before it hold no '"' that LF ends the line (the
 * common case: two memchr and no per-byte state). Otherwise a small state
 * machine (lp_scan_run) walks the line: measurement and tags up to the
 * first space not preceded by a backslash, then fields, where a '"' right
 * after '=' opens a string that only an unescaped '"' closes (raw LF inside
 * it does not end the line, and is counted), then the timestamp. The
 * machine keeps its state in the parser, so a line straddling chunks is
 * scanned once, byte by byte, never rescanned.
 *
 * Where we differ from the InfluxDB 1.x server (deliberately):
 *  - one CR before LF is dropped (1.x keeps it and fails the line);
 *  - the `u` suffix (uint64) is accepted (2.x does; 1.x OSS does not);
 *  - a backslash never escapes a line end (1.x's scanLine lets `\` + LF
 *    continue a line); a delimiter in a field key is escaped by the byte
 *    before it being a backslash, as in tags (1.x skips pairs there);
 *  - "time outside range" also covers digit strings that overflow int64
 *    (1.x prints strconv's error), int/uint range errors say "invalid
 *    number";
 *  - quality field extraction (DESIGN.md "Quality").
 */
#include "ingest/lp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/hmap.h"
#include "common/num.h"

#define LP_MSG_LINE_BYTES 256 /* bytes of the line quoted in an error */

/* ---- the line-end scanner (see the opening comment and lp.h) ---- */

enum {
    SC_LEAD = 0, /* leading blanks */
    SC_COMMENT,
    SC_KEY,      /* measurement and tags */
    SC_SP,       /* spaces before the fields */
    SC_FKEY,
    SC_FVAL0,    /* just after '=' */
    SC_STR,
    SC_STR_ESC,
    SC_FVAL,
    SC_TS,
    SC_PLAIN,    /* ended by lp_scan_line's memchr path: no '"' in the line */
};

const char *lp_scan_run(lp_scan *sc, const char *p, const char *end)
{
    unsigned st = sc->st, prev = sc->prev;
    uint64_t lfs = sc->inner_lfs;
    for (; p < end; p++) {
        unsigned c = (unsigned char)*p;
        switch (st) {
        case SC_LEAD:
            if (c == '\n') goto eol;
            if (c == ' ' || c == '\t') break;
            st = c == '#' ? SC_COMMENT : SC_KEY;
            break;
        case SC_COMMENT:
        case SC_TS: {
            /* Nothing after this can hide a LF: memchr, and for the
             * timestamp only the first byte that is not blank matters. */
            const char *q = memchr(p, '\n', (size_t)(end - p));
            const char *e = q ? q : end;
            if (st == SC_TS && !sc->ts_seen) {
                const char *t = p;
                while (t < e && (*t == ' ' || *t == '\r')) t++;
                sc->ts_seen = t < e;
            }
            sc->st = (uint8_t)st;
            sc->prev = e > p ? (uint8_t)e[-1] : (uint8_t)prev;
            sc->inner_lfs = lfs;
            return q;
        }
        case SC_KEY:
            if (c == '\n') goto eol;
            if (c == ' ' && prev != '\\') st = SC_SP;
            break;
        case SC_SP:
            if (c == '\n') goto eol;
            if (c != ' ') st = c == '=' ? SC_FVAL0 : SC_FKEY;
            break;
        case SC_FKEY:
            if (c == '\n') goto eol;
            if (prev != '\\') {
                if (c == '=') st = SC_FVAL0;
                else if (c == ' ') st = SC_TS;
            }
            break;
        case SC_FVAL0:
            if (c == '"') { st = SC_STR; break; }
            st = SC_FVAL;
            /* fall through */
        case SC_FVAL:
            if (c == '\n') goto eol;
            if (c == ',') st = SC_FKEY;
            else if (c == ' ') st = SC_TS;
            break;
        case SC_STR:
            if (c == '\\') st = SC_STR_ESC;
            else if (c == '"') st = SC_FVAL;
            else if (c == '\n') lfs++;
            break;
        case SC_STR_ESC:
            lfs += c == '\n';
            st = SC_STR;
            break;
        default: /* SC_PLAIN: the line ended; the caller resets before the next one */
            return NULL;
        }
        prev = c;
    }
    sc->st = (uint8_t)st;
    sc->prev = (uint8_t)prev;
    sc->inner_lfs = lfs;
    return NULL;
eol:
    sc->st = (uint8_t)st;
    sc->prev = (uint8_t)prev;
    sc->inner_lfs = lfs;
    return p;
}

const char *lp_scan_line(lp_scan *sc, const char *p, const char *end)
{
    if (sc->st == SC_LEAD && p < end) {
        /* No '"' before the LF: no string can hide a LF, the LF ends it. */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl && !memchr(p, '"', (size_t)(nl - p))) {
            sc->st = SC_PLAIN;
            return nl;
        }
    }
    return lp_scan_run(sc, p, end);
}

/* The next unescaped space in [p, e), or NULL. */
static const char *next_sep(const char *p, const char *e)
{
    while (p < e) {
        const char *q = memchr(p, ' ', (size_t)(e - p));
        if (!q) return NULL;
        if (q == p || q[-1] != '\\') return q;
        p = q + 1;
    }
    return NULL;
}

int lp_line_blank(const char *line, size_t len)
{
    /* As parse_line sees it: one CR at the end dropped, then only spaces
     * and tabs, or a '#' first. */
    const char *s = line, *e = line + len;
    if (e > s && e[-1] == '\r') e--;
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    return s == e || *s == '#';
}

int lp_scan_kind(const lp_scan *sc, const char *line, size_t len)
{
    if (lp_line_blank(line, len)) return LP_SCAN_BLANK;
    const char *s = line, *e = line + len;
    while (*s == ' ' || *s == '\t') s++;
    if (e[-1] == '\r') e--;
    unsigned st = sc->st;
    int ts_seen = sc->ts_seen;
    if (st == SC_PLAIN) {
        /* The state the machine would have ended in, found by separators. */
        st = SC_KEY;
        const char *sp1 = next_sep(s, e);             /* after measurement+tags */
        if (sp1) {
            const char *f = sp1;
            while (f < e && *f == ' ') f++;
            const char *sp2 = next_sep(f, e);         /* after the fields */
            const char *fe = sp2 ? sp2 : e;
            if (f == e) st = SC_SP;
            else if (!memchr(f, '=', (size_t)(fe - f))) st = SC_FKEY;
            else if (!sp2) st = SC_FVAL;
            else {
                st = SC_TS;
                const char *t = sp2;
                while (t < e && *t == ' ') t++;
                ts_seen = t < e;
            }
        }
    }
    switch (st) {
    case SC_FVAL: return LP_SCAN_NO_TS;
    case SC_TS: return ts_seen ? LP_SCAN_TS : LP_SCAN_NO_TS;
    default: return LP_SCAN_OTHER;
    }
}

/* ---- the parser ---- */

/*
 * The key cache: a line's series key (measurement and tags as written)
 * mostly repeats one met a few lines before. A key without backslashes
 * that parsed cleanly is kept with where its measurement and its sorted tags
 * are in it; a later line with the same bytes up to its first space takes
 * them from there instead of scanning and sorting its tags again (a key
 * without backslashes ends at its first space, so equal bytes are an equal
 * key). Two-way set associative, LP_KC_SLOTS slots; the bytes go into one
 * buffer, emptied with the slots when it passes LP_KC_MAX_BYTES.
 */
#define LP_KC_SLOTS 2048u
#define LP_KC_MAX_BYTES (512u * 1024)

typedef struct lp_kc_slot {
    uint64_t hash;           /* 0 = empty */
    uint32_t off;            /* in kc_bytes: the key, then 4 uint16 per tag */
    uint16_t key_len, meas_len, ntags;
} lp_kc_slot;

struct lp_parser {
    lp_opts opts;
    lp_line_cb on_line;
    lp_error_cb on_error;
    void *ctx;
    int stopped;             /* sticky non-zero return */

    /* carry: the partial line straddling chunks */
    char *carry;             /* owned */
    size_t carry_len, carry_cap;
    uint64_t carry_total;    /* bytes of the partial line, stored or not */
    int in_carry;            /* a partial line is pending */
    int64_t carry_first;     /* offset of its first byte other than ' ' '\t', -1 = none yet */
    unsigned char carry_first_c;
    lp_scan sc;              /* the scanner on the partial line (its inner LFs too) */

    uint64_t next_lineno;
    lp_stats stats;

    /* per-line scratch, grown to the largest line */
    lp_tag *tags;            /* owned */
    size_t tags_cap;
    lp_field *fields;        /* owned */
    size_t fields_cap;
    char *unesc;             /* owned: unescaped names and strings */
    size_t unesc_cap, unesc_len;
    char msg[1024];

    /* series keys met lately (the key cache, above parse_line) */
    lp_kc_slot *kc;          /* owned: LP_KC_SLOTS slots, made at the first key cached */
    st_buf kc_bytes;         /* owned: their keys and tag offsets */
};

int lp_precision_parse_v1(const char *s, size_t len, lp_precision *out)
{
    st_slice v = { s, len };
    lp_precision p;
    if (len == 0 || st_slice_eq_cstr(v, "n") || st_slice_eq_cstr(v, "ns")) p = LP_PRECISION_NS;
    else if (st_slice_eq_cstr(v, "u")) p = LP_PRECISION_US;
    else if (st_slice_eq_cstr(v, "ms")) p = LP_PRECISION_MS;
    else if (st_slice_eq_cstr(v, "s")) p = LP_PRECISION_S;
    else if (st_slice_eq_cstr(v, "m")) p = LP_PRECISION_M;
    else if (st_slice_eq_cstr(v, "h")) p = LP_PRECISION_H;
    else return ST_EINVAL;
    *out = p;
    return 0;
}

int lp_precision_parse_v2(const char *s, size_t len, lp_precision *out)
{
    st_slice v = { s, len };
    lp_precision p;
    if (len == 0 || st_slice_eq_cstr(v, "ns")) p = LP_PRECISION_NS;
    else if (st_slice_eq_cstr(v, "us")) p = LP_PRECISION_US;
    else if (st_slice_eq_cstr(v, "ms")) p = LP_PRECISION_MS;
    else if (st_slice_eq_cstr(v, "s")) p = LP_PRECISION_S;
    else return ST_EINVAL;
    *out = p;
    return 0;
}

int64_t lp_precision_ns(lp_precision p)
{
    switch (p) {
    case LP_PRECISION_US: return 1000;
    case LP_PRECISION_MS: return 1000000;
    case LP_PRECISION_S:  return 1000000000;
    case LP_PRECISION_M:  return INT64_C(60000000000);
    case LP_PRECISION_H:  return INT64_C(3600000000000);
    default:              return 1;
    }
}

int lp_parser_create(const lp_opts *opts, lp_line_cb on_line, lp_error_cb on_error, void *ctx,
                     lp_parser **out)
{
    lp_parser *p = st_calloc(1, sizeof(*p));
    if (!p) return ST_ENOMEM;
    if (opts) p->opts = *opts;
    p->on_line = on_line;
    p->on_error = on_error;
    p->ctx = ctx;
    p->next_lineno = 1;
    p->carry_first = -1;
    *out = p;
    return 0;
}

void lp_parser_destroy(lp_parser *p)
{
    if (!p) return;
    st_free(p->carry);
    st_free(p->tags);
    st_free(p->fields);
    st_free(p->unesc);
    st_free(p->kc);
    st_buf_fini(&p->kc_bytes);
    st_free(p);
}

void lp_parser_stats(const lp_parser *p, lp_stats *out) { *out = p->stats; }

/* Byte classes for the name scanners. */
#define C_MEAS 0x01 /* ends a measurement: ',' ' ' (and '\\' needs care) */
#define C_TAG  0x02 /* ends a tag key/value: ',' ' ' '=' */
#define C_BSL  0x04 /* backslash */
#define C_NUM  0x08 /* starts a number: digit '.' '-' */

static const unsigned char lp_class[256] = {
    [','] = C_MEAS | C_TAG, [' '] = C_MEAS | C_TAG, ['='] = C_TAG, ['\\'] = C_MEAS | C_TAG | C_BSL,
    ['0'] = C_NUM, ['1'] = C_NUM, ['2'] = C_NUM, ['3'] = C_NUM, ['4'] = C_NUM,
    ['5'] = C_NUM, ['6'] = C_NUM, ['7'] = C_NUM, ['8'] = C_NUM, ['9'] = C_NUM,
    ['.'] = C_NUM, ['-'] = C_NUM,
};

static const double lp_pow10[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Scan a name from i up to the first byte of class `stop` that is not
 * preceded by a backslash. Sets *esc when a backslash was seen. */
static inline const char *scan_name(const char *i, const char *e, unsigned stop, int *esc)
{
    for (;;) {
        while (i < e && !(lp_class[(unsigned char)*i] & stop)) i++;
        if (i >= e || *i != '\\') return i;
        *esc = 1;
        while (i < e && *i == '\\') i++;
        if (i < e) i++; /* the byte after a backslash is never a delimiter */
    }
}

/* Unescape [s, s+n) into the scratch (room is reserved per line). measurement:
 * only `\,` and `\ ` decode; elsewhere also `\=`. */
static st_slice unescape_name(lp_parser *p, const char *s, size_t n, int is_meas)
{
    char *o = p->unesc + p->unesc_len, *o0 = o;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char d = s[i + 1];
            if (d == ',' || d == ' ' || (d == '=' && !is_meas)) { *o++ = d; i++; continue; }
        }
        *o++ = c;
    }
    p->unesc_len += (size_t)(o - o0);
    return (st_slice){ o0, (size_t)(o - o0) };
}

static void put_trunc(char **o, char *oe, const char *s, size_t n)
{
    if (*o >= oe) return;
    size_t room = (size_t)(oe - *o);
    int cut = n > LP_MSG_LINE_BYTES;
    size_t k = cut ? LP_MSG_LINE_BYTES : n;
    if (k > room) k = room;
    memcpy(*o, s, k);
    *o += k;
    if (cut && (size_t)(oe - *o) >= 3) { memcpy(*o, "...", 3); *o += 3; }
}

/* Report a bad line. reason may hold one "%M" (measurement, truncated) and one
 * "%K" (field key, truncated) and one "%N" (number). */
static int line_error(lp_parser *p, uint64_t lineno, const char *s, size_t n, const char *reason,
                      st_slice m, st_slice k, uint64_t num)
{
    char *o = p->msg, *oe = p->msg + sizeof(p->msg);
    static const char pre[] = "unable to parse '";
    memcpy(o, pre, sizeof(pre) - 1);
    o += sizeof(pre) - 1;
    put_trunc(&o, oe - 400, s, n);
    *o++ = '\'';
    *o++ = ':';
    *o++ = ' ';
    for (const char *r = reason; *r && o < oe - 1; r++) {
        if (r[0] == '%' && r[1] == 'M') { put_trunc(&o, oe - 100, m.ptr, m.len); r++; continue; }
        if (r[0] == '%' && r[1] == 'K') { put_trunc(&o, oe - 100, k.ptr, k.len); r++; continue; }
        if (r[0] == '%' && r[1] == 'N') {
            char nb[24];
            size_t l = st_format_uint64(num, nb);
            if ((size_t)(oe - o) > l) { memcpy(o, nb, l); o += l; }
            r++;
            continue;
        }
        *o++ = *r;
    }
    p->stats.bad_lines++;
    if (!p->on_error) return 0;
    return p->on_error(p->ctx, lineno, (st_slice){ p->msg, (size_t)(o - p->msg) });
}

static inline int is_end(const char *i, const char *e) { return i >= e || *i == ',' || *i == ' '; }

/* Eight ASCII digits at p (p + 8 readable) as their value, 8 bytes at a
 * time (the SWAR trick of fast_float/simdjson), or UINT64_MAX when one of
 * them is not a digit. Numbers and timestamps are mostly digits. */
static inline uint64_t digits8(const char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    if (((v & UINT64_C(0xF0F0F0F0F0F0F0F0)) |
         (((v + UINT64_C(0x0606060606060606)) & UINT64_C(0xF0F0F0F0F0F0F0F0)) >> 4)) != UINT64_C(0x3333333333333333))
        return UINT64_MAX;
    v = (v & UINT64_C(0x0F0F0F0F0F0F0F0F)) * 2561 >> 8;
    v = (v & UINT64_C(0x00FF00FF00FF00FF)) * 6553601 >> 16;
    return (uint32_t)((v & UINT64_C(0x0000FFFF0000FFFF)) * UINT64_C(42949672960001) >> 32);
#else
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) {
        unsigned d = (unsigned)(p[k] - '0');
        if (d > 9) return UINT64_MAX;
        v = v * 10 + d;
    }
    return v;
#endif
}

/* Value parse outcomes. */
enum { V_OK = 0, V_NUMBER, V_BOOL, V_QUOTES, V_FORMAT, V_TOOLONG };

/* Parse one field value starting at *ip (not at the end, not ',' or ' ').
 * On V_OK *ip is after the value. */
static int parse_value(lp_parser *p, const char **ip, const char *e, st_value *v)
{
    const char *i = *ip;
    unsigned char c0 = (unsigned char)*i;
    if (c0 == '"') {
        const char *s = ++i;
        int esc = 0;
        for (;;) {
            while (i < e && *i != '"' && *i != '\\') i++;
            if (i >= e) return V_QUOTES;
            if (*i == '"') break;
            esc = 1;
            i += (i + 1 < e) ? 2 : 1;
        }
        size_t n = (size_t)(i - s);
        i++; /* closing quote */
        if (!is_end(i, e)) return V_FORMAT;
        v->type = ST_TYPE_STRING;
        if (esc) {
            char *o = p->unesc + p->unesc_len, *o0 = o;
            for (size_t k = 0; k < n; k++) {
                if (s[k] == '\\' && k + 1 < n && (s[k + 1] == '"' || s[k + 1] == '\\')) k++;
                *o++ = s[k];
            }
            p->unesc_len += (size_t)(o - o0);
            v->v.s = (st_slice){ o0, (size_t)(o - o0) };
        } else {
            v->v.s = (st_slice){ s, n };
        }
        if (v->v.s.len > LP_MAX_STRING_BYTES) return V_TOOLONG;
        *ip = i;
        return V_OK;
    }
    if (lp_class[c0] & C_NUM) {
        /* Fast path: [-]digits[.digits] with <= 19 digits, then i/u/end. */
        const char *q = i;
        int neg = *q == '-';
        q += neg;
        uint64_t m = 0, d8;
        int nd = 0, frac = 0, dot = 0;
        /* m is only used when nd <= 19; past that it may wrap (unused). */
        while (e - q >= 8 && (d8 = digits8(q)) != UINT64_MAX) { m = m * 100000000 + d8; nd += 8; q += 8; }
        while (q < e && (unsigned)(*q - '0') <= 9) { m = m * 10 + (unsigned)(*q - '0'); nd++; q++; }
        if (q < e && *q == '.') {
            dot = 1;
            q++;
            while (e - q >= 8 && (d8 = digits8(q)) != UINT64_MAX) { m = m * 100000000 + d8; nd += 8; frac += 8; q += 8; }
            while (q < e && (unsigned)(*q - '0') <= 9) { m = m * 10 + (unsigned)(*q - '0'); nd++; frac++; q++; }
        }
        if (nd > 0 && nd <= 19) {
            if (is_end(q, e)) {
                if (m <= (UINT64_C(1) << 53) && frac <= 22) {
                    double d = (double)m;
                    if (frac) d /= lp_pow10[frac];
                    v->type = ST_TYPE_FLOAT;
                    v->v.f = neg ? -d : d;
                    *ip = q;
                    return V_OK;
                }
                /* 17 to 19 digits (a double printed in full): Eisel-Lemire
                 * on the digits read, without reading them again. */
                double d;
                if (st_double_from_decimal(m, -(int64_t)frac, &d)) {
                    v->type = ST_TYPE_FLOAT;
                    v->v.f = neg ? -d : d;
                    *ip = q;
                    return V_OK;
                }
            } else if (!dot && (*q == 'i' || *q == 'u') && is_end(q + 1, e)) {
                if (*q == 'i') {
                    if (nd <= 18) {
                        v->type = ST_TYPE_INT;
                        v->v.i = neg ? -(int64_t)m : (int64_t)m;
                        *ip = q + 1;
                        return V_OK;
                    }
                } else {
                    if (neg) return V_NUMBER;
                    v->type = ST_TYPE_UINT;
                    v->v.u = m;
                    *ip = q + 1;
                    return V_OK;
                }
            }
        }
        /* Slow path: the whole token. */
        const char *te = q;
        while (!is_end(te, e)) te++;
        size_t n = (size_t)(te - i);
        char last = te[-1];
        if (last == 'i' || last == 'u') {
            if (last == 'i') {
                int64_t x;
                if (st_parse_int64(i, n - 1, &x)) return V_NUMBER;
                v->type = ST_TYPE_INT;
                v->v.i = x;
            } else {
                uint64_t x;
                if (st_parse_uint64(i, n - 1, &x)) return V_NUMBER;
                v->type = ST_TYPE_UINT;
                v->v.u = x;
            }
        } else {
            double d;
            if (st_parse_double(i, n, 0, &d)) return V_NUMBER;
            v->type = ST_TYPE_FLOAT;
            v->v.f = d;
        }
        *ip = te;
        return V_OK;
    }
    const char *te = i;
    while (!is_end(te, e)) te++;
    size_t n = (size_t)(te - i);
    if (c0 == 'N' || c0 == 'n') return V_NUMBER;
    int b;
    switch (n) {
    case 1:
        if (c0 == 't' || c0 == 'T') b = 1;
        else if (c0 == 'f' || c0 == 'F') b = 0;
        else return V_BOOL;
        break;
    case 4:
        if (!memcmp(i, "true", 4) || !memcmp(i, "True", 4) || !memcmp(i, "TRUE", 4)) b = 1;
        else return V_BOOL;
        break;
    case 5:
        if (!memcmp(i, "false", 5) || !memcmp(i, "False", 5) || !memcmp(i, "FALSE", 5)) b = 0;
        else return V_BOOL;
        break;
    default:
        return V_BOOL;
    }
    v->type = ST_TYPE_BOOL;
    v->v.b = b;
    *ip = te;
    return V_OK;
}

static int tag_cmp(const void *a, const void *b)
{
    return st_slice_cmp(((const lp_tag *)a)->key, ((const lp_tag *)b)->key);
}

/* Quality from a field value: 1 and *q set, or 0 (stays an ordinary field). */
static int quality_of(const st_value *v, uint32_t *q)
{
    switch (v->type) {
    case ST_TYPE_INT:
        if (v->v.i < 0 || v->v.i > (int64_t)UINT32_MAX) return 0;
        *q = (uint32_t)v->v.i;
        return 1;
    case ST_TYPE_UINT:
        if (v->v.u > UINT32_MAX) return 0;
        *q = (uint32_t)v->v.u;
        return 1;
    case ST_TYPE_FLOAT: {
        double d = v->v.f;
        if (!(d >= 0 && d < 4294967296.0) || d != (double)(uint32_t)d) return 0;
        *q = (uint32_t)d;
        return 1;
    }
    case ST_TYPE_STRING: {
        /* "... (0xHHHHHHHH)" with 1 to 8 hex digits */
        const char *s = v->v.s.ptr;
        size_t n = v->v.s.len, k = n;
        if (n < 5 || s[n - 1] != ')') return 0;
        k = n - 1;
        uint32_t x = 0;
        size_t digits = 0;
        while (k > 0 && digits <= 8) {
            char c = s[k - 1];
            unsigned d;
            if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
            else break;
            if (digits < 8) x |= (uint32_t)d << (4 * digits);
            digits++;
            k--;
        }
        if (digits < 1 || digits > 8 || k < 3) return 0;
        if ((s[k - 1] != 'x' && s[k - 1] != 'X') || s[k - 2] != '0' || s[k - 3] != '(') return 0;
        *q = x;
        return 1;
    }
    default:
        return 0;
    }
}

static const char *value_reason(int r)
{
    switch (r) {
    case V_NUMBER: return "invalid number";
    case V_BOOL:   return "invalid boolean";
    case V_QUOTES: return "unbalanced quotes";
    case V_TOOLONG: return "input field \"%K\" on measurement \"%M\" is too long, %N > 1048576";
    default:       return "invalid field format";
    }
}

uint64_t lp_key_hash(const char *key, size_t len)
{
    uint64_t h = st_hash_bytes(key, len, 0);
    return h ? h : 1;
}

static inline uint64_t key_hash(const char *k, size_t n) { return lp_key_hash(k, n); }

static const lp_kc_slot *kc_find(const lp_parser *p, uint64_t h, const char *k, size_t n)
{
    if (!p->kc) return NULL;
    size_t a = (size_t)h & (LP_KC_SLOTS - 1);
    for (size_t w = 0; w < 2; w++) {
        const lp_kc_slot *c = &p->kc[a ^ w];
        if (c->hash == h && c->key_len == n && memcmp(p->kc_bytes.ptr + c->off, k, n) == 0) return c;
    }
    return NULL;
}

/* Keep key [k, k + n) with its measurement length and its nt sorted tags
 * (slices into the key). 0 or ST_ENOMEM (like every allocation here: the
 * cache is only an optimisation, but an error path is one path). */
static int kc_put(lp_parser *p, uint64_t h, const char *k, size_t n, size_t meas_len, const lp_tag *tags, size_t nt)
{
    if (n > UINT16_MAX || nt > UINT16_MAX / 4) return 0;
    if (!p->kc) {
        p->kc = st_calloc(LP_KC_SLOTS, sizeof *p->kc);
        if (!p->kc) return ST_ENOMEM;
    }
    if (p->kc_bytes.len + n + nt * 8 > LP_KC_MAX_BYTES) {
        memset(p->kc, 0, LP_KC_SLOTS * sizeof *p->kc);
        st_buf_clear(&p->kc_bytes);
    }
    size_t off = p->kc_bytes.len;
    if (st_buf_reserve(&p->kc_bytes, n + nt * 8)) return ST_ENOMEM;
    memcpy(p->kc_bytes.ptr + off, k, n);
    char *t = p->kc_bytes.ptr + off + n;
    for (size_t i = 0; i < nt; i++) {
        uint16_t q[4] = { (uint16_t)(tags[i].key.ptr - k), (uint16_t)tags[i].key.len,
                          (uint16_t)(tags[i].val.ptr - k), (uint16_t)tags[i].val.len };
        memcpy(t + 8 * i, q, sizeof q);
    }
    p->kc_bytes.len += n + nt * 8;
    /* The way to use: an empty one, else the one the hash's next bit names. */
    size_t a = (size_t)h & (LP_KC_SLOTS - 1);
    lp_kc_slot *c = &p->kc[a];
    if (c->hash && p->kc[a ^ 1].hash == 0) c = &p->kc[a ^ 1];
    else if (c->hash && p->kc[a ^ 1].hash && ((h >> 32) & 1)) c = &p->kc[a ^ 1];
    *c = (lp_kc_slot){ h, (uint32_t)off, (uint16_t)n, (uint16_t)meas_len, (uint16_t)nt };
    return 0;
}

/* Parse one line [s, e) (no line end). 0, ST_ENOMEM or a callback's return. */
static int parse_line(lp_parser *p, const char *s, const char *e, uint64_t lineno)
{
    const char *i = s;
    while (i < e && (*i == ' ' || *i == '\t')) i++;
    if (i == e || *i == '#') return 0;
    p->stats.lines++;

    size_t n = (size_t)(e - s);
    if (p->opts.max_line_bytes && n > p->opts.max_line_bytes)
        return line_error(p, lineno, s, n, "line too long", (st_slice){ 0 }, (st_slice){ 0 }, 0);
    if (n > p->unesc_cap && st_grow(&p->unesc, &p->unesc_cap, n, 1, 256)) return ST_ENOMEM;
    p->unesc_len = 0;

    const char *reason = NULL;
    st_slice meas = { 0 }, rkey = { 0 };
    uint64_t rnum = 0;
    int rc;

    /* measurement */
    const char *key0 = i;
    if (*i == ',') { reason = "missing measurement"; goto bad; }
    size_t nt = 0;
    int esc = 0;
    const char *kend;
    /* A key met before (see the key cache): its measurement and tags as then. */
    const char *sp = memchr(i, ' ', (size_t)(e - i));
    if (sp && memchr(i, '\\', (size_t)(sp - i))) sp = NULL; /* escapes: not cached, not hashed */
    uint64_t khash = sp ? key_hash(key0, (size_t)(sp - key0)) : 0;
    const lp_kc_slot *hit = sp ? kc_find(p, khash, key0, (size_t)(sp - key0)) : NULL;
    if (hit) {
        if (hit->ntags > p->tags_cap && st_grow(&p->tags, &p->tags_cap, hit->ntags, sizeof(lp_tag), 16))
            return ST_ENOMEM;
        const char *t = p->kc_bytes.ptr + hit->off + hit->key_len;
        for (nt = 0; nt < hit->ntags; nt++) {
            uint16_t q[4];
            memcpy(q, t + 8 * nt, sizeof q);
            p->tags[nt].key = (st_slice){ key0 + q[0], q[1] };
            p->tags[nt].val = (st_slice){ key0 + q[2], q[3] };
        }
        meas = (st_slice){ key0, hit->meas_len };
        i = sp;
        goto fields;
    }
    i = scan_name(i, e, C_MEAS, &esc);
    if (i >= e) { reason = "missing fields"; goto bad; }
    meas = esc ? unescape_name(p, key0, (size_t)(i - key0), 1) : (st_slice){ key0, (size_t)(i - key0) };

    /* tags */
    int sorted = 1;
    while (*i == ',') {
        i++;
        const char *k = i;
        if (i >= e || *i == ' ' || *i == ',' || *i == '=') { reason = "missing tag key"; goto bad; }
        esc = 0;
        i = scan_name(i, e, C_TAG, &esc);
        if (i >= e || *i != '=') { reason = "missing tag value"; goto bad; }
        const char *ke = i++;
        if (i >= e || *i == ',' || *i == ' ') { reason = "missing tag value"; goto bad; }
        const char *vs = i;
        int vesc = 0;
        i = scan_name(i, e, C_TAG, &vesc);
        if (i >= e) { reason = "missing fields"; goto bad; }
        if (*i == '=') { reason = "invalid tag format"; goto bad; }
        if (nt == p->tags_cap && st_grow(&p->tags, &p->tags_cap, nt + 1, sizeof(lp_tag), 16))
            return ST_ENOMEM;
        lp_tag *t = &p->tags[nt];
        t->key = esc ? unescape_name(p, k, (size_t)(ke - k), 0) : (st_slice){ k, (size_t)(ke - k) };
        t->val = vesc ? unescape_name(p, vs, (size_t)(i - vs), 0) : (st_slice){ vs, (size_t)(i - vs) };
        if (t->key.len == 4 && !memcmp(t->key.ptr, "time", 4)) {
            reason = "invalid tag key: input tag \"time\" on measurement \"%M\" is invalid";
            goto bad;
        }
        if (nt && sorted) {
            int c = st_slice_cmp(p->tags[nt - 1].key, t->key);
            if (c == 0) { reason = "duplicate tags"; goto bad; }
            if (c > 0) sorted = 0;
        }
        nt++;
    }
    if ((size_t)(i - key0) > LP_MAX_KEY_BYTES) {
        reason = "max key length exceeded: %N > 65535";
        rnum = (size_t)(i - key0);
        goto bad;
    }
    if (!sorted) {
        if (nt <= 16) {
            for (size_t a = 1; a < nt; a++) {
                lp_tag t = p->tags[a];
                size_t b = a;
                while (b > 0 && st_slice_cmp(p->tags[b - 1].key, t.key) > 0) { p->tags[b] = p->tags[b - 1]; b--; }
                p->tags[b] = t;
            }
        } else {
            qsort(p->tags, nt, sizeof(lp_tag), tag_cmp);
        }
        for (size_t a = 1; a < nt; a++)
            if (st_slice_eq(p->tags[a - 1].key, p->tags[a].key)) { reason = "duplicate tags"; goto bad; }
    }
    /* Without a backslash the key ends at its first space: khash is its hash. */
    if (khash && kc_put(p, khash, key0, (size_t)(i - key0), meas.len, p->tags, nt)) return ST_ENOMEM;

fields:
    kend = i;
    /* fields */
    while (i < e && *i == ' ') i++;
    if (i >= e) { reason = "missing fields"; goto bad; }
    size_t nf = 0;
    uint64_t seen = 0; /* 64-bit filter of key hashes: duplicates are rare */
    int maybe_dup = 0;
    for (;;) {
        const char *k = i;
        if (*i == '=') { reason = "missing field key"; goto bad; }
        esc = 0;
        i = scan_name(i, e, C_TAG, &esc);
        if (i >= e || *i != '=') { reason = "invalid field format"; goto bad; }
        const char *ke = i++;
        if (i >= e || *i == ',' || *i == ' ') { reason = "missing field value"; goto bad; }
        if (nf == p->fields_cap && st_grow(&p->fields, &p->fields_cap, nf + 1, sizeof(lp_field), 16))
            return ST_ENOMEM;
        lp_field *f = &p->fields[nf];
        f->key = esc ? unescape_name(p, k, (size_t)(ke - k), 0) : (st_slice){ k, (size_t)(ke - k) };
        int vr = parse_value(p, &i, e, &f->value);
        if (vr) {
            if (vr == V_TOOLONG) { rkey = f->key; rnum = f->value.v.s.len; }
            reason = value_reason(vr);
            goto bad;
        }
        size_t kl = f->key.len;
        unsigned h = kl ? ((unsigned)kl * 7u + (unsigned char)f->key.ptr[kl - 1] * 3u +
                           (unsigned char)f->key.ptr[kl / 2]) & 63u : 0;
        if (seen & (UINT64_C(1) << h)) maybe_dup = 1;
        seen |= UINT64_C(1) << h;
        nf++;
        if (i >= e || *i == ' ') break;
        i++; /* ',' */
        if (i >= e || *i == ' ') { reason = "invalid field format"; goto bad; }
    }

    /* timestamp */
    int64_t ts = p->opts.default_ts_ns;
    int has_ts = 0;
    while (i < e && *i == ' ') i++;
    if (i < e) {
        const char *t0 = i;
        int neg = *i == '-';
        i += neg;
        uint64_t u = 0, d8;
        int over = 0;
        const char *d0 = i;
        /* 16 digits cannot overflow: eight at a time up to there. */
        while (e - i >= 8 && i - d0 <= 8 && (d8 = digits8(i)) != UINT64_MAX) { u = u * 100000000 + d8; i += 8; }
        while (i < e && *i != ' ') {
            unsigned d = (unsigned)(*i - '0');
            if (d > 9) { reason = "bad timestamp"; goto bad; }
            if (u > (UINT64_MAX - d) / 10) over = 1;
            else u = u * 10 + d;
            i++;
        }
        if (i == d0) { reason = "bad timestamp"; goto bad; }
        while (i < e && *i == ' ') i++;
        if (i < e) { reason = "point is invalid"; goto bad; }
        (void)t0;
        int64_t mult = lp_precision_ns(p->opts.precision);
        /* |ts * mult| must fit; the range check below then trims the sentinels. */
        if (over || u > (uint64_t)INT64_MAX + (uint64_t)neg) goto range;
        if (neg) {
            if (u > ((uint64_t)INT64_MAX + 1) / (uint64_t)mult) goto range;
            uint64_t a = u * (uint64_t)mult;
            ts = a == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)a;
        } else {
            if (u > (uint64_t)INT64_MAX / (uint64_t)mult) goto range;
            ts = (int64_t)(u * (uint64_t)mult);
        }
        if (ts < ST_TIME_MIN_NS || ts > ST_TIME_MAX_NS) goto range;
        has_ts = 1;
    }

    /* duplicate field keys: the last one wins */
    if (maybe_dup) {
        size_t w = 0;
        for (size_t a = 0; a < nf; a++) {
            int later = 0;
            for (size_t b = a + 1; b < nf && !later; b++) later = st_slice_eq(p->fields[a].key, p->fields[b].key);
            if (!later) p->fields[w++] = p->fields[a];
        }
        nf = w;
    }
    /* field "time" is dropped; the quality field is taken out */
    uint32_t quality = ST_QUALITY_GOOD;
    int has_q = 0, had_time = 0;
    {
        size_t w = 0;
        st_slice qf = p->opts.quality_field;
        for (size_t a = 0; a < nf; a++) {
            lp_field *f = &p->fields[a];
            if (f->key.len == 4 && !memcmp(f->key.ptr, "time", 4)) { had_time = 1; continue; }
            if (qf.len && st_slice_eq(f->key, qf) && quality_of(&f->value, &quality)) { has_q = 1; continue; }
            if (w != a) p->fields[w] = *f;
            w++;
        }
        nf = w;
    }
    if (nf == 0) {
        reason = had_time ? "invalid field name: input field \"time\" on measurement \"%M\" is invalid"
                          : "missing fields";
        goto bad;
    }

    lp_line line = {
        .measurement = meas,
        .tags = p->tags,
        .tag_count = (uint32_t)nt,
        .fields = p->fields,
        .field_count = (uint32_t)nf,
        .ts_ns = ts,
        .quality = quality,
        .has_quality = (uint8_t)has_q,
        .has_ts = (uint8_t)has_ts,
        .lineno = lineno,
        .raw = { s, n },
        .key = { key0, (size_t)(kend - key0) },
        .key_hash = khash,
    };
    p->stats.fields += nf;
    rc = p->on_line ? p->on_line(p->ctx, &line) : 0;
    return rc;

range:
    reason = "time outside range -9223372036854775806 - 9223372036854775806";
bad:
    return line_error(p, lineno, s, n, reason, meas, rkey, rnum);
}

/* A complete line [s, lf): drop one CR, count it, parse it. */
static int handle_line(lp_parser *p, const char *s, const char *e, uint64_t inner_lfs)
{
    uint64_t lineno = p->next_lineno;
    p->next_lineno += 1 + inner_lfs;
    if (e > s && e[-1] == '\r') e--;
    int rc = parse_line(p, s, e, lineno);
    if (rc) p->stopped = rc;
    return rc;
}

/* Bytes kept of a partial line: all of it without a limit, else enough to
 * tell "too long" and to quote it in the message. */
static size_t carry_keep(const lp_parser *p)
{
    size_t m = p->opts.max_line_bytes;
    if (!m) return SIZE_MAX;
    m += 2; /* one over the limit, plus a CR that may yet be dropped */
    return m > LP_MSG_LINE_BYTES + 1 ? m : LP_MSG_LINE_BYTES + 1;
}

static int carry_append(lp_parser *p, const char *s, size_t n)
{
    if (!n) return 0;
    if (p->carry_first < 0) {
        for (size_t k = 0; k < n; k++)
            if (s[k] != ' ' && s[k] != '\t') {
                p->carry_first = (int64_t)(p->carry_total + k);
                p->carry_first_c = (unsigned char)s[k];
                break;
            }
    }
    p->carry_total += n;
    size_t keep = carry_keep(p);
    if (p->carry_len >= keep) return 0;
    if (n > keep - p->carry_len) n = keep - p->carry_len;
    if (st_grow(&p->carry, &p->carry_cap, p->carry_len + n, 1, 256)) return ST_ENOMEM;
    memcpy(p->carry + p->carry_len, s, n);
    p->carry_len += n;
    return 0;
}

/* The pending partial line is complete. */
static int carry_flush(lp_parser *p)
{
    uint64_t lfs = p->sc.inner_lfs;
    uint64_t total = p->carry_total;
    size_t len = p->carry_len;
    p->in_carry = 0;
    p->carry_len = 0;
    p->carry_total = 0;
    p->sc = (lp_scan){ 0 };
    int64_t first = p->carry_first;
    p->carry_first = -1;
    if (total == len) return handle_line(p, p->carry, p->carry + len, lfs);
    /* Over the limit and not all kept: report it from what we have, unless
     * it is blank (maybe but for a CR that is dropped) or a comment, which
     * parse_line would have ignored. */
    uint64_t lineno = p->next_lineno;
    p->next_lineno += 1 + lfs;
    if (first < 0 || p->carry_first_c == '#' ||
        (p->carry_first_c == '\r' && (uint64_t)first == total - 1))
        return 0;
    p->stats.lines++;
    int rc = line_error(p, lineno, p->carry, len, "line too long", (st_slice){ 0 }, (st_slice){ 0 }, 0);
    if (rc) p->stopped = rc;
    return rc;
}

static int feed(lp_parser *p, const char *buf, size_t len);

int lp_parser_feed(lp_parser *p, const char *buf, size_t len)
{
    if (p->stopped) return p->stopped;
    int rc = feed(p, buf, len);
    if (rc) p->stopped = rc;
    return rc;
}

static int feed(lp_parser *p, const char *buf, size_t len)
{
    p->stats.bytes += len;
    const char *s = buf, *end = buf + len;
    int rc;
    if (p->in_carry) {
        const char *q = lp_scan_run(&p->sc, s, end);
        if (!q) return carry_append(p, s, len);
        if ((rc = carry_append(p, s, (size_t)(q - s)))) return rc;
        if ((rc = carry_flush(p))) return rc;
        s = q + 1;
    }
    while (s < end) {
        lp_scan sc = { 0 };
        const char *lf = lp_scan_line(&sc, s, end);
        if (!lf) {
            /* The line goes on in the next chunk: keep it and the scanner. */
            p->in_carry = 1;
            p->sc = sc;
            return carry_append(p, s, (size_t)(end - s));
        }
        if ((rc = handle_line(p, s, lf, sc.inner_lfs))) return rc;
        s = lf + 1;
    }
    return 0;
}

int lp_parser_finish(lp_parser *p)
{
    if (p->stopped) return p->stopped;
    if (!p->in_carry) return 0;
    int rc = carry_flush(p);
    if (rc) p->stopped = rc;
    return rc;
}

int lp_parse_buffer(const lp_opts *opts, const char *buf, size_t len, lp_line_cb on_line,
                    lp_error_cb on_error, void *ctx, lp_stats *stats)
{
    lp_parser *p;
    int rc = lp_parser_create(opts, on_line, on_error, ctx, &p);
    if (rc) return rc;
    rc = lp_parser_feed(p, buf, len);
    if (!rc) rc = lp_parser_finish(p);
    if (stats) lp_parser_stats(p, stats);
    lp_parser_destroy(p);
    return rc;
}

/* ---- lp_batch ---- */

void lp_batch_init(lp_batch *b, st_arena *arena, size_t max_errors)
{
    memset(b, 0, sizeof(*b));
    b->arena = arena;
    b->max_errors = max_errors;
}

int lp_batch_on_line(void *batch, const lp_line *line)
{
    lp_batch *b = batch;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        lp_line *nl = st_arena_alloc(b->arena, cap * sizeof(lp_line));
        if (!nl) return ST_ENOMEM;
        if (b->count) memcpy(nl, b->lines, b->count * sizeof(lp_line));
        b->lines = nl;
        b->cap = cap;
    }
    size_t bytes = line->measurement.len;
    for (uint32_t k = 0; k < line->tag_count; k++) bytes += line->tags[k].key.len + line->tags[k].val.len;
    for (uint32_t k = 0; k < line->field_count; k++) {
        bytes += line->fields[k].key.len;
        if (line->fields[k].value.type == ST_TYPE_STRING) bytes += line->fields[k].value.v.s.len;
    }
    size_t arr = line->tag_count * sizeof(lp_tag) + line->field_count * sizeof(lp_field);
    char *mem = st_arena_alloc(b->arena, arr + bytes);
    if (!mem) return ST_ENOMEM;
    lp_tag *tags = (lp_tag *)mem;
    lp_field *fields = (lp_field *)(mem + line->tag_count * sizeof(lp_tag));
    char *o = mem + arr;
#define LP_COPY(dst, src) do { \
        (dst).ptr = o; \
        (dst).len = (src).len; \
        if ((src).len) { memcpy(o, (src).ptr, (src).len); } \
        o += (src).len; \
    } while (0)
    lp_line *l = &b->lines[b->count];
    *l = *line;
    LP_COPY(l->measurement, line->measurement);
    for (uint32_t k = 0; k < line->tag_count; k++) {
        LP_COPY(tags[k].key, line->tags[k].key);
        LP_COPY(tags[k].val, line->tags[k].val);
    }
    for (uint32_t k = 0; k < line->field_count; k++) {
        fields[k] = line->fields[k];
        LP_COPY(fields[k].key, line->fields[k].key);
        if (line->fields[k].value.type == ST_TYPE_STRING) LP_COPY(fields[k].value.v.s, line->fields[k].value.v.s);
    }
#undef LP_COPY
    l->tags = tags;
    l->fields = fields;
    l->raw = (st_slice){ NULL, 0 };
    l->key = (st_slice){ NULL, 0 };
    b->count++;
    b->value_count += line->field_count;
    return 0;
}

int lp_batch_on_error(void *batch, uint64_t lineno, st_slice msg)
{
    lp_batch *b = batch;
    if (b->error_count < b->max_errors) {
        if (!b->errors) {
            b->errors = st_arena_alloc(b->arena, b->max_errors * sizeof(lp_batch_error));
            if (!b->errors) return ST_ENOMEM;
        }
        char *m = st_arena_strndup(b->arena, msg.ptr, msg.len);
        if (!m) return ST_ENOMEM;
        b->errors[b->error_count] = (lp_batch_error){ lineno, { m, msg.len } };
    }
    b->error_count++;
    return 0;
}
