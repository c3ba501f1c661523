// What the tracker reads of one SIP message: the core's record fields and the
// spans it found, decoded to strings once. Nothing here parses SIP beyond
// taking a URI out of a name-addr the core already delimited.
import type { Endpoint, SipMessage, Transport } from "../core/records";

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
  callKey?: number;          // the core's hash of the Call-ID (SipMessage.callKey), the calls' key; hand-made summaries leave it out and are keyed by callId
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
  problems: number;          // PROBLEM bits (host/core/records.ts)
}

// Every field is read from the record when first asked for, and the strings once:
// a message that only refreshes a known dialog decodes nothing but its method's
// bytes. One ObservedMessage serves a whole run (aim() moves it to the next
// message); valid while the batch the message came in is.
class ObservedMessage implements Observed {
  timeUs = 0;
  method = "";
  callKey = 0;
  private m!: SipMessage;
  private callIdText: string | undefined;
  private fromTagText: string | undefined;
  private toTagText: string | undefined;
  private userAgentText: string | undefined;

  aim(m: SipMessage): this {
    this.m = m;
    this.timeUs = m.timeUs;
    this.method = methodOf(m);
    this.callKey = m.callKey;
    this.callIdText = this.fromTagText = this.toTagText = this.userAgentText = undefined;
    return this;
  }

  get callId(): string { return this.callIdText ??= this.m.callId; }
  get fromTag(): string { return this.fromTagText ??= this.m.fromTag; }
  get toTag(): string { return this.toTagText ??= this.m.toTag; }
  get userAgent(): string { return this.userAgentText ??= interned(this.m.userAgent); }
  get src(): Endpoint { return this.m.src; }
  get dst(): Endpoint { return this.m.dst; }
  get transport(): Transport { return this.m.transport; }
  get isRequest(): boolean { return this.m.isRequest; }
  get status(): number { return this.m.status; }
  get cseq(): number { return this.m.cseq; }
  get expires(): number { return this.m.expires; }
  get problems(): number { return this.m.problems; }
  get reason(): string { return this.m.reason; }
  get from(): string { return this.m.from; }
  get to(): string { return this.m.to; }
  get contact(): string { return this.m.contact; }
  get reasonHeader(): string { return this.m.reasonHeader; }
  get xCid(): string { return this.m.xCid; }
  get sessionId(): string { return this.m.sessionId; }
  get chargingVector(): string { return this.m.chargingVector; }
}

// User-Agent and Server values recur across a capture's messages: each is kept
// once, however many calls, transactions and bindings hold it.
const AGENTS_HELD = 4096;
const agents = new Map<string, string>();

function interned(text: string): string {
  const held = agents.get(text);
  if (held !== undefined) return held;
  if (agents.size >= AGENTS_HELD) agents.clear();
  agents.set(text, text);
  return text;
}

// The methods the tracker meets most, upper case: found by comparing bytes, so the
// common ones are never decoded; any other is decoded and upper-cased.
const KNOWN_METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "PRACK", "REGISTER", "OPTIONS", "MESSAGE", "NOTIFY", "SUBSCRIBE", "INFO", "REFER", "PUBLISH"];

function methodOf(m: SipMessage): string {
  return m.methodAmong(KNOWN_METHODS) ?? m.method.toUpperCase();
}

// A summary of one message for the tracker.
export function observe(m: SipMessage): Observed {
  return new ObservedMessage().aim(m);
}

// One summary re-aimed at each message in turn (see ObservedMessage).
export function observer(): (m: SipMessage) => Observed {
  const observed = new ObservedMessage();
  return (m) => observed.aim(m);
}

// The host's one scan of a header value by RFC 3261 §25.1's structure, the rule
// the core's tokenizer follows too (nextOutside in assembly/sip.ts): the index
// of the first character of `stops` at or after `from` that is outside a
// quoted-string (whose quoted-pairs, '\\' and the character after it, never
// end it) and outside <...>; -1 when there is none or a quoted-string never ends.
function nextOutside(value: string, from: number, stops: string): number {
  let quoted = false, angle = false;
  for (let i = from; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (!angle && stops.includes(c)) return i;
    else if (c === "<") angle = true;
    else if (c === ">") angle = false;
  }
  return -1;
}

// Where the address of a From/To/Contact value is (RFC 3261 §20.10, §25.1):
//   name-addr = [ display-name ] LAQUOT addr-spec RAQUOT, display-name = *(token LWS) / quoted-string
//   addr-spec, with no display name, ends at the first ';' (header parameters) or ',' (next value)
// `end` is where the header parameters may start.
function address(value: string): { uri: string; end: number } {
  const at = nextOutside(value, 0, "<;,");
  if (at >= 0 && value[at] === "<") {
    const close = value.indexOf(">", at + 1); // an addr-spec holds no '>'
    return close < 0 ? { uri: value.slice(at + 1).trim(), end: value.length } : { uri: value.slice(at + 1, close).trim(), end: close + 1 };
  }
  // A quote outside any name-addr is a display name whose closing quote or address never came.
  if (at < 0 && value.includes('"')) return { uri: "", end: value.length };
  const end = at < 0 ? value.length : at;
  return { uri: value.slice(0, end).trim(), end };
}

// The URI of a From, To or Contact value: inside the name-addr's <> (a quoted
// display name may hold '<', '>', ';' or escaped quotes), or the addr-spec
// before its parameters; "" when a quoted display name never ends.
export function uriOf(value: string): string {
  return address(value).uri;
}

const EXPIRES_PARAM = /^\s*expires\s*=\s*(\d+)/i;

// Contact's ;expires= parameter (RFC 3261 §10.2.1.1): among the first contact's
// header parameters, after its address and before a ',' that starts the next
// contact; a quoted parameter value (+sip.instance="<urn:...>") is skipped whole.
// -1 when absent.
export function expiresParam(contact: string): number {
  for (let semi = nextOutside(contact, address(contact).end, ";,"); semi >= 0 && contact[semi] === ";";
    semi = nextOutside(contact, semi + 1, ";,")) {
    const match = EXPIRES_PARAM.exec(contact.slice(semi + 1));
    if (match) return Math.min(Number(match[1]), 0x7fffffff);
  }
  return -1;
}
