// The core's side of the filter: loadFilter() checks a program before running
// it, so no program, however damaged, makes the VM read outside it or trap.
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as L from "../assembly/layout";
import { compileFilter } from "../host/filter/compile";
import { runFrames, udpFrame, INVITE, sip } from "./helpers";
import { Rng } from "./support/generate/rng";

const COMPLEX = '(all (any (method invite bye) (status 4xx)) (header "user-agent" "(?i)soft") (not (src 10.0.0.0/8 5060)) ' +
  '(any (body "v=0") (message "x-[a-z]+") has-sdp (port 5060 5080) (transport udp)) (hasheader "X-CID"))';

const MESSAGES = [
  INVITE,
  sip(["SIP/2.0 486 Busy Here", "Call-ID: c", "CSeq: 1 INVITE", "X-CID: 1", "User-Agent: soft 2", "Content-Length: 0"]),
];

function refusal(program: Uint8Array): number | undefined {
  try {
    runFrames(MESSAGES.map((m) => ({ data: udpFrame(m) })), { filterProgram: program, renderJson: false, inputBytes: 1 << 17, maxFrames: 16 });
    return undefined;
  } catch (err) {
    const code = /refused \(code (\d+)\)/.exec((err as Error).message);
    if (!code) throw err;
    return Number(code[1]);
  }
}

function word(program: Uint8Array, at: number): number {
  return new DataView(program.buffer, program.byteOffset).getUint32(at, true);
}

function withWord(program: Uint8Array, at: number, value: number): Uint8Array {
  const copy = program.slice();
  new DataView(copy.buffer).setUint32(at, value >>> 0, true);
  return copy;
}

// Offsets of the instructions in a program's code.
function instructions(program: Uint8Array): number[] {
  const code = word(program, L.FP_CODE);
  const end = code + word(program, L.FP_CODE_WORDS) * 4;
  const starts: number[] = [];
  for (let at = code; at < end; at += (word(program, at) >>> 8) * 4) starts.push(at);
  return starts;
}

test("a sound program is accepted and runs", () => {
  assert.is(refusal(compileFilter(COMPLEX).program), undefined);
});

test("damaged programs are refused with the reason's code", () => {
  const program = compileFilter(COMPLEX).program;
  const ops = instructions(program);
  const find = (op: number): number => ops.find((at) => (word(program, at) & 0xff) === op)!;
  const header = ops.find((at) => (word(program, at) & 0xff) === L.OP_HEADER && word(program, at + 16) !== 0)!;
  const jump = find(L.OP_JUMP_IF_FALSE);
  const automaton = word(program, header + 16);
  const cases: [string, Uint8Array, number][] = [
    ["wrong magic", withWord(program, L.FP_MAGIC, 0x12345678), L.FILTER_BAD_HEADER],
    ["another format", withWord(program, L.FP_FORMAT, L.FILTER_FORMAT + 1), L.FILTER_BAD_HEADER],
    ["length not the program's", withWord(program, L.FP_LENGTH, program.length + 4), L.FILTER_BAD_HEADER],
    ["code past the end", withWord(program, L.FP_CODE_WORDS, 1 << 20), L.FILTER_BAD_HEADER],
    ["unknown opcode", withWord(program, ops[0], (word(program, ops[0]) & ~0xff) | L.OP_COUNT), L.FILTER_BAD_CODE],
    ["wrong size", withWord(program, header, L.OP_HEADER | (4 << 8)), L.FILTER_BAD_CODE],
    ["no OP_END last", withWord(program, ops[ops.length - 1], L.OP_TRUE | (1 << 8)), L.FILTER_BAD_CODE],
    ["backward jump", withWord(program, jump + 4, 0), L.FILTER_BAD_CODE],
    ["jump into an instruction", withWord(program, jump + 4, (header - word(program, L.FP_CODE)) / 4 + 1), L.FILTER_BAD_CODE],
    ["header name outside", withWord(program, header + 8, program.length), L.FILTER_BAD_OPERAND],
    ["automaton outside", withWord(program, header + 16, program.length - 4), L.FILTER_BAD_AUTOMATON],
    ["automaton misaligned", withWord(program, header + 16, automaton + 1), L.FILTER_BAD_AUTOMATON],
    ["no byte classes", withWord(program, automaton + L.DFA_CLASSES, 0), L.FILTER_BAD_AUTOMATON],
    ["too many states", withWord(program, automaton + L.DFA_STATES, 0xffffff), L.FILTER_BAD_AUTOMATON],
    ["start state past matched", withWord(program, automaton + L.DFA_START, 0xfffffff), L.FILTER_BAD_AUTOMATON],
  ];
  for (const [what, damaged, code] of cases) assert.is(refusal(damaged), code, what);
});

test("fuzz: 1,500 programs with random words changed are refused or run, never trap", () => {
  const program = compileFilter(COMPLEX).program;
  const code = word(program, L.FP_CODE);
  const rng = new Rng(7);
  const random = (): number => rng.float();
  let ran = 0;
  for (let i = 0; i < 1500; i++) {
    let damaged = program;
    for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) {
      // mostly the code, where a changed word is more often still a program
      const [from, to] = random() < 0.7 ? [code, program.length] : [0, program.length];
      const at = from + Math.floor(random() * ((to - from) / 4)) * 4;
      const r = random();
      const value = r < 0.35 ? Math.floor(random() * 64) : r < 0.7 ? word(damaged, at) + Math.floor(random() * 17) - 8 : Math.floor(random() * 4294967296);
      damaged = withWord(damaged, at, value);
    }
    if (refusal(damaged) === undefined) ran++;
  }
  assert.ok(ran > 100, `only ${ran} damaged programs ran: the fuzz reaches little of the VM`);
});

test.run();
