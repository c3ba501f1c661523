// Where the file reader lends the core its chunk, the core walks the classic pcap records itself
// (Core.pcapRecords, assembly/pcap.ts); any other consumer gets frame() per record from the
// reader's JavaScript loop (host/source/pcap.ts). Both must give the core the same frames: the
// same bytes, lengths, link type and capture time, whatever the byte order, the clock, the chunks
// and the batches, in files cut anywhere.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Core, type CoreOptions } from "../host/core";
import { CaptureParser, type FrameConsumer } from "../host/source";
import { concat, sip, udpFrame } from "./helpers";

// A deterministic generator (xorshift32), so a failure names a seed that repeats it.
function rng(seed: number): (n: number) => number {
  let x = seed || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

interface Layout { littleEndian: boolean; nanosecond: boolean }

// Records of SIP messages and of other UDP, each with its own time (some fractions past a whole
// second, which carry into the seconds) and an original length at or above the captured one.
function pcap(seed: number, { littleEndian, nanosecond }: Layout, records: number): Uint8Array {
  const r = rng(seed);
  const header = Buffer.alloc(24);
  const u32 = (b: Buffer, v: number, at: number): number => (littleEndian ? b.writeUInt32LE(v >>> 0, at) : b.writeUInt32BE(v >>> 0, at));
  const u16 = (b: Buffer, v: number, at: number): number => (littleEndian ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  u32(header, nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  u16(header, 2, 4);
  u16(header, 4, 6);
  u32(header, 262144, 16);
  u32(header, 1, 20);
  const parts: Uint8Array[] = [header];
  for (let i = 0; i < records; i++) {
    const frame = r(5) === 0
      ? udpFrame(Buffer.alloc(20 + r(400), i & 0xff), { dport: 40000 })
      : udpFrame(sip([`MESSAGE sip:b@example.com SIP/2.0`, `Call-ID: walk-${seed}-${i}`, `CSeq: ${i} MESSAGE`,
        `X-Pad: ${"p".repeat(r(700))}`, "Content-Length: 0"]));
    const limit = nanosecond ? 1_000_000_000 : 1_000_000;
    const record = Buffer.alloc(16);
    u32(record, 1795428000 + r(100000), 0);
    u32(record, r(10) === 0 ? limit + r(3 * limit) : r(limit), 4);
    u32(record, frame.length, 8);
    u32(record, frame.length + (r(3) === 0 ? r(1000) : 0), 12);
    parts.push(record, frame);
  }
  return concat(...parts);
}

interface Seen { frames: string[]; ndjson: string; counters: Record<string, number> }

function coreFor(options: Partial<CoreOptions>, seen: Seen): Core {
  return new Core({ sensor: "t", agent: "t", ...options }, (batch) => {
    seen.ndjson += batch.ndjson().toString();
    for (let i = 0; i < batch.count; i++) {
      const m = batch.message(i);
      const f = batch.frame(m.frame);
      seen.frames.push(`${m.timeSec}.${m.timeNsec} ${f.origLen} ${f.linkType} ${Buffer.from(f.bytes).toString("hex")}`);
    }
  });
}

// The file in chunks of at least 64 KiB (the least the core lends), each read where the consumer
// lends it room, as the file reader does (host/source/file.ts); `lends` false: into the reader's own.
function feed(file: Uint8Array, consumer: FrameConsumer, chunks: () => number, lends: boolean): void {
  const parser = new CaptureParser("walk.pcap", consumer);
  for (let pos = 0; pos < file.length;) {
    const want = chunks();
    const buffer = (lends ? consumer.lend?.(parser.carried, want) : undefined) ?? new Uint8Array(want);
    const n = Math.min(buffer.length, file.length - pos);
    buffer.set(file.subarray(pos, pos + n));
    parser.feed(buffer.subarray(0, n));
    pos += n;
  }
  parser.end();
}

function walked(file: Uint8Array, seed: number, options: Partial<CoreOptions>, how: "core" | "javascript, lent" | "javascript"): Seen {
  const seen: Seen = { frames: [], ndjson: "", counters: {} };
  const core = coreFor(options, seen);
  // The same core without its walk: the reader's loop calls frame() for each record.
  const consumer: FrameConsumer = how === "core" ? core : {
    frame: core.frame.bind(core),
    release: core.release.bind(core),
    lend: how === "javascript" ? undefined : core.lend.bind(core),
  };
  const r = rng(seed * 7 + 3);
  feed(file, consumer, () => 65536 + r(200000), how !== "javascript");
  core.finish();
  seen.counters = core.counters();
  return seen;
}

// The file through both walks, the core's (lent chunks) and the reader's (its own buffers), in
// chunks of `chunk` bytes: each one's frames, the error that ended it ("" for none), its counters.
// `options` is asked once per walk.
interface Walk { frames: string[]; error: string; counters: Record<string, number> }

function bothWalks(file: Uint8Array, chunk: number, options: () => Partial<CoreOptions> = () => ({})): { core: Walk; js: Walk } {
  const [core, js] = (["core", "javascript"] as const).map((how) => {
    const seen: Seen = { frames: [], ndjson: "", counters: {} };
    const c = coreFor(options(), seen);
    const consumer: FrameConsumer = how === "core" ? c : { frame: c.frame.bind(c), release: c.release.bind(c) };
    let error = "";
    try {
      feed(file, consumer, () => chunk, how === "core");
    } catch (err) {
      error = (err as Error).message;
    }
    c.finish();
    return { frames: seen.frames, error, counters: c.counters() };
  });
  return { core: core as Walk, js: js as Walk };
}

test("the core's walk of pcap records gives the frames the reader's loop gives, in both byte orders and clocks", () => {
  let seed = 1;
  for (const littleEndian of [true, false]) {
    for (const nanosecond of [true, false]) {
      for (const options of [{}, { maxFrames: 7 }, { inputBytes: 300000, maxFrames: 500 }]) {
        seed++;
        const file = pcap(seed, { littleEndian, nanosecond }, 1500);
        const what = `seed ${seed}, le=${littleEndian}, ns=${nanosecond}, ${JSON.stringify(options)}`;
        const core = walked(file, seed, options, "core");
        assert.ok(core.frames.length > 1000, `${what}: ${core.frames.length} messages`);
        assert.is(core.counters.frames, 1500, what);
        for (const how of ["javascript, lent", "javascript"] as const) {
          const js = walked(file, seed, options, how);
          assert.equal(core.frames, js.frames, `${what}: frames against ${how}`);
          assert.is(core.ndjson, js.ndjson, `${what}: envelopes against ${how}`);
          assert.equal(core.counters, js.counters, `${what}: counters against ${how}`);
        }
      }
    }
  }
});

test("one batch with frames placed before and after the records the core walked: each frame as if all came by frame()", () => {
  const sipFrame = (i: number): Uint8Array => udpFrame(sip([`MESSAGE sip:b SIP/2.0`, `Call-ID: mixed-${i}`, `CSeq: ${i} MESSAGE`, "Content-Length: 0"]));
  const frames = [0, 1, 2, 3, 4].map(sipFrame);
  const records = concat(...frames.slice(1, 4).flatMap((f, k) => {
    const header = Buffer.alloc(16);
    header.writeUInt32LE(1795428000 + k + 1, 0);
    header.writeUInt32LE(0, 4);
    header.writeUInt32LE(f.length, 8);
    header.writeUInt32LE(f.length, 12);
    return [header, f];
  }));
  const format = { littleEndian: true, nsecPerFraction: 1000, linkType: 1, maxRecord: 262144 };
  const [mixed, direct] = [{ frames: [], ndjson: "", counters: {} }, { frames: [], ndjson: "", counters: {} }] as Seen[];
  const core = coreFor({}, mixed);
  core.frame(frames[0], 0, frames[0].length, frames[0].length, 1, 1795428000, 0, 0);
  const lent = (core.lend(0, 65536) as Uint8Array).subarray(0, records.length);   // the least the core lends
  lent.set(records);
  assert.is(core.pcapRecords(lent, 0, records.length, format), records.length, "the core walks all three records");
  core.frame(frames[4], 0, frames[4].length, frames[4].length, 1, 1795428004, 0, 0);
  core.finish();
  const reference = coreFor({}, direct);
  frames.forEach((f, i) => reference.frame(f, 0, f.length, f.length, 1, 1795428000 + i, 0, 0));
  reference.finish();
  assert.is(mixed.frames.length, 5);
  assert.equal(mixed.frames, direct.frames);
  assert.is(mixed.ndjson, direct.ndjson);
});

test("a file cut inside a record: the whole records before it are walked, then the cut is reported", () => {
  const file = pcap(99, { littleEndian: true, nanosecond: false }, 400);
  for (const cut of [file.length - 1, file.length - 300, 100000]) {
    const { core, js } = bothWalks(file.subarray(0, cut), 70000);
    for (const [how, walk] of [["core", core], ["javascript", js]] as const) {
      assert.match(walk.error, /truncated packet record .* at byte \d+$/, `${how}, cut at ${cut}`);
    }
    assert.ok(core.frames.length > 0, `cut at ${cut}`);
    assert.equal(core.frames, js.frames, `cut at ${cut}`);
  }
});

// Hostile record headers: lengths at and around 2^31 and 2^32 and the bound, fractions of 2^32 - 1
// (a carry of up to 4,294 seconds), original lengths below the captured one. Both walks give the
// same frames and stop at the same record with the same error.
test("hostile record headers: both walks agree, frame for frame and on the error", () => {
  const frame = udpFrame(sip(["OPTIONS sip:a@example.com SIP/2.0", "Call-ID: hostile", "CSeq: 1 OPTIONS", "Content-Length: 0"]));
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b23c4d, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(1, 20);
  const record = (sec: number, fraction: number, caplen: number, origLen: number, bytes: Uint8Array): Uint8Array => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(sec >>> 0, 0);
    r.writeUInt32LE(fraction >>> 0, 4);
    r.writeUInt32LE(caplen >>> 0, 8);
    r.writeUInt32LE(origLen >>> 0, 12);
    return concat(r, bytes);
  };
  const good = [record(0xffffffff, 0xffffffff, frame.length, 0, frame), record(0, 999_999_999, frame.length, 2 ** 32 - 1, frame),
    record(1795428000, 1_000_000_000, frame.length, frame.length - 1, frame)];
  for (const caplen of [2 ** 32 - 1, 2 ** 31, 2 ** 31 - 1, 16 * 1024 * 1024 + 1, 0x10000]) {
    // Enough good records before the bad one that it falls past the first 64 KiB chunk.
    const file = concat(header, ...Array.from({ length: 200 }, () => good).flat(), record(1, 0, caplen, caplen, frame), ...good);
    const { core, js } = bothWalks(file, 65536);
    assert.ok(core.frames.length >= 600, `caplen ${caplen}: ${core.frames.length} frames`);
    assert.ok(core.error !== "", `caplen ${caplen}: no error`);
    assert.is(core.error, js.error, `caplen ${caplen}`);
    assert.equal(core.frames, js.frames, `caplen ${caplen}`);
  }
});

// Deterministic fuzz of the new parser: a file's bytes changed at random (record headers among
// them: lengths, times), fed to both walks, which must agree frame for frame and on the error.
test("fuzz: mutated pcap files, both walks agree", () => {
  const base = pcap(7, { littleEndian: true, nanosecond: true }, 300);
  const headers: number[] = [];   // where each record header starts
  const view = new DataView(base.buffer, base.byteOffset, base.byteLength);
  for (let at = 24; at + 16 <= base.length; at += 16 + view.getUint32(at + 8, true)) headers.push(at);
  const r = rng(2026);
  for (let round = 0; round < 60; round++) {
    const file = base.slice();
    for (let k = 0; k < 1 + r(12); k++) {
      // Half the changes in a record header (its time, lengths), half anywhere.
      const at = r(2) === 0 ? (headers[r(headers.length)] as number) + r(16) : 24 + r(file.length - 24);
      file[at] = r(4) === 0 ? 0xff : r(256);
    }
    const { core, js } = bothWalks(file, 65536, () => ({ maxFrames: 1 + r(64) }));
    assert.is(core.error, js.error, `round ${round}`);
    assert.equal(core.frames, js.frames, `round ${round}`);
    assert.is(core.counters.frames, js.counters.frames, `round ${round}`);
  }
});

test.run();
