// Every bench script answers --help (and -h) with its usage, exit 0, and refuses an unknown
// option with one line naming it, then the usage, exit 2, no stack trace (bench/args.mjs).
// Neither may start the script's workload: each run here must end within seconds.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";

// bench/args.mjs (the scripts' argument handling), bench/pcap-out.mjs (the pcap files they write),
// bench/stats.mjs (their medians and verdicts) and bench/workloads.mjs (their cache of generated
// captures) are modules the scripts share, not scripts.
const MODULES = ["args.mjs", "pcap-out.mjs", "stats.mjs", "workloads.mjs"];
const SCRIPTS = readdirSync("bench").filter((f) => f.endsWith(".mjs") && !MODULES.includes(f)).sort().map((f) => `bench/${f}`);

function run(script: string, args: string[]): { code: number | null; stdout: string; stderr: string; what: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: "utf8", timeout: 20000 });
  const what = `node ${script} ${args.join(" ")}: exit ${r.status}${r.signal ? ` (${r.signal}${r.error ? `, ${r.error.message}` : ""})` : ""}\n` +
    `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, what };
}

test("there are bench scripts to check", () => {
  assert.ok(SCRIPTS.length >= 10, SCRIPTS.join(", "));
});

for (const script of SCRIPTS) {
  for (const flag of ["--help", "-h"]) {
    test(`${script} ${flag}: its usage on stdout, exit 0`, () => {
      const r = run(script, [flag]);
      assert.is(r.code, 0, r.what);
      assert.ok(r.stdout.startsWith("usage:"), r.what);
      assert.ok(r.stdout.includes(script), `the usage names ${script}\n${r.what}`);
    });
  }

  test(`${script} --no-such-option: one line naming it, then the usage, exit 2`, () => {
    const r = run(script, ["--no-such-option"]);
    assert.is(r.code, 2, r.what);
    assert.is(r.stdout, "", r.what);
    const lines = r.stderr.split("\n");
    assert.is(lines[0], `${script}: unknown option '--no-such-option'`, r.what);
    assert.ok(lines[1].startsWith("usage:"), `the usage follows the one line\n${r.what}`);
    assert.not.match(r.stderr, /^\s+at /m, `no stack trace\n${r.what}`);
  });
}

test.run();
