#!/usr/bin/env node
// MQTT delivery rate: the bench workload replayed into a local Mosquitto at QoS 1 and QoS 0,
// beside the NDJSON rate of the same replay. The broker is one this script starts (the
// machine's mosquitto binary on a free port) with its queue limits lifted, so that the broker
// never drops a QoS 1 message to the counting subscriber (mosquitto_sub -C N). Per run:
//   acked     siphon's wall time until it exits: every message acknowledged (QoS 1) or written (QoS 0)
//   delivered until the subscriber has received every message
//
//   node bench/mqtt.mjs [--runs N] [--messages N]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir, cpus, availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "./args.mjs";
import { median } from "./stats.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const benchDir = join(root, ".bench");
const siphon = join(root, "dist", "siphon.mjs");
const TOPIC = "bench/sip";
const READY_TOPIC = "bench/ready";

let runs = 3;
let messages = 160000;

function workload() {
  mkdirSync(benchDir, { recursive: true });
  const pcap = join(benchDir, `mqtt-workload-${messages}.pcap`);
  if (!existsSync(pcap)) {
    const r = spawnSync(process.execPath, [join(root, "test/support/generate.mjs"), "--seed", "1", "--messages", String(messages), "--out", pcap], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("test/support/generate.mjs failed");
  }
  return pcap;
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function until(what, condition, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const listening = (port) => new Promise((resolve) => {
  const s = connect(port, "127.0.0.1");
  s.once("connect", () => { s.destroy(); resolve(true); });
  s.once("error", () => resolve(false));
});

export async function startBroker() {
  const mosquitto = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].find(existsSync);
  if (!mosquitto) throw new Error("mosquitto is not installed");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "siphon-bench-mqtt-"));
  writeFileSync(join(dir, "m.conf"), [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false",
    "max_queued_messages 0", "max_queued_bytes 0", "max_inflight_messages 0", ""].join("\n"));
  const child = spawn(mosquitto, ["-c", join(dir, "m.conf")], { stdio: "ignore" });
  await until("mosquitto to listen", () => listening(port));
  spawnSync("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-t", READY_TOPIC, "-r", "-q", "1", "-m", "ready"]);
  return { port, pid: child.pid, url: `mqtt://127.0.0.1:${port}`, stop: () => child.kill() };
}

function timed(args, { stdout = "ignore" } = {}) {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [siphon, ...args], { stdio: ["ignore", stdout, "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr, seconds: Number(process.hrtime.bigint() - started) / 1e9 })));
}

// The subscriber is ready when it has the retained message on READY_TOPIC (so it counts one
// more than the workload); -F . keeps its output to two bytes a message, and stdbuf makes
// that first line arrive as printed rather than when a block fills.
async function subscriber(port, qos, count) {
  const child = spawn("stdbuf", ["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", String(port), "-t", TOPIC, "-t", READY_TOPIC,
    "-q", String(qos), "-C", String(count + 1), "-F", "."], { stdio: ["ignore", "pipe", "ignore"] });
  let ready = false;
  child.stdout.on("data", () => { ready = true; });
  const exited = new Promise((resolve) => child.on("close", () => resolve(process.hrtime.bigint())));
  await until("the subscription", () => ready || child.exitCode !== null);
  return { exited, child };
}


const USAGE = `usage: node bench/mqtt.mjs [--runs N] [--messages N]   (defaults: 3 and 160000)
MQTT delivery rate: the bench workload replayed into a local Mosquitto this script starts, at QoS 1 and
QoS 0, beside the NDJSON rate of the same replay; the time until acked, and until a subscriber has them all.`;

async function main() {
  const { values } = parseCommandLine(USAGE, { options: { runs: { type: "string", default: "3" }, messages: { type: "string", default: "160000" } } });
  runs = Number(values.runs);
  messages = Number(values.messages);
  const pcap = workload();
  const broker = await startBroker();
  const results = [];
  try {
    const ndjson = [];
    for (let i = 0; i < runs; i++) ndjson.push((await timed(["replay", pcap])).seconds);
    results.push({ name: "ndjson", about: "replay to stdout (/dev/null)", acked: median(ndjson), delivered: median(ndjson) });
    for (const [qos, counted] of [[1, true], [0, true], [1, false], [0, false]]) {
      const acked = [];
      const delivered = [];
      let note = "";
      for (let i = 0; i < runs; i++) {
        const sub = counted ? await subscriber(broker.port, qos, messages) : undefined;
        const started = process.hrtime.bigint();
        const r = await timed(["replay", pcap, "--mqtt", `mqtt://127.0.0.1:${broker.port}`, "--topic", TOPIC, "--qos", String(qos), "--log-level", "info"]);
        if (r.code !== 0) throw new Error(`siphon failed: ${r.stderr}`);
        const delivery = JSON.parse(r.stderr.split("\n").find((l) => l.includes('"msg":"delivery"')) ?? "{}");
        if (delivery.mqtt_acked !== messages) note = `acked ${delivery.mqtt_acked} of ${messages}`;
        acked.push(r.seconds);
        if (!sub) continue;
        const timeout = setTimeout(() => sub.child.kill(), 60000);
        const end = await sub.exited;
        clearTimeout(timeout);
        delivered.push(Number(end - started) / 1e9);
      }
      results.push({
        name: `mqtt-qos${qos}${counted ? "" : "-no-subscriber"}`,
        about: counted ? `replay --mqtt --qos ${qos}; mosquitto_sub -q ${qos} counts them` : `replay --mqtt --qos ${qos}; nobody subscribed`,
        acked: median(acked), delivered: counted ? median(delivered) : undefined, note,
      });
    }
  } finally {
    broker.stop();
  }
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(`\nmachine: ${cpu}, ${availableParallelism()} CPUs, node ${process.version}, ${spawnSync("mosquitto", ["-h"], { encoding: "utf8" }).stdout.split("\n")[0]}`);
  console.log(`workload: ${messages} SIP messages (test/support/generate.mjs --seed 1), median of ${runs} runs, wall time of the whole replay\n`);
  console.log("| case | what | s to acked/written | msgs/s | s to delivered | msgs/s delivered |");
  console.log("| --- | --- | ---: | ---: | ---: | ---: |");
  for (const r of results) {
    const rate = (s) => Math.round(messages / s).toLocaleString("en-US");
    const delivered = r.delivered === undefined ? "| – | – |" : `| ${r.delivered.toFixed(2)} | ${rate(r.delivered)} |`;
    console.log(`| ${r.name} | ${r.about} | ${r.acked.toFixed(2)} | ${rate(r.acked)} ${delivered}${r.note ? ` ${r.note}` : ""}`);
  }
  writeFileSync(join(benchDir, "mqtt-results.json"), JSON.stringify({ date: new Date().toISOString(), command: ["node bench/mqtt.mjs", ...process.argv.slice(2)].join(" "), messages, runs, results }, null, 2) + "\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(`bench/mqtt: ${err.message}`);
    process.exit(1);
  });
}
