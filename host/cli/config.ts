// The run commands' configuration: each option of the table (host/options.ts) read from the
// first of: the command line, its SIPHON_* environment variable, the config file (--config FILE
// or SIPHON_CONFIG), the default; checked against its type and range, and against the rules
// that tie options together (checkOptions).
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { maskUrlPasswords } from "../redact";
import { UsageError } from "../exits";
import { boundedNumber, type Bounds } from "../bounds";
import {
  OPTIONS, OPTION_TABLE, RUN_COMMANDS, optionSpec, type BooleanOption, type DefaultedString, type NumberOption, type OptionName, type OptionSpec,
  type StringOption, type Value,
} from "../options";

export type Source = "flag" | "env" | "file" | "default";

export class Config {
  constructor(
    readonly command: string,
    readonly positionals: string[],
    private readonly values: Map<string, { value: Value; source: Source }>,
  ) {}

  has(name: OptionName): boolean {
    return this.values.has(optionSpec(name).name);
  }

  // A string option's value; always a string for one the table gives a default.
  str<N extends StringOption>(name: N): N extends DefaultedString ? string : string | undefined;
  str(name: StringOption): string | undefined {
    const v = this.values.get(optionSpec(name).name)?.value;
    return v === undefined ? undefined : String(v);
  }

  num(name: NumberOption): number {
    const v = this.values.get(optionSpec(name).name)?.value;
    if (typeof v !== "number") throw new Error(`config: option --${name} has no number value`);
    return v;
  }

  // A `multiple` option's values, in the order given.
  list(name: OptionName): string[] {
    const v = this.values.get(optionSpec(name).name)?.value;
    return v === undefined ? [] : String(v).split(",").map((x) => x.trim()).filter((x) => x !== "");
  }

  // Set by the user (flag, environment or file), not a default.
  given(name: OptionName): boolean {
    const entry = this.values.get(optionSpec(name).name);
    return entry !== undefined && entry.source !== "default";
  }

  bool(name: BooleanOption): boolean {
    return this.values.get(optionSpec(name).name)?.value === true;
  }

  // name=value pairs of every option set, secrets and URL passwords masked: the line printed at start.
  printable(): Record<string, Value> {
    const out: Record<string, Value> = {};
    for (const [name, { value }] of this.values) {
      out[name] = optionSpec(name).secret ? "***" : typeof value === "string" ? maskUrlPasswords(value) : value;
    }
    return out;
  }
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
