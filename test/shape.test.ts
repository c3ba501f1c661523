// The house's shape (docs/architecture.md): data flows one way, source -> core ->
// filter -> calls -> sinks, so no import cycle in host/ or assembly/; host/core is
// the only host code that reads the core's memory map (assembly/layout.ts), the
// filter's assembler the one other; a sink knows nothing of the call tracker.
// Imports are read from the source text, type-only ones too: a cycle of types is
// still two files that cannot be understood one without the other.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

type Graph = Map<string, string[]>;

const LAYOUT = "assembly/layout.ts";
const TRACKER = "host/calls/tracker.ts";
const LAYOUT_READERS_OUTSIDE_CORE = ["host/filter/assemble.ts"]; // writes the core's filter program format

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourcesUnder(path);
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

// The relative modules a file imports or re-exports, as repository paths.
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
    const resolved = resolve(dirname(file), m[1]);
    if (resolved !== undefined) found.push(resolved);
  }
  return found;
}

function resolve(from: string, specifier: string): string | undefined {
  const base = normalize(join(from, specifier));
  return [base, `${base}.ts`, join(base, "index.ts")].find((p) => p.endsWith(".ts") && existsSync(p) && statSync(p).isFile());
}

function graphOf(dirs: string[]): Graph {
  const graph: Graph = new Map();
  for (const file of dirs.flatMap(sourcesUnder)) graph.set(file, importsOf(file));
  return graph;
}

// Every cycle's files, one list per strongly connected component of more than one
// file (or a file that imports itself), by Tarjan's algorithm.
function cyclesOf(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

// Every file `file` reaches through its imports.
function reachedFrom(graph: Graph, file: string): Set<string> {
  const seen = new Set<string>();
  const walk = (f: string): void => {
    for (const next of graph.get(f) ?? []) {
      if (seen.has(next)) continue;
      seen.add(next);
      walk(next);
    }
  };
  walk(file);
  return seen;
}

const host = graphOf(["host"]);
const core = graphOf(["assembly"]);

test("the cycle finder finds a cycle, and none where there is none", () => {
  const looped: Graph = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assert.equal(cyclesOf(looped), [["a", "b", "c"]]);
  assert.equal(cyclesOf(new Map([["a", ["b"]], ["b", []], ["c", ["a", "b"]]])), []);
  assert.equal(cyclesOf(new Map([["a", ["a"]]])), [["a"]]);
});

test("the import walk sees the host's files and their imports", () => {
  assert.ok(host.size > 40, `only ${host.size} host files found`);
  assert.ok(host.get("host/core/core.ts")?.includes(LAYOUT), `host/core/core.ts imports ${JSON.stringify(host.get("host/core/core.ts"))}`);
  assert.ok(core.get("assembly/index.ts")?.includes(LAYOUT), `assembly/index.ts imports ${JSON.stringify(core.get("assembly/index.ts"))}`);
});

test("no import cycle in host/", () => {
  assert.equal(cyclesOf(host), [], "files that import one another, around a cycle");
});

test("no import cycle in assembly/", () => {
  assert.equal(cyclesOf(core), [], "files that import one another, around a cycle");
});

test("only host/core and the filter's assembler import assembly/layout.ts", () => {
  const readers = [...host].filter(([, imports]) => imports.includes(LAYOUT)).map(([file]) => file);
  const outside = readers.filter((f) => !f.startsWith("host/core/") && !LAYOUT_READERS_OUTSIDE_CORE.includes(f));
  assert.equal(outside, [], "host files outside host/core that read the core's memory map");
});

test("no sink imports the call tracker, directly or through another file", () => {
  assert.ok(host.has(TRACKER), `${TRACKER} not found`);
  const sinks = [...host.keys()].filter((f) => f.startsWith("host/sink/"));
  assert.ok(sinks.length >= 5, `only ${sinks.length} sinks found`);
  assert.equal(sinks.filter((f) => reachedFrom(host, f).has(TRACKER)), [], "sinks that reach the tracker");
});

test("the web view takes events and messages as an output does: it never reaches the tracker", () => {
  const web = [...host.keys()].filter((f) => f.startsWith("host/http/"));
  assert.ok(web.length >= 6, `only ${web.length} web view files found`);
  assert.equal(web.filter((f) => reachedFrom(host, f).has(TRACKER)), [], "web view files that reach the tracker");
});

test.run();
