// G.711 (ITU-T G.711, as the classic Sun reference code computes it): PCMU (mu-law) and PCMA
// (A-law) bytes to 16-bit linear samples and back, and the tables that carry a byte of one law
// into the other (through linear). The recorder's WAV keeps a call's audio in its own law
// (wav.ts); the generator encodes its test signal with these (test/support/generate/media.ts).

export const PCMU = 0;
export const PCMA = 8;
// The byte each law sends for silence: mu-law's is exactly 0; A-law has no 0, 0xD5 is +8.
export const SILENCE = { [PCMU]: 0xff, [PCMA]: 0xd5 } as const;

const MU_SEGMENT_ENDS = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
const A_SEGMENT_ENDS = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

function segment(value: number, ends: readonly number[]): number {
  for (let i = 0; i < ends.length; i++) if (value <= (ends[i] ?? 0)) return i;
  return ends.length;
}

export function linearToUlaw(sample: number): number {
  let value = sample >> 2;
  let mask = 0xff;
  if (value < 0) {
    value = -value;
    mask = 0x7f;
  }
  value = Math.min(value, 8159) + (0x84 >> 2);
  const seg = segment(value, MU_SEGMENT_ENDS);
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((value >> (seg + 1)) & 0x0f)) ^ mask;
}

export function linearToAlaw(sample: number): number {
  let value = sample >> 3;
  let mask = 0xd5;
  if (value < 0) {
    mask = 0x55;
    value = -value - 1;
  }
  const seg = segment(value, A_SEGMENT_ENDS);
  if (seg >= 8) return 0x7f ^ mask;
  const mantissa = seg < 2 ? (value >> 1) & 0x0f : (value >> seg) & 0x0f;
  return ((seg << 4) | mantissa) ^ mask;
}

// ITU-T G.711 expansion.
export function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4)) - 0x84;
  return (u & 0x80) !== 0 ? -magnitude : magnitude;
}

export function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  const segment = (a & 0x70) >> 4;
  let magnitude = (a & 0x0f) << 4;
  if (segment === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (segment - 1);
  return (a & 0x80) !== 0 ? magnitude : -magnitude;
}

export function isG711(payloadType: number): boolean {
  return payloadType === PCMU || payloadType === PCMA;
}

// A byte of one law as the nearest byte of the other: for a call whose directions differ.
export const ALAW_TO_ULAW = Uint8Array.from({ length: 256 }, (_, byte) => linearToUlaw(alawToLinear(byte)));
export const ULAW_TO_ALAW = Uint8Array.from({ length: 256 }, (_, byte) => linearToAlaw(ulawToLinear(byte)));
