// `siphon filter check EXPR`: the expression as Siphon reads it and what it
// costs, or why it is refused. `siphon filter test EXPR FILE`: how many SIP
// messages of a capture it selects, counted by the core that would run it.
// Either takes --filter-file FILE in place of EXPR.
import { parseArgs } from "node:util";
import { Core } from "../core";
import { readCapture } from "../source";
import { compileFilter, compileFilterFile, type CompiledFilter } from "../filter";
import { FilterError } from "../filter";
import { checkReport } from "../filter";
import { nothingDecodable } from "./replay";

export async function filterCommand(args: string[]): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === "check") {
    const { compiled } = expressionAndRest(rest, 0, "check", "EXPR");
    process.stdout.write(checkReport(compiled.filter, compiled.program.length));
    return 0;
  }
  if (subcommand === "test") {
    const { compiled, positionals } = expressionAndRest(rest, 1, "test", "EXPR FILE");
    const { matched, rejected, failure } = await countMatches(compiled, positionals[0]);
    process.stdout.write(`${matched} of ${matched + rejected} SIP messages match\n`);
    if (failure !== undefined) throw failure;   // after the count of what was read: its one line, and its exit code
    return 0;
  }
  throw new FilterError(`unknown subcommand '${subcommand ?? ""}'`, undefined, "use 'siphon filter check EXPR' or 'siphon filter test EXPR FILE'");
}

// The compiled expression (the first positional argument, or --filter-file) and
// the `count` positional arguments after it.
function expressionAndRest(args: string[], count: number, subcommand: string, usage: string): { compiled: CompiledFilter; positionals: string[] } {
  const parsed = parseOptions(args);
  const file = parsed.values["filter-file"];
  const positionals = file === undefined ? parsed.positionals.slice(1) : parsed.positionals;
  if ((file === undefined && parsed.positionals.length === 0) || positionals.length !== count) {
    throw new FilterError(`'filter ${subcommand}' takes ${usage}`, undefined,
      "quote the expression for the shell so that it is one argument, or use --filter-file FILE");
  }
  const compiled = file === undefined ? compileFilter(parsed.positionals[0]) : compileFilterFile(file);
  return { compiled, positionals };
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({ args, options: { "filter-file": { type: "string" } }, allowPositionals: true });
  } catch (err) {
    throw new FilterError((err as Error).message.replace(/\. To specify.*$/s, ""), undefined, "try 'siphon --help'");
  }
}

// A capture damaged part way is counted up to the damage, then fails, as a replay writes every
// message before it: a throw from the reader lost the count of the 1,950 packets before it. One
// that fails before its first frame (missing, not a capture) gets its one line alone.
async function countMatches(compiled: CompiledFilter, capture: string): Promise<{ matched: number; rejected: number; failure?: unknown }> {
  const core = new Core({ sensor: "filter-test", agent: "siphon", renderJson: false, filterProgram: compiled.program }, () => {});
  let failure: unknown;
  try {
    await readCapture(capture, core);
  } catch (err) {
    failure = err;
  }
  core.flush();
  const counters = core.counters();
  if (failure !== undefined && counters.frames === 0) throw failure;
  const undecodable = nothingDecodable(capture, counters);
  if (undecodable) throw undecodable;
  return { matched: counters.filter_matched, rejected: counters.filter_rejected, failure };
}
