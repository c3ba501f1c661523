// The tracker's rules one by one, on hand-made message summaries (what the
// core gives for each SIP message), and its bounds under a flood.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { Tracker } from "../host/calls/tracker";
import { observe, uriOf, expiresParam, type Observed } from "../host/calls/message";
import { runFrames, udpFrame, sip, type Frame } from "./helpers";
import { sipOf, trackFrames, firstDifference } from "./trackers";
import { parseIsoTime, type SipEvent } from "../host/calls/events";
import { EventGate, parseBlocklist, parseRate } from "../host/calls/ratelimit";
import { applySettings, defaultSettings, TIMEOUTS, type TrackerSettings } from "../host/calls/settings";
import * as L from "../assembly/layout";
import { TimerHeap } from "../host/calls/timers";

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0) * 1000; // µs
const S = 1_000_000;
const caller = { ip: "192.0.2.10", port: 5060 };
const callee = { ip: "198.51.100.20", port: 5060 };

function request(method: string, at: number, extra: Partial<Observed> = {}): Observed {
  return {
    timeUs: T0 + at, src: caller, dst: callee, transport: "udp", isRequest: true, method, status: 0, reason: "",
    callId: "call-1", cseq: 1, from: "\"Alice\" <sip:alice@example.com>;tag=a1", fromTag: "a1",
    to: "<sip:bob@example.com>", toTag: "", contact: "<sip:alice@192.0.2.10>", expires: -1,
    userAgent: "phone/1", reasonHeader: "", xCid: "", sessionId: "", chargingVector: "", problems: 0, ...extra,
  };
}

function response(method: string, status: number, at: number, extra: Partial<Observed> = {}): Observed {
  return request(method, at, { isRequest: false, status, reason: "Reason", src: callee, dst: caller, toTag: status > 100 ? "b1" : "", userAgent: "", ...extra });
}

// The summaries' messages through the tracker; and the same messages written as SIP, read by
// the core, through another tracker: the two must say the same. So every summary here is one the
// core gives for a real message, and these rules hold for whatever tracker reads the core's
// records (docs/tracker-core.md, its first step). `summariesOnly` is for a summary no SIP text
// gives (a request with a status out of range).
function run(messages: Observed[], settings: Partial<TrackerSettings> = {}, until?: number, summariesOnly = false): SipEvent[] {
  const events = track(messages, settings, until);
  if (summariesOnly) return events;
  const read = throughCore(messages);
  read.forEach((m, i) => assert.equal(comparable(m), comparable(messages[i]), `message ${i} as the core reads its SIP text:\n${sipOf(messages[i])}`));
  assert.equal(track(read, settings, until), events, "the same messages read by the core give the same events");
  // The core's own tracker (--tracker core) too; it has no clock but the messages' (until).
  if (until === undefined) {
    const both = trackFrames(framesOf(messages), { countersSeconds: 0, ...settings }, "0,0,0");
    assert.is(firstDifference(both), undefined, "the core's tracker gives the same events");
  }
  return events;
}

function track(messages: Observed[], settings: Partial<TrackerSettings>, until?: number): SipEvent[] {
  const events: SipEvent[] = [];
  const tracker = new Tracker((e) => events.push(e), { countersSeconds: 0, ...settings });
  for (const m of messages) tracker.observe(m);
  if (until !== undefined) tracker.advance(T0 + until);
  tracker.finish();
  return events;
}

function framesOf(messages: Observed[]): Frame[] {
  return messages.map((m) => ({
    data: udpFrame(sipOf(m), { src: m.src.ip, dst: m.dst.ip, sport: m.src.port, dport: m.dst.port }),
    sec: Math.floor(m.timeUs / S), nsec: (m.timeUs % S) * 1000,
  }));
}

function throughCore(messages: Observed[]): Observed[] {
  const read = runFrames(framesOf(messages)).messages.map((m) => observe(m));
  assert.is(read.length, messages.length, "the core reads one message per summary");
  return read;
}

// What the tracker reads of a message, but the From and To values whole (the tracker takes their
// URI and tag) and the call key (a summary has none).
function comparable(m: Observed): unknown[] {
  return [m.timeUs, m.src.ip, m.src.port, m.dst.ip, m.dst.port, m.transport, m.isRequest, m.method, m.status, m.reason, m.callId, m.cseq,
    uriOf(m.from), m.fromTag, uriOf(m.to), m.toTag, m.contact, m.expires, m.userAgent, m.reasonHeader, m.xCid, m.sessionId,
    m.chargingVector, m.problems];
}

const types = (events: SipEvent[]): string[] => events.map((e) => e.event.type);
const at = (e: SipEvent): number => parseIsoTime(e["@timestamp"]) - T0;

test("retransmissions are absorbed: one call-start, one call-end", () => {
  const events = run([
    request("INVITE", 0), request("INVITE", 500_000), response("INVITE", 100, 10_000), response("INVITE", 180, 20_000),
    response("INVITE", 200, 2 * S), response("INVITE", 200, 2.5 * S), request("ACK", 2.1 * S, { toTag: "b1" }),
    request("BYE", 10 * S, { toTag: "b1", cseq: 2 }), request("BYE", 10.5 * S, { toTag: "b1", cseq: 2 }), response("BYE", 200, 10.6 * S, { cseq: 2 }),
  ]);
  assert.equal(types(events), ["call-start", "call-end"]);
  const [start, end] = events;
  assert.is(start.sip?.pdd, 20);
  assert.is(start.sip?.ring_time, 1980);
  assert.is(end.event.duration, 8 * S * 1000);
  assert.is(end.sip?.originator, "caller");
  assert.is(end.sip?.from, "sip:alice@example.com");
});

test("the callee hanging up is the callee", () => {
  const events = run([
    request("INVITE", 0), response("INVITE", 200, S),
    request("BYE", 5 * S, { toTag: "a1", fromTag: "b1", src: callee, dst: caller, cseq: 7 }),
  ]);
  assert.is(events[1].sip?.originator, "callee");
});

test("a reply seen before its request still makes one call", () => {
  const events = run([response("INVITE", 180, 0), request("INVITE", 1000), response("INVITE", 200, S), request("BYE", 3 * S, { toTag: "b1", cseq: 2 })]);
  assert.equal(types(events), ["call-start", "call-end"]);
  assert.is(events[0].client?.ip, caller.ip, "the caller is the client");
});

test("a call running before the capture began: start implied by its BYE", () => {
  const events = run([request("BYE", 0, { toTag: "b1", cseq: 5 })]);
  assert.equal(types(events), ["call-start", "call-end"]);
  assert.is(events[0].sip?.call?.implied, true);
  assert.is(events[1].sip?.call?.implied, true);
});

test("a missed 2xx is implied by the re-INVITE", () => {
  const events = run([request("INVITE", 0), request("INVITE", 4 * S, { toTag: "b1", cseq: 2 })]);
  assert.equal(types(events), ["call-start"]);
  assert.is(events[0].sip?.call?.implied, true);
});

test("a failure waits out the grace period: a late 2xx on another branch wins", () => {
  const forked = run([request("INVITE", 0), response("INVITE", 486, S, { toTag: "x" }), response("INVITE", 200, 3 * S, { toTag: "y" })], { graceSeconds: 5 });
  assert.equal(types(forked), ["call-start"]);
  const failed = run([request("INVITE", 0), response("INVITE", 486, S, { toTag: "x" }), request("OPTIONS", 7 * S, { callId: "o" })], { graceSeconds: 5 });
  assert.equal(types(failed), ["call-attempt"]);
  assert.is(at(failed[0]), S, "reported with the failure's time");
  assert.is(failed[0].sip?.response?.status, 486);
  assert.is(failed[0].sip?.call?.outcome, "failed");
});

test("CANCEL makes the attempt cancelled", () => {
  const events = run([request("INVITE", 0), response("INVITE", 180, 100), request("CANCEL", 2 * S), response("CANCEL", 200, 2 * S + 10),
    response("INVITE", 487, 2 * S + 20)]);
  assert.equal(types(events), ["call-attempt"]);
  assert.is(events[0].sip?.call?.outcome, "cancelled");
});

test("an INVITE never answered is an attempt that timed out, at the invite timeout", () => {
  const events = run([request("INVITE", 0)], { inviteSeconds: 60 }, 61 * S);
  assert.equal(types(events), ["call-attempt"]);
  assert.is(events[0].sip?.call?.outcome, "timeout");
  assert.is(at(events[0]), 60 * S);
});

test("an answered call with no BYE ends on the established timer, hung up by timeout", () => {
  const events = run([request("INVITE", 0), response("INVITE", 200, S), request("INFO", 100 * S, { toTag: "b1", cseq: 2 })], { establishedSeconds: 600 }, 1000 * S);
  assert.equal(types(events), ["call-start", "call-end"]);
  assert.is(events[1].sip?.originator, "timeout");
  assert.is(at(events[1]), 700 * S, "the timer restarts with every message in the dialog");
  assert.is(events[1].event.duration, 99 * S * 1000, "the call ends with its last message");
});

test("a first 401 is silent; the retry challenged again is auth-failed, once", () => {
  const to = "<sip:alice@example.com>";
  const reg = (cseq: number, t: number): Observed => request("REGISTER", t, { callId: "r", cseq, to });
  const answer = (status: number, cseq: number, t: number, extra: Partial<Observed> = {}): Observed => response("REGISTER", status, t, { callId: "r", cseq, to, ...extra });
  const ok = run([reg(1, 0), answer(401, 1, 1000), reg(2, 2000), answer(200, 2, 3000, { contact: "<sip:alice@192.0.2.10>;expires=600" })]);
  assert.equal(types(ok), ["reg-new"]);
  const failed = run([reg(1, 0), answer(401, 1, 1000), reg(2, 2000), answer(401, 2, 3000), reg(3, 4000), answer(401, 3, 5000), reg(4, 6000), answer(403, 4, 7000)]);
  assert.equal(types(failed), ["auth-failed"]);
  const refused = run([reg(1, 0), answer(401, 1, 1000), reg(2, 2000), answer(403, 2, 3000)]);
  assert.equal(types(refused), ["auth-failed"], "a 403 to the retry is a refusal of the credentials");
  const unanswered = run([reg(1, 0), answer(401, 1, 1000)], {}, 70 * S);
  assert.equal(types(unanswered), ["other-failed"], "a challenge never retried is a failure");
});

test("bindings: new, silent refresh, expired at Expires, deleted with '*'", () => {
  const reg = (cseq: number, t: number, extra: Partial<Observed> = {}): Observed => request("REGISTER", t, { callId: "r", cseq, to: "<sip:alice@example.com>", ...extra });
  const ok = (cseq: number, t: number, contact = ""): Observed => response("REGISTER", 200, t, { callId: "r", cseq, contact, to: "<sip:alice@example.com>" });
  const events = run([
    reg(1, 0, { expires: 60 }), ok(1, 1000),
    reg(2, 30 * S, { expires: 60 }), ok(2, 30 * S + 1000),
    reg(3, 200 * S, { contact: "<sip:alice@192.0.2.11>;expires=120" }), ok(3, 200 * S + 500, "<sip:alice@192.0.2.11>;expires=90"),
    reg(4, 250 * S, { contact: "*", expires: 0 }), ok(4, 250 * S + 10),
  ]);
  assert.equal(types(events), ["reg-new", "reg-expired", "reg-new", "reg-del"]);
  assert.is(at(events[1]), 90 * S + 1000, "expired 60 s after the refresh was accepted");
  assert.is(events[2].sip?.binding?.expires, 90, "the registrar's grant wins over the request");
  assert.is(events[3].sip?.binding?.contact, "sip:alice@192.0.2.11");
});

test("non-INVITE transactions: other-ok, other-failed, other-timeout", () => {
  const events = run([
    request("OPTIONS", 0, { callId: "o1" }), response("OPTIONS", 200, 5000, { callId: "o1" }), response("OPTIONS", 200, 6000, { callId: "o1" }),
    request("MESSAGE", S, { callId: "m1" }), response("MESSAGE", 404, S + 5000, { callId: "m1" }),
    request("SUBSCRIBE", 2 * S, { callId: "s1" }),
  ], { transactionSeconds: 32 }, 40 * S);
  assert.equal(types(events), ["other-ok", "other-failed", "other-timeout"]);
  assert.is(events[0].event.duration, 5000 * 1000);
  assert.is(at(events[2]), 34 * S);
});

test("parse errors and scanners are reported", () => {
  const events = run([
    request("OPTIONS", 0, { callId: "", problems: L.PROB_NO_CALL_ID }),
    request("OPTIONS", 1000, { callId: "scan", userAgent: "friendly-scanner" }),
    request("OPTIONS", 2000, { callId: "scan", userAgent: "friendly-scanner" }),
  ]);
  assert.equal(types(events).filter((t) => t !== "other-timeout"), ["parse-error", "msg-probe"]);
  assert.equal(events[0].sip?.problems, ["no-call-id"]);
});

test("lenient start lines give parse-error events that name their problem", () => {
  const events = run([request("OPTIONS", 0, { callId: "lenient", problems: L.PROB_URI_NOT_ASCII | L.PROB_STATUS_RANGE })], {}, undefined, true);
  assert.equal(events[0].sip?.problems, ["uri-not-ascii", "status-range"]);
  const zero = run([response("OPTIONS", 0, 0, { callId: "zero", problems: L.PROB_STATUS_RANGE })]);
  assert.equal(zero[0].sip?.response, { status: 0, reason: "Reason" }, "a response's status shows even when it is 000");
});

// RFC 3261 §21 defines 100-699; §8.1.3.2 has a UA treat an unknown final response as a
// failure, so a 7xx-9xx ends the attempt like a 6xx (and is reported as a parse error).
test("a final status past 699 fails the INVITE and is a parse error too", () => {
  const events = run([request("INVITE", 0, { callId: "odd" }),
    response("INVITE", 799, S, { callId: "odd", problems: L.PROB_STATUS_RANGE })], { graceSeconds: 1 }, 10 * S);
  assert.equal(types(events), ["parse-error", "call-attempt"], JSON.stringify(events));
  assert.equal(events[1].sip?.response, { status: 799, reason: "Reason" });
});

// name-addr and addr-spec forms (RFC 3261 §20.10, §25.1): [From value, its URI, its tag].
const NAME_ADDRS: [string, string, string][] = [
  ['"a<b" <sip:alice@example.com>;tag=1', "sip:alice@example.com", "1"],
  ['"a>b" <sip:alice@example.com>;tag=2', "sip:alice@example.com", "2"],
  ['"a\\"<b" <sip:alice@example.com>;tag=3', "sip:alice@example.com", "3"],
  ['"a\\\\" <sip:alice@example.com>;tag=4', "sip:alice@example.com", "4"],
  ['"a;tag=evil" <sip:alice@example.com>;tag=5', "sip:alice@example.com", "5"],
  ['"a, b" <sip:alice@example.com>;tag=6', "sip:alice@example.com", "6"],
  ['"" <sip:alice@example.com>;tag=7', "sip:alice@example.com", "7"],
  ["Alice Smith <sip:alice@example.com> ;tag=8", "sip:alice@example.com", "8"],
  ["<sip:alice@example.com;transport=tcp>;tag=9", "sip:alice@example.com;transport=tcp", "9"],
  ["<sip:alice@example.com;tag=inside>", "sip:alice@example.com;tag=inside", ""],
  ["sip:alice@example.com;tag=10", "sip:alice@example.com", "10"],
  ["sip:alice@example.com", "sip:alice@example.com", ""],
  ['"never closed <sip:alice@example.com>;tag=11', "", ""],
];

test("name-addr: the URI and tag of each From form, through the core and the host", () => {
  const frames = NAME_ADDRS.map(([from], i) => ({ data: udpFrame(sip([
    "OPTIONS sip:bob@example.com SIP/2.0", `From: ${from}`, `To: ${from}`, `Call-ID: name-addr-${i}`, "CSeq: 1 OPTIONS",
    "Content-Length: 0"])) }));
  const seen = runFrames(frames).messages.map((m) => observe(m)).map((m) => [m.from, uriOf(m.from), m.fromTag, uriOf(m.to), m.toTag]);
  assert.equal(seen, NAME_ADDRS.map(([from, uri, tag]) => [from, uri, tag, uri, tag]));
});

test("name-addr: events carry the URI from outside the quoted display name", () => {
  const events = run([request("OPTIONS", 0, { callId: "q", from: '"Bob <boss>" <sip:alice@example.com>;tag=a1' }),
    response("OPTIONS", 200, 1000, { callId: "q" })]);
  assert.is(events[0].sip?.from, "sip:alice@example.com");
});

test("Contact ;expires=: the first contact's own parameter, quoted values skipped", () => {
  const table: [string, number][] = [
    ['<sip:a@example.com>;expires=60;+sip.instance="<urn:uuid:1>"', 60],
    ['<sip:a@example.com>;+sip.instance="<urn:uuid:1>";expires=60', 60],
    ['<sip:a@example.com>;+sip.instance="<urn:uuid:1>"', -1],
    ['"x;expires=5" <sip:a@example.com>', -1],
    ["<sip:a@example.com;expires=5>", -1],
    ["sip:a@example.com;expires=30", 30],
    ["<sip:a@example.com> ; EXPIRES = 45", 45],
    ["<sip:a@example.com>;expires=10, <sip:b@example.com>;expires=20", 10],
    ["<sip:a@example.com>, <sip:b@example.com>;expires=20", -1],
  ];
  assert.equal(table.map(([contact]) => [contact, expiresParam(contact)]), table);
});

test("leg correlation headers ride on the call's events", () => {
  const events = run([request("INVITE", 0, { xCid: "other-leg@sbc", sessionId: "ab30317f1a784dc48ff824d0d3715d86" }), response("INVITE", 200, S)]);
  assert.equal(events[0].sip?.call?.legs, { x_cid: "other-leg@sbc", session_id: "ab30317f1a784dc48ff824d0d3715d86" });
});

test("periodic counters are events on capture time", () => {
  const events: SipEvent[] = [];
  const tracker = new Tracker((e) => events.push(e), { countersSeconds: 60 });
  for (let i = 0; i <= 10; i++) tracker.observe(request("OPTIONS", i * 30 * S, { callId: `o${i}` }));
  const counters = events.filter((e) => e.event.type === "counters");
  assert.equal(counters.map(at), [60 * S, 120 * S, 180 * S, 240 * S, 300 * S]);
  assert.is(counters[0].counters?.messages, 2);
  tracker.observe(request("OPTIONS", 20 * 365 * 86400 * S, { callId: "late" }));
  const after = events.filter((e) => e.event.type === "counters").slice(5).map(at);
  // the jump lands on a period boundary (twenty years are a whole number of minutes)
  assert.equal(after, [360 * S, 20 * 365 * 86400 * S],
    "a clock jump of twenty years: the period in which the last timers fired, then one report for the quiet years");
});

test("rate limits per (type, source IP) over three windows; the blocklist", () => {
  const gate = new EventGate(parseBlocklist("msg-probe"), parseRate("5,7,0"));
  const event = (type: "other-failed" | "msg-probe" | "call-start", ip: string, us: number): SipEvent => ({
    "@timestamp": new Date((T0 + us) / 1000).toISOString(), event: { kind: "event", type, sequence: 0 }, client: { ip, port: 5060, transport: "udp" },
  });
  const passed = (type: "other-failed" | "msg-probe" | "call-start", ip: string, us: number, n: number): number =>
    Array.from({ length: n }, () => gate.pass(event(type, ip, us))).filter(Boolean).length;
  assert.is(passed("other-failed", "192.0.2.1", 0, 10), 5, "5 a second");
  assert.is(passed("other-failed", "192.0.2.2", 0, 10), 5, "another source has its own budget");
  assert.is(passed("other-failed", "192.0.2.1", 2 * S, 10), 2, "then the minute's 7 are spent");
  assert.is(passed("call-start", "192.0.2.1", 0, 50), 50, "calls are never limited");
  assert.is(passed("msg-probe", "192.0.2.9", 0, 3), 0, "blocked");
  assert.equal(gate.counters(), { "blocked_msg-probe": 3, "suppressed_other-failed": 18, rate_keys_evicted: 0 });
  assert.throws(() => parseBlocklist("call-stop"), /'call-stop' is not an event type/);
  assert.throws(() => parseRate("1,2"), /three integers/);
});

test("timeouts are checked against their ranges", () => {
  assert.is(applySettings(defaultSettings(), "invite=60,grace=0", TIMEOUTS, "--call-timeout").inviteSeconds, 60);
  assert.throws(() => applySettings(defaultSettings(), "invite=5", TIMEOUTS, "--call-timeout"), /--call-timeout invite: 5 is out of range: an integer from 32 to 3600/);
  assert.throws(() => applySettings(defaultSettings(), "bogus=5", TIMEOUTS, "--call-timeout"), /unknown name 'bogus'/);
});

test("the timer heap hands back every armed deadline in order, after re-arms and disarms", () => {
  const heap = new TimerHeap<{ deadline: number; heapIndex: number }>();
  const items = Array.from({ length: 2000 }, () => ({ deadline: 0, heapIndex: -1 }));
  let seed = 1;
  const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (const item of items) heap.arm(item, Math.floor(random() * 1e6));
  for (let k = 0; k < 3000; k++) {
    const item = items[Math.floor(random() * items.length)];
    if (random() < 0.3) heap.disarm(item);
    else heap.arm(item, Math.floor(random() * 1e6));
  }
  const armed = items.filter((i) => i.heapIndex >= 0).map((i) => i.deadline).sort((a, b) => a - b);
  const fired: number[] = [];
  for (let item = heap.due(Infinity); item !== undefined; item = heap.due(Infinity)) fired.push(item.deadline);
  assert.ok(armed.length > 1000);
  assert.equal(fired, armed);
  assert.is(heap.size, 0);
});

// ---------------------------------------------------------------- bounds

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test("a million INVITEs that never complete keep memory under the bound", () => {
  const events: SipEvent[] = [];
  const maxCalls = 20_000;
  const tracker = new Tracker((e) => events.push(e), { maxCalls, countersSeconds: 0 });
  const before = heapAfterGc();
  const m = request("INVITE", 0);
  for (let i = 0; i < 1_000_000; i++) {
    m.timeUs = T0 + i * 10;   // 100,000 a second of capture time: none times out, eviction must bound them
    m.callId = `flood-${i}`;
    m.fromTag = `t${i}`;
    tracker.observe(m);
  }
  const grown = heapAfterGc() - before;
  const counters = tracker.counters();
  assert.is(counters.calls_held, maxCalls);
  assert.is(counters.calls_evicted, 1_000_000 - maxCalls);
  assert.ok(counters.timers_armed <= maxCalls, `timers ${counters.timers_armed}`);
  assert.ok(grown < 64 << 20, `heap grew ${(grown / 1048576).toFixed(1)} MiB for ${maxCalls} calls held`);
  assert.is(events.length, 0, "evicted calls are counted, not reported");
});

test("REGISTERs never answered and bindings never refreshed stay bounded", () => {
  const tracker = new Tracker(() => undefined, { maxTransactions: 5000, maxBindings: 3000, countersSeconds: 0 });
  for (let i = 0; i < 200_000; i++) {
    tracker.observe(request("REGISTER", i * 10, { callId: `r${i}`, to: `<sip:u${i}@example.com>`, expires: 3600 }));
    if (i % 2 === 0) tracker.observe(response("REGISTER", 200, i * 10 + 5, { callId: `r${i}`, to: `<sip:u${i}@example.com>` }));
  }
  const c = tracker.counters();
  assert.ok(c.transactions_held <= 5000 && c.bindings_held <= 3000);
  assert.is(c.bindings_evicted, 100_000 - 3000);
  assert.ok(c.transactions_evicted > 0);
});

test.run();
