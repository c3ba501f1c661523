// One event as its NDJSON line, written field by field as UTF-8 bytes: byte for
// byte what JSON.stringify gives for the SipEvent the tracker builds (keys in the
// order the tracker inserts them, absent and undefined fields left out), with no
// string built on the way. A field added to SipEvent is added here too, in the
// order it is inserted; test/render.test.ts compares the two on every event type
// and on hostile strings.
import type { CallTimes, Correlation, SipEvent } from "./events";

type Sip = NonNullable<SipEvent["sip"]>;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class EventRenderer {
  private buf = Buffer.allocUnsafe(4096);
  private pos = 0;
  private first = true;   // no key written yet in the object being written

  // The event's JSON (no newline): a view of this renderer's buffer, valid until the next render.
  render(e: SipEvent): Buffer {
    this.pos = 0;
    const ev = e.event;
    this.raw('{"@timestamp":');
    this.string(e["@timestamp"]);
    this.raw(',"event":{"kind":');
    this.string(ev.kind);
    this.raw(',"type":');
    this.string(ev.type);
    if (ev.duration !== undefined) this.field(',"duration":', ev.duration);
    this.field(',"sequence":', ev.sequence);
    this.raw("}");
    if (e.observer !== undefined) this.object(',"observer":{"name":', e.observer.name);
    if (e.sip !== undefined) this.sip(e.sip);
    if (e.client !== undefined) {
      this.object(',"client":{"ip":', e.client.ip, false);
      this.field(',"port":', e.client.port);
      this.object(',"transport":', e.client.transport);
    }
    if (e.server !== undefined) {
      this.object(',"server":{"ip":', e.server.ip, false);
      this.field(',"port":', e.server.port);
      this.raw("}");
    }
    if (e.user_agent !== undefined) this.object(',"user_agent":{"original":', e.user_agent.original);
    if (e.counters !== undefined) {
      this.raw(',"counters":');
      this.entries(e.counters);
    }
    this.raw("}");
    return this.buf.subarray(0, this.pos);
  }

  private sip(s: Sip): void {
    this.raw(',"sip":{');
    this.first = true;
    if (s.call_id !== undefined) this.key('"call_id":').string(s.call_id);
    if (s.from !== undefined) this.key('"from":').string(s.from);
    if (s.to !== undefined) this.key('"to":').string(s.to);
    if (s.problems !== undefined) this.key('"problems":').list(s.problems);
    if (s.request !== undefined) this.key('"request":').object('{"method":', s.request.method);
    if (s.response !== undefined) {
      this.key('"response":').field('{"status":', s.response.status);
      this.object(',"reason":', s.response.reason);
    }
    if (s.reason_header !== undefined) this.key('"reason_header":').string(s.reason_header);
    if (s.pdd !== undefined) this.key('"pdd":').number(s.pdd);
    if (s.ring_time !== undefined) this.key('"ring_time":').number(s.ring_time);
    if (s.originator !== undefined) this.key('"originator":').string(s.originator);
    if (s.call !== undefined) this.key('"call":').call(s.call);
    if (s.binding !== undefined) {
      this.key('"binding":').object('{"aor":', s.binding.aor, false);
      this.object(',"contact":', s.binding.contact, false);
      this.field(',"expires":', s.binding.expires);
      this.raw("}");
    }
    this.raw("}");
  }

  // A key of the object being written, after a comma unless it is the first.
  private key(quoted: string): this {
    if (!this.first) this.raw(",");
    this.first = false;
    this.raw(quoted);
    return this;
  }

  private call(c: NonNullable<Sip["call"]>): void {
    this.object('{"outcome":', c.outcome, false);
    this.raw(',"times":{');
    this.times(c.times);
    if (c.implied !== undefined) this.raw(c.implied ? ',"implied":true' : ',"implied":false');
    if (c.legs !== undefined) {
      this.raw(',"legs":');
      this.entries(c.legs);
    }
    this.raw("}");
  }

  // The times in the order emitCall sets them.
  private times(t: CallTimes): void {
    const outer = this.first;
    this.first = true;
    if (t.invite !== undefined) this.key('"invite":').string(t.invite);
    if (t.ringing !== undefined) this.key('"ringing":').string(t.ringing);
    if (t.answer !== undefined) this.key('"answer":').string(t.answer);
    if (t.end !== undefined) this.key('"end":').string(t.end);
    this.raw("}");
    this.first = outer;
  }

  // Legs and counters: their keys in insertion order (legs are filled as the headers appear).
  private entries(o: Correlation | Record<string, number>): void {
    this.raw("{");
    let comma = false;
    const values = o as Record<string, string | number | undefined>;
    for (const key in values) {
      const value = values[key];
      if (value === undefined) continue;
      if (comma) this.raw(",");
      comma = true;
      this.string(key);
      this.raw(":");
      if (typeof value === "number") this.number(value);
      else this.string(value);
    }
    this.raw("}");
  }

  private list(items: string[]): void {
    this.raw("[");
    for (let i = 0; i < items.length; i++) {
      if (i > 0) this.raw(",");
      this.string(items[i]);
    }
    this.raw("]");
  }

  private field(prefix: string, n: number): this {
    this.raw(prefix);
    this.number(n);
    return this;
  }

  // prefix, the string, and "}" unless `close` is false.
  private object(prefix: string, s: string, close = true): void {
    this.raw(prefix);
    this.string(s);
    if (close) this.raw("}");
  }

  // JSON.stringify's number: the shortest round-trip text, null for NaN and the infinities.
  // Counts, ports and nanoseconds are whole: their digits are written without a string.
  private number(n: number): void {
    if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n)) {  // -0 passes, and is written "0" as JSON.stringify writes it
      this.raw(Number.isFinite(n) ? String(n) : "null");
      return;
    }
    this.room(16);
    const buf = this.buf;
    let end = this.pos;
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) end++;
    this.pos = end + 1;
    for (let rest = n; ; rest = Math.floor(rest / 10)) {
      buf[end--] = 0x30 + (rest % 10);
      if (rest < 10) break;
    }
  }

  // ASCII text that needs no escaping (keys, punctuation, numbers).
  private raw(text: string): void {
    this.room(text.length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
    this.pos = pos;
  }

  // A JSON string (RFC 8259 §7) as ECMA-262 QuoteJSONString writes it, in UTF-8:
  // '"', '\' and the C0 controls escaped (the short forms where JSON has them),
  // a surrogate that stands alone escaped as \uXXXX, everything else as itself.
  private string(s: string): void {
    this.room(s.length * 6 + 2);  // \uXXXX is the longest any UTF-16 unit becomes
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = QUOTE;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c < 0x80 && c !== QUOTE && c !== BACKSLASH) buf[pos++] = c;
      else if (c < 0x80) pos = escapeAscii(buf, pos, c);
      else if (c < 0x800) {
        buf[pos++] = 0xc0 | (c >> 6);
        buf[pos++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) pos = utf8Three(buf, pos, c);
      else {
        const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && (next & 0xfc00) === 0xdc00) {
          pos = utf8Four(buf, pos, 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00));
          i++;
        } else pos = unicodeEscape(buf, pos, c);
      }
    }
    buf[pos++] = QUOTE;
    this.pos = pos;
  }

  private room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

const SHORT_ESCAPES: Record<number, number> = { 0x22: QUOTE, 0x5c: BACKSLASH, 0x08: 0x62, 0x0c: 0x66, 0x0a: 0x6e, 0x0d: 0x72, 0x09: 0x74 };

function escapeAscii(buf: Buffer, pos: number, c: number): number {
  const short = SHORT_ESCAPES[c];
  if (short === undefined) return unicodeEscape(buf, pos, c);
  buf[pos++] = BACKSLASH;
  buf[pos++] = short;
  return pos;
}

const HEX = "0123456789abcdef";

function unicodeEscape(buf: Buffer, pos: number, c: number): number {
  buf[pos++] = BACKSLASH;
  buf[pos++] = 0x75; // u
  for (let shift = 12; shift >= 0; shift -= 4) buf[pos++] = HEX.charCodeAt((c >> shift) & 15);
  return pos;
}

function utf8Three(buf: Buffer, pos: number, c: number): number {
  buf[pos++] = 0xe0 | (c >> 12);
  buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
  buf[pos++] = 0x80 | (c & 0x3f);
  return pos;
}

function utf8Four(buf: Buffer, pos: number, cp: number): number {
  buf[pos++] = 0xf0 | (cp >> 18);
  buf[pos++] = 0x80 | ((cp >> 12) & 0x3f);
  buf[pos++] = 0x80 | ((cp >> 6) & 0x3f);
  buf[pos++] = 0x80 | (cp & 0x3f);
  return pos;
}
