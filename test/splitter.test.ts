// sip-capture's splitter cases (fixtures/splitter) as golden tests of SIP
// framing on TCP streams. Each NAME.stream is the bytes of one direction;
// NAME.expected is sip-capture's golden (its "Messages" are what must come
// out); NAME.siphon.json, where present, replaces them and says why Siphon
// differs. Every stream is sent whole, one byte per segment, and in 3-byte
// segments: the messages must not depend on where the segments are cut.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { runFrames, tcpFrame, TCP_SYN, type Frame } from "./helpers";

const DIR = "fixtures/splitter";
const cases = readdirSync(DIR).filter((f) => f.endsWith(".stream")).map((f) => f.slice(0, -".stream".length)).sort();

function expectedMessages(name: string): string[] {
  const sidecar = `${DIR}/${name}.siphon.json`;
  const file = existsSync(sidecar) ? sidecar : `${DIR}/${name}.expected`;
  const parsed = JSON.parse(readFileSync(file, "utf8")) as { Messages: string[]; Differs?: string };
  if (file === sidecar) assert.ok((parsed.Differs ?? "").length > 20, `${sidecar} must say why Siphon differs`);
  return parsed.Messages;
}

function framesOf(stream: Buffer, size: number): Frame[] {
  const frames: Frame[] = [{ data: tcpFrame("", { seq: 0, flags: TCP_SYN }) }];
  for (let at = 0; at < stream.length; at += size) {
    frames.push({ data: tcpFrame(stream.subarray(at, at + size), { seq: 1 + at }) });
  }
  return frames;
}

test("all 18 of sip-capture's cases are here", () => {
  assert.is(cases.filter((c) => existsSync(`${DIR}/${c}.expected`)).length, 18);
});

for (const name of cases) {
  test(`splitter: ${name}`, () => {
    const stream = readFileSync(`${DIR}/${name}.stream`);
    const expected = expectedMessages(name);
    for (const size of [Math.max(1, stream.length), 1, 3]) {
      const run = runFrames(framesOf(stream, size));
      const got = run.messages.map((m) => m.bytes.toString("latin1"));
      assert.equal(got, expected, `segments of ${size} bytes`);
    }
  });
}

test.run();
