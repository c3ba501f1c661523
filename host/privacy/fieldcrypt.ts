// --encrypt-fields: the original of a field that was anonymized, sealed with
// AES-256-GCM under a key derived from the key file, a fresh random 96-bit IV per
// field (NIST SP 800-38D §8.2.2; §8.3 bounds random IVs to 2^32 seals per key),
// and the 128-bit tag. Written as base64url of IV, ciphertext, tag. Only a holder
// of the key file can open it; a changed byte fails the tag, never gives a value.
import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";

const IV_BYTES = 12;
const TAG_BYTES = 16;
const AAD = Buffer.from("siphon field v1");
const IV_POOL = 4096;   // IVs drawn from the system's generator at a time, not one syscall per field

export class FieldCrypt {
  private ivs = Buffer.alloc(0);
  private ivAt = 0;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error(`field encryption: the key is 32 bytes, got ${key.length}`);
  }

  seal(plain: string): string {
    const iv = this.nextIv();
    const cipher = createCipheriv("aes-256-gcm", this.key, iv, { authTagLength: TAG_BYTES }).setAAD(AAD);
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
  }

  // The original text, or an Error when `sealed` is not one of ours under this key.
  open(sealed: string): string {
    const bytes = Buffer.from(sealed, "base64url");
    if (bytes.length < IV_BYTES + TAG_BYTES) throw new Error("too short to be an encrypted field");
    const decipher = createDecipheriv("aes-256-gcm", this.key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES }).setAAD(AAD);
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      throw new Error("it does not authenticate under this key: made with another key, or altered");
    }
  }

  private nextIv(): Buffer {
    if (this.ivAt >= this.ivs.length) {
      this.ivs = randomFillSync(Buffer.alloc(IV_BYTES * IV_POOL));
      this.ivAt = 0;
    }
    const iv = this.ivs.subarray(this.ivAt, this.ivAt + IV_BYTES);
    this.ivAt += IV_BYTES;
    return iv;
  }
}
