#!/usr/bin/env node
// A capture of many concurrent TCP flows for the flow-table bound: each flow, picked up without a
// SYN and never closed, sends one segment holding a whole OPTIONS and the start of another, so
// every flow wants a table entry and a stream buffer at once. The truth is the whole messages
// (one per flow): they are framed in place, whatever the table evicts.
//
//   node bench/tcp-flows.mjs --out FILE.pcap --truth FILE.json [--flows N]
import { writeFileSync } from "node:fs";
import { parseCommandLine, refuse } from "./args.mjs";
import { pcapOut } from "./pcap-out.mjs";

const USAGE = `usage: node bench/tcp-flows.mjs --out FILE.pcap --truth FILE.json [--flows N]   (default: 1000000)
Writes a capture of many concurrent TCP flows for the flow-table bound, each picked up without a SYN and
never closed, one whole OPTIONS and the start of another per flow; and its truth (the whole messages).`;
const { values } = parseCommandLine(USAGE, { options: { out: { type: "string" }, truth: { type: "string" }, flows: { type: "string", default: "1000000" } } });
const flows = Number(values.flows);
if (!values.out || !values.truth) refuse(USAGE, "--out and --truth are required");
if (!Number.isSafeInteger(flows) || flows < 1) refuse(USAGE, `--flows ${values.flows}: want a positive integer`);

const whole = "OPTIONS sip:probe@192.0.2.10 SIP/2.0\r\nCall-ID: f\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
const partial = "OPTIONS sip:probe@192.0.2.10 SIP/2.0\r\nCall-ID: g\r\n";
const payload = Buffer.from(whole + partial);
const frameLength = 14 + 20 + 20 + payload.length;
const record = Buffer.alloc(16 + frameLength);
const frame = record.subarray(16);
frame.writeUInt16BE(0x0800, 12);
frame[14] = 0x45;
frame.writeUInt16BE(20 + 20 + payload.length, 16);
frame[22] = 64;
frame[23] = 6;
frame.set([192, 0, 2, 10], 30);
frame.writeUInt16BE(5060, 36);
frame[46] = 0x50;
frame[47] = 0x18; // ACK, PSH
frame.writeUInt16BE(65535, 48);
payload.copy(frame, 54);
record.writeUInt32LE(frameLength, 8);
record.writeUInt32LE(frameLength, 12);

const out = pcapOut(values.out);
for (let i = 0; i < flows; i++) {
  const client = 1 + Math.floor(i / 60000);
  record.writeUInt32LE(1795428000 + Math.floor(i / 100000), 0); // 100,000 flows a second, all within the idle timeout
  record.writeUInt32LE(i % 100000 * 10, 4);
  frame.set([10, (client >> 8) & 255, client & 255, 1], 26);
  frame.writeUInt16BE(1024 + (i % 60000), 34);
  frame.writeUInt32BE((i * 2654435761) >>> 0, 38);
  out.add(record);
}
out.close();
writeFileSync(values.truth, `${JSON.stringify({ totals: { packets: flows, sipMessages: flows } }, null, 2)}\n`);
process.stderr.write(`generated ${flows} TCP flows, one whole SIP message and a partial one each\n`);
