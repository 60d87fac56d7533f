/*
 * tests/fuzz/fuzz_num.c — libFuzzer target for common/num.
 *
 * The input is parsed as a float under every flag combination and compared
 * with strtod on a NUL-terminated copy whenever an independent checker says
 * the grammar of num.h accepts it (and must be rejected otherwise); parsed as
 * int64/uint64 and compared with strtoll/strtoull; and every 8-byte window
 * is formatted as a double and must parse back to the same bits.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/num.h"

#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int lower_eq(const char *s, size_t n, const char *w)
{
    if (strlen(w) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != w[i]) return 0;
    return 1;
}

/* The grammar of num.h, written out plainly. 1 = decimal, 2 = special. */
static int grammar(const char *s, size_t n, int flags)
{
    size_t i = 0, md = 0;
    if (i < n && (s[i] == '-' || (s[i] == '+' && (flags & ST_NUM_ALLOW_PLUS)))) i++;
    if ((flags & ST_NUM_ALLOW_SPECIAL) &&
        (lower_eq(s + i, n - i, "nan") || lower_eq(s + i, n - i, "inf") || lower_eq(s + i, n - i, "infinity")))
        return 2;
    while (i < n && is_digit(s[i])) { i++; md++; }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i])) { i++; md++; }
    }
    if (!md) return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t ed = 0;
        while (i < n && is_digit(s[i])) { i++; ed++; }
        if (!ed) return 0;
    }
    return i == n;
}

static uint64_t bits(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }

static void check_parse(const char *s, size_t n, const char *z)
{
    for (int flags = 0; flags < 4; flags++) {
        double v = 42;
        int rc = st_parse_double(s, n, flags, &v);
        int g = grammar(s, n, flags);
        if (!g) {
            FUZZ_CHECK(rc == ST_EPARSE && v == 42);
            continue;
        }
        FUZZ_CHECK(rc == 0 || rc == ST_ERANGE);
        char *end;
        errno = 0;
        double r = strtod(z, &end);
        FUZZ_CHECK(end == z + n);
        if (rc == ST_ERANGE) {
            FUZZ_CHECK(isinf(r) && errno == ERANGE && g == 1);
            continue;
        }
        if (g == 2 && isnan(r)) FUZZ_CHECK(isnan(v) && signbit(v) == signbit(r));
        else FUZZ_CHECK(bits(v) == bits(r));
    }
}

static void check_ints(const char *s, size_t n, const char *z)
{
    int64_t i = 7;
    uint64_t u = 7;
    int ri = st_parse_int64(s, n, &i), ru = st_parse_uint64(s, n, &u);
    int neg = n && s[0] == '-', digits = n > (size_t)neg;
    for (size_t k = (size_t)neg; k < n; k++) digits &= is_digit(s[k]);
    char *end;
    if (!digits) {
        FUZZ_CHECK(ri == ST_EPARSE && i == 7);
    } else {
        errno = 0;
        long long r = strtoll(z, &end, 10);
        FUZZ_CHECK(end == z + n);
        FUZZ_CHECK(errno == ERANGE ? ri == ST_ERANGE : (ri == 0 && i == r));
    }
    if (!digits || neg) {
        FUZZ_CHECK(ru == ST_EPARSE && u == 7);
    } else {
        errno = 0;
        unsigned long long r = strtoull(z, &end, 10);
        FUZZ_CHECK(errno == ERANGE ? ru == ST_ERANGE : (ru == 0 && u == r));
    }
}

static void check_format(double d)
{
    char buf[ST_DOUBLE_BUF];
    size_t n = st_format_double(d, buf);
    FUZZ_CHECK(n == strlen(buf) && n <= 25);
    if (isnan(d)) { FUZZ_CHECK(strcmp(buf, "NaN") == 0); return; }
    if (isinf(d)) { FUZZ_CHECK(strcmp(buf, d > 0 ? "+Inf" : "-Inf") == 0); return; }
    double back = 0;
    FUZZ_CHECK(st_parse_double(buf, n, 0, &back) == 0 && bits(back) == bits(d));
    FUZZ_CHECK(bits(strtod(buf, NULL)) == bits(d));
    double a = fabs(d);
    FUZZ_CHECK((strchr(buf, 'e') == NULL) == (a == 0 || (a >= 1e-6 && a < 1e21)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char stackz[256];
    char *z = size < sizeof stackz ? stackz : malloc(size + 1);
    if (!z) return 0;
    memcpy(z, data, size);
    z[size] = 0;
    /* An embedded NUL would stop strtod early: compare only when there is none. */
    if (memchr(data, 0, size) == NULL) {
        check_parse(s, size, z);
        check_ints(s, size, z);
    } else {
        double v;
        (void)st_parse_double(s, size, ST_NUM_ALLOW_SPECIAL | ST_NUM_ALLOW_PLUS, &v);
    }
    for (size_t i = 0; i + 8 <= size; i++) {
        double d;
        memcpy(&d, data + i, 8);
        check_format(d);
    }
    if (z != stackz) free(z);
    return 0;
}
