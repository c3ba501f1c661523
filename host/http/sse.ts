// Live updates over Server-Sent Events. What changed (a call's summary, each
// event) is gathered and written to every client at most every FLUSH_MS, as one
// chunk encoded once for all. A page is read by a person: each flush carries at
// most CALLS_PER_FLUSH calls (the others follow in the next flushes) and the
// last EVENTS_PER_FLUSH events (the older ones of that interval are skipped and
// counted; /api/events has them). A client whose socket holds more than
// CLIENT_BUFFER_BYTES unsent (a stalled or slow browser) is dropped and counted:
// it reconnects and reloads, capture never waits for it.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CallStore, StoreListener } from "./store";
import { callSummary } from "./api";

export const CLIENT_BUFFER_BYTES = 1 << 20;
export const MAX_CLIENTS = 100;
export const CALLS_PER_FLUSH = 200;
export const EVENTS_PER_FLUSH = 100;
const FLUSH_MS = 250;
const COUNTERS_EVERY_FLUSHES = 4;
const KEEPALIVE_FLUSHES = 60;

export class SseHub implements StoreListener {
  private readonly clients = new Set<ServerResponse>();
  private events: number[] = [];     // a ring of the last EVENTS_PER_FLUSH (their numbers in the store), oldest at eventsHead once full
  private eventsHead = 0;
  private flushes = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly count = { connected: 0, dropped: 0, refused: 0, eventsSkipped: 0 };

  constructor(private readonly store: CallStore, private readonly counters: () => Record<string, number>) {}

  // Text/event-stream to `res` until either side closes; false when there are too many clients.
  open(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): boolean {
    if (this.clients.size >= MAX_CLIENTS) {
      this.count.refused++;
      return false;
    }
    res.writeHead(200, { ...headers, "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    if (this.clients.size === 0) this.store.takeChangesFromNow();
    this.clients.add(res);
    this.count.connected++;
    const gone = (): void => void this.clients.delete(res);
    req.on("close", gone);
    res.on("error", gone);
    this.timer ??= setInterval(() => this.flush(), FLUSH_MS).unref();
    return true;
  }

  get wantsEvents(): boolean {
    return this.clients.size > 0;
  }

  event(seq: number): void {
    if (this.clients.size === 0) return;
    if (this.events.length < EVENTS_PER_FLUSH) {
      this.events.push(seq);
      return;
    }
    this.events[this.eventsHead] = seq;
    this.eventsHead = (this.eventsHead + 1) % EVENTS_PER_FLUSH;
    this.count.eventsSkipped++;
  }

  // Writes what gathered to every client; drops the ones that do not keep up.
  flush(): void {
    this.flushes++;
    const parts = [...this.callUpdates(), ...this.eventUpdates()];
    if (this.flushes % COUNTERS_EVERY_FLUSHES === 0 && this.clients.size > 0) {
      parts.push(`event: counters\ndata: ${JSON.stringify(this.counters())}\n\n`);
    }
    if (this.flushes % KEEPALIVE_FLUSHES === 0) parts.push(": keepalive\n\n");
    if (parts.length === 0) return;
    const chunk = Buffer.from(parts.join(""));
    for (const client of this.clients) this.send(client, chunk);
  }

  clientCount(): number {
    return this.clients.size;
  }

  stats(): Record<string, number> {
    return { http_sse_clients: this.clients.size, http_sse_connected: this.count.connected, http_sse_dropped: this.count.dropped,
      http_sse_refused: this.count.refused, http_sse_events_skipped: this.count.eventsSkipped };
  }

  // What gathered since the last flush is sent first: a replay shorter than FLUSH_MS, or the last
  // moments of a longer one, reach the pages before their streams end.
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  private callUpdates(): string[] {
    if (this.clients.size === 0) return [];
    return this.store.changedCalls(CALLS_PER_FLUSH).map((call) => `event: call\ndata: ${JSON.stringify(callSummary(call))}\n\n`);
  }

  // The events' text read now; one the window let go since (a flood of calls) is skipped and counted.
  private eventUpdates(): string[] {
    const ordered = [...this.events.slice(this.eventsHead), ...this.events.slice(0, this.eventsHead)];
    this.events = [];
    this.eventsHead = 0;
    const updates: string[] = [];
    for (const seq of ordered) {
      const json = this.store.eventText(seq);
      if (json === undefined) this.count.eventsSkipped++;
      else updates.push(`event: sip\ndata: ${json}\n\n`);
    }
    return updates;
  }

  private send(client: ServerResponse, chunk: Buffer): void {
    if (client.writableLength + chunk.length > CLIENT_BUFFER_BYTES) {
      this.clients.delete(client);
      this.count.dropped++;
      client.destroy();
      return;
    }
    client.write(chunk);
  }
}
