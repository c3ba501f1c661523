// What a filter costs per message, estimated on a typical message. It orders
// the tests inside (all ...) and (any ...) cheapest first (the tests have no side
// effects, so the order changes only the time) and `siphon filter check` prints it.
import type { Filter } from "./analyze";

// A typical SIP message, from the bench workload: header fields, bytes in one
// header value, in the body, in the whole message.
export const TYPICAL = { headers: 12, headerValue: 40, body: 300, message: 800 };

// Steps of the core's VM: one per instruction, per header field looked at and
// per byte an automaton reads.
export function typicalSteps(f: Filter): number {
  switch (f.kind) {
    case "true": case "request": case "response": case "transport": return 1;
    case "has-sdp": return 3;
    case "address": return 2;
    case "method": return 1 + f.methods.length;
    case "status": return 1 + f.codes.length;
    case "port": return 1 + f.ports.length;
    case "hasheader": return 1 + TYPICAL.headers;
    case "header": return 1 + TYPICAL.headers + TYPICAL.headerValue;
    case "body": return 1 + TYPICAL.body;
    case "message": return 1 + TYPICAL.message;
    case "not": return 1 + typicalSteps(f.item);
    case "all": case "any": return f.items.reduce((sum, item) => sum + 1 + typicalSteps(item), 0);
  }
}

// What the regular expressions read, one step per byte: "the body", "the whole
// message", "each To header".
export function scannedParts(f: Filter): string[] {
  switch (f.kind) {
    case "header": return [`each ${f.header.name} header`];
    case "body": return ["the body"];
    case "message": return ["the whole message"];
    case "not": return scannedParts(f.item);
    case "all": case "any": return [...new Set(f.items.flatMap(scannedParts))];
    default: return [];
  }
}

// The same list, cheapest first; equal costs keep their written order.
export function cheapestFirst(items: Filter[]): Filter[] {
  return items
    .map((item, index) => ({ item, index, cost: typicalSteps(item) }))
    .sort((a, b) => a.cost - b.cost || a.index - b.index)
    .map((entry) => entry.item);
}
