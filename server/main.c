/*
 * server/main.c — stratad entry point: settings (defaults < --config file <
 * flags), --help / --help-markdown / --version, the log level, one INFO line
 * with the effective settings; then storage opens (recovery) and the server
 * runs until SIGINT/SIGTERM; storage closes (WAL flushed) and it exits 0.
 * Bad settings: one line on stderr, exit 2; storage that cannot open
 * (directory locked by another process, bad format): exit 1. Main thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/err.h"
#include "server/config.h"
#include "server/faults.h"
#include "server/srv.h"
#include "storage/stor.h"
#include "server/version.h"

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
    char http_addr[300];
    const char *host = cfg.http.host && *cfg.http.host ? cfg.http.host : "0.0.0.0";
    if (strchr(host, ':')) snprintf(http_addr, sizeof http_addr, "[%s]:%d", host, cfg.http.port);
    else snprintf(http_addr, sizeof http_addr, "%s:%d", host, cfg.http.port);
    srv_opts o;
    memset(&o, 0, sizeof o);
    o.http_addr = http_addr;
    o.io_threads = (int)cfg.io_threads;
    o.query_threads = (int)cfg.query_threads;
    o.max_body_bytes = cfg.max_body_bytes;
    o.max_line_bytes = cfg.max_line_bytes;
    o.max_connections = cfg.max_connections > 0 ? (uint64_t)cfg.max_connections : 0;
    o.quality_field = cfg.quality_field ? cfg.quality_field : "";
    o.auto_create = !cfg.no_auto_create;
    o.ready_file = cfg.ready_file ? cfg.ready_file : "";
    o.query_timeout_ms = cfg.query_timeout_ms;
    o.query_max_points = cfg.query_max_points > 0 ? (uint64_t)cfg.query_max_points : 0;
    rc = srv_run(&o, storage);
    stor_close(storage);
    srv_faults_free(faults);
    if (rc) fprintf(stderr, "stratad: %s\n", st_strerror(rc));
    rc = rc ? 1 : 0;

    srv_config_free(&cfg);
    return rc;
}
