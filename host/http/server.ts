// The one HTTP server of a run (--http, or its alias --metrics): the page and
// its script, the JSON API (api.ts), live updates (sse.ts), and Prometheus
// /metrics and /healthz. Every response carries a strict Content-Security-Policy
// (no inline script: the page's script is /app.js) and no CORS header, so no
// other origin can read it; on a loopback address a request must name the
// server by an IP or "localhost", which keeps DNS rebinding out.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { createReadStream } from "node:fs";
import { basename, extname } from "node:path";
import type { Registry } from "prom-client";
import type { Logger } from "../log";
import type { Health } from "../sink/metrics";
import { OutputError } from "../exits";
import { control, decodeSegment, read, send, type ApiContext } from "./api";
import { SseHub } from "./sse";
import { PAGE_CSS, PAGE_HTML, PAGE_SCRIPT } from "./page";

export interface HttpOptions extends ApiContext {
  host: string;
  port: number;
  registry(): Registry | undefined;   // undefined until the pipeline exists: /metrics answers 503
  health(): Health;
  log: Logger;
  metricsOnly?: boolean;              // --metrics without --http: /metrics and /healthz, no web view
}

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
};

const STATIC: Record<string, { type: string; body: string }> = {
  "/": { type: "text/html; charset=utf-8", body: PAGE_HTML },
  "/app.js": { type: "text/javascript; charset=utf-8", body: PAGE_SCRIPT },
  "/app.css": { type: "text/css; charset=utf-8", body: PAGE_CSS },
};

const RECORDING = /^\/api\/calls\/([^/]+)\/recordings\/(\d{1,4})$/;
const RECORDING_TYPES: Record<string, string> = { ".wav": "audio/wav", ".pcap": "application/vnd.tcpdump.pcap" };

export class HttpServer {
  readonly hub: SseHub;
  private readonly server: Server;
  private readonly api: ApiContext;
  private requests = 0;
  private refusedHost = 0;

  constructor(private readonly options: HttpOptions) {
    this.hub = new SseHub(options.store, () => this.counters());
    options.store.listen(this.hub);
    this.api = { ...options, counters: () => this.counters() };
    this.server = createServer((req, res) => this.handle(req, res));
  }

  counters(): Record<string, number> {
    return { ...this.options.counters(), ...this.ownCounters() };
  }

  ownCounters(): Record<string, number> {
    return { ...this.options.store.counters(), ...this.hub.stats(), ...this.options.guard.counters(),
      http_requests: this.requests, http_refused_host: this.refusedHost };
  }

  async listen(): Promise<void> {
    const { host, port } = this.options;
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", (err: NodeJS.ErrnoException) => reject(new OutputError(`--http: cannot listen on ${host}:${port}: ` +
        `${err.code ?? err.message}${err.code === "EADDRINUSE" ? " (another program has that port): name another port" : ""}`)));
      this.server.listen(port, host, () => resolve());
    });
    this.server.unref();
    this.options.log.info(this.options.metricsOnly ? "http: serving /metrics and /healthz (--http adds the web view)" : "http: serving /metrics, /healthz, the web view and /api", { address: `${host}:${this.address().port}`,
      control: this.options.guard.enabled ? "with --http-token-file" : "read-only" });
  }

  // The server alone keeps the process running (siphon view, once the input has ended).
  keepProcess(): void {
    this.server.ref();
  }

  address(): { host: string; port: number } {
    const a = this.server.address();
    return typeof a === "object" && a !== null ? { host: a.address, port: a.port } : { host: this.options.host, port: this.options.port };
  }

  close(): void {
    this.hub.close();
    this.server.close();
    this.server.closeAllConnections();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const path = (req.url ?? "/").split("?")[0];
    if (!this.hostAllowed(req.headers.host)) {
      this.refusedHost++;
      res.writeHead(421, { ...SECURITY_HEADERS, "content-type": "text/plain" }).end("siphon: name this server by its IP address or localhost\n");
      return;
    }
    if (this.options.metricsOnly && path !== "/metrics" && path !== "/healthz") {
      send(res, { status: 404, body: '{"error":"started with --metrics alone: /metrics and /healthz only; --http ADDR serves the web view"}' }, SECURITY_HEADERS);
      return;
    }
    if (req.method === "POST" && path.startsWith("/api/control/")) {
      control(req, path, this.api).then((reply) => send(res, reply, SECURITY_HEADERS), () => res.destroy());
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...SECURITY_HEADERS, allow: "GET, HEAD, POST", "content-type": "text/plain" }).end("siphon: GET, or POST to /api/control/\n");
      return;
    }
    this.get(req, res, path, new URLSearchParams((req.url ?? "").split("?")[1] ?? ""));
  }

  private get(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): void {
    const page = STATIC[path];
    const recording = RECORDING.exec(path);
    if (page) {
      res.writeHead(200, { ...SECURITY_HEADERS, "content-type": page.type }).end(page.body);
    } else if (path === "/api/live") {
      if (!this.hub.open(req, res, SECURITY_HEADERS)) send(res, { status: 503, body: '{"error":"too many live clients"}' }, SECURITY_HEADERS);
    } else if (recording) {
      this.recording(res, decodeSegment(recording[1]), recording[2]);
    } else if (path === "/api/calls" && query.has("recording")) {
      this.recording(res, query.get("id") ?? undefined, query.get("recording") ?? "");
    } else if (path === "/metrics") {
      this.metrics(res);
    } else if (path === "/healthz") {
      const h = this.options.health();
      res.writeHead(h.healthy ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(h) + "\n");
    } else {
      const reply = read(path, this.api, query);
      send(res, reply ?? { status: 404, body: '{"error":"not found: /, /api/calls, /api/registrations, /api/counters, /api/events, /metrics"}' },
        SECURITY_HEADERS);
    }
  }

  // A file an event of the call named as its recording: only those paths, never one from the request.
  private recording(res: ServerResponse, id: string | undefined, n: string): void {
    const file = id === undefined || !/^\d{1,4}$/.test(n) ? undefined : this.options.store.call(id)?.recordings[Number(n)];
    if (file === undefined) {
      send(res, { status: 404, body: '{"error":"no such recording of a call in the window"}' }, SECURITY_HEADERS);
      return;
    }
    const stream = createReadStream(file);
    stream.once("error", () => send(res, { status: 404, body: '{"error":"the recording file cannot be read"}' }, SECURITY_HEADERS));
    stream.once("open", () => {
      res.writeHead(200, { ...SECURITY_HEADERS, "content-type": RECORDING_TYPES[extname(file!)] ?? "application/octet-stream",
        "content-disposition": `attachment; filename="${basename(file!).replace(/[^\w.-]/g, "_")}"` });
      stream.pipe(res);
    });
  }

  private metrics(res: ServerResponse): void {
    const r = this.options.registry();
    if (r === undefined) {
      res.writeHead(503, { "content-type": "text/plain" }).end("siphon: starting\n");
      return;
    }
    r.metrics().then((text) => res.writeHead(200, { "content-type": r.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(`metrics: ${err.message}\n`));
  }

  // On a loopback address only IP literals and localhost: a page elsewhere that rebinds
  // its own name to 127.0.0.1 cannot read the API.
  private hostAllowed(header: string | undefined): boolean {
    if (!isLoopback(this.options.host)) return true;
    if (header === undefined) return false;
    const name = header.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
    return name === "localhost" || isIP(name) !== 0;
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

export async function startHttp(options: HttpOptions): Promise<HttpServer> {
  const server = new HttpServer(options);
  await server.listen();
  return server;
}
