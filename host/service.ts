// What every run command shares around its pipeline: the logger, the printed
// configuration, the outputs, the metrics endpoint and the stop signals; and,
// at the end, the report of what could not be delivered and the exit code.
import type { Registry } from "prom-client";
import type { Config } from "./config";
import { createLogger, type Level, type Logger } from "./log";
import { checkOutputs, openOutputs, type Outputs } from "./outputs";
import { metricsRegistry, serveMetrics, type Health } from "./metrics";
import { watchStopSignals, Interrupted, type StopSignals } from "./signals";

export interface PipelineCounters {
  counters(): Record<string, number>;
}

export interface Service {
  log: Logger;
  // The outputs, opened on the first call: live capture opens them only after it
  // has dropped root, so files it writes belong to the unprivileged user.
  outputs(): Outputs;
  signals: StopSignals;
  // Runs `stop` when a signal asks the run to end (e.g. closes a stdin source).
  onStop(stop: () => void): void;
  // Called with the core (or anything with counters) once it exists.
  attach(pipeline: PipelineCounters): void;
  // Reports undelivered messages and closes what the service opened; the exit code.
  finish(failure: unknown): number;
}

export class DeliveryError extends Error {}

export async function startService(config: Config, command: string): Promise<Service> {
  let pipeline: PipelineCounters | undefined;
  let registry: Registry | undefined;
  const pipelineCounters = (): Record<string, number> => pipeline?.counters() ?? {};
  const networked = config.has("mqtt") || config.has("hep") || config.has("metrics");
  const level = (config.str("log-level") ?? (networked ? "info" : "warn")) as Level;
  const log = createLogger({ level, logSip: config.bool("log-sip") });
  const stopping = new AbortController();
  checkOutputs(config);
  log.info("configuration", { command, options: config.printable() });
  let opened: Outputs | undefined;
  const outputs = (): Outputs => (opened ??= openOutputs(config, log, pipelineCounters, stopping.signal));
  const health = (): Health => opened?.health() ?? { healthy: false, outputs: "not open yet" };
  const metricsAddr = config.str("metrics");
  const server = metricsAddr === undefined ? undefined
    : await serveMetrics(metricsAddr, () => registry, health, log);
  const stoppers: Array<() => void> = [() => stopping.abort()];
  const signals = watchStopSignals(log, config.num("flush-timeout"), () => stoppers.forEach((stop) => stop()));
  return {
    log,
    outputs,
    signals,
    onStop: (stop) => void stoppers.push(stop),
    attach(p) {
      pipeline = p;
      if (server) registry = metricsRegistry([pipelineCounters, () => outputs().counters()]);
    },
    finish(failure) {
      signals.dispose();
      server?.close();
      const undelivered = opened?.undelivered() ?? 0;
      if (opened?.networked) log.info("delivery", opened.counters());
      if (failure instanceof Interrupted || failure && signals.received) log.info("stopped", { signal: signals.received, undelivered });
      else if (failure) throw failure;
      if (undelivered > 0) {
        throw new DeliveryError(`${undelivered} messages could not be delivered within --flush-timeout ${config.num("flush-timeout")} s`);
      }
      return 0;
    },
  };
}
