// Recording (host/media): a generated --media workload through the core and the recorder. Each
// call's pcap, read by tshark and byte by byte, holds exactly the call's packets; the WAV carries
// the source chirp where packets came and silence where they were lost; --record-filter and
// run-time address selection record exactly the calls they name; names are safe for a hostile
// Call-ID; the disk budget and the open-file bound hold.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions, type Truth } from "./support/generate";
import { expectedFrames, feed, readPcap, readWav, wavDirection, type Fed, type Frame } from "./support/media-harness";
import { Recorder, RecordingControl, recordingName } from "../host/media";
import { compileFilter } from "../host/filter";
import { createLogger, silentLogger } from "../host/log";
import { DiskBudget, FilePool } from "../host/media/files";
import { wavTracks } from "../host/media/wav";
import { ALAW_TO_ULAW, PCMU, ULAW_TO_ALAW } from "../host/media/g711";
import type { MessageBatch } from "../host/core/records";

const work = mkdtempSync(join(tmpdir(), "siphon-recording-test-"));
const pcapPath = join(work, "media.pcap");
const truth: Truth = generateWorkload(workloadOptions({ seed: 11, calls: 24, media: true, meanCallSeconds: 6 }), pcapPath);
const frames: Frame[] = readPcap(pcapPath);

function recorderIn(name: string, extra: Partial<ConstructorParameters<typeof Recorder>[0]> = {}): { dir: string; recorder: Recorder } {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  return { dir, recorder: new Recorder({ dir, filtered: false, maxBytes: 0, openFiles: 64, idleSeconds: 60, log: silentLogger, ...extra }) };
}

function filesIn(dir: string, extension: string): string[] {
  return readdirSync(dir).flatMap((day) => readdirSync(join(dir, day)).filter((f) => f.endsWith(extension)).map((f) => join(dir, day, f)));
}

const all = recorderIn("all");
const fedAll: Fed = await feed(frames, truth, all.recorder);
const answered = truth.calls.filter((c) => c.streams !== undefined && c.streams.length > 0);

function callFrames(callId: string): Frame[] {
  return (fedAll.framesOf.get(callId) ?? []).map((i) => frames[i] as Frame);
}

function pathsOf(callId: string): { pcap: string; wav?: string } {
  const paths = all.recorder.paths(callId);
  if (paths === undefined) throw new Error(`no recording named for ${callId}`);
  return paths;
}

test("every call is recorded, one pcap each, and the workload has media in it", () => {
  assert.ok(answered.length >= 8, `${answered.length} answered calls with media`);
  assert.is(filesIn(all.dir, ".pcap").length, truth.calls.length, "one pcap per call");
  assert.is(all.recorder.counters().recordings_started, truth.calls.length);
});

test("each call's pcap holds exactly its frames, byte for byte, in capture order", () => {
  const independent = expectedFrames(frames, truth);
  for (const call of truth.calls) {
    assert.equal(fedAll.framesOf.get(call.callId), independent.get(call.callId), `${call.callId}: the frames the core saw as the call's are the file's`);
    const recorded = readPcap(pathsOf(call.callId).pcap);
    const expected = (fedAll.framesOf.get(call.callId) ?? []).map((i) => frames[i] as Frame);
    assert.is(recorded.length, expected.length, `${call.callId}: ${recorded.length} frames recorded, ${expected.length} belong to it`);
    recorded.forEach((frame, i) => {
      const want = expected[i] as Frame;
      assert.ok(Buffer.from(frame.bytes).equals(Buffer.from(want.bytes)), `${call.callId}: frame ${i} differs`);
      assert.is(frame.timeUs, want.timeUs, `${call.callId}: frame ${i} time`);
    });
  }
});

const tshark = spawnSync("tshark", ["-v"]).status === 0;

test("tshark reads each pcap as the call's SIP with one Call-ID, its RTP streams and its RTCP", () => {
  if (!tshark) return console.log("  (tshark not installed: skipped)");
  for (const call of answered.slice(0, 6)) {
    const ports = [...new Set((call.streams ?? []).flatMap((s) => [s.srcPort, s.dstPort]))];
    const decodeAs = ports.flatMap((port) => ["-d", `udp.port==${port},rtp`, "-d", `udp.port==${port + 1},rtcp`]);
    const run = spawnSync("tshark", ["-r", pathsOf(call.callId).pcap, ...decodeAs, "-T", "fields", "-e", "frame.number", "-e", "sip.Call-ID", "-e", "rtp.ssrc", "-e", "rtcp.pt"], { encoding: "utf8" });
    assert.is(run.status, 0, run.stderr);
    const rows = run.stdout.split("\n").filter((line) => line !== "").map((line) => line.split("\t").slice(1));
    const callIds = new Set(rows.map((r) => r[0]).filter((id) => id !== ""));
    assert.equal([...callIds], [call.callId], "only this call's SIP");
    const rtp = rows.filter((r) => r[1] !== "").length;
    const rtcp = rows.filter((r) => r[2] !== "").length;
    const streams = call.streams ?? [];
    assert.is(rtp, streams.reduce((sum, s) => sum + s.packets, 0), `${call.callId}: RTP packets`);
    assert.is(rtcp, streams.reduce((sum, s) => sum + s.rtcpPackets, 0), `${call.callId}: RTCP packets`);
    assert.is(rows.length - rtp - rtcp, (fedAll.framesOf.get(call.callId) ?? []).length - rtp - rtcp, "SIP frames");
  }
});

// ---------------------------------------------------------------- the WAV

test("the WAV has a channel per direction carrying the source chirp, and silence where packets were lost", () => {
  // Directions whose stream keeps one SSRC: placed by RTP timestamp from their first packet throughout.
  let checked = 0;
  let lostChecked = 0;
  for (const call of answered) {
    const wavPath = pathsOf(call.callId).wav;
    assert.ok(wavPath !== undefined && existsSync(wavPath), `${call.callId}: a WAV for G.711`);
    const wav = readWav(wavPath as string);
    assert.is(wav.channels, 2);
    assert.is(wav.rate, 8000);
    assert.is(wav.bits, 8);
    assert.is(wav.format, call.streams?.[0]?.codec === "PCMA" ? 6 : 7, "the call's own law");
    assert.is(wav.factFrames * 2, wav.raw.length, "the fact chunk counts the frames");
    for (const direction of [0, 1] as const) {
      const ssrcs = new Set((call.streams ?? []).filter((s) => (s.sender === "caller" ? 0 : 1) === direction).map((s) => s.ssrc));
      if (ssrcs.size !== 1) continue;
      const result = wavDirection(callFrames(call.callId), call, direction, wav);
      assert.is(result.lostNotSilent, 0, `${call.callId} direction ${direction}: lost packets that are not silence`);
      assert.ok(result.correlation > 0.99, `${call.callId} direction ${direction}: correlation with the source ${result.correlation.toFixed(4)} over ${result.heard} samples`);
      checked += result.heard > 0 ? 1 : 0;
      lostChecked += result.lostChecked;
    }
  }
  assert.ok(checked >= 10, `${checked} directions checked`);
  assert.ok(lostChecked >= 3, `${lostChecked} lost packets checked for silence`);
});

// The WAVs' tracks (wav.ts, run by the writer thread) writing into memory: the file's bytes as written at their positions.
test("a WAV's frames are the caller's byte then the callee's, four at a time and the odd last ones alike", () => {
  const WAV_HEADER_BYTES = 58;
  for (const frames of [1, 4, 7, 162]) {
    const file = Buffer.alloc(1 << 16);
    let size = 0;
    const tracks = wavTracks({ alawToUlaw: ALAW_TO_ULAW, ulawToAlaw: ULAW_TO_ALAW }, (id, bytes, position) => {
      assert.is(id, 5, "the track writes to its own file");
      file.set(bytes, position);
      size = Math.max(size, position + bytes.byteLength);
    });
    tracks.start(5, 1_000_000, PCMU);
    const caller = Uint8Array.from({ length: frames }, (_, i) => (3 * i + 1) & 0x7f);
    const callee = Uint8Array.from({ length: frames }, (_, i) => 0x80 | ((5 * i + 2) & 0x7f));
    tracks.add(5, 0, 11, 0, 1_000_000, PCMU, caller);
    tracks.add(5, 1, 22, 0, 1_000_000, PCMU, callee);
    assert.is(tracks.finish(5), 0, "no packet late");
    const data = file.subarray(WAV_HEADER_BYTES, size);
    assert.is(data.length, 2 * frames, `${frames} frames: two bytes each`);
    for (let k = 0; k < frames; k++) {
      assert.is(data[2 * k], caller[k], `${frames} frames: frame ${k}'s caller byte`);
      assert.is(data[2 * k + 1], callee[k], `${frames} frames: frame ${k}'s callee byte`);
    }
    assert.is(file.readUInt32LE(46), frames, "the fact chunk counts them");
  }
});

// ---------------------------------------------------------------- choosing calls

test("--record-filter records exactly the calls whose initial INVITE it selects", async () => {
  const caller = (answered[0] ?? truth.calls[0])?.caller ?? "";
  const user = caller.slice(4, caller.indexOf("@"));
  const chosen = recorderIn("filtered", { filtered: true });
  const fed = await feed(frames, truth, chosen.recorder, { recordFilterProgram: compileFilter(`(from "<sip:${user.replace(/\./g, "\\\\.")}@")`).program });
  const expected = truth.calls.filter((c) => c.caller === caller).map((c) => c.callId).sort();
  assert.ok(expected.length >= 1);
  assert.equal([...fed.marked].sort(), expected, "the core marked the INVITEs of exactly those calls");
  const recorded = truth.calls.filter((c) => chosen.recorder.paths(c.callId) !== undefined).map((c) => c.callId).sort();
  assert.equal(recorded, expected);
  assert.is(filesIn(chosen.dir, ".pcap").length, expected.length);
});

test("an address started at run time records exactly the calls to or from it", async () => {
  const control = new RecordingControl();
  const address = [...(fedAll.addressesOf.get(answered[1]?.callId ?? "") ?? [])].find((ip) => !ip.startsWith("192.0.2.1")) ?? "";
  control.start(address);
  const chosen = recorderIn("by-address", { filtered: true, control });
  await feed(frames, truth, chosen.recorder, { recordFilterProgram: compileFilter('(method "NOTHING")').program });
  const expected = [...fedAll.addressesOf].filter(([, ips]) => ips.has(address)).map(([id]) => id).filter((id) => truth.calls.some((c) => c.callId === id)).sort();
  const recorded = truth.calls.filter((c) => chosen.recorder.paths(c.callId) !== undefined).map((c) => c.callId).sort();
  assert.ok(expected.length >= 1);
  assert.equal(recorded, expected);
  assert.equal(control.active().map((a) => [a.address, a.calls]), [[address, expected.length]]);
  assert.is(control.stop(address), true);
  assert.equal(control.active(), []);
  assert.throws(() => control.start("../etc"), /not an IPv4 or IPv6 address/);
});

// ---------------------------------------------------------------- files

test("names are safe for a hostile Call-ID: no path, no odd byte, bounded, distinct", () => {
  const timeUs = Date.UTC(2026, 10, 22, 10, 0, 0) * 1000;
  const hostile = ["../../etc/passwd", "a\u0000b/../c", "x".repeat(10_000), ".hidden", "", "日本語@host", "a b;c|d$e`f"];
  const names = hostile.map((id) => recordingName(id, timeUs));
  for (const { day, base } of names) {
    assert.is(day, "2026-11-22");
    assert.ok(/^\d{6}-[A-Za-z0-9_][A-Za-z0-9._-]{0,23}-[0-9a-f]{16}$/.test(base), base);
  }
  assert.is(new Set(names.map((n) => n.base)).size, hostile.length, "distinct Call-IDs, distinct names");
});

test("the disk budget removes the oldest finished files first, counting and logging each", async () => {
  const dir = join(work, "budget");
  mkdirSync(join(dir, "2026-11-21"), { recursive: true });
  const old = join(dir, "2026-11-21", "090000-old-0000000000000000.pcap");
  writeFileSync(old, Buffer.alloc(3000));
  const lines: string[] = [];
  const budget = new DiskBudget(5000, createLogger({ level: "info", write: (line) => void lines.push(line) }));
  budget.adopt(dir);
  assert.ok(existsSync(old), "within the budget: kept");
  const pool = new FilePool(4, budget, (err) => { throw err; });
  const made: string[] = [];
  for (let i = 0; i < 4; i++) {
    const file = pool.create(join(dir, "2026-11-21", `10000${i}-new-${i}.pcap`));
    file?.append(Buffer.alloc(1500));
    file?.close();
    await pool.settled();
    made.push(file?.path ?? "");
  }
  assert.not.ok(existsSync(old), "the oldest went first");
  assert.not.ok(existsSync(made[0] as string), "then the oldest of the new");
  assert.ok(existsSync(made[3] as string), "the newest stays");
  assert.ok(budget.bytes <= 5000, `${budget.bytes} bytes held`);
  assert.is(budget.removed, 2);
  assert.is(lines.filter((l) => l.includes("recording removed")).length, budget.removed);
});

test("a file that cannot be made is given up: the error is reported once, its bytes leave the budget, nothing throws", async () => {
  const errors: string[] = [];
  const budget = new DiskBudget(0, silentLogger);
  const pool = new FilePool(4, budget, (err) => void errors.push((err as NodeJS.ErrnoException).code ?? err.message));
  const file = pool.create(join(work, "no-such-folder", "x.pcap"));
  file?.append(Buffer.alloc(70_000, 1));
  await pool.settled();
  file?.append(Buffer.alloc(100, 2));
  file?.close();
  await pool.settled();
  assert.equal(errors, ["ENOENT"], `errors: ${errors.join(", ")}`);
  assert.is(budget.bytes, 0, `${budget.bytes} bytes still counted`);
  assert.is(pool.openCount, 0);
});

test("open files stay within the bound; a file closed for room is reopened and written on", async () => {
  const dir = join(work, "pool");
  mkdirSync(dir);
  const pool = new FilePool(4, new DiskBudget(0, silentLogger), (err) => { throw err; });
  const files = Array.from({ length: 10 }, (_, i) => pool.create(join(dir, `f${i}`)));
  assert.is(pool.create(join(dir, "f3")), undefined, "a name taken by a file not made yet is not given twice");
  let most = 0;
  for (let round = 0; round < 50; round++) {
    files.forEach((file, i) => {
      file?.append(Buffer.alloc(1000, i));
      file?.flush();
      most = Math.max(most, pool.openCount);
    });
    await pool.settled();
  }
  files.forEach((f) => f?.close());
  await pool.settled();
  assert.ok(most <= 4, `${most} open at once`);
  assert.ok(pool.mostOpen <= 4 && pool.mostOpen > 0, `the writer thread had ${pool.mostOpen} open at once`);
  assert.ok(pool.reopened > 0);
  files.forEach((f, i) => {
    const bytes = readFileSync(f?.path ?? "");
    assert.is(bytes.length, 50_000);
    assert.ok(bytes.every((b) => b === i), `file ${i} holds only its own bytes`);
  });
});

test("the writer thread writes a file's blocks and a later patch of its start in order", async () => {
  const dir = join(work, "order");
  mkdirSync(dir);
  const budget = new DiskBudget(0, silentLogger);
  const pool = new FilePool(2, budget, (err) => { throw err; });
  const expected: Buffer[] = [];
  const files = Array.from({ length: 3 }, (_, n) => pool.create(join(dir, `f${n}`)));
  files.forEach((file, n) => {
    const bytes = Buffer.alloc(200_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + n) & 0xff;
    for (let at = 0; at < bytes.length; at += 1000) file?.append(bytes.subarray(at, at + 1000));   // three blocks out, the rest held
    file?.patch(0, Buffer.from(`head${n}`));   // its first block has gone to the thread: a write of its own, after it
    bytes.write(`head${n}`, 0);
    expected.push(bytes);
  });
  files.forEach((f) => f?.close());
  await pool.settled();
  files.forEach((f, n) => {
    const got = readFileSync(f?.path ?? "");
    assert.ok(got.equals(expected[n] as Buffer), `file ${n}: ${got.length} bytes, starting ${got.subarray(0, 8).toString("latin1")}`);
  });
  assert.is(budget.bytes, 600_000);
  assert.ok(pool.mostOpen <= 2, `${pool.mostOpen} open at once`);
});

test("a second run into the same directory takes new names and overwrites nothing, a lone WAV left included", async () => {
  const again = recorderIn("all");
  const call = answered[0];
  const first = pathsOf(call?.callId ?? "");
  rmSync(first.pcap);   // as a budget or an operator may leave it: the WAV without its pcap
  const before = readFileSync(first.wav ?? "");
  await feed(frames, truth, again.recorder);
  assert.ok(readFileSync(first.wav ?? "").equals(before), "the WAV left there is untouched");
  const second = again.recorder.paths(call?.callId ?? "");
  assert.ok(second !== undefined && second.pcap !== first.pcap && second.wav !== first.wav, JSON.stringify(second));
  assert.ok(/-2\.pcap$/.test(second?.pcap ?? ""), second?.pcap);
  assert.is(again.recorder.counters().recording_errors, 0);
  assert.is(filesIn(all.dir, ".pcap").length, 2 * truth.calls.length - 1);
});

// A message as the recorder reads it, for a case the generator does not make (media elsewhere than SIP).
function fakeBatch(message: Record<string, unknown>): MessageBatch {
  const frame = { bytes: new Uint8Array(60), linkType: 1, timeUs: 1_795_341_600_000_000, origLen: 60 };
  const m = { frame: 0, timeSec: 1_795_341_600, timeNsec: 0, isRequest: true, status: 0, toTag: "", recordMatch: false, sdp: undefined, ...message };
  return { count: 1, mediaCount: 0, mediaEndCount: 0, message: () => m, media: () => { throw new Error("none"); }, frame: () => frame } as unknown as MessageBatch;
}

test("an address started at run time also picks a call whose SDP puts its media there", () => {
  const control = new RecordingControl();
  control.start("2001:DB8::0:9");
  const chosen = recorderIn("by-sdp", { filtered: true, control });
  const invite = (callId: string, media: string) => fakeBatch({ callId, method: "INVITE", cseqMethod: "INVITE",
    src: { ip: "192.0.2.1", port: 5060 }, dst: { ip: "192.0.2.2", port: 5060 }, sdp: { ip: media } });
  chosen.recorder.write(invite("media-there", "2001:db8::9"));
  chosen.recorder.write(invite("media-elsewhere", "2001:db8::10"));
  chosen.recorder.write(fakeBatch({ callId: "a-register", method: "REGISTER", cseqMethod: "REGISTER", src: { ip: "2001:db8::9", port: 5060 }, dst: { ip: "192.0.2.2", port: 5060 } }));
  assert.ok(chosen.recorder.paths("media-there") !== undefined);
  assert.is(chosen.recorder.paths("media-elsewhere"), undefined);
  assert.is(chosen.recorder.paths("a-register"), undefined, "a REGISTER from the address starts no recording");
  assert.equal(control.active().map((a) => [a.address, a.calls]), [["2001:db8::9", 1]]);
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
