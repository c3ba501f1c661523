// Feeds a generated --media workload through the real core and the recorder, one frame per push,
// giving the recorder the media side of each batch as host/core/records.ts gives it
// (MediaPacket, frame(i)): built here from the generator's truth (which ports carry which call's
// RTP and RTCP) until the core ties media to calls itself. Also what each call's pcap must hold.
import { readFileSync } from "node:fs";
import { Core, type CoreOptions } from "../../host/core";
import type { CapturedFrame, MediaPacket, MessageBatch, SipMessage } from "../../host/core/records";
import type { Recorder } from "../../host/media";
import type { CallTruth, Truth } from "./generate";
import { chirpSample } from "./generate/media";
import { alawToLinear, ulawToLinear } from "../../host/media/g711";
import type { StreamTruth } from "./generate/truth";

export interface Frame extends CapturedFrame {
  tsSec: number;
  tsUsec: number;
}

export function readPcap(path: string): Frame[] {
  const file = readFileSync(path);
  const nanoseconds = file.readUInt32LE(0) === 0xa1b23c4d;
  const linkType = file.readUInt32LE(20);
  const frames: Frame[] = [];
  for (let at = 24; at < file.length; ) {
    const tsSec = file.readUInt32LE(at);
    const fraction = file.readUInt32LE(at + 4);
    const caplen = file.readUInt32LE(at + 8);
    const origLen = file.readUInt32LE(at + 12);
    const tsUsec = nanoseconds ? Math.floor(fraction / 1000) : fraction;
    frames.push({ bytes: file.subarray(at + 16, at + 16 + caplen), linkType, timeUs: tsSec * 1e6 + tsUsec, origLen, tsSec, tsUsec });
    at += 16 + caplen;
  }
  return frames;
}

interface Udp {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

function canonical(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return new URL(`http://[${groups.join(":")}]`).hostname.slice(1, -1);
}

export function udpOf(frame: Uint8Array): Udp | undefined {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let at = 12;
  while (view.getUint16(at) === 0x8100 || view.getUint16(at) === 0x88a8) at += 4;
  const type = view.getUint16(at);
  at += 2;
  let udp: number;
  let src: string;
  let dst: string;
  if (type === 0x0800 && frame[at + 9] === 17) {
    udp = at + ((frame[at] ?? 0) & 15) * 4;
    src = canonical(frame.subarray(at + 12, at + 16));
    dst = canonical(frame.subarray(at + 16, at + 20));
  } else if (type === 0x86dd && frame[at + 6] === 17) {
    udp = at + 40;
    src = canonical(frame.subarray(at + 8, at + 24));
    dst = canonical(frame.subarray(at + 24, at + 40));
  } else return undefined;
  return { src, dst, srcPort: view.getUint16(udp), dstPort: view.getUint16(udp + 2), payload: frame.subarray(udp + 8, udp + view.getUint16(udp + 4)) };
}

/** Which call and direction each media flow belongs to, from the truth's streams (RTCP: ports + 1). */
/** Each call has its own generation of slot 0, as a core gives one per call (MediaPacket.generation). */
export function mediaFlows(truth: Truth): Map<string, { callId: string; generation: number; direction: 0 | 1; rtcp: boolean }> {
  const flows = new Map<string, { callId: string; generation: number; direction: 0 | 1; rtcp: boolean }>();
  for (const [generation, call] of truth.calls.entries()) {
    for (const s of call.streams ?? []) {
      const direction = s.sender === "caller" ? 0 : 1;
      flows.set(`${s.src} ${s.srcPort} ${s.dst} ${s.dstPort}`, { callId: call.callId, generation, direction, rtcp: false });
      flows.set(`${s.src} ${s.srcPort + 1} ${s.dst} ${s.dstPort + 1}`, { callId: call.callId, generation, direction, rtcp: true });
    }
  }
  return flows;
}

export function mediaPacketOf(frame: Frame, flows: ReturnType<typeof mediaFlows>): MediaPacket | undefined {
  const udp = udpOf(frame.bytes);
  if (udp === undefined) return undefined;
  const flow = flows.get(`${udp.src} ${udp.srcPort} ${udp.dst} ${udp.dstPort}`);
  if (flow === undefined) return undefined;
  const p = udp.payload;
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return {
    call: 0, generation: flow.generation, callId: flow.callId, direction: flow.direction, rtcp: flow.rtcp,
    ssrc: view.getUint32(flow.rtcp ? 4 : 8), seq: flow.rtcp ? 0 : view.getUint16(2), rtpTime: flow.rtcp ? 0 : view.getUint32(4),
    payloadType: (p[1] ?? 0) & 0x7f, marker: ((p[1] ?? 0) & 0x80) !== 0, payload: p.subarray(12), timeUs: frame.timeUs, frame: 0,
  };
}

const NO_MESSAGES = { count: 0, ndjson: () => Buffer.alloc(0), ndjsonView: () => new Uint8Array(0), message: () => { throw new Error("no message"); } } as unknown as MessageBatch;

function oneFrameBatch(batch: MessageBatch, frame: Frame, packet: MediaPacket | undefined): MessageBatch {
  return Object.assign(Object.create(null) as object, {
    count: batch.count, ndjson: () => batch.ndjson(), ndjsonView: () => batch.ndjsonView(),
    message: (i: number, inPlace?: boolean) => batch.message(i, inPlace),
    mediaCount: packet === undefined ? 0 : 1,
    media: () => packet as MediaPacket,
    frame: () => frame,
    mediaEndCount: 0,
    mediaEnd: () => { throw new Error("no media end"); },
    mediaEndAfterBye: () => { throw new Error("no media end"); },
    mediaEndPackets: () => { throw new Error("no media end"); },
  }) as unknown as MessageBatch;
}

export interface Fed {
  /** Per Call-ID, the frames a recording of the call must hold, in capture order (their index in the file). */
  framesOf: Map<string, number[]>;
  /** Per Call-ID, the addresses its SIP messages came from or went to. */
  addressesOf: Map<string, Set<string>>;
  /** Call-IDs whose initial INVITE the core marked for --record-filter. */
  marked: Set<string>;
}

/** Every frame through the core then the recorder, one push each. */
export async function feed(frames: readonly Frame[], truth: Truth, recorder: Recorder, core: Partial<CoreOptions> = {}): Promise<Fed> {
  const flows = mediaFlows(truth);
  const fed: Fed = { framesOf: new Map(), addressesOf: new Map(), marked: new Set() };
  const note = (callId: string, index: number): void => {
    const list = fed.framesOf.get(callId) ?? [];
    if (list[list.length - 1] !== index) list.push(index);
    fed.framesOf.set(callId, list);
  };
  let current = 0;
  let packet: MediaPacket | undefined;
  let handled = false;
  const instance = new Core({ sensor: "t", agent: "t", ...core }, (batch) => {
    handled = true;
    for (let i = 0; i < batch.count; i++) {
      const m: SipMessage = batch.message(i, true);
      note(m.callId, current);
      const addresses = fed.addressesOf.get(m.callId) ?? new Set<string>();
      addresses.add(m.src.ip).add(m.dst.ip);
      fed.addressesOf.set(m.callId, addresses);
      if (m.recordMatch && m.isRequest && m.method === "INVITE" && m.toTag === "") fed.marked.add(m.callId);
    }
    recorder.write(oneFrameBatch(batch, frames[current] as Frame, packet));
  });
  frames.forEach((frame, index) => {
    current = index;
    packet = mediaPacketOf(frame, flows);
    if (packet !== undefined) note(packet.callId, index);
    handled = false;
    instance.frame(frame.bytes, 0, frame.bytes.length, frame.origLen, frame.linkType, frame.tsSec, frame.tsUsec * 1000, 0);
    instance.flush();
    if (!handled && packet !== undefined) recorder.write(oneFrameBatch(NO_MESSAGES, frame, packet));
  });
  await recorder.close();
  return fed;
}

const CALL_ID = /^(?:Call-ID|i)[ \t]*:[ \t]*(.*?)\r$/im;

/** Per Call-ID, the indexes of the frames that belong to the call, read from the file alone: SIP by its Call-ID header, media by the truth's flows. */
export function expectedFrames(frames: readonly Frame[], truth: Truth): Map<string, number[]> {
  const flows = mediaFlows(truth);
  const calls = new Set(truth.calls.map((c) => c.callId));
  const byCall = new Map<string, number[]>();
  frames.forEach((frame, index) => {
    const udp = udpOf(frame.bytes);
    if (udp === undefined) return;
    const callId = flows.get(`${udp.src} ${udp.srcPort} ${udp.dst} ${udp.dstPort}`)?.callId
      ?? CALL_ID.exec(Buffer.from(udp.payload).toString("latin1"))?.[1];
    if (callId === undefined || !calls.has(callId)) return;
    byCall.set(callId, [...(byCall.get(callId) ?? []), index]);
  });
  return byCall;
}

export interface Wav {
  format: number;              // 7 mu-law, 6 A-law
  channels: number;
  rate: number;
  bits: number;
  dataBytesInHeader: number;
  factFrames: number;
  raw: Uint8Array;             // the data as written, one byte a sample, channels interleaved
  samples: Int16Array;         // the same decoded to linear
  silence: number;             // the law's silence byte
}

/** The recorder's WAV, its chunks read by their lengths. */
export function readWav(path: string): Wav {
  const file = readFileSync(path);
  if (file.toString("ascii", 0, 4) !== "RIFF" || file.toString("ascii", 8, 12) !== "WAVE") throw new Error(`${path}: not a RIFF WAVE file`);
  if (file.readUInt32LE(4) !== file.length - 8) throw new Error(`${path}: the RIFF size is not the file's`);
  const chunks = new Map<string, Buffer>();
  for (let at = 12; at + 8 <= file.length; ) {
    const size = file.readUInt32LE(at + 4);
    chunks.set(file.toString("ascii", at, at + 4), file.subarray(at + 8, at + 8 + size));
    at += 8 + size + (size & 1);
  }
  const fmt = chunks.get("fmt ");
  const data = chunks.get("data");
  if (fmt === undefined || data === undefined) throw new Error(`${path}: no fmt or data chunk`);
  const format = fmt.readUInt16LE(0);
  const decode = format === 6 ? alawToLinear : ulawToLinear;
  return {
    format, channels: fmt.readUInt16LE(2), rate: fmt.readUInt32LE(4), bits: fmt.readUInt16LE(14),
    dataBytesInHeader: data.length, factFrames: chunks.get("fact")?.readUInt32LE(0) ?? -1,
    raw: data, samples: Int16Array.from(data, decode), silence: format === 6 ? 0xd5 : 0xff,
  };
}

function correlation(a: readonly number[], b: readonly number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((x, i) => {
    const y = b[i] ?? 0;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  });
  return ab / Math.sqrt(aa * bb);
}

/**
 * One direction of a call's WAV against the source chirp, for a direction that keeps one SSRC.
 * The recorder's rule: the direction's first captured packet at its capture time from the
 * recording's first media packet, the rest by RTP timestamp (160 samples a packet). Packet
 * indexes come from sequence numbers: the lowest received is the first one not lost.
 */
export function wavDirection(callFrames: readonly Frame[], call: CallTruth, direction: 0 | 1, wav: Wav): { correlation: number; heard: number; lostChecked: number; lostNotSilent: number } {
  const all = call.streams ?? [];
  const streams = all.filter((s) => (s.sender === "caller" ? 0 : 1) === direction);
  const first = streams[0] as StreamTruth;
  const isMedia = (udp: ReturnType<typeof udpOf>, of: readonly StreamTruth[]): boolean =>
    udp !== undefined && of.some((s) => s.src === udp.src && s.srcPort === udp.srcPort && s.dstPort === udp.dstPort);
  const startUs = Math.min(...callFrames.filter((f) => isMedia(udpOf(f.bytes), all)).map((f) => f.timeUs));
  const mine = callFrames.filter((f) => isMedia(udpOf(f.bytes), streams));
  const lost = new Set(streams.flatMap((s) => s.lostIndexes));
  let lowest = first.firstIndex;
  while (lost.has(lowest)) lowest++;
  const indexOf = (frame: Frame): number => {
    const payload = udpOf(frame.bytes)?.payload ?? new Uint8Array(4);
    return lowest + (((((payload[2] ?? 0) << 8) | (payload[3] ?? 0)) - first.firstSeq) & 0xffff);
  };
  const firstFrame = mine[0] as Frame;
  const firstIndex = indexOf(firstFrame);
  const lastIndex = Math.max(...mine.map(indexOf));
  const anchorFrame = Math.round(((firstFrame.timeUs - startUs) * 8000) / 1e6);
  const source: number[] = [];
  const recorded: number[] = [];
  let lostChecked = 0;
  let lostNotSilent = 0;
  for (let index = firstIndex; index <= lastIndex; index++) {
    const position = anchorFrame + (index - firstIndex) * 160;
    if ((position + 160) * 2 > wav.samples.length) throw new Error(`${call.callId}: the WAV ends before packet ${index} of direction ${direction}`);
    const samples = Array.from({ length: 160 }, (_, k) => wav.samples[(position + k) * 2 + direction] ?? 0);
    if (lost.has(index)) {
      lostChecked++;
      if (!Array.from({ length: 160 }, (_, k) => wav.raw[(position + k) * 2 + direction]).every((b) => b === wav.silence)) lostNotSilent++;
      continue;
    }
    for (let k = 0; k < 160; k++) source.push(chirpSample(first.chirp, index * 160 + k));
    recorded.push(...samples);
  }
  return { correlation: correlation(source, recorded), heard: recorded.length, lostChecked, lostNotSilent };
}
