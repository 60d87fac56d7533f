/* ingest/lpstor.c — lp_line -> stor_batch (see lpstor.h). Producer's thread. */
#include "ingest/lpstor.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/utf8.h"

void lpstor_init(lpstor *x) { memset(x, 0, sizeof *x); }

void lpstor_fini(lpstor *x)
{
    st_free(x->tag_keys);
    st_free(x->tag_vals);
    st_free(x->fields);
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

/* The part of the line whose name is not UTF-8, or NULL. */
static const char *bad_utf8_name(const lp_line *ln)
{
    if (!st_utf8_valid(ln->measurement.ptr, ln->measurement.len)) return "measurement";
    for (uint32_t i = 0; i < ln->tag_count; i++) {
        if (!st_utf8_valid(ln->tags[i].key.ptr, ln->tags[i].key.len)) return "tag key";
        if (!st_utf8_valid(ln->tags[i].val.ptr, ln->tags[i].val.len)) return "tag value";
    }
    for (uint32_t i = 0; i < ln->field_count; i++)
        if (!st_utf8_valid(ln->fields[i].key.ptr, ln->fields[i].key.len)) return "field key";
    return NULL;
}

int lpstor_add(lpstor *x, stor_batch *b, const lp_line *ln, char *msg, size_t msg_cap, uint32_t *dropped)
{
    *dropped = 0;
    const char *bad = bad_utf8_name(ln);
    if (bad) {
        snprintf(msg, msg_cap, "invalid UTF-8 in %s", bad);
        *dropped = ln->field_count;
        return LPSTOR_BAD_NAME;
    }
    int rc = grow(x, ln->tag_count, ln->field_count);
    if (rc) return rc;
    for (uint32_t i = 0; i < ln->tag_count; i++) {
        x->tag_keys[i] = ln->tags[i].key;
        x->tag_vals[i] = ln->tags[i].val;
    }
    for (uint32_t i = 0; i < ln->field_count; i++) {
        x->fields[i].key = ln->fields[i].key;
        x->fields[i].value = ln->fields[i].value;
    }
    rc = stor_batch_add(b, ln->measurement, x->tag_keys, x->tag_vals, ln->tag_count, x->fields, ln->field_count,
                        ln->ts_ns, ln->quality, msg, msg_cap, dropped);
    if (rc == ST_ECONFLICT || rc == ST_ELIMIT || rc == ST_EINVAL || rc == ST_ERANGE) return LPSTOR_REFUSED;
    return rc;
}
