// SIP over WebSocket (RFC 7118): after the HTTP upgrade, each SIP message is
// one WebSocket message (RFC 6455 §5), text or binary, masked from the client,
// possibly split into a first frame and continuation frames. Payloads are
// unmasked in place and gathered at the start of the run, so the message ends
// up contiguous without a copy elsewhere; the direction record keeps how far
// that got (DIR_WS_DONE, DIR_WS_RAW) while frames are still missing.
import { TRANSPORT_WS, C_SIP_WS, C_NON_SIP, C_SIP_MALFORMED, C_WS_FRAMES, C_WS_BAD } from "./layout";
import { count } from "./state";
import { be16 } from "./packet";
import { tokenize, TOKENIZE_NOT_SIP, TOKENIZE_MALFORMED } from "./sip";
import { emitMessage } from "./emit";
import { readMessageMedia } from "./media";
import { acceptMessage } from "./filter";
import { DIR_WS_DONE, DIR_WS_RAW, MODE_IGNORE, setMode, streamMessageMax } from "./direction";

const OP_BINARY: u32 = 2;
const OP_CLOSE: u32 = 8;
const OP_PONG: u32 = 10;

// Decodes the frames at p[0..avail); returns the bytes consumed once a message
// (or a control frame outside one) is done, or -1 to wait for more bytes.
export function frameWebSocket(dir: usize, p: usize, avail: u32): i32 {
  let done = load<u32>(dir + DIR_WS_DONE);
  let raw = load<u32>(dir + DIR_WS_RAW);
  // raw is a frame end, never past streamMessageMax (2^16 and more below 2^32): raw + 10 cannot wrap.
  while (raw + 2 <= avail) {
    const b0 = <u32>load<u8>(p + raw);
    const b1 = <u32>load<u8>(p + raw + 1);
    let header: u32 = 2;
    let len: u64 = <u64>(b1 & 0x7f);
    if (len == 126) {
      if (raw + 4 > avail) break;
      len = <u64>be16(p + raw + 2);
      header = 4;
    } else if (len == 127) {
      if (raw + 10 > avail) break;
      len = bswap<u64>(load<u64>(p + raw + 2));
      header = 10;
    }
    if ((b1 & 0x80) != 0) header += 4;
    const op = b0 & 0x0f;
    // Extensions (RSV bits, e.g. permessage-deflate) and unknown opcodes cannot be read;
    // a message that could never fit a stream buffer is not waited for. The 64-bit length
    // is any value up to 2^64-1 on the wire: it is bounded alone first, so that the sum
    // cannot wrap in 64 bits, and the frame end, at most streamMessageMax, fits 32.
    if ((b0 & 0x70) != 0 || (op > OP_BINARY && op < OP_CLOSE) || op > OP_PONG
      || len > <u64>streamMessageMax || <u64>raw + <u64>header + len > <u64>streamMessageMax) return giveUp(dir, avail);
    const frameEnd = raw + header + <u32>len;
    if (frameEnd > avail) break;
    count(C_WS_FRAMES);
    const payload = p + raw + header;
    if ((b1 & 0x80) != 0) unmask(payload, <u32>len, load<u32>(payload - 4));
    raw = frameEnd;
    if (op >= OP_CLOSE) {
      if (done == 0) return finish(dir, raw); // ping, pong or close between messages
      continue;
    }
    memory.copy(p + done, payload, <usize>len);
    done += <u32>len;
    if ((b0 & 0x80) != 0) {
      message(p, done);
      return finish(dir, raw);
    }
  }
  store<u32>(dir + DIR_WS_DONE, done);
  store<u32>(dir + DIR_WS_RAW, raw);
  return -1;
}

export function resetWebSocket(dir: usize): void {
  store<u32>(dir + DIR_WS_DONE, 0);
  store<u32>(dir + DIR_WS_RAW, 0);
}

function finish(dir: usize, consumed: u32): i32 {
  resetWebSocket(dir);
  return <i32>consumed;
}

function giveUp(dir: usize, avail: u32): i32 {
  count(C_WS_BAD);
  resetWebSocket(dir);
  setMode(dir, MODE_IGNORE);
  return <i32>avail;
}

// RFC 6455 §5.3: byte i of the payload is XORed with byte i % 4 of the key.
function unmask(p: usize, len: u32, key: u32): void {
  let i: u32 = 0;
  for (; i + 4 <= len; i += 4) store<u32>(p + i, load<u32>(p + i) ^ key);
  for (; i < len; i++) store<u8>(p + i, load<u8>(p + i) ^ <u8>(key >> ((i & 3) << 3)));
}

// The WebSocket message frames the SIP message: the body runs to its end (RFC 7118 §6).
function message(p: usize, len: u32): void {
  if (len == 0) return;
  const n = tokenize(p, len, false);
  if (n == TOKENIZE_NOT_SIP) {
    count(C_NON_SIP);
    return;
  }
  if (n == TOKENIZE_MALFORMED) {
    count(C_SIP_MALFORMED);
    return;
  }
  count(C_SIP_WS);
  readMessageMedia();
  if (acceptMessage(TRANSPORT_WS)) emitMessage(p, <u32>n, TRANSPORT_WS);
}
