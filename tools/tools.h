/* tools/tools.h — the strata subcommands' entry points (argv[0] = command
 * name), and the CSV-to-line-protocol converter import.c shares with
 * import_csv.c. */
#ifndef ST_TOOLS_H
#define ST_TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

int tool_gen_main(int argc, char **argv);
int tool_import_main(int argc, char **argv); /* import and its alias write */
int tool_query_main(int argc, char **argv);
int tool_export_main(int argc, char **argv);

/* ---- tools/import_csv.c: CSV rows -> line protocol lines ----
 * One imp_csv per input file (it holds the file's header and its time-zone
 * state); single-threaded (the import's reader thread). */
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

int tool_check_main(int argc, char **argv);
#endif
