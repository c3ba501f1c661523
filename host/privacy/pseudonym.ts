// Keyed pseudonyms: HMAC-SHA-256 of the value under a key derived from the key
// file, truncated, in a fixed readable form that is valid where the value stood
// (a SIP user part, a Call-ID, a tag: letters, digits and '-'). The kind is part
// of what is hashed, so a user and a Call-ID with the same text get unrelated
// pseudonyms. The same value and key give the same pseudonym in every run and on
// every sensor that shares the key; without the key no value can be tested.
import { createHmac } from "node:crypto";

export type PseudonymKind = "user" | "call-id" | "tag" | "name";

// Prefix and hex digits kept per kind. Call-IDs get 96 bits: they must stay
// unique across all of a deployment's calls; 64 bits keep users and tags apart.
const FORMAT: Record<PseudonymKind, { prefix: string; digits: number }> = {
  "user": { prefix: "u-", digits: 16 },
  "call-id": { prefix: "c-", digits: 24 },
  "tag": { prefix: "t-", digits: 16 },
  "name": { prefix: "n-", digits: 16 },
};

// Every pseudonym matches this: how a consumer (and the tests) tell one from an original.
export const PSEUDONYM = /^(?:u-[0-9a-f]{16}|c-[0-9a-f]{24}|t-[0-9a-f]{16}|n-[0-9a-f]{16})$/;

export class Pseudonyms {
  constructor(private readonly key: Buffer) {}

  // `value` is hashed as UTF-8, the text the events carry.
  of(kind: PseudonymKind, value: string): string {
    const { prefix, digits } = FORMAT[kind];
    const mac = createHmac("sha256", this.key).update(kind).update("\0").update(value, "utf8").digest("hex");
    return prefix + mac.slice(0, digits);
  }
}
