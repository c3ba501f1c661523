// The filter: the s-expression language of --filter, compiled in the host and
// run in the core. Takes the expression's text (or a file); gives a program in
// the core's filter format (assemble.ts, the one file here that reads
// assembly/layout.ts) that the core runs on every message, or a FilterError
// (a usage error, exit 2) with the line, column and what to write instead.
// Parsing (syntax.ts), checking (analyze.ts), regular expressions compiled to
// linear-time automata (regex.ts, automaton.ts), costs and the printed form
// for `siphon filter check` (cost.ts, print.ts). Nothing here sees a packet.
export { compileFilter, compileFilterFile, filterFromOptions, type CompiledFilter } from "./compile";
export { FilterError } from "./errors";
export { checkReport } from "./print";
