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

test.run();
