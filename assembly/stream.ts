// SIP framing on a byte stream (RFC 3261 §18.3): messages are cut by
// Content-Length, CRLFs between them are keep-alives (RFC 5626 §3.5.1), and
// after bad data the stream resyncs at the next line that is a SIP start line.
// The framer works on any contiguous run of stream bytes (a segment in place,
// or a flow buffer) and says how many bytes it consumed; the caller keeps the
// rest. Its state lives in the direction record `dir` (laid out below), so
// the framing is a function of the stream's bytes alone, whatever the segments.
import {
  TRANSPORT_TCP, C_SIP_TCP, C_SIP_MALFORMED, C_TCP_RESYNC, C_TCP_SKIPPED, C_TCP_TOO_LONG, C_TCP_CLEN_OVER,
  C_WS_UPGRADE, PROB_CLEN_BAD,
} from "./layout";
import { count } from "./state";
import { findHeaderEnd, findLineEnd } from "./scan";
import { tokenize, startLine, contentLength, bodyStart, problems } from "./sip";
import { emitMessage } from "./emit";
import { readMessageMedia } from "./media";
import { acceptMessage } from "./filter";
import { frameWebSocket } from "./websocket";
import {
  DIR_MODE, DIR_NEED, DIR_MID_LINE, DIR_SKIP, DIR_WS_DONE, DIR_WS_RAW,
  MODE_SYNC, MODE_RESYNC, MODE_SKIP, MODE_WS_HTTP, MODE_WS, MODE_IGNORE, setMode, streamMessageMax,
} from "./direction";

// A start line longer than this is not waited for: the bytes are junk.
const MAX_START_LINE: u32 = 8192;
const LINE_NO: i32 = 0;
const LINE_YES: i32 = 1;
const LINE_MORE: i32 = 2;

// The largest body a Content-Length may claim (CFG_MAX_BODY): a larger claim is not believed.
let bodyMax: u32 = 0xffffffff;
// Set when a WebSocket upgrade is seen, for the caller to switch the other direction.
export let upgradeSeen = false;

export function setStreamBodyMax(n: u32): void {
  bodyMax = n;
}

@inline function mode(dir: usize): u32 {
  return load<u32>(dir + DIR_MODE);
}

// Frames what it can of base[0..avail); returns the bytes consumed.
export function frameStream(dir: usize, base: usize, avail: u32): u32 {
  let pos: u32 = 0;
  while (pos < avail) {
    const m = mode(dir);
    let used: i32;
    if (m == MODE_SYNC) used = frameMessage(dir, base + pos, avail - pos);
    else if (m == MODE_RESYNC) used = resync(dir, base + pos, avail - pos);
    else if (m == MODE_SKIP) used = skip(dir, avail - pos);
    else if (m == MODE_WS) used = frameWebSocket(dir, base + pos, avail - pos);
    else if (m == MODE_WS_HTTP) used = skipHttpReply(dir, base + pos, avail - pos);
    else used = <i32>(avail - pos);
    if (used < 0) break; // more bytes needed
    pos += <u32>used;
  }
  return pos;
}

// Enters resync after bad data or a gap.
export function startResync(dir: usize, midLine: bool): void {
  count(C_TCP_RESYNC);
  setMode(dir, MODE_RESYNC);
  store<u32>(dir + DIR_MID_LINE, midLine ? 1 : 0);
}

// One message (or keep-alive CRLFs) at p; bytes consumed, or -1 to wait for more.
function frameMessage(dir: usize, p: usize, avail: u32): i32 {
  let crlf: u32 = 0;
  while (crlf + 2 <= avail && load<u16>(p + crlf) == 0x0a0d) crlf += 2;
  if (crlf > 0) return <i32>crlf;
  if (avail < 2 && load<u8>(p) == 0x0d) return -1;
  const need = load<u32>(dir + DIR_NEED);
  if (need > avail) return -1;
  const line = startLineAt(p, avail);
  if (line == LINE_MORE) return -1;
  if (line == LINE_NO) {
    if (isUpgradeStart(p, avail)) return upgrade(dir, p, avail);
    startResync(dir, false);
    return 0;
  }
  const headerEnd = findHeaderEnd(p, 0, avail);
  if (headerEnd < 0) {
    if (avail < streamMessageMax) return -1;
    startResync(dir, true);
    return 0;
  }
  const len = tokenize(p, avail, true);
  if (len <= 0) { // cannot happen after startLineAt agreed; treat as bad data
    startResync(dir, true);
    return 0;
  }
  if (contentLength >= 0) {
    if (<u32>contentLength > bodyMax) return claimTooLarge(dir);
    const total = <u64>bodyStart + <u64>contentLength;
    if (total > <u64>streamMessageMax) return tooLong(dir, total);
    if (total > <u64>avail) {
      store<u32>(dir + DIR_NEED, <u32>total);
      return -1;
    }
  }
  store<u32>(dir + DIR_NEED, 0);
  streamMessage(p, <u32>len);
  // Without a readable Content-Length the body's end is unknown: look for the next start line.
  if ((problems & PROB_CLEN_BAD) != 0) startResync(dir, false);
  return len;
}

// The capture lost the stream's bytes after p[0..avail) (the snap length cut the segment): a
// message begun there is emitted with what it holds, read as a cut datagram is (its header fields
// to the end, marked PROB_NO_EMPTY_LINE, or its body short, PROB_CLEN_SHORT; emitMessage adds
// PROB_TRUNCATED), as tshark shows it. In any mode but SYNC the bytes hold no message's start.
export function frameCut(dir: usize, p: usize, avail: u32): void {
  if (avail == 0 || mode(dir) != MODE_SYNC) return;
  const len = tokenize(p, avail, false);
  if (len > 0) streamMessage(p, <u32>len); // else the start line itself was cut, or CRLFs were all there was
}

// The message just tokenized at p, framed on a TCP stream: counted, its SDP read, emitted if the filter takes it.
function streamMessage(p: usize, len: u32): void {
  count(C_SIP_TCP);
  readMessageMedia();
  if (acceptMessage(TRANSPORT_TCP)) emitMessage(p, len, TRANSPORT_TCP);
}

// A Content-Length past the bound is a lie or an attack: skipping by it would
// swallow every message after it. The message is malformed; its header block
// is dropped and the stream resyncs at the next start line after it.
function claimTooLarge(dir: usize): i32 {
  count(C_TCP_CLEN_OVER);
  count(C_SIP_MALFORMED);
  startResync(dir, false);
  return <i32>bodyStart;
}

function tooLong(dir: usize, total: u64): i32 {
  count(C_TCP_TOO_LONG);
  setMode(dir, MODE_SKIP);
  store<u32>(dir + DIR_SKIP, <u32>min<u64>(total, 0xffffffff));
  return 0;
}

function skip(dir: usize, avail: u32): i32 {
  const left = load<u32>(dir + DIR_SKIP);
  const n = min(left, avail);
  count(C_TCP_SKIPPED, n);
  store<u32>(dir + DIR_SKIP, left - n);
  if (left == n) setMode(dir, MODE_SYNC);
  return <i32>n;
}

// Resync: discards lines until one is a SIP start line (RFC 3261 §7.1).
function resync(dir: usize, p: usize, avail: u32): i32 {
  if (load<u32>(dir + DIR_MID_LINE) != 0) return skipLine(dir, p, avail);
  const line = startLineAt(p, avail);
  if (line == LINE_MORE) return -1;
  if (line == LINE_YES) {
    setMode(dir, MODE_SYNC);
    return 0;
  }
  if (isUpgradeStart(p, avail)) {
    setMode(dir, MODE_SYNC);
    return 0;
  }
  return skipLine(dir, p, avail);
}

function skipLine(dir: usize, p: usize, avail: u32): i32 {
  let i: u32 = 0;
  while (i < avail && load<u8>(p + i) != 0x0a) i++;
  const through = i < avail;
  const n = through ? i + 1 : avail;
  store<u32>(dir + DIR_MID_LINE, through ? 0 : 1);
  count(C_TCP_SKIPPED, n);
  return <i32>n;
}

// Whether p starts a SIP start line: a Status-Line, or a token method, a URI
// and SIP/2.0 (any method token: RFC 3261 §7.1 allows extensions).
export function startLineAt(p: usize, avail: u32): i32 {
  const lineEnd = findLineEnd(p, 0, min(avail, MAX_START_LINE));
  if (lineEnd < 0) return avail >= MAX_START_LINE || !printablePrefix(p, avail) ? LINE_NO : LINE_MORE;
  return isStartLine(p, <u32>lineEnd) ? LINE_YES : LINE_NO;
}

// Whether the bytes so far could still begin a start line: no control byte or
// DEL before a final CR, and bytes 0x80-0xFF only after the first space (raw
// UTF-8 in a Request-URI or a reason phrase; never in a method or "SIP/2.0").
function printablePrefix(p: usize, avail: u32): bool {
  let spaced = false;
  for (let i: u32 = 0; i < avail; i++) {
    const c = <u32>load<u8>(p + i);
    if ((c < 0x20 || c == 0x7f || (c >= 0x80 && !spaced)) && !(c == 0x0d && i + 1 == avail)) return false;
    if (c == 0x20) spaced = true;
  }
  return true;
}

// The line [0, end) followed by its CRLF, judged by the tokenizer's own start-line check.
function isStartLine(p: usize, end: u32): bool {
  return startLine(p, end + 2) == <i32>end;
}

// ---- WebSocket upgrade (RFC 6455 §4.1, RFC 7118 §5) ----

function isUpgradeStart(p: usize, avail: u32): bool {
  return avail >= 4 && load<u32>(p) == 0x20544547; // "GET "
}

// A GET whose header section asks for "websocket": the rest of this direction
// is WebSocket frames, and the other direction's next bytes the HTTP reply.
function upgrade(dir: usize, p: usize, avail: u32): i32 {
  const headerEnd = findHeaderEnd(p, 0, avail);
  if (headerEnd < 0) {
    if (avail < MAX_START_LINE * 2) return -1;
    startResync(dir, true);
    return 0;
  }
  if (!containsWebSocket(p, <u32>headerEnd)) {
    startResync(dir, true);
    return 0;
  }
  count(C_WS_UPGRADE);
  setMode(dir, MODE_WS);
  upgradeSeen = true;
  return headerEnd + 4;
}

export function clearUpgrade(): void {
  upgradeSeen = false;
}

function containsWebSocket(p: usize, end: u32): bool {
  // "websocket", any case
  for (let i: u32 = 0; i + 9 <= end; i++) {
    if ((load<u64>(p + i) | 0x2020202020202020) == 0x656b636f73626577 && (load<u8>(p + i + 8) | 0x20) == 0x74) return true;
  }
  return false;
}

// Skips the server's "HTTP/1.1 101" reply header section.
function skipHttpReply(dir: usize, p: usize, avail: u32): i32 {
  const headerEnd = findHeaderEnd(p, 0, avail);
  if (headerEnd < 0) {
    if (avail < MAX_START_LINE * 2) return -1;
    startResync(dir, true);
    return 0;
  }
  // "HTTP/1.1 101"
  if (headerEnd >= 12 && load<u64>(p) == 0x312e312f50545448 && load<u32>(p + 8) == 0x31303120) {
    setMode(dir, MODE_WS);
    return headerEnd + 4;
  }
  startResync(dir, false);
  return 0;
}
