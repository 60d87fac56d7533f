#!/usr/bin/env python3
"""tests/integration/test_mqtt_bridge.py — bridge mode against a real
mosquitto broker started here on a free loopback port with its own config
file: stratad subscribes (persistent session, QoS 1), messages published
while stratad is down are delivered when it comes back, the client id is
generated once and kept in the catalog, and reconnects follow a broker
restart. Skips with a note when mosquitto is not installed and cannot be.
"""
import os
import shutil
import subprocess
import time

from harness import Server, check, eq, free_port, run_tests

T0 = 1700000000000000000


def have_mosquitto():
    if shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto"):
        if shutil.which("mosquitto_pub"):
            return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "mosquitto", "mosquitto-clients"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    if (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")) and shutil.which("mosquitto_pub"):
        return True
    print("SKIP mosquitto not installed (Debian packages mosquitto, mosquitto-clients)")
    return False


class Broker:
    def __init__(self, tmp, port=None):
        self.port = port or free_port()
        self.conf = os.path.join(tmp, "mosquitto-%d.conf" % self.port)
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 0\n" % self.port)
        self.log = open(os.path.join(tmp, "mosquitto.log"), "ab")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", self.conf], stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            p = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", "probe", "-m", "x"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if p.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


def wait_count(srv, q, n, db="mqtt", timeout=30):
    deadline = time.time() + timeout
    got = -1
    while time.time() < deadline:
        try:
            vals = srv.values(q, db=db)
        except AssertionError as e:
            if "database not found" not in str(e):
                raise
            vals = []
        got = vals[0][1] if vals else 0
        if got >= n:
            return got
        time.sleep(0.1)
    return got


def wait_log(srv, text, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in srv.read_log():
            return True
        time.sleep(0.05)
    return False


def test_bridge_delivers_what_was_published_while_down():
    if not have_mosquitto():
        return
    s = Server(start=False)
    broker = Broker(s.tmp)
    try:
        s.args += ["--mqtt-bridge", "mqtt://127.0.0.1:%d" % broker.port, "--mqtt-bridge-topic", "factory/#"]
        s.start()
        check(wait_log(s, "mqtt-bridge: subscribed filters=1"), "bridge did not subscribe: " + s.read_log()[-1500:])
        # Live: a message published now arrives; another topic is not subscribed.
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", "factory/live",
                        "-m", "live v=1 %d" % T0], check=True, timeout=10)
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", "office/x",
                        "-m", "office v=1 %d" % T0], check=True, timeout=10)
        eq(wait_count(s, "SELECT count(v) FROM live", 1), 1, "live message")
        first_log = s.read_log()
        check("generated the MQTT bridge client id" in first_log, "no generated client id logged")
        # Down: 5,000 QoS 1 messages queue in the broker's session for us.
        eq(s.stop(), 0, "stratad stop")
        n = 5000
        lines = "\n".join("queued,src=b v=%di %d" % (i, T0 + i) for i in range(n)) + "\n"
        p = subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", "factory/queued", "-l"],
                           input=lines.encode(), timeout=120, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        eq(p.returncode, 0, "mosquitto_pub -l: " + p.stdout.decode()[-500:])
        s.start()
        got = wait_count(s, "SELECT count(v) FROM queued", n, timeout=60)
        eq(got, n, "points delivered after the restart")
        vals = s.values("SELECT sum(v) FROM queued", db="mqtt")
        eq(vals[0][1], n * (n - 1) // 2, "every value exactly")
        log = s.read_log()[len(first_log):]
        check("generated the MQTT bridge client id" not in log, "client id generated again after restart")
        check("session_present=1" in log, "broker did not keep the session: " + log[-1500:])
        eq(s.values("SHOW MEASUREMENTS", db="mqtt").count(["office"]), 0, "unsubscribed topic written")
    finally:
        s.stop()
        broker.stop()


def test_bridge_reconnects_after_broker_restart_and_applies_rules():
    if not have_mosquitto():
        return
    s = Server(start=False)
    broker = Broker(s.tmp)
    try:
        cfg = os.path.join(s.tmp, "strata.toml")
        with open(cfg, "w") as f:
            f.write('[mqtt]\nbridge-client-id = "fixed-id-1"\n\n'
                    '[[mqtt.rule]]\ntopic = "plant/+line/#field"\nmeasurement = "line"\nformat = "plain"\n')
        s.args += ["--config", cfg, "--mqtt-bridge", "mqtt://127.0.0.1:%d" % broker.port]
        s.start()
        check(wait_log(s, "client_id=fixed-id-1"), "configured client id not used: " + s.read_log()[-1500:])
        check(wait_log(s, "mqtt-bridge: subscribed"), "no subscription")
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", "plant/l1/temp", "-m", "20.5"],
                       check=True, timeout=10)
        eq(wait_count(s, "SELECT count(temp) FROM line", 1), 1, "rule applied on the bridge")
        port = broker.port
        broker.stop()
        check(wait_log(s, "reconnecting in"), "no reconnect attempt logged")
        broker = Broker(s.tmp, port=port)
        deadline = time.time() + 30
        while time.time() < deadline and s.read_log().count("mqtt-bridge: subscribed") < 2:
            time.sleep(0.1)
        eq(s.read_log().count("mqtt-bridge: subscribed"), 2, "reconnected after the broker restart")
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", "plant/l2/temp", "-m", "21.5"],
                       check=True, timeout=10)
        eq(wait_count(s, "SELECT count(temp) FROM line", 2), 2, "message after the reconnect")
        vals = s.values("SELECT temp, line FROM line", db="mqtt")
        eq(sorted((v[1], v[2]) for v in vals), [(20.5, "l1"), (21.5, "l2")], "values and captured tag")
    finally:
        s.stop()
        broker.stop()


def test_bad_bridge_url_is_refused_at_start():
    s = Server(start=False)
    s.args += ["--mqtt-bridge", "http://127.0.0.1:1883"]
    s.start(expect_fail=True)
    eq(s.proc.wait(10), 2, "exit code")
    check("--mqtt-bridge" in s.read_log() and "mqtt://" in s.read_log(), s.read_log()[-500:])


if __name__ == "__main__":
    run_tests(globals())
