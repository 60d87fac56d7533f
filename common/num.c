/* common/num.c — PLACEHOLDER implementation over strtod/snprintf; being
 * replaced by the exact fast path (see num.h). */
#include "common/num.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

static int valid_decimal(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') { i++; digits++; }
    if (i < len && s[i] == '.') { i++; while (i < len && s[i] >= '0' && s[i] <= '9') { i++; digits++; } }
    if (!digits) return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) i++;
        size_t e = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') { i++; e++; }
        if (!e) return 0;
    }
    return i == len;
}

int st_parse_double(const char *s, size_t len, int flags, double *out)
{
    if (len == 0 || len > 4096) return ST_EPARSE;
    if (s[0] == '+' && !(flags & ST_NUM_ALLOW_PLUS)) return ST_EPARSE;
    if (!valid_decimal(s, len)) return ST_EPARSE;
    char tmp[4097];
    memcpy(tmp, s, len);
    tmp[len] = 0;
    errno = 0;
    double v = strtod(tmp, NULL);
    if (errno == ERANGE && isinf(v)) return ST_ERANGE;
    *out = v;
    return 0;
}

int st_parse_uint64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0) return ST_EPARSE;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) return ST_EPARSE;
        if (v > (UINT64_MAX - d) / 10) return ST_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int st_parse_int64(const char *s, size_t len, int64_t *out)
{
    int neg = len && s[0] == '-';
    uint64_t u;
    int rc = st_parse_uint64(s + neg, len - (size_t)neg, &u);
    if (rc) return rc;
    if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX) return ST_ERANGE;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

size_t st_format_double(double v, char *buf)
{
    if (isnan(v)) return (size_t)snprintf(buf, ST_DOUBLE_BUF, "NaN");
    if (isinf(v)) return (size_t)snprintf(buf, ST_DOUBLE_BUF, v > 0 ? "+Inf" : "-Inf");
    for (int prec = 1; prec <= 17; prec++) {
        int n = snprintf(buf, ST_DOUBLE_BUF, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return (size_t)n;
    }
    return (size_t)snprintf(buf, ST_DOUBLE_BUF, "%.17g", v);
}

size_t st_format_uint64(uint64_t v, char *buf)
{
    char t[21];
    size_t n = 0;
    do { t[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (size_t i = 0; i < n; i++) buf[i] = t[n - 1 - i];
    buf[n] = 0;
    return n;
}

size_t st_format_int64(int64_t v, char *buf)
{
    if (v < 0) {
        buf[0] = '-';
        return 1 + st_format_uint64((uint64_t)0 - (uint64_t)v, buf + 1);
    }
    return st_format_uint64((uint64_t)v, buf);
}
