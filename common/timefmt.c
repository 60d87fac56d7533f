/*
 * common/timefmt.c — RFC3339 parse/format, civil calendar arithmetic,
 * InfluxQL duration parse and Go-style duration format, clocks.
 *
 * Owns nothing: pure functions over caller buffers, no allocation, no libc
 * time zone state. Called from any thread (ingest parsers, the query
 * executor, result writers, logs).
 *
 * Untrusted input: every parser reads only [s, s+len) and never asserts on
 * the bytes. Arithmetic is done in seconds first and converted to ns with
 * explicit range checks, so no intermediate overflows.
 */
#include "common/timefmt.h"

#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/num.h"
#include "common/point.h"

#define NS_PER_S INT64_C(1000000000)

/* ---- civil calendar (Howard Hinnant, "chrono-compatible low-level date
 * algorithms"), with the era arithmetic in int64. ---- */

int64_t st_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;                                   /* [0, 399] */
    const int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void st_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;                                /* [0, 146096] */
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);         /* [0, 365] */
    const int64_t mp = (5 * doy + 2) / 153;                              /* [0, 11] */
    const unsigned dd = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    const unsigned mm = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (mm <= 2);
    *m = mm;
    *d = dd;
}

int st_is_leap_year(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

unsigned st_days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m < 1 || m > 12) return 0;
    if (m == 2 && st_is_leap_year(y)) return 29;
    return dim[m - 1];
}

/* ---- RFC3339 parse ---- */

/* Exactly n ASCII digits at s. */
static int parse_digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    *out = v;
    return 0;
}

/* secs (any int64 that fits) + frac_ns in [0, 1e9) -> ns, range-checked
 * against [ST_TIME_MIN_NS, ST_TIME_MAX_NS]. */
static int secs_to_ns(int64_t secs, int64_t frac_ns, int64_t *out_ns)
{
    const int64_t max_s = INT64_MAX / NS_PER_S; /* 9223372036 */
    int64_t ns;
    if (secs >= 0) {
        if (secs > max_s) return ST_ERANGE;
        ns = secs * NS_PER_S;
        if (frac_ns > INT64_MAX - ns) return ST_ERANGE;
        ns += frac_ns;
    } else {
        /* (secs + 1) * 1e9 - (1e9 - frac) keeps every term in range. */
        if (secs + 1 < -max_s) return ST_ERANGE;
        ns = (secs + 1) * NS_PER_S;
        int64_t back = NS_PER_S - frac_ns; /* [1, 1e9] */
        if (ns < INT64_MIN + back) return ST_ERANGE;
        ns -= back;
    }
    if (ns < ST_TIME_MIN_NS || ns > ST_TIME_MAX_NS) return ST_ERANGE;
    *out_ns = ns;
    return 0;
}

int st_time_parse_rfc3339(const char *s, size_t len, int64_t *out_ns)
{
    unsigned y, mo, d, hh = 0, mi = 0, ss = 0;
    int64_t frac = 0, off_s = 0;

    if (!s || len < 10) return ST_EPARSE;
    if (parse_digits(s, 4, &y) || s[4] != '-' || parse_digits(s + 5, 2, &mo) ||
        s[7] != '-' || parse_digits(s + 8, 2, &d))
        return ST_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > st_days_in_month(y, mo)) return ST_EPARSE;

    size_t i = 10;
    if (i < len) {
        char sep = s[i++];
        if (sep != 'T' && sep != 't' && sep != ' ') return ST_EPARSE;
        if (len - i < 8) return ST_EPARSE;
        if (parse_digits(s + i, 2, &hh) || s[i + 2] != ':' || parse_digits(s + i + 3, 2, &mi) ||
            s[i + 5] != ':' || parse_digits(s + i + 6, 2, &ss))
            return ST_EPARSE;
        if (hh > 23 || mi > 59 || ss > 59) return ST_EPARSE;
        i += 8;
        if (i < len && s[i] == '.') {
            size_t start = ++i, n;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (i - start < 9) frac = frac * 10 + (s[i] - '0');
                i++;
            }
            n = i - start;
            if (n == 0 || n > 9) return ST_EPARSE;
            for (; n < 9; n++) frac *= 10;
        }
        if (i == len) {
            if (sep != ' ') return ST_EPARSE; /* RFC3339 proper needs a zone */
        } else if (s[i] == 'Z' || s[i] == 'z') {
            i++;
        } else if (s[i] == '+' || s[i] == '-') {
            unsigned oh, om;
            if (len - i < 6) return ST_EPARSE;
            if (parse_digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || parse_digits(s + i + 4, 2, &om))
                return ST_EPARSE;
            if (oh > 23 || om > 59) return ST_EPARSE;
            off_s = (int64_t)oh * 3600 + om * 60;
            if (s[i] == '-') off_s = -off_s;
            i += 6;
        } else {
            return ST_EPARSE;
        }
        if (i != len) return ST_EPARSE;
    }

    int64_t secs = st_days_from_civil(y, mo, d) * 86400 + (int64_t)hh * 3600 + mi * 60 + ss - off_s;
    return secs_to_ns(secs, frac, out_ns);
}

/* ---- RFC3339 format ---- */

static char *put_uint(char *p, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n < width) tmp[n++] = '0';
    while (n) *p++ = tmp[--n];
    return p;
}

static inline char *put2(char *p, unsigned v)
{
    memcpy(p, st_digit_pairs + 2 * v, 2);
    return p + 2;
}

/* "YYYY-MM-DDT" of a wall-clock day; returns its length. */
static size_t put_date(char *out, int64_t days)
{
    char *p = out;
    int64_t y;
    unsigned m, d;
    st_civil_from_days(days, &y, &m, &d);
    if (y >= 0 && y <= 9999) { p = put2(p, (unsigned)(y / 100)); p = put2(p, (unsigned)(y % 100)); }
    else if (y < 0) { *p++ = '-'; p = put_uint(p, (uint64_t)-y, 4); }
    else p = put_uint(p, (uint64_t)y, 4);
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    return (size_t)(p - out);
}

/* "YYYY-MM-DDThh:mm:ss[.f*]" for a wall clock of secs + frac_ns; the date
 * comes from c when it holds that day (and is stored there otherwise). */
static char *put_wall(char *p, int64_t secs, int64_t frac_ns, st_time_cache *c)
{
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) { sod += 86400; days--; }
    if (c) {
        if (c->day != days || !c->len) {
            c->len = (uint8_t)put_date(c->date, days);
            c->day = days;
        }
        memcpy(p, c->date, sizeof c->date); /* fixed size: a few moves, not a call (buf has room) */
        p += c->len;
    } else {
        p += put_date(p, days);
    }
    p = put2(p, (unsigned)(sod / 3600));
    *p++ = ':';
    p = put2(p, (unsigned)(sod / 60 % 60));
    *p++ = ':';
    p = put2(p, (unsigned)(sod % 60));
    if (frac_ns) {
        char digits[9];
        int64_t f = frac_ns;
        for (int k = 8; k >= 0; k--) { digits[k] = (char)('0' + f % 10); f /= 10; }
        int n = 9;
        while (digits[n - 1] == '0') n--;
        *p++ = '.';
        memcpy(p, digits, (size_t)n);
        p += n;
    }
    return p;
}

static void split_ns(int64_t ns, int64_t *secs, int64_t *frac)
{
    *secs = ns / NS_PER_S;
    *frac = ns % NS_PER_S;
    if (*frac < 0) { *frac += NS_PER_S; (*secs)--; }
}

size_t st_time_format_rfc3339(int64_t ns, char *buf)
{
    return st_time_format_rfc3339_cached(NULL, ns, 0, buf);
}

size_t st_time_format_rfc3339_offset(int64_t ns, int32_t offset_s, char *buf)
{
    return st_time_format_rfc3339_cached(NULL, ns, offset_s, buf);
}

void st_time_cache_init(st_time_cache *c)
{
    c->day = 0;
    c->len = 0;
}

size_t st_time_format_rfc3339_cached(st_time_cache *c, int64_t ns, int32_t offset_s, char *buf)
{
    int64_t secs, frac;
    split_ns(ns, &secs, &frac);
    if (offset_s <= -360000 || offset_s >= 360000) offset_s = 0; /* contract: |offset| < 100 h */
    char *p = put_wall(buf, secs + offset_s, frac, c);
    if (offset_s == 0) {
        *p++ = 'Z';
    } else {
        int32_t a = offset_s < 0 ? -offset_s : offset_s;
        int32_t mins = a / 60;
        *p++ = offset_s < 0 ? '-' : '+';
        p = put2(p, (unsigned)(mins / 60));
        *p++ = ':';
        p = put2(p, (unsigned)(mins % 60));
    }
    *p = 0;
    return (size_t)(p - buf);
}

/* ---- durations ---- */

int st_duration_parse(const char *s, size_t len, int64_t *out_ns)
{
    if (!s || len == 0) return ST_EPARSE;
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-') { neg = 1; i = 1; }
    if (i == len) return ST_EPARSE;
    /* magnitude limit: INT64_MAX, or 2^63 for a negative total */
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t total = 0;

    while (i < len) {
        uint64_t n = 0;
        size_t start = i;
        int too_big = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            unsigned dgt = (unsigned)(s[i] - '0');
            if (n > (UINT64_MAX - dgt) / 10) too_big = 1;
            else n = n * 10 + dgt;
            i++;
        }
        if (i == start || i == len) return ST_EPARSE; /* no digits, or no unit */
        uint64_t unit;
        unsigned char c = (unsigned char)s[i];
        if (c == 'n') {
            if (i + 1 >= len || s[i + 1] != 's') return ST_EPARSE;
            unit = 1;
            i += 2;
        } else if (c == 'u' || ((c == 0xC2 || c == 0xCE) && i + 1 < len &&
                                (unsigned char)s[i + 1] == (c == 0xC2 ? 0xB5 : 0xBC))) {
            unit = 1000;
            i += c == 'u' ? 1 : 2;
            if (i < len && s[i] == 's') i++;
        } else if (c == 'm') {
            if (i + 1 < len && s[i + 1] == 's') { unit = 1000000; i += 2; }
            else { unit = 60 * (uint64_t)NS_PER_S; i++; }
        } else if (c == 's') { unit = (uint64_t)NS_PER_S; i++; }
        else if (c == 'h') { unit = 3600 * (uint64_t)NS_PER_S; i++; }
        else if (c == 'd') { unit = 86400 * (uint64_t)NS_PER_S; i++; }
        else if (c == 'w') { unit = 7 * 86400 * (uint64_t)NS_PER_S; i++; }
        else return ST_EPARSE;
        if (too_big || n > limit / unit) return ST_ERANGE;
        uint64_t term = n * unit;
        if (term > limit - total) return ST_ERANGE;
        total += term;
    }
    *out_ns = neg ? (int64_t)(0 - total) : (int64_t)total;
    return 0;
}

/* Go's fmtFrac: the prec low digits of v as a fraction, trailing zeros
 * (and the point) omitted; writes backwards ending at w. */
static size_t fmt_frac(char *buf, size_t w, uint64_t *v, int prec)
{
    int print = 0;
    for (int k = 0; k < prec; k++) {
        unsigned digit = (unsigned)(*v % 10);
        print = print || digit != 0;
        if (print) buf[--w] = (char)('0' + digit);
        *v /= 10;
    }
    if (print) buf[--w] = '.';
    return w;
}

static size_t fmt_int(char *buf, size_t w, uint64_t v)
{
    if (v == 0) { buf[--w] = '0'; return w; }
    while (v > 0) { buf[--w] = (char)('0' + v % 10); v /= 10; }
    return w;
}

size_t st_duration_format(int64_t ns, char *buf)
{
    char tmp[ST_DURATION_BUF];
    size_t w = sizeof tmp;
    int neg = ns < 0;
    uint64_t u = neg ? 0 - (uint64_t)ns : (uint64_t)ns;

    if (u < (uint64_t)NS_PER_S) {
        int prec = 0;
        tmp[--w] = 's';
        if (u == 0) {
            tmp[--w] = '0';
            memcpy(buf, tmp + w, sizeof tmp - w);
            buf[sizeof tmp - w] = 0;
            return sizeof tmp - w;
        } else if (u < 1000) {
            prec = 0;
            tmp[--w] = 'n';
        } else if (u < 1000000) {
            prec = 3;
            tmp[--w] = (char)0xB5; /* U+00B5 MICRO SIGN */
            tmp[--w] = (char)0xC2;
        } else {
            prec = 6;
            tmp[--w] = 'm';
        }
        w = fmt_frac(tmp, w, &u, prec);
        w = fmt_int(tmp, w, u);
    } else {
        tmp[--w] = 's';
        w = fmt_frac(tmp, w, &u, 9);
        w = fmt_int(tmp, w, u % 60);
        u /= 60;
        if (u > 0) {
            tmp[--w] = 'm';
            w = fmt_int(tmp, w, u % 60);
            u /= 60;
            if (u > 0) {
                tmp[--w] = 'h';
                w = fmt_int(tmp, w, u);
            }
        }
    }
    if (neg) tmp[--w] = '-';
    size_t n = sizeof tmp - w;
    memcpy(buf, tmp + w, n);
    buf[n] = 0;
    return n;
}

/* ---- clocks ---- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return 0;
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t st_now_ns(void) { return clock_ns(CLOCK_REALTIME); }
int64_t st_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
