/*
 * common/tz.h — time zones read from the system's TZif files
 * (/usr/share/zoneinfo, or $TZDIR), never through setenv("TZ"), which is
 * process-global. A zone is immutable once loaded: share it across threads.
 *
 * Covers TZif v1, v2 and v3 (64-bit transitions) and the POSIX TZ footer
 * string for times past the last transition (e.g. "CET-1CEST,M3.5.0,M10.5.0/3").
 */
#ifndef ST_TZ_H
#define ST_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_tz st_tz;

/* Load a zone by IANA name ("Europe/Berlin", "UTC"). Names with "..", a
 * leading '/', or anything but [A-Za-z0-9_+-/] are refused (ST_EINVAL).
 * 0, ST_ENOTFOUND, ST_ECORRUPT, ST_ENOMEM. */
int  st_tz_load(const char *name, size_t name_len, st_tz **out);
/* Parse a TZif image from memory (tests, fuzzing). */
int  st_tz_from_bytes(const char *name, const void *data, size_t len, st_tz **out);
void st_tz_free(st_tz *tz);
const char *st_tz_name(const st_tz *tz);

/* UTC offset in seconds at instant utc_s (seconds since epoch); optional
 * abbreviation ("CET") and is_dst. */
int32_t st_tz_offset_at(const st_tz *tz, int64_t utc_s, const char **abbr, int *is_dst);

/*
 * Local wall time (seconds since the epoch as if the wall clock were UTC)
 * -> UTC instants. Returns how many instants match: 0 (spring-forward gap),
 * 1, or 2 (autumn repeat; out[0] is the earlier one, i.e. summer time).
 */
int st_tz_local_to_utc(const st_tz *tz, int64_t local_s, int64_t out_utc_s[2]);

#endif
