#!/usr/bin/env python3
"""Grafana's InfluxDB data source against the real stratad: every fixture in
tests/data/grafana/*.json is one request exactly as Grafana sends it
(PROTOCOLS.md §3: health check, the query editor's meta queries, panel
queries with $timeFilter and $__interval expanded, ad-hoc filters, template
variables, table and stat panels, POST mode, legacy ';'-joined requests)
and the response Grafana needs. The test writes the data the expected
answers were computed from by hand:

  cpu,host=server1,datacenter=eu  value=10 @T0      value=20 @T0+10s
  cpu,host=server2,datacenter=us  value=30 @T0      value=50 @T0+20s
  mem,host=server1                used=512i,free=1.5 @T0+5s
  live,host=server1               value=7 @now-1m   (for now() - 6h)
  T0 = 1596240000000 ms (2020-08-01T00:00:00Z)

Responses are compared exactly ("$INT" in an expected cell matches any
integer: the window time of the now()-relative query), and each is checked
for what Grafana's parser relies on (results[0], integer ms times, columns).
Also checks tools/grafana/strata-datasource.yaml against the keys and types
Grafana's provisioning reads."""
import glob
import json
import os
import time
import urllib.parse

from harness import Server, check, eq, run_tests

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIXTURES = os.path.join(ROOT, "tests", "data", "grafana")
T0 = 1596240000000

DATA = "\n".join([
    "cpu,host=server1,datacenter=eu value=10 %d" % T0,
    "cpu,host=server1,datacenter=eu value=20 %d" % (T0 + 10000),
    "cpu,host=server2,datacenter=us value=30 %d" % T0,
    "cpu,host=server2,datacenter=us value=50 %d" % (T0 + 20000),
    "mem,host=server1 used=512i,free=1.5 %d" % (T0 + 5000),
])


def load_fixtures():
    out = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.json"))):
        with open(path) as f:
            out.append((os.path.basename(path), json.load(f)))
    check(len(out) >= 20, "expected the Grafana fixtures, found %d" % len(out))
    return out


def match(exp, got, where):
    if exp == "$INT":
        check(isinstance(got, int) and not isinstance(got, bool), "%s: expected an integer, got %r" % (where, got))
        return
    if isinstance(exp, dict):
        check(isinstance(got, dict), "%s: expected an object, got %r" % (where, got))
        eq(sorted(got.keys()), sorted(exp.keys()), "%s keys" % where)
        for k in exp:
            match(exp[k], got[k], "%s.%s" % (where, k))
        return
    if isinstance(exp, list):
        check(isinstance(got, list) and len(got) == len(exp), "%s: expected %r, got %r" % (where, exp, got))
        for i, (e, g) in enumerate(zip(exp, got)):
            match(e, g, "%s[%d]" % (where, i))
        return
    # numbers: 20 == 20.0 as JSON, but bool is not a number
    check(type(exp) is type(got) or (isinstance(exp, (int, float)) and isinstance(got, (int, float))
                                      and not isinstance(got, bool)), "%s: type %r vs %r" % (where, exp, got))
    eq(got, exp, where)


def grafana_shape(body, params, where):
    """What Grafana's response parser needs (PROTOCOLS.md §3.1, §3.7)."""
    check("results" in body and len(body["results"]) >= 1, "%s: results[0] missing" % where)
    for r in body["results"]:
        for s in r.get("series", []):
            cols = s["columns"]
            check(all(isinstance(c, str) for c in cols), where)
            for row in s["values"]:
                eq(len(row), len(cols), "%s: row width" % where)
                if cols[0] == "time" and params.get("epoch") == "ms":
                    t = row[0]
                    check(isinstance(t, int) and not isinstance(t, bool), "%s: time %r is not an integer" % (where, t))
            if "tags" in s:
                check(all(isinstance(v, str) for v in s["tags"].values()), where)


def send(s, req):
    params = req.get("params", {})
    path = req["path"] + "?" + urllib.parse.urlencode(params)
    body = None
    if "form" in req:
        body = urllib.parse.urlencode(req["form"]).encode()
    st, text, _ = s.request(req["method"], path, body=body, headers=req.get("headers"))
    return st, json.loads(text)


def populate(s):
    st, js = s.query("CREATE DATABASE grafana", db="", method="POST")
    eq(st, 200, "create: %s" % js)
    eq(s.write(DATA, db="grafana", precision="ms")[0], 204)
    now_ms = int(time.time() * 1000)
    eq(s.write("live,host=server1 value=7 %d" % (now_ms - 60000), db="grafana", precision="ms")[0], 204)


def test_fixtures():
    s = Server()
    populate(s)
    failures = []
    for name, fx in load_fixtures():
        req, exp = fx["request"], fx["expect"]
        try:
            st, body = send(s, req)
            eq(st, exp["status"], "%s: HTTP status (%s)" % (name, body))
            if "error_contains" in exp:
                check("error" in body and exp["error_contains"] in body["error"], "%s: %r" % (name, body))
                continue
            grafana_shape(body, req.get("params", {}), name)
            match(exp["body"], body, name)
        except AssertionError as e:
            failures.append(str(e))
    check(not failures, "%d fixture(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))


def test_fixtures_are_what_grafana_sends():
    """The fixtures keep Grafana's request shape: GET /query with db and
    epoch=ms, or POST with a form body; a time filter in ms as the editor
    writes it."""
    n_tf = 0
    for name, fx in load_fixtures():
        req = fx["request"]
        check(req["path"] == "/query", name)
        check(req["method"] in ("GET", "POST"), name)
        eq(req["params"].get("epoch"), "ms", name)
        eq(req["params"].get("db"), "grafana", name)
        q = req["params"].get("q") or req.get("form", {}).get("q")
        check(q, name)
        if req["method"] == "POST":
            eq(req["headers"]["Content-Type"], "application/x-www-form-urlencoded", name)
            check("q" not in req["params"], name)
        if "time >= 1596240000000ms and time <=" in q:
            n_tf += 1
        check("description" in fx and "expect" in fx, name)
    check(n_tf >= 8, "panel fixtures with Grafana's time filter: %d" % n_tf)


def tiny_yaml(text):
    """The YAML subset a provisioning file uses: maps, lists of maps,
    scalars (str, int, bool), comments."""
    lines = []
    for raw in text.splitlines():
        s = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if s.strip():
            lines.append((len(s) - len(s.lstrip()), s.strip()))

    def scalar(v):
        if v in ("true", "false"):
            return v == "true"
        try:
            return int(v)
        except ValueError:
            return v.strip("'\"")

    def block(i, ind):
        if lines[i][1].startswith("- "):
            out = []
            while i < len(lines) and lines[i][0] == ind and lines[i][1].startswith("- "):
                # the item's first key sits at ind + 2
                lines[i] = (ind + 2, lines[i][1][2:])
                item, i = block(i, ind + 2)
                out.append(item)
            return out, i
        out = {}
        while i < len(lines) and lines[i][0] == ind and not lines[i][1].startswith("- "):
            k, _, v = lines[i][1].partition(":")
            v = v.strip()
            i += 1
            if v:
                out[k.strip()] = scalar(v)
            elif i < len(lines) and lines[i][0] > ind:
                out[k.strip()], i = block(i, lines[i][0])
            else:
                out[k.strip()] = None
        return out, i

    return block(0, 0)[0]


def test_provisioning_file():
    path = os.path.join(ROOT, "tools", "grafana", "strata-datasource.yaml")
    with open(path) as f:
        text = f.read()
    doc = tiny_yaml(text)
    try:
        import yaml  # PyYAML, when installed, must read the same thing
        eq(yaml.safe_load(text), doc, "PyYAML vs the tiny parser")
    except ImportError:
        pass
    # what Grafana's provisioning (pkg/services/provisioning/datasources) reads
    eq(doc["apiVersion"], 1)
    ds = doc["datasources"]
    check(isinstance(ds, list) and len(ds) == 1, "one data source")
    d = ds[0]
    for k, t in (("name", str), ("type", str), ("access", str), ("url", str), ("database", str),
                 ("jsonData", dict)):
        check(isinstance(d.get(k), t), "datasources[0].%s must be a %s: %r" % (k, t.__name__, d.get(k)))
    eq(d["type"], "influxdb")
    eq(d["access"], "proxy")
    eq(d["url"], "http://127.0.0.1:8086")
    check(d["jsonData"]["httpMode"] in ("GET", "POST"), "httpMode")
    eq(d["jsonData"]["httpMode"], "GET")
    for k in ("isDefault", "editable"):
        check(isinstance(d.get(k, False), bool), k)
    known = {"name", "type", "access", "url", "database", "user", "basicAuth", "basicAuthUser", "isDefault",
             "editable", "jsonData", "secureJsonData", "uid", "orgId", "version", "withCredentials"}
    check(set(d) <= known, "unknown keys: %s" % (set(d) - known))
    # and the URL answers as Grafana's health check expects, on the port we got
    s = Server()
    populate(s)
    st, body = send(s, {"method": "GET", "path": "/query",
                        "params": {"db": "grafana", "epoch": "ms", "q": "SHOW measurements"}})
    eq(st, 200)
    eq(len(body["results"][0]["series"][0]["values"]), 3)


if __name__ == "__main__":
    run_tests(globals())
