// What every output is to the pipeline: it takes each batch of messages
// synchronously, may ask the source to wait while it catches up, and flushes
// on close. NDJSON, MQTT, HEP, the call tracker: each is one Sink.
import type { MessageBatch } from "../core";

export interface Sink {
  // Called once per batch; the batch's views are valid only during the call.
  write(batch: MessageBatch): void;
  // A promise to wait on before reading more input, when this output is backed up.
  backlog(): Promise<void> | undefined;
  // Flushes what is queued; resolves when done (or the sink's own deadline passed).
  close(): Promise<void>;
}

export function allSinks(sinks: Sink[]): Sink {
  return {
    write(batch) {
      for (const sink of sinks) sink.write(batch);
    },
    backlog() {
      const waits = sinks.map((s) => s.backlog()).filter((w): w is Promise<void> => w !== undefined);
      return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
    },
    async close() {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}
