/*
 * tools/progress.h — a progress line for long CLI operations (strata
 * import): bytes done / total, percent, rows, rows/s and ETA, redrawn in
 * place on a terminal at most every interval_ms by a ticker thread.
 *
 * The ticker also calls tick() every interval (strata import saves its
 * resume state there). sample() and tick() run on the ticker thread and
 * must take their own locks. Not on a terminal (draw = 0) nothing is
 * drawn: the caller prints one summary line at the end.
 */
#ifndef ST_PROGRESS_H
#define ST_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct prog_sample {
    uint64_t bytes_done;   /* input position (compressed bytes for compressed input) */
    uint64_t bytes_total;  /* 0 = unknown (stdin, pipes): no percent, no ETA */
    uint64_t rows;         /* rows (lines) acknowledged */
    double elapsed_s;
} prog_sample;

/* Format one progress line (no CR, no LF) into buf (cap >= 2); returns its
 * length. Pure: "12.3 MiB / 45.6 MiB  27% [#####...............]  123456 rows  45678 rows/s  ETA 0:01:02". */
size_t prog_format(const prog_sample *s, char *buf, size_t cap);

typedef struct progress progress;
typedef void (*prog_sample_fn)(void *arg, prog_sample *out);
typedef void (*prog_tick_fn)(void *arg);

/* Start the ticker: draws to fd when draw is set. 0 or ST_ENOMEM/ST_EIO. */
int  progress_start(int fd, int draw, int64_t interval_ms, prog_sample_fn sample, prog_tick_fn tick, void *arg,
                    progress **out);
/* Stop and join the ticker; when drawing, draw the final state and end the
 * line. Accepts NULL. */
void progress_stop(progress *p);

#endif
