// The recordings' files: names made from a Call-ID without ever using it raw (a hash, and a
// prefix of its safe characters), laid out by day (DIR/YYYY-MM-DD/), written streaming through
// a bounded number of open file descriptors (the least recently written is closed and reopened
// when written again), and a disk budget: past it the oldest finished files are removed first,
// each removal counted and logged.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "../log";
import { WAV_RECORD_BYTES, writerSource, type WriteOp, type WriteReply } from "./file-writer";
import { ALAW_TO_ULAW, ULAW_TO_ALAW } from "./g711";
import { WAV_PAYLOAD_MAX } from "./wav";

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

// A file written at positions by the pool's writer thread: appends are gathered in the file's own
// block and sent when it fills; patch (a header) changes bytes in place, in the block while they are
// still there. The file is made (exclusively) at its first write, by the writer thread: making a
// file blocks 0.1 to 0.4 ms on ext4 (its directory and journal), writing to it a few µs.
export class PooledFile {
  closing = false;
  lost = false;                    // could not be made or reopened: takes no more bytes
  sent = false;                    // the writer thread has its path
  size = 0;                        // bytes in the file, pending ones included
  private written = 0;             // bytes handed to the pool (on disk or on their way)

  get sentBytes(): number {
    return this.written;
  }
  private chunk: Buffer | undefined;
  private chunkView: DataView | undefined;
  private used = 0;

  constructor(readonly path: string, readonly id: number, private readonly pool: FilePool) {}

  // A copy of bytes goes in (views are reused after a batch).
  append(bytes: Uint8Array): void {
    if (bytes.byteLength > BLOCK_BYTES) {
      this.flush();
      this.size += bytes.byteLength;
      this.writeOut(new Uint8Array(bytes), false);
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
    return this.chunk ?? this.takeBlock();
  }

  // The block as a DataView, for a writer that puts numbers in it: made with the block, as asking a
  // view for its buffer (to see whether it is still the block's) is a call into the engine per packet.
  get blockView(): DataView {
    if (this.chunk === undefined) this.takeBlock();
    return this.chunkView as DataView;
  }

  private takeBlock(): Buffer {
    const block = this.pool.takeBlock();
    this.chunk = block;
    this.chunkView = new DataView(block.buffer, block.byteOffset, block.byteLength);
    return block;
  }

  // Overwrites bytes already appended: in the block if they are still there, else in the file.
  patch(position: number, bytes: Uint8Array): void {
    if (position + bytes.byteLength > this.size) throw new RangeError(`${this.path}: patch past the end (${position} + ${bytes.byteLength} > ${this.size})`);
    if (position >= this.written) this.block.set(bytes, position - this.written);
    else {
      this.flush();
      if (!this.lost) this.pool.write(this, position, new Uint8Array(bytes), false);
    }
  }

  flush(): void {
    if (this.used === 0) return;
    const used = this.used;
    this.used = 0;
    const chunk = this.chunk as Buffer;
    this.chunk = undefined;
    this.chunkView = undefined;      // the writer thread has the block until it is written, then it comes back for another file
    this.writeOut(chunk.subarray(0, used), true);
  }

  // Bytes the writer thread wrote to it on its own (a WAV's track): in its size from now on.
  grewInThread(bytes: number): void {
    this.written += bytes;
    this.size += bytes;
  }

  // The pool finishes it (DiskBudget.finish) once its last byte is on disk.
  close(): void {
    this.flush();
    this.closing = true;
    if (this.chunk !== undefined) this.pool.giveBack(this.chunk);
    this.chunk = undefined;
    this.pool.closed(this);
  }

  private writeOut(bytes: Uint8Array, block: boolean): void {
    if (this.lost) {
      if (block) this.pool.giveBack(bytes as Buffer);
      return;
    }
    this.written += bytes.byteLength;
    this.pool.budget.grew(bytes.byteLength);
    this.pool.write(this, this.written - bytes.byteLength, bytes, block);
  }
}

const QUEUED_MAX = 64 * 1024 * 1024;   // bytes on their way to the disk before backlog() holds the input
const QUEUED_LIMIT = 4 * QUEUED_MAX;   // live capture does not wait: past this a file written is given up
// Blocks kept for reuse: a new 64 KiB block per file (30,000 files a minute) was garbage the
// collector chased, its memory outside the heap pressing for full collections.
const SPARE_BLOCKS = 1024;
const WAV_BUFFER_BYTES = 1024 * 1024;   // a batch's G.711 payloads, usually all of them
const SPARE_WAV_BUFFERS = 8;

// The files being written, through one writer thread (file-writer.ts) with at most `limit`
// descriptors open. What a batch writes goes to the thread in one message, after the batch (a
// microtask); its replies give the blocks back, finish closed files (DiskBudget.finish) and report
// errors to `failed`. FilePool.backlog bounds the bytes on their way.
export class FilePool {
  reopened = 0;
  mostOpen = 0;                                      // most descriptors open at once, as the writer thread reports
  private openNow = 0;
  private readonly worker: Worker;
  private readonly files = new Map<number, PooledFile>();   // sent and not finished
  private readonly pending = new Set<string>();   // names taken by files not finished
  private ops: WriteOp[] = [];
  private transfer: ArrayBuffer[] = [];
  private nextId = 1;
  private unanswered = 0;                          // ops sent, not yet handled
  private broken = false;                          // the writer thread stopped: nothing more is written
  private queuedBytes = 0;
  private settle: (() => void) | undefined;
  private settling: Promise<void> | undefined;
  private drain: (() => void) | undefined;
  private draining: Promise<void> | undefined;
  private readonly spare: Buffer[] = [];
  wavLate = 0;                                     // packets the WAVs' tracks dropped as late (the writer thread's count)
  // The G.711 payloads of the batch for the WAVs' tracks (wavPacket), laid out one after another;
  // each run of them between other ops is sent as one op, the buffer moved with the post.
  private wavBuffer: ArrayBuffer | undefined;
  private wavView: DataView | undefined;
  private wavBytes: Uint8Array | undefined;
  private wavUsed = 0;
  private wavSent = 0;                             // where the payloads not yet in an op begin
  private wavMoving = false;                       // the buffer is in this post's transfer list
  private readonly spareWav: ArrayBuffer[] = [];
  private threadWaiting = 0;                       // the writer thread's own bytes waiting for their files (its last reply)

  constructor(limit: number, readonly budget: DiskBudget, private readonly failed: (err: Error) => void) {
    this.worker = new Worker(writerSource(), { eval: true, workerData: { limit, tables: { alawToUlaw: ALAW_TO_ULAW, ulawToAlaw: ULAW_TO_ALAW } } });
    this.worker.on("message", (reply: WriteReply) => this.answered(reply));
    this.worker.on("error", (err) => this.stopped(err));
    this.worker.unref();
  }

  // A new file, made exclusively at its first write; undefined when the name is taken (on disk or
  // by a file of this pool not finished yet): an existing name is never overwritten. `looked`: the
  // caller has just seen that no such file is on disk (a look is a system call, and it waits while
  // the writer thread makes a file in the same directory).
  create(path: string, looked = false): PooledFile | undefined {
    if (this.pending.has(path) || (!looked && existsSync(path))) return undefined;
    this.pending.add(path);
    return new PooledFile(path, this.nextId++, this);
  }

  // `file` as a WAV (wav.ts): its track is begun in the writer thread at the call's first G.711
  // packet's capture time, in that packet's law; the thread writes its header and frames.
  startWav(file: PooledFile, firstUs: number, law: number): void {
    this.send({ id: file.id, path: this.pathFor(file), wavStart: [firstUs, law] });
  }

  // One RTP packet's G.711 payload for `file`'s track, from `direction` (0 caller, 1 callee); past
  // WAV_PAYLOAD_MAX bytes the track would not take it, so those are not handed over.
  wavPacket(file: PooledFile, direction: number, ssrc: number, rtpTime: number, timeUs: number, payloadType: number, whole: Uint8Array): void {
    if (file.lost || this.broken) return;
    const payload = whole.byteLength > WAV_PAYLOAD_MAX ? whole.subarray(0, WAV_PAYLOAD_MAX) : whole;
    const n = WAV_RECORD_BYTES + payload.byteLength;
    if (this.queuedBytes + this.threadWaiting + n > QUEUED_LIMIT) {
      this.lose(file, `${file.path}: more than ${QUEUED_LIMIT >> 20} MiB wait to be written (the disk is slower than the capture); ` +
        "the recording is given up: record fewer calls (--record-filter) or use a faster disk", 0);
      return;
    }
    if (this.wavBuffer === undefined || this.wavUsed + n > this.wavBuffer.byteLength) this.nextWavBuffer();
    const v = this.wavView as DataView;
    const at = this.wavUsed;
    v.setUint32(at, file.id, true);
    v.setUint8(at + 4, direction);
    v.setUint8(at + 5, payloadType);
    v.setUint16(at + 6, payload.byteLength, true);
    v.setUint32(at + 8, ssrc, true);
    v.setUint32(at + 12, rtpTime, true);
    v.setFloat64(at + 16, timeUs, true);
    (this.wavBytes as Uint8Array).set(payload, at + WAV_RECORD_BYTES);
    this.wavUsed += n;
    this.queuedBytes += n;
  }

  // The payloads gathered since the last op, as one op, ahead of whatever is sent next.
  private sendWavPayloads(): void {
    if (this.wavBuffer === undefined || this.wavUsed === this.wavSent) return;
    if (!this.wavMoving) {
      this.transfer.push(this.wavBuffer);
      this.wavMoving = true;
    }
    this.send({ id: 0, wavPackets: new Uint8Array(this.wavBuffer, this.wavSent, this.wavUsed - this.wavSent) });
    this.wavSent = this.wavUsed;
  }

  // A buffer with room for any payload (at most WAV_PAYLOAD_MAX bytes): the last one's payloads sent first.
  private nextWavBuffer(): void {
    this.sendWavPayloads();
    const buffer = this.spareWav.pop() ?? (Buffer.allocUnsafeSlow(WAV_BUFFER_BYTES).buffer as ArrayBuffer);   // not cleared: written before it is read
    this.wavBuffer = buffer;
    this.wavView = new DataView(buffer);
    this.wavBytes = new Uint8Array(buffer);
    this.wavUsed = 0;
    this.wavSent = 0;
    this.wavMoving = false;
  }

  // A block for a file to gather its appends in, BLOCK_BYTES long, its bytes stale.
  takeBlock(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafe(BLOCK_BYTES);
  }

  giveBack(block: Buffer): void {
    if (this.spare.length < SPARE_BLOCKS && block.buffer.byteLength === BLOCK_BYTES) this.spare.push(Buffer.from(block.buffer));
  }

  // Takes `bytes`, a view of their own buffer (no copy: the caller gives them up, and the buffer
  // goes to the writer thread), to write at `position`; `block`: one of takeBlock's, to come back.
  write(file: PooledFile, position: number, bytes: Uint8Array, block: boolean): void {
    if (this.broken) {
      this.lose(file, `${file.path}: the recordings' writer thread stopped; the recording is given up`, bytes.byteLength);
      return;
    }
    if (this.queuedBytes + this.threadWaiting + bytes.byteLength > QUEUED_LIMIT) {
      if (block) this.giveBack(bytes as Buffer);
      this.lose(file, `${file.path}: more than ${QUEUED_LIMIT >> 20} MiB wait to be written (the disk is slower than the capture); ` +
        "the recording is given up: record fewer calls (--record-filter) or use a faster disk", bytes.byteLength);
      return;
    }
    this.queuedBytes += bytes.byteLength;
    this.send({ id: file.id, path: this.pathFor(file), position, bytes, block });
    this.transfer.push(bytes.buffer as ArrayBuffer);
  }

  closed(file: PooledFile): void {
    if (file.lost) {
      if (!file.sent) this.pending.delete(file.path);   // else lose() sent its close
      return;
    }
    this.send({ id: file.id, path: this.pathFor(file), close: true });
  }

  // Resolves when everything sent is on disk (or failed); undefined when it is.
  settled(): Promise<void> | undefined {
    this.post();
    if (this.unanswered === 0) return undefined;
    this.worker.ref();   // the answer must come before the process may end
    return this.settling ??= new Promise((resolve) => { this.settle = resolve; });
  }

  // For the input to wait on while too many bytes are on their way to the disk: until half of them
  // are out, so the writes go on while the input is read again.
  backlog(): Promise<void> | undefined {
    if (this.queuedBytes + this.threadWaiting <= QUEUED_MAX) return undefined;
    this.post();
    this.worker.ref();
    return this.draining ??= new Promise((resolve) => { this.drain = resolve; });
  }

  get openCount(): number {
    return this.openNow;
  }

  private pathFor(file: PooledFile): string | undefined {
    if (file.sent) return undefined;
    file.sent = true;
    this.files.set(file.id, file);
    return file.path;
  }

  // In order: the WAVs' payloads gathered before it go first (a track is finished when its file closes).
  private send(op: WriteOp): void {
    if (op.wavPackets === undefined) this.sendWavPayloads();
    if (this.ops.length === 0) queueMicrotask(() => this.post());
    this.ops.push(op);
  }

  // Sends what was written since the last post to the writer thread: the recorder posts after each
  // batch (a replay reads on without yielding, so a microtask alone would wait for the backlog).
  post(): void {
    this.sendWavPayloads();
    if (this.ops.length === 0 || this.broken) return;
    if (this.wavMoving) this.wavBuffer = undefined;   // it goes with this post: the next payloads take another
    const ops = this.ops;
    const transfer = this.transfer;
    this.ops = [];
    this.transfer = [];
    this.unanswered += ops.length;
    this.worker.postMessage(ops, transfer);
  }

  private answered(reply: WriteReply): void {
    this.unanswered -= reply.handled;
    this.queuedBytes -= reply.done;
    this.openNow = reply.open;
    this.mostOpen = reply.mostOpen;
    this.reopened = reply.reopened;
    for (const block of reply.blocks) if (this.spare.length < SPARE_BLOCKS) this.spare.push(Buffer.from(block));
    for (const buffer of reply.wavBuffers) if (this.spareWav.length < SPARE_WAV_BUFFERS) this.spareWav.push(buffer);
    this.wavLate += reply.late;
    this.threadWaiting = reply.waiting;
    for (const [id, bytes] of reply.grown) {
      this.files.get(id)?.grewInThread(bytes);
      this.budget.grew(bytes);
    }
    for (const bytes of reply.dropped) this.budget.grew(-bytes);
    for (const { id, code, message, dropped } of reply.lost) {
      const file = this.files.get(id);
      if (file !== undefined) this.lose(file, message, dropped, code);
    }
    for (const { code, message } of reply.errors) this.failed(Object.assign(new Error(message), { code }));
    for (const [id, made] of reply.closed) {
      const file = this.files.get(id);
      if (file === undefined) continue;
      this.files.delete(id);
      this.pending.delete(file.path);
      if (made) this.budget.finish(file.path, file.sentBytes);
    }
    this.wake();
  }

  // A file that could not be made or reopened, or had too much waiting, takes no more bytes (a
  // name another writer took is never written); what it would have written leaves the budget. The
  // writer thread closes it (what it wrote stays, in the budget).
  private lose(file: PooledFile, message: string, bytes: number, code?: string): void {
    this.budget.grew(-bytes);
    if (file.lost) return;
    file.lost = true;
    this.failed(Object.assign(new Error(message), { code }));
    if (file.sent && !file.closing) this.send({ id: file.id, close: true });
  }

  // The writer thread failed (it should not: its errors are replies): what was on its way is lost.
  private stopped(err: Error): void {
    this.broken = true;
    this.failed(err);
    this.ops = [];
    this.transfer = [];
    this.wavBuffer = undefined;
    this.unanswered = 0;
    this.queuedBytes = 0;
    this.threadWaiting = 0;
    this.wake();
  }

  private wake(): void {
    if (this.drain !== undefined && this.queuedBytes + this.threadWaiting <= QUEUED_MAX / 2) {
      const resolve = this.drain;
      this.drain = undefined;
      this.draining = undefined;
      resolve();
    }
    if (this.unanswered > 0 || this.ops.length > 0) return;
    this.worker.unref();
    if (this.settle === undefined) return;
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
