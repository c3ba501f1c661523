// Crypto-PAn (Xu, Fan, Ammar, Moon: "Prefix-preserving IP address anonymization",
// ICNP 2002): output bit i is input bit i XOR the first bit of AES-128 of a block
// made of the first i input bits followed by the pad's remaining bits. Two
// addresses that share a k-bit prefix share a k-bit prefix after it, and the map
// is one-to-one. IPv4 is the reference implementation's 32-bit case; IPv6 the same
// over 128 bits. AES is Node's (ECB over the blocks, one call per address): every
// block depends on the input alone, so the 32 or 128 of them are encrypted at once.
import { createCipheriv, type Cipher } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { formatIp } from "../core/records";

export class CryptoPan {
  private readonly aes: Cipher;
  private readonly pad: Buffer;
  private readonly blocks = Buffer.alloc(128 * 16);

  // key: 32 bytes, the AES key then the 16 bytes whose encryption is the pad.
  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error(`Crypto-PAn: the key is 32 bytes, got ${key.length}`);
    this.aes = createCipheriv("aes-128-ecb", key.subarray(0, 16), null).setAutoPadding(false);
    this.pad = this.aes.update(key.subarray(16, 32));
  }

  // 4 or 16 address bytes to their anonymized bytes.
  anonymizeBytes(address: Uint8Array): Buffer {
    const bits = address.length * 8;
    const blocks = this.blocks.subarray(0, bits * 16);
    for (let i = 0; i < bits; i++) this.prefixBlock(blocks.subarray(i * 16, i * 16 + 16), address, i);
    const encrypted = this.aes.update(blocks);
    const out = Buffer.from(address);
    for (let i = 0; i < bits; i++) out[i >> 3] ^= (encrypted[i * 16] >> 7) << (7 - (i & 7));
    return out;
  }

  // Text to text: dotted IPv4 stays dotted, IPv6 comes back in RFC 5952 form. Anything else is returned as it is.
  anonymize(ip: string): string {
    if (isIPv4(ip)) return [...this.anonymizeBytes(Uint8Array.from(ip.split(".").map(Number)))].join(".");
    if (isIPv6(ip)) return formatIPv6(this.anonymizeBytes(parseIPv6(ip)));
    return ip;
  }

  // The first `prefixBits` bits of the address, then the pad's bits.
  private prefixBlock(block: Buffer, address: Uint8Array, prefixBits: number): void {
    this.pad.copy(block);
    const whole = prefixBits >> 3;
    block.set(address.subarray(0, whole));
    const rest = prefixBits & 7;
    if (rest === 0) return;
    const mask = (0xff << (8 - rest)) & 0xff;
    block[whole] = (address[whole] & mask) | (this.pad[whole] & ~mask & 0xff);
  }
}

// Any valid IPv6 text (embedded IPv4 too) to 16 bytes; the caller checked isIPv6.
export function parseIPv6(ip: string): Uint8Array {
  let text = ip;
  const tail: number[] = [];
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    tail.push(...dotted.slice(1).map(Number));
    text = `${text.slice(0, dotted.index)}0:0`;
  }
  const [head, rest] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const r = rest ? rest.split(":") : [];
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill("0"), ...r];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 255;
  });
  if (tail.length) out.set(tail, 12);
  return out;
}

// RFC 5952 text, as the core's records format addresses.
export function formatIPv6(b: Uint8Array): string {
  return formatIp(b, 0, true);
}
