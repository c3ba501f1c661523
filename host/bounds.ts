// Every number a user gives is bounded: an option's value, a field of a compound
// option (--call-timeout invite=60), a URL's port. Checked here, by every stage
// that reads one, so none can wrap, trap or size something past the core's
// memory, and the refusal names the option, the value and the range.
import { UsageError } from "./exits";

// The range one number must fall in: an option row's, or one field of a compound option.
export interface Bounds {
  type: "integer" | "number";
  min: number;
  max: number;
  unit: string;
}

// "an integer from 0 to 1048576 (flows)": what a bounded value may be, for messages and --help.
export function describeBounds(b: Bounds): string {
  return `${b.type === "integer" ? "an integer" : "a number"} from ${b.min} to ${b.max} (${b.unit})`;
}

// Plain decimal only: "1e10", "0x10", " 5", "Infinity" are refused, not read as
// JavaScript's Number() would read them (1e10 once wrapped in the core and spun forever).
const INTEGER_TEXT = /^-?[0-9]+$/;
const DECIMAL_TEXT = /^-?[0-9]+(\.[0-9]+)?$/;

// A value a flag, the environment (text) or a config file (a JSON number, never a
// string) gives: within `b`, or a UsageError that names the option, the value and the range.
export function boundedNumber(raw: unknown, b: Bounds, where: string, fromFile = false): number {
  const fail = (problem: string): never => {
    const shown = typeof raw === "string" && !fromFile && /^\S+$/.test(raw) ? raw : JSON.stringify(raw) ?? String(raw);
    throw new UsageError(`${where}: ${shown} ${problem}: ${describeBounds(b)}`);
  };
  let n: number;
  if (typeof raw === "number") n = raw;
  else if (typeof raw === "string" && !fromFile) {
    if (!(b.type === "integer" ? INTEGER_TEXT : DECIMAL_TEXT).test(raw)) fail(`is not ${b.type === "integer" ? "an integer" : "a decimal number"}`);
    n = Number(raw);
  } else return fail(typeof raw === "string" ? "is a string, not a number (write it without quotes)" : "is not a number");
  if (b.type === "integer" && !Number.isInteger(n)) fail("is not an integer");
  if (!(n >= b.min && n <= b.max)) fail("is out of range");
  return n;
}

// The port a URL option names, when it names one: the URL parser refuses
// past 65535 and non-digits; 0 is no port to connect to.
export function checkUrlPort(u: URL, option: string): void {
  if (u.port !== "") boundedNumber(u.port, { type: "integer", min: 1, max: 65535, unit: "port" }, `${option} port`);
}
