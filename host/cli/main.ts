// The command line: the one place that knows of options, commands and exit
// codes. Takes argv, the SIPHON_* environment and --config (config.ts: every
// option, its type, range and default, stated once); gives a run. main.ts
// dispatches the commands; run.ts is the skeleton replay (replay.ts) and
// capture (capture.ts) share: source -> core -> outputs (outputs.ts opens them),
// inside the service (service.ts: logger, stop signals, metrics, and the one way
// every run ends: summary, failure line, exit code from host/exits.ts). `siphon
// cdr` (cdr.ts) and `siphon filter` (filter.ts) are the other commands.
import { replay } from "./replay";
import { view } from "./view";
import { filterCommand } from "./filter";
import { cdrCommand } from "./cdr";
import { deanonymizeCommand } from "./deanonymize";
import { loadConfig, optionsHelp } from "./config";
import { capture, listInterfaces } from "./capture";
import { mediaCalls, run } from "./run";
import { maskUrlPasswords } from "../redact";
import { stdoutAbandoned } from "../sink";
import { EXIT_OK, EXIT_STDOUT_CLOSED, EXIT_USAGE, exitCodeOf, UsageError } from "../exits";

declare const SIPHON_VERSION: string;

// Built when asked for: the option tables' help takes a millisecond or two that a run never reads.
function help(): string {
  return `siphon ${SIPHON_VERSION}: a passive SIP sensor

Usage:
  siphon replay FILE|- [options]   decode a pcap or pcapng capture ('-' reads a pcap
                                   stream on stdin, e.g. tcpdump -U -w - | siphon replay -)
                                   and write one JSON envelope per SIP message (NDJSON)
  siphon capture -i IFACE [options]
                                   capture live with libpcap (siphon's addon) on IFACE
                                   (repeat -i for several) until SIGINT/SIGTERM; the same output
                                   as replay; docs/capture.md has permissions, --user and BPF
  siphon capture --list            the interfaces libpcap can capture on
  siphon view FILE [options]       replay a capture into the web view (calls, ladders) and keep
                                   serving it until SIGINT, on --http ADDR (default 127.0.0.1:8080);
                                   docs/http.md
  siphon cdr --events FILE|- --cdr URL   call records in PostgreSQL from an event stream
                                   (siphon cdr --help; docs/cdr.md)
  siphon deanonymize --key KEYFILE [FILE|-]
                                   the fields a run sealed with --anonymize --encrypt-fields,
                                   restored in its events or call records (docs/privacy.md)
  siphon filter check EXPR         print the filter as Siphon reads it and its cost, or the error
  siphon filter test EXPR FILE     count the SIP messages of a capture the filter selects
                                   (both take --filter-file FILE in place of EXPR)
  siphon --help | --version

${optionsHelp("replay")}

${optionsHelp("capture").split("\n\n").filter((g) => g.startsWith("Live capture")).join("\n\n")}

Every option can also be set by its SIPHON_* environment variable (--flush-timeout:
SIPHON_FLUSH_TIMEOUT) or by a JSON file (--config FILE); flags win over the
environment, the environment over the file. docs/configuration.md has the details.

Output: envelopes on stdout (or --out), nothing else; a one-line summary on stderr,
then, if something failed, one line saying what and what to do.
Exit codes: 0 done (also when stopped by SIGINT/SIGTERM with everything delivered);
1 the input could not be read to its end (what was read before the damage is still
written) or held no packet siphon decodes; 2 bad usage or a bad filter; 3 an output
could not be opened or written, or did not take everything within --flush-timeout;
141 stdout was closed by its reader (| head), as for other tools.
Documentation: README.md and docs/ in the source tree.
`;
}


async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(help());
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (command === "--version" || command === "-V") {
    process.stdout.write(`${SIPHON_VERSION}\n`);
    return EXIT_OK;
  }
  if (command === "replay") return runReplay(rest);
  if (command === "capture") return runCapture(rest);
  if (command === "view") return runView(rest);
  if (command === "filter") return filterCommand(rest);
  if (command === "cdr") return cdrCommand(rest);
  if (command === "deanonymize") return deanonymizeCommand(rest);
  throw new UsageError(`unknown command '${command}' (try 'siphon --help')`);
}

async function runReplay(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(help());
    return EXIT_OK;
  }
  const config = loadConfig("replay", args);
  if (config.positionals.length !== 1) {
    throw new UsageError(`replay takes one capture file (or '-' for stdin), got ${config.positionals.length} (try 'siphon --help')`);
  }
  return run(config, "replay", (r) => replay(r, config.positionals[0]));
}

async function runView(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(help());
    return EXIT_OK;
  }
  const config = loadConfig("view", args);
  if (config.positionals.length !== 1 || config.positionals[0] === "-") {
    throw new UsageError(`view takes one capture file, got ${config.positionals.length === 1 ? "'-'" : config.positionals.length} (try 'siphon --help')`);
  }
  return run(config, "view", (r) => view(r, config.positionals[0]));
}

async function runCapture(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(help());
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
  return run(config, "capture", (r) => capture(r, {
    interfaces: config.list("interface"),
    bpf: config.str("bpf"),
    sipPorts: config.list("sip-port"),
    snaplen: config.num("snaplen"),
    bufferMb: config.num("buffer-mb"),
    promisc: config.bool("promisc"),
    immediate: config.bool("immediate"),
    blockTimeoutMs: config.num("block-timeout"),
    ignoreOutgoing: config.bool("ignore-outgoing"),
    user: config.str("user"),
    vxlanPorts: config.list("vxlan-port").map(Number),
    media: mediaCalls(config) > 0,
  }));
}

// A closed stdout outside a run's outputs (siphon --help | head -1): quietly, as other tools.
// During a run the NDJSON output listens too, and the run ends with its summary.
function quitQuietlyOnClosedPipe(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (process.stdout.listenerCount("error") > 1) return;
    if (err.code === "EPIPE") process.exit(EXIT_STDOUT_CLOSED);
    throw err;
  });
}

// The run is over and reported: end once stdout and stderr have taken what was written,
// so that nothing an output gave up on at the deadline (a connection a frozen peer holds
// open) keeps the process. The NDJSON output drained stdout already, or gave up on it.
function exit(code: number): void {
  const pending = [process.stdout, process.stderr]
    .filter((s) => s.writableLength > 0 && !s.destroyed && !(s === process.stdout && stdoutAbandoned()));
  if (pending.length === 0) process.exit(code);
  process.exitCode = code;
  Promise.all(pending.map((s) => new Promise((resolve) => s.once("drain", resolve).once("close", resolve))))
    .then(() => process.exit(code));
}

quitQuietlyOnClosedPipe();
main(process.argv.slice(2)).then(exit, (err: Error) => {
  process.stderr.write(`siphon: ${maskUrlPasswords(err.message)}\n`);
  if (process.env.SIPHON_DEBUG) process.stderr.write(`${err.stack}\n`);
  exit(exitCodeOf(err));
});
