#!/usr/bin/env node
// A capture of never-answered INVITEs for the call table's bound: each INVITE has its own
// Call-ID and From tag and no response ever comes, so with the tracker on every one wants a
// call entry until --call-limit evicts the oldest. 100,000 INVITEs a second of capture time,
// all within the INVITE timeout, so none times out: eviction alone bounds the table.
//
//   node bench/invite-flood.mjs --out FILE.pcap --truth FILE.json [--invites N]
import { writeFileSync } from "node:fs";
import { parseCommandLine, refuse } from "./args.mjs";
import { pcapOut } from "./pcap-out.mjs";

const USAGE = `usage: node bench/invite-flood.mjs --out FILE.pcap --truth FILE.json [--invites N]   (default: 1000000)
Writes a capture of never-answered INVITEs, each its own Call-ID and From tag, 100,000 a second of capture
time, for the call table's bound; and its truth (the packet and SIP message counts).`;
const { values } = parseCommandLine(USAGE, { options: { out: { type: "string" }, truth: { type: "string" }, invites: { type: "string", default: "1000000" } } });
const invites = Number(values.invites);
if (!values.out || !values.truth) refuse(USAGE, "--out and --truth are required");
if (!Number.isSafeInteger(invites) || invites < 1) refuse(USAGE, `--invites ${values.invites}: want a positive integer`);

// A typical INVITE with SDP; the Call-ID and tag are overwritten in place with each INVITE's number.
const ID = "0000000000";
const sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const text = `INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-${ID}\r\n` +
  `From: "Alice" <sip:alice@example.com>;tag=${ID}\r\nTo: <sip:bob@example.com>\r\nCall-ID: ${ID}-flood@10.0.0.1\r\n` +
  `CSeq: 1 INVITE\r\nContact: <sip:alice@10.0.0.1:5060>\r\nUser-Agent: flood/1.0\r\nMax-Forwards: 70\r\n` +
  `Content-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`;
const payload = Buffer.from(text);
const idAt = [];
for (let at = text.indexOf(ID); at >= 0; at = text.indexOf(ID, at + ID.length)) idAt.push(at);

const frameLength = 14 + 20 + 8 + payload.length;
const record = Buffer.alloc(16 + frameLength);
const frame = record.subarray(16);
frame.writeUInt16BE(0x0800, 12);
frame[14] = 0x45;
frame.writeUInt16BE(20 + 8 + payload.length, 16);
frame[22] = 64;
frame[23] = 17;
frame.set([10, 0, 0, 1], 26);
frame.set([192, 0, 2, 10], 30);
frame.writeUInt16BE(5060, 34);
frame.writeUInt16BE(5060, 36);
frame.writeUInt16BE(8 + payload.length, 38);
record.writeUInt32LE(frameLength, 8);
record.writeUInt32LE(frameLength, 12);

const out = pcapOut(values.out);
for (let i = 0; i < invites; i++) {
  record.writeUInt32LE(1795428000 + Math.floor(i / 100000), 0);
  record.writeUInt32LE(i % 100000 * 10, 4);
  const id = String(i).padStart(ID.length, "0");
  for (const at of idAt) payload.write(id, at, "latin1");
  payload.copy(frame, 42);
  out.add(record);
}
out.close();
writeFileSync(values.truth, `${JSON.stringify({ totals: { packets: invites, sipMessages: invites } }, null, 2)}\n`);
