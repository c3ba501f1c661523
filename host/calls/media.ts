// Voice quality per call for the call events: the core's stats of each call's
// media (CallMedia, given when the call leaves the core's media table) kept by
// Call-ID until the call's call-end or call-attempt event is built, then added
// to it as `rtp` (docs/events.md). Held entries are bounded; the oldest go first.
import type { CallMedia, MessageBatch, StreamQuality } from "../core/records";
import { BoundedMap } from "./bounded";

export const QUALITY_HELD = 65536;

export interface RtpStreamFields {
  packets: number;
  expected: number;
  lost: number;
  jitter_ms: number;
  max_jitter_ms: number;
  duplicates: number;
  out_of_order: number;
  ssrc_changes: number;
  codec: string;
  rtcp?: { reports: number; fraction_lost: number; lost: number; jitter_ms: number };
}

// Direction 0 is sent by the side that made the call's first offer (the caller, unless the offer came late).
export interface RtpFields {
  from_offerer: RtpStreamFields;
  from_answerer: RtpStreamFields;
}

export class CallQuality {
  // Oldest first out when full: a Map's first entry, found after many deletions, walks every
  // deleted slot (BoundedMap keeps its own order), which made each record past the bound cost
  // 25 to 30 us where the calls' events never came to take theirs.
  private readonly held: BoundedMap<string, CallMedia>;

  constructor(limit = QUALITY_HELD) {
    this.held = new BoundedMap<string, CallMedia>(limit);
  }

  // The stats records of one push; a call released twice (its media idle, then back) is summed.
  // The final figures given after a BYE are not taken: the call-end the BYE made is out already.
  // Nor is a record with no RTP: summed with another it adds nothing, and alone it gives no
  // `rtp` (it only moved the call's place in the eviction order, which matters past `limit`
  // calls held). Read before the rest of the record, these two are most of a capture's
  // records (three in five of the bench's mixed-udp), decoded for nothing before.
  take(batch: MessageBatch): void {
    for (let i = 0; i < batch.mediaEndCount; i++) {
      if (batch.mediaEndAfterBye(i) || batch.mediaEndPackets(i) === 0) continue;
      const media = batch.mediaEnd(i);
      const before = this.held.get(media.callId);
      if (before !== undefined) this.held.delete(media.callId);
      this.held.add(media.callId, before ? merged(before, media) : media);
    }
  }

  // The figures of a finished call's two directions, once (its event's `rtp`: rtpFields(), or
  // the core's renderer, host/core/event-lines.ts); undefined when no RTP of it was seen.
  streamsFor(callId: string): [StreamQuality, StreamQuality] | undefined {
    const media = this.held.get(callId);
    if (media === undefined) return undefined;
    this.held.delete(callId);
    const [a, b] = media.streams;
    if (a.packets === 0 && b.packets === 0) return undefined;
    return media.streams;
  }
}

export function rtpFields([a, b]: readonly [StreamQuality, StreamQuality]): RtpFields {
  return { from_offerer: streamFields(a), from_answerer: streamFields(b) };
}

// The call record's media columns (docs/cdr.md): null when no RTP of the call was seen.
export interface RtpColumns {
  rtp_codec: string | null;
  rtp_packets_offerer: number | null;
  rtp_lost_offerer: number | null;
  rtp_jitter_ms_offerer: number | null;
  rtp_max_jitter_ms_offerer: number | null;
  rtp_packets_answerer: number | null;
  rtp_lost_answerer: number | null;
  rtp_jitter_ms_answerer: number | null;
  rtp_max_jitter_ms_answerer: number | null;
}

export const RTP_COLUMNS: (keyof RtpColumns)[] = [
  "rtp_codec", "rtp_packets_offerer", "rtp_lost_offerer", "rtp_jitter_ms_offerer", "rtp_max_jitter_ms_offerer",
  "rtp_packets_answerer", "rtp_lost_answerer", "rtp_jitter_ms_answerer", "rtp_max_jitter_ms_answerer",
];

export function rtpColumns(rtp: RtpFields | undefined): RtpColumns {
  const a = rtp?.from_offerer, b = rtp?.from_answerer;
  return {
    rtp_codec: (a?.codec || b?.codec) ?? null,
    rtp_packets_offerer: a?.packets ?? null, rtp_lost_offerer: a?.lost ?? null,
    rtp_jitter_ms_offerer: a?.jitter_ms ?? null, rtp_max_jitter_ms_offerer: a?.max_jitter_ms ?? null,
    rtp_packets_answerer: b?.packets ?? null, rtp_lost_answerer: b?.lost ?? null,
    rtp_jitter_ms_answerer: b?.jitter_ms ?? null, rtp_max_jitter_ms_answerer: b?.max_jitter_ms ?? null,
  };
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function streamFields(s: StreamQuality): RtpStreamFields {
  const fields: RtpStreamFields = {
    packets: s.packets, expected: s.expected, lost: s.lost, jitter_ms: round3(s.jitterMs), max_jitter_ms: round3(s.maxJitterMs),
    duplicates: s.duplicates, out_of_order: s.outOfOrder, ssrc_changes: s.ssrcChanges, codec: s.codec,
  };
  if (s.rtcpReports > 0) {
    fields.rtcp = { reports: s.rtcpReports, fraction_lost: round3(s.rtcpFractionLost), lost: s.rtcpLost, jitter_ms: round3(s.rtcpJitterMs) };
  }
  return fields;
}

function merged(a: CallMedia, b: CallMedia): CallMedia {
  return { ...b, firstUs: a.firstUs, streams: [sum(a.streams[0], b.streams[0]), sum(a.streams[1], b.streams[1])] };
}

function sum(a: StreamQuality, b: StreamQuality): StreamQuality {
  if (a.packets === 0) return b;
  if (b.packets === 0) return a;
  return {
    ...b, packets: a.packets + b.packets, expected: a.expected + b.expected, lost: a.lost + b.lost,
    duplicates: a.duplicates + b.duplicates, outOfOrder: a.outOfOrder + b.outOfOrder,
    ssrcChanges: a.ssrcChanges + b.ssrcChanges, maxJitterMs: Math.max(a.maxJitterMs, b.maxJitterMs),
  };
}
