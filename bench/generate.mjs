#!/usr/bin/env node
// Runs the workload generator (bench/generate.ts) without npm or a build step: bundles it with
// esbuild's JS API into a temporary directory, imports it, and calls its main().
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const directory = mkdtempSync(join(tmpdir(), "siphon-generate-"));
try {
  const outfile = join(directory, "generate.mjs");
  await build({
    entryPoints: [fileURLToPath(new URL("./generate.ts", import.meta.url))],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "warning",
  });
  const { main } = await import(pathToFileURL(outfile).href);
  process.exitCode = main(process.argv.slice(2));
} finally {
  rmSync(directory, { recursive: true, force: true });
}
