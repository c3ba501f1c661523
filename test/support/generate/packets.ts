// Whole packets: writeIpFrame (Ethernet, IP and a transport segment with its checksum, straight
// into the writer's buffer, or through fragments and tunnels when the options ask), and over it
// the UDP, TCP, ICMP echo and ARP frames. Takes a flow, a capture time and a payload; gives one
// record in the pcap (several when fragmented).

import { writeIpPackets } from "./fragments-tunnels";
import { BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, PROTOCOL_ICMP, PROTOCOL_TCP, PROTOCOL_UDP, foldChecksum, onesComplementSum, writeEthernetHeader, writeIpv4Header, writeIpv6Header, type Flow, type Segment } from "./frames";
import type { Host } from "./hosts";
import type { PcapWriter } from "./pcap";

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

const udpHeader = Buffer.alloc(8);

export function writeUdpFrame(out: PcapWriter, timeUs: number, flow: Flow, tos: number, payload: Uint8Array): void {
  udpHeader.writeUInt16BE(flow.src.port, 0);
  udpHeader.writeUInt16BE(flow.dst.port, 2);
  udpHeader.writeUInt16BE(8 + payload.byteLength, 4);
  writeIpFrame(out, timeUs, flow, tos, { protocol: PROTOCOL_UDP, header: udpHeader, payload, checksumOffset: 6 });
}

export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;
export const TCP_PSH = 0x08;

export interface TcpSegment {
  seq: number;
  ack: number;
  flags: number;
  payload: Uint8Array;
}

export function writeTcpFrame(out: PcapWriter, timeUs: number, flow: Flow, segment: TcpSegment): void {
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

export function writeIcmpEchoFrame(out: PcapWriter, timeUs: number, flow: Flow, type: 0 | 8, identifier: number, sequence: number, data: Uint8Array): void {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt16BE(identifier, 4);
  header.writeUInt16BE(sequence, 6);
  writeIpFrame(out, timeUs, flow, 0, { protocol: PROTOCOL_ICMP, header, payload: data, checksumOffset: 2 });
}

export function writeArpFrame(out: PcapWriter, timeUs: number, sender: Host, target: Host, reply: boolean, vlans: readonly number[]): void {
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
