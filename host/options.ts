// Every option of the run commands, in one table: its flag, its SIPHON_* environment variable,
// its key in a config file, its type, default and help. To add an option, add a row here (and,
// if it constrains others, a rule to checkOptions in host/cli/config.ts). Apart from the command
// line, so that the stages (the core's table sizes) take the same defaults without one.
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
export const OPTION_TABLE = [
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
    help: "what stdout (or a FIFO given to --out or --events) holds for a reader that does not keep up: a replay waits past 256 KiB; a live capture cannot wait, and drops (and logs) what does not fit" },

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
  { name: "tracker", type: "string", arg: "WHERE", default: "core", choices: ["js", "core"], group: "Call events",
    help: "where calls are tracked: core (in the WebAssembly core, the default) or js (the host's JavaScript tracker, which the core is tested against: the same events); docs/events.md" },
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
    help: "calls whose RTP/RTCP is followed at once (loss, jitter), the least recently active evicted beyond (0: media not followed); 1 KiB each; followed only when events, call records, the web view or recordings read it, or when given; docs/media.md" },
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
export type DefaultedString = Extract<Row, { type: "string"; default: string }>["name"];

// The default of a number option the table gives one to: for the stages (the core's
// table sizes) that are also used without a command line, so they have the same default.
export function defaultOf(name: DefaultedNumber): number {
  return optionSpec(name).default as number;
}

// The table's row for an option.
export function optionSpec(name: string): OptionSpec {
  const found = OPTIONS.find((o) => o.name === name);
  if (!found) throw new Error(`config: no option named --${name} in the table`);
  return found;
}

