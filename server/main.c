/*
 * server/main.c — stratad entry point: settings (defaults < --config file <
 * flags), --help / --help-markdown / --version, the log level, one INFO line
 * with the effective settings; then storage opens (recovery) and the server
 * runs until SIGINT/SIGTERM; storage closes (WAL flushed) and it exits 0.
 * Bad settings: one line on stderr, exit 2; storage that cannot open
 * (directory locked by another process, bad format): exit 1. Main thread.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "server/config.h"
#include "server/faults.h"
#include "server/srv.h"
#include "storage/stor.h"
#include "server/version.h"

/* The bridge's client id: the configured one, else one generated on the
 * first start and kept in the catalog, so the broker finds the same
 * persistent session after every restart. Owned string or NULL. */
static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *r = st_malloc(n);
    if (r) memcpy(r, s, n);
    return r;
}

static char *bridge_client_id(const srv_config *cfg, stor *storage)
{
    const char *key = "mqtt.bridge.client_id";
    if (!cfg->mqtt_bridge || !*cfg->mqtt_bridge) return NULL;
    if (cfg->mqtt_bridge_client_id && *cfg->mqtt_bridge_client_id) return dup_str(cfg->mqtt_bridge_client_id);
    char *v = NULL;
    size_t len = 0;
    if (stor_meta_get(storage, key, &v, &len) == 0 && v && len) {
        char *r = dup_str(v);
        st_free(v);
        return r;
    }
    st_free(v);
    unsigned char rnd[8] = { 0 };
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
        uint64_t x = (uint64_t)st_now_ns() ^ ((uint64_t)getpid() << 32);
        memcpy(rnd, &x, sizeof rnd);
    }
    if (f) fclose(f);
    char id[32];
    snprintf(id, sizeof id, "strata-");
    for (int i = 0; i < 8; i++) snprintf(id + 7 + 2 * i, 3, "%02x", rnd[i]);
    int rc = stor_meta_set(storage, key, id, strlen(id));
    if (rc) ST_WARN("stratad", "cannot keep the bridge client id in the catalog: %s (a new one is used after a restart)",
                    st_strerror(rc));
    else ST_INFO("stratad", "generated the MQTT bridge client id %s (kept in the catalog)", id);
    return dup_str(id);
}

int main(int argc, char **argv)
{
    switch (srv_config_command(argc, argv)) {
    case SRV_CMD_HELP: srv_config_print_help(stdout); return 0;
    case SRV_CMD_HELP_MARKDOWN: srv_config_print_markdown(stdout); return 0;
    case SRV_CMD_VERSION: printf("stratad %s\n", ST_VERSION); return 0;
    case SRV_CMD_RUN: break;
    }
    srv_config cfg;
    char err[512];
    if (srv_config_load(argc, argv, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "stratad: %s\n", err);
        fprintf(stderr, "stratad: see stratad --help\n");
        return 2;
    }
    st_log_set_level(cfg.log_level);
    /* Every I/O loop, the WAL writer, the flush and query threads would get
     * a glibc malloc arena of their own, each keeping what was freed in it
     * (request buffers, the heads' column tables): a few arenas keep RSS
     * near --max-head-bytes. (Sealed head chunks are not malloc'd: see
     * storage/harena.h.) A fixed M_MMAP_THRESHOLD was measured too: ~1.5 MiB
     * less RSS beside the heads, but every large request buffer then costs
     * fresh pages, and ingest was slower. */
    mallopt(M_ARENA_MAX, 4);
    st_buf line;
    st_buf_init(&line);
    if (srv_config_describe(&cfg, &line) == 0)
        ST_INFO("stratad", "starting version=%s %s", ST_VERSION, line.ptr ? line.ptr : "");
    st_buf_fini(&line);

    stor_opts so;
    memset(&so, 0, sizeof so);
    so.data_dir = cfg.data_dir;
    so.fsync_mode = cfg.wal_fsync == SRV_WAL_FSYNC_GROUP ? STOR_FSYNC_GROUP
                  : cfg.wal_fsync == SRV_WAL_FSYNC_INTERVAL ? STOR_FSYNC_INTERVAL : STOR_FSYNC_NEVER;
    so.fsync_interval_ms = cfg.wal_fsync_interval_ms;
    so.wal_segment_bytes = cfg.wal_segment_bytes;
    so.max_series = cfg.max_series > 0 ? (uint64_t)cfg.max_series : 0;
    so.max_head_bytes = cfg.max_head_bytes;
    so.block_cache_bytes = cfg.block_cache_bytes;
    stor_io_sim *faults = NULL;
    if (srv_faults_from_env(getenv("STRATA_TEST_FAULT"), &faults, &so.io) != 0) {
        srv_config_free(&cfg);
        return 2;
    }
    stor *storage = NULL;
    int rc = stor_open(&so, &storage);
    if (rc) {
        fprintf(stderr, "stratad: cannot open data directory %s: %s\n", cfg.data_dir, st_strerror(rc));
        srv_faults_free(faults);
        srv_config_free(&cfg);
        return 1;
    }
    char *bridge_id = bridge_client_id(&cfg, storage);
    char mqtt_addr[300] = "";
    if (!cfg.mqtt.off) {
        const char *mh = cfg.mqtt.host && *cfg.mqtt.host ? cfg.mqtt.host : "0.0.0.0";
        if (strchr(mh, ':')) snprintf(mqtt_addr, sizeof mqtt_addr, "[%s]:%d", mh, cfg.mqtt.port);
        else snprintf(mqtt_addr, sizeof mqtt_addr, "%s:%d", mh, cfg.mqtt.port);
    }
    char http_addr[300];
    const char *host = cfg.http.host && *cfg.http.host ? cfg.http.host : "0.0.0.0";
    if (strchr(host, ':')) snprintf(http_addr, sizeof http_addr, "[%s]:%d", host, cfg.http.port);
    else snprintf(http_addr, sizeof http_addr, "%s:%d", host, cfg.http.port);
    srv_opts o;
    memset(&o, 0, sizeof o);
    o.http_addr = http_addr;
    o.io_threads = (int)cfg.io_threads;
    o.query_threads = (int)cfg.query_threads;
    o.query_spin_us = cfg.query_spin_us;
    o.max_body_bytes = cfg.max_body_bytes;
    o.max_line_bytes = cfg.max_line_bytes;
    o.max_connections = cfg.max_connections > 0 ? (uint64_t)cfg.max_connections : 0;
    o.quality_field = cfg.quality_field ? cfg.quality_field : "";
    o.auto_create = !cfg.no_auto_create;
    o.ready_file = cfg.ready_file ? cfg.ready_file : "";
    o.query_timeout_ms = cfg.query_timeout_ms;
    o.query_max_points = cfg.query_max_points > 0 ? (uint64_t)cfg.query_max_points : 0;
    o.query_no_block_stats = !cfg.query_block_stats;
    o.mqtt_addr = mqtt_addr;
    o.mqtt_database = cfg.mqtt_database ? cfg.mqtt_database : "mqtt";
    o.mqtt_max_packet_bytes = (uint32_t)cfg.mqtt_max_packet_bytes;
    o.mqtt_rules = cfg.mqtt_rules;
    o.mqtt_bridge = cfg.mqtt_bridge ? cfg.mqtt_bridge : "";
    o.mqtt_bridge_topics = cfg.mqtt_bridge_topic.items;
    o.mqtt_bridge_topic_count = cfg.mqtt_bridge_topic.count;
    o.mqtt_bridge_client_id = bridge_id ? bridge_id : "";
    rc = srv_run(&o, storage);
    st_free(bridge_id);
    stor_close(storage);
    srv_faults_free(faults);
    if (rc) fprintf(stderr, "stratad: %s\n", st_strerror(rc));
    /* A setting found bad only when used (a bridge URL, a listen address) is
     * still a bad setting: exit 2, as for the ones the loader refuses. */
    rc = rc == ST_EINVAL ? 2 : rc ? 1 : 0;

    srv_config_free(&cfg);
    return rc;
}
