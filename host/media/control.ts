// Recording chosen at run time by address, as SIPdrop does: start(address) records, from then
// on, every call whose SIP messages come from or go to that address, or whose SDP names it as
// the media's connection address; stop(address) ends that (calls already being recorded go on to their
// end). The web view drives it through the Recordings interface; the recorder asks matches().
import { isIP } from "node:net";

export interface Recordings {
  start(address: string): void;
  stop(address: string): boolean;
  active(): { address: string; since: string; calls: number }[];
}

interface Started {
  since: string;
  calls: number;
}

const MAX_ADDRESSES = 1024;

// One spelling per address: IPv6 as RFC 5952 writes it (the form the core's records use).
export function canonicalAddress(address: string): string {
  const bare = address.trim().replace(/^\[(.*)\]$/, "$1");
  const version = isIP(bare);
  if (version === 4) return bare;
  if (version === 6) return new URL(`http://[${bare}]`).hostname.slice(1, -1);
  throw new Error(`recording by address: '${address}' is not an IPv4 or IPv6 address; give one such as 192.0.2.7 or 2001:db8::7`);
}

export class RecordingControl implements Recordings {
  private readonly started = new Map<string, Started>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  start(address: string): void {
    const key = canonicalAddress(address);
    if (this.started.has(key)) return;
    if (this.started.size >= MAX_ADDRESSES) {
      throw new Error(`recording by address: ${MAX_ADDRESSES} addresses are being recorded already; stop one first`);
    }
    this.started.set(key, { since: this.now().toISOString(), calls: 0 });
  }

  stop(address: string): boolean {
    return this.started.delete(canonicalAddress(address));
  }

  active(): { address: string; since: string; calls: number }[] {
    return [...this.started].map(([address, { since, calls }]) => ({ address, since, calls }));
  }

  get empty(): boolean {
    return this.started.size === 0;
  }

  // The started address among these (as the core formats them), counting the call for it.
  claim(addresses: readonly string[]): string | undefined {
    if (this.started.size === 0) return undefined;
    for (const address of addresses) {
      const entry = this.started.get(address);
      if (entry === undefined) continue;
      entry.calls++;
      return address;
    }
    return undefined;
  }
}
