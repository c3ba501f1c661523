// Events on an MQTT topic (--events-topic) are the events --events writes, one
// PUBLISH each, on a Mosquitto of the test's own.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { Broker, MOSQUITTO, cleanUp, onCleanup, subscriber, waitFor } from "./mosquitto";

const CAPTURE = "fixtures/captures/wireshark.pcap";

function eventsOnStdout(): string[] {
  const run = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", CAPTURE, "--events", "-", "--sensor", "t", "--no-progress"], { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  return run.stdout.trim().split("\n");
}

if (MOSQUITTO === undefined) {
  console.log("calls-mqtt: mosquitto is not installed (apt-get install mosquitto); the --events-topic test is not registered");
} else {
  test("--events-topic publishes each event, the same as --events writes", async () => {
    const broker = await Broker.start();
    const sub = await subscriber(broker.url, "t/events");
    const expected = eventsOnStdout();
    assert.ok(expected.length >= 10, "the capture gives events");
    const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", CAPTURE, "--sensor", "t", "--no-progress",
      "--mqtt", broker.url, "--topic", "t/sip", "--events-topic", "t/events"], { stdio: ["ignore", "ignore", "pipe"] });
    onCleanup(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.is(code, 0, stderr);
    await waitFor(`${expected.length} events on t/events`, () => sub.payloads.length >= expected.length, () => `${sub.payloads.length} events`);
    assert.equal(sub.payloads.map((p) => p.toString("utf8")), expected);
    await sub.close();
  });

  test.after(async () => {
    await cleanUp();
  });
}

test.run();
