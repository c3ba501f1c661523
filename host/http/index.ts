// The web view and its guarded control surface (--http, docs/http.md). Takes
// each batch of messages and each event that passed the blocklist, as an
// output does (store.ts: a bounded window of recent calls, in a worker thread of
// its own: remote.ts; the page and the API read it through reads.ts); gives a page, a
// JSON API (api.ts), live updates over Server-Sent Events (sse.ts) and
// Prometheus /metrics, on one node:http server (server.ts). Control (control.ts)
// answers only the --http-token-file token (auth.ts). Never looks inside the
// tracker, never makes capture wait.
import type { Registry } from "prom-client";
import type { Logger } from "../log";
import type { Health } from "../sink/metrics";
import { parseListenAddress } from "../sink/metrics";
import { CallStore, type StoreLimits, type StorePrivacy } from "./store";
import { localReads, type StoreReads } from "./reads";
import { RemoteStore } from "./remote";
import type { EventOutput, Sink } from "../sink/sink";
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

// Where the web view takes the run's messages and events, as an output does.
export interface StoreFeed {
  messageSink(): Sink;
  eventOutput(): EventOutput;
}

export interface WebView {
  feed: StoreFeed;
  metricsOnly: boolean;      // then nothing feeds the store: no tracker is started for it
  controls: Controls;
  server: HttpServer;
  counters(): Record<string, number>;   // the web view's own
  close(): void;
}

export async function openWebView(o: WebViewOptions): Promise<WebView> {
  const { host, port } = parseListenAddress(o.address, o.option);
  const { feed, reads, close } = await openStore({ calls: o.calls, bytes: o.bytes }, o);
  const controls: Controls = {};
  const server = await startHttp({ host, port, store: reads, controls, guard: new TokenGuard(o.token), counters: o.counters,
    registry: o.registry, health: o.health, log: o.log, metricsOnly: o.metricsOnly });
  return { feed, metricsOnly: o.metricsOnly === true, controls, server, counters: () => server.ownCounters(),
    close: () => {
      server.close();
      close();
    } };
}

// The store in a worker thread of its own (remote.ts); in this one with --anonymize (the run's
// keys stay in the main thread), for --metrics alone (fed nothing), or if the thread cannot start.
async function openStore(limits: StoreLimits, o: WebViewOptions): Promise<{ feed: StoreFeed; reads: StoreReads; close(): void }> {
  if (o.privacy === undefined && o.metricsOnly !== true) {
    try {
      const remote = await RemoteStore.start(limits, o.log);
      return { feed: remote, reads: remote, close: () => remote.close() };
    } catch (err) {
      o.log.warn("http: the web view's store runs in the main thread: its thread did not start", { error: (err as Error).message });
    }
  }
  const store = new CallStore(limits, o.privacy);
  return { feed: store, reads: localReads(store), close: () => undefined };
}
