/*
 * common/tz.c — TZif reader (RFC 8536, v1..v4) and POSIX TZ rule evaluator.
 *
 * Owns each st_tz and its arrays (transitions, local time types,
 * abbreviations, the parsed footer rule); a zone never changes after
 * st_tz_from_bytes returns, so lookups need no lock. Called from any thread
 * (the query executor for tz(), result writers, config checks).
 *
 * The file is untrusted: every count is multiplied out in 64 bits and
 * checked against the bytes left before anything is read; transition
 * times must ascend strictly (the binary search relies on it); type and
 * abbreviation indexes are checked; offsets are bounded to +-26 h, which
 * st_tz_local_to_utc relies on to bound its search window.
 */
#include "common/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/timefmt.h"

#define TZ_MAX_OFFSET   (26 * 3600 - 1)   /* RFC 8536: utoff in [-89999, 93599] */
#define TZ_MAX_FILE     (4 << 20)
#define TZ_ABBR_MAX     15
#define TZ_RULE_T_CLAMP INT64_C(10000000000000) /* ~317 000 years: keeps the calendar math in range */

typedef struct tz_type {
    int32_t utoff;
    uint8_t isdst;
    uint8_t abbr; /* index into st_tz.chars */
} tz_type;

/* One POSIX transition date: Jn (1..365, no Feb 29), n (0..365) or Mm.w.d,
 * and the local time of day it happens (seconds, -167h..167h). */
typedef struct tz_rule_date {
    char kind; /* 'J', 'N', 'M' */
    uint8_t m, w, d;
    int16_t n;
    int32_t secs;
} tz_rule_date;

typedef struct tz_posix {
    char std_abbr[TZ_ABBR_MAX + 1];
    char dst_abbr[TZ_ABBR_MAX + 1];
    int32_t std_off; /* UTC offsets, east positive (POSIX text is west positive) */
    int32_t dst_off;
    int has_dst;
    tz_rule_date start, end; /* start in standard time, end in daylight time */
} tz_posix;

struct st_tz {
    char *name;            /* owned */
    int is_static;
    size_t ntrans, ntypes, nchars;
    int64_t *trans;        /* owned, ntrans, strictly ascending */
    uint8_t *trans_type;   /* owned, ntrans, each < ntypes */
    tz_type *types;        /* owned, ntypes >= 1 */
    char *chars;           /* owned, nchars + 1 (always NUL-terminated) */
    int has_rule;
    tz_posix rule;
};

/* ---- built-in UTC ---- */

static tz_type utc_type = { 0, 0, 0 };
static char utc_chars[] = "UTC";
static char utc_name[] = "UTC";
static st_tz utc_zone = {
    .name = utc_name, .is_static = 1, .ntypes = 1, .nchars = 3,
    .types = &utc_type, .chars = utc_chars,
};

const st_tz *st_tz_utc(void) { return &utc_zone; }

const char *st_tz_name(const st_tz *tz) { return tz->name; }

void st_tz_free(st_tz *tz)
{
    if (!tz || tz->is_static) return;
    st_free(tz->name);
    st_free(tz->trans);
    st_free(tz->trans_type);
    st_free(tz->types);
    st_free(tz->chars);
    st_free(tz);
}

/* ---- POSIX TZ string ---- */

typedef struct cur {
    const char *p, *end;
} cur;

static int cur_peek(const cur *c) { return c->p < c->end ? (unsigned char)*c->p : -1; }

static int is_alpha(int ch) { return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); }
static int is_digit(int ch) { return ch >= '0' && ch <= '9'; }

static int parse_abbr(cur *c, char out[TZ_ABBR_MAX + 1])
{
    size_t n = 0;
    if (cur_peek(c) == '<') {
        c->p++;
        while (c->p < c->end && *c->p != '>') {
            int ch = (unsigned char)*c->p;
            if (!is_alpha(ch) && !is_digit(ch) && ch != '+' && ch != '-') return -1;
            if (n >= TZ_ABBR_MAX) return -1;
            out[n++] = (char)ch;
            c->p++;
        }
        if (c->p >= c->end) return -1;
        c->p++; /* '>' */
    } else {
        while (c->p < c->end && is_alpha((unsigned char)*c->p)) {
            if (n >= TZ_ABBR_MAX) return -1;
            out[n++] = *c->p++;
        }
    }
    if (n < 3) return -1;
    out[n] = 0;
    return 0;
}

static int parse_num(cur *c, int max_digits, int *out)
{
    int v = 0, n = 0;
    while (c->p < c->end && is_digit((unsigned char)*c->p)) {
        if (n++ >= max_digits) return -1;
        v = v * 10 + (*c->p++ - '0');
    }
    if (n == 0) return -1;
    *out = v;
    return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h; seconds, sign applied. */
static int parse_hms(cur *c, int max_h, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (cur_peek(c) == '+' || cur_peek(c) == '-') sign = *c->p++ == '-' ? -1 : 1;
    if (parse_num(c, 3, &h) || h > max_h) return -1;
    if (cur_peek(c) == ':') {
        c->p++;
        if (parse_num(c, 2, &m) || m > 59) return -1;
        if (cur_peek(c) == ':') {
            c->p++;
            if (parse_num(c, 2, &s) || s > 59) return -1;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return 0;
}

static int parse_rule_date(cur *c, tz_rule_date *r)
{
    int a, b, d;
    if (cur_peek(c) == 'J') {
        c->p++;
        if (parse_num(c, 3, &a) || a < 1 || a > 365) return -1;
        r->kind = 'J';
        r->n = (int16_t)a;
    } else if (cur_peek(c) == 'M') {
        c->p++;
        if (parse_num(c, 2, &a) || a < 1 || a > 12 || cur_peek(c) != '.') return -1;
        c->p++;
        if (parse_num(c, 1, &b) || b < 1 || b > 5 || cur_peek(c) != '.') return -1;
        c->p++;
        if (parse_num(c, 1, &d) || d > 6) return -1;
        r->kind = 'M';
        r->m = (uint8_t)a;
        r->w = (uint8_t)b;
        r->d = (uint8_t)d;
    } else {
        if (parse_num(c, 3, &a) || a > 365) return -1;
        r->kind = 'N';
        r->n = (int16_t)a;
    }
    r->secs = 2 * 3600;
    if (cur_peek(c) == '/') {
        c->p++;
        if (parse_hms(c, 167, &r->secs)) return -1; /* v3: -167..167 hours */
    }
    return 0;
}

static int parse_posix(const char *s, size_t len, tz_posix *out)
{
    tz_posix r;
    cur c = { s, s + len };
    int32_t off;
    memset(&r, 0, sizeof r);
    if (parse_abbr(&c, r.std_abbr) || parse_hms(&c, 24, &off)) return -1;
    r.std_off = -off;
    if (c.p < c.end) {
        if (parse_abbr(&c, r.dst_abbr)) return -1;
        r.has_dst = 1;
        r.dst_off = r.std_off + 3600;
        if (c.p < c.end && *c.p != ',') {
            if (parse_hms(&c, 24, &off)) return -1;
            r.dst_off = -off;
        }
        if (c.p < c.end) {
            if (*c.p++ != ',' || parse_rule_date(&c, &r.start)) return -1;
            if (cur_peek(&c) != ',') return -1;
            c.p++;
            if (parse_rule_date(&c, &r.end)) return -1;
        } else {
            /* no rule given: tzcode's default, the US rules */
            r.start = (tz_rule_date){ .kind = 'M', .m = 3, .w = 2, .d = 0, .secs = 7200 };
            r.end = (tz_rule_date){ .kind = 'M', .m = 11, .w = 1, .d = 0, .secs = 7200 };
        }
    }
    if (c.p != c.end) return -1;
    *out = r;
    return 0;
}

/* Day number (since the epoch) on which rule date r falls in year y. */
static int64_t rule_day(const tz_rule_date *r, int64_t y)
{
    int64_t jan1 = st_days_from_civil(y, 1, 1);
    if (r->kind == 'J') {
        int64_t doy = r->n - 1;
        if (st_is_leap_year(y) && r->n >= 60) doy++;
        return jan1 + doy;
    }
    if (r->kind == 'N') return jan1 + r->n;
    int64_t first = st_days_from_civil(y, r->m, 1);
    int64_t wday = ((first + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
    int64_t day = 1 + (r->d - wday + 7) % 7 + (int64_t)(r->w - 1) * 7;
    while (day > st_days_in_month(y, r->m)) day -= 7;
    return first + day - 1;
}

static int32_t rule_offset_at(const tz_posix *r, int64_t t, int *is_dst)
{
    if (!r->has_dst) { *is_dst = 0; return r->std_off; }
    if (t > TZ_RULE_T_CLAMP) t = TZ_RULE_T_CLAMP;
    if (t < -TZ_RULE_T_CLAMP) t = -TZ_RULE_T_CLAMP;
    int64_t local = t + r->std_off, days = local / 86400, y;
    unsigned m, d;
    if (local % 86400 < 0) days--;
    st_civil_from_days(days, &y, &m, &d);
    /* The latest of the transitions of years y-1..y+1 at or before t decides:
     * robust to rules that put a transition across the year boundary. */
    int64_t best = INT64_MIN;
    int dst = 0, found = 0;
    for (int64_t yy = y - 1; yy <= y + 1; yy++) {
        int64_t on = rule_day(&r->start, yy) * 86400 + r->start.secs - r->std_off;
        int64_t off = rule_day(&r->end, yy) * 86400 + r->end.secs - r->dst_off;
        if (on <= t && (!found || on >= best)) { best = on; dst = 1; found = 1; }
        if (off <= t && (!found || off >= best)) { best = off; dst = 0; found = 1; }
    }
    *is_dst = dst;
    return dst ? r->dst_off : r->std_off;
}

/* ---- TZif ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

typedef struct tzif_hdr {
    uint8_t version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_hdr;

#define TZIF_HDR_LEN 44

static int read_hdr(const uint8_t *p, size_t len, tzif_hdr *h)
{
    if (len < TZIF_HDR_LEN || memcmp(p, "TZif", 4) != 0) return ST_ECORRUPT;
    h->version = p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->version != 0 && h->version < '2') return ST_ECORRUPT;
    return 0;
}

/* Checks for the data block actually read (the v1 block of a v2+ file is
 * only skipped, so only its size matters: writers may leave it empty). */
static int check_counts(const tzif_hdr *h)
{
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0) return ST_ECORRUPT;
    if (h->isutcnt != 0 && h->isutcnt != h->typecnt) return ST_ECORRUPT;
    if (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) return ST_ECORRUPT;
    return 0;
}

static uint64_t block_len(const tzif_hdr *h, unsigned tsz)
{
    return (uint64_t)h->timecnt * tsz + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsz + 4) + h->isstdcnt + h->isutcnt;
}

/* Read one data block (tsz 4 or 8 byte times) into tz. p holds at least
 * block_len(h, tsz) bytes. */
static int read_block(st_tz *tz, const tzif_hdr *h, const uint8_t *p, unsigned tsz)
{
    const uint8_t *times = p, *idx = p + (size_t)h->timecnt * tsz;
    const uint8_t *types = idx + h->timecnt, *chars = types + (size_t)h->typecnt * 6;

    tz->ntrans = h->timecnt;
    tz->ntypes = h->typecnt;
    tz->nchars = h->charcnt;
    tz->trans = st_malloc(h->timecnt ? (size_t)h->timecnt * sizeof(int64_t) : 1);
    tz->trans_type = st_malloc(h->timecnt ? h->timecnt : 1);
    tz->types = st_malloc((size_t)h->typecnt * sizeof(tz_type));
    tz->chars = st_malloc((size_t)h->charcnt + 1);
    if (!tz->trans || !tz->trans_type || !tz->types || !tz->chars) return ST_ENOMEM;

    for (size_t i = 0; i < h->timecnt; i++) {
        int64_t t = tsz == 8 ? be64(times + i * 8) : (int64_t)(int32_t)be32(times + i * 4);
        if (i > 0 && t <= tz->trans[i - 1]) return ST_ECORRUPT;
        if (idx[i] >= h->typecnt) return ST_ECORRUPT;
        tz->trans[i] = t;
        tz->trans_type[i] = idx[i];
    }
    for (size_t i = 0; i < h->typecnt; i++) {
        const uint8_t *q = types + i * 6;
        int32_t off = (int32_t)be32(q);
        if (off < -TZ_MAX_OFFSET || off > TZ_MAX_OFFSET || q[4] > 1 || q[5] >= h->charcnt) return ST_ECORRUPT;
        tz->types[i] = (tz_type){ off, q[4], q[5] };
    }
    memcpy(tz->chars, chars, h->charcnt);
    tz->chars[h->charcnt] = 0;
    return 0;
}

int st_tz_from_bytes(const char *name, const void *data, size_t len, st_tz **out)
{
    const uint8_t *p = data;
    tzif_hdr h;
    int rc;
    st_tz *tz = st_calloc(1, sizeof *tz);
    if (!tz) return ST_ENOMEM;
    tz->name = st_strdup(name ? name : "");
    if (!tz->name) { rc = ST_ENOMEM; goto fail; }
    if (!p && len) { rc = ST_ECORRUPT; goto fail; }

    if ((rc = read_hdr(p, len, &h))) goto fail;
    uint64_t n1 = block_len(&h, 4);
    if (n1 > len - TZIF_HDR_LEN) { rc = ST_ECORRUPT; goto fail; }
    if (h.version == 0) {
        if ((rc = check_counts(&h))) goto fail;
        rc = read_block(tz, &h, p + TZIF_HDR_LEN, 4);
        if (rc) goto fail;
    } else {
        size_t off = TZIF_HDR_LEN + (size_t)n1;
        if ((rc = read_hdr(p + off, len - off, &h))) goto fail;
        off += TZIF_HDR_LEN;
        if ((rc = check_counts(&h))) goto fail;
        uint64_t n2 = block_len(&h, 8);
        if (n2 > len - off) { rc = ST_ECORRUPT; goto fail; }
        if ((rc = read_block(tz, &h, p + off, 8))) goto fail;
        off += (size_t)n2;
        /* footer: '\n' TZ-string '\n' */
        if (off >= len || p[off] != '\n') { rc = ST_ECORRUPT; goto fail; }
        const uint8_t *fs = p + off + 1;
        const uint8_t *nl = memchr(fs, '\n', len - off - 1);
        if (!nl) { rc = ST_ECORRUPT; goto fail; }
        if (nl > fs) {
            if (parse_posix((const char *)fs, (size_t)(nl - fs), &tz->rule)) { rc = ST_ECORRUPT; goto fail; }
            tz->has_rule = 1;
        }
    }
    *out = tz;
    return 0;
fail:
    st_tz_free(tz);
    return rc;
}

/* ---- lookups ---- */

int32_t st_tz_offset_at(const st_tz *tz, int64_t utc_s, const char **abbr, int *is_dst)
{
    size_t n = tz->ntrans;
    if ((n == 0 || utc_s > tz->trans[n - 1]) && tz->has_rule) {
        int dst;
        int32_t off = rule_offset_at(&tz->rule, utc_s, &dst);
        if (abbr) *abbr = dst ? tz->rule.dst_abbr : tz->rule.std_abbr;
        if (is_dst) *is_dst = dst;
        return off;
    }
    const tz_type *t = &tz->types[0];
    if (n > 0 && utc_s >= tz->trans[0]) {
        size_t lo = 0, hi = n; /* last i with trans[i] <= utc_s */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (tz->trans[mid] <= utc_s) lo = mid;
            else hi = mid;
        }
        t = &tz->types[tz->trans_type[lo]];
    }
    if (abbr) *abbr = tz->chars + t->abbr;
    if (is_dst) *is_dst = t->isdst;
    return t->utoff;
}

static void add_offset(int32_t *offs, int *n, int cap, int32_t o)
{
    for (int i = 0; i < *n; i++)
        if (offs[i] == o) return;
    if (*n < cap) offs[(*n)++] = o;
}

int st_tz_local_to_utc(const st_tz *tz, int64_t local_s, int64_t out_utc_s[2])
{
    /* Far outside any calendar we care about: one answer, no window math. */
    if (local_s < INT64_MIN / 2 || local_s > INT64_MAX / 2) {
        int32_t off = st_tz_offset_at(tz, local_s, NULL, NULL);
        if (off > 0 && local_s < INT64_MIN + off) out_utc_s[0] = INT64_MIN; /* saturate */
        else if (off < 0 && local_s > INT64_MAX + off) out_utc_s[0] = INT64_MAX;
        else out_utc_s[0] = local_s - off;
        return 1;
    }
    /* Every offset that can be in effect in [lo, hi], the only instants that
     * can show wall clock local_s because |offset| <= TZ_MAX_OFFSET. */
    int32_t offs[256 + 3];
    int noffs = 0;
    const int cap = (int)(sizeof offs / sizeof offs[0]);
    int64_t lo = local_s - TZ_MAX_OFFSET, hi = local_s + TZ_MAX_OFFSET;
    add_offset(offs, &noffs, cap, st_tz_offset_at(tz, lo, NULL, NULL));
    if (tz->has_rule) {
        add_offset(offs, &noffs, cap, tz->rule.std_off);
        if (tz->rule.has_dst) add_offset(offs, &noffs, cap, tz->rule.dst_off);
    }
    size_t a = 0, b = tz->ntrans; /* first transition > lo */
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (tz->trans[mid] <= lo) a = mid + 1;
        else b = mid;
    }
    for (size_t i = a; i < tz->ntrans && tz->trans[i] <= hi; i++)
        add_offset(offs, &noffs, cap, tz->types[tz->trans_type[i]].utoff);

    int64_t found[2];
    int nfound = 0;
    for (int i = 0; i < noffs; i++) {
        int64_t u = local_s - offs[i];
        if (st_tz_offset_at(tz, u, NULL, NULL) != offs[i]) continue;
        if (nfound < 2) {
            found[nfound++] = u;
        } else { /* keep the two earliest */
            if (found[0] > found[1]) { int64_t x = found[0]; found[0] = found[1]; found[1] = x; }
            if (u < found[1]) found[1] = u;
        }
    }
    if (nfound == 2 && found[0] > found[1]) { int64_t x = found[0]; found[0] = found[1]; found[1] = x; }
    for (int i = 0; i < nfound; i++) out_utc_s[i] = found[i];
    return nfound;
}

size_t st_tz_format_rfc3339(const st_tz *tz, int64_t ns, char *buf)
{
    int64_t s = ns / 1000000000;
    if (ns % 1000000000 < 0) s--;
    return st_time_format_rfc3339_offset(ns, st_tz_offset_at(tz, s, NULL, NULL), buf);
}

/* ---- loading by name ---- */

/* [A-Za-z0-9_+-/] only: '.' is refused outright, so ".." cannot occur. */
static int name_ok(const char *name, size_t len)
{
    if (!name || len == 0 || len > 255 || name[0] == '/') return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-' && c != '/') return 0;
    }
    return 1;
}

static int builtin_utc(const char *name, size_t len, st_tz **out)
{
    static const uint8_t img[] = {
        'T', 'Z', 'i', 'f', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4,
        0, 0, 0, 0, 0, 0, 'U', 'T', 'C', 0,
    };
    char nm[16];
    memcpy(nm, name, len);
    nm[len] = 0;
    return st_tz_from_bytes(nm, img, sizeof img, out);
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    int rc = 0;
    uint8_t *buf = NULL;
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? ST_ENOTFOUND : ST_EIO;
    if (fstat(fd, &sb) != 0) { rc = ST_EIO; goto done; }
    if (!S_ISREG(sb.st_mode)) { rc = ST_ENOTFOUND; goto done; }
    if (sb.st_size > TZ_MAX_FILE) { rc = ST_ECORRUPT; goto done; }
    size_t want = (size_t)sb.st_size, got = 0;
    buf = st_malloc(want ? want : 1);
    if (!buf) { rc = ST_ENOMEM; goto done; }
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { rc = r < 0 ? ST_EIO : ST_ECORRUPT; goto done; }
        got += (size_t)r;
    }
    *data = buf;
    *len = got;
    buf = NULL;
done:
    st_free(buf);
    close(fd);
    return rc;
}

int st_tz_load(const char *name, size_t name_len, st_tz **out)
{
    if (!name_ok(name, name_len)) return ST_EINVAL;
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir) dir = "/usr/share/zoneinfo";
    size_t dlen = strlen(dir);
    int rc;
    uint8_t *data = NULL;
    size_t len = 0;
    char *path = st_malloc(dlen + 1 + name_len + 1);
    if (!path) return ST_ENOMEM;
    memcpy(path, dir, dlen);
    path[dlen] = '/';
    memcpy(path + dlen + 1, name, name_len);
    path[dlen + 1 + name_len] = 0;

    rc = read_file(path, &data, &len);
    if (rc == 0) {
        st_tz *tz = NULL;
        rc = st_tz_from_bytes(path + dlen + 1, data, len, &tz);
        if (rc == 0) *out = tz;
    } else if (rc == ST_ENOTFOUND && ((name_len == 3 && memcmp(name, "UTC", 3) == 0) ||
                                      (name_len == 7 && memcmp(name, "Etc/UTC", 7) == 0))) {
        rc = builtin_utc(name, name_len, out);
    }
    st_free(data);
    st_free(path);
    return rc;
}
