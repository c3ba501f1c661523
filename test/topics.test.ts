// Sensors told apart on one broker: topic templates with {sensor}, refused when
// they name an unknown placeholder or a wildcard, and a consumer that takes every
// sensor's events and presence with one wildcard subscription.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { expandTopic, checkTopicFilter } from "../host/cli/topics";
import { Broker, MOSQUITTO, cleanUp, onCleanup, subscriber, waitFor } from "./mosquitto";

const CAPTURE = "fixtures/captures/wireshark.pcap";

test("a template names the sensor; unknown placeholders, stray braces and wildcards are refused with the reason", () => {
  assert.is(expandTopic("siphon/{sensor}/events", "--events-topic", { sensor: "edge-1" }), "siphon/edge-1/events");
  assert.is(expandTopic("plain/topic", "--topic", { sensor: "a/b" }), "plain/topic", "a sensor not named in the topic is not checked");
  const refused: Array<[string, string, string]> = [
    ["sip/{site}", "edge-1", "--topic 'sip/{site}': unknown placeholder {site}; the one placeholder is {sensor}"],
    ["sip/{sensor", "edge-1", "a brace outside a placeholder"],
    ["sip/+/x", "edge-1", "+ and # are wildcards, for subscriptions only"],
    ["sip/#", "edge-1", "+ and # are wildcards"],
    ["sip/{sensor}", "a/b", "the sensor name 'a/b' cannot be a topic level"],
    ["sip/{sensor}", "a+", "cannot be a topic level"],
  ];
  for (const [template, sensor, message] of refused) {
    assert.throws(() => expandTopic(template, "--topic", { sensor }), (err: Error) => err.message.includes(message), `${template} with ${sensor}`);
  }
  checkTopicFilter("siphon/+/events", "--events");
  checkTopicFilter("siphon/#", "--events");
  for (const bad of ["siphon/#/x", "a+/b", "", "$share/g/x"]) assert.throws(() => checkTopicFilter(bad, "--events"), undefined, bad);
});

test("a bad template on the command line is a usage error before anything is read, exit 2", () => {
  for (const [option, value] of [["--topic", "sip/{site}"], ["--events-topic", "e/#"], ["--status-topic", "s/+"], ["--telemetry-topic", "t/{x}"]]) {
    const run = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", CAPTURE, "--mqtt", "mqtt://127.0.0.1:1", option, value, "--no-progress"], { encoding: "utf8" });
    assert.is(run.status, 2, `${option} ${value}: ${run.stderr}`);
    assert.match(run.stderr, `${option} '${value}'`);
  }
});

if (MOSQUITTO === undefined) {
  console.log("topics: mosquitto is not installed; the two-sensor test is not registered");
} else {
  test("two sensors on one broker: each on its own topics, one wildcard subscription takes both, presence retained per sensor", async () => {
    const broker = await Broker.start();
    const events = await subscriber(broker.url, "siphon/+/events");
    const sip = await subscriber(broker.url, "sip/+");
    const received = { events: new Map<string, string[]>(), sip: new Map<string, string[]>() };
    const keep = (into: Map<string, string[]>) => (topic: string, payload: Buffer): void => {
      into.set(topic, [...(into.get(topic) ?? []), payload.toString("utf8")]);
    };
    events.client.on("message", keep(received.events));
    sip.client.on("message", keep(received.sip));
    const sensors = ["edge-a", "edge-b"];
    const runs = sensors.map((sensor) => {
      const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", CAPTURE, "--sensor", sensor, "--no-progress", "--mqtt", broker.url,
        "--topic", "sip/{sensor}", "--events-topic", "siphon/{sensor}/events", "--status-topic", "siphon/{sensor}/status"],
      { stdio: ["ignore", "ignore", "pipe"] });
      onCleanup(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
      return new Promise<void>((resolve) => child.on("close", (code) => { assert.is(code, 0, stderr); resolve(); }));
    });
    await Promise.all(runs);
    const alone = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", CAPTURE, "--events", "-", "--no-progress"], { encoding: "utf8" });
    const eventCount = alone.stdout.trim().split("\n").length;
    const seen = (): string => JSON.stringify([...received.events].map(([t, p]) => [t, p.length]));
    await waitFor("every sensor's events", () => sensors.every((s) => (received.events.get(`siphon/${s}/events`)?.length ?? 0) >= eventCount), seen);
    await waitFor("every sensor's envelopes", () => sensors.every((s) => (received.sip.get(`sip/${s}`)?.length ?? 0) >= 81), seen);
    for (const sensor of sensors) {
      for (const line of received.events.get(`siphon/${sensor}/events`) ?? []) assert.is(JSON.parse(line).observer?.name, sensor);
      for (const line of received.sip.get(`sip/${sensor}`) ?? []) assert.is(JSON.parse(line).sensor, sensor);
    }
    assert.equal([...received.events.keys()].sort(), sensors.map((s) => `siphon/${s}/events`));
    const status = await subscriber(broker.url, "siphon/+/status");
    const presence = new Map<string, string>();
    status.client.on("message", (topic, payload) => presence.set(topic, payload.toString()));
    await waitFor("the retained status of both sensors", () => presence.size === 2, () => JSON.stringify([...presence]));
    assert.equal([...presence].sort(), sensors.map((s) => [`siphon/${s}/status`, "offline"]));
  });

  test.after(async () => {
    await cleanUp();
  });
}

test.run();
