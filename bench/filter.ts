// What a filter costs per message, measured inside one process so that reading
// the file, starting node and writing output are not part of the number: the
// frames of a generated workload are held in memory and pushed through a core
// per filter, several times, and the median is kept. Then the catastrophic
// pattern (a|a)*b against a plain literal over bodies of 65,000 a's (about the
// most one UDP datagram carries), where a backtracking engine never finishes.
//
// A rejected message also skips the core's output step; a filter that rejects
// everything with one comparison shows what that saves.
//
//   node bench/filter.mjs [--messages N] [--runs N]   (defaults: 40000 and 15)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generateWorkload, workloadOptions } from "../test/support/generate";
import { Core } from "../host/core";
import { readCapture } from "../host/source";
import { compileFilter } from "../host/filter/compile";

interface Frame {
  data: Uint8Array;
  linkType: number;
  sec: number;
  nsec: number;
}

interface Case {
  name: string;
  expression?: string; // undefined: no filter at all
}

const REJECT_ALL: Case = { name: "rejects all, one comparison", expression: '(method "X-NONE")' };

const WORKLOAD_CASES: Case[] = [
  { name: "simple", expression: "(method invite)" },
  {
    name: "complex, three regular expressions",
    expression: '(all (any (method invite bye) (status 4xx 5xx)) (header "user-agent" "(?i)(linphone|zoiper|yealink)") ' +
      '(not (from "^\\"?anonymous")) (message "m=audio [0-9]+ RTP/AVP"))',
  },
  // the worst a single test does: read every byte of every message
  { name: "whole-message search, never found", expression: '(message "no such text")' },
];

const BIG_BODY = 65000;
const BIG_CASES: Case[] = [
  { name: "plain literal", expression: '(message "xyz")' },
  { name: "catastrophic", expression: '(message "(a|a)*b")' },
];

async function loadFrames(path: string): Promise<Frame[]> {
  const frames: Frame[] = [];
  await readCapture(path, {
    frame(data, start, caplen, _origLen, linkType, sec, nsec) {
      frames.push({ data: data.slice(start, start + caplen), linkType, sec, nsec });
    },
  });
  return frames;
}

interface Timing {
  seconds: number;  // median of the passes
  messages: number; // SIP messages in one pass
  matched: number;  // of them, matched by the filter
}

// Rounds run before timing: each core compiles its own copy of the WebAssembly
// module, and the engine's optimizing tier replaces the baseline code only once
// a function has run for a while.
const WARM_UP_ROUNDS = 3;

// Median seconds for each case to push every frame through a core running its
// expression. The cases take turns pass by pass, so a change in the machine's
// load falls on all of them alike.
function timeCases(frames: Frame[], cases: Case[], runs: number): Timing[] {
  const cores = cases.map((c) => new Core({
    sensor: "bench", agent: "bench", renderJson: false,
    filterProgram: c.expression === undefined ? undefined : compileFilter(c.expression).program,
  }, () => {}));
  const samples: number[][] = cases.map(() => []);
  for (let round = 1 - WARM_UP_ROUNDS; round <= runs; round++) {
    cores.forEach((core, i) => {
      const started = process.hrtime.bigint();
      for (const f of frames) core.frame(f.data, 0, f.data.length, f.data.length, f.linkType, f.sec, f.nsec, 0);
      core.flush();
      if (round > 0) samples[i].push(Number(process.hrtime.bigint() - started) / 1e9);
    });
  }
  return cores.map((core, i) => {
    const c = core.counters();
    const sorted = samples[i].sort((a, b) => a - b);
    return { seconds: sorted[sorted.length >> 1], messages: (c.sip_udp + c.sip_tcp + c.sip_ws) / (runs + WARM_UP_ROUNDS), matched: c.filter_matched / (runs + WARM_UP_ROUNDS) };
  });
}

// An Ethernet/IPv4/UDP frame around one SIP MESSAGE with `body`.
function bigFrame(index: number, body: string): Frame {
  // no "b" anywhere, so that (a|a)*b has nothing to find
  const sip = Buffer.from(`MESSAGE sip:x@example.com SIP/2.0\r\nCall-ID: c-${index}\r\nCSeq: 1 MESSAGE\r\n` +
    `Content-Length: ${body.length}\r\n\r\n${body}`, "latin1");
  const frame = Buffer.alloc(14 + 20 + 8 + sip.length);
  frame.writeUInt16BE(0x0800, 12);
  frame.writeUInt8(0x45, 14);
  frame.writeUInt16BE(20 + 8 + sip.length, 16);
  frame.writeUInt8(64, 22);
  frame.writeUInt8(17, 23);
  frame.set([192, 0, 2, 1, 198, 51, 100, 7], 26);
  frame.writeUInt16BE(5060, 34);
  frame.writeUInt16BE(5060, 36);
  frame.writeUInt16BE(8 + sip.length, 38);
  frame.set(sip, 42);
  return { data: frame, linkType: 1, sec: 1795428000 + index, nsec: 0 };
}

function nanoseconds(seconds: number, per: number): string {
  return (seconds * 1e9 / per).toFixed(0);
}

// How long JavaScript's backtracking RegExp takes on n a's with no b: doubling per a.
function backtrackingMilliseconds(n: number): number {
  const started = process.hrtime.bigint();
  /(a|a)*b/.test("a".repeat(n));
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function workloadTable(frames: Frame[], runs: number): void {
  const cases = [{ name: "no filter" }, REJECT_ALL, ...WORKLOAD_CASES];
  const timings = timeCases(frames, cases, runs);
  const none = timings[0];
  const n = none.messages;
  console.log(`| filter | expression | matched of ${n} | ns per message in the core | difference from no filter, ns |`);
  console.log("| --- | --- | ---: | ---: | ---: |");
  cases.forEach((c, i) => {
    const r = timings[i];
    const expression = c.expression === undefined ? "" : `\`${c.expression}\``;
    const matched = c.expression === undefined ? n : r.matched;
    const difference = i === 0 ? "-" : nanoseconds(r.seconds - none.seconds, n);
    console.log(`| ${c.name} | ${expression} | ${matched} | ${nanoseconds(r.seconds, n)} | ${difference} |`);
  });
}

function bigBodyTable(frames: Frame[], runs: number): void {
  const [rejectAll, ...timings] = timeCases(frames, [REJECT_ALL, ...BIG_CASES], runs);
  const n = rejectAll.messages;
  const messageBytes = frames[0].data.length - 42;
  console.log(`| filter | expression | matched of ${n} | µs per message in the core | filter's own ns per message byte |`);
  console.log("| --- | --- | ---: | ---: | ---: |");
  console.log(`| ${REJECT_ALL.name} | \`${REJECT_ALL.expression}\` | 0 | ${(rejectAll.seconds * 1e6 / n).toFixed(1)} | - |`);
  BIG_CASES.forEach((c, i) => {
    const r = timings[i];
    const own = (r.seconds - rejectAll.seconds) * 1e9 / (n * messageBytes);
    console.log(`| ${c.name} | \`${c.expression}\` | ${r.matched} | ${(r.seconds * 1e6 / n).toFixed(1)} | ${own.toFixed(2)} |`);
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { messages: { type: "string", default: "40000" }, runs: { type: "string", default: "15" } } });
  const runs = Number(values.runs);
  const directory = mkdtempSync(join(tmpdir(), "siphon-bench-filter-"));
  try {
    const path = join(directory, "workload.pcap");
    generateWorkload(workloadOptions({ seed: 1, messages: Number(values.messages) }), path);
    const frames = await loadFrames(path);
    console.log(`filters on the generated workload (seed 1, ${frames.length} packets), median of ${runs} passes per filter in one process, the filters taking turns, JSON rendering off\n`);
    workloadTable(frames, runs);
    console.log(`\n64 messages, each with a body of ${BIG_BODY.toLocaleString("en-US")} a's and no b anywhere\n`);
    bigBodyTable(Array.from({ length: 64 }, (_, i) => bigFrame(i, "a".repeat(BIG_BODY))), runs);
    backtrackingMilliseconds(10); // compile the expression before timing it
    const contrast = [20, 22, 24, 26].map((n) => `${n} a's ${backtrackingMilliseconds(n).toFixed(0)} ms`).join(", ");
    console.log(`\nfor contrast, JavaScript's backtracking RegExp /(a|a)*b/ on ${contrast}: each a doubles the time`);
    return 0;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
