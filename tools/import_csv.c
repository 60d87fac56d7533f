/*
 * tools/import_csv.c — CSV rows to line protocol, or straight to points,
 * for `strata import` (interface in tools/tools.h). One imp_csv per input
 * file and thread: the import's reader keeps one to read the header, cut
 * records (imp_csv_cut) and settle the time format (imp_csv_detect); each
 * worker makes its own from the header record and that format and converts
 * the records of the batches it takes.
 *
 * Two outputs, one set of rules:
 *  - imp_csv_record: the row's line protocol line (HTTP; the server parses it);
 *  - imp_csv_point: the lp_line the parser would make of that line, built
 *    from the cells (--offline: no text printed, none parsed; numbers
 *    parsed once). It goes this way only where the result is the same by
 *    construction: when the header has names the parser would treat apart
 *    (a measurement starting with '#' or TAB, a field "time", a field named
 *    like the quality field, repeated keys, a tag key "time", names that are
 *    not UTF-8 among the constant ones) the whole file, and a row that
 *    fails or is unusual (any row error, a tag cell put_name refuses, a key
 *    or string past the parser's limits) that row, answers IMP_CSV_TEXT:
 *    the caller takes imp_csv_text's line through the parser, so messages
 *    and results are the text way's. tests/fuzz/fuzz_csv.c checks the two
 *    ways agree on every row.
 * Cells are split in place (quoted ones unescaped into a scratch buffer):
 * the record must outlive the next call.
 *
 * Input: RFC 4180 records (quoted cells may hold the delimiter, "" and
 * LFs), a header row first (a UTF-8 BOM is dropped), delimiter given or
 * detected from the header: the most frequent of ',' ';' TAB outside quotes.
 *
 * Time: the column given by --time-column, else the first named time,
 * timestamp, date, datetime or _time (any case). --time-format:
 *   rfc3339                 with a zone (Z, +01:00) as given; without one
 *                           ("2024-03-31 02:30:00") in --timezone
 *   epoch-s|epoch-ms|epoch-us|epoch-ns (also s, ms, us, ns): integers, and
 *                           decimal fractions for s/ms/us, exact to the ns
 *   a pattern of %Y %m %d %H %M %S %f and literal bytes ("%d.%m.%Y %H:%M:%S");
 *                           a fraction ".fff" / ",fff" after %S is accepted
 * Detected from the first data row when not given: RFC3339 with zone,
 * "YYYY-MM-DD[ T]HH:MM:SS[.fff]", "DD.MM.YYYY HH:MM:SS", "YYYY-MM-DD",
 * or an integer epoch whose magnitude picks s/ms/us/ns.
 * Zone-less times are local times of --timezone (UTC when not given),
 * resolved with st_tz_local_to_utc: a time in the spring-forward gap is a
 * row error; in the autumn hour that repeats, rows take the first (summer)
 * instant until the local time goes backwards inside the repeated hour,
 * then the second (winter) one: file order resolves it. Going backwards
 * again inside the same repeated hour is a row error. That state runs
 * through the file: a converter given a chunk from its middle starts with
 * it unknown (imp_csv_carry known = 0); the first row outside a repeated
 * hour makes it known; a row in a repeated hour before that returns
 * IMP_CSV_NEED_CARRY, and the caller sets the state the chunks before it
 * left and gives the row again.
 *
 * Wide form (default): every other column is a field of --measurement
 * (plus --tag k=v). Empty cells are skipped; "true"/"false" are booleans;
 * numbers floats (integers for --int-columns); with the ';' delimiter a
 * decimal comma ("21,5") is accepted; other text becomes a string field.
 * A plain decimal ([-]digits[.digits]) goes into the line as written (the
 * server's parser rounds it to the same double); other numbers are printed
 * shortest.
 * Long form (--name-column): each row is one value of --measurement with
 * tag `tag=<name>` and field `value` (--value-column, default "value");
 * --quality-column: an integer (decimal or 0x hex) or Good / Bad /
 * Uncertain (0, 0x80000000, 0x40900000) sent as `<quality_field>=<n>i`.
 * Strata CSV (time,measurement,tags,field,type,value,quality; what
 * `strata export --format csv` writes): one line per row with the type
 * kept; NaN/±Inf cannot travel as line protocol: such rows are row errors.
 *
 * Names cannot hold LF in line protocol, and cannot end in a backslash:
 * such rows are row errors.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/alloc.h"
#include "common/err.h"
#include "common/num.h"
#include "common/point.h"
#include "common/timefmt.h"
#include "common/tz.h"
#include "common/utf8.h"
#include "ingest/lp.h"
#include "tools/tools.h"

enum { TF_NONE, TF_RFC3339, TF_EPOCH, TF_PATTERN };
#define CSV_MAX_COLS 4096
#define ROW_EMPTY 100 /* row_start: a blank record, nothing to write */

/* One tag of a wide or long line: a constant (--tag) or a column's cell. */
typedef struct imp_csv_tag {
    st_slice key;            /* unescaped; borrowed from the options or the header */
    st_slice val;            /* the constant's value (col < 0) */
    int col;                 /* the column whose cell is the value; -1 = constant */
} imp_csv_tag;

struct imp_csv {
    imp_csv_opts o;
    st_tz *tz;               /* owned; NULL = UTC */
    char delim;
    int in_quotes;           /* cutter state */
    int have_header;
    size_t ncols;
    st_buf header;           /* owned: header cells, NUL-separated */
    size_t *hoff;            /* owned: header cell offsets */
    st_buf hkey;             /* owned: each header cell escaped as a tag or field key */
    size_t *hkoff;           /* owned: its offsets, ncols + 1; SIZE_MAX = cannot be a key */
    int time_col, name_col, value_col, quality_col;
    uint8_t *is_int;         /* owned, per column */
    uint8_t *is_tag;         /* owned, per column: --tag-columns */
    int tf;                  /* TF_* */
    int64_t epoch_unit_ns;
    char pattern[128];
    /* cells of the current record: into the record, or (quoted cells,
     * unescaped) into cells; not NUL-terminated */
    st_buf cells;
    const char **cptr;
    size_t *clen;
    size_t ccap;
    size_t n;
    st_buf line;             /* scratch: the line being built */
    imp_csv_carry amb;       /* the autumn rule's state (see imp_csv_carry) */
    const char *split_rec;   /* the record the cells above are of (borrowed), NULL after a failed split */
    /* imp_csv_point's way (set with the header): direct = 1 when every line
     * the file can make reads back from line protocol as imp_csv_point
     * builds it (names the parser would treat otherwise turn it off) */
    int direct;
    imp_csv_tag *tsrc;       /* owned: the line's tags, sorted by key: constants and columns */
    size_t ntsrc;
    st_buf key;              /* scratch: the row's series key as written */
    lp_tag *tags;            /* owned scratch, ntsrc */
    lp_field *fields;        /* owned scratch, ncols + 1 */
    st_slice *hname;         /* owned: each column's name (in header) */
    st_slice meas;           /* the measurement (borrowed from the options) */
    /* the lines' constant parts, escaped once: measurement, ",k=v" of each --tag */
    st_buf pre_meas, pre_tags;
    int pre_bad;             /* ST_EPARSE: one of them cannot be a name (every row fails) */
};

/* ---- cells ---- */

/* Room for one more cell (at most CSV_MAX_COLS). */
static int cell_room(imp_csv *c)
{
    if (c->n < c->ccap) return 0;
    if (c->n >= CSV_MAX_COLS) return ST_ETOOLARGE;
    /* cptr and clen share ccap; it moves once both have grown */
    size_t cap = c->ccap;
    if (st_grow(&c->cptr, &cap, c->n + 1, sizeof *c->cptr, 32) ||
        st_grow(&c->clen, &(size_t){ c->ccap }, cap, sizeof *c->clen, 32))
        return ST_ENOMEM;
    c->ccap = cap;
    return 0;
}

/* A record without '"': a cell between delimiters, all in place; the
 * delimiters found 16 bytes at a time where SSE2 is there. */
static int split_plain(imp_csv *c, const char *p, size_t len)
{
    size_t start = 0, i = 0;
    int rc;
#ifdef __SSE2__
    const __m128i d = _mm_set1_epi8(c->delim);
    for (; i + 16 <= len; i += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), d));
        for (; m; m &= m - 1) {
            size_t at = i + (size_t)__builtin_ctz(m);
            if ((rc = cell_room(c))) return rc;
            c->cptr[c->n] = p + start;
            c->clen[c->n++] = at - start;
            start = at + 1;
        }
    }
#endif
    for (; i < len; i++) {
        if (p[i] != c->delim) continue;
        if ((rc = cell_room(c))) return rc;
        c->cptr[c->n] = p + start;
        c->clen[c->n++] = i - start;
        start = i + 1;
    }
    if ((rc = cell_room(c))) return rc;
    c->cptr[c->n] = p + start;
    c->clen[c->n++] = len - start;
    return 0;
}

/* The record's cells, in place where unquoted (rec must outlive them). */
static int split(imp_csv *c, const char *p, size_t len)
{
    c->n = 0;
    if (!memchr(p, '"', len)) return split_plain(c, p, len);
    /* Unquoted cells stay in the record; quoted ones are unescaped into
     * cells, never longer than the record: one reservation, plain stores,
     * and the pointers into it stay valid. */
    st_buf_clear(&c->cells);
    if (st_buf_reserve(&c->cells, len)) return ST_ENOMEM;
    char *o = c->cells.ptr;
    size_t i = 0;
    for (;;) {
        int rc = cell_room(c);
        if (rc) return rc;
        if (i < len && p[i] == '"') {
            const char *start = o;
            i++;
            for (;;) {
                if (i >= len) break; /* unterminated: take what there is */
                if (p[i] == '"') {
                    if (i + 1 < len && p[i + 1] == '"') { *o++ = '"'; i += 2; continue; }
                    i++;
                    break;
                }
                *o++ = p[i++];
            }
            while (i < len && p[i] != c->delim) *o++ = p[i++];
            c->cptr[c->n] = start;
            c->clen[c->n] = (size_t)(o - start);
        } else {
            size_t j = i;
            while (j < len && p[j] != c->delim) j++;
            c->cptr[c->n] = p + i;
            c->clen[c->n] = j - i;
            i = j;
        }
        c->n++;
        if (i >= len) break;
        i++; /* the delimiter */
    }
    return 0;
}

static const char *cell(const imp_csv *c, size_t k) { return c->cptr[k]; }
/* Cell k for "%.*s" in a message, at most max bytes (and up to a NUL in it). */
#define CELLQ(c, k, max) (int)((c)->clen[k] > (max) ? (max) : (c)->clen[k]), cell(c, k)

/* Cell k read as a C string (up to a NUL in it) is s. */
static int cell_is(const imp_csv *c, size_t k, const char *s)
{
    size_t n = strnlen(cell(c, k), c->clen[k]);
    return n == strlen(s) && memcmp(cell(c, k), s, n) == 0;
}

/* ---- line protocol text ---- */

static int put_name(st_buf *b, const char *s, size_t n, int is_meas)
{
    if (n == 0 || s[n - 1] == '\\' || memchr(s, '\n', n)) return ST_EPARSE;
    if (st_buf_reserve(b, 2 * n)) return ST_ENOMEM;
    char *o = b->ptr + b->len;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == ',' || ch == ' ' || (ch == '=' && !is_meas)) *o++ = '\\';
        *o++ = ch;
    }
    *o = 0;
    b->len = (size_t)(o - b->ptr);
    return 0;
}

static int put_string(st_buf *b, const char *s, size_t n)
{
    if (st_buf_append_byte(b, '"')) return ST_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if ((s[i] == '"' || s[i] == '\\') && st_buf_append_byte(b, '\\')) return ST_ENOMEM;
        if (st_buf_append_byte(b, s[i])) return ST_ENOMEM;
    }
    return st_buf_append_byte(b, '"') ? ST_ENOMEM : 0;
}

static int put_double(st_buf *b, double d)
{
    char t[ST_DOUBLE_BUF];
    size_t n = st_format_double(d, t);
    return st_buf_append(b, t, n) ? ST_ENOMEM : 0;
}

/* A number cell, decimal comma allowed with ';'. 0 and *d, or ST_EPARSE. */
static int parse_num(const imp_csv *c, const char *s, size_t n, double *d)
{
    if (st_parse_double(s, n, ST_NUM_ALLOW_PLUS, d) == 0) return 0;
    if (c->delim != ';' || n >= 64) return ST_EPARSE;
    const char *comma = memchr(s, ',', n);
    if (!comma || memchr(comma + 1, ',', n - (size_t)(comma - s) - 1) || memchr(s, '.', n)) return ST_EPARSE;
    char t[64];
    memcpy(t, s, n);
    t[comma - s] = '.';
    return st_parse_double(t, n, ST_NUM_ALLOW_PLUS, d) ? ST_EPARSE : 0;
}

static int is_true(const char *s, size_t n) { return n == 4 && strncasecmp(s, "true", 4) == 0; }
static int is_false(const char *s, size_t n) { return n == 5 && strncasecmp(s, "false", 5) == 0; }

/* A wide or long cell's value: an integer (as_int), a boolean, a number,
 * else a string (borrowing the cell). 0, or ST_EPARSE with err. */
static int cell_value(const imp_csv *c, const char *s, size_t n, int as_int, st_value *v, char *err, size_t errlen,
                      const char *col)
{
    if (as_int) {
        if (st_parse_int64(s, n, &v->v.i)) {
            snprintf(err, errlen, "column %s: '%.*s' is not an integer", col, (int)(n > 60 ? 60 : n), s);
            return ST_EPARSE;
        }
        v->type = ST_TYPE_INT;
    } else if (is_true(s, n) || is_false(s, n)) {
        v->type = ST_TYPE_BOOL;
        v->v.b = is_true(s, n);
    } else if (parse_num(c, s, n, &v->v.f) == 0) {
        v->type = ST_TYPE_FLOAT;
    } else {
        v->type = ST_TYPE_STRING;
        v->v.s = (st_slice){ s, n };
    }
    return 0;
}

/* One field value (the "value" of "key=value") from a wide or long cell. */
static int put_field(const imp_csv *c, st_buf *b, const char *s, size_t n, int as_int, char *err, size_t errlen,
                     const char *col)
{
    st_value v;
    int rc = cell_value(c, s, n, as_int, &v, err, errlen, col);
    if (rc) return rc;
    switch (v.type) {
    case ST_TYPE_INT: return st_buf_printf(b, "%" PRId64 "i", v.v.i) ? ST_ENOMEM : 0;
    case ST_TYPE_BOOL: return st_buf_append_str(b, v.v.b ? "true" : "false") ? ST_ENOMEM : 0;
    case ST_TYPE_STRING: return put_string(b, s, n);
    default: break;
    }
    /* [-]digits[.digits] is line protocol as it is, and parses there to
     * the same double (both parsers round correctly): no need to print it. */
    size_t i = s[0] == '-', nd = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) nd++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) nd++;
    if (i == n && nd > 0) return st_buf_append(b, s, n) ? ST_ENOMEM : 0;
    return put_double(b, v.v.f);
}

/* ---- time ---- */

static int digits(const char *s, size_t n, size_t k, int64_t *v)
{
    if (n < k) return -1;
    int64_t x = 0;
    for (size_t i = 0; i < k; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* Fraction digits at s (after '.' or ','): ns and the bytes used. */
static size_t fraction(const char *s, size_t n, int64_t *ns)
{
    size_t i = 0;
    int64_t v = 0, scale = 100000000;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (scale) { v += (s[i] - '0') * scale; scale /= 10; }
        i++;
    }
    *ns = v;
    return i;
}

/* Pattern parse into a local wall time in ns. */
static int parse_pattern(const char *pat, const char *s, size_t n, int64_t *local_ns)
{
    int64_t Y = 1970, M = 1, D = 1, h = 0, mi = 0, sec = 0, frac = 0;
    size_t i = 0;
    for (const char *p = pat; *p; p++) {
        if (*p == '%' && p[1]) {
            p++;
            int64_t v;
            switch (*p) {
            case 'Y': if (digits(s + i, n - i, 4, &v)) return ST_EPARSE; Y = v; i += 4; break;
            case 'm': if (digits(s + i, n - i, 2, &v)) return ST_EPARSE; M = v; i += 2; break;
            case 'd': if (digits(s + i, n - i, 2, &v)) return ST_EPARSE; D = v; i += 2; break;
            case 'H': if (digits(s + i, n - i, 2, &v)) return ST_EPARSE; h = v; i += 2; break;
            case 'M': if (digits(s + i, n - i, 2, &v)) return ST_EPARSE; mi = v; i += 2; break;
            case 'S':
                if (digits(s + i, n - i, 2, &v)) return ST_EPARSE;
                sec = v;
                i += 2;
                if (p[1] != '.' && p[1] != ',' && i + 1 < n && (s[i] == '.' || s[i] == ',') && s[i + 1] >= '0' && s[i + 1] <= '9')
                    i += 1 + fraction(s + i + 1, n - i - 1, &frac);
                break;
            case 'f': { size_t k = fraction(s + i, n - i, &frac); if (!k) return ST_EPARSE; i += k; break; }
            case '%': if (i >= n || s[i] != '%') return ST_EPARSE; i++; break;
            default: return ST_EINVAL;
            }
        } else {
            if (i >= n || s[i] != *p) return ST_EPARSE;
            i++;
        }
    }
    if (i != n) return ST_EPARSE;
    if (M < 1 || M > 12 || D < 1 || D > (int64_t)st_days_in_month(Y, (unsigned)M) || h > 23 || mi > 59 || sec > 59)
        return ST_EPARSE;
    int64_t secs = st_days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60 + sec;
    if (secs < ST_TIME_MIN_NS / 1000000000 || secs >= ST_TIME_MAX_NS / 1000000000) return ST_ERANGE;
    *local_ns = secs * 1000000000 + frac;
    return 0;
}

/* "digits[.digits]" in unit -> ns, exactly. */
static int parse_epoch(const char *s, size_t n, int64_t unit, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') { neg = 1; i++; }
    size_t d0 = i;
    uint64_t u = 0; /* 19 digits fit: wide arithmetic only past them */
    while (i < n && i - d0 < 19 && s[i] >= '0' && s[i] <= '9') u = u * 10 + (uint64_t)(s[i++] - '0');
    __int128 v = u;
    while (i < n && s[i] >= '0' && s[i] <= '9') { v = v * 10 + (s[i] - '0'); if (v > ((__int128)1 << 90)) return ST_ERANGE; i++; }
    if (i == d0) return ST_EPARSE;
    v *= unit;
    if (i < n && s[i] == '.') {
        i++;
        int64_t scale = unit / 10;
        while (i < n && s[i] >= '0' && s[i] <= '9') { v += (s[i] - '0') * (__int128)scale; scale /= 10; i++; }
    }
    if (i != n) return ST_EPARSE;
    if (neg) v = -v;
    if (v < ST_TIME_MIN_NS || v > ST_TIME_MAX_NS) return ST_ERANGE;
    *out = (int64_t)v;
    return 0;
}

static int has_zone(const char *s, size_t n)
{
    if (n && (s[n - 1] == 'Z' || s[n - 1] == 'z')) return 1;
    return n > 6 && (s[n - 6] == '+' || s[n - 6] == '-') && s[n - 3] == ':';
}

/* The autumn rule's state after a row that is not in a repeated hour. */
static void amb_reset(imp_csv *c)
{
    c->amb.known = 1;
    c->amb.active = 0;
}

/* Local wall time -> UTC, applying the autumn rule; [s, n) is the cell, for
 * the messages. IMP_CSV_NEED_CARRY (nothing changed) when the row is in a
 * repeated hour and the state before it is not known. */
static int local_to_utc(imp_csv *c, int64_t local_ns, int64_t *out, char *err, size_t errlen, const char *s, size_t n)
{
    if (!c->tz) { *out = local_ns; return 0; }
    int64_t ls = local_ns / 1000000000, sub = local_ns % 1000000000; /* floor: sub in [0, 1e9) */
    if (sub < 0) { ls--; sub += 1000000000; }
    int64_t u[2];
    int k = st_tz_local_to_utc(c->tz, ls, u);
    int q = (int)(n > 60 ? 60 : n);
    if (k == 0) {
        snprintf(err, errlen, "local time '%.*s' does not exist in %s (clocks skip it)", q, s, st_tz_name(c->tz));
        amb_reset(c);
        return ST_EPARSE;
    }
    if (k == 1) {
        amb_reset(c);
        if (u[0] < ST_TIME_MIN_NS / 1000000000 || u[0] >= ST_TIME_MAX_NS / 1000000000) goto range;
        *out = u[0] * 1000000000 + sub;
        return 0;
    }
    if (!c->amb.known) return IMP_CSV_NEED_CARRY;
    int second = 0;
    if (c->amb.active) {
        if (local_ns < c->amb.prev_local_ns) {
            if (c->amb.second) {
                snprintf(err, errlen, "local time '%.*s' repeats in %s and goes backwards twice: cannot tell which instant",
                         q, s, st_tz_name(c->tz));
                return ST_EPARSE;
            }
            second = 1;
        } else {
            second = c->amb.second;
        }
    }
    c->amb.active = 1;
    c->amb.second = second;
    c->amb.prev_local_ns = local_ns;
    if (u[second] < ST_TIME_MIN_NS / 1000000000 || u[second] >= ST_TIME_MAX_NS / 1000000000) goto range;
    *out = u[second] * 1000000000 + sub;
    return 0;
range:
    snprintf(err, errlen, "time '%.*s' is out of range", q, s);
    return ST_EPARSE;
}

static void detect_time_format(imp_csv *c, const char *s, size_t n)
{
    int64_t t;
    if (has_zone(s, n) && st_time_parse_rfc3339(s, n, &t) == 0) { c->tf = TF_RFC3339; return; }
    static const char *const pats[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M:%S",
                                        "%Y/%m/%d %H:%M:%S", "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d" };
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        int rc = parse_pattern(pats[i], s, n, &t);
        if (rc == 0 || rc == ST_ERANGE) { /* the form matches (a row tells the range) */
            c->tf = TF_PATTERN;
            snprintf(c->pattern, sizeof c->pattern, "%s", pats[i]);
            return;
        }
    }
    int64_t v;
    if (st_parse_int64(s, n, &v) == 0) {
        uint64_t a = v < 0 ? (uint64_t)-(v + 1) + 1 : (uint64_t)v;
        c->tf = TF_EPOCH;
        c->epoch_unit_ns = a < 100000000000ULL ? 1000000000 : a < 100000000000000ULL ? 1000000 :
                           a < 100000000000000000ULL ? 1000 : 1;
        return;
    }
    c->tf = TF_RFC3339; /* rows will say why they do not parse */
}

static int parse_time(imp_csv *c, const char *s, size_t n, int64_t *out, char *err, size_t errlen)
{
    if (n == 0) { snprintf(err, errlen, "empty time"); return ST_EPARSE; }
    if (c->tf == TF_NONE) detect_time_format(c, s, n);
    int q = (int)(n > 60 ? 60 : n); /* the cell, quoted in messages */
    int64_t local;
    int rc;
    switch (c->tf) {
    case TF_EPOCH:
        rc = parse_epoch(s, n, c->epoch_unit_ns, out);
        if (rc) snprintf(err, errlen, "time '%.*s' is not an epoch number", q, s);
        return rc ? ST_EPARSE : 0;
    case TF_PATTERN:
        if ((rc = parse_pattern(c->pattern, s, n, &local))) {
            if (rc == ST_ERANGE) snprintf(err, errlen, "time '%.*s' is out of range", q, s);
            else snprintf(err, errlen, "time '%.*s' does not match %s", q, s, c->pattern);
            return ST_EPARSE;
        }
        return local_to_utc(c, local, out, err, errlen, s, n);
    default:
        if (has_zone(s, n)) {
            if (st_time_parse_rfc3339(s, n, out)) { snprintf(err, errlen, "time '%.*s' is not RFC3339", q, s); return ST_EPARSE; }
            amb_reset(c);
            return 0;
        }
        if (st_time_parse_rfc3339(s, n, &local)) { snprintf(err, errlen, "time '%.*s' is not RFC3339", q, s); return ST_EPARSE; }
        return local_to_utc(c, local, out, err, errlen, s, n);
    }
}

/* ---- header ---- */

static const char *const time_names[] = { "time", "timestamp", "date", "datetime", "_time" };
static const char strata_header[] = "time,measurement,tags,field,type,value,quality";

static int is_time_name(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof time_names / sizeof time_names[0]; i++)
        if (strlen(time_names[i]) == n && strncasecmp(s, time_names[i], n) == 0) return 1;
    return 0;
}

static char detect_delim(const char *p, size_t n)
{
    size_t cnt[3] = { 0, 0, 0 };
    int q = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"') q = !q;
        else if (!q) cnt[0] += p[i] == ',', cnt[1] += p[i] == ';', cnt[2] += p[i] == '\t';
    }
    if (cnt[1] > cnt[0] && cnt[1] >= cnt[2]) return ';';
    if (cnt[2] > cnt[0] && cnt[2] > cnt[1]) return '\t';
    return ',';
}

static void strip(const char **p, size_t *n)
{
    if (*n >= 3 && memcmp(*p, "\xEF\xBB\xBF", 3) == 0) { *p += 3; *n -= 3; }
    if (*n && (*p)[*n - 1] == '\r') (*n)--;
}

int imp_csv_is_strata_header(const char *rec, size_t len)
{
    strip(&rec, &len);
    return len == sizeof strata_header - 1 && memcmp(rec, strata_header, len) == 0;
}

int imp_csv_looks_like(const char *rec, size_t len, const char *time_column)
{
    strip(&rec, &len);
    char d = detect_delim(rec, len);
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && rec[j] != d) j++;
        const char *s = rec + i;
        size_t n = j - i;
        if (n >= 2 && s[0] == '"' && s[n - 1] == '"') s++, n -= 2;
        while (n && *s == ' ') s++, n--;
        while (n && s[n - 1] == ' ') n--;
        if (is_time_name(s, n)) return 1;
        if (time_column && strlen(time_column) == n && memcmp(time_column, s, n) == 0) return 1;
        i = j + 1;
    }
    return 0;
}

static int find_col(const imp_csv *c, const char *name)
{
    for (size_t k = 0; k < c->ncols; k++)
        if (strcmp(c->header.ptr + c->hoff[k], name) == 0) return (int)k;
    return -1;
}

static int slice_cmp(const void *a, const void *b) { return st_slice_cmp(*(const st_slice *)a, *(const st_slice *)b); }
static int tag_src_cmp(const void *a, const void *b) { return st_slice_cmp(((const imp_csv_tag *)a)->key, ((const imp_csv_tag *)b)->key); }

/* Whether row_point may build this file's points (c->direct): every name
 * its lines hold must come back from the parser as put_name wrote it, and
 * nothing the parser handles apart may turn up in them: a comment or a
 * leading TAB (measurement), tag key "time", a repeated tag or field key,
 * field "time", a field named like the quality field. Otherwise every row
 * takes the text way (same result, slower). Sets up row_point's tables. */
static int plan_direct(imp_csv *c)
{
    const char *m = c->o.measurement, *qf = c->o.quality_field;
    st_buf *t = &c->line; /* put_name's scratch here: only whether it takes the name counts */
    st_buf_clear(t);
    if (c->pre_bad || m[0] == '#' || m[0] == '\t' || !*qf || put_name(t, qf, strlen(qf), 0)) return 0;
    /* row_point's keys hold the cells' tag values only: the other names
     * must be UTF-8 (lpstor takes a UTF-8 key for all of them) */
    if (!st_utf8_valid(m, strlen(m))) return 0;
    for (size_t i = 0; i < c->o.ntags; i++)
        if (!st_utf8_valid(c->o.tags[i], strlen(c->o.tags[i]))) return 0;
    c->meas = st_slice_cstr(m);
    size_t nt = c->o.ntags + c->ncols + 1;
    c->tsrc = st_calloc(nt, sizeof *c->tsrc);
    c->tags = st_calloc(nt, sizeof *c->tags);
    c->fields = st_calloc(c->ncols + 1, sizeof *c->fields);
    c->hname = st_calloc(c->ncols + 1, sizeof *c->hname);
    st_slice *fk = st_calloc(c->ncols + 3, sizeof *fk);
    int rc = !c->tsrc || !c->tags || !c->fields || !c->hname || !fk ? ST_ENOMEM : 0;
    if (rc) goto out;
    size_t n = 0, nf = 0;
    for (size_t i = 0; i < c->o.ntags; i++) {
        const char *kv = c->o.tags[i], *eq = strchr(kv, '=');
        c->tsrc[n++] = (imp_csv_tag){ { kv, (size_t)(eq - kv) }, st_slice_cstr(eq + 1), -1 };
    }
    if (c->name_col >= 0) {
        c->tsrc[n++] = (imp_csv_tag){ ST_SLICE_LIT("tag"), { 0 }, c->name_col };
        fk[nf++] = ST_SLICE_LIT("value");
    }
    for (size_t k = 0; k < c->ncols; k++) {
        c->hname[k] = st_slice_cstr(c->header.ptr + c->hoff[k]);
        if (c->is_tag[k]) {
            if (c->hkoff[k] == SIZE_MAX || !st_utf8_valid(c->hname[k].ptr, c->hname[k].len)) goto out;
            c->tsrc[n++] = (imp_csv_tag){ c->hname[k], { 0 }, (int)k };
        } else if (c->hkoff[k] != SIZE_MAX && c->name_col < 0 && (int)k != c->time_col && (int)k != c->quality_col) {
            fk[nf++] = c->hname[k]; /* (a field column that cannot be a key: its rows go the text way) */
        }
    }
    fk[nf++] = ST_SLICE_LIT("time");
    fk[nf++] = st_slice_cstr(qf);
    qsort(fk, nf, sizeof *fk, slice_cmp);
    for (size_t i = 1; i < nf; i++)
        if (st_slice_eq(fk[i - 1], fk[i])) goto out;
    qsort(c->tsrc, n, sizeof *c->tsrc, tag_src_cmp);
    for (size_t i = 0; i < n; i++)
        if (st_slice_eq_cstr(c->tsrc[i].key, "time") || (i && st_slice_eq(c->tsrc[i - 1].key, c->tsrc[i].key))) goto out;
    c->ntsrc = n;
    c->direct = 1;
out:
    st_free(fk);
    return rc;
}

static int take_header(imp_csv *c, const char *rec, size_t len, char *err, size_t errlen)
{
    if (!c->delim) c->delim = detect_delim(rec, len);
    int rc = split(c, rec, len);
    if (rc) { snprintf(err, errlen, "header: %s", st_strerror(rc)); return rc == ST_ENOMEM ? rc : ST_EINVAL; }
    c->ncols = c->n;
    c->hoff = st_calloc(c->n, sizeof *c->hoff);
    c->is_int = st_calloc(c->n, 1);
    c->is_tag = st_calloc(c->n, 1);
    if (!c->hoff || !c->is_int || !c->is_tag) return ST_ENOMEM;
    for (size_t k = 0; k < c->n; k++) {
        c->hoff[k] = c->header.len;
        const char *s = cell(c, k);
        size_t n = c->clen[k];
        while (n && *s == ' ') s++, n--;
        while (n && s[n - 1] == ' ') n--;
        if (st_buf_append(&c->header, s, n) || st_buf_append_byte(&c->header, 0)) return ST_ENOMEM;
    }
    /* Each column's name escaped as a key once, not on every row. */
    c->hkoff = st_calloc(c->n + 1, sizeof *c->hkoff);
    if (!c->hkoff) return ST_ENOMEM;
    for (size_t k = 0; k < c->n; k++) {
        const char *h = c->header.ptr + c->hoff[k];
        size_t at = c->hkey.len;
        rc = put_name(&c->hkey, h, strlen(h), 0);
        if (rc == ST_ENOMEM) return rc;
        if (rc) c->hkey.len = at;
        c->hkoff[k] = rc ? SIZE_MAX : at;
    }
    c->hkoff[c->n] = c->hkey.len;
    c->have_header = 1;
    if (c->o.strata) {
        if (c->delim != ',' || c->n != 7 || find_col(c, "time") != 0 || find_col(c, "quality") != 6) {
            snprintf(err, errlen, "not Strata CSV: the header must be %s", strata_header);
            return ST_EINVAL;
        }
        return 0;
    }
    c->time_col = -1;
    if (c->o.time_column) {
        c->time_col = find_col(c, c->o.time_column);
        if (c->time_col < 0) { snprintf(err, errlen, "no column named '%s' in the header", c->o.time_column); return ST_EINVAL; }
    } else {
        for (size_t k = 0; k < c->ncols && c->time_col < 0; k++) {
            const char *h = c->header.ptr + c->hoff[k];
            if (is_time_name(h, strlen(h))) c->time_col = (int)k;
        }
        if (c->time_col < 0) {
            snprintf(err, errlen, "no time column (time, timestamp, date, datetime or _time; or give --time-column)");
            return ST_EINVAL;
        }
    }
    c->name_col = c->value_col = c->quality_col = -1;
    if (c->o.name_column) {
        c->name_col = find_col(c, c->o.name_column);
        const char *vc = c->o.value_column ? c->o.value_column : "value";
        c->value_col = find_col(c, vc);
        if (c->name_col < 0 || c->value_col < 0) {
            snprintf(err, errlen, "no column named '%s'", c->name_col < 0 ? c->o.name_column : vc);
            return ST_EINVAL;
        }
    }
    if (c->o.quality_column) {
        c->quality_col = find_col(c, c->o.quality_column);
        if (c->quality_col < 0) { snprintf(err, errlen, "no column named '%s'", c->o.quality_column); return ST_EINVAL; }
    }
    if (c->o.tag_columns) {
        const char *p = c->o.tag_columns;
        while (*p) {
            size_t n = strcspn(p, ",");
            int found = 0;
            for (size_t k = 0; k < c->ncols; k++) {
                const char *h = c->header.ptr + c->hoff[k];
                if (strlen(h) == n && memcmp(h, p, n) == 0 && (int)k != c->time_col) c->is_tag[k] = 1, found = 1;
            }
            if (!found) { snprintf(err, errlen, "--tag-columns: no column named '%.*s'", (int)n, p); return ST_EINVAL; }
            p += n;
            if (*p == ',') p++;
        }
    }
    if (c->o.int_columns) {
        const char *p = c->o.int_columns;
        while (*p) {
            size_t n = strcspn(p, ",");
            int found = 0;
            for (size_t k = 0; k < c->ncols; k++) {
                const char *h = c->header.ptr + c->hoff[k];
                if (strlen(h) == n && memcmp(h, p, n) == 0) c->is_int[k] = 1, found = 1;
            }
            if (!found) { snprintf(err, errlen, "--int-columns: no column named '%.*s'", (int)n, p); return ST_EINVAL; }
            p += n;
            if (*p == ',') p++;
        }
    }
    return plan_direct(c);
}

/* ---- rows ---- */

/* The constant parts of every line (wide and long form), escaped once. */
static int build_prefix(imp_csv *c)
{
    int rc = put_name(&c->pre_meas, c->o.measurement, strlen(c->o.measurement), 1);
    for (size_t t = 0; t < c->o.ntags && !rc; t++) {
        const char *kv = c->o.tags[t], *eq = strchr(kv, '=');
        rc = st_buf_append_byte(&c->pre_tags, ',') ? ST_ENOMEM : 0;
        if (!rc) rc = put_name(&c->pre_tags, kv, (size_t)(eq - kv), 0);
        if (!rc) rc = st_buf_append_byte(&c->pre_tags, '=') ? ST_ENOMEM : 0;
        if (!rc) rc = put_name(&c->pre_tags, eq + 1, strlen(eq + 1), 0);
    }
    if (rc == ST_ENOMEM) return rc;
    c->pre_bad = rc;
    return 0;
}

/* measurement[,tag=name] and the --tag pairs. */
static int put_prefix(imp_csv *c, st_buf *b, const char *name, size_t nlen)
{
    if (c->pre_bad) return c->pre_bad;
    if (st_buf_append(b, c->pre_meas.ptr, c->pre_meas.len)) return ST_ENOMEM;
    if (name) {
        if (st_buf_append_str(b, ",tag=")) return ST_ENOMEM;
        int rc = put_name(b, name, nlen, 0);
        if (rc) return rc;
    }
    return st_buf_append(b, c->pre_tags.ptr, c->pre_tags.len) ? ST_ENOMEM : 0;
}

/* Column k's name as a key (escaped at the header). ST_EPARSE when it
 * cannot be one. */
static int put_col_key(const imp_csv *c, st_buf *b, size_t k)
{
    size_t at = c->hkoff[k];
    if (at == SIZE_MAX) return ST_EPARSE;
    size_t end = at;
    for (size_t j = k + 1; j <= c->ncols; j++)
        if (c->hkoff[j] != SIZE_MAX) { end = c->hkoff[j]; break; }
    return st_buf_append(b, c->hkey.ptr + at, end - at) ? ST_ENOMEM : 0;
}

/* The row's --tag-columns cells as tags (empty cells left out). */
static int put_tag_cols(imp_csv *c, st_buf *b, char *err, size_t errlen)
{
    for (size_t k = 0; k < c->n && k < c->ncols; k++) {
        if (!c->is_tag[k] || c->clen[k] == 0) continue;
        const char *h = c->header.ptr + c->hoff[k];
        if (st_buf_append_byte(b, ',') || put_col_key(c, b, k) || st_buf_append_byte(b, '=') ||
            put_name(b, cell(c, k), c->clen[k], 0)) {
            snprintf(err, errlen, "column %.60s: '%.*s' cannot be a tag", h, CELLQ(c, k, 60));
            return ST_EPARSE;
        }
    }
    return 0;
}

static int put_ts(imp_csv *c, st_buf *b, int64_t ts)
{
    int64_t u = c->o.unit_ns > 1 ? ts / c->o.unit_ns : ts;
    char t[24], *e = t + sizeof t, *q = e;
    *--q = '\n';
    uint64_t a = u < 0 ? 0 - (uint64_t)u : (uint64_t)u;
    do { *--q = (char)('0' + a % 10); a /= 10; } while (a);
    if (u < 0) *--q = '-';
    *--q = ' ';
    return st_buf_append(b, q, (size_t)(e - q)) ? ST_ENOMEM : 0;
}

static int parse_quality(const char *s, size_t n, uint32_t *q)
{
    static const struct { const char *name; uint32_t v; } names[] = {
        { "good", 0 }, { "bad", 0x80000000u }, { "uncertain", 0x40900000u } };
    for (size_t i = 0; i < 3; i++)
        if (strlen(names[i].name) == n && strncasecmp(s, names[i].name, n) == 0) { *q = names[i].v; return 0; }
    uint64_t v;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        char t[20], *e;
        if (n - 2 > 8) return ST_EPARSE;
        memcpy(t, s + 2, n - 2);
        t[n - 2] = 0;
        v = strtoull(t, &e, 16);
        if (*e) return ST_EPARSE;
    } else if (st_parse_uint64(s, n, &v) || v > UINT32_MAX) {
        return ST_EPARSE;
    }
    *q = (uint32_t)v;
    return 0;
}

/* Unescape one part of the tags cell ('\\' escapes the next byte). */
static size_t tag_part(const char *s, size_t n, char stop, st_buf *out)
{
    size_t i = 0;
    while (i < n && s[i] != stop) {
        if (s[i] == '\\' && i + 1 < n) i++;
        st_buf_append_byte(out, s[i]);
        i++;
    }
    return i;
}

static int strata_row(imp_csv *c, st_buf *b, uint32_t *lines, char *err, size_t errlen)
{
    if (c->n != 7) { snprintf(err, errlen, "want 7 cells, got %zu", c->n); return ST_EPARSE; }
    int64_t ts;
    if (st_time_parse_rfc3339(cell(c, 0), c->clen[0], &ts) && st_parse_int64(cell(c, 0), c->clen[0], &ts)) {
        snprintf(err, errlen, "bad time '%.*s'", CELLQ(c, 0, 60));
        return ST_EPARSE;
    }
    if (put_name(b, cell(c, 1), c->clen[1], 1)) { snprintf(err, errlen, "bad measurement name"); return ST_EPARSE; }
    const char *t = cell(c, 2);
    size_t tn = c->clen[2], i = 0;
    st_buf part;
    st_buf_init(&part);
    while (i < tn) {
        st_buf_clear(&part);
        i += tag_part(t + i, tn - i, '=', &part);
        if (i >= tn) { st_buf_fini(&part); snprintf(err, errlen, "bad tags cell"); return ST_EPARSE; }
        i++;
        if (st_buf_append_byte(b, ',') || put_name(b, part.ptr ? part.ptr : "", part.len, 0)) goto badtag;
        st_buf_clear(&part);
        i += tag_part(t + i, tn - i, ',', &part);
        if (i < tn) i++;
        if (st_buf_append_byte(b, '=') || put_name(b, part.ptr ? part.ptr : "", part.len, 0)) goto badtag;
    }
    st_buf_fini(&part);
    if (st_buf_append_byte(b, ' ') || put_name(b, cell(c, 3), c->clen[3], 0)) { snprintf(err, errlen, "bad field name"); return ST_EPARSE; }
    st_buf_append_byte(b, '=');
    const char *v = cell(c, 5);
    size_t vn = c->clen[5];
    if (cell_is(c, 4, "float")) {
        double d;
        if (st_parse_double(v, vn, ST_NUM_ALLOW_SPECIAL | ST_NUM_ALLOW_PLUS, &d)) { snprintf(err, errlen, "bad float '%.*s'", CELLQ(c, 5, 60)); return ST_EPARSE; }
        if (!isfinite(d)) { snprintf(err, errlen, "%.*s cannot be sent as line protocol", CELLQ(c, 5, INT_MAX)); return ST_EPARSE; }
        if (put_double(b, d)) return ST_ENOMEM;
    } else if (cell_is(c, 4, "integer")) {
        int64_t x;
        if (st_parse_int64(v, vn, &x)) { snprintf(err, errlen, "bad integer '%.*s'", CELLQ(c, 5, 60)); return ST_EPARSE; }
        st_buf_printf(b, "%" PRId64 "i", x);
    } else if (cell_is(c, 4, "unsigned")) {
        uint64_t x;
        if (st_parse_uint64(v, vn, &x)) { snprintf(err, errlen, "bad unsigned '%.*s'", CELLQ(c, 5, 60)); return ST_EPARSE; }
        st_buf_printf(b, "%" PRIu64 "u", x);
    } else if (cell_is(c, 4, "boolean")) {
        if (!is_true(v, vn) && !is_false(v, vn)) { snprintf(err, errlen, "bad boolean '%.*s'", CELLQ(c, 5, 60)); return ST_EPARSE; }
        st_buf_append_str(b, is_true(v, vn) ? "true" : "false");
    } else if (cell_is(c, 4, "string")) {
        if (put_string(b, v, vn)) return ST_ENOMEM;
    } else {
        snprintf(err, errlen, "unknown type '%.*s'", CELLQ(c, 4, 30));
        return ST_EPARSE;
    }
    if (c->clen[6]) {
        uint32_t q;
        if (parse_quality(cell(c, 6), c->clen[6], &q)) { snprintf(err, errlen, "bad quality '%.*s'", CELLQ(c, 6, 30)); return ST_EPARSE; }
        if (q) {
            if (st_buf_append_byte(b, ',') || put_name(b, c->o.quality_field, strlen(c->o.quality_field), 0)) return ST_ENOMEM;
            st_buf_printf(b, "=%" PRIu32 "i", q);
        }
    }
    if (put_ts(c, b, ts)) return ST_ENOMEM;
    *lines = 1;
    return 0;
badtag:
    st_buf_fini(&part);
    snprintf(err, errlen, "bad tag name or value");
    return ST_EPARSE;
}

/* A data record's cells (a CR before its end dropped): 0, ROW_EMPTY (a
 * blank record), ST_EPARSE (err), ST_ENOMEM. */
static int row_split(imp_csv *c, const char *rec, size_t len, char *err, size_t errlen)
{
    c->split_rec = NULL;
    if (len && rec[len - 1] == '\r') len--;
    if (len == 0) return ROW_EMPTY;
    int rc = split(c, rec, len);
    if (rc == ST_ETOOLARGE) { snprintf(err, errlen, "more than %d cells", CSV_MAX_COLS); return ST_EPARSE; }
    if (!rc) c->split_rec = rec;
    return rc;
}

/* The header, the file's first record (ROW_EMPTY once taken), or a data
 * record split with its time resolved (Strata CSV: strata_row reads its
 * own). 0, ROW_EMPTY (also a blank record), ST_EPARSE (err), ST_EINVAL
 * (header), IMP_CSV_NEED_CARRY, ST_ENOMEM. */
static int row_start(imp_csv *c, const char *rec, size_t len, int64_t *ts, char *err, size_t errlen)
{
    if (!c->have_header) {
        strip(&rec, &len);
        int rc = take_header(c, rec, len, err, errlen);
        return rc ? rc : ROW_EMPTY;
    }
    int rc = row_split(c, rec, len, err, errlen);
    if (rc || c->o.strata) return rc;
    if ((size_t)c->time_col >= c->n) { snprintf(err, errlen, "row has %zu cells, no time", c->n); return ST_EPARSE; }
    return parse_time(c, cell(c, (size_t)c->time_col), c->clen[c->time_col], ts, err, errlen);
}

/* The split row (time ts) as line protocol, appended to out. */
static int row_text(imp_csv *c, int64_t ts, st_buf *out, uint32_t *lines, char *err, size_t errlen)
{
    int rc = 0;
    st_buf *b = &c->line;
    st_buf_clear(b);
    if (c->o.strata) {
        rc = strata_row(c, b, lines, err, errlen);
        goto done;
    }
    if (c->name_col >= 0) {
        if ((size_t)c->name_col >= c->n || (size_t)c->value_col >= c->n) { snprintf(err, errlen, "row has only %zu cells", c->n); return ST_EPARSE; }
        size_t vn = c->clen[c->value_col];
        if (vn == 0) return 0; /* empty value: nothing to write */
        if (put_prefix(c, b, cell(c, (size_t)c->name_col), c->clen[c->name_col])) {
            snprintf(err, errlen, "bad name '%.*s'", CELLQ(c, (size_t)c->name_col, 60));
            return ST_EPARSE;
        }
        if ((rc = put_tag_cols(c, b, err, errlen))) return rc;
        st_buf_append_str(b, " value=");
        if ((rc = put_field(c, b, cell(c, (size_t)c->value_col), vn, c->is_int[c->value_col], err, errlen,
                            c->header.ptr + c->hoff[c->value_col]))) return rc;
    } else {
        if (put_prefix(c, b, NULL, 0)) { snprintf(err, errlen, "bad --measurement or --tag"); return ST_EPARSE; }
        if ((rc = put_tag_cols(c, b, err, errlen))) return rc;
        size_t nf = 0;
        for (size_t k = 0; k < c->n && k < c->ncols; k++) {
            if ((int)k == c->time_col || (int)k == c->quality_col || c->is_tag[k] || c->clen[k] == 0) continue;
            const char *h = c->header.ptr + c->hoff[k];
            st_buf_append_byte(b, nf ? ',' : ' ');
            if (put_col_key(c, b, k)) { snprintf(err, errlen, "column name '%.60s' cannot be a field key", h); return ST_EPARSE; }
            st_buf_append_byte(b, '=');
            if ((rc = put_field(c, b, cell(c, k), c->clen[k], c->is_int[k], err, errlen, h))) return rc;
            nf++;
        }
        if (nf == 0) return 0; /* only empty cells */
    }
    if (c->quality_col >= 0 && (size_t)c->quality_col < c->n && c->clen[c->quality_col]) {
        uint32_t q;
        if (parse_quality(cell(c, (size_t)c->quality_col), c->clen[c->quality_col], &q)) {
            snprintf(err, errlen, "bad quality '%.*s' (want an integer, Good, Bad or Uncertain)", CELLQ(c, (size_t)c->quality_col, 30));
            return ST_EPARSE;
        }
        st_buf_append_byte(b, ',');
        put_name(b, c->o.quality_field, strlen(c->o.quality_field), 0);
        st_buf_printf(b, "=%" PRIu32 "i", q);
    }
    if (put_ts(c, b, ts)) return ST_ENOMEM;
    *lines = 1;
done:
    if (rc) return rc;
    if (!b->ptr) return ST_ENOMEM;
    return st_buf_append(out, b->ptr, b->len) ? ST_ENOMEM : 0;
}

/* The split row (time ts) as the point the parser would make of row_text's
 * line (c->direct): 0 (ln->field_count 0: nothing to write), or
 * IMP_CSV_TEXT for a row to take the text way, which also words its
 * errors. Same steps in the same order as row_text.
 *
 * ln->key is not the line's text but serves the lpstor cache as well
 * within one file (all one storage batch holds): ',' (no line protocol key
 * starts so), then the value of each tag taken from a cell, in tsrc order,
 * as a varint length and its bytes (0: left out). Equal keys, equal tags
 * (the constant names are the file's); lengths below 128 are ASCII, so
 * "the key is UTF-8" still means "so is every tag value" (plan_direct
 * checked the constant names). */
static int row_point(imp_csv *c, int64_t ts, lp_line *ln)
{
    char err[8]; /* row_text words the messages */
    uint32_t nf = 0;
    if (c->name_col >= 0) {
        size_t vc = (size_t)c->value_col;
        if ((size_t)c->name_col >= c->n || vc >= c->n) return IMP_CSV_TEXT;
        if (c->clen[vc] == 0) return 0;
        if (c->clen[c->name_col] == 0) return IMP_CSV_TEXT;
    }
    /* the tags: what put_prefix and put_tag_cols would refuse goes as text */
    size_t need = 1, esc_max = c->pre_meas.len + c->pre_tags.len;
    for (size_t i = 0; i < c->ntsrc; i++) {
        const imp_csv_tag *t = &c->tsrc[i];
        size_t n = t->col >= 0 && (size_t)t->col < c->n ? c->clen[t->col] : 0;
        if (n == 0) continue;
        const char *v = cell(c, (size_t)t->col);
        if (v[n - 1] == '\\' || memchr(v, '\n', n)) return IMP_CSV_TEXT;
        need += 10 + n;
        esc_max += 2 + 2 * t->key.len + 2 * n;
    }
    if (esc_max > LP_MAX_KEY_BYTES) return IMP_CSV_TEXT; /* maybe too long: the parser tells */
    st_buf *key = &c->key;
    if (st_buf_reserve(key, need)) return IMP_CSV_TEXT;
    char *o = key->ptr;
    *o++ = ',';
    uint32_t nt = 0;
    for (size_t i = 0; i < c->ntsrc; i++) {
        const imp_csv_tag *t = &c->tsrc[i];
        if (t->col < 0) { c->tags[nt++] = (lp_tag){ t->key, t->val }; continue; }
        size_t n = (size_t)t->col < c->n ? c->clen[t->col] : 0;
        for (size_t v = n; ; v >>= 7) {
            *o++ = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            if (v <= 0x7f) break;
        }
        if (n == 0) continue;
        memcpy(o, cell(c, (size_t)t->col), n);
        o += n;
        c->tags[nt++] = (lp_tag){ t->key, { cell(c, (size_t)t->col), n } };
    }
    key->len = (size_t)(o - key->ptr);
    /* the fields */
    if (c->name_col >= 0) {
        size_t vc = (size_t)c->value_col;
        lp_field *f = &c->fields[nf++];
        f->key = ST_SLICE_LIT("value");
        if (cell_value(c, cell(c, vc), c->clen[vc], c->is_int[vc], &f->value, err, sizeof err, "")) return IMP_CSV_TEXT;
    } else {
        for (size_t k = 0; k < c->n && k < c->ncols; k++) {
            if ((int)k == c->time_col || (int)k == c->quality_col || c->is_tag[k] || c->clen[k] == 0) continue;
            if (c->hkoff[k] == SIZE_MAX) return IMP_CSV_TEXT;
            lp_field *f = &c->fields[nf++];
            f->key = c->hname[k];
            if (cell_value(c, cell(c, k), c->clen[k], c->is_int[k], &f->value, err, sizeof err, "")) return IMP_CSV_TEXT;
        }
        if (nf == 0) return 0;
    }
    for (uint32_t i = 0; i < nf; i++)
        if (c->fields[i].value.type == ST_TYPE_STRING && c->fields[i].value.v.s.len > LP_MAX_STRING_BYTES) return IMP_CSV_TEXT;
    uint32_t q = ST_QUALITY_GOOD;
    int has_q = c->quality_col >= 0 && (size_t)c->quality_col < c->n && c->clen[c->quality_col];
    if (has_q && parse_quality(cell(c, (size_t)c->quality_col), c->clen[c->quality_col], &q)) return IMP_CSV_TEXT;
    /* put_ts writes whole units, which the parser multiplies back */
    int64_t t = c->o.unit_ns > 1 ? ts / c->o.unit_ns * c->o.unit_ns : ts;
    if (t < ST_TIME_MIN_NS || t > ST_TIME_MAX_NS) return IMP_CSV_TEXT;
    *ln = (lp_line){ .measurement = c->meas, .tags = c->tags, .tag_count = nt, .fields = c->fields, .field_count = nf,
                     .ts_ns = t, .quality = q, .has_quality = (uint8_t)has_q, .has_ts = 1,
                     .key = { key->ptr, key->len } };
    return 0;
}

int imp_csv_record(imp_csv *c, const char *rec, size_t len, st_buf *out, uint32_t *lines, char *err, size_t errlen)
{
    *lines = 0;
    int64_t ts = 0;
    int rc = row_start(c, rec, len, &ts, err, errlen);
    if (rc) return rc == ROW_EMPTY ? 0 : rc;
    return row_text(c, ts, out, lines, err, errlen);
}

int imp_csv_point(imp_csv *c, const char *rec, size_t len, lp_line *ln, char *err, size_t errlen)
{
    memset(ln, 0, sizeof *ln);
    int64_t ts = 0;
    int rc = row_start(c, rec, len, &ts, err, errlen);
    if (rc) return rc == ROW_EMPTY ? 0 : rc;
    rc = c->direct ? row_point(c, ts, ln) : IMP_CSV_TEXT;
    if (rc == IMP_CSV_TEXT) ln->ts_ns = ts;
    return rc;
}

int imp_csv_text(imp_csv *c, const char *rec, size_t len, int64_t ts_ns, st_buf *out, uint32_t *lines, char *err,
                 size_t errlen)
{
    *lines = 0;
    if (rec != c->split_rec) { /* a record met before: its cells again */
        int rc = row_split(c, rec, len, err, errlen);
        if (rc) return rc == ROW_EMPTY ? 0 : rc;
    }
    return row_text(c, ts_ns, out, lines, err, errlen);
}

int imp_csv_detect(imp_csv *c, const char *rec, size_t len)
{
    if (c->o.strata || c->tf != TF_NONE) return 1;
    if (!c->have_header) return 0;
    if (len && rec[len - 1] == '\r') len--;
    /* parse_time detects on the first row that reaches it */
    if (len == 0 || split(c, rec, len) || (size_t)c->time_col >= c->n || c->clen[c->time_col] == 0) return 0;
    detect_time_format(c, cell(c, (size_t)c->time_col), c->clen[c->time_col]);
    return 1;
}

int imp_csv_time_format(const imp_csv *c, char *out, size_t cap)
{
    static const struct { int64_t unit; const char *name; } ep[] = {
        { 1000000000, "epoch-s" }, { 1000000, "epoch-ms" }, { 1000, "epoch-us" }, { 1, "epoch-ns" } };
    const char *f = NULL;
    if (c->tf == TF_RFC3339) f = "rfc3339";
    else if (c->tf == TF_PATTERN) f = c->pattern;
    for (size_t i = 0; i < sizeof ep / sizeof ep[0] && c->tf == TF_EPOCH && !f; i++)
        if (ep[i].unit == c->epoch_unit_ns) f = ep[i].name;
    if (!f || strlen(f) >= cap) return 0;
    memcpy(out, f, strlen(f) + 1);
    return 1;
}

void imp_csv_carry_get(const imp_csv *c, imp_csv_carry *out) { *out = c->amb; }
void imp_csv_carry_set(imp_csv *c, const imp_csv_carry *in) { c->amb = *in; }

const char *imp_csv_cut(imp_csv *c, const char *p, const char *end)
{
    int q = c->in_quotes;
    if (!q) {
        /* No '"' before the next LF: that LF ends the record. */
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        if (lf && !memchr(p, '"', (size_t)(lf - p))) return lf;
    }
    for (; p < end; p++) {
        if (*p == '"') q = !q;
        else if (*p == '\n' && !q) { c->in_quotes = 0; return p; }
    }
    c->in_quotes = q;
    return NULL;
}

void imp_csv_cut_reset(imp_csv *c) { c->in_quotes = 0; }

int imp_csv_create(const imp_csv_opts *o, imp_csv **out, char *err, size_t errlen)
{
    if (!o->strata && (!o->measurement || !*o->measurement)) {
        snprintf(err, errlen, "CSV input needs --measurement");
        return ST_EINVAL;
    }
    for (size_t t = 0; t < o->ntags; t++)
        if (!strchr(o->tags[t], '=') || o->tags[t][0] == '=') { snprintf(err, errlen, "--tag wants key=value, got '%s'", o->tags[t]); return ST_EINVAL; }
    imp_csv *c = st_calloc(1, sizeof *c);
    if (!c) return ST_ENOMEM;
    c->o = *o;
    if (!c->o.quality_field) c->o.quality_field = "quality";
    c->delim = o->strata ? ',' : o->delimiter;
    st_buf_init(&c->header);
    st_buf_init(&c->cells);
    st_buf_init(&c->line);
    st_buf_init(&c->key);
    st_buf_init(&c->pre_meas);
    st_buf_init(&c->pre_tags);
    c->amb.known = 1;
    if (!o->strata && build_prefix(c)) {
        imp_csv_destroy(c);
        return ST_ENOMEM;
    }
    if (o->timezone && strcmp(o->timezone, "UTC")) {
        int rc = st_tz_load(o->timezone, strlen(o->timezone), &c->tz);
        if (rc) {
            snprintf(err, errlen, "--timezone %s: %s", o->timezone, rc == ST_ENOTFOUND ? "unknown zone" : st_strerror(rc));
            imp_csv_destroy(c);
            return ST_EINVAL;
        }
    }
    if (o->time_format) {
        const char *f = o->time_format;
        static const struct { const char *n; int64_t u; } ep[] = {
            { "epoch-s", 1000000000 }, { "s", 1000000000 }, { "epoch-ms", 1000000 }, { "ms", 1000000 },
            { "epoch-us", 1000 }, { "us", 1000 }, { "epoch-ns", 1 }, { "ns", 1 } };
        for (size_t i = 0; i < sizeof ep / sizeof ep[0]; i++)
            if (!strcmp(f, ep[i].n)) { c->tf = TF_EPOCH; c->epoch_unit_ns = ep[i].u; }
        if (!c->tf && !strcmp(f, "rfc3339")) c->tf = TF_RFC3339;
        if (!c->tf && !strcmp(f, "YYYY-MM-DD HH:MM:SS")) f = "%Y-%m-%d %H:%M:%S";
        if (!c->tf && !strcmp(f, "DD.MM.YYYY HH:MM:SS")) f = "%d.%m.%Y %H:%M:%S";
        if (!c->tf) {
            if (!strchr(f, '%') || strlen(f) >= sizeof c->pattern) {
                snprintf(err, errlen, "--time-format: want rfc3339, epoch-s|ms|us|ns or a %%Y-%%m-%%d %%H:%%M:%%S pattern, got '%s'", f);
                imp_csv_destroy(c);
                return ST_EINVAL;
            }
            int bad = 0;
            for (const char *q = f; *q; q++)
                if (*q == '%') { q++; if (!*q || !strchr("YmdHMSf%", *q)) bad = 1; if (!*q) break; }
            if (bad) {
                snprintf(err, errlen, "--time-format: unknown directive in '%s' (use %%Y %%m %%d %%H %%M %%S %%f)", f);
                imp_csv_destroy(c);
                return ST_EINVAL;
            }
            c->tf = TF_PATTERN;
            snprintf(c->pattern, sizeof c->pattern, "%s", f);
        }
    }
    *out = c;
    return 0;
}

void imp_csv_destroy(imp_csv *c)
{
    if (!c) return;
    st_tz_free(c->tz);
    st_buf_fini(&c->header);
    st_buf_fini(&c->hkey);
    st_free(c->hkoff);
    st_buf_fini(&c->cells);
    st_buf_fini(&c->line);
    st_buf_fini(&c->key);
    st_buf_fini(&c->pre_meas);
    st_buf_fini(&c->pre_tags);
    st_free(c->tsrc);
    st_free(c->tags);
    st_free(c->fields);
    st_free(c->hname);
    st_free(c->hoff);
    st_free(c->is_int);
    st_free(c->is_tag);
    st_free(c->cptr);
    st_free(c->clen);
    st_free(c);
}
