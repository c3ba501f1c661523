// A call's audio as a WAV file: G.711 as the call sent it (WAVE_FORMAT_MULAW or _ALAW, 8 kHz,
// 8 bits), one channel per direction (channel 1 the caller's, channel 2 the callee's); a
// direction in the other law is carried over byte by byte. Samples are placed by RTP timestamp,
// so a lost packet leaves silence (the law's silence byte) of its length and the two channels
// stay aligned; where a stream starts, changes SSRC or jumps (its timestamps more than a second
// away from the capture time), it is anchored anew at its capture time. A window of one second
// is held to take packets out of order (at least half a second behind the newest); one later
// than that is dropped and counted. Kept in its law, a packet goes in as one copy and the file is
// half the size of 16-bit PCM; every player decodes it.
import type { PooledFile } from "./files";
import { ALAW_TO_ULAW, PCMA, PCMU, SILENCE, ULAW_TO_ALAW } from "./g711";

export const SAMPLE_RATE = 8000;
const CHANNELS = 2;
const FRAME_BYTES = CHANNELS;              // a byte a sample
export const WAV_HEADER_BYTES = 58;         // RIFF, fmt (18 bytes: a non-PCM format), fact, data
const WINDOW_FRAMES = SAMPLE_RATE;          // reordering taken: 1 s
const JUMP_FRAMES = SAMPLE_RATE;            // a timestamp this far from the capture time is re-anchored
const WAVE_FORMAT = { [PCMU]: 7, [PCMA]: 6 } as const;

export type Law = typeof PCMU | typeof PCMA;

interface Anchor {
  ssrc: number;
  rtpTime: number;
  frame: number;
}

export function wavHeader(law: Law, frames: number): Buffer {
  const dataBytes = Math.min(frames * FRAME_BYTES, 0xffffffff - WAV_HEADER_BYTES);
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, 4);
  header.write("WAVEfmt ", 8, "ascii");
  header.writeUInt32LE(18, 16);
  header.writeUInt16LE(WAVE_FORMAT[law], 20);
  header.writeUInt16LE(CHANNELS, 22);
  header.writeUInt32LE(SAMPLE_RATE, 24);
  header.writeUInt32LE(SAMPLE_RATE * FRAME_BYTES, 28);
  header.writeUInt16LE(FRAME_BYTES, 32);
  header.writeUInt16LE(8, 34);
  header.writeUInt16LE(0, 36);            // no extra format bytes
  header.write("fact", 38, "ascii");      // a non-PCM format says its length in samples
  header.writeUInt32LE(4, 42);
  header.writeUInt32LE(Math.floor(dataBytes / FRAME_BYTES), 46);
  header.write("data", 50, "ascii");
  header.writeUInt32LE(dataBytes, 54);
  return header;
}

// Windows of finished tracks, for new ones: two fresh arrays per call were garbage outside the heap.
const SPARE_WINDOWS = 64;
const spareWindows: Uint8Array[] = [];

function takeWindow(silence: number): Uint8Array {
  return (spareWindows.pop() ?? new Uint8Array(WINDOW_FRAMES)).fill(silence);
}

// The low two bytes of x spread to the low bytes of two 16-bit halves: 0xBBAA becomes 0x00BB00AA.
function spread(x: number): number {
  return (x | (x << 8)) & 0x00ff00ff;
}

export class WavTrack {
  late = 0;                                   // packets behind the window, dropped
  private readonly anchors: (Anchor | undefined)[] = [undefined, undefined];
  private readonly silence: number;
  private readonly planes: readonly [Uint8Array, Uint8Array];
  private readonly words: readonly [Uint32Array, Uint32Array];   // the planes 4 samples at a time
  private windowStart = 0;                    // frame number of the window's first sample
  private end = 0;                            // one past the last frame written into
  private readonly startUs: number;

  // law: the call's first G.711 packet's; the file is in it.
  constructor(private readonly file: PooledFile, firstUs: number, readonly law: Law) {
    this.startUs = firstUs;
    this.silence = SILENCE[law];
    this.planes = [takeWindow(this.silence), takeWindow(this.silence)];
    this.words = [new Uint32Array(this.planes[0].buffer), new Uint32Array(this.planes[1].buffer)];
    file.append(wavHeader(law, 0));
  }

  // One RTP packet's payload, G.711 of payloadType, from `direction` (0 caller, 1 callee).
  add(direction: 0 | 1, ssrc: number, rtpTime: number, timeUs: number, payloadType: number, payload: Uint8Array): void {
    const frame = this.place(direction, ssrc, rtpTime, timeUs);
    if (frame < this.windowStart) {
      this.late++;
      return;
    }
    const length = Math.min(payload.byteLength, WINDOW_FRAMES);
    // The window moves on by at least half its length at a time: one copy per half second, not per packet.
    const past = frame + length - (this.windowStart + WINDOW_FRAMES);
    if (past > 0) this.slide(this.windowStart + Math.max(past, WINDOW_FRAMES / 2));
    const plane = this.planes[direction];
    const at = frame - this.windowStart;
    if (payloadType === this.law) plane.set(length === payload.byteLength ? payload : payload.subarray(0, length), at);
    else {
      const into = this.law === PCMU ? ALAW_TO_ULAW : ULAW_TO_ALAW;
      for (let i = 0; i < length; i++) plane[at + i] = into[payload[i] as number] as number;
    }
    if (frame + length > this.end) this.end = frame + length;
  }

  // Writes what is held and the header with the final sizes.
  finish(): void {
    this.writeFrames(this.end - this.windowStart);
    this.file.patch(0, wavHeader(this.law, this.end));
    this.file.close();
    for (const plane of this.planes) if (spareWindows.length < SPARE_WINDOWS) spareWindows.push(plane);
  }

  // The frame a packet's first sample goes to: by RTP timestamp from the direction's anchor.
  private place(direction: 0 | 1, ssrc: number, rtpTime: number, timeUs: number): number {
    const byClock = Math.round(((timeUs - this.startUs) * SAMPLE_RATE) / 1e6);
    let anchor = this.anchors[direction];
    if (anchor !== undefined && anchor.ssrc === ssrc) {
      const frame = anchor.frame + ((rtpTime - anchor.rtpTime) | 0);
      if (Math.abs(frame - byClock) <= JUMP_FRAMES) return frame;
    }
    anchor = { ssrc, rtpTime, frame: Math.max(byClock, 0) };
    this.anchors[direction] = anchor;
    return anchor.frame;
  }

  // Writes every frame before `frame` (silence where nothing came) and moves the window there.
  private slide(frame: number): void {
    const skipped = frame - this.windowStart;
    this.writeFrames(Math.min(skipped, WINDOW_FRAMES));
    for (const plane of this.planes) {
      if (skipped >= WINDOW_FRAMES) plane.fill(this.silence);
      else {
        plane.copyWithin(0, skipped);
        plane.fill(this.silence, WINDOW_FRAMES - skipped);
      }
    }
    if (skipped > WINDOW_FRAMES) this.writeSilence(skipped - WINDOW_FRAMES);
    this.windowStart = frame;
  }

  // The window's first `count` frames, interleaved (the caller's byte first), straight into the
  // file's block (no copy between): four frames a step, a word of each plane making two words of
  // frames (the host is little-endian, as the core), the last one to three frames a byte at a time.
  private writeFrames(count: number): void {
    if (count <= 0) return;
    const [caller, callee] = this.words;
    const at = this.file.room(count * FRAME_BYTES);
    const view = this.file.blockView;
    const steps = count >> 2;
    for (let i = 0; i < steps; i++) {
      const a = caller[i] as number;
      const b = callee[i] as number;
      view.setUint32(at + 8 * i, spread(a & 0xffff) | (spread(b & 0xffff) << 8), true);
      view.setUint32(at + 8 * i + 4, spread(a >>> 16) | (spread(b >>> 16) << 8), true);
    }
    const block = this.file.block;
    const [callerBytes, calleeBytes] = this.planes;
    for (let k = steps << 2; k < count; k++) {
      block[at + 2 * k] = callerBytes[k] as number;
      block[at + 2 * k + 1] = calleeBytes[k] as number;
    }
  }

  // A gap past everything held: silence written in window-sized blocks.
  private writeSilence(frames: number): void {
    const block = new Uint8Array(Math.min(frames, WINDOW_FRAMES) * FRAME_BYTES).fill(this.silence);
    for (let left = frames; left > 0; left -= WINDOW_FRAMES) {
      this.file.append(left >= WINDOW_FRAMES ? block : block.subarray(0, left * FRAME_BYTES));
    }
  }
}
