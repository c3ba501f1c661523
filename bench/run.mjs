#!/usr/bin/env node
// The benchmark: generates each workload (cached in .bench/ by its options and the generator's
// source), then times siphon, tshark and a minimal C walk on the same file in one run, and
// prints a markdown table plus ratios. Results go to .bench/results.json.
//
//   node bench/run.mjs [--case NAME]... [--runs N] [--tshark-runs N] [--no-tshark] [--help]
//
// Wall time is measured here around each child; peak RSS comes from /usr/bin/time when it is
// installed, else from polling the child's VmHWM in /proc.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, release } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startBroker } from "./mqtt.mjs";
import { startCollector } from "./collector.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const benchDir = join(root, ".bench");
const siphonPath = join(root, "dist", "siphon.mjs");
const cwalkPath = join(benchDir, "cwalk");

// Named workloads. A case says how to generate its file and how each tool is run on it, so
// later cases (filter cost, TCP-heavy, fragment-heavy, MQTT output) are one more entry here.
const CASES = [
  {
    name: "mixed-udp",
    about: "calls (answered, failed, cancelled) with SDP and RTP, REGISTER with 401, OPTIONS, MESSAGE; all UDP; 10% IPv6; VLAN and QinQ; non-SIP noise",
    generate: ["--seed", "1", "--messages", "160000"],
    siphon: (file) => ["replay", file],
    tshark: (file) => ["-r", file, "-Y", "sip", "-T", "ek"],
  },
  ...filterCases(),
  {
    name: "tcp-heavy",
    about: "the mixed workload over TCP: segments cut at random places (several messages per segment, messages over several), 5% swapped, 3% sent twice",
    generate: ["--seed", "1", "--messages", "160000", "--tcp"],
    siphon: (file) => ["replay", file],
    tshark: (file) => ["-r", file, "-Y", "sip", "-T", "ek"],
  },
  {
    name: "tcp-million-flows",
    about: "1,000,000 concurrent TCP flows offered (never closed), each a whole OPTIONS and a partial one; the table holds 65,536 (evictions in siphon's summary)",
    generator: "bench/tcp-flows.mjs",
    generate: ["--flows", "1000000"],
    siphon: (file) => ["replay", file],
    showSummary: true,
  },
  {
    name: "fragment-heavy",
    about: "the mixed workload with an IP MTU of 576: every SIP message longer than a fragment (most INVITEs, 200s with SDP, large MESSAGEs) sent as IPv4 or IPv6 fragments",
    generate: ["--seed", "1", "--messages", "160000", "--mtu", "576"],
    siphon: (file) => ["replay", file],
    tshark: (file) => ["-r", file, "-Y", "sip", "-T", "ek"],
  },
  {
    name: "calls-tracker",
    about: "mixed-udp's workload with the call tracker on: envelopes to stdout as in mixed-udp, events as NDJSON to /dev/null (mixed-udp is the rate without it)",
    generate: ["--seed", "1", "--messages", "160000"],
    siphon: (file) => ["replay", file, "--events", "/dev/null"],
  },
  ...privacyCases(),
  ...mqttCases(),
  ...hepCases(),
];

// --anonymize's cost (docs/privacy.md): calls-tracker with the events anonymized, then with the
// sealed originals and the envelopes rewritten too; calls-tracker in the same run is the peer.
function privacyCases() {
  return [
    ["calls-anonymized", "calls-tracker with --anonymize KEY: the events' addresses, users and Call-IDs replaced", []],
    ["calls-anonymized-all", "calls-anonymized with --encrypt-fields and --anonymize-envelopes: every envelope re-rendered, its SIP rewritten", ["--encrypt-fields", "--anonymize-envelopes"]],
  ].map(([name, about, more]) => ({
    name,
    about,
    generate: ["--seed", "1", "--messages", "160000"],
    siphon: (file) => ["replay", file, "--events", "/dev/null", "--anonymize", benchKey(), ...more],
  }));
}

// A fixed key, owner-only as --anonymize demands; the same every run.
function benchKey() {
  const path = join(benchDir, "privacy.key");
  mkdirSync(benchDir, { recursive: true });
  writeFileSync(path, `${"5a".repeat(32)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

// MQTT delivery: mixed-udp's workload published to a Mosquitto the benchmark starts (queue limits
// lifted), timed until every message is acknowledged (QoS 1) or written (QoS 0). Delivery to a
// subscriber is measured by bench/mqtt.mjs (docs/performance.md, "MQTT delivery").
let brokerUrl = "mqtt://127.0.0.1:1883";
function mqttCases() {
  return [1, 0].map((qos) => ({
    name: `mqtt-qos${qos}`,
    about: `mixed-udp's workload to a local Mosquitto at QoS ${qos}: siphon replay FILE --mqtt URL --qos ${qos}`,
    generate: ["--seed", "1", "--messages", "160000"],
    broker: true,
    siphon: (file) => ["replay", file, "--mqtt", brokerUrl, "--topic", "bench/sip", "--qos", String(qos), "--log-level", "warn"],
  }));
}

// HEP delivery: mixed-udp's workload to a collector the benchmark starts (bench/collector.mjs,
// reads and discards), over TCP and UDP, envelopes to /dev/null as well; mixed-udp in the same
// run is the NDJSON-only figure to set them beside.
let collector;
function hepCases() {
  return ["tcp", "udp"].map((transport) => ({
    name: `hep-${transport}`,
    about: `mixed-udp's workload to a local collector that reads and discards: siphon replay FILE --hep ${transport}://127.0.0.1:PORT --out /dev/null`,
    generate: ["--seed", "1", "--messages", "160000"],
    collector: true,
    siphon: (file) => ["replay", file, "--hep", collector ? collector[`${transport}Url`] : `${transport}://127.0.0.1:PORT`, "--out", "/dev/null", "--log-level", "warn"],
  }));
}

// Filter cost (docs/filter.md): the same 40,000-message workload decoded without JSON and
// counted by `siphon filter test`, with the empty filter, a simple one and one with three regular
// expressions, beside tshark running the equivalent display filter. bench/filter.mjs measures the
// same filters inside one process, per message.
function filterCases() {
  const invite = '(sip.Method == "INVITE" || (sip.Status-Code && sip.CSeq.method == "INVITE"))';
  const inviteOrBye = '(sip.Method == "INVITE" || sip.Method == "BYE" || (sip.Status-Code && (sip.CSeq.method == "INVITE" || sip.CSeq.method == "BYE")))';
  const filters = [
    ["filter-none", "the empty filter", "", "sip"],
    ["filter-simple", "one test", "(method invite)", invite],
    ["filter-complex", "three regular expressions",
      '(all (any (method invite bye) (status 4xx 5xx)) (header "user-agent" "(?i)(linphone|zoiper|yealink)") (not (from "^\\"?anonymous")) (message "m=audio [0-9]+ RTP/AVP"))',
      `(${inviteOrBye} || (sip.Status-Code >= 400 && sip.Status-Code <= 599)) && sip.User-Agent matches "(linphone|zoiper|yealink)" && !(sip.From matches "^\\"?anonymous") && sip matches "m=audio [0-9]+ RTP/AVP"`],
  ];
  return filters.map(([name, what, expression, display]) => ({
    name,
    about: `${what}: siphon filter test '${expression}'; tshark -Y '${display}'`,
    generate: ["--seed", "1", "--messages", "40000"],
    siphon: (file) => ["filter", "test", expression, file],
    tshark: (file) => ["-r", file, "-Y", display],
  }));
}

function parseCommandLine() {
  const { values } = parseArgs({
    options: {
      case: { type: "string", multiple: true },
      runs: { type: "string", default: "5" },
      "tshark-runs": { type: "string", default: "3" },
      "no-tshark": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const selected = values.case ?? CASES.map((c) => c.name);
  const unknown = selected.filter((name) => !CASES.some((c) => c.name === name));
  if (unknown.length > 0) throw new Error(`unknown case ${unknown.join(", ")}; cases: ${CASES.map((c) => c.name).join(", ")}`);
  return {
    cases: CASES.filter((c) => selected.includes(c.name)),
    runs: positive(values.runs, "--runs"),
    tsharkRuns: positive(values["tshark-runs"], "--tshark-runs"),
    tshark: !values["no-tshark"],
  };
}

function usage() {
  const cases = CASES.map((c) => `  ${c.name.padEnd(18)} ${c.about}`).join("\n");
  return `usage: node bench/run.mjs [--case NAME]... [--runs N] [--tshark-runs N] [--no-tshark]

Generates each case's workload (cached in .bench/), times siphon, tshark and a minimal C walk
of the same file in one run, prints a markdown table and writes .bench/results.json.

options:
  --case NAME        run only this case (repeat for several); default: every case
  --runs N           runs of siphon and the C walk per case, the median reported (default 5)
  --tshark-runs N    runs of tshark per case (default 3)
  --no-tshark        do not run tshark
  --help             this text

cases:
${cases}`;
}

function positive(text, name) {
  const number = Number(text);
  if (!Number.isInteger(number) || number < 1) throw new Error(`${name} wants a positive integer, got ${text}`);
  return number;
}

// ---------------------------------------------------------------- workloads

// The workload generator (test/support/generate/) and its command line, relative to the root.
const GENERATOR = "test/support/generate.mjs";
const GENERATOR_SOURCES = "test/support/generate";

/**
 * The cache key covers the options and the generator's source, so a changed generator regenerates
 * and cases with the same options share one file.
 */
function workloadKey(args, generator) {
  const hash = createHash("sha256").update(JSON.stringify(args));
  const sources = generator === undefined ? [GENERATOR, ...generatorSources()] : [generator];
  for (const file of sources) hash.update(readFileSync(join(root, file)));
  return hash.digest("hex").slice(0, 12);
}

function generatorSources() {
  return readdirSync(join(root, GENERATOR_SOURCES)).sort().map((file) => join(GENERATOR_SOURCES, file));
}

function ensureWorkload(benchCase) {
  const base = join(benchDir, `workload-${workloadKey(benchCase.generate, benchCase.generator)}`);
  const pcap = `${base}.pcap`;
  const truthFile = `${base}.truth.json`;
  if (!existsSync(pcap) || !existsSync(truthFile)) {
    const generator = benchCase.generator ?? GENERATOR;
    console.error(`generating ${benchCase.name}: node ${generator} ${benchCase.generate.join(" ")}`);
    const args = [join(root, generator), ...benchCase.generate, "--out", `${pcap}.tmp`, "--truth", `${truthFile}.tmp`];
    const run = spawnSync(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] });
    if (run.status !== 0) throw new Error(`generating ${benchCase.name} failed`);
    renameSync(`${pcap}.tmp`, pcap);
    renameSync(`${truthFile}.tmp`, truthFile);
  }
  const { totals } = JSON.parse(readFileSync(truthFile, "utf8"));
  return { pcap, truthFile, bytes: statSync(pcap).size, packets: totals.packets, sipMessages: totals.sipMessages };
}

// ---------------------------------------------------------------- running and timing a child

const timeBinary = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

/** Runs command with stdout to /dev/null; resolves wall seconds, peak RSS (KiB), exit code, stderr. */
function measure(command, args) {
  const rssFile = join(benchDir, `rss-${process.pid}.txt`);
  const [program, programArgs] = timeBinary ? [timeBinary, ["-f", "%M", "-o", rssFile, command, ...args]] : [command, args];
  const devNull = openSync("/dev/null", "w");
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(program, programArgs, { stdio: ["ignore", devNull, "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const stopPolling = timeBinary ? undefined : pollPeakRss(child.pid);
    child.on("error", reject);
    child.on("close", (code) => {
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      closeSync(devNull);
      const peakRssKiB = stopPolling ? stopPolling() : readRssFile(rssFile);
      resolve({ wallSeconds, peakRssKiB, code, stderr });
    });
  });
}

function readRssFile(path) {
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  rmSync(path, { force: true });
  // A failing child makes time(1) print "Command exited with non-zero status" first.
  const last = text.trim().split("\n").pop() ?? "";
  return /^\d+$/.test(last) ? Number(last) : undefined;
}

/** Without time(1): sample the child's high-water mark until it exits; returns a stop function. */
function pollPeakRss(pid) {
  let peak;
  const sample = () => {
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (match) peak = Math.max(peak ?? 0, Number(match[1]));
    } catch {
      // the child has already gone
    }
  };
  const timer = setInterval(sample, 10);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function timeTool(tool, workload, runs) {
  const samples = [];
  for (let run = 0; run < runs; run++) {
    const sample = await measure(tool.command, tool.args(workload.pcap));
    if (sample.code !== 0) return { tool: tool.name, command: tool.shown, error: `exit ${sample.code}: ${sample.stderr.trim().split("\n").slice(-3).join(" | ")}` };
    samples.push(sample);
  }
  const wall = median(samples.map((s) => s.wallSeconds));
  const rss = samples.map((s) => s.peakRssKiB).filter((v) => v !== undefined);
  return {
    tool: tool.name,
    command: tool.shown,
    runs,
    medianSeconds: wall,
    minSeconds: Math.min(...samples.map((s) => s.wallSeconds)),
    sipMessagesPerSecond: workload.sipMessages / wall,
    megabytesPerSecond: workload.bytes / 1e6 / wall,
    peakRssMiB: rss.length ? median(rss) / 1024 : undefined,
    lastStderr: samples.at(-1).stderr.trim().split("\n").pop(),
  };
}

// ---------------------------------------------------------------- tools

function buildCwalk() {
  const source = join(root, "bench", "cwalk.c");
  const build = spawnSync("cc", ["-O2", "-o", cwalkPath, source], { encoding: "utf8" });
  if (build.error || build.status !== 0) return `cc failed: ${build.error?.message ?? build.stderr.trim()}`;
  return undefined;
}

function tsharkVersion() {
  const run = spawnSync("tshark", ["--version"], { encoding: "utf8" });
  return run.error || run.status !== 0 ? undefined : run.stdout.split("\n")[0].replace(/\.$/, "");
}

/** The tools to time on a case: name, how to run them, how many runs, and the command as shown. */
function toolsFor(benchCase, options, notes) {
  const tools = [];
  if (existsSync(siphonPath)) {
    const shown = `node dist/siphon.mjs ${benchCase.siphon("FILE").join(" ")} > /dev/null`;
    tools.push({ name: "siphon", command: process.execPath, args: (f) => [siphonPath, ...benchCase.siphon(f)], runs: options.runs, shown });
  } else notes.push("siphon: dist/siphon.mjs is missing (run node build.mjs); not measured");
  if (!benchCase.tshark) notes.push(`${benchCase.name}: tshark not run on this case`);
  else if (!options.tshark) notes.push("tshark: skipped (--no-tshark)");
  else if (!tsharkVersion()) notes.push("tshark: not installed; not measured");
  else {
    const shown = `tshark ${benchCase.tshark("FILE").join(" ")} > /dev/null`;
    tools.push({ name: "tshark", command: "tshark", args: benchCase.tshark, runs: options.tsharkRuns, shown });
  }
  if (existsSync(cwalkPath)) tools.push({ name: "cwalk", command: cwalkPath, args: (f) => [f], runs: options.runs, shown: ".bench/cwalk FILE (bench/cwalk.c, cc -O2)" });
  return tools;
}

// ---------------------------------------------------------------- checks and report

/** Each tool's own count, where it prints one, against the truth. */
function countCheck(result, workload) {
  if (result.error || !result.lastStderr) return undefined;
  if (result.tool === "siphon") {
    const seen = Number(/(\d+) SIP messages/.exec(result.lastStderr)?.[1]);
    if (seen !== workload.sipMessages) return `siphon reported ${seen} SIP messages; the workload has ${workload.sipMessages}`;
  }
  return undefined;
}

function cwalkCheck(workload) {
  const run = spawnSync(cwalkPath, [workload.pcap], { encoding: "utf8" });
  const records = Number(/records (\d+)/.exec(run.stdout)?.[1]);
  return records === workload.packets ? undefined : `cwalk counted ${records} records; the workload has ${workload.packets}`;
}

function format(number, digits) {
  return number === undefined ? "-" : number.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function table(results) {
  const lines = [
    "| case | tool | runs | median s | min s | SIP msgs/s | MB/s | peak RSS MiB |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const { name, tools } of results) {
    for (const r of tools) {
      if (r.error) lines.push(`| ${name} | ${r.tool} | - | failed | | | | |`);
      else lines.push(`| ${name} | ${r.tool} | ${r.runs} | ${format(r.medianSeconds, 3)} | ${format(r.minSeconds, 3)} | ${format(r.sipMessagesPerSecond, 0)} | ${format(r.megabytesPerSecond, 1)} | ${format(r.peakRssMiB, 1)} |`);
    }
  }
  return lines.join("\n");
}

function ratios(tools) {
  const by = Object.fromEntries(tools.filter((t) => !t.error).map((t) => [t.tool, t]));
  const result = {};
  if (by.siphon && by.tshark) result.siphonMsgsPerSecondOverTshark = by.siphon.sipMessagesPerSecond / by.tshark.sipMessagesPerSecond;
  if (by.siphon && by.cwalk) result.siphonSecondsOverCwalk = by.siphon.medianSeconds / by.cwalk.medianSeconds;
  return result;
}

function machine() {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  return {
    cpu: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? "unknown",
    nproc: availableParallelism(),
    kernel: release(),
    node: process.version,
    tshark: tsharkVersion() ?? "not installed",
    loadAverageAtStart: loadavg().map((v) => Number(v.toFixed(2))),
  };
}

async function main() {
  const options = parseCommandLine();
  mkdirSync(benchDir, { recursive: true });
  const notes = [];
  const cwalkProblem = buildCwalk();
  if (cwalkProblem) notes.push(`cwalk: ${cwalkProblem}; not measured`);
  if (!timeBinary) notes.push("peak RSS: /usr/bin/time not found; sampled from /proc/PID/status VmHWM every 10 ms");
  const host = machine();
  const results = [];
  for (const benchCase of options.cases) {
    const broker = benchCase.broker ? await startBroker() : undefined;
    if (broker) brokerUrl = broker.url;
    collector = benchCase.collector ? await startCollector() : undefined;
    const workload = ensureWorkload(benchCase);
    console.error(`${benchCase.name}: ${workload.sipMessages} SIP messages, ${workload.packets} packets, ${(workload.bytes / 1e6).toFixed(1)} MB`);
    // One untimed pass so the first timed tool doesn't pay for reading the file from disk.
    if (existsSync(cwalkPath)) {
      const problem = cwalkCheck(workload);
      if (problem) notes.push(`${benchCase.name}: ${problem}`);
    }
    const tools = [];
    for (const tool of toolsFor(benchCase, options, notes)) {
      console.error(`  ${tool.name}: ${tool.runs} run${tool.runs > 1 ? "s" : ""}`);
      const result = await timeTool(tool, workload, tool.runs);
      if (result.error) notes.push(`${benchCase.name}: ${tool.name} failed (${result.error})`);
      const problem = countCheck(result, workload);
      if (problem) notes.push(`${benchCase.name}: ${problem}`);
      tools.push(result);
    }
    broker?.stop();
    collector?.stop();
    const files = { pcap: relative(root, workload.pcap), truthFile: relative(root, workload.truthFile) };
    results.push({ name: benchCase.name, about: benchCase.about, workload: { generate: benchCase.generate, ...workload, ...files }, tools, ratios: ratios(tools), showSummary: benchCase.showSummary });
  }
  if (options.tshark && options.tsharkRuns < options.runs) notes.push(`tshark: median of ${options.tsharkRuns} runs, not ${options.runs}: one run takes tens of seconds`);
  report(host, results, [...new Set(notes)]);
  const command = ["node bench/run.mjs", ...process.argv.slice(2)].join(" ");
  const summary = { date: new Date().toISOString(), command, machine: host, cases: results, notes: [...new Set(notes)] };
  writeFileSync(join(benchDir, "results.json"), `${JSON.stringify(summary, null, 2)}\n`);
  const failed = results.some((r) => r.tools.some((t) => t.error));
  process.exitCode = failed ? 1 : 0;
}

function report(host, results, notes) {
  console.log(`\nmachine: ${host.cpu}, ${host.nproc} CPUs, Linux ${host.kernel}, node ${host.node}, ${host.tshark}; load average at start ${host.loadAverageAtStart.join(" ")}\n`);
  console.log(table(results));
  console.log("");
  for (const { name, workload, ratios: r, tools, showSummary } of results) {
    console.log(`${name}: ${workload.sipMessages} SIP messages in ${workload.packets} packets, ${(workload.bytes / 1e6).toFixed(1)} MB`);
    if (r.siphonMsgsPerSecondOverTshark !== undefined) console.log(`  siphon msgs/s ÷ tshark msgs/s = ${r.siphonMsgsPerSecondOverTshark.toFixed(1)}`);
    if (r.siphonSecondsOverCwalk !== undefined) console.log(`  siphon time ÷ cwalk time = ${r.siphonSecondsOverCwalk.toFixed(1)}`);
    const siphon = tools.find((t) => t.tool === "siphon");
    if (showSummary && siphon?.lastStderr) console.log(`  ${siphon.lastStderr}`);
    const ndjson = results.find((c) => c.name === "mixed-udp")?.tools.find((t) => t.tool === "siphon");
    if (name.startsWith("hep-") && siphon?.medianSeconds && ndjson?.medianSeconds) {
      console.log(`  siphon time ÷ mixed-udp's (NDJSON to /dev/null, same run) = ${(siphon.medianSeconds / ndjson.medianSeconds).toFixed(1)} (issue 15's target: at most 1.5)`);
    }
  }
  for (const note of notes) console.log(`note: ${note}`);
  console.log(`\nresults: ${join(".bench", "results.json")}`);
}

main().catch((error) => {
  console.error(`bench: ${error.message}`);
  process.exitCode = 1;
});
