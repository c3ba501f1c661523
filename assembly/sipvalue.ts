// Header values as the JavaScript call tracker reads them, on bytes. The
// tracker (host/calls/tracker.ts, host/calls/message.ts) works on strings
// decoded from the message's UTF-8 (Buffer toString("utf8"): an ill-formed
// sequence becomes U+FFFD); these functions give the same answers on the bytes,
// so events written from the core are the ones the JavaScript writes:
//   normalize        the bytes of that decoded string (UTF-8 with U+FFFD for each maximal subpart)
//   uriOf            message.ts uriOf(value), as a span of the value
//   expiresParam     message.ts expiresParam(contact)
//   trimmedIsStar    value.trim() === "*"
//   isScannerAgent   tracker.ts SCANNER.test(userAgent)
//   equalBytes       string equality, on normalized bytes
// Why bytes give the strings' answers: every character the JavaScript looks for
// (" \ < > ; , = * digits, the letters of the names) is ASCII; in UTF-8 an
// ASCII byte is always that character and every byte of a non-ASCII character is
// >= 0x80, so no delimiter is found inside one, and a slice between delimiters is
// the same text as a slice between their byte offsets.
//
// Spans are relative to `src`: (start << 32) | length. Every function reads
// only [src, src + length); a span that would wrap around the address space
// gives the "nothing" answer (REFUSED, false, -1, an empty span).

// ---- bytes ----
const HT: u32 = 0x09;
const CR: u32 = 0x0d;
const SP: u32 = 0x20;
const QUOTE: u32 = 0x22;
const STAR: u32 = 0x2a;
const COMMA: u32 = 0x2c;
const SEMI: u32 = 0x3b;
const LT: u32 = 0x3c;
const EQUALS: u32 = 0x3d;
const GT: u32 = 0x3e;
const BACKSLASH: u32 = 0x5c;

const NONE: u32 = 0xffffffff;  // no such index: every index is < length <= 0xffffffff

// What normalizedLength and normalize return for an input they refuse: one
// whose span wraps around the address space, whose normalized length would not
// fit in a u32 (more than 0xfffffffe bytes: it could not be held beside its
// source in a 4 GiB memory anyway), or, for normalize, a destination that
// wraps or overlaps the source.
export const REFUSED: u32 = 0xffffffff;

// [at, at + length) lies inside the 32-bit address space.
@inline function fits(at: usize, length: u32): bool {
  return <u64>at + <u64>length <= 0x1_0000_0000;
}

@inline function span(start: u32, length: u32): u64 {
  return (<u64>start << 32) | <u64>length;
}

// ---- UTF-8 as Node decodes it ----

const BAD: u32 = 8;  // with the length of a maximal subpart (1..3) in the low bits

// The sequence at p, with avail >= 1 bytes left: its length (1..4) when it is a
// well-formed UTF-8 character, else BAD | the length of its maximal subpart, the
// bytes one U+FFFD stands for. The WHATWG Encoding Standard's UTF-8 decoder
// (§4.1, what V8 and so Buffer.toString("utf8") follow), the Unicode Standard's
// "substitution of maximal subparts" (§3.9, Table 3-7 gives the second byte's
// ranges): a byte that cannot continue the sequence ends it and is read again
// as the start of the next; a sequence cut short by the end is one U+FFFD.
function sequence(p: usize, avail: u32): u32 {
  const b0 = <u32>load<u8>(p);
  if (b0 < 0x80) return 1;
  if (b0 < 0xc2 || b0 > 0xf4) return BAD | 1;  // a continuation byte, an overlong lead (C0, C1), beyond U+10FFFF
  const need: u32 = b0 < 0xe0 ? 1 : b0 < 0xf0 ? 2 : 3;
  // Second bytes that would make an overlong form (E0, F0), a surrogate (ED) or
  // a code point past U+10FFFF (F4) are not continuations of that lead.
  let lo: u32 = b0 == 0xe0 ? 0xa0 : b0 == 0xf0 ? 0x90 : 0x80;
  let hi: u32 = b0 == 0xed ? 0x9f : b0 == 0xf4 ? 0x8f : 0xbf;
  for (let k: u32 = 1; k <= need; k++) {
    if (k >= avail) return BAD | k;
    const b = <u32>load<u8>(p + k);
    if (b < lo || b > hi) return BAD | k;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

@inline function asciiEight(p: usize): bool {
  return (load<u64>(p) & 0x8080808080808080) == 0;
}

// Whether all n bytes are ASCII, as nearly every value is: words ORed together, the last one
// overlapping the one before it rather than a loop over the tail's bytes.
function allAscii(p: usize, n: u32): bool {
  if (n >= 8) {
    let seen: u64 = load<u64>(p + n - 8);
    for (let i: u32 = 0; i + 8 < n; i += 8) seen |= load<u64>(p + i);
    return (seen & 0x8080808080808080) == 0;
  }
  if (n >= 4) return ((load<u32>(p) | load<u32>(p + n - 4)) & 0x80808080) == 0;
  let seen: u32 = 0;
  for (let i: u32 = 0; i < n; i++) seen |= load<u8>(p + i);
  return (seen & 0x80) == 0;
}

// Where the first maximal ill-formed subpart at or after `from` starts, `length` when there is
// none; its length in badLength. Eight ASCII bytes at a time where they are.
let badLength: u32 = 0;

function nextBad(src: usize, from: u32, length: u32): u32 {
  let i = from;
  while (i < length) {
    if (length - i >= 8 && asciiEight(src + i)) {
      i += 8;
      continue;
    }
    const s = sequence(src + i, length - i);
    if ((s & BAD) != 0) {
      badLength = s & 7;
      return i;
    }
    i += s;
  }
  return length;
}

// The length of the bytes of the decoded string: each maximal subpart of an
// ill-formed sequence becomes EF BF BD (U+FFFD), the rest is kept. REFUSED
// when that would not fit in a u32 (see REFUSED).
export function normalizedLength(src: usize, length: u32): u32 {
  if (!fits(src, length)) return REFUSED;
  let out: u64 = length;  // at most 3 * length: no overflow
  for (let i = nextBad(src, 0, length); i < length; i = nextBad(src, i, length)) {
    out += 3 - <u64>badLength;
    i += badLength;
  }
  return out >= <u64>REFUSED ? REFUSED : <u32>out;
}

// Writes the decoded string's bytes (normalizedLength of them) at dst and
// returns their count; REFUSED, writing nothing, when normalizedLength is, or
// when [dst, dst + that) wraps or overlaps [src, src + length).
export function normalize(src: usize, length: u32, dst: usize): u32 {
  const total = normalizedLength(src, length);
  if (total == REFUSED || !fits(dst, total)) return REFUSED;
  if (total != 0 && length != 0 && <u64>dst < <u64>src + length && <u64>src < <u64>dst + total) return REFUSED;
  let out: u32 = 0;
  let i: u32 = 0;
  let bad = nextBad(src, 0, length);
  while (bad < length) {
    memory.copy(dst + out, src + i, bad - i);
    out += bad - i;
    store<u8>(dst + out, 0xef);
    store<u8>(dst + out, 0xbf, 1);
    store<u8>(dst + out, 0xbd, 2);
    out += 3;
    i = bad + badLength;
    bad = nextBad(src, i, length);
  }
  memory.copy(dst + out, src + i, length - i);
  return out + (length - i);
}

// Whether normalize would give the bytes back unchanged (the usual case: then
// the value is used where it lies).
export function isWellFormed(src: usize, length: u32): bool {
  return fits(src, length) && (allAscii(src, length) || nextBad(src, 0, length) == length);
}

// ---- white space as JavaScript's trim() and \s see it ----

// String.prototype.trim removes, and the regular expression class \s matches,
// WhiteSpace and LineTerminator (ECMA-262: TrimString, CharacterClassEscape \s,
// §12.2 WhiteSpace, §12.3 LineTerminator): TAB, LF, VT, FF, CR, SPACE, U+00A0, U+1680,
// U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 (the Zs category with
// LS and PS) and U+FEFF. Not U+0085 (NEL) nor U+180E (no longer Zs since Unicode 6.3).
// Their UTF-8 forms: C2 A0, E1 9A 80, E2 80 80..8A, E2 80 A8, E2 80 A9, E2 80 AF,
// E2 81 9F, E3 80 80, EF BB BF.
function isSpace3(b0: u32, b1: u32, b2: u32): bool {
  if (b0 == 0xe2) {
    if (b1 == 0x80) return (b2 >= 0x80 && b2 <= 0x8a) || b2 == 0xa8 || b2 == 0xa9 || b2 == 0xaf;
    return b1 == 0x81 && b2 == 0x9f;
  }
  if (b0 == 0xe1) return b1 == 0x9a && b2 == 0x80;
  if (b0 == 0xe3) return b1 == 0x80 && b2 == 0x80;
  return b0 == 0xef && b1 == 0xbb && b2 == 0xbf;
}

@inline function isAsciiSpace(b: u32): bool {
  return b == SP || (b >= HT && b <= CR);
}

// The length of the white space character at p (avail >= 1 bytes left), 0 when there is none.
function spaceAt(p: usize, avail: u32): u32 {
  const b0 = <u32>load<u8>(p);
  if (isAsciiSpace(b0)) return 1;
  if (b0 < 0xc2) return 0;
  if (b0 == 0xc2) return avail >= 2 && <u32>load<u8>(p, 1) == 0xa0 ? 2 : 0;
  if (avail < 3) return 0;
  return isSpace3(b0, <u32>load<u8>(p, 1), <u32>load<u8>(p, 2)) ? 3 : 0;
}

// The length of the white space character ending at end (avail >= 1 bytes
// before it), 0 when there is none. Reading backwards is safe: each form starts
// with a lead byte (C2, E1, E2, E3, EF), which is never a continuation, so
// the bytes are that character wherever they stand.
function spaceBefore(end: usize, avail: u32): u32 {
  const b = <u32>load<u8>(end - 1);
  if (isAsciiSpace(b)) return 1;
  if (b < 0x80) return 0;
  if (avail >= 2 && b == 0xa0 && <u32>load<u8>(end - 2) == 0xc2) return 2;
  if (avail >= 3 && isSpace3(<u32>load<u8>(end - 3), <u32>load<u8>(end - 2), b)) return 3;
  return 0;
}

function skipSpace(src: usize, from: u32, end: u32): u32 {
  let i = from;
  while (i < end) {
    const n = spaceAt(src + i, end - i);
    if (n == 0) break;
    i += n;
  }
  return i;
}

// [start, end) of src trimmed as String.prototype.trim trims, as a span.
function trimmed(src: usize, start: u32, end: u32): u64 {
  start = skipSpace(src, start, end);
  while (end > start) {
    const n = spaceBefore(src + end, end - start);
    if (n == 0) break;
    end -= n;
  }
  return span(start, end - start);
}

// ---- From, To, Contact values (host/calls/message.ts) ----

// message.ts nextOutside(value, from, stops), stops "<;," when withAngle, else
// ";,": the index of the first stop at or after `from` outside a quoted-string
// and outside <...>, NONE when there is none or a quoted-string never ends.
// The same steps in the same order, so a '"' inside <...> opens a quoted-string
// as it does there. A backslash in a quoted-string skips the next UTF-16 unit
// there and the next byte here: when that is ASCII they are the same character;
// when not, the JavaScript skips a whole BMP character or the high half of a
// surrogate pair and goes on in the low half, this skips the lead byte and goes
// on in the continuation bytes; neither what is skipped nor what is left of the
// character is a quote, backslash or stop, so the scans find the same stops.
// With SIMD, sixteen bytes that change nothing in the current state (outside a quoted-string:
// none of " ; , < >; inside one: neither " nor \) are passed at once; never past `length`.
function nextOutside(src: usize, length: u32, from: u32, withAngle: bool): u32 {
  let quoted = false, angle = false;
  let i = from;
  while (i < length) {
    if (ASC_FEATURE_SIMD && length - i >= 16) {
      const skip = plainBytes(src + i, quoted);
      i += skip;
      if (skip == 16) continue;
    }
    const c = <u32>load<u8>(src + i);
    if (quoted) {
      if (c == BACKSLASH) {
        if (length - i <= 1) break;  // the skipped character would be past the end: no stop
        i++;
      } else if (c == QUOTE) quoted = false;
    } else if (c == QUOTE) quoted = true;
    else if (!angle && (c == SEMI || c == COMMA || (withAngle && c == LT))) return i;
    else if (c == LT) angle = true;
    else if (c == GT) angle = false;
    i++;
  }
  return NONE;
}

// How many of the sixteen bytes at p come before the first that nextOutside must look at.
@inline function plainBytes(p: usize, quoted: bool): u32 {
  const block = v128.load(p);
  let special = i8x16.eq(block, i8x16.splat(<i8>QUOTE));
  if (quoted) {
    special = v128.or(special, i8x16.eq(block, i8x16.splat(<i8>BACKSLASH)));
  } else {
    special = v128.or(special, v128.or(i8x16.eq(block, i8x16.splat(<i8>SEMI)), i8x16.eq(block, i8x16.splat(<i8>COMMA))));
    special = v128.or(special, v128.or(i8x16.eq(block, i8x16.splat(<i8>LT)), i8x16.eq(block, i8x16.splat(<i8>GT))));
  }
  const mask = i8x16.bitmask(special);
  return mask == 0 ? 16 : ctz(mask);
}

function indexOfByte(src: usize, from: u32, length: u32, byte: u32): u32 {
  let i = from;
  if (ASC_FEATURE_SIMD) {
    const wanted = i8x16.splat(<i8>byte);
    for (; length - i >= 16; i += 16) {
      const mask = i8x16.bitmask(i8x16.eq(v128.load(src + i), wanted));
      if (mask != 0) return i + ctz(mask);
    }
  }
  for (; i < length; i++) {
    if (<u32>load<u8>(src + i) == byte) return i;
  }
  return NONE;
}

let addressEnd: u32 = 0;  // set by address(): where the header parameters may start

// message.ts address(value): the URI's span (trimmed), and addressEnd. RFC 3261
// §20.10, §25.1: name-addr = [display-name] LAQUOT addr-spec RAQUOT; an
// addr-spec without one ends at the first ';' or ','.
function address(src: usize, length: u32): u64 {
  const at = nextOutside(src, length, 0, true);
  if (at != NONE && <u32>load<u8>(src + at) == LT) {
    const close = indexOfByte(src, at + 1, length, GT);  // at < length: at + 1 <= length
    if (close == NONE) {
      addressEnd = length;
      return trimmed(src, at + 1, length);
    }
    addressEnd = close + 1;  // close < length
    return trimmed(src, at + 1, close);
  }
  // A quote outside any name-addr: a display name whose closing quote or address never came.
  if (at == NONE && indexOfByte(src, 0, length, QUOTE) != NONE) {
    addressEnd = length;
    return span(0, 0);
  }
  const end = at == NONE ? length : at;
  addressEnd = end;
  return trimmed(src, 0, end);
}

// message.ts uriOf(value): the URI of a From, To or Contact value, as a span of
// it; an empty span (start 0) when a quoted display name never ends. On
// normalized bytes (the span's bytes are then the string's UTF-8).
export function uriOf(src: usize, length: u32): u64 {
  if (!fits(src, length)) return span(0, 0);
  return address(src, length);
}

// "expires", the parameter's name, lower case.
const EXPIRES: usize = memory.data<u8>([0x65, 0x78, 0x70, 0x69, 0x72, 0x65, 0x73]);
const EXPIRES_LENGTH: u32 = 7;
const EXPIRES_MAX: u64 = 0x7fffffff;

// /^\s*expires\s*=\s*(\d+)/i on [at, end), then Math.min(Number(digits),
// 0x7fffffff); -1 when it does not match. Without the u flag, /i folds case by
// ECMA-262 Canonicalize(rer, ch): toUpperCase, except that a non-ASCII
// character never becomes an ASCII one (U+017F, U+0131 and U+212A stay
// themselves), so the letters match exactly the ASCII letters either case.
// \d is [0-9] (CharacterClassEscape \d). Number() of a digit string is its
// value rounded to a double, exact below 2^53 and never below 0x7fffffff when
// the value is not, so saturating at 0x7fffffff gives the same (however long
// the digits: Infinity too).
function expiresAt(src: usize, at: u32, end: u32): i32 {
  let i = skipSpace(src, at, end);
  if (end - i < EXPIRES_LENGTH) return -1;
  for (let k: u32 = 0; k < EXPIRES_LENGTH; k++) {
    // Every letter of "expires": c | 0x20 is it exactly when c is it in either case.
    if ((<u32>load<u8>(src + i + k) | 0x20) != <u32>load<u8>(EXPIRES + k)) return -1;
  }
  i = skipSpace(src, i + EXPIRES_LENGTH, end);
  if (i >= end || <u32>load<u8>(src + i) != EQUALS) return -1;
  i = skipSpace(src, i + 1, end);
  const first = i;
  let value: u64 = 0;
  for (; i < end; i++) {
    const d = <u32>load<u8>(src + i) - 0x30;  // below '0' wraps past 9
    if (d > 9) break;
    value = min<u64>(value * 10 + d, EXPIRES_MAX);  // value <= 2^31 - 1 before: no overflow
  }
  return i == first ? -1 : <i32>value;
}

// message.ts expiresParam(contact): the first contact's ;expires= parameter
// (RFC 3261 §10.2.1.1), among its header parameters after its address and
// before a ',' that starts the next contact. -1 when absent.
export function expiresParam(src: usize, length: u32): i32 {
  if (!fits(src, length)) return -1;
  address(src, length);
  for (let semi = nextOutside(src, length, addressEnd, false);
    semi != NONE && <u32>load<u8>(src + semi) == SEMI;
    semi = nextOutside(src, length, semi + 1, false)) {  // semi < length: semi + 1 <= length
    const value = expiresAt(src, semi + 1, length);
    if (value >= 0) return value;
  }
  return -1;
}

// value.trim() === "*": a Contact of "*" removes every binding (RFC 3261 §10.2.2).
export function trimmedIsStar(src: usize, length: u32): bool {
  if (!fits(src, length)) return false;
  const s = trimmed(src, 0, length);
  return <u32>s == 1 && <u32>load<u8>(src + <usize>(s >>> 32)) == STAR;
}

// ---- scanners (host/calls/tracker.ts SCANNER) ----

// /friendly-scanner|sipvicious|sipcli|sundayddr|iwar|sip-scan|sipsak|smap|pplsip|vaxsipuseragent/i,
// lower case, each word's length and then its bytes.
const SCANNERS: usize = memory.data<u8>([
  16, 0x66, 0x72, 0x69, 0x65, 0x6e, 0x64, 0x6c, 0x79, 0x2d, 0x73, 0x63, 0x61, 0x6e, 0x6e, 0x65, 0x72, // friendly-scanner
  10, 0x73, 0x69, 0x70, 0x76, 0x69, 0x63, 0x69, 0x6f, 0x75, 0x73,                                     // sipvicious
  6, 0x73, 0x69, 0x70, 0x63, 0x6c, 0x69,                                                              // sipcli
  9, 0x73, 0x75, 0x6e, 0x64, 0x61, 0x79, 0x64, 0x64, 0x72,                                            // sundayddr
  4, 0x69, 0x77, 0x61, 0x72,                                                                          // iwar
  8, 0x73, 0x69, 0x70, 0x2d, 0x73, 0x63, 0x61, 0x6e,                                                  // sip-scan
  6, 0x73, 0x69, 0x70, 0x73, 0x61, 0x6b,                                                              // sipsak
  4, 0x73, 0x6d, 0x61, 0x70,                                                                          // smap
  6, 0x70, 0x70, 0x6c, 0x73, 0x69, 0x70,                                                              // pplsip
  15, 0x76, 0x61, 0x78, 0x73, 0x69, 0x70, 0x75, 0x73, 0x65, 0x72, 0x61, 0x67, 0x65, 0x6e, 0x74,      // vaxsipuseragent
  0,
]);

// ASCII letters to lower case; every other byte as it is. With /i and no u flag
// this is the whole of case folding for an ASCII pattern (see expiresAt).
@inline function lower(c: u32): u32 {
  return c - 0x41 < 26 ? c | 0x20 : c;
}

// SCANNER.test(value): one of the words anywhere, ASCII letters either case.
// The same on raw bytes as on normalized ones: a U+FFFD never stands for an
// ASCII byte, so the ASCII runs, where the words are, are the same.
export function isScannerAgent(src: usize, length: u32): bool {
  if (!fits(src, length)) return false;
  for (let i: u32 = 0; i < length; i++) {
    const first = lower(<u32>load<u8>(src + i));
    // Only these letters start a word.
    if (first != 0x66 && first != 0x73 && first != 0x69 && first != 0x70 && first != 0x76) continue;
    for (let word = SCANNERS; ; ) {
      const n = <u32>load<u8>(word);
      if (n == 0) break;
      if (length - i >= n) {
        let k: u32 = 0;
        while (k < n && lower(<u32>load<u8>(src + i + k)) == <u32>load<u8>(word + 1 + k)) k++;
        if (k == n) return true;
      }
      word += 1 + n;
    }
  }
  return false;
}

// The same bytes: on normalized values, the strings are equal (raw bytes are
// not enough: C0 and FF, or FF and EF BF BD, decode to the same string).
export function equalBytes(a: usize, aLength: u32, b: usize, bLength: u32): bool {
  if (aLength != bLength || !fits(a, aLength) || !fits(b, bLength)) return false;
  let i: u32 = 0;
  while (aLength - i >= 8) {
    if (load<u64>(a + i) != load<u64>(b + i)) return false;
    i += 8;
  }
  for (; i < aLength; i++) {
    if (load<u8>(a + i) != load<u8>(b + i)) return false;
  }
  return true;
}
