// Deterministic SIP workload generator. The pcap it writes is a pure function of
// (seed, options): every random choice comes from one seeded PRNG, timestamps from a fixed
// epoch, and no clock, environment or Math.random is read. Beside the pcap it reports the
// truth: what it put in, counted as it was written, for tests and the benchmark to check.

import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { parseArgs } from "node:util";

// ---------------------------------------------------------------- options

export interface WorkloadOptions {
  seed: number;
  /** Stop starting scenarios once this many SIP messages are planned (wins over calls). */
  messages: number | undefined;
  /** Stop starting scenarios once this many calls (INVITE dialogs) are planned. */
  calls: number | undefined;
  /** RTP packets sent in each direction of an answered call, 20 ms apart. */
  rtpPacketsPerDirection: number;
  /** Mean rate at which scenarios (calls, registrations, noise ...) start. */
  scenariosPerSecond: number;
  /** Mean call duration from answer to BYE. */
  meanCallSeconds: number;
  ipv6Share: number;
  compactHeaderShare: number;
  randomCaseShare: number;
  /** SIP over TCP instead of UDP: segments cut at random places, some out of order or sent twice. */
  tcp: boolean;
  /** IP MTU: UDP packets longer than this are sent as IPv4 or IPv6 fragments (0: never). */
  mtu: number;
  /** Every frame wrapped in a tunnel between two fixed IPv4 endpoints. */
  tunnel: "none" | "vxlan" | "gre";
}

export const DEFAULT_MESSAGES = 160_000;

export function workloadOptions(overrides: Partial<WorkloadOptions>): WorkloadOptions {
  const options: WorkloadOptions = {
    seed: 1,
    messages: undefined,
    calls: undefined,
    rtpPacketsPerDirection: 10,
    scenariosPerSecond: 80,
    meanCallSeconds: 30,
    ipv6Share: 0.1,
    compactHeaderShare: 0.2,
    randomCaseShare: 0.1,
    tcp: false,
    mtu: 0,
    tunnel: "none",
    ...overrides,
  };
  if (options.messages === undefined && options.calls === undefined) options.messages = DEFAULT_MESSAGES;
  return options;
}

// Capture time zero: 2026-11-22T10:00:00Z, in microseconds.
const EPOCH_US = Date.UTC(2026, 10, 22, 10, 0, 0) * 1000;

// ---------------------------------------------------------------- PRNG

/** xoshiro128** seeded through splitmix32: small, fast, and identical on every platform. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const splitmix32 = (): number => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = splitmix32();
    this.s1 = splitmix32();
    this.s2 = splitmix32();
    this.s3 = splitmix32();
  }

  u32(): number {
    const result = Math.imul(rotateLeft(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const shifted = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= shifted;
    this.s3 = rotateLeft(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [low, high]. */
  between(low: number, high: number): number {
    return low + this.below(high - low + 1);
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  weighted<T>(entries: readonly (readonly [T, number])[]): T {
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    let point = this.float() * total;
    for (const [value, weight] of entries) {
      point -= weight;
      if (point < 0) return value;
    }
    const last = entries[entries.length - 1];
    if (last === undefined) throw new Error("weighted pick from an empty list");
    return last[0];
  }

  exponential(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  hex(length: number): string {
    let text = "";
    while (text.length < length) {
      const word = this.u32();
      text += (HEX_PAIRS[word >>> 24] ?? "") + (HEX_PAIRS[(word >>> 16) & 0xff] ?? "") + (HEX_PAIRS[(word >>> 8) & 0xff] ?? "") + (HEX_PAIRS[word & 0xff] ?? "");
    }
    return text.length === length ? text : text.slice(0, length);
  }

  fill(bytes: Buffer): void {
    let offset = 0;
    for (; offset + 4 <= bytes.length; offset += 4) bytes.writeUInt32BE(this.u32(), offset);
    for (; offset < bytes.length; offset++) bytes[offset] = this.below(256);
  }

  /** An independent stream, so a scenario's lazily built packets don't shift anyone else's. */
  fork(): Rng {
    return new Rng(this.u32());
  }
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

// ---------------------------------------------------------------- hosts and users

interface IpAddress {
  version: 4 | 6;
  bytes: Uint8Array;
  text: string;
  /** Sum of the address's 16-bit words, its share of every pseudo-header checksum. */
  wordSum: number;
}

function wordSum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.byteLength; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  return sum;
}

interface Host {
  ip: IpAddress;
  mac: Uint8Array;
  sipPort: number;
  /** 802.1Q tags on this host's access link, outermost first. */
  vlans: readonly number[];
  agent: string;
  nextIpId: number;
}

interface Registration {
  callId: string;
  nextCseq: number;
  registered: boolean;
  busyUntilUs: number;
}

interface User {
  name: string;
  display: string;
  domain: string;
  phone: Host;
  registrar: Host;
  registration: Registration;
}

interface Family {
  version: 4 | 6;
  domain: string;
  proxies: Host[];
  phones: Host[];
  users: User[];
  dnsServer: Host;
  webServers: Host[];
}

interface World {
  ipv4: Family;
  ipv6: Family;
}

const PHONE_AGENTS = [
  "Yealink SIP-T46U 108.86.0.20",
  "Grandstream GXP2170 1.0.11.23",
  "Linphone/5.2.0 (belle-sip/5.2.0)",
  "Zoiper rv2.10.19.6",
  "Cisco-CP8845/14.2.1",
  "PolycomVVX-VVX_450-UA/6.4.3.5018",
];
const PROXY_AGENTS = [
  "Asterisk PBX 20.5.0",
  "FreeSWITCH-mod_sofia/1.10.11-release",
  "kamailio (5.7.4 (x86_64/linux))",
  "OpenSIPS (3.4.3 (x86_64/linux))",
];
const FIRST_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "olivia", "peggy", "trent", "victor", "walter"];
// Display names beyond ASCII, so byte and character counts differ.
const UTF8_DISPLAY_NAMES = ["José García", "Zoë Müller", "Łukasz Żak", "Søren Ødegård", "Ana Conceição", "田中 太郎"];

function ipv4(a: number, b: number, c: number, d: number): IpAddress {
  const bytes = Uint8Array.of(a, b, c, d);
  return { version: 4, bytes, text: `${a}.${b}.${c}.${d}`, wordSum: wordSum(bytes) };
}

/** 2001:db8:<site>::<iface>, with site and iface non-zero so the text form is canonical. */
function ipv6(site: number, iface: number): IpAddress {
  const bytes = new Uint8Array(16);
  bytes.set([0x20, 0x01, 0x0d, 0xb8, site >> 8, site & 0xff]);
  bytes[14] = iface >> 8;
  bytes[15] = iface & 0xff;
  return { version: 6, bytes, text: `2001:db8:${site.toString(16)}::${iface.toString(16)}`, wordSum: wordSum(bytes) };
}

type HostMaker = (ip: IpAddress, sipPort: number, vlans: readonly number[], agent: string) => Host;

/** Hosts numbered in creation order, which gives each a distinct locally administered MAC. */
function hostMaker(): HostMaker {
  let count = 0;
  return (ip, sipPort, vlans, agent) => {
    count++;
    const mac = Uint8Array.of(0x02, 0x53, (count >> 16) & 0xff, (count >> 8) & 0xff, count & 0xff, ip.version);
    return { ip, mac, sipPort, vlans, agent, nextIpId: count * 977 };
  };
}

// A share of access links carry one VLAN tag and a few two (QinQ): chosen by index, so even a
// small world has both.
function accessVlans(index: number): readonly number[] {
  if (index % 17 === 5) return [300, 10 + (index % 8)];
  if (index % 6 === 1) return [100 + (index % 4)];
  return [];
}

function phoneSipPort(rng: Rng): number {
  return rng.weighted<number>([
    [5060, 80],
    [5062, 15],
    [rng.between(40000, 48999), 5], // below the noise clients' ephemeral ports
  ]);
}

function buildFamily(rng: Rng, makeHost: HostMaker, version: 4 | 6, phoneCount: number, usersPerPhone: number): Family {
  const address = (site: number, index: number): IpAddress =>
    version === 4 ? ipv4(site === 1 ? 192 : 10, site === 1 ? 0 : 20, site === 1 ? 2 : index >> 8, index & 0xff) : ipv6(site, index);
  const proxyCount = version === 4 ? 3 : 1;
  const proxies = Array.from({ length: proxyCount }, (_, i) => makeHost(address(1, 10 + i), 5060, [], rng.pick(PROXY_AGENTS)));
  const phones = Array.from({ length: phoneCount }, (_, i) =>
    makeHost(address(2, 266 + i), phoneSipPort(rng), accessVlans(i), rng.pick(PHONE_AGENTS)),
  );
  const domain = version === 4 ? "pbx.example.com" : "v6.example.net";
  const users = phones.flatMap((phone, phoneIndex) =>
    Array.from({ length: usersPerPhone }, (_, line) => makeUser(rng, phoneIndex * usersPerPhone + line, domain, phone, rng.pick(proxies))),
  );
  const webServers = Array.from({ length: 4 }, (_, i) =>
    makeHost(version === 4 ? ipv4(203, 0, 113, 20 + i) : ipv6(0x99, 0x20 + i), 0, [], ""),
  );
  const dnsServer = makeHost(version === 4 ? ipv4(192, 0, 2, 53) : ipv6(1, 0x53), 0, [], "");
  return { version, domain, proxies, phones, users, dnsServer, webServers };
}

function makeUser(rng: Rng, index: number, domain: string, phone: Host, registrar: Host): User {
  const first = FIRST_NAMES[index % FIRST_NAMES.length] ?? "user";
  const extension = 2000 + index;
  const name = rng.chance(0.5) ? String(extension) : `${first}.${extension}`;
  const display = rng.chance(0.1) ? rng.pick(UTF8_DISPLAY_NAMES) : `${first[0]?.toUpperCase()}${first.slice(1)} ${extension}`;
  const registration = { callId: `${rng.hex(20)}@${hostInUri(phone.ip)}`, nextCseq: rng.between(1, 200), registered: false, busyUntilUs: 0 };
  return { name, display, domain, phone, registrar, registration };
}

function buildWorld(rng: Rng): World {
  const makeHost = hostMaker();
  return { ipv4: buildFamily(rng, makeHost, 4, 120, 3), ipv6: buildFamily(rng, makeHost, 6, 24, 2) };
}

// ---------------------------------------------------------------- pcap file

const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 65535;
const WRITE_CHUNK_BYTES = 1 << 20;
const RECORD_HEADER_BYTES = 16;

/** Streams records to a file through one buffer; frames are written straight into it. */
class PcapWriter implements FrameBytes {
  mtu = 0;
  tunnel: WorkloadOptions["tunnel"] = "none";
  nextFragmentId = 1;   // IPv6 fragment identification
  packets = 0;
  fileBytes = 0;
  readonly bytes = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  readonly view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  private used = 0;

  constructor(private readonly fd: number) {
    this.bytes.fill(0, 0, 24);
    this.view.setUint32(0, PCAP_MAGIC_MICROSECONDS, true);
    this.view.setUint16(4, 2, true);
    this.view.setUint16(6, 4, true);
    this.view.setUint32(16, SNAPLEN, true);
    this.view.setUint32(20, LINKTYPE_ETHERNET, true);
    this.used = 24;
    this.fileBytes = 24;
  }

  /** Starts a record of frameLength bytes at timeUs; returns where in `bytes` the frame goes. */
  beginRecord(timeUs: number, frameLength: number): number {
    if (this.used + RECORD_HEADER_BYTES + frameLength > this.bytes.byteLength) this.flush();
    const absoluteUs = EPOCH_US + timeUs;
    const seconds = Math.floor(absoluteUs / 1e6);
    const at = this.used;
    this.view.setUint32(at, seconds, true);
    this.view.setUint32(at + 4, absoluteUs - seconds * 1e6, true);
    this.view.setUint32(at + 8, frameLength, true);
    this.view.setUint32(at + 12, frameLength, true);
    this.used += RECORD_HEADER_BYTES + frameLength;
    this.fileBytes += RECORD_HEADER_BYTES + frameLength;
    this.packets++;
    return at + RECORD_HEADER_BYTES;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private flush(): void {
    let written = 0;
    while (written < this.used) written += writeSync(this.fd, this.bytes, written, this.used - written);
    this.used = 0;
  }
}

// ---------------------------------------------------------------- frames

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_ARP = 0x0806;
const TPID_8021Q = 0x8100;
const TPID_8021AD = 0x88a8;
const PROTOCOL_ICMP = 1;
const PROTOCOL_TCP = 6;
const PROTOCOL_UDP = 17;
const TOS_SIGNALLING = 0x60; // DSCP CS3
const TOS_MEDIA = 0xb8; // DSCP EF
const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

interface Endpoint {
  host: Host;
  port: number;
}

export interface Flow {
  src: Endpoint;
  dst: Endpoint;
  vlans: readonly number[];
}

function reverse(flow: Flow): Flow {
  return { src: flow.dst, dst: flow.src, vlans: flow.vlans };
}

/**
 * Internet checksum sum over bytes [start, end) of view. Adding 32-bit words and folding later
 * gives the same ones' complement result as adding 16-bit words, in half the steps.
 */
function onesComplementSum(view: DataView, start: number, end: number, initial: number): number {
  let sum = initial;
  let i = start;
  for (; i + 4 <= end; i += 4) sum += view.getUint32(i);
  if (i + 2 <= end) {
    sum += view.getUint16(i);
    i += 2;
  }
  if (i < end) sum += view.getUint8(i) << 8;
  return sum;
}

function foldChecksum(sum: number): number {
  let folded = sum;
  while (folded > 0xffff) folded = (folded % 0x10000) + Math.floor(folded / 0x10000);
  return ~folded & 0xffff;
}

/** A transport-layer segment: its header (checksum field zero) and payload. */
interface Segment {
  protocol: number;
  header: Uint8Array;
  payload: Uint8Array;
  checksumOffset: number;
}

// Frames are written in place into the writer's buffer: `bytes` for copies, `view` for fields.
interface FrameBytes {
  bytes: Buffer;
  view: DataView;
}

function writeEthernetHeader(out: FrameBytes, at: number, dst: Uint8Array, src: Uint8Array, vlans: readonly number[], etherType: number): number {
  const { bytes, view } = out;
  bytes.set(dst, at);
  bytes.set(src, at + 6);
  let offset = at + 12;
  for (let index = 0; index < vlans.length; index++) {
    const outerOfTwo = index === 0 && vlans.length > 1;
    view.setUint16(offset, outerOfTwo ? TPID_8021AD : TPID_8021Q);
    view.setUint16(offset + 2, vlans[index] ?? 0);
    offset += 4;
  }
  view.setUint16(offset, etherType);
  return offset + 2;
}

function writeIpv4Header(out: FrameBytes, at: number, src: Host, dst: IpAddress, protocol: number, tos: number, payloadLength: number): number {
  const { bytes, view } = out;
  view.setUint8(at, 0x45);
  view.setUint8(at + 1, tos);
  view.setUint16(at + 2, 20 + payloadLength);
  view.setUint16(at + 4, src.nextIpId++ & 0xffff);
  view.setUint16(at + 6, 0x4000); // don't fragment
  view.setUint8(at + 8, 64);
  view.setUint8(at + 9, protocol);
  view.setUint16(at + 10, 0);
  bytes.set(src.ip.bytes, at + 12);
  bytes.set(dst.bytes, at + 16);
  view.setUint16(at + 10, foldChecksum(onesComplementSum(view, at, at + 20, 0)));
  return at + 20;
}

function writeIpv6Header(out: FrameBytes, at: number, src: IpAddress, dst: IpAddress, nextHeader: number, trafficClass: number, payloadLength: number): number {
  const { bytes, view } = out;
  view.setUint32(at, (0x60000000 | (trafficClass << 20)) >>> 0);
  view.setUint16(at + 4, payloadLength);
  view.setUint8(at + 6, nextHeader);
  view.setUint8(at + 7, 64);
  bytes.set(src.bytes, at + 8);
  bytes.set(dst.bytes, at + 24);
  return at + 40;
}

function writeIpFrame(out: PcapWriter, timeUs: number, flow: Flow, tos: number, segment: Segment): void {
  if (out.mtu > 0 || out.tunnel !== "none") {
    writeIpPackets(out, timeUs, flow, tos, segment);
    return;
  }
  const src = flow.src.host;
  const dst = flow.dst.host;
  const v4 = src.ip.version === 4;
  const segmentLength = segment.header.byteLength + segment.payload.byteLength;
  const frameLength = 14 + 4 * flow.vlans.length + (v4 ? 20 : 40) + segmentLength;
  let at = out.beginRecord(timeUs, frameLength);
  at = writeEthernetHeader(out, at, dst.mac, src.mac, flow.vlans, v4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  at = v4
    ? writeIpv4Header(out, at, src, dst.ip, segment.protocol, tos, segmentLength)
    : writeIpv6Header(out, at, src.ip, dst.ip, segment.protocol, tos, segmentLength);
  out.bytes.set(segment.header, at);
  out.bytes.set(segment.payload, at + segment.header.byteLength);
  // ICMPv4 sums only its own message; UDP and TCP add the IP pseudo-header.
  const pseudoHeader = segment.protocol === PROTOCOL_ICMP ? 0 : src.ip.wordSum + dst.ip.wordSum + segment.protocol + segmentLength;
  const checksum = foldChecksum(onesComplementSum(out.view, at, at + segmentLength, pseudoHeader));
  // A computed zero is sent as all ones: zero means "no checksum" in UDP.
  out.view.setUint16(at + segment.checksumOffset, checksum === 0 && segment.protocol === PROTOCOL_UDP ? 0xffff : checksum);
}

// ---------------------------------------------------------------- fragments and tunnels

const PROTOCOL_GRE = 47;
const IPV6_FRAGMENT = 44;
const VXLAN_PORT = 4789;
const GRE_KEY_PRESENT = 0x2000;
const ETHERTYPE_BRIDGING = 0x6558;
const TUNNEL_VNI = 5060;
const TUNNEL_SRC = Uint8Array.of(10, 255, 0, 1);
const TUNNEL_DST = Uint8Array.of(10, 255, 0, 2);
const TUNNEL_MAC_SRC = Uint8Array.of(0x02, 0, 0, 0xff, 0, 1);
const TUNNEL_MAC_DST = Uint8Array.of(0x02, 0, 0, 0xff, 0, 2);

/**
 * The slow path of writeIpFrame, for --mtu and --tunnel: the transport segment is built whole
 * (checksum over the whole datagram), then sent as one IP packet or as fragments of at most
 * out.mtu bytes each, in order, every fragment delivered: the truth stays the messages written.
 */
function writeIpPackets(out: PcapWriter, timeUs: number, flow: Flow, tos: number, segment: Segment): void {
  const src = flow.src.host;
  const dst = flow.dst.host;
  const v4 = src.ip.version === 4;
  const l4 = Buffer.concat([segment.header, segment.payload]);
  const view = new DataView(l4.buffer, l4.byteOffset, l4.byteLength);
  const pseudoHeader = segment.protocol === PROTOCOL_ICMP ? 0 : src.ip.wordSum + dst.ip.wordSum + segment.protocol + l4.byteLength;
  const checksum = foldChecksum(onesComplementSum(view, 0, l4.byteLength, pseudoHeader));
  view.setUint16(segment.checksumOffset, checksum === 0 && segment.protocol === PROTOCOL_UDP ? 0xffff : checksum);
  const headerBytes = v4 ? 20 : 48;
  if (out.mtu === 0 || segment.protocol !== PROTOCOL_UDP || headerBytes - (v4 ? 0 : 8) + l4.byteLength <= out.mtu) {
    writeIpPacket(out, timeUs, flow, tos, segment.protocol, l4, undefined);
    return;
  }
  const step = Math.max(8, (out.mtu - headerBytes) & ~7);
  const id = v4 ? src.nextIpId++ & 0xffff : out.nextFragmentId++ >>> 0;
  for (let at = 0; at < l4.byteLength; at += step) {
    const more = at + step < l4.byteLength;
    writeIpPacket(out, timeUs, flow, tos, segment.protocol, l4.subarray(at, at + step), { id, offset: at, more });
  }
}

interface Fragment {
  id: number;
  offset: number;
  more: boolean;
}

function writeIpPacket(out: PcapWriter, timeUs: number, flow: Flow, tos: number, protocol: number, data: Uint8Array, fragment: Fragment | undefined): void {
  const src = flow.src.host;
  const dst = flow.dst.host;
  const v4 = src.ip.version === 4;
  const ipBytes = (v4 ? 20 : 40 + (fragment ? 8 : 0)) + data.byteLength;
  const innerLength = 14 + 4 * flow.vlans.length + ipBytes;
  const outerLength = out.tunnel === "vxlan" ? 50 : out.tunnel === "gre" ? 42 : 0;
  let at = out.beginRecord(timeUs, outerLength + innerLength);
  if (out.tunnel !== "none") at = writeTunnelHeaders(out, at, innerLength);
  at = writeEthernetHeader(out, at, dst.mac, src.mac, flow.vlans, v4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  if (v4) {
    const header = at;
    at = writeIpv4Header(out, at, src, dst.ip, protocol, tos, data.byteLength);
    if (fragment) {
      out.view.setUint16(header + 4, fragment.id);
      out.view.setUint16(header + 6, (fragment.more ? 0x2000 : 0) | (fragment.offset >> 3));
      out.view.setUint16(header + 10, 0);
      out.view.setUint16(header + 10, foldChecksum(onesComplementSum(out.view, header, header + 20, 0)));
    }
  } else if (fragment) {
    at = writeIpv6Header(out, at, src.ip, dst.ip, IPV6_FRAGMENT, tos, 8 + data.byteLength);
    out.view.setUint8(at, protocol);
    out.view.setUint8(at + 1, 0);
    out.view.setUint16(at + 2, fragment.offset | (fragment.more ? 1 : 0));
    out.view.setUint32(at + 4, fragment.id);
    at += 8;
  } else {
    at = writeIpv6Header(out, at, src.ip, dst.ip, protocol, tos, data.byteLength);
  }
  out.bytes.set(data, at);
}

/** Outer Ethernet and IPv4 between the tunnel endpoints, then UDP and VXLAN, or GRE with a key. */
function writeTunnelHeaders(out: PcapWriter, at: number, innerLength: number): number {
  const { bytes, view } = out;
  const vxlan = out.tunnel === "vxlan";
  const payloadLength = (vxlan ? 16 : 8) + innerLength;
  let p = writeEthernetHeader(out, at, TUNNEL_MAC_DST, TUNNEL_MAC_SRC, [], ETHERTYPE_IPV4);
  const ip = p;
  view.setUint32(p, 0x45000000 | (20 + payloadLength));
  view.setUint32(p + 4, 0x4000); // id 0, don't fragment
  view.setUint16(p + 8, (64 << 8) | (vxlan ? PROTOCOL_UDP : PROTOCOL_GRE));
  view.setUint16(p + 10, 0);
  bytes.set(TUNNEL_SRC, p + 12);
  bytes.set(TUNNEL_DST, p + 16);
  view.setUint16(p + 10, foldChecksum(onesComplementSum(view, ip, ip + 20, 0)));
  p += 20;
  if (vxlan) {
    view.setUint16(p, 49152 + (innerLength % 16384)); // source port from the inner frame, as RFC 7348 §5 suggests
    view.setUint16(p + 2, VXLAN_PORT);
    view.setUint16(p + 4, payloadLength);
    view.setUint16(p + 6, 0); // no UDP checksum (RFC 7348 §5)
    view.setUint32(p + 8, 0x08000000);
    view.setUint32(p + 12, TUNNEL_VNI << 8);
    return p + 16;
  }
  view.setUint16(p, GRE_KEY_PRESENT);
  view.setUint16(p + 2, ETHERTYPE_BRIDGING);
  view.setUint32(p + 4, TUNNEL_VNI);
  return p + 8;
}

const udpHeader = Buffer.alloc(8);

function writeUdpFrame(out: PcapWriter, timeUs: number, flow: Flow, tos: number, payload: Uint8Array): void {
  udpHeader.writeUInt16BE(flow.src.port, 0);
  udpHeader.writeUInt16BE(flow.dst.port, 2);
  udpHeader.writeUInt16BE(8 + payload.byteLength, 4);
  writeIpFrame(out, timeUs, flow, tos, { protocol: PROTOCOL_UDP, header: udpHeader, payload, checksumOffset: 6 });
}

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;

interface TcpSegment {
  seq: number;
  ack: number;
  flags: number;
  payload: Uint8Array;
}

function writeTcpFrame(out: PcapWriter, timeUs: number, flow: Flow, segment: TcpSegment): void {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(flow.src.port, 0);
  header.writeUInt16BE(flow.dst.port, 2);
  header.writeUInt32BE(segment.seq >>> 0, 4);
  header.writeUInt32BE(segment.ack >>> 0, 8);
  header[12] = 5 << 4;
  header[13] = segment.flags;
  header.writeUInt16BE(64240, 14);
  writeIpFrame(out, timeUs, flow, 0, { protocol: PROTOCOL_TCP, header, payload: segment.payload, checksumOffset: 16 });
}

function writeIcmpEchoFrame(out: PcapWriter, timeUs: number, flow: Flow, type: 0 | 8, identifier: number, sequence: number, data: Uint8Array): void {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt16BE(identifier, 4);
  header.writeUInt16BE(sequence, 6);
  writeIpFrame(out, timeUs, flow, 0, { protocol: PROTOCOL_ICMP, header, payload: data, checksumOffset: 2 });
}

function writeArpFrame(out: PcapWriter, timeUs: number, sender: Host, target: Host, reply: boolean, vlans: readonly number[]): void {
  const { bytes, view } = out;
  const headerLength = 14 + 4 * vlans.length;
  // Padded to the 60-byte Ethernet minimum, as a frame received off the wire is.
  const at = writeEthernetHeader(out, out.beginRecord(timeUs, headerLength + 46), reply ? target.mac : BROADCAST_MAC, sender.mac, vlans, ETHERTYPE_ARP);
  bytes.fill(0, at, at + 46);
  view.setUint16(at, 1); // Ethernet
  view.setUint16(at + 2, ETHERTYPE_IPV4);
  view.setUint8(at + 4, 6);
  view.setUint8(at + 5, 4);
  view.setUint16(at + 6, reply ? 2 : 1);
  bytes.set(sender.mac, at + 8);
  bytes.set(sender.ip.bytes, at + 14);
  if (reply) bytes.set(target.mac, at + 18);
  bytes.set(target.ip.bytes, at + 24);
}

/**
 * How one SIP message becomes frames. Only UDP today; TCP segmentation, IP fragments and
 * tunnels (VXLAN, GRE) are further transports of this shape, writing several frames.
 */
export interface SipTransport {
  name: string;
  write(out: PcapWriter, timeUs: number, flow: Flow, message: Uint8Array): void;
}

const udpTransport: SipTransport = {
  name: "udp",
  write: (out, timeUs, flow, message) => writeUdpFrame(out, timeUs, flow, TOS_SIGNALLING, message),
};

interface TcpStream {
  flow: Flow;
  key: string;
  seq: number;              // sequence number of the next byte to send
  held: Buffer;             // the tail of the last message, sent with the next or within a second
  heldSinceUs: number;
}

const TCP_MSS = 1460;
const TCP_HOLD_US = 1_000_000;

/**
 * SIP over TCP. Each direction of a flow is a connection that opens with a SYN. Messages are
 * cut into segments of random size (up to an MSS), and a random tail of a message may be held
 * back and sent in one segment with the start of the next message on the connection (or alone
 * within a second), so segments carry several messages and messages span segments. Some
 * adjacent segments are swapped (out of order) and some sent twice (retransmitted): the bytes
 * of each stream are exactly the messages, so the truth stays the messages written.
 */
class TcpTransport implements SipTransport {
  readonly name = "tcp";
  private readonly streams = new Map<string, TcpStream>();
  private readonly holding = new Set<TcpStream>();
  private lastUs = 0;
  /** Runs a step at a later capture time (the simulation's queue): a held tail goes out within a second. */
  schedule: (atUs: number, run: () => void) => void = () => undefined;

  constructor(private readonly rng: Rng) {}

  write(out: PcapWriter, timeUs: number, flow: Flow, message: Uint8Array): void {
    this.lastUs = timeUs;
    this.flushHeld(out, timeUs, timeUs - TCP_HOLD_US);
    const stream = this.stream(out, timeUs, flow);
    this.holding.delete(stream);
    const bytes = stream.held.byteLength > 0 ? Buffer.concat([stream.held, message]) : Buffer.from(message);
    const hold = this.rng.chance(0.3) ? this.rng.below(message.byteLength) : 0;
    this.send(out, timeUs, stream, bytes.subarray(0, bytes.byteLength - hold));
    stream.held = bytes.subarray(bytes.byteLength - hold);
    stream.heldSinceUs = timeUs;
    if (hold > 0) {
      this.holding.add(stream);
      this.schedule(timeUs + TCP_HOLD_US, () => this.sendHeld(out, timeUs + TCP_HOLD_US, stream, timeUs));
    }
  }

  /** Sends the tail a stream holds since heldSinceUs, unless a later message took it along already. */
  private sendHeld(out: PcapWriter, timeUs: number, stream: TcpStream, heldSinceUs: number): void {
    if (!this.holding.has(stream) || stream.heldSinceUs !== heldSinceUs) return;
    this.holding.delete(stream);
    this.send(out, timeUs, stream, stream.held);
    stream.held = Buffer.alloc(0);
  }

  /** Sends every tail still held; the workload ends with no byte unsent. */
  finish(out: PcapWriter): void {
    this.flushHeld(out, this.lastUs, Number.POSITIVE_INFINITY);
  }

  private flushHeld(out: PcapWriter, timeUs: number, heldBeforeUs: number): void {
    for (const stream of this.holding) {
      if (stream.heldSinceUs > heldBeforeUs) continue;
      this.holding.delete(stream);
      this.send(out, timeUs, stream, stream.held);
      stream.held = Buffer.alloc(0);
    }
  }

  private stream(out: PcapWriter, timeUs: number, flow: Flow): TcpStream {
    const key = `${flow.src.host.ip.text} ${flow.src.port} ${flow.dst.host.ip.text} ${flow.dst.port}`;
    let stream = this.streams.get(key);
    if (stream === undefined) {
      stream = { flow, key, seq: this.rng.u32(), held: Buffer.alloc(0), heldSinceUs: 0 };
      writeTcpFrame(out, timeUs, flow, { seq: stream.seq, ack: this.ackFor(flow), flags: TCP_SYN | TCP_ACK, payload: new Uint8Array(0) });
      stream.seq = (stream.seq + 1) >>> 0;
      this.streams.set(key, stream);
    }
    return stream;
  }

  /** What the other direction has sent: every byte is written before the peer could acknowledge it. */
  private ackFor(flow: Flow): number {
    const back = this.streams.get(`${flow.dst.host.ip.text} ${flow.dst.port} ${flow.src.host.ip.text} ${flow.src.port}`);
    return back === undefined ? 0 : back.seq;
  }

  private send(out: PcapWriter, timeUs: number, stream: TcpStream, bytes: Uint8Array): void {
    const segments: TcpSegment[] = [];
    const ack = this.ackFor(stream.flow);
    for (let at = 0; at < bytes.byteLength; ) {
      const length = Math.min(bytes.byteLength - at, this.rng.chance(0.5) ? TCP_MSS : 1 + this.rng.below(TCP_MSS));
      segments.push({ seq: (stream.seq + at) >>> 0, ack, flags: TCP_ACK | TCP_PSH, payload: bytes.subarray(at, at + length) });
      at += length;
    }
    stream.seq = (stream.seq + bytes.byteLength) >>> 0;
    for (let i = 0; i < segments.length; i++) {
      if (i + 1 < segments.length && this.rng.chance(0.05)) {
        writeTcpFrame(out, timeUs, stream.flow, segments[i + 1]);
        writeTcpFrame(out, timeUs, stream.flow, segments[i]);
        i++;
        continue;
      }
      writeTcpFrame(out, timeUs, stream.flow, segments[i]);
      if (this.rng.chance(0.03)) writeTcpFrame(out, timeUs, stream.flow, segments[i]);
    }
  }
}

// ---------------------------------------------------------------- SIP text

type Header = readonly [name: string, value: string];

interface Body {
  type: string;
  text: string;
}

interface SipRequest {
  method: string;
  uri: string;
  via: string;
  from: string;
  to: string;
  callId: string;
  cseq: number;
  agent: string;
  headers: readonly Header[];
  body: Body | undefined;
}

interface HeaderStyle {
  compact: boolean;
  randomCase: boolean;
}

const COMPACT_NAMES: Readonly<Record<string, string>> = {
  "Call-ID": "i",
  From: "f",
  To: "t",
  Via: "v",
  Contact: "m",
  "Content-Length": "l",
  "Content-Type": "c",
  Supported: "k",
};

const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: "Trying",
  180: "Ringing",
  200: "OK",
  202: "Accepted",
  401: "Unauthorized",
  404: "Not Found",
  408: "Request Timeout",
  480: "Temporarily Unavailable",
  486: "Busy Here",
  487: "Request Terminated",
  503: "Service Unavailable",
  603: "Decline",
};

const ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, REFER, UPDATE";

function pickStyle(rng: Rng, options: WorkloadOptions): HeaderStyle {
  return { compact: rng.chance(options.compactHeaderShare), randomCase: rng.chance(options.randomCaseShare) };
}

function headerName(name: string, style: HeaderStyle, rng: Rng): string {
  if (!style.compact && !style.randomCase) return name;
  const compact = style.compact ? COMPACT_NAMES[name] : undefined;
  if (compact !== undefined) return compact;
  if (!style.randomCase) return name;
  let mixed = "";
  for (const char of name) mixed += rng.chance(0.5) ? char.toUpperCase() : char.toLowerCase();
  return mixed;
}

/** One SIP message's text, its header names spelled in the message's style. */
class SipText {
  private text: string;

  constructor(
    startLine: string,
    private readonly style: HeaderStyle,
    private readonly rng: Rng,
  ) {
    this.text = `${startLine}\r\n`;
  }

  header(name: string, value: string): this {
    this.text += `${headerName(name, this.style, this.rng)}: ${value}\r\n`;
    return this;
  }

  headers(headers: readonly Header[]): this {
    for (const [name, value] of headers) this.header(name, value);
    return this;
  }

  /** Adds Content-Type and a Content-Length in bytes, then the body. */
  finish(body: Body | undefined): string {
    if (body === undefined) return `${this.header("Content-Length", "0").text}\r\n`;
    this.header("Content-Type", body.type).header("Content-Length", String(Buffer.byteLength(body.text, "utf8")));
    return `${this.text}\r\n${body.text}`;
  }
}

function renderRequest(request: SipRequest, style: HeaderStyle, rng: Rng): string {
  return new SipText(`${request.method} ${request.uri} SIP/2.0`, style, rng)
    .header("Via", request.via)
    .header("Max-Forwards", "70")
    .header("From", request.from)
    .header("To", request.to)
    .header("Call-ID", request.callId)
    .header("CSeq", `${request.cseq} ${request.method}`)
    .headers(request.headers)
    .header("User-Agent", request.agent)
    .finish(request.body);
}

interface SipResponse {
  status: number;
  toTag: string | undefined;
  agent: string;
  headers: readonly Header[];
  body: Body | undefined;
}

function renderResponse(request: SipRequest, response: SipResponse, style: HeaderStyle, rng: Rng): string {
  const to = response.toTag === undefined || request.to.includes(";tag=") ? request.to : `${request.to};tag=${response.toTag}`;
  const reason = REASON_PHRASES[response.status] ?? "Unknown";
  return new SipText(`SIP/2.0 ${response.status} ${reason}`, style, rng)
    .header("Via", request.via)
    .header("From", request.from)
    .header("To", to)
    .header("Call-ID", request.callId)
    .header("CSeq", `${request.cseq} ${request.method}`)
    .headers(response.headers)
    .header("Server", response.agent)
    .finish(response.body);
}

function hostInUri(ip: IpAddress): string {
  return ip.version === 6 ? `[${ip.text}]` : ip.text;
}

function hostPort(endpoint: Endpoint): string {
  return `${hostInUri(endpoint.host.ip)}:${endpoint.port}`;
}

function via(endpoint: Endpoint, rng: Rng): string {
  return `SIP/2.0/UDP ${hostPort(endpoint)};branch=z9hG4bK${rng.hex(16)};rport`;
}

function nameAddr(display: string, uri: string): string {
  return `"${display}" <${uri}>`;
}

function sdp(user: string, endpoint: Endpoint, sessionId: number, rtpPort: number, payloadTypes: readonly number[]): Body {
  const family = endpoint.host.ip.version === 6 ? "IP6" : "IP4";
  const address = endpoint.host.ip.text;
  const rtpmaps = payloadTypes.map((pt) => `a=rtpmap:${pt} ${pt === 8 ? "PCMA" : "PCMU"}/8000\r\n`).join("");
  const text =
    `v=0\r\no=${user} ${sessionId} ${sessionId} IN ${family} ${address}\r\ns=-\r\nc=IN ${family} ${address}\r\nt=0 0\r\n` +
    `m=audio ${rtpPort} RTP/AVP ${payloadTypes.join(" ")} 101\r\n${rtpmaps}` +
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
  return { type: "application/sdp", text };
}

// ---------------------------------------------------------------- truth

export interface CallTruth {
  callId: string;
  outcome: "answered" | "failed" | "cancelled";
  finalStatus: number;
  ipVersion: 4 | 6;
  caller: string;
  callee: string;
  /** Times in milliseconds since the Unix epoch, microsecond precision. */
  invite: number;
  ringing: number | null;
  answer: number | null;
  bye: number | null;
  durationMs: number | null;
  /** Who sent the BYE of an answered call. */
  hangup: "caller" | "callee" | null;
}

export interface RegistrationTruth {
  aor: string;
  contact: string;
  callId: string;
  action: "new" | "refreshed" | "deleted";
  expires: number;
  /** When the 200 OK was sent, ms since the Unix epoch. */
  time: number;
}

export interface Totals {
  packets: number;
  fileBytes: number;
  sipMessages: number;
  requests: Record<string, number>;
  responses: Record<string, number>;
  byTransport: Record<string, number>;
  byIpVersion: Record<string, number>;
  /** SIP messages by link encapsulation: untagged, vlan (one tag), qinq (two). */
  byLink: Record<string, number>;
  rtpPackets: number;
  noisePackets: number;
}

export interface Truth {
  seed: number;
  options: WorkloadOptions;
  epoch: string;
  totals: Totals;
  calls: CallTruth[];
  registrations: RegistrationTruth[];
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function sortedRecord(counts: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)));
}

type SipKind = { request: string } | { status: number };

class Tally {
  sipMessages = 0;
  rtpPackets = 0;
  noisePackets = 0;
  private readonly requests = new Map<string, number>();
  private readonly responses = new Map<string, number>();
  private readonly transports = new Map<string, number>();
  private readonly ipVersions = new Map<string, number>();
  private readonly links = new Map<string, number>();

  sip(kind: SipKind, transport: string, flow: Flow): void {
    this.sipMessages++;
    if ("request" in kind) increment(this.requests, kind.request);
    else increment(this.responses, String(kind.status));
    increment(this.transports, transport);
    increment(this.ipVersions, `ipv${flow.src.host.ip.version}`);
    increment(this.links, ["untagged", "vlan", "qinq"][flow.vlans.length] ?? "stacked");
  }

  totals(writer: PcapWriter): Totals {
    return {
      packets: writer.packets,
      fileBytes: writer.fileBytes,
      sipMessages: this.sipMessages,
      requests: sortedRecord(this.requests),
      responses: sortedRecord(this.responses),
      byTransport: sortedRecord(this.transports),
      byIpVersion: sortedRecord(this.ipVersions),
      byLink: sortedRecord(this.links),
      rtpPackets: this.rtpPackets,
      noisePackets: this.noisePackets,
    };
  }
}

// The time the frame is written with: whole microseconds, rounded before the epoch is added
// (at 1.8e15 a double's step is 0.25 µs, so rounding the sum could land one µs off).
function epochMs(timeUs: number): number {
  return (EPOCH_US + Math.round(timeUs)) / 1000;
}

// ---------------------------------------------------------------- simulation

interface Step {
  atUs: number;
  order: number;
  run: () => void;
}

/** Binary min-heap of steps by time, ties broken by scheduling order so output is stable. */
class StepQueue {
  private readonly heap: Step[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** Time of the earliest step; call only when size > 0. */
  peekTime(): number {
    return this.heap[0]?.atUs ?? Infinity;
  }

  push(step: Step): void {
    const heap = this.heap;
    heap.push(step);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(step, heap[parent] as Step)) break;
      heap[index] = heap[parent] as Step;
      index = parent;
    }
    heap[index] = step;
  }

  pop(): Step | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right] as Step, heap[left] as Step) ? right : left;
      if (!before(heap[child] as Step, last)) break;
      heap[index] = heap[child] as Step;
      index = child;
    }
    heap[index] = last;
    return top;
  }
}

function before(a: Step, b: Step): boolean {
  return a.atUs < b.atUs || (a.atUs === b.atUs && a.order < b.order);
}

const utf8 = new TextEncoder(); // encodeInto is faster here than Buffer#write

/** Runs scheduled steps in time order, writing their frames. Scenarios schedule; nothing else writes. */
class Simulation {
  plannedSip = 0;
  plannedCalls = 0;
  readonly tally = new Tally();
  readonly calls: CallTruth[] = [];
  readonly registrations: RegistrationTruth[] = [];
  private readonly queue = new StepQueue();
  private order = 0;
  private readonly encoded = Buffer.allocUnsafe(64 * 1024);

  constructor(
    readonly writer: PcapWriter,
    readonly options: WorkloadOptions,
    readonly transport: SipTransport,
    /** Seeded random bytes that media and TCP payloads are cut from: far cheaper than drawing each byte. */
    readonly randomBytes: Buffer,
  ) {}

  /** A slice of randomBytes of the given length at a random place. */
  randomPayload(rng: Rng, length: number): Buffer {
    const start = rng.below(this.randomBytes.byteLength - length + 1);
    return this.randomBytes.subarray(start, start + length);
  }

  /** Fills target from offset to its end with random bytes, without allocating a view. */
  copyRandomBytes(rng: Rng, target: Buffer, offset: number): void {
    const length = target.byteLength - offset;
    const start = rng.below(this.randomBytes.byteLength - length + 1);
    this.randomBytes.copy(target, offset, start, start + length);
  }

  at(atUs: number, run: () => void): void {
    this.queue.push({ atUs: Math.round(atUs), order: this.order++, run });
  }

  /** Schedules one SIP message; its text is rendered when it is written, to keep memory flat. */
  sip(atUs: number, flow: Flow, kind: SipKind, render: () => string): void {
    this.plannedSip++;
    this.at(atUs, () => {
      const text = render();
      const { read, written } = utf8.encodeInto(text, this.encoded);
      if (read < text.length) throw new Error("SIP message too large for the encoding buffer");
      this.transport.write(this.writer, Math.round(atUs), flow, this.encoded.subarray(0, written));
      this.tally.sip(kind, this.transport.name, flow);
    });
  }

  noise(atUs: number, write: (out: PcapWriter, timeUs: number) => void): void {
    this.at(atUs, () => {
      write(this.writer, Math.round(atUs));
      this.tally.noisePackets++;
    });
  }

  /**
   * Schedules count packets at timeOf(0), timeOf(1) ...; a stream holds a single pending step
   * that reschedules itself, rather than one per packet.
   */
  series(count: number, timeOf: (index: number) => number, write: (out: PcapWriter, timeUs: number, index: number) => void): void {
    if (count <= 0) return;
    let index = 0;
    const step: Step = {
      atUs: Math.round(timeOf(0)),
      order: this.order++,
      run: () => {
        write(this.writer, step.atUs, index);
        this.tally.rtpPackets++;
        if (++index === count) return;
        step.atUs = Math.round(timeOf(index));
        step.order = this.order++;
        this.queue.push(step);
      },
    };
    this.queue.push(step);
  }

  runUntil(timeUs: number): void {
    while (this.queue.size > 0 && this.queue.peekTime() <= timeUs) this.queue.pop()?.run();
  }

  drain(): void {
    while (this.queue.size > 0) this.queue.pop()?.run();
  }
}

interface Scenario {
  sim: Simulation;
  rng: Rng;
  world: World;
  startUs: number;
}

const MS = 1000;
const SECOND = 1_000_000;

function pickFamily(scenario: Scenario): Family {
  return scenario.rng.chance(scenario.sim.options.ipv6Share) ? scenario.world.ipv6 : scenario.world.ipv4;
}

function sipEndpoint(host: Host): Endpoint {
  return { host, port: host.sipPort };
}

function style(scenario: Scenario): HeaderStyle {
  return pickStyle(scenario.rng, scenario.sim.options);
}

function userUri(user: User): string {
  return `sip:${user.name}@${user.domain}`;
}

function contactUri(user: User, endpoint: Endpoint): string {
  return `sip:${user.name}@${hostPort(endpoint)}`;
}

// ---------------------------------------------------------------- calls

type CallOutcome = CallTruth["outcome"];

interface CallSide {
  user: User;
  endpoint: Endpoint;
  tag: string;
  contact: string;
  agent: string;
  rtpPort: number;
}

interface Dialog {
  callId: string;
  caller: CallSide;
  callee: CallSide;
  forward: Flow;
  invite: SipRequest;
  payloadType: number;
}

const FAILURE_STATUSES: readonly (readonly [number, number])[] = [
  [486, 30],
  [404, 20],
  [480, 15],
  [503, 15],
  [603, 10],
  [408, 10],
];

function rtpPort(rng: Rng): number {
  return 2 * rng.between(8192, 16383);
}

function callSide(rng: Rng, user: User, endpoint: Endpoint): CallSide {
  return { user, endpoint, tag: rng.hex(10), contact: contactUri(user, endpoint), agent: endpoint.host.agent, rtpPort: rtpPort(rng) };
}

/** One hop of a call as an SBC sees it: a phone and a proxy, in either direction; media anchored at both. */
function openDialog(scenario: Scenario): Dialog {
  const { rng } = scenario;
  const family = pickFamily(scenario);
  const local = rng.pick(family.users);
  let remote = rng.pick(family.users);
  if (remote === local) remote = family.users[(family.users.indexOf(local) + 1) % family.users.length] ?? local;
  const phone = sipEndpoint(local.phone);
  const proxy = sipEndpoint(local.registrar);
  const outgoing = rng.chance(0.5);
  const caller = callSide(rng, outgoing ? local : remote, outgoing ? phone : proxy);
  const callee = callSide(rng, outgoing ? remote : local, outgoing ? proxy : phone);
  const callId = rng.chance(0.5) ? `${rng.hex(24)}@${hostInUri(caller.endpoint.host.ip)}` : uuid(rng);
  const offered = rng.chance(0.5) ? [0, 8] : [8, 0];
  const invite: SipRequest = {
    method: "INVITE",
    uri: outgoing ? userUri(callee.user) : callee.contact,
    via: via(caller.endpoint, rng),
    from: `${nameAddr(caller.user.display, userUri(caller.user))};tag=${caller.tag}`,
    to: nameAddr(callee.user.display, userUri(callee.user)),
    callId,
    cseq: rng.between(1, 100),
    agent: caller.agent,
    headers: [
      ["Contact", `<${caller.contact}>`],
      ["Allow", ALLOW],
      ["Supported", "replaces, timer"],
    ],
    body: sdp(caller.user.name, caller.endpoint, rng.between(1, 2 ** 31), caller.rtpPort, offered),
  };
  const forward = { src: caller.endpoint, dst: callee.endpoint, vlans: local.phone.vlans };
  return { callId, caller, callee, forward, invite, payloadType: rng.pick(offered) };
}

function uuid(rng: Rng): string {
  const hex = rng.hex(32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

function respond(scenario: Scenario, atUs: number, request: SipRequest, response: SipResponse, flow: Flow): void {
  scenario.sim.sip(atUs, flow, { status: response.status }, () => renderResponse(request, response, style(scenario), scenario.rng));
}

function send(scenario: Scenario, atUs: number, request: SipRequest, flow: Flow): void {
  scenario.sim.sip(atUs, flow, { request: request.method }, () => renderRequest(request, style(scenario), scenario.rng));
}

function calleeResponse(dialog: Dialog, status: number, headers: readonly Header[] = [], body?: Body): SipResponse {
  const toTag = status === 100 ? undefined : dialog.callee.tag;
  return { status, toTag, agent: dialog.callee.agent, headers, body };
}

/** ACK in the INVITE's own transaction: how a caller acknowledges a failure. */
function ackForFailure(dialog: Dialog): SipRequest {
  const invite = dialog.invite;
  return { ...invite, method: "ACK", to: `${invite.to};tag=${dialog.callee.tag}`, headers: [], body: undefined };
}

function inDialogRequest(dialog: Dialog, method: string, fromCaller: boolean, cseq: number, rng: Rng): SipRequest {
  const [sender, receiver] = fromCaller ? [dialog.caller, dialog.callee] : [dialog.callee, dialog.caller];
  return {
    method,
    uri: receiver.contact,
    via: via(sender.endpoint, rng),
    from: `${nameAddr(sender.user.display, userUri(sender.user))};tag=${sender.tag}`,
    to: `${nameAddr(receiver.user.display, userUri(receiver.user))};tag=${receiver.tag}`,
    callId: dialog.callId,
    cseq,
    agent: sender.agent,
    headers: [],
    body: undefined,
  };
}

function planCall(scenario: Scenario, outcome: CallOutcome): void {
  const { rng, sim, startUs } = scenario;
  const dialog = openDialog(scenario);
  const backward = reverse(dialog.forward);
  const ringing = outcome === "cancelled" || rng.chance(outcome === "answered" ? 0.9 : 0.5);
  const tryingUs = startUs + rng.between(1, 30) * MS;
  const ringingUs = ringing ? tryingUs + rng.between(20, 1500) * MS : undefined;
  send(scenario, startUs, dialog.invite, dialog.forward);
  respond(scenario, tryingUs, dialog.invite, calleeResponse(dialog, 100), backward);
  if (ringingUs !== undefined) respond(scenario, ringingUs, dialog.invite, calleeResponse(dialog, 180, [["Contact", `<${dialog.callee.contact}>`]]), backward);
  const truth: CallTruth = {
    callId: dialog.callId,
    outcome,
    finalStatus: 0,
    ipVersion: dialog.forward.src.host.ip.version,
    caller: userUri(dialog.caller.user),
    callee: userUri(dialog.callee.user),
    invite: epochMs(startUs),
    ringing: ringingUs === undefined ? null : epochMs(ringingUs),
    answer: null,
    bye: null,
    durationMs: null,
    hangup: null,
  };
  const progressUs = ringingUs ?? tryingUs;
  if (outcome === "answered") planAnswer(scenario, dialog, progressUs, truth);
  else if (outcome === "failed") planFailure(scenario, dialog, progressUs, truth);
  else planCancel(scenario, dialog, progressUs, truth);
  sim.calls.push(truth);
  sim.plannedCalls++;
}

function planAnswer(scenario: Scenario, dialog: Dialog, progressUs: number, truth: CallTruth): void {
  const { rng, sim } = scenario;
  const backward = reverse(dialog.forward);
  const answerUs = progressUs + Math.min(30 * SECOND, 300 * MS + rng.exponential(4 * SECOND));
  const ackUs = answerUs + rng.between(2, 40) * MS;
  const byeUs = answerUs + Math.min(600 * SECOND, SECOND + rng.exponential(sim.options.meanCallSeconds * SECOND));
  const answerSdp = sdp(dialog.callee.user.name, dialog.callee.endpoint, rng.between(1, 2 ** 31), dialog.callee.rtpPort, [dialog.payloadType]);
  const ok = calleeResponse(dialog, 200, [["Contact", `<${dialog.callee.contact}>`], ["Allow", ALLOW], ["Supported", "replaces, timer"]], answerSdp);
  respond(scenario, answerUs, dialog.invite, ok, backward);
  send(scenario, ackUs, inDialogRequest(dialog, "ACK", true, dialog.invite.cseq, rng), dialog.forward);
  planMedia(scenario, dialog, ackUs, byeUs);
  const callerHangsUp = rng.chance(0.55);
  const bye = inDialogRequest(dialog, "BYE", callerHangsUp, callerHangsUp ? dialog.invite.cseq + 1 : rng.between(1, 100), rng);
  const byeFlow = callerHangsUp ? dialog.forward : backward;
  send(scenario, byeUs, bye, byeFlow);
  const byeResponder = callerHangsUp ? dialog.callee : dialog.caller;
  const byeOk: SipResponse = { status: 200, toTag: undefined, agent: byeResponder.agent, headers: [], body: undefined };
  respond(scenario, byeUs + rng.between(2, 40) * MS, bye, byeOk, reverse(byeFlow));
  Object.assign(truth, {
    finalStatus: 200,
    answer: epochMs(answerUs),
    bye: epochMs(byeUs),
    durationMs: (Math.round(byeUs) - Math.round(answerUs)) / 1000,
    hangup: callerHangsUp ? "caller" : "callee",
  });
}

function planFailure(scenario: Scenario, dialog: Dialog, progressUs: number, truth: CallTruth): void {
  const { rng } = scenario;
  const status = rng.weighted(FAILURE_STATUSES);
  const finalUs = progressUs + rng.between(100, 8000) * MS;
  respond(scenario, finalUs, dialog.invite, calleeResponse(dialog, status), reverse(dialog.forward));
  send(scenario, finalUs + rng.between(1, 20) * MS, ackForFailure(dialog), dialog.forward);
  truth.finalStatus = status;
}

function planCancel(scenario: Scenario, dialog: Dialog, progressUs: number, truth: CallTruth): void {
  const { rng } = scenario;
  const backward = reverse(dialog.forward);
  const cancelUs = progressUs + rng.between(1000, 15000) * MS;
  const cancelOkUs = cancelUs + rng.between(2, 30) * MS;
  const terminatedUs = cancelOkUs + rng.between(0, 5) * MS;
  const cancel: SipRequest = { ...dialog.invite, method: "CANCEL", headers: [], body: undefined };
  send(scenario, cancelUs, cancel, dialog.forward);
  respond(scenario, cancelOkUs, cancel, calleeResponse(dialog, 200), backward);
  respond(scenario, terminatedUs, dialog.invite, calleeResponse(dialog, 487), backward);
  send(scenario, terminatedUs + rng.between(1, 20) * MS, ackForFailure(dialog), dialog.forward);
  truth.finalStatus = 487;
}

// ---------------------------------------------------------------- media

const RTP_PTIME_US = 20 * MS;
const RTP_PAYLOAD_BYTES = 160; // 20 ms of G.711
const rtpPacket = Buffer.alloc(12 + RTP_PAYLOAD_BYTES, 0x80); // version 2 in byte 0, overwritten after

function planMedia(scenario: Scenario, dialog: Dialog, fromUs: number, untilUs: number): void {
  const packets = Math.min(scenario.sim.options.rtpPacketsPerDirection, Math.floor((untilUs - fromUs) / RTP_PTIME_US) - 1);
  const towardsCallee = { ...dialog.forward, src: { ...dialog.forward.src, port: dialog.caller.rtpPort }, dst: { ...dialog.forward.dst, port: dialog.callee.rtpPort } };
  planRtpStream(scenario, towardsCallee, dialog.payloadType, fromUs + scenario.rng.between(1, 20) * MS, packets);
  planRtpStream(scenario, reverse(towardsCallee), dialog.payloadType, fromUs + scenario.rng.between(1, 20) * MS, packets);
}

function planRtpStream(scenario: Scenario, flow: Flow, payloadType: number, firstUs: number, packets: number): void {
  const { rng, sim } = scenario;
  const ssrc = rng.u32();
  const firstSequence = rng.below(65536);
  const firstTimestamp = rng.u32();
  // Up to 2 ms of network jitter; never enough to reorder packets 20 ms apart.
  const timeOf = (index: number): number => firstUs + index * RTP_PTIME_US + rng.below(2000);
  sim.series(packets, timeOf, (out, timeUs, index) => {
    rtpPacket[1] = (index === 0 ? 0x80 : 0) | payloadType; // marker on the first packet
    rtpPacket.writeUInt16BE((firstSequence + index) & 0xffff, 2);
    rtpPacket.writeUInt32BE((firstTimestamp + index * RTP_PAYLOAD_BYTES) >>> 0, 4);
    rtpPacket.writeUInt32BE(ssrc, 8);
    sim.copyRandomBytes(rng, rtpPacket, 12);
    writeUdpFrame(out, timeUs, flow, TOS_MEDIA, rtpPacket);
  });
}

// ---------------------------------------------------------------- registrations

function freeUser(scenario: Scenario, family: Family): User {
  const users = family.users;
  const first = scenario.rng.below(users.length);
  for (let probe = 0; probe < users.length; probe++) {
    const user = users[(first + probe) % users.length] as User;
    if (user.registration.busyUntilUs <= scenario.startUs) return user;
  }
  return users[first] as User;
}

/** REGISTER, 401 challenge, REGISTER with credentials, 200: new, refreshed or deleted binding. */
function planRegistration(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const family = pickFamily(scenario);
  const user = freeUser(scenario, family);
  const state = user.registration;
  const action: RegistrationTruth["action"] = !state.registered ? "new" : rng.chance(0.2) ? "deleted" : "refreshed";
  const expires = action === "deleted" ? 0 : rng.pick([600, 1800, 3600]);
  const phone = sipEndpoint(user.phone);
  const flow: Flow = { src: phone, dst: sipEndpoint(user.registrar), vlans: user.phone.vlans };
  const contact = contactUri(user, phone);
  const aor = userUri(user);
  const first: SipRequest = {
    method: "REGISTER",
    uri: `sip:${user.domain}`,
    via: via(phone, rng),
    from: `${nameAddr(user.display, aor)};tag=${rng.hex(10)}`,
    to: nameAddr(user.display, aor),
    callId: state.callId,
    cseq: state.nextCseq,
    agent: user.phone.agent,
    headers: [
      ["Contact", `<${contact}>${action === "deleted" ? ";expires=0" : ""}`],
      ["Expires", String(expires)],
      ["Allow", ALLOW],
    ],
    body: undefined,
  };
  const nonce = rng.hex(32);
  const challenge = `Digest realm="${user.domain}", nonce="${nonce}", algorithm=MD5, qop="auth"`;
  const authorization =
    `Digest username="${user.name}", realm="${user.domain}", nonce="${nonce}", uri="${first.uri}", ` +
    `response="${rng.hex(32)}", algorithm=MD5, cnonce="${rng.hex(16)}", nc=00000001, qop=auth`;
  const second: SipRequest = { ...first, via: via(phone, rng), cseq: first.cseq + 1, headers: [...first.headers, ["Authorization", authorization]] };
  const registrarAgent = user.registrar.agent;
  const challengedUs = startUs + rng.between(2, 30) * MS;
  const retriedUs = challengedUs + rng.between(5, 60) * MS;
  const acceptedUs = retriedUs + rng.between(2, 40) * MS;
  const scenarioRequest = (request: SipRequest, atUs: number): void => sim.sip(atUs, flow, { request: "REGISTER" }, () => renderRequest(request, style(scenario), rng));
  const scenarioResponse = (request: SipRequest, response: SipResponse, atUs: number): void =>
    sim.sip(atUs, reverse(flow), { status: response.status }, () => renderResponse(request, response, style(scenario), rng));
  scenarioRequest(first, startUs);
  scenarioResponse(first, { status: 401, toTag: rng.hex(10), agent: registrarAgent, headers: [["WWW-Authenticate", challenge]], body: undefined }, challengedUs);
  scenarioRequest(second, retriedUs);
  const bindings: Header[] = action === "deleted" ? [] : [["Contact", `<${contact}>;expires=${expires}`]];
  scenarioResponse(second, { status: 200, toTag: rng.hex(10), agent: registrarAgent, headers: bindings, body: undefined }, acceptedUs);
  state.nextCseq += 2;
  state.registered = action !== "deleted";
  state.busyUntilUs = acceptedUs;
  sim.registrations.push({ aor, contact, callId: state.callId, action, expires, time: epochMs(acceptedUs) });
}

// ---------------------------------------------------------------- OPTIONS and MESSAGE

function planOptions(scenario: Scenario): void {
  const { rng, startUs } = scenario;
  const family = pickFamily(scenario);
  const user = rng.pick(family.users);
  const phone = sipEndpoint(user.phone);
  const proxy = sipEndpoint(user.registrar);
  const fromProxy = rng.chance(0.5);
  const flow: Flow = fromProxy ? { src: proxy, dst: phone, vlans: user.phone.vlans } : { src: phone, dst: proxy, vlans: user.phone.vlans };
  const sender = fromProxy ? `sip:keepalive@${hostInUri(proxy.host.ip)}` : userUri(user);
  const target = fromProxy ? contactUri(user, phone) : `sip:${user.domain}`;
  const request: SipRequest = {
    method: "OPTIONS",
    uri: target,
    via: via(flow.src, rng),
    from: `<${sender}>;tag=${rng.hex(10)}`,
    to: `<${target}>`,
    callId: rng.hex(24),
    cseq: rng.between(1, 9999),
    agent: flow.src.host.agent,
    headers: [["Accept", "application/sdp"]],
    body: undefined,
  };
  send(scenario, startUs, request, flow);
  const ok: SipResponse = { status: 200, toTag: rng.hex(10), agent: flow.dst.host.agent, headers: [["Allow", ALLOW], ["Accept", "application/sdp"], ["Supported", "replaces, timer"]], body: undefined };
  scenario.sim.sip(startUs + rng.between(1, 25) * MS, reverse(flow), { status: 200 }, () => renderResponse(request, ok, style(scenario), rng));
}

const MESSAGE_TEXTS = ["Are you free for a call?", "Meeting moved to 3 pm", "Ça marche, à tout à l’heure", "Grüße aus München", "Ok 👍", "Call me back when you can"];

function planMessage(scenario: Scenario): void {
  const { rng, startUs } = scenario;
  const family = pickFamily(scenario);
  const sender = rng.pick(family.users);
  const recipient = rng.pick(family.users);
  const flow: Flow = { src: sipEndpoint(sender.phone), dst: sipEndpoint(sender.registrar), vlans: sender.phone.vlans };
  const request: SipRequest = {
    method: "MESSAGE",
    uri: userUri(recipient),
    via: via(flow.src, rng),
    from: `${nameAddr(sender.display, userUri(sender))};tag=${rng.hex(10)}`,
    to: nameAddr(recipient.display, userUri(recipient)),
    callId: uuid(rng),
    cseq: rng.between(1, 9999),
    agent: sender.phone.agent,
    headers: [],
    body: { type: "text/plain;charset=UTF-8", text: rng.pick(MESSAGE_TEXTS) },
  };
  send(scenario, startUs, request, flow);
  const status = rng.chance(0.7) ? 202 : 200;
  const response: SipResponse = { status, toTag: rng.hex(10), agent: sender.registrar.agent, headers: [], body: undefined };
  scenario.sim.sip(startUs + rng.between(2, 40) * MS, reverse(flow), { status }, () => renderResponse(request, response, style(scenario), rng));
}

// ---------------------------------------------------------------- noise

const DNS_NAMES = ["pbx.example.com", "time.example.org", "updates.vendor.example", "provisioning.example.com", "www.example.net"];

function ephemeralPort(rng: Rng): number {
  return rng.between(49152, 65535);
}

function dnsName(name: string): Buffer {
  const labels = name.split(".").map((label) => Buffer.concat([Buffer.of(label.length), Buffer.from(label, "ascii")]));
  return Buffer.concat([...labels, Buffer.of(0)]);
}

const DNS_WIRE_NAMES = new Map(DNS_NAMES.map((name) => [name, dnsName(name)]));

function dnsMessage(id: number, name: string, ipv6Answer: boolean, answer: Uint8Array | undefined): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(answer === undefined ? 0x0100 : 0x8180, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answer === undefined ? 0 : 1, 6);
  const type = ipv6Answer ? 28 : 1;
  const question = Buffer.concat([DNS_WIRE_NAMES.get(name) ?? dnsName(name), Buffer.of(0, type, 0, 1)]);
  if (answer === undefined) return Buffer.concat([header, question]);
  const record = Buffer.alloc(12);
  record.writeUInt16BE(0xc00c, 0); // name: pointer to the question
  record.writeUInt16BE(type, 2);
  record.writeUInt16BE(1, 4);
  record.writeUInt32BE(300, 6);
  record.writeUInt16BE(answer.byteLength, 10);
  return Buffer.concat([header, question, record, answer]);
}

function noiseClient(scenario: Scenario, family: Family): Endpoint {
  return { host: scenario.rng.pick(family.phones), port: ephemeralPort(scenario.rng) };
}

function planDns(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const family = pickFamily(scenario);
  const client = noiseClient(scenario, family);
  const flow: Flow = { src: client, dst: { host: family.dnsServer, port: 53 }, vlans: client.host.vlans };
  const id = rng.below(65536);
  const name = rng.pick(DNS_NAMES);
  const aaaa = family.version === 6;
  const answer = Buffer.allocUnsafe(aaaa ? 16 : 4);
  rng.fill(answer);
  sim.noise(startUs, (out, timeUs) => writeUdpFrame(out, timeUs, flow, 0, dnsMessage(id, name, aaaa, undefined)));
  sim.noise(startUs + rng.between(1, 30) * MS, (out, timeUs) => writeUdpFrame(out, timeUs, reverse(flow), 0, dnsMessage(id, name, aaaa, answer)));
}

/** A short TLS-port TCP exchange with random payload: handshake, then a few data segments. */
function planTcp(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const family = pickFamily(scenario);
  const client = noiseClient(scenario, family);
  const flow: Flow = { src: client, dst: { host: rng.pick(family.webServers), port: 443 }, vlans: client.host.vlans };
  let clientSeq = rng.u32();
  let serverSeq = rng.u32();
  let atUs = startUs;
  const segment = (fromClient: boolean, flags: number, payloadBytes: number): void => {
    const payload = sim.randomPayload(rng, payloadBytes);
    const [seq, ack] = fromClient ? [clientSeq, serverSeq] : [serverSeq, clientSeq];
    const tcp = { seq, ack: flags & TCP_ACK ? ack : 0, flags, payload };
    const advance = payloadBytes + (flags & TCP_SYN ? 1 : 0);
    if (fromClient) clientSeq += advance;
    else serverSeq += advance;
    sim.noise(atUs, (out, timeUs) => writeTcpFrame(out, timeUs, fromClient ? flow : reverse(flow), tcp));
    atUs += rng.between(1, 40) * MS;
  };
  segment(true, TCP_SYN, 0);
  segment(false, TCP_SYN | TCP_ACK, 0);
  segment(true, TCP_ACK, 0);
  const dataSegments = rng.between(1, 3);
  for (let index = 0; index < dataSegments; index++) segment(index % 2 === 0, TCP_PSH | TCP_ACK, rng.between(40, 1200));
}

function planPing(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const family = scenario.world.ipv4;
  const phone = rng.pick(family.phones);
  const flow: Flow = { src: { host: rng.pick(family.proxies), port: 0 }, dst: { host: phone, port: 0 }, vlans: phone.vlans };
  const identifier = rng.below(65536);
  const sequence = rng.below(65536);
  const data = sim.randomPayload(rng, 56);
  sim.noise(startUs, (out, timeUs) => writeIcmpEchoFrame(out, timeUs, flow, 8, identifier, sequence, data));
  sim.noise(startUs + rng.between(1, 20) * MS, (out, timeUs) => writeIcmpEchoFrame(out, timeUs, reverse(flow), 0, identifier, sequence, data));
}

function planArp(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const phone = rng.pick(scenario.world.ipv4.phones);
  const proxy = rng.pick(scenario.world.ipv4.proxies);
  sim.noise(startUs, (out, timeUs) => writeArpFrame(out, timeUs, phone, proxy, false, phone.vlans));
  sim.noise(startUs + rng.between(1, 5) * MS, (out, timeUs) => writeArpFrame(out, timeUs, proxy, phone, true, phone.vlans));
}

// ---------------------------------------------------------------- the mix

type ScenarioKind = "answered" | "failed" | "cancelled" | "register" | "options" | "message" | "dns" | "tcp" | "ping" | "arp";

const SCENARIO_WEIGHTS: readonly (readonly [ScenarioKind, number])[] = [
  ["answered", 30],
  ["failed", 8],
  ["cancelled", 5],
  ["register", 14],
  ["options", 14],
  ["message", 5],
  ["dns", 8],
  ["tcp", 6],
  ["ping", 3],
  ["arp", 3],
];

function planScenario(kind: ScenarioKind, scenario: Scenario): void {
  switch (kind) {
    case "answered":
    case "failed":
    case "cancelled":
      return planCall(scenario, kind);
    case "register":
      return planRegistration(scenario);
    case "options":
      return planOptions(scenario);
    case "message":
      return planMessage(scenario);
    case "dns":
      return planDns(scenario);
    case "tcp":
      return planTcp(scenario);
    case "ping":
      return planPing(scenario);
    case "arp":
      return planArp(scenario);
  }
}

function enoughPlanned(sim: Simulation): boolean {
  const { messages, calls } = sim.options;
  if (messages !== undefined) return sim.plannedSip >= messages;
  return sim.plannedCalls >= (calls ?? 0);
}

const RANDOM_BYTES = 256 * 1024;

/** Writes the workload to pcapPath and returns what it contains. */
export function generateWorkload(options: WorkloadOptions, pcapPath: string): Truth {
  const rng = new Rng(options.seed);
  const world = buildWorld(rng.fork());
  const writer = new PcapWriter(openSync(pcapPath, "w"));
  writer.mtu = options.mtu;
  writer.tunnel = options.tunnel;
  const randomBytes = Buffer.allocUnsafe(RANDOM_BYTES);
  rng.fork().fill(randomBytes);
  const tcp = options.tcp ? new TcpTransport(rng.fork()) : undefined;
  const sim = new Simulation(writer, options, tcp ?? udpTransport, randomBytes);
  if (tcp) tcp.schedule = (atUs, run) => sim.at(atUs, run);
  const meanGapUs = SECOND / options.scenariosPerSecond;
  let startUs = 0;
  while (!enoughPlanned(sim)) {
    sim.runUntil(startUs);
    const kind = rng.weighted(SCENARIO_WEIGHTS);
    planScenario(kind, { sim, rng: rng.fork(), world, startUs });
    startUs += Math.round(rng.exponential(meanGapUs));
  }
  sim.drain();
  tcp?.finish(writer);
  writer.close();
  return {
    seed: options.seed,
    options,
    epoch: new Date(EPOCH_US / 1000).toISOString(),
    totals: sim.tally.totals(writer),
    calls: sim.calls,
    registrations: sim.registrations,
  };
}

/** JSON with one call or registration per line: diffable, and small enough to read. */
export function truthJson(truth: Truth): string {
  const lines = (items: readonly unknown[]): string => items.map((item) => `    ${JSON.stringify(item)}`).join(",\n");
  return (
    `{\n  "seed": ${truth.seed},\n  "epoch": ${JSON.stringify(truth.epoch)},\n` +
    `  "options": ${JSON.stringify(truth.options)},\n  "totals": ${JSON.stringify(truth.totals, null, 2).replace(/\n/g, "\n  ")},\n` +
    `  "calls": [\n${lines(truth.calls)}\n  ],\n  "registrations": [\n${lines(truth.registrations)}\n  ]\n}\n`
  );
}

// ---------------------------------------------------------------- command line

const USAGE = `usage: node bench/generate.mjs --out FILE.pcap [--truth FILE.json] [--seed N]
       [--messages N | --calls N] [--rtp PACKETS_PER_DIRECTION] [--rate SCENARIOS_PER_SECOND] [--tcp]
       [--mtu BYTES] [--tunnel vxlan|gre]`;

function integerOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0) throw new Error(`--${name} wants a non-negative integer, got ${value}`);
  return number;
}

interface CommandLine {
  out: string;
  truth: string | undefined;
  options: WorkloadOptions;
}

function parseCommandLine(argv: readonly string[]): CommandLine {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      out: { type: "string" },
      truth: { type: "string" },
      seed: { type: "string" },
      messages: { type: "string" },
      calls: { type: "string" },
      rtp: { type: "string" },
      rate: { type: "string" },
      tcp: { type: "boolean" },
      mtu: { type: "string" },
      tunnel: { type: "string" },
    },
    strict: true,
  });
  if (values.out === undefined) throw new Error("--out is required");
  const given: Partial<Record<keyof WorkloadOptions, number | undefined>> = {
    seed: integerOption(values.seed, "seed"),
    messages: integerOption(values.messages, "messages"),
    calls: integerOption(values.calls, "calls"),
    rtpPacketsPerDirection: integerOption(values.rtp, "rtp"),
    scenariosPerSecond: integerOption(values.rate, "rate"),
  };
  if ((given.seed ?? 0) > 0xffffffff) throw new Error("--seed must fit in 32 bits");
  if (given.scenariosPerSecond === 0) throw new Error("--rate must be positive");
  const overrides: Partial<WorkloadOptions> = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  if (values.tcp === true) overrides.tcp = true;
  const mtu = integerOption(values.mtu, "mtu");
  if (mtu !== undefined && mtu !== 0 && mtu < 128) throw new Error("--mtu must be 0 (off) or at least 128");
  if (mtu !== undefined) overrides.mtu = mtu;
  if (values.tunnel !== undefined) {
    if (values.tunnel !== "vxlan" && values.tunnel !== "gre") throw new Error(`--tunnel wants vxlan or gre, got ${values.tunnel}`);
    overrides.tunnel = values.tunnel;
  }
  return { out: values.out, truth: values.truth, options: workloadOptions(overrides) };
}

export function main(argv: readonly string[]): number {
  let commandLine: CommandLine;
  try {
    commandLine = parseCommandLine(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const truth = generateWorkload(commandLine.options, commandLine.out);
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  if (commandLine.truth !== undefined) writeFileSync(commandLine.truth, truthJson(truth));
  const { sipMessages, packets, fileBytes } = truth.totals;
  process.stderr.write(
    `generated ${sipMessages} SIP messages in ${packets} packets (${(fileBytes / 1e6).toFixed(1)} MB) ` +
      `in ${seconds.toFixed(2)} s wall, ${cpuSeconds.toFixed(2)} s CPU: ${Math.round(sipMessages / seconds)} SIP msgs/s, ` +
      `${Math.round(packets / seconds)} packets/s\n`,
  );
  return 0;
}
