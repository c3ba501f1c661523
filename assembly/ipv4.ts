// IPv4 (RFC 791): validates the header, trims the payload to the total length,
// and hands fragments to reassembly (assembly/defrag.ts).
import { be16, setIPv4 } from "./packet";
import { count } from "./state";
import { C_IPV4, C_FRAME_MALFORMED, C_FRAGMENTS, C_DEFRAG_MALFORMED } from "./layout";
import { addFragment, defragEnabled, doneBase, doneLen, doneProto } from "./defrag";

// The payload for the next stage: bytes [l4Start, l4End) at l4Base.
export let l4Proto: u32 = 0;
export let l4Base: usize = 0;
export let l4Start: u32 = 0;
export let l4End: u32 = 0;
// Bytes of the datagram past l4End that the capture does not hold (the snap length cut them).
export let l4Cut: u32 = 0;

const MORE_FRAGMENTS: u32 = 0x2000;
const OFFSET_MASK: u32 = 0x1fff;

// Returns false when the packet carries nothing for the next stage.
export function decodeIPv4(frame: usize, len: u32, at: u32): bool {
  if (at + 20 > len) return malformed();
  const h = frame + at;
  const headerLen = (<u32>load<u8>(h) & 15) << 2;
  const totalLen = be16(h + 2);
  if ((load<u8>(h) >> 4) != 4 || headerLen < 20 || totalLen < headerLen
    || at + headerLen > len) return malformed();
  count(C_IPV4);
  setIPv4(h);
  l4Proto = load<u8>(h + 9);
  const fragment = be16(h + 6);
  if ((fragment & (MORE_FRAGMENTS | OFFSET_MASK)) != 0) return reassemble(h, at, len, headerLen, totalLen, fragment);
  l4Base = frame;
  l4Start = at + headerLen;
  // A capture may hold Ethernet padding past the datagram, or less than it (snap length).
  l4End = min(at + totalLen, len);
  l4Cut = at + totalLen - l4End;
  return true;
}

function reassemble(h: usize, at: u32, len: u32, headerLen: u32, totalLen: u32, fragment: u32): bool {
  count(C_FRAGMENTS);
  if (!defragEnabled()) return false;
  // A fragment cut by the snap length would leave a hole no later fragment fills.
  if (at + totalLen > len) {
    count(C_DEFRAG_MALFORMED);
    return false;
  }
  if (!addFragment(4, be16(h + 4), l4Proto, l4Proto, h + headerLen, totalLen - headerLen,
    (fragment & OFFSET_MASK) << 3, (fragment & MORE_FRAGMENTS) != 0)) return false;
  l4Base = doneBase;
  l4Start = 0;
  l4End = doneLen;
  l4Cut = 0;
  l4Proto = doneProto;
  return true;
}

function malformed(): bool {
  count(C_FRAME_MALFORMED);
  return false;
}
