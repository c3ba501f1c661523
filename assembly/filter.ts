// The filter VM: runs the program host/filter compiled (assembly/layout.ts
// describes it) on the message the tokenizer has just indexed, reading the
// header index and spans in place. Two programs share the R_FILTER region: the
// --filter one at its start decides which messages are emitted; the
// --record-filter one after it only marks them (REC_F_RECORD). Jumps go forward only, so a message costs at
// most one pass over the code; regular expressions are DFAs, one table lookup
// per byte; nothing is allocated. loadFilter() checks the whole program once,
// so no program can make the VM read outside it.
import {
  FILTER_MAGIC, FILTER_FORMAT, FP_MAGIC, FP_FORMAT, FP_LENGTH, FP_CODE, FP_CODE_WORDS, FP_HEADER_SIZE,
  FILTER_MAX_CODE_WORDS, OP_END, OP_TRUE, OP_REQUEST, OP_RESPONSE, OP_METHOD, OP_STATUS, OP_HEADER,
  OP_BODY, OP_MESSAGE, OP_ADDRESS, OP_PORT, OP_TRANSPORT, OP_HAS_SDP, OP_NOT, OP_JUMP_IF_FALSE,
  OP_JUMP_IF_TRUE, FILTER_ANY_PORT, DFA_CLASSES, DFA_STATES, DFA_START, DFA_CLASS_OF, DFA_AT_END,
  FILTER_OK, FILTER_BAD_HEADER, FILTER_BAD_CODE, FILTER_BAD_OPERAND, FILTER_BAD_AUTOMATON,
  C_FILTER_MATCHED, C_FILTER_REJECTED, SPAN_METHOD, SPAN_BODY, SPAN_CONTENT_TYPE, H_OTHER,
} from "./layout";
import { filterBase, filterCap, count } from "./state";
import {
  msgBase, msgLen, isRequest, status, headerIndex, headerCount, HDR_MAX, HDR_ENTRY, getSpanOff, getSpanLen,
} from "./sip";
import { srcAddr, dstAddr, ipVersion, srcPort, dstPort } from "./packet";

let loaded = false;
let mainCode: usize = 0;
let recordLoaded = false;
let recordCode: usize = 0;
let recordBase: usize = 0;
// The program being run or checked: where it starts (its operands are offsets from
// there) and where its code starts.
let base: usize = 0;
let code: usize = 0;
export let recordMatched = false;

// ---- running ----

// Whether the current message passes the filter; every message passes when no
// program is loaded. Counts matched and rejected messages. Every transport's
// path calls it once per message, between tokenize() and emitMessage(), with
// its TRANSPORT_* so that (transport ...) can tell them apart.
export function acceptMessage(transport: u32): bool {
  recordMatched = recordLoaded && run(recordBase, recordCode, transport);
  if (!loaded) return true;
  const matched = run(filterBase, mainCode, transport);
  count(matched ? C_FILTER_MATCHED : C_FILTER_REJECTED);
  return matched;
}

function run(programBase: usize, programCode: usize, transport: u32): bool {
  base = programBase;
  code = programCode;
  let pc = code;
  let result = false;
  while (true) {
    const word = load<u32>(pc);
    const next = pc + (<usize>(word >> 8) << 2);
    switch (word & 0xff) {
      case OP_END: return result;
      case OP_TRUE: result = true; break;
      case OP_REQUEST: result = isRequest; break;
      case OP_RESPONSE: result = !isRequest; break;
      case OP_METHOD: result = methodIsOneOf(pc); break;
      case OP_STATUS: result = statusIsOneOf(pc); break;
      case OP_HEADER: result = headerMatches(load<u32>(pc, 4), load<u32>(pc, 8), load<u32>(pc, 12), load<u32>(pc, 16)); break;
      case OP_BODY: result = search(load<u32>(pc, 4), msgBase + getSpanOff(SPAN_BODY), getSpanLen(SPAN_BODY)); break;
      case OP_MESSAGE: result = search(load<u32>(pc, 4), msgBase, msgLen); break;
      case OP_ADDRESS: result = addressMatches(pc); break;
      case OP_PORT: result = portIsOneOf(pc); break;
      case OP_TRANSPORT: result = (load<u32>(pc, 4) & (1 << transport)) != 0; break;
      case OP_HAS_SDP: result = hasSdp(); break;
      case OP_NOT: result = !result; break;
      case OP_JUMP_IF_FALSE: if (!result) { pc = code + (<usize>load<u32>(pc, 4) << 2); continue; } break;
      case OP_JUMP_IF_TRUE: if (result) { pc = code + (<usize>load<u32>(pc, 4) << 2); continue; } break;
      default: return false; // loadFilter() refuses unknown opcodes; never reached
    }
    pc = next;
  }
}

// Method names are compared case-insensitively: the program holds them upper-case.
function methodIsOneOf(pc: usize): bool {
  const len = getSpanLen(SPAN_METHOD);
  if (len == 0) return false;
  const method = msgBase + getSpanOff(SPAN_METHOD);
  const n = load<u32>(pc, 4);
  for (let i: u32 = 0; i < n; i++) {
    const entry = pc + 8 + (<usize>i << 3);
    if (load<u32>(entry, 4) == len && sameUpper(method, base + load<u32>(entry), len)) return true;
  }
  return false;
}

function statusIsOneOf(pc: usize): bool {
  if (isRequest) return false;
  const n = load<u32>(pc, 4);
  for (let i: u32 = 0; i < n; i++) {
    const entry = pc + 8 + (<usize>i << 3);
    if (status >= load<u32>(entry) && status <= load<u32>(entry, 4)) return true;
  }
  return false;
}

// Every instance of the header counts: a repeated header matches when any of its
// values does. Known headers are found by id, whatever form (long or compact)
// the message used; others by name, case-insensitively.
function headerMatches(id: u32, name: u32, nameLen: u32, automaton: u32): bool {
  const n = min(headerCount, HDR_MAX);
  for (let i: u32 = 0; i < n; i++) {
    const entry = headerIndex + <usize>i * HDR_ENTRY;
    if (load<u32>(entry) != id) continue;
    if (id == H_OTHER && (load<u32>(entry, 8) != nameLen || !sameLower(msgBase + load<u32>(entry, 4), base + name, nameLen))) continue;
    if (automaton == 0) return true;
    if (search(automaton, msgBase + load<u32>(entry, 12), load<u32>(entry, 16))) return true;
  }
  return false;
}

function addressMatches(pc: usize): bool {
  if (ipVersion != load<u32>(pc, 8)) return false;
  const source = load<u32>(pc, 4) == 0;
  const port = load<u32>(pc, 20);
  if (port != FILTER_ANY_PORT && port != (source ? srcPort : dstPort)) return false;
  return prefixEquals(source ? srcAddr : dstAddr, base + load<u32>(pc, 16), load<u32>(pc, 12));
}

function prefixEquals(a: usize, b: usize, bits: u32): bool {
  const whole = bits >> 3;
  for (let i: u32 = 0; i < whole; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  const rest = bits & 7;
  if (rest == 0) return true;
  const mask = <u32>(0xff00 >> rest) & 0xff;
  return ((<u32>load<u8>(a + whole) ^ <u32>load<u8>(b + whole)) & mask) == 0;
}

function portIsOneOf(pc: usize): bool {
  const n = load<u32>(pc, 4);
  for (let i: u32 = 0; i < n; i++) {
    const port = load<u32>(pc + 8 + (<usize>i << 2));
    if (port == srcPort || port == dstPort) return true;
  }
  return false;
}

// SDP: a Content-Type of application/sdp (parameters allowed), or a body that
// starts as every SDP description does (RFC 8866 §5: "v=0").
function hasSdp(): bool {
  const typeLen = getSpanLen(SPAN_CONTENT_TYPE);
  if (typeLen >= 15) {
    const t = msgBase + getSpanOff(SPAN_CONTENT_TYPE);
    // "application/sdp" packed little-endian, compared lower-cased
    const isSdp = (load<u64>(t) | 0x2020202020202020) == 0x746163696c707061 // "applicat"
      && (load<u32>(t, 8) | 0x00202020) == 0x2f6e6f69 // "ion/"
      && (load<u16>(t, 12) | 0x2020) == 0x6473 // "sd"
      && (load<u8>(t, 14) | 0x20) == 0x70; // "p"
    if (isSdp && (typeLen == 15 || isTypeEnd(load<u8>(t, 15)))) return true;
  }
  const bodyLen = getSpanLen(SPAN_BODY);
  if (bodyLen < 3) return false;
  const body = msgBase + getSpanOff(SPAN_BODY);
  return load<u8>(body) == 0x76 && load<u8>(body, 1) == 0x3d && load<u8>(body, 2) == 0x30;
}

@inline function isTypeEnd(c: u32): bool {
  return c == 0x3b || c == 0x20 || c == 0x09;
}

// Does the automaton at `at` match anywhere in text[0..len)? One table lookup
// per byte; stops at the first match or when no match is possible any more.
function search(at: u32, text: usize, len: u32): bool {
  const dfa = base + at;
  const classes = load<u32>(dfa + DFA_CLASSES);
  const states = load<u32>(dfa + DFA_STATES);
  const dead = states * classes;
  const classOf = dfa + DFA_CLASS_OF;
  const table = dfa + DFA_AT_END + ((<usize>states + 3) & ~3);
  let state = load<u32>(dfa + DFA_START);
  for (let i: u32 = 0; i < len && state < dead; i++) {
    const cls = <u32>load<u8>(classOf + <usize>load<u8>(text + i));
    state = load<u32>(table + (<usize>(state + cls) << 2));
  }
  if (state < dead) return load<u8>(dfa + DFA_AT_END + <usize>(state / classes)) != 0;
  return state > dead;
}

@inline function upper(c: u32): u32 {
  return c - 0x61 < 26 ? c & 0xdf : c;
}

@inline function lower(c: u32): u32 {
  return c - 0x41 < 26 ? c | 0x20 : c;
}

// `expected` is already upper-case.
function sameUpper(p: usize, expected: usize, len: u32): bool {
  for (let i: u32 = 0; i < len; i++) if (upper(load<u8>(p + i)) != <u32>load<u8>(expected + i)) return false;
  return true;
}

// `expected` is already lower-case.
function sameLower(p: usize, expected: usize, len: u32): bool {
  for (let i: u32 = 0; i < len; i++) if (lower(load<u8>(p + i)) != <u32>load<u8>(expected + i)) return false;
  return true;
}

// ---- loading ----

// One bit per code word: set where an instruction starts, so jumps can be
// checked to land on one.
const starts: usize = memory.data(FILTER_MAX_CODE_WORDS >> 3, 8);
let programLength: u32 = 0;

// Checks the program the host copied into R_FILTER and, if sound, runs it on
// every message from now on. `length` 0 removes the filter.
export function loadFilter(length: u32): i32 {
  loaded = false;
  if (length == 0) return FILTER_OK;
  const result = checkProgram(filterBase, length, filterCap);
  if (result == FILTER_OK) {
    mainCode = filterBase + load<u32>(filterBase + FP_CODE);
    loaded = true;
  }
  return result;
}

// The --record-filter program, copied into R_FILTER at `offset` (after the --filter
// one, 4-byte aligned); `length` 0 removes it.
export function loadRecordFilter(offset: u32, length: u32): i32 {
  recordLoaded = false;
  if (length == 0) return FILTER_OK;
  if ((offset & 3) != 0 || offset > filterCap) return FILTER_BAD_HEADER;
  const result = checkProgram(filterBase + offset, length, filterCap - offset);
  if (result == FILTER_OK) {
    recordBase = filterBase + offset;
    recordCode = recordBase + load<u32>(recordBase + FP_CODE);
    recordLoaded = true;
  }
  return result;
}

function checkProgram(p: usize, length: u32, capacity: u32): i32 {
  base = p;
  if (length < <u32>FP_HEADER_SIZE || length > capacity || load<u32>(p + FP_MAGIC) != FILTER_MAGIC
    || load<u32>(p + FP_FORMAT) != FILTER_FORMAT || load<u32>(p + FP_LENGTH) != length) return FILTER_BAD_HEADER;
  programLength = length;
  const codeAt = load<u32>(p + FP_CODE);
  const words = load<u32>(p + FP_CODE_WORDS);
  if ((codeAt & 3) != 0 || words == 0 || words > <u32>FILTER_MAX_CODE_WORDS || !inProgram(codeAt, <u64>words << 2)) return FILTER_BAD_HEADER;
  const result = markInstructions(p + codeAt, words);
  if (result != FILTER_OK) return result;
  return checkInstructions(p + codeAt, words);
}

// Walks the code once: sizes fit, every opcode is known, the last one is OP_END.
function markInstructions(at: usize, words: u32): i32 {
  memory.fill(starts, 0, FILTER_MAX_CODE_WORDS >> 3);
  let w: u32 = 0;
  let last: u32 = 0;
  while (w < words) {
    const word = load<u32>(at + (<usize>w << 2));
    const size = word >> 8;
    if (size == 0 || size > words - w || !sizeFits(word & 0xff, size, at + (<usize>w << 2))) return FILTER_BAD_CODE;
    store<u8>(starts + (w >> 3), load<u8>(starts + (w >> 3)) | <u8>(1 << <u8>(w & 7)));
    last = word & 0xff;
    w += size;
  }
  return last == OP_END ? FILTER_OK : FILTER_BAD_CODE;
}

function sizeFits(op: u32, size: u32, pc: usize): bool {
  switch (op) {
    case OP_END: case OP_TRUE: case OP_REQUEST: case OP_RESPONSE: case OP_HAS_SDP: case OP_NOT:
      return size == 1;
    case OP_BODY: case OP_MESSAGE: case OP_TRANSPORT: case OP_JUMP_IF_FALSE: case OP_JUMP_IF_TRUE:
      return size == 2;
    case OP_HEADER: return size == 5;
    case OP_ADDRESS: return size == 6;
    case OP_METHOD: case OP_STATUS: return size >= 2 && <u64>load<u32>(pc, 4) * 2 + 2 == <u64>size;
    case OP_PORT: return size >= 2 && <u64>load<u32>(pc, 4) + 2 == <u64>size;
    default: return false;
  }
}

// Every operand that points into the program points inside it; jumps go
// forward to the start of an instruction.
function checkInstructions(at: usize, words: u32): i32 {
  let w: u32 = 0;
  while (w < words) {
    const pc = at + (<usize>w << 2);
    const size = load<u32>(pc) >> 8;
    const result = checkOperands(load<u32>(pc) & 0xff, pc, w, words);
    if (result != FILTER_OK) return result;
    w += size;
  }
  return FILTER_OK;
}

function checkOperands(op: u32, pc: usize, w: u32, words: u32): i32 {
  switch (op) {
    case OP_METHOD: {
      const n = load<u32>(pc, 4);
      for (let i: u32 = 0; i < n; i++) {
        const entry = pc + 8 + (<usize>i << 3);
        if (!inProgram(load<u32>(entry), load<u32>(entry, 4))) return FILTER_BAD_OPERAND;
      }
      return FILTER_OK;
    }
    case OP_HEADER:
      if (!inProgram(load<u32>(pc, 8), load<u32>(pc, 12))) return FILTER_BAD_OPERAND;
      return load<u32>(pc, 16) == 0 ? FILTER_OK : checkAutomaton(load<u32>(pc, 16));
    case OP_BODY: case OP_MESSAGE:
      return checkAutomaton(load<u32>(pc, 4));
    case OP_ADDRESS: {
      const version = load<u32>(pc, 8);
      const bits = load<u32>(pc, 12);
      if ((version != 4 || bits > 32) && (version != 6 || bits > 128)) return FILTER_BAD_OPERAND;
      return inProgram(load<u32>(pc, 16), 16) ? FILTER_OK : FILTER_BAD_OPERAND;
    }
    case OP_JUMP_IF_FALSE: case OP_JUMP_IF_TRUE: {
      const target = load<u32>(pc, 4);
      if (target <= w || target >= words) return FILTER_BAD_CODE;
      return (load<u8>(starts + (target >> 3)) & (1 << (target & 7))) != 0 ? FILTER_OK : FILTER_BAD_CODE;
    }
    default: return FILTER_OK;
  }
}

function checkAutomaton(at: u32): i32 {
  if ((at & 3) != 0 || at < <u32>FP_HEADER_SIZE || !inProgram(at, DFA_AT_END)) return FILTER_BAD_AUTOMATON;
  const dfa = base + at;
  const classes = load<u32>(dfa + DFA_CLASSES);
  const states = load<u32>(dfa + DFA_STATES);
  if (classes == 0 || classes > 256) return FILTER_BAD_AUTOMATON;
  const entries = <u64>states * classes;
  const tableAt = <u64>at + DFA_AT_END + ((<u64>states + 3) & ~3);
  if (entries > 0xffffffff || !inProgram64(tableAt, entries << 2)) return FILTER_BAD_AUTOMATON;
  for (let b: usize = 0; b < 256; b++) if (<u32>load<u8>(dfa + DFA_CLASS_OF + b) >= classes) return FILTER_BAD_AUTOMATON;
  const dead = <u32>entries;
  if (!validState(load<u32>(dfa + DFA_START), classes, dead)) return FILTER_BAD_AUTOMATON;
  const table = base + <usize>tableAt;
  for (let i: u32 = 0; i < dead; i++) {
    if (!validState(load<u32>(table + (<usize>i << 2)), classes, dead)) return FILTER_BAD_AUTOMATON;
  }
  return FILTER_OK;
}

// A state value is the start of a row, dead, or matched.
@inline function validState(value: u32, classes: u32, dead: u32): bool {
  return value <= dead + 1 && (value >= dead || value % classes == 0);
}

function inProgram(offset: u32, len: u64): bool {
  return inProgram64(<u64>offset, len);
}

function inProgram64(offset: u64, len: u64): bool {
  return offset >= <u64>FP_HEADER_SIZE && offset + len <= <u64>programLength;
}
