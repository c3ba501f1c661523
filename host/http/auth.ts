// The control surface's one credential: a bearer token read from
// --http-token-file at start-up, sent by the page in the Authorization header
// (never a cookie, so another site cannot make a browser send it). Compared
// in constant time over SHA-256 digests, so neither the content nor the
// length of the token leaks through timing. Every refusal is counted.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { UsageError } from "../exits";

// A token short enough to guess is refused at start-up.
export const TOKEN_MIN_CHARS = 16;
const TOKEN_MAX_BYTES = 4096;

export type Verdict = "granted" | "read-only" | "no-token" | "wrong-token";

export class TokenGuard {
  refusedMissing = 0;
  refusedWrong = 0;
  granted = 0;
  private readonly digest: Buffer | undefined;

  constructor(token: string | undefined) {
    this.digest = token === undefined ? undefined : sha256(token);
  }

  get enabled(): boolean {
    return this.digest !== undefined;
  }

  check(req: IncomingMessage): Verdict {
    if (this.digest === undefined) return "read-only";
    const presented = bearerOf(req.headers.authorization);
    if (presented === undefined) {
      this.refusedMissing++;
      return "no-token";
    }
    if (!timingSafeEqual(sha256(presented), this.digest)) {
      this.refusedWrong++;
      return "wrong-token";
    }
    this.granted++;
    return "granted";
  }

  counters(): Record<string, number> {
    return { http_control_granted: this.granted, http_control_refused_no_token: this.refusedMissing,
      http_control_refused_wrong_token: this.refusedWrong };
  }
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function bearerOf(header: string | undefined): string | undefined {
  const match = /^Bearer ([^\s]+)\s*$/i.exec(header ?? "");
  return match?.[1];
}

// The token in FILE: its first line, trimmed; a file that cannot be read, or holds
// a short token, stops the start (exit 2) with what to do.
export function readTokenFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`--http-token-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.split("\n")[0].trim();
  if (token.length < TOKEN_MIN_CHARS || Buffer.byteLength(token) > TOKEN_MAX_BYTES || /\s/.test(token)) {
    throw new UsageError(`--http-token-file: ${path} must hold one token of ${TOKEN_MIN_CHARS} to ${TOKEN_MAX_BYTES} characters ` +
      "without spaces on its first line, e.g. from: head -c 32 /dev/urandom | base64 > FILE");
  }
  return token;
}
