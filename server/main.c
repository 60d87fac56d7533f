/*
 * server/main.c — stratad entry point: settings (defaults < --config file <
 * flags), --help / --help-markdown / --version, the log level, one INFO line
 * with the effective settings. Bad settings: one line on stderr, exit 2.
 * The server proper hooks in where marked. Main thread.
 */
#include <stdio.h>

#include "common/buf.h"
#include "common/log.h"
#include "server/config.h"
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

    /* The server (listeners, storage, loops) starts here with &cfg. */
    int rc = 0;

    srv_config_free(&cfg);
    return rc;
}
