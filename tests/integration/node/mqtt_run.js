// MQTT.js (npm "mqtt") and sparkplug-payload against stratad's MQTT
// listener. Reads one JSON scenario from argv[2]:
//   { "port": N, "version": 4|5, "clientId": "x",
//     "will": { "topic": "...", "payload": "..." | "spb": {...} },   optional
//     "messages": [ { "topic": "...", "qos": 0|1|2,
//                     "payload": "text" | "spb": { Sparkplug Payload } } ],
//     "end": "graceful" | "abrupt" }            abrupt: drop the socket (Will fires)
// Sparkplug payloads are encoded with sparkplug-payload's spBv1.0
// encodePayload ({timestamp, seq, metrics: [{name, alias, type, value,
// properties}]}). Publishes in order, waits for every QoS>0 ack, prints one
// JSON line {"acked": n, "errors": [...]} and exits 0.
"use strict";
const mqtt = require("mqtt");
const spb = require("sparkplug-payload").get("spBv1.0");

function body(m) {
  if (m.spb) return Buffer.from(spb.encodePayload(m.spb));
  return Buffer.from(m.payload, "utf8");
}

async function main() {
  const sc = JSON.parse(process.argv[2]);
  const opts = {
    protocolVersion: sc.version || 4,
    clientId: sc.clientId || "strata-it-" + process.pid,
    reconnectPeriod: 0,
    connectTimeout: 10000,
    keepalive: 30,
  };
  if (sc.will) opts.will = { topic: sc.will.topic, payload: body(sc.will), qos: 0, retain: false };
  const client = mqtt.connect({ host: "127.0.0.1", port: sc.port, ...opts });
  const out = { acked: 0, errors: [] };
  await new Promise((resolve, reject) => {
    client.once("connect", resolve);
    client.once("error", reject);
  });
  const pending = [];
  for (const m of sc.messages) {
    pending.push(new Promise((resolve) => {
      client.publish(m.topic, body(m), { qos: m.qos || 0 }, (err, pkt) => {
        if (err) out.errors.push(String(err.message || err));
        else if ((m.qos || 0) > 0) out.acked++;
        resolve();
      });
    }));
  }
  const timer = setTimeout(() => { out.errors.push("timeout waiting for acks"); finish(); }, 20000);
  let done = false;
  function finish() {
    if (done) return;
    done = true;
    clearTimeout(timer);
    process.stdout.write(JSON.stringify(out) + "\n");
    if (sc.end === "abrupt") { client.stream.destroy(); setTimeout(() => process.exit(0), 100); }
    else client.end(false, () => process.exit(0));
  }
  await Promise.all(pending);
  finish();
}

main().catch((e) => { process.stdout.write(JSON.stringify({ acked: 0, errors: [String(e)] }) + "\n"); process.exit(1); });
