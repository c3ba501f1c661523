// A pipe read as it becomes readable (host/source/pipe.ts over the addon's watchReadable):
// what each read gives, the pipe's end, a stop while nothing comes, and what the addon refuses.
// Each step waits on the event it needs (the watch's callback), never on a timer.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAddon, type ReadableWatch } from "../host/source/libpcap/addon";
import { PIPE_ENDED, pollPipe } from "../host/source/pipe";

const tmp = mkdtempSync(join(tmpdir(), "siphon-pipe-"));
let fifos = 0;

// Both ends of a new FIFO: the reader opened first, without waiting for a writer.
function fifo(): { reader: number; writer: number } {
  const path = join(tmp, `${fifos++}.fifo`);
  assert.is(spawnSync("mkfifo", [path]).status, 0);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  return { reader, writer: openSync(path, constants.O_WRONLY) };
}

function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    assert.is((err as NodeJS.ErrnoException).code, code, (err as Error).message);
    return;
  }
  assert.unreachable(`no ${code}`);
}

test("a pipe: what it holds, then nothing yet, then its end", async () => {
  const { reader, writer } = fifo();
  const pipe = pollPipe(reader, "test");
  assert.ok(pipe, "the addon polls a FIFO");
  try {
    const buffer = new Uint8Array(8);
    assert.is(pipe.readAvailable(buffer), 0, "nothing written yet");
    writeSync(writer, Buffer.from("0123456789"));
    await pipe.readable();
    assert.is(pipe.readAvailable(buffer), 8, "as much as the buffer holds");
    assert.is(pipe.readAvailable(buffer), 2, "the rest");
    assert.is(Buffer.from(buffer.subarray(0, 2)).toString(), "89");
    closeSync(writer);
    await pipe.readable();
    assert.is(pipe.readAvailable(buffer), PIPE_ENDED);
  } finally {
    pipe.close();
    closeSync(reader);
  }
});

test("a stop while the writer is silent: the wait rejects with the stop's reason", async () => {
  const { reader, writer } = fifo();
  const pipe = pollPipe(reader, "test")!;
  const stop = new AbortController();
  const waiting = pipe.readable(stop.signal);
  stop.abort(new Error("stopped"));
  try {
    await waiting;
    assert.unreachable("the wait resolved");
  } catch (err) {
    assert.is((err as Error).message, "stopped");
  } finally {
    pipe.close();
    closeSync(writer);
    closeSync(reader);
  }
});

test("the addon's watch refuses what it cannot poll or is not its own, and a second waiter", () => {
  const addon = loadAddon();
  const file = join(tmp, "regular");
  writeFileSync(file, "x");
  const regular = openSync(file, "r");
  try {
    throwsCode(() => addon.watchReadable!(regular), "EPERM");
  } finally {
    closeSync(regular);
  }
  throwsCode(() => addon.watchReadable!(-1), "ERR_INVALID_ARG_TYPE");
  throwsCode(() => addon.whenReadable!({} as ReadableWatch, () => {}), "ERR_INVALID_ARG_TYPE");
  const { reader, writer } = fifo();
  const watch = addon.watchReadable!(reader);
  try {
    addon.whenReadable!(watch, () => assert.unreachable("called after unwatch"));
    throwsCode(() => addon.whenReadable!(watch, () => {}), "ERR_WATCH_BUSY");
  } finally {
    addon.unwatch!(watch);
    addon.unwatch!(watch); // twice: harmless
  }
  throwsCode(() => addon.whenReadable!(watch, () => {}), "ERR_WATCH_CLOSED");
  closeSync(writer);
  closeSync(reader);
});

test.run();
