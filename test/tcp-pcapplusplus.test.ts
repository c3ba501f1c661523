// PcapPlusPlus's TCP reassembly captures (fixtures/tcp): one HTTP/1.1 connection, two requests
// and two responses framed by Content-Length, with PcapPlusPlus's expected reassembled bytes.
// Siphon frames SIP, so the start lines are rewritten, in capture and expectation alike and at
// the same length (" HTTP/1.1" CRLF ending a request line becomes "x SIP/2.0" CRLF, a status
// line "HTTP/1.1 200 OK" becomes "SIP/2.0 200 OK "): every other byte, and every segment
// boundary and sequence number, is PcapPlusPlus's. The messages Siphon frames, one after the
// other, must be the expected bytes: in order, with segments out of order, with every segment
// sent twice, and with sequence numbers that wrap around 2^32 (one_tcp_stream_max_seq.pcap).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { runFrames, type Frame } from "./helpers";
import { CaptureParser } from "../host/source";

function asSip(bytes: Buffer): Buffer {
  const text = bytes.toString("latin1")
    .replaceAll(" HTTP/1.1\r\n", "x SIP/2.0\r\n")
    .replaceAll("HTTP/1.1 200 OK\r\n", "SIP/2.0 200 OK \r\n");
  assert.is(text.length, bytes.length);
  return Buffer.from(text, "latin1");
}

function frames(name: string): Frame[] {
  const out: Frame[] = [];
  const path = `fixtures/tcp/${name}`;
  const parser = new CaptureParser(path, {
    frame(data, start, caplen, origLen, linkType, sec, nsec) {
      out.push({ data: Uint8Array.from(data.subarray(start, start + caplen)), origLen, linkType, sec, nsec });
    },
  });
  parser.feed(asSip(readFileSync(path)));
  parser.end();
  return out;
}

const expected = asSip(readFileSync("fixtures/tcp/one_tcp_stream_output.txt")).toString("latin1");

function reassembled(list: Frame[]): string {
  const run = runFrames(list);
  assert.is(run.messages.length, 4);
  return run.messages.map((m) => m.bytes.toString("latin1")).join("");
}

test("PcapPlusPlus one_tcp_stream: the expected bytes, in order", () => {
  assert.is(reassembled(frames("one_tcp_stream.pcap")), expected);
});

test("PcapPlusPlus one_tcp_stream: sequence numbers wrapping around 2^32", () => {
  assert.is(reassembled(frames("one_tcp_stream_max_seq.pcap")), expected);
});

test("PcapPlusPlus one_tcp_stream: segments out of order and sent twice", () => {
  const list = frames("one_tcp_stream.pcap");
  const shuffled: Frame[] = [];
  for (let i = 0; i < list.length; i += 3) shuffled.push(...list.slice(i, i + 3).reverse());
  assert.is(reassembled(shuffled), expected);
  assert.is(reassembled(list.flatMap((f) => [f, f])), expected);
});

test.run();
