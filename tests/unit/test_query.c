/*
 * tests/unit/test_query.c — the query engine end to end: a real storage
 * engine on a temporary directory, points written through stor_write,
 * queries through qry_execute, and the exact response text compared with
 * answers computed by hand from the points below.
 *
 * Data (T = 1700000000 s = 2023-11-14T22:13:20Z), database "plant":
 *   cpu,host=a,region=eu  T+0s value=1,n=10i   T+10s value=2   T+20s value=3,n=30i
 *   cpu,host=b,region=us  T+5s value=10        T+10s value=20
 *   mem,host=a            T+0s used=5i,on=true,s="x<y"
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "query/qry_int.h"
#include "query/query.h"
#include "storage/stor.h"
#include "tests/unit/unit.h"

#define T0 1700000000LL
#define SEC 1000000000LL

static stor *g_s;
static char g_dir[256];

static int add(stor_batch *b, const char *m, const char *host, const char *region, int64_t ts_s,
               const stor_field_in *f, uint32_t nf)
{
    st_slice k[2] = { st_slice_cstr("host"), st_slice_cstr("region") };
    st_slice v[2] = { st_slice_cstr(host), st_slice_cstr(region ? region : "") };
    char msg[256];
    uint32_t dropped = 0;
    return stor_batch_add(b, st_slice_cstr(m), k, v, region ? 2 : 1, f, nf, (T0 + ts_s) * SEC, 0, msg, sizeof msg,
                          &dropped);
}

static stor_field_in ff(const char *k, double v) { return (stor_field_in){ st_slice_cstr(k), { .type = ST_TYPE_FLOAT, .v.f = v } }; }
static stor_field_in fi(const char *k, int64_t v) { return (stor_field_in){ st_slice_cstr(k), { .type = ST_TYPE_INT, .v.i = v } }; }

static int setup(void)
{
    if (!unit_tmpdir(g_dir, sizeof g_dir, "query")) return -1;
    stor_opts o;
    memset(&o, 0, sizeof o);
    o.data_dir = g_dir;
    o.fsync_mode = STOR_FSYNC_NEVER;
    if (stor_open(&o, &g_s) != 0) return -1;
    uint64_t db;
    if (stor_db_create(g_s, st_slice_cstr("plant"), &db) != 0) return -1;
    stor_batch *b;
    if (stor_batch_create(g_s, db, &b) != 0) return -1;
    stor_field_in f[3];
    int rc = 0;
    f[0] = ff("value", 1); f[1] = fi("n", 10);
    rc |= add(b, "cpu", "a", "eu", 0, f, 2);
    f[0] = ff("value", 2);
    rc |= add(b, "cpu", "a", "eu", 10, f, 1);
    f[0] = ff("value", 3); f[1] = fi("n", 30);
    rc |= add(b, "cpu", "a", "eu", 20, f, 2);
    f[0] = ff("value", 10);
    rc |= add(b, "cpu", "b", "us", 5, f, 1);
    f[0] = ff("value", 20);
    rc |= add(b, "cpu", "b", "us", 10, f, 1);
    f[0] = fi("used", 5);
    f[1] = (stor_field_in){ st_slice_cstr("on"), { .type = ST_TYPE_BOOL, .v.b = 1 } };
    f[2] = (stor_field_in){ st_slice_cstr("s"), { .type = ST_TYPE_STRING, .v.s = st_slice_cstr("x<y") } };
    rc |= add(b, "mem", "a", NULL, 0, f, 3);
    if (rc) { stor_batch_destroy(b); return -1; }
    return stor_write_wait(b);
}

static void teardown(void)
{
    stor_close(g_s);
    char cmd[sizeof g_dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) { /* best effort */ }
}

static st_buf g_out;
static int g_status;

/* Run q with db=plant and the given epoch ("" = RFC3339); returns the body. */
static const char *runx(const char *q, const char *db, const char *epoch, int csv)
{
    qry_request r;
    qry_request_init(&r);
    r.q = st_slice_cstr(q);
    r.db = st_slice_cstr(db);
    r.now_ns = (T0 + 3600) * SEC;
    if (*epoch) qry_epoch_parse(st_slice_cstr(epoch), &r.epoch);
    r.csv = csv;
    st_buf_fini(&g_out);
    st_buf_init(&g_out);
    g_status = 0;
    qry_execute(g_s, &r, &g_out, &g_status);
    return g_out.ptr ? g_out.ptr : "";
}

static const char *run(const char *q, const char *epoch) { return runx(q, "plant", epoch, 0); }

#define R(x) "{\"results\":[" x "]}\n"

TEST(show_meta)
{
    CHECK_EQ_STR(run("SHOW DATABASES", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":[[\"plant\"]]}]}"));
    CHECK_EQ_INT(g_status, 200);
    CHECK_EQ_STR(run("SHOW MEASUREMENTS", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"],[\"mem\"]]}]}"));
    CHECK_EQ_STR(run("SHOW MEASUREMENTS WITH MEASUREMENT =~ /^c/ LIMIT 100", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"]]}]}"));
    CHECK_EQ_STR(run("SHOW MEASUREMENTS WHERE \"region\" = 'us'", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"]]}]}"));
    CHECK_EQ_STR(run("SHOW FIELD KEYS FROM \"cpu\"", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"n\",\"integer\"],[\"value\",\"float\"]]}]}"));
    CHECK_EQ_STR(run("SHOW FIELD KEYS", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"n\",\"integer\"],[\"value\",\"float\"]]},"
                   "{\"name\":\"mem\",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[[\"on\",\"boolean\"],[\"s\",\"string\"],[\"used\",\"integer\"]]}]}"));
    CHECK_EQ_STR(run("SHOW TAG KEYS FROM cpu", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"],[\"region\"]]}]}"));
    CHECK_EQ_STR(run("SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"host\"", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"b\"]]}]}"));
    CHECK_EQ_STR(run("SHOW TAG VALUES FROM cpu WITH KEY IN (\"region\") WHERE host = 'b'", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"region\",\"us\"]]}]}"));
    CHECK_EQ_STR(run("SHOW TAG VALUES WITH KEY = \"host\"", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"],[\"host\",\"b\"]]},"
                   "{\"name\":\"mem\",\"columns\":[\"key\",\"value\"],\"values\":[[\"host\",\"a\"]]}]}"));
    CHECK_EQ_STR(run("SHOW SERIES", ""),
                 R("{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":[[\"cpu,host=a,region=eu\"],[\"cpu,host=b,region=us\"],[\"mem,host=a\"]]}]}"));
    CHECK_EQ_STR(run("SHOW RETENTION POLICIES ON \"plant\"", ""),
                 R("{\"statement_id\":0,\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\",\"replicaN\",\"default\"],"
                   "\"values\":[[\"autogen\",\"0s\",\"168h0m0s\",1,true]]}]}"));
}

TEST(errors)
{
    CHECK_EQ_STR(runx("SHOW MEASUREMENTS", "", "", 0), R("{\"statement_id\":0,\"error\":\"database name required\"}"));
    CHECK_EQ_STR(runx("SHOW RETENTION POLICIES", "", "", 0), R("{\"statement_id\":0,\"error\":\"database name required\"}"));
    CHECK_EQ_STR(runx("SHOW TAG KEYS ON plant FROM mem", "", "", 0),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"mem\",\"columns\":[\"tagKey\"],\"values\":[[\"host\"]]}]}"));
    CHECK_EQ_STR(runx("SHOW FIELD KEYS ON nodb", "plant", "", 0), R("{\"statement_id\":0,\"error\":\"database not found: nodb\"}"));
    CHECK_EQ_STR(runx("SELECT v FROM m", "nodb", "", 0), R("{\"statement_id\":0,\"error\":\"database not found: nodb\"}"));
    CHECK_EQ_STR(run("SELECT value FROM \"plant\".\"other\".cpu", ""),
                 R("{\"statement_id\":0,\"error\":\"retention policy not found: other\"}"));
    CHECK_EQ_STR(run("SELECT value FROM nothere", ""), R("{\"statement_id\":0}"));
    CHECK_EQ_STR(run("SELECT nofield FROM cpu", ""), R("{\"statement_id\":0}"));
    CHECK_EQ_STR(run("SELEC", ""), "{\"error\":\"error parsing query: found SELEC, expected SELECT, DELETE, SHOW, CREATE, "
                                   "DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1\"}\n");
    CHECK_EQ_INT(g_status, 400);
    CHECK_EQ_STR(run("", ""), "{\"error\":\"missing required parameter \\\"q\\\"\"}\n");
    CHECK_EQ_INT(g_status, 400);
    CHECK_EQ_STR(run("SELECT mean(value), value FROM cpu", ""),
                 R("{\"statement_id\":0,\"error\":\"mixing aggregate and non-aggregate queries is not supported\"}"));
    CHECK_EQ_STR(run("SELECT foo(value) FROM cpu", ""), R("{\"statement_id\":0,\"error\":\"undefined function foo()\"}"));
    CHECK_EQ_STR(run("SELECT value FROM cpu GROUP BY time(1m)", ""),
                 R("{\"statement_id\":0,\"error\":\"GROUP BY requires at least one aggregate function\"}"));
    CHECK_EQ_STR(run("SELECT mean(s) FROM mem", ""), R("{\"statement_id\":0,\"error\":\"unsupported mean iterator type: string\"}"));
}

TEST(select_raw)
{
    CHECK_EQ_STR(run("SELECT value FROM cpu", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":"
                   "[[1700000000,1],[1700000005,10],[1700000010,2],[1700000010,20],[1700000020,3]]}]}"));
    CHECK_EQ_STR(run("SELECT * FROM cpu WHERE host = 'a'", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"host\",\"n\",\"region\",\"value\"],\"values\":"
                   "[[1700000000,\"a\",10,\"eu\",1],[1700000010,\"a\",null,\"eu\",2],[1700000020,\"a\",30,\"eu\",3]]}]}"));
    CHECK_EQ_STR(run("SELECT n FROM cpu", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"n\"],\"values\":[[1700000000,10],[1700000020,30]]}]}"));
    CHECK_EQ_STR(run("SELECT value FROM cpu WHERE time >= '2023-11-14T22:13:25Z' AND time < 1700000020s LIMIT 2", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":"
                   "[[\"2023-11-14T22:13:25Z\",10],[\"2023-11-14T22:13:30Z\",2]]}]}"));
    CHECK_EQ_STR(run("SELECT value FROM cpu WHERE host =~ /^b/ OR region = 'none'", "ms"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":"
                   "[[1700000005000,10],[1700000010000,20]]}]}"));
    CHECK_EQ_STR(run("SELECT value FROM cpu WHERE host != 'a' AND time > now() - 1h", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":"
                   "[[1700000005,10],[1700000010,20]]}]}"));
    CHECK_EQ_STR(run("SELECT value, n FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"tags\":{\"host\":\"a\"},\"columns\":[\"time\",\"value\",\"n\"],\"values\":[[1700000020,3,30]]},"
                   "{\"name\":\"cpu\",\"tags\":{\"host\":\"b\"},\"columns\":[\"time\",\"value\",\"n\"],\"values\":[[1700000010,20,null]]}]}"));
    CHECK_EQ_STR(run("SELECT * FROM mem", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"mem\",\"columns\":[\"time\",\"host\",\"on\",\"s\",\"used\"],\"values\":"
                   "[[\"2023-11-14T22:13:20Z\",\"a\",true,\"x\\u003cy\",5]]}]}"));
    /* two statements, in order */
    CHECK_EQ_STR(run("SELECT n FROM cpu WHERE time > 1700000010s; SELECT used FROM mem", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"n\"],\"values\":[[1700000020,30]]}]},"
                   "{\"statement_id\":1,\"series\":[{\"name\":\"mem\",\"columns\":[\"time\",\"used\"],\"values\":[[1700000000,5]]}]}"));
}

TEST(select_aggregates)
{
    CHECK_EQ_STR(run("SELECT count(value) FROM cpu", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"count\"],\"values\":[[\"1970-01-01T00:00:00Z\",5]]}]}"));
    CHECK_EQ_STR(run("SELECT count(value) FROM cpu WHERE time >= 1700000010s", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"count\"],\"values\":[[1700000010,3]]}]}"));
    /* sum 36, mean 7.2, spread 19, median 3; max is a selector: its point's time */
    CHECK_EQ_STR(run("SELECT sum(value), mean(value), spread(value), median(value), min(n) FROM cpu", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"sum\",\"mean\",\"spread\",\"median\",\"min\"],"
                   "\"values\":[[0,36,7.2,19,3,10]]}]}"));
    CHECK_EQ_STR(run("SELECT max(value) FROM cpu", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"max\"],\"values\":[[1700000010,20]]}]}"));
    CHECK_EQ_STR(run("SELECT first(value), last(value) AS l FROM cpu WHERE host = 'a'", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"first\",\"l\"],\"values\":[[0,1,3]]}]}"));
    /* stddev of 1,2,3 (sample) = 1 */
    CHECK_EQ_STR(run("SELECT stddev(value) FROM cpu WHERE host = 'a'", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"stddev\"],\"values\":[[0,1]]}]}"));
}

TEST(select_group_by_time)
{
    const char *w = " WHERE time >= 1700000000000ms and time <= 1700000020000ms";
    char q[512];
    snprintf(q, sizeof q, "SELECT mean(\"value\") FROM \"cpu\"%s GROUP BY time(10s), \"host\" fill(null)", w);
    CHECK_EQ_STR(run(q, "ms"),
                 R("{\"statement_id\":0,\"series\":["
                   "{\"name\":\"cpu\",\"tags\":{\"host\":\"a\"},\"columns\":[\"time\",\"mean\"],\"values\":[[1700000000000,1],[1700000010000,2],[1700000020000,3]]},"
                   "{\"name\":\"cpu\",\"tags\":{\"host\":\"b\"},\"columns\":[\"time\",\"mean\"],\"values\":[[1700000000000,10],[1700000010000,20],[1700000020000,null]]}]}"));
    snprintf(q, sizeof q, "SELECT mean(value) FROM cpu%s GROUP BY time(10s)", w);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"mean\"],\"values\":[[1700000000,5.5],[1700000010,11],[1700000020,3]]}]}"));
    /* grafana's math on an aggregate */
    snprintf(q, sizeof q, "SELECT mean(value) * 2 FROM cpu%s GROUP BY time(10s)", w);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"mean\"],\"values\":[[1700000000,11],[1700000010,22],[1700000020,6]]}]}"));
    /* n (int): 10 at +0, 30 at +20; 5s windows +0..+20 */
    const char *w2 = " WHERE time >= 1700000000s AND time <= 1700000020s GROUP BY time(5s)";
    snprintf(q, sizeof q, "SELECT count(n) FROM cpu%s", w2);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"count\"],\"values\":"
                   "[[1700000000,1],[1700000005,0],[1700000010,0],[1700000015,0],[1700000020,1]]}]}"));
    snprintf(q, sizeof q, "SELECT sum(n) FROM cpu%s fill(none)", w2);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"sum\"],\"values\":[[1700000000,10],[1700000020,30]]}]}"));
    snprintf(q, sizeof q, "SELECT sum(n) FROM cpu%s fill(previous)", w2);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"sum\"],\"values\":"
                   "[[1700000000,10],[1700000005,10],[1700000010,10],[1700000015,10],[1700000020,30]]}]}"));
    snprintf(q, sizeof q, "SELECT sum(n) FROM cpu%s fill(linear)", w2);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"sum\"],\"values\":"
                   "[[1700000000,10],[1700000005,15],[1700000010,20],[1700000015,25],[1700000020,30]]}]}"));
    snprintf(q, sizeof q, "SELECT sum(n) FROM cpu%s fill(-1)", w2);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"sum\"],\"values\":"
                   "[[1700000000,10],[1700000005,-1],[1700000010,-1],[1700000015,-1],[1700000020,30]]}]}"));
    /* windows aligned to the epoch; the first starts before the lower bound */
    CHECK_EQ_STR(run("SELECT max(value) FROM cpu WHERE time >= 1700000004s AND time < 1700000016s GROUP BY time(10s)", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"max\"],\"values\":[[1700000000,10],[1700000010,20]]}]}"));
    /* offset */
    CHECK_EQ_STR(run("SELECT count(value) FROM cpu WHERE time >= 1700000000s AND time <= 1700000020s GROUP BY time(10s, 5s)", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"count\"],\"values\":"
                   "[[1699999995,1],[1700000005,3],[1700000015,1]]}]}"));
}

TEST(transformations)
{
    const char *w = " FROM cpu WHERE time >= 1700000000s AND time <= 1700000020s GROUP BY time(10s)";
    char q[512];
    /* means per 10 s window: 5.5, 11, 3 */
    snprintf(q, sizeof q, "SELECT derivative(mean(value), 1s)%s", w);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"derivative\"],\"values\":[[1700000010,0.55],[1700000020,-0.8]]}]}"));
    /* without a unit: per GROUP BY interval (InfluxDB's DerivativeInterval) */
    snprintf(q, sizeof q, "SELECT non_negative_derivative(mean(value))%s", w);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"non_negative_derivative\"],\"values\":[[1700000010,5.5]]}]}"));
    /* max per window: 10, 20, 3 */
    snprintf(q, sizeof q, "SELECT cumulative_sum(max(value))%s", w);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"cumulative_sum\"],\"values\":[[1700000000,10],[1700000010,30],[1700000020,33]]}]}"));
    snprintf(q, sizeof q, "SELECT moving_average(mean(value), 2)%s", w);
    CHECK_EQ_STR(run(q, "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"moving_average\"],\"values\":[[1700000010,8.25],[1700000020,7]]}]}"));
    /* sums of n per 5 s window: 10, -, -, -, 30 (integers stay integers) */
    CHECK_EQ_STR(run("SELECT difference(sum(n)) FROM cpu WHERE time >= 1700000000s AND time <= 1700000020s GROUP BY time(5s)", "s"),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"difference\"],\"values\":[[1700000020,20]]}]}"));
    CHECK_EQ_STR(run("SELECT derivative(mean(value)) FROM cpu", "s"),
                 R("{\"statement_id\":0,\"error\":\"derivative aggregate requires a GROUP BY interval\"}"));
}

TEST(csv_and_ddl)
{
    CHECK_EQ_STR(runx("SELECT value FROM cpu WHERE host = 'a'; SHOW TAG KEYS FROM cpu", "plant", "", 1),
                 "name,tags,time,value\ncpu,,1700000000000000000,1\ncpu,,1700000010000000000,2\ncpu,,1700000020000000000,3\n"
                 "\nname,tags,tagKey\ncpu,,host\ncpu,,region\n");
    CHECK_EQ_STR(runx("SELECT mean(value) FROM cpu GROUP BY host", "plant", "s", 1),
                 "name,tags,time,mean\ncpu,host=a,0,2\ncpu,host=b,0,15\n");
    CHECK_EQ_STR(run("CREATE DATABASE \"new db\"", ""), R("{\"statement_id\":0}"));
    CHECK_EQ_STR(run("CREATE DATABASE \"new db\"; SHOW DATABASES", ""),
                 R("{\"statement_id\":0},{\"statement_id\":1,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":[[\"plant\"],[\"new db\"]]}]}"));
    CHECK_EQ_STR(run("DROP DATABASE \"new db\"; DROP DATABASE nope; SHOW DATABASES", ""),
                 R("{\"statement_id\":0},{\"statement_id\":1},{\"statement_id\":2,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":[[\"plant\"]]}]}"));
}

TEST(pretty_and_chunked)
{
    qry_request r;
    qry_request_init(&r);
    r.q = st_slice_cstr("SHOW DATABASES");
    r.pretty = 1;
    st_buf out;
    st_buf_init(&out);
    int status;
    CHECK_EQ_INT(qry_execute(g_s, &r, &out, &status), 0);
    CHECK_EQ_STR(out.ptr, "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"series\": [\n"
                          "                {\n                    \"name\": \"databases\",\n                    \"columns\": [\n"
                          "                        \"name\"\n                    ],\n                    \"values\": [\n"
                          "                        [\n                            \"plant\"\n                        ]\n"
                          "                    ]\n                }\n            ]\n        }\n    ]\n}\n");
    st_buf_clear(&out);
    r.pretty = 0;
    r.chunked = 1;
    r.q = st_slice_cstr("SHOW DATABASES; SHOW MEASUREMENTS");
    CHECK_EQ_INT(qry_execute(g_s, &r, &out, &status), 0);
    CHECK_EQ_STR(out.ptr, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":[[\"plant\"]]}]}]}\n"
                          "{\"results\":[{\"statement_id\":1,\"error\":\"database name required\"}]}\n");
    st_buf_fini(&out);
}

TEST(budget)
{
    qry_request r;
    qry_request_init(&r);
    r.q = st_slice_cstr("SELECT value FROM cpu");
    r.db = st_slice_cstr("plant");
    r.max_points = 3;
    st_buf out;
    st_buf_init(&out);
    int status;
    CHECK_EQ_INT(qry_execute(g_s, &r, &out, &status), 0);
    CHECK_EQ_STR(out.ptr, R("{\"statement_id\":0,\"error\":\"max-select-point limit exceeded: (5/3)\"}"));
    st_buf_fini(&out);
}

/* A statement that fails after writing a series: its text is cut from the
 * body (series go straight into it), the statement before it stays. */
TEST(error_after_a_series)
{
    qry_request r;
    qry_request_init(&r);
    r.q = st_slice_cstr("SHOW DATABASES; SELECT value FROM cpu GROUP BY host; SHOW DATABASES");
    r.db = st_slice_cstr("plant");
    r.max_points = 4; /* host a's 3 points pass, host b's 2 more do not */
    st_buf out;
    st_buf_init(&out);
    int status;
    CHECK_EQ_INT(qry_execute(g_s, &r, &out, &status), 0);
    CHECK_EQ_STR(out.ptr, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],"
                          "\"values\":[[\"plant\"]]}]},{\"statement_id\":1,\"error\":\"max-select-point limit exceeded: (5/4)\"},"
                          "{\"statement_id\":2,\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":[[\"plant\"]]}]}]}\n");
    st_buf_fini(&out);
}

#define S1(x) R("{\"statement_id\":0,\"series\":[" x "]}")

TEST(field_conditions)
{
    /* value > 2: a@+20 (3), b@+5 (10), b@+10 (20), merged by time */
    CHECK_EQ_STR(run("SELECT value FROM cpu WHERE value > 2", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":[[1700000005,10],[1700000010,20],[1700000020,3]]}"));
    CHECK_EQ_STR(run("SELECT value FROM cpu WHERE \"value\" > 2 AND host = 'a'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":[[1700000020,3]]}"));
    CHECK_EQ_STR(run("SELECT value FROM cpu WHERE value < 2 OR \"host\" = 'b'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":[[1700000000,1],[1700000005,10],[1700000010,20]]}"));
    /* with a time range and arithmetic: value * 2 >= 4 -> 2, 3, 10, 20; mean 8.75 at the lower bound */
    CHECK_EQ_STR(run("SELECT mean(value) FROM cpu WHERE value * 2 >= 4 AND time >= 1700000000s AND time <= 1700000020s", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"mean\"],\"values\":[[1700000000,8.75]]}"));
    /* a condition on another field: n = 30 only at a@+20 */
    CHECK_EQ_STR(run("SELECT count(value) FROM cpu WHERE n = 30", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"count\"],\"values\":[[0,1]]}"));
    CHECK_EQ_STR(run("SELECT value, n FROM cpu WHERE n < 30", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"value\",\"n\"],\"values\":[[1700000000,1,10]]}"));
    /* grouped windows: value >= 10 only host b */
    CHECK_EQ_STR(run("SELECT sum(value) FROM cpu WHERE value >= 10 AND time >= 1700000000s AND time < 1700000020s GROUP BY time(10s)", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"sum\"],\"values\":[[1700000000,10],[1700000010,20]]}"));
    /* booleans and strings */
    CHECK_EQ_STR(run("SELECT used FROM mem WHERE \"on\" = true AND s = 'x<y'", "s"),
                 S1("{\"name\":\"mem\",\"columns\":[\"time\",\"used\"],\"values\":[[1700000000,5]]}"));
    CHECK_EQ_STR(run("SELECT used FROM mem WHERE s =~ /^y/", "s"), R("{\"statement_id\":0}"));
    CHECK_EQ_STR(run("SELECT used FROM mem WHERE s = 5", "s"), R("{\"statement_id\":0}"));
    /* a field condition no point passes */
    CHECK_EQ_STR(run("SELECT value FROM cpu WHERE value > 100", "s"), R("{\"statement_id\":0}"));
}

static uint64_t tz_db(void)
{
    /* 2021-03-27/28/29 12:00Z: v = 1, 2, 4 (Berlin switches to CEST on the 28th) */
    uint64_t db;
    if (stor_db_create(g_s, st_slice_cstr("tzdb"), &db) != 0) return 0;
    stor_batch *b;
    if (stor_batch_create(g_s, db, &b) != 0) return 0;
    static const int64_t ts[3] = { 1616846400, 1616932800, 1617019200 };
    static const double v[3] = { 1, 2, 4 };
    for (int i = 0; i < 3; i++) {
        stor_field_in f = ff("v", v[i]);
        char msg[128];
        uint32_t dropped;
        if (stor_batch_add(b, st_slice_cstr("m"), NULL, NULL, 0, &f, 1, ts[i] * SEC, 0, msg, sizeof msg, &dropped)) {
            stor_batch_destroy(b);
            return 0;
        }
    }
    return stor_write_wait(b) == 0 ? db : 0;
}

TEST(time_zones)
{
    /* a private TZDIR holding the repo's copy of Europe/Berlin */
    char zdir[sizeof g_dir + 8], cmd[2 * sizeof zdir + 96];
    snprintf(zdir, sizeof zdir, "%s/zi", g_dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/Europe' && cp tests/data/tz/Europe_Berlin '%s/Europe/Berlin'", zdir, zdir);
    REQUIRE(system(cmd) == 0);
    setenv("TZDIR", zdir, 1);
    REQUIRE(tz_db() != 0);
    const char *q = "SELECT sum(v) FROM m WHERE time >= '2021-03-27T00:00:00Z' AND time < '2021-03-30T00:00:00Z' "
                    "GROUP BY time(1d) tz('Europe/Berlin')";
    /* local midnights: 26T23:00Z, 27T23:00Z (a 23 h day), 28T22:00Z, 29T22:00Z */
    CHECK_EQ_STR(runx(q, "tzdb", "", 0),
                 S1("{\"name\":\"m\",\"columns\":[\"time\",\"sum\"],\"values\":[[\"2021-03-27T00:00:00+01:00\",1],"
                    "[\"2021-03-28T00:00:00+01:00\",2],[\"2021-03-29T00:00:00+02:00\",4],[\"2021-03-30T00:00:00+02:00\",null]]}"));
    CHECK_EQ_STR(runx(q, "tzdb", "s", 0),
                 S1("{\"name\":\"m\",\"columns\":[\"time\",\"sum\"],\"values\":[[1616799600,1],[1616886000,2],[1616968800,4],[1617055200,null]]}"));
    /* without tz(): UTC days */
    CHECK_EQ_STR(runx("SELECT sum(v) FROM m WHERE time >= '2021-03-27T00:00:00Z' AND time < '2021-03-30T00:00:00Z' GROUP BY time(1d)", "tzdb", "s", 0),
                 S1("{\"name\":\"m\",\"columns\":[\"time\",\"sum\"],\"values\":[[1616803200,1],[1616889600,2],[1616976000,4]]}"));
    /* raw rows print in local time */
    CHECK_EQ_STR(runx("SELECT v FROM m WHERE time > '2021-03-28T00:00:00Z' tz('Europe/Berlin')", "tzdb", "", 0),
                 S1("{\"name\":\"m\",\"columns\":[\"time\",\"v\"],\"values\":[[\"2021-03-28T14:00:00+02:00\",2],[\"2021-03-29T14:00:00+02:00\",4]]}"));
    /* hourly windows keep their length across the switch */
    CHECK_EQ_STR(runx("SELECT count(v) FROM m WHERE time >= '2021-03-28T11:00:00Z' AND time < '2021-03-28T13:00:00Z' GROUP BY time(1h) tz('Europe/Berlin')", "tzdb", "s", 0),
                 S1("{\"name\":\"m\",\"columns\":[\"time\",\"count\"],\"values\":[[1616929200,0],[1616932800,1]]}"));
    /* the same times in two statements of one request: each in its own zone
     * (the writer's cache of time cells must not carry one into the other) */
    {
        const char *two = runx("SELECT v FROM m WHERE time > '2021-03-28T00:00:00Z' tz('Europe/Berlin'); "
                               "SELECT v FROM m WHERE time > '2021-03-28T00:00:00Z'; "
                               "SELECT v FROM m WHERE time > '2021-03-28T00:00:00Z' tz('Europe/Berlin')", "tzdb", "", 0);
        const char *s0 = strstr(two, "\"statement_id\":0"), *s1 = strstr(two, "\"statement_id\":1");
        const char *s2 = strstr(two, "\"statement_id\":2");
        REQUIRE(s0 && s1 && s2 && s0 < s1 && s1 < s2);
        const char *l0 = strstr(s0, "[\"2021-03-28T14:00:00+02:00\",2]"), *u1 = strstr(s1, "[\"2021-03-28T12:00:00Z\",2]");
        const char *l2 = strstr(s2, "[\"2021-03-29T14:00:00+02:00\",4]");
        CHECK(l0 && l0 < s1);
        CHECK(u1 && u1 < s2);
        CHECK(l2 != NULL);
        CHECK(strstr(s1, "+02:00") == NULL || strstr(s1, "+02:00") > s2);
    }
    CHECK_EQ_STR(runx("SELECT v FROM m tz('Nowhere/Atlantis')", "tzdb", "s", 0),
                 R("{\"statement_id\":0,\"error\":\"unable to find time zone Nowhere/Atlantis\"}"));
    unsetenv("TZDIR");
}

TEST(wildcard_functions_and_math)
{
    /* n: 10, 30; value: 1, 2, 3, 10, 20 */
    CHECK_EQ_STR(run("SELECT mean(*) FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"mean_n\",\"mean_value\"],\"values\":[[0,20,7.2]]}"));
    CHECK_EQ_STR(run("SELECT max(/val/) FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"max_value\"],\"values\":[[1700000010,20]]}"));
    CHECK_EQ_STR(run("SELECT count(*) AS c FROM mem", "s"),
                 S1("{\"name\":\"mem\",\"columns\":[\"time\",\"c_on\",\"c_s\",\"c_used\"],\"values\":[[0,1,1,1]]}"));
    /* NaN and ±Inf results are null in JSON (as Go's encoder cannot write
     * them), and their text in CSV: sqrt(-1), ln(0) */
    CHECK_EQ_STR(run("SELECT sqrt(value - 2), ln(value - 1) FROM cpu WHERE host = 'a'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"sqrt\",\"ln\"],\"values\":[[1700000000,null,null],"
                    "[1700000010,0,0],[1700000020,1,0.6931471805599453]]}"));
    CHECK(strstr(runx("SELECT sqrt(value - 2), ln(value - 1) FROM cpu WHERE host = 'a'", "plant", "s", 1),
                 "cpu,,1700000000,NaN,-Inf\n") != NULL);
    /* mean(*) leaves out the string and boolean fields */
    CHECK_EQ_STR(run("SELECT mean(*) FROM mem", "s"),
                 S1("{\"name\":\"mem\",\"columns\":[\"time\",\"mean_used\"],\"values\":[[0,5]]}"));
    CHECK_EQ_STR(run("SELECT count(distinct(value)), mode(n) FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"count\",\"mode\"],\"values\":[[0,5,10]]}"));
    /* host a: (0s,1) (10s,2) (20s,3): trapezoids 15 + 25 */
    CHECK_EQ_STR(run("SELECT integral(value), integral(value, 10s) AS i10 FROM cpu WHERE host = 'a'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"integral\",\"i10\"],\"values\":[[0,40,4]]}"));
    CHECK_EQ_STR(run("SELECT integral(value) FROM cpu WHERE host = 'a' AND time >= 1700000000s AND time <= 1700000020s GROUP BY time(10s)", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"integral\"],\"values\":[[1700000000,15],[1700000010,25],[1700000020,0]]}"));
    /* windows at -5s, 5s, 15s cut the line 1 -> 2 -> 3: (1+1.5)/2*5, (1.5+2)/2*5 + (2+2.5)/2*5, (2.5+3)/2*5 */
    CHECK_EQ_STR(run("SELECT integral(value) FROM cpu WHERE host = 'a' AND time >= 1700000000s AND time <= 1700000020s GROUP BY time(10s, 5s)", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"integral\"],\"values\":[[1699999995,6.25],[1700000005,20],[1700000015,13.75]]}"));
    CHECK_EQ_STR(run("SELECT round(mean(value)), abs(min(value) - 100), pow(max(n), 2), sqrt(sum(n)) FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"round\",\"abs\",\"pow\",\"sqrt\"],\"values\":[[0,7,99,900,6.324555320336759]]}"));
    CHECK_EQ_STR(run("SELECT floor(max(n)), log(sum(n), 2), atan2(min(value), min(value)) FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"floor\",\"log\",\"atan2\"],\"values\":[[0,30,5.321928094887363,0.7853981633974483]]}"));
    CHECK_EQ_STR(run("SELECT pow(max(n)) FROM cpu", "s"),
                 R("{\"statement_id\":0,\"error\":\"invalid number of arguments for pow, expected 2, got 1\"}"));
}

TEST(multi_row_functions)
{
    CHECK_EQ_STR(run("SELECT DISTINCT n FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"distinct\"],\"values\":[[0,10],[0,30]]}"));
    CHECK_EQ_STR(run("SELECT distinct(value) AS d FROM cpu WHERE time >= 1700000000s AND time <= 1700000010s", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"d\"],\"values\":[[1700000000,1],[1700000000,2],[1700000000,10],[1700000000,20]]}"));
    CHECK_EQ_STR(run("SELECT top(value, 2) FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"top\"],\"values\":[[1700000005,10],[1700000010,20]]}"));
    CHECK_EQ_STR(run("SELECT top(value, host, 2) FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"top\",\"host\"],\"values\":[[1700000010,20,\"b\"],[1700000020,3,\"a\"]]}"));
    CHECK_EQ_STR(run("SELECT bottom(value, 1) FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"bottom\"],\"values\":[[1700000000,1]]}"));
    CHECK_EQ_STR(run("SELECT bottom(value, 2) FROM cpu WHERE time >= 1700000000s AND time <= 1700000020s GROUP BY time(10s)", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"bottom\"],\"values\":[[1700000000,1],[1700000005,10],[1700000010,2],[1700000010,20],[1700000020,3]]}"));
    CHECK_EQ_STR(run("SELECT sample(value, 9) FROM cpu ORDER BY time DESC LIMIT 2", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"sample\"],\"values\":[[1700000020,3],[1700000010,20]]}"));
    CHECK_EQ_STR(run("SELECT top(value, 0) FROM cpu", "s"),
                 R("{\"statement_id\":0,\"error\":\"limit (0) in top function must be at least 1\"}"));
    CHECK_EQ_STR(run("SELECT top(s, 1) FROM mem", "s"),
                 R("{\"statement_id\":0,\"error\":\"unsupported top iterator type: string\"}"));
}

TEST(raw_transformations)
{
    /* host a: (0s,1) (10s,2) (20s,3) */
    CHECK_EQ_STR(run("SELECT derivative(value) FROM cpu WHERE host = 'a'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"derivative\"],\"values\":[[1700000010,0.1],[1700000020,0.1]]}"));
    CHECK_EQ_STR(run("SELECT elapsed(value, 1s) FROM cpu WHERE host = 'a'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"elapsed\"],\"values\":[[1700000010,10],[1700000020,10]]}"));
    CHECK_EQ_STR(run("SELECT elapsed(value) FROM cpu WHERE host = 'a' LIMIT 1", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"elapsed\"],\"values\":[[1700000010,10000000000]]}"));
    CHECK_EQ_STR(run("SELECT cumulative_sum(n) FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"cumulative_sum\"],\"values\":[[1700000000,10],[1700000020,40]]}"));
    CHECK_EQ_STR(run("SELECT moving_average(value, 2) FROM cpu WHERE host = 'a'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"moving_average\"],\"values\":[[1700000010,1.5],[1700000020,2.5]]}"));
    CHECK_EQ_STR(run("SELECT elapsed(mean(value), 1s) FROM cpu WHERE host = 'a' AND time >= 1700000000s AND time <= 1700000020s GROUP BY time(10s)", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"elapsed\"],\"values\":[[1700000010,10],[1700000020,10]]}"));
    CHECK_EQ_STR(run("SELECT derivative(value) FROM cpu WHERE time >= 1700000000s GROUP BY time(10s)", "s"),
                 R("{\"statement_id\":0,\"error\":\"aggregate function required inside the call to derivative\"}"));
}

static const char *runp(const char *q, const char *params)
{
    qry_request r;
    qry_request_init(&r);
    r.q = st_slice_cstr(q);
    r.db = st_slice_cstr("plant");
    r.now_ns = (T0 + 3600) * SEC;
    r.params = st_slice_cstr(params);
    qry_epoch_parse(st_slice_cstr("s"), &r.epoch);
    st_buf_fini(&g_out);
    st_buf_init(&g_out);
    qry_execute(g_s, &r, &g_out, &g_status);
    return g_out.ptr ? g_out.ptr : "";
}

TEST(bound_parameters)
{
    CHECK_EQ_STR(runp("SELECT value FROM cpu WHERE host = $h AND value > $min AND time >= $t", "{\"h\":\"a\", \"min\": 1.5, \"t\": \"2023-11-14T22:13:25Z\"}"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":[[1700000010,2],[1700000020,3]]}"));
    CHECK_EQ_INT(g_status, 200);
    CHECK_EQ_STR(runp("SELECT value FROM cpu WHERE \"on\" = $b AND n = $n", "{\"b\":true,\"n\":30}"), R("{\"statement_id\":0}"));
    CHECK_EQ_STR(runp("SELECT count(value) FROM cpu WHERE n = $n", "{\"n\":30, \"unused\": \"x\\u00e9\"}"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"count\"],\"values\":[[0,1]]}"));
    CHECK_EQ_STR(runp("SELECT value FROM cpu WHERE host = $nope", "{}"),
                 R("{\"statement_id\":0,\"error\":\"missing parameter: nope\"}"));
    CHECK_EQ_STR(runp("SELECT value FROM cpu WHERE host = $h", "{\"h\":"),
                 "{\"error\":\"error parsing query parameters: unsupported value for h\"}\n");
    CHECK_EQ_INT(g_status, 400);
    CHECK_EQ_STR(runp("SELECT value FROM cpu", "[1]"), "{\"error\":\"error parsing query parameters: expected a JSON object\"}\n");
}

TEST(subqueries)
{
    /* inner: host a 1, 2, 3 at 0s, 10s, 20s; host b 10, 20, null */
    const char *inner = "(SELECT mean(value) AS m FROM cpu WHERE time >= 1700000000s AND time <= 1700000020s GROUP BY time(10s), host)";
    char q[512];
    snprintf(q, sizeof q, "SELECT max(m) FROM %s", inner);
    CHECK_EQ_STR(run(q, "s"), S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"max\"],\"values\":[[1700000010,20]]}"));
    snprintf(q, sizeof q, "SELECT max(m) FROM %s GROUP BY host", inner);
    CHECK_EQ_STR(run(q, "s"),
                 S1("{\"name\":\"cpu\",\"tags\":{\"host\":\"a\"},\"columns\":[\"time\",\"max\"],\"values\":[[1700000020,3]]},"
                    "{\"name\":\"cpu\",\"tags\":{\"host\":\"b\"},\"columns\":[\"time\",\"max\"],\"values\":[[1700000010,20]]}"));
    /* the outer time range reaches the inner query */
    CHECK_EQ_STR(run("SELECT max(m) FROM (SELECT mean(value) AS m FROM cpu GROUP BY time(10s), host) "
                     "WHERE time >= 1700000000s AND time <= 1700000020s GROUP BY time(20s)", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"max\"],\"values\":[[1700000000,20],[1700000020,3]]}"));
    CHECK_EQ_STR(run("SELECT mean(v) FROM (SELECT value AS v FROM cpu WHERE host = 'b')", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"mean\"],\"values\":[[0,15]]}"));
    CHECK_EQ_STR(run("SELECT v FROM (SELECT value AS v FROM cpu WHERE host = 'b' ORDER BY time DESC) WHERE v > 15", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"v\"],\"values\":[[1700000010,20]]}"));
    CHECK_EQ_STR(run("SELECT sum(c) FROM (SELECT count(value) AS c FROM (SELECT value FROM cpu) GROUP BY time(10s)) "
                     "WHERE time >= 1700000000s AND time <= 1700000020s", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"sum\"],\"values\":[[1700000000,5]]}"));
    CHECK_EQ_STR(run("SELECT max(m) FROM (SELECT nope(value) AS m FROM cpu)", "s"),
                 R("{\"statement_id\":0,\"error\":\"undefined function nope()\"}"));
    CHECK_EQ_STR(run("SELECT max(m) FROM (SELECT mean(value) AS m FROM nothing)", "s"), R("{\"statement_id\":0}"));
}

TEST(raw_expressions)
{
    CHECK_EQ_STR(run("SELECT value * 2, abs(value - 15) AS d FROM cpu WHERE host = 'b'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"value\",\"d\"],\"values\":[[1700000005,20,5],[1700000010,40,5]]}"));
    /* n is missing at +10s: the quotient is null there */
    CHECK_EQ_STR(run("SELECT n / value FROM cpu WHERE host = 'a'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"n\"],\"values\":[[1700000000,10],[1700000010,null],[1700000020,10]]}"));
    CHECK_EQ_STR(run("SELECT round(value / 3), value FROM cpu WHERE host = 'a'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"round\",\"value\"],\"values\":[[1700000000,0,1],[1700000010,1,2],[1700000020,1,3]]}"));
    CHECK_EQ_STR(run("SELECT time, value FROM cpu WHERE host = 'b'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":[[1700000005,10],[1700000010,20]]}"));
    CHECK_EQ_STR(run("SELECT value + 1 FROM cpu WHERE value > 15", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":[[1700000010,21]]}"));
}

TEST(series_from_postings)
{
    /* the same answers whichever way the series are found */
    CHECK_EQ_STR(run("SELECT value FROM cpu WHERE (host = 'a' OR host = 'b') AND value > 2", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"value\"],\"values\":[[1700000005,10],[1700000010,20],[1700000020,3]]}"));
    CHECK_EQ_STR(run("SELECT count(value) FROM cpu WHERE host =~ /^(a|zz)$/", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"count\"],\"values\":[[0,3]]}"));
    CHECK_EQ_STR(run("SELECT count(value) FROM cpu WHERE host =~ /^b/ OR region = 'eu'", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"count\"],\"values\":[[0,5]]}"));
    /* a regex matching "" also takes series without the tag (mem has no region) */
    CHECK_EQ_STR(run("SHOW MEASUREMENTS WHERE region =~ /^$/", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[\"mem\"]]}]}"));
    CHECK_EQ_STR(run("SHOW TAG VALUES FROM cpu WITH KEY = region WHERE host =~ /b|c/ OR host = 'nope'", ""),
                 R("{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"key\",\"value\"],\"values\":[[\"region\",\"us\"]]}]}"));
    CHECK_EQ_STR(run("SELECT value FROM cpu WHERE host = 'nope' OR host =~ /^q/", "s"), R("{\"statement_id\":0}"));
}

TEST(transformations_with_other_columns)
{
    const char *w = " FROM cpu WHERE time >= 1700000000s AND time <= 1700000020s GROUP BY time(10s)";
    char q[512];
    /* means 5.5, 11, 3 */
    snprintf(q, sizeof q, "SELECT mean(value), derivative(mean(value)) AS d%s", w);
    CHECK_EQ_STR(run(q, "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"mean\",\"d\"],\"values\":[[1700000000,5.5,null],[1700000010,11,5.5],[1700000020,3,-8]]}"));
    /* max 10, 20, 3 */
    snprintf(q, sizeof q, "SELECT difference(max(value)), cumulative_sum(max(value))%s", w);
    CHECK_EQ_STR(run(q, "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"difference\",\"cumulative_sum\"],\"values\":[[1700000000,null,10],[1700000010,10,30],[1700000020,-17,33]]}"));
    /* moving_average reads n - 1 windows before the range: the first row is full */
    CHECK_EQ_STR(run("SELECT moving_average(mean(value), 2) FROM cpu WHERE time >= 1700000010s AND time <= 1700000020s GROUP BY time(10s)", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"moving_average\"],\"values\":[[1700000010,8.25],[1700000020,7]]}"));
    CHECK_EQ_STR(run("SELECT max(value), moving_average(mean(value), 2) FROM cpu WHERE time >= 1700000010s AND time <= 1700000020s GROUP BY time(10s)", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"max\",\"moving_average\"],\"values\":[[1700000010,20,8.25],[1700000020,3,7]]}"));
    CHECK_EQ_STR(run("SELECT mean(value), derivative(value) FROM cpu", "s"),
                 R("{\"statement_id\":0,\"error\":\"derivative() over raw values must be the only column of the SELECT\"}"));
}

TEST(odd_queries_fail_cleanly)
{
    /* each answers 200 (maybe with a statement error) or 400, never crashes
     * (this file runs under ASan+UBSan in make asan) */
    static const char *qs[] = {
        "SELECT mean(value) FROM cpu WHERE time >= -9223372036854775806 GROUP BY time(1ns)",
        "SELECT mean(value) FROM cpu WHERE time <= 9223372036854775806 AND time >= 0 GROUP BY time(1d) tz('Europe/Berlin')",
        "SELECT count(value) FROM cpu WHERE time >= 0 AND time < 1000000000000000000 GROUP BY time(3650d) tz('UTC')",
        "SELECT moving_average(value, 99999999999) FROM cpu",
        "SELECT moving_average(mean(value), 1000000) FROM cpu WHERE time >= 1700000000s GROUP BY time(1ns)",
        "SELECT top(value, 9223372036854775807) FROM cpu",
        "SELECT sample(value, 9223372036854775807) FROM cpu",
        "SELECT percentile(value, 1e308), percentile(value, -5) FROM cpu",
        "SELECT integral(value, 1ns) FROM cpu GROUP BY time(1s) fill(linear)",
        "SELECT elapsed(value, 1ns) FROM cpu",
        "SELECT mean(*) FROM (SELECT * FROM cpu) GROUP BY *",
        "SELECT * FROM (SELECT * FROM (SELECT * FROM mem))",
        "SELECT top(v, host, 1) FROM (SELECT value AS v FROM cpu)",
        "SELECT value FROM cpu WHERE value / 0 > 1 OR n % 0 = 0",
        "SELECT value FROM cpu WHERE s =~ /(a+)+$/ AND value > 'x'",
        "SELECT value FROM cpu WHERE \"on\" = 1 AND host = true",
        "SELECT max(value) FROM cpu GROUP BY /re(/",
        "SELECT value FROM cpu tz('../../etc/passwd')",
        "SELECT log(max(value), 0), pow(min(value), 1e308), asin(mean(value)) FROM cpu",
        "SELECT count(distinct(s)), mode(s), distinct(s) FROM mem",
        "SELECT distinct(s) FROM mem GROUP BY time(1h)",
        "SELECT derivative(mean(value), 1ns), difference(count(value)) FROM cpu WHERE time > 0 GROUP BY time(1000d)",
        "SELECT v FROM m WHERE $a = $b",
        "SHOW TAG VALUES WITH KEY =~ /./ WHERE host =~ /^$/ OR host = '' LIMIT 1 OFFSET 99",
        "SHOW MEASUREMENTS WHERE value > 1 LIMIT 0",
        "SHOW SERIES WHERE \"on\" = true; SHOW FIELD KEYS OFFSET 5",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        const char *out = run(qs[i], "ms");
        CHECK(g_status == 200 || g_status == 400);
        CHECK(strncmp(out, "{\"results\":[", 12) == 0 || strncmp(out, "{\"error\":", 9) == 0);
        if (g_status != 200 && g_status != 400) printf("  query %zu: %d %s\n", i, g_status, out);
    }
}

TEST(selector_with_fields_and_tags)
{
    /* last point overall: a@+20 (3, n=30); max: b@+10 (20, no n) */
    CHECK_EQ_STR(run("SELECT last(value), host, n, region FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"last\",\"host\",\"n\",\"region\"],\"values\":[[1700000020,3,\"a\",30,\"eu\"]]}"));
    CHECK_EQ_STR(run("SELECT max(value), host AS h, n FROM cpu", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"max\",\"h\",\"n\"],\"values\":[[1700000010,20,\"b\",null]]}"));
    /* per window: the window's time, the selected point's tag */
    CHECK_EQ_STR(run("SELECT min(value), host FROM cpu WHERE time >= 1700000000s AND time <= 1700000010s GROUP BY time(10s)", "s"),
                 S1("{\"name\":\"cpu\",\"columns\":[\"time\",\"min\",\"host\"],\"values\":[[1700000000,1,\"a\"],[1700000010,2,\"a\"]]}"));
    CHECK_EQ_STR(run("SELECT mean(value), host FROM cpu", "s"),
                 R("{\"statement_id\":0,\"error\":\"mixing aggregate and non-aggregate queries is not supported\"}"));
    CHECK_EQ_STR(run("SELECT first(value), last(value), host FROM cpu", "s"),
                 R("{\"statement_id\":0,\"error\":\"mixing aggregate and non-aggregate queries is not supported\"}"));
}

/* ---- groups on several threads (exec.c) ----
 * Database "many": measurement "gm", 20 hosts (h00..h19, region r0/r1),
 * v float, n int, s string every 10 s from T for 60 s; host hK skips the
 * point at T+10K%60 s (so windows have gaps for fill). A lender hands each
 * offer to a new thread (at once, or 20 ms late so the query's thread has
 * taken every chunk first), or runs it inline before returning. */

enum { LEND_NONE, LEND_THREAD, LEND_LATE, LEND_INLINE };
static int g_lend;
static atomic_int g_offers;
static pthread_t g_threads[64];
static int g_nthreads;

typedef struct lent { void (*fn)(void *); void *arg; int late; } lent;

static void *lent_main(void *p)
{
    lent l = *(lent *)p;
    free(p);
    if (l.late) usleep(20000);
    l.fn(l.arg);
    return NULL;
}

static int lend(void *offer_arg, void (*fn)(void *), void *arg)
{
    (void)offer_arg;
    atomic_fetch_add(&g_offers, 1);
    if (g_lend == LEND_INLINE) { fn(arg); return 1; }
    lent *l = malloc(sizeof *l);
    if (!l || g_nthreads == 64) { free(l); return 0; }
    *l = (lent){ fn, arg, g_lend == LEND_LATE };
    if (pthread_create(&g_threads[g_nthreads], NULL, lent_main, l) != 0) { free(l); return 0; }
    g_nthreads++;
    return 1;
}

/* The body of q on db "many" with the lender of mode; the lent threads are
 * joined before it returns. */
static char *run_lent(const char *q, const char *epoch, int mode, uint64_t max_points, int chunked)
{
    qry_request r;
    qry_request_init(&r);
    r.q = st_slice_cstr(q);
    r.db = st_slice_cstr("many");
    r.now_ns = (T0 + 3600) * SEC;
    if (*epoch) qry_epoch_parse(st_slice_cstr(epoch), &r.epoch);
    r.max_points = max_points;
    r.chunked = chunked;
    g_lend = mode;
    if (mode != LEND_NONE) { r.offer = lend; r.offer_arg = NULL; }
    st_buf out;
    st_buf_init(&out);
    int status = 0;
    qry_execute(g_s, &r, &out, &status);
    for (int i = 0; i < g_nthreads; i++) pthread_join(g_threads[i], NULL);
    g_nthreads = 0;
    char *body = strdup(out.ptr ? out.ptr : "");
    st_buf_fini(&out);
    return body;
}

TEST(groups_on_several_threads)
{
    uint64_t db;
    CHECK_EQ_INT(stor_db_create(g_s, st_slice_cstr("many"), &db), 0);
    stor_batch *b;
    CHECK_EQ_INT(stor_batch_create(g_s, db, &b), 0);
    for (int h = 0; h < 20; h++) {
        char host[8], region[8];
        snprintf(host, sizeof host, "h%02d", h);
        snprintf(region, sizeof region, "r%d", h % 2);
        for (int t = 0; t < 60; t += 10) {
            if (t == (10 * h) % 60) continue;
            stor_field_in f[3] = { ff("v", h * 1.5 + t / 7.0), fi("n", h * 100 + t),
                                   { st_slice_cstr("s"), { .type = ST_TYPE_STRING, .v.s = st_slice_cstr(host) } } };
            CHECK_EQ_INT(add(b, "gm", host, region, t, f, 3), 0);
            if (h < 9) CHECK_EQ_INT(add(b, "gn", host, region, t, f, 1), 0);
        }
    }
    CHECK_EQ_INT(stor_write_wait(b), 0);
    static const char *qs[] = {
        "SELECT mean(v), max(v) FROM gm WHERE time >= 1700000000s AND time < 1700000060s GROUP BY time(20s), host",
        "SELECT mean(v) FROM gm WHERE time >= 1700000000s AND time < 1700000060s GROUP BY time(10s), host fill(previous)",
        "SELECT mean(v) FROM gm WHERE time >= 1700000000s AND time < 1700000060s GROUP BY time(10s), host fill(linear)",
        "SELECT count(v) FROM gm WHERE time >= 1700000000s AND time < 1700000060s GROUP BY time(10s), host fill(none)",
        "SELECT sum(n) FROM gm WHERE time >= 1700000000s AND time < 1700000060s GROUP BY time(10s), host fill(-1)",
        "SELECT min(v), spread(n) FROM gm WHERE time >= 1700000000s AND time < 1700000060s GROUP BY time(10s), host "
        "ORDER BY time DESC LIMIT 2 OFFSET 1",
        "SELECT count(s), first(s), last(s) FROM gm GROUP BY *",
        "SELECT last(v) FROM gm GROUP BY host",
        "SELECT max(v) FROM gm GROUP BY region, host",
        "SELECT derivative(mean(v), 10s) FROM gm WHERE time >= 1700000000s AND time < 1700000060s GROUP BY time(10s), host",
        "SELECT mean(v) * 2 + max(n) AS x FROM gm WHERE time >= 1700000000s AND time < 1700000060s GROUP BY time(30s), host",
        "SELECT mean(v) FROM gm WHERE time >= 1700000000s AND time < 1700007200s GROUP BY time(1h), host tz('Europe/Berlin')",
        "SELECT max(v) FROM gn, gm GROUP BY host; SELECT count(v) FROM gm GROUP BY host",
        "SELECT max(v) FROM gm WHERE host =~ /h0[2-9]/ GROUP BY host",
    };
    static const char *epochs[] = { "", "ms" };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        for (size_t e = 0; e < 2; e++) {
            char *want = run_lent(qs[i], epochs[e], LEND_NONE, 0, (int)i % 2);
            CHECK(strstr(want, "\"series\"") != NULL);
            CHECK(strstr(want, "error") == NULL);
            for (int mode = LEND_THREAD; mode <= LEND_INLINE; mode++) {
                atomic_store(&g_offers, 0);
                char *got = run_lent(qs[i], epochs[e], mode, 0, (int)i % 2);
                CHECK_EQ_STR(got, want);
                CHECK(atomic_load(&g_offers) > 0); /* the groups were lent out */
                if (strcmp(got, want) != 0) printf("  query %zu epoch '%s' lend %d\n", i, epochs[e], mode);
                free(got);
            }
            free(want);
        }
    }
    /* fewer than 8 groups, SLIMIT or raw rows: run on the query's thread */
    static const char *seq[] = {
        "SELECT max(v) FROM gm GROUP BY region",
        "SELECT max(v) FROM gm GROUP BY host SLIMIT 3 SOFFSET 2",
        "SELECT v FROM gm GROUP BY host",
    };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        char *want = run_lent(seq[i], "ms", LEND_NONE, 0, 0);
        atomic_store(&g_offers, 0);
        char *got = run_lent(seq[i], "ms", LEND_THREAD, 0, 0);
        CHECK_EQ_STR(got, want);
        CHECK_EQ_INT(atomic_load(&g_offers), 0);
        free(got);
        free(want);
    }
    /* the point budget counts every thread's points; an error drops the series */
    for (int mode = LEND_NONE; mode <= LEND_INLINE; mode++) {
        char *got = run_lent("SELECT mean(v) FROM gm WHERE time >= 1700000000s AND time < 1700000060s GROUP BY time(10s), host",
                             "ms", mode, 40, 0);
        CHECK(strstr(got, "\"error\":\"max-select-point limit exceeded: (") != NULL);
        CHECK(strstr(got, "\"series\"") == NULL);
        free(got);
    }
}

/* String escaping as Go's encoding/json: every byte it rewrites, and the
 * bytes next to them (0xE2 starts U+2028/U+2029 but also the euro sign). */
TEST(json_strings)
{
    static const struct { const char *in; size_t n; const char *out; } cases[] = {
        { "plain host_0", 12, "\"plain host_0\"" },
        { "", 0, "\"\"" },
        { "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
        { "\n\r\t", 3, "\"\\n\\r\\t\"" },
        { "\x01x\x1f", 3, "\"\\u0001x\\u001f\"" },
        { "<a>&", 4, "\"\\u003ca\\u003e\\u0026\"" },
        { "l\xe2\x80\xa8s\xe2\x80\xa9p", 9, "\"l\\u2028s\\u2029p\"" },
        { "\xe2\x82\xac \xc3\xa9 \x7f", 8, "\"\xe2\x82\xac \xc3\xa9 \x7f\"" },
        { "x\xe2\x80", 3, "\"x\xe2\x80\"" },
        { "nul\0in", 6, "\"nul\\u0000in\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_buf b;
        st_buf_init(&b);
        CHECK(qry_json_str(&b, cases[i].in, cases[i].n) == 0);
        CHECK_EQ_STR(b.ptr, cases[i].out);
        st_buf_fini(&b);
    }
}

int main(void)
{
    if (setup() != 0) {
        printf("FAIL setup\n");
        return 1;
    }
    RUN(show_meta);
    RUN(errors);
    RUN(select_raw);
    RUN(select_aggregates);
    RUN(select_group_by_time);
    RUN(transformations);
    RUN(csv_and_ddl);
    RUN(pretty_and_chunked);
    RUN(budget);
    RUN(error_after_a_series);
    RUN(field_conditions);
    RUN(time_zones);
    RUN(wildcard_functions_and_math);
    RUN(multi_row_functions);
    RUN(raw_transformations);
    RUN(bound_parameters);
    RUN(subqueries);
    RUN(raw_expressions);
    RUN(series_from_postings);
    RUN(transformations_with_other_columns);
    RUN(odd_queries_fail_cleanly);
    RUN(selector_with_fields_and_tags);
    RUN(groups_on_several_threads);
    RUN(json_strings);
    st_buf_fini(&g_out);
    teardown();
    return unit_done();
}
