// The web view and its guarded control surface (--http, docs/http.md). Takes
// each batch of messages and each event that passed the blocklist, as an
// output does (store.ts: a bounded window of recent calls); gives a page, a
// JSON API (api.ts), live updates over Server-Sent Events (sse.ts) and
// Prometheus /metrics, on one node:http server (server.ts). Control (control.ts)
// answers only the --http-token-file token (auth.ts). Never looks inside the
// tracker, never makes capture wait.
import type { Registry } from "prom-client";
import type { Logger } from "../log";
import type { Health } from "../sink/metrics";
import { parseListenAddress } from "../sink/metrics";
import { CallStore, type StorePrivacy } from "./store";
import { TokenGuard } from "./auth";
import { startHttp, type HttpServer } from "./server";
import type { Controls } from "./control";

export type { Blocklist, CaptureFilter, Controls, Recordings } from "./control";
export { readTokenFile } from "./auth";
export { CallStore } from "./store";

export interface WebViewOptions {
  address: string;           // [HOST:]PORT
  option: string;            // the flag that named it, for errors ("--http")
  calls: number;             // --http-calls
  bytes: number;             // --http-mb, in bytes
  token?: string;            // from --http-token-file
  counters(): Record<string, number>;   // the run's (core, outputs)
  registry(): Registry | undefined;
  health(): Health;
  log: Logger;
  privacy?: StorePrivacy;    // --anonymize: the page shows what leaves the sensor
  metricsOnly?: boolean;     // --metrics without --http: the same server, /metrics and /healthz only
}

export interface WebView {
  store: CallStore;
  metricsOnly: boolean;      // then nothing feeds the store: no tracker is started for it
  controls: Controls;
  server: HttpServer;
  counters(): Record<string, number>;   // the web view's own
  close(): void;
}

export async function openWebView(o: WebViewOptions): Promise<WebView> {
  const { host, port } = parseListenAddress(o.address, o.option);
  const store = new CallStore({ calls: o.calls, bytes: o.bytes }, o.privacy);
  const controls: Controls = {};
  const server = await startHttp({ host, port, store, controls, guard: new TokenGuard(o.token), counters: o.counters,
    registry: o.registry, health: o.health, log: o.log, metricsOnly: o.metricsOnly });
  return { store, metricsOnly: o.metricsOnly === true, controls, server, counters: () => server.ownCounters(), close: () => server.close() };
}
