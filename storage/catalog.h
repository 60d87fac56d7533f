/*
 * storage/catalog.h — sqlite3 persistence of databases, series and field
 * definitions and a small meta key/value table (data/catalog.db).
 *
 * The catalog is not on the hot path: new series and fields reach the WAL
 * first (their definitions travel in the write records, DESIGN.md "Write
 * path" 2) and storage applies them here in batches with cat_apply, which is
 * idempotent so WAL replay can apply the same definitions again. At start
 * cat_load fills a fresh sidx.
 *
 * Threads: only storage's own threads (start-up/recovery, the WAL writer or
 * flush thread, admin commands run on storage workers) — never an I/O loop
 * thread, since every call may fsync. A cat is safe to share between those
 * threads: each call holds the handle's mutex.
 *
 * Errors: 0, or ST_ENOSPC (SQLITE_FULL), ST_ECORRUPT (SQLITE_CORRUPT,
 * SQLITE_NOTADB, or a schema version this build does not know), ST_ENOMEM,
 * ST_EBUSY (another process holds the database), ST_EIO (anything else);
 * each failure is logged once (module "catalog") with sqlite3_errmsg.
 *
 * Schema (PRAGMA user_version = CAT_SCHEMA_VERSION):
 *   meta(key TEXT PRIMARY KEY, value BLOB NOT NULL)
 *   databases(id INTEGER PRIMARY KEY, name BLOB NOT NULL, rp_name BLOB NOT NULL,
 *             rp_duration_ns INTEGER NOT NULL, shard_duration_ns INTEGER NOT NULL,
 *             created_ns INTEGER NOT NULL, dropped INTEGER NOT NULL DEFAULT 0)
 *     + UNIQUE INDEX databases_name ON databases(name) WHERE dropped = 0
 *       (a dropped database keeps its row so its id is never reused)
 *   series(id INTEGER PRIMARY KEY, db_id INTEGER NOT NULL, key BLOB NOT NULL,
 *          UNIQUE(db_id, key))        key: the canonical key (sindex.h)
 *   fields(id INTEGER PRIMARY KEY, db_id INTEGER NOT NULL, measurement BLOB NOT NULL,
 *          key BLOB NOT NULL, type INTEGER NOT NULL,      type: st_type
 *          UNIQUE(db_id, measurement, key))
 * Dropped series and fields are deleted; meta 'next_series_id' and
 * 'next_field_id' (decimal text) keep ids from being reused. Meta keys
 * beginning with "cat." are reserved for this module.
 */
#ifndef ST_CATALOG_H
#define ST_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/point.h"
#include "common/slice.h"
#include "storage/sindex.h"

#define CAT_SCHEMA_VERSION 1

typedef struct cat cat;

/* One new series / field definition (as carried by a WAL record). Open
 * value types; slices borrowed for the call. */
typedef struct cat_series_def {
    uint64_t id, db_id;
    st_slice key;          /* canonical series key */
} cat_series_def;

typedef struct cat_field_def {
    uint64_t id, db_id;
    st_slice measurement, key;
    st_type type;
} cat_field_def;

/* Open or create the catalog file at path (journal_mode=WAL,
 * synchronous=FULL, foreign_keys off, busy timeout 5 s). Creates the schema
 * in an empty file; ST_ECORRUPT for a newer or unknown user_version. */
int  cat_open(const char *path, cat **out);
void cat_close(cat *c); /* accepts NULL */

/* Fill a fresh index: live databases, then series, then fields (id order),
 * then raise the index's next ids past every id the catalog ever handed out
 * (dropped databases included). Errors from the index (ST_ENOMEM,
 * ST_EEXISTS, ST_ECORRUPT for a malformed stored key) are returned as is. */
int cat_load(cat *c, sidx *idx);

/* Write new definitions in ONE transaction with INSERT OR IGNORE: applying
 * the same batch twice is a no-op. Raises the meta next ids. Definitions
 * whose db is unknown are still stored (the db row may be in a later
 * batch during replay). */
int cat_apply(cat *c, const cat_series_def *series, size_t nseries,
              const cat_field_def *fields, size_t nfields);

/* Store a database created by sidx_db_create (info->id set, names non-empty
 * after sidx defaults; an empty rp_name is stored as "autogen", a zero
 * shard duration as SIDX_SHARD_DEFAULT_NS, 7 days). ST_EEXISTS if a live database has that name or
 * the id is taken. */
int cat_db_create(cat *c, const sidx_db_info *info);
int cat_db_set_retention(cat *c, uint64_t db_id, int64_t rp_duration_ns); /* ST_ENOTFOUND */
/* Mark dropped and delete its series and fields rows, in one transaction. */
int cat_db_drop(cat *c, uint64_t db_id);                                  /* ST_ENOTFOUND */
/* Delete series / field rows by id in one transaction (unknown ids ignored). */
int cat_series_drop(cat *c, const uint64_t *ids, size_t n);
int cat_fields_drop(cat *c, const uint64_t *ids, size_t n);

/* Meta values are arbitrary bytes. get: st_malloc'd copy (NUL-terminated
 * for convenience, not counted in *len), caller st_free()s; ST_ENOTFOUND. */
int cat_meta_get(cat *c, const char *key, char **val, size_t *len);
int cat_meta_set(cat *c, const char *key, const void *val, size_t len);

#endif
