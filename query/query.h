/*
 * query/query.h — run InfluxQL against the storage engine and write the
 * answer in InfluxDB's /query shape (JSON or CSV).
 *
 * qry_execute parses the whole request text, runs its statements in order
 * and writes the complete response body into out. It owns a per-query
 * arena (AST, plan, scratch) and frees it before returning.
 *
 * Response (PROTOCOLS.md §2.3):
 *   JSON  {"results":[{"statement_id":0,"series":[{"name":..,"tags":{..},
 *         "columns":[..],"values":[[..]]}]}]}\n — a statement that fails has
 *         "error" instead of "series", one with no rows only statement_id.
 *         Floats print as the shortest round-trip text (NaN/Inf -> null),
 *         integers exactly, times as RFC3339Nano (trailing zeros trimmed)
 *         or integers in the epoch unit. Strings are escaped as Go's
 *         encoding/json does (<, >, & as \u003c \u003e \u0026).
 *   CSV   a "name,tags,time,<columns>" header whenever the columns change,
 *         then one line per row; a blank line between statements; times
 *         as integers (ns unless epoch is given). NaN/+Inf/-Inf as text.
 *   Status: 200 with per-statement errors; 400 and a top-level
 *   {"error":"error parsing query: ..."} for a parse error or an empty q
 *   ({"error":"missing required parameter \"q\""}).
 *
 * Threads: any thread (the server runs it on its query pool); several
 * queries may run at once on one stor (the index and head lock inside).
 * With qry_request.offer, one query's GROUP BY groups may also run on the
 * threads it lends; the response is the same.
 * Budgets: now_ns + timeout_ms end a query with "query timeout", and
 * max_points bounds the points read ("max-select-point limit exceeded").
 */
#ifndef ST_QUERY_H
#define ST_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "storage/stor.h"

/* Time output units (epoch=). QRY_EPOCH_RFC3339: strings. */
enum qry_epoch { QRY_EPOCH_RFC3339 = -1, QRY_EPOCH_NS = 0, QRY_EPOCH_US, QRY_EPOCH_MS, QRY_EPOCH_S,
                 QRY_EPOCH_M, QRY_EPOCH_H };

typedef struct qry_request {
    st_slice q;           /* the query text (statements separated by ';'); borrowed */
    st_slice db;          /* default database (db=); may be empty */
    st_slice rp;          /* retention policy (rp=); may be empty */
    int epoch;            /* enum qry_epoch */
    int pretty;           /* indent the JSON (4 spaces, as Go's MarshalIndent) */
    int csv;              /* CSV instead of JSON */
    int chunked;          /* JSON: one {"results":[..]} line per statement */
    size_t chunk_size;    /* points per chunk (reserved; 0 = 10000) */
    int is_get;           /* GET: CREATE/DROP still run (InfluxDB adds no warning here) */
    int64_t now_ns;       /* now() for the whole request; 0 = read the clock */
    int64_t timeout_ms;   /* 0 = none */
    uint64_t max_points;  /* points read per statement; 0 = unlimited */
    int no_block_stats;   /* 1: aggregates decode every point instead of using block statistics */
    st_slice params;      /* params=: a JSON object binding $name in the query (string, number,
                           * true/false); borrowed; empty = none. Bad JSON: 400 "error parsing
                           * query parameters: ..."; an unbound $name: "missing parameter: name" */
    /* Optional threads lent to one query (exec.c, "groups on several
     * threads"): offer(offer_arg, fn, arg) hands fn(arg) to an idle thread,
     * which calls it soon, and returns 1; or returns 0 when none is idle.
     * fn never waits for the caller; the query never waits for fn to start.
     * NULL: everything runs on the calling thread. */
    int (*offer)(void *offer_arg, void (*fn)(void *arg), void *arg);
    void *offer_arg;
} qry_request;

void qry_request_init(qry_request *r); /* zeroes; epoch = RFC3339 */

/* "ns"/"n", "u"/"us"/"µ", "ms", "s", "m", "h" -> enum qry_epoch. 0 or ST_EINVAL. */
int qry_epoch_parse(st_slice s, int *out);

/*
 * Run req against s and write the response body into out (appended).
 * *http_status: 200, or 400 (parse error / missing q). Returns 0, or
 * ST_ENOMEM when the body could not be built (out then holds a short
 * {"error":"out of memory"} if it fit, status 500).
 */
int qry_execute(stor *s, const qry_request *req, st_buf *out, int *http_status);

#endif
