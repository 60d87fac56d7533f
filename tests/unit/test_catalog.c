/* tests/unit/test_catalog.c — storage/catalog: schema and pragmas, round
 * trip through a fresh index, idempotent apply, databases and drops, meta,
 * refusal of unknown schema versions and of garbage files. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "storage/catalog.h"
#include "storage/sindex.h"
#include "tests/unit/unit.h"

static char g_dir[256];
static int g_n;

static st_slice S(const char *s) { return st_slice_cstr(s); }

/* A fresh catalog path under a per-run temporary folder. */
static const char *fresh_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/catalog%d.db", g_dir, g_n++);
    return buf;
}

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void sql_text(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    out[0] = 0;
    if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

TEST(open_creates_schema)
{
    char path[300];
    fresh_path(path, sizeof path);
    cat *c = NULL;
    REQUIRE(cat_open(path, &c) == 0);
    cat_close(c);
    CHECK_EQ_INT(sql_int(path, "PRAGMA user_version"), CAT_SCHEMA_VERSION);
    char mode[32];
    sql_text(path, "PRAGMA journal_mode", mode, sizeof mode);
    CHECK_EQ_STR(mode, "wal");
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN"
                               " ('meta','databases','series','fields')"), 4);
    /* reopen an existing one */
    REQUIRE(cat_open(path, &c) == 0);
    cat_close(c);
    cat_close(NULL);
}

/* Build an index with formula-generated content and write it to c the way
 * storage will: databases with cat_db_create, definitions with cat_apply. */
#define RT_SERIES 120
static int fill(sidx *idx, cat *c)
{
    sidx_db_info a = { .name = S("plant"), .rp_duration_ns = 86400000000000LL * 30 };
    sidx_db_info b = { .name = S("lab\0x"), .rp_name = S("week"), .shard_duration_ns = 3600000000000LL };
    b.name.len = 5;
    uint64_t ida, idb;
    if (sidx_db_create(idx, &a, &ida) || sidx_db_create(idx, &b, &idb)) return -1;
    sidx_db_info got;
    if (sidx_db_get(idx, ida, &got)) return -1;
    a.id = ida;
    a.created_ns = got.created_ns;
    if (sidx_db_get(idx, idb, &got)) return -1;
    b.id = idb;
    b.created_ns = got.created_ns;
    if (cat_db_create(c, &a) || cat_db_create(c, &b)) return -1;

    cat_series_def sd[RT_SERIES];
    cat_field_def fd[RT_SERIES];
    void *keys[RT_SERIES];
    size_t nf = 0;
    static const char *const fkeys[4] = { "f0", "f1", "f2", "f3" };
    char h[16], v[16];
    for (int i = 0; i < RT_SERIES; i++) {
        uint64_t db = i % 3 ? ida : idb;
        snprintf(h, sizeof h, "h%d", i % 11);
        snprintf(v, sizeof v, "v=%d,\x01", i);
        sidx_tag t[2] = { { S("host"), S(h) }, { S("tag,=\x02"), S(v) } };
        uint64_t sid, fid;
        unsigned fl;
        st_type et;
        const char *m = i % 2 ? "cpu" : "mem";
        if (sidx_series_resolve(idx, db, S(m), t, 2, &sid, &fl)) return -1;
        uint64_t kdb;
        size_t klen;
        if (sidx_series_key_dup(idx, sid, &kdb, &keys[i], &klen)) return -1;
        sd[i] = (cat_series_def){ sid, db, { keys[i], klen } };
        const char *fk = fkeys[i % 4];
        st_type ty = (st_type)(1 + i % 4);
        if (sidx_field_resolve(idx, db, S(m), S(fk), ty, &fid, &fl, &et)) return -1;
        if (fl & SIDX_F_CREATED) fd[nf++] = (cat_field_def){ fid, db, S(m), S(fk), ty };
    }
    int rc = cat_apply(c, sd, RT_SERIES, fd, nf);
    if (!rc) rc = cat_apply(c, sd, RT_SERIES, fd, nf); /* replay: no-op */
    for (int i = 0; i < RT_SERIES; i++) st_free(keys[i]);
    return rc;
}

typedef struct dump { char text[65536]; size_t len; sidx *idx; } dump;

static void dump_put(dump *d, const void *p, size_t n)
{
    if (d->len + n < sizeof d->text) {
        memcpy(d->text + d->len, p, n);
        d->len += n;
    }
}

static int dump_field(void *arg, uint64_t id, st_slice key, st_type type)
{
    dump *d = arg;
    char line[64];
    int n = snprintf(line, sizeof line, " f%llu:%d:", (unsigned long long)id, (int)type);
    dump_put(d, line, (size_t)n);
    dump_put(d, key.ptr, key.len);
    return 0;
}

static int dump_db(void *arg, const sidx_db_info *db)
{
    dump *d = arg;
    char line[160];
    int n = snprintf(line, sizeof line, "db%llu rp=%lld sh=%lld cr=%lld ", (unsigned long long)db->id,
                     (long long)db->rp_duration_ns, (long long)db->shard_duration_ns, (long long)db->created_ns);
    dump_put(d, line, (size_t)n);
    dump_put(d, db->name.ptr, db->name.len);
    dump_put(d, "/", 1);
    dump_put(d, db->rp_name.ptr, db->rp_name.len);
    dump_put(d, "\n", 1);
    return 0;
}

/* Everything observable about an index, as one byte string. */
static void dump_index(sidx *idx, dump *d)
{
    d->len = 0;
    d->idx = idx;
    sidx_db_each(idx, dump_db, d);
    for (uint64_t id = 1; id < 400; id++) {
        void *key;
        size_t klen;
        uint64_t db;
        if (sidx_series_key_dup(idx, id, &db, &key, &klen)) continue;
        char line[64];
        int n = snprintf(line, sizeof line, "s%llu db%llu ", (unsigned long long)id, (unsigned long long)db);
        dump_put(d, line, (size_t)n);
        dump_put(d, key, klen);
        dump_put(d, "\n", 1);
        st_free(key);
    }
    const char *ms[2] = { "cpu", "mem" };
    for (uint64_t db = 1; db <= 2; db++)
        for (int i = 0; i < 2; i++) sidx_field_each(idx, db, S(ms[i]), dump_field, d);
    uint64_t nd, ns, nf;
    sidx_next_ids(idx, &nd, &ns, &nf);
    char line[96];
    int n = snprintf(line, sizeof line, "\nnext %llu %llu %llu", (unsigned long long)nd, (unsigned long long)ns,
                     (unsigned long long)nf);
    dump_put(d, line, (size_t)n);
}

TEST(round_trip_and_idempotent_apply)
{
    int64_t live0 = st_alloc_live();
    char path[300];
    fresh_path(path, sizeof path);
    cat *c = NULL;
    sidx *a = NULL, *b = NULL;
    REQUIRE(cat_open(path, &c) == 0);
    REQUIRE(sidx_create(NULL, &a) == 0);
    CHECK_EQ_INT(fill(a, c), 0);
    cat_close(c);
    c = NULL;
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM series"), RT_SERIES);
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM fields"), 8); /* 2 dbs x 2 measurements x 2 keys */

    REQUIRE(cat_open(path, &c) == 0);
    REQUIRE(sidx_create(NULL, &b) == 0);
    CHECK_EQ_INT(cat_load(c, b), 0);
    static dump da, db;
    dump_index(a, &da);
    dump_index(b, &db);
    CHECK(da.len > 1000);
    CHECK_EQ_MEM(da.text, da.len, db.text, db.len);
    CHECK_EQ_U64(sidx_series_count(b), RT_SERIES);
    /* loaded entries are logged; new ones continue after */
    uint64_t id;
    unsigned fl;
    sidx_tag t[2] = { { S("host"), S("h0") }, { S("tag,=\x02"), S("v=0,\x01") } };
    REQUIRE(sidx_series_resolve(b, 2, S("mem"), t, 2, &id, &fl) == 0);
    CHECK_EQ_INT(fl, SIDX_F_LOGGED);
    REQUIRE(sidx_series_resolve(b, 2, S("new"), NULL, 0, &id, &fl) == 0);
    CHECK_EQ_U64(id, RT_SERIES + 1);
    /* postings survive the trip */
    uint64_t *ids;
    size_t n;
    REQUIRE(sidx_postings_copy(b, 1, S("cpu"), S("host"), S("h1"), &ids, &n) == 0);
    size_t want = 0;
    for (int i = 0; i < RT_SERIES; i++) want += i % 3 && i % 2 && i % 11 == 1;
    CHECK_EQ_INT(n, want);
    st_free(ids);
    /* loading twice into the same index is harmless (define is idempotent) */
    CHECK_EQ_INT(cat_load(c, b), 0);
    cat_close(c);
    sidx_destroy(a);
    sidx_destroy(b);
    CHECK_EQ_INT(st_alloc_live(), live0);
}

TEST(databases_and_drops)
{
    char path[300];
    fresh_path(path, sizeof path);
    cat *c = NULL;
    sidx *idx = NULL;
    REQUIRE(cat_open(path, &c) == 0);
    sidx_db_info a = { .id = 1, .name = S("x"), .created_ns = 5 };
    CHECK_EQ_INT(cat_db_create(c, &a), 0);
    CHECK_EQ_INT(cat_db_create(c, &a), ST_EEXISTS);
    a.id = 2;
    CHECK_EQ_INT(cat_db_create(c, &a), ST_EEXISTS); /* the name is taken */
    a.name = S("y");
    CHECK_EQ_INT(cat_db_create(c, &a), 0);
    CHECK_EQ_INT(cat_db_set_retention(c, 2, 1000), 0);
    CHECK_EQ_INT(cat_db_set_retention(c, 9, 1000), ST_ENOTFOUND);
    char k[32];
    size_t kl;
    sidx_tag t = { S("t"), S("1") };
    REQUIRE(sidx_key_encode(S("m"), &t, 1, k, sizeof k, &kl) == 0);
    cat_series_def sd[3] = { { 1, 1, { k, kl } }, { 2, 2, { k, kl } }, { 3, 2, { "\x01n", 2 } } };
    cat_field_def fd[2] = { { 1, 1, S("m"), S("v"), ST_TYPE_FLOAT }, { 2, 2, S("m"), S("v"), ST_TYPE_INT } };
    CHECK_EQ_INT(cat_apply(c, sd, 3, fd, 2), 0);
    CHECK_EQ_INT(cat_db_drop(c, 1), 0);
    CHECK_EQ_INT(cat_db_drop(c, 1), ST_ENOTFOUND);
    a.id = 3;
    a.name = S("x");
    CHECK_EQ_INT(cat_db_create(c, &a), 0); /* the name of a dropped db is free */
    uint64_t drop[1] = { 3 };
    CHECK_EQ_INT(cat_series_drop(c, drop, 1), 0); /* the highest series id */
    CHECK_EQ_INT(cat_fields_drop(c, drop, 1), 0); /* unknown: ignored */
    cat_close(c);

    REQUIRE(cat_open(path, &c) == 0);
    REQUIRE(sidx_create(NULL, &idx) == 0);
    REQUIRE(cat_load(c, idx) == 0);
    sidx_db_info got;
    CHECK_EQ_INT(sidx_db_get(idx, 1, &got), ST_ENOTFOUND);
    REQUIRE(sidx_db_lookup(idx, S("x"), &got) == 0);
    CHECK_EQ_U64(got.id, 3);
    CHECK_EQ_INT(got.created_ns, 5);
    REQUIRE(sidx_db_get(idx, 2, &got) == 0);
    CHECK_EQ_INT(got.rp_duration_ns, 1000);
    CHECK_EQ_INT(got.shard_duration_ns, SIDX_SHARD_DEFAULT_NS);
    CHECK_EQ_INT(sidx_db_rp_check(idx, 2, S("autogen")), 0);
    CHECK_EQ_U64(sidx_series_count(idx), 1); /* db 1's series are gone, series 3 dropped */
    CHECK_EQ_U64(sidx_field_count(idx), 1);
    uint64_t nd, ns, nf;
    sidx_next_ids(idx, &nd, &ns, &nf);
    CHECK_EQ_U64(nd, 4);
    CHECK_EQ_U64(ns, 4); /* 3 was dropped but is never handed out again */
    CHECK_EQ_U64(nf, 4); /* a drop keeps even an unknown id from being handed out */
    cat_close(c);
    sidx_destroy(idx);
}

TEST(meta_values)
{
    char path[300];
    fresh_path(path, sizeof path);
    cat *c = NULL;
    REQUIRE(cat_open(path, &c) == 0);
    char *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(cat_meta_get(c, "bridge.client_id", &v, &n), ST_ENOTFOUND);
    CHECK(v == NULL);
    CHECK_EQ_INT(cat_meta_set(c, "bridge.client_id", "a\0b", 3), 0);
    CHECK_EQ_INT(cat_meta_set(c, "FORMAT", "1", 1), 0);
    CHECK_EQ_INT(cat_meta_set(c, "empty", "", 0), 0);
    cat_close(c);
    REQUIRE(cat_open(path, &c) == 0);
    REQUIRE(cat_meta_get(c, "bridge.client_id", &v, &n) == 0);
    CHECK_EQ_MEM(v, n, "a\0b", 3);
    st_free(v);
    REQUIRE(cat_meta_get(c, "empty", &v, &n) == 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_STR(v, "");
    st_free(v);
    CHECK_EQ_INT(cat_meta_set(c, "FORMAT", "2", 1), 0);
    REQUIRE(cat_meta_get(c, "FORMAT", &v, &n) == 0);
    CHECK_EQ_STR(v, "2");
    st_free(v);
    cat_close(c);
}

TEST(refuses_unknown_version_and_garbage)
{
    char path[300];
    fresh_path(path, sizeof path);
    cat *c = NULL;
    REQUIRE(cat_open(path, &c) == 0);
    cat_close(c);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    c = NULL;
    CHECK_EQ_INT(cat_open(path, &c), ST_ECORRUPT);
    CHECK(c == NULL);

    fresh_path(path, sizeof path);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    for (int i = 0; i < 8192; i++) fputc((i * 131 + 7) & 0xff, f);
    fclose(f);
    CHECK_EQ_INT(cat_open(path, &c), ST_ECORRUPT);
    CHECK_EQ_INT(cat_open("/nonexistent-dir-for-test/catalog.db", &c), ST_EIO);
}

/* A stored key that does not decode is reported, not trusted. */
TEST(load_rejects_bad_key)
{
    char path[300];
    fresh_path(path, sizeof path);
    cat *c = NULL;
    sidx *idx = NULL;
    REQUIRE(cat_open(path, &c) == 0);
    sidx_db_info a = { .id = 1, .name = S("x") };
    REQUIRE(cat_db_create(c, &a) == 0);
    cat_series_def sd = { 1, 1, { "\x09oops", 5 } };
    REQUIRE(cat_apply(c, &sd, 1, NULL, 0) == 0);
    REQUIRE(sidx_create(NULL, &idx) == 0);
    CHECK_EQ_INT(cat_load(c, idx), ST_ECORRUPT);
    sidx_destroy(idx);
    cat_close(c);
}

static void rm_dir(void)
{
    char path[300];
    for (int i = 0; i < g_n; i++) {
        const char *suffix[3] = { "", "-wal", "-shm" };
        for (int s = 0; s < 3; s++) {
            snprintf(path, sizeof path, "%s/catalog%d.db%s", g_dir, i, suffix[s]);
            unlink(path);
        }
    }
    rmdir(g_dir);
}

int main(void)
{
    if (!unit_tmpdir(g_dir, sizeof g_dir, "cat")) {
        perror("mkdtemp");
        return 1;
    }
    st_log_set_level(ST_LOG_OFF); /* the error tests log on purpose */
    RUN(open_creates_schema);
    RUN(round_trip_and_idempotent_apply);
    RUN(databases_and_drops);
    RUN(meta_values);
    RUN(refuses_unknown_version_and_garbage);
    RUN(load_rejects_bad_key);
    rm_dir();
    return unit_done();
}
