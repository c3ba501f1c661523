// The filter compiler's front door: expression text in, the core's program out.
// parse (syntax.ts) -> check (analyze.ts, regex.ts, automaton.ts) -> assemble.
import { readFileSync } from "node:fs";
import { parseExpression } from "./syntax";
import { analyze, type Filter } from "./analyze";
import { assemble } from "./assemble";
import { FilterError } from "./errors";

export interface CompiledFilter {
  filter: Filter;
  program: Uint8Array;
}

// Throws FilterError, with line:column, for anything wrong in `source`.
export function compileFilter(source: string): CompiledFilter {
  const filter = analyze(parseExpression(source), source);
  return { filter, program: assemble(filter) };
}

// The program for `--filter EXPR` or `--filter-file FILE` (the configuration
// refuses both at once); undefined for neither.
export function filterFromOptions(expression?: string, file?: string): CompiledFilter | undefined {
  if (file !== undefined) return compileFilterFile(file);
  if (expression !== undefined) return compileFilter(expression);
  return undefined;
}

export function compileFilterFile(file: string): CompiledFilter {
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch (err) {
    throw new FilterError(`cannot read the filter file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return compileFilter(source);
}
