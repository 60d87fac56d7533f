/*
 * storage/head.h — the in-memory head: one column per (series, field),
 * Gorilla/delta encoded as points arrive (storage/enc.h appenders), so
 * memory stays near the compressed size.
 *
 * Points arriving in time order append to the column's in-order stream,
 * kept as a list of chunks (at most 1024 points, cut at UTC hour boundaries
 * once they hold 64) that each carry the statistics of their points, so a
 * read of a time range decodes only the chunks overlapping it and a scan
 * can answer whole chunks from statistics (head_scan); a point older than
 * the column's last timestamp goes to its small out-of-order (OOO) buffer,
 * merged into the chunks when the last one is sealed, when it holds
 * thousands, or by head_tidy once the column has taken none for a while.
 * Reads merge both and resolve duplicates: the same timestamp written twice
 * keeps the later write (appends happen in WAL sequence order, and an OOO
 * entry is always newer than an in-order entry with the same timestamp,
 * because in-order only accepts ts >= last).
 *
 * Memory: sealed chunks live in the head's own pages (storage/harena.h),
 * freed with the head; head_bytes is what the head holds — buffers by
 * capacity, pages in use — not the size of its points.
 *
 * Threads: head_append from one thread at a time (the WAL writer thread,
 * or recovery); head_read / head_scan from any thread. One rwlock: appends of a whole
 * WAL record take it for writing once (head_lock_write/unlock).
 */
#ifndef ST_HEAD_H
#define ST_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/point.h"
#include "storage/scan.h"

typedef struct head head;

/* A head is refcounted: head_create gives the first reference, head_ref
 * another (a reader that scans it after letting go of the lock that found
 * it), head_destroy drops one and frees the head with the last. */
int  head_create(head **out);
void head_ref(head *h);
void head_destroy(head *h); /* accepts NULL */

/* Bracket a run of appends (one WAL record). */
void head_lock_write(head *h);
void head_unlock_write(head *h);

/* Append one value (lock held). value->type must match the column's type
 * (a column's type is its field's, fixed). 0, ST_ENOMEM, ST_ECONFLICT. */
int head_append(head *h, uint64_t series_id, uint64_t field_id, int64_t ts_ns, const st_value *value,
                uint32_t quality);
/* Append the n values of one line (one series, one time; lock held):
 * values[i] to column (series_id, field_ids[i]). The series is looked up
 * once and the columns by position, so a line shaped like the series'
 * earlier ones costs no lookup per value. A value whose type differs from
 * its column's is skipped (ST_ECONFLICT for head_append). 0 or ST_ENOMEM;
 * *appended counts the values taken. */
int head_append_line(head *h, uint64_t series_id, int64_t ts_ns, uint32_t quality, size_t n,
                     const uint64_t *field_ids, const st_value *values, size_t *appended);

/* Points of one column in [tmin, tmax], sorted by time, duplicates
 * resolved. Arrays owned by the struct (head_points_fini). String values
 * point into `strings`. */
typedef struct head_points {
    size_t n;
    uint8_t type;       /* st_type; NONE when the column is absent */
    int64_t *ts;
    st_value *vals;
    uint32_t *quality;
    st_buf strings;
} head_points;

void head_points_init(head_points *p);
void head_points_fini(head_points *p);
/* Read lock inside. 0 (n may be 0), ST_ENOMEM. */
int  head_read(head *h, uint64_t series_id, uint64_t field_id, int64_t tmin, int64_t tmax, head_points *out);

/* Stream the column's points in [tmin, tmax] to cb (storage/scan.h): in
 * time order, duplicates resolved; with offer_stats, a chunk lying inside
 * the range with no out-of-order point or repeated time in its span is
 * offered to cb->on_block first. The read lock is held throughout: the
 * callbacks must not write to this head. 0, ST_ENOMEM, ST_ECORRUPT, or a
 * callback's non-zero return. */
int head_scan(head *h, uint64_t series_id, uint64_t field_id, int64_t tmin, int64_t tmax, int offer_stats,
              const stor_scan_cb *cb);

/* A lower bound of the column's point times in [tmin, tmax] (no decoding):
 * 1 and *lo set when the column may have points there, else 0. */
int head_first_ts(head *h, uint64_t series_id, uint64_t field_id, int64_t tmin, int64_t tmax, int64_t *lo);

/* The newest point with ts <= t: 1 (written to *ts, *v, *q; a string
 * value is copied into strings, which is cleared first), 0 when none,
 * ST_ENOMEM. Read lock inside. */
int head_last_before(head *h, uint64_t series_id, uint64_t field_id, int64_t t, int64_t *ts, st_value *v,
                     uint32_t *q, st_buf *strings);

/* Merge into their chunks the out-of-order points of the columns that took
 * none since the previous call (the flush thread calls it every 200 ms), so
 * reads of those hours are answered from chunk statistics again. Takes the
 * write lock a few dozen columns at a time. Returns the columns merged. */
size_t head_tidy(head *h);

/* Remove the series' points with ts in [tmin, tmax] (DELETE ... WHERE
 * time). Write lock inside; the columns are rebuilt. 0 or ST_ENOMEM. */
int head_delete_range(head *h, uint64_t series_id, int64_t tmin, int64_t tmax);

/* Drop every column of a series (DROP SERIES / DROP MEASUREMENT / DROP DATABASE). */
void head_drop_series(head *h, uint64_t series_id);

/* Every (series, field) column holding points, sorted by series then
 * field: pairs[2*i] = series, pairs[2*i+1] = field (st_malloc'd; the
 * caller st_free()s it). 0 or ST_ENOMEM. */
int head_columns(head *h, uint64_t **pairs, size_t *n);

size_t   head_bytes(head *h);
uint64_t head_points_count(head *h);

#endif
