// The command as a user runs it: the bundled dist/siphon.mjs under plain node.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SAMPLE = "fixtures/captures/sip-method.pcap";
const tmp = mkdtempSync(join(tmpdir(), "siphon-cli-"));

function siphon(args: string[], input?: Buffer) {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", ...args], { input, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.length > 0);
}

test("replay FILE: NDJSON envelopes on stdout, one summary line on stderr", () => {
  const r = siphon(["replay", "--sensor", "cli", SAMPLE]);
  assert.is(r.code, 0);
  const envelopes = lines(r.stdout).map((l) => JSON.parse(l));
  assert.is(envelopes.length, 81);
  assert.ok(envelopes.every((e) => e.sensor === "cli" && e.v === 1));
  assert.equal(lines(r.stderr).length, 1);
  assert.match(r.stderr, /^siphon: 691 packets, 81 SIP messages \(udp 81, tcp 0, ws 0\), 509 non-SIP, 0 malformed, 44 not IP in [\d.]+ s\n$/);
});

test("replay -: a pcap stream on stdin gives the same envelopes as the file", () => {
  const fromFile = siphon(["replay", "--sensor", "cli", SAMPLE]).stdout;
  const fromStdin = siphon(["replay", "--sensor", "cli", "-"], readFileSync(SAMPLE));
  assert.is(fromStdin.code, 0);
  assert.is(fromStdin.stdout, fromFile);
});

test("replay --out FILE writes the envelopes there and nothing to stdout", () => {
  const out = join(tmp, "out.ndjson");
  const r = siphon(["replay", "--sensor", "cli", "-o", out, SAMPLE]);
  assert.is(r.code, 0);
  assert.is(r.stdout, "");
  assert.is(readFileSync(out, "utf8"), siphon(["replay", "--sensor", "cli", SAMPLE]).stdout);
});

test("a truncated capture: everything before the damage, then the file and byte offset, exit 1", () => {
  const whole = readFileSync(SAMPLE);
  const cut = join(tmp, "cut.pcap");
  writeFileSync(cut, whole.subarray(0, 60000));
  const r = siphon(["replay", "--sensor", "cli", cut]);
  assert.is(r.code, 1);
  const got = lines(r.stdout);
  const all = lines(siphon(["replay", "--sensor", "cli", SAMPLE]).stdout);
  assert.ok(got.length > 0 && got.length < all.length);
  assert.equal(got, all.slice(0, got.length));
  assert.match(r.stderr, new RegExp(`siphon: ${cut}: truncated packet record \\(need \\d+ bytes, have \\d+\\) at byte \\d+\\n$`));
  assert.not.match(r.stderr, /\n\s+at /);
});

test("bad input gets one clear line and exit 1, never a stack trace", () => {
  const notPcap = join(tmp, "notes.txt");
  writeFileSync(notPcap, "hello, this is text");
  for (const [file, pattern] of [[join(tmp, "missing.pcap"), /no such file/], [notPcap, /not a pcap or pcapng file/]] as const) {
    const r = siphon(["replay", file]);
    assert.is(r.code, 1, file);
    assert.match(r.stderr, pattern);
    assert.not.match(r.stderr, /\n\s+at /);
  }
});

test("usage errors exit 2 and say what to try", () => {
  for (const args of [["replay"], ["replay", "--bogus", SAMPLE], ["frobnicate"], ["replay", "a", "b"]]) {
    const r = siphon(args);
    assert.is(r.code, 2, args.join(" "));
    assert.match(r.stderr, /siphon --help/);
  }
});

test("dist/siphon.mjs is one file: copied alone elsewhere, it still runs", () => {
  const alone = join(tmp, "siphon.mjs");
  writeFileSync(alone, readFileSync("dist/siphon.mjs"));
  const r = spawnSync(process.execPath, [alone, "replay", "--sensor", "cli", "-"], { input: readFileSync(SAMPLE), cwd: tmp });
  assert.is(r.status, 0, r.stderr.toString());
  assert.is(r.stdout.toString(), siphon(["replay", "--sensor", "cli", SAMPLE]).stdout);
});

test("--help and --version", () => {
  const help = siphon(["--help"]);
  assert.is(help.code, 0);
  assert.match(help.stdout, /siphon replay FILE\|-/);
  assert.match(help.stdout, /Exit codes/);
  const version = siphon(["--version"]);
  assert.is(version.code, 0);
  assert.is(version.stdout.trim(), JSON.parse(readFileSync("package.json", "utf8")).version);
});

test("no progress line when stderr is not a terminal", () => {
  const r = siphon(["replay", SAMPLE]);
  assert.not.match(r.stderr, /packets\/s|\r/);
});

// `script` runs the command on a pseudo-terminal, as an operator's shell would.
const hasScript = spawnSync("script", ["--version"]).status === 0;
if (hasScript) {
  test("on a terminal, progress is drawn on stderr and cleared before the summary", () => {
    const r = spawnSync("script", ["-qec", `${process.execPath} dist/siphon.mjs replay ${SAMPLE} > /dev/null`, "/dev/null"]);
    const screen = r.stdout.toString();
    assert.match(screen, /\r\x1b\[Kread 0\.1 MB of 0\.1 MB, [1-9][\d,]* packets\/s, \d+ s left/);
    assert.match(screen, /\r\x1b\[Ksiphon: 691 packets/);
  });
} else {
  console.log("cli.test: 'script' is not installed; the terminal progress test was NOT run");
}

test.run();
