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

const directory = mkdtempSync(join(tmpdir(), "siphon-bench-filter-"));
try {
  const outfile = join(directory, "filter.mjs");
  await build({ ...bundleOptions, entryPoints: [fileURLToPath(new URL("./filter.ts", import.meta.url))], outfile });
  const { main } = await import(pathToFileURL(outfile).href);
  process.exitCode = await main(process.argv.slice(2));
} finally {
  rmSync(directory, { recursive: true, force: true });
}
