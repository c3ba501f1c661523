// The call events and call records of calls with RTP: `rtp.*` per direction on
// call-end (and call-attempt), the media columns of the call record; calls
// without RTP keep their events as they were (the golden events check that).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { recordOf } from "../host/calls/cdr";
import type { SipEvent } from "../host/calls/events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inTimeOrder, rtpStream, sdp, sipFrame, sipMessage, timedPcap } from "./rtp";
import { CallQuality } from "../host/calls/media";
import type { MessageBatch, StreamQuality } from "../host/core/records";

function events(path: string): SipEvent[] {
  const run = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", path, "--out", "/dev/null", "--events", "-", "--no-progress"],
    { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  return run.stdout.trim().split("\n").map((line) => JSON.parse(line) as SipEvent);
}

test("call-end carries rtp.from_offerer and rtp.from_answerer; the call record its media columns", () => {
  const ends = events("fixtures/media/invite-opus-bye.pcap").filter((e) => e.event.type === "call-end");
  assert.is(ends.length, 1);
  const rtp = ends[0].rtp;
  assert.ok(rtp, `no rtp on ${JSON.stringify(ends[0])}`);
  // tshark -q -z rtp,streams: 152 packets each way, none lost, max jitter 1.249 and 1.248 ms
  assert.equal([rtp.from_offerer.packets, rtp.from_offerer.lost, rtp.from_offerer.codec], [152, 0, "opus"]);
  assert.equal([rtp.from_answerer.packets, rtp.from_answerer.lost], [152, 0]);
  assert.ok(Math.abs(rtp.from_offerer.max_jitter_ms - 1.249) < 0.01 || Math.abs(rtp.from_offerer.max_jitter_ms - 1.248) < 0.01);
  const record = recordOf(ends[0]);
  assert.equal([record?.rtp_codec, record?.rtp_packets_offerer, record?.rtp_lost_answerer], ["opus", 152, 0]);
});

test("a call that fails after early media (183 with SDP) has rtp on its call-attempt", () => {
  const t0 = 1795428000_000000;
  const a = { ip: "10.4.0.1", tag: "ea" }, b = { ip: "10.4.0.2", tag: "eb" };
  const frames = inTimeOrder([
    sipFrame(sipMessage("INVITE sip:b@10.4.0.2 SIP/2.0", "early@test", "1 INVITE", a, { ip: b.ip, tag: "" }, sdp(a.ip, 40000)), a.ip, b.ip, t0),
    sipFrame(sipMessage("SIP/2.0 183 Session Progress", "early@test", "1 INVITE", a, b, sdp(b.ip, 50000)), b.ip, a.ip, t0 + 1000),
    ...rtpStream({ ip: b.ip, port: 50000 }, { ip: a.ip, port: 40000 }, 0x5151, t0 + 5000, 40, { lose: [10] }),
    sipFrame(sipMessage("SIP/2.0 486 Busy Here", "early@test", "1 INVITE", a, b), b.ip, a.ip, t0 + 2_000_000),
  ]);
  const path = join(mkdtempSync(join(tmpdir(), "siphon-early-")), "early.pcap");
  writeFileSync(path, timedPcap(frames));
  const attempts = events(path).filter((e) => e.event.type === "call-attempt");
  assert.is(attempts.length, 1);
  assert.equal([attempts[0].rtp?.from_answerer.packets, attempts[0].rtp?.from_answerer.lost, attempts[0].rtp?.from_offerer.packets],
    [39, 1, 0], JSON.stringify(attempts[0].rtp));
});

test("rtp appears only on call-end and call-attempt, and only with packets seen", () => {
  const all = events("fixtures/media/sip-rtp-g711.pcap");
  for (const e of all.filter((x) => x.rtp !== undefined)) {
    assert.ok(e.event.type === "call-end" || e.event.type === "call-attempt", `rtp on a ${e.event.type}`);
    assert.ok(e.rtp!.from_offerer.packets + e.rtp!.from_answerer.packets > 0);
  }
  assert.ok(all.some((e) => e.rtp !== undefined));
});


// CallQuality (host/calls/media.ts) holds each call's figures from its media records until its
// event takes them, at most `limit` calls, the oldest out first; a call released twice is summed
// and counts as the newest. Fed records through a stand-in for the core's batch.
function qualityBatch(records: { callId: string; packets: number }[]): MessageBatch {
  const stream = (packets: number): StreamQuality => ({
    packets, expected: packets, lost: 0, duplicates: 0, outOfOrder: 0, ssrcChanges: 0, ssrc: 1, payloadType: 0, codec: "PCMU",
    clockRate: 8000, jitterMs: 0, maxJitterMs: 0, rtcpPackets: 0, rtcpReports: 0, rtcpFractionLost: 0, rtcpLost: 0, rtcpJitterMs: 0,
  });
  return {
    mediaEndCount: records.length,
    mediaEndAfterBye: () => false,
    mediaEndPackets: (i: number) => records[i].packets,
    mediaEnd: (i: number) => ({ callId: records[i].callId, reason: "idle", afterBye: false, firstUs: 0, lastUs: 0,
      streams: [stream(records[i].packets), stream(0)] }),
  } as unknown as MessageBatch;
}

test("the figures held for calls' events: at most the bound, the oldest out first, a call summed again is the newest", () => {
  const quality = new CallQuality(3);
  quality.take(qualityBatch([{ callId: "a", packets: 1 }, { callId: "b", packets: 2 }, { callId: "c", packets: 3 }]));
  quality.take(qualityBatch([{ callId: "a", packets: 10 }, { callId: "d", packets: 4 }]));  // a summed and newest: b goes
  quality.take(qualityBatch([{ callId: "e", packets: 5 }]));                                // then c
  const packets = (id: string): number | undefined => quality.streamsFor(id)?.[0].packets;
  assert.equal(["a", "b", "c", "d", "e"].map(packets), [11, undefined, undefined, 4, 5]);
  assert.is(packets("a"), undefined, "taken once");
  // Well past the bound (the order kept apart from the Map: eviction stays cheap however many went).
  const many = new CallQuality(1000);
  for (let b = 0; b < 50; b++) many.take(qualityBatch(Array.from({ length: 1000 }, (_, i) => ({ callId: `call-${b}-${i}`, packets: 1 }))));
  assert.is(many.streamsFor("call-48-999"), undefined);
  assert.is(many.streamsFor("call-49-0")?.[0].packets, 1);
  assert.is(many.streamsFor("call-49-999")?.[0].packets, 1);
});

test.run();
