/*
 * storage/catalog.c — the sqlite3 catalog (see catalog.h for the schema,
 * the threads and the error mapping).
 *
 * Owns: the sqlite3 connection, its prepared statements and a mutex that
 * serialises every call (statements are shared, so two storage threads must
 * not step them at once). sqlite does its own file I/O through its VFS; it
 * does not go through storage's I/O table.
 *
 * Durability: journal_mode=WAL with synchronous=FULL, so a committed
 * transaction survives power loss. Every write function is one transaction;
 * on any error it is rolled back and nothing of the call remains.
 */
#include "storage/catalog.h"

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

enum {
    Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
    Q_INS_SERIES, Q_INS_FIELD, Q_META_GET, Q_META_SET,
    Q_DB_INS, Q_DB_RETENTION, Q_DB_DROP, Q_DB_DEL_SERIES, Q_DB_DEL_FIELDS,
    Q_DEL_SERIES, Q_DEL_FIELD,
    Q_LOAD_DBS, Q_LOAD_SERIES, Q_LOAD_FIELDS, Q_MAX_IDS,
    Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_INS_SERIES] = "INSERT OR IGNORE INTO series(id, db_id, key) VALUES(?1, ?2, ?3)",
    [Q_INS_FIELD] = "INSERT OR IGNORE INTO fields(id, db_id, measurement, key, type) VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [Q_META_SET] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)",
    [Q_DB_INS] = "INSERT INTO databases(id, name, rp_name, rp_duration_ns, shard_duration_ns, created_ns)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_DB_RETENTION] = "UPDATE databases SET rp_duration_ns = ?2 WHERE id = ?1 AND dropped = 0",
    [Q_DB_DROP] = "UPDATE databases SET dropped = 1 WHERE id = ?1 AND dropped = 0",
    [Q_DB_DEL_SERIES] = "DELETE FROM series WHERE db_id = ?1",
    [Q_DB_DEL_FIELDS] = "DELETE FROM fields WHERE db_id = ?1",
    [Q_DEL_SERIES] = "DELETE FROM series WHERE id = ?1",
    [Q_DEL_FIELD] = "DELETE FROM fields WHERE id = ?1",
    [Q_LOAD_DBS] = "SELECT id, name, rp_name, rp_duration_ns, shard_duration_ns, created_ns"
                   " FROM databases WHERE dropped = 0 ORDER BY id",
    [Q_LOAD_SERIES] = "SELECT id, db_id, key FROM series ORDER BY id",
    [Q_LOAD_FIELDS] = "SELECT id, db_id, measurement, key, type FROM fields ORDER BY id",
    [Q_MAX_IDS] = "SELECT (SELECT ifnull(max(id), 0) FROM databases),"
                  " (SELECT ifnull(max(id), 0) FROM series),"
                  " (SELECT ifnull(max(id), 0) FROM fields)",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS databases(id INTEGER PRIMARY KEY, name BLOB NOT NULL,"
    " rp_name BLOB NOT NULL, rp_duration_ns INTEGER NOT NULL, shard_duration_ns INTEGER NOT NULL,"
    " created_ns INTEGER NOT NULL, dropped INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS databases_name ON databases(name) WHERE dropped = 0;"
    "CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY, db_id INTEGER NOT NULL,"
    " key BLOB NOT NULL, UNIQUE(db_id, key));"
    "CREATE TABLE IF NOT EXISTS fields(id INTEGER PRIMARY KEY, db_id INTEGER NOT NULL,"
    " measurement BLOB NOT NULL, key BLOB NOT NULL, type INTEGER NOT NULL,"
    " UNIQUE(db_id, measurement, key));";

struct cat {
    pthread_mutex_t mu;
    sqlite3 *db;                  /* owned */
    sqlite3_stmt *q[Q_COUNT];     /* owned */
};

/* Map a sqlite result code to ours and log it once, here. */
static int cat_err(cat *c, int src, const char *what)
{
    int rc;
    switch (src & 0xff) {
    case SQLITE_FULL: rc = ST_ENOSPC; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: rc = ST_ECORRUPT; break;
    case SQLITE_NOMEM: rc = ST_ENOMEM; break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: rc = ST_EBUSY; break;
    default: rc = ST_EIO; break;
    }
    ST_ERROR("catalog", "%s failed: %s code=%d", what, c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(src),
             src);
    return rc;
}

/* Run a statement that returns no rows to completion and reset it. */
static int step_done(cat *c, int q)
{
    sqlite3_stmt *s = c->q[q];
    int src = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (src == SQLITE_DONE || src == SQLITE_ROW) return 0;
    if ((src & 0xff) == SQLITE_CONSTRAINT) return ST_EEXISTS; /* the caller decides whether to log */
    return cat_err(c, src, sql_text[q]);
}

static int bind_check(cat *c, int q, int src)
{
    if (src == SQLITE_OK) return 0;
    sqlite3_reset(c->q[q]);
    sqlite3_clear_bindings(c->q[q]);
    return cat_err(c, src, "bind");
}

static int bind_blob(sqlite3_stmt *s, int i, st_slice v)
{
    /* zeroblob-safe: a zero-length blob must not bind as NULL */
    return sqlite3_bind_blob64(s, i, v.len ? v.ptr : "", v.len, SQLITE_STATIC);
}

static int tx_begin(cat *c) { return step_done(c, Q_BEGIN); }
static int tx_commit(cat *c) { return step_done(c, Q_COMMIT); }

static void tx_rollback(cat *c)
{
    if (!sqlite3_get_autocommit(c->db)) {
        int src = sqlite3_step(c->q[Q_ROLLBACK]);
        sqlite3_reset(c->q[Q_ROLLBACK]);
        if (src != SQLITE_DONE) (void)cat_err(c, src, "rollback");
    }
}

static int exec_sql(cat *c, const char *sql)
{
    int src = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? 0 : cat_err(c, src, sql);
}

static int pragma_int(cat *c, const char *sql, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
    if (src != SQLITE_OK) return cat_err(c, src, sql);
    src = sqlite3_step(s);
    int rc = 0;
    if (src == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    else rc = cat_err(c, src, sql);
    sqlite3_finalize(s);
    return rc;
}

void cat_close(cat *c)
{
    if (!c) return;
    for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(c->q[i]);
    if (c->db && sqlite3_close(c->db) != SQLITE_OK)
        ST_ERROR("catalog", "close failed: %s", sqlite3_errmsg(c->db));
    pthread_mutex_destroy(&c->mu);
    st_free(c);
}

int cat_open(const char *path, cat **out)
{
    int rc;
    cat *c = st_calloc(1, sizeof *c);
    if (!c) return ST_ENOMEM;
    if (pthread_mutex_init(&c->mu, NULL)) {
        st_free(c);
        return ST_ENOMEM;
    }
    int src = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (src != SQLITE_OK) {
        rc = cat_err(c, src, "open");
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, 5000);
    int64_t ver = 0;
    if ((rc = exec_sql(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;")))
        goto fail;
    if ((rc = pragma_int(c, "PRAGMA user_version", &ver))) goto fail;
    if (ver == 0) {
        if ((rc = exec_sql(c, "BEGIN IMMEDIATE"))) goto fail;
        if ((rc = exec_sql(c, schema_sql)) ||
            (rc = exec_sql(c, "PRAGMA user_version = 1")) || /* CAT_SCHEMA_VERSION */
            (rc = exec_sql(c, "COMMIT"))) {
            (void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
    } else if (ver != CAT_SCHEMA_VERSION) {
        ST_ERROR("catalog", "unknown schema version path=%s user_version=%" PRId64 " expected=%d", path, ver,
                 CAT_SCHEMA_VERSION);
        rc = ST_ECORRUPT;
        goto fail;
    }
    for (int i = 0; i < Q_COUNT; i++) {
        src = sqlite3_prepare_v3(c->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &c->q[i], NULL);
        if (src != SQLITE_OK) {
            rc = cat_err(c, src, sql_text[i]);
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    cat_close(c);
    return rc;
}

_Static_assert(CAT_SCHEMA_VERSION == 1, "schema_sql sets user_version = 1: update both");

/* ---- meta (mutex held) ---------------------------------------------------- */

static int meta_get_locked(cat *c, const char *key, char **val, size_t *len)
{
    sqlite3_stmt *s = c->q[Q_META_GET];
    int rc = bind_check(c, Q_META_GET, sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC));
    if (rc) return rc;
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        char *v = st_malloc(n + 1);
        if (!v) {
            rc = ST_ENOMEM;
        } else {
            if (n) memcpy(v, p, n);
            v[n] = 0;
            *val = v;
            *len = n;
        }
    } else if (src == SQLITE_DONE) {
        rc = ST_ENOTFOUND;
    } else {
        rc = cat_err(c, src, "meta get");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static int meta_set_locked(cat *c, const char *key, const void *val, size_t len)
{
    sqlite3_stmt *s = c->q[Q_META_SET];
    int rc = bind_check(c, Q_META_SET, sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC));
    if (!rc) rc = bind_check(c, Q_META_SET, bind_blob(s, 2, (st_slice){ val, len }));
    if (!rc) rc = step_done(c, Q_META_SET);
    return rc;
}

static int meta_get_u64(cat *c, const char *key, uint64_t *v)
{
    char *s = NULL;
    size_t n;
    int rc = meta_get_locked(c, key, &s, &n);
    if (rc == ST_ENOTFOUND) { *v = 0; return 0; }
    if (rc) return rc;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    rc = (n && end == s + n) ? 0 : ST_ECORRUPT;
    if (!rc) *v = x;
    else ST_ERROR("catalog", "bad meta value key=%s", key);
    st_free(s);
    return rc;
}

/* Raise a meta counter to at least v (inside the caller's transaction). */
static int meta_raise_u64(cat *c, const char *key, uint64_t v)
{
    uint64_t cur;
    int rc = meta_get_u64(c, key, &cur);
    if (rc || cur >= v) return rc;
    char txt[24];
    int n = snprintf(txt, sizeof txt, "%" PRIu64, v);
    return meta_set_locked(c, key, txt, (size_t)n);
}

int cat_meta_get(cat *c, const char *key, char **val, size_t *len)
{
    pthread_mutex_lock(&c->mu);
    int rc = meta_get_locked(c, key, val, len);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cat_meta_set(cat *c, const char *key, const void *val, size_t len)
{
    pthread_mutex_lock(&c->mu);
    int rc = meta_set_locked(c, key, val, len);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- apply -------------------------------------------------------------------- */

int cat_apply(cat *c, const cat_series_def *series, size_t nseries,
              const cat_field_def *fields, size_t nfields)
{
    uint64_t max_s = 0, max_f = 0;
    pthread_mutex_lock(&c->mu);
    int rc = tx_begin(c);
    if (rc) goto out;
    for (size_t i = 0; i < nseries && !rc; i++) {
        sqlite3_stmt *s = c->q[Q_INS_SERIES];
        rc = bind_check(c, Q_INS_SERIES, sqlite3_bind_int64(s, 1, (sqlite3_int64)series[i].id));
        if (!rc) rc = bind_check(c, Q_INS_SERIES, sqlite3_bind_int64(s, 2, (sqlite3_int64)series[i].db_id));
        if (!rc) rc = bind_check(c, Q_INS_SERIES, bind_blob(s, 3, series[i].key));
        if (!rc) rc = step_done(c, Q_INS_SERIES);
        if (series[i].id > max_s) max_s = series[i].id;
    }
    for (size_t i = 0; i < nfields && !rc; i++) {
        sqlite3_stmt *s = c->q[Q_INS_FIELD];
        rc = bind_check(c, Q_INS_FIELD, sqlite3_bind_int64(s, 1, (sqlite3_int64)fields[i].id));
        if (!rc) rc = bind_check(c, Q_INS_FIELD, sqlite3_bind_int64(s, 2, (sqlite3_int64)fields[i].db_id));
        if (!rc) rc = bind_check(c, Q_INS_FIELD, bind_blob(s, 3, fields[i].measurement));
        if (!rc) rc = bind_check(c, Q_INS_FIELD, bind_blob(s, 4, fields[i].key));
        if (!rc) rc = bind_check(c, Q_INS_FIELD, sqlite3_bind_int(s, 5, (int)fields[i].type));
        if (!rc) rc = step_done(c, Q_INS_FIELD);
        if (fields[i].id > max_f) max_f = fields[i].id;
    }
    if (!rc && max_s) rc = meta_raise_u64(c, "cat.next_series_id", max_s + 1);
    if (!rc && max_f) rc = meta_raise_u64(c, "cat.next_field_id", max_f + 1);
    if (!rc) rc = tx_commit(c);
    if (rc) tx_rollback(c);
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- databases ------------------------------------------------------------------ */

int cat_db_create(cat *c, const sidx_db_info *info)
{
    if (!info || !info->id || !info->name.len) return ST_EINVAL;
    st_slice rp = info->rp_name.len ? info->rp_name : ST_SLICE_LIT(SIDX_RP_DEFAULT_NAME);
    int64_t shard = info->shard_duration_ns ? info->shard_duration_ns : SIDX_SHARD_DEFAULT_NS;
    pthread_mutex_lock(&c->mu);
    sqlite3_stmt *s = c->q[Q_DB_INS];
    int rc = bind_check(c, Q_DB_INS, sqlite3_bind_int64(s, 1, (sqlite3_int64)info->id));
    if (!rc) rc = bind_check(c, Q_DB_INS, bind_blob(s, 2, info->name));
    if (!rc) rc = bind_check(c, Q_DB_INS, bind_blob(s, 3, rp));
    if (!rc) rc = bind_check(c, Q_DB_INS, sqlite3_bind_int64(s, 4, info->rp_duration_ns));
    if (!rc) rc = bind_check(c, Q_DB_INS, sqlite3_bind_int64(s, 5, shard));
    if (!rc) rc = bind_check(c, Q_DB_INS, sqlite3_bind_int64(s, 6, info->created_ns));
    if (!rc) rc = step_done(c, Q_DB_INS);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cat_db_set_retention(cat *c, uint64_t db_id, int64_t rp_duration_ns)
{
    if (rp_duration_ns < 0) return ST_EINVAL;
    pthread_mutex_lock(&c->mu);
    sqlite3_stmt *s = c->q[Q_DB_RETENTION];
    int rc = bind_check(c, Q_DB_RETENTION, sqlite3_bind_int64(s, 1, (sqlite3_int64)db_id));
    if (!rc) rc = bind_check(c, Q_DB_RETENTION, sqlite3_bind_int64(s, 2, rp_duration_ns));
    if (!rc) rc = step_done(c, Q_DB_RETENTION);
    if (!rc && sqlite3_changes(c->db) == 0) rc = ST_ENOTFOUND;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int exec_id(cat *c, int q, uint64_t id)
{
    int rc = bind_check(c, q, sqlite3_bind_int64(c->q[q], 1, (sqlite3_int64)id));
    return rc ? rc : step_done(c, q);
}

int cat_db_drop(cat *c, uint64_t db_id)
{
    pthread_mutex_lock(&c->mu);
    int rc = tx_begin(c);
    if (rc) goto out;
    rc = exec_id(c, Q_DB_DROP, db_id);
    if (!rc && sqlite3_changes(c->db) == 0) rc = ST_ENOTFOUND;
    if (!rc) rc = exec_id(c, Q_DB_DEL_SERIES, db_id);
    if (!rc) rc = exec_id(c, Q_DB_DEL_FIELDS, db_id);
    if (!rc) rc = tx_commit(c);
    if (rc) tx_rollback(c);
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int drop_ids(cat *c, int q, const char *next_key, const uint64_t *ids, size_t n)
{
    uint64_t max = 0;
    pthread_mutex_lock(&c->mu);
    int rc = tx_begin(c);
    if (rc) goto out;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = exec_id(c, q, ids[i]);
        if (ids[i] > max) max = ids[i];
    }
    /* the max id may be the one deleted: keep it from coming back */
    if (!rc && max) rc = meta_raise_u64(c, next_key, max + 1);
    if (!rc) rc = tx_commit(c);
    if (rc) tx_rollback(c);
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cat_series_drop(cat *c, const uint64_t *ids, size_t n)
{
    return drop_ids(c, Q_DEL_SERIES, "cat.next_series_id", ids, n);
}

int cat_fields_drop(cat *c, const uint64_t *ids, size_t n)
{
    return drop_ids(c, Q_DEL_FIELD, "cat.next_field_id", ids, n);
}

/* ---- load ----------------------------------------------------------------------- */

static st_slice col_blob(sqlite3_stmt *s, int i)
{
    const void *p = sqlite3_column_blob(s, i);
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    return (st_slice){ p ? p : "", n };
}

static int load_rows(cat *c, sidx *idx, int q)
{
    sqlite3_stmt *s = c->q[q];
    int rc = 0, src;
    while (!rc && (src = sqlite3_step(s)) == SQLITE_ROW) {
        uint64_t id = (uint64_t)sqlite3_column_int64(s, 0);
        if (q == Q_LOAD_DBS) {
            sidx_db_info info = {
                .id = id,
                .rp_duration_ns = sqlite3_column_int64(s, 3),
                .shard_duration_ns = sqlite3_column_int64(s, 4),
                .created_ns = sqlite3_column_int64(s, 5),
            };
            info.name = col_blob(s, 1);
            info.rp_name = col_blob(s, 2);
            rc = sidx_db_define(idx, &info);
        } else if (q == Q_LOAD_SERIES) {
            uint64_t db = (uint64_t)sqlite3_column_int64(s, 1);
            st_slice key = col_blob(s, 2);
            rc = sidx_define_series(idx, id, db, key.ptr, key.len);
        } else {
            uint64_t db = (uint64_t)sqlite3_column_int64(s, 1);
            st_slice m = col_blob(s, 2), k = col_blob(s, 3);
            rc = sidx_define_field(idx, id, db, m, k, (st_type)sqlite3_column_int(s, 4));
        }
        if (rc == ST_ENOTFOUND) rc = 0; /* rows of a dropped database not yet deleted */
        if (rc) {
            ST_ERROR("catalog", "load failed: %s table=%s id=%" PRIu64, st_strerror(rc),
                     q == Q_LOAD_DBS ? "databases" : q == Q_LOAD_SERIES ? "series" : "fields", id);
            if (rc == ST_EINVAL) rc = ST_ECORRUPT;
        }
    }
    if (!rc && src != SQLITE_DONE) rc = cat_err(c, src, sql_text[q]);
    sqlite3_reset(s);
    return rc;
}

int cat_load(cat *c, sidx *idx)
{
    pthread_mutex_lock(&c->mu);
    uint64_t next_s = 0, next_f = 0, max_db = 0, max_s = 0, max_f = 0;
    int rc = load_rows(c, idx, Q_LOAD_DBS);
    if (!rc) rc = load_rows(c, idx, Q_LOAD_SERIES);
    if (!rc) rc = load_rows(c, idx, Q_LOAD_FIELDS);
    if (!rc) rc = meta_get_u64(c, "cat.next_series_id", &next_s);
    if (!rc) rc = meta_get_u64(c, "cat.next_field_id", &next_f);
    if (!rc) {
        sqlite3_stmt *s = c->q[Q_MAX_IDS];
        int src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            max_db = (uint64_t)sqlite3_column_int64(s, 0);
            max_s = (uint64_t)sqlite3_column_int64(s, 1);
            max_f = (uint64_t)sqlite3_column_int64(s, 2);
        } else {
            rc = cat_err(c, src, sql_text[Q_MAX_IDS]);
        }
        sqlite3_reset(s);
    }
    if (!rc) {
        if (max_s + 1 > next_s) next_s = max_s + 1;
        if (max_f + 1 > next_f) next_f = max_f + 1;
        sidx_next_ids_raise(idx, max_db + 1, next_s, next_f);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
