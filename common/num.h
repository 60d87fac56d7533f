/*
 * common/num.h — exact number parsing and shortest round-trip formatting.
 *
 * st_parse_double returns the correctly rounded double for a decimal string
 * (the same bits strtod gives in the "C" locale). A fast path handles the
 * common cases exactly (Clinger / Eisel-Lemire); where it cannot be sure it
 * falls back to strtod on a NUL-terminated copy. Pure functions; any thread.
 */
#ifndef ST_NUM_H
#define ST_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Flags for st_parse_double. */
#define ST_NUM_ALLOW_SPECIAL 0x1 /* accept nan, inf, infinity (case-insensitive, signed) */
#define ST_NUM_ALLOW_PLUS    0x2 /* accept a leading '+' */

/*
 * Parse exactly [s, s+len) as a decimal float: ["-"] digits ["." digits]
 * [("e"|"E") ["+"|"-"] digits], or "." digits; at least one digit in the
 * mantissa. No whitespace, no hex, no '_'. Returns 0, ST_EPARSE (syntax),
 * or ST_ERANGE (overflow to infinity; underflow to 0 or subnormal is not an
 * error). *out written only on success.
 */
int st_parse_double(const char *s, size_t len, int flags, double *out);

/* Exact decimal integers: ["-"] digits for int64; digits for uint64.
 * 0, ST_EPARSE or ST_ERANGE. */
int st_parse_int64(const char *s, size_t len, int64_t *out);
int st_parse_uint64(const char *s, size_t len, uint64_t *out);

/*
 * Shortest text that parses back to exactly v (0.1 -> "0.1", 1e21 -> "1e+21",
 * 100 -> "100", -0.0 -> "-0"). Uses plain notation for exponents in [-5, 21)
 * like Go's strconv 'g'-shortest as InfluxDB prints, otherwise d.ddde±XX.
 * NaN -> "NaN", +Inf -> "+Inf", -Inf -> "-Inf". Writes a NUL; returns the
 * length. buf must hold ST_DOUBLE_BUF bytes.
 */
#define ST_DOUBLE_BUF 32
size_t st_format_double(double v, char *buf);

/* Decimal integer formatting; returns the length, writes a NUL. buf >= 21 bytes. */
size_t st_format_int64(int64_t v, char *buf);
size_t st_format_uint64(uint64_t v, char *buf);

#endif
