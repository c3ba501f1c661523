// Test frames for the network layer: IPv4 and IPv6 fragments and tunnel
// wrappings (VXLAN, Geneve, GRE, ERSPAN, IP in IP), built byte by byte.
import { ethernet, ipv4Bytes, ipv6Packet, ipv4Packet, udpHeader, concat } from "./helpers";

function be16(n: number): number[] {
  return [(n >> 8) & 255, n & 255];
}

function be32(n: number): number[] {
  return [...be16(n >>> 16), ...be16(n & 0xffff)];
}

export function udpDatagram(payload: string | Uint8Array, sport = 5060, dport = 5060): Uint8Array {
  const bytes = typeof payload === "string" ? Buffer.from(payload, "latin1") : payload;
  return concat(Uint8Array.from(udpHeader(bytes, sport, dport)), bytes);
}

export interface Piece {
  offset: number;       // bytes into the IP payload, a multiple of 8
  length: number;
  more?: boolean;       // default: true unless the piece ends the payload
}

// IPv4 fragments of `l4` (the IP payload), one Ethernet frame per piece.
export function ipv4Fragment(l4: Uint8Array, piece: Piece, id = 0x1234, src = "192.0.2.1", dst = "198.51.100.7", proto = 17): Uint8Array {
  const data = l4.subarray(piece.offset, piece.offset + piece.length);
  const more = piece.more ?? piece.offset + piece.length < l4.length;
  const flags = (more ? 0x2000 : 0) | (piece.offset >> 3);
  const header = [0x45, 0, ...be16(20 + data.length), ...be16(id), ...be16(flags), 64, proto, 0, 0,
    ...ipv4Bytes(src), ...ipv4Bytes(dst)];
  return ethernet(0x0800, concat(Uint8Array.from(header), data));
}

// IPv6 fragments of the fragmentable part `l4`. `chain` is extension headers
// placed before the fragment header, its first type in `chainFirst` and its
// last header's next-header byte already 44.
export function ipv6Fragment(l4: Uint8Array, piece: Piece, id = 0xabcdef01, next = 17,
  src = "2001:db8::1", dst = "2001:db8::2", chain = new Uint8Array(0), chainFirst = 44): Uint8Array {
  const data = l4.subarray(piece.offset, piece.offset + piece.length);
  const more = piece.more ?? piece.offset + piece.length < l4.length;
  const fragment = Uint8Array.from([next, 0, ...be16(piece.offset | (more ? 1 : 0)), ...be32(id)]);
  return ethernet(0x86dd, ipv6Packet(chain.length > 0 ? chainFirst : 44, data, src, dst, concat(chain, fragment)));
}

// Pieces of `size` bytes (a multiple of 8) covering `length` bytes.
export function pieces(length: number, size: number): Piece[] {
  const out: Piece[] = [];
  for (let at = 0; at < length; at += size) out.push({ offset: at, length: Math.min(size, length - at) });
  return out;
}

const OUTER_V4_SRC = "10.0.0.1";
const OUTER_V4_DST = "10.0.0.2";

export function outerUdp(payload: Uint8Array, dport: number, src = OUTER_V4_SRC, dst = OUTER_V4_DST): Uint8Array {
  const udp = udpDatagram(payload, 54321, dport);
  if (src.includes(":")) return ethernet(0x86dd, ipv6Packet(17, udp, src, dst));
  return ethernet(0x0800, ipv4Packet(17, udp, src, dst));
}

export function vxlan(inner: Uint8Array, vni = 42, port = 4789, src = OUTER_V4_SRC, dst = OUTER_V4_DST): Uint8Array {
  return outerUdp(concat(Uint8Array.from([0x08, 0, 0, 0, ...be32(vni << 8)]), inner), port, src, dst);
}

// Geneve with one 8-byte option, so the options length is honoured.
export function geneve(inner: Uint8Array, vni = 7, protocol = 0x6558): Uint8Array {
  const option = [0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef];
  return outerUdp(concat(Uint8Array.from([option.length >> 2, 0, ...be16(protocol), ...be32(vni << 8)]), Uint8Array.from(option), inner), 6081);
}

export interface GreOptions {
  key?: number;
  sequence?: number;
  checksum?: boolean;
  protocol?: number;    // default 0x6558 (Ethernet)
}

export function greHeader(o: GreOptions): Uint8Array {
  const flags = (o.checksum ? 0x8000 : 0) | (o.key !== undefined ? 0x2000 : 0) | (o.sequence !== undefined ? 0x1000 : 0);
  return Uint8Array.from([...be16(flags), ...be16(o.protocol ?? 0x6558), ...(o.checksum ? [0, 0, 0, 0] : []),
    ...(o.key !== undefined ? be32(o.key) : []), ...(o.sequence !== undefined ? be32(o.sequence) : [])]);
}

export function gre(inner: Uint8Array, o: GreOptions = {}, src = OUTER_V4_SRC, dst = OUTER_V4_DST): Uint8Array {
  const body = concat(greHeader(o), inner);
  if (src.includes(":")) return ethernet(0x86dd, ipv6Packet(47, body, src, dst));
  return ethernet(0x0800, ipv4Packet(47, body, src, dst));
}

export function erspanII(inner: Uint8Array, session = 100): Uint8Array {
  const header = Uint8Array.from([0x10, 0x00, ...be16(session & 0x3ff), 0, 0, 0, 0]);
  return gre(concat(header, inner), { protocol: 0x88be, sequence: 1 });
}

// Type III: frame type 0 (Ethernet) or 2 (IP), with the optional platform subheader.
export function erspanIII(inner: Uint8Array, session = 200, frameType = 0, subheader = false): Uint8Array {
  const word = (frameType << 10) | (subheader ? 1 : 0);
  const header = Uint8Array.from([0x20, 0x00, ...be16(session & 0x3ff), 1, 2, 3, 4, 0, 0, ...be16(word),
    ...(subheader ? [0, 0, 0, 0, 0, 0, 0, 0] : [])]);
  return gre(concat(header, inner), { protocol: 0x22eb, sequence: 1 });
}

// Type I: no ERSPAN header, no GRE sequence number.
export function erspanI(inner: Uint8Array): Uint8Array {
  return gre(inner, { protocol: 0x88be });
}

// IP in IP: the inner frame's IP packet (Ethernet header dropped) as the payload.
export function ipInIp(innerFrame: Uint8Array, src = OUTER_V4_SRC, dst = OUTER_V4_DST): Uint8Array {
  const ip = innerFrame.subarray(14);
  const proto = (ip[0] >> 4) === 4 ? 4 : 41;
  if (src.includes(":")) return ethernet(0x86dd, ipv6Packet(proto, ip, src, dst));
  return ethernet(0x0800, ipv4Packet(proto, ip, src, dst));
}
