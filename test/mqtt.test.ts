// MQTT delivery against a real Mosquitto of the test's own (test/mosquitto.ts):
// every envelope arrives, nothing is lost across a broker restart, drops are
// counted exactly, TLS client certificates really apply, a broker down at
// start-up is waited for, presence and telemetry are published.
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Broker, MOSQUITTO, cleanUp, freePort, makeCertificates, onCleanup, subscriber, tcpGate, waitFor, webSocketProxy } from "./mosquitto";
import { generateWorkload, workloadOptions } from "./support/generate";
import { Core } from "../host/core";
import { readCapture, type FrameConsumer } from "../host/source";
import { mqttSink, type MqttOptions, type MqttSink } from "../host/sink/mqtt";
import { backoff } from "../host/sink/backoff";
import { createLogger, silentLogger } from "../host/log";

// Every test undoes what it started, pass or fail.
function test(name: string, body: () => void | Promise<void>): void {
  uvuTest(name, async () => {
    try {
      await body();
    } finally {
      await cleanUp();
    }
  });
}

const tmp = mkdtempSync(join(tmpdir(), "siphon-mqtt-"));
const WORKLOAD = join(tmp, "workload.pcap");
generateWorkload(workloadOptions({ seed: 5, messages: 3000 }), WORKLOAD);
const SAMPLE = "fixtures/captures/sip-method.pcap";

interface Result { code: number | null; stdout: string; stderr: string }

function siphon(args: string[], options: { onStderr?: (text: string) => void; stdin?: "pipe"; env?: Record<string, string> } = {}) {
  const child = spawn(process.execPath, ["dist/siphon.mjs", ...args],
    { stdio: [options.stdin ?? "ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on("data", (d: Buffer) => { stderr += d.toString(); options.onStderr?.(stderr); });
  const done = new Promise<Result>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  onCleanup(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
  return { child, done, stderr: () => stderr };
}

// A replay of SAMPLE from stdin whose input ends only once `ready` holds over its stderr:
// what the test looks for then happened before --flush-timeout starts, however slow the machine.
async function replayUntil(args: string[], what: string, ready: (stderr: string) => boolean, env?: Record<string, string>): Promise<Result> {
  const run = siphon(["replay", "--sensor", "t", "-", ...args], { stdin: "pipe", env });
  run.child.stdin?.write(readFileSync(SAMPLE));
  await waitFor(what, () => ready(run.stderr()), () => `stderr:\n${run.stderr()}`);
  run.child.stdin?.end();
  return run.done;
}

// Each envelope's key: its id and time (a retransmission has the id of the original).
function keyOf(line: string | Buffer): string {
  const e = JSON.parse(line.toString()) as { id: string; time: string };
  return `${e.id}@${e.time}`;
}

function expectedKeys(capture: string): string[] {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", "--sensor", "t", capture], { maxBuffer: 256 << 20 });
  return r.stdout.toString().split("\n").filter((l) => l).map(keyOf);
}

function expectedEnvelope(capture: string): string {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", "--sensor", "t", capture], { maxBuffer: 64 << 20 });
  return r.stdout.toString().split("\n")[0];
}

function compare(expected: string[], received: Buffer[]): { missing: number; duplicates: number } {
  const counts = new Map<string, number>();
  for (const p of received) counts.set(keyOf(p), (counts.get(keyOf(p)) ?? 0) + 1);
  let missing = 0;
  for (const k of expected) {
    const n = counts.get(k) ?? 0;
    if (n === 0) missing++;
    else counts.set(k, n - 1);
  }
  let duplicates = 0;
  for (const n of counts.values()) duplicates += n;
  return { missing, duplicates };
}

// The workload's frames, copied, so a test can push them into a core in parts.
async function framesOf(capture: string): Promise<Array<Parameters<FrameConsumer["frame"]>>> {
  const frames: Array<Parameters<FrameConsumer["frame"]>> = [];
  await readCapture(capture, {
    frame(data, start, caplen, origLen, linkType, sec, nsec, iface) {
      frames.push([data.slice(start, start + caplen), 0, caplen, origLen, linkType, sec, nsec, iface]);
    },
  }, () => undefined);
  return frames;
}

// The in-process sinks' flush deadline: long enough for a broker that restarts.
function deadline(): number {
  return Date.now() + 20000;
}

function sinkOptions(url: string, topic: string, extra: Partial<MqttOptions> = {}): MqttOptions {
  return { url, topic, clientId: `siphon-test-${Math.random().toString(16).slice(2)}`, qos: 1, protocolVersion: 4, keepalive: 30,
    inflight: 256, queueMessages: 100000, queueBytes: 1 << 30, flushTimeout: 20, log: silentLogger, ...extra };
}

if (!MOSQUITTO) {
  console.log("mqtt tests not registered: mosquitto is not installed (apt-get install mosquitto)");
} else {
  const expectedWorkload = expectedKeys(WORKLOAD);

  test("every envelope of a replay arrives at QoS 1 (MQTT 3.1.1), ids compared", async () => {
    const broker = await Broker.start();
    const sub = await subscriber(broker.url, "t/sip");
    const run = siphon(["replay", "--sensor", "t", WORKLOAD, "--mqtt", broker.url, "--topic", "t/sip"]);
    const r = await run.done;
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, "", "no NDJSON on stdout when a broker is named");
    await waitFor("every envelope at the subscriber", () => sub.payloads.length >= expectedWorkload.length, () => `${sub.payloads.length} payloads`);
    assert.equal(compare(expectedWorkload, sub.payloads), { missing: 0, duplicates: 0 });
    await sub.close();
    await broker.stop();
  });

  test("every envelope arrives with MQTT 5 and with QoS 0; --out - keeps NDJSON on stdout too", async () => {
    const broker = await Broker.start();
    for (const [version, qos] of [["5", "1"], ["5", "0"], ["4", "0"]]) {
      const sub = await subscriber(broker.url, "t/v", { protocolVersion: 5 });
      const r = await siphon(["replay", "--sensor", "t", SAMPLE, "--mqtt", broker.url, "--topic", "t/v",
        "--mqtt-version", version, "--qos", qos, "--out", "-"]).done;
      assert.is(r.code, 0, r.stderr);
      const expected = expectedKeys(SAMPLE);
      assert.equal(r.stdout.split("\n").filter((l) => l).map(keyOf), expected);
      await waitFor(`81 envelopes (MQTT ${version}, QoS ${qos})`, () => sub.payloads.length >= expected.length, () => `${sub.payloads.length} payloads`);
      assert.equal(compare(expected, sub.payloads), { missing: 0, duplicates: 0 });
      await sub.close();
    }
    await broker.stop();
  });

  test("three outputs at once: MQTT, HEP over UDP and NDJSON on stdout each get every message", async () => {
    const broker = await Broker.start();
    const sub = await subscriber(broker.url, "t/all");
    const udp = createSocket("udp4");
    const datagrams: Buffer[] = [];
    udp.on("message", (m) => datagrams.push(m));
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", () => resolve()));
    onCleanup(() => udp.close());
    const r = await siphon(["replay", "--sensor", "t", SAMPLE, "--mqtt", broker.url, "--topic", "t/all",
      "--hep", `udp://127.0.0.1:${udp.address().port}`, "--out", "-"]).done;
    assert.is(r.code, 0, r.stderr);
    const expected = expectedKeys(SAMPLE);
    assert.equal(r.stdout.split("\n").filter((l) => l).map(keyOf), expected);
    await waitFor("81 envelopes and 81 HEP packets", () => sub.payloads.length >= 81 && datagrams.length >= 81, () => `${sub.payloads.length} payloads, ${datagrams.length} datagrams`);
    assert.equal(compare(expected, sub.payloads), { missing: 0, duplicates: 0 });
    assert.is(datagrams.length, 81);
    assert.ok(datagrams.every((d) => d.toString("latin1", 0, 4) === "HEP3"));
  });

  test("broker stopped mid-replay and restarted: with a queue large enough nothing is lost", async () => {
    const broker = await Broker.start();
    const sub = await subscriber(broker.url, "t/restart");
    const sink = mqttSink(sinkOptions(broker.url, "t/restart"));
    onCleanup(() => sink.close(deadline()));
    const core = new Core({ sensor: "t", agent: "siphon/test" }, (batch) => sink.write(batch));
    const frames = await framesOf(WORKLOAD);
    const half = frames.length >> 1;
    await waitFor("the sink to connect", () => sink.connected());
    for (const f of frames.slice(0, half)) core.frame(...f);
    core.flush();
    await waitFor("the first half acknowledged and at the subscriber",
      () => sink.stats().mqtt_queue_depth === 0 && sink.stats().mqtt_inflight === 0 && sub.payloads.length >= sink.stats().mqtt_acked);
    await broker.stop();
    await waitFor("the sink to see the broker gone", () => !sink.connected());
    for (const f of frames.slice(half)) core.frame(...f);
    core.flush();
    await broker.restart();
    await sink.close(deadline());
    const stats = sink.stats();
    assert.is(stats.mqtt_undelivered, 0);
    assert.is(stats.mqtt_dropped, 0);
    assert.ok(stats.mqtt_reconnects >= 1, "reconnected");
    await waitFor("every envelope at the subscriber", () => compare(expectedWorkload, sub.payloads).missing === 0,
      () => `${compare(expectedWorkload, sub.payloads).missing} of ${expectedWorkload.length} missing`);
    const { duplicates } = compare(expectedWorkload, sub.payloads);
    assert.ok(duplicates <= stats.mqtt_resent, `${duplicates} duplicates, ${stats.mqtt_resent} resent`);
    await sub.close();
    await broker.stop();
  });

  test("with a small queue the drop counter equals what is missing", async () => {
    const broker = await Broker.start();
    const sub = await subscriber(broker.url, "t/drop");
    // The sink loses the broker through a gate; the subscriber stays connected, so it misses
    // nothing the sink delivers once the gate opens, however the reconnects are timed.
    const gate = await tcpGate(broker.port);
    const sink = mqttSink(sinkOptions(gate.url, "t/drop", { queueMessages: 500 }));
    onCleanup(() => sink.close(deadline()));
    const core = new Core({ sensor: "t", agent: "siphon/test" }, (batch) => sink.write(batch));
    await waitFor("the sink to connect", () => sink.connected());
    await gate.close();
    await waitFor("the sink to see the broker gone", () => !sink.connected());
    for (const f of await framesOf(WORKLOAD)) core.frame(...f);
    core.flush();
    assert.is(sink.stats().mqtt_queue_depth, 500);
    await gate.open();
    await sink.close(deadline());
    const stats = sink.stats();
    assert.is(stats.mqtt_dropped, expectedWorkload.length - 500);
    assert.is(stats.mqtt_queue_depth, 0, "the sink closed before it delivered what it kept");
    await waitFor("the 500 kept at the subscriber", () => sub.payloads.length >= 500, () => `${sub.payloads.length} payloads`);
    const { missing, duplicates } = compare(expectedWorkload, sub.payloads);
    assert.is(missing, stats.mqtt_dropped);
    assert.is(duplicates, 0);
    // The newest were kept: the oldest went first.
    assert.equal(sub.payloads.map(keyOf), expectedWorkload.slice(-500));
    await sub.close();
    await broker.stop();
  });

  test("MQTT over WebSocket (ws://): every envelope arrives, QoS 1 and MQTT 5", async () => {
    const broker = await Broker.start();
    const url = await webSocketProxy(broker.port);
    const sub = await subscriber(broker.url, "t/ws");
    const r = await siphon(["replay", "--sensor", "t", SAMPLE, "--mqtt", url, "--topic", "t/ws", "--mqtt-version", "5"]).done;
    assert.is(r.code, 0, r.stderr);
    await waitFor("81 envelopes over WebSocket", () => sub.payloads.length >= 81, () => `${sub.payloads.length} payloads`);
    assert.equal(compare(expectedKeys(SAMPLE), sub.payloads), { missing: 0, duplicates: 0 });
  });

  test("user name and password: accepted when right; refused with what to check when wrong", async () => {
    const broker = await Broker.start(undefined, undefined, { users: { sensor: "right", reader: "r" } });
    const sub = await subscriber(broker.url, "t/auth", { username: "reader", password: "r" });
    const ok = await siphon(["replay", "--sensor", "t", SAMPLE, "--mqtt", broker.url, "--topic", "t/auth",
      "--username", "sensor"], { env: { SIPHON_PASSWORD: "right" } }).done;
    assert.is(ok.code, 0, ok.stderr);
    await waitFor("81 envelopes", () => sub.payloads.length >= 81, () => `${sub.payloads.length} payloads`);
    const wrong = await replayUntil(["--mqtt", broker.url, "--topic", "t/auth", "--username", "sensor", "--password", "wrong",
      "--flush-timeout", "1"], "the refused connection in the log", (stderr) => stderr.includes("refused the connection"));
    assert.is(wrong.code, 3);
    assert.match(wrong.stderr, /refused the connection \((not authorized|bad user name or password)\): check --username\/--password/);
    assert.match(wrong.stderr, /"password":"\*\*\*"/);
    assert.not.match(wrong.stderr, /wrong/);
    assert.is(sub.payloads.length, 81);
  });

  test("MQTT 5: messages the broker refuses are counted, undelivered, and logged without SIP unless --log-sip", async () => {
    const broker = await Broker.start(undefined, undefined, { acl: "topic read #\n" });
    const args = ["--mqtt", broker.url, "--mqtt-version", "5", "--log-level", "debug", "--flush-timeout", "2"];
    const refusals = (stderr: string): number => stderr.split("\n").filter((l) => l.includes("refused a message")).length;
    const quiet = await replayUntil(args, "81 refused messages in the log", (stderr) => refusals(stderr) >= 81);
    assert.is(quiet.code, 3);
    assert.match(quiet.stderr, /the broker refuses messages on siphon\/sip \(reason 135, not authorized: check the broker's ACL/);
    assert.match(quiet.stderr, /siphon: 81 messages could not be delivered/);
    const refused = quiet.stderr.split("\n").filter((l) => l.includes("refused a message")).map((l) => JSON.parse(l) as { envelope: string });
    assert.is(refused.length, 81);
    assert.ok(refused.every((l) => /^<\d+ bytes of SIP withheld; --log-sip shows them>$/.test(l.envelope)));
    const firstSip = (JSON.parse(expectedEnvelope(SAMPLE)) as { sip: string }).sip;
    assert.not.ok(quiet.stderr.includes(firstSip));
    const shown = await replayUntil([...args, "--log-sip"], "81 refused messages in the log", (stderr) => refusals(stderr) >= 81);
    assert.ok(shown.stderr.includes(firstSip), "--log-sip shows the envelope");
  });

  const certs = makeCertificates(mkdtempSync(join(tmpdir(), "siphon-tls-")));
  if (!certs) {
    console.log("mqtt TLS test not registered: openssl could not make certificates");
  } else {
    test("TLS with a client certificate, against a broker that requires one; and wss://", async () => {
      const broker = await Broker.start(certs);
      const tlsSub = { ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) };
      const sub = await subscriber(broker.url, "t/tls", tlsSub);
      const r = await siphon(["replay", "--sensor", "t", SAMPLE, "--mqtt", broker.url, "--topic", "t/tls",
        "--mqtt-ca", certs.ca, "--mqtt-cert", certs.clientCert, "--mqtt-key", certs.clientKey]).done;
      assert.is(r.code, 0, r.stderr);
      await waitFor("81 envelopes over TLS", () => sub.payloads.length >= 81, () => `${sub.payloads.length} payloads`);
      assert.equal(compare(expectedKeys(SAMPLE), sub.payloads), { missing: 0, duplicates: 0 });

      // wss:// (TLS WebSocket, through a proxy to the same broker) with the same CA.
      const plain = await Broker.start();
      const wssSub = await subscriber(plain.url, "t/wss");
      const wss = await siphon(["replay", "--sensor", "t", SAMPLE, "--mqtt", await webSocketProxy(plain.port, certs), "--topic", "t/wss",
        "--mqtt-ca", certs.ca]).done;
      assert.is(wss.code, 0, wss.stderr);
      await waitFor("81 envelopes over wss://", () => wssSub.payloads.length >= 81, () => `${wssSub.payloads.length} payloads`);
      assert.equal(compare(expectedKeys(SAMPLE), wssSub.payloads), { missing: 0, duplicates: 0 });

      // The same without the client certificate: the broker refuses, nothing is published.
      const refused = await siphon(["replay", "--sensor", "t", SAMPLE, "--mqtt", broker.url, "--topic", "t/tls",
        "--mqtt-ca", certs.ca, "--flush-timeout", "1"]).done;
      assert.is(refused.code, 3);
      assert.match(refused.stderr, /81 messages could not be delivered/);
      assert.is(sub.payloads.length, 81);
      await sub.close();
      await broker.stop();
    });
  }

  test("a broker down at start-up is retried, not fatal", async () => {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    let refusedSeen = false;
    const run = siphon(["replay", "--sensor", "t", SAMPLE, "--mqtt", url, "--topic", "t/late", "--flush-timeout", "60"],
      { onStderr: (text) => { refusedSeen = /refused the connection/.test(text); } });
    await waitFor("a refused connection in the log", () => refusedSeen);
    const broker = await Broker.start(undefined, port);
    const sub = await subscriber(url, "t/late");
    // Messages published before the subscriber came are not its to see: only the exit status and count matter here.
    const r = await run.done;
    assert.is(r.code, 0, r.stderr);
    const delivery = JSON.parse(r.stderr.split("\n").find((l) => l.includes('"msg":"delivery"')) ?? "{}") as Record<string, number>;
    assert.is(delivery.mqtt_acked, 81);
    assert.is(delivery.mqtt_undelivered, 0);
    await sub.close();
    await broker.stop();
  });

  test("presence and telemetry: retained online, offline on a clean exit, final counters", async () => {
    const broker = await Broker.start();
    const statusSub = await subscriber(broker.url, "t/status");
    const telemetry = await subscriber(broker.url, "t/telemetry");
    const run = siphon(["replay", "--sensor", "t", "-", "--mqtt", broker.url, "--topic", "t/sip",
      "--status-topic", "t/status", "--telemetry-topic", "t/telemetry", "--telemetry-interval", "1"], { stdin: "pipe" });
    run.child.stdin?.write(readFileSync(SAMPLE));
    await waitFor("online", () => statusSub.payloads.some((p) => p.toString() === "online"));
    await waitFor("a periodic telemetry message", () => telemetry.payloads.length > 0);
    run.child.stdin?.end();
    const r = await run.done;
    assert.is(r.code, 0, r.stderr);
    await waitFor("offline after a clean exit", () => statusSub.payloads.at(-1)?.toString() === "offline");
    await waitFor("the final telemetry", () => telemetry.payloads.some((p) => JSON.parse(p.toString()).packets === 691));
    const last = JSON.parse(telemetry.payloads.at(-1)?.toString() ?? "{}") as Record<string, number>;
    for (const field of ["packets", "messages", "filtered", "published", "dropped", "queue_depth", "reconnects", "kernel_drops"]) {
      assert.type(last[field], "number", field);
    }
    assert.equal([last.packets, last.messages, last.published, last.dropped, last.queue_depth], [691, 81, 81, 0, 0]);
  });

  test("presence: offline is the last will of a sensor that dies, and stays retained", async () => {
    const broker = await Broker.start();
    const statusSub = await subscriber(broker.url, "t/status");
    const run = siphon(["replay", "--sensor", "t", "-", "--mqtt", broker.url, "--status-topic", "t/status", "--keepalive", "5"], { stdin: "pipe" });
    await waitFor("online", () => statusSub.payloads.at(-1)?.toString() === "online");
    run.child.kill("SIGKILL");
    await run.done;
    await waitFor("offline as the last will", () => statusSub.payloads.at(-1)?.toString() === "offline");
    const late = await subscriber(broker.url, "t/status");
    await waitFor("the retained status", () => late.payloads.length > 0);
    assert.is(late.payloads[0].toString(), "offline");
  });

  test("SIGTERM with the broker away: the run stops within the deadline and reports what was not delivered", async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    const run = siphon(["replay", "--sensor", "t", "-", "--mqtt", url, "--flush-timeout", "1", "--log-level", "info"], { stdin: "pipe" });
    run.child.stdin?.write(readFileSync(SAMPLE));
    await waitFor("the capture read", () => /refused the connection/.test(run.stderr()));
    run.child.kill("SIGTERM");
    const r = await run.done;
    assert.is(r.code, 3, r.stderr);
    assert.match(r.stderr, /"msg":"stopping: delivering what is queued"/);
    assert.match(r.stderr, /siphon: \d+ packets, \d+ SIP messages[^\n]*\nsiphon: (\d+) messages could not be delivered within --flush-timeout 1 s, to --mqtt mqtt:\/\/127\.0\.0\.1:\d+ \(topic siphon\/sip\): \1 not acknowledged \(none sent at all\); check that the broker is up and --mqtt names it\n$/);
  });

  test("in-process sink: QoS 1 window bounded, counters consistent", async () => {
    const broker = await Broker.start();
    const sink: MqttSink = mqttSink(sinkOptions(broker.url, "t/window", { inflight: 16 }));
    onCleanup(() => sink.close(deadline()));
    let maxInflight = 0;
    const core = new Core({ sensor: "t", agent: "siphon/test" }, (batch) => {
      sink.write(batch);
      maxInflight = Math.max(maxInflight, sink.stats().mqtt_inflight);
    });
    await waitFor("the sink to connect", () => sink.connected());
    for (const f of await framesOf(WORKLOAD)) core.frame(...f);
    core.flush();
    await sink.close(deadline());
    const s = sink.stats();
    assert.ok(maxInflight <= 16);
    assert.is(s.mqtt_queued, expectedWorkload.length);
    assert.is(s.mqtt_acked, expectedWorkload.length);
    assert.is(s.mqtt_sent, expectedWorkload.length);
    await broker.stop();
  });
}

test("backoff grows exponentially, is jittered, and is capped", () => {
  assert.is(backoff(0, () => 0), 250);
  assert.is(backoff(0, () => 1), 500);
  assert.is(backoff(3, () => 1), 4000);
  assert.is(backoff(30, () => 1), 30000);
  assert.ok(backoff(30, () => 0) >= 15000);
});

test("log lines are JSON with a level, and SIP text is withheld unless asked for", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", write: (l) => lines.push(l) });
  log.debug("message", { sip: log.sip("INVITE sip:bob@example.com SIP/2.0") });
  const shown = createLogger({ level: "debug", logSip: true, write: (l) => lines.push(l) });
  shown.debug("message", { sip: shown.sip("INVITE") });
  createLogger({ level: "warn", write: (l) => lines.push(l) }).info("not shown");
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, string>);
  assert.is(parsed.length, 2);
  assert.is(parsed[0].level, "debug");
  assert.not.match(parsed[0].sip, /bob/);
  assert.is(parsed[1].sip, "INVITE");
});

uvuTest.run();
