#!/usr/bin/env python3
"""/query over HTTP against the real stratad: field conditions, tz() with
local-midnight windows, functions over *, GET and POST forms, several
statements, and the npm `influx` client (node-influx) writing and querying
through its own API (skipped with a note when npm cannot install it)."""
import json
import os
import shutil
import subprocess
import time

from harness import Server, check, eq, run_tests

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
T0 = 1700000000000  # ms


def series(s, q, db="db", epoch="ms", method="GET"):
    st, js = s.query(q, db=db, epoch=epoch, method=method)
    eq(st, 200, "query %r: %s" % (q, js))
    res = js["results"][0]
    check("error" not in res, "query %r: %s" % (q, res))
    return res.get("series", [])


def test_field_conditions_and_functions():
    s = Server()
    body = "\n".join([
        "boiler,unit=3 temp=81.5,on=true,n=1i %d" % T0,
        "boiler,unit=3 temp=82,on=false,n=2i %d" % (T0 + 20000),
        "boiler,unit=4 temp=77.1,on=true,n=3i %d" % (T0 + 10000),
    ])
    eq(s.write(body, precision="ms")[0], 204)
    sr = series(s, 'SELECT temp FROM boiler WHERE temp > 80 OR "unit" = \'4\'')
    eq(sr[0]["values"], [[T0, 81.5], [T0 + 10000, 77.1], [T0 + 20000, 82]])
    sr = series(s, 'SELECT temp FROM boiler WHERE "on" = false', method="POST")
    eq(sr[0]["values"], [[T0 + 20000, 82]])
    sr = series(s, "SELECT sum(*) FROM boiler")
    eq(sr[0]["columns"], ["time", "sum_n", "sum_temp"])
    eq(sr[0]["values"], [[0, 6, 240.6]])
    sr = series(s, "SELECT round(max(temp)) AS r FROM boiler GROUP BY unit")
    # one selector (even inside math) keeps its point's time
    eq([(x["tags"]["unit"], x["values"]) for x in sr], [("3", [[T0 + 20000, 82]]), ("4", [[T0 + 10000, 77]])])


def test_tz_over_http():
    s = Server()
    # 2021-10-30/31 12:00Z: Berlin leaves summer time on the 31st (a 25 h day)
    body = "m v=1 1635595200000\nm v=2 1635681600000\nm v=4 1635768000000"
    eq(s.write(body, precision="ms")[0], 204)
    q = ("SELECT sum(v) FROM m WHERE time >= '2021-10-30T00:00:00Z' AND time < '2021-11-02T00:00:00Z' "
         "GROUP BY time(1d) fill(none) tz('Europe/Berlin')")
    st, js = s.query(q, epoch=None)
    eq(st, 200, js)
    eq(js["results"][0]["series"][0]["values"],
       [["2021-10-30T00:00:00+02:00", 1], ["2021-10-31T00:00:00+02:00", 2], ["2021-11-01T00:00:00+01:00", 4]])
    # the same windows in ms: local midnights 29T22:00Z, 30T22:00Z, 31T23:00Z
    sr = series(s, q)
    eq([r[0] for r in sr[0]["values"]], [1635544800000, 1635631200000, 1635721200000])


def test_multi_statement_and_errors():
    s = Server()
    eq(s.write("m v=1 1\nm v=3 2", precision="ms")[0], 204)
    st, js = s.query("SELECT mean(v) FROM m; SELECT nope(v) FROM m; SELECT max(v) FROM m", epoch="ms")
    eq(st, 200)
    r = js["results"]
    eq([x["statement_id"] for x in r], [0, 1, 2])
    eq(r[0]["series"][0]["values"], [[0, 2]])
    eq(r[1]["error"], "undefined function nope()")
    eq(r[2]["series"][0]["values"], [[2, 3]])
    st, js = s.query("SELECT mean(v) FROM m GROUP BY time(1y)", epoch="ms")
    eq(st, 400)
    check("no year unit" in js["error"], js)


def test_bound_parameters():
    s = Server()
    eq(s.write("m,host=a v=1 1000\nm,host=b v=5 2000", precision="ms")[0], 204)
    st, js = s.query("SELECT v FROM m WHERE host = $h AND v > $min", epoch="ms",
                     extra={"params": json.dumps({"h": "b", "min": 2})})
    eq(st, 200, js)
    eq(js["results"][0]["series"][0]["values"], [[2000, 5]])
    st, js = s.query("SELECT v FROM m WHERE host = $h", epoch="ms", method="POST",
                     extra={"params": json.dumps({"h": "a"})})
    eq(js["results"][0]["series"][0]["values"], [[1000, 1]])
    st, js = s.query("SELECT v FROM m WHERE host = $h", epoch="ms", extra={"params": "{bad"})
    eq(st, 400)
    check(js["error"].startswith("error parsing query parameters: "), js)


def test_show_with_tag_filter_uses_postings():
    """SHOW TAG VALUES / MEASUREMENTS with WHERE "k" = 'v' start from the
    posting list, "k" =~ /re/ from the tag's value list and postings; !~
    has to look at every series. Prints the times
    (python3 tests/run.py --build B -k query_http -v)."""
    s = Server()
    n = 20000
    lines = ["m,host=h%d,rack=r%d v=1 1000" % (i, i % 50) for i in range(n)]
    for i in range(0, n, 5000):
        eq(s.write("\n".join(lines[i:i + 5000]), precision="ms")[0], 204)
    eq(s.write("other,host=h7 v=1 1000", precision="ms")[0], 204)

    def timed(q, reps=20):
        t0 = time.perf_counter()
        for _ in range(reps):
            st, js = s.query(q, epoch="ms")
            eq(st, 200, js)
        return js, (time.perf_counter() - t0) / reps * 1000

    js, t_eq = timed('SHOW TAG VALUES FROM "m" WITH KEY = "rack" WHERE "host" = \'h123\'')
    eq(js["results"][0]["series"][0]["values"], [["rack", "r23"]])
    js, t_re = timed('SHOW TAG VALUES FROM "m" WITH KEY = "rack" WHERE "host" =~ /^h12[34]$/')
    eq(js["results"][0]["series"][0]["values"], [["rack", "r23"], ["rack", "r24"]])
    js, t_all = timed('SHOW TAG VALUES FROM "m" WITH KEY = "rack" WHERE "host" !~ /^(?!h123$)/')
    eq(js["results"][0]["series"][0]["values"], [["rack", "r23"]])
    js, t_m = timed("SHOW MEASUREMENTS WHERE \"host\" = 'h7'")
    eq(js["results"][0]["series"][0]["values"], [["m"], ["other"]])
    print("    figures: %d series: SHOW TAG VALUES WHERE host = 'x' %.2f ms (posting list), =~ /re/ %.2f ms "
          "(value list + postings), !~ /re/ %.2f ms (every series decoded); SHOW MEASUREMENTS WHERE host = 'x' %.2f ms"
          % (n, t_eq, t_re, t_all, t_m))


def test_panel_query_figure():
    """A Grafana panel query over 100k points (10 hosts x 10k points, 1 s
    apart): GROUP BY time(1m), host with a field condition; prints the time."""
    s = Server()
    for h in range(10):
        body = "\n".join("cpu,host=h%d v=%d %d" % (h, i % 100, T0 + i * 1000) for i in range(10000))
        eq(s.write(body, precision="ms")[0], 204)
    q = ('SELECT mean("v") FROM "cpu" WHERE "v" >= 50 AND time >= %dms and time <= %dms '
         'GROUP BY time(1m), "host" fill(null)' % (T0, T0 + 9999000))
    t0 = time.perf_counter()
    sr = series(s, q)
    dt = (time.perf_counter() - t0) * 1000
    eq(len(sr), 10)
    # windows align to whole minutes: T0 is 20 s past one, so the first
    # window holds i = 0..39 (v < 50: null), the second i = 40..99 (v >= 50: 50..99)
    eq(sr[0]["values"][:2], [[T0 - 20000, None], [T0 + 40000, 74.5]])
    eq(len(sr[0]["values"]), 167)  # (9999 s + 20 s) / 60 s, rounded up
    print("    figures: panel query over 100000 points (10 series, field condition, 167 windows each): %.1f ms" % dt)


def test_node_influx_client():
    npm = shutil.which("npm")
    node = shutil.which("node")
    if not npm or not node:
        print("    note: node/npm not found: node-influx test skipped")
        return
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "influx")):
        p = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=180)
        if p.returncode != 0 or not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "influx")):
            print("    note: npm install failed (offline?): node-influx test skipped\n    " +
                  p.stdout.decode("utf-8", "replace")[-400:].replace("\n", "\n    "))
            return
    s = Server()
    p = subprocess.run([node, "run.js", str(s.port)], cwd=NODE_DIR, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    out = json.loads(p.stdout.decode().strip().splitlines()[-1])
    check("error" not in out, "node-influx: %s %s" % (out, p.stderr.decode()[-500:]))
    check("nodedb" in out["databases"], out)
    eq(out["measurements"], ["boiler"])
    eq(out["raw"], [[T0, 81.5, 1, "3"], [T0 + 10000, 77.1, 3, "4"], [T0 + 20000, 82, 2, "3"]])
    # windows 0s, 10s, 20s per unit, empty ones left out
    eq(sorted(out["agg"]), sorted([[T0, "3", 81.5], [T0 + 20000, "3", 82], [T0 + 10000, "4", 77.1]]))
    eq(out["cond"], [1])
    eq(out["two"], [[82], [1]])
    eq(out["tagValues"], ["3", "4"])


if __name__ == "__main__":
    run_tests(globals())
