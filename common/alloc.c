/* common/alloc.c — malloc wrapper with N-th-call fault injection (tests).
 *
 * The counters are shared by every thread, so counting is a cache line
 * that every allocation on every core writes. It is off until a test turns
 * it on (st_alloc_track, st_alloc_fail_at); the server never does, and its
 * threads then only read the flag. */
#include "common/alloc.h"

#include "common/err.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static _Atomic int tracking;
static _Atomic int64_t fail_at = -1;
static _Atomic int fail_sticky;
static _Atomic uint64_t alloc_calls;
static _Atomic int64_t live;

static inline int is_tracking(void) { return atomic_load_explicit(&tracking, memory_order_relaxed); }

static int should_fail(void)
{
    if (!is_tracking()) return 0;
    uint64_t n = atomic_fetch_add(&alloc_calls, 1);
    int64_t f = atomic_load(&fail_at);
    if (f < 0) return 0;
    if ((int64_t)n == f) return 1;
    return atomic_load(&fail_sticky) && (int64_t)n > f;
}

void st_alloc_track(void) { atomic_store(&tracking, 1); }

void st_alloc_fail_at(int64_t n, int sticky)
{
    st_alloc_track();
    atomic_store(&alloc_calls, 0);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_at, n);
}

uint64_t st_alloc_count(void) { return atomic_load(&alloc_calls); }
int64_t st_alloc_live(void) { return atomic_load(&live); }

void *st_malloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = malloc(n ? n : 1);
    if (p && is_tracking()) atomic_fetch_add(&live, 1);
    return p;
}

void *st_calloc(size_t count, size_t size)
{
    if (should_fail()) return NULL;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p && is_tracking()) atomic_fetch_add(&live, 1);
    return p;
}

void *st_realloc(void *p, size_t n)
{
    if (!p) return st_malloc(n);
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void st_free(void *p)
{
    if (!p) return;
    if (is_tracking()) atomic_fetch_sub(&live, 1);
    free(p);
}

char *st_strndup(const char *s, size_t n)
{
    char *d = st_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *st_strdup(const char *s) { return st_strndup(s, strlen(s)); }

size_t st_page_bytes(void)
{
    static _Atomic size_t page;
    size_t p = atomic_load_explicit(&page, memory_order_relaxed);
    if (!p) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&page, p, memory_order_relaxed);
    }
    return p;
}

static size_t page_round(size_t n)
{
    size_t pg = st_page_bytes();
    return n > SIZE_MAX - pg ? 0 : (n + pg - 1) / pg * pg;
}

void *st_pages_alloc(size_t n)
{
    if (should_fail()) return NULL;
    size_t len = page_round(n ? n : 1);
    if (!len) return NULL;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (is_tracking()) atomic_fetch_add(&live, 1);
    return p;
}

void st_pages_free(void *p, size_t n)
{
    if (!p) return;
    if (is_tracking()) atomic_fetch_sub(&live, 1);
    munmap(p, page_round(n ? n : 1));
}

int st_grow(void *pp, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : (first ? first : 1);
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return ST_ENOMEM;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem) return ST_ENOMEM;
    /* pp is a T **; going through memcpy reads and writes it as the
     * object it is, with no cast to void ** */
    void *p;
    memcpy(&p, pp, sizeof p);
    void *q = st_realloc(p, nc * elem);
    if (!q) return ST_ENOMEM;
    memcpy(pp, &q, sizeof q);
    *cap = nc;
    return 0;
}
