#!/usr/bin/env python3
"""tools/bench/nab2lp.py — NAB CSV files to InfluxDB line protocol.

    python3 tools/bench/nab2lp.py NAB_DIR [--output FILE]

Walks NAB_DIR (the Numenta Anomaly Benchmark's data/real* layout: folders of
CSV files `timestamp,value` with a header line and timestamps
`YYYY-MM-DD HH:MM:SS` in UTC) in sorted order and writes one line per row:

    nab,series=<file name without .csv> value=<value text as in the CSV> <ns>

The value text is copied unchanged (no 'i' suffix, so every value is a
float), so the reader of the line protocol sees exactly the CSV's numbers.
Rows whose value is empty or not a finite number are skipped and counted on
stderr. Used by the `disk` section of tools/bench/run.sh (NAB_DIR=...).
"""
import calendar
import math
import os
import sys
import time


def lp_tag(s):
    out = []
    for ch in s:
        if ch in ",= ":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def convert(nab_dir, out):
    files = []
    for root, dirs, names in os.walk(nab_dir):
        dirs.sort()
        for n in sorted(names):
            if n.endswith(".csv"):
                files.append(os.path.join(root, n))
    rows = skipped = 0
    seen = set()
    for path in files:
        series = os.path.basename(path)[:-4]
        if series in seen:  # the same file name in two folders: keep both apart
            series = os.path.basename(os.path.dirname(path)) + "/" + series
        seen.add(series)
        prefix = "nab,series=" + lp_tag(series) + " value="
        with open(path, encoding="utf-8") as f:
            header = f.readline()
            if not header.lower().startswith("timestamp"):
                f.seek(0)
            lines = []
            for line in f:
                line = line.strip()
                if not line:
                    continue
                ts, _, val = line.partition(",")
                val = val.strip()
                try:
                    fv = float(val)
                    tt = time.strptime(ts.strip()[:19], "%Y-%m-%d %H:%M:%S")
                except ValueError:
                    skipped += 1
                    continue
                if not math.isfinite(fv):
                    skipped += 1
                    continue
                lines.append("%s%s %d\n" % (prefix, val, calendar.timegm(tt) * 1000000000))
                rows += 1
            out.write("".join(lines))
    sys.stderr.write("nab2lp: files=%d rows=%d skipped=%d\n" % (len(files), rows, skipped))
    return 0 if rows else 1


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: nab2lp.py NAB_DIR [--output FILE]\n")
        return 2
    if len(argv) == 4 and argv[2] == "--output":
        with open(argv[3], "w", encoding="utf-8") as out:
            return convert(argv[1], out)
    if len(argv) != 2:
        sys.stderr.write("usage: nab2lp.py NAB_DIR [--output FILE]\n")
        return 2
    return convert(argv[1], sys.stdout)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
