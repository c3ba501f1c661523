// Hot scans over message bytes. The SIMD build compares 16 bytes at a time
// (about 6x the scalar rate on these machines); the scalar build, chosen by
// the host where SIMD is missing, gives the same answers.

import { is, STRUCTURE } from "./chars";
import { splat } from "./vectors";

const CRLFCRLF: u32 = 0x0a0d0a0d; // "\r\n\r\n" read as a little-endian u32

// Offset of the first CRLF CRLF in [start, end), or -1.
export function findHeaderEnd(base: usize, start: u32, end: u32): i32 {
  return findHeaderEndNotingLines(base, start, end, u32.MAX_VALUE, false);
}

// findHeaderEnd that also notes where each header line ends, so the tokenizer walks the lines
// without scanning them a second time: the CRLFs at or after `linesFrom`, in order, up to
// LINE_ENDS_MAX, and how many there are (`lineCount`, which may be more). With `framingOnly`, only
// those after which a line begins with C, I or L (any case: Call-ID, Content-Length and their
// compact forms begin so), for a tokenizer that reads only those fields and peeks at each one's
// next line for a fold.
export const LINE_ENDS_MAX: u32 = 256;
export const lineEnds: usize = memory.data(LINE_ENDS_MAX * 4, 4);
export let lineEndCount: u32 = 0;
export let lineCount: u32 = 0;

export function findHeaderEndNotingLines(base: usize, start: u32, end: u32, linesFrom: u32, framingOnly: bool): i32 {
  lineEndCount = 0;
  lineCount = 0;
  let i = start;
  if (ASC_FEATURE_SIMD) {
    const cr = splat(0x0d);
    while (i + 19 <= end) {
      let bits = i8x16.bitmask(i8x16.eq(v128.load(base + i), cr));
      while (bits != 0) {
        const at = i + <u32>ctz(bits);
        const next4 = load<u32>(base + at);
        if (next4 == CRLFCRLF) return <i32>at;
        if ((next4 & 0xffff) == 0x0a0d && at >= linesFrom) noteLineEnd(at, next4, framingOnly);
        bits &= bits - 1;
      }
      i += 16;
    }
  }
  // The tail (all of it in the scalar build), a byte at a time.
  for (; i + 4 <= end; i++) {
    if (load<u8>(base + i) != 0x0d) continue;
    const next4 = load<u32>(base + i);
    if (next4 == CRLFCRLF) return <i32>i;
    if ((next4 & 0xffff) == 0x0a0d && i >= linesFrom) noteLineEnd(i, next4, framingOnly);
  }
  return -1;
}

// `next4`: the CRLF and the next line's first two bytes.
@inline function noteLineEnd(at: u32, next4: u32, framingOnly: bool): void {
  lineCount++;
  const next = (next4 >> 16) & 0xff | 0x20;
  if (lineEndCount < LINE_ENDS_MAX && (!framingOnly || next == 0x63 || next == 0x69 || next == 0x6c)) {
    store<u32>(lineEnds + (<usize>lineEndCount << 2), at);
    lineEndCount++;
  }
}

// Offset of the first CRLF in [start, end), or -1.
export function findLineEnd(base: usize, start: u32, end: u32): i32 {
  if (ASC_FEATURE_SIMD) return findLineEndSimd(base, start, end);
  return findLineEndScalar(base, start, end);
}

function findLineEndSimd(base: usize, start: u32, end: u32): i32 {
  const cr = splat(0x0d);
  let i = start;
  // Whole blocks that leave a byte after them, so the LF check stays in bounds.
  while (i + 17 <= end) {
    let bits = i8x16.bitmask(i8x16.eq(v128.load(base + i), cr));
    while (bits != 0) {
      const at = i + <u32>ctz(bits);
      if (load<u8>(base + at + 1) == 0x0a) return <i32>at;
      bits &= bits - 1;
    }
    i += 16;
  }
  return findLineEndScalar(base, i, end);
}

function findLineEndScalar(base: usize, start: u32, end: u32): i32 {
  for (let i = start; i + 2 <= end; i++) {
    if (load<u8>(base + i) == 0x0d && load<u8>(base + i + 1) == 0x0a) return <i32>i;
  }
  return -1;
}

// Which of the bytes [start, start + 16) that lie before `end` can change a header
// value's structure (a quote, backslash, angle bracket, semicolon or comma): bit k
// for byte start + k. Parameter searches visit only these bytes, a block at a time.
// The SIMD build loads the 16 bytes wherever `readable` (the header section's end) lets it, and
// masks off those past `end`: a value's last block, short of 16 bytes, is then one load, not a
// byte-at-a-time loop.
export function structuralBits(base: usize, start: u32, end: u32, readable: u32): u32 {
  if (ASC_FEATURE_SIMD && start + 16 <= readable) {
    const v = v128.load(base + start);
    const hits = v128.or(
      v128.or(i8x16.eq(v, splat(0x22)), i8x16.eq(v, splat(0x5c))),
      v128.or(v128.or(i8x16.eq(v, splat(0x3c)), i8x16.eq(v, splat(0x3e))),
        v128.or(i8x16.eq(v, splat(0x3b)), i8x16.eq(v, splat(0x2c)))));
    const bits = <u32>i8x16.bitmask(hits);
    return end - start >= 16 ? bits : bits & ((<u32>1 << (end - start)) - 1);
  }
  const n = min<u32>(16, end - start);
  let bits: u32 = 0;
  for (let k: u32 = 0; k < n; k++) if (is(load<u8>(base + start + k), STRUCTURE)) bits |= 1 << k;
  return bits;
}
