/*
 * storage/stor.h — the storage engine's public API: the one ingest path
 * (stor_write), the read path for queries, and database management.
 *
 * Write path (DESIGN.md "Write path"):
 *   1. a producer (HTTP handler, MQTT session, CLI import) creates a batch
 *      for one database and adds lines; each line is resolved against the
 *      series index as it is added (new series and fields get ids now, and
 *      their definitions go into the batch's WAL record), so per-line
 *      rejections (field type conflict, max-series) are known before the
 *      batch is submitted;
 *   2. stor_write() queues the batch as ONE WAL record; done_cb fires on the
 *      WAL writer thread once the record is durable under the fsync mode
 *      (or failed: ST_ENOSPC, ST_EREADONLY), after the points were applied
 *      to the head — so a point is visible to queries no later than it is
 *      acknowledged;
 *   3. the same record decoder applies records at recovery (WAL replay),
 *      so live apply and replay are one code path.
 *
 * Threads: stor_batch_* on the producer's thread (one thread per batch);
 * stor_write from any thread; queries from any thread (the head and index
 * take their own locks); stor_open/stor_close from the main thread.
 */
#ifndef ST_STOR_H
#define ST_STOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/point.h"
#include "common/slice.h"
#include "storage/head.h"
#include "storage/io.h"
#include "storage/scan.h"
#include "storage/sindex.h"

/* data/FORMAT holds exactly this line; a format change bumps it. */
#define STOR_FORMAT_TEXT "strata-data-format 1\n"

typedef struct stor stor;
typedef struct stor_batch stor_batch;

enum stor_fsync_mode { STOR_FSYNC_GROUP = 0, STOR_FSYNC_INTERVAL = 1, STOR_FSYNC_NEVER = 2 };

typedef struct stor_opts {
    const char *data_dir;          /* borrowed */
    int fsync_mode;                /* stor_fsync_mode */
    int64_t fsync_interval_ms;
    uint64_t wal_segment_bytes;
    uint64_t max_series;           /* 0 = unlimited */
    size_t max_head_bytes;         /* flush when the head passes half of it; writers wait while the
                                      two heads (during a flush) hold all of it */
    size_t block_cache_bytes;      /* decoded segment blocks kept in memory */
    int64_t flush_age_ms;          /* flush a head older than this; 0 -> 10 minutes */
    int bulk_load;                 /* offline import: no WAL; stor_write applies at once on the caller's
                                      thread, and data is durable only once stor_close (or stor_flush)
                                      returned — an interrupted bulk load is simply run again. Flushes
                                      do not compact (the server merges the files later) */
    const stor_io *io;             /* NULL = stor_io_posix() */
} stor_opts;

/* Take data_dir/LOCK (ST_EBUSY with a clear log line when another process
 * holds it), check/write FORMAT, open the catalog, load the index, replay
 * the WAL into the head, start the WAL writer. */
int  stor_open(const stor_opts *opts, stor **out);
/* Stop accepting, wait for queued records, checkpoint, release LOCK. */
void stor_close(stor *s);
/* 1 when a failed fsync/EIO made storage read-only (until restart). */
int  stor_is_readonly(const stor *s);

/* ---- databases ----
 * Lookups go to the index (sidx_db_lookup, sidx_db_rp_check, sidx_db_each
 * on stor_index()). Changes go through here: they are logged to the WAL
 * (so replay knows them) and persisted to the catalog in the background. */

/* Idempotent: an existing database is 0 with its id. ST_EINVAL for an
 * empty name. Any thread; never blocks on disk. */
int stor_db_create(stor *s, st_slice name, uint64_t *db_id);
/* DROP DATABASE: the index forgets it at once; its data is freed. */
int stor_db_drop(stor *s, uint64_t db_id);

/* These log a record, wait until it is durable and applied, and return:
 * call them from a worker thread, never a network loop.
 * ALTER/CREATE RETENTION POLICY ... DURATION d (0 = infinite): writes older
 * than now - d are refused per line ("points beyond retention policy");
 * whole partitions past the window are dropped by the background thread. */
int stor_db_set_retention(stor *s, uint64_t db_id, int64_t duration_ns);
/* DROP MEASUREMENT / DROP SERIES: gone from the index and the heads at
 * once; segment bytes are reclaimed by compaction. */
int stor_measurement_drop(stor *s, uint64_t db_id, st_slice measurement);
int stor_series_drop(stor *s, uint64_t db_id, const uint64_t *series_ids, size_t n);
/* DELETE FROM m WHERE <tags> AND time ...: the series' points in
 * [tmin_ns, tmax_ns]. Logged; applied to the heads at once; the segment
 * files of the partitions in range are rewritten without them before this
 * returns (and again at start-up if a crash came first). */
int stor_delete(stor *s, uint64_t db_id, const uint64_t *series_ids, size_t n, int64_t tmin_ns, int64_t tmax_ns);

/* ---- the write path ---- */
typedef struct stor_field_in {
    st_slice key;
    st_value value;
} stor_field_in;

/* Per-line rejection, for the partial-write reply. msg is written into the
 * caller's buffer (NUL-terminated, truncated to cap). */
int  stor_batch_create(stor *s, uint64_t db_id, stor_batch **out);
void stor_batch_destroy(stor_batch *b); /* accepts NULL; only before stor_write */
/*
 * Add one line. Returns 0; ST_ECONFLICT (field type conflict: that field is
 * dropped, the others kept — msg says which, and *dropped counts the dropped
 * values), ST_ELIMIT (max-series: the line is dropped), ST_ERANGE (older
 * than the retention window: "points beyond retention policy"), ST_ENOMEM.
 * On ST_ECONFLICT the line's other fields are still added.
 */
int  stor_batch_add(stor_batch *b, st_slice measurement, const st_slice *tag_keys,
                    const st_slice *tag_vals, uint32_t tag_count, const stor_field_in *fields,
                    uint32_t field_count, int64_t ts_ns, uint32_t quality, char *msg, size_t msg_cap,
                    uint32_t *dropped);
uint64_t stor_batch_points(const stor_batch *b); /* values added so far */

/*
 * Series refs: a producer that can tell a line's series from an earlier
 * line's (line protocol: the series key as written) resolves it once per
 * batch. Right after a stor_batch_add (or _add_ref) that returned 0 or
 * ST_ECONFLICT, stor_batch_series_ref gives that line's series; later lines
 * of the same series (and measurement) go through stor_batch_add_ref: no tag
 * sorting, no index lookup, no index lock. A ref belongs to its batch:
 * compare stor_batch_id() to know when refs kept from another batch went
 * stale. The producer's thread, like the other stor_batch_* calls.
 */
typedef struct stor_series_ref {
    uint64_t batch;   /* stor_batch_id of the batch it belongs to */
    uint32_t idx;
} stor_series_ref;

/* Unique among the batches of one stor (never 0). */
uint64_t stor_batch_id(const stor_batch *b);
/* The series of the line added last. 0, ST_ENOTFOUND (that line was
 * refused as a whole, or none was added), ST_ENOMEM. */
int stor_batch_series_ref(stor_batch *b, stor_series_ref *out);
/* stor_batch_add for a line of the ref's series: same returns (but
 * ST_ELIMIT), and ST_EINVAL for a ref of another batch. */
int stor_batch_add_ref(stor_batch *b, stor_series_ref ref, const stor_field_in *fields, uint32_t field_count,
                       int64_t ts_ns, uint32_t quality, char *msg, size_t msg_cap, uint32_t *dropped);

typedef void (*stor_done_cb)(void *arg, int status);
/* Takes ownership of the batch (also when it returns an error). An empty
 * batch completes at once (done_cb runs before stor_write returns).
 * 0: done_cb runs exactly once, on the WAL thread, with 0, ST_ENOSPC or
 * ST_EREADONLY. Non-zero (ST_EREADONLY, ST_ENOMEM): done_cb never runs. */
int  stor_write(stor_batch *b, stor_done_cb done_cb, void *arg);
/* stor_write, then wait for done_cb on the caller's thread: its status
 * (0, ST_ENOSPC, ST_EREADONLY) or stor_write's error. For tools and tests
 * that write one batch at a time; never on a thread the WAL writer waits
 * for (an I/O loop). */
int  stor_write_wait(stor_batch *b);

/* ---- the read path ----
 * Meta data (databases, measurements, tag keys/values, fields, series,
 * postings) comes from the series index: query/ calls sidx_* on the index
 * returned here (borrowed; lives as long as the stor). Points come from
 * stor_read, which merges every place a column lives (today: the head;
 * with segments: segments + head) into time order, last write winning. */
sidx *stor_index(stor *s);

/* Points of one column (series, field) with ts in [tmin_ns, tmax_ns].
 * out is reused across calls (init once, fini once). 0 or ST_ENOMEM. */
typedef head_points stor_points;
static inline void stor_points_init(stor_points *p) { head_points_init(p); }
static inline void stor_points_fini(stor_points *p) { head_points_fini(p); }
int stor_read(stor *s, uint64_t series_id, uint64_t field_id, int64_t tmin_ns, int64_t tmax_ns,
              stor_points *out);

/* The newest point of the column at or before t ("value at or before t":
 * interpolation, time-weighted averages, step tags, snapshots,
 * fill(previous), last()): out->n is 1 (ts[0], vals[0], quality[0]) or 0.
 * Found through each file's per-column last value and block index and
 * the heads, newest partition first: no scan back over months. */
int stor_last_before(stor *s, uint64_t series_id, uint64_t field_id, int64_t t, stor_points *out);

/*
 * stor_scan: the column's points in [tmin_ns, tmax_ns] in time order, as
 * storage/scan.h describes, with stored stretches offered as statistics
 * where that is exact: a segment block or a head chunk entirely inside the
 * range that no other source (another file, a head, an out-of-order point)
 * overlaps in time. Runs of points arrive in time order, duplicates
 * resolved (last write wins), never overlapping a stretch taken as
 * statistics. A callback's non-zero return (on_run, on_points) stops the
 * scan and is returned. 0, ST_ENOMEM, I/O errors.
 */
int stor_scan(stor *s, uint64_t series_id, uint64_t field_id, int64_t tmin_ns, int64_t tmax_ns,
              const stor_scan_cb *cb);

/* Flush the head to segment files now and wait for it (tests, tools,
 * before a backup). 0, ST_ENOSPC (it failed; retried later) or
 * ST_EREADONLY. Any thread but a network loop. */
int stor_flush(stor *s);
/* Flush, then rewrite every partition into one file in the cold form
 * (8192-point blocks, higher zstd level): VictoriaMetrics' force_merge.
 * Waits. 0 or ST_EREADONLY. */
int stor_compact(stor *s);

/* ---- small named values kept in the catalog (e.g. the MQTT bridge's
 * generated client id). Keys are the caller's ("mqtt.bridge.client_id").
 * get: an st_malloc'd NUL-terminated copy the caller st_free()s, 0 or
 * ST_ENOTFOUND; set: durable when it returns. Both wait for the catalog
 * thread to be idle and hold it off meanwhile: call them at start-up from
 * the main thread (not from an I/O loop: they touch sqlite3). */
int stor_meta_get(stor *s, const char *key, char **val, size_t *len);
int stor_meta_set(stor *s, const char *key, const void *val, size_t len);

/* ---- counters (for /metrics) ---- */
typedef struct stor_stats {
    uint64_t points_written;
    uint64_t series_count;
    uint64_t wal_bytes;
    uint64_t wal_records;
    uint64_t wal_fsyncs;
    uint64_t head_bytes;
    uint64_t replayed_records;
    uint64_t flushes, compactions, segments_written;
} stor_stats;
void stor_get_stats(stor *s, stor_stats *out);

#endif
