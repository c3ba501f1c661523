// The outputs a run's configuration names, as Sinks: NDJSON (the default when
// no broker or collector is named, or with --out), MQTT, HEP; any together.
// Also what the operator sees of them: counters, health, undelivered count.
import { hostname } from "node:os";
import { checkUrlPort, UsageError, type Config } from "./config";
import type { Logger } from "./log";
import { parseListenAddress, type Health } from "./metrics";
import { ndjsonToFile, ndjsonToStdout } from "./sink/ndjson";
import { mqttSink, type MqttSink, type MqttOptions } from "./sink/mqtt";
import { hepSink, parseHepUrl, type HepSink } from "./sink/hep";
import { allSinks, type Sink } from "./sink/sink";
import { openEventsSink } from "./sink/events";
import { applySettings, defaultSettings, LIMITS, TIMEOUTS } from "./calls/settings";
import { parseRate } from "./calls/ratelimit";

export interface Outputs {
  sinks: Sink[];
  counters(): Record<string, number>;
  health(): Health;
  undelivered(): number;   // after close: messages that never reached a broker or collector (HEP: never sent)
  networked: boolean;      // a broker or collector is named (not NDJSON only)
}

export function defaultClientId(): string {
  return `siphon-${hostname().replace(/[^A-Za-z0-9._-]/g, "-")}`;
}

// The outputs' addresses and the compound options' numbers, checked before
// anything is opened: a typo is a usage error.
export function checkOutputs(config: Config): void {
  const metricsAddr = config.str("metrics");
  if (metricsAddr !== undefined) parseListenAddress(metricsAddr);
  applySettings(defaultSettings(), config.str("call-timeout") ?? "", TIMEOUTS, "--call-timeout");
  applySettings(defaultSettings(), config.str("call-limit") ?? "", LIMITS, "--call-limit");
  parseRate(config.str("event-rate") ?? "20,300,3000");
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

export function openOutputs(config: Config, log: Logger, pipelineCounters: () => Record<string, number>, stop?: AbortSignal): Outputs {
  checkOutputs(config);
  const sinks: Sink[] = [];
  let mqtt: MqttSink | undefined;
  let hep: HepSink | undefined;
  const out = config.str("out");
  const networked = config.has("mqtt") || config.has("hep");
  if (out !== undefined && out !== "-") sinks.push(ndjsonToFile(out));
  else if (out === "-" || !networked && config.str("events") !== "-") sinks.push(ndjsonToStdout());
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
    eventsTopic: config.str("events-topic"),
    blocked: config.str("no-events") ?? "",
    rate: config.str("event-rate") ?? "20,300,3000",
    timeouts: config.str("call-timeout"),
    limits: config.str("call-limit"),
    cdr: config.str("cdr"),
    sensor: config.str("sensor") ?? hostname(),
    log,
  }, (topic) => mqttSink(mqttOptions(topic, `${config.str("client-id") ?? defaultClientId()}-events`))));
  if (events) sinks.push(events);
  if (mqttUrl !== undefined) {
    mqtt = mqttSink({
      ...mqttOptions(config.str("topic") ?? "siphon/sip", config.str("client-id") ?? defaultClientId()),
      statusTopic: config.str("status-topic"),
      telemetryTopic: config.str("telemetry-topic"),
      telemetryInterval: config.num("telemetry-interval"),
      telemetry: pipelineCounters,
      stop,
    });
    sinks.push(mqtt);
  }
  const hepUrl = config.str("hep");
  if (hepUrl !== undefined) {
    hep = hepSink({ url: hepUrl, captureId: config.num("hep-id"), password: config.str("hep-password"),
      flushTimeout: config.num("flush-timeout"), log });
    sinks.push(hep);
  }
  return {
    sinks,
    networked,
    counters: () => ({ ...mqtt?.stats(), ...hep?.stats() }),
    health: () => ({
      healthy: (mqtt?.connected() ?? true) && (hep?.connected() ?? true),
      ...(mqtt ? { mqtt: mqtt.connected() ? "connected" : "disconnected" } : {}),
      ...(hep ? { hep: hep.connected() ? "connected" : "disconnected" } : {}),
    }),
    undelivered: () => {
      const h = hep?.stats();
      const m = mqtt?.stats();
      return (m ? m.mqtt_undelivered + m.mqtt_rejected : 0) + (h ? h.hep_dropped + h.hep_too_large : 0);
    },
  };
}

// A bad option value found while opening an output is a usage error (exit 2).
function usageErrors<T>(open: () => T): T {
  try {
    return open();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
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

export { allSinks };
