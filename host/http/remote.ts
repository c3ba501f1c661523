// The web view's store in a worker thread of its own (store-worker.ts), so that on a machine
// with a second core its work (the grouping, the window's bookkeeping, the reads a page makes,
// and V8 compiling all of it) runs beside the capture instead of in its way. The main thread
// hands over only what it must: each batch's messages copied (records and bytes, in one block:
// MessageBatch.storeRun) into a buffer of their own, and each event's JSON, transferred once
// per batch, not cloned object by object. Reads are questions answered in the worker
// (reads.ts); one that follows a batch sees it, as the worker takes messages in order.
// Bounded: past HANDOVER_BYTES handed over and not yet taken (the worker behind), a batch's
// messages and events are dropped and counted, never queued without end; capture never waits.
import { Worker } from "node:worker_threads";
import type { MessageBatch } from "../core/records";
import type { SipEvent } from "../calls/events";
import type { Logger } from "../log";
import type { EventOutput, Sink } from "../sink/sink";
import type { Answer, Question, StoreReads } from "./reads";
import type { StoreLimits, StoreListener } from "./store";

declare const SIPHON_STORE_WORKER: string;   // store-worker.ts, bundled apart by build.mjs

export const HANDOVER_BYTES = 64 * 1024 * 1024;
// The store's counters as the worker publishes them after each batch, in this order, after
// the bytes it has taken (HandedOver.TAKEN).
export const STORE_COUNTERS = ["http_calls_held", "http_bytes_held", "http_calls_evicted", "http_messages", "http_messages_dropped",
  "http_events", "http_events_evicted", "http_registrations_held", "http_registrations_evicted"] as const;

// What a batch hands over: its messages' blocks and how many messages each holds, its events' JSON,
// and of each event what the store reads without parsing it (its Call-ID; a binding's fields).
export interface Handover {
  blocks: ArrayBuffer[];
  counts: number[];
  events: string[];
  ids: Array<string | undefined>;
  bindings: Array<SipEvent | undefined>;
  bytes: number;
}

export interface Asked {
  ask: number;
  question: Question;
}

interface Reply {
  answer: number;
  value?: Answer;
  error?: string;
}

export class RemoteStore implements StoreReads {
  private pending: Handover = emptyHandover();
  private handedOver = 0;              // bytes
  private dropped = 0;                 // messages and events not handed over (the worker behind)
  private asked = 0;
  private readonly waiting = new Map<number, { resolve(value: Answer): void; reject(err: Error): void }>();
  private listener: StoreListener | undefined;
  private failure: Error | undefined;
  private closed = false;

  private constructor(private readonly worker: Worker, private readonly shared: Float64Array, log: Logger) {
    worker.on("message", (reply: Reply) => this.answered(reply));
    const failed = (err: Error): void => {
      if (this.failure !== undefined) return;
      this.failure = err;
      if (!this.closed) log.error("http: the web view's store stopped; the page's calls and events stay as they were", { error: err.message });
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on("error", failed);
    worker.on("exit", () => failed(new Error("its thread ended")));
  }

  // The worker started (its code compiled before the run begins).
  static start(limits: StoreLimits, log: Logger): Promise<RemoteStore> {
    const shared = new Float64Array(new SharedArrayBuffer((1 + STORE_COUNTERS.length) * 8));
    const worker = new Worker(SIPHON_STORE_WORKER, { eval: true, workerData: { limits, shared: shared.buffer } });
    return new Promise((resolve, reject) => {
      worker.once("error", reject);
      worker.once("online", () => {
        worker.off("error", reject);
        worker.unref();
        resolve(new RemoteStore(worker, shared, log));
      });
    });
  }

  messageSink(): Sink {
    return { write: (batch) => this.addMessages(batch), backlog: () => undefined, close: () => this.settled() };
  }

  eventOutput(): EventOutput {
    return { write: (event, json) => this.addEvent(event, json), flush: () => this.handOver(), backlog: () => undefined,
      close: () => this.settled() };
  }

  listen(listener: StoreListener): void {
    this.listener = listener;
  }

  // Asked after what was handed over, and after what gathered since (answered in order).
  read(question: Question): Promise<Answer> {
    this.handOver();
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const ask = this.asked++;
    return new Promise((resolve, reject) => {
      this.waiting.set(ask, { resolve, reject });
      this.worker.postMessage({ ask, question } satisfies Asked);
    });
  }

  async settled(): Promise<void> {
    await this.read({ op: "counters" }).catch(() => undefined);
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = { http_handover_dropped: this.dropped };
    STORE_COUNTERS.forEach((name, i) => { out[name] = this.shared[1 + i]; });
    return out;
  }

  close(): void {
    this.closed = true;
    void this.worker.terminate();
  }

  private addMessages(batch: MessageBatch): void {
    let length = 0;
    for (let i = 0; i < batch.count; i++) length += batch.storedLength(i);
    if (length === 0) return;
    if (this.behind(length)) {
      this.dropped += batch.count;
      return;
    }
    const block = Buffer.allocUnsafeSlow(length);
    batch.storeRun(0, block, 0);
    this.pending.blocks.push(block.buffer);
    this.pending.counts.push(batch.count);
    this.pending.bytes += length;
  }

  private addEvent(event: SipEvent, json: string): void {
    this.listener?.event(json);
    if (this.behind(json.length)) {
      this.dropped++;
      return;
    }
    const sip = event.sip;
    this.pending.events.push(json);
    this.pending.ids.push(sip?.call_id);
    this.pending.bindings.push(sip?.binding === undefined ? undefined
      : { "@timestamp": event["@timestamp"], event: event.event, sip: { binding: sip.binding }, client: event.client, user_agent: event.user_agent } as SipEvent);
    this.pending.bytes += json.length;
  }

  // More than HANDOVER_BYTES would be on their way to a worker that has not taken them.
  private behind(bytes: number): boolean {
    return this.failure !== undefined || this.handedOver + this.pending.bytes + bytes - this.shared[0] > HANDOVER_BYTES;
  }

  // What gathered since the last handover, transferred (once per batch: the end of the tracker's batch).
  private handOver(): void {
    const h = this.pending;
    if (h.blocks.length === 0 && h.events.length === 0) return;
    this.pending = emptyHandover();
    if (this.failure !== undefined) return;
    this.handedOver += h.bytes;
    this.worker.postMessage(h, h.blocks);
  }

  private answered(reply: Reply): void {
    const w = this.waiting.get(reply.answer);
    if (w === undefined) return;
    this.waiting.delete(reply.answer);
    if (reply.error !== undefined) w.reject(new Error(reply.error));
    else w.resolve(reply.value);
  }
}

function emptyHandover(): Handover {
  return { blocks: [], counts: [], events: [], ids: [], bindings: [], bytes: 0 };
}
