// The bench scripts' arithmetic on their rounds: the median, the interval the median of the
// rounds' population lies in (95%), and a target judged on that interval rather than on one
// number. These machines' rounds spread by 30 to 60%, so a median a little below a limit in one
// sitting and a little above in the next says nothing; the interval says when a sitting cannot
// tell (docs/performance.md, "How a target is judged").

export function median(values) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// A distribution-free confidence interval for the median: the k-th smallest and k-th largest of n
// rounds hold the median of what the rounds were drawn from with probability 1 - 2 P(B <= k - 1),
// B binomial(n, 1/2) (each round lands below the median or above it, as a fair coin). k is the
// largest whose probability is at least `level`; with too few rounds for that (fewer than 6 at
// 95%) the interval is the whole range, with the smaller probability it has.
export function medianInterval(values, level = 0.95) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { low: NaN, high: NaN, coverage: 0 };
  let below = 0;        // P(B <= k - 1), summed as k grows
  let term = 0.5 ** n;  // P(B = k - 1)
  let k = 1;
  let coverage = 1 - 2 * term;
  for (let next = 2; next <= n >> 1; next++) {
    below += term;
    term *= (n - (next - 2)) / (next - 1);
    const wider = 1 - 2 * (below + term);
    if (wider < level) break;
    k = next;
    coverage = wider;
  }
  return { low: sorted[k - 1], high: sorted[n - k], coverage };
}

// Whether a ratio whose rounds gave `values` is at most `limit`: "met" when the whole interval is,
// "NOT met" when none of it is, else "not told apart" (the rounds straddle the limit). Fewer than
// five rounds hold the median with less than 90%: too few to say either.
export function judge(values, limit) {
  const interval = medianInterval(values);
  const verdict = interval.coverage < 0.9 ? "too few rounds to judge (5 or more)"
    : interval.high <= limit ? "met" : interval.low > limit ? "NOT met" : "not told apart from the limit";
  return { ...interval, median: median(values), verdict };
}

// "1.234 (1.201-1.262, 96% interval of 15 rounds): NOT met" for a judged ratio.
export function judged(values, limit, digits = 3) {
  const j = judge(values, limit);
  return `${j.median.toFixed(digits)} (${j.low.toFixed(digits)}-${j.high.toFixed(digits)}, ` +
    `${Math.floor(j.coverage * 100)}% interval of ${values.length} rounds) against at most ${limit}: ${j.verdict}`;
}
