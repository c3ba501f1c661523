// Regular expression -> NFA (Thompson) -> DFA (subset construction over byte
// classes), ready for the core's linear-time search in assembly/filter.ts.
//
// The DFA answers "does the pattern match anywhere in the text": every state
// also holds the NFA's start, so a match may begin at any byte without going
// back, and a state that holds the NFA's accept is final (the search stops with
// a yes). '^' can only be crossed before the first byte; '$' only after the last,
// which is why each state records whether the text may end there.
import { ByteSet, type Regex } from "./regex";

export const MAX_DFA_STATES = 4096;
export const MAX_NFA_STATES = 20000;

export class AutomatonLimitError extends Error {}

// The tables the core runs. A state value is a row offset into `table`
// (state index * classes); `dead` (no match possible any more) and
// `dead + 1` (matched) are the two final values.
export interface Automaton {
  classes: number;            // byte classes: bytes that no pattern set tells apart
  classOf: Uint8Array;        // 256 entries
  states: number;             // non-final states, each with a row of `classes` entries
  start: number;              // state value before the first byte
  acceptsAtEnd: Uint8Array;   // per non-final state: 1 when the text may end there
  table: Uint32Array;         // states * classes next-state values
}

export function compileRegex(tree: Regex): Automaton {
  const nfa = new Nfa();
  const accept = nfa.add();
  const start = nfa.build(withoutOptionalEnds(tree), accept);
  return new SubsetConstruction(nfa, start, accept).run();
}

// A search for ".{0,1000}INVITE.*" finds a match exactly when a search for
// "INVITE" does: a repetition that may match nothing at the very start or end of
// an alternative changes only where a match lies, never whether there is one.
// Dropping them keeps such patterns from needing thousands of states.
function withoutOptionalEnds(tree: Regex): Regex {
  if (tree.kind === "alternation") return { kind: "alternation", options: tree.options.map(withoutOptionalEnds) };
  const items = tree.kind === "sequence" ? [...tree.items] : [tree];
  const optional = (r: Regex | undefined): boolean => r?.kind === "repeat" && r.min === 0;
  while (optional(items[0])) items.shift();
  while (optional(items[items.length - 1])) items.pop();
  return items.length === 1 ? items[0] : { kind: "sequence", items };
}

// ---- NFA ----

class Nfa {
  readonly empty: number[][] = [];   // ε edges
  readonly starts: number[][] = [];  // edges crossed only before the first byte (^)
  readonly ends: number[][] = [];    // edges crossed only after the last byte ($)
  readonly sets: (ByteSet | undefined)[] = [];
  readonly next: number[] = [];      // target of the byte edge

  get size(): number {
    return this.next.length;
  }

  add(): number {
    if (this.size >= MAX_NFA_STATES) {
      throw new AutomatonLimitError(`the regular expression is too large once its repetitions are expanded (more than ${MAX_NFA_STATES} NFA states); lower the counts in {m,n}`);
    }
    this.empty.push([]);
    this.starts.push([]);
    this.ends.push([]);
    this.sets.push(undefined);
    this.next.push(-1);
    return this.size - 1;
  }

  // Builds `tree` so that it continues into state `out`; returns its entry state.
  build(tree: Regex, out: number): number {
    switch (tree.kind) {
      case "bytes": {
        const s = this.add();
        this.sets[s] = tree.set;
        this.next[s] = out;
        return s;
      }
      case "sequence": {
        let entry = out;
        for (let i = tree.items.length - 1; i >= 0; i--) entry = this.build(tree.items[i], entry);
        return entry;
      }
      case "alternation": {
        const s = this.add();
        for (const option of tree.options) this.empty[s].push(this.build(option, out));
        return s;
      }
      case "assert": {
        const s = this.add();
        (tree.at === "start" ? this.starts : this.ends)[s].push(out);
        return s;
      }
      case "repeat":
        return this.repeat(tree.item, tree.min, tree.max, out);
    }
  }

  // item{min,max}: min copies, then either a loop (max unbounded) or
  // max - min nested optional copies, each of which may skip to `out`.
  private repeat(item: Regex, min: number, max: number, out: number): number {
    let entry: number;
    if (max === Infinity) {
      entry = this.add();
      this.empty[entry].push(this.build(item, entry), out);
    } else {
      entry = out;
      for (let i = 0; i < max - min; i++) {
        const optional = this.add();
        this.empty[optional].push(this.build(item, entry), out);
        entry = optional;
      }
    }
    for (let i = 0; i < min; i++) entry = this.build(item, entry);
    return entry;
  }
}

// ---- byte classes ----

// Splits the 256 byte values into classes that every set in the NFA treats
// alike, so DFA rows have one entry per class instead of per byte.
function byteClasses(nfa: Nfa): { classOf: Uint8Array; count: number } {
  let classOf = new Uint8Array(256);
  let count = 1;
  const seen = new Set<string>();
  for (const set of nfa.sets) {
    if (!set || seen.has(set.key())) continue;
    seen.add(set.key());
    const split = new Map<number, number>();
    const next = new Uint8Array(256);
    for (let b = 0; b < 256; b++) {
      const key = classOf[b] * 2 + (set.has(b) ? 1 : 0);
      if (!split.has(key)) split.set(key, split.size);
      next[b] = split.get(key)!;
    }
    classOf = next;
    count = split.size;
  }
  return { classOf, count };
}

// ---- DFA ----

// Closure steps the construction may take in all before it gives up: the state
// cap bounds the result, this bounds the time spent on the way to it.
const MAX_CLOSURE_STEPS = 20_000_000;

class SubsetConstruction {
  private readonly live: Uint8Array;        // accept still reachable after the first byte
  private readonly endsInAccept: Uint8Array; // accept reachable through ε and '$' edges only
  private readonly restart: Int32Array;
  private readonly classOf: Uint8Array;
  private readonly classes: number;
  private readonly representative: number[] = [];
  private readonly index = new Map<string, number>();
  private readonly sets: Int32Array[] = [];
  private readonly atEnd: number[] = [];
  private readonly rows: number[][] = [];
  // scratch for closures: a visit stamp per NFA state, a stack, the states found
  private readonly stamp: Uint32Array;
  private generation = 0;
  private readonly stack: Int32Array;
  private readonly found: Int32Array;
  private steps = 0;
  // Results of transitions, by construction order: a state index, or DEAD/MATCHED.
  private static readonly DEAD = -1;
  private static readonly MATCHED = -2;

  constructor(private readonly nfa: Nfa, private readonly start: number, private readonly accept: number) {
    const n = nfa.size;
    this.stamp = new Uint32Array(n);
    this.stack = new Int32Array(n);
    this.found = new Int32Array(n);
    this.live = this.reachingAccept(true);
    this.endsInAccept = this.reachingAccept(false);
    this.restart = this.closure([start], false).filter((s) => this.live[s] === 1);
    const { classOf, count } = byteClasses(nfa);
    this.classOf = classOf;
    this.classes = count;
    for (let c = 0; c < count; c++) this.representative.push(classOf.indexOf(c));
  }

  run(): Automaton {
    const first = this.closure([this.start], true);
    const startState = first.includes(this.accept)
      ? SubsetConstruction.MATCHED
      : this.intern(first.filter((s) => this.live[s] === 1), this.startMayEnd(first), "start");
    for (let i = 0; i < this.sets.length; i++) {
      const row: number[] = [];
      for (let c = 0; c < this.classes; c++) row.push(this.transition(this.sets[i], this.representative[c]));
      this.rows.push(row);
    }
    return this.encode(startState);
  }

  // The state for an NFA set; the start state is kept apart from any later state
  // with the same set because only it may still cross '^'.
  private intern(set: Int32Array, atEnd: boolean, tag: "start" | "later"): number {
    if (set.length === 0 && !atEnd) return SubsetConstruction.DEAD;
    const key = `${tag}:${set.join(",")}`;
    const known = this.index.get(key);
    if (known !== undefined) return known;
    if (this.sets.length >= MAX_DFA_STATES) {
      throw new AutomatonLimitError(`the regular expression needs more than ${MAX_DFA_STATES} automaton states; simplify it (fewer or smaller {m,n} after a wildcard, fewer alternatives)`);
    }
    this.index.set(key, this.sets.length);
    this.sets.push(set);
    this.atEnd.push(atEnd ? 1 : 0);
    return this.sets.length - 1;
  }

  // Every byte read may also start a new match: the restart set joins each move.
  private transition(from: Int32Array, byte: number): number {
    const moved: number[] = [];
    for (const s of from) {
      const set = this.nfa.sets[s];
      if (set && set.has(byte)) moved.push(this.nfa.next[s]);
    }
    const reached = this.closure([...moved, ...this.restart], false);
    if (this.stamp[this.accept] === this.generation) return SubsetConstruction.MATCHED;
    const set = reached.filter((s) => this.live[s] === 1);
    return this.intern(set, set.some((s) => this.endsInAccept[s] === 1), "later");
  }

  // NFA states reachable from `seeds` without reading a byte; '^' edges too when
  // still before the first byte. Sorted, so equal sets have equal keys.
  private closure(seeds: number[], beforeFirstByte: boolean): Int32Array {
    const { stamp, stack, found, nfa } = this;
    const generation = ++this.generation;
    let top = 0;
    let count = 0;
    const visit = (t: number): void => {
      if (stamp[t] !== generation) {
        stamp[t] = generation;
        stack[top++] = t;
      }
    };
    for (const s of seeds) visit(s);
    while (top > 0) {
      const s = stack[--top];
      found[count++] = s;
      for (const t of nfa.empty[s]) visit(t);
      if (beforeFirstByte) for (const t of nfa.starts[s]) visit(t);
    }
    this.steps += count;
    if (this.steps > MAX_CLOSURE_STEPS) {
      throw new AutomatonLimitError("the regular expression is too complex to turn into an automaton in reasonable time; simplify it (fewer or smaller {m,n}, fewer nested repetitions)");
    }
    return found.slice(0, count).sort();
  }

  // Whether an empty text matches at the start: accept reachable through ε, '^'
  // and '$' edges from the start closure.
  private startMayEnd(first: Int32Array): boolean {
    const seen = new Set<number>(first);
    const pending = [...first];
    while (pending.length > 0) {
      const s = pending.pop()!;
      if (s === this.accept) return true;
      for (const t of [...this.nfa.empty[s], ...this.nfa.ends[s], ...this.nfa.starts[s]]) {
        if (!seen.has(t)) {
          seen.add(t);
          pending.push(t);
        }
      }
    }
    return false;
  }

  // NFA states from which accept can be reached through ε and '$' edges and,
  // with `readingBytes`, byte edges too ('^' never counts: after the first byte
  // it cannot be crossed). States that cannot reach accept are dropped from
  // every set, so that a hopeless search reaches the dead state and stops early.
  private reachingAccept(readingBytes: boolean): Uint8Array {
    const n = this.nfa.size;
    const incoming: number[][] = Array.from({ length: n }, () => []);
    for (let s = 0; s < n; s++) {
      for (const t of this.nfa.empty[s]) incoming[t].push(s);
      for (const t of this.nfa.ends[s]) incoming[t].push(s);
      if (readingBytes && this.nfa.sets[s]) incoming[this.nfa.next[s]].push(s);
    }
    const reaching = new Uint8Array(n);
    const pending = [this.accept];
    reaching[this.accept] = 1;
    while (pending.length > 0) {
      for (const s of incoming[pending.pop()!]) {
        if (!reaching[s]) {
          reaching[s] = 1;
          pending.push(s);
        }
      }
    }
    return reaching;
  }

  private encode(startState: number): Automaton {
    const states = this.sets.length;
    const classes = this.classes;
    const dead = states * classes;
    const value = (state: number): number =>
      state === SubsetConstruction.DEAD ? dead : state === SubsetConstruction.MATCHED ? dead + 1 : state * classes;
    const table = new Uint32Array(states * classes);
    this.rows.forEach((row, i) => row.forEach((target, c) => { table[i * classes + c] = value(target); }));
    return {
      classes,
      classOf: this.classOf,
      states,
      start: value(startState),
      acceptsAtEnd: Uint8Array.from(this.atEnd),
      table,
    };
  }
}
