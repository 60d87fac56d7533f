#!/usr/bin/env python3
"""tools/bench/sparse.py — report-by-exception historian data as line protocol.

    python3 tools/bench/sparse.py [--tags 2000] [--days 7] [--min-per-hour 1]
                                  [--max-per-hour 10] [--seed 1]
                                  [--start 1451606400] [--output FILE]

What an OPC UA / PI-style historian receives from a plant that reports by
exception: many tags, each sending a new value only when it changed beyond
its deadband, a few times an hour. Each tag is one series

    sparse,tag=T00042,unit=<kind> value=<v> <ns>

Per tag (all from one seeded PRNG, so a seed gives the same file):
  - a kind with a resolution the value is quantized to: temperature 0.1,
    pressure 0.01, level 0.5, flow 1, valve position 5 (percent), a 0/1
    switch;
  - every hour, k changes with k uniform in [min-per-hour, max-per-hour], at
    random millisecond offsets inside the hour (source timestamps of an
    exception-reporting server are irregular);
  - the value is a bounded random walk, rounded to the resolution, and
    changed by at least one step each time (a report means a change).
Lines are written in time order across tags, as a collector would forward
them. Values are printed with repr() of the quantized double, the shortest
text that parses back to it. The last line on stderr counts lines/values.
"""
import random
import sys

KINDS = (  # name, resolution, decimals, low, high
    ("temperature", 0.1, 1, 0.0, 400.0),
    ("pressure", 0.01, 2, 0.0, 25.0),
    ("level", 0.5, 1, 0.0, 100.0),
    ("flow", 1.0, 0, 0.0, 5000.0),
    ("valve", 5.0, 0, 0.0, 100.0),
    ("switch", 1.0, 0, 0.0, 1.0),
)


def parse_args(argv):
    o = {"tags": 2000, "days": 7, "min-per-hour": 1, "max-per-hour": 10, "seed": 1,
         "start": 1451606400, "output": None}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help") or not a.startswith("--") or a[2:] not in o or i + 1 >= len(argv):
            sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
            sys.exit(2)
        k = a[2:]
        o[k] = argv[i + 1] if k == "output" else int(argv[i + 1])
        i += 2
    if o["tags"] < 1 or o["days"] < 1 or not 1 <= o["min-per-hour"] <= o["max-per-hour"] <= 3600:
        sys.stderr.write("sparse.py: need tags >= 1, days >= 1, 1 <= min-per-hour <= max-per-hour <= 3600\n")
        sys.exit(2)
    return o


def main(argv):
    o = parse_args(argv)
    rng = random.Random(o["seed"])
    tags = []
    for i in range(o["tags"]):
        kind = KINDS[rng.randrange(len(KINDS))]
        name, res, dec, lo, hi = kind
        steps = int(round((hi - lo) / res))
        pos = rng.randrange(steps + 1)
        prefix = "sparse,tag=T%05d,unit=%s value=" % (i, name)
        tags.append([prefix, kind, steps, pos])
    out = open(o["output"], "w", encoding="utf-8") if o["output"] else sys.stdout
    hour_ns = 3600 * 10**9
    t0 = o["start"] * 10**9
    lines = 0
    for h in range(o["days"] * 24):
        base = t0 + h * hour_ns
        ev = []
        for ti, t in enumerate(tags):
            k = rng.randint(o["min-per-hour"], o["max-per-hour"])
            for off in sorted(rng.sample(range(3600 * 1000), k)):
                ev.append((off, ti))
        ev.sort()
        buf = []
        for off, ti in ev:
            t = tags[ti]
            _, (name, res, dec, lo, hi), steps, pos = t
            if steps <= 1:
                pos = 1 - pos
            else:
                d = 0
                while d == 0:
                    d = int(round(rng.gauss(0, 3)))
                pos = min(max(pos + d, 0), steps)
                if pos == t[3]:
                    pos = t[3] - d if 0 <= t[3] - d <= steps else t[3] + (1 if t[3] < steps else -1)
            t[3] = pos
            v = round(lo + pos * res, dec)
            if dec == 0:
                v = float(int(v))
            buf.append("%s%r %d\n" % (t[0], v, base + off * 1000000))
        out.write("".join(buf))
        lines += len(buf)
    if out is not sys.stdout:
        out.close()
    sys.stderr.write("sparse: tags=%d hours=%d lines=%d values=%d\n" % (o["tags"], o["days"] * 24, lines, lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
