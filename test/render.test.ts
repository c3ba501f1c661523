// The event renderer (host/calls/render.ts) against JSON.stringify, which it
// replaces: every golden event line, every event type the tracker makes, and
// strings a hostile capture can put in any field.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import { EventRenderer } from "../host/calls/render";
import type { SipEvent } from "../host/calls/events";

const HOSTILE = [
  "", "plain", 'say "hi"', "back\\slash", "\\\"", "tab\there", "nl\nand\rcr", "\b\f\v", "\u0000nul", "\u001f\u007f",
  "\ud800", "\udfff", "lone \ud800 high", "lone \udc00 low", "\udc00\ud800", "pair \ud83d\ude00 ok", "\ud83d",
  "x\ud83d", "\ufffd replaced", "ünïcødé 日本語", "\u2028\u2029", "</script>", "a".repeat(1000) + "\u0001",
  "\u0080\u00ff\u0100", "'single'", "{}[],:", "\\u0000",
];

const renderer = new EventRenderer();

// The rendered bytes against JSON.stringify's text in UTF-8 (which is well-formed:
// JSON.stringify escapes a lone surrogate).
function same(e: SipEvent, what: string): void {
  const got = renderer.render(e);
  const want = Buffer.from(JSON.stringify(e));
  if (!got.equals(want)) assert.unreachable(`${what}: rendered ${got.toString("hex")}\n  (${got.toString()})\nJSON.stringify ${want.toString("hex")}\n  (${want.toString()})`);
}

function named(name: string): SipEvent {
  return { "@timestamp": "t", event: { kind: "event", type: "msg-probe", sequence: 1 }, observer: { name } };
}

test("strings: each hostile string, and every UTF-16 unit, as JSON.stringify writes it", () => {
  for (const s of HOSTILE) same(named(s), `for ${JSON.stringify(s)}`);
  for (let c = 0; c < 0x10000; c++) same(named(`a${String.fromCharCode(c)}b`), `U+${c.toString(16)}`);
  for (const pair of ["\ud800\udc00", "\udbff\udfff", "\ud83d\ude00x", "\ud800\ud800\udc00", "\udc00\udc00"]) same(named(pair), JSON.stringify(pair));
});

test("the buffer grows for a long event and a long string", () => {
  same(named("x".repeat(100_000)), "100,000 characters");
  same(named("\u0001".repeat(50_000)), "50,000 escapes");
  same(named("日".repeat(50_000)), "50,000 three-byte characters");
});

function event(overrides: Partial<SipEvent> = {}, sip: NonNullable<SipEvent["sip"]> = {}): SipEvent {
  return {
    "@timestamp": "2026-11-22T10:00:00.000000Z",
    event: { kind: "event", type: "call-end", duration: 8000000000, sequence: 7 },
    observer: { name: "sensor \"1\"" },
    sip: { call_id: "c@x", from: "sip:a@x", to: "sip:b@x", ...sip },
    client: { ip: "192.0.2.1", port: 5060, transport: "udp" },
    server: { ip: "2001:db8::1", port: 5061 },
    user_agent: { original: "phone/1" },
    ...overrides,
  };
}

test("events: every field and the order the tracker inserts them", () => {
  const cases: SipEvent[] = [
    event({}, {
      request: { method: "INVITE" }, response: { status: 200, reason: "OK" }, reason_header: "Q.850;cause=16", pdd: 20.5, ring_time: 1980,
      originator: "caller", call: { outcome: "answered", times: { invite: "t1", ringing: "t2", answer: "t3", end: "t4" }, implied: true, legs: { session_id: "s", x_cid: "x" } },
    }),
    event({}, { request: { method: "INVITE" }, pdd: 0.001, ring_time: -0, call: { outcome: "timeout", times: {} } }),
    event({ user_agent: undefined, observer: undefined }, { problems: ["no-cseq", "truncated"], request: { method: "X" }, response: { status: 0, reason: "" } }),
    event({}, { request: { method: "REGISTER" }, binding: { aor: "sip:u@x", contact: "sip:u@[2001:db8::2]:5060", expires: 0 } }),
    event({}, { request: { method: "INVITE" }, call: { outcome: "failed", times: {} }, binding: { aor: "a", contact: "c", expires: 1 } }),
    event({}, { request: { method: "INVITE" }, call: { outcome: "failed", times: { end: "e" }, legs: {} }, binding: { aor: "a", contact: "c", expires: 1 } }),
    event({}, { request: { method: "OPTIONS" }, response: { status: 404, reason: "Not \"Found\"" }, reason_header: undefined }),
    { "@timestamp": "2026-11-22T10:01:00.000000Z", event: { kind: "metric", type: "counters", sequence: 9 }, counters: { messages: 3, calls_held: 0, rate: 1.5 } },
    { "@timestamp": "2026-11-22T10:01:00.000000Z", event: { kind: "metric", type: "counters", sequence: 10 }, observer: { name: "s" }, counters: {} },
    event({ event: { kind: "event", type: "msg-probe", sequence: 1 } }, { pdd: NaN, ring_time: Infinity }),
  ];
  cases.forEach((e, i) => same(e, `case ${i}`));
  for (const s of HOSTILE) {
    const e = event({ observer: { name: s }, user_agent: { original: s } }, { call_id: s, from: s, to: s, problems: [s], request: { method: s }, call: { outcome: "failed", times: { invite: s }, legs: { x_cid: s } } });
    same(e, `for ${JSON.stringify(s)}`);
  }
});

test("events: every golden event line renders back to itself", () => {
  const dir = "fixtures/captures";
  let lines = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".events.ndjson"))) {
    for (const line of readFileSync(`${dir}/${file}`, "utf8").split("\n").filter((l) => l !== "")) {
      assert.is(renderer.render(JSON.parse(line) as SipEvent).toString(), line, file);
      lines++;
    }
  }
  assert.ok(lines > 50, `only ${lines} golden event lines`);
});

test.run();
