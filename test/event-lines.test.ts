// The core renders call events (assembly/events.ts, host/core/event-lines.ts)
// byte for byte as JSON.stringify renders the event object: on every event of
// every capture in fixtures/, on random descriptions with hostile text and
// numbers at the edges, and through the events sink (the RTP and recording
// members put in), where the lines must equal the object path's.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Core, instantiateCore, type CoreExports, type Instantiate } from "../host/core";
import { problemNames } from "../host/core/records";
import * as L from "../assembly/layout";
import { readCapture } from "../host/source";
import { Tracker } from "../host/calls/tracker";
import { observe } from "../host/calls/message";
import { EventDescription, eventObject } from "../host/calls/description";
import { eventsSink } from "../host/calls/publish";
import { EventGate, parseRate } from "../host/calls/ratelimit";
import { EVENT_TYPES, type CallOutcome, type Originator, type SipEvent } from "../host/calls/events";
import type { EventLines } from "../host/core/event-lines";
import type { BatchHandler, StreamQuality } from "../host/core/records";
import type { EventOutput } from "../host/sink/sink";
import { CallStore } from "../host/http/store";
import { Rng } from "./support/generate/rng";

function captures(dir = "fixtures"): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? captures(join(dir, e.name)) : /\.pcap(ng)?$/.test(e.name) ? [join(dir, e.name)] : []);
}

function newCore(onBatch: BatchHandler = () => undefined): Core {
  return new Core({ sensor: "test", agent: "test", renderJson: false }, onBatch);
}

function newCoreWith(instantiate: Instantiate): Core {
  return new Core({ sensor: "test", agent: "test", renderJson: false, instantiate }, () => undefined);
}

// What the core rendered for `d` at the start of its line region, or undefined when it left the
// event to the object path.
function rendered(lines: EventLines, d: EventDescription): string | undefined {
  lines.rewind();
  if (!lines.append(d)) return undefined;
  return lines.memory.toString("utf8", lines.start, lines.end);
}

test("every event of every capture in fixtures/: the core's line is JSON.stringify of the object", async () => {
  let checked = 0;
  for (const path of captures()) {
    let lines: EventLines | undefined;
    const tracker = new Tracker(() => undefined, { countersSeconds: 0 }, "sensor \"7\"");
    // Each description is rendered and compared, then left to the object path: the run goes on as it would.
    tracker.lines = (d) => {
      const line = rendered(lines as EventLines, d);
      assert.is(line, `${JSON.stringify(eventObject(d))}\n`, `${path}: event ${d.sequence}`);
      checked++;
      return false;
    };
    const core = newCore((batch) => {
      for (let i = 0; i < batch.count; i++) tracker.observe(observe(batch.message(i)));
    });
    lines = core.eventLines;
    await readCapture(path, core, () => undefined);
    core.flush();
    tracker.finish();
  }
  assert.ok(checked > 50, `only ${checked} events checked`);
});

const TEXTS = [
  "", "plain", "sip:alice@example.com", "quote \" and backslash \\", "tab\tnew\nline\rcr\bbs\fff",
  "\u0000\u0001\u001f\u007f", "caf\u00e9 \u2028 \u2029 \u00a0", "emoji \u{1f600}", "\ufffd\ufffd", "</script><img src=x onerror=1>",
  "x".repeat(300), "é".repeat(70),
];

function randomDescription(rng: Rng): EventDescription {
  const d = new EventDescription().clear();
  const piece = (): string => TEXTS[rng.below(TEXTS.length)] + (rng.chance(0.3) ? rng.hex(rng.below(20)) : "");
  // Some texts are several pieces joined, so that characters to escape fall anywhere in the
  // 16-byte blocks the SIMD build copies whole, and at their edges.
  const text = (): string => rng.chance(0.8) ? piece() : Array.from({ length: 2 + rng.below(5) }, piece).join(rng.hex(rng.below(17)));
  const maybe = <T>(value: () => T): T | undefined => (rng.chance(0.5) ? value() : undefined);
  const edge = (): number => rng.chance(0.5) ? rng.between(-5_000_000, 5_000_000)
    : EDGE_NUMBERS[rng.below(EDGE_NUMBERS.length)];
  d.type = EVENT_TYPES[rng.below(EVENT_TYPES.length - 1)];
  // Capture times span 1684 to 2255 (the core clamps them); timer deadlines may lie past that.
  d.atUs = rng.chance(0.1) ? edge() : rng.between(-9_000_000, 9_400_000) * 1_000_000_000 + rng.below(1_000_000_000);
  d.durationNs = maybe(edge);
  d.sequence = rng.between(1, 1_000_000);
  d.observer = maybe(text);
  d.callId = text();
  d.from = rng.chance(0.7) ? nameAddr(rng) : text();
  d.to = rng.chance(0.7) ? nameAddr(rng) : text();
  d.problems = maybe(() => rng.below(256));
  d.method = maybe(text);
  d.status = maybe(() => rng.below(1000));
  d.reason = text();
  d.reasonHeader = maybe(text);
  d.pddUs = maybe(edge);
  d.ringUs = maybe(edge);
  d.originator = maybe(() => (["caller", "callee", "timeout"] as Originator[])[rng.below(3)]);
  d.outcome = maybe(() => (["answered", "failed", "cancelled", "timeout", "auth-failed"] as CallOutcome[])[rng.below(5)]);
  d.implied = rng.chance(0.5);
  for (let k = 0; k < 4; k++) d.times[k] = maybe(() => 1_700_000_000_000_000 + rng.between(-2_000_000_000, 2_000_000_000) * 1000);
  if (rng.chance(0.5)) {
    d.legs = {};
    for (const name of ["p_charging_vector", "x_cid", "session_id"] as const) if (rng.chance(0.6)) d.legs[name] = text();
    if (Object.keys(d.legs).length === 0) d.legs.session_id = text(); // the tracker's legs are never empty
  }
  d.aor = maybe(text);
  d.contact = text();
  d.expires = rng.below(2 ** 31);
  d.client = { ip: rng.chance(0.5) ? "192.0.2.1" : "2001:db8::1", port: rng.below(65536) };
  d.server = { ip: "198.51.100.7", port: rng.below(65536) };
  d.transport = (["udp", "tcp", "ws"] as const)[rng.below(3)];
  d.userAgent = rng.chance(0.5) ? text() : "";
  if (rng.chance(0.5)) d.rtp = [randomStream(rng, text), randomStream(rng, text)];
  return d;
}

// A From or To value in the shapes uriOf() tells apart: display names quoted (with escapes,
// unterminated) or not, <...> closed or not, parameters and a second value after it, and
// JavaScript's white space (ASCII and Unicode) around the pieces.
const SPACES = [" ", "\t", "\n", "\v", "\f", "\r", "\u00a0", "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "\u200b", "\u0085", ""];
const PIECES = ["sip:alice@example.com", "\"Alice\"", "\"A \\\" <b>\"", "\"unterminated", "<", ">", ";tag=1", ",", "\\", "Bob", "\u00e9", "\u{1f600}",
  "\ufffd", "sips:[2001:db8::1]:5061", "tel:+1-555", ";", "\""];
function nameAddr(rng: Rng): string {
  let value = "";
  const count = 1 + rng.below(6);
  for (let i = 0; i < count; i++) value += SPACES[rng.below(SPACES.length)] + PIECES[rng.below(PIECES.length)];
  return value + SPACES[rng.below(SPACES.length)];
}

function randomStream(rng: Rng, text: () => string): StreamQuality {
  const count = (): number => (rng.chance(0.9) ? rng.below(100_000) : [0, -3, 2 ** 53, 2 ** 53 + 2][rng.below(4)]);
  const ms = (): number => (rng.chance(0.9) ? rng.float() * 300 : [0, 0.0005, 0.0015, 123.4565, NaN, Infinity, 1e13][rng.below(7)]);
  return {
    packets: count(), expected: count(), lost: count() - count(), duplicates: count(), outOfOrder: count(), ssrcChanges: count(),
    ssrc: rng.u32(), payloadType: 0, codec: text(), clockRate: 8000, jitterMs: ms(), maxJitterMs: ms(),
    rtcpPackets: count(), rtcpReports: rng.chance(0.5) ? 0 : count(), rtcpFractionLost: rng.float(), rtcpLost: count(), rtcpJitterMs: ms(),
  };
}

// Whether JSON.stringify writes every number of `d` as the core does: integers up to 2^53, and
// thousandths below 10^15 (docs: assembly/events.ts).
function plainNumbers(d: EventDescription): boolean {
  const integers = [d.atUs, d.durationNs ?? 0, d.sequence, d.expires, ...d.times.map((t) => t ?? 0)];
  const thousandths = [d.pddUs ?? 0, d.ringUs ?? 0];
  for (const s of d.rtp ?? []) {
    integers.push(s.packets, s.expected, s.lost, s.duplicates, s.outOfOrder, s.ssrcChanges, s.rtcpReports, s.rtcpLost);
    thousandths.push(...[s.jitterMs, s.maxJitterMs, s.rtcpFractionLost, s.rtcpJitterMs].map((x) => Math.round(x * 1000)));
  }
  return integers.every((n) => Number.isSafeInteger(n) || Math.abs(n) === 2 ** 53)
    && thousandths.every((n) => Number.isSafeInteger(n) && Math.abs(n) < 1e15);
}

// Numbers at the edges of what the core writes, each side of every decimal width among them.
const EDGE_NUMBERS = [0, 1, -1, 999, -999, 1000, 2 ** 53, -(2 ** 53), 2 ** 53 + 2, 1e15 - 1, 1e15, -(1e15 - 1), 0.5,
  ...Array.from({ length: 15 }, (_, k) => [10 ** (k + 1) - 1, 10 ** (k + 1)]).flat(), 2 ** 32 - 1, 2 ** 32, 2 ** 31, 2 ** 30 - 1];

test("random descriptions: hostile text and numbers at the edges render as JSON.stringify, or go to the object path", () => {
  for (const build of ["simd", "scalar"] as const) {
    const lines = new Core({ sensor: "test", agent: "test", renderJson: false, build }, () => undefined).eventLines as EventLines;
    const rng = new Rng(20261206);
    let byCore = 0;
    for (let i = 0; i < 20_000; i++) {
      const d = randomDescription(rng);
      d.sequence = i + 1;
      const line = rendered(lines, d);
      if (line === undefined) {
        // Only numbers JSON.stringify would write otherwise than the core may send an event back.
        assert.ok(!plainNumbers(d), `${build}: event ${i} left to the object path: ${JSON.stringify(eventObject(d))}`);
        continue;
      }
      byCore++;
      assert.is(line, `${JSON.stringify(eventObject(d))}\n`, `${build}: event ${i}`);
    }
    assert.ok(byCore > 10_000, `${build}: only ${byCore} of 20,000 rendered by the core`);
  }
});

test("text past the regions' bounds: the core declines and the event goes to the object path whole", () => {
  const lines = newCore().eventLines as EventLines;
  const rng = new Rng(7);
  // 180,000 escaped take 1,080,000 bytes rendered, past R_EVENT_OUT's 1 MiB; 400,000 take 1.2 MB of text, past R_EVENT's.
  for (const length of [180_000, 400_000]) {
    const d = randomDescription(rng);
    d.atUs = 1_700_000_000_000_000;
    d.durationNs = d.pddUs = d.ringUs = d.rtp = undefined;
    d.from = `sip:${"\u0001".repeat(length)}@example.com`; // six bytes each, escaped
    lines.rewind();
    assert.ok(!lines.append(d), `a From of ${length} characters was rendered`);
    d.from = "sip:a@example.com";
    assert.is(rendered(lines, d), `${JSON.stringify(eventObject(d))}\n`, "the next event, small again");
  }
});

test("PROB_NAMES names each problem bit as parse-error events always have", () => {
  const named: [number, string][] = [
    [L.PROB_CLEN_BAD, "content-length-bad"], [L.PROB_CLEN_SHORT, "content-length-short"], [L.PROB_NO_CALL_ID, "no-call-id"],
    [L.PROB_NO_CSEQ, "no-cseq"], [L.PROB_HEADER_OVERFLOW, "header-overflow"], [L.PROB_TRUNCATED, "truncated"],
    [L.PROB_URI_NOT_ASCII, "uri-not-ascii"], [L.PROB_STATUS_RANGE, "status-range"],
  ];
  for (const [bit, name] of named) assert.equal(problemNames(bit), [name]);
  assert.equal(problemNames(255), named.map(([, name]) => name));
});

// The description is the host's, but a fault there must not become a write outside the core's
// regions: slots and numbers out of bounds (offsets and lengths at and around 2^16, 2^32 - 1,
// an output offset near 2^32) make renderEvent decline, never trap or write elsewhere.
test("a hostile description: slots and offsets out of bounds are declined", () => {
  let core: CoreExports | undefined;
  newCoreWith((module, imports) => (core = instantiateCore(module, imports)));
  const exports = core as CoreExports;
  const view = new DataView(exports.memory.buffer);
  const at = exports.region(L.R_EVENT);
  const put = (slot: number, offset: number, length: number): void => {
    view.setUint32(at + L.EV_SLOTS + 8 * slot, offset, true);
    view.setUint32(at + L.EV_SLOTS + 8 * slot + 4, length, true);
  };
  const plain = (): void => {
    new Uint8Array(exports.memory.buffer, at, L.EV_TEXT).fill(0);
    for (let slot = 0; slot < L.EV_SLOT_COUNT; slot++) put(slot, L.EV_TEXT, 1);
  };
  plain();
  assert.ok(exports.renderEvent(0) > 0, "a plain description renders");
  const edges = [0, L.EV_TEXT - 1, 0xffff, 0x10000, 0x10001, L.EVENT_BYTES, L.EVENT_BYTES - 1, 0x7fffffff, 0xfffffffe, 0xffffffff];
  for (const offset of edges) {
    for (const length of [1, 0xffff, 0x10000, L.EVENT_BYTES, 0xfffffffe]) {
      plain();
      put(L.EVS_FROM, offset, length);
      const fits = offset >= L.EV_TEXT && offset + length <= L.EVENT_BYTES && length * 6 + 3072 + 16 <= L.EVENT_OUT_BYTES;
      if (!fits) assert.is(exports.renderEvent(0), 0, `offset ${offset}, length ${length}`);
    }
  }
  plain();
  for (const out of [L.EVENT_OUT_BYTES - 100, 0xfffffff0, 0xffffffff]) assert.is(exports.renderEvent(out), 0, `output at ${out}`);
  plain();
  view.setUint32(at + L.EV_TYPE, 0xffffffff, true);
  assert.is(exports.renderEvent(0), 0, "a type past the names");
  plain();
  view.setFloat64(at + L.EV_AT_US, 2 ** 64, true);
  assert.is(exports.renderEvent(0), 0, "a time past 2^53");
});

// An output that takes lines (as NDJSON and MQTT do), or only objects (as call records do).
function collector(takesLines: boolean): EventOutput & { text(): string; lines: number } {
  const parts: string[] = [];
  const output = {
    lines: 0,
    write: (_e: SipEvent, json: string) => void parts.push(`${json}\n`),
    flush: () => undefined,
    backlog: () => undefined,
    close: async () => undefined,
    text: () => parts.join(""),
  };
  if (!takesLines) return output;
  return Object.assign(output, {
    writeLine(source: Buffer, start: number, end: number, extra: string) {
      output.lines++;
      parts.push(extra === "" ? source.toString("utf8", start, end) : `${source.toString("utf8", start, end - 2)}${extra}}\n`);
    },
  });
}

// The text each output got, for outputs that take lines (true) or only objects (false).
async function sinkTexts(path: string, takesLines: boolean[], instantiate?: Instantiate): Promise<{ texts: string[]; lines: number }> {
  const outputs = takesLines.map(collector);
  const recordingOf = (callId: string) => (callId.length % 2 === 0 ? { pcap: `2026/12/06/${callId.length}.pcap`, note: "a \"note\"" } : undefined);
  const sink = eventsSink((emit) => new Tracker(emit, { countersSeconds: 1 }, "sensor-1"),
    new EventGate(new Set(["other-timeout"]), parseRate("2,300,3000")), outputs, undefined, recordingOf);
  const core = new Core({ sensor: "test", agent: "test", renderJson: false, mediaCalls: 1000, instantiate }, (batch) => sink.write(batch));
  await readCapture(path, core, () => undefined);
  core.flush();
  await sink.close(Date.now() + 5000);
  return { texts: outputs.map((o) => o.text()), lines: outputs.reduce((n, o) => n + o.lines, 0) };
}

test("the events sink: lines from the core equal the object path's, with rtp, recordings, rate limits and blocked types", async () => {
  let lines = 0;
  for (const path of captures()) {
    const [objects] = (await sinkTexts(path, [false])).texts;
    const core = await sinkTexts(path, [true]);
    assert.is(core.texts[0], objects, path);
    // An output of lines beside one of objects (NDJSON beside call records): each gets the same.
    const both = await sinkTexts(path, [true, false]);
    assert.equal(both.texts, [objects, objects], path);
    lines += core.lines;
  }
  assert.ok(lines > 50, `only ${lines} events written as the core's lines`);
});

test("a trap while rendering an event costs nothing: that event goes out as the object path writes it", async () => {
  let traps = 0;
  let lines = 0;
  // Every third render traps, as a fault in assembly/events.ts would.
  const trapping: Instantiate = (module, imports) => {
    const real = instantiateCore(module, imports);
    return { ...real, renderEvent: (at: number) => {
      if (++traps % 3 === 0) throw new WebAssembly.RuntimeError("unreachable");
      return real.renderEvent(at);
    } };
  };
  for (const path of captures()) {
    const [objects] = (await sinkTexts(path, [false])).texts;
    const core = await sinkTexts(path, [true], trapping);
    assert.is(core.texts[0], objects, path);
    lines += core.lines;
  }
  assert.ok(traps > 30 && lines > 0 && lines < traps, `${lines} lines of ${traps} renders`);
});

// The web view's store fed the core's lines, or the objects (its output without writeLine):
// what it holds and what it tells a live page are the same.
async function storeView(path: string, lines: boolean): Promise<unknown> {
  const store = new CallStore({ calls: 1000, bytes: 4 << 20 });
  const told: string[] = [];
  store.listen({ wantsEvents: true, event: (seq) => void told.push(store.eventText(seq) ?? `event ${seq} let go`) });
  const output = store.eventOutput();
  const outputs = [lines ? output : { ...output, writeLine: undefined }];
  const recordingOf = (callId: string) => (callId.length % 2 === 0 ? { pcap: `${callId.length}.pcap` } : undefined);
  const sink = eventsSink((emit) => new Tracker(emit, { countersSeconds: 0 }), new EventGate(new Set(), parseRate("0,0,0")), outputs, undefined, recordingOf);
  const core = new Core({ sensor: "test", agent: "test", renderJson: false, mediaCalls: 1000 }, (batch) => {
    store.messageSink().write(batch);
    sink.write(batch);
  });
  await readCapture(path, core, () => undefined);
  core.flush();
  await sink.close(Date.now() + 5000);
  return { events: store.events(), registrations: store.registrationList(), told, calls: store.callList().map((c) => store.eventsOf(c)) };
}

test("the web view's store: the core's lines give what the objects give (events, registrations, a live page's feed)", async () => {
  for (const path of captures()) assert.equal(await storeView(path, true), await storeView(path, false), path);
});

test.run();
