// Hostile bytes in call records and events, through `siphon replay` into a
// real PostgreSQL: a NUL in a Call-ID or User-Agent, a row the database
// refuses (a Call-ID too large for its index), and non-ASCII or invalid UTF-8
// header values, which the envelope, the events and the rows must decode alike.
import { test } from "uvu";
import * as assert from "uvu/assert";
import pg from "pg";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pcapFile, udpFrame } from "./helpers";
import { postgres } from "./postgres";

const CRLF = Buffer.from("\r\n");

interface CallBytes {
  callId: Buffer;
  userAgent?: Buffer;
  fromUser?: Buffer;     // From: "user" <sip:user@example.com>
}

function message(lines: (string | Buffer)[]): Buffer {
  return Buffer.concat([...lines.flatMap((l) => [Buffer.from(l), CRLF]), CRLF]);
}

// An answered call: INVITE, 200, ACK, BYE, 200, each its own datagram.
function callFrames(c: CallBytes): Uint8Array[] {
  const callId = Buffer.concat([Buffer.from("Call-ID: "), c.callId]);
  const user = c.fromUser ?? Buffer.from("alice");
  const from = Buffer.concat([Buffer.from('From: "'), user, Buffer.from('" <sip:'), user, Buffer.from("@example.com>;tag=a1")]);
  const to = "To: <sip:bob@example.com>";
  const toTagged = `${to};tag=b1`;
  const ua = c.userAgent ? [Buffer.concat([Buffer.from("User-Agent: "), c.userAgent])] : [];
  const caller = { src: "192.0.2.1", dst: "198.51.100.7" };
  const callee = { src: "198.51.100.7", dst: "192.0.2.1" };
  return [
    udpFrame(message(["INVITE sip:bob@example.com SIP/2.0", from, to, callId, "CSeq: 1 INVITE", ...ua, "Content-Length: 0"]), caller),
    udpFrame(message(["SIP/2.0 200 OK", from, toTagged, callId, "CSeq: 1 INVITE", "Content-Length: 0"]), callee),
    udpFrame(message(["ACK sip:bob@example.com SIP/2.0", from, toTagged, callId, "CSeq: 1 ACK", "Content-Length: 0"]), caller),
    udpFrame(message(["BYE sip:bob@example.com SIP/2.0", from, toTagged, callId, "CSeq: 2 BYE", "Content-Length: 0"]), caller),
    udpFrame(message(["SIP/2.0 200 OK", from, toTagged, callId, "CSeq: 2 BYE", "Content-Length: 0"]), callee),
  ];
}

const clean = (n: number): CallBytes => ({ callId: Buffer.from(`clean-${n}@example.com`), userAgent: Buffer.from("phone/1.0") });

// Letters and digits from a fixed LCG: text that PostgreSQL cannot compress below its index row limit.
function incompressible(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let state = 12345;
  let s = "";
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    s += alphabet[state % alphabet.length];
  }
  return s;
}

const database = await postgres();
if (typeof database === "string") {
  console.log(`cdr-bytes tests not registered: ${database}`);
} else {
  const directory = mkdtempSync(join(tmpdir(), "siphon-cdr-bytes-"));
  const suffix = `${process.pid}_${Date.now()}`;
  const tables: string[] = [];
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();

  interface Replay { status: number | null; stderr: string; envelopes: Record<string, unknown>[]; events: Record<string, any>[]; rows: Record<string, any>[] }

  const replay = async (name: string, calls: CallBytes[], frames: Uint8Array[] = calls.flatMap(callFrames)): Promise<Replay> => {
    const table = `siphon_test_cdr_bytes_${name}_${suffix}`;
    tables.push(table);
    const capture = join(directory, `${name}.pcap`);
    const envelopes = join(directory, `${name}.envelopes`);
    const events = join(directory, `${name}.events`);
    writeFileSync(capture, pcapFile(frames));
    const run = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", capture, "--out", envelopes, "--events", events,
      "--sensor", "bytes", "--no-progress", "--cdr", `${database.url}?table=${table}`], { encoding: "utf8" });
    const lines = (path: string): Record<string, any>[] => readFileSync(path, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const rows = await client.query(`SELECT * FROM ${table} ORDER BY invite_time`).then((r) => r.rows, () => []);
    return { status: run.status, stderr: run.stderr, envelopes: lines(envelopes), events: lines(events), rows };
  };
  const callEnds = (r: Replay): Record<string, any>[] => r.events.filter((e) => e.event.type === "call-end");

  test("a NUL in a Call-ID or a User-Agent: every call has its row, the NUL stored as U+FFFD, exit 0 and the summary", async () => {
    const calls = [clean(1), clean(2), clean(3), { callId: Buffer.from("nul-\0-in-call-id@example.com") }, clean(4),
      { callId: Buffer.from("nul-in-ua@example.com"), userAgent: Buffer.from("phone\0/2.0") }, clean(5), clean(6)];
    const r = await replay("nul", calls);
    assert.is(r.status, 0, r.stderr);
    assert.equal(r.rows.map((row) => row.call_id), ["clean-1@example.com", "clean-2@example.com", "clean-3@example.com",
      "nul-\ufffd-in-call-id@example.com", "clean-4@example.com", "nul-in-ua@example.com", "clean-5@example.com", "clean-6@example.com"]);
    assert.is(r.rows[5].user_agent, "phone\ufffd/2.0");
    assert.equal(callEnds(r).map((e) => e.sip.call_id)[3], "nul-\0-in-call-id@example.com", "the event keeps the NUL (JSON \\u0000)");
    assert.match(r.stderr, /siphon: 40 packets, 40 SIP messages/);
    assert.match(r.stderr, /siphon: 8 call records written to siphon_test_cdr_bytes_nul_/);
  });

  test("a row PostgreSQL refuses (a Call-ID too large for its index) is logged with its key, counted and skipped; the others are written", async () => {
    const huge = `huge-${incompressible(6000)}`;
    const calls = [clean(1), clean(2), clean(3), { callId: Buffer.from(huge) }, clean(4), clean(5), clean(6)];
    const r = await replay("refused", calls);
    assert.is(r.status, 0, r.stderr);
    assert.equal(r.rows.map((row) => row.call_id), [1, 2, 3, 4, 5, 6].map((n) => `clean-${n}@example.com`));
    const refusals = r.stderr.split("\n").filter((l) => l.includes("refused the call record"));
    assert.is(refusals.length, 1, r.stderr);
    const logged = JSON.parse(refusals[0]);
    assert.is(logged.level, "warn");
    assert.is(logged.sensor, "bytes");
    assert.is(logged.call_id, huge.slice(0, 256));
    assert.match(logged.msg, /\(54000\); that row is skipped, the others are written/);
    assert.match(r.stderr, /siphon: 6 call records written to \S+, 1 refused by PostgreSQL and skipped/);
    assert.match(r.stderr, /siphon: 35 packets, 35 SIP messages/);
  });

  test("a jitter past numeric(12,3) (an SDP clock of 1 Hz, RTP timestamps jumping 2^31) is stored saturated, not the row refused", async () => {
    const sdp = (ip: string, port: number): string => `v=0\r\no=- 1 1 IN IP4 ${ip}\r\ns=-\r\nc=IN IP4 ${ip}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 96\r\na=rtpmap:96 X/1\r\n`;
    const offer = sdp("192.0.2.1", 4000), answer = sdp("198.51.100.7", 5000);
    const from = "From: <sip:alice@example.com>;tag=a1", to = "To: <sip:bob@example.com>", toTagged = `${to};tag=b1`, callId = "Call-ID: jitter@example.com";
    const caller = { src: "192.0.2.1", dst: "198.51.100.7" }, callee = { src: "198.51.100.7", dst: "192.0.2.1" };
    const rtp = Array.from({ length: 40 }, (_, i) => {
      const packet = Buffer.alloc(172);
      packet[0] = 0x80;
      packet[1] = 96;
      packet.writeUInt16BE(i, 2);
      packet.writeUInt32BE(i % 2 === 0 ? 0 : 0x80000000, 4);
      packet.writeUInt32BE(7, 8);
      return udpFrame(packet, { ...caller, sport: 4000, dport: 5000 });
    });
    const frames = [
      udpFrame(Buffer.concat([message(["INVITE sip:bob@example.com SIP/2.0", from, to, callId, "CSeq: 1 INVITE", "Content-Type: application/sdp", `Content-Length: ${offer.length}`]), Buffer.from(offer)]), caller),
      udpFrame(Buffer.concat([message(["SIP/2.0 200 OK", from, toTagged, callId, "CSeq: 1 INVITE", "Content-Type: application/sdp", `Content-Length: ${answer.length}`]), Buffer.from(answer)]), callee),
      udpFrame(message(["ACK sip:bob@example.com SIP/2.0", from, toTagged, callId, "CSeq: 1 ACK", "Content-Length: 0"]), caller),
      ...rtp,
      udpFrame(message(["BYE sip:bob@example.com SIP/2.0", from, toTagged, callId, "CSeq: 2 BYE", "Content-Length: 0"]), caller),
      udpFrame(message(["SIP/2.0 200 OK", from, toTagged, callId, "CSeq: 2 BYE", "Content-Length: 0"]), callee),
    ];
    const r = await replay("jitter", [], frames);
    assert.is(r.status, 0, r.stderr);
    assert.ok(callEnds(r)[0].rtp.from_offerer.jitter_ms > 1e9, "the event keeps the figure as computed");
    assert.is(r.rows.length, 1, r.stderr);
    assert.is(r.rows[0].rtp_jitter_ms_offerer, "999999999.999");
    assert.is(r.rows[0].rtp_packets_offerer, "40");
    assert.not.match(r.stderr, /refused/);
  });

  test("UTF-8 header values: the envelope's call_id, the event and the row give the same strings", async () => {
    const calls = [
      { callId: Buffer.from("日本語@例え.jp"), userAgent: Buffer.from("Jürgen's phone"), fromUser: Buffer.from("jürgen") },
      { callId: Buffer.from([0x62, 0x61, 0x64, 0xff, 0x2d, 0xe6, 0x97, 0x40, 0x78]) },  // bad\xff-\xe6\x97@x: invalid UTF-8
    ];
    const r = await replay("utf8", calls);
    assert.is(r.status, 0, r.stderr);
    const wantIds = ["日本語@例え.jp", "bad\ufffd-\ufffd@x"];
    assert.equal([...new Set(r.envelopes.map((e) => e.call_id))], wantIds, "envelope call_id");
    const ends = callEnds(r);
    assert.equal(ends.map((e) => e.sip.call_id), wantIds, "event sip.call_id");
    assert.equal(r.rows.map((row) => row.call_id), wantIds, "call record call_id");
    assert.is(ends[0].user_agent.original, "Jürgen's phone");
    assert.is(r.rows[0].user_agent, "Jürgen's phone");
    assert.is(ends[0].sip.from, "sip:jürgen@example.com");
    assert.is(r.rows[0].caller, "sip:jürgen@example.com");
  });

  test.after(async () => {
    for (const table of tables) await client.query(`DROP TABLE IF EXISTS ${table}`);
    await client.end();
    database.stop();
    rmSync(directory, { recursive: true, force: true });
  });
}

test.run();
