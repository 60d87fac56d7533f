/*
 * server/config.c — stratad's settings table and its load/validate steps.
 * Owns the table (static, read-only); the filled srv_config belongs to the
 * caller. Start-up thread only.
 */
#include "server/config.h"

#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
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
    { .name = "query-threads", .key = "query.threads", .group = "Query", .type = ST_SET_INT,
      .offset = OFF(query_threads, int64_t), .def = "0", .min = 0, .max = 1024,
      .help = "query worker threads (0 = one per CPU core)" },
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
    if (cfg->io_threads == 0) cfg->io_threads = cores();
    if (cfg->query_threads == 0) cfg->query_threads = cores();
    return 0;
}

int srv_config_load(int argc, char **argv, srv_config *cfg, char *err, size_t err_size)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = st_settings_load(srv_settings, srv_settings_count, cfg, argc, argv, ignore_flags, err, err_size);
    if (rc == 0) rc = srv_config_validate(cfg, err, err_size);
    if (rc == ST_ENOMEM) snprintf(err, err_size, "out of memory while reading settings");
    if (rc) srv_config_free(cfg);
    return rc;
}

void srv_config_free(srv_config *cfg)
{
    if (!cfg) return;
    st_settings_free(srv_settings, srv_settings_count, cfg);
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
