// Voice quality for the core's call events: host/calls/media.ts's CallQuality in
// linear memory. The media stats record each call leaves with (R_OUT_MEDIA_ENDS)
// is held by its Call-ID until the call's call-end or call-attempt event takes it
// as the `rtp` member; a call released twice (its media idle, then back) is
// summed; the final figures after a BYE, and a record with no RTP, are not held.
// At most QUALITY_HELD calls, the oldest (by when it was last held) leaving first.
import {
  CALL_STATS_SIZE, CALL_STATE, CALL_ID, CALL_ID_LEN, CALL_ID_MAX, CALL_DIR, DIR_SIZE, DIR_PACKETS, DIR_EXPECTED,
  DIR_LOST, DIR_DUPLICATES, DIR_OUT_OF_ORDER, DIR_SSRC_CHANGES, DIR_PT, DIR_JITTER, DIR_MAX_JITTER, DIR_RTCP_REPORTS,
  DIR_RTCP_FRACTION, DIR_RTCP_LOST, DIR_RTCP_JITTER, DIR_CODEC, STATS_AFTER_BYE, EV_RTP, EV_RTP_SIZE, EVR_PACKETS,
  EVR_EXPECTED, EVR_LOST, EVR_JITTER, EVR_MAX_JITTER, EVR_DUPLICATES, EVR_OUT_OF_ORDER, EVR_SSRC_CHANGES,
  EVR_RTCP_REPORTS, EVR_RTCP_FRACTION_LOST, EVR_RTCP_LOST, EVR_RTCP_JITTER,
} from "./layout";
import { reserve } from "./state";
import { NONE, tableReserve, tableGet, tableAdd, tableDelete } from "./track-tables";
import { normalize, isWellFormed } from "./sipvalue";
import { signature } from "./hash";

export const QUALITY_HELD: u32 = 65536;  // host/calls/media.ts QUALITY_HELD

// One held call: two directions of StreamQuality's figures, as the host reads them.
const Q_DIR = 128;
const Q_PACKETS = 0, Q_EXPECTED = 8, Q_LOST = 16, Q_DUPLICATES = 24, Q_OUT_OF_ORDER = 32, Q_SSRC_CHANGES = 40,
  Q_JITTER = 48, Q_MAX_JITTER = 56, Q_RTCP_REPORTS = 64, Q_RTCP_FRACTION = 72, Q_RTCP_LOST = 80, Q_RTCP_JITTER = 88;  // f64
const Q_PT = 96;      // u32, 0xffffffff before the first packet
const Q_CODEC = 100;  // 16 bytes, the record's name, NUL-padded
const Q_SIZE = 2 * Q_DIR;

let table: usize = 0;
let slots: usize = 0;
let fresh: u32 = 0;
let freeTop: u32 = NONE;  // freed slots, last freed first (linked through their first word)
let callId: usize = 0;    // a record's Call-ID, normalized

export function configureQuality(): bool {
  table = tableReserve(QUALITY_HELD);
  slots = reserve(<u64>(QUALITY_HELD + 1) * Q_SIZE);
  callId = reserve(CALL_ID_MAX * 3);
  return table != 0 && slots != 0 && callId != 0;
}

@inline function slotAt(id: u32): usize {
  return slots + <usize>(id - 1) * Q_SIZE;
}

// CallQuality.take: the stats records of one push, in order.
export function takeMediaEnds(records: usize, count: u32): void {
  for (let i: u32 = 0; i < count; i++) take(records + <usize>i * CALL_STATS_SIZE);
}

function take(r: usize): void {
  const d0 = r + CALL_DIR, d1 = d0 + DIR_SIZE;
  if (load<u32>(r + CALL_STATE) == STATS_AFTER_BYE || load<u32>(d0 + DIR_PACKETS) + load<u32>(d1 + DIR_PACKETS) == 0) return;
  const key = callIdKey(r + CALL_ID, min(load<u32>(r + CALL_ID_LEN), CALL_ID_MAX));
  const before = tableGet(table, key);
  if (before != NONE) {
    tableDelete(table, key);
    sum(slotAt(before), d0);
    sum(slotAt(before) + Q_DIR, d1);
    release(tableAdd(table, key, before));
    return;
  }
  const id = newSlot();
  read(slotAt(id), d0);
  read(slotAt(id) + Q_DIR, d1);
  release(tableAdd(table, key, id));
}

// Keyed by the Call-ID as the host decodes it (equal strings, equal keys).
function callIdKey(p: usize, n: u32): u64 {
  if (isWellFormed(p, n)) return signature(p, n);
  return signature(callId, normalize(p, n, callId));
}

function newSlot(): u32 {
  if (freeTop == NONE) return ++fresh;
  const id = freeTop;
  freeTop = load<u32>(slotAt(id));
  return id;
}

function release(id: u32): void {
  if (id == NONE) return;
  store<u32>(slotAt(id), freeTop);
  freeTop = id;
}

// One direction of a record, as host/core/records.ts streamQuality() reads it.
function read(q: usize, d: usize): void {
  store<f64>(q + Q_PACKETS, <f64>load<u32>(d + DIR_PACKETS));
  store<f64>(q + Q_EXPECTED, <f64>load<u32>(d + DIR_EXPECTED));
  store<f64>(q + Q_LOST, <f64>load<i32>(d + DIR_LOST));
  store<f64>(q + Q_DUPLICATES, <f64>load<u32>(d + DIR_DUPLICATES));
  store<f64>(q + Q_OUT_OF_ORDER, <f64>load<u32>(d + DIR_OUT_OF_ORDER));
  store<f64>(q + Q_SSRC_CHANGES, <f64>load<u32>(d + DIR_SSRC_CHANGES));
  store<f64>(q + Q_JITTER, load<f64>(d + DIR_JITTER));
  store<f64>(q + Q_MAX_JITTER, load<f64>(d + DIR_MAX_JITTER));
  store<f64>(q + Q_RTCP_REPORTS, <f64>load<u32>(d + DIR_RTCP_REPORTS));
  store<f64>(q + Q_RTCP_FRACTION, <f64>load<u32>(d + DIR_RTCP_FRACTION) / 256);
  store<f64>(q + Q_RTCP_LOST, <f64>load<i32>(d + DIR_RTCP_LOST));
  store<f64>(q + Q_RTCP_JITTER, load<f64>(d + DIR_RTCP_JITTER));
  store<u32>(q + Q_PT, load<u32>(d + DIR_PT));
  memory.copy(q + Q_CODEC, d + DIR_CODEC, 16);
}

// host/calls/media.ts sum(held, record): the record's figures, its counts added to the held ones
// and the larger maximum jitter, unless either saw no packet (then the other's alone).
function sum(q: usize, d: usize): void {
  if (load<u32>(d + DIR_PACKETS) == 0) return;
  if (load<f64>(q + Q_PACKETS) == 0) {
    read(q, d);
    return;
  }
  const packets = load<f64>(q + Q_PACKETS), expected = load<f64>(q + Q_EXPECTED), lost = load<f64>(q + Q_LOST);
  const duplicates = load<f64>(q + Q_DUPLICATES), outOfOrder = load<f64>(q + Q_OUT_OF_ORDER);
  const ssrcChanges = load<f64>(q + Q_SSRC_CHANGES), maxJitter = load<f64>(q + Q_MAX_JITTER);
  read(q, d);
  store<f64>(q + Q_PACKETS, packets + load<f64>(q + Q_PACKETS));
  store<f64>(q + Q_EXPECTED, expected + load<f64>(q + Q_EXPECTED));
  store<f64>(q + Q_LOST, lost + load<f64>(q + Q_LOST));
  store<f64>(q + Q_DUPLICATES, duplicates + load<f64>(q + Q_DUPLICATES));
  store<f64>(q + Q_OUT_OF_ORDER, outOfOrder + load<f64>(q + Q_OUT_OF_ORDER));
  store<f64>(q + Q_SSRC_CHANGES, ssrcChanges + load<f64>(q + Q_SSRC_CHANGES));
  store<f64>(q + Q_MAX_JITTER, Math.max(maxJitter, load<f64>(q + Q_MAX_JITTER)));
}

// CallQuality.streamsFor: the call's figures written at EV_RTP of the description `event`,
// and taken; false when none are held. Its codecs' names are then codecText()'s.
export function qualityInto(event: usize, p: usize, n: u32): bool {
  const key = signature(p, n);  // the tracker's Call-ID is normalized already
  const id = tableGet(table, key);
  if (id == NONE) return false;
  tableDelete(table, key);
  const q = slotAt(id);
  const some = load<f64>(q + Q_PACKETS) != 0 || load<f64>(q + Q_DIR + Q_PACKETS) != 0;
  if (some) {
    for (let k = 0; k < 2; k++) {
      stream(event + EV_RTP + <usize>k * EV_RTP_SIZE, q + <usize>k * Q_DIR);
      store<u32>(codecs + <usize>k * 20 + 16, load<u32>(q + <usize>k * Q_DIR + Q_PT));
      memory.copy(codecs + <usize>k * 20, q + <usize>k * Q_DIR + Q_CODEC, 16);
    }
  }
  release(id);
  return some;
}

// Per direction of the last qualityInto: the codec's name (16 bytes, NUL-padded), its payload type.
const codecs: usize = memory.data(40);

// Direction k's codec as records.ts names it: the record's name (each byte a character, as
// String.fromCharCode reads them), else the static payload type's (RFC 3551), else none;
// written as UTF-8 at `to`, its length returned (32 bytes at most).
export function codecText(k: i32, to: usize): u32 {
  const name = codecs + <usize>k * 20;
  let n: u32 = 0;
  for (let i = 0; i < 16; i++) {
    const c = <u32>load<u8>(name + i);
    if (c == 0) break;
    if (c < 0x80) {
      store<u8>(to + n++, <u8>c);
    } else {
      store<u8>(to + n++, <u8>(0xc0 | (c >> 6)));
      store<u8>(to + n++, <u8>(0x80 | (c & 0x3f)));
    }
  }
  if (n != 0) return n;
  const pt = load<u32>(name + 16);
  if (pt >= <u32>STATIC_CODECS.length) return 0;
  const s = STATIC_CODECS[pt];
  for (let i = 0; i < s.length; i++) store<u8>(to + i, <u8>s.charCodeAt(i));
  return <u32>s.length;
}

// host/core/records.ts STATIC_CODECS by payload type; "" where it has none.
const STATIC_CODECS: string[] = [
  "PCMU", "", "", "GSM", "G723", "DVI4", "DVI4", "LPC", "PCMA", "G722", "L16", "L16", "QCELP", "CN", "MPA", "G728",
  "DVI4", "DVI4", "G729",
];

// host/core/event-lines.ts stream(): the figures, milliseconds as thousandths (Math.round(x * 1000)).
function stream(e: usize, q: usize): void {
  store<f64>(e + EVR_PACKETS, load<f64>(q + Q_PACKETS));
  store<f64>(e + EVR_EXPECTED, load<f64>(q + Q_EXPECTED));
  store<f64>(e + EVR_LOST, load<f64>(q + Q_LOST));
  store<f64>(e + EVR_JITTER, jsRound(load<f64>(q + Q_JITTER) * 1000));
  store<f64>(e + EVR_MAX_JITTER, jsRound(load<f64>(q + Q_MAX_JITTER) * 1000));
  store<f64>(e + EVR_DUPLICATES, load<f64>(q + Q_DUPLICATES));
  store<f64>(e + EVR_OUT_OF_ORDER, load<f64>(q + Q_OUT_OF_ORDER));
  store<f64>(e + EVR_SSRC_CHANGES, load<f64>(q + Q_SSRC_CHANGES));
  store<f64>(e + EVR_RTCP_REPORTS, load<f64>(q + Q_RTCP_REPORTS));
  store<f64>(e + EVR_RTCP_FRACTION_LOST, jsRound(load<f64>(q + Q_RTCP_FRACTION) * 1000));
  store<f64>(e + EVR_RTCP_LOST, load<f64>(q + Q_RTCP_LOST));
  store<f64>(e + EVR_RTCP_JITTER, jsRound(load<f64>(q + Q_RTCP_JITTER) * 1000));
}

// JavaScript's Math.round: the nearest integer, halves towards +Infinity (floor(x + 0.5) is
// wrong just below a half, where x + 0.5 rounds up).
function jsRound(x: f64): f64 {
  const r = Math.floor(x);
  return x - r >= 0.5 ? r + 1 : r;
}
