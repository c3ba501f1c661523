// Types of bench/stats.mjs for the tests that import it (test/bench-stats.test.ts).
export interface Interval {
  low: number;
  high: number;
  coverage: number;
}
export interface Judgement extends Interval {
  median: number;
  verdict: "met" | "NOT met" | "not told apart from the limit" | "too few rounds to judge (5 or more)";
}
export function median(values: readonly number[]): number;
export function medianInterval(values: readonly number[], level?: number): Interval;
export function judge(values: readonly number[], limit: number): Judgement;
export function judged(values: readonly number[], limit: number, digits?: number): string;
