/*
 * storage/flush.c — turning the head into segment files, merging them, and
 * dropping what retention no longer keeps. One background thread does all
 * three; a long compaction flushes from inside its merge when writers wait
 * on a full head (such a file is newer than the compaction's output, by
 * its id and by its place in the partition list).
 *
 * Invariants and the crash story:
 *  1. Flush: under apply_mu the active head becomes the frozen one and a new
 *     active head starts; frozen_seq = the last record applied. Writes go on
 *     into the new head; reads see both heads. The frozen head's columns are
 *     written, in (series, field) order, one segment file per (database,
 *     partition) they touch (seg_writer_finish: fsync, rename, fsync dir).
 *     Only then are the files added to the partition lists, the catalog's
 *     queued definitions applied (barrier), "stor.flushed_seq" stored, the
 *     frozen head dropped, and the WAL checkpointed up to frozen_seq.
 *     A crash anywhere before the checkpoint replays the records again
 *     (the same points: last write wins makes it harmless); temp files are
 *     deleted at start-up.
 *  2. Within a partition a file with a higher id holds newer writes; a read
 *     or compaction resolves equal timestamps by that order.
 *  3. Compaction merges a run of a partition's NEWEST files into one new
 *     file (next id): in the background the size-tiered run of
 *     tiered_first (each point rewritten O(log n) times), for force_merge
 *     and range deletes all of them. It drops series no longer in the
 *     index, swaps the list under parts_lock (the output takes the run's
 *     place), then unlinks the inputs (readers holding references keep
 *     reading the unlinked files until they let go).
 *  4. Retention removes whole partitions whose end is older than
 *     now - duration: out of the list first, files unlinked after.
 *  5. A failed write/fsync (ST_EIO...) while flushing makes storage
 *     read-only; ENOSPC leaves everything in the head and the WAL, and the
 *     flush is retried later.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "storage/stor_int.h"

enum { COMPACT_MIN_FILES = 4, RETENTION_CHECK_S = 60 };

int64_t stor__floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static void part_dir(stor *s, uint64_t db_id, int64_t index, char *out, size_t cap)
{
    snprintf(out, cap, "%s/db/%" PRIu64 "/%" PRId64, s->dir, db_id, index);
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof tmp) return ST_EINVAL;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return st_from_errno(errno);
            tmp[i] = c;
        }
    }
    return 0;
}

/* parts_lock held for writing. */
static stor_part *part_get(stor *s, uint64_t db_id, int64_t index, int64_t width, int create)
{
    size_t lo = 0, hi = s->nparts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        stor_part *p = &s->parts[mid];
        if (p->db_id < db_id || (p->db_id == db_id && p->index < index)) lo = mid + 1;
        else hi = mid;
    }
    if (lo < s->nparts && s->parts[lo].db_id == db_id && s->parts[lo].index == index) return &s->parts[lo];
    if (!create) return NULL;
    if (s->nparts == s->capparts && st_grow(&s->parts, &s->capparts, s->nparts + 1, sizeof *s->parts, 16)) return NULL;
    memmove(&s->parts[lo + 1], &s->parts[lo], (s->nparts - lo) * sizeof *s->parts);
    s->nparts++;
    stor_part *p = &s->parts[lo];
    memset(p, 0, sizeof *p);
    p->db_id = db_id;
    p->index = index;
    p->width_ns = width;
    return p;
}

static int part_add_seg(stor_part *p, seg *sg)
{
    if (p->n == p->cap && st_grow(&p->segs, &p->cap, p->n + 1, sizeof *p->segs, 4)) return ST_ENOMEM;
    /* Keep file id order. */
    size_t i = p->n;
    uint64_t id = seg_header(sg)->file_id;
    while (i > 0 && seg_header(p->segs[i - 1])->file_id > id) {
        p->segs[i] = p->segs[i - 1];
        i--;
    }
    p->segs[i] = sg;
    p->n++;
    return 0;
}

void stor__parts_free(stor *s)
{
    for (size_t i = 0; i < s->nparts; i++) {
        for (size_t k = 0; k < s->parts[i].n; k++) seg_unref(s->parts[i].segs[k]);
        st_free(s->parts[i].segs);
    }
    st_free(s->parts);
    s->parts = NULL;
    s->nparts = s->capparts = 0;
}

/* ---- start-up: data/db/ID/P/NNNNNNNN.seg ---- */

static int load_part_dir(stor *s, uint64_t db_id, int64_t index, const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    sidx_db_info dbi;
    int64_t width = sidx_db_get(s->idx, db_id, &dbi) == 0 && dbi.shard_duration_ns > 0 ? dbi.shard_duration_ns
                                                                                       : SIDX_SHARD_DEFAULT_NS;
    while ((e = readdir(d)) && !rc) {
        size_t n = strlen(e->d_name);
        char full[4096];
        if (snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full) continue;
        if (n > 8 && strcmp(e->d_name + n - 8, ".seg.tmp") == 0) {
            ST_WARN("stor", "removing unfinished segment %s (its points are in the WAL)", full);
            unlink(full);
            continue;
        }
        if (n < 5 || strcmp(e->d_name + n - 4, ".seg") != 0) continue;
        seg *sg;
        int orc = seg_open(s->io, full, s->cache, &sg);
        if (orc) {
            ST_ERROR("stor", "segment %s cannot be opened (%s): its data is not served; run strata check",
                     full, st_strerror(orc));
            continue;
        }
        uint64_t id = seg_header(sg)->file_id;
        if (id >= s->next_file_id) s->next_file_id = id + 1;
        stor_part *p = part_get(s, db_id, index, width, 1);
        if (!p || part_add_seg(p, sg) != 0) { seg_unref(sg); rc = ST_ENOMEM; }
    }
    closedir(d);
    return rc;
}

int stor__segments_load(stor *s)
{
    char dbroot[4096];
    snprintf(dbroot, sizeof dbroot, "%s/db", s->dir);
    DIR *d = opendir(dbroot);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && !rc) {
        char *end;
        uint64_t db_id = strtoull(e->d_name, &end, 10);
        if (*end || e->d_name[0] == '.' || !e->d_name[0]) continue;
        char dbdir[4096];
        if (snprintf(dbdir, sizeof dbdir, "%s/%s", dbroot, e->d_name) >= (int)sizeof dbdir) continue;
        DIR *pd = opendir(dbdir);
        if (!pd) continue;
        struct dirent *pe;
        while ((pe = readdir(pd)) && !rc) {
            char *pend;
            int64_t index = strtoll(pe->d_name, &pend, 10);
            if (*pend || pe->d_name[0] == '.' || !pe->d_name[0]) continue;
            char pdir[4096];
            if (snprintf(pdir, sizeof pdir, "%s/%s", dbdir, pe->d_name) >= (int)sizeof pdir) continue;
            rc = load_part_dir(s, db_id, index, pdir);
        }
        closedir(pd);
    }
    closedir(d);
    size_t files = 0;
    for (size_t i = 0; i < s->nparts; i++) files += s->parts[i].n;
    if (files) ST_INFO("stor", "segments loaded files=%zu partitions=%zu", files, s->nparts);
    return rc;
}

/* ---- flush ---- */

typedef struct pwriter {
    uint64_t db_id;
    int64_t index, width;
    seg_writer *w;
    uint64_t file_id;
} pwriter;

typedef struct flush_ctx {
    stor *s;
    pwriter *pw;
    size_t npw, cappw;
} flush_ctx;

static int pw_get(flush_ctx *f, uint64_t db_id, int64_t index, int64_t width, int zstd, seg_writer **out)
{
    for (size_t i = 0; i < f->npw; i++)
        if (f->pw[i].db_id == db_id && f->pw[i].index == index) { *out = f->pw[i].w; return 0; }
    if (f->npw == f->cappw && st_grow(&f->pw, &f->cappw, f->npw + 1, sizeof *f->pw, 8)) return ST_ENOMEM;
    char dir[4096];
    part_dir(f->s, db_id, index, dir, sizeof dir);
    int rc = mkdirs(dir);
    if (rc) return rc;
    pwriter *p = &f->pw[f->npw];
    p->db_id = db_id;
    p->index = index;
    p->width = width;
    p->file_id = __atomic_fetch_add(&f->s->next_file_id, 1, __ATOMIC_RELAXED); /* the final flush's two writers */
    seg_writer_opts o = { 0, zstd, 0, 1 }; /* flushed blocks: no page tables (compaction writes them) */
    rc = seg_writer_open(f->s->io, dir, p->file_id, &o, &p->w);
    if (rc) return rc;
    f->npw++;
    *out = p->w;
    return 0;
}

typedef struct series_db {
    uint64_t db_id;
} series_db;

static int series_db_cb(void *arg, uint64_t series_id, uint64_t db_id, const void *key, size_t key_len)
{
    (void)series_id; (void)key; (void)key_len;
    ((series_db *)arg)->db_id = db_id;
    return 0;
}

/* Write the columns of head h (sorted pairs) into per-partition writers. */
static int flush_columns(flush_ctx *f, head *h, const uint64_t *pairs, size_t ncols)
{
    stor *s = f->s;
    head_points pts;
    head_points_init(&pts);
    int rc = 0;
    uint64_t cur_series = 0, db_id = 0;
    int64_t width = SIDX_SHARD_DEFAULT_NS;
    int live = 0;
    for (size_t c = 0; c < ncols && !rc; c++) {
        uint64_t series = pairs[2 * c], field = pairs[2 * c + 1];
        if (series != cur_series || c == 0) {
            cur_series = series;
            series_db sd = { 0 };
            live = sidx_series_get(s->idx, series, series_db_cb, &sd) == 0;
            db_id = sd.db_id;
            sidx_db_info dbi;
            if (live && sidx_db_get(s->idx, db_id, &dbi) == 0) width = dbi.shard_duration_ns > 0 ? dbi.shard_duration_ns : SIDX_SHARD_DEFAULT_NS;
            else live = 0;
        }
        if (!live) continue; /* dropped series: nothing to keep */
        rc = head_read(h, series, field, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &pts);
        if (rc || pts.n == 0) continue;
        size_t i = 0;
        while (i < pts.n && !rc) {
            int64_t index = stor__floor_div(pts.ts[i], width);
            size_t j = i + 1;
            while (j < pts.n && stor__floor_div(pts.ts[j], width) == index) j++;
            seg_writer *w;
            rc = pw_get(f, db_id, index, width, SEG_DEFAULT_ZSTD_LEVEL, &w);
            if (!rc) rc = seg_writer_add(w, series, field, (st_type)pts.type, j - i, pts.ts + i, pts.vals + i, pts.quality + i);
            i = j;
        }
    }
    head_points_fini(&pts);
    return rc;
}

/* The final flush at close (stor__flush_stop) has the machine to itself:
 * its columns are split at a series boundary and the second half written
 * by a second thread, into files of its own (the halves' columns are
 * disjoint, so their order within a partition does not matter). An import
 * ended waiting on that one thread for an eighth of its time. */
enum { FLUSH_SPLIT_MIN_COLS = 64 };

typedef struct flush_half {
    flush_ctx f;
    head *h;
    const uint64_t *pairs;
    size_t ncols;
    int rc;
} flush_half;

static void *flush_half_main(void *arg)
{
    flush_half *fh = arg;
    fh->rc = flush_columns(&fh->f, fh->h, fh->pairs, fh->ncols);
    return NULL;
}

/* flush_columns over pairs[0..ncols), in two threads when split; the
 * second thread's writers join f's list (for publish). */
static int flush_columns_split(flush_ctx *f, head *h, const uint64_t *pairs, size_t ncols, int split)
{
    size_t mid = ncols / 2;
    while (mid > 0 && mid < ncols && pairs[2 * mid] == pairs[2 * (mid - 1)]) mid++;
    pthread_t t;
    flush_half fh = { { f->s, NULL, 0, 0 }, h, pairs + 2 * mid, ncols - mid, 0 };
    if (!split || ncols < FLUSH_SPLIT_MIN_COLS || mid >= ncols || pthread_create(&t, NULL, flush_half_main, &fh) != 0)
        return flush_columns(f, h, pairs, ncols);
    int rc = flush_columns(f, h, pairs, mid);
    pthread_join(t, NULL);
    if (!rc) rc = fh.rc;
    if (st_grow(&f->pw, &f->cappw, f->npw + fh.f.npw, sizeof *f->pw, 8)) {
        for (size_t i = 0; i < fh.f.npw; i++) seg_writer_abort(fh.f.pw[i].w);
        fh.f.npw = 0;
        if (!rc) rc = ST_ENOMEM;
    }
    if (fh.f.npw) memcpy(f->pw + f->npw, fh.f.pw, fh.f.npw * sizeof *fh.f.pw);
    f->npw += fh.f.npw;
    st_free(fh.f.pw);
    return rc;
}

/* Finish every writer and publish the files. On error nothing is published
 * and the unfinished files are removed. */
static int publish(flush_ctx *f, int rc)
{
    stor *s = f->s;
    seg **opened = st_calloc(f->npw ? f->npw : 1, sizeof *opened);
    if (!opened && !rc) rc = ST_ENOMEM;
    for (size_t i = 0; i < f->npw; i++) {
        if (rc) { seg_writer_abort(f->pw[i].w); continue; }
        seg_info info;
        rc = seg_writer_finish(f->pw[i].w, &info);
        if (rc) continue;
        char dir[4096], path[4200];
        part_dir(s, f->pw[i].db_id, f->pw[i].index, dir, sizeof dir);
        seg_path(dir, f->pw[i].file_id, 0, path, sizeof path);
        rc = seg_open(s->io, path, s->cache, &opened[i]);
        atomic_fetch_add(&s->segments_written, 1);
    }
    if (rc) {
        /* Take back what was finished: the head still holds the points. */
        for (size_t i = 0; i < f->npw; i++) {
            if (!opened || !opened[i]) continue;
            char path[4200];
            snprintf(path, sizeof path, "%s", seg_path_of(opened[i]));
            seg_unref(opened[i]);
            unlink(path);
        }
        st_free(opened);
        return rc;
    }
    pthread_rwlock_wrlock(&s->parts_lock);
    for (size_t i = 0; i < f->npw && !rc; i++) {
        stor_part *p = part_get(s, f->pw[i].db_id, f->pw[i].index, f->pw[i].width, 1);
        if (!p || part_add_seg(p, opened[i]) != 0) { rc = ST_ENOMEM; break; }
        opened[i] = NULL;
    }
    pthread_rwlock_unlock(&s->parts_lock);
    for (size_t i = 0; i < f->npw; i++) seg_unref(opened ? opened[i] : NULL);
    st_free(opened);
    return rc;
}

static int flush_retry_frozen(stor *s);

static void fail_readonly(stor *s, const char *what, int rc)
{
    if (rc == ST_ENOSPC || rc == ST_ENOMEM) {
        ST_WARN("stor", "%s failed: %s; the data stays in memory and the WAL, retrying later", what, st_strerror(rc));
        return;
    }
    if (!atomic_exchange(&s->readonly, 1))
        ST_ERROR("stor", "%s failed: %s; storage is read-only until restart (nothing acknowledged is lost: the WAL has it)",
                 what, st_strerror(rc));
}

/* A flushed head's sealed chunks went back to the system with its pages
 * (storage/harena.h); what it had from malloc (columns, chunk lists, open
 * streams, out-of-order buffers: a few MiB of many sizes) is handed back
 * here too, rather than kept in the C library's free lists. */
static void release_freed_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static int flush_now(stor *s, int split);

int stor__flush_now(stor *s)
{
    return flush_now(s, 0);
}

static int flush_now(stor *s, int split)
{
    if (atomic_load(&s->readonly)) return ST_EREADONLY;
    /* A failed flush left its frozen head: that one goes first. */
    if (s->frozen && flush_retry_frozen(s) != 0) return ST_EBUSY;
    head *fresh;
    int rc = head_create(&fresh);
    if (rc) return rc;
    pthread_mutex_lock(&s->apply_mu);
    if (head_points_count(s->active) == 0) {
        pthread_mutex_unlock(&s->apply_mu);
        head_destroy(fresh);
        return 0;
    }
    pthread_rwlock_wrlock(&s->heads_lock);
    s->frozen = s->active;
    s->active = fresh;
    pthread_rwlock_unlock(&s->heads_lock);
    uint64_t frozen_seq = s->last_seq;
    atomic_store_explicit(&s->active_since_ns, 0, memory_order_relaxed);
    pthread_mutex_unlock(&s->apply_mu);

    int64_t t0 = st_mono_ns();
    uint64_t *pairs = NULL;
    size_t ncols = 0;
    flush_ctx f = { s, NULL, 0, 0 };
    uint64_t points = head_points_count(s->frozen);
    rc = head_columns(s->frozen, &pairs, &ncols);
    if (!rc) rc = flush_columns_split(&f, s->frozen, pairs, ncols, split);
    rc = publish(&f, rc);
    st_free(pairs);
    size_t files = f.npw;
    st_free(f.pw);
    if (rc) {
        /* Put the frozen points back in front of the active head: reads keep
         * seeing them (frozen stays), and the next flush retries them too by
         * merging — simplest: keep the frozen head and retry it first. */
        fail_readonly(s, "flush", rc);
        return rc;
    }
    /* Definitions reach the catalog before the WAL that carries them goes. */
    stor__cat_barrier(s);
    char seqtxt[32];
    int n = snprintf(seqtxt, sizeof seqtxt, "%" PRIu64, frozen_seq);
    rc = cat_meta_set(s->catalog, "stor.flushed_seq", seqtxt, (size_t)n);
    if (rc) {
        fail_readonly(s, "recording the flushed WAL position", rc);
        return rc;
    }
    s->flushed_seq = frozen_seq;
    pthread_rwlock_wrlock(&s->heads_lock);
    head *old = s->frozen;
    s->frozen = NULL;
    pthread_rwlock_unlock(&s->heads_lock);
    head_destroy(old);
    release_freed_memory();
    if (s->log) {
        int crc = wal_checkpoint(s->log, frozen_seq + 1);
        if (crc) ST_WARN("stor", "WAL checkpoint: %s (old segments kept; replay skips them)", st_strerror(crc));
    }
    atomic_fetch_add(&s->flushes, 1);
    ST_INFO("stor", "flushed points=%" PRIu64 " columns=%zu files=%zu wal_seq=%" PRIu64 " ms=%" PRId64, points, ncols,
            files, frozen_seq, (st_mono_ns() - t0) / 1000000);
    return 0;
}

/* A flush that failed left s->frozen set; retry it before anything else. */
static int flush_retry_frozen(stor *s)
{
    if (!s->frozen) return 0;
    head *fr = s->frozen;
    uint64_t *pairs = NULL;
    size_t ncols = 0;
    flush_ctx f = { s, NULL, 0, 0 };
    uint64_t frozen_seq;
    pthread_mutex_lock(&s->apply_mu);
    frozen_seq = s->last_seq;
    pthread_mutex_unlock(&s->apply_mu);
    (void)frozen_seq;
    int rc = head_columns(fr, &pairs, &ncols);
    if (!rc) rc = flush_columns(&f, fr, pairs, ncols);
    rc = publish(&f, rc);
    st_free(pairs);
    st_free(f.pw);
    if (rc) { fail_readonly(s, "flush (retry)", rc); return rc; }
    /* The WAL position of a retried frozen head is not tracked separately:
     * keep the WAL (a later flush checkpoints it). */
    uint64_t points = head_points_count(fr);
    pthread_rwlock_wrlock(&s->heads_lock);
    s->frozen = NULL;
    pthread_rwlock_unlock(&s->heads_lock);
    head_destroy(fr);
    atomic_fetch_add(&s->flushes, 1);
    ST_INFO("stor", "flushed points=%" PRIu64 " columns=%zu (retry of a failed flush)", points, ncols);
    return 0;
}

/* ---- compaction ---- */

typedef struct cmp_ctx { const int64_t *ts; const uint32_t *prio; } cmp_ctx;

static int cmp_ord(const void *a, const void *b, void *arg)
{
    const cmp_ctx *c = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (c->ts[x] != c->ts[y]) return c->ts[x] < c->ts[y] ? -1 : 1;
    if (c->prio[x] != c->prio[y]) return c->prio[x] < c->prio[y] ? -1 : 1;
    return x < y ? -1 : (x > y);
}

typedef struct cmp_src {
    seg *sg;
    size_t col;           /* next column index */
} cmp_src;

static int del_hits(const stor_del *d, uint64_t series, int64_t ts)
{
    if (!d || ts < d->tmin || ts > d->tmax) return 0;
    size_t lo = 0, hi = d->n;
    while (lo < hi) { size_t m = (lo + hi) / 2; if (d->ids[m] < series) lo = m + 1; else hi = m; }
    return lo < d->n && d->ids[lo] == series;
}

/*
 * Which files of a partition a background compaction merges: the newest
 * files, as far back as each older file is no larger than LSM_RATIO times
 * the files after it together (size-tiered: a big old file waits until the
 * newer ones add up to it, so each point is rewritten O(log n) times, not
 * once per compaction). Returns the index of the first file of that run,
 * or p->n when the run has fewer than min_files files. Always a suffix:
 * the output is the newest file, as its file id says after a restart.
 */
#define LSM_RATIO 2
static size_t tiered_first(const stor_part *p, size_t min_files)
{
    size_t first = p->n;
    uint64_t newer = 0;
    while (first > 0) {
        uint64_t sz = seg_file_size(p->segs[first - 1]);
        if (first < p->n && sz > LSM_RATIO * newer) break;
        newer += sz;
        first--;
    }
    return p->n - first >= min_files ? first : p->n;
}

/* Merge the partition's files (all of them when min_files <= 1 or for a
 * delete; else the tiered run of tiered_first) into one. */
static int compact_part(stor *s, uint64_t db_id, int64_t index, size_t min_files, const stor_del *del)
{
    pthread_rwlock_rdlock(&s->parts_lock);
    stor_part *p = part_get(s, db_id, index, 0, 0);
    if (!p || p->n < min_files) { pthread_rwlock_unlock(&s->parts_lock); return 0; }
    size_t first = min_files <= 1 || del ? 0 : tiered_first(p, min_files);
    if (first >= p->n) { pthread_rwlock_unlock(&s->parts_lock); return 0; }
    size_t n = p->n - first;
    int64_t width = p->width_ns;
    seg **in = st_malloc(n * sizeof *in);
    if (!in) { pthread_rwlock_unlock(&s->parts_lock); return ST_ENOMEM; }
    for (size_t i = 0; i < n; i++) { in[i] = p->segs[first + i]; seg_ref(in[i]); }
    pthread_rwlock_unlock(&s->parts_lock);

    int64_t t0 = st_mono_ns();
    char dir[4096];
    part_dir(s, db_id, index, dir, sizeof dir);
    uint64_t file_id = s->next_file_id++;
    /* Cold data: larger blocks (the fixed cost per block is amortised over
     * 8x more points) and a higher zstd level. */
    seg_writer_opts o = { 8192, 9, 0, 0 };
    seg_writer *w = NULL;
    int rc = seg_writer_open(s->io, dir, file_id, &o, &w);
    stor_points pts, one;
    stor_points_init(&pts);
    stor_points_init(&one);
    size_t *pos = st_calloc(n, sizeof *pos);
    if (!pos && !rc) rc = ST_ENOMEM;
    uint64_t points_in = 0, points_out = 0;
    /* Merge the files' columns in (series, field) order. */
    while (!rc) {
        if (s->flush_stop) { rc = ST_ECLOSED; break; } /* shutting down: the inputs stay */
        /* Writers wait while the head is over its budget: flush it from
         * here rather than after a long merge (the swap below keeps files
         * added meanwhile, newer than the output). */
        if (head_bytes(s->active) >= stor__head_limit(s) && stor__flush_now(s) != 0 && atomic_load(&s->readonly)) {
            rc = ST_EREADONLY;
            break;
        }
        uint64_t bs = UINT64_MAX, bf = UINT64_MAX;
        for (size_t i = 0; i < n; i++) {
            const seg_column *c = seg_column_at(in[i], pos[i]);
            if (c && (c->series_id < bs || (c->series_id == bs && c->field_id < bf))) { bs = c->series_id; bf = c->field_id; }
        }
        if (bs == UINT64_MAX) break;
        int live = sidx_series_get(s->idx, bs, series_db_cb, &(series_db){ 0 }) == 0;
        /* Concatenate the column from every file, oldest first, then resolve. */
        pts.n = 0;
        st_buf_clear(&pts.strings);
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
            const seg_column *c = seg_column_at(in[i], pos[i]);
            if (c && c->series_id == bs && c->field_id == bf) total += c->count;
        }
        int64_t *ts = st_malloc((total ? total : 1) * sizeof *ts);
        st_value *vals = st_malloc((total ? total : 1) * sizeof *vals);
        uint32_t *q = st_malloc((total ? total : 1) * sizeof *q);
        uint32_t *prio = st_malloc((total ? total : 1) * sizeof *prio);
        st_buf strs;
        st_buf_init(&strs);
        size_t *soff = st_malloc((total ? total : 1) * sizeof *soff);
        if (!ts || !vals || !q || !prio || !soff) rc = ST_ENOMEM;
        size_t k = 0;
        uint8_t type = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            const seg_column *c = seg_column_at(in[i], pos[i]);
            if (!c || c->series_id != bs || c->field_id != bf) continue;
            pos[i]++;
            type = c->type;
            for (uint32_t b = 0; b < c->nblocks && !rc; b++) {
                const seg_block *blk;
                rc = seg_block_read_once(in[i], c, b, &blk);
                if (rc == ST_ECORRUPT) { rc = 0; continue; } /* reported; the rest is kept */
                if (rc) break;
                for (uint32_t j = 0; j < blk->n && k < total; j++, k++) {
                    ts[k] = blk->ts[j];
                    vals[k] = seg_block_value(blk, j);
                    q[k] = seg_block_quality(blk, j);
                    prio[k] = (uint32_t)i;
                    if (type == ST_TYPE_STRING) {
                        soff[k] = strs.len;
                        if (st_buf_append(&strs, vals[k].v.s.ptr, vals[k].v.s.len)) rc = ST_ENOMEM;
                    }
                }
                seg_block_release(blk);
            }
        }
        points_in += k;
        if (!rc && live && k) {
            /* Order by (ts, file order, position): each file is sorted, but
             * files may overlap in time (a flush repeated after a crash), so
             * a real sort — an insertion sort went quadratic there. */
            size_t *ord = st_malloc(k * sizeof *ord);
            if (!ord) rc = ST_ENOMEM;
            for (size_t i = 0; !rc && i < k; i++) ord[i] = i;
            int in_order = 1;
            for (size_t i = 1; !rc && i < k && in_order; i++) in_order = ts[i - 1] < ts[i];
            cmp_ctx cc = { ts, prio };
            if (!rc && !in_order) qsort_r(ord, k, sizeof *ord, cmp_ord, &cc);
            size_t m = 0;
            int64_t *ots = st_malloc(k * sizeof *ots);
            st_value *ov = st_malloc(k * sizeof *ov);
            uint32_t *oq = st_malloc(k * sizeof *oq);
            if (!ots || !ov || !oq) rc = ST_ENOMEM;
            for (size_t i = 0; !rc && i < k; i++) {
                size_t x = ord[i];
                if (i + 1 < k && ts[ord[i + 1]] == ts[x]) continue; /* a newer one follows */
                if (del_hits(del, bs, ts[x])) continue;             /* deleted */
                ots[m] = ts[x];
                ov[m] = vals[x];
                if (type == ST_TYPE_STRING) ov[m].v.s.ptr = strs.ptr + soff[x];
                oq[m] = q[x];
                m++;
            }
            if (!rc && m) rc = seg_writer_add(w, bs, bf, (st_type)type, m, ots, ov, oq);
            points_out += m;
            st_free(ots);
            st_free(ov);
            st_free(oq);
            st_free(ord);
        }
        st_free(ts);
        st_free(vals);
        st_free(q);
        st_free(prio);
        st_free(soff);
        st_buf_fini(&strs);
    }
    st_free(pos);
    stor_points_fini(&pts);
    stor_points_fini(&one);
    seg *out = NULL;
    if (!rc) {
        seg_info info;
        rc = seg_writer_finish(w, &info);
        w = NULL;
        char path[4200];
        if (!rc) { seg_path(dir, file_id, 0, path, sizeof path); rc = seg_open(s->io, path, s->cache, &out); }
    } else {
        seg_writer_abort(w);
    }
    if (rc) {
        for (size_t i = 0; i < n; i++) seg_unref(in[i]);
        st_free(in);
        if (rc != ST_ECLOSED) fail_readonly(s, "compaction", rc);
        return rc;
    }
    /* Swap: the new file takes the place of the inputs; a file a flush
     * added meanwhile (from inside this merge) stays after it, newer. */
    pthread_rwlock_wrlock(&s->parts_lock);
    p = part_get(s, db_id, index, width, 0);
    if (p) {
        size_t k = 0;
        for (size_t i = 0; i < p->n; i++) {
            int input = 0;
            for (size_t j = 0; j < n && !input; j++) input = p->segs[i] == in[j];
            if (!input) { p->segs[k++] = p->segs[i]; continue; }
            seg_unref(p->segs[i]);
            if (out) { p->segs[k++] = out; out = NULL; } /* at the first input: k <= i */
        }
        p->n = k;
    }
    pthread_rwlock_unlock(&s->parts_lock);
    seg_unref(out);
    for (size_t i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s", seg_path_of(in[i]));
        seg_unref(in[i]);
        unlink(path);
    }
    st_free(in);
    s->io->fsync_dir(s->io->ctx, dir);
    atomic_fetch_add(&s->compactions, 1);
    ST_INFO("stor", "compacted db=%" PRIu64 " partition=%" PRId64 " files=%zu points_in=%" PRIu64 " points_out=%" PRIu64 " ms=%" PRId64,
            db_id, index, n, points_in, points_out, (st_mono_ns() - t0) / 1000000);
    return 0;
}

/* Rewrite every partition once into one cold file (force_merge). */
static void merge_all_once(stor *s)
{
    pthread_rwlock_rdlock(&s->parts_lock);
    size_t n = s->nparts;
    uint64_t *db = st_malloc((n ? n : 1) * sizeof *db);
    int64_t *idx = st_malloc((n ? n : 1) * sizeof *idx);
    for (size_t i = 0; db && idx && i < n; i++) { db[i] = s->parts[i].db_id; idx[i] = s->parts[i].index; }
    pthread_rwlock_unlock(&s->parts_lock);
    for (size_t i = 0; db && idx && i < n && !atomic_load(&s->readonly); i++)
        if (compact_part(s, db[i], idx[i], 1, NULL) != 0) break;
    st_free(db);
    st_free(idx);
}

/* Compact every partition holding at least min_files (>= 2) files. */
static void compact_all(stor *s, size_t min_files)
{
    if (min_files < 2) { merge_all_once(s); return; }
    for (;;) {
        uint64_t db = 0;
        int64_t index = 0;
        int found = 0;
        pthread_rwlock_rdlock(&s->parts_lock);
        for (size_t i = 0; i < s->nparts; i++)
            if (tiered_first(&s->parts[i], min_files) < s->parts[i].n) {
                db = s->parts[i].db_id; index = s->parts[i].index; found = 1; break;
            }
        pthread_rwlock_unlock(&s->parts_lock);
        if (!found || atomic_load(&s->readonly)) return;
        if (compact_part(s, db, index, min_files, NULL) != 0) return;
    }
}

/* ---- range deletes: rewrite the partitions they touch ---- */

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y);
}

void stor__delete_queue(stor *s, uint64_t db_id, const uint64_t *ids, size_t n, int64_t tmin, int64_t tmax)
{
    stor_del *d = st_malloc(sizeof *d + n * sizeof d->ids[0]);
    if (!d) {
        ST_ERROR("stor", "out of memory queuing a delete's rewrite: deleted points may be served until restart");
        return;
    }
    d->next = NULL;
    d->db_id = db_id;
    d->tmin = tmin;
    d->tmax = tmax;
    d->n = n;
    memcpy(d->ids, ids, n * sizeof ids[0]);
    qsort(d->ids, n, sizeof d->ids[0], id_cmp);
    pthread_mutex_lock(&s->flush_mu);
    stor_del **tail = &s->dels;
    while (*tail) tail = &(*tail)->next;
    *tail = d;
    pthread_cond_signal(&s->flush_cv);
    pthread_mutex_unlock(&s->flush_mu);
}

/* Flush thread. The rewrites run before any flush, so the WAL position
 * never passes a delete whose files are not rewritten yet. */
static void process_deletes(stor *s)
{
    for (;;) {
        pthread_mutex_lock(&s->flush_mu);
        stor_del *d = s->dels;
        pthread_mutex_unlock(&s->flush_mu);
        if (!d) return;
        int64_t idx[4096];
        size_t ni = 0;
        pthread_rwlock_rdlock(&s->parts_lock);
        for (size_t i = 0; i < s->nparts && ni < 4096; i++) {
            stor_part *p = &s->parts[i];
            if (p->db_id != d->db_id) continue;
            int64_t pmin = p->index * p->width_ns, pmax = pmin + (p->width_ns - 1);
            if (pmax >= d->tmin && pmin <= d->tmax) idx[ni++] = p->index;
        }
        pthread_rwlock_unlock(&s->parts_lock);
        int rc = 0;
        for (size_t i = 0; i < ni && !rc; i++) rc = compact_part(s, d->db_id, idx[i], 1, d);
        if (rc) return; /* read-only or out of space: retried on the next pass */
        pthread_mutex_lock(&s->flush_mu);
        s->dels = d->next;
        pthread_cond_broadcast(&s->flush_cv);
        pthread_mutex_unlock(&s->flush_mu);
        st_free(d);
    }
}

void stor__delete_wait(stor *s)
{
    for (int i = 0; i < 60000; i++) {
        pthread_mutex_lock(&s->flush_mu);
        int pending = s->dels != NULL;
        pthread_mutex_unlock(&s->flush_mu);
        if (!pending || atomic_load(&s->readonly) || !s->flush_started) return;
        struct timespec d = { 0, 2000000 };
        nanosleep(&d, NULL);
    }
}

/* ---- retention ---- */

static void retention(stor *s)
{
    int64_t now = st_now_ns();
    for (;;) {
        int found = 0;
        stor_part victim;
        pthread_rwlock_wrlock(&s->parts_lock);
        for (size_t i = 0; i < s->nparts && !found; i++) {
            stor_part *p = &s->parts[i];
            sidx_db_info dbi;
            int gone = sidx_db_get(s->idx, p->db_id, &dbi) != 0;
            int64_t end = (p->index + 1) * p->width_ns; /* exclusive */
            if (gone || (dbi.rp_duration_ns > 0 && end <= now - dbi.rp_duration_ns)) {
                victim = *p;
                memmove(p, p + 1, (s->nparts - i - 1) * sizeof *p);
                s->nparts--;
                found = 1;
            }
        }
        pthread_rwlock_unlock(&s->parts_lock);
        if (!found) return;
        char dir[4096];
        part_dir(s, victim.db_id, victim.index, dir, sizeof dir);
        for (size_t k = 0; k < victim.n; k++) {
            char path[4200];
            snprintf(path, sizeof path, "%s", seg_path_of(victim.segs[k]));
            seg_unref(victim.segs[k]);
            unlink(path);
        }
        st_free(victim.segs);
        rmdir(dir);
        atomic_fetch_add(&s->partitions_dropped, 1);
        ST_INFO("stor", "dropped partition db=%" PRIu64 " partition=%" PRId64 " files=%zu (retention or dropped database)",
                victim.db_id, victim.index, victim.n);
    }
}

/* ---- the thread ---- */

static void *flush_main(void *arg)
{
    stor *s = arg;
    int64_t age_ns = (s->opts.flush_age_ms > 0 ? s->opts.flush_age_ms : 600000) * 1000000LL;
    size_t limit = stor__head_limit(s); /* the writers' back-pressure threshold too */
    int64_t last_retention = 0;
    pthread_mutex_lock(&s->flush_mu);
    while (!s->flush_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        if (!s->flush_request && !s->dels) pthread_cond_timedwait(&s->flush_cv, &s->flush_mu, &ts);
        if (s->flush_stop) break;
        int requested = s->flush_request;
        int merge = s->merge_request;
        int ret_now = s->retention_request;
        s->flush_request = 0;
        s->merge_request = 0;
        s->retention_request = 0;
        s->flush_busy = requested || merge;
        pthread_mutex_unlock(&s->flush_mu);
        if (!atomic_load(&s->readonly)) {
            process_deletes(s);
            if (s->frozen) flush_retry_frozen(s);
            head_tidy(s->active); /* late points of quiet columns into their chunks */
            size_t bytes = head_bytes(s->active);
            int64_t since = atomic_load_explicit(&s->active_since_ns, memory_order_relaxed);
            if (requested || bytes >= limit || (since && st_mono_ns() - since >= age_ns)) {
                /* A bulk load leaves the merging to the server: compacting
                 * while the load goes on rewrote each partition several
                 * times over, on the cores the import needs. */
                if (stor__flush_now(s) == 0 && !s->opts.bulk_load) compact_all(s, COMPACT_MIN_FILES);
            }
            if (merge) compact_all(s, 1); /* explicit: every partition into one cold file */
            int64_t now = st_mono_ns();
            if (ret_now || now - last_retention >= (int64_t)RETENTION_CHECK_S * 1000000000LL) {
                retention(s);
                last_retention = now;
            }
        }
        pthread_mutex_lock(&s->flush_mu);
        s->flush_busy = 0;
    }
    pthread_mutex_unlock(&s->flush_mu);
    return NULL;
}

int stor__flush_start(stor *s)
{
    if (pthread_create(&s->flush_thread, NULL, flush_main, s) != 0) return ST_ENOMEM;
    s->flush_started = 1;
    return 0;
}

void stor__flush_stop(stor *s)
{
    if (!s->flush_started) return;
    pthread_mutex_lock(&s->flush_mu);
    s->flush_stop = 1;
    pthread_cond_signal(&s->flush_cv);
    pthread_mutex_unlock(&s->flush_mu);
    pthread_join(s->flush_thread, NULL);
    s->flush_started = 0;
    if (!atomic_load(&s->readonly) && (s->log || s->opts.bulk_load)) {
        process_deletes(s);
        if (s->frozen) flush_retry_frozen(s);
        if (!s->dels) flush_now(s, 1); /* a pending rewrite keeps its WAL records */
    }
    while (s->dels) {
        stor_del *d = s->dels;
        s->dels = d->next;
        st_free(d);
    }
}

/* ---- requests from other threads (tests, DROP, CLI) ---- */

void stor__flush_ask(stor *s, int merge)
{
    pthread_mutex_lock(&s->flush_mu);
    s->flush_request = 1;
    if (merge) s->merge_request = 1;
    pthread_cond_signal(&s->flush_cv);
    pthread_mutex_unlock(&s->flush_mu);
}

static int request_and_wait(stor *s, int merge)
{
    stor__flush_ask(s, merge);
    /* Wait until the request was taken and the heads settled. */
    for (int i = 0; i < 6000; i++) {
        pthread_mutex_lock(&s->flush_mu);
        int pending = s->flush_request || s->merge_request || s->flush_busy;
        pthread_mutex_unlock(&s->flush_mu);
        if (!pending) break; /* the request was served (flush_busy covers the work) */
        struct timespec d = { 0, 5000000 };
        nanosleep(&d, NULL);
    }
    if (atomic_load(&s->readonly)) return ST_EREADONLY;
    return s->frozen ? ST_ENOSPC : 0; /* a frozen head left behind: the flush failed (retried later) */
}

int stor_flush(stor *s)
{
    if (!s->flush_started) return stor__flush_now(s);
    return request_and_wait(s, 0);
}

int stor_compact(stor *s)
{
    if (!s->flush_started) {
        int rc = stor__flush_now(s);
        if (!rc) compact_all(s, 1);
        return rc;
    }
    return request_and_wait(s, 1);
}
