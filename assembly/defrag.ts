// IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5) in a table of
// CFG_DEFRAG_SLOTS datagrams, each with its own fixed buffer.
//
// Policy (docs/network.md): a fragment whose bytes are all held already, with
// the same values, is a duplicate and ignored; any other overlap drops the whole
// datagram, IPv4 as IPv6 (RFC 5722). Fragments of any size are accepted, but all
// except the last must be a multiple of 8 bytes. A datagram not complete
// CFG_DEFRAG_TIMEOUT seconds (capture time) after its first fragment is dropped
// when the next fragment arrives; a full table evicts the datagram opened first.
//
// A completed datagram's buffer is "held" until the next push(), so records may
// point into it; held buffers are extra to the table (HELD_SLOTS), so whether a
// datagram is evicted never depends on how frames were split into batches.
import { count, cfg, reserve } from "./state";
import { srcAddr, dstAddr, tsSec, tunnelContext } from "./packet";
import {
  CFG_DEFRAG_SLOTS, CFG_DEFRAG_TIMEOUT, C_DEFRAG_DONE, C_DEFRAG_DUPLICATE, C_DEFRAG_OVERLAP,
  C_DEFRAG_TIMEOUT, C_DEFRAG_EVICTED, C_DEFRAG_OVERSIZE, C_DEFRAG_MALFORMED, C_DEFRAG_END,
} from "./layout";

export const DATAGRAM_MAX: u32 = 65535;       // payload bytes after the IP header, at most
const BITMAP_BYTES: u32 = 1024;               // one bit per 8-byte block of DATAGRAM_MAX + 1
const SLOT_BYTES: usize = BITMAP_BYTES + DATAGRAM_MAX + 1;
const SLOTS_MAX: u32 = 1024;                  // bound on the configured table
export const HELD_SLOTS: u32 = 16;
// One frame completes at most one datagram per tunnel level and the outermost one.
export const COMPLETIONS_PER_FRAME: u32 = 5;

const FREE: u32 = 0;
const ACTIVE: u32 = 1;
const HELD: u32 = 2;
const NO_TOTAL: u32 = 0xffffffff;

// per-slot metadata
const M_STATE = 0;
const M_VERSION = 4;
const M_PROTO = 8;    // IPv4 protocol (part of the key); 0 for IPv6
const M_ID = 12;
const M_SRC = 16;
const M_DST = 32;
const M_OPENED = 48;  // u32, order of opening, for eviction
const M_TOTAL = 52;   // payload length, known from the last fragment
const M_BLOCKS = 56;  // 8-byte blocks held
const M_HIGH = 60;    // highest byte end held
const M_START = 64;   // i64, capture second of the first fragment seen
const M_NEXT = 72;    // upper-layer protocol, from the offset-0 fragment
const M_CONTEXT = 76; // the tunnel the fragments came through (tunnelContext), part of the key
const META_SIZE: usize = 80;

let tableSlots: u32 = 0;
let physicalSlots: u32 = 0;
let timeoutSec: i64 = 0;
let meta: usize = 0;
let buffers: usize = 0;
let active: u32 = 0;
let held: u32 = 0;
let opened: u32 = 0;

// The last completed datagram: its payload and upper-layer protocol.
export let doneBase: usize = 0;
export let doneLen: u32 = 0;
export let doneProto: u32 = 0;

export function configureDefrag(): bool {
  tableSlots = min(cfg(CFG_DEFRAG_SLOTS), SLOTS_MAX);
  timeoutSec = <i64>cfg(CFG_DEFRAG_TIMEOUT);
  if (tableSlots == 0) return true;
  physicalSlots = tableSlots + HELD_SLOTS;
  meta = reserve(<usize>physicalSlots * META_SIZE);
  buffers = reserve(<usize>physicalSlots * SLOT_BYTES);
  if (meta == 0 || buffers == 0) return false;
  memory.fill(meta, 0, <usize>physicalSlots * META_SIZE);
  return true;
}

// Called at the start of every push(): records of the last batch are read by now.
export function releaseHeld(): void {
  if (held == 0) return;
  for (let s: u32 = 0; s < physicalSlots; s++) {
    if (state(s) == HELD) store<u32>(slotMeta(s) + M_STATE, FREE);
  }
  held = 0;
}

// Output a frame might need beyond its own bytes: a datagram it completes.
export function defragReserve(): u32 {
  return active > 0 ? DATAGRAM_MAX : 0;
}

// Whether a frame's completions all find a held buffer in this batch.
export function defragHasRoom(): bool {
  return held + COMPLETIONS_PER_FRAME <= HELD_SLOTS;
}

export function defragEnabled(): bool {
  return tableSlots != 0;
}

// Adds one fragment of the datagram keyed by version, id, proto, the packet's
// addresses and the tunnel it came through. `data` holds `len` bytes at byte
// `offset` of the payload. Returns true when the datagram is complete: doneBase,
// doneLen and doneProto describe it.
export function addFragment(version: u32, id: u32, proto: u32, next: u32, data: usize, len: u32,
  offset: u32, more: bool): bool {
  if (more && (len == 0 || (len & 7) != 0)) {
    count(C_DEFRAG_MALFORMED);
    return false;
  }
  expire();
  const end = offset + len;
  let s = find(version, id, proto);
  if (end > DATAGRAM_MAX) {
    if (s >= 0) release(s);
    count(C_DEFRAG_OVERSIZE);
    return false;
  }
  if (s < 0) s = open(version, id, proto);
  if (s < 0) return false;
  const m = slotMeta(s);
  const total = load<u32>(m + M_TOTAL);
  if (more ? end > total && total != NO_TOTAL : (total != NO_TOTAL && total != end) || load<u32>(m + M_HIGH) > end) {
    return overlap(s);
  }
  const first = offset >> 3;
  const last = (end + 7) >> 3;
  const bitmap = slotBuffer(s);
  const bytes = bitmap + BITMAP_BYTES;
  const covered = blocksHeld(bitmap, first, last);
  if (covered == last - first && (last > first || total == end)) {
    if (memory.compare(bytes + offset, data, len) != 0) return overlap(s);
    count(C_DEFRAG_DUPLICATE);
    return false;
  }
  if (covered != 0) return overlap(s);
  holdBlocks(bitmap, first, last);
  memory.copy(bytes + offset, data, len);
  store<u32>(m + M_BLOCKS, load<u32>(m + M_BLOCKS) + last - first);
  if (end > load<u32>(m + M_HIGH)) store<u32>(m + M_HIGH, end);
  if (!more) store<u32>(m + M_TOTAL, end);
  if (offset == 0) store<u32>(m + M_NEXT, next);
  return complete(s, bytes);
}

function complete(s: u32, bytes: usize): bool {
  const m = slotMeta(s);
  const total = load<u32>(m + M_TOTAL);
  if (total == NO_TOTAL || load<u32>(m + M_BLOCKS) != (total + 7) >> 3) return false;
  store<u32>(m + M_STATE, HELD);
  active--;
  held++;
  count(C_DEFRAG_DONE);
  doneBase = bytes;
  doneLen = total;
  doneProto = load<u32>(m + M_NEXT);
  return true;
}

function find(version: u32, id: u32, proto: u32): i32 {
  const context = tunnelContext();
  for (let s: u32 = 0; s < physicalSlots; s++) {
    const m = slotMeta(s);
    if (load<u32>(m + M_STATE) == ACTIVE && load<u32>(m + M_ID) == id
      && load<u32>(m + M_VERSION) == version && load<u32>(m + M_PROTO) == proto && load<u32>(m + M_CONTEXT) == context
      && sameAddress(m + M_SRC, srcAddr) && sameAddress(m + M_DST, dstAddr)) return <i32>s;
  }
  return -1;
}

function open(version: u32, id: u32, proto: u32): i32 {
  if (active >= tableSlots) evictOldest();
  for (let s: u32 = 0; s < physicalSlots; s++) {
    if (state(s) != FREE) continue;
    const m = slotMeta(s);
    store<u32>(m + M_STATE, ACTIVE);
    store<u32>(m + M_VERSION, version);
    store<u32>(m + M_PROTO, proto);
    store<u32>(m + M_ID, id);
    memory.copy(m + M_SRC, srcAddr, 16);
    memory.copy(m + M_DST, dstAddr, 16);
    store<u32>(m + M_OPENED, opened++);
    store<u32>(m + M_TOTAL, NO_TOTAL);
    store<u32>(m + M_BLOCKS, 0);
    store<u32>(m + M_HIGH, 0);
    store<i64>(m + M_START, tsSec);
    store<u32>(m + M_NEXT, 0);
    store<u32>(m + M_CONTEXT, tunnelContext());
    memory.fill(slotBuffer(s), 0, BITMAP_BYTES);
    active++;
    return <i32>s;
  }
  // Unreachable while push() keeps HELD_SLOTS free for a frame's completions.
  count(C_DEFRAG_EVICTED);
  return -1;
}

function evictOldest(): void {
  let oldest: i32 = -1;
  let oldestOrder: u32 = 0;
  for (let s: u32 = 0; s < physicalSlots; s++) {
    if (state(s) != ACTIVE) continue;
    // Opening order wraps at 2^32: compare by distance from the newest.
    const age = opened - load<u32>(slotMeta(s) + M_OPENED);
    if (oldest < 0 || age > oldestOrder) {
      oldest = <i32>s;
      oldestOrder = age;
    }
  }
  if (oldest < 0) return;
  release(<u32>oldest);
  count(C_DEFRAG_EVICTED);
}

// At the end of the input the datagrams still missing fragments are dropped, each counted.
export function dropPendingAtEnd(): void {
  for (let s: u32 = 0; s < physicalSlots && active > 0; s++) {
    if (state(s) != ACTIVE) continue;
    release(s);
    count(C_DEFRAG_END);
  }
}

function expire(): void {
  if (active == 0) return;
  for (let s: u32 = 0; s < physicalSlots; s++) {
    if (state(s) == ACTIVE && tsSec - load<i64>(slotMeta(s) + M_START) > timeoutSec) {
      release(s);
      count(C_DEFRAG_TIMEOUT);
    }
  }
}

function overlap(s: u32): bool {
  release(s);
  count(C_DEFRAG_OVERLAP);
  return false;
}

function release(s: u32): void {
  store<u32>(slotMeta(s) + M_STATE, FREE);
  active--;
}

function blocksHeld(bitmap: usize, first: u32, last: u32): u32 {
  let n: u32 = 0;
  for (let b = first; b < last; b++) n += (<u32>load<u8>(bitmap + (b >> 3)) >> (b & 7)) & 1;
  return n;
}

function holdBlocks(bitmap: usize, first: u32, last: u32): void {
  for (let b = first; b < last; b++) {
    const at = bitmap + (b >> 3);
    store<u8>(at, <u32>load<u8>(at) | (<u32>1 << (b & 7)));
  }
}

@inline function slotMeta(s: u32): usize {
  return meta + <usize>s * META_SIZE;
}

@inline function slotBuffer(s: u32): usize {
  return buffers + <usize>s * SLOT_BYTES;
}

@inline function state(s: u32): u32 {
  return load<u32>(slotMeta(s) + M_STATE);
}

@inline function sameAddress(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a + 8) == load<u64>(b + 8);
}
