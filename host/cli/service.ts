// What every run command shares around its pipeline: the logger, the printed
// configuration, the outputs, the web view (with /metrics) and the stop signals; and,
// at the end, the one way every run ends (host/exits.ts): the summary on
// stderr, then one line naming what failed and what to do, and the exit code.
import type { Registry } from "prom-client";
import type { Config } from "./config";
import { createLogger, type Level, type Logger } from "../log";
import { checkOutputs, openOutputs, privacyOf, type Outputs } from "./outputs";
import { metricsRegistry, type Health } from "../sink";
import { openWebView, readTokenFile, type WebView } from "../http";
import { DEFAULT_HTTP_ADDRESS } from "../options";
import { watchStopSignals, Interrupted, type StopSignals } from "./signals";
import { summaryLine } from "./summary";
import { EXIT_USAGE, exitCodeFor, exitCodeOf, failureLine, OutputError } from "../exits";

export interface PipelineCounters {
  counters(): Record<string, number>;
}

export interface Service {
  log: Logger;
  // The outputs, opened on the first call: live capture opens them only after it
  // has dropped root, so files it writes belong to the unprivileged user.
  outputs(): Outputs;
  signals: StopSignals;
  // Runs `stop` when the run is asked to end (e.g. closes a stdin source).
  onStop(stop: () => void): void;
  // Why the run should stop: a signal's name, or "an output failure"; undefined while it goes on.
  stopRequested(): string | undefined;
  // Resolves when the run is asked to stop: whatever waits on an output waits no longer.
  stopped: Promise<void>;
  // By when the outputs must have closed: --flush-timeout after the stop signal, or from now.
  deadline(): number;
  // The web view (--http, --metrics, siphon view), when the run has one.
  web?: WebView;
  // Called with the core (or anything with counters) once it exists; its summary ends the run.
  attach(pipeline: PipelineCounters): void;
  // Prints the summary, `lines` (e.g. per interface) and the failure line; the exit code.
  finish(failure: unknown, lines?: string[]): number;
}

export async function startService(config: Config, command: string): Promise<Service> {
  let pipeline: PipelineCounters | undefined;
  let started = 0;
  let registry: Registry | undefined;
  const pipelineCounters = (): Record<string, number> => pipeline?.counters() ?? {};
  const networked = config.has("mqtt") || config.has("hep") || config.has("metrics") || config.has("http");
  const level = (config.str("log-level") ?? (networked ? "info" : "warn")) as Level;
  const log = createLogger({ level, logSip: config.bool("log-sip") });
  const flushTimeout = config.num("flush-timeout");
  const stopping = new AbortController();
  const stopped = new Promise<void>((resolve) => stopping.signal.addEventListener("abort", () => resolve()));
  const outputFailures: Error[] = [];
  checkOutputs(config);
  const stoppers: Array<() => void> = [];
  const stop = (): void => {
    if (stopping.signal.aborted) return;
    stopping.abort();
    stoppers.forEach((s) => s());
  };
  const failed = (err: Error): void => {
    outputFailures.push(err);
    stop();
  };
  let opened: Outputs | undefined;
  const health = (): Health => opened?.health() ?? { healthy: false, outputs: "not open yet" };
  // Made on the first scrape: prom-client and its default metrics cost nothing until /metrics is read.
  const registryOnDemand = (): Registry | undefined => pipeline === undefined ? undefined
    : (registry ??= metricsRegistry([pipelineCounters, () => outputs().counters(), ...(server ? [server.counters] : [])]));
  const server = await webView(config, log, () => ({ ...pipelineCounters(), ...opened?.counters() }), registryOnDemand, health);
  const outputs = (): Outputs => (opened ??= openOutputs(config, log, pipelineCounters, failed, stopping.signal,
    server?.metricsOnly ? undefined : server));

  // The report of a run that got as far as making its pipeline; the exit code.
  const end = (failure: unknown, lines: string[]): number => {
    signals.dispose();
    server?.close();
    if (opened?.networked) log.info("delivery", opened.counters());
    const stopReason = stopRequested();
    if (stopReason !== undefined) log.info("stopped", { reason: stopReason });
    const inputFailure = failure instanceof Interrupted ? undefined : failure as Error | undefined;
    const undelivered = opened?.undelivered();
    const failures = [inputFailure, ...outputFailures, undelivered === undefined ? undefined : new OutputError(undelivered)]
      .filter((f): f is Error => f !== undefined);
    // An input that failed before its first frame (missing, not a capture) gets its one line, no summary of nothing.
    const nothingRead = inputFailure !== undefined && pipeline?.counters().frames === 0;
    if (pipeline && !nothingRead) {
      const seconds = (Date.now() - started) / 1000;
      process.stderr.write(summaryLine(pipeline.counters(), seconds, config.has("filter") || config.has("filter-file")) + "\n");
    }
    for (const line of lines) process.stderr.write(`${line}\n`);
    const line = failureLine(failures);
    if (line) process.stderr.write(`${line}\n`);
    return exitCodeFor(failures);
  };

  const signals = watchStopSignals(log, flushTimeout, stop, (signal) => {
    outputFailures.push(new OutputError(`a second ${signal}: exited without waiting for the outputs to deliver what they held`));
    process.exit(end(undefined, []));
  });
  // Logged once the signals are watched: whoever waits for this line may stop the run.
  log.info("configuration", { command, options: config.printable() });
  const stopRequested = (): string | undefined =>
    signals.received ?? (outputFailures.length > 0 ? "an output failure" : undefined);

  return {
    log,
    outputs,
    signals,
    web: server,
    onStop: (s) => void stoppers.push(s),
    stopRequested,
    stopped,
    deadline: () => (signals.receivedAt ?? Date.now()) + flushTimeout * 1000,
    attach(p) {
      pipeline = p;
      started = Date.now();
    },
    finish(failure, lines = []) {
      if (exitCodeOf(failure) === EXIT_USAGE) {
        signals.dispose();
        server?.close();
        throw failure;
      }
      return end(failure, lines);
    },
  };
}

// --http ADDR (siphon view serves on the default address without it), with the window
// and the token the options give. --metrics ADDR alone is the same server with
// /metrics and /healthz only: a sensor that only exported metrics before the web
// view existed neither starts the tracker for it nor serves SIP text on that port.
async function webView(config: Config, log: Logger, counters: () => Record<string, number>, registry: () => Registry | undefined,
  health: () => Health): Promise<WebView | undefined> {
  const option = config.has("http") ? "--http" : "--metrics";
  const address = config.str("http") ?? config.str("metrics") ?? (config.command === "view" ? DEFAULT_HTTP_ADDRESS : undefined);
  if (address === undefined) return undefined;
  const tokenFile = config.str("http-token-file");
  return openWebView({ address, option, calls: config.num("http-calls"), bytes: config.num("http-mb") * 1024 * 1024,
    token: tokenFile === undefined ? undefined : readTokenFile(tokenFile), counters, registry, health, log, privacy: privacyOf(config),
    metricsOnly: !config.has("http") && config.command !== "view" });
}
