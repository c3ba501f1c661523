// What the page and the API read of the store, as the text they are sent as. The same
// answers come from a store in this thread (localReads) or from one in the store's worker
// thread (remote.ts, which asks store-worker.ts to run `answer`): the server, the API and
// live updates only ever see StoreReads.
import { isoTime } from "../calls/events";
import { messageCount, type CallStore, type StoredCall, type StoreListener } from "./store";

export const NO_SUCH_CALL = "no such call in the window (it may have been evicted: see http_calls_evicted)";

export interface Reply {
  status: number;
  body: string;
}

export interface StoreReads {
  read(question: Question): Promise<Answer>;
  // The store's counters (http_calls_held ...): from a worker's store, as of the last batch it took.
  counters(): Record<string, number>;
  // Resolves once the store has taken everything handed to it before.
  settled(): Promise<void>;
  // Told of each event as it is handed to the store (live updates).
  listen(listener: StoreListener): void;
}

export type Question =
  | { op: "calls" }                                  // GET /api/calls
  | { op: "call"; id: string }                       // GET /api/calls/{id}
  | { op: "registrations" }
  | { op: "events" }
  | { op: "recording"; id: string; n: number }       // a path an event of the call named
  | { op: "changed"; most: number }                  // live updates: the calls that changed, as JSON
  | { op: "changes-from-now" }
  | { op: "counters" };

export type Answer = Reply | string | string[] | Record<string, number> | undefined;

export function json(status: number, value: unknown): Reply {
  return { status, body: JSON.stringify(value) };
}

export function callSummary(call: StoredCall): Record<string, unknown> {
  return {
    id: call.id, method: call.method, state: call.state, from: call.from, to: call.to,
    start: isoTime(call.start), last: isoTime(call.last), duration: call.duration, pdd: call.pdd,
    status: call.status, reason: call.reason, rtp: call.rtp, messages: messageCount(call) + call.messagesDropped,
    recordings: call.recordings,
  };
}

export function answer(store: CallStore, q: Question): Answer {
  switch (q.op) {
    case "calls": return json(200, { calls: store.callList().map(callSummary), limits: store.limits, counters: store.counters() });
    case "call": return oneCall(store, q.id);
    case "registrations": return json(200, { registrations: store.registrationList() });
    case "events": return { status: 200, body: `{"events":[${store.events().join(",")}]}` };
    case "recording": return store.call(q.id)?.recordings[q.n];
    case "changed": return store.changedCalls(q.most).map((call) => JSON.stringify(callSummary(call)));
    case "changes-from-now":
      store.takeChangesFromNow();
      return undefined;
    case "counters": return store.counters();
  }
}

function oneCall(store: CallStore, id: string): Reply {
  const call = store.call(id);
  if (call === undefined) return json(404, { error: NO_SUCH_CALL });
  const head = JSON.stringify({ call: callSummary(call), messages: store.messagesOf(call).map((m) => ({ ...m, time: isoTime(m.time) })), messagesDropped: call.messagesDropped });
  return { status: 200, body: `${head.slice(0, -1)},"events":[${store.eventsOf(call).join(",")}]}` };
}

// A store in this thread (--anonymize, whose keys stay in the main thread; the tests).
export function localReads(store: CallStore): StoreReads {
  return { read: async (q) => answer(store, q), counters: () => store.counters(), settled: async () => undefined, listen: (l) => store.listen(l) };
}
