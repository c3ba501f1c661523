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
// A message costs its share of a copy into the ring (a batch goes in by runs),
// a look-up of its call by the core's call key in a Map of numbers (no string;
// Map's get, set and delete are built into V8, so that V8 has no hash table of
// ours to compile into the grouping loop) and a link from the call's last
// message; an event, its JSON copied and a link, its call found by the same key
// where the core's tracker gives it (EV_CALL_KEY). A call's Call-ID is decoded
// when something reads the call, or finds one by its Call-ID (the API, an event
// that came as an object: --tracker js, --anonymize). Calls are numbered as
// they come (the live ones are always the numbers from the oldest to the
// newest) and kept in typed arrays but for their Call-ID; the object a page or
// the API reads (StoredCall) is made only when one reads the call, and what the
// messages and the events say of it (addresses, start line, states, PDD, RTP,
// recordings) is read from the copies then, each message and event once. Live
// updates ask which calls changed (changedCalls) instead of being told at each
// message. So the window puts next to nothing on the JavaScript heap (what the
// garbage collector copies at each scavenge and traces at each full collection
// does not grow with it), and a replay nobody watches runs little of the web
// view's code, which on a short run is mostly still unoptimized
// (docs/performance.md).
import type { MessageBatch, SipMessage } from "../core/records";
import type { EventOutput, Sink } from "../sink/sink";
import { isoTime, type RecordingRef, type SipEvent } from "../calls/events";
import type { DescribedEvent } from "../core/event-lines";
import { MessageRing } from "./ring";

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
// Above the default call bound (1,000) with a run's new calls on top (trim): at the default the
// slots never grow, and V8 never throws away the grouping loop's code for a new `fields`.
const FIRST_CALLS = 2048;

// A call's numbers, at its slot times FIELDS in CallStore.fields: its key; its first and last
// message in the ring (the others follow the ring's links); messages linked and dropped; its
// first and last event in the ring, and how many; the store's version when it last changed and
// when live updates last took it; the first message and the first event not yet folded into
// its StoredCall (-1 when all are).
const KEY = 0, FIRST = 1, LAST = 2, COUNT = 3, DROPPED = 4, FIRST_EVENT = 5, LAST_EVENT = 6, EVENTS = 7, CHANGED = 8, TAKEN = 9,
  UNFOLDED = 10, UNFOLDED_EVENT = 11;
const FIELDS = 12;

export interface StoredMessage {
  seq: number;             // its place among all messages and events of the window
  time: number;            // capture time, microseconds
  src: string;             // "ip:port" ([ip]:port for IPv6)
  dst: string;
  transport: string;
  label: string;           // "INVITE" or "180 Ringing"
  text: string;            // the message whole
}

// A call as the page and the API read it: made on the first read or the first event that
// says something of it, brought up to date at each read.
export interface StoredCall {
  id: string;              // the Call-ID
  num: number;             // its number in the store
  count: number;           // messages held (at most MESSAGES_PER_CALL)
  messagesDropped: number;
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

// Told of each event by its number, for live updates (which ask for the calls that changed:
// changedCalls, and for the text of the events they send: eventText). A flush sends only the
// last events of its interval, so only those are decoded.
export interface StoreListener {
  readonly wantsEvents: boolean;   // whether event() would use the number now (a live client is connected)
  event(seq: number): void;
}

export class CallStore {
  private readonly ring: MessageRing;
  // Counts batches and events: a call changed when its CHANGED is above its TAKEN and above
  // takenBefore (the version when live updates began to be asked for).
  private version = 0;
  private takenBefore = 0;
  private scan = 0;          // where changedCalls goes on from
  private readonly byKey = new Map<number, number>();   // a call's key to its number
  private readonly byId = new Map<string, number>();    // a call's Call-ID to its number, for the calls numbered below `named`
  private named = 0;
  // The live calls are numbered oldest to next - 1; call n is at slot n & mask.
  private oldest = 0;
  private next = 0;
  private mask = FIRST_CALLS - 1;
  private fields = new Float64Array(FIRST_CALLS * FIELDS);
  private ids: Array<string | undefined> = new Array<string | undefined>(FIRST_CALLS).fill(undefined);
  private views: Array<StoredCall | undefined> = new Array<StoredCall | undefined>(FIRST_CALLS).fill(undefined);
  private readonly registrations = new Map<string, Registration>();
  // The last EVENTS_HELD events, by their number in the ring, oldest at recentHead once full.
  private readonly recent = new Float64Array(EVENTS_HELD);
  private recentCount = 0;
  private recentHead = 0;
  private listener: StoreListener | undefined;
  readonly count = { callsEvicted: 0, messagesDropped: 0, eventsEvicted: 0, registrationsEvicted: 0, messages: 0, events: 0 };

  constructor(readonly limits: StoreLimits, private readonly privacy: StorePrivacy = SHOWN_AS_CAPTURED) {
    this.ring = new MessageRing(limits.bytes, (keep) => this.evictBefore(keep));
    // Stored again so that V8 takes the field for what it is, one that changes: else it compiles
    // the grouping loop with oldest as the constant 0 and throws that code away at the first eviction.
    this.oldest = 0;
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

  // The store as an output of events: the JSON is the one every output writes. It takes
  // the core's line where there is one (host/calls/publish.ts): no event object is built for it.
  eventOutput(): EventOutput {
    return {
      write: (event, json) => this.takeEvent(event, json),
      // The core's line: its bytes go into the ring as they are, and become text only for a live
      // client. Written here rather than in a method this calls: V8 compiled both, the method on
      // its own and again inlined here.
      writeLine: (source, start, end, extra, d) => {
        const key = d.callKey;
        this.took(this.ring.addLine(source, start, end, extra), key === undefined ? this.numberOf(d.callId) : this.byKey.get(key));
        if (d.aor !== undefined) this.lineBinding(d, d.aor);
      },
      flush: () => undefined,
      backlog: () => undefined,
      close: async () => undefined,
    };
  }

  // The event linked to its call, what it says of the call read when the call is (current).
  takeEvent(event: SipEvent, json: string): void {
    this.took(this.ring.addText(json), this.numberOf(event.sip?.call_id));
    const binding = event.sip?.binding;
    if (binding !== undefined) {
      this.applyBinding(event.event.type, { aor: binding.aor, contact: binding.contact, expires: binding.expires, since: event["@timestamp"],
        client: event.client ? address(event.client.ip, event.client.port) : undefined, userAgent: event.user_agent?.original });
    }
  }

  // A binding's registration from the core's line (eventOutput's writeLine), in a function of its
  // own: one event in twenty has one, and what V8 compiles for each event is then the common part alone.
  private lineBinding(d: DescribedEvent, aor: string): void {
    this.applyBinding(d.type, { aor, contact: d.contact, expires: d.expires, since: isoTime(d.atUs),
      client: address(d.client.ip, d.client.port), userAgent: d.userAgent || undefined });
  }

  private took(seq: number, num: number | undefined): void {
    this.count.events++;
    this.remember(seq);
    if (num !== undefined) this.linkEvent(num, seq);
    if (this.listener?.wantsEvents) this.listener.event(seq);
  }

  // The JSON of the event numbered `seq`, undefined once the window has let it go.
  eventText(seq: number): string | undefined {
    return seq >= this.ring.first ? this.ring.text(seq) : undefined;
  }

  // Up to `most` calls that changed since live updates last took them, each brought up to date.
  // The scan goes on from where the last one stopped, so that calls that keep changing do not
  // keep the others waiting.
  changedCalls(most: number): StoredCall[] {
    const out: StoredCall[] = [];
    for (let n = this.next - this.oldest; n > 0 && out.length < most; n--) {
      if (this.scan < this.oldest || this.scan >= this.next) this.scan = this.oldest;
      const f = this.at(this.scan);
      const changed = this.fields[f + CHANGED];
      if (changed > this.fields[f + TAKEN] && changed > this.takenBefore) {
        this.fields[f + TAKEN] = changed;
        out.push(this.current(this.scan));
      }
      this.scan++;
    }
    return out;
  }

  // From now on live updates take the calls that change; none of the changes before.
  takeChangesFromNow(): void {
    this.takenBefore = this.version;
  }

  // Oldest first, each brought up to date.
  callList(): StoredCall[] {
    const out: StoredCall[] = [];
    for (let num = this.oldest; num < this.next; num++) out.push(this.current(num));
    return out;
  }

  call(id: string): StoredCall | undefined {
    const num = this.numberOf(id);
    return num === undefined ? undefined : this.current(num);
  }

  // A call's messages, in order (none once it has left the window).
  messagesOf(call: StoredCall): StoredMessage[] {
    const out: StoredMessage[] = [];
    if (!this.live(call)) return out;
    const f = this.at(call.num);
    for (let seq = this.fields[f + FIRST], n = 0; n < this.fields[f + COUNT]; seq = this.ring.link(seq), n++) {
      out.push(messageView(this.ring.message(seq), seq, this.privacy));
    }
    return out;
  }

  // A call's events as JSON, in order.
  eventsOf(call: StoredCall): string[] {
    const out: string[] = [];
    if (!this.live(call)) return out;
    const f = this.at(call.num);
    const shown = Math.min(this.fields[f + EVENTS], EVENTS_PER_CALL);
    for (let seq = this.fields[f + FIRST_EVENT], n = 0; n < shown; seq = this.ring.link(seq), n++) out.push(this.ring.text(seq));
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
      http_calls_held: this.next - this.oldest, http_bytes_held: this.ring.bytesHeld, http_calls_evicted: this.count.callsEvicted,
      http_messages: this.count.messages, http_messages_dropped: this.count.messagesDropped,
      http_events: this.count.events, http_events_evicted: this.count.eventsEvicted,
      http_registrations_held: this.registrations.size, http_registrations_evicted: this.count.registrationsEvicted,
    };
  }

  // The batch copied in run by run, each run's messages grouped before the next is copied (which
  // may let go of the oldest bytes).
  private addMessages(batch: MessageBatch): void {
    this.version++;
    for (let i = 0; i < batch.count;) {
      const from = this.ring.next;
      i = this.ring.addRun(batch, i);
      this.group(from, this.ring.next);
      this.trim();
    }
  }

  // The oldest calls past the call bound evicted after a run rather than as each new call comes:
  // the grouping loop then has no eviction in it, which V8 would otherwise compile without
  // having seen it run and throw away at the first eviction (docs/performance.md). A run
  // passes the bound by at most the new calls of one slab's messages meanwhile.
  private trim(): void {
    if (this.next - this.oldest <= this.limits.calls) return;
    while (this.next - this.oldest > this.limits.calls) this.evictOldest();
    this.ring.letGoBefore(this.fields[this.at(this.oldest) + FIRST]);
  }

  // Messages `from` to `to` (exclusive) each into its call: a new call for a new key, else a
  // link from the call's last message. One loop, the rare cases in functions of their own: on a
  // short replay this runs mostly before V8 has optimized it, and what it optimizes it compiles
  // once (docs/performance.md).
  private group(from: number, to: number): void {
    this.count.messages += to - from;
    for (let seq = from; seq < to; seq++) {
      const key = this.ring.key(seq);
      const num = this.byKey.get(key) ?? -1;
      if (num < 0) {
        this.newCall(key, seq);
        continue;
      }
      const fields = this.fields;
      const f = (num & this.mask) * FIELDS;
      if (fields[f + COUNT] >= MESSAGES_PER_CALL) this.drop(f);
      else {
        this.ring.setLink(fields[f + LAST], seq);
        fields[f + LAST] = seq;
        fields[f + COUNT]++;
        if (fields[f + UNFOLDED] < 0) fields[f + UNFOLDED] = seq;
      }
      fields[f + CHANGED] = this.version;
    }
  }

  // A message past its call's bound, counted.
  private drop(f: number): void {
    this.fields[f + DROPPED]++;
    this.count.messagesDropped++;
  }

  private newCall(key: number, seq: number): number {
    if (this.next - this.oldest > this.mask) this.grow();
    const num = this.next++;
    const f = this.at(num);
    const fields = this.fields;
    fields[f + KEY] = key;
    fields[f + FIRST] = fields[f + LAST] = fields[f + UNFOLDED] = seq;
    fields[f + COUNT] = 1;
    fields[f + DROPPED] = fields[f + EVENTS] = fields[f + TAKEN] = 0;
    fields[f + CHANGED] = this.version;
    fields[f + FIRST_EVENT] = fields[f + LAST_EVENT] = fields[f + UNFOLDED_EVENT] = -1;
    this.ids[num & this.mask] = this.views[num & this.mask] = undefined;
    this.byKey.set(key, num);
    return num;
  }

  // The number of the live call with this Call-ID, the Call-IDs of the calls numbered since the
  // last look-up decoded first.
  private numberOf(id: string | undefined): number | undefined {
    if (id === undefined) return undefined;
    for (let num = Math.max(this.named, this.oldest); num < this.next; num++) this.byId.set(this.idOf(num), num);
    this.named = this.next;
    return this.byId.get(id);
  }

  // Call `num`'s Call-ID, decoded from its first message on first use (a live call's first
  // message is always held: the ring evicts the calls that began in what it lets go).
  private idOf(num: number): string {
    const slot = num & this.mask;
    return this.ids[slot] ??= this.privacy.callId(this.ring.callId(this.fields[this.at(num) + FIRST]));
  }

  // Where call `num`'s numbers begin in `fields`.
  private at(num: number): number {
    return (num & this.mask) * FIELDS;
  }

  private live(call: StoredCall): boolean {
    return call.num >= this.oldest && call.num < this.next;
  }

  // Twice the slots, each live call at its place in the new ones.
  private grow(): void {
    const [mask, fields, ids, views] = [this.mask, this.fields, this.ids, this.views];
    const capacity = (mask + 1) * 2;
    this.mask = capacity - 1;
    this.fields = new Float64Array(capacity * FIELDS);
    this.ids = new Array<string | undefined>(capacity).fill(undefined);
    this.views = new Array<StoredCall | undefined>(capacity).fill(undefined);
    for (let num = this.oldest; num < this.next; num++) {
      const [from, to] = [num & mask, num & this.mask];
      this.fields.set(fields.subarray(from * FIELDS, (from + 1) * FIELDS), to * FIELDS);
      this.ids[to] = ids[from];
      this.views[to] = views[from];
    }
  }

  // The ring is about to let go of everything numbered below `keep`: the calls that began there go.
  private evictBefore(keep: number): void {
    while (this.next > this.oldest && this.fields[this.at(this.oldest) + FIRST] < keep) this.evictOldest();
  }

  private evictOldest(): void {
    const num = this.oldest++;
    const slot = num & this.mask;
    this.byKey.delete(this.fields[slot * FIELDS + KEY]);
    if (num < this.named) this.byId.delete(this.ids[slot] as string);
    this.ids[slot] = undefined;
    this.views[slot] = undefined;
    this.count.callsEvicted++;
  }

  // The call's StoredCall, made when first asked for.
  private view(num: number): StoredCall {
    const slot = num & this.mask;
    return this.views[slot] ??= { id: this.idOf(num), num, count: 0, messagesDropped: 0, method: "", from: "", to: "", start: 0, last: 0,
      state: "seen", status: undefined, reason: undefined, pdd: undefined, duration: undefined, eventState: undefined, eventStatus: undefined,
      eventReason: undefined, rtp: undefined, recordings: NO_RECORDINGS };
  }

  // The call's StoredCall with the messages not yet folded into it folded in.
  private current(num: number): StoredCall {
    const call = this.view(num);
    const f = this.at(num);
    const fields = this.fields;
    const [first, last] = [fields[f + FIRST], fields[f + LAST]];
    for (let seq = fields[f + UNFOLDED]; seq >= 0; seq = seq === last ? -1 : this.ring.link(seq)) {
      const m = this.ring.message(seq);
      const time = timeOf(m);
      if (seq === first) {
        call.method = m.isRequest ? m.method : m.cseqMethod;
        call.from = this.privacy.text(m.from);
        call.to = this.privacy.text(m.to);
        call.start = time;
      }
      call.last = Math.max(call.last, time);
      followState(call, m);
    }
    fields[f + UNFOLDED] = -1;
    const lastEvent = fields[f + LAST_EVENT];
    for (let seq = fields[f + UNFOLDED_EVENT]; seq >= 0; seq = seq === lastEvent ? -1 : this.ring.link(seq)) {
      foldEvent(call, JSON.parse(this.ring.text(seq)) as SipEvent);
    }
    fields[f + UNFOLDED_EVENT] = -1;
    call.count = fields[f + COUNT];
    call.messagesDropped = fields[f + DROPPED];
    if (call.eventState !== undefined) call.state = call.eventState;
    if (call.eventStatus !== undefined) [call.status, call.reason] = [call.eventStatus, call.eventReason];
    return call;
  }

  // The event at `seq` linked to call `num`: every event of a call is, so that reading the call
  // folds in all that they say; eventsOf shows the first EVENTS_PER_CALL.
  private linkEvent(num: number, seq: number): void {
    const f = this.at(num);
    const fields = this.fields;
    if (fields[f + EVENTS] === 0) fields[f + FIRST_EVENT] = seq;
    else this.ring.setLink(fields[f + LAST_EVENT], seq);
    fields[f + LAST_EVENT] = seq;
    fields[f + EVENTS]++;
    if (fields[f + UNFOLDED_EVENT] < 0) fields[f + UNFOLDED_EVENT] = seq;
    fields[f + CHANGED] = ++this.version;
  }

  private applyBinding(type: string | undefined, binding: Registration): void {
    const key = `${binding.aor}\n${binding.contact}`;
    if (type !== "reg-new") {
      this.registrations.delete(key);
      return;
    }
    if (!this.registrations.has(key) && this.registrations.size >= REGISTRATIONS_HELD) {
      this.registrations.delete(this.registrations.keys().next().value as string);
      this.count.registrationsEvicted++;
    }
    this.registrations.set(key, binding);
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

// What an event says of its call (states, PDD, duration, RTP, recordings), kept in its StoredCall.
function foldEvent(call: StoredCall, event: SipEvent): void {
  const sip = event.sip;
  const type = event.event.type;
  if (sip?.pdd !== undefined) call.pdd = sip.pdd;
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
function recordingPaths(recording: RecordingRef | undefined): readonly string[] {
  if (recording === undefined) return NO_RECORDINGS;
  return [recording.pcap, recording.wav].filter((p): p is string => typeof p === "string" && p !== "");
}

export function address(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}
