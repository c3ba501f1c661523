// Differential: packets, loss and jitter per RTP stream as the core counts them
// against `tshark -q -z rtp,streams` on the same captures: real ones in
// fixtures/media and one built here with loss, reordering, a duplicate, jitter,
// an SSRC change and a media server answering two calls on one port.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Core, type CallMedia } from "../host/core";
import { readCapture } from "../host/source";
import { generateWorkload, workloadOptions } from "./support/generate";
import { canonicalIPv6, inTimeOrder, rtpStream, sdp, sipFrame, sipMessage, timedPcap, udpEndpoints, type TimedFrame } from "./rtp";

const DIR = "fixtures/media";
const haveTshark = spawnSync("tshark", ["--version"]).status === 0;

interface Stream { packets: number; lost: number; maxJitter: number }

// tshark's table: Src IP, port, Dest IP, port, SSRC, Payload, Pkts, Lost (pct), deltas, jitters [Problems?].
function tsharkStreams(path: string): Map<string, Stream> {
  const run = spawnSync("tshark", ["-r", path, "-q", "-z", "rtp,streams"], { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  const out = new Map<string, Stream>();
  for (const line of run.stdout.split("\n")) {
    const t = line.trim().split(/\s+/);
    if (t.length < 17 || !/^0x[0-9A-F]+$/i.test(t[6])) continue;
    if (t[t.length - 1] === "X") t.pop();
    const n = t.length;
    const key = `${canonicalIPv6(t[2])}:${t[3]}>${canonicalIPv6(t[4])}:${t[5]}/${parseInt(t[6], 16)}`;
    out.set(key, { packets: Number(t[n - 9]), lost: Number(t[n - 8]), maxJitter: Number(t[n - 1]) });
  }
  return out;
}

// tshark's stream is (source, destination, SSRC); Siphon's is a call's direction, followed across a
// re-INVITE that moves it to another port. Their lost counts differ by design in two ways, which the
// test computes from the packets and adds to tshark's count before requiring equality:
// - tshark's expected count ends at the sequence number of a stream's last packet, RFC 3550 A.3's at
//   the highest: where the last packet came out of order, tshark counts `highest - last` fewer lost;
// - where a move cuts tshark's stream, packets lost between the old port's highest sequence number
//   and the new port's first are in neither of tshark's two streams, and are in Siphon's one.
interface Run { ssrc: number; first: number; last: number; highest: number }

// Sequence numbers extended over wraps, by the nearest to the direction and SSRC's previous one.
function extended(previous: number | undefined, seq: number): number {
  if (previous === undefined) return seq;
  return previous + (((seq - (previous & 0xffff) + 0x8000) & 0xffff) - 0x8000);
}

async function siphonStreams(path: string): Promise<{ owner: Map<string, string>; runs: Map<string, Run>; calls: Map<string, CallMedia> }> {
  const owner = new Map<string, string>();
  const runs = new Map<string, Run>();
  const previous = new Map<string, number>();
  const calls = new Map<string, CallMedia>();
  const core = new Core({ sensor: "t", agent: "t", renderJson: false, mediaPackets: true }, (batch) => {
    for (let i = 0; i < batch.mediaCount; i++) {
      const m = batch.media(i);
      if (m.rtcp) continue;
      const f = batch.frame(m.frame);
      const key = `${udpEndpoints(f.bytes, f.linkType)}/${m.ssrc}`, who = `${m.callId}/${m.direction}`;
      owner.set(key, who);
      const seq = extended(previous.get(`${who}/${m.ssrc}`), m.seq);
      previous.set(`${who}/${m.ssrc}`, seq);
      const run = runs.get(key);
      runs.set(key, { ssrc: m.ssrc, first: run?.first ?? seq, last: seq, highest: Math.max(seq, run?.highest ?? seq) });
    }
    for (let i = 0; i < batch.mediaEndCount; i++) {
      const end = batch.mediaEnd(i);
      calls.set(end.callId, end); // after a BYE, its final figures come last
    }
  });
  await readCapture(path, core);
  core.finish();
  return { owner, runs, calls };
}

// What tshark does not count as lost in a direction made of these runs (see Run).
function uncounted(runs: Run[]): number {
  let n = 0;
  const sorted = [...runs].sort((x, y) => x.ssrc - y.ssrc || x.first - y.first);
  sorted.forEach((run, k) => {
    n += run.highest - run.last;
    const before = sorted[k - 1];
    if (before?.ssrc === run.ssrc) n += Math.max(0, run.first - before.highest - 1);
  });
  return n;
}

interface Compared { directions: number; split: number }

// Per call and direction, with the final figures (those given when the call's endpoints leave, after
// its BYE's grace); `split` counts the directions tshark cut at a port move.
async function compare(path: string): Promise<Compared> {
  const theirs = tsharkStreams(path);
  const { owner, runs, calls } = await siphonStreams(path);
  const grouped = new Map<string, Stream & { runs: Run[]; ports: Set<string> }>();
  for (const [key, s] of theirs) {
    const who = owner.get(key);
    assert.ok(who, `${path}: tshark's stream ${key} is in no call Siphon followed (Siphon followed ${owner.size} streams)`);
    const g = grouped.get(who) ?? { packets: 0, lost: 0, maxJitter: 0, runs: [], ports: new Set<string>() };
    grouped.set(who, {
      packets: g.packets + s.packets, lost: g.lost + s.lost, maxJitter: Math.max(g.maxJitter, s.maxJitter),
      runs: [...g.runs, runs.get(key)!], ports: g.ports.add(key.slice(0, key.lastIndexOf("/"))),
    });
  }
  let split = 0;
  for (const [who, want] of grouped) {
    const [callId, direction] = [who.slice(0, who.lastIndexOf("/")), Number(who.slice(who.lastIndexOf("/") + 1))];
    const got = calls.get(callId)?.streams[direction];
    assert.ok(got, `${path}: no stats for ${who}`);
    const fix = uncounted(want.runs);
    const seen = `${path} ${who}: Siphon packets ${got.packets} lost ${got.lost} max jitter ${got.maxJitterMs.toFixed(3)}, ` +
      `tshark ${want.packets} ${want.lost} (+${fix} it does not count) ${want.maxJitter} in ${want.runs.length} streams`;
    assert.is(got.packets, want.packets, seen);
    assert.is(got.lost, want.lost + fix, seen);
    assert.ok(Math.abs(got.maxJitterMs - want.maxJitter) <= 0.1, seen);
    if (want.ports.size > 1) split++;
  }
  return { directions: grouped.size, split };
}

// Two calls: one with impaired media both ways; two to a media server that answers both on one port
// with the same SSRC, told apart by the callers' endpoints.
function builtCapture(): TimedFrame[] {
  const t0 = 1795428000_000000;
  const a = { ip: "10.0.0.1", tag: "a1" }, b = { ip: "10.0.0.2", tag: "b1" };
  const frames: TimedFrame[] = [
    sipFrame(sipMessage("INVITE sip:b@10.0.0.2 SIP/2.0", "impaired@test", "1 INVITE", a, { ip: b.ip, tag: "" }, sdp(a.ip, 40000)), a.ip, b.ip, t0),
    sipFrame(sipMessage("SIP/2.0 200 OK", "impaired@test", "1 INVITE", a, b, sdp(b.ip, 50000)), b.ip, a.ip, t0 + 1000),
    ...rtpStream({ ip: a.ip, port: 40000 }, { ip: b.ip, port: 50000 }, 0x1111, t0 + 10000, 250,
      { lose: [20, 21, 22], swap: [40], duplicate: [60], jitterUs: (k) => ((k * 7919) % 6000) - 3000 }),
    ...rtpStream({ ip: b.ip, port: 50000 }, { ip: a.ip, port: 40000 }, 0x2222, t0 + 12000, 250,
      { ssrcChangeAt: 125, lose: [200], jitterUs: (k) => ((k * 104729) % 2000) }),
    sipFrame(sipMessage("BYE sip:b@10.0.0.2 SIP/2.0", "impaired@test", "2 BYE", a, b), a.ip, b.ip, t0 + 6_000_000),
  ];
  const ms = { ip: "10.0.0.9", tag: "ms" };
  for (const [k, caller] of [{ ip: "10.0.0.3", tag: "c3" }, { ip: "10.0.0.4", tag: "c4" }].entries()) {
    const id = `ms-${k}@test`, start = t0 + 7_000_000 + k * 5000;
    frames.push(
      sipFrame(sipMessage("INVITE sip:ms@10.0.0.9 SIP/2.0", id, "1 INVITE", caller, { ip: ms.ip, tag: "" }, sdp(caller.ip, 41000)), caller.ip, ms.ip, start),
      sipFrame(sipMessage("SIP/2.0 200 OK", id, "1 INVITE", caller, ms, sdp(ms.ip, 30000)), ms.ip, caller.ip, start + 1000),
      ...rtpStream({ ip: ms.ip, port: 30000 }, { ip: caller.ip, port: 41000 }, 0x3333, start + 2000, 100, { lose: k === 0 ? [50] : [] }),
      ...rtpStream({ ip: caller.ip, port: 41000 }, { ip: ms.ip, port: 30000 }, 0x4444, start + 3000, 100 + k * 10),
      sipFrame(sipMessage("BYE sip:ms@10.0.0.9 SIP/2.0", id, "2 BYE", caller, ms), caller.ip, ms.ip, start + 3_000_000),
    );
  }
  return inTimeOrder(frames);
}

test("a capture built with loss, reordering, a duplicate, jitter, an SSRC change and a shared media port agrees with tshark", async () => {
  if (!haveTshark) return console.log("skipped: tshark is not installed");
  const dir = mkdtempSync(join(tmpdir(), "siphon-media-"));
  const path = join(dir, "built.pcap");
  writeFileSync(path, timedPcap(builtCapture()));
  assert.equal(await compare(path), { directions: 6, split: 0 });
});

test("the generator's media (late RTP after the BYE, re-INVITEs moving the media, SSRC changes) agrees with tshark", async () => {
  if (!haveTshark) return console.log("skipped: tshark is not installed");
  const path = join(mkdtempSync(join(tmpdir(), "siphon-media-")), "generated.pcap");
  generateWorkload(workloadOptions({ seed: 3, calls: 40, media: true, meanCallSeconds: 6 }), path);
  const { directions, split } = await compare(path);
  console.log(`generated: ${directions} directions compared, ${split} split by tshark at a port move`);
  assert.ok(directions >= 40, `only ${directions} directions compared`);
  assert.ok(split >= 1, "no direction moved by a re-INVITE: the generator's output no longer tests the move");
});

// SIPHON_MEDIA_CAPTURES=a.pcap,b.pcap compares more captures (the generator's --media output, say).
const extra = (process.env.SIPHON_MEDIA_CAPTURES ?? "").split(",").filter((p) => p !== "");
for (const path of [...readdirSync(DIR).filter((f) => /\.(pcap|pcapng)$/.test(f)).sort().map((f) => `${DIR}/${f}`), ...extra]) {
  test(`${path} agrees with tshark`, async () => {
    if (!haveTshark) return console.log("skipped: tshark is not installed");
    assert.ok((await compare(path)).directions >= 1, "no RTP stream compared");
  });
}

test.run();
