#!/usr/bin/env python3
"""tests/run.py — the test runner behind `make test`.

Runs, in order: every unit-test binary (build/tests/unit/test_*), every
fuzz-corpus replay (build/tests/fuzz/replay_X over tests/fuzz/corpus/X), and
every integration script (tests/integration/test_*.py, which start the real
$STRATAD). Each prints "PASS name" / "FAIL name" lines; a program that exits
non-zero without a FAIL line counts as one failure. Ends with the line
"N passed, N failed" and exits non-zero if anything failed.
"""
import argparse
import concurrent.futures
import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_one(kind, name, cmd, timeout, env=None):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=env)
        out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") + f"\nTIMEOUT after {timeout}s\n"
        rc = -1
    passed = failed = 0
    for line in out.splitlines():
        if line.startswith("PASS "):
            passed += 1
        elif line.startswith("FAIL "):
            failed += 1
    if rc != 0 and failed == 0:
        failed = 1
    return kind, name, passed, failed, out, rc, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", default="unit,fuzz,integration")
    ap.add_argument("-k", default="", help="run only jobs whose name contains this")
    ap.add_argument("-v", action="store_true", help="print every job's output")
    args = ap.parse_args()
    only = set(args.only.split(","))
    build = os.path.join(ROOT, args.build)
    env = dict(os.environ)
    env.setdefault("STRATAD", os.path.join(build, "stratad"))
    env.setdefault("STRATA", os.path.join(build, "strata"))
    env["PYTHONPATH"] = os.path.join(ROOT, "tests", "integration")

    jobs = []
    if "unit" in only:
        for b in sorted(glob.glob(os.path.join(build, "tests/unit/test_*"))):
            if os.access(b, os.X_OK) and not b.endswith((".o", ".d")):
                jobs.append(("unit", os.path.basename(b), [b], 600))
    if "fuzz" in only:
        for b in sorted(glob.glob(os.path.join(build, "tests/fuzz/replay_*"))):
            if b.endswith((".o", ".d")):
                continue
            name = os.path.basename(b)[len("replay_"):]
            corpus = os.path.join(ROOT, "tests/fuzz/corpus", name)
            if os.path.isdir(corpus):
                jobs.append(("fuzz", name, [b, corpus], 600))
    if "integration" in only:
        for s in sorted(glob.glob(os.path.join(ROOT, "tests/integration/test_*.py"))):
            jobs.append(("integration", os.path.basename(s), [sys.executable, s], 900))
    if args.k:
        jobs = [j for j in jobs if args.k in j[1]]

    total_pass = total_fail = 0
    t0 = time.time()
    workers = max(1, min(2, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        futs = [ex.submit(run_one, k, n, c, t, env) for k, n, c, t in jobs]
        for f in futs:
            kind, name, p, fl, out, rc, dt = f.result()
            total_pass += p
            total_fail += fl
            status = "ok" if fl == 0 else "FAILED"
            print(f"{kind:12s} {name:40s} {p:5d} passed {fl:3d} failed  {dt:6.1f}s  {status}")
            if fl or args.v:
                for line in out.splitlines():
                    if not line.startswith("PASS "):
                        print("    " + line)
            sys.stdout.flush()
    print(f"suite time {time.time() - t0:.1f}s")
    print(f"{total_pass} passed, {total_fail} failed")
    return 1 if total_fail or not jobs else 0


if __name__ == "__main__":
    sys.exit(main())
