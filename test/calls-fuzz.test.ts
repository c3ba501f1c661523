// The tracker never throws and keeps its promises on any message sequence:
// every capture in fixtures/ through the core, and seeded random sequences of
// methods, statuses, tags, CSeqs and times from small alphabets (so that they
// collide into calls, retransmissions and strange orders).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync } from "node:fs";
import { Core } from "../host/core";
import { readCapture } from "../host/source";
import { Tracker } from "../host/calls/tracker";
import { observe, type Observed } from "../host/calls/message";
import type { SipEvent } from "../host/calls/events";
import { Rng } from "./support/generate";

const SEED = Number(process.env.SIPHON_FUZZ_SEED ?? 1);
const SEQUENCES = Number(process.env.SIPHON_CALLS_FUZZ ?? 300);

// What must hold whatever came in: at most one start, end and attempt per call, an end only
// after a start, no event for a binding twice in a row of the same kind, tables within bounds.
function checkPromises(events: SipEvent[], tracker: Tracker, limits: { calls: number; bindings: number; transactions: number }, where: string): void {
  const seen = new Map<string, string[]>();
  for (const e of events) {
    const type = e.event.type;
    if (!type.startsWith("call-")) continue;
    const list = seen.get(e.sip?.call_id ?? "") ?? [];
    list.push(type);
    seen.set(e.sip?.call_id ?? "", list);
  }
  const counters = tracker.counters();
  const evicted = counters.calls_evicted > 0;
  for (const [callId, list] of seen) {
    const count = (t: string): number => list.filter((x) => x === t).length;
    if (!evicted) {
      // a call-id can come back after its call ended and lingered out; each life has one of each
      assert.ok(count("call-start") >= count("call-end"), `${where}: ${callId} ended more often than it started: ${list.join(",")}`);
    }
    for (let i = 1; i < list.length && !evicted; i++) {
      assert.ok(!(list[i] === list[i - 1] && list[i] !== "call-attempt"), `${where}: ${callId} reported ${list[i]} twice in a row: ${list.join(",")}`);
    }
  }
  assert.ok(counters.calls_held <= limits.calls, where);
  assert.ok(counters.bindings_held <= limits.bindings, where);
  assert.ok(counters.transactions_held <= limits.transactions, where);
  assert.ok(counters.timers_armed <= limits.calls + limits.bindings + 2 * limits.transactions, where);
}

test("every capture in fixtures/ through the core and the tracker", async () => {
  const files = readdirSync("fixtures/captures").filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => `fixtures/captures/${f}`);
  files.push(...readdirSync("fixtures/calls").map((f) => `fixtures/calls/${f}`));
  assert.ok(files.length >= 10);
  for (const file of files) {
    const events: SipEvent[] = [];
    const tracker = new Tracker((e) => events.push(e), { countersSeconds: 0 });
    const core = new Core({ sensor: "t", agent: "t", renderJson: false }, (batch) => {
      for (let i = 0; i < batch.count; i++) tracker.observe(observe(batch.message(i, true)));
    });
    await readCapture(file, core, () => undefined).catch(() => undefined); // damaged captures end early; what was read still counts
    core.flush();
    tracker.finish();
    checkPromises(events, tracker, { calls: 100_000, bindings: 100_000, transactions: 100_000 }, file);
  }
});

const METHODS = ["INVITE", "ACK", "CANCEL", "BYE", "UPDATE", "PRACK", "REGISTER", "OPTIONS", "INFO", "NOTIFY", "MESSAGE", "SUBSCRIBE"];
const STATUSES = [100, 180, 183, 200, 202, 401, 403, 407, 408, 481, 486, 487, 500, 603];
const CONTACTS = ["", "*", "<sip:a@192.0.2.1>", "<sip:a@192.0.2.1>;expires=0", "<sip:b@192.0.2.2>;expires=60", "sip:c@192.0.2.3;expires=3600"];

function randomMessage(rng: Rng, timeUs: number): Observed {
  const isRequest = rng.chance(0.5);
  const forward = rng.chance(0.5);
  const a = { ip: "192.0.2.1", port: 5060 };
  const b = { ip: "2001:db8::2", port: 5062 };
  return {
    timeUs, src: forward ? a : b, dst: forward ? b : a, transport: rng.pick(["udp", "tcp", "ws"] as const), isRequest,
    method: rng.pick(METHODS), status: isRequest ? 0 : rng.pick(STATUSES), reason: "R",
    callId: `c${rng.below(6)}`, cseq: rng.between(1, 4),
    from: `<sip:${rng.pick(["alice", "bob"])}@example.com>;tag=f`, fromTag: rng.pick(["", "f1", "f2"]),
    to: `<sip:${rng.pick(["alice", "bob"])}@example.com>`, toTag: rng.pick(["", "", "t1", "t2"]),
    contact: rng.pick(CONTACTS), expires: rng.pick([-1, 0, 60, 3600]),
    userAgent: rng.pick(["", "phone", "friendly-scanner"]), reasonHeader: rng.pick(["", "Q.850;cause=16"]),
    xCid: rng.pick(["", "leg-2"]), sessionId: "", chargingVector: "",
    problems: rng.chance(0.05) ? rng.pick([1, 2, 4, 8, 16, 32]) : 0,
  };
}

test(`${SEQUENCES} random sequences (seed ${SEED}) keep the tracker's promises`, () => {
  const rng = new Rng(SEED);
  for (let s = 0; s < SEQUENCES; s++) {
    // half the sequences with room for everything, so that no eviction hides a broken promise
    const roomy = s % 2 === 0;
    const limits = roomy ? { calls: 100, bindings: 100, transactions: 100 } : { calls: rng.between(1, 8), bindings: rng.between(1, 8), transactions: rng.between(1, 8) };
    const events: SipEvent[] = [];
    const tracker = new Tracker((e) => events.push(e), {
      countersSeconds: rng.pick([0, 1, 60]), graceSeconds: rng.pick([0, 1, 5]), lingerSeconds: rng.pick([1, 32]),
      maxCalls: limits.calls, maxBindings: limits.bindings, maxTransactions: limits.transactions,
    });
    let timeUs = 1_700_000_000_000_000;
    const where = `sequence ${s} (SIPHON_FUZZ_SEED=${SEED})`;
    try {
      for (let i = 0; i < 200; i++) {
        timeUs += rng.pick([0, 1000, 500_000, 2_000_000, 40_000_000, -3000]);
        tracker.observe(randomMessage(rng, timeUs));
      }
      tracker.finish();
    } catch (err) {
      throw new Error(`${where}: the tracker threw: ${(err as Error).stack}`);
    }
    for (const e of events) assert.ok(typeof JSON.stringify(e) === "string", where);
    checkPromises(events, tracker, limits, where);
  }
});

test.run();
