// Capture-file sources: pcap and pcapng built here byte by byte, fed whole, split and cut short;
// small files from other projects (fixtures/sources, see fixtures/SOURCES.md); and, when the shared
// corpus is present, a sweep over all of it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { spawnSync } from "node:child_process";
import { open } from "node:fs/promises";
import {
  CaptureError, CaptureParser, readCapture, readCaptureStream, type FrameConsumer,
} from "../host/source";
import { Rng } from "./support/generate/rng";

// ---------------------------------------------------------------- recording what a parser delivers

interface Frame {
  bytes: number[];
  origLen: number;
  linkType: number;
  tsSec: number;
  tsNsec: number;
  iface: number;
}

class Recorder implements FrameConsumer {
  frames: Frame[] = [];
  frame(data: Uint8Array, start: number, caplen: number, origLen: number, linkType: number,
        tsSec: number, tsNsec: number, iface: number): void {
    const bytes = Array.from(data.subarray(start, start + caplen));
    this.frames.push({ bytes, origLen, linkType, tsSec, tsNsec, iface });
  }
}

/** "iface/linktype/origLen/caplen/sec.nsec", the shape tshark's fields give for the same frame. */
function summary(frame: Frame): string {
  const { iface, linkType, origLen, bytes, tsSec, tsNsec } = frame;
  return `${iface}/${linkType}/${origLen}/${bytes.length}/${tsSec}.${String(tsNsec).padStart(9, "0")}`;
}

interface Outcome {
  frames: Frame[];
  error: CaptureError | undefined;
  errorInFeed: boolean;
}

function parseInChunks(input: Uint8Array, chunkSizes: Iterable<number>): Outcome {
  const recorder = new Recorder();
  const parser = new CaptureParser("test.cap", recorder);
  let errorInFeed = true;
  try {
    let pos = 0;
    for (const size of chunkSizes) {
      parser.feed(input.subarray(pos, pos + size));
      pos += size;
    }
    parser.feed(input.subarray(pos));
    errorInFeed = false;
    parser.end();
    return { frames: recorder.frames, error: undefined, errorInFeed };
  } catch (err) {
    if (!(err instanceof CaptureError)) throw err;
    return { frames: recorder.frames, error: err, errorInFeed };
  }
}

function parseWhole(input: Uint8Array): Outcome {
  return parseInChunks(input, []);
}

function parseCleanly(input: Uint8Array): Frame[] {
  const outcome = parseWhole(input);
  if (outcome.error) throw outcome.error;
  return outcome.frames;
}

// The generator's seeded Rng, as a draw in [0, 1).
function seeded(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.float();
}

// ---------------------------------------------------------------- building capture files

class Writer {
  private readonly out: number[] = [];
  constructor(private readonly littleEndian: boolean) {}

  get length(): number {
    return this.out.length;
  }
  u8(v: number): this {
    this.out.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.littleEndian ? this.u8(v).u8(v >>> 8) : this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.littleEndian ? this.u16(v).u16(v >>> 16) : this.u16(v >>> 16).u16(v);
  }
  u64(v: bigint): this {
    const hi = Number(v >> 32n) >>> 0;
    const lo = Number(v & 0xffffffffn);
    return this.littleEndian ? this.u32(lo).u32(hi) : this.u32(hi).u32(lo);
  }
  raw(bytes: ArrayLike<number>): this {
    for (let i = 0; i < bytes.length; i++) this.out.push(bytes[i] as number);
    return this;
  }
  pad4(): this {
    while (this.out.length % 4 !== 0) this.out.push(0);
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const part of parts) {
    out.set(part, pos);
    pos += part.length;
  }
  return out;
}

function payload(length: number, seed: number): Uint8Array {
  const random = seeded(seed);
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

interface PcapOptions {
  littleEndian: boolean;
  nanosecond: boolean;
  linkTypeField?: number;
  major?: number;
}
interface PcapRecord {
  sec: number;
  fraction: number;
  data: Uint8Array;
  origLen?: number;
}

function pcapFile(options: PcapOptions, records: PcapRecord[]): Uint8Array {
  const w = new Writer(options.littleEndian);
  w.u32(options.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4).u16(options.major ?? 2).u16(4);
  w.u32(0).u32(0).u32(65535).u32(options.linkTypeField ?? 1);
  for (const r of records) {
    w.u32(r.sec).u32(r.fraction).u32(r.data.length).u32(r.origLen ?? r.data.length).raw(r.data);
  }
  return w.bytes();
}

const PCAP_FILE_HEADER = 24;
const PCAP_RECORD_HEADER = 16;

function pcapngBlock(littleEndian: boolean, type: number, body: (w: Writer) => void): Uint8Array {
  const content = new Writer(littleEndian);
  body(content);
  content.pad4();
  const length = content.length + 12;
  return new Writer(littleEndian).u32(type).u32(length).raw(content.bytes()).u32(length).bytes();
}

function shb(le: boolean): Uint8Array {
  return pcapngBlock(le, 0x0a0d0d0a, (w) => w.u32(0x1a2b3c4d).u16(1).u16(0).u64(-1n & 0xffffffffffffffffn));
}

interface IdbOptions {
  snaplen?: number;
  tsresol?: number;
  tsoffset?: bigint;
}

function idb(le: boolean, linkType: number, options: IdbOptions = {}): Uint8Array {
  return pcapngBlock(le, 1, (w) => {
    w.u16(linkType).u16(0).u32(options.snaplen ?? 0);
    w.u16(2).u16(4).raw([0x65, 0x74, 0x68, 0x30]); // if_name "eth0", an option we skip
    if (options.tsresol !== undefined) w.u16(9).u16(1).u8(options.tsresol).pad4();
    if (options.tsoffset !== undefined) w.u16(14).u16(8).u64(options.tsoffset & 0xffffffffffffffffn);
    w.u16(0).u16(0);
  });
}

// §4.3: a packet timestamp is its upper 32 bits, then its lower, each in the section's byte order.
function timestamp(w: Writer, ticks: bigint): Writer {
  return w.u32(Number(ticks >> 32n)).u32(Number(ticks & 0xffffffffn));
}

function epb(le: boolean, iface: number, ticks: bigint, data: Uint8Array, origLen = data.length): Uint8Array {
  return pcapngBlock(le, 6, (w) => {
    timestamp(w.u32(iface), ticks).u32(data.length).u32(origLen).raw(data).pad4();
    w.u16(1).u16(3).raw([0x68, 0x69, 0x21]).pad4().u16(0).u16(0); // opt_comment "hi!"
  });
}

function obsoletePacketBlock(le: boolean, iface: number, ticks: bigint, data: Uint8Array): Uint8Array {
  return pcapngBlock(le, 2, (w) => timestamp(w.u16(iface).u16(0), ticks).u32(data.length).u32(data.length).raw(data));
}

function spb(le: boolean, data: Uint8Array, origLen = data.length): Uint8Array {
  return pcapngBlock(le, 3, (w) => w.u32(origLen).raw(data));
}

function skippedBlock(le: boolean, type: number, bodyLength: number): Uint8Array {
  return pcapngBlock(le, type, (w) => w.raw(payload(bodyLength, type)));
}

/** Where each block of a pcapng file starts. */
function blockOffsets(file: Uint8Array, blocks: Uint8Array[]): number[] {
  const offsets: number[] = [];
  let pos = 0;
  for (const block of blocks) {
    offsets.push(pos);
    pos += block.length;
  }
  assert.is(pos, file.length);
  return offsets;
}

// A small file with most of what a pcapng reader meets: two sections of different byte orders,
// three interfaces, every packet block type, and blocks to skip.
function mixedPcapngBlocks(): Uint8Array[] {
  return [
    shb(true), idb(true, 1, { snaplen: 96 }), skippedBlock(true, 4, 20), idb(true, 113, { tsresol: 9 }),
    epb(true, 0, 1_700_000_000_123_456n, payload(60, 1)),
    epb(true, 1, 1_700_000_001_987_654_321n, payload(71, 2), 1500),
    spb(true, payload(120, 3), 300), skippedBlock(true, 5, 24), skippedBlock(true, 0x40000bad, 9),
    shb(false), idb(false, 101, { tsresol: 3 }), skippedBlock(false, 0x0a, 16),
    obsoletePacketBlock(false, 0, 1_700_000_002_500n, payload(33, 4)),
    epb(false, 0, 1_700_000_003_001n, payload(1, 5)),
  ];
}

const MIXED_PCAPNG_SUMMARIES = [
  "0/1/60/60/1700000000.123456000",
  "1/113/1500/71/1700000001.987654321",
  "0/1/300/96/0.000000000",
  "0/101/33/33/1700000002.500000000",
  "0/101/1/1/1700000003.001000000",
];

function mixedPcapng(): Uint8Array {
  return concat(...mixedPcapngBlocks());
}

function smallPcap(): Uint8Array {
  return pcapFile({ littleEndian: true, nanosecond: false }, [
    { sec: 1, fraction: 2, data: payload(42, 1) },
    { sec: 3, fraction: 4, data: payload(0, 2), origLen: 60 },
    { sec: 5, fraction: 6, data: payload(99, 3) },
  ]);
}

// ---------------------------------------------------------------- classic pcap

test("pcap: microsecond and nanosecond files in both byte orders", () => {
  for (const littleEndian of [true, false]) {
    for (const nanosecond of [true, false]) {
      const data = payload(54, 7);
      const file = pcapFile({ littleEndian, nanosecond, linkTypeField: 113 }, [
        { sec: 1_700_000_000, fraction: 999_999, data, origLen: 1514 },
        { sec: 0xffffffff, fraction: 0, data: payload(1, 8) },
      ]);
      const frames = parseCleanly(file);
      const nsec = nanosecond ? 999_999 : 999_999_000;
      assert.equal(frames.map(summary), [`0/113/1514/54/1700000000.${String(nsec).padStart(9, "0")}`,
        "0/113/1/1/4294967295.000000000"], `le=${littleEndian} ns=${nanosecond}`);
      assert.equal(frames[0]?.bytes, Array.from(data));
    }
  }
});

test("pcap: the FCS bits above the link type are ignored", () => {
  const fcsFourBytes = (1 << 28 | 4 << 29) >>> 0;
  const file = pcapFile({ littleEndian: false, nanosecond: false, linkTypeField: fcsFourBytes | 1 },
    [{ sec: 1, fraction: 0, data: payload(10, 1) }]);
  assert.is(parseCleanly(file)[0]?.linkType, 1);
});

test("pcap: a fraction of a second or more carries into the seconds", () => {
  const file = pcapFile({ littleEndian: true, nanosecond: false },
    [{ sec: 10, fraction: 2_500_000, data: payload(1, 1) }]);
  assert.equal(parseCleanly(file).map(summary), ["0/1/1/1/12.500000000"]);
});

test("pcap: a file header alone is an empty capture", () => {
  assert.equal(parseCleanly(pcapFile({ littleEndian: true, nanosecond: true }, [])), []);
});

test("pcap: an unsupported version is refused", () => {
  const outcome = parseWhole(pcapFile({ littleEndian: true, nanosecond: false, major: 1 }, []));
  assert.match(outcome.error?.message ?? "", "test.cap: unsupported pcap version 1.4 (expected 2.x) at byte 0");
});

test("pcap: a record over 16 MiB is refused as corruption, after the frames before it", () => {
  const file = smallPcap();
  const third = PCAP_FILE_HEADER + 2 * PCAP_RECORD_HEADER + 42;
  new DataView(file.buffer).setUint32(third + 8, 16 * 1024 * 1024 + 1, true);
  const outcome = parseWhole(file);
  assert.is(outcome.frames.length, 2);
  assert.ok(outcome.errorInFeed);
  assert.is(outcome.error?.offset, third);
  assert.match(outcome.error?.message ?? "", new RegExp(`claims 16777217 captured bytes .*corrupt.* at byte ${third}$`));
});

test("pcap: a record larger than the carry buffer survives being split", () => {
  const big = payload(300_000, 9);
  const file = pcapFile({ littleEndian: true, nanosecond: false }, [
    { sec: 1, fraction: 0, data: payload(5, 1) }, { sec: 2, fraction: 0, data: big },
    { sec: 3, fraction: 0, data: payload(7, 2) },
  ]);
  const outcome = parseInChunks(file, Array.from({ length: 400 }, () => 1000));
  assert.is(outcome.error, undefined);
  assert.equal(outcome.frames.map((f) => f.bytes.length), [5, 300_000, 7]);
  assert.equal(outcome.frames[1]?.bytes, Array.from(big));
});

// ---------------------------------------------------------------- pcapng

test("pcapng: sections of both byte orders, interfaces, every packet block, skipped blocks", () => {
  assert.equal(parseCleanly(mixedPcapng()).map(summary), MIXED_PCAPNG_SUMMARIES);
});

test("pcapng: packet bytes are delivered as written", () => {
  const data = payload(71, 2);
  const frames = parseCleanly(concat(shb(false), idb(false, 1), epb(false, 0, 0n, data)));
  assert.equal(frames[0]?.bytes, Array.from(data));
});

test("pcapng: if_tsresol in powers of ten and of two, and if_tsoffset", () => {
  const cases: [IdbOptions, bigint, string][] = [
    [{ tsresol: 3 }, 1_700_000_000_123n, "1700000000.123000000"],
    [{ tsresol: 9 }, 0xffffffffffffffffn, "18446744073.709551615"],
    [{ tsresol: 0 }, 42n, "42.000000000"],
    [{ tsresol: 0x80 | 20 }, (1_700_000_000n << 20n) + 3n, "1700000000.000002861"],
    [{ tsresol: 0x80 | 32 }, (5n << 32n) + (1n << 31n), "5.500000000"],
    [{ tsresol: 0x80 | 40 }, (7n << 40n) + (1n << 38n), "7.250000000"],
    [{ tsresol: 12 }, 1_700_000_000_123_456_789n, "1700000.000123456"],
    [{ tsresol: 6, tsoffset: 1_000_000_000n }, 700_000_000_500_000n, "1700000000.500000000"],
    [{ tsresol: 6, tsoffset: -100n }, 1_000_000n, "-99.000000000"],
  ];
  for (const [options, ticks, expected] of cases) {
    for (const le of [true, false]) {
      const frames = parseCleanly(concat(shb(le), idb(le, 1, options), epb(le, 0, ticks, payload(1, 1))));
      const [frame] = frames;
      assert.is(`${frame?.tsSec}.${String(frame?.tsNsec).padStart(9, "0")}`, expected, `${JSON.stringify(options, (_, v) => typeof v === "bigint" ? String(v) : v)} ${ticks}`);
    }
  }
});

test("pcapng: 2^-n clocks truncate to the nanosecond", () => {
  const le = true;
  const ticks = (1n << 30n) - 1n; // just under one second at 2^-30
  const [frame] = parseCleanly(concat(shb(le), idb(le, 1, { tsresol: 0x80 | 30 }), epb(le, 0, ticks, payload(1, 1))));
  assert.is(frame?.tsSec, 0);
  assert.is(frame?.tsNsec, 999_999_999);
});

function corruptedMixedPcapng(blockIndex: number, damage: (view: DataView, start: number, block: Uint8Array) => void): {
  outcome: Outcome; offset: number;
} {
  const blocks = mixedPcapngBlocks();
  const file = concat(...blocks);
  const offset = blockOffsets(file, blocks)[blockIndex] as number;
  damage(new DataView(file.buffer), offset, blocks[blockIndex] as Uint8Array);
  return { outcome: parseWhole(file), offset };
}

test("pcapng: corrupt blocks are refused after the frames before them", () => {
  const cases: [string, number, (v: DataView, start: number, block: Uint8Array) => void, RegExp][] = [
    ["length not a multiple of 4", 6, (v, s) => v.setUint32(s + 4, 130, true), /has total length 130, which is not a multiple of 4/],
    ["length below 12", 7, (v, s) => v.setUint32(s + 4, 8, true), /total length 8, which is below the minimum of 12/],
    ["trailing length differs", 6, (v, s, b) => v.setUint32(s + b.length - 4, 8, true), /simple packet block has total length 136 but trailing length 8/],
    ["caplen past the block", 5, (v, s) => v.setUint32(s + 20, 1000, true), /enhanced packet block claims 1000 captured bytes but has room for 84/],
    ["undefined interface", 5, (v, s) => v.setUint32(s + 8, 2, true), /refers to interface 2, but its section defines 2 interface/],
    ["bad byte-order magic", 9, (v, s) => v.setUint32(s + 8, 0x01020304, false), /byte-order magic 01020304, expected 1a2b3c4d/],
    ["unsupported version", 9, (v, s) => v.setUint16(s + 12, 2, false), /unsupported pcapng version 2.0/],
    ["block over 16 MiB", 13, (v, s) => v.setUint32(s + 4, 0x7ffffff0, false), /total length 2147483632, which is above the limit/],
  ];
  const framesBefore = [0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 3, 3, 4];
  for (const [what, blockIndex, damage, message] of cases) {
    const { outcome, offset } = corruptedMixedPcapng(blockIndex, damage);
    assert.ok(outcome.error, what);
    assert.ok(outcome.errorInFeed, what);
    assert.match(outcome.error?.message ?? "", message, what);
    assert.match(outcome.error?.message ?? "", new RegExp(`^test\\.cap: .* at byte ${offset}$`), what);
    assert.equal(outcome.frames.map(summary), MIXED_PCAPNG_SUMMARIES.slice(0, framesBefore[blockIndex]), what);
  }
});

test("pcapng: a new section forgets the interfaces of the one before", () => {
  const le = true;
  const file = concat(shb(le), idb(le, 1), shb(le), epb(le, 0, 0n, payload(4, 1)));
  assert.match(parseWhole(file).error?.message ?? "", /refers to interface 0, but its section defines 0/);
});

test("pcapng: a section of more than 65,536 interfaces is refused at the one past it, not held", () => {
  const le = true;
  const one = idb(le, 1);
  const file = concat(shb(le), one, epb(le, 0, 0n, payload(4, 1)), ...Array<Uint8Array>(65536).fill(one));
  const outcome = parseWhole(file);
  assert.equal(outcome.frames.length, 1, "the frame before it delivered");
  const at = shb(le).length + epb(le, 0, 0n, payload(4, 1)).length + 65536 * one.length;
  assert.match(outcome.error?.message ?? "", new RegExp(`section defines more than 65536 interfaces: the file is corrupt from here on at byte ${at}$`));
});

test("pcapng: a simple packet block needs interface 0", () => {
  const outcome = parseWhole(concat(shb(false), spb(false, payload(8, 1))));
  assert.match(outcome.error?.message ?? "", /simple packet block refers to interface 0.* at byte 28$/);
});

// ---------------------------------------------------------------- chunking and truncation

for (const [name, make] of [["pcap", smallPcap], ["pcapng", mixedPcapng]] as const) {
  test(`${name}: every split into two chunks delivers the same frames`, () => {
    const file = make();
    const expected = parseCleanly(file);
    for (let split = 0; split <= file.length; split++) {
      const outcome = parseInChunks(file, [split]);
      assert.is(outcome.error, undefined, `split at ${split}`);
      assert.equal(outcome.frames, expected, `split at ${split}`);
    }
  });

  test(`${name}: byte-by-byte and random chunks deliver the same frames`, () => {
    const file = make();
    const expected = parseCleanly(file);
    assert.equal(parseInChunks(file, Array.from(file, () => 1)).frames, expected, "byte by byte");
    const random = seeded(20261122);
    for (let round = 0; round < 50; round++) {
      const sizes: number[] = [];
      for (let total = 0; total < file.length;) {
        const size = Math.floor(random() * 64);
        sizes.push(size);
        total += size;
      }
      assert.equal(parseInChunks(file, sizes).frames, expected, `round ${round}`);
    }
  });
}

test("pcap: a file cut anywhere delivers the whole records and names the broken one", () => {
  const file = smallPcap();
  const units = [0, PCAP_FILE_HEADER, PCAP_FILE_HEADER + 16 + 42, PCAP_FILE_HEADER + 32 + 42, file.length];
  const whole = parseCleanly(file);
  for (let cut = 1; cut < file.length; cut++) {
    const outcome = parseInChunks(file.subarray(0, cut), [Math.floor(cut / 2)]);
    const complete = units.filter((u) => u <= cut).length - 1;
    assert.equal(outcome.frames, whole.slice(0, Math.max(0, complete - 1)), `cut at ${cut}`);
    const unitStart = units[complete] as number;
    if (unitStart === cut) {
      assert.is(outcome.error, undefined, `cut at ${cut}`);
      continue;
    }
    assert.not.ok(outcome.errorInFeed, `cut at ${cut}`);
    const have = cut - unitStart;
    const what = complete === 0 ? (cut < 4 ? "file header" : "pcap file header") : "packet record";
    const need = complete === 0 ? (cut < 4 ? 4 : PCAP_FILE_HEADER)
      : have < PCAP_RECORD_HEADER ? PCAP_RECORD_HEADER : (units[complete + 1] as number) - unitStart;
    assert.is(outcome.error?.message,
      `test.cap: truncated ${what} (need ${need} bytes, have ${have}) at byte ${unitStart}`, `cut at ${cut}`);
  }
});

test("pcapng: a file cut anywhere delivers the whole blocks and names the broken one", () => {
  const blocks = mixedPcapngBlocks();
  const file = concat(...blocks);
  const offsets = blockOffsets(file, blocks);
  const whole = parseCleanly(file);
  for (let cut = 1; cut < file.length; cut++) {
    const outcome = parseWhole(file.subarray(0, cut));
    const broken = offsets.findIndex((start, i) => start < cut && cut < start + (blocks[i] as Uint8Array).length);
    const start = offsets[broken];
    if (start === undefined) {
      assert.is(outcome.error, undefined, `cut at ${cut}`);
      continue;
    }
    assert.match(outcome.error?.message ?? "", new RegExp(`^test\\.cap: truncated .*, have ${cut - start}\\) at byte ${start}$`),
      `cut at ${cut}`);
    const deliveredBefore = start === 0 ? 0 : parseCleanly(file.subarray(0, start)).length;
    assert.equal(outcome.frames, whole.slice(0, deliveredBefore), `cut at ${cut}`);
  }
});

test("truncation message names the block and the bytes it needs", () => {
  const blocks = mixedPcapngBlocks();
  const file = concat(...blocks);
  const start = blockOffsets(file, blocks)[3] as number;
  const outcome = parseWhole(file.subarray(0, start + 10));
  assert.is(outcome.error?.message,
    `test.cap: truncated interface description block (need ${blocks[3]?.length} bytes, have 10) at byte ${start}`);
});

// ---------------------------------------------------------------- what is not a capture

test("empty input is an error", () => {
  assert.is(parseWhole(new Uint8Array(0)).error?.message, "test.cap: no capture data (the input is empty) at byte 0");
});

test("unknown magic is not a pcap or pcapng file, and shows the first bytes", () => {
  const outcome = parseWhole(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]));
  assert.ok(outcome.errorInFeed);
  assert.match(outcome.error?.message ?? "", /^test\.cap: not a pcap or pcapng file \(it starts with 7f 45 4c 46;.* at byte 0$/);
});

test("fewer bytes than a magic number is a truncated file header", () => {
  assert.is(parseWhole(Uint8Array.from([0xd4, 0xc3])).error?.message,
    "test.cap: truncated file header (need 4 bytes, have 2) at byte 0");
});

// ---------------------------------------------------------------- files and streams

function tempFile(name: string, contents: Uint8Array): string {
  const path = join(mkdtempSync(join(tmpdir(), "siphon-source-")), name);
  writeFileSync(path, contents);
  return path;
}

test("readCapture: reads a file and reports progress up to its size", async () => {
  const file = mixedPcapng();
  const path = tempFile("mixed.pcapng", file);
  const recorder = new Recorder();
  const progress: [number, number | undefined][] = [];
  await readCapture(path, recorder, (read, total) => { progress.push([read, total]); });
  assert.equal(recorder.frames.map(summary), MIXED_PCAPNG_SUMMARIES);
  assert.equal(progress.at(-1), [file.length, file.length]);
});

test("readCapture: a missing file is a CaptureError naming it", async () => {
  const path = join(tmpdir(), "siphon-no-such-capture.pcap");
  try {
    await readCapture(path, new Recorder());
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, CaptureError);
    assert.is((err as Error).message, `${path}: no such file (check the path)`);
  }
});

test("readCapture: a directory is a CaptureError naming it", async () => {
  const path = mkdtempSync(join(tmpdir(), "siphon-source-"));
  try {
    await readCapture(path, new Recorder());
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.is((err as Error).message, `${path}: is a directory, not a capture file at byte 0`);
  }
});

test("readCapture: an empty file is an error", async () => {
  const path = tempFile("empty.pcap", new Uint8Array(0));
  try {
    await readCapture(path, new Recorder());
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.is((err as Error).message, `${path}: no capture data (the input is empty) at byte 0`);
  }
});

// Issue 9, fault 6: a FIFO was read with readSync, which waits for data with the
// event loop stopped. Here the writer is in this same process: a blocking read
// would never let it write.
const hasMkfifo = spawnSync("mkfifo", ["--version"]).status === 0;

function fifoPath(name: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "siphon-fifo-")), name);
  assert.is(spawnSync("mkfifo", [path]).status, 0);
  return path;
}

if (hasMkfifo) {
  test("readCapture: a FIFO is read as a stream, frames arriving while its writer holds it open; a stop ends it", async () => {
    const file = smallPcap();
    const fifo = fifoPath("capture.fifo");
    const recorder = new Recorder();
    const stop = new AbortController();
    let allRead: () => void = () => {};
    const read = new Promise<void>((resolve) => { allRead = resolve; });
    const totals: Array<number | undefined> = [];
    const reading = readCapture(fifo, recorder, (bytes, total) => {
      totals.push(total);
      if (bytes === file.length) allRead();
    }, stop.signal);
    const writer = await open(fifo, "w");
    await writer.write(file.subarray(0, 30));
    await writer.write(file.subarray(30));
    await read;
    assert.equal(recorder.frames, parseCleanly(file));
    assert.ok(totals.every((t) => t === undefined), "a FIFO has no size to show progress against");
    const reason = new Error("stopped by SIGTERM");
    stop.abort(reason);
    await reading.then(() => assert.unreachable("resolved though stopped"), (err) => assert.is(err, reason));
    await writer.close();
  });

  test("readCapture: a stop while a FIFO waits for its first writer ends the wait", async () => {
    const stop = new AbortController();
    const reading = readCapture(fifoPath("unopened.fifo"), new Recorder(), undefined, stop.signal);
    await new Promise((resolve) => setImmediate(resolve));
    const reason = new Error("stopped by SIGINT");
    stop.abort(reason);
    await reading.then(() => assert.unreachable("resolved though stopped"), (err) => assert.is(err, reason));
  });
} else {
  console.log("source.test: mkfifo is not installed; the FIFO tests were NOT run");
}

test("readCaptureStream: reads a stream of arbitrary chunks", async () => {
  const file = smallPcap();
  const chunks = [file.subarray(0, 3), file.subarray(3, 50), file.subarray(50)];
  const recorder = new Recorder();
  await readCaptureStream("stdin", Readable.from(chunks), recorder);
  assert.equal(recorder.frames, parseCleanly(file));
});

test("readCaptureStream: a stream cut short is refused after its whole records", async () => {
  const file = smallPcap();
  const recorder = new Recorder();
  try {
    await readCaptureStream("stdin", Readable.from([file.subarray(0, file.length - 1)]), recorder);
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.match((err as Error).message, /^stdin: truncated packet record \(need 115 bytes, have 114\) at byte 98$/);
  }
  assert.is(recorder.frames.length, 2);
});

// ---------------------------------------------------------------- files written by other tools

const FIXTURES = join(process.cwd(), "fixtures", "sources");

function readFixture(...path: string[]): Outcome {
  return parseWhole(readFileSync(join(FIXTURES, ...path)));
}

// Expected as tshark 4.0 reports each packet (frame.interface_id, the IDB's link type, frame.len,
// frame.cap_len, frame.time_epoch; SPBs, which have no time, as 0). tshark also lists custom blocks
// as frames; they carry no packet and are skipped here.
const GENERATOR_EXPECTATIONS: Record<string, string[]> = {
  "test006.pcapng": ["0/1/314/96/1340954905.298858000", "1/0/168/168/1340954905.299858000",
    "0/1/342/96/1340954905.300858000", "0/1/314/96/1340954905.301858000", "0/1/342/96/1340954905.302858000"],
  "test008.pcapng": ["0/1/314/96/1340954.905298858", "1/1/342/128/1340954.905299858",
    "0/1/314/96/1340954.905300858", "1/1/342/128/1340954.905301858"],
  "test012.pcapng": ["0/1/314/314/0.000000000", "0/1/342/315/0.000000000", "0/1/314/314/0.000000000",
    "0/1/342/315/0.000000000"],
  "test101.pcapng": ["0/1/314/96/1340954905.298858000", "2/1/342/128/1340954905.298858000",
    "0/1/314/96/0.000000000", "1/0/168/168/1340954905.301858000"],
  "test102.pcapng": ["0/1/314/96/1340954905.298858000", "2/1/342/342/1340954905.298858000",
    "0/1/314/96/0.000000000", "0/1/342/96/1340954905.300858000", "1/0/168/168/1340954905.301858000"],
  "test202.pcapng": ["0/1/314/96/1340954905.298858000", "0/1/342/96/1340954905.298858000",
    "1/0/168/168/1340954905.301858000", "0/1/314/128/0.000000000", "0/1/342/128/1340954905.298858000",
    "0/1/314/128/0.000000000", "0/1/342/128/1340954905.298858000", "1/0/168/168/1340954905.301858000"],
};

test("pcapng-test-generator files read as tshark reads them, in both byte orders", () => {
  for (const [file, expected] of Object.entries(GENERATOR_EXPECTATIONS)) {
    const le = readFixture("pcapng-test-generator", "output_le", file);
    const be = readFixture("pcapng-test-generator", "output_be", file);
    assert.is(le.error, undefined, file);
    assert.equal(le.frames.map(summary), expected, `${file} (le)`);
    assert.equal(be.frames, le.frames, `${file}: big-endian and little-endian files hold the same frames`);
  }
});

// Files that once crashed PcapPlusPlus: each is read up to its damage, then refused with the
// damage named. Frame counts agree with tshark 4.0; where tshark says "cut short" or "bigger than
// maximum", so do we.
const REGRESSION_EXPECTATIONS: [string, number, RegExp | undefined][] = [
  ["crash-pcapng-epb-unbounded-length", 0, /enhanced packet block claims 65536 captured bytes but has room for 0 at byte 48$/],
  ["clusterfuzz-testcase-FuzzTarget-5188876846235648", 1, /packet record claims 640034342 captured bytes .* at byte 1064$/],
  ["clusterfuzz-testcase-FuzzTarget-6207688043397120", 1, /truncated packet record \(need 16 bytes, have 2\) at byte 57$/],
  ["clusterfuzz-testcase-minimized-FuzzTarget-5766899836387328", 0, /packet record claims 538976288 captured bytes .* at byte 24$/],
  ["radiuslayer", 5, /packet record claims 4261478435 captured bytes .* at byte 440$/],
  ["igmplayer", 2, /packet record claims 172716570 captured bytes .* at byte 185$/],
  ["1eb005b8d62599b6561acf7e778f51603ccbc5ddf948c0b081617668bb56cee4", 9, undefined],
  // tshark refuses its reserved link-type bits; we keep the low 16 bits, as libpcap does.
  ["clusterfuzz-testcase-minimized-FuzzTarget-5631583764873216", 1, undefined],
];

test("PcapPlusPlus regression files are read up to their damage, then refused", () => {
  for (const [file, frames, error] of REGRESSION_EXPECTATIONS) {
    const outcome = readFixture("pcapplusplus-regression", file);
    assert.is(outcome.frames.length, frames, file);
    if (error) assert.match(outcome.error?.message ?? "no error", error, file);
    else assert.is(outcome.error, undefined, file);
  }
  const [ns] = readFixture("pcapplusplus-regression", "clusterfuzz-testcase-FuzzTarget-6207688043397120").frames;
  assert.is(ns && summary(ns), "0/113/1895563263/17/1560281479.117494272");
  const sll = readFixture("pcapplusplus-regression", "1eb005b8d62599b6561acf7e778f51603ccbc5ddf948c0b081617668bb56cee4");
  assert.ok(sll.frames.every((f) => f.linkType === 113));
});

// ---------------------------------------------------------------- the shared corpus, when present

const CORPUS = "/work/shared/corpus";

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

if (existsSync(CORPUS)) {
  test("corpus sweep: every pcapng-test-generator file reads; every regression file reads or is refused", async () => {
    const generated = filesUnder(join(CORPUS, "pcaps/pcapng-test-generator")).filter((f) => f.endsWith(".pcapng"));
    for (const path of generated) await readCapture(path, new Recorder());
    const regressions = filesUnder(join(CORPUS, "fuzz/pcapplusplus-regression")).filter((f) => !f.endsWith(".md"));
    for (const path of regressions) {
      try {
        await readCapture(path, new Recorder());
      } catch (err) {
        if (!(err instanceof CaptureError)) throw new Error(`${path}: ${String(err)}`);
      }
    }
    assert.ok(generated.length >= 40 && regressions.length >= 50, "corpus files found");
  });
} else {
  console.log(`source.test: corpus sweep NOT RUN (${CORPUS} is absent)`);
}

test.run();
