// The event options as a user runs them: --events FILE and -, --no-events,
// --event-rate, --call-timeout; what goes to stdout and stderr; bad values.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pcapFile, sip, udpFrame } from "./helpers";

const CAPTURE = "fixtures/captures/wireshark.pcap";
const directory = mkdtempSync(join(tmpdir(), "siphon-calls-cli-"));

function siphon(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ["dist/siphon.mjs", ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const types = (ndjson: string): string[] => ndjson.trim().split("\n").map((l) => (JSON.parse(l) as { event: { type: string } }).event.type);

test("--events FILE: one event per line beside the envelopes; a summary on stderr", () => {
  const file = join(directory, "events.ndjson");
  const run = siphon(["replay", CAPTURE, "--events", file, "--no-progress", "--sensor", "s1"]);
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout.trim().split("\n").length, 81, "the 81 envelopes still on stdout");
  const written = types(readFileSync(file, "utf8"));
  assert.equal(written.filter((t) => t !== "counters").sort(), [
    "auth-failed", "auth-failed", "auth-failed", "auth-failed", "auth-failed", "auth-failed", "auth-failed", "auth-failed",
    "call-attempt", "call-attempt", "reg-new", "reg-new",
  ]);
  assert.ok(written.filter((t) => t === "counters").length >= 2, "periodic counters, and a last one at the end");
  assert.match(run.stderr, `siphon: ${written.length} events written, 0 suppressed by --event-rate, 0 blocked by --no-events`);
});

test("--events -: stdout carries the events only", () => {
  const run = siphon(["replay", CAPTURE, "--events", "-", "--no-progress", "--call-timeout", "counters=0"]);
  assert.is(run.status, 0, run.stderr);
  assert.is(types(run.stdout).length, 12);
});

test("--no-events and --event-rate hold events back and say how many", () => {
  const run = siphon(["replay", CAPTURE, "--events", "-", "--no-progress", "--call-timeout", "counters=0", "--no-events", "reg-new", "--event-rate", "1,2,3"]);
  assert.is(run.status, 0, run.stderr);
  const written = types(run.stdout);
  assert.not.ok(written.includes("reg-new"));
  const authFailed = written.filter((t) => t === "auth-failed").length;
  assert.is(authFailed, 3, "the eight from one source over twenty minutes: three an hour pass");
  assert.is(written.filter((t) => t === "call-attempt").length, 2, "calls are never limited");
  assert.match(run.stderr, "5 events written, 5 suppressed by --event-rate, 2 blocked by --no-events");
});

test("--tracker core: the same events file and summary as the JavaScript tracker", () => {
  const runs = ["js", "core"].map((where) => {
    const file = join(directory, `events-${where}.ndjson`);
    const run = siphon(["replay", CAPTURE, "--events", file, "--no-progress", "--sensor", "s1", "--out", "/dev/null", "--tracker", where]);
    assert.is(run.status, 0, run.stderr);
    return { events: readFileSync(file, "utf8"), stderr: run.stderr.replace(/ in [\d.]+ s$/m, " in (time) s") };
  });
  assert.ok(types(runs[0].events).length >= 14, "the capture's events and counters");
  assert.is(runs[1].events, runs[0].events);
  assert.is(runs[1].stderr, runs[0].stderr);
});

test("bad event options are usage errors (exit 2) that say what is allowed", () => {
  const cases: [string[], RegExp][] = [
    [["--call-timeout", "invite=5"], /--call-timeout invite: 5 is out of range: an integer from 32 to 3600 \(seconds\)/],
    [["--call-limit", "calls=0"], /--call-limit calls: 0 is out of range: an integer from 1 to 10000000 \(calls\)/],
    [["--no-events", "call-stop"], /--no-events: 'call-stop' is not an event type/],
    [["--event-rate", "fast"], /--event-rate: 'fast' is not three integers/],
    [["--events-topic", "t/e"], /--events-topic needs --mqtt URL/],
    [["--tracker", "rust"], /--tracker: must be one of js, core, got "rust"/],
    [["--tracker", "core", "--call-limit", "calls=10000000,bindings=10000000,transactions=10000000"],
      /the configured tables need \d+ MiB of core memory.*--tracker core's call-limit entries 40000004 x 784 bytes/],
  ];
  for (const [args, message] of cases) {
    const run = siphon(["replay", CAPTURE, "--events", "/dev/null", ...args]);
    assert.is(run.status, 2, args.join(" "));
    assert.match(run.stderr, message);
  }
});

// OPTIONS answered 200 from users whose From URIs are each a few kilobytes long: one batch's
// event lines pass half the core's line region, so the outputs are flushed and the lines begin
// again at its start in the middle of the batch (host/calls/publish.ts, EventDelivery.appendLine).
function longLinesCapture(transactions: number): { file: string; users: string[] } {
  const users = Array.from({ length: transactions }, (_, i) => `user${i}-${"x".repeat(6000 + (i % 7) * 97)}`);
  const frames = users.flatMap((user, i) => {
    const headers = [`Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK${i}`, `From: <sip:${user}@example.com>;tag=f${i}`, "To: <sip:probe@example.net>",
      `Call-ID: options-${i}`, "CSeq: 1 OPTIONS", "Content-Length: 0"];
    return [udpFrame(sip(["OPTIONS sip:probe@example.net SIP/2.0", ...headers])), udpFrame(sip(["SIP/2.0 200 OK", ...headers]),
      { src: "198.51.100.7", dst: "192.0.2.1" })];
  });
  const file = join(directory, "long-lines.pcap");
  writeFileSync(file, pcapFile(frames));
  return { file, users };
}

test("--events: a batch whose event lines fill the core's line region: every line whole, once, in order", () => {
  const { file, users } = longLinesCapture(400);
  for (const name of ["file", "stdout"]) {
    const events = join(directory, "long-lines.ndjson");
    const run = siphon(["replay", file, "--no-progress", "--event-rate", "0,0,0", "--call-timeout", "counters=0", "--out", "/dev/null",
      "--events", name === "file" ? events : "-"]);
    assert.is(run.status, 0, run.stderr);
    const lines = (name === "file" ? readFileSync(events, "utf8") : run.stdout).trim().split("\n");
    const seen = lines.map((l) => (JSON.parse(l) as { event: { type: string }; sip: { from: string } }));
    assert.is(seen.length, users.length, `${name}: one event per transaction`);
    seen.forEach((e, i) => {
      assert.is(e.event.type, "other-ok");
      assert.is(e.sip.from, `sip:${users[i]}@example.com`, `${name}: event ${i}`);
    });
    assert.ok(lines.join("\n").length > 2 ** 21, "more than twice the region's bytes of lines");
  }
});

test.after(() => rmSync(directory, { recursive: true, force: true }));

test.run();
