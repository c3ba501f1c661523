// IP fragment reassembly (assembly/defrag.ts): order, duplicates, overlaps,
// timeouts, a full table, IPv6 extension chains, atomic fragments, and
// PcapPlusPlus's captures with their expected reassembled bytes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { runFrames, INVITE, sip, type Frame, type Run } from "./helpers";
import { udpDatagram, ipv4Fragment, ipv6Fragment, pieces, type Piece } from "./wrap";
import { Core, type CoreOptions } from "../host/core";
import { CaptureParser } from "../host/source";

const DATAGRAM = udpDatagram(INVITE);

function frames(list: Uint8Array[], sec = 1795428000): Frame[] {
  return list.map((data) => ({ data, sec }));
}

function v4(list: Piece[], id = 0x1234, l4 = DATAGRAM): Uint8Array[] {
  return list.map((p) => ipv4Fragment(l4, p, id));
}

function run(list: Uint8Array[], options: Partial<CoreOptions> = {}): Run {
  return runFrames(frames(list), options);
}

function messageText(r: Run, i = 0): string {
  return r.messages[i].bytes.toString("latin1");
}

test("IPv4: fragments in order give the message whole", () => {
  const r = run(v4(pieces(DATAGRAM.length, 128)));
  assert.is(r.messages.length, 1);
  assert.is(messageText(r), INVITE);
  assert.is(r.counters.fragments, Math.ceil(DATAGRAM.length / 128));
  assert.is(r.counters.defrag_done, 1);
  assert.is(r.messages[0].src.ip, "192.0.2.1");
  assert.is(r.messages[0].dst.port, 5060);
});

test("a capture that ends before a datagram's last fragment: the datagram is dropped at the end, counted", () => {
  const parts = v4(pieces(DATAGRAM.length, 128));
  const r = run([...parts.slice(0, -1), ...v4(pieces(DATAGRAM.length, 128), 0x4321)]);
  assert.is(r.messages.length, 1);
  assert.is(r.counters.defrag_end, 0);
  r.core.finish();
  assert.equal([r.core.counters().defrag_end, r.core.counters().defrag_done], [1, 1]);
});

test("IPv4: fragments out of order, last first", () => {
  const r = run(v4(pieces(DATAGRAM.length, 64).reverse()));
  assert.is(r.messages.length, 1);
  assert.is(messageText(r), INVITE);
});

test("IPv4: short fragments of 8 bytes are accepted", () => {
  const r = run(v4(pieces(DATAGRAM.length, 8)));
  assert.is(messageText(r), INVITE);
  assert.is(r.counters.defrag_malformed, 0);
});

test("IPv4: an exact duplicate is ignored and counted", () => {
  const list = v4(pieces(DATAGRAM.length, 128));
  const r = run([list[0], list[1], list[1], ...list.slice(2)]);
  assert.is(r.messages.length, 1);
  assert.is(r.counters.defrag_duplicate, 1);
  assert.is(r.counters.defrag_overlap, 0);
});

test("IPv4: an overlap with other bytes drops the whole datagram", () => {
  const changed = Uint8Array.from(DATAGRAM);
  changed[100] ^= 0x20;
  const r = run([...v4([{ offset: 0, length: 128 }]), ...v4([{ offset: 64, length: 128 }], 0x1234, changed),
    ...v4(pieces(DATAGRAM.length, 128).slice(1))]);
  assert.is(r.counters.defrag_overlap, 1);
  assert.is(r.messages.length, 0, "the fragments after the overlap start a new datagram that never completes");
});

test("IPv4: a partial overlap with equal bytes is still an overlap", () => {
  const r = run(v4([{ offset: 0, length: 128 }, { offset: 64, length: 128 }]));
  assert.is(r.counters.defrag_overlap, 1);
  assert.is(r.counters.defrag_duplicate, 0);
});

test("IPv4: two last fragments that disagree on the length drop the datagram", () => {
  const r = run(v4([{ offset: 128, length: 64, more: false }, { offset: 128, length: 128, more: false }]));
  assert.is(r.counters.defrag_overlap, 1);
});

test("IPv4: a non-final fragment not a multiple of 8 bytes is malformed", () => {
  const r = run(v4([{ offset: 0, length: 100, more: true }]));
  assert.is(r.counters.defrag_malformed, 1);
  assert.is(r.counters.defrag_done, 0);
});

test("IPv4: a fragment past 65535 bytes drops the datagram", () => {
  const big = new Uint8Array(65600);
  const r = run([ipv4Fragment(big, { offset: 0, length: 64, more: true }), ipv4Fragment(big, { offset: 65528, length: 16, more: false })]);
  assert.is(r.counters.defrag_oversize, 1);
});

test("timeout: a datagram incomplete after the timeout (capture time) is dropped", () => {
  const list = v4(pieces(DATAGRAM.length, 128));
  const late = runFrames([{ data: list[0], sec: 1000 }, ...list.slice(1).map((data) => ({ data, sec: 1031 }))], { defragTimeout: 30 });
  assert.is(late.counters.defrag_timeout, 1);
  assert.is(late.messages.length, 0);
  const inTime = runFrames([{ data: list[0], sec: 1000 }, ...list.slice(1).map((data) => ({ data, sec: 1030 }))], { defragTimeout: 30 });
  assert.is(inTime.counters.defrag_timeout, 0);
  assert.is(inTime.messages.length, 1);
});

test("table full: the datagram opened first is evicted", () => {
  const a = v4(pieces(DATAGRAM.length, 128), 1);
  const b = v4(pieces(DATAGRAM.length, 128), 2);
  const c = v4(pieces(DATAGRAM.length, 128), 3);
  const r = run([a[0], b[0], c[0], ...b.slice(1), ...c.slice(1), ...a.slice(1)], { defragSlots: 2 });
  assert.is(r.counters.defrag_evicted, 1);
  assert.is(r.messages.length, 2, "b and c complete; a lost its first fragment");
});

test("reassembly off: fragments are counted and dropped", () => {
  const r = run(v4(pieces(DATAGRAM.length, 128)), { defragSlots: 0 });
  assert.is(r.messages.length, 0);
  assert.is(r.counters.fragments, Math.ceil(DATAGRAM.length / 128));
});

test("many datagrams completing in one batch: every message keeps its own bytes", () => {
  const list: Uint8Array[] = [];
  const texts: string[] = [];
  for (let id = 0; id < 60; id++) {
    const text = sip([`MESSAGE sip:user${id}@example.com SIP/2.0`, `Call-ID: call-${id}`, `CSeq: ${id} MESSAGE`,
      "Content-Length: 200"], "x".repeat(200));
    texts.push(text);
    list.push(...v4(pieces(udpDatagram(text).length, 64), id, udpDatagram(text)));
  }
  // Interleave two datagrams at a time so several are open at once.
  const r = run(list);
  assert.is(r.messages.length, 60);
  assert.equal(r.messages.map((m) => m.bytes.toString("latin1")), texts);
  assert.equal(r.ndjson.trim().split("\n").map((l) => Buffer.from(JSON.parse(l).sip, "base64").toString("latin1")), texts);
});

test("IPv4 and IPv6 fragments in a batch too small for them all still come out whole", () => {
  const list = [...v4(pieces(DATAGRAM.length, 128), 7), ...pieces(DATAGRAM.length, 128).map((p) => ipv6Fragment(DATAGRAM, p))];
  const r = run(list, { maxFrames: 2 });
  assert.equal(r.messages.map((m) => m.bytes.toString("latin1")), [INVITE, INVITE]);
});

test("IPv6: fragments out of order give the message whole", () => {
  const r = run(pieces(DATAGRAM.length, 96).reverse().map((p) => ipv6Fragment(DATAGRAM, p)));
  assert.is(r.messages.length, 1);
  assert.is(messageText(r), INVITE);
  assert.is(r.messages[0].src.ip, "2001:db8::1");
});

test("IPv6: an overlap drops the datagram (RFC 5722)", () => {
  const r = run([ipv6Fragment(DATAGRAM, { offset: 0, length: 128 }), ipv6Fragment(DATAGRAM, { offset: 120, length: 128 }),
    ...pieces(DATAGRAM.length, 128).slice(1).map((p) => ipv6Fragment(DATAGRAM, p))]);
  assert.is(r.counters.defrag_overlap, 1);
  assert.is(r.messages.length, 0);
});

test("IPv6: hop-by-hop and destination options before the fragment header", () => {
  // hop-by-hop (next: destination options), destination options (next: fragment), 8 bytes each
  const chain = Uint8Array.from([60, 0, 1, 4, 0, 0, 0, 0, 44, 0, 1, 4, 0, 0, 0, 0]);
  const r = run(pieces(DATAGRAM.length, 128).map((p) => ipv6Fragment(DATAGRAM, p, 9, 17, "2001:db8::1", "2001:db8::2", chain, 0)));
  assert.is(messageText(r), INVITE);
});

test("IPv6: destination options after the fragment header are walked once reassembled", () => {
  const fragmentable = Uint8Array.from(Buffer.concat([Buffer.from([17, 0, 1, 4, 0, 0, 0, 0]), DATAGRAM]));
  const r = run(pieces(fragmentable.length, 128).map((p) => ipv6Fragment(fragmentable, p, 10, 60)));
  assert.is(messageText(r), INVITE);
});

test("IPv6: an atomic fragment (offset 0, no more) is processed alone (RFC 6946)", () => {
  const r = run([ipv6Fragment(DATAGRAM, { offset: 0, length: DATAGRAM.length, more: false })]);
  assert.is(r.counters.defrag_atomic, 1);
  assert.is(r.counters.defrag_done, 0);
  assert.is(messageText(r), INVITE);
});

test("IPv6: fragments differ from IPv4 ones with the same id", () => {
  const r = run([ipv4Fragment(DATAGRAM, { offset: 0, length: 128 }, 5), ipv6Fragment(DATAGRAM, { offset: 0, length: 128 }, 5)]);
  assert.is(r.counters.defrag_overlap, 0);
});

test("a fragment cut by the snap length is not reassembled", () => {
  const list = v4(pieces(DATAGRAM.length, 128));
  const r = runFrames([{ data: list[0].subarray(0, 80), origLen: list[0].length }, ...frames(list.slice(1))]);
  assert.is(r.counters.defrag_malformed, 1);
  assert.is(r.messages.length, 0);
});

// ---- PcapPlusPlus captures: every expected packet is one we reassembled ----

function reassembledFrom(path: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const core = new Core({ sensor: "test", agent: "siphon/test" }, () => undefined);
  let done = 0;
  const parser = new CaptureParser(path, {
    frame(data, start, caplen, origLen, linkType, sec, nsec) {
      core.frame(data.slice(start, start + caplen), 0, caplen, origLen, linkType, sec, nsec, 0);
      core.flush();
      if (core.counters().defrag_done > done) {
        done = core.counters().defrag_done;
        out.push(core.lastReassembled() as Uint8Array);
      }
    },
  });
  parser.feed(readFileSync(path));
  parser.end();
  return out;
}

function expectedPacket(path: string): Buffer {
  const text = readFileSync(path, "latin1").replace(/\s+/g, "");
  return Buffer.from(text, "hex");
}

// The expected files hold whole packets (link and IP headers rebuilt); ours is
// the IP payload, so it must be the expected packet's tail, after no more than
// the headers.
function assertTail(expected: Buffer, ours: Uint8Array[], name: string): void {
  const match = ours.find((p) => p.length > 0 && expected.length - p.length <= 80
    && expected.subarray(expected.length - p.length).equals(Buffer.from(p)));
  assert.ok(match, `${name}: no reassembled datagram ends the expected packet (${ours.map((p) => p.length).join(", ")} bytes reassembled, ${expected.length} expected)`);
}

test("PcapPlusPlus frag_http_req: the HTTP request reassembled", () => {
  const ours = reassembledFrom("fixtures/defrag/frag_http_req.pcap");
  assertTail(expectedPacket("fixtures/defrag/frag_http_req_reassembled.txt"), ours, "frag_http_req");
});

test("PcapPlusPlus ip6_fragments: both expected packets", () => {
  const ours = reassembledFrom("fixtures/defrag/ip6_fragments.pcap");
  assertTail(expectedPacket("fixtures/defrag/ip6_fragments_packet1.txt"), ours, "ip6 packet1");
  assertTail(expectedPacket("fixtures/defrag/ip6_fragments_packet2.txt"), ours, "ip6 packet2");
});

test("PcapPlusPlus frag_with_padding: Ethernet padding and VLAN tags left out", () => {
  const ours = reassembledFrom("fixtures/defrag/frag_with_padding.pcap");
  const expected = readFileSync("fixtures/defrag/frag_with_padding_defragmented.dat", "latin1").split(/\r?\n/)
    .filter((l) => l.trim().length > 0).map((l) => Buffer.from(l.trim(), "hex"));
  assert.ok(expected.length > 0);
  for (const [i, packet] of expected.entries()) assertTail(packet, ours, `frag_with_padding packet ${i}`);
});

if (spawnSync("tshark", ["--version"]).status !== 0) {
  console.log("defrag.test: tshark is not installed; the comparison with tshark's reassembly was NOT run");
} else {
  test("ipv6_opt_fragments: extension headers before the fragment header, as tshark reassembles", () => {
    const path = "fixtures/defrag/ipv6_opt_fragments.pcap";
    const r = spawnSync("tshark", ["-r", path, "-T", "fields", "-e", "ipv6.reassembled.data"], { encoding: "utf8" });
    const theirs = r.stdout.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
    assert.ok(theirs.length > 0, "tshark reassembled nothing");
    const ours = reassembledFrom(path).map((p) => Buffer.from(p).toString("hex"));
    assert.equal(ours, theirs);
  });
}

test.run();
