// Prometheus metrics: every counter of the core and the sinks, prefixed siphon_,
// read at scrape time (nothing on the hot path); what /healthz answers. The
// HTTP server of --http (or --metrics) serves them (host/http/server.ts).
import type { Registry } from "prom-client";
import { promLibrary } from "../lazy";
import { boundedNumber } from "../bounds";
import { UsageError } from "../exits";

export type CounterSource = () => Record<string, number>;

export interface Health {
  healthy: boolean;
  [part: string]: unknown;
}

// Counters that only grow get a _total counter; depths and states are gauges.
const GAUGES = /(_depth|_bytes|_inflight|_connected|_queue_.*)$/;

// A counter named `base{label="value"}` (live capture's per-interface counters) becomes one
// metric `siphon_base_total` with that label.
const LABELLED = /^(\w+)\{(\w+)="([^"]*)"\}$/;

export function metricsRegistry(sources: CounterSource[]): Registry {
  const { Registry, Gauge, Counter, collectDefaultMetrics } = promLibrary();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "siphon_" });
  const names = new Set<string>();
  for (const source of sources) {
    labelledCounters(registry, source, Object.keys(source()).filter((name) => LABELLED.test(name)));
    for (const name of Object.keys(source())) {
      if (names.has(name) || LABELLED.test(name)) continue;
      names.add(name);
      const read = (): number => source()[name] ?? 0;
      const metric = `siphon_${name.replace(/[^a-zA-Z0-9_]/g, "_")}`;
      if (GAUGES.test(name)) {
        new Gauge({ name: metric, help: `${name} (current value)`, registers: [registry], collect() { this.set(read()); } });
      } else {
        new Counter({ name: `${metric}_total`, help: `${name} since start`, registers: [registry], collect() { this.reset(); this.inc(read()); } });
      }
    }
  }
  return registry;
}

function labelledCounters(registry: Registry, source: CounterSource, names: string[]): void {
  const { Counter } = promLibrary();
  const groups = new Map<string, { label: string; names: string[] }>();
  for (const name of names) {
    const [, base, label] = LABELLED.exec(name) as RegExpExecArray;
    const group = groups.get(base) ?? { label, names: [] };
    group.names.push(name);
    groups.set(base, group);
  }
  for (const [base, { label, names: members }] of groups) {
    new Counter({ name: `siphon_${base}_total`, help: `${base} since start, per ${label}`, labelNames: [label], registers: [registry],
      collect() {
        this.reset();
        const now = source();
        for (const name of members) this.inc({ [label]: (LABELLED.exec(name) as RegExpExecArray)[3] }, now[name] ?? 0);
      } });
  }
}

export function parseListenAddress(addr: string, option = "--metrics"): { host: string; port: number } {
  // What starts with a digit is meant as the port, and checked as one (1e3 and 99999 are refused).
  const m = /^(?:\[?([^\]]*?)\]?:)?([-+]?[0-9][^:\]]*)$/.exec(addr);
  if (!m) throw new UsageError(`${option}: '${addr}' is not [HOST:]PORT (e.g. 127.0.0.1:9090 or 9090)`);
  const port = boundedNumber(m[2], { type: "integer", min: 1, max: 65535, unit: "TCP port" }, `${option} port`);
  return { host: m[1] || "0.0.0.0", port };
}
