/*
 * tests/fuzz/fuzz_time.c — common/timefmt under libFuzzer (and replayed by
 * `make test`): RFC3339 and duration parsing of arbitrary bytes, and
 * format -> parse round trips on values built from the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/point.h"
#include "common/timefmt.h"

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char buf[ST_TIME_BUF], dbuf[ST_DURATION_BUF];
    int64_t ns, back;

    /* parse anything; what parses must print and parse back to itself */
    if (st_time_parse_rfc3339(s, size, &ns) == 0) {
        if (ns < ST_TIME_MIN_NS || ns > ST_TIME_MAX_NS) abort();
        size_t n = st_time_format_rfc3339(ns, buf);
        if (n >= ST_TIME_BUF || st_time_parse_rfc3339(buf, n, &back) != 0 || back != ns) abort();
    }
    if (st_duration_parse(s, size, &ns) == 0) {
        size_t n = st_duration_format(ns, dbuf);
        if (n >= ST_DURATION_BUF || strlen(dbuf) != n) abort();
        /* Go's text is an InfluxQL literal unless it has a fraction */
        if (!memchr(dbuf, '.', n) && (st_duration_parse(dbuf, n, &back) != 0 || back != ns)) abort();
    }

    /* values built from the bytes */
    if (size >= 12) {
        ns = (int64_t)load64(data);
        uint32_t o = (uint32_t)data[8] << 24 | (uint32_t)data[9] << 16 | (uint32_t)data[10] << 8 | data[11];
        int32_t off_s = ((int32_t)(o % (2 * 24 * 60 - 1)) - (24 * 60 - 1)) * 60; /* whole minutes, |off| < 24 h */
        size_t n = st_time_format_rfc3339(ns, buf);
        if (n >= ST_TIME_BUF || strlen(buf) != n) abort();
        int rc = st_time_parse_rfc3339(buf, n, &back);
        if (ns >= ST_TIME_MIN_NS && ns <= ST_TIME_MAX_NS && (rc != 0 || back != ns)) abort();
        n = st_time_format_rfc3339_offset(ns, off_s, buf);
        if (n >= ST_TIME_BUF) abort();
        rc = st_time_parse_rfc3339(buf, n, &back);
        if (ns >= ST_TIME_MIN_NS && ns <= ST_TIME_MAX_NS && (rc != 0 || back != ns)) abort();
        /* arbitrary offsets never overrun */
        st_time_format_rfc3339_offset(ns, (int32_t)o, buf);

        n = st_duration_format(ns, dbuf);
        if (n >= ST_DURATION_BUF) abort();
        if (!memchr(dbuf, '.', n) && (st_duration_parse(dbuf, n, &back) != 0 || back != ns)) abort();

        /* the calendar: days -> civil -> days */
        int64_t days = ns >> 20, y;
        unsigned m, d;
        st_civil_from_days(days, &y, &m, &d);
        if (m < 1 || m > 12 || d < 1 || d > st_days_in_month(y, m) || st_days_from_civil(y, m, d) != days) abort();
    }
    return 0;
}
