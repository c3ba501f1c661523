#!/usr/bin/env node
// A capture piped to stdin against the same file: `siphon replay F --out /dev/null` and
// `cat F | siphon replay - --out /dev/null`, in interleaved rounds (load that comes and goes falls
// on every case alike): wall medians with their spread, and siphon's own CPU (user + sys, from
// /usr/bin/time, which this needs), steadier than the wall on a shared machine.
//
//   node bench/stdin.mjs --capture F [--rounds N] [--compare OTHER/siphon.mjs]
//
// --compare adds the same two cases for another build (say, main before a change) to the rounds.
// The bench's mixed-udp capture comes from `node bench/run.mjs --case mixed-udp --runs 1 --no-tshark`
// (.bench/workload-*.pcap). The addon is the one bench/run.mjs picks, for every build.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandLine, refuse } from "./args.mjs";
import { median } from "./stats.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

const USAGE = `usage: node bench/stdin.mjs --capture F [--rounds N] [--compare OTHER/siphon.mjs]
  (default: --rounds 7)
replay F against cat F | replay -, both to /dev/null, in interleaved rounds: wall medians (min to max)
and siphon's CPU (user + sys). --compare adds another build's two cases to the same rounds.`;
const { values } = parseCommandLine(USAGE, { options: {
  capture: { type: "string" },
  rounds: { type: "string", default: "7" },
  compare: { type: "string" },
} });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) refuse(USAGE, "--rounds takes a whole number from 1");
if (values.capture === undefined) refuse(USAGE, "--capture F is needed");

process.env.SIPHON_PCAP_ADDON ??= createRequire(import.meta.url)("node-gyp-build").resolve(root);
const timeFile = join(mkdtempSync(join(tmpdir(), "siphon-stdin-")), "time");
const timed = `/usr/bin/time -f "%U %S" -o ${timeFile} ${process.execPath}`;

function casesOf(label, bundle) {
  return [
    { label: `${label} file`, command: `${timed} ${bundle} replay "$F" --out /dev/null` },
    { label: `${label} cat |`, command: `cat "$F" | ${timed} ${bundle} replay - --out /dev/null` },
  ].map((c) => ({ ...c, wall: [], cpu: [] }));
}

const cases = [...casesOf("this", join(root, "dist", "siphon.mjs")), ...(values.compare ? casesOf("other", values.compare) : [])];

function runOnce(c) {
  const start = process.hrtime.bigint();
  const r = spawnSync("bash", ["-c", c.command], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, F: values.capture } });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) {
    process.stderr.write(`bench/stdin.mjs: ${c.label} failed (exit ${r.status}): ${r.stderr}\n`);
    process.exit(1);
  }
  const [user, system] = readFileSync(timeFile, "utf8").trim().split(/\s+/).map(Number);
  c.wall.push(wall);
  c.cpu.push(user + system);
}

const load = [loadavg()[0]];
for (let round = 0; round < rounds; round++) for (const c of cases) runOnce(c);
load.push(loadavg()[0]);
console.log(`${values.capture}, ${rounds} rounds, load average ${load.map((l) => l.toFixed(2)).join(" then ")}`);
for (const c of cases) {
  console.log(`${c.label.padEnd(12)} wall ${median(c.wall).toFixed(3)} s (${Math.min(...c.wall).toFixed(3)} to ${Math.max(...c.wall).toFixed(3)}), ` +
    `CPU ${median(c.cpu).toFixed(2)} s`);
}
