// Recording end to end: `siphon replay FILE --record DIR` on a generated --media workload, the
// core tying RTP and RTCP to calls from their SDP (early media on a 183, a re-INVITE moving a
// port, SDP in multipart bodies, media servers answering many calls on one port, IPv6). Each
// call's pcap holds exactly the call's frames; the WAV carries the source chirp; the events name
// the files; --record-filter records exactly the calls it selects.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions, type Truth } from "./support/generate";
import { expectedFrames, readPcap, readWav, udpOf, wavDirection, type Frame } from "./support/media-harness";
import { recordingName } from "../host/media";

const work = mkdtempSync(join(tmpdir(), "siphon-recording-cli-"));
const pcapPath = join(work, "media.pcap");
const truth: Truth = generateWorkload(workloadOptions({ seed: 21, calls: 40, media: true, meanCallSeconds: 5 }), pcapPath);
const frames: Frame[] = readPcap(pcapPath);
const expected = expectedFrames(frames, truth);

function replay(dir: string, ...extra: string[]): { events: Record<string, unknown>[]; stderr: string } {
  const eventsPath = join(dir + ".events.ndjson");
  const run = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", pcapPath, "--record", dir, "--events", eventsPath, "--out", "/dev/null", ...extra], { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  const events = readFileSync(eventsPath, "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
  return { events, stderr: run.stderr };
}

function pcapsIn(dir: string): string[] {
  return readdirSync(dir).flatMap((day) => readdirSync(join(dir, day)).filter((f) => f.endsWith(".pcap")).map((f) => join(dir, day, f))).sort();
}

// The name the recorder gives a call: its INVITE's capture time and Call-ID.
function pcapPathOf(dir: string, callId: string): string {
  const { day, base } = recordingName(callId, Math.round(truth.calls.find((c) => c.callId === callId)!.invite * 1000));
  return join(dir, day, `${base}.pcap`);
}

const allDir = join(work, "all");
const all = replay(allDir);
const answered = truth.calls.filter((c) => (c.streams ?? []).length > 0);

test("the workload has every media case in it", () => {
  const shapes = answered.map((c) => c.media);
  assert.ok(shapes.some((m) => m?.early), "early media");
  assert.ok(shapes.some((m) => m?.movedCallerPort !== null), "a re-INVITE moving a port");
  assert.ok(shapes.some((m) => m?.multipart), "SDP in a multipart body");
  assert.ok(shapes.some((m) => m?.mediaServer), "a media server on one port");
  assert.ok(answered.some((c) => c.ipVersion === 6), "IPv6 media");
});

// The core keeps a call's media entries 4 s of capture time after its BYE (assembly/media.ts): an
// RTP or RTCP packet captured after the BYE (sent before it, delayed by jitter) is still the call's,
// and in its recording. Those are counted, so the test shows the case is in the workload.
function afterBye(frame: Frame, callId: string): boolean {
  const call = truth.calls.find((c) => c.callId === callId);
  const udp = udpOf(frame.bytes);
  const isMedia = udp !== undefined && (call?.streams ?? []).some((s) => s.src === udp.src && (udp.srcPort === s.srcPort || udp.srcPort === s.srcPort + 1));
  return isMedia && call?.bye != null && frame.timeUs > Math.round(call.bye * 1000);
}

test("replay --record writes one pcap per call, each exactly the call's frames, byte for byte", () => {
  assert.is(pcapsIn(allDir).length, truth.calls.length, all.stderr);
  const problems: string[] = [];
  let late = 0;
  for (const call of truth.calls) {
    const recorded = readPcap(pcapPathOf(allDir, call.callId));
    const want = (expected.get(call.callId) ?? []).map((i) => frames[i] as Frame);
    late += want.filter((f) => afterBye(f, call.callId)).length;
    const same = recorded.length === want.length && recorded.every((f, i) => Buffer.from(f.bytes).equals(Buffer.from((want[i] as Frame).bytes)) && f.timeUs === (want[i] as Frame).timeUs);
    if (!same) problems.push(`${call.callId} (${JSON.stringify(call.media)}): ${recorded.length} frames recorded, ${want.length} belong to it`);
  }
  assert.equal(problems, [], problems.join("\n"));
  assert.ok(late > 0, "no media packet after a BYE: the late-RTP case is not in the workload");
});

test("the WAV of each call carries the source chirp, silence where packets were lost", () => {
  let checked = 0;
  for (const call of answered) {
    const paths = all.events.find((e) => (e as { sip?: { call_id?: string } }).sip?.call_id === call.callId && (e as { siphon?: unknown }).siphon !== undefined) as
      { siphon: { recording: { pcap: string; wav?: string } } } | undefined;
    assert.ok(paths !== undefined, `${call.callId}: an event names the recording`);
    assert.is(paths?.siphon.recording.pcap, pcapPathOf(allDir, call.callId));
    const wavPath = paths?.siphon.recording.wav ?? "";
    assert.ok(existsSync(wavPath), `${call.callId}: the WAV ${wavPath}`);
    const wav = readWav(wavPath);
    const callFrames = readPcap(pcapPathOf(allDir, call.callId));
    for (const direction of [0, 1] as const) {
      const ssrcs = new Set((call.streams ?? []).filter((s) => (s.sender === "caller" ? 0 : 1) === direction).map((s) => s.ssrc));
      if (ssrcs.size !== 1) continue;
      const result = wavDirection(callFrames, call, direction, wav);
      assert.is(result.lostNotSilent, 0, `${call.callId} direction ${direction}: lost packets that are not silence`);
      assert.ok(result.correlation > 0.99, `${call.callId} direction ${direction}: correlation ${result.correlation.toFixed(4)} over ${result.heard} samples`);
      checked++;
    }
  }
  assert.ok(checked >= 20, `${checked} directions checked`);
});

test("--record-filter records exactly the calls whose initial INVITE it selects", () => {
  const caller = answered[0]?.caller ?? "";
  const user = caller.slice(4, caller.indexOf("@")).replace(/\./g, "\\.");
  const dir = join(work, "filtered");
  replay(dir, "--record-filter", `(from "<sip:${user}@")`);
  const want = truth.calls.filter((c) => c.caller === caller).map((c) => pcapPathOf(dir, c.callId)).sort();
  assert.ok(want.length >= 1);
  assert.equal(pcapsIn(dir), want);
});

test("a recording option without --record, and a bad --record-filter, are refused with exit 2", () => {
  const without = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", pcapPath, "--record-idle", "5"], { encoding: "utf8" });
  assert.is(without.status, 2);
  assert.match(without.stderr, /without --record DIR/);
  const bad = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", pcapPath, "--record", join(work, "bad"), "--record-filter", "(method"], { encoding: "utf8" });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--record-filter/);
});

test("with --anonymize the recordings are named from pseudonyms: no Call-ID of the capture in the events' paths", () => {
  const key = join(work, "siphon.key");
  writeFileSync(key, `${"7e".repeat(32)}\n`, { mode: 0o600 });
  chmodSync(key, 0o600);
  const dir = join(work, "anonymized");
  const run = replay(dir, "--anonymize", key);
  const paths = run.events.map((e) => (e as { siphon?: { recording?: { pcap: string } } }).siphon?.recording?.pcap).filter((p): p is string => p !== undefined);
  assert.ok(paths.length > 0, "events name recordings");
  for (const path of paths) assert.ok(existsSync(path), `${path} exists`);
  const text = readFileSync(`${dir}.events.ndjson`, "utf8");
  // The recorder's name keeps the first characters of what it is given: none of a Call-ID's may show.
  const leaked = truth.calls.map((c) => c.callId).filter((id) => text.includes(id) || text.includes(recordingName(id, 0).base.split("-").slice(1, -1).join("-")));
  assert.equal(leaked, [], `original Call-IDs in the anonymized events: ${leaked.join(", ")}`);
  assert.is(pcapsIn(dir).length, truth.calls.length);
});

test("a capture whose time jumps 30 days mid-call ends the recordings it leaves idle: no month of silence in a WAV", () => {
  const file = Buffer.from(readFileSync(pcapPath));
  const jumped = join(work, "jump.pcap");
  // Every record from the middle of the capture on is 30 days later: calls under way there go idle.
  for (let at = 24, i = 0; at < file.length; i++) {
    if (i >= frames.length / 2) file.writeUInt32LE(file.readUInt32LE(at) + 30 * 86400, at);
    at += 16 + file.readUInt32LE(at + 8);
  }
  writeFileSync(jumped, file);
  const dir = join(work, "jump");
  const run = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", jumped, "--record", dir, "--out", "/dev/null"], { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  const bytesIn = (d: string): number => readdirSync(d).flatMap((day) => readdirSync(join(d, day)).map((f) => statSync(join(d, day, f)).size)).reduce((a, b) => a + b, 0);
  // The same frames, some calls cut in two: about what the run without the jump wrote, not 16 kB a second of 30 days.
  assert.ok(bytesIn(dir) < 1.1 * bytesIn(allDir), `${bytesIn(dir)} bytes recorded against ${bytesIn(allDir)} without the jump`);
  assert.not.match(run.stderr, /could not be written|given up/);
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
