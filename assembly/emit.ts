// Emits one tokenized SIP message: a result record pointing at its bytes
// (which stay in place until the next push) and its envelope.
import {
  REC_FRAME, REC_FLAGS, REC_TS_SEC, REC_TS_NSEC, REC_STATUS, REC_HASH, REC_MSG_ADDR, REC_MSG_LEN,
  REC_JSON_OFF, REC_JSON_LEN, REC_SRC_ADDR, REC_DST_ADDR, REC_SRC_PORT, REC_DST_PORT, REC_CSEQ,
  REC_EXPIRES, REC_CLEN, REC_SPANS, REC_HEADER_COUNT, REC_PROBLEMS, REC_F_REQUEST, REC_F_IPV6,
  SPAN_COUNT, SPAN_BASE_COUNT, REC_SPANS_MORE, SPAN_CALL_ID, CFG_FLAG_RENDER_JSON, CFG_FLAG_CALL_KEYS,
  REC_OUTER_SRC, REC_OUTER_DST, REC_OUTER_TYPE, REC_OUTER_ID, REC_OUTER_DEPTH, REC_F_OUTER_IPV6,
  REC_F_OUTER_ID, REC_F_RECORD, REC_SDP_FLAGS, REC_SDP_ADDR, REC_SDP_PORT, REC_SDP_RTCP_PORT, REC_SDP_PT, REC_SDP_CLOCK,
  REC_SDP_MEDIA, REC_SDP_CALL, REC_CALL_KEY,
  PROB_CLEN_BAD, PROB_CLEN_SHORT, PROB_HEADER_OVERFLOW, PROB_TRUNCATED, PROB_URI_NOT_ASCII, PROB_STATUS_RANGE, PROB_NO_EMPTY_LINE,
  C_OUT_OVERFLOW, C_CLEN_BAD, C_CLEN_SHORT, C_HEADER_OVERFLOW, C_TRUNCATED, C_URI_NOT_ASCII, C_STATUS_RANGE, C_NO_EMPTY_LINE,
} from "./layout";
import {
  recordCount, maxRecords, outJsonUsed, outJsonCap, flags, outJson, claimRecord, jsonCursor,
  commitJson, count,
} from "./state";
import {
  frameIndex, tsSec, tsNsec, srcAddr, dstAddr, srcPort, dstPort, ipVersion, truncated, outerSrc,
  outerDst, outerVersion, outerType, outerId, outerHasId, tunnelDepth,
} from "./packet";
import {
  isRequest, status, cseq, expires, contentLength, problems, spans, headerCount,
  getSpanOff, getSpanLen,
} from "./sip";
import { signature } from "./hash";
import { recordMatched } from "./filter";
import { sdpFlags, sdpAddr, sdpPort, sdpRtcpPort, sdpPt, sdpClock, sdpMediaCount } from "./sdp";
import { sdpCall } from "./media";
import { renderEnvelope, envelopeBound } from "./envelope";

export function emitMessage(msg: usize, len: u32, transport: u32): void {
  const renderJson = (flags & CFG_FLAG_RENDER_JSON) != 0;
  if (recordCount >= maxRecords
    || (renderJson && outJsonUsed + envelopeBound(len) + 1 > outJsonCap)) {
    count(C_OUT_OVERFLOW);
    return;
  }
  let found = problems;
  if (truncated) found |= PROB_TRUNCATED;
  countProblems(found);
  const rec = claimRecord();
  // The message's signature is the envelope's id and read nowhere else: without envelopes, not made.
  const hash: u64 = renderJson ? signature(msg, len) : 0;
  store<u32>(rec + REC_FRAME, frameIndex);
  store<u32>(rec + REC_FLAGS, transport | (isRequest ? REC_F_REQUEST : 0) | (ipVersion == 6 ? REC_F_IPV6 : 0)
    | (outerVersion == 6 ? REC_F_OUTER_IPV6 : 0) | (outerHasId ? REC_F_OUTER_ID : 0) | (recordMatched ? REC_F_RECORD : 0));
  store<i64>(rec + REC_TS_SEC, tsSec);
  store<u32>(rec + REC_TS_NSEC, tsNsec);
  store<u32>(rec + REC_STATUS, status);
  store<u64>(rec + REC_HASH, hash);
  // The Call-ID's signature keys calls where something follows them: without it, not made.
  const callIdLen = getSpanLen(SPAN_CALL_ID);
  const keyed = callIdLen != 0 && (flags & CFG_FLAG_CALL_KEYS) != 0;
  store<u64>(rec + REC_CALL_KEY, keyed ? signature(msg + getSpanOff(SPAN_CALL_ID), callIdLen) : 0);
  store<u32>(rec + REC_MSG_ADDR, <u32>msg);
  store<u32>(rec + REC_MSG_LEN, len);
  copyWords(rec + REC_SRC_ADDR, srcAddr, 2);
  copyWords(rec + REC_DST_ADDR, dstAddr, 2);
  store<u16>(rec + REC_SRC_PORT, <u16>srcPort);
  store<u16>(rec + REC_DST_PORT, <u16>dstPort);
  store<u32>(rec + REC_CSEQ, cseq);
  store<i32>(rec + REC_EXPIRES, expires);
  store<i32>(rec + REC_CLEN, contentLength);
  copyWords(rec + REC_SPANS, spans, SPAN_BASE_COUNT);
  copyWords(rec + REC_SPANS_MORE, spans + SPAN_BASE_COUNT * 8, SPAN_COUNT - SPAN_BASE_COUNT);
  store<u32>(rec + REC_HEADER_COUNT, headerCount);
  store<u32>(rec + REC_PROBLEMS, found);
  writeOuter(rec);
  writeSdp(rec);
  if (!renderJson) {
    store<u32>(rec + REC_JSON_OFF, 0);
    store<u32>(rec + REC_JSON_LEN, 0);
    return;
  }
  const at = jsonCursor();
  const jsonLen = renderEnvelope(at, msg, len, hash, transport,
    msg + getSpanOff(SPAN_CALL_ID), getSpanLen(SPAN_CALL_ID), getSpanLen(SPAN_CALL_ID) != 0);
  store<u32>(rec + REC_JSON_OFF, <u32>(at - outJson));
  store<u32>(rec + REC_JSON_LEN, jsonLen);
  commitJson(jsonLen + 1);
}

// Small fixed copies as 8-byte moves: memory.copy is a call into the engine,
// which costs more than the few words these move.
@inline function copyWords(to: usize, from: usize, words: i32): void {
  for (let i = 0; i < words; i++) store<u64>(to + (<usize>i << 3), load<u64>(from + (<usize>i << 3)));
}

function writeOuter(rec: usize): void {
  store<u32>(rec + REC_OUTER_TYPE, outerType);
  store<u32>(rec + REC_OUTER_DEPTH, tunnelDepth);
  if (outerType == 0) return;
  copyWords(rec + REC_OUTER_SRC, outerSrc, 2);
  copyWords(rec + REC_OUTER_DST, outerDst, 2);
  store<u32>(rec + REC_OUTER_ID, outerId);
}

function writeSdp(rec: usize): void {
  store<u32>(rec + REC_SDP_FLAGS, sdpFlags);
  if (sdpFlags == 0) return;
  copyWords(rec + REC_SDP_ADDR, sdpAddr, 2);
  store<u16>(rec + REC_SDP_PORT, <u16>sdpPort);
  store<u16>(rec + REC_SDP_RTCP_PORT, <u16>sdpRtcpPort);
  store<u32>(rec + REC_SDP_PT, sdpPt);
  store<u32>(rec + REC_SDP_CLOCK, sdpClock);
  store<u32>(rec + REC_SDP_MEDIA, sdpMediaCount);
  store<u32>(rec + REC_SDP_CALL, sdpCall);
}

function countProblems(found: u32): void {
  if (found & PROB_CLEN_BAD) count(C_CLEN_BAD);
  if (found & PROB_CLEN_SHORT) count(C_CLEN_SHORT);
  if (found & PROB_HEADER_OVERFLOW) count(C_HEADER_OVERFLOW);
  if (found & PROB_TRUNCATED) count(C_TRUNCATED);
  if (found & PROB_URI_NOT_ASCII) count(C_URI_NOT_ASCII);
  if (found & PROB_STATUS_RANGE) count(C_STATUS_RANGE);
  if (found & PROB_NO_EMPTY_LINE) count(C_NO_EMPTY_LINE);
}

// Whether a frame of `caplen` bytes is sure to fit in what is left of the
// batch's output: at most one message per 15 bytes (the shortest start line
// plus CRLF CRLF), each with an envelope.
export function frameFits(caplen: u32): bool {
  const messages = caplen / 15 + 1;
  if (recordCount + messages > maxRecords) return false;
  if ((flags & CFG_FLAG_RENDER_JSON) == 0) return true;
  return <u64>outJsonUsed + <u64>messages * <u64>(envelopeBound(0) + 1) + <u64>caplen * 8 <= <u64>outJsonCap;
}
