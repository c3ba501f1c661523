// Media tied to its calls. SIP messages with SDP enter their call in a table of
// CFG_MEDIA_CALLS slots and the endpoints (address, port) it announces in a
// table of CFG_MEDIA_ENDPOINTS entries; RTP and RTCP (RFC 3550) sent to or from
// those endpoints are counted per call and direction (sequence, loss, jitter:
// RFC 3550 A.1, A.3, A.8) and, when the host asks, returned as media records.
//
// A stream is found by both of its endpoints when both sides' SDP is known (a
// pair entry: a media server answering every call on one port is told apart by
// the other end), else by the one endpoint the packet is sent to or from.
// Direction 0 is sent from the side that made the call's first offer.
//
// Bounds: a call leaves on BYE, on a final answer >= 300 to an INVITE before any
// 2xx, after CFG_MEDIA_IDLE seconds of capture time without SDP or media, or is
// evicted (the least recently active of a few, clock hand) when a table is full.
// Each leaving call writes its stats record (R_OUT_MEDIA_ENDS). Every other UDP
// packet costs one look at a per-port bit.
import {
  CFG_MEDIA_CALLS, CFG_MEDIA_ENDPOINTS, CFG_MEDIA_IDLE, CFG_FLAG_MEDIA_PACKETS, R_OUT_MEDIA,
  R_OUT_MEDIA_ENDS, R_MEDIA_CALLS, SPAN_CALL_ID, SPAN_FROM_TAG, SPAN_CSEQ_METHOD, SPAN_METHOD,
  SDP_F_NO_ADDR, SDP_F_HOLD, SDP_F_IPV6,
  MED_SIZE, MED_FRAME, MED_CALL, MED_FLAGS, MED_SSRC, MED_SEQ, MED_RTP_TS, MED_PT, MED_PAYLOAD_ADDR,
  MED_PAYLOAD_LEN, MED_GEN, MED_TS_SEC, MED_TS_NSEC, MED_F_DIRECTION, MED_F_RTCP, MED_F_MARKER,
  CALL_ID_MAX, CALL_GEN, CALL_STATE, CALL_ID_LEN, CALL_END_REASON, CALL_FIRST_US, CALL_LAST_US, CALL_DIR, DIR_LAST_US,
  DIR_SIZE, CALL_ID, CALL_STATS_SIZE, CALL_SLOT_SIZE, DIR_PACKETS, DIR_EXPECTED, DIR_LOST,
  DIR_DUPLICATES, DIR_OUT_OF_ORDER, DIR_SSRC_CHANGES, DIR_SSRC, DIR_PT, DIR_CLOCK, DIR_RTCP_PACKETS,
  DIR_JITTER, DIR_MAX_JITTER, DIR_RTCP_REPORTS, DIR_RTCP_FRACTION, DIR_RTCP_LOST, DIR_RTCP_JITTER,
  DIR_CODEC, DIR_WORK, STATS_LEAVING, STATS_AFTER_BYE, MEDIA_END_BYE, MEDIA_END_FAILED, MEDIA_END_IDLE, MEDIA_END_EVICTED, MEDIA_END_CAPTURE,
  C_RTP, C_RTCP, C_RTP_UNKNOWN, C_MEDIA_MALFORMED, C_MEDIA_CALLS, C_MEDIA_ENDED, C_MEDIA_IDLE,
  C_MEDIA_EVICTED, C_MEDIA_ENDS_LOST, C_MEDIA_ID_TOO_LONG,
} from "./layout";
import { cfg, reserve, count, flags, maxFrames, setRegion } from "./state";
import { srcAddr, dstAddr, srcPort, dstPort, ipVersion, tsSec, tsNsec, frameIndex, be16, be32, tunnelTenant } from "./packet";
import { msgBase, isRequest, status, getSpanOff, getSpanLen } from "./sip";
import { readSdp, noSdp, sdpFlags, sdpAddr, sdpPort, sdpRtcpPort, sdpMaps, sdpMapCount, MAP_ENTRY, staticClock } from "./sdp";
import { signature } from "./hash";

export const NO_CALL: u32 = 0xffffffff;
export const ENDS_MAX: u32 = 4096;         // stats records per push; push() stops a batch at ENDS_STOP
export const ENDS_STOP: u32 = 2048;
const ENDPOINTS_PER_CALL: u32 = 12;        // a call's oldest endpoint leaves for a new one past this
const EVICT_LOOK: u32 = 8;                 // slots the clock hand compares to choose a victim
// Slots checked for idleness per message with SDP and one per SWEEP_EVERY media
// packets: never per push, so what leaves when does not depend on how frames were
// batched; rarely per packet, as each check touches another slot's memory.
const SWEEP_PER_SDP: u32 = 2;
const SWEEP_EVERY: u32 = 32;
let packetsSinceSweep: u32 = 0;
const SEEN_WINDOW: u32 = 64;               // sequence numbers below the highest remembered for duplicates

// Working state in a call slot, after the stats (CALL_STATS_SIZE).
const W_HASH = 608;       // u64, Call-ID signature
const W_NEXT = 616;       // u32, next slot + 1 in the hash chain
const W_EP_HEAD = 620;    // u32, newest endpoint + 1
const W_EP_COUNT = 624;
const W_FLAGS = 628;
const W_CALLER_TAG = 632; // u64, signature of the From tag of the message that entered the call
const W_MAPS = 640;       // MAP_SLOTS x (pt u32, clock u32, name 16 bytes)
const W_MAP_COUNT = 832;
const W_SIDE = 840;       // per side: address 16, port u32, RTCP port u32, version and tenant u32 (sdpVersion; 28 bytes)
const SIDE_SIZE = 28;
const MAP_SLOTS: u32 = 8;
const MAP_SIZE: u32 = 24;
const F_ANSWERED: u32 = 1;
const F_OFFERER_IS_CALLER: u32 = 2;
const PHASE_FREE: u8 = 0;
const PHASE_OPEN: u8 = 1;
const PHASE_CLOSED: u8 = 2;    // ended by BYE, stats handed on; endpoints kept CLOSING_US for late packets
const PHASE_MASK: u8 = 3;
const LAST_IN_DIR1: u8 = 4;    // with PHASE_OPEN: the call's last activity was direction 1's (DIR_LAST_US)
// RTP sent just before a BYE may arrive just after it (jitter): the call's endpoints
// stay this long so those packets are still the call's (and its recording's).
const CLOSING_US: i64 = 4_000_000;

// Working state in a direction block, from DIR_WORK.
const D_BASE = DIR_WORK;          // u32, extended first sequence of the current SSRC
const D_MAX = DIR_WORK + 4;       // u32, extended highest sequence
const D_PRIOR = DIR_WORK + 8;     // u32, expected of earlier SSRCs
const D_STARTED = DIR_WORK + 12;  // u32, 1 once a packet was counted
const D_SEEN = DIR_WORK + 16;     // u64, bit k: sequence D_MAX - k was received
const D_ARRIVAL = DIR_WORK + 24;  // f64, capture time of the previous packet, seconds
const D_PREV_TS = DIR_WORK + 32;  // u32, its RTP timestamp
const D_HAS_PREV = DIR_WORK + 36; // u32

// Endpoint entries: single (one address, port) or pair (offerer's and answerer's).
const E_ADDR = 0;       // 16 bytes
const E_ADDR2 = 16;     // 16 bytes, pair entries: the answerer's address
const E_PORT = 32;      // u32
const E_PORT2 = 36;     // u32
const E_CALL = 40;      // u32 slot
const E_KIND = 44;      // u32, K_* bits
const E_NEXT = 48;      // u32, next entry + 1 in the hash chain
const E_CALL_NEXT = 52; // u32, next entry + 1 of the same call (newest first)
const E_VERSION = 56;   // u32, 4 or 6, the tenant above (sdpVersion)
const E_PREV = 60;      // u32, previous entry + 1 in the hash chain, 0 for its first: unlinking is O(1) however
                        // many calls announce the same endpoint (an INVITE flood repeats one SDP: chains of thousands)
const EP_SIZE: u32 = 64;
const K_USED: u32 = 1;
const K_PAIR: u32 = 2;
const K_RTCP: u32 = 4;
const K_SIDE_1: u32 = 8;   // single entries: announced by side 1's SDP (else side 0's)

let callCap: u32 = 0;
let endpointCap: u32 = 0;
let idleUs: i64 = 0;
let calls: usize = 0;
let callBuckets: usize = 0;
let callMask: u32 = 0;
let endpoints: usize = 0;
let endpointBuckets: usize = 0;
let endpointMask: u32 = 0;
let portCounts: usize = 0;
// A bit per port with a count above zero: what every UDP packet checks, 8 KiB that stay
// in cache where the counts (256 KiB) would not.
let portBits: usize = 0;
// A byte per call slot (PHASE_*): what the sweep and every media packet read, apart from the
// slots (1 KiB each).
let phases: usize = 0;
// Freed slots on a stack, the last freed taken first, then slots never used (below callCap from
// freshCalls): a run touches as many slots as it holds at once, not the whole table (1 KiB a slot,
// 8 MiB at the default bounds). A slot may be taken again in the push that freed it: a media
// record names its call by the call's serial number (CALL_GEN, MED_GEN), and the host finds the
// Call-ID of a call that left in the push in the push's stats records. Which slot a call takes
// depends on the calls alone, not on how the frames were batched: the sweep walks slots in order,
// so the slot decides when a call is looked at.
let freeCalls: usize = 0;
let freeCallCount: u32 = 0;
let freshCalls: u32 = 0;
let callSerial: u32 = 0;
let freeEndpoints: usize = 0;
let freeEndpointCount: u32 = 0;
let hand: u32 = 0;
let sweepHand: u32 = 0;
let lastUs: i64 = 0;

let mediaOut: usize = 0;
let endsOut: usize = 0;
export let mediaCount: u32 = 0;
export let endsCount: u32 = 0;
export let sdpCall: u32 = NO_CALL;   // slot the last message's SDP went to

export function configureMedia(): bool {
  callCap = cfg(CFG_MEDIA_CALLS);
  endpointCap = max(cfg(CFG_MEDIA_ENDPOINTS), callCap > 0 ? 4 : 0);
  idleUs = <i64>cfg(CFG_MEDIA_IDLE) * 1000000;
  const records = callCap == 0 ? 1 : maxFrames;
  mediaOut = reserve(<u64>records * MED_SIZE);
  endsOut = reserve(<u64>(callCap == 0 ? 1 : ENDS_MAX) * CALL_STATS_SIZE);
  if (mediaOut == 0 || endsOut == 0) return false;
  setRegion(R_OUT_MEDIA, mediaOut);
  setRegion(R_OUT_MEDIA_ENDS, endsOut);
  if (callCap == 0) {
    setRegion(R_MEDIA_CALLS, endsOut);
    return true;
  }
  const callBucketCount = bucketsFor(callCap);
  const endpointBucketCount = bucketsFor(endpointCap);
  calls = reserveLines(<u64>callCap * CALL_SLOT_SIZE);
  callBuckets = reserve(<u64>callBucketCount * 4);
  endpoints = reserveLines(<u64>endpointCap * EP_SIZE);
  endpointBuckets = reserve(<u64>endpointBucketCount * 4);
  portCounts = reserve(65536 * 4);
  portBits = reserve(65536 / 8);
  phases = reserve(callCap);
  freeCalls = reserve(<u64>callCap * 4);
  freeEndpoints = reserve(<u64>endpointCap * 4);
  if (calls == 0 || callBuckets == 0 || endpoints == 0 || endpointBuckets == 0 || portCounts == 0
    || portBits == 0 || phases == 0 || freeCalls == 0 || freeEndpoints == 0) return false;
  callMask = callBucketCount - 1;
  endpointMask = endpointBucketCount - 1;
  // The tables are left as reserve() gives them, memory never used (zero) of an instance configured
  // once: clearing 10 MB here would cost a write and a page fault per page before the first packet.
  for (let i: u32 = 0; i < endpointCap; i++) store<u32>(freeEndpoints + (<usize>i << 2), endpointCap - 1 - i);
  freeEndpointCount = endpointCap;
  setRegion(R_MEDIA_CALLS, calls);
  return true;
}

// Slots and entries start on a cache line (64 bytes): a packet's look at one touches no more lines than it must.
function reserveLines(size: u64): usize {
  const at = reserve(size + 64);
  return at == 0 ? 0 : (at + 63) & ~63;
}

// A power of two, at least twice the entries: chains stay short.
function bucketsFor(entries: u32): u32 {
  let n: u32 = 16;
  while (n < entries * 2 && n < 0x40000000) n <<= 1;
  return n;
}

export function beginMedia(): void {
  mediaCount = 0;
  endsCount = 0;
}

// push() ends a batch early when this many stats records could not fit.
export function mediaEndsFull(): bool {
  return endsCount >= ENDS_STOP;
}

@inline function nowUs(): i64 {
  return tsSec * 1000000 + <i64>(tsNsec / 1000);
}

@inline function slotAt(slot: u32): usize {
  return calls + <usize>slot * CALL_SLOT_SIZE;
}

@inline function entryAt(e: u32): usize {
  return endpoints + <usize>e * EP_SIZE;
}

// ---- signalling: called once per SIP message, after tokenize() ----

export function readMessageMedia(): void {
  sdpCall = NO_CALL;
  // The SDP's lines are read for this table alone (and for SipMessage.sdp, which the recorder
  // reads, with the table on): without it, 4% of a plain replay's instructions went to them.
  if (callCap == 0) {
    noSdp();
    return;
  }
  readSdp();
  lastUs = nowUs();
  const cseqMethod = methodIs(SPAN_CSEQ_METHOD);
  if (isRequest && methodIs(SPAN_METHOD) == M_BYE) {
    endCall(MEDIA_END_BYE);
    return;
  }
  const finalToInvite = !isRequest && cseqMethod == M_INVITE && status >= 200;
  if (finalToInvite && status >= 300) {
    endUnanswered();
    return;
  }
  // A 2xx with SDP answers the call offerOrAnswer() found: one look-up for both.
  if (sdpFlags != 0) {
    const slot = offerOrAnswer();
    if (finalToInvite) markAnswered(slot);
  } else if (finalToInvite) {
    markAnswered(findCall());
  }
}

const M_OTHER = 0;
const M_INVITE = 1;
const M_BYE = 2;

function methodIs(span: i32): i32 {
  const len = getSpanLen(span);
  const p = msgBase + getSpanOff(span);
  if (len == 6 && load<u32>(p) == 0x49564e49 && load<u16>(p + 4) == 0x4554) return M_INVITE; // "INVITE"
  if (len == 3 && load<u16>(p) == 0x5942 && load<u8>(p + 2) == 0x45) return M_BYE;            // "BYE"
  return M_OTHER;
}

// A 2xx to an INVITE: from now on a failed re-INVITE does not end the call's media.
function markAnswered(slot: u32): void {
  if (slot == NO_CALL) return;
  const c = slotAt(slot);
  store<u32>(c + W_FLAGS, load<u32>(c + W_FLAGS) | F_ANSWERED);
}

// A final answer >= 300 to an INVITE before any 2xx: the call failed (or was cancelled).
function endUnanswered(): void {
  const slot = findCall();
  if (slot != NO_CALL && (load<u32>(slotAt(slot) + W_FLAGS) & F_ANSWERED) == 0) release(slot, MEDIA_END_FAILED);
}

// A BYE: the stats go to the host now (the call-end event is made from this BYE), the
// Call-ID is free for a new call, the endpoints stay CLOSING_US for late packets.
function endCall(reason: u32): void {
  const slot = findCall();
  if (slot == NO_CALL) return;
  const c = slotAt(slot);
  count(C_MEDIA_ENDED);
  store<u32>(c + CALL_END_REASON, reason);
  handOn(slot, STATS_LEAVING);
  unlinkCall(slot);
  setPhase(slot, PHASE_CLOSED);
  store<i64>(c + CALL_LAST_US, lastUs);
}

@inline function phaseOf(slot: u32): u8 {
  return load<u8>(phases + <usize>slot) & PHASE_MASK;
}

@inline function setPhase(slot: u32, phase: u8): void {
  store<u8>(phases + <usize>slot, phase);
}

// The capture time of the call's last SIP message with SDP or media packet: CALL_LAST_US, or
// direction 1's DIR_LAST_US when a direction-1 packet was the last (the phase's LAST_IN_DIR1).
function lastActive(slot: u32): i64 {
  const c = slotAt(slot);
  if ((load<u8>(phases + <usize>slot) & LAST_IN_DIR1) != 0) return load<i64>(c + CALL_DIR + DIR_SIZE + DIR_LAST_US);
  return load<i64>(c + CALL_LAST_US);
}

// Signalling or a direction-0 packet of an open call: its time in the slot's first line.
@inline function touchOpen(slot: u32): void {
  store<i64>(slotAt(slot) + CALL_LAST_US, lastUs);
  setPhase(slot, PHASE_OPEN);
}

// The call's slot (NO_CALL when it is not held).
function offerOrAnswer(): u32 {
  if ((sdpFlags & (SDP_F_NO_ADDR | SDP_F_HOLD)) != 0 || sdpPort == 0) return touchCall();
  let slot = findCall();
  if (slot == NO_CALL) slot = enterCall();
  if (slot == NO_CALL) return NO_CALL;
  sdpCall = slot;
  const c = slotAt(slot);
  touchOpen(slot);
  const side = sideOf(c);
  keepMaps(c);
  rememberSide(c, side);
  addSingle(slot, sdpPort, 0, side);
  if (sdpRtcpPort != 0 && sdpRtcpPort != sdpPort) addSingle(slot, sdpRtcpPort, K_RTCP, side);
  addPairs(slot);
  sweep(SWEEP_PER_SDP);
  return slot;
}

function touchCall(): u32 {
  const slot = findCall();
  if (slot != NO_CALL) touchOpen(slot);
  return slot;
}

function callIdHash(): u64 {
  return signature(msgBase + getSpanOff(SPAN_CALL_ID), getSpanLen(SPAN_CALL_ID));
}

function findCall(): u32 {
  const len = getSpanLen(SPAN_CALL_ID);
  if (len == 0 || len > <u32>CALL_ID_MAX) return NO_CALL;
  const hash = callIdHash();
  let s = load<u32>(callBuckets + (<usize>(<u32>hash & callMask) << 2));
  while (s != 0) {
    const c = slotAt(s - 1);
    if (load<u64>(c + W_HASH) == hash && load<u32>(c + CALL_ID_LEN) == len
      && memory.compare(c + CALL_ID, msgBase + getSpanOff(SPAN_CALL_ID), len) == 0) return s - 1;
    s = load<u32>(c + W_NEXT);
  }
  return NO_CALL;
}

function enterCall(): u32 {
  const len = getSpanLen(SPAN_CALL_ID);
  if (len == 0) return NO_CALL;
  if (len > <u32>CALL_ID_MAX) {
    count(C_MEDIA_ID_TOO_LONG);
    return NO_CALL;
  }
  const slot = takeSlot();
  if (slot == NO_CALL) return NO_CALL;
  const c = slotAt(slot);
  memory.fill(c, 0, CALL_SLOT_SIZE);
  store<u32>(c + CALL_GEN, ++callSerial);
  setPhase(slot, PHASE_OPEN);
  store<u32>(c + CALL_ID_LEN, len);
  memory.copy(c + CALL_ID, msgBase + getSpanOff(SPAN_CALL_ID), len);
  store<i64>(c + CALL_FIRST_US, lastUs);
  const hash = callIdHash();
  store<u64>(c + W_HASH, hash);
  store<u64>(c + W_CALLER_TAG, fromTagHash());
  // The side that makes the first offer is direction 0's sender.
  store<u32>(c + W_FLAGS, isRequest ? F_OFFERER_IS_CALLER : 0);
  for (let d = 0; d < 2; d++) store<u32>(c + CALL_DIR + <usize>d * DIR_SIZE + DIR_PT, 0xffffffff);
  const bucket = callBuckets + (<usize>(<u32>hash & callMask) << 2);
  store<u32>(c + W_NEXT, load<u32>(bucket));
  store<u32>(bucket, slot + 1);
  count(C_MEDIA_CALLS);
  return slot;
}

// A freed slot, else one never used, else the evicted one's; NO_CALL if none.
function takeSlot(): u32 {
  if (freeCallCount == 0 && freshCalls < callCap) return freshCalls++;
  if (freeCallCount == 0) evictOne(NO_CALL);
  if (freeCallCount == 0) return NO_CALL;
  return load<u32>(freeCalls + (<usize>(--freeCallCount) << 2));
}

function fromTagHash(): u64 {
  return signature(msgBase + getSpanOff(SPAN_FROM_TAG), getSpanLen(SPAN_FROM_TAG));
}

// Requests from the caller carry its From tag; responses to them come from the callee.
function sideOf(c: usize): u32 {
  const callerSent = isRequest == (fromTagHash() == load<u64>(c + W_CALLER_TAG));
  const offererIsCaller = (load<u32>(c + W_FLAGS) & F_OFFERER_IS_CALLER) != 0;
  return callerSent == offererIsCaller ? 0 : 1;
}

// The SDP's a=rtpmap lines, for the clock rate and name of dynamic payload types.
function keepMaps(c: usize): void {
  for (let k: u32 = 0; k < sdpMapCount; k++) {
    const m = sdpMaps + <usize>k * MAP_ENTRY;
    const pt = load<u32>(m);
    let n = load<u32>(c + W_MAP_COUNT);
    let at: u32 = 0;
    while (at < n && load<u32>(c + W_MAPS + <usize>at * MAP_SIZE) != pt) at++;
    if (at == n) {
      if (n >= MAP_SLOTS) continue;
      store<u32>(c + W_MAP_COUNT, ++n);
    }
    const e = c + W_MAPS + <usize>at * MAP_SIZE;
    store<u32>(e, pt);
    store<u32>(e, load<u32>(m, 4), 4);
    const nameLen = min<u32>(load<u32>(m, 12), 15);
    memory.fill(e + 8, 0, 16);
    memory.copy(e + 8, msgBase + load<u32>(m, 8), nameLen);
  }
}

function rememberSide(c: usize, side: u32): void {
  const s = c + W_SIDE + <usize>side * SIDE_SIZE;
  store<u64>(s, load<u64>(sdpAddr));
  store<u64>(s, load<u64>(sdpAddr, 8), 8);
  store<u32>(s, sdpPort, 16);
  store<u32>(s, sdpRtcpPort, 20);
  store<u32>(s, sdpVersion(), 24);
}

// An endpoint's key besides its address and port: the IP version (4 or 6) of the SDP's address,
// and above it the tenant (tunnelTenant) of the message that carried it: VXLAN tenants reuse
// private addresses, so the same endpoint behind two VNIs is two calls' media.
function sdpVersion(): u32 {
  return ((sdpFlags & SDP_F_IPV6) != 0 ? 6 : 4) | tunnelTenant() << 8;
}

function addSingle(slot: u32, port: u32, kind: u32, side: u32): void {
  const version = sdpVersion();
  let e = load<u32>(slotAt(slot) + W_EP_HEAD);
  while (e != 0) {
    const p = entryAt(e - 1);
    if ((load<u32>(p + E_KIND) & K_PAIR) == 0 && load<u32>(p + E_PORT) == port && load<u32>(p + E_VERSION) == version
      && load<u64>(p + E_ADDR) == load<u64>(sdpAddr) && load<u64>(p + E_ADDR + 8) == load<u64>(sdpAddr, 8)) {
      setSide(p, side);
      return;
    }
    e = load<u32>(p + E_CALL_NEXT);
  }
  const at = newEntry(slot);
  if (at == NO_CALL) return;
  const p = entryAt(at);
  memory.copy(p + E_ADDR, sdpAddr, 16);
  store<u32>(p + E_PORT, port);
  store<u32>(p + E_KIND, K_USED | kind);
  store<u32>(p + E_VERSION, version);
  setSide(p, side);
  link(at, singleHash(p + E_ADDR, port, version));
  const pc = portCounts + (<usize>port << 2);
  store<u32>(pc, load<u32>(pc) + 1);
  const bits = portBits + (<usize>port >> 3);
  store<u8>(bits, <u32>load<u8>(bits) | (1 << (port & 7)));
}

// When both sides' SDP is known: the (offerer, answerer) pair for RTP and for RTCP.
function addPairs(slot: u32): void {
  const c = slotAt(slot);
  const a = c + W_SIDE, b = c + W_SIDE + SIDE_SIZE;
  if (load<u32>(a, 16) == 0 || load<u32>(b, 16) == 0 || load<u32>(a, 24) != load<u32>(b, 24)) return;
  addPair(slot, a, b, 16, 0);
  if (load<u32>(a, 20) != 0 && load<u32>(b, 20) != 0) addPair(slot, a, b, 20, K_RTCP);
}

function addPair(slot: u32, a: usize, b: usize, portAt: usize, kind: u32): void {
  const pa = load<u32>(a + portAt), pb = load<u32>(b + portAt), version = load<u32>(a, 24);
  const hash = pairHash(a, pa, b, pb, version);
  const found = findPair(hash, a, pa, b, pb, version);
  if (found != NO_CALL && load<u32>(entryAt(found) + E_CALL) == slot) return;
  const at = newEntry(slot);
  if (at == NO_CALL) return;
  const p = entryAt(at);
  memory.copy(p + E_ADDR, a, 16);
  memory.copy(p + E_ADDR2, b, 16);
  store<u32>(p + E_PORT, pa);
  store<u32>(p + E_PORT2, pb);
  store<u32>(p + E_KIND, K_USED | K_PAIR | kind);
  store<u32>(p + E_VERSION, version);
  link(at, hash);
}

// An entry for `slot`: a free one, the call's oldest past ENDPOINTS_PER_CALL, or another call's (evicted).
function newEntry(slot: u32): u32 {
  const c = slotAt(slot);
  if (load<u32>(c + W_EP_COUNT) >= ENDPOINTS_PER_CALL) dropOldest(slot);
  if (freeEndpointCount == 0) evictOne(slot);
  if (freeEndpointCount == 0) return NO_CALL;
  const at = load<u32>(freeEndpoints + (<usize>(--freeEndpointCount) << 2));
  const p = entryAt(at);
  memory.fill(p, 0, EP_SIZE);
  store<u32>(p + E_CALL, slot);
  store<u32>(p + E_CALL_NEXT, load<u32>(c + W_EP_HEAD));
  store<u32>(c + W_EP_HEAD, at + 1);
  store<u32>(c + W_EP_COUNT, load<u32>(c + W_EP_COUNT) + 1);
  return at;
}

function setSide(p: usize, side: u32): void {
  const kind = load<u32>(p + E_KIND) & ~K_SIDE_1;
  store<u32>(p + E_KIND, side == 1 ? kind | K_SIDE_1 : kind);
}

@inline function entrySide(p: usize): u32 {
  return (load<u32>(p + E_KIND) & K_SIDE_1) != 0 ? 1 : 0;
}

// At the head of its bucket's chain: the newest entry of an endpoint is found first.
function link(at: u32, hash: u32): void {
  const bucket = endpointBuckets + (<usize>(hash & endpointMask) << 2);
  const head = load<u32>(bucket);
  store<u32>(entryAt(at) + E_NEXT, head);
  store<u32>(entryAt(at) + E_PREV, 0);
  if (head != 0) store<u32>(entryAt(head - 1) + E_PREV, at + 1);
  store<u32>(bucket, at + 1);
}

function dropOldest(slot: u32): void {
  const c = slotAt(slot);
  let prev: u32 = 0;
  let e = load<u32>(c + W_EP_HEAD);
  if (e == 0) return;
  while (load<u32>(entryAt(e - 1) + E_CALL_NEXT) != 0) {
    prev = e;
    e = load<u32>(entryAt(e - 1) + E_CALL_NEXT);
  }
  if (prev == 0) store<u32>(c + W_EP_HEAD, 0);
  else store<u32>(entryAt(prev - 1) + E_CALL_NEXT, 0);
  freeEntry(e - 1);
  store<u32>(c + W_EP_COUNT, load<u32>(c + W_EP_COUNT) - 1);
}

// Unlinks an entry from its hash chain, lowers its port's count, returns it to the free list.
function freeEntry(at: u32): void {
  const p = entryAt(at);
  const kind = load<u32>(p + E_KIND);
  const prev = load<u32>(p + E_PREV), next = load<u32>(p + E_NEXT);
  if (next != 0) store<u32>(entryAt(next - 1) + E_PREV, prev);
  if (prev != 0) {
    store<u32>(entryAt(prev - 1) + E_NEXT, next);
  } else {
    const hash = (kind & K_PAIR) != 0
      ? pairHash(p + E_ADDR, load<u32>(p + E_PORT), p + E_ADDR2, load<u32>(p + E_PORT2), load<u32>(p + E_VERSION))
      : singleHash(p + E_ADDR, load<u32>(p + E_PORT), load<u32>(p + E_VERSION));
    store<u32>(endpointBuckets + (<usize>(hash & endpointMask) << 2), next);
  }
  if ((kind & K_PAIR) == 0) {
    const port = load<u32>(p + E_PORT);
    const pc = portCounts + (<usize>port << 2);
    store<u32>(pc, load<u32>(pc) - 1);
    const bits = portBits + (<usize>port >> 3);
    if (load<u32>(pc) == 0) store<u8>(bits, <u32>load<u8>(bits) & ~(1 << (port & 7)));
  }
  store<u32>(p + E_KIND, 0);
  store<u32>(freeEndpoints + (<usize>(freeEndpointCount++) << 2), at);
}

// ---- leaving ----

// The least recently active of the next EVICT_LOOK calls in use (never `keep`).
function evictOne(keep: u32): void {
  let victim = NO_CALL;
  let oldest: i64 = i64.MAX_VALUE;
  for (let k: u32 = 0; k < callCap && k < EVICT_LOOK * 4; k++) {
    const s = hand;
    hand = hand + 1 == callCap ? 0 : hand + 1;
    if (phaseOf(s) == PHASE_FREE || s == keep) continue;
    const last = lastActive(s);
    if (last < oldest) {
      oldest = last;
      victim = s;
    }
    if (k >= EVICT_LOOK && victim != NO_CALL) break;
  }
  if (victim == NO_CALL) return;
  if (phaseOf(victim) == PHASE_OPEN) count(C_MEDIA_EVICTED);
  release(victim, MEDIA_END_EVICTED);
}

// The hand goes round the slots ever used (below freshCalls), not the whole table: a call is
// looked at as often as the table's use, not its size, asks.
function sweep(n: u32): void {
  if (lastUs == 0) return;
  for (let k: u32 = 0; k < n && k < freshCalls; k++) {
    const s = sweepHand;
    sweepHand = sweepHand + 1 >= freshCalls ? 0 : sweepHand + 1;
    const phase = phaseOf(s);
    if (phase == PHASE_FREE) continue;
    if (phase == PHASE_CLOSED) {
      if (lastActive(s) + CLOSING_US < lastUs) release(s, MEDIA_END_BYE);
    } else if (lastActive(s) + idleUs < lastUs) {
      count(C_MEDIA_IDLE);
      release(s, MEDIA_END_IDLE);
    }
  }
}

// Writes the call's stats record (after a BYE: its final figures, late RTP included), frees its
// endpoints and its slot.
function release(slot: u32, reason: u32): void {
  const c = slotAt(slot);
  if (phaseOf(slot) == PHASE_CLOSED) {
    handOn(slot, STATS_AFTER_BYE);
  } else {
    if (reason == MEDIA_END_FAILED) count(C_MEDIA_ENDED);
    store<u32>(c + CALL_END_REASON, reason);
    handOn(slot, STATS_LEAVING);
    unlinkCall(slot);
  }
  let e = load<u32>(c + W_EP_HEAD);
  while (e != 0) {
    const next = load<u32>(entryAt(e - 1) + E_CALL_NEXT);
    freeEntry(e - 1);
    e = next;
  }
  setPhase(slot, PHASE_FREE);
  store<u32>(c + W_EP_HEAD, 0);
  store<u32>(c + W_EP_COUNT, 0);
  store<u32>(freeCalls + (<usize>(freeCallCount++) << 2), slot);
}

function handOn(slot: u32, kind: u32): void {
  if (endsCount >= ENDS_MAX) {
    count(C_MEDIA_ENDS_LOST);
    return;
  }
  const out = endsOut + <usize>(endsCount++) * CALL_STATS_SIZE;
  memory.copy(out, slotAt(slot), CALL_STATS_SIZE);
  store<u32>(out + CALL_STATE, kind);
  store<i64>(out + CALL_LAST_US, lastActive(slot));
  countLoss(out + CALL_DIR);
  countLoss(out + CALL_DIR + DIR_SIZE);
}

// Out of the Call-ID hash chain: findCall() no longer finds it.
function unlinkCall(slot: u32): void {
  const c = slotAt(slot);
  let link = callBuckets + (<usize>(<u32>load<u64>(c + W_HASH) & callMask) << 2);
  while (load<u32>(link) != 0 && load<u32>(link) != slot + 1) link = slotAt(load<u32>(link) - 1) + W_NEXT;
  if (load<u32>(link) == slot + 1) store<u32>(link, load<u32>(c + W_NEXT));
}

// At the end of the input: every call still held leaves (MEDIA_END_CAPTURE), at
// most ENDS_MAX per call; the host calls again until none is left.
export function releaseAll(): u32 {
  endsCount = 0;
  mediaCount = 0;
  for (let s: u32 = 0; s < callCap && endsCount < ENDS_MAX; s++) {
    if (phaseOf(s) != PHASE_FREE) release(s, MEDIA_END_CAPTURE);
  }
  return endsCount;
}

// ---- hashing endpoints ----

@inline function mixWord(h: u32, w: u32): u32 {
  return rotl<u32>(h ^ (w * 0x9e3779b1), 13) * 0x85ebca77;
}

// An IPv4 address is its first word (the rest is zero): one multiply fewer per word skipped.
function singleHash(addr: usize, port: u32, version: u32): u32 {
  let h = mixWord(mixWord(version, port), load<u32>(addr));
  if ((version & 0xff) == 6) {
    h = mixWord(h, load<u32>(addr + 4));
    h = mixWord(h, load<u32>(addr + 8));
    h = mixWord(h, load<u32>(addr + 12));
  }
  return h ^ (h >> 16);
}

// The same either way round: both directions of a stream are in one bucket, found in one walk
// (findStream).
@inline function pairOf(ha: u32, hb: u32): u32 {
  return ha + hb + 0x27d4eb2d;
}

function pairHash(a: usize, pa: u32, b: usize, pb: u32, version: u32): u32 {
  return pairOf(singleHash(a, pa, version), singleHash(b, pb, version));
}

function sameAddr(p: usize, addr: usize): bool {
  return load<u64>(p) == load<u64>(addr) && load<u64>(p + 8) == load<u64>(addr + 8);
}

function findPair(hash: u32, a: usize, pa: u32, b: usize, pb: u32, version: u32): u32 {
  let e = load<u32>(endpointBuckets + (<usize>(hash & endpointMask) << 2));
  while (e != 0) {
    const p = entryAt(e - 1);
    if ((load<u32>(p + E_KIND) & K_PAIR) != 0 && load<u32>(p + E_PORT) == pa && load<u32>(p + E_PORT2) == pb
      && load<u32>(p + E_VERSION) == version && sameAddr(p + E_ADDR, a) && sameAddr(p + E_ADDR2, b)) return e - 1;
    e = load<u32>(p + E_NEXT);
  }
  return NO_CALL;
}

// The pair entry of the packet's stream, in one walk of the bucket its two directions share:
// (entry << 1) | direction, or NO_CALL. A match sent from the offerer's side (direction 0) wins
// wherever it is in the chain, as when each direction was looked up in turn.
// Both directions are tested without a branch on which one it is: as calls interleave, that
// changes from packet to packet and would be mispredicted about every other packet. The usual
// chain, one entry, then answers with a select.
function findStream(hash: u32, version: u32): u32 {
  let reverse = NO_CALL;
  let e = load<u32>(endpointBuckets + (<usize>(hash & endpointMask) << 2));
  while (e != 0) {
    const p = entryAt(e - 1);
    const next = load<u32>(p + E_NEXT);
    if ((load<u32>(p + E_KIND) & K_PAIR) != 0 && load<u32>(p + E_VERSION) == version) {
      const pa = load<u32>(p + E_PORT), pb = load<u32>(p + E_PORT2);
      const forward = <u32>(pa == srcPort) & <u32>(pb == dstPort) & sameAddrBit(p + E_ADDR, srcAddr) & sameAddrBit(p + E_ADDR2, dstAddr);
      const backward = <u32>(pa == dstPort) & <u32>(pb == srcPort) & sameAddrBit(p + E_ADDR, dstAddr) & sameAddrBit(p + E_ADDR2, srcAddr);
      const at = (e - 1) << 1;
      if ((forward | backward) != 0) {
        if (next == 0) return select<u32>(at, select<u32>(reverse, at | 1, reverse != NO_CALL), forward != 0);
        if (forward != 0) return at;
        if (reverse == NO_CALL) reverse = at | 1;
      }
    }
    e = next;
  }
  return reverse;
}

// sameAddr as 1 or 0, both halves loaded: no branch between them.
@inline function sameAddrBit(p: usize, addr: usize): u32 {
  return <u32>(load<u64>(p) == load<u64>(addr)) & <u32>(load<u64>(p + 8) == load<u64>(addr + 8));
}

function findSingle(hash: u32, addr: usize, port: u32, version: u32): u32 {
  let e = load<u32>(endpointBuckets + (<usize>(hash & endpointMask) << 2));
  while (e != 0) {
    const p = entryAt(e - 1);
    if ((load<u32>(p + E_KIND) & K_PAIR) == 0 && load<u32>(p + E_PORT) == port
      && load<u32>(p + E_VERSION) == version && sameAddr(p + E_ADDR, addr)) return e - 1;
    e = load<u32>(p + E_NEXT);
  }
  return NO_CALL;
}

// ---- media packets ----

let matchSlot: u32 = 0;
let matchDirection: u32 = 0;
let matchRtcp = false;

// Whether the UDP payload [start, end) of the packet being decoded is media of a
// known call; if so it is counted (and recorded) here and nothing else reads it.
export function mediaPacket(base: usize, start: u32, end: u32): bool {
  if (callCap == 0) return false;
  if (!portKnown(dstPort) && !portKnown(srcPort)) return false;
  if (end - start < 4) return false;
  const first = <u32>load<u8>(base + start);
  if (first < 0x80 || first > 0xbf) return false; // RFC 7983 §7: 128-191 is RTP/RTCP; STUN, DTLS are not read
  if (!matchEndpoints()) return false;
  const c = slotAt(matchSlot);
  lastUs = nowUs();
  if (phaseOf(matchSlot) == PHASE_CLOSED) {
    // the grace runs from the BYE: late packets do not extend it
    if (load<i64>(c + CALL_LAST_US) + CLOSING_US < lastUs) {
      release(matchSlot, MEDIA_END_BYE);
      return false;
    }
  } else {
    // touchOpen for direction 0, direction 1's own time and mark for the other, chosen by select:
    // the direction changes from packet to packet (no branch to mispredict).
    const toward1 = matchDirection != 0;
    store<i64>(select<usize>(c + CALL_DIR + DIR_SIZE + DIR_LAST_US, c + CALL_LAST_US, toward1), lastUs);
    setPhase(matchSlot, PHASE_OPEN | select<u8>(LAST_IN_DIR1, 0, toward1));
  }
  if (++packetsSinceSweep == SWEEP_EVERY) {
    packetsSinceSweep = 0;
    sweep(1);
  }
  const second = <u32>load<u8>(base + start + 1);
  if (matchRtcp || (second >= 192 && second <= 223)) rtcp(c, base + start, end - start);
  else rtp(c, base + start, end - start);
  return true;
}

@inline function portKnown(port: u32): bool {
  return (<u32>load<u8>(portBits + (<usize>port >> 3)) & (1 << (port & 7))) != 0;
}

// Each endpoint hashed once; the pair hash is made from the two.
function matchEndpoints(): bool {
  const version = ipVersion | tunnelTenant() << 8;
  const hs = singleHash(srcAddr, srcPort, version), hd = singleHash(dstAddr, dstPort, version);
  const stream = findStream(pairOf(hs, hd), version);
  if (stream != NO_CALL) return matched(stream >> 1, stream & 1);
  // One endpoint known: sent to it (from the other side) or from it (symmetric RTP).
  let e = findSingle(hd, dstAddr, dstPort, version);
  if (e != NO_CALL) return matched(e, 1 - entrySide(entryAt(e)));
  e = findSingle(hs, srcAddr, srcPort, version);
  if (e != NO_CALL) return matched(e, entrySide(entryAt(e)));
  return false;
}

function matched(e: u32, direction: u32): bool {
  const p = entryAt(e);
  matchSlot = load<u32>(p + E_CALL);
  matchDirection = direction;
  matchRtcp = (load<u32>(p + E_KIND) & K_RTCP) != 0;
  return true;
}

// RFC 3550 §5.1: the fixed header, CSRCs, an extension, padding; all inside the packet.
function rtp(c: usize, p: usize, len: u32): void {
  if (len < 12) return malformed();
  const b0 = <u32>load<u8>(p);
  let headerLen: u32 = 12 + (b0 & 15) * 4;
  if (headerLen > len) return malformed();
  if ((b0 & 0x10) != 0) {
    if (headerLen + 4 > len) return malformed();
    headerLen += 4 + be16(p + headerLen + 2) * 4;
    if (headerLen > len) return malformed();
  }
  let payloadLen = len - headerLen;
  if ((b0 & 0x20) != 0) {
    const padding = <u32>load<u8>(p + len - 1);
    if (padding == 0 || padding > payloadLen) return malformed();
    payloadLen -= padding;
  }
  count(C_RTP);
  const b1 = <u32>load<u8>(p + 1);
  const pt = b1 & 0x7f, seq = be16(p + 2), ts = be32(p + 4), ssrc = be32(p + 8);
  const d = c + CALL_DIR + <usize>matchDirection * DIR_SIZE;
  sequence(d, ssrc, seq);
  codec(c, d, pt);
  jitter(d, ts);
  if ((flags & CFG_FLAG_MEDIA_PACKETS) != 0) {
    writeRecord(matchDirection | ((b1 & 0x80) != 0 ? MED_F_MARKER : 0), ssrc, seq, ts, pt, p + headerLen, payloadLen);
  }
}

function malformed(): void {
  count(C_MEDIA_MALFORMED);
}

// RFC 3550 A.1 and A.3, with duplicates told from reordering by a window of
// SEEN_WINDOW sequence numbers below the highest.
function sequence(d: usize, ssrc: u32, seq: u32): void {
  store<u32>(d + DIR_PACKETS, load<u32>(d + DIR_PACKETS) + 1);
  if (load<u32>(d + D_STARTED) == 0 || load<u32>(d + DIR_SSRC) != ssrc) {
    newSource(d, ssrc, seq);
  } else {
    const top = load<u32>(d + D_MAX);
    const delta = (seq - top) & 0xffff;
    const seen = load<u64>(d + D_SEEN);
    if (delta == 0) {
      store<u32>(d + DIR_DUPLICATES, load<u32>(d + DIR_DUPLICATES) + 1);
    } else if (delta < 0x8000) {
      store<u32>(d + D_MAX, top + delta);
      store<u64>(d + D_SEEN, (delta >= SEEN_WINDOW ? 0 : seen << <u64>delta) | 1);
    } else {
      const back: u32 = 0x10000 - delta;
      const bit: u64 = back < SEEN_WINDOW ? <u64>1 << <u64>back : 0;
      if (bit != 0 && (seen & bit) != 0) {
        store<u32>(d + DIR_DUPLICATES, load<u32>(d + DIR_DUPLICATES) + 1);
      } else {
        store<u64>(d + D_SEEN, seen | bit);
        // One older than the first counts as received, not expected (A.1 keeps base_seq; tshark too).
        store<u32>(d + DIR_OUT_OF_ORDER, load<u32>(d + DIR_OUT_OF_ORDER) + 1);
      }
    }
  }
}

// Expected and lost (RFC 3550 A.3) follow from the sequence state: worked out once, into a stats
// record (the only place they are read), not after every packet.
function countLoss(d: usize): void {
  if (load<u32>(d + D_STARTED) == 0) return;
  const expected = load<u32>(d + D_PRIOR) + load<u32>(d + D_MAX) - load<u32>(d + D_BASE) + 1;
  store<u32>(d + DIR_EXPECTED, expected);
  store<i32>(d + DIR_LOST, <i32>expected - <i32>load<u32>(d + DIR_PACKETS));
}

// A new SSRC: earlier sources' expected kept, the sequence starts again (RFC 3550 §8.2).
// Extended numbers start at 65536 so a packet from just before the first stays positive.
function newSource(d: usize, ssrc: u32, seq: u32): void {
  if (load<u32>(d + D_STARTED) != 0) {
    store<u32>(d + DIR_SSRC_CHANGES, load<u32>(d + DIR_SSRC_CHANGES) + 1);
    store<u32>(d + D_PRIOR, load<u32>(d + D_PRIOR) + load<u32>(d + D_MAX) - load<u32>(d + D_BASE) + 1);
    store<u32>(d + D_HAS_PREV, 0);
    store<f64>(d + DIR_JITTER, 0); // jitter is per source (RFC 3550 §6.4.1); the maximum spans them
  }
  store<u32>(d + D_STARTED, 1);
  store<u32>(d + DIR_SSRC, ssrc);
  store<u32>(d + D_BASE, 0x10000 + seq);
  store<u32>(d + D_MAX, 0x10000 + seq);
  store<u64>(d + D_SEEN, 1);
}

// The stream's codec: its first payload type, then any other but comfort noise (13) and telephone-event.
function codec(c: usize, d: usize, pt: u32): void {
  const current = load<u32>(d + DIR_PT);
  if (current == pt) return;
  const map = mapOf(c, pt);
  if (current != 0xffffffff && (pt == 13 || (map != 0 && isTelephoneEvent(map)))) return;
  store<u32>(d + DIR_PT, pt);
  const clock = map != 0 ? load<u32>(map, 4) : staticClock(pt);
  store<u32>(d + DIR_CLOCK, clock != 0 ? clock : 8000);
  memory.fill(d + DIR_CODEC, 0, 16);
  if (map != 0) memory.copy(d + DIR_CODEC, map + 8, 16);
}

function mapOf(c: usize, pt: u32): usize {
  const n = load<u32>(c + W_MAP_COUNT);
  for (let k: u32 = 0; k < n; k++) {
    const e = c + W_MAPS + <usize>k * MAP_SIZE;
    if (load<u32>(e) == pt) return e;
  }
  return 0;
}

function isTelephoneEvent(map: usize): bool {
  // "telephone-event" (RFC 4733), compared on its first 8 bytes, case-insensitively
  return (load<u64>(map + 8) | 0x2020202020202020) == 0x6e6f6870656c6574;
}

// At 8000 Hz (G.711, G.729) `ticks * 1000 / clock` is `ticks * 0.125`, to the bit: `ticks * 1000` is
// exact (below 2^53) and so is its quotient by 8000, a multiple of 1/8. A multiply where a division
// (about 14 cycles that the jitter's chain waits on) was.
@inline function ticksToMs(ticks: f64, clock: u32): f64 {
  return clock == 8000 ? ticks * 0.125 : ticks * 1000 / <f64>clock;
}

// RFC 3550 A.8 in milliseconds, on capture time, with the codec's clock rate.
function jitter(d: usize, ts: u32): void {
  const arrival = <f64>tsSec + <f64>tsNsec / 1e9;
  if (load<u32>(d + D_HAS_PREV) != 0) {
    const transit = (arrival - load<f64>(d + D_ARRIVAL)) * 1000
      - ticksToMs(<f64>(<i32>(ts - load<u32>(d + D_PREV_TS))), load<u32>(d + DIR_CLOCK));
    let j = load<f64>(d + DIR_JITTER);
    j += (Math.abs(transit) - j) / 16;
    store<f64>(d + DIR_JITTER, j);
    if (j > load<f64>(d + DIR_MAX_JITTER)) store<f64>(d + DIR_MAX_JITTER, j);
  }
  store<f64>(d + D_ARRIVAL, arrival);
  store<u32>(d + D_PREV_TS, ts);
  store<u32>(d + D_HAS_PREV, 1);
}

// RFC 3550 §6.4: a compound packet of SR, RR and others, each with its length in
// 32-bit words less one; report blocks are about the stream the sender receives.
function rtcp(c: usize, p: usize, len: u32): void {
  let at: u32 = 0;
  let firstType: u32 = 0;
  while (at + 4 <= len) {
    const b0 = <u32>load<u8>(p + at);
    const type = <u32>load<u8>(p + at + 1);
    const size = (be16(p + at + 2) + 1) * 4;
    if ((b0 >> 6) != 2 || at + size > len) return malformed();
    if (firstType == 0) firstType = type;
    if (type == 200 && size >= 28) reportBlocks(c, p + at + 28, size - 28, b0 & 31);
    else if (type == 201 && size >= 8) reportBlocks(c, p + at + 8, size - 8, b0 & 31);
    at += size;
  }
  if (firstType == 0) return malformed();
  count(C_RTCP);
  const d = c + CALL_DIR + <usize>matchDirection * DIR_SIZE;
  store<u32>(d + DIR_RTCP_PACKETS, load<u32>(d + DIR_RTCP_PACKETS) + 1);
  if ((flags & CFG_FLAG_MEDIA_PACKETS) != 0) {
    writeRecord(matchDirection | MED_F_RTCP, len >= 8 ? be32(p + 4) : 0, 0, 0, firstType, p, len);
  }
}

function reportBlocks(c: usize, p: usize, room: u32, blocks: u32): void {
  const d = c + CALL_DIR + <usize>(1 - matchDirection) * DIR_SIZE;
  for (let k: u32 = 0; k < blocks && (k + 1) * 24 <= room; k++) {
    const b = p + <usize>k * 24;
    store<u32>(d + DIR_RTCP_REPORTS, load<u32>(d + DIR_RTCP_REPORTS) + 1);
    store<u32>(d + DIR_RTCP_FRACTION, <u32>load<u8>(b + 4));
    store<i32>(d + DIR_RTCP_LOST, (<i32>(be32(b + 4) << 8)) >> 8);
    const clock = load<u32>(d + DIR_CLOCK);
    store<f64>(d + DIR_RTCP_JITTER, <f64>be32(b + 12) * 1000 / <f64>(clock != 0 ? clock : 8000));
  }
}

function writeRecord(flagBits: u32, ssrc: u32, seq: u32, ts: u32, pt: u32, payload: usize, len: u32): void {
  if (mediaCount >= maxFrames) return;
  const r = mediaOut + <usize>(mediaCount++) * MED_SIZE;
  store<u32>(r + MED_FRAME, frameIndex);
  store<u32>(r + MED_CALL, matchSlot);
  store<u32>(r + MED_FLAGS, flagBits);
  store<u32>(r + MED_SSRC, ssrc);
  store<u32>(r + MED_SEQ, seq);
  store<u32>(r + MED_RTP_TS, ts);
  store<u32>(r + MED_PT, pt);
  store<u32>(r + MED_PAYLOAD_ADDR, <u32>payload);
  store<u32>(r + MED_PAYLOAD_LEN, len);
  store<u32>(r + MED_GEN, load<u32>(slotAt(matchSlot) + CALL_GEN));
  store<i64>(r + MED_TS_SEC, tsSec);
  store<u32>(r + MED_TS_NSEC, tsNsec);
}

// A UDP payload that is neither SIP nor media of a known call: counted when it
// looks like RTP v2 (RFC 3550 §5.1 version, a 12-byte header, a payload type
// outside RTCP's 72-76 range) so RTP of calls begun before the capture is not silently lost.
export function countUnknownRtp(base: usize, start: u32, end: u32): void {
  if (end - start < 12) return;
  const b0 = <u32>load<u8>(base + start);
  const pt = <u32>load<u8>(base + start + 1) & 0x7f;
  if ((b0 >> 6) == 2 && (pt < 72 || pt > 76) && <u32>12 + (b0 & 15) * 4 <= end - start) count(C_RTP_UNKNOWN);
}
