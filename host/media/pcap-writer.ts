// The classic pcap format (nanosecond timestamps): a file header with the frames' link type and
// one record per frame, its bytes exactly as captured. Used for a call's own capture file
// (recorder.ts) and for the frame that made the core trap (host/cli/traps.ts).

const PCAP_MAGIC_NSEC = 0xa1b23c4d;
const SNAPLEN = 262144;
export const PCAP_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;

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

// The record of one frame: header and bytes in one buffer.
export function pcapRecord(frame: CapturedFrame): Buffer {
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + frame.bytes.byteLength);
  record.writeUInt32LE(frame.timeSec >>> 0, 0);
  record.writeUInt32LE(frame.timeNsec, 4);
  record.writeUInt32LE(frame.bytes.byteLength, 8);
  record.writeUInt32LE(Math.max(frame.origLen, frame.bytes.byteLength), 12);
  record.set(frame.bytes, RECORD_HEADER_BYTES);
  return record;
}

// One frame as a whole pcap file.
export function pcapOf(frame: CapturedFrame): Buffer {
  return Buffer.concat([pcapHeader(frame.linkType), pcapRecord(frame)]);
}
