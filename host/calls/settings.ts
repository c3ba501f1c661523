// The tracker's timeouts and limits: defaults, allowed ranges, and the
// `--call-timeout NAME=SECONDS` / `--call-limit NAME=N` parsing. docs/events.md
// explains each one.
import { boundedNumber } from "../bounds";
import { UsageError } from "../exits";

export interface TrackerSettings {
  inviteSeconds: number;       // INVITE with no final response
  graceSeconds: number;        // failed or cancelled INVITE, waiting for a late 2xx on another branch
  establishedSeconds: number;  // answered call with no message in its dialog
  lingerSeconds: number;       // ended call or finished transaction kept to absorb retransmissions
  transactionSeconds: number;  // non-INVITE request with no final response
  challengeSeconds: number;    // after a 401/407, how long a retry with credentials may take
  expiryGraceSeconds: number;  // added to a binding's Expires before reg-expired
  countersSeconds: number;     // periodic counters event, 0 for none
  maxCalls: number;
  maxBindings: number;
  maxTransactions: number;     // non-INVITE transactions, REGISTERs and challenges held
}

interface Range {
  key: keyof TrackerSettings;
  fallback: number;
  low: number;
  high: number;
  unit: string;
}

export const TIMEOUTS: Record<string, Range> = {
  invite: { key: "inviteSeconds", fallback: 180, low: 32, high: 3600, unit: "seconds" },
  grace: { key: "graceSeconds", fallback: 5, low: 0, high: 32, unit: "seconds" },
  established: { key: "establishedSeconds", fallback: 7200, low: 60, high: 86400, unit: "seconds" },
  linger: { key: "lingerSeconds", fallback: 32, low: 1, high: 300, unit: "seconds" },
  transaction: { key: "transactionSeconds", fallback: 32, low: 1, high: 300, unit: "seconds" },
  challenge: { key: "challengeSeconds", fallback: 60, low: 1, high: 600, unit: "seconds" },
  "expiry-grace": { key: "expiryGraceSeconds", fallback: 0, low: 0, high: 3600, unit: "seconds" },
  counters: { key: "countersSeconds", fallback: 60, low: 0, high: 86400, unit: "seconds" },
};

export const LIMITS: Record<string, Range> = {
  calls: { key: "maxCalls", fallback: 100_000, low: 1, high: 10_000_000, unit: "calls" },
  bindings: { key: "maxBindings", fallback: 100_000, low: 1, high: 10_000_000, unit: "bindings" },
  transactions: { key: "maxTransactions", fallback: 100_000, low: 1, high: 10_000_000, unit: "transactions" },
};

export function defaultSettings(): TrackerSettings {
  const settings = {} as Record<keyof TrackerSettings, number>;
  for (const range of [...Object.values(TIMEOUTS), ...Object.values(LIMITS)]) settings[range.key] = range.fallback;
  return settings;
}

// "invite=60,established=3600" onto the defaults; an unknown name or a value
// out of range is refused with what is allowed.
export function applySettings(settings: TrackerSettings, text: string, table: Record<string, Range>, option: string): TrackerSettings {
  for (const item of text.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const [name, value] = item.split("=").map((s) => s.trim());
    const range = table[name];
    if (range === undefined) {
      throw new UsageError(`${option}: unknown name '${name}'; one of ${Object.keys(table).join(", ")}`);
    }
    const number = boundedNumber(value ?? "", { type: "integer", min: range.low, max: range.high, unit: range.unit }, `${option} ${name}`);
    settings[range.key] = number;
  }
  return settings;
}
