// The `siphon` command line.
import { parseArgs } from "node:util";
import { hostname } from "node:os";
import { replay } from "./replay";
import { filterCommand } from "./filter/command";
import { filterFromOptions } from "./filter/compile";
import { FilterError } from "./filter/errors";

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
  siphon filter check EXPR         print the filter as Siphon reads it and its cost, or the error
  siphon filter test EXPR FILE     count the SIP messages of a capture the filter selects
                                   (both take --filter-file FILE in place of EXPR)
  siphon --help | --version

Replay options:
  -o, --out FILE       write envelopes to FILE instead of stdout
  --sensor NAME        the envelope's "sensor" field (default: this host's name)
  --no-progress        no progress line on stderr (it is only ever shown on a terminal)
  --filter EXPR        only the SIP messages the filter selects, e.g.
                       --filter '(all (method invite) (not (src 10.0.0.0/8)))';
                       the language is in docs/filter.md
  --filter-file FILE   the same, the expression read from FILE

Output: envelopes on stdout (or --out), nothing else; a one-line summary on stderr.
Exit codes: 0 done; 1 the input could not be read to its end (what was read before
the damage is still written) or an output failed; 2 bad usage or a bad filter.
Documentation: README.md and docs/ in the source tree.
`;

class UsageError extends Error {}

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
  if (command === "filter") return filterCommand(rest);
  throw new UsageError(`unknown command '${command}' (try 'siphon --help')`);
}

async function runReplay(args: string[]): Promise<number> {
  const { values, positionals } = parseOrExplain(args, {
    out: { type: "string", short: "o" },
    sensor: { type: "string" },
    "no-progress": { type: "boolean" },
    filter: { type: "string" },
    "filter-file": { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`replay takes one capture file (or '-' for stdin), got ${positionals.length} (try 'siphon --help')`);
  }
  await replay({
    input: positionals[0],
    out: values.out as string | undefined,
    sensor: (values.sensor as string | undefined) ?? hostname(),
    agent: AGENT,
    progress: !values["no-progress"],
    filterProgram: filterFromOptions(values.filter as string | undefined, values["filter-file"] as string | undefined)?.program,
  });
  return EXIT_OK;
}

type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

function parseOrExplain(args: string[], options: OptionSpec): ReturnType<typeof parseArgs> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify.*$/s, "") + " (try 'siphon --help')");
  }
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
    process.stderr.write(`siphon: ${err.message}\n`);
    if (process.env.SIPHON_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof UsageError || err instanceof FilterError ? EXIT_USAGE : EXIT_FAILED;
  },
);
