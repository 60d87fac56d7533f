/* tests/unit/test_tz.c — common/tz: TZif v1/v2 parsing, POSIX footer rules,
 * offsets and local -> UTC across DST, corrupt input, name validation.
 * Fixtures come from tests/data/tz (cwd = repo root, as tests/run.py runs
 * us), so results do not depend on the machine's tzdata. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "common/tz.h"
#include "tests/unit/unit.h"

#define H 3600

static int64_t utc(int64_t y, unsigned mo, unsigned d, int hh, int mi, int ss)
{
    return st_days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss;
}

static uint8_t *read_fixture(const char *file, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/tz/%s", file);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static st_tz *fixture(const char *file)
{
    size_t len;
    uint8_t *b = read_fixture(file, &len);
    st_tz *tz = NULL;
    if (!b) { printf("  missing fixture %s (run from the repo root)\n", file); return NULL; }
    int rc = st_tz_from_bytes(file, b, len, &tz);
    if (rc) printf("  fixture %s: %s\n", file, st_errname(rc));
    free(b);
    return tz;
}

/* A TZif v2 image with no transitions, one type, and the given footer:
 * everything it answers comes from the POSIX rule. */
static size_t make_rule_zone(const char *footer, uint8_t *out)
{
    size_t n = 0;
    for (int part = 0; part < 2; part++) {
        memcpy(out + n, "TZif2", 5);
        memset(out + n + 5, 0, 39);
        out[n + 39] = 1; /* typecnt */
        out[n + 43] = 4; /* charcnt */
        n += 44;
        memset(out + n, 0, 6); /* utoff 0, not dst, abbr 0 */
        n += 6;
        memcpy(out + n, "XXX", 4);
        n += 4;
    }
    out[n++] = '\n';
    memcpy(out + n, footer, strlen(footer));
    n += strlen(footer);
    out[n++] = '\n';
    return n;
}

static st_tz *rule_zone(const char *footer)
{
    uint8_t img[512];
    st_tz *tz = NULL;
    size_t n = make_rule_zone(footer, img);
    int rc = st_tz_from_bytes(footer, img, n, &tz);
    if (rc) printf("  rule zone \"%s\": %s\n", footer, st_errname(rc));
    return tz;
}

TEST(berlin_offsets)
{
    st_tz *tz = fixture("Europe_Berlin");
    REQUIRE(tz);
    const char *abbr = NULL;
    int dst = -1;
    CHECK_EQ_STR(st_tz_name(tz), "Europe_Berlin");
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 28, 0, 59, 59), &abbr, &dst), 1 * H);
    CHECK_EQ_STR(abbr, "CET");
    CHECK_EQ_INT(dst, 0);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 28, 1, 0, 0), &abbr, &dst), 2 * H);
    CHECK_EQ_STR(abbr, "CEST");
    CHECK_EQ_INT(dst, 1);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 10, 31, 0, 59, 59), NULL, NULL), 2 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 10, 31, 1, 0, 0), &abbr, &dst), 1 * H);
    CHECK_EQ_STR(abbr, "CET");
    CHECK_EQ_INT(dst, 0);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 7, 1, 12, 0, 0), NULL, NULL), 2 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 1, 1, 12, 0, 0), NULL, NULL), 1 * H);
    /* before the first transition: LMT +00:53:28 */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(1850, 1, 1, 0, 0, 0), &abbr, NULL), 53 * 60 + 28);
    CHECK_EQ_STR(abbr, "LMT");
    /* 1945 Berlin had double summer time (CEMT, +03:00) */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(1945, 6, 15, 0, 0, 0), &abbr, NULL), 3 * H);
    CHECK_EQ_STR(abbr, "CEMT");
    /* past the last transition in the file: the footer rule */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 7, 1, 0, 0, 0), &abbr, &dst), 2 * H);
    CHECK_EQ_STR(abbr, "CEST");
    CHECK_EQ_INT(dst, 1);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 1, 15, 0, 0, 0), &abbr, &dst), 1 * H);
    CHECK_EQ_STR(abbr, "CET");
    /* 2100: last Sunday of March is the 28th, of October the 31st */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 3, 28, 0, 59, 59), NULL, NULL), 1 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 3, 28, 1, 0, 0), NULL, NULL), 2 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 10, 31, 0, 59, 59), NULL, NULL), 2 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 10, 31, 1, 0, 0), NULL, NULL), 1 * H);
    /* far future and far past stay sane */
    CHECK_EQ_INT(st_tz_offset_at(tz, INT64_MAX, NULL, NULL) % 3600, 0);
    CHECK_EQ_INT(st_tz_offset_at(tz, INT64_MIN, NULL, NULL), 53 * 60 + 28);
    st_tz_free(tz);
}

TEST(berlin_local_to_utc)
{
    st_tz *tz = fixture("Europe_Berlin");
    REQUIRE(tz);
    int64_t out[2] = { 0, 0 };
    /* spring forward: 02:00..02:59:59 does not exist */
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 3, 28, 2, 30, 0), out), 0);
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 3, 28, 2, 0, 0), out), 0);
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 3, 28, 1, 59, 59), out), 1);
    CHECK_EQ_INT(out[0], utc(2021, 3, 28, 0, 59, 59));
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 3, 28, 3, 0, 0), out), 1);
    CHECK_EQ_INT(out[0], utc(2021, 3, 28, 1, 0, 0));
    /* fall back: 02:00..02:59:59 happens twice, summer time first */
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 10, 31, 2, 30, 0), out), 2);
    CHECK_EQ_INT(out[0], utc(2021, 10, 31, 0, 30, 0));
    CHECK_EQ_INT(out[1], utc(2021, 10, 31, 1, 30, 0));
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 10, 31, 3, 0, 0), out), 1);
    CHECK_EQ_INT(out[0], utc(2021, 10, 31, 2, 0, 0));
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 10, 31, 1, 59, 59), out), 1);
    CHECK_EQ_INT(out[0], utc(2021, 10, 30, 23, 59, 59));
    /* ordinary days */
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 7, 1, 12, 0, 0), out), 1);
    CHECK_EQ_INT(out[0], utc(2021, 7, 1, 10, 0, 0));
    /* the footer years behave the same */
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2100, 3, 28, 2, 30, 0), out), 0);
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2100, 10, 31, 2, 30, 0), out), 2);
    CHECK_EQ_INT(out[0], utc(2100, 10, 31, 0, 30, 0));
    CHECK_EQ_INT(out[1], utc(2100, 10, 31, 1, 30, 0));
    /* absurd inputs do not overflow */
    CHECK_EQ_INT(st_tz_local_to_utc(tz, INT64_MAX, out), 1);
    CHECK_EQ_INT(st_tz_local_to_utc(tz, INT64_MIN, out), 1);
    st_tz_free(tz);
}

TEST(new_york)
{
    st_tz *tz = fixture("America_New_York");
    REQUIRE(tz);
    const char *abbr = NULL;
    int64_t out[2];
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 14, 6, 59, 59), &abbr, NULL), -5 * H);
    CHECK_EQ_STR(abbr, "EST");
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 14, 7, 0, 0), &abbr, NULL), -4 * H);
    CHECK_EQ_STR(abbr, "EDT");
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 11, 7, 5, 59, 59), NULL, NULL), -4 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 11, 7, 6, 0, 0), NULL, NULL), -5 * H);
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 3, 14, 2, 30, 0), out), 0);
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 11, 7, 1, 30, 0), out), 2);
    CHECK_EQ_INT(out[0], utc(2021, 11, 7, 5, 30, 0));
    CHECK_EQ_INT(out[1], utc(2021, 11, 7, 6, 30, 0));
    /* 2006 still had the old rule: first Sunday of April, last of October */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2006, 4, 2, 7, 0, 0), NULL, NULL), -4 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2006, 3, 20, 7, 0, 0), NULL, NULL), -5 * H);
    /* 1943: war time */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(1943, 1, 1, 0, 0, 0), &abbr, NULL), -4 * H);
    CHECK_EQ_STR(abbr, "EWT");
    /* before 1883-11-18 noon: LMT -4:56:02 */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(1880, 1, 1, 0, 0, 0), &abbr, NULL), -(4 * H + 56 * 60 + 2));
    CHECK_EQ_STR(abbr, "LMT");
    /* footer years: 2100-03-14 and 2100-11-07 are the second / first Sundays */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 3, 14, 7, 0, 0), NULL, NULL), -4 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 3, 14, 6, 59, 59), NULL, NULL), -5 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 11, 7, 6, 0, 0), NULL, NULL), -5 * H);
    char buf[ST_TIME_BUF];
    st_tz_format_rfc3339(tz, utc(2021, 7, 4, 16, 0, 0) * INT64_C(1000000000) + 5, buf);
    CHECK_EQ_STR(buf, "2021-07-04T12:00:00.000000005-04:00");
    st_tz_free(tz);
}

TEST(lord_howe)
{
    st_tz *tz = fixture("Australia_Lord_Howe");
    REQUIRE(tz);
    int64_t out[2];
    int dst;
    /* DST starts first Sunday of October 02:00 (+10:30) -> 02:30 (+11) */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 10, 2, 15, 29, 59), NULL, &dst), 10 * H + 1800);
    CHECK_EQ_INT(dst, 0);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 10, 2, 15, 30, 0), NULL, &dst), 11 * H);
    CHECK_EQ_INT(dst, 1);
    /* ends first Sunday of April 02:00 (+11) -> 01:30 (+10:30) */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 4, 3, 14, 59, 59), NULL, NULL), 11 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 4, 3, 15, 0, 0), NULL, NULL), 10 * H + 1800);
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 10, 3, 2, 15, 0), out), 0);
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 10, 3, 2, 30, 0), out), 1);
    CHECK_EQ_INT(out[0], utc(2021, 10, 2, 15, 30, 0));
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 4, 4, 1, 45, 0), out), 2);
    CHECK_EQ_INT(out[0], utc(2021, 4, 3, 14, 45, 0));
    CHECK_EQ_INT(out[1], utc(2021, 4, 3, 15, 15, 0));
    /* footer (southern hemisphere: DST spans the new year) */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 1, 1, 0, 0, 0), NULL, NULL), 11 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2099, 12, 31, 23, 0, 0), NULL, NULL), 11 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 7, 1, 0, 0, 0), NULL, NULL), 10 * H + 1800);
    char buf[ST_TIME_BUF];
    st_tz_format_rfc3339(tz, utc(2100, 1, 1, 0, 0, 0) * INT64_C(1000000000), buf);
    CHECK_EQ_STR(buf, "2100-01-01T11:00:00+11:00");
    st_tz_format_rfc3339(tz, utc(2100, 7, 1, 0, 0, 0) * INT64_C(1000000000), buf);
    CHECK_EQ_STR(buf, "2100-07-01T10:30:00+10:30");
    st_tz_free(tz);
}

/* The footer evaluator, checked against the zic-computed transition table:
 * a zone holding only the footer must agree, hour by hour, with the fat
 * fixture over the years the table still covers. */
TEST(footer_matches_table)
{
    static const struct { const char *file, *footer; } z[] = {
        { "Europe_Berlin", "CET-1CEST,M3.5.0,M10.5.0/3" },
        { "America_New_York", "EST5EDT,M3.2.0,M11.1.0" },
        { "Australia_Lord_Howe", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0" },
    };
    for (size_t i = 0; i < sizeof z / sizeof z[0]; i++) {
        st_tz *table = fixture(z[i].file), *rule = rule_zone(z[i].footer);
        REQUIRE(table && rule);
        int bad = 0;
        for (int64_t t = utc(2010, 1, 1, 0, 0, 0); t < utc(2037, 1, 1, 0, 0, 0); t += 1800) {
            const char *a1, *a2;
            int d1, d2;
            int32_t o1 = st_tz_offset_at(table, t, &a1, &d1), o2 = st_tz_offset_at(rule, t, &a2, &d2);
            if (o1 != o2 || d1 != d2 || strcmp(a1, a2) != 0) {
                if (bad++ < 3) printf("  %s at %lld: table %d %s, rule %d %s\n", z[i].file, (long long)t,
                                      (int)o1, a1, (int)o2, a2);
            }
        }
        CHECK_EQ_INT(bad, 0);
        st_tz_free(table);
        st_tz_free(rule);
    }
}

/* Every instant shows a wall clock that maps back to it. */
TEST(local_to_utc_property)
{
    static const char *files[] = { "Europe_Berlin", "America_New_York", "Australia_Lord_Howe", "UTC" };
    uint64_t x = 88172645463325252ull;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        st_tz *tz = fixture(files[f]);
        REQUIRE(tz);
        int bad = 0, twos = 0;
        for (int i = 0; i < 200000; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            int64_t u = utc(1850, 1, 1, 0, 0, 0) + (int64_t)(x % (uint64_t)(utc(2150, 1, 1, 0, 0, 0) - utc(1850, 1, 1, 0, 0, 0)));
            if (i % 2) u -= u % 900 + (int64_t)(x >> 60) % 2; /* near quarter hours, where transitions are */
            int64_t local = u + st_tz_offset_at(tz, u, NULL, NULL), out[2] = { 0, 0 };
            int n = st_tz_local_to_utc(tz, local, out);
            int hit = (n >= 1 && out[0] == u) || (n == 2 && out[1] == u);
            if (!hit || (n == 2 && out[0] >= out[1])) {
                if (bad++ < 3) printf("  %s: u=%lld n=%d\n", files[f], (long long)u, n);
            }
            for (int k = 0; k < n; k++)
                if (out[k] + st_tz_offset_at(tz, out[k], NULL, NULL) != local) bad++;
            twos += n == 2;
        }
        CHECK_EQ_INT(bad, 0);
        if (strcmp(files[f], "UTC") != 0) CHECK(twos > 0);
        st_tz_free(tz);
    }
}

/* zic -b slim files stop their tables early and leave the rest to the
 * footer: they must answer exactly as the fat ones do. */
TEST(slim_matches_fat)
{
    static const char *pairs[][2] = { { "America_New_York", "America_New_York_slim" },
                                      { "Europe_Berlin", "Europe_Berlin_slim" } };
    for (size_t i = 0; i < 2; i++) {
        st_tz *fat = fixture(pairs[i][0]), *slim = fixture(pairs[i][1]);
        REQUIRE(fat && slim);
        int bad = 0;
        for (int64_t t = utc(1850, 1, 1, 0, 0, 0); t < utc(2150, 1, 1, 0, 0, 0); t += 3600) {
            const char *a1, *a2;
            int d1, d2;
            int64_t o1[2], o2[2];
            if (st_tz_offset_at(fat, t, &a1, &d1) != st_tz_offset_at(slim, t, &a2, &d2) || d1 != d2 ||
                strcmp(a1, a2) != 0)
                bad++;
            int n1 = st_tz_local_to_utc(fat, t, o1), n2 = st_tz_local_to_utc(slim, t, o2);
            if (n1 != n2 || (n1 > 0 && o1[0] != o2[0]) || (n1 > 1 && o1[1] != o2[1])) bad++;
            if (bad == 1) { printf("  %s differs at %lld\n", pairs[i][1], (long long)t); bad++; }
        }
        CHECK_EQ_INT(bad, 0);
        st_tz_free(fat);
        st_tz_free(slim);
    }
}

TEST(v1_only)
{
    size_t len;
    uint8_t *b = read_fixture("Europe_Berlin", &len);
    REQUIRE(b);
    /* keep the 32-bit header + block, mark it version 0 */
    uint32_t cnt[6];
    for (int i = 0; i < 6; i++) cnt[i] = (uint32_t)b[20 + 4 * i] << 24 | b[21 + 4 * i] << 16 | b[22 + 4 * i] << 8 | b[23 + 4 * i];
    size_t v1 = 44 + cnt[3] * 5 + cnt[4] * 6 + cnt[5] + cnt[2] * 8 + cnt[1] + cnt[0];
    b[4] = 0;
    st_tz *tz = NULL;
    CHECK_EQ_INT(st_tz_from_bytes("v1", b, v1, &tz), 0);
    if (tz) {
        CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 28, 1, 0, 0), NULL, NULL), 2 * H);
        CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 28, 0, 59, 59), NULL, NULL), H);
        /* no footer: the last type persists after 2037 */
        CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 7, 1, 0, 0, 0), NULL, NULL), H);
        st_tz_free(tz);
    }
    free(b);
}

TEST(posix_rules)
{
    st_tz *tz;
    int dst;
    const char *abbr;
    /* permanent DST, as zic encodes it: always EDT */
    tz = rule_zone("EST5EDT,0/0,J365/25");
    REQUIRE(tz);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2030, 1, 1, 0, 0, 0), &abbr, &dst), -4 * H);
    CHECK_EQ_STR(abbr, "EDT");
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2030, 7, 1, 0, 0, 0), NULL, NULL), -4 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2030, 12, 31, 23, 59, 59), NULL, NULL), -4 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2031, 1, 1, 4, 30, 0), NULL, NULL), -4 * H);
    st_tz_free(tz);
    /* negative transition hours (v3): old Nuuk, 01:00 UTC both ways */
    tz = rule_zone("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1");
    REQUIRE(tz);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 28, 0, 59, 59), &abbr, NULL), -3 * H);
    CHECK_EQ_STR(abbr, "-03");
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 28, 1, 0, 0), &abbr, NULL), -2 * H);
    CHECK_EQ_STR(abbr, "-02");
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 10, 31, 0, 59, 59), NULL, NULL), -2 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 10, 31, 1, 0, 0), NULL, NULL), -3 * H);
    st_tz_free(tz);
    /* hours past 24 (v3): Israel, Thursday + 26 h = Friday 02:00 */
    tz = rule_zone("IST-2IDT,M3.4.4/26,M10.5.0");
    REQUIRE(tz);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 25, 23, 59, 59), NULL, NULL), 2 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 26, 0, 0, 0), NULL, NULL), 3 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 10, 30, 22, 59, 59), NULL, NULL), 3 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 10, 30, 23, 0, 0), NULL, NULL), 2 * H);
    st_tz_free(tz);
    /* Jn never counts Feb 29; n does */
    tz = rule_zone("AAA0BBB,J60/0,J300/0");
    REQUIRE(tz);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2024, 2, 29, 23, 59, 59), NULL, NULL), 0);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2024, 3, 1, 0, 0, 0), NULL, NULL), H); /* DST defaults to std + 1 h */
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2023, 3, 1, 0, 0, 0), NULL, NULL), H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2023, 2, 28, 23, 59, 59), NULL, NULL), 0);
    st_tz_free(tz);
    tz = rule_zone("AAA0BBB-1,59/0,300/0");
    REQUIRE(tz);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2024, 2, 28, 23, 59, 59), NULL, NULL), 0);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2024, 2, 29, 0, 0, 0), NULL, NULL), H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2023, 2, 28, 23, 59, 59), NULL, NULL), 0);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2023, 3, 1, 0, 0, 0), NULL, NULL), H);
    st_tz_free(tz);
    /* no DST, minutes in the offset */
    tz = rule_zone("<+0330>-3:30");
    REQUIRE(tz);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2050, 6, 1, 0, 0, 0), &abbr, &dst), 3 * H + 1800);
    CHECK_EQ_STR(abbr, "+0330");
    CHECK_EQ_INT(dst, 0);
    st_tz_free(tz);
    /* DST without rules: tzcode's US default */
    tz = rule_zone("EST5EDT");
    REQUIRE(tz);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2050, 7, 1, 0, 0, 0), NULL, NULL), -4 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2050, 1, 1, 0, 0, 0), NULL, NULL), -5 * H);
    st_tz_free(tz);
    /* week 5 means the last such weekday of the month */
    tz = rule_zone("CET-1CEST,M3.5.0,M10.5.0/3");
    REQUIRE(tz);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 28, 1, 0, 0), NULL, NULL), 2 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2020, 3, 29, 1, 0, 0), NULL, NULL), 2 * H);
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2020, 3, 29, 0, 59, 59), NULL, NULL), H);
    st_tz_free(tz);
    /* bad footers are corrupt files */
    static const char *bad[] = { "CET", "AB-1", "CET-25", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
                                 "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.5.0/168,M10.5.0",
                                 "CET-1CEST,J0,J100", "CET-1CEST,366,J100", "<CE T>-1", "<CET-1", "CET-1CEST,M3.5.0,M10.5.0x",
                                 "CET-1:60", "CET-1CEST,,", "CETCETCETCETCETCET-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t img[512];
        size_t n = make_rule_zone(bad[i], img);
        tz = NULL;
        int rc = st_tz_from_bytes("bad", img, n, &tz);
        if (rc != ST_ECORRUPT) printf("  footer \"%s\" accepted\n", bad[i]);
        CHECK_EQ_INT(rc, ST_ECORRUPT);
        CHECK(tz == NULL);
    }
}

TEST(corrupt_files)
{
    size_t len;
    uint8_t *b = read_fixture("Europe_Berlin", &len);
    REQUIRE(b);
    st_tz *tz = NULL;
    int64_t live = st_alloc_live();
    /* every truncation fails cleanly */
    for (size_t n = 0; n < len; n++) {
        int rc = st_tz_from_bytes("t", b, n, &tz);
        if (rc != ST_ECORRUPT) { CHECK_EQ_INT(rc, ST_ECORRUPT); break; }
    }
    CHECK_EQ_INT(st_tz_from_bytes("t", NULL, 0, &tz), ST_ECORRUPT);
    CHECK_EQ_INT(st_tz_from_bytes("t", "TZif", 4, &tz), ST_ECORRUPT);
    /* the v2 section of the fixture: locate it */
    uint32_t c[6];
    for (int i = 0; i < 6; i++) c[i] = (uint32_t)b[20 + 4 * i] << 24 | b[21 + 4 * i] << 16 | b[22 + 4 * i] << 8 | b[23 + 4 * i];
    size_t h2 = 44 + c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
    size_t t2 = h2 + 44;
    uint32_t timecnt2 = (uint32_t)b[h2 + 32] << 24 | b[h2 + 33] << 16 | b[h2 + 34] << 8 | b[h2 + 35];
    uint8_t *m = malloc(len);
    /* transitions out of order */
    memcpy(m, b, len);
    memcpy(m + t2 + 8 * 20, b + t2 + 8 * 21, 8);
    CHECK_EQ_INT(st_tz_from_bytes("t", m, len, &tz), ST_ECORRUPT);
    /* type index out of range */
    memcpy(m, b, len);
    m[t2 + 8 * timecnt2 + 3] = 200;
    CHECK_EQ_INT(st_tz_from_bytes("t", m, len, &tz), ST_ECORRUPT);
    /* huge counts */
    memcpy(m, b, len);
    m[h2 + 32] = 0x7f;
    CHECK_EQ_INT(st_tz_from_bytes("t", m, len, &tz), ST_ECORRUPT);
    memcpy(m, b, len);
    m[32] = 0xff;
    CHECK_EQ_INT(st_tz_from_bytes("t", m, len, &tz), ST_ECORRUPT);
    /* bad magic, bad version */
    memcpy(m, b, len);
    m[0] = 'X';
    CHECK_EQ_INT(st_tz_from_bytes("t", m, len, &tz), ST_ECORRUPT);
    memcpy(m, b, len);
    m[4] = '1';
    CHECK_EQ_INT(st_tz_from_bytes("t", m, len, &tz), ST_ECORRUPT);
    /* future versions are read like v2 */
    memcpy(m, b, len);
    m[4] = m[h2 + 4] = '4';
    CHECK_EQ_INT(st_tz_from_bytes("t", m, len, &tz), 0);
    st_tz_free(tz);
    tz = NULL;
    /* random byte changes never crash; whatever loads answers lookups */
    uint64_t x = 1;
    for (int i = 0; i < 20000; i++) {
        memcpy(m, b, len);
        for (int k = 0; k < 1 + i % 4; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            m[(x >> 33) % len] = (uint8_t)(x >> 20);
        }
        if (st_tz_from_bytes("t", m, len, &tz) == 0) {
            int64_t out[2];
            st_tz_offset_at(tz, utc(2021, 3, 28, 1, 0, 0), NULL, NULL);
            st_tz_offset_at(tz, utc(2100, 3, 28, 1, 0, 0), NULL, NULL);
            st_tz_local_to_utc(tz, utc(2021, 10, 31, 2, 30, 0), out);
            st_tz_free(tz);
            tz = NULL;
        }
    }
    CHECK_EQ_INT(st_alloc_live(), live);
    free(m);
    free(b);
}

TEST(out_of_memory)
{
    size_t len;
    uint8_t *b = read_fixture("America_New_York", &len);
    REQUIRE(b);
    int64_t live = st_alloc_live();
    int rc = -1;
    for (int64_t n = 0; n < 50 && rc != 0; n++) {
        st_tz *tz = NULL;
        st_alloc_fail_at(n, 0);
        rc = st_tz_from_bytes("ny", b, len, &tz);
        st_alloc_fail_at(-1, 0);
        if (rc == 0) {
            CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 7, 1, 0, 0, 0), NULL, NULL), -4 * H);
            st_tz_free(tz);
        } else {
            CHECK_EQ_INT(rc, ST_ENOMEM);
        }
        CHECK_EQ_INT(st_alloc_live(), live);
    }
    CHECK_EQ_INT(rc, 0);
    free(b);
    /* by name, through the file reader; and the built-in UTC fallback */
    static const char *dirs[] = { "tests/data/tz", "tests/data/tz/no-such-dir" };
    static const char *names[] = { "America_New_York", "Etc/UTC" };
    for (int k = 0; k < 2; k++) {
        setenv("TZDIR", dirs[k], 1);
        rc = -1;
        for (int64_t n = 0; n < 50 && rc != 0; n++) {
            st_tz *tz = NULL;
            st_alloc_fail_at(n, 0);
            rc = st_tz_load(names[k], strlen(names[k]), &tz);
            st_alloc_fail_at(-1, 0);
            if (rc == 0) {
                CHECK_EQ_STR(st_tz_name(tz), names[k]);
                st_tz_free(tz);
            } else {
                CHECK_EQ_INT(rc, ST_ENOMEM);
            }
            CHECK_EQ_INT(st_alloc_live(), live);
        }
        CHECK_EQ_INT(rc, 0);
    }
    unsetenv("TZDIR");
}

TEST(names_and_dirs)
{
    st_tz *tz = NULL;
    static const char *bad[] = { "", "/etc/passwd", "../etc/passwd", "Europe/../../etc/passwd", "a b",
                                 "Europe/Berlin\n", "Europe\\Berlin", "..", "Europe/Berlin.bak" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(st_tz_load(bad[i], strlen(bad[i]), &tz), ST_EINVAL);
    CHECK_EQ_INT(st_tz_load("Europe/Berlin\0x", 15, &tz), ST_EINVAL);
    char longname[300];
    memset(longname, 'A', sizeof longname);
    CHECK_EQ_INT(st_tz_load(longname, sizeof longname, &tz), ST_EINVAL);
    CHECK_EQ_INT(st_tz_load(NULL, 0, &tz), ST_EINVAL);
    CHECK(tz == NULL);

    /* $TZDIR is honoured */
    setenv("TZDIR", "tests/data/tz", 1);
    CHECK_EQ_INT(st_tz_load("Europe_Berlin", 13, &tz), 0);
    if (tz) {
        CHECK_EQ_STR(st_tz_name(tz), "Europe_Berlin");
        CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 7, 1, 0, 0, 0), NULL, NULL), 2 * H);
        st_tz_free(tz);
        tz = NULL;
    }
    CHECK_EQ_INT(st_tz_load("Nowhere_Zone", 12, &tz), ST_ENOTFOUND);
    /* a folder is not a zone */
    setenv("TZDIR", "tests/data", 1);
    CHECK_EQ_INT(st_tz_load("tz", 2, &tz), ST_ENOTFOUND);
    /* a file that is not TZif */
    setenv("TZDIR", ".", 1);
    CHECK_EQ_INT(st_tz_load("Makefile", 8, &tz), ST_ECORRUPT);
    /* no zoneinfo at all: UTC and Etc/UTC are built in */
    setenv("TZDIR", "tests/data/tz/no-such-dir", 1);
    CHECK_EQ_INT(st_tz_load("Europe/Berlin", 13, &tz), ST_ENOTFOUND);
    const char *abbr = NULL;
    CHECK_EQ_INT(st_tz_load("UTC", 3, &tz), 0);
    if (tz) {
        CHECK_EQ_STR(st_tz_name(tz), "UTC");
        CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 7, 1, 0, 0, 0), &abbr, NULL), 0);
        CHECK_EQ_STR(abbr, "UTC");
        st_tz_free(tz);
        tz = NULL;
    }
    CHECK_EQ_INT(st_tz_load("Etc/UTC", 7, &tz), 0);
    if (tz) {
        CHECK_EQ_STR(st_tz_name(tz), "Etc/UTC");
        int64_t out[2];
        CHECK_EQ_INT(st_tz_local_to_utc(tz, 12345, out), 1);
        CHECK_EQ_INT(out[0], 12345);
        st_tz_free(tz);
        tz = NULL;
    }
    unsetenv("TZDIR");

    /* the static UTC zone */
    const st_tz *u = st_tz_utc();
    CHECK_EQ_STR(st_tz_name(u), "UTC");
    CHECK_EQ_INT(st_tz_offset_at(u, 0, &abbr, NULL), 0);
    CHECK_EQ_STR(abbr, "UTC");
    st_tz_free((st_tz *)u); /* no-op */
    st_tz_free(NULL);
    char buf[ST_TIME_BUF];
    st_tz_format_rfc3339(u, 1500000000, buf);
    CHECK_EQ_STR(buf, "1970-01-01T00:00:01.5Z");
}

TEST(utc_fixture)
{
    st_tz *tz = fixture("UTC");
    REQUIRE(tz);
    const char *abbr;
    int dst;
    CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 7, 1, 0, 0, 0), &abbr, &dst), 0);
    CHECK_EQ_STR(abbr, "UTC");
    CHECK_EQ_INT(dst, 0);
    int64_t out[2];
    CHECK_EQ_INT(st_tz_local_to_utc(tz, utc(2021, 3, 28, 2, 30, 0), out), 1);
    CHECK_EQ_INT(out[0], utc(2021, 3, 28, 2, 30, 0));
    st_tz_free(tz);
}

/* The machine's own tzdata, when it has it. */
TEST(system_zone)
{
    st_tz *tz = NULL;
    int rc = st_tz_load("Europe/Berlin", 13, &tz);
    if (rc == ST_ENOTFOUND) {
        printf("  (no system Europe/Berlin: skipped)\n");
        return;
    }
    CHECK_EQ_INT(rc, 0);
    if (tz) {
        CHECK_EQ_STR(st_tz_name(tz), "Europe/Berlin");
        CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 3, 28, 1, 0, 0), NULL, NULL), 2 * H);
        CHECK_EQ_INT(st_tz_offset_at(tz, utc(2021, 10, 31, 1, 0, 0), NULL, NULL), H);
        CHECK_EQ_INT(st_tz_offset_at(tz, utc(2100, 7, 1, 0, 0, 0), NULL, NULL), 2 * H);
        st_tz_free(tz);
    }
    CHECK_EQ_INT(st_tz_load("UTC", 3, &tz), 0);
    if (tz) st_tz_free(tz);
}

int main(void)
{
    RUN(berlin_offsets);
    RUN(berlin_local_to_utc);
    RUN(new_york);
    RUN(lord_howe);
    RUN(footer_matches_table);
    RUN(local_to_utc_property);
    RUN(slim_matches_fat);
    RUN(v1_only);
    RUN(posix_rules);
    RUN(corrupt_files);
    RUN(out_of_memory);
    RUN(names_and_dirs);
    RUN(utc_fixture);
    RUN(system_zone);
    return unit_done();
}
