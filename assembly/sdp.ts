// SDP (RFC 4566) of the message just tokenized: where its first audio stream
// wants to receive (c=, m=, a=rtcp), its payload types (a=rtpmap) and its
// direction. The SDP is the body (Content-Type application/sdp) or the
// application/sdp part of a multipart body (RFC 2046 §5.1, as SIP-I sends ISUP
// beside the SDP, RFC 3204). Lines end in CRLF or a bare LF (RFC 4566 §5).
// Nothing is copied: spans point into the message; a line that cannot be read is
// skipped and marked SDP_F_MALFORMED, the rest is still used.
import {
  SPAN_CONTENT_TYPE, SPAN_BODY, SPAN_SDP, SPAN_SDP_CODEC, SDP_F_PRESENT, SDP_F_IPV6, SDP_F_SENDRECV,
  SDP_F_SENDONLY, SDP_F_RECVONLY, SDP_F_INACTIVE, SDP_F_MALFORMED, SDP_F_NO_ADDR, SDP_F_HOLD,
  C_SDP, C_SDP_MALFORMED,
} from "./layout";
import { msgBase, getSpanOff, getSpanLen, setSpan } from "./sip";
import { splat } from "./vectors";
import { count } from "./state";

export let sdpFlags: u32 = 0;        // SDP_F_*; 0 when the message has no SDP
export const sdpAddr: usize = memory.data(16, 8);
export let sdpPort: u32 = 0;
export let sdpRtcpPort: u32 = 0;
export let sdpPt: u32 = 0xffffffff;
export let sdpClock: u32 = 0;
export let sdpMediaCount: u32 = 0;

// a=rtpmap of the first audio stream: payload type, clock rate, encoding name span.
export const MAP_MAX: u32 = 8;
export const MAP_ENTRY: u32 = 16;
export const sdpMaps: usize = memory.data(MAP_MAX * MAP_ENTRY, 8);
export let sdpMapCount: u32 = 0;

const sessionAddr: usize = memory.data(16, 8);
let sessionAddrVersion: u32 = 0;
let mediaAddrVersion: u32 = 0;     // c= of the first audio m= section, 0 when it has none
let sessionDirection: u32 = 0;
let mediaDirection: u32 = 0;
let inAudio = false;               // reading the first audio m= section
let audioSeen = false;
let rtcpGiven = false;

const LF: u32 = 0x0a;
const CR: u32 = 0x0d;

// The message's SDP left unread: the record says it has none.
export function noSdp(): void {
  sdpFlags = 0;
}

export function readSdp(): void {
  sdpFlags = 0;
  const bodyLen = getSpanLen(SPAN_BODY);
  if (bodyLen == 0) return;
  const ctOff = getSpanOff(SPAN_CONTENT_TYPE), ctLen = getSpanLen(SPAN_CONTENT_TYPE);
  const bodyOff = getSpanOff(SPAN_BODY);
  if (startsWithLower(ctOff, ctLen, "application/sdp")) {
    parse(bodyOff, bodyOff + bodyLen);
  } else if (startsWithLower(ctOff, ctLen, "multipart/")) {
    sdpPart(ctOff, ctOff + ctLen, bodyOff, bodyOff + bodyLen);
  }
}

// ---- multipart (RFC 2046 §5.1.1) ----

// Finds boundary= in the Content-Type, then the part whose own Content-Type is application/sdp.
function sdpPart(ctStart: u32, ctEnd: u32, start: u32, end: u32): void {
  const b = findParam(ctStart, ctEnd);
  if (b < 0) return;
  let bStart = <u32>b, bEnd = bStart;
  if (bStart < ctEnd && byte(bStart) == 0x22) {
    bStart++;
    bEnd = bStart;
    while (bEnd < ctEnd && byte(bEnd) != 0x22) bEnd++;
  } else {
    while (bEnd < ctEnd && byte(bEnd) != 0x3b && byte(bEnd) > 0x20) bEnd++;
  }
  const bLen = bEnd - bStart;
  if (bLen == 0 || bLen > 70) return; // RFC 2046 §5.1.1: 1 to 70 characters
  let at = findDelimiter(start, end, bStart, bLen);
  while (at >= 0) {
    const partStart = skipLine(<u32>at + 2 + bLen, end);
    const next = findDelimiter(partStart, end, bStart, bLen);
    const partEnd = next < 0 ? end : lineBreakBefore(<u32>next, partStart);
    if (partIsSdp(partStart, partEnd)) return;
    at = next;
  }
}

// "boundary=" in a Content-Type's parameters: the value's offset, or -1.
function findParam(start: u32, end: u32): i32 {
  for (let i = start; i + 9 <= end; i++) {
    if (byte(i) == 0x3b) {
      let j = i + 1;
      while (j < end && (byte(j) == 0x20 || byte(j) == 0x09)) j++;
      if (startsWithLower(j, end - j, "boundary=")) return <i32>(j + 9);
    }
  }
  return -1;
}

// "--boundary" at the start of a line in [from, end): its offset, or -1.
function findDelimiter(from: u32, end: u32, bStart: u32, bLen: u32): i32 {
  for (let i = from; <u64>i + 2 + <u64>bLen <= <u64>end; i++) {
    if (byte(i) != 0x2d || byte(i + 1) != 0x2d) continue;
    if (i > from && byte(i - 1) != LF) continue;
    if (sameBytes(i + 2, bStart, bLen)) return <i32>i;
  }
  return -1;
}

// The CRLF (or LF) before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
function lineBreakBefore(at: u32, floor: u32): u32 {
  if (at > floor && byte(at - 1) == LF) at--;
  if (at > floor && byte(at - 1) == CR) at--;
  return at;
}

// A part's headers up to an empty line; when its Content-Type is application/sdp, its body is read.
function partIsSdp(start: u32, end: u32): bool {
  let line = start;
  let isSdp = false;
  while (line < end) {
    const lf = lfAt(line, end);
    const eol = withoutCr(line, lf);
    const next = lf < end ? lf + 1 : end;
    if (eol == line) return isSdp ? parseAndTrue(next, end) : false;
    if (startsWithLower(line, eol - line, "content-type:")) {
      let v = line + 13;
      while (v < eol && (byte(v) == 0x20 || byte(v) == 0x09)) v++;
      isSdp = startsWithLower(v, eol - v, "application/sdp");
    }
    line = next;
  }
  return false;
}

function parseAndTrue(start: u32, end: u32): bool {
  parse(start, end);
  return true;
}

// ---- SDP lines ----

function parse(start: u32, end: u32): void {
  sdpFlags = SDP_F_PRESENT;
  sdpPort = 0;
  sdpRtcpPort = 0;
  sdpPt = 0xffffffff;
  sdpClock = 0;
  sdpMediaCount = 0;
  sdpMapCount = 0;
  sessionAddrVersion = 0;
  mediaAddrVersion = 0;
  sessionDirection = 0;
  mediaDirection = 0;
  inAudio = false;
  audioSeen = false;
  rtcpGiven = false;
  store<u64>(sdpAddr, 0);
  store<u64>(sdpAddr, 0, 8);
  setSpan(SPAN_SDP, start, end - start);
  let line = start;
  while (line < end) {
    const lf = lfAt(line, end);
    const eol = withoutCr(line, lf);
    if (eol - line >= 2 && byte(line + 1) == 0x3d) sdpLine(byte(line), line + 2, eol);
    line = lf < end ? lf + 1 : end;
  }
  finish();
  count(C_SDP);
  if (sdpFlags & SDP_F_MALFORMED) count(C_SDP_MALFORMED);
}

function sdpLine(type: u32, v: u32, end: u32): void {
  if (type == 0x6d) mediaLine(v, end);               // m=
  else if (type == 0x63) connectionLine(v, end);     // c=
  else if (type == 0x61) attributeLine(v, end);      // a=
}

function finish(): void {
  if (!audioSeen) return;
  if (mediaAddrVersion == 0) {
    if (sessionAddrVersion == 0) sdpFlags |= SDP_F_NO_ADDR;
    else {
      memory.copy(sdpAddr, sessionAddr, 16);
      mediaAddrVersion = sessionAddrVersion;
    }
  }
  if (mediaAddrVersion == 6) sdpFlags |= SDP_F_IPV6;
  else if (mediaAddrVersion == 4 && load<u32>(sdpAddr) == 0) sdpFlags |= SDP_F_HOLD;
  const direction = mediaDirection != 0 ? mediaDirection : sessionDirection;
  sdpFlags |= direction != 0 ? direction : SDP_F_SENDRECV;
  if (!rtcpGiven && sdpPort != 0) sdpRtcpPort = (sdpPort + 1) & 0xffff;
  if (sdpPt != 0xffffffff) clockOfFirst();
}

// m=<media> <port>[/<count>] <proto> <fmt> ... (RFC 4566 §5.14)
function mediaLine(v: u32, end: u32): void {
  sdpMediaCount++;
  inAudio = false;
  if (audioSeen || !startsWithLower(v, end - v, "audio ")) return;
  audioSeen = true;
  inAudio = true;
  let i = v + 6;
  const port = number(i, end);
  if (port < 0 || port > 65535) {
    sdpFlags |= SDP_F_MALFORMED;
    return;
  }
  sdpPort = <u32>port;
  i = skipWord(i, end);  // port[/count]
  i = skipWord(i, end);  // proto
  const pt = number(i, end);
  if (pt >= 0 && pt <= 127) sdpPt = <u32>pt;
}

// c=IN IP4 <address>[/ttl] | c=IN IP6 <address> (RFC 4566 §5.7)
function connectionLine(v: u32, end: u32): void {
  if (sdpMediaCount > 0 && !inAudio) return; // another m= section's own address
  // "IN IP4 " or "IN IP6 ": 7 bytes before the address
  if (end - v < 7 || !startsWithLower(v, end - v, "in ip") || byte(v + 6) != 0x20) {
    sdpFlags |= SDP_F_MALFORMED;
    return;
  }
  const version = byte(v + 5);
  const at = v + 7;
  const target = inAudio ? sdpAddr : sessionAddr;
  let ok = false;
  if (version == 0x34) ok = parseIPv4(at, end, target);
  else if (version == 0x36) ok = parseIPv6(at, end, target);
  if (!ok) {
    sdpFlags |= SDP_F_MALFORMED;
    return;
  }
  const parsed: u32 = version == 0x34 ? 4 : 6;
  if (inAudio) mediaAddrVersion = parsed;
  else sessionAddrVersion = parsed;
}

function attributeLine(v: u32, end: u32): void {
  const direction = directionOf(v, end);
  if (direction != 0) {
    if (inAudio) mediaDirection = direction;
    else if (sdpMediaCount == 0) sessionDirection = direction;
    return;
  }
  if (!inAudio) return;
  if (startsWithLower(v, end - v, "rtpmap:")) rtpmap(v + 7, end);
  else if (startsWithLower(v, end - v, "rtcp:")) rtcpAttribute(v + 5, end);
}

function directionOf(v: u32, end: u32): u32 {
  const len = end - v;
  if (len == 8 && startsWithLower(v, len, "sendrecv")) return SDP_F_SENDRECV;
  if (len == 8 && startsWithLower(v, len, "sendonly")) return SDP_F_SENDONLY;
  if (len == 8 && startsWithLower(v, len, "recvonly")) return SDP_F_RECVONLY;
  if (len == 8 && startsWithLower(v, len, "inactive")) return SDP_F_INACTIVE;
  return 0;
}

// a=rtpmap:<payload type> <encoding name>/<clock rate>[/<parameters>] (RFC 4566 §6)
function rtpmap(v: u32, end: u32): void {
  const pt = number(v, end);
  let i = skipWord(v, end);
  const nameStart = i;
  while (i < end && byte(i) != 0x2f && byte(i) > 0x20) i++;
  const rate = i < end && byte(i) == 0x2f ? number(i + 1, end) : -1;
  if (pt < 0 || pt > 127 || rate <= 0 || i == nameStart) {
    sdpFlags |= SDP_F_MALFORMED;
    return;
  }
  if (sdpMapCount >= MAP_MAX) return;
  const e = sdpMaps + <usize>sdpMapCount * MAP_ENTRY;
  store<u32>(e, <u32>pt);
  store<u32>(e, <u32>rate, 4);
  store<u32>(e, nameStart, 8);
  store<u32>(e, i - nameStart, 12);
  sdpMapCount++;
}

// a=rtcp:<port> [IN IP4 <address>] (RFC 3605); only the port is used.
function rtcpAttribute(v: u32, end: u32): void {
  const port = number(v, end);
  if (port <= 0 || port > 65535) {
    sdpFlags |= SDP_F_MALFORMED;
    return;
  }
  sdpRtcpPort = <u32>port;
  rtcpGiven = true;
}

function clockOfFirst(): void {
  for (let k: u32 = 0; k < sdpMapCount; k++) {
    const e = sdpMaps + <usize>k * MAP_ENTRY;
    if (load<u32>(e) == sdpPt) {
      sdpClock = load<u32>(e, 4);
      setSpan(SPAN_SDP_CODEC, load<u32>(e, 8), load<u32>(e, 12));
      return;
    }
  }
  sdpClock = staticClock(sdpPt);
}

// RFC 3551 §6, Table 4 and 5: the clock rates of the static payload types; 0 for unassigned or dynamic.
export function staticClock(pt: u32): u32 {
  if (pt <= 5 || pt == 7 || pt == 8 || pt == 9 || pt == 12 || pt == 13 || pt == 15 || pt == 18) return 8000;
  if (pt == 6) return 16000;
  if (pt == 10 || pt == 11) return 44100;
  if (pt == 16) return 11025;
  if (pt == 17) return 22050;
  if (pt == 14 || pt == 25 || pt == 26 || pt == 28 || (pt >= 31 && pt <= 34)) return 90000;
  return 0;
}

// ---- addresses ----

// Dotted quad, then end of line, "/" (TTL) or white space.
function parseIPv4(at: u32, end: u32, out: usize): bool {
  let value: u32 = 0;
  let i = at;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= end || byte(i) != 0x2e) return false;
      i++;
    }
    const start = i;
    let n: u32 = 0;
    while (i < end && i - start < 3 && isDigit(byte(i))) n = n * 10 + byte(i++) - 0x30;
    if (i == start || n > 255) return false;
    value |= n << (part << 3);
  }
  if (i < end && byte(i) != 0x2f && byte(i) > 0x20) return false;
  store<u64>(out, <u64>value);
  store<u64>(out, 0, 8);
  return true;
}

// RFC 4291 §2.2 text form: up to eight 16-bit hex groups, one "::"; no embedded IPv4.
function parseIPv6(at: u32, end: u32, out: usize): bool {
  let stop = at;
  while (stop < end && byte(stop) > 0x20 && byte(stop) != 0x2f) stop++;
  const groups = memory.data(16, 8);
  store<u64>(groups, 0);
  store<u64>(groups, 0, 8);
  let n: u32 = 0, gap: i32 = -1;
  let i = at;
  if (stop - at >= 2 && byte(i) == 0x3a && byte(i + 1) == 0x3a) {
    gap = 0;
    i += 2;
  }
  while (i < stop) {
    const start = i;
    let value: u32 = 0;
    while (i < stop && i - start < 4 && hexValue(byte(i)) >= 0) value = (value << 4) | <u32>hexValue(byte(i++));
    if (i == start || n >= 8) return false;
    store<u16>(groups + (<usize>n << 1), <u16>value);
    n++;
    if (i == stop) break;
    if (byte(i) != 0x3a) return false;
    i++;
    if (i < stop && byte(i) == 0x3a) {
      if (gap >= 0) return false;
      gap = <i32>n;
      i++;
    } else if (i == stop) return false;
  }
  if (gap < 0 ? n != 8 : n > 7) return false;
  placeGroups(groups, n, gap, out);
  return true;
}

// Groups before the "::" at the start, those after it at the end; network byte order.
function placeGroups(groups: usize, n: u32, gap: i32, out: usize): void {
  store<u64>(out, 0);
  store<u64>(out, 0, 8);
  const tail = gap < 0 ? 0 : n - <u32>gap;
  for (let k: u32 = 0; k < n; k++) {
    const slot = gap < 0 || k < <u32>gap ? k : 8 - tail + (k - <u32>gap);
    const g = <u32>load<u16>(groups + (<usize>k << 1));
    store<u8>(out + (<usize>slot << 1), <u8>(g >> 8));
    store<u8>(out + (<usize>slot << 1) + 1, <u8>g);
  }
}

// ---- small helpers ----

@inline function byte(i: u32): u32 {
  return <u32>load<u8>(msgBase + i);
}

@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

function hexValue(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  const l = c | 0x20;
  if (l - 0x61 < 6) return <i32>(l - 0x61 + 10);
  return -1;
}

// Digits at i (at most 9, so no overflow); -1 when there are none.
function number(i: u32, end: u32): i32 {
  const start = i;
  let n: i32 = 0;
  while (i < end && i - start < 9 && isDigit(byte(i))) n = n * 10 + <i32>(byte(i++) - 0x30);
  return i == start ? -1 : n;
}

// Past the word at i and the spaces after it.
function skipWord(i: u32, end: u32): u32 {
  while (i < end && byte(i) != 0x20) i++;
  while (i < end && byte(i) == 0x20) i++;
  return i;
}

function skipLine(line: u32, end: u32): u32 {
  const lf = lfAt(line, end);
  return lf < end ? lf + 1 : end;
}

// A line's end before its LF (or `end`) with the CR before it left out.
@inline function withoutCr(line: u32, lf: u32): u32 {
  return lf > line && byte(lf - 1) == CR ? lf - 1 : lf;
}

// The first LF in [at, end), or `end`. With SIMD, sixteen bytes a step while sixteen are
// left (no load past `end`), the rest a byte at a time: a line is read once, not byte by byte twice.
function lfAt(at: u32, end: u32): u32 {
  let i = at;
  if (ASC_FEATURE_SIMD) {
    const lf = splat(LF);
    while (<u64>i + 16 <= <u64>end) {
      const bits = i8x16.bitmask(i8x16.eq(v128.load(msgBase + i), lf));
      if (bits != 0) return i + <u32>ctz(bits);
      i += 16;
    }
  }
  while (i < end && byte(i) != LF) i++;
  return i;
}

function startsWithLower(at: u32, len: u32, text: string): bool {
  const n = <u32>text.length;
  if (len < n) return false;
  for (let k: u32 = 0; k < n; k++) {
    let c = byte(at + k);
    if (c - 0x41 < 26) c |= 0x20;
    if (c != <u32>text.charCodeAt(k)) return false;
  }
  return true;
}

function sameBytes(a: u32, b: u32, len: u32): bool {
  for (let k: u32 = 0; k < len; k++) if (byte(a + k) != byte(b + k)) return false;
  return true;
}
