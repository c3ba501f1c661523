// NDJSON sink: the core renders each envelope followed by a newline, so a
// batch leaves with one write. To a file (or /dev/null) the write is blocking
// and goes straight from the core's memory. To a pipe or terminal (non-blocking)
// a batch is written straight from the core's memory as far as the pipe takes it;
// what it does not take is copied and queued on stdout, and reading pauses while
// that queue is longer than QUEUE_LIMIT, so the queue is bounded by it plus one
// batch. A source that cannot wait (live capture) meets a second bound,
// --stdout-queue-mb: what does not fit under it is dropped, counted and logged.
// A FIFO named by --out or --events is written as stdout is. A write that fails
// (a full disk, a reader gone) is reported once and the output takes nothing
// more. The events' NDJSON (host/calls/publish.ts) goes through these outputs too.
import { openSync, writeSync, closeSync, fstatSync } from "node:fs";
import { Socket } from "node:net";
import type { Writable } from "node:stream";
import { byDeadline, type Failed, type Sink } from "./sink";
import { OutputError, StdoutClosed, createFailure, writeFailure } from "../exits";
import type { Logger } from "../log";
import { loadAddon } from "../source/libpcap/addon";

// Bytes queued on stdout before reading pauses: the pipe itself holds 1 MiB (enlargePipe) or 64 KiB,
// and every byte queued here is a byte more of memory than the same run writing to a file (issue 15:
// a pipe must not grow RSS).
const QUEUE_LIMIT = 256 << 10;

// Bytes to a file or to stdout, whichever failure it meets reported once.
export interface ByteOutput {
  write(data: Uint8Array): void;   // never throws
  backlog(): Promise<void> | undefined;
  close(deadline: number): Promise<void>;
}

// `name` is how the failure line names the output ("--out FILE", "stdout").
function blockingOutput(fd: number, name: string, failed: Failed, closeFd: () => void): ByteOutput {
  let broken = false;
  return {
    write(data) {
      if (broken) return;
      try {
        for (let done = 0; done < data.length; ) done += writeSync(fd, data, done);
      } catch (err) {
        broken = true;
        failed(new OutputError(`${name}: cannot write (${writeFailure(err)}): free space on its device or write elsewhere`));
      }
    },
    backlog: () => undefined,
    close: async () => closeFd(),
  };
}

// A file an option names: created (truncated) now, so a path that cannot be written
// to stops the run before anything is read. A FIFO (opening it waits for its reader) is
// written like a pipe on stdout: through a queue, never in a write that blocks the run.
export function fileOutput(path: string, option: string, failed: Failed, bound: QueueBound): ByteOutput {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (err) {
    throw new OutputError(`${option} ${path}: cannot create it (${createFailure(err)})`);
  }
  const name = `${option} ${path}`;
  if (!fstatSync(fd).isFIFO()) return blockingOutput(fd, name, failed, () => closeSync(fd));
  enlargePipe(fd, name, bound.log);
  // A pipe handle in the event loop makes the descriptor non-blocking, as stdout's is.
  return queuedOutput(new Socket({ fd, readable: false, writable: true }), name, failed, bound, (data) => writeAvailable(fd, data));
}

const STAGING_BYTES = 256 << 10;

// Set once stdout's reader went away or stopped reading: what is queued there will never leave.
let stdoutGivenUp = false;

export function stdoutAbandoned(): boolean {
  return stdoutGivenUp;
}

// How much a pipe (stdout, a FIFO) may hold for a reader that does not keep up, and where drops are told.
export interface QueueBound {
  bytes: number;   // --stdout-queue-mb
  log: Logger;
}

const DROPS_LOGGED_EVERY = 100_000;   // lines: a stalled reader is reported, not once per batch

function newlines(data: Uint8Array): number {
  let n = 0;
  for (let i = data.indexOf(0x0a); i >= 0; i = data.indexOf(0x0a, i + 1)) n++;
  return n;
}

// A pipe holds 64 KiB unless asked for more, and a batch's envelopes (about 700 KB) then leave
// in a dozen waits for the reader, each a wake-up of both processes: siphon replay | cat took
// 1.45 times the replay to /dev/null, against 1.12 with 1 MiB, the most an unprivileged process
// may ask (/proc/sys/fs/pipe-max-size). Node has no fcntl, so it goes through siphon's addon;
// where that is missing, or the kernel refuses, the pipe stays as it was. Never made smaller.
const PIPE_BYTES = 1 << 20;

function enlargePipe(fd: number, name: string, log: Logger): void {
  try {
    const addon = loadAddon();
    const held = addon.pipeSize(fd);
    log.debug(`${name}: a pipe of ${held < PIPE_BYTES ? addon.pipeSize(fd, PIPE_BYTES) : held} bytes`);
  } catch (err) {
    log.debug(`${name}: the pipe keeps its size (${(err as Error).message})`);
  }
}

export function stdoutOutput(failed: Failed, bound: QueueBound): ByteOutput {
  const stat = fstatSync(1);
  if (stat.isFile() || stat.isCharacterDevice() && !process.stdout.isTTY) return blockingOutput(1, "stdout", failed, () => {});
  if (stat.isFIFO()) enlargePipe(1, "stdout", bound.log);
  return queuedOutput(process.stdout, "stdout", failed, bound, (data) => writeAvailable(1, data));
}

// As much of data as a non-blocking pipe takes now (EAGAIN when it is full).
function writeAvailable(fd: number, data: Uint8Array): number {
  let done = 0;
  try {
    while (done < data.length) done += writeSync(fd, data, done);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
  }
  return done;
}

// Bytes to a pipe whose reader may stall: written straight from the caller's bytes as far as
// `writeNow` gets while nothing is queued, the rest copied and queued on `stream`.
function queuedOutput(stream: Writable, name: string, failed: Failed, bound: QueueBound,
  writeNow: (data: Uint8Array) => number): ByteOutput {
  const isStdout = stream === process.stdout;
  let broken = false;
  const fail = (err: NodeJS.ErrnoException): void => {
    if (broken) return;
    broken = true;
    if (isStdout) stdoutGivenUp = true;
    failed(err.code === "EPIPE" && isStdout ? new StdoutClosed()
      : new OutputError(`${name}: cannot write (${writeFailure(err)}): check what reads siphon's output`));
  };
  // Resolved when every write queued here has completed (or the output broke). Counted from the
  // writes' own callbacks, not 'drain': 'drain' comes only after a write that passed the stream's
  // high-water mark, so a short last write would leave close() waiting for the flush deadline.
  let writing = 0;
  const waiting: (() => void)[] = [];
  const settle = (): void => {
    if (writing === 0 || broken) for (const resolve of waiting.splice(0)) resolve();
  };
  stream.on("error", (err: NodeJS.ErrnoException) => {
    fail(err);
    settle();
  });
  const drained = (): Promise<void> => new Promise((resolve) => {
    waiting.push(resolve);
    settle();
  });
  // What the pipe did not take is copied into a staging buffer, reused once its write completes:
  // the buffers in use hold at most QUEUE_LIMIT plus a batch, and no garbage is made per batch.
  const spare: Buffer[] = [];
  const queue = (rest: Uint8Array): void => {
    const index = spare.findIndex((b) => b.length >= rest.length);
    const staging = index >= 0 ? spare.splice(index, 1)[0] : Buffer.allocUnsafeSlow(Math.max(rest.length, STAGING_BYTES));
    staging.set(rest);
    writing++;
    stream.write(staging.subarray(0, rest.length), () => {
      spare.push(staging);
      writing--;
      settle();
    });
  };
  // A source that cannot wait (live capture) meets the bound: whole writes are dropped (each
  // ends with a newline), so the reader never sees half a line.
  let droppedLines = 0;
  let droppedBytes = 0;
  const drop = (data: Uint8Array): void => {
    const lines = newlines(data);
    if (droppedLines === 0 || Math.floor(droppedLines / DROPS_LOGGED_EVERY) !== Math.floor((droppedLines + lines) / DROPS_LOGGED_EVERY)) {
      bound.log.warn(`${name}: its reader is not keeping up and a live capture cannot wait: lines beyond --stdout-queue-mb ` +
        `${bound.bytes / 2 ** 20} are dropped; check what reads siphon's output, or write to a file or a broker`,
        { lines_dropped: droppedLines + lines });
    }
    droppedLines += lines;
    droppedBytes += data.length;
  };
  return {
    write(data) {
      if (broken) return;
      if (stream.writableLength + data.length > bound.bytes) return drop(data);
      // Straight from `data` while nothing is queued (so the order holds); `data` may be a view
      // into the core's memory, so the rest is copied.
      let done = 0;
      if (stream.writableLength === 0) {
        try {
          done = writeNow(data);
        } catch (err) {
          return fail(err as NodeJS.ErrnoException);
        }
      }
      if (done < data.length) queue(data.subarray(done));
    },
    backlog: () => (stream.writableLength > QUEUE_LIMIT ? drained() : undefined),
    async close(deadline) {
      if (droppedLines > 0) {
        bound.log.warn(`${name}: ${droppedLines} lines (${droppedBytes} bytes) were dropped in all: its reader did not keep up`,
          { lines_dropped: droppedLines });
      }
      if (await byDeadline(drained(), deadline) !== "late" || broken) {
        if (!isStdout) stream.end();
        return;
      }
      broken = true;
      if (isStdout) stdoutGivenUp = true;
      else stream.destroy();
      failed(new OutputError(`${name}: its reader did not take the last ${stream.writableLength} bytes within --flush-timeout: ` +
        "check what reads siphon's output"));
    },
  };
}

function ndjsonSink(out: ByteOutput): Sink {
  return {
    write: (batch) => out.write(batch.ndjsonView()),
    backlog: () => out.backlog(),
    close: (deadline) => out.close(deadline),
  };
}

export function ndjsonToFile(path: string, failed: Failed, bound: QueueBound): Sink {
  return ndjsonSink(fileOutput(path, "--out", failed, bound));
}

export function ndjsonToStdout(failed: Failed, bound: QueueBound): Sink {
  return ndjsonSink(stdoutOutput(failed, bound));
}
