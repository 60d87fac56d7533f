/* common/arena.c — bump allocator over a list of st_malloc'd blocks. */
#include "common/arena.h"

#include <stdint.h>
#include <string.h>

#include "common/alloc.h"

struct st_arena_block {
    st_arena_block *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

void st_arena_init(st_arena *a, size_t block_bytes)
{
    a->head = NULL;
    a->block_bytes = block_bytes ? block_bytes : 65536;
    a->used_bytes = 0;
    a->reserved_bytes = 0;
}

void st_arena_fini(st_arena *a)
{
    st_arena_block *b = a->head;
    while (b) {
        st_arena_block *next = b->next;
        st_free(b);
        b = next;
    }
    a->head = NULL;
    a->used_bytes = a->reserved_bytes = 0;
}

void st_arena_reset(st_arena *a)
{
    if (!a->head) return;
    st_arena_block *keep = a->head;
    while (keep->next) {
        st_arena_block *b = keep;
        keep = keep->next;
        a->head = keep;
        st_free(b);
    }
    keep->used = 0;
    a->used_bytes = 0;
    a->reserved_bytes = keep->cap;
}

static void *arena_take(st_arena *a, size_t n, size_t align)
{
    st_arena_block *b = a->head;
    if (b) {
        size_t off = (b->used + align - 1) & ~(align - 1);
        if (off <= b->cap && n <= b->cap - off) {
            b->used = off + n;
            a->used_bytes += n;
            return b->data + off;
        }
    }
    size_t cap = n > a->block_bytes ? n : a->block_bytes;
    if (cap > SIZE_MAX - sizeof(*b)) return NULL;
    st_arena_block *nb = st_malloc(sizeof(*nb) + cap);
    if (!nb) return NULL;
    nb->cap = cap;
    nb->used = n;
    /* A large one-off block goes second so the current block keeps filling. */
    if (b && n > a->block_bytes) {
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->head = nb;
    }
    a->reserved_bytes += cap;
    a->used_bytes += n;
    return nb->data;
}

void *st_arena_alloc(st_arena *a, size_t n) { return arena_take(a, n ? n : 1, 16); }
void *st_arena_alloc_bytes(st_arena *a, size_t n) { return arena_take(a, n ? n : 1, 1); }

char *st_arena_strndup(st_arena *a, const char *s, size_t n)
{
    char *d = arena_take(a, n + 1, 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}
