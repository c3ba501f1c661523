// Deterministic fuzzing of the whole core: seeded random frames and mutations
// of valid ones, on every run. Four cores see the same frames:
//   reference: SIMD build, frames batched back to back;
//   isolated:  SIMD build, each frame alone and followed in memory by poison
//              bytes, so any read past a frame's end would change its output;
//   scalar:    the scalar build, batched;
//   bare:      SIMD build, batched, rendering no envelopes (a run without an envelope output).
// All must give the same spans and counters, the first three the same envelopes; none may trap
// (host/core/core.ts would survive a trap: here it fails the test, naming the frame);
// linear memory must not grow after configure. A failing case prints its seed
// and frame number: add the seed to REGRESSION_SEEDS so it runs every time.
// Before the random frames, a deterministic sweep puts every length field at and
// around every power of two its width holds (2^k-1, 2^k, 2^k+1): the bytes of the
// link, IP, UDP, TCP and tunnel headers of the seed frames, TCP sequence numbers,
// the WebSocket 7-, 16- and 64-bit payload lengths and Content-Length on streams.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash, type Hash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import * as L from "../assembly/layout";
import { Core, type CoreOptions, type CoreTrap, type MessageBatch } from "../host/core";
import { udpFrame, INVITE, ethernet, ipv6Packet, udpHeader, concat, sip, tcpFrame, TCP_FIN, TCP_SYN, TCP_RST } from "./helpers";
import { sdp, sipMessage, rtpPacket, rtcpReceiverReport } from "./rtp";
import { defaultSettings } from "../host/calls/settings";
import { vxlan, geneve, gre, erspanII, erspanIII, ipInIp, udpDatagram, ipv4Fragment, ipv6Fragment, pieces } from "./wrap";
import { Rng } from "./support/generate/rng";

const FRAMES = Number(process.env.SIPHON_FUZZ_FRAMES ?? 200_000);
const SEED = Number(process.env.SIPHON_FUZZ_SEED ?? 20261123);
const REGRESSION_SEEDS: number[] = [];
const POISON = new Uint8Array(4096).fill(0xaa);
const LINK_TYPES = [1, 1, 1, 0, 101, 108, 113, 228, 229, 276, 147];

// The generator's seeded Rng, as 32-bit draws: the same sequence everywhere for a seed.
function rng(seed: number): () => number {
  const random = new Rng(seed);
  return () => random.u32();
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
    ...tunnelled(udpFrame(INVITE)), ...linkLayers(udpFrame(INVITE).subarray(14)),
    udpFrame(INVITE.replace("sip:bob@", "sip:j\xc3\xbcrgen@")), udpFrame(sip(["SIP/2.0 999 X", "i: s", "CSeq: 1 X"])),
    ...mediaSeeds(),
  ];
}

// A call's SDP (plain, multipart, IPv6), then RTP with CSRCs, an extension and
// padding, and RTCP compounds, to its endpoints: mutations reach the media code.
function mediaSeeds(): Uint8Array[] {
  const a = { ip: "10.1.0.1", tag: "f1" }, b = { ip: "10.1.0.2", tag: "f2" };
  const invite = sipMessage("INVITE sip:b@10.1.0.2 SIP/2.0", "fuzz-media", "1 INVITE", a, { ip: b.ip, tag: "" },
    sdp(a.ip, 20000, ["a=rtcp:20011", "a=sendonly", "a=rtpmap:96 opus/48000/2"]));
  const multipart = sipMessage("SIP/2.0 200 OK", "fuzz-media", "1 INVITE", a, b,
    `--b1\r\nContent-Type: application/isup\r\n\r\n\x01\x02\r\n--b1\r\nContent-Type: application/sdp\r\n\r\n${sdp(b.ip, 30000)}\r\n--b1--\r\n`,
    "multipart/mixed;boundary=b1");
  const v6 = sipMessage("INVITE sip:b@x SIP/2.0", "fuzz-v6", "1 INVITE", a, { ip: b.ip, tag: "" }, sdp("2001:db8::7", 20002));
  const to = { src: b.ip, dst: a.ip, sport: 30000, dport: 20000 };
  const rtcp = concat(rtcpReceiverReport(1, 2, 30, 5, 400), rtcpReceiverReport(3, 4, 1, -1, 80));
  return [
    udpFrame(invite, { src: a.ip, dst: b.ip }), udpFrame(multipart, { src: b.ip, dst: a.ip }), udpFrame(v6, { src: a.ip, dst: b.ip }),
    udpFrame(rtpPacket({ pt: 0, seq: 1, ts: 160, ssrc: 9, csrcs: 3, extensionWords: 2, padding: 4 }), to),
    udpFrame(rtpPacket({ pt: 96, seq: 2, ts: 320, ssrc: 9, marker: true }), to),
    udpFrame(rtcp, { ...to, sport: 30001, dport: 20011 }),
    udpFrame(rtcp, to),
  ];
}

// The IP packet behind PPPoE (session 0x1234, PPP IPv4) and behind a two-label MPLS stack.
function linkLayers(ip: Uint8Array): Uint8Array[] {
  const pppoe = concat(Uint8Array.from([0x11, 0, 0x12, 0x34, (ip.length + 2) >> 8, (ip.length + 2) & 255, 0, 0x21]), ip);
  const mpls = concat(Uint8Array.from([0, 1, 0, 64, 0, 1, 1, 64]), ip);
  return [ethernet(0x8864, pppoe), ethernet(0x8847, mpls, [7])];
}

function tunnelled(inner: Uint8Array): Uint8Array[] {
  return [vxlan(inner), geneve(inner), gre(inner, { key: 1, sequence: 2 }), erspanII(inner), erspanIII(inner, 3, 0, true),
    ipInIp(inner), vxlan(gre(inner))];
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

// Interleaved TCP flows: SIP messages (some over WebSocket), keep-alives and
// junk cut into segments of random size, sent out of order, retransmitted,
// overlapping, lost, closed and reset; on a clock that moves forward (with
// jumps past the idle timeout), since flows live on capture time.
const TCP_LIMITS = { tcpFlows: 16, tcpBuffers: 6, tcpBufferBytes: 65536 + 16384, tcpIdle: 60, maxBody: 40000 };
const WS_UPGRADE = "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
const WS_REPLY = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

interface Side { stream: Buffer; sent: number; seq: number; held: Uint8Array[] }
interface Flow { client: string; server: string; sport: number; sides: [Side, Side] }

class TcpTraffic {
  private readonly flows: Flow[] = [];
  private clock = 1_800_000_000;
  private made = 0;
  constructor(private readonly next: () => number, private readonly messages: Uint8Array[]) {}

  frame(): { data: Uint8Array; sec: number } {
    const next = this.next;
    if (next() % 64 === 0) this.clock += next() % 2 === 0 ? 1 : 90;
    if (this.flows.length < 24 && (this.flows.length === 0 || next() % 40 === 0)) return this.open();
    const flow = this.flows[next() % this.flows.length];
    const d = next() % 2;
    const side = flow.sides[d];
    const o = d === 0 ? { src: flow.client, dst: flow.server, sport: flow.sport, dport: 5060 }
      : { src: flow.server, dst: flow.client, sport: 5060, dport: flow.sport };
    const roll = next() % 100;
    if (roll < 2) {
      this.flows.splice(this.flows.indexOf(flow), 1);
      return this.out(tcpFrame("", { ...o, seq: side.seq + side.sent, flags: roll === 0 ? TCP_RST : TCP_FIN }));
    }
    if (roll < 10 && side.held.length > 0) return this.out(side.held.splice(next() % side.held.length, 1)[0]);
    if (side.sent >= side.stream.length) this.refill(side, d);
    const at = roll < 16 && side.sent > 0 ? side.sent - 1 - (next() % Math.min(side.sent, 3000)) : side.sent;
    const len = 1 + (next() % (next() % 4 === 0 ? 9000 : 1460));
    const data = tcpFrame(side.stream.subarray(at, at + len), { ...o, seq: side.seq + at });
    side.sent = Math.max(side.sent, Math.min(side.stream.length, at + len));
    if (roll < 24) { side.held.push(data); return this.frame(); } // sent later: out of order
    if (roll < 26) return this.frame(); // lost
    return this.out(data);
  }

  private open(): { data: Uint8Array; sec: number } {
    const next = this.next;
    const n = this.made++;
    const v6 = next() % 5 === 0;
    const client = v6 ? `2001:db8::${(n % 65535).toString(16)}` : `10.${(n >> 8) & 255}.${n & 255}.1`;
    const flow: Flow = {
      client, server: v6 ? "2001:db8::5060" : "192.0.2.50", sport: 1024 + (n % 60000),
      sides: [{ stream: Buffer.alloc(0), sent: 0, seq: next(), held: [] }, { stream: Buffer.alloc(0), sent: 0, seq: next(), held: [] }],
    };
    if (next() % 6 === 0) {
      flow.sides[0].stream = Buffer.from(WS_UPGRADE);
      flow.sides[1].stream = Buffer.from(WS_REPLY);
    }
    this.flows.push(flow);
    if (next() % 2 === 0) return this.frame(); // picked up in the middle: no SYN
    const side = flow.sides[0];
    side.seq = (side.seq + 1) >>> 0;
    return this.out(tcpFrame("", { src: flow.client, dst: flow.server, sport: flow.sport, dport: 5060, seq: side.seq - 1, flags: TCP_SYN }));
  }

  // More bytes for a side: SIP messages, keep-alives, junk, or WebSocket frames after an upgrade.
  private refill(side: Side, d: number): void {
    const next = this.next;
    const parts: Uint8Array[] = [];
    const ws = side.stream.subarray(0, 4).toString() === (d === 0 ? "GET " : "HTTP");
    for (let i = 1 + (next() % 4); i > 0; i--) {
      const msg = this.messages[next() % this.messages.length];
      if (ws && next() % 64 === 0) parts.push(wsHeader(WS_FORMS[next() % 3], pick(HOSTILE_LENGTHS, next), next() % 2 === 0));
      else if (ws) parts.push(wsFrame(msg, d === 0 ? next() : undefined, next() % 4 === 0));
      else if (next() % 10 === 0) parts.push(Buffer.from(next() % 2 ? "\r\n\r\n" : "junk \x00\x01\r\n"));
      else parts.push(msg);
    }
    side.stream = Buffer.concat([side.stream, ...parts]);
  }

  private out(data: Uint8Array): { data: Uint8Array; sec: number } {
    return { data, sec: this.clock };
  }
}

// `wide`: the 64-bit length form even where a shorter one would do (RFC 6455 §5.2 allows it).
function wsFrame(payload: Uint8Array, mask: number | undefined, wide = false): Uint8Array {
  const head = [0x81];
  const m = mask === undefined ? 0 : 0x80;
  if (wide) head.push(m | 127, ...bigEndian(64, BigInt(payload.length)));
  else if (payload.length < 126) head.push(m | payload.length);
  else head.push(m | 126, payload.length >> 8, payload.length & 255);
  const body = Buffer.from(payload);
  if (mask !== undefined) {
    const key = [mask & 255, (mask >>> 8) & 255, (mask >>> 16) & 255, mask >>> 24];
    head.push(...key);
    for (let i = 0; i < body.length; i++) body[i] ^= key[i % 4];
  }
  return concat(Uint8Array.from(head), body);
}

// ---- lengths at and around every power of two ----

// 2^k-1, 2^k, 2^k+1 for k from 0 to `bits`, as a field of that width holds them.
function boundaries(bits: number): bigint[] {
  const mask = (1n << BigInt(bits)) - 1n;
  const values = new Set<bigint>();
  for (let k = 0n; k <= BigInt(bits); k++) for (const d of [-1n, 0n, 1n]) if ((1n << k) + d >= 0n) values.add(((1n << k) + d) & mask);
  return [...values];
}

// Lengths a hostile frame claims: the boundaries, and the top of the 64-bit range where sums wrap.
const HOSTILE_LENGTHS = [...boundaries(64), ...Array.from({ length: 64 }, (_, i) => 2n ** 64n - BigInt(i + 1))];

function pick<T>(list: T[], next: () => number): T {
  return list[next() % list.length];
}

function bigEndian(bits: number, value: bigint): number[] {
  return Array.from({ length: bits / 8 }, (_, i) => Number((value >> BigInt(bits - 8 - 8 * i)) & 255n));
}

// A WebSocket frame header of the given length form claiming `length`, masked or not, and a
// few payload bytes: 7 puts the length in the second byte itself (126 and 127 included).
const WS_FORMS = [7, 16, 64] as const;
function wsHeader(form: 7 | 16 | 64, length: bigint, masked: boolean): Uint8Array {
  const m = masked ? 0x80 : 0;
  const head = form === 7 ? [0x81, m | Number(length & 127n)]
    : form === 16 ? [0x81, m | 126, ...bigEndian(16, length & 0xffffn)]
    : [0x81, m | 127, ...bigEndian(64, length)];
  if (masked) head.push(0x5a, 0xa5, 0x0f, 0xf0);
  return concat(Uint8Array.from(head), Buffer.from("SIP/2.0 200 OK\r\n\r\n".repeat(4)));
}

// Every byte and byte pair of the seeds' headers (link, IP, UDP, TCP, tunnels) set to every
// 8- and 16-bit boundary: IHL, total and payload lengths, extension lengths, UDP length, TCP
// data offset, GRE flags, VXLAN and Geneve fields, ERSPAN headers wherever they sit.
const HEADER_BYTES = 110;
function headerSweep(): Uint8Array[] {
  const v6ext = ethernet(0x86dd, ipv6Packet(0, concat(Uint8Array.from(udpHeader(Buffer.from(INVITE), 5060, 5060)), Buffer.from(INVITE)),
    "2001:db8::1", "::2", Uint8Array.from([17, 0, 1, 4, 0, 0, 0, 0])));
  const seeds = [udpFrame(INVITE), udpFrame(INVITE, { vlans: [1, 2] }), udpFrame(INVITE, { src: "::1", dst: "fe80::1" }),
    udpFrame(INVITE, { ipOptions: 12 }), v6ext, tcpFrame(INVITE, { seq: 1 }), tcpFrame(INVITE, { src: "2001:db8::7", dst: "::9", seq: 1 }),
    ...tunnelled(udpFrame(INVITE)), vxlan(tcpFrame(INVITE, { seq: 1 })), ...linkLayers(udpFrame(INVITE).subarray(14))];
  const out: Uint8Array[] = [];
  for (const seed of seeds) {
    for (const bits of [8, 16]) {
      for (let at = 0; at + bits / 8 <= Math.min(seed.length, HEADER_BYTES); at++) {
        for (const v of boundaries(bits)) {
          const frame = Uint8Array.from(seed);
          frame.set(bigEndian(bits, v), at);
          out.push(frame);
        }
      }
    }
  }
  // TCP sequence and acknowledgement numbers (bytes 38 and 42 behind Ethernet and IPv4).
  for (const at of [38, 42]) {
    for (const v of boundaries(32)) {
      const frame = Uint8Array.from(seeds[5]);
      frame.set(bigEndian(32, v), at);
      out.push(frame);
    }
  }
  return out;
}

// The media seeds' SDP as sent, then each RTP and RTCP frame with every byte and byte pair of
// its RTP/RTCP part (from the UDP payload on: version, CSRC count, extension length, RTCP
// lengths and report counts) at each 8- and 16-bit boundary, so the lengths reach the media code.
const UDP_PAYLOAD = 14 + 20 + 8;
function mediaSweep(): Uint8Array[] {
  const seeds = mediaSeeds();
  const signalling = seeds.slice(0, 3);
  const out: Uint8Array[] = [...signalling];
  for (const seed of seeds.slice(3)) {
    for (const bits of [8, 16]) {
      for (let at = UDP_PAYLOAD; at + bits / 8 <= seed.length; at++) {
        for (const v of boundaries(bits)) {
          const frame = Uint8Array.from(seed);
          frame.set(bigEndian(bits, v), at);
          out.push(frame);
        }
      }
    }
  }
  return out;
}

// Streams on their own connections: a WebSocket upgrade, a valid message, then a frame header
// of each length form claiming each boundary length; and SIP messages claiming each boundary
// Content-Length (to 2^64 and past it in decimal), on TCP whole and cut, and on UDP.
function streamSweep(): Uint8Array[] {
  const out: Uint8Array[] = [];
  let port = 20000;
  const stream = (bytes: Uint8Array, cuts: number[]): void => {
    const o = { src: "10.9.0.1", dst: "192.0.2.9", sport: port++, dport: 5060 };
    out.push(tcpFrame("", { ...o, seq: 0xfffffff0, flags: TCP_SYN }));
    let at = 0;
    for (const end of [...cuts, bytes.length]) {
      out.push(tcpFrame(bytes.subarray(at, end), { ...o, seq: (0xfffffff1 + at) >>> 0 }));
      at = end;
    }
  };
  const valid = wsFrame(Buffer.from(INVITE), 0x01020304);
  for (const form of WS_FORMS) {
    for (const length of boundaries(form)) {
      for (const masked of [false, true]) {
        const upgrade = Buffer.from(WS_UPGRADE);
        stream(concat(upgrade, valid, wsHeader(form, length, masked), valid), [upgrade.length + valid.length + 3]);
      }
    }
  }
  const claims = [...boundaries(64).map(String), String(2n ** 64n), String(2n ** 64n + 1n), "1" + "0".repeat(40)];
  for (const claim of claims) {
    const msg = Buffer.from(sip(["MESSAGE sip:a SIP/2.0", "i: clen", "CSeq: 1 MESSAGE", `Content-Length: ${claim}`], "body"));
    const bytes = concat(msg, Buffer.from(INVITE));
    stream(bytes, []);
    stream(bytes, [msg.length - 6]);
    out.push(udpFrame(bytes));
  }
  return out;
}

// Fragment trains: UDP SIP datagrams over IPv4 and IPv6, some inside VXLAN or
// GRE, cut into fragments of 8 to 512 bytes sent slightly out of order, some
// twice, some overlapping with other bytes, some lost; on a forward clock with
// jumps past the timeout, since reassembly runs on capture time. A small table
// so that eviction happens.
const DEFRAG_LIMITS = { defragSlots: 8, defragTimeout: 30 };

class FragmentTraffic {
  private readonly pending: Uint8Array[] = [];
  private clock = 1_800_000_000;
  private id = 0;
  constructor(private readonly next: () => number, private readonly messages: Uint8Array[]) {}

  frame(): { data: Uint8Array; sec: number } {
    const next = this.next;
    if (next() % 128 === 0) this.clock += next() % 2 === 0 ? 1 : 45;
    if (this.pending.length === 0 || next() % 12 === 0) this.train();
    return { data: this.pending.splice(next() % Math.min(this.pending.length, 4), 1)[0], sec: this.clock };
  }

  private train(): void {
    const next = this.next;
    const id = ++this.id;
    const datagram = udpDatagram(this.messages[next() % this.messages.length]);
    const v6 = next() % 3 === 0;
    const wrap = next() % 6;
    const fragment = (l4: Uint8Array, offset: number, length: number, more?: boolean): Uint8Array => {
      const piece = { offset, length, more };
      const frame = v6 ? ipv6Fragment(l4, piece, id, 17, "2001:db8::f", "2001:db8::9")
        : ipv4Fragment(l4, piece, id & 0xffff, `10.2.${id & 255}.1`, "192.0.2.9");
      return wrap === 0 ? vxlan(frame, id & 0xffffff) : wrap === 1 ? gre(frame, { key: id }) : frame;
    };
    for (const p of pieces(datagram.length, 8 * (1 + (next() % 64)))) {
      const roll = next() % 100;
      if (roll < 3) continue; // lost
      if (roll < 6 && p.offset >= 8) {
        const other = Uint8Array.from(datagram);
        other[p.offset - 1] ^= 0xff;
        this.pending.push(fragment(other, p.offset - 8, p.length + 8));
        continue;
      }
      this.pending.push(fragment(datagram, p.offset, p.length));
      if (roll < 10) this.pending.push(fragment(datagram, p.offset, p.length));
    }
  }
}

// Envelopes and records are hashed apart, so batch boundaries do not matter. The core's call
// tracker runs on every batch too, its events hashed apart: those do depend on batching (a call's
// media figures are taken per batch, as the JavaScript tracker takes them), so only cores that
// batch alike are compared on them; a trap in the tracker fails the run.
class Digest {
  private readonly envelopes: Hash = createHash("sha256");
  private readonly ids: Hash = createHash("sha256");
  private readonly records: Hash = createHash("sha256");
  private readonly events: Hash = createHash("sha256");
  private readonly framing: Hash = createHash("sha256");
  messages = 0;
  tracked = 0;
  readonly take = (batch: MessageBatch): void => {
    this.track(batch);
    this.envelopes.update(batch.ndjson());
    for (let i = 0; i < batch.count; i++) {
      const m = batch.message(i);
      const spans = Array.from({ length: L.SPAN_COUNT }, (_, s) => m.span(s).join(",")).join(";");
      this.ids.update(`${m.id}\n`);
      this.records.update(`${m.status} ${m.cseq} ${m.expires} ${m.contentLength} ${m.headerCount} ${m.problems} ${spans}\n`);
      this.framing.update(`${m.callId} ${m.contentLength} ${m.size}\n`);
      this.messages++;
    }
  };
  private track(batch: MessageBatch): void {
    const tracker = batch.coreTracker;
    if (tracker === undefined) return;
    tracker.track(batch.count, batch.mediaEndCount, (lines) => {
      this.tracked++;
      lines.rewind();
      if (lines.describedType === "counters") this.events.update(`counters ${lines.describedSequence}\n`);
      else if (lines.appendDescribed()) this.events.update(lines.memory.subarray(lines.start, lines.end));
      else this.events.update(`${lines.describedType} not rendered\n`);
    });
    if (tracker.failed !== undefined) throw new Error(`the core's tracker trapped: ${tracker.failed.message}`);
  }

  private finalEnvelopes: string | undefined;
  private envelopesValue(): string {
    this.finalEnvelopes ??= `${this.envelopes.digest("hex")} ${this.ids.digest("hex")}`;
    return this.finalEnvelopes;
  }

  value(): string {
    return `${this.envelopesValue()} ${this.recordsValue()}`;
  }

  // The envelopes and what frames each message (its Call-ID, Content-Length and size): all a core
  // indexing only those fields must give as the others do.
  private finalFraming: string | undefined;
  framingValue(): string {
    this.finalFraming ??= `${this.envelopesValue()} ${this.framing.digest("hex")}`;
    return this.finalFraming;
  }

  private finalRecords: string | undefined;
  recordsValue(): string {
    this.finalRecords ??= this.records.digest("hex");
    return this.finalRecords;
  }

  private finalEvents: string | undefined;
  eventsValue(): string {
    this.finalEvents ??= this.events.digest("hex");
    return this.finalEvents;
  }
}

// The cores and their digests (the bare one's records must be the reference's; the lean one, which
// follows nothing and indexes only Call-ID and Content-Length, must frame as the plain one, which
// follows nothing either); a trap in any of them fails the run at once.
class Cores {
  readonly reference = new Digest();
  readonly isolated = new Digest();
  readonly scalar = new Digest();
  readonly bare = new Digest();
  readonly plain = new Digest();
  readonly lean = new Digest();
  readonly cores: { reference: Core; isolated: Core; scalar: Core; bare: Core; plain: Core; lean: Core };
  readonly memoryAfterConfigure: number[];
  fed = 0;

  constructor(limits: Partial<CoreOptions>) {
    const onTrap = (t: CoreTrap): never => {
      throw new Error(`the core trapped (${t.error}) on a ${t.frame.data.length}-byte frame`);
    };
    const tracker = { ...defaultSettings(), maxCalls: 64, maxBindings: 32, maxTransactions: 64, countersSeconds: 30, observer: "fuzz" };
    const options = { sensor: "fuzz", agent: "fuzz", onTrap, tracker, ...limits };
    // After the limits, so that none of them turns on what would make the lean core index every field.
    const nothingFollowed = { ...options, tracker: undefined, mediaCalls: 0, dialogSpans: false, callKeys: false };
    this.cores = {
      reference: new Core(options, this.reference.take),
      isolated: new Core(options, this.isolated.take),
      scalar: new Core({ ...options, build: "scalar" }, this.scalar.take),
      bare: new Core({ ...options, renderJson: false }, this.bare.take),
      plain: new Core(nothingFollowed, this.plain.take),
      lean: new Core({ ...nothingFollowed, allFields: false }, this.lean.take),
    };
    this.memoryAfterConfigure = Object.values(this.cores).map((c) => c.memoryBytes);
  }

  feed(data: Uint8Array, linkType: number, origLen: number, sec: number, nsec: number): void {
    const { reference, isolated, scalar, bare, plain, lean } = this.cores;
    for (const core of [reference, scalar, bare, plain, lean]) core.frame(data, 0, data.length, origLen, linkType, sec, nsec, 0);
    isolated.frame(data, 0, data.length, origLen, linkType, sec, nsec, 0);
    isolated.flush();
    isolated.frame(POISON, 0, POISON.length, POISON.length, 1, 0, 0, 0);
    isolated.flush();
    this.fed++;
  }

  // The cores agree, none trapped, memory did not grow; the reference's counters.
  check(context: string): Record<string, number> {
    for (const core of [this.cores.reference, this.cores.scalar, this.cores.bare, this.cores.plain, this.cores.lean]) core.flush();
    assert.is(this.isolated.value(), this.reference.value(), `${context}: output depends on bytes after the frame`);
    assert.is(this.scalar.value(), this.reference.value(), `${context}: the scalar build differs from the SIMD build`);
    assert.is(this.scalar.eventsValue(), this.reference.eventsValue(), `${context}: the scalar build's tracker differs from the SIMD build's`);
    assert.equal(countersWithout(this.cores.isolated, this.fed), this.cores.reference.counters(), context);
    assert.equal(this.cores.scalar.counters(), this.cores.reference.counters(), context);
    assert.is(this.bare.recordsValue(), this.reference.recordsValue(), `${context}: the records differ without envelopes`);
    assert.equal(this.cores.bare.counters(), this.cores.reference.counters(), `${context}: counters without envelopes`);
    assert.ok(this.plain.messages > 0, `${context}: the plain core found no message`);
    assert.is(this.lean.framingValue(), this.plain.framingValue(), `${context}: envelopes or framing differ with Call-ID and Content-Length alone`);
    assert.equal(this.cores.lean.counters(), this.cores.plain.counters(), `${context}: counters with Call-ID and Content-Length alone`);
    assert.equal(Object.values(this.cores).map((c) => c.memoryBytes), this.memoryAfterConfigure, `${context}: memory grew`);
    const c = this.cores.reference.counters();
    assert.is(c.core_traps, 0, `${context}: traps`);
    return c;
  }
}

function countersWithout(core: Core, poisonFrames: number): Record<string, number> {
  const c = core.counters();
  c.frames -= poisonFrames;
  c.bytes -= poisonFrames * POISON.length;
  c.not_ip -= poisonFrames; // ethertype 0xaaaa
  return c;
}

function fuzz(seed: number, frames: number): void {
  const next = rng(seed);
  const corpus = seedFrames();
  const traffic = new TcpTraffic(next, [
    Buffer.from(INVITE), Buffer.from(sip(["SIP/2.0 200 OK", "i: x", "CSeq: 1 INVITE", "l: 0"])),
    Buffer.from(sip(["MESSAGE sip:a SIP/2.0", "i: big", "CSeq: 2 MESSAGE", "Content-Length: 20000"], "b".repeat(20000))),
    Buffer.from(sip(["MESSAGE sip:a SIP/2.0", "i: lie", "CSeq: 4 MESSAGE", "Content-Length: 99999999"], "short\r\n")),
    ...readdirSync("fixtures/torture/rfc4475").slice(0, 8).map((f) => readFileSync(`fixtures/torture/rfc4475/${f}`)),
  ]);
  const fragments = new FragmentTraffic(next, [Buffer.from(INVITE), Buffer.from(sip(["MESSAGE sip:a SIP/2.0", "i: f",
    "CSeq: 3 MESSAGE", "Content-Length: 3000"], "f".repeat(3000)))]);
  const cores = new Cores({ ...TCP_LIMITS, ...DEFRAG_LIMITS });
  for (let n = 0; n < frames; n++) {
    // TCP flows and fragment trains run on their own clocks; other frames get any time.
    const timed = next() % 3 === 0 ? traffic.frame() : next() % 5 === 0 ? fragments.frame() : undefined;
    // A timed frame is now and then cut as a snap length cuts it: its IP header says more than it holds.
    const snapped = timed !== undefined && next() % 16 === 0;
    const data = timed ? (snapped ? timed.data.subarray(0, 14 + next() % Math.max(1, timed.data.length - 14))
      : next() % 16 === 0 ? mutate(timed.data, next) : timed.data)
      : next() % 4 === 0 ? randomFrame(next) : mutate(corpus[next() % corpus.length], next);
    const linkType = !timed && next() % 8 === 0 ? LINK_TYPES[next() % LINK_TYPES.length] : 1;
    const origLen = snapped ? timed.data.length : data.length + (next() % 16 === 0 ? next() % 100 : 0);
    const sec = timed ? timed.sec : next() % 4_000_000_000, nsec = next() % 1_000_000_000;
    try {
      cores.feed(data, linkType, origLen, sec, nsec);
    } catch (err) {
      throw new Error(`fuzz seed ${seed}, frame ${n}: ${(err as Error).message}`);
    }
  }
  const context = `fuzz seed ${seed} (${frames} frames)`;
  const c = cores.check(context);
  assert.ok(cores.reference.messages > frames / 10, `${context}: too few messages decoded (${cores.reference.messages}) to mean anything`);
  assert.ok(cores.reference.tracked > frames / 100, `${context}: the core's tracker gave only ${cores.reference.tracked} events`);
  for (const name of ["sip_tcp", "sip_ws", "tcp_out_of_order", "tcp_retransmit", "tcp_gap", "tcp_resync", "tcp_closed", "tcp_idle", "tcp_evicted", "tcp_buffer_evicted", "tcp_partial_idle", "tcp_clen_over", "tcp_clen_unmet", "truncated", "no_empty_line"]) {
    assert.ok(c[name] > 0, `${context}: the TCP traffic never reached ${name}`);
  }
  for (const name of ["defrag_done", "defrag_duplicate", "defrag_overlap", "defrag_timeout", "defrag_evicted",
    "tunnel_vxlan", "tunnel_geneve", "tunnel_gre", "tunnel_erspan", "tunnel_ip", "pppoe", "mpls", "uri_not_ascii",
    "status_range"]) {
    assert.ok(c[name] > 0, `${context}: the fragment trains and seeds never reached ${name}`);
  }
}

test("length fields at and around every power of two, through four cores", () => {
  const cores = new Cores({ ...TCP_LIMITS, ...DEFRAG_LIMITS });
  const frames = [...headerSweep(), ...streamSweep(), ...mediaSweep()];
  frames.forEach((data, n) => {
    try {
      cores.feed(data, 1, data.length, 1_800_000_000 + (n >> 10), n);
    } catch (err) {
      throw new Error(`length sweep, frame ${n}: ${(err as Error).message}`);
    }
  });
  const c = cores.check(`length sweep (${frames.length} frames)`);
  for (const name of ["ws_bad", "sip_ws", "tcp_too_long", "frame_malformed", "ipv4", "ipv6", "tunnel_vxlan",
    "tunnel_geneve", "tunnel_gre", "tunnel_erspan", "tunnel_ip", "sdp", "rtp", "rtcp", "media_malformed"]) {
    assert.ok(c[name] > 0, `the length sweep never reached ${name}`);
  }
});

// A capture time is 64 bits of seconds from a pcapng (ticks and an if_tsoffset) and 32 of
// nanoseconds: at and around 2^31, 2^32, 2^53 and 2^63 either way, and the clamp's own ends,
// every seed frame goes through the four cores, which must agree and not trap.
test("capture times at and around every power of two that bounds them, through four cores", () => {
  const cores = new Cores({ ...TCP_LIMITS, ...DEFRAG_LIMITS });
  const seconds = [2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63, 9007199253, 9007199254].flatMap((p) => [p - 1, p, p + 1, -p - 1, -p, -p + 1]);
  const nanoseconds = [0, 999_999_999, 1_000_000_000, 2 ** 32 - 1];
  const corpus = seedFrames();
  let n = 0;
  for (const sec of seconds) {
    for (const nsec of nanoseconds) {
      const data = corpus[n++ % corpus.length];
      cores.feed(data, 1, data.length, sec, nsec);
    }
  }
  const c = cores.check(`capture-time sweep (${n} frames)`);
  assert.ok(c.time_clamped > 0 && c.time_clamped < n, `${c.time_clamped} of ${n} clamped`);
});

for (const seed of REGRESSION_SEEDS) {
  test(`fuzz regression seed ${seed}`, () => fuzz(seed, 5000));
}

test(`fuzz: ${FRAMES} seeded frames (seed ${SEED}) through four cores`, () => {
  fuzz(SEED, FRAMES);
});

test.run();
