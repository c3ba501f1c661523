// One event as its NDJSON line, written out field by field: byte for byte what
// JSON.stringify gives for the SipEvent the tracker builds (keys in the order the
// tracker inserts them, absent and undefined fields left out), at a fraction of
// its cost. A field added to SipEvent is added here too, in the order it is
// inserted; test/render.test.ts compares the two on every event type.
import type { CallTimes, Correlation, SipEvent } from "./events";

type Sip = NonNullable<SipEvent["sip"]>;

export function renderEvent(e: SipEvent): string {
  const ev = e.event;
  let out = `{"@timestamp":${jsonString(e["@timestamp"])},"event":{"kind":${jsonString(ev.kind)},"type":${jsonString(ev.type)}`;
  if (ev.duration !== undefined) out += `,"duration":${jsonNumber(ev.duration)}`;
  out += `,"sequence":${jsonNumber(ev.sequence)}}`;
  if (e.observer !== undefined) out += `,"observer":{"name":${jsonString(e.observer.name)}}`;
  if (e.sip !== undefined) out += `,"sip":${renderSip(e.sip)}`;
  if (e.client !== undefined) {
    out += `,"client":{"ip":${jsonString(e.client.ip)},"port":${jsonNumber(e.client.port)},"transport":${jsonString(e.client.transport)}}`;
  }
  if (e.server !== undefined) out += `,"server":{"ip":${jsonString(e.server.ip)},"port":${jsonNumber(e.server.port)}}`;
  if (e.user_agent !== undefined) out += `,"user_agent":{"original":${jsonString(e.user_agent.original)}}`;
  if (e.counters !== undefined) out += `,"counters":${renderNumbers(e.counters)}`;
  return `${out}}`;
}

function renderSip(s: Sip): string {
  const fields: string[] = [];
  if (s.call_id !== undefined) fields.push(`"call_id":${jsonString(s.call_id)}`);
  if (s.from !== undefined) fields.push(`"from":${jsonString(s.from)}`);
  if (s.to !== undefined) fields.push(`"to":${jsonString(s.to)}`);
  if (s.problems !== undefined) fields.push(`"problems":[${s.problems.map(jsonString).join(",")}]`);
  if (s.request !== undefined) fields.push(`"request":{"method":${jsonString(s.request.method)}}`);
  if (s.response !== undefined) fields.push(`"response":{"status":${jsonNumber(s.response.status)},"reason":${jsonString(s.response.reason)}}`);
  if (s.reason_header !== undefined) fields.push(`"reason_header":${jsonString(s.reason_header)}`);
  if (s.pdd !== undefined) fields.push(`"pdd":${jsonNumber(s.pdd)}`);
  if (s.ring_time !== undefined) fields.push(`"ring_time":${jsonNumber(s.ring_time)}`);
  if (s.originator !== undefined) fields.push(`"originator":${jsonString(s.originator)}`);
  if (s.call !== undefined) fields.push(`"call":${renderCall(s.call)}`);
  if (s.binding !== undefined) {
    const b = s.binding;
    fields.push(`"binding":{"aor":${jsonString(b.aor)},"contact":${jsonString(b.contact)},"expires":${jsonNumber(b.expires)}}`);
  }
  return `{${fields.join(",")}}`;
}

function renderCall(c: NonNullable<Sip["call"]>): string {
  let out = `{"outcome":${jsonString(c.outcome)},"times":${renderStrings(c.times)}`;
  if (c.implied !== undefined) out += `,"implied":${c.implied ? "true" : "false"}`;
  if (c.legs !== undefined) out += `,"legs":${renderStrings(c.legs)}`;
  return `${out}}`;
}

// Times and legs: their keys in insertion order (legs are filled as the headers appear).
function renderStrings(o: CallTimes | Correlation): string {
  const fields: string[] = [];
  for (const [key, value] of Object.entries(o)) if (value !== undefined) fields.push(`${jsonString(key)}:${jsonString(value as string)}`);
  return `{${fields.join(",")}}`;
}

function renderNumbers(o: Record<string, number>): string {
  const fields: string[] = [];
  for (const [key, value] of Object.entries(o)) if (value !== undefined) fields.push(`${jsonString(key)}:${jsonNumber(value)}`);
  return `{${fields.join(",")}}`;
}

// JSON.stringify's number: the shortest round-trip text, null for NaN and the infinities.
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

// Characters JSON must escape (RFC 8259 §7), and surrogates, which JSON.stringify
// escapes when they stand alone (ECMA-262 QuoteJSONString).
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;
const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? `"${escaped(s)}"` : `"${s}"`;
}

function escaped(s: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let replacement: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c) replacement = SHORT_ESCAPES[s[i]] ?? unicodeEscape(c);
    else if (c >= 0xd800 && c <= 0xdfff) {
      const pairs = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (pairs) i++;
      else replacement = unicodeEscape(c);
    }
    if (replacement === undefined) continue;
    out += s.slice(from, i) + replacement;
    from = i + 1;
  }
  return out + s.slice(from);
}

function unicodeEscape(c: number): string {
  return `\\u${c.toString(16).padStart(4, "0")}`;
}
