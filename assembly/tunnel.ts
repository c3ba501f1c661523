// Tunnels: VXLAN (RFC 7348), Geneve (RFC 8926), GRE (RFC 2784, RFC 2890 key and
// sequence) with Ethernet, IP or ERSPAN types I, II and III inside. Each decoder
// finds the inner network header: it returns its offset and sets innerType
// (ETH_IPV4 or ETH_IPV6), or returns NOT_INNER_IP. The caller recurses, at most
// MAX_TUNNEL_DEPTH tunnels deep.
import { be16, be32, enterTunnel, tunnelDepth } from "./packet";
import { count, cfg } from "./state";
import { ethernet, rawIp, linkProto, ETH_IPV4, ETH_IPV6 } from "./link";
import {
  CFG_VXLAN_PORTS, CFG_GENEVE_PORT, TUNNEL_VXLAN, TUNNEL_GENEVE, TUNNEL_GRE, TUNNEL_ERSPAN,
  TUNNEL_IPIP, C_TUNNEL_VXLAN, C_TUNNEL_GENEVE, C_TUNNEL_GRE, C_TUNNEL_ERSPAN, C_TUNNEL_IP,
  C_TUNNEL_DEPTH, C_TUNNEL_UNSUPPORTED,
} from "./layout";

export const MAX_TUNNEL_DEPTH: u32 = 4;
export const NOT_TUNNEL: i32 = -2;   // a UDP payload that is no tunnel: try it as SIP
export const NOT_INNER_IP: i32 = -1; // a tunnel, with nothing Siphon decodes inside

export let innerType: u32 = 0;

const ETH_BRIDGING: u32 = 0x6558;    // transparent Ethernet bridging
const ETH_ERSPAN_II: u32 = 0x88be;   // type I as well, told apart by the GRE sequence bit
const ETH_ERSPAN_III: u32 = 0x22eb;

const GRE_CHECKSUM: u32 = 0x8000;
const GRE_ROUTING: u32 = 0x4000;
const GRE_KEY: u32 = 0x2000;
const GRE_SEQUENCE: u32 = 0x1000;

export function isTunnelPort(port: u32): bool {
  if (port == 0) return false;
  const vxlan = cfg(CFG_VXLAN_PORTS);
  return port == (vxlan & 0xffff) || port == vxlan >> 16 || port == cfg(CFG_GENEVE_PORT);
}

// VXLAN or Geneve, by the destination port; a header that is neither stays a UDP payload.
export function udpTunnel(base: usize, start: u32, end: u32, port: u32): i32 {
  if (start + 8 > end) return NOT_TUNNEL;
  const h = base + start;
  if (port == cfg(CFG_GENEVE_PORT)) {
    // Version 0; the options length is in 4-byte units.
    if ((load<u8>(h) >> 6) != 0) return NOT_TUNNEL;
    if (!enter(TUNNEL_GENEVE, be32(h + 4) >> 8, true, C_TUNNEL_GENEVE)) return NOT_INNER_IP;
    return inner(base, start + 8 + ((<u32>load<u8>(h) & 63) << 2), end, be16(h + 2));
  }
  // The I flag set and the reserved byte after the VNI zero.
  if ((load<u8>(h) & 0x08) == 0 || load<u8>(h + 7) != 0) return NOT_TUNNEL;
  if (!enter(TUNNEL_VXLAN, be32(h + 4) >> 8, true, C_TUNNEL_VXLAN)) return NOT_INNER_IP;
  return found(ethernet(base, end, start + 8));
}

export function greTunnel(base: usize, start: u32, end: u32): i32 {
  if (start + 4 > end) return unsupported();
  const flags = be16(base + start);
  const proto = be16(base + start + 2);
  if ((flags & 7) != 0 || (flags & GRE_ROUTING) != 0) return unsupported();
  let pos = start + 4;
  if (flags & GRE_CHECKSUM) pos += 4;
  let key: u32 = 0;
  if (flags & GRE_KEY) {
    if (pos + 4 > end) return unsupported();
    key = be32(base + pos);
    pos += 4;
  }
  const sequenced = (flags & GRE_SEQUENCE) != 0;
  if (sequenced) pos += 4;
  if (pos > end) return unsupported();
  if (proto == ETH_ERSPAN_II || proto == ETH_ERSPAN_III) return erspan(base, pos, end, proto, sequenced);
  if (!enter(TUNNEL_GRE, key, (flags & GRE_KEY) != 0, C_TUNNEL_GRE)) return NOT_INNER_IP;
  return inner(base, pos, end, proto);
}

export function ipInIp(): bool {
  return enter(TUNNEL_IPIP, 0, false, C_TUNNEL_IP);
}

// ERSPAN (draft-foschiano-erspan): type I has no header of its own (no GRE
// sequence number); type II an 8-byte header, version 1; type III a 12-byte
// header, version 2, then an 8-byte platform subheader when its O flag is set.
function erspan(base: usize, pos: u32, end: u32, proto: u32, sequenced: bool): i32 {
  if (proto == ETH_ERSPAN_II && !sequenced) {
    if (!enter(TUNNEL_ERSPAN, 0, false, C_TUNNEL_ERSPAN)) return NOT_INNER_IP;
    return inner(base, pos, end, ETH_BRIDGING);
  }
  if (pos + 8 > end) return unsupported();
  const version = <u32>load<u8>(base + pos) >> 4;
  const session = be16(base + pos + 2) & 0x3ff;
  if (proto == ETH_ERSPAN_II) {
    if (version != 1) return unsupported();
    if (!enter(TUNNEL_ERSPAN, session, true, C_TUNNEL_ERSPAN)) return NOT_INNER_IP;
    return inner(base, pos + 8, end, ETH_BRIDGING);
  }
  if (version != 2 || pos + 12 > end) return unsupported();
  const word = be16(base + pos + 10);
  const frameType = (word >> 10) & 31;
  const afterHeader = pos + 12 + ((word & 1) != 0 ? 8 : 0);
  if (!enter(TUNNEL_ERSPAN, session, true, C_TUNNEL_ERSPAN)) return NOT_INNER_IP;
  if (frameType == 0) return inner(base, afterHeader, end, ETH_BRIDGING);
  if (frameType == 2) return found(rawIp(base, end, afterHeader));
  return unsupported();
}

// The inner header by its ethertype-style protocol.
function inner(base: usize, at: u32, end: u32, proto: u32): i32 {
  if (at > end) return NOT_INNER_IP;
  if (proto == ETH_BRIDGING) return found(ethernet(base, end, at));
  if (proto == ETH_IPV4 || proto == ETH_IPV6) {
    innerType = proto;
    return <i32>at;
  }
  return unsupported();
}

function found(at: i32): i32 {
  if (at < 0) return NOT_INNER_IP;
  innerType = linkProto;
  return at;
}

function enter(type: u32, id: u32, hasId: bool, counter: i32): bool {
  if (tunnelDepth >= MAX_TUNNEL_DEPTH) {
    count(C_TUNNEL_DEPTH);
    return false;
  }
  count(counter);
  enterTunnel(type, id, hasId);
  return true;
}

function unsupported(): i32 {
  count(C_TUNNEL_UNSUPPORTED);
  return NOT_INNER_IP;
}
