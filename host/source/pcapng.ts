// pcapng files (draft-ietf-opsawg-pcapng): a sequence of sections, each a Section Header Block
// that sets the byte order, Interface Description Blocks that define the link type and clock of
// each interface, and packet blocks that refer to an interface by its index within the section.
import { CaptureError, MAX_RECORD_BYTES, type FrameConsumer, type UnitReader } from "./frames";

const SECTION_HEADER = 0x0a0d0d0a;
const INTERFACE_DESCRIPTION = 1;
const OBSOLETE_PACKET = 2;
const SIMPLE_PACKET = 3;
const ENHANCED_PACKET = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const SUPPORTED_MAJOR_VERSION = 1;

const BLOCK_HEADER_BYTES = 8;
const SHB_PREFIX_BYTES = 12; // type, length, byte-order magic: enough to read the length
const BLOCK_TRAILER_BYTES = 4;
const MIN_BLOCK_BYTES = 12;
const MIN_BYTES_BY_TYPE = new Map<number, number>([
  [SECTION_HEADER, 28], [INTERFACE_DESCRIPTION, 20], [OBSOLETE_PACKET, 32],
  [SIMPLE_PACKET, 16], [ENHANCED_PACKET, 32],
]);
const BLOCK_NAMES = new Map<number, string>([
  [SECTION_HEADER, "section header block"], [INTERFACE_DESCRIPTION, "interface description block"],
  [OBSOLETE_PACKET, "packet block"], [SIMPLE_PACKET, "simple packet block"],
  [4, "name resolution block"], [5, "interface statistics block"],
  [ENHANCED_PACKET, "enhanced packet block"], [0x0a, "decryption secrets block"],
]);

const OPT_END_OF_OPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
const DEFAULT_TSRESOL = 6; // microseconds, when an IDB has no if_tsresol (§4.2)
const TWO_TO_32 = 4294967296;
// Interfaces a section may define. Each is held for the section's packets to refer to, about
// 200 bytes from a 20-byte block: 2,000,000 of them (a 40 MB file) took 412 MB, and nothing
// stopped a larger file or a stream. A capture has a handful; tshark writes one per interface.
const MAX_INTERFACES = 65536;

export function isPcapngMagic(magic: number): boolean {
  return magic === SECTION_HEADER;
}

function blockName(type: number): string {
  return BLOCK_NAMES.get(type) ?? `block of type 0x${type.toString(16)}`;
}

function paddedTo4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Turns an interface's 64-bit tick count into seconds and nanoseconds, truncating below a
 * nanosecond. if_tsresol (§4.2) is 10^-n, or 2^-n when its high bit is set. Tick rates up to
 * 2^32 per second (every 10^-n up to nanoseconds) use exact float arithmetic; finer ones use BigInt.
 */
class InterfaceClock {
  sec = 0;
  nsec = 0;
  private readonly ticksPerSecond: number;
  private readonly bigTicksPerSecond: bigint;

  constructor(tsresol: number, private readonly offsetSec: number) {
    const exponent = tsresol & 0x7f;
    const base = tsresol & 0x80 ? 2n : 10n;
    this.bigTicksPerSecond = base ** BigInt(exponent);
    this.ticksPerSecond = Number(this.bigTicksPerSecond);
  }

  set(hi: number, lo: number): void {
    if (this.ticksPerSecond <= TWO_TO_32) this.setExactly(hi, lo);
    else this.setWithBigInt(hi, lo);
    this.sec += this.offsetSec;
  }

  // Long division of hi:lo by the rate in 32+16+16-bit digits keeps every step below 2^53, where
  // Math.floor(a / rate) is exact: a quotient short of an integer q by at least 1/rate cannot
  // round up to q, as q * 2^-53 < 1/rate.
  private setExactly(hi: number, lo: number): void {
    const rate = this.ticksPerSecond;
    const qHi = Math.floor(hi / rate);
    const mid = (hi - qHi * rate) * 65536 + (lo >>> 16);
    const qMid = Math.floor(mid / rate);
    const low = (mid - qMid * rate) * 65536 + (lo & 0xffff);
    const qLow = Math.floor(low / rate);
    this.sec = qHi * TWO_TO_32 + qMid * 65536 + qLow;
    // rate is 10^n (n <= 9) or 2^n (n <= 32), so 1e9 / rate and this product are exact.
    this.nsec = Math.floor((low - qLow * rate) * (1e9 / rate));
  }

  private setWithBigInt(hi: number, lo: number): void {
    const ticks = BigInt(hi) * BigInt(TWO_TO_32) + BigInt(lo);
    const rate = this.bigTicksPerSecond;
    this.sec = Number(ticks / rate);
    this.nsec = Number((ticks % rate) * 1_000_000_000n / rate);
  }
}

class CaptureInterface {
  constructor(readonly linkType: number, readonly snaplen: number, readonly clock: InterfaceClock) {}
}

export class PcapngReader implements UnitReader {
  private littleEndian = false;
  private interfaces: CaptureInterface[] = [];

  constructor(private readonly name: string, private readonly sink: FrameConsumer) {}

  unitLength(view: DataView, start: number, available: number, offset: number): number {
    if (available < BLOCK_HEADER_BYTES) return BLOCK_HEADER_BYTES;
    const type = view.getUint32(start, this.littleEndian);
    if (type === SECTION_HEADER && available < SHB_PREFIX_BYTES) return SHB_PREFIX_BYTES;
    const littleEndian = type === SECTION_HEADER
      ? this.sectionByteOrder(view, start, offset) : this.littleEndian;
    const length = view.getUint32(start + 4, littleEndian);
    this.checkBlockLength(type, length, offset);
    return length;
  }

  readUnit(bytes: Uint8Array, view: DataView, start: number, length: number, offset: number): void {
    const type = view.getUint32(start, this.littleEndian);
    if (type === SECTION_HEADER) this.littleEndian = this.sectionByteOrder(view, start, offset);
    this.checkTrailingLength(view, start, length, offset);
    switch (type) {
      case SECTION_HEADER: return this.readSectionHeader(view, start, offset);
      case INTERFACE_DESCRIPTION: return this.readInterfaceDescription(view, start, length, offset);
      case ENHANCED_PACKET: return this.readEnhancedPacket(bytes, view, start, length, offset);
      case SIMPLE_PACKET: return this.readSimplePacket(bytes, view, start, length, offset);
      case OBSOLETE_PACKET: return this.readObsoletePacket(bytes, view, start, length, offset);
      default: return; // NRB, ISB, DSB, custom and unknown blocks carry nothing we use
    }
  }

  unitName(view: DataView, start: number, available: number): string {
    return available < 4 ? "pcapng block" : blockName(view.getUint32(start, this.littleEndian));
  }

  private sectionByteOrder(view: DataView, start: number, offset: number): boolean {
    const magic = view.getUint32(start + 8, false);
    if (magic === BYTE_ORDER_MAGIC) return false;
    if (view.getUint32(start + 8, true) === BYTE_ORDER_MAGIC) return true;
    throw new CaptureError(this.name, offset,
      `section header block has byte-order magic ${magic.toString(16).padStart(8, "0")}, expected 1a2b3c4d`);
  }

  // §3.1: the total length counts the whole block, padded to 32 bits, and is repeated at its end.
  private checkBlockLength(type: number, length: number, offset: number): void {
    const minimum = MIN_BYTES_BY_TYPE.get(type) ?? MIN_BLOCK_BYTES;
    let problem = "";
    if (length % 4 !== 0) problem = "is not a multiple of 4";
    else if (length < minimum) problem = `is below the minimum of ${minimum}`;
    else if (length > MAX_RECORD_BYTES) problem = `is above the limit of ${MAX_RECORD_BYTES}`;
    if (problem !== "") {
      throw new CaptureError(this.name, offset,
        `${blockName(type)} has total length ${length}, which ${problem}: the file is corrupt from here on`);
    }
  }

  private checkTrailingLength(view: DataView, start: number, length: number, offset: number): void {
    const trailing = view.getUint32(start + length - BLOCK_TRAILER_BYTES, this.littleEndian);
    if (trailing !== length) {
      const type = view.getUint32(start, this.littleEndian);
      throw new CaptureError(this.name, offset,
        `${blockName(type)} has total length ${length} but trailing length ${trailing}: the file is corrupt`);
    }
  }

  // §4.1: each section starts afresh; interface indexes restart at 0.
  private readSectionHeader(view: DataView, start: number, offset: number): void {
    const major = view.getUint16(start + 12, this.littleEndian);
    if (major !== SUPPORTED_MAJOR_VERSION) {
      const minor = view.getUint16(start + 14, this.littleEndian);
      throw new CaptureError(this.name, offset, `unsupported pcapng version ${major}.${minor} (expected 1.x)`);
    }
    this.interfaces = [];
  }

  // §4.2: link type, snaplen, and the options that define the interface's clock.
  private readInterfaceDescription(view: DataView, start: number, length: number, offset: number): void {
    const le = this.littleEndian;
    let tsresol = DEFAULT_TSRESOL;
    let offsetSec = 0;
    const end = start + length - BLOCK_TRAILER_BYTES;
    for (let pos = start + 16; pos + 4 <= end;) {
      const code = view.getUint16(pos, le);
      const valueLength = view.getUint16(pos + 2, le);
      if (code === OPT_END_OF_OPT) break;
      if (pos + 4 + valueLength > end) {
        throw new CaptureError(this.name, offset,
          `interface description block option ${code} runs past the end of the block`);
      }
      if (code === OPT_IF_TSRESOL && valueLength >= 1) tsresol = view.getUint8(pos + 4);
      if (code === OPT_IF_TSOFFSET && valueLength >= 8) offsetSec = this.readInt64(view, pos + 4);
      pos += 4 + paddedTo4(valueLength);
    }
    if (this.interfaces.length >= MAX_INTERFACES) {
      throw new CaptureError(this.name, offset, `section defines more than ${MAX_INTERFACES} interfaces: the file is corrupt from here on`);
    }
    this.interfaces.push(new CaptureInterface(view.getUint16(start + 8, le), view.getUint32(start + 12, le),
      new InterfaceClock(tsresol, offsetSec)));
  }

  private readInt64(view: DataView, pos: number): number {
    const le = this.littleEndian;
    const hi = view.getInt32(le ? pos + 4 : pos, le);
    const lo = view.getUint32(le ? pos : pos + 4, le);
    return hi * TWO_TO_32 + lo;
  }

  // §4.3: interface id, 64-bit timestamp, captured and original lengths, then the data.
  private readEnhancedPacket(bytes: Uint8Array, view: DataView, start: number, length: number,
                             offset: number): void {
    const le = this.littleEndian;
    this.deliverTimedPacket(bytes, view, start, length, offset, view.getUint32(start + 8, le));
  }

  // Appendix (obsolete Packet Block): like an EPB, but a 16-bit interface id and a drop count.
  private readObsoletePacket(bytes: Uint8Array, view: DataView, start: number, length: number,
                             offset: number): void {
    const le = this.littleEndian;
    this.deliverTimedPacket(bytes, view, start, length, offset, view.getUint16(start + 8, le));
  }

  private deliverTimedPacket(bytes: Uint8Array, view: DataView, start: number, length: number,
                             offset: number, ifaceId: number): void {
    const le = this.littleEndian;
    const iface = this.interfaceAt(ifaceId, start, view, offset);
    const caplen = view.getUint32(start + 20, le);
    const room = length - 32;
    if (caplen > room) {
      throw new CaptureError(this.name, offset,
        `${this.describe(view, start)} claims ${caplen} captured bytes but has room for ${room}`);
    }
    const clock = iface.clock;
    clock.set(view.getUint32(start + 12, le), view.getUint32(start + 16, le));
    this.sink.frame(bytes, start + 28, caplen, view.getUint32(start + 24, le), iface.linkType,
      clock.sec, clock.nsec, ifaceId);
  }

  // §4.4: always interface 0, no timestamp (delivered as 0), and the captured length is implied:
  // the original length cut to the snaplen and to the room in the block.
  private readSimplePacket(bytes: Uint8Array, view: DataView, start: number, length: number,
                           offset: number): void {
    const iface = this.interfaceAt(0, start, view, offset);
    const origLen = view.getUint32(start + 8, this.littleEndian);
    let caplen = Math.min(origLen, length - 16);
    if (iface.snaplen !== 0) caplen = Math.min(caplen, iface.snaplen);
    this.sink.frame(bytes, start + 12, caplen, origLen, iface.linkType, 0, 0, 0);
  }

  private interfaceAt(ifaceId: number, start: number, view: DataView, offset: number): CaptureInterface {
    const iface = this.interfaces[ifaceId];
    if (iface === undefined) {
      throw new CaptureError(this.name, offset, `${this.describe(view, start)} refers to interface ` +
        `${ifaceId}, but its section defines ${this.interfaces.length} interface(s)`);
    }
    return iface;
  }

  private describe(view: DataView, start: number): string {
    return blockName(view.getUint32(start, this.littleEndian));
  }
}
