// The web view's JSON API (docs/http.md), every endpoint against a fixture capture
// replayed by `siphon view`; the token rules; the window's bounds and evictions;
// a stalled live client dropped and counted while a reading one keeps its stream.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type Socket } from "node:net";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUp, waitFor } from "./mosquitto";
import { framesOf, runFrames, sip, udpFrame, type Frame } from "./helpers";
import { getJson, hostileCall, post, startSiphon, tokenFile, TOKEN, type Siphon } from "./web";
import { Core } from "../host/core";
import { CallStore, MESSAGES_PER_CALL, EVENTS_HELD, EVENTS_PER_CALL } from "../host/http/store";
import { HttpServer } from "../host/http/server";
import { EVENTS_PER_FLUSH } from "../host/http/sse";
import { TokenGuard } from "../host/http/auth";
import { EventGate } from "../host/calls/ratelimit";
import { loadConfig } from "../host/cli/config";
import { silentLogger } from "../host/log";
import type { SipEvent } from "../host/calls/events";

const FIXTURE = "fixtures/captures/wireshark.pcap";
const fixtureMessages = runFrames(framesOf(FIXTURE)).messages;
const fixtureCallIds = [...new Set(fixtureMessages.map((m) => m.callId))];
const fixtureEvents = readFileSync("fixtures/captures/wireshark.events.ndjson", "utf8").trim().split("\n").map((l) => JSON.parse(l));

let view: Siphon;

test.before(async () => {
  view = await startSiphon("view", [FIXTURE, "--http-token-file", tokenFile()]);
});

test.after(async () => {
  await cleanUp();
});

test("/api/calls lists every Call-ID of the capture, with its messages counted", async () => {
  const { status, body } = await getJson(view.base, "/api/calls");
  assert.is(status, 200);
  assert.equal(body.calls.map((c: { id: string }) => c.id).sort(), [...fixtureCallIds].sort());
  for (const call of body.calls) {
    const expected = fixtureMessages.filter((m) => m.callId === call.id).length;
    assert.is(call.messages, expected, `messages of ${call.id}`);
  }
  const invite = body.calls.find((c: { method: string; status?: number }) => c.method === "INVITE" && c.status !== undefined);
  assert.ok(invite, `an INVITE with a final status among ${JSON.stringify(body.calls)}`);
});

test("/api/calls/{id} gives the call's messages whole, in capture order, and its events", async () => {
  const id = fixtureCallIds.find((c) => fixtureMessages.some((m) => m.callId === c && m.method === "INVITE"))!;
  const { status, body } = await getJson(view.base, `/api/calls/${encodeURIComponent(id)}`);
  assert.is(status, 200);
  const expected = fixtureMessages.filter((m) => m.callId === id);
  assert.equal(body.messages.map((m: { text: string }) => m.text), expected.map((m) => m.bytes.toString("utf8")));
  assert.equal(body.messages.map((m: { src: string }) => m.src), expected.map((m) => `${m.src.ip}:${m.src.port}`));
  const eventTypes = fixtureEvents.filter((e) => e.sip?.call_id === id).map((e) => e.event.type);
  assert.equal(body.events.map((e: SipEvent) => e.event.type), eventTypes);
  const missing = await getJson(view.base, "/api/calls/no-such-call");
  assert.is(missing.status, 404);
  assert.match(missing.body.error, /no such call/);
});

test("/api/calls?id=ID is /api/calls/ID, for the Call-IDs '.' and '..' a browser cannot put in a path; recordings likewise", async () => {
  const id = fixtureCallIds[0];
  const inPath = await getJson(view.base, `/api/calls/${encodeURIComponent(id)}`);
  const inQuery = await getJson(view.base, `/api/calls?id=${encodeURIComponent(id)}`);
  assert.is(inQuery.status, 200);
  assert.equal(inQuery.body, inPath.body);
  assert.is((await getJson(view.base, "/api/calls?id=no-such-call")).status, 404);
  assert.is((await getJson(view.base, `/api/calls?id=${encodeURIComponent(id)}&recording=0`)).status, 404, "no recording named");
  assert.is((await getJson(view.base, `/api/calls?id=${encodeURIComponent(id)}&recording=../x`)).status, 404);
  const capture = join(mkdtempSync(join(tmpdir(), "siphon-dots-")), "dots.pcap");
  writeFileSync(capture, hostileCall("..").pcap);
  const dots = await startSiphon("view", [capture]);
  const call = (await getJson(dots.base, "/api/calls?id=..")).body;
  assert.is(call.call.id, "..");
  assert.is(call.messages.length, 6);
});

test("/api/registrations holds the bindings the events report", async () => {
  const { body } = await getJson(view.base, "/api/registrations");
  const bound = new Set<string>();
  for (const e of fixtureEvents.filter((e) => e.sip?.binding)) {
    const key = `${e.sip.binding.aor} ${e.sip.binding.contact}`;
    if (e.event.type === "reg-new") bound.add(key);
    else bound.delete(key);
  }
  assert.ok(bound.size > 0, "the fixture binds something");
  assert.equal(body.registrations.map((r: { aor: string; contact: string }) => `${r.aor} ${r.contact}`).sort(), [...bound].sort());
});

test("/api/events gives the run's events; /api/counters, /metrics and /healthz its counters", async () => {
  const events = await getJson(view.base, "/api/events");
  assert.equal(events.body.events.map((e: SipEvent) => e.event.type), fixtureEvents.map((e) => e.event.type));
  const counters = await getJson(view.base, "/api/counters");
  assert.is(counters.body.frames, 81);
  assert.is(counters.body.http_calls_held, fixtureCallIds.length);
  assert.is(counters.body.http_calls_evicted, 0);
  const metrics = await getJson(view.base, "/metrics");
  assert.match(metrics.body, /^siphon_frames_total 81$/m);
  assert.match(metrics.body, /^siphon_http_calls_evicted_total 0$/m);
  assert.is((await getJson(view.base, "/healthz")).status, 200);
});

test("the page and its script carry a CSP without inline script, and no CORS", async () => {
  for (const path of ["/", "/app.js", "/app.css", "/api/calls"]) {
    const { headers } = await getJson(view.base, path);
    const csp = headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/, `${path}: ${csp}`);
    assert.not.match(csp, /unsafe-inline|unsafe-eval/, `${path}: ${csp}`);
    assert.is(headers.get("access-control-allow-origin"), null, path);
  }
  const page = await getJson(view.base, "/");
  assert.match(page.body, /<script src="\/app.js" defer><\/script>/);
  assert.not.match(page.body.replace(/<script src="\/app.js" defer><\/script>/, ""), /<script/);
});

test("a request naming the loopback server by another host name is refused (DNS rebinding)", async () => {
  const answer = await new Promise<string>((resolve) => {
    const s = connect(Number(new URL(view.base).port), "127.0.0.1", () => s.write("GET /api/calls HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n"));
    let text = "";
    s.on("data", (d) => { text += d.toString(); });
    s.on("close", () => resolve(text));
  });
  assert.match(answer, /^HTTP\/1.1 421 /);
});

test("control: no token and a wrong one are refused and counted; the right one changes the blocklist", async () => {
  const none = await post(view.base, "/api/control/blocklist", { block: ["msg-probe"] });
  assert.is(none.status, 401);
  const wrong = await post(view.base, "/api/control/blocklist", { block: ["msg-probe"] }, "not-the-token-at-all");
  assert.is(wrong.status, 401);
  assert.match(wrong.body.error, /wrong token/);
  const right = await post(view.base, "/api/control/blocklist", { block: ["msg-probe", "other-ok"] }, TOKEN);
  assert.is(right.status, 200, JSON.stringify(right.body));
  assert.equal(right.body.blocklist.blocked.sort(), ["msg-probe", "other-ok"]);
  const unblocked = await post(view.base, "/api/control/blocklist", { unblock: ["other-ok"] }, TOKEN);
  assert.equal(unblocked.body.blocklist.blocked, ["msg-probe"]);
  const bad = await post(view.base, "/api/control/blocklist", { block: ["no-such-type"] }, TOKEN);
  assert.is(bad.status, 400);
  assert.match(bad.body.error, /not an event type/);
  const counters = (await getJson(view.base, "/api/counters")).body;
  assert.is(counters.http_control_refused_no_token, 1);
  assert.is(counters.http_control_refused_wrong_token, 1);
  assert.is(counters.http_control_granted, 3);
  assert.is((await getJson(view.base, "/api/control")).body.control, true);
});

test("control: recording without a recorder and BPF without live capture answer 501 with what to do", async () => {
  const record = await post(view.base, "/api/control/recordings", { address: "192.0.2.1", action: "start" }, TOKEN);
  assert.is(record.status, 501);
  assert.is(record.body.error, "recording not enabled: start with --record DIR");
  const bpf = await post(view.base, "/api/control/bpf", { filter: "udp" }, TOKEN);
  assert.is(bpf.status, 501);
  assert.match(bpf.body.error, /siphon capture/);
});

test("without --http-token-file the server is read-only and says so", async () => {
  const readOnly = await startSiphon("view", [FIXTURE]);
  const state = await getJson(readOnly.base, "/api/control");
  assert.is(state.body.control, false);
  assert.match(state.body.message, /read-only/);
  const refused = await post(readOnly.base, "/api/control/blocklist", { block: ["msg-probe"] }, TOKEN);
  assert.is(refused.status, 403);
  assert.match(refused.body.error, /read-only/);
});

test("the blocklist changed at run time holds back the next events and counts them", () => {
  const gate = new EventGate(new Set(), { perSecond: 0, perMinute: 0, perHour: 0 });
  const event = { "@timestamp": "2026-01-01T00:00:00.000000Z", event: { kind: "event", type: "msg-probe", sequence: 1 } } as SipEvent;
  assert.ok(gate.pass(event));
  gate.block("msg-probe");
  assert.not.ok(gate.pass(event));
  assert.equal(gate.counters().blocked_msg_probe ?? gate.counters()["blocked_msg-probe"], 1);
  gate.unblock("msg-probe");
  assert.ok(gate.pass(event));
  assert.throws(() => gate.block("nope"), /'nope' is not an event type/);
});

test("options: --http alone is 127.0.0.1:8080; --metrics is its other name; web options need it; a short token is refused", () => {
  assert.is(loadConfig("replay", ["--http", "x.pcap"]).str("http"), "127.0.0.1:8080");
  assert.equal(loadConfig("replay", ["--http", "x.pcap"]).positionals, ["x.pcap"]);
  assert.is(loadConfig("replay", ["x.pcap", "--http"]).str("http"), "127.0.0.1:8080");
  assert.is(loadConfig("replay", ["--http", "9000", "x.pcap"]).str("http"), "9000");
  assert.is(loadConfig("replay", ["--http", "--http-calls", "5", "x.pcap"]).num("http-calls"), 5);
  assert.throws(() => loadConfig("replay", ["--http", "1:1", "--metrics", "1:2", "x"]), /--metrics is another name for --http/);
  assert.throws(() => loadConfig("replay", ["--http-calls", "5", "x"]), /web view options were given without --http/);
  assert.throws(() => loadConfig("replay", ["--http", "--http-calls", "0", "x"]), /--http-calls: 0 is out of range/);
  assert.throws(() => loadConfig("replay", ["--http", "--http-mb", "5000", "x"]), /--http-mb: 5000 is out of range/);
});

test("a token file with a short token stops the start with what to do", async () => {
  const { spawnSync } = await import("node:child_process");
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "view", FIXTURE, "--http", "127.0.0.1:1", "--http-token-file", tokenFile("short")],
    { encoding: "utf8" });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /--http-token-file: .* must hold one token of 16/);
});

// Frames of `calls` calls of one INVITE each, `size` bytes of body each.
function invites(calls: number, size = 0, sameCallId = false): Frame[] {
  return Array.from({ length: calls }, (_, i) => ({ data: udpFrame(sip(["INVITE sip:b@example.com SIP/2.0", "Via: SIP/2.0/UDP h;branch=z9hG4bK" + i,
    "From: <sip:a@example.com>;tag=1", "To: <sip:b@example.com>", `Call-ID: ${sameCallId ? "one" : `call-${i}`}`, `CSeq: ${i + 1} INVITE`,
    `Content-Length: ${size}`], "x".repeat(size))), sec: 1795428000 + i }));
}

function feed(store: CallStore, frames: Frame[]): void {
  const sink = store.messageSink();
  const core = new Core({ sensor: "t", agent: "t" }, (batch) => sink.write(batch));
  for (const f of frames) core.frame(f.data, 0, f.data.length, f.data.length, 1, f.sec ?? 0, 0, 0);
  core.flush();
}

test("the window keeps the newest calls by count, evicts the oldest and counts them", () => {
  const store = new CallStore({ calls: 3, bytes: 1 << 30 });
  feed(store, invites(5));
  assert.equal(store.callList().map((c) => c.id), ["call-2", "call-3", "call-4"]);
  assert.is(store.counters().http_calls_evicted, 2);
});

test("the call bound holds after each run of messages: a call about to be evicted takes its messages of the run", () => {
  const store = new CallStore({ calls: 2, bytes: 1 << 30 });
  const [a, b, c] = invites(3);
  const ringingA = { data: udpFrame(sip(["SIP/2.0 180 Ringing", "Via: SIP/2.0/UDP h;branch=z9hG4bK0", "From: <sip:a@example.com>;tag=1",
    "To: <sip:b@example.com>;tag=2", "Call-ID: call-0", "CSeq: 1 INVITE", "Content-Length: 0"])), sec: 1795428010 };
  feed(store, [a, b, c, ringingA]);   // one batch, one run
  assert.equal(store.callList().map((call) => [call.id, call.count]), [["call-1", 1], ["call-2", 1]]);
  assert.is(store.counters().http_calls_evicted, 1, "call-0 evicted once, with its 180; no second call-0");
});

test("messages copied into the window in blocks come back byte for byte, whatever lies between them", () => {
  const store = new CallStore({ calls: 10, bytes: 1 << 30 });
  const calls = invites(5, 300);
  const junk = (bytes: number) => ({ data: udpFrame(new Uint8Array(bytes).fill(0x80), { sport: 40000, dport: 40002 }), sec: 1795428000 });
  // Adjacent, then separated by more than a block's gap, by less, by a large packet, adjacent again.
  feed(store, [calls[0], calls[1], junk(1000), calls[2], junk(100), calls[3], junk(1400), calls[4]]);
  const texts = calls.map((f) => Buffer.from(f.data.subarray(42)).toString("latin1"));
  assert.equal(store.callList().map((c) => store.messagesOf(c).map((m) => m.text)), texts.map((t) => [t]));
});

test("the window keeps its bytes under the bound, evicting the oldest calls", () => {
  const limit = 256 * 1024;
  const store = new CallStore({ calls: 1000, bytes: limit });
  feed(store, invites(100, 10000));
  const c = store.counters();
  assert.ok(c.http_bytes_held <= limit, `held ${c.http_bytes_held} bytes`);
  assert.ok(c.http_calls_evicted >= 60, `evicted ${c.http_calls_evicted}`);
  assert.is(c.http_calls_held + c.http_calls_evicted, 100);
  assert.is(store.callList().at(-1)?.id, "call-99");
  assert.is(store.messagesOf(store.call("call-99")!)[0].text.length, store.messagesOf(store.call("call-99")!)[0].text.indexOf("\r\n\r\n") + 4 + 10000);
});

test("interleaved calls: each message keeps its place among all; the bytes stay within the bound", () => {
  const limit = 256 * 1024;
  const store = new CallStore({ calls: 1000, bytes: limit });
  const frames = invites(60, 10000).flatMap((f, i) => [f, ...invites(1, 100, true).map((g) => ({ ...g, sec: 1795428000 + i }))]);
  feed(store, frames);
  assert.ok(store.counters().http_bytes_held <= limit, `held ${store.counters().http_bytes_held} bytes`);
  const long = store.messagesOf(store.call("one")!);
  const seqs = long.map((m) => m.seq);
  assert.ok(seqs.every((seq, i) => i === 0 || seq === seqs[i - 1] + 2), `the long call's messages every other one: ${seqs.join(",")}`);
  const last = store.messagesOf(store.call("call-59")!);
  assert.is(last[0].seq, seqs.at(-1)! - 1);
});

test("the window's bytes are no more than its calls need: bytes before the oldest call are let go", () => {
  const store = new CallStore({ calls: 2, bytes: 64 << 20 });
  feed(store, invites(200, 10000));
  const c = store.counters();
  assert.is(c.http_calls_evicted, 198);
  assert.ok(c.http_bytes_held <= 4 * 64 * 1024 + 64 * 1024, `held ${c.http_bytes_held} bytes for two calls of 10 kB`);
  assert.equal(store.callList().map((call) => call.id), ["call-198", "call-199"]);
  assert.is(store.messagesOf(store.call("call-198")!)[0].text.endsWith("x".repeat(10000)), true);
});

test("both bounds at once: the ring's bytes and the call count evict in order, and what is held is whole", () => {
  const limit = 256 * 1024;
  const store = new CallStore({ calls: 3, bytes: limit });
  feed(store, invites(100, 10000));
  const c = store.counters();
  assert.ok(c.http_bytes_held <= limit, `held ${c.http_bytes_held} bytes`);
  assert.is(c.http_calls_held, 3);
  assert.is(c.http_calls_held + c.http_calls_evicted, 100);
  assert.equal(store.callList().map((call) => call.id), ["call-97", "call-98", "call-99"]);
  for (const call of store.callList()) {
    const [m] = store.messagesOf(call);
    assert.ok(m.text.includes(`Call-ID: ${call.id}\r\n`) && m.text.endsWith("x".repeat(10000)), `${call.id}: ${m.text.slice(0, 80)}`);
  }
});

test("a call's events come back whole and in order, at most EVENTS_PER_CALL; /api/events keeps the last ones", () => {
  const store = new CallStore({ calls: 10, bytes: 1 << 20 });
  feed(store, invites(1));
  const events = store.eventOutput();
  for (let i = 0; i < EVENTS_PER_CALL + 5; i++) {
    const e = { "@timestamp": "2026-01-01T00:00:00.000000Z", event: { kind: "event", type: "msg-probe", sequence: i },
      sip: { call_id: "call-0" }, user_agent: { original: `ü<script>${i}` } } as unknown as SipEvent;
    events.write(e, JSON.stringify(e));
  }
  const held = store.eventsOf(store.call("call-0")!).map((json) => JSON.parse(json));
  assert.equal(held.map((e) => e.event.sequence), Array.from({ length: EVENTS_PER_CALL }, (_, i) => i));
  assert.is(held[3].user_agent.original, "ü<script>3");
  assert.equal(store.events().map((json) => JSON.parse(json).event.sequence), Array.from({ length: EVENTS_PER_CALL + 5 }, (_, i) => i));
});

test("one Call-ID flooded keeps its first messages and counts the rest", () => {
  const store = new CallStore({ calls: 10, bytes: 1 << 30 });
  feed(store, invites(MESSAGES_PER_CALL + 40, 0, true));
  assert.is(store.messagesOf(store.call("one")!).length, MESSAGES_PER_CALL);
  assert.is(store.counters().http_messages_dropped, 40);
});

test("the last events are kept, the older ones evicted and counted", () => {
  const store = new CallStore({ calls: 10, bytes: 1 << 20 });
  const events = store.eventOutput();
  for (let i = 0; i < EVENTS_HELD + 7; i++) {
    const e = { "@timestamp": "2026-01-01T00:00:00.000000Z", event: { kind: "event", type: "msg-probe", sequence: i } } as SipEvent;
    events.write(e, JSON.stringify(e));
  }
  assert.is(store.events().length, EVENTS_HELD);
  assert.is(JSON.parse(store.events()[0]).event.sequence, 7);
  assert.is(store.counters().http_events_evicted, 7);
});

test("a call-end event's rtp fields and recording path reach the call; the recording is served, nothing else", async () => {
  const store = new CallStore({ calls: 10, bytes: 1 << 20 });
  feed(store, invites(1));
  const dir = mkdtempSync(join(tmpdir(), "siphon-rec-"));
  writeFileSync(join(dir, "call-0.pcap"), "pcap bytes");
  writeFileSync(join(dir, "call-0.wav"), "wav bytes");
  const end = { "@timestamp": "2026-01-01T00:00:00.000000Z", event: { kind: "event", type: "call-end", sequence: 1, duration: 2_000_000_000 },
    sip: { call_id: "call-0" }, rtp: { loss: 0.5, jitter: 3 }, siphon: { recording: { pcap: join(dir, "call-0.pcap"), wav: join(dir, "call-0.wav") } } } as unknown as SipEvent;
  store.eventOutput().write(end, JSON.stringify(end));
  const server = new HttpServer({ host: "127.0.0.1", port: 0, store, guard: new TokenGuard(undefined), controls: {},
    counters: () => ({}), registry: () => undefined, health: () => ({ healthy: true }), log: silentLogger });
  await server.listen();
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const { body } = await getJson(base, "/api/calls/call-0");
    assert.equal(body.call.rtp, { loss: 0.5, jitter: 3 });
    assert.is(body.call.state, "ended");
    assert.is(body.call.duration, 2000);
    assert.equal(body.call.recordings, [join(dir, "call-0.pcap"), join(dir, "call-0.wav")]);
    const file = await fetch(`${base}/api/calls/call-0/recordings/0`);
    assert.is(file.status, 200);
    assert.is(await file.text(), "pcap bytes");
    assert.is(await (await fetch(`${base}/api/calls/call-0/recordings/1`)).text(), "wav bytes");
    assert.is((await fetch(`${base}/api/calls/call-0/recordings/2`)).status, 404);
    assert.is((await fetch(`${base}/api/calls/call-0/recordings/..%2F..%2Fetc%2Fpasswd`)).status, 404);
  } finally {
    server.close();
  }
});

test("recording control drives the recorder it is given, with the token; its active recordings are shown", async () => {
  const active = new Map<string, string>();
  const recordings = {
    start: (address: string) => void active.set(address, "2026-01-01T00:00:00.000000Z"),
    stop: (address: string) => active.delete(address),
    active: () => [...active].map(([address, since]) => ({ address, since, calls: 0 })),
  };
  const store = new CallStore({ calls: 10, bytes: 1 << 20 });
  const server = new HttpServer({ host: "127.0.0.1", port: 0, store, guard: new TokenGuard(TOKEN), controls: { recordings },
    counters: () => ({}), registry: () => undefined, health: () => ({ healthy: true }), log: silentLogger });
  await server.listen();
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    assert.is((await post(base, "/api/control/recordings", { address: "192.0.2.7", action: "start" })).status, 401);
    assert.equal(active.size, 0);
    const started = await post(base, "/api/control/recordings", { address: "192.0.2.7", action: "start" }, TOKEN);
    assert.is(started.status, 200);
    assert.equal(started.body.recordings, [{ address: "192.0.2.7", since: "2026-01-01T00:00:00.000000Z", calls: 0 }]);
    assert.equal((await getJson(base, "/api/control")).body.recordings.map((r: { address: string }) => r.address), ["192.0.2.7"]);
    const stopped = await post(base, "/api/control/recordings", { address: "192.0.2.7", action: "stop" }, TOKEN);
    assert.equal(stopped.body.recordings, []);
    const again = await post(base, "/api/control/recordings", { address: "192.0.2.7", action: "stop" }, TOKEN);
    assert.is(again.status, 404);
    assert.match(again.body.error, /no recording of 192.0.2.7 is active/);
    assert.is((await post(base, "/api/control/recordings", { address: "192.0.2.7", action: "pause" }, TOKEN)).status, 400);
  } finally {
    server.close();
  }
});

test("siphon view keeps serving after the replay, and SIGINT ends it with exit 0", async () => {
  const served = await startSiphon("view", [FIXTURE]);
  assert.is((await getJson(served.base, "/api/counters")).body.frames, 81);
  const exited = new Promise<number | null>((resolve) => served.child.once("exit", (code) => resolve(code)));
  served.child.kill("SIGINT");
  assert.is(await exited, 0, served.stderr());
  assert.match(served.stderr(), /81 packets, 81 SIP messages/);
});

test("siphon view of a capture cut short serves what was read before the damage; SIGINT ends it with exit 1 and the damage", async () => {
  const whole = readFileSync(FIXTURE);
  const cut = join(mkdtempSync(join(tmpdir(), "siphon-view-")), "cut.pcap");
  writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const served = await startSiphon("view", [cut]);
  assert.match(served.stderr(), /truncated packet record \(need \d+ bytes, have \d+\) at byte \d+; what was read before it is in the web view at /);
  const frames = (await getJson(served.base, "/api/counters")).body.frames;
  assert.ok(frames > 0 && frames < 81, `${frames} of the 81 frames read`);
  const calls = (await getJson(served.base, "/api/calls")).body.calls;
  assert.ok(calls.length > 0, "the calls read before the damage are listed");
  const exited = new Promise<number | null>((resolve) => served.child.once("exit", (code) => resolve(code)));
  served.child.kill("SIGINT");
  assert.is(await exited, 1, served.stderr());
  assert.match(served.stderr(), new RegExp(`siphon: ${frames} packets, .*\\nsiphon: ${cut}: truncated packet record .* at byte \\d+\\n$`));
});

test("a stalled live client is dropped and counted; a reading one keeps its stream", async () => {
  const store = new CallStore({ calls: 10, bytes: 1 << 20 });
  const server = new HttpServer({ host: "127.0.0.1", port: 0, store, guard: new TokenGuard(undefined), controls: {},
    counters: () => ({}), registry: () => undefined, health: () => ({ healthy: true }), log: silentLogger });
  await server.listen();
  const port = server.address().port;
  try {
    const stalled = connect(port, "127.0.0.1", () => stalled.write("GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    stalled.pause();
    let readBytes = 0;
    const reader = connect(port, "127.0.0.1", () => reader.write("GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    reader.on("data", (d) => { readBytes += d.length; });
    await waitFor("two live clients", () => server.hub.clientCount() === 2);
    const big = { "@timestamp": "2026-01-01T00:00:00.000000Z", event: { kind: "event", type: "msg-probe", sequence: 0 },
      user_agent: { original: "x".repeat(64 * 1024) } } as SipEvent;
    const json = JSON.stringify(big);
    let rounds = 0;
    while (server.hub.stats().http_sse_dropped === 0) {
      assert.ok(rounds++ < 20000, `the stalled client was never dropped: ${JSON.stringify(server.hub.stats())}`);
      store.eventOutput().write(big, json);
      server.hub.flush();
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.is(server.hub.clientCount(), 1, "the reading client is still connected");
    const before = readBytes;
    store.eventOutput().write(big, json);
    server.hub.flush();
    await waitFor("the reading client to get the next update", () => readBytes > before);
    stalled.destroy();
    reader.destroy();
  } finally {
    server.close();
  }
});

// A server of its own with one live client on /api/live, connected: what the client read so far,
// as text, and when its stream ended.
async function liveServer(store: CallStore): Promise<{ server: HttpServer; client: Socket; read: () => string; ended: Promise<void> }> {
  const server = new HttpServer({ host: "127.0.0.1", port: 0, store, guard: new TokenGuard(undefined), controls: {},
    counters: () => ({}), registry: () => undefined, health: () => ({ healthy: true }), log: silentLogger });
  await server.listen();
  let text = "";
  const client = connect(server.address().port, "127.0.0.1", () => client.write("GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  client.on("data", (d) => { text += d.toString("latin1"); });
  const ended = new Promise<void>((resolve) => client.once("close", () => resolve()));
  await waitFor("the live client", () => server.hub.clientCount() === 1);
  return { server, client, read: () => text, ended };
}

async function liveClientOf(store: CallStore, run: (server: HttpServer, read: () => string) => Promise<void>): Promise<void> {
  const { server, client, read } = await liveServer(store);
  try {
    await run(server, read);
  } finally {
    client.destroy();
    server.close();
  }
}

function probe(sequence: number, agentBytes = 0): [SipEvent, string] {
  const event = { "@timestamp": "2026-01-01T00:00:00.000000Z", event: { kind: "event", type: "msg-probe", sequence },
    user_agent: { original: "x".repeat(agentBytes) } } as SipEvent;
  return [event, JSON.stringify(event)];
}

const sentSequences = (text: string): number[] => [...text.matchAll(/event: sip\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]).event.sequence);

test("a flush sends its interval's last events, read from the window then; the older ones are counted as skipped", async () => {
  const store = new CallStore({ calls: 10, bytes: 1 << 20 });
  await liveClientOf(store, async (server, read) => {
    for (let i = 0; i < EVENTS_PER_FLUSH + 5; i++) store.eventOutput().write(...probe(i));
    server.hub.flush();
    await waitFor("the flush's last event", () => read().includes(`"sequence":${EVENTS_PER_FLUSH + 4}}`));
    assert.equal(sentSequences(read()), Array.from({ length: EVENTS_PER_FLUSH }, (_, i) => i + 5), read().slice(0, 400));
    assert.is(server.hub.stats().http_sse_events_skipped, 5);
  });
});

test("closing the server sends live clients what gathered since the last flush before their streams end", async () => {
  const store = new CallStore({ calls: 10, bytes: 1 << 20 });
  const { server, read, ended } = await liveServer(store);
  try {
    for (let i = 0; i < 3; i++) store.eventOutput().write(...probe(i));
  } finally {
    server.close();
  }
  await ended;
  assert.equal(sentSequences(read()), [0, 1, 2], `what the client read before its stream ended:\n${read().slice(0, 600)}`);
});

test("an event the window let go before the flush is not sent, and is counted as skipped", async () => {
  // Events of 64 KiB take a slab each: a window of 256 KiB lets go of the oldest.
  const store = new CallStore({ calls: 10, bytes: 256 << 10 });
  await liveClientOf(store, async (server, read) => {
    for (let i = 0; i < 6; i++) store.eventOutput().write(...probe(i, 64 << 10));
    server.hub.flush();
    await waitFor("the flush's last event", () => sentSequences(read()).includes(5));
    const sent = sentSequences(read());
    const skipped = server.hub.stats().http_sse_events_skipped;
    assert.ok(skipped >= 1, `none let go: ${JSON.stringify(server.hub.stats())}`);
    assert.equal(sent, Array.from({ length: 6 - skipped }, (_, i) => i + skipped), `sent ${sent}, skipped ${skipped}`);
    assert.equal(store.events().map((json) => JSON.parse(json).event.sequence), sent, "the window holds what was sent");
  });
});

test.run();
