/* tests/unit/test_settings.c — common/settings with a test table, and stratad's own table. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/settings.h"
#include "server/config.h"
#include "tests/unit/unit.h"

typedef struct tcfg {
    bool flag;
    int64_t count;
    uint64_t size_bytes;
    int64_t wait_ms;
    char *name;
    int mode;
    st_addr listen;
    st_addr opt;
    st_strlist tags;
} tcfg;

#define T(f, ctype) ST_SETTING_OFFSET(tcfg, f, ctype)
static const st_setting rows[] = {
    { .name = "flag", .key = "flag", .group = "A", .type = ST_SET_BOOL, .offset = T(flag, bool), .help = "a bool" },
    { .name = "count", .key = "a.count", .group = "A", .type = ST_SET_INT, .offset = T(count, int64_t), .def = "5",
      .min = -10, .max = 100, .help = "an int" },
    { .name = "size", .key = "a.size", .group = "B", .type = ST_SET_SIZE, .offset = T(size_bytes, uint64_t),
      .def = "25MB", .min = 0, .max = INT64_C(1) << 42, .help = "a size" },
    { .name = "wait", .key = "b.wait", .group = "B", .type = ST_SET_DURATION, .offset = T(wait_ms, int64_t),
      .unit_ns = 1000000, .def = "100ms", .min = 0, .max = 3600000, .help = "a duration" },
    { .name = "name", .key = "name", .group = "A", .type = ST_SET_STRING, .offset = T(name, char *), .def = "x",
      .help = "a string" },
    { .name = "mode", .key = "b.mode", .group = "B", .type = ST_SET_ENUM, .offset = T(mode, int),
      .choices = "group|interval|never", .def = "group", .help = "an enum" },
    { .name = "listen", .key = "listen", .group = "C", .type = ST_SET_ADDR, .offset = T(listen, st_addr),
      .def = "127.0.0.1:8086", .help = "an address" },
    { .name = "opt", .key = "opt", .group = "C", .type = ST_SET_ADDR, .offset = T(opt, st_addr),
      .def = "off", .flags = ST_SET_F_OFF, .help = "an address or off" },
    { .name = "tag", .key = "c.tags", .group = "C", .type = ST_SET_STRLIST, .offset = T(tags, st_strlist),
      .def = "d1,d2", .help = "a list" },
};
#define NROWS (sizeof rows / sizeof rows[0])

static char err[512];

static int set(tcfg *c, const char *name, const char *v)
{
    return st_settings_set(st_settings_find(rows, NROWS, name), c, v, err, sizeof err);
}

/* Expect set(name, v) to fail with exactly msg. */
#define SET_FAILS(c, name, v, msg) do { CHECK_EQ_INT(set(c, name, v), ST_EINVAL); CHECK_EQ_STR(err, msg); } while (0)

static int load_args(tcfg *c, int argc, const char **argv)
{
    return st_settings_load(rows, NROWS, c, argc, (char **)argv, NULL, err, sizeof err);
}

TEST(defaults)
{
    tcfg c = { 0 };
    REQUIRE(st_settings_defaults(rows, NROWS, &c, err, sizeof err) == 0);
    CHECK_EQ_INT(c.flag, 0);
    CHECK_EQ_INT(c.count, 5);
    CHECK_EQ_U64(c.size_bytes, 25000000);
    CHECK_EQ_INT(c.wait_ms, 100);
    CHECK_EQ_STR(c.name, "x");
    CHECK_EQ_INT(c.mode, 0);
    CHECK_EQ_STR(c.listen.host, "127.0.0.1");
    CHECK_EQ_INT(c.listen.port, 8086);
    CHECK(!c.listen.off);
    CHECK(c.opt.off);
    REQUIRE(c.tags.count == 2);
    CHECK_EQ_STR(c.tags.items[1], "d2");
    st_settings_free(rows, NROWS, &c);
    CHECK(c.name == NULL && c.tags.count == 0 && c.listen.host == NULL);
}

TEST(bools_ints)
{
    tcfg c = { 0 };
    REQUIRE(st_settings_defaults(rows, NROWS, &c, err, sizeof err) == 0);
    const char *t[] = { "true", "yes", "on", "1", "TRUE" }, *f[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < 5; i++) { c.flag = false; CHECK(set(&c, "flag", t[i]) == 0 && c.flag); }
    for (size_t i = 0; i < 4; i++) { c.flag = true; CHECK(set(&c, "flag", f[i]) == 0 && !c.flag); }
    SET_FAILS(&c, "flag", "maybe", "--flag: 'maybe' is not a boolean (use true or false)");
    CHECK(set(&c, "count", "-10") == 0 && c.count == -10);
    CHECK(set(&c, "count", "+100") == 0 && c.count == 100);
    SET_FAILS(&c, "count", "101", "--count: '101' is out of range (-10..100)");
    SET_FAILS(&c, "count", "-11", "--count: '-11' is out of range (-10..100)");
    SET_FAILS(&c, "count", "99999999999999999999", "--count: '99999999999999999999' is out of range (-10..100)");
    SET_FAILS(&c, "count", "1x", "--count: '1x' is not an integer");
    SET_FAILS(&c, "count", "", "--count: '' is not an integer");
    CHECK_EQ_INT(c.count, 100); /* failures leave the field alone */
    st_settings_free(rows, NROWS, &c);
}

TEST(sizes)
{
    struct { const char *in; uint64_t want; } ok[] = {
        { "0", 0 }, { "123", 123 }, { "123b", 123 }, { "64k", 64000 }, { "64KB", 64000 }, { "25MB", 25000000 },
        { "25mb", 25000000 }, { "1G", 1000000000 }, { "2GB", 2000000000 }, { "4KiB", 4096 }, { "4MiB", 4194304 },
        { "1GiB", 1073741824 }, { "1.5GB", 1500000000 }, { "0.5KiB", 512 }, { "1TiB", 1ULL << 40 }, { "10 MB", 10000000 },
        { "18446744073709551615", UINT64_MAX },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0;
        int rc = st_settings_parse_size(ok[i].in, &v);
        if (rc || v != ok[i].want) { printf("  size %s -> %d %llu\n", ok[i].in, rc, (unsigned long long)v); CHECK(0); }
    }
    const char *bad[] = { "", "x", "12x", "-1", "1.", ".5", "1 2", "5 XB", "MB" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        if (st_settings_parse_size(bad[i], &v) != ST_EINVAL) { printf("  size %s accepted\n", bad[i]); CHECK(0); }
    }
    uint64_t v;
    CHECK_EQ_INT(st_settings_parse_size("18446744073709551616", &v), ST_ERANGE);
    CHECK_EQ_INT(st_settings_parse_size("20000000000TB", &v), ST_ERANGE);
    tcfg c = { 0 };
    REQUIRE(st_settings_defaults(rows, NROWS, &c, err, sizeof err) == 0);
    SET_FAILS(&c, "size", "12x", "--size: '12x' is not a size (use e.g. 25MB)");
    SET_FAILS(&c, "size", "5TiB", "--size: '5TiB' is out of range (0..4398046511104 bytes)");
    CHECK(set(&c, "size", "4TiB") == 0 && c.size_bytes == 4398046511104ULL);
    st_settings_free(rows, NROWS, &c);
}

TEST(durations)
{
    struct { const char *in; int64_t ns; } ok[] = {
        { "0", 0 }, { "10s", 10000000000LL }, { "500ms", 500000000LL }, { "1h", 3600000000000LL },
        { "1h30m", 5400000000000LL }, { "1d", 86400000000000LL }, { "1w", 604800000000000LL }, { "250us", 250000 },
        { "250u", 250000 }, { "250\xc2\xb5s", 250000 }, { "7ns", 7 }, { "1m1ms", 60001000000LL },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        int rc = st_settings_parse_duration(ok[i].in, &v);
        if (rc || v != ok[i].ns) { printf("  dur %s -> %d %lld\n", ok[i].in, rc, (long long)v); CHECK(0); }
    }
    const char *bad[] = { "", "10", "s", "10x", "1.5s", "-1s", "10 s", "ms10" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;
        if (st_settings_parse_duration(bad[i], &v) != ST_EINVAL) { printf("  dur '%s' accepted\n", bad[i]); CHECK(0); }
    }
    int64_t v;
    CHECK_EQ_INT(st_settings_parse_duration("9999999999999999h", &v), ST_ERANGE);
    tcfg c = { 0 };
    REQUIRE(st_settings_defaults(rows, NROWS, &c, err, sizeof err) == 0);
    CHECK(set(&c, "wait", "2s") == 0 && c.wait_ms == 2000);
    CHECK(set(&c, "wait", "1h") == 0 && c.wait_ms == 3600000);
    SET_FAILS(&c, "wait", "1500us", "--wait: '1500us' is not a whole number of ms");
    SET_FAILS(&c, "wait", "2h", "--wait: '2h' is out of range (0ms..3600000ms)");
    SET_FAILS(&c, "wait", "soon", "--wait: 'soon' is not a duration (use e.g. 100ms, 10s, 1h)");
    st_settings_free(rows, NROWS, &c);
}

TEST(strings_enums_addrs)
{
    tcfg c = { 0 };
    REQUIRE(st_settings_defaults(rows, NROWS, &c, err, sizeof err) == 0);
    CHECK(set(&c, "name", "") == 0 && strcmp(c.name, "") == 0);
    CHECK(set(&c, "name", "hello world") == 0 && strcmp(c.name, "hello world") == 0);
    CHECK(set(&c, "mode", "never") == 0 && c.mode == 2);
    CHECK(set(&c, "mode", "Interval") == 0 && c.mode == 1);
    SET_FAILS(&c, "mode", "sometimes", "--mode: 'sometimes' is not one of group|interval|never");
    SET_FAILS(&c, "mode", "grou", "--mode: 'grou' is not one of group|interval|never");
    CHECK(set(&c, "listen", "0.0.0.0:0") == 0 && strcmp(c.listen.host, "0.0.0.0") == 0 && c.listen.port == 0);
    CHECK(set(&c, "listen", ":9000") == 0 && strcmp(c.listen.host, "") == 0 && c.listen.port == 9000);
    CHECK(set(&c, "listen", "[::1]:65535") == 0 && strcmp(c.listen.host, "::1") == 0 && c.listen.port == 65535);
    CHECK(set(&c, "listen", "localhost:80") == 0 && strcmp(c.listen.host, "localhost") == 0);
    SET_FAILS(&c, "listen", "off", "--listen: 'off' is not an address (use host:port, [::1]:port or :port)");
    SET_FAILS(&c, "listen", "1.2.3.4:65536", "--listen: '1.2.3.4:65536': port out of range (0..65535)");
    SET_FAILS(&c, "listen", "1.2.3.4", "--listen: '1.2.3.4' is not an address (use host:port, [::1]:port or :port)");
    SET_FAILS(&c, "listen", "::1:80", "--listen: '::1:80' is not an address (use host:port, [::1]:port or :port)");
    SET_FAILS(&c, "listen", "h:", "--listen: 'h:' is not an address (use host:port, [::1]:port or :port)");
    SET_FAILS(&c, "listen", "h:8x", "--listen: 'h:8x' is not an address (use host:port, [::1]:port or :port)");
    SET_FAILS(&c, "opt", "x", "--opt: 'x' is not an address (use host:port, [::1]:port or :port, or off)");
    CHECK(set(&c, "opt", "127.0.0.1:1883") == 0 && !c.opt.off && c.opt.port == 1883);
    CHECK(set(&c, "opt", "OFF") == 0 && c.opt.off && c.opt.host == NULL);
    st_buf b;
    st_buf_init(&b);
    CHECK(st_settings_format(st_settings_find(rows, NROWS, "listen"), &c, &b) == 0);
    CHECK_EQ_STR(b.ptr, "localhost:80");
    st_buf_clear(&b);
    set(&c, "listen", "[::1]:1");
    st_settings_format(st_settings_find(rows, NROWS, "listen"), &c, &b);
    CHECK_EQ_STR(b.ptr, "[::1]:1");
    st_buf_clear(&b);
    st_settings_format(st_settings_find(rows, NROWS, "opt"), &c, &b);
    CHECK_EQ_STR(b.ptr, "off");
    st_buf_clear(&b);
    st_settings_format(st_settings_find(rows, NROWS, "size"), &c, &b);
    CHECK_EQ_STR(b.ptr, "25MB");
    st_buf_clear(&b);
    st_settings_format(st_settings_find(rows, NROWS, "wait"), &c, &b);
    CHECK_EQ_STR(b.ptr, "100ms");
    st_buf_clear(&b);
    st_settings_format(st_settings_find(rows, NROWS, "tag"), &c, &b);
    CHECK_EQ_STR(b.ptr, "d1,d2");
    st_buf_fini(&b);
    st_settings_free(rows, NROWS, &c);
}

TEST(argv_forms)
{
    tcfg c = { 0 };
    const char *argv[] = { "prog", "--flag", "--count", "7", "--size=4MiB", "--name", "n1", "--mode=never",
                           "--tag", "a", "--tag=b", "--listen", ":0" };
    REQUIRE(load_args(&c, 13, argv) == 0);
    CHECK(c.flag);
    CHECK_EQ_INT(c.count, 7);
    CHECK_EQ_U64(c.size_bytes, 4194304);
    CHECK_EQ_STR(c.name, "n1");
    CHECK_EQ_INT(c.mode, 2);
    REQUIRE(c.tags.count == 2); /* flags replace the default list */
    CHECK_EQ_STR(c.tags.items[0], "a");
    CHECK_EQ_STR(c.tags.items[1], "b");
    CHECK_EQ_INT(c.listen.port, 0);
    st_settings_free(rows, NROWS, &c);

    const char *argv2[] = { "prog", "--flag", "--no-flag", "--flag=false" };
    REQUIRE(load_args(&c, 4, argv2) == 0);
    CHECK(!c.flag);
    st_settings_free(rows, NROWS, &c);
    const char *argv3[] = { "prog", "--no-flag=1" };
    CHECK_EQ_INT(load_args(&c, 2, argv3), ST_EINVAL);
    CHECK_EQ_STR(err, "--no-flag: takes no value");
    st_settings_free(rows, NROWS, &c);
}

TEST(argv_errors)
{
    struct { int argc; const char *argv[4]; const char *msg; } cases[] = {
        { 2, { "p", "--cuont" }, "unknown flag --cuont (did you mean --count?)" },
        { 2, { "p", "--frobnicate" }, "unknown flag --frobnicate" },
        { 2, { "p", "--count" }, "--count: needs a value (N)" },
        { 2, { "p", "stray" }, "unexpected argument 'stray'" },
        { 2, { "p", "-c" }, "unexpected argument '-c' (flags start with --)" },
        { 2, { "p", "--" }, "unexpected argument '--'" },
        { 3, { "p", "--flag", "true" }, "unexpected argument 'true'" },
        { 3, { "p", "--mode", "x" }, "--mode: 'x' is not one of group|interval|never" },
        { 2, { "p", "--no-count" }, "unknown flag --no-count" },
        { 2, { "p", "--config" }, "--config: needs a file name" },
        { 3, { "p", "--config=a", "--config=b" }, "--config: given more than once" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tcfg c = { 0 };
        int rc = load_args(&c, cases[i].argc, cases[i].argv);
        if (rc != ST_EINVAL || strcmp(err, cases[i].msg) != 0) {
            printf("  case %zu: rc %d \"%s\" want \"%s\"\n", i, rc, err, cases[i].msg);
            CHECK(0);
        }
        st_settings_free(rows, NROWS, &c);
    }
    tcfg c = { 0 };
    const char *argv[] = { "p", "--config", "/nonexistent/x.toml" };
    CHECK_EQ_INT(load_args(&c, 3, argv), ST_EIO);
    CHECK(strstr(err, "--config: cannot open /nonexistent/x.toml") == err);
    st_settings_free(rows, NROWS, &c);
    /* The ignore list lets the caller own --help and friends. */
    const char *const ign[] = { "help", NULL };
    const char *argv2[] = { "p", "--help", "--count", "3" };
    CHECK_EQ_INT(st_settings_load(rows, NROWS, &c, 4, (char **)argv2, ign, err, sizeof err), 0);
    CHECK_EQ_INT(c.count, 3);
    st_settings_free(rows, NROWS, &c);
}

static int load_text(tcfg *c, const char *text)
{
    if (st_settings_defaults(rows, NROWS, c, err, sizeof err)) return -100;
    return st_settings_load_toml(rows, NROWS, c, text, strlen(text), "cfg.toml", err, sizeof err);
}

TEST(config_file_values)
{
    tcfg c = { 0 };
    int rc = load_text(&c,
        "flag = true\n"
        "name = \"from file\"\n"
        "listen = \"[::]:9999\"\n"
        "opt = \"off\"\n"
        "[a]\n"
        "count = -3\n"
        "size = \"1.5GiB\"\n"
        "[b]\n"
        "wait = \"1s\"\n"
        "mode = \"interval\"\n"
        "[c]\n"
        "tags = [\"x\", \"y\", \"z\"]\n");
    CHECK_EQ_INT(rc, 0);
    if (rc) printf("  %s\n", err);
    CHECK(c.flag);
    CHECK_EQ_STR(c.name, "from file");
    CHECK_EQ_STR(c.listen.host, "::");
    CHECK_EQ_INT(c.count, -3);
    CHECK_EQ_U64(c.size_bytes, 1610612736);
    CHECK_EQ_INT(c.wait_ms, 1000);
    CHECK_EQ_INT(c.mode, 1);
    REQUIRE(c.tags.count == 3);
    CHECK_EQ_STR(c.tags.items[2], "z");
    st_settings_free(rows, NROWS, &c);
    /* Sizes may be plain integers; dotted keys and inline tables work too; a list may be one string. */
    rc = load_text(&c, "a.size = 4096\nb = { wait = \"2s\" }\nc.tags = \"only\"\n");
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_U64(c.size_bytes, 4096);
    CHECK_EQ_INT(c.wait_ms, 2000);
    CHECK(c.tags.count == 1 && strcmp(c.tags.items[0], "only") == 0);
    st_settings_free(rows, NROWS, &c);
}

TEST(config_file_errors)
{
    struct { const char *text, *msg; } cases[] = {
        { "flag = true\n[a]\ncuont = 3\n", "cfg.toml:3: unknown setting 'a.cuont' (did you mean 'a.count'?)" },
        { "\nbogus = 1\n", "cfg.toml:2: unknown setting 'bogus'" },
        { "[zzz]\nq = 1\n", "cfg.toml:1: unknown setting 'zzz'" },
        { "[b]\nmod = 1\n", "cfg.toml:2: unknown setting 'b.mod' (did you mean 'b.mode'?)" },
        { "[zzz]\n", "cfg.toml:1: unknown setting 'zzz'" },
        { "count = 1\n", "cfg.toml:1: unknown setting 'count' (did you mean 'a.count'?)" },
        { "flag = \"yes\"\n", "cfg.toml:1: flag: expected true or false, not a string" },
        { "[a]\ncount = \"3\"\n", "cfg.toml:2: a.count: expected an integer, not a string" },
        { "[a]\ncount = 300\n", "cfg.toml:2: a.count: '300' is out of range (-10..100)" },
        { "[a]\nsize = \"12x\"\n", "cfg.toml:2: a.size: '12x' is not a size (use e.g. 25MB)" },
        { "[a]\nsize = -1\n", "cfg.toml:2: a.size: '-1' is not a size (use e.g. 25MB)" },
        { "[a]\nsize = 1.5\n", "cfg.toml:2: a.size: expected a size such as \"25MB\" or an integer number of bytes, not a float" },
        { "b.wait = 100\n", "cfg.toml:1: b.wait: expected a duration string such as \"100ms\", not an integer" },
        { "b.mode = \"sometimes\"\n", "cfg.toml:1: b.mode: 'sometimes' is not one of group|interval|never" },
        { "name = [\"a\"]\n", "cfg.toml:1: name: expected a string, not an array" },
        { "name = \"a\\u0000b\"\n", "cfg.toml:1: name: string contains a NUL byte" },
        { "c.tags = [1]\n", "cfg.toml:1: c.tags: expected an array of strings" },
        { "listen = \"nope\"\n", "cfg.toml:1: listen: 'nope' is not an address (use host:port, [::1]:port or :port)" },
        { "a = 1\n", "cfg.toml:1: unknown setting 'a'" },
        { "flag = true\nflag = false\n", "cfg.toml:2: duplicate key 'flag'" },
        { "x = \n", "cfg.toml:1: expected a value" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tcfg c = { 0 };
        int rc = load_text(&c, cases[i].text);
        if (rc != ST_EINVAL || strcmp(err, cases[i].msg) != 0) {
            printf("  case %zu: rc %d \"%s\"\n      want \"%s\"\n", i, rc, err, cases[i].msg);
            CHECK(0);
        }
        st_settings_free(rows, NROWS, &c);
    }
}

TEST(file_then_flags)
{
    char dir[512], path[600];
    REQUIRE(unit_tmpdir(dir, sizeof dir, "settings") != NULL);
    snprintf(path, sizeof path, "%s/strata.toml", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    const char *text = "name = \"file\"\n[a]\ncount = 9\nsize = \"1KB\"\n[c]\ntags = [\"f1\", \"f2\"]\n";
    REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    tcfg c = { 0 };
    /* The flag before --config still wins over the file. */
    const char *argv[] = { "p", "--count", "11", "--config", path, "--tag", "cli" };
    CHECK_EQ_INT(load_args(&c, 7, argv), 0);
    CHECK_EQ_INT(c.count, 11);
    CHECK_EQ_STR(c.name, "file");
    CHECK_EQ_U64(c.size_bytes, 1000);
    REQUIRE(c.tags.count == 1);
    CHECK_EQ_STR(c.tags.items[0], "cli");
    st_settings_free(rows, NROWS, &c);
    /* Without list flags the file's list stays. */
    char cfgarg[640];
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    const char *argv2[] = { "p", cfgarg };
    CHECK_EQ_INT(load_args(&c, 2, argv2), 0);
    CHECK_EQ_INT(c.count, 9);
    CHECK_EQ_INT(c.tags.count, 2);
    st_settings_free(rows, NROWS, &c);
    unlink(path);
    rmdir(dir);
}

TEST(oom_walk)
{
    int64_t live0 = st_alloc_live();
    const char *text = "name = \"file\"\nlisten = \":1\"\n[c]\ntags = [\"f1\", \"f2\"]\n";
    for (int64_t n = 0; n < 500; n++) {
        tcfg c = { 0 };
        st_alloc_fail_at(n, 0);
        int rc = load_text(&c, text);
        st_alloc_fail_at(-1, 0);
        st_settings_free(rows, NROWS, &c);
        CHECK_EQ_INT(st_alloc_live(), live0);
        if (rc == 0) return;
        CHECK(rc == ST_ENOMEM || rc == -100);
    }
    CHECK(0);
}

TEST(help_and_markdown)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    REQUIRE(f);
    st_settings_print_help(rows, NROWS, "Usage: p", f);
    fclose(f);
    CHECK(strstr(buf, "Usage: p\n") == buf);
    CHECK(strstr(buf, "\nA:\n") && strstr(buf, "\nB:\n") && strstr(buf, "\nC:\n"));
    CHECK(strstr(buf, "--mode group|interval|never") != NULL);
    CHECK(strstr(buf, "[default: 25MB]") != NULL);
    CHECK(strstr(buf, "[file: b.wait]") != NULL);
    /* Grouped: "name" (group A) is listed before "size" (group B). */
    CHECK(strstr(buf, "--name") < strstr(buf, "--size"));
    free(buf);
    f = open_memstream(&buf, &len);
    REQUIRE(f);
    st_settings_print_markdown(rows, NROWS, f);
    fclose(f);
    CHECK(strstr(buf, "| flag | config key | default | description |\n|---|---|---|---|\n") == buf);
    CHECK(strstr(buf, "| `--mode group\\|interval\\|never` | `b.mode` | `group` | an enum |\n") != NULL);
    CHECK(strstr(buf, "| `--tag STRING` | `c.tags` | `d1,d2` | a list (repeatable) |\n") != NULL);
    free(buf);
}

/* stratad's own table: every default parses, names and keys are unique,
 * file keys round-trip through a config file, and the load path works. */
TEST(stratad_table)
{
    srv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    REQUIRE(st_settings_defaults(srv_settings, srv_settings_count, &cfg, err, sizeof err) == 0);
    CHECK_EQ_STR(cfg.data_dir, "./data");
    CHECK_EQ_INT(cfg.http.port, 8086);
    CHECK_EQ_INT(cfg.mqtt.port, 1883);
    CHECK_EQ_INT(cfg.wal_fsync, SRV_WAL_FSYNC_GROUP);
    CHECK_EQ_INT(cfg.wal_fsync_interval_ms, 100);
    CHECK_EQ_U64(cfg.max_body_bytes, 25000000);
    CHECK(cfg.max_line_bytes > 1024 * 1024);
    CHECK_EQ_INT(cfg.query_timeout_ms, 60000);
    CHECK_EQ_INT(cfg.query_spin_us, 200);
    CHECK_EQ_INT(cfg.log_level, 1);
    srv_config_free(&cfg);
    for (size_t i = 0; i < srv_settings_count; i++)
        for (size_t j = i + 1; j < srv_settings_count; j++) {
            CHECK(strcmp(srv_settings[i].name, srv_settings[j].name) != 0);
            CHECK(strcmp(srv_settings[i].key, srv_settings[j].key) != 0);
        }
    const char *argv[] = { "stratad", "--http", "127.0.0.1:0", "--mqtt", "off", "--wal-fsync", "interval",
                           "--io-threads", "0", "--help" };
    CHECK_EQ_INT(srv_config_command(10, (char **)argv), SRV_CMD_HELP);
    REQUIRE(srv_config_load(9, (char **)argv, &cfg, err, sizeof err) == 0);
    CHECK(cfg.mqtt.off);
    CHECK_EQ_INT(cfg.wal_fsync, SRV_WAL_FSYNC_INTERVAL);
    CHECK(cfg.io_threads >= 1 && cfg.query_threads >= 1);
    st_buf b;
    st_buf_init(&b);
    CHECK(srv_config_describe(&cfg, &b) == 0);
    CHECK(strstr(b.ptr, "wal-fsync=interval") && strstr(b.ptr, "mqtt=off") && strstr(b.ptr, "http=127.0.0.1:0"));
    st_buf_fini(&b);
    srv_config_free(&cfg);
    const char *bad[] = { "stratad", "--max-line-bytes", "30MB" };
    CHECK_EQ_INT(srv_config_load(3, (char **)bad, &cfg, err, sizeof err), ST_EINVAL);
    CHECK_EQ_STR(err, "--max-line-bytes (30000000) must not exceed --max-body-bytes (25000000)");
    const char *same[] = { "stratad", "--http", "127.0.0.1:9000", "--mqtt", "127.0.0.1:9000" };
    CHECK_EQ_INT(srv_config_load(5, (char **)same, &cfg, err, sizeof err), ST_EINVAL);
    CHECK_EQ_STR(err, "--mqtt: 127.0.0.1:9000 is also the --http address");
    const char *spin[] = { "stratad", "--query-spin", "2ms" };
    REQUIRE(srv_config_load(3, (char **)spin, &cfg, err, sizeof err) == 0);
    CHECK_EQ_INT(cfg.query_spin_us, 2000);
    srv_config_free(&cfg);
    const char *long_spin[] = { "stratad", "--query-spin", "1s" };
    CHECK_EQ_INT(srv_config_load(3, (char **)long_spin, &cfg, err, sizeof err), ST_EINVAL);
    CHECK(strstr(err, "--query-spin") != NULL);
}

int main(void)
{
    RUN(defaults);
    RUN(bools_ints);
    RUN(sizes);
    RUN(durations);
    RUN(strings_enums_addrs);
    RUN(argv_forms);
    RUN(argv_errors);
    RUN(config_file_values);
    RUN(config_file_errors);
    RUN(file_then_flags);
    RUN(oom_walk);
    RUN(help_and_markdown);
    RUN(stratad_table);
    return unit_done();
}
