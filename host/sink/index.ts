// Sinks: where the results go. Each takes bytes or records, never the tracker:
// a MessageBatch (NDJSON envelopes to a file or stdout, ndjson.ts; each envelope
// one PUBLISH to an MQTT broker with a bounded queue and reconnects, mqtt.ts and
// queue.ts; each message one HEPv3 packet, hep.ts), NDJSON lines (the events,
// through the MQTT sink's writeLines), call records (PostgreSQL, postgres.ts),
// or counters (the Prometheus endpoint, metrics.ts). Every sink takes its batch
// synchronously, may ask the source to wait (backlog), closes by a deadline, and
// reports a failure as an OutputError (exit 3) naming the output and what to do.
export { allSinks, byDeadline, type EventOutput, type Failed, type LineSink, type Shortfall, type Sink } from "./sink";
export { ndjsonToFile, ndjsonToStdout, stdoutAbandoned } from "./ndjson";
export { mqttSink, type MqttOptions, type MqttSink } from "./mqtt";
export { hepSink, parseHepUrl, type HepSink } from "./hep";
export { cdrWriter, schemaSql, type CdrWriter, type Committed } from "./postgres";
export { metricsRegistry, parseListenAddress, type Health } from "./metrics";
