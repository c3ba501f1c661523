// The JSON API behind the page (docs/http.md): the calls in the window, one
// call with its messages whole and its events, the registrations, the
// counters, the last events; and the control surface, which answers only a
// request carrying the --http-token-file token (auth.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import { json, NO_SUCH_CALL, type Reply, type StoreReads } from "./reads";
import type { TokenGuard } from "./auth";
import type { Controls } from "./control";

export interface ApiContext {
  store: StoreReads;
  guard: TokenGuard;
  controls: Controls;
  counters(): Record<string, number>;
}

export type { Reply } from "./reads";

const BODY_MAX_BYTES = 64 * 1024;
const READ_ONLY = "read-only: this server was started without --http-token-file FILE, so nothing can be changed";
const NO_RECORDER = "recording not enabled: start with --record DIR";
const NO_CAPTURE = "no live capture to filter: the BPF is replaced only in 'siphon capture'";
const NO_EVENTS = "no event blocklist: this run has no call events";

function problem(status: number, error: string): Reply {
  return json(status, { error });
}

// GET requests; undefined for a path that is not the API's.
export async function read(path: string, ctx: ApiContext): Promise<Reply | undefined> {
  const { store } = ctx;
  if (path === "/api/calls") return await store.read({ op: "calls" }) as Reply;
  if (path.startsWith("/api/calls/")) {
    const id = decodeSegment(path.slice("/api/calls/".length));
    return id === undefined ? problem(404, NO_SUCH_CALL) : await store.read({ op: "call", id }) as Reply;
  }
  if (path === "/api/registrations") return await store.read({ op: "registrations" }) as Reply;
  if (path === "/api/counters") {
    await store.settled();
    return json(200, ctx.counters());
  }
  if (path === "/api/events") return await store.read({ op: "events" }) as Reply;
  if (path === "/api/control") return json(200, controlState(ctx));
  return undefined;
}

function decodeSegment(text: string): string | undefined {
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
