// The world the traffic runs in: IPv4 and IPv6 families of proxies, phones (some behind VLAN or
// QinQ tags), users with their registrations, a DNS server and web servers, each host with its
// address, MAC and SIP port. Takes an Rng (buildWorld); gives the World that scenarios pick from,
// and hostInUri for an address as it appears in a SIP URI.

import type { Rng } from "./rng";

export interface IpAddress {
  version: 4 | 6;
  bytes: Uint8Array;
  text: string;
  /** Sum of the address's 16-bit words, its share of every pseudo-header checksum. */
  wordSum: number;
}

function wordSum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.byteLength; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  return sum;
}

export interface Host {
  ip: IpAddress;
  mac: Uint8Array;
  sipPort: number;
  /** 802.1Q tags on this host's access link, outermost first. */
  vlans: readonly number[];
  agent: string;
  nextIpId: number;
}

interface Registration {
  callId: string;
  nextCseq: number;
  registered: boolean;
  busyUntilUs: number;
}

export interface User {
  name: string;
  display: string;
  domain: string;
  phone: Host;
  registrar: Host;
  registration: Registration;
}

export interface Family {
  version: 4 | 6;
  domain: string;
  proxies: Host[];
  phones: Host[];
  users: User[];
  dnsServer: Host;
  webServers: Host[];
}

export interface World {
  ipv4: Family;
  ipv6: Family;
}

const PHONE_AGENTS = [
  "Yealink SIP-T46U 108.86.0.20",
  "Grandstream GXP2170 1.0.11.23",
  "Linphone/5.2.0 (belle-sip/5.2.0)",
  "Zoiper rv2.10.19.6",
  "Cisco-CP8845/14.2.1",
  "PolycomVVX-VVX_450-UA/6.4.3.5018",
];
const PROXY_AGENTS = [
  "Asterisk PBX 20.5.0",
  "FreeSWITCH-mod_sofia/1.10.11-release",
  "kamailio (5.7.4 (x86_64/linux))",
  "OpenSIPS (3.4.3 (x86_64/linux))",
];
const FIRST_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "olivia", "peggy", "trent", "victor", "walter"];
// Display names beyond ASCII, so byte and character counts differ.
const UTF8_DISPLAY_NAMES = ["José García", "Zoë Müller", "Łukasz Żak", "Søren Ødegård", "Ana Conceição", "田中 太郎"];

function ipv4(a: number, b: number, c: number, d: number): IpAddress {
  const bytes = Uint8Array.of(a, b, c, d);
  return { version: 4, bytes, text: `${a}.${b}.${c}.${d}`, wordSum: wordSum(bytes) };
}

/** 2001:db8:<site>::<iface>, with site and iface non-zero so the text form is canonical. */
function ipv6(site: number, iface: number): IpAddress {
  const bytes = new Uint8Array(16);
  bytes.set([0x20, 0x01, 0x0d, 0xb8, site >> 8, site & 0xff]);
  bytes[14] = iface >> 8;
  bytes[15] = iface & 0xff;
  return { version: 6, bytes, text: `2001:db8:${site.toString(16)}::${iface.toString(16)}`, wordSum: wordSum(bytes) };
}

type HostMaker = (ip: IpAddress, sipPort: number, vlans: readonly number[], agent: string) => Host;

/** Hosts numbered in creation order, which gives each a distinct locally administered MAC. */
function hostMaker(): HostMaker {
  let count = 0;
  return (ip, sipPort, vlans, agent) => {
    count++;
    const mac = Uint8Array.of(0x02, 0x53, (count >> 16) & 0xff, (count >> 8) & 0xff, count & 0xff, ip.version);
    return { ip, mac, sipPort, vlans, agent, nextIpId: count * 977 };
  };
}

// A share of access links carry one VLAN tag and a few two (QinQ): chosen by index, so even a
// small world has both.
function accessVlans(index: number): readonly number[] {
  if (index % 17 === 5) return [300, 10 + (index % 8)];
  if (index % 6 === 1) return [100 + (index % 4)];
  return [];
}

function phoneSipPort(rng: Rng): number {
  return rng.weighted<number>([
    [5060, 80],
    [5062, 15],
    [rng.between(40000, 48999), 5], // below the noise clients' ephemeral ports
  ]);
}

function buildFamily(rng: Rng, makeHost: HostMaker, version: 4 | 6, phoneCount: number, usersPerPhone: number): Family {
  const address = (site: number, index: number): IpAddress =>
    version === 4 ? ipv4(site === 1 ? 192 : 10, site === 1 ? 0 : 20, site === 1 ? 2 : index >> 8, index & 0xff) : ipv6(site, index);
  const proxyCount = version === 4 ? 3 : 1;
  const proxies = Array.from({ length: proxyCount }, (_, i) => makeHost(address(1, 10 + i), 5060, [], rng.pick(PROXY_AGENTS)));
  const phones = Array.from({ length: phoneCount }, (_, i) =>
    makeHost(address(2, 266 + i), phoneSipPort(rng), accessVlans(i), rng.pick(PHONE_AGENTS)),
  );
  const domain = version === 4 ? "pbx.example.com" : "v6.example.net";
  const users = phones.flatMap((phone, phoneIndex) =>
    Array.from({ length: usersPerPhone }, (_, line) => makeUser(rng, phoneIndex * usersPerPhone + line, domain, phone, rng.pick(proxies))),
  );
  const webServers = Array.from({ length: 4 }, (_, i) =>
    makeHost(version === 4 ? ipv4(203, 0, 113, 20 + i) : ipv6(0x99, 0x20 + i), 0, [], ""),
  );
  const dnsServer = makeHost(version === 4 ? ipv4(192, 0, 2, 53) : ipv6(1, 0x53), 0, [], "");
  return { version, domain, proxies, phones, users, dnsServer, webServers };
}

function makeUser(rng: Rng, index: number, domain: string, phone: Host, registrar: Host): User {
  const first = FIRST_NAMES[index % FIRST_NAMES.length] ?? "user";
  const extension = 2000 + index;
  const name = rng.chance(0.5) ? String(extension) : `${first}.${extension}`;
  const display = rng.chance(0.1) ? rng.pick(UTF8_DISPLAY_NAMES) : `${first[0]?.toUpperCase()}${first.slice(1)} ${extension}`;
  const registration = { callId: `${rng.hex(20)}@${hostInUri(phone.ip)}`, nextCseq: rng.between(1, 200), registered: false, busyUntilUs: 0 };
  return { name, display, domain, phone, registrar, registration };
}

export function buildWorld(rng: Rng): World {
  const makeHost = hostMaker();
  return { ipv4: buildFamily(rng, makeHost, 4, 120, 3), ipv6: buildFamily(rng, makeHost, 6, 24, 2) };
}

export function hostInUri(ip: IpAddress): string {
  return ip.version === 6 ? `[${ip.text}]` : ip.text;
}
