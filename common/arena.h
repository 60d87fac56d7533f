/*
 * common/arena.h — bump allocator: one per request (parse results, plan,
 * response scratch), freed in one call. Not thread-safe; one owner thread.
 *
 * Blocks come from st_malloc; an allocation larger than the block size gets
 * a block of its own. st_arena_reset keeps the first block for reuse.
 */
#ifndef ST_ARENA_H
#define ST_ARENA_H

#include <stddef.h>

typedef struct st_arena_block st_arena_block;

typedef struct st_arena {
    st_arena_block *head;   /* owned; newest block first */
    size_t block_bytes;     /* default size of a new block */
    size_t used_bytes;      /* bytes handed out since init/reset */
    size_t reserved_bytes;  /* bytes held in blocks */
} st_arena;

/* Caller's storage; block_bytes 0 -> 64 KiB. No allocation happens here. */
void  st_arena_init(st_arena *a, size_t block_bytes);
/* Free every block. */
void  st_arena_fini(st_arena *a);
/* Free all but the first block and forget everything handed out. */
void  st_arena_reset(st_arena *a);
/* 16-byte aligned; NULL when out of memory. */
void *st_arena_alloc(st_arena *a, size_t n);
/* Unaligned (for strings). */
void *st_arena_alloc_bytes(st_arena *a, size_t n);
/* Copy n bytes (+ NUL) into the arena. */
char *st_arena_strndup(st_arena *a, const char *s, size_t n);

#endif
