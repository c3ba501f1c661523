// IPv4 (RFC 791): validates the header, trims the payload to the total length,
// and counts fragments (reassembly is a later stage).
import { be16, setIPv4 } from "./packet";
import { count } from "./state";
import { C_IPV4, C_FRAME_MALFORMED, C_FRAGMENTS } from "./layout";

export let l4Proto: u32 = 0;
export let l4Start: u32 = 0;
export let l4End: u32 = 0;

// Returns false when the packet carries nothing for the next stage.
export function decodeIPv4(frame: usize, len: u32, at: u32): bool {
  if (at + 20 > len) return malformed();
  const h = frame + at;
  const headerLen = (<u32>load<u8>(h) & 15) << 2;
  const totalLen = be16(h + 2);
  if ((load<u8>(h) >> 4) != 4 || headerLen < 20 || totalLen < headerLen
    || at + headerLen > len) return malformed();
  count(C_IPV4);
  const fragment = be16(h + 6) & 0x3fff; // MF flag and fragment offset
  if (fragment != 0) {
    count(C_FRAGMENTS);
    return false;
  }
  setIPv4(h);
  l4Proto = load<u8>(h + 9);
  l4Start = at + headerLen;
  // A capture may hold Ethernet padding past the datagram, or less than it (snap length).
  l4End = min(at + totalLen, len);
  return true;
}

function malformed(): bool {
  count(C_FRAME_MALFORMED);
  return false;
}
