// The generator's --media: opt-in, so the default workloads are the same bytes as before it (their
// hashes are pinned here); with it, the same seed gives the same bytes, and the truth per RTP
// stream equals an independent walk of the file (RFC 3550 A.3 counts, A.8 jitter from the capture
// times and RTP timestamps) and, where tshark is installed, tshark's rtp,streams.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, truthJson, workloadOptions, type Truth, type WorkloadOptions } from "./support/generate";
import type { StreamTruth } from "./support/generate/truth";
import { readPcap, udpOf } from "./support/media-harness";

const work = mkdtempSync(join(tmpdir(), "siphon-generator-media-"));

function generate(name: string, options: Partial<WorkloadOptions>): { path: string; truth: Truth; hash: string; truthHash: string } {
  const path = join(work, `${name}.pcap`);
  const truth = generateWorkload(workloadOptions(options), path);
  const sha = (bytes: Buffer | string): string => createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  return { path, truth, hash: sha(readFileSync(path)), truthHash: sha(truthJson(truth)) };
}

test("without --media the workloads are the bytes they were before media existed", () => {
  const pinned: [Partial<WorkloadOptions>, string, string][] = [
    [{ seed: 1, messages: 3000 }, "1eb47cb3e39eef84", "4053dd6a6427f558"],
    [{ seed: 3, messages: 3000, tcp: true }, "0ebb7e514a740e85", "a72e242c8216d140"],
    [{ seed: 4, messages: 2000, mtu: 576, tunnel: "vxlan" }, "fb7d33e55f568651", "22d34daf7204f551"],
  ];
  for (const [options, pcap, truth] of pinned) {
    const made = generate(`default-${options.seed}`, options);
    assert.is(made.hash, pcap, `pcap of ${JSON.stringify(options)}`);
    assert.is(made.truthHash, truth, `truth of ${JSON.stringify(options)}`);
  }
});

const media = generate("media", { seed: 5, calls: 60, media: true, meanCallSeconds: 8 });

test("with --media the same seed gives the same bytes and truth", () => {
  const again = generate("media-again", { seed: 5, calls: 60, media: true, meanCallSeconds: 8 });
  assert.is(again.hash, media.hash);
  assert.is(again.truthHash, media.truthHash);
});

interface Walked {
  packets: number;
  duplicates: number;
  firstSeq: number;
  expected: number;
  lost: number;
  lastSeqExpected: number;
  maxJitterMs: number;
  jitterMs: number;
}

// Sequence numbers extended over wraps, by the nearest to the previous one.
function extend(previous: number | undefined, seq: number): number {
  if (previous === undefined) return seq;
  const delta = ((seq - (previous & 0xffff) + 0x8000) & 0xffff) - 0x8000;
  return previous + delta;
}

function walk(path: string): Map<string, Walked> {
  const streams = new Map<string, { seqs: number[]; seen: Set<number>; dup: number; previous?: { timeUs: number; rtpTime: number }; jitter: number; max: number; last?: number }>();
  for (const frame of readPcap(path)) {
    const udp = udpOf(frame.bytes);
    if (udp === undefined || udp.srcPort % 2 !== 0 || udp.srcPort === 5060 || udp.payload.length < 12 || (udp.payload[0] ?? 0) >> 6 !== 2) continue;
    const p = Buffer.from(udp.payload);
    const key = `${udp.src} ${udp.srcPort} ${udp.dst} ${udp.dstPort} ${p.readUInt32BE(8)}`;
    const s = streams.get(key) ?? { seqs: [], seen: new Set<number>(), dup: 0, jitter: 0, max: 0 };
    const seq = extend(s.last, p.readUInt16BE(2));
    s.last = seq;
    if (s.seen.has(seq)) s.dup++;
    s.seen.add(seq);
    s.seqs.push(seq);
    const rtpTime = p.readUInt32BE(4);
    if (s.previous !== undefined) {
      // A.8's D: the difference of transit times, the timestamp difference taken mod 2^32.
      const d = ((frame.timeUs - s.previous.timeUs) * 8000) / 1e6 - ((rtpTime - s.previous.rtpTime) | 0);
      s.jitter += (Math.abs(d) - s.jitter) / 16;
      s.max = Math.max(s.max, s.jitter);
    }
    s.previous = { timeUs: frame.timeUs, rtpTime };
    streams.set(key, s);
  }
  const out = new Map<string, Walked>();
  for (const [key, s] of streams) {
    const first = s.seqs[0] ?? 0;
    const expected = Math.max(...s.seqs) - first + 1;
    const lastSeqExpected = (s.seqs[s.seqs.length - 1] ?? 0) - first + 1;
    out.set(key, { packets: s.seqs.length, duplicates: s.dup, firstSeq: Math.min(...s.seqs) & 0xffff, expected, lost: expected - s.seqs.length,
      lastSeqExpected, maxJitterMs: s.max / 8, jitterMs: s.jitter / 8 });
  }
  return out;
}

const walked = walk(media.path);
const streams: StreamTruth[] = media.truth.calls.flatMap((c) => c.streams ?? []);
const keyOf = (s: StreamTruth): string => `${s.src} ${s.srcPort} ${s.dst} ${s.dstPort} ${s.ssrc}`;

test("the truth per stream is what an independent walk of the file counts", () => {
  assert.ok(streams.length >= 60, `${streams.length} streams`);
  assert.is(walked.size, streams.length, "every RTP stream in the file is in the truth, and no other");
  assert.is(media.truth.media?.streams, streams.length);
  for (const s of streams) {
    const w = walked.get(keyOf(s));
    assert.ok(w !== undefined, `${keyOf(s)} is in the file`);
    assert.equal([s.packets, s.duplicates, s.firstSeq, s.expected, s.lost], [w?.packets, w?.duplicates, w?.firstSeq, w?.expected, w?.lost], keyOf(s));
    assert.ok(Math.abs(s.maxJitterMs - (w?.maxJitterMs ?? 0)) < 0.001 && Math.abs(s.jitterMs - (w?.jitterMs ?? 0)) < 0.001, `${keyOf(s)}: jitter`);
  }
  const impaired = streams.filter((s) => s.lost > 0).length;
  assert.ok(impaired > 5 && streams.some((s) => s.duplicates > 0) && streams.some((s) => s.reordered > 0), "loss, duplicates and reordering are in it");
  const rtcpTypes = readPcap(media.path).map((f) => udpOf(f.bytes)?.payload)
    .filter((p) => p !== undefined && (p[0] ?? 0) >> 6 === 2 && (p[1] ?? 0) >= 200 && (p[1] ?? 0) <= 204).map((p) => p?.[1]);
  assert.is(rtcpTypes.length, media.truth.media?.rtcpPackets, "RTCP packets in the file, as the truth counts them");
  assert.is(streams.reduce((sum, s) => sum + s.rtcpPackets, 0), rtcpTypes.length, "and per stream");
  assert.ok(rtcpTypes.includes(200) && rtcpTypes.includes(201), "sender and receiver reports");
});

test("tshark's rtp,streams agrees: packets, max jitter within 0.1 ms, lost as tshark counts it", () => {
  if (spawnSync("tshark", ["-v"]).status !== 0) return console.log("  (tshark not installed: skipped)");
  const run = spawnSync("tshark", ["-r", media.path, "-q", "-z", "rtp,streams", "-o", "rtp.heuristic_rtp:TRUE"], { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  const rows = new Map<string, string[]>();
  for (const line of run.stdout.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length > 16 && f[6]?.startsWith("0x")) rows.set(`${f[2]} ${f[3]} ${f[4]} ${f[5]} ${parseInt(f[6] ?? "", 16)}`, f);
  }
  assert.is(rows.size, streams.length);
  for (const s of streams) {
    const f = rows.get(keyOf(s));
    assert.ok(f !== undefined, `tshark has ${keyOf(s)}`);
    assert.is(Number(f?.[8]), s.packets, `${keyOf(s)}: packets`);
    // tshark's expected runs to the last packet captured, not the highest (A.3): they differ when the last came out of order.
    const w = walked.get(keyOf(s)) as Walked;
    assert.is(Number(f?.[9]), s.lost - (w.expected - w.lastSeqExpected), `${keyOf(s)}: lost`);
    assert.ok(Math.abs(Number(f?.[16]) - s.maxJitterMs) <= 0.1, `${keyOf(s)}: max jitter ${f?.[16]} against ${s.maxJitterMs}`);
  }
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
