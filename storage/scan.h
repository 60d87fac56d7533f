/*
 * storage/scan.h — what a column scan hands its caller (stor_scan in
 * stor.h; the head's part of it, head_scan in head.h).
 *
 * A scan delivers one column's points of a time range in time order,
 * duplicates resolved (last write wins), in three shapes:
 *   on_block  a stretch of stored points offered as statistics only (a
 *             segment block, a page of one (when `pages` is set) or a
 *             sealed head chunk lying entirely inside the range that
 *             nothing else overlaps). The callee returns 1 to take
 *             it (its points are then not delivered) or 0 to get the points.
 *   on_run    points as typed arrays, straight from a decoded block or chunk
 *             (no conversion). Optional: when NULL, runs come through
 *             on_points. Never used for STRING columns.
 *   on_points points as st_value arrays (merged points, strings; every run
 *             when on_run is NULL).
 * A non-zero return of on_run / on_points stops the scan and is returned.
 * Arrays are borrowed for the duration of the call.
 */
#ifndef ST_STORAGE_SCAN_H
#define ST_STORAGE_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include <string.h>

#include "common/point.h"
#include "storage/seg_format.h"

typedef struct stor_block_stats {
    uint8_t type;                 /* st_type; STRING blocks are never offered */
    uint32_t count;
    int64_t min_ts, max_ts;       /* first and last point times */
    double min, max, sum;         /* as doubles (ints converted) */
    st_value first, last;         /* the values at min_ts and max_ts */
} stor_block_stats;

/* A run of points of one FLOAT, INT, UINT or BOOL column, typed. */
typedef struct stor_run {
    uint8_t type;                 /* st_type */
    size_t n;
    const int64_t *ts;            /* n, strictly increasing */
    const double *f;              /* by type: FLOAT f, INT i, UINT u, BOOL b (0/1) */
    const int64_t *i;
    const uint64_t *u;
    const uint8_t *b;
    const uint32_t *quality;      /* n, or NULL when every point is Good */
} stor_run;

typedef struct stor_scan_cb {
    int (*on_block)(void *arg, const stor_block_stats *b);
    int (*on_points)(void *arg, size_t n, const int64_t *ts, const st_value *vals, const uint32_t *quality);
    int (*on_run)(void *arg, const stor_run *r); /* NULL: runs arrive through on_points */
    void *arg;
    /* 1: a segment block declined as a whole is offered again page by page
     * (its page table, storage/seg_format.h: statistics per minute, 10
     * minutes, hour or day) before its points are decoded. For callers
     * whose on_block takes statistics that fit a time window. */
    int pages;
} stor_scan_cb;

/* Statistics in seg_stats form (segment blocks and head chunks keep them
 * so: storage/seg_format.h) as a stor_block_stats. */
static inline st_value scan__num_value(uint8_t type, seg_num v)
{
    st_value x;
    memset(&x, 0, sizeof x);
    x.type = type;
    switch (type) {
    case ST_TYPE_FLOAT: x.v.f = v.f; break;
    case ST_TYPE_INT: x.v.i = v.i; break;
    case ST_TYPE_UINT: x.v.u = v.u; break;
    default: x.v.b = v.u != 0; break;
    }
    return x;
}

static inline double scan__num_double(uint8_t type, seg_num v)
{
    switch (type) {
    case ST_TYPE_FLOAT: return v.f;
    case ST_TYPE_INT: return (double)v.i;
    default: return (double)v.u;
    }
}

static inline void scan_stats_from_seg(uint8_t type, uint32_t count, int64_t min_ts, int64_t max_ts,
                                       const seg_stats *st, stor_block_stats *bs)
{
    memset(bs, 0, sizeof *bs);
    bs->type = type;
    bs->count = count;
    bs->min_ts = min_ts;
    bs->max_ts = max_ts;
    bs->min = scan__num_double(type, st->min);
    bs->max = scan__num_double(type, st->max);
    bs->sum = scan__num_double(type, st->sum);
    bs->first = scan__num_value(type, st->first);
    bs->last = scan__num_value(type, st->last);
}

#endif
