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
    hepMessage: (m) => ({
      src: { ip: a.ip(m.src.ip), port: m.src.port },
      dst: { ip: a.ip(m.dst.ip), port: m.dst.port },
      transport: m.transport,
      timeSec: m.timeSec,
      timeNsec: m.timeNsec,
      callId: m.callId === "" ? "" : a.pseudonym("call-id", m.callId),
      bytes: rewriteSip(a, m.bytes),
    }),
    envelopes: (sink) => anonymizingEnvelopes(a, keys.keyCheck, sink),
    counters: () => a.counters(),
  };
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
