#!/usr/bin/env python3
"""The write path over HTTP: status codes, error texts, encodings, limits,
connection handling — against the real stratad."""
import gzip
import os
import socket
import subprocess
import time

from harness import Server, check, eq, run_tests


def test_ping_health_headers():
    s = Server()
    st, body, h = s.request("GET", "/ping")
    eq(st, 204, "ping")
    check("X-Influxdb-Version" in h and h["X-Influxdb-Build"] == "OSS", "influx headers: %r" % h)
    st, body, h = s.request("HEAD", "/ping")
    eq(st, 204, "HEAD ping")
    st, body, _ = s.request("GET", "/ping", params={"verbose": "true"})
    eq(st, 200, "verbose ping")
    check('"version"' in body, body)
    st, body, _ = s.request("GET", "/health")
    eq(st, 200, "health")
    check('"status":"pass"' in body, body)


def test_write_ok_and_partial_v1():
    s = Server()
    eq(s.write("cpu,host=a v=1 1\ncpu,host=b v=2 2\n")[0], 204)
    st, body, h = s.write("cpu v=1 1\nbad line\ncpu v=2 2\n")
    eq(st, 400, "partial write status")
    check("partial write: unable to parse 'bad line': invalid field format dropped=0 for database: db" in body, body)
    check("X-Influxdb-Error" in h, "X-Influxdb-Error header")
    st, body, _ = s.write("only bad\n")
    eq(st, 400)
    check("unable to parse 'only bad'" in body and "partial write" not in body, body)
    st, body, _ = s.write("cpu v=1 1\ncpu v=2i 2\n")
    eq(st, 400, "type conflict status")
    check('partial write: field type conflict: input field \\"v\\" on measurement \\"cpu\\" is type integer, already exists as type float dropped=1' in body, body)


def test_write_v2():
    s = Server()
    eq(s.write("m v=1 1", db="plant", v2=True, precision="us")[0], 204)
    eq(s.write("m v=1 1", db="plant/autogen", v2=True)[0], 204)
    st, body, _ = s.write("m v=1 1\nm v=\n", db="plant", v2=True)
    eq(st, 422, "v2 partial write")
    check('"code":"unprocessable entity"' in body and '"message":"partial write' in body, body)
    st, body, _ = s.write("m v=1 1", db="plant/nope", v2=True)
    check(st == 404 and "retention policy not found: nope" in body, body)
    st, body, _ = s.write("m v=1", db="plant", v2=True, precision="h")
    check(st == 400 and "valid precision units are ns, us, ms, and s" in body, body)
    st, body, _ = s.request("POST", "/api/v2/write", body=b"m v=1")
    check(st == 400 and "bucket" in body, body)


def test_write_params_errors():
    s = Server()
    st, body, _ = s.request("POST", "/write", body=b"m v=1")
    check(st == 400 and "database is required" in body, body)
    st, body, _ = s.write("m v=1", precision="us")
    check(st == 400 and 'invalid precision \\"us\\" (use n, u, ms, s, m or h)' in body, body)
    for p in ("n", "ns", "u", "ms", "s", "m", "h"):
        eq(s.write("m v=1 1", precision=p)[0], 204, "precision " + p)
    st, body, _ = s.write("m v=1", extra={"rp": "weekly"})
    check(st == 500 and "retention policy not found: weekly" in body, body)
    eq(s.write("m v=1", extra={"rp": "autogen"})[0], 204)
    st, body, _ = s.request("GET", "/write", params={"db": "db"})
    eq(st, 405, "GET /write")
    st, body, _ = s.request("GET", "/nope")
    check(st == 404 and '"error"' in body, body)


def test_non_utf8_names():
    s = Server()
    st, body, _ = s.write(b"m\xff v=1 1\nok,t=\xc3\xa9t\xc3\xa9 v=2 2\nm,t=\xc3\x28 v=3 3\nm f\xfe=1 4\n")
    eq(st, 400, "non-UTF-8 names")
    check("invalid UTF-8 in measurement" in body and "invalid UTF-8 in tag value" in body
          and "invalid UTF-8 in field key" in body and "partial write" in body, body)
    st, js = s.query("SELECT v FROM ok", epoch="ns")
    eq(js["results"][0]["series"][0]["values"], [[2, 2.0]], "the UTF-8 line is stored")


def test_no_auto_create():
    s = Server("--no-auto-create")
    st, body, _ = s.write("m v=1", db="missing")
    check(st == 404 and 'database not found: \\"missing\\"' in body, body)


def test_gzip_bodies():
    s = Server("--max-body-bytes", "100000", "--max-line-bytes", "50000")
    eq(s.write("m v=1 1\nm v=2 2\n", gz=True)[0], 204, "gzip body")
    # concatenated gzip members
    body = gzip.compress(b"m v=3 3\n") + gzip.compress(b"m v=4 4\n")
    eq(s.write(body, headers={"Content-Encoding": "gzip"})[0], 204, "two gzip members")
    st, text, _ = s.write(b"\x1f\x8b\x08\x00garbage-not-gzip", headers={"Content-Encoding": "gzip"})
    check(st == 400 and "gzip" in text, "broken gzip: %s %s" % (st, text))
    st, text, _ = s.write(gzip.compress(b"m v=1 1\n")[:-12], headers={"Content-Encoding": "gzip"})
    check(st == 400 and "gzip" in text, "truncated gzip: %s %s" % (st, text))
    # A gzip bomb: 10 MB of zeros compresses to ~10 KB; decompressed it passes the limit.
    bomb = gzip.compress(b"m v=1 1\n" + b"#" * 10_000_000)
    check(len(bomb) < 100000, "bomb is small")
    st, text, _ = s.write(bomb, headers={"Content-Encoding": "gzip"})
    eq(st, 413, "gzip bomb")
    st, text, _ = s.write("m v=1", headers={"Content-Encoding": "br"})
    eq(st, 415, "unknown encoding")
    eq(s.request("GET", "/ping")[0], 204, "still serving")


def test_body_limit():
    s = Server("--max-body-bytes", "2000", "--max-line-bytes", "1024")
    st, text, _ = s.write("m v=1 1\n" * 400)
    check(st == 413 and "Request Entity Too Large" in text, "413: %s %s" % (st, text))
    eq(s.write("m v=1 1\n")[0], 204, "small write after 413")


def raw_exchange(port, data, nresp, timeout=10):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(data)
    buf = b""
    deadline = time.time() + timeout
    while buf.count(b"HTTP/1.1 ") < nresp and time.time() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    time.sleep(0.05)
    sock.close()
    return buf


def test_chunked_and_pipelined():
    s = Server()
    body = b"m v=1 1\nm v=2 2\n"
    chunked = (b"POST /write?db=db HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
               b"5\r\nm v=1\r\n" + b"%x\r\n" % (len(body) - 5) + body[5:] + b"\r\n0\r\n\r\n")
    out = raw_exchange(s.port, chunked, 1)
    check(out.startswith(b"HTTP/1.1 204"), out[:200])
    req = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    w = b"POST /write?db=db HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    out = raw_exchange(s.port, req + w + req + w + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 5)
    codes = [line.split(b" ")[1] for line in out.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    eq(codes, [b"204", b"204", b"204", b"204", b"404"], "pipelined responses in order")


def test_expect_continue_with_curl():
    s = Server()
    body = "\n".join("m,host=h%d v=%d %d" % (i % 7, i, i) for i in range(5000))
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-XPOST",
                        "http://127.0.0.1:%d/write?db=db" % s.port, "--data-binary", body],
                       capture_output=True, text=True, timeout=30)
    eq(p.stdout, "204", "curl large body (Expect: 100-continue)")


def test_bad_http_and_disconnects():
    s = Server()
    out = raw_exchange(s.port, b"GARBAGE\r\n\r\n", 1)
    check(out.startswith(b"HTTP/1.1 400"), out[:100])
    # A client that disconnects mid-body: nothing of it is written.
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(b"POST /write?db=gone HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nm v=1 1\n")
    time.sleep(0.1)
    sock.close()
    time.sleep(0.1)
    eq(s.request("GET", "/ping")[0], 204, "serving after a dropped client")
    st, js = s.query("SHOW DATABASES", db=None)
    names = [v[0] for v in js["results"][0].get("series", [{}])[0].get("values", [])] if st == 200 else []
    check("gone" not in names or not s.values("SELECT * FROM m", db="gone"), "dropped client wrote nothing")


def test_many_idle_connections():
    s = Server("--max-connections", "3000")
    socks = []
    for _ in range(1500):
        socks.append(socket.create_connection(("127.0.0.1", s.port)))
    eq(s.request("GET", "/ping")[0], 204, "ping with 1500 idle connections")
    for x in socks:
        x.close()
    s2 = Server("--max-connections", "5")
    held = [socket.create_connection(("127.0.0.1", s2.port)) for _ in range(5)]
    time.sleep(0.2)
    out = raw_exchange(s2.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", 1)
    check(out.startswith(b"HTTP/1.1 503") and b"max-connections" in out, out[:200])
    for x in held:
        x.close()
    time.sleep(0.2)
    eq(s2.request("GET", "/ping")[0], 204, "serving again after connections closed")


def test_second_server_refused_and_clean_stop():
    s = Server()
    t = Server(data=s.data, start=False)
    t.start(expect_fail=True)
    rc = t.proc.wait(10)
    check(rc != 0, "second stratad on the same dir must fail")
    check("in use by another process" in t.read_log(), t.read_log())
    eq(s.stop(), 0, "SIGTERM exit code")


def test_metrics():
    s = Server()
    s.write("m v=1 1\nm v=2 2\nbad\n")
    st, body, h = s.request("GET", "/metrics")
    eq(st, 200)
    check("strata_points_written_total 2" in body, body)
    check("strata_lines_rejected_total 1" in body, body)
    check("strata_wal_fsyncs_total" in body and "strata_series 1" in body, body)


def test_cors():
    s = Server()
    st, body, h = s.request("OPTIONS", "/query", headers={"Origin": "http://grafana.local"})
    check(st in (200, 204), st)
    eq(h.get("Access-Control-Allow-Origin"), "http://grafana.local", "CORS origin")
    st, body, h = s.request("GET", "/ping", headers={"Origin": "http://x"})
    check("Access-Control-Allow-Methods" in h, h)


if __name__ == "__main__":
    run_tests(globals())
