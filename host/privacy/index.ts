// Privacy: what leaves the sensor with --anonymize KEYFILE. Takes the key file
// (keyfile.ts) and gives one Privacy per run: events (event.ts) and the SIP text
// of HEP and rewritten envelopes (sip.ts, envelope.ts) with addresses
// anonymized prefix-preserving (cryptopan.ts) and users, display names, Call-IDs
// and tags replaced by keyed pseudonyms (pseudonym.ts), by one set of rules
// (rewrite.ts); with --encrypt-fields the originals sealed beside them
// (fieldcrypt.ts), for `siphon deanonymize`. Every anonymized record names the
// key by its check value. Node's crypto does the cryptography. docs/privacy.md
import type { SipEvent } from "../calls/events";
import type { SipMessage } from "../core/records";
import type { HepMessage } from "../sink/hep";
import type { Sink } from "../sink/sink";
import { deriveKeys, readKeyFile } from "./keyfile";
import { Anonymizer } from "./rewrite";
import { FieldCrypt } from "./fieldcrypt";
import { anonymizeEvent } from "./event";
import { rewriteSip } from "./sip";
import { anonymizingEnvelopes } from "./envelope";
import { parseIPv6 } from "./cryptopan";
import { isIPv4 } from "node:net";

export { KeyFileError, readKeyFile } from "./keyfile";
export { PSEUDONYM } from "./pseudonym";

export interface PrivacyOptions {
  keyFile: string;
  encryptFields?: boolean;
}

export interface Privacy {
  readonly keyCheck: string;
  event(event: SipEvent): SipEvent;       // a copy; the tracker's object is untouched
  sip(message: Uint8Array): Buffer;       // a SIP message's bytes rewritten
  ip(address: string): string;
  callId(value: string): string;          // a Call-ID's pseudonym, as events carry it
  text(value: string): string;            // a header value's users and addresses, as in events' sip.from and sip.to
  hepMessage(message: SipMessage): HepMessage;
  envelopes(sink: Sink): Sink;            // --anonymize-envelopes
  counters(): Record<string, number>;
}

export function openPrivacy(o: PrivacyOptions): Privacy {
  return privacyWithKey(readKeyFile(o.keyFile), o.encryptFields === true);
}

export function privacyWithKey(key: Buffer, encryptFields: boolean): Privacy {
  const keys = deriveKeys(key);
  const a = new Anonymizer(keys);
  const fields = encryptFields ? new FieldCrypt(keys.fields) : undefined;
  return {
    keyCheck: keys.keyCheck,
    event: (event) => anonymizeEvent(a, keys.keyCheck, fields, event),
    sip: (message) => rewriteSip(a, message),
    ip: (address) => a.ip(address),
    callId: (value) => a.pseudonym("call-id", value),
    text: (value) => a.text(value),
    hepMessage: (m) => new RewrittenMessage(m, addressBytes(a.ip(m.src.ip)), addressBytes(a.ip(m.dst.ip)),
      m.callId === "" ? "" : a.pseudonym("call-id", m.callId), rewriteSip(a, m.bytes)),
    envelopes: (sink) => anonymizingEnvelopes(a, keys.keyCheck, sink),
    counters: () => a.counters(),
  };
}

// A message as HEP sends it once rewritten: anonymized addresses (same family), the
// Call-ID's pseudonym, the rewritten SIP text; ports, transport and time as captured.
class RewrittenMessage implements HepMessage {
  readonly ipv6: boolean;
  readonly transport: SipMessage["transport"];
  readonly srcPort: number;
  readonly dstPort: number;
  readonly timeSec: number;
  readonly timeNsec: number;

  constructor(m: SipMessage, private readonly src: Uint8Array, private readonly dst: Uint8Array,
    readonly callId: string, private readonly text: Buffer) {
    this.ipv6 = m.ipv6;
    this.transport = m.transport;
    this.srcPort = m.srcPort;
    this.dstPort = m.dstPort;
    this.timeSec = m.timeSec;
    this.timeNsec = m.timeNsec;
  }

  get size(): number { return this.text.length; }
  get callIdLength(): number { return Buffer.byteLength(this.callId, "utf8"); }

  copyAddress(side: "src" | "dst", target: DataView, at: number): number {
    const address = side === "src" ? this.src : this.dst;
    for (let i = 0; i < address.length; i++) target.setUint8(at + i, address[i]);
    return at + address.length;
  }

  // A pseudonym is ASCII.
  copyAsciiCallId(target: DataView, at: number): number {
    for (let i = 0; i < this.callId.length; i++) target.setUint8(at + i, this.callId.charCodeAt(i));
    return at + this.callId.length;
  }

  copyBytes(target: Uint8Array, at: number): number {
    target.set(this.text, at);
    return at + this.text.length;
  }
}

// An anonymized address's text back to its 4 or 16 bytes.
function addressBytes(ip: string): Uint8Array {
  return isIPv4(ip) ? Uint8Array.from(ip.split(".").map(Number)) : parseIPv6(ip);
}

// For a view that shows events or SIP text (the web view): what would leave the
// sensor, anonymized when the run anonymizes (privacy given), else unchanged. An event
// that is anonymized already (it carries `anonymized`) is returned as it is.
export function applyPrivacy(privacy: Privacy | undefined, value: SipEvent): SipEvent;
export function applyPrivacy(privacy: Privacy | undefined, value: string): string;
export function applyPrivacy(privacy: Privacy | undefined, value: SipEvent | string): SipEvent | string {
  if (privacy === undefined) return value;
  if (typeof value === "string") return privacy.sip(Buffer.from(value, "utf8")).toString("utf8");
  return value.anonymized !== undefined ? value : privacy.event(value);
}

// The key's check value and the opener of sealed fields: what `siphon deanonymize` needs.
export function fieldOpener(keyFile: string, option: string): { keyCheck: string; open(sealed: string): string } {
  const keys = deriveKeys(readKeyFile(keyFile, option));
  const fields = new FieldCrypt(keys.fields);
  return { keyCheck: keys.keyCheck, open: (sealed) => fields.open(sealed) };
}
