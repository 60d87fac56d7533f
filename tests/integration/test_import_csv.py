#!/usr/bin/env python3
"""tests/integration/test_import_csv.py — `strata import` of CSV files into the
real stratad, read back through /query and /api/strata/v1/export.

Fixtures in tests/data/csv/: a ';' file with decimal commas in local time of
Europe/Berlin across both DST changes of 2024 (the spring-gap row is an error
naming its row; the repeated autumn hour is resolved by file order), a ','
file with RFC 4180 quoting, empty cells and a bad row, and a long-form file
with a quality column (Good/Bad/Uncertain/integers/hex, one bad quality).
Expected instants are written out by hand below as UTC.
"""
import calendar
import gzip
import os
import shutil
import subprocess
import tempfile
import time

from harness import SANITIZER_MARKS, STRATA, Server, check, eq, run_tests

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "csv")


def strata(*args, stdin=None, timeout=120):
    p = subprocess.run([STRATA, *args], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    err = p.stderr.decode("utf-8", "replace")
    if any(m in err for m in SANITIZER_MARKS):
        raise AssertionError("sanitizer report from strata %s:\n%s" % (" ".join(args), err[-4000:]))
    return p.returncode, p.stdout.decode("utf-8", "replace"), err


def url(s):
    return "http://127.0.0.1:%d" % s.port


def ns(utc):
    """'2024-03-31T00:30:00' (UTC) -> ns since the epoch."""
    return calendar.timegm(time.strptime(utc, "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000


def rows(s, q, db):
    return [tuple(r) for r in s.values(q, db=db)]


def export_lp(s, db, *extra):
    rc, out, err = strata("export", "--url", url(s), "--db", db, *extra)
    eq(rc, 0, "export: " + err)
    return [l for l in out.splitlines() if l and not l.startswith("#")]


BERLIN_ARGS = ("--measurement", "plant", "--tag", "site=north", "--int-columns", "count", "--timezone", "Europe/Berlin")
BERLIN_WANT = [
    (ns("2024-03-31T00:30:00"), 21.5, 3),   # 01:30 CET
    (ns("2024-03-31T01:30:00"), 23, 5),     # 03:30 CEST
    (ns("2024-10-27T00:30:00"), 1.25, 1),   # 02:30 CEST (first pass: summer)
    (ns("2024-10-27T00:45:00"), 2, 2),      # 02:45 CEST
    (ns("2024-10-27T01:15:00"), 3, 3),      # 02:15 went backwards: CET
    (ns("2024-10-27T01:50:00"), 4, 4),      # 02:50 CET
    (ns("2024-10-27T02:10:00"), 5, 5),      # 03:10 CET
]


def test_berlin_dst_semicolon_decimal_comma():
    s = Server()
    path = os.path.join(DATA, "berlin_dst_semicolon.csv")
    rc, _, err = strata("import", "--url", url(s), "--db", "csv", *BERLIN_ARGS, path)
    eq(rc, 1, "exit code (one row in the spring gap); stderr: " + err)
    check("berlin_dst_semicolon.csv:3: local time '2024-03-31 02:30:00' does not exist in Europe/Berlin" in err,
          "gap row named: " + err)
    check("wrote 7 lines" in err and "rejected 1 lines" in err, "summary: " + err)
    eq(rows(s, "SELECT temp, count FROM plant", "csv"), BERLIN_WANT, "temp/count in UTC")
    lp = export_lp(s, "csv")
    eq(lp[0], 'plant,site=north count=3i,note="hello",ok=true,temp=21.5 %d' % ns("2024-03-31T00:30:00"), "types")
    eq(lp[-1], 'plant,site=north count=5i,note="a;b",temp=5 %d' % ns("2024-10-27T02:10:00"), "quoted ';' cell")


def test_wide_comma_quoting_empty_cells_bad_row_gzip_zstd():
    s = Server()
    src = os.path.join(DATA, "wide_comma.csv")
    d = tempfile.mkdtemp(prefix="strata-csv-")
    try:
        gz = os.path.join(d, "w.csv.gz")
        with open(src, "rb") as f, gzip.open(gz, "wb") as g:
            g.write(f.read())
        inputs = [("plain", src), ("gzip", gz)]
        if shutil.which("zstd"):
            zst = os.path.join(d, "w.csv.zst")
            subprocess.run(["zstd", "-q", "-f", src, "-o", zst], check=True)
            inputs.append(("zstd", zst))
        else:
            print("NOTE zstd command not found: zstd CSV input not tested")
        for i, (kind, path) in enumerate(inputs):
            db = "w%d" % i
            rc, _, err = strata("import", "--url", url(s), "--db", db, "--measurement", "env", path)
            eq(rc, 1, "%s: exit code (one bad row); stderr: %s" % (kind, err))
            check("%s:5: time 'not-a-time' is not RFC3339" % path in err, "%s: bad row named: %s" % (kind, err))
            check("wrote 4 lines" in err, "%s: summary: %s" % (kind, err))
            lp = export_lp(s, db)
            eq(lp, [
                'env pressure=1013,state="run",temp=20.5 %d' % ns("2024-01-01T00:00:00"),
                'env pressure=1013.25,state="stop, then \\"go\\"",temp=20.75 %d' % ns("2024-01-01T00:00:10"),
                'env pressure=1012 %d' % ns("2024-01-01T00:00:20"),
                'env temp=21 %d' % ns("2024-01-01T00:00:30"),
            ], kind)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_long_form_quality():
    s = Server()
    path = os.path.join(DATA, "long_quality.csv")
    rc, _, err = strata("import", "--url", url(s), "--db", "lq", "--measurement", "tags", "--name-column", "name",
                        "--value-column", "value", "--quality-column", "quality", "--time-format", "DD.MM.YYYY HH:MM:SS",
                        path)
    eq(rc, 1, "exit code (one bad quality); stderr: " + err)
    check("long_quality.csv:7: bad quality 'excellent'" in err, "bad quality row named: " + err)
    t0 = ns("2024-02-01T10:00:00")
    lp = sorted(export_lp(s, "lq"))
    eq(lp, sorted([
        "tags,tag=FIC101.PV value=1.5 %d" % t0,
        "tags,tag=TI202.PV value=80,quality=2147483648i %d" % t0,          # Bad
        "tags,tag=FIC101.PV value=1.75,quality=1083179008i %d" % (t0 + 10**9),  # Uncertain 0x40900000
        "tags,tag=TI202.PV value=81,quality=192i %d" % (t0 + 10**9),
        "tags,tag=FIC101.PV value=2,quality=1073741824i %d" % (t0 + 2 * 10**9),  # 0x40000000
    ]), "long form with quality")


def test_delimiter_and_epoch_and_pattern():
    s = Server()
    d = tempfile.mkdtemp(prefix="strata-csv-")
    try:
        # TAB delimiter detected; epoch ms detected from the magnitude.
        p1 = os.path.join(d, "tab.csv")
        with open(p1, "w") as f:
            f.write("_time\tv\n1700000000000\t1\n1700000000500\t2.5\n")
        rc, _, err = strata("import", "--url", url(s), "--db", "e", "--measurement", "m", p1)
        eq(rc, 0, err)
        eq(rows(s, "SELECT v FROM m", "e"), [(1700000000000 * 10**6, 1), (1700000000500 * 10**6, 2.5)], "epoch ms")
        # A strftime-like pattern with a fraction, in a zone, ';' given explicitly.
        p2 = os.path.join(d, "pat.csv")
        with open(p2, "w") as f:
            f.write("when;v\n2024/07/01-12.00.00.250;1,5\n")
        rc, _, err = strata("import", "--url", url(s), "--db", "p", "--measurement", "m", "--delimiter", ";",
                            "--time-column", "when", "--time-format", "%Y/%m/%d-%H.%M.%S", "--timezone",
                            "Europe/Berlin", p2)
        eq(rc, 0, err)
        eq(rows(s, "SELECT v FROM m", "p"), [(ns("2024-07-01T10:00:00") + 250_000_000, 1.5)], "pattern in CEST")
        # Usage errors: no time column, unknown zone, CSV without --measurement.
        p3 = os.path.join(d, "notime.csv")
        with open(p3, "w") as f:
            f.write("a,b\n1,2\n")
        rc, _, err = strata("import", "--url", url(s), "--db", "x", "--format", "csv", "--measurement", "m", p3)
        check(rc != 0 and "no time column" in err, "no time column: %d %s" % (rc, err))
        rc, _, err = strata("import", "--url", url(s), "--db", "x", "--measurement", "m", "--timezone", "Mars/Base", p1)
        check(rc != 0 and "Mars/Base" in err, "bad zone: %d %s" % (rc, err))
        rc, _, err = strata("import", "--url", url(s), "--db", "x", p1)
        check(rc != 0 and "--measurement" in err, "no measurement: %d %s" % (rc, err))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_many_bad_rows_first_ten_and_count():
    s = Server()
    d = tempfile.mkdtemp(prefix="strata-csv-")
    try:
        p = os.path.join(d, "bad.csv")
        lines = ["time,v"]
        for i in range(30):
            lines.append("2024-01-01T00:00:%02dZ,%d" % (i, i) if i % 2 == 0 else "garbage%d,%d" % (i, i))
        with open(p, "w") as f:
            f.write("\n".join(lines) + "\n")
        rc, _, err = strata("import", "--url", url(s), "--db", "b", "--measurement", "m", p)
        eq(rc, 1, err)
        check("wrote 15 lines" in err and "rejected 15 lines" in err, "summary: " + err)
        named = [l for l in err.splitlines() if l.startswith(p + ":")]
        eq(len(named), 10, "first ten errors listed: " + err)
        eq(named[0].split(":")[1], "3", "first bad row is file row 3")
        check("(and 5 more errors)" in err, "count of the rest: " + err)
        eq(len(rows(s, "SELECT v FROM m", "b")), 15, "good rows written")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_tag_columns():
    s = Server()
    d = tempfile.mkdtemp(prefix="strata-csvtag-")
    try:
        f = os.path.join(d, "hosts.csv")
        with open(f, "w") as fh:
            fh.write("time,host,rack,usage\n")
            fh.write("2024-01-01T00:00:00Z,a,r1,1.5\n2024-01-01T00:00:00Z,b,r1,2.5\n2024-01-01T00:00:10Z,a,,3.5\n")
        p = subprocess.run([STRATA, "import", "--url", "http://127.0.0.1:%d" % s.port, "--db", "db",
                            "--measurement", "cpu", "--tag-columns", "host,rack", f], capture_output=True, text=True)
        eq(p.returncode, 0, p.stderr)
        st, js = s.query("SHOW TAG KEYS FROM cpu")
        eq([v[0] for v in js["results"][0]["series"][0]["values"]], ["host", "rack"])
        st, js = s.query("SHOW FIELD KEYS FROM cpu")
        eq([v[0] for v in js["results"][0]["series"][0]["values"]], ["usage"])
        eq(s.values("SELECT usage FROM cpu WHERE host = 'a'"), [[1704067200000000000, 1.5], [1704067210000000000, 3.5]])
        eq(s.values("SELECT usage FROM cpu WHERE host = 'b' AND rack = 'r1'"), [[1704067200000000000, 2.5]])
        p = subprocess.run([STRATA, "import", "--url", "http://127.0.0.1:%d" % s.port, "--db", "db",
                            "--measurement", "cpu", "--tag-columns", "nope", f], capture_output=True, text=True)
        check(p.returncode != 0 and "--tag-columns: no column named 'nope'" in p.stderr, p.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_number_forms_read_back_exactly():
    """Numbers written as plain decimals travel as written, others printed:
    either way each reads back as the double the text names (offline too)."""
    d = tempfile.mkdtemp(prefix="strata-csvnum-")
    path = os.path.join(d, "nums.csv")
    cells = ["65.95605290485192", "27.855596048430076", "+1.5", "1e3", "00012", "-.5", "5.", "-0",
             "0.1000000000000000055511151231257827", "123456789012345678901234", "7"]
    with open(path, "w") as f:
        f.write("time,v\n")
        for i, c in enumerate(cells):
            f.write("%d,%s\n" % (i + 1, c))
    try:
        s = Server()
        rc, _, err = strata("import", "--url", url(s), "--db", "n", "--measurement", "m", "--time-format", "epoch-ns", path)
        eq(rc, 0, err)
        got = {"http": s.values("SELECT v FROM m", db="n")}
        s.stop()
        data = os.path.join(d, "data")
        rc, _, err = strata("import", "--offline", data, "--db", "n", "--measurement", "m", "--time-format", "epoch-ns", path)
        eq(rc, 0, err)
        s = Server(data=data)
        got["offline"] = s.values("SELECT v FROM m", db="n")
        s.stop()
        for mode, rows_ in got.items():
            eq([r[0] for r in rows_], list(range(1, len(cells) + 1)), mode)
            for (t, v), c in zip(rows_, cells):
                check(float(v) == float(c), "%s: row %d '%s' read back as %r" % (mode, t, c, v))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_autumn_hour_across_batches_http_and_offline():
    """One record per batch, converted by three workers: the repeated autumn
    hour still resolves in file order (the state goes from batch to batch)."""
    path = os.path.join(DATA, "berlin_dst_semicolon.csv")
    d = tempfile.mkdtemp(prefix="strata-csvdst-")
    try:
        s = Server()
        rc, _, err = strata("import", "--url", url(s), "--db", "csv", "--workers", "3", "--batch-bytes", "1",
                            *BERLIN_ARGS, path)
        eq(rc, 1, err)
        check("berlin_dst_semicolon.csv:3: local time '2024-03-31 02:30:00' does not exist" in err, err)
        eq(rows(s, "SELECT temp, count FROM plant", "csv"), BERLIN_WANT, "http, one record per batch")
        s.stop()
        data = os.path.join(d, "data")
        rc, _, err = strata("import", "--offline", data, "--db", "csv", "--workers", "3", "--batch-bytes", "1",
                            *BERLIN_ARGS, path)
        eq(rc, 1, err)
        check("berlin_dst_semicolon.csv:3: local time '2024-03-31 02:30:00' does not exist" in err, err)
        check("read 8 lines" in err and "wrote 7 lines" in err and "rejected 1 lines" in err, "summary: " + err)
        s = Server(data=data)
        eq(rows(s, "SELECT temp, count FROM plant", "csv"), BERLIN_WANT, "offline, one record per batch")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def gen_hosts_csv(path, n, bad_every=0):
    """time (epoch ns), host and rack tags, float u, integer c, a note that is
    sometimes quoted over two lines. Returns the good rows {host: [(t, u, c)]}
    and the bad rows' file row numbers (a bad time every bad_every rows)."""
    good, bad = {}, []
    out = ["time,host,rack,u,c,note"]
    row = 2
    for i in range(n):
        host = "h%d" % (i % 7)
        t = 1_700_000_000_000_000_000 + i * 1_000_000_000
        note = '"two\nlines %d"' % i if i % 97 == 5 else "n%d" % i
        if bad_every and i % bad_every == bad_every - 1:
            out.append("t%d,%s,r1,%d.25,%d,%s" % (i, host, i, i, note))
            bad.append(row)
        else:
            out.append("%d,%s,r%d,%d.25,%d,%s" % (t, host, i % 3, i, i, note))
            good.setdefault(host, []).append((t, i + 0.25, i))
        row += 1 + note.count("\n")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return good, bad


def test_offline_many_batches_rows_and_errors():
    """--offline with small batches: every point read back, and rejected rows
    from late batches named by their file row, as over HTTP."""
    d = tempfile.mkdtemp(prefix="strata-csvoff-")
    try:
        path = os.path.join(d, "hosts.csv")
        n = 6000
        good, bad = gen_hosts_csv(path, n, bad_every=500)
        eq(len(bad), 12, "bad rows")
        args = ("--measurement", "m", "--tag-columns", "host,rack", "--int-columns", "c", "--workers", "2",
                "--batch-bytes", "2048", path)
        data = os.path.join(d, "data")
        rc, _, err_off = strata("import", "--offline", data, "--db", "h", *args)
        eq(rc, 1, err_off)
        check("read %d lines" % n in err_off and "wrote %d lines" % (n - 12) in err_off and "rejected 12 lines" in err_off,
              "summary: " + err_off)
        named = [l for l in err_off.splitlines() if l.startswith(path + ":")]
        eq([int(l.split(":")[1]) for l in named], bad[:10], "the first ten bad rows, by file row: " + err_off)
        check(all("is not an epoch number" in l for l in named), err_off)
        check("(and 2 more errors)" in err_off, err_off)
        s = Server(data=data)
        got_off = {}
        for host in sorted(good):
            got = s.values("SELECT u, c FROM m WHERE host = '%s'" % host, db="h")
            eq([tuple(r) for r in got], good[host], "offline: every point of " + host)
            got_off[host] = got
        s.stop()
        # Over HTTP: the same rows rejected, the same points.
        s = Server()
        rc, _, err_http = strata("import", "--url", url(s), "--db", "h", *args)
        eq(rc, 1, err_http)
        eq([l for l in err_http.splitlines() if l.startswith(path + ":")], named, "same errors over HTTP")
        for host in sorted(good):
            eq(s.values("SELECT u, c FROM m WHERE host = '%s'" % host, db="h"), got_off[host], "http: " + host)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_offline_refused_point_quotes_its_line():
    """A point built straight from a CSV row that the storage refuses is
    reported with the line it stands for, as the text way reports it."""
    d = tempfile.mkdtemp(prefix="strata-csvconf-")
    try:
        data = os.path.join(d, "data")
        first = os.path.join(d, "first.csv")
        with open(first, "w") as f:
            f.write("time,host,v\n1,a,1.5\n")
        rc, _, err = strata("import", "--offline", data, "--db", "c", "--measurement", "m", "--tag-columns", "host",
                            "--time-format", "epoch-s", first)
        eq(rc, 0, err)
        second = os.path.join(d, "second.csv")
        with open(second, "w") as f:
            f.write("time,host,v,w\n2,a,2.5,1\n3,a,abc,2\n4,a,3.5,3\n")
        rc, _, err = strata("import", "--offline", data, "--db", "c", "--measurement", "m", "--tag-columns", "host",
                            "--time-format", "epoch-s", second)
        eq(rc, 1, err)
        check("%s:3: unable to write 'm,host=a v=\"abc\",w=2 3000000000': " % second in err and "conflict" in err,
              "refused point named with its line: " + err)
        s = Server(data=data)
        eq(s.values("SELECT v FROM m", db="c"), [[1000000000, 1.5], [2000000000, 2.5], [4000000000, 3.5]])
        eq(s.values("SELECT w FROM m", db="c"), [[2000000000, 1], [3000000000, 2], [4000000000, 3]])
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_sigint_then_resume_csv():
    """CSV over HTTP, interrupted and resumed: every row written exactly once."""
    s = Server()
    d = tempfile.mkdtemp(prefix="strata-csvres-")
    try:
        path = os.path.join(d, "in.csv")
        n = 12000
        good, _ = gen_hosts_csv(path, n)
        args = ("--url", url(s), "--db", "r", "--measurement", "m", "--tag-columns", "host,rack", "--int-columns", "c",
                "--workers", "3", "--batch-bytes", "1500")
        p = subprocess.Popen([STRATA, "import", *args, "--throttle-ms", "20", path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(1.0)
        p.send_signal(2)  # SIGINT
        _, err1 = p.communicate(timeout=60)
        err1 = err1.decode()
        eq(p.returncode, 130, "interrupted: " + err1)
        wrote1 = int(err1.split("wrote ")[1].split(" ")[0])
        check(0 < wrote1 < n, "interrupted midway: wrote %d" % wrote1)
        rc, _, err2 = strata("import", *args, "--resume", path)
        eq(rc, 0, "resumed: " + err2)
        check("resuming" in err2, err2)
        wrote2 = int(err2.split("wrote ")[1].split(" ")[0])
        eq(wrote1 + wrote2, n, "rows written across both runs (%d + %d)" % (wrote1, wrote2))
        for host in sorted(good):
            got = s.values("SELECT count(u), sum(c) FROM m WHERE host = '%s'" % host, db="r")
            eq(got[0][1:], [len(good[host]), sum(r[2] for r in good[host])], "count and sum of " + host)
    finally:
        shutil.rmtree(d, ignore_errors=True)


run_tests(globals())
