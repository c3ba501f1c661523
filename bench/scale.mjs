#!/usr/bin/env node
// Many sensors, one broker, consumers that share the stream: the figures of
// docs/deployment.md's sizing. Four sensors replay different generated captures at
// once into a Mosquitto this script starts (queue limits lifted), each on
// bench/{sensor}/sip and bench/{sensor}/events at QoS 1; then one, and in another
// round two, `siphon cdr --share` consumers write the call records into PostgreSQL.
// The two phases run apart so each is measured alone: the consumers' sessions are
// made first and left (--client-id keeps them), the broker queues the events for
// them while the sensors publish, and the consumers then drain the queue.
// Per phase: wall time, and the CPU each process used (utime + stime from /proc):
// the sensors, the broker, the consumers and their PostgreSQL backends.
//
//   node bench/scale.mjs [--sensors N] [--messages N]    (PostgreSQL: SIPHON_BENCH_POSTGRES, else the local `test`)
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "./args.mjs";
import pg from "pg";
import { startBroker } from "./mqtt.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const benchDir = join(root, ".bench");
const siphon = join(root, "dist", "siphon.mjs");
const TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

function capture(seed, messages) {
  mkdirSync(benchDir, { recursive: true });
  const pcap = join(benchDir, `scale-${seed}-${messages}.pcap`);
  if (!existsSync(pcap)) {
    const r = spawnSync(process.execPath, [join(root, "test/support/generate.mjs"), "--seed", String(seed), "--messages", String(messages), "--out", pcap], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("test/support/generate.mjs failed");
  }
  return pcap;
}

// CPU seconds a process has used so far (0 once it is gone).
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS;   // utime, stime: fields 14 and 15 of stat(5)
  } catch {
    return 0;
  }
}

function run(args) {
  const child = spawn(process.execPath, [siphon, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  const c = { child, stderr: "", cpu: 0 };
  child.stderr.on("data", (d) => { c.stderr += d; });
  // Sampled until it exits: a process's CPU cannot be read once it is reaped.
  const sampler = setInterval(() => { c.cpu = Math.max(c.cpu, cpuSeconds(child.pid)); }, 20);
  c.exited = new Promise((resolve) => child.on("exit", (code) => { clearInterval(sampler); resolve(code); }));
  return c;
}

async function until(what, condition, ms = 600000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`no ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const seconds = (from) => Number(process.hrtime.bigint() - from) / 1e9;

async function round(consumerCount, o) {
  const { broker, db, sensors, expectedRows, pgUrl } = o;
  const table = `bench_scale_${consumerCount}_${process.pid}`;
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  const group = `bench${consumerCount}`;
  const consumerArgs = (i) => ["cdr", "--mqtt", broker.url, "--events", "bench/+/events", "--share", group,
    "--client-id", `bench-${group}-${i}-${process.pid}`, "--cdr", `${pgUrl}?table=${table}&application_name=bench-${group}`];
  // The sessions first, so the broker keeps the events for the consumers while they are away.
  for (let i = 0; i < consumerCount; i++) {
    const c = run(consumerArgs(i));
    await until("a consumer to subscribe", () => c.stderr.includes("reading events from"));
    c.child.kill("SIGTERM");
    await c.exited;
  }
  const brokerBefore = cpuSeconds(broker.pid);
  const started = process.hrtime.bigint();
  const replays = sensors.map((s) => run(["replay", s.pcap, "--sensor", s.name, "--no-progress", "--log-level", "info", "--mqtt", broker.url,
    "--topic", "bench/{sensor}/sip", "--events-topic", "bench/{sensor}/events"]));
  const codes = await Promise.all(replays.map((r) => r.exited));
  const publishSeconds = seconds(started);
  const brokerPublish = cpuSeconds(broker.pid) - brokerBefore;
  codes.forEach((code, i) => { if (code !== 0) throw new Error(`sensor ${i} failed: ${replays[i].stderr}`); });
  const published = replays.map((r) => {
    const lines = r.stderr.split("\n").filter((l) => l.includes('"msg":"delivery"')).map((l) => JSON.parse(l));
    return lines.reduce((sum, d) => sum + d.mqtt_acked, 0);
  });

  const commits = async () => Number((await db.query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")).rows[0].xact_commit);
  const commitsBefore = await commits();
  const drainBefore = cpuSeconds(broker.pid);
  const drainStart = process.hrtime.bigint();
  const consumers = Array.from({ length: consumerCount }, (_, i) => run(consumerArgs(i)));
  const count = async () => Number((await db.query(`SELECT count(*) AS n FROM ${table}`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
  await until(`${expectedRows} rows in ${table}`, async () => (await count()) >= expectedRows);
  const drainSeconds = seconds(drainStart);
  const brokerDrain = cpuSeconds(broker.pid) - drainBefore;
  // Every transaction of the database in the drain, the polling's own SELECTs too: an upper bound on the INSERTs.
  const drainCommits = await commits() - commitsBefore;
  const backends = (await db.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [`bench-${group}`])).rows.map((r) => r.pid);
  const backendCpu = backends.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  for (const c of consumers) c.child.kill("SIGTERM");
  await Promise.all(consumers.map((c) => c.exited));
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  return {
    consumers: consumerCount,
    publish: { seconds: publishSeconds, messages: published, sensorCpu: replays.map((r) => r.cpu), brokerCpu: brokerPublish },
    drain: { seconds: drainSeconds, consumerCpu: consumers.map((c) => c.cpu), backendCpu, brokerCpu: brokerDrain, commits: drainCommits },
  };
}

const USAGE = `usage: node bench/scale.mjs [--sensors N] [--messages N]   (defaults: 4 and 40000)
Many sensors replaying into one Mosquitto this script starts, then one and two \`siphon cdr --share\` consumers
writing the call records into PostgreSQL (SIPHON_BENCH_POSTGRES, else the local \`test\`): wall time and the
CPU of each process, per phase.`;

async function main() {
  const { values } = parseCommandLine(USAGE, { options: { sensors: { type: "string", default: "4" }, messages: { type: "string", default: "40000" } } });
  const sensorCount = Number(values.sensors);
  const messages = Number(values.messages);
  const pgUrl = process.env.SIPHON_BENCH_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";
  const sensors = Array.from({ length: sensorCount }, (_, i) => ({ name: `sensor-${i + 1}`, pcap: capture(i + 1, messages) }));
  // What the consumers must write, and how many events carry it: each sensor's events, replayed to a file.
  let events = 0;
  let expectedRows = 0;
  for (const s of sensors) {
    const r = spawnSync(process.execPath, [siphon, "replay", s.pcap, "--sensor", s.name, "--no-progress", "--out", "/dev/null", "--events", "-"],
      { encoding: "utf8", maxBuffer: 1 << 30 });
    const lines = r.stdout.trim().split("\n");
    events += lines.length;
    // The rows host/calls/cdr.ts makes: a finishing event of a call (one that carries sip.call).
    expectedRows += lines.map((l) => JSON.parse(l)).filter((e) => ["call-end", "call-attempt", "auth-failed"].includes(e.event.type) && e.sip?.call).length;
  }
  const broker = await startBroker();
  const db = new pg.Client({ connectionString: pgUrl });
  await db.connect();
  const results = [];
  try {
    for (const n of [1, 2]) results.push(await round(n, { broker, db, sensors, expectedRows, pgUrl }));
  } finally {
    broker.stop();
    await db.end();
  }
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const pct = (s, wall) => `${Math.round((100 * s) / wall)}%`;
  // Other work on the machine takes CPU from these processes: the load average says how much there was.
  console.log(`\nmachine: ${cpu}, ${availableParallelism()} CPUs, load average ${loadavg()[0].toFixed(1)} at the end, node ${process.version}, ` +
    `${spawnSync("mosquitto", ["-h"], { encoding: "utf8" }).stdout.split("\n")[0]}`);
  console.log(`workload: ${sensorCount} sensors, each a ${messages}-message capture (generate.mjs --seed 1..${sensorCount}); ${events} events, ${expectedRows} call records\n`);
  console.log("| consumers | sensors publish: s | msgs/s per sensor | msgs/s into the broker | CPU: each sensor / broker | CPU µs per message: sensors / broker | consumers drain: s | events/s | CPU: each consumer / its PostgreSQL backends / broker | CPU µs per event: consumers / PostgreSQL / broker | commits in the drain |");
  console.log("| ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | --- | --- | ---: |");
  for (const r of results) {
    const p = r.publish;
    const d = r.drain;
    const total = p.messages.reduce((a, b) => a + b, 0);
    console.log(`| ${r.consumers} | ${p.seconds.toFixed(2)} | ${Math.round(total / sensorCount / p.seconds).toLocaleString("en-US")} | ` +
      `${Math.round(total / p.seconds).toLocaleString("en-US")} | ${p.sensorCpu.map((s) => pct(s, p.seconds)).join(", ")} / ${pct(p.brokerCpu, p.seconds)} | ` +
      `${[p.sensorCpu.reduce((a, b) => a + b, 0), p.brokerCpu].map((s) => Math.round((s * 1e6) / total)).join(" / ")} | ` +
      `${d.seconds.toFixed(2)} | ${Math.round(events / d.seconds).toLocaleString("en-US")} | ` +
      `${d.consumerCpu.map((s) => pct(s, d.seconds)).join(", ")} / ${pct(d.backendCpu, d.seconds)} / ${pct(d.brokerCpu, d.seconds)} | ` +
      `${[d.consumerCpu.reduce((a, b) => a + b, 0), d.backendCpu, d.brokerCpu].map((s) => Math.round((s * 1e6) / events)).join(" / ")} | ${d.commits} |`);
  }
  writeFileSync(join(benchDir, "scale-results.json"), JSON.stringify({ date: new Date().toISOString(),
    command: ["node bench/scale.mjs", ...process.argv.slice(2)].join(" "), sensors: sensorCount, messages, events, expectedRows, results }, null, 2) + "\n");
}

main().catch((err) => {
  console.error(`bench/scale: ${err.message}`);
  process.exit(1);
});
