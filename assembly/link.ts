// Link layers: find the network-layer header behind each supported link type.
// Returns the ethertype-style protocol (0x0800 IPv4, 0x86dd IPv6) through
// `linkProto` and the header's offset, or -1 when the frame is not IP.
import { be16 } from "./packet";
import { count } from "./state";
import { C_LINK_UNSUPPORTED, C_FRAME_MALFORMED } from "./layout";

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
const MAX_VLAN_TAGS = 4;

export let linkProto: u32 = 0;

export function decodeLink(frame: usize, len: u32, linkType: u32): i32 {
  if (linkType == LINKTYPE_ETHERNET) return ethernet(frame, len, 0);
  if (linkType == LINKTYPE_RAW || linkType == DLT_RAW_BSD || linkType == DLT_RAW_OPENBSD
    || linkType == LINKTYPE_IPV4 || linkType == LINKTYPE_IPV6) return rawIp(frame, len, 0);
  if (linkType == LINKTYPE_LINUX_SLL) return sll(frame, len);
  if (linkType == LINKTYPE_LINUX_SLL2) return sll2(frame, len);
  if (linkType == LINKTYPE_NULL || linkType == LINKTYPE_LOOP) return loopback(frame, len, linkType);
  count(C_LINK_UNSUPPORTED);
  return -1;
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
    return ipProto(type, pos);
  }
  return malformed();
}

// Raw IP: the version nibble tells IPv4 from IPv6.
export function rawIp(frame: usize, len: u32, at: u32): i32 {
  if (at >= len) return malformed();
  const version = load<u8>(frame + at) >> 4;
  if (version == 4) return ipProto(ETH_IPV4, at);
  if (version == 6) return ipProto(ETH_IPV6, at);
  linkProto = 0;
  return -1;
}

// Linux cooked capture v1: 16-byte header, protocol type at offset 14.
function sll(frame: usize, len: u32): i32 {
  if (len < 16) return malformed();
  return ipProto(be16(frame + 14), 16);
}

// Linux cooked capture v2: 20-byte header, protocol type at offset 0.
function sll2(frame: usize, len: u32): i32 {
  if (len < 20) return malformed();
  return ipProto(be16(frame), 20);
}

// BSD loopback: a 4-byte address family, host byte order for NULL and network
// order for LOOP. AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30 by OS.
function loopback(frame: usize, len: u32, linkType: u32): i32 {
  if (len < 4) return malformed();
  let family = load<u32>(frame);
  if (linkType == LINKTYPE_LOOP || (family & 0xffff) == 0) family = bswap<u32>(family);
  if (family == 2) return ipProto(ETH_IPV4, 4);
  if (family == 10 || family == 24 || family == 28 || family == 30) return ipProto(ETH_IPV6, 4);
  linkProto = 0;
  return -1;
}

function ipProto(type: u32, at: u32): i32 {
  linkProto = type;
  if (type == ETH_IPV4 || type == ETH_IPV6) return <i32>at;
  return -1;
}

function malformed(): i32 {
  count(C_FRAME_MALFORMED);
  linkProto = 0;
  return -1;
}
