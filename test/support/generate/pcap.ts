// The pcap file: PcapWriter streams a classic pcap (microsecond timestamps, Ethernet) to a file
// descriptor through one buffer, and hands out room in that buffer (FrameBytes) for each frame to
// be written in place. Takes capture times relative to the epoch and frame lengths; gives the
// file, its packet and byte counts, and the --mtu and --tunnel settings the frame writers read.

import { closeSync, writeSync } from "node:fs";
import { EPOCH_US, type WorkloadOptions } from "./options";

// Frames are written in place into the writer's buffer: `bytes` for copies, `view` for fields.
export interface FrameBytes {
  bytes: Buffer;
  view: DataView;
}

const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 65535;
const WRITE_CHUNK_BYTES = 1 << 20;
const RECORD_HEADER_BYTES = 16;

/** Streams records to a file through one buffer; frames are written straight into it. */
export class PcapWriter implements FrameBytes {
  mtu = 0;
  tunnel: WorkloadOptions["tunnel"] = "none";
  nextFragmentId = 1;   // IPv6 fragment identification
  packets = 0;
  fileBytes = 0;
  readonly bytes = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  readonly view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  private used = 0;

  constructor(private readonly fd: number) {
    this.bytes.fill(0, 0, 24);
    this.view.setUint32(0, PCAP_MAGIC_MICROSECONDS, true);
    this.view.setUint16(4, 2, true);
    this.view.setUint16(6, 4, true);
    this.view.setUint32(16, SNAPLEN, true);
    this.view.setUint32(20, LINKTYPE_ETHERNET, true);
    this.used = 24;
    this.fileBytes = 24;
  }

  /** Starts a record of frameLength bytes at timeUs; returns where in `bytes` the frame goes. */
  beginRecord(timeUs: number, frameLength: number): number {
    if (this.used + RECORD_HEADER_BYTES + frameLength > this.bytes.byteLength) this.flush();
    const absoluteUs = EPOCH_US + timeUs;
    const seconds = Math.floor(absoluteUs / 1e6);
    const at = this.used;
    this.view.setUint32(at, seconds, true);
    this.view.setUint32(at + 4, absoluteUs - seconds * 1e6, true);
    this.view.setUint32(at + 8, frameLength, true);
    this.view.setUint32(at + 12, frameLength, true);
    this.used += RECORD_HEADER_BYTES + frameLength;
    this.fileBytes += RECORD_HEADER_BYTES + frameLength;
    this.packets++;
    return at + RECORD_HEADER_BYTES;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private flush(): void {
    let written = 0;
    while (written < this.used) written += writeSync(this.fd, this.bytes, written, this.used - written);
    this.used = 0;
  }
}
