/*
 * storage/head.c — the in-memory head (see head.h).
 *
 * A column is a list of chunks, each holding three encoded streams (time,
 * value, quality) and the statistics of its points (seg_stats_add: the
 * segment blocks' definition). The last chunk is open: it takes the
 * appends, and its streams are the column's appenders. It is sealed and a
 * new one started when it holds HEAD_CHUNK_POINTS points, or holds
 * HEAD_CHUNK_CUT_MIN and the next point falls in another UTC hour: GROUP
 * BY time(1h) windows (and windows of whole hours) then contain whole
 * chunks that statistics answer, and a read of a time range decodes only
 * the chunks that overlap it. A chunk is never cut between equal
 * timestamps.
 *
 * Memory: sealing copies the open chunk's three streams end to end into
 * the head's arena (storage/harena.h: pages mapped for this head, packed
 * without holes, unmapped when the head is freed) and starts the column's
 * appenders over on the buffers they already hold, so a column's appends
 * reallocate only while its first chunk grows. What malloc holds per
 * column is its struct, chunk list, appender buffers and out-of-order
 * buffer; everything sealed is in the arena.
 *
 * Invariants:
 *  1. A column's chunks hold non-decreasing timestamps in WAL order, and
 *     chunk k's max_ts < chunk k+1's min_ts; ooo holds every point that
 *     arrived with ts < the column's last in-order ts.
 *  2. For equal timestamps, later entries (in stream order, then ooo order)
 *     are newer; reads keep the newest. A chunk holding equal timestamps has
 *     dup set: its statistics count both and are never offered.
 *  3. The column map, each column, the arena and h->bytes change only
 *     under the write lock. head_bytes = the hash maps + h->bytes (every
 *     malloc'd buffer by its capacity, kept as buffers grow) + the arena's
 *     resident bytes, which include sealed chunks a rebuild replaced: the
 *     memory the head holds, not the size of its points.
 *  4. A column's last chunk, and only it, is open (bytes == NULL): its
 *     streams are c->open. Every other chunk is sealed, in the arena.
 *  5. h->dead_bytes counts the arena bytes no chunk refers to any more (a
 *     rebuilt chunk's old copy, the chunks of a deleted or dropped
 *     column). When they pass HEAD_COMPACT_MIN and half the arena, the
 *     live chunks are copied into a fresh arena and the old one unmapped
 *     (head_compact), so out-of-order writes that rebuild chunks over and
 *     over cost O(1) copying per garbage byte and the arena stays within
 *     twice what is live. Only between operations, never inside one
 *     (a rebuild holds pointers into the arena).
 *  6. A column that took an OOO point has its index on h->tidy, once
 *     (c->ooo_listed), until head_tidy finds it without any; head_tidy
 *     merges the OOO points of columns that took none since its previous
 *     call (c->ooo_epoch), so a late batch stops costing every read of its
 *     hour a decode and merge once its writers have moved on, instead of
 *     only when the hour's chunk is sealed. A column replaced in place
 *     (head_delete_range) passes its place on the list to the new one.
 */
#include "storage/head.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/hmap.h"
#include "storage/enc.h"
#include "storage/harena.h"
#include "storage/seg_format.h"

#define HEAD_CHUNK_POINTS  1024
#define HEAD_CHUNK_CUT_MIN 64
#define HEAD_CHUNK_ALIGN_NS INT64_C(3600000000000)
#define HEAD_OOO_MERGE     4096 /* OOO points a column keeps before they are merged without a seal */
#define HEAD_COMPACT_MIN   ((size_t)1 << 20) /* dead arena bytes before a compaction is considered */

typedef struct ooo_entry {
    int64_t ts;
    uint64_t bits;     /* float/int/uint/bool value bits, or string offset */
    uint32_t len;      /* string length */
    uint32_t quality;
} ooo_entry;

/* The open chunk's streams. Kept, buffers and all, when the chunk is
 * sealed: the next chunk appends into memory the column already holds. */
typedef struct hopen {
    enc_ts_appender ts;
    union {
        enc_float_appender f;
        enc_int_appender i;
        enc_bool_appender b;
        enc_str_appender s;
    } v;
    enc_quality_appender q;
} hopen;

typedef struct hchunk {
    const uint8_t *bytes; /* sealed: borrowed from the head's arena, the time, value and
                             quality streams end to end; NULL while open (invariant 4) */
    size_t ts_len, v_len, q_len; /* sealed: the streams' lengths */
    uint64_t count;      /* points */
    int64_t min_ts, max_ts;
    union {              /* numeric and BOOL columns: */
        seg_stats_acc st;      /* open: the statistics so far */
        stor_block_stats bs;   /* sealed: as a scan offers them, made once by the seal */
    };
    uint8_t dup;         /* two points share a timestamp */
    uint8_t not_good;    /* some point's quality is not Good */
} hchunk;

typedef struct column {
    uint64_t series_id, field_id;
    uint8_t type;
    int dropped;
    hchunk *ch;        /* owned: nch chunks, time order; the last one open */
    size_t nch, capch;
    hopen open;        /* owned: the streams of the open chunk */
    uint64_t count;    /* in-order points */
    int64_t last_ts;
    st_value last_v;   /* the value at last_ts (strings: not kept, last_v.type = NONE) */
    uint32_t last_q;
    ooo_entry *ooo;    /* owned, arrival order */
    size_t ooo_n, ooo_cap;
    st_buf ooo_str;    /* owned: string bytes of OOO entries */
    uint32_t idx;      /* its index in head.cols */
    uint8_t ooo_listed; /* idx is on the tidy list (invariant 6) */
    uint64_t ooo_epoch; /* head.epoch at its last OOO point */
} column;

/* A series' live columns, in the order its fields first arrived: a line
 * usually carries the same fields in the same order, so its values find
 * their columns by position after one lookup of the series. */
typedef struct hseries {
    uint32_t *cols;        /* owned: indices into head.cols */
    uint32_t n, cap;
} hseries;

struct head {
    atomic_int refs;
    pthread_rwlock_t lock;
    st_hmap *map;          /* (series, field) -> column index + 1 */
    column **cols;         /* owned */
    size_t ncols, capcols;
    st_hmap *smap;         /* series -> index into sers + 1 */
    hseries *sers;         /* owned */
    size_t nsers, capsers;
    uint64_t points;
    size_t bytes;          /* malloc'd: columns, chunk lists, open streams, OOO buffers */
    harena arena;          /* owned: the sealed chunks' streams */
    size_t dead_bytes;     /* arena bytes no chunk refers to (invariant 5) */
    uint32_t *tidy;        /* owned: indices of columns that may hold OOO points (invariant 6) */
    size_t ntidy, captidy;
    uint64_t epoch;        /* head_tidy calls so far */
};

int head_create(head **out)
{
    head *h = st_calloc(1, sizeof *h);
    if (!h) return ST_ENOMEM;
    int rc = st_hmap_create(1024, &h->map);
    if (!rc) rc = st_hmap_create(256, &h->smap);
    if (rc) { st_hmap_destroy(h->map); st_free(h); return rc; }
    harena_init(&h->arena);
    pthread_rwlock_init(&h->lock, NULL);
    atomic_init(&h->refs, 1);
    *out = h;
    return 0;
}

/* ---- chunks ---- */

/* The open chunk's value stream (const for readers). */
static const st_buf *open_vbuf_c(const hopen *o, uint8_t type)
{
    switch (type) {
    case ST_TYPE_FLOAT: return &o->v.f.buf;
    case ST_TYPE_INT: case ST_TYPE_UINT: return &o->v.i.buf;
    case ST_TYPE_BOOL: return &o->v.b.buf;
    default: return &o->v.s.buf;
    }
}

static st_buf *open_vbuf(hopen *o, uint8_t type) { return (st_buf *)open_vbuf_c(o, type); }

static size_t open_cap(hopen *o, uint8_t type) { return o->ts.buf.cap + o->q.buf.cap + open_vbuf(o, type)->cap; }

static void open_init(hopen *o, uint8_t type)
{
    memset(o, 0, sizeof *o);
    enc_ts_appender_init(&o->ts);
    switch (type) {
    case ST_TYPE_FLOAT: enc_float_appender_init(&o->v.f); break;
    case ST_TYPE_INT: enc_int_appender_init(&o->v.i); break;
    case ST_TYPE_UINT: enc_uint_appender_init(&o->v.i); break;
    case ST_TYPE_BOOL: enc_bool_appender_init(&o->v.b); break;
    default: enc_str_appender_init(&o->v.s); break;
    }
    enc_quality_appender_init(&o->q);
}

static void open_fini(hopen *o, uint8_t type)
{
    enc_ts_appender_fini(&o->ts);
    switch (type) {
    case ST_TYPE_FLOAT: enc_float_appender_fini(&o->v.f); break;
    case ST_TYPE_INT: enc_int_appender_fini(&o->v.i); break;
    case ST_TYPE_UINT: enc_uint_appender_fini(&o->v.i); break;
    case ST_TYPE_BOOL: enc_bool_appender_fini(&o->v.b); break;
    default: enc_str_appender_fini(&o->v.s); break;
    }
    enc_quality_appender_fini(&o->q);
}

/* A buffer larger than this is let go at the seal rather than kept for
 * the next chunk: one chunk of long strings does not pin its size for the
 * head's life. (Numeric chunks need a few KiB.) */
#define HEAD_OPEN_KEEP_MAX ((size_t)64 << 10)

static void open_buf_reuse(st_buf *b)
{
    if (b->cap > HEAD_OPEN_KEEP_MAX) st_buf_fini(b);
    else st_buf_clear(b);
}

/* Empty appenders on the buffers they hold (the bit writer overwrites
 * whatever lies past a stream's end). */
static void open_restart(hopen *o, uint8_t type)
{
    st_buf t = o->ts.buf, v = *open_vbuf(o, type), q = o->q.buf;
    open_init(o, type);
    o->ts.buf = t;
    *open_vbuf(o, type) = v;
    o->q.buf = q;
    open_buf_reuse(&o->ts.buf);
    open_buf_reuse(open_vbuf(o, type));
    open_buf_reuse(&o->q.buf);
}

/* A chunk's three streams, sealed or open. */
typedef struct hstreams {
    const uint8_t *ts, *v, *q;
    size_t ts_len, v_len, q_len;
} hstreams;

static void chunk_streams(const column *c, const hchunk *k, hstreams *s)
{
    if (k->bytes) {
        s->ts = k->bytes;
        s->v = k->bytes + k->ts_len;
        s->q = k->bytes + k->ts_len + k->v_len;
        s->ts_len = k->ts_len;
        s->v_len = k->v_len;
        s->q_len = k->q_len;
        return;
    }
    const hopen *o = &c->open;
    const st_buf *v = open_vbuf_c(o, c->type);
    s->ts = (const uint8_t *)o->ts.buf.ptr;
    s->v = (const uint8_t *)v->ptr;
    s->q = (const uint8_t *)o->q.buf.ptr;
    s->ts_len = o->ts.buf.len;
    s->v_len = v->len;
    s->q_len = o->q.buf.len;
}

/* Seal the column's open chunk: its streams go end to end into the arena
 * and the column's appenders start over (*bytes follows their buffers).
 * 0, or ST_ENOMEM with the chunk still open. */
/* The chunk's statistics as a scan offers them: made from the running
 * statistics while the chunk is open, kept from its seal after. */
static void chunk_block_stats(const column *c, const hchunk *k, stor_block_stats *bs)
{
    if (k->bytes) {
        *bs = k->bs;
        return;
    }
    seg_stats st = seg_acc_stats(&k->st, c->type, (size_t)k->count, 1);
    scan_stats_from_seg(c->type, (uint32_t)k->count, k->min_ts, k->max_ts, &st, bs);
}

static int chunk_seal(harena *a, size_t *bytes, column *c)
{
    hchunk *k = &c->ch[c->nch - 1];
    if (k->bytes) return 0;
    hstreams st;
    chunk_streams(c, k, &st);
    uint8_t *p = harena_alloc(a, st.ts_len + st.v_len + st.q_len);
    if (!p) return ST_ENOMEM;
    if (st.ts_len) memcpy(p, st.ts, st.ts_len);
    if (st.v_len) memcpy(p + st.ts_len, st.v, st.v_len);
    if (st.q_len) memcpy(p + st.ts_len + st.v_len, st.q, st.q_len);
    if (c->type != ST_TYPE_STRING) {
        stor_block_stats bs;
        chunk_block_stats(c, k, &bs); /* from the running statistics: k is still open */
        k->bs = bs;
    }
    k->bytes = p;
    k->ts_len = st.ts_len;
    k->v_len = st.v_len;
    k->q_len = st.q_len;
    size_t before = open_cap(&c->open, c->type);
    open_restart(&c->open, c->type);
    *bytes -= before - open_cap(&c->open, c->type);
    return 0;
}

static size_t chunk_sealed_len(const hchunk *k) { return k->bytes ? k->ts_len + k->v_len + k->q_len : 0; }

static size_t col_sealed_len(const column *c)
{
    size_t n = 0;
    for (size_t k = 0; k < c->nch; k++) n += chunk_sealed_len(&c->ch[k]);
    return n;
}

static int64_t hour_of(int64_t t)
{
    int64_t q = t / HEAD_CHUNK_ALIGN_NS;
    return (t % HEAD_CHUNK_ALIGN_NS < 0) ? q - 1 : q;
}

/* ---- columns ---- */

/* What the column holds from malloc (its sealed chunks are in the arena). */
static size_t col_bytes(column *c)
{
    return sizeof *c + c->capch * sizeof(hchunk) + open_cap(&c->open, c->type) + c->ooo_cap * sizeof(ooo_entry) +
           c->ooo_str.cap;
}

static void col_free(column *c)
{
    if (!c) return;
    open_fini(&c->open, c->type);
    st_free(c->ch);
    st_free(c->ooo);
    st_buf_fini(&c->ooo_str);
    st_free(c);
}

void head_ref(head *h) { atomic_fetch_add(&h->refs, 1); }

void head_destroy(head *h)
{
    if (!h || atomic_fetch_sub(&h->refs, 1) != 1) return;
    for (size_t i = 0; i < h->ncols; i++) col_free(h->cols[i]);
    st_free(h->cols);
    st_hmap_destroy(h->map);
    for (size_t i = 0; i < h->nsers; i++) st_free(h->sers[i].cols);
    st_free(h->sers);
    st_hmap_destroy(h->smap);
    st_free(h->tidy);
    harena_fini(&h->arena);
    pthread_rwlock_destroy(&h->lock);
    st_free(h);
}

void head_lock_write(head *h) { pthread_rwlock_wrlock(&h->lock); }
void head_unlock_write(head *h) { pthread_rwlock_unlock(&h->lock); }

static void col_key(uint64_t s, uint64_t f, unsigned char k[16])
{
    memcpy(k, &s, 8);
    memcpy(k + 8, &f, 8);
}

static column *col_find(head *h, uint64_t s, uint64_t f)
{
    unsigned char k[16];
    col_key(s, f, k);
    uint64_t v;
    if (!st_hmap_get(h->map, k, sizeof k, &v)) return NULL;
    column *c = h->cols[v - 1];
    return c->dropped ? NULL : c;
}

static column *col_new(uint64_t s, uint64_t f, uint8_t type)
{
    column *c = st_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->series_id = s;
    c->field_id = f;
    c->type = type;
    c->last_ts = INT64_MIN;
    open_init(&c->open, type);
    st_buf_init(&c->ooo_str);
    return c;
}

static int col_create(head *h, uint64_t s, uint64_t f, uint8_t type, column **out)
{
    if (type < ST_TYPE_FLOAT || type > ST_TYPE_STRING) return ST_EINVAL;
    if (h->ncols == h->capcols) {
        size_t old = h->capcols;
        if (st_grow(&h->cols, &h->capcols, h->ncols + 1, sizeof *h->cols, 256)) return ST_ENOMEM;
        h->bytes += (h->capcols - old) * sizeof *h->cols;
    }
    column *c = col_new(s, f, type);
    if (!c) return ST_ENOMEM;
    unsigned char k[16];
    col_key(s, f, k);
    int rc = st_hmap_put(h->map, k, sizeof k, h->ncols + 1);
    if (rc) { col_free(c); return rc; }
    c->idx = (uint32_t)h->ncols;
    h->cols[h->ncols++] = c;
    h->bytes += col_bytes(c);
    *out = c;
    return 0;
}

static int col_merge_ooo(head *h, size_t *bytes, column *c);

/* The chunk the next in-order point at ts goes to: the open one, or a new
 * one after sealing it into h's arena (invariant 1: never between equal
 * times). Sealing first merges the column's OOO points into its chunks.
 * *bytes follows the malloc'd memory held (h->bytes, or a rebuild's own
 * count for its scratch column). */
static int col_chunk_for(head *h, size_t *bytes, column *c, int64_t ts, hchunk **out)
{
    hchunk *k = c->nch ? &c->ch[c->nch - 1] : NULL;
    if (k && (k->count == 0 || ts == k->max_ts ||
              (k->count < HEAD_CHUNK_POINTS &&
               (k->count < HEAD_CHUNK_CUT_MIN || hour_of(ts) == hour_of(k->min_ts))))) {
        *out = k;
        return 0;
    }
    if (c->ooo_n) col_merge_ooo(h, bytes, c); /* best effort: on failure the OOO points stay */
    if (c->nch == c->capch) {
        size_t old = c->capch;
        if (st_grow(&c->ch, &c->capch, c->nch + 1, sizeof *c->ch, 4)) return ST_ENOMEM;
        *bytes += (c->capch - old) * sizeof *c->ch;
    }
    if (c->nch) {
        int rc = chunk_seal(&h->arena, bytes, c);
        if (rc) return rc;
    }
    k = &c->ch[c->nch++];
    memset(k, 0, sizeof *k);
    *out = k;
    return 0;
}

static uint64_t value_bits(const st_value *v)
{
    uint64_t b = 0;
    switch (v->type) {
    case ST_TYPE_FLOAT: memcpy(&b, &v->v.f, 8); break;
    case ST_TYPE_INT: b = (uint64_t)v->v.i; break;
    case ST_TYPE_UINT: b = v->v.u; break;
    case ST_TYPE_BOOL: b = v->v.b ? 1 : 0; break;
    default: break;
    }
    return b;
}

/* Append an in-order point (ts >= c->last_ts, v of the column's type). */
static int col_append(head *h, size_t *bytes, column *c, int64_t ts, const st_value *v, uint32_t quality)
{
    hchunk *k;
    int rc = col_chunk_for(h, bytes, c, ts, &k);
    if (rc) return rc;
    hopen *o = &c->open;
    size_t before = open_cap(o, c->type);
    /* Each appender leaves itself unchanged on failure; a failure after the
     * first would desynchronise the streams: the time and quality streams
     * reserve their room first (then they cannot fail), the value goes
     * first. */
    if ((rc = st_buf_reserve(&o->ts.buf, ENC_BITW_SLACK)) != 0 || (rc = st_buf_reserve(&o->q.buf, 8)) != 0) {
        *bytes += open_cap(o, c->type) - before;
        return rc;
    }
    switch (c->type) {
    case ST_TYPE_FLOAT: rc = enc_float_appender_append(&o->v.f, v->v.f); break;
    case ST_TYPE_INT: rc = enc_int_appender_append(&o->v.i, v->v.i); break;
    case ST_TYPE_UINT: rc = enc_uint_appender_append(&o->v.i, v->v.u); break;
    case ST_TYPE_BOOL: rc = enc_bool_appender_append(&o->v.b, v->v.b); break;
    default: rc = enc_str_appender_append(&o->v.s, v->v.s.ptr, v->v.s.len); break;
    }
    if (!rc) rc = enc_quality_appender_append(&o->q, quality);
    if (!rc) rc = enc_ts_appender_append(&o->ts, ts);
    *bytes += open_cap(o, c->type) - before;
    if (rc) return rc;
    k->count = o->ts.count;
    size_t idx = (size_t)k->count - 1;
    if (idx == 0) k->min_ts = ts;
    else if (ts == k->max_ts) k->dup = 1;
    k->max_ts = ts;
    if (quality != ST_QUALITY_GOOD) k->not_good = 1;
    if (c->type != ST_TYPE_STRING) {
        seg_num nv;
        nv.u = value_bits(v);
        seg_acc_add(&k->st, c->type, idx, nv);
    }
    c->count++;
    c->last_ts = ts;
    c->last_v = *v;
    if (v->type == ST_TYPE_STRING) c->last_v.type = ST_TYPE_NONE;
    c->last_q = quality;
    return 0;
}

/* The series' entry in sers, created on first use. NULL on ST_ENOMEM. */
static hseries *series_get(head *h, uint64_t s)
{
    uint64_t v;
    if (st_hmap_get(h->smap, &s, sizeof s, &v)) return &h->sers[v - 1];
    if (h->nsers == h->capsers) {
        size_t old = h->capsers;
        if (st_grow(&h->sers, &h->capsers, h->nsers + 1, sizeof *h->sers, 64)) return NULL;
        h->bytes += (h->capsers - old) * sizeof *h->sers;
    }
    if (st_hmap_put(h->smap, &s, sizeof s, h->nsers + 1)) return NULL;
    hseries *e = &h->sers[h->nsers++];
    memset(e, 0, sizeof *e);
    return e;
}

static int series_add_col(head *h, hseries *e, size_t idx)
{
    if (e->n == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 16;
        uint32_t *n = st_realloc(e->cols, cap * sizeof *n);
        if (!n) return ST_ENOMEM;
        h->bytes += (size_t)(cap - e->cap) * sizeof *n;
        e->cols = n;
        e->cap = cap;
    }
    e->cols[e->n++] = (uint32_t)idx;
    return 0;
}

/* The column (s, f), created with type when absent; e is s's entry. */
static int col_get(head *h, hseries *e, uint32_t pos, uint64_t s, uint64_t f, uint8_t type, column **out)
{
    if (pos < e->n) {
        column *c = h->cols[e->cols[pos]];
        if (c->field_id == f) { *out = c; return 0; }
    }
    column *c = NULL;
    for (uint32_t k = 0; k < e->n && k < 32 && !c; k++)
        if (h->cols[e->cols[k]]->field_id == f) c = h->cols[e->cols[k]];
    if (!c) c = col_find(h, s, f);
    if (!c) {
        int rc = col_create(h, s, f, type, &c);
        if (rc) return rc;
        /* Out of memory here leaves the column off the list: it is then
         * found by hash (col_find above), never created twice. */
        (void)series_add_col(h, e, h->ncols - 1);
    }
    *out = c;
    return 0;
}

static int col_put(head *h, column *c, int64_t ts, const st_value *v, uint32_t quality);

int head_append(head *h, uint64_t s, uint64_t f, int64_t ts, const st_value *v, uint32_t quality)
{
    hseries *e = series_get(h, s);
    if (!e) return ST_ENOMEM;
    column *c;
    int rc = col_get(h, e, UINT32_MAX, s, f, v->type, &c);
    if (rc) return rc;
    return col_put(h, c, ts, v, quality);
}

int head_append_line(head *h, uint64_t s, int64_t ts, uint32_t quality, size_t n, const uint64_t *fields,
                     const st_value *vals, size_t *appended)
{
    *appended = 0;
    hseries *e = series_get(h, s);
    if (!e) return ST_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        column *c;
        int rc = col_get(h, e, i < UINT32_MAX ? (uint32_t)i : UINT32_MAX, s, fields[i], vals[i].type, &c);
        if (!rc) rc = col_put(h, c, ts, &vals[i], quality);
        if (rc == ST_ENOMEM) return rc;
        if (rc == 0) (*appended)++;
    }
    return 0;
}

/* Invariant 5: the live sealed chunks, end to end in one allocation of
 * a fresh arena; the old arena unmapped. Dropped columns' chunks are
 * dead: those columns lose their chunk list. Write lock held, no pointer
 * into the arena held by the caller. Out of memory keeps the old arena. */
static void head_compact(head *h)
{
    size_t live = 0;
    for (size_t i = 0; i < h->ncols; i++)
        if (!h->cols[i]->dropped) live += col_sealed_len(h->cols[i]);
    harena fresh;
    harena_init(&fresh);
    uint8_t *p = NULL;
    if (live && (p = harena_alloc(&fresh, live)) == NULL) return;
    for (size_t i = 0; i < h->ncols; i++) {
        column *c = h->cols[i];
        if (c->dropped) {
            c->nch = 0;
            continue;
        }
        for (size_t k = 0; k < c->nch; k++) {
            hchunk *ch = &c->ch[k];
            size_t n = chunk_sealed_len(ch);
            if (!n) continue;
            memcpy(p, ch->bytes, n);
            ch->bytes = p;
            p += n;
        }
    }
    harena_fini(&h->arena);
    h->arena = fresh;
    h->dead_bytes = 0;
}

static void head_maybe_compact(head *h)
{
    if (h->dead_bytes >= HEAD_COMPACT_MIN && h->dead_bytes >= h->arena.bytes / 2) head_compact(h);
}

/* Put c's index on the tidy list (lock held). 0 or ST_ENOMEM. */
static int tidy_push(head *h, column *c)
{
    if (h->ntidy == h->captidy) {
        size_t old = h->captidy;
        if (st_grow(&h->tidy, &h->captidy, h->ntidy + 1, sizeof *h->tidy, 64)) return ST_ENOMEM;
        h->bytes += (h->captidy - old) * sizeof *h->tidy;
    }
    h->tidy[h->ntidy++] = c->idx;
    return 0;
}

/* One value into column c (lock held): in order into the chunks, else
 * into the OOO buffer. */
static int col_put(head *h, column *c, int64_t ts, const st_value *v, uint32_t quality)
{
    if (c->type != v->type) return ST_ECONFLICT;
    if (ts < c->last_ts) {
        if (c->ooo_n == c->ooo_cap) {
            size_t old = c->ooo_cap;
            if (st_grow(&c->ooo, &c->ooo_cap, c->ooo_n + 1, sizeof *c->ooo, 16)) return ST_ENOMEM;
            h->bytes += (c->ooo_cap - old) * sizeof *c->ooo;
        }
        ooo_entry *e = &c->ooo[c->ooo_n];
        e->ts = ts;
        e->quality = quality;
        e->len = 0;
        if (v->type == ST_TYPE_STRING) {
            size_t before = c->ooo_str.cap;
            e->bits = c->ooo_str.len;
            e->len = (uint32_t)v->v.s.len;
            if (st_buf_append(&c->ooo_str, v->v.s.ptr, v->v.s.len)) return ST_ENOMEM;
            h->bytes += c->ooo_str.cap - before;
        } else {
            e->bits = value_bits(v);
        }
        c->ooo_n++;
        h->points++;
        c->ooo_epoch = h->epoch;
        if (!c->ooo_listed && tidy_push(h, c) == 0) c->ooo_listed = 1; /* unlisted: merged at the seal */
        /* A long backfill into a quiet column: merge before it grows big. */
        if (c->ooo_n >= HEAD_OOO_MERGE) {
            col_merge_ooo(h, &h->bytes, c);
            head_maybe_compact(h);
        }
        return 0;
    }
    int rc = col_append(h, &h->bytes, c, ts, v, quality);
    if (!rc) h->points++;
    head_maybe_compact(h); /* a seal merges OOO points first */
    return rc;
}

void head_points_init(head_points *p)
{
    memset(p, 0, sizeof *p);
    st_buf_init(&p->strings);
}

void head_points_fini(head_points *p)
{
    st_free(p->ts);
    st_free(p->vals);
    st_free(p->quality);
    st_buf_fini(&p->strings);
    memset(p, 0, sizeof *p);
}

/* ---- reading: a scan over a column's chunks and OOO points ---- */

typedef struct ooo_ref {
    int64_t ts;
    size_t idx; /* arrival order */
} ooo_ref;

static int ooo_cmp(const void *a, const void *b)
{
    const ooo_ref *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static st_value ooo_value(const column *c, const ooo_entry *e)
{
    st_value v;
    memset(&v, 0, sizeof v);
    v.type = c->type;
    switch (c->type) {
    case ST_TYPE_FLOAT: memcpy(&v.v.f, &e->bits, 8); break;
    case ST_TYPE_INT: v.v.i = (int64_t)e->bits; break;
    case ST_TYPE_UINT: v.v.u = e->bits; break;
    case ST_TYPE_BOOL: v.v.b = (int)e->bits; break;
    default: v.v.s = (st_slice){ c->ooo_str.ptr ? c->ooo_str.ptr + e->bits : "", e->len }; break;
    }
    return v;
}

/* Scratch of one scan: a decoded chunk (typed) and merge output. */
typedef struct scan_buf {
    size_t cap;          /* points the arrays hold */
    int64_t *ts;
    void *vals;          /* 16 bytes per point: doubles, ints, bools or slices */
    uint32_t *q;
    st_value *sv;        /* cap + the OOO points in range */
    int64_t *sts;
    uint32_t *sq;
    size_t scap;
} scan_buf;

static void scan_buf_fini(scan_buf *b)
{
    st_free(b->ts);
    st_free(b->vals);
    st_free(b->q);
    st_free(b->sv);
    st_free(b->sts);
    st_free(b->sq);
}

static int scan_buf_reserve(scan_buf *b, size_t n, size_t merged)
{
    if (n > b->cap) {
        int64_t *ts = st_realloc(b->ts, n * sizeof *ts);
        if (ts) b->ts = ts;
        void *v = st_realloc(b->vals, n * 16);
        if (v) b->vals = v;
        uint32_t *q = st_realloc(b->q, n * sizeof *q);
        if (q) b->q = q;
        if (!ts || !v || !q) return ST_ENOMEM;
        b->cap = n;
    }
    if (merged > b->scap) {
        st_value *sv = st_realloc(b->sv, merged * sizeof *sv);
        if (sv) b->sv = sv;
        int64_t *sts = st_realloc(b->sts, merged * sizeof *sts);
        if (sts) b->sts = sts;
        uint32_t *sq = st_realloc(b->sq, merged * sizeof *sq);
        if (sq) b->sq = sq;
        if (!sv || !sts || !sq) return ST_ENOMEM;
        b->scap = merged;
    }
    return 0;
}

/* Decode chunk k whole into b (ts, vals, q; q only when not all Good). */
static int chunk_decode(const column *c, const hchunk *k, scan_buf *b)
{
    size_t n = (size_t)k->count;
    int rc = scan_buf_reserve(b, n, 0);
    if (rc) return rc;
    hstreams st;
    chunk_streams(c, k, &st);
    if ((rc = enc_ts_decode(st.ts, st.ts_len, n, b->ts)) != 0) return rc;
    switch (c->type) {
    case ST_TYPE_FLOAT: rc = enc_float_gorilla_decode(st.v, st.v_len, n, b->vals); break;
    case ST_TYPE_INT: rc = enc_int_decode(st.v, st.v_len, n, b->vals); break;
    case ST_TYPE_UINT: rc = enc_uint_decode(st.v, st.v_len, n, b->vals); break;
    case ST_TYPE_BOOL: rc = enc_bool_decode(st.v, st.v_len, n, b->vals); break;
    default: rc = enc_str_decode(st.v, st.v_len, n, b->vals); break;
    }
    if (rc) return rc;
    if (k->not_good) rc = enc_quality_decode(st.q, st.q_len, n, b->q);
    return rc;
}

static st_value typed_value(uint8_t type, const void *vals, size_t j)
{
    st_value v;
    memset(&v, 0, sizeof v);
    v.type = type;
    switch (type) {
    case ST_TYPE_FLOAT: v.v.f = ((const double *)vals)[j]; break;
    case ST_TYPE_INT: v.v.i = ((const int64_t *)vals)[j]; break;
    case ST_TYPE_UINT: v.v.u = ((const uint64_t *)vals)[j]; break;
    case ST_TYPE_BOOL: v.v.b = ((const uint8_t *)vals)[j]; break;
    default: v.v.s = ((const st_slice *)vals)[j]; break;
    }
    return v;
}

typedef struct scan_ctx {
    const column *c;
    const stor_scan_cb *cb;
    scan_buf b;
    const ooo_ref *oo;   /* OOO points in range, sorted */
    size_t no, ob;       /* count; next undelivered */
} scan_ctx;

/* Merge points [j0, j1) of the decoded chunk (NULL: none) with the OOO
 * points of ts <= limit, equal times keeping the newest; to on_points. */
static int deliver_merged(scan_ctx *x, const hchunk *k, size_t j0, size_t j1, int64_t limit)
{
    size_t oe = x->ob;
    while (oe < x->no && x->oo[oe].ts <= limit) oe++;
    size_t total = (j1 - j0) + (oe - x->ob);
    if (total == 0) return 0;
    scan_buf *b = &x->b;
    int rc = scan_buf_reserve(b, 0, total);
    if (rc) return rc;
    size_t m = 0, a = j0, o = x->ob;
    while (a < j1 || o < oe) {
        int64_t t;
        st_value v;
        uint32_t q;
        if (o >= oe || (a < j1 && b->ts[a] <= x->oo[o].ts)) {
            t = b->ts[a];
            v = typed_value(x->c->type, b->vals, a);
            q = k->not_good ? b->q[a] : ST_QUALITY_GOOD;
            a++;
        } else {
            const ooo_entry *e = &x->c->ooo[x->oo[o].idx];
            t = e->ts;
            v = ooo_value(x->c, e);
            q = e->quality;
            o++;
        }
        if (m && b->sts[m - 1] == t) m--;
        b->sts[m] = t;
        b->sv[m] = v;
        b->sq[m] = q;
        m++;
    }
    x->ob = oe;
    return x->cb->on_points(x->cb->arg, m, b->sts, b->sv, b->sq);
}

/* Points [j0, j1) of the decoded chunk: typed when the caller takes it. */
static int deliver_run(scan_ctx *x, const hchunk *k, size_t j0, size_t j1)
{
    if (j1 <= j0) return 0;
    scan_buf *b = &x->b;
    uint8_t type = x->c->type;
    if (x->cb->on_run && type != ST_TYPE_STRING) {
        stor_run r;
        memset(&r, 0, sizeof r);
        r.type = type;
        r.n = j1 - j0;
        r.ts = b->ts + j0;
        switch (type) {
        case ST_TYPE_FLOAT: r.f = (const double *)b->vals + j0; break;
        case ST_TYPE_INT: r.i = (const int64_t *)b->vals + j0; break;
        case ST_TYPE_UINT: r.u = (const uint64_t *)b->vals + j0; break;
        default: r.b = (const uint8_t *)b->vals + j0; break;
        }
        r.quality = k->not_good ? b->q + j0 : NULL;
        return x->cb->on_run(x->cb->arg, &r);
    }
    return deliver_merged(x, k, j0, j1, INT64_MIN);
}

static size_t lower_ts(const int64_t *ts, size_t n, int64_t t) /* first index with ts >= t */
{
    size_t lo = 0, hi = n;
    while (lo < hi) { size_t m = lo + (hi - lo) / 2; if (ts[m] < t) lo = m + 1; else hi = m; }
    return lo;
}

static size_t upper_ts(const int64_t *ts, size_t n, int64_t t) /* first index with ts > t */
{
    size_t lo = 0, hi = n;
    while (lo < hi) { size_t m = lo + (hi - lo) / 2; if (ts[m] <= t) lo = m + 1; else hi = m; }
    return lo;
}

/* Points [j0, j1) of the decoded chunk k (no repeated time in it) with the
 * OOO points in its span: the stretches between OOO points as typed runs,
 * each cluster of OOO points merged with the few chunk points among them
 * (fewer than AROUND_GAP between two of its points). One late batch in an
 * hour's chunk thus costs two runs and one small merge, not a merge of the
 * whole chunk. */
#define AROUND_GAP 16
static int deliver_around(scan_ctx *x, const hchunk *k, size_t j0, size_t j1)
{
    const int64_t *ts = x->b.ts;
    size_t a = j0;
    int rc = 0;
    while (!rc && x->ob < x->no && x->oo[x->ob].ts <= k->max_ts) {
        size_t oe = x->ob + 1;
        size_t q = a + upper_ts(ts + a, j1 - a, x->oo[x->ob].ts);
        while (oe < x->no && x->oo[oe].ts <= k->max_ts) {
            size_t q2 = q + upper_ts(ts + q, j1 - q, x->oo[oe].ts);
            if (q2 - q >= AROUND_GAP) break;
            q = q2;
            oe++;
        }
        size_t p = a + lower_ts(ts + a, q - a, x->oo[x->ob].ts);
        if ((rc = deliver_run(x, k, a, p)) != 0) break;
        rc = deliver_merged(x, k, p, q, x->oo[oe - 1].ts);
        a = q;
    }
    if (!rc) rc = deliver_run(x, k, a, j1);
    return rc;
}


/* The first chunk whose max_ts >= t (nch when none). */
static size_t chunk_seek(const column *c, int64_t t)
{
    size_t lo = 0, hi = c->nch;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (c->ch[m].count && c->ch[m].max_ts < t) lo = m + 1;
        else hi = m;
    }
    return lo;
}

/* The column's scan, read lock held by the caller. */
static int col_scan(const column *c, int64_t tmin, int64_t tmax, int offer_stats, const stor_scan_cb *cb)
{
    scan_ctx x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.cb = cb;
    int rc = 0;
    ooo_ref *oo = NULL;
    if (c->ooo_n) {
        oo = st_malloc(c->ooo_n * sizeof *oo);
        if (!oo) return ST_ENOMEM;
        int sorted = 1; /* arrival order is time order (one late batch): no sort */
        for (size_t k = 0; k < c->ooo_n; k++)
            if (c->ooo[k].ts >= tmin && c->ooo[k].ts <= tmax) {
                if (x.no && c->ooo[k].ts < oo[x.no - 1].ts) sorted = 0;
                oo[x.no].ts = c->ooo[k].ts;
                oo[x.no].idx = k;
                x.no++;
            }
        if (!sorted) qsort(oo, x.no, sizeof *oo, ooo_cmp);
        x.oo = oo;
    }
    for (size_t ci = chunk_seek(c, tmin); ci < c->nch && !rc; ci++) {
        hchunk *k = &c->ch[ci];
        size_t n = (size_t)k->count;
        if (n == 0) continue;
        if (k->min_ts > tmax) break;
        /* OOO points before the chunk go first, on their own. */
        if (x.ob < x.no && x.oo[x.ob].ts < k->min_ts && (rc = deliver_merged(&x, NULL, 0, 0, k->min_ts - 1)) != 0) break;
        int ooo_in = x.ob < x.no && x.oo[x.ob].ts <= k->max_ts;
        int inside = k->min_ts >= tmin && k->max_ts <= tmax;
        if (inside && !ooo_in && !k->dup && offer_stats && cb->on_block && c->type != ST_TYPE_STRING) {
            stor_block_stats bs;
            chunk_block_stats(c, k, &bs);
            if (cb->on_block(cb->arg, &bs)) continue;
        }
        if ((rc = chunk_decode(c, k, &x.b)) != 0) break;
        size_t j0 = inside ? 0 : lower_ts(x.b.ts, n, tmin);
        size_t j1 = inside ? n : upper_ts(x.b.ts, n, tmax);
        if (k->dup || c->type == ST_TYPE_STRING) rc = deliver_merged(&x, k, j0, j1, k->max_ts);
        else if (ooo_in) rc = deliver_around(&x, k, j0, j1);
        else rc = deliver_run(&x, k, j0, j1);
    }
    if (!rc && x.ob < x.no) rc = deliver_merged(&x, NULL, 0, 0, INT64_MAX);
    scan_buf_fini(&x.b);
    st_free(oo);
    return rc;
}

/* ---- merging OOO points into the chunks ---- */

#define NO_CHUNK ((size_t)-1)

/* The last non-empty chunk starting at or before t; NO_CHUNK when t is
 * older than every chunk (or there is none). */
static size_t chunk_target(const column *c, int64_t t)
{
    size_t lo = 0, hi = c->nch;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (c->ch[m].count && c->ch[m].min_ts <= t) lo = m + 1;
        else hi = m;
    }
    return lo ? lo - 1 : NO_CHUNK;
}

/* Chunk ci (NO_CHUNK: none, insert before the first) merged with the OOO
 * points refs[0..n) (sorted) and re-encoded into one or more chunks that
 * replace it. The new chunks are sealed, except the last one when they
 * replace the open chunk: it stays open, on the scratch column's appenders
 * (invariant 4). A replaced sealed chunk's bytes stay in the arena,
 * counted, until the head is freed. */
static int chunk_rebuild(head *h, size_t *bytes, column *c, size_t ci, const ooo_ref *refs, size_t n, scan_buf *b)
{
    hchunk *old = ci == NO_CHUNK ? NULL : &c->ch[ci];
    size_t kn = old ? (size_t)old->count : 0;
    int last = (old ? ci + 1 : 0) == c->nch; /* the new chunks end the column */
    int rc = 0;
    if (kn && (rc = chunk_decode(c, old, b)) != 0) return rc;
    size_t total = kn + n;
    int64_t *mts = st_malloc(total * sizeof *mts);
    st_value *mv = st_malloc(total * sizeof *mv);
    uint32_t *mq = st_malloc(total * sizeof *mq);
    column tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.type = c->type;
    tmp.last_ts = INT64_MIN;
    open_init(&tmp.open, c->type);
    size_t tb = 0;
    if (!mts || !mv || !mq) { rc = ST_ENOMEM; goto done; }
    size_t m = 0, a = 0, o = 0;
    while (a < kn || o < n) {
        int64_t t;
        st_value v;
        uint32_t q;
        if (o >= n || (a < kn && b->ts[a] <= refs[o].ts)) { /* equal times: the OOO point is newer */
            t = b->ts[a];
            v = typed_value(c->type, b->vals, a);
            q = old->not_good ? b->q[a] : ST_QUALITY_GOOD;
            a++;
        } else {
            const ooo_entry *e = &c->ooo[refs[o].idx];
            t = e->ts;
            v = ooo_value(c, e);
            q = e->quality;
            o++;
        }
        if (m && mts[m - 1] == t) m--;
        mts[m] = t;
        mv[m] = v;
        mq[m] = q;
        m++;
    }
    for (size_t i = 0; i < m && !rc; i++) rc = col_append(h, &tb, &tmp, mts[i], &mv[i], mq[i]);
    if (!rc && !last) rc = chunk_seal(&h->arena, &tb, &tmp);
    if (rc) goto done;
    /* splice tmp's chunks in place of ci */
    size_t drop = old ? 1 : 0, at = old ? ci : 0;
    size_t need = c->nch - drop + tmp.nch;
    if (need > c->capch) {
        size_t cap = c->capch ? c->capch : 4;
        while (cap < need) cap *= 2;
        hchunk *nc = st_realloc(c->ch, cap * sizeof *nc);
        if (!nc) { rc = ST_ENOMEM; goto done; }
        *bytes += (cap - c->capch) * sizeof *nc;
        c->ch = nc;
        c->capch = cap;
        old = drop ? &c->ch[ci] : NULL;
    }
    if (old) h->dead_bytes += chunk_sealed_len(old);
    if (last) {
        /* The open chunk's streams give way to the scratch column's. */
        *bytes -= open_cap(&c->open, c->type);
        open_fini(&c->open, c->type);
        c->open = tmp.open;
        *bytes += open_cap(&c->open, c->type);
        open_init(&tmp.open, c->type);
    }
    memmove(&c->ch[at + tmp.nch], &c->ch[at + drop], (c->nch - at - drop) * sizeof *c->ch);
    memcpy(&c->ch[at], tmp.ch, tmp.nch * sizeof *c->ch);
    c->nch = need;
    c->count = c->count - kn + m;
    tmp.nch = 0; /* the chunks moved */
done:
    for (size_t k = 0; k < tmp.nch; k++) h->dead_bytes += chunk_sealed_len(&tmp.ch[k]); /* a failed rebuild's */
    open_fini(&tmp.open, c->type);
    st_free(tmp.ch);
    st_free(mts);
    st_free(mv);
    st_free(mq);
    return rc;
}

/*
 * Merge the column's OOO points into its chunks, keeping invariant 1: a
 * point goes to the last chunk starting at or before it (before the first
 * chunk when older than all); each chunk receiving points is rebuilt.
 * Chunks are visited from the last, so the indices of those before stay
 * valid. Called when the last chunk is sealed (every OOO point is older
 * than the column's last time, so all of them can go) and when a column
 * holds HEAD_OOO_MERGE of them. On failure the points not merged stay in
 * ooo, in arrival order.
 */
static int col_merge_ooo(head *h, size_t *bytes, column *c)
{
    size_t no = c->ooo_n;
    if (!no) return 0;
    ooo_ref *oo = st_malloc(no * sizeof *oo);
    if (!oo) return ST_ENOMEM;
    for (size_t k = 0; k < no; k++) { oo[k].ts = c->ooo[k].ts; oo[k].idx = k; }
    qsort(oo, no, sizeof *oo, ooo_cmp);
    scan_buf b;
    memset(&b, 0, sizeof b);
    int rc = 0;
    size_t e1 = no;
    while (e1 > 0 && !rc) {
        size_t ci = chunk_target(c, oo[e1 - 1].ts);
        size_t e0 = e1 - 1;
        while (e0 > 0 && chunk_target(c, oo[e0 - 1].ts) == ci) e0--;
        rc = chunk_rebuild(h, bytes, c, ci, oo + e0, e1 - e0, &b);
        if (!rc) e1 = e0;
    }
    scan_buf_fini(&b);
    if (e1 == 0) {
        c->ooo_n = 0;
        st_buf_clear(&c->ooo_str);
    } else {
        /* keep oo[0..e1) in arrival order; their string bytes stay where they are */
        for (size_t k = 0; k < e1; k++) oo[k].ts = (int64_t)oo[k].idx;
        qsort(oo, e1, sizeof *oo, ooo_cmp);
        for (size_t k = 0; k < e1; k++) c->ooo[k] = c->ooo[oo[k].idx];
        c->ooo_n = e1;
    }
    st_free(oo);
    return rc;
}

#define TIDY_SLICE 64 /* columns merged per hold of the write lock */

size_t head_tidy(head *h)
{
    pthread_rwlock_wrlock(&h->lock);
    uint64_t quiet = h->epoch++; /* ooo_epoch below this: no OOO point since the previous call */
    uint32_t *list = h->tidy;
    size_t n = h->ntidy, cap = h->captidy;
    h->tidy = NULL;
    h->ntidy = h->captidy = 0;
    size_t lb = cap * sizeof *list;
    h->bytes -= lb > h->bytes ? h->bytes : lb;
    pthread_rwlock_unlock(&h->lock);
    size_t merged = 0;
    for (size_t i = 0; i < n; i += TIDY_SLICE) {
        size_t e = n - i < TIDY_SLICE ? n : i + TIDY_SLICE;
        pthread_rwlock_wrlock(&h->lock);
        for (size_t j = i; j < e; j++) {
            column *c = h->cols[list[j]];
            if (!c->dropped && c->ooo_n && c->ooo_epoch < quiet) {
                col_merge_ooo(h, &h->bytes, c); /* on failure the points stay, and so does the entry */
                merged++;
            }
            if (c->dropped || !c->ooo_n || tidy_push(h, c) != 0) c->ooo_listed = 0;
        }
        head_maybe_compact(h);
        pthread_rwlock_unlock(&h->lock);
    }
    st_free(list);
    return merged;
}

int head_scan(head *h, uint64_t s, uint64_t f, int64_t tmin, int64_t tmax, int offer_stats, const stor_scan_cb *cb)
{
    pthread_rwlock_rdlock(&h->lock);
    column *c = col_find(h, s, f);
    int rc = c ? col_scan(c, tmin, tmax, offer_stats, cb) : 0;
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

int head_first_ts(head *h, uint64_t s, uint64_t f, int64_t tmin, int64_t tmax, int64_t *lo)
{
    int found = 0;
    int64_t best = INT64_MAX;
    pthread_rwlock_rdlock(&h->lock);
    column *c = col_find(h, s, f);
    if (c) {
        size_t ci = chunk_seek(c, tmin);
        for (; ci < c->nch; ci++) {
            const hchunk *k = &c->ch[ci];
            if (k->count == 0) continue;
            if (k->min_ts <= tmax) { best = k->min_ts < tmin ? tmin : k->min_ts; found = 1; }
            break;
        }
        for (size_t k = 0; k < c->ooo_n; k++) {
            int64_t t = c->ooo[k].ts;
            if (t >= tmin && t <= tmax && t < best) { best = t; found = 1; }
        }
    }
    pthread_rwlock_unlock(&h->lock);
    if (found) *lo = best;
    return found;
}

/* head_read: a scan without statistics, gathered. */
typedef struct gather {
    head_points *out;
    size_t cap;
    int err;
} gather;

static int gather_room(gather *g, size_t n)
{
    head_points *o = g->out;
    if (o->n + n > g->cap) {
        size_t cap = g->cap ? g->cap : 256;
        while (cap < o->n + n) cap *= 2;
        int64_t *t2 = st_realloc(o->ts, cap * sizeof *t2);
        if (t2) o->ts = t2;
        st_value *v2 = st_realloc(o->vals, cap * sizeof *v2);
        if (v2) o->vals = v2;
        uint32_t *q2 = st_realloc(o->quality, cap * sizeof *q2);
        if (q2) o->quality = q2;
        if (!t2 || !v2 || !q2) return ST_ENOMEM;
        g->cap = cap;
    }
    return 0;
}

/* A typed run of a chunk (never strings; strictly increasing times): into
 * the output directly, without the per-point merge pass of on_points. */
static int gather_run(void *arg, const stor_run *r)
{
    gather *g = arg;
    if (gather_room(g, r->n)) return ST_ENOMEM;
    head_points *o = g->out;
    memcpy(o->ts + o->n, r->ts, r->n * sizeof *r->ts);
    st_value x, *v = o->vals + o->n;
    memset(&x, 0, sizeof x);
    x.type = r->type;
    switch (r->type) {
    case ST_TYPE_FLOAT: for (size_t i = 0; i < r->n; i++) { x.v.f = r->f[i]; v[i] = x; } break;
    case ST_TYPE_INT: for (size_t i = 0; i < r->n; i++) { x.v.i = r->i[i]; v[i] = x; } break;
    case ST_TYPE_UINT: for (size_t i = 0; i < r->n; i++) { x.v.u = r->u[i]; v[i] = x; } break;
    default: for (size_t i = 0; i < r->n; i++) { x.v.b = r->b[i]; v[i] = x; } break;
    }
    uint32_t *q = o->quality + o->n;
    if (r->quality) memcpy(q, r->quality, r->n * sizeof *q);
    else for (size_t i = 0; i < r->n; i++) q[i] = ST_QUALITY_GOOD;
    o->n += r->n;
    return 0;
}

static int gather_points(void *arg, size_t n, const int64_t *ts, const st_value *vals, const uint32_t *q)
{
    gather *g = arg;
    head_points *o = g->out;
    if (gather_room(g, n)) return ST_ENOMEM;
    memcpy(o->ts + o->n, ts, n * sizeof *ts);
    memcpy(o->vals + o->n, vals, n * sizeof *vals);
    memcpy(o->quality + o->n, q, n * sizeof *q);
    if (o->type == ST_TYPE_STRING) {
        /* strings point into the head: copy them out as offsets, fixed up at the end */
        for (size_t i = 0; i < n; i++) {
            st_value *v = &o->vals[o->n + i];
            size_t off = o->strings.len;
            if (st_buf_append(&o->strings, v->v.s.ptr, v->v.s.len)) return ST_ENOMEM;
            v->v.s.ptr = (const char *)(uintptr_t)off;
        }
    }
    o->n += n;
    return 0;
}

int head_read(head *h, uint64_t s, uint64_t f, int64_t tmin, int64_t tmax, head_points *out)
{
    st_free(out->ts);
    st_free(out->vals);
    st_free(out->quality);
    out->ts = NULL;
    out->vals = NULL;
    out->quality = NULL;
    out->n = 0;
    st_buf_clear(&out->strings);
    gather g = { out, 0, 0 };
    stor_scan_cb cb = { NULL, gather_points, gather_run, &g, 0 };
    pthread_rwlock_rdlock(&h->lock);
    column *c = col_find(h, s, f);
    out->type = c ? c->type : ST_TYPE_NONE;
    int rc = c ? col_scan(c, tmin, tmax, 0, &cb) : 0;
    pthread_rwlock_unlock(&h->lock);
    if (rc) { out->n = 0; return rc; }
    if (out->type == ST_TYPE_STRING)
        for (size_t i = 0; i < out->n; i++)
            out->vals[i].v.s.ptr = (out->strings.ptr ? out->strings.ptr : "") + (uintptr_t)out->vals[i].v.s.ptr;
    return 0;
}

int head_last_before(head *h, uint64_t s, uint64_t f, int64_t t, int64_t *ts_out, st_value *v_out,
                     uint32_t *q_out, st_buf *strings)
{
    int rc = 0, found = 0;
    int64_t best_ts = 0;
    st_value best;
    uint32_t best_q = 0;
    memset(&best, 0, sizeof best);
    scan_buf b;
    memset(&b, 0, sizeof b);
    pthread_rwlock_rdlock(&h->lock);
    column *c = col_find(h, s, f);
    if (!c) goto unlock;
    if (c->count && t >= c->last_ts && c->last_v.type != ST_TYPE_NONE) {
        /* The newest in-order point answers it (every OOO entry is older
         * than last_ts): no decoding. */
        best_ts = c->last_ts;
        best = c->last_v;
        best_q = c->last_q;
        found = 1;
    } else if (c->count) {
        size_t ci = chunk_target(c, t); /* the last chunk starting at or before t */
        if (ci != NO_CHUNK) {
            hchunk *k = &c->ch[ci];
            if ((rc = chunk_decode(c, k, &b)) != 0) goto unlock;
            size_t j = upper_ts(b.ts, (size_t)k->count, t);
            if (j > 0) {
                best_ts = b.ts[j - 1];
                best = typed_value(c->type, b.vals, j - 1);
                best_q = k->not_good ? b.q[j - 1] : ST_QUALITY_GOOD;
                found = 1;
            }
        }
    }
    /* OOO entries are newer than stream entries of the same time. */
    for (size_t k = 0; k < c->ooo_n; k++) {
        const ooo_entry *e = &c->ooo[k];
        if (e->ts > t) continue;
        if (!found || e->ts >= best_ts) {
            best_ts = e->ts;
            best = ooo_value(c, e);
            best_q = e->quality;
            found = 1;
        }
    }
    if (found) {
        st_buf_clear(strings);
        if (best.type == ST_TYPE_STRING) {
            if ((rc = st_buf_append(strings, best.v.s.ptr, best.v.s.len)) != 0) goto unlock;
            best.v.s.ptr = strings->ptr ? strings->ptr : "";
        }
        *ts_out = best_ts;
        *v_out = best;
        *q_out = best_q;
    }
unlock:
    pthread_rwlock_unlock(&h->lock);
    scan_buf_fini(&b);
    return rc ? rc : found;
}

int head_delete_range(head *h, uint64_t s, int64_t tmin, int64_t tmax)
{
    /* Collect the series' columns, then rebuild each from its kept points. */
    size_t *idx = NULL, n = 0;
    pthread_rwlock_rdlock(&h->lock);
    idx = st_malloc((h->ncols ? h->ncols : 1) * sizeof *idx);
    if (!idx) { pthread_rwlock_unlock(&h->lock); return ST_ENOMEM; }
    for (size_t i = 0; i < h->ncols; i++)
        if (h->cols[i]->series_id == s && !h->cols[i]->dropped) idx[n++] = i;
    pthread_rwlock_unlock(&h->lock);
    int rc = 0;
    head_points keep;
    head_points_init(&keep);
    for (size_t k = 0; k < n && !rc; k++) {
        column *c = h->cols[idx[k]];
        rc = head_read(h, s, c->field_id, ST_TIME_MIN_NS, ST_TIME_MAX_NS, &keep);
        if (rc) break;
        pthread_rwlock_wrlock(&h->lock);
        /* A new column replaces the old one in place (same map slot). */
        column *old = h->cols[idx[k]];
        column *fresh = col_new(old->series_id, old->field_id, old->type);
        if (!fresh) { pthread_rwlock_unlock(&h->lock); rc = ST_ENOMEM; break; }
        h->cols[idx[k]] = fresh;
        fresh->idx = old->idx;
        fresh->ooo_listed = old->ooo_listed; /* invariant 6: the list keeps the index */
        h->dead_bytes += col_sealed_len(old); /* old is freed below, unread */
        size_t old_bytes = col_bytes(old);
        h->bytes = h->bytes - (old_bytes > h->bytes ? h->bytes : old_bytes) + col_bytes(fresh);
        uint64_t removed = old->count + old->ooo_n; /* the kept ones are counted again as appended */
        for (size_t i = 0; i < keep.n && !rc; i++) {
            if (keep.ts[i] >= tmin && keep.ts[i] <= tmax) continue;
            rc = head_append(h, s, fresh->field_id, keep.ts[i], &keep.vals[i], keep.quality[i]);
        }
        h->points -= removed > h->points ? h->points : removed;
        head_maybe_compact(h);
        pthread_rwlock_unlock(&h->lock);
        col_free(old);
    }
    head_points_fini(&keep);
    st_free(idx);
    return rc;
}

void head_drop_series(head *h, uint64_t s)
{
    pthread_rwlock_wrlock(&h->lock);
    for (size_t i = 0; i < h->ncols; i++) {
        column *c = h->cols[i];
        if (c->series_id != s || c->dropped) continue;
        c->dropped = 1;
        h->dead_bytes += col_sealed_len(c);
    }
    uint64_t v;
    if (st_hmap_get(h->smap, &s, sizeof s, &v)) h->sers[v - 1].n = 0; /* later writes start new columns */
    head_maybe_compact(h);
    pthread_rwlock_unlock(&h->lock);
}

static int pair_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : (x[1] > y[1]);
}

int head_columns(head *h, uint64_t **pairs, size_t *n)
{
    pthread_rwlock_rdlock(&h->lock);
    size_t k = 0;
    uint64_t *p = st_malloc((h->ncols ? h->ncols : 1) * 2 * sizeof *p);
    if (!p) { pthread_rwlock_unlock(&h->lock); return ST_ENOMEM; }
    for (size_t i = 0; i < h->ncols; i++) {
        column *c = h->cols[i];
        if (c->dropped || (c->count == 0 && c->ooo_n == 0)) continue;
        p[2 * k] = c->series_id;
        p[2 * k + 1] = c->field_id;
        k++;
    }
    pthread_rwlock_unlock(&h->lock);
    qsort(p, k, 2 * sizeof *p, pair_cmp);
    *pairs = p;
    *n = k;
    return 0;
}

size_t head_bytes(head *h)
{
    pthread_rwlock_rdlock(&h->lock);
    size_t b = st_hmap_bytes(h->map) + st_hmap_bytes(h->smap) + h->bytes + h->arena.bytes;
    pthread_rwlock_unlock(&h->lock);
    return b;
}

uint64_t head_points_count(head *h)
{
    pthread_rwlock_rdlock(&h->lock);
    uint64_t n = h->points;
    pthread_rwlock_unlock(&h->lock);
    return n;
}
