// NDJSON sink: the core renders each envelope followed by a newline, so a
// batch leaves with one write. To a file (or /dev/null) the write is blocking
// and goes straight from the core's memory; to a pipe or terminal the batch is
// copied and queued, and reading pauses while the queue is long.
import { openSync, writeSync, closeSync, fstatSync } from "node:fs";
import type { Sink } from "./sink";

const QUEUE_LIMIT = 16 << 20; // bytes queued on stdout before reading pauses

function writeAll(fd: number, data: Uint8Array): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done);
}

function blockingFd(fd: number): Sink {
  return {
    write: (batch) => writeAll(fd, batch.ndjsonView()),
    backlog: () => undefined,
    close: async () => {},
  };
}

export function ndjsonToFile(path: string): Sink {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (err) {
    throw new Error(`--out: cannot open '${path}' for writing: ${(err as Error).message}`);
  }
  return { ...blockingFd(fd), close: async () => closeSync(fd) };
}

export function ndjsonToStdout(): Sink {
  const stat = fstatSync(1);
  if (stat.isFile() || stat.isCharacterDevice() && !process.stdout.isTTY) return blockingFd(1);
  const stdout = process.stdout;
  const drained = (): Promise<void> => new Promise((resolve) => {
    if (stdout.writableLength === 0) resolve();
    else stdout.once("drain", () => resolve());
  });
  return {
    write: (batch) => void stdout.write(batch.ndjson()),
    backlog: () => (stdout.writableLength > QUEUE_LIMIT ? drained() : undefined),
    close: drained,
  };
}
