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
 * within the limit. The line-end scanner (lp_scan_line, which strata import
 * cuts batches with) must end lines where the parser does, in one piece and
 * byte by byte, and tell blank lines and timestamps as the parser does.
 * Single-threaded.
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
    /* by physical line number (1-based, < FZ_MAX_LINES): 1 = an error,
     * 2 = a good line without timestamp, 3 = with one */
    unsigned char *seen;
} fz_digest;

#define FZ_MAX_LINES 4096

static void note(fz_digest *d, uint64_t lineno, unsigned char what)
{
    if (d->seen && lineno < FZ_MAX_LINES) d->seen[lineno] = what;
}

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
    note(d, l->lineno, l->has_ts ? 3 : 2);
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
    note(d, lineno, 1);
    if (msg.len < 20 || memcmp(msg.ptr, "unable to parse '", 17) != 0) abort();
    mix(d, &lineno, sizeof lineno);
    mix_slice(d, msg);
    return 0;
}

static fz_digest run(const lp_opts *o, const char *s, size_t n, const size_t *cuts, size_t ncuts,
                     unsigned char *seen)
{
    fz_digest d = { 0xcbf29ce484222325ULL, 0, 0, seen };
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

/* Cut [s, s + n) into lines with the scanner, fed in pieces of at most
 * step bytes (as strata import does with its read chunks): each line's end
 * offset and physical line count go to ends/lfs. Returns the line count. */
static size_t scan_cut(const char *s, size_t n, size_t step, size_t *ends, uint64_t *lfs, size_t max)
{
    size_t k = 0, at = 0;
    lp_scan sc = { 0 };
    while (at < n && k < max) {
        size_t to = n - at > step ? at + step : n;
        const char *lf = lp_scan_line(&sc, s + at, s + to);
        if (!lf) { at = to; continue; }
        ends[k] = (size_t)(lf - s);
        lfs[k++] = sc.inner_lfs;
        memset(&sc, 0, sizeof sc);
        at = ends[k - 1] + 1;
    }
    return k;
}

/* The scanner against the parser (whole-buffer run, seen[] filled). */
static void check_scanner(const char *s, size_t n, const unsigned char *seen)
{
    static size_t ends[FZ_MAX_LINES], ends1[FZ_MAX_LINES];
    static uint64_t lfs[FZ_MAX_LINES], lfs1[FZ_MAX_LINES];
    size_t k = scan_cut(s, n, n ? n : 1, ends, lfs, FZ_MAX_LINES);
    if (n <= 512) {
        if (scan_cut(s, n, 1, ends1, lfs1, FZ_MAX_LINES) != k) abort();
        for (size_t i = 0; i < k; i++)
            if (ends1[i] != ends[i] || lfs1[i] != lfs[i]) abort();
    }
    uint64_t lineno = 1;
    size_t start = 0;
    for (size_t i = 0; i <= k && lineno < FZ_MAX_LINES; i++) {
        size_t end = i < k ? ends[i] : n;
        if (i == k && start == n) break;          /* no last line without LF */
        lp_scan sc = { 0 };
        const char *lf = lp_scan_line(&sc, s + start, s + end + (i < k));
        if ((lf != NULL) != (i < k)) abort();
        int kind = lp_scan_kind(&sc, s + start, end - start);
        unsigned char got = seen[lineno];
        if ((kind == LP_SCAN_BLANK) != (got == 0)) abort();
        /* A line the parser took: the timestamp as the parser saw it (lines
         * cut short by the length limit are errors, whatever they hold). */
        if (got >= 2 && (kind == LP_SCAN_TS) != (got == 3)) abort();
        if (got >= 2 && kind != LP_SCAN_TS && kind != LP_SCAN_NO_TS) abort();
        lineno += 1 + (i < k ? lfs[i] : sc.inner_lfs);
        start = end + 1;
    }
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
    static unsigned char seen[FZ_MAX_LINES];
    memset(seen, 0, sizeof seen);
    fz_digest whole = run(&o, s, n, NULL, 0, seen);
    check_scanner(s, n, seen);
    size_t cuts[2];
    cuts[0] = n ? (size_t)data[1] * n / 256 : 0;
    cuts[1] = cuts[0] + (n - cuts[0]) / 2 + (data[0] >> 6);
    if (cuts[1] > n) cuts[1] = n;
    same(whole, run(&o, s, n, cuts, 2, NULL));
    same(whole, run(&o, s, n, cuts, 1, NULL));
    if (n <= 512) {
        size_t every[512];
        for (size_t k = 0; k < n; k++) every[k] = k;
        same(whole, run(&o, s, n, every, n, NULL));
    }
    return 0;
}
