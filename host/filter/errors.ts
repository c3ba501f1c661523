// Errors of the filter language. Every error names what failed, where (line:column
// in the expression, both 1-based) and, when there is one, what to write instead.
import { UsageError } from "../exits";

export interface Position {
  offset: number; // UTF-16 index into the source
  line: number;
  column: number;
}

// A bad expression is bad usage: refused at start-up, exit 2.
export class FilterError extends UsageError {
  constructor(
    readonly reason: string,
    readonly at?: Position,
    readonly hint?: string,
  ) {
    super(`filter: ${reason}${at ? ` at ${at.line}:${at.column}` : ""}${hint ? ` (${hint})` : ""}`);
  }
}

// Positions in one source text: line starts are found once, then each offset
// is placed by binary search (the parser asks for one per token).
export class Locator {
  private readonly lineStarts: number[] = [0];

  constructor(source: string) {
    for (let i = 0; i < source.length; i++) if (source.charCodeAt(i) === 0x0a) this.lineStarts.push(i + 1);
  }

  at(offset: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { offset, line: lo + 1, column: offset - this.lineStarts[lo] + 1 };
  }
}

// "did you mean 'x'?" when a known word is within a small edit distance of the
// one written; otherwise the list of known words, so the user never has to guess.
export function suggestion(written: string, known: readonly string[], what: string): string {
  const lower = written.toLowerCase();
  let best = "";
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  const closeEnough = Math.max(1, Math.min(2, Math.floor(best.length / 3)));
  if (bestDistance <= closeEnough) return `did you mean '${best}'?`;
  return `${what}: ${known.join(", ")}`;
}

// Levenshtein distance, with a transposition counted as one edit.
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0].push(j);
        continue;
      }
      const substitute = rows[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, substitute);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i].push(d);
    }
  }
  return rows[a.length][b.length];
}
