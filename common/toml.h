/*
 * common/toml.h — a small TOML subset parsed into a read-only tree.
 *
 * Supported: comments; `key = value` with bare, "quoted" and 'literal' keys
 * and dotted keys (a.b = 1); basic strings with escapes (\" \\ \b \t \n \f \r
 * \uXXXX \UXXXXXXXX); literal strings; integers (sign, '_' separators, 0x 0o
 * 0b); floats (fraction, exponent, inf, nan); booleans; arrays (any values,
 * may span lines, comments inside, trailing comma); `[table]`, `[a.b]`;
 * arrays of tables `[[mqtt.rule]]`; inline tables `{ a = 1, b.c = "x" }`.
 * Not supported (reported as errors): multi-line strings, dates and times.
 * Tables and keys keep file order.
 *
 * Ownership: st_toml_parse returns an owned document; every node, key and
 * string belongs to the document's single arena and stays valid until
 * st_toml_free. Node pointers handed out are borrowed from the document.
 * Strings are NUL-terminated and may contain NUL bytes (from \u0000): use
 * the length where that matters.
 *
 * Untrusted input is fine: no asserts on it, bounded nesting depth (64).
 * A document is immutable once parsed: any thread may read it.
 */
#ifndef ST_TOML_H
#define ST_TOML_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_toml_doc st_toml_doc;
typedef struct st_toml_node st_toml_node;

typedef enum st_toml_type {
    ST_TOML_STRING = 1,
    ST_TOML_INT,
    ST_TOML_FLOAT,
    ST_TOML_BOOL,
    ST_TOML_ARRAY,  /* a value array, or an array of tables ([[x]]) */
    ST_TOML_TABLE,
} st_toml_type;

/*
 * Parse len bytes. name is used in error messages ("config.toml:12: expected
 * '=' after key"); NULL means "<input>". On failure err (if err_size > 0) holds
 * that message. Returns 0, ST_EPARSE or ST_ENOMEM; *out written on success.
 */
int  st_toml_parse(const char *buf, size_t len, const char *name, st_toml_doc **out,
                   char *err, size_t err_size);
void st_toml_free(st_toml_doc *doc); /* accepts NULL */

/* The root table. */
const st_toml_node *st_toml_root(const st_toml_doc *doc);

st_toml_type st_toml_node_type(const st_toml_node *n);
/* 1-based line where the node's key (or array element) appeared. */
int          st_toml_node_line(const st_toml_node *n);
/* "string", "integer", "float", "boolean", "array", "table". */
const char  *st_toml_type_name(st_toml_type t);

/* Look up a dotted path of bare key segments ("http.bind") under a table.
 * An array of tables on the way is not entered. NULL when absent. */
const st_toml_node *st_toml_get(const st_toml_node *table, const char *path);

/* Typed reads of a node: 0, or ST_EINVAL when the node has another type.
 * st_toml_as_float also accepts integers. */
int st_toml_as_string(const st_toml_node *n, const char **s, size_t *len);
int st_toml_as_int(const st_toml_node *n, int64_t *v);
int st_toml_as_float(const st_toml_node *n, double *v);
int st_toml_as_bool(const st_toml_node *n, int *v);

/* Path + type in one call: 0, ST_ENOTFOUND (absent) or ST_EINVAL (wrong type). */
int st_toml_get_string(const st_toml_node *table, const char *path, const char **s);
int st_toml_get_int(const st_toml_node *table, const char *path, int64_t *v);
int st_toml_get_float(const st_toml_node *table, const char *path, double *v);
int st_toml_get_bool(const st_toml_node *table, const char *path, int *v);

/* Arrays (also arrays of tables): count, and element i (NULL out of range). */
size_t st_toml_array_count(const st_toml_node *arr);
const st_toml_node *st_toml_array_at(const st_toml_node *arr, size_t i);
/* 1 when arr was built by [[header]] (its elements are tables). */
int st_toml_array_is_tables(const st_toml_node *arr);

/* Tables: number of keys, and key i in file order (its child node returned,
 * its key name in *key when key is not NULL). NULL out of range. */
size_t st_toml_table_count(const st_toml_node *table);
const st_toml_node *st_toml_table_at(const st_toml_node *table, size_t i, const char **key);

#endif
