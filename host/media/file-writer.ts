// The recordings' writer thread (FilePool, files.ts): makes, writes and closes the files the main
// thread sends it, in the order sent, with at most `limit` descriptors open (the least recently
// written is closed, and reopened when written again). The main thread sends each batch's writes in
// one message, its blocks transferred, not copied; this thread gives them back once written.
// Making a file and copying its bytes into the page cache are system calls of 0.1 ms and more: here
// they run beside the main thread, which meanwhile reads the capture, and the main thread wakes
// another thread once per batch instead of once per file and per write (a libuv pool's cost).
//
// The function is the worker's whole source (writerSource): it uses nothing from outside itself
// but the modules it is given.

export interface WriteOp {
  id: number;                      // the file, numbered by the main thread
  path?: string;                   // on the file's first op: made with it ("wx": never an existing file)
  position?: number;               // a write: its bytes at this position
  bytes?: Uint8Array;
  close?: boolean;                 // the file's last op
  block?: boolean;                 // bytes are a view of one of the main thread's blocks: give it back
}

export interface WriteReply {
  done: number;                    // bytes of the message's writes handled (written, or dropped for a lost file)
  closed: [number, boolean][];     // files closed: [file, made and written (false: it was lost)]
  lost: { id: number; code: string; message: string; dropped: number }[]; // files that could not be made or reopened
  dropped: number[];               // bytes not written because their file was lost earlier
  errors: { id: number; code: string; message: string }[]; // writes that failed (the file goes on)
  blocks: ArrayBuffer[];           // the main thread's blocks, back for reuse
  open: number;                    // descriptors open now
  mostOpen: number;                // most ever open at once
  reopened: number;                // files reopened so far
}

export function writerThread(threads: typeof import("node:worker_threads"), fs: typeof import("node:fs")): void {
  const { parentPort, workerData } = threads;
  const { limit } = workerData as { limit: number };
  const open = new Map<number, number>();     // file → descriptor, least recently used first
  const paths = new Map<number, string>();    // files made and not closed
  const lost = new Set<number>();
  let mostOpen = 0;
  let reopened = 0;

  const codeOf = (err: unknown): { code: string; message: string } =>
    ({ code: (err as NodeJS.ErrnoException).code ?? "EIO", message: (err as Error).message });

  function descriptor(id: number, path: string | undefined, reply: WriteReply): number | undefined {
    const fd = open.get(id);
    if (fd !== undefined) {
      open.delete(id);
      open.set(id, fd);
      return fd;
    }
    while (open.size >= limit) {
      const [oldest, oldFd] = open.entries().next().value as [number, number];
      open.delete(oldest);
      fs.closeSync(oldFd);
    }
    const known = paths.get(id);
    try {
      const made = path !== undefined ? fs.openSync(path, "wx", 0o640) : fs.openSync(known as string, "r+");
      if (path !== undefined) paths.set(id, path);
      else reopened++;
      open.set(id, made);
      mostOpen = Math.max(mostOpen, open.size);
      return made;
    } catch (err) {
      lost.add(id);
      reply.lost.push({ id, ...codeOf(err), dropped: 0 });
      return undefined;
    }
  }

  function write(fd: number, bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
  }

  function handle(op: WriteOp, reply: WriteReply): void {
    const length = op.bytes?.byteLength ?? 0;
    reply.done += length;
    if (lost.has(op.id)) {
      if (length > 0) reply.dropped.push(length);
    } else {
      const fd = op.path !== undefined || op.bytes !== undefined ? descriptor(op.id, op.path, reply) : open.get(op.id);
      if (fd === undefined && lost.has(op.id)) {
        const last = reply.lost[reply.lost.length - 1];
        if (last !== undefined) last.dropped += length;
      } else if (fd !== undefined && op.bytes !== undefined) {
        try {
          write(fd, op.bytes, op.position ?? 0);
        } catch (err) {
          reply.errors.push({ id: op.id, ...codeOf(err) });
        }
      }
    }
    if (op.block && op.bytes !== undefined) reply.blocks.push(op.bytes.buffer as ArrayBuffer);
    if (op.close) {
      const fd = open.get(op.id);
      open.delete(op.id);
      paths.delete(op.id);
      if (fd !== undefined) fs.closeSync(fd);
      reply.closed.push([op.id, !lost.delete(op.id)]);
    }
  }

  parentPort?.on("message", (ops: WriteOp[]) => {
    const reply: WriteReply = { done: 0, closed: [], lost: [], dropped: [], errors: [], blocks: [], open: 0, mostOpen: 0, reopened: 0 };
    for (const op of ops) handle(op, reply);
    reply.open = open.size;
    reply.mostOpen = mostOpen;
    reply.reopened = reopened;
    parentPort.postMessage(reply, reply.blocks);
  });
}

// The worker's source: the function above, called with its modules (a string, which the bundler
// leaves as it is).
export function writerSource(): string {
  return `(${writerThread.toString()})(require("node:worker_threads"), require("node:fs"))`;
}
