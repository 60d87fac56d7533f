/*
 * storage/stor_int.h — the storage engine's private state, shared by
 * stor.c (open, write path, databases), flush.c (flush, compaction,
 * retention) and read.c (merged reads). Not for use outside storage/.
 *
 * Where a column's points live, oldest first (a later source wins a tie
 * on the same timestamp — last write wins):
 *   1. segment files of its partition, in file id order (data/db/ID/P/);
 *   2. the frozen head (being flushed), if any;
 *   3. the active head (receiving writes).
 * Locks, in the order they may be taken: apply_mu (the WAL thread applying
 * a record, or the flush thread swapping heads) -> heads_lock (readers
 * of the head pointers) -> parts_lock (the partition/segment lists) ->
 * each head's own lock. Readers never hold a lock while reading a segment:
 * they take references (seg_ref) under parts_lock and drop the lock.
 */
#ifndef ST_STOR_INT_H
#define ST_STOR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "storage/bcache.h"
#include "storage/catalog.h"
#include "storage/seg.h"
#include "storage/stor.h"
#include "storage/wal.h"

typedef struct cat_job {
    struct cat_job *next;
    int type;          /* WAL_REC_WRITE (defs section) or WAL_REC_SCHEMA; 0 = barrier */
    size_t len;
    unsigned char data[];
} cat_job;

/* A range delete whose segment files still have to be rewritten. */
typedef struct stor_del {
    struct stor_del *next;
    uint64_t db_id;
    int64_t tmin, tmax;
    size_t n;
    uint64_t ids[];        /* sorted series ids */
} stor_del;

/* One time partition of one database: its segment files, oldest first. */
typedef struct stor_part {
    uint64_t db_id;
    int64_t index;         /* floor(ts / width) */
    int64_t width_ns;
    seg **segs;            /* refcounted; one reference held here */
    size_t n, cap;
} stor_part;

struct stor {
    stor_opts opts;
    char *dir;                 /* owned */
    int lock_fd;
    const stor_io *io;
    sidx *idx;                 /* owned */
    cat *catalog;              /* owned */
    wal *log;                  /* owned */
    _Atomic int readonly;
    _Atomic uint64_t points_written;
    _Atomic uint64_t batch_ids;        /* the last stor_batch id handed out */
    uint64_t replayed;
    /* heads */
    pthread_mutex_t apply_mu;  /* held while a record is applied / heads swap */
    pthread_rwlock_t heads_lock;
    head *active;              /* owned */
    head *frozen;              /* owned; NULL unless a flush is running */
    uint64_t last_seq;         /* last WAL seq applied to a head (apply_mu) */
    uint64_t *ap_fields;       /* owned: one point's field ids while applying (apply_mu) */
    st_value *ap_vals;         /* owned: and its values */
    size_t ap_cap;
    _Atomic int64_t active_since_ns; /* when the active head got its first point (written under
                                        apply_mu, read by the flush thread without it) */
    /* segments */
    bcache *cache;             /* owned */
    pthread_rwlock_t parts_lock;
    stor_part *parts;          /* owned, sorted by (db_id, index) */
    _Atomic size_t nparts;     /* changed under parts_lock (write); read under it, or alone
                                  as a hint (has_parts in read.c) */
    size_t capparts;
    uint64_t next_file_id;     /* flush thread only (after open; the final
                                  * flush's two writers add atomically) */
    uint64_t flushed_seq;      /* every record <= this is in segment files */
    /* background flush / compaction / retention */
    pthread_t flush_thread;
    int flush_started;
    pthread_mutex_t flush_mu;
    pthread_cond_t flush_cv;
    int flush_stop, flush_request, merge_request, flush_busy, retention_request;
    stor_del *dels;            /* pending partition rewrites (flush_mu) */
    _Atomic uint64_t flushes, compactions, segments_written, partitions_dropped;
    /* catalog writer */
    pthread_t cat_thread;
    int cat_started;
    pthread_mutex_t cat_mu;
    pthread_cond_t cat_cv;
    cat_job *cat_head, *cat_tail;
    int cat_stop, cat_busy;
};

/* flush.c */
int  stor__segments_load(stor *s);          /* open every segment under data/db (start-up) */
int  stor__flush_start(stor *s);            /* the background thread */
void stor__flush_stop(stor *s);             /* stop it; flushes the head first when clean */
int  stor__flush_now(stor *s);              /* flush the active head (flush thread or close) */
void stor__flush_ask(stor *s, int merge);   /* wake the flush thread to flush (and merge); no wait */
/* Head memory back-pressure for writers (not the flush thread): past half
 * of max_head_bytes in the active head a flush is asked for, and the caller
 * waits until the flush thread has swapped it out; while a frozen head is
 * being flushed, the caller also waits as long as both heads together
 * hold max_head_bytes (at most 60 s in all; not when read-only). So the
 * heads together stay within max_head_bytes plus one record. */
void stor__head_pressure(stor *s);
size_t stor__head_limit(const stor *s);     /* max_head_bytes / 2 (64 MiB when unset) */
void stor__parts_free(stor *s);
void stor__delete_queue(stor *s, uint64_t db_id, const uint64_t *ids, size_t n, int64_t tmin, int64_t tmax);
void stor__delete_wait(stor *s);            /* until the queued rewrites are done */
int64_t stor__floor_div(int64_t a, int64_t b);
/* stor.c */
void stor__cat_barrier(stor *s);            /* wait until queued catalog jobs are applied */
char *stor__path_join(const char *a, const char *b);

#endif
