// Bundles test/*.test.ts with esbuild (the same loaders as the product, so the
// tests run the very core that ships) and runs them with uvu. Ends with the
// line CI reads: "N passed, N failed".
import * as esbuild from "esbuild";
import { readdirSync, rmSync, statSync } from "node:fs";
import { spawn } from "node:child_process";
import { bundleOptions } from "../build.mjs";

// One directory per run, so runs at the same time (several engineers, CI) do not
// delete each other's bundles.
const outdir = `build/test-${process.pid}`;


// Tests bundle build/core.*.wasm: refuse a core older than its sources (a build
// that failed leaves the old one in place, and the tests would pass on it). Only its .ts sources
// count: assembly/tsconfig.json is for editors and does not change the core.
const coreBuilt = Math.min(...["build/core.simd.wasm", "build/core.scalar.wasm"].map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0));
const stale = readdirSync("assembly").filter((f) => f.endsWith(".ts") && statSync(`assembly/${f}`).mtimeMs > coreBuilt);
if (stale.length > 0) {
  console.error(`test: the core in build/ is older than ${stale.join(", ")}: run 'node build.mjs' (npm test does)`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}
// --bundle-only DIR: bundle the named tests into DIR and stop (test/arm64.sh runs them on an arm64 machine).
const args = process.argv.slice(2);
const bundleOnly = args[0] === "--bundle-only" ? args.splice(0, 2)[1] : undefined;
const only = args;
const entries = readdirSync("test")
  .filter((f) => f.endsWith(".test.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .map((f) => `test/${f}`);

rmSync(bundleOnly ?? outdir, { recursive: true, force: true });
await esbuild.build({
  ...bundleOptions,
  entryPoints: entries,
  outdir: bundleOnly ?? outdir,
  outExtension: { ".js": ".mjs" },
  packages: "external",
  define: { ...bundleOptions.define, SIPHON_VERSION: JSON.stringify("test") },
});

if (bundleOnly !== undefined) process.exit(0);

const child = spawn(process.execPath, ["node_modules/uvu/bin.js", outdir, "\\.test\\.mjs$"], {
  stdio: ["ignore", "pipe", "inherit"],
});
let output = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  output += chunk.toString();
});
const code = await new Promise((resolve) => child.on("close", resolve));
rmSync(outdir, { recursive: true, force: true });
const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const failed = total - passed - skipped + (code !== 0 && total === passed ? 1 : 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(code !== 0 || failed > 0 || total === 0 ? 1 : 0);
