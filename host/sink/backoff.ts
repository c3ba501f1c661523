// How long to wait before reconnecting to a broker or collector: doubling from
// the first delay up to a ceiling, with jitter (half the delay random) so that
// many sensors that lost one broker do not all come back in the same instant.
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30000;

export function backoff(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * ceiling / 2);
}
