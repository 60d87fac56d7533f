/*
 * query/fastagg.h — streaming windowed aggregates over one field of a group
 * of series, without gathering and sorting the group's points.
 *
 * The dashboard case: SELECT count|sum|mean|min|max|first|last|spread(f)
 * (any subset at once) over a set of series merged into one GROUP BY group,
 * a time range [tmin, tmax] and windows given as sorted boundaries (window
 * w = [bounds[w], bounds[w + 1]); the caller computes GROUP BY time with
 * offsets and time zones). Each series is read with stor_scan: a segment
 * block lying entirely inside one window is answered from its statistics
 * (when the aggregates asked for can be, see qfa_opts.use_stats), the other
 * points are folded into the window accumulators as they stream by. Cost:
 * O(points not answered from statistics + blocks + windows), memory
 * O(windows), no allocation per point.
 *
 * Semantics (all types follow InfluxDB 1.x unless said):
 *   count   points in the window (INT result).
 *   sum     FLOAT: IEEE double, each run of points of one window summed left
 *           to right from its first value and then added (so a block gives
 *           the same bits from statistics or from its points); NaN and Inf
 *           propagate. INT / UINT: exact, wrapping mod 2^64 (InfluxDB sums
 *           integers as int64).
 *   mean    double sum / count (integers converted to double per value).
 *   min/max the block statistics convention (storage/seg_format.h): NaN is
 *           ignored unless every value is NaN (then the first value); ties
 *           keep the earliest point. (exec.c's reduce() differs when the
 *           first value of a window is NaN: it returns NaN.)
 *   spread  max - min (INT/UINT wrapping, FLOAT double).
 *   first   the point with the smallest time; last: the largest.
 *   Ties on equal timestamps across the group's series: first keeps the
 *   earlier series in the given order, last the later one, and min/max the
 *   earlier series — the order exec.c's gather() sorts (time, then series
 *   order); the caller passes the series sorted by series key, which is
 *   InfluxDB's tie order.
 *   Types: FLOAT, INT, UINT take every aggregate; BOOL and STRING only
 *   count, first and last (qfa_supported). Points of any quality count, as
 *   exec.c does today; QFA_GOOD_ONLY keeps only Good points (and then no
 *   block is answered from statistics, which mix qualities).
 *
 * Threads: any thread; one qfa_result per thread. stor_scan takes its
 * own locks. Strings in a result are borrowed from the qfa_result.
 */
#ifndef ST_QUERY_FASTAGG_H
#define ST_QUERY_FASTAGG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/point.h"
#include "storage/stor.h"

/* Aggregates (bits, any subset). */
enum qfa_agg {
    QFA_COUNT  = 1u << 0,
    QFA_SUM    = 1u << 1,
    QFA_MEAN   = 1u << 2,
    QFA_MIN    = 1u << 3,
    QFA_MAX    = 1u << 4,
    QFA_FIRST  = 1u << 5,
    QFA_LAST   = 1u << 6,
    QFA_SPREAD = 1u << 7,
};
#define QFA_ALL_AGGS 0xffu

/* Flags (qfa_opts.flags). */
enum qfa_flag {
    /* min/max report the exact time and series of the selected point
     * (exec.c needs it for a single selector without GROUP BY time): a
     * block whose min/max wins is read once more to find the point. Without
     * it, min_ts/max_ts of a window answered from statistics is the
     * winning block's first time. */
    QFA_SEL_TS    = 1u << 0,
    /* Only points with quality ST_QUALITY_GOOD are aggregated. */
    QFA_GOOD_ONLY = 1u << 1,
};

typedef struct qfa_opts {
    unsigned aggs;       /* enum qfa_agg bits; 0 = all */
    unsigned flags;      /* enum qfa_flag bits */
    int use_stats;       /* 1: answer whole blocks from statistics; 0: fold every point */
    /* Called after each series with the values it contributed (points and
     * values answered from statistics); non-zero stops the run and is
     * returned (query budgets, timeouts). NULL = none. */
    int (*check)(void *arg, uint64_t values);
    void *check_arg;
} qfa_opts;

/* One window's result. Open type. Every field but count is meaningless
 * when count == 0 (no data: null, or 0 for count under fill(null)), and
 * so are the fields of aggregates not asked for (qfa_opts.aggs): sum and
 * mean with QFA_SUM or QFA_MEAN, min with QFA_MIN or QFA_SPREAD, max with
 * QFA_MAX or QFA_SPREAD, spread, first and last with their own bits. */
typedef struct qfa_win {
    uint64_t count;
    st_value sum;            /* FLOAT: v.f; INT: v.i; UINT: v.u */
    double mean;
    st_value min, max;       /* the column's type */
    st_value spread;         /* the column's type */
    st_value first, last;    /* STRING: v.s borrowed from the qfa_result */
    int64_t min_ts, max_ts, first_ts, last_ts;
    uint32_t min_series, max_series, first_series, last_series; /* index into qfa_query.series */
} qfa_win;

typedef struct qfa_query {
    uint64_t field_id;
    uint8_t type;               /* the field's st_type */
    const uint64_t *series;     /* borrowed: the group, in tie order (see above) */
    size_t nseries;
    int64_t tmin_ns, tmax_ns;   /* inclusive */
    /* nwindows + 1 sorted boundaries (borrowed); NULL: one window that is
     * [tmin_ns, tmax_ns] (no GROUP BY time; nwindows must be 1). Points
     * outside [bounds[0], bounds[nwindows]) are not counted. */
    const int64_t *bounds_ns;
    size_t nwindows;
} qfa_query;

/* Caller's storage, reused across runs (init once, fini once). */
typedef struct qfa_result {
    size_t nwindows;
    qfa_win *win;                 /* owned: nwindows results */
    /* counters of the last run */
    uint64_t values_points;       /* values folded one by one */
    uint64_t values_stats;        /* values answered from block statistics */
    uint64_t blocks_stats;        /* blocks answered from statistics */
    /* private */
    size_t cap;
    void *acc;                    /* owned: per-window accumulators */
    st_buf strs;                  /* owned: first/last strings */
    stor_points scratch;          /* owned: QFA_SEL_TS re-reads, qfa_last */
    void *conv;                   /* owned: merged points typed for folding */
    size_t conv_cap;              /* values conv holds (8 bytes each) */
} qfa_result;

void qfa_result_init(qfa_result *r);
void qfa_result_fini(qfa_result *r);

/* 1 when every aggregate in aggs is defined for a column of this type
 * (FLOAT/INT/UINT: all; BOOL/STRING: count, first, last), else 0. */
int qfa_supported(unsigned aggs, st_type type);

/*
 * Aggregate q into r (r->nwindows = q->nwindows, r->win[w] per window).
 * 0; ST_EINVAL (nwindows 0, bounds NULL with nwindows != 1, an aggregate
 * the type does not take); ST_ENOMEM; storage errors from stor_scan; or
 * opts->check's non-zero return. On error r's windows are undefined.
 * A column whose points have another type than q->type (a type conflict
 * across shards) is skipped for those points.
 */
int qfa_run(stor *s, const qfa_opts *opts, const qfa_query *q, qfa_result *r);

/*
 * The group's newest point at or before tmax_ns (and at or after tmin_ns)
 * over q->series, through stor_last_before (no scan back over the range):
 * r->nwindows = 1 and win[0] has count 1 (found) or 0, with last, last_ts,
 * last_series (first, min, max, their times and series set to the same
 * point; sum/mean/spread unset). Equal times: the later series in q's
 * order (as last()). bounds_ns, nwindows and opts->aggs are ignored.
 * 0, ST_EUNSUPPORTED with QFA_GOOD_ONLY (the newest point may not be Good:
 * use qfa_run with QFA_LAST), ST_ENOMEM, storage errors, check's return.
 */
int qfa_last(stor *s, const qfa_opts *opts, const qfa_query *q, qfa_result *r);

#endif
