// The BPF filter live capture builds from the configuration, run by libpcap itself (tcpdump -r)
// over frames built here: what Siphon decodes passes, other traffic does not.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureFilter, DEFAULT_GENEVE_PORTS, DEFAULT_SIP_PORTS, DEFAULT_VXLAN_PORTS } from "../host/source/bpf";
import { concat, ethernet, INVITE, ipv4Packet, ipv6Packet, pcapFile, tcpFrame, udpFrame, udpHeader } from "./helpers";

const tmp = mkdtempSync(join(tmpdir(), "siphon-bpf-"));
const builtFilter = (extraSipPorts: number[] = []): string => captureFilter({
  sipPorts: [...DEFAULT_SIP_PORTS, ...extraSipPorts],
  vxlanPorts: DEFAULT_VXLAN_PORTS,
  genevePorts: DEFAULT_GENEVE_PORTS,
});

let fileNumber = 0;
function passes(frame: Uint8Array, filter: string): boolean {
  const file = join(tmp, `f${fileNumber++}.pcap`);
  writeFileSync(file, pcapFile([frame]));
  const out = `${file}.out`;
  const r = spawnSync("tcpdump", ["-r", file, "-w", out, filter], { encoding: "latin1" });
  if (r.status !== 0) throw new Error(`tcpdump refused the filter: ${r.stderr}`);
  return statSync(out).size > 24; // more than the file header: the packet passed
}

// The IPv4 header's flags and fragment offset (bytes 6-7), the header at `ipAt` of the frame.
function withFragmentField(frame: Uint8Array, value: number, ipAt = 14): Uint8Array {
  const copy = Uint8Array.from(frame);
  copy[ipAt + 6] = value >> 8;
  copy[ipAt + 7] = value & 255;
  return copy;
}

const MF = 0x2000;
const DF = 0x4000;
const payload = Buffer.from(INVITE, "latin1");
const udpTo = (dport: number): Uint8Array => concat(Uint8Array.from(udpHeader(payload, 40000, dport)), payload);
const inIp = (proto: number, inner: Uint8Array): Uint8Array => ethernet(0x0800, ipv4Packet(proto, inner, "192.0.2.1", "198.51.100.7"));
const ipv6Fragment = concat(Uint8Array.from([17, 0, 0x00, 0x01, 0, 0, 0, 7]), udpTo(5060));

const selected: Array<[string, Uint8Array]> = [
  ["SIP over UDP 5060", udpFrame(INVITE)],
  ["SIP over UDP 5061", udpFrame(INVITE, { sport: 40000, dport: 5061 })],
  ["SIP over TCP 5060", tcpFrame(INVITE, { seq: 1 })],
  ["SIP over IPv6 UDP 5060", udpFrame(INVITE, { src: "2001:db8::1", dst: "2001:db8::2" })],
  ["SIP in one 802.1Q tag", udpFrame(INVITE, { vlans: [100] })],
  ["SIP in QinQ (two tags)", udpFrame(INVITE, { vlans: [100, 200] })],
  ["an IPv4 later fragment in QinQ", withFragmentField(udpFrame(payload, { dport: 9999, vlans: [100, 200] }), 185, 14 + 8)],
  ["VXLAN (UDP 4789)", udpFrame(payload, { sport: 40000, dport: 4789 })],
  ["Geneve (UDP 6081)", udpFrame(payload, { sport: 40000, dport: 6081 })],
  ["GRE (and ERSPAN) over IPv4", inIp(47, new Uint8Array(40))],
  ["GRE over IPv6", ethernet(0x86dd, ipv6Packet(47, new Uint8Array(40), "2001:db8::1", "2001:db8::2"))],
  ["IPv4 in IPv4", inIp(4, ipv4Packet(17, udpTo(5060), "10.0.0.1", "10.0.0.2"))],
  ["IPv6 in IPv4", inIp(41, ipv6Packet(17, udpTo(5060), "2001:db8::1", "2001:db8::2"))],
  ["IPv4 first fragment to another port", withFragmentField(udpFrame(INVITE, { dport: 9999 }), MF)],
  ["IPv4 later fragment", withFragmentField(inIp(17, new Uint8Array(200)), 185)],
  ["IPv6 fragment", ethernet(0x86dd, ipv6Packet(44, ipv6Fragment, "2001:db8::1", "2001:db8::2"))],
];

const refused: Array<[string, Uint8Array]> = [
  ["DNS (UDP 53)", udpFrame(payload, { sport: 40000, dport: 53 })],
  ["HTTP (TCP 80)", tcpFrame("GET / HTTP/1.1\r\n\r\n", { seq: 1, sport: 40000, dport: 80 })],
  ["UDP 5080 when it is not configured", udpFrame(INVITE, { sport: 40000, dport: 5080 })],
  ["IPv4 with only Don't Fragment set", withFragmentField(udpFrame(payload, { sport: 40000, dport: 53 }), DF)],
  ["DNS in an 802.1Q tag", udpFrame(payload, { sport: 40000, dport: 53, vlans: [100] })],
  ["DNS in QinQ", udpFrame(payload, { sport: 40000, dport: 53, vlans: [100, 200] })],
];

if (spawnSync("sh", ["-c", "command -v tcpdump"]).status !== 0) {
  console.log("bpf.test: tcpdump is not installed: the built-filter tests are not registered");
} else {
  for (const [what, frame] of selected) {
    test(`the built filter takes ${what}`, () => {
      assert.ok(passes(frame, builtFilter()));
    });
  }
  for (const [what, frame] of refused) {
    test(`the built filter leaves out ${what}`, () => {
      assert.not.ok(passes(frame, builtFilter()));
    });
  }
  test("with media tracking the built filter takes RTP (IPv4, IPv6, tagged) on any port, and still not DNS", () => {
    const withMedia = captureFilter({ sipPorts: DEFAULT_SIP_PORTS, vxlanPorts: DEFAULT_VXLAN_PORTS, genevePorts: DEFAULT_GENEVE_PORTS, media: true });
    const rtp = Uint8Array.from([0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, ...new Array(160).fill(0xff)]);
    for (const o of [{}, { src: "2001:db8::1", dst: "2001:db8::2" }, { vlans: [100] }]) {
      assert.ok(passes(udpFrame(rtp, { sport: 40002, dport: 30000, ...o }), withMedia), JSON.stringify(o));
      assert.not.ok(passes(udpFrame(rtp, { sport: 40002, dport: 30000, ...o }), builtFilter()), `without media: ${JSON.stringify(o)}`);
    }
    assert.not.ok(passes(udpFrame(payload, { sport: 40000, dport: 53 }), withMedia));
  });
  test("--sip-port adds a port to the built filter", () => {
    assert.ok(passes(udpFrame(INVITE, { sport: 40000, dport: 5080 }), builtFilter([5080])));
    assert.ok(passes(tcpFrame(INVITE, { seq: 1, sport: 5080, dport: 40000 }), builtFilter([5080])));
  });
}

test("the built filter names each SIP port once", () => {
  const filter = builtFilter([5060, 5080, 5080]);
  assert.is(filter.match(/port 5080\b/g)?.length, 3); // untagged, one tag, two tags
  assert.is(filter.match(/port 5060\b/g)?.length, 3);
});

test.run();
