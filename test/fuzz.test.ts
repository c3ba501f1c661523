// Deterministic fuzzing of the whole core: seeded random frames and mutations
// of valid ones, on every run. Three cores see the same frames:
//   reference: SIMD build, frames batched back to back;
//   isolated:  SIMD build, each frame alone and followed in memory by poison
//              bytes, so any read past a frame's end would change its output;
//   scalar:    the scalar build, batched.
// All three must give the same envelopes, spans and counters; none may trap;
// linear memory must not grow after configure. A failing case prints its seed
// and frame number: add the seed to REGRESSION_SEEDS so it runs every time.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash, type Hash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import * as L from "../assembly/layout";
import { Core, type MessageBatch } from "../host/core";
import { udpFrame, INVITE, ethernet, ipv6Packet, udpHeader, concat, sip } from "./helpers";

const FRAMES = Number(process.env.SIPHON_FUZZ_FRAMES ?? 200_000);
const SEED = Number(process.env.SIPHON_FUZZ_SEED ?? 20261123);
const REGRESSION_SEEDS: number[] = [];
const POISON = new Uint8Array(4096).fill(0xaa);
const LINK_TYPES = [1, 1, 1, 0, 101, 108, 113, 228, 229, 276, 147];

// splitmix32: small, fast, and the same sequence everywhere for a seed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function seedFrames(): Uint8Array[] {
  const torture = readdirSync("fixtures/torture/rfc4475").map((f) => readFileSync(`fixtures/torture/rfc4475/${f}`));
  const two = sip(["MESSAGE sip:a SIP/2.0", "i: x", "CSeq: 1 MESSAGE", "l: 2"], "hi") + INVITE;
  const ext = Uint8Array.from([17, 0, 1, 4, 0, 0, 0, 0]);
  const payload = Buffer.from(INVITE);
  const v6 = ethernet(0x86dd, ipv6Packet(0, concat(Uint8Array.from(udpHeader(payload, 5060, 5060)), payload), "2001:db8::1", "::2", ext));
  return [
    udpFrame(INVITE), udpFrame(INVITE, { vlans: [1, 2] }), udpFrame(two), udpFrame(INVITE, { src: "::1", dst: "fe80::1" }),
    udpFrame(INVITE, { ipOptions: 12 }), v6, ...torture.map((t) => udpFrame(t)),
  ];
}

const INTERESTING = [0, 0xff, 0x0d, 0x0a, 0x20, 0x3a, 0x3b, 0x2c, 0x22, 0x3c, 0x3e, 0x30, 0x39, 0x7f, 0x80, 0x11, 0x06, 0x2c];

function mutate(base: Uint8Array, next: () => number): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(base);
  const rounds = 1 + (next() % 6);
  for (let r = 0; r < rounds && bytes.length > 0; r++) {
    const at = next() % bytes.length;
    switch (next() % 7) {
      case 0: bytes[at] ^= 1 << (next() % 8); break;
      case 1: bytes[at] = INTERESTING[next() % INTERESTING.length]; break;
      case 2: bytes = bytes.subarray(0, at); break;
      case 3: bytes = concat(bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + (next() % 64)))); break;
      case 4: bytes = concat(bytes.subarray(0, at), bytes.subarray(at, Math.min(bytes.length, at + (next() % 128))), bytes.subarray(at)); break;
      case 5: bytes = concat(bytes.subarray(0, at), Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a]), bytes.subarray(at)); break;
      default: if (at + 1 < bytes.length) { bytes[at] = next() & 0xff; bytes[at + 1] = next() & 0xff; }
    }
  }
  return bytes;
}

function randomFrame(next: () => number): Uint8Array {
  const bytes = new Uint8Array(next() % 1600);
  for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
  return bytes;
}

// Envelopes and records are hashed apart, so batch boundaries do not matter.
class Digest {
  private readonly envelopes: Hash = createHash("sha256");
  private readonly records: Hash = createHash("sha256");
  messages = 0;
  readonly take = (batch: MessageBatch): void => {
    this.envelopes.update(batch.ndjson());
    for (let i = 0; i < batch.count; i++) {
      const m = batch.message(i);
      const spans = Array.from({ length: L.SPAN_COUNT }, (_, s) => m.span(s).join(",")).join(";");
      this.records.update(`${m.id} ${m.status} ${m.cseq} ${m.expires} ${m.contentLength} ${m.headerCount} ${m.problems} ${spans}\n`);
      this.messages++;
    }
  };
  private final: string | undefined;
  value(): string {
    this.final ??= `${this.envelopes.digest("hex")} ${this.records.digest("hex")}`;
    return this.final;
  }
}

function countersWithout(core: Core, poisonFrames: number): Record<string, number> {
  const c = core.counters();
  c.frames -= poisonFrames;
  c.bytes -= poisonFrames * POISON.length;
  return c;
}

function fuzz(seed: number, frames: number): void {
  const next = rng(seed);
  const corpus = seedFrames();
  const reference = new Digest(), isolated = new Digest(), scalar = new Digest();
  const cores = {
    reference: new Core({ sensor: "fuzz", agent: "fuzz" }, reference.take),
    isolated: new Core({ sensor: "fuzz", agent: "fuzz" }, isolated.take),
    scalar: new Core({ sensor: "fuzz", agent: "fuzz", build: "scalar" }, scalar.take),
  };
  const memoryAfterConfigure = Object.values(cores).map((c) => c.memoryBytes);
  for (let n = 0; n < frames; n++) {
    const data = next() % 4 === 0 ? randomFrame(next) : mutate(corpus[next() % corpus.length], next);
    const linkType = next() % 8 === 0 ? LINK_TYPES[next() % LINK_TYPES.length] : 1;
    const origLen = data.length + (next() % 16 === 0 ? next() % 100 : 0);
    const sec = next() % 4_000_000_000, nsec = next() % 1_000_000_000;
    try {
      cores.reference.frame(data, 0, data.length, origLen, linkType, sec, nsec, 0);
      cores.scalar.frame(data, 0, data.length, origLen, linkType, sec, nsec, 0);
      cores.isolated.frame(data, 0, data.length, origLen, linkType, sec, nsec, 0);
      cores.isolated.flush();
      cores.isolated.frame(POISON, 0, POISON.length, POISON.length, 1, 0, 0, 0);
      cores.isolated.flush();
    } catch (err) {
      throw new Error(`fuzz seed ${seed}, frame ${n}: ${(err as Error).message}`);
    }
  }
  cores.reference.flush();
  cores.scalar.flush();
  const context = `fuzz seed ${seed} (${frames} frames)`;
  assert.ok(reference.messages > frames / 10, `${context}: too few messages decoded (${reference.messages}) to mean anything`);
  assert.is(isolated.value(), reference.value(), `${context}: output depends on bytes after the frame`);
  assert.is(scalar.value(), reference.value(), `${context}: the scalar build differs from the SIMD build`);
  assert.equal(countersWithout(cores.isolated, frames), cores.reference.counters(), context);
  assert.equal(cores.scalar.counters(), cores.reference.counters(), context);
  assert.equal(Object.values(cores).map((c) => c.memoryBytes), memoryAfterConfigure, `${context}: memory grew`);
}

for (const seed of REGRESSION_SEEDS) {
  test(`fuzz regression seed ${seed}`, () => fuzz(seed, 5000));
}

test(`fuzz: ${FRAMES} seeded frames (seed ${SEED}) through three cores`, () => {
  fuzz(SEED, FRAMES);
});

test.run();
