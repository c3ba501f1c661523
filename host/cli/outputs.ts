// The outputs a run's configuration names, as Sinks: NDJSON (the default when
// no broker or collector is named, or with --out), MQTT, HEP; any together.
// Also what the operator sees of them: counters, health, undelivered count.
import { hostname } from "node:os";
import type { Config } from "./config";
import { checkUrlPort } from "../bounds";
import type { Logger } from "../log";
import { parseListenAddress, type Health } from "../sink";
import { ndjsonToFile, ndjsonToStdout } from "../sink";
import { mqttSink, type MqttSink, type MqttOptions } from "../sink";
import { hepSink, parseHepUrl, type HepSink } from "../sink";
import { allSinks, type Failed, type Shortfall, type Sink } from "../sink";
import { openEventsSink } from "../calls";
import { applySettings, defaultSettings, LIMITS, TIMEOUTS } from "../calls";
import { parseRate, EVENT_TYPES } from "../calls";
import { OutputError, UsageError } from "../exits";
import { publishTopics } from "./topics";
import { Recorder, RecordingControl, type Recordings } from "../media";
import { writableDirectory } from "./traps";
import type { Blocklist, WebView } from "../http";
import type { EventsSink } from "../calls";
import { KeyFileError, openPrivacy, type Privacy } from "../privacy";

export interface Outputs {
  sinks: Sink[];
  counters(): Record<string, number>;
  health(): Health;
  // After close: one line on what never reached a broker or collector (HEP: never sent), or undefined.
  undelivered(): string | undefined;
  networked: boolean;      // a broker or collector is named (not NDJSON only)
  // Whether an output reads the JSON envelopes (NDJSON, MQTT): when none does (events only, HEP
  // only, siphon view), the core renders none, about a fifth of its work a message.
  envelopes: boolean;
  recordings?: Recordings; // with --record: calls chosen by address at run time (the web view's control)
}

// The name in envelopes, events and topic templates: --sensor, else this host's.
export function sensorOf(config: Config): string {
  return config.str("sensor") ?? hostname();
}

// siphon-SENSOR (the host's name when --sensor is not given): stable across restarts,
// and distinct for sensors that share a host and a broker.
export function defaultClientId(sensor: string): string {
  return `siphon-${sensor.replace(/[^A-Za-z0-9._-]/g, "-")}`;
}

// --anonymize's key, read once per run and before anything is read: live capture drops
// root before it opens the outputs, and the key file is readable by its owner only.
const privacies = new WeakMap<Config, Privacy | undefined>();

export function privacyOf(config: Config): Privacy | undefined {
  if (privacies.has(config)) return privacies.get(config);
  const keyFile = config.str("anonymize");
  let privacy: Privacy | undefined;
  try {
    privacy = keyFile === undefined ? undefined : openPrivacy({ keyFile, encryptFields: config.bool("encrypt-fields") });
  } catch (err) {
    if (err instanceof KeyFileError) throw new UsageError(err.message);
    throw err;
  }
  privacies.set(config, privacy);
  return privacy;
}

// The outputs' addresses and the compound options' numbers, checked before
// anything is opened: a typo is a usage error.
export function checkOutputs(config: Config): void {
  privacyOf(config);
  const metricsAddr = config.str("metrics");
  if (metricsAddr !== undefined) parseListenAddress(metricsAddr);
  const httpAddr = config.str("http");
  if (httpAddr !== undefined) parseListenAddress(httpAddr, "--http");
  applySettings(defaultSettings(), config.str("call-timeout") ?? "", TIMEOUTS, "--call-timeout");
  applySettings(defaultSettings(), config.str("call-limit") ?? "", LIMITS, "--call-limit");
  parseRate(config.str("event-rate"));
  publishTopics(config, sensorOf(config));
  const mqttUrl = config.str("mqtt");
  if (mqttUrl !== undefined) checkedMqttUrl(mqttUrl);
  const hepUrl = config.str("hep");
  if (hepUrl === undefined) return;
  try {
    parseHepUrl(hepUrl);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

// `failed` hears of an output that fails while the run goes on (a write error, stdout closed).
// `web`, the web view, takes the messages and the events as an output does.
export function openOutputs(config: Config, log: Logger, pipelineCounters: () => Record<string, number>, failed: Failed,
  stop?: AbortSignal, web?: WebView): Outputs {
  checkOutputs(config);
  const topics = publishTopics(config, sensorOf(config));
  const privacy = privacyOf(config);
  let envelopesRead = false;
  const envelopes = (sink: Sink): Sink => {
    envelopesRead = true;
    return privacy !== undefined && config.bool("anonymize-envelopes") ? privacy.envelopes(sink) : sink;
  };
  const sinks: Sink[] = [];
  const delivering: Array<MqttSink | HepSink> = [];
  let mqtt: MqttSink | undefined;
  let hep: HepSink | undefined;
  const out = config.str("out");
  const stdoutBound = { bytes: config.num("stdout-queue-mb") * 2 ** 20, log };
  const networked = config.has("mqtt") || config.has("hep");
  // The recorder goes before the tracker, so a call's events can name its recording.
  const recorder = openRecorder(config, log, privacy);
  if (recorder) sinks.push(recorder);
  // siphon view shows what it reads; envelopes go out only where --out names.
  if (out !== undefined && out !== "-") sinks.push(envelopes(ndjsonToFile(out, failed, stdoutBound)));
  else if (out === "-" || !networked && config.str("events") !== "-" && config.command !== "view") sinks.push(envelopes(ndjsonToStdout(failed, stdoutBound)));
  if (web) sinks.push(web.store.messageSink());
  const mqttUrl = config.str("mqtt");
  const mqttOptions = (topic: string, clientId: string): MqttOptions => ({
    url: checkedMqttUrl(mqttUrl ?? ""),
    topic,
    clientId,
    qos: config.num("qos") === 0 ? 0 : 1,
    protocolVersion: config.num("mqtt-version") === 5 ? 5 : 4,
    username: config.str("username"),
    password: config.str("password"),
    ca: config.str("mqtt-ca"),
    cert: config.str("mqtt-cert"),
    key: config.str("mqtt-key"),
    insecure: config.bool("mqtt-insecure"),
    keepalive: config.num("keepalive"),
    inflight: config.num("inflight"),
    queueMessages: config.num("queue-messages"),
    queueBytes: config.num("queue-bytes"),
    flushTimeout: config.num("flush-timeout"),
    log,
  });
  const events = usageErrors(() => openEventsSink({
    events: config.str("events"),
    stdout: stdoutBound,
    eventsTopic: topics.events,
    blocked: config.str("no-events") ?? "",
    rate: config.str("event-rate"),
    timeouts: config.str("call-timeout"),
    limits: config.str("call-limit"),
    cdr: config.str("cdr"),
    web: web?.store.eventOutput(),
    sensor: sensorOf(config),
    trackerCore: config.str("tracker") === "core",
    log,
    recordingOf: recorder && ((callId) => recorder.paths(callId)),
    anonymize: privacy && ((event) => privacy.event(event)),
  }, failed, (topic) => {
    const sink = mqttSink(mqttOptions(topic, `${config.str("client-id") ?? defaultClientId(sensorOf(config))}-events`));
    delivering.push(sink);
    return sink;
  }));
  if (events) sinks.push(events);
  if (web && events) web.controls.blocklist = blocklistOf(events);
  if (web && recorder) web.controls.recordings = recorder.control;
  if (mqttUrl !== undefined) {
    // A --mqtt-ca, --mqtt-cert or --mqtt-key that cannot be read is a usage error, as --config is.
    mqtt = usageErrors(() => mqttSink({
      ...mqttOptions(topics.topic, config.str("client-id") ?? defaultClientId(sensorOf(config))),
      statusTopic: topics.status,
      telemetryTopic: topics.telemetry,
      telemetryInterval: config.num("telemetry-interval"),
      telemetry: pipelineCounters,
      stop,
    }));
    sinks.push(envelopes(mqtt));
    delivering.push(mqtt);
  }
  const hepUrl = config.str("hep");
  if (hepUrl !== undefined) {
    hep = hepSink({ url: hepUrl, captureId: config.num("hep-id"), password: config.str("hep-password"),
      flushTimeout: config.num("flush-timeout"), log, rewrite: privacy && ((m) => privacy.hepMessage(m)) });
    sinks.push(hep);
    delivering.push(hep);
  }
  return {
    sinks,
    networked,
    envelopes: envelopesRead,
    recordings: recorder?.control,
    counters: () => ({ ...mqtt?.stats(), ...hep?.stats(), ...recorder?.counters(), ...privacy?.counters() }),
    health: () => ({
      healthy: (mqtt?.connected() ?? true) && (hep?.connected() ?? true),
      ...(mqtt ? { mqtt: mqtt.connected() ? "connected" : "disconnected" } : {}),
      ...(hep ? { hep: hep.connected() ? "connected" : "disconnected" } : {}),
    }),
    undelivered: () => undeliveredLine(delivering.map((d) => d.shortfall()).filter((s): s is Shortfall => s !== undefined),
      config.num("flush-timeout")),
  };
}

function blocklistOf(events: EventsSink): Blocklist {
  const gate = events.gate;
  return { types: () => EVENT_TYPES, blocked: () => gate.blockedTypes(), block: (t) => gate.block(t), unblock: (t) => gate.unblock(t) };
}

// "81 messages could not be delivered within --flush-timeout 1 s, to --mqtt mqtt://b:1883 (topic t):
// 81 not acknowledged; check that the broker is up and keeps up, or raise --flush-timeout"
function undeliveredLine(shortfalls: Shortfall[], flushTimeout: number): string | undefined {
  if (shortfalls.length === 0) return undefined;
  const total = shortfalls.reduce((sum, s) => sum + s.count, 0);
  const where = shortfalls.map((s) => `to ${s.output}: ${s.detail}`).join(", ");
  const advice = [...new Set(shortfalls.map((s) => s.advice))].join("; ");
  return `${total} messages could not be delivered within --flush-timeout ${flushTimeout} s, ${where}; ${advice}`;
}

// A bad option value found while opening an output is a usage error (exit 2); a file
// that cannot be created is the output's failure (exit 3).
function usageErrors<T>(open: () => T): T {
  try {
    return open();
  } catch (err) {
    if (err instanceof OutputError) throw err;
    throw new UsageError((err as Error).message);
  }
}

// --record DIR: made if missing and checked writable before the run starts.
function openRecorder(config: Config, log: Logger, privacy: Privacy | undefined): Recorder | undefined {
  const dir = config.str("record");
  if (dir === undefined) return undefined;
  writableDirectory("--record", dir);
  return new Recorder({
    dir,
    filtered: config.has("record-filter"),
    maxBytes: config.num("record-max-mb") * 2 ** 20,
    openFiles: config.num("record-open-files"),
    idleSeconds: config.num("record-idle"),
    log,
    control: new RecordingControl(),
    report: (line) => process.stderr.write(`${line}\n`),
    nameOf: privacy && ((callId) => privacy.callId(callId)),
  });
}

function checkedMqttUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--mqtt: '${url}' is not a URL; use e.g. mqtt://127.0.0.1:1883 or mqtts://broker:8883`);
  }
  const scheme = parsed.protocol;
  if (!["mqtt:", "mqtts:", "ws:", "wss:"].includes(scheme)) {
    throw new UsageError(`--mqtt: scheme '${scheme.replace(/:$/, "")}' is not mqtt, mqtts, ws or wss`);
  }
  checkUrlPort(parsed, "--mqtt");
  return url;
}

export { allSinks, type Recorder };
