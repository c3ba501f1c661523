// The envelope: one JSON object per SIP message, rendered straight into the
// output region (docs/envelope.md documents every field).
import {
  srcAddr, dstAddr, ipVersion, srcPort, dstPort, tsSec, tsNsec, outerSrc, outerDst, outerVersion,
  outerType, outerId, outerHasId, tunnelDepth,
} from "./packet";
import { configBase, cfg } from "./state";
import {
  CFG_SENSOR, CFG_SENSOR_LEN, CFG_AGENT, CFG_AGENT_LEN, TRANSPORT_TCP, TRANSPORT_WS, TUNNEL_NONE,
  TUNNEL_NAMES, TUNNEL_VXLAN, TUNNEL_GENEVE, TUNNEL_GRE,
} from "./layout";
import { splat } from "./vectors";

let w: usize = 0; // write cursor

// The cursor and the writers below, for the call events (assembly/events.ts).
export function setCursor(at: usize): void {
  w = at;
}

export function cursor(): usize {
  return w;
}

const HEX: usize = memory.data<u8>([
  0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
]);
const B64: usize = memory.data<u8>([
  65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90,
  97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116,
  117, 118, 119, 120, 121, 122, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 43, 47,
]);

// Upper bound of one envelope's size, for the output-space check before a frame:
// the fixed text and addresses, plus base64 of the message (4/3) and a Call-ID
// escaped at worst 6 bytes per byte (\u00XX); both are bounded by the message length.
// The "outer" object of a tunnelled message takes at most 140 of the fixed bytes.
export const ENVELOPE_FIXED_MAX: u32 = 480;
export function envelopeBound(msgLen: u32): u32 {
  return ENVELOPE_FIXED_MAX + cfg(CFG_SENSOR_LEN) + cfg(CFG_AGENT_LEN) + msgLen * 8;
}

// The fixed text between fields, encoded once at configure time; the part from
// "sensor" to "sip" never changes for a run, so it is one piece.
const FRAGMENTS: usize = memory.data(512, 16);
const FRAGMENT_SLOTS: usize = memory.data(16 * 8, 8); // (offset, length) per fragment
const F_OPEN = 0;       // {"v":1,"id":"
const F_TIME = 1;       // ","time":"
const F_SRC = 2;        // ","src":"
const F_DST = 3;        // ","dst":"
const F_UDP = 4;        // ","transport":"udp","call_id":
const F_TCP = 5;
const F_WS = 6;
const F_NULL = 7;       // null
const F_TAIL = 8;       // ,"sensor":"...","agent":"...","sip":"
const F_CLOSE = 9;      // "} and the newline
let fragmentsEnd: usize = 0;

const HEX_PAIRS: usize = memory.data(256 * 2, 2);  // byte -> two hex digits
const DECIMAL_PAIRS: usize = memory.data(100 * 2, 2); // 0-99 -> two decimal digits
const OCTETS: usize = memory.data(256 * 4, 4);     // byte -> decimal digits, count in the top byte

export function buildEnvelopeTables(): void {
  fragmentsEnd = FRAGMENTS;
  fragment(F_OPEN, "{\"v\":1,\"id\":\"");
  fragment(F_TIME, "\",\"time\":\"");
  fragment(F_SRC, "\",\"src\":\"");
  fragment(F_DST, "\",\"dst\":\"");
  fragment(F_UDP, "\",\"transport\":\"udp\",\"call_id\":");
  fragment(F_TCP, "\",\"transport\":\"tcp\",\"call_id\":");
  fragment(F_WS, "\",\"transport\":\"ws\",\"call_id\":");
  fragment(F_NULL, "null");
  const tail = fragmentsEnd;
  appendAscii(",\"sensor\":\"");
  appendBytes(configBase + CFG_SENSOR, cfg(CFG_SENSOR_LEN));
  appendAscii("\",\"agent\":\"");
  appendBytes(configBase + CFG_AGENT, cfg(CFG_AGENT_LEN));
  appendAscii("\",\"sip\":\"");
  setSlot(F_TAIL, tail, fragmentsEnd - tail);
  fragment(F_CLOSE, "\"}\n");
  for (let v: u32 = 0; v < 100; v++) store<u16>(DECIMAL_PAIRS + (v << 1), <u16>((0x30 + v / 10) | ((0x30 + v % 10) << 8)));
  for (let b: u32 = 0; b < 256; b++) {
    store<u16>(HEX_PAIRS + (b << 1), <u16>(load<u8>(HEX + (b >> 4)) | (<u32>load<u8>(HEX + (b & 15)) << 8)));
    const count: u32 = b >= 100 ? 3 : b >= 10 ? 2 : 1;
    let text: u32 = 0;
    for (let k: u32 = 0, v = b; k < count; k++, v /= 10) text |= (0x30 + v % 10) << ((count - 1 - k) << 3);
    store<u32>(OCTETS + (b << 2), text | (count << 24));
  }
}

function fragment(slot: i32, s: string): void {
  const at = fragmentsEnd;
  appendAscii(s);
  setSlot(slot, at, fragmentsEnd - at);
}

function setSlot(slot: i32, at: usize, len: usize): void {
  store<u32>(FRAGMENT_SLOTS + (<usize>slot << 3), <u32>at);
  store<u32>(FRAGMENT_SLOTS + (<usize>slot << 3), <u32>len, 4);
}

function appendAscii(s: string): void {
  for (let i = 0; i < s.length; i++) store<u8>(fragmentsEnd++, s.charCodeAt(i));
}

function appendBytes(p: usize, n: u32): void {
  memory.copy(fragmentsEnd, p, n);
  fragmentsEnd += n;
}

// Copies a fragment. Short ones move as two 16-byte words, which may write up
// to 31 bytes past the fragment: the next field overwrites them, and the
// output-space bound (envelopeBound) leaves more slack than that.
@inline function put(slot: i32): void {
  const at = <usize>load<u32>(FRAGMENT_SLOTS + (<usize>slot << 3));
  const len = <usize>load<u32>(FRAGMENT_SLOTS + (<usize>slot << 3), 4);
  if (len <= 32) {
    store<u64>(w, load<u64>(at));
    store<u64>(w, load<u64>(at, 8), 8);
    store<u64>(w, load<u64>(at, 16), 16);
    store<u64>(w, load<u64>(at, 24), 24);
  } else {
    memory.copy(w, at, len);
  }
  w += len;
}

// Renders the envelope at `out`; returns its length, not counting the newline after it.
export function renderEnvelope(out: usize, msg: usize, msgLen: u32, hash: u64, transport: u32,
  callId: usize, callIdLen: u32, hasCallId: bool): u32 {
  w = out;
  put(F_OPEN);
  hex64(hash);
  put(F_TIME);
  isoTime(tsSec, tsNsec);
  put(F_SRC);
  endpoint(srcAddr, srcPort);
  put(F_DST);
  endpoint(dstAddr, dstPort);
  put(transport == TRANSPORT_TCP ? F_TCP : transport == TRANSPORT_WS ? F_WS : F_UDP);
  if (hasCallId) {
    byte(0x22);
    jsonEscaped(callId, callIdLen);
    byte(0x22);
  } else {
    put(F_NULL);
  }
  if (outerType != TUNNEL_NONE) outer();
  put(F_TAIL);
  base64(msg, msgLen);
  put(F_CLOSE);
  return <u32>(w - out) - 1;
}

@inline export function byte(c: u32): void {
  store<u8>(w, c);
  w++;
}

export function ascii(s: string): void {
  const p = changetype<usize>(s);
  const n = s.length;
  // Eight UTF-16 units narrowed to eight bytes at a time (every literal passed here is ASCII),
  // the last eight, or four, overlapping those before them instead of a loop over the tail:
  // nothing is read past the string or written past its n bytes.
  if (ASC_FEATURE_SIMD && n >= 8) {
    for (let i = 0; i + 8 < n; i += 8) {
      const units = v128.load(p + (<usize>i << 1));
      v128.store64_lane(w + i, i8x16.narrow_i16x8_u(units, units), 0);
    }
    const last = v128.load(p + (<usize>(n - 8) << 1));
    v128.store64_lane(w + n - 8, i8x16.narrow_i16x8_u(last, last), 0);
  } else if (ASC_FEATURE_SIMD && n >= 4) {
    const head = v128.load64_zero(p), tail = v128.load64_zero(p + (<usize>(n - 4) << 1));
    v128.store32_lane(w, i8x16.narrow_i16x8_u(head, head), 0);
    v128.store32_lane(w + n - 4, i8x16.narrow_i16x8_u(tail, tail), 0);
  } else {
    for (let i = 0; i < n; i++) store<u8>(w + i, load<u16>(p + (<usize>i << 1)));
  }
  w += n;
}

function raw(p: usize, n: u32): void {
  memory.copy(w, p, n);
  w += n;
}

function hex64(v: u64): void {
  for (let i = 7; i >= 0; i--) {
    store<u16>(w + (i << 1), load<u16>(HEX_PAIRS + (<usize>(v & 0xff) << 1)));
    v >>= 8;
  }
  w += 16;
}

// v in exactly `width` decimal digits (leading zeros), two at a time from the right.
export function digits(v: u32, width: i32): void {
  let i = width;
  for (; i >= 2; i -= 2) {
    store<u16>(w + i - 2, load<u16>(DECIMAL_PAIRS + (<usize>(v % 100) << 1)));
    v /= 100;
  }
  if (i == 1) store<u8>(w, 0x30 + v % 10);
  w += width;
}

// ---- time: YYYY-MM-DDTHH:MM:SS.ffffffZ, UTC, microseconds ----

// Consecutive messages mostly fall in the same second: its "YYYY-MM-DDTHH:MM:SS"
// is rendered once and copied after that.
const SECOND_TEXT: usize = memory.data(24, 8); // 19 bytes used; copied as three words
let renderedSecond: i64 = i64.MIN_VALUE;

export function isoTime(sec: i64, nsec: u32): void {
  if (sec != renderedSecond) {
    const start = w;
    dateAndTime(sec);
    memory.copy(SECOND_TEXT, start, 19);
    renderedSecond = sec;
  } else {
    // Three words write 5 bytes past the text; the fraction overwrites them.
    store<u64>(w, load<u64>(SECOND_TEXT));
    store<u64>(w, load<u64>(SECOND_TEXT, 8), 8);
    store<u64>(w, load<u64>(SECOND_TEXT, 16), 16);
    w += 19;
  }
  byte(0x2e);
  digits(nsec / 1000, 6);
  byte(0x5a);
}

// The day's "YYYY-MM-DD" is kept too: a call's event carries the times of its start and answer,
// seconds not written before, but nearly always of a day that was.
const DAY_TEXT: usize = memory.data(16, 8); // 10 bytes used; copied as a word and a half
let renderedDay: i64 = i64.MIN_VALUE;

function dateAndTime(sec: i64): void {
  let days = sec / 86400;
  let rem = sec % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  if (days != renderedDay) {
    civilDate(days);
    store<u64>(DAY_TEXT, load<u64>(w - 10));
    store<u16>(DAY_TEXT, load<u16>(w - 2), 8);
    renderedDay = days;
  } else {
    store<u64>(w, load<u64>(DAY_TEXT));
    store<u16>(w, load<u16>(DAY_TEXT, 8), 8);
    w += 10;
  }
  byte(0x54);
  digits(<u32>(rem / 3600), 2);
  byte(0x3a);
  digits(<u32>(rem / 60 % 60), 2);
  byte(0x3a);
  digits(<u32>(rem % 60), 2);
}

// Days since 1970-01-01 to a proleptic Gregorian date, by 400-year eras
// (the civil_from_days method published by Howard Hinnant).
function civilDate(days: i64): void {
  const z = days + 719468;
  const era = (z >= 0 ? z : z - 146096) / 146097;
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const day = doy - (153 * mp + 2) / 5 + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  digits(<u32>year, 4); // 1684 to 2255: decodeFrame clamps capture times to them
  byte(0x2d);
  digits(<u32>month, 2);
  byte(0x2d);
  digits(<u32>day, 2);
}

// ---- addresses ----

function endpoint(addr: usize, port: u32): void {
  if (ipVersion == 6) {
    byte(0x5b);
    ipv6(addr);
    byte(0x5d);
  } else {
    ipv4(addr);
  }
  byte(0x3a);
  decimal(port);
}

// ,"outer":{"src":"IP","dst":"IP","type":"vxlan","vni":N,"depth":N}: id and
// depth only where the tunnel has an id and where tunnels are nested.
function outer(): void {
  ascii(",\"outer\":{\"src\":\"");
  ipText(outerSrc, outerVersion);
  ascii("\",\"dst\":\"");
  ipText(outerDst, outerVersion);
  ascii("\",\"type\":\"");
  ascii(TUNNEL_NAMES[outerType]);
  byte(0x22);
  if (outerHasId) {
    ascii(outerType == TUNNEL_VXLAN || outerType == TUNNEL_GENEVE ? ",\"vni\":"
      : outerType == TUNNEL_GRE ? ",\"key\":" : ",\"session\":");
    decimal(outerId);
  }
  if (tunnelDepth > 1) {
    ascii(",\"depth\":");
    decimal(tunnelDepth);
  }
  byte(0x7d);
}

// An IP address as text at the cursor (the event tracker's client and server too).
export function ipText(addr: usize, version: u32): void {
  if (version == 6) ipv6(addr);
  else ipv4(addr);
}

function decimal(v: u32): void {
  let width = 1;
  for (let t = v; t >= 10; t /= 10) width++;
  digits(v, width);
}

function ipv4(addr: usize): void {
  for (let i = 0; i < 4; i++) {
    if (i > 0) byte(0x2e);
    const octet = load<u32>(OCTETS + (<usize>load<u8>(addr + i) << 2));
    store<u32>(w, octet & 0xffffff);
    w += octet >> 24;
  }
}

// RFC 5952: lower-case hex, no leading zeros, the longest run of two or more
// zero groups (the first of equal runs) shortened to "::".
function ipv6(addr: usize): void {
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && group(addr, j) == 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j > i ? j : i + 1;
  }
  for (let i = 0; i < 8; i++) {
    if (i == bestAt) {
      ascii("::");
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i != bestAt + bestLen) byte(0x3a);
    hexGroup(group(addr, i));
  }
}

@inline function group(addr: usize, i: i32): u32 {
  return (<u32>load<u8>(addr + (i << 1)) << 8) | load<u8>(addr + (i << 1) + 1);
}

function hexGroup(g: u32): void {
  let started = false;
  for (let shift = 12; shift >= 0; shift -= 4) {
    const d = (g >> shift) & 15;
    if (d != 0 || started || shift == 0) {
      byte(load<u8>(HEX + d));
      started = true;
    }
  }
}

// ---- JSON string escaping (RFC 8259 §7); invalid UTF-8 becomes U+FFFD ----

function jsonEscaped(p: usize, n: u32): void {
  for (let i: u32 = 0; i < n; ) {
    if (ASC_FEATURE_SIMD && i + 16 <= n && plainBlock(p + i)) {
      v128.store(w, v128.load(p + i));
      w += 16;
      i += 16;
      continue;
    }
    const c = <u32>load<u8>(p + i);
    if (c >= 0x80) {
      const seq = utf8Length(p + i, n - i);
      if (seq == 0) {
        ascii("\\ufffd");
        i += invalidLength(p + i, n - i);
      } else {
        raw(p + i, seq);
        i += seq;
      }
      continue;
    }
    if (c == 0x22 || c == 0x5c) {
      byte(0x5c);
      byte(c);
    } else if (c < 0x20) {
      ascii("\\u00");
      byte(load<u8>(HEX + (c >> 4)));
      byte(load<u8>(HEX + (c & 15)));
    } else {
      byte(c);
    }
    i++;
  }
}

// Whether 16 bytes need no escaping: no control byte, quote, backslash or non-ASCII.
@inline function plainBlock(p: usize): bool {
  const v = v128.load(p);
  const special = v128.or(v128.or(i8x16.lt_u(v, splat(0x20)), i8x16.lt_s(v, splat(0))),
    v128.or(i8x16.eq(v, splat(0x22)), i8x16.eq(v, splat(0x5c))));
  return !v128.any_true(special);
}

// Length of the well-formed UTF-8 sequence at p (RFC 3629 §4), or 0.
function utf8Length(p: usize, avail: u32): u32 {
  const c = <u32>load<u8>(p);
  let n: u32 = 0, min: u32 = 0, cp: u32 = 0;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; min = 0x10000; }
  else return 0;
  if (n > avail) return 0;
  for (let k: u32 = 1; k < n; k++) {
    const d = <u32>load<u8>(p + k);
    if ((d & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// Bytes one U+FFFD stands for at p, where no well-formed sequence starts: the
// maximal subpart of a sequence (Unicode 15 §3.9, U+FFFD Substitution of Maximal
// Subparts), as TextDecoder and Node's Buffer decode, so that the host's strings
// and the envelope agree: a lead byte and the continuation bytes that could
// still have completed it; any other byte alone.
function invalidLength(p: usize, avail: u32): u32 {
  const c = <u32>load<u8>(p);
  let n: u32 = 0, lo: u32 = 0x80, hi: u32 = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) n = 3;
  else if (c >= 0xf0 && c <= 0xf4) n = 4;
  else return 1;
  // Table 3-7: the second byte's range narrows after E0, ED, F0 and F4.
  if (c == 0xe0) lo = 0xa0;
  else if (c == 0xed) hi = 0x9f;
  else if (c == 0xf0) lo = 0x90;
  else if (c == 0xf4) hi = 0x8f;
  let k: u32 = 1;
  while (k < n && k < avail) {
    const d = <u32>load<u8>(p + k);
    if (d < lo || d > hi) break;
    lo = 0x80;
    hi = 0xbf;
    k++;
  }
  return k;
}

// ---- base64 (RFC 4648 §4), with padding ----

// Two output characters per 12 input bits: 3 bytes become two table loads and
// one 4-byte store. The 8 KiB table is built once at configure time; the SIMD
// build uses it for the last bytes of a message only.
const B64_PAIRS: usize = memory.data(4096 * 2, 2);

export function buildBase64Pairs(): void {
  for (let v: u32 = 0; v < 4096; v++) {
    store<u16>(B64_PAIRS + (v << 1), <u16>(load<u8>(B64 + (v >> 6)) | (<u32>load<u8>(B64 + (v & 63)) << 8)));
  }
}

function base64(p: usize, n: u32): void {
  let i: u32 = ASC_FEATURE_SIMD ? base64Simd(p, n) : 0;
  for (; i + 3 <= n; i += 3) {
    const v = (<u32>load<u8>(p + i) << 16) | (<u32>load<u8>(p + i + 1) << 8) | load<u8>(p + i + 2);
    store<u32>(w, <u32>load<u16>(B64_PAIRS + ((v >> 12) << 1)) | (<u32>load<u16>(B64_PAIRS + ((v & 4095) << 1)) << 16));
    w += 4;
  }
  const rest = n - i;
  if (rest == 0) return;
  const v = (<u32>load<u8>(p + i) << 16) | (rest == 2 ? <u32>load<u8>(p + i + 1) << 8 : 0);
  byte(load<u8>(B64 + (v >> 18)));
  byte(load<u8>(B64 + ((v >> 12) & 63)));
  byte(rest == 2 ? load<u8>(B64 + ((v >> 6) & 63)) : 0x3d);
  byte(0x3d);
}


// Constants of the SIMD encoder. They are loaded from memory once per call:
// written as constants, the optimizer folds them into every use and V8 then
// rebuilds each one on every step, which halved the speed (2.2 against 4.6 GB/s).
const B64_SIMD: usize = memory.data<u8>([
  0x3f, 0, 0, 0, 0x3f, 0, 0, 0, 0x3f, 0, 0, 0, 0x3f, 0, 0, 0,   // 6-bit masks at bytes 0 and 2 of a lane
  0, 0, 0x3f, 0, 0, 0, 0x3f, 0, 0, 0, 0x3f, 0, 0, 0, 0x3f, 0,
  0xf0, 0x03, 0x3f, 0, 0xf0, 0x03, 0x3f, 0, 0xf0, 0x03, 0x3f, 0, 0xf0, 0x03, 0x3f, 0, // the bits of bytes 1 and 3
  0x10, 0, 0, 0x01, 0x10, 0, 0, 0x01, 0x10, 0, 0, 0x01, 0x10, 0, 0, 0x01, // and their shifts, 4 and 8, as multipliers
  51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, // indices 52-63 become classes 1-12
  26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, // indices below 26 become class 13
  13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
  // Offset from index to ASCII by class: 0 'a' - 26 (indices 26-51), 1-10 '0' - 52,
  // 11 '+' - 62, 12 '/' - 63, 13 'A' (indices 0-25).
  71, 252, 252, 252, 252, 252, 252, 252, 252, 252, 252, 237, 240, 65, 0, 0,
], 16);

// 12 input bytes to 16 characters per step: each 32-bit lane gets its group's
// bytes as [b1, b0, b2, b1], shifts and masks put one 6-bit index in each byte
// (bytes 1 and 3 by a 16-bit multiply, as W. Mula's method does with both),
// and each index's class (a saturating subtract and one comparison) picks its
// offset to ASCII from a 16-byte table. The output pointer is a local in the loop.
// Loads 16 bytes per step, so it stops while 16 remain; returns bytes done.
function base64Simd(p: usize, n: u32): u32 {
  const m0 = v128.load(B64_SIMD), m2 = v128.load(B64_SIMD, 16);
  const m13 = v128.load(B64_SIMD, 32), shift13 = v128.load(B64_SIMD, 48);
  const at51 = v128.load(B64_SIMD, 64), below26 = v128.load(B64_SIMD, 80), class13 = v128.load(B64_SIMD, 96);
  const offsets = v128.load(B64_SIMD, 112);
  let out = w;
  let i: u32 = 0;
  for (; i + 16 <= n; i += 12) {
    const v = v128.load(p + i);
    const x = i8x16.shuffle(v, v, 1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    const index = v128.or(
      v128.or(v128.and(i32x4.shr_u(x, 10), m0), v128.and(i32x4.shr_u(x, 6), m2)),
      i16x8.mul(v128.and(x, m13), shift13));
    const klass = v128.or(i8x16.sub_sat_u(index, at51), v128.and(i8x16.gt_s(below26, index), class13));
    v128.store(out, i8x16.add(index, i8x16.swizzle(offsets, klass)));
    out += 16;
  }
  w = out;
  return i;
}
