// `siphon replay`: a capture file (or a pcap stream on stdin) through the core,
// one NDJSON envelope per SIP message on stdout or --out, a summary on stderr.
import { Core, type CoreTrap, type MessageBatch, type StreamLimits } from "./core";
import { readCapture } from "./source/capture";
import { ndjsonToFile, ndjsonToStdout } from "./sink/ndjson";
import { allSinks, type Sink } from "./sink/sink";
import { progressOnTerminal } from "./progress";
import { summaryLine } from "./summary";
import { Interrupted } from "./signals";

export interface ReplayOptions {
  input: string;
  out?: string;
  sensor: string;
  agent: string;
  progress: boolean;
  filterProgram?: Uint8Array; // compiled by host/filter
  streams?: StreamLimits;     // TCP flow table bounds (host/core.ts defaults otherwise)
  sinks?: Sink[];             // the outputs (host/outputs.ts); default: NDJSON to out or stdout
  onCore?: (core: Core) => void;   // sees the core once made (metrics, telemetry)
  onTrap?: (trap: CoreTrap) => void; // a frame the core trapped on, skipped (host/traps.ts)
  stopRequested?: () => string | undefined; // a signal's name once one asks the run to stop
  stop?: AbortSignal;         // ends reading a stream (stdin, a FIFO) even while it waits for data
}

export async function replay(options: ReplayOptions): Promise<void> {
  const sink: Sink = allSinks(options.sinks ?? [options.out ? ndjsonToFile(options.out) : ndjsonToStdout()]);
  const core = new Core({ sensor: options.sensor, agent: options.agent, filterProgram: options.filterProgram, ...options.streams,
    onTrap: options.onTrap },
    (batch: MessageBatch) => sink.write(batch));
  options.onCore?.(core);
  const progress = progressOnTerminal(process.stderr, options.progress);
  const started = process.hrtime.bigint();
  let failure: unknown;
  try {
    await readCapture(options.input, core, (bytesRead, totalBytes) => {
      progress.update(bytesRead, totalBytes, core.framesTaken);
      // A stream (tcpdump -U -w - | siphon replay -, or a FIFO) may pause for long: what
      // arrived goes out now, not when a batch fills. Regular files keep their large batches.
      if (totalBytes === undefined) core.flush();
      const signal = options.stopRequested?.();
      if (signal !== undefined) throw new Interrupted(signal);
      return sink.backlog();
    }, options.stop);
  } catch (err) {
    failure = err;
  }
  // Everything read before a failure is still decoded and written.
  core.flush();
  progress.done();
  await sink.close();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stderr.write(summaryLine(core.counters(), seconds, options.filterProgram !== undefined) + "\n");
  if (failure) throw failure;
}
