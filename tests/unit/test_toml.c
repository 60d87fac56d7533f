/* tests/unit/test_toml.c — common/toml: every construct, every error with its line. */
#include <math.h>
#include <stdint.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/toml.h"
#include "tests/unit/unit.h"

static char errbuf[256];

static st_toml_doc *parse(const char *text)
{
    st_toml_doc *d = NULL;
    int rc = st_toml_parse(text, strlen(text), "t.toml", &d, errbuf, sizeof errbuf);
    if (rc) printf("  parse failed: %s\n", errbuf);
    return rc ? NULL : d;
}

/* The error message for text, or "" when it parsed. */
static const char *perror_of(const char *text)
{
    st_toml_doc *d = NULL;
    int rc = st_toml_parse(text, strlen(text), "t.toml", &d, errbuf, sizeof errbuf);
    if (rc == 0) {
        st_toml_free(d);
        return "";
    }
    if (rc != ST_EPARSE) return "(not EPARSE)";
    return errbuf;
}

TEST(scalars)
{
    st_toml_doc *d = parse(
        "# comment\n"
        "s = \"a\\\"b\\\\c\\n\\t\\u00e9\\U0001F600\"  # trailing comment\n"
        "lit = 'C:\\path\\no escapes'\n"
        "i = 42\n"
        "neg = -17\n"
        "pos = +5\n"
        "big = 1_000_000\n"
        "hex = 0xdead_beef\n"
        "oct = 0o755\n"
        "bin = 0b1010\n"
        "f = 3.25\n"
        "e = -1e-3\n"
        "fe = 6.02_2E+23\n"
        "pinf = +inf\n"
        "nnan = -nan\n"
        "t = true\n"
        "no = false\n"
        "\"quoted key\" = 1\n"
        "'lit key' = 2\n"
        "bare-key_1 = 3\n"
        "empty = \"\"\n"
        "nul = \"a\\u0000b\"\n");
    REQUIRE(d);
    const st_toml_node *r = st_toml_root(d);
    const char *s;
    size_t n;
    REQUIRE(st_toml_as_string(st_toml_get(r, "s"), &s, &n) == 0);
    CHECK_EQ_STR(s, "a\"b\\c\n\t\xc3\xa9\xf0\x9f\x98\x80");
    CHECK_EQ_INT(st_toml_get_string(r, "lit", &s), 0);
    CHECK_EQ_STR(s, "C:\\path\\no escapes");
    int64_t v;
    CHECK(st_toml_get_int(r, "i", &v) == 0 && v == 42);
    CHECK(st_toml_get_int(r, "neg", &v) == 0 && v == -17);
    CHECK(st_toml_get_int(r, "pos", &v) == 0 && v == 5);
    CHECK(st_toml_get_int(r, "big", &v) == 0 && v == 1000000);
    CHECK(st_toml_get_int(r, "hex", &v) == 0 && v == 0xdeadbeef);
    CHECK(st_toml_get_int(r, "oct", &v) == 0 && v == 0755);
    CHECK(st_toml_get_int(r, "bin", &v) == 0 && v == 10);
    double f;
    CHECK(st_toml_get_float(r, "f", &f) == 0 && f == 3.25);
    CHECK(st_toml_get_float(r, "e", &f) == 0 && f == -1e-3);
    CHECK(st_toml_get_float(r, "fe", &f) == 0 && f == 6.022e23);
    CHECK(st_toml_get_float(r, "pinf", &f) == 0 && isinf(f) && f > 0);
    CHECK(st_toml_get_float(r, "nnan", &f) == 0 && isnan(f));
    CHECK(st_toml_get_float(r, "i", &f) == 0 && f == 42.0); /* ints read as floats */
    int b;
    CHECK(st_toml_get_bool(r, "t", &b) == 0 && b == 1);
    CHECK(st_toml_get_bool(r, "no", &b) == 0 && b == 0);
    CHECK(st_toml_get(r, "quoted key") != NULL);
    CHECK(st_toml_get(r, "lit key") != NULL);
    CHECK(st_toml_get_int(r, "bare-key_1", &v) == 0 && v == 3);
    CHECK(st_toml_get_string(r, "empty", &s) == 0 && s[0] == 0);
    REQUIRE(st_toml_as_string(st_toml_get(r, "nul"), &s, &n) == 0);
    CHECK_EQ_MEM(s, n, "a\0b", 3);
    /* Typed getters refuse other types; absent paths are ENOTFOUND. */
    CHECK_EQ_INT(st_toml_get_int(r, "s", &v), ST_EINVAL);
    CHECK_EQ_INT(st_toml_get_bool(r, "i", &b), ST_EINVAL);
    CHECK_EQ_INT(st_toml_get_string(r, "nope", &s), ST_ENOTFOUND);
    CHECK_EQ_INT(st_toml_get_int(r, "i.x", &v), ST_ENOTFOUND);
    CHECK_EQ_INT(st_toml_node_line(st_toml_get(r, "i")), 4);
    CHECK_EQ_INT(st_toml_node_type(st_toml_get(r, "f")), ST_TOML_FLOAT);
    CHECK_EQ_STR(st_toml_type_name(ST_TOML_TABLE), "table");
    st_toml_free(d);
}

TEST(tables_and_dotted_keys)
{
    st_toml_doc *d = parse(
        "top = 1\n"
        "a.b.c = \"x\"\n"
        "a . b . d = 2\n"
        "[http]\n"
        "bind = \"127.0.0.1:8086\"\n"
        "\n"
        "[wal.fsync]\n"
        "mode = \"group\"\n"
        "[ \"quoted\" . 'x' ]\n"
        "k = true\n"
        "[wal]\n"                  /* defining a parent after its child is fine */
        "segment-bytes = \"64MB\"\n");
    REQUIRE(d);
    const st_toml_node *r = st_toml_root(d);
    const char *s;
    int64_t v;
    CHECK(st_toml_get_string(r, "a.b.c", &s) == 0 && strcmp(s, "x") == 0);
    CHECK(st_toml_get_int(r, "a.b.d", &v) == 0 && v == 2);
    CHECK(st_toml_get_string(r, "http.bind", &s) == 0 && strcmp(s, "127.0.0.1:8086") == 0);
    CHECK(st_toml_get_string(r, "wal.fsync.mode", &s) == 0 && strcmp(s, "group") == 0);
    CHECK(st_toml_get_string(r, "wal.segment-bytes", &s) == 0);
    CHECK(st_toml_get(r, "quoted.x.k") != NULL);
    /* Keys in file order. */
    CHECK_EQ_INT(st_toml_table_count(r), 5);
    const char *key;
    const st_toml_node *n0 = st_toml_table_at(r, 0, &key);
    CHECK_EQ_STR(key, "top");
    CHECK_EQ_INT(st_toml_node_type(n0), ST_TOML_INT);
    st_toml_table_at(r, 1, &key);
    CHECK_EQ_STR(key, "a");
    st_toml_table_at(r, 4, &key);
    CHECK_EQ_STR(key, "quoted");
    CHECK(st_toml_table_at(r, 5, &key) == NULL);
    const st_toml_node *wal = st_toml_get(r, "wal");
    CHECK_EQ_INT(st_toml_table_count(wal), 2);
    st_toml_free(d);
}

TEST(arrays)
{
    st_toml_doc *d = parse(
        "a = [1, 2, 3]\n"
        "e = []\n"
        "multi = [\n"
        "  \"x\",  # first\n"
        "  'y',\n"
        "\n"
        "  \"z\",   # trailing comma\n"
        "]\n"
        "nested = [[1, 2], [\"a\"], []]\n"
        "mixed = [1, 2.5, true, \"s\", { k = 1 }]\n"
        "after = 1\n");
    REQUIRE(d);
    const st_toml_node *r = st_toml_root(d);
    const st_toml_node *a = st_toml_get(r, "a");
    CHECK_EQ_INT(st_toml_node_type(a), ST_TOML_ARRAY);
    CHECK_EQ_INT(st_toml_array_count(a), 3);
    int64_t v;
    CHECK(st_toml_as_int(st_toml_array_at(a, 2), &v) == 0 && v == 3);
    CHECK(st_toml_array_at(a, 3) == NULL);
    CHECK_EQ_INT(st_toml_array_is_tables(a), 0);
    CHECK_EQ_INT(st_toml_array_count(st_toml_get(r, "e")), 0);
    const st_toml_node *m = st_toml_get(r, "multi");
    REQUIRE(st_toml_array_count(m) == 3);
    const char *s;
    CHECK(st_toml_as_string(st_toml_array_at(m, 1), &s, NULL) == 0 && strcmp(s, "y") == 0);
    CHECK_EQ_INT(st_toml_node_line(st_toml_array_at(m, 2)), 7);
    const st_toml_node *nested = st_toml_get(r, "nested");
    CHECK_EQ_INT(st_toml_array_count(nested), 3);
    CHECK_EQ_INT(st_toml_array_count(st_toml_array_at(nested, 0)), 2);
    const st_toml_node *mixed = st_toml_get(r, "mixed");
    CHECK_EQ_INT(st_toml_array_count(mixed), 5);
    CHECK(st_toml_get_int(st_toml_array_at(mixed, 4), "k", &v) == 0 && v == 1);
    CHECK_EQ_INT(st_toml_node_line(st_toml_get(r, "after")), 11);
    st_toml_free(d);
}

TEST(array_of_tables)
{
    st_toml_doc *d = parse(
        "[mqtt]\n"
        "bind = \"127.0.0.1:1883\"\n"
        "[[mqtt.rule]]\n"
        "topic = \"plant/+/temp\"\n"
        "db = \"plant\"\n"
        "[[mqtt.rule]]\n"
        "topic = \"plant/#\"\n"
        "[mqtt.rule.extra]\n"      /* sub-table of the last rule */
        "x = 1\n"
        "[[mqtt.rule]]\n");
    REQUIRE(d);
    const st_toml_node *r = st_toml_root(d);
    const st_toml_node *rules = st_toml_get(r, "mqtt.rule");
    REQUIRE(rules);
    CHECK_EQ_INT(st_toml_array_is_tables(rules), 1);
    REQUIRE(st_toml_array_count(rules) == 3);
    const char *s;
    CHECK(st_toml_get_string(st_toml_array_at(rules, 0), "topic", &s) == 0 && strcmp(s, "plant/+/temp") == 0);
    CHECK(st_toml_get_string(st_toml_array_at(rules, 0), "db", &s) == 0 && strcmp(s, "plant") == 0);
    CHECK(st_toml_get_string(st_toml_array_at(rules, 1), "topic", &s) == 0 && strcmp(s, "plant/#") == 0);
    int64_t v;
    CHECK(st_toml_get_int(st_toml_array_at(rules, 1), "extra.x", &v) == 0 && v == 1);
    CHECK_EQ_INT(st_toml_table_count(st_toml_array_at(rules, 2)), 0);
    CHECK_EQ_INT(st_toml_node_line(st_toml_array_at(rules, 1)), 6);
    st_toml_free(d);
}

TEST(inline_tables)
{
    st_toml_doc *d = parse(
        "point = { x = 1, y = 2, name.first = \"a\" }\n"
        "empty = {}\n"
        "nest = { inner = { v = [1, 2] } }\n");
    REQUIRE(d);
    const st_toml_node *r = st_toml_root(d);
    int64_t v;
    CHECK(st_toml_get_int(r, "point.y", &v) == 0 && v == 2);
    const char *s;
    CHECK(st_toml_get_string(r, "point.name.first", &s) == 0 && strcmp(s, "a") == 0);
    CHECK_EQ_INT(st_toml_table_count(st_toml_get(r, "empty")), 0);
    CHECK_EQ_INT(st_toml_array_count(st_toml_get(r, "nest.inner.v")), 2);
    st_toml_free(d);
}

TEST(line_endings_and_bom)
{
    st_toml_doc *d = parse("\xEF\xBB\xBF" "a = 1\r\n\r\n[t]\r\nb = 'x' # c\r\n");
    REQUIRE(d);
    int64_t v;
    CHECK(st_toml_get_int(st_toml_root(d), "a", &v) == 0 && v == 1);
    CHECK_EQ_INT(st_toml_node_line(st_toml_get(st_toml_root(d), "t.b")), 4);
    st_toml_free(d);
    d = parse("");
    REQUIRE(d);
    CHECK_EQ_INT(st_toml_table_count(st_toml_root(d)), 0);
    st_toml_free(d);
}

TEST(errors_name_line)
{
    struct { const char *text, *msg; } cases[] = {
        { "a = 1\nb 2\n", "t.toml:2: expected '=' after key" },
        { "a = 1\na = 2\n", "t.toml:2: duplicate key 'a'" },
        { "\n\nx = \"abc\n", "t.toml:3: unterminated string" },
        { "x = \"a\\qb\"\n", "t.toml:1: invalid escape '\\q' in string" },
        { "x = \"\\u12\"\n", "t.toml:1: \\u needs 4 hex digits" },
        { "x = \"\\uD800\"\n", "t.toml:1: \\u escape is not a Unicode scalar value" },
        { "x = \"\"\"multi\"\"\"\n", "t.toml:1: multi-line strings are not supported" },
        { "x = 1979-05-27\n", "t.toml:1: dates and times are not supported" },
        { "x = 07\n", "t.toml:1: leading zeros are not allowed in '07'" },
        { "x = 1__0\n", "t.toml:1: invalid number '1__0'" },
        { "x = _1\n", "t.toml:1: expected a value (string, number, true/false, array or inline table)" },
        { "x = 1.\n", "t.toml:1: invalid number '1.'" },
        { "x = 99999999999999999999\n", "t.toml:1: integer out of range" },
        { "x = 1e999\n", "t.toml:1: float out of range" },
        { "x = -0x10\n", "t.toml:1: a sign is not allowed on a hex integer" },
        { "x = 0xfg\n", "t.toml:1: invalid number '0xfg'" },
        { "x = 1 2\n", "t.toml:1: unexpected '2' after value (expected end of line)" },
        { "x =\n", "t.toml:1: expected a value" },
        { "x = tru\n", "t.toml:1: expected a value (string, number, true/false, array or inline table)" },
        { "x = [1, 2\n", "t.toml:2: unterminated array (expected ']')" },
        { "x = [1 2]\n", "t.toml:1: expected ',' or ']' in array" },
        { "x = { a = 1\n", "t.toml:1: unterminated inline table (expected '}' on the same line)" },
        { "x = { a = 1 b = 2 }\n", "t.toml:1: expected ',' or '}' in inline table" },
        { "x = { a = 1 }\n[x]\n", "t.toml:2: table [x] is defined twice" },
        { "x = { a = 1 }\nx.b = 2\n", "t.toml:2: cannot add keys to 'x': it is already defined as an inline table" },
        { "[a]\n[a]\n", "t.toml:2: table [a] is defined twice" },
        { "a.b = 1\n[a]\n", "t.toml:2: table [a] is defined twice" },
        { "a = 1\n[a]\n", "t.toml:2: 'a' is already defined as integer" },
        { "a = 1\n[a.b]\n", "t.toml:2: 'a' is already defined as integer" },
        { "a = 1\na.b = 2\n", "t.toml:2: cannot add keys to 'a': it is already defined as integer" },
        { "[a]\n[[a]]\n", "t.toml:2: 'a' is already defined as table, not an array of tables" },
        { "a = [1]\n[[a]]\n", "t.toml:2: 'a' is already defined as array, not an array of tables" },
        { "[[a]]\n[a]\n", "t.toml:2: 'a' is already defined as array" },
        { "[a\n", "t.toml:1: expected ']' to close the table header" },
        { "[[a]\n", "t.toml:1: expected ']]' to close the table header" },
        { "[]\n", "t.toml:1: invalid character ']' in key" },
        { "[a] x\n", "t.toml:1: unexpected 'x' after table header (expected end of line)" },
        { "= 1\n", "t.toml:1: invalid character '=' in key" },
        { "a.=1\n", "t.toml:1: invalid character '=' in key" },
        { "a = \"x\ty\x01\"\n", "t.toml:1: control character in string" },
        { "# bell \x07\n", "t.toml:1: control character in comment" },
        { "x = 1\ry = 2\n", "t.toml:1: unexpected '\r' after value (expected end of line)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = perror_of(cases[i].text);
        if (strcmp(got, cases[i].msg) != 0) {
            printf("  case %zu: got \"%s\" want \"%s\"\n", i, got, cases[i].msg);
            CHECK(0);
        }
    }
}

TEST(deep_nesting_bounded)
{
    char buf[400];
    strcpy(buf, "x = ");
    size_t n = 4;
    for (int i = 0; i < 100; i++) buf[n++] = '[';
    for (int i = 0; i < 100; i++) buf[n++] = ']';
    buf[n] = 0;
    CHECK_EQ_STR(perror_of(buf), "t.toml:1: values nested more than 64 deep");
    n = 4;
    for (int i = 0; i < 60; i++) buf[n++] = '[';
    for (int i = 0; i < 60; i++) buf[n++] = ']';
    buf[n] = 0;
    CHECK_EQ_STR(perror_of(buf), "");
}

TEST(oom_walk)
{
    const char *text = "a = 1\n[t]\nx = [1, 2, 3, 4, 5, 6]\n[[r]]\ny = \"string\"\n[[r]]\nz = { q = 1 }\n";
    int64_t live0 = st_alloc_live();
    for (int64_t n = 0; n < 1000; n++) {
        st_alloc_fail_at(n, 0);
        st_toml_doc *d = NULL;
        int rc = st_toml_parse(text, strlen(text), NULL, &d, errbuf, sizeof errbuf);
        st_alloc_fail_at(-1, 0);
        if (rc == 0) {
            CHECK_EQ_INT(st_toml_array_count(st_toml_get(st_toml_root(d), "r")), 2);
            st_toml_free(d);
            CHECK_EQ_INT(st_alloc_live(), live0);
            return;
        }
        CHECK_EQ_INT(rc, ST_ENOMEM);
        CHECK_EQ_STR(errbuf, "<input>: out of memory");
        CHECK_EQ_INT(st_alloc_live(), live0);
    }
    CHECK(0);
}

int main(void)
{
    RUN(scalars);
    RUN(tables_and_dotted_keys);
    RUN(arrays);
    RUN(array_of_tables);
    RUN(inline_tables);
    RUN(line_endings_and_bom);
    RUN(errors_name_line);
    RUN(deep_nesting_bounded);
    RUN(oom_walk);
    return unit_done();
}
