// What stands between the tracker and the outputs: the event-type blocklist
// (--no-events, changed at run time through the web view's control) and the per (event type, source IP) rate limits over three
// fixed windows of capture time (--event-rate), with what each suppressed.
import { EVENT_TYPES, type EventType, type SipEvent, parseIsoTime } from "./events";
import { boundedNumber } from "../bounds";
import { UsageError } from "../exits";
import { BoundedMap } from "./bounded";

export interface RateLimits {
  perSecond: number;  // 0: no limit in that window
  perMinute: number;
  perHour: number;
}

// The types a source can provoke at will; calls and bindings are accounting and never limited.
export const LIMITED_TYPES: ReadonlySet<EventType> = new Set(["parse-error", "msg-probe", "auth-failed", "other-ok", "other-failed", "other-timeout"]);
const KEYS_HELD = 65536;
const WINDOWS_US = [1_000_000, 60_000_000, 3_600_000_000];

interface Windows {
  start: number[];  // window index (time / length) of each count
  count: number[];
}

export class EventGate {
  readonly blockedCounts = new Map<EventType, number>();
  readonly suppressedCounts = new Map<EventType, number>();
  private readonly keys = new BoundedMap<string, Windows>(KEYS_HELD);
  private readonly limits: number[];
  private readonly unlimited: boolean;
  private readonly blocked: Set<EventType>;

  constructor(blocked: ReadonlySet<EventType>, limits: RateLimits) {
    this.blocked = new Set(blocked);
    this.limits = [limits.perSecond, limits.perMinute, limits.perHour];
    this.unlimited = this.limits.every((l) => l === 0);
  }

  blockedTypes(): EventType[] {
    return [...this.blocked];
  }

  // At run time: from the next event on. An unknown name throws, naming the types.
  block(type: string): void {
    this.blocked.add(eventType(type, "block"));
  }

  unblock(type: string): void {
    this.blocked.delete(eventType(type, "unblock"));
  }

  // `timeUs`: the event's @timestamp as a number, when the caller has it (the tracker does).
  pass(event: SipEvent, timeUs?: number): boolean {
    return this.passes(event.event.type, event.client?.ip ?? "", timeUs ?? parseIsoTime(event["@timestamp"]));
  }

  // The same for an event not built as an object: its type, its client's address (a string, or
  // read only when the type is rate-limited) and its time.
  passes(type: EventType, clientIp: string | (() => string), timeUs: number): boolean {
    if (this.blocked.has(type)) {
      this.blockedCounts.set(type, (this.blockedCounts.get(type) ?? 0) + 1);
      return false;
    }
    if (this.unlimited || !LIMITED_TYPES.has(type)) return true;
    const ip = typeof clientIp === "string" ? clientIp : clientIp();
    if (this.withinLimits(`${type}\n${ip}`, timeUs)) return true;
    this.suppressedCounts.set(type, (this.suppressedCounts.get(type) ?? 0) + 1);
    return false;
  }

  private withinLimits(key: string, timeUs: number): boolean {
    let windows = this.keys.get(key);
    if (windows === undefined) {
      windows = { start: [-1, -1, -1], count: [0, 0, 0] };
      this.keys.add(key, windows);
    }
    for (let w = 0; w < 3; w++) {
      const index = Math.floor(timeUs / WINDOWS_US[w]);
      if (index > windows.start[w]) {
        windows.start[w] = index;
        windows.count[w] = 0;
      }
    }
    for (let w = 0; w < 3; w++) if (this.limits[w] > 0 && windows.count[w] >= this.limits[w]) return false;
    for (let w = 0; w < 3; w++) windows.count[w]++;
    return true;
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [type, n] of this.blockedCounts) out[`blocked_${type}`] = n;
    for (const [type, n] of this.suppressedCounts) out[`suppressed_${type}`] = n;
    out.rate_keys_evicted = this.keys.evicted;
    return out;
  }

  get suppressed(): number {
    let total = 0;
    for (const n of this.suppressedCounts.values()) total += n;
    return total;
  }

  get blockedTotal(): number {
    let total = 0;
    for (const n of this.blockedCounts.values()) total += n;
    return total;
  }
}

// "msg-probe,other-ok" -> the set, refusing names that are not event types.
export function parseBlocklist(text: string): Set<EventType> {
  const names = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  return new Set(names.map((name) => eventType(name, "--no-events")));
}

function eventType(name: string, where: string): EventType {
  if (!(EVENT_TYPES as readonly string[]).includes(name)) {
    throw new Error(`${where}: '${name}' is not an event type; one of ${EVENT_TYPES.join(", ")}`);
  }
  return name as EventType;
}

// "20,300,3000": per second, per minute, per hour; 0 lifts that window's limit.
// Each window's limit: 0 lifts it; the bound keeps a typo from meaning "no limit" by overflow.
const RATE_WINDOWS = ["per second", "per minute", "per hour"] as const;
const RATE_MAX = 1_000_000;

export function parseRate(text: string): RateLimits {
  const parts = text.split(",").map((s) => s.trim());
  if (parts.length !== 3) {
    throw new UsageError(`--event-rate: '${text}' is not three integers PER_SECOND,PER_MINUTE,PER_HOUR (0 for no limit), e.g. 20,300,3000`);
  }
  const [perSecond, perMinute, perHour] = parts.map((part, i) =>
    boundedNumber(part, { type: "integer", min: 0, max: RATE_MAX, unit: `events ${RATE_WINDOWS[i]}, 0 for no limit` }, `--event-rate ${RATE_WINDOWS[i]}`));
  return { perSecond, perMinute, perHour };
}
