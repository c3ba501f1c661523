// The call tracker as a Sink: each batch's messages go through the tracker,
// its events through the blocklist and rate limits, then to every event
// output (NDJSON file or stdout, MQTT topic, call records). Events are written
// once per batch, so a busy capture costs a few writes per batch.
import type { MessageBatch } from "../core/records";
import { byDeadline, type EventOutput, type Failed, type LineSink, type Sink } from "../sink/sink";
import { fileOutput, stdoutOutput, type ByteOutput } from "../sink/ndjson";
import { OutputError } from "../exits";
import { maskUrlPasswords } from "../redact";
import { Tracker } from "./tracker";
import { observe } from "./message";
import type { SipEvent } from "./events";
import { EventGate, parseBlocklist, parseRate } from "./ratelimit";
import { applySettings, defaultSettings, LIMITS, TIMEOUTS } from "./settings";
import { cdrWriter } from "../sink/postgres";
import type { Logger } from "../log";

export interface EventsSink extends Sink {
  readonly tracker: Tracker;
  written(): number;
}

// `anonymize` (--anonymize, host/privacy) makes what leaves of each event; the gate reads it as found.
export function eventsSink(makeTracker: (emit: (event: SipEvent) => void) => Tracker, gate: EventGate, outputs: EventOutput[],
  report?: (line: string) => void, anonymize: (event: SipEvent) => SipEvent = (event) => event): EventsSink {
  let written = 0;
  const tracker = makeTracker((found) => {
    if (!gate.pass(found)) return;
    written++;
    const event = anonymize(found);
    const json = JSON.stringify(event);
    for (const output of outputs) output.write(event, json);
  });
  const flush = (): void => {
    for (const output of outputs) output.flush();
  };
  return {
    tracker,
    written: () => written,
    write(batch: MessageBatch) {
      for (let i = 0; i < batch.count; i++) tracker.observe(observe(batch.message(i, true)));
      flush();
    },
    backlog() {
      const waits = outputs.map((o) => o.backlog()).filter((w): w is Promise<void> => w !== undefined);
      return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
    },
    async close(deadline) {
      tracker.finish();
      flush();
      await Promise.all(outputs.map((o) => o.close(deadline)));
      report?.(eventsSummary(written, gate, tracker));
      for (const o of outputs) if (o.summary) report?.(`siphon: ${o.summary()}`);
    },
  };
}

// One line for stderr at the end: what was written, held back and evicted.
export function eventsSummary(written: number, gate: EventGate, tracker: Tracker): string {
  const c = tracker.counters();
  const evicted = c.calls_evicted + c.bindings_evicted + c.transactions_evicted + c.challenges_evicted;
  return `siphon: ${written} events written, ${gate.suppressed} suppressed by --event-rate, ${gate.blockedTotal} blocked by --no-events; ` +
    `${c.calls_held} calls and ${c.bindings_held} bindings held at the end, ${evicted} entries evicted (--call-limit)`;
}

const FLUSH_BYTES = 1 << 16;

// NDJSON to a file, or to stdout for '-'. Lines are gathered and written in
// blocks; stdout as a pipe is written through the stream so it can push back.
export function ndjsonEvents(path: string, failed: Failed): EventOutput {
  return linesInBlocks(path === "-" ? stdoutOutput(failed) : fileOutput(path, "--events", failed));
}

function linesInBlocks(out: ByteOutput): EventOutput {
  let pending: string[] = [];
  let pendingBytes = 0;
  return {
    write(_event, json) {
      pending.push(json);
      pendingBytes += json.length + 1;
      if (pendingBytes > FLUSH_BYTES) this.flush();
    },
    flush() {
      if (pending.length === 0) return;
      out.write(Buffer.from(pending.join("\n") + "\n"));
      pending = [];
      pendingBytes = 0;
    },
    backlog: () => out.backlog(),
    close: (deadline) => out.close(deadline),
  };
}

// The call records' writer (host/sink/postgres.ts) within the flush deadline: a
// database that refuses, or does not answer in time, is reported as this output's failure.
function boundedCdr(writer: EventOutput, url: string, failed: Failed): EventOutput {
  return {
    write: (event, json) => writer.write(event, json),
    flush: () => writer.flush(),
    backlog: () => writer.backlog(),
    counters: () => writer.counters?.() ?? {},
    summary: () => writer.summary?.() ?? "",
    async close(deadline) {
      try {
        if (await byDeadline(writer.close(deadline), deadline) !== "late") return;
        const queued = writer.counters?.().cdr_rows_queued ?? 0;
        failed(new OutputError(`--cdr ${maskUrlPasswords(url)}: PostgreSQL did not take every call record within --flush-timeout` +
          `${queued > 0 ? ` (${queued} not written)` : ""}: check that the server is up and not locked, or raise --flush-timeout`));
      } catch (err) {
        failed(new OutputError((err as Error).message));
      }
    },
  };
}

// Events on an MQTT topic through the MQTT sink (host/sink/mqtt.ts), which
// takes NDJSON lines: each event is one PUBLISH, queued and retried as
// envelopes are.
export function mqttEvents(publisher: LineSink): EventOutput {
  let pending: string[] = [];
  return {
    write(_event, json) {
      pending.push(json);
    },
    flush() {
      if (pending.length === 0) return;
      const lines = Buffer.from(pending.join("\n") + "\n");
      const count = pending.length;
      pending = [];
      publisher.writeLines(lines, count);
    },
    backlog: () => publisher.backlog(),
    close: (deadline) => publisher.close(deadline),
  };
}

export interface EventsConfig {
  events?: string;            // NDJSON file or '-'
  eventsTopic?: string;       // an MQTT topic, through publish
  blocked: string;            // --no-events
  rate: string;               // --event-rate
  timeouts?: string;          // --call-timeout
  limits?: string;            // --call-limit
  cdr?: string;               // --cdr URL
  sensor?: string;
  log?: Logger;               // where an output reports what it skipped
  anonymize?: (event: SipEvent) => SipEvent;   // --anonymize
}

// The events sink a run's options ask for, or undefined when they ask for none.
// `publish` opens an MQTT sink on a topic of the run's broker (the configuration
// refuses --events-topic without --mqtt).
export function openEventsSink(c: EventsConfig, failed: Failed, publish: (topic: string) => LineSink): EventsSink | undefined {
  if (c.events === undefined && c.eventsTopic === undefined && c.cdr === undefined) return undefined;
  let settings = defaultSettings();
  if (c.timeouts) settings = applySettings(settings, c.timeouts, TIMEOUTS, "--call-timeout");
  if (c.limits) settings = applySettings(settings, c.limits, LIMITS, "--call-limit");
  const gate = new EventGate(parseBlocklist(c.blocked), parseRate(c.rate));
  const outputs: EventOutput[] = [];
  if (c.events !== undefined) outputs.push(ndjsonEvents(c.events, failed));
  if (c.eventsTopic !== undefined) outputs.push(mqttEvents(publish(c.eventsTopic)));
  if (c.cdr !== undefined) outputs.push(boundedCdr(cdrWriter({ url: c.cdr, log: c.log }), c.cdr, failed));
  const counters = (): Record<string, number> => Object.assign({}, gate.counters(), ...outputs.map((o) => o.counters?.() ?? {}));
  return eventsSink((emit) => new Tracker(emit, settings, c.sensor, counters), gate, outputs, (line) => process.stderr.write(`${line}\n`),
    c.anonymize);
}
