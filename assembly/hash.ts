// The envelope id: a 64-bit signature of the message bytes. Multiply-rotate
// mixing of 8-byte words in four independent lanes (so the multiplies overlap
// instead of waiting on each other), lanes folded together, then a final
// avalanche, so equal bytes give equal ids and any changed byte changes about
// half the bits. Not cryptographic: it names copies of one message, it does
// not authenticate them.

const K1: u64 = 0x9e3779b97f4a7c15; // 2^64 / golden ratio
const K2: u64 = 0xc2b2ae3d27d4eb4f;
const K3: u64 = 0x165667b19e3779f9;

@inline function mix(h: u64, w: u64): u64 {
  return rotl<u64>(h ^ (w * K2), 31) * K1;
}

export function signature(p: usize, len: u32): u64 {
  let a: u64 = K3 ^ (<u64>len * K1), b = a + K2, c = a ^ K1, d = a - K2;
  let i: u32 = 0;
  for (; i + 32 <= len; i += 32) {
    a = mix(a, load<u64>(p + i));
    b = mix(b, load<u64>(p + i + 8));
    c = mix(c, load<u64>(p + i + 16));
    d = mix(d, load<u64>(p + i + 24));
  }
  let h = rotl<u64>(a, 1) + rotl<u64>(b, 7) + rotl<u64>(c, 12) + rotl<u64>(d, 18);
  for (; i + 8 <= len; i += 8) h = mix(h, load<u64>(p + i));
  if (i < len) {
    let tail: u64 = 0;
    for (let k: u32 = 0; i + k < len; k++) tail |= <u64>load<u8>(p + i + k) << (k << 3);
    h = mix(h, tail);
  }
  return finalMix(h);
}

// murmur3's 64-bit finaliser (fmix64): a bijection on u64 in which every input bit moves every
// output bit; the signature's last step, and the tracker's tables' home slot of a key.
@inline export function finalMix(h: u64): u64 {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccd;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53;
  h ^= h >> 33;
  return h;
}
