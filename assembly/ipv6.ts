// IPv6 (RFC 8200): walks the extension-header chain to the upper-layer header,
// handing fragments to reassembly (assembly/defrag.ts).
import { be16, be32, setIPv6 } from "./packet";
import { count } from "./state";
import { C_IPV6, C_FRAME_MALFORMED, C_FRAGMENTS, C_DEFRAG_MALFORMED, C_DEFRAG_ATOMIC } from "./layout";
import { addFragment, defragEnabled, doneBase, doneLen, doneProto } from "./defrag";

// The payload for the next stage: bytes [l4Start, l4End) at l4Base.
export let l4Proto: u32 = 0;
export let l4Base: usize = 0;
export let l4Start: u32 = 0;
export let l4End: u32 = 0;
// Bytes of the datagram past l4End that the capture does not hold (the snap length cut them).
export let l4Cut: u32 = 0;

const HOP_BY_HOP: u32 = 0;
const ROUTING: u32 = 43;
const FRAGMENT: u32 = 44;
const AUTH: u32 = 51;
const DEST_OPTS: u32 = 60;
const MOBILITY: u32 = 135;
const NO_NEXT: u32 = 59;
const MAX_EXTENSIONS = 16; // bound on the chain walk

export function decodeIPv6(frame: usize, len: u32, at: u32): bool {
  if (at + 40 > len) return malformed();
  const h = frame + at;
  if ((load<u8>(h) >> 4) != 6) return malformed();
  count(C_IPV6);
  setIPv6(h);
  const declaredEnd = at + 40 + be16(h + 4);
  l4Cut = declaredEnd > len ? declaredEnd - len : 0;
  return walk(frame, at + 40, min(declaredEnd, len), <u32>load<u8>(h + 6), declaredEnd <= len);
}

// `whole` says the bytes to `end` are all there (not cut by the snap length),
// which a fragment needs; a reassembled payload is walked with `whole` false so
// that a second fragment header inside it is not reassembled again.
function walk(base: usize, pos: u32, end: u32, next: u32, whole: bool): bool {
  for (let i = 0; i < MAX_EXTENSIONS; i++) {
    if (next == NO_NEXT) return false;
    if (next != HOP_BY_HOP && next != ROUTING && next != DEST_OPTS && next != AUTH
      && next != MOBILITY && next != FRAGMENT) {
      l4Proto = next;
      l4Base = base;
      l4Start = pos;
      l4End = end;
      return pos <= end;
    }
    if (pos + 8 > end) return malformed();
    const p = base + pos;
    if (next == FRAGMENT) {
      const field = be16(p + 2);
      const offset = field & 0xfff8;
      const more = (field & 1) != 0;
      // RFC 6946: a fragment header that starts and ends the datagram is processed in place.
      if (offset == 0 && !more) {
        count(C_DEFRAG_ATOMIC);
      } else {
        return reassemble(p, pos, end, offset, more, whole);
      }
    }
    const extLen = next == AUTH
      ? (<u32>load<u8>(p + 1) + 2) << 2   // RFC 4302: 4-octet units, minus 2
      : next == FRAGMENT ? 8
      : (<u32>load<u8>(p + 1) + 1) << 3;  // RFC 8200: 8-octet units, minus 1
    next = load<u8>(p);
    pos += extLen;
  }
  return malformed();
}

function reassemble(p: usize, pos: u32, end: u32, offset: u32, more: bool, whole: bool): bool {
  count(C_FRAGMENTS);
  if (!defragEnabled()) return false;
  if (!whole) {
    count(C_DEFRAG_MALFORMED);
    return false;
  }
  // The key leaves the protocol out: only the first fragment's Next Header counts (RFC 8200 §4.5).
  if (!addFragment(6, be32(p + 4), 0, load<u8>(p), p + 8, end - pos - 8, offset, more)) return false;
  l4Cut = 0;
  return walk(doneBase, 0, doneLen, doneProto, false);
}

function malformed(): bool {
  count(C_FRAME_MALFORMED);
  return false;
}
