#!/usr/bin/env node
// The benchmark: generates each workload (cached in .bench/ by its options and the generator's
// source), then times siphon, tshark and a minimal C walk on the same file in one run, and
// prints a markdown table plus ratios. Results go to .bench/results.json.
//
//   node bench/run.mjs [--case NAME]... [--runs N] [--tshark-runs N] [--no-tshark] [--baseline FILE] [--keep-recordings] [--help]
//
// Wall time is measured here around each child; peak RSS comes from /usr/bin/time when it is
// installed, else from polling the child's VmHWM in /proc.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, release } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { parseCommandLine as parseArguments } from "./args.mjs";
import { judge, median } from "./stats.mjs";
import { startBroker } from "./mqtt.mjs";
import { startCollector } from "./collector.mjs";
import { benchDir, generatedWorkload } from "./workloads.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const siphonPath = join(root, "dist", "siphon.mjs");
const cwalkPath = join(benchDir, "cwalk");
// A --baseline bundle copied elsewhere (/tmp/old.mjs) finds no prebuilds/ beside it, so it ran
// without the addon: its stdout pipe stayed at 64 KiB, and the pipe case measured that, not the
// build (0.777 s against this build's 0.570 s in 9 rounds, with the output path the same in both).
// Every siphon run here loads this checkout's addon.
process.env.SIPHON_PCAP_ADDON ??= createRequire(import.meta.url)("node-gyp-build").resolve(root);

// Named workloads. A case says how to generate its file and how each tool is run on it, so
// later cases (filter cost, TCP-heavy, fragment-heavy, MQTT output) are one more entry here.
// `target` is issue 15's target for the case: a ratio to the C walk or to a peer case (`peer`,
// mixed-udp unless named) measured in the same run, with a limit where the issue sets one.
const CASES = [
  {
    name: "mixed-udp",
    about: "calls (answered, failed, cancelled) with SDP and RTP, REGISTER with 401, OPTIONS, MESSAGE; all UDP; 10% IPv6; VLAN and QinQ; non-SIP noise",
    generate: ["--seed", "1", "--messages", "160000"],
    siphon: (file) => ["replay", file],
    tshark: (file) => ["-r", file, "-Y", "sip", "-T", "ek"],
    target: { text: "siphon time ÷ cwalk time at most 4 (start-up included)", ratio: cwalkRatio, limit: 4 },
  },
  {
    name: "mixed-udp-large",
    about: "mixed-udp's generator with 1,300,000 messages (about 1.2 GB): the rate once start-up no longer counts",
    generate: ["--seed", "1", "--messages", "1300000"],
    siphon: (file) => ["replay", file],
    target: { text: "siphon time ÷ cwalk time at most 3", ratio: cwalkRatio, limit: 3 },
  },
  {
    name: "pipe",
    about: "mixed-udp's workload with the envelopes to a pipe: siphon replay FILE | cat > /dev/null (mixed-udp is the same to /dev/null)",
    generate: ["--seed", "1", "--messages", "160000"],
    siphon: (file) => ["replay", file],
    pipe: true,
    target: { text: "wall at most 1.15 × mixed-udp's, peak RSS no more than mixed-udp's (+2 MiB)", ratio: ndjsonRatio, limit: 1.15, rssOverNdjson: 2 },
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
    target: { text: "wall at most 1.25 × mixed-udp's", ratio: ndjsonRatio, limit: 1.25 },
  },
  {
    name: "calls-tracker-large",
    about: "mixed-udp-large's workload with the call tracker on, as calls-tracker",
    generate: ["--seed", "1", "--messages", "1300000"],
    siphon: (file) => ["replay", file, "--events", "/dev/null"],
    peer: "mixed-udp-large",
    target: { text: "wall at most 1.25 × mixed-udp-large's, peak RSS at most 100 MB", ratio: ndjsonRatio, limit: 1.25, rssMiB: 100e6 / 2 ** 20 },
  },
  ...privacyCases(),
  ...mqttCases(),
  ...hepCases(),
  ...mediaCases(),
];

// Media (docs/recording.md): 20,000 calls with real G.711 media at 50 packets/s per direction
// (the generator's --media: loss, jitter, RTCP, re-INVITEs; short calls keep the file near 1 GB),
// replayed plainly and with every call recorded (a pcap and a WAV each) into a directory under
// .bench/ made afresh for each run. MB/s is of the capture read.
let recordRun = 0;
// media-long: 2,000 calls of the generator's usual length (30 s mean), where the bytes per call,
// not the files per call, set the pace.
function mediaCases() {
  const short = ["--seed", "1", "--calls", "20000", "--media", "--call-seconds", "2"];
  const long = ["--seed", "1", "--calls", "2000", "--media"];
  return [
    { name: "media-w20k", about: "20,000 calls with G.711 RTP both ways (50 packets/s per direction), RTCP, impairments: siphon replay FILE",
      generate: short, siphon: (file) => ["replay", file] },
    { name: "media-w20k-record", about: "the same, every call recorded: siphon replay FILE --record DIR (a pcap and a WAV per call)",
      generate: short, siphon: (file) => ["replay", file, "--record", freshRecordDirectory()] },
    { name: "media-long", about: "2,000 calls of 30 s mean with G.711 RTP both ways: siphon replay FILE",
      generate: long, siphon: (file) => ["replay", file] },
    { name: "media-long-record", about: "the same, every call recorded: siphon replay FILE --record DIR",
      generate: long, siphon: (file) => ["replay", file, "--record", freshRecordDirectory()] },
  ];
}

function freshRecordDirectory() {
  const dir = join(benchDir, "record");
  if (!keepRecordings) rmSync(dir, { recursive: true, force: true });
  return join(dir, String(recordRun++));
}

// --keep-recordings: each run's recordings stay until the bench ends. On an ext4 without a journal
// (this machine's), a file made within 60 to 300 s of many removals is placed only after the kernel
// has stepped over every recently removed inode of its group (recently_deleted in fs/ext4/ialloc.c),
// so removing one run's 34,000 files just before the next made that run pay seconds of system CPU
// for the harness's own removal (docs/performance.md). Costs the disk space of all the runs.
let keepRecordings = false;

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
    target: transport === "tcp" ? { text: "wall at most 1.5 × mixed-udp's (NDJSON only)", ratio: ndjsonRatio, limit: 1.5 }
      : { text: "measured (one datagram per message: no target)", ratio: ndjsonRatio },
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
  const { values } = parseArguments(usage(), {
    options: {
      case: { type: "string", multiple: true },
      runs: { type: "string", default: "5" },
      "tshark-runs": { type: "string", default: "3" },
      "no-tshark": { type: "boolean", default: false },
      baseline: { type: "string" },
      "keep-recordings": { type: "boolean", default: false },
    },
  });
  const selected = values.case ?? CASES.map((c) => c.name);
  const unknown = selected.filter((name) => !CASES.some((c) => c.name === name));
  if (unknown.length > 0) throw new Error(`unknown case ${unknown.join(", ")}; cases: ${CASES.map((c) => c.name).join(", ")}`);
  return {
    cases: CASES.filter((c) => selected.includes(c.name)),
    runs: positive(values.runs, "--runs"),
    tsharkRuns: positive(values["tshark-runs"], "--tshark-runs"),
    tshark: !values["no-tshark"],
    baseline: values.baseline,
    keepRecordings: values["keep-recordings"],
  };
}

function usage() {
  const cases = CASES.map((c) => `  ${c.name.padEnd(18)} ${c.about}`).join("\n");
  return `usage: node bench/run.mjs [--case NAME]... [--runs N] [--tshark-runs N] [--no-tshark] [--baseline FILE] [--keep-recordings]

Generates each case's workload (cached in .bench/), times siphon, tshark and a minimal C walk
(bench/cwalk.c, cc -O2 -march=native) of the same file in one run, prints a markdown table (median,
minimum and maximum of the runs) with each case's target from issue 15 and whether this run meets
it, and writes .bench/results.json. The runs go in rounds: each round runs every tool of every
case once, so a change in the machine's load falls on all of them alike. A target is judged on
each round's own ratio: met when the 95% interval of their median is within it, NOT met when it
is outside, else not told apart (bench/stats.mjs; fewer than 5 rounds are too few to judge).

options:
  --case NAME        run only this case (repeat for several); default: every case
  --runs N           rounds: runs of siphon and the C walk per case, the median reported (default 5)
  --tshark-runs N    runs of tshark per case (default 3)
  --no-tshark        do not run tshark
  --baseline FILE    also run another build of siphon (e.g. an older commit's dist/siphon.mjs) in
                     the same rounds, as the tool "baseline": before and after in one run
  --keep-recordings  the *-record cases keep every run's recordings until the bench ends, instead
                     of removing the last run's just before the next (see freshRecordDirectory)
  --help, -h         this text

cases:
${cases}`;
}

function positive(text, name) {
  const number = Number(text);
  if (!Number.isInteger(number) || number < 1) throw new Error(`${name} wants a positive integer, got ${text}`);
  return number;
}

// ---------------------------------------------------------------- workloads

// ---------------------------------------------------------------- running and timing a child

const timeBinary = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

/**
 * Runs command with stdout to /dev/null, or with `pipe` to `cat > /dev/null` through a pipe (the
 * wall then ends when both have exited; time(1) on the shell reports its largest child's peak RSS,
 * which is siphon's). Resolves wall seconds, peak RSS (KiB), exit code, stderr.
 */
function measure(command, args, pipe = false) {
  const rssFile = join(benchDir, `rss-${process.pid}.txt`);
  const quoted = (word) => `'${word.replaceAll("'", "'\\''")}'`;
  const [shown, shownArgs] = pipe ? ["bash", ["-c", `set -o pipefail; ${[command, ...args].map(quoted).join(" ")} | cat > /dev/null`]] : [command, args];
  const [program, programArgs] = timeBinary ? [timeBinary, ["-f", "%M", "-o", rssFile, shown, ...shownArgs]] : [shown, shownArgs];
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

/** One tool's samples on a case, summed up: median, minimum and maximum wall, rates, median peak RSS. */
function summarize(tool, workload, samples) {
  const failed = samples.find((s) => s.code !== 0);
  if (failed) return { tool: tool.name, command: tool.shown, error: `exit ${failed.code}: ${failed.stderr.trim().split("\n").slice(-3).join(" | ")}` };
  const walls = samples.map((s) => s.wallSeconds);
  const wall = median(walls);
  const rss = samples.map((s) => s.peakRssKiB).filter((v) => v !== undefined);
  return {
    tool: tool.name,
    command: tool.shown,
    runs: samples.length,
    walls,
    medianSeconds: wall,
    minSeconds: Math.min(...walls),
    maxSeconds: Math.max(...walls),
    sipMessagesPerSecond: tool.readsFile === false ? undefined : workload.sipMessages / wall,
    megabytesPerSecond: tool.readsFile === false ? undefined : workload.bytes / 1e6 / wall,
    peakRssMiB: rss.length ? median(rss) / 1024 : undefined,
    lastStderr: samples.at(-1).stderr.trim().split("\n").pop(),
  };
}

// ---------------------------------------------------------------- tools

function buildCwalk() {
  const source = join(root, "bench", "cwalk.c");
  const build = spawnSync("cc", ["-O2", "-march=native", "-o", cwalkPath, source], { encoding: "utf8" });
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
    const shown = `node dist/siphon.mjs ${benchCase.siphon("FILE").join(" ")}${benchCase.pipe ? " | cat" : ""} > /dev/null`;
    tools.push({ name: "siphon", command: process.execPath, args: (f) => [siphonPath, ...benchCase.siphon(f)], runs: options.runs, shown, pipe: benchCase.pipe });
  } else notes.push("siphon: dist/siphon.mjs is missing (run node build.mjs); not measured");
  if (options.baseline) {
    const bundle = options.baseline;
    if (!existsSync(bundle)) throw new Error(`--baseline ${bundle}: no such file; give a built siphon.mjs`);
    const shown = `node ${bundle} ${benchCase.siphon("FILE").join(" ")}${benchCase.pipe ? " | cat" : ""} > /dev/null`;
    tools.push({ name: "baseline", command: process.execPath, args: (f) => [bundle, ...benchCase.siphon(f)], runs: options.runs, shown, pipe: benchCase.pipe });
  }
  if (!benchCase.tshark) notes.push(`${benchCase.name}: tshark not run on this case`);
  else if (!options.tshark) notes.push("tshark: skipped (--no-tshark)");
  else if (!tsharkVersion()) notes.push("tshark: not installed; not measured");
  else {
    const shown = `tshark ${benchCase.tshark("FILE").join(" ")} > /dev/null`;
    tools.push({ name: "tshark", command: "tshark", args: benchCase.tshark, runs: options.tsharkRuns, shown });
  }
  if (existsSync(cwalkPath)) tools.push({ name: "cwalk", command: cwalkPath, args: (f) => [f], runs: options.runs, shown: ".bench/cwalk FILE (bench/cwalk.c, cc -O2 -march=native)" });
  if (benchCase.target?.ratio === cwalkRatio) {
    tools.push({ name: "node-start", command: process.execPath, args: () => ["-e", "0"], runs: options.runs, readsFile: false, shown: "node -e 0 (Node's own start, before any of siphon's code)" });
    if (process.env.NODE_EXTRA_CA_CERTS) {
      notes.push(`NODE_EXTRA_CA_CERTS is set (${process.env.NODE_EXTRA_CA_CERTS}): every Node process here, siphon's too, reads and parses that CA file as it starts ` +
        "(node-start's row holds it); 'env -u NODE_EXTRA_CA_CERTS node bench/run.mjs ...' measures as on a machine without it");
    }
  }
  return tools;
}

// ---------------------------------------------------------------- checks and report

/** Each tool's own count, where it prints one, against the truth. */
function countCheck(result, workload) {
  if (result.error || !result.lastStderr) return undefined;
  if (result.tool === "siphon" || result.tool === "baseline") {
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
    "| case | tool | runs | median s | min s | max s | SIP msgs/s | MB/s | peak RSS MiB |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const { name, tools } of results) {
    for (const r of tools) {
      if (r.error) lines.push(`| ${name} | ${r.tool} | - | failed | | | | | |`);
      else lines.push(`| ${name} | ${r.tool} | ${r.runs} | ${format(r.medianSeconds, 3)} | ${format(r.minSeconds, 3)} | ${format(r.maxSeconds, 3)} | ${format(r.sipMessagesPerSecond, 0)} | ${format(r.megabytesPerSecond, 1)} | ${format(r.peakRssMiB, 1)} |`);
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

// Rounds interleave the cases and tools: round r runs every tool of every case once, so a change
// in the machine's load falls on all of them alike; each figure is the median over the rounds.
async function main() {
  const options = parseCommandLine();
  keepRecordings = options.keepRecordings;
  mkdirSync(benchDir, { recursive: true });
  const notes = [];
  const cwalkProblem = buildCwalk();
  if (cwalkProblem) notes.push(`cwalk: ${cwalkProblem}; not measured`);
  if (!timeBinary) notes.push("peak RSS: /usr/bin/time not found; sampled from /proc/PID/status VmHWM every 10 ms");
  const host = machine();
  const broker = options.cases.some((c) => c.broker) ? await startBroker() : undefined;
  if (broker) brokerUrl = broker.url;
  collector = options.cases.some((c) => c.collector) ? await startCollector() : undefined;
  try {
    const prepared = options.cases.map((benchCase) => prepare(benchCase, options, notes));
    const rounds = Math.max(options.runs, options.tshark ? options.tsharkRuns : 0);
    for (let round = 0; round < rounds; round++) {
      console.error(`round ${round + 1} of ${rounds}`);
      for (const { workload, tools } of prepared) {
        for (const tool of tools) {
          if (round < tool.runs) tool.samples.push(await measure(tool.command, tool.args(workload.pcap), tool.pipe));
        }
      }
    }
    const results = prepared.map((p) => result(p, notes));
    if (options.tshark && options.tsharkRuns < options.runs) notes.push(`tshark: median of ${options.tsharkRuns} runs, not ${options.runs}: one run takes tens of seconds`);
    report(host, results, [...new Set(notes)]);
    const command = ["node bench/run.mjs", ...process.argv.slice(2)].join(" ");
    const summary = { date: new Date().toISOString(), command, machine: host, cases: results, notes: [...new Set(notes)] };
    writeFileSync(join(benchDir, "results.json"), `${JSON.stringify(summary, null, 2)}\n`);
    process.exitCode = results.some((r) => r.tools.some((t) => t.error)) ? 1 : 0;
  } finally {
    if (keepRecordings) rmSync(join(benchDir, "record"), { recursive: true, force: true });
    broker?.stop();
    collector?.stop();
  }
}

/** A case's workload (generated if missing, read once untimed) and its tools, samples still empty. */
function prepare(benchCase, options, notes) {
  const workload = generatedWorkload(benchCase.name, benchCase.generate, benchCase.generator);
  console.error(`${benchCase.name}: ${workload.sipMessages} SIP messages, ${workload.packets} packets, ${(workload.bytes / 1e6).toFixed(1)} MB`);
  // One untimed pass so the first timed tool doesn't pay for reading the file from disk.
  if (existsSync(cwalkPath)) {
    const problem = cwalkCheck(workload);
    if (problem) notes.push(`${benchCase.name}: ${problem}`);
  }
  const tools = toolsFor(benchCase, options, notes).map((tool) => ({ ...tool, samples: [] }));
  return { benchCase, workload, tools };
}

function result({ benchCase, workload, tools }, notes) {
  const summed = tools.map((tool) => {
    const r = summarize(tool, workload, tool.samples);
    if (r.error) notes.push(`${benchCase.name}: ${tool.name} failed (${r.error})`);
    const problem = countCheck(r, workload);
    if (problem) notes.push(`${benchCase.name}: ${problem}`);
    return r;
  });
  const files = { pcap: relative(root, workload.pcap), truthFile: relative(root, workload.truthFile) };
  return {
    name: benchCase.name, about: benchCase.about, peer: benchCase.peer ?? "mixed-udp", target: benchCase.target,
    workload: { generate: benchCase.generate, ...workload, ...files }, tools: summed, ratios: ratios(summed), showSummary: benchCase.showSummary,
  };
}

// ---------------------------------------------------------------- issue 15's targets

function siphonOf(caseResult) {
  return caseResult?.tools.find((t) => t.tool === "siphon" && !t.error);
}

/** siphon's median time over the C walk's on the same file, in the same run, and each round's. */
function cwalkRatio(caseResult) {
  return versus(siphonOf(caseResult), caseResult.tools.find((t) => t.tool === "cwalk" && !t.error));
}

/** siphon's median time over that of its peer case (plain NDJSON to /dev/null) in the same run, and each round's. */
function ndjsonRatio(caseResult, results) {
  return versus(siphonOf(caseResult), siphonOf(results.find((c) => c.name === caseResult.peer)));
}

// One tool's time over another's: the ratio of their medians (the figure shown), and the ratio in each
// round they both ran (what the target is judged on: bench/stats.mjs).
function versus(tool, peer) {
  if (!tool || !peer) return undefined;
  const rounds = Math.min(tool.walls.length, peer.walls.length);
  return { ratio: tool.medianSeconds / peer.medianSeconds, rounds: tool.walls.slice(0, rounds).map((w, i) => w / peer.walls[i]) };
}

/** The case as if the baseline build were siphon, for its figure on the same target. */
function asBaseline(caseResult) {
  const tools = caseResult.tools.filter((t) => t.tool !== "siphon").map((t) => (t.tool === "baseline" ? { ...t, tool: "siphon" } : t));
  return { ...caseResult, tools };
}

/** The case's target, its figure in this run, and whether it is met. */
function targetLine(caseResult, results) {
  const { target } = caseResult;
  const measured = target.ratio(caseResult, results);
  if (measured === undefined) return `  target: ${target.text}: not measured (its peer${target.ratio === ndjsonRatio ? ` ${caseResult.peer}` : " cwalk"} is not in this run)`;
  const parts = [`${target.ratio === cwalkRatio ? "÷ cwalk" : `÷ ${caseResult.peer}`} ${measured.ratio.toFixed(2)}`];
  // Judged on the rounds' ratios: met when their median's 95% interval is under the limit, not met
  // when it is above, else the rounds cannot tell.
  let verdict = "met";
  if (target.limit !== undefined) {
    const rounds = judge(measured.rounds, target.limit);
    parts.push(`each round's: median ${rounds.median.toFixed(2)}, ${rounds.low.toFixed(2)} to ${rounds.high.toFixed(2)} ` +
      `(${Math.floor(rounds.coverage * 100)}% interval of the median, ${measured.rounds.length} rounds)`);
    verdict = rounds.verdict;
  }
  const rss = siphonOf(caseResult)?.peakRssMiB;
  if (target.rssOverNdjson !== undefined) {
    const peerRss = siphonOf(results.find((c) => c.name === caseResult.peer))?.peakRssMiB;
    parts.push(`peak RSS ${format(rss, 1)} MiB against ${format(peerRss, 1)}`);
    if (rss === undefined || peerRss === undefined || rss > peerRss + target.rssOverNdjson) verdict = "NOT met";
  }
  if (target.rssMiB !== undefined) {
    parts.push(`peak RSS ${format(rss, 1)} MiB`);
    if (rss === undefined || rss > target.rssMiB) verdict = "NOT met";
  }
  return `  target: ${target.text}: ${parts.join(", ")}${target.limit === undefined ? "" : ` (${verdict})`}`;
}

function report(host, results, notes) {
  console.log(`\nmachine: ${host.cpu}, ${host.nproc} CPUs, Linux ${host.kernel}, node ${host.node}, ${host.tshark}; load average at start ${host.loadAverageAtStart.join(" ")}\n`);
  console.log(table(results));
  console.log("");
  for (const caseResult of results) {
    const { name, workload, ratios: r, tools, showSummary } = caseResult;
    console.log(`${name}: ${workload.sipMessages} SIP messages in ${workload.packets} packets, ${(workload.bytes / 1e6).toFixed(1)} MB`);
    if (r.siphonMsgsPerSecondOverTshark !== undefined) console.log(`  siphon msgs/s ÷ tshark msgs/s = ${r.siphonMsgsPerSecondOverTshark.toFixed(1)}`);
    if (r.siphonSecondsOverCwalk !== undefined) console.log(`  siphon time ÷ cwalk time = ${r.siphonSecondsOverCwalk.toFixed(1)}`);
    const siphon = tools.find((t) => t.tool === "siphon");
    if (showSummary && siphon?.lastStderr) console.log(`  ${siphon.lastStderr}`);
    if (caseResult.target) console.log(targetLine(caseResult, results));
    const baseline = tools.find((t) => t.tool === "baseline" && !t.error);
    if (baseline && siphon?.medianSeconds) {
      console.log(`  siphon time ÷ baseline time = ${(siphon.medianSeconds / baseline.medianSeconds).toFixed(2)}`);
      if (caseResult.target) console.log(targetLine(asBaseline(caseResult), results.map(asBaseline)).replace("target:", "baseline on the target:"));
    }
  }
  for (const note of notes) console.log(`note: ${note}`);
  console.log(`\nresults: ${join(".bench", "results.json")}`);
}

main().catch((error) => {
  console.error(`bench: ${error.message}`);
  process.exitCode = 1;
});
