/*
 * storage/harena.h — the head's arena: bump allocation from regions of
 * whole pages mapped for one head (st_pages_alloc), all unmapped together
 * when the head goes.
 *
 * Why: a head's sealed chunks (storage/head.c) never change and never go
 * away before their head does. Packed end to end here they leave no holes,
 * and a flushed head hands every byte back to the system at once. From
 * malloc, the chunks' growing and shrinking buffers left a third of the
 * heap in holes between blocks (a 34 MiB head took 52 MiB), and a freed
 * head's memory stayed in the C library's free lists, scattered between
 * the next head's blocks, until a malloc_trim.
 *
 * Regions are HARENA_REGION_BYTES (1 MiB) and filled in order; an
 * allocation of a quarter region or more gets a region of its own (its
 * size rounded up to pages), so the current region keeps filling. Bytes
 * are not aligned (the head's streams are byte strings). Under
 * AddressSanitizer the free part of a region is poisoned and allocations
 * are 8-aligned with a poisoned gap after each, so a read past an
 * allocation's end is reported.
 *
 * Accounting: `bytes` is what the arena can hold resident: the part of
 * each region in use (header included) rounded up to whole pages — the
 * kernel backs an anonymous mapping only where it was touched. `mapped`
 * is the address space held. Both only grow until harena_fini: memory
 * handed out is never reused (a head rebuilding a chunk leaves the old
 * copy here, counted; once such garbage is half the arena the head copies
 * its live chunks into a fresh arena and finishes this one).
 *
 * Threads: none of its own; one owner (the head's write lock covers it).
 */
#ifndef ST_HARENA_H
#define ST_HARENA_H

#include <stddef.h>

#define HARENA_REGION_BYTES ((size_t)1 << 20)

typedef struct harena_region harena_region;

typedef struct harena {
    harena_region *cur;  /* owned: every region, the one being filled first */
    size_t bytes;        /* resident at most: used pages of every region */
    size_t mapped;       /* mapped bytes of every region */
} harena;

/* Caller's storage; no allocation here. */
void harena_init(harena *a);
/* Unmap every region: everything handed out is gone. */
void harena_fini(harena *a);
/* n bytes (n 0 counts as 1), valid until harena_fini; NULL when out of
 * memory (the arena is unchanged). */
void *harena_alloc(harena *a, size_t n);

#endif
