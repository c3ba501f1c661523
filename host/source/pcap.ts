// Classic libpcap files: a 24-byte file header, then 16-byte record headers each followed by the
// captured bytes. The magic number tells the writer's byte order and whether the fraction of a
// second is in microseconds or nanoseconds.
import { CaptureError, MAX_RECORD_BYTES, type FrameConsumer, type PcapFormat, type UnitReader } from "./frames";

// As read big-endian from the first four bytes of a file written by a big-endian machine.
const MICROSECOND_MAGIC = 0xa1b2c3d4;
const NANOSECOND_MAGIC = 0xa1b23c4d;
const FILE_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
const SUPPORTED_MAJOR_VERSION = 2;
const NSEC_PER_SEC = 1_000_000_000;

function swapBytes(x: number): number {
  return ((x & 0xff) << 24 | (x & 0xff00) << 8 | (x >>> 8) & 0xff00 | x >>> 24) >>> 0;
}

function isWrittenBigEndian(magic: number): boolean {
  return magic === MICROSECOND_MAGIC || magic === NANOSECOND_MAGIC;
}

/** `magic` is the file's first four bytes read big-endian. */
export function isPcapMagic(magic: number): boolean {
  return isWrittenBigEndian(magic) || isWrittenBigEndian(swapBytes(magic));
}

export class PcapReader implements UnitReader {
  private littleEndian = false;
  private nsecPerFraction = 1000;
  private snaplen = 0;
  private linkType = 0;
  private format: PcapFormat | undefined;   // once the file header is read (the sink's pcapRecords takes it)

  constructor(private readonly name: string, private readonly sink: FrameConsumer) {}

  unitLength(view: DataView, start: number, available: number, offset: number): number {
    if (this.format === undefined) return FILE_HEADER_BYTES;
    if (available < RECORD_HEADER_BYTES) return RECORD_HEADER_BYTES;
    const caplen = view.getUint32(start + 8, this.littleEndian);
    if (caplen > MAX_RECORD_BYTES) {
      throw new CaptureError(this.name, offset, `packet record claims ${caplen} captured bytes ` +
        `(snaplen ${this.snaplen}, limit ${MAX_RECORD_BYTES}): the file is corrupt from here on`);
    }
    return RECORD_HEADER_BYTES + caplen;
  }

  readUnit(bytes: Uint8Array, view: DataView, start: number, length: number, offset: number): void {
    if (this.format === undefined) {
      this.readFileHeader(view, start, offset);
      return;
    }
    this.record(bytes, view, start, length - RECORD_HEADER_BYTES, this.littleEndian);
  }

  // The records of a chunk in one loop: per packet, what readUnit does, without the calls
  // between the file reader and this one (a few hundred instructions a packet otherwise).
  readUnits(bytes: Uint8Array, view: DataView, start: number, end: number): number {
    if (this.format === undefined) return start;
    const le = this.littleEndian;
    let at = this.sink.pcapRecords?.(bytes, start, end, this.format) ?? start;
    while (end - at >= RECORD_HEADER_BYTES) {
      const caplen = view.getUint32(at + 8, le);
      if (caplen > MAX_RECORD_BYTES || caplen > end - at - RECORD_HEADER_BYTES) break;
      this.record(bytes, view, at, caplen, le);
      at += RECORD_HEADER_BYTES + caplen;
    }
    return at;
  }

  private record(bytes: Uint8Array, view: DataView, start: number, caplen: number, le: boolean): void {
    let sec = view.getUint32(start, le);
    let nsec = view.getUint32(start + 4, le) * this.nsecPerFraction;
    if (nsec >= NSEC_PER_SEC) {
      // Damaged or odd writers put a whole second or more in the fraction; keep nsec below 1e9.
      sec += Math.floor(nsec / NSEC_PER_SEC);
      nsec %= NSEC_PER_SEC;
    }
    this.sink.frame(bytes, start + RECORD_HEADER_BYTES, caplen, view.getUint32(start + 12, le), this.linkType, sec, nsec, 0);
  }

  unitName(): string {
    return this.format !== undefined ? "packet record" : "pcap file header";
  }

  private readFileHeader(view: DataView, start: number, offset: number): void {
    const magic = view.getUint32(start, false);
    this.littleEndian = !isWrittenBigEndian(magic);
    const nativeMagic = this.littleEndian ? swapBytes(magic) : magic;
    this.nsecPerFraction = nativeMagic === NANOSECOND_MAGIC ? 1 : 1000;
    const major = view.getUint16(start + 4, this.littleEndian);
    if (major !== SUPPORTED_MAJOR_VERSION) {
      const minor = view.getUint16(start + 6, this.littleEndian);
      throw new CaptureError(this.name, offset, `unsupported pcap version ${major}.${minor} (expected 2.x)`);
    }
    this.snaplen = view.getUint32(start + 16, this.littleEndian);
    // The upper bits of the link-type field carry FCS information, which we do not use.
    this.linkType = view.getUint32(start + 20, this.littleEndian) & 0xffff;
    this.format = { littleEndian: this.littleEndian, nsecPerFraction: this.nsecPerFraction, linkType: this.linkType, maxRecord: MAX_RECORD_BYTES };
  }
}
