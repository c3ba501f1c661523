// Call events rendered by the core (assembly/events.ts): the tracker's
// EventDescription written into the core's R_EVENT region, rendered as one JSON
// line into R_EVENT_OUT, read from there by the outputs. One EventLines per core
// instance; a batch hands out its instance's (MessageBatch.eventLines).
import * as L from "../../assembly/layout";

// What the renderer reads of an event (host/calls/description.ts's EventDescription; the
// names are docs/events.md's): defined here, in plain types, so that this file imports neither
// the tracker nor records.ts (which hands an EventLines out with each batch).
export interface DescribedEvent {
  readonly type: string;
  readonly atUs: number;
  readonly durationNs: number | undefined;
  readonly sequence: number;
  readonly observer: string | undefined;
  readonly callId: string;
  // The Call-ID's key as its messages' records have it (SipMessage.callKey), where the core's tracker described the event.
  readonly callKey?: number;
  readonly from: string;              // the whole From and To values: the core finds their URIs
  readonly to: string;
  readonly problems: number | undefined;
  readonly method: string | undefined;
  readonly status: number | undefined;
  readonly reason: string;
  readonly reasonHeader: string | undefined;
  readonly pddUs: number | undefined;
  readonly ringUs: number | undefined;
  readonly originator: string | undefined;
  readonly outcome: string | undefined;
  readonly implied: boolean;
  readonly times: readonly (number | undefined)[];
  readonly legs: { readonly x_cid?: string; readonly session_id?: string; readonly p_charging_vector?: string } | undefined;
  readonly aor: string | undefined;
  readonly contact: string;
  readonly expires: number;
  readonly client: { readonly ip: string; readonly port: number };
  readonly server: { readonly ip: string; readonly port: number };
  readonly transport: "udp" | "tcp" | "ws";
  readonly userAgent: string;
  // rtp.from_offerer and rtp.from_answerer, as host/core/records.ts's StreamQuality has them.
  readonly rtp: readonly [RtpStream, RtpStream] | undefined;
}

export interface RtpStream {
  readonly packets: number;
  readonly expected: number;
  readonly lost: number;
  readonly jitterMs: number;
  readonly maxJitterMs: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  readonly ssrcChanges: number;
  readonly codec: string;
  readonly rtcpReports: number;
  readonly rtcpFractionLost: number;
  readonly rtcpLost: number;
  readonly rtcpJitterMs: number;
}

const TYPE_INDEX = new Map(L.EVENT_TYPE_NAMES.map((name, i) => [name, i]));
const ORIGINATOR_INDEX = new Map(L.ORIGINATOR_NAMES.map((name, i) => [name, i]));
const OUTCOME_INDEX = new Map(L.OUTCOME_NAMES.map((name, i) => [name, i]));
const LEG_CODE = new Map(L.LEG_NAMES.map((name, i) => [name, i + 1]));
const TRANSPORT_CODE: Record<DescribedEvent["transport"], number> = { udp: L.TRANSPORT_UDP, tcp: L.TRANSPORT_TCP, ws: L.TRANSPORT_WS };

export class EventLines {
  private readonly bytes: Buffer;
  private readonly view: DataView;
  private readonly values: (string | undefined)[] = new Array<string | undefined>(L.EV_SLOT_COUNT).fill(undefined);
  start = 0;          // the last line rendered, in `memory`
  end = 0;
  // Where append*() renders the next line in R_EVENT_OUT: the lines before it stay there for the
  // outputs until rewind(), which their owner calls once every output has flushed.
  appended = 0;

  constructor(memory: ArrayBuffer, private readonly event: number, private readonly out: number,
    private readonly renderAt: (at: number) => number) {
    this.bytes = Buffer.from(memory);
    this.view = new DataView(memory);
  }

  // The core's memory, where the last line is (start to end, newline included).
  get memory(): Buffer {
    return this.bytes;
  }

  // Describes the event at R_EVENT and renders its line after the lines appended before it;
  // false when the core cannot render it as JSON.stringify would (a number past 2^53, text larger
  // than the region: the caller builds the object), or when it does not fit after them.
  append(d: DescribedEvent): boolean {
    return this.describe(d) && this.appendLine();
  }

  // Half of R_EVENT_OUT holds appended lines: time to flush the outputs and rewind().
  get crowded(): boolean {
    return this.appended > L.EVENT_OUT_BYTES / 2;
  }

  // The appended lines are no longer read: the next is rendered at the region's start.
  rewind(): void {
    this.appended = 0;
  }

  // The line of the description at R_EVENT rendered in R_EVENT_OUT after those appended before it.
  private appendLine(): boolean {
    const length = this.renderAt(this.appended);
    if (length === 0) return false;
    this.start = this.out + this.appended;
    this.end = this.start + length;
    this.appended += length;
    return true;
  }

  // The event written at R_EVENT as the core's tracker describes one.
  private describe(d: DescribedEvent): boolean {
    const type = TYPE_INDEX.get(d.type);
    if (type === undefined) return false;
    if (!this.strings(d)) return false;
    const at = this.event;
    const v = this.view;
    let flags = 0;
    v.setUint32(at + L.EV_TYPE, type, true);
    v.setFloat64(at + L.EV_AT_US, d.atUs, true);
    v.setFloat64(at + L.EV_SEQUENCE, d.sequence, true);
    v.setFloat64(at + L.EV_DURATION, d.durationNs ?? 0, true);
    if (d.durationNs !== undefined) flags |= L.EVF_DURATION;
    if (d.method !== undefined) flags |= L.EVF_REQUEST;
    v.setUint32(at + L.EV_STATUS, d.status ?? 0, true);
    if (d.status !== undefined) flags |= L.EVF_RESPONSE;
    v.setFloat64(at + L.EV_PDD, d.pddUs ?? 0, true);
    if (d.pddUs !== undefined) flags |= L.EVF_PDD;
    v.setFloat64(at + L.EV_RING_TIME, d.ringUs ?? 0, true);
    if (d.ringUs !== undefined) flags |= L.EVF_RING_TIME;
    v.setUint32(at + L.EV_ORIGINATOR, d.originator === undefined ? 0 : ORIGINATOR_INDEX.get(d.originator) ?? 0, true);
    if (d.originator !== undefined) flags |= L.EVF_ORIGINATOR;
    v.setUint32(at + L.EV_OUTCOME, d.outcome === undefined ? 0 : OUTCOME_INDEX.get(d.outcome) ?? 0, true);
    if (d.outcome !== undefined) flags |= L.EVF_CALL | (d.implied ? L.EVF_IMPLIED : 0) | this.times(d);
    v.setFloat64(at + L.EV_EXPIRES, d.aor === undefined ? 0 : d.expires, true);
    if (d.aor !== undefined) flags |= L.EVF_BINDING;
    v.setUint32(at + L.EV_PROBLEMS, d.problems ?? 0, true);
    if (d.problems !== undefined) flags |= L.EVF_PROBLEMS;
    v.setUint32(at + L.EV_CLIENT_PORT, d.client.port, true);
    v.setUint32(at + L.EV_SERVER_PORT, d.server.port, true);
    v.setUint32(at + L.EV_TRANSPORT, TRANSPORT_CODE[d.transport], true);
    if (d.rtp !== undefined) {
      this.stream(0, d.rtp[0]);
      this.stream(1, d.rtp[1]);
      flags |= L.EVF_RTP;
    }
    v.setUint32(at + L.EV_FLAGS, flags, true);
    return true;
  }

  // ---- an event the core's tracker described at R_EVENT (assembly/track.ts) ----

  get describedType(): string {
    return L.EVENT_TYPE_NAMES[this.view.getUint32(this.event + L.EV_TYPE, true)] ?? "";
  }

  get describedAtUs(): number {
    return this.view.getFloat64(this.event + L.EV_AT_US, true);
  }

  get describedSequence(): number {
    return this.view.getFloat64(this.event + L.EV_SEQUENCE, true);
  }

  // A string of the description; undefined when absent.
  describedText(slot: number): string | undefined {
    const at = this.event + L.EV_SLOTS + 8 * slot;
    const length = this.view.getUint32(at + 4, true);
    if (length === L.EV_ABSENT) return undefined;
    const offset = this.event + this.view.getUint32(at, true);
    return this.bytes.toString("utf8", offset, offset + length);
  }

  get describedCallId(): string {
    return this.describedText(L.EVS_CALL_ID) ?? "";
  }

  get describedAor(): string | undefined {
    return (this.view.getUint32(this.event + L.EV_FLAGS, true) & L.EVF_BINDING) === 0 ? undefined : this.describedText(L.EVS_AOR) ?? "";
  }

  get describedClientIp(): string {
    return this.describedText(L.EVS_CLIENT_IP) ?? "";
  }

  get describedClientPort(): number {
    return this.view.getUint32(this.event + L.EV_CLIENT_PORT, true);
  }

  get describedExpires(): number {
    return this.view.getFloat64(this.event + L.EV_EXPIRES, true);
  }

  get describedCallKey(): number {
    return this.view.getFloat64(this.event + L.EV_CALL_KEY, true);
  }

  // The description at R_EVENT as it is (the core's tracker wrote it) rendered as append() does.
  appendDescribed(): boolean {
    return this.appendLine();
  }

  // The description read back, for outputs that take objects (eventObject of host/calls/description.ts).
  described(): DescribedEvent {
    const v = this.view;
    const at = this.event;
    const flags = v.getUint32(at + L.EV_FLAGS, true);
    const has = (flag: number): boolean => (flags & flag) !== 0;
    const f64 = (offset: number): number => v.getFloat64(at + offset, true);
    const times: (number | undefined)[] = [];
    for (let k = 0; k < 4; k++) times.push(has(L.EVF_TIME_INVITE << k) ? f64(L.EV_TIMES + 8 * k) : undefined);
    const transport = v.getUint32(at + L.EV_TRANSPORT, true);
    return {
      type: this.describedType,
      atUs: f64(L.EV_AT_US),
      durationNs: has(L.EVF_DURATION) ? f64(L.EV_DURATION) : undefined,
      sequence: f64(L.EV_SEQUENCE),
      observer: this.describedText(L.EVS_OBSERVER),
      callId: this.describedCallId,
      from: this.describedText(L.EVS_FROM) ?? "",
      to: this.describedText(L.EVS_TO) ?? "",
      problems: has(L.EVF_PROBLEMS) ? v.getUint32(at + L.EV_PROBLEMS, true) : undefined,
      method: has(L.EVF_REQUEST) ? this.describedText(L.EVS_METHOD) : undefined,
      status: has(L.EVF_RESPONSE) ? v.getUint32(at + L.EV_STATUS, true) : undefined,
      reason: this.describedText(L.EVS_REASON) ?? "",
      reasonHeader: this.describedText(L.EVS_REASON_HEADER),
      pddUs: has(L.EVF_PDD) ? f64(L.EV_PDD) : undefined,
      ringUs: has(L.EVF_RING_TIME) ? f64(L.EV_RING_TIME) : undefined,
      originator: has(L.EVF_ORIGINATOR) ? L.ORIGINATOR_NAMES[v.getUint32(at + L.EV_ORIGINATOR, true)] : undefined,
      outcome: has(L.EVF_CALL) ? L.OUTCOME_NAMES[v.getUint32(at + L.EV_OUTCOME, true)] : undefined,
      implied: has(L.EVF_IMPLIED),
      times,
      legs: this.describedLegs(v.getUint32(at + L.EV_LEGS, true)),
      aor: this.describedAor,
      contact: this.describedText(L.EVS_CONTACT) ?? "",
      expires: this.describedExpires,
      client: { ip: this.describedClientIp, port: this.describedClientPort },
      server: { ip: this.describedText(L.EVS_SERVER_IP) ?? "", port: v.getUint32(at + L.EV_SERVER_PORT, true) },
      transport: transport === L.TRANSPORT_TCP ? "tcp" : transport === L.TRANSPORT_WS ? "ws" : "udp",
      userAgent: this.describedText(L.EVS_USER_AGENT) ?? "",
      rtp: has(L.EVF_RTP) ? [this.describedStream(0), this.describedStream(1)] : undefined,
    };
  }

  // Direction k of the rtp member, its milliseconds from the thousandths (rounded to three places
  // again, they are what they were).
  private describedStream(k: number): RtpStream {
    const at = this.event + L.EV_RTP + k * L.EV_RTP_SIZE;
    const f64 = (offset: number): number => this.view.getFloat64(at + offset, true);
    return {
      packets: f64(L.EVR_PACKETS), expected: f64(L.EVR_EXPECTED), lost: f64(L.EVR_LOST), jitterMs: f64(L.EVR_JITTER) / 1000,
      maxJitterMs: f64(L.EVR_MAX_JITTER) / 1000, duplicates: f64(L.EVR_DUPLICATES), outOfOrder: f64(L.EVR_OUT_OF_ORDER),
      ssrcChanges: f64(L.EVR_SSRC_CHANGES), codec: this.describedText(L.EVS_CODEC + k) ?? "", rtcpReports: f64(L.EVR_RTCP_REPORTS),
      rtcpFractionLost: f64(L.EVR_RTCP_FRACTION_LOST) / 1000, rtcpLost: f64(L.EVR_RTCP_LOST), rtcpJitterMs: f64(L.EVR_RTCP_JITTER) / 1000,
    };
  }

  private describedLegs(codes: number): DescribedEvent["legs"] {
    if (codes === 0) return undefined;
    const legs: Record<string, string> = {};
    for (let k = 0; k < 3 && ((codes >> (2 * k)) & 3) !== 0; k++) {
      legs[L.LEG_NAMES[((codes >> (2 * k)) & 3) - 1]] = this.describedText(L.EVS_LEG + k) ?? "";
    }
    return legs;
  }

  // The event has the milliseconds rounded to three places (Math.round(x * 1000) / 1000): the
  // core writes the thousandths, which is the same text.
  private stream(k: number, s: RtpStream): void {
    const at = this.event + L.EV_RTP + k * L.EV_RTP_SIZE;
    const v = this.view;
    v.setFloat64(at + L.EVR_PACKETS, s.packets, true);
    v.setFloat64(at + L.EVR_EXPECTED, s.expected, true);
    v.setFloat64(at + L.EVR_LOST, s.lost, true);
    v.setFloat64(at + L.EVR_JITTER, Math.round(s.jitterMs * 1000), true);
    v.setFloat64(at + L.EVR_MAX_JITTER, Math.round(s.maxJitterMs * 1000), true);
    v.setFloat64(at + L.EVR_DUPLICATES, s.duplicates, true);
    v.setFloat64(at + L.EVR_OUT_OF_ORDER, s.outOfOrder, true);
    v.setFloat64(at + L.EVR_SSRC_CHANGES, s.ssrcChanges, true);
    v.setFloat64(at + L.EVR_RTCP_REPORTS, s.rtcpReports, true);
    v.setFloat64(at + L.EVR_RTCP_FRACTION_LOST, Math.round(s.rtcpFractionLost * 1000), true);
    v.setFloat64(at + L.EVR_RTCP_LOST, s.rtcpLost, true);
    v.setFloat64(at + L.EVR_RTCP_JITTER, Math.round(s.rtcpJitterMs * 1000), true);
  }

  private times(d: DescribedEvent): number {
    let flags = 0;
    for (let k = 0; k < 4; k++) {
      const us = d.times[k];
      this.view.setFloat64(this.event + L.EV_TIMES + 8 * k, us ?? 0, true);
      if (us !== undefined) flags |= L.EVF_TIME_INVITE << k;
    }
    return flags;
  }

  // Every string of the event into the text area, each named by its slot; false when they do not fit.
  private strings(d: DescribedEvent): boolean {
    const values = this.values;
    const legs = d.outcome === undefined ? undefined : d.legs;
    let legCodes = 0;
    let leg = 0;
    if (legs !== undefined) {
      for (const name in legs) {
        legCodes |= (LEG_CODE.get(name) ?? 0) << (2 * leg);
        values[L.EVS_LEG + leg++] = legs[name as keyof typeof legs];
      }
      if (leg === 0) return false; // an empty legs object: JSON.stringify writes it, the core would not
    }
    for (; leg < 3; leg++) values[L.EVS_LEG + leg] = undefined;
    this.view.setUint32(this.event + L.EV_LEGS, legCodes, true);
    values[L.EVS_CALL_ID] = d.callId;
    values[L.EVS_FROM] = d.from;
    values[L.EVS_TO] = d.to;
    values[L.EVS_METHOD] = d.method;
    values[L.EVS_REASON] = d.status === undefined ? undefined : d.reason;
    values[L.EVS_REASON_HEADER] = d.reasonHeader;
    values[L.EVS_CLIENT_IP] = d.client.ip;
    values[L.EVS_SERVER_IP] = d.server.ip;
    values[L.EVS_USER_AGENT] = d.userAgent || undefined;
    values[L.EVS_OBSERVER] = d.observer || undefined;
    values[L.EVS_AOR] = d.aor;
    values[L.EVS_CONTACT] = d.aor === undefined ? undefined : d.contact;
    values[L.EVS_CODEC] = d.rtp?.[0].codec;
    values[L.EVS_CODEC + 1] = d.rtp?.[1].codec;
    return this.writeAll(values) || this.writeEach(values);
  }

  // The values joined and encoded in one call: where all of them are ASCII (nearly every event),
  // each one's bytes are its UTF-16 units, so its place follows from the lengths.
  private writeAll(values: (string | undefined)[]): boolean {
    let joined = "";
    for (const value of values) if (value !== undefined) joined += value;
    if (L.EV_TEXT + joined.length * 3 > L.EVENT_BYTES) return false;
    if (this.bytes.write(joined, this.event + L.EV_TEXT, "utf8") !== joined.length) return false;
    let at = L.EV_TEXT;
    for (let slot = 0; slot < values.length; slot++) {
      const value = values[slot];
      this.place(slot, at, value === undefined ? L.EV_ABSENT : value.length);
      if (value !== undefined) at += value.length;
    }
    return true;
  }

  private writeEach(values: (string | undefined)[]): boolean {
    let at = L.EV_TEXT;
    for (let slot = 0; slot < values.length; slot++) {
      const value = values[slot];
      if (value === undefined) {
        this.place(slot, at, L.EV_ABSENT);
        continue;
      }
      // At most three bytes of UTF-8 per UTF-16 unit.
      if (at + value.length * 3 > L.EVENT_BYTES) return false;
      const length = value.length === 0 ? 0 : this.bytes.write(value, this.event + at, "utf8");
      this.place(slot, at, length);
      at += length;
    }
    return true;
  }

  private place(slot: number, offset: number, length: number): void {
    this.view.setUint32(this.event + L.EV_SLOTS + 8 * slot, offset, true);
    this.view.setUint32(this.event + L.EV_SLOTS + 8 * slot + 4, length, true);
  }
}

// The description at R_EVENT as a DescribedEvent: the type, time and Call-ID read when asked
// for, the rest read whole when one of it first is and then kept until next(); one object for
// a run, valid while its event is at R_EVENT.
export class DescribedView implements DescribedEvent {
  private read: DescribedEvent | undefined;

  constructor(private readonly lines: EventLines) {}

  next(): this {
    this.read = undefined;
    return this;
  }

  private get d(): DescribedEvent {
    return this.read ??= this.lines.described();
  }

  // What the web view's store reads of each event (and of a binding's), read alone; the rest through one decode.
  get type(): string { return this.lines.describedType; }
  get atUs(): number { return this.lines.describedAtUs; }
  get durationNs(): number | undefined { return this.d.durationNs; }
  get sequence(): number { return this.d.sequence; }
  get observer(): string | undefined { return this.d.observer; }
  get callId(): string { return this.lines.describedCallId; }
  get callKey(): number { return this.lines.describedCallKey; }
  get from(): string { return this.d.from; }
  get to(): string { return this.d.to; }
  get problems(): number | undefined { return this.d.problems; }
  get method(): string | undefined { return this.d.method; }
  get status(): number | undefined { return this.d.status; }
  get reason(): string { return this.d.reason; }
  get reasonHeader(): string | undefined { return this.d.reasonHeader; }
  get pddUs(): number | undefined { return this.d.pddUs; }
  get ringUs(): number | undefined { return this.d.ringUs; }
  get originator(): string | undefined { return this.d.originator; }
  get outcome(): string | undefined { return this.d.outcome; }
  get implied(): boolean { return this.d.implied; }
  get times(): readonly (number | undefined)[] { return this.d.times; }
  get legs(): DescribedEvent["legs"] { return this.d.legs; }
  get aor(): string | undefined { return this.lines.describedAor; }
  get contact(): string { return this.lines.describedText(L.EVS_CONTACT) ?? ""; }
  get expires(): number { return this.lines.describedExpires; }
  get client(): DescribedEvent["client"] { return { ip: this.lines.describedClientIp, port: this.lines.describedClientPort }; }
  get server(): DescribedEvent["server"] { return this.d.server; }
  get transport(): DescribedEvent["transport"] { return this.d.transport; }
  get userAgent(): string { return this.lines.describedText(L.EVS_USER_AGENT) ?? ""; }
  get rtp(): DescribedEvent["rtp"] { return this.d.rtp; }
}
