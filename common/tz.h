/*
 * common/tz.h — time zones read from the system's TZif files
 * (/usr/share/zoneinfo, or $TZDIR), never through setenv("TZ") or
 * localtime(), which are process-global. A zone is immutable once loaded:
 * share it across threads freely; load/free from any thread.
 *
 * Covers TZif v1, v2, v3 and later (the 64-bit section is used when the
 * version is 2 or more) and the POSIX TZ footer string for instants after
 * the last transition (e.g. "CET-1CEST,M3.5.0,M10.5.0/3", with Jn, n and
 * Mm.w.d rules and v3's extended transition hours -167..167). Leap-second
 * records ("right/" zones) are read past and ignored: Strata time has no
 * leap seconds. "UTC" and "Etc/UTC" work even without the zoneinfo files.
 */
#ifndef ST_TZ_H
#define ST_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_tz st_tz;

/* Load a zone by IANA name ("Europe/Berlin", "UTC"), from $TZDIR if set and
 * non-empty, else /usr/share/zoneinfo. Names that are empty, longer than 255
 * bytes, contain "..", start with '/', or hold anything but
 * [A-Za-z0-9_+-/] are refused (ST_EINVAL) without touching the disk.
 * Returns 0 and an owned zone in *out, or ST_EINVAL, ST_ENOTFOUND (no such
 * file, or a folder), ST_ECORRUPT (not a valid TZif file), ST_EIO, ST_ENOMEM.
 * "UTC" and "Etc/UTC" fall back to a built-in zone when the file is missing. */
int  st_tz_load(const char *name, size_t name_len, st_tz **out);

/* Parse a TZif image from memory (untrusted bytes: every count and index is
 * checked against len). name is copied (NULL -> ""). The image is not kept.
 * 0, ST_ECORRUPT or ST_ENOMEM. */
int  st_tz_from_bytes(const char *name, const void *data, size_t len, st_tz **out);

/* Frees a zone from st_tz_load/st_tz_from_bytes. Accepts NULL and the
 * built-in zone of st_tz_utc() (no-op for both). */
void st_tz_free(st_tz *tz);

/* The built-in UTC zone: static, never freed, never NULL. */
const st_tz *st_tz_utc(void);

/* The name given at load (borrowed from the zone, NUL-terminated). */
const char *st_tz_name(const st_tz *tz);

/* UTC offset in seconds (east positive) at instant utc_s (seconds since
 * the epoch). Optional outputs: the abbreviation ("CET", borrowed from the
 * zone) and is_dst (0/1). Before the first transition the zone's first
 * local time type applies (RFC 8536); after the last, the footer rule. */
int32_t st_tz_offset_at(const st_tz *tz, int64_t utc_s, const char **abbr, int *is_dst);

/*
 * Local wall time (seconds since the epoch as if the wall clock were UTC)
 * -> UTC instants. Returns how many instants match: 0 (spring-forward gap),
 * 1, or 2 (autumn repeat; out[0] is the earlier one, i.e. summer time).
 * Only the returned number of entries of out_utc_s is written. (A corrupt
 * zone might match more than two instants: the earliest two are given.)
 */
int st_tz_local_to_utc(const st_tz *tz, int64_t local_s, int64_t out_utc_s[2]);

/* RFC3339 in the zone's local time at ns, as InfluxQL's tz() prints:
 * "2021-03-28T03:30:00+02:00" ("Z" where the offset is 0). buf must hold
 * ST_TIME_BUF bytes (common/timefmt.h); returns the length. */
size_t st_tz_format_rfc3339(const st_tz *tz, int64_t ns, char *buf);

#endif
