/*
 * server/faults.h — test-only fault injection for stratad through the
 * storage I/O table (DESIGN.md: "all disk I/O through one table of
 * functions, so tests can inject failures").
 *
 * STRATA_TEST_FAULT="op:nth:error[:flags]" (several separated by ';'):
 *   op     pwrite write fsync fdatasync fallocate ftruncate open rename ...
 *   nth    0-based count of calls of that kind from start-up
 *   error  ENOSPC | EIO
 *   flags  sticky (every later call fails too), short (half written first)
 * e.g. STRATA_TEST_FAULT="fallocate:1:ENOSPC" or "fdatasync:5:EIO".
 * Not a setting: tests only. Main thread, at start-up.
 */
#ifndef ST_FAULTS_H
#define ST_FAULTS_H

#include "storage/io.h"

/* Parse the spec and return an I/O table that injects it (owned by the
 * returned sim; destroy with srv_faults_free). *io_out NULL when spec is
 * NULL/empty. 0 or ST_EINVAL (message on stderr). */
int  srv_faults_from_env(const char *spec, stor_io_sim **sim_out, const stor_io **io_out);
void srv_faults_free(stor_io_sim *sim);

#endif
