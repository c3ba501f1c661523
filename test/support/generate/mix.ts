// The mix: how often each kind of scenario starts (calls, registrations, OPTIONS, MESSAGE,
// noise), and generateWorkload, which builds the world, starts scenarios at random intervals
// until enough are planned, runs the simulation to its end and closes the file. Takes
// WorkloadOptions and a path; gives the pcap at that path and its Truth.

import { openSync } from "node:fs";
import { planCall } from "./calls";
import { buildWorld } from "./hosts";
import { planArp, planDns, planPing, planTcp } from "./noise";
import { EPOCH_US, type WorkloadOptions } from "./options";
import { planMessage, planOptions } from "./options-message";
import { PcapWriter } from "./pcap";
import { planRegistration } from "./registrations";
import { Rng } from "./rng";
import { SECOND, Simulation, type Scenario } from "./simulation";
import { TcpTransport, udpTransport } from "./sip-transport";
import type { Truth } from "./truth";

type ScenarioKind = "answered" | "failed" | "cancelled" | "register" | "options" | "message" | "dns" | "tcp" | "ping" | "arp";

const SCENARIO_WEIGHTS: readonly (readonly [ScenarioKind, number])[] = [
  ["answered", 30],
  ["failed", 8],
  ["cancelled", 5],
  ["register", 14],
  ["options", 14],
  ["message", 5],
  ["dns", 8],
  ["tcp", 6],
  ["ping", 3],
  ["arp", 3],
];

function planScenario(kind: ScenarioKind, scenario: Scenario): void {
  switch (kind) {
    case "answered":
    case "failed":
    case "cancelled":
      return planCall(scenario, kind);
    case "register":
      return planRegistration(scenario);
    case "options":
      return planOptions(scenario);
    case "message":
      return planMessage(scenario);
    case "dns":
      return planDns(scenario);
    case "tcp":
      return planTcp(scenario);
    case "ping":
      return planPing(scenario);
    case "arp":
      return planArp(scenario);
  }
}

function enoughPlanned(sim: Simulation): boolean {
  const { messages, calls } = sim.options;
  if (messages !== undefined) return sim.plannedSip >= messages;
  return sim.plannedCalls >= (calls ?? 0);
}

const RANDOM_BYTES = 256 * 1024;

/** Writes the workload to pcapPath and returns what it contains. */
export function generateWorkload(options: WorkloadOptions, pcapPath: string): Truth {
  const rng = new Rng(options.seed);
  const world = buildWorld(rng.fork());
  const writer = new PcapWriter(openSync(pcapPath, "w"));
  writer.mtu = options.mtu;
  writer.tunnel = options.tunnel;
  const randomBytes = Buffer.allocUnsafe(RANDOM_BYTES);
  rng.fork().fill(randomBytes);
  const tcp = options.tcp ? new TcpTransport(rng.fork()) : undefined;
  const sim = new Simulation(writer, options, tcp ?? udpTransport, randomBytes);
  if (tcp) tcp.schedule = (atUs, run) => sim.at(atUs, run);
  const meanGapUs = SECOND / options.scenariosPerSecond;
  let startUs = 0;
  while (!enoughPlanned(sim)) {
    sim.runUntil(startUs);
    const kind = rng.weighted(SCENARIO_WEIGHTS);
    planScenario(kind, { sim, rng: rng.fork(), world, startUs });
    startUs += Math.round(rng.exponential(meanGapUs));
  }
  sim.drain();
  tcp?.finish(writer);
  writer.close();
  return {
    seed: options.seed,
    options,
    epoch: new Date(EPOCH_US / 1000).toISOString(),
    totals: sim.tally.totals(writer),
    calls: sim.calls,
    registrations: sim.registrations,
    ...(options.media === true ? { media: { streams: sim.tally.mediaStreams, rtcpPackets: sim.tally.rtcpPackets } } : {}),
  };
}
