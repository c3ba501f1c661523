// The classic pcap format (nanosecond timestamps): a file header with the frames' link type and
// one record per frame, its bytes exactly as captured. Used for a call's own capture file
// (recorder.ts) and for the frame that made the core trap (host/cli/traps.ts).

const PCAP_MAGIC_NSEC = 0xa1b23c4d;
const SNAPLEN = 262144;
export const PCAP_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 16;

export interface CapturedFrame {
  bytes: Uint8Array;
  linkType: number;
  timeSec: number;
  timeNsec: number;
  origLen: number;
}

export function pcapHeader(linkType: number): Buffer {
  const header = Buffer.alloc(PCAP_HEADER_BYTES);
  header.writeUInt32LE(PCAP_MAGIC_NSEC, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(SNAPLEN, 16);
  header.writeUInt32LE(linkType, 20);
  return header;
}

// The record of one frame written into `out` at `at`: header, then the bytes.
export function writePcapRecord(out: Buffer, at: number, frame: CapturedFrame): void {
  writeRecordOf(out, new DataView(out.buffer, out.byteOffset, out.byteLength), at, frame.bytes, frame.timeSec, frame.timeNsec, frame.origLen);
}

// The same from its parts, for a writer that makes no object per frame: `view` is `out`'s bytes.
export function writeRecordOf(out: Uint8Array, view: DataView, at: number, bytes: Uint8Array, timeSec: number, timeNsec: number, origLen: number): void {
  view.setUint32(at, timeSec >>> 0, true);
  view.setUint32(at + 4, timeNsec, true);
  view.setUint32(at + 8, bytes.byteLength, true);
  view.setUint32(at + 12, Math.max(origLen, bytes.byteLength), true);
  out.set(bytes, at + RECORD_HEADER_BYTES);
}

export function pcapRecord(frame: CapturedFrame): Buffer {
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + frame.bytes.byteLength);
  writePcapRecord(record, 0, frame);
  return record;
}

// One frame as a whole pcap file.
export function pcapOf(frame: CapturedFrame): Buffer {
  return Buffer.concat([pcapHeader(frame.linkType), pcapRecord(frame)]);
}
