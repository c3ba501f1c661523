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

// The fields every message needs are read at once; the rest (only a new call,
// transaction or binding needs them) when first asked for. Valid while the
// batch the message came in is.
class ObservedMessage implements Observed {
  readonly timeUs: number;
  readonly method: string;
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag: string;

  constructor(private readonly m: SipMessage) {
    this.timeUs = m.timeSec * 1_000_000 + Math.floor(m.timeNsec / 1000);
    this.method = this.span(L.SPAN_METHOD).toUpperCase();
    this.callId = this.span(L.SPAN_CALL_ID);
    this.fromTag = this.span(L.SPAN_FROM_TAG);
    this.toTag = this.span(L.SPAN_TO_TAG);
  }

  private span(which: number): string {
    return this.m.has(which) ? this.m.text(which) : "";
  }

  get src(): Endpoint { return this.m.src; }
  get dst(): Endpoint { return this.m.dst; }
  get transport(): Transport { return this.m.transport; }
  get isRequest(): boolean { return this.m.isRequest; }
  get status(): number { return this.m.status; }
  get cseq(): number { return this.m.cseq; }
  get expires(): number { return this.m.expires; }
  get problems(): number { return this.m.problems; }
  get reason(): string { return this.span(L.SPAN_REASON); }
  get from(): string { return this.span(L.SPAN_FROM); }
  get to(): string { return this.span(L.SPAN_TO); }
  get contact(): string { return this.span(L.SPAN_CONTACT); }
  get userAgent(): string { return this.span(L.SPAN_USER_AGENT); }
  get reasonHeader(): string { return this.span(L.SPAN_REASON_HEADER); }
  get xCid(): string { return this.span(L.SPAN_X_CID); }
  get sessionId(): string { return this.span(L.SPAN_SESSION_ID); }
  get chargingVector(): string { return this.span(L.SPAN_P_CHARGING_VECTOR); }
}

export function observe(m: SipMessage): Observed {
  return new ObservedMessage(m);
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
