/*
 * storage/wal.c — the write-ahead log writer and replay (API: wal.h, bytes
 * and crash story: wal_format.h).
 *
 * Owns: the writer thread, the append queue (items malloc'd per append,
 * payloads borrowed), the group buffer, the current segment's fd, and the
 * list of segment files (first sequence numbers) for checkpoints.
 * Threads: wal_append/wal_checkpoint/wal_stats_get from any thread; all
 * file writes and every callback on the writer thread.
 *
 * INVARIANTS
 *  1. Only the writer thread writes segment files, and only at seg_off, the
 *     end of the last complete group; bytes past seg_off are zeros (or the
 *     zeroed remains of a failed group).
 *  2. Sequence numbers are consecutive in queue order. A record's number
 *     is final only when its group is written (and, in GROUP mode,
 *     fdatasynced); a group that fails with ENOSPC is zeroed and its
 *     numbers are given to the next group.
 *  3. In GROUP mode no callback reports success before the fdatasync that
 *     covers its record returned 0. Callbacks run in sequence order,
 *     exactly once per append that returned 0.
 *  4. After a failed write (other than ENOSPC) or a failed fsync the WAL
 *     is read-only for good: nothing more is written, no fsync is retried,
 *     every queued and later append fails with ST_EREADONLY.
 *  5. A new segment is preallocated, gets its header, and is fsynced
 *     together with its directory before any record goes into it; the
 *     previous segment is fdatasynced first (INTERVAL mode) so switching
 *     files never drops unsynced data from the interval guarantee.
 *  6. The current (last) segment is never deleted by a checkpoint.
 *
 * CRASH/RECOVERY: see wal_format.h. Replay reads whole segment files into
 * memory one at a time (a segment is at most max(segment_bytes, one
 * record)), validates records, resynchronises on 8-byte boundaries after a
 * corrupt one, cuts off a torn tail of the last segment, and names every
 * lost sequence range in one ERROR line.
 */
#include "storage/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#define WAL_MOD "wal"
#define WAL_PATH_MAX 4096

typedef struct wal_item {
    struct wal_item *next;
    const void *payload; /* borrowed until the callback */
    size_t len;
    int type;
    wal_done_cb cb;
    void *arg;
} wal_item;

struct wal {
    wal_opts o;
    char *dir;                 /* owned copy of o.dir */
    const stor_io *io;         /* borrowed */

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;        /* queue, stopping */
    pthread_cond_t cv;
    wal_item *head, *tail;     /* owned queue */
    int stopping;

    /* writer-thread state */
    int fd;
    uint64_t seg_first, seg_off, seg_size;
    uint64_t next_seq;
    uint64_t unsynced_bytes;
    struct timespec last_sync;
    unsigned char *gbuf;       /* owned group buffer */
    size_t gcap, glen;
    wal_item *ghead, *gtail;   /* items of the current group, owned */
    uint64_t gcount;
    int close_rc;

    pthread_mutex_t seg_mu;    /* segs */
    uint64_t *segs;            /* owned: first seqs of files, ascending; last = current */
    size_t nsegs, segs_cap;

    _Atomic int read_only;
    _Atomic uint64_t st_bytes, st_records, st_groups, st_fsyncs, st_created, st_deleted, st_next_seq;
};

void wal_opts_init(wal_opts *o, const char *dir)
{
    memset(o, 0, sizeof *o);
    o->dir = dir;
    o->fsync_mode = WAL_FSYNC_GROUP;
    o->fsync_interval_ms = 100;
    o->segment_bytes = 64ull << 20;
    o->next_seq = 1;
    o->lz4 = 1;
    o->lz4_min_bytes = 256;
    o->max_group_bytes = 8ull << 20;
}

static void seg_path(char *out, size_t cap, const char *dir, uint64_t first_seq)
{
    snprintf(out, cap, "%s/%016" PRIx64 ".wal", dir, first_seq);
}

/* "0000000000000400.wal" -> 0x400; 0 if the name is not a segment's. */
static int seg_name_parse(const char *name, uint64_t *seq_out)
{
    if (strlen(name) != WAL_SEG_NAME_LEN || strcmp(name + 16, ".wal") != 0) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return 0;
        v = v << 4 | (uint64_t)d;
    }
    *seq_out = v;
    return 1;
}

/* ------------------------------------------------------------ segment list */

typedef struct seq_list { uint64_t *v; size_t n, cap; int oom; } seq_list;

static int seq_list_push(seq_list *l, uint64_t s)
{
    int rc = st_grow(&l->v, &l->cap, l->n + 1, sizeof *l->v, 16);
    if (rc) return rc;
    l->v[l->n++] = s;
    return 0;
}

static int list_cb(void *arg, const char *name)
{
    seq_list *l = arg;
    uint64_t s;
    if (!seg_name_parse(name, &s)) return 0;
    if (seq_list_push(l, s)) { l->oom = 1; return 1; }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the segment files of dir, sorted. A missing dir is empty. */
static int list_segments(const stor_io *io, const char *dir, seq_list *out)
{
    seq_list l = {0};
    int rc = io->list_dir(io->ctx, dir, list_cb, &l);
    if (l.oom) rc = ST_ENOMEM;
    if (rc == ST_ENOTFOUND) rc = 0;
    if (rc) { st_free(l.v); return rc; }
    if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp_u64);
    *out = l;
    return 0;
}

/* ------------------------------------------------------------------ writer */

static void set_read_only(wal *w, const char *what, int err)
{
    if (atomic_exchange(&w->read_only, 1)) return;
    ST_ERROR(WAL_MOD, "storage read-only after failed %s: file=%016" PRIx64 ".wal err=%s; "
             "unacknowledged batches rejected until restart",
             what, w->seg_first, st_errname(err));
}

static void now_mono(struct timespec *ts) { clock_gettime(CLOCK_MONOTONIC, ts); }

static int64_t ms_since(const struct timespec *t0)
{
    struct timespec t;
    now_mono(&t);
    return (int64_t)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int sync_current(wal *w)
{
    int rc = w->io->fdatasync(w->io->ctx, w->fd);
    atomic_fetch_add(&w->st_fsyncs, 1);
    now_mono(&w->last_sync);
    if (rc == 0) w->unsynced_bytes = 0;
    return rc;
}

/* Creates, preallocates, heads and syncs a segment starting at next_seq
 * big enough for `need` record bytes; makes it current. On failure the old
 * segment stays current and nothing of the new file remains. */
static int roll_segment(wal *w, uint64_t need)
{
    char path[WAL_PATH_MAX];
    const stor_io *io = w->io;
    uint64_t size = w->o.segment_bytes;
    if (size < WAL_SEG_HDR_SIZE + need) size = WAL_SEG_HDR_SIZE + need;
    int fd = -1, rc;

    /* Rule 5: the old file's unsynced bytes first. */
    if (w->fd >= 0 && w->unsynced_bytes && w->o.fsync_mode != WAL_FSYNC_NEVER) {
        rc = sync_current(w);
        if (rc) { set_read_only(w, "fdatasync", rc); return ST_EREADONLY; }
    }
    /* The seqs list must have room before anything irreversible happens. */
    pthread_mutex_lock(&w->seg_mu);
    rc = st_grow(&w->segs, &w->segs_cap, w->nsegs + 1, sizeof *w->segs, 16);
    pthread_mutex_unlock(&w->seg_mu);
    if (rc) return rc;

    seg_path(path, sizeof path, w->dir, w->next_seq);
    /* A file of this name must hold no valid record (replay's next_seq is
     * past every valid record): e.g. a segment created just before a crash.
     * If it does hold one, next_seq did not come from replay: refuse rather
     * than delete data. */
    rc = io->open(io->ctx, path, O_RDONLY, 0, &fd);
    if (rc == 0) {
        unsigned char probe[WAL_REC_HDR_SIZE];
        size_t got = 0;
        wal_rec_hdr ph;
        int prc = io->pread(io->ctx, fd, probe, sizeof probe, WAL_SEG_HDR_SIZE, &got);
        io->close(io->ctx, fd);
        fd = -1;
        if (prc == 0 && got == sizeof probe && wal_rec_hdr_decode(probe, &ph)) {
            ST_ERROR(WAL_MOD, "segment file=%016" PRIx64 ".wal already holds records; "
                     "next_seq must come from wal_replay", w->next_seq);
            return ST_EEXISTS;
        }
    } else if (rc != ST_ENOTFOUND) {
        goto fail;
    }
    rc = io->unlink(io->ctx, path);
    if (rc && rc != ST_ENOTFOUND) goto fail;
    rc = io->open(io->ctx, path, O_RDWR | O_CREAT | O_EXCL, 0644, &fd);
    if (rc) goto fail;
    rc = io->fallocate(io->ctx, fd, 0, size);
    if (rc) goto fail_file;
    unsigned char hdr[WAL_SEG_HDR_SIZE];
    wal_seg_hdr_encode(w->next_seq, hdr);
    rc = io->pwrite(io->ctx, fd, hdr, sizeof hdr, 0);
    if (rc) goto fail_file;
    rc = io->fsync(io->ctx, fd);
    atomic_fetch_add(&w->st_fsyncs, 1);
    if (rc) goto fail_file;
    rc = io->fsync_dir(io->ctx, w->dir);
    if (rc) goto fail_file;

    if (w->fd >= 0) io->close(io->ctx, w->fd);
    w->fd = fd;
    w->seg_first = w->next_seq;
    w->seg_off = WAL_SEG_HDR_SIZE;
    w->seg_size = size;
    w->unsynced_bytes = 0;
    pthread_mutex_lock(&w->seg_mu);
    w->segs[w->nsegs++] = w->next_seq;
    pthread_mutex_unlock(&w->seg_mu);
    atomic_fetch_add(&w->st_created, 1);
    return 0;

fail_file:
    io->close(io->ctx, fd);
    io->unlink(io->ctx, path);
fail:
    if (rc == ST_ENOSPC) {
        ST_WARN(WAL_MOD, "disk full creating segment file=%016" PRIx64 ".wal size=%" PRIu64,
                w->next_seq, size);
        return ST_ENOSPC;
    }
    if (rc == ST_ENOMEM) return rc;
    set_read_only(w, "segment creation", rc);
    return ST_EREADONLY;
}

/* The item is freed before its callback runs: a caller woken by the
 * callback finds nothing of its write still held. */
static void complete(wal_item *it, int status, uint64_t seq)
{
    wal_done_cb cb = it->cb;
    void *arg = it->arg;
    st_free(it);
    cb(arg, status, status ? 0 : seq);
}

/* Writes zeros over [off, off+len) of the current segment. */
static int zero_range(wal *w, uint64_t off, uint64_t len)
{
    static const unsigned char zeros[65536];
    while (len) {
        size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
        int rc = w->io->pwrite(w->io->ctx, w->fd, zeros, n, off);
        if (rc) return rc;
        off += n;
        len -= n;
    }
    return 0;
}

/* Writes the group (one pwrite), syncs per mode, runs its callbacks. */
static void flush_group(wal *w)
{
    if (!w->gcount) return;
    int status = 0;
    if (atomic_load(&w->read_only)) {
        status = ST_EREADONLY;
    } else {
        int rc = w->io->pwrite(w->io->ctx, w->fd, w->gbuf, w->glen, w->seg_off);
        if (rc == ST_ENOSPC) {
            /* Cut the partial records off so the next group starts clean here. */
            /* ...and make the cut durable, so rejected records cannot
             * come back after a crash under numbers reused by the next group. */
            int zrc = zero_range(w, w->seg_off, w->glen);
            if (!zrc) zrc = sync_current(w);
            if (zrc) {
                set_read_only(w, "write (zeroing after ENOSPC)", zrc);
                status = ST_EREADONLY;
            } else {
                ST_WARN(WAL_MOD, "disk full writing group: rejected records=%" PRIu64 " bytes=%zu",
                        w->gcount, w->glen);
                status = ST_ENOSPC;
            }
        } else if (rc) {
            set_read_only(w, "write", rc);
            status = ST_EREADONLY;
        } else {
            w->seg_off += w->glen;
            w->unsynced_bytes += w->glen;
            atomic_fetch_add(&w->st_bytes, w->glen);
            atomic_fetch_add(&w->st_records, w->gcount);
            atomic_fetch_add(&w->st_groups, 1);
            if (w->o.fsync_mode == WAL_FSYNC_GROUP) {
                rc = sync_current(w);
                if (rc) {
                    set_read_only(w, "fdatasync", rc);
                    status = ST_EREADONLY;
                }
            }
        }
    }
    uint64_t seq = w->next_seq;
    if (status == 0) {
        w->next_seq += w->gcount;
        atomic_store(&w->st_next_seq, w->next_seq);
    }
    wal_item *it = w->ghead;
    w->ghead = w->gtail = NULL;
    w->gcount = 0;
    w->glen = 0;
    while (it) {
        wal_item *n = it->next;
        complete(it, status, seq++);
        it = n;
    }
}

static int gbuf_reserve(wal *w, size_t need)
{
    return st_grow(&w->gbuf, &w->gcap, need, 1, 65536);
}

/* Encodes one item into the group buffer and writes whole groups as they
 * fill. Takes ownership of it. */
static void add_item(wal *w, wal_item *it)
{
    it->next = NULL;
    if (atomic_load(&w->read_only)) {
        flush_group(w);
        complete(it, ST_EREADONLY, 0);
        return;
    }
    size_t bound = (size_t)LZ4_compressBound((int)it->len);
    if (bound < it->len) bound = it->len;
    if (gbuf_reserve(w, w->glen + WAL_REC_HDR_SIZE + bound + WAL_REC_ALIGN)) {
        flush_group(w);
        complete(it, ST_ENOMEM, 0);
        return;
    }
    unsigned char *dst = w->gbuf + w->glen + WAL_REC_HDR_SIZE;
    uint32_t stored = (uint32_t)it->len;
    uint8_t flags = 0;
    if (w->o.lz4 && it->len >= w->o.lz4_min_bytes) {
        int c = LZ4_compress_default(it->payload, (char *)dst, (int)it->len, (int)bound);
        if (c > 0 && (size_t)c < it->len) {
            stored = (uint32_t)c;
            flags = WAL_FLAG_LZ4;
        }
    }
    if (!flags && it->len) memcpy(dst, it->payload, it->len);
    uint64_t rec = wal_rec_size(stored);

    if (w->gcount && (w->glen + rec > w->seg_size - w->seg_off || w->glen + rec > w->o.max_group_bytes)) {
        size_t old = w->glen;
        flush_group(w);
        memmove(w->gbuf + WAL_REC_HDR_SIZE, w->gbuf + old + WAL_REC_HDR_SIZE, stored);
        if (atomic_load(&w->read_only)) { complete(it, ST_EREADONLY, 0); return; }
    }
    if (w->fd < 0 || rec > w->seg_size - w->seg_off) {
        int rc = roll_segment(w, rec);
        if (rc) { complete(it, rc, 0); return; }
    }
    wal_rec_hdr h = {
        .type = (uint8_t)it->type, .flags = flags, .seq = w->next_seq + w->gcount,
        .stored_len = stored, .raw_len = (uint32_t)it->len,
        .data_crc = st_crc32c(0, w->gbuf + w->glen + WAL_REC_HDR_SIZE, stored),
    };
    wal_rec_hdr_encode(&h, w->gbuf + w->glen);
    memset(w->gbuf + w->glen + WAL_REC_HDR_SIZE + stored, 0, rec - WAL_REC_HDR_SIZE - stored);
    w->glen += rec;
    w->gcount++;
    if (w->gtail) w->gtail->next = it; else w->ghead = it;
    w->gtail = it;
}

static void interval_sync(wal *w)
{
    if (w->o.fsync_mode != WAL_FSYNC_INTERVAL || !w->unsynced_bytes || atomic_load(&w->read_only)) return;
    int rc = sync_current(w);
    if (rc) {
        ST_ERROR(WAL_MOD, "fdatasync failed in interval mode: acknowledged records after seq=%" PRIu64
                 " may be lost on power failure file=%016" PRIx64 ".wal err=%s",
                 w->next_seq - 1, w->seg_first, st_errname(rc));
        set_read_only(w, "fdatasync", rc);
    }
}

static void *writer_main(void *arg)
{
    wal *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping) {
            if (w->o.fsync_mode == WAL_FSYNC_INTERVAL && w->unsynced_bytes) {
                int64_t left = (int64_t)w->o.fsync_interval_ms - ms_since(&w->last_sync);
                if (left <= 0) {
                    pthread_mutex_unlock(&w->mu);
                    interval_sync(w);
                    pthread_mutex_lock(&w->mu);
                    continue;
                }
                struct timespec ts;
                now_mono(&ts);
                ts.tv_sec += left / 1000;
                ts.tv_nsec += (left % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
                pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            } else {
                pthread_cond_wait(&w->cv, &w->mu);
            }
        }
        if (!w->head && w->stopping) break;
        wal_item *it = w->head;
        w->head = w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        while (it) {
            wal_item *n = it->next;
            add_item(w, it);
            it = n;
        }
        flush_group(w);
        if (w->o.fsync_mode == WAL_FSYNC_INTERVAL && ms_since(&w->last_sync) >= (int64_t)w->o.fsync_interval_ms)
            interval_sync(w);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    /* Close: everything written is synced, in every mode. */
    if (atomic_load(&w->read_only)) {
        w->close_rc = ST_EREADONLY;
    } else if (w->fd >= 0 && w->unsynced_bytes) {
        int rc = sync_current(w);
        if (rc) {
            if (w->o.fsync_mode != WAL_FSYNC_GROUP)
                ST_ERROR(WAL_MOD, "fdatasync failed at close: acknowledged records after seq=%" PRIu64
                         " may be lost file=%016" PRIx64 ".wal err=%s",
                         w->next_seq - 1, w->seg_first, st_errname(rc));
            set_read_only(w, "fdatasync", rc);
            w->close_rc = ST_EREADONLY;
        }
    }
    return NULL;
}

static void wal_free(wal *w)
{
    if (!w) return;
    if (w->fd >= 0) w->io->close(w->io->ctx, w->fd);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->seg_mu);
    st_free(w->gbuf);
    st_free(w->segs);
    st_free(w->dir);
    st_free(w);
}

int wal_open(const wal_opts *opts, wal **wal_out)
{
    if (!opts || !opts->dir || !opts->dir[0] || strlen(opts->dir) > WAL_PATH_MAX - 32) return ST_EINVAL;
    if (opts->fsync_mode < WAL_FSYNC_GROUP || opts->fsync_mode > WAL_FSYNC_NEVER) return ST_EINVAL;
    int rc;
    seq_list old = {0};
    wal *w = st_calloc(1, sizeof *w);
    if (!w) return ST_ENOMEM;
    w->fd = -1;
    w->o = *opts;
    w->io = opts->io ? opts->io : stor_io_posix();
    if (!w->o.fsync_interval_ms) w->o.fsync_interval_ms = 100;
    if (!w->o.segment_bytes) w->o.segment_bytes = 64ull << 20;
    if (!w->o.next_seq) w->o.next_seq = 1;
    if (!w->o.lz4_min_bytes) w->o.lz4_min_bytes = 256;
    if (!w->o.max_group_bytes) w->o.max_group_bytes = 8ull << 20;
    w->next_seq = w->o.next_seq;
    atomic_store(&w->st_next_seq, w->next_seq);
    now_mono(&w->last_sync);

    pthread_condattr_t ca;
    int mu_ok = 0, seg_ok = 0, cv_ok = 0;
    mu_ok = pthread_mutex_init(&w->mu, NULL) == 0;
    seg_ok = pthread_mutex_init(&w->seg_mu, NULL) == 0;
    if (pthread_condattr_init(&ca) == 0) {
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        cv_ok = pthread_cond_init(&w->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!mu_ok || !seg_ok || !cv_ok) {
        if (mu_ok) pthread_mutex_destroy(&w->mu);
        if (seg_ok) pthread_mutex_destroy(&w->seg_mu);
        if (cv_ok) pthread_cond_destroy(&w->cv);
        st_free(w);
        return ST_ENOMEM;
    }
    w->dir = st_strdup(opts->dir);
    if (!w->dir) { rc = ST_ENOMEM; goto fail; }
    rc = w->io->mkdir(w->io->ctx, w->dir, 0755);
    if (rc && rc != ST_EEXISTS) goto fail;
    rc = list_segments(w->io, w->dir, &old);
    if (rc) goto fail;
    /* Older files stay for checkpoint; one at or past next_seq holds no
     * valid record and is replaced (same name) or left alone. */
    w->segs = st_malloc((old.n + 16) * sizeof *w->segs);
    if (!w->segs) { rc = ST_ENOMEM; goto fail; }
    w->segs_cap = old.n + 16;
    for (size_t i = 0; i < old.n; i++) {
        if (old.v[i] < w->next_seq) w->segs[w->nsegs++] = old.v[i];
        else if (old.v[i] > w->next_seq)
            ST_WARN(WAL_MOD, "ignoring segment past next_seq file=%016" PRIx64 ".wal next_seq=%" PRIu64,
                    old.v[i], w->next_seq);
    }
    st_free(old.v);
    old.v = NULL;
    rc = roll_segment(w, 0);
    if (rc) {
        if (rc == ST_EREADONLY) rc = ST_EIO;
        goto fail;
    }
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) { rc = ST_ENOMEM; goto fail; }
    w->thread_started = 1;
    *wal_out = w;
    return 0;
fail:
    st_free(old.v);
    wal_free(w);
    return rc;
}

int wal_append(wal *w, int type, const void *payload, size_t len, wal_done_cb done_cb, void *arg)
{
    if (!w || !done_cb || type < WAL_REC_WRITE || type > WAL_REC_CHECKPOINT || (len && !payload))
        return ST_EINVAL;
    if (len > WAL_MAX_PAYLOAD) return ST_ETOOLARGE;
    if (atomic_load(&w->read_only)) return ST_EREADONLY;
    wal_item *it = st_malloc(sizeof *it);
    if (!it) return ST_ENOMEM;
    *it = (wal_item){ .payload = payload, .len = len, .type = type, .cb = done_cb, .arg = arg };
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        st_free(it);
        return ST_ECLOSED;
    }
    if (w->tail) w->tail->next = it; else w->head = it;
    w->tail = it;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int wal_checkpoint(wal *w, uint64_t upto_seq)
{
    if (!w) return ST_EINVAL;
    int first_rc = 0;
    char path[WAL_PATH_MAX];
    pthread_mutex_lock(&w->seg_mu);
    size_t keep = 0;
    /* File i holds seqs [segs[i], segs[i+1]); deletable when segs[i+1] <= upto. */
    size_t i = 0;
    for (; i + 1 < w->nsegs && w->segs[i + 1] <= upto_seq; i++) {
        seg_path(path, sizeof path, w->dir, w->segs[i]);
        int rc = w->io->unlink(w->io->ctx, path);
        if (rc && rc != ST_ENOTFOUND) {
            if (!first_rc) first_rc = rc;
            w->segs[keep++] = w->segs[i]; /* try again next time */
            ST_WARN(WAL_MOD, "cannot delete checkpointed segment file=%016" PRIx64 ".wal err=%s",
                    w->segs[i], st_errname(rc));
        } else {
            atomic_fetch_add(&w->st_deleted, 1);
        }
    }
    for (; i < w->nsegs; i++) w->segs[keep++] = w->segs[i];
    w->nsegs = keep;
    pthread_mutex_unlock(&w->seg_mu);
    return first_rc;
}

int wal_close(wal *w)
{
    if (!w) return 0;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->thread_started) pthread_join(w->thread, NULL);
    int rc = w->close_rc;
    wal_free(w);
    return rc;
}

void wal_stats_get(wal *w, wal_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!w) return;
    out->bytes_written = atomic_load(&w->st_bytes);
    out->records = atomic_load(&w->st_records);
    out->groups = atomic_load(&w->st_groups);
    out->fsyncs = atomic_load(&w->st_fsyncs);
    out->segments_created = atomic_load(&w->st_created);
    out->segments_deleted = atomic_load(&w->st_deleted);
    out->next_seq = atomic_load(&w->st_next_seq);
    out->read_only = atomic_load(&w->read_only);
}

/* ------------------------------------------------------------------ replay */

typedef struct replay {
    const stor_io *io;
    const char *dir;
    uint64_t from_seq;
    wal_record_cb cb;
    void *arg;
    unsigned char *fbuf;   /* owned: the current file */
    size_t fcap;
    char *dbuf;            /* owned: decompression buffer */
    size_t dcap;
    uint64_t expect;       /* next expected seq; 0 = not known yet */
    const char *pending;   /* why bytes were skipped since the last record (static text) */
    char pending_file[WAL_SEG_NAME_LEN + 1];
    uint64_t pending_bytes;
    wal_replay_result res;
} replay;

/* Is there a valid record at off? Returns NULL and fills h, or the reason. */
static const char *rec_check(const unsigned char *buf, uint64_t size, uint64_t off, wal_rec_hdr *h)
{
    if (off + WAL_REC_HDR_SIZE > size) return "truncated header";
    const unsigned char *p = buf + off;
    if (p[0] != WAL_REC_MAGIC0 || p[1] != WAL_REC_MAGIC1 || p[2] != WAL_REC_MAGIC2 || p[3] != WAL_REC_MAGIC3)
        return "bad magic";
    if (!wal_rec_hdr_decode(p, h)) return "bad header (crc or fields)";
    if (h->stored_len > size - off - WAL_REC_HDR_SIZE) return "record extends past end of file";
    if (!wal_rec_payload_ok(h, p + WAL_REC_HDR_SIZE)) return "payload crc mismatch";
    return NULL;
}

static int all_zero(const unsigned char *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* Reports sequence numbers [lo, hi] as lost (one ERROR line). */
static void report_lost(replay *r, uint64_t lo, uint64_t hi, const char *file, const char *why)
{
    if (hi < r->from_seq) return;
    if (lo < r->from_seq) lo = r->from_seq;
    r->res.records_lost += hi - lo + 1;
    ST_ERROR(WAL_MOD, "lost records seq=%" PRIu64 "..%" PRIu64 " in %s: %s", lo, hi, file, why);
}

static int handle_record(replay *r, const char *file, const wal_rec_hdr *h, const unsigned char *payload)
{
    if (r->expect && h->seq < r->expect) {
        ST_WARN(WAL_MOD, "skipping out-of-order record seq=%" PRIu64 " expected=%" PRIu64 " in %s",
                h->seq, r->expect, file);
        return 0;
    }
    if (r->expect && h->seq > r->expect)
        report_lost(r, r->expect, h->seq - 1, r->pending ? r->pending_file : file,
                    r->pending ? r->pending : "sequence gap between segment files");
    else if (r->pending)
        ST_WARN(WAL_MOD, "skipped invalid bytes=%" PRIu64 " in %s without losing a sequence number: %s",
                r->pending_bytes, r->pending_file, r->pending);
    r->pending = NULL;
    r->pending_bytes = 0;
    r->expect = h->seq + 1;
    if (h->seq < r->from_seq) return 0;
    const void *data = payload;
    if (h->flags & WAL_FLAG_LZ4) {
        if (h->raw_len > r->dcap) {
            char *nb = st_realloc(r->dbuf, h->raw_len);
            if (!nb) return ST_ENOMEM;
            r->dbuf = nb;
            r->dcap = h->raw_len;
        }
        int n = LZ4_decompress_safe((const char *)payload, r->dbuf, (int)h->stored_len, (int)h->raw_len);
        if (n < 0 || (uint32_t)n != h->raw_len) {
            report_lost(r, h->seq, h->seq, file, "lz4 payload does not decode");
            return 0;
        }
        data = r->dbuf;
    }
    r->res.records++;
    return r->cb(r->arg, h->type, h->seq, data, h->raw_len);
}

static int replay_file(replay *r, uint64_t name_seq, int is_last)
{
    char path[WAL_PATH_MAX], file[WAL_SEG_NAME_LEN + 1];
    seg_path(path, sizeof path, r->dir, name_seq);
    snprintf(file, sizeof file, "%016" PRIx64 ".wal", name_seq);
    const stor_io *io = r->io;
    int fd = -1;
    uint64_t size = 0;
    size_t got = 0;
    int rc = io->open(io->ctx, path, O_RDONLY, 0, &fd);
    if (rc == ST_ENOTFOUND) return 0;
    if (rc) goto out;
    rc = io->file_size(io->ctx, fd, &size);
    if (rc) goto out;
    if (size > (uint64_t)WAL_MAX_PAYLOAD * 4) { /* never a file we wrote */
        ST_ERROR(WAL_MOD, "segment too large to replay, skipped: %s size=%" PRIu64, file, size);
        rc = 0;
        goto out;
    }
    if (size > r->fcap) {
        unsigned char *nb = st_realloc(r->fbuf, (size_t)size);
        if (!nb) { rc = ST_ENOMEM; goto out; }
        r->fbuf = nb;
        r->fcap = (size_t)size;
    }
    rc = size ? io->pread(io->ctx, fd, r->fbuf, (size_t)size, 0, &got) : 0;
    if (rc) goto out;
    size = got;
    r->res.segments++;
    const unsigned char *buf = r->fbuf;
    wal_seg_hdr sh;
    if (size >= WAL_SEG_HDR_SIZE && wal_seg_hdr_decode(buf, &sh)) {
        if (!r->expect) r->expect = sh.first_seq;
    } else if (!(size == 0 || all_zero(buf, size))) {
        ST_WARN(WAL_MOD, "segment header invalid, scanning for records: %s", file);
    }
    uint64_t off = WAL_SEG_HDR_SIZE;
    while (off < size) {
        wal_rec_hdr h;
        const char *why = rec_check(buf, size, off, &h);
        if (!why) {
            rc = handle_record(r, file, &h, buf + off + WAL_REC_HDR_SIZE);
            if (rc) goto out;
            off += wal_rec_size(h.stored_len);
            continue;
        }
        if (all_zero(buf + off, size - off)) break; /* the clean, preallocated end */
        uint64_t p = off + WAL_REC_ALIGN;
        for (; p + WAL_REC_HDR_SIZE <= size; p += WAL_REC_ALIGN) {
            wal_rec_hdr h2;
            if (buf[p] == WAL_REC_MAGIC0 && !rec_check(buf, size, p, &h2)) break;
        }
        if (p + WAL_REC_HDR_SIZE <= size) {
            /* Corrupt in the middle: the next record reports the loss. */
            if (!r->pending) {
                r->pending = why;
                memcpy(r->pending_file, file, sizeof file);
            }
            r->pending_bytes += p - off;
            off = p;
            continue;
        }
        /* Nothing valid follows in this file. */
        if (is_last) {
            uint64_t end = size;
            while (end > off && buf[end - 1] == 0) end--;
            int wfd = -1;
            int trc = io->open(io->ctx, path, O_RDWR, 0, &wfd);
            if (!trc) trc = io->ftruncate(io->ctx, wfd, off);
            if (!trc) trc = io->fsync(io->ctx, wfd);
            if (wfd >= 0) io->close(io->ctx, wfd);
            if (trc) {
                rc = trc;
                ST_ERROR(WAL_MOD, "cannot cut torn tail in %s at offset=%" PRIu64 ": %s",
                         file, off, st_errname(trc));
                goto out;
            }
            r->res.bytes_truncated += end - off;
            ST_WARN(WAL_MOD, "torn tail cut off in %s: offset=%" PRIu64 " bytes=%" PRIu64
                    " (%s; unacknowledged write interrupted)", file, off, end - off, why);
        } else if (!r->pending) {
            r->pending = why;
            memcpy(r->pending_file, file, sizeof file);
            r->pending_bytes = size - off;
        }
        break;
    }
out:
    if (fd >= 0) io->close(io->ctx, fd);
    return rc;
}

int wal_replay(const char *dir, const stor_io *io, uint64_t from_seq,
               wal_record_cb record_cb, void *arg, wal_replay_result *result_out)
{
    if (!dir || !record_cb || strlen(dir) > WAL_PATH_MAX - 32) return ST_EINVAL;
    replay r = { .io = io ? io : stor_io_posix(), .dir = dir, .from_seq = from_seq,
                 .cb = record_cb, .arg = arg };
    seq_list l = {0};
    int rc = list_segments(r.io, dir, &l);
    if (rc) return rc;
    for (size_t i = 0; i < l.n && !rc; i++) rc = replay_file(&r, l.v[i], i + 1 == l.n);
    if (!rc && r.pending && r.expect)
        ST_WARN(WAL_MOD, "invalid bytes=%" PRIu64 " at the end of %s followed only by newer files: %s",
                r.pending_bytes, r.pending_file, r.pending);
    st_free(l.v);
    st_free(r.fbuf);
    st_free(r.dbuf);
    if (rc) return rc;
    r.res.next_seq = r.expect > from_seq ? r.expect : from_seq;
    if (!r.res.next_seq) r.res.next_seq = 1;
    *result_out = r.res;
    return 0;
}
