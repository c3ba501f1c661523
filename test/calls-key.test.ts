// What the call tracker reads of each message without decoding it: the core's
// Call-ID signature (REC_CALL_KEY), and the reused cursor that walks a batch in
// place, against the copied messages of the same batches, on every golden capture.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync } from "node:fs";
import { Core } from "../host/core";
import { readCapture } from "../host/source";
import type { SipMessage } from "../host/core/records";
import { observe, observer } from "../host/calls/message";
import * as L from "../assembly/layout";

const DIR = "fixtures/captures";
const captures = readdirSync(DIR).filter((f) => /\.(pcap|pcapng)$/.test(f)).sort();

interface Seen {
  copies: SipMessage[];
  cursorViews: string[];   // what the cursor read, message by message, while the batch was valid
}

function view(m: SipMessage): string {
  const spans = Array.from({ length: L.SPAN_COUNT }, (_, i) => m.text(i));
  return JSON.stringify([m.callKey, m.timeUs, m.src, m.dst, m.transport, m.isRequest, m.status, m.cseq, m.expires, m.problems, spans]);
}

async function walk(path: string): Promise<Seen> {
  const seen: Seen = { copies: [], cursorViews: [] };
  const core = new Core({ sensor: "t", agent: "t", renderJson: false, maxFrames: 7 }, (batch) => {
    const cursor = batch.cursor();
    for (let i = 0; i < batch.count; i++) {
      seen.copies.push(batch.message(i));
      seen.cursorViews.push(view(cursor.select(i)));
    }
  });
  await readCapture(path, core, () => undefined);
  core.flush();
  return seen;
}

test("the cursor reads what a copied message holds, message by message", async () => {
  let messages = 0;
  for (const name of captures) {
    const { copies, cursorViews } = await walk(`${DIR}/${name}`);
    copies.forEach((copy, i) => assert.is(cursorViews[i], view(copy), `${name}, message ${i}`));
    messages += copies.length;
  }
  assert.ok(messages > 100, `only ${messages} messages in the golden captures`);
});

test("timeUs is the record's seconds and nanoseconds in microseconds", async () => {
  for (const m of (await walk(`${DIR}/${captures[0]}`)).copies) assert.is(m.timeUs, m.timeSec * 1_000_000 + Math.floor(m.timeNsec / 1000));
});

test("call keys: equal for one Call-ID, different for different ones, 0 without a Call-ID", async () => {
  const keyOf = new Map<string, number>();
  const callIdOf = new Map<number, string>();
  let withoutCallId = 0;
  for (const name of captures) {
    for (const m of (await walk(`${DIR}/${name}`)).copies) {
      if (!m.has(L.SPAN_CALL_ID)) {
        assert.is(m.callKey, 0, `${name}: a message without a Call-ID has key ${m.callKey}`);
        withoutCallId++;
        continue;
      }
      const callId = m.callId;
      assert.ok(Number.isSafeInteger(m.callKey) && m.callKey >= 0, `key ${m.callKey}`);
      assert.is(keyOf.get(callId) ?? m.callKey, m.callKey, `${name}: Call-ID ${callId} with two keys`);
      assert.is(callIdOf.get(m.callKey) ?? callId, callId, `${name}: key ${m.callKey} for two Call-IDs`);
      keyOf.set(callId, m.callKey);
      callIdOf.set(m.callKey, callId);
    }
  }
  assert.ok(keyOf.size > 20, `only ${keyOf.size} Call-IDs`);
  assert.ok(withoutCallId > 0, "no golden message lacks a Call-ID: the 0 key is untested");
});

test("the reused summary gives what a fresh one gives, and forgets the last message's strings", async () => {
  const aimed = observer();
  const fields = ["timeUs", "method", "callId", "callKey", "fromTag", "toTag", "userAgent", "from", "to", "cseq", "status", "isRequest"] as const;
  for (const name of captures) {
    for (const m of (await walk(`${DIR}/${name}`)).copies) {
      const reused = aimed(m);
      const fresh = observe(m);
      for (const field of fields) assert.equal(reused[field], fresh[field], `${name}: ${field}`);
      assert.is(fresh.method, m.method.toUpperCase());
    }
  }
});

test.run();
