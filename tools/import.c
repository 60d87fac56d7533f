/*
 * tools/import.c — strata import (alias: strata write): send line protocol
 * and CSV files to a running stratad over HTTP.
 *
 *   strata import [--url U] (--db D [--rp R] | --bucket B [--org O])
 *                 [--precision n|u|ms|s|m|h] [--batch-bytes N] [--workers N]
 *                 [--user U --password P | --token T] [--retries N]
 *                 [--retry-backoff MS] [--timeout S] FILE...|-
 *
 * Data flow: the reader (main thread) pulls batches from a batch source and
 * puts them on a bounded queue; --workers sender threads, each with its own
 * keep-alive connection (tools/httpc.h), take the next batch (converting a
 * CSV batch first) and POST it. --offline: the workers parse (or convert)
 * their batches in parallel and apply them to the storage engine in read
 * order.
 * Batches come from a fixed pool of 2 * workers + 1 buffers, so memory stays
 * near that many times --batch-bytes whatever the input size.
 *
 * The batch source (imp_source) knows about input formats, the sender knows
 * about HTTP: the line protocol source below cuts its input into batches at
 * line ends; other sources (CSV) only need to fill imp_batch the same way.
 *
 * Line protocol source:
 *  - input: files or "-" (stdin), plain, gzip or zstd (detected by the magic
 *    bytes, decompressed as a stream).
 *  - a line ends at a LF that is not inside a double-quoted string field
 *    value: lines are cut with ingest/lp.h's scanner (lp_scan_line), the one
 *    the parser uses, so the client and the server always agree where lines
 *    end; lp_scan_kind tells blank lines and lines without a timestamp.
 *  - a batch ends at a line end once it holds --batch-bytes, and at the end
 *    of each file (a batch belongs to one file: errors map to FILE:LINE).
 *    Blank and comment lines stay in the batch so its physical line numbers
 *    match the file's. The whole lines of a read chunk go into the batch in
 *    one copy; a line straddling chunks, or one to stamp, goes alone.
 *  - a line without a timestamp gets one when it is read (the time of its
 *    input chunk, in --precision): a retried batch writes the same points.
 *    --offline never retries: there the parser stamps it with the time its
 *    batch is parsed, and the reader only tells blank lines (lp_line_blank).
 *
 * Sending: 2xx = written. 400/422 whose message says "partial write" or
 * "unable to parse" = written except the rejected lines, counted from the
 * message (its entries plus "(and N more errors)"); "unable to parse
 * '<line>'" entries are found in the batch to name FILE:LINE. Connection
 * errors, timeouts and 5xx are retried --retries times with exponential
 * back-off (--retry-backoff, doubling, at most 30 s). Anything else (401,
 * 403, 404, 413, other 400s) stops the import.
 *
 * CSV: --format csv|strata-csv, or detected per file from its first line (a
 * header with a time column; Strata's own export header). The reader only
 * cuts: it reads the header and settles the time format with the file's
 * imp_csv (tools/import_csv.c), then fills batches with whole records as
 * read (raw), cut where imp_csv_cut cuts (a quoted cell may hold LFs):
 * without a '"' near, whole lines go in one copy. Each batch carries the
 * header record, the time format and its first record's row. The workers
 * convert in parallel, each with its own converter: to line protocol for
 * HTTP (the batch keeps, per line it sends, the CSV row it came from, so
 * server-side rejections name FILE:ROW too), straight to points for
 * --offline (imp_csv_point; the rows it cannot build go through the parser
 * as text; the points of a batch go to the storage batch series by series,
 * see csv_hold). Row errors found by the client (bad time, DST gap...) are
 * reported with FILE:ROW as the worker meets them and the import goes on;
 * the ten kept are the first in file order whatever the order workers
 * finish in.
 * The autumn hour that repeats is resolved in file order (import_csv.c):
 * each batch starts with that state unknown (but a file's first), and a
 * batch that finishes converting leaves its end state in a ring of imp_run,
 * folded in batch order (a batch no row of which touched it passes the
 * state on). A row in a repeated hour before any row of its batch has
 * cleared the state waits until every batch before has converted, then
 * takes the folded state. Only a --timezone with DST can ask, and only
 * when a batch starts inside a repeated hour; batches before it never wait
 * for a later one, so the wait ends.
 *
 * Progress: on a terminal (stderr) a ticker thread redraws bytes done/total
 * (the compressed position for compressed input), rows, rows/s and ETA at
 * most 10 times a second (tools/progress.h); elsewhere one summary line at
 * the end.
 *
 * Resume (one input file, not stdin): the state file (--state-file, default
 * FILE.strata-import-state beside the input when that folder is writable,
 * else in the current folder) holds the input's identity (size, mtime, a
 * hash of its first 4 KiB) and the watermark: the decompressed byte offset
 * below which every batch was acknowledged. Batches complete out of order
 * across workers; a ring of completed batch numbers advances the watermark
 * over the contiguous prefix only. The state is written atomically (temp +
 * fsync + rename) every second, at SIGINT and on a fatal error, and removed
 * when the import completes. SIGINT stops reading, lets the queued and
 * in-flight batches finish, saves the state and exits 130; --resume checks
 * the identity (a changed file is refused), re-reads and discards the input
 * below the watermark (also for compressed input) and goes on. Lines without
 * a timestamp are stamped when they are read: those below the watermark were
 * acknowledged once and are never sent again; the rest get stamped when the
 * resumed import reads them.
 *
 * Exit: 0 all written, 1 some lines rejected or an input error, 2 usage,
 * 3 the server could not be reached or refused the import, 130 interrupted
 * (SIGINT; state saved).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "ingest/lp.h"
#include "ingest/lpstor.h"
#include "storage/stor.h"
#include "tools/httpc.h"
#include "tools/progress.h"
#include "tools/tools.h"

#define IMP_READ_CHUNK      (256u * 1024)
#define IMP_MAX_ERRORS      10
#define IMP_MAX_LINE_BYTES  (256u * 1024 * 1024)
#define IMP_MAX_BACKOFF_MS  30000
#define IMP_MSG_LINE_BYTES  256 /* the server quotes this much of a bad line */

enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2, EXIT_SERVER = 3, EXIT_INTERRUPTED = 130 };
enum { FMT_AUTO, FMT_LP, FMT_CSV, FMT_STRATA };
#define IMP_RING 1024 /* > the most batches in flight (2 * 256 workers + 1) */
#define IMP_STATE_SUFFIX ".strata-import-state"
#define IMP_TFMT_CAP 136 /* a time format: "epoch-ns", "rfc3339" or a pattern (< 128 bytes) */

static volatile sig_atomic_t g_sigint;
static void on_sigint(int sig) { (void)sig; g_sigint = 1; }

/* ---- batches ---- */

typedef struct imp_batch {
    st_buf body;            /* owned: complete lines, each ending in LF */
    const char *file;       /* borrowed from the source: display name */
    uint64_t file_index;
    uint64_t first_line;    /* physical line number of body's first byte */
    uint64_t phys_lines;    /* physical lines in body */
    uint64_t lines;         /* data lines (not blank, not comment) */
    uint64_t seq;
    uint64_t off_end;       /* decompressed offset in the file after the batch */
    uint64_t *rows;         /* owned, CSV only: source row of each physical body line */
    size_t nrows, rows_cap;
    /* CSV: the reader cuts whole records into raw; a worker converts them
     * (to body for HTTP, to points for --offline) with a converter made
     * from head and tfmt. */
    int fmt;                /* FMT_LP, FMT_CSV or FMT_STRATA */
    st_buf raw;             /* owned: whole CSV records, as read (the last may lack its LF at the end of a file) */
    uint64_t raw_row;       /* physical line number of raw's first record in the file */
    st_buf head;            /* owned: the file's header record */
    char tfmt[IMP_TFMT_CAP]; /* the file's time format (imp_csv_time_format); "" = not settled */
    int file_first;         /* the file's first batch: the autumn-hour state starts clear */
    struct imp_batch *next; /* queue / free list link */
} imp_batch;

static void batch_reset(imp_batch *b)
{
    st_buf_clear(&b->body);
    st_buf_clear(&b->raw);
    st_buf_clear(&b->head);
    b->file = NULL;
    b->file_index = b->first_line = b->phys_lines = b->lines = b->seq = b->off_end = b->raw_row = 0;
    b->nrows = 0;
    b->fmt = FMT_LP;
    b->tfmt[0] = 0;
    b->file_first = 0;
    b->next = NULL;
}

static void batch_free(imp_batch *b)
{
    st_buf_fini(&b->body);
    st_buf_fini(&b->raw);
    st_buf_fini(&b->head);
    st_free(b->rows);
    st_free(b);
}

/* Drop the bytes of b past len. */
static void buf_cut(st_buf *b, size_t len)
{
    b->len = len;
    if (b->ptr) b->ptr[len] = 0;
}

/* LFs in [p, end). */
static uint64_t count_lf(const char *p, const char *end)
{
    uint64_t n = 0;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) { n++; p++; }
    return n;
}

static int batch_push_row(imp_batch *b, uint64_t row)
{
    if (b->nrows == b->rows_cap && st_grow(&b->rows, &b->rows_cap, b->nrows + 1, sizeof *b->rows, 256))
        return ST_ENOMEM;
    b->rows[b->nrows++] = row;
    return 0;
}

/* The source row of physical body line lineno (first_line-based). */
static uint64_t batch_row(const imp_batch *b, uint64_t lineno)
{
    if (!b->nrows || lineno < b->first_line) return lineno;
    uint64_t k = lineno - b->first_line;
    return k < b->nrows ? b->rows[k] : b->rows[b->nrows - 1];
}

/* ---- batch sources ---- */

typedef struct imp_source imp_source;
struct imp_source {
    /* Fill b (reset by the caller): 1 = a batch, 0 = no more input,
     * <0 = error, described in errmsg. */
    int (*next)(imp_source *s, imp_batch *b);
    void (*destroy)(imp_source *s);
    char errmsg[600];
    uint64_t lines;  /* data lines read */
    uint64_t bytes;  /* input bytes (after decompression) */
    uint64_t files;  /* files opened */
    _Atomic uint64_t raw_done; /* input position for the progress line */
};

/* ---- input: a file or stdin, plain / gzip / zstd ---- */

enum { IN_PLAIN, IN_GZIP, IN_ZSTD };

typedef struct imp_input {
    int fd;
    const char *name; /* borrowed */
    int kind;
    int eof;          /* raw input exhausted */
    int z_end;        /* the gzip member / zstd frame ended (0 while inside one) */
    z_stream z;
    int z_ready;
    ZSTD_DCtx *zd;
    char *raw;        /* owned, IMP_READ_CHUNK */
    size_t raw_len, raw_off;
    uint64_t raw_read; /* bytes read from fd */
} imp_input;

static int in_fill_raw(imp_input *in, char *err, size_t errlen)
{
    if (in->raw_off < in->raw_len || in->eof) return 0;
    for (;;) {
        ssize_t r = read(in->fd, in->raw, IMP_READ_CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: read: %s", in->name, strerror(errno));
            return ST_EIO;
        }
        in->raw_len = (size_t)r;
        in->raw_off = 0;
        in->raw_read += (uint64_t)r;
        if (r == 0) in->eof = 1;
        return 0;
    }
}

static void in_close(imp_input *in)
{
    if (in->fd > 0) close(in->fd);
    in->fd = -1;
    if (in->z_ready) inflateEnd(&in->z);
    in->z_ready = 0;
    ZSTD_freeDCtx(in->zd);
    in->zd = NULL;
    st_free(in->raw);
    in->raw = NULL;
}

static int in_open(imp_input *in, const char *path, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    in->name = strcmp(path, "-") == 0 ? "(stdin)" : path;
    in->fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return ST_EIO;
    }
    in->raw = st_malloc(IMP_READ_CHUNK);
    if (!in->raw) { snprintf(err, errlen, "out of memory"); return ST_ENOMEM; }
    /* Read until we have 4 bytes (or EOF) to look at the magic. */
    while (in->raw_len < 4 && !in->eof) {
        ssize_t r = read(in->fd, in->raw + in->raw_len, IMP_READ_CHUNK - in->raw_len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { snprintf(err, errlen, "%s: read: %s", in->name, strerror(errno)); return ST_EIO; }
        if (r == 0) in->eof = 1;
        in->raw_len += (size_t)r;
        in->raw_read += (uint64_t)r;
    }
    const unsigned char *m = (const unsigned char *)in->raw;
    if (in->raw_len >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
        in->kind = IN_GZIP;
        if (inflateInit2(&in->z, 16 + MAX_WBITS) != Z_OK) { snprintf(err, errlen, "out of memory"); return ST_ENOMEM; }
        in->z_ready = 1;
    } else if (in->raw_len >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) {
        in->kind = IN_ZSTD;
        in->zd = ZSTD_createDCtx();
        if (!in->zd) { snprintf(err, errlen, "out of memory"); return ST_ENOMEM; }
    }
    return 0;
}

/* Decompressed bytes into dst; *got = 0 at the end of the input. */
static int in_read(imp_input *in, char *dst, size_t cap, size_t *got, char *err, size_t errlen)
{
    *got = 0;
    if (in->kind == IN_PLAIN && in->raw_off == in->raw_len && !in->eof) {
        /* Plain input goes straight into dst (raw only held the magic). */
        for (;;) {
            ssize_t r = read(in->fd, dst, cap);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                snprintf(err, errlen, "%s: read: %s", in->name, strerror(errno));
                return ST_EIO;
            }
            if (r == 0) in->eof = 1;
            in->raw_read += (uint64_t)r;
            *got = (size_t)r;
            return 0;
        }
    }
    for (;;) {
        int rc = in_fill_raw(in, err, errlen);
        if (rc) return rc;
        size_t avail = in->raw_len - in->raw_off;
        if (in->kind == IN_PLAIN) {
            size_t n = avail < cap ? avail : cap;
            memcpy(dst, in->raw + in->raw_off, n);
            in->raw_off += n;
            *got = n;
            return 0;
        }
        if (avail == 0) { /* end of the raw input */
            if (in->kind == IN_GZIP && !in->z_end && in->z.total_in > 0) {
                snprintf(err, errlen, "%s: gzip: unexpected end of compressed data (truncated file?)", in->name);
                return ST_ECORRUPT;
            }
            if (in->kind == IN_ZSTD && !in->z_end) {
                snprintf(err, errlen, "%s: zstd: unexpected end of compressed data (truncated file?)", in->name);
                return ST_ECORRUPT;
            }
            return 0;
        }
        if (in->kind == IN_GZIP) {
            if (in->z_end) {
                /* Concatenated gzip members are one stream (what `cat a.gz b.gz` makes). */
                if (inflateReset(&in->z) != Z_OK) { snprintf(err, errlen, "%s: gzip: reset failed", in->name); return ST_ECORRUPT; }
                in->z_end = 0;
            }
            in->z.next_in = (Bytef *)(in->raw + in->raw_off);
            in->z.avail_in = (uInt)avail;
            in->z.next_out = (Bytef *)dst;
            in->z.avail_out = (uInt)cap;
            int zr = inflate(&in->z, Z_NO_FLUSH);
            in->raw_off = in->raw_len - in->z.avail_in;
            *got = cap - in->z.avail_out;
            if (zr == Z_STREAM_END) in->z_end = 1;
            else if (zr != Z_OK && zr != Z_BUF_ERROR) {
                snprintf(err, errlen, "%s: gzip: %s", in->name, in->z.msg ? in->z.msg : "invalid compressed data");
                return ST_ECORRUPT;
            }
        } else {
            ZSTD_inBuffer ib = { in->raw + in->raw_off, avail, 0 };
            ZSTD_outBuffer ob = { dst, cap, 0 };
            size_t zr = ZSTD_decompressStream(in->zd, &ob, &ib);
            if (ZSTD_isError(zr)) {
                snprintf(err, errlen, "%s: zstd: %s", in->name, ZSTD_getErrorName(zr));
                return ST_ECORRUPT;
            }
            in->raw_off += ib.pos;
            in->z_end = zr == 0;
            *got = ob.pos;
        }
        if (*got) return 0;
    }
}

/* ---- the batch source: line protocol and CSV files ---- */

typedef struct lp_source {
    imp_source base;
    char **files;          /* borrowed */
    int nfiles;
    int cur;               /* index of the open file, -1 before the first */
    imp_input in;
    int in_open;
    char *chunk;           /* owned, IMP_READ_CHUNK decompressed bytes */
    size_t chunk_len, chunk_off;
    uint64_t chunk_base;   /* decompressed offset of chunk[0] in the file */
    size_t batch_bytes;
    int64_t unit_ns;
    char stamp[24];        /* " <ts>" for lines without a timestamp */
    size_t stamp_len;
    int stamp_lines;       /* 1: stamp them here; 0 (--offline): the parser stamps them */
    lp_scan sc;            /* ingest/lp.h's scanner on the line being cut */
    size_t line_start;     /* offset in the batch body where it starts */
    uint64_t line_no;      /* physical line number of the next line in the file */
    int fmt;               /* FMT_* asked for */
    int file_fmt;          /* FMT_LP / FMT_CSV / FMT_STRATA of the open file */
    const imp_csv_opts *csvo; /* borrowed */
    imp_csv *csv;          /* owned: the open CSV file's header, time format and record cutter */
    int csv_header_done;
    int csv_settled;       /* its time format is settled: whole lines may go in one copy */
    st_buf head;           /* owned: its header record */
    int in_rec;            /* a CSV record is partly in the batch's raw (from rec_start) */
    size_t rec_start;
    int file_first;        /* no batch of the open file returned yet */
    uint64_t skip_until;   /* resume: drop lines ending at or before this offset */
    uint64_t raw_closed;   /* raw bytes of the files already read */
} lp_source;

static void lp_source_destroy(imp_source *s)
{
    lp_source *ls = (lp_source *)s;
    if (ls->in_open) in_close(&ls->in);
    imp_csv_destroy(ls->csv);
    st_buf_fini(&ls->head);
    st_free(ls->chunk);
    st_free(ls);
}

static void set_stamp(lp_source *ls)
{
    int64_t now = st_now_ns();
    int n = snprintf(ls->stamp, sizeof ls->stamp, " %" PRId64, now / ls->unit_ns);
    ls->stamp_len = (size_t)n;
}

/* The line [line_start, body.len) just ended (its LF not yet appended);
 * end_off is the file offset after its LF. Lines below the resume point
 * are dropped (still counted for line numbers). */
static int finish_line(lp_source *ls, imp_batch *b, uint64_t end_off)
{
    st_buf *body = &b->body;
    lp_scan *sc = &ls->sc;
    int rc = 0;
    uint64_t phys = 1 + sc->inner_lfs;
    if (end_off <= ls->skip_until) {
        body->len = ls->line_start;
        if (body->ptr) body->ptr[body->len] = 0;
        if (b->phys_lines == 0) b->first_line = ls->line_no + phys;
        ls->line_no += phys;
        memset(sc, 0, sizeof *sc);
        return 0;
    }
    const char *line = body->ptr ? body->ptr + ls->line_start : "";
    size_t line_len = body->len - ls->line_start;
    int kind = ls->stamp_lines ? lp_scan_kind(sc, line, line_len) : lp_line_blank(line, line_len) ? LP_SCAN_BLANK : LP_SCAN_OTHER;
    if (kind != LP_SCAN_BLANK) {
        b->lines++;
        ls->base.lines++;
        /* Stamp only a line whose fields ended cleanly; a malformed one goes
         * as is, so the server's error quotes the line from the file. */
        if (kind == LP_SCAN_NO_TS) {
            size_t n = body->len;
            if (n > ls->line_start && body->ptr[n - 1] == '\r') n--;
            while (n > ls->line_start && body->ptr[n - 1] == ' ') n--;
            body->len = n;
            rc = st_buf_append(body, ls->stamp, ls->stamp_len);
        }
    }
    if (!rc) rc = st_buf_append_byte(body, '\n');
    b->phys_lines += phys;
    ls->line_no += phys;
    memset(sc, 0, sizeof *sc);
    ls->line_start = body->len;
    return rc ? ST_ENOMEM : 0;
}

/* The whole lines at the start of [p, end), appended to the batch in one
 * piece (no partial line pending, past the resume point): counted as
 * finish_line counts them, up to the batch's size. Stops before a line
 * to stamp (finish_line does that) and before a line that does not end in
 * the chunk. Returns the bytes taken (whole lines with their LFs). */
static size_t take_lines(lp_source *ls, imp_batch *b, const char *p, const char *end)
{
    const char *run = p;
    uint64_t lines = 0, phys = 0;
    size_t room = ls->batch_bytes > b->body.len ? ls->batch_bytes - b->body.len : 0;
    while (p < end) {
        lp_scan sc = { 0 };
        const char *lf = lp_scan_line(&sc, p, end);
        if (!lf) break;
        int kind = ls->stamp_lines ? lp_scan_kind(&sc, p, (size_t)(lf - p))
                 : lp_line_blank(p, (size_t)(lf - p)) ? LP_SCAN_BLANK : LP_SCAN_OTHER;
        if (kind == LP_SCAN_NO_TS) break;
        lines += kind != LP_SCAN_BLANK;
        phys += 1 + sc.inner_lfs;
        p = lf + 1;
        if ((size_t)(p - run) >= room && b->lines + lines > 0) break;
    }
    if (p == run || st_buf_append(&b->body, run, (size_t)(p - run))) return 0; /* out of memory: the slow path says so */
    b->lines += lines;
    ls->base.lines += lines;
    b->phys_lines += phys;
    ls->line_no += phys;
    ls->line_start = b->body.len;
    return (size_t)(p - run);
}

/* A whole CSV record is in the batch's raw from rec_start (with its LF,
 * unless the file ended); end_off is the file offset after it. The header
 * goes to the file's imp_csv and head, not to raw; records the resume
 * point covers are dropped; records until the time format is settled are
 * shown to the imp_csv (imp_csv_detect). Rows count physical lines. */
static int finish_record(lp_source *ls, imp_batch *b, uint64_t end_off)
{
    imp_source *s = &ls->base;
    const char *rec = b->raw.ptr + ls->rec_start;
    size_t len = b->raw.len - ls->rec_start;
    if (len && rec[len - 1] == '\n') len--;
    uint64_t row = ls->line_no;
    ls->line_no += 1 + count_lf(rec, rec + len);
    ls->in_rec = 0;
    if (!ls->csv_header_done) {
        ls->csv_header_done = 1;
        uint32_t nl = 0;
        char err[400];
        st_buf_clear(&ls->head);
        int rc = st_buf_append(&ls->head, rec, len) ? ST_ENOMEM : imp_csv_record(ls->csv, rec, len, &b->body, &nl, err, sizeof err);
        buf_cut(&b->raw, ls->rec_start);
        if (rc == ST_EINVAL) snprintf(s->errmsg, sizeof s->errmsg, "%s:%" PRIu64 ": %s", ls->in.name, row, err);
        else if (rc) snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
        ls->csv_settled = imp_csv_detect(ls->csv, "", 0);
        return rc;
    }
    if (end_off <= ls->skip_until) { buf_cut(&b->raw, ls->rec_start); return 0; }
    if (!ls->csv_settled) ls->csv_settled = imp_csv_detect(ls->csv, rec, len);
    return 0;
}

/* CSV bytes at [p, end) into the batch's raw, whole records only, and
 * *took the bytes consumed. Once the time format is settled, with no
 * record open and the resume point behind, the whole lines before the next
 * '"' go in one copy (without quotes every LF ends a record), up to the
 * batch's size; otherwise one record (or the part of it in this chunk),
 * cut with imp_csv_cut, the way the workers cut raw again. */
static int take_csv(lp_source *ls, imp_batch *b, const char *p, const char *end, size_t *took)
{
    imp_source *s = &ls->base;
    if (!ls->in_rec && ls->csv_settled && ls->chunk_base + ls->chunk_off >= ls->skip_until) {
        size_t room = ls->batch_bytes > b->raw.len ? ls->batch_bytes - b->raw.len : 0;
        const char *q = memchr(p, '"', (size_t)(end - p));
        const char *lim = q ? q : end;
        const char *lf = NULL;
        if (room < (size_t)(lim - p)) {
            lf = memrchr(p, '\n', room);
            if (!lf) lf = memchr(p + room, '\n', (size_t)(lim - p - (ptrdiff_t)room));
        } else {
            lf = memrchr(p, '\n', (size_t)(lim - p));
        }
        if (lf) {
            *took = (size_t)(lf + 1 - p);
            if (b->raw.len == 0) b->raw_row = ls->line_no;
            if (st_buf_append(&b->raw, p, *took)) goto nomem;
            ls->line_no += count_lf(p, lf + 1);
            return 0;
        }
    }
    if (!ls->in_rec) {
        ls->in_rec = 1;
        ls->rec_start = b->raw.len;
        if (b->raw.len == 0) b->raw_row = ls->line_no;
    }
    const char *lf = imp_csv_cut(ls->csv, p, end);
    *took = lf ? (size_t)(lf + 1 - p) : (size_t)(end - p);
    if (st_buf_append(&b->raw, p, *took)) goto nomem;
    if (lf) return finish_record(ls, b, ls->chunk_base + ls->chunk_off + *took);
    if (b->raw.len - ls->rec_start > IMP_MAX_LINE_BYTES) {
        snprintf(s->errmsg, sizeof s->errmsg, "%s:%" PRIu64 ": CSV record longer than %u bytes (unbalanced quote?)",
                 ls->in.name, ls->line_no, IMP_MAX_LINE_BYTES);
        return ST_ETOOLARGE;
    }
    return 0;
nomem:
    snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
    return ST_ENOMEM;
}

/* What a CSV batch carries for the worker's converter. 1 (a batch), or
 * ST_ENOMEM. */
static int seal_csv(lp_source *ls, imp_batch *b)
{
    b->fmt = ls->file_fmt;
    b->file_first = ls->file_first;
    ls->file_first = 0;
    if (!imp_csv_time_format(ls->csv, b->tfmt, sizeof b->tfmt)) b->tfmt[0] = 0;
    st_buf_clear(&b->head);
    if (ls->head.len && st_buf_append(&b->head, ls->head.ptr, ls->head.len)) {
        snprintf(ls->base.errmsg, sizeof ls->base.errmsg, "out of memory");
        return ST_ENOMEM;
    }
    return 1;
}

static void note_progress(lp_source *ls)
{
    uint64_t pos = ls->in.raw_read - (ls->in.raw_len - ls->in.raw_off);
    atomic_store(&ls->base.raw_done, ls->raw_closed + pos);
}

/* Read the next decompressed chunk of the open file; *got = 0 at its end. */
static int next_chunk(lp_source *ls, size_t *got)
{
    ls->chunk_base += ls->chunk_len;
    int rc = in_read(&ls->in, ls->chunk, IMP_READ_CHUNK, got, ls->base.errmsg, sizeof ls->base.errmsg);
    if (rc) return rc;
    ls->base.bytes += *got;
    ls->chunk_len = *got;
    ls->chunk_off = 0;
    note_progress(ls);
    set_stamp(ls);
    return 0;
}

static int open_next_file(lp_source *ls)
{
    imp_source *s = &ls->base;
    ls->cur++;
    int rc = in_open(&ls->in, ls->files[ls->cur], s->errmsg, sizeof s->errmsg);
    if (rc) { in_close(&ls->in); return rc; }
    ls->in_open = 1;
    ls->line_no = 1;
    s->files++;
    memset(&ls->sc, 0, sizeof ls->sc);
    ls->chunk_base = 0;
    ls->chunk_len = ls->chunk_off = 0;
    size_t got;
    if ((rc = next_chunk(ls, &got))) return rc;
    int f = ls->fmt;
    if (f == FMT_AUTO) {
        const char *lf = memchr(ls->chunk, '\n', got);
        size_t n = lf ? (size_t)(lf - ls->chunk) : got;
        f = imp_csv_is_strata_header(ls->chunk, n) ? FMT_STRATA : imp_csv_looks_like(ls->chunk, n, ls->csvo->time_column) ? FMT_CSV : FMT_LP;
    }
    ls->file_fmt = f;
    imp_csv_destroy(ls->csv);
    ls->csv = NULL;
    ls->csv_header_done = ls->csv_settled = ls->in_rec = 0;
    ls->file_first = 1;
    if (f != FMT_LP) {
        imp_csv_opts o = *ls->csvo;
        o.strata = f == FMT_STRATA;
        char err[400];
        rc = imp_csv_create(&o, &ls->csv, err, sizeof err);
        if (rc) { snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", ls->in.name, err); return rc; }
    }
    return 0;
}

static int lp_source_next(imp_source *s, imp_batch *b)
{
    lp_source *ls = (lp_source *)s;
    int rc;
    for (;;) {
        if (!ls->in_open) {
            if (ls->cur + 1 >= ls->nfiles) return 0;
            if ((rc = open_next_file(ls))) return rc;
        }
        if (b->file == NULL) {
            b->file = ls->in.name;
            b->file_index = (uint64_t)ls->cur;
            b->first_line = ls->file_fmt == FMT_LP ? ls->line_no : 1;
            ls->line_start = 0;
        }
        if (ls->chunk_off == ls->chunk_len) {
            size_t got;
            if ((rc = next_chunk(ls, &got))) return rc;
            if (got == 0) {
                /* End of this file: a last line without LF still counts. */
                uint64_t end = ls->chunk_base;
                if (ls->file_fmt == FMT_LP) {
                    if (b->body.len > ls->line_start) {
                        if (finish_line(ls, b, end)) goto nomem;
                    }
                } else if (ls->in_rec) {
                    if ((rc = finish_record(ls, b, end))) return rc;
                }
                ls->raw_closed += ls->in.raw_read;
                in_close(&ls->in);
                ls->in_open = 0;
                b->off_end = end;
                if (ls->file_fmt != FMT_LP && b->raw.len > 0) return seal_csv(ls, b);
                if (b->lines > 0) return 1;
                batch_reset(b); /* only blank or comment lines (or no CSV record): nothing to send */
                continue;
            }
        }
        while (ls->chunk_off < ls->chunk_len) {
            const char *p = ls->chunk + ls->chunk_off, *end = ls->chunk + ls->chunk_len;
            if (ls->file_fmt != FMT_LP) {
                size_t took = 0;
                rc = take_csv(ls, b, p, end, &took);
                ls->chunk_off += took;
                if (rc) return rc;
                if (b->raw.len >= ls->batch_bytes && !ls->in_rec) {
                    b->off_end = ls->chunk_base + ls->chunk_off;
                    return seal_csv(ls, b);
                }
                continue;
            } else {
                size_t took = 0;
                if (b->body.len == ls->line_start && ls->chunk_base + ls->chunk_off >= ls->skip_until)
                    took = take_lines(ls, b, p, end);
                if (took) {
                    ls->chunk_off += took;
                    if (b->body.len >= ls->batch_bytes && b->lines > 0) {
                        b->off_end = ls->chunk_base + ls->chunk_off;
                        return 1;
                    }
                    continue;
                }
                const char *lf = lp_scan_line(&ls->sc, p, end);
                const char *stop = lf ? lf : end;
                if (st_buf_append(&b->body, p, (size_t)(stop - p))) goto nomem;
                ls->chunk_off += (size_t)(stop - p) + (lf ? 1 : 0);
                if (!lf) {
                    if (b->body.len - ls->line_start > IMP_MAX_LINE_BYTES) {
                        snprintf(s->errmsg, sizeof s->errmsg, "%s:%" PRIu64 ": line longer than %u bytes (not line protocol?)",
                                 ls->in.name, ls->line_no, IMP_MAX_LINE_BYTES);
                        return ST_ETOOLARGE;
                    }
                    break;
                }
                if (finish_line(ls, b, ls->chunk_base + ls->chunk_off)) goto nomem;
            }
            if (b->body.len >= ls->batch_bytes && b->lines > 0) {
                b->off_end = ls->chunk_base + ls->chunk_off;
                return 1;
            }
        }
    }
nomem:
    snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
    return ST_ENOMEM;
}

static int lp_source_create(char **files, int nfiles, size_t batch_bytes, int64_t unit_ns, int fmt,
                            const imp_csv_opts *csvo, uint64_t skip_until, int stamp_lines, imp_source **out)
{
    lp_source *ls = st_calloc(1, sizeof *ls);
    if (!ls) return ST_ENOMEM;
    ls->chunk = st_malloc(IMP_READ_CHUNK);
    if (!ls->chunk) { st_free(ls); return ST_ENOMEM; }
    ls->base.next = lp_source_next;
    ls->base.destroy = lp_source_destroy;
    ls->files = files;
    ls->nfiles = nfiles;
    ls->cur = -1;
    ls->batch_bytes = batch_bytes;
    ls->unit_ns = unit_ns;
    ls->fmt = fmt;
    ls->csvo = csvo;
    ls->skip_until = skip_until;
    ls->stamp_lines = stamp_lines;
    st_buf_init(&ls->head);
    ls->in.fd = -1;
    *out = &ls->base;
    return 0;
}

/* ---- the sender ---- */

typedef struct imp_opts {
    httpc_url url;
    const char *url_text;
    char *target;        /* owned: "/write?db=..." */
    char *auth;          /* owned: Authorization header line, or NULL */
    size_t batch_bytes;
    int workers;
    int retries;
    int backoff_ms;
    int timeout_ms;
    int throttle_ms;     /* testing: pause before each request */
    int64_t unit_ns;
    stor *storage;       /* --offline: the data directory's engine (owned by main) */
    uint64_t db_id;
    const char *quality_field;
    const imp_csv_opts *csvo; /* borrowed: the CSV options (workers make their converters with them) */
} imp_opts;

typedef struct imp_error {
    uint64_t file_index, lineno, seq;
    char *text; /* owned: "FILE:LINE: reason" */
} imp_error;

typedef struct imp_run {
    const imp_opts *o;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;  /* a batch was queued, or reading ended, or stop */
    pthread_cond_t cv_free;  /* a batch buffer came back */
    pthread_cond_t cv_apply; /* --offline: the next batch in read order may be applied */
    uint64_t apply_next;     /* --offline: seq of the batch whose turn it is */
    imp_batch *q_head, *q_tail;
    imp_batch *free_list;
    size_t allocated, max_batches;
    int reading_done;
    atomic_int stop;
    /* results (under mu) */
    uint64_t written, rejected, batches;
    imp_error errors[IMP_MAX_ERRORS];
    size_t nerrors;
    uint64_t errors_total;
    int fatal_exit;          /* EXIT_SERVER / EXIT_REJECTED once stopped */
    char fatal[1200];
    /* the resume watermark (under mu) */
    uint64_t wm_next;        /* the lowest batch seq not yet acknowledged */
    uint64_t watermark;      /* every line below this offset is acknowledged */
    uint8_t wm_done[IMP_RING];
    uint64_t wm_end[IMP_RING];
    /* CSV rows read (under mu): the workers count them as they convert */
    uint64_t csv_lines;
    /* The autumn-hour state from chunk to chunk (under mu): carry is the
     * state after every batch below carry_next, whose conversion is the
     * first not done; a converted batch leaves its end state in the ring
     * (known = 0: it did not touch the state). */
    pthread_cond_t cv_carry; /* carry_next moved, or stop */
    uint64_t carry_next;
    imp_csv_carry carry;
    uint8_t carry_done[IMP_RING];
    imp_csv_carry carry_out[IMP_RING];
} imp_run;

/* Batch seq was acknowledged (written, or partly rejected). Under mu. */
static void wm_ack(imp_run *r, const imp_batch *b)
{
    if (b->seq < r->wm_next || b->seq - r->wm_next >= IMP_RING) return; /* cannot happen: the pool is smaller */
    r->wm_done[b->seq % IMP_RING] = 1;
    r->wm_end[b->seq % IMP_RING] = b->off_end;
    while (r->wm_done[r->wm_next % IMP_RING]) {
        r->wm_done[r->wm_next % IMP_RING] = 0;
        if (r->wm_end[r->wm_next % IMP_RING] > r->watermark) r->watermark = r->wm_end[r->wm_next % IMP_RING];
        r->wm_next++;
    }
}

static void set_fatal(imp_run *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_fatal(imp_run *r, int code, const char *fmt, ...)
{
    pthread_mutex_lock(&r->mu);
    if (!r->fatal_exit) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->fatal, sizeof r->fatal, fmt, ap);
        va_end(ap);
        r->fatal_exit = code;
    }
    atomic_store(&r->stop, 1);
    pthread_cond_broadcast(&r->cv_work);
    pthread_cond_broadcast(&r->cv_free);
    pthread_cond_broadcast(&r->cv_apply);
    pthread_cond_broadcast(&r->cv_carry);
    pthread_mutex_unlock(&r->mu);
}

/* Batch seq is converted, leaving the autumn-hour state out (every batch
 * says so once, CSV or not: the ones that are not pass the state on). */
static void carry_publish(imp_run *r, uint64_t seq, const imp_csv_carry *out)
{
    pthread_mutex_lock(&r->mu);
    if (seq >= r->carry_next && seq - r->carry_next < IMP_RING) { /* else cannot happen: the pool is smaller */
        r->carry_done[seq % IMP_RING] = 1;
        r->carry_out[seq % IMP_RING] = *out;
    }
    while (r->carry_done[r->carry_next % IMP_RING]) {
        const imp_csv_carry *c = &r->carry_out[r->carry_next % IMP_RING];
        if (c->known) r->carry = *c;
        r->carry_done[r->carry_next % IMP_RING] = 0;
        r->carry_next++;
    }
    pthread_cond_broadcast(&r->cv_carry);
    pthread_mutex_unlock(&r->mu);
}

/* The state after every batch before seq, once they are converted (rare:
 * only a chunk whose first rows fall in a repeated hour asks). -1 when the
 * import stops first. The batches before seq were all taken off the queue
 * before it, and their workers publish before they wait for anything but
 * earlier batches: this cannot deadlock. */
static int carry_wait(imp_run *r, uint64_t seq, imp_csv_carry *in)
{
    pthread_mutex_lock(&r->mu);
    while (r->carry_next < seq && !atomic_load(&r->stop)) pthread_cond_wait(&r->cv_carry, &r->mu);
    int stopped = atomic_load(&r->stop);
    *in = r->carry;
    pthread_mutex_unlock(&r->mu);
    in->known = 1;
    return stopped ? -1 : 0;
}

/* Keep the IMP_MAX_ERRORS errors that come first in the input. Under mu. */
static void add_error(imp_run *r, const imp_batch *b, uint64_t lineno, const char *text, size_t len)
{
    r->errors_total++;
    size_t slot = r->nerrors;
    if (slot == IMP_MAX_ERRORS) {
        size_t worst = 0;
        for (size_t i = 1; i < r->nerrors; i++) {
            const imp_error *e = &r->errors[i], *w = &r->errors[worst];
            if (e->file_index > w->file_index || (e->file_index == w->file_index && e->lineno > w->lineno))
                worst = i;
        }
        const imp_error *w = &r->errors[worst];
        if (b->file_index > w->file_index || (b->file_index == w->file_index && lineno >= w->lineno)) return;
        st_free(r->errors[worst].text);
        slot = worst;
    } else {
        r->nerrors++;
    }
    st_buf t;
    st_buf_init(&t);
    if (lineno) st_buf_printf(&t, "%s:%" PRIu64 ": %.*s", b->file, lineno, (int)len, text);
    else if (b->nrows)
        st_buf_printf(&t, "%s:%" PRIu64 "-%" PRIu64 ": %.*s", b->file, b->rows[0], b->rows[b->nrows - 1], (int)len, text);
    else
        st_buf_printf(&t, "%s:%" PRIu64 "-%" PRIu64 ": %.*s", b->file, b->first_line,
                      b->first_line + (b->phys_lines ? b->phys_lines - 1 : 0), (int)len, text);
    r->errors[slot] = (imp_error){ b->file_index, lineno ? lineno : b->first_line, b->seq, st_buf_take(&t) };
}

/* Find the line the server quoted. q = text after "unable to parse '".
 * Lines are searched from *cur on (errors come in batch order). On a match:
 * *lineno is set and *cur, *cur_line move past it; returns the length of the quote
 * plus "': " in q. 0 when no line matches. */
static size_t match_line(const imp_batch *b, size_t *cur, uint64_t *cur_line, const char *q, size_t qlen,
                         uint64_t *lineno)
{
    const char *body = b->body.ptr, *end = body + b->body.len;
    size_t pos = *cur;
    uint64_t line = *cur_line;
    while (pos < b->body.len) {
        lp_scan sc = { 0 };
        const char *ls = body + pos;
        const char *lf = lp_scan_line(&sc, ls, end);
        const char *le = lf ? lf : end;
        const char *s = ls;
        while (s < le && (*s == ' ' || *s == '\t')) s++;
        const char *e = le;
        if (e > s && e[-1] == '\r') e--;
        size_t n = (size_t)(e - s), k = n > IMP_MSG_LINE_BYTES ? IMP_MSG_LINE_BYTES : n;
        size_t need = k + (n > k ? 3 : 0) + 3;
        if (qlen >= need && memcmp(q, s, k) == 0 && (n == k || memcmp(q + k, "...", 3) == 0) &&
            memcmp(q + need - 3, "': ", 3) == 0) {
            *lineno = line;
            *cur = (size_t)(le - body) + 1;
            *cur_line = line + 1 + sc.inner_lfs;
            return need;
        }
        line += 1 + sc.inner_lfs;
        pos = (size_t)(le - body) + 1;
    }
    return 0;
}

/* A partial write: count and record the rejected lines. Under mu. */
static uint64_t account_partial(imp_run *r, const imp_batch *b, const char *msg, size_t len)
{
    const char *p = msg, *end = msg + len;
    static const char pw[] = "partial write: ";
    if ((size_t)(end - p) >= sizeof pw - 1 && memcmp(p, pw, sizeof pw - 1) == 0) p += sizeof pw - 1;
    /* " dropped=N for database: ..." closes a partial write message. */
    const char *last = NULL;
    for (const char *x = p; (x = memmem(x, (size_t)(end - x), " dropped=", 9)) != NULL; x++) last = x;
    if (last && memmem(last, (size_t)(end - last), " for database: ", 15)) end = last;
    uint64_t more = 0;
    static const char mk[] = "\n(and ";
    for (const char *x = p; (x = memmem(x, (size_t)(end - x), mk, sizeof mk - 1)) != NULL; x++) {
        const char *y = x + sizeof mk - 1;
        char *ep;
        unsigned long long v = strtoull(y, &ep, 10);
        if (ep > y && strncmp(ep, " more errors)", 13) == 0) {
            more = v;
            end = x;
            break;
        }
    }
    uint64_t count = 0;
    size_t cur = 0;
    uint64_t cur_line = b->first_line;
    static const char up[] = "unable to parse '";
    while (p < end) {
        const char *eol = NULL;
        uint64_t lineno = 0;
        if ((size_t)(end - p) > sizeof up - 1 && memcmp(p, up, sizeof up - 1) == 0) {
            size_t m = match_line(b, &cur, &cur_line, p + sizeof up - 1, (size_t)(end - p) - (sizeof up - 1), &lineno);
            if (m) eol = memchr(p + sizeof up - 1 + m, '\n', (size_t)(end - p - (ptrdiff_t)(sizeof up - 1 + m)));
        }
        if (!eol) eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if (eol > p) {
            count++;
            add_error(r, b, lineno ? batch_row(b, lineno) : 0, p, (size_t)(eol - p));
        }
        p = eol + 1;
    }
    r->errors_total += more;
    count += more;
    if (count > b->lines) count = b->lines;
    return count;
}

static void sleep_ms(imp_run *r, int ms)
{
    while (ms > 0 && !atomic_load(&r->stop)) {
        int step = ms > 50 ? 50 : ms;
        struct timespec ts = { step / 1000, (long)(step % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static int retryable_status(int st) { return st >= 500 && st != 501 && st != 505; }

/* Send one batch with retries. 0 when done (written or partly rejected). */
static int send_batch(imp_run *r, httpc *c, imp_batch *b, httpc_resp *resp, st_buf *etext)
{
    const imp_opts *o = r->o;
    for (int attempt = 0;; attempt++) {
        if (atomic_load(&r->stop)) return -1;
        int rc = httpc_request(c, "POST", o->target, "Content-Type: text/plain; charset=utf-8\r\n", b->body.ptr,
                               b->body.len, resp, NULL, NULL);
        int st = rc == 0 ? resp->status : 0;
        if (rc == 0 && st >= 200 && st < 300) {
            pthread_mutex_lock(&r->mu);
            r->written += b->lines;
            r->batches++;
            wm_ack(r, b);
            pthread_mutex_unlock(&r->mu);
            return 0;
        }
        if (rc == 0) {
            if (httpc_error_text(resp, etext)) { set_fatal(r, EXIT_REJECTED, "out of memory"); return -1; }
            const char *m = etext->ptr ? etext->ptr : "";
            if ((st == 400 || st == 422) && (strstr(m, "partial write") || strstr(m, "unable to parse"))) {
                pthread_mutex_lock(&r->mu);
                uint64_t rej = account_partial(r, b, m, etext->len);
                r->rejected += rej;
                r->written += b->lines - rej;
                r->batches++;
                wm_ack(r, b);
                pthread_mutex_unlock(&r->mu);
                return 0;
            }
            if (!retryable_status(st)) {
                const char *hint = st == 413 ? " (try a smaller --batch-bytes)" :
                                   st == 401 || st == 403 ? " (check --user/--password or --token)" : "";
                set_fatal(r, EXIT_SERVER, "%s refused the write: HTTP %d: %s%s (batch %s:%" PRIu64 ")", o->url_text, st,
                          m, hint, b->file, b->first_line);
                return -1;
            }
        } else if (rc == ST_ENOMEM) {
            set_fatal(r, EXIT_REJECTED, "out of memory");
            return -1;
        }
        if (attempt >= o->retries) {
            if (rc)
                set_fatal(r, EXIT_SERVER, "cannot reach %s: %s (gave up after %d retries)", o->url_text, httpc_errmsg(c),
                          o->retries);
            else
                set_fatal(r, EXIT_SERVER, "%s failed: HTTP %d: %s (gave up after %d retries)", o->url_text, st,
                          etext->ptr ? etext->ptr : "", o->retries);
            return -1;
        }
        long long wait = (long long)o->backoff_ms << (attempt < 20 ? attempt : 20);
        if (wait > IMP_MAX_BACKOFF_MS) wait = IMP_MAX_BACKOFF_MS;
        wait = wait / 2 + (wait > 1 ? rand() % (wait / 2 + 1) : 0); /* jitter: workers do not retry in step */
        sleep_ms(r, (int)wait);
    }
}

static void put_free(imp_run *r, imp_batch *b)
{
    pthread_mutex_lock(&r->mu);
    b->next = r->free_list;
    r->free_list = b;
    pthread_cond_signal(&r->cv_free);
    pthread_mutex_unlock(&r->mu);
}

/* A row the client rejects (CSV: a bad time, a DST gap...). */
static void reject_row(imp_run *r, const imp_batch *b, uint64_t row, const char *msg)
{
    pthread_mutex_lock(&r->mu);
    r->rejected++;
    add_error(r, b, row, msg, strlen(msg));
    pthread_mutex_unlock(&r->mu);
}

/* ---- the worker's context ---- */

/* A worker's CSV converter, made again when a batch of another file comes
 * (or one whose time format was settled since). */
typedef struct csv_conv {
    imp_csv *c;             /* owned */
    uint64_t file_index;
    char tfmt[IMP_TFMT_CAP];
    st_buf text;            /* owned scratch: a row as line protocol */
    st_buf quote;           /* owned scratch: a refused point's line */
} csv_conv;

/* --offline CSV: the points built straight from cells are held back, then
 * added to the storage batch series by series, each series' points in file
 * order. The head appends a point to its series' columns: points of one
 * series in a row find those columns in cache, where rows of a CSV file
 * usually cycle through all their series. The result is the same (points
 * of different series do not meet). A series' key and tags are kept once,
 * each point's fields and time; slices point into the batch's raw, the
 * options and the converter's header, which outlive the batch. A row with
 * a quote (cells in the converter's scratch) or one that goes as text lets
 * the held points go first, so order holds around it. */
#define HOLD_MAX 4096 /* points held at most (memory: about 500 bytes each) */

typedef struct held_pt {
    uint32_t series, next;  /* next: the series' next held point, UINT32_MAX = none */
    size_t field_off;       /* in hold.fields */
    uint32_t nf;
    uint8_t has_quality;
    uint32_t quality;
    int64_t ts_ns;
    const char *rec;        /* its record, to word a refusal */
    size_t rec_len;
    uint64_t row;
} held_pt;

typedef struct held_series {
    uint64_t hash;          /* lp_key_hash of the key */
    size_t key_off;         /* in hold.keys */
    uint32_t key_len, nt;
    size_t tag_off;         /* in hold.tags */
    st_slice measurement;
    uint32_t first, last;
} held_series;

typedef struct csv_hold {
    held_pt *pts;           /* owned, each array below too */
    size_t n, cap;
    held_series *series;
    size_t nseries, cap_series;
    uint32_t *slots;        /* series index + 1 by key hash, 0 = empty; cap_slots a power of two */
    size_t cap_slots;
    lp_tag *tags;
    size_t ntags, cap_tags;
    lp_field *fields;
    size_t nfields, cap_fields;
    st_buf keys;
} csv_hold;

typedef struct imp_worker {
    imp_run *r;
    imp_batch *b;           /* the batch being handled */
    csv_conv cv;
    uint64_t csv_lines;     /* CSV rows read in this batch (the summary's "read") */
    const char *rec;        /* CSV: the record being converted (in the batch's raw); NULL: line protocol */
    size_t rec_len;
    const held_pt *held;    /* --offline CSV: the held point being added (errors name its row) */
    csv_hold hold;
    const char *row_pos;    /* CSV: a record start at or before rec ... */
    uint64_t row_no;        /* ... and its row: rows are counted only as far as needed */
    /* --offline */
    stor_batch *sb;
    uint64_t bad;
    lp_opts lo;
    lp_parser *csv_lp;      /* owned: parses the CSV rows that go as text */
    lpstor adapt;           /* owned: lines -> the batch */
    pthread_mutex_t mu;
    pthread_cond_t cv_done;
    int done, status;
} imp_worker;

/* ---- CSV: a worker converts a batch's records ---- */

/* The worker's converter, ready for b's file. 0, or ST_ECLOSED (fatal set). */
static int csv_conv_for(imp_worker *x, const imp_batch *b)
{
    csv_conv *cv = &x->cv;
    if (cv->c && cv->file_index == b->file_index && strcmp(cv->tfmt, b->tfmt) == 0) return 0;
    imp_csv_destroy(cv->c);
    cv->c = NULL;
    imp_csv_opts o = *x->r->o->csvo;
    o.strata = b->fmt == FMT_STRATA;
    if (b->tfmt[0]) o.time_format = b->tfmt;
    char err[400];
    uint32_t nl;
    int rc = imp_csv_create(&o, &cv->c, err, sizeof err);
    if (!rc) rc = imp_csv_record(cv->c, b->head.ptr ? b->head.ptr : "", b->head.len, &cv->text, &nl, err, sizeof err);
    if (rc) {
        set_fatal(x->r, EXIT_REJECTED, "%s: %s", b->file, rc == ST_ENOMEM ? "out of memory" : err);
        return ST_ECLOSED;
    }
    cv->file_index = b->file_index;
    snprintf(cv->tfmt, sizeof cv->tfmt, "%s", b->tfmt);
    return 0;
}

typedef int (*csv_row_fn)(imp_worker *x, const char *rec, size_t len);

/* The row (physical line in the file) of the record being converted. */
static uint64_t csv_row(imp_worker *x)
{
    x->row_no += count_lf(x->row_pos, x->rec);
    x->row_pos = x->rec;
    return x->row_no;
}

/* Each record of b's raw in order to fn (csv_row tells its row). A row in a repeated autumn hour at the start of a
 * chunk waits for the state the chunks before leave. The batch's own end
 * state is published once its records are through (a converter that
 * cannot be made stops the import, which wakes any waiter). 0, ST_ECLOSED
 * (stopped) or fn's error. */
static int csv_each(imp_worker *x, imp_batch *b, csv_row_fn fn)
{
    int rc = csv_conv_for(x, b);
    if (rc) return rc;
    imp_csv *c = x->cv.c;
    imp_csv_carry in = { .known = b->file_first };
    imp_csv_carry_set(c, &in);
    imp_csv_cut_reset(c);
    const char *p = b->raw.ptr, *end = p + b->raw.len;
    x->row_pos = p;
    x->row_no = b->raw_row;
    while (p < end && !rc) {
        const char *lf = imp_csv_cut(c, p, end);
        const char *e = lf ? lf : end;
        x->rec = p;
        x->rec_len = (size_t)(e - p);
        rc = fn(x, p, (size_t)(e - p));
        if (rc == IMP_CSV_NEED_CARRY) {
            rc = carry_wait(x->r, b->seq, &in) ? ST_ECLOSED : 0;
            if (!rc) {
                imp_csv_carry_set(c, &in);
                rc = fn(x, p, (size_t)(e - p));
            }
        }
        p = lf ? lf + 1 : end;
    }
    imp_csv_carry out;
    imp_csv_carry_get(c, &out);
    carry_publish(x->r, b->seq, &out);
    return rc;
}

/* A record converted with rc (nl lines, err): a row error is reported
 * (0), nothing to write (0), else its lines counted (1); other codes as
 * they are. */
static int csv_row_count(imp_worker *x, int rc, uint32_t nl, const char *err)
{
    if (rc == ST_EPARSE) {
        x->csv_lines++;
        reject_row(x->r, x->b, csv_row(x), err);
        return 0;
    }
    if (rc || nl == 0) return rc;
    x->csv_lines += nl;
    x->b->lines += nl;
    return 1;
}

/* HTTP: a record's line into the batch's body, each of its physical lines
 * mapped to the row (the server's errors name FILE:ROW). */
static int csv_row_text(imp_worker *x, const char *rec, size_t len)
{
    imp_batch *b = x->b;
    size_t before = b->body.len;
    uint32_t nl = 0;
    char err[400];
    int rc = imp_csv_record(x->cv.c, rec, len, &b->body, &nl, err, sizeof err);
    if ((rc = csv_row_count(x, rc, nl, err)) != 1) return rc;
    uint64_t row = csv_row(x);
    for (const char *l = b->body.ptr + before, *e = b->body.ptr + b->body.len; (l = memchr(l, '\n', (size_t)(e - l))) != NULL; l++) {
        if (batch_push_row(b, row)) return ST_ENOMEM;
        b->phys_lines++;
    }
    return 0;
}

/* HTTP: the batch's records as line protocol in its body. 0 to send it, 1
 * when no line came out (acknowledged here: nothing to send), ST_ECLOSED. */
static int csv_to_body(imp_worker *x, imp_batch *b)
{
    imp_run *r = x->r;
    x->b = b;
    x->csv_lines = 0;
    int rc = csv_each(x, b, csv_row_text);
    if (rc && rc != ST_ECLOSED) set_fatal(r, EXIT_REJECTED, "%s", st_strerror(rc));
    if (rc) return ST_ECLOSED;
    pthread_mutex_lock(&r->mu);
    r->csv_lines += x->csv_lines;
    if (b->lines == 0) wm_ack(r, b);
    pthread_mutex_unlock(&r->mu);
    return b->lines == 0;
}

/* ---- --offline: parse the batch and write it into the storage engine ---- */

static void off_error(imp_worker *x, uint64_t lineno, const char *msg, size_t len)
{
    uint64_t row = x->held ? x->held->row : x->rec ? csv_row(x)
                 : batch_row(x->b, x->b->first_line + (lineno ? lineno - 1 : 0));
    pthread_mutex_lock(&x->r->mu);
    add_error(x->r, x->b, row, msg, len);
    pthread_mutex_unlock(&x->r->mu);
    x->bad++;
}

static int off_on_error(void *ctx, uint64_t lineno, st_slice msg)
{
    off_error(ctx, lineno, msg.ptr, msg.len);
    return 0;
}

static int off_on_line(void *ctx, const lp_line *ln)
{
    imp_worker *x = ctx;
    char msg[512];
    uint32_t dropped = 0;
    int rc = lpstor_add(&x->adapt, x->sb, ln, msg, sizeof msg, &dropped);
    if (rc == LPSTOR_BAD_NAME || rc == LPSTOR_REFUSED) {
        st_slice raw = ln->raw;
        if (raw.len == 0 && x->rec) {
            /* a point imp_csv_point built: quote its line as the text way would */
            char err[400];
            uint32_t nl;
            st_buf_clear(&x->cv.quote);
            if (imp_csv_text(x->cv.c, x->held ? x->held->rec : x->rec, x->held ? x->held->rec_len : x->rec_len, ln->ts_ns,
                             &x->cv.quote, &nl, err, sizeof err) == 0 && x->cv.quote.len)
                raw = (st_slice){ x->cv.quote.ptr, x->cv.quote.len - 1 };
        }
        char full[700];
        int n = snprintf(full, sizeof full, "unable to write '%.*s': %s", (int)(raw.len > 120 ? 120 : raw.len), raw.ptr,
                         msg);
        off_error(x, ln->lineno, full, (size_t)n < sizeof full ? (size_t)n : sizeof full - 1);
        return 0;
    }
    return rc;
}

static void hold_clear(csv_hold *h)
{
    if (h->nseries) memset(h->slots, 0, h->cap_slots * sizeof *h->slots);
    h->n = h->nseries = h->ntags = h->nfields = 0;
    st_buf_clear(&h->keys);
}

/* The held points into the storage batch, series by series. */
static int hold_release(imp_worker *x)
{
    csv_hold *h = &x->hold;
    int rc = 0;
    for (size_t s = 0; s < h->nseries && !rc; s++) {
        const held_series *hs = &h->series[s];
        lp_line ln = { .measurement = hs->measurement, .tags = h->tags + hs->tag_off, .tag_count = hs->nt, .has_ts = 1,
                       .key = { h->keys.ptr + hs->key_off, hs->key_len }, .key_hash = hs->hash };
        for (uint32_t i = hs->first; i != UINT32_MAX && !rc; i = h->pts[i].next) {
            const held_pt *p = &h->pts[i];
            ln.fields = h->fields + p->field_off;
            ln.field_count = p->nf;
            ln.ts_ns = p->ts_ns;
            ln.quality = p->quality;
            ln.has_quality = p->has_quality;
            x->held = p;
            rc = off_on_line(x, &ln);
        }
    }
    x->held = NULL;
    hold_clear(h);
    return rc;
}

/* Hold a point built from the record being converted (no quoted cell). */
static int hold_point(imp_worker *x, const lp_line *ln)
{
    csv_hold *h = &x->hold;
    int rc;
    if (h->n == HOLD_MAX && (rc = hold_release(x))) return rc;
    if ((h->nseries + 1) * 2 > h->cap_slots) { /* more slots: place the series again */
        size_t cap = h->cap_slots ? h->cap_slots * 2 : 256;
        uint32_t *sl = st_calloc(cap, sizeof *sl);
        if (!sl) return ST_ENOMEM;
        for (size_t s = 0; s < h->nseries; s++) {
            size_t k = (size_t)h->series[s].hash & (cap - 1);
            while (sl[k]) k = (k + 1) & (cap - 1);
            sl[k] = (uint32_t)s + 1;
        }
        st_free(h->slots);
        h->slots = sl;
        h->cap_slots = cap;
    }
    if (st_grow(&h->pts, &h->cap, h->n + 1, sizeof *h->pts, 64) ||
        st_grow(&h->fields, &h->cap_fields, h->nfields + ln->field_count, sizeof *h->fields, 64))
        return ST_ENOMEM;
    uint64_t hash = lp_key_hash(ln->key.ptr, ln->key.len);
    size_t k = (size_t)hash & (h->cap_slots - 1);
    held_series *hs = NULL;
    for (; h->slots[k]; k = (k + 1) & (h->cap_slots - 1)) {
        held_series *c = &h->series[h->slots[k] - 1];
        if (c->hash == hash && c->key_len == ln->key.len && memcmp(h->keys.ptr + c->key_off, ln->key.ptr, ln->key.len) == 0) {
            hs = c;
            break;
        }
    }
    uint32_t i = (uint32_t)h->n;
    if (!hs) {
        if (st_grow(&h->series, &h->cap_series, h->nseries + 1, sizeof *h->series, 64) ||
            st_grow(&h->tags, &h->cap_tags, h->ntags + ln->tag_count + 1, sizeof *h->tags, 64)) /* never NULL */
            return ST_ENOMEM;
        hs = &h->series[h->nseries];
        *hs = (held_series){ hash, h->keys.len, (uint32_t)ln->key.len, ln->tag_count, h->ntags, ln->measurement, i, i };
        if (st_buf_append(&h->keys, ln->key.ptr, ln->key.len)) return ST_ENOMEM;
        memcpy(h->tags + h->ntags, ln->tags, ln->tag_count * sizeof *ln->tags);
        h->ntags += ln->tag_count;
        h->slots[k] = (uint32_t)++h->nseries;
    } else {
        h->pts[hs->last].next = i;
        hs->last = i;
    }
    memcpy(h->fields + h->nfields, ln->fields, ln->field_count * sizeof *ln->fields);
    h->pts[h->n++] = (held_pt){ (uint32_t)(hs - h->series), UINT32_MAX, h->nfields, ln->field_count, ln->has_quality,
                                ln->quality, ln->ts_ns, x->rec, x->rec_len, csv_row(x) };
    h->nfields += ln->field_count;
    return 0;
}

/* --offline: a record's point into the storage batch (held, see csv_hold);
 * rows the converter cannot build itself go through the parser as line
 * protocol. */
static int csv_row_point(imp_worker *x, const char *rec, size_t len)
{
    lp_line ln;
    uint32_t nl = 0;
    char err[400];
    int rc;
    /* cells in the converter's scratch cannot be held: the held go first */
    int quoted = memchr(rec, '"', len) != NULL;
    if (quoted && x->hold.n && (rc = hold_release(x))) return rc;
    rc = imp_csv_point(x->cv.c, rec, len, &ln, err, sizeof err);
    int text = rc == IMP_CSV_TEXT;
    if (text) {
        st_buf_clear(&x->cv.text);
        rc = imp_csv_text(x->cv.c, rec, len, ln.ts_ns, &x->cv.text, &nl, err, sizeof err);
    } else if (rc == 0) {
        nl = ln.field_count > 0;
    }
    if ((rc = csv_row_count(x, rc, nl, err)) != 1) return rc;
    if (!text) return quoted ? off_on_line(x, &ln) : hold_point(x, &ln);
    if (x->hold.n && (rc = hold_release(x))) return rc;
    if (!x->csv_lp && lp_parser_create(&x->lo, off_on_line, off_on_error, x, &x->csv_lp)) return ST_ENOMEM;
    rc = lp_parser_feed(x->csv_lp, x->cv.text.ptr, x->cv.text.len);
    return rc ? rc : lp_parser_finish(x->csv_lp);
}

static void off_done(void *arg, int status)
{
    imp_worker *x = arg;
    pthread_mutex_lock(&x->mu);
    x->done = 1;
    x->status = status;
    pthread_cond_signal(&x->cv_done);
    pthread_mutex_unlock(&x->mu);
}

static int send_batch_offline(imp_run *r, imp_batch *b, imp_worker *x)
{
    x->b = b;
    x->bad = 0;
    x->done = 0;
    x->rec = NULL;
    x->csv_lines = 0;
    int rc = stor_batch_create(r->o->storage, r->o->db_id, &x->sb);
    if (rc) { set_fatal(r, EXIT_SERVER, "storage: %s", st_strerror(rc)); return -1; }
    if (b->fmt == FMT_LP) {
        x->lo.default_ts_ns = st_now_ns() / r->o->unit_ns * r->o->unit_ns;
        rc = lp_parse_buffer(&x->lo, b->body.ptr ? b->body.ptr : "", b->body.len, off_on_line, off_on_error, x, NULL);
    } else {
        rc = csv_each(x, b, csv_row_point);
        if (!rc) rc = hold_release(x);
        hold_clear(&x->hold);
    }
    if (rc) {
        stor_batch_destroy(x->sb);
        x->sb = NULL;
        if (rc != ST_ECLOSED) set_fatal(r, EXIT_REJECTED, "%s", st_strerror(rc));
        return -1;
    }
    /* Parsed in parallel, applied in read order: the head then takes the
     * points as appends (compressed), not into its out-of-order buffer. */
    pthread_mutex_lock(&r->mu);
    while (r->apply_next != b->seq && !atomic_load(&r->stop)) pthread_cond_wait(&r->cv_apply, &r->mu);
    int stopped = atomic_load(&r->stop);
    pthread_mutex_unlock(&r->mu);
    if (stopped) { stor_batch_destroy(x->sb); x->sb = NULL; return -1; }
    rc = stor_write(x->sb, off_done, x);
    x->sb = NULL;
    pthread_mutex_lock(&r->mu);
    r->apply_next++;
    pthread_cond_broadcast(&r->cv_apply);
    pthread_mutex_unlock(&r->mu);
    if (rc == 0) {
        pthread_mutex_lock(&x->mu);
        while (!x->done) pthread_cond_wait(&x->cv_done, &x->mu);
        pthread_mutex_unlock(&x->mu);
        rc = x->status;
    }
    if (rc) { set_fatal(r, EXIT_SERVER, "storage refused the write: %s", st_strerror(rc)); return -1; }
    pthread_mutex_lock(&r->mu);
    uint64_t bad = x->bad > b->lines ? b->lines : x->bad;
    r->rejected += bad;
    r->written += b->lines - bad;
    r->csv_lines += x->csv_lines;
    r->batches++;
    wm_ack(r, b);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static void *worker_main(void *arg)
{
    imp_run *r = arg;
    const imp_opts *o = r->o;
    httpc_opts ho = { .connect_timeout_ms = o->timeout_ms, .io_timeout_ms = o->timeout_ms, .headers = o->auth };
    httpc *c = NULL;
    imp_worker x;
    memset(&x, 0, sizeof x);
    x.r = r;
    st_buf_init(&x.cv.text);
    st_buf_init(&x.cv.quote);
    st_buf_init(&x.hold.keys);
    lpstor_init(&x.adapt);
    pthread_mutex_init(&x.mu, NULL);
    pthread_cond_init(&x.cv_done, NULL);
    x.lo.precision = o->unit_ns == 1 ? LP_PRECISION_NS : o->unit_ns == 1000 ? LP_PRECISION_US
                   : o->unit_ns == 1000000 ? LP_PRECISION_MS : o->unit_ns == 1000000000 ? LP_PRECISION_S
                   : o->unit_ns == 60000000000LL ? LP_PRECISION_M : LP_PRECISION_H;
    x.lo.quality_field = st_slice_cstr(o->quality_field ? o->quality_field : "quality");
    if (!o->storage && httpc_create(&o->url, &ho, &c)) set_fatal(r, EXIT_REJECTED, "out of memory");
    httpc_resp resp;
    httpc_resp_init(&resp);
    st_buf etext;
    st_buf_init(&etext);
    const imp_csv_carry untouched = { 0 };
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->q_head && !r->reading_done && !atomic_load(&r->stop)) pthread_cond_wait(&r->cv_work, &r->mu);
        imp_batch *b = atomic_load(&r->stop) ? NULL : r->q_head;
        if (b) {
            r->q_head = b->next;
            if (!r->q_head) r->q_tail = NULL;
        }
        pthread_mutex_unlock(&r->mu);
        if (!b) break;
        if (b->fmt == FMT_LP) carry_publish(r, b->seq, &untouched);
        if (o->throttle_ms) sleep_ms(r, o->throttle_ms);
        if (o->storage) send_batch_offline(r, b, &x);
        else if (b->fmt == FMT_LP || csv_to_body(&x, b) == 0) send_batch(r, c, b, &resp, &etext);
        put_free(r, b);
    }
    imp_csv_destroy(x.cv.c);
    st_buf_fini(&x.cv.text);
    st_buf_fini(&x.cv.quote);
    st_free(x.hold.pts);
    st_free(x.hold.series);
    st_free(x.hold.slots);
    st_free(x.hold.tags);
    st_free(x.hold.fields);
    st_buf_fini(&x.hold.keys);
    lp_parser_destroy(x.csv_lp);
    lpstor_fini(&x.adapt);
    pthread_mutex_destroy(&x.mu);
    pthread_cond_destroy(&x.cv_done);
    st_buf_fini(&etext);
    httpc_resp_fini(&resp);
    httpc_destroy(c);
    return NULL;
}

/* Next free batch buffer; NULL when stopped. */
static imp_batch *get_free(imp_run *r)
{
    pthread_mutex_lock(&r->mu);
    imp_batch *b = NULL;
    for (;;) {
        if (atomic_load(&r->stop)) break;
        if (r->free_list) {
            b = r->free_list;
            r->free_list = b->next;
            break;
        }
        if (r->allocated < r->max_batches) {
            b = st_calloc(1, sizeof *b);
            if (b) {
                st_buf_init(&b->body);
                r->allocated++;
            }
            break;
        }
        if (g_sigint) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&r->cv_free, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    if (b) batch_reset(b);
    return b;
}

static int cmp_error(const void *a, const void *b)
{
    const imp_error *x = a, *y = b;
    if (x->file_index != y->file_index) return x->file_index < y->file_index ? -1 : 1;
    return (x->lineno > y->lineno) - (x->lineno < y->lineno);
}

/* ---- options ---- */

static void import_usage(FILE *f, const char *cmd)
{
    fprintf(f,
            "usage: strata %s [OPTIONS] FILE...|-\n"
            "Send line protocol or CSV (plain, gzip or zstd; '-' reads stdin) to a running stratad.\n\n"
            "  --url URL            server (default http://127.0.0.1:8086)\n"
            "  --db NAME            database (POST /write); or\n"
            "  --bucket NAME        bucket, db or db/rp (POST /api/v2/write)\n"
            "  --rp NAME            retention policy (with --db)\n"
            "  --org NAME           organisation (with --bucket; passed through)\n"
            "  --precision P        timestamp unit: n, u, ms, s, m, h (default n; --bucket: n, u, ms, s)\n"
            "  --batch-bytes N      bytes per request, cut at line ends (default 1048576; CSV: input bytes\n"
            "                       per batch, cut at record ends: a request holds their lines)\n"
            "  --workers N          parallel connections (default: CPU cores)\n"
            "  --user U --password P   HTTP Basic credentials\n"
            "  --token T            Authorization: Token T\n"
            "  --retries N          retries on connection errors and 5xx (default 5)\n"
            "  --retry-backoff MS   first retry delay, doubling each time (default 500)\n"
            "  --timeout S          connect / I/O timeout in seconds (default 60)\n"
            "  --format F           lp, csv or strata-csv (default: detected per file)\n"
            "  --resume             go on from the state an interrupted import saved (one FILE)\n"
            "  --state-file PATH    where that state lives (default FILE" IMP_STATE_SUFFIX ")\n"
            "  --no-progress        no progress bar even on a terminal\n"
            "CSV:\n"
            "  --measurement M      measurement of every row (required for csv)\n"
            "  --tag k=v            tag added to every row (repeatable)\n"
            "  --delimiter D        , ; tab (default: detected from the header)\n"
            "  --time-column NAME   default: time, timestamp, date, datetime or _time\n"
            "  --time-format F      rfc3339, epoch-s|ms|us|ns, 'YYYY-MM-DD HH:MM:SS', 'DD.MM.YYYY HH:MM:SS'\n"
            "                       or a pattern of %%Y %%m %%d %%H %%M %%S %%f (default: detected)\n"
            "  --timezone ZONE      IANA zone of times without an offset (default UTC)\n"
            "  --int-columns A,B    columns sent as integers (default: numbers are floats)\n"
            "  --tag-columns A,B    wide form: these columns become tags of each row's line, not fields\n"
            "  --name-column C      long form: one row = one value of tag tag=<C>, field value\n"
            "  --value-column C     long form value column (default value)\n"
            "  --quality-column C   integer or Good/Bad/Uncertain -> the point's quality\n"
            "  --quality-field K    the server's quality field key (default quality)\n\n"
            "Lines without a timestamp are stamped with the time they are read.\n"
            "Exit: 0 all written, 1 lines rejected or input error, 2 usage, 3 server unreachable or refused,\n"
            "130 interrupted (state saved; run again with --resume).\n",
            cmd);
}

static int parse_int(const char *cmd, const char *name, const char *v, long long min, long long max, long long *out)
{
    char *e;
    errno = 0;
    long long x = strtoll(v, &e, 10);
    if (errno || e == v || *e || x < min || x > max) {
        fprintf(stderr, "strata %s: %s must be an integer in [%lld, %lld], got '%s'\n", cmd, name, min, max, v);
        return -1;
    }
    *out = x;
    return 0;
}

static void print_summary(const char *cmd, const imp_source *src, const imp_run *r, double secs)
{
    fprintf(stderr,
            "strata %s: read %" PRIu64 " lines (%" PRIu64 " bytes) from %" PRIu64 " files, wrote %" PRIu64
            " lines in %" PRIu64 " batches, rejected %" PRIu64 " lines in %.3f s (%.0f lines/s)\n",
            cmd, src->lines + r->csv_lines, src->bytes, src->files, r->written, r->batches, r->rejected, secs,
            secs > 0 ? (double)r->written / secs : 0.0);
    for (size_t i = 0; i < r->nerrors; i++) fprintf(stderr, "%s\n", r->errors[i].text);
    if (r->errors_total > r->nerrors)
        fprintf(stderr, "(and %" PRIu64 " more errors)\n", r->errors_total - r->nerrors);
}

/* ---- resume state ---- */

typedef struct imp_ident {
    uint64_t size;
    int64_t mtime_ns;
    uint64_t head_hash; /* FNV-1a 64 of the first 4 KiB */
} imp_ident;

static int ident_read(const char *path, imp_ident *id)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) { if (fd >= 0) close(fd); return -1; }
    unsigned char buf[4096];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < got; i++) h = (h ^ buf[i]) * 1099511628211ULL;
    id->size = (uint64_t)sb.st_size;
    id->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    id->head_hash = h;
    return 0;
}

typedef struct imp_state {
    const char *path;     /* borrowed / owned by main */
    imp_ident id;
    int fmt;
    imp_run *r;
    uint64_t saved;       /* watermark last written */
    int have_saved;
    pthread_mutex_t mu;   /* one writer at a time (ticker, main) */
} imp_state;

/* Write the state atomically: temp, fsync, rename. 0 or -1 (errno). */
static int state_save(imp_state *st)
{
    pthread_mutex_lock(&st->r->mu);
    uint64_t wm = st->r->watermark;
    pthread_mutex_unlock(&st->r->mu);
    pthread_mutex_lock(&st->mu);
    int rc = 0;
    if (st->have_saved && wm == st->saved) goto out;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", st->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { rc = -1; goto out; }
    char text[512];
    int n = snprintf(text, sizeof text,
                     "strata-import-state 1\nsize %" PRIu64 "\nmtime_ns %" PRId64 "\nhead_hash %016" PRIx64
                     "\nformat %d\nwatermark %" PRIu64 "\n",
                     st->id.size, st->id.mtime_ns, st->id.head_hash, st->fmt, wm);
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) { close(fd); unlink(tmp); rc = -1; goto out; }
    close(fd);
    if (rename(tmp, st->path) != 0) { unlink(tmp); rc = -1; goto out; }
    st->saved = wm;
    st->have_saved = 1;
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* 0 and *wm; 1 no state file; -1 refused (msg). */
static int state_load(const imp_state *st, uint64_t *wm, char *msg, size_t cap)
{
    FILE *f = fopen(st->path, "r");
    if (!f) return 1;
    imp_ident id;
    int fmt = -1, ver = 0;
    unsigned long long w = 0, size = 0, hash = 0;
    long long mt = 0;
    int ok = fscanf(f, "strata-import-state %d size %llu mtime_ns %lld head_hash %llx format %d watermark %llu", &ver,
                    &size, &mt, &hash, &fmt, &w) == 6;
    fclose(f);
    if (!ok || ver != 1) { snprintf(msg, cap, "%s: not a strata import state file", st->path); return -1; }
    id.size = size;
    id.mtime_ns = mt;
    id.head_hash = hash;
    if (id.size != st->id.size || id.mtime_ns != st->id.mtime_ns || id.head_hash != st->id.head_hash) {
        snprintf(msg, cap, "the input changed since %s was saved (size, mtime or first 4 KiB differ): refusing to resume",
                 st->path);
        return -1;
    }
    if (fmt != st->fmt) { snprintf(msg, cap, "%s was saved for another --format", st->path); return -1; }
    *wm = w;
    return 0;
}

/* ---- the ticker: progress line and periodic state saves ---- */

typedef struct imp_tick {
    imp_source *src;
    imp_run *r;
    uint64_t total;
    imp_state *state;   /* NULL without resume state */
    int ticks;
} imp_tick;

static void tick_sample(void *arg, prog_sample *out)
{
    imp_tick *t = arg;
    out->bytes_done = atomic_load(&t->src->raw_done);
    out->bytes_total = t->total;
    pthread_mutex_lock(&t->r->mu);
    out->rows = t->r->written + t->r->rejected;
    pthread_mutex_unlock(&t->r->mu);
}

static void tick_tick(void *arg)
{
    imp_tick *t = arg;
    if (t->state && ++t->ticks % 10 == 0) state_save(t->state);
}

int tool_import_main(int argc, char **argv)
{
    const char *cmd = argv[0];
    const char *url = "http://127.0.0.1:8086", *db = NULL, *bucket = NULL, *rp = NULL, *org = NULL;
    const char *precision = NULL, *user = NULL, *password = NULL, *token = NULL;
    const char *format = NULL, *state_file = NULL, *offline = NULL;
    stor *storage = NULL;
    int resume = 0, no_progress = 0;
    long long batch_bytes = 1 << 20, workers = 0, retries = 5, backoff = 500, timeout_s = 60, throttle = 0;
    imp_csv_opts csvo;
    memset(&csvo, 0, sizeof csvo);
    char **files = st_calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0, stdin_seen = 0;
    if (!files) { fprintf(stderr, "strata %s: out of memory\n", cmd); return EXIT_USAGE; }
    int ret = EXIT_USAGE;
    imp_opts o;
    memset(&o, 0, sizeof o);
    imp_source *src = NULL;
    imp_run *rp_run = st_calloc(1, sizeof *rp_run);
    if (!rp_run) { st_free(files); fprintf(stderr, "strata %s: out of memory\n", cmd); return EXIT_USAGE; }
    imp_run *r = rp_run;
    int run_ready = 0;
    pthread_t *threads = NULL;
    int nthreads = 0;
    imp_state state;
    memset(&state, 0, sizeof state);
    pthread_mutex_init(&state.mu, NULL);
    char *state_path = NULL;
    progress *prog = NULL;
    struct sigaction old_sa;
    int sa_set = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { import_usage(stdout, cmd); ret = 0; goto out; }
        if (strcmp(a, "-") == 0 || a[0] != '-') {
            if (strcmp(a, "-") == 0 && stdin_seen++) {
                fprintf(stderr, "strata %s: '-' (stdin) given twice\n", cmd);
                goto out;
            }
            files[nfiles++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            while (++i < argc) files[nfiles++] = argv[i];
            break;
        }
        if (!strcmp(a, "--resume")) { resume = 1; continue; }
        if (!strcmp(a, "--no-progress")) { no_progress = 1; continue; }
        const char *v = NULL;
        char name[64];
        const char *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 < argc) v = argv[i + 1], i++;
            else { fprintf(stderr, "strata %s: %s needs a value\n", cmd, a); goto out; }
        }
        if (!strcmp(name, "--url")) url = v;
        else if (!strcmp(name, "--offline")) offline = v;
        else if (!strcmp(name, "--db")) db = v;
        else if (!strcmp(name, "--bucket")) bucket = v;
        else if (!strcmp(name, "--rp")) rp = v;
        else if (!strcmp(name, "--org")) org = v;
        else if (!strcmp(name, "--precision")) precision = v;
        else if (!strcmp(name, "--user") || !strcmp(name, "--username")) user = v;
        else if (!strcmp(name, "--password")) password = v;
        else if (!strcmp(name, "--token")) token = v;
        else if (!strcmp(name, "--format")) format = v;
        else if (!strcmp(name, "--state-file")) state_file = v;
        else if (!strcmp(name, "--measurement")) csvo.measurement = v;
        else if (!strcmp(name, "--tag")) {
            if (csvo.ntags == IMP_CSV_MAX_LIST) { fprintf(stderr, "strata %s: at most %d --tag\n", cmd, IMP_CSV_MAX_LIST); goto out; }
            csvo.tags[csvo.ntags++] = v;
        } else if (!strcmp(name, "--delimiter")) {
            if (!strcmp(v, "tab") || !strcmp(v, "\\t") || !strcmp(v, "\t")) csvo.delimiter = '\t';
            else if (!strcmp(v, ",") || !strcmp(v, ";")) csvo.delimiter = v[0];
            else { fprintf(stderr, "strata %s: --delimiter must be ',', ';' or tab\n", cmd); goto out; }
        } else if (!strcmp(name, "--time-column")) csvo.time_column = v;
        else if (!strcmp(name, "--time-format")) csvo.time_format = v;
        else if (!strcmp(name, "--timezone")) csvo.timezone = v;
        else if (!strcmp(name, "--int-columns")) csvo.int_columns = v;
        else if (!strcmp(name, "--tag-columns")) csvo.tag_columns = v;
        else if (!strcmp(name, "--name-column")) csvo.name_column = v;
        else if (!strcmp(name, "--value-column")) csvo.value_column = v;
        else if (!strcmp(name, "--quality-column")) csvo.quality_column = v;
        else if (!strcmp(name, "--quality-field")) csvo.quality_field = v;
        else if (!strcmp(name, "--batch-bytes")) {
            if (parse_int(cmd, name, v, 1, 1LL << 30, &batch_bytes)) goto out;
        } else if (!strcmp(name, "--workers")) {
            if (parse_int(cmd, name, v, 1, 256, &workers)) goto out;
        } else if (!strcmp(name, "--retries")) {
            if (parse_int(cmd, name, v, 0, 100, &retries)) goto out;
        } else if (!strcmp(name, "--retry-backoff")) {
            if (parse_int(cmd, name, v, 0, 600000, &backoff)) goto out;
        } else if (!strcmp(name, "--timeout")) {
            if (parse_int(cmd, name, v, 1, 86400, &timeout_s)) goto out;
        } else if (!strcmp(name, "--throttle-ms")) { /* testing: slow the senders down */
            if (parse_int(cmd, name, v, 0, 60000, &throttle)) goto out;
        } else {
            fprintf(stderr, "strata %s: unknown option '%s' (see strata %s --help)\n", cmd, name, cmd);
            goto out;
        }
    }
    if (nfiles == 0) { fprintf(stderr, "strata %s: no input (give FILE... or - for stdin)\n", cmd); goto out; }
    if (!db == !bucket) { fprintf(stderr, "strata %s: give exactly one of --db or --bucket\n", cmd); goto out; }
    if (rp && !db) { fprintf(stderr, "strata %s: --rp goes with --db (use --bucket db/rp)\n", cmd); goto out; }
    if (token && (user || password)) { fprintf(stderr, "strata %s: give --token or --user/--password, not both\n", cmd); goto out; }
    if (!user != !password) { fprintf(stderr, "strata %s: --user and --password go together\n", cmd); goto out; }
    int fmt = FMT_AUTO;
    if (format) {
        if (!strcmp(format, "lp")) fmt = FMT_LP;
        else if (!strcmp(format, "csv")) fmt = FMT_CSV;
        else if (!strcmp(format, "strata-csv")) fmt = FMT_STRATA;
        else if (strcmp(format, "auto")) { fprintf(stderr, "strata %s: --format must be lp, csv or strata-csv\n", cmd); goto out; }
    }
    if (resume && (nfiles != 1 || !strcmp(files[0], "-"))) {
        fprintf(stderr, "strata %s: --resume works with exactly one input file (not stdin)\n", cmd);
        goto out;
    }
    char err[300];
    if (httpc_url_parse(url, &o.url, err, sizeof err)) { fprintf(stderr, "strata %s: --url: %s\n", cmd, err); goto out; }
    o.url_text = url;

    /* Precision: unit and the name the endpoint expects. */
    static const struct { const char *names[3]; const char *v1, *v2; int64_t unit; } precs[] = {
        { { "n", "ns", NULL }, "n", "ns", 1 },
        { { "u", "us", NULL }, "u", "us", 1000 },
        { { "ms", NULL, NULL }, "ms", "ms", 1000000 },
        { { "s", NULL, NULL }, "s", "s", 1000000000 },
        { { "m", NULL, NULL }, "m", NULL, 60000000000LL },
        { { "h", NULL, NULL }, "h", NULL, 3600000000000LL },
    };
    int pi = 0;
    if (precision) {
        pi = -1;
        for (int k = 0; k < 6 && pi < 0; k++)
            for (int j = 0; j < 3 && precs[k].names[j]; j++)
                if (!strcmp(precision, precs[k].names[j])) pi = k;
        if (pi < 0) { fprintf(stderr, "strata %s: --precision must be n, u, ms, s, m or h, got '%s'\n", cmd, precision); goto out; }
        if (bucket && !precs[pi].v2) {
            fprintf(stderr, "strata %s: --precision %s is not available with --bucket (v2 takes n, u, ms, s)\n", cmd, precision);
            goto out;
        }
    }
    o.unit_ns = precs[pi].unit;
    csvo.unit_ns = o.unit_ns;
    if (!csvo.quality_field) csvo.quality_field = "quality";
    {
        /* Check the CSV options once, up front, when CSV is asked for. */
        if (fmt == FMT_CSV) {
            imp_csv *probe = NULL;
            char cerr[400];
            if (imp_csv_create(&csvo, &probe, cerr, sizeof cerr)) { fprintf(stderr, "strata %s: %s\n", cmd, cerr); goto out; }
            imp_csv_destroy(probe);
        }
    }
    st_buf t;
    st_buf_init(&t);
    if (db) {
        st_buf_append_str(&t, "/write?db=");
        httpc_urlencode(&t, db, strlen(db));
        if (rp) { st_buf_append_str(&t, "&rp="); httpc_urlencode(&t, rp, strlen(rp)); }
        st_buf_printf(&t, "&precision=%s", precs[pi].v1);
    } else {
        st_buf_append_str(&t, "/api/v2/write?bucket=");
        httpc_urlencode(&t, bucket, strlen(bucket));
        if (org) { st_buf_append_str(&t, "&org="); httpc_urlencode(&t, org, strlen(org)); }
        st_buf_printf(&t, "&precision=%s", precs[pi].v2);
    }
    o.target = st_buf_take(&t);
    if (user || token) {
        st_buf_init(&t);
        if (token) st_buf_printf(&t, "Authorization: Token %s\r\n", token);
        else {
            st_buf cred;
            st_buf_init(&cred);
            st_buf_printf(&cred, "%s:%s", user, password);
            st_buf_append_str(&t, "Authorization: Basic ");
            httpc_base64(&t, cred.ptr, cred.len);
            st_buf_append_str(&t, "\r\n");
            st_buf_fini(&cred);
        }
        o.auth = st_buf_take(&t);
        if (!o.auth) { fprintf(stderr, "strata %s: out of memory\n", cmd); goto out; }
    }
    if (!o.target) { fprintf(stderr, "strata %s: out of memory\n", cmd); goto out; }
    if (workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n < 1 ? 1 : n > 64 ? 64 : n;
    }
    o.batch_bytes = (size_t)batch_bytes;
    o.workers = (int)workers;
    o.retries = (int)retries;
    o.backoff_ms = (int)backoff;
    o.timeout_ms = (int)(timeout_s * 1000);
    o.throttle_ms = (int)throttle;
    o.quality_field = csvo.quality_field;
    o.csvo = &csvo;
    if (offline) {
        if (!db) { fprintf(stderr, "strata %s: --offline needs --db\n", cmd); goto out; }
        /* Straight into the engine, without a WAL: the close below flushes
         * everything to segment files; an interrupted import is run again
         * (points are idempotent: the same point overwrites itself). */
        st_log_set_level(ST_LOG_WARN);
        /* Workers, the flush thread and the catalog thread each get a glibc
         * malloc arena by default, and the chunks of a flushed head stay
         * free in the arena that made them while the next head grows in
         * another: the peak RSS doubled (with two arenas it still reached
         * 110 MB now and then). One arena reuses them. */
        mallopt(M_ARENA_MAX, 1);
        stor_opts so;
        memset(&so, 0, sizeof so);
        so.data_dir = offline;
        so.fsync_mode = STOR_FSYNC_NEVER;
        so.bulk_load = 1;           /* no WAL: durable at the closing flush */
        so.max_head_bytes = 48u << 20; /* two heads of 24 MiB at most: the CLI stays under 100 MB */
        so.block_cache_bytes = 16u << 20;
        int src_rc = stor_open(&so, &storage);
        if (src_rc == ST_EBUSY) {
            fprintf(stderr, "strata %s: %s is in use by a running stratad: stop it first, or import over HTTP (without --offline)\n",
                    cmd, offline);
            ret = EXIT_SERVER;
            goto out;
        }
        if (src_rc) { fprintf(stderr, "strata %s: cannot open %s: %s\n", cmd, offline, st_strerror(src_rc)); ret = EXIT_SERVER; goto out; }
        if (stor_db_create(storage, st_slice_cstr(db), &o.db_id) != 0) {
            fprintf(stderr, "strata %s: cannot create database %s in %s\n", cmd, db, offline);
            ret = EXIT_SERVER;
            goto out;
        }
        o.storage = storage;
    }

    /* Every named file must open before anything is sent. */
    uint64_t total = 0;
    int total_known = 1;
    for (int i = 0; i < nfiles; i++) {
        if (!strcmp(files[i], "-")) { total_known = 0; continue; }
        struct stat sb;
        if (stat(files[i], &sb) != 0) { fprintf(stderr, "strata %s: %s: %s\n", cmd, files[i], strerror(errno)); goto out; }
        if (S_ISDIR(sb.st_mode)) { fprintf(stderr, "strata %s: %s: is a directory\n", cmd, files[i]); goto out; }
        if (S_ISREG(sb.st_mode)) total += (uint64_t)sb.st_size;
        else total_known = 0;
    }

    /* Resume state: one regular input file. */
    uint64_t skip = 0;
    struct stat sb0;
    if (nfiles == 1 && strcmp(files[0], "-") && stat(files[0], &sb0) == 0 && S_ISREG(sb0.st_mode)) {
        if (state_file) {
            state_path = st_malloc(strlen(state_file) + 1);
            if (state_path) strcpy(state_path, state_file);
        } else {
            st_buf sp;
            st_buf_init(&sp);
            const char *slash = strrchr(files[0], '/');
            char dir[4096];
            snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - files[0] + 1) : 1, slash ? files[0] : ".");
            if (access(dir, W_OK) == 0) st_buf_printf(&sp, "%s%s", files[0], IMP_STATE_SUFFIX);
            else st_buf_printf(&sp, "%s%s", slash ? slash + 1 : files[0], IMP_STATE_SUFFIX);
            state_path = st_buf_take(&sp);
        }
        if (!state_path) { fprintf(stderr, "strata %s: out of memory\n", cmd); goto out; }
        state.path = state_path;
        state.fmt = fmt;
        state.r = r;
        if (ident_read(files[0], &state.id) != 0) { fprintf(stderr, "strata %s: %s: %s\n", cmd, files[0], strerror(errno)); goto out; }
        if (resume) {
            char msg[600];
            int lr = state_load(&state, &skip, msg, sizeof msg);
            if (lr < 0) { fprintf(stderr, "strata %s: %s\n", cmd, msg); goto out; }
            if (lr > 0) fprintf(stderr, "strata %s: no saved state in %s: importing from the start\n", cmd, state_path);
            else fprintf(stderr, "strata %s: resuming %s at byte %" PRIu64 "\n", cmd, files[0], skip);
        }
    }

    ret = EXIT_REJECTED;
    if (lp_source_create(files, nfiles, o.batch_bytes, o.unit_ns, fmt, &csvo, skip, !o.storage, &src)) {
        fprintf(stderr, "strata %s: out of memory\n", cmd);
        goto out;
    }
    r->o = &o;
    r->max_batches = 2 * (size_t)o.workers + 1;
    r->watermark = skip;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv_work, NULL);
    pthread_cond_init(&r->cv_free, NULL);
    pthread_cond_init(&r->cv_apply, NULL);
    pthread_cond_init(&r->cv_carry, NULL);
    run_ready = 1;
    srand((unsigned)(time(NULL) ^ getpid()));
    threads = st_calloc((size_t)o.workers, sizeof *threads);
    if (!threads) { fprintf(stderr, "strata %s: out of memory\n", cmd); goto out; }
    g_sigint = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &old_sa) == 0) sa_set = 1;
    int64_t t0 = st_now_ns();
    for (int i = 0; i < o.workers; i++) {
        int rc = pthread_create(&threads[i], NULL, worker_main, r);
        if (rc) { set_fatal(r, EXIT_REJECTED, "cannot start a worker thread: %s", strerror(rc)); break; }
        nthreads++;
    }
    imp_tick tk = { src, r, total_known ? total : 0, state.path ? &state : NULL, 0 };
    int draw = isatty(2) && !no_progress;
    if (draw || tk.state) progress_start(2, draw, 100, tick_sample, tick_tick, &tk, &prog);
    uint64_t seq = 0;
    int input_error = 0;
    while (!atomic_load(&r->stop) && !g_sigint) {
        imp_batch *b = get_free(r);
        if (!b) {
            if (!atomic_load(&r->stop) && !g_sigint) set_fatal(r, EXIT_REJECTED, "out of memory");
            break;
        }
        int rc = src->next(src, b);
        if (rc <= 0) {
            put_free(r, b);
            if (rc < 0) {
                input_error = 1;
                /* Stop reading, but let the workers finish what is queued. */
                if (prog && draw) fprintf(stderr, "\n");
                fprintf(stderr, "strata %s: %s\n", cmd, src->errmsg);
            }
            break;
        }
        b->seq = seq++;
        pthread_mutex_lock(&r->mu);
        if (r->q_tail) r->q_tail->next = b;
        else r->q_head = b;
        r->q_tail = b;
        pthread_cond_signal(&r->cv_work);
        pthread_mutex_unlock(&r->mu);
    }
    pthread_mutex_lock(&r->mu);
    r->reading_done = 1;
    pthread_cond_broadcast(&r->cv_work);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < nthreads; i++) pthread_join(threads[i], NULL);
    progress_stop(prog);
    prog = NULL;
    double secs = (double)(st_now_ns() - t0) / 1e9;
    int interrupted = g_sigint != 0;

    qsort(r->errors, r->nerrors, sizeof r->errors[0], cmp_error);
    print_summary(cmd, src, r, secs);
    if (state.path) {
        if (interrupted || r->fatal_exit || input_error) {
            state.have_saved = 0;
            if (state_save(&state) == 0)
                fprintf(stderr, "strata %s: %s at byte %" PRIu64 ": state saved to %s; run the same command with --resume\n",
                        cmd, interrupted ? "interrupted" : "stopped", state.saved, state.path);
            else
                fprintf(stderr, "strata %s: cannot save the state to %s: %s\n", cmd, state.path, strerror(errno));
        } else {
            unlink(state.path);
        }
    }
    if (interrupted) {
        ret = EXIT_INTERRUPTED;
    } else if (r->fatal_exit) {
        fprintf(stderr, "strata %s: %s\n", cmd, r->fatal);
        ret = r->fatal_exit;
    } else if (input_error || r->rejected > 0) {
        ret = EXIT_REJECTED;
    } else {
        ret = EXIT_OK;
    }

out:
    progress_stop(prog);
    if (storage) stor_close(storage); /* syncs the WAL, flushes the head to segment files */
    if (sa_set) sigaction(SIGINT, &old_sa, NULL);
    if (run_ready) {
        for (imp_batch *b = r->free_list, *n; b; b = n) { n = b->next; batch_free(b); }
        for (imp_batch *b = r->q_head, *n; b; b = n) { n = b->next; batch_free(b); }
        for (size_t i = 0; i < r->nerrors; i++) st_free(r->errors[i].text);
        pthread_cond_destroy(&r->cv_free);
        pthread_cond_destroy(&r->cv_apply);
        pthread_cond_destroy(&r->cv_carry);
        pthread_cond_destroy(&r->cv_work);
        pthread_mutex_destroy(&r->mu);
    }
    pthread_mutex_destroy(&state.mu);
    st_free(state_path);
    st_free(rp_run);
    st_free(threads);
    if (src) src->destroy(src);
    st_free(o.target);
    st_free(o.auth);
    st_free(files);
    return ret;
}
