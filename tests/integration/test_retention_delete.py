#!/usr/bin/env python3
"""Retention policies, DROP MEASUREMENT, DROP SERIES and DELETE through
InfluxQL against the real stratad; everything survives a restart."""
import time

from harness import Server, check, eq, run_tests


def q(s, text, db="db"):
    st, js = s.query(text, db=db, method="POST")
    eq(st, 200, text)
    return js["results"][0]


def test_retention_policy():
    s = Server()
    now = time.time_ns()
    eq(s.write("m v=1 %d" % now)[0], 204)
    res = q(s, 'SHOW RETENTION POLICIES ON "db"')
    eq(res["series"][0]["values"][0][:2], ["autogen", "0s"])
    check("error" not in q(s, 'ALTER RETENTION POLICY "autogen" ON "db" DURATION 2h REPLICATION 1'), "alter")
    eq(q(s, "SHOW RETENTION POLICIES")["series"][0]["values"][0][1], "2h0m0s")
    st, body, _ = s.write("m v=2 %d\nm v=3 %d\n" % (now - 3 * 3600 * 10**9, now + 1))
    eq(st, 400, "a point older than the retention")
    check("partial write" in body and "points beyond retention policy" in body, body)
    eq(len(s.values("SELECT v FROM m")), 2, "the recent points kept")
    res = q(s, 'CREATE RETENTION POLICY "weekly" ON "db" DURATION 7d REPLICATION 1')
    check("one retention policy per database" in res.get("error", ""), res)
    res = q(s, 'ALTER RETENTION POLICY "nope" ON "db" DURATION 1h')
    eq(res.get("error"), "retention policy not found: nope")
    check("error" not in q(s, 'CREATE RETENTION POLICY "autogen" ON "db" DURATION INF REPLICATION 1 DEFAULT'), "create = set")
    eq(q(s, "SHOW RETENTION POLICIES")["series"][0]["values"][0][1], "0s")
    check("error" not in q(s, 'ALTER RETENTION POLICY "autogen" ON "db" DURATION 3h'), "alter again")
    s.restart()
    eq(q(s, "SHOW RETENTION POLICIES")["series"][0]["values"][0][1], "3h0m0s", "after restart")


def test_drop_measurement_and_series():
    s = Server()
    eq(s.write("cpu,host=a v=1 1\ncpu,host=b v=2 2\nmem,host=a v=3 3\n")[0], 204)
    check("error" not in q(s, 'DROP SERIES FROM "cpu" WHERE "host" = \'a\''), "drop series")
    eq(s.values("SELECT v FROM cpu"), [[2, 2.0]])
    check("error" not in q(s, 'DROP MEASUREMENT "mem"'), "drop measurement")
    eq([v[0] for v in q(s, "SHOW MEASUREMENTS")["series"][0]["values"]], ["cpu"])
    eq(s.write("mem,host=a v=9 9\n")[0], 204, "write again after the drop")
    eq(s.values("SELECT v FROM mem"), [[9, 9.0]])
    s.restart()
    eq(s.values("SELECT v FROM cpu"), [[2, 2.0]], "after restart")
    eq(s.values("SELECT v FROM mem"), [[9, 9.0]], "after restart")


def test_delete_time_range():
    s = Server()
    body = "".join("m,host=%s v=%d %d\n" % ("a" if i % 2 else "b", i, i * 10**9) for i in range(100))
    eq(s.write(body)[0], 204)
    eq(s.request("POST", "/internal/force_flush")[0], 204)  # part of the data in a segment file
    eq(s.write("m,host=a v=1001 101000000000\n")[0], 204)
    check("error" not in q(s, "DELETE FROM m WHERE host = 'a' AND time >= 20s AND time <= 101s"), "delete")
    got = s.values("SELECT v FROM m WHERE host = 'a'")
    eq([v[1] for v in got], [float(i) for i in range(1, 20, 2)], "host a before 20s only")
    eq(len(s.values("SELECT v FROM m WHERE host = 'b'")), 50, "host b untouched")
    res = q(s, "DELETE FROM m WHERE v > 3")
    check("fields not supported" in res.get("error", ""), res)
    s.restart()
    eq(len(s.values("SELECT v FROM m WHERE host = 'a'")), 10, "after restart")
    check("error" not in q(s, "DELETE FROM m WHERE host = 'b'"), "delete all of a series")
    eq(s.values("SELECT v FROM m WHERE host = 'b'"), [])


if __name__ == "__main__":
    run_tests(globals())
