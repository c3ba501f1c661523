// Link layers behind Ethernet: PPPoE sessions (RFC 2516) and MPLS label stacks
// (RFC 3032), plain and under VLAN tags, well-formed and broken; and the rule
// that every frame is counted once (issue 9, fault 10). Where tshark is
// installed it must find the same SIP messages in the same frames.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import {
  runFrames, ethernet, ipv4Packet, ipv6Packet, udpHeader, concat, pcapFile, sip, type Frame, type Run,
} from "./helpers";
import { Core } from "../host/core";
import { DECODED_LINK_TYPES } from "../host/source";

function invite(callId: string): Buffer {
  return Buffer.from(sip(["INVITE sip:bob@example.com SIP/2.0", "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
    "From: <sip:a@example.com>;tag=1", "To: <sip:bob@example.com>", `Call-ID: ${callId}`, "CSeq: 1 INVITE",
    "Content-Length: 0"]), "latin1");
}

function udp(payload: Buffer): Uint8Array {
  return concat(Uint8Array.from(udpHeader(payload, 5060, 5060)), payload);
}

const ipv4 = (callId: string) => ipv4Packet(17, udp(invite(callId)), "192.0.2.1", "198.51.100.7");
const ipv6 = (callId: string) => ipv6Packet(17, udp(invite(callId)), "2001:db8::1", "2001:db8::2");

// PPPoE session header and PPP protocol field; `length` defaults to the true one.
function pppoe(protocol: number[], payload: Uint8Array, o: { length?: number; verType?: number; code?: number } = {}): Uint8Array {
  const length = o.length ?? protocol.length + payload.length;
  const header = [o.verType ?? 0x11, o.code ?? 0, 0x12, 0x34, length >> 8, length & 255, ...protocol];
  return concat(Uint8Array.from(header), payload);
}

// MPLS label stack entries (label 16 + i, TTL 64), the last with bottom-of-stack set.
function mpls(labels: number, payload: Uint8Array, bottom = true): Uint8Array {
  const entries: number[] = [];
  for (let i = 0; i < labels; i++) {
    const label = 16 + i;
    entries.push(label >> 12, (label >> 4) & 255, ((label & 15) << 4) | (bottom && i === labels - 1 ? 1 : 0), 64);
  }
  return concat(Uint8Array.from(entries), payload);
}

const PPPOE = 0x8864, MPLS = 0x8847;
const PPP_IPV4 = [0x00, 0x21], PPP_IPV6 = [0x00, 0x57], PPP_LCP = [0xc0, 0x21];

function callIds(run: Run): string[] {
  return run.messages.map((m) => m.callId);
}

// frames = link_unsupported + frame_malformed + not_ip + ipv4 + ipv6, on input without tunnels.
function assertEveryFrameCounted(run: Run): void {
  const c = run.counters;
  assert.is(c.link_unsupported + c.frame_malformed + c.not_ip + c.ipv4 + c.ipv6, c.frames, JSON.stringify(c));
}

const GOOD: [string, Uint8Array][] = [
  ["pppoe-v4", ethernet(PPPOE, pppoe(PPP_IPV4, ipv4("pppoe-v4")))],
  ["pppoe-v6", ethernet(PPPOE, pppoe(PPP_IPV6, ipv6("pppoe-v6")))],
  ["pppoe-vlan", ethernet(PPPOE, pppoe(PPP_IPV4, ipv4("pppoe-vlan")), [100])],
  ["pppoe-compressed", ethernet(PPPOE, pppoe([0x21], ipv4("pppoe-compressed")))],
  ["mpls-1", ethernet(MPLS, mpls(1, ipv4("mpls-1")))],
  ["mpls-3-v6", ethernet(MPLS, mpls(3, ipv6("mpls-3-v6")))],
  ["mpls-qinq", ethernet(MPLS, mpls(2, ipv4("mpls-qinq")), [100, 200])],
  ["mpls-16", ethernet(MPLS, mpls(16, ipv4("mpls-16")))],
];

test("PPPoE sessions and MPLS stacks, plain and under VLAN tags, reach the SIP message", () => {
  const run = runFrames(GOOD.map(([, data]) => ({ data })));
  assert.equal(callIds(run), GOOD.map(([id]) => id));
  assert.is(run.counters.pppoe, 4);
  assert.is(run.counters.mpls, 4);
  assert.is(run.counters.frame_malformed, 0);
  assert.is(run.counters.not_ip, 0);
  assertEveryFrameCounted(run);
});

test("Linux cooked captures carrying PPPoE and MPLS are read too", () => {
  const sllHeader = (type: number) => Uint8Array.from([0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, type >> 8, type & 255]);
  const run = runFrames([
    { data: concat(sllHeader(PPPOE), pppoe(PPP_IPV4, ipv4("sll-pppoe"))), linkType: 113 },
    { data: concat(sllHeader(MPLS), mpls(1, ipv6("sll-mpls"))), linkType: 113 },
  ]);
  assert.equal(callIds(run), ["sll-pppoe", "sll-mpls"]);
});

// Over UDP a message without Content-Length runs to the datagram's end: what cuts the datagram shows.
const NO_LENGTH = Buffer.from(sip(["MESSAGE sip:bob@example.com SIP/2.0", "Call-ID: no-length", "CSeq: 1 MESSAGE"],
  "0123456789"), "latin1");
const noLength = () => ipv4Packet(17, udp(NO_LENGTH), "192.0.2.1", "198.51.100.7");

test("the PPPoE LENGTH ends the IP packet: a shorter one cuts what follows", () => {
  const ip = noLength();
  const run = runFrames([{ data: ethernet(PPPOE, pppoe(PPP_IPV4, ip, { length: 2 + ip.length - 4 })) }]);
  assert.is(run.messages.length, 1, JSON.stringify(run.counters));
  assert.is(run.messages[0].bytes.toString("latin1"), NO_LENGTH.toString("latin1").slice(0, -4));
});

test("broken PPPoE and MPLS headers are malformed, counted, never read past the frame", () => {
  const ip = ipv4("never");
  const broken: [string, Uint8Array][] = [
    ["PPPoE LENGTH past the frame", ethernet(PPPOE, pppoe(PPP_IPV4, ip, { length: 2 + ip.length + 1 }))],
    ["PPPoE LENGTH 0xffff", ethernet(PPPOE, pppoe(PPP_IPV4, ip, { length: 0xffff }))],
    ["PPPoE LENGTH under the protocol field", ethernet(PPPOE, pppoe(PPP_IPV4, ip, { length: 1 }))],
    ["PPPoE version 2", ethernet(PPPOE, pppoe(PPP_IPV4, ip, { verType: 0x21 }))],
    ["PPPoE discovery code in a session frame", ethernet(PPPOE, pppoe(PPP_IPV4, ip, { code: 0x09 }))],
    ["PPPoE header cut short", ethernet(PPPOE, Uint8Array.from([0x11, 0, 0x12, 0x34, 0]))],
    ["MPLS labels past the frame's end", ethernet(MPLS, mpls(3, new Uint8Array(0), false))],
    ["MPLS entry cut short", ethernet(MPLS, Uint8Array.from([0, 1, 0]))],
    ["MPLS bottom of stack and nothing after", ethernet(MPLS, mpls(2, new Uint8Array(0)))],
  ];
  for (const [what, data] of broken) {
    const run = runFrames([{ data }]);
    assert.is(run.messages.length, 0, what);
    assert.is(run.counters.frame_malformed, 1, `${what}: ${JSON.stringify(run.counters)}`);
    assertEveryFrameCounted(run);
  }
});

test("a frame the snap length cut keeps its PPPoE LENGTH past the end: read as far as it goes", () => {
  const whole = ethernet(PPPOE, pppoe(PPP_IPV4, noLength()));
  const run = runFrames([{ data: whole.subarray(0, whole.length - 4), origLen: whole.length }]);
  assert.is(run.counters.frame_malformed, 0);
  assert.is(run.counters.pppoe, 1);
  assert.is(run.counters.truncated, 1);
  assert.is(run.messages[0]?.bytes.toString("latin1"), NO_LENGTH.toString("latin1").slice(0, -4));
});

test("frames carrying no IP are counted in not_ip: ARP, PPP control, deep or non-IP MPLS", () => {
  const ip = ipv4("never");
  const frames: Frame[] = [
    { data: ethernet(0x0806, new Uint8Array(28)) },
    { data: ethernet(0x8863, pppoe([], new Uint8Array(0), { code: 0x09 })) },
    { data: ethernet(PPPOE, pppoe(PPP_LCP, new Uint8Array(10))) },
    { data: ethernet(MPLS, mpls(17, ip)) },
    { data: ethernet(MPLS, mpls(1, concat(Uint8Array.from([0, 0, 0, 1]), ip))) }, // pseudowire control word
    { data: Uint8Array.from([0x50, 1, 2, 3]), linkType: 101 },
    { data: Uint8Array.from([7, 0, 0, 0, 0x45]), linkType: 0 },
  ];
  const run = runFrames(frames);
  assert.is(run.messages.length, 0);
  assert.is(run.counters.not_ip, frames.length, JSON.stringify(run.counters));
  assert.is(run.counters.frame_malformed, 0);
  assertEveryFrameCounted(run);
});

// `siphon capture` warns about an interface whose link type the core does not decode, from
// host/source's list: the list must say exactly what the compiled core does.
test("DECODED_LINK_TYPES is the set of link types the core decodes", () => {
  const core = new Core({ sensor: "test", agent: "siphon/test" }, () => undefined);
  const frame = Uint8Array.from([0x45, 0, 0, 0]);
  const decoded: number[] = [];
  for (let linkType = 0; linkType < 300; linkType++) {
    const before = core.counters().link_unsupported;
    core.frame(frame, 0, frame.length, frame.length, linkType, 1795428000, 0, 0);
    core.flush();
    if (core.counters().link_unsupported === before) decoded.push(linkType);
  }
  assert.equal(decoded, [...DECODED_LINK_TYPES]);
});

const tshark = spawnSync("tshark", ["--version"]).status === 0;
if (!tshark) {
  console.log("link.test: tshark is not installed; the cross-check with tshark was NOT run");
} else {
  test("tshark finds the same SIP messages behind PPPoE and MPLS", () => {
    const dir = mkdtempSync(`${tmpdir()}/siphon-link-`);
    try {
      const path = `${dir}/link.pcap`;
      writeFileSync(path, pcapFile(GOOD.map(([, data]) => data)));
      const r = spawnSync("tshark", ["-r", path, "-Y", "sip", "-T", "fields", "-e", "sip.Call-ID"], { encoding: "utf8" });
      assert.is(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim().split("\n"), GOOD.map(([id]) => id));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
