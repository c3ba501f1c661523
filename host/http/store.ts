// The web view's memory: a window of the most recent calls (every Call-ID
// seen) with their messages and events, the registrations the events report,
// and the last events. Fed as the other outputs are: each batch of messages
// (a Sink) and each event that passed the blocklist (an EventOutput); it never
// looks inside the tracker. Bounded by calls and by bytes: the oldest call is
// evicted first and counted, a call past its message bound keeps its first
// messages and counts the rest.
import type { SipMessage } from "../core/records";
import type { EventOutput, Sink } from "../sink/sink";
import type { SipEvent } from "../calls/events";

export interface StoreLimits {
  calls: number;       // calls held, the oldest evicted beyond
  bytes: number;       // message bytes held over all calls, the oldest calls evicted beyond
}

// Per call: enough for any real dialog; a flood on one Call-ID cannot take the whole window.
export const MESSAGES_PER_CALL = 500;
export const EVENTS_PER_CALL = 32;
export const EVENTS_HELD = 1000;
export const REGISTRATIONS_HELD = 10000;
// What a message costs beyond its bytes (its addresses and fields), for the byte bound.
const MESSAGE_OVERHEAD = 160;

export interface StoredMessage {
  seq: number;
  time: number;            // capture time, microseconds
  src: string;             // "ip:port" ([ip]:port for IPv6)
  dst: string;
  transport: string;
  label: string;           // "INVITE" or "180 Ringing"
  bytes: Buffer;
}

export interface StoredCall {
  id: string;              // the Call-ID
  seq: number;             // order of arrival in the window
  method: string;          // the first request's method
  from: string;
  to: string;
  start: number;           // first message, microseconds
  last: number;            // last message, microseconds
  state: string;
  status?: number;         // final status of the INVITE (or of the first request)
  reason?: string;
  pdd?: number;            // ms (sip.pdd)
  duration?: number;       // ms (event.duration)
  rtp?: unknown;           // a call-end event's rtp.* fields, when the media stage sends them
  recordings: string[];    // paths an event named
  messages: StoredMessage[];
  messagesDropped: number;
  events: SipEvent[];
  bytes: number;
}

export interface Registration {
  aor: string;
  contact: string;
  expires: number;
  since: string;
  client?: string;
  userAgent?: string;
}

// Told of each change, for live updates: a call whose summary changed, each event.
export interface StoreListener {
  callChanged(call: StoredCall): void;
  event(json: string): void;
}

export class CallStore {
  private readonly calls = new Map<string, StoredCall>();   // insertion order is age
  private readonly registrations = new Map<string, Registration>();
  private readonly recent: string[] = [];
  private recentHead = 0;
  private bytesHeld = 0;
  private nextCall = 0;
  private nextMessage = 0;
  private listener: StoreListener | undefined;
  readonly count = { callsEvicted: 0, bytesEvicted: 0, messagesDropped: 0, eventsEvicted: 0, registrationsEvicted: 0, messages: 0, events: 0 };

  constructor(readonly limits: StoreLimits) {}

  listen(listener: StoreListener): void {
    this.listener = listener;
  }

  // The store as an output of messages: each one copied out of the batch (valid only
  // during the call). It never makes the source wait; it stays readable after close
  // (siphon view serves it once the input has ended).
  messageSink(): Sink {
    return {
      write: (batch) => {
        for (let i = 0; i < batch.count; i++) this.addMessage(batch.message(i, true));
      },
      backlog: () => undefined,
      close: async () => undefined,
    };
  }

  // The store as an output of events: the JSON is the one every output writes.
  eventOutput(): EventOutput {
    return {
      write: (event, json) => this.takeEvent(event, json),
      flush: () => undefined,
      backlog: () => undefined,
      close: async () => undefined,
    };
  }

  takeEvent(event: SipEvent, json: string): void {
    this.count.events++;
    this.remember(json);
    const callId = event.sip?.call_id;
    const call = callId === undefined ? undefined : this.calls.get(callId);
    if (call) this.applyEvent(call, event);
    if (event.sip?.binding) this.applyBinding(event);
    this.listener?.event(json);
  }

  callList(): StoredCall[] {
    return [...this.calls.values()];
  }

  call(id: string): StoredCall | undefined {
    return this.calls.get(id);
  }

  registrationList(): Registration[] {
    return [...this.registrations.values()];
  }

  // The last events, oldest first, as JSON text.
  events(): string[] {
    return [...this.recent.slice(this.recentHead), ...this.recent.slice(0, this.recentHead)];
  }

  counters(): Record<string, number> {
    return {
      http_calls_held: this.calls.size, http_bytes_held: this.bytesHeld, http_calls_evicted: this.count.callsEvicted,
      http_messages: this.count.messages, http_messages_dropped: this.count.messagesDropped,
      http_events: this.count.events, http_events_evicted: this.count.eventsEvicted,
      http_registrations_held: this.registrations.size, http_registrations_evicted: this.count.registrationsEvicted,
    };
  }

  private addMessage(m: SipMessage): void {
    const callId = m.callId;
    if (callId === "") return;
    this.count.messages++;
    const time = m.timeSec * 1_000_000 + Math.floor(m.timeNsec / 1000);
    let call = this.calls.get(callId);
    if (call === undefined) call = this.newCall(callId, m, time);
    if (call.messages.length >= MESSAGES_PER_CALL) {
      call.messagesDropped++;
      this.count.messagesDropped++;
      return;
    }
    const stored: StoredMessage = { seq: this.nextMessage++, time, src: address(m.src.ip, m.src.port), dst: address(m.dst.ip, m.dst.port),
      transport: m.transport, label: m.isRequest ? m.method : `${m.status} ${m.reason}`, bytes: Buffer.from(m.bytes) };
    call.messages.push(stored);
    call.last = Math.max(call.last, time);
    const cost = stored.bytes.length + MESSAGE_OVERHEAD;
    call.bytes += cost;
    this.bytesHeld += cost;
    this.followState(call, m);
    this.listener?.callChanged(call);
    this.keepWithinBytes(call);
  }

  private newCall(id: string, m: SipMessage, time: number): StoredCall {
    if (this.calls.size >= this.limits.calls) this.evictOldest();
    const call: StoredCall = { id, seq: this.nextCall++, method: m.isRequest ? m.method : m.cseqMethod, from: m.from, to: m.to,
      start: time, last: time, state: "seen", recordings: [], messages: [], messagesDropped: 0, events: [], bytes: 0 };
    this.calls.set(id, call);
    return call;
  }

  // The oldest calls go first; the call just written to stays, so one call larger than
  // the window keeps its messages up to MESSAGES_PER_CALL rather than evicting itself.
  private keepWithinBytes(current: StoredCall): void {
    while (this.bytesHeld > this.limits.bytes && this.calls.size > 1) {
      const oldest = this.calls.values().next().value as StoredCall;
      if (oldest === current) break;
      this.evict(oldest);
    }
  }

  private evictOldest(): void {
    const oldest = this.calls.values().next().value as StoredCall | undefined;
    if (oldest) this.evict(oldest);
  }

  private evict(call: StoredCall): void {
    this.calls.delete(call.id);
    this.bytesHeld -= call.bytes;
    this.count.callsEvicted++;
    this.count.bytesEvicted += call.bytes;
  }

  // What the messages alone say, at once; the tracker's events (applyEvent) refine it.
  private followState(call: StoredCall, m: SipMessage): void {
    if (m.isRequest) {
      if (m.method === "INVITE" && call.state === "seen") call.state = "calling";
      else if (m.method === "BYE") call.state = "ending";
      else if (m.method === "CANCEL") call.state = "cancelling";
      return;
    }
    if (m.cseqMethod !== call.method) return;
    const status = m.status;
    if (status >= 180 && status < 200 && (call.state === "calling" || call.state === "seen")) call.state = "ringing";
    if (status >= 200 && call.status === undefined) {
      call.status = status;
      call.reason = m.reason;
      if (call.method === "INVITE") call.state = status < 300 ? "answered" : "failed";
      else call.state = status < 300 ? "ok" : "failed";
    }
  }

  private applyEvent(call: StoredCall, event: SipEvent): void {
    if (call.events.length < EVENTS_PER_CALL) call.events.push(event);
    const sip = event.sip;
    if (sip?.pdd !== undefined) call.pdd = sip.pdd;
    if (sip?.response) {
      call.status = sip.response.status;
      call.reason = sip.response.reason;
    }
    const type = event.event.type;
    if (type === "call-start") call.state = "answered";
    if (type === "call-end") {
      call.state = "ended";
      if (event.event.duration !== undefined) call.duration = event.event.duration / 1e6;
    }
    if (type === "call-attempt") call.state = sip?.call?.outcome ?? "failed";
    const extra = event as unknown as { rtp?: unknown; recording?: { path?: unknown; paths?: unknown } };
    if (extra.rtp !== undefined) call.rtp = extra.rtp;
    for (const path of recordingPaths(extra.recording)) if (!call.recordings.includes(path)) call.recordings.push(path);
    this.listener?.callChanged(call);
  }

  private applyBinding(event: SipEvent): void {
    const binding = event.sip!.binding!;
    const key = `${binding.aor}\n${binding.contact}`;
    if (event.event.type !== "reg-new") {
      this.registrations.delete(key);
      return;
    }
    if (!this.registrations.has(key) && this.registrations.size >= REGISTRATIONS_HELD) {
      this.registrations.delete(this.registrations.keys().next().value as string);
      this.count.registrationsEvicted++;
    }
    this.registrations.set(key, { aor: binding.aor, contact: binding.contact, expires: binding.expires, since: event["@timestamp"],
      client: event.client ? address(event.client.ip, event.client.port) : undefined, userAgent: event.user_agent?.original });
  }

  // A ring of the last EVENTS_HELD events.
  private remember(json: string): void {
    if (this.recent.length < EVENTS_HELD) {
      this.recent.push(json);
      return;
    }
    this.recent[this.recentHead] = json;
    this.recentHead = (this.recentHead + 1) % EVENTS_HELD;
    this.count.eventsEvicted++;
  }
}

// An event's recording.path (or recording.paths), as the media stage names its files.
function recordingPaths(recording: { path?: unknown; paths?: unknown } | undefined): string[] {
  if (recording === undefined || recording === null) return [];
  const all = [recording.path, ...(Array.isArray(recording.paths) ? recording.paths : [])];
  return all.filter((p): p is string => typeof p === "string" && p !== "");
}

export function address(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}
