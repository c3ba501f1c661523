// The core's call tracker (--tracker core, assembly/track.ts) against the JavaScript
// tracker, its specification: the same events, byte for byte, in the same order, on every
// capture in fixtures/, on generated workloads (with tables small enough to evict and
// timeouts short enough to fire), and on seeded random message sequences written as SIP.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions, Rng } from "./support/generate";
import { udpFrame } from "./helpers";
import { trackCapture, trackFrames, firstDifference, sipOf, type Tracked } from "./trackers";
import type { Observed } from "../host/calls/message";
import { Core, instantiateCore, type CoreExports } from "../host/core";
import { readCapture } from "../host/source";
import { coreEventsSink } from "../host/calls/publish";
import { EventGate, parseBlocklist, parseRate } from "../host/calls/ratelimit";
import { defaultSettings } from "../host/calls/settings";
import type { Logger } from "../host/log";

const SEED = Number(process.env.SIPHON_FUZZ_SEED ?? 1);
const SEQUENCES = Number(process.env.SIPHON_CALLS_FUZZ ?? 300);

function same(t: Tracked, where: string): void {
  const difference = firstDifference(t);
  assert.ok(difference === undefined, `${where}: the core's tracker differs at ${difference}`);
}

test("every capture in fixtures/: the same events", async () => {
  const files = readdirSync("fixtures/captures").filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => `fixtures/captures/${f}`);
  files.push(...readdirSync("fixtures/calls").filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => `fixtures/calls/${f}`));
  let events = 0;
  for (const file of files) {
    const t = await trackCapture(file, { countersSeconds: 1 });
    same(t, file);
    events += t.js.length;
  }
  assert.ok(events > 100, `only ${events} events in fixtures/`);
});

const directory = mkdtempSync(join(tmpdir(), "siphon-tracker-core-"));

test("generated workloads, roomy and cramped tables, long and short timeouts: the same events", async () => {
  try {
    const cases = [
      { name: "udp", workload: { seed: 7, messages: 12000, scenariosPerSecond: 4 }, settings: {} },
      { name: "tcp, ipv6", workload: { seed: 8, messages: 8000, tcp: true, ipv6Share: 0.5 }, settings: { countersSeconds: 5 } },
      { name: "cramped", workload: { seed: 9, messages: 8000 },
        settings: { maxCalls: 40, maxBindings: 20, maxTransactions: 30, lingerSeconds: 1, transactionSeconds: 1, inviteSeconds: 32, establishedSeconds: 60, graceSeconds: 0, countersSeconds: 1 } },
    ];
    for (const c of cases) {
      const path = join(directory, `${c.name.replace(/\W+/g, "-")}.pcap`);
      generateWorkload(workloadOptions(c.workload), path);
      const t = await trackCapture(path, c.settings);
      assert.ok(t.js.length > 500, `${c.name}: only ${t.js.length} events`);
      same(t, c.name);
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

// Values from small alphabets, so that they collide into calls, retransmissions and strange
// orders; with the text the two trackers may read differently: invalid UTF-8, JavaScript's
// white space around a Contact's '*', name-addrs with quotes, unknown methods in any case.
const METHODS = ["INVITE", "ACK", "CANCEL", "BYE", "UPDATE", "PRACK", "REGISTER", "OPTIONS", "INFO", "NOTIFY", "MESSAGE", "SUBSCRIBE", "invite", "Register", "FOO", "publish"];
const STATUSES = [100, 180, 183, 200, 202, 401, 403, 407, 408, 481, 486, 487, 500, 603, 700];
const CONTACTS = ["", "*", " *\u00a0", "\u3000*", "<sip:a@192.0.2.1>", "<sip:a@192.0.2.1>;expires=0", "<sip:b@192.0.2.2>;expires=60",
  "sip:c@192.0.2.3;expires=3600", "\"x;expires=9\" <sip:a@192.0.2.1>;EXPIRES = 7", "<sip:\u00e9@192.0.2.1>", "<sip:\ufffd@192.0.2.1>"];
const USERS = ["alice", "bob", "\u00e9ve", "a\ufffd"];

function randomMessage(rng: Rng, timeUs: number): Observed {
  const isRequest = rng.chance(0.5);
  const forward = rng.chance(0.5);
  const a = rng.pick([{ ip: "192.0.2.1", port: 5060 }, { ip: "2001:db8::2", port: 5062 }]);
  const b = rng.pick([{ ip: "198.51.100.7", port: 5060 }, { ip: "2001:db8::7", port: 5080 }]);
  const to = `${rng.pick(["", "\"B \\\"x\\\" <y>\" "])}<sip:${rng.pick(USERS)}@example.com>`;
  return {
    timeUs, src: forward ? a : b, dst: forward ? b : a, transport: "udp", isRequest,
    method: rng.pick(METHODS), status: isRequest ? 0 : rng.pick(STATUSES), reason: rng.pick(["R", "Ringing", "\u00fcber"]),
    callId: `c${rng.below(6)}${rng.pick(["", "@h", "\u00e9"])}`, cseq: rng.between(1, 4),
    from: `<sip:${rng.pick(USERS)}@example.com>`, fromTag: rng.pick(["", "f1", "f2"]),
    to, toTag: rng.pick(["", "", "t1", "t2"]),
    contact: rng.pick(CONTACTS), expires: rng.pick([-1, 0, 60, 3600]),
    userAgent: rng.pick(["", "phone", "friendly-scanner", "x SIPVicious y"]), reasonHeader: rng.pick(["", "Q.850;cause=16"]),
    xCid: rng.pick(["", "leg-2"]), sessionId: rng.pick(["", "ab12"]), chargingVector: rng.pick(["", "icid-value=1"]),
    problems: 0,
  };
}

test(`${SEQUENCES} random sequences written as SIP (seed ${SEED}): the same events`, () => {
  const rng = new Rng(SEED);
  for (let s = 0; s < SEQUENCES; s++) {
    const roomy = s % 2 === 0;
    const settings = {
      countersSeconds: rng.pick([0, 1, 60]), graceSeconds: rng.pick([0, 1, 5]), lingerSeconds: rng.pick([1, 32]),
      maxCalls: roomy ? 100 : rng.between(1, 8), maxBindings: roomy ? 100 : rng.between(1, 8), maxTransactions: roomy ? 100 : rng.between(1, 8),
    };
    let timeUs = 1_700_000_000_000_000;
    const frames = [];
    for (let i = 0; i < 200; i++) {
      timeUs += rng.pick([0, 1000, 500_000, 2_000_000, 40_000_000, -3000]);
      const m = randomMessage(rng, timeUs);
      let text = Buffer.from(sipOf(m));
      // Now and then a byte that is not UTF-8 in a value the trackers keep or compare.
      if (rng.chance(0.1)) text = Buffer.from(text.toString("latin1").replace(/(From: <sip:|To: [^\r]*<sip:|Call-ID: c)/, "$1\u00ff"), "latin1");
      const data = udpFrame(text, { src: m.src.ip, dst: m.dst.ip, sport: m.src.port, dport: m.dst.port });
      frames.push({ data, sec: Math.floor(timeUs / 1_000_000), nsec: (timeUs % 1_000_000) * 1000 });
    }
    same(trackFrames(frames, settings), `sequence ${s} (SIPHON_FUZZ_SEED=${SEED})`);
  }
});

// A trap inside the core's tracker (a bug, never expected) leaves its tables half changed: the
// run goes on with the envelopes, the tracker tracks nothing more, and one error line says so.
test("a trap in the core's tracker: one error line, no more events, the run goes on", async () => {
  let pushes = 0;
  let atTrap = -1;  // events written when the tracker trapped
  const lines: string[] = [];
  const instantiate = (module: WebAssembly.Module, imports: WebAssembly.Imports): CoreExports => {
    const exports = instantiateCore(module, imports);
    const trackPush = exports.trackPush;
    return {
      ...exports,
      trackPush: (count: number, ends: number): void => {
        if (++pushes === 2) {
          atTrap = lines.length;
          throw new WebAssembly.RuntimeError("unreachable (test)");
        }
        trackPush(count, ends);
      },
    };
  };
  const errors: string[] = [];
  const log = { error: (msg: string) => errors.push(msg), warn: () => undefined } as unknown as Logger;
  const output = { write: (_e: unknown, json: string) => lines.push(json), writeLine: () => { lines.push("line"); },
    flush: () => undefined, backlog: () => undefined, close: async () => undefined };
  const gate = new EventGate(parseBlocklist(""), parseRate("0,0,0"));
  const sink = coreEventsSink(gate, [output], "t", () => ({}), undefined, undefined, undefined, log);
  let batches = 0;
  let messages = 0;
  const core = new Core({ sensor: "t", agent: "t", renderJson: false, maxFrames: 8, tracker: { ...defaultSettings(), countersSeconds: 0 },
    instantiate }, (batch) => {
    batches++;
    messages += batch.count;
    sink.write(batch);
  });
  await readCapture("fixtures/captures/wireshark.pcap", core, () => undefined);
  core.flush();
  await sink.close(Date.now() + 1000);
  assert.ok(batches > 3 && messages === 81, `the run read every message after the trap: ${messages} in ${batches} batches`);
  assert.equal(errors.length, 1, `one error line: ${errors.join(" | ")}`);
  assert.match(errors[0], /--tracker core: the core's tracker trapped \(unreachable \(test\)\) and tracks no more messages; run with --tracker js/);
  assert.ok(atTrap >= 0 && lines.length === atTrap, `no event after the trap, not even at the end: ${atTrap} then, ${lines.length} now`);
});

test.run();
