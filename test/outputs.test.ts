// Which runs have an output that reads the JSON envelopes: only those make the core render them
// (host/cli/run.ts), so that events only, HEP only and siphon view do not pay for a fifth of the
// core's work that nothing reads.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../host/cli/config";
import { openOutputs } from "../host/cli/outputs";
import { allSinks } from "../host/sink";
import { createLogger } from "../host/log";
import { INVITE, runFrames, udpFrame } from "./helpers";

const tmp = mkdtempSync(join(tmpdir(), "siphon-outputs-"));
const SAMPLE = "fixtures/captures/sip-method.pcap";
const log = createLogger({ level: "error", write: () => undefined });

async function readsEnvelopes(command: string, args: string[]): Promise<boolean> {
  const outputs = openOutputs(loadConfig(command, [...args, SAMPLE], {}), log, () => ({}), (err) => { throw err; });
  await allSinks(outputs.sinks).close(Date.now() + 5000);
  return outputs.envelopes;
}

const CASES: [string, string[], boolean][] = [
  ["replay", [], true],                                              // NDJSON on stdout, the default
  ["replay", ["--out", join(tmp, "a.ndjson")], true],
  ["replay", ["--events", join(tmp, "b.ndjson")], true],             // envelopes still on stdout
  ["replay", ["--events", "-"], false],                               // events on stdout, no envelope output
  ["replay", ["--events", "-", "--out", join(tmp, "c.ndjson")], true],
  ["replay", ["--hep", "udp://127.0.0.1:9"], false],                  // HEP sends the message itself
  ["replay", ["--hep", "udp://127.0.0.1:9", "--out", "-"], true],
  ["view", [], false],
];

for (const [command, args, expected] of CASES) {
  test(`${command} ${args.join(" ")}: ${expected ? "an output reads envelopes" : "no output reads envelopes"}`, async () => {
    assert.is(await readsEnvelopes(command, args), expected);
  });
}

test("a core that renders no envelopes hands over every record, no envelope bytes and no id", () => {
  const frames = [{ data: udpFrame(INVITE) }, { data: udpFrame(INVITE.replace("INVITE sip:", "OPTIONS sip:")) }];
  const bare = runFrames(frames, { renderJson: false });
  const full = runFrames(frames);
  assert.is(full.messages.length, 2);
  assert.ok(full.ndjson.length > 0);
  assert.is(bare.ndjson, "");
  assert.equal(bare.messages.map((m) => [m.method, m.callId]), full.messages.map((m) => [m.method, m.callId]));
  assert.equal(bare.messages.map((m) => m.id), ["0000000000000000", "0000000000000000"]);
  assert.equal(bare.counters, full.counters);
});

test.run();
