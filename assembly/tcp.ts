// TCP (RFC 9293) reassembly for SIP: a bounded table of flows, each with two
// directions that put segments in order and hand the bytes to the stream
// framer (stream.ts). Streams are picked up in the middle (no SYN needed);
// out-of-order segments wait in a stream buffer within a window; bytes already
// delivered are dropped; a hole that cannot be waited for is given up and the
// stream resyncs at the next SIP start line.
//
// Memory: CFG_TCP_FLOWS flow records and CFG_TCP_BUFFERS stream buffers of
// CFG_TCP_BUFFER_BYTES, all reserved by configure(). A direction holds a buffer
// only while it has a partial message or out-of-order bytes: whole messages in
// an in-order segment are framed in place in the frame.
//
// Buffers go to the directions that make progress. The holders are listed by
// when each last completed a message (or took its buffer): when none is free,
// the one waiting longest loses its partial message to the newcomer, and one
// that completed nothing for CFG_TCP_PARTIAL_IDLE seconds is given up. SIP
// over TCP writes a whole message at once, so its segments come within round
// trips; spoofed partial messages cannot hold the buffers.
//
// Records point at message bytes in place until the next push(), so a buffer
// that messages were framed from in this push is never compacted or reused
// before the push ends. Its held bytes sit at DIR_START, kept at most
// TAIL_ROOM into the buffer: when a frame leaves them further in, push() stops
// before the next frame and the next push compacts; should a hole given up
// mid-frame need the room at once, the held bytes move to another buffer.
import {
  CFG_TCP_FLOWS, CFG_TCP_BUFFERS, CFG_TCP_BUFFER_BYTES, CFG_TCP_IDLE, CFG_TCP_PARTIAL_IDLE, CFG_MAX_BODY,
  C_FRAME_MALFORMED, C_SIP_MALFORMED, C_SIP_TCP, C_SIP_WS, C_TCP_FLOWS, C_TCP_CLOSED, C_TCP_IDLE,
  C_TCP_EVICTED, C_TCP_RETRANSMIT, C_TCP_OUT_OF_ORDER, C_TCP_GAP, C_TCP_NO_BUFFER, C_TCP_BUFFER_EVICTED,
  C_TCP_PARTIAL_IDLE, C_TCP_CLEN_UNMET, C_TCP_PARTIAL_END,
} from "./layout";
import { cfg, count, counters, reserve } from "./state";
import {
  be16, be32, setPorts, srcAddr, dstAddr, srcPort, dstPort, ipVersion, tsSec, useStreamEndpoints, restorePacketEndpoints,
  tunnelContext,
} from "./packet";
import {
  DIR_MODE, DIR_NEXT_SEQ, DIR_BASE_SEQ, DIR_BUFFER, DIR_START, DIR_RANGES, DIR_FIN, DIR_NEED,
  DIR_RANGE, DIR_SIZE, DIR_STARTED, DIR_HOLE_SINCE, DIR_WAIT_SINCE, DIR_OLDER, DIR_NEWER, RANGE_MAX,
  MODE_NEW, MODE_SYNC, MODE_RESYNC, MODE_WS_HTTP, setMode, setStreamMessageMax,
} from "./direction";
import { frameStream, frameCut, startResync, setStreamBodyMax, upgradeSeen, clearUpgrade } from "./stream";
import { resetWebSocket } from "./websocket";

// The largest segment payload IPv4 or IPv6 (without jumbograms) can carry.
export const TAIL_ROOM: u32 = 65536;

const FIN: u32 = 1;
const SYN: u32 = 2;
const RST: u32 = 4;
const ACK: u32 = 16;

// ---- flow record ----
const F_ADDR_A = 0;    // 16 bytes: the lower endpoint's address
const F_ADDR_B = 16;   // 16 bytes
const F_PORT_A = 32;   // u16
const F_PORT_B = 34;   // u16
const F_VERSION = 36;  // u32: the IP version (4 or 6) in the low byte, the tunnel's context above (tunnelContext)
const F_LAST = 40;     // i64, capture second of the last segment
const F_CHAIN = 48;    // u32, next flow in the hash bucket + 1
const F_OLDER = 52;    // u32, neighbour towards the least recently seen + 1
const F_NEWER = 56;    // u32
const F_BUCKET = 60;   // u32
const F_DIRS = 64;     // two direction records: A to B, then B to A
const FLOW_SIZE: u32 = 64 + 2 * DIR_SIZE;
const LF: u8 = 0x0a;
const EXPIRE_PER_SEGMENT = 2;
// Flows or buffers beyond this cannot fit 4 GiB anyway; below it flowCap * 2,
// the bucket count and bufferCount * 2 + 8 stay within 32 bits.
const MAX_COUNT: u32 = 1 << 30;
// A retransmission comes within a few round trips; a hole older than this (capture time)
// was lost by the capture, not by the network.
const HOLE_SECONDS: i64 = 3;

let flowCap: u32 = 0;
let flows: usize = 0;
let buckets: usize = 0;
let bucketMask: u32 = 0;
let freeFlows: u32 = 0;   // freed flows, listed through F_CHAIN, index + 1
let neverUsed: u32 = 0;   // flows from here on were never used (untouched memory, not listed)
let oldest: u32 = 0;      // least recently seen flow + 1
let newest: u32 = 0;
let idleSeconds: i64 = 0;
let partialIdleSeconds: i64 = 0;
let oldestHolder: usize = 0; // the buffer holder that progressed least recently (a direction's address)
let newestHolder: usize = 0;

let bufferCount: u32 = 0;    // buffers directions may hold at once (CFG_TCP_BUFFERS)
let physicalBuffers: u32 = 0; // twice that and a few: room for the ones set aside until the push ends
let buffersHeld: u32 = 0;
let releasedThisPush: u32 = 0;
let bufferBytes: u32 = 0;
let bufferBase: usize = 0;
let referenced: usize = 0; // u32 per buffer: the push that last framed messages out of it
let ring: usize = 0;       // free buffers, oldest release first: (index, push) pairs
let ringHead: u32 = 0;
let ringCount: u32 = 0;
let windowBytes: u32 = 0;  // bytes a direction may hold: bufferBytes - TAIL_ROOM

let pushNumber: u32 = 0;
let mustEnd = false;

const key: usize = memory.data(40, 8);
const swapScratch: usize = memory.data(16, 8);
const statelessDir: usize = memory.data(<i32>DIR_SIZE, 8);

// Reserves the flow table and buffers; false when memory ran out.
export function configureTcp(): bool {
  flowCap = cfg(CFG_TCP_FLOWS);
  bufferCount = cfg(CFG_TCP_BUFFERS);
  bufferBytes = cfg(CFG_TCP_BUFFER_BYTES);
  idleSeconds = <i64>cfg(CFG_TCP_IDLE);
  partialIdleSeconds = <i64>cfg(CFG_TCP_PARTIAL_IDLE);
  setStreamBodyMax(cfg(CFG_MAX_BODY));
  if (bufferBytes < TAIL_ROOM + 4096) bufferBytes = TAIL_ROOM + 4096;
  if (flowCap == 0) {
    setStreamMessageMax(TAIL_ROOM);
    return true;
  }
  if (bufferCount == 0) bufferCount = 1;
  // Counts and sizes in 64 bits: a count too large for memory is refused by reserve(), not wrapped.
  if (bufferCount > MAX_COUNT || flowCap > MAX_COUNT) return false;
  physicalBuffers = bufferCount * 2 + 8;
  windowBytes = bufferBytes - TAIL_ROOM;
  setStreamMessageMax(windowBytes);
  let bucketCount: u32 = 1;
  while (bucketCount < flowCap * 2) bucketCount <<= 1;
  bucketMask = bucketCount - 1;
  flows = reserve(<u64>flowCap * FLOW_SIZE);
  buckets = reserve(<u64>bucketCount * 4);
  bufferBase = reserve(<u64>physicalBuffers * bufferBytes);
  referenced = reserve(<u64>physicalBuffers * 4);
  ring = reserve(<u64>physicalBuffers * 8);
  if (flows == 0 || buckets == 0 || bufferBase == 0 || referenced == 0 || ring == 0) return false;
  // Fresh linear memory is zero and configure() runs once: the table is touched only as flows come.
  for (let i: u32 = 0; i < physicalBuffers; i++) {
    store<u32>(ring + (<usize>i << 3), i);
    store<u32>(ring + (<usize>i << 3) + 4, 0);
  }
  ringCount = physicalBuffers;
  return true;
}

// Called at the start of every push: buffers referenced by the last push's records are free to move.
export function beginStreams(): void {
  pushNumber++;
  mustEnd = false;
  releasedThisPush = 0;
}

// True when the push must stop before the next frame (see the file comment).
export function streamsMustEnd(): bool {
  return mustEnd;
}

// Output a frame may need beyond its own bytes: a buffer's window of messages
// from each direction a segment may frame held bytes of: its own, the reverse
// one (holes given up by an acknowledgement), and one given up for waiting
// (expireWaiting). Each held byte is framed once, so a window each is enough.
const STREAM_RESERVE_WINDOWS: u32 = 3;

export function streamReserve(): u32 {
  return flowCap == 0 ? 0 : windowBytes * STREAM_RESERVE_WINDOWS;
}

// ---- segments ----

// Bytes at the end of the segment being decoded that the capture does not hold (the snap length
// cut the frame): the stream resyncs after them.
let segmentCut: u32 = 0;

// The segment in base[start, end); `cut` more bytes of it were not captured.
export function decodeTcp(base: usize, start: u32, end: u32, cut: u32): void {
  segmentCut = cut;
  if (start + 20 > end) {
    count(C_FRAME_MALFORMED);
    return;
  }
  const h = base + start;
  const headerLen = (<u32>load<u8>(h + 12) >> 4) << 2;
  if (headerLen < 20 || start + headerLen > end) {
    count(C_FRAME_MALFORMED);
    return;
  }
  setPorts(be16(h), be16(h + 2));
  const flags = <u32>load<u8>(h + 13);
  const seq = be32(h + 4);
  const payload = h + headerLen;
  const len = end - start - headerLen;
  if (flowCap == 0) {
    stateless(payload, len);
    return;
  }
  expireIdle();
  const towardA = makeKey();
  let flow = lookup();
  if (flow == 0) {
    // Pure ACKs, and FIN or RST of flows not followed, make no flow.
    if (len == 0 && (flags & SYN) == 0) return;
    if ((flags & RST) != 0) return;
    flow = insert();
  }
  touch(flow);
  const at = flowAt(flow);
  if ((flags & RST) != 0) {
    freeFlow(flow, C_TCP_CLOSED);
    return;
  }
  const dir = at + F_DIRS + (towardA ? <usize>DIR_SIZE : 0);
  expireWaiting(dir);
  if ((flags & SYN) != 0) synchronize(dir, seq);
  else if (len > 0) {
    giveUpOldHoles(dir, seq);
    segment(dir, seq, payload, len);
  } else if (cut != 0 && load<u32>(dir + DIR_STARTED) != 0 && load<u32>(dir + DIR_NEXT_SEQ) == seq
    && load<u32>(dir + DIR_RANGES) == 0) {
    giveUpHeld(dir, seq + cut); // none of its payload captured: what is held cannot complete
  }
  if ((flags & ACK) != 0) acknowledged(at + F_DIRS + (towardA ? 0 : DIR_SIZE), be32(h + 8));
  if (upgradeSeen) {
    clearUpgrade();
    const other = at + F_DIRS + (towardA ? 0 : DIR_SIZE);
    setMode(other, MODE_WS_HTTP);
  }
  if ((flags & FIN) != 0) {
    // Nothing more comes on this direction: what is held after its holes is framed now,
    // and a body still awaited never will be.
    while (giveUpHole(dir)) {}
    if (claimUnmet(dir)) lookInsideClaim(dir);
    store<u32>(dir + DIR_FIN, 1);
    if (load<u32>(at + F_DIRS + DIR_FIN) != 0 && load<u32>(at + F_DIRS + DIR_SIZE + DIR_FIN) != 0) {
      freeFlow(flow, C_TCP_CLOSED);
    }
  }
}

// With no flow table, each segment's whole messages are framed on their own.
function stateless(payload: usize, len: u32): void {
  memory.fill(statelessDir, 0, DIR_SIZE);
  setMode(statelessDir, MODE_RESYNC);
  const used = frameStream(statelessDir, payload, len);
  if (segmentCut != 0) frameCut(statelessDir, payload + used, len - used);
  clearUpgrade();
}

// A SYN fixes the first sequence number: the stream starts in sync. Once bytes
// were seen, a SYN is a late or repeated one, unless the direction was closed:
// then it opens a new connection on the same ports.
function synchronize(dir: usize, seq: u32): void {
  if (load<u32>(dir + DIR_STARTED) != 0 && load<u32>(dir + DIR_FIN) == 0) return;
  clearDir(dir);
  store<u32>(dir + DIR_STARTED, 1);
  store<u32>(dir + DIR_NEXT_SEQ, seq + 1);
  store<u32>(dir + DIR_BASE_SEQ, seq + 1);
  setMode(dir, MODE_SYNC);
}

function segment(dir: usize, seq: u32, p: usize, len: u32): void {
  if (load<u32>(dir + DIR_STARTED) == 0) {
    // Picked up in the middle: the first byte seen may be anywhere in a message.
    store<u32>(dir + DIR_STARTED, 1);
    store<u32>(dir + DIR_NEXT_SEQ, seq);
    store<u32>(dir + DIR_BASE_SEQ, seq);
    if (load<u32>(dir + DIR_MODE) == MODE_NEW) setMode(dir, MODE_RESYNC);
  }
  const next = load<u32>(dir + DIR_NEXT_SEQ);
  if (<i32>(seq + len - next) <= 0) {
    count(C_TCP_RETRANSMIT);
    return;
  }
  const behind = <i32>(next - seq);
  if (behind > 0) { // overlaps bytes already delivered: keep those, take the rest
    p += <usize>behind;
    len -= <u32>behind;
    seq = next;
  }
  if (seq != next) outOfOrder(dir, seq, p, len);
  else if (load<u32>(dir + DIR_BUFFER) == 0) inPlace(dir, seq, p, len);
  else appendInOrder(dir, seq, p, len);
}

// Frames what the segment completes straight from the frame; only a partial
// message at its end is copied into a buffer.
function inPlace(dir: usize, seq: u32, p: usize, len: u32): void {
  const used = frameStream(dir, p, len);
  store<u32>(dir + DIR_NEXT_SEQ, seq + len);
  store<u32>(dir + DIR_BASE_SEQ, seq + used);
  const rest = len - used;
  if (segmentCut != 0) {
    // The bytes the snap length cut off are a hole no retransmission fills: the stream resyncs after it.
    frameCut(dir, p + used, rest);
    giveUpHeld(dir, seq + len + segmentCut);
    return;
  }
  if (rest == 0) return;
  const buffer = rest <= TAIL_ROOM ? takeBuffer() : 0;
  if (buffer == 0) {
    loseBytes(dir, seq + len);
    return;
  }
  hold(dir, buffer);
  memory.copy(bufferAt(buffer), p + used, rest);
}

function appendInOrder(dir: usize, seq: u32, p: usize, len: u32): void {
  makeRoom(dir);
  if (seq + len - load<u32>(dir + DIR_BASE_SEQ) > windowBytes) {
    giveUpHeld(dir, seq);
    inPlace(dir, seq, p, len);
    return;
  }
  if (!write(dir, seq, p, len)) return;
  store<u32>(dir + DIR_NEXT_SEQ, seq + len);
  absorbRanges(dir);
  frameHeld(dir);
  // A message begun in an earlier segment and cut in this one is dropped with what is held (its
  // records would point into a buffer the stream goes on using); with later bytes held, the hole
  // the cut left is given up as any other.
  if (segmentCut != 0 && load<u32>(dir + DIR_RANGES) == 0 && load<u32>(dir + DIR_NEXT_SEQ) == seq + len) {
    giveUpHeld(dir, seq + len + segmentCut);
  }
}


// Holds a segment that arrived before the bytes in front of it.
function outOfOrder(dir: usize, seq: u32, p: usize, len: u32): void {
  count(C_TCP_OUT_OF_ORDER);
  if (load<u32>(dir + DIR_BUFFER) == 0) {
    const buffer = takeBuffer();
    if (buffer == 0) { // dropped: its retransmission may still find a buffer
      count(C_TCP_NO_BUFFER);
      return;
    }
    hold(dir, buffer);
  }
  makeRoom(dir);
  // Beyond the window, or a hole too many: the oldest hole is given up.
  while (seq + len - load<u32>(dir + DIR_BASE_SEQ) > windowBytes || load<u32>(dir + DIR_RANGES) == RANGE_MAX) {
    if (!giveUpHole(dir)) {
      giveUpHeld(dir, seq);
      inPlace(dir, seq, p, len);
      return;
    }
  }
  if (load<u32>(dir + DIR_BUFFER) == 0 || <i32>(seq - load<u32>(dir + DIR_NEXT_SEQ)) <= 0) {
    segment(dir, seq, p, len); // the holes given up brought it in order (or made it old)
    return;
  }
  makeRoom(dir);
  if (!write(dir, seq, p, len)) return;
  if (load<u32>(dir + DIR_RANGES) == 0) store<i64>(dir + DIR_HOLE_SINCE, tsSec);
  addRange(dir, seq, seq + len);
}

// Copies a segment to its place in the buffer. The window keeps it inside
// whenever the held bytes could be moved to the front; when they could not
// (a hole given up in this frame left them far in), the segment is dropped.
function write(dir: usize, seq: u32, p: usize, len: u32): bool {
  const at = <u64>load<u32>(dir + DIR_START) + <u64>(seq - load<u32>(dir + DIR_BASE_SEQ));
  if (at + <u64>len > <u64>bufferBytes) {
    count(C_TCP_NO_BUFFER);
    return false;
  }
  memory.copy(bufferAt(load<u32>(dir + DIR_BUFFER)) + <usize>at, p, len);
  return true;
}

// Frames the in-order bytes held in the direction's buffer.
function frameHeld(dir: usize): void {
  const buffer = load<u32>(dir + DIR_BUFFER);
  const start = load<u32>(dir + DIR_START);
  const base = load<u32>(dir + DIR_BASE_SEQ);
  const framedBefore = messagesFramed();
  const used = frameStream(dir, bufferAt(buffer) + start, load<u32>(dir + DIR_NEXT_SEQ) - base);
  if (used > 0) store<u32>(referenced + (<usize>(buffer - 1) << 2), pushNumber);
  if (messagesFramed() != framedBefore) progressed(dir);
  store<u32>(dir + DIR_START, start + used);
  store<u32>(dir + DIR_BASE_SEQ, base + used);
  if (base + used == load<u32>(dir + DIR_NEXT_SEQ) && load<u32>(dir + DIR_RANGES) == 0) {
    releaseDirBuffer(dir);
  } else if (start + used > TAIL_ROOM && isReferenced(buffer)) {
    mustEnd = true;
  }
}

// Moves the held bytes to the buffer's start when they sit too far in.
function makeRoom(dir: usize): void {
  const start = load<u32>(dir + DIR_START);
  if (start <= TAIL_ROOM) return;
  const buffer = load<u32>(dir + DIR_BUFFER);
  if (buffer == 0) return;
  const at = bufferAt(buffer);
  if (!isReferenced(buffer)) {
    memory.copy(at, at + start, heldExtent(dir));
    store<u32>(dir + DIR_START, 0);
    return;
  }
  // Records of this push point into it: the held bytes move to another buffer.
  const fresh = takePhysical();
  if (fresh == 0) return;
  memory.copy(bufferAt(fresh), at + start, heldExtent(dir));
  releasePhysical(buffer);
  store<u32>(dir + DIR_BUFFER, fresh);
  store<u32>(dir + DIR_START, 0);
}

// Bytes from the base to the end of the last held range.
function heldExtent(dir: usize): u32 {
  const base = load<u32>(dir + DIR_BASE_SEQ);
  let end = load<u32>(dir + DIR_NEXT_SEQ);
  const n = load<u32>(dir + DIR_RANGES);
  if (n > 0) end = load<u32>(rangeAt(dir, n - 1) + 4);
  return end - base;
}

// ---- holes ----

// Holes open longer than HOLE_SECONDS are given up when a later segment comes
// (not when the segment is the one that fills the first of them).
function giveUpOldHoles(dir: usize, seq: u32): void {
  if (load<u32>(dir + DIR_RANGES) == 0 || load<i64>(dir + DIR_HOLE_SINCE) + HOLE_SECONDS >= tsSec) return;
  if (<i32>(seq - load<u32>(dir + DIR_NEXT_SEQ)) <= 0) return;
  while (giveUpHole(dir)) {}
}

// The peer acknowledged bytes this direction never showed us: the capture
// missed them, so holes up to the acknowledgement are given up at once. The
// messages this frees belong to the other direction: its endpoints are swapped in.
function acknowledged(dir: usize, ack: u32): void {
  if (load<u32>(dir + DIR_RANGES) == 0 || <i32>(ack - load<u32>(dir + DIR_NEXT_SEQ)) <= 0) return;
  if (<i32>(ack - load<u32>(rangeAt(dir, 0))) < 0) return;
  swapEndpoints();
  while (load<u32>(dir + DIR_RANGES) != 0 && <i32>(ack - load<u32>(rangeAt(dir, 0))) >= 0) giveUpHole(dir);
  swapEndpoints();
}

function swapEndpoints(): void {
  memory.copy(swapScratch, srcAddr, 16);
  memory.copy(srcAddr, dstAddr, 16);
  memory.copy(dstAddr, swapScratch, 16);
  setPorts(dstPort, srcPort);
}

function rangeAt(dir: usize, i: u32): usize {
  return dir + DIR_RANGE + (<usize>i << 3);
}

// Inserts [first, end) among the held ranges, kept sorted and merged.
function addRange(dir: usize, first: u32, end: u32): void {
  let n = load<u32>(dir + DIR_RANGES);
  let i: u32 = 0;
  while (i < n && <i32>(load<u32>(rangeAt(dir, i) + 4) - first) < 0) i++;
  // ranges i.. end at or after `first`: merge those that start at or before `end`
  let j = i;
  while (j < n && <i32>(load<u32>(rangeAt(dir, j)) - end) <= 0) {
    if (<i32>(load<u32>(rangeAt(dir, j)) - first) < 0) first = load<u32>(rangeAt(dir, j));
    if (<i32>(load<u32>(rangeAt(dir, j) + 4) - end) > 0) end = load<u32>(rangeAt(dir, j) + 4);
    j++;
  }
  const removed = j - i;
  if (removed == 0) {
    memory.copy(rangeAt(dir, i + 1), rangeAt(dir, i), <usize>(n - i) << 3);
    n++;
  } else if (removed > 1) {
    memory.copy(rangeAt(dir, i + 1), rangeAt(dir, j), <usize>(n - j) << 3);
    n -= removed - 1;
  }
  store<u32>(rangeAt(dir, i), first);
  store<u32>(rangeAt(dir, i) + 4, end);
  store<u32>(dir + DIR_RANGES, n);
}

// Held ranges that now touch the in-order bytes join them.
function absorbRanges(dir: usize): void {
  let n = load<u32>(dir + DIR_RANGES);
  let next = load<u32>(dir + DIR_NEXT_SEQ);
  let i: u32 = 0;
  while (i < n && <i32>(load<u32>(rangeAt(dir, i)) - next) <= 0) {
    const end = load<u32>(rangeAt(dir, i) + 4);
    if (<i32>(end - next) > 0) next = end;
    i++;
  }
  if (i == 0) return;
  memory.copy(rangeAt(dir, 0), rangeAt(dir, i), <usize>(n - i) << 3);
  store<u32>(dir + DIR_RANGES, n - i);
  store<u32>(dir + DIR_NEXT_SEQ, next);
}

// The bytes before the first held range are never coming: drop what is in
// order (a partial message), resync at that range. False when none is held.
function giveUpHole(dir: usize): bool {
  if (load<u32>(dir + DIR_RANGES) == 0) return false;
  count(C_TCP_GAP);
  const first = load<u32>(rangeAt(dir, 0));
  const base = load<u32>(dir + DIR_BASE_SEQ);
  store<u32>(dir + DIR_START, load<u32>(dir + DIR_START) + (first - base));
  store<u32>(dir + DIR_BASE_SEQ, first);
  store<u32>(dir + DIR_NEXT_SEQ, first);
  absorbRanges(dir);
  store<i64>(dir + DIR_HOLE_SINCE, tsSec);
  restart(dir);
  frameHeld(dir);
  return true;
}

// Drops everything the direction holds; the stream goes on at `seq`.
function giveUpHeld(dir: usize, seq: u32): void {
  count(C_TCP_GAP);
  releaseDirBuffer(dir);
  store<u32>(dir + DIR_RANGES, 0);
  store<u32>(dir + DIR_NEXT_SEQ, seq);
  store<u32>(dir + DIR_BASE_SEQ, seq);
  restart(dir);
}

// A partial message that cannot be held: the stream goes on after it.
function loseBytes(dir: usize, seq: u32): void {
  count(C_TCP_NO_BUFFER);
  store<u32>(dir + DIR_BASE_SEQ, seq);
  restart(dir);
}

// After a hole, WebSocket frame boundaries are lost too: SIP start lines are what can be found again.
function restart(dir: usize): void {
  resetWebSocket(dir);
  startResync(dir, false);
}

// ---- buffer holders, least recent progress first ----

// Messages framed on streams so far: whether framing some bytes completed one.
function messagesFramed(): u64 {
  return load<u64>(counters + (<usize>C_SIP_TCP << 3)) + load<u64>(counters + (<usize>C_SIP_WS << 3));
}

function hold(dir: usize, buffer: u32): void {
  store<u32>(dir + DIR_BUFFER, buffer);
  store<u32>(dir + DIR_START, 0);
  linkNewestHolder(dir);
}

function linkNewestHolder(dir: usize): void {
  store<i64>(dir + DIR_WAIT_SINCE, tsSec);
  store<u32>(dir + DIR_OLDER, <u32>newestHolder);
  store<u32>(dir + DIR_NEWER, 0);
  if (newestHolder != 0) store<u32>(newestHolder + DIR_NEWER, <u32>dir);
  else oldestHolder = dir;
  newestHolder = dir;
}

function unlinkHolder(dir: usize): void {
  const older = <usize>load<u32>(dir + DIR_OLDER), newer = <usize>load<u32>(dir + DIR_NEWER);
  if (older != 0) store<u32>(older + DIR_NEWER, <u32>newer);
  else oldestHolder = newer;
  if (newer != 0) store<u32>(newer + DIR_OLDER, <u32>older);
  else newestHolder = older;
}

// A message came out of the direction's buffer: it waits afresh, as the newest holder.
function progressed(dir: usize): void {
  if (load<u32>(dir + DIR_BUFFER) == 0) return;
  unlinkHolder(dir);
  linkNewestHolder(dir);
}

function waitedTooLong(dir: usize): bool {
  return load<u32>(dir + DIR_BUFFER) != 0 && load<i64>(dir + DIR_WAIT_SINCE) + partialIdleSeconds < tsSec;
}

// One holder is given up per segment when it completed no message for
// CFG_TCP_PARTIAL_IDLE seconds: the segment's own direction (so late bytes do
// not complete a claim already too old), else the one waiting longest. With
// one new holder at most per segment, stale ones cannot pile up; one per
// segment keeps the output a segment may need bounded (streamReserve).
function expireWaiting(own: usize): void {
  if (waitedTooLong(own)) giveUpWaiting(own);
  else if (oldestHolder != 0 && waitedTooLong(oldestHolder)) giveUpWaiting(oldestHolder);
}

// A direction that completed nothing for CFG_TCP_PARTIAL_IDLE seconds frames
// what it still can (held bytes after its holes, messages inside a body whose
// claimed length never came); if that gives no message, what it holds is
// dropped. Its messages carry its own endpoints, whichever segment this is.
function giveUpWaiting(dir: usize): void {
  count(C_TCP_PARTIAL_IDLE);
  const flowBase = flows + (dir - flows) / FLOW_SIZE * FLOW_SIZE;
  const fromA = dir == flowBase + F_DIRS;
  useStreamEndpoints(flowBase + (fromA ? F_ADDR_A : F_ADDR_B), flowBase + (fromA ? F_ADDR_B : F_ADDR_A),
    <u32>load<u16>(flowBase + (fromA ? F_PORT_A : F_PORT_B)), <u32>load<u16>(flowBase + (fromA ? F_PORT_B : F_PORT_A)),
    load<u32>(flowBase + F_VERSION) & 0xff);
  const framedBefore = messagesFramed();
  while (giveUpHole(dir)) {}
  if (claimUnmet(dir)) lookInsideClaim(dir);
  if (load<u32>(dir + DIR_BUFFER) != 0 && messagesFramed() == framedBefore) dropHeld(dir);
  restorePacketEndpoints();
}

// At the end of the input every direction still holding bytes (a message the capture stopped
// inside, or segments after a hole) drops them, each counted: without it, a capture that ends
// inside a message would lose it without a trace.
export function dropHeldAtEnd(): void {
  while (oldestHolder != 0) {
    const dir = oldestHolder;
    if (heldExtent(dir) != 0) count(C_TCP_PARTIAL_END);
    releaseDirBuffer(dir);
    store<u32>(dir + DIR_RANGES, 0);
  }
}

// The held message at the start has its header block and waits for the body
// its Content-Length claims.
function claimUnmet(dir: usize): bool {
  return load<u32>(dir + DIR_BUFFER) != 0 && load<u32>(dir + DIR_MODE) == MODE_SYNC && load<u32>(dir + DIR_NEED) != 0;
}

// A claim that will not be met (the direction is given up or ended): the
// message is malformed, and what the claim swallowed is framed from the line
// after its start line. A body may hold a start line (message/sipfrag), so
// only a claim not met makes the framer look inside it.
function lookInsideClaim(dir: usize): void {
  count(C_TCP_CLEN_UNMET);
  count(C_SIP_MALFORMED);
  startResync(dir, true);
  frameHeld(dir);
}

// Drops everything the direction holds; the stream goes on after the last byte
// held, at the next SIP start line.
function dropHeld(dir: usize): void {
  const extent = heldExtent(dir);
  if (extent == 0) { // a buffer taken for a segment that did not fit: nothing is lost
    releaseDirBuffer(dir);
    return;
  }
  const end = load<u32>(dir + DIR_BASE_SEQ) + extent;
  const lastByte = load<u8>(bufferAt(load<u32>(dir + DIR_BUFFER)) + load<u32>(dir + DIR_START) + extent - 1);
  releaseDirBuffer(dir);
  store<u32>(dir + DIR_RANGES, 0);
  store<u32>(dir + DIR_NEXT_SEQ, end);
  store<u32>(dir + DIR_BASE_SEQ, end);
  resetWebSocket(dir);
  startResync(dir, lastByte != LF);
}

// ---- stream buffers ----

@inline function bufferAt(buffer: u32): usize {
  return bufferBase + <usize>(buffer - 1) * bufferBytes;
}

@inline function isReferenced(buffer: u32): bool {
  return load<u32>(referenced + (<usize>(buffer - 1) << 2)) == pushNumber;
}

// A free buffer + 1. When directions hold CFG_TCP_BUFFERS already, the one
// waiting longest for its message to complete gives its buffer up; 0 only
// when no buffer released before this push is left (see takePhysical).
function takeBuffer(): u32 {
  if (buffersHeld >= bufferCount) {
    if (oldestHolder == 0) return 0;
    count(C_TCP_BUFFER_EVICTED);
    dropHeld(oldestHolder);
  }
  const buffer = takePhysical();
  if (buffer != 0) buffersHeld++;
  return buffer;
}

// Buffers released in this push are not reused before the next: the ring is in
// release order, and push() ends once bufferCount were released in it, so
// with twice as many physical buffers one released in an earlier push is
// always at the head when a direction may take one. Whether a buffer is found
// therefore never depends on where the batches were cut.
function takePhysical(): u32 {
  if (ringCount == 0) return 0;
  const slot = ring + (<usize>ringHead << 3);
  if (load<u32>(slot + 4) == pushNumber) return 0;
  ringHead = ringHead + 1 == physicalBuffers ? 0 : ringHead + 1;
  ringCount--;
  return load<u32>(slot) + 1;
}

function releasePhysical(buffer: u32): void {
  let tail = ringHead + ringCount;
  if (tail >= physicalBuffers) tail -= physicalBuffers;
  const slot = ring + (<usize>tail << 3);
  store<u32>(slot, buffer - 1);
  store<u32>(slot + 4, pushNumber);
  ringCount++;
  if (++releasedThisPush >= bufferCount) mustEnd = true;
}

function releaseDirBuffer(dir: usize): void {
  const buffer = load<u32>(dir + DIR_BUFFER);
  if (buffer == 0) return;
  unlinkHolder(dir);
  releasePhysical(buffer);
  buffersHeld--;
  store<u32>(dir + DIR_BUFFER, 0);
  store<u32>(dir + DIR_START, 0);
}

function clearDir(dir: usize): void {
  releaseDirBuffer(dir);
  memory.fill(dir, 0, DIR_SIZE);
}

// ---- the flow table ----

@inline function flowAt(flow: u32): usize {
  return flows + <usize>(flow - 1) * FLOW_SIZE;
}

// The flow's key with the lower endpoint first; true when this segment goes toward A.
function makeKey(): bool {
  let order = compareAddr(srcAddr, dstAddr);
  if (order == 0) order = <i32>srcPort - <i32>dstPort;
  const srcIsA = order <= 0;
  memory.copy(key + F_ADDR_A, srcIsA ? srcAddr : dstAddr, 16);
  memory.copy(key + F_ADDR_B, srcIsA ? dstAddr : srcAddr, 16);
  store<u16>(key + F_PORT_A, <u16>(srcIsA ? srcPort : dstPort));
  store<u16>(key + F_PORT_B, <u16>(srcIsA ? dstPort : srcPort));
  store<u32>(key + F_VERSION, ipVersion | tunnelContext() << 8);
  return !srcIsA;
}

function compareAddr(a: usize, b: usize): i32 {
  for (let i: usize = 0; i < 16; i += 8) {
    const x = bswap<u64>(load<u64>(a + i)), y = bswap<u64>(load<u64>(b + i));
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

function keyHash(): u32 {
  let h: u64 = 0x9e3779b97f4a7c15;
  for (let i: usize = 0; i < 40; i += 8) h = (h ^ load<u64>(key + i)) * 0xff51afd7ed558ccd;
  h ^= h >> 32;
  return <u32>h & bucketMask;
}

function sameKey(at: usize): bool {
  return load<u64>(at) == load<u64>(key) && load<u64>(at + 8) == load<u64>(key + 8)
    && load<u64>(at + 16) == load<u64>(key + 16) && load<u64>(at + 24) == load<u64>(key + 24)
    && load<u64>(at + 32) == load<u64>(key + 32);
}

function lookup(): u32 {
  let flow = load<u32>(buckets + (<usize>keyHash() << 2));
  while (flow != 0) {
    const at = flowAt(flow);
    if (sameKey(at)) return flow;
    flow = load<u32>(at + F_CHAIN);
  }
  return 0;
}

// A new flow for the key; when the table is full the least recently seen goes.
function insert(): u32 {
  let flow: u32;
  if (freeFlows == 0 && neverUsed < flowCap) {
    flow = ++neverUsed;
  } else {
    if (freeFlows == 0) freeFlow(oldest, C_TCP_EVICTED);
    flow = freeFlows;
    freeFlows = load<u32>(flowAt(flow) + F_CHAIN);
  }
  const at = flowAt(flow);
  memory.copy(at, key, 40);
  const bucket = keyHash();
  const slot = buckets + (<usize>bucket << 2);
  store<u32>(at + F_BUCKET, bucket);
  store<u32>(at + F_CHAIN, load<u32>(slot));
  store<u32>(slot, flow);
  store<u32>(at + F_OLDER, newest);
  store<u32>(at + F_NEWER, 0);
  if (newest != 0) store<u32>(flowAt(newest) + F_NEWER, flow);
  else oldest = flow;
  newest = flow;
  count(C_TCP_FLOWS);
  return flow;
}

// Marks the flow seen now: it moves to the newest end of the list.
function touch(flow: u32): void {
  const at = flowAt(flow);
  store<i64>(at + F_LAST, tsSec);
  if (flow == newest) return;
  unlinkAge(flow);
  store<u32>(at + F_OLDER, newest);
  store<u32>(at + F_NEWER, 0);
  if (newest != 0) store<u32>(flowAt(newest) + F_NEWER, flow);
  else oldest = flow;
  newest = flow;
}

function unlinkAge(flow: u32): void {
  const at = flowAt(flow);
  const older = load<u32>(at + F_OLDER), newer = load<u32>(at + F_NEWER);
  if (older != 0) store<u32>(flowAt(older) + F_NEWER, newer);
  else oldest = newer;
  if (newer != 0) store<u32>(flowAt(newer) + F_OLDER, older);
  else newest = older;
}

// Flows silent for longer than the idle timeout (capture time) are freed,
// a few per segment, oldest first.
function expireIdle(): void {
  for (let i = 0; i < EXPIRE_PER_SEGMENT && oldest != 0; i++) {
    if (load<i64>(flowAt(oldest) + F_LAST) + idleSeconds >= tsSec) return;
    freeFlow(oldest, C_TCP_IDLE);
  }
}

function freeFlow(flow: u32, counter: i32): void {
  count(counter);
  const at = flowAt(flow);
  const slot = buckets + (<usize>load<u32>(at + F_BUCKET) << 2);
  let link = slot;
  while (load<u32>(link) != flow) link = flowAt(load<u32>(link)) + F_CHAIN;
  store<u32>(link, load<u32>(at + F_CHAIN));
  unlinkAge(flow);
  clearDir(at + F_DIRS);
  clearDir(at + F_DIRS + DIR_SIZE);
  memory.fill(at, 0, 64);
  store<u32>(at + F_CHAIN, freeFlows);
  freeFlows = flow;
}
