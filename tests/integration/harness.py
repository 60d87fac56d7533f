"""tests/integration/harness.py — start the real stratad and talk to it.

Server(...) starts $STRATAD on 127.0.0.1 port 0 with a temporary data
directory and --ready-file, so tests never race for ports. Every test
script ends with run_tests(globals()): it runs each test_* function, prints
"PASS name" / "FAIL name: reason", fails any test whose server wrote a
sanitizer report to stderr, and exits non-zero on failure.
"""
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

STRATAD = os.environ.get("STRATAD", os.path.join(os.path.dirname(__file__), "../../build/stratad"))
STRATA = os.environ.get("STRATA", os.path.join(os.path.dirname(__file__), "../../build/strata"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "ThreadSanitizer")

_servers = []


class Server:
    def __init__(self, *args, data=None, keep_data=False, env=None, start=True, mqtt=False):
        self.tmp = tempfile.mkdtemp(prefix="strata-it-")
        self.data = data or os.path.join(self.tmp, "data")
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.mqtt = mqtt          # True: MQTT listener on 127.0.0.1 port 0 (else --mqtt off)
        self.mqtt_port = None     # from the ready file's mqtt= line
        self.log_path = os.path.join(self.tmp, "stderr.log")
        self.logs = ""
        _servers.append(self)
        if start:
            self.start()

    def start(self, *extra, expect_fail=False, timeout=20):
        ready = os.path.join(self.tmp, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        cmd = [STRATAD, "--data", self.data, "--http", "127.0.0.1:0",
               "--mqtt", "127.0.0.1:0" if self.mqtt else "off",
               "--ready-file", ready, "--io-threads", "2"] + self.args + list(extra)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(ready):
                for line in open(ready).read().split():
                    k, _, v = line.partition("=")
                    if k == "http":
                        self.port = int(v.rsplit(":", 1)[1])
                    elif k == "mqtt":
                        self.mqtt_port = int(v.rsplit(":", 1)[1])
                return self
            if self.proc.poll() is not None:
                if expect_fail:
                    return self
                raise RuntimeError("stratad exited %s: %s" % (self.proc.returncode, self.read_log()[-2000:]))
            time.sleep(0.02)
        raise RuntimeError("stratad did not become ready: " + self.read_log()[-2000:])

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop and return the exit code (SIGKILL returns -9)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise RuntimeError("stratad did not stop within %ds" % timeout)
        self.log.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self, *extra):
        self.stop()
        return self.start(*extra)

    def cleanup(self):
        try:
            self.stop()
        except Exception:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- HTTP ----
    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, params=None, conn=None):
        if params:
            path = path + "?" + urllib.parse.urlencode(params)
        c = conn or self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, data.decode("utf-8", "replace"), dict(r.getheaders())

    def write(self, body, db="db", precision=None, v2=False, gz=False, headers=None, extra=None, conn=None):
        params = {}
        if v2:
            params["bucket"] = db
            params["org"] = "o"
        else:
            params["db"] = db
        if precision:
            params["precision"] = precision
        params.update(extra or {})
        h = dict(headers or {})
        if isinstance(body, str):
            body = body.encode()
        if gz:
            body = gzip.compress(body)
            h["Content-Encoding"] = "gzip"
        path = "/api/v2/write" if v2 else "/write"
        return self.request("POST", path, body=body, headers=h, params=params, conn=conn)

    def query(self, q, db="db", epoch=None, method="GET", extra=None):
        params = {"q": q}
        if db:
            params["db"] = db
        if epoch:
            params["epoch"] = epoch
        params.update(extra or {})
        if method == "GET":
            st, body, _ = self.request("GET", "/query", params=params)
        else:
            st, body, _ = self.request("POST", "/query", body=urllib.parse.urlencode(params),
                                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            return st, json.loads(body)
        except ValueError:
            return st, body

    def metric(self, name):
        """The value of one /metrics line (an integer counter or gauge)."""
        st, body, _ = self.request("GET", "/metrics")
        eq(st, 200, "metrics")
        for line in body.splitlines():
            k, _, v = line.partition(" ")
            if k == name:
                return int(v)
        raise AssertionError("metric %s missing" % name)

    def values(self, q, db="db", epoch="ns"):
        """The values of results[0].series[0] (or [] when there are none)."""
        st, js = self.query(q, db=db, epoch=epoch)
        if st != 200:
            raise AssertionError("query %r: HTTP %s %s" % (q, st, js))
        res = js["results"][0]
        if "error" in res:
            raise AssertionError("query %r: %s" % (q, res["error"]))
        series = res.get("series") or []
        return series[0]["values"] if series else []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (msg or "not equal", a, b))


def run_tests(ns):
    only = os.environ.get("TEST_ONLY", "")
    names = [n for n in ns if n.startswith("test_") and callable(ns[n]) and only in n]
    failed = 0
    for n in names:
        t0 = time.time()
        err = None
        try:
            ns[n]()
        except Exception:
            err = traceback.format_exc()
        for s in list(_servers):
            try:
                s.stop()
            except Exception as e:
                err = err or "stop: %s" % e
            log = s.read_log()
            if any(m in log for m in SANITIZER_MARKS):
                err = (err or "") + "\nsanitizer report in stratad stderr:\n" + log[-4000:]
            if err:
                sys.stdout.write("    --- stratad stderr (last lines) ---\n")
                for line in log.splitlines()[-15:]:
                    sys.stdout.write("    " + line + "\n")
            s.cleanup()
            _servers.remove(s)
        if err:
            failed += 1
            print("FAIL %s (%.1fs)" % (n, time.time() - t0))
            for line in err.rstrip().splitlines():
                print("    " + line)
        else:
            print("PASS %s (%.1fs)" % (n, time.time() - t0))
        sys.stdout.flush()
    sys.exit(1 if failed else 0)
