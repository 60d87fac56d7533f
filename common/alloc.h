/*
 * common/alloc.h — the allocator wrapper every module allocates through.
 *
 * Tests make the N-th allocation fail (st_alloc_fail_at) to walk every
 * out-of-memory path: call with N = 0, 1, 2... until the operation succeeds,
 * requiring a clean error and no leak each time. The counters are atomic;
 * any thread may allocate. They count only once tracking is on
 * (st_alloc_track or st_alloc_fail_at; the unit harness turns it on before
 * main): every core writing one shared line on every allocation costs the
 * server a few per cent of a query, so it runs with tracking off.
 */
#ifndef ST_ALLOC_H
#define ST_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *st_malloc(size_t n);
void *st_calloc(size_t count, size_t size);
void *st_realloc(void *p, size_t n);
void  st_free(void *p); /* accepts NULL */
char *st_strndup(const char *s, size_t n);
char *st_strdup(const char *s);

/* Make the array *pp (any T *, passed as &array) hold at least need
 * elements of elem bytes: the capacity doubles from `first` (or from *cap
 * when non-zero) until it does; realloc keeps the contents. 0, or
 * ST_ENOMEM (overflow or no memory) with the array and *cap unchanged. */
int st_grow(void *pp, size_t *cap, size_t need, size_t elem, size_t first);

/* Whole pages straight from the kernel (anonymous mmap), for memory that
 * must go back to the system the moment it is freed rather than stay in
 * the C library's free lists (the head's arena, storage/harena.h). n is
 * rounded up to st_page_bytes(); the pages read as zero. NULL when out of
 * memory. Counted and fault-injected like st_malloc; st_pages_free takes
 * the n given to st_pages_alloc and accepts NULL. */
void  *st_pages_alloc(size_t n);
void   st_pages_free(void *p, size_t n);
size_t st_page_bytes(void);

/* Count allocations from now on (tests; cannot be turned off). Memory
 * allocated before and freed after makes st_alloc_live lower: compare
 * differences. */
void     st_alloc_track(void);
/* Fault injection (tests); turns tracking on. fail_at = -1 disables. Allocation number N
 * (0-based, counted from this call) and, if sticky, every later one fail. */
void     st_alloc_fail_at(int64_t n, int sticky);
/* Allocations made since the last st_alloc_fail_at(). */
uint64_t st_alloc_count(void);
/* Live allocations through this wrapper (for leak checks in unit tests). */
int64_t  st_alloc_live(void);

#endif
