// The recordings' files: names made from a Call-ID without ever using it raw (a hash, and a
// prefix of its safe characters), laid out by day (DIR/YYYY-MM-DD/), written streaming through
// a bounded number of open file descriptors (the least recently written is closed and reopened
// when written again), and a disk budget: past it the oldest finished files are removed first,
// each removal counted and logged.
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from "node:fs";
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
// while they are still there. The file is made (exclusively) at its first write: a short call's
// file is made, written in one go and closed, holding a descriptor only for that.
export class PooledFile {
  fd: number | undefined;
  made = false;                    // on disk: later opens are reopens
  size = 0;                        // bytes in the file, pending ones included
  private written = 0;             // bytes on disk
  private chunk: Buffer | undefined;
  private used = 0;

  constructor(readonly path: string, private readonly pool: FilePool) {}

  // A copy of bytes goes in (views are reused after a batch).
  append(bytes: Uint8Array): void {
    if (bytes.byteLength > BLOCK_BYTES) {
      this.flush();
      this.size += bytes.byteLength;
      this.writeOut(bytes);
      return;
    }
    this.block.set(bytes, this.room(bytes.byteLength));
  }

  // Reserves n bytes (at most BLOCK_BYTES) of the block for the caller to fill in place; where they start.
  room(n: number): number {
    if (this.chunk === undefined) this.chunk = Buffer.allocUnsafe(BLOCK_BYTES);
    else if (this.used + n > BLOCK_BYTES) this.flush();
    const at = this.used;
    this.used += n;
    this.size += n;
    return at;
  }

  get block(): Buffer {
    return this.chunk ??= Buffer.allocUnsafe(BLOCK_BYTES);
  }

  // Overwrites bytes already appended: in the block if they are still there, else on disk.
  patch(position: number, bytes: Uint8Array): void {
    if (position + bytes.byteLength > this.size) throw new RangeError(`${this.path}: patch past the end (${position} + ${bytes.byteLength} > ${this.size})`);
    if (position >= this.written) this.block.set(bytes, position - this.written);
    else {
      this.flush();
      writeAll(this.pool.descriptor(this), bytes, position);
    }
  }

  flush(): void {
    if (this.used === 0) return;
    const used = this.used;
    this.used = 0;
    this.writeOut((this.chunk as Buffer).subarray(0, used));
  }

  close(): void {
    this.flush();
    if (!this.made) this.pool.descriptor(this);   // an empty file is still made
    this.chunk = undefined;
    this.pool.release(this);
  }

  private writeOut(bytes: Uint8Array): void {
    writeAll(this.pool.descriptor(this), bytes, this.written);
    this.written += bytes.byteLength;
    this.pool.budget.grew(bytes.byteLength);
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}

// At most `limit` descriptors open; a file written when none is free takes the least recently
// used one's (that file is reopened when next written). Map order is the use order.
export class FilePool {
  reopened = 0;
  private readonly open = new Map<PooledFile, number>();
  private readonly pending = new Set<string>();   // names taken by files not made yet

  constructor(private readonly limit: number, readonly budget: DiskBudget) {}

  // A new file, made exclusively at its first write; undefined when the name is taken (on disk or
  // by a file of this pool not written yet): an existing name is never overwritten.
  create(path: string): PooledFile | undefined {
    if (this.pending.has(path) || existsSync(path)) return undefined;
    this.pending.add(path);
    return new PooledFile(path, this);
  }

  descriptor(file: PooledFile): number {
    const fd = this.open.get(file);
    if (fd !== undefined) {
      this.open.delete(file);
      this.open.set(file, fd);
      return fd;
    }
    this.makeRoom();
    file.fd = file.made ? openSync(file.path, "r+") : this.make(file);
    if (file.made) this.reopened++;
    file.made = true;
    this.open.set(file, file.fd);
    return file.fd;
  }

  release(file: PooledFile): void {
    const fd = this.open.get(file);
    if (fd === undefined) return;
    this.open.delete(file);
    file.fd = undefined;
    closeSync(fd);
  }

  get openCount(): number {
    return this.open.size;
  }

  // "wx": made here or not at all (another writer took the name since create()).
  private make(file: PooledFile): number {
    this.pending.delete(file.path);
    return openSync(file.path, "wx", 0o640);
  }

  private makeRoom(): void {
    while (this.open.size >= this.limit) {
      const [oldest] = this.open.keys();
      if (oldest === undefined) return;
      oldest.flush();
      this.release(oldest);
    }
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
