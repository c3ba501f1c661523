// How a run ends: one exit code per kind of failure, the same for every command
// (README.md "Exit codes", docs/delivery.md). A run that started reading ends
// with its summary on stderr and, after a failure, one line naming what failed
// and what to do.

export const EXIT_OK = 0;
// The input could not be read to its end (missing, not a capture, truncated, an
// interface that cannot be opened), or held nothing siphon decodes.
export const EXIT_INPUT = 1;
// Bad options, a bad filter: nothing was read.
export const EXIT_USAGE = 2;
// An output could not be opened or written, or did not take everything by --flush-timeout.
export const EXIT_OUTPUT = 3;
// 128 + SIGPIPE: stdout's reader went away (`| head`). What a shell reports for cat or
// grep in the same place, so `set -o pipefail` treats siphon like them.
export const EXIT_STDOUT_CLOSED = 141;

// A failure that carries its exit code. Any other error is the input's (EXIT_INPUT):
// a capture that cannot be read, an interface that cannot be opened.
export class CodedError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = new.target.name;
  }
}

// Bad usage (an option, a value, a filter, a URL): nothing was read. The message
// names the option and the value, and says what is allowed.
export class UsageError extends CodedError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

// An output failed: the message names the output (option, file, URL without its
// password) and what to do.
export class OutputError extends CodedError {
  constructor(message: string) {
    super(message, EXIT_OUTPUT);
  }
}

// The input held frames, none of a link type siphon decodes.
export class NothingDecodable extends CodedError {
  constructor(message: string) {
    super(message, EXIT_INPUT);
  }
}

// stdout's reader closed its end. Not reported with a line of its own: `| head`
// closes it on purpose, and the summary says how far the run got.
export class StdoutClosed extends CodedError {
  constructor() {
    super("stdout was closed by its reader", EXIT_STDOUT_CLOSED);
  }
}

// The exit code one error stands for.
export function exitCodeOf(err: unknown): number {
  return err instanceof CodedError ? err.exitCode : EXIT_INPUT;
}

// The exit code of a run that met these failures: the first kind in the table's
// order (the input, then the outputs, then a closed stdout); 0 for none.
export function exitCodeFor(failures: Error[]): number {
  if (failures.length === 0) return EXIT_OK;
  const codes = failures.map(exitCodeOf);
  if (codes.some((c) => c !== EXIT_OUTPUT && c !== EXIT_STDOUT_CLOSED)) return EXIT_INPUT;
  return codes.includes(EXIT_OUTPUT) ? EXIT_OUTPUT : EXIT_STDOUT_CLOSED;
}

// The one line after the summary: every failure but a closed stdout, or undefined.
export function failureLine(failures: Error[], prefix = "siphon"): string | undefined {
  const shown = failures.filter((f) => !(f instanceof StdoutClosed)).map((f) => f.message);
  return shown.length === 0 ? undefined : `${prefix}: ${shown.join("; also: ")}`;
}

// Why a write failed, for a person: the errno's code and its text.
export function writeFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const reason = e.code === "ENOSPC" ? "no space left on the device" : e.code === "EDQUOT" ? "disk quota exceeded"
    : e.code === "EIO" ? "I/O error" : e.code === "EPIPE" ? "its reader went away" : e.message;
  return e.code ? `${e.code}, ${reason}` : reason;
}

// The advice for a file an output could not create.
export function createFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "ENOENT, its directory does not exist: create the directory or name another file";
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return `${code}, not writable here: name a file in a directory siphon may write to`;
  if (code === "EISDIR") return "EISDIR, that is a directory: name a file in it";
  return `${writeFailure(err)}: name another file`;
}
