// Every option of the run commands, in one table: its flag, its SIPHON_*
// environment variable, its key in a config file, its type, default and help.
// A value comes from the first of: the command line, the environment, the
// config file (--config FILE or SIPHON_CONFIG), the default. To add an option,
// add a row to OPTIONS (and, if it constrains others, a rule to checkOptions).
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { maskUrlPasswords } from "../redact";
import { UsageError } from "../exits";
import { boundedNumber, type Bounds } from "../bounds";

// "integer": a whole number (counts, bytes, ports, whole seconds); "number": a decimal
// that may have a fraction. Both need `min`, `max` and `unit`: every number a user
// gives is bounded, so none can wrap, trap or size something past the core's memory.
export type OptionType = "string" | "boolean" | "integer" | "number";
export type Value = string | number | boolean;

export interface OptionSpec {
  name: string;              // the flag without "--"; SIPHON_ + NAME_IN_CAPS; the config file key
  type: OptionType;
  help: string;
  group: string;             // the heading it is listed under in --help
  short?: string;
  default?: Value;
  arg?: string;              // the placeholder in --help ("URL", "N")
  secret?: boolean;          // masked when the configuration is printed
  choices?: readonly Value[];
  min?: number;              // integers and numbers: the least accepted value
  max?: number;              // integers and numbers: the greatest accepted value
  unit?: string;             // integers and numbers: what one of it is ("seconds", "flows"), shown with the range
  commands?: readonly string[]; // default: every run command
  multiple?: boolean;        // strings and integers: the flag may repeat; the environment and file give a comma-separated list
  bare?: string;             // strings: the value of the flag given without one (--http alone)
}

export const DEFAULT_HTTP_ADDRESS = "127.0.0.1:8080";

export const RUN_COMMANDS = ["replay", "capture", "view"] as const;

// The table, its literal types kept so that an option's name is a type: reading one
// that is not in the table (a typo), or as the wrong type, fails to compile.
const OPTION_TABLE = [
  { name: "config", type: "string", arg: "FILE", group: "General", help: "read options from a JSON file (see docs/configuration.md)" },
  { name: "sensor", type: "string", arg: "NAME", group: "General", help: "the envelope's \"sensor\" field (default: this host's name)" },
  { name: "log-level", type: "string", arg: "LEVEL", group: "General", choices: ["debug", "info", "warn", "error"],
    help: "JSON log lines on stderr at or above LEVEL (default: warn with NDJSON output only, else info)" },
  { name: "log-sip", type: "boolean", group: "General", help: "let debug logs include SIP message content (off: never logged)" },
  { name: "no-progress", type: "boolean", group: "General", help: "no progress line on stderr (it is only ever shown on a terminal)" },
  { name: "keep-traps", type: "string", arg: "DIR", group: "General",
    help: "write each frame that makes the core trap (counted and skipped) to a pcap file in DIR, created if missing" },
  { name: "flush-timeout", type: "number", arg: "SECONDS", default: 10, min: 0, max: 3600, unit: "seconds", group: "General",
    help: "on SIGTERM/SIGINT or at the end, how long outputs may take to deliver what is queued" },

  { name: "filter", type: "string", arg: "EXPR", group: "Filter",
    help: "only the SIP messages the filter selects, e.g. '(all (method invite) (not (src 10.0.0.0/8)))'; docs/filter.md" },
  { name: "filter-file", type: "string", arg: "FILE", group: "Filter", help: "the same, the expression read from FILE" },

  { name: "out", short: "o", type: "string", arg: "FILE", group: "NDJSON output",
    help: "write envelopes to FILE ('-': stdout); the default when no --mqtt or --hep is given is stdout" },
  { name: "stdout-queue-mb", type: "integer", arg: "MB", default: 64, min: 1, max: 4096, unit: "MiB", group: "NDJSON output",
    help: "what stdout (or a FIFO given to --out or --events) holds for a reader that does not keep up: a replay waits past 1 MiB; a live capture cannot wait, and drops (and logs) what does not fit" },

  { name: "mqtt", type: "string", arg: "URL", group: "MQTT output", help: "publish envelopes to a broker: mqtt://, mqtts://, ws:// or wss://host[:port]" },
  { name: "topic", type: "string", arg: "TOPIC", default: "siphon/sip", group: "MQTT output",
    help: "the topic envelopes are published on; {sensor} stands for the sensor's name, e.g. siphon/{sensor}/sip" },
  { name: "client-id", type: "string", arg: "ID", group: "MQTT output", help: "MQTT client id (default: siphon-SENSOR, the --sensor name or this host's, stable across restarts)" },
  { name: "qos", type: "integer", arg: "N", default: 1, min: 0, max: 1, unit: "QoS level", group: "MQTT output", help: "0 (at most once) or 1 (at least once)" },
  { name: "mqtt-version", type: "integer", arg: "V", default: 4, min: 4, max: 5, unit: "protocol level", group: "MQTT output", help: "protocol: 4 (MQTT 3.1.1) or 5" },
  { name: "username", type: "string", arg: "USER", group: "MQTT output", help: "broker user name" },
  { name: "password", type: "string", arg: "PASS", secret: true, group: "MQTT output", help: "broker password (prefer SIPHON_PASSWORD or the config file)" },
  { name: "mqtt-ca", type: "string", arg: "FILE", group: "MQTT output", help: "TLS: CA certificate(s) to trust the broker by (PEM)" },
  { name: "mqtt-cert", type: "string", arg: "FILE", group: "MQTT output", help: "TLS: client certificate (PEM); needs --mqtt-key" },
  { name: "mqtt-key", type: "string", arg: "FILE", group: "MQTT output", help: "TLS: client private key (PEM); needs --mqtt-cert" },
  { name: "mqtt-insecure", type: "boolean", group: "MQTT output", help: "TLS: do not verify the broker's certificate (testing only)" },
  { name: "keepalive", type: "integer", arg: "SECONDS", default: 30, min: 0, max: 65535, unit: "seconds", group: "MQTT output", help: "MQTT keepalive interval" },
  { name: "inflight", type: "integer", arg: "N", default: 4096, min: 1, max: 65535, unit: "messages", group: "MQTT output",
    help: "QoS 1 messages sent and not yet acknowledged, at most (MQTT 5: also the broker's Receive Maximum)" },
  { name: "queue-messages", type: "integer", arg: "N", default: 100000, min: 1, max: 100_000_000, unit: "messages", group: "MQTT output",
    help: "messages held while the broker is away; beyond it the oldest are dropped and counted" },
  { name: "queue-bytes", type: "integer", arg: "BYTES", default: 128 << 20, min: 1, max: 2 ** 34, unit: "bytes", group: "MQTT output", help: "the same bound in bytes" },
  { name: "status-topic", type: "string", arg: "TOPIC", group: "MQTT output",
    help: "retained \"online\"/\"offline\" presence (offline is the last will); {sensor} as in --topic" },
  { name: "telemetry-topic", type: "string", arg: "TOPIC", group: "MQTT output", help: "periodic JSON counters; {sensor} as in --topic" },
  { name: "telemetry-interval", type: "integer", arg: "SECONDS", default: 30, min: 1, max: 86400, unit: "seconds", group: "MQTT output", help: "how often telemetry is published" },

  { name: "hep", type: "string", arg: "URL", group: "HEP output", help: "send HEPv3 to a collector: udp://host:9060 or tcp://host:9061" },
  { name: "hep-id", type: "integer", arg: "N", default: 2001, min: 0, max: 0xffffffff, unit: "agent id", group: "HEP output", help: "HEP capture agent id" },
  { name: "hep-password", type: "string", arg: "KEY", secret: true, group: "HEP output", help: "HEP authentication key" },

  { name: "events", type: "string", arg: "FILE", group: "Call events",
    help: "write call and registration events as NDJSON to FILE ('-': stdout, then envelopes go only to --out); docs/events.md" },
  { name: "events-topic", type: "string", arg: "TOPIC", group: "Call events",
    help: "publish events on TOPIC of the --mqtt broker; {sensor} as in --topic, e.g. siphon/{sensor}/events" },
  { name: "no-events", type: "string", arg: "TYPES", group: "Call events", help: "event types not to report, e.g. msg-probe,other-ok" },
  { name: "event-rate", type: "string", arg: "S,M,H", default: "20,300,3000", group: "Call events",
    help: "per event type and source IP, at most S a second, M a minute, H an hour (0: no limit) of the types a source can provoke" },
  { name: "call-timeout", type: "string", arg: "NAME=SECONDS,...", group: "Call events",
    help: "tracker timeouts: invite, grace, established, linger, transaction, challenge, expiry-grace, counters (docs/events.md)" },
  { name: "call-limit", type: "string", arg: "NAME=N,...", group: "Call events", help: "entries held: calls, bindings, transactions (oldest evicted, counted)" },
  { name: "cdr", type: "string", arg: "URL", group: "Call events", help: "write one call record per finished call to PostgreSQL, e.g. postgres://user@host/db; docs/cdr.md" },

  { name: "record", type: "string", arg: "DIR", group: "Recording",
    help: "record calls into DIR (created if missing): a pcap of each call's SIP and RTP/RTCP packets, a WAV for G.711; docs/recording.md" },
  { name: "record-filter", type: "string", arg: "EXPR", group: "Recording",
    help: "record only the calls whose initial INVITE the filter selects (the --filter language), e.g. '(from \"<sip:10[0-9]{2}@\")'" },
  { name: "record-max-mb", type: "integer", arg: "MB", default: 0, min: 0, max: 16_777_216, unit: "MiB", group: "Recording",
    help: "disk budget for DIR: past it the oldest finished recordings are removed, each counted and logged (0: no budget)" },
  { name: "record-open-files", type: "integer", arg: "N", default: 256, min: 4, max: 65536, unit: "files", group: "Recording",
    help: "recording files held open at once; beyond, the least recently written is closed and reopened when needed" },
  { name: "record-idle", type: "integer", arg: "SECONDS", default: 60, min: 1, max: 86400, unit: "seconds", group: "Recording",
    help: "capture time a recording may go without a packet before it is finished (a call that ends is finished 4 s after)" },

  { name: "anonymize", type: "string", arg: "KEYFILE", group: "Privacy",
    help: "anonymize what leaves the sensor (events, call records, HEP, logs): addresses by Crypto-PAn, users, Call-IDs and tags by keyed pseudonyms, under the key in KEYFILE (64 hex digits, mode 600); docs/privacy.md" },
  { name: "encrypt-fields", type: "boolean", group: "Privacy",
    help: "with --anonymize: each replaced value of events and call records also encrypted (AES-256-GCM) beside it, for 'siphon deanonymize --key KEYFILE'" },
  { name: "anonymize-envelopes", type: "boolean", group: "Privacy",
    help: "with --anonymize: envelopes rewritten too, marked \"anonymized\" (by default they leave as captured)" },
  { name: "http", type: "string", arg: "[ADDR]", bare: DEFAULT_HTTP_ADDRESS, group: "Web view",
    help: `serve the web view, its JSON API, /metrics and /healthz on [HOST:]PORT (${DEFAULT_HTTP_ADDRESS} when given alone); docs/http.md` },
  { name: "http-calls", type: "integer", arg: "N", default: 1000, min: 1, max: 1_000_000, unit: "calls", group: "Web view",
    help: "calls the web view keeps with their messages, the oldest evicted (and counted) beyond" },
  { name: "http-mb", type: "integer", arg: "MB", default: 64, min: 1, max: 4096, unit: "MiB", group: "Web view",
    help: "bytes the web view keeps its messages and events in, in arrival order: the oldest let go beyond, and a call whose first message goes is evicted (and counted)" },
  { name: "http-token-file", type: "string", arg: "FILE", group: "Web view",
    help: "the bearer token (first line of FILE) that unlocks control: event blocklist, BPF, recording; without it the server is read-only" },
  { name: "metrics", type: "string", arg: "ADDR", group: "Web view", help: "serve Prometheus /metrics and /healthz on [HOST:]PORT, e.g. 127.0.0.1:9090: the --http server without the web view (with --http, the same address)" },

  { name: "tcp-flows", type: "integer", arg: "N", default: 65536, min: 0, max: 1 << 20, unit: "flows", group: "TCP streams",
    help: "TCP connections followed at once, the least recently seen evicted beyond (0: each segment framed on its own); docs/network.md" },
  { name: "tcp-buffers", type: "integer", arg: "N", default: 256, min: 1, max: 5000, unit: "buffers", group: "TCP streams",
    help: "partial SIP messages held at once over all connections (192 KiB each, reserved twice over)" },
  { name: "tcp-idle", type: "integer", arg: "SECONDS", default: 300, min: 1, max: 86400, unit: "seconds", group: "TCP streams",
    help: "capture time a silent TCP connection is kept before it is freed" },
  { name: "tcp-partial-idle", type: "integer", arg: "SECONDS", default: 5, min: 1, max: 3600, unit: "seconds", group: "TCP streams",
    help: "capture time a TCP connection may hold a partial SIP message without completing one; then it is given up" },
  { name: "max-body", type: "integer", arg: "BYTES", default: 262144, min: 0, max: 16777216, unit: "bytes", group: "TCP streams",
    help: "the largest body a Content-Length on a TCP stream may claim; a larger claim is a malformed message" },

  { name: "vxlan-port", type: "integer", arg: "PORT", multiple: true, min: 1, max: 65535, unit: "UDP port", group: "Network",
    help: "a UDP port read as VXLAN instead of 4789 (give two for both, e.g. 4789 and 8472); docs/network.md" },
  { name: "defrag-slots", type: "integer", arg: "N", default: 64, min: 0, max: 1024, unit: "datagrams", group: "Network",
    help: "IP datagrams reassembled from fragments at once, the oldest evicted beyond (0: fragments dropped); 64 KiB each" },
  { name: "defrag-timeout", type: "integer", arg: "SECONDS", default: 30, min: 1, max: 3600, unit: "seconds", group: "Network",
    help: "capture time a datagram may wait for its missing fragments" },

  { name: "media-calls", type: "integer", arg: "N", default: 8192, min: 0, max: 1 << 20, unit: "calls", group: "Media",
    help: "calls whose RTP/RTCP is followed at once (loss, jitter), the least recently active evicted beyond (0: media not followed); 1 KiB each; docs/media.md" },
  { name: "media-endpoints", type: "integer", arg: "N", default: 32768, min: 4, max: 1 << 22, unit: "endpoints", group: "Media",
    help: "media addresses and ports from SDP held at once over all calls; 64 bytes each" },
  { name: "media-idle", type: "integer", arg: "SECONDS", default: 300, min: 1, max: 86400, unit: "seconds", group: "Media",
    help: "capture time a call's media may stay silent (no RTP, no SDP) before the call's media is released" },

  { name: "interface", short: "i", type: "string", arg: "IFACE", multiple: true, group: "Live capture", commands: ["capture"],
    help: "capture on IFACE (repeat for several: -i eth0 -i eth1); 'siphon capture --list' names them" },
  { name: "bpf", short: "f", type: "string", arg: "BPF", group: "Live capture", commands: ["capture"],
    help: "libpcap filter, replacing the one built from the configuration (SIP ports, tunnels, fragments)" },
  { name: "sip-port", type: "integer", arg: "PORT", multiple: true, min: 1, max: 65535, unit: "port", group: "Live capture", commands: ["capture"],
    help: "a SIP port the built filter takes besides 5060 and 5061 (repeatable)" },
  // The core takes frames of at most 65535 bytes.
  { name: "snaplen", type: "integer", arg: "BYTES", default: 65535, min: 64, max: 65535, unit: "bytes", group: "Live capture", commands: ["capture"],
    help: "bytes kept of each packet (libpcap's snap length, at most 65535)" },
  { name: "buffer-mb", type: "integer", arg: "MB", default: 32, min: 1, max: 4096, unit: "MiB", group: "Live capture", commands: ["capture"],
    help: "the kernel's capture buffer per interface, in MiB" },
  { name: "promisc", type: "boolean", group: "Live capture", commands: ["capture"],
    help: "promiscuous mode: also packets not addressed to the interface (a mirror port needs it)" },
  { name: "block-timeout", type: "integer", arg: "MS", default: 10, min: 1, max: 1000, unit: "ms", group: "Live capture", commands: ["capture"],
    help: "the kernel hands over a block of packets when it is full or this old (TPACKET_V3); the delay before packets are read" },
  { name: "immediate", type: "boolean", group: "Live capture", commands: ["capture"],
    help: "libpcap's immediate mode: each packet at once, but the buffer holds far fewer (docs/capture.md)" },
  { name: "ignore-outgoing", type: "boolean", group: "Live capture", commands: ["capture"],
    help: "only packets arriving on the interface, none it sends (PACKET_IGNORE_OUTGOING, Linux 4.20)" },
  { name: "user", type: "string", arg: "NAME", group: "Live capture", commands: ["capture"],
    help: "once the interfaces are open, drop root and run as NAME (and its groups)" },
] as const satisfies readonly OptionSpec[];

export const OPTIONS: readonly OptionSpec[] = OPTION_TABLE;

type Row = (typeof OPTION_TABLE)[number];
export type OptionName = Row["name"];
export type NumberOption = Extract<Row, { type: "integer" | "number" }>["name"];
export type StringOption = Extract<Row, { type: "string" }>["name"];
export type BooleanOption = Extract<Row, { type: "boolean" }>["name"];
type DefaultedNumber = Extract<Row, { type: "integer" | "number"; default: number }>["name"];
type DefaultedString = Extract<Row, { type: "string"; default: string }>["name"];

// The default of a number option the table gives one to: for the stages (the core's
// table sizes) that are also used without a command line, so they have the same default.
export function defaultOf(name: DefaultedNumber): number {
  return spec(name).default as number;
}

export type Source = "flag" | "env" | "file" | "default";

export class Config {
  constructor(
    readonly command: string,
    readonly positionals: string[],
    private readonly values: Map<string, { value: Value; source: Source }>,
  ) {}

  has(name: OptionName): boolean {
    return this.values.has(spec(name).name);
  }

  // A string option's value; always a string for one the table gives a default.
  str<N extends StringOption>(name: N): N extends DefaultedString ? string : string | undefined;
  str(name: StringOption): string | undefined {
    const v = this.values.get(spec(name).name)?.value;
    return v === undefined ? undefined : String(v);
  }

  num(name: NumberOption): number {
    const v = this.values.get(spec(name).name)?.value;
    if (typeof v !== "number") throw new Error(`config: option --${name} has no number value`);
    return v;
  }

  // A `multiple` option's values, in the order given.
  list(name: OptionName): string[] {
    const v = this.values.get(spec(name).name)?.value;
    return v === undefined ? [] : String(v).split(",").map((x) => x.trim()).filter((x) => x !== "");
  }

  // Set by the user (flag, environment or file), not a default.
  given(name: OptionName): boolean {
    const entry = this.values.get(spec(name).name);
    return entry !== undefined && entry.source !== "default";
  }

  bool(name: BooleanOption): boolean {
    return this.values.get(spec(name).name)?.value === true;
  }

  // name=value pairs of every option set, secrets and URL passwords masked: the line printed at start.
  printable(): Record<string, Value> {
    const out: Record<string, Value> = {};
    for (const [name, { value }] of this.values) {
      out[name] = spec(name).secret ? "***" : typeof value === "string" ? maskUrlPasswords(value) : value;
    }
    return out;
  }
}

// The table's row for an option.
export function optionSpec(name: OptionName): OptionSpec {
  return spec(name);
}

function spec(name: string): OptionSpec {
  const found = OPTIONS.find((o) => o.name === name);
  if (!found) throw new Error(`config: no option named --${name} in the table`);
  return found;
}

export function envName(name: string): string {
  return `SIPHON_${name.toUpperCase().replace(/-/g, "_")}`;
}

export function optionsFor(command: string): OptionSpec[] {
  return OPTIONS.filter((o) => (o.commands ?? RUN_COMMANDS).includes(command));
}

// The whole resolution: flags, then environment, then file, then defaults; then the rules.
export function loadConfig(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const specs = optionsFor(command);
  const { flags, positionals } = parseFlags(specs, args);
  const values = new Map<string, { value: Value; source: Source }>();
  const configFile = flags.get("config") ?? env.SIPHON_CONFIG;
  const fromFile = configFile === undefined ? new Map<string, unknown>() : readConfigFile(String(configFile), specs);
  for (const s of specs) {
    const flag = flags.get(s.name);
    const envText = env[envName(s.name)];
    let entry: { value: Value; source: Source } | undefined;
    if (flag !== undefined) entry = { value: convert(s, flag, `--${s.name}`), source: "flag" };
    else if (envText !== undefined && envText !== "") entry = { value: convert(s, envText, envName(s.name)), source: "env" };
    else if (fromFile.has(s.name)) entry = { value: convert(s, fromFile.get(s.name), `${configFile}: "${s.name}"`, true), source: "file" };
    else if (s.default !== undefined) entry = { value: s.default, source: "default" };
    if (entry !== undefined && !(s.type === "boolean" && entry.value === false)) values.set(s.name, entry);
  }
  const config = new Config(command, positionals, values);
  checkOptions(config);
  return config;
}

function parseFlags(specs: OptionSpec[], given: string[]): { flags: Map<string, string | boolean>; positionals: string[] } {
  const args = withBareValues(specs, given);
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const s of specs) {
    options[s.name] = { type: s.type === "boolean" ? "boolean" : "string", ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    const flags = new Map<string, string | boolean>();
    for (const [name, value] of Object.entries(values)) {
      if (value !== undefined) flags.set(name, Array.isArray(value) ? value.join(",") : value as string | boolean);
    }
    return { flags, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify.*$/s, "") + " (try 'siphon --help')");
  }
}

// A flag with a `bare` value given alone (at the end, or before another flag or a
// word that is not an address: --http FILE) gets that value.
const LOOKS_LIKE_ADDRESS = /^(?:\[[^\]]*\]:|[^:\s/]*:)?[0-9]+$/;

function withBareValues(specs: OptionSpec[], args: string[]): string[] {
  const bare = new Map(specs.filter((s) => s.bare !== undefined).map((s) => [`--${s.name}`, s.bare as string]));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    out.push(args[i]);
    const value = bare.get(args[i]);
    if (value !== undefined && (i + 1 === args.length || !LOOKS_LIKE_ADDRESS.test(args[i + 1]))) out.push(value);
    if (args[i] === "--") {
      out.push(...args.slice(i + 1));
      break;
    }
  }
  return out;
}

// JSON, because it needs no parser of our own, its types are explicit (a number
// is not a string that looks like one) and every config tool can write it.
function readConfigFile(file: string, specs: OptionSpec[]): Map<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`--config: cannot read ${file}: ${e.code ?? e.message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--config: ${file} must hold one JSON object of option names and values`);
  }
  const entries = new Map(Object.entries(parsed));
  for (const key of entries.keys()) {
    if (key === "config") throw new UsageError(`--config: ${file}: "config" cannot name another file`);
    if (!specs.some((s) => s.name === key)) {
      throw new UsageError(`--config: ${file}: unknown option "${key}" (the keys are the long flag names, e.g. "mqtt", "topic")`);
    }
  }
  return entries;
}

function convert(s: OptionSpec, raw: unknown, where: string, fromFile = false): Value {
  let value: Value;
  if (s.type === "boolean") {
    if (typeof raw === "boolean") value = raw;
    else if (!fromFile && (raw === "1" || raw === "true" || raw === "yes")) value = true;
    else if (!fromFile && (raw === "0" || raw === "false" || raw === "no")) value = false;
    else throw new UsageError(`${where}: expected true or false, got ${JSON.stringify(raw)}`);
  } else if (s.type === "integer" || s.type === "number") {
    value = s.multiple ? numberList(s, raw, where, fromFile) : boundedNumber(raw, boundsOf(s), where, fromFile);
  } else if (s.multiple && Array.isArray(raw) && raw.every((x) => typeof x === "string" || typeof x === "number")) {
    value = raw.join(",");
  } else {
    if (typeof raw !== "string") throw new UsageError(`${where}: expected a string, got ${JSON.stringify(raw)}`);
    value = raw;
  }
  if (s.choices && !s.choices.includes(value)) {
    throw new UsageError(`${where}: must be one of ${s.choices.join(", ")}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

// A number option's range, from its row.
export function boundsOf(s: OptionSpec): Bounds {
  if (s.type !== "integer" && s.type !== "number" || s.min === undefined || s.max === undefined || s.unit === undefined) {
    throw new Error(`config: option --${s.name} is not a number with min, max and unit in the table`);
  }
  return { type: s.type, min: s.min, max: s.max, unit: s.unit };
}

// A repeatable number option (--sip-port 5080 --sip-port 5090; "5080,5090" in the
// environment; [5080, 5090] in a file): each one checked, kept as a comma-separated list.
function numberList(s: OptionSpec, raw: unknown, where: string, fromFile: boolean): string {
  const fromArray = fromFile && Array.isArray(raw);
  const items: unknown[] = fromArray ? raw as unknown[] : typeof raw === "string" ? raw.split(",").map((x) => x.trim()) : [raw];
  return items.map((item) => boundedNumber(item, boundsOf(s), where, fromArray)).join(",");
}

// Options that only mean something together, or that contradict each other.
const RULES: Array<{ when: (c: Config) => boolean; message: string }> = [
  { when: (c) => c.has("filter") && c.has("filter-file"), message: "give --filter or --filter-file, not both" },
  { when: (c) => c.has("mqtt-cert") !== c.has("mqtt-key"), message: "--mqtt-cert and --mqtt-key go together: give both or neither" },
  { when: (c) => c.has("password") && !c.has("username"), message: "--password needs --username" },
  { when: (c) => !c.has("mqtt") && OPTION_TABLE.some((o) => o.group === "MQTT output" && o.name !== "mqtt" && c.given(o.name)),
    message: "MQTT options were given without --mqtt URL: name the broker or drop them" },
  { when: (c) => c.has("events-topic") && !c.has("mqtt"), message: "--events-topic needs --mqtt URL: name the broker the events go to" },
  { when: (c) => c.has("events-topic") && c.str("events-topic") === c.str("topic"), message: "--events-topic must differ from --topic" },
  { when: (c) => !c.has("hep") && OPTION_TABLE.some((o) => o.group === "HEP output" && o.name !== "hep" && c.given(o.name)),
    message: "HEP options were given without --hep URL: name the collector or drop them" },
  { when: (c) => !c.has("record") && OPTION_TABLE.some((o) => o.group === "Recording" && o.name !== "record" && c.given(o.name)),
    message: "recording options were given without --record DIR: name the directory or drop them" },
  { when: (c) => c.has("status-topic") && c.str("status-topic") === c.str("topic"), message: "--status-topic must differ from --topic" },
  { when: (c) => c.has("http") && c.has("metrics") && c.str("http") !== c.str("metrics"),
    message: "--metrics is another name for --http: give one address, not two" },
  { when: (c) => !c.has("http") && !c.has("metrics") && c.command !== "view" && OPTION_TABLE.some((o) => o.group === "Web view" && o.name !== "http" && o.name !== "metrics" && c.given(o.name)),
    message: "web view options were given without --http: add --http [ADDR] or drop them" },
  { when: (c) => !c.has("anonymize") && (c.bool("encrypt-fields") || c.bool("anonymize-envelopes")),
    message: "--encrypt-fields and --anonymize-envelopes need --anonymize KEYFILE: name the key" },
  { when: (c) => c.has("anonymize") && c.bool("log-sip"), message: "--log-sip writes SIP in clear to the log: it cannot go with --anonymize" },
  { when: (c) => c.has("telemetry-topic") && c.str("telemetry-topic") === c.str("topic"), message: "--telemetry-topic must differ from --topic" },
];

function checkOptions(config: Config): void {
  for (const rule of RULES) if (rule.when(config)) throw new UsageError(`${rule.message} (try 'siphon --help')`);
}

// The option list of --help, grouped, from the table.
export function optionsHelp(command: string): string {
  const groups = new Map<string, string[]>();
  for (const s of optionsFor(command)) {
    const flag = `${s.short ? `-${s.short}, ` : "    "}--${s.name}${s.arg ? ` ${s.arg}` : ""}`;
    const line = `  ${flag.padEnd(30)} ${s.help}${helpSuffix(s)}`;
    groups.set(s.group, [...(groups.get(s.group) ?? []), line]);
  }
  return [...groups].map(([group, lines]) => `${group} options:\n${lines.join("\n")}`).join("\n\n");
}

// " (an integer 0 to 65535 seconds, default 30)": the range, unit and default after an option's help.
function helpSuffix(s: OptionSpec): string {
  const parts: string[] = [];
  if (s.type === "integer" || s.type === "number") {
    const b = boundsOf(s);
    parts.push(`${b.type === "number" ? "a number" : "an integer"} ${b.min} to ${b.max} ${b.unit}`);
  }
  if (s.default !== undefined && s.type !== "boolean") parts.push(`default ${s.default}`);
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`;
}
