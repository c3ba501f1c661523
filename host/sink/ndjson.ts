// NDJSON sink: the core renders each envelope followed by a newline, so a
// batch leaves with one write. To a file (or /dev/null) the write is blocking
// and goes straight from the core's memory; to a pipe or terminal the batch is
// copied and queued, and reading pauses while the queue is long. A write that
// fails (a full disk, a reader gone) is reported once and the output takes
// nothing more. The events' NDJSON (host/calls/publish.ts) is written the same way.
import { openSync, writeSync, closeSync, fstatSync } from "node:fs";
import { byDeadline, type Failed, type Sink } from "./sink";
import { OutputError, StdoutClosed, createFailure, writeFailure } from "../exits";

const QUEUE_LIMIT = 16 << 20; // bytes queued on stdout before reading pauses

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

// Set once stdout's reader went away or stopped reading: what is queued there will never leave.
let stdoutGivenUp = false;

export function stdoutAbandoned(): boolean {
  return stdoutGivenUp;
}

export function stdoutOutput(failed: Failed): ByteOutput {
  const stat = fstatSync(1);
  if (stat.isFile() || stat.isCharacterDevice() && !process.stdout.isTTY) return blockingOutput(1, "stdout", failed, () => {});
  const stdout = process.stdout;
  let broken = false;
  stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (broken) return;
    broken = stdoutGivenUp = true;
    failed(err.code === "EPIPE" ? new StdoutClosed()
      : new OutputError(`stdout: cannot write (${writeFailure(err)}): check what reads siphon's output`));
  });
  const drained = (): Promise<void> => new Promise((resolve) => {
    if (broken || stdout.writableLength === 0) return resolve();
    const done = (): void => {
      stdout.off("drain", done).off("close", done);
      resolve();
    };
    stdout.on("drain", done).on("close", done);
  });
  return {
    write(data) {
      // A copy: the stream holds it past the call, and `data` may be a view into the core's memory.
      if (!broken) stdout.write(Buffer.from(data));
    },
    backlog: () => (stdout.writableLength > QUEUE_LIMIT ? drained() : undefined),
    async close(deadline) {
      if (await byDeadline(drained(), deadline) !== "late" || broken) return;
      broken = stdoutGivenUp = true;
      failed(new OutputError(`stdout: its reader did not take the last ${stdout.writableLength} bytes within --flush-timeout: ` +
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
