/*
 * tools/export.c — strata export: stream a database out of a running
 * stratad as line protocol or long-form CSV (GET /api/strata/v1/export;
 * formats in query/export.h), optionally compressed.
 *
 *   strata export --db D [--measurement M] [--tag k=v ...] [--start T]
 *                 [--end T] [--format lp|csv] [--output FILE]
 *                 [--compress gzip|zstd] [--url U]
 *                 [--user U --password P | --token T] [--timeout S]
 *
 * The body is written as it arrives (never held whole): to stdout, or to
 * FILE through FILE.tmp renamed into place once the server ended the
 * stream cleanly (an interrupted export leaves no FILE that looks whole).
 * Line protocol ends with the server's "# strata-export: ..." comment; its
 * counts become the summary line on stderr, including values that line
 * protocol cannot carry (NaN, ±Inf: use --format csv to keep them).
 * `strata import` reads both formats back (CSV as --format strata-csv,
 * detected from its header).
 *
 * Exit: 0 done, 1 the server answered an error or the output failed,
 * 2 usage, 3 the server could not be reached. Single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "tools/httpc.h"
#include "tools/tools.h"

enum { XP_OK = 0, XP_FAIL = 1, XP_USAGE = 2, XP_UNREACHABLE = 3 };
enum { CZ_NONE, CZ_GZIP, CZ_ZSTD };
#define X_TAIL_BYTES 256

typedef struct xout {
    int fd;
    int cz;
    z_stream z;
    int z_ready;
    ZSTD_CCtx *zc;
    char *zbuf;           /* owned: compressor output, XZ_BUF bytes */
    int failed;
    char err[300];
    httpc_resp *resp;     /* borrowed: status of the reply being read */
    st_buf errbody;       /* a non-2xx reply's body */
    char tail[X_TAIL_BYTES]; /* the stream's last bytes (for the summary comment) */
    size_t tail_len;
    uint64_t bytes;
} xout;

#define XZ_BUF (128u * 1024)

static int write_all(xout *x, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(x->fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            snprintf(x->err, sizeof x->err, "write: %s", strerror(errno));
            x->failed = 1;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Compress (or copy) n bytes to the output; fin flushes the compressor. */
static int out_put(xout *x, const char *p, size_t n, int fin)
{
    if (x->cz == CZ_NONE) return n ? write_all(x, p, n) : 0;
    if (x->cz == CZ_GZIP) {
        x->z.next_in = (Bytef *)p;
        x->z.avail_in = (uInt)n;
        for (;;) {
            x->z.next_out = (Bytef *)x->zbuf;
            x->z.avail_out = XZ_BUF;
            int zr = deflate(&x->z, fin ? Z_FINISH : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR) { snprintf(x->err, sizeof x->err, "gzip failed"); x->failed = 1; return -1; }
            if (write_all(x, x->zbuf, XZ_BUF - x->z.avail_out)) return -1;
            if (fin ? zr == Z_STREAM_END : (x->z.avail_in == 0 && x->z.avail_out != 0)) return 0;
        }
    }
    ZSTD_inBuffer ib = { p, n, 0 };
    for (;;) {
        ZSTD_outBuffer ob = { x->zbuf, XZ_BUF, 0 };
        size_t zr = ZSTD_compressStream2(x->zc, &ob, &ib, fin ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(zr)) { snprintf(x->err, sizeof x->err, "zstd: %s", ZSTD_getErrorName(zr)); x->failed = 1; return -1; }
        if (write_all(x, x->zbuf, ob.pos)) return -1;
        if (fin ? zr == 0 : ib.pos == ib.size) return 0;
    }
}

static int on_body(void *ctx, const char *p, size_t n)
{
    xout *x = ctx;
    if (x->resp->status < 200 || x->resp->status > 299) {
        if (x->errbody.len < 4096) st_buf_append(&x->errbody, p, n);
        return 0;
    }
    x->bytes += n;
    if (n >= X_TAIL_BYTES) {
        memcpy(x->tail, p + n - X_TAIL_BYTES, X_TAIL_BYTES);
        x->tail_len = X_TAIL_BYTES;
    } else {
        size_t keep = x->tail_len + n > X_TAIL_BYTES ? X_TAIL_BYTES - n : x->tail_len;
        memmove(x->tail, x->tail + x->tail_len - keep, keep);
        memcpy(x->tail + keep, p, n);
        x->tail_len = keep + n;
    }
    return out_put(x, p, n, 0) ? 1 : 0;
}

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: strata export --db D [OPTIONS]\n"
            "Stream a database out of a running stratad.\n\n"
            "  --url URL            server (default http://127.0.0.1:8086)\n"
            "  --db NAME            database (required)\n"
            "  --measurement M      only this measurement\n"
            "  --tag k=v            only series with this tag (repeatable; --where is an alias)\n"
            "  --start T, --end T   time range, inclusive: RFC3339 or integer ns\n"
            "  --format lp|csv      line protocol (default) or long-form CSV\n"
            "                       (time,measurement,tags,field,type,value,quality)\n"
            "  --output FILE        write here (default stdout); FILE appears when complete\n"
            "  --compress gzip|zstd compress the output\n"
            "  --user U --password P | --token T   credentials\n"
            "  --timeout S          connect / I/O timeout in seconds (default 300)\n\n"
            "Line protocol cannot hold NaN or +-Inf: they are skipped and counted; CSV keeps them.\n"
            "Exit: 0 done, 1 error reply or output error, 2 usage, 3 server unreachable.\n");
}

int tool_export_main(int argc, char **argv)
{
    const char *url = "http://127.0.0.1:8086", *db = NULL, *meas = NULL, *start = NULL, *end = NULL;
    const char *format = "lp", *output = NULL, *compress = NULL, *user = NULL, *password = NULL, *token = NULL;
    long timeout_s = 300;
    int ret = XP_USAGE;
    st_buf target, auth, tmpname;
    st_buf_init(&target);
    st_buf_init(&auth);
    st_buf_init(&tmpname);
    const char **tags = st_calloc((size_t)argc + 1, sizeof *tags);
    size_t ntags = 0;
    xout x;
    memset(&x, 0, sizeof x);
    x.fd = -1;
    st_buf_init(&x.errbody);
    httpc *c = NULL;
    httpc_resp resp;
    httpc_resp_init(&resp);
    if (!tags) { fprintf(stderr, "strata export: out of memory\n"); goto out; }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { export_usage(stdout); ret = XP_OK; goto out; }
        char name[64];
        const char *v = NULL;
        const char *eq = strchr(a, '=');
        if (a[0] == '-' && a[1] == '-' && eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (a[0] != '-' || i + 1 >= argc) { fprintf(stderr, "strata export: unexpected '%s' (see --help)\n", a); goto out; }
            v = argv[++i];
        }
        if (!strcmp(name, "--url")) url = v;
        else if (!strcmp(name, "--db")) db = v;
        else if (!strcmp(name, "--measurement")) meas = v;
        else if (!strcmp(name, "--tag") || !strcmp(name, "--where")) {
            if (!strchr(v, '=')) { fprintf(stderr, "strata export: %s wants key=value, got '%s'\n", name, v); goto out; }
            tags[ntags++] = v;
        } else if (!strcmp(name, "--start")) start = v;
        else if (!strcmp(name, "--end")) end = v;
        else if (!strcmp(name, "--format")) format = v;
        else if (!strcmp(name, "--output")) output = v;
        else if (!strcmp(name, "--compress")) compress = v;
        else if (!strcmp(name, "--user") || !strcmp(name, "--username")) user = v;
        else if (!strcmp(name, "--password")) password = v;
        else if (!strcmp(name, "--token")) token = v;
        else if (!strcmp(name, "--timeout")) {
            char *e;
            timeout_s = strtol(v, &e, 10);
            if (*e || timeout_s < 1 || timeout_s > 86400) { fprintf(stderr, "strata export: --timeout must be 1..86400\n"); goto out; }
        } else { fprintf(stderr, "strata export: unknown option '%s' (see --help)\n", name); goto out; }
    }
    if (!db) { fprintf(stderr, "strata export: --db is required\n"); goto out; }
    if (strcmp(format, "lp") && strcmp(format, "csv")) { fprintf(stderr, "strata export: --format must be lp or csv\n"); goto out; }
    if (compress && strcmp(compress, "gzip") && strcmp(compress, "zstd")) { fprintf(stderr, "strata export: --compress must be gzip or zstd\n"); goto out; }
    if (token && (user || password)) { fprintf(stderr, "strata export: give --token or --user/--password, not both\n"); goto out; }
    if (!user != !password) { fprintf(stderr, "strata export: --user and --password go together\n"); goto out; }
    httpc_url hu;
    char err[300];
    if (httpc_url_parse(url, &hu, err, sizeof err)) { fprintf(stderr, "strata export: --url: %s\n", err); goto out; }

    st_buf_append_str(&target, "/api/strata/v1/export?db=");
    httpc_urlencode(&target, db, strlen(db));
    st_buf_printf(&target, "&format=%s", format);
    if (meas) { st_buf_append_str(&target, "&measurement="); httpc_urlencode(&target, meas, strlen(meas)); }
    if (start) { st_buf_append_str(&target, "&start="); httpc_urlencode(&target, start, strlen(start)); }
    if (end) { st_buf_append_str(&target, "&end="); httpc_urlencode(&target, end, strlen(end)); }
    for (size_t i = 0; i < ntags; i++) { st_buf_append_str(&target, "&tag="); httpc_urlencode(&target, tags[i], strlen(tags[i])); }
    if (token) st_buf_printf(&auth, "Authorization: Token %s\r\n", token);
    else if (user) {
        st_buf cred;
        st_buf_init(&cred);
        st_buf_printf(&cred, "%s:%s", user, password);
        st_buf_append_str(&auth, "Authorization: Basic ");
        httpc_base64(&auth, cred.ptr, cred.len);
        st_buf_append_str(&auth, "\r\n");
        st_buf_fini(&cred);
    }
    if (!target.ptr) { fprintf(stderr, "strata export: out of memory\n"); goto out; }

    ret = XP_FAIL;
    if (output && strcmp(output, "-")) {
        st_buf_printf(&tmpname, "%s.tmp", output);
        x.fd = open(tmpname.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (x.fd < 0) { fprintf(stderr, "strata export: %s: %s\n", tmpname.ptr, strerror(errno)); goto out; }
    } else {
        x.fd = 1;
    }
    if (compress) {
        x.zbuf = st_malloc(XZ_BUF);
        if (!x.zbuf) { fprintf(stderr, "strata export: out of memory\n"); goto out; }
        if (!strcmp(compress, "gzip")) {
            x.cz = CZ_GZIP;
            if (deflateInit2(&x.z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) goto out;
            x.z_ready = 1;
        } else {
            x.cz = CZ_ZSTD;
            x.zc = ZSTD_createCCtx();
            if (!x.zc) goto out;
            ZSTD_CCtx_setParameter(x.zc, ZSTD_c_compressionLevel, 3);
        }
    }
    httpc_opts ho = { .connect_timeout_ms = 10000, .io_timeout_ms = (int)(timeout_s * 1000), .headers = auth.ptr };
    if (httpc_create(&hu, &ho, &c)) { fprintf(stderr, "strata export: out of memory\n"); goto out; }
    x.resp = &resp;
    int64_t t0 = st_mono_ns();
    int rc = httpc_request(c, "GET", target.ptr, NULL, NULL, 0, &resp, on_body, &x);
    double secs = (double)(st_mono_ns() - t0) / 1e9;
    if (rc) {
        if (x.failed) fprintf(stderr, "strata export: %s\n", x.err);
        else fprintf(stderr, "strata export: %s: %s\n", url, httpc_errmsg(c));
        ret = rc == ST_EIO && resp.status == 0 ? XP_UNREACHABLE : XP_FAIL;
        goto out;
    }
    if (resp.status != 200) {
        httpc_resp tmp = resp;
        tmp.body = x.errbody;
        st_buf et;
        st_buf_init(&et);
        httpc_error_text(&tmp, &et);
        fprintf(stderr, "strata export: HTTP %d: %s\n", resp.status, et.ptr ? et.ptr : "");
        st_buf_fini(&et);
        goto out;
    }
    if (out_put(&x, NULL, 0, 1)) { fprintf(stderr, "strata export: %s\n", x.err); goto out; }
    if (x.fd > 1) {
        if (fsync(x.fd) != 0 || close(x.fd) != 0) { x.fd = -1; fprintf(stderr, "strata export: %s: %s\n", tmpname.ptr, strerror(errno)); goto out; }
        x.fd = -1;
        if (rename(tmpname.ptr, output) != 0) { fprintf(stderr, "strata export: rename to %s: %s\n", output, strerror(errno)); goto out; }
    }
    /* The line protocol trailer carries the counts. */
    unsigned long long pts = 0, ser = 0, skipped = 0;
    int have = 0;
    for (size_t i = 0; i + 17 <= x.tail_len; i++) {
        if ((i == 0 || x.tail[i - 1] == '\n') && memcmp(x.tail + i, "# strata-export: ", 17) == 0) {
            char line[X_TAIL_BYTES + 1];
            memcpy(line, x.tail + i, x.tail_len - i);
            line[x.tail_len - i] = 0;
            have = sscanf(line, "# strata-export: points=%llu series=%llu nonfinite_skipped=%llu", &pts, &ser, &skipped) == 3;
        }
    }
    if (have)
        fprintf(stderr, "strata export: %llu points of %llu series, %" PRIu64 " bytes in %.3f s; %llu NaN/Inf values skipped%s\n",
                pts, ser, x.bytes, secs, skipped, skipped ? " (line protocol cannot hold them: use --format csv)" : "");
    else
        fprintf(stderr, "strata export: %" PRIu64 " bytes in %.3f s\n", x.bytes, secs);
    ret = XP_OK;
out:
    if (x.fd > 1) {
        close(x.fd);
        if (tmpname.ptr) unlink(tmpname.ptr);
    }
    if (x.z_ready) deflateEnd(&x.z);
    ZSTD_freeCCtx(x.zc);
    st_free(x.zbuf);
    st_buf_fini(&x.errbody);
    httpc_resp_fini(&resp);
    httpc_destroy(c);
    st_free(tags);
    st_buf_fini(&target);
    st_buf_fini(&auth);
    st_buf_fini(&tmpname);
    return ret;
}
