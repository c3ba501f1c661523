// `siphon deanonymize --key KEYFILE [FILE|-]`: for the holder of the key, the
// events or call records of a run with --anonymize --encrypt-fields with their
// original values put back (host/privacy/restore.ts), one NDJSON line in, one
// out, on stdout. Lines that are not JSON, or carry nothing sealed, pass as they
// are; records made under another key are passed and counted, never guessed at.
import { createReadStream } from "node:fs";
import { parseArgs } from "node:util";
import { fieldOpener, KeyFileError } from "../privacy";
import { restoreRecord, type Opener } from "../privacy/restore";
import { EXIT_INPUT, EXIT_OK, UsageError } from "../exits";
import { boundedLines, LINE_MAX_BYTES } from "./lines";

export const DEANONYMIZE_HELP = `Usage:
  siphon deanonymize --key KEYFILE [FILE|-]   the original values of an anonymized run's events or call
                                              records (NDJSON, one per line; default stdin) on stdout
  --key KEYFILE   the key file the run was given with --anonymize (mode 600)
Only fields the run sealed with --encrypt-fields can be restored; pseudonyms and anonymized addresses
alone cannot be turned back. docs/privacy.md
Exit codes: 0 done; 1 the input could not be read, or a record was made under another key or was
altered (counted on stderr; such lines are written as they came), or a line was longer than 16 MiB
(counted, left out); 2 bad usage or key file.
`;

interface Counts {
  lines: number;
  restored: number;
  fields: number;
  otherKey: Map<string, number>;
  failed: number;
  notJson: number;
  tooLong: number;
}

export async function deanonymizeCommand(args: string[]): Promise<number> {
  let parsed: { values: { key?: string; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: { key: { type: "string" }, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.replace(/\. To specify.*$/s, "")} (try 'siphon deanonymize --help')`);
  }
  if (parsed.values.help) {
    process.stdout.write(DEANONYMIZE_HELP);
    return EXIT_OK;
  }
  const keyFile = parsed.values.key;
  if (keyFile === undefined) throw new UsageError("deanonymize needs --key KEYFILE, the key the run was anonymized with (try 'siphon deanonymize --help')");
  if (parsed.positionals.length > 1) throw new UsageError(`deanonymize reads one file (or '-'), got ${parsed.positionals.length}`);
  let opener: Opener;
  try {
    opener = fieldOpener(keyFile, "--key");
  } catch (err) {
    if (err instanceof KeyFileError) throw new UsageError(err.message);
    throw err;
  }
  const input = parsed.positionals[0] ?? "-";
  const counts: Counts = { lines: 0, restored: 0, fields: 0, otherKey: new Map(), failed: 0, notJson: 0, tooLong: 0 };
  let readFailure: string | undefined;
  try {
    await eachLine(input, (line) => {
      if (line === undefined) {
        counts.lines++;
        counts.tooLong++;
      } else process.stdout.write(`${restoreLine(opener, line, counts)}\n`);
    });
  } catch (err) {
    readFailure = (err as Error).message;
  }
  process.stderr.write(`${summary(counts, opener.keyCheck)}\n`);
  if (readFailure !== undefined) process.stderr.write(`siphon: ${readFailure}\n`);
  return readFailure !== undefined || counts.failed > 0 || counts.otherKey.size > 0 || counts.tooLong > 0 ? EXIT_INPUT : EXIT_OK;
}

function restoreLine(opener: Opener, line: string, counts: Counts): string {
  counts.lines++;
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    counts.notJson++;
    return line;
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) return line;
  const result = restoreRecord(opener, record as Record<string, unknown>);
  if (result.kind === "other-key") {
    counts.otherKey.set(result.keyCheck, (counts.otherKey.get(result.keyCheck) ?? 0) + 1);
    return line;
  }
  if (result.kind === "nothing-sealed") return line;
  counts.fields += result.fields;
  counts.failed += result.failed.length;
  if (result.fields > 0) counts.restored++;
  return JSON.stringify(record);
}

function summary(c: Counts, keyCheck: string): string {
  const parts = [`siphon deanonymize: ${c.lines} lines, ${c.restored} restored (${c.fields} fields) with key ${keyCheck}`];
  for (const [other, n] of c.otherKey) parts.push(`${n} made with key ${other}, not this one: give that key's file`);
  if (c.failed > 0) parts.push(`${c.failed} fields did not authenticate (altered, or sealed under another key) and were left as they are`);
  if (c.notJson > 0) parts.push(`${c.notJson} lines were not JSON`);
  if (c.tooLong > 0) parts.push(`${c.tooLong} lines longer than ${LINE_MAX_BYTES >> 20} MiB were left out`);
  return parts.join("; ");
}

async function eachLine(path: string, take: (line: string | undefined) => void): Promise<void> {
  const input = path === "-" ? process.stdin : createReadStream(path);
  await new Promise<void>((resolve, reject) => {
    input.once("error", (err: NodeJS.ErrnoException) => reject(new Error(`${path}: cannot read it (${err.code ?? err.message}): check the path`)));
    input.once("readable", () => resolve());
    input.once("end", () => resolve());
  });
  for await (const line of boundedLines(input)) {
    if (line === undefined || line.trim() !== "") take(line);
  }
}
