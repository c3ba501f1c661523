// --metrics: Prometheus text from the core's and the sinks' counters, and
// /healthz following the broker's connection state.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Broker, MOSQUITTO, cleanUp, freePort, onCleanup, waitFor } from "./mosquitto";
import { metricsRegistry, parseListenAddress } from "../host/sink/metrics";

test("counters become siphon_*_total, depths and states gauges", async () => {
  const registry = metricsRegistry([() => ({ frames: 12, sip_udp: 3 }), () => ({ mqtt_acked: 2, mqtt_queue_depth: 5, mqtt_connected: 1 })]);
  const text = await registry.metrics();
  assert.match(text, /^# TYPE siphon_frames_total counter\nsiphon_frames_total 12$/m);
  assert.match(text, /^siphon_sip_udp_total 3$/m);
  assert.match(text, /^siphon_mqtt_acked_total 2$/m);
  assert.match(text, /^# TYPE siphon_mqtt_queue_depth gauge\nsiphon_mqtt_queue_depth 5$/m);
  assert.match(text, /^siphon_mqtt_connected 1$/m);
  assert.match(text, /^siphon_process_resident_memory_bytes /m);
});

test("--metrics addresses: PORT, HOST:PORT, [IPv6]:PORT", () => {
  assert.equal(parseListenAddress("9090"), { host: "0.0.0.0", port: 9090 });
  assert.equal(parseListenAddress("127.0.0.1:9100"), { host: "127.0.0.1", port: 9100 });
  assert.equal(parseListenAddress("[::1]:9100"), { host: "::1", port: 9100 });
  assert.throws(() => parseListenAddress("localhost"), /not \[HOST:\]PORT/);
});

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

if (!MOSQUITTO) {
  console.log("metrics endpoint test not registered: mosquitto is not installed");
} else {
  test("/metrics counts the replay; /healthz follows the broker", async () => {
    try {
      const broker = await Broker.start();
      const port = await freePort();
      const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", "-", "--mqtt", broker.url, "--metrics", `127.0.0.1:${port}`,
        "--flush-timeout", "1"], { stdio: ["pipe", "ignore", "pipe"] });
      onCleanup(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
      await waitFor("the metrics endpoint", () => /serving \/metrics/.test(stderr));
      await waitFor("the broker connection", () => /mqtt: connected/.test(stderr));
      const healthy = await get(`http://127.0.0.1:${port}/healthz`);
      assert.is(healthy.status, 200);
      assert.equal(JSON.parse(healthy.body), { healthy: true, mqtt: "connected" });
      child.stdin.write(readFileSync("fixtures/captures/sip-method.pcap"));
      const deadline = Date.now() + 15000;
      let metrics = "";
      while (!/^siphon_frames_total 691$/m.test(metrics)) {
        assert.ok(Date.now() < deadline, `the whole capture counted in /metrics:\n${metrics}`);
        metrics = (await get(`http://127.0.0.1:${port}/metrics`)).body;
      }
      assert.match(metrics, /^siphon_sip_udp_total 81$/m);
      while (!/^siphon_mqtt_acked_total 81$/m.test(metrics)) {
        assert.ok(Date.now() < deadline, `81 acknowledged in /metrics:\n${metrics}`);
        metrics = (await get(`http://127.0.0.1:${port}/metrics`)).body;
      }
      assert.match(metrics, /^siphon_mqtt_queue_depth 0$/m);
      await broker.stop();
      await waitFor("/healthz to turn 503", () => /mqtt: connection lost/.test(stderr));
      const down = await get(`http://127.0.0.1:${port}/healthz`);
      assert.is(down.status, 503);
      assert.equal(JSON.parse(down.body), { healthy: false, mqtt: "disconnected" });
    } finally {
      await cleanUp();
    }
  });
}

test.run();
