/*
 * storage/wal.h — the write-ahead log: one writer thread appends batches as
 * checksummed, optionally LZ4-compressed records to preallocated segment
 * files (format and crash story: storage/wal_format.h), makes them durable
 * according to the fsync mode, and reports each batch once through its
 * callback. wal_replay reads them back at start-up.
 *
 * Threads: wal_append and wal_checkpoint from any thread; callbacks run on
 * the WAL's writer thread (hand the result to your loop, e.g. uv_async);
 * wal_open/wal_close from the owner's thread; wal_replay before wal_open.
 * Ownership: the wal owns its thread, queue, buffers and the current file;
 * opts strings and the io table are borrowed for the wal's lifetime.
 */
#ifndef STOR_WAL_H
#define STOR_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "storage/io.h"
#include "storage/wal_format.h"

enum wal_fsync_mode {
    WAL_FSYNC_GROUP = 0,    /* callbacks after the fdatasync covering the record */
    WAL_FSYNC_INTERVAL = 1, /* callbacks after the write; fdatasync every interval */
    WAL_FSYNC_NEVER = 2,    /* no fsync while running (close still syncs) */
};

typedef struct wal_opts {
    const char *dir;             /* the wal folder (created if missing); borrowed */
    const stor_io *io;           /* NULL: stor_io_posix(); borrowed */
    int fsync_mode;              /* enum wal_fsync_mode */
    uint32_t fsync_interval_ms;  /* INTERVAL mode; 0 -> 100 */
    uint64_t segment_bytes;      /* preallocated file size; 0 -> 64 MiB */
    uint64_t next_seq;           /* from wal_replay's result; 0 -> 1 */
    int lz4;                     /* nonzero: compress payloads of >= lz4_min_bytes */
    uint32_t lz4_min_bytes;      /* 0 -> 256 */
    uint64_t max_group_bytes;    /* bytes per write+fsync group; 0 -> 8 MiB */
} wal_opts;

/* Fills the defaults above (lz4 on). */
void wal_opts_init(wal_opts *o, const char *dir);

typedef struct wal wal;

/* status 0: the record is in the log (durable in GROUP mode) with number
 * seq. ST_ENOSPC: not written (the partial bytes were cut off and the cut
 * synced; the WAL stays writable; retry later). ST_EREADONLY: a write or
 * fsync failed; nothing more is written until the WAL is reopened after
 * recovery. seq is 0 unless status is 0.
 * NOTE: a batch that failed with ST_EREADONLY (or one in flight at a power
 * cut) may still be found by the next replay: its bytes reached the file,
 * only their durability was unknown. Applying it then is harmless for
 * time-series points (same series/field/time: last write wins), but the
 * engine must not assume a rejected batch is absent. Nothing acknowledged
 * with status 0 in GROUP mode is ever missing. */
typedef void (*wal_done_cb)(void *arg, int status, uint64_t seq);

/* Opens the log for appending, starting a new segment at opts->next_seq,
 * and starts the writer thread. Files already in dir are left as they are
 * (checkpoint deletes them). 0, ST_ENOMEM, ST_ENOSPC, ST_EIO, ST_EINVAL. */
int wal_open(const wal_opts *opts, wal **wal_out);

/* Queues one record. payload is BORROWED until done_cb runs (not copied).
 * type: enum wal_rec_type; len <= WAL_MAX_PAYLOAD. Returns 0 and then
 * done_cb runs exactly once, on the writer thread, in sequence order;
 * or returns ST_EREADONLY / ST_ECLOSED / ST_ETOOLARGE / ST_EINVAL /
 * ST_ENOMEM and done_cb never runs. Any thread. */
int wal_append(wal *w, int type, const void *payload, size_t len, wal_done_cb done_cb, void *arg);

/* Every record with seq < upto_seq is safely elsewhere: delete the segment
 * files holding only such records (never the current one). Any thread.
 * 0 or the first unlink error (the rest are still tried). */
int wal_checkpoint(wal *w, uint64_t upto_seq);

/* Writes what is queued, fsyncs, stops the thread, closes the file, frees.
 * Returns 0, or the error of the last sync (ST_EREADONLY if the WAL had
 * gone read-only). NULL ok. */
int wal_close(wal *w);

/* Counters for /metrics (monotonic; read without locking). */
typedef struct wal_stats {
    uint64_t bytes_written;   /* record bytes appended (incl. headers) */
    uint64_t records;         /* records appended */
    uint64_t groups;          /* write groups */
    uint64_t fsyncs;          /* fdatasync/fsync calls on segment files */
    uint64_t segments_created;
    uint64_t segments_deleted;
    uint64_t next_seq;        /* next sequence number to assign */
    int read_only;
} wal_stats;
void wal_stats_get(wal *w, wal_stats *out);

/* ---- replay ---------------------------------------------------------- */

/* One valid record with seq >= from_seq. payload (raw_len bytes,
 * decompressed) is valid only during the call. Return 0 to go on; any
 * other value stops replay and is returned by wal_replay. */
typedef int (*wal_record_cb)(void *arg, int type, uint64_t seq, const void *payload, size_t raw_len);

typedef struct wal_replay_result {
    uint64_t next_seq;          /* pass to wal_open: 1 + the highest seq seen, or from_seq */
    uint64_t records;           /* records handed to record_cb */
    uint64_t records_lost;      /* sequence numbers in reported lost ranges */
    uint64_t bytes_truncated;   /* torn-tail bytes cut off */
    uint64_t segments;          /* files read */
} wal_replay_result;

/* Reads every segment in dir in order (a missing dir is an empty log),
 * repairs a torn tail (truncates the file), reports lost ranges (one ERROR
 * line each) and calls record_cb for each valid record with seq >=
 * from_seq. 0, a record_cb return value, ST_ENOMEM, ST_EIO. result is
 * written on success. io NULL: stor_io_posix(). Call before wal_open. */
int wal_replay(const char *dir, const stor_io *io, uint64_t from_seq,
               wal_record_cb record_cb, void *arg, wal_replay_result *result_out);

#endif
