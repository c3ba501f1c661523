#!/usr/bin/env node
// Instructions per function, WebAssembly core included: exact counts where perf only samples.
// Builds a bundle whose SIMD core keeps its function names (asc --debug, optimized as the
// release), runs one siphon command under `valgrind --tool=callgrind --dump-instr=yes` with
// V8 writing its perf map (--perf-basic-prof), and names each instruction's function from that
// map: callgrind sees V8's generated code only as addresses. With --base ARGS, the same for a
// second command line, and each function's difference (say, with --events less without). With
// --callers NAME, the calls into the functions whose name holds NAME, by calling function, with
// what they cost inside (a V8 builtin such as Builtins_LoadIC is otherwise a total without a why).
// With --misses, last-level cache misses of data (callgrind's simulated cache, reads and writes;
// --cache-mb N for a last level of N MiB) instead of instructions: where a run waits on memory,
// which instructions do not show. With --mispredicts, mispredicted branches (callgrind's branch
// predictor model, conditional and indirect).
//
//   node bench/profile.mjs [--top N] [--base 'ARGS'] [--callers NAME] [--misses | --mispredicts] -- replay FILE --out /dev/null --events /dev/null
//
// Needs valgrind. Takes about a minute per 100,000 messages; the bundle goes to a temporary
// directory, build/ and dist/ are left as they are. Counts are of the whole process: start-up,
// V8's compilers and the host's JavaScript are there too, by their own names.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";
import * as esbuild from "esbuild";
import { parseCommandLine, refuse } from "./args.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const USAGE = `usage: node bench/profile.mjs [--top N] [--base 'ARGS'] [--callers NAME] [--misses [--cache-mb N] | --mispredicts] -- SIPHON ARGS...   (default: --top 40)
Instructions per function of one siphon run under callgrind, the WebAssembly core's functions by
name (a bundle built with them into a temporary directory). --base runs a second command line
(its arguments in one string, split at spaces) and prints each function's count in both and the
difference, largest first. --callers NAME adds the calls into functions whose name holds NAME, by
caller, with their inclusive instructions. --misses counts last-level data cache misses (callgrind's
simulated cache, the size of this machine's last level or N MiB: on a shared machine a process
has only part of it) instead of instructions; --mispredicts, mispredicted branches (callgrind's
model). Needs valgrind.`;
const { values, positionals } = parseCommandLine(USAGE, {
  options: { top: { type: "string", default: "40" }, base: { type: "string" }, callers: { type: "string" }, misses: { type: "boolean" }, "cache-mb": { type: "string" },
    mispredicts: { type: "boolean" } }, allowPositionals: true,
});
const top = Number(values.top);
if (values.misses && values.mispredicts) refuse(USAGE, "--misses and --mispredicts count different things: give one");
const cacheMb = values["cache-mb"] === undefined ? undefined : Number(values["cache-mb"]);
if (cacheMb !== undefined && (!values.misses || ![1, 2, 4, 8, 16, 32, 64].includes(cacheMb))) refuse(USAGE, "--cache-mb wants --misses and a power of two from 1 to 64");
// What is counted: instructions, the simulated last level's data read and write misses, or mispredicted branches.
const counted = values.misses ? { options: ["--cache-sim=yes", ...(cacheMb ? [`--LL=${cacheMb << 20},16,64`] : [])], events: ["DLmr", "DLmw"], unit: "k LL data misses", scale: 1e3 }
  : values.mispredicts ? { options: ["--branch-sim=yes"], events: ["Bcm", "Bim"], unit: "k mispredicted branches", scale: 1e3 }
  : { options: [], events: ["Ir"], unit: "M instructions", scale: 1e6 };
if (!Number.isInteger(top) || top < 1) refuse(USAGE, "--top wants a positive integer");
if (positionals.length === 0) refuse(USAGE, "no siphon command line after --");
if (spawnSync("valgrind", ["--version"]).status !== 0) refuse(USAGE, "valgrind is not installed (apt-get install valgrind)");

// The release's bundle options, the SIMD core built with its names into `dir`, both cores
// taken from there: an esbuild plugin points host/core/core.ts's imports at them.
async function namedBundle(dir) {
  const { bundleOptions } = await import(join(root, "build.mjs"));
  for (const target of ["simd", "scalar"]) {
    const outFile = join(dir, `core.${target}.wasm`);
    const { error, stderr } = await asc.main(["--config", join(root, "asconfig.json"), "--target", target, "--debug", "--outFile", outFile],
      { stdout: process.stderr, stderr: process.stderr });
    if (error) throw new Error(`the ${target} core did not compile: ${stderr.toString()}`);
  }
  const cores = { name: "named-cores", setup(b) {
    b.onResolve({ filter: /build\/core\.(simd|scalar)\.wasm$/ }, (args) => ({ path: join(dir, args.path.split("/").pop()) }));
  } };
  const outfile = join(dir, "siphon.mjs");
  await esbuild.build({ ...bundleOptions, entryPoints: [join(root, "host/cli/main.ts")], outfile, plugins: [cores] });
  return outfile;
}

// Self instructions by function name: callgrind's own names for native code, V8's perf map's
// for generated code (JavaScript and WebAssembly), which callgrind knows only by address.
function countsOf(bundle, dir, args, callee) {
  const out = join(dir, "callgrind.out");
  const run = spawnSync("valgrind", ["--tool=callgrind", "--dump-instr=yes", ...counted.options, `--callgrind-out-file=${out}`,
    process.execPath, "--perf-basic-prof", "--no-liftoff", "--no-wasm-dynamic-tiering", bundle, ...args], { encoding: "utf8", cwd: root, maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`siphon ${args.join(" ")} exited ${run.status}: ${run.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  const pid = /^pid: (\d+)$/m.exec(readFileSync(out, "utf8"))?.[1];
  const map = join("/tmp", `perf-${pid}.map`);
  try {
    return attribute(readFileSync(out, "utf8"), perfMap(readFileSync(map, "utf8")), callee);
  } finally {
    rmSync(map, { force: true });
  }
}

function perfMap(text) {
  return text.trim().split("\n").map((line) => {
    const [, start, size, name] = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    return { start: BigInt(`0x${start}`), end: BigInt(`0x${start}`) + BigInt(`0x${size}`), name: name.replace(/-\d+-(turbofan|liftoff)$/, "") };
  }).sort((a, b) => (a.start < b.start ? -1 : 1));
}

function generatedName(ranges, address) {
  let [lo, hi, found] = [0, ranges.length - 1, -1];
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid].start <= address) [found, lo] = [mid, mid + 1];
    else hi = mid - 1;
  }
  return found >= 0 && address < ranges[found].end ? ranges[found].name : "(generated code, unnamed)";
}

// callgrind's format with `positions: instr line`: a cost line is an instruction address
// (absolute, or relative to the last: +n, -n, *), a line number, then the counts in the order of
// the `events:` line (those left off at the end are 0); the line after
// calls= is the call's inclusive cost, not the function's own: with `callee`, it is counted in
// `callers` for the calling function when the called one's name holds `callee`.
function attribute(text, ranges, callee) {
  const counts = new Map();
  const callers = new Map();
  const objects = new Map();
  const functions = new Map();
  let [address, object, fn, inclusive, called] = [0n, "", "", false, ""];
  let columns = [2];   // where the counted events are on a cost line
  const cost = (fields) => columns.reduce((sum, c) => sum + Number(fields[c] ?? 0), 0);
  const add = (name, ir) => counts.set(name, (counts.get(name) ?? 0) + ir);
  const caller = () => (object === "???" || object === "" ? generatedName(ranges, address) : fn);
  for (const line of text.split("\n")) {
    // Names are given once, where an id first appears (in ob=, fn=, or cob=, cfn= of a call).
    const named = /^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$/.exec(line);
    if (named) {
      const table = named[2] === "ob" ? objects : functions;
      if (named[4] !== undefined) table.set(named[3], named[4]);
      if (named[1] === "c") {
        if (named[2] === "fn") called = table.get(named[3]) ?? "";
        continue;
      }
      if (named[2] === "ob") object = table.get(named[3]) ?? "";
      else fn = table.get(named[3]) ?? "";
      continue;
    }
    if (line.startsWith("events: ")) {
      const names = line.slice(8).trim().split(" ");
      columns = counted.events.map((e) => 2 + names.indexOf(e));
      if (columns.some((c) => c < 2)) throw new Error(`callgrind counted ${names.join(" ")}, not ${counted.events.join(" ")}`);
      continue;
    }
    if (line.startsWith("calls=")) {
      inclusive = true;
      continue;
    }
    const fields = line.split(" ");
    const position = fields[0];
    if (!/^(0x|[+*-])/.test(position ?? "")) continue;
    if (position.startsWith("0x")) address = BigInt(position);
    else if (position[0] === "+") address += BigInt(position.slice(1));
    else if (position[0] === "-") address -= BigInt(position.slice(1));
    if (inclusive) {
      inclusive = false;
      if (callee !== undefined && called.includes(callee)) {
        const key = `${caller()} -> ${called}`;
        callers.set(key, (callers.get(key) ?? 0) + cost(fields));
      }
      continue;
    }
    add(caller(), cost(fields));
  }
  return Object.assign(counts, { callers });
}

const M = (n) => (n / counted.scale).toFixed(1).padStart(8);
const dir = mkdtempSync(join(tmpdir(), "siphon-profile-"));
try {
  const bundle = await namedBundle(dir);
  const counts = countsOf(bundle, dir, positionals, values.callers);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  if (values.base === undefined) {
    console.log(`siphon ${positionals.join(" ")}: ${M(total).trim()} ${counted.unit}\n\n| ${counted.unit} | function |\n| ---: | --- |`);
    for (const [name, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${M(n).trim()} | ${name} |`);
  } else {
    const baseArgs = values.base.split(" ").filter((s) => s !== "");
    const base = countsOf(bundle, dir, baseArgs);
    const baseTotal = [...base.values()].reduce((a, b) => a + b, 0);
    console.log(`siphon ${positionals.join(" ")}: ${M(total).trim()} ${counted.unit}; siphon ${baseArgs.join(" ")}: ${M(baseTotal).trim()}\n`);
    console.log(`| function | ${counted.unit} | base | difference |\n| --- | ---: | ---: | ---: |`);
    const names = new Set([...counts.keys(), ...base.keys()]);
    const rows = [...names].map((name) => [name, counts.get(name) ?? 0, base.get(name) ?? 0]).sort((a, b) => Math.abs(b[1] - b[2]) - Math.abs(a[1] - a[2]));
    for (const [name, n, b] of rows.slice(0, top)) console.log(`| ${name} | ${M(n).trim()} | ${M(b).trim()} | ${M(n - b).trim()} |`);
  }
  if (values.callers !== undefined) {
    console.log(`\ncalls into '${values.callers}', by caller (inclusive):\n\n| ${counted.unit} | caller -> called |\n| ---: | --- |`);
    for (const [name, n] of [...counts.callers].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${M(n).trim()} | ${name} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
