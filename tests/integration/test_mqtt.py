#!/usr/bin/env python3
"""tests/integration/test_mqtt.py — stratad's MQTT listener with real peers.

mosquitto_pub (QoS 0/1/2, line protocol, plain and JSON through
[[mqtt.rule]] tables), MQTT.js (npm `mqtt`, protocol 4 and 5), Sparkplug B
payloads built by npm `sparkplug-payload` (births, aliases, a DATA before
its birth, the NDEATH Will), raw malformed packets; every test reads the
points back through /query (or the export endpoint for quality).
mosquitto-clients missing: installed with apt-get when root, else those
tests skip with a note. npm packages missing and not installable: the
node tests skip with a note.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import time

from harness import Server, check, eq, run_tests

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")
T0 = 1700000000000000000


def have_mosquitto():
    if shutil.which("mosquitto_pub"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "mosquitto", "mosquitto-clients"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    if shutil.which("mosquitto_pub"):
        return True
    print("SKIP mosquitto_pub not installed (Debian packages mosquitto, mosquitto-clients)")
    return False


def have_node():
    if not shutil.which("node") or not shutil.which("npm"):
        print("SKIP node/npm not installed")
        return False
    if not all(os.path.isdir(os.path.join(NODE_DIR, "node_modules", p)) for p in ("mqtt", "sparkplug-payload")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    if not all(os.path.isdir(os.path.join(NODE_DIR, "node_modules", p)) for p in ("mqtt", "sparkplug-payload")):
        print("SKIP npm packages mqtt / sparkplug-payload could not be installed")
        return False
    return True


def pub(srv, topic, msg, qos=0, extra=()):
    """mosquitto_pub; returns its exit code (0 means every QoS>0 ack arrived)."""
    p = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(srv.mqtt_port), "-q", str(qos),
                        "-t", topic, "-m", msg] + list(extra), timeout=30,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode


def wait_values(srv, q, n, db="mqtt", timeout=10):
    """Poll until the query returns at least n rows (QoS 0 has no ack to wait for)."""
    deadline = time.time() + timeout
    vals = []
    while time.time() < deadline:
        vals = srv.values(q, db=db)
        if len(vals) >= n:
            return vals
        time.sleep(0.05)
    return vals


def node_run(scenario):
    p = subprocess.run(["node", os.path.join(NODE_DIR, "mqtt_run.js"), json.dumps(scenario)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, cwd=NODE_DIR)
    out = p.stdout.decode().strip().splitlines()
    check(out, "no output from mqtt_run.js: " + p.stderr.decode()[-2000:])
    return json.loads(out[-1])


def write_config(srv, text):
    path = os.path.join(srv.tmp, "strata.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_ready_file_has_mqtt_line():
    s = Server(mqtt=True)
    check(s.mqtt_port and s.mqtt_port > 0, "no mqtt= line in the ready file")
    c = socket.create_connection(("127.0.0.1", s.mqtt_port), timeout=5)
    c.close()
    off = Server()
    eq(off.mqtt_port, None, "--mqtt off still listens")


def test_mosquitto_pub_qos_0_1_2_line_protocol():
    if not have_mosquitto():
        return
    s = Server(mqtt=True)
    for q in (0, 1, 2):
        rc = pub(s, "plant/lp", "boiler,unit=u%d temp=%d.5,on=true %d" % (q, 20 + q, T0 + q), qos=q)
        eq(rc, 0, "mosquitto_pub -q %d" % q)
    # Several lines in one message.
    eq(pub(s, "plant/lp", "boiler,unit=u9 temp=1\nboiler,unit=u9 temp=2 %d" % (T0 + 9), qos=1), 0, "multi-line")
    vals = wait_values(s, "SELECT temp, unit FROM boiler WHERE unit != 'u9'", 3)
    eq(sorted((v[0], v[1], v[2]) for v in vals),
       [(T0, 20.5, "u0"), (T0 + 1, 21.5, "u1"), (T0 + 2, 22.5, "u2")], "boiler points")
    eq(len(wait_values(s, "SELECT temp FROM boiler WHERE unit = 'u9'", 2)), 2, "both lines of one message")


def test_qos1_is_acknowledged_after_the_wal():
    """With fsync group the QoS 1 PUBACK only comes once the point is durable:
    kill -9 right after mosquitto_pub returns and the point is still there."""
    if not have_mosquitto():
        return
    s = Server(mqtt=True)
    eq(pub(s, "plant/dur", "dur v=1 %d" % T0, qos=1), 0, "publish")
    s.kill9()
    s.mqtt = False
    s.start()
    eq(s.values("SELECT v FROM dur", db="mqtt"), [[T0, 1]], "acknowledged point after kill -9")


def test_no_puback_when_the_wal_write_fails():
    """fdatasync fails (EIO): storage turns read-only, the QoS 1 message gets
    no PUBACK and the connection is closed, so the client resends later."""
    s = Server(mqtt=True, env={"STRATA_TEST_FAULT": "fdatasync:0:EIO:sticky"})
    topic, payload = b"f/t", b"failed v=1"
    body = struct.pack(">H", len(topic)) + topic + struct.pack(">H", 9) + payload
    got = raw_connect(s.mqtt_port, connect_packet(b"fault") + b"\x32" + bytes([len(body)]) + body)
    check(not got.endswith(b"<timeout>"), "connection left open after a failed write")
    eq(got[:4], b"\x20\x02\x00\x00", "CONNACK")
    check(b"\x40\x02\x00\x09" not in got[4:], "PUBACK sent for a write that failed: %r" % got)
    check("not acknowledged" in s.read_log(), "no ERROR line for the lost write: " + s.read_log()[-800:])


def test_rules_plain_and_json():
    if not have_mosquitto():
        return
    s = Server(start=False, mqtt=True)
    cfg = write_config(s, """
[mqtt]
database = "plant"

[[mqtt.rule]]
topic = "site/+line/+machine/#field"
measurement = "machines"
format = "plain"
tags = { site = "north" }

[[mqtt.rule]]
topic = "json/+device"
measurement = "devices"
format = "json"
""")
    s.args += ["--config", cfg]
    s.start()
    eq(pub(s, "site/l1/m7/temp", "21.5", qos=1), 0, "plain")
    eq(pub(s, "site/l1/m7/state", "running", qos=1), 0, "plain string")
    eq(pub(s, "site/l2/m8/count", "42i", qos=1), 0, "plain integer")
    eq(pub(s, "json/d1", json.dumps({"value": 3.25, "ts": 1700000000000, "rpm": 900}), qos=1), 0, "json")
    eq(s.values("SELECT temp, line, machine, site FROM machines", db="plant", epoch=None)[0][1:],
       [21.5, "l1", "m7", "north"], "plain float with rule tags")
    eq([v[1] for v in s.values("SELECT state FROM machines", db="plant")], ["running"], "plain string")
    eq([v[1] for v in s.values("SELECT count FROM machines", db="plant")], [42], "plain integer")
    eq(s.values("SELECT value, rpm, device FROM devices", db="plant"),
       [[1700000000000 * 1000000, 3.25, 900, "d1"]], "json with ts")


def test_default_mapping_without_rules():
    if not have_mosquitto():
        return
    s = Server(mqtt=True)
    eq(pub(s, "factory/hall2/pump3/pressure", "7.25", qos=1), 0, "plain")
    vals = s.values("SELECT pressure, level1, level2 FROM factory", db="mqtt")
    eq([v[1:] for v in vals], [[7.25, "hall2", "pump3"]], "default topic mapping")


def test_bad_payloads_are_counted_and_logged():
    if not have_mosquitto():
        return
    s = Server(mqtt=True)
    eq(pub(s, "plant/badjson", '{"temp": ', qos=1), 0, "bad json still acknowledged")
    eq(pub(s, "plant/badlp", "this is not line protocol", qos=1), 0, "bad lp still acknowledged")
    eq(pub(s, "plant/good", "good v=1 %d" % T0, qos=1), 0, "good after bad")
    eq(s.values("SELECT v FROM good", db="mqtt"), [[T0, 1]], "good point")
    deadline = time.time() + 5
    while time.time() < deadline and "plant/badlp" not in s.read_log():
        time.sleep(0.05)
    log = s.read_log()
    check("topic plant/badjson" in log, "bad json not logged with its topic: " + log[-1500:])
    check("plant/badlp" in log, "bad lp not logged with its topic: " + log[-1500:])


def test_bad_rule_is_refused_with_file_and_line():
    s = Server(start=False, mqtt=True)
    cfg = write_config(s, """
[[mqtt.rule]]
topic = "a/b"

[[mqtt.rule]]
topic = "x/#rest/y"
""")
    s.args += ["--config", cfg]
    s.start(expect_fail=True)
    eq(s.proc.wait(10), 2, "exit code for a bad rule")
    log = s.read_log()
    check(cfg + ":5:" in log and "mqtt.rule" in log, "no file:line in: " + log[-800:])
    s2 = Server(start=False, mqtt=True)
    cfg2 = write_config(s2, '[[mqtt.rule]]\ntopic = "a/+"\ncolour = "red"\n')
    s2.args += ["--config", cfg2]
    s2.start(expect_fail=True)
    eq(s2.proc.wait(10), 2, "exit code for an unknown key")
    check(cfg2 + ":3:" in s2.read_log() and "colour" in s2.read_log(), s2.read_log()[-800:])


def test_config_rules_keep_other_settings_and_flags_win():
    s = Server(start=False, mqtt=True)
    cfg = write_config(s, """
[[mqtt.rule]]
topic = "r/+x"
measurement = "rm"
[mqtt]
database = "fromfile"
[wal]
fsync = "never"
""")
    s.args += ["--config", cfg, "--mqtt-database", "fromflag"]
    s.start()
    log = s.read_log()
    check("wal-fsync=never" in log, "file setting after a rule section lost: " + log[-800:])
    check("mqtt-database=fromflag" in log, "flag did not win over the file: " + log[-800:])


def test_mqttjs_protocol_4_and_5():
    if not have_node():
        return
    s = Server(mqtt=True)
    for ver in (4, 5):
        msgs = [{"topic": "js/v%d" % ver, "qos": 1 + (i % 2), "payload": "js,ver=%d n=%di %d" % (ver, i, T0 + i)}
                for i in range(50)]
        msgs.append({"topic": "js/v%d" % ver, "qos": 0, "payload": "js,ver=%d n=999i %d" % (ver, T0 + 999)})
        out = node_run({"port": s.mqtt_port, "version": ver, "messages": msgs, "end": "graceful"})
        eq(out["errors"], [], "MQTT.js v%d errors" % ver)
        eq(out["acked"], 50, "MQTT.js v%d acks" % ver)
        vals = wait_values(s, "SELECT n FROM js WHERE ver = '%d'" % ver, 51)
        eq(sorted(v[1] for v in vals), list(range(50)) + [999], "MQTT.js v%d points" % ver)
    # A 5.0 client gets reason 0x99 for a payload that matched no format.
    out = node_run({"port": s.mqtt_port, "version": 5, "end": "graceful",
                    "messages": [{"topic": "js/bad", "qos": 1, "payload": "{nope"}]})
    eq(out["acked"], 0, "bad payload acked as success for 5.0")
    check(out["errors"], "no error reported to the 5.0 client")


def test_sparkplug_b():
    if not have_node():
        return
    s = Server(mqtt=True)
    t = 1700000000000  # ms
    nbirth = {"timestamp": t, "seq": 0, "metrics": [
        {"name": "bdSeq", "type": "Int64", "value": 0},
        {"name": "Temp", "alias": 1, "type": "Double", "value": 20.5, "timestamp": t},
        {"name": "Run", "alias": 2, "type": "Boolean", "value": True, "timestamp": t}]}
    ndata = {"timestamp": t + 1000, "seq": 1, "metrics": [
        {"alias": 1, "type": "Double", "value": 21.5, "timestamp": t + 1000}]}
    dbirth = {"timestamp": t, "seq": 2, "metrics": [
        {"name": "Speed", "alias": 10, "type": "Float", "value": 5.5, "timestamp": t}]}
    ddata = {"timestamp": t + 1000, "seq": 3, "metrics": [
        {"alias": 10, "type": "Float", "value": 6.5, "timestamp": t + 1000}]}
    early = {"timestamp": t, "seq": 4, "metrics": [
        {"alias": 99, "type": "Double", "value": 1.0, "timestamp": t}]}
    ndeath = {"timestamp": t, "metrics": [{"name": "bdSeq", "type": "Int64", "value": 0}]}
    out = node_run({"port": s.mqtt_port, "version": 4, "clientId": "edge-E1", "end": "abrupt",
                    "will": {"topic": "spBv1.0/G1/NDEATH/E1", "spb": ndeath},
                    "messages": [
                        {"topic": "spBv1.0/G1/NBIRTH/E1", "qos": 0, "spb": nbirth},
                        {"topic": "spBv1.0/G1/NDATA/E1", "qos": 0, "spb": ndata},
                        {"topic": "spBv1.0/G1/DBIRTH/E1/D1", "qos": 0, "spb": dbirth},
                        {"topic": "spBv1.0/G1/DDATA/E1/D1", "qos": 0, "spb": ddata},
                        {"topic": "spBv1.0/G1/DDATA/E1/D2", "qos": 1, "spb": early}]})
    eq(out["errors"], [], "publish errors")
    temps = wait_values(s, "SELECT \"Temp\" FROM sparkplug WHERE edge_node = 'E1'", 3)
    check(len(temps) >= 2, "Temp points: %r" % temps)
    eq([v[1] for v in temps[:2]], [20.5, 21.5], "Temp by name then by alias")
    eq(temps[0][0], t * 1000000, "metric timestamp")
    speed = s.values("SELECT \"Speed\" FROM sparkplug WHERE device = 'D1'", db="mqtt")
    eq([v[1] for v in speed[:2]], [5.5, 6.5], "device metric by alias")
    # The DDATA before its DBIRTH: counted and logged with a rebirth hint.
    deadline = time.time() + 5
    while time.time() < deadline and "NCMD" not in s.read_log():
        time.sleep(0.05)
    log = s.read_log()
    check("spBv1.0/G1/NCMD/E1" in log and "D2" in log, "unknown alias not logged: " + log[-1500:])
    # The Will (NDEATH) after the abrupt end: online=false and Uncertain last values.
    online = wait_values(s, "SELECT online FROM sparkplug WHERE edge_node = 'E1' AND device = ''", 2)
    eq([v[1] for v in online], [True, False], "node online then offline")
    st, body, _ = s.request("GET", "/api/strata/v1/export",
                            params={"db": "mqtt", "measurement": "sparkplug", "format": "lp"})
    eq(st, 200, "export")
    for metric in ("Temp=21.5", "Speed=6.5"):
        uncertain = [ln for ln in body.splitlines() if metric in ln and "quality=1083179008" in ln]
        check(uncertain, "no Uncertain (0x40900000) %s point after NDEATH in:\n%s" % (metric, body[-2000:]))


def raw_connect(port, payload):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(payload)
    c.settimeout(5)
    got = b""
    try:
        while True:
            b = c.recv(4096)
            if not b:
                break
            got += b
    except socket.timeout:
        got += b"<timeout>"
    c.close()
    return got


def connect_packet(client_id=b"raw"):
    vh = b"\x00\x04MQTT\x04\x02\x00\x3c"
    pl = struct.pack(">H", len(client_id)) + client_id
    body = vh + pl
    return b"\x10" + bytes([len(body)]) + body


def test_malformed_packets_close_the_connection():
    s = Server(mqtt=True)
    cases = [
        b"\xff\xff\xff\xff\xff\xff",                     # 5-byte remaining length
        b"\x30\x02\x00\x01",                             # PUBLISH before CONNECT
        b"\x10\x05\x00\x04MQT",                          # truncated CONNECT body
        connect_packet() + b"\x32\x03\x00\x01a",         # QoS 1 PUBLISH without packet id
        connect_packet() + b"\x10" + connect_packet()[1:],  # second CONNECT
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for i, pkt in enumerate(cases):
        got = raw_connect(s.mqtt_port, pkt)
        check(not got.endswith(b"<timeout>"), "case %d: connection left open" % i)
    # A good client still works.
    good = connect_packet(b"good")
    topic = b"raw/t"
    payload = b"raw v=5 %d" % T0
    var = struct.pack(">H", len(topic)) + topic + struct.pack(">H", 7)
    body = var + payload
    pkt = good + b"\x32" + bytes([len(body)]) + body
    c = socket.create_connection(("127.0.0.1", s.mqtt_port), timeout=5)
    c.sendall(pkt)
    got = b""
    deadline = time.time() + 5
    while len(got) < 8 and time.time() < deadline:
        got += c.recv(64)
    c.close()
    eq(got[:4], b"\x20\x02\x00\x00", "CONNACK accepted")
    eq(got[4:8], b"\x40\x02\x00\x07", "PUBACK for packet id 7")
    eq(s.values("SELECT v FROM raw", db="mqtt"), [[T0, 5]], "point from the raw client")


if __name__ == "__main__":
    run_tests(globals())
