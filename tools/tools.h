/* tools/tools.h — the strata subcommands' entry points (argv[0] = command
 * name), and the CSV-to-line-protocol converter import.c shares with
 * import_csv.c. */
#ifndef ST_TOOLS_H
#define ST_TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "ingest/lp.h"

int tool_gen_main(int argc, char **argv);
int tool_import_main(int argc, char **argv); /* import and its alias write */
int tool_query_main(int argc, char **argv);
int tool_export_main(int argc, char **argv);

/* ---- tools/import_csv.c: CSV rows -> line protocol lines or points ----
 * One imp_csv per input file and thread (it holds the file's header and its
 * time-zone state); not thread-safe. strata import's reader keeps one per
 * file to read the header and settle the time format; each worker makes
 * its own from the header record and that format (imp_csv_time_format) and
 * converts the rows of the chunks it is given. */
#define IMP_CSV_MAX_LIST 64

typedef struct imp_csv_opts {
    int strata;                 /* Strata's long-form CSV (strata export --format csv) */
    char delimiter;             /* 0 = detect from the header among , ; TAB */
    const char *time_column;    /* NULL = time|timestamp|date|datetime|_time */
    const char *time_format;    /* NULL = detect from the first data row */
    const char *timezone;       /* IANA name for zone-less times; NULL = UTC */
    const char *measurement;    /* wide and long form */
    const char *tags[IMP_CSV_MAX_LIST]; /* "k=v" added to every line */
    size_t ntags;
    const char *int_columns;    /* comma-separated column names sent as integers */
    const char *tag_columns;    /* comma-separated column names that become tags of each row's line */
    const char *name_column, *value_column, *quality_column; /* long form when name_column */
    const char *quality_field;  /* the server's quality field key ("quality") */
    int64_t unit_ns;            /* timestamps are written in this unit (--precision) */
} imp_csv_opts;

typedef struct imp_csv imp_csv;

/* Check the options (err says what is wrong: ST_EINVAL), load the zone. */
int  imp_csv_create(const imp_csv_opts *o, imp_csv **out, char *err, size_t errlen);
void imp_csv_destroy(imp_csv *c); /* accepts NULL */
/* Record cutting: the LF that ends the record starting (or going on) at p,
 * or NULL when it goes on past end (LFs inside quoted cells do not end it). */
const char *imp_csv_cut(imp_csv *c, const char *p, const char *end);
/* The cutter at the start of a record again (after a record cut short). */
void imp_csv_cut_reset(imp_csv *c);
/* 1 when the record is a header with a time column (a usual name, or
 * time_column when not NULL). */
int  imp_csv_looks_like(const char *rec, size_t len, const char *time_column);
/* 1 when the record is Strata's long-form CSV header. */
int  imp_csv_is_strata_header(const char *rec, size_t len);
/*
 * One record without its LF (a trailing CR is dropped). The first record is
 * the header. Appends the row's line protocol lines to out and sets *lines.
 * 0 ok (*lines may be 0: header, empty row), ST_EPARSE a row error (nothing
 * appended; err holds the reason), ST_EINVAL a header error (fatal),
 * ST_ENOMEM.
 */
int  imp_csv_record(imp_csv *c, const char *rec, size_t len, st_buf *out, uint32_t *lines, char *err,
                    size_t errlen);

/* Beside ST_* codes, imp_csv_record / imp_csv_point may return: */
enum {
    IMP_CSV_TEXT = 1,       /* imp_csv_point: take this row as text (imp_csv_text) */
    IMP_CSV_NEED_CARRY = 2, /* the row is in an autumn hour that repeats and the state before it
                               is unknown (imp_csv_carry): set it, then give the same record again */
};
/*
 * The same record as the point the server's parser would make of
 * imp_csv_record's line (no text built, no parsing): 0 and *ln,
 * ln->field_count 0 = nothing to write (header, blank row, only empty
 * cells); ST_EPARSE a row error (err, as imp_csv_record words it); ST_EINVAL
 * a header error; IMP_CSV_TEXT when the row (or the whole file: names the
 * parser would treat apart) has to go as text: imp_csv_text with
 * ln->ts_ns then gives its line, or its error. lineno, raw and key_hash
 * are left 0. ln's slices point into rec (which must outlive them), the
 * options, the header (c's) and, for quoted cells only, c's scratch (valid
 * until the next call on c).
 */
int  imp_csv_point(imp_csv *c, const char *rec, size_t len, lp_line *ln, char *err, size_t errlen);
/* A record imp_csv_point was given (the last one, or an earlier one of the
 * same file), whose time it resolved to ts_ns, as imp_csv_record would
 * append it: for IMP_CSV_TEXT, and to quote a point the storage refused.
 * Same returns as imp_csv_record. */
int  imp_csv_text(imp_csv *c, const char *rec, size_t len, int64_t ts_ns, st_buf *out, uint32_t *lines, char *err,
                  size_t errlen);
/* The reader's settling of the time format: records after the header, in
 * order, until it returns 1 (format given, detected from this record's time
 * cell as the first row's parse would, or Strata CSV). */
int  imp_csv_detect(imp_csv *c, const char *rec, size_t len);
/* The settled time format as a --time-format value (1), or 0 while none. */
int  imp_csv_time_format(const imp_csv *c, char *out, size_t cap);

/*
 * The autumn rule's state: rows in a repeated hour take the first instant
 * until the local time goes backwards, so a row depends on the rows before
 * it. A worker converting a chunk from the middle of a file sets known = 0
 * first: rows that clear the state (any row outside a repeated hour) make
 * it known again; a row in a repeated hour before that returns
 * IMP_CSV_NEED_CARRY. At the end of the chunk, known = 0 means no row
 * touched it (the chunk passes on the state it was given).
 */
typedef struct imp_csv_carry {
    int known;
    int active;             /* the previous row was in a repeated hour */
    int second;             /* ... and took its second (winter) instant */
    int64_t prev_local_ns;  /* ... at this local time */
} imp_csv_carry;
void imp_csv_carry_get(const imp_csv *c, imp_csv_carry *out);
void imp_csv_carry_set(imp_csv *c, const imp_csv_carry *in);

int tool_check_main(int argc, char **argv);
#endif
