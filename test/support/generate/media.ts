// Real media for answered calls (--media): G.711 audio of a known signal (a chirp, so a recording
// can be checked against it) in 20 ms RTP packets, 50 a second per direction, with the impairments
// a receiver meets: loss, jitter (enough of it reorders packets), duplicates, an SSRC change, a
// re-INVITE moving a port, RTCP sender reports (receiver reports from a caller that hears early
// media before it sends); early media from the 183. Takes the call's media plan; gives scheduled
// RTP and RTCP frames and the truth per stream as a receiver on the wire sees it (counts, RFC 3550
// A.3 loss and A.8 jitter from the capture times written).

import { TOS_MEDIA, type Flow } from "./frames";
import { linearToAlaw, linearToUlaw } from "../../../host/media/g711";
import type { Host } from "./hosts";
import { writeUdpFrame } from "./packets";
import type { Rng } from "./rng";
import { MS, SECOND, type Scenario } from "./simulation";
import { epochMs, type StreamTruth } from "./truth";

export const SAMPLE_RATE = 8000;
export const PTIME_US = 20 * MS;
export const SAMPLES_PER_PACKET = 160;
/** The chirp repeats every 4 s: longer than any jitter or gap a test aligns across. */
export const SIGNAL_PERIOD_SAMPLES = 4 * SAMPLE_RATE;
const SIGNAL_AMPLITUDE = 8000;
const RTCP_INTERVAL_US = 5 * SECOND;

export interface Chirp {
  f0: number;
  f1: number;
  amplitude: number;
  periodSamples: number;
}

// A few fixed chirps, so the encoded signal is computed once per chirp and codec.
export const CHIRPS: readonly Chirp[] = [
  [300, 3000], [400, 2600], [500, 3200], [350, 2200], [600, 3400], [450, 2800], [700, 3100], [320, 2400],
].map(([f0, f1]) => ({ f0: f0 ?? 0, f1: f1 ?? 0, amplitude: SIGNAL_AMPLITUDE, periodSamples: SIGNAL_PERIOD_SAMPLES }));

/** Sample n of a chirp (n counts from a direction's first packet): a linear sweep from f0 to f1, repeated. */
export function chirpSample(chirp: Chirp, n: number): number {
  const periodSeconds = chirp.periodSamples / SAMPLE_RATE;
  const t = (n % chirp.periodSamples) / SAMPLE_RATE;
  return Math.round(chirp.amplitude * Math.sin(2 * Math.PI * (chirp.f0 * t + ((chirp.f1 - chirp.f0) * t * t) / (2 * periodSeconds))));
}

const encodedChirps = new Map<string, Buffer>();

function encodedChirp(chirpIndex: number, payloadType: number): Buffer {
  const key = `${chirpIndex}/${payloadType}`;
  let encoded = encodedChirps.get(key);
  if (encoded === undefined) {
    const chirp = CHIRPS[chirpIndex] as Chirp;
    const encode = payloadType === 8 ? linearToAlaw : linearToUlaw;
    encoded = Buffer.alloc(chirp.periodSamples);
    for (let n = 0; n < chirp.periodSamples; n++) encoded[n] = encode(chirpSample(chirp, n));
    encodedChirps.set(key, encoded);
  }
  return encoded;
}

/** Where a direction's packets go from packet `first` on: its ports and RTP identity. */
interface Segment {
  first: number;
  srcPort: number;
  dstPort: number;
  ssrc: number;
  seq0: number;
  ts0: number;
}

export interface MediaDirection {
  sender: "caller" | "callee";
  src: Host;
  dst: Host;
  vlans: readonly number[];
  payloadType: number;
  chirp: number;
  startUs: number;
  endUs: number;
  segments: Segment[];
  loss: number;
  jitterUs: number;
  duplicates: number;
}

/** The call's media as the SIP side negotiated it: ports over time and when each side starts. */
export interface CallMedia {
  caller: Host;
  callee: Host;
  vlans: readonly number[];
  payloadType: number;
  callerPort: number;
  calleePort: number;
  /** The re-INVITE's new caller port and when each direction moves to it, if there is one. */
  move: { port: number; callerUs: number; calleeUs: number } | undefined;
  callerStartUs: number;
  calleeStartUs: number;
  endUs: number;
  /** A media server's fixed SSRC for the callee's stream (the same on every call it answers). */
  calleeSsrc: number | undefined;
}

interface Arrival {
  index: number;
  timeUs: number;
}

function impairments(rng: Rng): Pick<MediaDirection, "loss" | "jitterUs" | "duplicates"> {
  return rng.weighted([
    [{ loss: 0, jitterUs: 1 * MS, duplicates: 0 }, 35],
    [{ loss: 0.01, jitterUs: 8 * MS, duplicates: 0 }, 25],
    [{ loss: 0.03, jitterUs: 15 * MS, duplicates: 0.01 }, 20],
    [{ loss: 0.02, jitterUs: 45 * MS, duplicates: 0.02 }, 20], // enough jitter to reorder 20 ms packets
  ]);
}

function packetIndexAt(startUs: number, timeUs: number): number {
  return Math.max(1, Math.ceil((timeUs - startUs) / PTIME_US));
}

function direction(rng: Rng, media: CallMedia, sender: "caller" | "callee"): MediaDirection {
  const fromCaller = sender === "caller";
  const startUs = fromCaller ? media.callerStartUs : media.calleeStartUs;
  const first: Segment = {
    first: 0,
    srcPort: fromCaller ? media.callerPort : media.calleePort,
    dstPort: fromCaller ? media.calleePort : media.callerPort,
    ssrc: (!fromCaller && media.calleeSsrc !== undefined) ? media.calleeSsrc : rng.u32(),
    seq0: rng.below(65536),
    ts0: rng.u32(),
  };
  const segments = [first];
  const packets = Math.floor((media.endUs - startUs) / PTIME_US);
  const changes: { at: number; restart: boolean }[] = [];
  const move = media.move;
  const movedPort = move?.port ?? 0;
  if (move !== undefined) changes.push({ at: packetIndexAt(startUs, fromCaller ? move.callerUs : move.calleeUs), restart: false });
  // The sender restarts its stream (a transfer, a new source): new SSRC, sequence and timestamp.
  if (packets > 100 && rng.chance(0.15)) changes.push({ at: rng.between(25, packets - 25), restart: true });
  changes.sort((a, b) => a.at - b.at || Number(a.restart) - Number(b.restart));
  for (const change of changes) {
    const last = segments[segments.length - 1] as Segment;
    if (change.at >= packets || change.at <= last.first) continue;
    const step = change.at - last.first;
    segments.push(change.restart
      ? { ...last, first: change.at, ssrc: rng.u32(), seq0: rng.below(65536), ts0: rng.u32() }
      : { ...last, first: change.at, srcPort: fromCaller ? movedPort : last.srcPort, dstPort: fromCaller ? last.dstPort : movedPort,
        seq0: (last.seq0 + step) & 0xffff, ts0: (last.ts0 + step * SAMPLES_PER_PACKET) >>> 0 });
  }
  return { sender, src: fromCaller ? media.caller : media.callee, dst: fromCaller ? media.callee : media.caller, vlans: media.vlans,
    payloadType: media.payloadType, chirp: rng.below(CHIRPS.length), startUs, endUs: media.endUs, segments, ...impairments(rng) };
}

function segmentOf(d: MediaDirection, index: number): Segment {
  let found = d.segments[0] as Segment;
  for (const segment of d.segments) if (segment.first <= index) found = segment;
  return found;
}

/** Packet capture times: sent every 20 ms, each delayed by up to the jitter, some lost, some twice. */
function arrivals(rng: Rng, d: MediaDirection): { arrivals: Arrival[]; lost: number[] } {
  const packets = Math.floor((d.endUs - d.startUs) / PTIME_US);
  const list: Arrival[] = [];
  const lost: number[] = [];
  for (let index = 0; index < packets; index++) {
    if (index > 0 && rng.chance(d.loss)) {
      lost.push(index);
      continue;
    }
    const timeUs = Math.round(d.startUs + index * PTIME_US + rng.below(d.jitterUs + 1));
    list.push({ index, timeUs });
    if (rng.chance(d.duplicates)) list.push({ index, timeUs: timeUs + rng.between(1, 5) * MS });
  }
  list.sort((a, b) => a.timeUs - b.timeUs || a.index - b.index);
  return { arrivals: list, lost };
}

/** Per segment, what a receiver on the wire counts (RFC 3550 A.3 and A.8), in capture order. */
function streamTruths(d: MediaDirection, list: readonly Arrival[], lost: readonly number[]): StreamTruth[] {
  return d.segments.map((segment, i) => {
    const end = d.segments[i + 1]?.first ?? Number.MAX_SAFE_INTEGER;
    const mine = list.filter((a) => a.index >= segment.first && a.index < end);
    const seen = new Set<number>();
    let duplicates = 0;
    let reordered = 0;
    let highest = -1;
    let lowest = Number.MAX_SAFE_INTEGER;
    let jitter = 0;
    let maxJitter = 0;
    let previousTransit: number | undefined;
    for (const arrival of mine) {
      if (seen.has(arrival.index)) duplicates++;
      else if (arrival.index < highest) reordered++;
      seen.add(arrival.index);
      highest = Math.max(highest, arrival.index);
      lowest = Math.min(lowest, arrival.index);
      // A.8: transit in timestamp units; only differences matter, so the RTP base drops out.
      const transit = (arrival.timeUs * SAMPLE_RATE) / SECOND - (arrival.index - segment.first) * SAMPLES_PER_PACKET;
      if (previousTransit !== undefined) {
        jitter += (Math.abs(transit - previousTransit) - jitter) / 16;
        maxJitter = Math.max(maxJitter, jitter);
      }
      previousTransit = transit;
    }
    const firstArrival = mine[0];
    // A.3: expected from the first packet received (not the lowest) to the highest.
    const expected = firstArrival === undefined ? 0 : highest - firstArrival.index + 1;
    return {
      sender: d.sender,
      src: d.src.ip.text,
      srcPort: segment.srcPort,
      dst: d.dst.ip.text,
      dstPort: segment.dstPort,
      ssrc: segment.ssrc,
      payloadType: d.payloadType,
      codec: d.payloadType === 8 ? "PCMA" : "PCMU",
      firstSeq: (segment.seq0 + lowest - segment.first) & 0xffff,
      packets: mine.length,
      duplicates,
      reordered,
      expected,
      lost: expected - mine.length,
      jitterMs: round3((jitter * 1000) / SAMPLE_RATE),
      maxJitterMs: round3((maxJitter * 1000) / SAMPLE_RATE),
      rtcpPackets: 0,
      firstTime: firstArrival === undefined ? null : epochMs(firstArrival.timeUs),
      firstIndex: segment.first,
      lostIndexes: lost.filter((index) => index >= segment.first && index < end),
      directionStart: epochMs(d.startUs),
      chirp: CHIRPS[d.chirp] as Chirp,
    };
  });
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

const rtpPacket = Buffer.alloc(12 + SAMPLES_PER_PACKET);

function writeRtp(scenario: Scenario, d: MediaDirection, list: readonly Arrival[]): void {
  const signal = encodedChirp(d.chirp, d.payloadType);
  scenario.sim.series(list.length, (k) => (list[k] as Arrival).timeUs, (out, timeUs, k) => {
    const { index } = list[k] as Arrival;
    const segment = segmentOf(d, index);
    const step = index - segment.first;
    rtpPacket[0] = 0x80;
    rtpPacket[1] = (step === 0 ? 0x80 : 0) | d.payloadType; // marker on a stream's first packet
    rtpPacket.writeUInt16BE((segment.seq0 + step) & 0xffff, 2);
    rtpPacket.writeUInt32BE((segment.ts0 + step * SAMPLES_PER_PACKET) >>> 0, 4);
    rtpPacket.writeUInt32BE(segment.ssrc, 8);
    const at = (index * SAMPLES_PER_PACKET) % signal.byteLength;
    signal.copy(rtpPacket, 12, at, at + SAMPLES_PER_PACKET);
    writeUdpFrame(out, timeUs, flowOf(d, segment, 0), TOS_MEDIA, rtpPacket);
  });
}

function flowOf(d: MediaDirection, segment: Segment, portOffset: number): Flow {
  return {
    src: { host: d.src, port: segment.srcPort + portOffset },
    dst: { host: d.dst, port: segment.dstPort + portOffset },
    vlans: d.vlans,
  };
}

/**
 * RTCP every 5 s from each sender on its RTP ports + 1 (RFC 3550 §11): a compound of a sender
 * report with one report block on what it receives of the other direction, and an SDES CNAME.
 */
function writeRtcp(scenario: Scenario, d: MediaDirection, reverse: { d: MediaDirection; list: readonly Arrival[] }, truths: StreamTruth[]): void {
  for (let atUs = d.startUs + 2 * SECOND + scenario.rng.below(SECOND); atUs < d.endUs; atUs += RTCP_INTERVAL_US) {
    const index = Math.floor((atUs - d.startUs) / PTIME_US);
    const segmentIndex = d.segments.indexOf(segmentOf(d, index));
    const segment = d.segments[segmentIndex] as Segment;
    const packet = rtcpReport(d, segment, index - segment.first, atUs, reception(reverse.d, reverse.list, atUs));
    const truth = truths[segmentIndex];
    if (truth !== undefined) truth.rtcpPackets++;
    scheduleRtcp(scenario, atUs, flowOf(d, segment, 1), packet);
  }
}

interface Reception {
  ssrc: number;
  highestSeq: number;
  cumulativeLost: number;
  jitter: number;
}

/** What the receiver of `d` has had of its current segment by atUs, as a report block says it. */
function reception(d: MediaDirection, list: readonly Arrival[], atUs: number): Reception {
  const arrived = list.filter((a) => a.timeUs <= atUs);
  const lastIndex = arrived.reduce((max, a) => Math.max(max, a.index), 0);
  const segment = segmentOf(d, lastIndex);
  const mine = arrived.filter((a) => a.index >= segment.first);
  const unique = new Set(mine.map((a) => a.index)).size;
  const lowest = mine.reduce((min, a) => Math.min(min, a.index), lastIndex);
  let jitter = 0;
  for (let i = 1; i < mine.length; i++) {
    const a = mine[i] as Arrival;
    const b = mine[i - 1] as Arrival;
    const difference = ((a.timeUs - b.timeUs) * SAMPLE_RATE) / SECOND - (a.index - b.index) * SAMPLES_PER_PACKET;
    jitter += (Math.abs(difference) - jitter) / 16;
  }
  return { ssrc: segment.ssrc, highestSeq: segment.seq0 + lastIndex - segment.first, cumulativeLost: lastIndex - lowest + 1 - unique, jitter: Math.round(jitter) };
}

const NTP_UNIX_OFFSET = 2208988800;

/**
 * A compound RTCP packet: a sender report (with `sent`, the packets the sender has sent of its
 * segment) or, from a side that has sent nothing yet, a receiver report; one report block on what
 * it hears of the other side; an SDES CNAME.
 */
function rtcpReport(d: MediaDirection, segment: Segment, sent: number | undefined, atUs: number, heard: Reception): Buffer {
  const cname = Buffer.from(`${d.sender}@${d.src.ip.text}`, "ascii");
  const sdesLength = 4 + 4 + 2 + cname.byteLength + 1;
  const sdesPadded = (sdesLength + 3) & ~3;
  const reportLength = sent === undefined ? 32 : 52;
  const packet = Buffer.alloc(reportLength + sdesPadded);
  packet[0] = 0x81; // V=2, one report block
  packet[1] = sent === undefined ? 201 : 200;
  packet.writeUInt16BE(reportLength / 4 - 1, 2);
  packet.writeUInt32BE(segment.ssrc, 4);
  if (sent !== undefined) {
    const absoluteUs = atUs + Date.UTC(2026, 10, 22, 10, 0, 0) * 1000;
    const seconds = Math.floor(absoluteUs / SECOND);
    packet.writeUInt32BE((seconds + NTP_UNIX_OFFSET) >>> 0, 8);
    packet.writeUInt32BE(Math.floor(((absoluteUs - seconds * SECOND) / SECOND) * 2 ** 32) >>> 0, 12);
    packet.writeUInt32BE((segment.ts0 + sent * SAMPLES_PER_PACKET) >>> 0, 16);
    packet.writeUInt32BE(sent, 20);
    packet.writeUInt32BE(sent * SAMPLES_PER_PACKET, 24);
  }
  const block = reportLength - 24;
  packet.writeUInt32BE(heard.ssrc, block);
  packet.writeUInt32BE(Math.max(0, Math.min(heard.cumulativeLost, 0x7fffff)), block + 4); // fraction lost 0
  packet.writeUInt32BE(heard.highestSeq >>> 0, block + 8);
  packet.writeUInt32BE(heard.jitter, block + 12);
  packet[reportLength] = 0x81; // SDES, one chunk
  packet[reportLength + 1] = 202;
  packet.writeUInt16BE(sdesPadded / 4 - 1, reportLength + 2);
  packet.writeUInt32BE(segment.ssrc, reportLength + 4);
  packet[reportLength + 8] = 1; // CNAME
  packet[reportLength + 9] = cname.byteLength;
  cname.copy(packet, reportLength + 10);
  return packet;
}

/** Receiver reports from the caller while it only hears early media (before it sends RTP itself). */
function writeEarlyReceiverReports(scenario: Scenario, caller: MediaDirection, callee: { d: MediaDirection; list: readonly Arrival[] }, truth: StreamTruth | undefined): void {
  const segment = caller.segments[0] as Segment;
  for (let atUs = callee.d.startUs + SECOND; atUs < caller.startUs; atUs += RTCP_INTERVAL_US) {
    const packet = rtcpReport(caller, segment, undefined, atUs, reception(callee.d, callee.list, atUs));
    if (truth !== undefined) truth.rtcpPackets++;
    scheduleRtcp(scenario, atUs, flowOf(caller, segment, 1), packet);
  }
}

function scheduleRtcp(scenario: Scenario, atUs: number, flow: Flow, packet: Buffer): void {
  const { sim } = scenario;
  sim.at(atUs, () => {
    writeUdpFrame(sim.writer, Math.round(atUs), flow, TOS_MEDIA, packet);
    sim.tally.rtcpPackets++;
  });
}

/** Schedules both directions of a call's media and returns its streams' truth. */
export function planCallMedia(scenario: Scenario, media: CallMedia): StreamTruth[] {
  const { rng } = scenario;
  const directions = [direction(rng, media, "caller"), direction(rng, media, "callee")] as const;
  const planned = directions.map((d) => ({ d, ...arrivals(rng, d) }));
  const truths = planned.map(({ d, arrivals: list, lost }) => streamTruths(d, list, lost));
  planned.forEach(({ d, arrivals: list }, i) => {
    writeRtp(scenario, d, list);
    const reverse = planned[1 - i] as (typeof planned)[number];
    writeRtcp(scenario, d, { d: reverse.d, list: reverse.arrivals }, truths[i] as StreamTruth[]);
  });
  const [caller, callee] = planned;
  writeEarlyReceiverReports(scenario, caller.d, { d: callee.d, list: callee.arrivals }, truths[0]?.[0]);
  scenario.sim.tally.mediaStreams += truths.reduce((sum, t) => sum + t.length, 0);
  return truths.flat();
}
