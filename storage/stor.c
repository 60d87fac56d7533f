/*
 * storage/stor.c — the storage engine: open/recover, the write path
 * (batches -> WAL records -> head), databases, reads (see stor.h).
 *
 * Invariants and the crash story:
 *  1. Every acknowledged point is in a WAL record that was durable (under
 *     the fsync mode) before done_cb ran; the head is applied from that
 *     record before done_cb, so reads see what was acknowledged.
 *  2. A record carries the definition of every series/field it uses that
 *     was not durable when it was built. The index's "logged" bit is set
 *     only once the defining record is durable, so a later record that
 *     omits a definition always follows a durable record that has it.
 *     A failed record (ENOSPC) leaves the bit clear: the next one carries
 *     the definition again.
 *  3. Records apply in sequence order (the WAL calls back in order; replay
 *     reads in order), so the head's last-write-wins matches WAL order.
 *  4. The catalog is a cache of definitions: it is written in the
 *     background after records are durable, and replay re-defines
 *     everything the WAL holds, so a crash before a catalog write loses
 *     nothing. (Until segments land, the WAL is never checkpointed.)
 *  5. data/LOCK is flock()ed for the life of the stor: one process per
 *     directory.
 *
 * Threads: see stor.h. Internal: the WAL writer thread runs wal_done
 * (apply + callbacks); a catalog thread applies definitions to sqlite3.
 */
#include "storage/stor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "storage/catalog.h"
#include "storage/wal.h"
#include "storage/wal_format.h"
#include "storage/stor_int.h"
#include "storage/walrec.h"


struct stor_batch {
    stor *s;                   /* borrowed */
    uint64_t db_id;
    st_buf db_name;
    st_buf defs_series, defs_fields, points, vals;
    uint64_t nseries_defs, nfield_defs;
    st_hmap *defined;          /* ids defined in this batch; owned, lazily created */
    uint64_t *logged_series, *logged_fields; /* ids to mark logged once durable */
    size_t nls, cls, nlf, clf;
    int64_t prev_ts;
    uint64_t points_count;
    int64_t oldest_ns;         /* retention: points before this are refused; INT64_MIN = none */
    sidx_tag *tags;            /* scratch */
    size_t tags_cap;
    /* Field ids of the previous line, by position: consecutive lines of one
     * measurement usually carry the same fields in the same order, so a
     * memcmp replaces the index lookup (and its lock) for each value. */
    st_buf fc_meas;            /* measurement of the cached fields */
    st_buf fc_keys;            /* the keys, concatenated */
    struct fcache { size_t off, len; uint64_t id; uint8_t type; } *fc;
    uint32_t fc_n, fc_cap;
    /* Series refs handed out (stor_batch_series_ref): a producer that knows
     * a line's series from an earlier line skips the index for it. */
    uint64_t id;               /* unique among this stor's batches */
    uint64_t last_series;      /* series of the line added last; 0 = refused */
    struct sref { uint64_t series_id; size_t meas_off, meas_len; } *refs;
    uint32_t nrefs, caprefs;
    st_buf ref_meas;           /* the refs' measurements, concatenated */
    unsigned char *payload;    /* owned: the record while in the WAL */
    size_t payload_len;
    stor_done_cb done;
    void *arg;
};

/* ---- varints ---- */

static int put_svarint(st_buf *b, int64_t v)
{
    return st_buf_put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

typedef struct rd {
    const unsigned char *p, *end;
    int bad;
} rd;

static uint64_t get_uvarint(rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) { r->bad = 1; return 0; }
        unsigned char c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

static int64_t get_svarint(rd *r)
{
    uint64_t u = get_uvarint(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static st_slice get_bytes(rd *r)
{
    uint64_t n = get_uvarint(r);
    if (r->bad || n > (uint64_t)(r->end - r->p)) { r->bad = 1; return (st_slice){ "", 0 }; }
    st_slice s = { (const char *)r->p, (size_t)n };
    r->p += n;
    return s;
}

static uint8_t get_u8(rd *r)
{
    if (r->p >= r->end) { r->bad = 1; return 0; }
    return *r->p++;
}

typedef struct ids_acc {
    uint64_t *ids;
    size_t n, cap;
} ids_acc;

static int ids_push(ids_acc *a, uint64_t id)
{
    if (a->n == a->cap && st_grow(&a->ids, &a->cap, a->n + 1, sizeof *a->ids, 64)) return ST_ENOMEM;
    a->ids[a->n++] = id;
    return 0;
}

/* ---- applying records (live and replay) ---- */

static int apply_defs(stor *s, rd *r, uint64_t db_id, st_slice db_name, int replay)
{
    if (replay) {
        sidx_db_info have;
        if (sidx_db_get(s->idx, db_id, &have) == ST_ENOTFOUND) {
            sidx_db_info info;
            memset(&info, 0, sizeof info);
            info.id = db_id;
            info.name = db_name;
            int rc = sidx_db_define(s->idx, &info);
            if (rc && rc != ST_EEXISTS) return rc;
        }
    }
    uint64_t ns = get_uvarint(r);
    for (uint64_t i = 0; i < ns && !r->bad; i++) {
        uint64_t id = get_uvarint(r);
        st_slice key = get_bytes(r);
        if (r->bad) break;
        if (replay) {
            int rc = sidx_define_series(s->idx, id, db_id, key.ptr, key.len);
            if (rc && rc != ST_EEXISTS) ST_WARN("stor", "replay: series %" PRIu64 " not defined: %s", id, st_strerror(rc));
        }
    }
    uint64_t nf = get_uvarint(r);
    for (uint64_t i = 0; i < nf && !r->bad; i++) {
        uint64_t id = get_uvarint(r);
        st_slice m = get_bytes(r);
        st_slice k = get_bytes(r);
        uint8_t type = get_u8(r);
        if (r->bad) break;
        if (replay) {
            int rc = sidx_define_field(s->idx, id, db_id, m, k, (st_type)type);
            if (rc && rc != ST_EEXISTS) ST_WARN("stor", "replay: field %" PRIu64 " not defined: %s", id, st_strerror(rc));
        }
    }
    return r->bad ? ST_ECORRUPT : 0;
}

/* Apply the points of a write record to the active head (apply_mu held,
 * or recovery before any other thread runs). */
static int apply_points(stor *s, rd *r, uint64_t *npoints)
{
    int64_t ts = 0;
    uint64_t n = 0;
    int rc = 0;
    head *hd = s->active;
    head_lock_write(hd);
    while (r->p < r->end && !r->bad) {
        uint64_t series = get_uvarint(r);
        ts += get_svarint(r);
        uint32_t quality = (uint32_t)get_uvarint(r);
        uint64_t nv = get_uvarint(r);
        if (r->bad) break;
        /* Each value takes at least 2 bytes: a count past that is corrupt
         * (and must not size the scratch). */
        if (nv > (uint64_t)(r->end - r->p) / 2) { r->bad = 1; break; }
        if (nv > s->ap_cap) {
            size_t cap = s->ap_cap ? s->ap_cap : 16;
            while (cap < nv) cap *= 2;
            uint64_t *f = st_realloc(s->ap_fields, cap * sizeof *f);
            if (!f) { rc = ST_ENOMEM; goto out; }
            s->ap_fields = f;
            st_value *v = st_realloc(s->ap_vals, cap * sizeof *v);
            if (!v) { rc = ST_ENOMEM; goto out; }
            s->ap_vals = v;
            s->ap_cap = cap;
        }
        size_t k = 0;
        for (uint64_t i = 0; i < nv && !r->bad; i++) {
            uint64_t field = get_uvarint(r);
            st_value *v = &s->ap_vals[k];
            v->type = get_u8(r);
            switch (v->type) {
            case ST_TYPE_FLOAT: {
                if (r->end - r->p < 8) { r->bad = 1; break; }
                uint64_t bits = 0;
                for (int b = 0; b < 8; b++) bits |= (uint64_t)r->p[b] << (8 * b);
                r->p += 8;
                memcpy(&v->v.f, &bits, 8);
                break;
            }
            case ST_TYPE_INT: v->v.i = get_svarint(r); break;
            case ST_TYPE_UINT: v->v.u = get_uvarint(r); break;
            case ST_TYPE_BOOL: v->v.b = get_u8(r) != 0; break;
            case ST_TYPE_STRING: v->v.s = get_bytes(r); break;
            default: r->bad = 1; break;
            }
            if (r->bad) break;
            s->ap_fields[k++] = field;
        }
        /* The values decoded before a corrupt byte still go in, as before. */
        size_t took = 0;
        int arc = head_append_line(hd, series, ts, quality, k, s->ap_fields, s->ap_vals, &took);
        n += took;
        if (arc == ST_ENOMEM) { rc = arc; goto out; }
    }
out:
    head_unlock_write(hd);
    if (n && !atomic_load_explicit(&s->active_since_ns, memory_order_relaxed))
        atomic_store_explicit(&s->active_since_ns, st_mono_ns(), memory_order_relaxed);
    *npoints = n;
    if (rc) return rc;
    return r->bad ? ST_ECORRUPT : 0;
}

static void cat_enqueue(stor *s, int type, const void *p, size_t n)
{
    cat_job *j = st_malloc(sizeof *j + n);
    if (!j) {
        /* The WAL still has it; replay re-defines it. */
        ST_WARN("stor", "catalog update skipped (out of memory); the WAL still holds it");
        return;
    }
    j->next = NULL;
    j->type = type;
    j->len = n;
    memcpy(j->data, p, n);
    pthread_mutex_lock(&s->cat_mu);
    if (s->cat_tail) s->cat_tail->next = j; else s->cat_head = j;
    s->cat_tail = j;
    pthread_cond_signal(&s->cat_cv);
    pthread_mutex_unlock(&s->cat_mu);
}

static int apply_schema(stor *s, const unsigned char *p, size_t n, int replay)
{
    rd r = { p, p + n, 0 };
    uint8_t ver = get_u8(&r);
    uint8_t op = get_u8(&r);
    sidx_db_info info;
    memset(&info, 0, sizeof info);
    info.id = get_uvarint(&r);
    info.name = get_bytes(&r);
    info.rp_name = get_bytes(&r);
    info.rp_duration_ns = get_svarint(&r);
    info.shard_duration_ns = get_svarint(&r);
    info.created_ns = get_svarint(&r);
    if (r.bad || ver != WALREC_VERSION) return ST_ECORRUPT;
    if (!replay) return 0;
    switch (op) {
    case WALREC_SCHEMA_DB_CREATE: {
        int rc = sidx_db_define(s->idx, &info);
        return rc == ST_EEXISTS ? 0 : rc;
    }
    case WALREC_SCHEMA_DB_DROP: {
        int rc = sidx_db_drop(s->idx, info.id);
        return rc == ST_ENOTFOUND ? 0 : rc;
    }
    case WALREC_SCHEMA_DB_RETENTION: {
        int rc = sidx_db_set_retention(s->idx, info.id, info.rp_duration_ns);
        return rc == ST_ENOTFOUND ? 0 : rc;
    }
    default: return ST_ECORRUPT;
    }
}

/* One write record; replay = 1 at recovery. */
static int apply_write(stor *s, const unsigned char *p, size_t n, int replay, uint64_t *npoints)
{
    rd r = { p, p + n, 0 };
    if (get_u8(&r) != WALREC_VERSION) return ST_ECORRUPT;
    uint64_t db_id = get_uvarint(&r);
    st_slice db_name = get_bytes(&r);
    if (r.bad) return ST_ECORRUPT;
    const unsigned char *defs_start = r.p;
    int rc = apply_defs(s, &r, db_id, db_name, replay);
    if (rc) return rc;
    const unsigned char *defs_end = r.p;
    /* The catalog gets the definitions (db id + name prefix included). */
    if (defs_end - defs_start > 2 || replay) {
        size_t hdr = (size_t)(defs_start - p);
        st_buf job;
        st_buf_init(&job);
        if (st_buf_append(&job, p, hdr) == 0 && st_buf_append(&job, defs_start, (size_t)(defs_end - defs_start)) == 0)
            cat_enqueue(s, WAL_REC_WRITE, job.ptr, job.len);
        st_buf_fini(&job);
    }
    return apply_points(s, &r, npoints);
}

/* ---- catalog thread ---- */

static void cat_apply_job(stor *s, cat_job *j)
{
    if (j->type == WAL_REC_DELETE) {
        rd r = { j->data, j->data + j->len, 0 };
        get_u8(&r);
        get_u8(&r);
        get_uvarint(&r);
        ids_acc a[2] = { { 0 }, { 0 } };
        for (int k = 0; k < 2 && !r.bad; k++) {
            uint64_t n = get_uvarint(&r);
            for (uint64_t i = 0; i < n && !r.bad; i++) ids_push(&a[k], get_uvarint(&r));
        }
        int rc = 0;
        if (!r.bad && a[0].n) rc = cat_series_drop(s->catalog, a[0].ids, a[0].n);
        if (!r.bad && !rc && a[1].n) rc = cat_fields_drop(s->catalog, a[1].ids, a[1].n);
        if (rc) ST_WARN("stor", "catalog: drop not stored (%s); the WAL still holds it", st_strerror(rc));
        st_free(a[0].ids);
        st_free(a[1].ids);
        return;
    }
    if (j->type == WAL_REC_SCHEMA) {
        rd r = { j->data, j->data + j->len, 0 };
        get_u8(&r);
        uint8_t op = get_u8(&r);
        sidx_db_info info;
        memset(&info, 0, sizeof info);
        info.id = get_uvarint(&r);
        info.name = get_bytes(&r);
        info.rp_name = get_bytes(&r);
        info.rp_duration_ns = get_svarint(&r);
        info.shard_duration_ns = get_svarint(&r);
        info.created_ns = get_svarint(&r);
        if (r.bad) return;
        int rc = 0;
        if (op == WALREC_SCHEMA_DB_CREATE) { rc = cat_db_create(s->catalog, &info); if (rc == ST_EEXISTS) rc = 0; }
        else if (op == WALREC_SCHEMA_DB_DROP) { rc = cat_db_drop(s->catalog, info.id); if (rc == ST_ENOTFOUND) rc = 0; }
        else if (op == WALREC_SCHEMA_DB_RETENTION) { rc = cat_db_set_retention(s->catalog, info.id, info.rp_duration_ns); if (rc == ST_ENOTFOUND) rc = 0; }
        if (rc) ST_WARN("stor", "catalog: database change not stored (%s); the WAL still holds it", st_strerror(rc));
        return;
    }
    rd r = { j->data, j->data + j->len, 0 };
    get_u8(&r);
    uint64_t db_id = get_uvarint(&r);
    st_slice db_name = get_bytes(&r);
    /* A write record may be the first word of its database. */
    sidx_db_info dbi;
    if (sidx_db_get(s->idx, db_id, &dbi) == 0) {
        dbi.name = db_name;
        sidx_db_info full = dbi;
        full.rp_name = (st_slice){ SIDX_RP_DEFAULT_NAME, sizeof SIDX_RP_DEFAULT_NAME - 1 };
        int rc = cat_db_create(s->catalog, &full);
        (void)rc; /* ST_EEXISTS: already there */
    }
    uint64_t ns = get_uvarint(&r);
    cat_series_def *sd = ns && ns < (1u << 24) ? st_calloc((size_t)ns, sizeof *sd) : NULL;
    for (uint64_t i = 0; i < ns && !r.bad; i++) {
        uint64_t id = get_uvarint(&r);
        st_slice key = get_bytes(&r);
        if (sd) { sd[i].id = id; sd[i].db_id = db_id; sd[i].key = key; }
    }
    uint64_t nf = get_uvarint(&r);
    cat_field_def *fd = nf && nf < (1u << 24) ? st_calloc((size_t)nf, sizeof *fd) : NULL;
    for (uint64_t i = 0; i < nf && !r.bad; i++) {
        uint64_t id = get_uvarint(&r);
        st_slice m = get_bytes(&r);
        st_slice k = get_bytes(&r);
        uint8_t type = get_u8(&r);
        if (fd) { fd[i].id = id; fd[i].db_id = db_id; fd[i].measurement = m; fd[i].key = k; fd[i].type = (st_type)type; }
    }
    if (!r.bad && (!ns || sd) && (!nf || fd) && (ns || nf)) {
        int rc = cat_apply(s->catalog, sd, (size_t)ns, fd, (size_t)nf);
        if (rc) ST_WARN("stor", "catalog: definitions not stored (%s); the WAL still holds them", st_strerror(rc));
    }
    st_free(sd);
    st_free(fd);
}

static void *cat_main(void *arg)
{
    stor *s = arg;
    pthread_mutex_lock(&s->cat_mu);
    for (;;) {
        while (!s->cat_head && !s->cat_stop) pthread_cond_wait(&s->cat_cv, &s->cat_mu);
        cat_job *j = s->cat_head;
        if (!j) break;
        s->cat_head = s->cat_tail = NULL;
        s->cat_busy = 1;
        pthread_mutex_unlock(&s->cat_mu);
        while (j) {
            cat_job *next = j->next;
            cat_apply_job(s, j);
            st_free(j);
            j = next;
        }
        pthread_mutex_lock(&s->cat_mu);
        s->cat_busy = 0;
        pthread_cond_broadcast(&s->cat_cv);
    }
    pthread_mutex_unlock(&s->cat_mu);
    return NULL;
}

void stor__cat_barrier(stor *s)
{
    pthread_mutex_lock(&s->cat_mu);
    while ((s->cat_head || s->cat_busy) && !s->cat_stop) pthread_cond_wait(&s->cat_cv, &s->cat_mu);
    pthread_mutex_unlock(&s->cat_mu);
}

int stor_meta_get(stor *s, const char *key, char **val, size_t *len)
{
    pthread_mutex_lock(&s->cat_mu);
    while ((s->cat_head || s->cat_busy) && !s->cat_stop) pthread_cond_wait(&s->cat_cv, &s->cat_mu);
    int rc = cat_meta_get(s->catalog, key, val, len);
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

int stor_meta_set(stor *s, const char *key, const void *val, size_t len)
{
    pthread_mutex_lock(&s->cat_mu);
    while ((s->cat_head || s->cat_busy) && !s->cat_stop) pthread_cond_wait(&s->cat_cv, &s->cat_mu);
    int rc = cat_meta_set(s->catalog, key, val, len);
    pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

/* ---- open / close ---- */

char *stor__path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = st_malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int take_lock(stor *s)
{
    char *p = stor__path_join(s->dir, "LOCK");
    if (!p) return ST_ENOMEM;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        ST_ERROR("stor", "cannot open %s: %s", p, strerror(errno));
        st_free(p);
        return st_from_errno(errno);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = { 0 };
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        if (n > 0) { pid[n] = 0; char *nl = strchr(pid, '\n'); if (nl) *nl = 0; }
        ST_ERROR("stor", "data directory %s is in use by another process (pid %s): refusing to open it twice",
                 s->dir, n > 0 ? pid : "unknown");
        close(fd);
        st_free(p);
        return ST_EBUSY;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) { /* informational only */ }
    s->lock_fd = fd;
    st_free(p);
    return 0;
}

static int check_format(stor *s)
{
    char *p = stor__path_join(s->dir, "FORMAT");
    if (!p) return ST_ENOMEM;
    int rc = 0;
    FILE *f = fopen(p, "r");
    if (f) {
        char line[128] = { 0 };
        if (!fgets(line, sizeof line, f) || strcmp(line, STOR_FORMAT_TEXT) != 0) {
            ST_ERROR("stor", "%s says '%.*s', this stratad reads '%.*s'", p, (int)strcspn(line, "\n"), line,
                     (int)strlen(STOR_FORMAT_TEXT) - 1, STOR_FORMAT_TEXT);
            rc = ST_EUNSUPPORTED;
        }
        fclose(f);
    } else {
        char *tmp = stor__path_join(s->dir, "FORMAT.tmp");
        f = tmp ? fopen(tmp, "w") : NULL;
        if (!f) rc = tmp ? st_from_errno(errno) : ST_ENOMEM;
        else {
            fputs(STOR_FORMAT_TEXT, f);
            if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = st_from_errno(errno);
            fclose(f);
            if (!rc && rename(tmp, p) != 0) rc = st_from_errno(errno);
            if (!rc) rc = s->io->fsync_dir(s->io->ctx, s->dir);
        }
        st_free(tmp);
    }
    st_free(p);
    return rc;
}

/* ---- drops (WAL type DELETE) ---- */

static int field_id_cb(void *arg, uint64_t field_id, st_slice key, st_type type)
{
    (void)key; (void)type;
    return ids_push(arg, field_id) ? 1 : 0;
}

/* Drop from the index and the heads; queue the catalog change. */
static int apply_delete(stor *s, const unsigned char *p, size_t n)
{
    rd r = { p, p + n, 0 };
    if (get_u8(&r) != WALREC_VERSION) return ST_ECORRUPT;
    uint8_t op = get_u8(&r);
    uint64_t db_id = get_uvarint(&r);
    ids_acc series = { 0 }, fields = { 0 };
    int rc = 0;
    if (op == WALREC_DELETE_RANGE) {
        uint64_t k = get_uvarint(&r);
        for (uint64_t i = 0; i < k && !r.bad && !rc; i++) rc = ids_push(&series, get_uvarint(&r));
        int64_t tmin = get_svarint(&r), tmax = get_svarint(&r);
        if (r.bad) rc = ST_ECORRUPT;
        for (size_t i = 0; i < series.n && !rc; i++) {
            pthread_rwlock_rdlock(&s->heads_lock);
            rc = head_delete_range(s->active, series.ids[i], tmin, tmax);
            if (!rc && s->frozen) rc = head_delete_range(s->frozen, series.ids[i], tmin, tmax);
            pthread_rwlock_unlock(&s->heads_lock);
        }
        if (!rc && series.n) stor__delete_queue(s, db_id, series.ids, series.n, tmin, tmax);
        st_free(series.ids);
        return rc;
    }
    if (op == WALREC_DELETE_SERIES) {
        uint64_t k = get_uvarint(&r);
        for (uint64_t i = 0; i < k && !r.bad && !rc; i++) rc = ids_push(&series, get_uvarint(&r));
    } else if (op == WALREC_DELETE_MEASUREMENT) {
        st_slice m = get_bytes(&r);
        if (!r.bad) {
            uint64_t *ids = NULL;
            size_t k = 0;
            if (sidx_measurement_series_copy(s->idx, db_id, m, &ids, &k) == 0) {
                for (size_t i = 0; i < k && !rc; i++) rc = ids_push(&series, ids[i]);
                st_free(ids);
            }
            sidx_field_each(s->idx, db_id, m, field_id_cb, &fields);
            sidx_measurement_drop(s->idx, db_id, m); /* ST_ENOTFOUND on replay: fine */
        }
    } else {
        return ST_ECORRUPT;
    }
    if (r.bad) rc = ST_ECORRUPT;
    for (size_t i = 0; i < series.n && !rc; i++) {
        if (op == WALREC_DELETE_SERIES) sidx_series_drop(s->idx, series.ids[i]);
        pthread_rwlock_rdlock(&s->heads_lock);
        head_drop_series(s->active, series.ids[i]);
        if (s->frozen) head_drop_series(s->frozen, series.ids[i]);
        pthread_rwlock_unlock(&s->heads_lock);
    }
    if (!rc && (series.n || fields.n)) {
        st_buf job;
        st_buf_init(&job);
        st_buf_put_u8(&job, WALREC_VERSION);
        st_buf_put_u8(&job, WALREC_DELETE_IDS);
        st_buf_put_uvarint(&job, db_id);
        st_buf_put_uvarint(&job, series.n);
        for (size_t i = 0; i < series.n; i++) st_buf_put_uvarint(&job, series.ids[i]);
        st_buf_put_uvarint(&job, fields.n);
        for (size_t i = 0; i < fields.n; i++) st_buf_put_uvarint(&job, fields.ids[i]);
        if (job.ptr) cat_enqueue(s, WAL_REC_DELETE, job.ptr, job.len);
        st_buf_fini(&job);
    }
    st_free(series.ids);
    st_free(fields.ids);
    return rc;
}

static int replay_cb(void *arg, int type, uint64_t seq, const void *payload, size_t len)
{
    stor *s = arg;
    int rc = 0;
    uint64_t n = 0;
    if (type == WAL_REC_WRITE) rc = apply_write(s, payload, len, 1, &n);
    else if (type == WAL_REC_DELETE) rc = apply_delete(s, payload, len);
    else if (type == WAL_REC_SCHEMA) {
        rc = apply_schema(s, payload, len, 1);
        if (!rc) cat_enqueue(s, WAL_REC_SCHEMA, payload, len);
    }
    if (rc == ST_ENOMEM) return rc;
    if (rc) ST_ERROR("stor", "replay: record seq=%" PRIu64 " type=%d could not be applied: %s", seq, type, st_strerror(rc));
    s->replayed++;
    s->last_seq = seq;
    return 0;
}

int stor_open(const stor_opts *opts, stor **out)
{
    int rc;
    stor *s = st_calloc(1, sizeof *s);
    if (!s) return ST_ENOMEM;
    s->opts = *opts;
    s->lock_fd = -1;
    s->io = opts->io ? opts->io : stor_io_posix();
    pthread_mutex_init(&s->cat_mu, NULL);
    pthread_cond_init(&s->cat_cv, NULL);
    pthread_mutex_init(&s->apply_mu, NULL);
    pthread_rwlock_init(&s->heads_lock, NULL);
    pthread_rwlock_init(&s->parts_lock, NULL);
    pthread_mutex_init(&s->flush_mu, NULL);
    pthread_cond_init(&s->flush_cv, NULL);
    s->next_file_id = 1;
    s->dir = st_strdup(opts->data_dir);
    char *wal_dir = NULL, *cat_path = NULL;
    if (!s->dir) { rc = ST_ENOMEM; goto fail; }
    if (mkdir(s->dir, 0755) != 0 && errno != EEXIST) {
        ST_ERROR("stor", "cannot create data directory %s: %s", s->dir, strerror(errno));
        rc = st_from_errno(errno);
        goto fail;
    }
    if ((rc = take_lock(s)) != 0) goto fail;
    if ((rc = check_format(s)) != 0) goto fail;
    sidx_config ic = { .max_series = opts->max_series };
    if ((rc = sidx_create(&ic, &s->idx)) != 0) goto fail;
    if ((rc = head_create(&s->active)) != 0) goto fail;
    if ((rc = bcache_create(opts->block_cache_bytes, &s->cache)) != 0) goto fail;
    cat_path = stor__path_join(s->dir, "catalog.db");
    wal_dir = stor__path_join(s->dir, "wal");
    if (!cat_path || !wal_dir) { rc = ST_ENOMEM; goto fail; }
    if ((rc = cat_open(cat_path, &s->catalog)) != 0) {
        ST_ERROR("stor", "cannot open catalog %s: %s", cat_path, st_strerror(rc));
        goto fail;
    }
    if ((rc = cat_load(s->catalog, s->idx)) != 0) {
        ST_ERROR("stor", "cannot load catalog %s: %s", cat_path, st_strerror(rc));
        goto fail;
    }
    if (pthread_create(&s->cat_thread, NULL, cat_main, s) != 0) { rc = ST_ENOMEM; goto fail; }
    s->cat_started = 1;
    {
        char *v = NULL;
        size_t vlen = 0;
        if (cat_meta_get(s->catalog, "stor.flushed_seq", &v, &vlen) == 0 && v) {
            char tmp[32];
            size_t k = vlen < sizeof tmp - 1 ? vlen : sizeof tmp - 1;
            memcpy(tmp, v, k);
            tmp[k] = 0;
            s->flushed_seq = strtoull(tmp, NULL, 10);
        }
        st_free(v);
    }
    if ((rc = stor__segments_load(s)) != 0) goto fail;
    wal_replay_result rr;
    int64_t t0 = st_mono_ns();
    s->last_seq = s->flushed_seq;
    rc = wal_replay(wal_dir, s->io, s->flushed_seq + 1, replay_cb, s, &rr);
    if (rc) {
        ST_ERROR("stor", "WAL replay failed: %s", st_strerror(rc));
        goto fail;
    }
    if (rr.records)
        ST_INFO("stor", "recovered records=%" PRIu64 " points=%" PRIu64 " lost=%" PRIu64 " truncated_bytes=%" PRIu64 " ms=%" PRId64,
                rr.records, head_points_count(s->active), rr.records_lost, rr.bytes_truncated, (st_mono_ns() - t0) / 1000000);
    wal_opts wo;
    wal_opts_init(&wo, wal_dir);
    wo.io = s->io;
    wo.fsync_mode = opts->fsync_mode == STOR_FSYNC_GROUP ? WAL_FSYNC_GROUP
                  : opts->fsync_mode == STOR_FSYNC_INTERVAL ? WAL_FSYNC_INTERVAL : WAL_FSYNC_NEVER;
    wo.fsync_interval_ms = (uint32_t)opts->fsync_interval_ms;
    wo.segment_bytes = opts->wal_segment_bytes;
    wo.next_seq = rr.next_seq > s->flushed_seq + 1 ? rr.next_seq : s->flushed_seq + 1;
    wo.lz4 = 1;
    if (opts->bulk_load) {
        /* Bulk load: no WAL (see stor_opts.bulk_load). */
    } else if ((rc = wal_open(&wo, &s->log)) != 0) {
        ST_ERROR("stor", "cannot open the WAL in %s: %s", wal_dir, st_strerror(rc));
        goto fail;
    }
    if ((rc = stor__flush_start(s)) != 0) goto fail;
    stor__delete_wait(s); /* range deletes found in the WAL rewrite their files first */
    st_free(wal_dir);
    st_free(cat_path);
    *out = s;
    return 0;
fail:
    st_free(wal_dir);
    st_free(cat_path);
    stor_close(s);
    return rc;
}

void stor_close(stor *s)
{
    if (!s) return;
    /* Writers are gone: flush the head so the next start replays little. */
    stor__flush_stop(s);
    if (s->log) {
        int rc = wal_close(s->log);
        if (rc) ST_ERROR("stor", "WAL close: %s", st_strerror(rc));
        s->log = NULL;
    }
    if (s->cat_started) {
        pthread_mutex_lock(&s->cat_mu);
        s->cat_stop = 1;
        pthread_cond_signal(&s->cat_cv);
        pthread_mutex_unlock(&s->cat_mu);
        pthread_join(s->cat_thread, NULL);
    }
    while (s->cat_head) { cat_job *j = s->cat_head; s->cat_head = j->next; st_free(j); }
    cat_close(s->catalog);
    stor__parts_free(s);
    bcache_destroy(s->cache);
    head_destroy(s->active);
    head_destroy(s->frozen);
    st_free(s->ap_fields);
    st_free(s->ap_vals);
    sidx_destroy(s->idx);
    if (s->lock_fd >= 0) close(s->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&s->cat_mu);
    pthread_cond_destroy(&s->cat_cv);
    pthread_mutex_destroy(&s->apply_mu);
    pthread_rwlock_destroy(&s->heads_lock);
    pthread_rwlock_destroy(&s->parts_lock);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_cond_destroy(&s->flush_cv);
    st_free(s->dir);
    st_free(s);
}

int stor_is_readonly(const stor *s) { return atomic_load(&((stor *)s)->readonly); }
sidx *stor_index(stor *s) { return s->idx; }

/* ---- databases ---- */

typedef struct schema_job {
    stor *s;
    st_buf payload;
} schema_job;

static void schema_done(void *arg, int status, uint64_t seq)
{
    schema_job *j = arg;
    (void)seq;
    if (status == 0) cat_enqueue(j->s, WAL_REC_SCHEMA, j->payload.ptr, j->payload.len);
    else if (status == ST_EREADONLY) atomic_store(&j->s->readonly, 1);
    st_buf_fini(&j->payload);
    st_free(j);
}

static int log_schema(stor *s, int op, const sidx_db_info *info)
{
    schema_job *j = st_calloc(1, sizeof *j);
    if (!j) return ST_ENOMEM;
    j->s = s;
    st_buf *b = &j->payload;
    st_buf_init(b);
    st_buf_put_u8(b, WALREC_VERSION);
    st_buf_put_u8(b, (uint8_t)op);
    st_buf_put_uvarint(b, info->id);
    st_buf_put_uvarint(b, info->name.len);
    st_buf_append(b, info->name.ptr, info->name.len);
    st_buf_put_uvarint(b, info->rp_name.len);
    st_buf_append(b, info->rp_name.ptr, info->rp_name.len);
    put_svarint(b, info->rp_duration_ns);
    put_svarint(b, info->shard_duration_ns);
    int rc = put_svarint(b, info->created_ns);
    if (rc || !b->ptr) { st_buf_fini(b); st_free(j); return ST_ENOMEM; }
    if (!s->log) { schema_done(j, 0, 0); return 0; }
    rc = wal_append(s->log, WAL_REC_SCHEMA, b->ptr, b->len, schema_done, j);
    if (rc) { st_buf_fini(b); st_free(j); }
    return rc;
}

int stor_db_create(stor *s, st_slice name, uint64_t *db_id)
{
    if (name.len == 0) return ST_EINVAL;
    sidx_db_info info;
    if (sidx_db_lookup(s->idx, name, &info) == 0) { *db_id = info.id; return 0; }
    memset(&info, 0, sizeof info);
    info.name = name;
    info.rp_name = (st_slice){ SIDX_RP_DEFAULT_NAME, sizeof SIDX_RP_DEFAULT_NAME - 1 };
    info.shard_duration_ns = SIDX_SHARD_DEFAULT_NS;
    info.created_ns = st_now_ns();
    uint64_t id;
    int rc = sidx_db_create(s->idx, &info, &id);
    if (rc == ST_EEXISTS) {
        if (sidx_db_lookup(s->idx, name, &info) == 0) { *db_id = info.id; return 0; }
        return rc;
    }
    if (rc) return rc;
    info.id = id;
    rc = log_schema(s, WALREC_SCHEMA_DB_CREATE, &info);
    if (rc) ST_WARN("stor", "database %.*s created in memory but not logged: %s (write records carry it)",
                    (int)name.len, name.ptr, st_strerror(rc));
    *db_id = id;
    return 0;
}

int stor_db_drop(stor *s, uint64_t db_id)
{
    sidx_db_info info;
    int rc = sidx_db_get(s->idx, db_id, &info);
    if (rc) return rc;
    info.name = (st_slice){ "", 0 };
    info.rp_name = (st_slice){ "", 0 };
    rc = log_schema(s, WALREC_SCHEMA_DB_DROP, &info);
    if (rc) return rc;
    return sidx_db_drop(s->idx, db_id);
}

/* ---- drops and retention: logged, applied in WAL order, waited for ---- */

typedef struct sync_rec {
    stor *s;
    int type;
    st_buf payload;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
} sync_rec;

static void sync_rec_done(void *arg, int status, uint64_t seq)
{
    sync_rec *x = arg;
    stor *s = x->s;
    if (status == 0) {
        pthread_mutex_lock(&s->apply_mu);
        if (x->type == WAL_REC_DELETE) status = apply_delete(s, (const unsigned char *)x->payload.ptr, x->payload.len);
        else status = apply_schema(s, (const unsigned char *)x->payload.ptr, x->payload.len, 1);
        s->last_seq = seq;
        pthread_mutex_unlock(&s->apply_mu);
        if (status == 0 && x->type == WAL_REC_SCHEMA) cat_enqueue(s, WAL_REC_SCHEMA, x->payload.ptr, x->payload.len);
    } else if (status == ST_EREADONLY) {
        atomic_store(&s->readonly, 1);
    }
    pthread_mutex_lock(&x->mu);
    x->done = 1;
    x->status = status;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

/* Append the record and wait until it is durable and applied. Not on a
 * network loop (it waits for an fsync). */
static int log_and_wait(stor *s, int type, st_buf *payload)
{
    if (atomic_load(&s->readonly)) return ST_EREADONLY;
    if (!payload->ptr) return ST_ENOMEM;
    sync_rec x;
    memset(&x, 0, sizeof x);
    x.s = s;
    x.type = type;
    x.payload = *payload;
    pthread_mutex_init(&x.mu, NULL);
    pthread_cond_init(&x.cv, NULL);
    int rc = s->log ? wal_append(s->log, type, x.payload.ptr, x.payload.len, sync_rec_done, &x) : 0;
    if (!s->log) sync_rec_done(&x, 0, s->last_seq);
    if (rc == 0) {
        pthread_mutex_lock(&x.mu);
        while (!x.done) pthread_cond_wait(&x.cv, &x.mu);
        pthread_mutex_unlock(&x.mu);
        rc = x.status;
    }
    pthread_mutex_destroy(&x.mu);
    pthread_cond_destroy(&x.cv);
    return rc;
}

int stor_measurement_drop(stor *s, uint64_t db_id, st_slice measurement)
{
    st_buf b;
    st_buf_init(&b);
    st_buf_put_u8(&b, WALREC_VERSION);
    st_buf_put_u8(&b, WALREC_DELETE_MEASUREMENT);
    st_buf_put_uvarint(&b, db_id);
    st_buf_put_uvarint(&b, measurement.len);
    st_buf_append(&b, measurement.ptr, measurement.len);
    int rc = log_and_wait(s, WAL_REC_DELETE, &b);
    st_buf_fini(&b);
    return rc;
}

int stor_series_drop(stor *s, uint64_t db_id, const uint64_t *series_ids, size_t n)
{
    st_buf b;
    st_buf_init(&b);
    st_buf_put_u8(&b, WALREC_VERSION);
    st_buf_put_u8(&b, WALREC_DELETE_SERIES);
    st_buf_put_uvarint(&b, db_id);
    st_buf_put_uvarint(&b, n);
    for (size_t i = 0; i < n; i++) st_buf_put_uvarint(&b, series_ids[i]);
    int rc = log_and_wait(s, WAL_REC_DELETE, &b);
    st_buf_fini(&b);
    return rc;
}

int stor_delete(stor *s, uint64_t db_id, const uint64_t *series_ids, size_t n, int64_t tmin_ns, int64_t tmax_ns)
{
    if (n == 0 || tmin_ns > tmax_ns) return 0;
    st_buf b;
    st_buf_init(&b);
    st_buf_put_u8(&b, WALREC_VERSION);
    st_buf_put_u8(&b, WALREC_DELETE_RANGE);
    st_buf_put_uvarint(&b, db_id);
    st_buf_put_uvarint(&b, n);
    for (size_t i = 0; i < n; i++) st_buf_put_uvarint(&b, series_ids[i]);
    put_svarint(&b, tmin_ns);
    put_svarint(&b, tmax_ns);
    int rc = log_and_wait(s, WAL_REC_DELETE, &b);
    st_buf_fini(&b);
    if (rc == 0) stor__delete_wait(s);
    return rc;
}

int stor_db_set_retention(stor *s, uint64_t db_id, int64_t duration_ns)
{
    sidx_db_info info;
    int rc = sidx_db_get(s->idx, db_id, &info);
    if (rc) return rc;
    if (duration_ns < 0) return ST_EINVAL;
    st_buf b;
    st_buf_init(&b);
    st_buf_put_u8(&b, WALREC_VERSION);
    st_buf_put_u8(&b, WALREC_SCHEMA_DB_RETENTION);
    st_buf_put_uvarint(&b, db_id);
    st_buf_put_uvarint(&b, 0);
    st_buf_put_uvarint(&b, 0);
    put_svarint(&b, duration_ns);
    put_svarint(&b, info.shard_duration_ns);
    put_svarint(&b, info.created_ns);
    rc = log_and_wait(s, WAL_REC_SCHEMA, &b);
    st_buf_fini(&b);
    if (rc == 0) {
        /* Whole partitions past the window go now (the flush thread). */
        pthread_mutex_lock(&s->flush_mu);
        s->retention_request = 1;
        pthread_cond_signal(&s->flush_cv);
        pthread_mutex_unlock(&s->flush_mu);
    }
    return rc;
}

/* ---- batches ---- */

typedef struct name_find {
    uint64_t id;
    st_buf *out;
    int rc;
} name_find;

static int name_find_cb(void *arg, const sidx_db_info *db)
{
    name_find *f = arg;
    if (db->id != f->id) return 0;
    f->rc = st_buf_append(f->out, db->name.ptr, db->name.len);
    return 1;
}

/* Copy a database's name (names are only stable under the index lock). */
static int db_name_copy(sidx *idx, uint64_t id, st_buf *out)
{
    name_find f = { id, out, ST_ENOTFOUND };
    int rc = sidx_db_each(idx, name_find_cb, &f);
    if (rc < 0) return rc;
    return f.rc;
}

int stor_batch_create(stor *s, uint64_t db_id, stor_batch **out)
{
    sidx_db_info info;
    int rc = sidx_db_get(s->idx, db_id, &info);
    if (rc) return rc;
    stor_batch *b = st_calloc(1, sizeof *b);
    if (!b) return ST_ENOMEM;
    b->s = s;
    b->db_id = db_id;
    st_buf_init(&b->db_name);
    st_buf_init(&b->defs_series);
    st_buf_init(&b->defs_fields);
    st_buf_init(&b->points);
    st_buf_init(&b->vals);
    st_buf_init(&b->fc_meas);
    st_buf_init(&b->fc_keys);
    st_buf_init(&b->ref_meas);
    b->id = atomic_fetch_add(&s->batch_ids, 1) + 1;
    /* The name, for replay to define the db; read under the index lock. */
    rc = db_name_copy(s->idx, db_id, &b->db_name);
    if (rc) { stor_batch_destroy(b); return rc; }
    b->oldest_ns = info.rp_duration_ns > 0 ? st_now_ns() - info.rp_duration_ns : INT64_MIN;
    *out = b;
    return 0;
}

void stor_batch_destroy(stor_batch *b)
{
    if (!b) return;
    st_buf_fini(&b->db_name);
    st_buf_fini(&b->defs_series);
    st_buf_fini(&b->defs_fields);
    st_buf_fini(&b->points);
    st_buf_fini(&b->vals);
    st_hmap_destroy(b->defined);
    st_buf_fini(&b->fc_meas);
    st_buf_fini(&b->fc_keys);
    st_free(b->fc);
    st_free(b->refs);
    st_buf_fini(&b->ref_meas);
    st_free(b->logged_series);
    st_free(b->logged_fields);
    st_free(b->tags);
    st_free(b->payload);
    st_free(b);
}

uint64_t stor_batch_points(const stor_batch *b) { return b->points_count; }
uint64_t stor_batch_id(const stor_batch *b) { return b->id; }

static int id_push(uint64_t **arr, size_t *n, size_t *cap, uint64_t id)
{
    if (*n == *cap && st_grow(arr, cap, *n + 1, sizeof **arr, 16)) return ST_ENOMEM;
    (*arr)[(*n)++] = id;
    return 0;
}

/* 1 when (kind, id) was already defined in this batch; else records it. */
static int batch_seen(stor_batch *b, int kind, uint64_t id, int *rc)
{
    *rc = 0;
    if (!b->defined && (*rc = st_hmap_create(64, &b->defined)) != 0) return 0;
    unsigned char k[9];
    k[0] = (unsigned char)kind;
    memcpy(k + 1, &id, 8);
    uint64_t v;
    if (st_hmap_get(b->defined, k, sizeof k, &v)) return 1;
    *rc = st_hmap_put(b->defined, k, sizeof k, 1);
    return 0;
}

/* Bytes put_field writes at most for a value other than a string. */
#define FIELD_MAX_BYTES (10 + 1 + 10)

static inline size_t raw_uvarint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) { p[n++] = (unsigned char)(v | 0x80); v >>= 7; }
    p[n++] = (unsigned char)v;
    return n;
}

/* Field id and value as put_value writes them, straight into room the
 * caller reserved (FIELD_MAX_BYTES): no call and no check per byte group.
 * Not for strings. */
static inline void put_field(st_buf *o, uint64_t field_id, const st_value *v)
{
    unsigned char *p = (unsigned char *)o->ptr + o->len, *p0 = p;
    p += raw_uvarint(p, field_id);
    *p++ = v->type;
    switch (v->type) {
    case ST_TYPE_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &v->v.f, 8);
        for (int k = 0; k < 8; k++) p[k] = (unsigned char)(bits >> (8 * k));
        p += 8;
        break;
    }
    case ST_TYPE_INT: p += raw_uvarint(p, ((uint64_t)v->v.i << 1) ^ (uint64_t)(v->v.i >> 63)); break;
    case ST_TYPE_UINT: p += raw_uvarint(p, v->v.u); break;
    default: *p++ = v->v.b ? 1 : 0; break; /* BOOL */
    }
    o->len += (size_t)(p - p0);
    o->ptr[o->len] = 0;
}

static int put_value(st_buf *o, const st_value *v)
{
    int rc = st_buf_put_u8(o, v->type);
    if (rc) return rc;
    switch (v->type) {
    case ST_TYPE_FLOAT: { uint64_t bits; memcpy(&bits, &v->v.f, 8); return st_buf_put_u64le(o, bits); }
    case ST_TYPE_INT: return put_svarint(o, v->v.i);
    case ST_TYPE_UINT: return st_buf_put_uvarint(o, v->v.u);
    case ST_TYPE_BOOL: return st_buf_put_u8(o, v->v.b ? 1 : 0);
    case ST_TYPE_STRING:
        rc = st_buf_put_uvarint(o, v->v.s.len);
        return rc ? rc : st_buf_append(o, v->v.s.ptr, v->v.s.len);
    default: return ST_EINVAL;
    }
}

/* Remember field i of this line (positions past the cache's end append;
 * an earlier position truncates the cache there). */
static int fc_set(stor_batch *b, uint32_t i, st_slice key, uint64_t id, uint8_t type)
{
    if (i > b->fc_n) return 0;
    if (i < b->fc_n) {
        b->fc_keys.len = b->fc[i].off;
        b->fc_n = i;
    }
    if (b->fc_n == b->fc_cap) {
        uint32_t cap = b->fc_cap ? b->fc_cap * 2 : 16;
        struct fcache *n = st_realloc(b->fc, cap * sizeof *n);
        if (!n) return ST_ENOMEM;
        b->fc = n;
        b->fc_cap = cap;
    }
    struct fcache *c = &b->fc[b->fc_n];
    c->off = b->fc_keys.len;
    c->len = key.len;
    c->id = id;
    c->type = type;
    int rc = st_buf_append(&b->fc_keys, key.ptr, key.len);
    if (rc) return rc;
    b->fc_n++;
    return 0;
}

/* The fields of one line of series_id: resolve them (the previous line's
 * fields by position, else the index), define new ones, append the point. */
static int add_fields(stor_batch *b, uint64_t series_id, st_slice measurement, const stor_field_in *fields,
                      uint32_t field_count, int64_t ts_ns, uint32_t quality, char *msg, size_t msg_cap,
                      uint32_t *dropped)
{
    stor *s = b->s;
    int rc;
    unsigned flags;
    st_buf_clear(&b->vals);
    uint32_t nvals = 0;
    int conflict = 0;
    int same_meas = b->fc_meas.len == measurement.len && (measurement.len == 0 ||
                    (b->fc_meas.ptr && memcmp(b->fc_meas.ptr, measurement.ptr, measurement.len) == 0));
    if (!same_meas) {
        st_buf_clear(&b->fc_meas);
        st_buf_clear(&b->fc_keys);
        b->fc_n = 0;
        if ((rc = st_buf_append(&b->fc_meas, measurement.ptr, measurement.len)) != 0) return rc;
    }
    if ((rc = st_buf_reserve(&b->vals, (size_t)field_count * FIELD_MAX_BYTES)) != 0) return rc;
    for (uint32_t i = 0; i < field_count; i++) {
        const stor_field_in *f = &fields[i];
        uint64_t field_id;
        st_type existing = ST_TYPE_NONE;
        if (i < b->fc_n && b->fc[i].type == f->value.type && b->fc[i].len == f->key.len &&
            memcmp(b->fc_keys.ptr + b->fc[i].off, f->key.ptr, f->key.len) == 0) {
            /* Same field as the previous line: resolved (and, if new, defined
             * in this batch) already. */
            field_id = b->fc[i].id;
            if (f->value.type != ST_TYPE_STRING) {
                /* Room: reserved above for every value, strings aside (a
                 * string appends through put_value, which reserves). */
                if (b->vals.cap - b->vals.len <= FIELD_MAX_BYTES &&
                    (rc = st_buf_reserve(&b->vals, FIELD_MAX_BYTES)) != 0)
                    return rc;
                put_field(&b->vals, field_id, &f->value);
            } else if ((rc = st_buf_put_uvarint(&b->vals, field_id)) != 0 || (rc = put_value(&b->vals, &f->value)) != 0) {
                return rc;
            }
            nvals++;
            continue;
        }
        rc = sidx_field_resolve(s->idx, b->db_id, measurement, f->key, (st_type)f->value.type, &field_id, &flags, &existing);
        if (rc == ST_ECONFLICT) {
            (*dropped)++;
            if (!conflict) {
                snprintf(msg, msg_cap,
                         "field type conflict: input field \"%.*s\" on measurement \"%.*s\" is type %s, already exists as type %s dropped=1",
                         (int)(f->key.len > 200 ? 200 : f->key.len), f->key.ptr,
                         (int)(measurement.len > 200 ? 200 : measurement.len), measurement.ptr,
                         st_type_name((st_type)f->value.type), st_type_name(existing));
            }
            conflict = 1;
            continue;
        }
        if (rc) return rc;
        if (!(flags & SIDX_F_LOGGED)) {
            int seen = batch_seen(b, 2, field_id, &rc);
            if (rc) return rc;
            if (!seen) {
                st_buf *d = &b->defs_fields;
                if ((rc = st_buf_put_uvarint(d, field_id)) || (rc = st_buf_put_uvarint(d, measurement.len)) ||
                    (rc = st_buf_append(d, measurement.ptr, measurement.len)) || (rc = st_buf_put_uvarint(d, f->key.len)) ||
                    (rc = st_buf_append(d, f->key.ptr, f->key.len)) || (rc = st_buf_put_u8(d, f->value.type)))
                    return rc;
                b->nfield_defs++;
                if ((rc = id_push(&b->logged_fields, &b->nlf, &b->clf, field_id)) != 0) return rc;
            }
        }
        if ((rc = fc_set(b, i, f->key, field_id, f->value.type)) != 0) return rc;
        if ((rc = st_buf_put_uvarint(&b->vals, field_id)) != 0) return rc;
        if ((rc = put_value(&b->vals, &f->value)) != 0) return rc;
        nvals++;
    }
    if (nvals) {
        st_buf *p = &b->points;
        if ((rc = st_buf_reserve(p, 4 * 10 + b->vals.len)) != 0) return rc;
        unsigned char *o = (unsigned char *)p->ptr + p->len, *o0 = o;
        uint64_t dts = (uint64_t)ts_ns - (uint64_t)b->prev_ts;
        o += raw_uvarint(o, series_id);
        o += raw_uvarint(o, (dts << 1) ^ (uint64_t)((int64_t)dts >> 63));
        o += raw_uvarint(o, quality);
        o += raw_uvarint(o, nvals);
        memcpy(o, b->vals.ptr, b->vals.len);
        p->len += (size_t)(o - o0) + b->vals.len;
        p->ptr[p->len] = 0;
        b->prev_ts = ts_ns;
        b->points_count += nvals;
    }
    return conflict ? ST_ECONFLICT : 0;
}

int stor_batch_add(stor_batch *b, st_slice measurement, const st_slice *tag_keys, const st_slice *tag_vals,
                   uint32_t tag_count, const stor_field_in *fields, uint32_t field_count, int64_t ts_ns,
                   uint32_t quality, char *msg, size_t msg_cap, uint32_t *dropped)
{
    stor *s = b->s;
    int rc;
    *dropped = 0;
    b->last_series = 0;
    if (msg_cap) msg[0] = 0;
    if (ts_ns < b->oldest_ns) {
        *dropped = field_count;
        snprintf(msg, msg_cap, "points beyond retention policy dropped=%u", field_count);
        return ST_ERANGE;
    }
    if (tag_count > b->tags_cap) {
        sidx_tag *t = st_realloc(b->tags, tag_count * sizeof *t);
        if (!t) return ST_ENOMEM;
        b->tags = t;
        b->tags_cap = tag_count;
    }
    int sorted = 1;
    for (uint32_t i = 0; i < tag_count; i++) {
        b->tags[i].key = tag_keys[i];
        b->tags[i].val = tag_vals[i];
        if (i && st_slice_cmp(tag_keys[i - 1], tag_keys[i]) >= 0) sorted = 0;
    }
    if (!sorted) sidx_tags_sort(b->tags, tag_count);
    uint64_t series_id;
    unsigned flags;
    rc = sidx_series_resolve(s->idx, b->db_id, measurement, b->tags, tag_count, &series_id, &flags);
    if (rc) {
        *dropped = field_count;
        if (rc == ST_ELIMIT)
            snprintf(msg, msg_cap, "max-series limit exceeded: (%" PRIu64 ") dropped=%u", s->opts.max_series, field_count);
        else if (rc == ST_EINVAL)
            snprintf(msg, msg_cap, "invalid series: duplicate tag keys or empty measurement");
        else if (rc == ST_ETOOLARGE)
            snprintf(msg, msg_cap, "max key length exceeded (65535 bytes)");
        else
            return rc;
        return rc == ST_ELIMIT ? ST_ELIMIT : ST_EINVAL;
    }
    if (!(flags & SIDX_F_LOGGED)) {
        int seen = batch_seen(b, 1, series_id, &rc);
        if (rc) return rc;
        if (!seen) {
            size_t klen;
            rc = sidx_key_len(measurement, b->tags, tag_count, &klen);
            if (rc) return rc;
            if ((rc = st_buf_put_uvarint(&b->defs_series, series_id)) != 0) return rc;
            if ((rc = st_buf_put_uvarint(&b->defs_series, klen)) != 0) return rc;
            if ((rc = st_buf_reserve(&b->defs_series, klen)) != 0) return rc;
            size_t got;
            rc = sidx_key_encode(measurement, b->tags, tag_count, b->defs_series.ptr + b->defs_series.len, klen, &got);
            if (rc) return rc;
            b->defs_series.len += got;
            b->nseries_defs++;
            if ((rc = id_push(&b->logged_series, &b->nls, &b->cls, series_id)) != 0) return rc;
        }
    }
    rc = add_fields(b, series_id, measurement, fields, field_count, ts_ns, quality, msg, msg_cap, dropped);
    if (rc == 0 || rc == ST_ECONFLICT) b->last_series = series_id;
    return rc;
}

int stor_batch_series_ref(stor_batch *b, stor_series_ref *out)
{
    if (!b->last_series) return ST_ENOTFOUND;
    if (b->nrefs == b->caprefs) {
        uint32_t cap = b->caprefs ? b->caprefs * 2 : 64;
        struct sref *n = st_realloc(b->refs, cap * sizeof *n);
        if (!n) return ST_ENOMEM;
        b->refs = n;
        b->caprefs = cap;
    }
    /* The last line's measurement is the field cache's. */
    struct sref *r = &b->refs[b->nrefs];
    r->series_id = b->last_series;
    r->meas_off = b->ref_meas.len;
    r->meas_len = b->fc_meas.len;
    if (st_buf_append(&b->ref_meas, b->fc_meas.ptr ? b->fc_meas.ptr : "", b->fc_meas.len)) return ST_ENOMEM;
    out->batch = b->id;
    out->idx = b->nrefs++;
    return 0;
}

int stor_batch_add_ref(stor_batch *b, stor_series_ref ref, const stor_field_in *fields, uint32_t field_count,
                       int64_t ts_ns, uint32_t quality, char *msg, size_t msg_cap, uint32_t *dropped)
{
    *dropped = 0;
    b->last_series = 0;
    if (msg_cap) msg[0] = 0;
    if (ref.batch != b->id || ref.idx >= b->nrefs) return ST_EINVAL;
    if (ts_ns < b->oldest_ns) {
        *dropped = field_count;
        snprintf(msg, msg_cap, "points beyond retention policy dropped=%u", field_count);
        return ST_ERANGE;
    }
    const struct sref *r = &b->refs[ref.idx];
    st_slice m = { b->ref_meas.ptr ? b->ref_meas.ptr + r->meas_off : "", r->meas_len };
    int rc = add_fields(b, r->series_id, m, fields, field_count, ts_ns, quality, msg, msg_cap, dropped);
    if (rc == 0 || rc == ST_ECONFLICT) b->last_series = r->series_id;
    return rc;
}

size_t stor__head_limit(const stor *s)
{
    return s->opts.max_head_bytes ? s->opts.max_head_bytes / 2 : (size_t)64 << 20;
}

/* Whether writers must wait: 1 when the active head is over the limit (a
 * flush is due), 2 when it is not but the two heads together are over
 * twice the limit (the frozen one passed the limit by its last record: the
 * new one stops short by as much). The pointers are read under the lock:
 * a flush swaps them and later frees the old one. */
static int head_over(stor *s, size_t limit)
{
    pthread_rwlock_rdlock(&s->heads_lock);
    size_t active = head_bytes(s->active);
    size_t frozen = s->frozen ? head_bytes(s->frozen) : 0;
    /* (an empty head's own tables may pass a tiny budget: nothing to flush) */
    int over = head_points_count(s->active) == 0 ? 0
               : active >= limit                 ? 1
               : frozen && active + frozen >= 2 * limit ? 2 : 0;
    pthread_rwlock_unlock(&s->heads_lock);
    return over;
}

void stor__head_pressure(stor *s)
{
    size_t limit = stor__head_limit(s);
    int over = head_over(s, limit);
    if (!over) return;
    if (over == 1) stor__flush_ask(s, 0);
    /* Until the flush thread has swapped the head out or finished the
     * frozen one (it flushes one head at a time, and flushes from inside a
     * long compaction too). */
    for (int i = 0; i < 60000 && !atomic_load(&s->readonly); i++) {
        int now = head_over(s, limit);
        if (!now) break;
        if (now == 1 && over == 2) { /* the frozen head went and this one is due in turn */
            over = 1;
            stor__flush_ask(s, 0);
        }
        struct timespec d = { 0, 1000000 };
        nanosleep(&d, NULL);
    }
}

static void wal_done(void *arg, int status, uint64_t seq)
{
    stor_batch *b = arg;
    stor *s = b->s;
    /* Back-pressure before the apply (and so before the acknowledgement):
     * the WAL writer waits, and with it every writer. */
    if (status == 0) stor__head_pressure(s);
    if (status == 0) {
        uint64_t n = 0;
        pthread_mutex_lock(&s->apply_mu);
        int rc = apply_write(s, b->payload, b->payload_len, 0, &n);
        s->last_seq = seq;
        pthread_mutex_unlock(&s->apply_mu);
        if (rc) ST_ERROR("stor", "applying a durable record to the head failed: %s (the WAL has it; a restart recovers it)", st_strerror(rc));
        for (size_t i = 0; i < b->nls; i++) sidx_series_mark_logged(s->idx, b->logged_series[i]);
        for (size_t i = 0; i < b->nlf; i++) sidx_field_mark_logged(s->idx, b->logged_fields[i]);
        atomic_fetch_add_explicit(&s->points_written, n, memory_order_relaxed);
    } else if (status == ST_EREADONLY) {
        if (!atomic_exchange(&s->readonly, 1))
            ST_ERROR("stor", "storage is read-only after a disk error; writes are refused until restart");
    }
    stor_done_cb cb = b->done;
    void *cb_arg = b->arg;
    stor_batch_destroy(b);
    cb(cb_arg, status);
}

int stor_write(stor_batch *b, stor_done_cb done_cb, void *arg)
{
    stor *s = b->s;
    if (b->points_count == 0) {
        stor_batch_destroy(b);
        done_cb(arg, 0);
        return 0;
    }
    if (atomic_load(&s->readonly)) { stor_batch_destroy(b); return ST_EREADONLY; }
    st_buf rec;
    st_buf_init(&rec);
    int rc = 0;
    /* Room for all of it at once (a u8 and four varints of at most 10
     * bytes): no doubling copies of a request-sized record. */
    size_t need = 41 + b->db_name.len + b->defs_series.len + b->defs_fields.len + b->points.len;
    if ((rc = st_buf_reserve(&rec, need)) || (rc = st_buf_put_u8(&rec, WALREC_VERSION)) || (rc = st_buf_put_uvarint(&rec, b->db_id)) ||
        (rc = st_buf_put_uvarint(&rec, b->db_name.len)) || (rc = st_buf_append(&rec, b->db_name.ptr, b->db_name.len)) ||
        (rc = st_buf_put_uvarint(&rec, b->nseries_defs)) || (rc = st_buf_append(&rec, b->defs_series.ptr, b->defs_series.len)) ||
        (rc = st_buf_put_uvarint(&rec, b->nfield_defs)) || (rc = st_buf_append(&rec, b->defs_fields.ptr, b->defs_fields.len)) ||
        (rc = st_buf_append(&rec, b->points.ptr, b->points.len))) {
        st_buf_fini(&rec);
        stor_batch_destroy(b);
        return rc;
    }
    b->payload_len = rec.len;
    b->payload = (unsigned char *)st_buf_take(&rec);
    /* The parts are in the payload now. */
    st_buf_fini(&b->defs_series);
    st_buf_fini(&b->defs_fields);
    st_buf_fini(&b->points);
    st_buf_fini(&b->vals);
    b->done = done_cb;
    b->arg = arg;
    if (!s->log) {
        /* Bulk load: applied now, on the caller's thread; durable at the
         * closing flush. Back-pressure keeps memory near max_head_bytes:
         * past half of it a flush is asked for, and while one is running
         * with the new head past half again, the writer waits. */
        wal_done(b, 0, s->last_seq); /* back-pressure inside */
        return 0;
    }
    rc = wal_append(s->log, WAL_REC_WRITE, b->payload, b->payload_len, wal_done, b);
    if (rc) {
        if (rc == ST_EREADONLY) atomic_store(&s->readonly, 1);
        stor_batch_destroy(b);
    }
    return rc;
}

typedef struct stor_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
} stor_waiter;

static void stor_waiter_done(void *arg, int status)
{
    stor_waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    w->status = status;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int stor_write_wait(stor_batch *b)
{
    stor_waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
    int rc = stor_write(b, stor_waiter_done, &w);
    if (rc) return rc;
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    return w.status;
}

/* ---- reads and stats ---- */

void stor_get_stats(stor *s, stor_stats *out)
{
    memset(out, 0, sizeof *out);
    out->points_written = atomic_load_explicit(&s->points_written, memory_order_relaxed);
    out->series_count = sidx_series_count(s->idx);
    if (s->log) {
        wal_stats ws;
        wal_stats_get(s->log, &ws);
        out->wal_bytes = ws.bytes_written;
        out->wal_records = ws.records;
        out->wal_fsyncs = ws.fsyncs;
    }
    pthread_rwlock_rdlock(&s->heads_lock);
    out->head_bytes = head_bytes(s->active) + (s->frozen ? head_bytes(s->frozen) : 0);
    pthread_rwlock_unlock(&s->heads_lock);
    out->flushes = atomic_load(&s->flushes);
    out->compactions = atomic_load(&s->compactions);
    out->segments_written = atomic_load(&s->segments_written);
    out->replayed_records = s->replayed;
}
