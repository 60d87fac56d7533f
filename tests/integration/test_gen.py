#!/usr/bin/env python3
"""tests/integration/test_gen.py — `strata gen cpu` (the benchmark data generator).

Runs $STRATA gen with small sizes and checks: byte-identical output for the
same arguments (stdout and --output), a different seed differs, line count,
the 10 TSBS tags and 10 fields on every line, values in [0, 100] moving at
most 1 per step, timestamps 10 s apart from 2016-01-01, --decimals, --start,
--interval, --format csv, that bad arguments fail with a message, and
`strata gen plant`'s shape (fields, resolutions, counter, lab lines, quality).
Prints PASS/FAIL per check; exits 1 on any failure.
"""
import os
import re
import subprocess
import sys
import tempfile

STRATA = os.environ.get("STRATA", "build/strata")
T0 = 1451606400000000000
STEP = 10_000_000_000
TAGS = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service",
        "service_version", "service_environment"]
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
          "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
REGIONS = {"us-east-1", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1",
           "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"}
FLOAT_RE = re.compile(r"^-?\d+(\.\d+)?(e[+-]\d+)?$")

failures = 0


def report(name, ok, why=""):
    global failures
    if ok:
        print(f"PASS {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}")
    sys.stdout.flush()


def gen(*args, check=True):
    p = subprocess.run([STRATA, "gen", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError(f"strata gen {' '.join(args)} exited {p.returncode}: "
                           f"{p.stderr.decode(errors='replace').strip()}")
    return p


def parse_lp(line):
    """Returns (measurement, {tag: value}, {field: text}, ts) of one generated line."""
    head, fields, ts = line.split(" ")
    parts = head.split(",")
    tags = dict(kv.split("=", 1) for kv in parts[1:])
    vals = dict(kv.split("=", 1) for kv in fields.split(","))
    return parts[0], tags, vals, int(ts), [kv.split("=", 1)[0] for kv in parts[1:]], \
        [kv.split("=", 1)[0] for kv in fields.split(",")]


def check(name, fn):
    try:
        why = fn()
        report(name, not why, why or "")
    except Exception as e:  # a crash in one check must not hide the others
        report(name, False, f"{type(e).__name__}: {e}")


HOSTS, POINTS = 7, 25
BASE = ["cpu", "--hosts", str(HOSTS), "--points", str(POINTS), "--seed", "42"]


def t_deterministic():
    a, b = gen(*BASE).stdout, gen(*BASE).stdout
    if not a:
        return "empty output"
    if a != b:
        return "two runs differ"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "out.lp")
        p = gen(*BASE, "--output", path)
        if p.stdout:
            return "--output also wrote to stdout"
        with open(path, "rb") as f:
            if f.read() != a:
                return "--output file differs from stdout"
    return None


def t_seed_differs():
    a = gen(*BASE).stdout
    b = gen("cpu", "--hosts", str(HOSTS), "--points", str(POINTS), "--seed", "43").stdout
    return "seed 42 and 43 give the same output" if a == b else None


def t_host_independent():
    # Host i's data does not depend on how many hosts are generated.
    small = gen("cpu", "--hosts", "2", "--points", "3", "--seed", "5").stdout.decode().splitlines()
    big = gen("cpu", "--hosts", "4", "--points", "3", "--seed", "5").stdout.decode().splitlines()
    want = [big[t * 4 + h] for t in range(3) for h in range(2)]
    return None if small == want else "host 0/1 lines change with --hosts"


def t_shape():
    lines = gen(*BASE).stdout.decode().split("\n")
    if lines[-1] != "":
        return "output does not end with a newline"
    lines = lines[:-1]
    if len(lines) != HOSTS * POINTS:
        return f"{len(lines)} lines, want {HOSTS * POINTS}"
    first_tags = {}
    prev = {}
    for k, line in enumerate(lines):
        m, tags, vals, ts, tag_order, field_order = parse_lp(line)
        t, h = divmod(k, HOSTS)
        if m != "cpu":
            return f"line {k + 1}: measurement {m!r}"
        if tag_order != TAGS:
            return f"line {k + 1}: tags {tag_order}"
        if field_order != FIELDS:
            return f"line {k + 1}: fields {field_order}"
        if tags["hostname"] != f"host_{h}":
            return f"line {k + 1}: hostname {tags['hostname']}, want host_{h}"
        if ts != T0 + t * STEP:
            return f"line {k + 1}: timestamp {ts}, want {T0 + t * STEP}"
        if tags["region"] not in REGIONS or not tags["datacenter"].startswith(tags["region"]) \
                or not re.fullmatch(r"[a-z]", tags["datacenter"][len(tags["region"]):]):
            return f"line {k + 1}: region/datacenter {tags['region']}/{tags['datacenter']}"
        if not (0 <= int(tags["rack"]) <= 99 and 0 <= int(tags["service"]) <= 19
                and tags["service_version"] in ("0", "1")
                and tags["os"] in ("Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10")
                and tags["arch"] in ("x64", "x86") and tags["team"] in ("SF", "NYC", "LON", "CHI")
                and tags["service_environment"] in ("production", "staging", "test")):
            return f"line {k + 1}: tag value out of vocabulary: {tags}"
        if first_tags.setdefault(h, tags) != tags:
            return f"line {k + 1}: host_{h}'s tags changed over time"
        for f, text in vals.items():
            if not FLOAT_RE.match(text):
                return f"line {k + 1}: {f}={text} is not a plain float"
            v = float(text)
            if not 0.0 <= v <= 100.0:
                return f"line {k + 1}: {f}={v} outside [0, 100]"
            if (h, f) in prev and abs(v - prev[(h, f)]) > 1.0 + 1e-9:
                return f"line {k + 1}: {f} stepped {v - prev[(h, f)]}, more than 1"
            prev[(h, f)] = v
    return None


def t_decimals():
    full = gen(*BASE).stdout.decode().splitlines()
    two = gen(*BASE, "--decimals", "2").stdout.decode().splitlines()
    if len(full) != len(two):
        return "line counts differ"
    for k, (a, b) in enumerate(zip(full, two)):
        _, ta, va, tsa, _, _ = parse_lp(a)
        _, tb, vb, tsb, _, _ = parse_lp(b)
        if ta != tb or tsa != tsb:
            return f"line {k + 1}: tags or time differ from the full-precision run"
        for f in FIELDS:
            if not re.fullmatch(r"\d+(\.\d{1,2})?", vb[f]):
                return f"line {k + 1}: {f}={vb[f]} has more than 2 decimals"
            if vb[f].endswith("0") and "." in vb[f]:
                return f"line {k + 1}: {f}={vb[f]} has a trailing zero"
            # The walk runs at full precision; only printing rounds.
            if abs(float(vb[f]) - float(va[f])) > 0.005 + 1e-9:
                return f"line {k + 1}: {f}={vb[f]} is not {va[f]} rounded"
    zero = gen("cpu", "--hosts", "2", "--points", "3", "--decimals", "0").stdout.decode()
    for line in zero.splitlines():
        for f, text in parse_lp(line)[2].items():
            if not text.isdigit():
                return f"--decimals 0: {f}={text}"
    return None


def t_start_interval():
    a = gen("cpu", "--hosts", "2", "--points", "3", "--start", "2020-05-01T12:00:00Z",
            "--interval", "1m").stdout.decode().splitlines()
    b = gen("cpu", "--hosts", "2", "--points", "3", "--start", "1588334400000000000",
            "--interval", "60s").stdout.decode().splitlines()
    if a != b:
        return "RFC3339 and ns --start (or 1m and 60s) differ"
    ts = [parse_lp(x)[3] for x in a]
    want = [1588334400000000000 + (k // 2) * 60_000_000_000 for k in range(6)]
    return None if ts == want else f"timestamps {ts}, want {want}"


def t_csv():
    out = gen(*BASE, "--format", "csv", "--decimals", "3").stdout.decode().splitlines()
    lp = gen(*BASE, "--decimals", "3").stdout.decode().splitlines()
    if out[0].split(",") != ["time"] + TAGS + FIELDS:
        return f"header {out[0]!r}"
    if len(out) != 1 + HOSTS * POINTS:
        return f"{len(out)} rows, want {1 + HOSTS * POINTS}"
    for k, (row, line) in enumerate(zip(out[1:], lp)):
        cols = row.split(",")
        _, tags, vals, ts, _, _ = parse_lp(line)
        if cols != [str(ts)] + [tags[t] for t in TAGS] + [vals[f] for f in FIELDS]:
            return f"row {k + 1} does not match line protocol: {row!r} vs {line!r}"
    return None


def t_bad_args():
    cases = [
        (["cpu", "--points", "10"], "--hosts"),
        (["cpu", "--hosts", "0", "--points", "10"], "--hosts"),
        (["cpu", "--hosts", "-3", "--points", "10"], "--hosts"),
        (["cpu", "--hosts", "2"], "--points"),
        (["cpu", "--hosts", "2", "--points", "10", "--bogus", "1"], "--bogus"),
        (["cpu", "--hosts", "2", "--points", "10", "--decimals", "99"], "--decimals"),
        (["cpu", "--hosts", "2", "--points", "10", "--interval", "soon"], "--interval"),
        (["cpu", "--hosts", "2", "--points", "10", "--start", "yesterday"], "--start"),
        (["cpu", "--hosts", "2", "--points", "10", "--format", "xml"], "--format"),
        (["cpu", "--hosts", "2", "--points", "10", "--seed"], "--seed"),
        (["cpu", "--hosts", "2", "--points", "10", "--output", "/nonexistent-dir/x.lp"], "x.lp"),
        (["weather", "--hosts", "2", "--points", "10"], "weather"),
        ([], "usage"),
    ]
    for args, word in cases:
        p = gen(*args, check=False)
        err = p.stderr.decode(errors="replace")
        if p.returncode == 0:
            return f"strata gen {' '.join(args)} exited 0"
        if word not in err:
            return f"strata gen {' '.join(args)}: message {err.strip()!r} does not name {word!r}"
        if p.stdout:
            return f"strata gen {' '.join(args)} wrote to stdout"
    p = gen("--help", check=False)
    if p.returncode != 0 or b"--hosts" not in p.stdout:
        return "strata gen --help does not print usage"
    return None


def t_plant():
    args = ["plant", "--units", "5", "--points", "1000", "--seed", "3", "--interval", "1m"]
    a, b = gen(*args).stdout, gen(*args).stdout
    if a != b:
        return "two runs differ"
    lines = a.decode().splitlines()
    plant = [x for x in lines if x.startswith("plant,")]
    lab = [x for x in lines if x.startswith("lab,")]
    if len(plant) != 5000 or len(plant) + len(lab) != len(lines):
        return f"{len(plant)} plant lines, {len(lab)} lab, {len(lines)} in all"
    # 1000 minutes from midnight: lab samples at 0, 6 h and 12 h for each unit.
    if len(lab) != 15:
        return f"{len(lab)} lab lines, want 15"
    last_ts, energy = T0, {}
    want = ["temperature", "pressure", "flow", "vibration", "running", "energy", "mode"]
    for k, line in enumerate(plant):
        m, tags, vals, ts, tag_order, field_order = parse_lp(line)
        if tag_order != ["site", "area", "unit"] or field_order[:7] != want:
            return f"line {k + 1}: {tag_order} {field_order}"
        if field_order[7:] not in ([], ["quality"]):
            return f"line {k + 1}: extra fields {field_order[7:]}"
        if "quality" in vals and vals["quality"] not in ("2147483648i", "1083179008i"):
            return f"line {k + 1}: quality {vals['quality']}"
        if ts != T0 + (k // 5) * 60_000_000_000 or ts < last_ts:
            return f"line {k + 1}: timestamp {ts}"
        last_ts = ts
        if not vals["energy"].endswith("i") or int(vals["energy"][:-1]) < energy.get(tags["unit"], 0):
            return f"line {k + 1}: energy {vals['energy']} not a growing counter"
        energy[tags["unit"]] = int(vals["energy"][:-1])
        if vals["running"] not in ("true", "false") or vals["mode"] not in ('"auto"', '"manual"'):
            return f"line {k + 1}: running/mode {vals['running']} {vals['mode']}"
        for f, dec in (("temperature", 1), ("pressure", 2), ("flow", 3), ("vibration", 2)):
            if not re.fullmatch(r"-?\d+(\.\d{1,%d})?" % dec, vals[f]):
                return f"line {k + 1}: {f}={vals[f]} has more than {dec} decimals"
    for args, word in ((["plant", "--units", "2"], "--points"), (["plant", "--points", "2"], "--units"),
                       (["plant", "--hosts", "2", "--points", "2"], "--hosts"),
                       (["plant", "--units", "2", "--points", "2", "--decimals", "1"], "--decimals")):
        p = gen(*args, check=False)
        if p.returncode == 0 or word not in p.stderr.decode(errors="replace"):
            return f"strata gen {' '.join(args)}: rc {p.returncode}, {p.stderr!r}"
    return None


def main():
    check("gen_deterministic", t_deterministic)
    check("gen_seed_differs", t_seed_differs)
    check("gen_host_independent", t_host_independent)
    check("gen_shape_tags_fields_times", t_shape)
    check("gen_decimals", t_decimals)
    check("gen_start_interval", t_start_interval)
    check("gen_csv", t_csv)
    check("gen_bad_args", t_bad_args)
    check("gen_plant", t_plant)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
