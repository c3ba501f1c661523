// One event as the tracker decides it, before it is an object or a line: the
// tracker fills one EventDescription per event (reused from event to event) and
// hands it on. The core renders it as a JSON line (host/core/event-lines.ts)
// where every output takes lines; eventObject() builds the SipEvent the other
// outputs read (call records, the web view, --anonymize). Both give what
// JSON.stringify(eventObject(d)) gives: test/event-lines.test.ts holds them to it.
import type { Endpoint, StreamQuality, Transport } from "../core/records";
import { problemNames } from "../core/records";
import { rtpFields } from "./media";
import { uriOf } from "./message";
import { type CallOutcome, type Correlation, type EventType, type Originator, type SipEvent, isoTime, clientOf, serverOf } from "./events";

export class EventDescription {
  type: EventType = "call-start";
  atUs = 0;
  durationNs: number | undefined;
  sequence = 0;
  observer: string | undefined;      // observer.name
  callId = "";
  from = "";                          // the whole From value: the event has its URI (uriOf)
  to = "";
  problems: number | undefined;       // PROBLEM bits
  method: string | undefined;         // sip.request.method
  status: number | undefined;         // sip.response, with reason
  reason = "";
  reasonHeader: string | undefined;
  pddUs: number | undefined;          // sip.pdd and sip.ring_time, in microseconds
  ringUs: number | undefined;
  originator: Originator | undefined;
  outcome: CallOutcome | undefined;   // sip.call, with implied, times and legs
  implied = false;
  times: [number | undefined, number | undefined, number | undefined, number | undefined] = [undefined, undefined, undefined, undefined];
  legs: Correlation | undefined;
  aor: string | undefined;            // sip.binding, with contact and expires
  contact = "";
  expires = 0;
  client!: Endpoint;
  server!: Endpoint;
  transport: Transport = "udp";
  userAgent = "";
  rtp: [StreamQuality, StreamQuality] | undefined;   // put in by the events sink (host/calls/publish.ts)

  // Back to an event with no optional member.
  clear(): this {
    this.durationNs = this.problems = this.method = this.status = this.reasonHeader = undefined;
    this.pddUs = this.ringUs = this.originator = this.outcome = this.legs = this.aor = this.rtp = undefined;
    this.implied = false;
    this.times[0] = this.times[1] = this.times[2] = this.times[3] = undefined;
    return this;
  }
}

const TIME_NAMES = ["invite", "ringing", "answer", "end"] as const;

// The event as an object, its members in the order the tracker has always built them.
export function eventObject(d: EventDescription): SipEvent {
  const event: SipEvent = {
    "@timestamp": isoTime(d.atUs),
    event: d.durationNs === undefined ? { kind: "event", type: d.type, sequence: d.sequence }
      : { kind: "event", type: d.type, duration: d.durationNs, sequence: d.sequence },
  };
  if (d.observer) event.observer = { name: d.observer };
  const sip: NonNullable<SipEvent["sip"]> = { call_id: d.callId, from: uriOf(d.from), to: uriOf(d.to) };
  if (d.problems !== undefined) sip.problems = problemNames(d.problems);
  if (d.method !== undefined) sip.request = { method: d.method };
  if (d.status !== undefined) sip.response = { status: d.status, reason: d.reason };
  if (d.reasonHeader !== undefined) sip.reason_header = d.reasonHeader;
  if (d.pddUs !== undefined) sip.pdd = d.pddUs / 1000;
  if (d.ringUs !== undefined) sip.ring_time = d.ringUs / 1000;
  if (d.originator !== undefined) sip.originator = d.originator;
  if (d.outcome !== undefined) {
    const times: Record<string, string> = {};
    for (let k = 0; k < 4; k++) {
      const us = d.times[k];
      if (us !== undefined) times[TIME_NAMES[k]] = isoTime(us);
    }
    sip.call = { outcome: d.outcome, times };
    if (d.implied) sip.call.implied = true;
    if (d.legs) sip.call.legs = d.legs;
  }
  if (d.aor !== undefined) sip.binding = { aor: d.aor, contact: d.contact, expires: d.expires };
  event.sip = sip;
  event.client = clientOf(d.client, d.transport);
  event.server = serverOf(d.server);
  if (d.userAgent) event.user_agent = { original: d.userAgent };
  if (d.rtp) event.rtp = rtpFields(d.rtp);
  return event;
}
