// Deterministic SIP workload generator, for tests and the benchmark. The pcap it writes is a pure
// function of (seed, options): every random choice comes from one seeded PRNG, timestamps from a
// fixed epoch, and no clock, environment or Math.random is read. Beside the pcap it reports the
// truth: what it put in, counted as it was written, for tests and the benchmark to check. Takes
// WorkloadOptions (workloadOptions() fills in the defaults) and a path; gives the pcap and its
// Truth. The files below it, in dependency order: options, rng, hosts, pcap, frames,
// fragments-tunnels, packets, sip-transport, sip-text, truth, simulation, then the scenarios
// (calls, registrations, options-message, noise), mix, and command-line for
// test/support/generate.mjs.

export { generateWorkload } from "./mix";
export { DEFAULT_MESSAGES, workloadOptions, type WorkloadOptions } from "./options";
export { Rng } from "./rng";
export { truthJson, type CallTruth, type RegistrationTruth, type Totals, type Truth } from "./truth";
