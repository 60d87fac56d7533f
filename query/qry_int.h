/*
 * query/qry_int.h — internals shared by the files of query/ (not a public
 * header): the result writer (JSON / CSV, query/json.c) and the value type
 * rows are made of. One writer per qry_execute call, one thread.
 */
#ifndef ST_QRY_INT_H
#define ST_QRY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/point.h"
#include "common/timefmt.h"
#include "storage/sindex.h"

/* A result cell: st_value with type ST_TYPE_NONE for null, or QV_TIME for
 * a timestamp (v.i, ns) printed in the request's time format. */
#define QV_TIME 100
typedef st_value qval;

/* Rows diverted from the response (a subquery's result feeding the outer
 * query): series() at each series, row() per row; non-zero = out of memory. */
typedef struct qw_capture {
    int (*series)(void *arg, st_slice name, const sidx_tag *tags, size_t ntags, const st_slice *cols, size_t ncols);
    int (*row)(void *arg, const qval *vals, size_t n);
    void *arg;
} qw_capture;

/* A time cell's text (JSON RFC3339, quotes excluded), by its nanoseconds. */
#define QW_TSLOTS 64
#define QW_TSLOT_TEXT 32
typedef struct qw_tslot {
    int64_t ns;
    uint8_t len;        /* 0: empty */
    char text[QW_TSLOT_TEXT];
} qw_tslot;

typedef struct qw {
    st_buf *out;        /* borrowed: the response body */
    int csv, epoch, chunked;
    int oom;            /* an append failed: the body is incomplete */
    const qw_capture *cap; /* borrowed: when set, series and rows go there instead */
    const struct st_tz *tz; /* borrowed: tz() of the current statement (RFC3339 times in its local time), or NULL */
    st_time_cache tcache; /* the date text of the last UTC time written */
    /* Time cells written before, direct-mapped by their time: GROUP BY
     * time(), tags writes the same windows' times for every group. For
     * tslot_tz's times (cleared when the statement's tz differs). */
    qw_tslot tslots[QW_TSLOTS];
    const struct st_tz *tslot_tz;
    /* current statement: its series go straight into out (JSON with an
     * out: opened at its first series, cut back to stmt_at if it fails),
     * else into stmt (CSV, and writers without an out whose text another
     * writer joins) */
    st_buf stmt;        /* owned: the statement's series (JSON) or lines (CSV) */
    size_t stmt_at;     /* out's length before the open statement */
    int stmt_open;      /* JSON into out: the statement's opening is written */
    int nseries;
    int nstmts_out;     /* statements written so far */
    /* current series (written lazily at its first row) */
    st_buf head;        /* owned: the series' opening text */
    int series_open;    /* begun */
    int series_written; /* head written (has rows) */
    /* CSV */
    st_buf csv_cols;    /* owned: the last header line */
    int csv_stmt_started;
    int csv_any_stmt;
    st_buf csv_prefix;  /* owned: "name,tags," of the current series */
} qw;

void qw_init(qw *w, st_buf *out, int csv, int epoch, int chunked);
void qw_fini(qw *w);
void qw_begin(qw *w);                         /* the response's opening */
void qw_end(qw *w);                           /* the response's closing */
void qw_series_begin(qw *w, st_slice name, const sidx_tag *tags, size_t ntags,
                     const st_slice *cols, size_t ncols);
void qw_row(qw *w, const qval *vals, size_t n);
void qw_series_end(qw *w);
/* Append the series another JSON writer wrote for this statement (its stmt
 * text and series count; no series open in either) as if written here.
 * more: how many bytes the caller expects to join after this text (room is
 * made for them now, not by doubling as they come); 0 if unknown. */
void qw_join(qw *w, const st_buf *text, int nseries, size_t more);
/* Close the current statement (they are numbered 0, 1, ... in the order
 * they end): err NULL for success. Drops its series on error. */
void qw_stmt_end(qw *w, const char *err);
/* Discard what the current statement wrote so far. */
void qw_stmt_discard(qw *w);

/* JSON string escaping as Go's encoding/json (with quotes). */
int qry_json_str(st_buf *b, const char *s, size_t n);
/* Indent compact JSON as Go's json.MarshalIndent(v, "", "    "). */
int qry_json_indent(const char *src, size_t n, st_buf *out);

#endif
