/*
 * ingest/lp.h — InfluxDB line protocol parser (streaming, no I/O).
 *
 * Semantics are the InfluxDB 1.x/2.x server's (see README "Line protocol"),
 * plus: CRLF line ends are accepted (one CR before LF is dropped, and one
 * trailing CR at the end of input) and the `u` (unsigned) suffix is
 * accepted. Bytes are fed in chunks of any size; a line may straddle chunks
 * (the parser keeps the partial line in its own carry buffer). Each
 * complete line is delivered to a callback as an lp_line whose slices are
 * valid only during the callback (they point into the caller's chunk or
 * into the parser's scratch; unescaped names live in scratch). Lines wholly
 * inside a chunk are parsed in place. No allocation per line once the
 * scratch has grown to the largest line seen (and the key cache: up to
 * 2048 series keys, 512 KiB, that let a line whose key repeats a recent one
 * skip scanning and sorting its tags). Splitting the same bytes into chunks
 * differently never changes what is delivered.
 *
 * Grammar decisions (details in ingest/lp.c's opening comment):
 *  - a line ends at LF, except inside a double-quoted string field value
 *    (a raw LF there continues the line); a backslash never escapes LF.
 *  - leading spaces and tabs are skipped; blank lines and lines whose first
 *    non-blank byte is '#' are ignored (but counted in line numbers).
 *  - in names a delimiter (',' ' ' '=') is escaped when the byte before it
 *    is a backslash; unescaping turns `\,` `\ ` (and `\=` outside the
 *    measurement) into the bare byte and keeps every other backslash.
 *    String values decode only `"` and `\`.
 *  - sections are separated by one or more spaces (TAB is not a separator).
 *  - tags are sorted by key; duplicate tag key, tag key "time" and empty tag
 *    values are line errors. Duplicate field keys: the last one wins.
 *    Field key "time" is dropped (a line left without fields is an error).
 *  - lineno is the physical line (LF count + 1) where the line starts; a
 *    string field holding raw LFs makes the next line number jump past them.
 *
 * lp_batch (below) is the ready-made consumer that copies lines into an
 * arena: what the write path holds until the WAL has the record.
 *
 * Errors: a bad line is reported to on_error with its 1-based line number
 * and InfluxDB's wording: "unable to parse '<line>': <reason>" (the quoted
 * line is cut at 256 bytes, then "..."); parsing goes on with the next line.
 * Reasons: missing measurement | missing tag key | missing tag value |
 * invalid tag format | missing fields | missing field key | missing field
 * value | invalid field format | invalid number | invalid boolean |
 * unbalanced quotes | bad timestamp | point is invalid (text after the
 * timestamp) | time outside range -9223372036854775806 - 9223372036854775806 |
 * duplicate tags | invalid tag key: input tag "time" on measurement "m" is
 * invalid | invalid field name: input field "time" on measurement "m" is
 * invalid | max key length exceeded: N > 65535 | input field "k" on
 * measurement "m" is too long, N > 1048576 | line too long.
 * One parser per request; one thread at a time.
 */
#ifndef ST_LP_H
#define ST_LP_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/point.h"
#include "common/slice.h"

/* Precision: the multiplier from the request's unit to ns. */
typedef enum lp_precision {
    LP_PRECISION_NS = 0,
    LP_PRECISION_US,
    LP_PRECISION_MS,
    LP_PRECISION_S,
    LP_PRECISION_M,
    LP_PRECISION_H,
} lp_precision;

/* v1 /write names: n ns u ms s m h (and "" = ns); v2 names: ns us ms s.
 * 0 or ST_EINVAL. */
int lp_precision_parse_v1(const char *s, size_t len, lp_precision *out);
int lp_precision_parse_v2(const char *s, size_t len, lp_precision *out);
int64_t lp_precision_ns(lp_precision p);

typedef struct lp_tag {
    st_slice key; /* unescaped */
    st_slice val; /* unescaped */
} lp_tag;

typedef struct lp_field {
    st_slice key;   /* unescaped */
    st_value value; /* strings unescaped (\" and \\ only, as InfluxDB) */
} lp_field;

typedef struct lp_line {
    st_slice measurement;   /* unescaped */
    const lp_tag *tags;     /* sorted by key (byte order), no duplicates */
    uint32_t tag_count;
    const lp_field *fields; /* in line order; quality field removed */
    uint32_t field_count;
    int64_t ts_ns;          /* in ns; the caller's default when absent */
    uint32_t quality;       /* OPC UA StatusCode; ST_QUALITY_GOOD when absent */
    uint8_t has_quality;
    uint8_t has_ts;
    uint64_t lineno;        /* 1-based line number in the stream */
    st_slice raw;           /* the line as received (no line end); empty in an lp_batch copy */
    st_slice key;           /* the series key as written: measurement and tags, escaped, from the
                               line's first non-blank byte to the space before the fields. Lines with
                               equal keys have equal measurement and tags (a consumer may cache what
                               it made of them). Empty when unknown: an lp_batch copy, or a line
                               built elsewhere or changed after parsing (tags added) */
    uint64_t key_hash;      /* lp_key_hash(key), or 0 when not worked out (a key with backslashes,
                               or no key): the consumer hashes it if it needs to */
} lp_line;

/* The hash lp_line.key_hash holds: 64 bits, never 0. Pure; any thread. */
uint64_t lp_key_hash(const char *key, size_t len);

typedef struct lp_opts {
    lp_precision precision;
    int64_t default_ts_ns;   /* for lines without a timestamp; truncated to precision by the caller */
    st_slice quality_field;  /* field key that carries quality; len 0 = none */
    size_t max_line_bytes;   /* 0 = unlimited; longer lines (bytes before the line end,
                                without a CR before LF) are errors ("line too long") and
                                are never buffered beyond this size */
} lp_opts;

/* InfluxDB's limits. */
#define LP_MAX_KEY_BYTES    65535u    /* measurement + tags, as written (escaped) */
#define LP_MAX_STRING_BYTES 1048576u  /* one string field value, unescaped */

/* Return 0 to go on; non-zero stops the parser, and feed/finish return it
 * (then and on every later call: a stopped parser can only be destroyed). */
typedef int (*lp_line_cb)(void *ctx, const lp_line *line);
/* msg: "unable to parse '<line>': <reason>", valid during the call. */
typedef int (*lp_error_cb)(void *ctx, uint64_t lineno, st_slice msg);

typedef struct lp_parser lp_parser;

/* 0 or ST_ENOMEM. opts is copied. */
int  lp_parser_create(const lp_opts *opts, lp_line_cb on_line, lp_error_cb on_error, void *ctx,
                      lp_parser **out);
void lp_parser_destroy(lp_parser *p); /* accepts NULL */
/* Feed a chunk. Calls back for each complete line. 0, ST_ENOMEM, or a
 * callback's non-zero return; after a non-zero return the parser is stopped
 * and returns the same code from every later feed/finish. */
int  lp_parser_feed(lp_parser *p, const char *buf, size_t len);
/* End of input: the last line may lack its LF. Same returns as feed. The
 * parser may then be fed again as a new stream (line numbers go on). */
int  lp_parser_finish(lp_parser *p);

/* Counters so far. */
typedef struct lp_stats {
    uint64_t lines;      /* non-blank, non-comment lines */
    uint64_t bad_lines;
    uint64_t fields;     /* fields in good lines */
    uint64_t bytes;
} lp_stats;
void lp_parser_stats(const lp_parser *p, lp_stats *out);

/*
 * The line-end scanner the parser cuts its input with, for tools that cut
 * line protocol into batches (strata import) and must end lines exactly
 * where the parser does. A line ends at the first LF that is not inside a
 * double-quoted string field value. lp_scan is an open value type: zero it
 * at the start of each line; it carries a line across chunks. No
 * allocation; any thread (one lp_scan per line being cut).
 */
typedef struct lp_scan {
    uint8_t st;          /* the machine's state (private) */
    uint8_t prev;        /* the byte before (private: backslash escapes) */
    uint8_t ts_seen;     /* a byte other than ' ' and CR after the fields (private: lp_scan_kind) */
    uint64_t inner_lfs;  /* LFs inside string values so far: the line spans 1 + inner_lfs physical lines */
} lp_scan;

/* From a zeroed lp_scan, the LF that ends the line starting at p; when no
 * '"' comes before the first LF in [p, end) that is the answer (memchr, no
 * per-byte work). Else, and on a continued line, as lp_scan_run. */
const char *lp_scan_line(lp_scan *sc, const char *p, const char *end);
/* Scan [p, end) as the next bytes of sc's line, byte by byte: the LF that
 * ends it, or NULL when the line goes on past end (sc then holds the state
 * for the next bytes). */
const char *lp_scan_run(lp_scan *sc, const char *p, const char *end);

/* What a complete line looks like, from the scanner that found its end and
 * its bytes [line, line + len) without the LF: */
enum {
    LP_SCAN_BLANK = 0, /* blank or comment: the parser skips it */
    LP_SCAN_TS,        /* fields, then a timestamp (or something after them) */
    LP_SCAN_NO_TS,     /* ends with its fields (then maybe blanks and a CR): a client may stamp it */
    LP_SCAN_OTHER,     /* anything else (malformed: left to the parser's message) */
};
int lp_scan_kind(const lp_scan *sc, const char *line, size_t len);
/* 1 when the parser skips the line [line, line + len) (no LF): blank (one
 * CR at its end dropped) or a comment. Cheaper than lp_scan_kind. */
int lp_line_blank(const char *line, size_t len);

/* Parse one whole buffer (no streaming); convenience for tests and tools. */
int lp_parse_buffer(const lp_opts *opts, const char *buf, size_t len, lp_line_cb on_line,
                    lp_error_cb on_error, void *ctx, lp_stats *stats);

/*
 * lp_batch: lines copied into an arena (every slice in a line points into
 * the arena; raw is not kept, it is left empty), in arrival order, plus the
 * first errors. Owned by the caller; the arena is borrowed and must outlive
 * the batch. The callbacks return ST_ENOMEM when the arena cannot grow
 * (which stops the parser). Nothing to free: the arena holds it all.
 */
typedef struct lp_batch_error {
    uint64_t lineno;
    st_slice msg; /* in the arena */
} lp_batch_error;

typedef struct lp_batch {
    st_arena *arena;        /* borrowed */
    lp_line *lines;         /* in arena; grows by doubling */
    size_t count, cap;
    uint64_t value_count;   /* fields over all lines */
    lp_batch_error *errors; /* first max_errors only */
    size_t error_count;     /* all errors seen */
    size_t max_errors;
} lp_batch;

void lp_batch_init(lp_batch *b, st_arena *arena, size_t max_errors);
/* Callbacks to pass to lp_parser_create with ctx = the batch. */
int  lp_batch_on_line(void *batch, const lp_line *line);
int  lp_batch_on_error(void *batch, uint64_t lineno, st_slice msg);

#endif
