#!/usr/bin/env node
// Runs the workload generator (test/support/generate/) from the command line without npm or a
// build step: bundles its command line with esbuild's JS API into a temporary directory, imports
// it, and calls its main(). `node test/support/generate.mjs --out FILE.pcap ...`; the benchmark
// (bench/run.mjs, bench/mqtt.mjs) runs it this way.
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const directory = mkdtempSync(join(tmpdir(), "siphon-generate-"));
try {
  const outfile = join(directory, "generate.mjs");
  await build({
    entryPoints: [fileURLToPath(new URL("./generate/command-line.ts", import.meta.url))],
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
