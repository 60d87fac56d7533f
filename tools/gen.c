/* tools/gen.c — strata gen: placeholder until the generator lands. */
#include <stdio.h>
#include "tools/tools.h"
int tool_gen_main(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "strata gen: not built yet\n");
    return 1;
}
