// The filter from the command line: --filter and --filter-file on replay, the
// summary's counts, `siphon filter check` and `siphon filter test`, exit codes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SAMPLE = "fixtures/captures/sip-method.pcap"; // 81 SIP messages, 23 of them 4xx
const tmp = mkdtempSync(join(tmpdir(), "siphon-filter-cli-"));

function siphon(args: string[]) {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", ...args], { maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

test("replay --filter: only the selected envelopes, and the counts in the summary", () => {
  const r = siphon(["replay", "--sensor", "cli", "--filter", "(status 4xx)", SAMPLE]);
  assert.is(r.code, 0);
  const envelopes = r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
  assert.is(envelopes.length, 23);
  const statuses = envelopes.map((e) => Number(/^SIP\/2\.0 (\d{3})/.exec(Buffer.from(e.sip, "base64").toString("latin1"))?.[1]));
  assert.ok(statuses.every((s) => s >= 400 && s <= 499), statuses.join(","));
  assert.match(r.stderr, /81 SIP messages .*, 23 matched and 58 rejected by the filter in [\d.]+ s\n$/);
});

test("replay --filter-file: the expression is read from the file, comments and all", () => {
  const file = join(tmp, "invites.filter");
  writeFileSync(file, "; INVITE transactions only\n(method invite)\n");
  const r = siphon(["replay", "--filter-file", file, SAMPLE]);
  assert.is(r.code, 0);
  assert.match(r.stderr, /22 matched and 59 rejected by the filter/);
});

test("replay with a bad filter: the reason and position, exit 2, nothing decoded", () => {
  const r = siphon(["replay", "--filter", "(all request\n  (methd invite))", SAMPLE]);
  assert.is(r.code, 2);
  assert.is(r.stdout, "");
  assert.is(r.stderr, "siphon: filter: unknown function 'methd' at 2:4 (did you mean 'method'?)\n");
});

test("replay: a missing filter file, or both options, is a usage error", () => {
  const missing = siphon(["replay", "--filter-file", join(tmp, "nope"), SAMPLE]);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /^siphon: filter: cannot read the filter file .*nope: ENOENT\n$/);
  const both = siphon(["replay", "--filter", "request", "--filter-file", join(tmp, "nope"), SAMPLE]);
  assert.is(both.code, 2);
  assert.match(both.stderr, /give --filter or --filter-file, not both/);
});

test("filter check: the expression as read, in canonical form, and its cost", () => {
  const r = siphon(["filter", "check", '(ALL (methods invite "publish") (user-agent "^Friendly") (status 4XX))']);
  assert.is(r.code, 0);
  const [expression, cost, scans, automata] = r.stdout.split("\n");
  assert.is(expression, '(all (method INVITE PUBLISH) (user-agent "^Friendly") (status 4xx))');
  assert.match(cost, /^cost: about \d+ steps per typical message/);
  assert.is(scans, "  regular expressions read, one step per byte: each user-agent header");
  assert.match(automata, /^  1 automaton, \d+ states; program \d+ bytes$/);
});

test("filter check: a long expression is printed one test per line", () => {
  const r = siphon(["filter", "check", '(any (header "P-Asserted-Identity" "alice") (header "X-CID" "^leg-") (not (src 2001:db8::/32 5060)))']);
  assert.is(r.stdout.split("\n").slice(0, 4).join("\n"),
    '(any\n  (header "P-Asserted-Identity" "alice")\n  (header "X-CID" "^leg-")\n  (not (src 2001:db8::/32 5060)))');
});

test("filter check: the printed expression reads back as the same filter", () => {
  const source = '(all (not (body "say \\"hi\\"")) (message "a\\\\b") (dst 192.0.2.0/24) (port 5060 5080) (transport udp ws) has-sdp)';
  const expressionOf = (stdout: string): string => stdout.slice(0, stdout.indexOf("\ncost: "));
  const once = expressionOf(siphon(["filter", "check", source]).stdout);
  const twice = expressionOf(siphon(["filter", "check", once]).stdout);
  assert.ok(once.includes('(body "say \\"hi\\"")'), once);
  assert.is(twice, once);
});

test("filter check: a bad expression gives the error on stderr, exit 2", () => {
  const r = siphon(["filter", "check", '(header "via" "(?<=x)")']);
  assert.is(r.code, 2);
  assert.is(r.stdout, "");
  assert.match(r.stderr, /^siphon: filter: bad regular expression: look-behind .* not supported.* at 1:16\n$/);
});

test("filter test: how many SIP messages of a capture match", () => {
  assert.is(siphon(["filter", "test", "(status 4xx)", SAMPLE]).stdout, "23 of 81 SIP messages match\n");
  assert.is(siphon(["filter", "test", "", SAMPLE]).stdout, "81 of 81 SIP messages match\n");
  const file = join(tmp, "requests.filter");
  writeFileSync(file, "request");
  assert.is(siphon(["filter", "test", "--filter-file", file, SAMPLE]).stdout, "47 of 81 SIP messages match\n");
});

test("filter test: a capture damaged part way is counted up to the damage, then its one failure line, exit 1", () => {
  const whole = readFileSync(SAMPLE);
  const cut = join(tmp, "cut.pcap");
  writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
  const r = siphon(["filter", "test", "(status 4xx)", cut]);
  assert.is(r.code, 1, r.stderr);
  const counted = /^(\d+) of (\d+) SIP messages match\n$/.exec(r.stdout);
  assert.ok(counted !== null && Number(counted[2]) > 0 && Number(counted[2]) < 81, `the messages before the damage counted: ${JSON.stringify(r.stdout)}`);
  assert.match(r.stderr, /^siphon: \S+cut\.pcap: truncated packet record [^\n]*\n$/);
});

test("filter: usage errors exit 2 and say what to write", () => {
  const none = siphon(["filter", "test", "(status 4xx)"]);
  assert.is(none.code, 2);
  assert.match(none.stderr, /'filter test' takes EXPR FILE/);
  const unknown = siphon(["filter", "explain", "request"]);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown subcommand 'explain'/);
});

test("--help lists the filter options and commands", () => {
  const help = siphon(["--help"]).stdout;
  for (const text of ["--filter EXPR", "--filter-file FILE", "siphon filter check EXPR", "siphon filter test EXPR FILE"]) {
    assert.ok(help.includes(text), text);
  }
});

test.run();
