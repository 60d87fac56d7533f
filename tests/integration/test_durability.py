#!/usr/bin/env python3
"""Durability of the write path against the real stratad:
kill -9 during writes loses no acknowledged point and invents none; disk
faults injected through the storage I/O table (STRATA_TEST_FAULT) give 507
on ENOSPC with writes resuming, and read-only storage on a failed fsync;
a damaged WAL is recovered with the damage logged."""
import glob
import os
import random
import threading
import time

from harness import Server, check, eq, run_tests


def read_ints(s, m, db="db"):
    return sorted(v[1] for v in s.values("SELECT v FROM %s" % m, db=db))


def writer(s, m, start, stop_evt, acked, sent, batch=50, pause=0.0):
    c = s.conn(timeout=5)
    i = start
    while not stop_evt.is_set():
        lines = "".join("%s v=%di %d\n" % (m, k, k) for k in range(i, i + batch))
        sent.extend(range(i, i + batch))
        try:
            st, _, _ = s.write(lines, conn=c)
        except Exception:
            return
        if st == 204:
            acked.extend(range(i, i + batch))
        i += batch
        if pause:
            time.sleep(pause)


def test_kill9_during_writes():
    s = Server("--wal-fsync", "group")
    rnd = random.Random(7)
    acked_all = {}
    sent_all = {}
    for round_ in range(5):
        stop = threading.Event()
        threads = []
        for w in range(3):
            m = "m%d" % w
            acked = acked_all.setdefault(m, [])
            sent = sent_all.setdefault(m, [])
            start = (max(sent) + 1) if sent else 0
            t = threading.Thread(target=writer, args=(s, m, start, stop, acked, sent))
            t.start()
            threads.append(t)
        time.sleep(0.2 + rnd.random() * 0.4)
        eq(s.kill9(), -9, "killed")
        stop.set()
        for t in threads:
            t.join()
        s.start()
        for m in acked_all:
            got = read_ints(s, m)
            missing = set(acked_all[m]) - set(got)
            invented = set(got) - set(sent_all[m])
            check(not missing, "round %d %s: %d acknowledged points missing, e.g. %s" % (round_, m, len(missing), sorted(missing)[:5]))
            check(not invented, "round %d %s: invented points %s" % (round_, m, sorted(invented)[:5]))
            eq(len(got), len(set(got)), "no duplicates")
    check(sum(len(a) for a in acked_all.values()) > 1000, "enough writes were acknowledged")


def test_enospc_then_resume():
    # WAL segments of 1 MiB: the 2nd segment's preallocation fails once.
    s = Server("--wal-segment-bytes", "1MiB", env={"STRATA_TEST_FAULT": "fallocate:1:ENOSPC"})
    acked = []
    statuses = []
    rnd = random.Random(3)
    for b in range(100):
        # Random payloads so lz4 cannot shrink the records below a segment.
        lines = "".join("m v=%di,pad=\"%016x\" %d\n" % (k, rnd.getrandbits(64), k)
                        for k in range(b * 1000, b * 1000 + 1000))
        st, body, _ = s.write(lines)
        statuses.append(st)
        if st == 204:
            acked.extend(range(b * 1000, b * 1000 + 1000))
        else:
            eq(st, 507, "ENOSPC status")
            check("no space left on device" in body, body)
    check(507 in statuses, "a write met the injected ENOSPC: %s" % statuses)
    check(statuses[-1] == 204, "writes resumed after ENOSPC: %s" % statuses[-5:])
    got = read_ints(s, "m")
    check(set(acked) <= set(got), "acknowledged points served after ENOSPC")
    s.restart()
    got = read_ints(s, "m")
    check(set(acked) <= set(got), "acknowledged points survive restart after ENOSPC")


def test_eio_on_fsync_read_only():
    s = Server(env={"STRATA_TEST_FAULT": "fdatasync:3:EIO"})
    acked = []
    statuses = []
    for b in range(8):
        st, body, _ = s.write("m v=%di %d\n" % (b, b))
        statuses.append(st)
        if st == 204:
            acked.append(b)
    check(503 in statuses, "a failed fsync refuses the write: %s" % statuses)
    after = statuses[statuses.index(503):]
    check(all(x == 503 for x in after), "read-only after the failed fsync: %s" % statuses)
    st, body, _ = s.request("GET", "/health")
    check(st == 503 and "read-only" in body, body)
    st, body, _ = s.write("m v=100i 100\n")
    check(st == 503 and "read-only" in body, body)
    check("read-only" in s.read_log(), "logged")
    s.stop()
    s.env.pop("STRATA_TEST_FAULT")
    s.start()
    eq(read_ints(s, "m")[:len(acked)], acked, "acknowledged points after restart")
    eq(s.write("m v=200i 200\n")[0], 204, "writable after restart")


def test_wal_garbage_and_corrupt_middle():
    # kill -9 keeps everything in the WAL (a clean stop would flush it to segments).
    s = Server()
    for b in range(3):
        eq(s.write("".join("m v=%di %d\n" % (k, k) for k in range(b * 100, b * 100 + 100)))[0], 204)
    s.kill9()
    wal = sorted(glob.glob(os.path.join(s.data, "wal", "*.wal")))
    check(wal, "wal files exist")
    data = bytearray(open(wal[-1], "rb").read())
    used = len(data.rstrip(b"\0"))
    check(used > 300, "records written")
    # Garbage after the last record: a torn tail.
    data[used:used + 64] = bytes(random.Random(1).randrange(1, 256) for _ in range(64))
    open(wal[-1], "wb").write(data)
    s.start()
    eq(len(read_ints(s, "m")), 300, "torn tail ignored, every record served")
    s.kill9()
    # A flipped byte in the middle record: it is lost, the others are served.
    data = bytearray(open(wal[-1], "rb").read())
    data[used // 2] ^= 0xFF
    open(wal[-1], "wb").write(data)
    s.start()
    got = read_ints(s, "m")
    check(200 <= len(got) < 300, "the damaged record lost, others kept: %d" % len(got))
    check(set(range(0, 100)) <= set(got) or set(range(200, 300)) <= set(got), "records around the damage served")
    check("lost records" in s.read_log(), "the loss is logged: " + s.read_log()[-500:])
    eq(s.write("m v=1000i 1000\n")[0], 204, "writable after recovery")


def test_flush_compaction_kill9():
    # A small head budget: the head is flushed to segment files many times,
    # partitions get compacted, and kill -9 at random moments loses nothing.
    s = Server("--max-head-bytes", "256KiB")
    rnd = random.Random(11)
    acked, sent = [], []
    for round_ in range(4):
        stop = threading.Event()
        t = threading.Thread(target=writer, args=(s, "m", (max(sent) + 1) if sent else 0, stop, acked, sent, 1000, 0.005))
        t.start()
        time.sleep(0.6 + rnd.random() * 0.8)
        s.kill9()
        stop.set()
        t.join()
        s.start()
        got = read_ints(s, "m")
        missing = set(acked) - set(got)
        check(not missing, "round %d: %d acknowledged points missing" % (round_, len(missing)))
        check(set(got) <= set(sent), "nothing invented")
        eq(len(got), len(set(got)), "no duplicates")
    segs = glob.glob(os.path.join(s.data, "db", "*", "*", "*.seg"))
    check(segs, "segment files were written")
    log = s.read_log()
    check("flushed points=" in log, "flushes happened")
    check(len(acked) > 20000, "enough acknowledged: %d" % len(acked))
    check("compacted" in log, "a partition was compacted")
    # A clean stop flushes the head; a restart serves everything from segments.
    eq(s.stop(), 0)
    s.start()
    eq(len(read_ints(s, "m")), len(set(read_ints(s, "m"))), "no duplicates after clean restart")
    check(set(acked) <= set(read_ints(s, "m")), "all acknowledged after clean restart")


if __name__ == "__main__":
    run_tests(globals())
