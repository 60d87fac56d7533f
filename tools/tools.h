/* tools/tools.h — the strata subcommands' entry points (argv[0] = command name). */
#ifndef ST_TOOLS_H
#define ST_TOOLS_H
int tool_gen_main(int argc, char **argv);
int tool_import_main(int argc, char **argv); /* import and its alias write */
int tool_query_main(int argc, char **argv);
int tool_export_main(int argc, char **argv);
#endif
