// Calls: what the messages mean together. Takes each batch's SipMessage records
// (read in place, through message.ts) and follows INVITE dialogs, transactions and
// registrations on capture time (tracker.ts, with timers.ts and bounded tables);
// gives events (events.ts: call-attempt, call-start, call-end, reg-new ...) that
// pass the blocklist and rate limits (ratelimit.ts) and go out through the event
// outputs (publish.ts: an NDJSON file or stdout, an MQTT topic, PostgreSQL), and
// call records made from the events (cdr.ts). The tracker is the one part of the
// host that consumes messages as a sink does; no sink knows of it.
export { openEventsSink, trackerSettings, type EventsConfig, type EventsSink } from "./publish";
export { parseEvent } from "./cdr";
export { applySettings, defaultSettings, LIMITS, TIMEOUTS } from "./settings";
export { parseRate } from "./ratelimit";
export { EVENT_TYPES } from "./events";
