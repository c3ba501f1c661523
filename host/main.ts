// The `siphon` command line.
import { hostname } from "node:os";
import { replay } from "./replay";
import { filterCommand } from "./filter/command";
import { filterFromOptions } from "./filter/compile";
import { FilterError } from "./filter/errors";
import { cdrCommand, CdrUsageError } from "./cdr/command";
import { loadConfig, optionsHelp, UsageError } from "./config";
import { startService } from "./service";
import { Interrupted } from "./signals";
import { capture, listInterfaces } from "./capture";
import { coreMemoryProblem, type StreamLimits } from "./core";
import { maskUrlPasswords } from "./redact";

declare const SIPHON_VERSION: string;
const AGENT = `siphon/${SIPHON_VERSION}`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const HELP = `siphon ${SIPHON_VERSION}: a passive SIP sensor

Usage:
  siphon replay FILE|- [options]   decode a pcap or pcapng capture ('-' reads a pcap
                                   stream on stdin, e.g. tcpdump -U -w - | siphon replay -)
                                   and write one JSON envelope per SIP message (NDJSON)
  siphon capture -i IFACE [options]
                                   capture live with libpcap (siphon's addon) on IFACE
                                   (repeat -i for several) until SIGINT/SIGTERM; the same output
                                   as replay; docs/capture.md has permissions, --user and BPF
  siphon capture --list            the interfaces libpcap can capture on
  siphon cdr --events FILE|- --cdr URL   call records in PostgreSQL from an event stream
                                   (siphon cdr --help; docs/cdr.md)
  siphon filter check EXPR         print the filter as Siphon reads it and its cost, or the error
  siphon filter test EXPR FILE     count the SIP messages of a capture the filter selects
                                   (both take --filter-file FILE in place of EXPR)
  siphon --help | --version

${optionsHelp("replay")}

${optionsHelp("capture").split("\n\n").filter((g) => g.startsWith("Live capture")).join("\n\n")}

Every option can also be set by its SIPHON_* environment variable (--flush-timeout:
SIPHON_FLUSH_TIMEOUT) or by a JSON file (--config FILE); flags win over the
environment, the environment over the file. docs/configuration.md has the details.

Output: envelopes on stdout (or --out), nothing else; a one-line summary on stderr.
Exit codes: 0 done; 1 the input could not be read to its end (what was read before
the damage is still written) or an output failed; 2 bad usage or a bad filter.
Documentation: README.md and docs/ in the source tree.
`;


async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP);
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (command === "--version" || command === "-V") {
    process.stdout.write(`${SIPHON_VERSION}\n`);
    return EXIT_OK;
  }
  if (command === "replay") return runReplay(rest);
  if (command === "capture") return runCapture(rest);
  if (command === "filter") return filterCommand(rest);
  if (command === "cdr") return cdrCommand(rest);
  throw new UsageError(`unknown command '${command}' (try 'siphon --help')`);
}

async function runReplay(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(HELP);
    return EXIT_OK;
  }
  const config = loadConfig("replay", args);
  if (config.positionals.length !== 1) {
    throw new UsageError(`replay takes one capture file (or '-' for stdin), got ${config.positionals.length} (try 'siphon --help')`);
  }
  const filterProgram = filterFromOptions(config.str("filter"), config.str("filter-file"))?.program;
  const streams = streamLimits(config);
  const service = await startService(config, "replay");
  const reading = new AbortController();
  service.onStop(() => reading.abort(new Interrupted(service.signals.received ?? "a signal")));
  let failure: unknown;
  try {
    await replay({
      input: config.positionals[0],
      sensor: config.str("sensor") ?? hostname(),
      agent: AGENT,
      progress: !config.bool("no-progress"),
      filterProgram,
      streams,
      sinks: service.outputs().sinks,
      onCore: service.attach,
      stopRequested: () => service.signals.received,
      stop: reading.signal,
    });
  } catch (err) {
    failure = err;
  }
  return service.finish(failure);
}

async function runCapture(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(HELP);
    return EXIT_OK;
  }
  if (args.length === 1 && args[0] === "--list") {
    process.stdout.write(listInterfaces().map((name) => `${name}\n`).join(""));
    return EXIT_OK;
  }
  const config = loadConfig("capture", args);
  if (config.positionals.length > 0) {
    throw new UsageError(`capture takes no file, got '${config.positionals[0]}' (to read a file: siphon replay FILE)`);
  }
  const streams = streamLimits(config);
  const service = await startService(config, "capture");
  let failure: unknown;
  try {
    await capture({
      // Read after capture has opened the interfaces and dropped root (--user).
      get sinks() {
        return service.outputs().sinks;
      },
      onCore: service.attach,
      stopRequested: () => service.signals.received,
      interfaces: config.list("interface"),
      bpf: config.str("bpf"),
      sipPorts: config.list("sip-port"),
      snaplen: config.num("snaplen"),
      bufferMb: config.num("buffer-mb"),
      promisc: config.bool("promisc"),
      immediate: config.bool("immediate"),
      blockTimeoutMs: config.num("block-timeout"),
      ignoreOutgoing: config.bool("ignore-outgoing"),
      log: service.log,
      user: config.str("user"),
      out: config.str("out"),
      sensor: config.str("sensor") ?? hostname(),
      agent: AGENT,
      filterProgram: filterFromOptions(config.str("filter"), config.str("filter-file"))?.program,
      streams,
    });
  } catch (err) {
    failure = err;
  }
  return service.finish(failure);
}

// The core's table sizes, refused (exit 2) before anything starts when together
// they need more memory than the core may have; each one alone is in range (config.ts).
function streamLimits(config: ReturnType<typeof loadConfig>): StreamLimits {
  const limits = { tcpFlows: config.num("tcp-flows"), tcpBuffers: config.num("tcp-buffers"), tcpIdle: config.num("tcp-idle"),
    tcpPartialIdle: config.num("tcp-partial-idle"), maxBody: config.num("max-body"),
    defragSlots: config.num("defrag-slots"), defragTimeout: config.num("defrag-timeout"), vxlanPorts: vxlanPorts(config) };
  const tooLarge = coreMemoryProblem(limits);
  if (tooLarge !== undefined) throw new UsageError(tooLarge);
  return limits;
}

// Each port is checked by its option row; at most two fit the core's configuration.
function vxlanPorts(config: ReturnType<typeof loadConfig>): number[] | undefined {
  const ports = config.list("vxlan-port").map(Number);
  if (ports.length === 0) return undefined;
  if (ports.length > 2) throw new UsageError(`--vxlan-port: ${ports.length} ports given; at most 2 are read`);
  return ports;
}

function quitQuietlyOnClosedPipe(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(EXIT_OK);
    throw err;
  });
}

quitQuietlyOnClosedPipe();
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: Error) => {
    process.stderr.write(`siphon: ${maskUrlPasswords(err.message)}\n`);
    if (process.env.SIPHON_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof UsageError || err instanceof FilterError || err instanceof CdrUsageError ? EXIT_USAGE : EXIT_FAILED;
  },
);
