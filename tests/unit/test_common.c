/* tests/unit/test_common.c — err, alloc, arena, buf. */
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
    RUN(arena_basic);
    RUN(arena_oom_paths);
    RUN(buf_basic);
    return unit_done();
}
