// The generator's TCP option (test/support/generate/sip-transport.ts): segments cut at random places, swapped and
// repeated. Its truth (messages by method and status) must be what the core reassembles from
// the pcap, and what tshark decodes from it where tshark is installed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions } from "./support/generate";
import { Core } from "../host/core";
import { CaptureParser } from "../host/source";
import { tcpFrame, INVITE } from "./helpers";

const directory = mkdtempSync(join(tmpdir(), "siphon-generator-tcp-"));
const path = join(directory, "tcp.pcap");
const truth = generateWorkload(workloadOptions({ seed: 7, messages: 3000, tcp: true }), path);
const tshark = spawnSync("tshark", ["--version"]).status === 0;

function tally(keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function expected(): Record<string, number> {
  const { requests, responses } = truth.totals;
  return tally([...Object.entries(requests), ...Object.entries(responses)].flatMap(([k, n]) => Array<string>(n).fill(k)));
}

test("generator --tcp: every message goes over TCP, split, swapped and repeated segments included", () => {
  assert.equal(truth.totals.byTransport, { tcp: truth.totals.sipMessages });
  const core = new Core({ sensor: "t", agent: "t" }, () => undefined);
  const parser = new CaptureParser(path, core);
  parser.feed(readFileSync(path));
  parser.end();
  core.flush();
  const c = core.counters();
  assert.ok(c.tcp_out_of_order > 0 && c.tcp_retransmit > 0, `out of order ${c.tcp_out_of_order}, retransmitted ${c.tcp_retransmit}`);
});

test("generator --tcp: the core's messages by method and status are the truth", () => {
  const keys: string[] = [];
  const core = new Core({ sensor: "t", agent: "t", renderJson: false }, (batch) => {
    for (let i = 0; i < batch.count; i++) {
      const m = batch.message(i);
      keys.push(m.isRequest ? m.method : String(m.status));
    }
  });
  const parser = new CaptureParser(path, core);
  parser.feed(readFileSync(path));
  parser.end();
  core.flush();
  assert.equal(tally(keys), expected());
  assert.is(core.counters().tcp_gap, 0);
});

test("generator --tcp: 300 spoofed partial messages first, and still every message of the truth", () => {
  // Each spoofed flow sends the start of an INVITE that never completes (issue 9, fault 7):
  // they held all 256 stream buffers for --tcp-idle, and real partial messages were refused.
  const keys: string[] = [];
  const core = new Core({ sensor: "t", agent: "t", renderJson: false }, (batch) => {
    for (let i = 0; i < batch.count; i++) {
      const m = batch.message(i);
      keys.push(m.isRequest ? m.method : String(m.status));
    }
  });
  let spoofed = false;
  const parser = new CaptureParser(path, {
    frame(data, start, caplen, origLen, linkType, sec, nsec, iface) {
      if (!spoofed) {
        for (let i = 0; i < 300; i++) {
          const f = tcpFrame(INVITE.slice(0, 60), { src: `203.0.113.${i & 255}`, sport: 10000 + i, seq: 1 });
          core.frame(f, 0, f.length, f.length, 1, sec, nsec, 0);
        }
        spoofed = true;
      }
      core.frame(data, start, caplen, origLen, linkType, sec, nsec, iface);
    },
  });
  parser.feed(readFileSync(path));
  parser.end();
  core.flush();
  assert.equal(tally(keys), expected());
  const c = core.counters();
  assert.ok(c.tcp_buffer_evicted + c.tcp_partial_idle >= 300 - 256, `evicted ${c.tcp_buffer_evicted}, given up ${c.tcp_partial_idle}`);
});

if (tshark) {
  // tshark (reassembling out-of-order segments) misses about 1 message in 1,000 of this
  // workload; which ones and why is not known yet. What it decodes must all be in the truth.
  test("generator --tcp: tshark's messages are the truth's, all but at most 1 in 500", () => {
    const r = spawnSync("tshark", ["-o", "tcp.reassemble_out_of_order:TRUE", "-r", path, "-Y", "sip", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
      "-e", "sip.Method", "-e", "sip.Status-Code"], { encoding: "utf8", maxBuffer: 64 << 20 });
    assert.is(r.status, 0, r.stderr);
    const keys = r.stdout.split("\n").filter((l) => l.length > 0).flatMap((line) => {
      const [methods, statuses] = line.split("\t");
      return [...methods.split("|"), ...statuses.split("|")].filter((k) => k.length > 0);
    });
    const truthCounts = expected();
    for (const [key, n] of Object.entries(tally(keys))) assert.ok(n <= (truthCounts[key] ?? 0), `tshark found ${n} ${key}, the truth has ${truthCounts[key] ?? 0}`);
    assert.ok(keys.length >= truth.totals.sipMessages * 0.998, `tshark decoded ${keys.length} of ${truth.totals.sipMessages}`);
  });
} else {
  console.log("generator-tcp.test: tshark is not installed; the tshark comparison was NOT run");
}

test.after(() => rmSync(directory, { recursive: true, force: true }));

test.run();
