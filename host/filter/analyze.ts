// From s-expressions to a checked filter tree: every function name, argument
// count and argument type is checked here, and every regular expression is
// compiled to its automaton, so a filter that gets past this step runs.
import { INDEXED_HEADERS, INDEXED_HEADERS_COMPACT } from "../core/records";
import { FilterError, Locator, suggestion, type Position } from "./errors";
import { describe, type Node, type StringNode } from "./syntax";
import { parseRegex, RegexSyntaxError } from "./regex";
import { compileRegex, AutomatonLimitError, type Automaton } from "./automaton";
import { parseNetwork, type Network } from "./network";

export interface Header {
  name: string;  // as written
  id: number;    // the tokenizer's H_* id, 0 for any other header
}

export interface Pattern {
  source: string;
  automaton: Automaton;
}

export interface StatusCodes {
  low: number;
  high: number;
  text: string; // "486" or "4xx"
}

export type Transport = "udp" | "tcp" | "ws";

// Functions that read one header by regular expression; all but "header" are
// shorthands for it.
export type HeaderFunction = "header" | "to" | "from" | "call-id" | "user-agent";

export type Filter =
  | { kind: "true" }
  | { kind: "request" }
  | { kind: "response" }
  | { kind: "has-sdp" }
  | { kind: "method"; methods: string[] }
  | { kind: "status"; codes: StatusCodes[] }
  | { kind: "hasheader"; header: Header }
  | { kind: "header"; fn: HeaderFunction; header: Header; pattern: Pattern }
  | { kind: "body"; pattern: Pattern }
  | { kind: "message"; pattern: Pattern }
  | { kind: "address"; side: "src" | "dst"; network: Network; port?: number }
  | { kind: "port"; ports: number[] }
  | { kind: "transport"; transports: Transport[] }
  | { kind: "all"; items: Filter[] }
  | { kind: "any"; items: Filter[] }
  | { kind: "not"; item: Filter };

// The methods gopacket (and so sip-capture) knows; a bare word must be one of
// them, so a typo is caught. Any other method can still be given quoted.
export const KNOWN_METHODS = [
  "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
  "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
];

const TRANSPORTS: Transport[] = ["udp", "tcp", "ws"];

// RFC 3261 §25.1 token characters: what a method or header name may contain.
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

interface Call {
  name: string;
  at: Position;     // of the function name
  args: Node[];
}

interface FunctionSpec {
  usage: string;
  min: number;
  max: number;
  build(call: Call, a: Analyzer): Filter;
}

const FUNCTIONS: Record<string, FunctionSpec> = {
  request: { usage: "request", min: 0, max: 0, build: () => ({ kind: "request" }) },
  response: { usage: "response", min: 0, max: 0, build: () => ({ kind: "response" }) },
  "has-sdp": { usage: "has-sdp", min: 0, max: 0, build: () => ({ kind: "has-sdp" }) },
  method: {
    usage: "(method NAME ...)", min: 1, max: Infinity,
    build: (c, a) => ({ kind: "method", methods: c.args.map((n) => a.method(n)) }),
  },
  status: {
    usage: "(status CODE|CLASS ...), e.g. (status 200 4xx)", min: 1, max: Infinity,
    build: (c, a) => ({ kind: "status", codes: c.args.map((n) => a.status(n)) }),
  },
  hasheader: {
    usage: "(hasheader NAME)", min: 1, max: 1,
    build: (c, a) => ({ kind: "hasheader", header: a.header(c.args[0]) }),
  },
  header: {
    usage: "(header NAME \"REGEX\")", min: 2, max: 2,
    build: (c, a) => ({ kind: "header", fn: "header", header: a.header(c.args[0]), pattern: a.pattern(c.args[1]) }),
  },
  body: {
    usage: "(body \"REGEX\")", min: 1, max: 1,
    build: (c, a) => ({ kind: "body", pattern: a.pattern(c.args[0]) }),
  },
  message: {
    usage: "(message \"REGEX\")", min: 1, max: 1,
    build: (c, a) => ({ kind: "message", pattern: a.pattern(c.args[0]) }),
  },
  src: {
    usage: "(src ADDRESS[/PREFIX] [PORT])", min: 1, max: 2,
    build: (c, a) => a.address("src", c.args),
  },
  dst: {
    usage: "(dst ADDRESS[/PREFIX] [PORT])", min: 1, max: 2,
    build: (c, a) => a.address("dst", c.args),
  },
  port: {
    usage: "(port NUMBER ...)", min: 1, max: Infinity,
    build: (c, a) => ({ kind: "port", ports: c.args.map((n) => a.port(n)) }),
  },
  transport: {
    usage: "(transport udp|tcp|ws ...)", min: 1, max: Infinity,
    build: (c, a) => ({ kind: "transport", transports: c.args.map((n) => a.transport(n)) }),
  },
  all: {
    usage: "(all FILTER ...)", min: 1, max: Infinity,
    build: (c, a) => ({ kind: "all", items: c.args.map((n) => a.filter(n)) }),
  },
  any: {
    usage: "(any FILTER ...)", min: 1, max: Infinity,
    build: (c, a) => ({ kind: "any", items: c.args.map((n) => a.filter(n)) }),
  },
  not: {
    usage: "(not FILTER)", min: 1, max: 1,
    build: (c, a) => ({ kind: "not", item: a.filter(c.args[0]) }),
  },
};
FUNCTIONS.methods = { ...FUNCTIONS.method, usage: "(methods NAME ...)" };
// (to re) is (header "to" re), and so on: every instance of the header counts.
for (const fn of ["to", "from", "call-id", "user-agent"] as const) {
  FUNCTIONS[fn] = {
    usage: `(${fn} "REGEX")`, min: 1, max: 1,
    build: (c, a) => ({ kind: "header", fn, header: { name: fn, id: headerId(fn) }, pattern: a.pattern(c.args[0]) }),
  };
}

export const FUNCTION_NAMES = Object.keys(FUNCTIONS);

// The checked tree of a parsed expression; `source` gives errors their positions.
export function analyze(node: Node | undefined, source: string): Filter {
  if (node === undefined) return { kind: "true" };
  return new Analyzer(source).filter(node);
}

// The tokenizer's id for a header name, long or compact form, any case.
export function headerId(name: string): number {
  const lower = name.toLowerCase();
  const long = INDEXED_HEADERS.indexOf(lower);
  if (long > 0) return long;
  const compact = lower.length === 1 ? INDEXED_HEADERS_COMPACT.indexOf(lower) : -1;
  return compact > 0 ? compact : 0;
}

class Analyzer {
  private readonly locator: Locator;

  constructor(source: string) {
    this.locator = new Locator(source);
  }

  filter(node: Node): Filter {
    if (node.kind === "word") return this.call({ name: node.text, at: node.at, args: [] });
    if (node.kind !== "list") {
      throw new FilterError(`expected a filter, found ${describe(node)}`, node.at, "a filter is a word such as request or a list such as (status 200)");
    }
    const [head, ...args] = node.items;
    if (head === undefined) {
      throw new FilterError("empty list: expected a function name after '('", node.at, "e.g. (method invite); the empty filter is written as nothing at all");
    }
    if (head.kind !== "word") {
      throw new FilterError(`expected a function name after '(', found ${describe(head)}`, head.at, `functions: ${FUNCTION_NAMES.join(", ")}`);
    }
    return this.call({ name: head.text, at: head.at, args });
  }

  private call(c: Call): Filter {
    const name = c.name.toLowerCase();
    const spec = Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined;
    if (!spec) throw new FilterError(`unknown function '${c.name}'`, c.at, suggestion(c.name, FUNCTION_NAMES, "functions"));
    const n = c.args.length;
    if (n < spec.min) {
      throw new FilterError(`'${name}' needs ${countText(spec.min, spec.max)}, got ${n}`, c.at, `usage: ${spec.usage}`);
    }
    if (n > spec.max) {
      throw new FilterError(`'${name}' takes ${countText(spec.min, spec.max)}, got ${n}`, c.args[spec.max].at, `usage: ${spec.usage}`);
    }
    return spec.build({ ...c, name }, this);
  }

  method(node: Node): string {
    if (node.kind === "word") {
      const upper = node.text.toUpperCase();
      if (KNOWN_METHODS.includes(upper)) return upper;
      const nearest = suggestion(node.text, KNOWN_METHODS, "known methods");
      throw new FilterError(`unknown SIP method '${node.text}'`, node.at,
        `${nearest}${nearest.endsWith("?") ? "" : "."} An extension method must be quoted: "${upper}"`);
    }
    if (node.kind === "string") {
      if (TOKEN.test(node.text)) return node.text.toUpperCase();
      throw new FilterError(`${describe(node)} is not a method name (letters, digits and -.!%*_+\`'~)`, node.at);
    }
    throw new FilterError(`expected a method name, found ${describe(node)}`, node.at, "e.g. (method invite bye)");
  }

  status(node: Node): StatusCodes {
    if (node.kind === "number") {
      if (node.value < 100 || node.value > 699) {
        throw new FilterError(`status code ${node.text} is outside 100 to 699`, node.at);
      }
      return { low: node.value, high: node.value, text: node.text };
    }
    if (node.kind === "word" && /^[1-6]xx$/i.test(node.text)) {
      const low = Number(node.text[0]) * 100;
      return { low, high: low + 99, text: node.text.toLowerCase() };
    }
    throw new FilterError(`expected a status code (100 to 699) or a class such as 4xx, found ${describe(node)}`, node.at);
  }

  header(node: Node): Header {
    if (node.kind !== "word" && node.kind !== "string") {
      throw new FilterError(`expected a header name, found ${describe(node)}`, node.at, "e.g. (hasheader \"P-Asserted-Identity\")");
    }
    if (!TOKEN.test(node.text)) {
      throw new FilterError(`${describe(node)} is not a header name (letters, digits and -.!%*_+\`'~)`, node.at);
    }
    return { name: node.text, id: headerId(node.text) };
  }

  pattern(node: Node): Pattern {
    if (node.kind !== "string") {
      const hint = node.kind === "list" ? "quote the regular expression" : `write "${node.kind === "word" || node.kind === "number" ? node.text : ""}"`;
      throw new FilterError(`expected a quoted regular expression, found ${describe(node)}`, node.at, hint);
    }
    try {
      return { source: node.text, automaton: compileRegex(parseRegex(node.text)) };
    } catch (err) {
      if (err instanceof RegexSyntaxError) {
        throw new FilterError(`bad regular expression: ${err.message}`, this.positionInString(node, err.index));
      }
      if (err instanceof AutomatonLimitError) throw new FilterError(err.message, node.at);
      throw err;
    }
  }

  // Where the index-th character of a string's text was written in the source.
  private positionInString(node: StringNode, index: number): Position {
    const last = node.offsets.length > 0 ? node.offsets[node.offsets.length - 1] : node.at.offset;
    const offset = index < node.offsets.length ? node.offsets[index] : last + 1; // the closing quote
    return this.locator.at(offset);
  }

  address(side: "src" | "dst", args: Node[]): Filter {
    const [where, portNode] = args;
    if (where.kind !== "word" && where.kind !== "string") {
      throw new FilterError(`expected an IP address or network, found ${describe(where)}`, where.at, "e.g. 192.0.2.0/24 or 2001:db8::/32");
    }
    const network = parseNetwork(where.text);
    if (typeof network === "string") throw new FilterError(network, where.at, "e.g. 192.0.2.1, 192.0.2.0/24 or 2001:db8::/32");
    if (portNode === undefined) return { kind: "address", side, network };
    return { kind: "address", side, network, port: this.port(portNode) };
  }

  port(node: Node): number {
    if (node.kind !== "number") throw new FilterError(`expected a port number, found ${describe(node)}`, node.at);
    if (node.value > 65535) throw new FilterError(`port ${node.text} is outside 0 to 65535`, node.at);
    return node.value;
  }

  transport(node: Node): Transport {
    if (node.kind === "word" || node.kind === "string") {
      const lower = node.text.toLowerCase();
      const known = TRANSPORTS.find((t) => t === lower);
      if (known) return known;
      throw new FilterError(`unknown transport '${node.text}'`, node.at, suggestion(node.text, TRANSPORTS, "transports"));
    }
    throw new FilterError(`expected a transport (udp, tcp or ws), found ${describe(node)}`, node.at);
  }
}

function countText(min: number, max: number): string {
  const args = (n: number): string => `${n} argument${n === 1 ? "" : "s"}`;
  if (max === 0) return "no arguments";
  if (min === max) return args(min);
  if (max === Infinity) return `at least ${args(min)}`;
  return `${min} or ${args(max)}`;
}
