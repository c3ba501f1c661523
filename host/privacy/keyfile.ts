// The secret key behind every anonymized output (--anonymize KEYFILE): 32 bytes
// written as 64 hex digits, in a file only its owner may read. Its bytes are
// Crypto-PAn's key as the reference implementation takes it (AES key, then pad),
// so addresses match other Crypto-PAn tools given the same key; the pseudonym and
// field-encryption keys are derived from it with HKDF-SHA-256, one per use, so no
// key serves two algorithms. The key check value names the key without revealing it.
import { createHmac, hkdfSync } from "node:crypto";
import { readFileSync, statSync } from "node:fs";

export const KEY_BYTES = 32;
const HKDF_SALT = "siphon privacy v1";
const MAKE_ONE = "make one with: openssl rand -hex 32 > KEYFILE && chmod 600 KEYFILE";

export interface PrivacyKeys {
  cryptoPan: Buffer;   // 32 bytes: AES-128 key, then the pad's 16 bytes
  pseudonym: Buffer;   // HMAC-SHA-256 key
  fields: Buffer;      // AES-256-GCM key
  keyCheck: string;    // 8 hex digits
}

export class KeyFileError extends Error {}

// The key in `path`, refused when the file is missing, readable or writable by
// group or others, or does not hold exactly 64 hex digits.
export function readKeyFile(path: string, option = "--anonymize"): Buffer {
  let mode: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new KeyFileError(`${option} ${path}: not a regular file; ${MAKE_ONE}`);
    mode = stat.mode & 0o777;
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(`${option} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ${MAKE_ONE}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new KeyFileError(`${option} ${path}: the key file is open to group or others (mode ${mode.toString(8).padStart(4, "0")}); ` +
      `a secret key must be readable by its owner only: chmod 600 ${path}`);
  }
  const text = readFileSync(path, "latin1").trim();
  if (!/^[0-9A-Fa-f]{64}$/.test(text)) {
    throw new KeyFileError(`${option} ${path}: expected 64 hex digits (a 32-byte key) and nothing else, ` +
      `found ${text.length} characters; ${MAKE_ONE}`);
  }
  return Buffer.from(text, "hex");
}

export function deriveKeys(key: Buffer): PrivacyKeys {
  if (key.length !== KEY_BYTES) throw new Error(`privacy: a key is ${KEY_BYTES} bytes, got ${key.length}`);
  const derive = (use: string): Buffer => Buffer.from(hkdfSync("sha256", key, HKDF_SALT, use, KEY_BYTES));
  return {
    cryptoPan: Buffer.from(key),
    pseudonym: derive("pseudonym"),
    fields: derive("field encryption"),
    keyCheck: createHmac("sha256", derive("key check value")).update("siphon key check value").digest("hex").slice(0, 8),
  };
}
