/*
 * storage/bcache.h — the block cache: decoded segment blocks, bounded by
 * bytes (--block-cache-bytes), keyed by (cache file id, block offset).
 *
 * Why decoded blocks: a hit then costs a hash lookup and nothing else —
 * decimal/zstd decoding is the expensive part of a read, and the query
 * path scans the same recent blocks over and over (dashboards refreshing).
 * Raw bytes would fit 3-10x more blocks but re-decode on every hit; the
 * page cache of the kernel already keeps raw bytes.
 *
 * Entries are refcounted: the cache holds one reference while an entry is
 * cached, each reader one more; eviction drops the cache's reference, so a
 * reader keeps using an entry that was evicted under it, and it is freed
 * at the last unref. Eviction is LRU over unpinned and pinned entries alike
 * (a pinned entry that is evicted simply stops counting against the budget
 * once its readers let go — it is no longer charged to the cache).
 *
 * Keys: file ids are handed out by the cache (bcache_file_id), unique for
 * the cache's lifetime, so two files with the same name in different
 * partitions, or a file replaced by compaction, never share a key.
 *
 * Threads: every function is thread-safe (one mutex; refcounts atomic).
 */
#ifndef STOR_BCACHE_H
#define STOR_BCACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bcache bcache;

/* An entry: embed it as the FIRST member of the cached object. The owner
 * fills charge_bytes and destroy before bcache_insert; the rest is the
 * cache's. */
typedef struct bcache_entry {
    atomic_long refs;
    size_t charge_bytes;                          /* memory the entry holds */
    void (*destroy)(struct bcache_entry *e);      /* frees it at the last unref */
    /* private to bcache.c */
    uint64_t file_id, offset;
    struct bcache_entry *lru_prev, *lru_next;     /* borrowed links (cache list) */
    struct bcache_entry *hnext;                   /* borrowed (hash chain) */
    int cached;
} bcache_entry;

/* capacity_bytes 0 = a cache that never keeps anything (inserts succeed,
 * entries are only held by their readers). ST_ENOMEM. */
int  bcache_create(size_t capacity_bytes, bcache **out);
/* Drops the cache's references (entries still held by readers live on
 * until their unref). NULL ok. */
void bcache_destroy(bcache *c);

/* A new file id, never returned before by this cache. */
uint64_t bcache_file_id(bcache *c);

/* The entry for the key with one reference for the caller, or NULL. */
bcache_entry *bcache_lookup(bcache *c, uint64_t file_id, uint64_t offset);

/* Set refs to 1 (the caller's) and charge/destroy before calling. Adds e
 * under the key and returns e — or, when another thread inserted the key
 * first, releases e and returns the existing entry; either way the result
 * carries one reference for the caller. Evicts least recently used entries
 * beyond the capacity. Never fails. */
bcache_entry *bcache_insert(bcache *c, uint64_t file_id, uint64_t offset, bcache_entry *e);

/* Takes one more reference. */
void bcache_entry_ref(bcache_entry *e);
/* Drops one reference; destroys at zero. NULL ok. */
void bcache_entry_unref(bcache_entry *e);

/* Evict every entry of a file (the file is closed). */
void bcache_drop_file(bcache *c, uint64_t file_id);

/* Counters. */
typedef struct bcache_stats {
    size_t capacity_bytes, used_bytes, entries;
    uint64_t hits, misses, inserts, evictions;
} bcache_stats;
void bcache_get_stats(bcache *c, bcache_stats *out);

#endif
