// An event as it leaves the sensor with --anonymize: addresses through
// Crypto-PAn, the Call-ID (and a correlated leg's X-CID) as a pseudonym, the
// From, To and binding URIs with their users and addresses replaced, by the same
// rules as the SIP text (rewrite.ts), so one call's pseudonyms agree in events,
// call records, HEP and envelopes. With --encrypt-fields each replaced value's
// original goes, sealed, into anonymized.encrypted under the field's path. The
// tracker's objects are not changed: what is replaced is copied.
import type { SipEvent } from "../calls/events";
import type { Anonymizer } from "./rewrite";
import type { FieldCrypt } from "./fieldcrypt";

export function anonymizeEvent(a: Anonymizer, keyCheck: string, fields: FieldCrypt | undefined, event: SipEvent): SipEvent {
  const sealed: Record<string, string> = {};
  const replace = (path: string, value: string, rule: (v: string) => string): string => {
    const replaced = rule(value);
    if (fields !== undefined && replaced !== value) sealed[path] = fields.seal(value);
    return replaced;
  };
  const text = (v: string): string => a.text(v);
  const callId = (v: string): string => a.pseudonym("call-id", v);
  const ip = (v: string): string => a.ip(v);
  const out: SipEvent = { ...event };
  const sip = event.sip;
  if (sip !== undefined) {
    out.sip = { ...sip };
    if (sip.call_id !== undefined) out.sip.call_id = replace("sip.call_id", sip.call_id, callId);
    if (sip.from !== undefined) out.sip.from = replace("sip.from", sip.from, text);
    if (sip.to !== undefined) out.sip.to = replace("sip.to", sip.to, text);
    if (sip.reason_header !== undefined) out.sip.reason_header = replace("sip.reason_header", sip.reason_header, text);
    if (sip.binding !== undefined) {
      out.sip.binding = { ...sip.binding, aor: replace("sip.binding.aor", sip.binding.aor, text),
        contact: replace("sip.binding.contact", sip.binding.contact, text) };
    }
    const legs = sip.call?.legs;
    if (sip.call !== undefined && legs !== undefined) {
      out.sip.call = { ...sip.call, legs: { ...legs } };
      const copy = out.sip.call.legs!;
      if (legs.x_cid !== undefined) copy.x_cid = replace("sip.call.legs.x_cid", legs.x_cid, callId);
      if (legs.p_charging_vector !== undefined) copy.p_charging_vector = replace("sip.call.legs.p_charging_vector", legs.p_charging_vector, text);
    }
  }
  if (event.client !== undefined) out.client = { ...event.client, ip: replace("client.ip", event.client.ip, ip) };
  if (event.server !== undefined) out.server = { ...event.server, ip: replace("server.ip", event.server.ip, ip) };
  out.anonymized = Object.keys(sealed).length === 0 ? { key_check: keyCheck } : { key_check: keyCheck, encrypted: sealed };
  return out;
}
