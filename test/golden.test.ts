// Golden tests: every capture in fixtures/captures has its expected envelopes
// (X.ndjson), counters (X.summary.json) and call and registration events
// (X.events.ndjson, from the command as a user runs it) beside it, compared byte for byte.
// `npm run golden:update` rewrites them; a change to one is reviewed like code.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
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

// The events of `siphon replay --events -` with its defaults: a pure function of the capture.
function events(path: string): string {
  const run = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", path, "--out", "/dev/null", "--events", "-",
    "--sensor", "golden", "--no-progress"], { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  return run.stdout;
}

test("there are golden captures", () => {
  assert.ok(captures.length >= 10);
});

for (const name of captures) {
  const base = `${DIR}/${name.replace(/\.(pcap|pcapng)$/, "")}`;
  test(`golden: ${name}`, async () => {
    const got = { ...await decode(`${DIR}/${name}`), events: events(`${DIR}/${name}`) };
    if (UPDATE) {
      writeFileSync(`${base}.ndjson`, got.ndjson);
      writeFileSync(`${base}.summary.json`, got.summary);
      writeFileSync(`${base}.events.ndjson`, got.events);
      return;
    }
    for (const file of [`${base}.ndjson`, `${base}.summary.json`, `${base}.events.ndjson`]) {
      assert.ok(existsSync(file), `no golden file ${file}: run 'npm run golden:update' and review it`);
    }
    assert.fixture(got.ndjson, readFileSync(`${base}.ndjson`, "utf8"));
    assert.fixture(got.summary, readFileSync(`${base}.summary.json`, "utf8"));
    assert.fixture(got.events, readFileSync(`${base}.events.ndjson`, "utf8"));
  });
}

test("golden: the sample's 81 messages are the 47 requests and 34 responses Wireshark shows", async () => {
  const lines = (await decode(`${DIR}/sip-method.pcap`)).ndjson.trim().split("\n");
  const requests = lines.filter((l) => !Buffer.from(JSON.parse(l).sip, "base64").toString().startsWith("SIP/2.0 "));
  assert.is(lines.length, 81);
  assert.is(requests.length, 47);
});

test.run();
