/* tests/unit/test_common.c — err, alloc (and st_grow), arena, buf. */
#include <stdint.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/point.h"
#include "common/utf8.h"
#include "tests/unit/unit.h"

TEST(err_texts)
{
    CHECK_EQ_STR(st_strerror(0), "success");
    CHECK_EQ_STR(st_strerror(ST_ENOMEM), "out of memory");
    CHECK_EQ_STR(st_errname(ST_ENOSPC), "ENOSPC");
    CHECK_EQ_STR(st_strerror(-9999), "unknown error");
    CHECK(ST_ENOMEM < 0 && ST_EINVAL < 0 && ST_ENOMEM != ST_EINVAL);
    CHECK_EQ_INT(st_from_errno(28 /* ENOSPC */), ST_ENOSPC);
}

TEST(type_names)
{
    CHECK_EQ_STR(st_type_name(ST_TYPE_FLOAT), "float");
    CHECK_EQ_STR(st_type_name(ST_TYPE_INT), "integer");
    CHECK_EQ_STR(st_type_name(ST_TYPE_UINT), "unsigned");
    CHECK_EQ_STR(st_type_name(ST_TYPE_BOOL), "boolean");
    CHECK_EQ_STR(st_type_name(ST_TYPE_STRING), "string");
}

TEST(alloc_fail_nth)
{
    st_alloc_fail_at(1, 0);
    void *a = st_malloc(10);
    void *b = st_malloc(10);
    void *c = st_malloc(10);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    st_free(a);
    st_free(c);
    st_alloc_fail_at(-1, 0);
}

/* The harness turns counting on before main (unit.h): live and count move
 * with every allocation, so the leak checks of every unit test mean it. */
TEST(alloc_tracked)
{
    int64_t live0 = st_alloc_live();
    uint64_t n0 = st_alloc_count();
    void *a = st_malloc(10);
    void *b = st_pages_alloc(1);
    CHECK_EQ_INT(st_alloc_live(), live0 + 2);
    CHECK_EQ_U64(st_alloc_count(), n0 + 2);
    st_free(a);
    st_pages_free(b, 1);
    CHECK_EQ_INT(st_alloc_live(), live0);
}

/* element i of the arrays st_grow moves about */
static uint32_t grow_val(size_t i) { return (uint32_t)(i * 2654435761u + 7); }

TEST(grow_array)
{
    int64_t live0 = st_alloc_live();
    uint32_t *a = NULL;
    size_t cap = 0;
    /* from 0: starts at `first` and doubles until need fits */
    CHECK_EQ_INT(st_grow(&a, &cap, 1, sizeof *a, 16), 0);
    REQUIRE(a != NULL);
    CHECK_EQ_U64(cap, 16);
    for (size_t i = 0; i < cap; i++) a[i] = grow_val(i);
    /* need already met: no allocation, nothing moves */
    uint32_t *same = a;
    st_alloc_fail_at(-1, 0);
    CHECK_EQ_INT(st_grow(&a, &cap, 16, sizeof *a, 16), 0);
    CHECK_EQ_INT(st_grow(&a, &cap, 0, sizeof *a, 16), 0);
    CHECK(a == same);
    CHECK_EQ_U64(cap, 16);
    CHECK_EQ_U64(st_alloc_count(), 0);
    /* from non-zero: doubles from *cap (first is ignored), keeps contents */
    CHECK_EQ_INT(st_grow(&a, &cap, 17, sizeof *a, 4), 0);
    CHECK_EQ_U64(cap, 32);
    CHECK_EQ_INT(st_grow(&a, &cap, 100, sizeof *a, 4), 0);
    CHECK_EQ_U64(cap, 128);
    for (size_t i = 0; i < 16; i++) CHECK_EQ_U64(a[i], grow_val(i));
    for (size_t i = 0; i < cap; i++) a[i] = grow_val(i);
    same = a;
    /* overflow of need * elem, and of the doubling itself */
    CHECK_EQ_INT(st_grow(&a, &cap, SIZE_MAX / sizeof *a + 1, sizeof *a, 16), ST_ENOMEM);
    CHECK_EQ_INT(st_grow(&a, &cap, SIZE_MAX, sizeof *a, 16), ST_ENOMEM);
    CHECK_EQ_INT(st_grow(&a, &cap, SIZE_MAX / 2 + 2, 1, 16), ST_ENOMEM);
    CHECK(a == same);
    CHECK_EQ_U64(cap, 128);
    /* the allocation fails: array, contents and cap as they were */
    st_alloc_fail_at(0, 0);
    CHECK_EQ_INT(st_grow(&a, &cap, 129, sizeof *a, 16), ST_ENOMEM);
    CHECK(a == same);
    CHECK_EQ_U64(cap, 128);
    for (size_t i = 0; i < cap; i++) CHECK_EQ_U64(a[i], grow_val(i));
    /* ...and succeeds on the next call */
    CHECK_EQ_INT(st_grow(&a, &cap, 129, sizeof *a, 16), 0);
    CHECK_EQ_U64(cap, 256);
    for (size_t i = 0; i < 128; i++) CHECK_EQ_U64(a[i], grow_val(i));
    st_free(a);
    /* a first allocation that fails leaves NULL and 0 */
    uint32_t *b = NULL;
    size_t bcap = 0;
    st_alloc_fail_at(0, 0);
    CHECK_EQ_INT(st_grow(&b, &bcap, 3, sizeof *b, 4), ST_ENOMEM);
    CHECK(b == NULL);
    CHECK_EQ_U64(bcap, 0);
    st_alloc_fail_at(-1, 0);
    CHECK_EQ_INT(st_alloc_live(), live0);
}

TEST(arena_basic)
{
    int64_t live0 = st_alloc_live();
    st_arena a;
    st_arena_init(&a, 128);
    char *s = st_arena_strndup(&a, "hello", 5);
    CHECK_EQ_STR(s, "hello");
    void *big = st_arena_alloc(&a, 1000);
    CHECK(big != NULL);
    CHECK(((uintptr_t)big & 15) == 0);
    for (int i = 0; i < 100; i++) {
        uint64_t *p = st_arena_alloc(&a, 24);
        REQUIRE(p != NULL);
        CHECK(((uintptr_t)p & 15) == 0);
        *p = (uint64_t)i;
    }
    CHECK_EQ_STR(s, "hello");
    st_arena_reset(&a);
    CHECK(st_arena_alloc(&a, 10) != NULL);
    st_arena_fini(&a);
    CHECK_EQ_INT(st_alloc_live(), live0);
}

TEST(arena_oom_paths)
{
    for (int n = 0; n < 10; n++) {
        st_alloc_fail_at(n, 1);
        st_arena a;
        st_arena_init(&a, 64);
        int ok = 1;
        for (int i = 0; i < 20 && ok; i++) ok = st_arena_alloc(&a, 50) != NULL;
        st_arena_fini(&a);
        st_alloc_fail_at(-1, 0);
    }
    CHECK_EQ_INT(st_alloc_live(), 0);
}

TEST(buf_basic)
{
    st_buf b;
    st_buf_init(&b);
    CHECK_EQ_INT(st_buf_append_str(&b, "abc"), 0);
    CHECK_EQ_INT(st_buf_printf(&b, "-%d-%s", 42, "x"), 0);
    CHECK_EQ_STR(b.ptr, "abc-42-x");
    char longs[1000];
    memset(longs, 'z', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    CHECK_EQ_INT(st_buf_printf(&b, "%s", longs), 0);
    CHECK_EQ_INT(b.len, 8 + 999);
    st_buf_clear(&b);
    st_buf_put_u32le(&b, 0x01020304);
    st_buf_put_uvarint(&b, 300);
    CHECK_EQ_INT(b.len, 6);
    CHECK((unsigned char)b.ptr[0] == 4 && (unsigned char)b.ptr[3] == 1);
    CHECK((unsigned char)b.ptr[4] == 0xAC && (unsigned char)b.ptr[5] == 0x02);
    st_buf_fini(&b);
    CHECK_EQ_INT(st_alloc_live(), 0);
}

TEST(utf8_validation)
{
    CHECK(st_utf8_valid("", 0));
    CHECK(st_utf8_valid("plain ascii text, longer than eight", 35));
    CHECK(st_utf8_valid("temp\xc2\xb0" "C", 7));              /* degree sign */
    CHECK(st_utf8_valid("\xe2\x82\xac \xf0\x9f\x98\x80", 8)); /* euro, emoji */
    CHECK(!st_utf8_valid("\xff", 1));
    CHECK(!st_utf8_valid("ab\xc0\xaf", 4));                /* overlong '/' */
    CHECK(!st_utf8_valid("\xed\xa0\x80", 3));             /* surrogate */
    CHECK(!st_utf8_valid("\xf4\x90\x80\x80", 4));         /* > U+10FFFF */
    CHECK(!st_utf8_valid("abcdefgh\xe2\x82", 10));         /* truncated */
    CHECK(!st_utf8_valid("\x80" "abc", 4));                    /* lone continuation */
}

int main(void)
{
    RUN(utf8_validation);
    RUN(err_texts);
    RUN(type_names);
    RUN(alloc_fail_nth);
    RUN(alloc_tracked);
    RUN(grow_array);
    RUN(arena_basic);
    RUN(arena_oom_paths);
    RUN(buf_basic);
    return unit_done();
}
