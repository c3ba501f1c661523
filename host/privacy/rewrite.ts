// The field-level rules every output shares, so an address, a user or a Call-ID
// gets the same replacement in events, call records, HEP and envelopes: IP
// addresses through Crypto-PAn, users, display names, Call-IDs and tags through
// keyed pseudonyms. Each rule set is a few passes over the text, in an order in
// which no pass can match what an earlier one wrote, so nothing is replaced
// twice. Results are cached: a capture repeats the same few addresses and users.
import { CryptoPan } from "./cryptopan";
import { Pseudonyms, type PseudonymKind } from "./pseudonym";
import type { PrivacyKeys } from "./keyfile";

const CACHE_ENTRIES = 32768;  // values remembered per kind; beyond it the oldest is forgotten (counted)
const CACHED_LENGTH = 256;    // longer values are computed each time, never held

// How a text value became the string hashed: SIP text is read as latin1 (byte for byte) and
// re-read as UTF-8 so that a value hashes as the events' decoded text of the same bytes does.
export type Decode = (raw: string) => string;

export const asText: Decode = (raw) => raw;

// One replacement: a character a value must hold for it to apply (checked first, cheaply), the
// pattern (plain groups: named ones cost twice as much per match), and what a match becomes.
interface Pass {
  needs: string;
  pattern: RegExp;
  make(a: Anonymizer, decode: Decode, m: string[]): string;
}

// A quote left open is matched to its end and kept as it is, rather than failed: after a failed
// match the search began again at each escaped quote inside it and scanned on to the end again,
// quadratic (a From of 60 kB of backslash-quote pairs took 2.4 s). Kept, it loses nothing: read
// from an escaped quote inside, the text ends open just as it does from the opening quote.
const QUOTED: Pass = { needs: '"', pattern: /"((?:[^"\\\r\n]|\\.)*)("?)/g,
  make: (a, decode, m) => (m[1] === "" || m[2] === "" ? m[0] : `"${a.pseudonym("name", decode(m[1]))}"`) };
// An unquoted display name: tokens at the start of a value or after ',' that a '<' follows.
const DISPLAY: Pass = { needs: "<", pattern: /(^|,)([ \t]*)([^<>",;@\s](?:[^<>",;@\r\n]*[^<>",;@\s])?)(?=[ \t]*<)/g,
  make: (a, decode, m) => `${m[1]}${m[2]}${a.pseudonym("name", decode(m[3]))}` };
// A SIP URI's user part (RFC 3261 §25.1 userinfo: ';', '?', '/' are legal in it), an optional password, then '@'.
// Without the '@' it is matched and kept, for QUOTED's reason: 'sip:a:sip:a:...' (60 kB: 1 s) began
// a search at each 'sip:' that ran to the same end, where no '@' is, as the first one did.
const SIP_USER: Pass = { needs: "@", pattern: /(sips?:)([^@\s<>":,]+)(?::[^@\s<>",]*)?(@?)/gi,
  make: (a, decode, m) => (m[3] === "" ? m[0] : `${m[1]}${a.pseudonym("user", decode(m[2]))}@`) };
const TEL: Pass = { needs: ":", pattern: /(tel:)([^;>\s,"]+)/gi, make: (a, decode, m) => `${m[1]}${a.pseudonym("user", decode(m[2]))}` };
const TAG: Pass = { needs: "=", pattern: /\b(tag|to-tag|from-tag|local-tag|remote-tag)=([^;,\s>"]+)/gi,
  make: (a, decode, m) => `${m[1]}=${a.pseudonym("tag", decode(m[2]))}` };
// A Via branch is an opaque token that implementations build from anything, addresses
// included (seen: "z9hG4bKnp122028667-481b9fc8192.168.1.2"): pseudonymized whole, RFC 3261's
// magic cookie (§8.1.1.7) kept so the message stays a 3261 one.
const BRANCH: Pass = { needs: "=", pattern: /\b(branch=)(z9hG4bK)?([^;,\s>"]+)/gi,
  make: (a, decode, m) => `${m[1]}${m[2] ?? ""}${a.pseudonym("tag", decode(m[3]))}` };
const AUTH_USER: Pass = { needs: "=", pattern: /\b(username[ \t]*=[ \t]*)"([^"\r\n]*)"/gi,
  make: (a, decode, m) => `${m[1]}"${a.pseudonym("user", decode(m[2]))}"` };
// Candidates with two colons or more, checked by Crypto-PAn's parser (times such as 10:00:00 are not addresses).
const IPV6: Pass = { needs: ":", pattern: /(?<![\w.:])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]+(?:\d{1,3}(?:\.\d{1,3}){3})?(?![\w:.])/g,
  make: (a, _decode, m) => a.ip(m[0]) };
const IPV4: Pass = { needs: ".", pattern: /(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?!\.?\d)/g, make: (a, _decode, m) => a.ipv4(m[0]) };

// Names and users become letters, digits and '-', which no later pass matches; addresses come last.
// Headers that name parties (From, To, Contact, P-Asserted-Identity ...): display names too.
const IDENTITY = [QUOTED, DISPLAY, SIP_USER, TEL, TAG, IPV6, IPV4];
const AUTHORIZATION = [AUTH_USER, SIP_USER, TEL, IPV6, IPV4];
const DIALOG_PARAMS = [TAG, IPV6, IPV4];
// Anything else: a URI's user wherever it stands, and every address.
const TEXT = [SIP_USER, TEL, BRANCH, IPV6, IPV4];

export class Anonymizer {
  private readonly cryptoPan: CryptoPan;
  private readonly pseudonyms: Pseudonyms;
  private readonly caches = new Map<string, Map<string, string>>();   // one per kind: no key is built per lookup
  private evictions = 0;

  constructor(keys: PrivacyKeys) {
    this.cryptoPan = new CryptoPan(keys.cryptoPan);
    this.pseudonyms = new Pseudonyms(keys.pseudonym);
  }

  counters(): Record<string, number> {
    return { anonymize_cache_evicted: this.evictions };
  }

  // An address (IPv4 dotted, IPv6 any form) anonymized; anything else unchanged.
  ip(text: string): string {
    return this.cached("i", text, () => this.cryptoPan.anonymize(text));
  }

  // Dotted text with octets of at most 255 (leading zeros read as decimal); other digits are left alone.
  ipv4(text: string): string {
    const octets = text.split(".").map(Number);
    return octets.every((o) => o <= 255) ? this.ip(octets.join(".")) : text;
  }

  pseudonym(kind: PseudonymKind, value: string): string {
    return this.cached(kind, value, () => this.pseudonyms.of(kind, value));
  }

  // "ip:port" or "[ipv6]:port", as envelopes write them.
  endpoint(text: string): string {
    const v6 = /^\[(.*)\](:\d+)$/.exec(text);
    if (v6) return `[${this.ip(v6[1])}]${v6[2]}`;
    const colon = text.lastIndexOf(":");
    return colon < 0 ? this.ip(text) : `${this.ip(text.slice(0, colon))}${text.slice(colon)}`;
  }

  // A header that names a party: users, display names, tags and addresses.
  identity(value: string, decode: Decode = asText): string {
    return decode === asText ? this.cached("identity", value, () => this.apply(IDENTITY, value, decode)) : this.apply(IDENTITY, value, decode);
  }

  // Authorization and Proxy-Authorization: the digest's username and uri.
  authorization(value: string, decode: Decode = asText): string {
    return this.apply(AUTHORIZATION, value, decode);
  }

  // Replaces, Join, Target-Dialog (RFC 3891, 3911, 4538): a Call-ID, then tag parameters.
  dialog(value: string, decode: Decode = asText): string {
    const semi = value.indexOf(";");
    const head = semi < 0 ? value : value.slice(0, semi);
    return this.callId(head, decode) + (semi < 0 ? "" : this.apply(DIALOG_PARAMS, value.slice(semi), decode));
  }

  // A Call-ID header's value: the value trimmed, as the envelope's call_id, gives the pseudonym.
  callId(value: string, decode: Decode = asText): string {
    return value.replace(/\S(?:.*\S)?/s, (id) => this.pseudonym("call-id", decode(id)));
  }

  // A comma-separated list of Call-IDs (In-Reply-To).
  callIds(value: string, decode: Decode = asText): string {
    return value.replace(/[^,\s]+/g, (id) => this.pseudonym("call-id", decode(id)));
  }

  // Any other text: URI users and addresses. An event's URIs repeat call after call: their results are cached.
  text(value: string, decode: Decode = asText): string {
    if (value.indexOf(":") < 0 && value.indexOf(".") < 0) return value;   // no address and no URI: most header values
    return decode === asText ? this.cached("text", value, () => this.apply(TEXT, value, decode)) : this.apply(TEXT, value, decode);
  }

  private apply(passes: Pass[], value: string, decode: Decode): string {
    let out = value;
    for (const pass of passes) {
      if (out.indexOf(pass.needs) >= 0) out = out.replace(pass.pattern, (...m: string[]) => pass.make(this, decode, m));
    }
    return out;
  }

  private cached(kind: string, value: string, make: () => string): string {
    if (value.length > CACHED_LENGTH) return make();
    let cache = this.caches.get(kind);
    if (cache === undefined) this.caches.set(kind, cache = new Map());
    let result = cache.get(value);
    if (result !== undefined) return result;
    result = make();
    if (cache.size >= CACHE_ENTRIES) {
      cache.delete(cache.keys().next().value as string);
      this.evictions++;
    }
    cache.set(value, result);
    return result;
  }
}
