/*
 * tools/check.c — `strata check DIR`: verify a data directory offline.
 *
 * Reads without changing anything: the FORMAT file; every WAL segment
 * (header and record CRCs; a torn tail — what a crash leaves and the next
 * start cuts off — is noted, damage followed by valid records is an error);
 * every segment file (seg_verify: header, index, footer and block CRCs, and
 * that every block decodes to its index entry); the catalog (sqlite3),
 * loaded into an index, and the series that the segment files name.
 * Refuses a directory whose LOCK a running stratad holds.
 * Exit 0 when clean, 1 when damage was found, 2 when DIR cannot be checked.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/crc32c.h"
#include "common/err.h"
#include "common/log.h"
#include "storage/catalog.h"
#include "storage/seg.h"
#include "storage/sindex.h"
#include "storage/stor.h"
#include "storage/wal_format.h"
#include "tools/tools.h"

typedef struct check {
    const char *dir;
    uint64_t problems, notes;
    uint64_t wal_files, wal_records, wal_bytes;
    uint64_t seg_files, columns, blocks, points, bad_blocks;
    uint64_t unknown_series;
    sidx *idx;
    int verbose;
} check;

static void problem(check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "DAMAGE ");
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    c->problems++;
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return st_from_errno(errno);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = st_malloc(n > 0 ? (size_t)n : 1);
    if (!b) { fclose(f); return ST_ENOMEM; }
    size_t got = n > 0 ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    *out = b;
    *len = got;
    return 0;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) if (p[i]) return 0;
    return 1;
}

static void check_wal_file(check *c, const char *path)
{
    unsigned char *b = NULL;
    size_t n = 0;
    if (read_file(path, &b, &n) != 0) { problem(c, "%s: cannot read", path); return; }
    c->wal_files++;
    wal_seg_hdr sh;
    if (n < WAL_SEG_HDR_SIZE || !wal_seg_hdr_decode(b, &sh)) {
        if (all_zero(b, n)) printf("note   %s: empty segment (a start that wrote nothing)\n", path), c->notes++;
        else problem(c, "%s: bad segment header", path);
        st_free(b);
        return;
    }
    size_t off = WAL_SEG_HDR_SIZE;
    size_t bad_at = 0;
    int bad = 0;
    uint64_t records = 0;
    while (off + WAL_REC_HDR_SIZE <= n) {
        wal_rec_hdr h;
        if (wal_rec_hdr_decode(b + off, &h) && (uint64_t)h.stored_len <= n - off - WAL_REC_HDR_SIZE &&
            wal_rec_payload_ok(&h, b + off + WAL_REC_HDR_SIZE)) {
            if (bad) {
                problem(c, "%s: damaged bytes at offset %zu..%zu before a valid record (seq %" PRIu64 "): records there are lost",
                        path, bad_at, off, h.seq);
                bad = 0;
            }
            records++;
            c->wal_bytes += h.raw_len;
            off += (size_t)wal_rec_size(h.stored_len);
            continue;
        }
        if (all_zero(b + off, WAL_REC_HDR_SIZE) && !bad) {
            /* Preallocated space: the clean end, unless something valid follows. */
            size_t k = off;
            while (k < n && b[k] == 0) k++;
            if (k >= n) break;
        }
        if (!bad) { bad = 1; bad_at = off; }
        off += WAL_REC_ALIGN;
    }
    if (bad) {
        printf("note   %s: torn tail at offset %zu (a crash left it; the next start cuts it off)\n", path, bad_at);
        c->notes++;
    }
    c->wal_records += records;
    if (c->verbose) printf("ok     %s: %" PRIu64 " records\n", path, records);
    st_free(b);
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void check_wal(check *c)
{
    char wdir[4096];
    snprintf(wdir, sizeof wdir, "%s/wal", c->dir);
    DIR *d = opendir(wdir);
    if (!d) return;
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".wal") != 0) continue;
        if (st_grow(&names, &cap, nn + 1, sizeof *names, 16)) break;
        names[nn++] = st_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, name_cmp);
    for (size_t i = 0; i < nn; i++) {
        char p[8192];
        if (names[i] && snprintf(p, sizeof p, "%s/%s", wdir, names[i]) < (int)sizeof p) check_wal_file(c, p);
        st_free(names[i]);
    }
    st_free(names);
}

static void seg_problem(void *arg, const char *path, uint64_t series, uint64_t field, uint64_t offset, int err,
                        const char *what)
{
    check *c = arg;
    problem(c, "%s: series=%" PRIu64 " field=%" PRIu64 " offset=%" PRIu64 ": %s (%s)", path, series, field, offset,
            what, st_strerror(err));
}

typedef struct seen { int found; } seen;
static int seen_cb(void *arg, uint64_t sid, uint64_t db, const void *k, size_t kl)
{
    (void)sid; (void)db; (void)k; (void)kl;
    ((seen *)arg)->found = 1;
    return 0;
}

static void check_seg_file(check *c, const char *path)
{
    seg_verify_result r;
    memset(&r, 0, sizeof r);
    int rc = seg_verify(stor_io_posix(), path, seg_problem, c, &r);
    c->seg_files++;
    c->columns += r.columns;
    c->blocks += r.blocks;
    c->points += r.points;
    c->bad_blocks += r.bad_blocks;
    if (rc && rc != ST_ECORRUPT) problem(c, "%s: cannot be read: %s", path, st_strerror(rc));
    if (rc == 0 && c->idx) {
        seg *sg;
        if (seg_open(stor_io_posix(), path, NULL, &sg) == 0) {
            for (size_t i = 0; i < seg_column_count(sg); i++) {
                const seg_column *col = seg_column_at(sg, i);
                seen sn = { 0 };
                sidx_series_get(c->idx, col->series_id, seen_cb, &sn);
                if (!sn.found) c->unknown_series++;
            }
            seg_unref(sg);
        }
    }
    if (c->verbose && rc == 0) printf("ok     %s: %" PRIu64 " columns, %" PRIu64 " points\n", path, r.columns, r.points);
}

static void walk_segments(check *c)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/db", c->dir);
    DIR *d = opendir(root);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dbd[4096];
        if (snprintf(dbd, sizeof dbd, "%s/%s", root, e->d_name) >= (int)sizeof dbd) continue;
        DIR *pd = opendir(dbd);
        if (!pd) continue;
        struct dirent *pe;
        while ((pe = readdir(pd))) {
            if (pe->d_name[0] == '.') continue;
            char pdir[4096];
            if (snprintf(pdir, sizeof pdir, "%s/%s", dbd, pe->d_name) >= (int)sizeof pdir) continue;
            DIR *fd = opendir(pdir);
            if (!fd) continue;
            struct dirent *fe;
            while ((fe = readdir(fd))) {
                size_t l = strlen(fe->d_name);
                char fp[4096];
                if (snprintf(fp, sizeof fp, "%s/%s", pdir, fe->d_name) >= (int)sizeof fp) continue;
                if (l > 8 && strcmp(fe->d_name + l - 8, ".seg.tmp") == 0) {
                    printf("note   %s: unfinished segment (a crash during a flush; removed at the next start)\n", fp);
                    c->notes++;
                } else if (l > 4 && strcmp(fe->d_name + l - 4, ".seg") == 0) {
                    check_seg_file(c, fp);
                }
            }
            closedir(fd);
        }
        closedir(pd);
    }
    closedir(d);
}

int tool_check_main(int argc, char **argv)
{
    check c;
    memset(&c, 0, sizeof c);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) c.verbose = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: strata check [-v] DIR\n  verify a data directory offline (stop stratad first)\n");
            return 0;
        } else if (argv[i][0] == '-') { fprintf(stderr, "strata check: unknown option %s\n", argv[i]); return 2; }
        else c.dir = argv[i];
    }
    if (!c.dir) { fprintf(stderr, "usage: strata check [-v] DIR\n"); return 2; }
    st_log_set_level(ST_LOG_OFF);
    char p[4096];
    snprintf(p, sizeof p, "%s/FORMAT", c.dir);
    FILE *f = fopen(p, "r");
    if (!f) { fprintf(stderr, "strata check: %s is not a Strata data directory (no FORMAT file)\n", c.dir); return 2; }
    char line[128] = { 0 };
    if (!fgets(line, sizeof line, f) || strcmp(line, STOR_FORMAT_TEXT) != 0)
        problem(&c, "%s: unknown format '%.*s'", p, (int)strcspn(line, "\n"), line);
    fclose(f);
    snprintf(p, sizeof p, "%s/LOCK", c.dir);
    int lfd = open(p, O_RDWR | O_CLOEXEC);
    if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "strata check: %s is in use by a running stratad: stop it first (or check a copy)\n", c.dir);
        close(lfd);
        return 2;
    }
    sidx_config ic = { 0 };
    cat *catalog = NULL;
    snprintf(p, sizeof p, "%s/catalog.db", c.dir);
    struct stat st;
    if (stat(p, &st) == 0 && sidx_create(&ic, &c.idx) == 0) {
        int rc = cat_open(p, &catalog);
        if (rc == 0) rc = cat_load(catalog, c.idx);
        if (rc) problem(&c, "%s: the catalog cannot be read: %s", p, st_strerror(rc));
    }
    check_wal(&c);
    walk_segments(&c);
    printf("strata check: %s: WAL %" PRIu64 " files, %" PRIu64 " records; segments %" PRIu64 " files, %" PRIu64
           " columns, %" PRIu64 " blocks, %" PRIu64 " points; catalog %" PRIu64 " series",
           c.dir, c.wal_files, c.wal_records, c.seg_files, c.columns, c.blocks, c.points,
           c.idx ? sidx_series_count(c.idx) : 0);
    if (c.unknown_series) printf(" (%" PRIu64 " segment columns of series not in the catalog: dropped, or defined in the WAL)", c.unknown_series);
    printf("\n%s: %" PRIu64 " problems, %" PRIu64 " notes\n", c.problems ? "DAMAGED" : "clean", c.problems, c.notes);
    cat_close(catalog);
    sidx_destroy(c.idx);
    if (lfd >= 0) close(lfd);
    return c.problems ? 1 : 0;
}
