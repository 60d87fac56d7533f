/*
 * storage/bcache.c — the block cache (storage/bcache.h): a chained hash
 * table and an LRU list under one mutex; entry refcounts are atomic so an
 * unref never takes the lock. Any thread.
 */
#include "storage/bcache.h"

#include <pthread.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

struct bcache {
    pthread_mutex_t mu;
    size_t capacity, used, entries;
    bcache_entry **buckets; /* owned array; entries are referenced (one ref each) */
    size_t nbuckets;        /* power of two */
    bcache_entry lru;       /* sentinel: lru.lru_next = most recent */
    uint64_t next_file_id;
    uint64_t hits, misses, inserts, evictions;
};

static size_t bc_hash(const bcache *c, uint64_t fid, uint64_t off)
{
    uint64_t h = fid * 0x9E3779B97F4A7C15ULL ^ (off + 0x632BE59BD9B4E019ULL) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
    return (size_t)h & (c->nbuckets - 1);
}

int bcache_create(size_t capacity_bytes, bcache **out)
{
    bcache *c = st_calloc(1, sizeof *c);
    if (!c) return ST_ENOMEM;
    c->nbuckets = 256;
    c->buckets = st_calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) { st_free(c); return ST_ENOMEM; }
    if (pthread_mutex_init(&c->mu, NULL) != 0) { st_free(c->buckets); st_free(c); return ST_ENOMEM; }
    c->capacity = capacity_bytes;
    c->lru.lru_next = c->lru.lru_prev = &c->lru;
    c->next_file_id = 1;
    *out = c;
    return 0;
}

void bcache_entry_ref(bcache_entry *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void bcache_entry_unref(bcache_entry *e)
{
    if (!e) return;
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) e->destroy(e);
}

static void lru_unlink(bcache_entry *e)
{
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next->lru_prev = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(bcache *c, bcache_entry *e)
{
    e->lru_next = c->lru.lru_next;
    e->lru_prev = &c->lru;
    c->lru.lru_next->lru_prev = e;
    c->lru.lru_next = e;
}

/* Unlinks e from table and list (lock held); the caller drops the ref after
 * unlocking. */
static void bc_remove(bcache *c, bcache_entry *e)
{
    bcache_entry **pp = &c->buckets[bc_hash(c, e->file_id, e->offset)];
    while (*pp && *pp != e) pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    e->hnext = NULL;
    lru_unlink(e);
    e->cached = 0;
    c->used -= e->charge_bytes;
    c->entries--;
}

static void bc_grow(bcache *c)
{
    size_t nb = c->nbuckets * 2;
    bcache_entry **b = st_calloc(nb, sizeof *b);
    if (!b) return; /* longer chains; still correct */
    bcache_entry **old = c->buckets;
    size_t onb = c->nbuckets;
    c->buckets = b;
    c->nbuckets = nb;
    for (size_t i = 0; i < onb; i++) {
        bcache_entry *e = old[i];
        while (e) {
            bcache_entry *n = e->hnext;
            size_t h = bc_hash(c, e->file_id, e->offset);
            e->hnext = b[h];
            b[h] = e;
            e = n;
        }
    }
    st_free(old);
}

void bcache_destroy(bcache *c)
{
    if (!c) return;
    while (c->lru.lru_next != &c->lru) {
        bcache_entry *e = c->lru.lru_next;
        bc_remove(c, e);
        bcache_entry_unref(e);
    }
    pthread_mutex_destroy(&c->mu);
    st_free(c->buckets);
    st_free(c);
}

uint64_t bcache_file_id(bcache *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t id = c->next_file_id++;
    pthread_mutex_unlock(&c->mu);
    return id;
}

bcache_entry *bcache_lookup(bcache *c, uint64_t file_id, uint64_t offset)
{
    pthread_mutex_lock(&c->mu);
    bcache_entry *e = c->buckets[bc_hash(c, file_id, offset)];
    while (e && (e->file_id != file_id || e->offset != offset)) e = e->hnext;
    if (e) {
        bcache_entry_ref(e);
        lru_unlink(e);
        lru_push_front(c, e);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return e;
}

/* Evicted entries are unref'd after the lock is released, so a destroy
 * callback never runs under the cache mutex. */
#define BC_EVICT_BATCH 32

bcache_entry *bcache_insert(bcache *c, uint64_t file_id, uint64_t offset, bcache_entry *e)
{
    bcache_entry *victims[BC_EVICT_BATCH];
    size_t nv = 0;
    e->file_id = file_id;
    e->offset = offset;
    e->hnext = NULL;
    e->cached = 0;
    pthread_mutex_lock(&c->mu);
    bcache_entry *x = c->buckets[bc_hash(c, file_id, offset)];
    while (x && (x->file_id != file_id || x->offset != offset)) x = x->hnext;
    if (x) {
        bcache_entry_ref(x);
        lru_unlink(x);
        lru_push_front(c, x);
        pthread_mutex_unlock(&c->mu);
        bcache_entry_unref(e);
        return x;
    }
    c->inserts++;
    if (e->charge_bytes > c->capacity) { /* would evict everything: hand it out uncached */
        pthread_mutex_unlock(&c->mu);
        return e;
    }
    if (c->entries >= c->nbuckets) bc_grow(c);
    size_t h = bc_hash(c, file_id, offset);
    e->hnext = c->buckets[h];
    c->buckets[h] = e;
    lru_push_front(c, e);
    e->cached = 1;
    c->used += e->charge_bytes;
    c->entries++;
    bcache_entry_ref(e); /* the cache's reference */
    for (;;) {
        while (c->used > c->capacity && nv < BC_EVICT_BATCH) {
            bcache_entry *v = c->lru.lru_prev;
            if (v == e) break;
            bc_remove(c, v);
            c->evictions++;
            victims[nv++] = v;
        }
        if (nv < BC_EVICT_BATCH || c->used <= c->capacity) break;
        pthread_mutex_unlock(&c->mu);
        for (size_t i = 0; i < nv; i++) bcache_entry_unref(victims[i]);
        nv = 0;
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < nv; i++) bcache_entry_unref(victims[i]);
    return e;
}

void bcache_drop_file(bcache *c, uint64_t file_id)
{
    for (;;) {
        bcache_entry *victims[BC_EVICT_BATCH];
        size_t nv = 0;
        pthread_mutex_lock(&c->mu);
        for (bcache_entry *e = c->lru.lru_next; e != &c->lru && nv < BC_EVICT_BATCH;) {
            bcache_entry *n = e->lru_next;
            if (e->file_id == file_id) {
                bc_remove(c, e);
                victims[nv++] = e;
            }
            e = n;
        }
        pthread_mutex_unlock(&c->mu);
        for (size_t i = 0; i < nv; i++) bcache_entry_unref(victims[i]);
        if (nv < BC_EVICT_BATCH) return;
    }
}

void bcache_get_stats(bcache *c, bcache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    out->capacity_bytes = c->capacity;
    out->used_bytes = c->used;
    out->entries = c->entries;
    out->hits = c->hits;
    out->misses = c->misses;
    out->inserts = c->inserts;
    out->evictions = c->evictions;
    pthread_mutex_unlock(&c->mu);
}
