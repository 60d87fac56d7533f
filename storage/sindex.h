/*
 * storage/sindex.h — the in-memory series index: databases, measurements,
 * series (measurement + sorted tag set), fields, and the tag posting lists
 * the query planner filters with. The catalog (storage/catalog.h) persists
 * the same definitions; the WAL carries new ones (DESIGN.md "Write path" 2).
 *
 * Ids. Database, series and field ids are dense, start at 1 and are never
 * reused, even after drops: the index hands out next ids and load/replay
 * (sidx_*_define, sidx_next_ids_raise) only ever move them forward.
 *
 * Threads and locking. One sidx is shared by every I/O loop thread (writes:
 * resolve) and every query thread (reads). One pthread rwlock, writer
 * preferring on glibc: lookups take the read lock; creation takes the write
 * lock and looks again before creating (another thread may have won). Every
 * function here may be called from any thread. Callbacks (sidx_*_each) run
 * under the read lock: they must be short and must NOT call any sidx function
 * (a waiting writer would deadlock a recursive read lock). Slices handed to a
 * callback are borrowed and valid only during that call.
 *
 * Memory. Names and keys are copied into arena blocks owned by the index
 * (bytes of dropped entries are reclaimed at the next restart); lookups of
 * existing series and fields do not allocate (keys up to SIDX_KEY_STACK_BYTES
 * are encoded on the stack). sidx_bytes() reports what the index holds.
 *
 * The "logged" bit (see sidx_series_resolve): a new definition must reach
 * the WAL before the catalog or any point that uses it. Every series and
 * field entry carries a logged bit, set by sidx_*_mark_logged once a WAL
 * record carrying its definition has been queued (and set from the start by
 * sidx_*_define, whose definitions come from the catalog or the WAL).
 * A writer that resolves an entry without SIDX_F_LOGGED must put the
 * definition in its own record — even if another writer created it and is
 * about to log it — and mark it logged after queuing. Definitions are
 * idempotent (same id, same bytes), so duplicates in the WAL are harmless;
 * a missing one would be a point whose series is unknown after a crash.
 */
#ifndef ST_SINDEX_H
#define ST_SINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "common/point.h"
#include "common/slice.h"

/*
 * Canonical series key — the bytes that identify a series inside one
 * database. Stored in the WAL schema records and the catalog (series.key),
 * so this format is on disk: never change it without a format version bump.
 *
 *   key   := uvarint(mlen) measurement  { uvarint(klen) tagkey uvarint(vlen) tagvalue }*
 *
 * uvarint is unsigned LEB128 (7 bits per byte, low group first, high bit =
 * more), minimal length. Tags appear in strictly increasing memcmp order of
 * their keys (shorter first on a common prefix, st_slice_cmp); a tag key
 * appears once. Names are arbitrary bytes (NUL, ',', '=' included); the
 * length prefixes make the encoding unambiguous with no escaping. Tag keys
 * and values may be empty only if the caller's protocol allows it; the
 * index does not care. Total length is at most SIDX_KEY_MAX_BYTES.
 */
#define SIDX_KEY_MAX_BYTES   65535u  /* InfluxDB's series key limit */
#define SIDX_KEY_STACK_BYTES 2048

typedef struct sidx_tag {     /* open value type; both slices borrowed */
    st_slice key;
    st_slice val;
} sidx_tag;

/* Sort tags by key (st_slice_cmp order), in place; stable. No allocation. */
void sidx_tags_sort(sidx_tag *tags, size_t ntags);

/* Bytes the key of (measurement, tags) takes. ST_EINVAL if the tags are not
 * strictly sorted by key (unsorted or duplicate keys), ST_ETOOLARGE past
 * SIDX_KEY_MAX_BYTES. */
int sidx_key_len(st_slice measurement, const sidx_tag *tags, size_t ntags, size_t *len);
/* Encode into buf (cap bytes, no allocation). Same errors as sidx_key_len,
 * plus ST_ERANGE when cap is too small. *len = bytes written. */
int sidx_key_encode(st_slice measurement, const sidx_tag *tags, size_t ntags,
                    void *buf, size_t cap, size_t *len);
/* Decode untrusted bytes, in one pass. Slices point into key. tags may be
 * NULL with max_tags 0 to only count (then *ntags = count). ST_ECORRUPT on
 * malformed input (bad varint, overrun, unsorted or duplicate tag keys);
 * ST_ERANGE if more than max_tags tags (when tags != NULL), with *ntags the
 * count, so a caller can try again with room for them all. After an error
 * the first entries of tags may have been written. */
int sidx_key_decode(const void *key, size_t len, st_slice *measurement,
                    sidx_tag *tags, size_t max_tags, size_t *ntags);

/* ---- the index ------------------------------------------------------- */

typedef struct sidx sidx;

typedef struct sidx_config {
    uint64_t max_series; /* live series across all databases; 0 = unlimited */
} sidx_config;

int  sidx_create(const sidx_config *cfg, sidx **out); /* 0 or ST_ENOMEM */
void sidx_destroy(sidx *idx);                          /* accepts NULL */

/* Bytes held (tables, arrays, arenas). Read lock. */
size_t   sidx_bytes(sidx *idx);
uint64_t sidx_series_count(sidx *idx); /* live series */
uint64_t sidx_field_count(sidx *idx);  /* live fields */

/* Next ids the index would hand out (for the catalog's meta table). */
void sidx_next_ids(sidx *idx, uint64_t *db, uint64_t *series, uint64_t *field);
/* Move the next ids forward to at least these (never back). Load only. */
void sidx_next_ids_raise(sidx *idx, uint64_t db, uint64_t series, uint64_t field);

/* ---- databases --------------------------------------------------------- */

#define SIDX_RP_DEFAULT_NAME "autogen"
#define SIDX_SHARD_DEFAULT_NS (7LL * 24 * 3600 * 1000000000LL) /* InfluxDB autogen: 168h */

typedef struct sidx_db_info {  /* open value type */
    uint64_t id;
    st_slice name;             /* borrowed (see each function) */
    st_slice rp_name;          /* borrowed; empty -> "autogen" on create */
    int64_t  rp_duration_ns;   /* 0 = infinite */
    int64_t  shard_duration_ns;/* partition width; 0 -> 7 days on create */
    int64_t  created_ns;
} sidx_db_info;

/* Create a database with the next db id. info->id is ignored; name must be
 * non-empty. ST_EEXISTS if a live database has this name; ST_EINVAL on bad
 * durations. *id on success. The caller persists it (cat_db_create). */
int sidx_db_create(sidx *idx, const sidx_db_info *info, uint64_t *id);
/* Define with info->id (catalog load). Idempotent for the same id and name;
 * ST_EEXISTS if the id or the name is taken by another database. */
int sidx_db_define(sidx *idx, const sidx_db_info *info);
/* Look up a live database by name. On success *out holds the scalars and
 * out->name/out->rp_name are EMPTY (names are not stable outside the lock;
 * use sidx_db_rp_check). ST_ENOTFOUND. Read lock, no allocation. */
int sidx_db_lookup(sidx *idx, st_slice name, sidx_db_info *out);
/* Same by id. */
int sidx_db_get(sidx *idx, uint64_t db_id, sidx_db_info *out);
/* 0 if rp names the database's retention policy (or rp is empty),
 * ST_ENOTFOUND otherwise ("retention policy not found"). */
int sidx_db_rp_check(sidx *idx, uint64_t db_id, st_slice rp);
/* Change the retention duration (ALTER RETENTION POLICY). ST_ENOTFOUND. */
int sidx_db_set_retention(sidx *idx, uint64_t db_id, int64_t rp_duration_ns);
/* Drop a database and everything in it from the index; ids are not reused.
 * ST_ENOTFOUND. Key bytes of dropped entries are reclaimed at restart. */
int sidx_db_drop(sidx *idx, uint64_t db_id);
/* Call fn for every live database in id order; fn returns nonzero to stop
 * (that value is returned). Read lock; see the callback rules above. */
typedef int (*sidx_db_fn)(void *arg, const sidx_db_info *db);
int sidx_db_each(sidx *idx, sidx_db_fn fn, void *arg);

/* ---- series and fields (write path) ---------------------------------- */

#define SIDX_F_CREATED 1u /* this call created the entry */
#define SIDX_F_LOGGED  2u /* the definition is already in a queued WAL record */

/* Find or create the series (db_id, measurement, tags). Tags must be sorted
 * (sidx_tags_sort); measurement non-empty. On success *series_id and *flags
 * (SIDX_F_*). Errors: ST_ENOTFOUND (no such db), ST_EINVAL (unsorted tags,
 * empty measurement), ST_ETOOLARGE (key too long), ST_ELIMIT (creation
 * refused: max_series live series exist; nothing created), ST_ENOMEM
 * (nothing created). Existing series: read lock only, no allocation. */
int sidx_series_resolve(sidx *idx, uint64_t db_id, st_slice measurement,
                        const sidx_tag *tags, size_t ntags,
                        uint64_t *series_id, unsigned *flags);
/* Same with an already encoded canonical key (validated). */
int sidx_series_resolve_key(sidx *idx, uint64_t db_id, const void *key, size_t key_len,
                            uint64_t *series_id, unsigned *flags);
/* Set the logged bit (after the WAL record carrying the definition was
 * queued). Idempotent; unknown ids are ignored. Read lock (atomic bit). */
void sidx_series_mark_logged(sidx *idx, uint64_t series_id);

/* Find or create the field (db_id, measurement, field_key) with type.
 * A different existing type -> ST_ECONFLICT and *existing_type set (the only
 * output written on that error). Other errors as sidx_series_resolve
 * (there is no field limit). type must be ST_TYPE_FLOAT..ST_TYPE_STRING. */
int sidx_field_resolve(sidx *idx, uint64_t db_id, st_slice measurement, st_slice field_key,
                       st_type type, uint64_t *field_id, unsigned *flags,
                       st_type *existing_type);
void sidx_field_mark_logged(sidx *idx, uint64_t field_id);

/* ---- load and replay ---------------------------------------------------- */

/* Insert with a given id (catalog load, WAL replay); marked logged; next ids
 * advance past it. Idempotent: the same id with the same definition is 0.
 * ST_EEXISTS if the id or the key is defined differently, ST_ECONFLICT if
 * a field exists with another type, ST_ENOTFOUND for an unknown db,
 * ST_ECORRUPT for a malformed key, ST_ENOMEM. The max_series bound is not
 * applied (the series exist already). */
int sidx_define_series(sidx *idx, uint64_t series_id, uint64_t db_id,
                       const void *key, size_t key_len);
int sidx_define_field(sidx *idx, uint64_t field_id, uint64_t db_id, st_slice measurement,
                      st_slice field_key, st_type type);

/* ---- query side ----------------------------------------------------------
 * Iterators call fn under the read lock (rules above) and stop when fn
 * returns nonzero, returning that value; ST_ENOTFOUND for an unknown db or
 * measurement. Order: measurements, tag keys, tag values and fields in
 * memcmp order of their names; series in id order. Measurements with no
 * live series and no fields, tag keys and values with no live series are
 * skipped. The iterators allocate one sort array (ST_ENOMEM possible) and
 * report errors only before the first callback. The _copy functions
 * return an st_malloc'd sorted id array the caller st_free()s (NULL when
 * *n == 0). */
typedef int (*sidx_name_fn)(void *arg, st_slice name);
typedef int (*sidx_field_fn)(void *arg, uint64_t field_id, st_slice key, st_type type);

int sidx_measurement_each(sidx *idx, uint64_t db_id, sidx_name_fn fn, void *arg);
int sidx_tag_key_each(sidx *idx, uint64_t db_id, st_slice measurement, sidx_name_fn fn, void *arg);
int sidx_tag_value_each(sidx *idx, uint64_t db_id, st_slice measurement, st_slice tag_key,
                        sidx_name_fn fn, void *arg);
int sidx_field_each(sidx *idx, uint64_t db_id, st_slice measurement, sidx_field_fn fn, void *arg);

/* Series ids of a measurement. */
int sidx_measurement_series_copy(sidx *idx, uint64_t db_id, st_slice measurement,
                                 uint64_t **ids, size_t *n);
/* Posting list: ids of the measurement's series whose tag_key equals
 * tag_val. An unknown tag key or value is an empty list (0, *n = 0); an
 * unknown db or measurement is ST_ENOTFOUND. */
int sidx_postings_copy(sidx *idx, uint64_t db_id, st_slice measurement, st_slice tag_key,
                       st_slice tag_val, uint64_t **ids, size_t *n);
/* A series' database and canonical key, copied (st_malloc'd, caller frees;
 * decode with sidx_key_decode). ST_ENOTFOUND for unknown or dropped ids. */
int sidx_series_key_dup(sidx *idx, uint64_t series_id, uint64_t *db_id, void **key, size_t *key_len);
/* The same under the read lock, borrowed for the duration of fn. */
typedef int (*sidx_series_fn)(void *arg, uint64_t series_id, uint64_t db_id,
                              const void *key, size_t key_len);
int sidx_series_get(sidx *idx, uint64_t series_id, sidx_series_fn fn, void *arg);
/* sidx_series_get for ids[0..n) in order, taking the read lock once per
 * SIDX_GET_BATCH ids rather than once each (writers wait at most one
 * batch); unknown and dropped ids are skipped. Stops at fn's first nonzero
 * return and returns it; else 0. */
#define SIDX_GET_BATCH 256
int sidx_series_get_many(sidx *idx, const uint64_t *ids, size_t n, sidx_series_fn fn, void *arg);

/* ---- drops -------------------------------------------------------------- */

/* Remove a series from the index (its postings, its measurement's list).
 * Measurements, tag keys and values left without series are no longer
 * listed. ST_ENOTFOUND. */
int sidx_series_drop(sidx *idx, uint64_t series_id);
/* Remove a measurement: its series and its fields. ST_ENOTFOUND. */
int sidx_measurement_drop(sidx *idx, uint64_t db_id, st_slice measurement);

#endif
