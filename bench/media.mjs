#!/usr/bin/env node
// Media tracking's cost: `siphon replay FILE --out /dev/null` with media tracking
// on (the default) and off (--media-calls 0), in alternating rounds, medians.
// FILE should carry RTP at a realistic density: the generator's --media gives 50
// packets/s per direction (docs/performance.md has the command that made it).
// usage: node bench/media.mjs FILE [--runs N] [-- EXTRA SIPHON ARGS]
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const siphon = fileURLToPath(new URL("../dist/siphon.mjs", import.meta.url));
const args = process.argv.slice(2);
const dash = args.indexOf("--");
const extra = dash >= 0 ? args.slice(dash + 1) : [];
const own = dash >= 0 ? args.slice(0, dash) : args;
const usage = "usage: node bench/media.mjs FILE [--runs N] [-- EXTRA SIPHON ARGS]";
if (own.includes("--help") || own.includes("-h")) {
  console.log(usage);
  process.exit(0);
}
const file = own[0];
const runsAt = own.indexOf("--runs");
const runs = runsAt >= 0 ? Number(own[runsAt + 1]) : 5;
if (!file || file.startsWith("-") || !(runs >= 1)) {
  console.error(usage);
  process.exit(2);
}

function once(media) {
  const argv = [siphon, "replay", file, "--out", "/dev/null", "--no-progress", ...(media ? [] : ["--media-calls", "0"]), ...extra];
  const start = process.hrtime.bigint();
  const run = spawnSync(process.execPath, argv, { encoding: "utf8", maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (run.status !== 0) throw new Error(`siphon exited ${run.status}: ${run.stderr}`);
  return seconds;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const on = [], off = [];
for (let i = 0; i < runs; i++) {
  off.push(once(false));
  on.push(once(true));
}
const [mOn, mOff] = [median(on), median(off)];
console.log(`media off (--media-calls 0): median ${mOff.toFixed(3)} s of ${runs} [${off.map((s) => s.toFixed(3)).join(" ")}]`);
console.log(`media on (default):          median ${mOn.toFixed(3)} s of ${runs} [${on.map((s) => s.toFixed(3)).join(" ")}]`);
console.log(`on / off: ${(mOn / mOff).toFixed(3)}`);
