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
    `  "calls": [\n${lines(truth.calls)}\n  ],\n  "registrations": [\n${lines(truth.registrations)}\n  ]\n}\n`
  );
}
