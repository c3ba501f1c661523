// The one source of randomness: Rng, a seeded xoshiro128** with the draws the generator needs
// (integers, floats, weighted picks, hex, bytes) and fork() for independent streams. Takes a
// seed; gives the same sequence on every platform, so a workload is a pure function of it.

/** xoshiro128** seeded through splitmix32: small, fast, and identical on every platform. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const splitmix32 = (): number => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = splitmix32();
    this.s1 = splitmix32();
    this.s2 = splitmix32();
    this.s3 = splitmix32();
  }

  u32(): number {
    const result = Math.imul(rotateLeft(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const shifted = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= shifted;
    this.s3 = rotateLeft(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [low, high]. */
  between(low: number, high: number): number {
    return low + this.below(high - low + 1);
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  weighted<T>(entries: readonly (readonly [T, number])[]): T {
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    let point = this.float() * total;
    for (const [value, weight] of entries) {
      point -= weight;
      if (point < 0) return value;
    }
    const last = entries[entries.length - 1];
    if (last === undefined) throw new Error("weighted pick from an empty list");
    return last[0];
  }

  exponential(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  hex(length: number): string {
    let text = "";
    while (text.length < length) {
      const word = this.u32();
      text += (HEX_PAIRS[word >>> 24] ?? "") + (HEX_PAIRS[(word >>> 16) & 0xff] ?? "") + (HEX_PAIRS[(word >>> 8) & 0xff] ?? "") + (HEX_PAIRS[word & 0xff] ?? "");
    }
    return text.length === length ? text : text.slice(0, length);
  }

  fill(bytes: Buffer): void {
    let offset = 0;
    for (; offset + 4 <= bytes.length; offset += 4) bytes.writeUInt32BE(this.u32(), offset);
    for (; offset < bytes.length; offset++) bytes[offset] = this.below(256);
  }

  /** An independent stream, so a scenario's lazily built packets don't shift anyone else's. */
  fork(): Rng {
    return new Rng(this.u32());
  }
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}
