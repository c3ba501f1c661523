// Which runs have an output that reads the JSON envelopes: only those make the core render them
// (host/cli/run.ts), so that events only, HEP only and siphon view do not pay for a fifth of the
// core's work that nothing reads; and which follow RTP, and sign Call-IDs, for the same reason.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../host/cli/config";
import { openOutputs } from "../host/cli/outputs";
import { mediaCalls, readsDialogs } from "../host/cli/run";
import { allSinks } from "../host/sink";
import { createLogger } from "../host/log";
import { compileFilter } from "../host/filter";
import { INVITE, runFrames, sip, tcpFrame, udpFrame } from "./helpers";

const tmp = mkdtempSync(join(tmpdir(), "siphon-outputs-"));
const SAMPLE = "fixtures/captures/sip-method.pcap";
const log = createLogger({ level: "error", write: () => undefined });

async function readsEnvelopes(command: string, args: string[]): Promise<boolean> {
  const outputs = openOutputs(loadConfig(command, [...args, SAMPLE], {}), log, () => ({}), (err) => { throw err; });
  await allSinks(outputs.sinks).close(Date.now() + 5000);
  return outputs.envelopes;
}

const CASES: [string, string[], boolean][] = [
  ["replay", [], true],                                              // NDJSON on stdout, the default
  ["replay", ["--out", join(tmp, "a.ndjson")], true],
  ["replay", ["--events", join(tmp, "b.ndjson")], true],             // envelopes still on stdout
  ["replay", ["--events", "-"], false],                               // events on stdout, no envelope output
  ["replay", ["--events", "-", "--out", join(tmp, "c.ndjson")], true],
  ["replay", ["--hep", "udp://127.0.0.1:9"], false],                  // HEP sends the message itself
  ["replay", ["--hep", "udp://127.0.0.1:9", "--out", "-"], true],
  ["view", [], false],
];

for (const [command, args, expected] of CASES) {
  test(`${command} ${args.join(" ")}: ${expected ? "an output reads envelopes" : "no output reads envelopes"}`, async () => {
    assert.is(await readsEnvelopes(command, args), expected);
  });
}

// Which runs follow RTP (the media table's slots): those with an output that reads the media
// figures (events and what takes them, recordings) or a --media-calls given; the rest neither
// track it nor, live, take it through the BPF filter.
const MEDIA_CASES: [string, string[], number][] = [
  ["replay", [], 0],                                                 // envelopes only
  ["replay", ["--hep", "udp://127.0.0.1:9"], 0],
  ["replay", ["--metrics", "127.0.0.1:9"], 0],
  ["replay", ["--events", "-"], 8192],                               // call-end's rtp.* fields
  ["replay", ["--cdr", "postgres://127.0.0.1/test"], 8192],
  ["replay", ["--http"], 8192],
  ["replay", ["--record", join(tmp, "rec")], 8192],
  ["replay", ["--media-calls", "100"], 100],                         // asked for
  ["replay", ["--events", "-", "--media-calls", "0"], 0],
  ["capture", [], 0],
  ["capture", ["--events", "-", "--media-calls", "64"], 64],
  ["view", [], 8192],
];

for (const [command, args, expected] of MEDIA_CASES) {
  test(`${command} ${args.join(" ")}: ${expected} media call slots`, () => {
    const positionals = command === "capture" ? [] : [SAMPLE];
    assert.is(mediaCalls(loadConfig(command, [...args, ...positionals], {})), expected);
  });
}

test("a core that renders no envelopes hands over every record, no envelope bytes and no id", () => {
  const frames = [{ data: udpFrame(INVITE) }, { data: udpFrame(INVITE.replace("INVITE sip:", "OPTIONS sip:")) }];
  const bare = runFrames(frames, { renderJson: false });
  const full = runFrames(frames);
  assert.is(full.messages.length, 2);
  assert.ok(full.ndjson.length > 0);
  assert.is(bare.ndjson, "");
  assert.equal(bare.messages.map((m) => [m.method, m.callId]), full.messages.map((m) => [m.method, m.callId]));
  assert.equal(bare.messages.map((m) => m.id), ["0000000000000000", "0000000000000000"]);
  assert.equal(bare.counters, full.counters);
});

// Which runs find the dialogs' spans (the From and To tags): those that follow calls or record them.
const DIALOG_CASES: [string, string[], boolean][] = [
  ["replay", [], false],
  ["replay", ["--hep", "udp://127.0.0.1:9"], false],
  ["replay", ["--events", "-"], true],
  ["replay", ["--http"], true],
  ["replay", ["--record", join(tmp, "rec"), "--media-calls", "0"], true],
  ["view", [], true],
];

for (const [command, args, expected] of DIALOG_CASES) {
  test(`${command} ${args.join(" ")}: ${expected ? "dialog spans found" : "no dialog spans"}`, () => {
    assert.is(readsDialogs(loadConfig(command, [...args, SAMPLE], {})), expected);
  });
}

test("a core without dialog spans finds no tags, and gives the same envelopes and counters; media or the tracker find them", () => {
  const frames = [{ data: udpFrame(INVITE) }];
  const spans = (r: ReturnType<typeof runFrames>): string[][] => r.messages.map((m) => [m.fromTag, m.toTag]);
  const without = runFrames(frames, { dialogSpans: false, mediaCalls: 0 });
  const full = runFrames(frames, { mediaCalls: 0 });
  assert.equal(spans(without), [["", ""]]);
  assert.equal(spans(full), [["1928301774", ""]]);
  assert.is(without.ndjson, full.ndjson);
  assert.equal(without.counters, full.counters);
  assert.equal(spans(runFrames(frames, { dialogSpans: false })), spans(full), "the media table (on by default in a core) reads the From tag");
});

test("a core without call keys signs no Call-ID and hands over the same envelopes and counters", () => {
  const frames = [{ data: udpFrame(INVITE) }, { data: udpFrame(INVITE.replace(/Call-ID: .*/, "Call-ID: another@example.com")) }];
  const keyless = runFrames(frames, { callKeys: false });
  const keyed = runFrames(frames);
  assert.equal(keyless.messages.map((m) => m.callKey), [0, 0]);
  const keys = keyed.messages.map((m) => m.callKey);
  assert.ok(keys[0] !== 0 && keys[1] !== 0 && keys[0] !== keys[1], `keys ${keys}`);
  assert.is(keyless.ndjson, keyed.ndjson);
  assert.equal(keyless.counters, keyed.counters);
});

// Messages whose Call-ID and Content-Length are found the hard ways: compact and upper-case names,
// space and a lone CR before the colon, folded values, repeats, a body longer than the datagram,
// two messages in one datagram and in one TCP segment, and header sections past the index's 128
// fields (overflow counted) or past 128 lines without that many fields (folded lines, no colon).
function framingCases(): string[] {
  const many = (n: number, folded: boolean): string[] => Array.from({ length: n }, (_, i) => folded && i % 2 ? ` folded ${i}` : `X-H-${i}: ${i}`);
  return [
    INVITE,
    sip(["MESSAGE sip:a SIP/2.0", "v: SIP/2.0/UDP h", "f: <sip:x>;tag=1", "i :compact@x", "CSeq: 1 MESSAGE", "L\t: 5"], "hello"),
    sip(["OPTIONS sip:a SIP/2.0", "CALL-ID:", "  folded@x  ", " more", "cseq: 2 OPTIONS", "content-LENGTH: 0"]),
    sip(["OPTIONS sip:a SIP/2.0", "i\r: lone-cr@x", "Call-ID: second@x", "CSeq: 3 OPTIONS"]),
    sip(["MESSAGE sip:a SIP/2.0", "Call-ID: clen@x", "Content-Length: 3", "Content-Type: text/plain", "Content-Length: 4"], "abcd"),
    sip(["MESSAGE sip:a SIP/2.0", "Call-ID: short@x", "Content-Length: 90"], "short"),
    sip(["MESSAGE sip:a SIP/2.0", "Call-ID: one@x", "l: 2"], "ab") + sip(["MESSAGE sip:a SIP/2.0", "Call-ID: two@x", "Content-Length: 0"]),
    sip(["OPTIONS sip:a SIP/2.0", ":nameless", "no colon here", "Call-ID: odd@x", "Content-Lengthy: 9"]),
    sip(["OPTIONS sip:a SIP/2.0", ...many(130, false), "Call-ID: overflow@x"]),
    sip(["OPTIONS sip:a SIP/2.0", ...many(200, true), "Call-ID: folded-many@x"]),
  ];
}

test("a core that indexes only Call-ID and Content-Length gives the same envelopes, framing and counters", () => {
  const messages = framingCases();
  const frames = [...messages.map((m) => ({ data: udpFrame(m) })), { data: tcpFrame(messages[6] + messages[1], { seq: 1 }) }];
  const plain = { dialogSpans: false, mediaCalls: 0 };
  const lean = runFrames(frames, { ...plain, allFields: false });
  const full = runFrames(frames, plain);
  const framing = (r: ReturnType<typeof runFrames>): [string, number, number][] => r.messages.map((m) => [m.callId, m.contentLength, m.size]);
  assert.equal(framing(lean), framing(full));
  assert.is(lean.ndjson, full.ndjson);
  assert.equal(lean.counters, full.counters);
  for (const counter of ["clen_bad", "clen_short", "header_overflow", "udp_multi", "sip_tcp"]) {
    assert.ok(full.counters[counter] > 0, `the cases reach ${counter}: ${JSON.stringify(full.counters)}`);
  }
  assert.equal(full.messages.map((m) => m.callId).slice(0, 4),
    ["a84b4c76e66710@pc33.atlanta.example.com", "compact@x", "folded@x  \r\n more", "lone-cr@x"]);
  assert.equal(lean.messages.map((m) => [m.from, m.cseq]).slice(0, 2), [["", 0], ["", 0]], "the other fields are left empty");
  assert.equal(full.messages.map((m) => m.cseq).slice(0, 2), [314159, 1]);
});

test("a core asked for the framing fields alone indexes them all where a filter, media or dialog spans read them", () => {
  const frames = [{ data: udpFrame(INVITE) }];
  const lean = { allFields: false, dialogSpans: false, mediaCalls: 0 };
  const from = (r: ReturnType<typeof runFrames>): string[] => r.messages.map((m) => m.from);
  assert.equal(from(runFrames(frames, lean)), [""]);
  const { program } = compileFilter('(header "User-Agent" "softphone")');
  const filtered = runFrames(frames, { ...lean, filterProgram: program });
  assert.equal(from(filtered), ["Alice <sip:alice@atlanta.example.com>;tag=1928301774"], "the filter reads the header index");
  assert.equal(from(runFrames(frames, { ...lean, mediaCalls: 16 })), from(filtered));
  assert.equal(from(runFrames(frames, { ...lean, dialogSpans: true })), from(filtered));
});

test.run();
