// Test helpers: frames built byte by byte, and runs of the real core.
import { readFileSync } from "node:fs";
import { Core, type SipMessage, type CoreOptions } from "../host/core";
import { CaptureParser } from "../host/source";

export const LINKTYPE_ETHERNET = 1;

export interface UdpOptions {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  vlans?: number[];     // 802.1Q tags, outermost first
  ipOptions?: number;   // bytes of IPv4 options (NOPs)
}

export function ipv4Bytes(ip: string): number[] {
  return ip.split(".").map(Number);
}

export function ipv6Bytes(ip: string): number[] {
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]);
}

function be16(n: number): number[] {
  return [(n >> 8) & 255, n & 255];
}

export function udpHeader(payload: Uint8Array, sport: number, dport: number): number[] {
  return [...be16(sport), ...be16(dport), ...be16(payload.length + 8), 0, 0];
}

export function ipv4Packet(proto: number, l4: Uint8Array, src: string, dst: string, optionBytes = 0): Uint8Array {
  const hl = 20 + optionBytes;
  const header = [0x40 | (hl >> 2), 0, ...be16(hl + l4.length), 0, 1, 0, 0, 64, proto, 0, 0,
    ...ipv4Bytes(src), ...ipv4Bytes(dst), ...Array(optionBytes).fill(1)];
  return concat(Uint8Array.from(header), l4);
}

export function ipv6Packet(next: number, l4: Uint8Array, src: string, dst: string, extensions: Uint8Array = new Uint8Array(0)): Uint8Array {
  const header = [0x60, 0, 0, 0, ...be16(extensions.length + l4.length), next, 64, ...ipv6Bytes(src), ...ipv6Bytes(dst)];
  return concat(Uint8Array.from(header), extensions, l4);
}

export function ethernet(ethertype: number, payload: Uint8Array, vlans: number[] = []): Uint8Array {
  const tags = vlans.flatMap((id, i) => [...be16(i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100), ...be16(id)]);
  const header = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ...tags, ...be16(ethertype)];
  return concat(Uint8Array.from(header), payload);
}

export function udpFrame(payload: string | Uint8Array, o: UdpOptions = {}): Uint8Array {
  const bytes = typeof payload === "string" ? Buffer.from(payload, "latin1") : payload;
  const src = o.src ?? "192.0.2.1";
  const dst = o.dst ?? "198.51.100.7";
  const udp = concat(Uint8Array.from(udpHeader(bytes, o.sport ?? 5060, o.dport ?? 5060)), bytes);
  if (src.includes(":")) return ethernet(0x86dd, ipv6Packet(17, udp, src, dst), o.vlans);
  return ethernet(0x0800, ipv4Packet(17, udp, src, dst, o.ipOptions), o.vlans);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

export interface Frame {
  data: Uint8Array;
  linkType?: number;
  sec?: number;
  nsec?: number;
  origLen?: number;
}

export interface Run {
  messages: SipMessage[];
  ndjson: string;
  counters: Record<string, number>;
  core: Core;
}

export function runFrames(frames: Frame[], options: Partial<CoreOptions> = {}): Run {
  const messages: SipMessage[] = [];
  let ndjson = "";
  const core = new Core({ sensor: "test", agent: "siphon/test", ...options }, (batch) => {
    ndjson += batch.ndjson().toString();
    for (let i = 0; i < batch.count; i++) messages.push(batch.message(i));
  });
  for (const f of frames) {
    core.frame(f.data, 0, f.data.length, f.origLen ?? f.data.length, f.linkType ?? LINKTYPE_ETHERNET,
      f.sec ?? 1795428000, f.nsec ?? 123456789, 0);
  }
  core.flush();
  return { messages, ndjson, counters: core.counters(), core };
}

export function sip(lines: string[], body = ""): string {
  return lines.join("\r\n") + "\r\n\r\n" + body;
}

export const INVITE = sip([
  "INVITE sip:bob@biloxi.example.com SIP/2.0",
  "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
  "Max-Forwards: 70",
  "To: Bob <sip:bob@biloxi.example.com>",
  "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
  "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
  "CSeq: 314159 INVITE",
  "Contact: <sip:alice@pc33.atlanta.example.com>",
  "User-Agent: softphone/1.0",
  "Content-Type: application/sdp",
  "Content-Length: 4",
], "v=0\n");

export interface TcpOptions {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  seq: number;
  flags?: number;       // TCP_* bits; ACK is always set
}

export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_RST = 4;

export function tcpHeader(sport: number, dport: number, seq: number, flags: number): number[] {
  const s = seq >>> 0;
  return [...be16(sport), ...be16(dport), s >>> 24, (s >>> 16) & 255, (s >>> 8) & 255, s & 255,
    0, 0, 0, 0, 0x50, flags | 0x10, 0xff, 0xff, 0, 0, 0, 0];
}

export function tcpFrame(payload: string | Uint8Array, o: TcpOptions): Uint8Array {
  const bytes = typeof payload === "string" ? Buffer.from(payload, "latin1") : payload;
  const src = o.src ?? "192.0.2.1";
  const dst = o.dst ?? "198.51.100.7";
  const tcp = concat(Uint8Array.from(tcpHeader(o.sport ?? 40000, o.dport ?? 5060, o.seq, o.flags ?? 0)), bytes);
  if (src.includes(":")) return ethernet(0x86dd, ipv6Packet(6, tcp, src, dst));
  return ethernet(0x0800, ipv4Packet(6, tcp, src, dst));
}

// Every frame of a capture file, copied, with its capture record's fields.
export function framesOf(path: string): Frame[] {
  const frames: Frame[] = [];
  const parser = new CaptureParser(path, {
    frame(data, start, caplen, origLen, linkType, sec, nsec) {
      frames.push({ data: data.slice(start, start + caplen), origLen, linkType, sec, nsec });
    },
  });
  parser.feed(readFileSync(path));
  parser.end();
  return frames;
}

// A classic pcap's file header: microseconds, version 2.4, snap length 262144, LINKTYPE_ETHERNET.
export function pcapHeader(): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return header;
}

// A classic pcap (microseconds, LINKTYPE_ETHERNET) of the frames, one second apart.
export function pcapFile(frames: Uint8Array[], firstSecond = 1795428000): Uint8Array {
  const header = pcapHeader();
  const records = frames.map((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(firstSecond + i, 0);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return concat(r, f);
  });
  return concat(header, ...records);
}

// A pcapng (little-endian, one Ethernet interface, microsecond ticks) of the frames, one second
// apart from 0, with the interface's if_tsoffset (pcapng §4.2) set to `offsetSeconds`.
export function pcapngFile(frames: Uint8Array[], offsetSeconds: bigint): Uint8Array {
  const block = (type: number, body: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    const length = 12 + body.length + (-body.length & 3);
    head.writeUInt32LE(type, 0);
    head.writeUInt32LE(length, 4);
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(length, 0);
    return Buffer.concat([head, body, Buffer.alloc(-body.length & 3), tail]);
  };
  const section = Buffer.alloc(16);
  section.writeUInt32LE(0x1a2b3c4d, 0);
  section.writeUInt16LE(1, 4);
  section.writeBigInt64LE(-1n, 8);
  const iface = Buffer.alloc(24);
  iface.writeUInt16LE(LINKTYPE_ETHERNET, 0);
  iface.writeUInt16LE(14, 8);   // if_tsoffset, 8 bytes
  iface.writeUInt16LE(8, 10);
  iface.writeBigInt64LE(offsetSeconds, 12);
  const packets = frames.map((f, i) => {
    const head = Buffer.alloc(20);
    head.writeUInt32LE(0, 0);
    head.writeUInt32LE(0, 4);
    head.writeUInt32LE(i * 1_000_000, 8);
    head.writeUInt32LE(f.length, 12);
    head.writeUInt32LE(f.length, 16);
    return block(6, Buffer.concat([head, f]));
  });
  return concat(block(0x0a0d0d0a, section), block(1, iface), ...packets);
}

// SIP over WebSocket (RFC 7118): the HTTP upgrade (RFC 6455 §4) and its answer, and a frame
// (RFC 6455 §5.2) with its payload masked when a mask is given, as a client sends it.
export const WS_UPGRADE = "GET / HTTP/1.1\r\nHost: proxy.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
  + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n";
export const WS_SWITCHING = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
  + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n";

export function wsFrame(payload: Buffer, opcode: number, fin: boolean, mask?: number[]): Buffer {
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (payload.length < 126) head.push(m | payload.length);
  else if (payload.length < 65536) head.push(m | 126, payload.length >> 8, payload.length & 255);
  else head.push(m | 127, 0, 0, 0, 0, payload.length >>> 24, (payload.length >>> 16) & 255, (payload.length >>> 8) & 255, payload.length & 255);
  const body = Buffer.from(payload);
  if (mask) {
    head.push(...mask);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
  }
  return Buffer.concat([Buffer.from(head), body]);
}
