/* tests/unit/test_sindex.c — storage/sindex: canonical keys, resolve (one
 * thread and many), limits, field types, define/replay, postings, drops,
 * out-of-memory walk. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "storage/sindex.h"
#include "tests/unit/unit.h"

static st_slice S(const char *s) { return st_slice_cstr(s); }

static uint64_t mkdb(sidx *idx, const char *name)
{
    sidx_db_info info = { .name = S(name) };
    uint64_t id = 0;
    int rc = sidx_db_create(idx, &info, &id);
    return rc ? 0 : id;
}

static sidx *mkidx(uint64_t max_series)
{
    sidx_config cfg = { .max_series = max_series };
    sidx *idx = NULL;
    return sidx_create(&cfg, &idx) ? NULL : idx;
}

TEST(key_roundtrip_odd_bytes)
{
    const char mname[] = "m,e=a\0s";
    const char k1[] = "a\0b", v1[] = "x=y,z";
    const char k2[] = "a\0c", v2[] = "";
    const char k3[] = "b", v3[] = "\0\0\0";
    sidx_tag tags[3] = {
        { { k2, sizeof k2 - 1 }, { v2, 0 } },
        { { k3, sizeof k3 - 1 }, { v3, sizeof v3 - 1 } },
        { { k1, sizeof k1 - 1 }, { v1, sizeof v1 - 1 } },
    };
    char buf[256];
    size_t len = 0;
    CHECK_EQ_INT(sidx_key_encode((st_slice){ mname, sizeof mname - 1 }, tags, 3, buf, sizeof buf, &len), ST_EINVAL);
    sidx_tags_sort(tags, 3);
    REQUIRE(sidx_key_encode((st_slice){ mname, sizeof mname - 1 }, tags, 3, buf, sizeof buf, &len) == 0);
    size_t want;
    REQUIRE(sidx_key_len((st_slice){ mname, sizeof mname - 1 }, tags, 3, &want) == 0);
    CHECK_EQ_INT(len, want);
    /* the documented layout: uvarint length then bytes, measurement first */
    CHECK_EQ_INT((unsigned char)buf[0], sizeof mname - 1);
    CHECK(memcmp(buf + 1, mname, sizeof mname - 1) == 0);
    CHECK_EQ_INT((unsigned char)buf[sizeof mname], 3); /* "a\0b" comes first */

    st_slice m;
    sidx_tag out[3];
    size_t n = 0;
    REQUIRE(sidx_key_decode(buf, len, &m, out, 3, &n) == 0);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_MEM(m.ptr, m.len, mname, sizeof mname - 1);
    CHECK_EQ_MEM(out[0].key.ptr, out[0].key.len, k1, sizeof k1 - 1);
    CHECK_EQ_MEM(out[0].val.ptr, out[0].val.len, v1, sizeof v1 - 1);
    CHECK_EQ_MEM(out[1].key.ptr, out[1].key.len, k2, sizeof k2 - 1);
    CHECK_EQ_INT(out[1].val.len, 0);
    CHECK_EQ_MEM(out[2].key.ptr, out[2].key.len, k3, sizeof k3 - 1);
    CHECK_EQ_MEM(out[2].val.ptr, out[2].val.len, v3, sizeof v3 - 1);

    /* count only; too small an array */
    CHECK_EQ_INT(sidx_key_decode(buf, len, NULL, NULL, 0, &n), 0);
    CHECK_EQ_INT(n, 3);
    n = 0;
    CHECK_EQ_INT(sidx_key_decode(buf, len, &m, out, 2, &n), ST_ERANGE);
    CHECK_EQ_INT(n, 3); /* the room it needs */
    /* buffer too small, duplicate keys */
    CHECK_EQ_INT(sidx_key_encode((st_slice){ mname, sizeof mname - 1 }, tags, 3, buf, want - 1, &len), ST_ERANGE);
    sidx_tag dup[2] = { { S("a"), S("1") }, { S("a"), S("2") } };
    CHECK_EQ_INT(sidx_key_len(S("m"), dup, 2, &len), ST_EINVAL);
}

TEST(key_decode_rejects_malformed)
{
    char buf[64];
    size_t len, n;
    sidx_tag tags[2] = { { S("a"), S("1") }, { S("b"), S("2") } };
    REQUIRE(sidx_key_encode(S("cpu"), tags, 2, buf, sizeof buf, &len) == 0);
    /* every truncation is rejected or decodes to fewer complete tags (never overruns) */
    for (size_t cut = 0; cut < len; cut++) {
        int rc = sidx_key_decode(buf, cut, NULL, NULL, 0, &n);
        CHECK(rc == ST_ECORRUPT || (rc == 0 && n < 2));
    }
    const unsigned char overlong[] = { 0x83, 0x00, 'c', 'p', 'u' }; /* 3 written in two bytes */
    CHECK_EQ_INT(sidx_key_decode(overlong, sizeof overlong, NULL, NULL, 0, &n), ST_ECORRUPT);
    const unsigned char past[] = { 0x09, 'c', 'p', 'u' };
    CHECK_EQ_INT(sidx_key_decode(past, sizeof past, NULL, NULL, 0, &n), ST_ECORRUPT);
    const unsigned char unsorted[] = { 1, 'm', 1, 'b', 1, '1', 1, 'a', 1, '2' };
    CHECK_EQ_INT(sidx_key_decode(unsorted, sizeof unsorted, NULL, NULL, 0, &n), ST_ECORRUPT);
    const unsigned char lonekey[] = { 1, 'm', 1, 'b' };
    CHECK_EQ_INT(sidx_key_decode(lonekey, sizeof lonekey, NULL, NULL, 0, &n), ST_ECORRUPT);
    const unsigned char huge[] = { 1, 'm', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    CHECK_EQ_INT(sidx_key_decode(huge, sizeof huge, NULL, NULL, 0, &n), ST_ECORRUPT);
}

TEST(databases)
{
    sidx *idx = mkidx(0);
    REQUIRE(idx);
    sidx_db_info info = { .name = S("plant"), .rp_duration_ns = 3600000000000LL };
    uint64_t a = 0, b = 0;
    REQUIRE(sidx_db_create(idx, &info, &a) == 0);
    CHECK_EQ_U64(a, 1);
    CHECK_EQ_INT(sidx_db_create(idx, &info, &b), ST_EEXISTS);
    info.name = S("");
    CHECK_EQ_INT(sidx_db_create(idx, &info, &b), ST_EINVAL);
    info.name = S("lab");
    info.rp_name = S("week");
    info.shard_duration_ns = 7;
    REQUIRE(sidx_db_create(idx, &info, &b) == 0);
    CHECK_EQ_U64(b, 2);

    sidx_db_info got;
    REQUIRE(sidx_db_lookup(idx, S("plant"), &got) == 0);
    CHECK_EQ_U64(got.id, 1);
    CHECK_EQ_INT(got.rp_duration_ns, 3600000000000LL);
    CHECK_EQ_INT(got.shard_duration_ns, SIDX_SHARD_DEFAULT_NS);
    CHECK(got.created_ns > 0);
    CHECK_EQ_INT(sidx_db_lookup(idx, S("nope"), &got), ST_ENOTFOUND);
    CHECK_EQ_INT(sidx_db_rp_check(idx, a, S("autogen")), 0);
    CHECK_EQ_INT(sidx_db_rp_check(idx, a, S("")), 0);
    CHECK_EQ_INT(sidx_db_rp_check(idx, a, S("week")), ST_ENOTFOUND);
    CHECK_EQ_INT(sidx_db_rp_check(idx, b, S("week")), 0);
    REQUIRE(sidx_db_get(idx, b, &got) == 0);
    CHECK_EQ_INT(got.shard_duration_ns, 7);
    CHECK_EQ_INT(sidx_db_set_retention(idx, b, 99), 0);
    REQUIRE(sidx_db_get(idx, b, &got) == 0);
    CHECK_EQ_INT(got.rp_duration_ns, 99);
    CHECK_EQ_INT(sidx_db_set_retention(idx, 77, 99), ST_ENOTFOUND);

    /* define: idempotent for same id+name, conflict otherwise, next id moves */
    sidx_db_info def = { .id = 10, .name = S("old") };
    CHECK_EQ_INT(sidx_db_define(idx, &def), 0);
    CHECK_EQ_INT(sidx_db_define(idx, &def), 0);
    def.name = S("other");
    CHECK_EQ_INT(sidx_db_define(idx, &def), ST_EEXISTS);
    def.id = 11;
    def.name = S("plant");
    CHECK_EQ_INT(sidx_db_define(idx, &def), ST_EEXISTS);
    uint64_t nd;
    sidx_next_ids(idx, &nd, NULL, NULL);
    CHECK_EQ_U64(nd, 11);

    /* drop: the name is free again, the id is not reused */
    CHECK_EQ_INT(sidx_db_drop(idx, a), 0);
    CHECK_EQ_INT(sidx_db_drop(idx, a), ST_ENOTFOUND);
    CHECK_EQ_INT(sidx_db_lookup(idx, S("plant"), &got), ST_ENOTFOUND);
    info = (sidx_db_info){ .name = S("plant") };
    REQUIRE(sidx_db_create(idx, &info, &a) == 0);
    CHECK_EQ_U64(a, 11);
    sidx_destroy(idx);
}

typedef struct collect { char names[64][32]; uint64_t ids[64]; int types[64]; int n; } collect;

static int collect_name(void *arg, st_slice name)
{
    collect *c = arg;
    if (c->n < 64) snprintf(c->names[c->n++], 32, "%.*s", (int)name.len, name.ptr);
    return 0;
}

static int collect_db(void *arg, const sidx_db_info *db)
{
    collect *c = arg;
    if (c->n < 64) {
        c->ids[c->n] = db->id;
        snprintf(c->names[c->n++], 32, "%.*s", (int)db->name.len, db->name.ptr);
    }
    return 0;
}

static int collect_field(void *arg, uint64_t id, st_slice key, st_type type)
{
    collect *c = arg;
    if (c->n < 64) {
        c->ids[c->n] = id;
        c->types[c->n] = type;
        snprintf(c->names[c->n++], 32, "%.*s", (int)key.len, key.ptr);
    }
    return 0;
}

TEST(db_listing_order)
{
    sidx *idx = mkidx(0);
    REQUIRE(idx);
    mkdb(idx, "b");
    mkdb(idx, "a");
    mkdb(idx, "c");
    sidx_db_drop(idx, 3);
    collect c = { .n = 0 };
    CHECK_EQ_INT(sidx_db_each(idx, collect_db, &c), 0);
    CHECK_EQ_INT(c.n, 2);
    CHECK_EQ_STR(c.names[0], "b");
    CHECK_EQ_U64(c.ids[1], 2);
    sidx_destroy(idx);
}

TEST(resolve_creates_once_and_logged_bit)
{
    sidx *idx = mkidx(0);
    REQUIRE(idx);
    uint64_t db = mkdb(idx, "db");
    sidx_tag t1[2] = { { S("host"), S("a") }, { S("region"), S("eu") } };
    sidx_tag t2[2] = { { S("region"), S("eu") }, { S("host"), S("a") } };
    uint64_t id = 0, id2 = 0;
    unsigned fl = 99;
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), t1, 2, &id, &fl) == 0);
    CHECK_EQ_U64(id, 1);
    CHECK_EQ_INT(fl, SIDX_F_CREATED);
    sidx_tags_sort(t2, 2);
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), t2, 2, &id2, &fl) == 0);
    CHECK_EQ_U64(id2, id);
    CHECK_EQ_INT(fl, 0); /* found, definition not logged yet: carry it */
    sidx_series_mark_logged(idx, id);
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), t1, 2, &id2, &fl) == 0);
    CHECK_EQ_INT(fl, SIDX_F_LOGGED);
    /* a different tag set, no tags at all, another measurement: new dense ids */
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), t1, 1, &id2, &fl) == 0);
    CHECK_EQ_U64(id2, 2);
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), NULL, 0, &id2, &fl) == 0);
    CHECK_EQ_U64(id2, 3);
    REQUIRE(sidx_series_resolve(idx, db, S("mem"), t1, 2, &id2, &fl) == 0);
    CHECK_EQ_U64(id2, 4);
    CHECK_EQ_U64(sidx_series_count(idx), 4);
    /* errors write nothing */
    id2 = 12345;
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S("cpu"), t2 + 0, 0, &id2, &fl), 0);
    CHECK_EQ_U64(id2, 3);
    id2 = 12345;
    sidx_tag bad[2] = { { S("z"), S("1") }, { S("a"), S("1") } };
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S("cpu"), bad, 2, &id2, &fl), ST_EINVAL);
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S(""), NULL, 0, &id2, &fl), ST_EINVAL);
    CHECK_EQ_INT(sidx_series_resolve(idx, 99, S("cpu"), NULL, 0, &id2, &fl), ST_ENOTFOUND);
    CHECK_EQ_U64(id2, 12345);
    /* the same key in another database is another series */
    uint64_t db2 = mkdb(idx, "db2");
    REQUIRE(sidx_series_resolve(idx, db2, S("cpu"), t1, 2, &id2, &fl) == 0);
    CHECK_EQ_U64(id2, 5);
    CHECK_EQ_INT(fl, SIDX_F_CREATED);
    /* a long key (beyond the stack buffer) and one past the limit */
    char *big = malloc(70000);
    REQUIRE(big);
    memset(big, 'v', 70000);
    sidx_tag tb = { S("k"), { big, 5000 } };
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), &tb, 1, &id2, &fl) == 0);
    CHECK_EQ_U64(id2, 6);
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), &tb, 1, &id2, &fl) == 0);
    CHECK_EQ_U64(id2, 6);
    tb.val.len = 70000;
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S("cpu"), &tb, 1, &id2, &fl), ST_ETOOLARGE);
    free(big);
    /* the series' key decodes back */
    void *key = NULL;
    size_t klen = 0, n = 0;
    uint64_t kdb = 0;
    REQUIRE(sidx_series_key_dup(idx, 1, &kdb, &key, &klen) == 0);
    st_slice m;
    sidx_tag out[4];
    REQUIRE(sidx_key_decode(key, klen, &m, out, 4, &n) == 0);
    CHECK_EQ_U64(kdb, db);
    CHECK_EQ_MEM(m.ptr, m.len, "cpu", 3);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_MEM(out[1].key.ptr, out[1].key.len, "region", 6);
    CHECK_EQ_MEM(out[1].val.ptr, out[1].val.len, "eu", 2);
    st_free(key);
    CHECK_EQ_INT(sidx_series_key_dup(idx, 999, &kdb, &key, &klen), ST_ENOTFOUND);
    sidx_destroy(idx);
}

/* ---- many threads ---------------------------------------------------------- */

#define MT_THREADS 8
#define MT_SHARED 2000
#define MT_OWN 500

typedef struct mt_arg {
    sidx *idx;
    uint64_t db;
    int t;
    uint64_t shared[MT_SHARED], own[MT_OWN];
    int created;
    int errors;
} mt_arg;

static void *mt_run(void *p)
{
    mt_arg *a = p;
    char host[32], rack[32];
    for (int r = 0; r < 2; r++) {
        for (int j = 0; j < MT_SHARED + MT_OWN; j++) {
            /* each thread walks the shared keys in its own order */
            int shared = j < MT_SHARED;
            static const int mult[MT_THREADS] = { 1, 3, 7, 11, 13, 17, 19, 23 }; /* coprime to MT_SHARED */
            int k = shared ? (j * mult[a->t] + a->t * 131) % MT_SHARED : j - MT_SHARED;
            snprintf(host, sizeof host, shared ? "h%d" : "t%d-h%d", shared ? k : a->t, k);
            snprintf(rack, sizeof rack, "r%d", k % 13);
            sidx_tag tags[2] = { { S("host"), S(host) }, { S("rack"), S(rack) } };
            uint64_t id;
            unsigned fl;
            if (sidx_series_resolve(a->idx, a->db, S("m"), tags, 2, &id, &fl)) { a->errors++; continue; }
            if (fl & SIDX_F_CREATED) {
                a->created++;
                if (r == 1) a->errors++;
            }
            if (shared) a->shared[k] = id; else a->own[k] = id;
            uint64_t fid;
            st_type et;
            if (sidx_field_resolve(a->idx, a->db, S("m"), S(rack), ST_TYPE_FLOAT, &fid, &fl, &et)) a->errors++;
        }
    }
    return NULL;
}

TEST(concurrent_resolve_dense_unique)
{
    sidx *idx = mkidx(0);
    REQUIRE(idx);
    uint64_t db = mkdb(idx, "db");
    static mt_arg args[MT_THREADS];
    pthread_t th[MT_THREADS];
    for (int t = 0; t < MT_THREADS; t++) {
        memset(&args[t], 0, sizeof args[t]);
        args[t] = (mt_arg){ .idx = idx, .db = db, .t = t };
        REQUIRE(pthread_create(&th[t], NULL, mt_run, &args[t]) == 0);
    }
    int created = 0, errors = 0;
    for (int t = 0; t < MT_THREADS; t++) {
        pthread_join(th[t], NULL);
        created += args[t].created;
        errors += args[t].errors;
    }
    const int total = MT_SHARED + MT_THREADS * MT_OWN;
    CHECK_EQ_INT(errors, 0);
    CHECK_EQ_INT(created, total);
    CHECK_EQ_U64(sidx_series_count(idx), (uint64_t)total);
    CHECK_EQ_U64(sidx_field_count(idx), 13);
    static unsigned char seen[MT_SHARED + MT_THREADS * MT_OWN + 1];
    memset(seen, 0, sizeof seen);
    int bad = 0;
    for (int k = 0; k < MT_SHARED; k++) {
        uint64_t id = args[0].shared[k];
        for (int t = 1; t < MT_THREADS; t++) bad += args[t].shared[k] != id;
        if (id >= 1 && id <= (uint64_t)total) bad += seen[id]++;
        else bad++;
    }
    for (int t = 0; t < MT_THREADS; t++)
        for (int k = 0; k < MT_OWN; k++) {
            uint64_t id = args[t].own[k];
            if (id >= 1 && id <= (uint64_t)total) bad += seen[id]++;
            else bad++;
        }
    CHECK_EQ_INT(bad, 0); /* one id per key, every id in 1..total used once */
    uint64_t *ids = NULL;
    size_t n = 0;
    REQUIRE(sidx_postings_copy(idx, db, S("m"), S("rack"), S("r0"), &ids, &n) == 0);
    size_t want = 0;
    for (int k = 0; k < MT_SHARED; k++) want += k % 13 == 0;
    for (int k = 0; k < MT_OWN; k++) want += (k % 13 == 0) * MT_THREADS;
    CHECK_EQ_INT(n, want);
    for (size_t i = 1; i < n; i++) CHECK(ids[i - 1] < ids[i]);
    st_free(ids);
    sidx_destroy(idx);
}

TEST(max_series_limit)
{
    sidx *idx = mkidx(5);
    REQUIRE(idx);
    uint64_t db = mkdb(idx, "db");
    char v[16];
    uint64_t id;
    unsigned fl;
    for (int i = 0; i < 5; i++) {
        snprintf(v, sizeof v, "%d", i);
        sidx_tag t = { S("k"), S(v) };
        REQUIRE(sidx_series_resolve(idx, db, S("m"), &t, 1, &id, &fl) == 0);
    }
    sidx_tag t6 = { S("k"), S("x") };
    id = 777;
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S("m"), &t6, 1, &id, &fl), ST_ELIMIT);
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S("other"), NULL, 0, &id, &fl), ST_ELIMIT);
    CHECK_EQ_U64(id, 777);
    CHECK_EQ_U64(sidx_series_count(idx), 5);
    uint64_t *ids = NULL;
    size_t n = 9;
    CHECK_EQ_INT(sidx_postings_copy(idx, db, S("m"), S("k"), S("x"), &ids, &n), 0);
    CHECK_EQ_INT(n, 0);
    collect c = { .n = 0 };
    sidx_measurement_each(idx, db, collect_name, &c);
    CHECK_EQ_INT(c.n, 1); /* "other" was not created */
    /* existing series still resolve; a drop makes room; ids keep counting */
    sidx_tag t0 = { S("k"), S("0") };
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S("m"), &t0, 1, &id, &fl), 0);
    CHECK_EQ_U64(id, 1);
    CHECK_EQ_INT(sidx_series_drop(idx, 1), 0);
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S("m"), &t6, 1, &id, &fl), 0);
    CHECK_EQ_U64(id, 6);
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S("m"), &t0, 1, &id, &fl), ST_ELIMIT);
    sidx_destroy(idx);
}

TEST(field_types)
{
    sidx *idx = mkidx(0);
    REQUIRE(idx);
    uint64_t db = mkdb(idx, "db");
    uint64_t id = 0, id2 = 0;
    unsigned fl;
    st_type et = ST_TYPE_NONE;
    REQUIRE(sidx_field_resolve(idx, db, S("m"), S("v"), ST_TYPE_FLOAT, &id, &fl, &et) == 0);
    CHECK_EQ_U64(id, 1);
    CHECK_EQ_INT(fl, SIDX_F_CREATED);
    CHECK_EQ_INT(et, ST_TYPE_NONE);
    id2 = 55;
    CHECK_EQ_INT(sidx_field_resolve(idx, db, S("m"), S("v"), ST_TYPE_INT, &id2, &fl, &et), ST_ECONFLICT);
    CHECK_EQ_INT(et, ST_TYPE_FLOAT);
    CHECK_EQ_U64(id2, 55);
    REQUIRE(sidx_field_resolve(idx, db, S("m"), S("v"), ST_TYPE_FLOAT, &id2, &fl, &et) == 0);
    CHECK_EQ_U64(id2, 1);
    CHECK_EQ_INT(fl, 0);
    sidx_field_mark_logged(idx, 1);
    REQUIRE(sidx_field_resolve(idx, db, S("m"), S("v"), ST_TYPE_FLOAT, &id2, &fl, &et) == 0);
    CHECK_EQ_INT(fl, SIDX_F_LOGGED);
    /* same key in another measurement: independent type */
    REQUIRE(sidx_field_resolve(idx, db, S("m2"), S("v"), ST_TYPE_STRING, &id2, &fl, &et) == 0);
    CHECK_EQ_U64(id2, 2);
    REQUIRE(sidx_field_resolve(idx, db, S("m"), ((st_slice){ "a\0b", 3 }), ST_TYPE_BOOL, &id2, &fl, &et) == 0);
    REQUIRE(sidx_field_resolve(idx, db, S("m"), S(""), ST_TYPE_UINT, &id2, &fl, &et) == 0);
    CHECK_EQ_INT(sidx_field_resolve(idx, db, S("m"), S("x"), ST_TYPE_NONE, &id2, &fl, &et), ST_EINVAL);
    CHECK_EQ_INT(sidx_field_resolve(idx, 9, S("m"), S("x"), ST_TYPE_INT, &id2, &fl, &et), ST_ENOTFOUND);
    collect c = { .n = 0 };
    CHECK_EQ_INT(sidx_field_each(idx, db, S("m"), collect_field, &c), 0);
    CHECK_EQ_INT(c.n, 3);
    CHECK_EQ_STR(c.names[0], "");
    CHECK_EQ_STR(c.names[1], "a"); /* "a\0b" printed with %s stops at the NUL */
    CHECK_EQ_STR(c.names[2], "v");
    CHECK_EQ_INT(c.types[2], ST_TYPE_FLOAT);
    CHECK_EQ_U64(c.ids[2], 1);
    CHECK_EQ_INT(sidx_field_each(idx, db, S("nope"), collect_field, &c), ST_ENOTFOUND);
    sidx_destroy(idx);
}

TEST(define_then_resolve)
{
    sidx *idx = mkidx(0);
    REQUIRE(idx);
    sidx_db_info dbi = { .id = 3, .name = S("db") };
    REQUIRE(sidx_db_define(idx, &dbi) == 0);
    char k10[64], k4[64];
    size_t l10, l4;
    sidx_tag ta = { S("host"), S("a") }, tb = { S("host"), S("b") };
    REQUIRE(sidx_key_encode(S("cpu"), &ta, 1, k10, sizeof k10, &l10) == 0);
    REQUIRE(sidx_key_encode(S("cpu"), &tb, 1, k4, sizeof k4, &l4) == 0);
    CHECK_EQ_INT(sidx_define_series(idx, 10, 3, k10, l10), 0);
    CHECK_EQ_INT(sidx_define_series(idx, 4, 3, k4, l4), 0);
    CHECK_EQ_INT(sidx_define_series(idx, 10, 3, k10, l10), 0); /* idempotent */
    CHECK_EQ_INT(sidx_define_series(idx, 11, 3, k10, l10), ST_EEXISTS);
    CHECK_EQ_INT(sidx_define_series(idx, 4, 3, k10, l10), ST_EEXISTS);
    CHECK_EQ_INT(sidx_define_series(idx, 12, 9, k10, l10), ST_ENOTFOUND);
    CHECK_EQ_INT(sidx_define_series(idx, 12, 3, "\x05" "ab", 3), ST_ECORRUPT);
    CHECK_EQ_INT(sidx_define_series(idx, 0, 3, k10, l10), ST_EINVAL);
    CHECK_EQ_INT(sidx_define_field(idx, 7, 3, S("cpu"), S("v"), ST_TYPE_INT), 0);
    CHECK_EQ_INT(sidx_define_field(idx, 7, 3, S("cpu"), S("v"), ST_TYPE_INT), 0);
    CHECK_EQ_INT(sidx_define_field(idx, 7, 3, S("cpu"), S("v"), ST_TYPE_FLOAT), ST_ECONFLICT);
    CHECK_EQ_INT(sidx_define_field(idx, 8, 3, S("cpu"), S("v"), ST_TYPE_INT), ST_EEXISTS);
    CHECK_EQ_INT(sidx_define_field(idx, 7, 3, S("cpu"), S("w"), ST_TYPE_INT), ST_EEXISTS);

    uint64_t id;
    unsigned fl;
    REQUIRE(sidx_series_resolve(idx, 3, S("cpu"), &ta, 1, &id, &fl) == 0);
    CHECK_EQ_U64(id, 10);
    CHECK_EQ_INT(fl, SIDX_F_LOGGED); /* defined entries are logged already */
    REQUIRE(sidx_series_resolve(idx, 3, S("cpu"), NULL, 0, &id, &fl) == 0);
    CHECK_EQ_U64(id, 11);
    CHECK_EQ_INT(fl, SIDX_F_CREATED);
    st_type et;
    REQUIRE(sidx_field_resolve(idx, 3, S("cpu"), S("w"), ST_TYPE_INT, &id, &fl, &et) == 0);
    CHECK_EQ_U64(id, 8);
    uint64_t nd, ns, nf;
    sidx_next_ids(idx, &nd, &ns, &nf);
    CHECK_EQ_U64(nd, 4);
    CHECK_EQ_U64(ns, 12);
    CHECK_EQ_U64(nf, 9);
    sidx_next_ids_raise(idx, 2, 100, 5); /* only moves forward */
    sidx_next_ids(idx, &nd, &ns, &nf);
    CHECK_EQ_U64(nd, 4);
    CHECK_EQ_U64(ns, 100);
    CHECK_EQ_U64(nf, 9);
    /* postings are sorted even when ids were defined out of order */
    uint64_t *ids;
    size_t n;
    REQUIRE(sidx_measurement_series_copy(idx, 3, S("cpu"), &ids, &n) == 0);
    REQUIRE(n == 3);
    CHECK_EQ_U64(ids[0], 4);
    CHECK_EQ_U64(ids[1], 10);
    CHECK_EQ_U64(ids[2], 11);
    st_free(ids);
    sidx_destroy(idx);
}

/* ---- postings over a formula-generated set ------------------------------ */

#define PN 300
static int host_of(int i) { return i % 7; }
static int region_of(int i) { return (i / 7) % 3; }
static int has_rack(int i) { return i % 5 != 0; }

static void tags_of(int i, char *h, char *r, char *k, char *u, sidx_tag *t, size_t *nt)
{
    sprintf(h, "h%02d", host_of(i));
    sprintf(r, "r%d", region_of(i));
    sprintf(k, "k%d", i);
    sprintf(u, "%d", i);
    size_t n = 0;
    t[n++] = (sidx_tag){ S("host"), S(h) };
    t[n++] = (sidx_tag){ S("id"), S(u) };
    if (has_rack(i)) t[n++] = (sidx_tag){ S("rack"), S(k) };
    t[n++] = (sidx_tag){ S("region"), S(r) };
    *nt = n;
}

TEST(postings_formula)
{
    sidx *idx = mkidx(0);
    REQUIRE(idx);
    uint64_t db = mkdb(idx, "db");
    uint64_t sid[PN];
    for (int i = 0; i < PN; i++) {
        char h[8], r[8], k[8], u[8];
        sidx_tag t[4];
        size_t nt;
        tags_of(i, h, r, k, u, t, &nt);
        unsigned fl;
        REQUIRE(sidx_series_resolve(idx, db, i % 2 ? S("odd") : S("even"), t, nt, &sid[i], &fl) == 0);
        CHECK_EQ_U64(sid[i], (uint64_t)i + 1);
    }
    const char *ms[2] = { "even", "odd" };
    for (int mi = 0; mi < 2; mi++) {
        for (int h = 0; h < 7; h++) {
            char hv[8];
            sprintf(hv, "h%02d", h);
            uint64_t *ids;
            size_t n;
            REQUIRE(sidx_postings_copy(idx, db, S(ms[mi]), S("host"), S(hv), &ids, &n) == 0);
            size_t j = 0;
            for (int i = 0; i < PN; i++) {
                if (i % 2 != mi || host_of(i) != h) continue;
                CHECK(j < n && ids[j] == sid[i]);
                j++;
            }
            CHECK_EQ_INT(n, j);
            st_free(ids);
        }
        uint64_t *ids;
        size_t n;
        REQUIRE(sidx_measurement_series_copy(idx, db, S(ms[mi]), &ids, &n) == 0);
        CHECK_EQ_INT(n, PN / 2);
        for (size_t j = 0; j < n; j++) CHECK_EQ_U64(ids[j], 2 * j + (size_t)mi + 1);
        st_free(ids);
        collect c = { .n = 0 };
        REQUIRE(sidx_tag_key_each(idx, db, S(ms[mi]), collect_name, &c) == 0);
        CHECK_EQ_INT(c.n, 4);
        CHECK_EQ_STR(c.names[0], "host");
        CHECK_EQ_STR(c.names[1], "id");
        CHECK_EQ_STR(c.names[2], "rack");
        CHECK_EQ_STR(c.names[3], "region");
        c.n = 0;
        REQUIRE(sidx_tag_value_each(idx, db, S(ms[mi]), S("region"), collect_name, &c) == 0);
        CHECK_EQ_INT(c.n, 3);
        CHECK_EQ_STR(c.names[0], "r0");
        CHECK_EQ_STR(c.names[2], "r2");
    }
    uint64_t *ids;
    size_t n;
    CHECK_EQ_INT(sidx_postings_copy(idx, db, S("odd"), S("rack"), S("k0"), &ids, &n), 0); /* k0 is even */
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(sidx_postings_copy(idx, db, S("odd"), S("nokey"), S("x"), &ids, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(sidx_postings_copy(idx, db, S("nomeas"), S("host"), S("h00"), &ids, &n), ST_ENOTFOUND);
    REQUIRE(sidx_postings_copy(idx, db, S("even"), S("rack"), S("k2"), &ids, &n) == 0);
    CHECK_EQ_INT(n, 1);
    if (n == 1) CHECK_EQ_U64(ids[0], sid[2]);
    st_free(ids);
    collect c = { .n = 0 };
    REQUIRE(sidx_measurement_each(idx, db, collect_name, &c) == 0);
    CHECK_EQ_INT(c.n, 2);
    CHECK_EQ_STR(c.names[0], "even");
    CHECK_EQ_STR(c.names[1], "odd");
    /* every series decodes back to the formula's tags */
    int bad = 0;
    for (int i = 0; i < PN; i++) {
        void *key;
        size_t klen, nt2;
        uint64_t kdb;
        REQUIRE(sidx_series_key_dup(idx, sid[i], &kdb, &key, &klen) == 0);
        st_slice m;
        sidx_tag got[5], want[4];
        char h[8], r[8], k[8], u[8];
        size_t nt;
        tags_of(i, h, r, k, u, want, &nt);
        if (sidx_key_decode(key, klen, &m, got, 5, &nt2) || nt2 != nt) bad++;
        else
            for (size_t j = 0; j < nt; j++)
                bad += !st_slice_eq(got[j].key, want[j].key) || !st_slice_eq(got[j].val, want[j].val);
        st_free(key);
    }
    CHECK_EQ_INT(bad, 0);
    sidx_destroy(idx);
}

TEST(drops)
{
    sidx *idx = mkidx(0);
    REQUIRE(idx);
    uint64_t db = mkdb(idx, "db");
    sidx_tag ta = { S("host"), S("a") }, tb = { S("host"), S("b") };
    uint64_t a, b, c2, f;
    unsigned fl;
    st_type et;
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), &ta, 1, &a, &fl) == 0);
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), &tb, 1, &b, &fl) == 0);
    REQUIRE(sidx_series_resolve(idx, db, S("mem"), &ta, 1, &c2, &fl) == 0);
    REQUIRE(sidx_field_resolve(idx, db, S("cpu"), S("v"), ST_TYPE_FLOAT, &f, &fl, &et) == 0);

    CHECK_EQ_INT(sidx_series_drop(idx, a), 0);
    CHECK_EQ_INT(sidx_series_drop(idx, a), ST_ENOTFOUND);
    CHECK_EQ_U64(sidx_series_count(idx), 2);
    uint64_t *ids;
    size_t n;
    REQUIRE(sidx_postings_copy(idx, db, S("cpu"), S("host"), S("a"), &ids, &n) == 0);
    CHECK_EQ_INT(n, 0);
    collect c = { .n = 0 };
    sidx_tag_value_each(idx, db, S("cpu"), S("host"), collect_name, &c);
    CHECK_EQ_INT(c.n, 1);
    CHECK_EQ_STR(c.names[0], "b");
    void *key;
    size_t klen;
    uint64_t kdb;
    CHECK_EQ_INT(sidx_series_key_dup(idx, a, &kdb, &key, &klen), ST_ENOTFOUND);
    /* the same key comes back with a new id */
    uint64_t a2;
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), &ta, 1, &a2, &fl) == 0);
    CHECK_EQ_U64(a2, 4);
    CHECK_EQ_INT(fl, SIDX_F_CREATED);
    /* measurement drop takes its series and fields */
    CHECK_EQ_INT(sidx_measurement_drop(idx, db, S("cpu")), 0);
    CHECK_EQ_INT(sidx_measurement_drop(idx, db, S("cpu")), ST_ENOTFOUND);
    CHECK_EQ_U64(sidx_series_count(idx), 1);
    CHECK_EQ_U64(sidx_field_count(idx), 0);
    c.n = 0;
    sidx_measurement_each(idx, db, collect_name, &c);
    CHECK_EQ_INT(c.n, 1);
    CHECK_EQ_STR(c.names[0], "mem");
    CHECK_EQ_INT(sidx_series_drop(idx, b), ST_ENOTFOUND);
    REQUIRE(sidx_field_resolve(idx, db, S("cpu"), S("v"), ST_TYPE_INT, &f, &fl, &et) == 0);
    CHECK_EQ_U64(f, 2); /* a new field, the old type is gone with it */
    REQUIRE(sidx_series_resolve(idx, db, S("cpu"), &tb, 1, &b, &fl) == 0);
    CHECK_EQ_U64(b, 5);
    /* db drop */
    CHECK_EQ_INT(sidx_db_drop(idx, db), 0);
    CHECK_EQ_U64(sidx_series_count(idx), 0);
    CHECK_EQ_U64(sidx_field_count(idx), 0);
    CHECK_EQ_INT(sidx_series_resolve(idx, db, S("mem"), &ta, 1, &c2, &fl), ST_ENOTFOUND);
    CHECK_EQ_INT(sidx_series_key_dup(idx, 3, &kdb, &key, &klen), ST_ENOTFOUND);
    uint64_t db2 = mkdb(idx, "db");
    REQUIRE(sidx_series_resolve(idx, db2, S("mem"), &ta, 1, &c2, &fl) == 0);
    CHECK_EQ_U64(c2, 6);
    sidx_destroy(idx);
}

/* Many drops in scrambled order: the maps' backward-shift deletion keeps
 * every remaining key findable. */
/* A fresh index with one database "db" and n series m,k=0 .. m,k=<n-1>,
 * whose ids are 1..n. */
static sidx *idx_with_series(int n, uint64_t *db)
{
    sidx *idx = mkidx(0);
    if (!idx) return NULL;
    *db = mkdb(idx, "db");
    char v[16];
    uint64_t id;
    unsigned fl;
    for (int i = 0; i < n; i++) {
        snprintf(v, sizeof v, "%d", i);
        sidx_tag t = { S("k"), S(v) };
        if (sidx_series_resolve(idx, *db, S("m"), &t, 1, &id, &fl) != 0 || id != (uint64_t)i + 1) {
            sidx_destroy(idx);
            return NULL;
        }
    }
    return idx;
}

TEST(drop_many_keeps_the_rest)
{
    enum { N = 3000 };
    uint64_t db;
    sidx *idx = idx_with_series(N, &db);
    REQUIRE(idx);
    char v[16];
    uint64_t id;
    unsigned fl;
    for (int j = 0; j < N; j++) {
        int i = (j * 7919) % N; /* 7919 is prime: a permutation */
        if (i % 3 == 0) CHECK_EQ_INT(sidx_series_drop(idx, (uint64_t)i + 1), 0);
    }
    CHECK_EQ_U64(sidx_series_count(idx), N - N / 3);
    int bad = 0;
    uint64_t next = N + 1;
    for (int i = 0; i < N; i++) {
        snprintf(v, sizeof v, "%d", i);
        sidx_tag t = { S("k"), S(v) };
        if (sidx_series_resolve(idx, db, S("m"), &t, 1, &id, &fl)) { bad++; continue; }
        if (i % 3) bad += id != (uint64_t)i + 1 || (fl & SIDX_F_CREATED);
        else bad += id != next++ || !(fl & SIDX_F_CREATED);
    }
    CHECK_EQ_INT(bad, 0);
    uint64_t *ids;
    size_t n;
    REQUIRE(sidx_measurement_series_copy(idx, db, S("m"), &ids, &n) == 0);
    CHECK_EQ_INT(n, N);
    for (size_t i = 1; i < n; i++) CHECK(ids[i - 1] < ids[i]);
    st_free(ids);
    sidx_destroy(idx);
}

/* sidx_series_get_many: every live id in the order asked, across lock
 * batches; unknown and dropped ids skipped; the callback's error stops it. */
typedef struct got_many { size_t n, stop_at; uint64_t ids[1200]; int bad; } got_many;

static int got_one(void *arg, uint64_t series_id, uint64_t db_id, const void *key, size_t key_len)
{
    got_many *g = arg;
    (void)db_id;
    st_slice m;
    sidx_tag t;
    size_t nt = 0;
    char want[16];
    snprintf(want, sizeof want, "%llu", (unsigned long long)series_id - 1);
    if (sidx_key_decode(key, key_len, &m, &t, 1, &nt) != 0 || nt != 1 || t.val.len != strlen(want) ||
        memcmp(t.val.ptr, want, t.val.len) != 0)
        g->bad++;
    if (g->n < 1200) g->ids[g->n] = series_id;
    if (++g->n == g->stop_at) return ST_EIO;
    return 0;
}

TEST(series_get_many)
{
    enum { N = 1000 };
    uint64_t db;
    sidx *idx = idx_with_series(N, &db);
    REQUIRE(idx);
    CHECK_EQ_INT(sidx_series_drop(idx, 500), 0);
    /* backwards, with an unknown id, a dropped one and id 0 among them:
     * more than two batches */
    uint64_t ask[N + 3];
    size_t na = 0;
    for (int i = N; i >= 1; i--) ask[na++] = (uint64_t)i;
    ask[na++] = 0;
    ask[na++] = N + 77;
    ask[na++] = 3;
    REQUIRE(na > 2 * SIDX_GET_BATCH);
    got_many *g = calloc(1, sizeof *g);
    REQUIRE(g);
    CHECK_EQ_INT(sidx_series_get_many(idx, ask, na, got_one, g), 0);
    CHECK_EQ_INT(g->n, N); /* N - 1 live of 1..N, then 3 again */
    CHECK_EQ_INT(g->bad, 0);
    size_t k = 0;
    int order_bad = 0;
    for (int i = N; i >= 1; i--) {
        if (i == 500) continue;
        order_bad += g->ids[k++] != (uint64_t)i;
    }
    order_bad += g->ids[k] != 3;
    CHECK_EQ_INT(order_bad, 0);
    /* stops at the callback's error, in the second batch */
    memset(g, 0, sizeof *g);
    g->stop_at = SIDX_GET_BATCH + 10;
    CHECK_EQ_INT(sidx_series_get_many(idx, ask, na, got_one, g), ST_EIO);
    CHECK_EQ_INT(g->n, SIDX_GET_BATCH + 10);
    CHECK_EQ_INT(sidx_series_get_many(idx, ask, 0, got_one, g), 0);
    free(g);
    sidx_destroy(idx);
}

/* ---- out of memory --------------------------------------------------------- */

typedef struct snap { uint64_t series, fields; int meas, tagk; size_t post; } snap;

static snap snapshot(sidx *idx, uint64_t db)
{
    snap s = { sidx_series_count(idx), sidx_field_count(idx), 0, 0, 0 };
    collect c = { .n = 0 };
    sidx_measurement_each(idx, db, collect_name, &c);
    s.meas = c.n;
    c.n = 0;
    sidx_tag_key_each(idx, db, S("new"), collect_name, &c);
    s.tagk = c.n;
    uint64_t *ids = NULL;
    size_t n = 0;
    if (sidx_postings_copy(idx, db, S("new"), S("t1"), S("x"), &ids, &n) == 0) st_free(ids);
    s.post = n;
    return s;
}

TEST(oom_walk_resolve)
{
    int64_t live0 = st_alloc_live();
    int done_series = 0, done_field = 0, done_create = 0;
    for (int64_t nfail = 0; nfail < 200 && !(done_series && done_field && done_create); nfail++) {
        /* sidx_create and db creation under the failing allocator too */
        st_alloc_fail_at(nfail, 0);
        sidx *idx = NULL;
        int rc = sidx_create(NULL, &idx);
        uint64_t db = 0;
        if (!rc) {
            sidx_db_info info = { .name = S("db") };
            rc = sidx_db_create(idx, &info, &db);
        }
        st_alloc_fail_at(-1, 0);
        CHECK(rc == 0 || rc == ST_ENOMEM);
        if (rc) {
            sidx_destroy(idx);
            continue;
        }
        done_create = 1;
        /* an existing series in another measurement */
        uint64_t id;
        unsigned fl;
        sidx_tag base = { S("t1"), S("y") };
        REQUIRE(sidx_series_resolve(idx, db, S("old"), &base, 1, &id, &fl) == 0);
        snap before = snapshot(idx, db);
        sidx_tag tags[3] = { { S("t1"), S("x") }, { S("t2"), S("x") }, { S("t3"), S("z") } };
        st_alloc_fail_at(nfail, 1);
        rc = sidx_series_resolve(idx, db, S("new"), tags, 3, &id, &fl);
        st_alloc_fail_at(-1, 0);
        CHECK(rc == 0 || rc == ST_ENOMEM);
        snap after = snapshot(idx, db);
        if (rc == ST_ENOMEM) {
            CHECK(memcmp(&before, &after, sizeof before) == 0);
        } else if (rc == 0) {
            done_series = 1;
            CHECK_EQ_U64(id, 2);
            CHECK_EQ_U64(after.series, before.series + 1);
            CHECK_EQ_INT(after.meas, 2);
            CHECK_EQ_INT(after.tagk, 3);
            CHECK_EQ_INT(after.post, 1);
        }
        /* field creation, then the retry after a failure succeeds */
        st_type et;
        st_alloc_fail_at(nfail, 1);
        int frc = sidx_field_resolve(idx, db, S("fresh"), S("v"), ST_TYPE_FLOAT, &id, &fl, &et);
        st_alloc_fail_at(-1, 0);
        CHECK(frc == 0 || frc == ST_ENOMEM);
        if (frc == 0) done_field = 1;
        collect c = { .n = 0 };
        sidx_measurement_each(idx, db, collect_name, &c);
        CHECK_EQ_INT(c.n, 1 + (rc == 0) + (frc == 0));
        CHECK_EQ_U64(sidx_field_count(idx), frc == 0);
        /* retry without faults: works and gets the next dense id */
        REQUIRE(sidx_series_resolve(idx, db, S("new"), tags, 3, &id, &fl) == 0);
        CHECK_EQ_U64(id, 2);
        sidx_destroy(idx);
        CHECK_EQ_INT(st_alloc_live(), live0);
    }
    CHECK(done_series && done_field && done_create);
    CHECK_EQ_INT(st_alloc_live(), live0);
}

TEST(memory_accounting_and_no_alloc_on_hit)
{
    sidx *idx = mkidx(0);
    REQUIRE(idx);
    uint64_t db = mkdb(idx, "db");
    size_t b0 = sidx_bytes(idx);
    char v[16];
    uint64_t id;
    unsigned fl;
    for (int i = 0; i < 1000; i++) {
        snprintf(v, sizeof v, "%d", i);
        sidx_tag t = { S("k"), S(v) };
        REQUIRE(sidx_series_resolve(idx, db, S("m"), &t, 1, &id, &fl) == 0);
    }
    size_t b1 = sidx_bytes(idx);
    CHECK(b1 > b0 + 1000 * 8);
    CHECK(b1 < b0 + 1000 * 1024);
    /* lookups of existing series allocate nothing */
    st_alloc_fail_at(0, 1);
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        snprintf(v, sizeof v, "%d", i);
        sidx_tag t = { S("k"), S(v) };
        ok &= sidx_series_resolve(idx, db, S("m"), &t, 1, &id, &fl) == 0 && id == (uint64_t)i + 1;
    }
    uint64_t allocs = st_alloc_count();
    st_alloc_fail_at(-1, 0);
    CHECK(ok);
    CHECK_EQ_U64(allocs, 0);
    sidx_destroy(idx);
}

int main(void)
{
    RUN(key_roundtrip_odd_bytes);
    RUN(key_decode_rejects_malformed);
    RUN(databases);
    RUN(db_listing_order);
    RUN(resolve_creates_once_and_logged_bit);
    RUN(concurrent_resolve_dense_unique);
    RUN(max_series_limit);
    RUN(field_types);
    RUN(define_then_resolve);
    RUN(postings_formula);
    RUN(drops);
    RUN(drop_many_keeps_the_rest);
    RUN(series_get_many);
    RUN(oom_walk_resolve);
    RUN(memory_accounting_and_no_alloc_on_hit);
    return unit_done();
}
