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


def test_berlin_dst_semicolon_decimal_comma():
    s = Server()
    path = os.path.join(DATA, "berlin_dst_semicolon.csv")
    rc, _, err = strata("import", "--url", url(s), "--db", "csv", "--measurement", "plant", "--tag", "site=north",
                        "--int-columns", "count", "--timezone", "Europe/Berlin", path)
    eq(rc, 1, "exit code (one row in the spring gap); stderr: " + err)
    check("berlin_dst_semicolon.csv:3: local time '2024-03-31 02:30:00' does not exist in Europe/Berlin" in err,
          "gap row named: " + err)
    check("wrote 7 lines" in err and "rejected 1 lines" in err, "summary: " + err)
    got = rows(s, "SELECT temp, count FROM plant", "csv")
    want = [
        (ns("2024-03-31T00:30:00"), 21.5, 3),   # 01:30 CET
        (ns("2024-03-31T01:30:00"), 23, 5),     # 03:30 CEST
        (ns("2024-10-27T00:30:00"), 1.25, 1),   # 02:30 CEST (first pass: summer)
        (ns("2024-10-27T00:45:00"), 2, 2),      # 02:45 CEST
        (ns("2024-10-27T01:15:00"), 3, 3),      # 02:15 went backwards: CET
        (ns("2024-10-27T01:50:00"), 4, 4),      # 02:50 CET
        (ns("2024-10-27T02:10:00"), 5, 5),      # 03:10 CET
    ]
    eq(got, want, "temp/count in UTC")
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


run_tests(globals())
