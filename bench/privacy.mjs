#!/usr/bin/env node
// --anonymize's cost beside the same replay without it, in interleaved rounds (plain,
// anonymized, plain, anonymized ...) so that a machine whose load drifts weighs on both
// alike: mixed-udp's workload (bench/run.mjs's, 160,000 SIP messages) replayed with events
// on (--events /dev/null, envelopes to /dev/null), then with --anonymize KEY, then with
// --encrypt-fields and --anonymize-envelopes as well. Per variant: the median wall time and
// the median CPU time (user + system, from /usr/bin/time) over the rounds, and each ratio
// to the plain replay of the same run. docs/performance.md, "Privacy".
//
//   flock /tmp/siphon-bench.lock node bench/privacy.mjs [--rounds N] [--messages N]
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "./args.mjs";
import { median } from "./stats.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const benchDir = join(root, ".bench");
const siphon = join(root, "dist", "siphon.mjs");

const USAGE = `usage: flock /tmp/siphon-bench.lock node bench/privacy.mjs [--rounds N] [--messages N]   (defaults: 9 and 160000)
--anonymize's cost beside the same replay without it, and with --encrypt-fields and --anonymize-envelopes as
well, in interleaved rounds: median wall and CPU time per variant, and each ratio to the plain replay.`;
const { values } = parseCommandLine(USAGE, { options: { rounds: { type: "string", default: "9" }, messages: { type: "string", default: "160000" } } });
const rounds = Number(values.rounds);
const messages = Number(values.messages);

function workload() {
  mkdirSync(benchDir, { recursive: true });
  const pcap = join(benchDir, `privacy-1-${messages}.pcap`);
  if (!existsSync(pcap)) {
    const made = spawnSync(process.execPath, [join(root, "test/support/generate.mjs"), "--seed", "1", "--messages", String(messages), "--out", pcap],
      { stdio: "inherit" });
    if (made.status !== 0) throw new Error("the workload generator failed");
  }
  return pcap;
}

function key() {
  const path = join(benchDir, "privacy.key");
  writeFileSync(path, `${"5a".repeat(32)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

// One run: wall and CPU seconds, from /usr/bin/time's "%e %U %S".
function timed(args) {
  const out = join(benchDir, "privacy-time.txt");
  const run = spawnSync("/usr/bin/time", ["-f", "%e %U %S", "-o", out, process.execPath, siphon, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  if (run.status !== 0) throw new Error(`siphon ${args.join(" ")} exited ${run.status}: ${run.stderr}`);
  const [wall, user, system] = readFileSync(out, "utf8").trim().split("\n").pop().split(" ").map(Number);
  return { wall, cpu: user + system };
}


const pcap = workload();
const keyFile = key();
const base = ["replay", pcap, "--out", "/dev/null", "--events", "/dev/null", "--no-progress"];
const variants = [
  { name: "events", args: base },
  { name: "events --anonymize", args: [...base, "--anonymize", keyFile] },
  { name: "events --anonymize --encrypt-fields --anonymize-envelopes", args: [...base, "--anonymize", keyFile, "--encrypt-fields", "--anonymize-envelopes"] },
];
const times = variants.map(() => []);
const load = loadavg().map((l) => l.toFixed(2)).join(" ");
for (let round = 0; round < rounds; round++) {
  variants.forEach((v, i) => times[i].push(timed(v.args)));
  process.stderr.write(`round ${round + 1} of ${rounds}\n`);
}
const plain = { wall: median(times[0].map((t) => t.wall)), cpu: median(times[0].map((t) => t.cpu)) };
console.log(`${messages} SIP messages (bench/run.mjs's mixed-udp workload), ${rounds} interleaved rounds, ${availableParallelism()} CPUs, load average at start ${load}\n`);
console.log("| siphon replay FILE --out /dev/null ... | median wall s | median CPU s | wall ÷ events | CPU ÷ events |");
console.log("| --- | ---: | ---: | ---: | ---: |");
variants.forEach((v, i) => {
  const wall = median(times[i].map((t) => t.wall));
  const cpu = median(times[i].map((t) => t.cpu));
  console.log(`| ${v.name} | ${wall.toFixed(3)} | ${cpu.toFixed(3)} | ${(wall / plain.wall).toFixed(3)} | ${(cpu / plain.cpu).toFixed(3)} |`);
});
