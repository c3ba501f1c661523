// The JSON API behind the page (docs/http.md): the calls in the window, one
// call with its messages whole and its events, the registrations, the
// counters, the last events; and the control surface, which answers only a
// request carrying the --http-token-file token (auth.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import { isoTime } from "../calls/events";
import { messageCount, type CallStore, type StoredCall } from "./store";
import type { TokenGuard } from "./auth";
import type { Controls } from "./control";

export interface ApiContext {
  store: CallStore;
  guard: TokenGuard;
  controls: Controls;
  counters(): Record<string, number>;
}

export interface Reply {
  status: number;
  body: string;
}

const BODY_MAX_BYTES = 64 * 1024;
const READ_ONLY = "read-only: this server was started without --http-token-file FILE, so nothing can be changed";
const NO_RECORDER = "recording not enabled: start with --record DIR";
const NO_CAPTURE = "no live capture to filter: the BPF is replaced only in 'siphon capture'";
const NO_EVENTS = "no event blocklist: this run has no call events";

export function json(status: number, value: unknown): Reply {
  return { status, body: JSON.stringify(value) };
}

function problem(status: number, error: string): Reply {
  return json(status, { error });
}

export function callSummary(call: StoredCall): Record<string, unknown> {
  return {
    id: call.id, method: call.method, state: call.state, from: call.from, to: call.to,
    start: isoTime(call.start), last: isoTime(call.last), duration: call.duration, pdd: call.pdd,
    status: call.status, reason: call.reason, rtp: call.rtp, messages: messageCount(call) + call.messagesDropped,
    recordings: call.recordings,
  };
}


// GET requests; undefined for a path that is not the API's. `/api/calls?id=ID` is
// `/api/calls/ID` for a Call-ID a browser cannot put in a path: '.' and '..' (valid Call-IDs)
// are dot segments, which it drops (even as %2E%2E), so the page names calls in the query.
export function read(path: string, ctx: ApiContext, query = new URLSearchParams()): Reply | undefined {
  const { store } = ctx;
  const id = query.get("id");
  if (path === "/api/calls" && id !== null) return oneCall(id, store);
  if (path === "/api/calls") return json(200, { calls: store.callList().map(callSummary), limits: store.limits, counters: store.counters() });
  if (path.startsWith("/api/calls/")) return oneCall(decodeSegment(path.slice("/api/calls/".length)), store);
  if (path === "/api/registrations") return json(200, { registrations: store.registrationList() });
  if (path === "/api/counters") return json(200, ctx.counters());
  if (path === "/api/events") return { status: 200, body: `{"events":[${store.events().join(",")}]}` };
  if (path === "/api/control") return json(200, controlState(ctx));
  return undefined;
}

function oneCall(id: string | undefined, store: CallStore): Reply {
  const call = id === undefined ? undefined : store.call(id);
  if (call === undefined) return problem(404, "no such call in the window (it may have been evicted: see http_calls_evicted)");
  const head = JSON.stringify({ call: callSummary(call), messages: store.messagesOf(call).map((m) => ({ ...m, time: isoTime(m.time) })), messagesDropped: call.messagesDropped });
  return { status: 200, body: `${head.slice(0, -1)},"events":[${store.eventsOf(call).join(",")}]}` };
}

// A path segment percent-decoded; undefined when it is not valid percent-encoding.
export function decodeSegment(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

export function controlState(ctx: ApiContext): Record<string, unknown> {
  const { blocklist, capture, recordings } = ctx.controls;
  return {
    control: ctx.guard.enabled,
    message: ctx.guard.enabled ? "control needs the token: Authorization: Bearer TOKEN" : READ_ONLY,
    blocklist: blocklist ? { types: blocklist.types(), blocked: blocklist.blocked() } : null,
    capture: capture ? { filter: capture.filter() } : null,
    recordings: recordings ? recordings.active() : null,
  };
}

// POST /api/control/...: the token first, then the change.
export async function control(req: IncomingMessage, path: string, ctx: ApiContext): Promise<Reply> {
  const verdict = ctx.guard.check(req);
  if (verdict === "read-only") return problem(403, READ_ONLY);
  if (verdict === "no-token") return problem(401, "control needs the token: send Authorization: Bearer TOKEN");
  if (verdict === "wrong-token") return problem(401, "wrong token: refused and counted");
  let body: Record<string, unknown>;
  try {
    body = await jsonBody(req);
  } catch (err) {
    return problem(400, (err as Error).message);
  }
  try {
    return change(path, body, ctx);
  } catch (err) {
    return problem(400, (err as Error).message);
  }
}

function change(path: string, body: Record<string, unknown>, ctx: ApiContext): Reply {
  const { blocklist, capture, recordings } = ctx.controls;
  if (path === "/api/control/blocklist") {
    if (!blocklist) return problem(501, NO_EVENTS);
    for (const type of stringList(body.block, "block")) blocklist.block(type);
    for (const type of stringList(body.unblock, "unblock")) blocklist.unblock(type);
    return json(200, controlState(ctx));
  }
  if (path === "/api/control/bpf") {
    if (!capture) return problem(501, NO_CAPTURE);
    if (typeof body.filter !== "string") return problem(400, "give the new BPF as {\"filter\": \"udp port 5060\"}");
    capture.setFilter(body.filter);
    return json(200, controlState(ctx));
  }
  if (path === "/api/control/recordings") {
    if (!recordings) return problem(501, NO_RECORDER);
    if (typeof body.address !== "string" || body.address === "") return problem(400, "give {\"address\": \"IP\", \"action\": \"start\" or \"stop\"}");
    if (body.action === "start") recordings.start(body.address);
    else if (body.action === "stop") {
      if (!recordings.stop(body.address)) return problem(404, `no recording of ${body.address} is active`);
    } else return problem(400, "action must be \"start\" or \"stop\"");
    return json(200, controlState(ctx));
  }
  return problem(404, "no such control: /api/control/blocklist, /api/control/bpf or /api/control/recordings");
}

function stringList(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new Error(`${name} must be a list of event types`);
  return value as string[];
}

// A JSON object of at most BODY_MAX_BYTES.
async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_MAX_BYTES) throw new Error(`the request body is over ${BODY_MAX_BYTES} bytes`);
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  } catch {
    throw new Error("the request body is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("the request body must be a JSON object");
  return parsed as Record<string, unknown>;
}

export function send(res: ServerResponse, reply: Reply, headers: Record<string, string>): void {
  res.writeHead(reply.status, { ...headers, "content-type": "application/json; charset=utf-8" }).end(reply.body);
}
