// The BPF filter live capture uses when the user gives none: what the configuration says
// Siphon decodes, so the kernel hands over nothing else. `-f` replaces it whole.

export interface CaptureFilterConfig {
  sipPorts: number[];     // UDP and TCP (and WebSocket over TCP)
  vxlanPorts: number[];   // UDP
  genevePorts: number[];  // UDP
  media?: boolean;        // media tracking on: UDP that may be RTP/RTCP too
}

export const DEFAULT_SIP_PORTS = [5060, 5061];
export const DEFAULT_VXLAN_PORTS = [4789];
export const DEFAULT_GENEVE_PORTS = [6081];

const IP_PROTO_IPIP = 4;
const IP_PROTO_IPV6 = 41;
const IP_PROTO_GRE = 47; // GRE, and ERSPAN inside it

function ports(list: number[]): string {
  return [...new Set(list)].map((p) => `port ${p}`).join(" or ");
}

function eitherIp(proto: number): string {
  return `ip proto ${proto} or ip6 proto ${proto}`;
}

/** The filter for untagged frames, repeated after one and two 802.1Q/802.1ad tags (QinQ): each
 *  `vlan` moves every later offset libpcap reads 4 bytes further on. `tagged` false leaves the
 *  tags out, for link types where libpcap has no `vlan` (Linux cooked, the 'any' device; raw IP). */
export function captureFilter(config: CaptureFilterConfig, tagged = true): string {
  const clauses = [
    `(tcp or udp) and (${ports(config.sipPorts)})`,
    `udp and (${ports([...config.vxlanPorts, ...config.genevePorts])})`,
    eitherIp(IP_PROTO_GRE),
    eitherIp(IP_PROTO_IPIP),
    eitherIp(IP_PROTO_IPV6),
    // IPv4 fragments: MF set or a non-zero offset. Later fragments carry no UDP header, so the
    // port clauses cannot select them; the core reassembles and drops what is not SIP.
    "(ip[6:2] & 0x3fff) != 0",
    // IPv6 fragments whose Fragment header follows the fixed header (BPF cannot walk a chain).
    "ip6[6] == 44",
    // RTP and RTCP (version 2 in the first payload byte): their ports come from SDP at run time.
    // libpcap's udp[] reads IPv4 only; over IPv6 the payload is at 48 past a fixed header.
    ...(config.media ? ["udp and (udp[8] & 0xc0) == 0x80", "ip6[6] == 17 and (ip6[48] & 0xc0) == 0x80"] : []),
  ];
  const untagged = clauses.map((c) => `(${c})`).join(" or ");
  if (!tagged) return untagged;
  return `${untagged} or (vlan and (${untagged} or (vlan and (${untagged}))))`;
}
