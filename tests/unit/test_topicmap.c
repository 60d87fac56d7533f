/*
 * tests/unit/test_topicmap.c — MQTT topic rules: captures, constants,
 * first match wins, the default mapping, refused rules, and allocation
 * failures. Single-threaded.
 */
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/err.h"
#include "ingest/topicmap.h"
#include "unit.h"

static char sbuf[8][256];

/* slice -> NUL-terminated copy (rotating buffers) */
static const char *S(st_slice s)
{
    static int k;
    char *b = sbuf[k++ & 7];
    snprintf(b, 256, "%.*s", (int)s.len, s.ptr ? s.ptr : "");
    return b;
}

/* tags as "k=v,k=v" */
static const char *T(const tmap_result *r)
{
    static char b[512];
    size_t n = 0;
    b[0] = 0;
    for (uint32_t i = 0; i < r->tag_count; i++)
        n += (size_t)snprintf(b + n, sizeof b - n, "%s%.*s=%.*s", i ? "," : "", (int)r->tags[i].key.len,
                              r->tags[i].key.ptr, (int)r->tags[i].val.len, r->tags[i].val.ptr);
    return b;
}

static int add(tmap *m, const char *topic, const char *meas, const char *format, const char *field,
               const char *k1, const char *v1, char *err)
{
    const char *keys[1] = { k1 }, *vals[1] = { v1 };
    tmap_rule_def d = { topic, meas, keys, vals, k1 ? 1 : 0, format, field };
    return tmap_add_rule(m, &d, err, 256);
}

TEST(test_captures)
{
    tmap *m;
    char err[256];
    st_arena a;
    st_arena_init(&a, 0);
    REQUIRE(tmap_create(&m) == 0);
    CHECK_EQ_INT(add(m, "plant/+line/+machine/#field", "machines", "json", NULL, "site", "a", err), 0);
    tmap_result r;
    REQUIRE(tmap_match(m, st_slice_cstr("plant/l1/m7/temp/inner"), &a, &r) == 0);
    CHECK_EQ_INT(r.rule, 0);
    CHECK_EQ_INT(r.format, TMAP_FORMAT_JSON);
    CHECK_EQ_STR(S(r.measurement), "machines");
    CHECK_EQ_STR(S(r.field), "temp/inner");
    CHECK_EQ_STR(T(&r), "line=l1,machine=m7,site=a");
    /* '#' matching nothing: the rule's field */
    REQUIRE(tmap_match(m, st_slice_cstr("plant/l1/m7"), &a, &r) == 0);
    CHECK_EQ_INT(r.rule, 0);
    CHECK_EQ_STR(S(r.field), "value");
    /* empty level: tag left out */
    REQUIRE(tmap_match(m, st_slice_cstr("plant//m7/x"), &a, &r) == 0);
    CHECK_EQ_STR(T(&r), "machine=m7,site=a");
    /* literal mismatch -> default */
    REQUIRE(tmap_match(m, st_slice_cstr("other/l1/m7/x"), &a, &r) == 0);
    CHECK_EQ_INT(r.rule, -1);
    tmap_destroy(m);
    st_arena_fini(&a);
}

TEST(test_measurement_and_field_captures)
{
    tmap *m;
    char err[256];
    st_arena a;
    st_arena_init(&a, 0);
    REQUIRE(tmap_create(&m) == 0);
    CHECK_EQ_INT(add(m, "sensors/+measurement/+host/+field", NULL, "plain", NULL, NULL, NULL, err), 0);
    CHECK_EQ_INT(add(m, "sensors/#", "fallback", "lp", "v", NULL, NULL, err), 0);
    CHECK_EQ_INT(add(m, "+/x", NULL, NULL, NULL, NULL, NULL, err), 0);
    tmap_result r;
    REQUIRE(tmap_match(m, st_slice_cstr("sensors/cpu/h1/usage"), &a, &r) == 0);
    CHECK_EQ_INT(r.rule, 0);
    CHECK_EQ_INT(r.format, TMAP_FORMAT_PLAIN);
    CHECK_EQ_STR(S(r.measurement), "cpu");
    CHECK_EQ_STR(S(r.field), "usage");
    CHECK_EQ_STR(T(&r), "host=h1");
    /* first match wins: 4 levels -> rule 0; 3 levels -> rule 1 */
    REQUIRE(tmap_match(m, st_slice_cstr("sensors/cpu/h1"), &a, &r) == 0);
    CHECK_EQ_INT(r.rule, 1);
    CHECK_EQ_INT(r.format, TMAP_FORMAT_LP);
    CHECK_EQ_STR(S(r.measurement), "fallback");
    CHECK_EQ_STR(S(r.field), "v");
    CHECK_EQ_INT(r.tag_count, 0);
    /* "sensors" alone matches "sensors/#" (as in MQTT) */
    REQUIRE(tmap_match(m, st_slice_cstr("sensors"), &a, &r) == 0);
    CHECK_EQ_INT(r.rule, 1);
    /* no measurement: first level */
    REQUIRE(tmap_match(m, st_slice_cstr("dev/x"), &a, &r) == 0);
    CHECK_EQ_INT(r.rule, 2);
    CHECK_EQ_STR(S(r.measurement), "dev");
    CHECK_EQ_INT(r.format, TMAP_FORMAT_AUTO);
    /* '$' topics are not matched by a leading wildcard */
    REQUIRE(tmap_match(m, st_slice_cstr("$SYS/x"), &a, &r) == 0);
    CHECK_EQ_INT(r.rule, -1);
    CHECK_EQ_INT(tmap_rule_count(m), 3);
    tmap_destroy(m);
    st_arena_fini(&a);
}

TEST(test_default_mapping)
{
    st_arena a;
    st_arena_init(&a, 0);
    tmap_result r;
    REQUIRE(tmap_match(NULL, st_slice_cstr("plant/line1/m7/temp"), &a, &r) == 0);
    CHECK_EQ_INT(r.rule, -1);
    CHECK_EQ_INT(r.format, TMAP_FORMAT_AUTO);
    CHECK_EQ_STR(S(r.measurement), "plant");
    CHECK_EQ_STR(S(r.field), "temp");
    CHECK_EQ_STR(T(&r), "level1=line1,level2=m7");
    REQUIRE(tmap_match(NULL, st_slice_cstr("solo"), &a, &r) == 0);
    CHECK_EQ_STR(S(r.measurement), "solo");
    CHECK_EQ_STR(S(r.field), "value");
    CHECK_EQ_INT(r.tag_count, 0);
    REQUIRE(tmap_match(NULL, st_slice_cstr("/a//b/"), &a, &r) == 0);
    CHECK_EQ_STR(S(r.measurement), "a");
    CHECK_EQ_STR(S(r.field), "b");
    CHECK_EQ_INT(r.tag_count, 0);
    CHECK_EQ_INT(tmap_match(NULL, st_slice_cstr(""), &a, &r), ST_EINVAL);
    CHECK_EQ_INT(tmap_match(NULL, st_slice_cstr("///"), &a, &r), ST_EINVAL);
    /* 12 levels: tags sorted by key bytes (level10 before level2) */
    REQUIRE(tmap_match(NULL, st_slice_cstr("m/1/2/3/4/5/6/7/8/9/10/f"), &a, &r) == 0);
    CHECK_EQ_STR(T(&r), "level1=1,level10=10,level2=2,level3=3,level4=4,level5=5,level6=6,level7=7,level8=8,level9=9");
    char big[1024];
    size_t n = 0;
    for (int i = 0; i < TMAP_MAX_DEFAULT_LEVELS + 1; i++) n += (size_t)snprintf(big + n, sizeof big - n, "x/");
    CHECK_EQ_INT(tmap_match(NULL, (st_slice){ big, n }, &a, &r), ST_ELIMIT);
    st_arena_fini(&a);
}

TEST(test_bad_rules)
{
    tmap *m;
    char err[256];
    REQUIRE(tmap_create(&m) == 0);
    CHECK_EQ_INT(add(m, "a/#x/b", NULL, NULL, NULL, NULL, NULL, err), ST_EINVAL);
    CHECK(strstr(err, "'#' must be the last level") != NULL);
    CHECK(strstr(err, "a/#x/b") != NULL);
    CHECK_EQ_INT(add(m, "a/b+c", NULL, NULL, NULL, NULL, NULL, err), ST_EINVAL);
    CHECK(strstr(err, "whole level") != NULL);
    CHECK_EQ_INT(add(m, "a/+x/+x", NULL, NULL, NULL, NULL, NULL, err), ST_EINVAL);
    CHECK(strstr(err, "captured twice") != NULL);
    CHECK_EQ_INT(add(m, "a/+measurement", "m", NULL, NULL, NULL, NULL, err), ST_EINVAL);
    CHECK(strstr(err, "both a constant and a capture") != NULL);
    CHECK_EQ_INT(add(m, "a/+site", NULL, NULL, NULL, "site", "x", err), ST_EINVAL);
    CHECK(strstr(err, "\"site\" is both") != NULL);
    CHECK_EQ_INT(add(m, "a/+time", NULL, NULL, NULL, NULL, NULL, err), ST_EINVAL);
    CHECK_EQ_INT(add(m, "a", NULL, "xml", NULL, NULL, NULL, err), ST_EINVAL);
    CHECK(strstr(err, "format \"xml\"") != NULL);
    CHECK_EQ_INT(add(m, "a", NULL, NULL, NULL, "k", "", err), ST_EINVAL);
    CHECK_EQ_INT(add(m, "", NULL, NULL, NULL, NULL, NULL, err), ST_EINVAL);
    CHECK_EQ_INT(tmap_rule_count(m), 0);
    tmap_format f;
    CHECK_EQ_INT(tmap_format_parse("sparkplug", &f), 0);
    CHECK_EQ_INT(f, TMAP_FORMAT_SPARKPLUG);
    CHECK_EQ_STR(tmap_format_name(TMAP_FORMAT_PLAIN), "plain");
    tmap_destroy(m);
}

TEST(test_alloc_failures)
{
    int64_t live = st_alloc_live();
    for (int64_t n = 0;; n++) {
        tmap *m = NULL;
        char err[256];
        st_alloc_fail_at(n, 0);
        int rc = tmap_create(&m);
        if (rc == 0) rc = add(m, "p/+a/#field", "x", NULL, NULL, "k", "v", err);
        if (rc == 0) rc = add(m, "q/+b", NULL, NULL, NULL, NULL, NULL, err);
        st_alloc_fail_at(-1, 0);
        tmap_destroy(m);
        CHECK_EQ_INT(st_alloc_live(), live);
        if (rc == 0) break;
        CHECK_EQ_INT(rc, ST_ENOMEM);
        if (n > 50) { CHECK(0); break; }
    }
}

int main(void)
{
    RUN(test_captures);
    RUN(test_measurement_and_field_captures);
    RUN(test_default_mapping);
    RUN(test_bad_rules);
    RUN(test_alloc_failures);
    return unit_done();
}
