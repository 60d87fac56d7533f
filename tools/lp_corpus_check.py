#!/usr/bin/env python3
"""tools/lp_corpus_check.py — run InfluxData's line-protocol corpus through
Strata's parser and report where we agree.

    python3 tools/lp_corpus_check.py PATH/corpus.json [--helper BIN] [-v] [--show N]

Reads the corpus's "decode" cases (all of them, fuzz-derived ones included),
feeds each to the C helper tools/bench/lp_corpus.c (built as
build/bench/lp_corpus by `make bench`; if absent it is compiled into a
temporary folder with cc), and compares: a case the corpus expects to fail
must give at least one error (the corpus fails a whole case on one bad
line); a good case must give the same points (time, measurement, tags,
fields with types and values, in order) and no error.

Prints "agreed N, disagreed N" and the disagreements grouped by reason. The
corpus follows the strict lp/v2 Go library, so some disagreements are the
divergences of PROTOCOLS.md §1.6 where we follow the InfluxDB server; each
group says which. Not part of `make test` (the corpus is not in the repo).
"""
import argparse
import base64
import collections
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREC = {"1ns": "ns", "1µs": "us", "1us": "us", "1ms": "ms", "1s": "s"}
HELPER_SRC = ["tools/bench/lp_corpus.c", "ingest/lp.c", "common/alloc.c", "common/arena.c",
              "common/buf.c", "common/err.c", "common/num.c", "common/point.c"]
MULT = {"ns": 1, "us": 1000, "ms": 1000000, "s": 1000000000}


def find_helper(explicit):
    if explicit:
        return explicit
    for b in ("build", "build-lp"):
        p = os.path.join(ROOT, b, "bench", "lp_corpus")
        if os.access(p, os.X_OK):
            return p
    out = os.path.join(tempfile.mkdtemp(prefix="lp_corpus."), "lp_corpus")
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-std=c11", "-D_GNU_SOURCE", "-O2", "-I", ROOT, "-o", out] + \
          [os.path.join(ROOT, s) for s in HELPER_SRC] + ["-lm"]
    subprocess.run(cmd, check=True)
    return out


def case_bytes(inp):
    t = inp["text"]
    if isinstance(t, dict):
        return base64.b64decode(t["binary"])
    return t.encode("utf-8", "surrogateescape")


def norm_expected(res):
    out = []
    for p in res:
        tags = [(t["key"].encode(), t["value"].encode()) for t in p.get("tags") or []]
        fields = []
        for f in p.get("fields") or []:
            (typ, val), = f["value"].items()
            if typ == "string":
                val = val.encode()
            elif typ == "float":
                val = float(val)
            fields.append((f["key"].encode(), typ, val))
        out.append((p["time"], p["name"].encode(), tags, fields))
    return out


def norm_ours(lines):
    out = []
    for l in lines:
        tags = [(bytes.fromhex(k), bytes.fromhex(v)) for k, v in l["tags"]]
        fields = []
        for k, typ, val in l["fields"]:
            if typ == "string":
                val = bytes.fromhex(val)
            elif typ == "float":
                val = float(val)
            fields.append((bytes.fromhex(k), typ, val))
        out.append((l["t"], bytes.fromhex(l["m"]), tags, fields))
    return out


def has_ctrl(data):
    return any((c < 0x20 or c == 0x7f) and c not in (0x0a, 0x0d) for c in data)


def invalid_utf8(data):
    try:
        data.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


def classify(data, exp_err, ours, exp, got):
    """A reason for a disagreement; the §1.6 divergence it falls under when it does."""
    our_err = bool(ours["errors"])
    errs = [bytes.fromhex(e).decode("utf-8", "replace") for e in ours["errors"]]
    if exp_err and not our_err:
        if has_ctrl(data):
            return "corpus rejects control characters (TAB, VT, NUL...) in names/leading; the server keeps them literally [§1.6 TAB/non-printable]"
        if invalid_utf8(data):
            return "corpus rejects invalid UTF-8; we pass bytes through (server: 1.x drops such keys only at the storage layer) [§1.2 UTF-8]"
        if b"\r" in data:
            return "corpus rejects a CR that we drop or keep [§1.6 CRLF]"
        return "corpus error, we accept: OTHER (investigate)"
    if not exp_err and our_err:
        e = errs[0]
        if "time outside range" in e and (b"9223372036854775807" in data or b"9223372036854775808" in data):
            return "timestamp at the int64 sentinel: server rejects [§1.6 9223372036854775807]"
        if b"_" in data and "invalid number" in e:
            return "1_000-style float: server rejects (Go ParseFloat quirk in lp/v2) [§1.6 1_000]"
        if "duplicate tags" in e:
            return "duplicate tag keys: server rejects [§1.6 duplicate tags]"
        if "missing tag value" in e:
            return "empty tag value: server rejects ('missing tag value') [§1.5]"
        if "time" in e and ("invalid field name" in e or "invalid tag key" in e):
            return "field/tag key 'time': server strips/rejects [§1.5 reserved names]"
        return "corpus accepts, we reject: OTHER (investigate): " + e.split("': ", 1)[-1][:60]
    # both accepted, different points
    if len(exp) == len(got):
        for (et, en, etags, ef), (gt, gn, gtags, gf) in zip(exp, got):
            if et != gt:
                return "different timestamp: OTHER (investigate)"
            if en != gn or etags != gtags:
                if sorted(etags) == gtags:
                    return "tag order: we sort by key [§1.6 unsorted tags]"
                return "different measurement/tags: OTHER (investigate)"
            if ef != gf:
                keys = [k for k, _, _ in ef]
                if len(set(keys)) != len(keys):
                    return "duplicate field key: we keep only the last (server's Fields() map) [§1.5]"
                if any(k == b"time" for k in keys):
                    return "field key 'time' stripped [§1.5 reserved names]"
                for (k1, t1, v1), (k2, t2, v2) in zip(ef, gf):
                    if t1 == "string" and t2 == "string" and v1 != v2 and b"\\" in v2:
                        return "string escapes \\n \\t \\r: server keeps the backslash [§1.6 \"a\\nb\"]"
                return "different fields: OTHER (investigate)"
    return "different point count: OTHER (investigate)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--helper")
    ap.add_argument("--show", type=int, default=2, help="examples printed per group")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    with open(args.corpus, encoding="utf-8") as f:
        decode = json.load(f)["decode"]
    keys = sorted(decode)
    helper = find_helper(args.helper)

    payload = bytearray()
    for k in keys:
        inp = decode[k]["input"]
        data = case_bytes(inp)
        prec = PREC.get(inp.get("precision", "1ns"), "ns")
        # lp.h: the caller truncates the default time to the precision (InfluxDB does).
        dt = int(inp.get("defaultTime", 0))
        dt -= dt % MULT[prec] if dt >= 0 else -((-dt) % MULT[prec])
        payload += f"{prec} {dt} {len(data)}\n".encode() + data
    p = subprocess.run([helper], input=bytes(payload), stdout=subprocess.PIPE, check=True)
    outs = p.stdout.decode().splitlines()
    if len(outs) != len(keys):
        print(f"lp_corpus_check: helper answered {len(outs)} of {len(keys)} cases", file=sys.stderr)
        return 2

    agreed = 0
    groups = collections.defaultdict(list)
    by_impl = collections.Counter()
    for k, line in zip(keys, outs):
        case = decode[k]
        data = case_bytes(case["input"])
        ours = json.loads(line)
        exp_err = "error" in case["output"]
        got = norm_ours(ours["lines"])
        exp = [] if exp_err else norm_expected(case["output"]["result"])
        if exp_err:
            ok = bool(ours["errors"])
        else:
            ok = not ours["errors"] and got == exp
        if ok:
            agreed += 1
            continue
        reason = classify(data, exp_err, ours, exp, got)
        groups[reason].append((k, data, case["output"], ours))
        by_impl[case["input"].get("implementation", "?")] += 1

    disagreed = sum(len(v) for v in groups.values())
    print(f"lp_corpus_check: {len(keys)} decode cases: agreed {agreed}, disagreed {disagreed}")
    print(f"disagreements by case origin: {dict(by_impl)}")
    for reason, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(items):5d}  {reason}")
        for k, data, exp, ours in items[:args.show if not args.v else len(items)]:
            errs = [bytes.fromhex(e).decode("utf-8", "replace") for e in ours["errors"]]
            print(f"         {k}: {data[:100]!r}")
            print(f"           corpus: {json.dumps(exp)[:200]}")
            print(f"           ours:   {errs[:1] if errs else ours['lines'][:1]}"[:300])
    other = sum(len(v) for r, v in groups.items() if "OTHER" in r)
    print(f"unexplained (OTHER): {other}")
    return 1 if other else 0


if __name__ == "__main__":
    sys.exit(main())
