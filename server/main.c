/*
 * server/main.c — stratad entry point. Placeholder until the settings
 * module and the server land: prints its version for --version/--help.
 */
#include <stdio.h>
#include <string.h>

#include "server/version.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("stratad %s\n", ST_VERSION);
            return 0;
        }
    }
    fprintf(stderr, "stratad %s\n", ST_VERSION);
    return 0;
}
