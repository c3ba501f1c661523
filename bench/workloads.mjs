// Generated workloads, cached in .bench/ under a key made of the generator's options and its
// sources: a changed generator makes new files, and every bench that asks for the same options
// reads the same file. One copy matters: a machine that keeps little of its page cache re-reads
// from disk what two copies of one workload push out of it, and that reading then shows in the
// benches' times.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
export const benchDir = join(root, ".bench");

// The workload generator (test/support/generate/) and its command line, relative to the root.
const GENERATOR = "test/support/generate.mjs";
const GENERATOR_SOURCES = "test/support/generate";

function workloadKey(args, generator) {
  const hash = createHash("sha256").update(JSON.stringify(args));
  const sources = generator === undefined ? [GENERATOR, ...generatorSources()] : [generator];
  for (const file of sources) hash.update(readFileSync(join(root, file)));
  return hash.digest("hex").slice(0, 12);
}

function generatorSources() {
  return readdirSync(join(root, GENERATOR_SOURCES)).sort().map((file) => join(GENERATOR_SOURCES, file));
}

/**
 * The capture `generator` (a script taking --out and --truth; test/support/generate.mjs when
 * undefined) writes for `args`, made on first use; `name` says which in the progress line.
 */
export function generatedWorkload(name, args, generator = undefined) {
  mkdirSync(benchDir, { recursive: true });
  const base = join(benchDir, `workload-${workloadKey(args, generator)}`);
  const pcap = `${base}.pcap`;
  const truthFile = `${base}.truth.json`;
  if (!existsSync(pcap) || !existsSync(truthFile)) {
    const script = generator ?? GENERATOR;
    console.error(`generating ${name}: node ${script} ${args.join(" ")}`);
    const run = spawnSync(process.execPath, [join(root, script), ...args, "--out", `${pcap}.tmp`, "--truth", `${truthFile}.tmp`],
      { stdio: ["ignore", "inherit", "inherit"] });
    if (run.status !== 0) throw new Error(`generating ${name} failed`);
    renameSync(`${pcap}.tmp`, pcap);
    renameSync(`${truthFile}.tmp`, truthFile);
  }
  const { totals } = JSON.parse(readFileSync(truthFile, "utf8"));
  return { pcap, truthFile, bytes: statSync(pcap).size, packets: totals.packets, sipMessages: totals.sipMessages };
}
