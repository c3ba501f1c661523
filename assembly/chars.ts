// Character classes of RFC 3261 §25.1, one table lookup per byte instead of a
// chain of comparisons on the tokenizer's hot path.

export const TOKEN: u8 = 1;  // token characters: methods, header names, parameter names
export const PARAM: u8 = 2;  // characters of a parameter value (token plus []:/@&$()?)
export const LWS: u8 = 4;    // SP, HT, CR, LF
export const DIGIT: u8 = 8;
export const STRUCTURE: u8 = 16; // bytes that change a header value's structure: " \\ < > ; ,

const table: usize = memory.data(256);

export function buildCharClasses(): void {
  for (let c: u32 = 0; c < 256; c++) store<u8>(table + c, classify(c));
}

function classify(c: u32): u8 {
  let bits: u8 = 0;
  const alnum = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
  if (alnum || c == 0x2d || c == 0x2e || c == 0x21 || c == 0x25 || c == 0x2a || c == 0x5f
    || c == 0x2b || c == 0x60 || c == 0x27 || c == 0x7e) bits |= TOKEN | PARAM;
  if (c == 0x5b || c == 0x5d || c == 0x3a || c == 0x2f || c == 0x40 || c == 0x26 || c == 0x24
    || c == 0x28 || c == 0x29 || c == 0x3f) bits |= PARAM;
  if (c == 0x20 || c == 0x09 || c == 0x0d || c == 0x0a) bits |= LWS;
  if (c >= 0x30 && c <= 0x39) bits |= DIGIT;
  if (c == 0x22 || c == 0x5c || c == 0x3c || c == 0x3e || c == 0x3b || c == 0x2c) bits |= STRUCTURE;
  return bits;
}

@inline export function is(c: u32, cls: u8): bool {
  return (load<u8>(table + c) & cls) != 0;
}
