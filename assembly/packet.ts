// The packet being decoded: globals filled stage by stage (link -> ip -> udp),
// so no stage allocates and each reads what the one before it found.

export const srcAddr: usize = memory.data(16, 8);
export const dstAddr: usize = memory.data(16, 8);

export let ipVersion: u32 = 0;
export let srcPort: u32 = 0;
export let dstPort: u32 = 0;
export let tsSec: i64 = 0;
export let tsNsec: u32 = 0;
export let frameIndex: u32 = 0;
export let truncated = false; // caplen < origLen: the frame was cut by the snap length

// The outermost tunnel around the packet (TUNNEL_NONE when there is none).
export const outerSrc: usize = memory.data(16, 8);
export const outerDst: usize = memory.data(16, 8);
export let outerVersion: u32 = 0;
export let outerType: u32 = 0;
export let outerId: u32 = 0;
export let outerHasId = false;
export let tunnelDepth: u32 = 0;

// A message of another stream direction, framed while this packet is decoded (a
// partial message given up, assembly/tcp.ts), carries that direction's endpoints
// and no tunnel: useStreamEndpoints sets them, restorePacketEndpoints puts the
// packet's back.
const savedSrc: usize = memory.data(16, 8);
const savedDst: usize = memory.data(16, 8);
let savedVersion: u32 = 0;
let savedSrcPort: u32 = 0;
let savedDstPort: u32 = 0;
let savedTruncated = false;
let savedOuterType: u32 = 0;
let savedOuterVersion: u32 = 0;
let savedOuterHasId = false;
let savedDepth: u32 = 0;

export function useStreamEndpoints(src: usize, dst: usize, sport: u32, dport: u32, version: u32): void {
  memory.copy(savedSrc, srcAddr, 16);
  memory.copy(savedDst, dstAddr, 16);
  savedVersion = ipVersion;
  savedSrcPort = srcPort;
  savedDstPort = dstPort;
  savedTruncated = truncated;
  savedOuterType = outerType;
  savedOuterVersion = outerVersion;
  savedOuterHasId = outerHasId;
  savedDepth = tunnelDepth;
  memory.copy(srcAddr, src, 16);
  memory.copy(dstAddr, dst, 16);
  srcPort = sport;
  dstPort = dport;
  ipVersion = version;
  truncated = false;
  outerType = 0;
  outerVersion = 0;
  outerHasId = false;
  tunnelDepth = 0;
}

export function restorePacketEndpoints(): void {
  memory.copy(srcAddr, savedSrc, 16);
  memory.copy(dstAddr, savedDst, 16);
  ipVersion = savedVersion;
  srcPort = savedSrcPort;
  dstPort = savedDstPort;
  truncated = savedTruncated;
  outerType = savedOuterType;
  outerVersion = savedOuterVersion;
  outerHasId = savedOuterHasId;
  tunnelDepth = savedDepth;
}

// Before a batch's first frame: a trap before it is blamed on frame 0, not on a past batch's.
export function beginBatch(): void {
  frameIndex = 0;
}

export function beginFrame(index: u32, sec: i64, nsec: u32, cut: bool): void {
  frameIndex = index;
  tsSec = sec;
  tsNsec = nsec;
  truncated = cut;
  ipVersion = 0;
  srcPort = 0;
  dstPort = 0;
  outerType = 0;
  outerVersion = 0;
  outerHasId = false;
  tunnelDepth = 0;
}

// Entering a tunnel: the first one's endpoints are the packet's current addresses.
export function enterTunnel(type: u32, id: u32, hasId: bool): void {
  if (tunnelDepth++ > 0) return;
  memory.copy(outerSrc, srcAddr, 16);
  memory.copy(outerDst, dstAddr, 16);
  outerVersion = ipVersion;
  outerType = type;
  outerId = id;
  outerHasId = hasId;
}

// The outermost tunnel as 24 bits that tell one tunnel from another, 0 outside any: its type,
// id (VNI, GRE key, ERSPAN session) and endpoints, the same through it either way (each endpoint
// hashed alone, then added). TCP streams and IP fragments are keyed by it besides their own
// addresses, because networks behind different tunnels (VXLAN tenants) reuse private addresses.
export function tunnelContext(): u32 {
  if (tunnelDepth == 0) return 0;
  let h = addressHash(outerSrc) + addressHash(outerDst);
  h = (h ^ (<u64>outerType << 32 | <u64>outerId)) * 0xff51afd7ed558ccd;
  return <u32>(h >> 40);
}

// The outermost tunnel's type and id alone (VXLAN or Geneve VNI, GRE key, ERSPAN session) as 24
// bits, 0 outside any: the tenant whose network the packet is in. Media is keyed by it rather than
// by tunnelContext, since a call's RTP usually flows between other hosts (other VTEPs) than its
// signalling does, while tenants reuse private addresses and ports.
export function tunnelTenant(): u32 {
  if (tunnelDepth == 0) return 0;
  return <u32>(((<u64>outerType << 32 | <u64>outerId) * 0xff51afd7ed558ccd) >> 41) | 0x800000;
}

@inline function addressHash(a: usize): u64 {
  const h = (load<u64>(a) * 0x9e3779b97f4a7c15) ^ load<u64>(a + 8);
  return (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9;
}

// Addresses move as 8-byte words: memory.copy and memory.fill are calls into
// the engine, dearer than two moves, and these run for every IP packet.
export function setIPv4(header: usize): void {
  ipVersion = 4;
  store<u64>(srcAddr, <u64>load<u32>(header + 12));
  store<u64>(srcAddr, 0, 8);
  store<u64>(dstAddr, <u64>load<u32>(header + 16));
  store<u64>(dstAddr, 0, 8);
}

export function setIPv6(header: usize): void {
  ipVersion = 6;
  store<u64>(srcAddr, load<u64>(header + 8));
  store<u64>(srcAddr, load<u64>(header + 16), 8);
  store<u64>(dstAddr, load<u64>(header + 24));
  store<u64>(dstAddr, load<u64>(header + 32), 8);
}

export function setPorts(src: u32, dst: u32): void {
  srcPort = src;
  dstPort = dst;
}

@inline export function be16(p: usize): u32 {
  return (<u32>load<u8>(p) << 8) | <u32>load<u8>(p + 1);
}

@inline export function be32(p: usize): u32 {
  return bswap<u32>(load<u32>(p));
}
