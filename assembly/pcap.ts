// The records of a classic pcap file, indexed where the host's reader lent its chunk: the loop
// host/source/pcap.ts ran per record in JavaScript (five DataView reads and eight typed-array
// stores, about 350 instructions a record) done here over the bytes the host copied into the
// input region. Each record is a 16-byte header (seconds, fraction, captured and original
// length, in the writer's byte order) and its captured bytes; the index entry is the one
// Core.frame() writes.
import {
  FRAME_SIZE, FRAME_OFFSET, FRAME_CAPLEN, FRAME_ORIGLEN, FRAME_LINKTYPE, FRAME_TS_SEC, FRAME_TS_NSEC, FRAME_IFACE,
} from "./layout";
import { inBytes, inBytesCap, inIndex, maxFrames } from "./state";

const RECORD_HEADER: u32 = 16;
const NSEC_PER_SEC: u64 = 1_000_000_000;

let stop: u32 = 0;
let framesEnd: u32 = 0;

// Where the last indexPcap() stopped (an offset in the input region), and the end of its last frame's bytes.
export function pcapStop(): u32 {
  return stop;
}

export function pcapFramesEnd(): u32 {
  return framesEnd;
}

// Indexes the whole records of input bytes [start, end) as frames `first` on, at most `room`:
// stops before a record that is not wholly there or claims more than `maxRecord` bytes (the host
// reports that one). A frame keeps at most `maxFrame` of its bytes. `nsecPerFraction` is 1 for
// nanosecond files, 1000 for microsecond ones. Returns the frames indexed.
export function indexPcap(start: u32, end: u32, first: u32, room: u32, swapped: bool, nsecPerFraction: u32,
  linkType: u32, maxRecord: u32, maxFrame: u32): u32 {
  stop = start;
  framesEnd = start;
  if (end > inBytesCap || start > end || first > maxFrames) return 0;
  room = min(room, maxFrames - first);
  let at = start;
  let n: u32 = 0;
  while (n < room && end - at >= RECORD_HEADER) {
    const h = inBytes + <usize>at;
    const caplen = word(h + 8, swapped);
    if (caplen > maxRecord || caplen > end - at - RECORD_HEADER) break;
    let sec = <u64>word(h, swapped);
    let nsec = <u64>word(h + 4, swapped) * <u64>nsecPerFraction;
    // Damaged or odd writers put a whole second or more in the fraction: nsec stays below 10^9.
    if (nsec >= NSEC_PER_SEC) {
      sec += nsec / NSEC_PER_SEC;
      nsec %= NSEC_PER_SEC;
    }
    const len = min(caplen, maxFrame);
    const e = inIndex + <usize>(first + n) * FRAME_SIZE;
    store<u32>(e + FRAME_OFFSET, at + RECORD_HEADER);
    store<u32>(e + FRAME_CAPLEN, len);
    store<u32>(e + FRAME_ORIGLEN, max(word(h + 12, swapped), caplen));
    store<u32>(e + FRAME_LINKTYPE, linkType);
    store<u64>(e + FRAME_TS_SEC, sec);
    store<u32>(e + FRAME_TS_NSEC, <u32>nsec);
    store<u32>(e + FRAME_IFACE, 0);
    framesEnd = at + RECORD_HEADER + len;
    at += RECORD_HEADER + caplen;
    n++;
  }
  stop = at;
  return n;
}

@inline function word(p: usize, swapped: bool): u32 {
  const w = load<u32>(p);
  return swapped ? bswap<u32>(w) : w;
}
