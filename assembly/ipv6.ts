// IPv6 (RFC 8200): walks the extension-header chain to the upper-layer header.
import { be16, setIPv6 } from "./packet";
import { count } from "./state";
import { C_IPV6, C_FRAME_MALFORMED, C_FRAGMENTS } from "./layout";

export let l4Proto: u32 = 0;
export let l4Start: u32 = 0;
export let l4End: u32 = 0;

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
  const end = min(at + 40 + be16(h + 4), len);
  let next = <u32>load<u8>(h + 6);
  let pos = at + 40;
  for (let i = 0; i < MAX_EXTENSIONS; i++) {
    if (next == FRAGMENT) {
      count(C_FRAGMENTS);
      return false;
    }
    if (next == NO_NEXT) return false;
    if (next != HOP_BY_HOP && next != ROUTING && next != DEST_OPTS && next != AUTH && next != MOBILITY) {
      l4Proto = next;
      l4Start = pos;
      l4End = end;
      return pos <= end;
    }
    if (pos + 8 > end) return malformed();
    const extLen = next == AUTH
      ? (<u32>load<u8>(frame + pos + 1) + 2) << 2   // RFC 4302: 4-octet units, minus 2
      : (<u32>load<u8>(frame + pos + 1) + 1) << 3;  // RFC 8200: 8-octet units, minus 1
    next = load<u8>(frame + pos);
    pos += extLen;
  }
  return malformed();
}

function malformed(): bool {
  count(C_FRAME_MALFORMED);
  return false;
}
