/*
 * server/config.h — stratad's settings: the config struct every module
 * receives (immutable after srv_config_load) and the one table behind the
 * flags, the config file, --help and the README settings section.
 *
 * Adding a setting: a field here (unit in the name: _ms, _bytes, _count),
 * one row in srv_settings[] in config.c, and if it needs a cross-check,
 * a line in srv_config_validate. Start-up thread only; read-only afterwards.
 */
#ifndef SRV_CONFIG_H
#define SRV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/settings.h"

/* --wal-fsync words, in table order. */
enum srv_wal_fsync { SRV_WAL_FSYNC_GROUP = 0, SRV_WAL_FSYNC_INTERVAL, SRV_WAL_FSYNC_NEVER };

typedef struct srv_config {
    char   *data_dir;              /* owned */
    st_addr http;                  /* HTTP listener (InfluxDB API) */
    st_addr mqtt;                  /* MQTT listener; mqtt.off = disabled */
    int64_t io_threads;            /* after load: >= 1 (0 on the command line = cores) */
    int     wal_fsync;             /* enum srv_wal_fsync */
    int64_t wal_fsync_interval_ms;
    uint64_t wal_segment_bytes;
    uint64_t max_body_bytes;       /* decompressed request body */
    uint64_t max_line_bytes;
    int64_t max_series;
    int64_t max_connections;
    char   *quality_field;         /* owned */
    bool    no_auto_create;
    int     log_level;             /* ST_LOG_DEBUG..ST_LOG_ERROR */
    char   *ready_file;            /* owned; "" = none */
    uint64_t max_head_bytes;
    uint64_t block_cache_bytes;
    int64_t query_timeout_ms;      /* 0 = none */
    int64_t query_max_points;      /* 0 = unlimited */
    bool query_block_stats;        /* aggregates from block/chunk statistics */
    int64_t query_threads;         /* after load: >= 1 (0 on the command line = cores) */
    int64_t query_spin_us;         /* idle workers poll this long before sleeping */
    /* MQTT (listener and bridge) */
    char   *mqtt_database;         /* owned; database MQTT points go to */
    uint64_t mqtt_max_packet_bytes;
    char   *mqtt_bridge;           /* owned; "" = no bridge; mqtt://[user:pass@]host:port */
    st_strlist mqtt_bridge_topic;  /* filters subscribed on the bridge; empty = "#" */
    char   *mqtt_bridge_client_id; /* owned; "" = generated once, kept in the catalog */
    /* [[mqtt.rule]] tables of the config file, in file order (not a table
     * row: read from the parsed document after the settings). Owned; NULL
     * when the file has none. Validated at load (bad rules are refused with
     * file:line). */
    struct tmap *mqtt_rules;
    size_t mqtt_rule_count;
} srv_config;

/* What the command line asks for besides running. */
enum srv_cmd { SRV_CMD_RUN = 0, SRV_CMD_HELP, SRV_CMD_HELP_MARKDOWN, SRV_CMD_VERSION };

/* --help / -h, --help-markdown, --version anywhere in argv. */
enum srv_cmd srv_config_command(int argc, char **argv);

/*
 * Defaults < --config FILE < flags, then validation (cross-checks, "0 = auto"
 * thread counts resolved to the number of cores). 0, or ST_EINVAL / ST_EIO /
 * ST_ENOMEM with a one-line message in err naming the setting. On failure cfg
 * holds nothing that needs freeing; on success free it with srv_config_free.
 */
int  srv_config_load(int argc, char **argv, srv_config *cfg, char *err, size_t err_size);
int  srv_config_validate(srv_config *cfg, char *err, size_t err_size);
void srv_config_free(srv_config *cfg); /* accepts NULL */

/* Read the [[mqtt.rule]] tables of a TOML text into a new tmap (*out NULL
 * when there are none). Unknown keys, wrong types and rules tmap_add_rule
 * refuses are ST_EINVAL with "FILE:LINE: mqtt.rule: ..." in err. */
int  srv_config_mqtt_rules(const char *text, size_t len, const char *name, struct tmap **out,
                           size_t *count, char *err, size_t err_size);

/* "key=value ..." of the settings that matter, for the start-up log line. */
int  srv_config_describe(const srv_config *cfg, st_buf *out);

void srv_config_print_help(FILE *f);
void srv_config_print_markdown(FILE *f);

/* The table itself (tests walk it). */
extern const st_setting srv_settings[];
extern const size_t srv_settings_count;

#endif
