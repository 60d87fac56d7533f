/* tests/unit/test_head_lines.c — the in-memory head (storage/head.h): whole lines
 * appended by position agree with value-by-value appends, whatever the
 * field order, through drops and range deletes. Values are f(field, t). */
#include "storage/head.h"

#include <stdlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "unit.h"

static double val(uint64_t field, int64_t t) { return (double)field * 1000.0 + (double)t / 8.0; }

/* Column (s, f) holds exactly the times t0, t0 + step, ... (n of them) with val(f, t). */
static int column_is(head *h, uint64_t s, uint64_t f, int64_t t0, int64_t step, size_t n)
{
    head_points p;
    head_points_init(&p);
    int ok = head_read(h, s, f, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &p) == 0 && p.n == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = p.ts[i] == t0 + (int64_t)i * step && p.vals[i].type == ST_TYPE_FLOAT && p.vals[i].v.f == val(f, p.ts[i]);
    head_points_fini(&p);
    return ok;
}

static size_t line(head *h, uint64_t s, int64_t t, const uint64_t *fields, size_t n)
{
    st_value v[16];
    for (size_t i = 0; i < n; i++) { v[i].type = ST_TYPE_FLOAT; v[i].v.f = val(fields[i], t); }
    size_t took = 0;
    head_lock_write(h);
    int rc = head_append_line(h, s, t, 0, n, fields, v, &took);
    head_unlock_write(h);
    return rc ? (size_t)-1 : took;
}

TEST(line_append_any_field_order)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    static const uint64_t a[] = { 1, 2, 3 }, b[] = { 3, 1, 2 }, c[] = { 2, 4 }, d[] = { 4, 3, 2, 1 };
    for (int64_t t = 0; t < 40; t += 4) {
        CHECK_EQ_U64(line(h, 7, t, a, 3), 3);     /* the usual shape */
        CHECK_EQ_U64(line(h, 7, t + 1, b, 3), 3); /* reordered */
        CHECK_EQ_U64(line(h, 7, t + 2, c, 2), 2); /* a subset, a new field */
        CHECK_EQ_U64(line(h, 7, t + 3, d, 4), 4);
        CHECK_EQ_U64(line(h, 9, t, d, 4), 4);     /* another series, same field ids */
    }
    CHECK(column_is(h, 7, 1, 0, 1, 40) == 0); /* field 1 misses t % 4 == 2 */
    head_points p;
    head_points_init(&p);
    REQUIRE(head_read(h, 7, 1, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &p) == 0);
    CHECK_EQ_U64(p.n, 30);
    head_points_fini(&p);
    CHECK(column_is(h, 7, 2, 0, 1, 40));
    CHECK(column_is(h, 9, 4, 0, 4, 10));
    CHECK_EQ_U64(head_points_count(h), 10 * (3 + 3 + 2 + 4 + 4));
    uint64_t *pairs;
    size_t n;
    REQUIRE(head_columns(h, &pairs, &n) == 0);
    CHECK_EQ_U64(n, 8); /* 4 fields x 2 series, each once */
    st_free(pairs);
    head_destroy(h);
}

TEST(line_append_skips_type_conflicts)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    static const uint64_t f[] = { 1, 2 };
    CHECK_EQ_U64(line(h, 1, 10, f, 2), 2);
    st_value v[2] = { { .type = ST_TYPE_INT, .v.i = 5 }, { .type = ST_TYPE_FLOAT, .v.f = val(2, 11) } };
    size_t took = 0;
    head_lock_write(h);
    CHECK_EQ_INT(head_append_line(h, 1, 11, 0, 2, f, v, &took), 0);
    head_unlock_write(h);
    CHECK_EQ_U64(took, 1);
    CHECK(column_is(h, 1, 1, 10, 1, 1));
    CHECK(column_is(h, 1, 2, 10, 1, 2));
    head_destroy(h);
}

TEST(line_append_after_drop_and_delete)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    static const uint64_t f[] = { 1, 2, 3 };
    for (int64_t t = 0; t < 10; t++) CHECK_EQ_U64(line(h, 5, t, f, 3), 3);
    head_drop_series(h, 5);
    CHECK(column_is(h, 5, 1, 0, 1, 0));
    for (int64_t t = 100; t < 110; t++) CHECK_EQ_U64(line(h, 5, t, f, 3), 3);
    CHECK(column_is(h, 5, 1, 100, 1, 10));
    CHECK(column_is(h, 5, 3, 100, 1, 10));
    REQUIRE(head_delete_range(h, 5, 100, 104) == 0);
    CHECK(column_is(h, 5, 2, 105, 1, 5));
    for (int64_t t = 110; t < 120; t++) CHECK_EQ_U64(line(h, 5, t, f, 3), 3);
    CHECK(column_is(h, 5, 2, 105, 1, 15));
    /* value by value lands in the same columns */
    st_value v = { .type = ST_TYPE_FLOAT, .v.f = val(3, 120) };
    head_lock_write(h);
    CHECK_EQ_INT(head_append(h, 5, 3, 120, &v, 0), 0);
    head_unlock_write(h);
    CHECK(column_is(h, 5, 3, 105, 1, 16));
    uint64_t *pairs;
    size_t n;
    REQUIRE(head_columns(h, &pairs, &n) == 0);
    CHECK_EQ_U64(n, 3);
    st_free(pairs);
    head_destroy(h);
}

/* Reads of a part of the in-order stream, with and without a repeated
 * time (the later write wins), and with an out-of-order point. */
TEST(read_ranges)
{
    head *h;
    REQUIRE(head_create(&h) == 0);
    static const uint64_t f[] = { 1 };
    for (int64_t t = 0; t < 100; t++) CHECK_EQ_U64(line(h, 1, t * 10, f, 1), 1);
    CHECK(column_is(h, 1, 1, 0, 10, 100));
    head_points p;
    head_points_init(&p);
    REQUIRE(head_read(h, 1, 1, 205, 499, &p) == 0);
    CHECK_EQ_U64(p.n, 29);
    for (size_t i = 0; i < p.n; i++) CHECK(p.ts[i] == 210 + (int64_t)i * 10 && p.vals[i].v.f == val(1, p.ts[i]));
    REQUIRE(head_read(h, 1, 1, 2000, 3000, &p) == 0);
    CHECK_EQ_U64(p.n, 0);
    st_value v = { .type = ST_TYPE_FLOAT, .v.f = -7 };
    head_lock_write(h);
    CHECK_EQ_INT(head_append(h, 1, 1, 990, &v, 0), 0); /* the same time as the last: in order, wins */
    head_unlock_write(h);
    REQUIRE(head_read(h, 1, 1, 900, 1000, &p) == 0);
    REQUIRE(p.n == 10);
    CHECK(p.ts[9] == 990 && p.vals[9].v.f == -7 && p.vals[8].v.f == val(1, 980));
    v.v.f = -8;
    head_lock_write(h);
    CHECK_EQ_INT(head_append(h, 1, 1, 15, &v, 0), 0); /* out of order */
    head_unlock_write(h);
    REQUIRE(head_read(h, 1, 1, 0, 30, &p) == 0);
    REQUIRE(p.n == 5);
    CHECK(p.ts[2] == 15 && p.vals[2].v.f == -8 && p.ts[4] == 30);
    head_points_fini(&p);
    head_destroy(h);
}

int main(void)
{
    RUN(line_append_any_field_order);
    RUN(line_append_skips_type_conflicts);
    RUN(line_append_after_drop_and_delete);
    RUN(read_ranges);
    return unit_done();
}
