// Options: flags over SIPHON_* variables over a JSON config file over defaults;
// unknown and contradictory options refused with a clear message; the printed
// configuration masks secrets.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, envName, OPTIONS, UsageError } from "../host/config";

const tmp = mkdtempSync(join(tmpdir(), "siphon-config-"));
const SAMPLE = "fixtures/captures/sip-method.pcap";

function file(name: string, content: unknown): string {
  const path = join(tmp, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

test("a flag wins over its SIPHON_* variable, which wins over the file, which wins over the default", () => {
  const conf = file("a.json", { topic: "from/file", qos: 0, keepalive: 7, mqtt: "mqtt://file:1883" });
  const env = { SIPHON_TOPIC: "from/env", SIPHON_QOS: "1" };
  const c = loadConfig("replay", ["--config", conf, "--topic", "from/flag", "x.pcap"], env);
  assert.is(c.str("topic"), "from/flag");
  assert.is(c.num("qos"), 1);
  assert.is(c.num("keepalive"), 7);
  assert.is(c.str("mqtt"), "mqtt://file:1883");
  assert.is(c.num("inflight"), 4096);
  assert.equal(c.positionals, ["x.pcap"]);
});

test("SIPHON_CONFIG names the file; booleans and numbers are typed", () => {
  const conf = file("b.json", { "mqtt-insecure": true, mqtt: "mqtts://b:8883" });
  const c = loadConfig("replay", ["x"], { SIPHON_CONFIG: conf, SIPHON_NO_PROGRESS: "true", SIPHON_QUEUE_MESSAGES: "25" });
  assert.ok(c.bool("mqtt-insecure"));
  assert.ok(c.bool("no-progress"));
  assert.is(c.num("queue-messages"), 25);
});

test("every option has its SIPHON_ name, and the table has no duplicates", () => {
  assert.is(envName("status-topic"), "SIPHON_STATUS_TOPIC");
  const names = OPTIONS.map((o) => o.name);
  assert.is(new Set(names).size, names.length);
});

test("unknown, badly typed and contradictory options are refused with what to do", () => {
  const refused = (args: string[], env: Record<string, string>, pattern: RegExp): void => {
    assert.throws(() => loadConfig("replay", args, env), (err: Error) => err instanceof UsageError && pattern.test(err.message));
  };
  refused(["--no-such-thing"], {}, /Unknown option '--no-such-thing'/);
  refused(["--config", file("c.json", { topik: "x" })], {}, /unknown option "topik"/);
  refused(["--config", file("d.json", "{ not json")], {}, /cannot read/);
  refused(["--config", file("e.json", [1, 2])], {}, /one JSON object/);
  refused(["--qos", "2"], {}, /--qos: must be one of 0, 1/);
  refused([], { SIPHON_QOS: "high" }, /SIPHON_QOS: expected a number/);
  refused(["--config", file("f.json", { keepalive: "30" })], {}, /"keepalive": expected a number/);
  refused(["--filter", "request", "--filter-file", "f"], {}, /--filter or --filter-file, not both/);
  refused(["--mqtt", "mqtt://x", "--mqtt-cert", "c"], {}, /--mqtt-cert and --mqtt-key go together/);
  refused(["--status-topic", "s"], {}, /MQTT options were given without --mqtt/);
  refused(["--qos", "0"], {}, /MQTT options were given without --mqtt/);
  refused([], { SIPHON_TOPIC: "x" }, /MQTT options were given without --mqtt/);
  refused(["--hep-id", "7"], {}, /HEP options were given without --hep/);
  refused(["--mqtt", "mqtt://x", "--password", "p"], {}, /--password needs --username/);
  refused(["--mqtt", "mqtt://x", "--status-topic", "siphon/sip"], {}, /--status-topic must differ from --topic/);
  refused(["--inflight", "0", "--mqtt", "mqtt://x"], {}, /--inflight: must be at least 1/);
});

test("the configuration is printed at start with secrets masked", () => {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", SAMPLE, "--hep", "udp://127.0.0.1:9", "--hep-password", "hunter2",
    "--log-level", "info"], { encoding: "utf8", env: { ...process.env, SIPHON_SENSOR: "cfg" } });
  assert.is(r.status, 0, r.stderr);
  const first = JSON.parse(r.stderr.split("\n")[0]) as { level: string; msg: string; options: Record<string, unknown> };
  assert.is(first.msg, "configuration");
  assert.is(first.options["hep-password"], "***");
  assert.is(first.options.sensor, "cfg");
  assert.not.match(r.stderr, /hunter2/);
});

test("command line: a bad option exits 2 with one line, never a stack trace", () => {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", SAMPLE, "--mqtt", "http://x"], { encoding: "utf8" });
  assert.is(r.status, 2);
  assert.is(r.stderr, "siphon: --mqtt: scheme 'http' is not mqtt, mqtts, ws or wss\n");
  const e = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", SAMPLE], { encoding: "utf8", env: { ...process.env, SIPHON_QOS: "7" } });
  assert.is(e.status, 2);
  assert.match(e.stderr, /^siphon: SIPHON_QOS: must be one of 0, 1, got "7"\n$/);
});

test.run();
