// Link layers: find the network-layer header behind each supported link type.
// Returns the ethertype-style protocol (0x0800 IPv4, 0x86dd IPv6) through
// `linkProto`, the header's offset, and through `linkEnd` where the link layer
// says its payload ends; or LINK_MALFORMED (counted) or LINK_NOT_IP when the
// frame carries no IP that Siphon reads.
import { be16, truncated } from "./packet";
import { count } from "./state";
import { C_LINK_UNSUPPORTED, C_FRAME_MALFORMED, C_PPPOE, C_MPLS, C_NOT_IP } from "./layout";

// LINKTYPE_* values from tcpdump.org/linktypes.html
const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LOOP: u32 = 108;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_IPV6: u32 = 229;
const LINKTYPE_LINUX_SLL2: u32 = 276;
const DLT_RAW_BSD: u32 = 12;  // some BSDs write the DLT value instead of LINKTYPE_RAW
const DLT_RAW_OPENBSD: u32 = 14;

export const ETH_IPV4: u32 = 0x0800;
export const ETH_IPV6: u32 = 0x86dd;
const ETH_VLAN: u32 = 0x8100;
const ETH_QINQ: u32 = 0x88a8;
const ETH_QINQ_OLD: u32 = 0x9100;
const ETH_PPPOE_SESSION: u32 = 0x8864;
const ETH_MPLS_UNICAST: u32 = 0x8847;
const MAX_VLAN_TAGS = 4;

// PPP protocol numbers (RFC 1661 §2; IPv4 RFC 1332, IPv6 RFC 5072).
const PPP_IPV4: u32 = 0x0021;
const PPP_IPV6: u32 = 0x0057;
// Label stack entries walked before giving up; real stacks hold a handful.
const MAX_MPLS_LABELS: u32 = 16;

export const LINK_MALFORMED: i32 = -1;
export const LINK_NOT_IP: i32 = -2;

export let linkProto: u32 = 0;
export let linkEnd: u32 = 0;

// The outermost link layer of a frame: counts the frame in not_ip when it
// carries no IP (the other outcomes are counted where they are found).
export function decodeLink(frame: usize, len: u32, linkType: u32): i32 {
  linkEnd = len;
  const at = linkLayer(frame, len, linkType);
  if (at == LINK_NOT_IP) count(C_NOT_IP);
  return at;
}

function linkLayer(frame: usize, len: u32, linkType: u32): i32 {
  if (linkType == LINKTYPE_ETHERNET) return ethernet(frame, len, 0);
  if (linkType == LINKTYPE_RAW || linkType == DLT_RAW_BSD || linkType == DLT_RAW_OPENBSD
    || linkType == LINKTYPE_IPV4 || linkType == LINKTYPE_IPV6) return rawIp(frame, len, 0);
  if (linkType == LINKTYPE_LINUX_SLL) return sll(frame, len);
  if (linkType == LINKTYPE_LINUX_SLL2) return sll2(frame, len);
  if (linkType == LINKTYPE_NULL || linkType == LINKTYPE_LOOP) return loopback(frame, len, linkType);
  count(C_LINK_UNSUPPORTED);
  return LINK_MALFORMED;
}

export function ethernet(frame: usize, len: u32, at: u32): i32 {
  let pos = at + 12;
  for (let tags = 0; tags <= MAX_VLAN_TAGS; tags++) {
    if (pos + 2 > len) return malformed();
    const type = be16(frame + pos);
    pos += 2;
    if (type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD) {
      pos += 2; // 802.1Q tag control information
      continue;
    }
    return byEthertype(frame, len, type, pos);
  }
  return malformed();
}

function byEthertype(frame: usize, len: u32, type: u32, at: u32): i32 {
  if (type == ETH_PPPOE_SESSION) return pppoeSession(frame, len, at);
  if (type == ETH_MPLS_UNICAST) return mpls(frame, len, at);
  return ipProto(type, at);
}

// PPPoE session stage (RFC 2516 §4, §5.1): VER 1, TYPE 1, CODE 0, a session id
// and LENGTH, the bytes of the PPP payload that follow; then a PPP protocol
// field, two bytes or one when compressed (RFC 1661 §6.5: odd low byte ends it).
function pppoeSession(frame: usize, len: u32, at: u32): i32 {
  if (<u64>at + 8 > <u64>len) return malformed();
  const h = frame + at;
  if (load<u8>(h) != 0x11 || load<u8>(h + 1) != 0) return malformed();
  const payload = be16(h + 4);
  const end = <u64>at + 6 + <u64>payload;
  // A LENGTH past the frame is an error unless the snap length cut the frame.
  if (payload < 2 || (end > <u64>len && !truncated)) return malformed();
  count(C_PPPOE);
  if (end < <u64>linkEnd) linkEnd = <u32>end;
  let proto = <u32>load<u8>(h + 6);
  let ip = at + 7;
  if ((proto & 1) == 0) {
    proto = be16(h + 6);
    ip = at + 8;
  }
  if (proto == PPP_IPV4) return ipProto(ETH_IPV4, ip);
  if (proto == PPP_IPV6) return ipProto(ETH_IPV6, ip);
  return notIp();
}

// MPLS label stack (RFC 3032 §2.1): 4-byte entries until the one with the
// bottom-of-stack bit; the payload's first nibble then tells IPv4 from IPv6
// (RFC 3032 §2.2 leaves the payload's type to the label; a pseudowire's
// control word starts with 0, RFC 4385, and is not IP).
function mpls(frame: usize, len: u32, at: u32): i32 {
  let pos = at;
  for (let labels: u32 = 0; labels < MAX_MPLS_LABELS; labels++) {
    if (<u64>pos + 4 > <u64>len) return malformed();
    const bottom = (load<u8>(frame + pos + 2) & 1) != 0;
    pos += 4;
    if (bottom) {
      count(C_MPLS);
      return rawIp(frame, len, pos);
    }
  }
  return notIp();
}

// Raw IP: the version nibble tells IPv4 from IPv6.
export function rawIp(frame: usize, len: u32, at: u32): i32 {
  if (at >= len) return malformed();
  const version = load<u8>(frame + at) >> 4;
  if (version == 4) return ipProto(ETH_IPV4, at);
  if (version == 6) return ipProto(ETH_IPV6, at);
  return notIp();
}

// Linux cooked capture v1: 16-byte header, protocol type at offset 14.
function sll(frame: usize, len: u32): i32 {
  if (len < 16) return malformed();
  return byEthertype(frame, len, be16(frame + 14), 16);
}

// Linux cooked capture v2: 20-byte header, protocol type at offset 0.
function sll2(frame: usize, len: u32): i32 {
  if (len < 20) return malformed();
  return byEthertype(frame, len, be16(frame), 20);
}

// BSD loopback: a 4-byte address family, host byte order for NULL and network
// order for LOOP. AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30 by OS.
function loopback(frame: usize, len: u32, linkType: u32): i32 {
  if (len < 4) return malformed();
  let family = load<u32>(frame);
  if (linkType == LINKTYPE_LOOP || (family & 0xffff) == 0) family = bswap<u32>(family);
  if (family == 2) return ipProto(ETH_IPV4, 4);
  if (family == 10 || family == 24 || family == 28 || family == 30) return ipProto(ETH_IPV6, 4);
  return notIp();
}

function ipProto(type: u32, at: u32): i32 {
  linkProto = type;
  if (type == ETH_IPV4 || type == ETH_IPV6) return <i32>at;
  return LINK_NOT_IP;
}

function notIp(): i32 {
  linkProto = 0;
  return LINK_NOT_IP;
}

function malformed(): i32 {
  count(C_FRAME_MALFORMED);
  linkProto = 0;
  return LINK_MALFORMED;
}
