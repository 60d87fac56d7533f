/*
 * common/settings.h — one table of settings drives the command-line flags,
 * the --config file (TOML, see toml.h), --help and the README's settings
 * section. A program describes its settings as an array of st_setting rows
 * pointing (offsetof) into its own config struct; these functions fill that
 * struct. Precedence: defaults < config file < flags.
 *
 * Per row:
 *   name   flag name: --wal-fsync. Bools also take --no-wal-fsync.
 *   key    config-file key, a dotted TOML path ("wal.fsync" = [wal] fsync).
 *          Always explicit in the row (no derivation rule to remember).
 *   type   and the C type of its field:
 *     ST_SET_BOOL      bool      true/false (flags also yes/no, on/off, 1/0)
 *     ST_SET_INT       int64_t   decimal, within [min, max]
 *     ST_SET_SIZE      uint64_t  bytes: 123, 64k, 25MB, 1.5GB, 4MiB. k/KB/M/MB/
 *                                G/GB/T/TB are powers of 1000, KiB/MiB/GiB/TiB
 *                                powers of 1024 (case-insensitive); in [min, max]
 *     ST_SET_DURATION  int64_t   "10s", "500ms", "1h30m" (ns us ms s m h d w);
 *                                stored in `unit_ns` units (1000000 for a
 *                                field named *_ms); must be a whole number of
 *                                units; in [min, max] of those units
 *     ST_SET_STRING    char *    owned copy ("" allowed)
 *     ST_SET_ENUM      int       index of the word in `choices` ("a|b|c")
 *     ST_SET_ADDR      st_addr   host:port, [v6]:port, :port (all interfaces);
 *                                port 0..65535 (0 = pick one); "off" when the
 *                                row has ST_SET_F_OFF
 *     ST_SET_STRLIST   st_strlist repeatable flag; in the file an array of
 *                                strings (or one string). Flags given on the
 *                                command line replace the file's list.
 *   def    default as text, parsed like a flag value (NULL = zero / empty).
 *   help   one line.
 *
 * Adding a setting to a program: add a field to its config struct and one row
 * to its table (use ST_SETTING_OFFSET to get a compile error when the field's
 * C type does not match). The flag, the file key, --help and the README
 * table follow.
 *
 * Errors are written to err (err_size bytes), naming the setting and the
 * reason: "--wal-fsync: 'sometimes' is not one of group|interval|never",
 * "cfg.toml:12: wal.fsync: ...", "unknown flag --wal-fsnyc (did you mean
 * --wal-fsync?)". Functions return 0, ST_EINVAL (bad setting), ST_EIO
 * (config file unreadable) or ST_ENOMEM.
 *
 * Thread: start-up only; the filled struct is then immutable and may be read
 * by any thread.
 */
#ifndef ST_SETTINGS_H
#define ST_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"

typedef enum st_setting_type {
    ST_SET_BOOL = 1,
    ST_SET_INT,
    ST_SET_SIZE,
    ST_SET_DURATION,
    ST_SET_STRING,
    ST_SET_ENUM,
    ST_SET_ADDR,
    ST_SET_STRLIST,
} st_setting_type;

/* Row flags. */
#define ST_SET_F_OFF 0x1u /* ST_SET_ADDR: "off" disables the listener */

/* A listen address. Open value type. */
typedef struct st_addr {
    char *host; /* owned; "" = all interfaces; without [] for IPv6 */
    int   port; /* 0..65535; 0 = let the kernel choose */
    bool  off;  /* "off": the listener is disabled (host NULL, port 0) */
} st_addr;

/* A repeatable string setting. Open value type. */
typedef struct st_strlist {
    char  **items; /* owned, each owned */
    size_t  count;
} st_strlist;

typedef struct st_setting {
    const char *name;     /* flag name without "--" */
    const char *key;      /* config-file key (dotted path) */
    const char *group;    /* --help heading ("HTTP", "WAL", ...) */
    st_setting_type type;
    size_t offset;        /* of the field in the config struct */
    const char *def;      /* default text; NULL = zero/empty */
    int64_t min, max;     /* INT, SIZE, DURATION (in units) bounds; both 0 = none */
    const char *choices;  /* ENUM: "group|interval|never" */
    int64_t unit_ns;      /* DURATION: ns per stored unit (0 = ns) */
    unsigned flags;       /* ST_SET_F_* */
    const char *help;
} st_setting;

/* offsetof(T, field) that fails to compile unless field has C type ctype. */
#define ST_SETTING_OFFSET(T, field, ctype) _Generic(((T *)0)->field, ctype: offsetof(T, field))

/* Fill every field from its default. Defaults are the program's own text, so
 * an error here is a bug in the table (tests call this). cfg must be zeroed
 * or previously freed with st_settings_free. */
int st_settings_defaults(const st_setting *rows, size_t n, void *cfg, char *err, size_t err_size);

/* Set one setting from flag-style text (a string list appends). Errors are
 * prefixed "--name: ". */
int st_settings_set(const st_setting *row, void *cfg, const char *value, char *err, size_t err_size);

/* Apply a TOML document's text (name for messages). Unknown keys are errors
 * naming the file, line and key, with a suggestion when one is close. */
int st_settings_load_toml(const st_setting *rows, size_t n, void *cfg, const char *text, size_t len,
                          const char *name, char *err, size_t err_size);
/* Read and apply a config file. */
int st_settings_load_file(const st_setting *rows, size_t n, void *cfg, const char *path, char *err, size_t err_size);

/*
 * Defaults, then the file named by --config FILE / --config=FILE (if any),
 * then every flag in argv[1..argc-1]: --name value, --name=value, and for
 * bools --name, --no-name, --name=true|false. Unknown flags and stray
 * arguments are errors. Flags in `ignore` (NULL-terminated list of names
 * without "--", e.g. "help", "version") are skipped; the caller handles them.
 * On error the struct may be partly filled: free it with st_settings_free.
 */
int st_settings_load(const st_setting *rows, size_t n, void *cfg, int argc, char **argv,
                     const char *const *ignore, char *err, size_t err_size);

/* Free every owned string, list and address host; the fields become zero. */
void st_settings_free(const st_setting *rows, size_t n, void *cfg);

/* The field's current value as text ("25MB" style sizes are printed as exact
 * bytes, durations as "100ms", addresses as host:port or off). */
int st_settings_format(const st_setting *row, const void *cfg, st_buf *out);

/* --help: usage line, then each group's flags with type hint, default and help. */
void st_settings_print_help(const st_setting *rows, size_t n, const char *usage, FILE *f);
/* The README's settings section: a markdown table (flag, config key, default, help). */
void st_settings_print_markdown(const st_setting *rows, size_t n, FILE *f);

/* Row by flag name (NULL when unknown). */
const st_setting *st_settings_find(const st_setting *rows, size_t n, const char *name);

/* Value parsers, exposed for other modules' own settings (and tests). */
int st_settings_parse_size(const char *s, uint64_t *out);      /* 0 or ST_EINVAL / ST_ERANGE */
int st_settings_parse_duration(const char *s, int64_t *out_ns); /* 0 or ST_EINVAL / ST_ERANGE */

#endif
