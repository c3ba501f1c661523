// The filter selects the same messages as tshark's display filters, on a
// capture made by the deterministic workload generator (test/support/generate/).
//
// Messages are compared by (capture time, Call-ID, CSeq number, method or
// status), which the generator never repeats. Siphon's (method m) matches a
// response by its CSeq method, as sip-capture's does, so its tshark twin is
// sip.Method == "M" || (sip.Status-Code && sip.CSeq.method == "M"). tshark's
// `matches` ignores case, hence (?i) on Siphon's side.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions } from "./support/generate";
import { Core, type SipMessage } from "../host/core";
import { readCapture } from "../host/source";
import { compileFilter } from "../host/filter/compile";

const directory = mkdtempSync(join(tmpdir(), "siphon-filter-tshark-"));
const capture = join(directory, "workload.pcap");
generateWorkload(workloadOptions({ seed: 11, messages: 4000 }), capture);

const INVITE = 'sip.Method == "INVITE" || (sip.Status-Code && sip.CSeq.method == "INVITE")';
const CANCEL = 'sip.Method == "CANCEL" || (sip.Status-Code && sip.CSeq.method == "CANCEL")';

const PAIRS: [siphon: string, tshark: string][] = [
  ["(method invite)", INVITE],
  ["(status 4xx)", "sip.Status-Code >= 400 && sip.Status-Code <= 499"],
  ['(all (method invite) (header "user-agent" "(?i)^(linphone|zoiper)"))', `(${INVITE}) && sip.User-Agent matches "^(linphone|zoiper)"`],
  ["(any (status 486) (method cancel))", `sip.Status-Code == 486 || ${CANCEL}`],
];

function key(time: string, callId: string, cseq: string, what: string): string {
  return `${time} ${callId} ${cseq} ${what}`;
}

async function siphonKeys(expression: string): Promise<string[]> {
  const keys: string[] = [];
  const add = (m: SipMessage): void => {
    const time = `${m.timeSec}.${String(Math.floor(m.timeNsec / 1000)).padStart(6, "0")}`;
    keys.push(key(time, m.callId, String(m.cseq), m.isRequest ? m.method : String(m.status)));
  };
  const core = new Core({ sensor: "t", agent: "t", renderJson: false, filterProgram: compileFilter(expression).program }, (batch) => {
    for (let i = 0; i < batch.count; i++) add(batch.message(i));
  });
  await readCapture(capture, core);
  core.flush();
  return keys.sort();
}

function tsharkKeys(displayFilter: string): string[] {
  const fields = ["frame.time_epoch", "sip.Call-ID", "sip.CSeq.seq", "sip.Method", "sip.Status-Code"].flatMap((f) => ["-e", f]);
  const run = spawnSync("tshark", ["-r", capture, "-Y", displayFilter, "-T", "fields", ...fields], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.is(run.status, 0, run.stderr);
  return run.stdout.split("\n").filter((line) => line !== "").map((line) => {
    const [epoch, callId, cseq, method, status] = line.split("\t");
    const [sec, fraction] = epoch.split(".");
    return key(`${sec}.${fraction.padEnd(6, "0").slice(0, 6)}`, callId, cseq, method || status);
  }).sort();
}

const tsharkInstalled = spawnSync("tshark", ["--version"], { stdio: "ignore" }).error === undefined;
if (tsharkInstalled) {
  for (const [expression, displayFilter] of PAIRS) {
    test(`${expression} selects what tshark's ${displayFilter} does`, async () => {
      const ours = await siphonKeys(expression);
      const theirs = tsharkKeys(displayFilter);
      assert.ok(theirs.length > 20, `only ${theirs.length} messages: the comparison would prove little`);
      assert.is(new Set(theirs).size, theirs.length, "the keys identify messages");
      assert.equal(ours, theirs);
    });
  }
} else {
  console.log("filter: tshark is not installed, so the equivalence with tshark was not run (not counted as passed)");
}

test.after(() => rmSync(directory, { recursive: true, force: true }));

test.run();
