#!/usr/bin/env python3
"""Writes read back exactly through /query and through the influx CLI:
every field type and its limits, escaped names, every precision, v1 and v2,
gzip, out-of-order points, duplicates (last write wins), quality kept out of
the fields, survival across a restart."""
import json
import shutil
import subprocess

from harness import Server, check, eq, run_tests


def series(s, q, db="db", epoch="ns"):
    st, js = s.query(q, db=db, epoch=epoch)
    eq(st, 200, "query %r: %s" % (q, js))
    res = js["results"][0]
    check("error" not in res, "query %r: %s" % (q, res))
    return res.get("series", [])


def test_types_and_limits():
    s = Server()
    body = "\n".join([
        'm f=1.5,i=-9223372036854775808i,u=18446744073709551615u,b=true,s="hello \\"q\\" \\\\ x" 1',
        'm f=0.1,i=9223372036854775807i,u=0u,b=F,s="" 2',
        'm f=-1e-300,i=0i,u=1u,b=t,s="multi\nline" 3',
        'm f=1.7976931348623157e308 4',
    ])
    eq(s.write(body)[0], 204)
    sr = series(s, "SELECT f, i, u, b, s FROM m")
    eq(len(sr), 1)
    eq(sr[0]["columns"], ["time", "f", "i", "u", "b", "s"])
    v = sr[0]["values"]
    eq(v[0], [1, 1.5, -9223372036854775808, 18446744073709551615, True, 'hello "q" \\ x'])
    eq(v[1], [2, 0.1, 9223372036854775807, 0, False, ""])
    eq(v[2], [3, -1e-300, 0, 1, True, "multi\nline"])
    eq(v[3], [4, 1.7976931348623157e308, None, None, None, None])


def test_escaped_names_and_star():
    s = Server()
    eq(s.write('my\\ meas\\,x,tag\\ key=va\\,l\\=ue,host=a fi\\=eld=1i,other=2 10')[0], 204)
    sr = series(s, 'SELECT * FROM "my meas,x"')
    eq(sr[0]["name"], "my meas,x")
    eq(sr[0]["columns"], ["time", "fi=eld", "host", "other", "tag key"])
    eq(sr[0]["values"], [[10, 1, "a", 2.0, "va,l=ue"]])
    st, js = s.query("SHOW MEASUREMENTS")
    eq(js["results"][0]["series"][0]["values"], [["my meas,x"]])


def test_precisions_v1_v2():
    s = Server()
    for p, ts, want in (("n", 5, 5), ("ns", 6, 6), ("u", 7, 7000), ("ms", 8, 8000000), ("s", 9, 9000000000),
                        ("m", 1, 60000000000), ("h", 1, 3600000000000)):
        eq(s.write("p%s v=1 %d" % (p, ts), precision=p)[0], 204)
        eq(series(s, "SELECT v FROM p%s" % p)[0]["values"], [[want, 1.0]], "precision " + p)
    for p, mult in (("ns", 1), ("us", 1000), ("ms", 1000000), ("s", 1000000000)):
        eq(s.write("v2%s v=2 3" % p, v2=True, precision=p)[0], 204)
        eq(series(s, "SELECT v FROM v2%s" % p)[0]["values"], [[3 * mult, 2.0]], "v2 precision " + p)
    eq(s.write("gz v=3 1", gz=True)[0], 204)
    eq(series(s, "SELECT v FROM gz")[0]["values"], [[1, 3.0]])


def test_missing_timestamp_gets_server_time():
    s = Server()
    import time
    t0 = time.time_ns()
    eq(s.write("now v=1", precision="s")[0], 204)
    t1 = time.time_ns()
    ts = series(s, "SELECT v FROM now")[0]["values"][0][0]
    check(t0 // 10**9 * 10**9 <= ts <= t1 and ts % 10**9 == 0, "truncated to the precision: %d" % ts)


def test_out_of_order_and_duplicates():
    s = Server()
    eq(s.write("m v=1 100\nm v=2 300\nm v=3 200\nm v=4 50\n")[0], 204)
    eq(s.write("m v=20 300\nm v=30 200\n")[0], 204)
    eq(s.write("m v=40 200\nm v=5 400\nm,host=b v=9 100\n")[0], 204)
    eq(series(s, "SELECT v FROM m WHERE time >= 0")[0]["values"],
       [[50, 4.0], [100, 1.0], [100, 9.0], [200, 40.0], [300, 20.0], [400, 5.0]])
    s.restart()
    eq(series(s, "SELECT v FROM m WHERE time >= 0")[0]["values"],
       [[50, 4.0], [100, 1.0], [100, 9.0], [200, 40.0], [300, 20.0], [400, 5.0]], "after restart")


def test_time_range_and_rfc3339():
    s = Server()
    eq(s.write("\n".join("m v=%d %d" % (i, i * 10**9) for i in range(10)))[0], 204)
    eq(len(series(s, "SELECT v FROM m WHERE time >= 3s AND time <= 5s")[0]["values"]), 3)
    sr = series(s, "SELECT v FROM m WHERE time = '1970-01-01T00:00:02Z'", epoch=None)
    eq(sr[0]["values"], [["1970-01-01T00:00:02Z", 2.0]])
    eq(series(s, "SELECT count(v) FROM m")[0]["values"], [[0, 10]])


def test_quality_not_a_field():
    s = Server()
    eq(s.write('opc,node=n1 temp=21.5,quality="OK (0x0)" 1\nopc,node=n1 temp=22,quality=2161573888i 2\n')[0], 204)
    st, js = s.query("SHOW FIELD KEYS FROM opc")
    fields = [v[0] for v in js["results"][0]["series"][0]["values"]]
    eq(fields, ["temp"], "quality is not a field")
    eq(series(s, "SELECT * FROM opc")[0]["columns"], ["time", "node", "temp"])
    s2 = Server("--quality-field", "")
    eq(s2.write('opc temp=1,quality=3i 1')[0], 204)
    st, js = s2.query("SHOW FIELD KEYS FROM opc")
    eq(sorted(v[0] for v in js["results"][0]["series"][0]["values"]), ["quality", "temp"], "quality off")


def test_influx_cli():
    if not shutil.which("influx"):
        raise AssertionError("the influx CLI (Debian influxdb-client) is not installed: run make deps")
    s = Server()
    eq(s.write("cpu,host=a usage=12.5 1000000000\ncpu,host=b usage=7 2000000000\n", db="telegraf")[0], 204)
    base = ["influx", "-host", "127.0.0.1", "-port", str(s.port), "-format", "json"]
    p = subprocess.run(base + ["-execute", "SHOW DATABASES"], capture_output=True, text=True, timeout=30)
    eq(p.returncode, 0, "influx SHOW DATABASES: " + p.stderr)
    js = json.loads(p.stdout)
    check(["telegraf"] in js["results"][0]["series"][0]["values"], p.stdout)
    p = subprocess.run(base + ["-database", "telegraf", "-precision", "rfc3339", "-execute",
                               "SELECT usage FROM cpu"], capture_output=True, text=True, timeout=30)
    eq(p.returncode, 0, "influx SELECT: " + p.stderr)
    js = json.loads(p.stdout)
    eq(js["results"][0]["series"][0]["values"],
       [["1970-01-01T00:00:01Z", 12.5], ["1970-01-01T00:00:02Z", 7]])
    p = subprocess.run(base + ["-execute", "CREATE DATABASE made_by_cli"], capture_output=True, text=True, timeout=30)
    eq(p.returncode, 0, p.stderr)
    st, js = s.query("SHOW DATABASES", db=None)
    check(["made_by_cli"] in js["results"][0]["series"][0]["values"], js)


if __name__ == "__main__":
    run_tests(globals())
