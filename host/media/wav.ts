// A call's audio as a WAV file: 16-bit PCM at 8 kHz, one channel per direction (channel 1 the
// caller's, channel 2 the callee's), decoded from G.711 (PCMU, PCMA). Samples are placed by RTP
// timestamp, so a lost packet leaves silence of its length and the two channels stay aligned;
// where a stream starts, changes SSRC or jumps (its timestamps more than a second away from the
// capture time), it is anchored anew at its capture time. A window of one second is held to
// take packets out of order; one later than that is dropped and counted.
import type { PooledFile } from "./files";

export const SAMPLE_RATE = 8000;
const CHANNELS = 2;
const FRAME_BYTES = 2 * CHANNELS;
const WAV_HEADER_BYTES = 44;
const WINDOW_FRAMES = SAMPLE_RATE;          // reordering taken: 1 s
const JUMP_FRAMES = SAMPLE_RATE;            // a timestamp this far from the capture time is re-anchored

export const PCMU = 0;
export const PCMA = 8;

const ULAW = new Int16Array(256);
const ALAW = new Int16Array(256);
for (let byte = 0; byte < 256; byte++) {
  ULAW[byte] = ulawToLinear(byte);
  ALAW[byte] = alawToLinear(byte);
}

// ITU-T G.711 expansion, as the classic Sun reference code does it.
function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4)) - 0x84;
  return (u & 0x80) !== 0 ? -magnitude : magnitude;
}

function alawToLinear(byte: number): number {
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

interface Anchor {
  ssrc: number;
  rtpTime: number;
  frame: number;
}

export function wavHeader(dataBytes: number): Buffer {
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(Math.min(0xffffffff, 36 + dataBytes), 4);
  header.write("WAVEfmt ", 8, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(CHANNELS, 22);
  header.writeUInt32LE(SAMPLE_RATE, 24);
  header.writeUInt32LE(SAMPLE_RATE * FRAME_BYTES, 28);
  header.writeUInt16LE(FRAME_BYTES, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(Math.min(0xffffffff - 36, dataBytes), 40);
  return header;
}

// A window holds each direction's samples as codes, not yet decoded: the G.711 byte, plus 256 for
// PCMA; SILENT where no packet came. Copying a packet in is then a plain copy, and decoding runs
// once per sample over contiguous memory when the window is written out.
const SILENT = 512;
const DECODE = new Int16Array(SILENT + 1);
DECODE.set(ULAW, 0);
DECODE.set(ALAW, 256);
const interleaved = new Int16Array(WINDOW_FRAMES * CHANNELS);   // one track writes at a time: shared

export class WavTrack {
  late = 0;                                   // packets behind the window, dropped
  private readonly anchors: (Anchor | undefined)[] = [undefined, undefined];
  private readonly planes = [new Uint16Array(WINDOW_FRAMES).fill(SILENT), new Uint16Array(WINDOW_FRAMES).fill(SILENT)] as const;
  private windowStart = 0;                    // frame number of the window's first sample
  private end = 0;                            // one past the last frame written into
  private readonly startUs: number;

  constructor(private readonly file: PooledFile, firstUs: number) {
    this.startUs = firstUs;
    file.writeAt(0, wavHeader(0));
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
    plane.set(length === payload.byteLength ? payload : payload.subarray(0, length), at);
    if (payloadType === PCMA) for (let i = at; i < at + length; i++) plane[i] = (plane[i] as number) + 256;
    if (frame + length > this.end) this.end = frame + length;
  }

  // Writes what is held and the header with the final sizes; returns the file's bytes.
  finish(): number {
    this.writeFrames(this.end - this.windowStart);
    const dataBytes = this.end * FRAME_BYTES;
    this.file.writeAt(0, wavHeader(dataBytes));
    this.file.close();
    return WAV_HEADER_BYTES + dataBytes;
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
      if (skipped >= WINDOW_FRAMES) plane.fill(SILENT);
      else {
        plane.copyWithin(0, skipped);
        plane.fill(SILENT, WINDOW_FRAMES - skipped);
      }
    }
    if (skipped > WINDOW_FRAMES) this.writeSilence(skipped - WINDOW_FRAMES);
    this.windowStart = frame;
  }

  // The window's first `count` frames, decoded and interleaved.
  private writeFrames(count: number): void {
    if (count <= 0) return;
    const [caller, callee] = this.planes;
    for (let i = 0, o = 0; i < count; i++, o += CHANNELS) {
      interleaved[o] = DECODE[caller[i] as number] as number;
      interleaved[o + 1] = DECODE[callee[i] as number] as number;
    }
    this.file.append(new Uint8Array(interleaved.buffer, 0, count * FRAME_BYTES));
  }

  // A gap past everything held: silence written in window-sized blocks.
  private writeSilence(frames: number): void {
    const block = new Uint8Array(Math.min(frames, WINDOW_FRAMES) * FRAME_BYTES);
    for (let left = frames; left > 0; left -= WINDOW_FRAMES) {
      this.file.append(left >= WINDOW_FRAMES ? block : block.subarray(0, left * FRAME_BYTES));
    }
  }
}
