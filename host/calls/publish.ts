// The call tracker as a Sink: each batch's messages go through the tracker,
// its events through the blocklist and rate limits, then to every event
// output (NDJSON file or stdout, MQTT topic, call records). Events are written
// once per batch, so a busy capture costs a few writes per batch.
import type { MessageBatch } from "../core/records";
import { byDeadline, type EventOutput, type Failed, type LineSink, type Sink } from "../sink/sink";
import { fileOutput, stdoutOutput, type ByteOutput, type QueueBound } from "../sink/ndjson";
import { OutputError } from "../exits";
import { maskUrlPasswords } from "../redact";
import { Tracker, type TrackerCounters } from "./tracker";
import { DescribedView } from "../core/event-lines";
import type { CoreTracker } from "../core/tracker-core";
import { isoTime } from "./events";
import { observer } from "./message";
import type { EventType, RecordingRef, SipEvent } from "./events";
import { eventObject, type EventDescription } from "./description";
import type { EventLines, DescribedEvent } from "../core/event-lines";
import { EventGate, parseBlocklist, parseRate } from "./ratelimit";
import { applySettings, defaultSettings, LIMITS, TIMEOUTS, type TrackerSettings } from "./settings";
import { boundTrackerHeap } from "./heap";
import { cdrWriter } from "../sink/postgres";
import type { Logger } from "../log";
import { CallQuality } from "./media";

export interface EventsSink extends Sink {
  counters(): TrackerCounters;
  readonly gate: EventGate;    // its blocklist can change at run time (the web view's control)
  written(): number;
}

// `anonymize` (--anonymize, host/privacy) makes what leaves of each event; the gate reads it as found.
export function eventsSink(makeTracker: (emit: (event: SipEvent, atUs: number) => void) => Tracker, gate: EventGate, outputs: EventOutput[],
  report?: (line: string) => void, recordingOf?: EventsConfig["recordingOf"],
  anonymize?: (event: SipEvent) => SipEvent): EventsSink {
  const delivery = new EventDelivery(gate, outputs, recordingOf, anonymize);
  const quality = new CallQuality();
  // The `counters` events, which carry the outputs' own counters: built by the tracker as objects.
  const tracker = makeTracker((found, atUs) => delivery.object(found, atUs));
  // Every other event as the tracker describes it. Unless events are rewritten (--anonymize),
  // the core renders its line (host/core/event-lines.ts), with the renderer of the last batch's
  // core instance, for every output that takes lines; the others (call records) get the object,
  // built only for them, its text taken from the line. An event the core declines (a number it
  // would not write as JavaScript does, text past its regions) goes out as the object and its
  // JSON.stringify, as every event does with --anonymize.
  let lines: EventLines | undefined;
  tracker.lines = (d) => {
    if (d.type === "call-end" || d.type === "call-attempt") d.rtp = quality.streamsFor(d.callId);
    const render = lines === undefined ? undefined : (into: EventLines) => into.append(d);
    delivery.described(d.type, d.client.ip, d.atUs, () => d.callId, lines, render, d, () => d);
    return true;
  };
  const observed = observer();
  return {
    counters: () => tracker.counters(),
    gate,
    written: () => delivery.written,
    write(batch: MessageBatch) {
      lines = batch.eventLines;
      quality.take(batch);
      const cursor = batch.cursor();
      for (let i = 0; i < batch.count; i++) tracker.observe(observed(cursor.select(i)));
      delivery.release(lines);
    },
    backlog() {
      const waits = outputs.map((o) => o.backlog()).filter((w): w is Promise<void> => w !== undefined);
      return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
    },
    async close(deadline) {
      tracker.finish();
      delivery.release(lines);
      await Promise.all(outputs.map((o) => o.close(deadline)));
      report?.(eventsSummary(delivery.written, gate, tracker.counters()));
      for (const o of outputs) if (o.summary) report?.(`siphon: ${o.summary()}`);
    },
  };
}

// The same sink over the core's tracker (--tracker core, assembly/track.ts): the core tracks each
// push's messages and describes each event at R_EVENT, its rtp member in (assembly/quality.ts, the
// core's CallQuality); here, as above, the gate and blocklist decide, the line is rendered and
// written, or the object built for the outputs that take objects. The `counters` events are built here as objects, as the JavaScript
// tracker builds them, with the core's counters read when the event comes.
export function coreEventsSink(gate: EventGate, outputs: EventOutput[], sensor: string | undefined,
  extraCounters: () => Record<string, number>, report?: (line: string) => void, recordingOf?: EventsConfig["recordingOf"],
  anonymize?: (event: SipEvent) => SipEvent, log?: Logger): EventsSink {
  const delivery = new EventDelivery(gate, outputs, recordingOf, anonymize);
  let core: CoreTracker | undefined;
  let failureTold = false;
  let held: TrackerCounters | undefined;   // the last instance's counters, when a trap replaced it
  let view: DescribedView | undefined;
  const counters = (): TrackerCounters => (core === undefined ? held ?? NO_COUNTERS : core.counters() as unknown as TrackerCounters);
  const deliverCounters = (lines: EventLines): void => {
    const atUs = lines.describedAtUs;
    delivery.object({
      "@timestamp": isoTime(atUs),
      event: { kind: "metric", type: "counters", sequence: lines.describedSequence },
      ...(sensor ? { observer: { name: sensor } } : {}),
      counters: { ...counters(), ...extraCounters() },
    }, atUs);
  };
  // The event being delivered, and what of it is read only when needed: its client's address
  // (for a rate-limited type), its Call-ID (for a recording), its whole description (for an object).
  let current: EventLines | undefined;
  const clientIp = (): string => current?.describedClientIp ?? "";
  const callId = (): string => current?.describedCallId ?? "";
  const description = (): EventDescription => (current as EventLines).described() as unknown as EventDescription;
  const deliver = (lines: EventLines): void => {
    current = lines;
    const type = lines.describedType;
    if (type === "counters") return deliverCounters(lines);
    const d = (view ??= new DescribedView(lines)).next();
    delivery.described(type as EventType, clientIp, lines.describedAtUs, callId, lines, appendDescribed, d, description);
  };
  return {
    counters,
    gate,
    written: () => delivery.written,
    write(batch: MessageBatch) {
      const tracker = batch.coreTracker;
      if (tracker === undefined) throw new Error("--tracker core: the core was configured without its tracker; this is a bug");
      if (tracker !== core) {
        if (core !== undefined) held = counters();
        core = tracker;
        view = undefined;
      }
      tracker.track(batch.count, batch.mediaEndCount, deliver);
      if (tracker.failed !== undefined && !failureTold) {
        failureTold = true;
        log?.error(`--tracker core: the core's tracker trapped (${tracker.failed.message}) and tracks no more messages; ` +
          "run with --tracker js and report the capture");
      }
      delivery.release(current);
    },
    backlog() {
      const waits = outputs.map((o) => o.backlog()).filter((w): w is Promise<void> => w !== undefined);
      return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
    },
    async close(deadline) {
      core?.finish(deliver);
      delivery.release(current);
      const lost = core?.textLost ?? 0;
      if (lost > 0) log?.warn(`--tracker core: ${lost} strings of calls and registrations were not kept (the tracker's text arena was full); their events lack them`);
      await Promise.all(outputs.map((o) => o.close(deadline)));
      report?.(eventsSummary(delivery.written, gate, counters()));
      for (const o of outputs) if (o.summary) report?.(`siphon: ${o.summary()}`);
    },
  };
}

const appendDescribed = (lines: EventLines): boolean => lines.appendDescribed();

const NO_COUNTERS: TrackerCounters = {
  messages: 0, calls_held: 0, calls_evicted: 0, bindings_held: 0, bindings_evicted: 0, transactions_held: 0,
  transactions_evicted: 0, challenges_held: 0, challenges_evicted: 0, timers_armed: 0, events: 0,
};

// What both sinks do with an event once it is decided: the blocklist and rate limits, the
// recording's member, then to each output its line (when the core rendered one) or its object.
class EventDelivery {
  written = 0;
  // Unless events are rewritten (--anonymize), the core renders the line for the outputs that take lines.
  readonly rendering: boolean;

  constructor(private readonly gate: EventGate, private readonly outputs: EventOutput[],
    private readonly recordingOf: EventsConfig["recordingOf"], private readonly anonymize: ((event: SipEvent) => SipEvent) | undefined) {
    this.rendering = anonymize === undefined && outputs.some((o) => o.writeLine !== undefined);
  }

  // An event built as an object (the counters).
  object(found: SipEvent, atUs: number): void {
    if (!this.gate.pass(found, atUs)) return;
    this.written++;
    const event = this.anonymize ? this.anonymize(found) : found;
    const json = JSON.stringify(event);
    for (const output of this.outputs) output.write(event, json);
  }

  // A described event, its line appended to `lines` by `render` once the gate passed it (unless
  // either is undefined); `description` gives what the object is built from, for the outputs
  // that take objects (the call records), its text then taken from the line. An event the core
  // declines (a number it would not write as JavaScript does, text past its regions) goes out as
  // the object and its JSON.stringify, as every event does with --anonymize.
  described(type: EventType, clientIp: string | (() => string), atUs: number, callId: () => string, lines: EventLines | undefined,
    render: ((into: EventLines) => boolean) | undefined, d: DescribedEvent, description: () => EventDescription): void {
    if (!this.gate.passes(type, clientIp, atUs)) return;
    const renderer = this.rendering && lines !== undefined && render !== undefined ? this.appendLine(lines, render) : undefined;
    const recording = this.recordingOf && type.startsWith("call-") ? this.recordingOf(callId()) : undefined;
    this.written++;
    const extra = recording === undefined ? "" : `,"siphon":${JSON.stringify({ recording })}`;
    let event: SipEvent | undefined;
    let json: string | undefined;
    for (const output of this.outputs) {
      if (renderer && output.writeLine) {
        output.writeLine(renderer.memory, renderer.start, renderer.end, extra, d);
        continue;
      }
      event ??= this.anonymize ? this.anonymize(objectOf(description(), recording)) : objectOf(description(), recording);
      json ??= renderer ? lineText(renderer, extra) : JSON.stringify(event);
      output.write(event, json);
    }
  }

  // The event's line after the lines of the events before it, which stay in the core's memory
  // until the outputs flush (EventOutput.writeLine): when half the region is used, or the line
  // does not fit after them, the outputs are flushed and it goes at the region's start.
  private appendLine(lines: EventLines, render: (into: EventLines) => boolean): EventLines | undefined {
    if (lines.crowded) this.release(lines);
    if (render(lines)) return lines;
    if (lines.appended === 0) return undefined;
    this.release(lines);
    return render(lines) ? lines : undefined;
  }

  // Every output flushed, so that none holds a line of `lines` any more; then they are let go.
  release(lines: EventLines | undefined): void {
    for (const output of this.outputs) output.flush();
    lines?.rewind();
  }
}

// The event as the object path builds it, with its recording.
function objectOf(d: EventDescription, recording: RecordingRef | undefined): SipEvent {
  const event = eventObject(d);
  if (recording !== undefined) event.siphon = { recording };
  return event;
}

// The core's last line as text, `extra` members put in, without its newline: JSON.stringify of objectOf().
function lineText(lines: EventLines, extra: string): string {
  const text = lines.memory.toString("utf8", lines.start, lines.end - 2);
  return `${text}${extra}}`;
}

// One line for stderr at the end: what was written, held back and evicted.
export function eventsSummary(written: number, gate: EventGate, c: TrackerCounters): string {
  const evicted = c.calls_evicted + c.bindings_evicted + c.transactions_evicted + c.challenges_evicted;
  return `siphon: ${written} events written, ${gate.suppressed} suppressed by --event-rate, ${gate.blockedTotal} blocked by --no-events; ` +
    `${c.calls_held} calls and ${c.bindings_held} bindings held at the end, ${evicted} entries evicted (--call-limit)`;
}

const FLUSH_BYTES = 1 << 16;

// NDJSON to a file, or to stdout for '-'. Lines are gathered and written in
// blocks; stdout as a pipe is written through the stream so it can push back.
export function ndjsonEvents(path: string, failed: Failed, bound: QueueBound): EventOutput {
  return linesInBlocks(path === "-" ? stdoutOutput(failed, bound) : fileOutput(path, "--events", failed, bound));
}

function linesInBlocks(out: ByteOutput): EventOutput {
  const block = new LineBlock();
  return {
    write(_event, json) {
      block.add(json);
      if (block.bytes > FLUSH_BYTES) this.flush();
    },
    writeLine(source, start, end, extra) {
      block.addLine(source, start, end, extra);
      if (block.bytes > FLUSH_BYTES) this.flush();
    },
    // The bytes go straight from the block (or the core's memory): a ByteOutput copies what it keeps.
    flush() {
      if (block.count > 0) out.write(block.lines());
      block.clear();
    },
    backlog: () => out.backlog(),
    close: (deadline) => out.close(deadline),
  };
}

// Event lines gathered for one write. The core appends the lines of a batch's events one after
// another in its memory (EventLines.appended), where they stay until the outputs flush: a run of
// them is kept as where it is, not copied line by line; anything else is encoded into a buffer
// kept from block to block (no string joined, no buffer per line), the run copied in first.
class LineBlock {
  private buf = Buffer.allocUnsafe(FLUSH_BYTES * 2);
  private used = 0;
  private run: Buffer | undefined;   // lines in the core's memory, from runStart to runEnd, after the buffer's
  private runStart = 0;
  private runEnd = 0;
  count = 0;

  get bytes(): number {
    return this.used + this.runEnd - this.runStart;
  }

  add(json: string): void {
    this.settle();
    this.room(json.length * 3 + 1);  // UTF-8 bytes of a UTF-16 unit, and the newline
    this.used += this.buf.write(json, this.used);
    this.buf[this.used++] = 0x0a;
    this.count++;
  }

  // A line the core rendered (see EventOutput.writeLine), with `extra` before its closing brace.
  addLine(source: Buffer, start: number, end: number, extra: string): void {
    this.count++;
    if (extra === "" && this.run === source && start === this.runEnd) {
      this.runEnd = end;
      return;
    }
    this.settle();
    if (extra === "") {
      [this.run, this.runStart, this.runEnd] = [source, start, end];
      return;
    }
    this.room(end - start + extra.length * 3);
    this.copy(source, start, end - 2);
    this.used += this.buf.write(extra, this.used);
    this.buf[this.used++] = 0x7d;
    this.buf[this.used++] = 0x0a;
  }

  // The block's bytes, valid until clear().
  lines(): Uint8Array {
    if (this.used === 0 && this.run !== undefined) return this.run.subarray(this.runStart, this.runEnd);
    this.settle();
    return this.buf.subarray(0, this.used);
  }

  // The block's bytes as a Buffer of their own, and the block cleared.
  take(): Buffer {
    const lines = Buffer.from(this.lines());
    this.clear();
    return lines;
  }

  clear(): void {
    this.used = 0;
    this.run = undefined;
    this.runStart = this.runEnd = 0;
    this.count = 0;
  }

  // The run copied into the buffer, after what is there.
  private settle(): void {
    if (this.run === undefined) return;
    this.room(this.runEnd - this.runStart);
    this.copy(this.run, this.runStart, this.runEnd);
    this.run = undefined;
    this.runStart = this.runEnd = 0;
  }

  // TypedArray set of a view, not Buffer.copy: copy's argument checks cost more than the bytes of a line.
  private copy(source: Buffer, start: number, end: number): void {
    this.buf.set(source.subarray(start, end), this.used);
    this.used += end - start;
  }

  private room(most: number): void {
    if (this.used + most <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + most));
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }
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
  const block = new LineBlock();
  return {
    write(_event, json) {
      block.add(json);
    },
    writeLine(source, start, end, extra) {
      block.addLine(source, start, end, extra);
    },
    flush() {
      if (block.count === 0) return;
      const count = block.count;
      publisher.writeLines(block.take(), count);
    },
    backlog: () => publisher.backlog(),
    close: (deadline) => publisher.close(deadline),
  };
}

export interface EventsConfig {
  events?: string;            // NDJSON file or '-'
  stdout: QueueBound;         // --stdout-queue-mb: stdout or a FIFO
  eventsTopic?: string;       // an MQTT topic, through publish
  blocked: string;            // --no-events
  rate: string;               // --event-rate
  timeouts?: string;          // --call-timeout
  limits?: string;            // --call-limit
  cdr?: string;               // --cdr URL
  web?: EventOutput;          // the web view's store (--http)
  sensor?: string;
  log?: Logger;               // where an output reports what it skipped
  recordingOf?: (callId: string) => RecordingRef | undefined; // --record: a recorded call's files
  anonymize?: (event: SipEvent) => SipEvent;   // --anonymize
  trackerCore?: boolean;      // --tracker core: the core tracks (assembly/track.ts), configured with trackerSettings()
}

// --call-timeout and --call-limit over the defaults.
export function trackerSettings(timeouts: string | undefined, limits: string | undefined): TrackerSettings {
  let settings = defaultSettings();
  if (timeouts) settings = applySettings(settings, timeouts, TIMEOUTS, "--call-timeout");
  if (limits) settings = applySettings(settings, limits, LIMITS, "--call-limit");
  return settings;
}

// The events sink a run's options ask for, or undefined when they ask for none.
// `publish` opens an MQTT sink on a topic of the run's broker (the configuration
// refuses --events-topic without --mqtt).
export function openEventsSink(c: EventsConfig, failed: Failed, publish: (topic: string) => LineSink): EventsSink | undefined {
  if (c.events === undefined && c.eventsTopic === undefined && c.cdr === undefined && c.web === undefined) return undefined;
  const settings = trackerSettings(c.timeouts, c.limits);
  const gate = new EventGate(parseBlocklist(c.blocked), parseRate(c.rate));
  const outputs: EventOutput[] = [];
  if (c.events !== undefined) outputs.push(ndjsonEvents(c.events, failed, c.stdout));
  if (c.eventsTopic !== undefined) outputs.push(mqttEvents(publish(c.eventsTopic)));
  if (c.cdr !== undefined) outputs.push(boundedCdr(cdrWriter({ url: c.cdr, log: c.log }), c.cdr, failed));
  if (c.web !== undefined) outputs.push(c.web);
  const counters = (): Record<string, number> => Object.assign({}, gate.counters(), ...outputs.map((o) => o.counters?.() ?? {}));
  // Events that only feed the web view are no output of the user's: no line of them in the summary.
  const named = outputs.length > (c.web === undefined ? 0 : 1);
  const report = named ? (line: string): void => { process.stderr.write(`${line}\n`); } : undefined;
  boundTrackerHeap();
  if (c.trackerCore) return coreEventsSink(gate, outputs, c.sensor, counters, report, c.recordingOf, c.anonymize, c.log);
  return eventsSink((emit) => new Tracker(emit, settings, c.sensor, counters), gate, outputs,
    named ? (line) => process.stderr.write(`${line}\n`) : undefined, c.recordingOf, c.anonymize);
}
