/*
 * common/timefmt.h — RFC3339 times and durations, int64 ns since the epoch.
 * Pure functions; any thread.
 */
#ifndef ST_TIMEFMT_H
#define ST_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse RFC3339 / RFC3339Nano: "2006-01-02T15:04:05[.fffffffff](Z|±hh:mm)".
 * Also accepts a space instead of 'T' and a date alone ("2006-01-02", UTC
 * midnight), as InfluxQL does. Up to 9 fractional digits. 0, ST_EPARSE or
 * ST_ERANGE (outside the int64 ns range).
 */
int st_time_parse_rfc3339(const char *s, size_t len, int64_t *out_ns);

/* RFC3339Nano in UTC with trailing fractional zeros trimmed, as InfluxDB
 * prints ("2015-08-18T00:00:00Z", "2015-08-18T00:00:00.5Z"). Writes a NUL;
 * returns the length. buf must hold ST_TIME_BUF bytes. */
#define ST_TIME_BUF 48
size_t st_time_format_rfc3339(int64_t ns, char *buf);

/* Same with a UTC offset in seconds ("+01:00" instead of "Z"; 0 -> "Z"). */
size_t st_time_format_rfc3339_offset(int64_t ns, int32_t offset_s, char *buf);

/* Civil date <-> days since 1970-01-01 (proleptic Gregorian). */
int64_t st_days_from_civil(int64_t y, unsigned m, unsigned d);
void    st_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/*
 * InfluxQL duration literal: one or more <int><unit> with unit in
 * ns u µ us ms s m h d w ("1h30m", "10s", "500ms"). 0, ST_EPARSE or ST_ERANGE.
 */
int st_duration_parse(const char *s, size_t len, int64_t *out_ns);
/* InfluxDB's duration text: "168h0m0s", "1h30m0s", "0s", "500ms"... NUL-terminated. */
size_t st_duration_format(int64_t ns, char *buf);

/* CLOCK_REALTIME in ns. */
int64_t st_now_ns(void);
/* CLOCK_MONOTONIC in ns. */
int64_t st_mono_ns(void);

#endif
