// TCP reassembly and SIP framing on streams (assembly/tcp.ts, stream.ts) and
// SIP over WebSocket (assembly/websocket.ts), through the real core.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { Core } from "../host/core";
import * as L from "../assembly/layout";
import { wsFrame, WS_UPGRADE, WS_SWITCHING, runFrames, tcpFrame, sip, INVITE, TCP_FIN, TCP_SYN, TCP_RST, type Frame, type TcpOptions } from "./helpers";

const ISN = 1000;
const OK = sip(["SIP/2.0 200 OK", "Call-ID: a84b4c76e66710@pc33.atlanta.example.com", "CSeq: 314159 INVITE", "Content-Length: 0"]);
const BYE = sip(["BYE sip:bob@biloxi.example.com SIP/2.0", "Call-ID: x", "CSeq: 2 BYE", "l :0"]);

interface Segment {
  at: number;      // offset in the stream
  len: number;
  flags?: number;
  sec?: number;
  reverse?: boolean;
}

// Frames cutting `stream` into the given segments of one direction (client to server).
function segments(stream: string, cuts: Segment[], o: Partial<TcpOptions> = {}): Frame[] {
  const bytes = Buffer.from(stream, "latin1");
  return cuts.map((c) => ({
    data: tcpFrame(bytes.subarray(c.at, c.at + c.len), { ...o, seq: ISN + 1 + c.at, flags: c.flags }),
    sec: c.sec,
  }));
}

function syn(o: Partial<TcpOptions> = {}): Frame {
  return { data: tcpFrame("", { ...o, seq: ISN, flags: TCP_SYN }) };
}

function even(stream: string, size: number): Segment[] {
  const out: Segment[] = [];
  for (let at = 0; at < stream.length; at += size) out.push({ at, len: Math.min(size, stream.length - at) });
  return out;
}

function texts(run: ReturnType<typeof runFrames>): string[] {
  return run.messages.map((m) => m.bytes.toString("latin1"));
}

test("several messages in one segment, and one message over many", () => {
  const stream = INVITE + OK + BYE;
  const one = runFrames([syn(), ...segments(stream, [{ at: 0, len: stream.length }])]);
  assert.equal(texts(one), [INVITE, OK, BYE]);
  assert.ok(one.messages.every((m) => m.transport === "tcp"));
  const many = runFrames([syn(), ...segments(stream, even(stream, 7))]);
  assert.equal(texts(many), [INVITE, OK, BYE]);
  assert.is(many.counters.sip_tcp, 3);
  assert.is(many.counters.tcp_flows, 1);
});

test("keep-alive CRLFs between messages are skipped (RFC 5626)", () => {
  const stream = "\r\n\r\n" + INVITE + "\r\n" + OK + "\r\n\r\n";
  const run = runFrames([syn(), ...segments(stream, even(stream, 5))]);
  assert.equal(texts(run), [INVITE, OK]);
  assert.is(run.counters.tcp_resync, 0);
});

test("out-of-order segments are put in order", () => {
  const stream = INVITE + OK;
  const cuts = even(stream, 60);
  const shuffled = [cuts[2], cuts[0], cuts[4], cuts[1], ...cuts.slice(5), cuts[3]];
  const run = runFrames([syn(), ...segments(stream, shuffled)]);
  assert.equal(texts(run), [INVITE, OK]);
  assert.ok(run.counters.tcp_out_of_order >= 2);
  assert.is(run.counters.tcp_gap, 0);
});

test("retransmissions are dropped, overlaps keep the new bytes only", () => {
  const stream = INVITE + OK;
  const run = runFrames([syn(), ...segments(stream, [
    { at: 0, len: 100 }, { at: 0, len: 100 }, { at: 50, len: 150 }, { at: 120, len: 40 },
    { at: 200, len: stream.length - 200 }, { at: 200, len: stream.length - 200 },
  ])]);
  assert.equal(texts(run), [INVITE, OK]);
  assert.is(run.counters.tcp_retransmit, 3);
});

test("a hole acknowledged by the peer is given up; the stream resyncs at the next start line", () => {
  const stream = INVITE + OK + BYE;
  const lost = { at: 40, len: 30 };
  const frames = segments(stream, [{ at: 0, len: 40 }, { at: 70, len: stream.length - 70 }]);
  // the server acknowledges everything: the sensor missed bytes the server got
  const ack = tcpFrame("", { src: "198.51.100.7", dst: "192.0.2.1", sport: 5060, dport: 40000, seq: 5000, flags: 0 });
  const ackAll = Uint8Array.from(ack);
  new DataView(ackAll.buffer).setUint32(14 + 20 + 8, ISN + 1 + stream.length);
  const run = runFrames([syn(), ...frames, { data: ackAll }]);
  assert.equal(texts(run), [OK, BYE], `lost ${JSON.stringify(lost)}`);
  assert.is(run.counters.tcp_gap, 1);
  assert.is(run.counters.tcp_resync, 1);
  assert.ok(run.counters.tcp_skipped > 0);
  assert.equal(run.messages[0].src, { ip: "192.0.2.1", port: 40000 });
});

test("a hole older than 3 s of capture time is given up when a later segment comes", () => {
  const stream = INVITE + OK + BYE;
  const at = INVITE.length + OK.length;
  const cuts = (late: number): Segment[] => [{ at: 0, len: 40, sec: 100 }, { at: INVITE.length, len: OK.length, sec: 100 },
    { at, len: 20, sec: late }, { at: at + 20, len: BYE.length - 20, sec: late }];
  const run = runFrames([syn(), ...segments(stream, cuts(104))]);
  assert.equal(texts(run), [OK, BYE]);
  assert.is(run.counters.tcp_gap, 1);
  const soon = runFrames([syn(), ...segments(stream, cuts(103))]);
  assert.equal(texts(soon), [], "within 3 s the hole is still waited for");
  const filled = runFrames([syn(), ...segments(stream, [...cuts(104), { at: 40, len: INVITE.length - 40, sec: 104 }])]);
  assert.equal(texts(filled), [OK, BYE], "the late retransmission comes after the hole was given up: it is old");
  const inTime = runFrames([syn(), ...segments(stream, [...cuts(103), { at: 40, len: INVITE.length - 40, sec: 104 }])]);
  assert.equal(texts(inTime), [INVITE, OK, BYE], "the retransmission that fills the hole is not preceded by a give-up");
});

test("a FIN frames what is held after the holes of its direction", () => {
  const stream = INVITE + OK;
  const run = runFrames([syn(), ...segments(stream, [{ at: 0, len: 40 }, { at: INVITE.length, len: OK.length, flags: TCP_FIN }])]);
  assert.equal(texts(run), [OK]);
  assert.is(run.counters.tcp_gap, 1);
});

test("junk on the stream: resync at the next SIP start line, not giving up", () => {
  const stream = INVITE + "\x00\x01garbage line\r\nmore junk\r\n" + OK + BYE;
  const run = runFrames([syn(), ...segments(stream, even(stream, 33))]);
  assert.equal(texts(run), [INVITE, OK, BYE]);
  assert.is(run.counters.tcp_resync, 1);
});

test("a stream picked up in the middle (no SYN) starts at its first start line", () => {
  const stream = INVITE + OK + BYE;
  const run = runFrames(segments(stream, [{ at: 100, len: stream.length - 100 }]));
  assert.equal(texts(run), [OK, BYE]);
  assert.is(run.counters.tcp_flows, 1);
  assert.is(run.counters.tcp_skipped, INVITE.length - 100);
});

test("FIN in both directions and RST free the flow", () => {
  const server = { src: "198.51.100.7", dst: "192.0.2.1", sport: 5060, dport: 40000 };
  const fin = runFrames([syn(), ...segments(INVITE, [{ at: 0, len: INVITE.length, flags: TCP_FIN }]),
    { data: tcpFrame("", { ...server, seq: 9, flags: TCP_FIN }) }]);
  assert.is(fin.messages.length, 1);
  assert.is(fin.counters.tcp_closed, 1);
  const rst = runFrames([syn(), ...segments(INVITE, [{ at: 0, len: 50 }]), { data: tcpFrame("", { seq: ISN + 51, flags: TCP_RST }) },
    ...segments(INVITE, [{ at: 50, len: INVITE.length - 50 }])]);
  assert.is(rst.counters.tcp_closed, 1);
  assert.is(rst.counters.tcp_flows, 2, "the segment after the RST starts a new flow");
  assert.is(rst.messages.length, 0, "the rest of a message after a reset is not a message");
});

test("idle flows are freed after the timeout, by capture time", () => {
  const frames = [syn(), ...segments(INVITE, [{ at: 0, len: 50, sec: 1000 }])];
  frames[0].sec = 1000;
  const other: Frame = { data: tcpFrame(OK, { sport: 40001, seq: 1 }), sec: 1000 + 301 };
  const late = segments(INVITE, [{ at: 50, len: INVITE.length - 50, sec: 1000 + 302 }]);
  const run = runFrames([...frames, other, ...late], { tcpPartialIdle: 3600 });
  assert.is(run.counters.tcp_idle, 1);
  assert.equal(texts(run), [OK], "the first flow's partial message was freed with it");
  const within = runFrames([...frames, { ...other, sec: 1100 }, ...late.map((f) => ({ ...f, sec: 1101 }))], { tcpPartialIdle: 3600 });
  assert.is(within.counters.tcp_idle, 0);
  assert.equal(texts(within), [OK, INVITE]);
});

test("a full table evicts the least recently seen flow and counts it", () => {
  const frames: Frame[] = [];
  for (let i = 0; i < 6; i++) frames.push(...segments(INVITE, [{ at: 0, len: 60 }], { sport: 41000 + i }));
  for (let i = 0; i < 6; i++) frames.push(...segments(INVITE, [{ at: 60, len: INVITE.length - 60 }], { sport: 41000 + i }));
  const run = runFrames(frames, { tcpFlows: 4 });
  assert.is(run.counters.tcp_flows, 12, "6 flows, then 6 more after each was evicted");
  assert.is(run.counters.tcp_evicted, 8);
  assert.is(run.messages.length, 0);
  const roomy = runFrames(frames, { tcpFlows: 8 });
  assert.is(roomy.counters.tcp_evicted, 0);
  assert.is(roomy.messages.length, 6);
});

test("no stream buffer left: the holder waiting longest loses its partial message, counted", () => {
  const frames: Frame[] = [];
  for (let i = 0; i < 3; i++) frames.push(...segments(INVITE, [{ at: 0, len: 60 }], { sport: 42000 + i }));
  for (let i = 0; i < 3; i++) frames.push(...segments(INVITE + OK, [{ at: 60, len: INVITE.length + OK.length - 60 }], { sport: 42000 + i }));
  const run = runFrames(frames, { tcpBuffers: 2 });
  assert.is(run.counters.tcp_buffer_evicted, 1);
  assert.is(run.counters.tcp_no_buffer, 0);
  assert.equal(texts(run), [OK, INVITE, OK, INVITE, OK], "the first flow's INVITE went for the third flow's");
});

test("a 65,536-octet body and a 100 KiB one arrive whole over 1,448-byte segments", () => {
  for (const size of [65536, 100 * 1024]) {
    const body = "x".repeat(size);
    const big = sip(["MESSAGE sip:a SIP/2.0", "Call-ID: big", "CSeq: 1 MESSAGE", `Content-Length: ${size}`], body);
    const stream = big + OK;
    const run = runFrames([syn(), ...segments(stream, even(stream, 1448))], { maxFrames: 8 });
    assert.equal(texts(run), [big, OK]);
    assert.is(run.messages[0].contentLength, size);
  }
});

test("a message longer than a stream buffer is skipped by its Content-Length", () => {
  const size = 200 * 1024;
  const big = sip(["MESSAGE sip:a SIP/2.0", "Call-ID: big", `Content-Length: ${size}`], "y".repeat(size));
  const stream = big + OK;
  const run = runFrames([syn(), ...segments(stream, even(stream, 1448))]);
  assert.equal(texts(run), [OK]);
  assert.is(run.counters.tcp_too_long, 1);
});

test("messages stay intact until the push returns, whatever the batch size", () => {
  const stream = Array.from({ length: 400 }, (_, i) => INVITE.replace("314159", String(i))).join("");
  const cuts = even(stream, 1000);
  for (const maxFrames of [1, 3, 64, 16384]) {
    const run = runFrames([syn(), ...segments(stream, cuts)], { maxFrames, tcpBufferBytes: 65536 + 8192 });
    assert.is(run.messages.length, 400, `maxFrames ${maxFrames}`);
    run.messages.forEach((m, i) => assert.is(m.cseq, i));
    assert.is(run.counters.tcp_gap, 0);
  }
});

test("a SYN seen after the first bytes (handshake out of order) changes nothing", () => {
  const stream = INVITE + OK;
  const frames = segments(stream, [{ at: 0, len: 100 }, { at: 100, len: stream.length - 100 }]);
  const run = runFrames([frames[0], syn(), frames[1]]);
  assert.equal(texts(run), [INVITE, OK]);
});

test("with no flow table (tcpFlows 0) each segment's whole messages are framed on their own", () => {
  const stream = INVITE + OK + BYE;
  const cut = INVITE.length + 20;
  const run = runFrames(segments(stream, [{ at: 0, len: cut }, { at: cut, len: stream.length - cut }]), { tcpFlows: 0 });
  assert.equal(texts(run), [INVITE, BYE]);
  assert.is(run.counters.tcp_flows, 0);
});

test("the command line sets the table's bounds: --tcp-flows, SIPHON_TCP_FLOWS", () => {
  const run = (args: string[], env: Record<string, string> = {}): string => {
    const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", "fixtures/captures/sip-body-large.pcap", ...args],
      { env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
    assert.is(r.status, 0, r.stderr.toString());
    return r.stderr.toString();
  };
  assert.match(run([]), / 2 SIP messages /);
  assert.match(run(["--tcp-flows", "0"]), / 1 SIP messages /, "without a table the 65,536-octet INVITE over 5 segments is lost");
  assert.match(run([], { SIPHON_TCP_FLOWS: "0" }), / 1 SIP messages /);
});

test("flow and buffer counts whose tables would pass 4 GiB are refused before the core is built, not wrapped", () => {
  // 2^24 flows of 288 bytes pass 2^32 bytes; 2^31 buffers make 2^32 + 8 buffer slots. The host's
  // estimate (coreMemoryProblem) refuses them first; configure() in the core would refuse them too.
  for (const limits of [{ tcpFlows: 2 ** 24 }, { tcpBuffers: 2 ** 31 }, { tcpFlows: 2 ** 31 }]) {
    assert.throws(() => new Core({ sensor: "t", agent: "t", ...limits }, () => undefined), /configured tables need \d+ MiB/, JSON.stringify(limits));
  }
});

// ---- WebSocket (RFC 6455, RFC 7118) ----

const WS_REGISTER = sip(["REGISTER sip:proxy.example.com SIP/2.0", "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf",
  "Call-ID: ws-1", "CSeq: 1 REGISTER"]);


function wsRun(clientFrames: Buffer[], serverFrames: Buffer[], cut = 0): ReturnType<typeof runFrames> {
  const client = Buffer.concat([Buffer.from(WS_UPGRADE), ...clientFrames]).toString("latin1");
  const server = Buffer.concat([Buffer.from(WS_SWITCHING), ...serverFrames]).toString("latin1");
  const back = { src: "198.51.100.7", dst: "192.0.2.1", sport: 5060, dport: 40000 };
  return runFrames([
    syn(), { data: tcpFrame("", { ...back, seq: 7000, flags: TCP_SYN }) },
    ...segments(client, cut ? even(client, cut) : [{ at: 0, len: client.length }]),
    { data: tcpFrame(server, { ...back, seq: 7001 }) },
  ]);
}

// Frames of `stream` cut into `cuts`, each frame captured only up to `keep` bytes of its payload
// (the snap length), its original length kept in the capture record.
function snapped(stream: string, cuts: Segment[], keep: (c: Segment) => number): Frame[] {
  return segments(stream, cuts).map((f, i) => {
    const captured = 54 + Math.min(keep(cuts[i]), cuts[i].len);
    return { ...f, data: f.data.subarray(0, captured), origLen: f.data.length };
  });
}

test("segments cut by the snap length: what each holds of a message is emitted, marked, and the stream goes on", () => {
  const stream = INVITE + OK + BYE;
  const cuts = [{ at: 0, len: INVITE.length }, { at: INVITE.length, len: OK.length }, { at: INVITE.length + OK.length, len: BYE.length }];
  const keepInvite = INVITE.indexOf("CSeq");
  const run = runFrames([syn(), ...snapped(stream, cuts, (c) => c.at === 0 ? keepInvite : 52)]);
  assert.equal(texts(run), [INVITE.slice(0, keepInvite), OK.slice(0, 52), BYE.slice(0, 52)]);
  // The OK's Call-ID is what the capture holds of it; the BYE's line is whole.
  assert.equal(run.messages.map((m) => [m.isRequest ? m.method : m.status, m.callId]),
    [["INVITE", "a84b4c76e66710@pc33.atlanta.example.com"], [200, OK.slice(0, 52).split("Call-ID: ")[1]], ["BYE", "x"]]);
  const marks = L.PROB_TRUNCATED | L.PROB_NO_EMPTY_LINE;
  assert.ok(run.messages.every((m) => (m.problems & marks) === marks), run.messages.map((m) => m.problems).join(" "));
  assert.equal([run.counters.sip_tcp, run.counters.truncated, run.counters.tcp_gap, run.counters.sip_malformed], [3, 3, 3, 0]);
});

test("a cut segment ends a message begun in it; the next whole segment frames as before", () => {
  const stream = INVITE + OK + BYE;
  const both = INVITE.length + OK.length;
  // One segment of INVITE and OK cut inside the OK's headers, then BYE whole.
  const frames = snapped(stream, [{ at: 0, len: both }, { at: both, len: BYE.length }], (c) => c.at === 0 ? INVITE.length + 30 : c.len);
  const run = runFrames([syn(), ...frames]);
  assert.equal(texts(run), [INVITE, OK.slice(0, 30), BYE]);
  assert.equal(run.messages.map((m) => m.problems & L.PROB_TRUNCATED), [L.PROB_TRUNCATED, L.PROB_TRUNCATED, 0]);
  assert.is(run.counters.tcp_gap, 1);
});

test("a message held from an earlier segment and cut in a later one is dropped and counted, not emitted", () => {
  const stream = INVITE + OK;
  const frames = snapped(stream, [{ at: 0, len: 100 }, { at: 100, len: INVITE.length - 100 }, { at: INVITE.length, len: OK.length }],
    (c) => c.at === 100 ? 50 : c.len);
  const run = runFrames([syn(), ...frames]);
  assert.equal(texts(run), [OK]);
  assert.is(run.counters.tcp_gap, 1);
  assert.is(run.counters.sip_tcp, 1);
});

test("without a flow table, a cut segment's message is emitted as with one", () => {
  const frames = snapped(INVITE, [{ at: 0, len: INVITE.length }], () => 120);
  const run = runFrames(frames, { tcpFlows: 0 });
  assert.equal(texts(run), [INVITE.slice(0, 120)]);
  assert.is(run.messages[0].problems & L.PROB_TRUNCATED, L.PROB_TRUNCATED);
});

test("a capture that ends inside a message: what the stream holds is dropped at the end, counted", () => {
  const cut = runFrames([syn(), ...segments(INVITE + OK, [{ at: 0, len: INVITE.length + 20 }])]);
  assert.equal(texts(cut), [INVITE]);
  assert.is(cut.counters.tcp_partial_end, 0);
  cut.core.finish();
  assert.is(cut.core.counters().tcp_partial_end, 1);
  const whole = runFrames([syn(), ...segments(INVITE, [{ at: 0, len: INVITE.length }])]);
  whole.core.finish();
  assert.is(whole.core.counters().tcp_partial_end, 0);
});

test("WebSocket: masked text from the client, unmasked binary from the server", () => {
  const ok = Buffer.from(OK.replace("Content-Length: 0\r\n", ""));
  const run = wsRun([wsFrame(Buffer.from(WS_REGISTER), 1, true, [0x37, 0xfa, 0x21, 0x3d])], [wsFrame(ok, 2, true)]);
  assert.equal(texts(run), [WS_REGISTER, ok.toString("latin1")]);
  assert.ok(run.messages.every((m) => m.transport === "ws"));
  assert.is(run.counters.ws_upgrade, 1);
  assert.is(run.counters.sip_ws, 2);
  assert.match(run.ndjson, /"transport":"ws"/);
});

test("WebSocket: a message in a first frame and continuations, a ping between, over small segments", () => {
  const msg = Buffer.from(WS_REGISTER + "Content-Type: text/plain\r\n");
  const parts = [msg.subarray(0, 20), msg.subarray(20, 90), msg.subarray(90)];
  const mask = [1, 2, 3, 4];
  const frames = [wsFrame(parts[0], 1, false, mask), wsFrame(Buffer.from("hi"), 9, true, mask),
    wsFrame(parts[1], 0, false, mask), wsFrame(parts[2], 0, true, mask), wsFrame(Buffer.from(INVITE), 1, true, mask)];
  for (const cut of [0, 1, 13]) {
    const run = wsRun(frames, [], cut);
    assert.equal(texts(run), [msg.toString("latin1"), INVITE], `segments of ${cut || "all"}`);
    assert.is(run.counters.ws_frames, 5);
  }
});

test("WebSocket: a 70,000-byte message with a 64-bit length", () => {
  const big = sip(["MESSAGE sip:a SIP/2.0", "Call-ID: ws-big", "CSeq: 1 MESSAGE"], "z".repeat(70000));
  const run = wsRun([wsFrame(Buffer.from(big), 1, true, [9, 8, 7, 6])], [], 1448);
  assert.equal(texts(run), [big]);
});

test("WebSocket: extension bits cannot be read: the direction is given up, counted", () => {
  const compressed = wsFrame(Buffer.from(WS_REGISTER), 1, true);
  compressed[0] |= 0x40;
  const run = wsRun([compressed, wsFrame(Buffer.from(INVITE), 1, true)], []);
  assert.is(run.messages.length, 0);
  assert.is(run.counters.ws_bad, 1);
});

// A frame header with a 64-bit length (RFC 6455 §5.2), masked, and a few payload bytes.
function wsHuge(length: bigint): Buffer {
  const head = Buffer.alloc(14);
  head[0] = 0x81;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(length, 2);
  head.set([0x11, 0x22, 0x33, 0x44], 10);
  return Buffer.concat([head, Buffer.from("REGISTER sip:x SIP/2.0\r\n")]);
}

test("WebSocket: a 64-bit length near 2^64 or past a stream buffer gives the direction up; no read outside the frame", () => {
  const ok = Buffer.from(OK.replace("Content-Length: 0\r\n", ""));
  const max = 2n ** 64n;
  for (const length of [max - 1n, max - 14n, max - 15n, max - 2n ** 32n, 2n ** 63n, 2n ** 32n + 5n, 2n ** 32n - 1n, 2n ** 17n + 1n]) {
    for (const cut of [0, 7]) {
      const run = wsRun([wsFrame(Buffer.from(WS_REGISTER), 1, true, [5, 6, 7, 8]), wsHuge(length)], [wsFrame(ok, 2, true)], cut);
      const what = `length ${length}, segments of ${cut || "all"}`;
      assert.equal(texts(run), [WS_REGISTER, ok.toString("latin1")], `${what}: the message before, and the other direction's`);
      assert.is(run.counters.ws_bad, 1, what);
      assert.is(run.counters.ws_frames, 2, what);
    }
  }
});

test.run();
