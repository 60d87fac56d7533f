#!/usr/bin/env python3
"""The storage engine against the real stratad and `strata check`:
flush + compaction + SIGKILL at random moments (20 times), the directory
checked clean after each; a flipped byte in a segment block (reported by
the log and by strata check, other blocks still served, server up); ENOSPC
while flushing (retried, nothing lost); EIO on a segment fsync (read-only,
nothing acknowledged lost)."""
import glob
import os
import random
import subprocess
import threading
import time

from harness import STRATA, Server, check, eq, run_tests


def strata_check(data):
    p = subprocess.run([STRATA, "check", data], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def ints(s, m="m"):
    return sorted(v[1] for v in s.values("SELECT v FROM %s" % m))


def test_kill9_with_flush_and_compaction_20_times():
    s = Server("--max-head-bytes", "128KiB", "--wal-fsync", "group")
    rnd = random.Random(5)
    acked, sent = set(), set()
    nxt = [0]

    def writer(stop):
        c = s.conn(timeout=5)
        while not stop.is_set():
            i = nxt[0]
            nxt[0] += 500
            lines = "".join("m,h=%d v=%di %d\n" % (k % 3, k, k) for k in range(i, i + 500))
            sent.update(range(i, i + 500))
            try:
                st, _, _ = s.write(lines, conn=c)
            except Exception:
                return
            if st == 204:
                acked.update(range(i, i + 500))
            time.sleep(0.002)

    for round_ in range(20):
        stop = threading.Event()
        t = threading.Thread(target=writer, args=(stop,))
        t.start()
        time.sleep(0.15 + rnd.random() * 0.35)
        s.kill9()
        stop.set()
        t.join()
        rc, out = strata_check(s.data)
        eq(rc, 0, "round %d: strata check after kill -9: %s" % (round_, out))
        s.start()
        got = ints(s)
        missing = acked - set(got)
        check(not missing, "round %d: %d acknowledged points missing, e.g. %s" % (round_, len(missing), sorted(missing)[:5]))
        check(set(got) <= sent, "round %d: invented points" % round_)
        eq(len(got), len(set(got)), "round %d: duplicates" % round_)
    log = s.read_log()
    check("flushed points=" in log and "compacted" in log, "flushes and compactions happened")
    check(len(glob.glob(os.path.join(s.data, "db", "*", "*", "*.seg"))) >= 1, "segment files exist")
    eq(s.stop(), 0)
    rc, out = strata_check(s.data)
    eq(rc, 0, "strata check after a clean stop: " + out)


def test_flipped_byte_in_a_block():
    s = Server()
    body = "".join("m,h=%d v=%di %d\n" % (k % 2, k, k) for k in range(20000))
    eq(s.write(body)[0], 204)
    eq(s.request("POST", "/internal/force_merge")[0], 204)
    eq(len(ints(s)), 20000)
    s.stop()
    rc, out = strata_check(s.data)
    eq(rc, 0, out)
    segs = glob.glob(os.path.join(s.data, "db", "*", "*", "*.seg"))
    eq(len(segs), 1, "one merged file")
    data = bytearray(open(segs[0], "rb").read())
    # The index and footer sit at the end; a quarter into the file is a block.
    data[len(data) // 4] ^= 0xFF
    open(segs[0], "wb").write(data)
    rc, out = strata_check(s.data)
    eq(rc, 1, "strata check finds the damage")
    check("DAMAGE" in out and os.path.basename(segs[0]) in out and "CRC" in out, out)
    s.start()
    got = ints(s)
    check(8000 <= len(got) < 20000, "the other blocks are served: %d" % len(got))
    check("corrupt block not served" in s.read_log(), "logged")
    eq(s.request("GET", "/ping")[0], 204, "server up")
    eq(s.write("m,h=9 v=1i 999999\n")[0], 204, "still writable")


def test_enospc_while_flushing_is_retried():
    # fsync #0 is the WAL segment's creation; #1 is the first segment file's.
    s = Server("--max-head-bytes", "128KiB", env={"STRATA_TEST_FAULT": "fsync:1:ENOSPC"})
    for b in range(20):
        eq(s.write("".join("m v=%di %d\n" % (k, k) for k in range(b * 1000, b * 1000 + 1000)))[0], 204)
    deadline = time.time() + 20
    while "flushed points=" not in s.read_log() and time.time() < deadline:
        time.sleep(0.1)
    log = s.read_log()
    check("no space left" in log and "retrying later" in log, "the failed flush is logged: " + log[-800:])
    check("flushed points=" in log, "a later flush succeeded: " + log[-800:])
    eq(len(ints(s)), 20000, "nothing lost while the flush failed")
    eq(s.write("m v=1i 99999999\n")[0], 204, "writable")
    s.kill9()
    s.env.pop("STRATA_TEST_FAULT")
    s.start()
    eq(len(ints(s)), 20001, "nothing lost after restart")


def test_eio_while_flushing_goes_read_only():
    s = Server("--max-head-bytes", "128KiB", env={"STRATA_TEST_FAULT": "fsync:1:EIO"})
    acked = 0
    statuses = []
    for b in range(40):
        st, _, _ = s.write("".join("m v=%di %d\n" % (k, k) for k in range(b * 1000, b * 1000 + 1000)))
        statuses.append(st)
        if st == 204:
            acked += 1000
        time.sleep(0.02)
    check(503 in statuses, "read-only after the failed flush fsync: %s" % statuses)
    check("read-only" in s.read_log(), "logged")
    s.kill9()
    s.env.pop("STRATA_TEST_FAULT")
    s.start()
    eq(len(ints(s)), acked, "every acknowledged point after restart")


if __name__ == "__main__":
    run_tests(globals())
