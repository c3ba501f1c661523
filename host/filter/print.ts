// The checked filter written back as an expression, in a canonical form (names
// in one case, (methods ...) as (method ...)), and the report `siphon filter
// check` prints: the expression and what it costs.
import type { Filter, Pattern } from "./analyze";
import { KNOWN_METHODS } from "./analyze";
import { TYPICAL, scannedParts, typicalSteps } from "./cost";

const LINE = 80;

export function printFilter(f: Filter, indent = ""): string {
  const flat = flatText(f);
  if (flat.length + indent.length <= LINE || !hasChildren(f)) return flat;
  const inner = indent + "  ";
  const items = f.kind === "not" ? [f.item] : f.kind === "all" || f.kind === "any" ? f.items : [];
  return `(${f.kind}\n${items.map((item) => inner + printFilter(item, inner)).join("\n")})`;
}

function hasChildren(f: Filter): boolean {
  return f.kind === "all" || f.kind === "any" || f.kind === "not";
}

function flatText(f: Filter): string {
  switch (f.kind) {
    case "true": return "";
    case "request": case "response": case "has-sdp": return f.kind;
    case "method": return `(method ${f.methods.map((m) => (KNOWN_METHODS.includes(m) ? m : quote(m))).join(" ")})`;
    case "status": return `(status ${f.codes.map((c) => c.text).join(" ")})`;
    case "hasheader": return `(hasheader ${quote(f.header.name)})`;
    case "header":
      return f.fn === "header"
        ? `(header ${quote(f.header.name)} ${quote(f.pattern.source)})`
        : `(${f.fn} ${quote(f.pattern.source)})`;
    case "body": case "message": return `(${f.kind} ${quote(f.pattern.source)})`;
    case "address": return `(${f.side} ${f.network.text}${f.port === undefined ? "" : ` ${f.port}`})`;
    case "port": return `(port ${f.ports.join(" ")})`;
    case "transport": return `(transport ${f.transports.join(" ")})`;
    case "not": return `(not ${flatText(f.item)})`;
    case "all": case "any": return `(${f.kind} ${f.items.map(flatText).join(" ")})`;
  }
}

// A string as the parser reads it back: only a quote needs its backslash.
function quote(s: string): string {
  return `"${s.replace(/"/g, '\\"')}"`;
}

export function patternsOf(f: Filter): Pattern[] {
  switch (f.kind) {
    case "header": case "body": case "message": return [f.pattern];
    case "not": return patternsOf(f.item);
    case "all": case "any": return f.items.flatMap(patternsOf);
    default: return [];
  }
}

// The lines of `siphon filter check`.
export function checkReport(f: Filter, programBytes: number): string {
  const printed = f.kind === "true" ? "(the empty filter: every message matches)" : printFilter(f);
  const patterns = patternsOf(f);
  const states = patterns.reduce((sum, p) => sum + p.automaton.states, 0);
  const scanned = scannedParts(f);
  const lines = [
    printed,
    `cost: about ${plural(typicalSteps(f), "step")} per typical message (${TYPICAL.headers} header fields, ` +
      `${TYPICAL.headerValue}-byte values, ${TYPICAL.body}-byte body, ${TYPICAL.message} bytes in all)`,
  ];
  if (scanned.length > 0) lines.push(`  regular expressions read, one step per byte: ${scanned.join(", ")}`);
  lines.push(`  ${patterns.length} automat${patterns.length === 1 ? "on" : "a"}, ${plural(states, "state")}; program ${programBytes} bytes`);
  return lines.join("\n") + "\n";
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
