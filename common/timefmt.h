/*
 * common/timefmt.h — RFC3339 times and InfluxQL durations, int64 ns since
 * the epoch (proleptic Gregorian calendar, no leap seconds).
 * Pure functions, no state, no locale, no libc time zone: any thread (a
 * st_time_cache is the caller's, used by one thread at a time).
 */
#ifndef ST_TIMEFMT_H
#define ST_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse exactly [s, s+len) as RFC3339 / RFC3339Nano:
 *   "2006-01-02T15:04:05[.fffffffff](Z|±hh:mm)"
 * Also accepted, as InfluxQL does: a space instead of 'T' (and lowercase
 * 't' / 'z'); a date alone ("2006-01-02", UTC midnight); and, after a space
 * only, no zone at all ("2006-01-02 15:04:05", read as UTC).
 * Year exactly 4 digits; 1..9 fractional digits; month/day checked against
 * the calendar (2023-02-29 is refused); hour 0-23, minute and second 0-59
 * (no leap second); zone offset hh 0-23, mm 0-59.
 * Returns 0, ST_EPARSE (syntax or calendar) or ST_ERANGE (outside
 * [ST_TIME_MIN_NS, ST_TIME_MAX_NS] of common/point.h). *out_ns is written
 * only on success.
 */
int st_time_parse_rfc3339(const char *s, size_t len, int64_t *out_ns);

/* RFC3339Nano in UTC with trailing fractional zeros trimmed, exactly as Go's
 * time.RFC3339Nano (so InfluxDB) prints: "2015-08-18T00:00:00Z",
 * "2015-08-18T00:00:00.5Z", "1969-12-31T23:59:59.999999999Z". Any int64 is
 * accepted. Writes a NUL; returns the length. buf must hold ST_TIME_BUF bytes. */
#define ST_TIME_BUF 48
size_t st_time_format_rfc3339(int64_t ns, char *buf);

/* Same in local time at a UTC offset in seconds: "+01:00" instead of "Z",
 * 0 -> "Z" (Go's "Z07:00": seconds of the offset are dropped, an offset
 * under a minute prints "+00:00"). |offset_s| must be < 100 hours. */
size_t st_time_format_rfc3339_offset(int64_t ns, int32_t offset_s, char *buf);

/* The date text of the last day a writer formatted, reused while its times
 * stay on that day (rows of a result mostly do). Caller's storage, one
 * thread at a time; st_time_cache_init before the first use. */
typedef struct st_time_cache {
    int64_t day;     /* wall-clock days since 1970-01-01 of date[] */
    uint8_t len;     /* of date[]; 0 = nothing cached */
    char date[16];   /* "YYYY-MM-DDT" (at most 13 bytes: int64 ns reach years 1677..2262) */
} st_time_cache;
void st_time_cache_init(st_time_cache *c);
/* st_time_format_rfc3339_offset, the date taken from (and kept in) c; c may
 * be NULL. Same text, same buffer rule. */
size_t st_time_format_rfc3339_cached(st_time_cache *c, int64_t ns, int32_t offset_s, char *buf);

/* Civil date <-> days since 1970-01-01 (proleptic Gregorian, Howard
 * Hinnant's algorithms). Year 0 exists (= 1 BC). Valid for |y| < 10^14;
 * m 1..12, d 1..31 (not checked: day 31 of February counts on). */
int64_t st_days_from_civil(int64_t y, unsigned m, unsigned d);
void    st_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* 1 if y is a leap year; days in month m (1..12) of year y. */
int      st_is_leap_year(int64_t y);
unsigned st_days_in_month(int64_t y, unsigned m);

/*
 * Parse exactly [s, s+len) as an InfluxQL duration literal: an optional
 * '-', then one or more <digits><unit> with unit in
 *   ns | u | us | µ (U+00B5 or U+03BC, UTF-8) | µs | ms | s | m | h | d | w
 * ("1h30m", "10s", "500ms", "1w"); d is 24h, w is 7d. A bare number without
 * unit, an empty string or an unknown unit -> ST_EPARSE; a total beyond
 * int64 ns -> ST_ERANGE. *out_ns is written only on success.
 */
int st_duration_parse(const char *s, size_t len, int64_t *out_ns);

/* Go's time.Duration.String(), which InfluxDB prints (SHOW RETENTION
 * POLICIES): "168h0m0s", "1h30m0s", "0s", "1m30s", "1.5s", "500ms",
 * "1µs" (U+00B5), "-2ns". Writes a NUL; returns the length. buf must hold
 * ST_DURATION_BUF bytes. */
#define ST_DURATION_BUF 32
size_t st_duration_format(int64_t ns, char *buf);

/* CLOCK_REALTIME in ns. */
int64_t st_now_ns(void);
/* CLOCK_MONOTONIC in ns. */
int64_t st_mono_ns(void);

#endif
