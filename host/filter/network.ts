// IP addresses and networks for (src ...) and (dst ...): "192.0.2.1",
// "10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.1". Bits past the prefix are
// ignored, as tshark does for ip.addr == 10.1.2.3/8.

export interface Network {
  version: 4 | 6;
  bytes: Uint8Array; // 16 bytes; an IPv4 address fills the first 4, as in the core
  bits: number;      // prefix length
  text: string;      // as written
}

// The network written in `text`, or the reason it is not one.
export function parseNetwork(text: string): Network | string {
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const bytes = address.includes(":") ? ipv6Bytes(address) : ipv4Bytes(address);
  if (!bytes) return `'${address}' is not an IPv4 or IPv6 address`;
  const version = address.includes(":") ? 6 : 4;
  const width = version === 4 ? 32 : 128;
  let bits = width;
  if (slash >= 0) {
    const prefix = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(prefix)) return `'/${prefix}' is not a prefix length`;
    bits = Number(prefix);
    if (bits > width) return `prefix /${bits} is longer than an IPv${version} address (${width} bits)`;
  }
  const padded = new Uint8Array(16);
  padded.set(bytes);
  return { version, bytes: padded, bits, text };
}

function ipv4Bytes(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part) || Number(part) > 255) return undefined;
    bytes.push(Number(part));
  }
  return bytes;
}

// Eight groups of up to four hex digits, one "::" for a run of zero groups, and
// optionally a dotted IPv4 address as the last 32 bits (RFC 4291 §2.2).
function ipv6Bytes(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = ipv4Bytes(part);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}
