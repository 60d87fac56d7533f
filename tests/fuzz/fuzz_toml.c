/*
 * tests/fuzz/fuzz_toml.c — parse arbitrary bytes as TOML, then walk the
 * whole tree through the public API (every node's type, line, scalars,
 * arrays, tables, path lookups) and feed it to the settings loader.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/settings.h"
#include "common/toml.h"

typedef struct fcfg { bool b; int64_t i; uint64_t sz; int64_t d; char *s; int e; st_addr a; st_strlist l; } fcfg;
#define O(f, t) ST_SETTING_OFFSET(fcfg, f, t)
static const st_setting rows[] = {
    { .name = "b", .key = "b", .group = "g", .type = ST_SET_BOOL, .offset = O(b, bool), .help = "" },
    { .name = "i", .key = "t.i", .group = "g", .type = ST_SET_INT, .offset = O(i, int64_t), .min = -5, .max = 5, .help = "" },
    { .name = "sz", .key = "t.sz", .group = "g", .type = ST_SET_SIZE, .offset = O(sz, uint64_t), .help = "" },
    { .name = "d", .key = "t.u.d", .group = "g", .type = ST_SET_DURATION, .offset = O(d, int64_t), .unit_ns = 1000000, .help = "" },
    { .name = "s", .key = "s", .group = "g", .type = ST_SET_STRING, .offset = O(s, char *), .def = "x", .help = "" },
    { .name = "e", .key = "e", .group = "g", .type = ST_SET_ENUM, .offset = O(e, int), .choices = "a|b", .help = "" },
    { .name = "a", .key = "a", .group = "g", .type = ST_SET_ADDR, .offset = O(a, st_addr), .flags = ST_SET_F_OFF, .help = "" },
    { .name = "l", .key = "l", .group = "g", .type = ST_SET_STRLIST, .offset = O(l, st_strlist), .help = "" },
};

static volatile size_t sink;

static void walk(const st_toml_node *n, int depth)
{
    sink += (size_t)st_toml_node_line(n) + (size_t)depth;
    const char *s;
    size_t len;
    int64_t i;
    double d;
    int b;
    switch (st_toml_node_type(n)) {
    case ST_TOML_STRING: if (st_toml_as_string(n, &s, &len) == 0 && len) sink += (unsigned char)s[len - 1]; break;
    case ST_TOML_INT: if (st_toml_as_int(n, &i) == 0) sink += (size_t)i; break;
    case ST_TOML_FLOAT: if (st_toml_as_float(n, &d) == 0) sink += d > 0; break;
    case ST_TOML_BOOL: if (st_toml_as_bool(n, &b) == 0) sink += (size_t)b; break;
    case ST_TOML_ARRAY:
        sink += (size_t)st_toml_array_is_tables(n);
        for (size_t k = 0; k < st_toml_array_count(n); k++) walk(st_toml_array_at(n, k), depth + 1);
        break;
    case ST_TOML_TABLE:
        for (size_t k = 0; k < st_toml_table_count(n); k++) {
            const char *key;
            const st_toml_node *c = st_toml_table_at(n, k, &key);
            sink += strlen(key);
            if (st_toml_get(n, key) == NULL && !strchr(key, '.')) sink++;
            walk(c, depth + 1);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    st_toml_doc *doc = NULL;
    if (st_toml_parse((const char *)data, size, "fuzz.toml", &doc, err, sizeof err) == 0) {
        const st_toml_node *root = st_toml_root(doc);
        walk(root, 0);
        const char *s;
        int64_t i;
        (void)st_toml_get_string(root, "a.b.c", &s);
        (void)st_toml_get_int(root, "t.i", &i);
        st_toml_free(doc);
    }
    fcfg c;
    memset(&c, 0, sizeof c);
    (void)st_settings_defaults(rows, sizeof rows / sizeof rows[0], &c, err, sizeof err);
    (void)st_settings_load_toml(rows, sizeof rows / sizeof rows[0], &c, (const char *)data, size, "fuzz.toml", err, sizeof err);
    st_settings_free(rows, sizeof rows / sizeof rows[0], &c);
    return 0;
}
