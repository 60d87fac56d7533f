/*
 * tests/unit/test_payload.c — MQTT payload decoders: every JSON shape with
 * exact values (NaN/Inf bit-exact), IoTDB shapes, plain values, line
 * protocol payloads with rule tags, auto-detection, bad payloads and their
 * messages, allocation failures. Points are rendered to text
 * ("meas,tags field=value,... ts q=0x...") and compared. Single-threaded.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/num.h"
#include "common/point.h"
#include "ingest/payload.h"
#include "unit.h"

#define NOW 1700000000123456789LL

typedef struct sink {
    char text[8192];
    size_t n;
    int points;
    uint64_t first_bits; /* bits of the first float field seen */
    int have_bits;
} sink;

static void put(sink *s, const char *fmt, const char *p, size_t n)
{
    int w = snprintf(s->text + s->n, sizeof s->text - s->n, fmt, (int)n, p);
    if (w > 0 && s->n + (size_t)w < sizeof s->text) s->n += (size_t)w;
}

static int on_point(void *ctx, const lp_line *l)
{
    sink *s = ctx;
    char num[64];
    if (s->points++) put(s, "%.*s", "\n", 1);
    put(s, "%.*s", l->measurement.ptr, l->measurement.len);
    for (uint32_t i = 0; i < l->tag_count; i++) {
        put(s, ",%.*s", l->tags[i].key.ptr, l->tags[i].key.len);
        put(s, "=%.*s", l->tags[i].val.ptr, l->tags[i].val.len);
    }
    for (uint32_t i = 0; i < l->field_count; i++) {
        const lp_field *f = &l->fields[i];
        put(s, i ? ",%.*s=" : " %.*s=", f->key.ptr, f->key.len);
        switch (f->value.type) {
        case ST_TYPE_FLOAT:
            if (!s->have_bits) { memcpy(&s->first_bits, &f->value.v.f, 8); s->have_bits = 1; }
            st_format_double(f->value.v.f, num);
            put(s, "%.*s", num, strlen(num));
            break;
        case ST_TYPE_INT: snprintf(num, sizeof num, "%lldi", (long long)f->value.v.i); put(s, "%.*s", num, strlen(num)); break;
        case ST_TYPE_UINT: snprintf(num, sizeof num, "%lluu", (unsigned long long)f->value.v.u); put(s, "%.*s", num, strlen(num)); break;
        case ST_TYPE_BOOL: put(s, "%.*s", f->value.v.b ? "true" : "false", f->value.v.b ? 4 : 5); break;
        case ST_TYPE_STRING: put(s, "\"%.*s\"", f->value.v.s.ptr, f->value.v.s.len); break;
        default: put(s, "%.*s", "?", 1);
        }
    }
    if (l->has_ts) { snprintf(num, sizeof num, " %lld", (long long)l->ts_ns); put(s, "%.*s", num, strlen(num)); }
    else if (l->ts_ns != NOW) put(s, "%.*s", " BAD-DEFAULT-TS", 15);
    if (l->has_quality) { snprintf(num, sizeof num, " q=0x%08x", l->quality); put(s, "%.*s", num, strlen(num)); }
    return 0;
}

typedef struct res {
    int rc;
    sink s;
    pl_stats st;
    char err[PL_ERR_BYTES];
} res;

static res R;

/* Decode payload on topic with the given tmap (NULL = default mapping). */
static const char *run_map(const tmap *m, const char *topic, const char *payload, size_t len)
{
    st_arena a;
    st_arena_init(&a, 0);
    memset(&R, 0, sizeof R);
    tmap_result map;
    int rc = tmap_match(m, st_slice_cstr(topic), &a, &map);
    if (rc) { R.rc = rc; st_arena_fini(&a); return "MAP-ERROR"; }
    pl_opts o = { .now_ns = NOW };
    R.rc = pl_decode(&map, st_slice_cstr(topic), payload, len, &o, &a, on_point, &R.s, &R.st, R.err,
                     sizeof R.err);
    st_arena_fini(&a);
    return R.s.text;
}

static const char *run(const char *topic, const char *payload)
{
    return run_map(NULL, topic, payload, strlen(payload));
}

static tmap *one_rule(const char *topic, const char *meas, const char *format, const char *field,
                      const char *k, const char *v)
{
    tmap *m;
    if (tmap_create(&m)) return NULL;
    const char *keys[1] = { k }, *vals[1] = { v };
    tmap_rule_def d = { topic, meas, keys, vals, k ? 1 : 0, format, field };
    char err[256];
    if (tmap_add_rule(m, &d, err, sizeof err)) { tmap_destroy(m); return NULL; }
    return m;
}

TEST(test_json_number)
{
    CHECK_EQ_STR(run("plant/l1/temp", "21.5"), "plant,level1=l1 temp=21.5");
    CHECK_EQ_INT(R.rc, 0);
    CHECK_EQ_INT(R.st.format, TMAP_FORMAT_PLAIN); /* a bare number sniffs as plain */
    tmap *m = one_rule("plant/+line/#field", "m", "json", NULL, NULL, NULL);
    REQUIRE(m);
    CHECK_EQ_STR(run_map(m, "plant/l1/temp", " 42 ", 4), "m,line=l1 temp=42");
    CHECK_EQ_INT(R.st.format, TMAP_FORMAT_JSON);
    CHECK_EQ_STR(run_map(m, "plant/l1/temp", "0.1", 3), "m,line=l1 temp=0.1");
    CHECK_EQ_U64(R.s.first_bits, 0x3FB999999999999AULL);
    CHECK_EQ_STR(run_map(m, "plant/l1/on", "true", 4), "m,line=l1 on=true");
    CHECK_EQ_STR(run_map(m, "plant/l1/s", "\"run\"", 5), "m,line=l1 s=\"run\"");
    /* integers are floats, exactly rounded */
    CHECK_EQ_STR(run_map(m, "plant/l1/c", "9007199254740993", 16), "m,line=l1 c=9007199254740992");
    CHECK_EQ_STR(run_map(m, "plant/l1/c", "NaN", 3), "m,line=l1 c=NaN");
    CHECK_EQ_U64(R.s.first_bits, 0x7FF8000000000000ULL);
    CHECK_EQ_STR(run_map(m, "plant/l1/c", "-Infinity", 9), "m,line=l1 c=-Inf");
    CHECK_EQ_U64(R.s.first_bits, 0xFFF0000000000000ULL);
    CHECK_EQ_STR(run_map(m, "plant/l1/c", "-0", 2), "m,line=l1 c=-0");
    CHECK_EQ_U64(R.s.first_bits, 0x8000000000000000ULL);
    tmap_destroy(m);
}

TEST(test_json_fields_object)
{
    CHECK_EQ_STR(run("plant/l1/m1", "{\"temp\": 21.5, \"on\": true, \"state\": \"run\", \"n\": null}"),
                 "plant,level1=l1 temp=21.5,on=true,state=\"run\"");
    CHECK_EQ_INT(R.rc, 0);
    CHECK_EQ_INT(R.st.skipped, 1);
    CHECK_EQ_INT(R.st.format, TMAP_FORMAT_JSON);
    /* nested objects flattened with '.', arrays by index; ts and quality */
    CHECK_EQ_STR(run("dev/x", "{\"a\":{\"b\":1,\"c\":{\"d\":\"x\"}},\"arr\":[1,2],\"ts\":1700000000,\"quality\":2147483648}"),
                 "dev a.b=1,a.c.d=\"x\",arr.0=1,arr.1=2 1700000000000000000 q=0x80000000");
    /* a quality that is not an integer stays a field */
    CHECK_EQ_STR(run("dev/x", "{\"v\":1,\"quality\":\"good\"}"), "dev v=1,quality=\"good\"");
    /* duplicate keys: the last wins */
    CHECK_EQ_STR(run("dev/x", "{\"v\":1,\"w\":2,\"v\":3}"), "dev w=2,v=3");
    /* escapes and \u incl. a surrogate pair */
    CHECK_EQ_STR(run("dev/x", "{\"s\\u00e9\":\"a\\\"b\\\\c\\/\\n\\u20ac\\ud83d\\ude00\"}"),
                 "dev s\xc3\xa9=\"a\"b\\c/\n\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* NaN and Infinity as bare tokens, bit-exact */
    CHECK_EQ_STR(run("dev/x", "{\"a\":Infinity}"), "dev a=+Inf");
    CHECK_EQ_U64(R.s.first_bits, 0x7FF0000000000000ULL);
    CHECK_EQ_STR(run("dev/x", "{\"a\":-NaN}"), "dev a=NaN");
    CHECK_EQ_U64(R.s.first_bits, 0xFFF8000000000000ULL);
    /* only nulls -> no point, no error */
    CHECK_EQ_STR(run("dev/x", "{\"a\":null}"), "");
    CHECK_EQ_INT(R.rc, 0);
    CHECK_EQ_INT(R.s.points, 0);
}

TEST(test_json_value_object)
{
    CHECK_EQ_STR(run("plant/l1/temp", "{\"value\": 21.5, \"ts\": 1700000000123, \"quality\": 0}"),
                 "plant,level1=l1 temp=21.5 1700000000123000000 q=0x00000000");
    CHECK_EQ_STR(run("plant/l1/temp", "{\"value\": 1, \"timestamp\": 1700000000123456, \"unit\": \"C\"}"),
                 "plant,level1=l1 temp=1,unit=\"C\" 1700000000123456000");
    CHECK_EQ_STR(run("plant/l1/temp", "{\"value\": 1, \"time\": 1700000000123456789}"),
                 "plant,level1=l1 temp=1 1700000000123456789");
    CHECK_EQ_STR(run("plant/l1/temp", "{\"value\": 1, \"time\": 1700000000.5}"),
                 "plant,level1=l1 temp=1 1700000000500000000");
    CHECK_EQ_STR(run("plant/l1/temp", "{\"value\": 1, \"time\": \"2023-11-14T22:13:20.25Z\"}"),
                 "plant,level1=l1 temp=1 1700000000250000000");
    CHECK_EQ_STR(run("plant/l1/temp", "{\"value\": 1, \"ts\": \"1700000000\"}"),
                 "plant,level1=l1 temp=1 1700000000000000000");
    CHECK_EQ_STR(run("plant/l1/temp", "{\"value\": false, \"quality\": 1083179008}"),
                 "plant,level1=l1 temp=false q=0x40900000");
    CHECK_EQ_STR(run("plant/l1/temp", "{\"value\": null}"), "");
    CHECK_EQ_INT(R.rc, 0);
    /* array of value objects */
    CHECK_EQ_STR(run("p/t", "[{\"value\":1,\"ts\":1},{\"value\":2,\"ts\":2}]"),
                 "p t=1 1000000000\np t=2 2000000000");
    CHECK_EQ_INT(R.st.points, 2);
}

TEST(test_json_iotdb)
{
    CHECK_EQ_STR(run("root.sg.d1", "{\"device\":\"root.sg.d1\",\"timestamp\":1586076045524,"
                                   "\"measurements\":[\"s1\",\"s2\"],\"values\":[0.530635,0.530635]}"),
                 "root.sg.d1 s1=0.530635,s2=0.530635 1586076045524000000");
    CHECK_EQ_STR(run("root.sg.d1", "{\"device\":\"root.sg.d1\",\"timestamps\":[1586076045524,1586076065526],"
                                   "\"measurements\":[\"s1\",\"s2\"],\"values\":[[0.530635,0.530635],[0.530655,0.530695]]}"),
                 "root.sg.d1 s1=0.530635,s2=0.530635 1586076045524000000\n"
                 "root.sg.d1 s1=0.530655,s2=0.530695 1586076065526000000");
    CHECK_EQ_STR(run("x", "[{\"device\":\"d1\",\"timestamp\":1,\"measurements\":[\"a\"],\"values\":[1]},"
                          "{\"device\":\"d2\",\"timestamp\":2,\"measurements\":[\"b\",\"c\",\"d\",\"e\"],"
                          "\"datatypes\":[\"INT64\",\"BOOLEAN\",\"TEXT\",\"INT32\"],"
                          "\"values\":[9007199254740993,true,\"hi\",\"-7\"]}]"),
                 "d1 a=1 1000000000\nd2 b=9007199254740993i,c=true,d=\"hi\",e=-7i 2000000000");
    run("x", "{\"device\":\"d\",\"measurements\":[\"a\",\"b\"],\"values\":[1]}");
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK(strstr(R.err, "topic x: json: iotdb \"values\" must be an array as long as \"measurements\"") != NULL);
    run("x", "{\"device\":\"d\",\"measurements\":[\"a\"],\"datatypes\":[\"INT32\"],\"values\":[1.5]}");
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK(strstr(R.err, "does not fit its datatype") != NULL);
}

TEST(test_json_errors)
{
    struct { const char *in, *msg; } cases[] = {
        { "{\"a\" 1}", "json: at byte 5: expected ':' after object key" },
        { "{\"a\":1,}", "json: at byte 7: object key expected" },
        { "[1,2", "json: at byte 4: unterminated array" },
        { "{\"a\":\"x", "unterminated string" },
        { "{\"a\":\"\\ud800x\"}", "high surrogate not followed by a low surrogate" },
        { "{\"a\":\"\\udc00\"}", "lone low surrogate" },
        { "{\"a\":\"\\q\"}", "bad escape in string" },
        { "{\"a\":01}", "expected ',' or '}'" },
        { "{\"a\":1.}", "digit expected after '.'" },
        { "{\"a\":1e999}", "number out of range" },
        { "{\"a\":tru}", "unknown literal" },
        { "{\"a\":1} x", "text after the JSON value" },
        { "[1,2]", "json: array elements must be objects" },
        { "null", "json: payload is null" },
        { "{\"value\":[1]}", "\"value\" must be a number, boolean or string" },
        { "{\"value\":1,\"ts\":true}", "timestamp must be a number or a string" },
        { "{\"value\":1,\"ts\":\"yesterday\"}", "bad timestamp \"yesterday\"" },
        { "{\"value\":1,\"ts\":99999999999}", "timestamp 99999999999 out of range" },
        { "{\"a\":\"x\ty\"}", "control character in string" },
    };
    tmap *m = one_rule("t/+field", NULL, "json", NULL, NULL, NULL);
    REQUIRE(m);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_map(m, "t/x", cases[i].in, strlen(cases[i].in));
        CHECK_EQ_INT(R.rc, ST_EPARSE);
        CHECK_EQ_INT(R.s.points, 0);
        CHECK_EQ_INT(R.st.errors, 1);
        if (!strstr(R.err, cases[i].msg) || strncmp(R.err, "topic t/x: ", 11) != 0)
            UNIT__FAIL("case %zu: \"%s\" not in \"%s\"", i, cases[i].msg, R.err);
    }
    /* nesting bound */
    char deep[200];
    memset(deep, '[', sizeof deep);
    run_map(NULL, "t/x", deep, sizeof deep);
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK(strstr(R.err, "nesting too deep") != NULL);
    /* flattened keys are bounded: a 70 KB key over 20 elements is refused */
    {
        static char big[80000];
        size_t n = 0;
        n += (size_t)snprintf(big + n, sizeof big - n, "{\"");
        memset(big + n, 'k', 70000);
        n += 70000;
        n += (size_t)snprintf(big + n, sizeof big - n, "\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}");
        run_map(m, "t/x", big, n);
        CHECK_EQ_INT(R.rc, ST_EPARSE);
        CHECK(strstr(R.err, "flattened field keys too long") != NULL);
    }
    /* all or nothing: a good point before a bad one is not delivered */
    run("t/x", "[{\"value\":1},{\"value\":{}}]");
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK_EQ_INT(R.s.points, 0);
    run_map(m, "t/x", "", 0);
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK(strstr(R.err, "value expected") != NULL);
    tmap_destroy(m);
}

TEST(test_plain)
{
    tmap *m = one_rule("sensors/+host/+field", "sensors", "plain", NULL, NULL, NULL);
    REQUIRE(m);
    CHECK_EQ_STR(run_map(m, "sensors/h1/temp", "21.5\r\n", 6), "sensors,host=h1 temp=21.5");
    CHECK_EQ_STR(run_map(m, "sensors/h1/temp", "21", 2), "sensors,host=h1 temp=21");
    CHECK_EQ_STR(run_map(m, "sensors/h1/temp", "-21i", 4), "sensors,host=h1 temp=-21i");
    CHECK_EQ_STR(run_map(m, "sensors/h1/temp", "18446744073709551615u", 21),
                 "sensors,host=h1 temp=18446744073709551615u");
    CHECK_EQ_STR(run_map(m, "sensors/h1/temp", "TRUE", 4), "sensors,host=h1 temp=true");
    CHECK_EQ_STR(run_map(m, "sensors/h1/temp", "f", 1), "sensors,host=h1 temp=false");
    CHECK_EQ_STR(run_map(m, "sensors/h1/temp", "+inf", 4), "sensors,host=h1 temp=+Inf");
    CHECK_EQ_U64(R.s.first_bits, 0x7FF0000000000000ULL);
    CHECK_EQ_STR(run_map(m, "sensors/h1/state", " running ", 9), "sensors,host=h1 state=\"running\"");
    run_map(m, "sensors/h1/temp", " \n", 2);
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK_EQ_STR(R.err, "topic sensors/h1/temp: plain: empty payload");
    run_map(m, "sensors/h1/temp", "1e999", 5);
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK_EQ_STR(R.err, "topic sensors/h1/temp: plain: number out of range: 1e999");
    run_map(m, "sensors/h1/temp", "99999999999999999999i", 21);
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    tmap_destroy(m);
}

TEST(test_lp)
{
    /* default: written as it stands, nothing from the topic */
    CHECK_EQ_STR(run("telegraf/host01/cpu", "cpu,host=a usage=1.5 1000\nmem,host=a used=3i\n"),
                 "cpu,host=a usage=1.5 1000\nmem,host=a used=3i");
    CHECK_EQ_INT(R.rc, 0);
    CHECK_EQ_INT(R.st.format, TMAP_FORMAT_LP);
    /* rule tags merged (the line's own tag wins) */
    tmap *m = one_rule("plant/+line/#", NULL, "lp", NULL, "site", "s1");
    REQUIRE(m);
    const char *p = "cpu,zone=z,line=own v=1 5\ncpu v=2,quality=2147483648i 6";
    CHECK_EQ_STR(run_map(m, "plant/l7/x", p, strlen(p)),
                 "cpu,line=own,site=s1,zone=z v=1 5\ncpu,line=l7,site=s1 v=2 6 q=0x80000000");
    /* partial: good lines delivered, first bad one reported */
    p = "cpu v=1 5\nbad line\ncpu v=2 6\nworse";
    run_map(m, "plant/l7/x", p, strlen(p));
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK_EQ_INT(R.st.points, 2);
    CHECK_EQ_INT(R.st.errors, 2);
    CHECK(strncmp(R.err, "topic plant/l7/x: lp: line 2: unable to parse 'bad line'", 56) == 0);
    run_map(m, "plant/l7/x", "\n# c\n", 5);
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK(strstr(R.err, "no lines") != NULL);
    tmap_destroy(m);
}

TEST(test_sniff)
{
    st_slice t = st_slice_cstr("a/b");
    CHECK_EQ_INT(pl_sniff(st_slice_cstr("spBv1.0/G/NDATA/E"), "{", 1), TMAP_FORMAT_SPARKPLUG);
    CHECK_EQ_INT(pl_sniff(t, " {\"a\":1}", 8), TMAP_FORMAT_JSON);
    CHECK_EQ_INT(pl_sniff(t, "[]", 2), TMAP_FORMAT_JSON);
    CHECK_EQ_INT(pl_sniff(t, "\"x\"", 3), TMAP_FORMAT_JSON);
    CHECK_EQ_INT(pl_sniff(t, "1.5", 3), TMAP_FORMAT_PLAIN);
    CHECK_EQ_INT(pl_sniff(t, "false", 5), TMAP_FORMAT_PLAIN);
    CHECK_EQ_INT(pl_sniff(t, "cpu v=1", 7), TMAP_FORMAT_LP);
    CHECK_EQ_INT(pl_sniff(t, "running", 7), TMAP_FORMAT_LP);
    /* auto + text that is no lp: the lp error */
    run("a/b", "running");
    CHECK_EQ_INT(R.rc, ST_EPARSE);
    CHECK(strstr(R.err, "missing fields") != NULL);
    /* format sparkplug is not pl_decode's */
    tmap *m = one_rule("x/#", NULL, "sparkplug", NULL, NULL, NULL);
    REQUIRE(m);
    run_map(m, "x/y", "", 0);
    CHECK_EQ_INT(R.rc, ST_EUNSUPPORTED);
    tmap_destroy(m);
}

static int stop_cb(void *ctx, const lp_line *l)
{
    (void)l;
    return ++*(int *)ctx == 2 ? 77 : 0;
}

TEST(test_callback_stop)
{
    st_arena a;
    st_arena_init(&a, 0);
    tmap_result map;
    REQUIRE(tmap_match(NULL, st_slice_cstr("p/t"), &a, &map) == 0);
    pl_opts o = { .now_ns = NOW };
    int n = 0;
    const char *p = "[{\"value\":1},{\"value\":2},{\"value\":3}]";
    CHECK_EQ_INT(pl_decode(&map, st_slice_cstr("p/t"), p, strlen(p), &o, &a, stop_cb, &n, NULL, NULL, 0), 77);
    CHECK_EQ_INT(n, 2);
    n = 0;
    p = "m v=1\nm v=2\nm v=3";
    CHECK_EQ_INT(pl_decode(&map, st_slice_cstr("p/t"), p, strlen(p), &o, &a, stop_cb, &n, NULL, NULL, 0), 77);
    CHECK_EQ_INT(n, 2);
    st_arena_fini(&a);
}

TEST(test_alloc_failures)
{
    const char *p = "{\"a\":{\"b\":[1,2,3]},\"s\":\"x\\u20acy\",\"ts\":1,\"c\":2,\"c\":3}";
    int64_t live = st_alloc_live();
    for (int64_t n = 0;; n++) {
        st_arena a;
        st_arena_init(&a, 64);
        st_alloc_fail_at(n, 0);
        tmap_result map;
        sink s;
        memset(&s, 0, sizeof s);
        int rc = tmap_match(NULL, st_slice_cstr("p/q/t"), &a, &map);
        pl_opts o = { .now_ns = NOW };
        char err[PL_ERR_BYTES];
        if (rc == 0) rc = pl_decode(&map, st_slice_cstr("p/q/t"), p, strlen(p), &o, &a, on_point, &s, NULL, err, sizeof err);
        st_alloc_fail_at(-1, 0);
        st_arena_fini(&a);
        CHECK_EQ_INT(st_alloc_live(), live);
        if (rc == 0) {
            CHECK_EQ_STR(s.text, "p,level1=q a.b.0=1,a.b.1=2,a.b.2=3,s=\"x\xe2\x82\xacy\",c=3 1000000000");
            break;
        }
        CHECK_EQ_INT(rc, ST_ENOMEM);
        CHECK_EQ_INT(s.points, 0);
        if (n > 200) { CHECK(0); break; }
    }
}

int main(void)
{
    RUN(test_json_number);
    RUN(test_json_fields_object);
    RUN(test_json_value_object);
    RUN(test_json_iotdb);
    RUN(test_json_errors);
    RUN(test_plain);
    RUN(test_lp);
    RUN(test_sniff);
    RUN(test_callback_stop);
    RUN(test_alloc_failures);
    return unit_done();
}
