// The web view under --anonymize shows what leaves the sensor: no address, user or
// Call-ID of the capture anywhere in the page's API, while calls and their events
// still join (both keyed by the Call-ID's pseudonym). And --metrics alone is the
// metrics server only: no page, no API, no SIP text.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanUp, freePort, onCleanup, waitFor } from "./mosquitto";
import { framesOf, runFrames } from "./helpers";
import { getJson, startSiphon } from "./web";

const FIXTURE = "fixtures/captures/wireshark.pcap";
const messages = runFrames(framesOf(FIXTURE)).messages;

function keyFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), "siphon-key-")), "siphon.key");
  writeFileSync(path, `${"3c".repeat(32)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

// What the capture identifies people and machines by: addresses, Call-IDs, URI users.
function originals(): string[] {
  const values = new Set<string>();
  for (const m of messages) {
    values.add(m.src.ip).add(m.dst.ip);
    if (m.callId !== "") values.add(m.callId);
    for (const header of [m.from, m.to]) for (const user of header.matchAll(/sips?:([^@;>\s]{4,})@/g)) values.add(user[1]);
  }
  return [...values];
}

test.after(async () => {
  await cleanUp();
});

test("--anonymize: the web view's API carries no original value, and calls still join their events", async () => {
  const view = await startSiphon("view", [FIXTURE, "--anonymize", keyFile()]);
  const list = await getJson(view.base, "/api/calls");
  assert.is(list.status, 200);
  assert.is(list.body.calls.length, new Set(messages.map((m) => m.callId)).size, "one call per Call-ID");
  const bodies = [JSON.stringify(list.body)];
  let joined = 0;
  for (const call of list.body.calls) {
    const one = await getJson(view.base, `/api/calls/${encodeURIComponent(call.id)}`);
    assert.is(one.status, 200, `call ${call.id}`);
    assert.is(one.body.messages.length, call.messages);
    if (one.body.events.length > 0) joined++;
    bodies.push(JSON.stringify(one.body));
  }
  assert.ok(joined > 0, "some call has its events in its window entry");
  for (const path of ["/api/events", "/api/registrations"]) bodies.push(JSON.stringify((await getJson(view.base, path)).body));
  const all = bodies.join("\n");
  const found = originals().filter((value) => all.includes(value));
  assert.equal(found, [], `original values in the web view's API: ${found.join(", ")}`);
});

test("--metrics alone serves /metrics and /healthz, and nothing of the web view", async () => {
  const port = await freePort();
  // Fed through stdin, left open: the run (and its server) lasts until it is stopped.
  const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", "-", "--out", "/dev/null", "--metrics", `127.0.0.1:${port}`,
    "--no-progress"], { stdio: ["pipe", "ignore", "pipe"] });
  child.stdin!.write(readFileSync(FIXTURE));
  onCleanup(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
  await waitFor("the metrics server", () => /serving \/metrics/.test(stderr) || child.exitCode !== null, () => stderr);
  const base = `http://127.0.0.1:${port}`;
  const metrics = await fetch(`${base}/metrics`);
  assert.is(metrics.status, 200, stderr);
  for (const path of ["/", "/app.js", "/api/calls", "/api/events"]) {
    const r = await fetch(base + path);
    assert.is(r.status, 404, path);
    assert.match(await r.text(), /--http ADDR serves the web view/);
  }
  child.kill("SIGTERM");
});

test.run();
