// IP fragments and tunnels (--mtu, --tunnel vxlan|gre): writeIpPackets sends a transport segment
// as one IP packet or as in-order IPv4/IPv6 fragments of at most the writer's MTU, each frame
// wrapped in VXLAN or GRE between two fixed endpoints when asked. Takes a flow and a segment;
// gives frames in the pcap. The slow path of writeIpFrame (packets.ts), taken only with options.

import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, PROTOCOL_ICMP, PROTOCOL_UDP, foldChecksum, onesComplementSum, writeEthernetHeader, writeIpv4Header, writeIpv6Header, type Flow, type Segment } from "./frames";
import type { PcapWriter } from "./pcap";

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
export function writeIpPackets(out: PcapWriter, timeUs: number, flow: Flow, tos: number, segment: Segment): void {
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
