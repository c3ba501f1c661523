// The core's boundary. Takes frames (bytes, capture time, link type) from a
// source, copies them in batches into the WebAssembly core's linear memory and
// calls push(n) once per batch; gives each batch's results to one handler as a
// read-only MessageBatch: the envelopes already rendered as NDJSON, and one
// SipMessage record per message, read in place. This folder is the only host
// code that touches linear memory or imports assembly/layout.ts (the filter's
// assembler, which writes the core's program format, is the one other).
// core.ts loads, configures and feeds the core and survives its traps;
// records.ts is what every later stage reads.
export * from "./core";
export * from "./records";
