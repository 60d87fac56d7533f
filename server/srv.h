/*
 * server/srv.h — stratad's server: the I/O loops, listeners, the query
 * worker pool, and the cross-thread post queue.
 *
 * Threads (DESIGN.md "Threads"):
 *   - io_threads libuv loops, each with its own listener on the same
 *     address (SO_REUSEPORT): accept, parse, route, answer. Never block on
 *     disk, sqlite3 or a query.
 *   - the WAL writer (storage/) completes writes through srv_loop_post;
 *   - query_threads workers run queries and post the answer back (the
 *     query handler's worker writes its response itself: see http.h,
 *     "Answering from a worker").
 *   - the main thread runs a small loop for signals: SIGINT/SIGTERM stop
 *     accepting, let in-flight requests finish, then srv_run returns so
 *     main() can close storage (checkpoint) and exit 0.
 */
#ifndef ST_SRV_H
#define ST_SRV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <uv.h>

#include "storage/stor.h"

typedef struct srv_opts {
    const char *http_addr;       /* "host:port"; port 0 = any free port */
    int io_threads;              /* >= 1 */
    int query_threads;           /* >= 1 */
    int64_t query_spin_us;       /* an idle worker polls this long before it sleeps (0 = not) */
    uint64_t max_body_bytes;     /* decompressed */
    uint64_t max_line_bytes;
    uint64_t max_connections;
    const char *quality_field;   /* "" = none */
    int auto_create;             /* create a database on first write */
    const char *ready_file;      /* "" = none */
    int64_t query_timeout_ms;
    uint64_t query_max_points;
    int query_no_block_stats;      /* 1: decode every point (--query-block-stats false) */
    /* MQTT (server/mqtt_srv.h, server/mqtt_bridge.h) */
    const char *mqtt_addr;       /* "host:port"; NULL or "" = no listener */
    const char *mqtt_database;   /* where MQTT points go */
    uint32_t mqtt_max_packet_bytes;
    const struct tmap *mqtt_rules; /* borrowed; NULL = default mapping */
    const char *mqtt_bridge;     /* mqtt://[user:pass@]host:port; NULL or "" = none */
    char *const *mqtt_bridge_topics; /* borrowed; count 0 = "#" */
    size_t mqtt_bridge_topic_count;
    const char *mqtt_bridge_client_id;
} srv_opts;

typedef struct srv srv;
typedef struct srv_loop srv_loop;
typedef void (*srv_post_fn)(void *arg);

/* A call posted to a loop: srv_loop_post allocates one per call,
 * srv_loop_post_node takes the caller's (embedded in its state). */
typedef struct srv_post {
    struct srv_post *next;
    srv_post_fn fn;
    void *arg;
    int heap;                    /* 1: st_malloc'd by srv_loop_post, freed after fn */
} srv_post;

/* A job for the query pool, the caller's storage (embedded in the state of
 * the request it serves): queued without an allocation. Its fields are
 * the pool's from srv_query_submit until done starts. */
typedef struct srv_job {
    struct srv_job *next;
    srv_loop *loop;              /* borrowed: where done runs */
    srv_post_fn work, done;
    void *arg;
    srv_post back;               /* done's trip to the loop */
} srv_job;

/* Counters exposed by /metrics. Relaxed atomics, any thread. */
typedef struct srv_counters {
    _Atomic uint64_t http_requests;
    _Atomic uint64_t write_requests;
    _Atomic uint64_t query_requests;
    _Atomic uint64_t points_written;
    _Atomic uint64_t lines_rejected;
    _Atomic uint64_t write_errors;
    _Atomic uint64_t connections_open;
    _Atomic uint64_t connections_refused;
    _Atomic uint64_t bytes_received;
    /* MQTT, listener and bridge */
    _Atomic uint64_t mqtt_connections;     /* accepted listener connections */
    _Atomic uint64_t mqtt_messages;        /* PUBLISHes received */
    _Atomic uint64_t mqtt_messages_bad;    /* payloads (or topics) that matched no format */
    _Atomic uint64_t mqtt_points;          /* points written from MQTT */
    _Atomic uint64_t mqtt_points_rejected; /* points refused by storage (type conflict ...) */
    _Atomic uint64_t mqtt_spb_unknown;     /* Sparkplug metrics needing a rebirth */
    _Atomic uint64_t mqtt_protocol_errors; /* connections closed for a protocol error */
    _Atomic uint64_t mqtt_write_errors;    /* groups the WAL refused (no ack sent) */
    _Atomic uint64_t mqtt_bridge_messages; /* of mqtt_messages: from the bridge */
    _Atomic uint64_t mqtt_bridge_connects; /* bridge sessions established */
} srv_counters;

struct srv_loop {
    uv_loop_t uv;
    uv_poll_t wake;              /* polls wake_fd: runs posted functions */
    int wake_fd;                 /* eventfd, written when a post lands on an empty list */
    uv_tcp_t listener;
    int listening;
    pthread_mutex_t mu;
    struct srv_post *head, *tail; /* owned: posted, not yet run */
    srv *server;                 /* borrowed */
    int index;
    pthread_t thread;
    uint64_t conns;              /* open connections on this loop */
    struct http_conn *conn_list; /* borrowed list of them (http.c owns the nodes) */
    int stopping;
    uint64_t busy;               /* other work that must finish before the loop
                                    ends (MQTT groups in the WAL, the bridge) */
    uv_tcp_t mqtt_listener;
    int mqtt_listening;
    struct mqtt_loop *mqtt;      /* owned (mqtt_srv.c); NULL without MQTT */
};

struct srv {
    srv_opts opts;               /* borrowed strings */
    stor *storage;               /* borrowed */
    srv_loop *loops;             /* owned, io_threads of them */
    int nloops;
    struct qpool *queries;       /* owned */
    srv_counters counters;
    int64_t started_ns;
    char http_bound[128];        /* "127.0.0.1:PORT" once bound */
    char mqtt_bound[128];        /* "" when the MQTT listener is off */
    struct mqtt_bridge *bridge;  /* owned (mqtt_bridge.c); NULL without a bridge */
    _Atomic int stopping;
};

/* Run the server until SIGINT/SIGTERM. 0, or an error (bind failed...). */
int srv_run(const srv_opts *opts, stor *storage);

/* Run fn(arg) on loop's thread soon. Any thread. 0 or ST_ENOMEM. */
int srv_loop_post(srv_loop *loop, srv_post_fn fn, void *arg);
/* The same through the caller's node, which must stay valid and unused
 * until fn starts. Any thread; cannot fail. */
void srv_loop_post_node(srv_loop *loop, srv_post *node, srv_post_fn fn, void *arg);

/* Close the loop's wake handle once it is stopping with no connections left
 * (its thread then ends). Loop thread. */
void srv_loop_maybe_done(srv_loop *loop);

/* Run work(arg) on a query worker, then done(arg) on loop's thread, job
 * being the caller's (see srv_job). Loop thread; cannot fail. */
void srv_query_submit(srv *s, srv_loop *loop, srv_job *job, srv_post_fn work, srv_post_fn done, void *arg);

/* Lend an idle query worker to a running query (qry_request.offer, arg
 * the srv): it calls fn(fn_arg) and goes back to the pool. 1, or 0 when
 * no worker is idle (nothing queued: queries never wait behind lent
 * work). Any thread. */
int srv_query_offer(void *arg, void (*fn)(void *), void *fn_arg);

/* Jobs and lent work an idle query worker has taken, and how many of those
 * it took after a sleep (a wake-up); the rest it found while still looking
 * (--query-spin). Any thread. */
void srv_query_handoffs(srv *s, uint64_t *handoffs, uint64_t *wakeups);

#endif
