// Tunnels (assembly/tunnel.ts): each type, nesting and its bound, the outer
// endpoints in records and envelopes, and tshark's decode of public tunnel
// captures and of SIP wrapped in VXLAN.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFrames, udpFrame, tcpFrame, sip, INVITE, framesOf, pcapFile, type Run } from "./helpers";
import { vxlan, geneve, gre, erspanI, erspanII, erspanIII, ipInIp, ipv4Fragment, udpDatagram, pieces, outerUdp } from "./wrap";
import type { CoreOptions } from "../host/core";

const INNER = udpFrame(INVITE, { src: "192.0.2.10", dst: "198.51.100.20" });

function run(data: Uint8Array[], options: Partial<CoreOptions> = {}): Run {
  return runFrames(data.map((d) => ({ data: d })), options);
}

function one(r: Run) {
  assert.is(r.messages.length, 1, "one message expected");
  const m = r.messages[0];
  assert.is(m.bytes.toString("latin1"), INVITE);
  assert.is(m.src.ip, "192.0.2.10", "src is the inner address");
  assert.is(m.dst.ip, "198.51.100.20");
  return m;
}

test("VXLAN on 4789: inner addresses, outer ones with the VNI", () => {
  const r = run([vxlan(INNER, 4242)]);
  const m = one(r);
  assert.equal(m.outer, { src: "10.0.0.1", dst: "10.0.0.2", type: "vxlan", id: 4242, depth: 1 });
  const envelope = JSON.parse(r.ndjson);
  assert.equal(envelope.outer, { src: "10.0.0.1", dst: "10.0.0.2", type: "vxlan", vni: 4242 });
  assert.is(envelope.src, "192.0.2.10:5060");
  assert.is(r.counters.tunnel_vxlan, 1);
});

test("VXLAN on 8472 only when configured", () => {
  assert.is(run([vxlan(INNER, 1, 8472)]).messages.length, 0);
  one(run([vxlan(INNER, 1, 8472)], { vxlanPorts: [4789, 8472] }));
});

test("a message not tunnelled has no outer field", () => {
  const r = run([INNER]);
  assert.is(r.messages[0].outer, undefined);
  assert.not.ok("outer" in JSON.parse(r.ndjson));
});

test("a UDP payload on the VXLAN port that is not VXLAN is tried as SIP", () => {
  const r = run([outerUdp(Buffer.from(INVITE, "latin1"), 4789)]);
  assert.is(r.messages.length, 1);
  assert.is(r.counters.tunnel_vxlan, 0);
});

test("Geneve with options, Ethernet and IPv4 payloads", () => {
  const m = one(run([geneve(INNER, 99)]));
  assert.equal(m.outer, { src: "10.0.0.1", dst: "10.0.0.2", type: "geneve", id: 99, depth: 1 });
  one(run([geneve(INNER.subarray(14), 5, 0x0800)]));
});

test("GRE: Ethernet bridging with key and sequence, and IP payloads", () => {
  const m = one(run([gre(INNER, { key: 77, sequence: 5, checksum: true })]));
  assert.equal(m.outer, { src: "10.0.0.1", dst: "10.0.0.2", type: "gre", id: 77, depth: 1 });
  const ip = one(run([gre(INNER.subarray(14), { protocol: 0x0800 })]));
  assert.is(ip.outer?.id, undefined, "no key, no id");
  const v6 = run([gre(udpFrame(INVITE, { src: "2001:db8::10", dst: "2001:db8::20" }).subarray(14), { protocol: 0x86dd }, "2001:db8:1::1", "2001:db8:1::2")]);
  assert.is(v6.messages[0].src.ip, "2001:db8::10");
  assert.is(v6.messages[0].outer?.src, "2001:db8:1::1");
});

test("GRE versions and routing are counted as unsupported", () => {
  const frame = gre(INNER);
  const pptp = Uint8Array.from(frame);
  pptp[14 + 20 + 1] |= 1; // version 1 (PPTP)
  const r = run([pptp]);
  assert.is(r.messages.length, 0);
  assert.is(r.counters.tunnel_unsupported, 1);
});

test("ERSPAN types I, II and III (Ethernet and IP frames, platform subheader)", () => {
  assert.is(one(run([erspanI(INNER)])).outer?.type, "erspan");
  assert.equal(one(run([erspanII(INNER, 300)])).outer, { src: "10.0.0.1", dst: "10.0.0.2", type: "erspan", id: 300, depth: 1 });
  assert.is(one(run([erspanIII(INNER, 512)])).outer?.id, 512);
  one(run([erspanIII(INNER, 512, 0, true)]));
  one(run([erspanIII(INNER.subarray(14), 1, 2)]));
  const r = run([erspanII(INNER)]);
  assert.match(r.ndjson, /"outer":\{"src":"10.0.0.1","dst":"10.0.0.2","type":"erspan","session":100\}/);
});

test("IPv4 in IPv4, IPv6 in IPv4, IPv4 in IPv6", () => {
  assert.is(one(run([ipInIp(INNER)])).outer?.type, "ip");
  const v6inner = udpFrame(INVITE, { src: "2001:db8::10", dst: "2001:db8::20" });
  const m = run([ipInIp(v6inner)]).messages[0];
  assert.is(m.src.ip, "2001:db8::10");
  assert.equal(m.outer, { src: "10.0.0.1", dst: "10.0.0.2", type: "ip", id: undefined, depth: 1 });
  const outer6 = one(run([ipInIp(INNER, "2001:db8:1::1", "2001:db8:1::2")]));
  assert.is(outer6.outer?.src, "2001:db8:1::1");
  const r = run([ipInIp(INNER, "2001:db8:1::1", "2001:db8:1::2")]);
  assert.match(r.ndjson, /"outer":\{"src":"2001:db8:1::1","dst":"2001:db8:1::2","type":"ip"\}/);
});

test("nested tunnels: the outermost is reported, with the depth", () => {
  const nested = vxlan(gre(INNER, { key: 1 }, "172.16.0.1", "172.16.0.2"), 9, 4789, "10.9.9.1", "10.9.9.2");
  const r = run([nested]);
  const m = one(r);
  assert.equal(m.outer, { src: "10.9.9.1", dst: "10.9.9.2", type: "vxlan", id: 9, depth: 2 });
  assert.match(r.ndjson, /"vni":9,"depth":2\}/);
});

test("nesting deeper than 4 tunnels is dropped and counted", () => {
  let frame = INNER;
  for (let i = 0; i < 4; i++) frame = vxlan(frame, i);
  assert.is(one(run([frame])).outer?.depth, 4);
  const r = run([vxlan(frame, 5)]);
  assert.is(r.messages.length, 0);
  assert.is(r.counters.tunnel_depth, 1);
});

test("fragmented VXLAN datagrams are reassembled before the tunnel, fragments inside too", () => {
  const outer = vxlan(INNER, 3).subarray(14 + 20); // the outer UDP datagram
  const r = run(pieces(outer.length, 128).map((p) => ipv4Fragment(outer, p, 0x77, "10.0.0.1", "10.0.0.2")));
  assert.is(one(r).outer?.type, "vxlan");
  const datagram = udpDatagram(INVITE);
  const inside = pieces(datagram.length, 128).map((p) => vxlan(ipv4Fragment(datagram, p, 0x55, "192.0.2.10", "198.51.100.20"), 3));
  one(run(inside));
});

test("truncated tunnel headers never trap and decode nothing", () => {
  for (const frame of [vxlan(INNER), geneve(INNER), gre(INNER, { key: 1, sequence: 2 }), erspanII(INNER), erspanIII(INNER, 1, 0, true)]) {
    for (let cut = 14; cut < Math.min(frame.length, 120); cut++) {
      const r = runFrames([{ data: frame.subarray(0, cut), origLen: frame.length }]);
      assert.is(r.messages.length, 0);
    }
  }
});

// ---- tshark: the same captures decoded the same way ----

const tshark = spawnSync("tshark", ["--version"]).status === 0;

function tsharkFields(path: string, fields: string[], extra: string[] = [], filter = ""): string[] {
  const r = spawnSync("tshark", ["-r", path, ...extra, ...(filter ? ["-Y", filter] : []), "-T", "fields",
    "-E", "occurrence=a", "-E", "aggregator=,", ...fields.flatMap((f) => ["-e", f])], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l.length > 0);
}

// IP headers tshark finds, outer and inner, over the whole capture.
function tsharkIpHeaders(path: string, extra: string[]): number {
  return tsharkFields(path, ["ip.version", "ipv6.version"], extra)
    .flatMap((l) => l.split(/[\t,]/)).filter((v) => v.length > 0).length;
}

const CAPTURES: { file: string; tunnel: string; filter: string; extra?: string[]; options?: Partial<CoreOptions> }[] = [
  { file: "vxlan.pcap", tunnel: "tunnel_vxlan", filter: "vxlan" },
  { file: "vxlan_port_8472.pcap", tunnel: "tunnel_vxlan", filter: "vxlan", extra: ["-d", "udp.port==8472,vxlan"], options: { vxlanPorts: [4789, 8472] } },
  { file: "geneve.pcap", tunnel: "tunnel_geneve", filter: "geneve" },
  { file: "erspan-type-ii-1.pcap", tunnel: "tunnel_erspan", filter: "erspan" },
  { file: "pcapplusplus-Vxlan1.pcap", tunnel: "tunnel_vxlan", filter: "vxlan" },
];

if (!tshark) {
  console.log("tunnel.test: tshark is not installed; the comparisons with tshark were NOT run");
} else {
  for (const c of CAPTURES) {
    test(`tshark agrees: ${c.file}: tunnel packets and the IP headers inside them`, () => {
      const path = `fixtures/tunnels/${c.file}`;
      const r = runFrames(framesOf(path), c.options);
      const tunnelled = tsharkFields(path, ["frame.number"], c.extra ?? [], c.filter).length;
      assert.ok(tunnelled > 0, "tshark found no tunnel");
      assert.is(r.counters[c.tunnel], tunnelled);
      assert.is(r.counters.ipv4 + r.counters.ipv6, tsharkIpHeaders(path, c.extra ?? []));
    });
  }

  test("tshark agrees: SIP inside VXLAN, GRE and ERSPAN, written as a capture", () => {
    const dir = mkdtempSync(join(tmpdir(), "siphon-tunnel-"));
    try {
      const inner = (i: number, src: string) => udpFrame(INVITE.replace("a84b4c76e66710", `call-${i}`), { src, dst: "198.51.100.20", sport: 5060 + i });
      const frames = [
        vxlan(inner(1, "192.0.2.11"), 100), vxlan(inner(2, "192.0.2.12"), 200, 4789, "2001:db8:9::1", "2001:db8:9::2"),
        gre(inner(3, "192.0.2.13"), { key: 5 }), erspanII(inner(4, "192.0.2.14")),
        vxlan(vxlan(inner(5, "192.0.2.15"), 7), 8),
      ];
      const path = join(dir, "sip-tunnels.pcap");
      writeFileSync(path, pcapFile(frames));
      const ours = runFrames(framesOf(path)).messages.map((m) => [m.src.ip, m.src.port, m.dst.ip, m.callId].join(" "));
      // occurrence=l: the innermost IP header's addresses.
      const theirs = tsharkFields(path, ["ip.src", "udp.srcport", "ip.dst", "sip.Call-ID"], [], "sip")
        .map((l) => l.split("\t").map((f) => f.split(",").pop()).join(" "));
      assert.is(theirs.length, frames.length);
      assert.equal(ours, theirs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// Networks behind different tunnels (VXLAN tenants) reuse private addresses: what is reassembled
// is kept apart by tunnel as well as by its own addresses.
const TENANT_A = udpDatagram(sip(["MESSAGE sip:bob@10.1.1.2 SIP/2.0", "Call-ID: tenant-a", "CSeq: 1 MESSAGE", "Content-Length: 600"], "a".repeat(600)));
const TENANT_B = udpDatagram(sip(["MESSAGE sip:bob@10.1.1.2 SIP/2.0", "Call-ID: tenant-b", "CSeq: 1 MESSAGE", "Content-Length: 600"], "b".repeat(600)));

test("two VXLAN networks with the same addresses and IP id: each one's fragments reassembled apart", () => {
  const fragment = (l4: Uint8Array, piece: { offset: number; length: number }): Uint8Array => ipv4Fragment(l4, piece, 0x4242, "10.1.1.1", "10.1.1.2");
  // Each piece of one, then the same piece of the other: the same id, offsets and addresses.
  const r = run(pieces(TENANT_A.length, 320).flatMap((piece) => [vxlan(fragment(TENANT_A, piece), 1), vxlan(fragment(TENANT_B, piece), 2)]));
  assert.equal(r.messages.map((m) => [m.callId, m.outer?.id]), [["tenant-a", 1], ["tenant-b", 2]], JSON.stringify(r.counters));
  assert.is(r.counters.defrag_overlap, 0);
});

test("two VXLAN networks with the same TCP endpoints: two streams, each framed whole; the reply through the tunnel the other way is the same stream", () => {
  const [a, b] = [TENANT_A.subarray(8), TENANT_B.subarray(8)];   // the SIP text, without the UDP header
  const segment = (text: Uint8Array, from: number, to: number, vni: number): Uint8Array =>
    vxlan(tcpFrame(text.subarray(from, to), { src: "10.1.1.1", dst: "10.1.1.2", sport: 40000, dport: 5060, seq: 1000 + from }), vni);
  const reply = sip(["SIP/2.0 200 OK", "Call-ID: tenant-a", "CSeq: 1 MESSAGE", "Content-Length: 0"]);
  const r = run([
    segment(a, 0, 300, 1), segment(b, 0, 300, 2), segment(a, 300, a.length, 1), segment(b, 300, b.length, 2),
    vxlan(tcpFrame(reply, { src: "10.1.1.2", dst: "10.1.1.1", sport: 5060, dport: 40000, seq: 5000 }), 1, 4789, "10.0.0.2", "10.0.0.1"),
  ]);
  assert.equal(r.messages.map((m) => m.bytes.toString("latin1")), [Buffer.from(a).toString("latin1"), Buffer.from(b).toString("latin1"), reply]);
  assert.is(r.counters.tcp_flows, 2);
});

test("siphon replay --vxlan-port: VXLAN on 8472 read only when given, bad ports refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "siphon-tunnel-cli-"));
  try {
    const path = join(dir, "vxlan-8472.pcap");
    writeFileSync(path, pcapFile([vxlan(INNER, 11, 8472)]));
    const replay = (...args: string[]) => spawnSync(process.execPath, ["dist/siphon.mjs", "replay", path, ...args], { encoding: "utf8" });
    assert.is(replay().stdout, "");
    const given = replay("--vxlan-port", "4789", "--vxlan-port", "8472");
    assert.is(given.status, 0, given.stderr);
    assert.equal(JSON.parse(given.stdout).outer, { src: "10.0.0.1", dst: "10.0.0.2", type: "vxlan", vni: 11 });
    const bad = replay("--vxlan-port", "70000");
    assert.is.not(bad.status, 0);
    assert.match(bad.stderr, "--vxlan-port: 70000 is out of range: an integer from 1 to 65535 (UDP port)");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
