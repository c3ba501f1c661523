// One run, as replay and capture both make it: the options that size the core
// checked before anything starts (filter, tables, trap directory), the service
// started (logger, outputs, stop signals, metrics), one core feeding every
// output, the source read until it ends or is stopped, then the last batch
// flushed, the outputs closed by the deadline, and the run ended the one way
// service.ts ends every run (summary, failure line, exit code).
import { hostname } from "node:os";
import { Core, coreMemoryProblem, type StreamLimits } from "../core";
import { allSinks, type Sink } from "../sink";
import { compileFilter, filterFromOptions, FilterError } from "../filter";
import { UsageError } from "../exits";
import type { Config } from "./config";
import { startService, type Service } from "./service";
import { trapDirectory, trapReporter } from "./traps";
import { sensorOf } from "./outputs";
import { trackerSettings } from "../calls";

declare const SIPHON_VERSION: string;
export const AGENT = `siphon/${SIPHON_VERSION}`;

// What a command's source gets from the run.
export interface Run {
  config: Config;
  service: Service;
  // Makes the core and joins the outputs into one sink. Called once the source is
  // ready: live capture opens the outputs only after it has dropped root. `sourceCounters`
  // (live capture's per-interface packets and drops) join the core's in /metrics and telemetry.
  pipeline(sourceCounters?: () => Record<string, number>): Pipeline;
}

export interface Pipeline {
  core: Core;
  sink: Sink;                     // every output, as one
  // Pushes what the core still holds and closes the outputs by the run's deadline.
  end(): Promise<void>;
}

// How reading ended: a failure (or none), lines for the summary (capture's interfaces), and
// how many frames the source gave the core before it ended.
export interface Outcome {
  failure?: unknown;
  lines?: string[];
  frames?: number;
}

export async function run(config: Config, command: "replay" | "capture" | "view", read: (run: Run) => Promise<Outcome>): Promise<number> {
  const filterProgram = filterFromOptions(config.str("filter"), config.str("filter-file"))?.program;
  const recordFilterProgram = recordFilter(config.str("record-filter"));
  const streams = streamLimits(config);
  const keepTraps = trapDirectory(config.str("keep-traps"));
  const service = await startService(config, command);
  const pipeline = (sourceCounters?: () => Record<string, number>): Pipeline => {
    const outputs = service.outputs();
    const sink = allSinks(outputs.sinks);
    const core = new Core({ sensor: config.str("sensor") ?? hostname(), agent: AGENT, renderJson: outputs.envelopes, filterProgram, recordFilterProgram,
      mediaPackets: config.has("record"), callKeys: tracksCalls(config), dialogSpans: readsDialogs(config), allFields: false, ...streams,
      onTrap: trapReporter(keepTraps, service.log) }, (batch) => sink.write(batch));
    service.attach(sourceCounters ? { counters: () => ({ ...core.counters(), ...sourceCounters() }) } : core);
    return {
      core,
      sink,
      async end() {
        core.finish();
        await sink.close(service.deadline());
      },
    };
  };
  let outcome: Outcome;
  try {
    outcome = await read({ config, service, pipeline });
  } catch (err) {
    outcome = { failure: err };
  }
  return service.finish(outcome.failure, outcome.lines);
}

// --record-filter compiled as --filter is; its errors name the option.
function recordFilter(expression: string | undefined): Uint8Array | undefined {
  if (expression === undefined) return undefined;
  try {
    return compileFilter(expression).program;
  } catch (err) {
    if (err instanceof FilterError) throw new UsageError(`--record-filter: ${err.message}`);
    throw err;
  }
}

// The core's table sizes, refused (exit 2) before anything starts when together
// they need more memory than the core may have; each one alone is in range (config.ts).
function streamLimits(config: Config): StreamLimits {
  const limits = { tcpFlows: config.num("tcp-flows"), tcpBuffers: config.num("tcp-buffers"), tcpIdle: config.num("tcp-idle"),
    tcpPartialIdle: config.num("tcp-partial-idle"), maxBody: config.num("max-body"),
    defragSlots: config.num("defrag-slots"), defragTimeout: config.num("defrag-timeout"), vxlanPorts: vxlanPorts(config),
    mediaCalls: mediaCalls(config), mediaEndpoints: config.num("media-endpoints"), mediaIdle: config.num("media-idle"),
    tracker: config.str("tracker") === "core" && tracksCalls(config)
      ? { ...trackerSettings(config.str("call-timeout"), config.str("call-limit")), observer: sensorOf(config) } : undefined };
  const tooLarge = coreMemoryProblem(limits);
  if (tooLarge !== undefined) throw new UsageError(tooLarge);
  return limits;
}

// Whether the run opens the events sink (host/calls/publish.ts openEventsSink: events, an events
// topic, call records or the web view): only then is the core's tracker configured, so that a
// plain replay reserves nothing for it.
function tracksCalls(config: Config): boolean {
  return (["events", "events-topic", "cdr", "http"] as const).some((option) => config.has(option)) || config.command === "view";
}

// The media table's slots: none unless an output reads what it measures (the events' rtp.* fields,
// which call records and the web view take too, or the recordings) or --media-calls is given. A
// replay or capture that only sends envelopes or HEP then neither follows RTP (on the bench's
// media workload a fifth of the time) nor, live, takes it through the BPF filter at all.
export function mediaCalls(config: Config): number {
  return config.given("media-calls") || tracksCalls(config) || config.has("record") ? config.num("media-calls") : 0;
}

// Whether an output reads the From and To tags (the trackers, and the recorder, which starts a
// recording at an INVITE without a To tag); the media table, which reads them too, is the core's to know.
export function readsDialogs(config: Config): boolean {
  return tracksCalls(config) || config.has("record");
}

// Each port is checked by its option row; at most two fit the core's configuration.
function vxlanPorts(config: Config): number[] | undefined {
  const ports = config.list("vxlan-port").map(Number);
  if (ports.length === 0) return undefined;
  if (ports.length > 2) throw new UsageError(`--vxlan-port: ${ports.length} ports given; at most 2 are read`);
  return ports;
}
