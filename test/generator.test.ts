// The benchmark's workload generator: deterministic by seed, well-formed SIP, and a truth file
// that matches what is really in the pcap, counted here by an independent walk of the file and,
// when it is installed, by tshark.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions, type Truth } from "./support/generate";

const directory = mkdtempSync(join(tmpdir(), "siphon-generator-test-"));

function generate(seed: number, name: string): { path: string; truth: Truth } {
  const path = join(directory, `${name}.pcap`);
  const truth = generateWorkload(workloadOptions({ seed, messages: 3000 }), path);
  return { path, truth };
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

const first = generate(1, "seed1-a");
const again = generate(1, "seed1-b");
const other = generate(2, "seed2");

// ---------------------------------------------------------------- an independent pcap walk

interface SipDatagram {
  timeUs: number;
  ipVersion: 4 | 6;
  payload: Buffer;
}

/** UDP payloads of every Ethernet frame (any number of VLAN tags) in a classic µs pcap. */
function udpDatagrams(file: Buffer): { datagrams: SipDatagram[]; records: number; times: number[] } {
  assert.is(file.readUInt32LE(0), 0xa1b2c3d4, "classic little-endian µs pcap");
  assert.is(file.readUInt32LE(20), 1, "LINKTYPE_ETHERNET");
  const datagrams: SipDatagram[] = [];
  const times: number[] = [];
  let offset = 24;
  while (offset < file.length) {
    const timeUs = file.readUInt32LE(offset) * 1e6 + file.readUInt32LE(offset + 4);
    const caplen = file.readUInt32LE(offset + 8);
    const frame = file.subarray(offset + 16, offset + 16 + caplen);
    offset += 16 + caplen;
    times.push(timeUs);
    const datagram = udpPayload(frame);
    if (datagram !== undefined) datagrams.push({ timeUs, ...datagram });
  }
  assert.is(offset, file.length, "records end exactly at the end of the file");
  return { datagrams, records: times.length, times };
}

function udpPayload(frame: Buffer): { ipVersion: 4 | 6; payload: Buffer } | undefined {
  let at = 12;
  while (frame.readUInt16BE(at) === 0x8100 || frame.readUInt16BE(at) === 0x88a8) at += 4;
  const etherType = frame.readUInt16BE(at);
  const ip = at + 2;
  if (etherType === 0x0800 && frame[ip + 9] === 17) {
    const udp = ip + ((frame[ip] ?? 0) & 0x0f) * 4;
    return { ipVersion: 4, payload: frame.subarray(udp + 8, udp + frame.readUInt16BE(udp + 4)) };
  }
  if (etherType === 0x86dd && frame[ip + 6] === 17) {
    const udp = ip + 40;
    return { ipVersion: 6, payload: frame.subarray(udp + 8, udp + frame.readUInt16BE(udp + 4)) };
  }
  return undefined;
}

interface SipMessage {
  request: string | undefined;
  status: number | undefined;
  ipVersion: 4 | 6;
  headers: Map<string, string>;
  head: string;
  body: Buffer;
}

const COMPACT_FORMS: Readonly<Record<string, string>> = { i: "call-id", l: "content-length", f: "from", t: "to", v: "via", m: "contact", c: "content-type", k: "supported", s: "subject" };

/** A SIP message if the datagram's first line is a SIP start line; headers keyed by long lower-case name. */
function parseSip(datagram: SipDatagram): SipMessage | undefined {
  const end = datagram.payload.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = datagram.payload.subarray(0, end).toString("utf8");
  const [startLine = "", ...lines] = head.split("\r\n");
  const response = /^SIP\/2\.0 (\d{3}) /.exec(startLine);
  const request = /^([A-Z]+) \S+ SIP\/2\.0$/.exec(startLine);
  if (response === null && request === null) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(COMPACT_FORMS[name] ?? name, line.slice(colon + 1).trim());
  }
  return {
    request: request?.[1],
    status: response === null ? undefined : Number(response[1]),
    ipVersion: datagram.ipVersion,
    headers,
    head,
    body: datagram.payload.subarray(end + 4),
  };
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function sorted(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

const walked = udpDatagrams(readFileSync(first.path));
const messages = walked.datagrams.map(parseSip).filter((message): message is SipMessage => message !== undefined);

// ---------------------------------------------------------------- tests

test("the same seed gives the same bytes and the same truth", () => {
  assert.is(sha256(first.path), sha256(again.path));
  assert.equal(again.truth, first.truth);
});

test("a different seed gives a different workload", () => {
  assert.is.not(sha256(other.path), sha256(first.path));
});

test("the workload is the size asked for, with every kind of traffic in it", () => {
  const { totals } = first.truth;
  assert.ok(totals.sipMessages >= 3000 && totals.sipMessages < 3010, `${totals.sipMessages} SIP messages`);
  for (const method of ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "MESSAGE"]) assert.ok((totals.requests[method] ?? 0) > 0, method);
  for (const status of ["100", "180", "200", "202", "401", "487"]) assert.ok((totals.responses[status] ?? 0) > 0, status);
  assert.ok((totals.byIpVersion.ipv6 ?? 0) > 0, "IPv6");
  assert.ok((totals.byLink.vlan ?? 0) > 0 && (totals.byLink.qinq ?? 0) > 0, "VLAN and QinQ");
  assert.ok(totals.rtpPackets > 0 && totals.noisePackets > 0, "RTP and noise");
  const outcomes = new Set(first.truth.calls.map((call) => call.outcome));
  assert.equal([...outcomes].sort(), ["answered", "cancelled", "failed"]);
  const actions = new Set(first.truth.registrations.map((registration) => registration.action));
  assert.equal([...actions].sort(), ["deleted", "new", "refreshed"]);
});

test("timestamps never go backwards and start at the epoch", () => {
  const epochUs = Date.parse(first.truth.epoch) * 1000;
  assert.ok((walked.times[0] ?? 0) >= epochUs);
  const backwards = walked.times.findIndex((time, index) => index > 0 && time < (walked.times[index - 1] ?? 0));
  assert.is(backwards, -1, `record ${backwards} goes back in time`);
});

test("the truth's totals match a count of the file", () => {
  const requests: Record<string, number> = {};
  const responses: Record<string, number> = {};
  const byIpVersion: Record<string, number> = {};
  for (const message of messages) {
    if (message.request !== undefined) increment(requests, message.request);
    else increment(responses, String(message.status));
    increment(byIpVersion, `ipv${message.ipVersion}`);
  }
  const { totals } = first.truth;
  assert.is(walked.records, totals.packets);
  assert.is(messages.length, totals.sipMessages);
  assert.equal(sorted(requests), totals.requests);
  assert.equal(sorted(responses), totals.responses);
  assert.equal(sorted(byIpVersion), totals.byIpVersion);
  assert.equal(totals.byTransport, { udp: totals.sipMessages });
});

test("every SIP message ends its lines with CRLF and has a correct Content-Length", () => {
  for (const message of messages) {
    assert.not.match(message.head, /[^\r]\n/, "bare LF");
    assert.is(Number(message.headers.get("content-length")), message.body.length, message.head);
  }
});

test("each call's final INVITE response in the file is the one its truth records", () => {
  const finalStatus = new Map<string, number>();
  for (const message of messages) {
    const isInviteFinal = message.status !== undefined && message.status >= 200 && message.headers.get("cseq")?.endsWith(" INVITE");
    if (isInviteFinal) finalStatus.set(message.headers.get("call-id") ?? "", message.status ?? 0);
  }
  assert.is(first.truth.calls.length, first.truth.totals.requests.INVITE);
  for (const call of first.truth.calls) {
    assert.is(finalStatus.get(call.callId), call.finalStatus, call.callId);
    const expected = call.outcome === "answered" ? 200 : call.outcome === "cancelled" ? 487 : finalStatus.get(call.callId);
    assert.is(call.finalStatus, expected);
    if (call.outcome === "answered") assert.ok(call.durationMs !== null && call.durationMs >= 1000, call.callId);
  }
});

const tsharkInstalled = spawnSync("tshark", ["--version"], { stdio: "ignore" }).error === undefined;
if (tsharkInstalled) {
  test("tshark counts the same SIP methods and status codes as the truth", () => {
    const fields = ["-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code"];
    const run = spawnSync("tshark", ["-r", first.path, "-Y", "sip", ...fields], { encoding: "utf8", maxBuffer: 64 << 20 });
    assert.is(run.status, 0, run.stderr);
    const requests: Record<string, number> = {};
    const responses: Record<string, number> = {};
    for (const line of run.stdout.split("\n").filter((text) => text !== "")) {
      const [method = "", status = ""] = line.split("\t");
      if (method !== "") increment(requests, method);
      else increment(responses, status);
    }
    assert.equal(sorted(requests), first.truth.totals.requests);
    assert.equal(sorted(responses), first.truth.totals.responses);
  });
} else {
  console.log("generator: tshark is not installed, so the comparison with tshark was not run (not counted as passed)");
}

test.after(() => rmSync(directory, { recursive: true, force: true }));

test.run();
