/* storage/harena.c — the head's arena (see harena.h). */
#include "storage/harena.h"

#include <stdint.h>

#include "common/alloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define HARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARENA_ASAN 1
#endif
#endif

#ifdef HARENA_ASAN
#include <sanitizer/asan_interface.h>
#define HARENA_ALIGN 8
#define HARENA_GAP 16
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define HARENA_ALIGN 1
#define HARENA_GAP 0
#endif

struct harena_region {
    harena_region *next;
    size_t size;   /* mapped bytes */
    size_t used;   /* bytes in use from the region's start, this header included */
};

/* The header, rounded so that allocations start 16-aligned. */
#define HARENA_HDR ((sizeof(harena_region) + 15) & ~(size_t)15)

static size_t pages_of(size_t n)
{
    size_t pg = st_page_bytes();
    return (n + pg - 1) / pg * pg;
}

void harena_init(harena *a)
{
    a->cur = NULL;
    a->bytes = 0;
    a->mapped = 0;
}

void harena_fini(harena *a)
{
    harena_region *r = a->cur;
    while (r) {
        harena_region *next = r->next;
        size_t size = r->size;
        ASAN_UNPOISON_MEMORY_REGION(r, size);
        st_pages_free(r, size);
        r = next;
    }
    harena_init(a);
}

/* Take n bytes at the region's first free aligned offset (room checked). */
static void *take(harena *a, harena_region *r, size_t off, size_t n)
{
    size_t before = pages_of(r->used);
    unsigned char *p = (unsigned char *)r + off;
    r->used = off + n + HARENA_GAP;
    if (r->used > r->size) r->used = r->size; /* the gap may run past the end */
    a->bytes += pages_of(r->used) - before;
    ASAN_UNPOISON_MEMORY_REGION(p, n);
    return p;
}

void *harena_alloc(harena *a, size_t n)
{
    if (!n) n = 1;
    harena_region *r = a->cur;
    if (r) {
        size_t off = (r->used + HARENA_ALIGN - 1) & ~(size_t)(HARENA_ALIGN - 1);
        if (off <= r->size && n <= r->size - off) return take(a, r, off, n);
    }
    if (n > SIZE_MAX / 2 - HARENA_HDR - HARENA_GAP) return NULL;
    size_t want = HARENA_HDR + n + HARENA_GAP;
    int own = want > HARENA_REGION_BYTES / 4;
    size_t size = own ? pages_of(want) : HARENA_REGION_BYTES;
    harena_region *nr = st_pages_alloc(size);
    if (!nr) return NULL;
    nr->size = size;
    nr->used = HARENA_HDR;
    ASAN_POISON_MEMORY_REGION((unsigned char *)nr + HARENA_HDR, size - HARENA_HDR);
    a->mapped += size;
    a->bytes += pages_of(HARENA_HDR);
    if (own && r) {
        /* A region of its own goes second: the current one keeps filling. */
        nr->next = r->next;
        r->next = nr;
    } else {
        nr->next = r;
        a->cur = nr;
    }
    return take(a, nr, HARENA_HDR, n);
}
