// The web view's control over a live capture: the BPF replaced at run time
// through POST /api/control/bpf, only with the token; a filter libpcap refuses
// leaves the capture as it was. Run under flock /tmp/siphon-live.lock.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { addonProblem, capturePermitted, freeUdpPort, Running } from "./support/live";
import { freePort } from "./mosquitto";
import { getJson, post, tokenFile, TOKEN } from "./web";

const problem = addonProblem();
if (problem !== undefined || !capturePermitted()) {
  console.log(`live-http.test: not registered: ${problem ?? "no CAP_NET_RAW"}`);
} else {
  test("the BPF of a live capture is replaced through the web view's control, only with the token", async () => {
    const [first, second] = [await freeUdpPort(), await freeUdpPort()];
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const run = new Running(["-i", "lo", "-f", `udp port ${first}`, "--http", `127.0.0.1:${port}`, "--http-token-file", tokenFile()]);
    try {
      await run.ready();
      await run.probe(first);
      assert.is((await getJson(base, "/api/control")).body.capture.filter, `udp port ${first}`);
      const refused = await post(base, "/api/control/bpf", { filter: `udp port ${second}` });
      assert.is(refused.status, 401);
      const bad = await post(base, "/api/control/bpf", { filter: "udp port not-a-port" }, TOKEN);
      assert.is(bad.status, 400);
      assert.match(bad.body.error, /-i lo: libpcap refused the filter/);
      assert.is((await getJson(base, "/api/control")).body.capture.filter, `udp port ${first}`);
      const done = await post(base, "/api/control/bpf", { filter: `udp port ${second}` }, TOKEN);
      assert.is(done.status, 200, JSON.stringify(done.body));
      assert.is(done.body.capture.filter, `udp port ${second}`);
      await run.probe(second);
    } finally {
      await run.stop();
    }
  });
}

test.run();
