// UDP (RFC 768): ports and the payload, trimmed to the UDP length.
import { be16, setPorts } from "./packet";
import { count } from "./state";
import { C_UDP, C_FRAME_MALFORMED } from "./layout";

export let payloadStart: u32 = 0;
export let payloadEnd: u32 = 0;

export function decodeUdp(frame: usize, start: u32, end: u32): bool {
  if (start + 8 > end) {
    count(C_FRAME_MALFORMED);
    return false;
  }
  count(C_UDP);
  const u = frame + start;
  setPorts(be16(u), be16(u + 2));
  const udpLen = be16(u + 4);
  payloadStart = start + 8;
  // Length 0 is legal for jumbograms (RFC 2675); otherwise trust the smaller bound.
  payloadEnd = udpLen >= 8 ? min(start + udpLen, end) : end;
  return true;
}
