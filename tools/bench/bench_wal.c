/*
 * tools/bench/bench_wal.c — WAL append throughput.
 *
 *   bench_wal [SECONDS] [DIR]
 *
 * For each fsync mode (group, interval, never) and payload size (a
 * 5,000-line line-protocol batch of ~700 KB, compressible; and a ~200-byte
 * batch), 8 client threads each keep up to 16 appends in flight for
 * SECONDS (default 2, or $BENCH_WAL_SECONDS) against a fresh WAL folder
 * under DIR (default $TMPDIR or /tmp). Prints one line per run:
 *   bench_wal: <mode> <size> <records/s> <MB/s> <fsyncs>
 * MB/s counts raw (uncompressed) payload bytes acknowledged per second.
 * After each never-mode run the folder is replayed:
 *   bench_wal: replay <size> <records/s> <MB/s>
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "storage/wal.h"

#define CLIENTS 8
#define INFLIGHT 16

typedef struct client {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inflight;
    uint64_t acked, failed;
} client;

static wal *g_wal;
static const char *g_payload;
static size_t g_len;
static atomic_int g_stop;
static client g_clients[CLIENTS];

static void done(void *arg, int status, uint64_t seq)
{
    (void)seq;
    client *c = arg;
    pthread_mutex_lock(&c->mu);
    c->inflight--;
    if (status == 0) c->acked++; else c->failed++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void *client_main(void *arg)
{
    client *c = arg;
    while (!atomic_load(&g_stop)) {
        pthread_mutex_lock(&c->mu);
        while (c->inflight >= INFLIGHT) pthread_cond_wait(&c->cv, &c->mu);
        c->inflight++;
        pthread_mutex_unlock(&c->mu);
        if (wal_append(g_wal, WAL_REC_WRITE, g_payload, g_len, done, c) != 0) {
            pthread_mutex_lock(&c->mu);
            c->inflight--;
            c->failed++;
            pthread_mutex_unlock(&c->mu);
            break;
        }
    }
    pthread_mutex_lock(&c->mu);
    while (c->inflight > 0) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static int replay_cb(void *arg, int type, uint64_t seq, const void *payload, size_t len)
{
    (void)type; (void)seq; (void)payload;
    *(uint64_t *)arg += len;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4608];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* Line protocol like a Telegraf cpu batch: n lines. */
static char *make_lp(int lines, size_t *len_out)
{
    size_t cap = (size_t)lines * 200 + 1;
    char *b = malloc(cap);
    size_t len = 0;
    uint64_t x = 42;
    for (int i = 0; i < lines; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        len += (size_t)snprintf(b + len, cap - len,
            "cpu,host=server%03d,region=eu-west-%d,cpu=cpu%d usage_user=%.2f,usage_system=%.2f,"
            "usage_idle=%.2f,usage_iowait=%.3f %lld\n",
            (int)(x % 500), (int)(x >> 20) % 4, (int)(x >> 30) % 16, (double)(x % 10000) / 100.0,
            (double)((x >> 16) % 10000) / 100.0, (double)((x >> 32) % 10000) / 100.0,
            (double)((x >> 40) % 1000) / 1000.0, 1700000000000000000LL + (long long)i * 10000000LL);
    }
    *len_out = len;
    return b;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : (getenv("BENCH_WAL_SECONDS") ? atof(getenv("BENCH_WAL_SECONDS")) : 2.0);
    if (secs <= 0) secs = 2.0;
    const char *tmp = argc > 2 ? argv[2] : (getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    st_log_set_level(ST_LOG_WARN);
    size_t big_len, small_len;
    char *big = make_lp(5000, &big_len);
    char *small = make_lp(2, &small_len);
    const char *modes[3] = { "group", "interval", "never" };
    int rc_all = 0;
    for (int m = 0; m < 3; m++) {
        for (int s = 0; s < 2; s++) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/strata-bench-wal-XXXXXX", tmp);
            if (!mkdtemp(dir)) { perror("bench_wal: mkdtemp"); return 1; }
            char wdir[4200];
            snprintf(wdir, sizeof wdir, "%s/wal", dir);
            wal_opts o;
            wal_opts_init(&o, wdir);
            o.fsync_mode = m;
            int rc = wal_open(&o, &g_wal);
            if (rc) { fprintf(stderr, "bench_wal: open: %s\n", st_strerror(rc)); return 1; }
            g_payload = s ? small : big;
            g_len = s ? small_len : big_len;
            atomic_store(&g_stop, 0);
            pthread_t th[CLIENTS];
            double t0 = now_s();
            for (int i = 0; i < CLIENTS; i++) {
                memset(&g_clients[i], 0, sizeof g_clients[i]);
                pthread_mutex_init(&g_clients[i].mu, NULL);
                pthread_cond_init(&g_clients[i].cv, NULL);
                pthread_create(&th[i], NULL, client_main, &g_clients[i]);
            }
            usleep((useconds_t)(secs * 1e6));
            atomic_store(&g_stop, 1);
            for (int i = 0; i < CLIENTS; i++) pthread_join(th[i], NULL);
            double dt = now_s() - t0;
            wal_stats st;
            wal_stats_get(g_wal, &st);
            rc = wal_close(g_wal);
            uint64_t acked = 0, failed = 0;
            for (int i = 0; i < CLIENTS; i++) {
                acked += g_clients[i].acked;
                failed += g_clients[i].failed;
                pthread_mutex_destroy(&g_clients[i].mu);
                pthread_cond_destroy(&g_clients[i].cv);
            }
            if (rc || failed) { fprintf(stderr, "bench_wal: %llu failed appends, close %s\n",
                                        (unsigned long long)failed, st_strerror(rc)); rc_all = 1; }
            printf("bench_wal: %s %s %.0f %.1f %llu\n", modes[m], s ? "small" : "700KB",
                   (double)acked / dt, (double)acked * (double)g_len / dt / 1e6,
                   (unsigned long long)st.fsyncs);
            printf("  (%s: %zu-byte payloads, %llu records in %.2fs, %llu groups, %.1f MB on disk)\n",
                   modes[m], g_len, (unsigned long long)acked, dt, (unsigned long long)st.groups,
                   (double)st.bytes_written / 1e6);
            if (m == WAL_FSYNC_NEVER) {
                uint64_t bytes = 0;
                wal_replay_result res;
                double r0 = now_s();
                rc = wal_replay(wdir, NULL, 0, replay_cb, &bytes, &res);
                double rdt = now_s() - r0;
                if (rc || res.records != acked) { fprintf(stderr, "bench_wal: replay %s\n", st_strerror(rc)); rc_all = 1; }
                printf("bench_wal: replay %s %.0f %.1f\n", s ? "small" : "700KB",
                       (double)res.records / rdt, (double)bytes / rdt / 1e6);
            }
            fflush(stdout);
            rm_dir(wdir);
            rmdir(dir);
        }
    }
    free(big);
    free(small);
    return rc_all;
}
