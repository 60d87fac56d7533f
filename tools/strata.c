/*
 * tools/strata.c — the strata command line: dispatches to subcommands.
 * Each subcommand lives in tools/<name>.c and is listed in the table.
 */
#include <stdio.h>
#include <string.h>

#include "tools/tools.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    { "gen", tool_gen_main, "generate benchmark data: gen cpu (TSBS cpu-only), gen plant" },
    { "import", tool_import_main, "send line protocol or CSV files (plain, gzip, zstd; - = stdin) to stratad" },
    { "write", tool_import_main, "alias of import" },
    { "export", tool_export_main, "stream a database out of stratad as line protocol or CSV (gzip/zstd)" },
    { "query", tool_query_main, "run InfluxQL against stratad: query 'SHOW DATABASES'" },
    { "check", tool_check_main, "verify a data directory offline (checksums, catalog)" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: strata COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "strata: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
