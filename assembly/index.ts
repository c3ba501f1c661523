// The core's entry points. The host writes a batch of frames and their index
// into linear memory and calls push(n) once; the core decodes every frame and
// writes fixed-size result records and the bytes they point at.
import {
  FRAME_SIZE, FRAME_OFFSET, FRAME_CAPLEN, FRAME_ORIGLEN, FRAME_LINKTYPE, FRAME_TS_SEC,
  FRAME_TS_NSEC, LAYOUT_SIGNATURE, CONFIGURE_OK, CONFIGURE_NO_MEMORY, TRANSPORT_UDP,
  C_FRAMES, C_BYTES, C_TCP, C_OTHER_L4, C_NON_SIP, C_SIP_UDP, C_SIP_MALFORMED,
  C_TRAILING_BYTES, C_UDP_MULTI, C_TIME_CLAMPED,
} from "./layout";
import {
  configBase, configureRegions, regionAddress, resetOutput, recordCount, inBytes, inIndex,
  inBytesCap, maxFrames, count, reservedEnd,
} from "./state";
import { beginBatch, beginFrame, frameIndex, dstPort } from "./packet";
import { decodeLink, linkProto, linkEnd, ETH_IPV4, ETH_IPV6 } from "./link";
import { decodeIPv4, l4Proto as v4Proto, l4Base as v4Base, l4Start as v4Start, l4End as v4End, l4Cut as v4Cut } from "./ipv4";
import { decodeIPv6, l4Proto as v6Proto, l4Base as v6Base, l4Start as v6Start, l4End as v6End, l4Cut as v6Cut } from "./ipv6";
import { decodeUdp, payloadStart, payloadEnd } from "./udp";
import { configureDefrag, releaseHeld, defragReserve, defragHasRoom, doneBase, doneLen, dropPendingAtEnd } from "./defrag";
import { isTunnelPort, udpTunnel, greTunnel, ipInIp, innerType, NOT_TUNNEL } from "./tunnel";
import { tokenize, buildHeaderBuckets, TOKENIZE_NOT_SIP, TOKENIZE_MALFORMED } from "./sip";
import { emitMessage, frameFits } from "./emit";
import { buildCharClasses } from "./chars";
import { buildBase64Pairs, buildEnvelopeTables } from "./envelope";
import { configureEvents, renderEvent as renderEventAt } from "./events";
import { acceptMessage, loadFilter as loadFilterProgram, loadRecordFilter as loadRecordProgram } from "./filter";
import { configureTcp, beginStreams, streamsMustEnd, streamReserve, decodeTcp, dropHeldAtEnd } from "./tcp";
import {
  configureMedia, beginMedia, releaseAll, mediaEndsFull, mediaPacket, countUnknownRtp, readMessageMedia, mediaCount, endsCount,
} from "./media";

const PROTO_IPV4: u32 = 4;
const PROTO_TCP: u32 = 6;
const PROTO_UDP: u32 = 17;
const PROTO_IPV6: u32 = 41;
const PROTO_GRE: u32 = 47;

export function layoutSignature(): i32 {
  return LAYOUT_SIGNATURE;
}

export function simd(): bool {
  return ASC_FEATURE_SIMD;
}

export function configArea(): usize {
  return configBase;
}

export function configure(): i32 {
  let result = configureRegions();
  if (result == CONFIGURE_OK && !configureDefrag()) result = CONFIGURE_NO_MEMORY;
  if (result == CONFIGURE_OK && !configureTcp()) result = CONFIGURE_NO_MEMORY;
  if (result == CONFIGURE_OK && !configureMedia()) result = CONFIGURE_NO_MEMORY;
  if (result == CONFIGURE_OK && !configureEvents()) result = CONFIGURE_NO_MEMORY;
  if (result == CONFIGURE_OK) {
    buildHeaderBuckets();
    buildCharClasses();
    buildBase64Pairs();
    buildEnvelopeTables();
  }
  return result;
}

// Checks the filter program the host copied into R_FILTER (length in bytes, 0
// for none) and runs it on every message from now on; FILTER_* result.
export function loadFilter(length: u32): i32 {
  return loadFilterProgram(length);
}

// Checks the --record-filter program the host copied into R_FILTER at `offset`
// and marks every message it selects with REC_F_RECORD; FILTER_* result.
export function loadRecordFilter(offset: u32, length: u32): i32 {
  return loadRecordProgram(offset, length);
}

// Bytes of linear memory the configuration reserved, static data included (the host
// grows memory to its estimate first, so the memory's size no longer tells this).
export function reservedBytes(): usize {
  return reservedEnd();
}

// Renders the call event the host described at R_EVENT as a JSON line at
// R_EVENT_OUT + at; the line's bytes, or 0 when it cannot (assembly/events.ts).
export function renderEvent(at: u32): u32 {
  return renderEventAt(at);
}

// The core's call tracker (assembly/track.ts, --tracker core).
export { configureTracker, trackPush, trackFinish, trackerCounter } from "./track";
export { indexPcap, pcapStop, pcapFramesEnd } from "./pcap";

export function region(r: i32): usize {
  return regionAddress(r);
}

// Decodes up to n frames; returns how many were consumed. Fewer than n means
// the output regions filled up: the host reads the results and pushes the rest.
export function push(n: u32): u32 {
  beginBatch();
  resetOutput();
  releaseHeld();
  beginStreams();
  beginMedia();
  const frames = min(n, maxFrames);
  for (let i: u32 = 0; i < frames; i++) {
    const entry = inIndex + <usize>i * FRAME_SIZE;
    const caplen = load<u32>(entry + FRAME_CAPLEN);
    // A frame may complete a reassembled datagram larger than itself.
    // A TCP segment may complete a message held in a stream buffer.
    if (i > 0 && (streamsMustEnd() || mediaEndsFull()
      || !(frameFits(max(caplen, defragReserve()) + streamReserve()) && defragHasRoom()))) return i;
    decodeFrame(i, entry, caplen);
  }
  return frames;
}

// The frame of the batch push() was decoding when it stopped: after a trap, the
// frame that caused it (host/core/core.ts skips it and builds the core anew).
export function currentFrame(): u32 {
  return frameIndex;
}

// The payload of the last datagram reassembled (IP header left out), for tests
// and diagnostics: valid until the next push().
export function reassembledAddress(): usize {
  return doneBase;
}

export function reassembledLength(): u32 {
  return doneLen;
}

export function resultCount(): u32 {
  return recordCount;
}

// Media packet records (R_OUT_MEDIA) and stats records of calls released (R_OUT_MEDIA_ENDS) of the last push.
export function mediaResultCount(): u32 {
  return mediaCount;
}

export function mediaEndCount(): u32 {
  return endsCount;
}

// At the end of the input: the calls still in the media table leave, their stats
// records written as a push's; returns how many (call again until 0).
export function releaseMedia(): u32 {
  return releaseAll();
}

// At the end of the input: what the TCP streams hold of messages not complete, and the
// datagrams still missing fragments, are dropped, counted.
export function endInput(): void {
  dropHeldAtEnd();
  dropPendingAtEnd();
}

// The host holds a capture time as microseconds in a double: exact up to 2^53, 1684-07-28 to
// 2255-06-05. A pcapng timestamp (64-bit ticks plus a 64-bit if_tsoffset) can lie far outside
// that in a damaged or hostile file, where the host's times lost their microseconds, and past
// year 275760 its dates could not be written at all (the run stopped). Such a time is clamped to
// the nearest end, and counted, before anything reads it, so that envelopes, events and every
// timer agree on one time. Real captures fall well inside (classic pcap ends in 2106).
const FIRST_SECOND: i64 = -9007199254; // 1684-07-28T00:12:26Z: -FIRST_SECOND * 10^6 < 2^53
const LAST_SECOND: i64 = 9007199253;   // 2255-06-05T23:47:33Z: its last microsecond < 2^53
const LAST_NANOSECOND: u32 = 999999999;

function decodeFrame(i: u32, entry: usize, caplen: u32): void {
  const offset = load<u32>(entry + FRAME_OFFSET);
  // The host never writes a frame past the region; guard anyway so no index can
  // make the core read outside it.
  if (<u64>offset + <u64>caplen > <u64>inBytesCap) return;
  const origLen = load<u32>(entry + FRAME_ORIGLEN);
  count(C_FRAMES);
  count(C_BYTES, caplen);
  let sec = load<i64>(entry + FRAME_TS_SEC);
  let nsec = load<u32>(entry + FRAME_TS_NSEC);
  if (sec < FIRST_SECOND || sec > LAST_SECOND || nsec > LAST_NANOSECOND) {
    count(C_TIME_CLAMPED);
    nsec = sec < FIRST_SECOND ? 0 : LAST_NANOSECOND;
    sec = max<i64>(FIRST_SECOND, min<i64>(sec, LAST_SECOND));
  }
  beginFrame(i, sec, nsec, caplen < origLen);
  const frame = inBytes + offset;
  const at = decodeLink(frame, caplen, load<u32>(entry + FRAME_LINKTYPE));
  if (at >= 0) network(frame, linkEnd, linkProto, <u32>at);
}

// IP -> transport -> (tunnel -> IP -> transport)...: tunnel.ts bounds the nesting.
function network(base: usize, end: u32, type: u32, at: u32): void {
  if (type == ETH_IPV4) {
    if (decodeIPv4(base, end, at)) transport(v4Base, v4Proto, v4Start, v4End, v4Cut);
  } else if (decodeIPv6(base, end, at)) {
    transport(v6Base, v6Proto, v6Start, v6End, v6Cut);
  }
}

// The payload [start, end) at base, of which `cut` more bytes were not captured.
function transport(base: usize, proto: u32, start: u32, end: u32, cut: u32): void {
  if (proto == PROTO_UDP) {
    if (decodeUdp(base, start, end)) udp(base, payloadStart, payloadEnd);
  } else if (proto == PROTO_TCP) {
    count(C_TCP);
    decodeTcp(base, start, end, cut);
  } else if (proto == PROTO_GRE) {
    inner(base, end, greTunnel(base, start, end));
  } else if ((proto == PROTO_IPV4 || proto == PROTO_IPV6) && ipInIp()) {
    network(base, end, proto == PROTO_IPV4 ? ETH_IPV4 : ETH_IPV6, start);
  } else {
    count(C_OTHER_L4);
  }
}

function udp(base: usize, start: u32, end: u32): void {
  const port = dstPort;
  if (isTunnelPort(port)) {
    const at = udpTunnel(base, start, end, port);
    if (at != NOT_TUNNEL) {
      inner(base, end, at);
      return;
    }
  }
  if (!mediaPacket(base, start, end)) udpPayload(base, start, end);
}

function inner(base: usize, end: u32, at: i32): void {
  if (at >= 0) network(base, end, innerType, <u32>at);
}

// CRLFs between messages are padding, as keep-alives are on streams (RFC 5626 §3.5.1).
function skipCrlf(frame: usize, pos: u32, end: u32): u32 {
  while (pos + 2 <= end && load<u16>(frame + pos) == 0x0a0d) pos += 2;
  return pos;
}

// A datagram may carry several messages back to back, framed by Content-Length;
// bytes after the last one are counted.
function udpPayload(frame: usize, start: u32, end: u32): void {
  let pos = start;
  let messages = 0;
  while (pos < end) {
    const len = tokenize(frame + pos, end - pos, false);
    if (len == TOKENIZE_NOT_SIP) {
      if (messages == 0) notSip(frame, start, end);
      else count(C_TRAILING_BYTES, end - pos);
      return;
    }
    if (len == TOKENIZE_MALFORMED) {
      count(C_SIP_MALFORMED);
      return;
    }
    count(C_SIP_UDP);
    readMessageMedia();
    if (acceptMessage(TRANSPORT_UDP)) emitMessage(frame + pos, <u32>len, TRANSPORT_UDP);
    if (++messages == 2) count(C_UDP_MULTI);
    pos = skipCrlf(frame, pos + <u32>len, end);
  }
  if (messages == 0) notSip(frame, start, end);
}

function notSip(frame: usize, start: u32, end: u32): void {
  count(C_NON_SIP);
  countUnknownRtp(frame, start, end);
}
