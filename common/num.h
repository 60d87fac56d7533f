/*
 * common/num.h — exact number parsing and shortest round-trip formatting.
 *
 * st_parse_double returns the correctly rounded double for a decimal string
 * (the same bits glibc's strtod gives in the "C" locale). A fast path
 * handles the common cases exactly (Clinger, then Eisel-Lemire); where it
 * cannot be sure it hands a bounded, condensed copy of the digits to strtod.
 * Never allocates. st_format_double prints the shortest decimal that parses
 * back to the same double (Dragonbox). Pure functions; any thread.
 */
#ifndef ST_NUM_H
#define ST_NUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Flags for st_parse_double. */
#define ST_NUM_ALLOW_SPECIAL 0x1 /* accept nan, inf, infinity (case-insensitive, signed) */
#define ST_NUM_ALLOW_PLUS    0x2 /* accept a leading '+' (also before a special) */

/*
 * Parse exactly [s, s+len) as a decimal float:
 *     [sign] mantissa [("e"|"E") ["+"|"-"] digits]
 *     mantissa = digits ["." [digits]] | "." digits
 * i.e. at least one digit in the mantissa; "1." and ".5" are accepted (as
 * strtod and Go's ParseFloat do), "1e", "e5", ".", "-" are not. sign is
 * "-", or "+" with ST_NUM_ALLOW_PLUS. Leading zeros are fine; any number of
 * digits is fine (rounded correctly). No whitespace, no hex, no '_'.
 * With ST_NUM_ALLOW_SPECIAL, [sign] ("nan"|"inf"|"infinity") in any case
 * gives NaN (0x7FF8000000000000, sign bit from the sign) or ±Inf.
 * Returns 0, ST_EPARSE (syntax), or ST_ERANGE (finite input that overflows
 * to infinity; underflow to 0 or a subnormal is not an error, the sign of
 * zero is kept). *out written only on success.
 */
int st_parse_double(const char *s, size_t len, int flags, double *out);
/* The fast paths of st_parse_double for a caller that read the digits
 * itself: w * 10^e10 (every digit in w, none dropped; e10 in [-342, 308])
 * as the correctly rounded positive double: 1 and *out, or 0 when only
 * st_parse_double on the text can tell. */
int st_double_from_decimal(uint64_t w, int64_t e10, double *out);

/* Exact decimal integers: ["-"] digits for int64; digits for uint64 (no
 * sign). Leading zeros accepted. 0, ST_EPARSE (any other byte, or empty) or
 * ST_ERANGE (syntactically valid but out of range). */
int st_parse_int64(const char *s, size_t len, int64_t *out);
int st_parse_uint64(const char *s, size_t len, uint64_t *out);

/*
 * Shortest text that parses back to exactly v (closest to v among the
 * shortest), written the way Go's encoding/json writes a float64 (so the
 * same as InfluxDB's JSON output):
 *   - plain decimal when 1e-6 <= |v| < 1e21 or v is zero: 0.1, 100, 1.5,
 *     123456789012, 0.000001, 123456789012345680000, "0", "-0";
 *   - otherwise d[.ddd]e±X with the exponent written without leading
 *     zeros: 1e+21, 1.5e-7, 5e-324, 1.7976931348623157e+308.
 * NaN -> "NaN", +Inf -> "+Inf", -Inf -> "-Inf" (callers decide what to do
 * with those). Writes a NUL; returns the length (at most 25). buf must
 * hold ST_DOUBLE_BUF bytes: bytes after the NUL may be overwritten.
 */
#define ST_DOUBLE_BUF 48
size_t st_format_double(double v, char *buf);

/* A double's IEEE-754 bits, and back (no aliasing: compiles to a move). */
static inline uint64_t st_double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double st_bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* "00" "01" ... "99": the two ASCII digits of n at st_digit_pairs + 2 * n. */
extern const char st_digit_pairs[201];

/* Decimal integer formatting; returns the length, writes a NUL. buf >= 21 bytes. */
size_t st_format_int64(int64_t v, char *buf);
size_t st_format_uint64(uint64_t v, char *buf);

#endif
