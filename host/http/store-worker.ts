// The web view's store in its worker thread (remote.ts starts it from the string build.mjs
// makes of this file): takes each handover into a CallStore, publishes the store's counters and
// the bytes taken after each, and answers the questions of the page and the API (reads.ts).
import { parentPort, workerData } from "node:worker_threads";
import * as L from "../../assembly/layout";
import { STORED_RECORD_BYTES, type MessageBatch } from "../core/records";
import type { SipEvent } from "../calls/events";
import { answer } from "./reads";
import { CallStore } from "./store";
import { STORE_COUNTERS, type Asked, type Handover } from "./remote";

const port = parentPort!;
const store = new CallStore(workerData.limits);
const sink = store.messageSink();
const shared = new Float64Array(workerData.shared as SharedArrayBuffer);

// A block of messages as storeRun wrote them (records, then bytes), read as the batch the
// store copies its runs from.
class StoredBlock {
  private readonly view: DataView;

  constructor(private readonly from: Uint8Array, readonly count: number) {
    this.view = new DataView(from.buffer, from.byteOffset, from.byteLength);
  }

  storedLength(i: number): number {
    return STORED_RECORD_BYTES + this.view.getUint32(i * STORED_RECORD_BYTES + L.REC_MSG_LEN, true);
  }

  storeRun(first: number, into: Buffer, at: number): number {
    let count = 0;
    for (let end = at, i = first; i < this.count; i++, count++) {
      end += this.storedLength(i);
      if (end > into.length) break;
    }
    if (count === 0) return 0;
    const records = first * STORED_RECORD_BYTES;
    into.set(this.from.subarray(records, records + count * STORED_RECORD_BYTES), at);
    const copy = new DataView(into.buffer, into.byteOffset, into.length);
    for (let k = 0, bytesAt = at + count * STORED_RECORD_BYTES; k < count; k++) {
      const rec = records + k * STORED_RECORD_BYTES;
      const msgOff = this.view.getUint32(rec + L.REC_MSG_ADDR, true);
      const msgLen = this.view.getUint32(rec + L.REC_MSG_LEN, true);
      into.set(this.from.subarray(msgOff, msgOff + msgLen), bytesAt);
      copy.setUint32(at + k * STORED_RECORD_BYTES + L.REC_MSG_ADDR, bytesAt, true);
      bytesAt += msgLen;
    }
    return count;
  }
}

// What the store reads of an event that is not a binding's: its Call-ID alone.
function eventOf(h: Handover, e: number): SipEvent {
  const event = h.bindings[e] ?? ({ sip: {} } as SipEvent);
  event.sip!.call_id = h.ids[e];
  return event;
}

function take(h: Handover): void {
  for (let k = 0; k < h.blocks.length; k++) sink.write(new StoredBlock(new Uint8Array(h.blocks[k]), h.counts[k]) as unknown as MessageBatch);
  for (let e = 0; e < h.events.length; e++) store.takeEvent(eventOf(h, e), h.events[e]);
  const counters = store.counters();
  STORE_COUNTERS.forEach((name, i) => { shared[1 + i] = counters[name]; });
  shared[0] += h.bytes;
}

port.on("message", (m: Handover | Asked) => {
  if (!("ask" in m)) {
    take(m);
    return;
  }
  try {
    port.postMessage({ answer: m.ask, value: answer(store, m.question) });
  } catch (err) {
    port.postMessage({ answer: m.ask, error: (err as Error).message });
  }
});
