// The call tracker in the core (--tracker core, docs/tracker-core.md step 2):
// host/calls/tracker.ts's rules over the records of each push, its state in
// linear memory (assembly/track-tables.ts), each event described at R_EVENT
// and handed to the host through the imported trackerEvent(), which adds what
// only the host has (the rtp member, the rate gate, recordings) and renders it.
// The JavaScript tracker is the specification: the same events, byte for byte,
// in the same order (test/tracker-core.test.ts holds the two together).
//
// Times are f64 microseconds, as the JavaScript tracker's numbers are, so every
// comparison and sum is the same arithmetic. Strings an entry keeps are copied
// normalized (invalid UTF-8 as U+FFFD, assembly/sipvalue.ts), so comparing their
// bytes is comparing the strings the host would have decoded.
import {
  R_OUT_RECORDS, R_OUT_MEDIA_ENDS, R_EVENT, EVF_RTP, EVS_CODEC, REC_SIZE, REC_FLAGS, REC_TS_SEC, REC_TS_NSEC, REC_STATUS, REC_MSG_ADDR,
  REC_SRC_ADDR, REC_DST_ADDR, REC_SRC_PORT, REC_DST_PORT, REC_CSEQ, REC_EXPIRES, REC_SPANS, REC_SPANS_MORE,
  REC_PROBLEMS, REC_CALL_KEY, REC_F_REQUEST, REC_F_IPV6, TRANSPORT_MASK, SPAN_BASE_COUNT,
  SPAN_METHOD, SPAN_REASON, SPAN_CALL_ID, SPAN_FROM, SPAN_FROM_TAG, SPAN_TO, SPAN_TO_TAG, SPAN_CONTACT,
  SPAN_USER_AGENT, SPAN_REASON_HEADER, SPAN_SESSION_ID, SPAN_X_CID, SPAN_P_CHARGING_VECTOR, PROB_NO_CSEQ,
  EV_TYPE, EV_FLAGS, EV_AT_US, EV_DURATION, EV_SEQUENCE, EV_STATUS, EV_CLIENT_PORT, EV_SERVER_PORT,
  EV_TRANSPORT, EV_PDD, EV_RING_TIME, EV_ORIGINATOR, EV_OUTCOME, EV_TIMES, EV_EXPIRES, EV_PROBLEMS, EV_LEGS,
  EV_SLOTS, EV_CALL_KEY, EV_TEXT, EV_TEXT_END, EV_ABSENT, EV_SLOT_COUNT, EVENT_BYTES, EVS_CALL_ID, EVS_FROM, EVS_TO,
  EVS_METHOD, EVS_REASON, EVS_REASON_HEADER, EVS_CLIENT_IP, EVS_SERVER_IP, EVS_USER_AGENT, EVS_OBSERVER,
  EVS_AOR, EVS_CONTACT, EVS_LEG, EVF_DURATION, EVF_REQUEST, EVF_RESPONSE, EVF_PDD, EVF_RING_TIME,
  EVF_ORIGINATOR, EVF_CALL, EVF_IMPLIED, EVF_BINDING, EVF_PROBLEMS, EVF_TIME_INVITE,
  TRK_INVITE, TRK_GRACE, TRK_ESTABLISHED, TRK_LINGER, TRK_TRANSACTION, TRK_CHALLENGE, TRK_EXPIRY_GRACE,
  TRK_COUNTERS, TRK_MAX_CALLS, TRK_MAX_BINDINGS, TRK_MAX_TRANSACTIONS, TRK_SETTINGS, TRK_SETTINGS_END,
  TC_MESSAGES, TC_CALLS_HELD, TC_CALLS_EVICTED, TC_BINDINGS_HELD, TC_BINDINGS_EVICTED, TC_TRANSACTIONS_HELD,
  TC_TRANSACTIONS_EVICTED, TC_CHALLENGES_HELD, TC_CHALLENGES_EVICTED, TC_TIMERS_ARMED, TC_EVENTS, TC_TEXT_LOST,
  TRACK_ENTRY_SIZE, TRACK_TEXT_PER_ENTRY, CFG_IN_BYTES, CFG_TCP_BUFFER_BYTES,
} from "./layout";
import { reserve, regionAddress, recordCount, cfg } from "./state";
import { DATAGRAM_MAX } from "./defrag";
import {
  NONE, entriesInit, entryAlloc, entryFree, entryAt, tableReserve, tableGet, tableHas, tableAdd, tableSet,
  tableDelete, tableSize, tableEvicted, tableFirst, tableNext, tableValue, heapInit, heapArm, heapDisarm,
  heapDue, heapSize, heapDeadline, textInit, textAlloc, textFree,
} from "./track-tables";
import { normalize, isWellFormed, uriOf, expiresParam, trimmedIsStar, isScannerAgent, equalBytes } from "./sipvalue";
import { signature } from "./hash";
import { configureQuality, takeMediaEnds, qualityInto, codecText } from "./quality";
import { endsCount } from "./media";
import { setCursor, cursor, ipText } from "./envelope";

// The host's part of each event (host/core/tracker-core.ts).
@external("env", "trackerEvent")
declare function trackerEvent(): void;

const SECOND: f64 = 1_000_000;
const DEFAULT_EXPIRES: f64 = 3600; // RFC 3261 §10.2.1.1: a registrar's usual default
const PROBES_REMEMBERED: u32 = 4096;

// Event types: indexes in EVENT_TYPE_NAMES.
const T_CALL_ATTEMPT: u32 = 0, T_CALL_START: u32 = 1, T_CALL_END: u32 = 2, T_REG_NEW: u32 = 3, T_REG_DEL: u32 = 4,
  T_REG_EXPIRED: u32 = 5, T_AUTH_FAILED: u32 = 6, T_OTHER_OK: u32 = 7, T_OTHER_FAILED: u32 = 8,
  T_OTHER_TIMEOUT: u32 = 9, T_PARSE_ERROR: u32 = 10, T_MSG_PROBE: u32 = 11, T_COUNTERS: u32 = 12;
// Outcomes and originators: indexes in OUTCOME_NAMES and ORIGINATOR_NAMES; NO_VALUE leaves it out.
const NO_VALUE: u32 = 0xffffffff;
// No event.duration: durations are whole thousands of nanoseconds, never -1.
const NO_DURATION: f64 = -1;
const O_ANSWERED: u32 = 0, O_FAILED: u32 = 1, O_CANCELLED: u32 = 2, O_TIMEOUT: u32 = 3, O_AUTH_FAILED: u32 = 4;
const BY_CALLER: u32 = 0, BY_CALLEE: u32 = 1, BY_TIMEOUT: u32 = 2;

// Methods the tracker tells apart, by code; M_OTHER is any other, kept as its upper-case text.
const METHOD_NAMES: string[] = [
  "INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "PRACK", "REGISTER", "OPTIONS", "MESSAGE", "NOTIFY",
  "SUBSCRIBE", "INFO", "REFER", "PUBLISH",
];
const M_INVITE: u32 = 0, M_ACK: u32 = 1, M_BYE: u32 = 2, M_CANCEL: u32 = 3, M_UPDATE: u32 = 4, M_PRACK: u32 = 5,
  M_REGISTER: u32 = 6, M_OTHER: u32 = 14, M_NONE: u32 = 15;

// ---- entries: one record layout for the four kinds ----
const K_CALL: u8 = 1, K_TRANSACTION: u8 = 2, K_BINDING: u8 = 3, K_CHALLENGE: u8 = 4;
const E_KIND = 0;          // u8
const E_STATE = 1;         // u8, a call's CallState
const E_FLAGS = 2;         // u8, EF_*
const E_TRANSPORT = 3;     // u8
const E_METHOD = 4;        // u32, M_* (transactions, challenges)
const E_KEY = 8;           // u64, the entry's key in its table
const E_CLIENT = 16;       // 16 bytes, IPv4 in the first 4
const E_SERVER = 32;
const E_CLIENT_PORT = 48;  // u32
const E_SERVER_PORT = 52;  // u32
const E_STRINGS = 56;      // STRING_SLOTS x (u32 address, u32 length)
const STRING_SLOTS = 11;
const E_NUMBERS = 144;     // kind-specific numbers from here
// Strings every entry has (the party), then per kind.
const S_CALL_ID = 0, S_FROM = 1, S_TO = 2, S_AGENT = 3;
const S_FROM_TAG = 4, S_REASON = 5, S_REASON_HEADER = 6, S_FAILED_TAG = 7, S_LEG = 8;  // calls: three legs from 8
const S_METHOD_TEXT = 4, S_CONTACT = 5;    // transactions (S_REASON for a challenge's reason)
const S_AOR = 4;                           // bindings: S_AOR, S_CONTACT
// Numbers (f64 unless said).
const N_INVITE_CSEQ = E_NUMBERS;       // u32 (a transaction's or challenge's CSeq too)
const N_STATUS = E_NUMBERS + 4;        // u32
const N_CHALLENGES = E_NUMBERS + 8;    // u32
const N_LEGS = E_NUMBERS + 12;         // u32, EV_LEGS codes
const N_INVITE_US = E_NUMBERS + 16;    // a transaction's request time
const N_RING_US = E_NUMBERS + 24;      // a challenge's time
const N_ANSWER_US = E_NUMBERS + 32;
const N_FINAL_US = E_NUMBERS + 40;
const N_LAST_US = E_NUMBERS + 48;
const N_EXPIRES = E_NUMBERS + 56;      // transactions and bindings
const N_CALL_KEY = E_NUMBERS + 64;     // u64, a challenge's call key
const N_PREV = E_NUMBERS + 72;         // u32, a binding's neighbours among its address of record's
const N_NEXT = E_NUMBERS + 76;
const E_ID = E_NUMBERS + 80;          // u32, the entry's own id
const EF_CANCELLED: u8 = 1, EF_IMPLIED: u8 = 2, EF_DONE: u8 = 4, EF_RETRIED: u8 = 8, EF_REPORTED: u8 = 16, EF_IPV6: u8 = 32;
// Call states.
const EARLY: u8 = 0, CHALLENGED: u8 = 1, FAILED: u8 = 2, ESTABLISHED: u8 = 3, ENDED: u8 = 4;

// ---- settings and state ----
let inviteSeconds: f64 = 0, graceSeconds: f64 = 0, establishedSeconds: f64 = 0, lingerSeconds: f64 = 0;
let transactionSeconds: f64 = 0, challengeSeconds: f64 = 0, expiryGraceSeconds: f64 = 0, countersSeconds: f64 = 0;
let calls: usize = 0, transactions: usize = 0, bindings: usize = 0, challenges: usize = 0;
let challengedCalls: usize = 0, aors: usize = 0, probes: usize = 0;
let now: f64 = -Infinity;
let nextCountersUs: f64 = -1;
let sequence: f64 = 0;
let messages: f64 = 0;
let observer: usize = 0;
let observerLength: u32 = 0;
let scratch: usize = 0;       // normalized values of one message: four buffers of scratchSize
let scratchSize: u32 = 0;
let scratchTurn: u32 = 0;
let methodText: usize = 0;    // an unknown method's text in upper case
let textLost: u32 = 0;        // strings not kept: the text arena was full
let event: usize = 0;
let textAt: usize = 0;        // where the next string of the event goes
let configured = false;

// Sizes every table from the settings the host wrote at R_EVENT + TRK_SETTINGS (f64 each),
// with the observer name after them; false when memory is refused.
export function configureTracker(observerBytes: u32): bool {
  event = regionAddress(R_EVENT);
  const s = event + TRK_SETTINGS;
  inviteSeconds = load<f64>(s + TRK_INVITE);
  graceSeconds = load<f64>(s + TRK_GRACE);
  establishedSeconds = load<f64>(s + TRK_ESTABLISHED);
  lingerSeconds = load<f64>(s + TRK_LINGER);
  transactionSeconds = load<f64>(s + TRK_TRANSACTION);
  challengeSeconds = load<f64>(s + TRK_CHALLENGE);
  expiryGraceSeconds = load<f64>(s + TRK_EXPIRY_GRACE);
  countersSeconds = load<f64>(s + TRK_COUNTERS);
  const maxCalls = <u32>load<f64>(s + TRK_MAX_CALLS);
  const maxBindings = <u32>load<f64>(s + TRK_MAX_BINDINGS);
  const maxTransactions = <u32>load<f64>(s + TRK_MAX_TRANSACTIONS);
  // Each table's entries, and one more each: an entry is made before the oldest leaves a full table.
  const entries = <u64>maxCalls + <u64>maxBindings + 2 * <u64>maxTransactions + 4;
  if (configured || entries > 0xffffff) return false;
  // A message is at most a frame, a reassembled datagram or a stream buffer; its values
  // normalized take three bytes at most for each byte.
  const maxMessage = max(max(cfg(CFG_IN_BYTES), DATAGRAM_MAX), cfg(CFG_TCP_BUFFER_BYTES));
  if (observerBytes > 4096 || maxMessage > 0x1000_0000) return false;
  scratchSize = maxMessage * 3 + 64;
  scratch = reserve(<u64>scratchSize * 4);
  methodText = reserve(<u64>maxMessage + 16);
  observer = reserve(<u64>observerBytes + 1);
  if (scratch == 0 || methodText == 0 || observer == 0 || !entriesInit(<u32>entries, TRACK_ENTRY_SIZE) || !heapInit(<u32>entries)
    || !textInit(entries * TRACK_TEXT_PER_ENTRY)) return false;
  memory.copy(observer, s + TRK_SETTINGS_END, observerBytes);
  writeMethods();
  observerLength = observerBytes;
  calls = tableReserve(maxCalls);
  transactions = tableReserve(maxTransactions);
  challenges = tableReserve(maxTransactions);
  challengedCalls = tableReserve(maxTransactions);
  bindings = tableReserve(maxBindings);
  aors = tableReserve(maxBindings);
  probes = tableReserve(PROBES_REMEMBERED);
  configured = configureQuality() && calls != 0 && transactions != 0 && challenges != 0 && challengedCalls != 0 && bindings != 0 && aors != 0 && probes != 0;
  return configured;
}

// The tracker's counters (host/calls/tracker.ts TrackerCounters), TC_* in order.
export function trackerCounter(which: u32): f64 {
  switch (which) {
    case TC_MESSAGES: return messages;
    case TC_CALLS_HELD: return <f64>tableSize(calls);
    case TC_CALLS_EVICTED: return <f64>tableEvicted(calls);
    case TC_BINDINGS_HELD: return <f64>tableSize(bindings);
    case TC_BINDINGS_EVICTED: return <f64>tableEvicted(bindings);
    case TC_TRANSACTIONS_HELD: return <f64>tableSize(transactions);
    case TC_TRANSACTIONS_EVICTED: return <f64>tableEvicted(transactions);
    case TC_CHALLENGES_HELD: return <f64>tableSize(challenges);
    case TC_CHALLENGES_EVICTED: return <f64>tableEvicted(challenges);
    case TC_TIMERS_ARMED: return <f64>heapSize();
    case TC_EVENTS: return sequence;
    case TC_TEXT_LOST: return <f64>textLost;
    default: return 0;
  }
}

// ---- the message being tracked: the push's record `rec` ----
let rec: usize = 0;
let msg: usize = 0;
let mUs: f64 = 0;
let mMethod: u32 = M_NONE;
let mRequest = false;

// The first `count` records of the last push (the host's batch count: a batch of media ends
// alone has none), in order, after its first `ends` media stats records are held for the
// calls' events (host/calls/publish.ts takes them first too).
export function trackPush(count: u32, ends: u32): void {
  if (!configured) return;
  takeMediaEnds(regionAddress(R_OUT_MEDIA_ENDS), min(ends, endsCount));
  const records = regionAddress(R_OUT_RECORDS);
  const n = min(count, recordCount);
  for (let i: u32 = 0; i < n; i++) observe(records + <usize>i * REC_SIZE);
}

function observe(r: usize): void {
  rec = r;
  msg = <usize>load<u32>(r + REC_MSG_ADDR);
  mUs = <f64>load<i64>(r + REC_TS_SEC) * 1_000_000 + Math.floor(<f64>load<u32>(r + REC_TS_NSEC) / 1000);
  mRequest = (load<u32>(r + REC_FLAGS) & REC_F_REQUEST) != 0;
  mMethod = methodCode();
  advance(mUs);
  messages++;
  if (problems() != 0) parseError();
  const key = callKey();
  if (key == 0 || (problems() & PROB_NO_CSEQ) != 0) return;
  if (mRequest && spanLen(SPAN_USER_AGENT) != 0 && isScanner(spanAt(SPAN_USER_AGENT), spanLen(SPAN_USER_AGENT))) probe();
  const call = tableGet(calls, key);
  if (call != NONE || mMethod <= M_PRACK) callMessage(call);
  else if (mRequest) otherRequest();
  else otherResponse();
}

// Whether a User-Agent names a scanner, its verdict remembered by the value's signature (as the
// JavaScript tracker remembers it by the string): a capture has few distinct User-Agents, and
// the signature of one is cheaper than looking for ten names in it.
const AGENT_VERDICTS: u32 = 1024;
const agentVerdicts: usize = memory.data(16 * AGENT_VERDICTS);  // (signature | 1, verdict) pairs, direct-mapped

function isScanner(p: usize, n: u32): bool {
  const key = signature(p, n) | 1;  // never 0, an empty place
  const at = agentVerdicts + (<usize>(<u32>key & (AGENT_VERDICTS - 1)) << 4);
  if (load<u64>(at) == key) return load<u32>(at, 8) != 0;
  const verdict = isScannerAgent(p, n);
  store<u64>(at, key);
  store<u32>(at, verdict ? 1 : 0, 8);
  return verdict;
}

@inline function spanWord(s: i32, word: u32): u32 {
  const at = s < SPAN_BASE_COUNT ? REC_SPANS + (s << 3) : REC_SPANS_MORE + ((s - SPAN_BASE_COUNT) << 3);
  return load<u32>(rec + <usize>at + (word << 2));
}
@inline function spanAt(s: i32): usize { return msg + <usize>spanWord(s, 0); }
@inline function spanLen(s: i32): u32 { return spanWord(s, 1); }
@inline function problems(): u32 { return load<u32>(rec + REC_PROBLEMS); }
@inline function mStatus(): u32 { return load<u32>(rec + REC_STATUS); }
@inline function mCseq(): u32 { return load<u32>(rec + REC_CSEQ); }
@inline function mExpires(): f64 { return <f64>load<i32>(rec + REC_EXPIRES); }

// The low 53 bits of the Call-ID's signature: host/core/records.ts's callKey.
function callKey(): u64 {
  return load<u64>(rec + REC_CALL_KEY) & 0x1f_ffff_ffff_ffff;
}

// The known method the span is in any case (host/calls/message.ts methodOf), M_OTHER for any
// other (kept as its upper-case text: methods are tokens, ASCII), M_NONE when there is none.
// Compared as words against METHODS: the first eight bytes, each ANDed with 0xDF (a letter's
// upper case; a token's other characters never become a letter), then the ninth (SUBSCRIBE).
function methodCode(): u32 {
  const n = spanLen(SPAN_METHOD);
  if (n == 0) return M_NONE;
  if (n > 9) return M_OTHER;
  const p = spanAt(SPAN_METHOD);
  let word: u64 = 0;
  for (let i: u32 = 0; i < min(n, 8); i++) word |= <u64>(load<u8>(p + i) & 0xdf) << (i << 3);
  const ninth: u32 = n == 9 ? load<u8>(p + 8) & 0xdf : 0;
  for (let k: u32 = 0; k < <u32>METHOD_NAMES.length; k++) {
    const at = METHODS + (<usize>k << 4);
    if (load<u64>(at) == word && load<u32>(at, 12) == n && <u32>load<u8>(at, 8) == ninth) return k;
  }
  return M_OTHER;
}

// The known methods, 16 bytes each: the name's bytes, zero-padded (its first eight read as one
// word), and its length at 12. Written by configureTracker().
const METHODS: usize = memory.data(16 * 14);

function writeMethods(): void {
  for (let k = 0; k < METHOD_NAMES.length; k++) {
    const name = METHOD_NAMES[k];
    const at = METHODS + (<usize>k << 4);
    for (let i = 0; i < name.length; i++) store<u8>(at + i, <u8>name.charCodeAt(i));
    store<u32>(at, name.length, 12);
  }
}

// A known method's name as text.
function name(code: u32): u64 {
  const at = METHODS + (<usize>code << 4);
  return (<u64>at << 32) | <u64>load<u32>(at, 12);
}

// ---- text ----

// A message's value as the host decodes it: the bytes where they are well-formed,
// else their normalized copy in `scratch` (valid until the next call). Packed (address << 32) | length.
function normalized(p: usize, n: u32): u64 {
  if (isWellFormed(p, n)) return (<u64>p << 32) | n;
  // Four buffers in turn: a rule holds at most three of a message's values at once.
  scratchTurn = (scratchTurn + 1) & 3;
  const to = scratch + <usize>scratchTurn * scratchSize;
  const length = normalize(p, n, to);
  return (<u64>to << 32) | length;
}

@inline function textAddr(t: u64): usize { return <usize>(t >> 32); }
@inline function textLen(t: u64): u32 { return <u32>t; }

function spanText(s: i32): u64 {
  return normalized(spanAt(s), spanLen(s));
}

function hashOf(t: u64): u64 {
  return signature(textAddr(t), textLen(t));
}

@inline function slotOf(e: usize, s: i32): usize { return e + E_STRINGS + (<usize>s << 3); }
@inline function held(e: usize, s: i32): u64 {
  const at = slotOf(e, s);
  return (<u64>load<u32>(at) << 32) | load<u32>(at, 4);
}
@inline function heldLen(e: usize, s: i32): u32 { return load<u32>(slotOf(e, s), 4); }

// Replaces the entry's string s with a copy of text t (already normalized).
function keep(e: usize, s: i32, t: u64): void {
  const at = slotOf(e, s);
  const old = load<u32>(at);
  if (old != 0) textFree(<usize>old, load<u32>(at, 4));
  const n = textLen(t);
  const copy: usize = n == 0 ? 0 : textAlloc(n);
  if (copy != 0) memory.copy(copy, textAddr(t), n);
  else if (n != 0) textLost++;
  store<u32>(at, <u32>copy);
  store<u32>(at, copy == 0 ? 0 : n, 4);
}

function keepSpan(e: usize, s: i32, span: i32): void {
  keep(e, s, spanText(span));
}

function keepFrom(e: usize, s: i32, other: usize): void {
  keep(e, s, held(other, s));
}

function sameText(a: u64, b: u64): bool {
  return equalBytes(textAddr(a), textLen(a), textAddr(b), textLen(b));
}

// ---- entries ----

function newEntry(kind: u8, key: u64): usize {
  const id = entryAlloc();
  const e = entryAt(id);
  store<u32>(e + E_ID, id);
  store<u8>(e + E_KIND, kind);
  store<u64>(e + E_KEY, key);
  return e;
}

function idOf(e: usize): u32 {
  return load<u32>(e + E_ID);
}

function freeEntry(id: u32): void {
  const e = entryAt(id);
  for (let s = 0; s < STRING_SLOTS; s++) {
    const at = slotOf(e, s);
    const a = load<u32>(at);
    if (a != 0) textFree(<usize>a, load<u32>(at, 4));
  }
  entryFree(id);
}

// The party of a request (partyOfRequest): client the sender.
function partyOfRequest(e: usize): void {
  setEndpoints(e, REC_SRC_ADDR, REC_SRC_PORT, REC_DST_ADDR, REC_DST_PORT);
  keepSpan(e, S_FROM, SPAN_FROM);
  keepSpan(e, S_TO, SPAN_TO);
  if (mRequest) keepSpan(e, S_AGENT, SPAN_USER_AGENT);
  else keep(e, S_AGENT, 0);
}

// The party of a response (partyOfResponse): client the receiver, no User-Agent.
function partyOfResponse(e: usize): void {
  setEndpoints(e, REC_DST_ADDR, REC_DST_PORT, REC_SRC_ADDR, REC_SRC_PORT);
  keepSpan(e, S_FROM, SPAN_FROM);
  keepSpan(e, S_TO, SPAN_TO);
  keep(e, S_AGENT, 0);
}

function setEndpoints(e: usize, client: i32, clientPort: i32, server: i32, serverPort: i32): void {
  memory.copy(e + E_CLIENT, rec + <usize>client, 16);
  memory.copy(e + E_SERVER, rec + <usize>server, 16);
  store<u32>(e + E_CLIENT_PORT, load<u16>(rec + <usize>clientPort));
  store<u32>(e + E_SERVER_PORT, load<u16>(rec + <usize>serverPort));
  store<u8>(e + E_TRANSPORT, <u8>(load<u32>(rec + REC_FLAGS) & TRANSPORT_MASK));
  const ipv6 = (load<u32>(rec + REC_FLAGS) & REC_F_IPV6) != 0;
  setFlag(e, EF_IPV6, ipv6);
}

// Another entry's party (a challenge's from its transaction, a binding's).
function copyParty(e: usize, from: usize): void {
  memory.copy(e + E_CLIENT, from + E_CLIENT, 40);
  store<u8>(e + E_TRANSPORT, load<u8>(from + E_TRANSPORT));
  setFlag(e, EF_IPV6, flag(from, EF_IPV6));
  keepFrom(e, S_FROM, from);
  keepFrom(e, S_TO, from);
  keepFrom(e, S_AGENT, from);
}

@inline function flag(e: usize, f: u8): bool { return (load<u8>(e + E_FLAGS) & f) != 0; }
@inline function setFlag(e: usize, f: u8, on: bool): void {
  const v = load<u8>(e + E_FLAGS);
  store<u8>(e + E_FLAGS, on ? v | f : v & ~f);
}
@inline function state(e: usize): u8 { return load<u8>(e + E_STATE); }
@inline function setState(e: usize, s: u8): void { store<u8>(e + E_STATE, s); }
@inline function num(e: usize, field: usize): f64 { return load<f64>(e + field); }
@inline function setNum(e: usize, field: usize, v: f64): void { store<f64>(e + field, v); }

function arm(e: usize, deadline: f64): void {
  heapArm(idOf(e), <i64>deadline);
}

function deadlineOf(e: usize): f64 {
  return <f64>heapDeadline(idOf(e));
}

// ---- capture time and timers (Tracker.advance) ----

function advance(timeUs: f64): void {
  if (timeUs <= now) return;
  if (nextCountersUs < 0 && countersSeconds > 0) nextCountersUs = timeUs + countersSeconds * SECOND;
  for (;;) {
    const id = heapDue(<i64>timeUs);
    const deadline = id == NONE ? Infinity : <f64>heapDeadline(id);
    const countersDue = nextCountersUs >= 0 && nextCountersUs <= timeUs;
    if (countersDue && (id == NONE || nextCountersUs <= deadline)) {
      if (id != NONE) heapArm(id, <i64>deadline);
      // A quiet stretch (or a capture whose clock jumps years) gives one report, not one per period.
      const interval = countersSeconds * SECOND;
      const until = Math.min(timeUs, deadline);
      nextCountersUs += Math.floor((until - nextCountersUs) / interval) * interval;
      now = nextCountersUs;
      reportCounters(nextCountersUs);
      nextCountersUs += countersSeconds * SECOND;
      continue;
    }
    if (id == NONE) break;
    now = deadline;
    fire(entryAt(id));
  }
  now = timeUs;
}

// End of input (Tracker.finish): failures waiting out their grace are final now,
// and the counters reported once more.
export function trackFinish(): void {
  if (!configured) return;
  for (let c = tableFirst(calls); c != NONE; c = tableNext(calls, c)) {
    const e = entryAt(tableValue(calls, c));
    if (state(e) == FAILED || state(e) == CHALLENGED) callAttempt(e, num(e, N_FINAL_US), NO_VALUE);
  }
  if (countersSeconds > 0 && now > -Infinity) reportCounters(now);
}

function fire(e: usize): void {
  switch (load<u8>(e + E_KIND)) {
    case K_CALL: callTimeout(e); break;
    case K_TRANSACTION: transactionTimeout(e); break;
    case K_BINDING: bindingExpired(e); break;
    default: challengeTimeout(e);
  }
}

function callTimeout(e: usize): void {
  const s = state(e);
  if (s == EARLY) callAttempt(e, deadlineOf(e), O_TIMEOUT);
  else if (s == CHALLENGED || s == FAILED) callAttempt(e, num(e, N_FINAL_US), NO_VALUE);
  else if (s == ESTABLISHED) endCall(e, num(e, N_LAST_US), deadlineOf(e), BY_TIMEOUT);
  else forgetCall(e);
}

function transactionTimeout(e: usize): void {
  if (flag(e, EF_DONE)) {
    forget(transactions, e);
    return;
  }
  describeParty(T_OTHER_TIMEOUT, deadlineOf(e), e, held(e, S_CALL_ID), -1);
  methodOfEntry(e);
  send();
  setFlag(e, EF_DONE, true);
  arm(e, deadlineOf(e) + lingerSeconds * SECOND);
}

function bindingExpired(e: usize): void {
  const at = deadlineOf(e);
  describeParty(T_REG_EXPIRED, at, e, held(e, S_CALL_ID), -1);
  requestMethod(M_REGISTER);
  bindingMember(held(e, S_AOR), held(e, S_CONTACT), num(e, N_EXPIRES));
  // dropBinding first in the JavaScript: the description has copied what the event needs.
  dropBinding(e);
  send();
}

function challengeTimeout(e: usize): void {
  const id = idOf(e);
  unindexChallenge(e);
  tableDelete(challenges, load<u64>(e + E_KEY));
  if (!flag(e, EF_RETRIED) && !flag(e, EF_REPORTED)) {
    describeParty(T_OTHER_FAILED, num(e, N_RING_US), e, held(e, S_CALL_ID), -1);
    methodOfEntry(e);
    response(load<u32>(e + N_STATUS), held(e, S_REASON));
    send();
  }
  freeEntry(id);
}

// ---- calls ----

function callMessage(call: u32): void {
  const e: usize = call == NONE ? 0 : entryAt(call);
  if (!mRequest) {
    if (mMethod == M_INVITE) inviteResponse(e);
    else if (e != 0) touch(e, mUs);
    return;
  }
  switch (mMethod) {
    case M_INVITE:
      if (spanLen(SPAN_TO_TAG) == 0) invite(e);
      else inDialog(e, true);
      return;
    case M_BYE: bye(e); return;
    case M_CANCEL:
      if (e != 0 && (state(e) == EARLY || state(e) == CHALLENGED)) setFlag(e, EF_CANCELLED, true);
      return;
    case M_UPDATE: inDialog(e, spanLen(SPAN_TO_TAG) != 0); return;
    case M_ACK:
      // An ACK with a To tag while no 2xx was seen acknowledges a 2xx that was missed.
      if (e != 0 && state(e) == EARLY && spanLen(SPAN_TO_TAG) != 0 && !sameText(spanText(SPAN_TO_TAG), held(e, S_FAILED_TAG))) {
        answer(e, mUs, true);
        return;
      }
      if (e != 0) touch(e, mUs);
      return;
    default:
      if (e != 0) touch(e, mUs);
  }
}

function invite(e: usize): void {
  if (e == 0) {
    const created = newCall(false);
    setNum(created, N_INVITE_US, mUs);
    arm(created, mUs + inviteSeconds * SECOND);
    return;
  }
  if (state(e) == CHALLENGED && mCseq() > load<u32>(e + N_INVITE_CSEQ)) {
    setState(e, EARLY);
    store<u32>(e + N_INVITE_CSEQ, mCseq());
    arm(e, mUs + inviteSeconds * SECOND);
  } else if (num(e, N_INVITE_US) < 0 && state(e) == EARLY) {
    // The reply came first (capture from two interfaces): the request still tells who called.
    partyOfRequest(e);
    setNum(e, N_INVITE_US, mUs);
    keepSpan(e, S_FROM_TAG, SPAN_FROM_TAG);
  }
}

// An in-dialog request: it refreshes a known call, and implies the start of
// one whose 2xx was missed (or that began before the capture).
function inDialog(e: usize, implies: bool): void {
  if (e == 0) {
    if (!implies) return;
    answer(newCall(true), mUs, true);
    return;
  }
  const s = state(e);
  if (s == EARLY || s == CHALLENGED || s == FAILED) {
    if (implies) answer(e, mUs, true);
    return;
  }
  touch(e, mUs);
}

function inviteResponse(found: usize): void {
  let e = found;
  const status = mStatus();
  if (e == 0) {
    if (status == 100) return;
    e = newCall(false);
    partyOfResponse(e);
    keepSpan(e, S_FROM_TAG, SPAN_FROM_TAG);
    store<u32>(e + N_INVITE_CSEQ, mCseq());
    arm(e, mUs + inviteSeconds * SECOND);
  }
  addLegs(e);
  if (mCseq() != load<u32>(e + N_INVITE_CSEQ) && state(e) == ESTABLISHED) {
    touch(e, mUs);
    return;
  }
  const s = state(e);
  if (status < 200) {
    if (status > 100 && num(e, N_RING_US) < 0 && s == EARLY) setNum(e, N_RING_US, mUs);
    return;
  }
  if (status < 300) {
    if (s == EARLY || s == CHALLENGED || s == FAILED) {
      store<u32>(e + N_STATUS, status);
      keepSpan(e, S_REASON, SPAN_REASON);
      answer(e, mUs, false);
    } else {
      touch(e, mUs);
    }
    return;
  }
  if (s != EARLY) return;
  store<u32>(e + N_STATUS, status);
  keepSpan(e, S_REASON, SPAN_REASON);
  keepSpan(e, S_REASON_HEADER, SPAN_REASON_HEADER);
  setNum(e, N_FINAL_US, mUs);
  keepSpan(e, S_FAILED_TAG, SPAN_TO_TAG);
  const challenge = status == 401 || status == 407;
  if (load<u32>(e + N_CHALLENGES) > 0 && (challenge || status == 403)) {
    authFailedCall(e, mUs);
    return;
  }
  if (challenge) {
    store<u32>(e + N_CHALLENGES, load<u32>(e + N_CHALLENGES) + 1);
    setState(e, CHALLENGED);
    arm(e, mUs + challengeSeconds * SECOND);
    return;
  }
  setState(e, FAILED);
  arm(e, mUs + graceSeconds * SECOND);
}

function bye(found: usize): void {
  let e = found;
  if (e == 0) {
    e = newCall(true);
    answer(e, mUs, true);
  } else {
    const s = state(e);
    const failedTag = held(e, S_FAILED_TAG);
    if (s == ENDED || s != ESTABLISHED && (sameText(spanText(SPAN_TO_TAG), failedTag) || sameText(spanText(SPAN_FROM_TAG), failedTag))) {
      return; // a BYE on the branch that failed ends no dialog
    }
    if (s == EARLY && sameText(spanText(SPAN_FROM_TAG), held(e, S_FROM_TAG))) {
      // RFC 3261 §15: the caller may end an early dialog with BYE; the call was never answered.
      setFlag(e, EF_CANCELLED, true);
      callAttempt(e, mUs, NO_VALUE);
      return;
    }
    if (s != ESTABLISHED) answer(e, mUs, true);
  }
  const byCaller = sameText(spanText(SPAN_FROM_TAG), held(e, S_FROM_TAG));
  endCall(e, mUs, mUs, byCaller ? BY_CALLER : BY_CALLEE);
}

function answer(e: usize, timeUs: f64, implied: bool): void {
  setState(e, ESTABLISHED);
  setNum(e, N_ANSWER_US, timeUs);
  setNum(e, N_LAST_US, timeUs);
  setFlag(e, EF_IMPLIED, implied);
  arm(e, timeUs + establishedSeconds * SECOND);
  const inviteUs = num(e, N_INVITE_US);
  emitCall(T_CALL_START, e, timeUs, O_ANSWERED, inviteUs >= 0 ? (timeUs - inviteUs) * 1000 : -1, NaN, NO_VALUE);
}

function touch(e: usize, timeUs: f64): void {
  if (timeUs > num(e, N_LAST_US)) setNum(e, N_LAST_US, timeUs);
  if (state(e) == ESTABLISHED) arm(e, num(e, N_LAST_US) + establishedSeconds * SECOND);
}

function endCall(e: usize, endUs: f64, atUs: f64, originator: u32): void {
  setState(e, ENDED);
  const duration = (endUs - num(e, N_ANSWER_US)) * 1000;
  emitCall(T_CALL_END, e, atUs, O_ANSWERED, duration, endUs, originator);
  arm(e, atUs + lingerSeconds * SECOND);
}

function callAttempt(e: usize, atUs: f64, outcome: u32): void {
  const decided = outcome != NO_VALUE ? outcome : flag(e, EF_CANCELLED) ? O_CANCELLED : O_FAILED;
  const inviteUs = num(e, N_INVITE_US);
  emitCall(T_CALL_ATTEMPT, e, atUs, decided, inviteUs >= 0 ? (atUs - inviteUs) * 1000 : -1, NaN, NO_VALUE);
  setState(e, ENDED);
  arm(e, Math.max(atUs, now) + lingerSeconds * SECOND);
}

function authFailedCall(e: usize, atUs: f64): void {
  emitCall(T_AUTH_FAILED, e, atUs, O_AUTH_FAILED, -1, NaN, NO_VALUE);
  setState(e, ENDED);
  arm(e, atUs + lingerSeconds * SECOND);
}

function newCall(fromDialogRequest: bool): usize {
  const key = callKey();
  const e = newEntry(K_CALL, key);
  evicted(tableAdd(calls, key, idOf(e)));
  keepSpan(e, S_CALL_ID, SPAN_CALL_ID);
  setState(e, EARLY);
  partyOfRequest(e);  // client and server as the message has them; a response's caller fixes them
  keepSpan(e, S_FROM_TAG, SPAN_FROM_TAG);
  store<u32>(e + N_INVITE_CSEQ, mCseq());
  setNum(e, N_INVITE_US, -1);
  setNum(e, N_RING_US, -1);
  setNum(e, N_ANSWER_US, -1);
  setNum(e, N_FINAL_US, -1);
  setNum(e, N_LAST_US, mUs);
  setFlag(e, EF_IMPLIED, fromDialogRequest);
  addLegs(e);
  return e;
}

function forgetCall(e: usize): void {
  forget(calls, e);
}

// Disarmed, out of its table, its memory free.
function forget(table: usize, e: usize): void {
  const id = idOf(e);
  heapDisarm(id);
  tableDelete(table, load<u64>(e + E_KEY));
  freeEntry(id);
}

// The correlation headers, each kept the first time the call sees it, in that order.
function addLegs(e: usize): void {
  if (spanLen(SPAN_X_CID) == 0 && spanLen(SPAN_SESSION_ID) == 0 && spanLen(SPAN_P_CHARGING_VECTOR) == 0) return;
  addLeg(e, SPAN_X_CID, 1);
  addLeg(e, SPAN_SESSION_ID, 2);
  addLeg(e, SPAN_P_CHARGING_VECTOR, 3);
}

function addLeg(e: usize, span: i32, code: u32): void {
  if (spanLen(span) == 0) return;
  const codes = load<u32>(e + N_LEGS);
  let k = 0;
  for (; k < 3; k++) {
    const c = (codes >> (2 * k)) & 3;
    if (c == 0) break;
    if (c == code) return;
  }
  keepSpan(e, S_LEG + k, span);
  store<u32>(e + N_LEGS, codes | (code << (2 * k)));
}

function emitCall(type: u32, e: usize, atUs: f64, outcome: u32, durationNs: f64, endUs: f64, originator: u32): void {
  describeParty(type, atUs, e, held(e, S_CALL_ID), durationNs);
  let flags = load<u32>(event + EV_FLAGS) | EVF_CALL | (flag(e, EF_IMPLIED) ? EVF_IMPLIED : 0);
  const inviteUs = num(e, N_INVITE_US), ringUs = num(e, N_RING_US), answerUs = num(e, N_ANSWER_US);
  if (inviteUs >= 0) flags |= callTime(0, inviteUs);
  if (ringUs >= 0) flags |= callTime(1, ringUs);
  if (answerUs >= 0) flags |= callTime(2, answerUs);
  if (!isNaN(endUs)) flags |= callTime(3, endUs);
  const finalUs = num(e, N_FINAL_US);
  const decidedUs = answerUs >= 0 ? answerUs : finalUs >= 0 ? finalUs : -1;
  textHeld(EVS_METHOD, name(M_INVITE));
  flags |= EVF_REQUEST;
  const status = load<u32>(e + N_STATUS);
  if (status >= 200) {
    store<u32>(event + EV_STATUS, status);
    flags |= EVF_RESPONSE;
    textHeld(EVS_REASON, held(e, S_REASON));
  }
  if (heldLen(e, S_REASON_HEADER) != 0 && type != T_CALL_START) textHeld(EVS_REASON_HEADER, held(e, S_REASON_HEADER));
  const firstProgress = ringUs >= 0 ? ringUs : decidedUs;
  if (inviteUs >= 0 && firstProgress >= 0) {
    store<f64>(event + EV_PDD, firstProgress - inviteUs);
    flags |= EVF_PDD;
  }
  if (ringUs >= 0 && decidedUs >= 0) {
    store<f64>(event + EV_RING_TIME, decidedUs - ringUs);
    flags |= EVF_RING_TIME;
  }
  if (originator != NO_VALUE) {
    store<u32>(event + EV_ORIGINATOR, originator);
    flags |= EVF_ORIGINATOR;
  }
  store<u32>(event + EV_OUTCOME, outcome);
  const legs = load<u32>(e + N_LEGS);
  store<u32>(event + EV_LEGS, legs);
  for (let k = 0; k < 3 && ((legs >> (2 * k)) & 3) != 0; k++) textHeld(EVS_LEG + k, held(e, S_LEG + k));
  if ((type == T_CALL_END || type == T_CALL_ATTEMPT) && callQuality(held(e, S_CALL_ID))) flags |= EVF_RTP;
  store<u32>(event + EV_FLAGS, flags);
  send();
}

// The call's voice quality (assembly/quality.ts) as the rtp member, with its codecs' names.
function callQuality(callId: u64): bool {
  if (!qualityInto(event, textAddr(callId), textLen(callId))) return false;
  for (let k = 0; k < 2; k++) {
    if (<u64>(textAt - event) + 32 > <u64>EVENT_BYTES) return false;
    const n = codecText(k, textAt);
    placeSlot(EVS_CODEC + k, textAt, n);
    textAt += n;
  }
  store<u32>(event + EV_TEXT_END, <u32>(textAt - event));
  return true;
}

function callTime(k: i32, us: f64): u32 {
  store<f64>(event + EV_TIMES + (<usize>k << 3), us);
  return EVF_TIME_INVITE << k;
}

// ---- non-INVITE transactions ----

// host/calls/tracker.ts transactionKey: the core's Call-ID hash, the CSeq and the method's code
// mixed into 53 bits, or for an unknown method a hash of its text (bit 63 set: never a number key).
function transactionKey(): u64 {
  const code = mMethod >= M_REGISTER && mMethod < M_OTHER ? mMethod - M_REGISTER : -1;
  const key = callKey();
  if (code < 0) {
    const h = hashOf(spanText(SPAN_CALL_ID)) ^ rotl<u64>(<u64>mCseq() * 0x9e3779b97f4a7c15, 17) ^ rotl<u64>(methodHash(), 31);
    return h | 0x8000_0000_0000_0000;
  }
  const high = <u32>(key >> 32);
  const low = <u32>key ^ (mCseq() * 0x9e3779b1);
  return (<u64>((high ^ <u32>(code + 1)) & 0x1fffff) << 32) | <u64>low;
}

// The method's upper-case text hashed (an unknown method's key).
function methodHash(): u64 {
  return signature(methodText, upperMethod());
}

// The method's text, upper case, at methodText; its length.
function upperMethod(): u32 {
  const n = spanLen(SPAN_METHOD);
  const p = spanAt(SPAN_METHOD);
  for (let i: u32 = 0; i < n; i++) {
    const c = load<u8>(p + i);
    store<u8>(methodText + i, c >= 0x61 && c <= 0x7a ? c - 0x20 : c);
  }
  return n;
}

function otherRequest(): void {
  const key = transactionKey();
  const id = tableGet(transactions, key);
  if (id != NONE) {
    const e = entryAt(id);
    if (num(e, N_INVITE_US) < 0) {
      partyOfRequest(e);
      setNum(e, N_INVITE_US, mUs);
      keepSpan(e, S_CONTACT, SPAN_CONTACT);
      setNum(e, N_EXPIRES, mExpires());
    }
    return;
  }
  const created = newTransaction(key);
  partyOfRequest(created);
  setNum(created, N_INVITE_US, mUs);
  keepSpan(created, S_CONTACT, SPAN_CONTACT);
  setNum(created, N_EXPIRES, mExpires());
  arm(created, mUs + transactionSeconds * SECOND);
  const challenge = challengeOf();
  if (challenge != 0 && mCseq() > load<u32>(challenge + N_INVITE_CSEQ) && !flag(challenge, EF_RETRIED)) {
    setFlag(challenge, EF_RETRIED, true);
    arm(challenge, mUs + challengeSeconds * SECOND);
  }
}

function otherResponse(): void {
  const status = mStatus();
  if (status < 200) return;
  const key = transactionKey();
  const id = tableGet(transactions, key);
  let e: usize;
  if (id == NONE) {
    e = newTransaction(key);
    partyOfResponse(e);
  } else {
    e = entryAt(id);
  }
  if (flag(e, EF_DONE)) return;
  setFlag(e, EF_DONE, true);
  arm(e, mUs + lingerSeconds * SECOND);
  const requestUs = num(e, N_INVITE_US);
  const duration = requestUs >= 0 ? (mUs - requestUs) * 1000 : -1;
  if (status == 401 || status == 407) {
    challenged(e);
    return;
  }
  if (status < 300) {
    dropChallenge(challengeOf());
    if (load<u32>(e + E_METHOD) == M_REGISTER) {
      registered(e);
      return;
    }
    otherEvent(T_OTHER_OK, e, duration, false);
    return;
  }
  const refused = status == 403 ? challengeOf() : 0;
  if (refused != 0 && flag(refused, EF_RETRIED) && mCseq() > load<u32>(refused + N_INVITE_CSEQ)) {
    // A 403 to the request retried with credentials: the credentials were refused.
    setFlag(refused, EF_RETRIED, false);
    store<u32>(refused + N_INVITE_CSEQ, mCseq());
    if (flag(refused, EF_REPORTED)) return;
    setFlag(refused, EF_REPORTED, true);
    otherEvent(T_AUTH_FAILED, e, duration, false);
    return;
  }
  otherEvent(T_OTHER_FAILED, e, duration, true);
}

// An event of a transaction answered by this response: its method, the response, and for
// other-failed the response's Reason header.
function otherEvent(type: u32, e: usize, duration: f64, withReasonHeader: bool): void {
  describeParty(type, mUs, e, held(e, S_CALL_ID), duration);
  methodOfEntry(e);
  response(mStatus(), spanText(SPAN_REASON));
  if (withReasonHeader && spanLen(SPAN_REASON_HEADER) != 0) textHeld(EVS_REASON_HEADER, spanText(SPAN_REASON_HEADER));
  send();
}

// RFC 3261 §22: a first 401/407 is the normal start of authentication; the
// retried request challenged again is a failed authentication, reported once
// per Call-ID, method and To URI until a 2xx ends the episode.
function challenged(tx: usize): void {
  const key = challengeKey();
  const earlierId = tableHas(challengedCalls, callKey()) ? tableGet(challenges, key) : NONE;
  const cseq = mCseq();
  if (earlierId != NONE) {
    const earlier = entryAt(earlierId);
    if (flag(earlier, EF_RETRIED) && cseq > load<u32>(earlier + N_INVITE_CSEQ)) {
      if (!flag(earlier, EF_REPORTED)) {
        setFlag(earlier, EF_REPORTED, true);
        const requestUs = num(tx, N_INVITE_US);
        otherEvent(T_AUTH_FAILED, tx, requestUs >= 0 ? (mUs - requestUs) * 1000 : -1, false);
      }
      store<u32>(earlier + N_INVITE_CSEQ, cseq);
      setFlag(earlier, EF_RETRIED, false);
      arm(earlier, mUs + challengeSeconds * SECOND);
      return;
    }
    store<u32>(earlier + N_INVITE_CSEQ, max(load<u32>(earlier + N_INVITE_CSEQ), cseq));
    return;
  }
  const e = newEntry(K_CHALLENGE, key);
  evicted(tableAdd(challenges, key, idOf(e)));
  store<u64>(e + N_CALL_KEY, callKey());
  keepSpan(e, S_CALL_ID, SPAN_CALL_ID);
  store<u32>(e + E_METHOD, load<u32>(tx + E_METHOD));
  keepFrom(e, S_METHOD_TEXT, tx);
  store<u32>(e + N_INVITE_CSEQ, cseq);
  store<u32>(e + N_STATUS, mStatus());
  keepSpan(e, S_REASON, SPAN_REASON);
  setNum(e, N_RING_US, mUs);
  copyParty(e, tx);
  const count = tableGet(challengedCalls, callKey());
  if (count == NONE) tableAdd(challengedCalls, callKey(), 1);
  else tableSet(challengedCalls, callKey(), count + 1);
  arm(e, mUs + challengeSeconds * SECOND);
}

// The challenge of this message's Call-ID, method and To URI, 0 when none.
function challengeOf(): usize {
  if (!tableHas(challengedCalls, callKey())) return 0;
  const id = tableGet(challenges, challengeKey());
  return id == NONE ? 0 : entryAt(id);
}

// challengeKey: Call-ID, method and the To URI, as the host's string would compare.
function challengeKey(): u64 {
  const callId = hashOf(spanText(SPAN_CALL_ID));
  const method = mMethod < M_OTHER ? <u64>(mMethod + 1) : methodHash();
  const to = spanText(SPAN_TO);
  const uri = uriOf(textAddr(to), textLen(to));
  const uriHash = signature(textAddr(to) + <usize>(uri >> 32), <u32>uri);
  return callId ^ rotl<u64>(method * 0x9e3779b97f4a7c15, 21) ^ rotl<u64>(uriHash, 43);
}

function dropChallenge(e: usize): void {
  if (e == 0) return;
  const id = idOf(e);
  heapDisarm(id);
  tableDelete(challenges, load<u64>(e + E_KEY));
  unindexChallenge(e);
  freeEntry(id);
}

// One challenge fewer held for its Call-ID.
function unindexChallenge(e: usize): void {
  const key = load<u64>(e + N_CALL_KEY);
  const count = tableGet(challengedCalls, key);
  if (count > 1) tableSet(challengedCalls, key, count - 1);
  else tableDelete(challengedCalls, key);
}

function newTransaction(key: u64): usize {
  const e = newEntry(K_TRANSACTION, key);
  evicted(tableAdd(transactions, key, idOf(e)));
  keepSpan(e, S_CALL_ID, SPAN_CALL_ID);
  store<u32>(e + E_METHOD, mMethod);
  if (mMethod == M_OTHER) keep(e, S_METHOD_TEXT, (<u64>methodText << 32) | upperMethod());
  store<u32>(e + N_INVITE_CSEQ, mCseq());
  setNum(e, N_INVITE_US, -1);
  setNum(e, N_EXPIRES, -1);
  return e;
}

// ---- registrations ----

// A 2xx to REGISTER (RFC 3261 §10.3): the binding of the request's Contact
// to the To URI is new, refreshed (silent) or deleted.
function registered(tx: usize): void {
  const to = heldLen(tx, S_TO) != 0 ? held(tx, S_TO) : spanText(SPAN_TO);
  const toUri = uriOf(textAddr(to), textLen(to));
  const aor = (<u64>(textAddr(to) + <usize>(toUri >> 32)) << 32) | <u32>toUri;
  let contactValue = held(tx, S_CONTACT);
  if (textLen(contactValue) == 0 && num(tx, N_INVITE_US) < 0) contactValue = spanText(SPAN_CONTACT);
  if (textLen(contactValue) == 0) return; // a query: bindings listed, none changed
  if (trimmedIsStar(textAddr(contactValue), textLen(contactValue))) {
    deleteAll(aor, tx);
    return;
  }
  const contactUri = uriOf(textAddr(contactValue), textLen(contactValue));
  const contact = (<u64>(textAddr(contactValue) + <usize>(contactUri >> 32)) << 32) | <u32>contactUri;
  const param = expiresParam(textAddr(contactValue), textLen(contactValue));
  const requested = param >= 0 ? <f64>param : num(tx, N_EXPIRES);
  const granted = requested == 0 ? 0 : grantedExpires(contact, requested);
  const key = hashOf(aor) ^ rotl<u64>(hashOf(contact) * 0x9e3779b97f4a7c15, 29);
  const heldId = tableGet(bindings, key);
  if (granted == 0) {
    describeParty(T_REG_DEL, mUs, tx, held(tx, S_CALL_ID), -1);
    requestMethod(M_REGISTER);
    bindingMember(aor, contact, 0);
    if (heldId != NONE) dropBinding(entryAt(heldId));
    send();
    return;
  }
  const deadline = mUs + (granted + expiryGraceSeconds) * SECOND;
  if (heldId != NONE) {
    const b = entryAt(heldId);
    setNum(b, N_EXPIRES, granted);
    keepFrom(b, S_CALL_ID, tx);
    arm(b, deadline);
    return;
  }
  const b = newBinding(key, aor, contact, granted, tx);
  arm(b, deadline);
  describeParty(T_REG_NEW, mUs, b, held(tx, S_CALL_ID), -1);
  requestMethod(M_REGISTER);
  bindingMember(aor, contact, granted);
  send();
}

// grantedExpires (RFC 3261 §10.3 step 8): the 2xx's Contact for this binding,
// else its Expires header, else what was asked, else the default.
function grantedExpires(contact: u64, requested: f64): f64 {
  if (spanLen(SPAN_CONTACT) != 0) {
    const c = spanText(SPAN_CONTACT);
    const uri = uriOf(textAddr(c), textLen(c));
    if (equalBytes(textAddr(c) + <usize>(uri >> 32), <u32>uri, textAddr(contact), textLen(contact))) {
      const param = expiresParam(textAddr(c), textLen(c));
      if (param >= 0) return <f64>param;
    }
  }
  if (mExpires() >= 0) return mExpires();
  return requested >= 0 ? requested : DEFAULT_EXPIRES;
}

// Contact: * removes every binding of the address of record, in the order they were made.
function deleteAll(aor: u64, tx: usize): void {
  const first = tableGet(aors, hashOf(aor));
  if (first == NONE) {
    describeParty(T_REG_DEL, mUs, tx, held(tx, S_CALL_ID), -1);
    requestMethod(M_REGISTER);
    bindingMember(aor, (<u64>STAR << 32) | 1, 0);
    send();
    return;
  }
  let id = first;
  while (id != NONE) {
    const b = entryAt(id);
    const next = load<u32>(b + N_NEXT);
    describeParty(T_REG_DEL, mUs, tx, held(tx, S_CALL_ID), -1);
    requestMethod(M_REGISTER);
    bindingMember(aor, held(b, S_CONTACT), 0);
    dropBinding(b);
    send();
    id = next;
  }
}

const STAR: usize = memory.data<u8>([0x2a]);

function newBinding(key: u64, aor: u64, contact: u64, expires: f64, tx: usize): usize {
  const b = newEntry(K_BINDING, key);
  evicted(tableAdd(bindings, key, idOf(b)));
  keep(b, S_AOR, aor);
  keep(b, S_CONTACT, contact);
  setNum(b, N_EXPIRES, expires);
  keepFrom(b, S_CALL_ID, tx);
  copyParty(b, tx);
  indexBinding(b);
  return b;
}

// The bindings of an address of record as a list in the order they were made (a JavaScript Set).
function indexBinding(b: usize): void {
  const aorKey = hashOf(held(b, S_AOR));
  const id = idOf(b);
  const first = tableGet(aors, aorKey);
  store<u32>(b + N_NEXT, NONE);
  if (first == NONE) {
    store<u32>(b + N_PREV, id);  // the first's prev is the last
    tableAdd(aors, aorKey, id);
    return;
  }
  const head = entryAt(first);
  const last = load<u32>(head + N_PREV);
  store<u32>(entryAt(last) + N_NEXT, id);
  store<u32>(b + N_PREV, last);
  store<u32>(head + N_PREV, id);
}

function unindexBinding(b: usize): void {
  const aorKey = hashOf(held(b, S_AOR));
  const id = idOf(b);
  const first = tableGet(aors, aorKey);
  const prev = load<u32>(b + N_PREV);
  const next = load<u32>(b + N_NEXT);
  if (first == id) {
    if (next == NONE) {
      tableDelete(aors, aorKey);
      return;
    }
    store<u32>(entryAt(next) + N_PREV, prev);  // the new first keeps the last
    tableSet(aors, aorKey, next);
    return;
  }
  store<u32>(entryAt(prev) + N_NEXT, next);
  if (next != NONE) store<u32>(entryAt(next) + N_PREV, prev);
  else store<u32>(entryAt(first) + N_PREV, prev);
}

function dropBinding(b: usize): void {
  const id = idOf(b);
  heapDisarm(id);
  tableDelete(bindings, load<u64>(b + E_KEY));
  unindexBinding(b);
  freeEntry(id);
}

// ---- a full table: its oldest entry made room (BoundedMap's onEvict) ----

// What onEvict does for each kind: disarmed, out of the indexes; then freed.
function evicted(id: u32): void {
  if (id == NONE) return;
  const e = entryAt(id);
  heapDisarm(id);
  const kind = load<u8>(e + E_KIND);
  if (kind == K_BINDING) unindexBinding(e);
  else if (kind == K_CHALLENGE) unindexChallenge(e);
  freeEntry(id);
}

// ---- everything else ----

function parseError(): void {
  describe(T_PARSE_ERROR, mUs, spanText(SPAN_CALL_ID), -1);
  messageParty(mRequest);
  let flags = load<u32>(event + EV_FLAGS) | EVF_PROBLEMS;
  store<u32>(event + EV_PROBLEMS, problems());
  if (mMethod != M_NONE) {
    methodOfMessage();
    flags |= EVF_REQUEST;
  }
  store<u32>(event + EV_FLAGS, flags);
  if (!mRequest) response(mStatus(), spanText(SPAN_REASON)); // status 000 too
  send();
}

function probe(): void {
  const key = hashOf(spanText(SPAN_CALL_ID));
  if (tableHas(probes, key)) return;
  tableAdd(probes, key, 1);  // the oldest of PROBES_REMEMBERED makes room
  describe(T_MSG_PROBE, mUs, spanText(SPAN_CALL_ID), -1);
  messageParty(true);
  methodOfMessage();
  store<u32>(event + EV_FLAGS, load<u32>(event + EV_FLAGS) | EVF_REQUEST);
  send();
}

function reportCounters(atUs: f64): void {
  sequence++;
  store<u32>(event + EV_TYPE, T_COUNTERS);
  store<f64>(event + EV_AT_US, atUs);
  store<f64>(event + EV_SEQUENCE, sequence);
  trackerEvent();
}

// ---- the description at R_EVENT (host/core/event-lines.ts writes the same for the JavaScript tracker) ----

// The fields every event has; numbers and flags cleared, every string absent.
function describe(type: u32, atUs: f64, callId: u64, durationNs: f64): void {
  memory.fill(event, 0, EV_SLOTS);
  for (let s = 0; s < EV_SLOT_COUNT; s++) store<u32>(event + EV_SLOTS + (<usize>s << 3), EV_ABSENT, 4);
  textAt = event + EV_TEXT;
  store<u32>(event + EV_TYPE, type);
  store<f64>(event + EV_AT_US, atUs);
  if (durationNs != NO_DURATION) {
    store<f64>(event + EV_DURATION, durationNs);
    store<u32>(event + EV_FLAGS, EVF_DURATION);
  }
  textHeld(EVS_CALL_ID, callId);
  // The web view links the event to its call's messages by this key (host/http/store.ts), no string made.
  const idLength = textLen(callId);
  store<f64>(event + EV_CALL_KEY, idLength == 0 ? -1 : <f64>(signature(textAddr(callId), idLength) & 0x1f_ffff_ffff_ffff));
  if (observerLength != 0) textHeld(EVS_OBSERVER, (<u64>observer << 32) | observerLength);
}

// describe() with an entry's party.
function describeParty(type: u32, atUs: f64, e: usize, callId: u64, durationNs: f64): void {
  describe(type, atUs, callId, durationNs);
  textHeld(EVS_FROM, held(e, S_FROM));
  textHeld(EVS_TO, held(e, S_TO));
  const ipv6 = flag(e, EF_IPV6);
  ip(EVS_CLIENT_IP, e + E_CLIENT, ipv6);
  ip(EVS_SERVER_IP, e + E_SERVER, ipv6);
  store<u32>(event + EV_CLIENT_PORT, load<u32>(e + E_CLIENT_PORT));
  store<u32>(event + EV_SERVER_PORT, load<u32>(e + E_SERVER_PORT));
  store<u32>(event + EV_TRANSPORT, load<u8>(e + E_TRANSPORT));
  if (heldLen(e, S_AGENT) != 0) textHeld(EVS_USER_AGENT, held(e, S_AGENT));
}

// The message's own party (parse-error, msg-probe): partyOfRequest or partyOfResponse.
function messageParty(request: bool): void {
  textHeld(EVS_FROM, spanText(SPAN_FROM));
  textHeld(EVS_TO, spanText(SPAN_TO));
  const ipv6 = (load<u32>(rec + REC_FLAGS) & REC_F_IPV6) != 0;
  const client = request ? REC_SRC_ADDR : REC_DST_ADDR, server = request ? REC_DST_ADDR : REC_SRC_ADDR;
  ip(EVS_CLIENT_IP, rec + client, ipv6);
  ip(EVS_SERVER_IP, rec + server, ipv6);
  store<u32>(event + EV_CLIENT_PORT, load<u16>(rec + (request ? REC_SRC_PORT : REC_DST_PORT)));
  store<u32>(event + EV_SERVER_PORT, load<u16>(rec + (request ? REC_DST_PORT : REC_SRC_PORT)));
  store<u32>(event + EV_TRANSPORT, load<u32>(rec + REC_FLAGS) & TRANSPORT_MASK);
  if (request && mRequest && spanLen(SPAN_USER_AGENT) != 0) textHeld(EVS_USER_AGENT, spanText(SPAN_USER_AGENT));
}

function response(status: u32, reason: u64): void {
  store<u32>(event + EV_STATUS, status);
  store<u32>(event + EV_FLAGS, load<u32>(event + EV_FLAGS) | EVF_RESPONSE);
  textHeld(EVS_REASON, reason);
}

function bindingMember(aor: u64, contact: u64, expires: f64): void {
  textHeld(EVS_AOR, aor);
  textHeld(EVS_CONTACT, contact);
  store<f64>(event + EV_EXPIRES, expires);
  store<u32>(event + EV_FLAGS, load<u32>(event + EV_FLAGS) | EVF_BINDING);
}

// sip.request.method of a transaction or challenge: its known name or its text.
function methodOfEntry(e: usize): void {
  const code = load<u32>(e + E_METHOD);
  if (code < M_OTHER) textHeld(EVS_METHOD, name(code));
  else textHeld(EVS_METHOD, held(e, S_METHOD_TEXT));
  store<u32>(event + EV_FLAGS, load<u32>(event + EV_FLAGS) | EVF_REQUEST);
}

function requestMethod(code: u32): void {
  textHeld(EVS_METHOD, name(code));
  store<u32>(event + EV_FLAGS, load<u32>(event + EV_FLAGS) | EVF_REQUEST);
}

function methodOfMessage(): void {
  if (mMethod < M_OTHER) textHeld(EVS_METHOD, name(mMethod));
  else textHeld(EVS_METHOD, (<u64>methodText << 32) | upperMethod());
}


// A string of the event: copied into the text area, named by its slot.
function textHeld(s: i32, t: u64): void {
  const n = textLen(t);
  if (<u64>(textAt - event) + <u64>n > <u64>EVENT_BYTES) return;  // the renderer would refuse it: absent
  memory.copy(textAt, textAddr(t), n);
  placeSlot(s, textAt, n);
  textAt += n;
  store<u32>(event + EV_TEXT_END, <u32>(textAt - event));
}

function ip(s: i32, addr: usize, ipv6: bool): void {
  setCursor(textAt);
  ipText(addr, ipv6 ? 6 : 4);
  const n = <u32>(cursor() - textAt);
  placeSlot(s, textAt, n);
  textAt += n;
  store<u32>(event + EV_TEXT_END, <u32>(textAt - event));
}

function placeSlot(s: i32, at: usize, n: u32): void {
  const slot = event + EV_SLOTS + (<usize>s << 3);
  store<u32>(slot, <u32>(at - event));
  store<u32>(slot, n, 4);
}

function send(): void {
  sequence++;
  store<f64>(event + EV_SEQUENCE, sequence);
  trackerEvent();
}
