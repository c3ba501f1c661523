// What the call tracker holds per entry: its tables filled to 100,000 calls,
// transactions and bindings (never answered INVITEs, never answered REGISTERs,
// registrations that stay bound), the JavaScript heap measured after a full GC
// before and after, divided by the entries held. Strings as long as a typical
// phone's (docs/events.md gives the figures). Run through bench/tracker-memory.mjs.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Tracker } from "../host/calls/tracker";
import type { Observed } from "../host/calls/message";

const HELD = 100_000;
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0) * 1000;
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

// A message as the core gives it, every string its own copy (as decoded from each packet).
function message(i: number, method: string, extra: Partial<Observed> = {}): Observed {
  const n = String(i).padStart(7, "0");
  return {
    timeUs: T0 + i * 10, src: { ip: `10.1.${(i >> 8) & 255}.${i & 255}`, port: 5060 }, dst: { ip: "192.0.2.10", port: 5060 },
    transport: "udp", isRequest: true, method, status: 0, reason: "", callId: `${n}-5f1c2a9e8b7d4c3a@10.1.2.3`, callKey: i + 1, cseq: 1,
    from: `"Extension ${n}" <sip:${n}@pbx.example.com>;tag=${n}a8f3c2`, fromTag: `${n}a8f3c2`, to: `<sip:${n}@pbx.example.com>`, toTag: "",
    contact: `<sip:${n}@10.1.2.3:5060;transport=udp>`, expires: 3600, userAgent: `Yealink SIP-T46U 108.86.0.${i % 100}`,
    reasonHeader: "", xCid: "", sessionId: "", chargingVector: "", problems: 0, ...extra,
  };
}

function perEntry(what: string, fill: (tracker: Tracker, i: number) => void, held: (tracker: Tracker) => number): string {
  const tracker = new Tracker(() => undefined, { countersSeconds: 0, maxCalls: HELD, maxTransactions: HELD, maxBindings: HELD });
  const before = heapAfterGc();
  for (let i = 0; i < HELD; i++) fill(tracker, i);
  const bytes = (heapAfterGc() - before) / held(tracker);
  return `${what}: ${held(tracker)} held, ${Math.round(bytes)} bytes each`;
}

export function main(): void {
  console.log(perEntry("calls (INVITE, no response)", (t, i) => t.observe(message(i, "INVITE")), (t) => t.counters().calls_held));
  console.log(perEntry("transactions (REGISTER, no response)", (t, i) => t.observe(message(i, "REGISTER")), (t) => t.counters().transactions_held));
  console.log(perEntry("bindings (REGISTER answered 200, transactions lingering too)", (t, i) => {
    t.observe(message(i, "REGISTER"));
    t.observe(message(i, "REGISTER", { isRequest: false, status: 200, reason: "OK", timeUs: T0 + i * 10 + 5, toTag: "r1", userAgent: "" }));
  }, (t) => t.counters().bindings_held));
}
