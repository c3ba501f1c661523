// Call and registration events, ECS style (docs/events.md names every field
// and its unit). Times inside the tracker are integer microseconds of capture
// time; an event carries them as RFC 3339 text and durations as nanoseconds
// (event.duration, as ECS has it) or milliseconds (sip.pdd, sip.ring_time).
import type { Endpoint, Transport } from "../core/records";
import type { RtpFields } from "./media";

export const EVENT_TYPES = [
  "call-attempt", "call-start", "call-end", "reg-new", "reg-del", "reg-expired", "auth-failed",
  "other-ok", "other-failed", "other-timeout", "parse-error", "msg-probe", "counters",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type Originator = "caller" | "callee" | "timeout";
export type CallOutcome = "answered" | "failed" | "cancelled" | "timeout" | "auth-failed";

export interface Correlation {
  x_cid?: string;
  session_id?: string;
  p_charging_vector?: string;
}

// A call's times, for call records: RFC 3339 text, absent when not seen.
export interface CallTimes {
  invite?: string;
  ringing?: string;
  answer?: string;
  end?: string;
}

export interface SipEvent {
  "@timestamp": string;
  event: { kind: "event" | "metric"; type: EventType; duration?: number; sequence: number };
  observer?: { name: string };
  sip?: {
    call_id?: string;
    from?: string;
    to?: string;
    request?: { method: string };
    response?: { status: number; reason: string };
    reason_header?: string;
    pdd?: number;
    ring_time?: number;
    originator?: Originator;
    call?: { outcome: CallOutcome; implied?: boolean; times: CallTimes; legs?: Correlation };
    binding?: { aor: string; contact: string; expires: number };
    problems?: string[];
  };
  client?: { ip: string; port: number; transport: Transport };
  server?: { ip: string; port: number };
  user_agent?: { original: string };
  rtp?: RtpFields;              // call-end, call-attempt: the call's RTP per direction (host/calls/media.ts)
  counters?: Record<string, number>;
  // With --record, on a recorded call's events: where its files are (docs/recording.md).
  siphon?: { recording?: RecordingRef };
  // --anonymize (host/privacy): the key's check value; with --encrypt-fields each replaced field's sealed original, by path.
  anonymized?: { key_check: string; encrypted?: Record<string, string> };
}

// Where a call's recording is: its pcap, its WAV (G.711 only), or a note on why there is none.
export interface RecordingRef {
  pcap: string;
  wav?: string;
  note?: string;
}

const datePrefixes = new Map<number, string>(); // second -> "YYYY-MM-DDTHH:MM:SS."
const PREFIXES_HELD = 4096;

// RFC 3339 with microseconds, as the envelope's `time`. A call's times fall in
// a few seconds that recur, so each second's date text is formatted once.
export function isoTime(us: number): string {
  const second = Math.floor(us / 1_000_000);
  let prefix = datePrefixes.get(second);
  if (prefix === undefined) {
    if (datePrefixes.size >= PREFIXES_HELD) datePrefixes.clear();
    prefix = new Date(second * 1000).toISOString().slice(0, 20);
    datePrefixes.set(second, prefix);
  }
  return `${prefix}${String(us - second * 1_000_000).padStart(6, "0")}Z`;
}

// Microseconds since the epoch from an isoTime() string (for consumers of events).
export function parseIsoTime(text: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(text);
  if (!match) return NaN;
  const fraction = (match[2] ?? "").padEnd(6, "0").slice(0, 6);
  return Date.parse(`${match[1]}Z`) * 1000 + Number(fraction);
}

export function clientOf(endpoint: Endpoint, transport: Transport): { ip: string; port: number; transport: Transport } {
  return { ip: endpoint.ip, port: endpoint.port, transport };
}

export function serverOf(endpoint: Endpoint): { ip: string; port: number } {
  return { ip: endpoint.ip, port: endpoint.port };
}
