#!/usr/bin/env python3
"""tests/integration/test_export.py — GET /api/strata/v1/export and
`strata export` against the real stratad.

Writes points of every type (extreme integers, unsigned max, shortest floats,
-0, strings with quotes, backslashes and a raw newline), tags and names that
need escaping, and qualities (two fields of one timestamp with different
qualities), then: the exact line protocol and CSV expected for some of them;
export -> import round trips into fresh databases (line protocol and Strata
CSV) that export the same points; filters (measurement, tag, time range);
gzip/zstd output; an unknown database; a large export read by a client that
stalls (back-pressure) and one that hangs up mid-stream.
"""
import gzip
import os
import shutil
import socket
import subprocess
import tempfile
import time

from harness import SANITIZER_MARKS, STRATA, Server, check, eq, run_tests

T0 = 1_700_000_000_000_000_000

LINES = [
    'm\\ 1,host=a\\ b,k=x\\=y\\,z,bs=a\\b f=0.1,i=-9223372036854775808i,u=18446744073709551615u,b=true,'
    's="q\\"uote\\\\ back\nnewline" %d' % T0,
    'm\\ 1,host=c f=1e-7,i=9223372036854775807i,u=0u,b=false,s="" %d' % (T0 + 1),
    'm\\ 1,host=c f=-0,quality=2147483648i %d' % (T0 + 2),
    'other,t=1 f=123456789012345680000,quality=1083179008i %d' % (T0 + 3),
    'other,t=1 i=5i,quality=192i %d' % (T0 + 3),
    'other,t=2 f=1.5 %d' % (T0 + 4),
]


def strata(*args, timeout=120):
    p = subprocess.run([STRATA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    err = p.stderr.decode("utf-8", "replace")
    if any(m in err for m in SANITIZER_MARKS):
        raise AssertionError("sanitizer report from strata %s:\n%s" % (" ".join(args), err[-4000:]))
    return p.returncode, p.stdout.decode("utf-8"), err


def url(s):
    return "http://127.0.0.1:%d" % s.port


def load(s, db="src"):
    st, body, _ = s.write("\n".join(LINES) + "\n", db=db)
    eq(st, 204, "write: " + body)


def records(text):
    """Line protocol records (a raw LF inside a string value continues the record), comments dropped."""
    out, cur, in_str, esc = [], [], False, False
    for ch in text:
        if ch == "\n" and not in_str:
            line = "".join(cur)
            cur = []
            if line and not line.startswith("#"):
                out.append(line)
            continue
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"' and cur and cur[-1] == "=":
            in_str = True
        cur.append(ch)
    return out


def export(s, db, *extra):
    rc, out, err = strata("export", "--url", url(s), "--db", db, *extra)
    eq(rc, 0, "export: " + err)
    return out, err


def test_exact_line_protocol_and_csv():
    s = Server()
    load(s)
    out, err = export(s, "src")
    recs = records(out)
    eq(len(recs), 6, "records: %r" % recs)
    check('other,t=1 f=123456789012345680000,quality=1083179008i %d' % (T0 + 3) in recs, "float + quality: %r" % recs)
    check('other,t=1 i=5i,quality=192i %d' % (T0 + 3) in recs, "other quality on its own line: %r" % recs)
    check('m\\ 1,host=c f=-0,quality=2147483648i %d' % (T0 + 2) in recs, "-0 and Bad: %r" % recs)
    check('m\\ 1,bs=a\\b,host=a\\ b,k=x\\=y\\,z b=true,f=0.1,i=-9223372036854775808i,s="q\\"uote\\\\ back\nnewline",'
          'u=18446744073709551615u %d' % T0 in recs, "escapes and types: %r" % recs)
    check("# strata-export: points=14 series=4 nonfinite_skipped=0" in out, "trailer: " + out[-200:])
    check("14 points of 4 series" in err and "0 NaN/Inf values skipped" in err, "summary: " + err)
    csv_out, _ = export(s, "src", "--format", "csv", "--measurement", "other")
    eq(csv_out, "time,measurement,tags,field,type,value,quality\n"
                "2023-11-14T22:13:20.000000003Z,other,t=1,f,float,123456789012345680000,1083179008\n"
                "2023-11-14T22:13:20.000000003Z,other,t=1,i,integer,5,192\n"
                "2023-11-14T22:13:20.000000004Z,other,t=2,f,float,1.5,0\n", "CSV")
    csv_m, _ = export(s, "src", "--format", "csv", "--tag", "host=a b")
    check('"bs=a\\\\b,host=a b,k=x\\=y\\,z"' in csv_m, "escaped tag set, quoted cell: " + csv_m)
    check('"q""uote\\ back\nnewline"' in csv_m, "string cell quoted: " + csv_m)


def test_round_trip_lp_and_csv():
    s = Server()
    load(s)
    d = tempfile.mkdtemp(prefix="strata-exp-")
    try:
        src_lp, _ = export(s, "src")
        want = sorted(records(src_lp))
        src_csv, _ = export(s, "src", "--format", "csv")
        for fmt in ("lp", "csv"):
            path = os.path.join(d, "out." + fmt)
            rc, _, err = strata("export", "--url", url(s), "--db", "src", "--format", fmt, "--output", path)
            eq(rc, 0, err)
            check(not os.path.exists(path + ".tmp"), "temporary file renamed")
            rc, _, err = strata("import", "--url", url(s), "--db", "dst_" + fmt, "--workers", "2", path)
            eq(rc, 0, "re-import %s: %s" % (fmt, err))
            got, _ = export(s, "dst_" + fmt)
            eq(sorted(records(got)), want, "round trip through " + fmt)
            got_csv, _ = export(s, "dst_" + fmt, "--format", "csv")
            eq(sorted(got_csv.splitlines()), sorted(src_csv.splitlines()), "CSV of the copy via " + fmt)
        # Strata CSV --offline: every row goes through the parser as text on the workers.
        data = os.path.join(d, "data")
        rc, _, err = strata("import", "--offline", data, "--db", "dst_off", "--workers", "2", "--batch-bytes", "64",
                            os.path.join(d, "out.csv"))
        eq(rc, 0, "offline re-import of the CSV: " + err)
        s2 = Server(data=data)
        got, _ = export(s2, "dst_off")
        eq(sorted(records(got)), want, "round trip through CSV --offline")
        s2.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_filters_compression_and_errors():
    s = Server()
    load(s)
    d = tempfile.mkdtemp(prefix="strata-exp-")
    try:
        out, _ = export(s, "src", "--measurement", "other")
        eq(len(records(out)), 3, "measurement filter")
        out, _ = export(s, "src", "--tag", "host=c")
        eq(len(records(out)), 2, "tag filter")
        out, _ = export(s, "src", "--start", str(T0 + 1), "--end", "2023-11-14T22:13:20.000000003Z")
        eq(len(records(out)), 4, "time range (inclusive): %r" % records(out))
        plain, _ = export(s, "src")
        gz = os.path.join(d, "x.lp.gz")
        rc, _, err = strata("export", "--url", url(s), "--db", "src", "--compress", "gzip", "--output", gz)
        eq(rc, 0, err)
        with gzip.open(gz, "rb") as f:
            eq(f.read().decode(), plain, "gzip output")
        if shutil.which("zstd"):
            zs = os.path.join(d, "x.lp.zst")
            rc, _, err = strata("export", "--url", url(s), "--db", "src", "--compress", "zstd", "--output", zs)
            eq(rc, 0, err)
            dec = subprocess.run(["zstd", "-dc", zs], stdout=subprocess.PIPE, check=True).stdout.decode()
            eq(dec, plain, "zstd output")
            rc, _, err = strata("import", "--url", url(s), "--db", "fromzst", zs)
            eq(rc, 0, err)
            got, _ = export(s, "fromzst")
            eq(sorted(records(got)), sorted(records(plain)), "zstd export re-imported")
        rc, _, err = strata("export", "--url", url(s), "--db", "nope")
        check(rc == 1 and "database not found" in err, "unknown db: %d %s" % (rc, err))
        st, body, _ = s.request("GET", "/api/strata/v1/export?db=src&start=yesterday")
        check(st == 400 and "bad start" in body, "bad start: %s %s" % (st, body))
        st, body, _ = s.request("POST", "/api/strata/v1/export?db=src")
        eq(st, 405, "POST refused")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_large_export_slow_and_vanishing_clients():
    s = Server()
    n = 200_000
    for part in range(4):
        body = "\n".join("big,s=s%d v=%d.25 %d" % (i % 10, i, T0 + i) for i in range(part * n // 4, (part + 1) * n // 4))
        st, msg, _ = s.write(body, db="big")
        eq(st, 204, msg)
    # A client that stalls for a second before reading: the server must wait, not buffer without bound.
    c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    c.sendall(b"GET /api/strata/v1/export?db=big HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1.0)
    data = bytearray()
    deadline = time.time() + 60
    while not data.endswith(b"\r\n0\r\n\r\n") and time.time() < deadline:
        chunk = c.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    c.close()
    check(b"Transfer-Encoding: chunked" in data[:1000], "chunked response")
    check(data.endswith(b"\r\n0\r\n\r\n"), "stream ended with the last chunk")
    check(b"points=%d series=10" % n in data, "every point exported")
    # A client that hangs up after the first bytes: the export stops; the server stays up.
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        c.sendall(b"GET /api/strata/v1/export?db=big&format=csv HTTP/1.1\r\nHost: x\r\n\r\n")
        c.recv(1000)
        c.close()
    st, _, _ = s.request("GET", "/ping")
    eq(st, 204, "server answers after abandoned exports")
    out, err = export(s, "big", "--tag", "s=s3")
    eq(len(records(out)), n // 10, "tag filter on the large set")


def test_same_export_after_restart():
    """Points flushed to segment files at shutdown export exactly as they did from memory."""
    s = Server()
    load(s)
    body = "\n".join("r,s=s%d v=%d.5,q=%di %d" % (i % 3, i, i, T0 + i * 10**9) for i in range(3000))
    eq(s.write(body, db="src")[0], 204)
    before, _ = export(s, "src")
    before_csv, _ = export(s, "src", "--format", "csv")
    s.restart()
    after, _ = export(s, "src")
    after_csv, _ = export(s, "src", "--format", "csv")
    eq(after, before, "line protocol after restart")
    eq(after_csv, before_csv, "CSV after restart")
    check("points=%d " % (14 + 6000) in after, "every point: " + after[-100:])


run_tests(globals())
