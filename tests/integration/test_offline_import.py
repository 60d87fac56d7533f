#!/usr/bin/env python3
"""strata import --offline DATADIR: straight into the storage engine of a
stopped server; refused while stratad holds the directory; then stratad
serves every point."""
import os
import subprocess
import tempfile
import time

from harness import STRATA, Server, check, eq, run_tests


def run(*args):
    p = subprocess.run([STRATA, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def test_offline_import_then_serve():
    d = tempfile.mkdtemp(prefix="strata-off-")
    data = os.path.join(d, "data")
    lp = os.path.join(d, "cpu.lp")
    subprocess.run([STRATA, "gen", "cpu", "--hosts", "10", "--points", "500", "--seed", "3", "--output", lp], check=True)
    rc, out = run("import", "--offline", data, "--db", "hist", "--workers", "2", "--batch-bytes", "65536", lp)
    eq(rc, 0, out)
    check("wrote 5000 lines" in out, out)
    bad = os.path.join(d, "bad.lp")
    with open(bad, "w") as f:
        f.write("m v=1 1\nbad line\nm v=2i 2\nm,t=x v=3 3\n")
    rc, out = run("import", "--offline", data, "--db", "hist", bad)
    eq(rc, 1, "rejected lines: " + out)
    check("bad.lp:2: unable to parse 'bad line'" in out and "bad.lp:3:" in out and "field type conflict" in out, out)
    s = Server(data=data)
    eq(s.values("SELECT count(usage_user) FROM cpu", db="hist"), [[0, 5000]])
    eq(s.values("SELECT v FROM m", db="hist"), [[1, 1.0], [3, 3.0]])
    # The source's values, bit for bit: compare one series.
    want = []
    for line in open(lp):
        if line.startswith("cpu,hostname=host_3,"):
            fields = line.split(" ")[1]
            ts = int(line.split(" ")[2])
            v = float(dict(kv.split("=") for kv in fields.split(","))["usage_idle"])
            want.append([ts, v])
    got = s.values("SELECT usage_idle FROM cpu WHERE hostname = 'host_3'", db="hist")
    eq(got, want, "host_3 usage_idle bit-exact")
    rc, out = run("import", "--offline", data, "--db", "hist", lp)
    eq(rc, 3, "refused while stratad runs")
    check("in use by a running stratad" in out, out)


def test_offline_lines_without_timestamp_and_crlf():
    """Lines without a timestamp get the time they are imported (the parser
    stamps them offline); CRLF blank lines and comments are not lines."""
    d = tempfile.mkdtemp(prefix="strata-off-")
    data = os.path.join(d, "data")
    lp = os.path.join(d, "mixed.lp")
    with open(lp, "wb") as f:
        f.write(b"# comment\r\n\r\nm,t=a v=1\r\n  \r\nm,t=a v=2 5\r\nm,t=b v=3   \nm,t=a v=4 6\n")
    t0 = time.time_ns()
    rc, out = run("import", "--offline", data, "--db", "hist", "--batch-bytes", "16", lp)
    t1 = time.time_ns()
    eq(rc, 0, out)
    check("read 4 lines" in out and "wrote 4 lines" in out, out)
    s = Server(data=data)
    got = s.values("SELECT v FROM m WHERE t = 'a' AND time >= 0", db="hist")
    eq([r[1] for r in got], [2.0, 4.0, 1.0], "a's values in time order: " + repr(got))
    eq([r[0] for r in got[:2]], [5, 6])
    check(t0 <= got[2][0] <= t1, "stamped at import: %r" % got)
    got = s.values("SELECT v FROM m WHERE t = 'b' AND time >= 0", db="hist")
    check(len(got) == 1 and got[0][1] == 3.0 and t0 <= got[0][0] <= t1, "b stamped at import: %r" % got)


if __name__ == "__main__":
    run_tests(globals())
