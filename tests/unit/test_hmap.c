/* tests/unit/test_hmap.c — common/hmap: against a naive model, OOM walk, hash. */
#include <stdint.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/hmap.h"
#include "tests/unit/unit.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return rng_state = x;
}

/* Key k of the model universe: variable length (0..40), content from k. */
static size_t model_key(uint32_t k, char *buf)
{
    size_t len = k < 41 ? k : 4 + k % 37; /* lengths 0..3 once each; then k leads */
    for (size_t i = 0; i < len; i++) buf[i] = (char)((k * 31u + (uint32_t)i * 7u) ^ (k >> (i % 13)));
    if (len >= 4) memcpy(buf, &k, 4); /* distinct keys for distinct k of the same length */
    return len;
}

TEST(basic_ops)
{
    st_hmap *m = NULL;
    REQUIRE(st_hmap_create(0, &m) == 0);
    uint64_t v = 7;
    CHECK_EQ_INT(st_hmap_get(m, "a", 1, &v), 0);
    CHECK_EQ_U64(v, 7);
    CHECK_EQ_INT(st_hmap_put(m, "a", 1, 10), 0);
    CHECK_EQ_INT(st_hmap_put(m, "", 0, 20), 0);
    CHECK_EQ_INT(st_hmap_put(m, "a\0b", 3, 30), 0);
    CHECK_EQ_INT(st_hmap_count(m), 3);
    CHECK_EQ_INT(st_hmap_get(m, "a", 1, &v), 1);
    CHECK_EQ_U64(v, 10);
    CHECK_EQ_INT(st_hmap_get(m, "", 0, &v), 1);
    CHECK_EQ_U64(v, 20);
    CHECK_EQ_INT(st_hmap_get(m, "a\0b", 3, &v), 1);
    CHECK_EQ_U64(v, 30);
    CHECK_EQ_INT(st_hmap_get(m, "a\0c", 3, NULL), 0);
    CHECK_EQ_INT(st_hmap_put(m, "a", 1, 11), 0);
    CHECK_EQ_INT(st_hmap_count(m), 3);
    CHECK_EQ_INT(st_hmap_get(m, "a", 1, &v), 1);
    CHECK_EQ_U64(v, 11);
    CHECK_EQ_INT(st_hmap_del(m, "a", 1), 1);
    CHECK_EQ_INT(st_hmap_del(m, "a", 1), 0);
    CHECK_EQ_INT(st_hmap_get(m, "a", 1, NULL), 0);
    CHECK_EQ_INT(st_hmap_count(m), 2);
    CHECK(st_hmap_bytes(m) > 0);
    st_hmap_destroy(m);
    st_hmap_destroy(NULL);
}

TEST(model_1m_ops)
{
    enum { U = 20000, OPS = 1000000 };
    uint64_t *vals = calloc(U, sizeof *vals);
    unsigned char *present = calloc(U, 1);
    REQUIRE(vals && present);
    st_hmap *m = NULL;
    REQUIRE(st_hmap_create(4, &m) == 0);
    size_t count = 0;
    char kb[64];
    for (int op = 0; op < OPS; op++) {
        uint64_t r = rnd();
        /* Phases bias towards inserts then deletes so the map grows and shrinks. */
        uint32_t k = (uint32_t)((r >> 8) % U);
        unsigned kind = (unsigned)(r & 0xff);
        int phase_del = (op / 200000) % 2;
        size_t kl = model_key(k, kb);
        if (kind < (phase_del ? 60u : 120u)) {
            uint64_t nv = rnd();
            if (st_hmap_put(m, kb, kl, nv) != 0) { CHECK(0); break; }
            if (!present[k]) { present[k] = 1; count++; }
            vals[k] = nv;
        } else if (kind < 180u) {
            int got = st_hmap_del(m, kb, kl);
            CHECK_EQ_INT(got, present[k]);
            if (present[k]) { present[k] = 0; count--; }
        } else {
            uint64_t v = 0;
            int got = st_hmap_get(m, kb, kl, &v);
            if (got != present[k] || (got && v != vals[k])) { CHECK(0); break; }
        }
        if (op % 100000 == 0) CHECK_EQ_INT(st_hmap_count(m), count);
    }
    CHECK_EQ_INT(st_hmap_count(m), count);
    /* Every model key agrees, and iteration yields exactly the present set. */
    size_t agree = 0;
    for (uint32_t k = 0; k < U; k++) {
        uint64_t v;
        size_t kl = model_key(k, kb);
        int got = st_hmap_get(m, kb, kl, &v);
        if (got == present[k] && (!got || v == vals[k])) agree++;
    }
    CHECK_EQ_INT(agree, U);
    size_t pos = 0, seen = 0, klen;
    const void *key;
    uint64_t v;
    while (st_hmap_next(m, &pos, &key, &klen, &v)) {
        seen++;
        uint64_t v2;
        CHECK(st_hmap_get(m, key, klen, &v2) == 1 && v2 == v);
    }
    CHECK_EQ_INT(seen, count);
    st_hmap_destroy(m);
    free(vals);
    free(present);
}

TEST(many_keys_grow)
{
    st_hmap *m = NULL;
    REQUIRE(st_hmap_create(0, &m) == 0);
    char kb[32];
    for (uint64_t i = 0; i < 200000; i++) {
        int n = snprintf(kb, sizeof kb, "cpu,host=h%llu", (unsigned long long)i);
        REQUIRE(st_hmap_put(m, kb, (size_t)n, i * 3) == 0);
    }
    size_t ok = 0;
    for (uint64_t i = 0; i < 200000; i++) {
        int n = snprintf(kb, sizeof kb, "cpu,host=h%llu", (unsigned long long)i);
        uint64_t v;
        if (st_hmap_get(m, kb, (size_t)n, &v) && v == i * 3) ok++;
    }
    CHECK_EQ_INT(ok, 200000);
    /* Delete all: the map is empty and reusable. */
    for (uint64_t i = 0; i < 200000; i++) {
        int n = snprintf(kb, sizeof kb, "cpu,host=h%llu", (unsigned long long)i);
        CHECK_EQ_INT(st_hmap_del(m, kb, (size_t)n), 1);
    }
    CHECK_EQ_INT(st_hmap_count(m), 0);
    size_t pos = 0, kl;
    const void *k;
    uint64_t v;
    CHECK_EQ_INT(st_hmap_next(m, &pos, &k, &kl, &v), 0);
    CHECK_EQ_INT(st_hmap_put(m, "x", 1, 1), 0);
    CHECK_EQ_INT(st_hmap_get(m, "x", 1, &v), 1);
    st_hmap_destroy(m);
}

/* Churn with deletes forces slab compaction; keys must survive it. */
TEST(slab_compaction)
{
    st_hmap *m = NULL;
    REQUIRE(st_hmap_create(0, &m) == 0);
    char kb[48];
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 100; i++) {
            int n = snprintf(kb, sizeof kb, "round%d-key%d-padding-padding", round, i);
            REQUIRE(st_hmap_put(m, kb, (size_t)n, (uint64_t)(round * 1000 + i)) == 0);
        }
        for (int i = 0; i < 100; i++) {
            if (round % 10 == 9 && i < 10) continue; /* keep a few from some rounds */
            int n = snprintf(kb, sizeof kb, "round%d-key%d-padding-padding", round, i);
            CHECK_EQ_INT(st_hmap_del(m, kb, (size_t)n), 1);
        }
    }
    CHECK_EQ_INT(st_hmap_count(m), 50);
    size_t before = st_hmap_bytes(m);
    CHECK(before < 64 * 1024); /* dead keys do not accumulate */
    for (int round = 9; round < 50; round += 10)
        for (int i = 0; i < 10; i++) {
            int n = snprintf(kb, sizeof kb, "round%d-key%d-padding-padding", round, i);
            uint64_t v;
            CHECK(st_hmap_get(m, kb, (size_t)n, &v) == 1 && v == (uint64_t)(round * 1000 + i));
        }
    st_hmap_destroy(m);
}

/* Fail the N-th allocation for N = 0, 1, 2...: every failure is ST_ENOMEM,
 * leaves the map's contents unchanged, and nothing leaks. */
TEST(oom_walk)
{
    int64_t live0 = st_alloc_live();
    for (int64_t n = 0;; n++) {
        st_alloc_fail_at(n, 0);
        st_hmap *m = NULL;
        int rc = st_hmap_create(0, &m);
        if (rc) {
            CHECK_EQ_INT(rc, ST_ENOMEM);
            CHECK_EQ_INT(st_alloc_live(), live0);
            continue;
        }
        int failed = 0;
        char kb[32];
        int i;
        for (i = 0; i < 300; i++) {
            int len = snprintf(kb, sizeof kb, "key-%d", i);
            rc = st_hmap_put(m, kb, (size_t)len, (uint64_t)i);
            if (rc) {
                CHECK_EQ_INT(rc, ST_ENOMEM);
                failed = 1;
                break;
            }
            if (i % 7 == 3) { /* churn so compaction paths are walked too */
                len = snprintf(kb, sizeof kb, "key-%d", i - 3);
                st_hmap_del(m, kb, (size_t)len);
            }
        }
        st_alloc_fail_at(-1, 0);
        /* Contents equal exactly what succeeded. */
        size_t expect = 0;
        for (int j = 0; j < i; j++) {
            int len = snprintf(kb, sizeof kb, "key-%d", j);
            int deleted = ((j + 3) % 7 == 3) && (j + 3 < i);
            uint64_t v;
            int got = st_hmap_get(m, kb, (size_t)len, &v);
            if (deleted) CHECK_EQ_INT(got, 0);
            else { CHECK(got == 1 && v == (uint64_t)j); expect++; }
        }
        int flen = snprintf(kb, sizeof kb, "key-%d", i);
        if (failed) CHECK_EQ_INT(st_hmap_get(m, kb, (size_t)flen, NULL), 0);
        CHECK_EQ_INT(st_hmap_count(m), expect);
        st_hmap_destroy(m);
        CHECK_EQ_INT(st_alloc_live(), live0);
        if (!failed) break;
        if (n > 1000) { CHECK(0); break; }
    }
}

TEST(hash_quality)
{
    /* Deterministic for a seed, differs by seed and by a single bit. */
    CHECK_EQ_U64(st_hash_bytes("abc", 3, 1), st_hash_bytes("abc", 3, 1));
    CHECK(st_hash_bytes("abc", 3, 1) != st_hash_bytes("abc", 3, 2));
    CHECK(st_hash_bytes("", 0, 1) != st_hash_bytes("\0", 1, 1));
    /* Avalanche: flipping one input bit flips ~half the output bits, for every length. */
    unsigned char buf[100];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 37 + 1);
    long total = 0, trials = 0;
    for (size_t len = 1; len <= sizeof buf; len++) {
        uint64_t h0 = st_hash_bytes(buf, len, 42);
        for (size_t bit = 0; bit < len * 8; bit += 3) {
            buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            uint64_t h1 = st_hash_bytes(buf, len, 42);
            buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            total += __builtin_popcountll(h0 ^ h1);
            trials++;
            if (h0 == h1) CHECK(0);
        }
    }
    double avg = (double)total / (double)trials;
    CHECK(avg > 30.0 && avg < 34.0);
}

int main(void)
{
    RUN(basic_ops);
    RUN(model_1m_ops);
    RUN(many_keys_grow);
    RUN(slab_compaction);
    RUN(oom_walk);
    RUN(hash_quality);
    return unit_done();
}
