/* server/faults.c — STRATA_TEST_FAULT parsing (see faults.h). Main thread. */
#include "server/faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

static const struct { const char *name; enum stor_io_op op; } ops[] = {
    { "open", STOR_IO_OPEN }, { "close", STOR_IO_CLOSE }, { "pread", STOR_IO_PREAD },
    { "pwrite", STOR_IO_PWRITE }, { "write", STOR_IO_WRITE }, { "fsync", STOR_IO_FSYNC },
    { "fdatasync", STOR_IO_FDATASYNC }, { "ftruncate", STOR_IO_FTRUNCATE },
    { "fallocate", STOR_IO_FALLOCATE }, { "rename", STOR_IO_RENAME }, { "unlink", STOR_IO_UNLINK },
    { "mkdir", STOR_IO_MKDIR }, { "fsync_dir", STOR_IO_FSYNC_DIR },
};

static int parse_one(stor_io_sim *sim, char *spec)
{
    char *save = NULL;
    char *op = strtok_r(spec, ":", &save);
    char *nth = strtok_r(NULL, ":", &save);
    char *err = strtok_r(NULL, ":", &save);
    char *flags = strtok_r(NULL, ":", &save);
    if (!op || !nth || !err) return ST_EINVAL;
    int found = -1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, ops[i].name) == 0) found = (int)i;
    if (found < 0) return ST_EINVAL;
    char *end;
    unsigned long long n = strtoull(nth, &end, 10);
    if (*end) return ST_EINVAL;
    int e = strcmp(err, "ENOSPC") == 0 ? ST_ENOSPC : strcmp(err, "EIO") == 0 ? ST_EIO : 0;
    if (!e) return ST_EINVAL;
    unsigned f = 0;
    if (flags && strstr(flags, "sticky")) f |= STOR_IO_INJ_STICKY;
    if (flags && strstr(flags, "short")) f |= STOR_IO_INJ_SHORT;
    stor_io_sim_inject(sim, ops[found].op, n, e, f);
    ST_WARN("faults", "test fault armed: %s call %llu fails with %s%s", op, n, err, f ? " (flags)" : "");
    return 0;
}

int srv_faults_from_env(const char *spec, stor_io_sim **sim_out, const stor_io **io_out)
{
    *sim_out = NULL;
    *io_out = NULL;
    if (!spec || !*spec) return 0;
    stor_io_sim *sim;
    int rc = stor_io_sim_create(1, &sim);
    if (rc) return rc;
    char *copy = strdup(spec);
    if (!copy) { stor_io_sim_destroy(sim); return ST_ENOMEM; }
    char *save = NULL;
    for (char *one = strtok_r(copy, ";", &save); one; one = strtok_r(NULL, ";", &save)) {
        rc = parse_one(sim, one);
        if (rc) {
            fprintf(stderr, "stratad: STRATA_TEST_FAULT: cannot parse '%s' (use op:nth:ENOSPC|EIO[:sticky|short])\n", spec);
            free(copy);
            stor_io_sim_destroy(sim);
            return rc;
        }
    }
    free(copy);
    *sim_out = sim;
    *io_out = stor_io_sim_io(sim);
    return 0;
}

void srv_faults_free(stor_io_sim *sim) { stor_io_sim_destroy(sim); }
