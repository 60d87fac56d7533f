/*
 * tools/bench/lp_corpus.c — helper for tools/lp_corpus_check.py: runs the
 * line protocol parser over test cases read from stdin and prints one JSON
 * object per case on stdout.
 *
 * Input, repeated: "<precision> <default_ts_ns> <byte count>\n" then that
 * many bytes of line protocol. precision is ns, us, ms or s.
 * Output per case: {"lines":[{"t":N,"m":"hex","tags":[["hex","hex"]],
 * "fields":[["hex","float|int|uint|bool|string",value]]}],"errors":["hex"]}
 * Names and strings are hex so any byte survives; floats print with 17
 * significant digits (exact round trip). Single-threaded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "ingest/lp.h"

static void hex(st_slice s)
{
    putchar('"');
    for (size_t i = 0; i < s.len; i++) printf("%02x", (unsigned char)s.ptr[i]);
    putchar('"');
}

static int nlines;

static int on_line(void *ctx, const lp_line *l)
{
    (void)ctx;
    printf("%s{\"t\":%" PRId64 ",\"m\":", nlines++ ? "," : "", l->ts_ns);
    hex(l->measurement);
    printf(",\"tags\":[");
    for (uint32_t k = 0; k < l->tag_count; k++) {
        printf("%s[", k ? "," : "");
        hex(l->tags[k].key);
        putchar(',');
        hex(l->tags[k].val);
        putchar(']');
    }
    printf("],\"fields\":[");
    for (uint32_t k = 0; k < l->field_count; k++) {
        const st_value *v = &l->fields[k].value;
        printf("%s[", k ? "," : "");
        hex(l->fields[k].key);
        switch (v->type) {
        case ST_TYPE_FLOAT: printf(",\"float\",%.17g]", v->v.f); break;
        case ST_TYPE_INT: printf(",\"int\",%" PRId64 "]", v->v.i); break;
        case ST_TYPE_UINT: printf(",\"uint\",%" PRIu64 "]", v->v.u); break;
        case ST_TYPE_BOOL: printf(",\"bool\",%s]", v->v.b ? "true" : "false"); break;
        default: printf(",\"string\","); hex(v->v.s); putchar(']'); break;
        }
    }
    printf("]}");
    return 0;
}

static char **errs;
static size_t nerr, caperr;

static int on_error(void *ctx, uint64_t lineno, st_slice msg)
{
    (void)ctx;
    (void)lineno;
    if (nerr == caperr) {
        caperr = caperr ? caperr * 2 : 8;
        errs = realloc(errs, caperr * sizeof(char *));
        if (!errs) return ST_ENOMEM;
    }
    char *m = malloc(msg.len * 2 + 1);
    if (!m) return ST_ENOMEM;
    for (size_t i = 0; i < msg.len; i++) sprintf(m + 2 * i, "%02x", (unsigned char)msg.ptr[i]);
    m[msg.len * 2] = 0;
    errs[nerr++] = m;
    return 0;
}

int main(void)
{
    char prec[16];
    long long def;
    size_t n;
    while (scanf("%15s %lld %zu", prec, &def, &n) == 3) {
        if (getchar() != '\n') return 1;
        char *buf = malloc(n ? n : 1);
        if (!buf || fread(buf, 1, n, stdin) != n) return 1;
        lp_opts o = { .precision = LP_PRECISION_NS, .default_ts_ns = def };
        if (lp_precision_parse_v2(prec, strlen(prec), &o.precision)) return 1;
        nlines = 0;
        nerr = 0;
        printf("{\"lines\":[");
        int rc = lp_parse_buffer(&o, buf, n, on_line, on_error, NULL, NULL);
        printf("],\"errors\":[");
        for (size_t i = 0; i < nerr; i++) {
            printf("%s\"%s\"", i ? "," : "", errs[i]);
            free(errs[i]);
        }
        printf("],\"rc\":%d}\n", rc);
        fflush(stdout);
        free(buf);
    }
    free(errs);
    return 0;
}
