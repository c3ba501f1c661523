// The bench scripts' command lines, alike in each: --help (or -h) prints the script's usage on
// stdout and exits 0, before any work; an unknown option, an option missing its value or an
// unexpected argument is refused with one line saying what was wrong, then the usage, on stderr,
// exit 2, and no stack trace.
//
//   const { values } = parseCommandLine(USAGE, { options: { runs: { type: "string", default: "5" } } });
//
// USAGE starts with "usage: ... node bench/NAME.mjs ...": the refusal's line names that script.
import { parseArgs } from "node:util";

const PARSE_ERRORS = ["ERR_PARSE_ARGS_UNKNOWN_OPTION", "ERR_PARSE_ARGS_INVALID_OPTION_VALUE", "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL"];

// parseArgs(config) on the script's arguments (config.args, else process.argv.slice(2)), with
// --help/-h answered and parseArgs' own errors turned into refuse().
export function parseCommandLine(usage, config = {}) {
  const args = config.args ?? process.argv.slice(2);
  const own = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  if (own.includes("--help") || own.includes("-h")) {
    console.log(usage);
    process.exit(0);
  }
  try {
    return parseArgs({ ...config, args });
  } catch (error) {
    if (!PARSE_ERRORS.includes(error?.code)) throw error;
    // parseArgs' message is "Unknown option '--foo'. To specify a positional argument ...": its first sentence.
    const what = error.message.split("\n")[0].split(". ")[0].replace(/\.$/, "");
    refuse(usage, what.charAt(0).toLowerCase() + what.slice(1));
  }
}

// One line naming the script and what was wrong, then the usage; exit 2.
export function refuse(usage, what) {
  const script = /bench\/[\w.-]+\.mjs/.exec(usage)?.[0] ?? "bench";
  process.stderr.write(`${script}: ${what}\n${usage}\n`);
  process.exit(2);
}
