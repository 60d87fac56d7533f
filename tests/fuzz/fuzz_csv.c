/*
 * tests/fuzz/fuzz_csv.c — strata import's CSV converter (tools/import_csv.c)
 * under libFuzzer, and replayed over tests/fuzz/corpus/csv by `make test`.
 *
 * The first three bytes pick the options (wide form, --tag-columns, long
 * form with a quality column; a --tag; measurement and quality field names
 * the parser treats apart; delimiter; time zone; precision; --time-column)
 * and how many records make a chunk; the rest is the file. Each record goes two ways:
 *  - the text way in one pass, as over HTTP: imp_csv_record, then the line
 *    protocol parser on its line (what the server does with it);
 *  - the way --offline workers go: the reader settles the time format
 *    (imp_csv_detect) before each chunk leaves, a converter made from the
 *    header and that format cuts the chunk again (imp_csv_cut) and builds
 *    points (imp_csv_point; IMP_CSV_TEXT rows through imp_csv_text and the
 *    parser). Each chunk but the first starts with the autumn-hour state
 *    unknown and takes the state the chunks before left when a row asks
 *    (IMP_CSV_NEED_CARRY), as the importer's workers do.
 * Both must give every row the same outcome: the same error text, or the
 * same points (measurement, tags in order, fields with type and bits,
 * time, quality). Points built directly with equal keys must have equal
 * measurement and tags (the storage adapter's series cache relies on it).
 * Single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "ingest/lp.h"
#include "tools/tools.h"

#define FZ_KEYS 64

typedef struct fz_keys {
    st_buf key[FZ_KEYS], series[FZ_KEYS];
    int n;
} fz_keys;

static void put_bytes(st_buf *o, const void *p, size_t n)
{
    uint32_t k = (uint32_t)n;
    st_buf_append(o, &k, sizeof k);
    st_buf_append(o, p, n);
}

static void put_slice(st_buf *o, st_slice s) { put_bytes(o, s.ptr, s.len); }

/* measurement and tags, in order */
static void canon_series(st_buf *o, const lp_line *l)
{
    put_slice(o, l->measurement);
    for (uint32_t i = 0; i < l->tag_count; i++) {
        put_slice(o, l->tags[i].key);
        put_slice(o, l->tags[i].val);
    }
}

static void canon_line(st_buf *o, const lp_line *l)
{
    st_buf_append_byte(o, 'L');
    canon_series(o, l);
    for (uint32_t i = 0; i < l->field_count; i++) {
        const st_value *v = &l->fields[i].value;
        put_slice(o, l->fields[i].key);
        st_buf_append_byte(o, (char)v->type);
        if (v->type == ST_TYPE_STRING) put_slice(o, v->v.s);
        else if (v->type == ST_TYPE_BOOL) st_buf_append_byte(o, (char)(v->v.b != 0));
        else put_bytes(o, &v->v, 8);
    }
    put_bytes(o, &l->ts_ns, sizeof l->ts_ns);
    put_bytes(o, &l->quality, sizeof l->quality);
    st_buf_append_byte(o, (char)l->has_quality);
}

static int on_line(void *ctx, const lp_line *l)
{
    canon_line(ctx, l);
    return 0;
}

static int on_error(void *ctx, uint64_t lineno, st_slice msg)
{
    (void)lineno;
    st_buf_append_byte(ctx, 'P');
    put_slice(ctx, msg);
    return 0;
}

/* A row's outcome from its converter's return, err and line text. */
static void outcome_text(st_buf *o, const lp_opts *lo, int rc, const char *err, const st_buf *text)
{
    if (rc == ST_EPARSE) {
        st_buf_append_byte(o, 'E');
        put_bytes(o, err, strlen(err));
    } else if (rc) {
        st_buf_printf(o, "rc%d", rc);
    } else if (text->len) {
        lp_parse_buffer(lo, text->ptr, text->len, on_line, on_error, o, NULL);
    }
}

/* Direct points with equal keys are the same series. */
static void check_key(fz_keys *k, const lp_line *l)
{
    st_buf s;
    st_buf_init(&s);
    canon_series(&s, l);
    for (int i = 0; i < k->n; i++) {
        if (k->key[i].len != l->key.len || memcmp(k->key[i].ptr, l->key.ptr, l->key.len)) continue;
        if (k->series[i].len != s.len || memcmp(k->series[i].ptr, s.ptr, s.len)) abort();
        st_buf_fini(&s);
        return;
    }
    if (k->n < FZ_KEYS && l->key.len) {
        st_buf_init(&k->key[k->n]);
        st_buf_append(&k->key[k->n], l->key.ptr, l->key.len);
        k->series[k->n++] = s;
        return;
    }
    st_buf_fini(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    uint8_t o0 = data[0], o1 = data[1], o2 = data[2];
    const char *in = (const char *)data + 3, *end = in + (size - 3);

    imp_csv_opts o;
    memset(&o, 0, sizeof o);
    static const char *const meas[] = { "m", "#m", "m,x y", "\tm" };
    static const char *const qfs[] = { "quality", "value", "time", "v" };
    static const int64_t units[] = { 1, 1000, 1000000, 1000000000 };
    static const lp_precision precs[] = { LP_PRECISION_NS, LP_PRECISION_US, LP_PRECISION_MS, LP_PRECISION_S };
    switch (o0 & 3) {
    case 1: o.tag_columns = "a,b"; break;
    case 2: o.name_column = "name"; o.value_column = "value"; o.quality_column = "q"; break;
    case 3: o.int_columns = "v"; o.quality_column = "q"; o.tag_columns = "a"; break;
    default: break;
    }
    if (o0 & 4) { o.tags[0] = "site=no rth"; o.ntags = 1; }
    if ((o2 & 1) && (o0 & 3) == 2) o.tag_columns = "a";
    if (o2 & 2) o.time_column = "when";
    o.measurement = meas[(o0 >> 3) & 3];
    o.quality_field = qfs[(o0 >> 5) & 3];
    if (o0 & 128) o.timezone = "Europe/Berlin";
    o.delimiter = "\0,;\t"[o1 & 3];
    o.unit_ns = units[(o1 >> 2) & 3];
    size_t chunk_rows = 1 + (o1 >> 4);
    lp_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.precision = precs[(o1 >> 2) & 3];
    lo.quality_field = st_slice_cstr(o.quality_field);

    imp_csv *a = NULL, *rd = NULL, *b = NULL;
    char err[400], tfmt[136] = "", head_fmt[136] = "";
    if (imp_csv_create(&o, &a, err, sizeof err)) return 0; /* e.g. no such zone here */
    if (imp_csv_create(&o, &rd, err, sizeof err)) abort();
    st_buf text, ra, rb, head, tx2;
    st_buf_init(&text);
    st_buf_init(&tx2);
    st_buf_init(&ra);
    st_buf_init(&rb);
    st_buf_init(&head);
    fz_keys keys;
    memset(&keys, 0, sizeof keys);
    imp_csv_carry folded = { 1, 0, 0, 0 };
    int first_chunk = 1, header_ok = 0;
    const char *p = in;

    /* the header: the text way and the reader's own */
    {
        const char *lf = imp_csv_cut(a, p, end);
        const char *e = lf ? lf : end;
        uint32_t nl;
        int rc = imp_csv_record(a, p, (size_t)(e - p), &text, &nl, err, sizeof err);
        int rr = imp_csv_record(rd, p, (size_t)(e - p), &text, &nl, err, sizeof err);
        if (rc != rr) abort();
        header_ok = rc == 0;
        st_buf_append(&head, p, (size_t)(e - p));
        p = lf ? lf + 1 : end;
    }
    while (header_ok && p < end) {
        /* a chunk: chunk_rows records, as the reader cuts them */
        const char *c0 = p, *recs[17], *ends[17];
        size_t nr = 0;
        while (p < end && nr < chunk_rows) {
            const char *lf = imp_csv_cut(a, p, end);
            const char *e = lf ? lf : end;
            recs[nr] = p;
            ends[nr++] = e;
            (void)imp_csv_detect(rd, p, (size_t)(e - p));
            p = lf ? lf + 1 : end;
        }
        if (!imp_csv_time_format(rd, tfmt, sizeof tfmt)) tfmt[0] = 0;
        if (!b || strcmp(tfmt, head_fmt) != 0) {
            imp_csv_destroy(b);
            b = NULL;
            imp_csv_opts ob = o;
            if (tfmt[0]) ob.time_format = tfmt;
            lp_line ln;
            if (imp_csv_create(&ob, &b, err, sizeof err) || imp_csv_point(b, head.ptr ? head.ptr : "", head.len, &ln, err, sizeof err))
                abort();
            snprintf(head_fmt, sizeof head_fmt, "%s", tfmt);
        }
        imp_csv_carry start = { first_chunk, 0, 0, 0 };
        imp_csv_carry_set(b, &start);
        imp_csv_cut_reset(b);
        first_chunk = 0;
        const char *q = c0;
        for (size_t i = 0; i < nr; i++) {
            /* the worker cuts the chunk where the reader did */
            const char *lf = imp_csv_cut(b, q, p);
            if ((lf ? lf : p) != ends[i] || q != recs[i]) abort();
            q = lf ? lf + 1 : p;
            size_t len = (size_t)(ends[i] - recs[i]);
            /* the text way */
            st_buf_clear(&text);
            st_buf_clear(&ra);
            uint32_t nl = 0;
            int rc = imp_csv_record(a, recs[i], len, &text, &nl, err, sizeof err);
            if (rc == IMP_CSV_NEED_CARRY) abort(); /* one pass: the state is always known */
            outcome_text(&ra, &lo, rc, err, &text);
            /* the workers' way */
            st_buf_clear(&rb);
            lp_line ln;
            rc = imp_csv_point(b, recs[i], len, &ln, err, sizeof err);
            if (rc == IMP_CSV_NEED_CARRY) {
                imp_csv_carry_set(b, &folded);
                rc = imp_csv_point(b, recs[i], len, &ln, err, sizeof err);
                if (rc == IMP_CSV_NEED_CARRY) abort();
            }
            if (rc == IMP_CSV_TEXT) {
                st_buf_clear(&text);
                rc = imp_csv_text(b, recs[i], len, ln.ts_ns, &text, &nl, err, sizeof err);
                outcome_text(&rb, &lo, rc, err, &text);
            } else if (rc == 0 && ln.field_count) {
                canon_line(&rb, &ln);
                check_key(&keys, &ln);
                /* a refused point is quoted with its line: now, and after
                 * another record's cells were made (they are made again) */
                int64_t ts = ln.ts_ns;
                st_buf_clear(&text);
                if (imp_csv_text(b, recs[i], len, ts, &text, &nl, err, sizeof err) || nl != 1) abort();
                if (i) {
                    st_buf_clear(&tx2);
                    (void)imp_csv_text(b, recs[0], (size_t)(ends[0] - recs[0]), 0, &tx2, &nl, err, sizeof err);
                    st_buf_clear(&tx2);
                    if (imp_csv_text(b, recs[i], len, ts, &tx2, &nl, err, sizeof err) || nl != 1 || tx2.len != text.len ||
                        memcmp(tx2.ptr, text.ptr, text.len) != 0)
                        abort();
                }
            } else {
                outcome_text(&rb, &lo, rc, err, &(st_buf){ 0 });
            }
            if (ra.len != rb.len || (ra.len && memcmp(ra.ptr, rb.ptr, ra.len) != 0)) {
                fprintf(stderr, "fuzz_csv: row %zu of a chunk differs: '%.*s'\n", i, (int)len, recs[i]);
                abort();
            }
        }
        imp_csv_carry out;
        imp_csv_carry_get(b, &out);
        if (out.known) folded = out;
    }
    for (int i = 0; i < keys.n; i++) {
        st_buf_fini(&keys.key[i]);
        st_buf_fini(&keys.series[i]);
    }
    st_buf_fini(&text);
    st_buf_fini(&tx2);
    st_buf_fini(&ra);
    st_buf_fini(&rb);
    st_buf_fini(&head);
    imp_csv_destroy(a);
    imp_csv_destroy(rd);
    imp_csv_destroy(b);
    return 0;
}
