/*
 * query/export.h — read a database's points for export, as line protocol
 * or as Strata's long-form CSV, produced in pieces.
 *
 * Data comes from the series index (measurements, series, fields) and
 * stor_read, one series at a time: every field column of the series is read
 * over [tmin_ns, tmax_ns] and merged by timestamp. Memory is bounded by one
 * series' columns in range plus one output piece (QEXP_PIECE_BYTES); the
 * text is handed to emit() whenever a piece is full, so the caller can
 * stream it (server/h_export.c posts each piece to its loop and waits for
 * the socket: back-pressure).
 *
 * Line protocol (format QEXP_LP): one line per (series, timestamp, quality)
 * holding every field written at that timestamp with that quality; types
 * kept (floats shortest round-trip, integers with 'i', unsigned with 'u',
 * true/false, strings escaped); timestamps in ns; a non-zero quality as
 * `<quality_field>=<n>i` (left out when quality_field is empty). NaN and
 * ±Inf cannot be written as line protocol: they are skipped and counted
 * (stats->nonfinite_skipped).
 *
 * CSV (format QEXP_CSV), RFC 4180 with a header row:
 *   time,measurement,tags,field,type,value,quality
 * one row per point: time RFC3339Nano UTC; tags the series' tag set as
 * `k=v,k=v` in key order with '\\', ',' and '=' backslash-escaped inside
 * keys and values; type float|integer|unsigned|boolean|string; value the
 * shortest round-trip float (NaN, +Inf, -Inf kept), decimal integers,
 * true/false, or the string; quality the StatusCode in decimal. Cells with
 * ',', '"', CR or LF are double-quoted with '"' doubled.
 *
 * Order: measurements by name, series by id, then time.
 * Thread: any (a query worker); reads take the index and head locks inside.
 */
#ifndef ST_QEXPORT_H
#define ST_QEXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"
#include "storage/stor.h"

#define QEXP_PIECE_BYTES (256u * 1024)
#define QEXP_MAX_TAGS 32

enum qexp_format { QEXP_LP = 0, QEXP_CSV = 1 };

typedef struct qexp_opts {
    st_slice db;
    st_slice measurement;          /* empty = every measurement */
    st_slice tag_keys[QEXP_MAX_TAGS], tag_vals[QEXP_MAX_TAGS];
    size_t ntags;                  /* series must carry every k=v */
    int64_t tmin_ns, tmax_ns;      /* inclusive */
    int format;                    /* enum qexp_format */
    st_slice quality_field;        /* line protocol: the server's quality field key */
} qexp_opts;

typedef struct qexp_stats {
    uint64_t points;               /* values written out */
    uint64_t series;
    uint64_t nonfinite_skipped;    /* line protocol only */
} qexp_stats;

/* Receives each piece (borrowed for the call). Non-zero stops the export. */
typedef int (*qexp_emit_fn)(void *arg, const char *p, size_t n);

/*
 * Run the export. Errors before the first emit: ST_ENOTFOUND (no such
 * database; err says so), ST_ENOMEM. Later: ST_ENOMEM, ST_ECLOSED (emit
 * asked to stop). On 0 every piece was emitted (the last one may be short;
 * nothing is emitted for an empty result in LP, the header in CSV).
 * err (may be NULL) receives a message on failure.
 */
int qexp_run(stor *s, const qexp_opts *o, qexp_emit_fn emit, void *arg, qexp_stats *stats, char *err,
             size_t errcap);

#endif
