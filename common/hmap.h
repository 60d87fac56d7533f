/*
 * common/hmap.h — open-addressing hash map from byte-string keys to a
 * uint64 value (ids) or pointer. Keys are copied into the map's own storage.
 * Not thread-safe: one owner, or the owner's lock.
 *
 * Robin Hood linear probing with backward-shift deletion (no tombstones);
 * each slot keeps the key's 64-bit hash, compared before the key bytes, so a
 * lookup touches the key storage only on a probable hit. The load factor stays
 * <= 0.8; the table doubles when it would pass it. Keys live in one owned slab
 * (compacted when half of it is dead). Every function that allocates leaves
 * the map unchanged when it returns ST_ENOMEM. Each map hashes with its own
 * seed, so adversarial keys from one process cannot be replayed elsewhere.
 */
#ifndef ST_HMAP_H
#define ST_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_hmap st_hmap;

/* 64-bit hash with good mixing (wyhash-style multiply-fold). Pure; any thread. */
uint64_t st_hash_bytes(const void *p, size_t n, uint64_t seed);

/* initial_cap: entries expected (0 = small). 0 or ST_ENOMEM. */
int  st_hmap_create(size_t initial_cap, st_hmap **out);
void st_hmap_destroy(st_hmap *m);                     /* accepts NULL */
size_t st_hmap_count(const st_hmap *m);
/* Bytes held by the map (table + key storage), for memory accounting. */
size_t st_hmap_bytes(const st_hmap *m);

/* 1 found (*val written if val is not NULL), 0 not found. */
int st_hmap_get(const st_hmap *m, const void *key, size_t klen, uint64_t *val);
/* Insert or replace. 0 or ST_ENOMEM (map unchanged). Keys may be empty and
 * may hold any bytes. */
int st_hmap_put(st_hmap *m, const void *key, size_t klen, uint64_t val);
/* 1 removed, 0 absent. Never allocates. */
int st_hmap_del(st_hmap *m, const void *key, size_t klen);

/* Iteration in unspecified order: *pos starts at 0; returns 1 and fills key,
 * klen (borrowed from the map, valid until the next put/del) and val while
 * entries remain. The map must not change during iteration. */
int st_hmap_next(const st_hmap *m, size_t *pos, const void **key, size_t *klen, uint64_t *val);

#endif
