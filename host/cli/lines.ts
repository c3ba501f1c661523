// The lines of an event or record stream (siphon cdr, siphon deanonymize), each at most
// LINE_MAX_BYTES. readline holds a line whole, and one longer than a string may be (512 MiB:
// a damaged or hostile file with no newline) threw "RangeError: Invalid string length" inside
// its data handler, which ended the process with a stack trace. A longer line is given as
// `undefined`, for the caller to count, and reading goes on after its newline.
import type { Readable } from "node:stream";

export const LINE_MAX_BYTES = 16 << 20;   // an event is a few kB; one with the largest SIP values well under 1 MiB

export async function* boundedLines(input: Readable, max = LINE_MAX_BYTES): AsyncGenerator<string | undefined> {
  let parts: Buffer[] = [];
  let held = 0;
  let tooLong = false;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let from = 0;
    for (;;) {
      const newline = chunk.indexOf(10, from);
      const end = newline < 0 ? chunk.length : newline;
      if (!tooLong && held + end - from > max) {
        tooLong = true;
        parts = [];
      } else if (!tooLong) {
        parts.push(chunk.subarray(from, end));
        held += end - from;
      }
      if (newline < 0) break;
      yield tooLong ? undefined : lineOf(parts);
      parts = [];
      held = 0;
      tooLong = false;
      from = newline + 1;
    }
  }
  if (tooLong) yield undefined;
  else if (held > 0) yield lineOf(parts);
}

// UTF-8 decoded once the line is whole, so a character split between chunks stays one; CRLF is one break.
function lineOf(parts: Buffer[]): string {
  const line = Buffer.concat(parts).toString("utf8");
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
