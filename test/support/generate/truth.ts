// The truth: what a workload contains, counted as it is written. Tally counts SIP messages (by
// method, status, transport, IP version, link), RTP and noise packets; the scenarios record each
// call and registration with its times; truthJson renders it all, one call per line. Takes what
// the simulation writes; gives the Truth that tests and the benchmark check Siphon against.

import type { Flow } from "./frames";
import { EPOCH_US, type WorkloadOptions } from "./options";
import type { PcapWriter } from "./pcap";

export interface CallTruth {
  callId: string;
  outcome: "answered" | "failed" | "cancelled";
  finalStatus: number;
  ipVersion: 4 | 6;
  caller: string;
  callee: string;
  /** Times in milliseconds since the Unix epoch, microsecond precision. */
  invite: number;
  ringing: number | null;
  answer: number | null;
  bye: number | null;
  durationMs: number | null;
  /** Who sent the BYE of an answered call. */
  hangup: "caller" | "callee" | null;
  /** With --media: each RTP stream of the call as a receiver on the wire tells them apart (addresses, ports, SSRC). */
  streams?: StreamTruth[];
  /** With --media: where the call's media could be found, for recording tests. */
  media?: { callerPort: number; calleePort: number; movedCallerPort: number | null; early: boolean; multipart: boolean; mediaServer: boolean };
}

/**
 * One RTP stream (--media): counted in capture order as a receiver on the wire sees it, as RFC
 * 3550 A.3 does: expected runs from the first packet received to the highest sequence, lost is
 * expected less the packets received, duplicates included (so it can be negative, as tshark's);
 * jitter is A.8 over every packet captured, in ms (jitterMs at the end, maxJitterMs the most). firstIndex, lostIndexes,
 * directionStart and chirp place the source signal: packet i of a direction carries samples
 * 160*i .. 160*i+159 of the chirp, sent at directionStart + 20 ms * i.
 */
export interface StreamTruth {
  sender: "caller" | "callee";
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  ssrc: number;
  payloadType: number;
  codec: "PCMU" | "PCMA";
  firstSeq: number;
  packets: number;
  duplicates: number;
  reordered: number;
  expected: number;
  lost: number;
  jitterMs: number;
  maxJitterMs: number;
  rtcpPackets: number;
  firstTime: number | null;
  firstIndex: number;
  lostIndexes: number[];
  directionStart: number;
  chirp: { f0: number; f1: number; amplitude: number; periodSamples: number };
}

export interface RegistrationTruth {
  aor: string;
  contact: string;
  callId: string;
  action: "new" | "refreshed" | "deleted";
  expires: number;
  /** When the 200 OK was sent, ms since the Unix epoch. */
  time: number;
}

export interface Totals {
  packets: number;
  fileBytes: number;
  sipMessages: number;
  requests: Record<string, number>;
  responses: Record<string, number>;
  byTransport: Record<string, number>;
  byIpVersion: Record<string, number>;
  /** SIP messages by link encapsulation: untagged, vlan (one tag), qinq (two). */
  byLink: Record<string, number>;
  rtpPackets: number;
  noisePackets: number;
}

export interface Truth {
  seed: number;
  options: WorkloadOptions;
  epoch: string;
  totals: Totals;
  calls: CallTruth[];
  registrations: RegistrationTruth[];
  /** With --media only: RTP streams and RTCP packets in the file. */
  media?: { streams: number; rtcpPackets: number };
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function sortedRecord(counts: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)));
}

export type SipKind = { request: string } | { status: number };

export class Tally {
  sipMessages = 0;
  rtpPackets = 0;
  noisePackets = 0;
  rtcpPackets = 0;
  mediaStreams = 0;
  private readonly requests = new Map<string, number>();
  private readonly responses = new Map<string, number>();
  private readonly transports = new Map<string, number>();
  private readonly ipVersions = new Map<string, number>();
  private readonly links = new Map<string, number>();

  sip(kind: SipKind, transport: string, flow: Flow): void {
    this.sipMessages++;
    if ("request" in kind) increment(this.requests, kind.request);
    else increment(this.responses, String(kind.status));
    increment(this.transports, transport);
    increment(this.ipVersions, `ipv${flow.src.host.ip.version}`);
    increment(this.links, ["untagged", "vlan", "qinq"][flow.vlans.length] ?? "stacked");
  }

  totals(writer: PcapWriter): Totals {
    return {
      packets: writer.packets,
      fileBytes: writer.fileBytes,
      sipMessages: this.sipMessages,
      requests: sortedRecord(this.requests),
      responses: sortedRecord(this.responses),
      byTransport: sortedRecord(this.transports),
      byIpVersion: sortedRecord(this.ipVersions),
      byLink: sortedRecord(this.links),
      rtpPackets: this.rtpPackets,
      noisePackets: this.noisePackets,
    };
  }
}

// The time the frame is written with: whole microseconds, rounded before the epoch is added
// (at 1.8e15 a double's step is 0.25 µs, so rounding the sum could land one µs off).
export function epochMs(timeUs: number): number {
  return (EPOCH_US + Math.round(timeUs)) / 1000;
}

/** JSON with one call or registration per line: diffable, and small enough to read. */
export function truthJson(truth: Truth): string {
  const lines = (items: readonly unknown[]): string => items.map((item) => `    ${JSON.stringify(item)}`).join(",\n");
  return (
    `{\n  "seed": ${truth.seed},\n  "epoch": ${JSON.stringify(truth.epoch)},\n` +
    `  "options": ${JSON.stringify(truth.options)},\n  "totals": ${JSON.stringify(truth.totals, null, 2).replace(/\n/g, "\n  ")},\n` +
    `  "calls": [\n${lines(truth.calls)}\n  ],\n  "registrations": [\n${lines(truth.registrations)}\n  ]` +
    `${truth.media === undefined ? "" : `,\n  "media": ${JSON.stringify(truth.media)}`}\n}\n`
  );
}
