/*
 * tests/unit/test_seg.c — segment files (storage/seg.h) and the block cache
 * (storage/bcache.h). Expected values come from formulas (value = f(series,
 * field, k)); special floats (NaN payloads, -0.0, Inf, subnormals,
 * extremes) are placed by index.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "storage/bcache.h"
#include "storage/io.h"
#include "storage/seg.h"
#include "storage/seg_format.h"
#include "unit.h"

static char g_tmp[256];

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            rm_rf(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static const char *fresh_dir(void)
{
    if (g_tmp[0]) rm_rf(g_tmp);
    if (!unit_tmpdir(g_tmp, sizeof g_tmp, "seg")) { perror("mkdtemp"); exit(2); }
    return g_tmp;
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l >= sl && !strcmp(e->d_name + l - sl, suffix)) n++;
    }
    if (d) closedir(d);
    return n;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static double dbits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static uint64_t ubits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* ---- the formulas ---- */

static int64_t ts_of(uint64_t s, uint64_t f, size_t k)
{
    /* Mostly regular 10 s, with jitter on some columns and a gap. */
    int64_t base = 1451606400000000000LL + (int64_t)(s * 1000 + f) * 1000;
    int64_t t = base + (int64_t)k * 10000000000LL;
    if ((s + f) % 3 == 1) t += (int64_t)(mix(s * 7919 + f * 31 + k) % 1000000);
    if (k > 500) t += 3600000000000LL;
    return t;
}

static st_type type_of(uint64_t f) { return (st_type)(1 + f % 5); }

static st_value val_of(uint64_t s, uint64_t f, size_t k, char *strbuf)
{
    st_value v;
    memset(&v, 0, sizeof v);
    v.type = type_of(f);
    uint64_t h = mix(s * 1000003 + f * 101 + k);
    switch (v.type) {
    case ST_TYPE_FLOAT:
        if ((s + f) % 2) v.v.f = dbits(h);                      /* any bits: NaN payloads included */
        else v.v.f = (double)((int64_t)(h % 20001) - 10000) / 100.0; /* decimal-friendly */
        switch (k % 97) {
        case 3: v.v.f = -0.0; break;
        case 5: v.v.f = dbits(0x7ff8000000000001ULL); break;       /* quiet NaN with payload */
        case 7: v.v.f = dbits(0xfff0000000000abcULL); break;       /* signalling NaN, negative */
        case 11: v.v.f = INFINITY; break;
        case 13: v.v.f = -INFINITY; break;
        case 17: v.v.f = dbits(1); break;                          /* smallest subnormal */
        case 19: v.v.f = 1.7976931348623157e308; break;
        case 23: v.v.f = -1.7976931348623157e308; break;
        default: break;
        }
        break;
    case ST_TYPE_INT:
        v.v.i = (int64_t)(h % 2000) - 1000 + (int64_t)k;
        if (k % 89 == 4) v.v.i = INT64_MIN;
        if (k % 89 == 9) v.v.i = INT64_MAX;
        break;
    case ST_TYPE_UINT:
        v.v.u = k * 3 + (h % 5);
        if (k % 83 == 2) v.v.u = UINT64_MAX;
        break;
    case ST_TYPE_BOOL:
        v.v.b = (h % 7) < 2;
        break;
    default: {
        int n = 0;
        if (k % 11 != 5) n = snprintf(strbuf, 40, "s%llu-%llu", (unsigned long long)s, (unsigned long long)(h % 13));
        v.v.s.ptr = strbuf;
        v.v.s.len = (size_t)n;
        break;
    }
    }
    return v;
}

static uint32_t q_of(uint64_t s, uint64_t f, size_t k)
{
    if ((s + f) % 4 != 0) return ST_QUALITY_GOOD;
    return (k / 50) % 3 == 1 ? ST_QUALITY_BAD : (k / 50) % 3 == 2 ? ST_QUALITY_UNCERTAIN : ST_QUALITY_GOOD;
}

/* Column arrays for (s, f) with n points. */
typedef struct colgen {
    size_t n;
    int64_t *ts;
    st_value *v;
    uint32_t *q;
    char *strs;
} colgen;

static void colgen_make(colgen *c, uint64_t s, uint64_t f, size_t n)
{
    c->n = n;
    c->ts = malloc(n * sizeof *c->ts + 1);
    c->v = malloc(n * sizeof *c->v + 1);
    c->q = malloc(n * sizeof *c->q + 1);
    c->strs = malloc(n * 40 + 1);
    for (size_t k = 0; k < n; k++) {
        c->ts[k] = ts_of(s, f, k);
        c->v[k] = val_of(s, f, k, c->strs + k * 40);
        c->q[k] = q_of(s, f, k);
    }
}

static void colgen_free(colgen *c)
{
    free(c->ts);
    free(c->v);
    free(c->q);
    free(c->strs);
}

static int value_eq(const st_value *a, const st_value *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case ST_TYPE_FLOAT: return ubits(a->v.f) == ubits(b->v.f);
    case ST_TYPE_INT: return a->v.i == b->v.i;
    case ST_TYPE_UINT: return a->v.u == b->v.u;
    case ST_TYPE_BOOL: return (a->v.b != 0) == (b->v.b != 0);
    default: return st_slice_eq(a->v.s, b->v.s);
    }
}

static size_t npoints_of(uint64_t s, uint64_t f)
{
    static const size_t sizes[] = { 1, 2, 3, 7, 1023, 1024, 1025, 2500, 40 };
    return sizes[(s * 5 + f) % 9];
}

/* Write S x F columns with the formulas; chunked adds on some columns. */
static int write_file(const stor_io *io, const char *dir, uint64_t file_id, uint64_t S, uint64_t F,
                      const seg_writer_opts *o, seg_info *info)
{
    seg_writer *w = NULL;
    int rc = seg_writer_open(io, dir, file_id, o, &w);
    if (rc) return rc;
    for (uint64_t s = 1; s <= S && !rc; s++) {
        for (uint64_t f = 0; f < F && !rc; f++) {
            colgen c;
            colgen_make(&c, s, f, npoints_of(s, f));
            const uint32_t *q = (s + f) % 4 == 0 ? c.q : NULL;
            if (c.n > 10 && s % 2) {
                size_t cut = c.n / 3;
                rc = seg_writer_add(w, s * 10, f, type_of(f), cut, c.ts, c.v, q);
                if (!rc) rc = seg_writer_add(w, s * 10, f, type_of(f), c.n - cut, c.ts + cut, c.v + cut, q ? q + cut : NULL);
            } else {
                rc = seg_writer_add(w, s * 10, f, type_of(f), c.n, c.ts, c.v, q);
            }
            colgen_free(&c);
        }
    }
    if (rc) { seg_writer_abort(w); return rc; }
    return seg_writer_finish(w, info);
}

/* Read back every column and compare bit-exactly; stats too. */
static int check_file(seg *sg, uint64_t S, uint64_t F)
{
    int bad = 0;
    if (seg_column_count(sg) != S * F) return -1;
    for (uint64_t s = 1; s <= S; s++) {
        for (uint64_t f = 0; f < F; f++) {
            const seg_column *col = NULL;
            if (seg_column_find(sg, s * 10, f, &col) != 0) { bad++; continue; }
            colgen c;
            colgen_make(&c, s, f, npoints_of(s, f));
            if (col->count != c.n || col->type != type_of(f)) bad++;
            size_t k = 0;
            for (uint32_t b = 0; b < col->nblocks; b++) {
                const seg_block *blk = NULL;
                if (seg_block_read(sg, col, b, &blk) != 0) { bad++; continue; }
                const seg_block_info *bi = &col->blocks[b];
                if (blk->n != bi->count) bad++;
                seg_stats_acc acc;
                memset(&acc, 0, sizeof acc);
                int any_bad_q = col->type == ST_TYPE_STRING;
                for (uint32_t j = 0; j < blk->n && k < c.n; j++, k++) {
                    st_value v = seg_block_value(blk, j);
                    if (blk->ts[j] != c.ts[k] || !value_eq(&v, &c.v[k])) bad++;
                    uint32_t eq = (s + f) % 4 == 0 ? c.q[k] : ST_QUALITY_GOOD;
                    if (seg_block_quality(blk, j) != eq) bad++;
                    if (eq != ST_QUALITY_GOOD) any_bad_q = 1;
                    seg_num x;
                    x.u = 0;
                    if (v.type == ST_TYPE_FLOAT) x.f = v.v.f;
                    else if (v.type == ST_TYPE_INT) x.i = v.v.i;
                    else if (v.type == ST_TYPE_UINT) x.u = v.v.u;
                    else if (v.type == ST_TYPE_BOOL) x.u = (uint64_t)v.v.b;
                    seg_acc_add(&acc, v.type, j, x);
                }
                seg_stats st = seg_acc_stats(&acc, col->type, blk->n, 1);
                if (col->type != ST_TYPE_STRING &&
                    (st.min.u != bi->stats.min.u || st.max.u != bi->stats.max.u || st.sum.u != bi->stats.sum.u ||
                     st.first.u != bi->stats.first.u || st.last.u != bi->stats.last.u))
                    bad++;
                if (bi->min_ts != blk->ts[0] || bi->max_ts != blk->ts[blk->n - 1]) bad++;
                if (bi->not_all_good != any_bad_q) bad++;
                seg_block_release(blk);
            }
            if (k != c.n) bad++;
            int64_t lt;
            st_value lv;
            CHECK_EQ_INT(seg_column_last(sg, col, &lt, &lv), 0);
            if (lt != c.ts[c.n - 1] || !value_eq(&lv, &c.v[c.n - 1])) bad++;
            colgen_free(&c);
        }
    }
    return bad;
}

/* ---------------- tests ---------------- */

/* The FLOAT sum has one definition: seg_fsum over an array (queries folding
 * points) and seg_acc_add / seg_acc_stats a value at a time (writer, head,
 * check) agree bit for bit at every length, and both are the four-lane sum;
 * without FSUM4 the accumulator gives the left-to-right sum. */
TEST(fsum_one_definition)
{
    double f[70];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < 70; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        f[i] = (double)(x % 1000003) / 997.0 * ((x >> 40) & 1 ? 1e-7 : 1e9);
    }
    for (size_t n = 1; n <= 70; n++) {
        seg_stats_acc a;
        memset(&a, 0, sizeof a);
        double l[4] = { 0, 0, 0, 0 }, ltr = f[0];
        for (size_t k = 0; k < n; k++) {
            seg_num v;
            v.f = f[k];
            seg_acc_add(&a, ST_TYPE_FLOAT, k, v);
            l[k % 4] = k < 4 ? f[k] : l[k % 4] + f[k];
            if (k) ltr += f[k];
        }
        double want = n == 1 ? l[0] : n == 2 ? l[0] + l[1] : n == 3 ? (l[0] + l[1]) + l[2] : (l[0] + l[1]) + (l[2] + l[3]);
        seg_stats s4 = seg_acc_stats(&a, ST_TYPE_FLOAT, n, 1), s1 = seg_acc_stats(&a, ST_TYPE_FLOAT, n, 0);
        CHECK(memcmp(&s4.sum.f, &want, 8) == 0);
        double fs = seg_fsum(f, n);
        CHECK(memcmp(&fs, &want, 8) == 0);
        CHECK(memcmp(&s1.sum.f, &ltr, 8) == 0);
    }
}

TEST(format_roundtrip)
{
    seg_hdr h = { SEG_FORMAT_VERSION, 0x1234, -5, 99, 777, 1024, SEG_HDR_FLAG_FSUM4 }, h2 = { 0, 0, 0, 0, 0, 0, 0 };
    unsigned char hb[SEG_HDR_SIZE];
    seg_hdr_encode(&h, hb);
    CHECK(seg_hdr_decode(hb, &h2));
    CHECK_EQ_U64(h2.file_id, 0x1234);
    CHECK_EQ_INT(h2.min_ts, -5);
    CHECK_EQ_INT(h2.max_ts, 99);
    CHECK_EQ_INT(h2.created_ns, 777);
    CHECK_EQ_INT(h2.block_points, 1024);
    CHECK_EQ_INT(h2.flags, SEG_HDR_FLAG_FSUM4);
    for (size_t i = 0; i < SEG_HDR_SIZE; i++) {
        hb[i] ^= 0x10;
        CHECK(!seg_hdr_decode(hb, &h2));
        hb[i] ^= 0x10;
    }
    seg_footer f = { 100, 50, 70, 0xabcdef, SEG_INDEX_FLAG_ZSTD, 3, 9, SEG_FORMAT_VERSION }, f2 = { 0, 0, 0, 0, 0, 0, 0, 0 };
    unsigned char fb[SEG_FOOTER_SIZE];
    seg_footer_encode(&f, fb);
    CHECK(seg_footer_decode(fb, &f2));
    CHECK_EQ_U64(f2.index_offset, 100);
    CHECK_EQ_INT(f2.index_len, 50);
    CHECK_EQ_INT(f2.index_raw_len, 70);
    CHECK_EQ_INT(f2.column_count, 3);
    CHECK_EQ_INT(f2.block_count, 9);
    for (size_t i = 0; i < SEG_FOOTER_SIZE; i++) {
        fb[i] ^= 0x01;
        CHECK(!seg_footer_decode(fb, &f2));
        fb[i] ^= 0x01;
    }
    /* Stats of every numeric type and count round-trip bit-exactly. */
    int bad = 0;
    for (int type = 1; type <= 4; type++) {
        for (size_t n = 1; n < 40; n++) {
            for (uint64_t seed = 0; seed < 20; seed++) {
                seg_stats st2;
                seg_stats_acc acc;
                memset(&acc, 0, sizeof acc);
                for (size_t k = 0; k < n; k++) {
                    uint64_t h64 = mix(seed * 1000 + k + (uint64_t)type * 77);
                    seg_num v;
                    v.u = seed % 3 == 0 ? h64 : seed % 3 == 1 ? h64 % 4 : ubits((double)(h64 % 1000) / 10.0);
                    if (type == 4) v.u &= 1;
                    seg_acc_add(&acc, type, k, v);
                }
                seg_stats st = seg_acc_stats(&acc, type, n, 1);
                unsigned char buf[SEG_STATS_MAX];
                int ng_in = (int)(seed % 2), ng_out = -1, pg_in = (int)(seed / 2 % 2) && n > 1, pg_out = -1;
                size_t len = seg_stats_encode(&st, type, n, ng_in, pg_in, buf), pos = 0;
                if (len > SEG_STATS_MAX) bad++;
                if (seg_stats_decode(buf, len, &pos, type, n, &st2, &ng_out, &pg_out) || pos != len) { bad++; continue; }
                if (ng_out != ng_in || pg_out != pg_in) bad++;
                if (st.min.u != st2.min.u || st.max.u != st2.max.u || st.sum.u != st2.sum.u ||
                    st.first.u != st2.first.u || st.last.u != st2.last.u)
                    bad++;
            }
        }
    }
    CHECK_EQ_INT(bad, 0);
    /* Float stats: NaN ignored by min/max; -0.0 vs 0.0 keeps the earlier. */
    seg_stats st;
    memset(&st, 0, sizeof st);
    double vals[] = { NAN, -0.0, 0.0, 3.5, -2.0, NAN };
    for (size_t k = 0; k < 6; k++) { seg_num v; v.f = vals[k]; seg_stats_add(&st, 1, k, v); }
    CHECK(st.min.f == -2.0);
    CHECK(st.max.f == 3.5);
    CHECK(isnan(st.first.f) && isnan(st.last.f) && isnan(st.sum.f));
}

TEST(roundtrip_all_types)
{
    const char *dir = fresh_dir();
    int64_t live0 = st_alloc_live();
    seg_info info;
    for (int z = 0; z <= 1; z++) {
        seg_writer_opts o = { 0, z ? 3 : 0, 1, 0 };
        REQUIRE(write_file(stor_io_posix(), dir, 7 + (uint64_t)z, 12, 10, &o, &info) == 0);
        CHECK_EQ_U64(info.columns, 120);
        char path[512];
        seg_path(dir, 7 + (uint64_t)z, 0, path, sizeof path);
        CHECK_EQ_INT(count_files(dir, ".seg.tmp"), 0);
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_size == info.file_bytes);
        seg *sg = NULL;
        REQUIRE(seg_open(stor_io_posix(), path, NULL, &sg) == 0);
        CHECK_EQ_U64(seg_header(sg)->file_id, 7 + (uint64_t)z);
        CHECK_EQ_INT(seg_header(sg)->min_ts, info.min_ts);
        CHECK_EQ_INT(seg_header(sg)->max_ts, info.max_ts);
        CHECK_EQ_INT(check_file(sg, 12, 10), 0);
        /* Not found: before, between and after the columns. */
        const seg_column *col;
        CHECK_EQ_INT(seg_column_find(sg, 0, 0, &col), ST_ENOTFOUND);
        CHECK_EQ_INT(seg_column_find(sg, 15, 0, &col), ST_ENOTFOUND);
        CHECK_EQ_INT(seg_column_find(sg, 10, 10, &col), ST_ENOTFOUND);
        CHECK_EQ_INT(seg_column_find(sg, 1000, 0, &col), ST_ENOTFOUND);
        seg_unref(sg);
        seg_verify_result vr;
        CHECK_EQ_INT(seg_verify(stor_io_posix(), path, NULL, NULL, &vr), 0);
        CHECK_EQ_U64(vr.columns, 120);
        CHECK_EQ_U64(vr.blocks, info.blocks);
        CHECK_EQ_U64(vr.points, info.points);
        CHECK_EQ_U64(vr.bad_blocks, 0);
    }
    CHECK_EQ_INT(st_alloc_live(), live0);
}

TEST(block_sizes_and_seek)
{
    const char *dir = fresh_dir();
    seg_writer_opts o = { 100, 3, 1, 0 };
    seg_writer *w = NULL;
    REQUIRE(seg_writer_open(stor_io_posix(), dir, 1, &o, &w) == 0);
    int64_t ts[1000];
    st_value v[1000];
    for (int k = 0; k < 1000; k++) {
        ts[k] = (int64_t)k * 1000;
        v[k].type = ST_TYPE_INT;
        v[k].v.i = k;
    }
    /* 1000 points in odd chunks -> blocks of exactly 100. */
    size_t done = 0, step = 1;
    while (done < 1000) {
        size_t m = step < 1000 - done ? step : 1000 - done;
        REQUIRE(seg_writer_add(w, 5, 5, ST_TYPE_INT, m, ts + done, v + done, NULL) == 0);
        done += m;
        step = step * 3 + 1;
    }
    seg_info info;
    REQUIRE(seg_writer_finish(w, &info) == 0);
    CHECK_EQ_U64(info.blocks, 10);
    char path[512];
    seg_path(dir, 1, 0, path, sizeof path);
    seg *sg = NULL;
    REQUIRE(seg_open(stor_io_posix(), path, NULL, &sg) == 0);
    const seg_column *col;
    REQUIRE(seg_column_find(sg, 5, 5, &col) == 0);
    CHECK_EQ_INT(col->nblocks, 10);
    for (uint32_t b = 0; b < 10; b++) {
        CHECK_EQ_INT(col->blocks[b].count, 100);
        CHECK_EQ_INT(col->blocks[b].stats.sum.i, (int64_t)(100 * b * 100 + 4950));
        CHECK_EQ_INT(col->blocks[b].stats.min.i, (int64_t)b * 100);
        CHECK_EQ_INT(col->blocks[b].stats.max.i, (int64_t)b * 100 + 99);
    }
    CHECK_EQ_INT(seg_column_seek(col, -5), 0);
    CHECK_EQ_INT(seg_column_seek(col, 99000), 0);
    CHECK_EQ_INT(seg_column_seek(col, 99001), 1);
    CHECK_EQ_INT(seg_column_seek(col, 550000), 5);
    CHECK_EQ_INT(seg_column_seek(col, 999000), 9);
    CHECK_EQ_INT(seg_column_seek(col, 999001), 10);
    const seg_block *blk;
    CHECK_EQ_INT(seg_block_read(sg, col, 10, &blk), ST_EINVAL);
    seg_unref(sg);
}

TEST(many_sparse_columns_binary_search)
{
    const char *dir = fresh_dir();
    seg_writer *w = NULL;
    REQUIRE(seg_writer_open(stor_io_posix(), dir, 2, NULL, &w) == 0);
    const uint64_t N = 20000;
    size_t data_points = 0;
    for (uint64_t i = 0; i < N; i++) {
        /* A sparse tag: 3 points a day, round values. */
        int64_t ts[3];
        st_value v[3];
        for (int k = 0; k < 3; k++) {
            ts[k] = 1700000000000000000LL + (int64_t)(mix(i) % 1000) * 1000000000LL + k * 28800000000000LL;
            v[k].type = ST_TYPE_FLOAT;
            v[k].v.f = (double)(i % 50) + 0.5 * k;
        }
        REQUIRE(seg_writer_add(w, i * 3 + 1, i % 4, ST_TYPE_FLOAT, 3, ts, v, NULL) == 0);
        data_points += 3;
    }
    seg_info info;
    REQUIRE(seg_writer_finish(w, &info) == 0);
    printf("  sparse: %llu columns x 3 points: %.1f bytes/column (index %.1f)\n", (unsigned long long)N,
           (double)info.file_bytes / (double)N, (double)info.index_bytes / (double)N);
    CHECK(info.file_bytes / N < 120);
    char path[512];
    seg_path(dir, 2, 0, path, sizeof path);
    seg *sg = NULL;
    REQUIRE(seg_open(stor_io_posix(), path, NULL, &sg) == 0);
    int bad = 0;
    for (uint64_t i = 0; i < N; i++) {
        const seg_column *col;
        if (seg_column_find(sg, i * 3 + 1, i % 4, &col) != 0) { bad++; continue; }
        if (col->series_id != i * 3 + 1 || col->count != 3 || col->last.v.f != (double)(i % 50) + 1.0) bad++;
        if (col->blocks[0].stats.sum.f != 3.0 * (double)(i % 50) + 1.5) bad++;
        if (seg_column_find(sg, i * 3 + 2, i % 4, &col) != ST_ENOTFOUND) bad++;
        if (seg_column_find(sg, i * 3 + 1, i % 4 + 1, &col) != ST_ENOTFOUND) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    seg_unref(sg);
    (void)data_points;
}

TEST(add_argument_errors)
{
    const char *dir = fresh_dir();
    seg_writer *w = NULL;
    REQUIRE(seg_writer_open(stor_io_posix(), dir, 3, NULL, &w) == 0);
    int64_t ts[4] = { 10, 20, 30, 40 };
    st_value v[4];
    for (int k = 0; k < 4; k++) { v[k].type = ST_TYPE_FLOAT; v[k].v.f = k; }
    CHECK_EQ_INT(seg_writer_add(w, 5, 1, ST_TYPE_FLOAT, 4, ts, v, NULL), 0);
    int64_t dup[2] = { 50, 50 }, back[2] = { 60, 55 }, old[1] = { 40 };
    CHECK_EQ_INT(seg_writer_add(w, 5, 1, ST_TYPE_FLOAT, 2, dup, v, NULL), ST_EINVAL);
    CHECK_EQ_INT(seg_writer_add(w, 5, 1, ST_TYPE_FLOAT, 2, back, v, NULL), ST_EINVAL);
    CHECK_EQ_INT(seg_writer_add(w, 5, 1, ST_TYPE_FLOAT, 1, old, v, NULL), ST_EINVAL); /* continues: must follow 40 */
    CHECK_EQ_INT(seg_writer_add(w, 5, 1, ST_TYPE_INT, 1, ts, v, NULL), ST_EINVAL);    /* type change */
    CHECK_EQ_INT(seg_writer_add(w, 5, 0, ST_TYPE_FLOAT, 1, ts, v, NULL), ST_EINVAL);  /* order */
    CHECK_EQ_INT(seg_writer_add(w, 4, 9, ST_TYPE_FLOAT, 1, ts, v, NULL), ST_EINVAL);
    CHECK_EQ_INT(seg_writer_add(w, 6, 0, ST_TYPE_INT, 1, ts, v, NULL), ST_EINVAL);    /* value type */
    CHECK_EQ_INT(seg_writer_add(w, 6, 0, ST_TYPE_NONE, 1, ts, v, NULL), ST_EINVAL);
    int64_t bigts[1] = { INT64_MAX };
    CHECK_EQ_INT(seg_writer_add(w, 6, 0, ST_TYPE_FLOAT, 1, bigts, v, NULL), ST_EINVAL);
    int64_t more[1] = { 41 };
    CHECK_EQ_INT(seg_writer_add(w, 5, 1, ST_TYPE_FLOAT, 1, more, v, NULL), 0);
    CHECK_EQ_INT(seg_writer_add(w, 6, 0, ST_TYPE_FLOAT, 4, ts, v, NULL), 0);
    CHECK_EQ_INT(seg_writer_add(w, 5, 3, ST_TYPE_FLOAT, 1, ts, v, NULL), ST_EINVAL);  /* closed column */
    seg_info info;
    REQUIRE(seg_writer_finish(w, &info) == 0);
    CHECK_EQ_U64(info.points, 9);
    CHECK_EQ_U64(info.columns, 2);
    CHECK_EQ_INT(info.min_ts, 10);
    CHECK_EQ_INT(info.max_ts, 41);
    CHECK_EQ_INT(seg_writer_open(stor_io_posix(), dir, 4, &(seg_writer_opts){ SEG_MAX_BLOCK_POINTS + 1, 0, 0, 0 }, &w),
                 ST_EINVAL);
}

TEST(empty_file)
{
    const char *dir = fresh_dir();
    seg_writer *w = NULL;
    REQUIRE(seg_writer_open(stor_io_posix(), dir, 9, NULL, &w) == 0);
    seg_info info;
    REQUIRE(seg_writer_finish(w, &info) == 0);
    CHECK_EQ_U64(info.columns, 0);
    char path[512];
    seg_path(dir, 9, 0, path, sizeof path);
    seg *sg = NULL;
    REQUIRE(seg_open(stor_io_posix(), path, NULL, &sg) == 0);
    CHECK_EQ_INT(seg_column_count(sg), 0);
    const seg_column *col;
    CHECK_EQ_INT(seg_column_find(sg, 1, 1, &col), ST_ENOTFOUND);
    CHECK(seg_column_at(sg, 0) == NULL);
    seg_unref(sg);
    CHECK_EQ_INT(seg_verify(stor_io_posix(), path, NULL, NULL, NULL), 0);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, len, f);
    fclose(f);
}

typedef struct vcoll {
    int n;
    uint64_t offset, series, field;
    int err;
} vcoll;

static void vcb(void *arg, const char *path, uint64_t series_id, uint64_t field_id, uint64_t offset, int err,
                const char *what)
{
    (void)path; (void)what;
    vcoll *c = arg;
    c->n++;
    c->offset = offset;
    c->series = series_id;
    c->field = field_id;
    c->err = err;
}

/* Page tables: 1 s points over 100 min (one block of 6000) get a 10-minute
 * grid, one page per non-empty cell with that cell's statistics, before
 * 1970 too; seg_verify recomputes them; a changed page statistic is
 * found; blocks too short, too cheap or of strings get none. */
TEST(page_tables)
{
    const char *dir = fresh_dir();
    seg_writer_opts o = { 8192, 3, 0, 0 };
    seg_writer *w = NULL;
    REQUIRE(seg_writer_open(stor_io_posix(), dir, 5, &o, &w) == 0);
    enum { N = 6000 };
    static int64_t ts[N];
    static st_value v[N];
    /* series 1: FLOAT from 00:03:17 UTC; series 2: INT from 1969-12-31 23:10:00 */
    for (uint64_t sid = 1; sid <= 2; sid++) {
        int64_t t0 = sid == 1 ? 1451606597000000000LL : -3000000000000LL;
        for (size_t k = 0; k < N; k++) {
            ts[k] = t0 + (int64_t)k * 1000000000LL;
            memset(&v[k], 0, sizeof v[k]);
            uint64_t h = mix(k + sid * 77777);
            if (sid == 1) { v[k].type = ST_TYPE_FLOAT; v[k].v.f = (double)(h % 10000) / 100.0; }
            else { v[k].type = ST_TYPE_INT; v[k].v.i = (int64_t)(h % 1000000) - 500000; }
        }
        if (sid == 1) { v[10].v.f = NAN; v[11].v.f = -0.0; v[12].v.f = 0.0; }
        REQUIRE(seg_writer_add(w, sid, 1, (st_type)v[0].type, N, ts, v, NULL) == 0);
    }
    /* series 3: a constant (its values cost nothing: no pages); 4: 400 points */
    for (size_t k = 0; k < N; k++) { ts[k] = 1451606400000000000LL + (int64_t)k * 1000000000LL; v[k].type = ST_TYPE_FLOAT; v[k].v.f = 1.5; }
    REQUIRE(seg_writer_add(w, 3, 1, ST_TYPE_FLOAT, N, ts, v, NULL) == 0);
    REQUIRE(seg_writer_add(w, 4, 1, ST_TYPE_FLOAT, 400, ts, v, NULL) == 0);
    seg_info info;
    REQUIRE(seg_writer_finish(w, &info) == 0);
    char path[512];
    seg_path(dir, 5, 0, path, sizeof path);
    seg *sg = NULL;
    REQUIRE(seg_open(stor_io_posix(), path, NULL, &sg) == 0);
    for (uint64_t sid = 1; sid <= 4; sid++) {
        const seg_column *col;
        REQUIRE(seg_column_find(sg, sid, 1, &col) == 0);
        REQUIRE(col->nblocks == 1);
        CHECK_EQ_INT(col->blocks[0].has_pages, sid <= 2);
        const seg_pages *pg = NULL;
        if (sid > 2) { CHECK_EQ_INT(seg_block_pages(sg, col, 0, &pg), ST_EINVAL); continue; }
        REQUIRE(seg_block_pages(sg, col, 0, &pg) == 0);
        const seg_block *blk;
        REQUIRE(seg_block_read(sg, col, 0, &blk) == 0);
        CHECK_EQ_INT(pg->grid, 2); /* 10 minutes: 600 points a cell */
        CHECK_EQ_INT(pg->n, sid == 1 ? 11 : 10);
        int64_t g = 600000000000LL;
        uint32_t next = 0;
        for (uint32_t k = 0; k < pg->n; k++) {
            const seg_page *x = &pg->pages[k];
            CHECK_EQ_U64(x->start, next);
            uint32_t e = x->start + x->count;
            next = e;
            CHECK_EQ_INT(x->min_ts, blk->ts[x->start]);
            CHECK_EQ_INT(x->max_ts, blk->ts[e - 1]);
            int64_t c = seg_page_cell(x->min_ts, g);
            CHECK(seg_page_cell(x->max_ts, g) == c);
            if (e < blk->n) CHECK(seg_page_cell(blk->ts[e], g) == c + 1);
            seg_stats_acc acc;
            memset(&acc, 0, sizeof acc);
            for (uint32_t j = x->start; j < e; j++) {
                seg_num nv;
                if (sid == 1) nv.f = blk->f[j]; else nv.i = blk->i[j];
                seg_acc_add(&acc, col->type, j - x->start, nv);
            }
            seg_stats st = seg_acc_stats(&acc, col->type, x->count, 1);
            CHECK(st.min.u == x->stats.min.u && st.max.u == x->stats.max.u && st.sum.u == x->stats.sum.u &&
                  st.first.u == x->stats.first.u && st.last.u == x->stats.last.u);
        }
        CHECK_EQ_U64(next, N);
        seg_block_release(blk);
        seg_pages_release(pg);
    }
    seg_unref(sg);
    seg_verify_result vr;
    CHECK_EQ_INT(seg_verify(stor_io_posix(), path, NULL, NULL, &vr), 0);
    /* Change the last byte of series 1's page table (its sum array) and
     * fix the block CRC: seg_verify finds the page statistics wrong. */
    size_t len;
    unsigned char *b = slurp(path, &len);
    REQUIRE(b);
    REQUIRE(seg_open(stor_io_posix(), path, NULL, &sg) == 0);
    const seg_column *col;
    REQUIRE(seg_column_find(sg, 1, 1, &col) == 0);
    uint64_t off = col->blocks[0].offset;
    uint32_t bl = col->blocks[0].len;
    seg_unref(sg);
    b[off + bl - 1] ^= 0x01;
    seg__put32(b + off, st_crc32c(0, b + off + 4, bl - 4));
    spit(path, b, len);
    free(b);
    vcoll c = { 0, 0, 0, 0, 0 };
    CHECK_EQ_INT(seg_verify(stor_io_posix(), path, vcb, &c, &vr), ST_ECORRUPT);
    CHECK(c.n == 1 && c.series == 1 && c.offset == off);
}

TEST(corrupt_block_isolated)
{
    const char *dir = fresh_dir();
    seg_writer_opts o = { 256, 3, 1, 0 };
    seg_info info;
    REQUIRE(write_file(stor_io_posix(), dir, 11, 4, 5, &o, &info) == 0);
    char path[512];
    seg_path(dir, 11, 0, path, sizeof path);
    size_t len;
    unsigned char *orig = slurp(path, &len);
    REQUIRE(orig != NULL);
    seg *sg = NULL;
    REQUIRE(seg_open(stor_io_posix(), path, NULL, &sg) == 0);
    /* Pick a column with several blocks; damage its middle block. */
    const seg_column *victim = NULL;
    for (size_t i = 0; i < seg_column_count(sg) && !victim; i++)
        if (seg_column_at(sg, i)->nblocks >= 3) victim = seg_column_at(sg, i);
    REQUIRE(victim != NULL);
    uint64_t vs = victim->series_id, vf = victim->field_id;
    seg_block_info vb = victim->blocks[1];
    seg_unref(sg);
    int bad = 0;
    /* Every byte of the block (a stride keeps it quick), one at a time. */
    for (uint32_t at = 0; at < vb.len; at += 1 + vb.len / 97) {
        unsigned char *cp = malloc(len);
        memcpy(cp, orig, len);
        cp[vb.offset + at] ^= 0x5a;
        spit(path, cp, len);
        free(cp);
        if (seg_open(stor_io_posix(), path, NULL, &sg) != 0) { bad++; continue; }
        const seg_column *col;
        if (seg_column_find(sg, vs, vf, &col) != 0) { bad++; seg_unref(sg); continue; }
        for (uint32_t b = 0; b < col->nblocks; b++) {
            const seg_block *blk = NULL;
            int rc = seg_block_read(sg, col, b, &blk);
            if (b == 1 ? rc != ST_ECORRUPT : rc != 0) bad++;
            seg_block_release(blk);
        }
        const seg_block *again = NULL;
        if (seg_block_read(sg, col, 1, &again) != ST_ECORRUPT || again) bad++; /* remembered */
        seg_unref(sg);
        vcoll vc;
        memset(&vc, 0, sizeof vc);
        seg_verify_result vr;
        if (seg_verify(stor_io_posix(), path, vcb, &vc, &vr) != ST_ECORRUPT) bad++;
        if (vc.n != 1 || vc.offset != vb.offset || vc.series != vs || vc.field != vf || vr.bad_blocks != 1) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* The other columns are fine. */
    spit(path, orig, len);
    REQUIRE(seg_open(stor_io_posix(), path, NULL, &sg) == 0);
    CHECK_EQ_INT(check_file(sg, 4, 5), 0);
    seg_unref(sg);
    free(orig);
}

TEST(truncated_and_bad_footer_index_header)
{
    const char *dir = fresh_dir();
    seg_writer_opts o = { 64, 3, 1, 0 };
    seg_info info;
    REQUIRE(write_file(stor_io_posix(), dir, 12, 2, 5, &o, &info) == 0);
    char path[512];
    seg_path(dir, 12, 0, path, sizeof path);
    size_t len;
    unsigned char *orig = slurp(path, &len);
    REQUIRE(orig != NULL);
    int bad = 0;
    seg *sg = NULL;
    int64_t live0 = st_alloc_live();
    for (size_t cut = 0; cut < len; cut += (cut < 200 || len - cut < 200) ? 1 : 37) {
        spit(path, orig, cut);
        int rc = seg_open(stor_io_posix(), path, NULL, &sg);
        if (rc != ST_ECORRUPT) { bad++; if (!rc) seg_unref(sg); }
    }
    CHECK_EQ_INT(bad, 0);
    /* Every byte of header, footer and index flipped: a clean error. */
    uint64_t idx_off = seg__get64(orig + len - SEG_FOOTER_SIZE);
    for (size_t at = 0; at < len; at++) {
        if (at >= SEG_HDR_SIZE && at < idx_off) continue;
        orig[at] ^= 0x21;
        spit(path, orig, len);
        orig[at] ^= 0x21;
        int rc = seg_open(stor_io_posix(), path, NULL, &sg);
        if (rc != ST_ECORRUPT) { bad++; if (!rc) seg_unref(sg); }
        vcoll vc;
        memset(&vc, 0, sizeof vc);
        if (seg_verify(stor_io_posix(), path, vcb, &vc, NULL) != ST_ECORRUPT || vc.n != 1) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* Garbage appended: the footer is no longer at the end. */
    unsigned char *more = malloc(len + 10);
    memcpy(more, orig, len);
    memset(more + len, 0, 10);
    spit(path, more, len + 10);
    CHECK_EQ_INT(seg_open(stor_io_posix(), path, NULL, &sg), ST_ECORRUPT);
    free(more);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope.seg", dir);
    CHECK_EQ_INT(seg_open(stor_io_posix(), missing, NULL, &sg), ST_ENOTFOUND);
    CHECK_EQ_INT(st_alloc_live(), live0);
    free(orig);
}

/* Inject err at the nth call of op for n = 0, 1, 2... until the write
 * succeeds: each failure an error, no .seg and no .seg.tmp left. */
static void fault_walk(enum stor_io_op op, int err, unsigned flags, int *failures_out, int *bad_out)
{
    int bad = 0, failures = 0;
    for (uint64_t n = 0; n < 200; n++) {
        const char *dir = fresh_dir();
        stor_io_sim *sim = NULL;
        int64_t live0 = st_alloc_live();
        if (stor_io_sim_create(n + 1, &sim) != 0) { bad++; break; }
        stor_io_sim_inject(sim, op, n, err, flags);
        seg_writer_opts o = { 128, 3, 1, 0 };
        seg_info info;
        int rc = write_file(stor_io_sim_io(sim), dir, 21, 3, 5, &o, &info);
        stor_io_sim_destroy(sim);
        if (st_alloc_live() != live0) bad++;
        if (getenv("SEG_DEBUG")) printf("  op %d n %llu rc %d\n", (int)op, (unsigned long long)n, rc);
        if (rc == 0) {
            char path[512];
            seg_path(dir, 21, 0, path, sizeof path);
            if (seg_verify(stor_io_posix(), path, NULL, NULL, NULL) != 0) bad++;
            break;
        }
        failures++;
        if (rc != err) bad++;
        if (count_files(dir, ".seg") != 0 || count_files(dir, ".seg.tmp") != 0) bad++;
    }
    *failures_out = failures;
    *bad_out = bad;
}

TEST(io_faults_leave_nothing)
{
    struct { enum stor_io_op op; int err; unsigned flags; int min_failures; } cases[] = {
        { STOR_IO_OPEN, ST_ENOSPC, 0, 1 },
        { STOR_IO_PWRITE, ST_ENOSPC, 0, 2 },
        { STOR_IO_PWRITE, ST_ENOSPC, STOR_IO_INJ_SHORT, 2 },
        { STOR_IO_PWRITE, ST_EIO, 0, 2 },
        { STOR_IO_FSYNC, ST_EIO, 0, 1 },
        { STOR_IO_RENAME, ST_EIO, 0, 1 },
        { STOR_IO_FSYNC_DIR, ST_EIO, 0, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int failures = 0, bad = 0;
        fault_walk(cases[i].op, cases[i].err, cases[i].flags, &failures, &bad);
        if (bad || failures < cases[i].min_failures)
            printf("  case %zu: op %d: failures %d bad %d\n", i, (int)cases[i].op, failures, bad);
        CHECK_EQ_INT(bad, 0);
        CHECK(failures >= cases[i].min_failures);
    }
}

TEST(power_loss_never_half_visible)
{
    /* Power dies after n mutating calls, for every n: after the crash the
     * directory holds either no segment or a complete, valid one. */
    int bad = 0, complete = 0, none = 0;
    for (uint64_t n = 0; n < 200; n++) {
        const char *dir = fresh_dir();
        stor_io_sim *sim = NULL;
        REQUIRE(stor_io_sim_create(n + 5, &sim) == 0);
        stor_io_sim_die_after(sim, n);
        seg_writer_opts o = { 128, 3, 1, 0 };
        seg_info info;
        int rc = write_file(stor_io_sim_io(sim), dir, 22, 3, 5, &o, &info);
        if (stor_io_sim_crash(sim, n % 2 ? STOR_IO_CRASH_TEAR : STOR_IO_CRASH_DROP) != 0) bad++;
        stor_io_sim_destroy(sim);
        char path[512];
        seg_path(dir, 22, 0, path, sizeof path);
        struct stat sb;
        if (stat(path, &sb) == 0) {
            complete++;
            if (seg_verify(stor_io_posix(), path, NULL, NULL, NULL) != 0) bad++;
        } else {
            none++;
            if (rc == 0) bad++; /* success came after the directory fsync: it must survive */
        }
        if (rc == 0) break;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(complete >= 1);
    CHECK(none >= 5);
}

TEST(value_at_or_before)
{
    const char *dir = fresh_dir();
    seg_writer_opts o = { 64, 3, 1, 0 };
    seg_info info;
    REQUIRE(write_file(stor_io_posix(), dir, 25, 6, 5, &o, &info) == 0);
    char path[512];
    seg_path(dir, 25, 0, path, sizeof path);
    seg *sg = NULL;
    REQUIRE(seg_open(stor_io_posix(), path, NULL, &sg) == 0);
    int bad = 0, probes = 0;
    for (uint64_t s = 1; s <= 6; s++) {
        for (uint64_t f = 0; f < 5; f++) {
            const seg_column *col;
            if (seg_column_find(sg, s * 10, f, &col)) { bad++; continue; }
            colgen c;
            colgen_make(&c, s, f, npoints_of(s, f));
            seg_point p;
            if (seg_column_value_at(sg, col, c.ts[0] - 1, &p) != ST_ENOTFOUND) bad++;
            /* At, just after and just before every point (strided). */
            for (size_t k = 0; k < c.n; k += 1 + c.n / 300) {
                for (int d = -1; d <= 1; d++) {
                    int64_t t = c.ts[k] + d;
                    size_t want = d < 0 ? k - 1 : k; /* timestamps are >= 1 ns apart */
                    if (d < 0 && k == 0) continue;
                    if (d < 0 && c.ts[k - 1] == t) want = k - 1;
                    probes++;
                    if (seg_column_value_at(sg, col, t, &p) != 0) { bad++; continue; }
                    uint32_t eq = (s + f) % 4 == 0 ? c.q[want] : ST_QUALITY_GOOD;
                    if (p.ts != c.ts[want] || !value_eq(&p.value, &c.v[want]) || p.quality != eq) bad++;
                    seg_block_release(p.hold);
                }
            }
            if (seg_column_value_at(sg, col, INT64_MAX, &p) != 0 || p.ts != c.ts[c.n - 1]) bad++;
            else seg_block_release(p.hold);
            colgen_free(&c);
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(probes > 1000);
    seg_unref(sg);
}

TEST(refcount_outlives_unlink)
{
    const char *dir = fresh_dir();
    seg_writer_opts o = { 100, 3, 1, 0 };
    seg_info info;
    REQUIRE(write_file(stor_io_posix(), dir, 31, 3, 5, &o, &info) == 0);
    char path[512];
    seg_path(dir, 31, 0, path, sizeof path);
    bcache *bc = NULL;
    REQUIRE(bcache_create(1 << 20, &bc) == 0);
    int64_t live0 = st_alloc_live();
    seg *sg = NULL;
    REQUIRE(seg_open(stor_io_posix(), path, bc, &sg) == 0);
    const seg_column *col;
    REQUIRE(seg_column_find(sg, 10, 4, &col) == 0);
    const seg_block *held = NULL;
    REQUIRE(seg_block_read(sg, col, 0, &held) == 0);
    /* A query holds the file: compaction unlinks it and drops its ref. */
    seg_ref(sg);                    /* the query's */
    CHECK(unlink(path) == 0);
    seg_unref(sg);                  /* compaction's */
    const seg_block *b2 = NULL;
    CHECK_EQ_INT(seg_block_read(sg, col, col->nblocks - 1, &b2), 0);
    seg_block_release(b2);
    int64_t t0 = held->ts[0];
    seg_unref(sg);                  /* the query's: closes, drops its cache entries */
    bcache_stats cs;
    bcache_get_stats(bc, &cs);
    CHECK_EQ_INT(cs.entries, 0);
    /* The block outlives the seg. */
    CHECK_EQ_INT(held->ts[0], t0);
    CHECK(held->n >= 1);
    seg_block_release(held);
    CHECK_EQ_INT(st_alloc_live(), live0);
    bcache_destroy(bc);
}

TEST(cache_hits_and_eviction)
{
    const char *dir = fresh_dir();
    seg_writer_opts o = { 100, 3, 1, 0 };
    seg_info info;
    REQUIRE(write_file(stor_io_posix(), dir, 32, 6, 5, &o, &info) == 0);
    char path[512];
    seg_path(dir, 32, 0, path, sizeof path);
    int64_t live0 = st_alloc_live();
    /* Room for about 4 decoded blocks of 100 points. */
    bcache *bc = NULL;
    REQUIRE(bcache_create(4 * (100 * 20 + 256), &bc) == 0);
    seg *sg = NULL;
    REQUIRE(seg_open(stor_io_posix(), path, bc, &sg) == 0);
    const seg_column *col;
    REQUIRE(seg_column_find(sg, 30, 1, &col) == 0); /* INT column, 2500 points */
    REQUIRE(col->nblocks >= 10);
    const seg_block *held = NULL;
    REQUIRE(seg_block_read(sg, col, 0, &held) == 0);
    int64_t sum0 = 0;
    for (uint32_t j = 0; j < held->n; j++) sum0 += held->i[j];
    for (uint32_t b = 0; b < col->nblocks; b++) {
        const seg_block *x = NULL;
        REQUIRE(seg_block_read(sg, col, b, &x) == 0);
        seg_block_release(x);
    }
    bcache_stats cs;
    bcache_get_stats(bc, &cs);
    CHECK(cs.used_bytes <= cs.capacity_bytes);
    CHECK(cs.evictions > 0);
    CHECK(cs.entries <= 5);
    /* The held block was evicted, and is still intact. */
    int64_t sum1 = 0;
    for (uint32_t j = 0; j < held->n; j++) sum1 += held->i[j];
    CHECK_EQ_INT(sum0, sum1);
    seg_block_release(held);
    /* Re-reading the last block is a hit. */
    uint64_t hits = cs.hits;
    const seg_block *x = NULL;
    REQUIRE(seg_block_read(sg, col, col->nblocks - 1, &x) == 0);
    const seg_block *y = NULL;
    REQUIRE(seg_block_read(sg, col, col->nblocks - 1, &y) == 0);
    CHECK(x == y);
    seg_block_release(x);
    seg_block_release(y);
    bcache_get_stats(bc, &cs);
    CHECK(cs.hits >= hits + 1);
    CHECK_EQ_INT(check_file(sg, 6, 5), 0); /* through the small cache */
    seg_unref(sg);
    bcache_destroy(bc);
    /* A zero-byte cache keeps nothing and still serves. */
    REQUIRE(bcache_create(0, &bc) == 0);
    REQUIRE(seg_open(stor_io_posix(), path, bc, &sg) == 0);
    CHECK_EQ_INT(check_file(sg, 6, 5), 0);
    bcache_get_stats(bc, &cs);
    CHECK_EQ_INT(cs.entries, 0);
    seg_unref(sg);
    bcache_destroy(bc);
    CHECK_EQ_INT(st_alloc_live(), live0);
}

typedef struct thr_arg {
    seg *sg;
    int bad;
    unsigned seed;
} thr_arg;

static void *reader_thread(void *p)
{
    thr_arg *a = p;
    for (int r = 0; r < 3; r++)
        if (check_file(a->sg, 6, 5) != 0) a->bad++;
    return NULL;
}

TEST(cache_concurrent_readers)
{
    const char *dir = fresh_dir();
    seg_writer_opts o = { 100, 3, 1, 0 };
    seg_info info;
    REQUIRE(write_file(stor_io_posix(), dir, 33, 6, 5, &o, &info) == 0);
    char path[512];
    seg_path(dir, 33, 0, path, sizeof path);
    bcache *bc = NULL;
    REQUIRE(bcache_create(64 * 1024, &bc) == 0);
    seg *sg = NULL;
    REQUIRE(seg_open(stor_io_posix(), path, bc, &sg) == 0);
    pthread_t th[4];
    thr_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].sg = sg;
        args[i].bad = 0;
        args[i].seed = (unsigned)i;
        seg_ref(sg);
        pthread_create(&th[i], NULL, reader_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].bad, 0);
        seg_unref(sg);
    }
    seg_unref(sg);
    bcache_destroy(bc);
}

TEST(oom_walk)
{
    const char *dir = fresh_dir();
    seg_writer_opts o = { 100, 3, 1, 0 };
    seg_info info;
    int64_t live0 = st_alloc_live();
    int n, wrong = 0, leaks = 0;
    for (n = 0; n < 5000; n++) {
        st_alloc_fail_at(n, 0);
        int rc = write_file(stor_io_posix(), dir, 41, 2, 5, &o, &info);
        st_alloc_fail_at(-1, 0);
        if (st_alloc_live() != live0) leaks++;
        if (rc == 0) break;
        if (rc != ST_ENOMEM) wrong++;
        if (count_files(dir, ".seg") || count_files(dir, ".seg.tmp")) wrong++;
    }
    CHECK(n > 0 && n < 5000);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(leaks, 0);
    char path[512];
    seg_path(dir, 41, 0, path, sizeof path);
    bcache *bc = NULL;
    REQUIRE(bcache_create(1 << 20, &bc) == 0);
    live0 = st_alloc_live();
    for (n = 0; n < 5000; n++) {
        seg *sg = NULL;
        st_alloc_fail_at(n, 0);
        int rc = seg_open(stor_io_posix(), path, bc, &sg);
        const seg_block *blk = NULL;
        if (!rc) {
            const seg_column *col;
            rc = seg_column_find(sg, 10, 2, &col);
            if (!rc) rc = seg_block_read(sg, col, 0, &blk);
        }
        st_alloc_fail_at(-1, 0);
        seg_block_release(blk);
        seg_unref(sg);
        if (st_alloc_live() != live0) leaks++;
        if (rc == 0) break;
        if (rc != ST_ENOMEM) wrong++;
    }
    CHECK(n > 0 && n < 5000);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(leaks, 0);
    bcache_destroy(bc);
}

int main(void)
{
    st_log_set_level(getenv("SEG_DEBUG") ? ST_LOG_DEBUG : ST_LOG_OFF);
    RUN(format_roundtrip);
    RUN(fsum_one_definition);
    RUN(roundtrip_all_types);
    RUN(block_sizes_and_seek);
    RUN(many_sparse_columns_binary_search);
    RUN(add_argument_errors);
    RUN(empty_file);
    RUN(page_tables);
    RUN(corrupt_block_isolated);
    RUN(truncated_and_bad_footer_index_header);
    RUN(io_faults_leave_nothing);
    RUN(power_loss_never_half_visible);
    RUN(value_at_or_before);
    RUN(refcount_outlives_unlink);
    RUN(cache_hits_and_eviction);
    RUN(cache_concurrent_readers);
    RUN(oom_walk);
    if (g_tmp[0]) rm_rf(g_tmp);
    return unit_done();
}
