// Byte vectors for the SIMD scans: splat(0x0d) is sixteen CRs, loaded from a table. Written as
// i8x16.splat(0x0d), the vector is a constant that binaryen folds into each of its uses, inside
// loops too, and V8 then builds it anew at each one (a move, a shuffle): the base64 encoder ran at
// half speed so, and the header-end scan spent a few instructions of every 16-byte step on it.
// A load from memory is neither folded nor rebuilt. The table holds all 256 byte values (4 KiB),
// filled when the instance starts. (sipvalue.ts keeps its splats: its test builds it alone, without
// SIMD too, and a module exporting a v128 function cannot be compiled so.)
const TABLE: usize = memory.data(256 * 16, 16);
for (let b: u32 = 0; b < 256; b++) memory.fill(TABLE + (<usize>b << 4), <u8>b, 16);

@inline export function splat(b: u32): v128 {
  return v128.load(TABLE + (<usize>(b & 0xff) << 4));
}
