// Differential test of the regular expression automata: thousands of seeded
// random patterns and inputs, matched by the real core (a (body "...") filter
// over one message per input) and by JavaScript's RegExp, must agree.
//
// The patterns stay where the two engines mean the same thing: ASCII inputs
// without '\r' (JavaScript's '.' also refuses '\r'), (?i) and (?s) only as a
// prefix (they become RegExp flags), no '{' except in a repetition, no ']' first
// in a class (Go's reading and JavaScript's differ).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compileFilter } from "../host/filter/compile";
import { FilterError } from "../host/filter/errors";
import { runFrames, udpFrame, sip } from "./helpers";
import { Rng } from "./support/generate/rng";

const SEED = 20261123;
const PATTERNS = 2500;
const INPUTS_PER_PATTERN = 10;

// The generator's seeded Rng, as a draw in [0, 1).
function rng(seed: number): () => number {
  const random = new Rng(seed);
  return () => random.float();
}

interface Generated {
  source: string;
  // A string the pattern would match if its anchors allow: inputs near it hit
  // the interesting cases far more often than random text does.
  sample: () => string;
}

class PatternMaker {
  constructor(private readonly random: () => number) {}

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  alternation(depth: number): Generated {
    const branches = Array.from({ length: this.random() < 0.25 ? this.int(2, 3) : 1 }, () => this.sequence(depth));
    return {
      source: branches.map((b) => b.source).join("|"),
      sample: () => this.pick(branches).sample(),
    };
  }

  private sequence(depth: number): Generated {
    const items = Array.from({ length: this.int(0, 4) }, () => this.repeated(depth));
    return { source: items.map((i) => i.source).join(""), sample: () => items.map((i) => i.sample()).join("") };
  }

  private repeated(depth: number): Generated {
    const r = this.random();
    if (r < 0.04) return { source: "^", sample: () => "" };
    if (r < 0.08) return { source: "$", sample: () => "" };
    const atom = this.atom(depth);
    const [quantifier, min, max] = this.quantifier();
    const lazy = quantifier !== "" && this.random() < 0.1 ? "?" : "";
    return {
      source: atom.source + quantifier + lazy,
      sample: () => Array.from({ length: this.int(min, max) }, () => atom.sample()).join(""),
    };
  }

  private quantifier(): [string, number, number] {
    const r = this.random();
    if (r < 0.55) return ["", 1, 1];
    if (r < 0.65) return ["*", 0, 3];
    if (r < 0.75) return ["+", 1, 3];
    if (r < 0.83) return ["?", 0, 1];
    const min = this.int(0, 3);
    if (r < 0.88) return [`{${min}}`, min, min];
    if (r < 0.93) return [`{${min},}`, min, min + 2];
    const max = min + this.int(0, 3);
    return [`{${min},${max}}`, min, max];
  }

  private atom(depth: number): Generated {
    const r = this.random();
    if (depth < 3 && r < 0.15) {
      const inner = this.alternation(depth + 1);
      const open = this.pick(["(", "(?:"]);
      return { source: `${open}${inner.source})`, sample: inner.sample };
    }
    if (r < 0.55) {
      const c = this.pick(["a", "b", "c", "A", "B", "1", "-", "_", " "]);
      return { source: c, sample: () => c };
    }
    if (r < 0.62) return { source: "\\.", sample: () => "." };
    if (r < 0.7) return { source: ".", sample: () => this.pick(["a", "B", ".", " "]) };
    if (r < 0.85) {
      const [source, members] = this.pick<[string, string]>([
        ["[abc]", "abc"], ["[^ab]", "cAB1-_ ."], ["[a-c]", "abc"], ["[A-Ca]", "ABCa"], ["[\\d\\s]", "1 \n"],
        ["[.-]", ".-"], ["[^\\w]", " .-\n"], ["[b-cA]", "bcA"], ["[_a-b1]", "_ab1"],
      ]);
      return { source, sample: () => this.pick([...members]) };
    }
    const [source, members] = this.pick<[string, string]>([
      ["\\d", "1"], ["\\w", "aB1_"], ["\\s", " \n"], ["\\D", "a-"], ["\\W", " .-"], ["\\S", "ab."],
    ]);
    return { source, sample: () => this.pick([...members]) };
  }
}

const ALPHABET = ["a", "b", "c", "A", "B", "C", "1", ".", "-", "_", " ", "\n", "x"];

function inputsFor(pattern: Generated, random: () => number): string[] {
  const noise = (n: number): string => Array.from({ length: n }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]).join("");
  const inputs = [""];
  while (inputs.length < INPUTS_PER_PATTERN) {
    const r = random();
    if (r < 0.4) inputs.push(pattern.sample());
    else if (r < 0.7) inputs.push(noise(Math.floor(random() * 3)) + pattern.sample() + noise(Math.floor(random() * 3)));
    else inputs.push(noise(Math.floor(random() * 12)));
  }
  return inputs;
}

// Patterns go to the core a batch at a time, as one filter
//   (any (all (header "x-pattern" "^0$") (body "P0")) (all (header "x-pattern" "^1$") (body "P1")) ...)
// over one message per (pattern, input) pair: a core per batch, not per pattern,
// and long programs with many automata get exercised on the way.
const BATCH = 100;

interface Case {
  source: string;     // with its (?i)/(?s) prefix
  reference: RegExp;
  inputs: string[];
}

function message(pattern: number, input: number, body: string): string {
  return sip(["MESSAGE sip:x@example.com SIP/2.0", `Call-ID: case-${pattern}-${input}`, "CSeq: 1 MESSAGE",
    `X-Pattern: ${pattern}`, `Content-Length: ${body.length}`], body);
}

// Small batches of frames: most of a core's start-up is its memory.
const SMALL_CORE = { renderJson: false, inputBytes: 1 << 20, maxFrames: 1024 };

// Which inputs of each case the core selects.
function coreVerdicts(cases: Case[]): boolean[][] {
  const tests = cases.map((c, j) => `(all (header "x-pattern" "^${j}$") (body "${c.source}"))`);
  const { program } = compileFilter(`(any ${tests.join(" ")})`);
  const frames = cases.flatMap((c, j) => c.inputs.map((body, i) => ({ data: udpFrame(message(j, i, body)) })));
  const run = runFrames(frames, { ...SMALL_CORE, filterProgram: program });
  assert.is(run.counters.filter_matched + run.counters.filter_rejected, frames.length);
  const selected = new Set(run.messages.map((m) => m.callId));
  return cases.map((c, j) => c.inputs.map((_, i) => selected.has(`case-${j}-${i}`)));
}

// Only the state cap may refuse a pattern JavaScript accepts.
function refusedForSize(c: Case): boolean {
  try {
    compileFilter(`(body "${c.source}")`);
    return false;
  } catch (err) {
    if (err instanceof FilterError && /automaton states/.test(err.message)) return true;
    throw err;
  }
}

function randomCases(random: () => number, count: number): Case[] {
  const maker = new PatternMaker(random);
  return Array.from({ length: count }, () => {
    const pattern = maker.alternation(0);
    const ignoreCase = random() < 0.3;
    const dotAll = random() < 0.15;
    const prefix = (ignoreCase ? "(?i)" : "") + (dotAll ? "(?s)" : "");
    const reference = new RegExp(pattern.source, (ignoreCase ? "i" : "") + (dotAll ? "s" : ""));
    return { source: prefix + pattern.source, reference, inputs: inputsFor(pattern, random) };
  });
}

test(`differential: ${PATTERNS} random patterns x ${INPUTS_PER_PATTERN} inputs, core automaton vs RegExp`, () => {
  const cases = randomCases(rng(SEED), PATTERNS);
  let compared = 0;
  let matched = 0;
  let skipped = 0;
  for (let b = 0; b < cases.length; b += BATCH) {
    let batch = cases.slice(b, b + BATCH);
    let verdicts: boolean[][];
    try {
      verdicts = coreVerdicts(batch);
    } catch (err) {
      if (!(err instanceof FilterError && /automaton states/.test(err.message))) throw err;
      const kept = batch.filter((c) => !refusedForSize(c));
      skipped += batch.length - kept.length;
      batch = kept;
      verdicts = coreVerdicts(batch);
    }
    batch.forEach((c, j) => c.inputs.forEach((input, i) => {
      const expected = c.reference.test(input);
      assert.is(verdicts[j][i], expected, `seed ${SEED}, /${c.source}/ on ${JSON.stringify(input)}`);
      compared++;
      if (expected) matched++;
    }));
  }
  // Both answers must be well represented, or the test proves little.
  assert.ok(skipped <= PATTERNS / 100, `${skipped} patterns refused for size`);
  assert.ok(matched > compared * 0.25 && matched < compared * 0.85, `${matched} of ${compared} matched`);
});

test("differential: the same automaton on header values, every instance of the header", () => {
  const random = rng(SEED + 1);
  const maker = new PatternMaker(random);
  for (let n = 0; n < 300; n++) {
    const pattern = maker.alternation(0);
    const reference = new RegExp(pattern.source);
    // header values hold no newline and no surrounding blanks (the tokenizer trims them)
    const values = inputsFor(pattern, random).map((v) => v.replace(/\n/g, "").trim()).filter((v) => v.length > 0).slice(0, 3);
    const text = sip(["OPTIONS sip:x SIP/2.0", "Call-ID: h", "CSeq: 1 OPTIONS", ...values.map((v) => `X-Test: ${v}`), "Content-Length: 0"]);
    const { program } = compileFilter(`(header "x-test" "${pattern.source}")`);
    const run = runFrames([{ data: udpFrame(text) }], { ...SMALL_CORE, filterProgram: program });
    assert.is(run.messages.length === 1, values.some((v) => reference.test(v)), `/${pattern.source}/ on ${JSON.stringify(values)}`);
  }
});

// 65,000 bytes: about the most a UDP datagram carries once the headers are in.
test("the catastrophic pattern (a|a)*b decides a 65,000-byte body of a's, and finds the b", () => {
  const body = "a".repeat(65000);
  const verdicts = coreVerdicts([
    { source: "(a|a)*b", reference: /(a|a)*b/, inputs: [body, body + "b", "b" + body] },
    { source: "^(a|a)*$", reference: /^(a|a)*$/, inputs: [body, body + "b"] },
  ]);
  assert.equal(verdicts, [[false, true, true], [true, false]]);
});

test.run();
