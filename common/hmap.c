/*
 * common/hmap.c — Robin Hood hash map (see hmap.h).
 *
 * Owns its slot table and a key slab. A slot with hash 0 is empty (real
 * hashes are forced non-zero). A slot's probe distance is derived from its
 * stored hash, so slots stay 32 bytes. Deleted keys leave dead bytes in the
 * slab; the slab is compacted (copied live-only) when it must grow and at
 * least half of it is dead. Single owner thread.
 */
#include "common/hmap.h"

#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"

typedef struct hslot {
    uint64_t hash; /* 0 = empty */
    uint64_t val;
    size_t   koff; /* offset of the key in the slab */
    size_t   klen;
} hslot;

struct st_hmap {
    hslot *slots;   /* owned; cap entries, cap a power of two */
    size_t cap, mask, count;
    char  *slab;    /* owned; key bytes */
    size_t slab_len, slab_cap, slab_dead;
    uint64_t seed;
};

#define P0 0xa0761d6478bd642fULL
#define P1 0xe7037ed1a0b428dbULL
#define P2 0x8ebc6af09c88c6e3ULL
#define P3 0x589965cc75374cc3ULL

static inline uint64_t mulfold(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint64_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

uint64_t st_hash_bytes(const void *key, size_t n, uint64_t seed)
{
    const unsigned char *p = key;
    uint64_t a, b;
    seed ^= mulfold(seed ^ P0, P1);
    if (n <= 16) {
        if (n >= 4) {
            size_t q = (n >> 3) << 2; /* 0 or 4: two overlapping 4-byte reads each end */
            a = (rd32(p) << 32) | rd32(p + q);
            b = (rd32(p + n - 4) << 32) | rd32(p + n - 4 - q);
        } else if (n > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = n;
        if (i > 48) {
            uint64_t s1 = seed, s2 = seed;
            do {
                seed = mulfold(rd64(p) ^ P1, rd64(p + 8) ^ seed);
                s1 = mulfold(rd64(p + 16) ^ P2, rd64(p + 24) ^ s1);
                s2 = mulfold(rd64(p + 32) ^ P3, rd64(p + 40) ^ s2);
                p += 48;
                i -= 48;
            } while (i > 48);
            seed ^= s1 ^ s2;
        }
        while (i > 16) {
            seed = mulfold(rd64(p) ^ P1, rd64(p + 8) ^ seed);
            i -= 16;
            p += 16;
        }
        a = rd64(p + i - 16);
        b = rd64(p + i - 8);
    }
    a ^= P1;
    b ^= seed;
    __uint128_t r = (__uint128_t)a * b;
    a = (uint64_t)r;
    b = (uint64_t)(r >> 64);
    return mulfold(a ^ P0 ^ (uint64_t)n, b ^ P1);
}

static inline uint64_t map_hash(const st_hmap *m, const void *key, size_t klen)
{
    uint64_t h = st_hash_bytes(key, klen, m->seed);
    return h ? h : 1;
}

/* Smallest power of two >= 8 whose 80% holds n entries. */
static size_t cap_for(size_t n)
{
    size_t cap = 8;
    while (cap < ((size_t)1 << (sizeof(size_t) * 8 - 2)) && cap / 5 * 4 < n) cap <<= 1;
    return cap;
}

int st_hmap_create(size_t initial_cap, st_hmap **out)
{
    st_hmap *m = st_calloc(1, sizeof *m);
    if (!m) return ST_ENOMEM;
    m->cap = cap_for(initial_cap);
    m->mask = m->cap - 1;
    m->slots = st_calloc(m->cap, sizeof(hslot));
    if (!m->slots) {
        st_free(m);
        return ST_ENOMEM;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s[2] = { (uint64_t)(uintptr_t)m, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec };
    m->seed = st_hash_bytes(s, sizeof s, P2);
    *out = m;
    return 0;
}

void st_hmap_destroy(st_hmap *m)
{
    if (!m) return;
    st_free(m->slots);
    st_free(m->slab);
    st_free(m);
}

size_t st_hmap_count(const st_hmap *m) { return m->count; }

size_t st_hmap_bytes(const st_hmap *m)
{
    return sizeof *m + m->cap * sizeof(hslot) + m->slab_cap;
}

static inline size_t slot_dist(const st_hmap *m, size_t pos, uint64_t h)
{
    return (pos - (size_t)h) & m->mask;
}

/* Index of the key's slot, or SIZE_MAX. */
static inline size_t find(const st_hmap *m, uint64_t h, const void *key, size_t klen)
{
    size_t pos = (size_t)h & m->mask;
    for (size_t d = 0;; d++, pos = (pos + 1) & m->mask) {
        const hslot *s = &m->slots[pos];
        if (s->hash == 0 || slot_dist(m, pos, s->hash) < d) return SIZE_MAX;
        if (s->hash == h && s->klen == klen && (klen == 0 || memcmp(m->slab + s->koff, key, klen) == 0))
            return pos;
    }
}

int st_hmap_get(const st_hmap *m, const void *key, size_t klen, uint64_t *val)
{
    size_t pos = find(m, map_hash(m, key, klen), key, klen);
    if (pos == SIZE_MAX) return 0;
    if (val) *val = m->slots[pos].val;
    return 1;
}

/* Place a slot known to be absent; the table has room. */
static void place(hslot *slots, size_t mask, hslot e)
{
    size_t pos = (size_t)e.hash & mask;
    size_t d = 0;
    for (;;) {
        hslot *s = &slots[pos];
        if (s->hash == 0) {
            *s = e;
            return;
        }
        size_t sd = (pos - (size_t)s->hash) & mask;
        if (sd < d) { /* rich slot gives way to the poorer entry */
            hslot t = *s;
            *s = e;
            e = t;
            d = sd;
        }
        pos = (pos + 1) & mask;
        d++;
    }
}

static int grow_table(st_hmap *m)
{
    if (m->cap > SIZE_MAX / 2 / sizeof(hslot)) return ST_ENOMEM;
    size_t ncap = m->cap * 2;
    hslot *ns = st_calloc(ncap, sizeof(hslot));
    if (!ns) return ST_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].hash) place(ns, ncap - 1, m->slots[i]);
    st_free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->mask = ncap - 1;
    return 0;
}

/* Room for n more key bytes in the slab. */
static int slab_reserve(st_hmap *m, size_t n)
{
    if (n <= m->slab_cap - m->slab_len) return 0;
    size_t live = m->slab_len - m->slab_dead;
    if (n > SIZE_MAX / 4 - live) return ST_ENOMEM;
    if (m->slab_dead >= m->slab_len / 2 && m->slab_dead > 0) {
        /* Compact into a fresh slab: the old one stays valid until we succeed. */
        size_t ncap = (live + n) * 2;
        if (ncap < 256) ncap = 256;
        char *ns = st_malloc(ncap);
        if (!ns) return ST_ENOMEM;
        size_t off = 0;
        for (size_t i = 0; i < m->cap; i++) {
            hslot *s = &m->slots[i];
            if (!s->hash) continue;
            memcpy(ns + off, m->slab + s->koff, s->klen);
            s->koff = off;
            off += s->klen;
        }
        st_free(m->slab);
        m->slab = ns;
        m->slab_cap = ncap;
        m->slab_len = off;
        m->slab_dead = 0;
        return 0;
    }
    return st_grow(&m->slab, &m->slab_cap, m->slab_len + n, 1, 256);
}

int st_hmap_put(st_hmap *m, const void *key, size_t klen, uint64_t val)
{
    uint64_t h = map_hash(m, key, klen);
    size_t pos = find(m, h, key, klen);
    if (pos != SIZE_MAX) {
        m->slots[pos].val = val;
        return 0;
    }
    /* Both allocations happen before anything visible changes. */
    if ((m->count + 1) > m->cap / 5 * 4) {
        int rc = grow_table(m);
        if (rc) return rc;
    }
    int rc = slab_reserve(m, klen);
    if (rc) return rc;
    hslot e = { h, val, m->slab_len, klen };
    if (klen) memcpy(m->slab + m->slab_len, key, klen);
    m->slab_len += klen;
    place(m->slots, m->mask, e);
    m->count++;
    return 0;
}

int st_hmap_del(st_hmap *m, const void *key, size_t klen)
{
    size_t pos = find(m, map_hash(m, key, klen), key, klen);
    if (pos == SIZE_MAX) return 0;
    m->slab_dead += m->slots[pos].klen;
    /* Backward shift: pull each displaced successor one step home. */
    for (;;) {
        size_t next = (pos + 1) & m->mask;
        hslot *n = &m->slots[next];
        if (n->hash == 0 || slot_dist(m, next, n->hash) == 0) break;
        m->slots[pos] = *n;
        pos = next;
    }
    memset(&m->slots[pos], 0, sizeof(hslot));
    m->count--;
    if (m->count == 0) { /* everything is dead: reuse the slab from the start */
        m->slab_len = 0;
        m->slab_dead = 0;
    }
    return 1;
}

int st_hmap_next(const st_hmap *m, size_t *pos, const void **key, size_t *klen, uint64_t *val)
{
    for (size_t i = *pos; i < m->cap; i++) {
        const hslot *s = &m->slots[i];
        if (!s->hash) continue;
        *key = s->klen ? (const void *)(m->slab + s->koff) : (const void *)"";
        *klen = s->klen;
        *val = s->val;
        *pos = i + 1;
        return 1;
    }
    *pos = m->cap;
    return 0;
}
