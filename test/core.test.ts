import { test } from "uvu";
import * as assert from "uvu/assert";
import * as L from "../assembly/layout";
import { Core, coreMemoryBytes, coreMemoryProblem } from "../host/core";
import {
  runFrames, udpFrame, sip, INVITE, ethernet, ipv4Packet, ipv6Packet, udpHeader, concat,
} from "./helpers";
import type { Frame } from "./helpers";
import { vxlan } from "./wrap";
import { Rng } from "./support/generate";

function singleMessage(run: ReturnType<typeof runFrames>) {
  assert.is(run.messages.length, 1, `one message expected, counters ${JSON.stringify(run.counters)}`);
  return run.messages[0];
}

test("layout: the compiled core agrees with the host's memory map, in both builds", () => {
  for (const build of ["simd", "scalar"] as const) {
    const core = new Core({ sensor: "s", agent: "a", build }, () => {});
    assert.is(core.build, build);
  }
});

test("an INVITE in Ethernet/IPv4/UDP gives one envelope with every field", () => {
  const run = runFrames([{ data: udpFrame(INVITE), sec: 1795428000, nsec: 123456789 }]);
  const m = singleMessage(run);
  const env = JSON.parse(run.ndjson.trim());
  assert.equal(Object.keys(env), ["v", "id", "time", "src", "dst", "transport", "call_id", "sensor", "agent", "sip"]);
  assert.is(env.v, 1);
  assert.is(env.id, m.id);
  assert.ok(/^[0-9a-f]{16}$/.test(env.id));
  assert.is(env.time, "2026-11-23T10:00:00.123456Z");
  assert.is(env.src, "192.0.2.1:5060");
  assert.is(env.dst, "198.51.100.7:5060");
  assert.is(env.transport, "udp");
  assert.is(env.call_id, "a84b4c76e66710@pc33.atlanta.example.com");
  assert.is(env.sensor, "test");
  assert.is(env.agent, "siphon/test");
  assert.is(Buffer.from(env.sip, "base64").toString("latin1"), INVITE);
});

test("tokenizer: start line and header fields are reachable as spans", () => {
  const m = singleMessage(runFrames([{ data: udpFrame(INVITE) }]));
  assert.ok(m.isRequest);
  assert.is(m.method, "INVITE");
  assert.is(m.text(L.SPAN_URI), "sip:bob@biloxi.example.com");
  assert.is(m.text(L.SPAN_FROM_TAG), "1928301774");
  assert.is(m.text(L.SPAN_TO), "Bob <sip:bob@biloxi.example.com>");
  assert.not.ok(m.has(L.SPAN_TO_TAG));
  assert.is(m.text(L.SPAN_CSEQ_METHOD), "INVITE");
  assert.is(m.cseq, 314159);
  assert.is(m.text(L.SPAN_CONTACT), "<sip:alice@pc33.atlanta.example.com>");
  assert.is(m.text(L.SPAN_CONTENT_TYPE), "application/sdp");
  assert.is(m.text(L.SPAN_USER_AGENT), "softphone/1.0");
  assert.is(m.contentLength, 4);
  assert.is(m.text(L.SPAN_BODY), "v=0\n");
  assert.is(m.headerCount, 10);
  assert.is(m.problems, 0);
});

test("tokenizer: a response's method comes from CSeq, its reason from the status line", () => {
  const m = singleMessage(runFrames([{ data: udpFrame(sip([
    "SIP/2.0 486 Busy Here", "v: SIP/2.0/UDP h;branch=z9hG4bKx", "f: <sip:a@h>;tag=1", "t: <sip:b@h> ; tag = 2",
    "i: cid-1", "CSeq: 7 INVITE", "Server: pbx 2", "l: 0"])) }]));
  assert.not.ok(m.isRequest);
  assert.is(m.status, 486);
  assert.is(m.text(L.SPAN_REASON), "Busy Here");
  assert.is(m.method, "INVITE");
  assert.is(m.callId, "cid-1");
  assert.is(m.text(L.SPAN_TO_TAG), "2");
  assert.is(m.text(L.SPAN_USER_AGENT), "pbx 2");
});

test("tokenizer: header names are case-insensitive, spaces before the colon allowed, folded lines joined", () => {
  const m = singleMessage(runFrames([{ data: udpFrame(sip([
    "OPTIONS sip:x SIP/2.0", "cALL-iD   : folded-", " id", "cseq: 1 OPTIONS", "EXPIRES: 0060", "CONTENT-LENGTH : 0"])) }]));
  assert.is(m.callId, "folded-\r\n id");
  assert.is(m.expires, 60);
  assert.is(m.contentLength, 0);
});

test("tokenizer: a value that begins on a folded line begins after the fold's white space, as tshark reads it", () => {
  const m = singleMessage(runFrames([{ data: udpFrame(sip([
    "OPTIONS sip:x SIP/2.0", "Call-ID:", "  folded@x  ", "From:  ", " \t", "\t<sip:a@h>;tag=f", "CSeq: 1 OPTIONS", "Content-Length:", " 0"])) }]));
  assert.equal([m.callId, m.from, m.fromTag, m.contentLength], ["folded@x", "<sip:a@h>;tag=f", "f", 0]);
});

test("tokenizer: a tag inside the URI's angle brackets is not the header's tag", () => {
  const m = singleMessage(runFrames([{ data: udpFrame(sip([
    "BYE sip:x SIP/2.0", "From: \"a;tag=no\" <sip:a@h;tag=no>;TAG=yes", "Call-ID: c", "CSeq: 2 BYE"])) }]));
  assert.is(m.text(L.SPAN_FROM_TAG), "yes");
});

test("tokenizer: a tag is looked for within its own value, not in the lines or the body after it", () => {
  // Values short of a 16-byte block: the SIMD search loads past their end and must mask what it read.
  const m = singleMessage(runFrames([{ data: udpFrame(sip([
    "INVITE sip:x SIP/2.0", "t: <sip:b@h>", "f: <sip:a@h>;tag=f1", "Call-ID: c", "CSeq: 1 INVITE", "To: <sip:z@h>;tag=second",
    "Content-Length: 13"], ";tag=body\r\n\r\n")) }]));
  assert.equal([m.toTag, m.fromTag], ["", "f1"]);
  const last = singleMessage(runFrames([{ data: udpFrame(sip(["BYE sip:x SIP/2.0", "Call-ID: c", "CSeq: 2 BYE", "f: <sip:a@h>"], ";tag=body")) }]));
  assert.is(last.fromTag, "");
});

test("tokenizer: the SIMD build's tag search agrees with the scalar build's on hostile values", () => {
  // The SIMD build finds a value's quotes, brackets and semicolons sixteen bytes at a time, the
  // scalar one byte by byte; values of up to 100 bytes span up to seven of those blocks.
  const rng = new Rng(0x7a6);
  const pieces = ['"', "\\", "<", ">", ";", ";tag=", ";TAG = ", "tag=", ",", " ", "x", "sip:a@h", "=", "\r\n ", "t1", "\""];
  const frames: Frame[] = [];
  const values: string[] = [];
  for (let i = 0; i < 3000; i++) {
    let value = "";
    const length = rng.between(0, 100);
    while (value.length < length) value += rng.pick(pieces);
    values.push(value);
    const lines = ["BYE sip:x SIP/2.0", "Call-ID: c", "CSeq: 2 BYE", "Content-Length: 0"];
    lines.splice(rng.between(1, lines.length), 0, `From: ${value}`);
    frames.push({ data: udpFrame(sip(lines)) });
  }
  const tags = (build: "simd" | "scalar") => runFrames(frames, { build, dialogSpans: true }).messages.map((m) => m.fromTag);
  const simd = tags("simd"), scalar = tags("scalar");
  assert.is(simd.length, frames.length);
  const differing = simd.flatMap((tag, i) => tag === scalar[i] ? [] : [`${JSON.stringify(values[i])}: simd ${JSON.stringify(tag)}, scalar ${JSON.stringify(scalar[i])}`]);
  assert.equal(differing, []);
  assert.ok(simd.filter((tag) => tag !== "").length > 300, "too few values with a tag to compare");
});

test("UDP: two messages in one datagram are split by Content-Length; trailing bytes counted", () => {
  const first = sip(["MESSAGE sip:a SIP/2.0", "Call-ID: one", "CSeq: 1 MESSAGE", "Content-Length: 2"], "hi");
  const second = sip(["SIP/2.0 200 OK", "Call-ID: two", "CSeq: 1 MESSAGE", "Content-Length: 0"]);
  const run = runFrames([{ data: udpFrame(first + second + "junk") }]);
  assert.equal(run.messages.map((m) => m.callId), ["one", "two"]);
  assert.is(run.counters.udp_multi, 1);
  assert.is(run.counters.trailing_bytes, 4);
});

test("UDP: without Content-Length the body runs to the end of the datagram", () => {
  const m = singleMessage(runFrames([{ data: udpFrame(sip(["MESSAGE sip:a SIP/2.0", "Call-ID: c", "CSeq: 1 MESSAGE"], "body")) }]));
  assert.is(m.text(L.SPAN_BODY), "body");
});

test("UDP: a Content-Length past the datagram keeps what is there and counts it", () => {
  const run = runFrames([{ data: udpFrame(sip(["MESSAGE sip:a SIP/2.0", "Call-ID: c", "CSeq: 1 MESSAGE", "l: 99"], "short")) }]);
  assert.is(singleMessage(run).text(L.SPAN_BODY), "short");
  assert.is(run.counters.clen_short, 1);
});

test("non-SIP traffic is counted, not emitted; SIP is found on any port", () => {
  const run = runFrames([
    { data: udpFrame("\x12\x34 some dns", { dport: 53 }) },
    { data: udpFrame(INVITE, { sport: 40000, dport: 15060 }) },
  ]);
  assert.is(run.messages.length, 1);
  assert.is(run.counters.non_sip, 1);
  assert.is(run.counters.sip_malformed, 0);
});

test("a datagram whose header section has no empty line is read to its end, as tshark reads it, and marked", () => {
  // PcapPlusPlus's sip_reqs.pcap holds such an ACK (its last line ends in CRLF) and a BYE cut inside
  // a name; tshark shows both with their Call-IDs.
  const datagrams = [
    "ACK sip:a@h SIP/2.0\r\nCall-ID: ack-1\r\nCSeq: 11 ACK\r\nP-hint: rr\r\n",
    "BYE sip:b@h SIP/2.0\r\nCall-ID: bye-1\r\nCSeq: 2 BYE\r\nContent-Lengt",
    "OPTIONS sip:c@h SIP/2.0\r\nCall-ID: opt-1\r\nCSeq: 3 OPTIONS\r\nContent-Length: 10\r\n",
    "OPTIONS sip:d@h SIP/2.0\r\n",
  ];
  const run = runFrames(datagrams.map((d) => ({ data: udpFrame(d) })));
  assert.equal(run.messages.map((m) => [m.method, m.callId, m.cseq, m.text(L.SPAN_BODY), m.problems]), [
    ["ACK", "ack-1", 11, "", L.PROB_NO_EMPTY_LINE],
    ["BYE", "bye-1", 2, "", L.PROB_NO_EMPTY_LINE],
    ["OPTIONS", "opt-1", 3, "", L.PROB_NO_EMPTY_LINE | L.PROB_CLEN_SHORT],
    ["OPTIONS", "", 0, "", L.PROB_NO_EMPTY_LINE | L.PROB_NO_CALL_ID | L.PROB_NO_CSEQ],
  ]);
  assert.is(run.counters.no_empty_line, 4);
  assert.is(run.counters.sip_malformed, 0);
  assert.equal(run.messages.map((m) => m.bytes.toString("latin1")), datagrams);
});

test("a frame cut by the snap length inside the header section still gives its message, marked truncated", () => {
  const cut = Buffer.from(udpFrame(INVITE)).subarray(0, 42 + INVITE.indexOf("CSeq") + 4);
  const run = runFrames([{ data: cut, origLen: udpFrame(INVITE).length }]);
  assert.is(run.messages.length, 1);
  const m = run.messages[0];
  assert.equal([m.method, m.callId, m.text(L.SPAN_FROM_TAG)], ["INVITE", "a84b4c76e66710@pc33.atlanta.example.com", "1928301774"]);
  assert.is(m.problems & (L.PROB_TRUNCATED | L.PROB_NO_EMPTY_LINE), L.PROB_TRUNCATED | L.PROB_NO_EMPTY_LINE);
  assert.equal([run.counters.truncated, run.counters.no_empty_line], [1, 1]);
});

test("link layers: VLAN, QinQ, SLL, SLL2, null, loop and raw IP all reach the SIP message", () => {
  const udp = concat(Uint8Array.from(udpHeader(Buffer.from(INVITE), 5060, 5060)), Buffer.from(INVITE));
  const ip = ipv4Packet(17, udp, "10.0.0.1", "10.0.0.2");
  const sll = concat(Uint8Array.from([0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00]), ip);
  const sll2 = concat(Uint8Array.from([0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]), ip);
  const nullLe = concat(Uint8Array.from([2, 0, 0, 0]), ip);
  const loop = concat(Uint8Array.from([0, 0, 0, 2]), ip);
  const run = runFrames([
    { data: udpFrame(INVITE, { vlans: [100] }) },
    { data: udpFrame(INVITE, { vlans: [100, 200] }) },
    { data: sll, linkType: 113 },
    { data: sll2, linkType: 276 },
    { data: nullLe, linkType: 0 },
    { data: loop, linkType: 108 },
    { data: ip, linkType: 101 },
    { data: ip, linkType: 228 },
  ]);
  assert.is(run.messages.length, 8);
  assert.is(run.counters.frame_malformed, 0);
});

test("unsupported link types are counted", () => {
  const run = runFrames([{ data: udpFrame(INVITE), linkType: 105 }]);
  assert.is(run.messages.length, 0);
  assert.is(run.counters.link_unsupported, 1);
});

test("IPv4 options are skipped", () => {
  assert.is(runFrames([{ data: udpFrame(INVITE, { ipOptions: 8 }) }]).messages.length, 1);
});

test("IPv6: extension headers are walked; addresses are written per RFC 5952", () => {
  const payload = Buffer.from(INVITE);
  const udp = concat(Uint8Array.from(udpHeader(payload, 5062, 5060)), payload);
  // hop-by-hop (8 bytes) then destination options (16 bytes), then UDP
  const ext = Uint8Array.from([60, 0, 1, 4, 0, 0, 0, 0, 17, 1, 1, 12, ...Array(12).fill(0)]);
  const packet = ipv6Packet(0, udp, "2001:db8::1", "2001:db8:0:0:1:0:0:1", ext);
  const run = runFrames([{ data: ethernet(0x86dd, packet) }]);
  const env = JSON.parse(run.ndjson);
  assert.is(env.src, "[2001:db8::1]:5062");
  assert.is(env.dst, "[2001:db8::1:0:0:1]:5060");
  assert.is(run.messages[0].src.ip, "2001:db8::1");
});

test("IPv4 and IPv6 fragments are counted, not decoded (reassembly is its own stage)", () => {
  const udp = Buffer.from("x".repeat(40));
  const frag = ipv4Packet(17, udp, "10.0.0.1", "10.0.0.2");
  frag[6] = 0x20; // more fragments
  const fragExt = Uint8Array.from([17, 0, 0, 1, 0, 0, 0, 1]);
  const run = runFrames([
    { data: ethernet(0x0800, frag) },
    { data: ethernet(0x86dd, ipv6Packet(44, udp, "::1", "::2", fragExt)) },
  ]);
  assert.is(run.counters.fragments, 2);
});

test("time: the capture record's timestamp, rendered in UTC with microseconds", () => {
  const times = [[0, 0, "1970-01-01T00:00:00.000000Z"], [951782400, 999999999, "2000-02-29T00:00:00.999999Z"],
    [4102444799, 1000, "2099-12-31T23:59:59.000001Z"]] as const;
  for (const [sec, nsec, want] of times) {
    assert.is(JSON.parse(runFrames([{ data: udpFrame(INVITE), sec, nsec }]).ndjson).time, want);
  }
});

test("time: a capture time the host cannot hold to the microsecond is clamped to 1684-2255 and counted", () => {
  const times = [
    [9e12, 0, "2255-06-05T23:47:33.999999Z", 9007199253999999],        // a pcapng if_tsoffset of 285,000 years
    [-9e12, 500, "1684-07-28T00:12:26.000000Z", -9007199254000000],
    [951782400, 1_500_000_000, "2000-02-29T00:00:00.999999Z", 951782400999999], // a fraction of 1.5 s
    [9007199253, 999999999, "2255-06-05T23:47:33.999999Z", 9007199253999999],   // the last time held: not clamped
    [-9007199254, 0, "1684-07-28T00:12:26.000000Z", -9007199254000000],
  ] as const;
  for (const [sec, nsec, want, us] of times) {
    const run = runFrames([{ data: udpFrame(INVITE), sec, nsec }]);
    assert.is(JSON.parse(run.ndjson).time, want, `${sec} s ${nsec} ns`);
    assert.is(singleMessage(run).timeUs, us, `${sec} s ${nsec} ns`);
    assert.is(run.counters.time_clamped, Math.abs(sec) > 9007199254 || nsec > 999999999 ? 1 : 0, `${sec} s ${nsec} ns`);
  }
});

test("envelope: Call-ID bytes are escaped for JSON; invalid UTF-8 becomes U+FFFD", () => {
  const callId = Buffer.concat([Buffer.from('q"b\\s\x01é'), Buffer.from([0xff]), Buffer.from("€")]);
  const msg = Buffer.concat([Buffer.from("OPTIONS sip:x SIP/2.0\r\nCall-ID: "), callId, Buffer.from("\r\nCSeq: 1 OPTIONS\r\n\r\n")]);
  const env = JSON.parse(runFrames([{ data: udpFrame(msg) }]).ndjson);
  assert.is(env.call_id, 'q"b\\s\x01é\ufffd€');
  assert.equal(Buffer.from(env.sip, "base64"), msg);
});

test("envelope and host decode a Call-ID alike: UTF-8, one U+FFFD per maximal invalid subpart", () => {
  const cases = [[0xe6, 0x97], [0xe6, 0x97, 0x41], [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80],
    [0xf0, 0x9f, 0x98], [0xe0, 0x9f, 0x80], [0x80, 0xbf], [0xc3, 0xbc, 0xc3], [0xf0, 0x9f, 0x98, 0x80]];
  for (const bytes of cases) {
    const callId = Buffer.concat([Buffer.from("a"), Buffer.from(bytes), Buffer.from("@例え.jp")]);
    const msg = Buffer.concat([Buffer.from("OPTIONS sip:x SIP/2.0\r\nCall-ID: "), callId, Buffer.from("\r\nCSeq: 1 OPTIONS\r\n\r\n")]);
    const run = runFrames([{ data: udpFrame(msg) }]);
    const want = new TextDecoder().decode(callId);
    assert.is(JSON.parse(run.ndjson).call_id, want, `envelope call_id of ${callId.toString("hex")}`);
    assert.is(run.messages[0].callId, want, `host text() of ${callId.toString("hex")}`);
  }
});

test("envelope: a message without Call-ID has call_id null", () => {
  const env = JSON.parse(runFrames([{ data: udpFrame(sip(["OPTIONS sip:x SIP/2.0", "CSeq: 1 OPTIONS"])) }]).ndjson);
  assert.is(env.call_id, null);
});

test("id: equal bytes give equal ids; one changed byte another id", () => {
  const run = runFrames([{ data: udpFrame(INVITE) }, { data: udpFrame(INVITE, { src: "192.0.2.9" }) },
    { data: udpFrame(INVITE.replace("70", "69")) }]);
  const [a, b, c] = run.messages.map((m) => m.id);
  assert.is(a, b);
  assert.is.not(a, c);
});

test("base64: every length modulo 3 round-trips", () => {
  for (const pad of ["", "a", "ab"]) {
    const msg = sip(["MESSAGE sip:a SIP/2.0", "Call-ID: c", "CSeq: 1 MESSAGE"], pad);
    assert.is(Buffer.from(JSON.parse(runFrames([{ data: udpFrame(msg) }]).ndjson).sip, "base64").toString(), msg);
  }
});

test("a frame cut by the snap length is decoded as far as it goes and counted", () => {
  const frame = udpFrame(INVITE);
  const run = runFrames([{ data: frame, origLen: frame.length + 100 }]);
  assert.is(run.messages.length, 1);
  assert.is(run.counters.truncated, 1);
  assert.is(run.messages[0].problems & L.PROB_TRUNCATED, L.PROB_TRUNCATED);
});

test("batches: more frames than fit one push all come out, in order", () => {
  const frames = Array.from({ length: 5000 }, (_, i) => ({ data: udpFrame(INVITE.replace("a84b4c76e66710", `call-${i}`)) }));
  const run = runFrames(frames, { inputBytes: 65536, maxFrames: 100 });
  assert.is(run.messages.length, 5000);
  assert.ok(run.messages.every((m, i) => m.callId.startsWith(`call-${i}@`)));
  assert.is(run.ndjson.split("\n").length, 5001);
});

test("the SIMD and scalar builds give the same bytes", () => {
  // The VXLAN frame's envelope has the `outer` member, whose names the SIMD build copies eight at a time.
  const frames = [{ data: udpFrame(INVITE) }, { data: udpFrame(INVITE + INVITE, { src: "2001:db8::5", dst: "::1" }) },
    { data: vxlan(udpFrame(INVITE)) }];
  assert.ok(runFrames(frames, { build: "simd" }).ndjson.includes('"outer":{"src":"'));
  assert.is(runFrames(frames, { build: "simd" }).ndjson, runFrames(frames, { build: "scalar" }).ndjson);
});

// The host checks what a configuration costs before configuring the core (issue 9):
// its per-entry sizes must follow assembly/ or the check passes what traps.
test("the host's memory estimate covers what a configured core reserves, and not much more", () => {
  const configurations = [{}, { tcpFlows: 0, defragSlots: 0 }, { tcpFlows: 1 << 20, tcpBuffers: 16 }, { tcpBuffers: 600, defragSlots: 1024 },
    { mediaCalls: 0 }, { mediaCalls: 1 << 20, mediaEndpoints: 1 << 22 }, { mediaCalls: 5000, mediaEndpoints: 70000 }];
  for (const options of configurations) {
    const core = new Core({ sensor: "mem", agent: "test", ...options }, () => {});
    const estimate = coreMemoryBytes(options);
    const over = estimate - core.reservedBytes;
    assert.ok(over >= 0 && over < 2 << 20, `${JSON.stringify(options)}: estimated ${estimate}, the core reserved ${core.reservedBytes}`);
    assert.ok(core.memoryBytes >= estimate && core.memoryBytes < estimate + 65536, "memory grown to the estimate, once");
  }
  assert.throws(() => new Core({ sensor: "mem", agent: "test", tcpFlows: 2 ** 32 }, () => {}), /core: the configured tables need \d+ MiB/);
  assert.is(coreMemoryProblem({ tcpFlows: 1 << 20, tcpBuffers: 5000 })?.includes("more than the 2048 MiB"), true);
});

test.run();
