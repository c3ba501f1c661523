// The recordings' writer thread (FilePool, files.ts): makes, writes and closes the files the main
// thread sends it, each file's ops in the order sent, with at most `limit` descriptors open or
// being opened (the least recently written is closed, and reopened when written again). Files are
// made in libuv's pool, two at a time, while this thread writes the files already made. The main thread sends each batch's writes in
// one message, its blocks transferred, not copied; this thread gives them back once written.
// Making a file and copying its bytes into the page cache are system calls of 0.1 ms and more: here
// they run beside the main thread, which meanwhile reads the capture, and the main thread wakes
// another thread once per batch instead of once per file and per write (a libuv pool's cost).
//
// The function is the worker's whole source (writerSource): it uses nothing from outside itself
// but the modules and the functions it is given. The WAVs' tracks (wav.ts) live here too: the main
// thread hands over each batch's G.711 payloads, and the tracks place, interleave and write them.
import { wavTracks, type WavTables } from "./wav";

export interface WriteOp {
  id: number;                      // the file, numbered by the main thread
  path?: string;                   // on the file's first op: made with it ("wx": never an existing file)
  position?: number;               // a write: its bytes at this position
  bytes?: Uint8Array;
  close?: boolean;                 // the file's last op (a WAV's track is finished first)
  block?: boolean;                 // bytes are a view of one of the main thread's blocks: give it back
  wavStart?: [number, number];     // with path: the file is a WAV, its track begun at this capture time (µs) in this law
  wavPackets?: Uint8Array;         // id 0: G.711 payloads for the WAVs' tracks, WAV_RECORD_BYTES of placing before each
  internal?: boolean;              // a write a WAV's track made here: not counted as the main thread's
}

// A G.711 payload for a WAV's track, as FilePool.wavPacket lays it out: the file (u32), direction
// (u8), payload type (u8), payload length (u16), SSRC (u32), RTP timestamp (u32), capture time in
// µs (f64), then the payload. Little-endian.
export const WAV_RECORD_BYTES = 24;

export interface WriteReply {
  handled: number;                 // ops handled since the last reply
  done: number;                    // bytes of their writes (written, or dropped for a lost file)
  closed: [number, boolean][];     // files closed: [file, made and written (false: it was lost)]
  lost: { id: number; code: string; message: string; dropped: number }[]; // files that could not be made or reopened
  dropped: number[];               // bytes not written because their file was lost earlier
  errors: { id: number; code: string; message: string }[]; // writes that failed (the file goes on)
  blocks: ArrayBuffer[];           // the main thread's blocks, back for reuse
  wavBuffers: ArrayBuffer[];       // the buffers the WAVs' payloads came in, back for reuse
  grown: [number, number][];       // bytes written to a file by its WAV's track here: [file, bytes]
  late: number;                    // packets the WAVs finished since the last reply dropped as late
  waiting: number;                 // bytes the WAVs' tracks wrote that wait for their files to be made (a bound's part)
  open: number;                    // descriptors open now
  mostOpen: number;                // most ever open at once
  reopened: number;                // files reopened so far
}

// Files made at once, each by one of libuv's threads while this one writes others: making a file
// holds its directory's lock, and more makers only spin on it (perf: rwsem_spin_on_owner).
const MAKING_MAX = 2;
// The writer thread's ops are taken this long at a time (ms), the files' making going on between.
const SLICE_MS = 2;

export function writerThread(threads: typeof import("node:worker_threads"), fs: typeof import("node:fs"), makingMax: number,
  makeTracks: typeof wavTracks, recordBytes: number, sliceMs: number): void {
  const { parentPort, workerData } = threads;
  const { limit, tables } = workerData as { limit: number; tables: WavTables };
  // A WAV's file is made at its track's first write, as a file of the main thread's is at its first.
  const wavPaths = new Map<number, string>();
  // The tracks' bytes waiting for their files: the main thread counts them in the bytes on their way
  // to the disk, which hold its input (FilePool.backlog), as it counts its own.
  let waitingBytes = 0;
  const tracks = makeTracks(tables, (id, bytes, position) => {
    const path = wavPaths.get(id);
    if (path !== undefined) wavPaths.delete(id);
    handle({ id, path, bytes, position, internal: true });
  });
  interface File { path: string; making: boolean; waiting: WriteOp[] }
  const files = new Map<number, File>();      // files made or being made, not closed
  const open = new Map<number, number>();     // file → descriptor, least recently used first
  const lost = new Set<number>();
  const toMake: number[] = [];
  let making = 0;
  let mostOpen = 0;
  let reopened = 0;
  let reply = fresh();
  let replying = false;

  function fresh(): WriteReply {
    return { handled: 0, done: 0, closed: [], lost: [], dropped: [], errors: [], blocks: [], wavBuffers: [], grown: [], late: 0, waiting: 0, open: 0, mostOpen: 0, reopened: 0 };
  }

  function send(): void {
    replying = false;
    if (reply.handled === 0 && reply.lost.length === 0 && reply.grown.length === 0) return;
    const out = reply;
    reply = fresh();
    out.waiting = waitingBytes;
    out.open = open.size;
    out.mostOpen = mostOpen;
    out.reopened = reopened;
    parentPort?.postMessage(out, [...out.blocks, ...out.wavBuffers]);
  }

  function later(): void {
    if (replying) return;
    replying = true;
    setImmediate(send);
  }

  const codeOf = (err: unknown): { code: string; message: string } =>
    ({ code: (err as NodeJS.ErrnoException).code ?? "EIO", message: (err as Error).message });

  function loseFile(id: number, err: unknown): void {
    lost.add(id);
    reply.lost.push({ id, ...codeOf(err), dropped: 0 });
  }

  // Room for a descriptor: the least recently written file gives up its own (reopened when written again).
  function makeRoom(): void {
    while (open.size + making >= limit && open.size > 0) {
      const [oldest, oldFd] = open.entries().next().value as [number, number];
      open.delete(oldest);
      fs.closeSync(oldFd);
    }
  }

  function opened(id: number, fd: number): void {
    open.set(id, fd);
    mostOpen = Math.max(mostOpen, open.size + making);
  }

  function startMaking(): void {
    while (making < Math.min(makingMax, limit) && toMake.length > 0) {
      const id = toMake.shift() as number;
      const file = files.get(id) as File;
      makeRoom();
      making++;
      fs.open(file.path, "wx", 0o640, (err, fd) => {
        making--;
        file.making = false;
        if (err) loseFile(id, err);
        else {
          makeRoom();
          opened(id, fd);
        }
        const waiting = file.waiting.splice(0);
        for (const op of waiting) {
          if (op.internal) waitingBytes -= op.bytes?.byteLength ?? 0;
          run(op);
        }
        startMaking();
        later();
      });
    }
  }

  function descriptor(id: number, file: File): number | undefined {
    const fd = open.get(id);
    if (fd !== undefined) {
      open.delete(id);
      open.set(id, fd);
      return fd;
    }
    makeRoom();
    try {
      const again = fs.openSync(file.path, "r+");
      reopened++;
      opened(id, again);
      return again;
    } catch (err) {
      loseFile(id, err);
      return undefined;
    }
  }

  function write(fd: number, bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
  }

  // A file a WAV's track wrote to, up to `end`: what it adds past its end so far is reported (its
  // header is written again at the end, over its first bytes).
  const ends = new Map<number, number>();
  function grew(id: number, end: number): void {
    const before = ends.get(id) ?? 0;
    if (end <= before) return;
    ends.set(id, end);
    reply.grown.push([id, end - before]);
  }

  // An op whose file is made (or lost). A track's own write counts in no total of the main
  // thread's but `grown`, once written.
  function run(op: WriteOp): void {
    const length = op.bytes?.byteLength ?? 0;
    const file = files.get(op.id);
    const counted = op.internal !== true;
    if (counted) {
      reply.handled++;
      reply.done += length;
    }
    if (lost.has(op.id) || file === undefined) {
      if (length > 0 && counted) reply.dropped.push(length);
    } else if (op.bytes !== undefined) {
      const fd = descriptor(op.id, file);
      if (fd === undefined) {
        if (counted) reply.dropped.push(length);
      } else {
        try {
          write(fd, op.bytes, op.position ?? 0);
          if (!counted) grew(op.id, (op.position ?? 0) + length);
        } catch (err) {
          reply.errors.push({ id: op.id, ...codeOf(err) });
        }
      }
    }
    if (op.block && op.bytes !== undefined) reply.blocks.push(op.bytes.buffer as ArrayBuffer);
    if (!counted && op.bytes !== undefined) tracks.giveBack(op.bytes);
    if (op.close) {
      const fd = open.get(op.id);
      open.delete(op.id);
      files.delete(op.id);
      ends.delete(op.id);
      if (fd !== undefined) fs.closeSync(fd);
      reply.closed.push([op.id, !lost.delete(op.id)]);
    }
  }

  // Ops of a file still being made wait for it, in order.
  function handle(op: WriteOp): void {
    if (op.path !== undefined) {
      files.set(op.id, { path: op.path, making: true, waiting: [] });
      toMake.push(op.id);
      startMaking();
    }
    const file = files.get(op.id);
    if (file !== undefined && file.making) {
      file.waiting.push(op);
      if (op.internal) waitingBytes += op.bytes?.byteLength ?? 0;
    }
    else run(op);
  }

  // The payloads of a batch for the WAVs' tracks, each placed in its call's window; the windows'
  // writes go to their files as ops of this thread's own.
  function wavPackets(view: Uint8Array): void {
    reply.handled++;
    reply.done += view.byteLength;
    const v = new DataView(view.buffer, view.byteOffset, view.byteLength);
    for (let at = 0; at + recordBytes <= view.byteLength;) {
      const length = v.getUint16(at + 6, true);
      const payload = view.subarray(at + recordBytes, at + recordBytes + length);
      tracks.add(v.getUint32(at, true), v.getUint8(at + 4), v.getUint32(at + 8, true), v.getUint32(at + 12, true),
        v.getFloat64(at + 16, true), v.getUint8(at + 5), payload);
      at += recordBytes + length;
    }
  }

  // The main thread's ops, in order. The WAVs' payloads take this thread's time, and the files'
  // making finishes in callbacks that only run between turns: so the ops are taken a slice of time
  // at a time, and the callbacks (which start the next files' making) run in between.
  const work: WriteOp[] = [];
  let next = 0;
  let pumping = false;
  const payloadOps = new Map<ArrayBuffer, number>();   // a payloads' buffer goes back once its last op is taken

  function take(op: WriteOp): void {
    if (op.wavPackets !== undefined) {
      wavPackets(op.wavPackets);
      const buffer = op.wavPackets.buffer as ArrayBuffer;
      const left = (payloadOps.get(buffer) ?? 1) - 1;
      if (left > 0) payloadOps.set(buffer, left);
      else {
        payloadOps.delete(buffer);
        reply.wavBuffers.push(buffer);
      }
      return;
    }
    if (op.wavStart !== undefined) {
      reply.handled++;
      wavPaths.set(op.id, op.path as string);
      tracks.start(op.id, op.wavStart[0], op.wavStart[1]);
      return;
    }
    if (op.close) reply.late += tracks.finish(op.id);   // a WAV's last frames and its header, before it closes
    handle(op);
  }

  function pump(): void {
    pumping = false;
    const until = Date.now() + sliceMs;
    while (next < work.length) {
      take(work[next++] as WriteOp);
      if (Date.now() >= until) break;
    }
    if (next === work.length || next > 4096) {
      work.splice(0, next);
      next = 0;
    }
    if (next < work.length && !pumping) {
      pumping = true;
      setImmediate(pump);
    }
    send();
  }

  parentPort?.on("message", (ops: WriteOp[]) => {
    for (const op of ops) {
      if (op.wavPackets !== undefined) payloadOps.set(op.wavPackets.buffer as ArrayBuffer, (payloadOps.get(op.wavPackets.buffer as ArrayBuffer) ?? 0) + 1);
      work.push(op);
    }
    if (!pumping) pump();
  });
}

// The worker's source: the function above, called with its modules and the WAVs' tracks (a
// string, which the bundler leaves as it is).
export function writerSource(): string {
  return `(${writerThread.toString()})(require("node:worker_threads"), require("node:fs"), ${MAKING_MAX}, ${wavTracks.toString()}, ${WAV_RECORD_BYTES}, ${SLICE_MS})`;
}
