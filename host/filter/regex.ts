// Regular expressions of the filter language, parsed into a small tree that
// host/filter/automaton.ts turns into a DFA. The syntax is the common subset of
// Go's RE2 and JavaScript: literals, escapes, classes, '.', * + ? {m,n},
// alternation, groups, ^ and $, and the flags (?i) (case-insensitive) and (?s)
// ('.' also matches a newline). Matching is over bytes: a non-ASCII literal
// stands for its UTF-8 bytes. What a finite automaton cannot do (back-references,
// look-around, word boundaries) is refused with the reason.

export class ByteSet {
  private readonly words = new Uint32Array(8);

  static of(...bytes: number[]): ByteSet {
    const set = new ByteSet();
    for (const b of bytes) set.add(b);
    return set;
  }

  static range(lo: number, hi: number): ByteSet {
    const set = new ByteSet();
    for (let b = lo; b <= hi; b++) set.add(b);
    return set;
  }

  add(b: number): void {
    this.words[b >>> 5] |= 1 << (b & 31);
  }

  has(b: number): boolean {
    return (this.words[b >>> 5] & (1 << (b & 31))) !== 0;
  }

  addAll(other: ByteSet): void {
    for (let i = 0; i < 8; i++) this.words[i] |= other.words[i];
  }

  inverted(): ByteSet {
    const out = new ByteSet();
    for (let i = 0; i < 8; i++) out.words[i] = ~this.words[i];
    return out;
  }

  // The same set with each ASCII letter in both cases.
  caseFolded(): ByteSet {
    const out = new ByteSet();
    out.addAll(this);
    for (let b = 0x41; b <= 0x5a; b++) {
      if (this.has(b) || this.has(b | 0x20)) {
        out.add(b);
        out.add(b | 0x20);
      }
    }
    return out;
  }

  key(): string {
    return Array.from(this.words, (w) => (w >>> 0).toString(16)).join(".");
  }
}

export type Regex =
  | { kind: "bytes"; set: ByteSet }
  | { kind: "sequence"; items: Regex[] }
  | { kind: "alternation"; options: Regex[] }
  | { kind: "repeat"; item: Regex; min: number; max: number } // max is Infinity when unbounded
  | { kind: "assert"; at: "start" | "end" };

export class RegexSyntaxError extends Error {
  constructor(message: string, readonly index: number) {
    super(message);
  }
}

export const MAX_REPEAT = 1000;
const MAX_GROUP_DEPTH = 100;

const DIGITS = ByteSet.range(0x30, 0x39);
const WORD = (() => {
  const set = ByteSet.range(0x30, 0x39);
  set.addAll(ByteSet.range(0x41, 0x5a));
  set.addAll(ByteSet.range(0x61, 0x7a));
  set.add(0x5f);
  return set;
})();
const SPACE = ByteSet.of(0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20);
const NEWLINE = 0x0a;

const CONTROL_ESCAPES: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, f: 0x0c, v: 0x0b };

interface Flags {
  ignoreCase: boolean;
  dotAll: boolean;
}

export function parseRegex(pattern: string): Regex {
  return new RegexParser(pattern).parse();
}

class RegexParser {
  private pos = 0;
  private flags: Flags = { ignoreCase: false, dotAll: false };
  private depth = 0;

  constructor(private readonly pattern: string) {}

  parse(): Regex {
    const tree = this.alternation();
    if (this.pos < this.pattern.length) {
      // alternation() stops only at the end or at a ')' it cannot match.
      throw new RegexSyntaxError("unbalanced ')' in the regular expression", this.pos);
    }
    return tree;
  }

  private peek(ahead = 0): string {
    return this.pattern[this.pos + ahead] ?? "";
  }

  private alternation(): Regex {
    const options = [this.sequence()];
    while (this.peek() === "|") {
      this.pos++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0] : { kind: "alternation", options };
  }

  private sequence(): Regex {
    const items: Regex[] = [];
    while (this.pos < this.pattern.length && this.peek() !== "|" && this.peek() !== ")") {
      const start = this.pos;
      const atom = this.atom();
      if (atom === undefined) {
        // a flag group such as (?i): nothing to match, and nothing may repeat it
        if (this.isQuantifierHere()) throw this.nothingToRepeat();
        continue;
      }
      items.push(this.quantified(atom, start));
    }
    return items.length === 1 ? items[0] : { kind: "sequence", items };
  }

  private atom(): Regex | undefined {
    const c = this.peek();
    switch (c) {
      case "(": return this.group();
      case "[": return this.bytes(this.characterClass());
      case ".": {
        this.pos++;
        const any = ByteSet.range(0, 255);
        return { kind: "bytes", set: this.flags.dotAll ? any : ByteSet.of(NEWLINE).inverted() };
      }
      case "^": this.pos++; return { kind: "assert", at: "start" };
      case "$": this.pos++; return { kind: "assert", at: "end" };
      case "\\": return this.escape();
      case "*": case "+": case "?": throw this.nothingToRepeat();
      case "{":
        if (this.repetitionAt(this.pos) !== undefined) throw this.nothingToRepeat();
        return this.literal();
      default: return this.literal();
    }
  }

  private nothingToRepeat(): RegexSyntaxError {
    return new RegexSyntaxError(`nothing to repeat before '${this.peek()}'`, this.pos);
  }

  private literal(): Regex {
    const code = this.pattern.codePointAt(this.pos) ?? 0;
    this.pos += code > 0xffff ? 2 : 1;
    return this.codePoint(code);
  }

  // An ASCII character is one byte (both cases under (?i)); anything else is the
  // sequence of its UTF-8 bytes.
  private codePoint(code: number): Regex {
    if (code < 0x80) return this.bytes(ByteSet.of(code));
    const utf8 = Buffer.from(String.fromCodePoint(code), "utf8");
    return { kind: "sequence", items: Array.from(utf8, (b) => ({ kind: "bytes", set: ByteSet.of(b) })) };
  }

  private bytes(set: ByteSet): Regex {
    return { kind: "bytes", set: this.flags.ignoreCase ? set.caseFolded() : set };
  }

  private isQuantifierHere(): boolean {
    const c = this.peek();
    return c === "*" || c === "+" || c === "?" || (c === "{" && this.repetitionAt(this.pos) !== undefined);
  }

  private quantified(atom: Regex, start: number): Regex {
    if (!this.isQuantifierHere()) return atom;
    if (this.pattern[start] === "^" || this.pattern[start] === "$") {
      throw new RegexSyntaxError(`nothing to repeat: '${this.pattern[start]}' is an anchor, not a character`, this.pos);
    }
    const [min, max] = this.quantifier();
    if (this.peek() === "?") this.pos++; // lazy: the same yes/no answer for a search
    if (this.isQuantifierHere()) {
      throw new RegexSyntaxError("a repetition cannot follow another repetition; wrap the repeated part in a group", this.pos);
    }
    return { kind: "repeat", item: atom, min, max };
  }

  private quantifier(): [number, number] {
    const c = this.pattern[this.pos];
    if (c !== "{") {
      this.pos++;
      if (c === "*") return [0, Infinity];
      if (c === "+") return [1, Infinity];
      return [0, 1];
    }
    const at = this.pos;
    const repetition = this.repetitionAt(at);
    if (repetition === undefined) throw new RegexSyntaxError("bad repetition", at);
    const [min, max, end] = repetition;
    if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) {
      throw new RegexSyntaxError(`repetition count above ${MAX_REPEAT}`, at);
    }
    if (min > max) throw new RegexSyntaxError(`repetition {${min},${max}} has its minimum above its maximum`, at);
    this.pos = end;
    return [min, max];
  }

  // {m}, {m,} or {m,n} at `at`: [min, max, index after '}'], or undefined when the
  // text is not a repetition (then '{' is a literal, as in Go and JavaScript).
  private repetitionAt(at: number): [number, number, number] | undefined {
    const match = /^\{(\d+)(,(\d*))?\}/.exec(this.pattern.slice(at, at + 24));
    if (!match) return undefined;
    const min = Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === "" ? Infinity : Number(match[3]);
    return [min, max, at + match[0].length];
  }

  private group(): Regex | undefined {
    const open = this.pos++;
    const saved = this.flags;
    if (this.peek() === "?") {
      this.pos++;
      const kind = this.groupKind(open);
      if (kind === "flags") return undefined;
    }
    if (++this.depth > MAX_GROUP_DEPTH) {
      throw new RegexSyntaxError(`groups nest deeper than ${MAX_GROUP_DEPTH} levels`, open);
    }
    this.flags = { ...this.flags };
    const inner = this.alternation();
    if (this.peek() !== ")") throw new RegexSyntaxError("missing ')' for this group", open);
    this.pos++;
    this.depth--;
    this.flags = saved;
    return inner;
  }

  // After "(?": a non-capturing or named group (its body follows), or flags,
  // either for the rest of the enclosing group "(?i)" or for a body "(?i:...)".
  private groupKind(open: number): "group" | "flags" {
    const rest = this.pattern.slice(this.pos);
    if (rest.startsWith(":")) {
      this.pos++;
      return "group";
    }
    if (rest.startsWith("=") || rest.startsWith("!")) {
      throw new RegexSyntaxError("look-ahead (?= and (?! is not supported: the automaton reads each byte once and never looks ahead", open);
    }
    if (rest.startsWith("<=") || rest.startsWith("<!")) {
      throw new RegexSyntaxError("look-behind (?<= and (?<! is not supported: the automaton reads each byte once and never looks back", open);
    }
    const named = /^P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
    if (named) {
      this.pos += named[0].length;
      return "group";
    }
    const flags = /^([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/.exec(rest);
    if (!flags) throw new RegexSyntaxError("unknown group syntax after '(?'", open);
    const next = { ...this.flags };
    this.applyFlags(next, flags[1], true, open);
    this.applyFlags(next, flags[2] ?? "", false, open);
    this.pos += flags[0].length;
    if (flags[3] === ")") {
      this.flags = next; // to the end of the enclosing group
      return "flags";
    }
    this.flags = next; // group() restores the outer flags after the body
    return "group";
  }

  private applyFlags(into: Flags, letters: string, on: boolean, at: number): void {
    for (const f of letters) {
      if (f === "i") into.ignoreCase = on;
      else if (f === "s") into.dotAll = on;
      else if (f === "m") throw new RegexSyntaxError("flag 'm' is not supported: ^ and $ match only at the start and end of the text", at);
      else throw new RegexSyntaxError(`unknown flag '${f}'; the flags are i (ignore case) and s ('.' matches a newline)`, at);
    }
  }

  private escape(): Regex {
    const at = this.pos;
    const c = this.pattern[this.pos + 1];
    if (c === undefined) throw new RegexSyntaxError("trailing backslash at the end of the regular expression", at);
    const set = this.sharedEscape(at);
    if (set !== undefined) return this.bytes(set);
    if (c === "b" || c === "B") {
      throw new RegexSyntaxError(`word boundaries (\\${c}) are not supported; match the neighbouring characters instead, e.g. (^|[^a-z])word([^a-z]|$)`, at);
    }
    if (/[1-9]/.test(c) || c === "k") {
      throw new RegexSyntaxError(`back-references (\\${c}) are not supported: an automaton cannot remember what a group matched`, at);
    }
    if (c === "u") {
      const code = this.hexEscape(at, 4);
      return this.codePoint(code);
    }
    throw new RegexSyntaxError(`unknown escape '\\${c}'`, at);
  }

  // Escapes with the same meaning inside and outside a class; undefined when the
  // escape is not one of them (the caller decides). Consumes what it accepts.
  private sharedEscape(at: number): ByteSet | undefined {
    const c = this.pattern[at + 1];
    const classes: Record<string, ByteSet> = {
      d: DIGITS, D: DIGITS.inverted(), w: WORD, W: WORD.inverted(), s: SPACE, S: SPACE.inverted(),
    };
    if (classes[c]) {
      this.pos = at + 2;
      return classes[c];
    }
    if (c in CONTROL_ESCAPES) {
      this.pos = at + 2;
      return ByteSet.of(CONTROL_ESCAPES[c]);
    }
    if (c === "0" && !/[0-9]/.test(this.pattern[at + 2] ?? "")) {
      this.pos = at + 2;
      return ByteSet.of(0);
    }
    if (c === "x") return ByteSet.of(this.hexEscape(at, 2));
    if (c === "p" || c === "P") {
      throw new RegexSyntaxError(`Unicode classes (\\${c}{...}) are not supported: matching is over bytes`, at);
    }
    if (!/[A-Za-z0-9]/.test(c) && c.charCodeAt(0) < 0x80) {
      this.pos = at + 2;
      return ByteSet.of(c.charCodeAt(0)); // an escaped punctuation character is itself
    }
    return undefined;
  }

  private hexEscape(at: number, digits: number): number {
    const hex = this.pattern.slice(at + 2, at + 2 + digits);
    if (hex.length !== digits || !/^[0-9a-fA-F]+$/.test(hex)) {
      throw new RegexSyntaxError(`\\${this.pattern[at + 1]} needs exactly ${digits} hex digits`, at);
    }
    this.pos = at + 2 + digits;
    return parseInt(hex, 16);
  }

  // [...] or [^...]. A ']' first in the class is a literal, as in Go and POSIX.
  private characterClass(): ByteSet {
    const open = this.pos++;
    const negated = this.peek() === "^";
    if (negated) this.pos++;
    const set = new ByteSet();
    let first = true;
    while (first || this.peek() !== "]") {
      if (this.pos >= this.pattern.length) throw new RegexSyntaxError("missing ']' for this class", open);
      first = false;
      const lo = this.classItem();
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== "") {
        const dash = this.pos++;
        const hi = this.classItem();
        if (typeof lo !== "number" || typeof hi !== "number") {
          throw new RegexSyntaxError("a range cannot start or end with a class such as \\d", dash);
        }
        if (lo > hi) throw new RegexSyntaxError(`range out of order: ${String.fromCharCode(lo)}-${String.fromCharCode(hi)}`, dash);
        set.addAll(ByteSet.range(lo, hi));
      } else {
        if (typeof lo === "number") set.add(lo);
        else set.addAll(lo);
      }
    }
    this.pos++;
    const folded = this.flags.ignoreCase ? set.caseFolded() : set;
    return negated ? folded.inverted() : folded;
  }

  // One byte, or a class escape such as \d, inside [...].
  private classItem(): number | ByteSet {
    const at = this.pos;
    const c = this.pattern[at];
    if (c === "[" && /^\[:[a-z]+:\]/.test(this.pattern.slice(at))) {
      throw new RegexSyntaxError("POSIX classes such as [:alpha:] are not supported; write the range, e.g. [a-zA-Z]", at);
    }
    if (c === "\\") {
      const next = this.pattern[at + 1];
      if (next === "b") throw new RegexSyntaxError("\\b inside a class is ambiguous; write \\x08 for a backspace", at);
      const set = this.sharedEscape(at);
      if (set === undefined) {
        if (next === undefined) throw new RegexSyntaxError("missing ']' for this class", at);
        throw new RegexSyntaxError(`unknown escape '\\${next}' inside a class`, at);
      }
      return onlyByte(set) ?? set;
    }
    const code = this.pattern.codePointAt(at) ?? 0;
    if (code >= 0x80) {
      throw new RegexSyntaxError(`non-ASCII character '${String.fromCodePoint(code)}' inside [...]: a class matches one byte; use an alternation such as (é|è)`, at);
    }
    this.pos++;
    return code;
  }
}

function onlyByte(set: ByteSet): number | undefined {
  let found: number | undefined;
  for (let b = 0; b < 256; b++) {
    if (!set.has(b)) continue;
    if (found !== undefined) return undefined;
    found = b;
  }
  return found;
}
