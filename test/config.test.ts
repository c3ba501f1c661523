// Options: flags over SIPHON_* variables over a JSON config file over defaults;
// unknown and contradictory options refused with a clear message; the printed
// configuration masks secrets.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { maskUrlPasswords } from "../host/redact";
import { loadConfig, envName, optionsHelp, boundsOf } from "../host/cli/config";
import { OPTIONS } from "../host/options";
import { describeBounds } from "../host/bounds";
import { UsageError } from "../host/exits";

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
  refused(["--qos", "2"], {}, /--qos: 2 is out of range: an integer from 0 to 1 \(QoS level\)/);
  refused([], { SIPHON_QOS: "high" }, /SIPHON_QOS: high is not an integer: an integer from 0 to 1/);
  refused(["--config", file("f.json", { keepalive: "30" })], {}, /"keepalive": "30" is a string, not a number \(write it without quotes\): an integer from 0 to 65535 \(seconds\)/);
  refused(["--filter", "request", "--filter-file", "f"], {}, /--filter or --filter-file, not both/);
  refused(["--mqtt", "mqtt://x", "--mqtt-cert", "c"], {}, /--mqtt-cert and --mqtt-key go together/);
  refused(["--status-topic", "s"], {}, /MQTT options were given without --mqtt/);
  refused(["--qos", "0"], {}, /MQTT options were given without --mqtt/);
  refused([], { SIPHON_TOPIC: "x" }, /MQTT options were given without --mqtt/);
  refused(["--hep-id", "7"], {}, /HEP options were given without --hep/);
  refused(["--mqtt", "mqtt://x", "--password", "p"], {}, /--password needs --username/);
  refused(["--mqtt", "mqtt://x", "--status-topic", "siphon/sip"], {}, /--status-topic must differ from --topic/);
  refused(["--inflight", "0", "--mqtt", "mqtt://x"], {}, /--inflight: 0 is out of range: an integer from 1 to 65535 \(messages\)/);
});

test("the configuration is printed at start with secrets masked", async () => {
  // HEP to a port nobody listens on is refused (ICMP), counted as not delivered, exit 3: the
  // datagrams go to a socket that takes them (the kernel holds them while spawnSync waits).
  const collector = createSocket("udp4");
  await new Promise<void>((resolve) => collector.bind(0, "127.0.0.1", () => resolve()));
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", SAMPLE, "--hep", `udp://127.0.0.1:${collector.address().port}`,
    "--hep-password", "hunter2", "--log-level", "info"], { encoding: "utf8", env: { ...process.env, SIPHON_SENSOR: "cfg" } });
  collector.close();
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
  assert.match(e.stderr, /^siphon: SIPHON_QOS: 7 is out of range: an integer from 0 to 1 \(QoS level\)\n$/);
});

// Issue 9, fault 5: the --mqtt password was printed in clear in the start-up line.
test("a URL's password is masked in one helper, the user name and the rest of the URL kept", () => {
  assert.is(maskUrlPasswords("mqtt://alice:s3cret@broker:1883/x"), "mqtt://alice:***@broker:1883/x");
  assert.is(maskUrlPasswords("at 'postgres://u:p@ss:w@rd@db/x?table=t' and wss://:k@h"), "at 'postgres://u:***@db/x?table=t' and wss://:***@h");
  for (const unchanged of ["mqtt://alice@broker:1883", "mqtt://broker:1883", "udp://[::1]:9060", "sip:alice:pw@example.com"]) {
    assert.is(maskUrlPasswords(unchanged), unchanged);
  }
});

const PASSWORDS = ["PWmqtt", "PWhep", "PWcdr"];
const hasNoPassword = (text: string): void => {
  for (const pw of PASSWORDS) assert.not.ok(text.includes(pw), `${pw} printed: ${text}`);
};

test("no URL password is printed: the start-up line, the logs and the end of a run", () => {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", file("empty.pcap", ""), "--log-level", "debug", "--flush-timeout", "1",
    "--mqtt", "mqtt://alice:PWmqtt@127.0.0.1:1", "--hep", "udp://bob:PWhep@127.0.0.1:9",
    "--cdr", "postgres://carol:PWcdr@127.0.0.1:1/test?table=siphon_mask_test"], { encoding: "utf8" });
  assert.match(r.stderr, /no capture data/, "the run ended with its error");
  const options = (JSON.parse(r.stderr.split("\n")[0]) as { options: Record<string, string> }).options;
  assert.equal([options.mqtt, options.hep, options.cdr],
    ["mqtt://alice:***@127.0.0.1:1", "udp://bob:***@127.0.0.1:9", "postgres://carol:***@127.0.0.1:1/test?table=siphon_mask_test"]);
  hasNoPassword(r.stderr + r.stdout);
});

test("an error that echoes a URL hides its password, for every URL option", () => {
  const cases: Array<[string[], RegExp]> = [
    [["replay", SAMPLE, "--mqtt", "mqtt://alice:PWmqtt@127.0.0.1:99999"], /--mqtt: 'mqtt:\/\/alice:\*\*\*@127\.0\.0\.1:99999' is not a URL/],
    [["replay", SAMPLE, "--mqtt", "mqtt://alice:p@ss:PWmqtt@127.0.0.1:99999"], /--mqtt: 'mqtt:\/\/alice:\*\*\*@127\.0\.0\.1:99999' is not a URL/],
    [["replay", SAMPLE, "--hep", "udp://bob:PWhep@127.0.0.1"], /--hep: 'udp:\/\/bob:\*\*\*@127\.0\.0\.1' names no port/],
    [["replay", SAMPLE, "--events", "/dev/null", "--cdr", "postgres://carol:PWcdr@127.0.0.1:99999/x"], /--cdr: 'postgres:\/\/carol:\*\*\*@127\.0\.0\.1:99999\/x' is not a URL/],
    [["cdr", "--events", "/dev/null", "--cdr", "postgres://carol:PWcdr@127.0.0.1:99999/x"], /--cdr: 'postgres:\/\/carol:\*\*\*@/],
    [["cdr", "--events", "t", "--cdr", "postgres://u@h/x", "--mqtt", "mqtt://alice:PWmqtt@h:99999"], /--mqtt: 'mqtt:\/\/alice:\*\*\*@h:99999' is not a URL/],
  ];
  for (const [args, message] of cases) {
    const r = spawnSync(process.execPath, ["dist/siphon.mjs", ...args], { encoding: "utf8" });
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    hasNoPassword(r.stderr);
  }
});

// Issue 9: numbers were read with Number(): 4294967296 wrapped to 0 in the core
// (reassembly silently off), 1e10 spun it forever, 1.5 in a file became 1.
const NUMBER_OPTIONS = OPTIONS.filter((o) => o.type === "integer" || o.type === "number");

test("every number option has a type, a range and a unit, shown in --help and in docs/configuration.md", () => {
  const help = optionsHelp("replay") + optionsHelp("capture");
  const docs = readFileSync("docs/configuration.md", "utf8");
  assert.ok(NUMBER_OPTIONS.length >= 15, `only ${NUMBER_OPTIONS.length} number options`);
  for (const o of NUMBER_OPTIONS) {
    const b = boundsOf(o);
    assert.ok(b.min <= b.max && Number.isSafeInteger(b.max) && b.unit !== "", o.name);
    if (o.default !== undefined) assert.ok(Number(o.default) >= b.min && Number(o.default) <= b.max, `--${o.name}: default ${o.default} is outside its range`);
    const shown = `${b.type === "number" ? "a number" : "an integer"} ${b.min} to ${b.max} ${b.unit}`;
    assert.ok(help.includes(shown), `--help does not show "${shown}" for --${o.name}`);
    const row = `| \`--${o.name}\` | ${b.type} | ${b.min} to ${b.max} | ${b.unit} |`;
    assert.ok(docs.includes(row), `docs/configuration.md has no row "${row}"`);
  }
});

function refusal(args: string[], env: Record<string, string> = {}): string {
  try {
    loadConfig("replay", args, env);
  } catch (err) {
    assert.instance(err, UsageError, String(err));
    return (err as Error).message;
  }
  assert.unreachable(`accepted: ${JSON.stringify(args)} ${JSON.stringify(env)}`);
  return "";
}

test("a number outside its type or range is refused from a flag, SIPHON_* and the file, naming option, value, range and unit", () => {
  const flows = describeBounds(boundsOf(OPTIONS.find((o) => o.name === "tcp-flows")!));
  assert.is(flows, "an integer from 0 to 1048576 (flows)");
  const texts = ["50000000", "4294967296", "1e10", "0x10", "1.5", "-1", "NaN", "Infinity", "+5", " 5", "5 ", "1_000", "٣"];
  for (const text of texts) {
    const shown = /^\S+$/.test(text) ? text : JSON.stringify(text);
    assert.is(refusal([`--tcp-flows=${text}`, "x"]).endsWith(`: ${flows}`), true, text);
    assert.ok(refusal([`--tcp-flows=${text}`, "x"]).startsWith(`--tcp-flows: ${shown} is `), refusal([`--tcp-flows=${text}`, "x"]));
    assert.ok(refusal(["x"], { SIPHON_TCP_FLOWS: text }).startsWith(`SIPHON_TCP_FLOWS: ${shown} is `), text);
  }
  assert.is(refusal(["--tcp-flows", "", "x"]), `--tcp-flows: "" is not an integer: ${flows}`);
  assert.is(refusal(["--tcp-flows", "4294967296", "x"]), `--tcp-flows: 4294967296 is out of range: ${flows}`);
  assert.is(refusal(["--tcp-buffers", "1000000000", "x"]), "--tcp-buffers: 1000000000 is out of range: an integer from 1 to 5000 (buffers)");
  assert.is(refusal(["--defrag-slots", "4294967296", "x"]), "--defrag-slots: 4294967296 is out of range: an integer from 0 to 1024 (datagrams)");
  const inFile = (value: unknown): string => refusal(["--config", file("n.json", { "tcp-flows": value }), "x"]);
  assert.match(inFile(1.5), /"tcp-flows": 1\.5 is not an integer: an integer from 0 to 1048576 \(flows\)$/);
  assert.match(inFile(4294967296), /"tcp-flows": 4294967296 is out of range: /);
  assert.match(inFile(-1), /"tcp-flows": -1 is out of range: /);
  assert.match(inFile(1e10), /"tcp-flows": 10000000000 is out of range: /);
  assert.match(inFile("100"), /"tcp-flows": "100" is a string, not a number \(write it without quotes\): /);
  assert.match(inFile(null), /"tcp-flows": null is not a number: /);
});

test("the edges of a range are accepted, and a fraction only where the option is a number", () => {
  const c = loadConfig("replay", ["--tcp-flows", "1048576", "--tcp-buffers", "1", "--defrag-slots", "0", "--flush-timeout", "0.5", "x"], {});
  assert.equal([c.num("tcp-flows"), c.num("tcp-buffers"), c.num("defrag-slots"), c.num("flush-timeout")], [1048576, 1, 0, 0.5]);
  assert.is(loadConfig("replay", ["--config", file("m.json", { "tcp-flows": 0, "flush-timeout": 2.5 }), "x"], {}).num("flush-timeout"), 2.5);
  assert.match(refusal(["--flush-timeout", "1e1", "x"]), /^--flush-timeout: 1e1 is not a decimal number: a number from 0 to 3600 \(seconds\)$/);
  assert.match(refusal(["--tcp-idle", "2.5", "x"]), /^--tcp-idle: 2\.5 is not an integer: an integer from 1 to 86400 \(seconds\)$/);
});

test("repeatable port options check each port, from flags, SIPHON_* and the file", () => {
  const c = loadConfig("capture", ["--sip-port", "5080", "--sip-port", "65535", "--vxlan-port", "8472"], {});
  assert.equal([c.list("sip-port"), c.list("vxlan-port")], [["5080", "65535"], ["8472"]]);
  assert.equal(loadConfig("replay", ["x"], { SIPHON_VXLAN_PORT: "4789, 8472" }).list("vxlan-port"), ["4789", "8472"]);
  assert.match(refusal(["--vxlan-port", "0x12b5", "x"]), /^--vxlan-port: 0x12b5 is not an integer: an integer from 1 to 65535 \(UDP port\)$/);
  assert.match(refusal(["x"], { SIPHON_VXLAN_PORT: "4789,70000" }), /^SIPHON_VXLAN_PORT: 70000 is out of range: /);
  assert.match(refusal(["--config", file("p.json", { "vxlan-port": [4789, 1.5] }), "x"]), /"vxlan-port": 1\.5 is not an integer/);
  assert.throws(() => loadConfig("capture", ["--sip-port", "0"], {}), /--sip-port: 0 is out of range: an integer from 1 to 65535 \(port\)/);
});

test("an option is read by its name, which is a type: a typo or the wrong type does not compile", () => {
  const config = loadConfig("replay", ["x.pcap"], {});
  assert.is(config.num("tcp-flows"), 65536);
  // @ts-expect-error: no option is named tcp-flow
  assert.throws(() => config.num("tcp-flow"), /no option named --tcp-flow/);
  // @ts-expect-error: --topic is a string, not a number
  assert.throws(() => config.num("topic"), /has no number value/);
});

test.run();
