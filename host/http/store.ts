// The web view's memory: the most recent messages and events (ring.ts, in
// arrival order, bounded by bytes), the messages grouped into calls (every
// Call-ID seen) with their events, the registrations the events report, and the
// last events. Fed as the other outputs are: each batch of messages (a Sink) and
// each event that passed the blocklist (an EventOutput); it never looks inside
// the tracker. A call leaves the window, counted, when it is the oldest and a
// newer one would pass the call bound, or when its first message is among the
// oldest bytes the ring lets go; a call past its message bound keeps its first
// messages and counts the rest.
//
// A message costs its copy into the ring, a look-up of its call by the core's
// call key in a typed-array table (no string, no Map) and a link from the call's
// last message; an event, its JSON copied and a link. What the window holds is
// out of the JavaScript heap but for one small object per call, so holding it
// does not grow the garbage collector's old generation. What the page shows
// (addresses, start line, the state the messages imply) is read from the
// copies only when asked for.
import type { MessageBatch, SipMessage } from "../core/records";
import type { EventOutput, Sink } from "../sink/sink";
import type { RecordingRef, SipEvent } from "../calls/events";
import { MessageRing } from "./ring";
import { KeyTable } from "./table";

export interface StoreLimits {
  calls: number;       // calls held, the oldest evicted beyond
  bytes: number;       // bytes of the ring the messages and events are held in, the oldest let go (and their calls evicted) beyond
}

// Per call: enough for any real dialog; a flood on one Call-ID cannot fill a ladder without end.
export const MESSAGES_PER_CALL = 500;
export const EVENTS_PER_CALL = 32;
export const EVENTS_HELD = 1000;
export const REGISTRATIONS_HELD = 10000;
const NO_RECORDINGS: readonly string[] = Object.freeze([]);

export interface StoredMessage {
  seq: number;             // its place among all messages and events of the window
  time: number;            // capture time, microseconds
  src: string;             // "ip:port" ([ip]:port for IPv6)
  dst: string;
  transport: string;
  label: string;           // "INVITE" or "180 Ringing"
  text: string;            // the message whole
}

export interface StoredCall {
  id: string;              // the Call-ID
  key: number;             // the core's call key
  first: number;           // its first message in the ring; the others follow the ring's links
  lastMessage: number;
  count: number;           // messages linked (at most MESSAGES_PER_CALL)
  messagesDropped: number;
  firstEvent: number;      // its events' JSON in the ring, linked as its messages are; -1 before the first
  lastEvent: number;
  eventCount: number;      // at most EVENTS_PER_CALL
  changed: number;         // the batch that last told the listener
  // What the messages imply, folded in when the call is next read.
  unfolded: number;        // the first message not folded in, -1 when all are
  method: string;          // the first request's method
  from: string;
  to: string;
  start: number;           // first message, microseconds
  last: number;            // last message, microseconds
  state: string;
  status?: number;         // the last final status to the call's first method (a challenge, then the retry's)
  reason?: string;
  // What the events say.
  pdd?: number;            // ms (sip.pdd)
  duration?: number;       // ms (event.duration)
  eventState?: string;
  eventStatus?: number;    // a call event's sip.response, which has the last word
  eventReason?: string;
  rtp?: unknown;           // a call-end event's rtp.* fields, when the media stage sends them
  recordings: readonly string[];   // paths an event named
}

export interface Registration {
  aor: string;
  contact: string;
  expires: number;
  since: string;
  client?: string;
  userAgent?: string;
}

// Told of each change, for live updates: a call whose summary changed (once a batch), each event.
export interface StoreListener {
  callChanged(call: StoredCall): void;
  event(json: string): void;
}

export class CallStore {
  private readonly ring: MessageRing;
  private batches = 0;
  private readonly byKey = new KeyTable<StoredCall>();
  private readonly byId = new Map<string, StoredCall>();
  // Oldest first, from `head`.
  private age: StoredCall[] = [];
  private head = 0;
  private readonly registrations = new Map<string, Registration>();
  // The last EVENTS_HELD events, by their number in the ring, oldest at recentHead once full.
  private readonly recent = new Float64Array(EVENTS_HELD);
  private recentCount = 0;
  private recentHead = 0;
  private listener: StoreListener | undefined;
  readonly count = { callsEvicted: 0, messagesDropped: 0, eventsEvicted: 0, registrationsEvicted: 0, messages: 0, events: 0 };

  constructor(readonly limits: StoreLimits, private readonly privacy: StorePrivacy = SHOWN_AS_CAPTURED) {
    this.ring = new MessageRing(limits.bytes, (keep) => this.evictBefore(keep));
  }

  listen(listener: StoreListener): void {
    this.listener = listener;
  }

  // The store as an output of messages: each one copied out of the batch (valid only
  // during the call). It never makes the source wait; it stays readable after close
  // (siphon view serves it once the input has ended).
  messageSink(): Sink {
    return {
      write: (batch) => this.addMessages(batch),
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
    const seq = this.ring.addText(json);
    this.remember(seq);
    const callId = event.sip?.call_id;
    const call = callId === undefined ? undefined : this.byId.get(callId);
    if (call) this.applyEvent(call, event, seq);
    if (event.sip?.binding) this.applyBinding(event);
    this.listener?.event(json);
  }

  // Oldest first, each brought up to date.
  callList(): StoredCall[] {
    return this.age.slice(this.head).map((call) => this.current(call));
  }

  call(id: string): StoredCall | undefined {
    const call = this.byId.get(id);
    return call && this.current(call);
  }

  // A call's messages, in order.
  messagesOf(call: StoredCall): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (let seq = call.first, n = 0; n < call.count; seq = this.ring.link(seq), n++) {
      out.push(messageView(this.ring.message(seq), seq, this.privacy));
    }
    return out;
  }

  // A call's events as JSON, in order.
  eventsOf(call: StoredCall): string[] {
    const out: string[] = [];
    for (let seq = call.firstEvent, n = 0; n < call.eventCount; seq = this.ring.link(seq), n++) out.push(this.ring.text(seq));
    return out;
  }

  registrationList(): Registration[] {
    return [...this.registrations.values()];
  }

  // The last events still in the window, oldest first, as JSON text.
  events(): string[] {
    const out: string[] = [];
    for (let n = 0; n < this.recentCount; n++) {
      const seq = this.recent[(this.recentHead + n) % EVENTS_HELD];
      if (seq >= this.ring.first) out.push(this.ring.text(seq));
    }
    return out;
  }

  counters(): Record<string, number> {
    return {
      http_calls_held: this.byId.size, http_bytes_held: this.ring.bytesHeld, http_calls_evicted: this.count.callsEvicted,
      http_messages: this.count.messages, http_messages_dropped: this.count.messagesDropped,
      http_events: this.count.events, http_events_evicted: this.count.eventsEvicted,
      http_registrations_held: this.registrations.size, http_registrations_evicted: this.count.registrationsEvicted,
    };
  }

  private addMessages(batch: MessageBatch): void {
    this.batches++;
    for (let i = 0; i < batch.count; i++) {
      const seq = this.ring.add(batch, i);
      if (seq >= 0) this.group(seq);
    }
  }

  // One message into its call: a new call for a new key, else a link from the call's last message.
  private group(seq: number): void {
    this.count.messages++;
    const key = this.ring.key(seq);
    let call = this.byKey.get(key);
    if (call === undefined) call = this.newCall(key, seq);
    else if (call.count >= MESSAGES_PER_CALL) {
      call.messagesDropped++;
      this.count.messagesDropped++;
    } else {
      this.ring.setLink(call.lastMessage, seq);
      call.lastMessage = seq;
      call.count++;
      if (call.unfolded < 0) call.unfolded = seq;
    }
    if (call.changed !== this.batches) {
      call.changed = this.batches;
      this.listener?.callChanged(call);
    }
  }

  private newCall(key: number, seq: number): StoredCall {
    if (this.byId.size >= this.limits.calls) {
      this.evictOldest();
      this.ring.letGoBefore(this.head < this.age.length ? this.age[this.head].first : seq);
    }
    const id = this.privacy.callId(this.ring.callId(seq));
    // Every field made here, the optional ones too: calls of one shape keep the code that reads them optimized.
    const call: StoredCall = { id, key, first: seq, lastMessage: seq, count: 1, messagesDropped: 0, firstEvent: -1, lastEvent: -1, eventCount: 0,
      changed: 0, unfolded: seq, method: "", from: "", to: "", start: 0, last: 0, state: "seen", status: undefined, reason: undefined,
      pdd: undefined, duration: undefined, eventState: undefined, eventStatus: undefined, eventReason: undefined, rtp: undefined, recordings: NO_RECORDINGS };
    this.byKey.add(key, call);
    this.byId.set(id, call);
    this.age.push(call);
    return call;
  }

  // The ring is about to let go of everything numbered below `keep`: the calls that began there go.
  private evictBefore(keep: number): void {
    while (this.head < this.age.length && this.age[this.head].first < keep) this.evictOldest();
  }

  private evictOldest(): void {
    const call = this.age[this.head++];
    if (this.head > 1024 && this.head * 2 > this.age.length) {
      this.age = this.age.slice(this.head);
      this.head = 0;
    }
    this.byKey.delete(call.key);
    this.byId.delete(call.id);
    this.count.callsEvicted++;
  }

  // The messages not yet folded into the call's summary, folded in.
  private current(call: StoredCall): StoredCall {
    for (let seq = call.unfolded; seq >= 0; seq = seq === call.lastMessage ? -1 : this.ring.link(seq)) {
      const m = this.ring.message(seq);
      const time = timeOf(m);
      if (seq === call.first) {
        call.method = m.isRequest ? m.method : m.cseqMethod;
        call.from = this.privacy.text(m.from);
        call.to = this.privacy.text(m.to);
        call.start = time;
      }
      call.last = Math.max(call.last, time);
      followState(call, m);
    }
    call.unfolded = -1;
    if (call.eventState !== undefined) call.state = call.eventState;
    if (call.eventStatus !== undefined) [call.status, call.reason] = [call.eventStatus, call.eventReason];
    return call;
  }

  private applyEvent(call: StoredCall, event: SipEvent, seq: number): void {
    if (call.eventCount < EVENTS_PER_CALL) {
      if (call.eventCount === 0) call.firstEvent = seq;
      else this.ring.setLink(call.lastEvent, seq);
      call.lastEvent = seq;
      call.eventCount++;
    }
    const sip = event.sip;
    if (sip?.pdd !== undefined) call.pdd = sip.pdd;
    const type = event.event.type;
    if (type === "call-start") call.eventState = "answered";
    if (type === "call-end") {
      call.eventState = "ended";
      if (event.event.duration !== undefined) call.duration = event.event.duration / 1e6;
    }
    if (type === "call-attempt") call.eventState = sip?.call?.outcome ?? "failed";
    if (sip?.response && type.startsWith("call-")) {
      call.eventStatus = sip.response.status;
      call.eventReason = sip.response.reason;
    }
    if (event.rtp !== undefined) call.rtp = event.rtp;
    for (const path of recordingPaths(event.siphon?.recording)) if (!call.recordings.includes(path)) call.recordings = [...call.recordings, path];
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

  // The last EVENTS_HELD events, by number.
  private remember(seq: number): void {
    if (this.recentCount < EVENTS_HELD) {
      this.recent[this.recentCount++] = seq;
      return;
    }
    this.recent[this.recentHead] = seq;
    this.recentHead = (this.recentHead + 1) % EVENTS_HELD;
    this.count.eventsEvicted++;
  }
}

// What the messages alone say; the tracker's events (eventState) have the last word.
function followState(call: StoredCall, m: SipMessage): void {
  if (m.isRequest) {
    const method = m.method;
    if (method === "INVITE" && call.state === "seen") call.state = "calling";
    else if (method === "BYE") call.state = "ending";
    else if (method === "CANCEL") call.state = "cancelling";
    return;
  }
  if (m.cseqMethod !== call.method) return;
  const status = m.status;
  if (status >= 180 && status < 200 && (call.state === "calling" || call.state === "seen")) call.state = "ringing";
  if (status < 200) return;
  call.status = status;
  call.reason = m.reason;
  if (call.method !== "INVITE") call.state = status < 300 ? "ok" : status === 401 || status === 407 ? "challenged" : "failed";
  else if (call.state !== "ending") call.state = status < 300 ? "answered" : status === 401 || status === 407 ? "challenged" : "failed";
}

function timeOf(m: SipMessage): number {
  return m.timeSec * 1_000_000 + Math.floor(m.timeNsec / 1000);
}

// With --anonymize the page shows what leaves the sensor: the run's Privacy (host/privacy)
// applied to Call-IDs, addresses, From/To and the SIP text, as the events have them.
export interface StorePrivacy {
  callId(value: string): string;
  ip(address: string): string;
  text(value: string): string;
  sip(message: Buffer): Buffer;
}

const SHOWN_AS_CAPTURED: StorePrivacy = { callId: (v) => v, ip: (v) => v, text: (v) => v, sip: (m) => m };

export function messageCount(call: StoredCall): number {
  return call.count;
}

function messageView(m: SipMessage, seq: number, p: StorePrivacy): StoredMessage {
  return { seq, time: timeOf(m), src: address(p.ip(m.src.ip), m.src.port), dst: address(p.ip(m.dst.ip), m.dst.port), transport: m.transport,
    label: m.isRequest ? m.method : `${m.status} ${m.reason}`, text: p.sip(m.bytes).toString("utf8") };
}

// The files a call's event names as its recording (siphon.recording, host/media): its pcap, its WAV.
function recordingPaths(recording: RecordingRef | undefined): string[] {
  if (recording === undefined) return [];
  return [recording.pcap, recording.wav].filter((p): p is string => typeof p === "string" && p !== "");
}

export function address(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}
