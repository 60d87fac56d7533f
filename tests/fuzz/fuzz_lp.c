/*
 * tests/fuzz/fuzz_lp.c — the line protocol parser under libFuzzer (and
 * replayed over tests/fuzz/corpus/lp by `make test`).
 *
 * The first two bytes pick options (precision, max_line_bytes from
 * unlimited down to a few bytes) and split points; the rest is the body.
 * The body is parsed in one piece, then in three pieces split at
 * data-derived points, then byte by byte when short: every run must deliver
 * the same lines and errors (compared by a digest of everything delivered).
 * Each delivered line is checked against the contract: tags sorted without
 * duplicates, at least one field, no "time" key, timestamp in range, strings
 * within the limit. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/point.h"
#include "ingest/lp.h"

typedef struct fz_digest {
    uint64_t h;
    uint64_t lines, errors;
} fz_digest;

static void mix(fz_digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) d->h = (d->h ^ b[i]) * 0x100000001b3ULL;
    d->h = (d->h ^ 0xff) * 0x100000001b3ULL; /* separator */
}

static void mix_slice(fz_digest *d, st_slice s) { mix(d, s.ptr, s.len); }

static int on_line(void *ctx, const lp_line *l)
{
    fz_digest *d = ctx;
    d->lines++;
    mix(d, &l->lineno, sizeof l->lineno);
    mix_slice(d, l->raw);
    mix_slice(d, l->measurement);
    if (l->field_count == 0) abort();
    if (l->ts_ns < ST_TIME_MIN_NS || l->ts_ns > ST_TIME_MAX_NS) abort();
    for (uint32_t k = 0; k < l->tag_count; k++) {
        if (k && st_slice_cmp(l->tags[k - 1].key, l->tags[k].key) >= 0) abort();
        if (st_slice_eq_cstr(l->tags[k].key, "time") || l->tags[k].val.len == 0) abort();
        mix_slice(d, l->tags[k].key);
        mix_slice(d, l->tags[k].val);
    }
    for (uint32_t k = 0; k < l->field_count; k++) {
        const lp_field *f = &l->fields[k];
        if (st_slice_eq_cstr(f->key, "time")) abort();
        mix_slice(d, f->key);
        mix(d, &f->value.type, 1);
        switch (f->value.type) {
        case ST_TYPE_FLOAT: mix(d, &f->value.v.f, 8); break;
        case ST_TYPE_INT: mix(d, &f->value.v.i, 8); break;
        case ST_TYPE_UINT: mix(d, &f->value.v.u, 8); break;
        case ST_TYPE_BOOL: mix(d, &f->value.v.b, sizeof(int)); break;
        case ST_TYPE_STRING:
            if (f->value.v.s.len > LP_MAX_STRING_BYTES) abort();
            mix_slice(d, f->value.v.s);
            break;
        default: abort();
        }
    }
    mix(d, &l->ts_ns, 8);
    mix(d, &l->quality, 4);
    mix(d, &l->has_quality, 1);
    mix(d, &l->has_ts, 1);
    return 0;
}

static int on_error(void *ctx, uint64_t lineno, st_slice msg)
{
    fz_digest *d = ctx;
    d->errors++;
    if (msg.len < 20 || memcmp(msg.ptr, "unable to parse '", 17) != 0) abort();
    mix(d, &lineno, sizeof lineno);
    mix_slice(d, msg);
    return 0;
}

static fz_digest run(const lp_opts *o, const char *s, size_t n, const size_t *cuts, size_t ncuts)
{
    fz_digest d = { 0xcbf29ce484222325ULL, 0, 0 };
    lp_parser *p;
    if (lp_parser_create(o, on_line, on_error, &d, &p)) abort();
    size_t at = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : n;
        if (lp_parser_feed(p, s + at, to - at)) abort();
        at = to;
    }
    if (lp_parser_finish(p)) abort();
    lp_stats st;
    lp_parser_stats(p, &st);
    if (st.bytes != n || st.bad_lines != d.errors || st.lines != d.lines + d.errors) abort();
    mix(&d, &st, sizeof st);
    lp_parser_destroy(p);
    return d;
}

static void same(fz_digest a, fz_digest b)
{
    if (a.h != b.h || a.lines != b.lines || a.errors != b.errors) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const size_t limits[8] = { 0, 1, 3, 8, 17, 40, 100, 300 };
    lp_opts o = {
        .precision = (lp_precision)(data[0] % 6),
        .default_ts_ns = 1000,
        .quality_field = ST_SLICE_LIT("quality"),
        .max_line_bytes = limits[(data[0] >> 3) & 7],
    };
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    fz_digest whole = run(&o, s, n, NULL, 0);
    size_t cuts[2];
    cuts[0] = n ? (size_t)data[1] * n / 256 : 0;
    cuts[1] = cuts[0] + (n - cuts[0]) / 2 + (data[0] >> 6);
    if (cuts[1] > n) cuts[1] = n;
    same(whole, run(&o, s, n, cuts, 2));
    same(whole, run(&o, s, n, cuts, 1));
    if (n <= 512) {
        size_t every[512];
        for (size_t k = 0; k < n; k++) every[k] = k;
        same(whole, run(&o, s, n, every, n));
    }
    return 0;
}
