// node-influx (npm "influx") against stratad: create a database, write
// points with tags and typed fields through writePoints, read them back
// through query() (raw, aggregate with GROUP BY time and tag, field
// condition) and the meta helpers. Prints one JSON line with what it got;
// ../test_query_http.py compares it with answers computed by hand.
// Usage: node run.js <port>
"use strict";
const Influx = require("influx");

async function main() {
  const port = parseInt(process.argv[2], 10);
  const influx = new Influx.InfluxDB({
    host: "127.0.0.1",
    port,
    database: "nodedb",
    schema: [{
      measurement: "boiler",
      fields: { temp: Influx.FieldType.FLOAT, on: Influx.FieldType.BOOLEAN, n: Influx.FieldType.INTEGER },
      tags: ["unit"],
    }],
  });
  const out = {};
  await influx.createDatabase("nodedb");
  out.databases = await influx.getDatabaseNames();
  const T0 = 1700000000000; // ms
  await influx.writePoints([
    { measurement: "boiler", tags: { unit: "3" }, fields: { temp: 81.5, on: true, n: 1 }, timestamp: new Date(T0) },
    { measurement: "boiler", tags: { unit: "3" }, fields: { temp: 82, on: false, n: 2 }, timestamp: new Date(T0 + 20000) },
    { measurement: "boiler", tags: { unit: "4" }, fields: { temp: 77.1, on: true, n: 3 }, timestamp: new Date(T0 + 10000) },
  ], { precision: "ms" });
  out.measurements = await influx.getMeasurements();
  const raw = await influx.query("SELECT temp, n, unit FROM boiler ORDER BY time ASC");
  out.raw = raw.map((r) => [r.time.getTime(), r.temp, r.n, r.unit]);
  const agg = await influx.query(
    "SELECT mean(temp) FROM boiler WHERE time >= 1700000000000ms AND time <= 1700000020000ms GROUP BY time(10s), unit fill(none)");
  out.agg = agg.map((r) => [r.time.getTime(), r.unit, r.mean]);
  const cond = await influx.query("SELECT count(temp) FROM boiler WHERE temp > 80 AND \"on\" = true");
  out.cond = cond.map((r) => r.count);
  const two = await influx.query(["SELECT last(temp) FROM boiler", "SELECT min(n) FROM boiler"]);
  out.two = [two[0].map((r) => r.last), two[1].map((r) => r.min)];
  const tags = await influx.query('SHOW TAG VALUES FROM "boiler" WITH KEY = "unit"');
  out.tagValues = tags.map((r) => r.value);
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e && e.message ? e.message : e) }) + "\n");
  process.exit(1);
});
