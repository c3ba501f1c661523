// The simulation: scenarios schedule steps (a SIP message, a noise packet, a series of RTP
// packets) at capture times; Simulation runs them in time order, ties in scheduling order,
// rendering each SIP message only when it is written and tallying it. Also the helpers every
// scenario shares (pick a family, send a request, respond). Takes a writer, options, a SIP
// transport and seeded random bytes; gives the frames in order and the truth's tally.

import type { Endpoint, Flow } from "./frames";
import type { Family, Host, User, World } from "./hosts";
import type { WorkloadOptions } from "./options";
import type { PcapWriter } from "./pcap";
import type { Rng } from "./rng";
import { hostPort, pickStyle, renderRequest, renderResponse, type HeaderStyle, type SipRequest, type SipResponse } from "./sip-text";
import type { SipTransport } from "./sip-transport";
import { Tally, type CallTruth, type RegistrationTruth, type SipKind } from "./truth";

interface Step {
  atUs: number;
  order: number;
  run: () => void;
}

/** Binary min-heap of steps by time, ties broken by scheduling order so output is stable. */
class StepQueue {
  private readonly heap: Step[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** Time of the earliest step; call only when size > 0. */
  peekTime(): number {
    return this.heap[0]?.atUs ?? Infinity;
  }

  push(step: Step): void {
    const heap = this.heap;
    heap.push(step);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(step, heap[parent] as Step)) break;
      heap[index] = heap[parent] as Step;
      index = parent;
    }
    heap[index] = step;
  }

  pop(): Step | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right] as Step, heap[left] as Step) ? right : left;
      if (!before(heap[child] as Step, last)) break;
      heap[index] = heap[child] as Step;
      index = child;
    }
    heap[index] = last;
    return top;
  }
}

function before(a: Step, b: Step): boolean {
  return a.atUs < b.atUs || (a.atUs === b.atUs && a.order < b.order);
}

const utf8 = new TextEncoder(); // encodeInto is faster here than Buffer#write

/** Runs scheduled steps in time order, writing their frames. Scenarios schedule; nothing else writes. */
export class Simulation {
  plannedSip = 0;
  plannedCalls = 0;
  readonly tally = new Tally();
  readonly calls: CallTruth[] = [];
  readonly registrations: RegistrationTruth[] = [];
  private readonly queue = new StepQueue();
  private order = 0;
  private readonly encoded = Buffer.allocUnsafe(64 * 1024);

  constructor(
    readonly writer: PcapWriter,
    readonly options: WorkloadOptions,
    readonly transport: SipTransport,
    /** Seeded random bytes that media and TCP payloads are cut from: far cheaper than drawing each byte. */
    readonly randomBytes: Buffer,
  ) {}

  /** A slice of randomBytes of the given length at a random place. */
  randomPayload(rng: Rng, length: number): Buffer {
    const start = rng.below(this.randomBytes.byteLength - length + 1);
    return this.randomBytes.subarray(start, start + length);
  }

  /** Fills target from offset to its end with random bytes, without allocating a view. */
  copyRandomBytes(rng: Rng, target: Buffer, offset: number): void {
    const length = target.byteLength - offset;
    const start = rng.below(this.randomBytes.byteLength - length + 1);
    this.randomBytes.copy(target, offset, start, start + length);
  }

  at(atUs: number, run: () => void): void {
    this.queue.push({ atUs: Math.round(atUs), order: this.order++, run });
  }

  /** Schedules one SIP message; its text is rendered when it is written, to keep memory flat. */
  sip(atUs: number, flow: Flow, kind: SipKind, render: () => string): void {
    this.plannedSip++;
    this.at(atUs, () => {
      const text = render();
      const { read, written } = utf8.encodeInto(text, this.encoded);
      if (read < text.length) throw new Error("SIP message too large for the encoding buffer");
      this.transport.write(this.writer, Math.round(atUs), flow, this.encoded.subarray(0, written));
      this.tally.sip(kind, this.transport.name, flow);
    });
  }

  noise(atUs: number, write: (out: PcapWriter, timeUs: number) => void): void {
    this.at(atUs, () => {
      write(this.writer, Math.round(atUs));
      this.tally.noisePackets++;
    });
  }

  /**
   * Schedules count packets at timeOf(0), timeOf(1) ...; a stream holds a single pending step
   * that reschedules itself, rather than one per packet.
   */
  series(count: number, timeOf: (index: number) => number, write: (out: PcapWriter, timeUs: number, index: number) => void): void {
    if (count <= 0) return;
    let index = 0;
    const step: Step = {
      atUs: Math.round(timeOf(0)),
      order: this.order++,
      run: () => {
        write(this.writer, step.atUs, index);
        this.tally.rtpPackets++;
        if (++index === count) return;
        step.atUs = Math.round(timeOf(index));
        step.order = this.order++;
        this.queue.push(step);
      },
    };
    this.queue.push(step);
  }

  runUntil(timeUs: number): void {
    while (this.queue.size > 0 && this.queue.peekTime() <= timeUs) this.queue.pop()?.run();
  }

  drain(): void {
    while (this.queue.size > 0) this.queue.pop()?.run();
  }
}

export interface Scenario {
  sim: Simulation;
  rng: Rng;
  world: World;
  startUs: number;
}

export const MS = 1000;
export const SECOND = 1_000_000;

export function pickFamily(scenario: Scenario): Family {
  return scenario.rng.chance(scenario.sim.options.ipv6Share) ? scenario.world.ipv6 : scenario.world.ipv4;
}

export function sipEndpoint(host: Host): Endpoint {
  return { host, port: host.sipPort };
}

export function style(scenario: Scenario): HeaderStyle {
  return pickStyle(scenario.rng, scenario.sim.options);
}

export function userUri(user: User): string {
  return `sip:${user.name}@${user.domain}`;
}

export function contactUri(user: User, endpoint: Endpoint): string {
  return `sip:${user.name}@${hostPort(endpoint)}`;
}

export function respond(scenario: Scenario, atUs: number, request: SipRequest, response: SipResponse, flow: Flow): void {
  scenario.sim.sip(atUs, flow, { status: response.status }, () => renderResponse(request, response, style(scenario), scenario.rng));
}

export function send(scenario: Scenario, atUs: number, request: SipRequest, flow: Flow): void {
  scenario.sim.sip(atUs, flow, { request: request.method }, () => renderRequest(request, style(scenario), scenario.rng));
}
