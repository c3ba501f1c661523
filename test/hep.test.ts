// HEPv3 output: every packet Siphon sends is decoded here chunk by chunk and
// checked against the same replay's envelopes, over UDP and over TCP.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { HEP, hepPacket, hepSink, parseHepUrl } from "../host/sink/hep";
import { Core } from "../host/core/core";
import { silentLogger } from "../host/log";
import { waitFor } from "./mosquitto";
import { ipv4Bytes, ipv6Bytes, udpFrame, pcapFile, runFrames, sip } from "./helpers";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SAMPLES = ["fixtures/captures/sip-method.pcap", "fixtures/captures/sip-auth-failure.pcapng"];

interface Envelope { id: string; time: string; src: string; dst: string; transport: string; call_id?: string; sip: string }

function envelopes(capture: string): Envelope[] {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", capture], { maxBuffer: 64 << 20 });
  return r.stdout.toString().split("\n").filter((l) => l).map((l) => JSON.parse(l) as Envelope);
}

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["dist/siphon.mjs", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
}

// Every chunk of one HEPv3 packet, by type; throws on anything malformed.
function decode(packet: Buffer): Map<number, Buffer> {
  assert.is(packet.toString("latin1", 0, 4), "HEP3");
  assert.is(packet.readUInt16BE(4), packet.length, "total length");
  const chunks = new Map<number, Buffer>();
  for (let at = 6; at < packet.length; ) {
    assert.is(packet.readUInt16BE(at), 0, "generic vendor");
    const type = packet.readUInt16BE(at + 2);
    const length = packet.readUInt16BE(at + 4);
    assert.ok(length >= 6 && at + length <= packet.length, `chunk ${type} length ${length}`);
    assert.not.ok(chunks.has(type), `chunk ${type} twice`);
    chunks.set(type, packet.subarray(at + 6, at + length));
    at += length;
  }
  return chunks;
}

function check(packet: Buffer, e: Envelope, password: string): void {
  const c = decode(packet);
  const v6 = e.src.startsWith("[");
  const [srcIp, srcPort] = splitEndpoint(e.src);
  const [dstIp, dstPort] = splitEndpoint(e.dst);
  assert.equal(c.get(HEP.IP_FAMILY), Buffer.from([v6 ? 10 : 2]));
  assert.equal(c.get(HEP.IP_PROTO), Buffer.from([e.transport === "udp" ? 17 : 6]));
  assert.equal([...(c.get(v6 ? HEP.SRC_IP6 : HEP.SRC_IP4) ?? [])], ipBytes(srcIp));
  assert.equal([...(c.get(v6 ? HEP.DST_IP6 : HEP.DST_IP4) ?? [])], ipBytes(dstIp));
  assert.is(c.get(HEP.SRC_PORT)?.readUInt16BE(0), srcPort);
  assert.is(c.get(HEP.DST_PORT)?.readUInt16BE(0), dstPort);
  const ms = Date.parse(e.time);
  assert.is(c.get(HEP.TIME_SEC)?.readUInt32BE(0), Math.floor(ms / 1000));
  assert.is(c.get(HEP.TIME_USEC)?.readUInt32BE(0), Number(/\.(\d{6})/.exec(e.time)?.[1] ?? 0));
  assert.equal(c.get(HEP.PROTO_TYPE), Buffer.from([1]), "protocol type SIP");
  assert.is(c.get(HEP.CAPTURE_ID)?.readUInt32BE(0), 2424);
  assert.is(c.get(HEP.AUTH_KEY)?.toString(), password);
  assert.is(c.get(HEP.PAYLOAD)?.toString("base64"), e.sip, "the exact SIP bytes");
  assert.is(c.get(HEP.CORRELATION_ID)?.toString("utf8"), e.call_id);
}

// The address's bytes, read from the envelope's text (the encoder copies the core's bytes instead).
function ipBytes(ip: string): number[] {
  return ip.includes(":") ? ipv6Bytes(ip) : ipv4Bytes(ip);
}

function splitEndpoint(endpoint: string): [string, number] {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(endpoint);
  return [m?.[1] ?? "", Number(m?.[2])];
}

for (const capture of SAMPLES) {
  test(`HEP over UDP: one packet per message of ${capture}, every chunk checked`, async () => {
    const expected = envelopes(capture);
    const socket = createSocket("udp4");
    const received: Buffer[] = [];
    socket.on("message", (m) => received.push(m));
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
    const port = socket.address().port;
    const r = await run(["replay", capture, "--hep", `udp://127.0.0.1:${port}`, "--hep-id", "2424", "--hep-password", "s3cret"]);
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stderr, /s3cret/, "the key is masked in the printed configuration");
    await waitFor(`${expected.length} datagrams`, () => received.length >= expected.length, () => `${received.length} datagrams`);
    socket.close();
    assert.is(received.length, expected.length);
    received.forEach((packet, i) => check(packet, expected[i], "s3cret"));
  });
}

// Datagrams handed to the socket in the last batch get their send callbacks after the
// socket's queue is already empty: the delivery line must wait for them, not under-count.
test("HEP over UDP: the delivery line counts every datagram of a capture of several batches, the last one's too", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "siphon-hep-"));
  const capture = join(tmp, "several-batches.pcap");
  const generated = spawnSync(process.execPath, ["test/support/generate.mjs", "--seed", "5", "--messages", "4000", "--out", capture]);
  assert.is(generated.status, 0, generated.stderr.toString());
  const messages = envelopes(capture).length;
  const socket = createSocket("udp4");
  socket.on("message", () => {});
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const r = await run(["replay", capture, "--hep", `udp://127.0.0.1:${socket.address().port}`, "--out", "/dev/null"]);
  socket.close();
  assert.is(r.code, 0, r.stderr);
  assert.ok(messages > 3000, `the generator made ${messages} messages`);
  assert.match(r.stderr, `"msg":"delivery","hep_sent":${messages},"hep_dropped":0,"hep_too_large":0`, r.stderr);
});

test("HEP over TCP: the packets follow one another on one connection", async () => {
  const capture = SAMPLES[0];
  const expected = envelopes(capture);
  let stream = Buffer.alloc(0);
  const server = createServer((s) => s.on("data", (d: Buffer) => { stream = Buffer.concat([stream, d]); }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const r = await run(["replay", capture, "--hep", `tcp://127.0.0.1:${port}`, "--hep-id", "2424", "--hep-password", "k"]);
  assert.is(r.code, 0, r.stderr);
  const packets: Buffer[] = [];
  await waitFor("every packet on the connection", () => {
    packets.length = 0;
    for (let at = 0; at + 6 <= stream.length; ) {
      const length = stream.readUInt16BE(at + 4);
      if (at + length > stream.length) break;
      packets.push(stream.subarray(at, at + length));
      at += length;
    }
    return packets.length >= expected.length;
  });
  server.close();
  assert.is(packets.length, expected.length);
  packets.forEach((packet, i) => check(packet, expected[i], "k"));
});

// A replay reading a file never lets the event loop turn by itself, and each datagram's send
// callback (and with it the batch buffer the datagram reads) waits for that turn: the sink asks
// its source to wait past 1,024 datagrams in flight, or a run holds every batch to its end.
test("HEP over UDP: past 1,024 datagrams in flight the source is asked to wait, until their send callbacks come", async () => {
  const socket = createSocket("udp4");   // a collector that reads and discards (the kernel may drop a burst)
  socket.on("message", () => {});
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const sink = hepSink({ url: `udp://127.0.0.1:${socket.address().port}`, captureId: 1, flushTimeout: 0, log: silentLogger });
  await waitFor("the socket's connect", () => sink.connected());
  const core = new Core({ sensor: "test", agent: "siphon/test" }, (batch) => sink.write(batch));
  const frames = (from: number, count: number): void => {
    for (let n = from; n < from + count; n++) {
      const frame = udpFrame(sip([`MESSAGE sip:b@example.com SIP/2.0`, `Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK${n}`,
        `From: <sip:a@example.com>;tag=${n}`, `To: <sip:b@example.com>`, `Call-ID: flight-${n}`, `CSeq: 1 MESSAGE`, `Content-Length: 0`]));
      core.frame(frame, 0, frame.length, frame.length, 1, 1795428000 + n, 0, 0);
    }
    core.flush();
  };
  frames(0, 1000);
  assert.is(sink.backlog(), undefined, "1,000 in flight: no wait");
  frames(1000, 1000);
  const wait = sink.backlog();
  assert.ok(wait instanceof Promise, "2,000 in flight: the source waits");
  await wait;
  assert.ok(sink.stats().hep_sent >= 2000 - 512, `the wait ended with at most 512 in flight: ${JSON.stringify(sink.stats())}`);
  await sink.close(Date.now() + 5000);
  assert.is(sink.stats().hep_sent, 2000);
  socket.close();
});

test("HEP over TCP to a collector that stops reading: a source that does not wait is held to 64 MiB, the rest dropped and counted", async () => {
  const held: Socket[] = [];
  const server = createServer((s) => { s.pause(); held.push(s); });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const sink = hepSink({ url: `tcp://127.0.0.1:${port}`, captureId: 1, flushTimeout: 0, log: silentLogger });
  await waitFor("the connection", () => sink.connected());
  const core = new Core({ sensor: "test", agent: "siphon/test" }, (batch) => sink.write(batch));
  const text = (n: number): string => sip([`MESSAGE sip:b@example.com SIP/2.0`, `Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK${n}`,
    `From: <sip:a@example.com>;tag=${n}`, `To: <sip:b@example.com>`, `Call-ID: hold-${n}`, `CSeq: 1 MESSAGE`, `Content-Length: 30000`], "z".repeat(30000));
  // About 30 KB a message, 100 MiB offered in all (as a live capture would, without waiting).
  for (let n = 0; n < 3500; n++) {
    const frame = udpFrame(text(n));
    core.frame(frame, 0, frame.length, frame.length, 1, 1795428000 + n, 0, 0);
    if (n % 100 === 99) core.flush();
  }
  core.flush();
  const stats = sink.stats();
  assert.ok(stats.hep_dropped > 0, `some batches dropped: ${JSON.stringify(stats)}`);
  // Held: 64 MiB, one batch past it (100 messages) and what the kernel's socket buffers took (a few MiB).
  const heldAtMost = Math.ceil((64 + 8) * 2 ** 20 / 30000) + 100;
  assert.ok(stats.hep_dropped >= 3500 - heldAtMost, `at most ${heldAtMost} of 3,500 messages held: ${JSON.stringify(stats)}`);
  await sink.close(Date.now());
  for (const s of held) s.destroy();
  server.close();
});

// Packets of a HEP stream, as far as it holds whole ones.
function packetsOf(stream: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  for (let at = 0; at + 6 <= stream.length; ) {
    const length = stream.readUInt16BE(at + 4);
    if (at + length > stream.length) break;
    packets.push(stream.subarray(at, at + length));
    at += length;
  }
  return packets;
}

test("HEP over TCP to a collector that reads to the end and never closes its side: siphon ends, the collector has every packet", async () => {
  const capture = SAMPLES[0];
  const expected = envelopes(capture);
  let stream = Buffer.alloc(0);
  let finished = false;
  const held: Socket[] = [];
  // allowHalfOpen: our FIN does not close the collector's side; it keeps the socket until the test ends.
  const server = createServer({ allowHalfOpen: true }, (s) => {
    held.push(s);
    s.on("data", (d: Buffer) => { stream = Buffer.concat([stream, d]); });
    s.on("end", () => { finished = true; });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", capture, "--hep", `tcp://127.0.0.1:${port}`, "--hep-id", "2424",
    "--hep-password", "k"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  let code: number | null | undefined;
  child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
  child.on("close", (c) => { code = c; });
  try {
    await waitFor("siphon to exit with the collector's side still open", () => code !== undefined);
    const r = { code, stderr };
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /"msg":"delivery","hep_sent":81,"hep_dropped":0/);
    await waitFor("siphon's FIN after the last packet", () => finished);
    const packets = packetsOf(stream);
    assert.is(packets.length, expected.length);
    packets.forEach((packet, i) => check(packet, expected[i], "k"));
  } finally {
    child.kill("SIGKILL");
    for (const s of held) s.destroy();
    server.close();
  }
});

test("--hep URLs: udp or tcp with a port, anything else refused with a usage error", async () => {
  assert.equal(parseHepUrl("udp://10.0.0.1:9060"), { transport: "udp", host: "10.0.0.1", port: 9060 });
  assert.equal(parseHepUrl("tcp://[2001:db8::1]:9061"), { transport: "tcp", host: "2001:db8::1", port: 9061 });
  assert.throws(() => parseHepUrl("http://x:1"), /not udp or tcp/);
  assert.throws(() => parseHepUrl("udp://x"), /names no port/);
  const r = await run(["replay", SAMPLES[0], "--hep", "sctp://x:1"]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--hep: scheme 'sctp' is not udp or tcp/);
});

test("a collector whose name does not resolve: one warning, every message counted as undelivered, exit 3", async () => {
  const r = await run(["replay", SAMPLES[0], "--hep", "udp://collector.invalid:9060", "--flush-timeout", "2"]);
  assert.is(r.code, 3);
  assert.match(r.stderr, /hep: udp:\/\/collector\.invalid:9060: (ENOTFOUND|EAI_AGAIN); nothing will be sent: check --hep/);
  assert.match(r.stderr, /siphon: 81 messages could not be delivered within --flush-timeout 2 s, to --hep udp:\/\/collector\.invalid:9060: 81 not sent; check that the collector is up and that --hep names it/);
});

test("the correlation id is the envelope's call_id in UTF-8: non-ASCII kept, invalid bytes as U+FFFD", () => {
  for (const callId of [Buffer.from("日本語@例え.jp"), Buffer.from([0x4a, 0xc3, 0xbc, 0xff, 0xe6, 0x97, 0x40, 0x78])]) {
    const msg = Buffer.concat([Buffer.from("OPTIONS sip:x SIP/2.0\r\nCall-ID: "), callId, Buffer.from("\r\nCSeq: 1 OPTIONS\r\n\r\n")]);
    const run = runFrames([{ data: udpFrame(msg) }]);
    const correlation = decode(hepPacket(run.messages[0], 1)).get(HEP.CORRELATION_ID);
    assert.is(correlation?.toString("utf8"), JSON.parse(run.ndjson).call_id, `Call-ID ${callId.toString("hex")}`);
    assert.ok(correlation?.equals(Buffer.from(new TextDecoder().decode(callId))), "valid UTF-8 bytes");
  }
});

test("IPv6 addresses become their 16 bytes, IPv4 its 4", () => {
  const options = "OPTIONS sip:x SIP/2.0\r\nCall-ID: v6@x\r\nCSeq: 1 OPTIONS\r\n\r\n";
  const cases: [string, string, number[], number[]][] = [
    ["2001:db8::1", "::", [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], new Array(16).fill(0)],
    ["fe80::1:2:3:4", "2001:db8:0:1:1:1:1:1", [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4], [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]],
    ["192.0.2.1", "198.51.100.7", [192, 0, 2, 1], [198, 51, 100, 7]],
  ];
  for (const [src, dst, srcBytes, dstBytes] of cases) {
    const chunks = decode(hepPacket(runFrames([{ data: udpFrame(options, { src, dst }) }]).messages[0], 1));
    const v6 = src.includes(":");
    assert.equal([...(chunks.get(v6 ? HEP.SRC_IP6 : HEP.SRC_IP4) ?? [])], srcBytes, `source ${src}`);
    assert.equal([...(chunks.get(v6 ? HEP.DST_IP6 : HEP.DST_IP4) ?? [])], dstBytes, `destination ${dst}`);
  }
});

const tsharkHep = spawnSync("tshark", ["-G", "protocols"], { encoding: "utf8" }).stdout?.split("\n")
  .some((line) => line.split("\t")[2] === "hep");
if (!tsharkHep) {
  console.log("HEP-through-tshark test not registered: this tshark has no HEP dissector, and sngrep is not installed");
} else {
  test("tshark decodes Siphon's HEP into the same SIP messages", async () => {
    const capture = SAMPLES[0];
    const expected = envelopes(capture);
    const socket = createSocket("udp4");
    const received: Buffer[] = [];
    socket.on("message", (m) => received.push(m));
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
    const r = await run(["replay", capture, "--hep", `udp://127.0.0.1:${socket.address().port}`]);
    assert.is(r.code, 0, r.stderr);
    await waitFor("every datagram", () => received.length >= expected.length, () => `${received.length} of ${expected.length} datagrams`);
    socket.close();
    const file = join(mkdtempSync(join(tmpdir(), "siphon-hep-")), "hep.pcap");
    writeFileSync(file, pcapFile(received.map((d) => udpFrame(d, { sport: 40000, dport: 9060 }))));
    const t = spawnSync("tshark", ["-r", file, "-d", "udp.port==9060,hep", "-T", "fields", "-e", "sip.Call-ID"], { encoding: "utf8" });
    assert.equal(t.stdout.split("\n").filter((l) => l), expected.map((e) => e.call_id));
  });
}

test.run();
