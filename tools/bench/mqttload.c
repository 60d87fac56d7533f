/*
 * tools/bench/mqttload.c — MQTT publish load generator (MQTT 3.1.1 over
 * TCP, loopback only). N connections, one thread each, every message
 * built before the clock starts; QoS 0 streams them, QoS 1 keeps a window
 * of unacknowledged PUBLISHes in flight and counts PUBACKs. A QoS 0 run
 * ends with one QoS 1 PUBLISH per connection whose PUBACK says the server
 * has taken everything before it (Strata acks in order, after the WAL).
 *
 *   mqttload [--port P] [--conns N] [--messages M] [--qos 0|1]
 *            [--window W] [--values V] [--name NAME] [--format lp|plain]
 *
 * Each message is one line of line protocol with V fields (default 1:
 * "single-value messages"), a distinct timestamp per message, and 16
 * series per connection (topic bench/c<conn>); --format plain sends the
 * bare number instead (V = 1). Prints "mqttload: NAME_qosQ_msgs N msg/s"
 * and "mqttload: NAME_qosQ_values N values/s". Threads: one per connection,
 * sharing nothing but the start barrier.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct job {
    int idx, fd;
    int qos;
    long messages, window;
    char *buf;            /* all PUBLISH packets, back to back */
    size_t *ends;         /* end offset of message i */
    size_t len;
    long acked;
    int failed;
} job;

static int g_port = 1883, g_conns = 8, g_qos = 0, g_values = 1, g_plain = 0;
static long g_messages = 1000000, g_window = 1000;
static const char *g_name = "strata";
static pthread_barrier_t g_start;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t put_rem(unsigned char *p, size_t v)
{
    size_t n = 0;
    do {
        unsigned char b = v % 128;
        v /= 128;
        if (v) b |= 128;
        p[n++] = b;
    } while (v);
    return n;
}

/* Append one PUBLISH to buf at *len. */
static void add_publish(char *buf, size_t *len, const char *topic, const char *payload, size_t plen, int qos,
                        uint16_t pid)
{
    size_t tl = strlen(topic);
    size_t rem = 2 + tl + (qos ? 2 : 0) + plen;
    unsigned char *p = (unsigned char *)buf + *len;
    size_t n = 0;
    p[n++] = (unsigned char)(0x30 | (qos << 1));
    n += put_rem(p + n, rem);
    p[n++] = (unsigned char)(tl >> 8);
    p[n++] = (unsigned char)tl;
    memcpy(p + n, topic, tl);
    n += tl;
    if (qos) { p[n++] = (unsigned char)(pid >> 8); p[n++] = (unsigned char)pid; }
    memcpy(p + n, payload, plen);
    n += plen;
    *len += n;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_exact(int fd, unsigned char *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) { if (r < 0 && errno == EINTR) continue; return -1; }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int do_connect(job *j)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)g_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char id[32];
    int il = snprintf(id, sizeof id, "mqttload-%d-%d", (int)getpid(), j->idx);
    unsigned char pkt[64];
    size_t n = 0;
    pkt[n++] = 0x10;
    pkt[n++] = (unsigned char)(10 + 2 + il);
    memcpy(pkt + n, "\x00\x04MQTT\x04\x02\x00\x3c", 10);
    n += 10;
    pkt[n++] = 0;
    pkt[n++] = (unsigned char)il;
    memcpy(pkt + n, id, (size_t)il);
    n += (size_t)il;
    unsigned char ack[4];
    if (write_all(fd, (char *)pkt, n) || read_exact(fd, ack, 4) || ack[0] != 0x20 || ack[3] != 0) {
        close(fd);
        return -1;
    }
    j->fd = fd;
    return 0;
}

/* Read PUBACKs (4 bytes each) until acked >= want. */
static int read_acks(job *j, long want, int block)
{
    unsigned char buf[65536];
    static __thread size_t carry;
    static __thread unsigned char cbuf[4];
    while (j->acked < want) {
        ssize_t r = recv(j->fd, buf, sizeof buf, block ? 0 : MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !block) return 0;
        if (r <= 0) { if (r < 0 && errno == EINTR) continue; return -1; }
        size_t i = 0;
        while (i < (size_t)r) {
            cbuf[carry++] = buf[i++];
            if (carry == 4) {
                if (cbuf[0] != 0x40) return -1;
                carry = 0;
                j->acked++;
            }
        }
        block = 0;
    }
    return 0;
}

static void *run(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(&g_start);
    if (j->failed) return NULL;
    if (j->qos == 0) {
        if (write_all(j->fd, j->buf, j->len) || read_acks(j, 1, 1)) j->failed = 1;
        return NULL;
    }
    long sent = 0;
    size_t off = 0;
    while (sent < j->messages) {
        long can = j->acked + j->window - sent;
        if (can > 0) {
            long upto = sent + (can < 256 ? can : 256);
            if (upto > j->messages) upto = j->messages;
            size_t end = j->ends[upto - 1];
            if (write_all(j->fd, j->buf + off, end - off)) { j->failed = 1; return NULL; }
            off = end;
            sent = upto;
            if (read_acks(j, sent, 0)) { j->failed = 1; return NULL; } /* drain what arrived */
        } else if (read_acks(j, j->acked + 1, 1)) {
            j->failed = 1;
            return NULL;
        }
    }
    if (read_acks(j, j->messages, 1)) j->failed = 1;
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) g_port = atoi(v);
        else if (!strcmp(k, "--conns")) g_conns = atoi(v);
        else if (!strcmp(k, "--messages")) g_messages = atol(v);
        else if (!strcmp(k, "--qos")) g_qos = atoi(v);
        else if (!strcmp(k, "--window")) g_window = atol(v);
        else if (!strcmp(k, "--values")) g_values = atoi(v);
        else if (!strcmp(k, "--name")) g_name = v;
        else if (!strcmp(k, "--format")) g_plain = !strcmp(v, "plain");
        else { fprintf(stderr, "mqttload: unknown option %s\n", k); return 2; }
    }
    if (g_conns < 1 || g_messages < g_conns || g_values < 1 || g_values > 64 || g_window < 1 || g_window > 60000 ||
        (g_qos != 0 && g_qos != 1)) {
        fprintf(stderr, "mqttload: bad arguments\n");
        return 2;
    }
    if (g_plain) g_values = 1;
    job *jobs = calloc((size_t)g_conns, sizeof *jobs);
    pthread_t *th = calloc((size_t)g_conns, sizeof *th);
    if (!jobs || !th) return 1;
    long per = g_messages / g_conns;
    int64_t base_ts = 1700000000000000000LL;
    for (int c = 0; c < g_conns; c++) {
        job *j = &jobs[c];
        j->idx = c;
        j->qos = g_qos;
        j->messages = per;
        j->window = g_window;
        size_t cap = (size_t)per * (size_t)(96 + 24 * g_values) + 256;
        j->buf = malloc(cap);
        j->ends = malloc((size_t)per * sizeof *j->ends);
        if (!j->buf || !j->ends) return 1;
        char topic[64], payload[2048];
        snprintf(topic, sizeof topic, "bench/c%d", c);
        uint16_t pid = 0;
        for (long m = 0; m < per; m++) {
            int n;
            if (g_plain) {
                n = snprintf(payload, sizeof payload, "%ld.5", m % 1000);
            } else {
                n = snprintf(payload, sizeof payload, "bench,c=%d,s=%ld ", c, m % 16);
                for (int f = 0; f < g_values; f++)
                    n += snprintf(payload + n, sizeof payload - (size_t)n, "%sv%d=%ld.5", f ? "," : "", f, m % 1000);
                n += snprintf(payload + n, sizeof payload - (size_t)n, " %lld",
                              (long long)(base_ts + (int64_t)(m / 16) * 1000000));
            }
            if (++pid == 0) pid = 1;
            add_publish(j->buf, &j->len, topic, payload, (size_t)n, g_qos, pid);
            j->ends[m] = j->len;
        }
        if (g_qos == 0) add_publish(j->buf, &j->len, topic, "bench_end v=1", 13, 1, 1); /* the closing QoS 1 probe */
        if (do_connect(j) != 0) { fprintf(stderr, "mqttload: cannot connect to 127.0.0.1:%d\n", g_port); return 1; }
    }
    pthread_barrier_init(&g_start, NULL, (unsigned)g_conns + 1);
    for (int c = 0; c < g_conns; c++) pthread_create(&th[c], NULL, run, &jobs[c]);
    pthread_barrier_wait(&g_start);
    int64_t t0 = now_ns();
    int failed = 0;
    for (int c = 0; c < g_conns; c++) {
        pthread_join(th[c], NULL);
        failed |= jobs[c].failed;
    }
    int64_t dt = now_ns() - t0;
    if (failed) { fprintf(stderr, "mqttload: a connection failed\n"); return 1; }
    double total = (double)per * g_conns, secs = (double)dt / 1e9;
    printf("   %ld messages x %d values over %d connections, QoS %d, window %ld: %.2f s\n", per * g_conns,
           g_values, g_conns, g_qos, g_qos ? g_window : 0L, secs);
    printf("mqttload: %s_qos%d_msgs %.0f msg/s\n", g_name, g_qos, total / secs);
    printf("mqttload: %s_qos%d_values %.0f values/s\n", g_name, g_qos, total * g_values / secs);
    for (int c = 0; c < g_conns; c++) { close(jobs[c].fd); free(jobs[c].buf); free(jobs[c].ends); }
    free(jobs);
    free(th);
    return 0;
}
