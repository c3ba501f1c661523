// bench/stats.mjs: the median, its distribution-free interval, and a target judged on it (how the
// bench scripts say met or not on machines whose rounds spread by a third).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { judge, judged, median, medianInterval } from "../bench/stats.mjs";

// 1..n in a shuffled order (13 is prime to every n used): the statistics must not depend on the
// order of the rounds.
function rounds(n: number): number[] {
  return Array.from({ length: n }, (_, i) => ((i * 13) % n) + 1);
}

test("median: the middle one, the mean of the middle two, NaN for none", () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

// The k-th smallest and k-th largest with k the largest whose coverage, 1 - 2 P(B <= k - 1) for B
// binomial(n, 1/2), is at least 95%: published values of that table.
test("medianInterval: the order statistics and coverage of the binomial table", () => {
  const cases: [number, number, number, number][] = [[6, 1, 6, 0.9688], [9, 2, 8, 0.9609], [11, 2, 10, 0.9883], [15, 4, 12, 0.9648], [21, 6, 16, 0.9734]];
  for (const [n, low, high, coverage] of cases) {
    const r = medianInterval(rounds(n));
    assert.equal([r.low, r.high], [low, high], `n = ${n}: ${JSON.stringify(r)}`);
    assert.ok(Math.abs(r.coverage - coverage) < 5e-5, `n = ${n}: coverage ${r.coverage}, want ${coverage}`);
  }
});

test("medianInterval: too few rounds for 95% give the whole range and the smaller coverage", () => {
  const r = medianInterval([5, 1, 3, 2, 4]);
  assert.equal([r.low, r.high], [1, 5]);
  assert.ok(Math.abs(r.coverage - 0.9375) < 1e-9, String(r.coverage));
  assert.is(medianInterval([7]).coverage, 0);
});

test("judge: met below the limit, NOT met above it, not told apart across it", () => {
  const near = [1.18, 1.19, 1.21, 1.22, 1.2, 1.17, 1.23, 1.19, 1.21];
  assert.is(judge(near.map((x) => x - 0.1), 1.2).verdict, "met");
  assert.is(judge(near.map((x) => x + 0.1), 1.2).verdict, "NOT met");
  assert.is(judge(near, 1.2).verdict, "not told apart from the limit");
  // A median under the limit is not enough: the interval decides.
  assert.ok(median(near) <= 1.2);
  assert.match(judged(near, 1.2), /^1\.200 \(1\.180-1\.220, 96% interval of 9 rounds\) against at most 1\.2: not told apart/);
  // Four rounds hold the median with 87.5%: no verdict, however far from the limit.
  assert.is(judge([2, 3, 2.5, 2.2], 1.2).verdict, "too few rounds to judge (5 or more)");
  assert.is(judge([2, 3, 2.5, 2.2, 2.1], 1.2).verdict, "NOT met");
});

test.run();
