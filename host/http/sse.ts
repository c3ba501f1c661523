// Live updates over Server-Sent Events. What changed (a call's summary, each
// event) is gathered and written to every client at most every FLUSH_MS, each
// update serialised once for all. A client whose socket holds more than
// CLIENT_BUFFER_BYTES unsent (a stalled or slow browser) is dropped and
// counted: it reconnects and reloads, capture never waits for it. Updates
// beyond PENDING_BYTES between two flushes are dropped and counted too.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { StoreListener, StoredCall } from "./store";
import { callSummary } from "./api";

export const CLIENT_BUFFER_BYTES = 1 << 20;
export const PENDING_BYTES = 4 << 20;
export const MAX_CLIENTS = 100;
const FLUSH_MS = 250;
const COUNTERS_EVERY_FLUSHES = 4;
const KEEPALIVE_FLUSHES = 60;

export class SseHub implements StoreListener {
  private readonly clients = new Set<ServerResponse>();
  private readonly dirty = new Set<StoredCall>();
  private pending: string[] = [];
  private pendingBytes = 0;
  private flushes = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly count = { connected: 0, dropped: 0, refused: 0, updatesDropped: 0 };

  constructor(private readonly counters: () => Record<string, number>) {}

  // Text/event-stream to `res` until either side closes; false when there are too many clients.
  open(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): boolean {
    if (this.clients.size >= MAX_CLIENTS) {
      this.count.refused++;
      return false;
    }
    res.writeHead(200, { ...headers, "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    this.clients.add(res);
    this.count.connected++;
    const gone = (): void => void this.clients.delete(res);
    req.on("close", gone);
    res.on("error", gone);
    this.timer ??= setInterval(() => this.flush(), FLUSH_MS).unref();
    return true;
  }

  callChanged(call: StoredCall): void {
    if (this.clients.size > 0) this.dirty.add(call);
  }

  event(json: string): void {
    if (this.clients.size > 0) this.queue(`event: sip\ndata: ${json}\n\n`);
  }

  // Writes what gathered to every client; drops the ones that do not keep up.
  flush(): void {
    this.flushes++;
    for (const call of this.dirty) this.queue(`event: call\ndata: ${JSON.stringify(callSummary(call))}\n\n`);
    this.dirty.clear();
    if (this.flushes % COUNTERS_EVERY_FLUSHES === 0 && this.clients.size > 0) {
      this.pending.push(`event: counters\ndata: ${JSON.stringify(this.counters())}\n\n`);
    }
    if (this.flushes % KEEPALIVE_FLUSHES === 0) this.pending.push(": keepalive\n\n");
    if (this.pending.length === 0) return;
    const chunk = this.pending.join("");
    this.pending = [];
    this.pendingBytes = 0;
    for (const client of this.clients) this.send(client, chunk);
  }

  clientCount(): number {
    return this.clients.size;
  }

  stats(): Record<string, number> {
    return { http_sse_clients: this.clients.size, http_sse_connected: this.count.connected, http_sse_dropped: this.count.dropped,
      http_sse_refused: this.count.refused, http_sse_updates_dropped: this.count.updatesDropped };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  private queue(text: string): void {
    if (this.pendingBytes + text.length > PENDING_BYTES) {
      this.count.updatesDropped++;
      return;
    }
    this.pending.push(text);
    this.pendingBytes += text.length;
  }

  private send(client: ServerResponse, chunk: string): void {
    if (client.writableLength + chunk.length > CLIENT_BUFFER_BYTES) {
      this.clients.delete(client);
      this.count.dropped++;
      client.destroy();
      return;
    }
    client.write(chunk);
  }
}
