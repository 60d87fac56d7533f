#!/usr/bin/env python3
"""/query under concurrency and on raw connections, against the real
stratad: the query pool (jobs embedded in the requests, a semaphore), the
worker answering its own socket (http_direct_*: whole, partial and failed
sends), the loop posts (eventfd) and connections that keep reading while a
request is in handling (server/http.c invariant 4).

Data: measurement m, hosts h0..h3, one point every second for N seconds
from T0, v = host * 100000 + second (so every answer is computed here)."""
import json
import os
import signal
import socket
import threading
import time

from harness import Server, check, eq, run_tests

T0 = 1700000000  # s
N = 600
HOSTS = 4
NS = 1000000000
BIG = 200000


def load(s):
    lines = ["m,host=h%d v=%d %d" % (h, h * 100000 + i, (T0 + i) * NS) for i in range(N) for h in range(HOSTS)]
    st, body, _ = s.write("\n".join(lines))
    eq(st, 204, body)


def q_host(h, lo, hi):
    """Raw points of one host in [T0+lo, T0+hi) s, and the values expected."""
    q = "SELECT v FROM m WHERE host='h%d' AND time >= %d AND time < %d" % (h, (T0 + lo) * NS, (T0 + hi) * NS)
    return q, [[(T0 + i) * NS, h * 100000 + i] for i in range(lo, hi)]


def query_path(q, db="db", epoch="ns"):
    import urllib.parse
    return "/query?" + urllib.parse.urlencode({"db": db, "q": q, "epoch": epoch})


def read_response(f):
    """One HTTP/1.1 response from a file object: (status, headers, body)."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split(b" ")[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        k, _, v = h.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    body = f.read(n) if n else b""
    return status, headers, body


def values_of(body):
    js = json.loads(body)
    series = js["results"][0].get("series") or []
    return series[0]["values"] if series else []


def test_concurrent_queries_and_writes():
    s = Server("--query-threads", "3")
    load(s)
    errors = []
    stop = threading.Event()

    def reader(k):
        c = s.conn()
        try:
            for j in range(40):
                h = (k + j) % HOSTS
                lo = (k * 37 + j * 11) % (N - 100)
                q, want = q_host(h, lo, lo + 60 + j % 40)
                st, body, _ = s.request("GET", query_path(q), conn=c)
                if st != 200 or values_of(body) != want:
                    errors.append("reader %d query %d: %s %s" % (k, j, st, body[:200]))
                    return
        finally:
            c.close()

    def writer(k):
        c = s.conn()
        i = 0
        try:
            while not stop.is_set() and i < 200:
                st, body, _ = s.write("w,src=%d v=%d %d" % (k, i, (T0 + i) * NS), conn=c)
                if st != 204:
                    errors.append("writer %d: %s %s" % (k, st, body[:200]))
                    return
                i += 1
        finally:
            c.close()

    readers = [threading.Thread(target=reader, args=(k,)) for k in range(6)]
    writers = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in readers + writers:
        t.start()
    for t in readers:
        t.join(120)
    stop.set()
    for t in writers:
        t.join(120)
    eq(errors, [], "every concurrent answer correct")
    for k in range(2):
        got = s.values("SELECT count(v) FROM w WHERE src='%d'" % k)
        check(got and got[0][1] > 0, "writer %d's points are readable: %r" % (k, got))


def test_pipelined_queries_in_order():
    s = Server()
    load(s)
    reqs, wants = [], []
    for j in range(12):
        q, want = q_host(j % HOSTS, j * 20, j * 20 + 5 + j)
        reqs.append(b"GET " + query_path(q).encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        wants.append(want)
    reqs.insert(5, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    wants.insert(5, None)
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sock.sendall(b"".join(reqs))
    f = sock.makefile("rb")
    for j, want in enumerate(wants):
        r = read_response(f)
        check(r is not None, "response %d missing" % j)
        if want is None:
            eq(r[0], 204, "the ping between the queries")
        else:
            eq(r[0], 200, "query %d" % j)
            eq(values_of(r[2]), want, "pipelined answer %d in order" % j)
    sock.close()


def test_half_close_after_pipelined_queries():
    """The client sends its queries and shuts its side: every answer still
    comes, then the server closes (the end is kept until the answers)."""
    s = Server()
    load(s)
    wants = []
    data = b""
    for j in range(4):
        q, want = q_host(j, 0, 50 + j)
        data += b"GET " + query_path(q).encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        wants.append(want)
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    f = sock.makefile("rb")
    for j, want in enumerate(wants):
        r = read_response(f)
        check(r is not None, "answer %d before the close" % j)
        eq(values_of(r[2]), want, "answer %d" % j)
    eq(f.read(), b"", "then the server closes")
    sock.close()


def test_big_answer_to_a_slow_reader():
    """An answer larger than the socket takes at once (~6 MB against a send
    buffer of at most tcp_wmem's 4 MiB and a small receive window): the
    worker sends what fits, the loop the rest; the client reads it whole
    and in order, then the next pipelined answer."""
    s = Server()
    lines = ["big v=%d.25 %d" % (i, (T0 + i) * NS) for i in range(BIG)]
    for k in range(0, len(lines), 50000):
        eq(s.write("\n".join(lines[k:k + 50000]))[0], 204, "load big")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", s.port))
    req = b"GET " + query_path("SELECT v FROM big").encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    sock.sendall(req + b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)  # the answer piles up against a full receive buffer
    f = sock.makefile("rb")
    r = read_response(f)
    eq(r[0], 200, "big answer")
    got = values_of(r[2])
    eq(len(got), BIG, "points")
    check(got[0] == [T0 * NS, 0.25] and got[-1] == [(T0 + BIG - 1) * NS, BIG - 0.75], "first and last point")
    check(all(p[1] == i + 0.25 for i, p in enumerate(got)), "every point in order")
    eq(read_response(f)[0], 204, "the pipelined ping after it")
    sock.close()


def test_client_gone_during_queries():
    s = Server()
    load(s)
    q, _ = q_host(0, 0, N)
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", s.port))
        sock.sendall(b"GET " + query_path(q).encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # reset, maybe before, during or after the worker's send
    time.sleep(0.3)
    eq(s.request("GET", "/ping")[0], 204, "serving after dropped clients")
    q, want = q_host(1, 10, 20)
    eq(s.values(q), want, "and answering")


def test_head_errors_and_connection_close():
    s = Server()
    load(s)
    q, want = q_host(2, 0, 10)
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    path = query_path(q).encode()
    sock.sendall(b"HEAD " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n" +
                 b"GET " + query_path("SELECT nope(v) FROM m").encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n" +
                 b"GET " + query_path("SELEKT").encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n" +
                 b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    f = sock.makefile("rb")
    line = f.readline()
    check(line.startswith(b"HTTP/1.1 200"), line)
    head = {}
    while True:
        h = f.readline()
        if h == b"\r\n":
            break
        k, _, v = h.decode().partition(":")
        head[k.strip().lower()] = v.strip()
    get_len = len(json.dumps({"results": [{"statement_id": 0, "series": [
        {"name": "m", "columns": ["time", "v"], "values": want}]}]}, separators=(",", ":"))) + 1
    eq(int(head["content-length"]), get_len, "HEAD: the GET's length, no body")
    r = read_response(f)
    eq(r[0], 200, "statement error status")
    check("error" in json.loads(r[2])["results"][0], r[2])
    r = read_response(f)
    eq(r[0], 400, "parse error")
    check(r[1].get("x-influxdb-error", "").startswith("error parsing query"), r[1])
    r = read_response(f)
    eq(r[0], 200, "last query")
    eq(r[1].get("connection"), "close", "Connection: close answered")
    eq(values_of(r[2]), want, "last answer")
    eq(f.read(), b"", "closed after it")
    sock.close()


def test_stop_finishes_queries_in_flight():
    """SIGTERM while queries run or wait in the pool: each is answered (the
    pool drains), then stratad exits 0."""
    s = Server("--query-threads", "2")
    lines = ["slow,k=%d v=%d %d" % (i % 50, i, (T0 + i) * NS) for i in range(100000)]
    for k in range(0, len(lines), 25000):
        eq(s.write("\n".join(lines[k:k + 25000]))[0], 204, "load")
    # ~25 x 8 ms of work with a small answer: running or queued at the signal
    q = "; ".join(["SELECT percentile(v, 50) FROM slow GROUP BY k"] * 25)
    socks = []
    for _ in range(4):
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=60)
        sock.sendall(b"GET " + query_path(q).encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(sock)
    time.sleep(0.05)
    s.proc.send_signal(signal.SIGTERM)
    for sock in socks:
        r = read_response(sock.makefile("rb"))
        check(r is not None and r[0] == 200, "a query in flight is answered during the stop: %r" % (r,))
        res = json.loads(r[2])["results"]
        eq([len(x["series"]) for x in res], [50] * 25, "whole answer")
        sock.close()
    eq(s.proc.wait(30), 0, "clean exit")


def test_groups_on_lent_workers():
    """GROUP BY host over 40 hosts runs its groups on idle query workers
    too (exec.c, "groups on several threads"); the answer is computed here,
    and equals the one-thread answer (SLIMIT keeps a query on its thread),
    also while other clients query at the same time."""
    s = Server("--query-threads", "4")
    tb = T0 + 40  # a whole minute
    hosts = 40
    lines = ["g,host=x%02d v=%d %d" % (h, h * 1000 + i, (tb + i) * NS) for i in range(120) for h in range(hosts)]
    st, body, _ = s.write("\n".join(lines))
    eq(st, 204, body)
    q = "SELECT max(v), count(v) FROM g WHERE time >= %ds AND time < %ds GROUP BY time(1m), host" % (tb, tb + 120)
    want = [{"name": "g", "tags": {"host": "x%02d" % h}, "columns": ["time", "max", "count"],
             "values": [[tb * 1000, h * 1000 + 59, 60], [(tb + 60) * 1000, h * 1000 + 119, 60]]} for h in range(hosts)]
    st, js = s.query(q, epoch="ms")
    eq(st, 200)
    eq(js["results"][0]["series"], want)
    _, one = s.query(q + " SLIMIT 1000", epoch="ms")
    eq(one["results"][0]["series"], want)
    errors = []

    def client(k):
        for _ in range(15):
            st2, js2 = s.query(q, epoch="ms")
            if st2 != 200 or js2["results"][0].get("series") != want:
                errors.append((k, st2))
    ts = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    eq(errors, [])
    # A lent worker is kept off the query thread's CPU only for its
    # wake-up (srv.c): once idle again, every thread may run anywhere.
    time.sleep(0.3)
    allowed = {}
    for tid in os.listdir("/proc/%d/task" % s.proc.pid):
        with open("/proc/%d/task/%s/status" % (s.proc.pid, tid)) as f:
            allowed[tid] = [l.split(":", 1)[1].strip() for l in f if l.startswith("Cpus_allowed_list")][0]
    eq(sorted(set(allowed.values())), [allowed[str(s.proc.pid)]], "threads' CPU sets")


def test_idle_workers_look_before_sleeping():
    """A query worker that goes idle looks for its next query for
    --query-spin before it sleeps (srv.c, query pool): a query sent 20 ms
    after the last is handed over without waking it. With --query-spin 0
    every handoff wakes a sleeping worker. (A query that comes while the
    worker still finishes the last one is queued, not handed over: the
    counts are compared with the handoffs made.)"""
    for spin in ("100ms", "0"):
        s = Server("--query-threads", "1", "--query-spin", spin)
        load(s)
        q, want = q_host(1, 10, 20)
        h0, w0 = s.metric("strata_query_handoffs_total"), s.metric("strata_query_wakeups_total")
        c = s.conn()
        for _ in range(20):
            time.sleep(0.02)
            eq(values_of(s.request("GET", query_path(q), conn=c)[1]), want)
        c.close()
        h, w = s.metric("strata_query_handoffs_total") - h0, s.metric("strata_query_wakeups_total") - w0
        check(10 <= h <= 20, "%d handoffs for 20 queries" % h)
        if spin == "0":
            eq(w, h, "every handoff woke the worker")
        else:
            check(w <= h // 2, "%d of %d handoffs woke a worker that should have been looking" % (w, h))
        eq(s.stop(), 0)


run_tests(globals())
