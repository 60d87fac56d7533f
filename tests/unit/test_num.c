/*
 * tests/unit/test_num.c — common/num: exact parsing against glibc strtod,
 * shortest round-trip formatting, integer limits. Random tests use a seeded
 * PRNG, so every run checks the same inputs. Single-threaded.
 */
#include "common/num.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/rng.h"
#include "tests/unit/unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define NUM_TEST_SCALE 2
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NUM_TEST_SCALE 2
#endif
#endif
#ifndef NUM_TEST_SCALE
#define NUM_TEST_SCALE 1
#endif

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void) { return st_splitmix64(&rng_state); }
static unsigned rnd_below(unsigned n) { return (unsigned)(rnd() % n); }

static uint64_t bits_of(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }
static double of_bits(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }

/* The reference: strtod on a NUL-terminated copy; ERANGE only on overflow. */
static int ref_parse(const char *s, size_t len, double *out)
{
    char *t = malloc(len + 1);
    memcpy(t, s, len);
    t[len] = 0;
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    int ok = end == t + len;
    free(t);
    if (!ok) return ST_EPARSE;
    if (isinf(v) && errno == ERANGE) return ST_ERANGE;
    *out = v;
    return 0;
}

static double p10(unsigned k)
{
    double v = 1;
    while (k--) v *= 10;
    return v;
}

static int parse_str(const char *s, int flags, double *out)
{
    return st_parse_double(s, strlen(s), flags, out);
}

/* Parse s and compare rc and bits with strtod; returns 1 if they agree. */
static int agree(const char *s, size_t len)
{
    double a = 12345, b = 54321;
    int ra = st_parse_double(s, len, 0, &a);
    int rb = ref_parse(s, len, &b);
    if (ra != rb) return 0;
    if (ra == 0 && bits_of(a) != bits_of(b)) return 0;
    if (ra != 0 && a != 12345) return 0; /* *out untouched on failure */
    return 1;
}

TEST(parse_hand_cases)
{
    static const char *const cases[] = {
        "0", "-0", "0.0", "-0.0", "00000", "0e0", "0e-999999999", "0e999999999",
        "1", "-1", "0.1", "0.2", "0.3", "1e23", "8.98846567431158e307",
        "9007199254740993", "9007199254740992", "9007199254740994", "9007199254740995",
        "2.2250738585072011e-308", "2.2250738585072012e-308", "2.2250738585072014e-308",
        "2.225073858507201e-308", "1.7976931348623157e308", "1.7976931348623158e308",
        "4.9e-324", "5e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
        "2.47032822920623272e-324", "1e-400", "1e-324", "3e-324",
        "1.", "-1.", ".5", "-.5", "1.e5", ".5e-3", "007", "000.000123", "0000000000000000000000001",
        "123456789012345678901234567890", "1234567890123456789", "12345678901234567890",
        "18446744073709551615", "18446744073709551616", "0.1000000000000000055511151231257827",
        "0.10000000000000000555111512312578270211815834045410156250000000000001",
        "7.2057594037927933e16", "9.5e-8", "1e22", "1e23", "1e-22", "123.456e-2",
        "4503599627370496.5", "4503599627370497.5", "1E5", "1e+5", "1e-5",
        "1797693134862315708145274237317043567980705675258449965989174768031572607800285387605895586327668781715404589535143824642343213268894641827684675467035375169860499105765512820762454900903893289440758685541040348012541e-100",
        "6.631236846766476e-316", "3.234e-320", "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "1e308", "1e309", "-1e309", "1.7976931348623159e308", "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
        "1e1000000000000000000000", "-1e-1000000000000000000000",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!agree(cases[i], strlen(cases[i]))) UNIT__FAIL("disagrees with strtod: %s", cases[i]);
    }
    double v;
    CHECK(parse_str("0.1", 0, &v) == 0 && bits_of(v) == 0x3FB999999999999Au);
    CHECK(parse_str("1e23", 0, &v) == 0 && bits_of(v) == 0x44B52D02C7E14AF6u);
    CHECK(parse_str("9007199254740993", 0, &v) == 0 && v == 9007199254740992.0);
    CHECK(parse_str("2.2250738585072011e-308", 0, &v) == 0 && bits_of(v) == 0x000FFFFFFFFFFFFFu);
    CHECK(parse_str("2.2250738585072012e-308", 0, &v) == 0 && bits_of(v) == 0x0010000000000000u);
    CHECK(parse_str("1.7976931348623157e308", 0, &v) == 0 && v == DBL_MAX);
    CHECK(parse_str("1.7976931348623158e308", 0, &v) == 0 && v == DBL_MAX);
    CHECK_EQ_INT(parse_str("1.7976931348623159e308", 0, &v), ST_ERANGE);
    CHECK_EQ_INT(parse_str("-1e400", 0, &v), ST_ERANGE);
    CHECK(parse_str("4.9e-324", 0, &v) == 0 && bits_of(v) == 1);
    CHECK(parse_str("2.4703282292062327e-324", 0, &v) == 0 && bits_of(v) == 0);
    CHECK(parse_str("2.4703282292062328e-324", 0, &v) == 0 && bits_of(v) == 1);
    CHECK(parse_str("-1e-400", 0, &v) == 0 && bits_of(v) == 0x8000000000000000u);
    CHECK(parse_str("-0", 0, &v) == 0 && bits_of(v) == 0x8000000000000000u);
    CHECK(parse_str("1.", 0, &v) == 0 && v == 1.0);
    CHECK(parse_str(".5", 0, &v) == 0 && v == 0.5);
    CHECK(parse_str("000123.4500", 0, &v) == 0 && v == 123.45);
}

TEST(parse_long_mantissas)
{
    /* 800 digits: 0.333..., 1 followed by 799 zeros e-799, 9s, and the exact
     * halfway point between 1 and its successor padded with zeros then 1. */
    char s[2100];
    for (int kind = 0; kind < 6; kind++) {
        size_t n = 0;
        switch (kind) {
        case 0: s[n++] = '0'; s[n++] = '.'; for (int i = 0; i < 800; i++) s[n++] = '3'; break;
        case 1: s[n++] = '1'; for (int i = 0; i < 799; i++) s[n++] = '0'; n += (size_t)sprintf(s + n, "e-799"); break;
        case 2: for (int i = 0; i < 800; i++) s[n++] = '9'; n += (size_t)sprintf(s + n, "e-1100"); break;
        case 3: n += (size_t)sprintf(s + n, "1.00000000000000011102230246251565404236316680908203125");
                for (int i = 0; i < 1000; i++) s[n++] = '0';
                s[n++] = '1'; break;
        case 4: n += (size_t)sprintf(s + n, "1.00000000000000011102230246251565404236316680908203125");
                for (int i = 0; i < 1000; i++) s[n++] = '0';
                break;
        case 5: s[n++] = '0'; s[n++] = '.'; for (int i = 0; i < 1500; i++) s[n++] = '0';
                n += (size_t)sprintf(s + n, "17976931348623157e1809"); break;
        }
        s[n] = 0;
        if (!agree(s, n)) UNIT__FAIL("long mantissa kind %d disagrees", kind);
    }
    double v;
    CHECK(parse_str("1.00000000000000011102230246251565404236316680908203125", 0, &v) == 0 && v == 1.0);
}

TEST(parse_rejects)
{
    static const char *const bad[] = {
        "", "1e", "e5", "-", "+", ".", "-.", "1.2.3", "0x10", "1_000", " 1", "1 ", "+1",
        "1e+", "1e-", "1ee5", "--1", "-+1", "1,5", "nan", "inf", "Infinity", "1e5.5",
        ".e5", "1.5e", "\xd9\xa1", "1\x00",
    };
    double v = 42;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i]);
        if (i == sizeof bad / sizeof bad[0] - 1) len = 2; /* "1\0" */
        int rc = st_parse_double(bad[i], len, 0, &v);
        if (rc != ST_EPARSE) UNIT__FAIL("accepted \"%s\" rc=%d", bad[i], rc);
    }
    CHECK(v == 42);
    /* len bounds are respected: "12" parsed as "1" */
    CHECK(st_parse_double("12", 1, 0, &v) == 0 && v == 1.0);
}

TEST(parse_flags)
{
    double v;
    CHECK_EQ_INT(parse_str("+1", 0, &v), ST_EPARSE);
    CHECK(parse_str("+1.5", ST_NUM_ALLOW_PLUS, &v) == 0 && v == 1.5);
    CHECK_EQ_INT(parse_str("++1", ST_NUM_ALLOW_PLUS, &v), ST_EPARSE);
    CHECK(parse_str("nan", ST_NUM_ALLOW_SPECIAL, &v) == 0 && bits_of(v) == 0x7FF8000000000000u);
    CHECK(parse_str("-NaN", ST_NUM_ALLOW_SPECIAL, &v) == 0 && bits_of(v) == 0xFFF8000000000000u);
    CHECK(parse_str("inf", ST_NUM_ALLOW_SPECIAL, &v) == 0 && v == INFINITY);
    CHECK(parse_str("-INFINITY", ST_NUM_ALLOW_SPECIAL, &v) == 0 && v == -INFINITY);
    CHECK(parse_str("InFiNiTy", ST_NUM_ALLOW_SPECIAL, &v) == 0 && v == INFINITY);
    CHECK_EQ_INT(parse_str("+inf", ST_NUM_ALLOW_SPECIAL, &v), ST_EPARSE);
    CHECK(parse_str("+Inf", ST_NUM_ALLOW_SPECIAL | ST_NUM_ALLOW_PLUS, &v) == 0 && v == INFINITY);
    static const char *const bad[] = {"infin", "nana", "in", "nan()", "nan(1)", ".nan", "1inf", "infinityy", "-", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse_str(bad[i], ST_NUM_ALLOW_SPECIAL | ST_NUM_ALLOW_PLUS, &v) != ST_EPARSE)
            UNIT__FAIL("accepted special \"%s\"", bad[i]);
}

TEST(parse_ints)
{
    int64_t i = 7;
    uint64_t u = 7;
    CHECK(st_parse_int64("9223372036854775807", 19, &i) == 0 && i == INT64_MAX);
    CHECK(st_parse_int64("-9223372036854775808", 20, &i) == 0 && i == INT64_MIN);
    CHECK_EQ_INT(st_parse_int64("9223372036854775808", 19, &i), ST_ERANGE);
    CHECK_EQ_INT(st_parse_int64("-9223372036854775809", 20, &i), ST_ERANGE);
    CHECK_EQ_INT(st_parse_int64("99999999999999999999999", 23, &i), ST_ERANGE);
    CHECK(st_parse_int64("-0", 2, &i) == 0 && i == 0);
    CHECK(st_parse_int64("000000000000000000000000042", 27, &i) == 0 && i == 42);
    CHECK(st_parse_uint64("18446744073709551615", 20, &u) == 0 && u == UINT64_MAX);
    CHECK_EQ_INT(st_parse_uint64("18446744073709551616", 20, &u), ST_ERANGE);
    CHECK_EQ_INT(st_parse_uint64("18446744073709551620", 20, &u), ST_ERANGE);
    CHECK_EQ_INT(st_parse_uint64("28446744073709551615", 20, &u), ST_ERANGE);
    CHECK_EQ_INT(st_parse_uint64("184467440737095516150", 21, &u), ST_ERANGE);
    CHECK(st_parse_uint64("0000000000000000000018446744073709551615", 40, &u) == 0 && u == UINT64_MAX);
    static const char *const bad[] = {"", "-", "+1", "1a", " 1", "1 ", "1.0", "0x1", "1_0", "99999999999999999999999x", "1e3"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        if (st_parse_int64(bad[k], strlen(bad[k]), &i) != ST_EPARSE) UNIT__FAIL("int64 accepted \"%s\"", bad[k]);
        if (st_parse_uint64(bad[k], strlen(bad[k]), &u) != ST_EPARSE) UNIT__FAIL("uint64 accepted \"%s\"", bad[k]);
    }
    CHECK_EQ_INT(st_parse_uint64("-1", 2, &u), ST_EPARSE);
    CHECK(i == INT64_MIN || i == 42);
    /* random round trips against strtoll/strtoull */
    char buf[32];
    for (int n = 0; n < 200000 / NUM_TEST_SCALE; n++) {
        uint64_t x = rnd() >> rnd_below(64);
        int64_t y = (int64_t)(rnd() >> rnd_below(64)) * (rnd() & 1 ? -1 : 1);
        size_t len = st_format_uint64(x, buf);
        char ref[32];
        snprintf(ref, sizeof ref, "%llu", (unsigned long long)x);
        if (strcmp(buf, ref) || len != strlen(ref)) { UNIT__FAIL("format_uint64 %s != %s", buf, ref); break; }
        if (st_parse_uint64(buf, len, &u) || u != x) { UNIT__FAIL("parse_uint64 %s", buf); break; }
        len = st_format_int64(y, buf);
        snprintf(ref, sizeof ref, "%lld", (long long)y);
        if (strcmp(buf, ref) || len != strlen(ref)) { UNIT__FAIL("format_int64 %s != %s", buf, ref); break; }
        if (st_parse_int64(buf, len, &i) || i != y) { UNIT__FAIL("parse_int64 %s", buf); break; }
    }
    CHECK(st_format_int64(INT64_MIN, buf) == 20 && strcmp(buf, "-9223372036854775808") == 0);
    CHECK(st_format_uint64(0, buf) == 1 && strcmp(buf, "0") == 0);
    /* every digit count, at the edges of the 8-digit chunks the formatter splits into */
    uint64_t p10 = 1;
    for (int d = 0; d < 20; d++, p10 *= 10)
        for (uint64_t x = p10 > 1 ? p10 - 1 : 0; x <= p10 + 1; x++) {
            char ref[32];
            snprintf(ref, sizeof ref, "%llu", (unsigned long long)x);
            size_t len = st_format_uint64(x, buf);
            if (strcmp(buf, ref) || len != strlen(ref)) UNIT__FAIL("format_uint64 %s != %s", buf, ref);
        }
    CHECK(st_format_uint64(UINT64_MAX, buf) == 20 && strcmp(buf, "18446744073709551615") == 0);
}

/* A random decimal string: sign, 1..25 digits (sometimes leading zeros), a
 * random decimal point, an exponent that is absent, small, or extreme. */
static size_t random_decimal(char *s)
{
    size_t n = 0;
    if (rnd() & 1) s[n++] = '-';
    unsigned nd = 1 + rnd_below(25);
    unsigned lz = rnd_below(8) == 0 ? rnd_below(5) : 0;
    unsigned dot = rnd_below(4) == 0 ? 99 : rnd_below(nd + lz + 1);
    for (unsigned i = 0; i < nd + lz; i++) {
        if (i == dot) s[n++] = '.';
        s[n++] = (char)(i < lz ? '0' : '0' + rnd_below(10));
    }
    if (dot == nd + lz) s[n++] = '.';
    if (dot == 0 && n && s[n - 1] == '.') s[n++] = '0';
    switch (rnd_below(6)) {
    case 0: case 1: break;
    case 2: n += (size_t)sprintf(s + n, "e%d", (int)rnd_below(41) - 20); break;
    case 3: n += (size_t)sprintf(s + n, "E%+d", (int)rnd_below(700) - 350); break;
    case 4: n += (size_t)sprintf(s + n, "e%d", (int)rnd_below(100) - 50 + (rnd() & 1 ? 300 : -320)); break;
    default: n += (size_t)sprintf(s + n, "e%d", (int)rnd_below(2000) - 1000); break;
    }
    s[n] = 0;
    return n;
}

TEST(parse_random_vs_strtod)
{
    char s[128];
    long bad = 0, total = 1000000 / NUM_TEST_SCALE;
    for (long k = 0; k < total; k++) {
        size_t n;
        if (k % 4 == 3) {
            /* A random double printed with 15..17 digits: near-ties, subnormals. */
            double d;
            do d = of_bits(rnd()); while (!isfinite(d));
            n = (size_t)snprintf(s, sizeof s, "%.*g", 15 + (int)rnd_below(3), d);
        } else {
            n = random_decimal(s);
        }
        if (!agree(s, n) && bad++ < 5) UNIT__FAIL("disagrees with strtod: %s", s);
    }
    CHECK_EQ_INT(bad, 0);
}

/* The fast paths alone: whenever they answer, strtod agrees. */
TEST(from_decimal_vs_strtod)
{
    char s[64];
    long bad = 0, answered = 0, total = 1000000 / NUM_TEST_SCALE;
    for (long k = 0; k < total; k++) {
        uint64_t w = rnd() >> (rnd() & 63);
        int64_t e10 = k % 3 ? -(int64_t)rnd_below(20) : (int64_t)rnd_below(651) - 342;
        double d = -1;
        if (!st_double_from_decimal(w, e10, &d)) continue;
        answered++;
        snprintf(s, sizeof s, "%" PRIu64 "e%" PRId64, w, e10);
        double want = strtod(s, NULL);
        if (bits_of(d) != bits_of(want) && bad++ < 5) UNIT__FAIL("%s: %.17g != %.17g", s, d, want);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(answered > total / 2);
}

TEST(parse_halfway_vs_strtod)
{
    /* Exact midpoints between adjacent doubles (long double holds them),
     * printed in full, then nudged: the ambiguous paths and the fallback. */
    char s[1200];
    long bad = 0;
    for (int k = 0; k < 20000 / NUM_TEST_SCALE; k++) {
        double d;
        do d = of_bits(rnd() & 0x7FFFFFFFFFFFFFFFu); while (!isfinite(d) || d == DBL_MAX);
        long double mid = ((long double)d + (long double)nextafter(d, INFINITY)) / 2;
        int n = snprintf(s, sizeof s, "%.800Le", mid);
        if (n <= 0 || n >= (int)sizeof s) continue;
        char *e = strchr(s, 'e');
        size_t mant = (size_t)(e - s);
        char exp[16];
        snprintf(exp, sizeof exp, "%s", e);
        size_t m = mant;
        while (s[m - 1] == '0') m--; /* exact digits */
        switch (k % 4) {
        case 0: break;                                       /* the tie itself */
        case 1: s[m++] = '0'; s[m++] = '0'; s[m++] = '1'; break; /* just above */
        case 2: if (s[m - 1] > '1') s[m - 1]--; break;          /* just below */
        case 3: m = 2 + rnd_below((unsigned)(m - 1)); break;   /* a truncation */
        }
        n = (int)m + snprintf(s + m, sizeof s - m, "%s", exp);
        if (!agree(s, (size_t)n) && bad++ < 5) UNIT__FAIL("disagrees with strtod: %.60s...", s);
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(format_hand_cases)
{
    static const struct { double v; const char *s; } cases[] = {
        {0.0, "0"}, {-0.0, "-0"}, {0.1, "0.1"}, {100, "100"}, {1.5, "1.5"}, {-1.5, "-1.5"},
        {123456789012.0, "123456789012"}, {0.000001, "0.000001"}, {1e-7, "1e-7"},
        {1.5e-7, "1.5e-7"}, {1e21, "1e+21"}, {1e20, "100000000000000000000"},
        {1.2345678901234568e20, "123456789012345680000"}, {1e23, "1e+23"}, {0.3, "0.3"},
        {2.0 / 3, "0.6666666666666666"}, {1e-300, "1e-300"}, {1.5e300, "1.5e+300"},
        {5e-324, "5e-324"}, {DBL_MAX, "1.7976931348623157e+308"}, {-DBL_MAX, "-1.7976931348623157e+308"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"}, {9007199254740993.0, "9007199254740992"},
        {123.456, "123.456"}, {0.00001234, "0.00001234"},
        {1e-10, "1e-10"}, {1.25e-100, "1.25e-100"}, {5e22, "5e+22"}, {4.35, "4.35"}, {1, "1"}, {-1, "-1"},
        {NAN, "NaN"}, {INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {1e15, "1000000000000000"},
        {0.5, "0.5"}, {2.5e-5, "0.000025"},
    };
    char buf[ST_DOUBLE_BUF];
    /* The edges of the plain range, one ulp inside and outside. */
    st_format_double(nextafter(1e-6, 0), buf);
    CHECK_EQ_STR(buf, "9.999999999999997e-7");
    st_format_double(nextafter(1e21, 0), buf);
    CHECK_EQ_STR(buf, "999999999999999900000");
    st_format_double(nextafter(1e-6, 1), buf);
    CHECK_EQ_STR(buf, "0.0000010000000000000002");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = st_format_double(cases[i].v, buf);
        CHECK_EQ_STR(buf, cases[i].s);
        CHECK_EQ_INT(n, strlen(buf));
    }
}

/* Significant digits of a formatted number (leading/trailing zeros dropped). */
static int sig_digits(const char *s)
{
    char d[40];
    int n = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && (n || *s != '0')) d[n++] = *s;
    while (n > 1 && d[n - 1] == '0') n--;
    return n;
}

/* Go's encoding/json layout of digits d[0..n) * 10^(x - n + 1), written
 * independently of num.c, for the comparison below. */
static void go_layout(int neg, const char *d, int n, int x, char *out)
{
    char *o = out;
    if (neg) *o++ = '-';
    if (x < -6 || x >= 21) {
        *o++ = d[0];
        if (n > 1) { *o++ = '.'; memcpy(o, d + 1, (size_t)n - 1); o += n - 1; }
        o += sprintf(o, "e%c%d", x < 0 ? '-' : '+', abs(x));
    } else if (x < 0) {
        o += sprintf(o, "0.");
        for (int i = 0; i < -x - 1; i++) *o++ = '0';
        memcpy(o, d, (size_t)n); o += n;
    } else {
        for (int i = 0; i <= x || i < n; i++) {
            if (i == x + 1) *o++ = '.';
            *o++ = i < n ? d[i] : '0';
        }
    }
    *o = 0;
}

/* One value: length, round trip, layout; and, when shortest_too, that no
 * shorter text round-trips and that ours is the nearest of its length
 * (snprintf's "%.*e" is the oracle). Counts into the three totals. */
static void format_check(double x, int shortest_too, long *bad, long *longer, long *layout_checked)
{
    char buf[ST_DOUBLE_BUF], ref[64];
    if (isnan(x)) return;
    size_t n = st_format_double(x, buf);
    if (n != strlen(buf) || n > 25) { if ((*bad)++ < 5) UNIT__FAIL("length %zu for %s", n, buf); return; }
    if (isinf(x)) return;
    double y;
    if (st_parse_double(buf, n, 0, &y) != 0 || bits_of(y) != bits_of(x) || strtod(buf, NULL) != x ||
        signbit(strtod(buf, NULL)) != signbit(x)) {
        if ((*bad)++ < 5) UNIT__FAIL("no round trip: %.17g -> %s", x, buf);
        return;
    }
    double ax = fabs(x);
    int plain = strchr(buf, 'e') == NULL;
    if (plain != (ax == 0 || (ax >= 1e-6 && ax < 1e21))) {
        if ((*bad)++ < 5) UNIT__FAIL("style: %.17g -> %s", x, buf);
        return;
    }
    const char *e = strchr(buf, 'e');
    if (e && (e[1] != '+' && e[1] != '-')) { if ((*bad)++ < 5) UNIT__FAIL("exp sign %s", buf); }
    if (e && e[2] == '0') { if ((*bad)++ < 5) UNIT__FAIL("exp leading zero %s", buf); }
    if (!shortest_too) return;
    /* Shortest: no %.{p}e with fewer digits round-trips. */
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(ref, sizeof ref, "%.*e", p - 1, x);
        if (strtod(ref, NULL) == x) break;
    }
    int mine = sig_digits(buf);
    if (mine > p) { if ((*bad)++ < 5) UNIT__FAIL("not shortest: %s has %d digits, %s has %d", buf, mine, ref, p); return; }
    if (mine < p) { (*longer)++; return; } /* snprintf's nearest p-digit missed a shorter one */
    /* Same length: compare the whole text with Go's layout of snprintf's digits. */
    char d[24];
    int nd = 0;
    const char *q = ref + (ref[0] == '-');
    for (; *q != 'e'; q++) if (*q != '.') d[nd++] = *q;
    int x10 = atoi(q + 1);
    while (nd > 1 && d[nd - 1] == '0') nd--;
    char want[64];
    go_layout(signbit(x) != 0, d, nd, x10, want);
    if (ax == 0) snprintf(want, sizeof want, "%s", signbit(x) ? "-0" : "0");
    /* snprintf's digits are the nearest of that length; ours must be too. */
    if (strcmp(want, buf) != 0 && (*bad)++ < 5) UNIT__FAIL("layout/closest: %s vs %s", buf, want);
    (*layout_checked)++;
}

TEST(format_random_roundtrip)
{
    long bad = 0, longer = 0, layout_checked = 0, total = 1000000 / NUM_TEST_SCALE;
    for (long k = 0; k < total; k++) {
        double x;
        uint64_t r = rnd();
        switch (k % 4) {
        case 0: case 1: x = of_bits(r); break;
        case 2: x = (double)(int64_t)(r >> rnd_below(64)) / p10(rnd_below(12)); break;
        default: x = of_bits((r & 0x800FFFFFFFFFFFFFu) | (uint64_t)rnd_below(3) << 52); break; /* subnormal/tiny */
        }
        format_check(x, k % 10 == 0, &bad, &longer, &layout_checked);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(layout_checked > total / 20);
    CHECK(longer < total / 1000 + 1);
}

/* Every power of two (the gap below is half the one above: Dragonbox's
 * shorter interval) and its neighbours, every exponent. */
TEST(format_powers_of_two)
{
    long bad = 0, longer = 0, layout_checked = 0;
    for (uint64_t fe = 0; fe < 2047; fe++)
        for (int dlt = -2; dlt <= 2; dlt++) {
            if (fe == 0 && dlt < 0) continue;
            format_check(of_bits((fe << 52) + (uint64_t)(int64_t)dlt), 1, &bad, &longer, &layout_checked);
        }
    CHECK_EQ_INT(bad, 0);
    CHECK(layout_checked > 9000);
}

int main(void)
{
    RUN(parse_hand_cases);
    RUN(parse_long_mantissas);
    RUN(parse_rejects);
    RUN(parse_flags);
    RUN(parse_ints);
    RUN(parse_random_vs_strtod);
    RUN(from_decimal_vs_strtod);
    RUN(parse_halfway_vs_strtod);
    RUN(format_hand_cases);
    RUN(format_random_roundtrip);
    RUN(format_powers_of_two);
    return unit_done();
}
