// A pipe or a socket read on the main thread as it becomes readable, through the addon's poll of
// its descriptor (made non-blocking): no read ever waits, so a stop only ends the watch, and the
// process can exit whatever the writer does. A read waiting in libuv's thread pool could not be
// abandoned (the exit joins the pool's threads); a stream went by 64 KiB chunks, each through
// the stream's machinery and copied (docs/performance.md, "Stdin from a pipe").
import { readSync } from "node:fs";
import { loadAddon, type PcapAddon, type ReadableWatch } from "./libpcap/addon";
import type { Logger } from "../log";

/** readAvailable's answer at the pipe's end (every writer closed it). */
export const PIPE_ENDED = -1;

// As much as an unprivileged process may ask (/proc/sys/fs/pipe-max-size): the writer gets
// that far ahead while a chunk is decoded, so the next one is waiting when it is asked for.
const PIPE_BYTES = 1 << 20;

export interface PolledPipe {
  /** Resolves when a read would not wait; rejects with the stop's reason when `stop` aborts first. */
  readable(stop?: AbortSignal): Promise<void>;
  /** Bytes read into `buffer` until it is full or the pipe has no more now (0: none yet),
   *  or PIPE_ENDED at the pipe's end with nothing read. */
  readAvailable(buffer: Uint8Array): number;
  close(): void;
}

type WatchingAddon = Required<Pick<PcapAddon, "watchReadable" | "whenReadable" | "unwatch" | "pipeSize">>;

/** A poll of `fd`, or undefined (said at debug) where the addon or its poll is missing:
 *  the caller then reads the pipe as a stream. */
export function pollPipe(fd: number, name: string, log?: Logger): PolledPipe | undefined {
  const addon = watchingAddon(name, log);
  if (addon === undefined) return undefined;
  let watch: ReadableWatch;
  try {
    watch = addon.watchReadable(fd);
  } catch (err) {
    log?.debug(`${name}: read as a stream (the descriptor cannot be polled: ${(err as Error).message})`);
    return undefined;
  }
  enlarge(addon, fd, name, log);
  return {
    readable: (stop) => whenReadable(addon, watch, stop),
    readAvailable: (buffer) => readAvailable(fd, buffer),
    close: () => addon.unwatch(watch),
  };
}

function watchingAddon(name: string, log?: Logger): WatchingAddon | undefined {
  try {
    const addon = loadAddon();
    if (addon.watchReadable && addon.whenReadable && addon.unwatch) return addon as WatchingAddon;
    log?.debug(`${name}: read as a stream (the libpcap addon predates watchReadable)`);
  } catch (err) {
    log?.debug(`${name}: read as a stream (no libpcap addon: ${(err as Error).message})`);
  }
  return undefined;
}

// A socket, or a pipe the kernel will not enlarge, keeps its size: it is only slower.
function enlarge(addon: WatchingAddon, fd: number, name: string, log?: Logger): void {
  try {
    const held = addon.pipeSize(fd);
    log?.debug(`${name}: read as it becomes readable, from a pipe of ${held < PIPE_BYTES ? addon.pipeSize(fd, PIPE_BYTES) : held} bytes`);
  } catch (err) {
    log?.debug(`${name}: read as it becomes readable (its size stays: ${(err as Error).message})`);
  }
}

function whenReadable(addon: WatchingAddon, watch: ReadableWatch, stop?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stop?.aborted) return reject(stop.reason);
    const onStop = (): void => {
      addon.unwatch(watch);
      reject(stop?.reason);
    };
    stop?.addEventListener("abort", onStop, { once: true });
    addon.whenReadable(watch, (err) => {
      stop?.removeEventListener("abort", onStop);
      if (err) reject(err);
      else resolve();
    });
  });
}

function readAvailable(fd: number, buffer: Uint8Array): number {
  let filled = 0;
  try {
    while (filled < buffer.length) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (n === 0) return filled > 0 ? filled : PIPE_ENDED;
      filled += n;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
  }
  return filled;
}
