#!/usr/bin/env node
// Runs the filter benchmark (bench/filter.ts) against the core the last build
// made (build/core.*.wasm): bundles it with the product's esbuild options into a
// temporary directory, imports it, and calls its main().
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundleOptions } from "../build.mjs";
import { parseCommandLine } from "./args.mjs";

// The options bench/filter.ts's main() takes, checked here before anything is built.
parseCommandLine(`usage: node bench/filter.mjs [--messages N] [--runs N]   (defaults: 40000 and 15)
What a filter costs per message, in one process over a generated workload held in memory (median of the
runs); then the catastrophic pattern (a|a)*b against a plain literal over bodies of 65,000 a's.`,
{ options: { messages: { type: "string" }, runs: { type: "string" } } });

const directory = mkdtempSync(join(tmpdir(), "siphon-bench-filter-"));
try {
  const outfile = join(directory, "filter.mjs");
  await build({ ...bundleOptions, entryPoints: [fileURLToPath(new URL("./filter.ts", import.meta.url))], outfile });
  const { main } = await import(pathToFileURL(outfile).href);
  process.exitCode = await main(process.argv.slice(2));
} finally {
  rmSync(directory, { recursive: true, force: true });
}
