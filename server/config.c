/*
 * server/config.c — stratad's settings table and its load/validate steps.
 * Owns the table (static, read-only); the filled srv_config belongs to the
 * caller. Start-up thread only.
 */
#include "server/config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/toml.h"
#include "ingest/topicmap.h"
#include "server/mqtt_bridge.h"
#include "server/version.h"

#define OFF(field, ctype) ST_SETTING_OFFSET(srv_config, field, ctype)
#define KiB 1024LL
#define MiB (1024LL * 1024)
#define GiB (1024LL * 1024 * 1024)
#define TiB (GiB * 1024)

/* Groups appear in --help in the order of their first row. */
const st_setting srv_settings[] = {
    { .name = "data", .key = "data", .group = "General", .type = ST_SET_STRING, .offset = OFF(data_dir, char *),
      .def = "./data", .help = "data directory (created if missing; locked by one process)" },
    { .name = "log-level", .key = "log-level", .group = "General", .type = ST_SET_ENUM,
      .offset = OFF(log_level, int), .choices = "debug|info|warn|error", .def = "info",
      .help = "least severe log level written to stderr" },
    { .name = "ready-file", .key = "ready-file", .group = "General", .type = ST_SET_STRING,
      .offset = OFF(ready_file, char *), .def = "",
      .help = "write the bound addresses to this file once the server is ready" },
    { .name = "io-threads", .key = "io-threads", .group = "General", .type = ST_SET_INT,
      .offset = OFF(io_threads, int64_t), .def = "0", .min = 0, .max = 1024,
      .help = "network event loops (0 = one per CPU core)" },

    { .name = "http", .key = "http.bind", .group = "HTTP", .type = ST_SET_ADDR, .offset = OFF(http, st_addr),
      .def = "127.0.0.1:8086", .help = "HTTP listen address (InfluxDB API); port 0 picks a free port" },
    { .name = "max-connections", .key = "http.max-connections", .group = "HTTP", .type = ST_SET_INT,
      .offset = OFF(max_connections, int64_t), .def = "4096", .min = 1, .max = 1000000,
      .help = "open client connections (HTTP and MQTT) before new ones are refused" },
    { .name = "max-body-bytes", .key = "http.max-body-bytes", .group = "HTTP", .type = ST_SET_SIZE,
      .offset = OFF(max_body_bytes, uint64_t), .def = "25MB", .min = 1024, .max = 16 * GiB,
      .help = "largest write request body, counted after gzip decompression (413 beyond)" },
    { .name = "max-line-bytes", .key = "http.max-line-bytes", .group = "HTTP", .type = ST_SET_SIZE,
      .offset = OFF(max_line_bytes, uint64_t), .def = "4MiB", .min = 1024, .max = 16 * GiB,
      .help = "longest line-protocol line (must hold a 1 MiB string field plus key)" },

    { .name = "mqtt", .key = "mqtt.bind", .group = "MQTT", .type = ST_SET_ADDR, .offset = OFF(mqtt, st_addr),
      .def = "127.0.0.1:1883", .flags = ST_SET_F_OFF, .help = "MQTT listen address, or off" },
    { .name = "mqtt-database", .key = "mqtt.database", .group = "MQTT", .type = ST_SET_STRING,
      .offset = OFF(mqtt_database, char *), .def = "mqtt",
      .help = "database that MQTT points (listener and bridge) are written to (created on first write)" },
    { .name = "mqtt-max-packet-bytes", .key = "mqtt.max-packet-bytes", .group = "MQTT", .type = ST_SET_SIZE,
      .offset = OFF(mqtt_max_packet_bytes, uint64_t), .def = "1MiB", .min = 64, .max = 256 * MiB,
      .help = "largest MQTT packet accepted (listener and bridge); larger ones close the connection" },
    { .name = "mqtt-bridge", .key = "mqtt.bridge", .group = "MQTT", .type = ST_SET_STRING,
      .offset = OFF(mqtt_bridge, char *), .def = "",
      .help = "subscribe to an external broker, mqtt://[user:pass@]host:port (\"\" = no bridge)" },
    { .name = "mqtt-bridge-topic", .key = "mqtt.bridge-topic", .group = "MQTT", .type = ST_SET_STRLIST,
      .offset = OFF(mqtt_bridge_topic, st_strlist), .def = NULL,
      .help = "topic filter the bridge subscribes to with QoS 1 (repeatable; none = #)" },
    { .name = "mqtt-bridge-client-id", .key = "mqtt.bridge-client-id", .group = "MQTT", .type = ST_SET_STRING,
      .offset = OFF(mqtt_bridge_client_id, char *), .def = "",
      .help = "bridge client id (\"\" = one generated once and kept in the data directory's catalog)" },

    { .name = "wal-fsync", .key = "wal.fsync", .group = "WAL", .type = ST_SET_ENUM, .offset = OFF(wal_fsync, int),
      .choices = "group|interval|never", .def = "group",
      .help = "group: reply after the fsync covering the write (nothing acknowledged is lost); "
              "interval: reply after the write, fsync every --wal-fsync-interval (that much may be lost on "
              "power failure); never: benchmarks only" },
    { .name = "wal-fsync-interval", .key = "wal.fsync-interval", .group = "WAL", .type = ST_SET_DURATION,
      .offset = OFF(wal_fsync_interval_ms, int64_t), .unit_ns = 1000000, .def = "100ms", .min = 1, .max = 3600000,
      .help = "fsync period with --wal-fsync interval" },
    { .name = "wal-segment-bytes", .key = "wal.segment-bytes", .group = "WAL", .type = ST_SET_SIZE,
      .offset = OFF(wal_segment_bytes, uint64_t), .def = "64MiB", .min = 1 * MiB, .max = 4 * GiB,
      .help = "size of each preallocated WAL segment file" },

    { .name = "max-series", .key = "storage.max-series", .group = "Storage", .type = ST_SET_INT,
      .offset = OFF(max_series, int64_t), .def = "1000000", .min = 1, .max = INT64_C(1) << 40,
      .help = "series the server will create; writes that would add more are refused" },
    { .name = "max-head-bytes", .key = "storage.max-head-bytes", .group = "Storage", .type = ST_SET_SIZE,
      .offset = OFF(max_head_bytes, uint64_t), .def = "256MiB", .min = 64 * 1024, .max = TiB,
      .help = "memory for not-yet-flushed data: the head is flushed to segment files when it passes half of it" },
    { .name = "block-cache-bytes", .key = "storage.block-cache-bytes", .group = "Storage", .type = ST_SET_SIZE,
      .offset = OFF(block_cache_bytes, uint64_t), .def = "64MiB", .min = 0, .max = TiB,
      .help = "memory for decoded segment blocks (0 disables the cache)" },
    { .name = "quality-field", .key = "storage.quality-field", .group = "Storage", .type = ST_SET_STRING,
      .offset = OFF(quality_field, char *), .def = "quality",
      .help = "line-protocol field whose value is the OPC UA quality of the other fields (\"\" = none)" },
    { .name = "no-auto-create", .key = "storage.no-auto-create", .group = "Storage", .type = ST_SET_BOOL,
      .offset = OFF(no_auto_create, bool), .def = "false",
      .help = "refuse writes to a database that does not exist instead of creating it" },

    { .name = "query-timeout", .key = "query.timeout", .group = "Query", .type = ST_SET_DURATION,
      .offset = OFF(query_timeout_ms, int64_t), .unit_ns = 1000000, .def = "60s", .min = 0, .max = 86400000,
      .help = "a query running longer is stopped with an error (0 = no limit)" },
    { .name = "query-max-points", .key = "query.max-points", .group = "Query", .type = ST_SET_INT,
      .offset = OFF(query_max_points, int64_t), .def = "100000000", .min = 0, .max = INT64_MAX,
      .help = "points a query may read before it is stopped with an error (0 = no limit)" },
    { .name = "query-block-stats", .key = "query.block-stats", .group = "Query", .type = ST_SET_BOOL,
      .offset = OFF(query_block_stats, bool), .def = "true",
      .help = "answer aggregates over whole segment blocks and head chunks from their statistics (false: decode every point, for checks and benchmarks)" },
    { .name = "query-threads", .key = "query.threads", .group = "Query", .type = ST_SET_INT,
      .offset = OFF(query_threads, int64_t), .def = "0", .min = 0, .max = 1024,
      .help = "query worker threads (0 = one per CPU core)" },
    { .name = "query-spin", .key = "query.spin", .group = "Query", .type = ST_SET_DURATION,
      .offset = OFF(query_spin_us, int64_t), .unit_ns = 1000, .def = "200us", .min = 0, .max = 100000,
      .help = "how long an idle query worker keeps looking for the next query, yielding the CPU, before it sleeps: a query it finds starts without a wake-up (0 = sleep at once)" },
};
const size_t srv_settings_count = sizeof srv_settings / sizeof srv_settings[0];

#define USAGE "Usage: stratad [--config FILE] [--FLAG VALUE | --FLAG=VALUE]...\n" \
    "Settings come from defaults, then the TOML file given by --config, then flags.\n" \
    "Sizes: 123, 64k, 25MB, 4MiB (k/MB/GB = 1000s, KiB/MiB/GiB = 1024s). Durations: 500ms, 10s, 1h30m.\n" \
    "  --config FILE                  read settings from a TOML file (keys shown as [file: ...])\n" \
    "  --help, --help-markdown        this text, or the README settings table\n" \
    "  --version                      print the version"

static const char *const ignore_flags[] = { "help", "help-markdown", "version", NULL };

enum srv_cmd srv_config_command(int argc, char **argv)
{
    enum srv_cmd cmd = SRV_CMD_RUN;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return SRV_CMD_HELP;
        if (strcmp(argv[i], "--help-markdown") == 0) cmd = SRV_CMD_HELP_MARKDOWN;
        else if (strcmp(argv[i], "--version") == 0 && cmd == SRV_CMD_RUN) cmd = SRV_CMD_VERSION;
    }
    return cmd;
}

static int64_t cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

int srv_config_validate(srv_config *cfg, char *err, size_t err_size)
{
    if (!cfg->data_dir || !*cfg->data_dir) {
        snprintf(err, err_size, "--data: must not be empty");
        return ST_EINVAL;
    }
    if (cfg->max_line_bytes > cfg->max_body_bytes) {
        snprintf(err, err_size, "--max-line-bytes (%llu) must not exceed --max-body-bytes (%llu)",
                 (unsigned long long)cfg->max_line_bytes, (unsigned long long)cfg->max_body_bytes);
        return ST_EINVAL;
    }
    if (!cfg->mqtt.off && cfg->mqtt.port != 0 && cfg->mqtt.port == cfg->http.port &&
        strcmp(cfg->mqtt.host, cfg->http.host) == 0) {
        snprintf(err, err_size, "--mqtt: %s:%d is also the --http address", cfg->mqtt.host, cfg->mqtt.port);
        return ST_EINVAL;
    }
    if (cfg->mqtt_bridge && *cfg->mqtt_bridge) {
        mqtt_bridge_url u;
        if (mqtt_bridge_parse_url(cfg->mqtt_bridge, &u, err, err_size) != 0) return ST_EINVAL;
    }
    if (!cfg->mqtt_database || !*cfg->mqtt_database) {
        snprintf(err, err_size, "--mqtt-database: must not be empty");
        return ST_EINVAL;
    }
    if (cfg->io_threads == 0) cfg->io_threads = cores();
    if (cfg->query_threads == 0) cfg->query_threads = cores();
    return 0;
}

/* ---- [[mqtt.rule]] tables ----
 * The settings table has no row type for arrays of tables, so the rules are
 * read from the parsed document here, and the settings loader gets the file
 * with the rule sections blanked (same line numbers, so its messages still
 * point at the right lines). */

static int rule_err(char *err, size_t esz, const char *name, int line, const char *fmt, const char *a)
{
    char msg[320];
    snprintf(msg, sizeof msg, fmt, a);
    snprintf(err, esz, "%s:%d: mqtt.rule: %s", name, line, msg);
    return ST_EINVAL;
}

static int rule_string(const st_toml_node *n, const char *name, const char *key, const char **out,
                       char *err, size_t esz)
{
    size_t len;
    if (st_toml_as_string(n, out, &len) != 0)
        return rule_err(err, esz, name, st_toml_node_line(n), "%s: expected a string", key);
    if (memchr(*out, 0, len))
        return rule_err(err, esz, name, st_toml_node_line(n), "%s: string contains a NUL byte", key);
    return 0;
}

static int rule_add(tmap *m, const st_toml_node *t, const char *name, char *err, size_t esz)
{
    enum { MAX_TAGS = 64 };
    const char *keys[MAX_TAGS], *vals[MAX_TAGS];
    tmap_rule_def d;
    memset(&d, 0, sizeof d);
    d.tag_keys = keys;
    d.tag_vals = vals;
    int line = st_toml_node_line(t);
    for (size_t i = 0; i < st_toml_table_count(t); i++) {
        const char *k;
        const st_toml_node *v = st_toml_table_at(t, i, &k);
        int rc = 0;
        if (strcmp(k, "topic") == 0) rc = rule_string(v, name, k, &d.topic, err, esz);
        else if (strcmp(k, "measurement") == 0) rc = rule_string(v, name, k, &d.measurement, err, esz);
        else if (strcmp(k, "format") == 0) rc = rule_string(v, name, k, &d.format, err, esz);
        else if (strcmp(k, "field") == 0) rc = rule_string(v, name, k, &d.field, err, esz);
        else if (strcmp(k, "tags") == 0) {
            if (st_toml_node_type(v) != ST_TOML_TABLE)
                return rule_err(err, esz, name, st_toml_node_line(v), "%s: expected a table of strings", k);
            for (size_t j = 0; j < st_toml_table_count(v); j++) {
                const char *tk;
                const st_toml_node *tv = st_toml_table_at(v, j, &tk);
                if (d.tag_count == MAX_TAGS)
                    return rule_err(err, esz, name, st_toml_node_line(tv), "%s: more than 64 tags", k);
                if (st_toml_node_type(tv) != ST_TOML_STRING)
                    return rule_err(err, esz, name, st_toml_node_line(tv), "tags.%s: expected a string", tk);
                rc = rule_string(tv, name, tk, &vals[d.tag_count], err, esz);
                if (rc) return rc;
                keys[d.tag_count++] = tk;
            }
        } else {
            return rule_err(err, esz, name, st_toml_node_line(v),
                            "unknown key '%s' (use topic, measurement, tags, format, field)", k);
        }
        if (rc) return rc;
    }
    if (!d.topic) return rule_err(err, esz, name, line, "%s: missing (every rule needs a topic filter)", "topic");
    char terr[300];
    int rc = tmap_add_rule(m, &d, terr, sizeof terr);
    if (rc == ST_EINVAL) return rule_err(err, esz, name, line, "%s", terr);
    return rc;
}

int srv_config_mqtt_rules(const char *text, size_t len, const char *name, tmap **out, size_t *count,
                          char *err, size_t esz)
{
    st_toml_doc *doc = NULL;
    tmap *m = NULL;
    int rc = st_toml_parse(text, len, name, &doc, err, esz);
    if (rc) return rc == ST_EPARSE ? ST_EINVAL : rc;
    const st_toml_node *arr = st_toml_get(st_toml_root(doc), "mqtt.rule");
    size_t n = arr ? st_toml_array_count(arr) : 0;
    if (arr && (st_toml_node_type(arr) != ST_TOML_ARRAY || (n && !st_toml_array_is_tables(arr)))) {
        rc = rule_err(err, esz, name ? name : "<input>", st_toml_node_line(arr),
                      "%s", "write each rule as a [[mqtt.rule]] table");
        goto out;
    }
    if (n) {
        if ((rc = tmap_create(&m)) != 0) goto out;
        for (size_t i = 0; i < n; i++) {
            rc = rule_add(m, st_toml_array_at(arr, i), name ? name : "<input>", err, esz);
            if (rc) goto out;
        }
    }
out:
    st_toml_free(doc);
    if (rc) { tmap_destroy(m); return rc; }
    *out = m;
    *count = n;
    return 0;
}

/* Is this line (without its newline) a [[mqtt.rule]] header? Blanks inside
 * the brackets and a trailing comment are allowed. */
static int is_rule_header(const char *p, size_t n)
{
    static const char want[] = "[[mqtt.rule]]";
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == ' ' || c == '\t' || c == '\r') continue;
        if (want[w] == 0) return c == '#';
        if (c != want[w]) return 0;
        w++;
    }
    return want[w] == 0;
}

/* The text with every [[mqtt.rule]] section (header to the next header)
 * replaced by empty lines. Owned copy. */
static char *blank_rules(const char *text, size_t len)
{
    char *out = st_malloc(len + 1);
    if (!out) return NULL;
    memcpy(out, text, len);
    out[len] = 0;
    int in_rule = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && out[e] != '\n') e++;
        size_t b = i;
        while (b < e && (out[b] == ' ' || out[b] == '\t')) b++;
        if (b < e && out[b] == '[') in_rule = is_rule_header(out + b, e - b);
        if (in_rule) memset(out + i, ' ', e - i);
        i = e + 1;
    }
    return out;
}

static int read_file(const char *path, char **buf_out, size_t *len_out, char *err, size_t esz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, esz, "--config: cannot open %s: %s", path, strerror(errno));
        return ST_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= (64u << 20)) { snprintf(err, esz, "--config: %s is larger than 64 MiB", path); rc = ST_EINVAL; break; }
            if ((rc = st_grow(&buf, &cap, len + 1, 1, 4096))) break;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (!rc && ferror(f)) { snprintf(err, esz, "--config: cannot read %s", path); rc = ST_EIO; }
    fclose(f);
    if (rc) { st_free(buf); return rc; }
    *buf_out = buf;
    *len_out = len;
    return 0;
}

static size_t field_size(st_setting_type t)
{
    switch (t) {
    case ST_SET_BOOL: return sizeof(bool);
    case ST_SET_INT: case ST_SET_DURATION: return sizeof(int64_t);
    case ST_SET_SIZE: return sizeof(uint64_t);
    case ST_SET_STRING: return sizeof(char *);
    case ST_SET_ENUM: return sizeof(int);
    case ST_SET_ADDR: return sizeof(st_addr);
    case ST_SET_STRLIST: return sizeof(st_strlist);
    }
    return 0;
}

/* Was the row's flag given in argv (--name, --name=v, --no-name)? */
static int flag_given(const st_setting *r, int argc, char **argv)
{
    size_t nl = strlen(r->name);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) continue;
        a += 2;
        if (strncmp(a, r->name, nl) == 0 && (a[nl] == 0 || a[nl] == '=')) return 1;
        if (r->type == ST_SET_BOOL && strncmp(a, "no-", 3) == 0 && strncmp(a + 3, r->name, nl) == 0 &&
            a[3 + nl] == 0)
            return 1;
    }
    return 0;
}

int srv_config_load(int argc, char **argv, srv_config *cfg, char *err, size_t err_size)
{
    memset(cfg, 0, sizeof *cfg);
    /* Find --config as the settings loader does (skipping flag values). */
    const char *path = NULL;
    int cfg_at = -1, cfg_n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) continue;
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if (nl == 6 && strncmp(name, "config", 6) == 0) {
            if (path) { snprintf(err, err_size, "--config: given more than once"); return ST_EINVAL; }
            cfg_at = i;
            if (eq) { path = eq + 1; cfg_n = 1; }
            else if (i + 1 < argc) { path = argv[++i]; cfg_n = 2; }
            else { snprintf(err, err_size, "--config: needs a file name"); return ST_EINVAL; }
            continue;
        }
        int ignored = 0;
        for (const char *const *g = ignore_flags; *g; g++)
            if (strlen(*g) == nl && strncmp(*g, name, nl) == 0) ignored = 1;
        if (eq || ignored) continue;
        char nb[96];
        if (nl >= sizeof nb) continue;
        memcpy(nb, name, nl);
        nb[nl] = 0;
        const st_setting *r = st_settings_find(srv_settings, srv_settings_count, nb);
        if (r && r->type != ST_SET_BOOL) i++;
    }
    if (!path) {
        int rc = st_settings_load(srv_settings, srv_settings_count, cfg, argc, argv, ignore_flags, err, err_size);
        if (rc == 0) rc = srv_config_validate(cfg, err, err_size);
        if (rc == ST_ENOMEM) snprintf(err, err_size, "out of memory while reading settings");
        if (rc) srv_config_free(cfg);
        return rc;
    }
    /* With a file: A = defaults + flags, B = defaults + file (rules blanked);
     * the rows given as flags move from A to B (flags win over the file). */
    srv_config a;
    memset(&a, 0, sizeof a);
    char *text = NULL, *blanked = NULL;
    char **argv2 = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, err, err_size);
    if (rc) goto out;
    rc = srv_config_mqtt_rules(text, len, path, &cfg->mqtt_rules, &cfg->mqtt_rule_count, err, err_size);
    if (rc) goto out;
    blanked = blank_rules(text, len);
    argv2 = st_calloc((size_t)argc + 1, sizeof *argv2);
    if (!blanked || !argv2) { rc = ST_ENOMEM; goto out; }
    int argc2 = 0;
    for (int i = 0; i < argc; i++)
        if (i < cfg_at || i >= cfg_at + cfg_n) argv2[argc2++] = argv[i];
    rc = st_settings_load(srv_settings, srv_settings_count, &a, argc2, argv2, ignore_flags, err, err_size);
    if (rc) goto out;
    rc = st_settings_defaults(srv_settings, srv_settings_count, cfg, err, err_size);
    if (!rc) rc = st_settings_load_toml(srv_settings, srv_settings_count, cfg, blanked, len, path, err, err_size);
    if (rc) goto out;
    for (size_t i = 0; i < srv_settings_count; i++) {
        const st_setting *r = &srv_settings[i];
        if (!flag_given(r, argc2, argv2)) continue;
        char tmp[sizeof(st_addr) > sizeof(st_strlist) ? sizeof(st_addr) : sizeof(st_strlist)];
        size_t sz = field_size(r->type);
        memcpy(tmp, (char *)cfg + r->offset, sz);
        memcpy((char *)cfg + r->offset, (char *)&a + r->offset, sz);
        memcpy((char *)&a + r->offset, tmp, sz);
    }
    rc = srv_config_validate(cfg, err, err_size);
out:
    st_settings_free(srv_settings, srv_settings_count, &a);
    st_free(text);
    st_free(blanked);
    st_free(argv2);
    if (rc == ST_ENOMEM) snprintf(err, err_size, "out of memory while reading settings");
    if (rc) srv_config_free(cfg);
    return rc;
}

void srv_config_free(srv_config *cfg)
{
    if (!cfg) return;
    st_settings_free(srv_settings, srv_settings_count, cfg);
    tmap_destroy(cfg->mqtt_rules);
    cfg->mqtt_rules = NULL;
    cfg->mqtt_rule_count = 0;
}

int srv_config_describe(const srv_config *cfg, st_buf *out)
{
    for (size_t i = 0; i < srv_settings_count; i++) {
        int rc = st_buf_printf(out, "%s%s=", i ? " " : "", srv_settings[i].name);
        if (!rc) rc = st_settings_format(&srv_settings[i], cfg, out);
        if (rc) return rc;
    }
    return 0;
}

void srv_config_print_help(FILE *f)
{
    fprintf(f, "stratad %s — the Strata time-series historian server\n", ST_VERSION);
    st_settings_print_help(srv_settings, srv_settings_count, USAGE, f);
}

void srv_config_print_markdown(FILE *f)
{
    st_settings_print_markdown(srv_settings, srv_settings_count, f);
}
