#!/usr/bin/env node
// The web view's cost (docs/performance.md, docs/http.md): one generated workload
// replayed from a pipe, in rounds, four ways: without the call tracker; with it
// (--events /dev/null, the peer: the web view needs the tracker's events); with
// the web view open (--http and one live SSE client reading, as a page does);
// and with 50 live clients. Each is timed from the first byte piped in to the
// exit, and by the CPU siphon used (user + system, from /proc: the machine is
// shared, and CPU time is what another process on it does not change much);
// medians of the rounds, the variants interleaved in each round. --baseline FILE
// runs another build (an older commit's dist/siphon.mjs) in the same rounds, its
// peer and its web view beside this build's: before and after in one run.
//
//   flock /tmp/siphon-bench.lock node bench/http.mjs [--messages 20000] [--rounds 5] [--baseline FILE]
import { spawn, spawnSync } from "node:child_process";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { get } from "node:http";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandLine, refuse } from "./args.mjs";
import { judged, median } from "./stats.mjs";
import { generatedWorkload } from "./workloads.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
// A --baseline bundle copied elsewhere finds no prebuilds/ beside it and would run without the
// addon, its stdin pipe left at 64 KiB: both builds load this checkout's (as bench/run.mjs does).
process.env.SIPHON_PCAP_ADDON ??= createRequire(import.meta.url)("node-gyp-build").resolve(root);
const siphon = join(root, "dist", "siphon.mjs");
const USAGE = `usage: flock /tmp/siphon-bench.lock node bench/http.mjs [--messages 20000] [--rounds 5] [--baseline FILE]
The web view's cost: a generated workload replayed from a pipe without the tracker, with it, with --http and
one live SSE client, and with 50; wall and CPU time, medians of the rounds. --baseline FILE runs another
build's siphon.mjs in the same rounds. Issue 13's targets (at most 10% of throughput lost to one page,
and to 50 pages against one) are judged on each round's own figures (bench/stats.mjs).`;
const { values } = parseCommandLine(USAGE, { options: { messages: { type: "string", default: "20000" }, rounds: { type: "string", default: "5" },
  baseline: { type: "string" } } });
if (values.baseline !== undefined && !existsSync(values.baseline)) {
  refuse(USAGE, `--baseline ${values.baseline}: no such file; give a built siphon.mjs (e.g. another worktree's dist/siphon.mjs)`);
}
const messages = Number(values.messages);
const rounds = Number(values.rounds);
const TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

// CPU seconds a process has used so far (0 once it is gone); with `thread`, its main
// thread's alone (the one that reads, parses and tracks; V8 compiles and collects
// garbage on others).
function cpuSeconds(pid, thread = false) {
  try {
    const fields = readFileSync(thread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS;   // utime, stime: fields 14 and 15 of stat(5)
  } catch {
    return 0;
  }
}

function workload() {
  return generatedWorkload(`the web view's workload`, ["--seed", "1", "--messages", String(messages)]).pcap;
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// SSE clients that read everything, as a page does; resolves once all are connected.
function liveClients(port, n) {
  const clients = [];
  const connected = Array.from({ length: n }, () => new Promise((resolve, reject) => {
    // A connection of its own, not the global agent's: a stream the server ends cleanly would
    // otherwise go back to the agent's pool, unreferenced, and its close be waited on for nothing.
    const req = get({ host: "127.0.0.1", port, path: "/api/live", agent: false }, (res) => {
      const client = { bytes: 0, req };
      res.on("data", (d) => { client.bytes += d.length; });
      res.on("error", () => undefined);
      clients.push(client);
      resolve();
    });
    req.on("error", reject);
  }));
  return Promise.all(connected).then(() => clients);
}

async function once(pcap, variant) {
  const port = await freePort();
  const args = ["replay", "-", "--out", "/dev/null", "--no-progress", "--log-level", "info"];
  if (variant.events) args.push("--events", "/dev/null");
  if (variant.clients !== undefined) args.push("--http", `127.0.0.1:${port}`);
  const child = spawn(process.execPath, [variant.bundle ?? siphon, ...args], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  // A siphon that exits before its configuration line (a port taken since freePort() looked) says
  // why, rather than leaving this process with nothing to wait on (node would end it silently).
  const ready = new Promise((resolve, reject) => {
    child.stderr.on("data", (d) => {
      stderr += d;
      if (stderr.includes('"msg":"configuration"')) resolve();
    });
    child.once("exit", (code) => reject(new Error(`${variant.name}: siphon exited ${code} before its configuration line: ${stderr}`)));
  });
  let [cpu, mainCpu] = [0, 0];
  const sampler = setInterval(() => {
    cpu = Math.max(cpu, cpuSeconds(child.pid));
    mainCpu = Math.max(mainCpu, cpuSeconds(child.pid, true));
  }, 10);
  const exited = new Promise((resolve) => child.on("exit", (code) => { clearInterval(sampler); resolve(code); }));
  await ready;
  const [cpuAtStart, mainAtStart] = [cpuSeconds(child.pid), cpuSeconds(child.pid, true)];
  const clients = variant.clients ? await liveClients(port, variant.clients) : [];
  const started = process.hrtime.bigint();
  createReadStream(pcap).pipe(child.stdin);
  const code = await exited;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${variant.name}: siphon exited ${code}: ${stderr}`);
  // The clients' sockets closed before the next run starts: 50 of them closing in this process
  // would take CPU from it.
  await Promise.all(clients.map((c) => new Promise((resolve) => {
    if (c.req.socket.closed) return resolve();
    c.req.socket.once("close", resolve);
    c.req.socket.destroy();
  })));
  return { seconds, cpu: cpu - cpuAtStart, mainCpu: mainCpu - mainAtStart, sseBytes: clients.reduce((sum, c) => sum + c.bytes, 0) / Math.max(1, clients.length) };
}

const VARIANTS = [
  { name: "replay (no tracker)", events: false },
  { name: "replay --events /dev/null (peer)", events: true },
  { name: "+ --http, no client", events: true, clients: 0 },
  { name: "+ --http, 1 live client", events: true, clients: 1 },
  { name: "+ --http, 50 live clients", events: true, clients: 50 },
];
// The baseline's peer and web view, compared with the baseline's own peer.
if (values.baseline !== undefined) {
  for (const v of VARIANTS.slice(1)) VARIANTS.push({ ...v, name: `baseline: ${v.name}`, bundle: values.baseline });
}

const pcap = workload();
console.error(`workload: ${pcap} (${(statSync(pcap).size / 1e6).toFixed(1)} MB, ${messages} SIP messages asked for)`);
const samples = VARIANTS.map(() => []);
const cpus = VARIANTS.map(() => []);
const mainCpus = VARIANTS.map(() => []);
const sse = VARIANTS.map(() => []);
// The variants in another order each round (a fixed shuffle, the same on every run of the
// bench): in one fixed order the run after the 50 clients' was the baseline's peer in every
// round, and it read 25% slower than this build's peer though the builds were the same.
function shuffled(n, seed) {
  const order = Array.from({ length: n }, (_, i) => i);
  let x = seed * 2654435761 % 4294967296 + 1;
  for (let i = n - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const j = x % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

for (let r = 0; r < rounds; r++) {
  for (const i of shuffled(VARIANTS.length, r + 1)) {
    const variant = VARIANTS[i];
    const { seconds, cpu, mainCpu, sseBytes } = await once(pcap, variant);
    mainCpus[i].push(mainCpu);
    samples[i].push(seconds);
    cpus[i].push(cpu);
    sse[i].push(sseBytes);
  }
  console.error(`round ${r + 1}/${rounds}: ${samples.map((s, i) => `${s.at(-1).toFixed(3)} s (${cpus[i].at(-1).toFixed(2)} CPU)`).join(", ")}`);
}
// Each build against its own peer: this build's at index 1, the baseline's right after this build's variants.
const own = (i) => (VARIANTS[i].bundle === undefined ? 1 : 5);
console.log(`| variant | median wall s (${rounds} rounds) | messages/s | throughput vs peer | median CPU s | CPU vs peer | main thread CPU s | vs peer | SSE bytes per client |`);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const [i, variant] of VARIANTS.entries()) {
  const [m, c] = [median(samples[i]), median(cpus[i])];
  const [peer, peerCpu] = [median(samples[own(i)]), median(cpus[own(i)])];
  const [t, peerT] = [median(mainCpus[i]), median(mainCpus[own(i)])];
  console.log(`| ${variant.name} | ${m.toFixed(3)} | ${Math.round(messages / m).toLocaleString("en-US")} | ${(peer / m * 100).toFixed(1)}% | ` +
    `${c.toFixed(2)} | ${(c / peerCpu * 100).toFixed(1)}% | ${t.toFixed(2)} | ${(t / peerT * 100).toFixed(1)}% | ${variant.clients ? Math.round(median(sse[i])).toLocaleString("en-US") : "-"} |`);
}
// A live variant whose clients read only the stream's first line (the retry line) in most rounds
// had no update sent: its row measures no page at all (a build whose server does not flush at close).
for (const [i, variant] of VARIANTS.entries()) {
  if (variant.clients && median(sse[i]) < 1024) {
    console.log(`\nwarning: ${variant.name}: the live clients read ${Math.round(median(sse[i]))} bytes (median): no updates reached them, ` +
      "so this row measures no page work");
  }
}
for (const [label, first] of values.baseline === undefined ? [["", 1]] : [["this build: ", 1], ["baseline: ", 5]]) {
  const [peer, open, one, fifty] = [0, 1, 2, 3].map((k) => median(samples[first + k]));
  const [peerCpu, openCpu, oneCpu, fiftyCpu] = [0, 1, 2, 3].map((k) => median(cpus[first + k]));
  console.log(`\n${label}web view on, one page open: throughput ${((1 - peer / one) * 100).toFixed(1)}% below the peer (CPU +${((oneCpu / peerCpu - 1) * 100).toFixed(1)}%); ` +
    `no page: ${((1 - peer / open) * 100).toFixed(1)}% (CPU +${((openCpu / peerCpu - 1) * 100).toFixed(1)}%); ` +
    `50 pages: ${((1 - one / fifty) * 100).toFixed(1)}% below one page (CPU +${((fiftyCpu / oneCpu - 1) * 100).toFixed(1)}%)`);
}
// Issue 13's targets judged on each round's own figures (bench/stats.mjs): throughput lost to the web
// view with a page open, against the peer, and fifty pages against one, each at most 10%.
for (const [label, first] of values.baseline === undefined ? [["", 1]] : [["this build: ", 1], ["baseline: ", 5]]) {
  const [peer, one, fifty] = [0, 2, 3].map((k) => samples[first + k]);
  console.log(`${label}throughput lost to one page, each round's: ${judged(peer.map((p, r) => 1 - p / one[r]), 0.1)}`);
  console.log(`${label}throughput lost by 50 pages against one, each round's: ${judged(one.map((o, r) => 1 - o / fifty[r]), 0.1)}`);
}
