/*
 * storage/sindex.c — the in-memory series index (see sindex.h).
 *
 * Owns: the database table (by id), per database a measurement map and a
 * series map (canonical key -> series id), per measurement its series list,
 * tag keys with their value posting lists and its field map; the global
 * series and field entry arrays (by id); one arena holding every name and
 * key byte. Threads: any; one rwlock (read for lookups and listings, write
 * for every change) — see the header.
 *
 * Invariants:
 *  1. Maps are open-addressing tables of {hash32, value} slots (value 0 =
 *     empty), linear probing, backward-shift deletion, load <= 3/4. Keys
 *     are not in the slot: a value names an entry that holds the key bytes,
 *     so rehashing needs only the stored hashes.
 *  2. A series or field id is live iff its entry has E_LIVE; a dropped id
 *     keeps its dead entry so it is never handed out again (next ids only
 *     grow).
 *  3. Creation does every step that can fail (grow arrays and tables, copy
 *     bytes, create empty measurement / tag key / value objects) before
 *     the commit, which cannot fail. Empty objects left by a failed
 *     creation are invisible (listings skip objects without live series),
 *     so an ST_ENOMEM leaves the index logically unchanged.
 *  4. Measurement names, tag keys and values borrow their bytes from the
 *     arena copy of the key of the series that created them; arena bytes
 *     live until sidx_destroy, so such slices never dangle.
 */
#include "storage/sindex.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/err.h"

#define E_LIVE   1u
#define E_LOGGED 2u
#define ID_MAX   0xFFFFFFFEu /* ids are uint32 inside */

/* ---- hashing ------------------------------------------------------------ */

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint32_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *s = p;
    uint64_t h = seed ^ mix((uint64_t)n ^ 0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull);
    while (n >= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + 8, 8);
        h = mix(a ^ 0xA0761D6478BD642Full, b ^ h);
        s += 16;
        n -= 16;
    }
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        memcpy(&a, s, 8);
        s += 8;
        n -= 8;
    }
    memcpy(&b, s, n);
    h = mix(a ^ 0xE7037ED1A0B428DBull ^ h, b ^ 0x8EBC6AF09C88C6E3ull);
    h = mix(h, 0x589965CC75374CC3ull);
    return (uint32_t)(h ^ (h >> 32));
}

/* ---- open-addressing map (invariant 1) -------------------------------- */

typedef struct nslot { uint32_t hash, val; } nslot;
typedef struct nmap { nslot *slots; uint32_t mask, count; } nmap;
typedef st_slice (*key_at_fn)(const void *ctx, uint32_t val);

static void nmap_fini(nmap *m) { st_free(m->slots); memset(m, 0, sizeof *m); }
static size_t nmap_bytes(const nmap *m) { return m->slots ? ((size_t)m->mask + 1) * sizeof(nslot) : 0; }

static int nmap_reserve(nmap *m, uint32_t extra)
{
    uint64_t need = (uint64_t)m->count + extra;
    uint64_t cap = m->slots ? (uint64_t)m->mask + 1 : 0;
    if (need * 4 <= cap * 3) return 0;
    uint64_t ncap = cap ? cap : 4;
    while (need * 4 > ncap * 3) ncap *= 2;
    if (ncap > (1ull << 32)) return ST_ELIMIT;
    nslot *ns = st_calloc((size_t)ncap, sizeof *ns);
    if (!ns) return ST_ENOMEM;
    uint32_t nmask = (uint32_t)(ncap - 1);
    for (uint64_t i = 0; i < cap; i++) {
        if (!m->slots[i].val) continue;
        uint32_t j = m->slots[i].hash & nmask;
        while (ns[j].val) j = (j + 1) & nmask;
        ns[j] = m->slots[i];
    }
    st_free(m->slots);
    m->slots = ns;
    m->mask = nmask;
    return 0;
}

static uint32_t nmap_find(const nmap *m, uint32_t h, st_slice key, key_at_fn at, const void *ctx)
{
    if (!m->slots) return 0;
    for (uint32_t j = h & m->mask;; j = (j + 1) & m->mask) {
        const nslot *s = &m->slots[j];
        if (!s->val) return 0;
        if (s->hash == h && st_slice_eq(at(ctx, s->val), key)) return s->val;
    }
}

/* Caller reserved room and knows the key is absent. */
static void nmap_insert(nmap *m, uint32_t h, uint32_t val)
{
    uint32_t j = h & m->mask;
    while (m->slots[j].val) j = (j + 1) & m->mask;
    m->slots[j] = (nslot){ h, val };
    m->count++;
}

static void nmap_remove(nmap *m, uint32_t h, uint32_t val)
{
    if (!m->slots) return;
    uint32_t j = h & m->mask;
    for (;; j = (j + 1) & m->mask) {
        if (!m->slots[j].val) return;
        if (m->slots[j].val == val) break;
    }
    /* backward shift: pull later members of the cluster into the hole when
     * their home position does not lie cyclically in (hole, k]. */
    uint32_t hole = j;
    for (uint32_t k = (j + 1) & m->mask; m->slots[k].val; k = (k + 1) & m->mask) {
        uint32_t home = m->slots[k].hash & m->mask;
        int stays = hole <= k ? (home > hole && home <= k) : (home > hole || home <= k);
        if (stays) continue;
        m->slots[hole] = m->slots[k];
        hole = k;
    }
    m->slots[hole] = (nslot){ 0, 0 };
    m->count--;
}

/* ---- sorted id vectors, two ids inline ---------------------------------- */

typedef struct idvec {
    uint32_t n, cap;                 /* cap 0: the ids are in one[] */
    union { uint32_t one[2]; uint32_t *v; } u;
} idvec;

static inline uint32_t *idv_data(idvec *x) { return x->cap ? x->u.v : x->u.one; }
static inline const uint32_t *idv_cdata(const idvec *x) { return x->cap ? x->u.v : x->u.one; }
static void idv_fini(idvec *x) { if (x->cap) st_free(x->u.v); memset(x, 0, sizeof *x); }
static size_t idv_bytes(const idvec *x) { return (size_t)x->cap * sizeof(uint32_t); }

static int idv_reserve1(idvec *x)
{
    uint32_t room = x->cap ? x->cap : 2;
    if (x->n < room) return 0;
    if (room >= UINT32_MAX / 2) return ST_ELIMIT;
    uint32_t ncap = room * 2;
    uint32_t *nv;
    if (x->cap) {
        nv = st_realloc(x->u.v, (size_t)ncap * sizeof *nv);
        if (!nv) return ST_ENOMEM;
    } else {
        nv = st_malloc((size_t)ncap * sizeof *nv);
        if (!nv) return ST_ENOMEM;
        memcpy(nv, x->u.one, (size_t)x->n * sizeof *nv);
    }
    x->u.v = nv;
    x->cap = ncap;
    return 0;
}

static size_t idv_lower(const idvec *x, uint32_t id)
{
    const uint32_t *d = idv_cdata(x);
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (d[mid] < id) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* Reserved beforehand; keeps the vector sorted (ids usually arrive in order). */
static void idv_insert(idvec *x, uint32_t id)
{
    uint32_t *d = idv_data(x);
    if (x->n == 0 || d[x->n - 1] < id) { d[x->n++] = id; return; }
    size_t at = idv_lower(x, id);
    if (at < x->n && d[at] == id) return;
    memmove(d + at + 1, d + at, (x->n - at) * sizeof *d);
    d[at] = id;
    x->n++;
}

static void idv_remove(idvec *x, uint32_t id)
{
    size_t at = idv_lower(x, id);
    uint32_t *d = idv_data(x);
    if (at >= x->n || d[at] != id) return;
    memmove(d + at, d + at + 1, (x->n - at - 1) * sizeof *d);
    x->n--;
}

/* ---- the objects --------------------------------------------------------- */

typedef struct tval { st_slice val; idvec ids; } tval;

typedef struct tagk {
    st_slice name;        /* borrowed from the arena (invariant 4) */
    uint64_t nseries;     /* live series carrying this key */
    nmap vmap;            /* value -> index+1 into vals */
    tval *vals;           /* owned */
    uint32_t nvals, capvals;
} tagk;

typedef struct meas {
    st_slice name;        /* borrowed from the arena */
    uint32_t db_id;
    idvec series;         /* live series ids, sorted */
    idvec fields;         /* live field ids, sorted */
    nmap kmap;            /* tag key -> index+1 into tagks */
    tagk **tagks;         /* owned, each owned */
    uint32_t ntagks, captagks;
    nmap fmap;            /* field key -> field id */
} meas;

typedef struct sdb {
    uint64_t id;
    st_slice name, rp_name; /* arena */
    int64_t rp_duration_ns, shard_duration_ns, created_ns;
    nmap mmap;              /* measurement name -> index+1 into ms */
    meas **ms;              /* owned; NULL after a measurement drop */
    uint32_t nms, capms;
    nmap smap;              /* canonical key -> series id */
} sdb;

typedef struct sser {
    meas *m;                /* borrowed; only valid while E_LIVE */
    const char *key;        /* arena */
    uint32_t key_len, db_id;
    _Atomic uint8_t flags;  /* E_* */
} sser;

typedef struct sfld {
    meas *m;                /* borrowed; only valid while E_LIVE */
    const char *key;        /* arena */
    uint32_t key_len, db_id;
    uint8_t type;
    _Atomic uint8_t flags;
} sfld;

struct sidx {
    pthread_rwlock_t lock;
    uint64_t seed;
    uint64_t max_series;
    uint64_t live_series, live_fields;
    uint64_t next_db, next_series, next_field;
    sdb **dbs;              /* by id; owned; NULL = never defined or dropped */
    uint64_t capdbs;
    sser *series;           /* by id */
    uint64_t capseries;
    sfld *fields;           /* by id */
    uint64_t capfields;
    st_arena arena;         /* every name and key byte */
};

/* key accessors for the maps */
static st_slice at_series(const void *ctx, uint32_t v)
{
    const sidx *idx = ctx;
    return (st_slice){ idx->series[v].key, idx->series[v].key_len };
}
static st_slice at_field(const void *ctx, uint32_t v)
{
    const sidx *idx = ctx;
    return (st_slice){ idx->fields[v].key, idx->fields[v].key_len };
}
static st_slice at_meas(const void *ctx, uint32_t v) { return ((const sdb *)ctx)->ms[v - 1]->name; }
static st_slice at_tagk(const void *ctx, uint32_t v) { return ((const meas *)ctx)->tagks[v - 1]->name; }
static st_slice at_tval(const void *ctx, uint32_t v) { return ((const tagk *)ctx)->vals[v - 1].val; }

/* ---- canonical keys -------------------------------------------------------- */

static size_t uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

static uint8_t *uvarint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) { *p++ = (uint8_t)(v | 0x80); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}

typedef struct kdec { const uint8_t *p, *end; } kdec;

/* Next length-prefixed slice; -1 on malformed bytes. */
static int kdec_slice(kdec *d, st_slice *out)
{
    if (d->p < d->end && *d->p < 0x80) { /* a length under 128: one byte */
        size_t n = *d->p++;
        if (n > (size_t)(d->end - d->p)) return -1;
        out->ptr = (const char *)d->p;
        out->len = n;
        d->p += n;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (d->p >= d->end || shift > 56) return -1;
        uint8_t b = *d->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift) return -1; /* overlong: not canonical */
            break;
        }
    }
    if (v > (uint64_t)(d->end - d->p)) return -1;
    out->ptr = (const char *)d->p;
    out->len = (size_t)v;
    d->p += v;
    return 0;
}

void sidx_tags_sort(sidx_tag *tags, size_t ntags)
{
    /* insertion sort: tag sets are small and often already sorted */
    for (size_t i = 1; i < ntags; i++) {
        sidx_tag t = tags[i];
        size_t j = i;
        while (j > 0 && st_slice_cmp(tags[j - 1].key, t.key) > 0) {
            tags[j] = tags[j - 1];
            j--;
        }
        tags[j] = t;
    }
}

int sidx_key_len(st_slice measurement, const sidx_tag *tags, size_t ntags, size_t *len)
{
    uint64_t n = uvarint_len(measurement.len) + (uint64_t)measurement.len;
    for (size_t i = 0; i < ntags; i++) {
        if (i && st_slice_cmp(tags[i - 1].key, tags[i].key) >= 0) return ST_EINVAL;
        n += uvarint_len(tags[i].key.len) + (uint64_t)tags[i].key.len;
        n += uvarint_len(tags[i].val.len) + (uint64_t)tags[i].val.len;
        if (n > SIDX_KEY_MAX_BYTES) return ST_ETOOLARGE;
    }
    if (n > SIDX_KEY_MAX_BYTES) return ST_ETOOLARGE;
    *len = (size_t)n;
    return 0;
}

int sidx_key_encode(st_slice measurement, const sidx_tag *tags, size_t ntags,
                    void *buf, size_t cap, size_t *len)
{
    size_t n;
    int rc = sidx_key_len(measurement, tags, ntags, &n);
    if (rc) return rc;
    if (n > cap) return ST_ERANGE;
    uint8_t *p = buf;
    p = uvarint_put(p, measurement.len);
    if (measurement.len) memcpy(p, measurement.ptr, measurement.len);
    p += measurement.len;
    for (size_t i = 0; i < ntags; i++) {
        p = uvarint_put(p, tags[i].key.len);
        if (tags[i].key.len) memcpy(p, tags[i].key.ptr, tags[i].key.len);
        p += tags[i].key.len;
        p = uvarint_put(p, tags[i].val.len);
        if (tags[i].val.len) memcpy(p, tags[i].val.ptr, tags[i].val.len);
        p += tags[i].val.len;
    }
    *len = n;
    return 0;
}

int sidx_key_decode(const void *key, size_t len, st_slice *measurement,
                    sidx_tag *tags, size_t max_tags, size_t *ntags)
{
    if (!key || len > SIDX_KEY_MAX_BYTES) return ST_ECORRUPT;
    kdec d = { key, (const uint8_t *)key + len };
    st_slice m, k, v, prev = { NULL, 0 };
    if (kdec_slice(&d, &m)) return ST_ECORRUPT;
    size_t n = 0;
    while (d.p < d.end) {
        if (kdec_slice(&d, &k) || kdec_slice(&d, &v)) return ST_ECORRUPT;
        if (n && st_slice_cmp(prev, k) >= 0) return ST_ECORRUPT;
        if (tags && n < max_tags) {
            tags[n].key = k;
            tags[n].val = v;
        }
        prev = k;
        n++;
    }
    *ntags = n;
    if (tags && n > max_tags) return ST_ERANGE;
    if (measurement) *measurement = m;
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

int sidx_create(const sidx_config *cfg, sidx **out)
{
    sidx *idx = st_calloc(1, sizeof *idx);
    if (!idx) return ST_ENOMEM;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
    /* resolve floods readers; creation must not starve behind them */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int prc = pthread_rwlock_init(&idx->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (prc) {
        st_free(idx);
        return ST_ENOMEM;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    idx->seed = mix((uint64_t)(uintptr_t)idx ^ (uint64_t)ts.tv_nsec, 0x2d358dccaa6c78a5ull ^ (uint64_t)ts.tv_sec);
    idx->max_series = cfg ? cfg->max_series : 0;
    idx->next_db = idx->next_series = idx->next_field = 1;
    st_arena_init(&idx->arena, 64 * 1024);
    *out = idx;
    return 0;
}

static void tagk_free(tagk *k)
{
    if (!k) return;
    for (uint32_t i = 0; i < k->nvals; i++) idv_fini(&k->vals[i].ids);
    st_free(k->vals);
    nmap_fini(&k->vmap);
    st_free(k);
}

static void meas_free(meas *m)
{
    if (!m) return;
    for (uint32_t i = 0; i < m->ntagks; i++) tagk_free(m->tagks[i]);
    st_free(m->tagks);
    nmap_fini(&m->kmap);
    nmap_fini(&m->fmap);
    idv_fini(&m->series);
    idv_fini(&m->fields);
    st_free(m);
}

static void db_free(sdb *db)
{
    if (!db) return;
    for (uint32_t i = 0; i < db->nms; i++) meas_free(db->ms[i]);
    st_free(db->ms);
    nmap_fini(&db->mmap);
    nmap_fini(&db->smap);
    st_free(db);
}

void sidx_destroy(sidx *idx)
{
    if (!idx) return;
    for (uint64_t i = 0; i < idx->capdbs; i++) db_free(idx->dbs[i]);
    st_free(idx->dbs);
    st_free(idx->series);
    st_free(idx->fields);
    st_arena_fini(&idx->arena);
    pthread_rwlock_destroy(&idx->lock);
    st_free(idx);
}

#define RDLOCK(idx) pthread_rwlock_rdlock(&(idx)->lock)
#define WRLOCK(idx) pthread_rwlock_wrlock(&(idx)->lock)
#define UNLOCK(idx) pthread_rwlock_unlock(&(idx)->lock)

size_t sidx_bytes(sidx *idx)
{
    RDLOCK(idx);
    size_t n = sizeof *idx + idx->arena.reserved_bytes;
    n += idx->capdbs * sizeof(sdb *) + idx->capseries * sizeof(sser) + idx->capfields * sizeof(sfld);
    for (uint64_t i = 0; i < idx->capdbs; i++) {
        const sdb *db = idx->dbs[i];
        if (!db) continue;
        n += sizeof *db + nmap_bytes(&db->mmap) + nmap_bytes(&db->smap) + db->capms * sizeof(meas *);
        for (uint32_t j = 0; j < db->nms; j++) {
            const meas *m = db->ms[j];
            if (!m) continue;
            n += sizeof *m + idv_bytes(&m->series) + idv_bytes(&m->fields) + nmap_bytes(&m->kmap)
                 + nmap_bytes(&m->fmap) + m->captagks * sizeof(tagk *);
            for (uint32_t k = 0; k < m->ntagks; k++) {
                const tagk *t = m->tagks[k];
                n += sizeof *t + nmap_bytes(&t->vmap) + t->capvals * sizeof(tval);
                for (uint32_t v = 0; v < t->nvals; v++) n += idv_bytes(&t->vals[v].ids);
            }
        }
    }
    UNLOCK(idx);
    return n;
}

uint64_t sidx_series_count(sidx *idx)
{
    RDLOCK(idx);
    uint64_t n = idx->live_series;
    UNLOCK(idx);
    return n;
}

uint64_t sidx_field_count(sidx *idx)
{
    RDLOCK(idx);
    uint64_t n = idx->live_fields;
    UNLOCK(idx);
    return n;
}

void sidx_next_ids(sidx *idx, uint64_t *db, uint64_t *series, uint64_t *field)
{
    RDLOCK(idx);
    if (db) *db = idx->next_db;
    if (series) *series = idx->next_series;
    if (field) *field = idx->next_field;
    UNLOCK(idx);
}

void sidx_next_ids_raise(sidx *idx, uint64_t db, uint64_t series, uint64_t field)
{
    WRLOCK(idx);
    if (db > idx->next_db) idx->next_db = db;
    if (series > idx->next_series) idx->next_series = series;
    if (field > idx->next_field) idx->next_field = field;
    UNLOCK(idx);
}

/* Grow the array *arr (any T *, passed as &array) of fixed-size elements
 * so index `need` fits; zero-fills. */
static int grow_array(void *arr, uint64_t *cap, uint64_t need, size_t elem)
{
    if (need < *cap) return 0;
    if (need >= SIZE_MAX) return ST_ENOMEM;
    size_t ncap = (size_t)*cap;
    int rc = st_grow(arr, &ncap, (size_t)need + 1, elem, 16);
    if (rc) return rc;
    char *na;
    memcpy(&na, arr, sizeof na);
    memset(na + *cap * elem, 0, (ncap - *cap) * elem);
    *cap = ncap;
    return 0;
}

static int grow_array32(void *arr, uint32_t *cap, uint32_t need, size_t elem)
{
    uint64_t c = *cap;
    if (need >= UINT32_MAX / 2) return ST_ELIMIT;
    int rc = grow_array(arr, &c, need, elem);
    if (!rc) *cap = (uint32_t)c;
    return rc;
}

/* ---- databases --------------------------------------------------------------- */

static sdb *db_get(const sidx *idx, uint64_t id)
{
    return id && id < idx->capdbs ? idx->dbs[id] : NULL;
}

static sdb *db_by_name(const sidx *idx, st_slice name)
{
    for (uint64_t i = 1; i < idx->capdbs; i++)
        if (idx->dbs[i] && st_slice_eq(idx->dbs[i]->name, name)) return idx->dbs[i];
    return NULL;
}

static void db_info(const sdb *db, sidx_db_info *out, int names)
{
    out->id = db->id;
    out->name = names ? db->name : (st_slice){ "", 0 };
    out->rp_name = names ? db->rp_name : (st_slice){ "", 0 };
    out->rp_duration_ns = db->rp_duration_ns;
    out->shard_duration_ns = db->shard_duration_ns;
    out->created_ns = db->created_ns;
}

static const char *arena_copy(st_arena *a, st_slice s)
{
    char *p = st_arena_alloc_bytes(a, s.len ? s.len : 1);
    if (p && s.len) memcpy(p, s.ptr, s.len);
    return p;
}

/* Write lock held. */
static int db_insert(sidx *idx, uint64_t id, const sidx_db_info *info)
{
    st_slice rp = info->rp_name.len ? info->rp_name : ST_SLICE_LIT(SIDX_RP_DEFAULT_NAME);
    int rc = grow_array(&idx->dbs, &idx->capdbs, id, sizeof *idx->dbs);
    if (rc) return rc;
    sdb *db = st_calloc(1, sizeof *db);
    if (!db) return ST_ENOMEM;
    const char *name = arena_copy(&idx->arena, info->name);
    const char *rpn = arena_copy(&idx->arena, rp);
    if (!name || !rpn) {
        st_free(db);
        return ST_ENOMEM;
    }
    db->id = id;
    db->name = (st_slice){ name, info->name.len };
    db->rp_name = (st_slice){ rpn, rp.len };
    db->rp_duration_ns = info->rp_duration_ns;
    db->shard_duration_ns = info->shard_duration_ns ? info->shard_duration_ns : SIDX_SHARD_DEFAULT_NS;
    if (info->created_ns) {
        db->created_ns = info->created_ns;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        db->created_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    idx->dbs[id] = db;
    if (id >= idx->next_db) idx->next_db = id + 1;
    return 0;
}

static int db_info_valid(const sidx_db_info *info)
{
    return info && info->name.len && info->rp_duration_ns >= 0 && info->shard_duration_ns >= 0;
}

int sidx_db_create(sidx *idx, const sidx_db_info *info, uint64_t *id)
{
    if (!db_info_valid(info)) return ST_EINVAL;
    WRLOCK(idx);
    int rc;
    if (db_by_name(idx, info->name)) { rc = ST_EEXISTS; goto out; }
    if (idx->next_db > ID_MAX) { rc = ST_ELIMIT; goto out; }
    uint64_t nid = idx->next_db;
    rc = db_insert(idx, nid, info);
    if (!rc) *id = nid;
out:
    UNLOCK(idx);
    return rc;
}

int sidx_db_define(sidx *idx, const sidx_db_info *info)
{
    if (!db_info_valid(info) || info->id == 0 || info->id > ID_MAX) return ST_EINVAL;
    WRLOCK(idx);
    int rc = 0;
    sdb *same = db_get(idx, info->id), *named = db_by_name(idx, info->name);
    if (same || named) {
        rc = same == named ? 0 : ST_EEXISTS;
        goto out;
    }
    rc = db_insert(idx, info->id, info);
out:
    UNLOCK(idx);
    return rc;
}

int sidx_db_lookup(sidx *idx, st_slice name, sidx_db_info *out)
{
    RDLOCK(idx);
    const sdb *db = db_by_name(idx, name);
    if (db) db_info(db, out, 0);
    UNLOCK(idx);
    return db ? 0 : ST_ENOTFOUND;
}

int sidx_db_get(sidx *idx, uint64_t db_id, sidx_db_info *out)
{
    RDLOCK(idx);
    const sdb *db = db_get(idx, db_id);
    if (db) db_info(db, out, 0);
    UNLOCK(idx);
    return db ? 0 : ST_ENOTFOUND;
}

int sidx_db_rp_check(sidx *idx, uint64_t db_id, st_slice rp)
{
    RDLOCK(idx);
    const sdb *db = db_get(idx, db_id);
    int rc = db && (rp.len == 0 || st_slice_eq(rp, db->rp_name)) ? 0 : ST_ENOTFOUND;
    UNLOCK(idx);
    return rc;
}

int sidx_db_set_retention(sidx *idx, uint64_t db_id, int64_t rp_duration_ns)
{
    if (rp_duration_ns < 0) return ST_EINVAL;
    WRLOCK(idx);
    sdb *db = db_get(idx, db_id);
    if (db) db->rp_duration_ns = rp_duration_ns;
    UNLOCK(idx);
    return db ? 0 : ST_ENOTFOUND;
}

/* Write lock held: mark every series and field of m dead. */
static void meas_kill_entries(sidx *idx, meas *m)
{
    const uint32_t *s = idv_cdata(&m->series);
    for (uint32_t i = 0; i < m->series.n; i++) {
        atomic_fetch_and(&idx->series[s[i]].flags, (uint8_t)~E_LIVE);
        idx->live_series--;
    }
    const uint32_t *f = idv_cdata(&m->fields);
    for (uint32_t i = 0; i < m->fields.n; i++) {
        atomic_fetch_and(&idx->fields[f[i]].flags, (uint8_t)~E_LIVE);
        idx->live_fields--;
    }
}

int sidx_db_drop(sidx *idx, uint64_t db_id)
{
    WRLOCK(idx);
    sdb *db = db_get(idx, db_id);
    if (db) {
        for (uint32_t i = 0; i < db->nms; i++)
            if (db->ms[i]) meas_kill_entries(idx, db->ms[i]);
        idx->dbs[db_id] = NULL;
        db_free(db);
    }
    UNLOCK(idx);
    return db ? 0 : ST_ENOTFOUND;
}

int sidx_db_each(sidx *idx, sidx_db_fn fn, void *arg)
{
    RDLOCK(idx);
    int rc = 0;
    for (uint64_t i = 1; i < idx->capdbs && !rc; i++) {
        if (!idx->dbs[i]) continue;
        sidx_db_info info;
        db_info(idx->dbs[i], &info, 1);
        rc = fn(arg, &info);
    }
    UNLOCK(idx);
    return rc;
}

/* ---- creation helpers (write lock held) ------------------------------------ */

static meas *meas_find(const sidx *idx, const sdb *db, st_slice name)
{
    uint32_t v = nmap_find(&db->mmap, hash_bytes(name.ptr, name.len, idx->seed), name, at_meas, db);
    return v ? db->ms[v - 1] : NULL;
}

/* Find or create (empty, invisible until it holds something). name must be
 * stable (arena) when a creation may happen. */
static int meas_get(sidx *idx, sdb *db, st_slice name, meas **out)
{
    uint32_t h = hash_bytes(name.ptr, name.len, idx->seed);
    uint32_t v = nmap_find(&db->mmap, h, name, at_meas, db);
    if (v) { *out = db->ms[v - 1]; return 0; }
    int rc = grow_array32(&db->ms, &db->capms, db->nms, sizeof *db->ms);
    if (!rc) rc = nmap_reserve(&db->mmap, 1);
    if (rc) return rc;
    meas *m = st_calloc(1, sizeof *m);
    if (!m) return ST_ENOMEM;
    m->name = name;
    m->db_id = (uint32_t)db->id;
    db->ms[db->nms++] = m;
    nmap_insert(&db->mmap, h, db->nms);
    *out = m;
    return 0;
}

/* Find or create tag key k and its value v in m; reserve room for one id in
 * the posting. Both slices must be arena-stable. */
static int posting_prepare(sidx *idx, meas *m, st_slice k, st_slice v)
{
    uint32_t hk = hash_bytes(k.ptr, k.len, idx->seed);
    uint32_t ki = nmap_find(&m->kmap, hk, k, at_tagk, m);
    tagk *t;
    int rc;
    if (ki) {
        t = m->tagks[ki - 1];
    } else {
        if ((rc = grow_array32(&m->tagks, &m->captagks, m->ntagks, sizeof *m->tagks))) return rc;
        if ((rc = nmap_reserve(&m->kmap, 1))) return rc;
        t = st_calloc(1, sizeof *t);
        if (!t) return ST_ENOMEM;
        t->name = k;
        m->tagks[m->ntagks++] = t;
        nmap_insert(&m->kmap, hk, m->ntagks);
    }
    uint32_t hv = hash_bytes(v.ptr, v.len, idx->seed);
    uint32_t vi = nmap_find(&t->vmap, hv, v, at_tval, t);
    if (!vi) {
        if ((rc = grow_array32(&t->vals, &t->capvals, t->nvals, sizeof *t->vals))) return rc;
        if ((rc = nmap_reserve(&t->vmap, 1))) return rc;
        t->vals[t->nvals].val = v;
        memset(&t->vals[t->nvals].ids, 0, sizeof(idvec));
        vi = ++t->nvals;
        nmap_insert(&t->vmap, hv, vi);
    }
    return idv_reserve1(&t->vals[vi - 1].ids);
}

static tval *posting_find(const sidx *idx, const meas *m, st_slice k, st_slice v, tagk **tk)
{
    uint32_t ki = nmap_find(&m->kmap, hash_bytes(k.ptr, k.len, idx->seed), k, at_tagk, m);
    if (!ki) return NULL;
    tagk *t = m->tagks[ki - 1];
    uint32_t vi = nmap_find(&t->vmap, hash_bytes(v.ptr, v.len, idx->seed), v, at_tval, t);
    if (tk) *tk = t;
    return vi ? &t->vals[vi - 1] : NULL;
}

/* Create series `id` (0 = next id) for a validated key; write lock held and
 * the key known absent from db. */
static int series_create(sidx *idx, sdb *db, uint32_t h, const void *key, size_t key_len, uint64_t id,
                         uint64_t *out)
{
    uint64_t sid = id ? id : idx->next_series;
    if (sid > ID_MAX) return ST_ELIMIT;
    int rc = grow_array(&idx->series, &idx->capseries, sid, sizeof *idx->series);
    if (!rc) rc = nmap_reserve(&db->smap, 1);
    if (rc) return rc;
    const char *k = arena_copy(&idx->arena, (st_slice){ key, key_len });
    if (!k) return ST_ENOMEM;
    kdec d = { (const uint8_t *)k, (const uint8_t *)k + key_len };
    st_slice mname, tk, tv;
    (void)kdec_slice(&d, &mname); /* validated by the caller */
    meas *m;
    if ((rc = meas_get(idx, db, mname, &m))) return rc;
    if ((rc = idv_reserve1(&m->series))) return rc;
    while (d.p < d.end) {
        (void)kdec_slice(&d, &tk);
        (void)kdec_slice(&d, &tv);
        if ((rc = posting_prepare(idx, m, tk, tv))) return rc;
    }
    /* commit: nothing below fails */
    sser *s = &idx->series[sid];
    s->m = m;
    s->key = k;
    s->key_len = (uint32_t)key_len;
    s->db_id = (uint32_t)db->id;
    atomic_store(&s->flags, (uint8_t)(E_LIVE | (id ? E_LOGGED : 0)));
    nmap_insert(&db->smap, h, (uint32_t)sid);
    idv_insert(&m->series, (uint32_t)sid);
    d = (kdec){ (const uint8_t *)k, (const uint8_t *)k + key_len };
    (void)kdec_slice(&d, &mname);
    while (d.p < d.end) {
        (void)kdec_slice(&d, &tk);
        (void)kdec_slice(&d, &tv);
        tagk *t = NULL;
        tval *p = posting_find(idx, m, tk, tv, &t);
        idv_insert(&p->ids, (uint32_t)sid);
        t->nseries++;
    }
    idx->live_series++;
    if (sid >= idx->next_series) idx->next_series = sid + 1;
    *out = sid;
    return 0;
}

static int key_valid(const void *key, size_t key_len)
{
    size_t n;
    st_slice m;
    return sidx_key_decode(key, key_len, &m, NULL, 0, &n) == 0 && m.len > 0;
}

/* ---- series ------------------------------------------------------------------ */

int sidx_series_resolve_key(sidx *idx, uint64_t db_id, const void *key, size_t key_len,
                            uint64_t *series_id, unsigned *flags)
{
    if (key_len > SIDX_KEY_MAX_BYTES) return ST_ETOOLARGE;
    uint32_t h = hash_bytes(key, key_len, idx->seed);
    st_slice ks = { key, key_len };
    int rc = 0;
    RDLOCK(idx);
    sdb *db = db_get(idx, db_id);
    uint32_t v = db ? nmap_find(&db->smap, h, ks, at_series, idx) : 0;
    if (v) {
        *series_id = v;
        *flags = (atomic_load(&idx->series[v].flags) & E_LOGGED) ? SIDX_F_LOGGED : 0;
    }
    UNLOCK(idx);
    if (v) return 0;
    if (!db) return ST_ENOTFOUND;
    if (!key_valid(key, key_len)) return ST_EINVAL;

    WRLOCK(idx);
    db = db_get(idx, db_id); /* may have been dropped meanwhile */
    if (!db) { rc = ST_ENOTFOUND; goto out; }
    v = nmap_find(&db->smap, h, ks, at_series, idx);
    if (v) { /* another thread created it between the locks */
        *series_id = v;
        *flags = (atomic_load(&idx->series[v].flags) & E_LOGGED) ? SIDX_F_LOGGED : 0;
        goto out;
    }
    if (idx->max_series && idx->live_series >= idx->max_series) { rc = ST_ELIMIT; goto out; }
    uint64_t sid;
    rc = series_create(idx, db, h, key, key_len, 0, &sid);
    if (!rc) {
        *series_id = sid;
        *flags = SIDX_F_CREATED;
    }
out:
    UNLOCK(idx);
    return rc;
}

int sidx_series_resolve(sidx *idx, uint64_t db_id, st_slice measurement,
                        const sidx_tag *tags, size_t ntags,
                        uint64_t *series_id, unsigned *flags)
{
    if (!measurement.len) return ST_EINVAL;
    char stack[SIDX_KEY_STACK_BYTES];
    size_t len;
    int rc = sidx_key_len(measurement, tags, ntags, &len);
    if (rc) return rc;
    char *buf = stack;
    if (len > sizeof stack) {
        buf = st_malloc(len);
        if (!buf) return ST_ENOMEM;
    }
    rc = sidx_key_encode(measurement, tags, ntags, buf, len, &len);
    if (!rc) rc = sidx_series_resolve_key(idx, db_id, buf, len, series_id, flags);
    if (buf != stack) st_free(buf);
    return rc;
}

void sidx_series_mark_logged(sidx *idx, uint64_t series_id)
{
    RDLOCK(idx);
    if (series_id && series_id < idx->capseries) atomic_fetch_or(&idx->series[series_id].flags, (uint8_t)E_LOGGED);
    UNLOCK(idx);
}

int sidx_define_series(sidx *idx, uint64_t series_id, uint64_t db_id, const void *key, size_t key_len)
{
    if (series_id == 0 || series_id > ID_MAX) return ST_EINVAL;
    if (!key_valid(key, key_len)) return ST_ECORRUPT;
    uint32_t h = hash_bytes(key, key_len, idx->seed);
    st_slice ks = { key, key_len };
    int rc = 0;
    WRLOCK(idx);
    sdb *db = db_get(idx, db_id);
    if (!db) { rc = ST_ENOTFOUND; goto out; }
    uint32_t v = nmap_find(&db->smap, h, ks, at_series, idx);
    if (v) {
        rc = v == series_id ? 0 : ST_EEXISTS;
        if (!rc) atomic_fetch_or(&idx->series[v].flags, (uint8_t)E_LOGGED);
        goto out;
    }
    if (series_id < idx->capseries && (atomic_load(&idx->series[series_id].flags) & E_LIVE)) {
        rc = ST_EEXISTS; /* the id names another key */
        goto out;
    }
    uint64_t sid;
    rc = series_create(idx, db, h, key, key_len, series_id, &sid);
out:
    UNLOCK(idx);
    return rc;
}

/* ---- fields --------------------------------------------------------------------- */

static int type_valid(st_type t) { return t >= ST_TYPE_FLOAT && t <= ST_TYPE_STRING; }

/* Write lock held; the field known absent. id 0 = next id. */
static int field_create(sidx *idx, sdb *db, st_slice measurement, st_slice fkey, uint32_t h, st_type type,
                        uint64_t id, uint64_t *out)
{
    uint64_t fid = id ? id : idx->next_field;
    if (fid > ID_MAX) return ST_ELIMIT;
    int rc = grow_array(&idx->fields, &idx->capfields, fid, sizeof *idx->fields);
    if (rc) return rc;
    meas *m = meas_find(idx, db, measurement);
    if (!m) {
        const char *mn = arena_copy(&idx->arena, measurement);
        if (!mn) return ST_ENOMEM;
        if ((rc = meas_get(idx, db, (st_slice){ mn, measurement.len }, &m))) return rc;
    }
    if ((rc = nmap_reserve(&m->fmap, 1)) || (rc = idv_reserve1(&m->fields))) return rc;
    const char *k = arena_copy(&idx->arena, fkey);
    if (!k) return ST_ENOMEM;
    sfld *f = &idx->fields[fid];
    f->m = m;
    f->key = k;
    f->key_len = (uint32_t)fkey.len;
    f->db_id = (uint32_t)db->id;
    f->type = (uint8_t)type;
    atomic_store(&f->flags, (uint8_t)(E_LIVE | (id ? E_LOGGED : 0)));
    nmap_insert(&m->fmap, h, (uint32_t)fid);
    idv_insert(&m->fields, (uint32_t)fid);
    idx->live_fields++;
    if (fid >= idx->next_field) idx->next_field = fid + 1;
    *out = fid;
    return 0;
}

/* Lock held (either). 0 with *fid = 0 when absent. */
static int field_lookup(const sidx *idx, uint64_t db_id, st_slice measurement, st_slice fkey, uint32_t h,
                        sdb **dbo, uint32_t *fid)
{
    sdb *db = db_get(idx, db_id);
    if (!db) return ST_ENOTFOUND;
    *dbo = db;
    const meas *m = meas_find(idx, db, measurement);
    *fid = m ? nmap_find(&m->fmap, h, fkey, at_field, idx) : 0;
    return 0;
}

int sidx_field_resolve(sidx *idx, uint64_t db_id, st_slice measurement, st_slice field_key,
                       st_type type, uint64_t *field_id, unsigned *flags, st_type *existing_type)
{
    if (!measurement.len || !type_valid(type)) return ST_EINVAL;
    if (measurement.len > SIDX_KEY_MAX_BYTES || field_key.len > SIDX_KEY_MAX_BYTES) return ST_ETOOLARGE;
    uint32_t h = hash_bytes(field_key.ptr, field_key.len, idx->seed);
    sdb *db;
    uint32_t fid = 0;
    int rc;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) RDLOCK(idx); else WRLOCK(idx);
        rc = field_lookup(idx, db_id, measurement, field_key, h, &db, &fid);
        if (!rc && fid) {
            const sfld *f = &idx->fields[fid];
            if (f->type != type) {
                if (existing_type) *existing_type = (st_type)f->type;
                rc = ST_ECONFLICT;
            } else {
                *field_id = fid;
                *flags = (atomic_load(&f->flags) & E_LOGGED) ? SIDX_F_LOGGED : 0;
            }
        }
        if (rc || fid) {
            UNLOCK(idx);
            return rc;
        }
        if (pass == 0) UNLOCK(idx);
    }
    uint64_t nid;
    rc = field_create(idx, db, measurement, field_key, h, type, 0, &nid);
    if (!rc) {
        *field_id = nid;
        *flags = SIDX_F_CREATED;
    }
    UNLOCK(idx);
    return rc;
}

void sidx_field_mark_logged(sidx *idx, uint64_t field_id)
{
    RDLOCK(idx);
    if (field_id && field_id < idx->capfields) atomic_fetch_or(&idx->fields[field_id].flags, (uint8_t)E_LOGGED);
    UNLOCK(idx);
}

int sidx_define_field(sidx *idx, uint64_t field_id, uint64_t db_id, st_slice measurement,
                      st_slice field_key, st_type type)
{
    if (field_id == 0 || field_id > ID_MAX || !measurement.len || !type_valid(type)) return ST_EINVAL;
    if (measurement.len > SIDX_KEY_MAX_BYTES || field_key.len > SIDX_KEY_MAX_BYTES) return ST_ETOOLARGE;
    uint32_t h = hash_bytes(field_key.ptr, field_key.len, idx->seed);
    sdb *db;
    uint32_t fid;
    WRLOCK(idx);
    int rc = field_lookup(idx, db_id, measurement, field_key, h, &db, &fid);
    if (rc) goto out;
    if (fid) {
        if (fid != field_id) rc = ST_EEXISTS;
        else if (idx->fields[fid].type != type) rc = ST_ECONFLICT;
        else atomic_fetch_or(&idx->fields[fid].flags, (uint8_t)E_LOGGED);
        goto out;
    }
    if (field_id < idx->capfields && (atomic_load(&idx->fields[field_id].flags) & E_LIVE)) {
        rc = ST_EEXISTS;
        goto out;
    }
    uint64_t nid;
    rc = field_create(idx, db, measurement, field_key, h, type, field_id, &nid);
out:
    UNLOCK(idx);
    return rc;
}

/* ---- query side -------------------------------------------------------------- */

static int slice_ptr_cmp(const void *a, const void *b)
{
    return st_slice_cmp(**(const st_slice *const *)a, **(const st_slice *const *)b);
}

/* Sort n name pointers and call fn on each; owns nothing after return. */
static int each_sorted(const st_slice **v, size_t n, sidx_name_fn fn, void *arg)
{
    qsort(v, n, sizeof *v, slice_ptr_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) rc = fn(arg, *v[i]);
    return rc;
}

int sidx_measurement_each(sidx *idx, uint64_t db_id, sidx_name_fn fn, void *arg)
{
    int rc = 0;
    const st_slice **v = NULL;
    RDLOCK(idx);
    const sdb *db = db_get(idx, db_id);
    if (!db) { rc = ST_ENOTFOUND; goto out; }
    v = st_malloc((db->nms ? db->nms : 1) * sizeof *v);
    if (!v) { rc = ST_ENOMEM; goto out; }
    size_t n = 0;
    for (uint32_t i = 0; i < db->nms; i++) {
        const meas *m = db->ms[i];
        if (m && (m->series.n || m->fields.n)) v[n++] = &m->name;
    }
    rc = each_sorted(v, n, fn, arg);
out:
    UNLOCK(idx);
    st_free(v);
    return rc;
}

/* Lock held. */
static const meas *meas_lookup(const sidx *idx, uint64_t db_id, st_slice name)
{
    const sdb *db = db_get(idx, db_id);
    return db ? meas_find(idx, db, name) : NULL;
}

int sidx_tag_key_each(sidx *idx, uint64_t db_id, st_slice measurement, sidx_name_fn fn, void *arg)
{
    int rc = 0;
    const st_slice **v = NULL;
    RDLOCK(idx);
    const meas *m = meas_lookup(idx, db_id, measurement);
    if (!m) { rc = ST_ENOTFOUND; goto out; }
    v = st_malloc((m->ntagks ? m->ntagks : 1) * sizeof *v);
    if (!v) { rc = ST_ENOMEM; goto out; }
    size_t n = 0;
    for (uint32_t i = 0; i < m->ntagks; i++)
        if (m->tagks[i]->nseries) v[n++] = &m->tagks[i]->name;
    rc = each_sorted(v, n, fn, arg);
out:
    UNLOCK(idx);
    st_free(v);
    return rc;
}

int sidx_tag_value_each(sidx *idx, uint64_t db_id, st_slice measurement, st_slice tag_key,
                        sidx_name_fn fn, void *arg)
{
    int rc = 0;
    const st_slice **v = NULL;
    RDLOCK(idx);
    const meas *m = meas_lookup(idx, db_id, measurement);
    if (!m) { rc = ST_ENOTFOUND; goto out; }
    uint32_t ki = nmap_find(&m->kmap, hash_bytes(tag_key.ptr, tag_key.len, idx->seed), tag_key, at_tagk, m);
    if (!ki) goto out;
    const tagk *t = m->tagks[ki - 1];
    v = st_malloc((t->nvals ? t->nvals : 1) * sizeof *v);
    if (!v) { rc = ST_ENOMEM; goto out; }
    size_t n = 0;
    for (uint32_t i = 0; i < t->nvals; i++)
        if (t->vals[i].ids.n) v[n++] = &t->vals[i].val;
    rc = each_sorted(v, n, fn, arg);
out:
    UNLOCK(idx);
    st_free(v);
    return rc;
}

typedef struct fref { st_slice key; uint32_t id; uint8_t type; } fref;

static int fref_cmp(const void *a, const void *b)
{
    return st_slice_cmp(((const fref *)a)->key, ((const fref *)b)->key);
}

int sidx_field_each(sidx *idx, uint64_t db_id, st_slice measurement, sidx_field_fn fn, void *arg)
{
    int rc = 0;
    fref *v = NULL;
    RDLOCK(idx);
    const meas *m = meas_lookup(idx, db_id, measurement);
    if (!m) { rc = ST_ENOTFOUND; goto out; }
    v = st_malloc((m->fields.n ? m->fields.n : 1) * sizeof *v);
    if (!v) { rc = ST_ENOMEM; goto out; }
    const uint32_t *ids = idv_cdata(&m->fields);
    for (uint32_t i = 0; i < m->fields.n; i++) {
        const sfld *f = &idx->fields[ids[i]];
        v[i] = (fref){ { f->key, f->key_len }, ids[i], f->type };
    }
    qsort(v, m->fields.n, sizeof *v, fref_cmp);
    for (uint32_t i = 0; i < m->fields.n && !rc; i++) rc = fn(arg, v[i].id, v[i].key, (st_type)v[i].type);
out:
    UNLOCK(idx);
    st_free(v);
    return rc;
}

/* Lock held. */
static int ids_copy(const idvec *x, uint64_t **ids, size_t *n)
{
    uint64_t *out = NULL;
    if (x && x->n) {
        out = st_malloc((size_t)x->n * sizeof *out);
        if (!out) return ST_ENOMEM;
        const uint32_t *d = idv_cdata(x);
        for (uint32_t i = 0; i < x->n; i++) out[i] = d[i];
    }
    *ids = out;
    *n = x ? x->n : 0;
    return 0;
}

int sidx_measurement_series_copy(sidx *idx, uint64_t db_id, st_slice measurement, uint64_t **ids, size_t *n)
{
    RDLOCK(idx);
    const meas *m = meas_lookup(idx, db_id, measurement);
    int rc = m ? ids_copy(&m->series, ids, n) : ST_ENOTFOUND;
    UNLOCK(idx);
    return rc;
}

int sidx_postings_copy(sidx *idx, uint64_t db_id, st_slice measurement, st_slice tag_key,
                       st_slice tag_val, uint64_t **ids, size_t *n)
{
    RDLOCK(idx);
    const meas *m = meas_lookup(idx, db_id, measurement);
    int rc = ST_ENOTFOUND;
    if (m) {
        const tval *p = posting_find(idx, m, tag_key, tag_val, NULL);
        rc = ids_copy(p ? &p->ids : NULL, ids, n);
    }
    UNLOCK(idx);
    return rc;
}

/* Lock held. */
static const sser *series_live(const sidx *idx, uint64_t id)
{
    if (!id || id >= idx->capseries) return NULL;
    const sser *s = &idx->series[id];
    return (atomic_load(&s->flags) & E_LIVE) ? s : NULL;
}

int sidx_series_key_dup(sidx *idx, uint64_t series_id, uint64_t *db_id, void **key, size_t *key_len)
{
    int rc = ST_ENOTFOUND;
    RDLOCK(idx);
    const sser *s = series_live(idx, series_id);
    if (s) {
        void *k = st_malloc(s->key_len ? s->key_len : 1);
        if (!k) {
            rc = ST_ENOMEM;
        } else {
            memcpy(k, s->key, s->key_len);
            *db_id = s->db_id;
            *key = k;
            *key_len = s->key_len;
            rc = 0;
        }
    }
    UNLOCK(idx);
    return rc;
}

int sidx_series_get(sidx *idx, uint64_t series_id, sidx_series_fn fn, void *arg)
{
    RDLOCK(idx);
    const sser *s = series_live(idx, series_id);
    int rc = s ? fn(arg, series_id, s->db_id, s->key, s->key_len) : ST_ENOTFOUND;
    UNLOCK(idx);
    return rc;
}

int sidx_series_get_many(sidx *idx, const uint64_t *ids, size_t n, sidx_series_fn fn, void *arg)
{
    int rc = 0;
    for (size_t b = 0; b < n && !rc; b += SIDX_GET_BATCH) {
        size_t e = n - b < SIDX_GET_BATCH ? n : b + SIDX_GET_BATCH;
        RDLOCK(idx);
        for (size_t i = b; i < e && !rc; i++) {
            /* the entries and keys a few ids ahead are on their way from
             * memory while this one is copied: ids come in no useful order */
            if (i + 8 < e && ids[i + 8] < idx->capseries) __builtin_prefetch(&idx->series[ids[i + 8]]);
            if (i + 4 < e) {
                const sser *p = series_live(idx, ids[i + 4]);
                if (p) __builtin_prefetch(p->key);
            }
            const sser *s = series_live(idx, ids[i]);
            if (s) rc = fn(arg, ids[i], s->db_id, s->key, s->key_len);
        }
        UNLOCK(idx);
    }
    return rc;
}

/* ---- drops ----------------------------------------------------------------------- */

int sidx_series_drop(sidx *idx, uint64_t series_id)
{
    WRLOCK(idx);
    sser *s = (sser *)series_live(idx, series_id);
    int rc = ST_ENOTFOUND;
    if (s) {
        sdb *db = db_get(idx, s->db_id);
        meas *m = s->m;
        kdec d = { (const uint8_t *)s->key, (const uint8_t *)s->key + s->key_len };
        st_slice mname, tk, tv;
        (void)kdec_slice(&d, &mname);
        while (d.p < d.end) {
            (void)kdec_slice(&d, &tk);
            (void)kdec_slice(&d, &tv);
            tagk *t = NULL;
            tval *p = posting_find(idx, m, tk, tv, &t);
            if (p) {
                idv_remove(&p->ids, (uint32_t)series_id);
                t->nseries--;
            }
        }
        idv_remove(&m->series, (uint32_t)series_id);
        nmap_remove(&db->smap, hash_bytes(s->key, s->key_len, idx->seed), (uint32_t)series_id);
        atomic_fetch_and(&s->flags, (uint8_t)~E_LIVE);
        idx->live_series--;
        rc = 0;
    }
    UNLOCK(idx);
    return rc;
}

int sidx_measurement_drop(sidx *idx, uint64_t db_id, st_slice measurement)
{
    int rc = ST_ENOTFOUND;
    WRLOCK(idx);
    sdb *db = db_get(idx, db_id);
    if (!db) goto out;
    uint32_t h = hash_bytes(measurement.ptr, measurement.len, idx->seed);
    uint32_t v = nmap_find(&db->mmap, h, measurement, at_meas, db);
    if (!v) goto out;
    meas *m = db->ms[v - 1];
    const uint32_t *s = idv_cdata(&m->series);
    for (uint32_t i = 0; i < m->series.n; i++) {
        const sser *e = &idx->series[s[i]];
        nmap_remove(&db->smap, hash_bytes(e->key, e->key_len, idx->seed), s[i]);
    }
    meas_kill_entries(idx, m);
    nmap_remove(&db->mmap, h, v);
    db->ms[v - 1] = NULL;
    meas_free(m);
    rc = 0;
out:
    UNLOCK(idx);
    return rc;
}
