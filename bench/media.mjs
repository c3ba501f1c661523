#!/usr/bin/env node
// Media tracking's cost: `siphon replay FILE --out /dev/null` with media tracking
// on (--media-calls 8192, the default slots, given: a replay whose outputs read no
// media figures tracks none unless asked) and off (--media-calls 0), in alternating
// rounds, medians.
// FILE should carry RTP at a realistic density: the generator's --media gives 50
// packets/s per direction (docs/performance.md has the command that made it).
// --baseline OTHER.mjs (another build's bundle, e.g. main's dist/siphon.mjs copied
// aside) runs it in the same rounds (its off, its on, this off, this on), so both
// builds see the same load: on this shared machine rounds drift by 30% and more, and
// the median of each round's own on/off ratio ("paired") is the steadiest figure.
// usage: node bench/media.mjs FILE [--runs N] [--baseline BUNDLE] [-- EXTRA SIPHON ARGS]
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseCommandLine, refuse } from "./args.mjs";
import { judged, median } from "./stats.mjs";

const siphon = fileURLToPath(new URL("../dist/siphon.mjs", import.meta.url));
const args = process.argv.slice(2);
const dash = args.indexOf("--");
const extra = dash >= 0 ? args.slice(dash + 1) : [];
const own = dash >= 0 ? args.slice(0, dash) : args;
const usage = `usage: node bench/media.mjs FILE [--runs N] [--baseline BUNDLE] [-- EXTRA SIPHON ARGS]   (default: --runs 5)
Media tracking's cost: siphon replay FILE --out /dev/null with media tracking on (--media-calls 8192) and off (--media-calls 0),
in alternating rounds, medians; --baseline runs another build's bundle in the same rounds. Issue 12's
target (on / off at most 1.20) is judged on each round's own ratio (bench/stats.mjs).`;
const { values, positionals } = parseCommandLine(usage, { args: own, allowPositionals: true,
  options: { runs: { type: "string", default: "5" }, baseline: { type: "string" } } });
const [file, ...more] = positionals;
const runs = Number(values.runs);
const baseline = values.baseline;
if (!file) refuse(usage, "a capture FILE is required");
if (more.length > 0) refuse(usage, `unexpected argument '${more[0]}'`);
if (!(runs >= 1)) refuse(usage, `--runs ${values.runs}: want a positive number`);
if (baseline === "") refuse(usage, "--baseline wants a bundle");

// The default number of slots, given: without an output that reads media (events, recordings) only
// a given --media-calls turns tracking on.
const MEDIA_CALLS = 8192;

function once(bundle, media) {
  const argv = [bundle, "replay", file, "--out", "/dev/null", "--no-progress", "--media-calls", media ? String(MEDIA_CALLS) : "0", ...extra];
  const start = process.hrtime.bigint();
  const run = spawnSync(process.execPath, argv, { encoding: "utf8", maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (run.status !== 0) throw new Error(`${bundle} exited ${run.status}: ${run.stderr}`);
  return seconds;
}

// Issue 12: replay with media tracking on within 20% of replay with it off.
const TARGET = 1.2;
const builds = [...(baseline ? [{ name: `baseline ${baseline}`, bundle: baseline }] : []), { name: "this build", bundle: siphon }];
for (const b of builds) Object.assign(b, { on: [], off: [] });
for (let i = 0; i < runs; i++) {
  for (const b of builds) {
    b.off.push(once(b.bundle, false));
    b.on.push(once(b.bundle, true));
  }
}
for (const b of builds) {
  const [mOn, mOff] = [median(b.on), median(b.off)];
  if (baseline) console.log(`${b.name}:`);
  console.log(`media off (--media-calls 0): median ${mOff.toFixed(3)} s of ${runs} [${b.off.map((s) => s.toFixed(3)).join(" ")}]`);
  console.log(`media on (--media-calls ${MEDIA_CALLS}): median ${mOn.toFixed(3)} s of ${runs} [${b.on.map((s) => s.toFixed(3)).join(" ")}]`);
  console.log(`on / off: ${(mOn / mOff).toFixed(3)}; paired (median of each round's on / off): ${median(b.on.map((s, i) => s / b.off[i])).toFixed(3)}`);
  console.log(`target, each round's on / off: ${judged(b.on.map((s, i) => s / b.off[i]), TARGET)}`);
}
