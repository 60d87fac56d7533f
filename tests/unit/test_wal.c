/*
 * tests/unit/test_wal.c — the WAL (storage/wal.c), its format and the I/O
 * table's fault injection and power-loss simulator (storage/io.c).
 *
 * Payloads are a formula of a key: 8 bytes of key, then bytes derived from
 * it (some runs compressible, some not), length a function of the key, so
 * replay can check every record byte-exactly without storing them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "storage/io.h"
#include "storage/wal.h"
#include "storage/wal_format.h"
#include "tests/unit/unit.h"

/* ------------------------------------------------------------- helpers */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

static size_t payload_len(uint64_t key) { return 8 + (size_t)(mix(key) % 1500); }

static void payload_fill(uint64_t key, unsigned char *p, size_t len)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(key >> (8 * i));
    uint64_t h = mix(key + 1);
    for (size_t i = 8; i < len; i++) {
        /* compressible text half the time, noise otherwise */
        if (key & 1) p[i] = (unsigned char)("cpu,host=a usage=0.5 "[i % 21]);
        else { h = mix(h + i); p[i] = (unsigned char)h; }
    }
}

/* Checks a replayed payload against the formula; returns its key or UINT64_MAX. */
static uint64_t payload_key(const void *data, size_t len)
{
    if (len < 8) return UINT64_MAX;
    const unsigned char *p = data;
    uint64_t key = 0;
    for (int i = 0; i < 8; i++) key |= (uint64_t)p[i] << (8 * i);
    if (payload_len(key) != len) return UINT64_MAX;
    unsigned char *exp = malloc(len);
    payload_fill(key, exp, len);
    int ok = memcmp(exp, data, len) == 0;
    free(exp);
    return ok ? key : UINT64_MAX;
}

static char g_tmp[256];

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            rm_rf(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void cleanup_dir(void);

static const char *fresh_dir(void)
{
    cleanup_dir();
    if (!unit_tmpdir(g_tmp, sizeof g_tmp, "wal")) { perror("mkdtemp"); exit(2); }
    strcat(g_tmp, "/wal"); /* wal_open creates it */
    return g_tmp;
}

static void cleanup_dir(void)
{
    if (!g_tmp[0]) return;
    char *sl = strrchr(g_tmp, '/');
    *sl = 0;
    rm_rf(g_tmp);
    g_tmp[0] = 0;
}

static int count_segments(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".wal")) n++;
    if (d) closedir(d);
    return n;
}

/* Capture stderr (the log) while running replay. */
static int cap_saved = -1;
static char cap_path[300];
static void capture_begin(void)
{
    fflush(stderr);
    snprintf(cap_path, sizeof cap_path, "%s.log", g_tmp);
    int fd = open(cap_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    cap_saved = dup(2);
    dup2(fd, 2);
    close(fd);
}
/* Returns the number of lines containing `needle`; copies the log to *out (caller frees). */
static int capture_end(const char *needle, char **out)
{
    fflush(stderr);
    dup2(cap_saved, 2);
    close(cap_saved);
    FILE *f = fopen(cap_path, "r");
    char line[4096];
    int n = 0;
    size_t cap = 1, len = 0;
    char *all = calloc(1, 1);
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, needle)) n++;
        size_t l = strlen(line);
        all = realloc(all, cap += l);
        memcpy(all + len, line, l + 1);
        len += l;
    }
    if (f) fclose(f);
    unlink(cap_path);
    if (out) *out = all; else free(all);
    return n;
}

/* Replay collector. */
typedef struct coll {
    uint64_t *seq, *key;
    size_t n, cap;
    int bad;
} coll;

static int coll_cb(void *arg, int type, uint64_t seq, const void *payload, size_t len)
{
    coll *c = arg;
    uint64_t key = payload_key(payload, len);
    if (key == UINT64_MAX || type != WAL_REC_WRITE) c->bad++;
    if (c->n && seq <= c->seq[c->n - 1]) c->bad++;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->seq = realloc(c->seq, c->cap * sizeof *c->seq);
        c->key = realloc(c->key, c->cap * sizeof *c->key);
    }
    c->seq[c->n] = seq;
    c->key[c->n] = key;
    c->n++;
    return 0;
}

static void coll_free(coll *c) { free(c->seq); free(c->key); memset(c, 0, sizeof *c); }

static int coll_find(const coll *c, uint64_t seq, uint64_t *key_out)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (c->seq[m] < seq) lo = m + 1; else hi = m;
    }
    if (lo < c->n && c->seq[lo] == seq) { *key_out = c->key[lo]; return 1; }
    return 0;
}

/* Synchronous append: waits for the callback. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
    uint64_t seq;
} waiter;

static void waiter_cb(void *arg, int status, uint64_t seq)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = 1; w->status = status; w->seq = seq;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Appends payload(key) and waits; returns the status (or the append error); *seq set. */
static int append_sync(wal *w, uint64_t key, uint64_t *seq)
{
    size_t len = payload_len(key);
    unsigned char *p = malloc(len);
    payload_fill(key, p, len);
    waiter wt = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
    int rc = wal_append(w, WAL_REC_WRITE, p, len, waiter_cb, &wt);
    if (rc == 0) {
        pthread_mutex_lock(&wt.mu);
        while (!wt.done) pthread_cond_wait(&wt.cv, &wt.mu);
        pthread_mutex_unlock(&wt.mu);
        rc = wt.status;
        if (seq) *seq = wt.seq;
    }
    free(p);
    return rc;
}

static int replay_all(const char *dir, uint64_t from, coll *c, wal_replay_result *res)
{
    memset(c, 0, sizeof *c);
    return wal_replay(dir, NULL, from, coll_cb, c, res);
}

/* --------------------------------------------------------------- tests */

TEST(format_roundtrip)
{
    unsigned char b[WAL_REC_HDR_SIZE];
    wal_rec_hdr h = { .type = WAL_REC_SCHEMA, .flags = WAL_FLAG_LZ4, .seq = 0x0102030405060708ull,
                      .stored_len = 100, .raw_len = 300, .data_crc = 0xdeadbeef }, d;
    wal_rec_hdr_encode(&h, b);
    CHECK(b[0] == 'S' && b[1] == 'W' && b[2] == 'R' && b[3] == '1');
    CHECK(b[8] == 0x08 && b[15] == 0x01); /* little-endian seq */
    REQUIRE(wal_rec_hdr_decode(b, &d));
    CHECK_EQ_U64(d.seq, h.seq);
    CHECK_EQ_INT(d.type, WAL_REC_SCHEMA);
    CHECK_EQ_INT(d.raw_len, 300);
    for (int i = 0; i < WAL_REC_HDR_SIZE; i++) { /* every flipped bit is caught */
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1 << bit);
            CHECK(!wal_rec_hdr_decode(b, &d));
            b[i] ^= (unsigned char)(1 << bit);
        }
    }
    CHECK_EQ_U64(wal_rec_size(0), 32);
    CHECK_EQ_U64(wal_rec_size(1), 40);
    CHECK_EQ_U64(wal_rec_size(8), 40);
    unsigned char s[WAL_SEG_HDR_SIZE];
    wal_seg_hdr sh;
    wal_seg_hdr_encode(0x400, s);
    REQUIRE(wal_seg_hdr_decode(s, &sh));
    CHECK_EQ_U64(sh.first_seq, 0x400);
    s[17] ^= 1;
    CHECK(!wal_seg_hdr_decode(s, &sh));
}

TEST(write_replay_roundtrip)
{
    const char *dir = fresh_dir();
    int64_t live0 = st_alloc_live();
    wal_opts o;
    wal_opts_init(&o, dir);
    o.segment_bytes = 128 * 1024; /* several rolls */
    wal *w = NULL;
    REQUIRE(wal_open(&o, &w) == 0);
    const int N = 1500;
    int order_ok = 1;
    for (int i = 0; i < N; i++) {
        uint64_t seq = 0;
        int rc = append_sync(w, (uint64_t)i, &seq);
        if (rc != 0 || seq != (uint64_t)i + 1) order_ok = 0;
    }
    CHECK(order_ok);
    wal_stats st;
    wal_stats_get(w, &st);
    CHECK_EQ_U64(st.records, N);
    CHECK_EQ_U64(st.next_seq, N + 1);
    CHECK(st.segments_created > 3);
    CHECK(st.fsyncs >= (uint64_t)N);
    CHECK_EQ_INT(wal_close(w), 0);
    CHECK((int)st.segments_created == count_segments(dir));

    coll c;
    wal_replay_result res;
    REQUIRE(replay_all(dir, 0, &c, &res) == 0);
    CHECK_EQ_U64(c.n, N);
    CHECK_EQ_INT(c.bad, 0);
    int all = 1;
    for (size_t i = 0; i < c.n; i++)
        if (c.seq[i] != i + 1 || c.key[i] != i) all = 0;
    CHECK(all);
    CHECK_EQ_U64(res.next_seq, N + 1);
    CHECK_EQ_U64(res.records_lost, 0);
    CHECK_EQ_U64(res.bytes_truncated, 0);
    coll_free(&c);

    REQUIRE(replay_all(dir, 1000, &c, &res) == 0);
    CHECK_EQ_U64(c.n, N - 999);
    CHECK(c.n && c.seq[0] == 1000);
    CHECK_EQ_U64(res.next_seq, N + 1);
    coll_free(&c);

    /* A next_seq that did not come from replay must not clobber records. */
    o.next_seq = 1;
    capture_begin();
    CHECK_EQ_INT(wal_open(&o, &w), ST_EEXISTS);
    CHECK_EQ_INT(capture_end(" error wal:", NULL), 1);
    /* Reopen at next_seq and continue: a new file, numbering goes on. */
    o.next_seq = res.next_seq;
    REQUIRE(wal_open(&o, &w) == 0);
    uint64_t seq = 0;
    CHECK_EQ_INT(append_sync(w, 77777, &seq), 0);
    CHECK_EQ_U64(seq, N + 1);
    CHECK_EQ_INT(wal_close(w), 0);
    REQUIRE(replay_all(dir, N, &c, &res) == 0);
    CHECK_EQ_U64(c.n, 2);
    CHECK(c.n == 2 && c.key[1] == 77777);
    coll_free(&c);
    CHECK_EQ_INT(st_alloc_live(), live0);
}

/* ---- concurrency */

#define CT_THREADS 4
#define CT_PER 400

typedef struct ct_shared {
    wal *w;
    pthread_mutex_t mu;
    uint64_t last_seq;
    int out_of_order, calls[CT_THREADS * CT_PER], fails;
    unsigned char *payloads[CT_THREADS * CT_PER];
} ct_shared;

typedef struct ct_arg { ct_shared *s; int key; waiter *wt; } ct_arg;

static void ct_cb(void *arg, int status, uint64_t seq)
{
    ct_arg *a = arg;
    ct_shared *s = a->s;
    pthread_mutex_lock(&s->mu);
    if (status) s->fails++;
    if (seq <= s->last_seq) s->out_of_order++;
    s->last_seq = seq;
    s->calls[a->key]++;
    pthread_mutex_unlock(&s->mu);
    if (a->wt) waiter_cb(a->wt, status, seq);
}

static ct_shared g_ct;
static ct_arg g_ct_args[CT_THREADS * CT_PER];

static void *ct_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < CT_PER; i++) {
        int key = t * CT_PER + i;
        size_t len = payload_len((uint64_t)key);
        g_ct.payloads[key] = malloc(len);
        payload_fill((uint64_t)key, g_ct.payloads[key], len);
        /* every 4th append waits for its callback like a client would, so
         * groups form while the writer syncs */
        waiter wt = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
        g_ct_args[key] = (ct_arg){ &g_ct, key, (i & 3) == 3 ? &wt : NULL };
        if (wal_append(g_ct.w, WAL_REC_WRITE, g_ct.payloads[key], len, ct_cb, &g_ct_args[key]) != 0) {
            pthread_mutex_lock(&g_ct.mu);
            g_ct.fails++;
            pthread_mutex_unlock(&g_ct.mu);
        } else if (g_ct_args[key].wt) {
            pthread_mutex_lock(&wt.mu);
            while (!wt.done) pthread_cond_wait(&wt.cv, &wt.mu);
            pthread_mutex_unlock(&wt.mu);
        }
    }
    return NULL;
}

TEST(concurrent_appends_group_commit)
{
    const char *dir = fresh_dir();
    memset(&g_ct, 0, sizeof g_ct);
    pthread_mutex_init(&g_ct.mu, NULL);
    wal_opts o;
    wal_opts_init(&o, dir);
    o.segment_bytes = 1 << 20;
    REQUIRE(wal_open(&o, &g_ct.w) == 0);
    pthread_t th[CT_THREADS];
    for (int t = 0; t < CT_THREADS; t++) pthread_create(&th[t], NULL, ct_thread, (void *)(intptr_t)t);
    for (int t = 0; t < CT_THREADS; t++) pthread_join(th[t], NULL);
    wal_stats st0;
    wal_stats_get(g_ct.w, &st0);
    CHECK_EQ_INT(wal_close(g_ct.w), 0); /* drains the queue */
    wal_stats st;
    memset(&st, 0, sizeof st);
    const int N = CT_THREADS * CT_PER;
    CHECK_EQ_INT(g_ct.fails, 0);
    CHECK_EQ_INT(g_ct.out_of_order, 0);
    int once = 1;
    for (int k = 0; k < N; k++) if (g_ct.calls[k] != 1) once = 0;
    CHECK(once);
    CHECK_EQ_U64(g_ct.last_seq, N);
    /* group commit: fewer fsyncs than appends */
    printf("  %d appends from %d threads: %llu groups, %llu fsyncs\n", N, CT_THREADS,
           (unsigned long long)st0.groups, (unsigned long long)st0.fsyncs);
    CHECK(st0.groups < (uint64_t)N);
    CHECK(st0.fsyncs < (uint64_t)N);
    CHECK(st0.records >= (uint64_t)N - 3 * CT_THREADS);
    coll c;
    wal_replay_result res;
    REQUIRE(replay_all(dir, 0, &c, &res) == 0);
    CHECK_EQ_U64(c.n, N);
    CHECK_EQ_INT(c.bad, 0);
    int *seen = calloc((size_t)N, sizeof *seen);
    int dup = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (c.key[i] >= (uint64_t)N || seen[c.key[i]]++) dup++;
    }
    CHECK_EQ_INT(dup, 0);
    free(seen);
    coll_free(&c);
    for (int k = 0; k < N; k++) free(g_ct.payloads[k]);
    pthread_mutex_destroy(&g_ct.mu);
}

TEST(checkpoint_deletes_old_segments)
{
    const char *dir = fresh_dir();
    wal_opts o;
    wal_opts_init(&o, dir);
    o.segment_bytes = 16 * 1024;
    o.lz4 = 0;
    wal *w = NULL;
    REQUIRE(wal_open(&o, &w) == 0);
    for (int i = 0; i < 400; i++) CHECK_EQ_INT(append_sync(w, (uint64_t)i, NULL), 0);
    int before = count_segments(dir);
    CHECK(before > 10);
    CHECK_EQ_INT(wal_checkpoint(w, 1), 0);
    CHECK_EQ_INT(count_segments(dir), before); /* nothing below 1 */
    CHECK_EQ_INT(wal_checkpoint(w, 200), 0);
    int after = count_segments(dir);
    CHECK(after < before && after > 1);
    /* every record >= 200 is still there */
    coll c;
    wal_replay_result res;
    REQUIRE(replay_all(dir, 200, &c, &res) == 0);
    CHECK_EQ_U64(c.n, 201);
    CHECK(c.n && c.seq[0] == 200);
    CHECK_EQ_U64(res.records_lost, 0);
    coll_free(&c);
    CHECK_EQ_INT(wal_checkpoint(w, UINT64_MAX), 0);
    CHECK_EQ_INT(count_segments(dir), 1); /* the current one stays */
    CHECK_EQ_INT(append_sync(w, 5000, NULL), 0);
    CHECK_EQ_INT(wal_close(w), 0);
    REQUIRE(replay_all(dir, 0, &c, &res) == 0);
    CHECK(c.n >= 1 && c.seq[c.n - 1] == 401 && c.key[c.n - 1] == 5000);
    CHECK_EQ_U64(res.next_seq, 402);
    coll_free(&c);
}

/* Reads a whole file. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(b, 1, len, f); fclose(f); }
}

/* Offsets of the records in a segment image. */
static int record_offsets(const unsigned char *b, size_t len, uint64_t *offs, int max)
{
    int n = 0;
    uint64_t off = WAL_SEG_HDR_SIZE;
    wal_rec_hdr h;
    while (off + WAL_REC_HDR_SIZE <= len && n < max && wal_rec_hdr_decode(b + off, &h)) {
        offs[n++] = off;
        off += wal_rec_size(h.stored_len);
    }
    offs[n] = off;
    return n;
}

/* Writes n records into one segment; returns its path in path. */
static int one_segment(const char *dir, int n, int lz4, char *path, size_t cap)
{
    wal_opts o;
    wal_opts_init(&o, dir);
    o.segment_bytes = 64 * 1024;
    o.lz4 = lz4;
    wal *w = NULL;
    if (wal_open(&o, &w)) return -1;
    for (int i = 0; i < n; i++)
        if (append_sync(w, (uint64_t)i + 1000, NULL)) return -1;
    if (wal_close(w)) return -1;
    snprintf(path, cap, "%s/%016x.wal", dir, 1);
    return 0;
}

TEST(torn_tail_every_offset)
{
    const char *dir = fresh_dir();
    char path[512];
    REQUIRE(one_segment(dir, 11, 0, path, sizeof path) == 0);
    /* a 12th record with a short payload keeps the loop (and its fsyncs) small */
    uint64_t small = 2000;
    while (payload_len(small) > 60) small++;
    {
        wal_opts o;
        wal_opts_init(&o, dir);
        o.segment_bytes = 64 * 1024;
        o.next_seq = 12;
        wal *w = NULL;
        REQUIRE(wal_open(&o, &w) == 0);
        REQUIRE(append_sync(w, small, NULL) == 0);
        REQUIRE(wal_close(w) == 0);
        /* move record 12 into the first file so the cut is in the last record of the last file */
        char p2[512];
        snprintf(p2, sizeof p2, "%s/%016x.wal", dir, 12);
        size_t l1, l2;
        unsigned char *a = slurp(path, &l1), *b = slurp(p2, &l2);
        REQUIRE(a && b);
        uint64_t oa[64], ob[4];
        int na = record_offsets(a, l1, oa, 63), nb = record_offsets(b, l2, ob, 3);
        REQUIRE(na == 11 && nb == 1);
        memcpy(a + oa[11], b + ob[0], (size_t)(ob[1] - ob[0]));
        spit(path, a, l1);
        unlink(p2);
        free(a);
        free(b);
    }
    size_t len;
    unsigned char *img = slurp(path, &len);
    REQUIRE(img != NULL);
    uint64_t offs[64];
    int n = record_offsets(img, len, offs, 63);
    REQUIRE(n == 12);
    wal_rec_hdr lh;
    REQUIRE(wal_rec_hdr_decode(img + offs[11], &lh));
    uint64_t start = offs[11], end = offs[11] + WAL_REC_HDR_SIZE + lh.stored_len; /* not the padding */
    int bad = 0, errors = 0, loops = 0;
    for (int zero_mode = 0; zero_mode < 2; zero_mode++) {
        for (uint64_t cut = start + 1; cut < end; cut++) {
            if (zero_mode) { /* torn inside the preallocated file: zeros after the cut */
                unsigned char *cp = malloc(len);
                memcpy(cp, img, len);
                memset(cp + cut, 0, len - cut);
                spit(path, cp, len);
                free(cp);
            } else {
                spit(path, img, (size_t)cut);
            }
            coll c;
            wal_replay_result res;
            capture_begin();
            int rc = replay_all(dir, 0, &c, &res);
            errors += capture_end(" error ", NULL);
            if (rc || c.n != 11 || c.bad || res.next_seq != 12 || res.records_lost) {
                if (bad++ < 3) printf("  cut=%llu zero=%d: rc=%d n=%zu next=%llu\n", (unsigned long long)cut,
                                      zero_mode, rc, c.n, (unsigned long long)res.next_seq);
            }
            for (size_t i = 0; i < c.n; i++) if (c.key[i] != 1000 + i) bad++;
            coll_free(&c);
            /* repaired: the second replay is clean, nothing truncated */
            if (replay_all(dir, 0, &c, &res) || c.n != 11 || res.bytes_truncated) bad++;
            coll_free(&c);
            loops++;
        }
    }
    printf("  %d cuts inside the last record\n", loops);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(errors, 0);
    free(img);
}

TEST(garbage_appended)
{
    const char *dir = fresh_dir();
    char path[512];
    REQUIRE(one_segment(dir, 20, 1, path, sizeof path) == 0);
    size_t len;
    unsigned char *img = slurp(path, &len);
    REQUIRE(img != NULL);
    uint64_t offs[64];
    REQUIRE(record_offsets(img, len, offs, 63) == 20);
    uint64_t x = 12345;
    for (int i = 0; i < 300; i++) { x = mix(x); img[offs[20] + (uint64_t)i] = (unsigned char)(x | 1); }
    spit(path, img, len);
    coll c;
    wal_replay_result res;
    capture_begin();
    REQUIRE(replay_all(dir, 0, &c, &res) == 0);
    char *log = NULL;
    int errors = capture_end(" error ", &log);
    CHECK_EQ_INT(errors, 0);
    CHECK(strstr(log, "torn tail") != NULL);
    free(log);
    CHECK_EQ_U64(c.n, 20);
    CHECK_EQ_INT(c.bad, 0);
    CHECK(res.bytes_truncated >= 300);
    coll_free(&c);
    /* also garbage past the end of file */
    spit(path, img, len);
    FILE *f = fopen(path, "ab");
    fwrite("garbage!garbage!garbage!", 1, 24, f);
    fclose(f);
    REQUIRE(replay_all(dir, 0, &c, &res) == 0);
    CHECK_EQ_U64(c.n, 20);
    coll_free(&c);
    free(img);
}

TEST(corrupt_middle_record)
{
    const char *dir = fresh_dir();
    char path[512];
    REQUIRE(one_segment(dir, 30, 1, path, sizeof path) == 0);
    size_t len;
    unsigned char *img = slurp(path, &len);
    REQUIRE(img != NULL);
    uint64_t offs[64];
    REQUIRE(record_offsets(img, len, offs, 63) == 30);
    const char *what[3] = { "payload crc mismatch", "bad header", "bad magic" };
    for (int k = 0; k < 3; k++) {
        unsigned char *cp = malloc(len);
        memcpy(cp, img, len);
        /* seq 10 is the 10th record: payload byte, header byte, magic byte */
        uint64_t at = k == 0 ? offs[9] + WAL_REC_HDR_SIZE + 3 : k == 1 ? offs[9] + 9 : offs[9];
        cp[at] ^= 0x40;
        if (k == 2) { cp[offs[10] + 17] ^= 1; } /* and the header of seq 11: two lost */
        spit(path, cp, len);
        free(cp);
        coll c;
        wal_replay_result res;
        capture_begin();
        REQUIRE(replay_all(dir, 0, &c, &res) == 0);
        char *log = NULL;
        int errors = capture_end(" error ", &log);
        CHECK_EQ_INT(errors, 1);
        char want[128];
        snprintf(want, sizeof want, "lost records seq=10..%d in 0000000000000001.wal: %s",
                 k == 2 ? 11 : 10, what[k]);
        if (!strstr(log, want)) printf("  log was: %s  wanted: %s\n", log, want);
        CHECK(strstr(log, want) != NULL);
        free(log);
        CHECK_EQ_U64(c.n, k == 2 ? 28 : 29);
        CHECK_EQ_U64(res.records_lost, k == 2 ? 2 : 1);
        CHECK_EQ_INT(c.bad, 0);
        CHECK_EQ_U64(res.next_seq, 31);
        uint64_t key;
        CHECK(!coll_find(&c, 10, &key));
        CHECK(coll_find(&c, 30, &key) && key == 1029);
        CHECK(coll_find(&c, 9, &key) && key == 1008);
        coll_free(&c);
    }
    free(img);
}

/* Append keys 0..n-1 synchronously; acked[i] = seq or 0. */
static void append_many(wal *w, int n, uint64_t key0, uint64_t *acked, int *statuses)
{
    for (int i = 0; i < n; i++) {
        uint64_t seq = 0;
        int rc = append_sync(w, key0 + (uint64_t)i, &seq);
        acked[i] = rc == 0 ? seq : 0;
        if (statuses) statuses[i] = rc;
    }
}

/* Replay must hold exactly/at least the acknowledged ones, byte-exact. */
static void check_acked(const char *dir, int n, uint64_t key0, const uint64_t *acked, int exact, int *lost_out)
{
    coll c;
    wal_replay_result res;
    int rc = replay_all(dir, 0, &c, &res);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c.bad, 0);
    int missing = 0, acked_n = 0;
    for (int i = 0; i < n; i++) {
        if (!acked[i]) continue;
        acked_n++;
        uint64_t key;
        if (!coll_find(&c, acked[i], &key) || key != key0 + (uint64_t)i) missing++;
    }
    CHECK_EQ_INT(missing, 0);
    if (exact) CHECK_EQ_U64(c.n, (uint64_t)acked_n);
    for (size_t i = 0; i < c.n; i++) /* nothing invented */
        if (c.key[i] < key0 || c.key[i] >= key0 + (uint64_t)n) { CHECK(!"invented record"); break; }
    if (lost_out) *lost_out = acked_n - (int)c.n;
    coll_free(&c);
}

TEST(enospc_at_segment_creation)
{
    const char *dir = fresh_dir();
    stor_io_sim *sim = NULL;
    REQUIRE(stor_io_sim_create(1, &sim) == 0);
    wal_opts o;
    wal_opts_init(&o, dir);
    o.io = stor_io_sim_io(sim);
    o.segment_bytes = 8 * 1024;
    o.lz4 = 0;
    wal *w = NULL;
    REQUIRE(wal_open(&o, &w) == 0);
    /* fallocate #0 was the first segment; the next two rolls hit ENOSPC */
    stor_io_sim_inject(sim, STOR_IO_FALLOCATE, 0, ST_ENOSPC, 0);
    enum { N = 60 };
    uint64_t acked[N];
    int st[N];
    append_many(w, N, 0, acked, st);
    int nospc = 0, ok = 0, other = 0;
    for (int i = 0; i < N; i++) {
        if (st[i] == ST_ENOSPC) nospc++;
        else if (st[i] == 0) ok++;
        else other++;
    }
    CHECK_EQ_INT(nospc, 1);
    CHECK_EQ_INT(other, 0);
    CHECK_EQ_INT(ok, N - 1);
    /* numbering stays dense: the failed append's number went to the next */
    uint64_t prev = 0;
    int dense = 1;
    for (int i = 0; i < N; i++) if (acked[i]) { if (acked[i] != prev + 1) dense = 0; prev = acked[i]; }
    CHECK(dense);
    /* ENOSPC at open itself */
    stor_io_sim_inject(sim, STOR_IO_FALLOCATE, 0, ST_ENOSPC, 0);
    CHECK_EQ_INT(wal_close(w), 0);
    wal *w2 = NULL;
    o.next_seq = prev + 1;
    CHECK_EQ_INT(wal_open(&o, &w2), ST_ENOSPC);
    check_acked(dir, N, 0, acked, 1, NULL);
    stor_io_sim_destroy(sim);
}

TEST(enospc_during_write)
{
    const char *dir = fresh_dir();
    stor_io_sim *sim = NULL;
    REQUIRE(stor_io_sim_create(2, &sim) == 0);
    wal_opts o;
    wal_opts_init(&o, dir);
    o.io = stor_io_sim_io(sim);
    wal *w = NULL;
    REQUIRE(wal_open(&o, &w) == 0);
    /* pwrite #0 from now is record 0's group; fail #5 (half written) and #7 */
    stor_io_sim_inject(sim, STOR_IO_PWRITE, 5, ST_ENOSPC, STOR_IO_INJ_SHORT);
    enum { N = 12 };
    uint64_t acked[N];
    int st[N];
    append_many(w, 6, 0, acked, st);
    stor_io_sim_inject(sim, STOR_IO_PWRITE, 0, ST_ENOSPC, 0);
    append_many(w, N - 6, 6, acked + 6, st + 6);
    CHECK_EQ_INT(st[5], ST_ENOSPC);
    CHECK_EQ_INT(st[6], ST_ENOSPC);
    int ok = 0;
    for (int i = 0; i < N; i++) ok += st[i] == 0;
    CHECK_EQ_INT(ok, N - 2);
    CHECK_EQ_U64(acked[7], 6); /* numbers reused */
    CHECK_EQ_INT(wal_close(w), 0);
    check_acked(dir, N, 0, acked, 1, NULL);
    stor_io_sim_destroy(sim);
}

TEST(eio_on_fdatasync_goes_read_only)
{
    const char *dir = fresh_dir();
    stor_io_sim *sim = NULL;
    REQUIRE(stor_io_sim_create(3, &sim) == 0);
    wal_opts o;
    wal_opts_init(&o, dir);
    o.io = stor_io_sim_io(sim);
    wal *w = NULL;
    REQUIRE(wal_open(&o, &w) == 0);
    stor_io_sim_inject(sim, STOR_IO_FDATASYNC, 4, ST_EIO, 0);
    enum { N = 10 };
    uint64_t acked[N];
    int st[N];
    capture_begin();
    append_many(w, N, 0, acked, st);
    int errors = capture_end(" error wal: storage read-only", NULL);
    CHECK_EQ_INT(errors, 1);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(st[i], 0);
    for (int i = 4; i < N; i++) CHECK_EQ_INT(st[i], ST_EREADONLY);
    uint64_t fs = stor_io_sim_count(sim, STOR_IO_FDATASYNC);
    CHECK_EQ_U64(fs, 5); /* never retried */
    wal_stats ws;
    wal_stats_get(w, &ws);
    CHECK(ws.read_only);
    CHECK_EQ_INT(wal_close(w), ST_EREADONLY);
    check_acked(dir, N, 0, acked, 0, NULL);
    /* EIO on the write itself */
    dir = fresh_dir();
    o.dir = dir;
    REQUIRE(wal_open(&o, &w) == 0);
    stor_io_sim_inject(sim, STOR_IO_PWRITE, 2, ST_EIO, 0);
    capture_begin();
    append_many(w, N, 0, acked, st);
    capture_end("", NULL);
    CHECK_EQ_INT(st[1], 0);
    CHECK_EQ_INT(st[2], ST_EREADONLY);
    CHECK_EQ_INT(st[N - 1], ST_EREADONLY);
    CHECK_EQ_INT(wal_close(w), ST_EREADONLY);
    check_acked(dir, N, 0, acked, 1, NULL);
    stor_io_sim_destroy(sim);
}

/* ---- power loss */

typedef struct pl_shared {
    pthread_mutex_t mu;
    wal *w;
    uint64_t acked[3 * 150];
    unsigned char *pay[3 * 150];
} pl_shared;
typedef struct pl_arg { pl_shared *s; int key; waiter *wt; } pl_arg;
static pl_arg g_pl_args[3 * 150];

static void pl_cb(void *arg, int status, uint64_t seq)
{
    pl_arg *a = arg;
    pthread_mutex_lock(&a->s->mu);
    a->s->acked[a->key] = status == 0 ? seq : 0;
    pthread_mutex_unlock(&a->s->mu);
    waiter_cb(a->wt, status, seq);
}

static pl_shared g_pl;

static void *pl_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < 150; i++) {
        int key = t * 150 + i;
        size_t len = payload_len((uint64_t)key);
        g_pl.pay[key] = malloc(len);
        payload_fill((uint64_t)key, g_pl.pay[key], len);
        /* each client waits for its acknowledgement, as a server's would:
         * many small groups, so the crash point lands anywhere */
        waiter wt = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
        g_pl_args[key] = (pl_arg){ &g_pl, key, &wt };
        if (wal_append(g_pl.w, WAL_REC_WRITE, g_pl.pay[key], len, pl_cb, &g_pl_args[key]) != 0) break;
        pthread_mutex_lock(&wt.mu);
        while (!wt.done) pthread_cond_wait(&wt.cv, &wt.mu);
        pthread_mutex_unlock(&wt.mu);
    }
    return NULL;
}

TEST(power_loss_group_mode)
{
    int runs = 0, bad = 0;
    uint64_t total_acked = 0, total_lost_unacked = 0;
    int unacked_survived = 0, repaired = 0;
    for (int mode = 0; mode < 2; mode++) {
        for (uint64_t seed = 1; seed <= 30; seed++) {
            const char *dir = fresh_dir();
            stor_io_sim *sim = NULL;
            REQUIRE(stor_io_sim_create(seed, &sim) == 0);
            stor_io_sim_real_sync(sim, 0);
            memset(&g_pl, 0, sizeof g_pl);
            pthread_mutex_init(&g_pl.mu, NULL);
            wal_opts o;
            wal_opts_init(&o, dir);
            o.io = stor_io_sim_io(sim);
            o.segment_bytes = 32 * 1024; /* rolls inside the run */
            o.lz4 = (int)(seed & 1);
            REQUIRE(wal_open(&o, &g_pl.w) == 0);
            stor_io_sim_die_after(sim, 3 + mix(seed * 7 + (uint64_t)mode) % 500);
            capture_begin();
            pthread_t th[3];
            for (int t = 0; t < 3; t++) pthread_create(&th[t], NULL, pl_thread, (void *)(intptr_t)t);
            for (int t = 0; t < 3; t++) pthread_join(th[t], NULL);
            wal_close(g_pl.w);
            REQUIRE(stor_io_sim_crash(sim, mode ? STOR_IO_CRASH_TEAR : STOR_IO_CRASH_DROP) == 0);
            int lost = 0, acked_n = 0;
            for (int k = 0; k < 450; k++) acked_n += g_pl.acked[k] != 0;
            check_acked(dir, 450, 0, g_pl.acked, 0, &lost);
            /* recovery then goes on writing from next_seq */
            coll c;
            wal_replay_result res;
            if (replay_all(dir, 0, &c, &res)) bad++;
            if (lost < 0) unacked_survived++;
            if (getenv("WAL_TEST_DEBUG"))
                fprintf(stdout, "  run mode=%d seed=%llu acked=%d replayed=%zu pwrites=%llu fdatasyncs=%llu\n", mode,
                        (unsigned long long)seed, acked_n, c.n,
                        (unsigned long long)stor_io_sim_count(sim, STOR_IO_PWRITE),
                        (unsigned long long)stor_io_sim_count(sim, STOR_IO_FDATASYNC));
            coll_free(&c);
            o.io = NULL;
            o.next_seq = res.next_seq;
            wal *w2 = NULL;
            if (wal_open(&o, &w2)) bad++;
            uint64_t s2 = 0;
            if (w2 && (append_sync(w2, 999, &s2) || s2 != res.next_seq)) bad++;
            wal_close(w2);
            if (replay_all(dir, 0, &c, &res) || c.n == 0 || c.key[c.n - 1] != 999) bad++;
            coll_free(&c);
            char *log = NULL;
            capture_end("", &log);
            if (strstr(log, "torn tail") || strstr(log, "lost records")) repaired++;
            free(log);
            total_acked += (uint64_t)acked_n;
            (void)total_lost_unacked;
            runs++;
            for (int k = 0; k < 450; k++) free(g_pl.pay[k]);
            pthread_mutex_destroy(&g_pl.mu);
            stor_io_sim_destroy(sim);
        }
    }
    printf("  %d crash runs, %llu acknowledged records checked; %d runs repaired a torn/corrupt tail, "
           "%d kept unacknowledged records\n", runs, (unsigned long long)total_acked, repaired, unacked_survived);
    CHECK_EQ_INT(bad, 0);
    CHECK(total_acked > 0);
}

/* One writer, the power cut at every mutating call in turn (deterministic). */
TEST(power_loss_every_point)
{
    int runs = 0, bad = 0, repaired = 0, survived = 0;
    enum { N = 30 };
    for (int mode = 0; mode < 2; mode++) {
        for (uint64_t die = 0; die < 90; die++) {
            const char *dir = fresh_dir();
            stor_io_sim *sim = NULL;
            REQUIRE(stor_io_sim_create(die + 100 * (uint64_t)mode, &sim) == 0);
            stor_io_sim_real_sync(sim, 0);
            wal_opts o;
            wal_opts_init(&o, dir);
            o.io = stor_io_sim_io(sim);
            o.segment_bytes = 8 * 1024;
            o.lz4 = (int)(die & 1);
            uint64_t acked[N];
            memset(acked, 0, sizeof acked);
            stor_io_sim_die_after(sim, die);
            capture_begin();
            wal *w = NULL;
            if (wal_open(&o, &w) == 0) {
                append_many(w, N, 0, acked, NULL);
                wal_close(w);
            }
            REQUIRE(stor_io_sim_crash(sim, mode ? STOR_IO_CRASH_TEAR : STOR_IO_CRASH_DROP) == 0);
            int lost = 0;
            check_acked(dir, N, 0, acked, 0, &lost);
            if (lost < 0) survived++;
            coll c;
            wal_replay_result res;
            if (replay_all(dir, 0, &c, &res)) bad++;
            coll_free(&c);
            o.io = NULL;
            o.next_seq = res.next_seq;
            if (wal_open(&o, &w) == 0) {
                uint64_t s2 = 0;
                if (append_sync(w, 7, &s2) || s2 != res.next_seq) bad++;
                wal_close(w);
            } else {
                bad++;
            }
            if (replay_all(dir, 0, &c, &res) || c.n == 0 || c.key[c.n - 1] != 7) bad++;
            coll_free(&c);
            char *log = NULL;
            capture_end("", &log);
            if (strstr(log, "torn tail")) repaired++;
            free(log);
            stor_io_sim_destroy(sim);
            runs++;
        }
    }
    printf("  %d crash points: %d torn tails repaired, %d kept unacknowledged records\n", runs, repaired, survived);
    CHECK_EQ_INT(bad, 0);
    CHECK(repaired > 0);
}

TEST(never_and_interval_modes_lose_unsynced_tail)
{
    /* NEVER: acknowledged after the write only; a power cut drops them. */
    const char *dir = fresh_dir();
    stor_io_sim *sim = NULL;
    REQUIRE(stor_io_sim_create(9, &sim) == 0);
    wal_opts o;
    wal_opts_init(&o, dir);
    o.io = stor_io_sim_io(sim);
    o.fsync_mode = WAL_FSYNC_NEVER;
    wal *w = NULL;
    REQUIRE(wal_open(&o, &w) == 0);
    enum { N = 50 };
    uint64_t acked[N];
    append_many(w, N, 0, acked, NULL);
    wal_stats st;
    wal_stats_get(w, &st);
    CHECK_EQ_U64(st.fsyncs, 1); /* only the new segment's header */
    stor_io_sim_die_after(sim, 0); /* power dies before close can sync */
    capture_begin();
    wal_close(w);
    CHECK_EQ_INT(capture_end(" error wal: fdatasync failed at close", NULL), 1);
    REQUIRE(stor_io_sim_crash(sim, STOR_IO_CRASH_DROP) == 0);
    coll c;
    wal_replay_result res;
    REQUIRE(replay_all(dir, 0, &c, &res) == 0);
    CHECK_EQ_U64(c.n, 0); /* all 50 acknowledged records gone, as documented */
    coll_free(&c);

    /* INTERVAL: callbacks before the sync; the timer syncs within the interval. */
    dir = fresh_dir();
    o.dir = dir;
    o.fsync_mode = WAL_FSYNC_INTERVAL;
    o.fsync_interval_ms = 20;
    REQUIRE(wal_open(&o, &w) == 0);
    append_many(w, N, 0, acked, NULL);
    wal_stats_get(w, &st);
    CHECK(st.fsyncs < (uint64_t)N);
    usleep(100 * 1000);
    wal_stats_get(w, &st);
    uint64_t f1 = st.fsyncs;
    CHECK(f1 >= 2); /* header + at least one interval sync */
    stor_io_sim_die_after(sim, 0);
    capture_begin();
    wal_close(w);
    capture_end("", NULL);
    REQUIRE(stor_io_sim_crash(sim, STOR_IO_CRASH_DROP) == 0);
    check_acked(dir, N, 0, acked, 1, NULL); /* all synced by the timer */
    stor_io_sim_destroy(sim);
}

TEST(oom_walk_open_and_replay)
{
    const char *dir = fresh_dir();
    char path[512];
    REQUIRE(one_segment(dir, 40, 1, path, sizeof path) == 0);
    int64_t live0 = st_alloc_live();
    int leaks = 0, wrong = 0, n;
    for (n = 0; n < 1000; n++) {
        coll c;
        memset(&c, 0, sizeof c);
        wal_replay_result res;
        st_alloc_fail_at(n, 0);
        int rc = wal_replay(dir, NULL, 0, coll_cb, &c, &res);
        st_alloc_fail_at(-1, 0);
        coll_free(&c);
        if (st_alloc_live() != live0) leaks++;
        if (rc == 0) break;
        if (rc != ST_ENOMEM) wrong++;
    }
    CHECK(n < 1000 && n > 0);
    CHECK_EQ_INT(leaks, 0);
    CHECK_EQ_INT(wrong, 0);
    int m;
    for (m = 0; m < 1000; m++) {
        wal_opts o;
        wal_opts_init(&o, dir);
        o.next_seq = 41 + (uint64_t)m;
        wal *w = NULL;
        st_alloc_fail_at(m, 0);
        int rc = wal_open(&o, &w);
        st_alloc_fail_at(-1, 0);
        if (rc == 0) {
            CHECK_EQ_INT(append_sync(w, 1, NULL), 0);
            CHECK_EQ_INT(wal_close(w), 0);
            break;
        }
        if (rc != ST_ENOMEM) wrong++;
        if (st_alloc_live() != live0) leaks++;
    }
    CHECK(m < 1000 && m > 0);
    CHECK_EQ_INT(leaks, 0);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(st_alloc_live(), live0);
    printf("  replay: %d allocation points, open: %d\n", n, m);
}

TEST(append_argument_errors)
{
    const char *dir = fresh_dir();
    wal_opts o;
    wal_opts_init(&o, dir);
    wal *w = NULL;
    REQUIRE(wal_open(&o, &w) == 0);
    CHECK_EQ_INT(wal_append(w, 0, "x", 1, waiter_cb, NULL), ST_EINVAL);
    CHECK_EQ_INT(wal_append(w, WAL_REC_WRITE, NULL, 5, waiter_cb, NULL), ST_EINVAL);
    CHECK_EQ_INT(wal_append(w, WAL_REC_WRITE, "x", (size_t)WAL_MAX_PAYLOAD + 1, waiter_cb, NULL), ST_ETOOLARGE);
    CHECK_EQ_INT(append_sync(w, 3, NULL), 0);
    CHECK_EQ_INT(wal_close(w), 0);
    wal_opts bad = o;
    bad.fsync_mode = 7;
    CHECK_EQ_INT(wal_open(&bad, &w), ST_EINVAL);
    /* replay of a missing dir is an empty log */
    coll c;
    wal_replay_result res;
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    CHECK_EQ_INT(replay_all(missing, 7, &c, &res), 0);
    CHECK_EQ_U64(c.n, 0);
    CHECK_EQ_U64(res.next_seq, 7);
    coll_free(&c);
}

int main(void)
{
    st_log_set_level(ST_LOG_WARN);
    RUN(format_roundtrip);
    RUN(write_replay_roundtrip);
    RUN(concurrent_appends_group_commit);
    RUN(checkpoint_deletes_old_segments);
    RUN(torn_tail_every_offset);
    RUN(garbage_appended);
    RUN(corrupt_middle_record);
    RUN(enospc_at_segment_creation);
    RUN(enospc_during_write);
    RUN(eio_on_fdatasync_goes_read_only);
    RUN(power_loss_group_mode);
    RUN(power_loss_every_point);
    RUN(never_and_interval_modes_lose_unsynced_tail);
    RUN(oom_walk_open_and_replay);
    RUN(append_argument_errors);
    cleanup_dir();
    return unit_done();
}
