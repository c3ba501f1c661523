// The filter language's surface syntax: s-expressions of lists, bare words,
// whole numbers and quoted strings, each carrying its position for errors.
//
// Strings run from one '"' to the next, as in sip-capture; a backslash keeps the
// character after it inside the string (so "\"" holds a quote) and is itself kept
// unless that character is a quote, so regular expressions like "\d+" need no
// doubling. A ';' outside a string starts a comment to the end of the line.
import { FilterError, Locator, type Position } from "./errors";

export type Node = ListNode | WordNode | NumberNode | StringNode;

export interface ListNode {
  kind: "list";
  items: Node[];
  at: Position;
}

export interface WordNode {
  kind: "word";
  text: string;
  at: Position;
}

export interface NumberNode {
  kind: "number";
  value: number;
  text: string;
  at: Position;
}

export interface StringNode {
  kind: "string";
  text: string;
  at: Position;
  // The source offset of each UTF-16 unit of `text`, so an error found inside the
  // string (a bad regular expression) points at the right column.
  offsets: number[];
}

// Lists nest at most this deep: the parser, the compiler and the printer recurse
// per level, and no sensible filter comes near it.
export const MAX_DEPTH = 64;

// Parses a whole expression; undefined when the source holds only blanks and
// comments (the empty expression, which matches every message).
export function parseExpression(source: string): Node | undefined {
  const parser = new Parser(source);
  const node = parser.next(0);
  if (node === ")") throw parser.error("unbalanced parentheses: ')' without a matching '('", parser.tokenStart);
  if (node === undefined) return undefined;
  const after = parser.next(0);
  if (after !== undefined) {
    const text = after === ")" ? "')'" : describe(after);
    throw parser.error(`unexpected ${text} after the end of the expression`, parser.tokenStart,
      after === ")" ? "remove it, or add the '(' it closes" : "combine several filters with (all ...) or (any ...)");
  }
  return node;
}

// How a node is named in messages: "word 'bob'", "number 100", "string \"x\"", "a list".
export function describe(node: Node): string {
  switch (node.kind) {
    case "word": return `word '${node.text}'`;
    case "number": return `number ${node.text}`;
    case "string": return `string ${JSON.stringify(node.text)}`;
    case "list": return "a list";
  }
}

class Parser {
  private pos = 0;
  private readonly locator: Locator;
  tokenStart = 0;

  constructor(private readonly source: string) {
    this.locator = new Locator(source);
  }

  error(reason: string, offset: number, hint?: string): FilterError {
    return new FilterError(reason, this.locator.at(offset), hint);
  }

  // The next node, ")" when a list ends here, undefined at the end of input.
  next(depth: number): Node | ")" | undefined {
    this.skipBlanks();
    this.tokenStart = this.pos;
    if (this.pos >= this.source.length) return undefined;
    const c = this.source[this.pos];
    if (c === ")") {
      this.pos++;
      return ")";
    }
    if (c === "(") return this.list(depth + 1);
    if (c === '"') return this.string();
    return this.atom();
  }

  private skipBlanks(): void {
    const s = this.source;
    while (this.pos < s.length) {
      if (/\s/.test(s[this.pos])) {
        this.pos++;
      } else if (s[this.pos] === ";") {
        while (this.pos < s.length && s[this.pos] !== "\n") this.pos++;
      } else {
        return;
      }
    }
  }

  private list(depth: number): ListNode {
    const open = this.pos++;
    if (depth > MAX_DEPTH) {
      throw this.error(`lists nest deeper than ${MAX_DEPTH} levels`, open, "flatten nested (all ...) and (any ...) into one");
    }
    const items: Node[] = [];
    for (;;) {
      const item = this.next(depth);
      if (item === ")") return { kind: "list", items, at: this.locator.at(open) };
      if (item === undefined) {
        throw this.error("unbalanced parentheses: this '(' is never closed", open, "add the missing ')'");
      }
      items.push(item);
    }
  }

  private string(): StringNode {
    const open = this.pos++;
    const s = this.source;
    let text = "";
    const offsets: number[] = [];
    while (this.pos < s.length && s[this.pos] !== '"') {
      if (s[this.pos] === "\\" && this.pos + 1 < s.length) {
        if (s[this.pos + 1] !== '"') {
          text += "\\";
          offsets.push(this.pos);
        }
        this.pos++;
      }
      text += s[this.pos];
      offsets.push(this.pos);
      this.pos++;
    }
    if (this.pos >= s.length) {
      throw this.error("unbalanced quotes: this '\"' is never closed", open, "add the closing '\"'; write \\\" for a quote inside a string");
    }
    this.pos++;
    return { kind: "string", text, at: this.locator.at(open), offsets };
  }

  private atom(): WordNode | NumberNode {
    const start = this.pos;
    const s = this.source;
    while (this.pos < s.length && !/[\s()";]/.test(s[this.pos])) this.pos++;
    const text = s.slice(start, this.pos);
    const at = this.locator.at(start);
    if (/^[0-9]+$/.test(text)) return { kind: "number", value: Number(text), text, at };
    return { kind: "word", text, at };
  }
}
