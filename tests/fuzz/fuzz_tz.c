/*
 * tests/fuzz/fuzz_tz.c — common/tz under libFuzzer (and replayed by
 * `make test`): st_tz_from_bytes on arbitrary bytes (TZif headers, counts,
 * indexes and the POSIX footer are all untrusted), then lookups on a few
 * instants, checking that local_to_utc answers agree with offset_at.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tz.h"

static void check_instant(const st_tz *tz, int64_t t)
{
    const char *abbr = NULL;
    int dst = -1;
    int32_t off = st_tz_offset_at(tz, t, &abbr, &dst);
    if (!abbr || (dst != 0 && dst != 1) || off < -26 * 3600 || off > 26 * 3600) abort();
    (void)strlen(abbr); /* NUL-terminated inside the zone (ASan checks) */
    if (t < -(INT64_C(1) << 61) || t > (INT64_C(1) << 61)) return;
    int64_t local = t + off, out[2];
    int n = st_tz_local_to_utc(tz, local, out);
    if (n < 0 || n > 2) abort();
    for (int i = 0; i < n; i++)
        if (out[i] + st_tz_offset_at(tz, out[i], NULL, NULL) != local) abort();
    if (n == 2 && out[0] >= out[1]) abort();
    /* t shows wall clock local, so fewer than two answers must include it */
    if (n < 2 && (n != 1 || out[0] != t)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_tz *tz = NULL;
    if (st_tz_from_bytes("fuzz", data, size, &tz) != 0) return 0;
    static const int64_t fixed[] = {
        INT64_MIN, -INT64_C(5000000000), -2147483648LL, -1, 0, 1616893200, 1635642000,
        4102444800LL, 4118083200LL, INT64_C(10000000000000), INT64_MAX,
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) check_instant(tz, fixed[i]);
    if (size >= 8) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | data[size - 8 + i];
        check_instant(tz, (int64_t)v);
        check_instant(tz, (int64_t)(v % 20000000000u) - 10000000000);
        int64_t out[2];
        st_tz_local_to_utc(tz, (int64_t)v, out);
    }
    st_tz_free(tz);
    return 0;
}
