// Capture files and streams: sniffs pcap or pcapng from the first bytes, cuts the byte stream into
// whole units (file header, packet record, pcapng block) whatever the chunking, and hands each to
// the format's reader. Frames go to a FrameConsumer synchronously, as views into our buffers.
import { open, stat, type FileHandle } from "node:fs/promises";
import { closeSync, constants, createReadStream, fstatSync, open as openFd, openSync, readSync, statSync, type Stats } from "node:fs";
import { Socket } from "node:net";
import { isatty, ReadStream } from "node:tty";
import type { Readable } from "node:stream";
import { PcapReader, isPcapMagic } from "./pcap";
import { PcapngReader, isPcapngMagic } from "./pcapng";
import { CaptureError, type FrameConsumer, type UnitReader } from "./frames";
import { PIPE_ENDED, pollPipe, type PolledPipe } from "./pipe";
import type { Logger } from "../log";


const MAGIC_BYTES = 4;
const INITIAL_CARRY_BYTES = 64 * 1024;
const FILE_CHUNK_BYTES = 1024 * 1024;

export class CaptureParser {
  private reader: UnitReader | undefined;
  private consumed = 0;
  // Holds the one unit that straddles chunks, so a split record costs one copy, and nothing else does.
  private carryBytes = new Uint8Array(INITIAL_CARRY_BYTES);
  private carryView = new DataView(this.carryBytes.buffer);
  private carryLength = 0;

  constructor(private readonly name: string, private readonly sink: FrameConsumer) {}

  get bytesConsumed(): number {
    return this.consumed;
  }

  /** Bytes of a unit begun in the last chunk, held until the next one completes it. */
  get carried(): number {
    return this.carryLength;
  }

  feed(chunk: Uint8Array): void {
    const pos = this.carryLength > 0 ? this.completeCarriedUnit(chunk) : 0;
    // The carry buffer is refilled below and the chunk reused by the caller.
    this.sink.release?.();
    if (this.carryLength > 0) return;
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const end = this.readWholeUnits(chunk, view, pos);
    this.sink.release?.();
    this.carry(chunk, end);
  }

  end(): void {
    if (this.reader === undefined && this.carryLength === 0) {
      throw new CaptureError(this.name, 0, "no capture data (the input is empty)");
    }
    if (this.carryLength === 0) return;
    const need = this.lengthOfUnitAt(this.carryView, 0, this.carryLength);
    const what = this.reader?.unitName(this.carryView, 0, this.carryLength) ?? "file header";
    throw new CaptureError(this.name, this.consumed,
      `truncated ${what} (need ${need} bytes, have ${this.carryLength})`);
  }

  private readWholeUnits(bytes: Uint8Array, view: DataView, pos: number): number {
    if (this.reader?.readUnits !== undefined) {
      const end = this.reader.readUnits(bytes, view, pos, bytes.length);
      this.consumed += end - pos;
      pos = end;
    }
    for (;;) {
      const available = bytes.length - pos;
      const length = this.lengthOfUnitAt(view, pos, available);
      if (length > available) return pos;
      this.readUnit(bytes, view, pos, length);
      pos += length;
    }
  }

  /** Tops up the carried partial unit from `chunk`; returns how many bytes of the chunk it took. */
  private completeCarriedUnit(chunk: Uint8Array): number {
    let pos = 0;
    for (;;) {
      const length = this.lengthOfUnitAt(this.carryView, 0, this.carryLength);
      if (length <= this.carryLength) {
        this.readUnit(this.carryBytes, this.carryView, 0, length);
        this.carryLength = 0;
        return pos;
      }
      const take = Math.min(length - this.carryLength, chunk.length - pos);
      if (take === 0) return pos;
      this.reserveCarry(length);
      this.carryBytes.set(chunk.subarray(pos, pos + take), this.carryLength);
      this.carryLength += take;
      pos += take;
    }
  }

  private carry(chunk: Uint8Array, pos: number): void {
    const rest = chunk.length - pos;
    this.reserveCarry(rest);
    this.carryBytes.set(chunk.subarray(pos), 0);
    this.carryLength = rest;
  }

  private reserveCarry(bytes: number): void {
    if (bytes <= this.carryBytes.length) return;
    let size = this.carryBytes.length;
    while (size < bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.carryBytes.subarray(0, this.carryLength));
    this.carryBytes = grown;
    this.carryView = new DataView(grown.buffer);
  }

  private lengthOfUnitAt(view: DataView, start: number, available: number): number {
    if (this.reader === undefined) {
      if (available < MAGIC_BYTES) return MAGIC_BYTES;
      this.reader = this.readerFor(view, start);
    }
    return this.reader.unitLength(view, start, available, this.consumed);
  }

  private readUnit(bytes: Uint8Array, view: DataView, start: number, length: number): void {
    (this.reader as UnitReader).readUnit(bytes, view, start, length, this.consumed);
    this.consumed += length;
  }

  private readerFor(view: DataView, start: number): UnitReader {
    const magic = view.getUint32(start, false);
    if (isPcapMagic(magic)) return new PcapReader(this.name, this.sink);
    if (isPcapngMagic(magic)) return new PcapngReader(this.name, this.sink);
    const hex = magic.toString(16).padStart(8, "0").replace(/(..)(?!$)/g, "$1 ");
    throw new CaptureError(this.name, 0,
      `not a pcap or pcapng file (it starts with ${hex}; if it is another capture format, ` +
      `convert it with "editcap -F pcapng")`);
  }
}

/** Called after each chunk. A sink that needs the event loop (a network
 *  output draining) returns a promise, and reading waits for it. */
export type ChunkHook = (bytesRead: number, totalBytes: number | undefined) => void | Promise<void>;

/** Reads a capture file, or stdin when `path` is '-', into `sink`; resolves at its clean end.
 *  When `stop` aborts, reading ends and the promise rejects with the abort's reason.
 *  Only a regular file is read synchronously: a read there cannot wait for data. A FIFO,
 *  a pipe, a socket, a terminal or another device (/dev/stdin is one of these) may wait
 *  for as long as its writer likes, so it is read as a stream and the event loop keeps
 *  running (outputs deliver, signals are handled) while it waits. */
export async function readCapture(
  path: string,
  sink: FrameConsumer,
  onProgress?: ChunkHook,
  stop?: AbortSignal,
  log?: Logger,
): Promise<void> {
  if (path === "-") return readStdin(sink, onProgress, stop, log);
  const kind = await statCapture(path);
  if (kind.isDirectory()) throw new CaptureError(path, 0, "is a directory, not a capture file");
  if (!kind.isFile()) return readNotAFile(path, sink, onProgress, stop, log);
  const file = await openCapture(path);
  try {
    await readCaptureFile(path, file.fd, kind.size, sink, onProgress);
  } finally {
    await file.close();
  }
}

/** stdin redirected from a file (`siphon replay - < capture.pcap`) is read as a file: as a stream
 *  it went by 64 KiB chunks, each through the stream's machinery and copied (a third slower).
 *  A pipe or a socket is read as it becomes readable (pipe.ts), or as a stream where the addon
 *  is missing; a terminal is a stream. Neither kind of read may wait in the thread pool: that
 *  would keep the process from ending (libuv joins its threads at exit). */
async function readStdin(sink: FrameConsumer, onProgress?: ChunkHook, stop?: AbortSignal, log?: Logger): Promise<void> {
  const kind = statStdin();
  try {
    if (kind.isFile()) return await readCaptureFile("stdin", 0, kind.size, sink, onProgress);
    const pipe = kind.isFIFO() || kind.isSocket() ? pollPipe(0, "stdin", log) : undefined;
    if (pipe) return await readPolledPipe("stdin", pipe, sink, onProgress, stop);
    return await readCaptureStream("stdin", process.stdin, sink, onProgress, stop);
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === "EBADF" ? stdinNotOpen("not open for reading (EBADF)") : err;
  }
}

// Node opens /dev/null in place of a closed stdin (`siphon replay - <&-`), so that is refused as
// /dev/null itself is; a stdin open only for writing (`0>F`) fails its first read with EBADF.
function statStdin(): Stats {
  let kind: Stats;
  try {
    kind = fstatSync(0);
  } catch (err) {
    throw stdinNotOpen(`not open (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (kind.isCharacterDevice() && kind.rdev === statSync("/dev/null").rdev) throw stdinNotOpen("closed, or /dev/null: nothing to read");
  return kind;
}

function stdinNotOpen(what: string): CaptureError {
  return new CaptureError("stdin", undefined, `${what}: give a capture file or pipe one in`);
}

/** Reads a pipe a chunk each time it is readable: into the sink's own buffer where it lends one,
 *  as a regular file is read. The event loop turns between chunks (signals, outputs). */
async function readPolledPipe(
  name: string,
  pipe: PolledPipe,
  sink: FrameConsumer,
  onProgress?: ChunkHook,
  stop?: AbortSignal,
): Promise<void> {
  const parser = new CaptureParser(name, sink);
  let own: Uint8Array | undefined;
  let bytesRead = 0;
  try {
    for (;;) {
      await pipe.readable(stop);
      const buffer = sink.lend?.(parser.carried, FILE_CHUNK_BYTES) ?? (own ??= new Uint8Array(FILE_CHUNK_BYTES));
      const n = pipe.readAvailable(buffer);
      if (n === PIPE_ENDED) break;
      if (n === 0) continue;
      parser.feed(buffer.subarray(0, n));
      bytesRead += n;
      const pending = onProgress?.(bytesRead, undefined);
      if (pending) await pending;
    }
  } finally {
    pipe.close();
  }
  parser.end();
}

/** Reads a capture arriving as a stream of chunks (stdin, a pipe, a FIFO, a socket). */
export async function readCaptureStream(
  name: string,
  stream: Readable,
  sink: FrameConsumer,
  onProgress?: ChunkHook,
  stop?: AbortSignal,
): Promise<void> {
  const parser = new CaptureParser(name, sink);
  let bytesRead = 0;
  const endReading = (): void => void stream.destroy();
  stop?.addEventListener("abort", endReading);
  if (stop?.aborted) endReading();
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      parser.feed(chunk);
      bytesRead += chunk.length;
      await onProgress?.(bytesRead, undefined);
    }
  } catch (err) {
    // Destroying the stream on stop ends the loop with a premature-close error: the stop is what happened.
    if (!stop?.aborted) throw err;
  } finally {
    stop?.removeEventListener("abort", endReading);
  }
  if (stop?.aborted) throw stop.reason;
  parser.end();
}

// A regular file, from where its descriptor stands: `totalBytes` is for the progress line.
async function readCaptureFile(
  name: string,
  fd: number,
  totalBytes: number,
  sink: FrameConsumer,
  onProgress?: ChunkHook,
): Promise<void> {
  const parser = new CaptureParser(name, sink);
  let own: Uint8Array | undefined;
  let bytesRead = 0;
  // Synchronous reads of a regular file: a thread-pool round trip per chunk costs
  // more than the read itself from the page cache, and a regular file never makes
  // a read wait for data. The hook is where other work gets its turn. A sink that
  // lends its own buffer (the core's staging copy) is read into directly: one copy
  // of every frame fewer.
  for (;;) {
    const buffer = sink.lend?.(parser.carried, FILE_CHUNK_BYTES) ?? (own ??= new Uint8Array(FILE_CHUNK_BYTES));
    const n = readSync(fd, buffer, 0, buffer.length, null);
    if (n === 0) break;
    parser.feed(buffer.subarray(0, n));
    bytesRead += n;
    const pending = onProgress?.(bytesRead, totalBytes);
    if (pending) await pending;
  }
  parser.end();
}

/** A capture that is not a regular file: a FIFO is read as a pipe on stdin is (as it becomes
 *  readable, or as a stream without the addon); a terminal or another device as a stream. */
async function readNotAFile(path: string, sink: FrameConsumer, onProgress?: ChunkHook, stop?: AbortSignal, log?: Logger): Promise<void> {
  const fd = await openWaitingForWriter(path, stop);
  const pipe = fstatSync(fd).isFIFO() ? pollPipe(fd, path, log) : undefined;
  if (!pipe) return readCaptureStream(path, streamOver(fd), sink, onProgress, stop);
  try {
    await readPolledPipe(path, pipe, sink, onProgress, stop);
  } finally {
    closeSync(fd);
  }
}

/** A stream over a descriptor that is not a regular file, each kind read without blocking the loop. */
function streamOver(fd: number): Readable {
  // FIFOs and sockets through libuv's pipe handle (non-blocking fd, epoll); a terminal
  // through its tty handle; any other device by reads in the thread pool.
  if (isatty(fd)) return new ReadStream(fd);
  const kind = fstatSync(fd);
  if (kind.isFIFO() || kind.isSocket()) return new Socket({ fd, readable: true, writable: false });
  return createReadStream("", { fd, highWaterMark: FILE_CHUNK_BYTES });
}

/** Opening a FIFO for reading waits, in the thread pool, for a writer to open it. A stop
 *  meanwhile opens it for writing itself (and closes it at once), which lets the pending
 *  open return, so no thread stays waiting and the process can end. */
async function openWaitingForWriter(path: string, stop?: AbortSignal): Promise<number> {
  const unblock = (): void => {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // Not a FIFO, or no open pending any more: nothing waits.
    }
  };
  if (stop?.aborted) throw stop.reason;
  stop?.addEventListener("abort", unblock);
  try {
    const fd = await new Promise<number>((resolve, reject) => openFd(path, "r", (err, opened) => (err ? reject(err) : resolve(opened))));
    if (stop?.aborted) {
      closeSync(fd);
      throw stop.reason;
    }
    return fd;
  } catch (err) {
    if (stop?.aborted) throw stop.reason;
    throw openFailure(path, err);
  } finally {
    stop?.removeEventListener("abort", unblock);
  }
}

async function statCapture(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (err) {
    throw openFailure(path, err);
  }
}

async function openCapture(path: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (err) {
    throw openFailure(path, err);
  }
}

function openFailure(path: string, err: unknown): CaptureError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = code === "ENOENT" ? "no such file (check the path)"
    : code === "EACCES" ? "permission denied"
    : code === "ENXIO" ? "cannot open a socket by its name (give '-' to read stdin)"
    : `cannot open (${code ?? String(err)})`;
  return new CaptureError(path, undefined, reason);
}
