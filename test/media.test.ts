// The core's SDP reading and media table: addresses, ports, payload types and
// directions from SDP (plain, multipart as SIP-I sends it, IPv6, malformed);
// calls leaving on BYE and failed answers; bounds under a flood; RTP counted
// whether or not it belongs to a known call.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Core, type CallMedia, type CoreOptions } from "../host/core";
import { readCapture } from "../host/source";
import { runFrames as runFrameList, udpFrame } from "./helpers";
import { rtpPacket, sdp, sipMessage } from "./rtp";
import { vxlan } from "./wrap";

const A = { ip: "10.2.0.1", tag: "ta" }, B = { ip: "10.2.0.2", tag: "tb" };
const NO_TAG = { ip: B.ip, tag: "" };

function invite(callId: string, body: string, contentType?: string): Uint8Array {
  return udpFrame(sipMessage("INVITE sip:b@10.2.0.2 SIP/2.0", callId, "1 INVITE", A, NO_TAG, body, contentType), { src: A.ip, dst: B.ip });
}

function response(status: string, callId: string, body = ""): Uint8Array {
  return udpFrame(sipMessage(`SIP/2.0 ${status}`, callId, "1 INVITE", A, B, body), { src: B.ip, dst: A.ip });
}

function rtp(seq: number, o: { sport?: number; dport?: number; src?: string; dst?: string } = {}): Uint8Array {
  return udpFrame(rtpPacket({ pt: 0, seq, ts: seq * 160, ssrc: 77 }), { src: o.src ?? B.ip, dst: o.dst ?? A.ip, sport: o.sport ?? 30000, dport: o.dport ?? 20000 });
}

function run(frames: Uint8Array[], options: Partial<CoreOptions> = {}): { ends: CallMedia[]; counters: Record<string, number> } {
  const ends: CallMedia[] = [];
  const core = new Core({ sensor: "t", agent: "t", ...options }, (batch) => {
    for (let i = 0; i < batch.mediaEndCount; i++) ends.push(batch.mediaEnd(i));
  });
  frames.forEach((f, i) => core.frame(f, 0, f.length, f.length, 1, 1795428000 + i, 0, 0));
  core.finish();
  return { ends, counters: core.counters() };
}

const runFrames = (frames: Uint8Array[]): ReturnType<typeof runFrameList> => runFrameList(frames.map((data) => ({ data })));

test("SDP: connection address, port, payload type, codec, direction and RTCP port", () => {
  const { messages } = runFrames([invite("s1", sdp("192.0.2.9", 49170, ["a=sendonly", "a=rtcp:53020"], [96, 0]).replace(
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/8000\r\na=rtpmap:96 opus/48000/2"))]);
  const s = messages[0].sdp;
  assert.ok(s, "no SDP read");
  assert.equal({ ip: s.ip, port: s.port, rtcpPort: s.rtcpPort, pt: s.payloadType, clock: s.clockRate, codec: s.codec, dir: s.direction },
    { ip: "192.0.2.9", port: 49170, rtcpPort: 53020, pt: 96, clock: 48000, codec: "opus", dir: "sendonly" });
  assert.ok(messages[0].sdpText.startsWith("v=0"));
});

test("SDP: lines of every length end in CRLF or a bare LF, wherever the end falls in a 16-byte block, on both builds", () => {
  // The SIMD build finds each LF sixteen bytes at a time and the rest a byte at a time: a padding
  // line of each length from 0 to 33 moves every following line end across the blocks' edges.
  for (const eol of ["\r\n", "\n"]) {
    for (let pad = 0; pad < 34; pad++) {
      const body = ["v=0", `i=${"x".repeat(pad)}`, "c=IN IP4 192.0.2.44", "m=audio 40000 RTP/AVP 8 0", "a=rtpmap:8 PCMA/8000",
        "a=recvonly", "a=rtcp:40009", ""].join(eol);
      for (const build of ["simd", "scalar"] as const) {
        const s = runFrameList([{ data: invite(`pad${pad}`, body) }], { build }).messages[0].sdp;
        assert.equal({ ip: s?.ip, port: s?.port, rtcpPort: s?.rtcpPort, codec: s?.codec, dir: s?.direction, malformed: s?.malformed },
          { ip: "192.0.2.44", port: 40000, rtcpPort: 40009, codec: "PCMA", dir: "recvonly", malformed: false },
          `${build} build, padding ${pad}, ${JSON.stringify(eol)} line ends`);
      }
    }
  }
});

test("SDP: IPv6 connection address, media-level c= over session-level, static codec name", () => {
  const body = sdp("2001:db8::1", 5004).replace("m=audio 5004 RTP/AVP 0 101", "m=audio 5004 RTP/AVP 8\r\nc=IN IP6 2001:db8:0:0:1::2");
  const s = runFrames([invite("s2", body)]).messages[0].sdp;
  assert.equal([s?.ip, s?.port, s?.codec, s?.clockRate, s?.rtcpPort], ["2001:db8::1:0:0:2", 5004, "PCMA", 8000, 5005]);
});

test("SDP: found inside a multipart/mixed body (SIP-I, fixtures/captures/sip-i.pcap)", async () => {
  const found: string[] = [];
  const core = new Core({ sensor: "t", agent: "t" }, (batch) => {
    for (let i = 0; i < batch.count; i++) {
      const s = batch.message(i).sdp;
      if (s) found.push(`${batch.message(i).contentType.split(";")[0]} ${s.ip}:${s.port} ${s.codec}`);
    }
  });
  await readCapture("fixtures/captures/sip-i.pcap", core);
  core.finish();
  assert.is(found.length, 1, `SDP found: ${found.join("; ")}`);
  assert.match(found[0], /^multipart\/mixed \d+\.\d+\.\d+\.\d+:\d+ /);
});

test("SDP: a video section before the audio one lends it neither its address nor its direction", () => {
  const body = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=video 6000 RTP/AVP 96\r\nc=IN IP4 192.0.2.66\r\na=inactive\r\n" +
    "m=audio 7000 RTP/AVP 8\r\n";
  const s = runFrames([invite("video", body)]).messages[0].sdp;
  assert.equal([s?.ip, s?.port, s?.direction, s?.media], ["192.0.2.1", 7000, "sendrecv", 2]);
});

test("SDP: malformed lines are marked and skipped, bad addresses never read", () => {
  const bad = ["c=IN IP4 300.1.2.3", "c=IN IP6 2001:db8:::1", "c=IN IP6 1:2:3:4:5:6:7:8:9", "c=IN IP4 1.2.3", "c=IN XX 1.2.3.4",
    "m=audio 99999 RTP/AVP 0", "a=rtpmap:0 PCMU", "a=rtcp:0"];
  for (const line of bad) {
    const body = line.startsWith("m=") ? `v=0\r\n${line}\r\n` : `v=0\r\nm=audio 4000 RTP/AVP 0\r\n${line}\r\n`;
    const s = runFrames([invite("m", body)]).messages[0].sdp;
    assert.ok(s?.malformed, `${line}: not marked malformed (${JSON.stringify(s)})`);
  }
  const empty = runFrames([invite("e", "")]).messages[0];
  assert.is(empty.sdp, undefined);
  const multipartNoSdp = runFrames([invite("n", "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n", "multipart/mixed; boundary=x")]);
  assert.is(multipartNoSdp.messages[0].sdp, undefined);
});

test("media: RTP to an endpoint from SDP is counted for its call and direction; a BYE hands the stats on", () => {
  const frames = [invite("c1", sdp(A.ip, 20000)), response("200 OK", "c1", sdp(B.ip, 30000))];
  for (let seq = 1; seq <= 10; seq++) if (seq !== 5) frames.push(rtp(seq));
  frames.push(rtp(3, { src: A.ip, dst: B.ip, sport: 20000, dport: 30000 }));
  frames.push(udpFrame(sipMessage("BYE sip:b@10.2.0.2 SIP/2.0", "c1", "2 BYE", A, B), { src: A.ip, dst: B.ip }));
  frames.push(rtp(11));
  const { ends, counters } = run(frames);
  assert.equal(ends.map((e) => [e.reason, e.afterBye, e.streams[1].packets]), [["bye", false, 9], ["bye", true, 10]],
    "the BYE's figures, then at the input's end the final ones with the RTP after the BYE");
  assert.is(ends[0].reason, "bye");
  const [fromOfferer, fromAnswerer] = ends[0].streams;
  assert.equal([fromAnswerer.packets, fromAnswerer.expected, fromAnswerer.lost, fromAnswerer.codec], [9, 10, 1, "PCMU"]);
  assert.is(fromOfferer.packets, 1);
  assert.is(counters.rtp, 11);
  assert.is(counters.media_ended, 1);
});

test("media: a late offer (200) answered in the ACK makes the callee the offerer; a re-INVITE moves the media", () => {
  const ack = (body: string): Uint8Array =>
    udpFrame(sipMessage("ACK sip:b@10.2.0.2 SIP/2.0", "late", "1 ACK", A, B, body), { src: A.ip, dst: B.ip });
  const frames = [
    udpFrame(sipMessage("INVITE sip:b@10.2.0.2 SIP/2.0", "late", "1 INVITE", A, NO_TAG), { src: A.ip, dst: B.ip }),
    response("200 OK", "late", sdp(B.ip, 30000)), ack(sdp(A.ip, 20000)),
    rtp(1), rtp(2), // callee (offerer) to caller: direction 0
    udpFrame(sipMessage("INVITE sip:b@10.2.0.2 SIP/2.0", "late", "2 INVITE", A, B, sdp(A.ip, 20100)), { src: A.ip, dst: B.ip }),
    udpFrame(sipMessage("SIP/2.0 200 OK", "late", "2 INVITE", A, B, sdp(B.ip, 30000)), { src: B.ip, dst: A.ip }),
    rtp(3, { dport: 20100 }),
    rtp(4, { src: A.ip, dst: B.ip, sport: 20100, dport: 30000 }),
  ];
  const { ends, counters } = run(frames);
  assert.is(counters.rtp_unknown, 0);
  assert.equal(ends.map((e) => [e.reason, e.streams[0].packets, e.streams[1].packets]), [["end", 3, 1]]);
});

test("media: IPv6 endpoints from SDP match IPv6 RTP", () => {
  const v6a = "2001:db8::a", v6b = "2001:db8::b";
  const frames = [invite("v6", sdp(v6a, 20000)), response("200 OK", "v6", sdp(v6b, 30000)),
    udpFrame(rtpPacket({ pt: 0, seq: 1, ts: 0, ssrc: 5 }), { src: v6b, dst: v6a, sport: 30000, dport: 20000 })];
  const { ends, counters } = run(frames);
  assert.equal([counters.rtp, ends[0]?.streams[1].packets], [1, 1]);
});

test("media: RTP up to 4 s after the BYE is still the call's (media records for the recorder), later RTP is unknown", () => {
  const packets: number[] = [];
  const core = new Core({ sensor: "t", agent: "t", mediaPackets: true }, (batch) => {
    for (let i = 0; i < batch.mediaCount; i++) packets.push(batch.media(i).seq);
  });
  const at = (f: Uint8Array, second: number): void => core.frame(f, 0, f.length, f.length, 1, 1795428000 + second, 0, 0);
  at(invite("late-rtp", sdp(A.ip, 20000)), 0);
  at(response("200 OK", "late-rtp", sdp(B.ip, 30000)), 0);
  at(rtp(1), 1);
  at(udpFrame(sipMessage("BYE sip:b@10.2.0.2 SIP/2.0", "late-rtp", "2 BYE", A, B), { src: A.ip, dst: B.ip }), 2);
  at(rtp(2), 3);
  at(rtp(3), 9);
  core.finish();
  const c = core.counters();
  assert.equal(packets, [1, 2]);
  assert.equal([c.rtp, c.rtp_unknown, c.media_ended], [2, 1, 1]);
});

test("media: a failed final answer ends the call's media; RTP after it is unknown, not lost silently", () => {
  const { ends, counters } = run([invite("f1", sdp(A.ip, 20000)), response("486 Busy Here", "f1"), rtp(1)]);
  assert.equal(ends.map((e) => e.reason), ["failed"]);
  assert.is(counters.rtp, 0);
  assert.is(counters.rtp_unknown, 1);
});

test("media: RTP with a CSRC count or extension past its end is malformed, never read", () => {
  const to = { src: B.ip, dst: A.ip, sport: 30000, dport: 20000 };
  const csrc = rtpPacket({ pt: 0, seq: 1, ts: 0, ssrc: 1 }).slice(0, 12);
  csrc[0] |= 15;
  const ext = rtpPacket({ pt: 0, seq: 1, ts: 0, ssrc: 1, extensionWords: 200, payload: new Uint8Array(4) });
  const pad = rtpPacket({ pt: 0, seq: 1, ts: 0, ssrc: 1, payload: new Uint8Array(2) });
  pad[0] |= 0x20;
  pad[pad.length - 1] = 200;
  const { counters } = run([invite("x", sdp(A.ip, 20000)), ...[csrc, ext.slice(0, 20), pad].map((p) => udpFrame(p, to))]);
  assert.is(counters.media_malformed, 3);
  assert.is(counters.rtp, 0);
});

test("media: a flood of offers never answered and RTP that matches nothing keeps memory flat; evictions counted", () => {
  const options = { mediaCalls: 64, mediaEndpoints: 128 };
  const ends: number[] = [];
  const core = new Core({ sensor: "t", agent: "t", renderJson: false, ...options }, (batch) => ends.push(batch.mediaEndCount));
  const before = core.memoryBytes;
  for (let i = 0; i < 20000; i++) {
    const f = i % 2 === 0
      ? invite(`flood-${i}`, sdp(`10.3.${(i >> 8) & 255}.${i & 255}`, 10000 + (i % 5000) * 2))
      : rtp(i, { src: "10.9.9.9", dst: "10.8.8.8", sport: 7000, dport: 10000 + (i % 5000) * 2 });
    core.frame(f, 0, f.length, f.length, 1, 1795428000 + Math.floor(i / 100), 0, 0);
  }
  core.finish();
  const c = core.counters();
  assert.is(core.memoryBytes, before, "memory grew");
  assert.is(c.media_calls, 10000);
  assert.ok(c.media_evicted >= 10000 - 64, `evicted ${c.media_evicted}`);
  assert.is(c.rtp_unknown, 10000);
  assert.is(ends.reduce((a, b) => a + b, 0), 10000, "every call's stats handed on once");
});

// The slots' memory is 1 KiB each: calls one after another must not walk the whole table
// (8 MiB at the default bounds). A freed slot is taken again at once, in the same push, and
// the records of the call that left it still name that call (from its stats record).
test("media: calls one after another reuse freed slots at once: a run touches what it holds; records still name their call", () => {
  const slots = new Set<number>();
  const callIds = new Set<string>();
  const core = new Core({ sensor: "t", agent: "t", mediaPackets: true }, (batch) => {
    for (let i = 0; i < batch.mediaCount; i++) {
      slots.add(batch.media(i).call);
      callIds.add(batch.media(i).callId);
    }
  });
  for (let i = 0; i < 2000; i++) {
    for (const f of [invite(`seq-${i}`, sdp(A.ip, 20000)), response("200 OK", `seq-${i}`, sdp(B.ip, 30000)), rtp(i),
      udpFrame(sipMessage("BYE sip:b@10.2.0.2 SIP/2.0", `seq-${i}`, "2 BYE", A, B), { src: A.ip, dst: B.ip })]) core.frame(f, 0, f.length, f.length, 1, 1795428000 + i, 0, 0);
  }
  core.finish();
  const c = core.counters();
  assert.equal([c.media_calls, c.rtp, c.rtp_unknown], [2000, 2000, 0]);
  assert.is(callIds.size, 2000, `each packet's record named its own call: ${callIds.size} names, ${[...callIds].slice(0, 5)}`);
  assert.ok(Math.max(...slots) < 8, `slots up to ${Math.max(...slots)} of the 8192`);
});

// VXLAN tenants reuse private addresses: the same SDP endpoints in two VNIs are two calls'
// media. A call's RTP usually runs between other hosts than its signalling, so the tunnel's
// own endpoints (the VTEPs) do not part it from its call: only the tunnel's type and id do.
test("media: the same endpoints behind two VXLAN VNIs are two calls' media; another VTEP of the same VNI is the same call's", () => {
  const inTenant = (vni: number, frame: Uint8Array, vtep = "10.0.0.1"): Uint8Array => vxlan(frame, vni, 4789, vtep);
  const frames: Uint8Array[] = [];
  for (const vni of [100, 200]) {
    frames.push(inTenant(vni, invite(`tenant-${vni}`, sdp(A.ip, 20000))), inTenant(vni, response("200 OK", `tenant-${vni}`, sdp(B.ip, 30000))));
  }
  for (let seq = 1; seq <= 5; seq++) frames.push(inTenant(100, rtp(seq)));
  for (let seq = 1; seq <= 3; seq++) frames.push(inTenant(200, rtp(seq, { sport: 30000 }), "10.7.7.7"));
  frames.push(rtp(9));
  const { ends, counters } = run(frames);
  const packets = Object.fromEntries(ends.map((e) => [e.callId, e.streams[1].packets]));
  assert.equal(packets, { "tenant-100": 5, "tenant-200": 3 }, JSON.stringify(ends.map((e) => [e.callId, e.reason])));
  assert.is(counters.rtp_unknown, 1, "the same endpoints outside any tunnel belong to neither call");
});

test("media: off with mediaCalls 0: no table, no stats, the SDP not read (it is only the table's)", () => {
  const ports = (mediaCalls: number): (number | undefined)[] => {
    const seen: (number | undefined)[] = [];
    const core = new Core({ sensor: "t", agent: "t", mediaCalls }, (batch) => {
      for (let i = 0; i < batch.count; i++) seen.push(batch.message(i).sdp?.port);
    });
    const f = invite("o", sdp(A.ip, 20000));
    core.frame(f, 0, f.length, f.length, 1, 1795428000, 0, 0);
    core.finish();
    return seen;
  };
  const { ends, counters } = run([invite("o", sdp(A.ip, 20000)), rtp(1)], { mediaCalls: 0 });
  assert.equal([ends.length, counters.media_calls, counters.sdp, counters.rtp_unknown], [0, 0, 0, 1]);
  assert.equal(ports(0), [undefined]);
  assert.equal(ports(1), [20000]);
});

// A flood of INVITEs that never get an answer, every one with the same SDP (a scanner's, or
// SIPp's fixed media port): thousands of endpoint entries with one key, in one hash chain.
// Freeing one walked that chain, so each INVITE past the table's size cost the whole chain:
// 100,000 such INVITEs took 9.7 s where they take 0.4 s. The bound is far from both.
test("an INVITE flood repeating one SDP endpoint costs each INVITE alike (no walk of the endpoint's chain)", () => {
  const caller = { ip: "192.0.2.1", tag: "f" }, callee = { ip: "198.51.100.2", tag: "" };
  const body = sdp("192.0.2.1", 40000);
  let frames = 0;
  const core = new Core({ sensor: "t", agent: "t", renderJson: false }, () => undefined);
  const started = performance.now();
  for (let i = 0; i < 150_000; i++) {
    const data = udpFrame(sipMessage("INVITE sip:b@198.51.100.2 SIP/2.0", `flood-${i}`, "1 INVITE", caller, callee, body),
      { src: caller.ip, dst: callee.ip });
    core.frame(data, 0, data.length, data.length, 1, 1795428000 + Math.floor(i / 1000), (i % 1000) * 1000, 0);
    frames++;
  }
  core.flush();
  const seconds = (performance.now() - started) / 1000;
  const counters = core.counters();
  assert.is(counters.sip_udp, frames);
  assert.ok(counters.media_evicted > 100_000, `the media table stayed full and let calls go: ${counters.media_evicted} evicted`);
  assert.ok(seconds < 8, `150,000 flooding INVITEs took ${seconds.toFixed(1)} s (about 1 s when each costs alike, 13 s when each walked the chain)`);
});

test.run();
