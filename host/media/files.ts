// The recordings' files: names made from a Call-ID without ever using it raw (a hash, and a
// prefix of its safe characters), laid out by day (DIR/YYYY-MM-DD/), written streaming through
// a bounded number of open file descriptors (the least recently written is closed and reopened
// when written again), and a disk budget: past it the oldest finished files are removed first,
// each removal counted and logged.
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, open as openAsync, openSync, readdirSync, statSync, unlinkSync, write as writeAsync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../log";

const PREFIX_CHARS = 24;
const HASH_CHARS = 16;
export const BLOCK_BYTES = 64 * 1024; // per file being written: written out when full

// "2026-11-22" and "100000-a84b4c76e66710-9f86d081884c7d65": the capture day, a folder; the time of
// day, up to 24 characters of the Call-ID that are letters, digits, '.', '_' or '-' (others
// become '_'; never a leading dot), and 16 hex digits of its SHA-256 so distinct Call-IDs
// never share a name. No byte of the Call-ID reaches the path unchecked.
export function recordingName(callId: string, timeUs: number): { day: string; base: string } {
  const iso = new Date(Math.floor(timeUs / 1000)).toISOString();
  const prefix = callId.slice(0, PREFIX_CHARS).replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[.]+/, "_") || "call";
  const hash = createHash("sha256").update(callId).digest("hex").slice(0, HASH_CHARS);
  return { day: iso.slice(0, 10), base: `${iso.slice(11, 19).replace(/:/g, "")}-${prefix}-${hash}` };
}

// A file written at positions through a shared pool of descriptors: appends are gathered in the
// file's own block and written when it fills; patch (a header) changes bytes in place, in the block
// while they are still there. The file is made (exclusively) at its first write, off the main
// thread: making a file blocks 0.1 to 0.4 ms on ext4 (its directory and journal), while writing to
// it costs a few µs. Until it is made its writes wait in memory (FilePool.backlog bounds them).
export class PooledFile {
  fd: number | undefined;
  made = false;                    // on disk: later opens are reopens
  closing = false;
  lost = false;                    // could not be made or reopened: takes no more bytes
  busy = false;                    // a write of it under way
  size = 0;                        // bytes in the file, pending ones included
  private written = 0;             // bytes handed to the pool (on disk or queued)
  private chunk: Buffer | undefined;
  private used = 0;
  readonly queued: QueuedWrite[] = [];   // in order, the first maybe being written

  constructor(readonly path: string, private readonly pool: FilePool) {}

  // A copy of bytes goes in (views are reused after a batch).
  append(bytes: Uint8Array): void {
    if (bytes.byteLength > BLOCK_BYTES) {
      this.flush();
      this.size += bytes.byteLength;
      this.writeOut(Buffer.from(bytes));
      return;
    }
    const at = this.room(bytes.byteLength);
    this.block.set(bytes, at);
  }

  // Reserves n bytes (at most BLOCK_BYTES) of the block for the caller to fill in place; where they
  // start. Take `block` after this: a full block is handed to the pool and a new one begun.
  room(n: number): number {
    if (this.used + n > BLOCK_BYTES) this.flush();
    const at = this.used;
    this.used += n;
    this.size += n;
    return at;
  }

  get block(): Buffer {
    return this.chunk ??= this.pool.takeBlock();
  }

  // Overwrites bytes already appended: in the block if they are still there, else in the file.
  patch(position: number, bytes: Uint8Array): void {
    if (position + bytes.byteLength > this.size) throw new RangeError(`${this.path}: patch past the end (${position} + ${bytes.byteLength} > ${this.size})`);
    if (position >= this.written) this.block.set(bytes, position - this.written);
    else {
      this.flush();
      this.pool.write(this, position, Buffer.from(bytes));
    }
  }

  flush(): void {
    if (this.used === 0) return;
    const used = this.used;
    this.used = 0;
    const chunk = this.chunk as Buffer;
    this.chunk = undefined;          // the pool holds the block until it is written, then gives it to another file
    this.writeOut(chunk.subarray(0, used), chunk);
  }

  // The pool finishes it (DiskBudget.finish) once its last byte is on disk.
  close(): void {
    this.flush();
    this.closing = true;
    if (this.chunk !== undefined) this.pool.giveBack(this.chunk);
    this.chunk = undefined;
    this.pool.closed(this);
  }

  private writeOut(bytes: Uint8Array, block?: Buffer): void {
    if (this.lost) {
      if (block !== undefined) this.pool.giveBack(block);
      return;
    }
    this.written += bytes.byteLength;
    this.pool.budget.grew(bytes.byteLength);
    this.pool.write(this, this.written - bytes.byteLength, bytes, block);
  }
}

// Bytes to write at a position; `block`: the pool's block they are in, given back once written.
interface QueuedWrite {
  position: number;
  bytes: Uint8Array;
  done: number;
  block: Buffer | undefined;
}

const QUEUED_MAX = 64 * 1024 * 1024;   // bytes waiting (for their files to be made, or being written) before backlog() holds the input
const QUEUED_LIMIT = 4 * QUEUED_MAX;   // live capture does not wait: past this a file that must wait is given up
// Files made at once: making a file holds its directory's lock, and on this ext4 disk two or more
// threads making files spun on it (a fifth of the run's CPU under perf, media-w20k); two keep
// one made while the other waits, one at a time left the writes idle.
const MAKING_MAX = 2;
// Blocks kept for reuse: a new 64 KiB block per file (30,000 files a minute) was garbage the
// collector chased, its memory outside the heap pressing for full collections.
const SPARE_BLOCKS = 256;

// At most `limit` descriptors open or being opened; a file written when none is free takes the
// least recently used idle one's (that file is reopened when next written). Map order is the use
// order. Files waiting for a descriptor wait in order. Writes go out off the main thread (libuv's
// pool), one at a time per file and in order (a patched header never races the block it patches),
// many files at once: copying 2 GB into the page cache costs seconds of system CPU, which the main
// thread then spends reading the capture instead. Errors making or writing a file go to `failed`.
export class FilePool {
  reopened = 0;
  private readonly open = new Map<PooledFile, number>();
  private readonly pending = new Set<string>();   // names taken by files not made yet
  private readonly toMake = new Set<PooledFile>();     // in order
  private readonly toReopen = new Set<PooledFile>();
  private readonly makingNow = new Set<PooledFile>();
  private making = 0;
  private writing = 0;                             // files with a write under way
  private queuedBytes = 0;                         // waiting or being written
  private settle: (() => void) | undefined;
  private settling: Promise<void> | undefined;
  private drain: (() => void) | undefined;
  private draining: Promise<void> | undefined;
  private readonly spare: Buffer[] = [];

  constructor(private readonly limit: number, readonly budget: DiskBudget, private readonly failed: (err: Error) => void) {}

  // A new file, made exclusively at its first write; undefined when the name is taken (on disk or
  // by a file of this pool not made yet): an existing name is never overwritten.
  create(path: string): PooledFile | undefined {
    if (this.pending.has(path) || existsSync(path)) return undefined;
    this.pending.add(path);
    return new PooledFile(path, this);
  }

  // A block for a file to gather its appends in, BLOCK_BYTES long, its bytes stale.
  takeBlock(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafe(BLOCK_BYTES);
  }

  giveBack(block: Buffer): void {
    if (this.spare.length < SPARE_BLOCKS) this.spare.push(block);
  }

  // Takes `bytes` (no copy: the caller gives them up; `block` they are in, to reuse when written) to write at `position`.
  write(file: PooledFile, position: number, bytes: Uint8Array, block?: Buffer): void {
    if (file.lost) {
      if (block !== undefined) this.giveBack(block);
      return;
    }
    const fd = this.open.get(file);
    if (fd === undefined && this.queuedBytes + bytes.byteLength > QUEUED_LIMIT) {
      if (block !== undefined) this.giveBack(block);
      this.lost(file, new Error(`${file.path}: more than ${QUEUED_LIMIT >> 20} MiB wait for their files to be made (the disk is slower ` +
        "than the capture); the recording is given up: record fewer calls (--record-filter) or use a faster disk"));
      return;
    }
    file.queued.push({ position, bytes, done: 0, block });
    this.queuedBytes += bytes.byteLength;
    if (fd === undefined) {
      this.want(file);
      return;
    }
    this.open.delete(file);
    this.open.set(file, fd);
    this.writeNext(file);
  }

  closed(file: PooledFile): void {
    if (file.lost) return;
    if (this.open.has(file)) {
      if (!file.busy) this.release(file);   // else once its last write is done
    } else if (!file.made) this.want(file);   // an empty file is still made
    else if (file.queued.length === 0) this.budget.finish(file.path, file.size);
  }

  // Resolves when no file is being made, waits for a descriptor or is being written; undefined when none is.
  settled(): Promise<void> | undefined {
    if (this.idle) return undefined;
    return this.settling ??= new Promise((resolve) => { this.settle = resolve; });
  }

  // For the input to wait on while too many bytes wait for their files or their writes: until half
  // of them are out, so the writes go on while the input is read again.
  backlog(): Promise<void> | undefined {
    if (this.queuedBytes <= QUEUED_MAX) return undefined;
    return this.draining ??= new Promise((resolve) => { this.drain = resolve; });
  }

  get openCount(): number {
    return this.open.size + this.making;
  }

  private want(file: PooledFile): void {
    if (this.toMake.has(file) || this.toReopen.has(file) || this.makingNow.has(file)) return;
    (file.made ? this.toReopen : this.toMake).add(file);
    this.pump();
  }

  // Gives waiting files descriptors while there is room (made by evicting the least recently used).
  private pump(): void {
    for (const file of this.toReopen) {
      if (!this.makeRoom()) return;
      this.toReopen.delete(file);
      this.reopen(file);
    }
    for (const file of this.toMake) {
      if (this.making >= MAKING_MAX || !this.makeRoom()) return;
      this.toMake.delete(file);
      this.make(file);
    }
    this.settleIfIdle();
  }

  private get idle(): boolean {
    return this.making === 0 && this.writing === 0 && this.toMake.size === 0 && this.toReopen.size === 0;
  }

  private reopen(file: PooledFile): void {
    try {
      file.fd = openSync(file.path, "r+");
    } catch (err) {
      this.lost(file, err as Error);
      return;
    }
    this.reopened++;
    this.ready(file, file.fd);
  }

  // "wx": made here or not at all (another writer took the name since create()).
  private make(file: PooledFile): void {
    this.making++;
    this.makingNow.add(file);
    openAsync(file.path, "wx", 0o640, (err, fd) => {
      this.making--;
      this.makingNow.delete(file);
      this.pending.delete(file.path);
      file.made = true;
      if (err) this.lost(file, err);
      else if (file.lost) this.discard(file, fd);
      else this.ready(file, fd);
      this.pump();
    });
  }

  // A descriptor for the file: its queued writes go out, and a closed file is finished after them.
  private ready(file: PooledFile, fd: number): void {
    file.fd = fd;
    this.open.set(file, fd);
    if (file.queued.length > 0) this.writeNext(file);
    else if (file.closing) this.release(file);
  }

  // The file's first queued write goes out unless one is under way; when done, the next, and
  // when none is left a closed file's descriptor is let go.
  private writeNext(file: PooledFile): void {
    const fd = file.fd;
    const next = file.queued[0];
    if (file.busy || fd === undefined || next === undefined) return;
    file.busy = true;
    this.writing++;
    writeAsync(fd, next.bytes, next.done, next.bytes.byteLength - next.done, next.position + next.done, (err, written) => {
      file.busy = false;
      this.writing--;
      next.done += written;
      if (err) this.failed(err);
      if (err || next.done >= next.bytes.byteLength) {
        file.queued.shift();
        this.queuedBytes -= next.bytes.byteLength;
        if (next.block !== undefined) this.giveBack(next.block);
      }
      if (file.queued.length > 0) this.writeNext(file);
      else if (file.closing) this.release(file);
      this.pump();
    });
  }

  // A file that could not be made or reopened takes no more bytes (a name another writer took is
  // never written); what waited for it leaves the budget.
  private lost(file: PooledFile, err: Error): void {
    file.lost = true;
    this.toMake.delete(file);
    this.toReopen.delete(file);
    for (const { bytes, block } of file.queued) {
      this.queuedBytes -= bytes.byteLength;
      this.budget.grew(-bytes.byteLength);
      if (block !== undefined) this.giveBack(block);
    }
    file.queued.length = 0;
    this.failed(err);
  }

  // A file given up while it was being made: nothing of it was written.
  private discard(file: PooledFile, fd: number): void {
    try {
      closeSync(fd);
      unlinkSync(file.path);
    } catch (err) {
      this.failed(err as Error);
    }
  }

  private release(file: PooledFile): void {
    const fd = this.open.get(file);
    if (fd === undefined) return;
    this.open.delete(file);
    file.fd = undefined;
    closeSync(fd);
    if (file.closing) this.budget.finish(file.path, file.size);
  }

  // Room for one more descriptor: the least recently used file with no write under way gives up its own.
  private makeRoom(): boolean {
    while (this.open.size + this.making >= this.limit) {
      let oldest: PooledFile | undefined;
      for (const file of this.open.keys()) {
        if (!file.busy) {
          oldest = file;
          break;
        }
      }
      if (oldest === undefined) return false;   // all are being written: the next write done pumps again
      this.release(oldest);
    }
    return true;
  }

  private settleIfIdle(): void {
    if (this.drain !== undefined && (this.queuedBytes <= QUEUED_MAX / 2 || this.idle)) {
      const resolve = this.drain;
      this.drain = undefined;
      this.draining = undefined;
      resolve();
    }
    if (!this.idle || this.settle === undefined) return;
    const resolve = this.settle;
    this.settle = undefined;
    this.settling = undefined;
    resolve();
  }
}

// The bytes under DIR, and the finished files oldest first. Past maxBytes (0: no budget) the
// oldest finished files go; recordings still being written are never removed.
export class DiskBudget {
  removed = 0;
  removedBytes = 0;
  private total = 0;
  private readonly finished: { path: string; bytes: number }[] = [];
  private head = 0;

  constructor(private readonly maxBytes: number, private readonly log: Logger) {}

  // The recordings a previous run left, by age, so the budget covers them too.
  adopt(dir: string): void {
    const found: { path: string; bytes: number; mtime: number }[] = [];
    for (const day of safeList(dir)) {
      if (!/^\d{4}-\d\d-\d\d$/.test(day)) continue;
      for (const name of safeList(join(dir, day))) {
        if (!/\.(pcap|wav)$/.test(name)) continue;
        const path = join(dir, day, name);
        const stat = statSync(path, { throwIfNoEntry: false });
        if (stat?.isFile()) found.push({ path, bytes: stat.size, mtime: stat.mtimeMs });
      }
    }
    found.sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path));
    for (const file of found) {
      this.total += file.bytes;
      this.finished.push({ path: file.path, bytes: file.bytes });
    }
    this.enforce();
  }

  grew(bytes: number): void {
    this.total += bytes;
    this.enforce();
  }

  finish(path: string, bytes: number): void {
    this.finished.push({ path, bytes });
    this.enforce();
  }

  get bytes(): number {
    return this.total;
  }

  private enforce(): void {
    if (this.maxBytes === 0) return;
    while (this.total > this.maxBytes && this.head < this.finished.length) {
      const oldest = this.finished[this.head++] as { path: string; bytes: number };
      try {
        unlinkSync(oldest.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          this.log.warn(`--record-max-mb: could not remove ${oldest.path} (${(err as NodeJS.ErrnoException).code}); it stays counted`, {});
          continue;
        }
      }
      this.total -= oldest.bytes;
      this.removed++;
      this.removedBytes += oldest.bytes;
      this.log.info("recording removed: --record-max-mb reached, the oldest goes first", { file: oldest.path, bytes: oldest.bytes, removed: this.removed });
    }
    if (this.head > 1024 && this.head * 2 > this.finished.length) {
      this.finished.splice(0, this.head);
      this.head = 0;
    }
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

// The day's folder, made when first needed.
export function dayFolder(dir: string, day: string, made: Set<string>): string {
  const path = join(dir, day);
  if (!made.has(day)) {
    mkdirSync(path, { recursive: true });
    made.add(day);
  }
  return path;
}
