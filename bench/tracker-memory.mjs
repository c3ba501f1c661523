#!/usr/bin/env node
// Runs the tracker memory benchmark (bench/tracker-memory.ts): bundles it with the
// product's esbuild options into a temporary directory, imports it, and calls its main().
//
//   node bench/tracker-memory.mjs
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundleOptions } from "../build.mjs";
import { parseCommandLine } from "./args.mjs";

parseCommandLine(`usage: node bench/tracker-memory.mjs
What the call tracker holds per entry: its tables filled to 100,000 calls, transactions and bindings, the
JavaScript heap after a full GC before and after, divided by the entries held.`);

const directory = mkdtempSync(join(tmpdir(), "siphon-bench-tracker-"));
try {
  const outfile = join(directory, "tracker-memory.mjs");
  await build({ ...bundleOptions, entryPoints: [fileURLToPath(new URL("./tracker-memory.ts", import.meta.url))], outfile });
  const { main } = await import(pathToFileURL(outfile).href);
  main();
} finally {
  rmSync(directory, { recursive: true, force: true });
}
