// What the tracker reads of one SIP message: the core's record fields and the
// spans it found, decoded to strings once. Nothing here parses SIP beyond
// taking a URI out of a name-addr the core already delimited.
import * as L from "../../assembly/layout";
import type { Endpoint, SipMessage, Transport } from "../core";

export interface Observed {
  timeUs: number;            // capture time, microseconds since the epoch
  src: Endpoint;
  dst: Endpoint;
  transport: Transport;
  isRequest: boolean;
  method: string;            // the request's method, or the CSeq method of a response (upper case)
  status: number;            // 0 for a request
  reason: string;            // response reason phrase
  callId: string;
  cseq: number;
  from: string;              // whole From value
  fromTag: string;
  to: string;
  toTag: string;
  contact: string;           // first Contact value
  expires: number;           // Expires header, -1 when absent
  userAgent: string;         // User-Agent, or Server in a response
  reasonHeader: string;      // Reason header (RFC 3326)
  xCid: string;
  sessionId: string;
  chargingVector: string;
  problems: number;          // PROB_* bits
}

export function observe(m: SipMessage): Observed {
  return {
    timeUs: m.timeSec * 1_000_000 + Math.floor(m.timeNsec / 1000),
    src: m.src,
    dst: m.dst,
    transport: m.transport,
    isRequest: m.isRequest,
    method: m.text(L.SPAN_METHOD).toUpperCase(),
    status: m.status,
    reason: m.text(L.SPAN_REASON),
    callId: m.text(L.SPAN_CALL_ID),
    cseq: m.cseq,
    from: m.text(L.SPAN_FROM),
    fromTag: m.text(L.SPAN_FROM_TAG),
    to: m.text(L.SPAN_TO),
    toTag: m.text(L.SPAN_TO_TAG),
    contact: m.text(L.SPAN_CONTACT),
    expires: m.expires,
    userAgent: m.text(L.SPAN_USER_AGENT),
    reasonHeader: m.text(L.SPAN_REASON_HEADER),
    xCid: m.text(L.SPAN_X_CID),
    sessionId: m.text(L.SPAN_SESSION_ID),
    chargingVector: m.text(L.SPAN_P_CHARGING_VECTOR),
    problems: m.problems,
  };
}

// The URI of a name-addr or addr-spec (RFC 3261 §20.10): inside <> when
// present, else up to the first ';' (header parameters follow it).
export function uriOf(value: string): string {
  const open = value.indexOf("<");
  if (open >= 0) {
    const close = value.indexOf(">", open);
    return value.slice(open + 1, close < 0 ? undefined : close).trim();
  }
  const semi = value.indexOf(";");
  return (semi < 0 ? value : value.slice(0, semi)).trim();
}

const EXPIRES_PARAM = /;\s*expires\s*=\s*(\d+)/i;

// Contact's ;expires= parameter (RFC 3261 §10.2.1.1), after the closing '>'
// of a name-addr or after the URI of an addr-spec; -1 when absent.
export function expiresParam(contact: string): number {
  const close = contact.lastIndexOf(">");
  const match = EXPIRES_PARAM.exec(close >= 0 ? contact.slice(close + 1) : contact);
  return match ? Math.min(Number(match[1]), 0x7fffffff) : -1;
}
