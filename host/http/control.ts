// What the guarded control surface can change at run time, as structural
// interfaces: the event-type blocklist (host/calls/ratelimit.ts EventGate), a
// live capture's BPF (host/source/live.ts), and per-address recording (the
// media recorder, when the run has one). The command line wires the real ones;
// an absent one is answered 501 with what to start the run with.

export interface Recordings {
  start(address: string): void;
  stop(address: string): boolean;
  active(): { address: string; since: string; calls: number }[];
}

export interface Blocklist {
  types(): readonly string[];          // every event type there is
  blocked(): string[];
  block(type: string): void;            // throws an Error naming the types for an unknown one
  unblock(type: string): void;
}

export interface CaptureFilter {
  filter(): string;
  setFilter(expression: string): void;  // throws an Error with libpcap's reason for a bad one
}

// Filled in as the run's parts come to exist: the blocklist when the outputs
// open, the capture filter once the interfaces are open.
export interface Controls {
  blocklist?: Blocklist;
  capture?: CaptureFilter;
  recordings?: Recordings;
}
