// What every source gives and what the readers share: the FrameConsumer that
// takes each frame (the core, or a test's recorder), the error a damaged capture
// raises, and the walk one file format makes over its units.
export interface FrameConsumer {
  // Called once per packet record, synchronously. `data` is a view into the reader's buffer,
  // valid until the sink's release() is called (or, for a sink without release(), until frame()
  // returns); the sink copies what it needs. No per-frame allocation in the readers: pass numbers,
  // not objects.
  frame(data: Uint8Array, start: number, caplen: number, origLen: number, linkType: number,
        tsSec: number, tsNsec: number, iface: number): void;
  // The buffers behind the frames passed so far are about to be reused: copy them now. Lets a
  // sink copy a run of frames from one buffer in a single move instead of one per frame.
  release?(): void;
  // Room in a buffer of the sink's own for the reader's next chunk: up to `bytes`, after `keep`
  // bytes kept free for the unit the reader carries over (whose frame the sink copies there).
  // Frames passed from where the chunk was read need no copy. Undefined: read into your own.
  lend?(keep: number, bytes: number): Uint8Array | undefined;
  // Classic pcap records (host/source/pcap.ts) in `data` from `start`: the sink takes the whole ones
  // up to `end` itself, as frame() would one by one (the core indexes them in one call), and returns
  // where it stopped; the record there, if any, is the reader's (a partial or impossible one, or
  // all of them where the sink cannot take them so). Undefined: frame() per record.
  pcapRecords?(data: Uint8Array, start: number, end: number, format: PcapFormat): number;
}

// What a classic pcap file's header says of its records.
export interface PcapFormat {
  littleEndian: boolean;
  nsecPerFraction: number;     // 1 (nanosecond files) or 1000 (microsecond)
  linkType: number;
  maxRecord: number;           // a record claiming more captured bytes is the file's corruption (MAX_RECORD_BYTES)
}

// `offset` is where in the input the fault is; undefined when the input could not be opened at all.
export class CaptureError extends Error {
  constructor(public file: string, public offset: number | undefined, what: string) {
    super(offset === undefined ? `${file}: ${what}` : `${file}: ${what} at byte ${offset}`);
    this.name = "CaptureError";
  }
}

/** One format's walk over its units. CaptureParser guarantees a unit is whole before readUnit. */
export interface UnitReader {
  /** Bytes the unit at `start` occupies; or, when `available` is too short to tell, the bytes
   *  needed to tell (always more than `available`). Throws CaptureError on an impossible length. */
  unitLength(view: DataView, start: number, available: number, offset: number): number;
  /** Reads the whole unit of `length` bytes at `start`, which is byte `offset` of the input. */
  readUnit(bytes: Uint8Array, view: DataView, start: number, length: number, offset: number): void;
  /** What the unit at `start` is, for a truncation message ("packet record"). */
  unitName(view: DataView, start: number, available: number): string;
  /** Reads the whole units from `start` on that end by `end`, in one loop, as readUnit would one
   *  by one; stops before any it cannot take so (a partial or impossible one, a header), which
   *  the caller then takes unit by unit. Returns where it stopped. */
  readUnits?(bytes: Uint8Array, view: DataView, start: number, end: number): number;
}

/** No record or block we accept is larger: a length beyond it means the file is corrupt, and
 *  refusing it avoids a huge allocation. Every sane snaplen (libpcap's maximum is 262144) fits. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
