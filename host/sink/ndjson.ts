// NDJSON sink: the core renders each envelope followed by a newline, so a
// batch is written with a single write.
import { openSync, writeSync, closeSync } from "node:fs";
import type { MessageBatch } from "../core";

export interface NdjsonSink {
  write(batch: MessageBatch): void;
  close(): Promise<void>;
}

export function ndjsonToFile(path: string): NdjsonSink {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (err) {
    throw new Error(`--out: cannot open '${path}' for writing: ${(err as Error).message}`);
  }
  return {
    write(batch) {
      const data = batch.ndjson();
      let done = 0;
      while (done < data.length) done += writeSync(fd, data, done);
    },
    async close() {
      closeSync(fd);
    },
  };
}

// process.stdout writes to files and pipes synchronously on Linux; the close
// waits for anything still queued (a TTY, or a pipe on other systems).
export function ndjsonToStdout(): NdjsonSink {
  return {
    write(batch) {
      process.stdout.write(batch.ndjson());
    },
    close() {
      return new Promise((resolve) => {
        if (process.stdout.writableLength === 0) resolve();
        else process.stdout.once("drain", () => resolve());
      });
    },
  };
}
