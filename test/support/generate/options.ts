// The generator's options: what a workload is made of (WorkloadOptions), workloadOptions() filling
// in the defaults around what a caller overrides, and the fixed capture epoch every timestamp
// counts from. Takes nothing; every other file of the generator reads these.

export interface WorkloadOptions {
  seed: number;
  /** Stop starting scenarios once this many SIP messages are planned (wins over calls). */
  messages: number | undefined;
  /** Stop starting scenarios once this many calls (INVITE dialogs) are planned. */
  calls: number | undefined;
  /** RTP packets sent in each direction of an answered call, 20 ms apart. */
  rtpPacketsPerDirection: number;
  /** Mean rate at which scenarios (calls, registrations, noise ...) start. */
  scenariosPerSecond: number;
  /** Mean call duration from answer to BYE. */
  meanCallSeconds: number;
  ipv6Share: number;
  compactHeaderShare: number;
  randomCaseShare: number;
  /** SIP over TCP instead of UDP: segments cut at random places, some out of order or sent twice. */
  tcp: boolean;
  /** IP MTU: UDP packets longer than this are sent as IPv4 or IPv6 fragments (0: never). */
  mtu: number;
  /** Every frame wrapped in a tunnel between two fixed IPv4 endpoints. */
  tunnel: "none" | "vxlan" | "gre";
  /**
   * Real media for answered calls (media.ts): G.711 audio of a known signal for the whole call,
   * impairments, RTCP, early media, re-INVITEs, multipart SDP, media servers. Left out (not false)
   * by default, so the truth of a workload without it is the same bytes as before it existed.
   */
  media?: boolean;
}

export const DEFAULT_MESSAGES = 160_000;

export function workloadOptions(overrides: Partial<WorkloadOptions>): WorkloadOptions {
  const options: WorkloadOptions = {
    seed: 1,
    messages: undefined,
    calls: undefined,
    rtpPacketsPerDirection: 10,
    scenariosPerSecond: 80,
    meanCallSeconds: 30,
    ipv6Share: 0.1,
    compactHeaderShare: 0.2,
    randomCaseShare: 0.1,
    tcp: false,
    mtu: 0,
    tunnel: "none",
    ...overrides,
  };
  if (options.messages === undefined && options.calls === undefined) options.messages = DEFAULT_MESSAGES;
  return options;
}

// Capture time zero: 2026-11-22T10:00:00Z, in microseconds.
export const EPOCH_US = Date.UTC(2026, 10, 22, 10, 0, 0) * 1000;
