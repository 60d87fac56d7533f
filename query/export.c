/*
 * query/export.c — points of a database as line protocol or long-form CSV
 * (see query/export.h for both formats). Runs on a query worker; owns only
 * its scratch (name lists, one series' columns, the output piece).
 */
#include "query/export.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/num.h"
#include "common/timefmt.h"

typedef struct names {     /* names copied out of the index's callbacks */
    st_buf bytes;
    size_t *off, *len;
    uint64_t *ids;
    uint8_t *types;
    size_t n, cap;
    int oom;
} names;

static void names_fini(names *nm)
{
    st_buf_fini(&nm->bytes);
    st_free(nm->off);
    st_free(nm->len);
    st_free(nm->ids);
    st_free(nm->types);
}

static int names_add(names *nm, st_slice s, uint64_t id, uint8_t type)
{
    if (nm->n == nm->cap) {
        /* four arrays share nm->cap; it moves once all have grown */
        size_t cap = nm->cap;
        if (st_grow(&nm->off, &cap, nm->n + 1, sizeof *nm->off, 16) ||
            st_grow(&nm->len, &(size_t){ nm->cap }, cap, sizeof *nm->len, 16) ||
            st_grow(&nm->ids, &(size_t){ nm->cap }, cap, sizeof *nm->ids, 16) ||
            st_grow(&nm->types, &(size_t){ nm->cap }, cap, sizeof *nm->types, 16))
            return ST_ENOMEM;
        nm->cap = cap;
    }
    nm->off[nm->n] = nm->bytes.len;
    nm->len[nm->n] = s.len;
    nm->ids[nm->n] = id;
    nm->types[nm->n] = type;
    if (st_buf_append(&nm->bytes, s.ptr, s.len)) return ST_ENOMEM;
    nm->n++;
    return 0;
}

static st_slice names_get(const names *nm, size_t i)
{
    return (st_slice){ nm->bytes.ptr ? nm->bytes.ptr + nm->off[i] : "", nm->len[i] };
}

static int meas_cb(void *arg, st_slice name)
{
    names *nm = arg;
    if (names_add(nm, name, 0, 0)) { nm->oom = 1; return 1; }
    return 0;
}

static int field_cb(void *arg, uint64_t field_id, st_slice key, st_type type)
{
    names *nm = arg;
    if (names_add(nm, key, field_id, (uint8_t)type)) { nm->oom = 1; return 1; }
    return 0;
}

typedef struct ex {
    stor *s;
    const qexp_opts *o;
    qexp_emit_fn emit;
    void *arg;
    qexp_stats *stats;
    st_buf out;
    int stopped;
} ex;

static int flush(ex *e, int force)
{
    if (e->out.len == 0 || (!force && e->out.len < QEXP_PIECE_BYTES)) return 0;
    if (e->emit(e->arg, e->out.ptr, e->out.len)) { e->stopped = 1; return ST_ECLOSED; }
    st_buf_clear(&e->out);
    return 0;
}

/* Line protocol name: ',' and ' ' (and '=' outside measurements) escaped. */
static int lp_name(st_buf *b, st_slice s, int is_meas)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == ',' || c == ' ' || (c == '=' && !is_meas))
            if (st_buf_append_byte(b, '\\')) return ST_ENOMEM;
        if (st_buf_append_byte(b, c)) return ST_ENOMEM;
    }
    return 0;
}

/* The tags cell of the CSV: '\\', ',' and '=' escaped. */
static int csv_tagpart(st_buf *b, st_slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if ((c == '\\' || c == ',' || c == '=') && st_buf_append_byte(b, '\\')) return ST_ENOMEM;
        if (st_buf_append_byte(b, c)) return ST_ENOMEM;
    }
    return 0;
}

static int csv_cell(st_buf *b, const char *p, size_t n)
{
    int q = 0;
    for (size_t i = 0; i < n && !q; i++) q = p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
    if (!q) return st_buf_append(b, p, n) ? ST_ENOMEM : 0;
    if (st_buf_append_byte(b, '"')) return ST_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"' && st_buf_append_byte(b, '"')) return ST_ENOMEM;
        if (st_buf_append_byte(b, p[i])) return ST_ENOMEM;
    }
    return st_buf_append_byte(b, '"') ? ST_ENOMEM : 0;
}

/* Value text for CSV or LP (LP adds suffixes and quotes itself). */
static int put_value(st_buf *b, const st_value *v, int lp)
{
    char t[ST_DOUBLE_BUF];
    size_t n;
    switch (v->type) {
    case ST_TYPE_FLOAT:
        n = st_format_double(v->v.f, t);
        return st_buf_append(b, t, n) ? ST_ENOMEM : 0;
    case ST_TYPE_INT:
        n = st_format_int64(v->v.i, t);
        if (st_buf_append(b, t, n)) return ST_ENOMEM;
        return lp && st_buf_append_byte(b, 'i') ? ST_ENOMEM : 0;
    case ST_TYPE_UINT:
        n = st_format_uint64(v->v.u, t);
        if (st_buf_append(b, t, n)) return ST_ENOMEM;
        return lp && st_buf_append_byte(b, 'u') ? ST_ENOMEM : 0;
    case ST_TYPE_BOOL:
        return st_buf_append_str(b, v->v.b ? "true" : "false") ? ST_ENOMEM : 0;
    case ST_TYPE_STRING:
        if (!lp) return csv_cell(b, v->v.s.ptr, v->v.s.len);
        if (st_buf_append_byte(b, '"')) return ST_ENOMEM;
        for (size_t i = 0; i < v->v.s.len; i++) {
            char c = v->v.s.ptr[i];
            if ((c == '"' || c == '\\') && st_buf_append_byte(b, '\\')) return ST_ENOMEM;
            if (st_buf_append_byte(b, c)) return ST_ENOMEM;
        }
        return st_buf_append_byte(b, '"') ? ST_ENOMEM : 0;
    default:
        return ST_EINVAL;
    }
}

/* One series: read every field column, merge by time, write. */
static int export_series(ex *e, uint64_t sid, const names *fields, stor_points *pts, size_t *ix)
{
    const qexp_opts *o = e->o;
    uint64_t db_id;
    void *key = NULL;
    size_t key_len = 0, ntags = 0;
    st_slice meas;
    sidx_tag *tags = NULL;
    st_buf prefix; /* LP: "meas,tags" / CSV: ",meas,tags," after the time */
    st_buf_init(&prefix);
    int rc = sidx_series_key_dup(stor_index(e->s), sid, &db_id, &key, &key_len);
    if (rc == ST_ENOTFOUND) return 0; /* dropped meanwhile */
    if (rc) return rc;
    if ((rc = sidx_key_decode(key, key_len, &meas, NULL, 0, &ntags))) goto out;
    tags = st_calloc(ntags ? ntags : 1, sizeof *tags);
    if (!tags) { rc = ST_ENOMEM; goto out; }
    if ((rc = sidx_key_decode(key, key_len, &meas, tags, ntags, &ntags))) goto out;
    if (o->format == QEXP_LP) {
        rc = lp_name(&prefix, meas, 1);
        for (size_t i = 0; i < ntags && !rc; i++) {
            rc = st_buf_append_byte(&prefix, ',') ? ST_ENOMEM : 0;
            if (!rc) rc = lp_name(&prefix, tags[i].key, 0);
            if (!rc) rc = st_buf_append_byte(&prefix, '=') ? ST_ENOMEM : 0;
            if (!rc) rc = lp_name(&prefix, tags[i].val, 0);
        }
        if (!rc) rc = st_buf_append_byte(&prefix, ' ') ? ST_ENOMEM : 0;
    } else {
        st_buf t;
        st_buf_init(&t);
        for (size_t i = 0; i < ntags && !rc; i++) {
            if (i) rc = st_buf_append_byte(&t, ',') ? ST_ENOMEM : 0;
            if (!rc) rc = csv_tagpart(&t, tags[i].key);
            if (!rc) rc = st_buf_append_byte(&t, '=') ? ST_ENOMEM : 0;
            if (!rc) rc = csv_tagpart(&t, tags[i].val);
        }
        if (!rc) rc = st_buf_append_byte(&prefix, ',') ? ST_ENOMEM : 0;
        if (!rc) rc = csv_cell(&prefix, meas.ptr, meas.len);
        if (!rc) rc = st_buf_append_byte(&prefix, ',') ? ST_ENOMEM : 0;
        if (!rc) rc = csv_cell(&prefix, t.ptr ? t.ptr : "", t.len);
        if (!rc) rc = st_buf_append_byte(&prefix, ',') ? ST_ENOMEM : 0;
        st_buf_fini(&t);
    }
    if (rc) { rc = ST_ENOMEM; goto out; }

    size_t have = 0;
    for (size_t f = 0; f < fields->n; f++) {
        ix[f] = 0;
        if ((rc = stor_read(e->s, sid, fields->ids[f], o->tmin_ns, o->tmax_ns, &pts[f]))) goto out;
        if (pts[f].n) have++;
    }
    if (!have) goto out;
    e->stats->series++;
    for (;;) {
        int64_t ts = INT64_MAX;
        int any = 0;
        for (size_t f = 0; f < fields->n; f++)
            if (ix[f] < pts[f].n && (!any || pts[f].ts[ix[f]] < ts)) ts = pts[f].ts[ix[f]], any = 1;
        if (!any) break;
        if (o->format == QEXP_CSV) {
            char tb[ST_TIME_BUF];
            for (size_t f = 0; f < fields->n; f++) {
                if (ix[f] >= pts[f].n || pts[f].ts[ix[f]] != ts) continue;
                const st_value *v = &pts[f].vals[ix[f]];
                uint32_t q = pts[f].quality ? pts[f].quality[ix[f]] : 0;
                size_t tn = st_time_format_rfc3339(ts, tb);
                rc = st_buf_append(&e->out, tb, tn) ? ST_ENOMEM : 0;
                if (!rc) rc = st_buf_append(&e->out, prefix.ptr, prefix.len) ? ST_ENOMEM : 0;
                if (!rc) rc = csv_cell(&e->out, fields->bytes.ptr + fields->off[f], fields->len[f]);
                if (!rc) rc = st_buf_printf(&e->out, ",%s,", st_type_name((st_type)v->type)) ? ST_ENOMEM : 0;
                if (!rc) rc = put_value(&e->out, v, 0);
                if (!rc) rc = st_buf_printf(&e->out, ",%" PRIu32 "\n", q) ? ST_ENOMEM : 0;
                if (rc) goto out;
                e->stats->points++;
            }
        } else {
            /* One line per distinct quality among the fields at ts. */
            for (;;) {
                int found = 0;
                uint32_t q = 0;
                size_t nf = 0;
                for (size_t f = 0; f < fields->n; f++) {
                    if (ix[f] >= pts[f].n || pts[f].ts[ix[f]] != ts) continue;
                    const st_value *v = &pts[f].vals[ix[f]];
                    uint32_t fq = pts[f].quality ? pts[f].quality[ix[f]] : 0;
                    if (found && fq != q) continue;
                    if (!found) { found = 1; q = fq; }
                    ix[f]++;
                    if (v->type == ST_TYPE_FLOAT && !isfinite(v->v.f)) { e->stats->nonfinite_skipped++; continue; }
                    if (nf == 0) rc = st_buf_append(&e->out, prefix.ptr, prefix.len) ? ST_ENOMEM : 0;
                    else rc = st_buf_append_byte(&e->out, ',') ? ST_ENOMEM : 0;
                    if (!rc) rc = lp_name(&e->out, names_get(fields, f), 0);
                    if (!rc) rc = st_buf_append_byte(&e->out, '=') ? ST_ENOMEM : 0;
                    if (!rc) rc = put_value(&e->out, v, 1);
                    if (rc) goto out;
                    nf++;
                    e->stats->points++;
                }
                if (!found) break;
                if (nf) {
                    if (q && o->quality_field.len) {
                        rc = st_buf_append_byte(&e->out, ',') ? ST_ENOMEM : 0;
                        if (!rc) rc = lp_name(&e->out, o->quality_field, 0);
                        if (!rc) rc = st_buf_printf(&e->out, "=%" PRIu32 "i", q) ? ST_ENOMEM : 0;
                    }
                    if (!rc) rc = st_buf_printf(&e->out, " %" PRId64 "\n", ts) ? ST_ENOMEM : 0;
                    if (rc) goto out;
                }
            }
        }
        /* CSV advanced nothing yet */
        if (o->format == QEXP_CSV)
            for (size_t f = 0; f < fields->n; f++)
                if (ix[f] < pts[f].n && pts[f].ts[ix[f]] == ts) ix[f]++;
        if ((rc = flush(e, 0))) goto out;
    }
out:
    st_buf_fini(&prefix);
    st_free(tags);
    st_free(key);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Keep the ids of a that are in b (both sorted). */
static size_t intersect(uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j]) i++;
        else if (a[i] > b[j]) j++;
        else { a[k++] = a[i]; i++; j++; }
    }
    return k;
}

static int export_measurement(ex *e, uint64_t db_id, st_slice m)
{
    sidx *idx = stor_index(e->s);
    names fields;
    memset(&fields, 0, sizeof fields);
    uint64_t *ids = NULL;
    size_t nids = 0;
    stor_points *pts = NULL;
    size_t *ix = NULL;
    int rc = sidx_field_each(idx, db_id, m, field_cb, &fields);
    if (rc == ST_ENOTFOUND) { rc = 0; goto out; }
    if (fields.oom) rc = ST_ENOMEM;
    if (rc) goto out;
    rc = sidx_measurement_series_copy(idx, db_id, m, &ids, &nids);
    if (rc == ST_ENOTFOUND) { rc = 0; goto out; }
    if (rc) goto out;
    if (nids) qsort(ids, nids, sizeof *ids, cmp_u64);
    for (size_t t = 0; t < e->o->ntags && nids; t++) {
        uint64_t *p = NULL;
        size_t np = 0;
        rc = sidx_postings_copy(idx, db_id, m, e->o->tag_keys[t], e->o->tag_vals[t], &p, &np);
        if (rc == ST_ENOTFOUND) { rc = 0; nids = 0; break; }
        if (rc) goto out;
        if (np) qsort(p, np, sizeof *p, cmp_u64);
        nids = intersect(ids, nids, p, np);
        st_free(p);
    }
    if (!nids || !fields.n) goto out;
    pts = st_calloc(fields.n, sizeof *pts);
    ix = st_calloc(fields.n, sizeof *ix);
    if (!pts || !ix) { rc = ST_ENOMEM; goto out; }
    for (size_t f = 0; f < fields.n; f++) stor_points_init(&pts[f]);
    for (size_t i = 0; i < nids && !rc; i++) rc = export_series(e, ids[i], &fields, pts, ix);
out:
    if (pts)
        for (size_t f = 0; f < fields.n; f++) stor_points_fini(&pts[f]);
    st_free(pts);
    st_free(ix);
    st_free(ids);
    names_fini(&fields);
    return rc;
}

int qexp_run(stor *s, const qexp_opts *o, qexp_emit_fn emit, void *arg, qexp_stats *stats, char *err,
             size_t errcap)
{
    sidx *idx = stor_index(s);
    qexp_stats dummy;
    if (!stats) stats = &dummy;
    memset(stats, 0, sizeof *stats);
    sidx_db_info info;
    if (sidx_db_lookup(idx, o->db, &info) != 0) {
        if (err) snprintf(err, errcap, "database not found: %.*s", (int)(o->db.len > 200 ? 200 : o->db.len), o->db.ptr);
        return ST_ENOTFOUND;
    }
    ex e = { .s = s, .o = o, .emit = emit, .arg = arg, .stats = stats };
    st_buf_init(&e.out);
    names ms;
    memset(&ms, 0, sizeof ms);
    int rc = 0;
    if (o->measurement.len) {
        rc = names_add(&ms, o->measurement, 0, 0);
    } else {
        rc = sidx_measurement_each(idx, info.id, meas_cb, &ms);
        if (ms.oom) rc = ST_ENOMEM;
        if (rc == ST_ENOTFOUND) rc = 0;
    }
    if (!rc && o->format == QEXP_CSV)
        rc = st_buf_append_str(&e.out, "time,measurement,tags,field,type,value,quality\n") ? ST_ENOMEM : 0;
    for (size_t i = 0; i < ms.n && !rc; i++) rc = export_measurement(&e, info.id, names_get(&ms, i));
    if (!rc) rc = flush(&e, 1);
    if (rc && err) snprintf(err, errcap, "%s", rc == ST_ECLOSED ? "export stopped" : st_strerror(rc));
    st_buf_fini(&e.out);
    names_fini(&ms);
    return rc;
}
