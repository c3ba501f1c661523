// The call tracker: events from replaying a generated capture match the
// generator's truth exactly (every call, every binding, durations to the
// millisecond); the same at any batch size; rules on hand-made messages.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions, type Truth } from "./support/generate";
import { Core } from "../host/core";
import { readCapture } from "../host/source";
import { Tracker } from "../host/calls/tracker";
import { observe } from "../host/calls/message";
import { parseIsoTime, type SipEvent } from "../host/calls/events";
import type { TrackerSettings } from "../host/calls/settings";

const directory = mkdtempSync(join(tmpdir(), "siphon-calls-test-"));

export async function replayEvents(path: string, settings: Partial<TrackerSettings> = {}, maxFrames?: number): Promise<SipEvent[]> {
  const events: SipEvent[] = [];
  const tracker = new Tracker((e) => events.push(e), settings);
  const core = new Core({ sensor: "test", agent: "test", renderJson: false, maxFrames }, (batch) => {
    for (let i = 0; i < batch.count; i++) tracker.observe(observe(batch.message(i)));
  });
  await readCapture(path, core, () => undefined);
  core.flush();
  tracker.finish();
  return events;
}

// Times compared in whole microseconds: the truth's are milliseconds with three decimals.
const us = (iso: string | undefined): number | null => (iso === undefined ? null : parseIsoTime(iso));
const truthUs = (timeMs: number | null): number | null => (timeMs === null ? null : Math.round(timeMs * 1000));

// A slow scenario rate makes the capture long enough for bindings to expire in it.
const workload = join(directory, "calls.pcap");
const truth: Truth = generateWorkload(workloadOptions({ seed: 7, messages: 12000, scenariosPerSecond: 4 }), workload);

function byType(events: SipEvent[], type: string): SipEvent[] {
  return events.filter((e) => e.event.type === type);
}

test("every generated call gives the events its truth says, to the millisecond", async () => {
  const events = await replayEvents(workload);
  const starts = new Map(byType(events, "call-start").map((e) => [e.sip?.call_id, e]));
  const ends = new Map(byType(events, "call-end").map((e) => [e.sip?.call_id, e]));
  const attempts = new Map(byType(events, "call-attempt").map((e) => [e.sip?.call_id, e]));
  assert.is(starts.size, byType(events, "call-start").length, "one call-start per call");
  assert.is(ends.size, byType(events, "call-end").length, "one call-end per call");
  assert.is(attempts.size, byType(events, "call-attempt").length, "one call-attempt per call");
  const answered = truth.calls.filter((c) => c.outcome === "answered");
  assert.ok(answered.length > 50 && truth.calls.length - answered.length > 10, "the workload has calls of every outcome");
  assert.is(starts.size, answered.length);
  assert.is(ends.size, answered.length);
  assert.is(attempts.size, truth.calls.length - answered.length);
  for (const call of truth.calls) {
    if (call.outcome === "answered") {
      const start = starts.get(call.callId);
      const end = ends.get(call.callId);
      assert.ok(start && end, `call ${call.callId} started and ended`);
      assert.is(us(start["@timestamp"]), truthUs(call.answer), `answer time of ${call.callId}`);
      assert.is(us(end["@timestamp"]), truthUs(call.bye), `end time of ${call.callId}`);
      assert.is((end.event.duration ?? -1) / 1000, truthUs(call.durationMs), `duration of ${call.callId}`);
      assert.is(us(end.sip?.call?.times.invite), truthUs(call.invite));
      assert.is(us(end.sip?.call?.times.ringing), truthUs(call.ringing));
      assert.is(us(end.sip?.call?.times.answer), truthUs(call.answer));
      assert.is(end.sip?.from, call.caller);
      assert.is(end.sip?.to, call.callee);
      assert.is(end.sip?.originator, call.hangup, `who hung up ${call.callId}`);
      assert.is(Math.round((start.sip?.pdd ?? -1) * 1000), (truthUs(call.ringing ?? call.answer) as number) - (truthUs(call.invite) as number));
    } else {
      const attempt = attempts.get(call.callId);
      assert.ok(attempt, `call ${call.callId} gave a call-attempt`);
      assert.is(attempt.sip?.call?.outcome, call.outcome, `outcome of ${call.callId}`);
      assert.is(attempt.sip?.response?.status, call.finalStatus, `status of ${call.callId}`);
      assert.is(us(attempt.sip?.call?.times.invite), truthUs(call.invite));
      assert.is(us(attempt.sip?.call?.times.ringing), truthUs(call.ringing));
      assert.is(starts.has(call.callId), false, `no call-start for ${call.callId}`);
    }
  }
});

// What the truth's registrations imply, binding by binding: new when none is
// held (the first, or one after the last expired), silent refreshes, deleted,
// and expired when Expires passes before the capture's last packet.
function expectedBindingEvents(t: Truth, lastPacketUs: number): string[] {
  const held = new Map<string, number>(); // key -> expiry, microseconds
  const expected: string[] = [];
  const expireUntil = (timeUs: number): void => {
    for (const [key, expiry] of [...held].sort((a, b) => a[1] - b[1])) {
      if (expiry <= timeUs) {
        expected.push(`reg-expired ${key} ${expiry}`);
        held.delete(key);
      }
    }
  };
  for (const r of t.registrations) {
    const timeUs = truthUs(r.time) as number;
    expireUntil(timeUs);
    const key = `${r.aor} ${r.contact}`;
    if (r.action === "deleted") {
      expected.push(`reg-del ${key} ${timeUs}`);
      held.delete(key);
      continue;
    }
    if (!held.has(key)) expected.push(`reg-new ${key} ${timeUs}`);
    held.set(key, timeUs + r.expires * 1_000_000);
  }
  expireUntil(lastPacketUs);
  return expected.sort();
}

test("every binding: new, refreshed (silent), deleted and expired, as the truth implies", async () => {
  const events = await replayEvents(workload);
  const lastPacket = Math.max(...events.map((e) => us(e["@timestamp"]) ?? 0), ...truth.calls.map((c) => truthUs(c.bye) ?? 0));
  const seen = events
    .filter((e) => e.event.type.startsWith("reg-"))
    .map((e) => `${e.event.type} ${e.sip?.binding?.aor} ${e.sip?.binding?.contact} ${us(e["@timestamp"])}`)
    .sort();
  const expected = expectedBindingEvents(truth, lastPacket);
  assert.ok(expected.some((e) => e.startsWith("reg-expired")), "some bindings expire within the capture");
  assert.ok(expected.some((e) => e.startsWith("reg-del")), "some bindings are deleted");
  assert.equal(seen, expected);
  assert.is(byType(events, "auth-failed").length, 0, "a first 401 answered by a retry is not a failure");
});

test("OPTIONS and MESSAGE give other-ok, one per transaction", async () => {
  const events = await replayEvents(workload);
  const requests = truth.totals.requests;
  assert.is(byType(events, "other-ok").length, (requests.OPTIONS ?? 0) + (requests.MESSAGE ?? 0));
  assert.is(byType(events, "other-failed").length + byType(events, "other-timeout").length, 0);
});

test("the same events whatever the batch size (timers on capture time)", async () => {
  const strip = (events: SipEvent[]): string[] => events.filter((e) => e.event.type !== "counters").map((e) => JSON.stringify(e));
  const big = strip(await replayEvents(workload));
  const small = strip(await replayEvents(workload, {}, 7));
  assert.equal(small, big);
});

test.after(() => rmSync(directory, { recursive: true, force: true }));

test.run();

