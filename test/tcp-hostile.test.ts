// Hostile TCP streams (issue 9, faults 7 and 8): spoofed partial messages that
// would hold every stream buffer, and Content-Length claims past what follows.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFrames, tcpFrame, sip, pcapFile, INVITE, TCP_SYN, TCP_FIN, type Frame, type TcpOptions } from "./helpers";

const T0 = 1795428000;
const ISN = 1000;
const directory = mkdtempSync(join(tmpdir(), "siphon-tcp-hostile-"));

function options(i: number): Partial<TcpOptions> {
  return { src: `10.1.${i >> 8}.${i & 255}`, sport: 20000 + i };
}

// One direction's stream cut at the given offsets, all segments at second `sec`; `lastFlags` on the last.
function cut(stream: string, at: number[], o: Partial<TcpOptions> = {}, sec = T0, lastFlags = 0): Frame[] {
  const bytes = Buffer.from(stream, "latin1");
  const ends = [...at, bytes.length];
  let from = 0;
  return ends.map((end, i) => {
    const flags = i === ends.length - 1 ? lastFlags : 0;
    const frame = { data: tcpFrame(bytes.subarray(from, end), { ...o, seq: ISN + 1 + from, flags }), sec };
    from = end;
    return frame;
  });
}

function syn(o: Partial<TcpOptions> = {}, sec = T0): Frame {
  return { data: tcpFrame("", { ...o, seq: ISN, flags: TCP_SYN }), sec };
}

function numbered(i: number, method = "OPTIONS"): string {
  return sip([`${method} sip:probe-${i}@example.com SIP/2.0`, "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK" + i,
    `Call-ID: real-${i}`, `CSeq: ${i} ${method}`, "Content-Length: 0"]);
}

function texts(run: ReturnType<typeof runFrames>): string[] {
  return run.messages.map((m) => m.bytes.toString("latin1"));
}

// ---- fault 7: stream-buffer starvation ----

// 300 flows, each a SYN and the first 60 bytes of an INVITE that never completes.
function spoofed(sec = T0): Frame[] {
  return Array.from({ length: 300 }, (_, i) => [syn(options(i), sec), cut(INVITE.slice(0, 60), [], options(i), sec)[0]]).flat();
}

// 50 real connections, each an INVITE over two segments: the first segments of all before the
// second ones, or (one after the other) each connection's SYN and segments together.
function realTraffic(sec: number, oneAfterTheOther = false): { frames: Frame[]; sent: string[] } {
  const o = (i: number): Partial<TcpOptions> => ({ src: "192.0.2.50", sport: 30000 + i });
  const sent = Array.from({ length: 50 }, (_, i) => INVITE.replace("314159", String(i)));
  const parts = sent.map((m, i) => cut(m, [100], o(i), sec));
  if (oneAfterTheOther) return { frames: parts.flatMap((p, i) => [syn(o(i), sec), ...p]), sent };
  return { frames: [...sent.map((_, i) => syn(o(i), sec)), ...parts.map((p) => p[0]), ...parts.map((p) => p[1])], sent };
}

test("300 flows holding partial messages do not starve real traffic: the holders waiting longest are evicted", () => {
  const real = realTraffic(T0);
  const run = runFrames([...spoofed(), ...real.frames]);
  assert.equal(texts(run), real.sent, `${run.messages.length} of ${real.sent.length} real messages came out`);
  // 44 spoofed partials went for later spoofed ones (256 buffers), 50 for the real ones.
  assert.is(run.counters.tcp_buffer_evicted, 300 - 256 + 50);
  assert.is(run.counters.tcp_no_buffer, 0);
  assert.is(run.counters.tcp_partial_idle, 0, "all in one second: nothing waited too long");
});

test("a partial message that completes nothing for --tcp-partial-idle seconds is given up, one per segment", () => {
  const real = realTraffic(T0 + 6);
  const run = runFrames([...spoofed(), ...real.frames]);
  assert.equal(texts(run), real.sent);
  // Each of the 150 real segments gave up one stale holder; the 44 evicted among the spoofed ones held none by then.
  assert.is(run.counters.tcp_partial_idle, 150);
  assert.is(run.counters.tcp_buffer_evicted, 44);
  const patient = runFrames([...spoofed(), ...real.frames], { tcpPartialIdle: 7 });
  assert.is(patient.counters.tcp_partial_idle, 0, "6 s is within a bound of 7 s");
  assert.is(patient.counters.tcp_buffer_evicted, 44 + 50);
});

test("siphon replay: --tcp-partial-idle and the summary names the evictions", () => {
  // pcapFile puts frames a second apart: 750 seconds of spoofing and real traffic, within --tcp-idle
  // 3600; a real message's two segments are a second apart.
  const real = realTraffic(T0, true);
  const path = join(directory, "starve.pcap");
  writeFileSync(path, pcapFile([...spoofed(), ...real.frames].map((f) => f.data)));
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", path, "--tcp-partial-idle", "3600", "--tcp-idle", "3600", "-o", join(directory, "out.ndjson")],
    { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, / 50 SIP messages \(udp 0, tcp 50, ws 0\)/);
  // 44 spoofed for spoofed, and one for the first real message: each real one frees its buffer for the next.
  assert.match(r.stderr, / 45 partial TCP messages evicted \(stream buffers full\)/, r.stderr);
  const idle = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", path, "-o", join(directory, "out.ndjson")], { encoding: "utf8" });
  assert.match(idle.stderr, / 50 SIP messages /, idle.stderr);
  assert.match(idle.stderr, / 300 partial TCP messages given up \(incomplete too long\)/, idle.stderr);
  const refused = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", path, "--tcp-partial-idle", "0"], { encoding: "utf8" });
  assert.is(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /--tcp-partial-idle/);
});

// ---- fault 8: Content-Length past what follows ----

function claiming(length: number, body = ""): string {
  return sip(["MESSAGE sip:bob@example.com SIP/2.0", "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKbad", "Call-ID: bad",
    "CSeq: 1 MESSAGE", `Content-Length: ${length}`], body);
}

function every(stream: string, size: number): number[] {
  const at: number[] = [];
  for (let i = size; i < stream.length; i += size) at.push(i);
  return at;
}

const AFTER = Array.from({ length: 2000 }, (_, i) => numbered(i));

test("a Content-Length past --max-body is a malformed message: the 2,000 messages after it all come out", () => {
  for (const claim of [999999999, 4294967295, 262145]) {
    const stream = claiming(claim, "short body\r\n") + AFTER.join("");
    const run = runFrames([syn(), ...cut(stream, every(stream, 1448))]);
    assert.is(run.messages.length, 2000, `Content-Length ${claim}: ${run.messages.length} messages`);
    assert.equal(texts(run), AFTER);
    assert.is(run.counters.tcp_clen_over, 1);
    assert.is(run.counters.sip_malformed, 1);
    assert.is(run.counters.tcp_skipped, "short body\r\n".length, "only the claimed body's real bytes are skipped");
  }
});

test("a body of exactly --max-body is a message; one byte more is malformed", () => {
  const bound = 1000;
  const exact = claiming(bound, "x".repeat(bound - 2) + "\r\n");
  const over = claiming(bound + 1, "x".repeat(bound - 1) + "\r\n");
  const run = runFrames([syn(), ...cut(exact + AFTER[0] + over + AFTER[1], [700, 1500])], { maxBody: bound });
  assert.equal(texts(run), [exact, AFTER[0], AFTER[1]]);
  assert.is(run.counters.tcp_clen_over, 1);
  assert.is(run.counters.tcp_skipped, bound + 1, "the over-long body is skipped line by line to the next start line");
});

test("a claim within the bound not met in --tcp-partial-idle: the messages inside the body come out", () => {
  const follow = AFTER.slice(0, 40);
  const stream = claiming(100000) + follow.join("");
  const later = numbered(9999);
  // The claim runs past everything that follows; 10 s later the connection speaks again.
  const frames = [syn(), ...cut(stream, every(stream, 1448)), ...cut(stream + later, [stream.length], {}, T0 + 10).slice(1)];
  const run = runFrames(frames);
  assert.equal(texts(run), [...follow, later]);
  assert.is(run.counters.tcp_clen_unmet, 1);
  assert.is(run.counters.sip_malformed, 1);
  // Given up by another connection's segment: the messages still carry their own endpoints.
  const other = { data: tcpFrame(INVITE, { src: "198.51.100.99", sport: 5062, seq: 1 }), sec: T0 + 10 };
  const byOther = runFrames([syn(), ...cut(stream, every(stream, 1448)), other]);
  assert.equal(texts(byOther), [...follow, INVITE]);
  assert.ok(byOther.messages.slice(0, 40).every((m) => m.src.ip === "192.0.2.1" && m.src.port === 40000 && m.dst.port === 5060));
  assert.is(byOther.messages[40].src.ip, "198.51.100.99");
});

test("a claim within the bound not met when its connection ends: the messages inside the body come out", () => {
  const follow = AFTER.slice(0, 40);
  const stream = claiming(100000) + follow.join("");
  const run = runFrames([syn(), ...cut(stream, every(stream, 1448), {}, T0, TCP_FIN)]);
  assert.equal(texts(run), follow);
  assert.is(run.counters.tcp_clen_unmet, 1);
  assert.is(run.counters.tcp_partial_idle, 0);
});

test("a claim within the bound met by the messages after it: they are its body, the rest come out, the cut is counted", () => {
  const claim = 50000;
  const stream = claiming(claim) + AFTER.join("");
  const run = runFrames([syn(), ...cut(stream, every(stream, 1448))]);
  // What the claim swallowed is the bad message's body; the message it ends inside is skipped.
  let swallowed = 0;
  let bytes = 0;
  while (bytes + AFTER[swallowed].length <= claim) bytes += AFTER[swallowed++].length;
  assert.is(run.messages.length, 1 + 2000 - swallowed - 1);
  assert.is(run.messages[0].contentLength, claim);
  assert.equal(texts(run).slice(1), AFTER.slice(swallowed + 1));
  assert.is(run.counters.tcp_resync, 1);
  assert.is(run.counters.tcp_skipped, bytes + AFTER[swallowed].length - claim);
});

const SIPFRAG = "SIP/2.0 200 OK\r\n";
const NOTIFY = sip(["NOTIFY sip:alice@192.0.2.1 SIP/2.0", "Via: SIP/2.0/TCP 198.51.100.7;branch=z9hG4bKn1", "Call-ID: refer-1",
  "CSeq: 2 NOTIFY", "Event: refer", "Subscription-State: terminated;reason=noresource", "Content-Type: message/sipfrag;version=2.0",
  `Content-Length: ${SIPFRAG.length}`], SIPFRAG);

test("a NOTIFY whose message/sipfrag body is a status line is one message, however it arrives", () => {
  const stream = NOTIFY + AFTER[0];
  const bodyAt = NOTIFY.length - SIPFRAG.length;
  const whole = runFrames([syn(), ...cut(stream, [])]);
  assert.equal(texts(whole), [NOTIFY, AFTER[0]]);
  // The body 2 s after the header, then nothing for a minute before the next message.
  const frames = [syn(), cut(stream, [bodyAt])[0], cut(stream, [bodyAt, NOTIFY.length], {}, T0 + 2)[1],
    cut(stream, [NOTIFY.length], {}, T0 + 62)[1]];
  const slow = runFrames(frames);
  assert.equal(texts(slow), [NOTIFY, AFTER[0]]);
  assert.is(slow.counters.tcp_resync, 0);
  assert.is(slow.counters.tcp_clen_unmet, 0);
  assert.is(slow.counters.sip_malformed, 0);
});

test("siphon replay: the summary counts the bad claim as malformed and names it", () => {
  const stream = claiming(10000000, "short body\r\n") + AFTER.slice(0, 10).join("");
  const path = join(directory, "clen.pcap");
  writeFileSync(path, pcapFile([syn(), ...cut(stream, [])].map((f) => f.data)));
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", path, "-o", join(directory, "out.ndjson")], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, / 10 SIP messages .* 1 malformed, 1 TCP Content-Length claims not met \(resynced\) in /, r.stderr);
  const bounded = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", path, "--max-body", "16777216", "-o", join(directory, "out.ndjson")],
    { encoding: "utf8" });
  assert.match(bounded.stderr, / 0 SIP messages .* 1 TCP messages too long to hold \(skipped\)/, bounded.stderr);
  const refused = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", path, "--max-body", "-1"], { encoding: "utf8" });
  assert.is(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /--max-body/);
});

test.after(() => rmSync(directory, { recursive: true, force: true }));

test.run();
