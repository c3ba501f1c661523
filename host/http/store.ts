// The web view's memory: a window of the most recent calls (every Call-ID
// seen) with their messages and events, the registrations the events report,
// and the last events. Fed as the other outputs are: each batch of messages
// (a Sink) and each event that passed the blocklist (an EventOutput); it never
// looks inside the tracker. Bounded by calls and by bytes: the oldest call is
// evicted first and counted, a call past its message bound keeps its first
// messages and counts the rest.
//
// On the hot path a message costs its Call-ID and one copy: its record and
// bytes go into large shared slabs, and what the page shows (addresses, start
// line, the state the messages imply) is read from there only when asked for.
import { storedCallId, storedMessage, type MessageBatch, type SipMessage } from "../core/records";
import type { EventOutput, Sink } from "../sink/sink";
import type { RecordingRef, SipEvent } from "../calls/events";

export interface StoreLimits {
  calls: number;       // calls held, the oldest evicted beyond
  bytes: number;       // bytes of the slabs the calls' messages are held in, the oldest calls evicted beyond
}

// Per call: enough for any real dialog; a flood on one Call-ID cannot take the whole window.
export const MESSAGES_PER_CALL = 500;
export const EVENTS_PER_CALL = 32;
export const EVENTS_HELD = 1000;
export const REGISTRATIONS_HELD = 10000;
// One allocation for many messages keeps the garbage collector's work small while the
// window holds tens of thousands; a slab is freed once every call with a message in it is.
// The byte bound counts whole slabs, so a slab that one long call keeps is counted whole:
// slabs are small enough that this costs little of the window.
const SLAB_BYTES = 64 * 1024;
// Slabs let go are kept for reuse up to this many: a fresh one costs page faults and cold caches.
const SPARE_SLABS = 8;

// Where each message of a call was copied: four numbers per message (slab number, offset,
// length, its place among all messages) in one array, so the window holds no object per message.
const REF_WORDS = 4;

interface Slab {
  bytes: Buffer;
  messages: number;     // messages of calls in the window still in it; at 0 it is let go
}

export interface StoredMessage {
  seq: number;             // its place among all messages of the window
  time: number;            // capture time, microseconds
  src: string;             // "ip:port" ([ip]:port for IPv6)
  dst: string;
  transport: string;
  label: string;           // "INVITE" or "180 Ringing"
  text: string;            // the message whole
}

export interface StoredCall {
  id: string;              // the Call-ID
  refs: number[];          // REF_WORDS per message, in order
  messagesDropped: number;
  events: string[];        // as JSON: an event's objects are not kept alive
  // What the messages imply, folded in when the call is next read (folded: how many so far).
  folded: number;
  method: string;          // the first request's method
  from: string;
  to: string;
  start: number;           // first message, microseconds
  last: number;            // last message, microseconds
  state: string;
  status?: number;         // the last final status to the call's first method (a challenge, then the retry's)
  reason?: string;
  // What the events say, at once.
  pdd?: number;            // ms (sip.pdd)
  duration?: number;       // ms (event.duration)
  eventState?: string;
  eventStatus?: number;    // a call event's sip.response, which has the last word
  eventReason?: string;
  rtp?: unknown;           // a call-end event's rtp.* fields, when the media stage sends them
  recordings: string[];    // paths an event named
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
  private readonly calls = new Map<string, StoredCall>();
  // Oldest first, from `head`: a Map's first entry after many deletions is found by walking
  // every deleted slot, which made eviction quadratic.
  private age: StoredCall[] = [];
  private head = 0;
  private readonly registrations = new Map<string, Registration>();
  private readonly recent: string[] = [];
  private recentHead = 0;
  private bytesHeld = 0;
  private nextMessage = 0;
  private readonly slabs = new Map<number, Slab>();
  private readonly spare: Buffer[] = [];
  private slabNumber = -1;
  private slab: Slab = this.newSlab(SLAB_BYTES);
  private slabUsed = 0;
  private listener: StoreListener | undefined;
  readonly count = { callsEvicted: 0, messagesDropped: 0, eventsEvicted: 0, registrationsEvicted: 0, messages: 0, events: 0 };

  constructor(readonly limits: StoreLimits, private readonly privacy: StorePrivacy = SHOWN_AS_CAPTURED) {}

  listen(listener: StoreListener): void {
    this.listener = listener;
  }

  // The store as an output of messages: each one copied out of the batch (valid only
  // during the call). It never makes the source wait; it stays readable after close
  // (siphon view serves it once the input has ended).
  messageSink(): Sink {
    return {
      write: (batch) => {
        for (let i = 0; i < batch.count; i++) this.addMessage(batch, i);
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
    if (call) this.applyEvent(call, event, json);
    if (event.sip?.binding) this.applyBinding(event);
    this.listener?.event(json);
  }

  // Oldest first, each brought up to date.
  callList(): StoredCall[] {
    return this.age.slice(this.head).map((call) => this.current(call));
  }

  call(id: string): StoredCall | undefined {
    const call = this.calls.get(id);
    return call && this.current(call);
  }

  messagesOf(call: StoredCall): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (let n = 0; n < messageCount(call); n++) out.push(messageView(this.stored(call, n), call.refs[n * REF_WORDS + 3], this.privacy));
    return out;
  }

  // The n-th message of a call, read in its slab.
  private stored(call: StoredCall, n: number): SipMessage {
    const r = n * REF_WORDS;
    return storedMessage((this.slabs.get(call.refs[r]) as Slab).bytes, call.refs[r + 1], call.refs[r + 2]);
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

  // Copied first and read in the copy: the Call-ID is the one field read on the hot path.
  private addMessage(batch: MessageBatch, i: number): void {
    const length = batch.storedLength(i);
    this.makeRoom(length);
    const at = this.slabUsed;
    batch.storeInto(i, this.slab.bytes, at);
    const raw = storedCallId(this.slab.bytes, at);
    if (raw === "") return;
    const callId = this.privacy.callId(raw);
    this.count.messages++;
    const call = this.calls.get(callId) ?? this.newCall(callId);
    if (messageCount(call) >= MESSAGES_PER_CALL) {
      call.messagesDropped++;
      this.count.messagesDropped++;
      return;
    }
    call.refs.push(this.slabNumber, at, length, this.nextMessage++);
    this.slab.messages++;
    this.slabUsed += length;
    this.listener?.callChanged(call);
    this.keepWithinBytes(call);
  }

  // The current slab with `length` bytes free: a new one when it is full; a message
  // larger than a slab gets one of its own size.
  private makeRoom(length: number): void {
    if (this.slabUsed + length <= this.slab.bytes.length) return;
    const [full, number] = [this.slab, this.slabNumber];
    this.slab = this.newSlab(Math.max(SLAB_BYTES, length));
    this.slabUsed = 0;
    if (full.messages === 0) this.letGo(number, full);
  }

  private newSlab(size: number): Slab {
    const bytes = size === SLAB_BYTES && this.spare.length > 0 ? this.spare.pop() as Buffer : Buffer.allocUnsafe(size);
    const slab = { bytes, messages: 0 };
    this.slabs.set(++this.slabNumber, slab);
    this.bytesHeld += bytes.length;
    return slab;
  }

  // An evicted call's messages let their slabs go once no call in the window has one there.
  private release(call: StoredCall): void {
    for (let r = 0; r < call.refs.length; r += REF_WORDS) {
      const number = call.refs[r];
      const slab = this.slabs.get(number) as Slab;
      if (--slab.messages === 0 && slab !== this.slab) this.letGo(number, slab);
    }
  }

  private letGo(number: number, slab: Slab): void {
    this.slabs.delete(number);
    this.bytesHeld -= slab.bytes.length;
    if (slab.bytes.length === SLAB_BYTES && this.spare.length < SPARE_SLABS) this.spare.push(slab.bytes);
  }

  private newCall(id: string): StoredCall {
    if (this.calls.size >= this.limits.calls) this.evictOldest();
    const call: StoredCall = { id, refs: [], messagesDropped: 0, events: [], folded: 0,
      method: "", from: "", to: "", start: 0, last: 0, state: "seen", recordings: [] };
    this.calls.set(id, call);
    this.age.push(call);
    return call;
  }

  // The oldest calls go first; the call just written to stays, so one call larger than
  // the window keeps its messages up to MESSAGES_PER_CALL rather than evicting itself.
  private keepWithinBytes(current: StoredCall): void {
    while (this.bytesHeld > this.limits.bytes && this.calls.size > 1 && this.age[this.head] !== current) this.evictOldest();
  }

  private evictOldest(): void {
    const call = this.age[this.head++];
    if (this.head > 1024 && this.head * 2 > this.age.length) {
      this.age = this.age.slice(this.head);
      this.head = 0;
    }
    this.calls.delete(call.id);
    this.release(call);
    this.count.callsEvicted++;
  }

  // The messages not yet folded into the call's summary, folded in.
  private current(call: StoredCall): StoredCall {
    for (; call.folded < messageCount(call); call.folded++) {
      const m = this.stored(call, call.folded);
      const time = timeOf(m);
      if (call.folded === 0) {
        call.method = m.isRequest ? m.method : m.cseqMethod;
        call.from = this.privacy.text(m.from);
        call.to = this.privacy.text(m.to);
        call.start = time;
      }
      call.last = Math.max(call.last, time);
      followState(call, m);
    }
    if (call.eventState !== undefined) call.state = call.eventState;
    if (call.eventStatus !== undefined) [call.status, call.reason] = [call.eventStatus, call.eventReason];
    return call;
  }

  private applyEvent(call: StoredCall, event: SipEvent, json: string): void {
    if (call.events.length < EVENTS_PER_CALL) call.events.push(json);
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
    for (const path of recordingPaths(event.siphon?.recording)) if (!call.recordings.includes(path)) call.recordings.push(path);
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
  return call.refs.length / REF_WORDS;
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
