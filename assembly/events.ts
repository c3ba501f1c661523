// Call and registration events as JSON lines (docs/events.md), rendered from the
// description the host's tracker writes at R_EVENT: byte for byte what
// JSON.stringify gives for the event object host/calls/tracker.ts would build
// (members in the same order, strings escaped as it escapes them), without
// the object, its strings or the serializer's walk over them.
import {
  EVENT_BYTES, EVENT_OUT_BYTES, R_EVENT, R_EVENT_OUT, EV_TYPE, EV_FLAGS, EV_AT_US, EV_DURATION,
  EV_SEQUENCE, EV_STATUS, EV_CLIENT_PORT, EV_SERVER_PORT, EV_TRANSPORT, EV_PDD, EV_RING_TIME,
  EV_ORIGINATOR, EV_OUTCOME, EV_TIMES, EV_EXPIRES, EV_PROBLEMS, EV_LEGS, EV_SLOTS, EV_TEXT, EV_ABSENT,
  EV_SLOT_COUNT, EVS_CALL_ID, EVS_FROM, EVS_TO, EVS_METHOD, EVS_REASON, EVS_REASON_HEADER,
  EVS_CLIENT_IP, EVS_SERVER_IP, EVS_USER_AGENT, EVS_OBSERVER, EVS_AOR, EVS_CONTACT, EVS_LEG,
  EVF_DURATION, EVF_REQUEST, EVF_RESPONSE, EVF_PDD, EVF_RING_TIME, EVF_ORIGINATOR, EVF_CALL,
  EVF_IMPLIED, EVF_BINDING, EVF_PROBLEMS, EVF_TIME_INVITE, EVF_RTP, EVENT_TYPE_NAMES, ORIGINATOR_NAMES,
  EV_RTP, EV_RTP_SIZE, EVS_CODEC, EVR_PACKETS, EVR_EXPECTED, EVR_LOST, EVR_JITTER, EVR_MAX_JITTER,
  EVR_DUPLICATES, EVR_OUT_OF_ORDER, EVR_SSRC_CHANGES, EVR_RTCP_REPORTS, EVR_RTCP_FRACTION_LOST,
  EVR_RTCP_LOST, EVR_RTCP_JITTER,
  OUTCOME_NAMES, CALL_TIME_NAMES, LEG_NAMES, PROB_NAMES, TRANSPORT_TCP, TRANSPORT_WS,
} from "./layout";
import { reserve, setRegion } from "./state";
import { setCursor, cursor, byte, ascii, digits, isoTime } from "./envelope";
import { uriOf } from "./sipvalue";
import { splat } from "./vectors";

let event: usize = 0;
let eventOut: usize = 0;

export function configureEvents(): bool {
  event = reserve(EVENT_BYTES);
  eventOut = reserve(EVENT_OUT_BYTES);
  if (event == 0 || eventOut == 0) return false;
  setRegion(R_EVENT, event);
  setRegion(R_EVENT_OUT, eventOut);
  return true;
}

// The most one event takes: its text escaped at worst six bytes a byte (\u00XX),
// and the names, numbers and punctuation, which stay under 3,072 bytes (the rtp member's
// two directions about 1,000 of them).
const EVENT_FIXED_MAX: u64 = 3072;

// Renders the described event and a newline at R_EVENT_OUT + at; returns the bytes
// written, or 0 when the description is out of bounds or the line might not fit.
export function renderEvent(at: u32): u32 {
  const bound = describedBound();
  if (bound == 0 || <u64>at + bound > <u64>EVENT_OUT_BYTES) return 0;
  const flags = load<u32>(event + EV_FLAGS);
  setCursor(eventOut + at);
  ascii("{\"@timestamp\":\"");
  time(load<f64>(event + EV_AT_US));
  ascii("\",\"event\":{\"kind\":\"event\",\"type\":\"");
  ascii(EVENT_TYPE_NAMES[load<u32>(event + EV_TYPE)]);
  byte(0x22);
  if (flags & EVF_DURATION) {
    ascii(",\"duration\":");
    integer(<i64>load<f64>(event + EV_DURATION));
  }
  ascii(",\"sequence\":");
  integer(<i64>load<f64>(event + EV_SEQUENCE));
  byte(0x7d);
  if (present(EVS_OBSERVER)) {
    ascii(",\"observer\":{\"name\":");
    text(EVS_OBSERVER);
    byte(0x7d);
  }
  sip(flags);
  ascii(",\"client\":{\"ip\":");
  text(EVS_CLIENT_IP);
  ascii(",\"port\":");
  integer(load<u32>(event + EV_CLIENT_PORT));
  ascii(",\"transport\":\"");
  const transport = load<u32>(event + EV_TRANSPORT);
  ascii(transport == TRANSPORT_TCP ? "tcp" : transport == TRANSPORT_WS ? "ws" : "udp");
  ascii("\"},\"server\":{\"ip\":");
  text(EVS_SERVER_IP);
  ascii(",\"port\":");
  integer(load<u32>(event + EV_SERVER_PORT));
  byte(0x7d);
  if (present(EVS_USER_AGENT)) {
    ascii(",\"user_agent\":{\"original\":");
    text(EVS_USER_AGENT);
    byte(0x7d);
  }
  if (flags & EVF_RTP) {
    ascii(",\"rtp\":{\"from_offerer\":");
    stream(0);
    ascii(",\"from_answerer\":");
    stream(1);
    byte(0x7d);
  }
  byte(0x7d);
  byte(0x0a);
  return <u32>(cursor() - eventOut - at);
}

// The `sip` member: its fields in the one order every event type's object has them.
function sip(flags: u32): void {
  ascii(",\"sip\":{\"call_id\":");
  text(EVS_CALL_ID);
  ascii(",\"from\":");
  uri(EVS_FROM);
  ascii(",\"to\":");
  uri(EVS_TO);
  if (flags & EVF_PROBLEMS) problems(load<u32>(event + EV_PROBLEMS));
  if (flags & EVF_REQUEST) {
    ascii(",\"request\":{\"method\":");
    text(EVS_METHOD);
    byte(0x7d);
  }
  if (flags & EVF_RESPONSE) {
    ascii(",\"response\":{\"status\":");
    integer(load<u32>(event + EV_STATUS));
    ascii(",\"reason\":");
    text(EVS_REASON);
    byte(0x7d);
  }
  if (present(EVS_REASON_HEADER)) {
    ascii(",\"reason_header\":");
    text(EVS_REASON_HEADER);
  }
  if (flags & EVF_PDD) {
    ascii(",\"pdd\":");
    thousandths(<i64>load<f64>(event + EV_PDD));
  }
  if (flags & EVF_RING_TIME) {
    ascii(",\"ring_time\":");
    thousandths(<i64>load<f64>(event + EV_RING_TIME));
  }
  if (flags & EVF_ORIGINATOR) {
    ascii(",\"originator\":\"");
    ascii(ORIGINATOR_NAMES[load<u32>(event + EV_ORIGINATOR)]);
    byte(0x22);
  }
  if (flags & EVF_CALL) call(flags);
  if (flags & EVF_BINDING) {
    ascii(",\"binding\":{\"aor\":");
    text(EVS_AOR);
    ascii(",\"contact\":");
    text(EVS_CONTACT);
    ascii(",\"expires\":");
    integer(<i64>load<f64>(event + EV_EXPIRES));
    byte(0x7d);
  }
  byte(0x7d);
}

function call(flags: u32): void {
  ascii(",\"call\":{\"outcome\":\"");
  ascii(OUTCOME_NAMES[load<u32>(event + EV_OUTCOME)]);
  ascii("\",\"times\":{");
  let first = true;
  for (let k = 0; k < 4; k++) {
    if ((flags & (EVF_TIME_INVITE << k)) == 0) continue;
    if (!first) byte(0x2c);
    first = false;
    byte(0x22);
    ascii(CALL_TIME_NAMES[k]);
    ascii("\":\"");
    time(load<f64>(event + EV_TIMES + (<usize>k << 3)));
    byte(0x22);
  }
  byte(0x7d);
  if (flags & EVF_IMPLIED) ascii(",\"implied\":true");
  const legs = load<u32>(event + EV_LEGS);
  if (legs != 0) {
    ascii(",\"legs\":{");
    for (let k = 0; k < 3; k++) {
      const name = (legs >> (<u32>k << 1)) & 3;
      if (name == 0) break;
      if (k > 0) byte(0x2c);
      byte(0x22);
      ascii(LEG_NAMES[name - 1]);
      ascii("\":");
      text(EVS_LEG + k);
    }
    byte(0x7d);
  }
  byte(0x7d);
}

// One direction of the call's RTP, as host/calls/media.ts's streamFields() builds it.
function stream(k: i32): void {
  const at = <usize>EV_RTP + <usize>k * EV_RTP_SIZE;
  whole("{\"packets\":", at + EVR_PACKETS);
  whole(",\"expected\":", at + EVR_EXPECTED);
  whole(",\"lost\":", at + EVR_LOST);
  milli(",\"jitter_ms\":", at + EVR_JITTER);
  milli(",\"max_jitter_ms\":", at + EVR_MAX_JITTER);
  whole(",\"duplicates\":", at + EVR_DUPLICATES);
  whole(",\"out_of_order\":", at + EVR_OUT_OF_ORDER);
  whole(",\"ssrc_changes\":", at + EVR_SSRC_CHANGES);
  ascii(",\"codec\":");
  text(EVS_CODEC + k);
  if (load<f64>(event + at + EVR_RTCP_REPORTS) > 0) {
    whole(",\"rtcp\":{\"reports\":", at + EVR_RTCP_REPORTS);
    milli(",\"fraction_lost\":", at + EVR_RTCP_FRACTION_LOST);
    whole(",\"lost\":", at + EVR_RTCP_LOST);
    milli(",\"jitter_ms\":", at + EVR_RTCP_JITTER);
    byte(0x7d);
  }
  byte(0x7d);
}

// A member's name and the integer in the description's field.
function whole(name: string, field: usize): void {
  ascii(name);
  integer(<i64>load<f64>(event + field));
}

// A member's name and the thousandths in the description's field, as milliseconds.
function milli(name: string, field: usize): void {
  ascii(name);
  thousandths(<i64>load<f64>(event + field));
}

// Whether direction k's figures are all numbers renderEvent writes as JavaScript does.
function streamSafe(k: i32): bool {
  const at = <usize>EV_RTP + <usize>k * EV_RTP_SIZE;
  return safeInteger(at + EVR_PACKETS) && safeInteger(at + EVR_EXPECTED) && safeInteger(at + EVR_LOST)
    && safeThousandths(at + EVR_JITTER) && safeThousandths(at + EVR_MAX_JITTER) && safeInteger(at + EVR_DUPLICATES)
    && safeInteger(at + EVR_OUT_OF_ORDER) && safeInteger(at + EVR_SSRC_CHANGES) && safeInteger(at + EVR_RTCP_REPORTS)
    && safeThousandths(at + EVR_RTCP_FRACTION_LOST) && safeInteger(at + EVR_RTCP_LOST) && safeThousandths(at + EVR_RTCP_JITTER)
    && present(EVS_CODEC + k);
}

function problems(bits: u32): void {
  ascii(",\"problems\":[");
  let first = true;
  for (let k = 0; k < PROB_NAMES.length; k++) {
    if ((bits & (1 << k)) == 0) continue;
    if (!first) byte(0x2c);
    first = false;
    byte(0x22);
    ascii(PROB_NAMES[k]);
    byte(0x22);
  }
  byte(0x5d);
}

// Bytes the description's text may take rendered, plus the rest; 0 when a slot lies
// outside the text area or a number is outside what the host may give.
function describedBound(): u64 {
  let textBytes: u64 = 0;
  for (let s = 0; s < EV_SLOT_COUNT; s++) {
    const len = slotLength(s);
    if (len == EV_ABSENT) continue;
    const off = <u64>slotOffset(s);
    if (off < <u64>EV_TEXT || off + <u64>len > <u64>EVENT_BYTES) return 0;
    textBytes += <u64>len;
  }
  if (load<u32>(event + EV_TYPE) >= <u32>EVENT_TYPE_NAMES.length
    || load<u32>(event + EV_ORIGINATOR) >= <u32>ORIGINATOR_NAMES.length
    || load<u32>(event + EV_OUTCOME) >= <u32>OUTCOME_NAMES.length) return 0;
  if (!safeInteger(EV_AT_US) || !safeInteger(EV_DURATION) || !safeInteger(EV_SEQUENCE) || !safeInteger(EV_EXPIRES)
    || !safeThousandths(EV_PDD) || !safeThousandths(EV_RING_TIME)) return 0;
  for (let k = 0; k < 4; k++) if (!safeInteger(EV_TIMES + (k << 3))) return 0;
  if ((load<u32>(event + EV_FLAGS) & EVF_RTP) != 0 && (!streamSafe(0) || !streamSafe(1))) return 0;
  return textBytes * 6 + EVENT_FIXED_MAX;
}

// An integer the host's numbers hold exactly (|v| <= 2^53): the only kind renderEvent writes.
function safeInteger(field: usize): bool {
  const v = load<f64>(event + field);
  return v == Math.floor(v) && Math.abs(v) <= 9007199254740992.0;
}

// Within the range where thousandths() writes what JavaScript prints.
function safeThousandths(field: usize): bool {
  const v = load<f64>(event + field);
  return v == Math.floor(v) && Math.abs(v) < 1e15;
}

@inline function slotOffset(s: i32): u32 {
  return load<u32>(event + EV_SLOTS + (<usize>s << 3));
}

@inline function slotLength(s: i32): u32 {
  return load<u32>(event + EV_SLOTS + (<usize>s << 3), 4);
}

@inline function present(s: i32): bool {
  return slotLength(s) != EV_ABSENT;
}

// A string member's value as JSON.stringify writes it (ECMA-262 QuoteJSONString):
// the two-character escapes where there is one, \u00xx for the other controls,
// every other byte as it is (the host's text is well-formed UTF-8).
function text(s: i32): void {
  quoted(event + <usize>slotOffset(s), slotLength(s));
}

function quoted(p: usize, n: u32): void {
  byte(0x22);
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    // Sixteen bytes at a time, a short text or the last bytes too: the bytes past its end that
    // the load reads (the rest of R_EVENT, or R_EVENT_OUT after it) are masked off, and those the
    // store writes past the cursor lie within the room describedBound() keeps.
    while (i < n) {
      const block = v128.load(p + i);
      const left = n - i;
      let escapes = i8x16.bitmask(needsEscape(block));
      if (left < 16) escapes &= (<u32>1 << left) - 1;
      const clean = escapes == 0 ? min<u32>(left, 16) : ctz(escapes);
      v128.store(cursor(), block);
      setCursor(cursor() + clean);
      i += clean;
      if (escapes != 0) escaped(<u32>load<u8>(p + i++));
    }
  } else {
    for (; i < n; i++) {
      const c = <u32>load<u8>(p + i);
      if (c >= 0x20 && c != 0x22 && c != 0x5c) byte(c);
      else escaped(c);
    }
  }
  byte(0x22);
}

// A control byte, quote or backslash as JSON.stringify writes it.
function escaped(c: u32): void {
  byte(0x5c);
  if (c == 0x22 || c == 0x5c) byte(c);
  else if (c == 0x08) byte(0x62);
  else if (c == 0x09) byte(0x74);
  else if (c == 0x0a) byte(0x6e);
  else if (c == 0x0c) byte(0x66);
  else if (c == 0x0d) byte(0x72);
  else {
    ascii("u00");
    byte(hexDigit(c >> 4));
    byte(hexDigit(c & 15));
  }
}

// The bytes written escaped: controls, quote and backslash (bytes of UTF-8 sequences are not:
// the text is well-formed).
@inline function needsEscape(v: v128): v128 {
  return v128.or(i8x16.lt_u(v, splat(0x20)), v128.or(i8x16.eq(v, splat(0x22)), i8x16.eq(v, splat(0x5c))));
}

// The URI of the From or To value in slot s, as uriOf() in host/calls/message.ts finds it
// (assembly/sipvalue.ts: the description's text is well-formed UTF-8, as it needs).
function uri(s: i32): void {
  const p = event + <usize>slotOffset(s);
  const found = uriOf(p, slotLength(s));
  quoted(p + <usize>(found >> 32), <u32>found);
}

@inline function hexDigit(d: u32): u32 {
  return d < 10 ? 0x30 + d : 0x57 + d;
}

// RFC 3339 of microseconds since the epoch, as isoTime() in host/calls/events.ts.
function time(us: f64): void {
  const whole = <i64>us;
  let sec = whole / 1_000_000;
  let micros = whole % 1_000_000;
  if (micros < 0) {
    micros += 1_000_000;
    sec--;
  }
  isoTime(sec, <u32>micros * 1000);
}

// A decimal integer, as JavaScript prints an integer-valued number. Most are ports, counts and
// sequence numbers: below 2^32 the digits come from 32-bit division, several times cheaper; a
// larger one is written as its value above the last nine digits, then those nine.
function integer(v: i64): void {
  if (v < 0) {
    byte(0x2d);
    v = -v;
  }
  if (<u64>v > <u64>u32.MAX_VALUE) {
    integer(<i64>(<u64>v / 1_000_000_000));
    digits(<u32>(<u64>v % 1_000_000_000), 9);
    return;
  }
  digits(<u32>v, decimalWidth(<u32>v));
}

function decimalWidth(n: u32): i32 {
  if (n < 100_000) return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10_000 ? 4 : 5;
  return n < 1_000_000 ? 6 : n < 10_000_000 ? 7 : n < 100_000_000 ? 8 : n < 1_000_000_000 ? 9 : 10;
}

// n / 1000 as JavaScript prints that number: the integer part, then the
// thousandths with trailing zeros dropped. Exact while |n| < 10^15, where the
// decimal is the shortest that reads back as the same double (the host checks).
function thousandths(n: i64): void {
  if (n < 0) {
    byte(0x2d);
    n = -n;
  }
  integer(n / 1000);
  let fraction = <u32>(n % 1000);
  if (fraction == 0) return;
  let width = 3;
  while (fraction % 10 == 0) {
    fraction /= 10;
    width--;
  }
  byte(0x2e);
  digits(fraction, width);
}
