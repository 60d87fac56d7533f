/*
 * server/srv.c — the I/O loops, listeners, post queues, query pool and
 * shutdown (see srv.h for the thread model).
 *
 * Shutdown story: a signal on the main loop sets `stopping` and posts a
 * stop to every I/O loop; each closes its listener and its idle keep-alive
 * connections, lets requests in flight finish (a write waits for its WAL
 * callback), and its thread ends when the loop has no handles left. Then
 * the query pool is drained and srv_run returns; main() closes storage.
 */
#include "server/srv.h"

#include <errno.h>
#include <sched.h>
#include <netinet/in.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "server/http.h"
#include "server/mqtt_bridge.h"
#include "server/mqtt_srv.h"

/* ---- post queue ----
 *
 * A mutex-guarded list and an eventfd the loop polls (uv_poll), not a
 * uv_async_t: libuv 1.44's uv_async_send marks the handle busy around its
 * write(2) and the woken loop spins (then sched_yields) until the sender's
 * syscall returns — a third of the loop thread's time under a stream of
 * queries in a VM. Here the poster writes the eventfd only when the list
 * was empty; the loop resets the eventfd BEFORE taking the list, so a post
 * that lands after the take finds the list empty and writes again: none is
 * left waiting.
 */

static void loop_run_posts(srv_loop *l)
{
    pthread_mutex_lock(&l->mu);
    srv_post *p = l->head;
    l->head = l->tail = NULL;
    pthread_mutex_unlock(&l->mu);
    while (p) {
        srv_post *next = p->next;
        int heap = p->heap;
        p->fn(p->arg); /* may free p's owner when p is embedded */
        if (heap) st_free(p);
        p = next;
    }
}

static void loop_wake_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    srv_loop *l = h->data;
    uint64_t n;
    if (read(l->wake_fd, &n, sizeof n) < 0) { /* EAGAIN: a spurious wake-up */ }
    loop_run_posts(l);
}

void srv_loop_post_node(srv_loop *l, srv_post *p, srv_post_fn fn, void *arg)
{
    p->next = NULL;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&l->mu);
    int was_empty = l->head == NULL;
    if (l->tail) l->tail->next = p; else l->head = p;
    l->tail = p;
    pthread_mutex_unlock(&l->mu);
    if (was_empty) {
        uint64_t one = 1;
        if (write(l->wake_fd, &one, sizeof one) < 0) { /* EAGAIN: the counter is already non-zero */ }
    }
}

int srv_loop_post(srv_loop *l, srv_post_fn fn, void *arg)
{
    srv_post *p = st_malloc(sizeof *p);
    if (!p) return ST_ENOMEM;
    p->heap = 1;
    srv_loop_post_node(l, p, fn, arg);
    return 0;
}

/* ---- query pool: its own threads, not libuv's shared pool ----
 *
 * Jobs are the callers' (srv_job, embedded in the request state): a submit
 * allocates nothing, and done goes back through the job's own srv_post.
 *
 * An idle worker waits on its own semaphore, on a stack of idle workers
 * (the most recently busy first: its caches are warm). A submit hands the
 * job to the top idle worker directly, or queues it when all are busy; a
 * worker that finishes takes queued jobs before it goes idle. Everything
 * is under one mutex nobody sleeps on (a condition variable cost a third
 * futex call per job: glibc re-takes the mutex after a wait as contended).
 *
 * Wake-up on the loop's CPU: before waking a worker the loop narrows the
 * worker's CPU affinity to the CPU the loop runs on, and the worker widens
 * it back to the process's set as soon as it runs. The loop goes to sleep
 * right after a submit, so the worker then starts there at once, where the
 * request is cache-hot, instead of on an idle CPU that must first be woken
 * (in a VM, an interrupt to a halted vCPU: measured on a 2-vCPU guest, the
 * query's latency above /ping went from 0.023-0.054 ms depending on where
 * the threads happened to run to a steady 0.030 ms). Only the wake-up is
 * placed, and only for a job that starts while no other runs: the job runs
 * with the whole set, and concurrent queries are left for the scheduler to
 * spread over the CPUs.
 *
 * A worker that goes idle first looks for its next job for up to
 * --query-spin (200 us), calling sched_yield between looks, and only then
 * sleeps. A job handed to it meanwhile (a submit, or a running query
 * lending it groups: srv_query_offer) costs no wake-up: sem_post on a
 * semaphore nobody sleeps on is one atomic add, and the worker is already
 * on a CPU. In a VM a wake-up is an interrupt to a halted vCPU: on a
 * 2-vCPU guest it cost the waker about 15 us and the woken thread as much
 * again before it ran (SHOW DATABASES 0.031 ms above /ping with the look,
 * 0.046 without; the per-host query g 0.26 against 0.29 ms). The yield is
 * what makes it pay: an earlier cut polled without yielding, held the core
 * the loop and the client needed, and made medians worse by up to the spin
 * time. A looking worker is not narrowed (it already runs somewhere).
 *
 * Lent work away from the query's CPU: srv_query_offer narrows the lent
 * worker to the other CPUs when it sleeps (the kernel wakes a thread on
 * its waker's CPU) or looks on the query's own CPU (a looking thread stays
 * where it is), and the worker widens back as it starts. Without it the
 * two shared one CPU in runs of queries that stayed so (a yielding thread
 * is never idle to be moved): on a 2-vCPU guest g's batches of 20 came
 * out 0.22 or 0.38 ms, the second no faster than one thread; with it
 * 0.23-0.28. Where the worker last looked is kept in cpu.
 * strata_query_handoffs_total and strata_query_wakeups_total (/metrics)
 * count how often a handoff found a worker looking. Stop: idle workers are
 * woken without a job; workers drain the queue, then end.
 */

typedef struct qworker {
    struct qpool *pool;
    pthread_t thread;
    pid_t tid;              /* for the affinity hint; 0 until the thread has started */
    sem_t wake;             /* posted with job set, or at stop */
    srv_job *job;           /* under mu: handed over by a submit */
    void (*help_fn)(void *); /* under mu: lent to a running query (srv_query_offer) */
    int narrowed;           /* its affinity was narrowed for this wake-up (set before the post) */
    _Atomic int looking;    /* idle, polling its semaphore before it sleeps */
    _Atomic int cpu;        /* where it last looked (sched_getcpu), -1 before */
    void *help_arg;
    struct qworker *next_idle;
} qworker;

struct qpool {
    pthread_mutex_t mu;
    srv_job *head, *tail;   /* under mu: jobs waiting for a worker */
    qworker *idle;          /* under mu: stack of waiting workers */
    int stop;               /* under mu */
    int running;            /* under mu: workers with a job */
    int nthreads;
    qworker *workers;       /* owned, nthreads */
    cpu_set_t cpus;         /* the process's CPUs (what the workers run on) */
    int hint;               /* the affinity hint works here */
    int64_t spin_ns;        /* how long an idle worker looks before it sleeps */
    _Atomic uint64_t handoffs; /* jobs and lent work an idle worker took */
    _Atomic uint64_t wakeups;  /* of those, taken after a sleep (the rest while looking) */
};

/* Until the semaphore is posted: first looking for up to q->spin_ns,
 * yielding the CPU between looks, then asleep. 1: the post was found while
 * looking; 0: after a sleep. */
static int qworker_wait(qworker *w)
{
    struct qpool *q = w->pool;
    if (q->spin_ns > 0) {
        atomic_store_explicit(&w->looking, 1, memory_order_relaxed);
        int64_t until = st_mono_ns() + q->spin_ns;
        int got = 0;
        do {
            if (sem_trywait(&w->wake) == 0) { got = 1; break; }
            sched_yield();
            atomic_store_explicit(&w->cpu, sched_getcpu(), memory_order_relaxed);
        } while (st_mono_ns() < until);
        atomic_store_explicit(&w->looking, 0, memory_order_relaxed);
        if (got) return 1;
    }
    while (sem_wait(&w->wake) != 0) { /* EINTR */ }
    return 0;
}

static void *qpool_main(void *arg)
{
    qworker *w = arg;
    struct qpool *q = w->pool;
    pthread_mutex_lock(&q->mu);
    w->tid = gettid();
    for (;;) {
        srv_job *j = q->head;
        if (j) {
            q->head = j->next;
            if (!q->head) q->tail = NULL;
            q->running++;
        } else {
            if (q->stop) break;
            w->next_idle = q->idle;
            q->idle = w;
            pthread_mutex_unlock(&q->mu);
            int looked = qworker_wait(w);
            if (w->narrowed) {
                w->narrowed = 0;
                sched_setaffinity(0, sizeof q->cpus, &q->cpus);
            }
            pthread_mutex_lock(&q->mu);
            j = w->job;
            w->job = NULL;
            if (j || w->help_fn) {
                atomic_fetch_add_explicit(&q->handoffs, 1, memory_order_relaxed);
                if (!looked) atomic_fetch_add_explicit(&q->wakeups, 1, memory_order_relaxed);
            }
            if (!j) {
                void (*fn)(void *) = w->help_fn;
                if (fn) {
                    void *fa = w->help_arg;
                    w->help_fn = NULL;
                    pthread_mutex_unlock(&q->mu);
                    fn(fa);
                    pthread_mutex_lock(&q->mu);
                    q->running--;
                }
                continue; /* lent work done, or stop */
            }
        }
        pthread_mutex_unlock(&q->mu);
        /* done may free j (it is the caller's): nothing touches j after the post */
        srv_loop *loop = j->loop;
        j->work(j->arg);
        srv_loop_post_node(loop, &j->back, j->done, j->arg);
        pthread_mutex_lock(&q->mu);
        q->running--;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

void srv_query_submit(srv *s, srv_loop *loop, srv_job *j, srv_post_fn work, srv_post_fn done, void *arg)
{
    j->next = NULL;
    j->loop = loop;
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->back.heap = 0;
    struct qpool *q = s->queries;
    pthread_mutex_lock(&q->mu);
    qworker *w = q->idle;
    int alone = q->running == 0;
    if (w) {
        q->idle = w->next_idle;
        w->job = j;
        q->running++;
    } else {
        if (q->tail) q->tail->next = j; else q->head = j;
        q->tail = j;
    }
    pthread_mutex_unlock(&q->mu);
    if (!w) return;
    int looking = atomic_load_explicit(&w->looking, memory_order_relaxed);
    int cpu = q->hint && alone && !looking ? sched_getcpu() : -1;
    if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &q->cpus)) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        w->narrowed = sched_setaffinity(w->tid, sizeof one, &one) == 0; /* a failure only loses the hint */
    }
    sem_post(&w->wake);
}

int srv_query_offer(void *arg, void (*fn)(void *), void *fn_arg)
{
    srv *s = arg;
    struct qpool *q = s->queries;
    pthread_mutex_lock(&q->mu);
    qworker *w = q->stop ? NULL : q->idle;
    if (w) {
        q->idle = w->next_idle;
        w->help_fn = fn;
        w->help_arg = fn_arg;
        q->running++;
    }
    pthread_mutex_unlock(&q->mu);
    if (!w) return 0;
    /* Lent work belongs on another CPU than the query's thread (see the
     * section comment): keep the worker off this one for its wake-up. */
    int cpu = q->hint ? sched_getcpu() : -1;
    if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &q->cpus) &&
        (!atomic_load_explicit(&w->looking, memory_order_relaxed) ||
         atomic_load_explicit(&w->cpu, memory_order_relaxed) == cpu)) {
        cpu_set_t others = q->cpus;
        CPU_CLR(cpu, &others);
        w->narrowed = sched_setaffinity(w->tid, sizeof others, &others) == 0; /* a failure only loses the hint */
    }
    sem_post(&w->wake);
    return 1;
}

void srv_query_handoffs(srv *s, uint64_t *handoffs, uint64_t *wakeups)
{
    *handoffs = atomic_load_explicit(&s->queries->handoffs, memory_order_relaxed);
    *wakeups = atomic_load_explicit(&s->queries->wakeups, memory_order_relaxed);
}

static int qpool_start(struct qpool *q, int n, int64_t spin_us)
{
    memset(q, 0, sizeof *q);
    q->spin_ns = spin_us > 0 ? spin_us * 1000 : 0;
    pthread_mutex_init(&q->mu, NULL);
    q->hint = sched_getaffinity(0, sizeof q->cpus, &q->cpus) == 0 && CPU_COUNT(&q->cpus) > 1;
    q->workers = st_calloc((size_t)n, sizeof *q->workers);
    if (!q->workers) return ST_ENOMEM;
    for (int i = 0; i < n; i++) {
        qworker *w = &q->workers[i];
        w->pool = q;
        atomic_init(&w->cpu, -1);
        sem_init(&w->wake, 0, 0);
        if (pthread_create(&w->thread, NULL, qpool_main, w) != 0) return ST_ENOMEM;
        q->nthreads++;
    }
    return 0;
}

static void qpool_stop(struct qpool *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    for (qworker *w = q->idle; w; w = w->next_idle) sem_post(&w->wake);
    q->idle = NULL;
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->nthreads; i++) pthread_join(q->workers[i].thread, NULL);
    for (int i = 0; i < q->nthreads; i++) sem_destroy(&q->workers[i].wake);
    st_free(q->workers);
    pthread_mutex_destroy(&q->mu);
}

/* ---- listeners ---- */

static int parse_addr(const char *addr, struct sockaddr_storage *ss)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host) return ST_EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) return ST_EINVAL;
    char *h = host;
    if (h[0] == '[') { h++; size_t n = strlen(h); if (n && h[n - 1] == ']') h[n - 1] = 0; }
    if (!*h) h = "0.0.0.0";
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
    } else if (strcmp(h, "localhost") == 0) {
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in4->sin_port = htons((uint16_t)port);
    } else {
        return ST_EINVAL;
    }
    return 0;
}

static int open_listen_socket(struct sockaddr_storage *ss, int *fd_out)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return st_from_errno(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(fd, (struct sockaddr *)ss, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return ST_EBUSY;
    }
    /* Port 0: the first socket picks the port, the others share it. */
    struct sockaddr_storage got;
    socklen_t glen = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &glen);
    if (ss->ss_family == AF_INET) ((struct sockaddr_in *)ss)->sin_port = ((struct sockaddr_in *)&got)->sin_port;
    else ((struct sockaddr_in6 *)ss)->sin6_port = ((struct sockaddr_in6 *)&got)->sin6_port;
    *fd_out = fd;
    return 0;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%d", host, ntohs(((const struct sockaddr_in *)ss)->sin_port));
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof host);
        snprintf(out, cap, "[%s]:%d", host, ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    srv_loop *l = server->data;
    if (status < 0 || l->stopping) return;
    http_conn_start(l, server);
}

/* ---- loop threads ---- */

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    /* Only the listener and wake handle are ours here; connections close
     * themselves when idle (http.c checks loop->stopping). */
    (void)h;
}

static void loop_stop_cb(void *arg)
{
    srv_loop *l = arg;
    l->stopping = 1;
    if (l->listening) {
        uv_close((uv_handle_t *)&l->listener, NULL);
        l->listening = 0;
    }
    uv_walk(&l->uv, close_walk_cb, NULL);
    http_loop_stopping(l);
    mqtt_srv_loop_stopping(l);
    if (l->server->bridge && mqtt_bridge_loop(l->server->bridge) == l) mqtt_bridge_stop(l->server->bridge);
    srv_loop_maybe_done(l);
}

void srv_loop_maybe_done(srv_loop *l)
{
    if (!l->stopping) return;
    mqtt_srv_loop_close(l);
    if (l->conns == 0 && l->busy == 0 && !uv_is_closing((uv_handle_t *)&l->wake))
        uv_close((uv_handle_t *)&l->wake, NULL);
}

static void *loop_main(void *arg)
{
    srv_loop *l = arg;
    uv_run(&l->uv, UV_RUN_DEFAULT);
    /* Run posts that raced with the close (none may be lost: they free memory). */
    loop_run_posts(l);
    return NULL;
}

/* ---- signals and ready file ---- */

static srv *g_stop_target; /* only for the signal handler on the main loop */

static void on_signal(uv_signal_t *h, int signum)
{
    srv *s = h->data;
    if (atomic_exchange(&s->stopping, 1)) return;
    ST_INFO("srv", "signal %d: stopping (finishing requests in flight)", signum);
    for (int i = 0; i < s->nloops; i++) srv_loop_post(&s->loops[i], loop_stop_cb, &s->loops[i]);
    uv_signal_stop(h);
    uv_close((uv_handle_t *)h, NULL);
}

static int write_ready_file(const char *path, const char *http_addr, const char *mqtt_addr)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return st_from_errno(errno);
    fprintf(f, "http=%s\n", http_addr);
    if (mqtt_addr && *mqtt_addr) fprintf(f, "mqtt=%s\n", mqtt_addr);
    if (fclose(f) != 0 || rename(tmp, path) != 0) return st_from_errno(errno);
    return 0;
}

int srv_run(const srv_opts *opts, stor *storage)
{
    int rc = 0;
    srv *s = st_calloc(1, sizeof *s);
    if (!s) return ST_ENOMEM;
    s->opts = *opts;
    s->storage = storage;
    s->started_ns = st_now_ns();
    s->nloops = opts->io_threads > 0 ? opts->io_threads : 1;
    s->loops = st_calloc((size_t)s->nloops, sizeof(srv_loop));
    s->queries = st_calloc(1, sizeof(struct qpool));
    if (!s->loops || !s->queries) { rc = ST_ENOMEM; goto out; }
    g_stop_target = s;

    struct sockaddr_storage ss;
    if (parse_addr(opts->http_addr, &ss) != 0) {
        ST_ERROR("srv", "bad --http address '%s' (use host:port)", opts->http_addr);
        rc = ST_EINVAL;
        goto out;
    }
    int want_mqtt = opts->mqtt_addr && *opts->mqtt_addr;
    struct sockaddr_storage mss;
    if (want_mqtt && parse_addr(opts->mqtt_addr, &mss) != 0) {
        ST_ERROR("srv", "bad --mqtt address '%s' (use host:port or off)", opts->mqtt_addr);
        rc = ST_EINVAL;
        goto out;
    }
    int nstarted = 0;
    for (int i = 0; i < s->nloops; i++) {
        srv_loop *l = &s->loops[i];
        l->server = s;
        l->index = i;
        pthread_mutex_init(&l->mu, NULL);
        uv_loop_init(&l->uv);
        l->uv.data = l;
        l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->wake_fd < 0) {
            ST_ERROR("srv", "eventfd: %s", strerror(errno));
            rc = st_from_errno(errno);
            break;
        }
        uv_poll_init(&l->uv, &l->wake, l->wake_fd);
        l->wake.data = l;
        uv_poll_start(&l->wake, UV_READABLE, loop_wake_cb);
        int fd = -1;
        rc = open_listen_socket(&ss, &fd);
        if (rc) {
            ST_ERROR("srv", "cannot listen on %s: %s", opts->http_addr, strerror(errno));
            break;
        }
        uv_tcp_init(&l->uv, &l->listener);
        l->listener.data = l;
        uv_tcp_open(&l->listener, fd);
        int uerr = uv_listen((uv_stream_t *)&l->listener, 1024, on_connection);
        if (uerr) {
            ST_ERROR("srv", "listen %s: %s", opts->http_addr, uv_strerror(uerr));
            uv_close((uv_handle_t *)&l->listener, NULL);
            rc = ST_EBUSY;
            break;
        }
        l->listening = 1;
        nstarted++;
        if (want_mqtt) {
            int mfd = -1;
            rc = open_listen_socket(&mss, &mfd);
            if (rc) {
                ST_ERROR("srv", "cannot listen for MQTT on %s: %s", opts->mqtt_addr, strerror(errno));
                break;
            }
            rc = mqtt_srv_loop_start(l, mfd);
            if (rc) break;
        }
    }
    if (!rc && opts->mqtt_bridge && *opts->mqtt_bridge) {
        rc = mqtt_srv_loop_init(&s->loops[0]);
        if (!rc) rc = mqtt_bridge_create(s, &s->loops[0], &s->bridge);
    }
    if (rc) {
        for (int i = 0; i < s->nloops; i++) {
            srv_loop *l = &s->loops[i];
            if (!l->server) continue;
            if (l->listening) uv_close((uv_handle_t *)&l->listener, NULL);
            if (l->mqtt_listening) uv_close((uv_handle_t *)&l->mqtt_listener, NULL);
            l->mqtt_listening = 0;
            l->stopping = 1;
            mqtt_srv_loop_close(l);
            if (l->wake_fd >= 0) uv_close((uv_handle_t *)&l->wake, NULL);
            uv_run(&l->uv, UV_RUN_DEFAULT);
            mqtt_srv_loop_free(l);
            uv_loop_close(&l->uv);
            if (l->wake_fd >= 0) close(l->wake_fd);
            pthread_mutex_destroy(&l->mu);
        }
        goto out;
    }
    (void)nstarted;
    format_addr(&ss, s->http_bound, sizeof s->http_bound);
    if (want_mqtt) format_addr(&mss, s->mqtt_bound, sizeof s->mqtt_bound);

    rc = qpool_start(s->queries, opts->query_threads > 0 ? opts->query_threads : 1, opts->query_spin_us);
    if (rc) goto out;

    for (int i = 0; i < s->nloops; i++) pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]);

    uv_loop_t main_loop;
    uv_loop_init(&main_loop);
    uv_signal_t sigint, sigterm;
    uv_signal_init(&main_loop, &sigint);
    uv_signal_init(&main_loop, &sigterm);
    sigint.data = sigterm.data = s;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);

    ST_INFO("srv", "listening http=%s mqtt=%s io_threads=%d query_threads=%d", s->http_bound,
            want_mqtt ? s->mqtt_bound : "off", s->nloops, s->queries->nthreads);
    if (opts->ready_file && *opts->ready_file) {
        int wr = write_ready_file(opts->ready_file, s->http_bound, s->mqtt_bound);
        if (wr) ST_ERROR("srv", "cannot write ready file %s: %s", opts->ready_file, st_strerror(wr));
    }

    /* Runs until both signal handles are closed: the first signal closes
     * its own handle; close the other one then too. */
    while (uv_run(&main_loop, UV_RUN_ONCE)) {
        if (atomic_load(&s->stopping)) {
            if (!uv_is_closing((uv_handle_t *)&sigint)) uv_close((uv_handle_t *)&sigint, NULL);
            if (!uv_is_closing((uv_handle_t *)&sigterm)) uv_close((uv_handle_t *)&sigterm, NULL);
        }
    }
    uv_loop_close(&main_loop);

    for (int i = 0; i < s->nloops; i++) pthread_join(s->loops[i].thread, NULL);
    qpool_stop(s->queries);
    for (int i = 0; i < s->nloops; i++) {
        srv_loop *l = &s->loops[i];
        uv_run(&l->uv, UV_RUN_NOWAIT);
        loop_run_posts(l);
        uv_loop_close(&l->uv);
        mqtt_srv_loop_free(l);
        close(l->wake_fd);
        pthread_mutex_destroy(&l->mu);
    }
    ST_INFO("srv", "stopped");
out:
    mqtt_bridge_free(s->bridge);
    st_free(s->queries);
    st_free(s->loops);
    st_free(s);
    g_stop_target = NULL;
    return rc;
}
