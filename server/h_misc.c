/*
 * server/h_misc.c — /ping, /health, /metrics, CORS preflight and 404.
 * Loop thread; nothing here blocks.
 */
#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "server/handlers.h"
#include "server/version.h"

static void ping_complete(http_req *r)
{
    st_buf v;
    st_buf_init(&v);
    int verbose = http_query_param(r->query, "verbose", &v) && v.len && strcmp(v.ptr, "false") != 0;
    st_buf_fini(&v);
    if (verbose) {
        char body[64];
        int n = snprintf(body, sizeof body, "{\"version\":\"%s\"}\n", ST_VERSION);
        http_respond(r, 200, "application/json", body, (size_t)n, NULL);
    } else {
        http_respond(r, 204, NULL, NULL, 0, NULL);
    }
}
const http_handler h_ping = { NULL, NULL, ping_complete, NULL };

static void health_complete(http_req *r)
{
    char body[256];
    int ro = stor_is_readonly(req_srv(r)->storage);
    int n = snprintf(body, sizeof body,
                     "{\"name\":\"strata\",\"message\":\"%s\",\"status\":\"%s\",\"checks\":[],\"version\":\"%s\"}\n",
                     ro ? "storage is read-only after a disk error" : "ready for queries and writes",
                     ro ? "fail" : "pass", ST_VERSION);
    http_respond(r, ro ? 503 : 200, "application/json", body, (size_t)n, NULL);
}
const http_handler h_health = { NULL, NULL, health_complete, NULL };

static void metric(st_buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    st_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
}

static void metrics_complete(http_req *r)
{
    srv *s = req_srv(r);
    srv_counters *c = &s->counters;
    stor_stats st;
    stor_get_stats(s->storage, &st);
    st_buf b;
    st_buf_init(&b);
#define LOAD(x) atomic_load_explicit(&c->x, memory_order_relaxed)
    metric(&b, "strata_http_requests_total", "counter", "HTTP requests received.", LOAD(http_requests));
    metric(&b, "strata_write_requests_total", "counter", "Write requests (/write, /api/v2/write).", LOAD(write_requests));
    metric(&b, "strata_query_requests_total", "counter", "Query requests (/query).", LOAD(query_requests));
    metric(&b, "strata_points_written_total", "counter", "Field values acknowledged to writers.", LOAD(points_written));
    metric(&b, "strata_lines_rejected_total", "counter", "Line protocol lines rejected.", LOAD(lines_rejected));
    metric(&b, "strata_write_errors_total", "counter", "Write requests that failed in storage.", LOAD(write_errors));
    metric(&b, "strata_http_connections", "gauge", "Open HTTP connections.", LOAD(connections_open));
    metric(&b, "strata_http_connections_refused_total", "counter", "Connections refused by max-connections.", LOAD(connections_refused));
    metric(&b, "strata_http_received_bytes_total", "counter", "Request body bytes received.", LOAD(bytes_received));
    metric(&b, "strata_mqtt_connections_total", "counter", "MQTT listener connections accepted.", LOAD(mqtt_connections));
    metric(&b, "strata_mqtt_messages_total", "counter", "MQTT PUBLISHes received (listener and bridge).", LOAD(mqtt_messages));
    metric(&b, "strata_mqtt_messages_bad_total", "counter", "MQTT payloads or topics that matched no format.", LOAD(mqtt_messages_bad));
    metric(&b, "strata_mqtt_points_total", "counter", "Points written from MQTT.", LOAD(mqtt_points));
    metric(&b, "strata_mqtt_points_rejected_total", "counter", "MQTT points refused by storage.", LOAD(mqtt_points_rejected));
    metric(&b, "strata_mqtt_sparkplug_unknown_total", "counter", "Sparkplug metrics that need a rebirth.", LOAD(mqtt_spb_unknown));
    metric(&b, "strata_mqtt_protocol_errors_total", "counter", "MQTT connections closed for a protocol error.", LOAD(mqtt_protocol_errors));
    metric(&b, "strata_mqtt_write_errors_total", "counter", "MQTT write groups the WAL refused (not acknowledged).", LOAD(mqtt_write_errors));
    metric(&b, "strata_mqtt_bridge_messages_total", "counter", "Messages received from the bridged broker.", LOAD(mqtt_bridge_messages));
    metric(&b, "strata_mqtt_bridge_connects_total", "counter", "Bridge sessions established.", LOAD(mqtt_bridge_connects));
#undef LOAD
    uint64_t handoffs, wakeups;
    srv_query_handoffs(s, &handoffs, &wakeups);
    metric(&b, "strata_query_handoffs_total", "counter", "Queries and lent groups an idle query worker took.", handoffs);
    metric(&b, "strata_query_wakeups_total", "counter",
           "Handoffs that had to wake a sleeping worker (the rest found it looking: --query-spin).", wakeups);
    metric(&b, "strata_series", "gauge", "Series in the index.", st.series_count);
    metric(&b, "strata_wal_bytes_total", "counter", "Bytes appended to the WAL.", st.wal_bytes);
    metric(&b, "strata_wal_records_total", "counter", "Records appended to the WAL.", st.wal_records);
    metric(&b, "strata_wal_fsyncs_total", "counter", "WAL fsyncs.", st.wal_fsyncs);
    metric(&b, "strata_head_bytes", "gauge", "Bytes held by the in-memory head.", st.head_bytes);
    metric(&b, "strata_flushes_total", "counter", "Head flushes to segment files.", st.flushes);
    metric(&b, "strata_compactions_total", "counter", "Partition compactions.", st.compactions);
    metric(&b, "strata_segments_written_total", "counter", "Segment files written by flushes.", st.segments_written);
    metric(&b, "strata_storage_readonly", "gauge", "1 after a disk error made storage read-only.",
           (uint64_t)stor_is_readonly(s->storage));
    if (b.ptr) http_respond(r, 200, "text/plain; version=0.0.4", b.ptr, b.len, NULL);
    else http_respond(r, 503, NULL, NULL, 0, NULL);
    st_buf_fini(&b);
}
const http_handler h_metrics = { NULL, NULL, metrics_complete, NULL };

/* POST /internal/force_flush and /internal/force_merge (VictoriaMetrics'
 * names): flush the head to segment files (and merge each partition's
 * files). The storage call waits for the background thread, so it runs on
 * the query pool, never on the loop. */
typedef struct admin_job {
    http_req *req;
    int merge, rc;
    srv_job job;            /* the query pool's while the flush or merge runs */
} admin_job;

static void admin_work(void *arg)
{
    admin_job *j = arg;
    srv *s = req_srv(j->req);
    j->rc = j->merge ? stor_compact(s->storage) : stor_flush(s->storage);
}

static void admin_done(void *arg)
{
    admin_job *j = arg;
    http_req *r = j->req;
    if (j->rc) http_respond_error(r, 503, "storage is read-only after a disk error");
    else http_respond(r, 204, NULL, NULL, 0, NULL);
}

static void admin_free(http_req *r)
{
    st_free(r->state);
    r->state = NULL;
}

static void admin_start(http_req *r, int merge)
{
    admin_job *j = st_calloc(1, sizeof *j);
    if (!j) { http_respond_error(r, 503, "out of memory"); return; }
    j->req = r;
    j->merge = merge;
    r->state = j;
    http_req_go_async(r);
    srv_query_submit(req_srv(r), r->loop, &j->job, admin_work, admin_done, j);
}

static void flush_complete(http_req *r) { admin_start(r, 0); }
static void merge_complete(http_req *r) { admin_start(r, 1); }
const http_handler h_force_flush = { NULL, NULL, flush_complete, admin_free };
const http_handler h_force_merge = { NULL, NULL, merge_complete, admin_free };

static void options_complete(http_req *r)
{
    /* CORS preflight: the CORS headers are added by http_respond. */
    http_respond(r, 200, NULL, NULL, 0, NULL);
}
const http_handler h_options = { NULL, NULL, options_complete, NULL };

static void not_found_complete(http_req *r)
{
    char msg[300];
    snprintf(msg, sizeof msg, "not found: %s %.*s", llhttp_method_name((llhttp_method_t)r->method),
             (int)(r->path.len > 200 ? 200 : r->path.len), r->path.ptr);
    http_respond_error(r, 404, msg);
}
const http_handler h_not_found = { NULL, NULL, not_found_complete, NULL };
