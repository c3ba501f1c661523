// NDJSON sink: the core renders each envelope followed by a newline, so a
// batch leaves with one write. To a file (or /dev/null) the write is blocking
// and goes straight from the core's memory. To a pipe or terminal (non-blocking)
// a batch is written straight from the core's memory as far as the pipe takes it;
// what it does not take is copied into reused staging buffers (StdoutPipe), and
// reading pauses while that queue is longer than QUEUE_LIMIT, so the queue is
// bounded by it plus one batch. A write that fails (a full disk, a reader gone) is reported once and the
// output takes nothing more. The events' NDJSON (host/calls/publish.ts) is
// written the same way.
import { openSync, writeSync, closeSync, fstatSync } from "node:fs";
import { byDeadline, type Failed, type Sink } from "./sink";
import { OutputError, StdoutClosed, createFailure, writeFailure } from "../exits";

const QUEUE_LIMIT = 1 << 20; // bytes queued on stdout before reading pauses: a few batches, a pipe's 64 KiB many times

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
// to stops the run before anything is read.
export function fileOutput(path: string, option: string, failed: Failed): ByteOutput {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (err) {
    throw new OutputError(`${option} ${path}: cannot create it (${createFailure(err)})`);
  }
  return blockingOutput(fd, `${option} ${path}`, failed, () => closeSync(fd));
}

const STAGING_BYTES = 256 << 10;
const RESUME_BELOW = 256 << 10; // a paused reader goes on once the queue is this short: the pipe stays fed

// Set once stdout's reader went away or stopped reading: what is queued there will never leave.
let stdoutGivenUp = false;

export function stdoutAbandoned(): boolean {
  return stdoutGivenUp;
}

interface Staged {
  buffer: Buffer;
  start: number;   // the first byte not yet written
  end: number;     // the first free byte
}

// stdout as a pipe or terminal (non-blocking: EAGAIN when full). Bytes are written with writeSync
// straight from the caller's memory as far as the pipe takes them, and the queue is pumped the
// same way at every write, so the pipe is refilled while the run decodes, not only when it
// yields to the event loop. What the pipe does not take is copied into staging buffers of
// STAGING_BYTES, reused once written. When the queue passes QUEUE_LIMIT the reader pauses and
// the queue's head is handed to stdout.write, whose completion (the pipe took it) pumps the rest.
// One queue for every writer to stdout (envelopes and --events -), so their order holds.
class StdoutPipe {
  private readonly staged: Staged[] = [];
  private readonly spare: Buffer[] = [];
  private queued = 0;
  private handedOver = false;   // the head's bytes are in a stdout.write: nothing else is written meanwhile
  private pumpScheduled = false;
  private waiters: { below: number; resolve: () => void }[] = [];
  broken = false;

  constructor(private readonly fail: (err: NodeJS.ErrnoException) => void) {}

  get queuedBytes(): number {
    return this.queued;
  }

  write(data: Uint8Array): void {
    if (this.broken) return;
    this.pump();
    const done = this.staged.length === 0 && !this.handedOver ? this.writeNow(data, 0, data.length) : 0;
    if (!this.broken && done < data.length) this.stage(data.subarray(done));
    if (this.queued > 0) this.schedulePump();
  }

  // Resolves once at most `below` bytes are queued (or the output broke).
  until(below: number): Promise<void> {
    this.pump();
    if (this.broken || this.queued <= below) return Promise.resolve();
    this.handOver();
    return new Promise((resolve) => this.waiters.push({ below, resolve }));
  }

  // Writes queued bytes while the pipe takes them; none while stdout.write holds the head.
  private pump(): void {
    while (!this.broken && !this.handedOver && this.staged.length > 0) {
      const head = this.staged[0];
      const written = this.writeNow(head.buffer, head.start, head.end) - head.start;
      this.advance(written);
      if (head.start < head.end) return;   // the pipe is full
    }
  }

  // Writes data[from, to) as far as the pipe takes it; returns where it stopped.
  private writeNow(data: Uint8Array, from: number, to: number): number {
    let at = from;
    try {
      while (at < to) at += writeSync(1, data, at, to - at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") this.breakWith(err as NodeJS.ErrnoException);
    }
    return at;
  }

  // `bytes` of the head were written: it goes back to the spares once empty.
  private advance(bytes: number): void {
    const head = this.staged[0];
    head.start += bytes;
    this.queued -= bytes;
    if (head.start < head.end) return;
    this.staged.shift();
    if (head.buffer.length === STAGING_BYTES && this.spare.length * STAGING_BYTES < QUEUE_LIMIT) this.spare.push(head.buffer);
  }

  private stage(rest: Uint8Array): void {
    let at = 0;
    while (at < rest.length) {
      let tail = this.staged.at(-1);
      if (!tail || tail.end === tail.buffer.length) {
        const buffer = this.spare.pop() ?? Buffer.allocUnsafeSlow(STAGING_BYTES);
        tail = { buffer, start: 0, end: 0 };
        this.staged.push(tail);
      }
      const take = Math.min(rest.length - at, tail.buffer.length - tail.end);
      tail.buffer.set(rest.subarray(at, at + take), tail.end);
      tail.end += take;
      at += take;
    }
    this.queued += rest.length;
  }

  // The head goes to stdout.write, which waits for the pipe in the event loop; its completion
  // pumps what follows and wakes the waiters the queue is now short enough for.
  private handOver(): void {
    if (this.handedOver || this.broken || this.staged.length === 0) return;
    const head = this.staged[0];
    const length = head.end - head.start;
    this.handedOver = true;
    process.stdout.write(head.buffer.subarray(head.start, head.end), (err) => {
      this.handedOver = false;
      if (err) return this.breakWith(err);
      this.advance(length);
      this.pump();
      this.wake();
      if (this.waiters.length > 0 || this.queued > 0) this.handOver();
    });
  }

  // Bytes left queued by a write are handed over once the run yields to the event loop, so
  // they leave even if no write and no pause follows (a live capture gone quiet).
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
      this.wake();
      this.handOver();
    });
  }

  private wake(): void {
    const ready = this.waiters.filter((w) => this.broken || this.queued <= w.below);
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  breakWith(err: NodeJS.ErrnoException): void {
    if (this.broken) return;
    this.broken = true;
    this.fail(err);
    this.wake();
  }
}

let stdoutPipe: StdoutPipe | undefined;
const stdoutFailures: Failed[] = [];   // each writer's, all told of a failure

function sharedStdoutPipe(): StdoutPipe {
  if (stdoutPipe) return stdoutPipe;
  const pipe = new StdoutPipe((err) => {
    stdoutGivenUp = true;
    const error = err.code === "EPIPE" ? new StdoutClosed()
      : new OutputError(`stdout: cannot write (${writeFailure(err)}): check what reads siphon's output`);
    for (const failed of stdoutFailures) failed(error);
  });
  process.stdout.on("error", (err) => pipe.breakWith(err));
  return stdoutPipe = pipe;
}

export function stdoutOutput(failed: Failed): ByteOutput {
  const stat = fstatSync(1);
  if (stat.isFile() || stat.isCharacterDevice() && !process.stdout.isTTY) return blockingOutput(1, "stdout", failed, () => {});
  stdoutFailures.push(failed);
  const pipe = sharedStdoutPipe();
  return {
    write: (data) => pipe.write(data),
    backlog: () => (pipe.queuedBytes > QUEUE_LIMIT ? pipe.until(RESUME_BELOW) : undefined),
    async close(deadline) {
      if (await byDeadline(pipe.until(0), deadline) !== "late" || pipe.broken) return;
      stdoutGivenUp = true;
      failed(new OutputError(`stdout: its reader did not take the last ${pipe.queuedBytes} bytes within --flush-timeout: ` +
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

export function ndjsonToFile(path: string, failed: Failed): Sink {
  return ndjsonSink(fileOutput(path, "--out", failed));
}

export function ndjsonToStdout(failed: Failed): Sink {
  return ndjsonSink(stdoutOutput(failed));
}
