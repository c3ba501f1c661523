// `siphon replay`: a capture file (or a pcap stream on stdin) through the core,
// one NDJSON envelope per SIP message on stdout or --out. The run around it
// (core, outputs, summary, exit code) is run.ts's.
import { closeSync, openSync, readSync } from "node:fs";
import { CaptureParser, readCapture } from "../source";
import { progressOnTerminal } from "./progress";
import { Interrupted } from "./signals";
import { NothingDecodable } from "../exits";
import { linkTypeName } from "../source";
import type { Outcome, Run } from "./run";

export async function replay(run: Run, input: string): Promise<Outcome> {
  const { service } = run;
  const reading = new AbortController();
  service.onStop(() => reading.abort(new Interrupted(service.stopRequested() ?? "a signal")));
  const { core, sink, end } = run.pipeline();
  const progress = progressOnTerminal(process.stderr, !run.config.bool("no-progress"));
  let failure: unknown;
  try {
    await readCapture(input, core, (bytesRead, totalBytes) => {
      progress.update(bytesRead, totalBytes, core.framesTaken);
      // A stream (tcpdump -U -w - | siphon replay -, or a FIFO) may pause for long: what
      // arrived goes out now, not when a batch fills. Regular files keep their large batches.
      if (totalBytes === undefined) core.flush();
      const reason = service.stopRequested();
      if (reason !== undefined) throw new Interrupted(reason);
      const backlog = sink.backlog();
      return backlog && Promise.race([backlog, service.stopped]);
    }, reading.signal, service.log);
  } catch (err) {
    // A read that fails once a stop was asked for (stdin closed under it) is the stop, not the input.
    const reason = service.stopRequested();
    failure = reason === undefined ? err : new Interrupted(reason);
  }
  progress.done();
  await end();   // everything read before a failure is still decoded and written
  return { failure: failure ?? nothingDecodable(input, core.counters()), frames: core.framesTaken };
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
