// SIP tokenizer (RFC 3261 §7): checks the start line, indexes the header
// fields and finds the body. It returns offsets into the message, never copies:
// spans are (offset, length) pairs relative to the message's first byte.
import { findHeaderEndNotingLines, findLineEnd, structuralBits, lineEnds, lineEndCount, lineCount } from "./scan";
import { is, TOKEN, PARAM, LWS, DIGIT } from "./chars";
import {
  SPAN_COUNT, SPAN_METHOD, SPAN_URI, SPAN_REASON, SPAN_CALL_ID, SPAN_CSEQ_METHOD, SPAN_FROM,
  SPAN_FROM_TAG, SPAN_TO, SPAN_TO_TAG, SPAN_CONTACT, SPAN_CONTENT_TYPE,
  SPAN_USER_AGENT, SPAN_BODY, SPAN_EXPIRES, SPAN_REASON_HEADER, SPAN_SESSION_ID, SPAN_X_CID,
  SPAN_P_CHARGING_VECTOR,
  PROB_CLEN_BAD, PROB_CLEN_SHORT, PROB_NO_CALL_ID, PROB_NO_CSEQ, PROB_HEADER_OVERFLOW,
  PROB_URI_NOT_ASCII, PROB_STATUS_RANGE, PROB_NO_EMPTY_LINE,
  HEADER_NAMES, HEADER_COMPACT, H_OTHER, H_CALL_ID, H_FROM, H_TO, H_CONTACT,
  H_CONTENT_LENGTH, H_CONTENT_TYPE, H_CSEQ, H_EXPIRES, H_USER_AGENT, H_SERVER, H_REASON, H_SESSION_ID,
  H_X_CID, H_P_CHARGING_VECTOR, CFG_FLAG_DIALOG_SPANS, CFG_FLAG_ALL_FIELDS,
} from "./layout";
import { flags } from "./state";
import { splat } from "./vectors";

// ---- the message being tokenized ----
export let msgBase: usize = 0;
export let msgLen: u32 = 0;
export let isRequest = false;
export let status: u32 = 0;
export let cseq: u32 = 0;
export let expires: i32 = -1;
export let contentLength: i32 = -1;
export let problems: u32 = 0;
let startLineProblems: u32 = 0; // PROB_* bits of the start line, kept past resetFields()
export let bodyStart: u32 = 0;
export const spans: usize = memory.data(SPAN_COUNT * 8, 8);

// Header index: HDR_MAX entries of (id, name offset, name length, value offset, value length).
export const HDR_MAX: u32 = 128;
export const HDR_ENTRY: u32 = 20;
export const headerIndex: usize = memory.data(HDR_MAX * HDR_ENTRY, 8);
export let headerCount: u32 = 0;  // fields seen, may exceed HDR_MAX
let userAgentFromServer = false;

const SP: u32 = 0x20;
const HT: u32 = 0x09;

export const TOKENIZE_NOT_SIP = 0;
export const TOKENIZE_MALFORMED = -1;

// Tokenizes the message at base[0..avail). `stream` is true on TCP, where a
// missing Content-Length means no body (RFC 3261 §18.3); on UDP the body then
// runs to the end of the datagram. Returns the message length, TOKENIZE_NOT_SIP
// when the bytes do not start with a SIP start line, or TOKENIZE_MALFORMED
// when the start line is SIP but a stream's header section never ends.
//
// A datagram (or WebSocket message) whose header section has no empty line, cut
// by the snap length or sent so, is read as tshark reads it: its header fields
// run to its end and it has no body, marked PROB_NO_EMPTY_LINE. On a stream the
// rest of the section may still come.
export function tokenize(base: usize, avail: u32, stream: bool): i32 {
  msgBase = base;
  const lineEnd = startLine(base, avail);
  if (lineEnd < 0) return TOKENIZE_NOT_SIP;
  const all = (flags & CFG_FLAG_ALL_FIELDS) != 0;
  const headersEnd = findHeaderEndNotingLines(base, <u32>lineEnd, avail, <u32>lineEnd + 2, !all);
  // A message with no header fields has its CRLF CRLF at the start line's end.
  if (headersEnd < 0 && stream) return TOKENIZE_MALFORMED;
  resetFields();
  if (headersEnd < 0) {
    problems |= PROB_NO_EMPTY_LINE;
    indexHeaders(<u32>lineEnd + 2, avail, all);
    bodyStart = avail;
  } else {
    indexHeaders(<u32>lineEnd + 2, <u32>headersEnd + 2, all);
    bodyStart = <u32>headersEnd + 4;
  }
  const end = frameBody(avail, stream);
  msgLen = end;
  setSpan(SPAN_BODY, bodyStart, end - bodyStart);
  if (isRequest == false) copySpan(SPAN_CSEQ_METHOD, SPAN_METHOD);
  if (getSpanLen(SPAN_CALL_ID) == 0) problems |= PROB_NO_CALL_ID;
  if (getSpanLen(SPAN_CSEQ_METHOD) == 0 && all) problems |= PROB_NO_CSEQ;
  return <i32>end;
}

function frameBody(avail: u32, stream: bool): u32 {
  if (contentLength < 0) return stream ? bodyStart : avail;
  const end = <u64>bodyStart + <u64>contentLength;
  if (end > <u64>avail) {
    problems |= PROB_CLEN_SHORT;
    return avail;
  }
  return <u32>end;
}

function resetFields(): void {
  cseq = 0;
  expires = -1;
  contentLength = -1;
  problems = startLineProblems;
  headerCount = 0;
  userAgentFromServer = false;
}

// ---- start line (RFC 3261 §7.1, §7.2) ----

// Returns the offset of the start line's CRLF at b, or -1 when the bytes do not
// begin with one; sets the method, URI and reason spans (relative to b) and
// startLineProblems, which no caller reads after a -1 (they may be left from an
// earlier message then). Fails on the first byte that cannot belong, so binary
// payloads (RTP, DNS) cost a byte or two, not a scan for a line end. The TCP
// framer asks the same question of a stream (assembly/stream.ts).
//
// Lenient where deployed parsers are (tshark, Kamailio, PJSIP): a Request-URI
// may hold raw bytes 0x80-0xFF (unescaped UTF-8, which RFC 3261 §25.1 would
// have %-escaped) and a status code may be any 3 digits. Both are emitted with
// a problem bit. Control bytes, DEL and a missing "SIP/2.0" still refuse the line.
export function startLine(b: usize, avail: u32): i32 {
  // A method and "SIP/2.0" both begin with a token character: most payloads that are not SIP
  // (RTP, DNS, TLS) end here, before the spans are cleared.
  if (avail == 0 || !isTokenChar(load<u8>(b))) return -1;
  clearSpans();
  startLineProblems = 0;
  if (avail >= 13 && isSipVersion(b) && load<u8>(b + 7) == SP) return statusLine(b, avail);
  let i: u32 = 0;
  while (i < avail && isTokenChar(load<u8>(b + i))) i++;
  if (i == 0 || i >= avail || load<u8>(b + i) != SP) return -1;
  const methodLen = i;
  const uriStart = ++i;
  i = uriEnd(b, i, avail);
  let high: u32 = 0;
  if (ASC_FEATURE_SIMD) high = highBytes(b, uriStart, i);
  else for (let k = uriStart; k < i; k++) high |= <u32>load<u8>(b + k);
  // SP "SIP/2.0" CRLF
  if (i == uriStart || <u64>i + 10 > <u64>avail || load<u8>(b + i) != SP || !isSipVersion(b + i + 1)
    || load<u16>(b + i + 8) != 0x0a0d) return -1;
  if (high >= 0x80) startLineProblems = PROB_URI_NOT_ASCII;
  isRequest = true;
  status = 0;
  setSpan(SPAN_METHOD, 0, methodLen);
  setSpan(SPAN_URI, uriStart, i - uriStart);
  return <i32>(i + 8);
}

// With stores: memory.fill is a call out of WebAssembly into the engine, dearer than eleven
// 16-byte stores, and every message and every start line tried begins by clearing the spans.
function clearSpans(): void {
  const bytes: usize = SPAN_COUNT * 8;
  let k: usize = 0;
  if (ASC_FEATURE_SIMD) for (; k + 16 <= bytes; k += 16) v128.store(spans + k, i64x2.splat(0));
  for (; k < bytes; k += 8) store<u64>(spans + k, 0);
}

// "SIP/2.0" SP 3DIGIT SP Reason-Phrase CRLF; a bare "SIP/2.0 200" CRLF is accepted too.
// RFC 3261 §21 defines 100-699; other codes are marked PROB_STATUS_RANGE.
function statusLine(b: usize, avail: u32): i32 {
  const d0 = <u32>load<u8>(b + 8) - 0x30, d1 = <u32>load<u8>(b + 9) - 0x30, d2 = <u32>load<u8>(b + 10) - 0x30;
  if (d0 > 9 || d1 > 9 || d2 > 9) return -1;
  let end: i32;
  if (load<u16>(b + 11) == 0x0a0d) {
    end = 11;
  } else {
    if (load<u8>(b + 11) != SP) return -1;
    end = findLineEnd(b, 12, avail);
    if (end < 0) return -1;
    setSpan(SPAN_REASON, 12, <u32>end - 12);
  }
  isRequest = false;
  status = d0 * 100 + d1 * 10 + d2;
  if (status < 100 || status > 699) startLineProblems = PROB_STATUS_RANGE;
  return end;
}

// The first byte at or after `from` that ends a Request-URI (SP, a control byte or DEL), or avail.
function uriEnd(b: usize, from: u32, avail: u32): u32 {
  let i = from;
  if (ASC_FEATURE_SIMD) {
    for (; i + 16 <= avail; i += 16) {
      const v = v128.load(b + i);
      const stops = i8x16.bitmask(v128.or(i8x16.le_u(v, splat(0x20)), i8x16.eq(v, splat(0x7f))));
      if (stops != 0) return i + <u32>ctz(stops);
    }
  }
  while (i < avail) {
    const c = <u32>load<u8>(b + i);
    if (c <= SP || c == 0x7f) break;
    i++;
  }
  return i;
}

// 0x80 when a byte of [from, to) is 0x80 or above, else 0.
function highBytes(b: usize, from: u32, to: u32): u32 {
  let i = from;
  for (; i + 16 <= to; i += 16) if (i8x16.bitmask(v128.load(b + i)) != 0) return 0x80;
  let high: u32 = 0;
  for (; i < to; i++) high |= <u32>load<u8>(b + i);
  return high & 0x80;
}

function isSipVersion(p: usize): bool {
  // "SIP/2.0", the protocol name case-insensitive as RFC 3261 §7.1 allows
  return (load<u32>(p) | 0x202020) == 0x2f706973 && load<u16>(p + 4) == 0x2e32 && load<u8>(p + 6) == 0x30;
}

@inline function isTokenChar(c: u32): bool {
  return is(c, TOKEN);
}

// ---- header fields (RFC 3261 §7.3) ----

// The end of the header section being indexed: the parameter searches may load up to here.
let headerSectionEnd: u32 = 0;

function indexHeaders(start: u32, end: u32, all: bool): void {
  headerSectionEnd = end;
  if (all) return indexFields(start, end, lineEndCount);
  // Only the fields a run that follows and filters nothing reads: the Call-ID for the envelope and
  // Content-Length for framing. A section of more lines than the index holds is indexed whole, so
  // that whether its fields overflow the index (counted) is known; its noted line ends are not
  // every line's, so that walk finds each line's end itself.
  if (lineCount + 1 > HDR_MAX) return indexFields(start, end, 0);
  framingField(start, end);
  for (let k: u32 = 0; k < lineEndCount; k++) framingField(load<u32>(lineEnds + (<usize>k << 2)) + 2, end);
}

// Indexes every header field, the first `notedEnds` lines' ends taken from the header-end scan's
// notes (every line's, in order), the rest found here.
function indexFields(start: u32, end: u32, notedEnds: u32): void {
  let line = start;
  let id = -1, nameOff: u32 = 0, nameLen: u32 = 0, valOff: u32 = 0, valEnd: u32 = 0;
  let noted: u32 = 0;
  while (line < end) {
    let eol: i32;
    if (noted < notedEnds) {
      eol = <i32>load<u32>(lineEnds + (<usize>noted << 2));
      noted++;
    } else {
      eol = findLineEnd(msgBase, line, end);
    }
    if (eol < 0) eol = <i32>end;
    const c = <u32>load<u8>(msgBase + line);
    if (c == SP || c == HT) {
      // A folded line continues the previous field's value; a value that is empty until the fold
      // begins after the fold's white space (RFC 3261 §7.3.1: the fold is one SP between tokens).
      if (id >= 0) {
        if (valOff == valEnd) valOff = skipLws(line, <u32>eol);
        valEnd = <u32>eol;
      }
    } else {
      if (id >= 0) finishField(id, nameOff, nameLen, valOff, valEnd);
      id = -1;
      const colon = findColon(line, <u32>eol, end);
      if (colon >= 0) {
        nameOff = line;
        nameLen = trimRight(line, <u32>colon) - line;
        valOff = skipLws(<u32>colon + 1, <u32>eol);
        valEnd = <u32>eol;
        if (nameLen > 0) id = headerId(msgBase + nameOff, nameLen, end - nameOff);
      }
    }
    line = <u32>eol + 2;
  }
  if (id >= 0) finishField(id, nameOff, nameLen, valOff, valEnd);
}

// The line at `line`, with its folded lines, indexed if it is a Call-ID or Content-Length field, as
// indexFields would index it (a line that begins with a blank is a fold, of no field here).
function framingField(line: u32, end: u32): void {
  if (line >= end || !mayFrame(line, end)) return;
  let eol = findLineEnd(msgBase, line, end);
  if (eol < 0) eol = <i32>end;
  const colon = findColon(line, <u32>eol, end);
  const nameLen = colon < 0 ? 0 : trimRight(line, <u32>colon) - line;
  if (nameLen == 0) return;
  const id = headerId(msgBase + line, nameLen, end - line);
  if (id != H_CALL_ID && id != H_CONTENT_LENGTH) return;
  let valOff = skipLws(<u32>colon + 1, <u32>eol), valEnd = <u32>eol;
  for (let next = <u32>eol + 2; next < end; ) {
    const f = <u32>load<u8>(msgBase + next);
    if (f != SP && f != HT) break;
    let foldEnd = findLineEnd(msgBase, next, end);
    if (foldEnd < 0) foldEnd = <i32>end;
    if (valOff == valEnd) valOff = skipLws(next, <u32>foldEnd);
    valEnd = <u32>foldEnd;
    next = <u32>foldEnd + 2;
  }
  finishField(id, line, nameLen, valOff, valEnd);
}

// Whether the line at `line` may begin "Call-ID", "Content-" or the compact "i" or "l" (RFC 3261
// §7.3.3), case-insensitively: eight bytes OR 0x20 lower-case the letters (and leave '-' as it is).
@inline function mayFrame(line: u32, end: u32): bool {
  if (line + 8 > end) return true;
  const head = load<u64>(msgBase + line) | 0x2020202020202020;
  if ((head & 0xffffffffffffff) == 0x64692d6c6c6163 || head == 0x2d746e65746e6f63) return true; // "call-id", "content-"
  const first = <u32>head & 0xff, second = <u32>load<u8>(msgBase + line + 1);
  return (first == 0x69 || first == 0x6c) && (second == 0x3a || isLws(second));
}

// The first ':' in [start, end). The SIMD build looks at 16 bytes at once where
// `readable` (the header section's end) lets it load them.
function findColon(start: u32, end: u32, readable: u32): i32 {
  let i = start;
  if (ASC_FEATURE_SIMD && start + 16 <= readable) {
    const bits = i8x16.bitmask(i8x16.eq(v128.load(msgBase + start), splat(0x3a)));
    if (bits != 0) {
      const at = start + <u32>ctz(bits);
      return at < end ? <i32>at : -1;
    }
    i = min<u32>(start + 16, end);
  }
  for (; i < end; i++) if (load<u8>(msgBase + i) == 0x3a) return <i32>i;
  return -1;
}

function finishField(id: i32, nameOff: u32, nameLen: u32, valOff: u32, valEnd: u32): void {
  const valLen = trimRight(valOff, valEnd) - valOff;
  if (headerCount < HDR_MAX) {
    const e = headerIndex + <usize>headerCount * HDR_ENTRY;
    store<u32>(e, id);
    store<u32>(e, nameOff, 4);
    store<u32>(e, nameLen, 8);
    store<u32>(e, valOff, 12);
    store<u32>(e, valLen, 16);
  } else {
    problems |= PROB_HEADER_OVERFLOW;
  }
  headerCount++;
  if (id != H_OTHER) knownField(id, valOff, valLen);
}

function knownField(id: i32, off: u32, len: u32): void {
  switch (id) {
    case H_CALL_ID: firstSpan(SPAN_CALL_ID, off, len); break;
    case H_FROM: if (firstSpan(SPAN_FROM, off, len) && dialogSpans()) paramSpan(SPAN_FROM_TAG, off, off + len, 0x676174, 3) /* "tag" */; break;
    case H_TO: if (firstSpan(SPAN_TO, off, len) && dialogSpans()) paramSpan(SPAN_TO_TAG, off, off + len, 0x676174, 3); break;
    case H_CONTACT: firstSpan(SPAN_CONTACT, off, len); break;
    case H_CONTENT_TYPE: firstSpan(SPAN_CONTENT_TYPE, off, len); break;
    case H_CONTENT_LENGTH: contentLengthField(off, len); break;
    case H_CSEQ: cseqField(off, len); break;
    case H_EXPIRES: if (firstSpan(SPAN_EXPIRES, off, len)) expires = parseNumber(off, off + len); break;
    case H_USER_AGENT: userAgent(off, len, false); break;
    case H_SERVER: userAgent(off, len, true); break;
    case H_REASON: firstSpan(SPAN_REASON_HEADER, off, len); break;
    case H_SESSION_ID: firstSpan(SPAN_SESSION_ID, off, len); break;
    case H_X_CID: firstSpan(SPAN_X_CID, off, len); break;
    case H_P_CHARGING_VECTOR: firstSpan(SPAN_P_CHARGING_VECTOR, off, len); break;
  }
}

// The From and To tags are found by walking each value's parameters outside quotes and brackets,
// byte by byte, for what only the trackers, the media table and the recorder read: runs that follow
// no dialog leave them empty.
@inline function dialogSpans(): bool {
  return (flags & CFG_FLAG_DIALOG_SPANS) != 0;
}

function userAgent(off: u32, len: u32, fromServer: bool): void {
  // User-Agent wins over Server when a message has both.
  if (getSpanLen(SPAN_USER_AGENT) != 0 && !(userAgentFromServer && !fromServer)) return;
  setSpan(SPAN_USER_AGENT, off, len);
  userAgentFromServer = fromServer;
}

function contentLengthField(off: u32, len: u32): void {
  const n = parseNumber(off, off + len);
  if (n < 0 || (contentLength >= 0 && n != contentLength)) {
    problems |= PROB_CLEN_BAD;
    contentLength = -1;
    return;
  }
  if ((problems & PROB_CLEN_BAD) == 0) contentLength = n;
}

// CSeq: 1*DIGIT LWS Method (RFC 3261 §20.16)
function cseqField(off: u32, len: u32): void {
  if (getSpanLen(SPAN_CSEQ_METHOD) != 0) return;
  const end = off + len;
  let i = off;
  let n: u64 = 0;
  while (i < end && isDigit(load<u8>(msgBase + i))) {
    n = min<u64>(n * 10 + <u64>(load<u8>(msgBase + i) - 0x30), 0xffffffff);
    i++;
  }
  cseq = <u32>n;
  i = skipLws(i, end);
  const m = i;
  while (i < end && isTokenChar(load<u8>(msgBase + i))) i++;
  if (i > m) setSpan(SPAN_CSEQ_METHOD, m, i - m);
}

// Whole non-negative number with optional surrounding LWS; -1 otherwise.
// Values past 2^31-1 saturate (RFC 4475 §3.1.2.4 overlarge scalars).
function parseNumber(start: u32, end: u32): i32 {
  let i = skipLws(start, end);
  const first = i;
  let n: i64 = 0;
  while (i < end && isDigit(load<u8>(msgBase + i))) {
    n = min<i64>(n * 10 + <i64>(load<u8>(msgBase + i) - 0x30), 0x7fffffff);
    i++;
  }
  if (i == first || skipLws(i, end) != end) return -1;
  return <i32>n;
}

// Finds `;name=value` among a header value's parameters, outside quotes and <>.
// `name` is packed little-endian into a u64 (lower-case), `nameLen` bytes long.
function paramSpan(span: i32, start: u32, end: u32, name: u64, nameLen: u32): void {
  for (let i = nextOutside(start, end, 0x3b); i < end; i = nextOutside(i + 1, end, 0x3b)) {
    const valueAt = matchParam(i + 1, end, name, nameLen);
    if (valueAt >= 0) {
      let j = <u32>valueAt;
      while (j < end && isParamChar(load<u8>(msgBase + j))) j++;
      setSpan(span, <u32>valueAt, j - <u32>valueAt);
      return;
    }
  }
}

// The next `wanted` byte (';' or ',') in [start, end) that is outside quoted
// strings and <...>, or end. Starting after such a byte is starting outside
// both, so a caller can resume from there.
function nextOutside(start: u32, end: u32, wanted: u32): u32 {
  let quoted = false, angle = false;
  for (let block = start; block < end; ) {
    const size = min<u32>(16, end - block);
    let next = block + size;
    let bits = structuralBits(msgBase, block, end, headerSectionEnd);
    while (bits != 0) {
      const k = <u32>ctz(bits);
      bits &= bits - 1;
      const i = block + k;
      const c = <u32>load<u8>(msgBase + i);
      if (quoted) {
        if (c == 0x5c) {   // the escaped byte is skipped, in this block or at the next one's start
          if (k + 1 < size) bits &= ~(<u32>1 << (k + 1));
          else next = i + 2;
        } else if (c == 0x22) quoted = false;
      } else if (c == 0x22) quoted = true;
      else if (c == 0x3c) angle = true;
      else if (c == 0x3e) angle = false;
      else if (c == wanted && !angle) return i;
    }
    block = next;
  }
  return end;
}

// After a ';': LWS, the parameter name (case-insensitive), LWS, '=', LWS.
// Returns the value's offset or -1.
function matchParam(at: u32, end: u32, name: u64, nameLen: u32): i32 {
  let i = skipLws(at, end);
  if (i + nameLen > end) return -1;
  for (let k: u32 = 0; k < nameLen; k++) {
    const want = <u32>((name >> (k << 3)) & 0xff);
    if (lower(load<u8>(msgBase + i + k)) != want) return -1;
  }
  i = skipLws(i + nameLen, end);
  if (i >= end || load<u8>(msgBase + i) != 0x3d) return -1;
  return <i32>skipLws(i + 1, end);
}

@inline function isParamChar(c: u32): bool {
  return is(c, PARAM);
}

// ---- header names ----

// Buckets of known header ids by (length, first letter), built on first use:
// a name is compared in full with at most a few candidates.
const BUCKETS = 256;
const BUCKET_SLOTS = 4;
const buckets: usize = memory.data(BUCKETS * BUCKET_SLOTS);
let bucketsReady = false;

function bucketOf(len: u32, first: u32): usize {
  return buckets + <usize>(((len * 31 + first) & (BUCKETS - 1)) * BUCKET_SLOTS);
}

function addToBucket(len: u32, first: u32, id: i32): void {
  const b = bucketOf(len, first);
  for (let s = 0; s < BUCKET_SLOTS; s++) {
    if (load<u8>(b + s) == 0) {
      store<u8>(b + s, id);
      return;
    }
  }
  unreachable(); // the table above is sized so this cannot happen; a test checks
}

// The names as lower-case bytes, one 32-byte slot per id (the longest known
// name has 19), and each compact form as one byte: compared without touching
// the AssemblyScript strings on the hot path.
const NAME_SLOT: u32 = 32;
const longNames: usize = memory.data(64 * NAME_SLOT);
const longLengths: usize = memory.data(64);
const compactNames: usize = memory.data(64);

export function buildHeaderBuckets(): void {
  if (bucketsReady) return;
  // The tables above hold 64 names of up to 32 bytes; configure() traps, and
  // every test fails, if layout.ts ever lists more or longer.
  if (HEADER_NAMES.length > 64) unreachable();
  for (let id = 1; id < HEADER_NAMES.length; id++) {
    const long = HEADER_NAMES[id];
    if (<u32>long.length > NAME_SLOT) unreachable();
    store<u8>(longLengths + id, long.length);
    for (let i = 0; i < long.length; i++) store<u8>(longNames + id * NAME_SLOT + i, long.charCodeAt(i));
    addToBucket(long.length, long.charCodeAt(0), id);
    const compact = HEADER_COMPACT[id];
    if (compact.length == 1) {
      store<u8>(compactNames + id, compact.charCodeAt(0));
      addToBucket(1, compact.charCodeAt(0), id);
    }
  }
  bucketsReady = true;
}

// The id of the header name at p (`len` bytes; `readable` bytes may be loaded from p).
export function headerId(p: usize, len: u32, readable: u32): i32 {
  const first = lower(load<u8>(p));
  const b = bucketOf(len, first);
  for (let s = 0; s < BUCKET_SLOTS; s++) {
    const id = <i32>load<u8>(b + s);
    if (id == 0) return H_OTHER;
    if (len == 1) {
      if (load<u8>(compactNames + id) == first) return id;
    } else if (load<u8>(longLengths + id) == len && sameName(p, len, longNames + id * NAME_SLOT, readable)) {
      return id;
    }
  }
  return H_OTHER;
}

function sameName(p: usize, len: u32, name: usize, readable: u32): bool {
  if (ASC_FEATURE_SIMD && len <= 16 && readable >= 16) {
    // 16 bytes lowered at once (A-Z only, as lower()), compared with the name's slot.
    const v = v128.load(p);
    const upper = i8x16.lt_u(i8x16.sub(v, splat(0x41)), splat(26));
    const same = i8x16.bitmask(i8x16.eq(v128.or(v, v128.and(upper, splat(0x20))), v128.load(name)));
    const wanted = (<u32>1 << len) - 1;
    return (same & wanted) == wanted;
  }
  for (let i: u32 = 0; i < len; i++) {
    if (lower(load<u8>(p + i)) != <u32>load<u8>(name + i)) return false;
  }
  return true;
}

// ---- small helpers ----

@inline function lower(c: u32): u32 {
  return c - 0x41 < 26 ? c | 0x20 : c;
}

@inline function isDigit(c: u32): bool {
  return is(c, DIGIT);
}

@inline function isLws(c: u32): bool {
  return is(c, LWS);
}

function skipLws(i: u32, end: u32): u32 {
  while (i < end && isLws(load<u8>(msgBase + i))) i++;
  return i;
}

function trimRight(start: u32, end: u32): u32 {
  while (end > start && isLws(load<u8>(msgBase + end - 1))) end--;
  return end;
}

@inline export function setSpan(span: i32, off: u32, len: u32): void {
  store<u32>(spans + (<usize>span << 3), off);
  store<u32>(spans + (<usize>span << 3), len, 4);
}

function firstSpan(span: i32, off: u32, len: u32): bool {
  if (getSpanLen(span) != 0) return false;
  setSpan(span, off, len);
  return true;
}

function copySpan(from: i32, to: i32): void {
  store<u64>(spans + (<usize>to << 3), load<u64>(spans + (<usize>from << 3)));
}

@inline export function getSpanOff(span: i32): u32 {
  return load<u32>(spans + (<usize>span << 3));
}

@inline export function getSpanLen(span: i32): u32 {
  return load<u32>(spans + (<usize>span << 3), 4);
}
