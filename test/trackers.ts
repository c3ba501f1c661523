// Both call trackers over the same core and the same batches: the JavaScript tracker
// (host/calls/tracker.ts, the specification) and the core's (--tracker core,
// assembly/track.ts), each through its events sink, their events as NDJSON lines.
import { Core } from "../host/core";
import { readCapture } from "../host/source";
import { coreEventsSink, eventsSink } from "../host/calls/publish";
import { Tracker } from "../host/calls/tracker";
import { EventGate, parseBlocklist, parseRate } from "../host/calls/ratelimit";
import { defaultSettings, type TrackerSettings } from "../host/calls/settings";
import type { EventOutput } from "../host/sink/sink";
import { sip, type Frame } from "./helpers";
import type { Observed } from "../host/calls/message";

export interface Tracked {
  js: string[];
  core: string[];
}

// An output keeping each event's line as it would be written: its bytes, one char each (latin1),
// so that bytes that are not UTF-8 are not made alike by decoding them.
function lineCollector(lines: string[]): EventOutput {
  return {
    write: (_event, json) => { lines.push(Buffer.from(json).toString("latin1")); },
    writeLine: (source, start, end, extra) => {
      lines.push(`${source.toString("latin1", start, end - 2)}${Buffer.from(extra).toString("latin1")}}`);
    },
    flush: () => undefined,
    backlog: () => undefined,
    close: async () => undefined,
  };
}

// The events of both trackers for a capture file.
export async function trackCapture(path: string, settings: Partial<TrackerSettings> = {}, rate?: string): Promise<Tracked> {
  const run = trackers(settings, rate);
  // Damaged captures end early: what was read still counts.
  await readCapture(path, run.core, () => undefined).catch(() => undefined);
  return run.end();
}

// The same for frames, at once.
export function trackFrames(frames: Frame[], settings: Partial<TrackerSettings> = {}, rate?: string): Tracked {
  const run = trackers(settings, rate);
  for (const f of frames) {
    run.core.frame(f.data, 0, f.data.length, f.origLen ?? f.data.length, f.linkType ?? 1, f.sec ?? 1795428000, f.nsec ?? 0, 0);
  }
  return run.end();
}

// One core whose batches go to both sinks; end() flushes it and closes them (their last events
// come before close() first waits, so they are in by the time it returns).
function trackers(settings: Partial<TrackerSettings>, rate = "20,300,3000", sensor = "t"): { core: Core; end(): Tracked } {
  const full = { ...defaultSettings(), ...settings };
  const tracked: Tracked = { js: [], core: [] };
  const gates = [new EventGate(parseBlocklist(""), parseRate(rate)), new EventGate(parseBlocklist(""), parseRate(rate))];
  const js = eventsSink((emit) => new Tracker(emit, full, sensor, () => gates[0].counters()), gates[0], [lineCollector(tracked.js)]);
  const core = coreEventsSink(gates[1], [lineCollector(tracked.core)], sensor, () => gates[1].counters());
  const instance = new Core({ sensor, agent: "t", renderJson: false, tracker: { ...full, observer: sensor } }, (batch) => {
    js.write(batch);
    core.write(batch);
  });
  return {
    core: instance,
    end() {
      instance.flush();
      void js.close(Date.now() + 1000);
      void core.close(Date.now() + 1000);
      return tracked;
    },
  };
}

// The first line where they part, with both lines, or undefined when they are the same.
export function firstDifference(t: Tracked): string | undefined {
  const n = Math.max(t.js.length, t.core.length);
  for (let i = 0; i < n; i++) {
    if (t.js[i] !== t.core[i]) return `event ${i + 1} of ${t.js.length} (core: ${t.core.length}):\n  js:   ${t.js[i]}\n  core: ${t.core[i]}`;
  }
  return undefined;
}

// The SIP text a summary is read from. A tag goes into its header's value, in place of one the
// value carries already (a summary may give the tag alone).
export function sipOf(m: Observed): string {
  const tagged = (value: string, tag: string): string => value.replace(/;tag=[^;]*$/, "") + (tag === "" ? "" : `;tag=${tag}`);
  const lines = [
    m.isRequest ? `${m.method} sip:service@example.com SIP/2.0` : `SIP/2.0 ${String(m.status).padStart(3, "0")} ${m.reason}`,
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKrules", `From: ${tagged(m.from, m.fromTag)}`, `To: ${tagged(m.to, m.toTag)}`,
  ];
  if (m.callId !== "") lines.push(`Call-ID: ${m.callId}`);
  lines.push(`CSeq: ${m.cseq} ${m.method}`);
  if (m.contact !== "") lines.push(`Contact: ${m.contact}`);
  if (m.expires >= 0) lines.push(`Expires: ${m.expires}`);
  if (m.userAgent !== "") lines.push(`${m.isRequest ? "User-Agent" : "Server"}: ${m.userAgent}`);
  if (m.reasonHeader !== "") lines.push(`Reason: ${m.reasonHeader}`);
  if (m.xCid !== "") lines.push(`X-CID: ${m.xCid}`);
  if (m.sessionId !== "") lines.push(`Session-ID: ${m.sessionId}`);
  if (m.chargingVector !== "") lines.push(`P-Charging-Vector: ${m.chargingVector}`);
  lines.push("Content-Length: 0");
  return sip(lines);
}

