#!/usr/bin/env python3
"""strata import --offline DATADIR: straight into the storage engine of a
stopped server; refused while stratad holds the directory; then stratad
serves every point."""
import os
import subprocess
import tempfile

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


if __name__ == "__main__":
    run_tests(globals())
