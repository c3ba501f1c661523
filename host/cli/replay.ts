// `siphon replay`: a capture file (or a pcap stream on stdin) through the core,
// one NDJSON envelope per SIP message on stdout or --out. The summary and the
// exit code are the service's (host/service.ts).
import { closeSync, openSync, readSync } from "node:fs";
import { Core, type CoreTrap, type MessageBatch, type StreamLimits } from "../core";
import { CaptureParser, readCapture } from "../source/file";
import { allSinks, type Sink } from "../sink/sink";
import { progressOnTerminal } from "./progress";
import { Interrupted } from "./signals";
import { NothingDecodable } from "../exits";
import { linkTypeName } from "../source/live";

export interface ReplayOptions {
  input: string;
  sensor: string;
  agent: string;
  progress: boolean;
  filterProgram?: Uint8Array; // compiled by host/filter
  streams?: StreamLimits;     // TCP flow table bounds (host/core.ts defaults otherwise)
  sinks: Sink[];              // the outputs (host/outputs.ts)
  onCore?: (core: Core) => void;   // sees the core once made (metrics, telemetry)
  onTrap?: (trap: CoreTrap) => void; // a frame the core trapped on, skipped (host/traps.ts)
  stopRequested: () => string | undefined; // why the run should stop (a signal's name), once it should
  stopped: Promise<void>;     // resolves then: waiting on a backed-up output ends
  stop?: AbortSignal;         // ends reading a stream (stdin, a FIFO) even while it waits for data
  deadline: () => number;     // when the outputs must have closed
}

export async function replay(options: ReplayOptions): Promise<void> {
  const sink: Sink = allSinks(options.sinks);
  const core = new Core({ sensor: options.sensor, agent: options.agent, filterProgram: options.filterProgram, ...options.streams,
    onTrap: options.onTrap },
    (batch: MessageBatch) => sink.write(batch));
  options.onCore?.(core);
  const progress = progressOnTerminal(process.stderr, options.progress);
  let failure: unknown;
  try {
    await readCapture(options.input, core, (bytesRead, totalBytes) => {
      progress.update(bytesRead, totalBytes, core.framesTaken);
      // A stream (tcpdump -U -w - | siphon replay -, or a FIFO) may pause for long: what
      // arrived goes out now, not when a batch fills. Regular files keep their large batches.
      if (totalBytes === undefined) core.flush();
      const reason = options.stopRequested();
      if (reason !== undefined) throw new Interrupted(reason);
      const backlog = sink.backlog();
      return backlog && Promise.race([backlog, options.stopped]);
    }, options.stop);
  } catch (err) {
    // A read that fails once a stop was asked for (stdin closed under it) is the stop, not the input.
    const reason = options.stopRequested();
    failure = reason === undefined ? err : new Interrupted(reason);
  }
  // Everything read before a failure is still decoded and written.
  core.flush();
  progress.done();
  await sink.close(options.deadline());
  if (failure) throw failure;
  const undecodable = nothingDecodable(options.input, core.counters());
  if (undecodable) throw undecodable;
}

// A capture whose every frame is of a link type the core does not decode gives
// nothing at all: that is the input's failure, not an empty result.
export function nothingDecodable(input: string, c: Record<string, number>): NothingDecodable | undefined {
  if (c.frames === 0 || c.link_unsupported !== c.frames) return undefined;
  const types = input === "-" ? [] : linkTypesOf(input);
  const which = types.length === 0 ? "a link type" : types.map(linkTypeName).join(", ");
  return new NothingDecodable(`${input === "-" ? "stdin" : input}: all ${c.frames} packets are of ${which}, which siphon does not decode, ` +
    "so no SIP message could be read from it: capture on an Ethernet, Linux cooked (tcpdump -i any), loopback or raw IP interface");
}

const LINK_TYPE_PEEK_BYTES = 1 << 20;

// The link types of the frames in a capture file's first megabyte, read again: only
// when none could be decoded, to name them.
function linkTypesOf(path: string): number[] {
  const seen = new Set<number>();
  const parser = new CaptureParser(path, { frame: (_d, _s, _c, _o, linkType) => void seen.add(linkType) });
  try {
    const fd = openSync(path, "r");
    const head = new Uint8Array(LINK_TYPE_PEEK_BYTES);
    const n = readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    parser.feed(head.subarray(0, n));
  } catch {
    // It was read once already; a second read that fails only costs the names.
  }
  return [...seen];
}
