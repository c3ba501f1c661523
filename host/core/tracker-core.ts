// The core's call tracker (--tracker core, assembly/track.ts) as the events
// sink sees it: each push's messages tracked in the core, each event handed to
// a handler while its description is at R_EVENT (read through EventLines).
import * as L from "../../assembly/layout";
import type { EventLines } from "./event-lines";

export type TrackedEventHandler = (lines: EventLines) => void;

export class CoreTracker {
  private handler: TrackedEventHandler | undefined;
  private failure: Error | undefined;

  constructor(readonly lines: EventLines, private readonly trackPush: (count: number, ends: number) => void, private readonly trackFinish: () => void,
    private readonly counter: (which: number) => number) {}

  // Tracks the batch's `count` messages (the last push's), after its `ends` media stats records
  // are held for the calls' events; `handler` gets each event as it happens.
  track(count: number, ends: number, handler: TrackedEventHandler): void {
    this.run(handler, () => this.trackPush(count, ends));
  }

  // End of input: the failures waiting out their grace, and the last counters.
  finish(handler: TrackedEventHandler): void {
    this.run(handler, this.trackFinish);
  }

  // A trap in the tracker leaves its tables half changed: it tracks nothing more, and says so once.
  get failed(): Error | undefined {
    return this.failure;
  }

  // host/calls/tracker.ts TrackerCounters, in its order.
  counters(): Record<string, number> {
    const counters: Record<string, number> = {};
    L.TRACKER_COUNTER_NAMES.forEach((name, i) => { counters[name] = this.counter(i); });
    return counters;
  }

  // Strings an entry could not keep because the text arena was full (its events then lack them).
  get textLost(): number {
    return this.counter(L.TC_TEXT_LOST);
  }

  // Called by the core (the imported trackerEvent) for each event.
  onEvent(): void {
    this.handler?.(this.lines);
  }

  private run(handler: TrackedEventHandler, step: () => void): void {
    if (this.failure !== undefined) return;
    this.handler = handler;
    try {
      step();
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
    } finally {
      this.handler = undefined;
    }
  }
}
