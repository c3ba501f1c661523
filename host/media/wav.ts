// A call's audio as a WAV file: G.711 as the call sent it (WAVE_FORMAT_MULAW or _ALAW, 8 kHz,
// 8 bits), one channel per direction (channel 1 the caller's, channel 2 the callee's); a
// direction in the other law is carried over byte by byte. Samples are placed by RTP timestamp,
// so a lost packet leaves silence (the law's silence byte) of its length and the two channels
// stay aligned; where a stream starts, changes SSRC or jumps (its timestamps more than a second
// away from the capture time), it is anchored anew at its capture time. A window of one second
// is held to take packets out of order (at least half a second behind the newest); one later
// than that is dropped and counted. Kept in its law, a packet goes in as one copy and the file is
// half the size of 16-bit PCM; every player decodes it.
//
// The tracks live in the recordings' writer thread (file-writer.ts), beside the files they write:
// the thread that reads the capture only hands each G.711 payload over (files.ts, FilePool.wavPacket).
// wavTracks is sent to that thread as source, so it uses nothing from outside itself but what it
// is given: the law conversion tables and where to write.

// The most of one payload a track takes (its window, a second of samples): the reading thread hands
// over no more, so a payload's length fits the 16 bits FilePool.wavPacket gives it.
export const WAV_PAYLOAD_MAX = 8000;

export interface WavTables {
  alawToUlaw: Uint8Array;
  ulawToAlaw: Uint8Array;
}

export interface WavTracks {
  // A track for file `id`, its law the call's first G.711 packet's (PCMU 0, PCMA 8); its header written.
  start(id: number, firstUs: number, law: number): void;
  // One RTP packet's payload, G.711 of payloadType, from `direction` (0 caller, 1 callee).
  add(id: number, direction: number, ssrc: number, rtpTime: number, timeUs: number, payloadType: number, payload: Uint8Array): void;
  // Writes what is held and the header with the final sizes; the packets the track dropped as late.
  finish(id: number): number;
  // Bytes `write` was given, once written (or dropped): a track's block is used again.
  giveBack(bytes: Uint8Array): void;
}

// `write` is given bytes that are not changed before they are given back (giveBack), so it may hold them.
export function wavTracks(tables: WavTables, write: (id: number, bytes: Uint8Array, position: number) => void): WavTracks {
  const PCMU = 0;
  const SAMPLE_RATE = 8000;
  const CHANNELS = 2;
  const FRAME_BYTES = CHANNELS;              // a byte a sample
  const HEADER_BYTES = 58;                   // RIFF, fmt (18 bytes: a non-PCM format), fact, data
  const WINDOW_FRAMES = SAMPLE_RATE;         // reordering taken: 1 s (WAV_PAYLOAD_MAX, which this function cannot import)
  const JUMP_FRAMES = SAMPLE_RATE;           // a timestamp this far from the capture time is re-anchored
  const SPARE_WINDOWS = 64;                  // windows of finished tracks, for new ones
  const spareWindows: Uint8Array[] = [];
  // A track's frames are gathered into a block of this size before they are written: as many
  // writes, and as many files written between two batches, as when the main thread wrote them.
  const BLOCK_BYTES = 64 * 1024;
  const SPARE_BLOCKS = 1024;
  const spareBlocks: Uint8Array[] = [];

  interface Anchor { ssrc: number; rtpTime: number; frame: number }
  interface Track {
    law: number;
    silence: number;
    startUs: number;
    anchors: (Anchor | undefined)[];
    planes: [Uint8Array, Uint8Array];
    words: [Uint32Array, Uint32Array];      // the planes 4 samples at a time
    windowStart: number;                    // frame number of the window's first sample
    end: number;                            // one past the last frame written into
    written: number;                        // frames in the file, or in its block
    late: number;                           // packets behind the window, dropped
    block: Uint8Array | undefined;          // frames not yet written, from the file's position blockAt
    blockAt: number;
    blockUsed: number;
  }
  const tracks = new Map<number, Track>();

  function header(law: number, frames: number): Uint8Array {
    const dataBytes = Math.min(frames * FRAME_BYTES, 0xffffffff - HEADER_BYTES);
    const h = Buffer.alloc(HEADER_BYTES);
    h.write("RIFF", 0, "ascii");
    h.writeUInt32LE(HEADER_BYTES - 8 + dataBytes, 4);
    h.write("WAVEfmt ", 8, "ascii");
    h.writeUInt32LE(18, 16);
    h.writeUInt16LE(law === PCMU ? 7 : 6, 20);   // WAVE_FORMAT_MULAW, WAVE_FORMAT_ALAW
    h.writeUInt16LE(CHANNELS, 22);
    h.writeUInt32LE(SAMPLE_RATE, 24);
    h.writeUInt32LE(SAMPLE_RATE * FRAME_BYTES, 28);
    h.writeUInt16LE(FRAME_BYTES, 32);
    h.writeUInt16LE(8, 34);
    h.writeUInt16LE(0, 36);            // no extra format bytes
    h.write("fact", 38, "ascii");      // a non-PCM format says its length in samples
    h.writeUInt32LE(4, 42);
    h.writeUInt32LE(Math.floor(dataBytes / FRAME_BYTES), 46);
    h.write("data", 50, "ascii");
    h.writeUInt32LE(dataBytes, 54);
    return h;
  }

  function takeWindow(silence: number): Uint8Array {
    return (spareWindows.pop() ?? new Uint8Array(WINDOW_FRAMES)).fill(silence);
  }

  // The low two bytes of x spread to the low bytes of two 16-bit halves: 0xBBAA becomes 0x00BB00AA.
  function spread(x: number): number {
    return (x | (x << 8)) & 0x00ff00ff;
  }

  // The frame a packet's first sample goes to: by RTP timestamp from the direction's anchor.
  function place(t: Track, direction: number, ssrc: number, rtpTime: number, timeUs: number): number {
    const byClock = Math.round(((timeUs - t.startUs) * SAMPLE_RATE) / 1e6);
    let anchor = t.anchors[direction];
    if (anchor !== undefined && anchor.ssrc === ssrc) {
      const frame = anchor.frame + ((rtpTime - anchor.rtpTime) | 0);
      if (Math.abs(frame - byClock) <= JUMP_FRAMES) return frame;
    }
    anchor = { ssrc, rtpTime, frame: Math.max(byClock, 0) };
    t.anchors[direction] = anchor;
    return anchor.frame;
  }

  // The frames in the track's block, written: the block goes with the write, and comes back
  // through giveBack once written; the next frames take another.
  function flush(id: number, t: Track): void {
    if (t.block === undefined || t.blockUsed === 0) return;
    write(id, t.block.subarray(0, t.blockUsed), t.blockAt);
    t.block = undefined;
    t.blockAt += t.blockUsed;
    t.blockUsed = 0;
  }

  // Room for `bytes` (at most BLOCK_BYTES) in the track's block: where they go.
  function room(id: number, t: Track, bytes: number): number {
    if (t.blockUsed + bytes > BLOCK_BYTES) flush(id, t);
    t.block ??= spareBlocks.pop() ?? new Uint8Array(BLOCK_BYTES);
    const at = t.blockUsed;
    t.blockUsed += bytes;
    return at;
  }

  // The window's first `count` frames (at most WINDOW_FRAMES), interleaved (the caller's byte
  // first) into the block, four frames a step: a word of each plane makes two words of frames (the
  // host is little-endian, as the core), the last one to three frames a byte at a time.
  function writeFrames(id: number, t: Track, count: number): void {
    if (count <= 0) return;
    const [caller, callee] = t.words;
    const at = room(id, t, count * FRAME_BYTES);
    const block = t.block as Uint8Array;
    const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
    const steps = count >> 2;
    for (let i = 0; i < steps; i++) {
      const a = caller[i] as number;
      const b = callee[i] as number;
      view.setUint32(at + 8 * i, spread(a & 0xffff) | (spread(b & 0xffff) << 8), true);
      view.setUint32(at + 8 * i + 4, spread(a >>> 16) | (spread(b >>> 16) << 8), true);
    }
    const [callerBytes, calleeBytes] = t.planes;
    for (let k = steps << 2; k < count; k++) {
      block[at + 2 * k] = callerBytes[k] as number;
      block[at + 2 * k + 1] = calleeBytes[k] as number;
    }
    t.written += count;
  }

  // A gap past everything held: silence, a window's length at a time.
  function writeSilence(id: number, t: Track, frames: number): void {
    for (let left = frames; left > 0; left -= WINDOW_FRAMES) {
      const n = Math.min(left, WINDOW_FRAMES);
      const at = room(id, t, n * FRAME_BYTES);
      (t.block as Uint8Array).fill(t.silence, at, at + n * FRAME_BYTES);
      t.written += n;
    }
  }

  // Writes every frame before `frame` (silence where nothing came) and moves the window there.
  function slide(id: number, t: Track, frame: number): void {
    const skipped = frame - t.windowStart;
    writeFrames(id, t, Math.min(skipped, WINDOW_FRAMES));
    for (const plane of t.planes) {
      if (skipped >= WINDOW_FRAMES) plane.fill(t.silence);
      else {
        plane.copyWithin(0, skipped);
        plane.fill(t.silence, WINDOW_FRAMES - skipped);
      }
    }
    if (skipped > WINDOW_FRAMES) writeSilence(id, t, skipped - WINDOW_FRAMES);
    t.windowStart = frame;
  }

  return {
    start(id, firstUs, law) {
      const silence = law === PCMU ? 0xff : 0xd5;
      const planes: [Uint8Array, Uint8Array] = [takeWindow(silence), takeWindow(silence)];
      tracks.set(id, {
        law, silence, startUs: firstUs, anchors: [undefined, undefined], planes,
        words: [new Uint32Array(planes[0].buffer), new Uint32Array(planes[1].buffer)],
        windowStart: 0, end: 0, written: 0, late: 0, block: undefined, blockAt: 0, blockUsed: 0,
      });
      const t = tracks.get(id) as Track;
      const at = room(id, t, HEADER_BYTES);   // the header goes first into the block: a short call's file is written once
      (t.block as Uint8Array).set(header(law, 0), at);
    },

    add(id, direction, ssrc, rtpTime, timeUs, payloadType, payload) {
      const t = tracks.get(id);
      if (t === undefined) return;
      const frame = place(t, direction, ssrc, rtpTime, timeUs);
      if (frame < t.windowStart) {
        t.late++;
        return;
      }
      const length = Math.min(payload.byteLength, WINDOW_FRAMES);
      // The window moves on by at least half its length at a time: one copy per half second, not per packet.
      const past = frame + length - (t.windowStart + WINDOW_FRAMES);
      if (past > 0) slide(id, t, t.windowStart + Math.max(past, WINDOW_FRAMES / 2));
      const plane = t.planes[direction] as Uint8Array;
      const at = frame - t.windowStart;
      if (payloadType === t.law) plane.set(length === payload.byteLength ? payload : payload.subarray(0, length), at);
      else {
        const into = t.law === PCMU ? tables.alawToUlaw : tables.ulawToAlaw;
        for (let i = 0; i < length; i++) plane[at + i] = into[payload[i] as number] as number;
      }
      if (frame + length > t.end) t.end = frame + length;
    },

    finish(id) {
      const t = tracks.get(id);
      if (t === undefined) return 0;
      tracks.delete(id);
      writeFrames(id, t, t.end - t.windowStart);
      // The header with the final sizes: in the block while the file's start is still there.
      if (t.blockAt === 0 && t.block !== undefined) t.block.set(header(t.law, t.written), 0);
      else write(id, header(t.law, t.written), 0);
      flush(id, t);
      for (const plane of t.planes) if (spareWindows.length < SPARE_WINDOWS) spareWindows.push(plane);
      return t.late;
    },

    giveBack(bytes) {
      if (bytes.byteOffset === 0 && bytes.buffer.byteLength === BLOCK_BYTES && spareBlocks.length < SPARE_BLOCKS) {
        spareBlocks.push(new Uint8Array(bytes.buffer as ArrayBuffer));
      }
    },
  };
}
