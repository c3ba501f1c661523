// Golden tests: every capture in fixtures/captures has its expected envelopes
// (X.ndjson) and counters (X.summary.json) beside it, compared byte for byte.
// `npm run golden:update` rewrites them; a change to one is reviewed like code.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { Core } from "../host/core";
import { readCapture } from "../host/source";

const DIR = "fixtures/captures";
const UPDATE = process.env.SIPHON_GOLDEN_UPDATE === "1";
const captures = readdirSync(DIR).filter((f) => /\.(pcap|pcapng)$/.test(f)).sort();

async function decode(path: string): Promise<{ ndjson: string; summary: string }> {
  const chunks: Buffer[] = [];
  const core = new Core({ sensor: "golden", agent: "siphon/golden" }, (batch) => chunks.push(batch.ndjson()));
  await readCapture(path, core);
  core.flush();
  return { ndjson: Buffer.concat(chunks).toString(), summary: JSON.stringify(core.counters(), null, 1) + "\n" };
}

test("there are golden captures", () => {
  assert.ok(captures.length >= 10);
});

for (const name of captures) {
  const base = `${DIR}/${name.replace(/\.(pcap|pcapng)$/, "")}`;
  test(`golden: ${name}`, async () => {
    const got = await decode(`${DIR}/${name}`);
    if (UPDATE) {
      writeFileSync(`${base}.ndjson`, got.ndjson);
      writeFileSync(`${base}.summary.json`, got.summary);
      return;
    }
    assert.ok(existsSync(`${base}.ndjson`), `no golden file for ${name}: run 'npm run golden:update' and review it`);
    assert.fixture(got.ndjson, readFileSync(`${base}.ndjson`, "utf8"));
    assert.fixture(got.summary, readFileSync(`${base}.summary.json`, "utf8"));
  });
}

test("golden: the sample's 81 messages are the 47 requests and 34 responses Wireshark shows", async () => {
  const lines = (await decode(`${DIR}/sip-method.pcap`)).ndjson.trim().split("\n");
  const requests = lines.filter((l) => !Buffer.from(JSON.parse(l).sip, "base64").toString().startsWith("SIP/2.0 "));
  assert.is(lines.length, 81);
  assert.is(requests.length, 47);
});

test.run();
