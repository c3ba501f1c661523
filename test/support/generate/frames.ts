// Link and IP headers: Ethernet with VLAN/QinQ tags, IPv4 and IPv6 written in place into the
// writer's buffer, the Internet checksum, and the Flow (two endpoints and a link) every packet is
// sent on. Takes hosts and FrameBytes; gives the header writers and constants that the packet,
// fragment and tunnel writers build on.

import type { Host, IpAddress } from "./hosts";
import type { FrameBytes } from "./pcap";

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_ARP = 0x0806;
const TPID_8021Q = 0x8100;
const TPID_8021AD = 0x88a8;
export const PROTOCOL_ICMP = 1;
export const PROTOCOL_TCP = 6;
export const PROTOCOL_UDP = 17;
export const TOS_SIGNALLING = 0x60; // DSCP CS3
export const TOS_MEDIA = 0xb8; // DSCP EF
export const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

export interface Endpoint {
  host: Host;
  port: number;
}

export interface Flow {
  src: Endpoint;
  dst: Endpoint;
  vlans: readonly number[];
}

export function reverse(flow: Flow): Flow {
  return { src: flow.dst, dst: flow.src, vlans: flow.vlans };
}

/**
 * Internet checksum sum over bytes [start, end) of view. Adding 32-bit words and folding later
 * gives the same ones' complement result as adding 16-bit words, in half the steps.
 */
export function onesComplementSum(view: DataView, start: number, end: number, initial: number): number {
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

export function foldChecksum(sum: number): number {
  let folded = sum;
  while (folded > 0xffff) folded = (folded % 0x10000) + Math.floor(folded / 0x10000);
  return ~folded & 0xffff;
}

/** A transport-layer segment: its header (checksum field zero) and payload. */
export interface Segment {
  protocol: number;
  header: Uint8Array;
  payload: Uint8Array;
  checksumOffset: number;
}

export function writeEthernetHeader(out: FrameBytes, at: number, dst: Uint8Array, src: Uint8Array, vlans: readonly number[], etherType: number): number {
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

export function writeIpv4Header(out: FrameBytes, at: number, src: Host, dst: IpAddress, protocol: number, tos: number, payloadLength: number): number {
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

export function writeIpv6Header(out: FrameBytes, at: number, src: IpAddress, dst: IpAddress, nextHeader: number, trafficClass: number, payloadLength: number): number {
  const { bytes, view } = out;
  view.setUint32(at, (0x60000000 | (trafficClass << 20)) >>> 0);
  view.setUint16(at + 4, payloadLength);
  view.setUint8(at + 6, nextHeader);
  view.setUint8(at + 7, 64);
  bytes.set(src.bytes, at + 8);
  bytes.set(dst.bytes, at + 24);
  return at + 40;
}
