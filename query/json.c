/*
 * query/json.c — the /query result writers: InfluxDB's JSON shape and its
 * CSV shape (see query.h for both), plus JSON escaping and indentation.
 * One writer per query; the thread running the query.
 *
 * Rows are the hot path (a raw query prints every point): cells that are
 * not strings are formatted in place under one reservation per run of
 * cells (put_cells), numbers by common/num (shortest round trip, as Go
 * prints them) and RFC3339 times through the writer's st_time_cache (the
 * text of the current day is reused while the rows stay on it) and its
 * time slots (a time written before, as every group of GROUP BY time(),
 * tags writes the same windows, is copied rather than formatted).
 */
#include <stdio.h>
#include <string.h>

#include "common/num.h"
#include "common/timefmt.h"
#include "common/tz.h"
#include "query/qry_int.h"
#include "query/query.h"

static void chk(qw *w, int rc) { if (rc) w->oom = 1; }

/* The bytes qry_json_str looks at twice: control characters, '"', '\\',
 * the HTML ones Go escapes, and 0xE2 (the lead byte of U+2028/U+2029). */
static const uint8_t json_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1, ['<'] = 1, ['>'] = 1, ['&'] = 1, [0xE2] = 1,
};

int qry_json_str(st_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = st_buf_append_byte(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!json_special[c]) { run++; continue; }
        const char *esc = NULL;
        char u[7];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0'; u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = 0;
            esc = u;
        } else if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                   ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
            esc = (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
            rc = st_buf_append(b, s + i - run, run);
            run = 0;
            if (!rc) rc = st_buf_append_str(b, esc);
            i += 2;
            continue;
        }
        if (!esc) { run++; continue; }
        rc = st_buf_append(b, s + i - run, run);
        run = 0;
        if (!rc) rc = st_buf_append_str(b, esc);
    }
    if (!rc && run) rc = st_buf_append(b, s + n - run, run);
    return rc ? rc : st_buf_append_byte(b, '"');
}

int qry_json_indent(const char *src, size_t n, st_buf *out)
{
    int depth = 0, rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char c = src[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && src[j] != '"') j += src[j] == '\\' ? 2 : 1;
            if (j >= n) j = n - 1;
            rc = st_buf_append(out, src + i, j - i + 1);
            i = j;
        } else if (c == '{' || c == '[') {
            char close = c == '{' ? '}' : ']';
            if (i + 1 < n && src[i + 1] == close) {
                rc = st_buf_append_byte(out, c);
                if (!rc) rc = st_buf_append_byte(out, close);
                i++;
                continue;
            }
            depth++;
            rc = st_buf_append_byte(out, c);
            if (!rc) rc = st_buf_append_byte(out, '\n');
            for (int d = 0; d < depth && !rc; d++) rc = st_buf_append_str(out, "    ");
        } else if (c == '}' || c == ']') {
            depth--;
            rc = st_buf_append_byte(out, '\n');
            for (int d = 0; d < depth && !rc; d++) rc = st_buf_append_str(out, "    ");
            if (!rc) rc = st_buf_append_byte(out, c);
        } else if (c == ',') {
            rc = st_buf_append_str(out, ",\n");
            for (int d = 0; d < depth && !rc; d++) rc = st_buf_append_str(out, "    ");
        } else if (c == ':') {
            rc = st_buf_append_str(out, ": ");
        } else if (c == '\n') {
            rc = st_buf_append_byte(out, '\n');
        } else {
            rc = st_buf_append_byte(out, c);
        }
    }
    return rc;
}

void qw_init(qw *w, st_buf *out, int csv, int epoch, int chunked)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->csv = csv;
    w->epoch = epoch;
    w->chunked = chunked && !csv;
    st_time_cache_init(&w->tcache);
    st_buf_init(&w->stmt);
    st_buf_init(&w->head);
    st_buf_init(&w->csv_cols);
    st_buf_init(&w->csv_prefix);
}

void qw_fini(qw *w)
{
    st_buf_fini(&w->stmt);
    st_buf_fini(&w->head);
    st_buf_fini(&w->csv_cols);
    st_buf_fini(&w->csv_prefix);
}

void qw_begin(qw *w)
{
    if (!w->csv && !w->chunked) chk(w, st_buf_append_str(w->out, "{\"results\":["));
}

void qw_end(qw *w)
{
    if (w->csv || w->chunked) return;
    chk(w, st_buf_append_str(w->out, "]}\n"));
}

/* CSV field, quoted as Go's encoding/csv does. */
static int csv_field(st_buf *b, const char *s, size_t n)
{
    int quote = n > 0 && (s[0] == ' ' || s[0] == '\t');
    for (size_t i = 0; i < n && !quote; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') quote = 1;
    if (!quote) return st_buf_append(b, s, n);
    int rc = st_buf_append_byte(b, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        if (s[i] == '"') rc = st_buf_append_byte(b, '"');
        if (!rc) rc = st_buf_append_byte(b, s[i]);
    }
    return rc ? rc : st_buf_append_byte(b, '"');
}

/* Line-protocol escaping of a tag key/value for the CSV "tags" column. */
static int lp_escape(st_buf *b, st_slice s)
{
    int rc = 0;
    for (size_t i = 0; i < s.len && !rc; i++) {
        char c = s.ptr[i];
        if (c == ',' || c == '=' || c == ' ') rc = st_buf_append_byte(b, '\\');
        if (!rc) rc = st_buf_append_byte(b, c);
    }
    return rc;
}

void qw_series_begin(qw *w, st_slice name, const sidx_tag *tags, size_t ntags, const st_slice *cols, size_t ncols)
{
    if (w->cap) {
        if (w->cap->series(w->cap->arg, name, tags, ntags, cols, ncols)) w->oom = 1;
        return;
    }
    st_buf_clear(&w->head);
    w->series_open = 1;
    w->series_written = 0;
    st_buf *h = &w->head;
    if (w->csv) {
        /* header line (name,tags,cols...) kept in head; prefix for the rows */
        chk(w, st_buf_append_str(h, "name,tags"));
        for (size_t i = 0; i < ncols; i++) {
            chk(w, st_buf_append_byte(h, ','));
            chk(w, csv_field(h, cols[i].ptr, cols[i].len));
        }
        chk(w, st_buf_append_byte(h, '\n'));
        st_buf_clear(&w->csv_prefix);
        st_buf tg;
        st_buf_init(&tg);
        for (size_t i = 0; i < ntags; i++) {
            if (i) chk(w, st_buf_append_byte(&tg, ','));
            chk(w, lp_escape(&tg, tags[i].key));
            chk(w, st_buf_append_byte(&tg, '='));
            chk(w, lp_escape(&tg, tags[i].val));
        }
        chk(w, csv_field(&w->csv_prefix, name.ptr, name.len));
        chk(w, st_buf_append_byte(&w->csv_prefix, ','));
        chk(w, csv_field(&w->csv_prefix, tg.ptr ? tg.ptr : "", tg.len));
        st_buf_fini(&tg);
        return;
    }
    chk(w, st_buf_append_byte(h, '{'));
    if (name.len) {
        chk(w, st_buf_append_str(h, "\"name\":"));
        chk(w, qry_json_str(h, name.ptr, name.len));
        chk(w, st_buf_append_byte(h, ','));
    }
    if (ntags) {
        chk(w, st_buf_append_str(h, "\"tags\":{"));
        for (size_t i = 0; i < ntags; i++) {
            if (i) chk(w, st_buf_append_byte(h, ','));
            chk(w, qry_json_str(h, tags[i].key.ptr, tags[i].key.len));
            chk(w, st_buf_append_byte(h, ':'));
            chk(w, qry_json_str(h, tags[i].val.ptr, tags[i].val.len));
        }
        chk(w, st_buf_append_str(h, "},"));
    }
    chk(w, st_buf_append_str(h, "\"columns\":["));
    for (size_t i = 0; i < ncols; i++) {
        if (i) chk(w, st_buf_append_byte(h, ','));
        chk(w, qry_json_str(h, cols[i].ptr, cols[i].len));
    }
    chk(w, st_buf_append_str(h, "],\"values\":["));
}

static int64_t epoch_div(int epoch)
{
    switch (epoch) {
    case QRY_EPOCH_US: return 1000;
    case QRY_EPOCH_MS: return 1000000;
    case QRY_EPOCH_S: return 1000000000;
    case QRY_EPOCH_M: return 60000000000LL;
    case QRY_EPOCH_H: return 3600000000000LL;
    default: return 1;
    }
}

/* Room one cell that is not a string may take: a quoted RFC3339 time is
 * the longest (st_format_double and the integers stay under it). */
enum { QW_CELL_MAX = ST_TIME_BUF + 2 };

/* The RFC3339 text of ns in the statement's tz at p (ST_TIME_BUF bytes
 * free); returns the end. A time written before is copied from its slot
 * (a fixed-size copy: the cell has room) instead of formatted again. */
static char *put_time_text(qw *w, char *p, int64_t ns)
{
    if (w->tslot_tz != w->tz) {
        for (size_t i = 0; i < QW_TSLOTS; i++) w->tslots[i].len = 0;
        w->tslot_tz = w->tz;
    }
    _Static_assert(QW_TSLOTS == 64, "the slot is the hash's top 6 bits");
    qw_tslot *s = &w->tslots[((uint64_t)ns * UINT64_C(0x9E3779B97F4A7C15)) >> 58];
    if (s->len && s->ns == ns) {
        memcpy(p, s->text, QW_TSLOT_TEXT);
        return p + s->len;
    }
    size_t n = w->tz ? st_tz_format_rfc3339(w->tz, ns, p) : st_time_format_rfc3339_cached(&w->tcache, ns, 0, p);
    if (n <= QW_TSLOT_TEXT) {
        s->ns = ns;
        s->len = (uint8_t)n;
        memcpy(s->text, p, n);
    }
    return p + n;
}

/* A cell other than a string, written at p (QW_CELL_MAX bytes free);
 * returns the end. */
static char *put_scalar(qw *w, char *p, const qval *v)
{
    switch (v->type) {
    case QV_TIME:
        if (w->epoch == QRY_EPOCH_RFC3339 && !w->csv) {
            *p++ = '"';
            p = put_time_text(w, p, v->v.i);
            *p++ = '"';
            return p;
        }
        return p + st_format_int64(v->v.i / epoch_div(w->epoch), p);
    case ST_TYPE_FLOAT: {
        double f = v->v.f;
        /* NaN, ±Inf (all exponent bits set): null in JSON, text in CSV */
        if (!w->csv && (st_double_bits(f) & UINT64_C(0x7FF0000000000000)) == UINT64_C(0x7FF0000000000000)) break;
        return p + st_format_double(f, p);
    }
    case ST_TYPE_INT: return p + st_format_int64(v->v.i, p);
    case ST_TYPE_UINT: return p + st_format_uint64(v->v.u, p);
    case ST_TYPE_BOOL:
        if (v->v.b) { memcpy(p, "true", 4); return p + 4; }
        memcpy(p, "false", 5);
        return p + 5;
    default:
        if (w->csv) return p;
        break;
    }
    memcpy(p, "null", 4);
    return p + 4;
}

/* A row: the first npre (0..2) bytes of pre (pre has 2), the cells, each
 * preceded by a comma (CSV) or separated by commas (JSON), then post. Runs
 * of cells that are not strings are written in place under one
 * reservation, the last run with post: the per-row cost is the
 * formatting, not the appends. */
static void put_cells(qw *w, st_buf *b, const char pre[2], size_t npre, const qval *vals, size_t n, char post)
{
    if (st_buf_reserve(b, 2)) { w->oom = 1; return; }
    b->ptr[b->len] = pre[0]; /* both bytes: no call for a copy this short */
    b->ptr[b->len + 1] = pre[1];
    b->len += npre;
    b->ptr[b->len] = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && j - i < 64 && vals[j].type != ST_TYPE_STRING) j++;
        if (j > i) {
            if (st_buf_reserve(b, (j - i) * (QW_CELL_MAX + 1) + 1)) { w->oom = 1; return; }
            char *p = b->ptr + b->len;
            for (; i < j; i++) {
                if (i || w->csv) *p++ = ',';
                p = put_scalar(w, p, &vals[i]);
            }
            if (i == n) *p++ = post;
            *p = 0;
            b->len = (size_t)(p - b->ptr);
            continue;
        }
        if (i || w->csv) chk(w, st_buf_append_byte(b, ','));
        if (w->csv) chk(w, csv_field(b, vals[i].v.s.ptr, vals[i].v.s.len));
        else chk(w, qry_json_str(b, vals[i].v.s.ptr, vals[i].v.s.len));
        if (++i == n) chk(w, st_buf_append_byte(b, post));
    }
    if (n == 0) chk(w, st_buf_append_byte(b, post));
}

static void csv_header(qw *w)
{
    /* a new statement (blank line before all but the first), or changed columns */
    if (!w->csv_stmt_started) {
        if (w->csv_any_stmt) chk(w, st_buf_append_byte(&w->stmt, '\n'));
        w->csv_stmt_started = 1;
        w->csv_any_stmt = 1;
    } else if (w->csv_cols.len == w->head.len && memcmp(w->csv_cols.ptr, w->head.ptr, w->head.len) == 0) {
        return;
    } else {
        chk(w, st_buf_append_byte(&w->stmt, '\n'));
    }
    chk(w, st_buf_append(&w->stmt, w->head.ptr, w->head.len));
    st_buf_clear(&w->csv_cols);
    chk(w, st_buf_append(&w->csv_cols, w->head.ptr, w->head.len));
}

/* Where the statement's series text goes. JSON with an out: straight into
 * it, after the statement's opening (no copy of the whole answer at its
 * end). */
static st_buf *stmt_text(qw *w)
{
    if (!w->out || w->csv) return &w->stmt;
    if (!w->stmt_open) {
        w->stmt_open = 1;
        w->stmt_at = w->out->len;
        if (w->chunked) chk(w, st_buf_append_str(w->out, "{\"results\":["));
        else if (w->nstmts_out) chk(w, st_buf_append_byte(w->out, ','));
        chk(w, st_buf_printf(w->out, "{\"statement_id\":%d", w->nstmts_out));
    }
    return w->out;
}

void qw_row(qw *w, const qval *vals, size_t n)
{
    if (w->cap) {
        if (w->cap->row(w->cap->arg, vals, n)) w->oom = 1;
        return;
    }
    st_buf *b = stmt_text(w);
    int first = !w->series_written;
    if (first) {
        w->series_written = 1;
        if (w->csv) {
            csv_header(w);
        } else {
            chk(w, st_buf_append_str(b, w->nseries ? "," : ",\"series\":["));
            chk(w, st_buf_append(b, w->head.ptr, w->head.len));
        }
        w->nseries++;
    }
    if (w->csv) {
        chk(w, st_buf_append(b, w->csv_prefix.ptr, w->csv_prefix.len));
        put_cells(w, b, "\0", 0, vals, n, '\n');
    } else {
        put_cells(w, b, first ? "[" : ",[", first ? 1 : 2, vals, n, ']');
    }
}

void qw_join(qw *w, const st_buf *text, int nseries, size_t more)
{
    static const char open[] = ",\"series\":[";
    const size_t no = sizeof open - 1;
    if (nseries == 0) return;
    if (text->len < no || memcmp(text->ptr, open, no) != 0) { w->oom = 1; return; } /* not a JSON stmt text */
    st_buf *b = stmt_text(w);
    if (more && more < SIZE_MAX - text->len) chk(w, st_buf_reserve(b, text->len + more));
    if (w->nseries == 0) {
        chk(w, st_buf_append(b, text->ptr, text->len));
    } else {
        chk(w, st_buf_append_byte(b, ','));
        chk(w, st_buf_append(b, text->ptr + no, text->len - no));
    }
    w->nseries += nseries;
}

void qw_series_end(qw *w)
{
    if (w->cap) return;
    if (w->series_open && w->series_written && !w->csv) chk(w, st_buf_append_str(stmt_text(w), "]}"));
    w->series_open = 0;
    w->series_written = 0;
}

void qw_stmt_discard(qw *w)
{
    st_buf_clear(&w->stmt);
    if (w->stmt_open) { /* cut out back to before the statement */
        w->out->len = w->stmt_at;
        if (w->out->ptr) w->out->ptr[w->stmt_at] = 0;
        w->stmt_open = 0;
    }
    w->nseries = 0;
    w->series_open = w->series_written = 0;
}

void qw_stmt_end(qw *w, const char *err)
{
    if (err) qw_stmt_discard(w);
    if (w->csv) {
        if (w->stmt.len) chk(w, st_buf_append(w->out, w->stmt.ptr, w->stmt.len));
        qw_stmt_discard(w);
        w->csv_stmt_started = 0;
        return;
    }
    st_buf *b = stmt_text(w); /* opens it, when nothing did */
    if (err) {
        chk(w, st_buf_append_str(b, ",\"error\":"));
        chk(w, qry_json_str(b, err, strlen(err)));
    } else if (w->nseries) {
        chk(w, st_buf_append_byte(b, ']'));
    }
    chk(w, st_buf_append_byte(b, '}'));
    if (w->chunked) chk(w, st_buf_append_str(b, "]}\n"));
    w->nstmts_out++;
    w->stmt_open = 0; /* kept: the statement is whole */
    qw_stmt_discard(w);
}
