// A call record from the event that finishes a call (call-end, call-attempt,
// or auth-failed on an INVITE): everything the row holds is in that event, so
// records can be written beside the sensor or later from its event stream.
import { parseIsoTime, type SipEvent } from "./events";
import { rtpColumns, RTP_COLUMNS, type RtpColumns } from "./media";

export interface CallRecord extends RtpColumns {
  sensor: string;
  call_id: string;
  x_cid: string | null;
  session_id: string | null;
  p_charging_vector: string | null;
  caller: string | null;
  callee: string | null;
  src_ip: string | null;
  src_port: number | null;
  dst_ip: string | null;
  dst_port: number | null;
  transport: string | null;
  invite_time: string | null;   // RFC 3339, microseconds
  ringing_time: string | null;
  answer_time: string | null;
  end_time: string | null;
  duration_ms: number | null;
  pdd_ms: number | null;
  ring_ms: number | null;
  outcome: string;
  final_status: number | null;
  final_reason: string | null;
  reason_header: string | null;
  hangup: string | null;        // caller, callee or timeout
  implied: boolean;
  user_agent: string | null;
  key_check: string | null;     // --anonymize: the check value of the key that made the row
  encrypted: string | null;     // --encrypt-fields: JSON, column -> sealed original (docs/privacy.md)
}

export const RECORD_COLUMNS: (keyof CallRecord)[] = [
  "sensor", "call_id", "x_cid", "session_id", "p_charging_vector", "caller", "callee", "src_ip", "src_port",
  "dst_ip", "dst_port", "transport", "invite_time", "ringing_time", "answer_time", "end_time", "duration_ms",
  "pdd_ms", "ring_ms", "outcome", "final_status", "final_reason", "reason_header", "hangup", "implied", "user_agent",
  ...RTP_COLUMNS,
  "key_check", "encrypted",
];

const FINISHING = new Set(["call-end", "call-attempt", "auth-failed"]);

export function recordOf(event: SipEvent): CallRecord | undefined {
  const sip = event.sip;
  const call = sip?.call;
  if (!FINISHING.has(event.event.type) || sip?.call_id === undefined || call === undefined) return undefined;
  const times = call.times;
  const ended = event.event.type === "call-end";
  return {
    sensor: event.observer?.name ?? "",
    call_id: sip.call_id,
    x_cid: call.legs?.x_cid ?? null,
    session_id: call.legs?.session_id ?? null,
    p_charging_vector: call.legs?.p_charging_vector ?? null,
    caller: sip.from ?? null,
    callee: sip.to ?? null,
    src_ip: event.client?.ip ?? null,
    src_port: event.client?.port ?? null,
    dst_ip: event.server?.ip ?? null,
    dst_port: event.server?.port ?? null,
    transport: event.client?.transport ?? null,
    invite_time: times.invite ?? null,
    ringing_time: times.ringing ?? null,
    answer_time: times.answer ?? null,
    end_time: times.end ?? (ended ? null : event["@timestamp"]),
    duration_ms: ended && event.event.duration !== undefined ? event.event.duration / 1e6 : null,
    pdd_ms: sip.pdd ?? null,
    ring_ms: sip.ring_time ?? null,
    outcome: call.outcome,
    final_status: sip.response?.status ?? null,
    final_reason: sip.response?.reason ?? null,
    reason_header: sip.reason_header ?? null,
    hangup: sip.originator ?? null,
    implied: call.implied === true,
    user_agent: event.user_agent?.original ?? null,
    ...rtpColumns(event.rtp),
    key_check: event.anonymized?.key_check ?? null,
    encrypted: sealedColumns(event.anonymized?.encrypted),
  };
}

// An anonymized event's field and the column that holds it: its sealed original goes under the column's name.
const COLUMN_OF_FIELD: Record<string, keyof CallRecord> = {
  "sip.call_id": "call_id", "sip.from": "caller", "sip.to": "callee", "client.ip": "src_ip", "server.ip": "dst_ip",
  "sip.call.legs.x_cid": "x_cid", "sip.call.legs.p_charging_vector": "p_charging_vector", "sip.reason_header": "reason_header",
};

function sealedColumns(sealed: Record<string, string> | undefined): string | null {
  if (sealed === undefined) return null;
  const columns: Record<string, string> = {};
  for (const [field, value] of Object.entries(sealed)) {
    const column = COLUMN_OF_FIELD[field];
    if (column !== undefined) columns[column] = value;
  }
  return JSON.stringify(columns);
}

// The fields recordOf and the writer read, each with its type. A line of an event file or topic
// is anyone's: a "times" of null, a Call-ID that is a number or "encrypted": null threw in the
// middle of `siphon cdr` ("Cannot read properties of undefined"), which ended the consumer.
type Shape = "string" | "number" | { [field: string]: Shape };
const STREAM: Shape = { codec: "string", packets: "number", lost: "number", jitter_ms: "number", max_jitter_ms: "number" };
const READ: Shape = {
  event: { type: "string", duration: "number" },
  observer: { name: "string" },
  sip: {
    call_id: "string", from: "string", to: "string", pdd: "number", ring_time: "number", reason_header: "string", originator: "string",
    response: { status: "number", reason: "string" },
    call: { outcome: "string", times: { invite: "string", ringing: "string", answer: "string", end: "string" },
      legs: { x_cid: "string", session_id: "string", p_charging_vector: "string" } },
  },
  client: { ip: "string", port: "number", transport: "string" },
  server: { ip: "string", port: "number" },
  user_agent: { original: "string" },
  rtp: { from_offerer: STREAM, from_answerer: STREAM },
  anonymized: { key_check: "string" },
};

// Absent, or of its shape (an object holding only fields that are absent or of theirs).
function fits(value: unknown, shape: Shape): boolean {
  if (value === undefined) return true;
  if (typeof shape === "string") return typeof value === shape;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  return Object.entries(shape).every(([field, inner]) => fits((value as Record<string, unknown>)[field], inner));
}

function sealedFits(sealed: unknown): boolean {
  return sealed === undefined || (typeof sealed === "object" && sealed !== null && Object.values(sealed).every((v) => typeof v === "string"));
}

// Checks a line of an event stream is an event, for `siphon cdr`.
export function parseEvent(line: string): SipEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const event = value as SipEvent;
  if (typeof event.event?.type !== "string" || Number.isNaN(parseIsoTime(String(event["@timestamp"])))) return undefined;
  if (!fits(event, READ) || (event.sip?.call !== undefined && event.sip.call.times === undefined)) return undefined;
  return sealedFits(event.anonymized?.encrypted) ? event : undefined;
}
