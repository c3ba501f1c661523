// The workload generator's network options (--mtu fragments, --tunnel vxlan|gre): Siphon's
// count of SIP messages by method and status equals the generator's truth, and tshark's
// where it is installed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions, type WorkloadOptions, type Truth } from "./support/generate";
import { runFrames, framesOf } from "./helpers";

const directory = mkdtempSync(join(tmpdir(), "siphon-generator-network-"));
const tshark = spawnSync("tshark", ["--version"]).status === 0;

function byKind(kinds: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of kinds.sort()) out[k] = (out[k] ?? 0) + 1;
  return out;
}

function truthKinds(truth: Truth): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [method, n] of Object.entries(truth.totals.requests)) out[method] = n;
  for (const [status, n] of Object.entries(truth.totals.responses)) out[status] = n;
  return byKind(Object.entries(out).flatMap(([k, n]) => Array(n).fill(k)));
}

const CASES: { name: string; options: Partial<WorkloadOptions>; counter: string }[] = [
  { name: "IPv4 and IPv6 fragments (--mtu 576)", options: { mtu: 576 }, counter: "defrag_done" },
  { name: "VXLAN with fragments inside (--tunnel vxlan --mtu 576)", options: { tunnel: "vxlan", mtu: 576 }, counter: "tunnel_vxlan" },
  { name: "GRE over TCP (--tunnel gre --tcp)", options: { tunnel: "gre", tcp: true }, counter: "tunnel_gre" },
];

for (const c of CASES) {
  test(`generator ${c.name}: Siphon's messages by method and status are the truth's`, () => {
    const path = join(directory, `${c.name.replace(/\W+/g, "-")}.pcap`);
    const truth = generateWorkload(workloadOptions({ seed: 3, messages: 2000, ...c.options }), path);
    const run = runFrames(framesOf(path));
    assert.ok(run.counters[c.counter] > 0, `the workload exercised ${c.counter}`);
    const ours = byKind(run.messages.map((m) => (m.isRequest ? m.method : String(m.status))));
    assert.equal(ours, truthKinds(truth));
    if (c.options.mtu) assert.ok(run.counters.fragments > 0);
    if (tshark && !c.options.tcp) {
      const r = spawnSync("tshark", ["-r", path, "-Y", "sip", "-T", "fields", "-E", "occurrence=f", "-e", "sip.Method", "-e", "sip.Status-Code"], { encoding: "utf8" });
      const theirs = r.stdout.split("\n").filter((l) => l.length > 0).map((l) => l.split("\t").find((f) => f.length > 0) ?? "");
      assert.equal(byKind(theirs), truthKinds(truth), "tshark's count");
    }
  });
}

if (!tshark) console.log("generator-network.test: tshark is not installed; its counts were NOT compared");

test.after(() => rmSync(directory, { recursive: true, force: true }));

test.run();
