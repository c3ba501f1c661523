// Start lines deployed parsers accept though RFC 3261 does not (issue 9, fault 9):
// raw UTF-8 in the Request-URI and status codes outside 100-699. Siphon emits
// them with a problem bit and a counter, on UDP and on TCP (in sync and after a
// resync), and still refuses lines that are not SIP at all. Where tshark is
// installed, it must decode the same datagrams as SIP.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as L from "../assembly/layout";
import { runFrames, udpFrame, tcpFrame, pcapFile, sip, TCP_SYN, type Run } from "./helpers";

function message(startLine: string, callId: string): Buffer {
  return Buffer.from(sip([startLine, "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1", "From: <sip:a@example.com>;tag=1",
    "To: <sip:b@example.com>", `Call-ID: ${callId}`, "CSeq: 1 INVITE", "Content-Length: 0"]), "utf8");
}

const UTF8_URI = message("INVITE sip:jürgen@example.com SIP/2.0", "utf8-uri");
const LENIENT_STATUS = ["000", "099", "700", "999"].map((code) => message(`SIP/2.0 ${code} Odd`, `status-${code}`));

function envelopes(run: Run): { call_id: string; sip: string }[] {
  return run.ndjson.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

test("a raw UTF-8 Request-URI is emitted whole, marked uri-not-ascii", () => {
  const run = runFrames([{ data: udpFrame(UTF8_URI) }]);
  assert.is(run.messages.length, 1, `counters: ${JSON.stringify(run.counters)}`);
  const m = run.messages[0];
  assert.is(m.bytes.toString("hex"), UTF8_URI.toString("hex"));
  const [at, len] = m.span(L.SPAN_URI);
  assert.is(m.bytes.toString("utf8", at, at + len), "sip:jürgen@example.com");
  assert.is(m.problems, L.PROB_URI_NOT_ASCII);
  assert.is(run.counters.uri_not_ascii, 1);
  assert.is(run.counters.non_sip, 0);
  const [e] = envelopes(run);
  assert.is(e.call_id, "utf8-uri");
  assert.is(Buffer.from(e.sip, "base64").toString("hex"), UTF8_URI.toString("hex"));
});

test("status codes outside 100-699 are emitted with their code, marked status-range", () => {
  const run = runFrames(LENIENT_STATUS.map((data) => ({ data: udpFrame(data) })));
  assert.equal(run.messages.map((m) => [m.isRequest, m.status, m.problems]),
    [[false, 0, L.PROB_STATUS_RANGE], [false, 99, L.PROB_STATUS_RANGE], [false, 700, L.PROB_STATUS_RANGE],
      [false, 999, L.PROB_STATUS_RANGE]]);
  assert.equal(envelopes(run).map((e) => e.call_id), ["status-000", "status-099", "status-700", "status-999"]);
  assert.is(run.counters.status_range, 4);
  assert.is(run.counters.non_sip, 0);
});

test("codes 100 and 699 are in range: no problem", () => {
  const run = runFrames(["100", "699"].map((code) => ({ data: udpFrame(message(`SIP/2.0 ${code} X`, code)) })));
  assert.equal(run.messages.map((m) => [m.status, m.problems]), [[100, 0], [699, 0]]);
  assert.is(run.counters.status_range, 0);
});

test("lines that are still not SIP are refused: control bytes, DEL, 2 or 4 digits, no SIP/2.0", () => {
  const notSip = [
    "INVITE sip:a\x01b@example.com SIP/2.0", "INVITE sip:a\x7fb@example.com SIP/2.0",
    "INVITE sip:jürgen@example.com HTTP/1.1", "INVITE  SIP/2.0", "SIP/2.0 99 Two", "SIP/2.0 1000 Four",
    "SIP/2.0 2x0 Letter", "SIP/2.0 200\tTab", "\xc3\xbc sip:a SIP/2.0",
  ];
  const run = runFrames(notSip.map((line) => ({ data: udpFrame(message(line, "x")) })));
  assert.is(run.messages.length, 0, run.messages.map((m) => m.bytes.toString("latin1").split("\r\n")[0]).join(" | "));
  assert.is(run.counters.non_sip, notSip.length);
});

test("TCP: the same lines are framed in sync and found again by a resync", () => {
  const odd = message("SIP/2.0 700 Odd", "tcp-700");
  // junk first: the stream resyncs and must find the UTF-8 request line.
  const stream = Buffer.concat([Buffer.from("junk\r\n"), UTF8_URI, odd]);
  const half = 40; // cuts inside the UTF-8 Request-URI's line: a partial line must be waited for
  const run = runFrames([
    { data: tcpFrame("", { seq: 1000, flags: TCP_SYN }) },
    { data: tcpFrame(stream.subarray(0, half), { seq: 1001 }) },
    { data: tcpFrame(stream.subarray(half), { seq: 1001 + half }) },
  ]);
  assert.equal(run.messages.map((m) => m.bytes.toString("hex")), [UTF8_URI, odd].map((b) => b.toString("hex")));
  assert.equal(run.messages.map((m) => m.problems), [L.PROB_URI_NOT_ASCII, L.PROB_STATUS_RANGE]);
  assert.is(run.counters.tcp_resync, 1);
  assert.is(run.counters.tcp_skipped, 6);
});

test("TCP: a segment ending inside a UTF-8 reason phrase is waited for, not resynced", () => {
  const ok = message("SIP/2.0 200 Très bien", "tcp-reason");
  const cut = 16; // inside "Très": the line's end is in the next segment
  const run = runFrames([
    { data: tcpFrame("", { seq: 1000, flags: TCP_SYN }) },
    { data: tcpFrame(ok.subarray(0, cut), { seq: 1001 }) },
    { data: tcpFrame(ok.subarray(cut), { seq: 1001 + cut }) },
  ]);
  assert.equal(run.messages.map((m) => [m.status, m.problems]), [[200, 0]]);
  assert.is(run.counters.tcp_resync, 0);
});

test("TCP: bytes 0x80-0xFF before any space cannot start a line: not waited for", () => {
  const run = runFrames([
    { data: tcpFrame("", { seq: 1000, flags: TCP_SYN }) },
    { data: tcpFrame(Buffer.alloc(20, 0xc3), { seq: 1001 }) },
  ]);
  assert.is(run.counters.tcp_resync, 1, JSON.stringify(run.counters));
  assert.is(run.counters.tcp_skipped, 20);
});

const tshark = spawnSync("tshark", ["--version"]).status === 0;
if (!tshark) {
  console.log("start-line.test: tshark is not installed; the cross-check with tshark was NOT run");
} else {
  test("tshark decodes the same datagrams as SIP", () => {
    const dir = mkdtempSync(`${tmpdir()}/siphon-start-line-`);
    try {
      const path = `${dir}/lenient.pcap`;
      writeFileSync(path, pcapFile([UTF8_URI, ...LENIENT_STATUS].map((m) => udpFrame(m))));
      const r = spawnSync("tshark", ["-r", path, "-Y", "sip", "-T", "fields", "-e", "sip.Call-ID",
        "-e", "sip.Method", "-e", "sip.Status-Code"], { encoding: "utf8" });
      assert.is(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim().split("\n"),
        ["utf8-uri\tINVITE\t", "status-000\t\t0", "status-099\t\t99", "status-700\t\t700", "status-999\t\t999"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
