/* ingest/lpstor.c — lp_line -> stor_batch (see lpstor.h). Producer's thread. */
#include "ingest/lpstor.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/utf8.h"

#define LPSTOR_MAX_PROBE 32 /* a lookup gives up after this many slots (bounded cost, whatever the keys) */

void lpstor_init(lpstor *x)
{
    memset(x, 0, sizeof *x);
    st_buf_init(&x->keys);
}

void lpstor_fini(lpstor *x)
{
    st_free(x->tag_keys);
    st_free(x->tag_vals);
    st_free(x->fields);
    st_free(x->slots);
    st_buf_fini(&x->keys);
    memset(x, 0, sizeof *x);
}

static int grow(lpstor *x, uint32_t ntags, uint32_t nfields)
{
    if (ntags > x->cap_tags) {
        uint32_t cap = ntags < 16 ? 16 : ntags;
        st_slice *k = st_realloc(x->tag_keys, cap * sizeof *k);
        if (!k) return ST_ENOMEM;
        x->tag_keys = k;
        st_slice *v = st_realloc(x->tag_vals, cap * sizeof *v);
        if (!v) return ST_ENOMEM;
        x->tag_vals = v;
        x->cap_tags = cap;
    }
    if (nfields > x->cap_fields) {
        uint32_t cap = nfields < 16 ? 16 : nfields;
        stor_field_in *f = st_realloc(x->fields, cap * sizeof *f);
        if (!f) return ST_ENOMEM;
        x->fields = f;
        x->cap_fields = cap;
    }
    return 0;
}

/* UTF-8, with a quick pass for the usual all-ASCII name. */
static int name_valid(st_slice s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t n = s.len;
    uint64_t acc = 0;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        acc |= w;
    }
    while (n--) acc |= *p++;
    return !(acc & 0x8080808080808080ull) || st_utf8_valid(s.ptr, s.len);
}

/* The part of the line whose name is not UTF-8, or NULL. key_ok: the
 * line's key (measurement and tags as written) is known to be valid, and
 * with it every name unescaped from it (unescaping drops ASCII bytes only). */
static const char *bad_utf8_name(const lp_line *ln, int key_ok)
{
    if (!key_ok) {
        if (!name_valid(ln->measurement)) return "measurement";
        for (uint32_t i = 0; i < ln->tag_count; i++) {
            if (!name_valid(ln->tags[i].key)) return "tag key";
            if (!name_valid(ln->tags[i].val)) return "tag value";
        }
    }
    for (uint32_t i = 0; i < ln->field_count; i++)
        if (!name_valid(ln->fields[i].key)) return "field key";
    return NULL;
}

/* ---- the series cache ---- */


static void cache_clear(lpstor *x, uint64_t batch_id)
{
    if (x->nslots) memset(x->slots, 0, x->cap_slots * sizeof *x->slots);
    x->nslots = 0;
    st_buf_clear(&x->keys);
    x->batch_id = batch_id;
}

static lpstor_slot *cache_find(lpstor *x, st_slice key, uint64_t h)
{
    if (!x->cap_slots) return NULL;
    uint32_t mask = x->cap_slots - 1, i = (uint32_t)h & mask;
    for (int k = 0; k < LPSTOR_MAX_PROBE; k++, i = (i + 1) & mask) {
        lpstor_slot *e = &x->slots[i];
        if (!e->hash) return NULL;
        if (e->hash == h && e->key_len == key.len && memcmp(x->keys.ptr + e->key_off, key.ptr, key.len) == 0)
            return e;
    }
    return NULL;
}

static void slot_place(lpstor_slot *slots, uint32_t cap, lpstor_slot e)
{
    uint32_t mask = cap - 1, i = (uint32_t)e.hash & mask;
    for (int k = 0; k < LPSTOR_MAX_PROBE; k++, i = (i + 1) & mask)
        if (!slots[i].hash) { slots[i] = e; return; }
    /* A crowded run: the entry is simply not cached. */
}

/* Remember key -> ref; a failure only means the next line goes the long way. */
static void cache_put(lpstor *x, st_slice key, uint64_t h, stor_series_ref ref)
{
    if (x->nslots >= LPSTOR_CACHE_MAX || key.len > UINT32_MAX) return;
    if ((x->nslots + 1) * 4 > x->cap_slots * 3) {
        uint32_t cap = x->cap_slots ? x->cap_slots * 2 : 64;
        lpstor_slot *n = st_calloc(cap, sizeof *n);
        if (!n) return;
        for (uint32_t i = 0; i < x->cap_slots; i++)
            if (x->slots[i].hash) slot_place(n, cap, x->slots[i]);
        st_free(x->slots);
        x->slots = n;
        x->cap_slots = cap;
    }
    lpstor_slot e = { h, x->keys.len, (uint32_t)key.len, ref };
    if (st_buf_append(&x->keys, key.ptr, key.len)) return;
    slot_place(x->slots, x->cap_slots, e);
    x->nslots++;
}

int lpstor_add(lpstor *x, stor_batch *b, const lp_line *ln, char *msg, size_t msg_cap, uint32_t *dropped)
{
    *dropped = 0;
    lpstor_slot *hit = NULL;
    int key_ok = 0;
    if (ln->key.len) {
        uint64_t bid = stor_batch_id(b);
        if (bid != x->batch_id) cache_clear(x, bid);
        hit = cache_find(x, ln->key, ln->key_hash ? ln->key_hash : lp_key_hash(ln->key.ptr, ln->key.len));
        key_ok = hit || name_valid(ln->key);
    }
    const char *bad = bad_utf8_name(ln, key_ok);
    if (bad) {
        snprintf(msg, msg_cap, "invalid UTF-8 in %s", bad);
        *dropped = ln->field_count;
        return LPSTOR_BAD_NAME;
    }
    int rc = grow(x, hit ? 0 : ln->tag_count, ln->field_count);
    if (rc) return rc;
    for (uint32_t i = 0; i < ln->field_count; i++) {
        x->fields[i].key = ln->fields[i].key;
        x->fields[i].value = ln->fields[i].value;
    }
    if (hit) {
        rc = stor_batch_add_ref(b, hit->ref, x->fields, ln->field_count, ln->ts_ns, ln->quality, msg, msg_cap, dropped);
    } else {
        for (uint32_t i = 0; i < ln->tag_count; i++) {
            x->tag_keys[i] = ln->tags[i].key;
            x->tag_vals[i] = ln->tags[i].val;
        }
        rc = stor_batch_add(b, ln->measurement, x->tag_keys, x->tag_vals, ln->tag_count, x->fields, ln->field_count,
                            ln->ts_ns, ln->quality, msg, msg_cap, dropped);
        stor_series_ref ref;
        if (ln->key.len && (rc == 0 || rc == ST_ECONFLICT) && stor_batch_series_ref(b, &ref) == 0)
            cache_put(x, ln->key, ln->key_hash ? ln->key_hash : lp_key_hash(ln->key.ptr, ln->key.len), ref);
    }
    if (rc == ST_ECONFLICT || rc == ST_ELIMIT || rc == ST_EINVAL || rc == ST_ERANGE) return LPSTOR_REFUSED;
    return rc;
}
