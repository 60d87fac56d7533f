/*
 * tests/unit/test_harena.c — the head's arena: what it hands out keeps
 * its bytes until fini, allocations pack regions in order, a large one
 * gets a region of its own without ending the current one, `bytes` is the
 * used pages (never less than what was handed out, never more than what
 * is mapped), and allocation failures leave the arena unchanged and
 * leak nothing.
 */
#include <stdint.h>
#include <string.h>

#include "common/alloc.h"
#include "storage/harena.h"
#include "tests/unit/unit.h"

/* Sizes from a formula: mostly chunk-sized, some tiny, a few large. */
static size_t size_of(size_t i)
{
    if (i % 97 == 5) return HARENA_REGION_BYTES / 2 + i; /* a region of its own */
    if (i % 7 == 0) return 1 + i % 13;
    return 200 + (i * 2654435761u) % 4000;
}

static unsigned char byte_of(size_t i, size_t j) { return (unsigned char)(i * 31 + j * 7); }

TEST(contents_kept_and_bytes_bounded)
{
    int64_t live = st_alloc_live();
    harena a;
    harena_init(&a);
    enum { N = 3000 };
    static unsigned char *p[N];
    size_t given = 0;
    for (size_t i = 0; i < N; i++) {
        size_t n = size_of(i);
        p[i] = harena_alloc(&a, n);
        REQUIRE(p[i] != NULL);
        for (size_t j = 0; j < n; j++) p[i][j] = byte_of(i, j);
        given += n;
        CHECK(a.bytes >= given);
        CHECK(a.bytes <= a.mapped);
    }
    int ok = 1;
    for (size_t i = 0; i < N && ok; i++)
        for (size_t j = 0; j < size_of(i) && ok; j++) ok = p[i][j] == byte_of(i, j);
    CHECK(ok);
    /* Packed: the used pages exceed what was handed out by at most one
     * region's tail per region plus headers and page rounding. */
    size_t regions = a.mapped / HARENA_REGION_BYTES + N / 97 + 2;
    CHECK(a.bytes - given <= regions * (4096 + 64) + (size_t)N * 24);
    harena_fini(&a);
    CHECK_EQ_U64(a.bytes, 0);
    CHECK_EQ_U64(a.mapped, 0);
    CHECK_EQ_INT(st_alloc_live(), live);
}

TEST(large_allocation_keeps_current_region)
{
    harena a;
    harena_init(&a);
    unsigned char *x = harena_alloc(&a, 100);
    REQUIRE(x != NULL);
    size_t mapped = a.mapped;
    unsigned char *big = harena_alloc(&a, HARENA_REGION_BYTES * 3);
    REQUIRE(big != NULL);
    CHECK(a.mapped >= mapped + HARENA_REGION_BYTES * 3);
    memset(big, 0xab, HARENA_REGION_BYTES * 3);
    unsigned char *y = harena_alloc(&a, 100);
    REQUIRE(y != NULL);
    /* The next small one comes from the first region, after x. */
    CHECK(y > x && y < x + HARENA_REGION_BYTES);
    CHECK_EQ_INT(harena_alloc(&a, 0) != NULL, 1);
    harena_fini(&a);
}

TEST(oom_leaves_arena_unchanged)
{
    int64_t live = st_alloc_live();
    for (int nth = 0; nth < 8; nth++) {
        harena a;
        harena_init(&a);
        st_alloc_fail_at(nth, 1);
        size_t got = 0;
        for (size_t i = 0; i < 2000; i++) {
            size_t bytes = a.bytes, mapped = a.mapped;
            unsigned char *q = harena_alloc(&a, size_of(i));
            if (!q) {
                CHECK_EQ_U64(a.bytes, bytes);
                CHECK_EQ_U64(a.mapped, mapped);
                continue;
            }
            memset(q, 1, size_of(i));
            got++;
        }
        st_alloc_fail_at(-1, 0);
        CHECK(got > 0 || nth == 0);
        harena_fini(&a);
        CHECK_EQ_INT(st_alloc_live(), live);
    }
}

TEST(pages_counted_and_zeroed)
{
    int64_t live = st_alloc_live();
    size_t pg = st_page_bytes();
    CHECK(pg >= 4096 && (pg & (pg - 1)) == 0);
    unsigned char *p = st_pages_alloc(pg + 1);
    REQUIRE(p != NULL);
    CHECK_EQ_INT(st_alloc_live(), live + 1);
    int zero = 1;
    for (size_t i = 0; i < 2 * pg; i++) zero &= p[i] == 0;
    CHECK(zero);
    p[2 * pg - 1] = 1; /* the rounded-up length is ours */
    st_pages_free(p, pg + 1);
    st_pages_free(NULL, 10);
    CHECK_EQ_INT(st_alloc_live(), live);
    st_alloc_fail_at(0, 0);
    CHECK(st_pages_alloc(10) == NULL);
    st_alloc_fail_at(-1, 0);
}

int main(void)
{
    RUN(contents_kept_and_bytes_bounded);
    RUN(large_allocation_keeps_current_region);
    RUN(oom_leaves_arena_unchanged);
    RUN(pages_counted_and_zeroed);
    return unit_done();
}
