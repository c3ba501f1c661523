// What every output is to the pipeline: it takes each batch of messages
// synchronously, may ask the source to wait while it catches up, and flushes
// on close. NDJSON, MQTT, HEP: each is one Sink; the call tracker
// (host/calls/publish.ts) is one too, and writes its events through
// EventOutputs: an NDJSON file, an MQTT topic (a LineSink), PostgreSQL.
import type { MessageBatch } from "../core/records";
import type { SipEvent } from "../calls/events";
import type { DescribedEvent } from "../core/event-lines";

export interface Sink {
  // Called once per batch; the batch's views are valid only during the call. Never
  // throws: an output that fails reports it (Failed) and takes nothing more.
  write(batch: MessageBatch): void;
  // A promise to wait on before reading more input, when this output is backed up.
  backlog(): Promise<void> | undefined;
  // Flushes what is queued. Resolves by `deadline` (Date.now() milliseconds) at the
  // latest: what is still held then is given up, counted, and the connection closed.
  close(deadline: number): Promise<void>;
}

// An output that also takes newline-terminated lines that are not envelopes
// (the tracker's events): `count` lines in `lines`, each one message.
export interface LineSink extends Sink {
  writeLines(lines: Uint8Array, count: number): void;
}

// Where the call tracker's events go: each event with its JSON, then a flush per batch.
export interface EventOutput {
  write(event: SipEvent, json: string): void;
  // The same event as the core rendered it: the line's bytes in `source` from `start` to `end`
  // (its closing brace and newline last), `extra` members put before that brace, and the
  // tracker's description of it (valid during the call). The bytes stay as they are until this
  // output's next flush(), and the next line of the batch often follows them in `source`.
  // Outputs that need the event object (call records) have none.
  writeLine?(source: Buffer, start: number, end: number, extra: string, described: DescribedEvent): void;
  flush(): void;                               // end of a batch
  backlog(): Promise<void> | undefined;
  close(deadline: number): Promise<void>;   // by the deadline at the latest (see Sink)
  counters?(): Record<string, number>;
  summary?(): string;                          // its part of the end-of-run summary
}

// What an output that delivers to a broker or collector could not deliver, for the run's failure line.
export interface Shortfall {
  output: string;   // "--mqtt mqtt://sensor:***@broker:1883 (topic siphon/sip)": the password masked
  count: number;    // messages not delivered
  detail: string;   // "81 not acknowledged"
  advice: string;   // what to do
}

// How an output says it failed (host/exits.ts: OutputError, StdoutClosed); the run stops.
export type Failed = (err: Error) => void;

export function allSinks(sinks: Sink[]): Sink {
  return {
    write(batch) {
      for (const sink of sinks) sink.write(batch);
    },
    backlog() {
      const waits = sinks.map((s) => s.backlog()).filter((w): w is Promise<void> => w !== undefined);
      return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
    },
    async close(deadline) {
      await Promise.all(sinks.map((s) => s.close(deadline)));
    },
  };
}

// `work`'s result, or "late" once `deadline` (Date.now() milliseconds) has passed.
export async function byDeadline<T>(work: Promise<T>, deadline: number): Promise<T | "late"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => { timer = setTimeout(() => resolve("late"), Math.max(0, deadline - Date.now())); });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
