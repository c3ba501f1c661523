// The field-level rules every output shares, so an address, a user or a Call-ID
// gets the same replacement in events, call records, HEP and envelopes: IP
// addresses through Crypto-PAn, users, display names, Call-IDs and tags through
// keyed pseudonyms. Text is scanned once per rule set by one regular expression
// of alternatives, so nothing already replaced is replaced again. Results are
// cached: a capture repeats the same few addresses and users endlessly.
import { CryptoPan } from "./cryptopan";
import { Pseudonyms, type PseudonymKind } from "./pseudonym";
import type { PrivacyKeys } from "./keyfile";

const CACHE_ENTRIES = 65536;  // values remembered; beyond it the oldest is forgotten (counted)
const CACHED_LENGTH = 256;    // longer values are computed each time, never held

// SIP URI user part (RFC 3261 §25.1 userinfo: ';', '?', '/' are legal in it), an optional password, then '@'.
const SIP_USER = String.raw`(?<scheme>[Ss][Ii][Pp][Ss]?:)(?<user>[^@\s<>":,]+)(?<password>:[^@\s<>",]*)?@`;
const TEL = String.raw`(?<tel>[Tt][Ee][Ll]:)(?<number>[^;>\s,"]+)`;
const TAG = String.raw`(?<tagName>\b(?:[Tt][Aa][Gg]|to-tag|from-tag|local-tag|remote-tag))=(?<tagValue>[^;,\s>"]+)`;
const QUOTED = String.raw`"(?<quoted>(?:[^"\\\r\n]|\\.)*)"`;
// An unquoted display name: tokens at the start of a value or after ',' that a '<' follows.
const DISPLAY = String.raw`(?<displayLead>^|,)(?<displaySpace>[ \t]*)(?<display>[^<>",;@\s](?:[^<>",;@\r\n]*[^<>",;@\s])?)(?=[ \t]*<)`;
const AUTH_USER = String.raw`(?<authKey>\b[Uu][Ss][Ee][Rr][Nn][Aa][Mm][Ee][ \t]*=[ \t]*)"(?<authUser>[^"\r\n]*)"`;
const IPV4 = String.raw`(?<![\d.])(?<v4>\d{1,3}(?:\.\d{1,3}){3})(?!\.?\d)`;
// Candidates with two colons or more, checked by Crypto-PAn's parser (times such as 10:00:00 are not addresses).
const IPV6 = String.raw`(?<![\w.:])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)(?<v6>[0-9A-Fa-f:]+(?:\d{1,3}(?:\.\d{1,3}){3})?)(?![\w:.])`;

const rules = (...parts: string[]): RegExp => new RegExp(parts.join("|"), "g");

// Headers that name parties (From, To, Contact, P-Asserted-Identity ...): display names too.
const IDENTITY = rules(QUOTED, DISPLAY, SIP_USER, TEL, TAG, IPV6, IPV4);
const AUTHORIZATION = rules(AUTH_USER, SIP_USER, TEL, IPV6, IPV4);
const DIALOG_PARAMS = rules(TAG, IPV6, IPV4);
// Anything else: a URI's user wherever it stands, and every address.
const TEXT = rules(SIP_USER, TEL, IPV6, IPV4);

type Groups = Record<string, string | undefined>;
// How a text value became the string hashed: SIP text is read as latin1 (byte for byte) and
// re-read as UTF-8 so that a value hashes as the events' decoded text of the same bytes does.
export type Decode = (raw: string) => string;

export const asText: Decode = (raw) => raw;

export class Anonymizer {
  private readonly cryptoPan: CryptoPan;
  private readonly pseudonyms: Pseudonyms;
  private readonly cache = new Map<string, string>();
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
    return value.replace(IDENTITY, (...args) => this.replace(args[args.length - 1] as Groups, args[0] as string, decode));
  }

  // Authorization and Proxy-Authorization: the digest's username and uri.
  authorization(value: string, decode: Decode = asText): string {
    return value.replace(AUTHORIZATION, (...args) => this.replace(args[args.length - 1] as Groups, args[0] as string, decode));
  }

  // Replaces, Join, Target-Dialog (RFC 3891, 3911, 4538): a Call-ID, then tag parameters.
  dialog(value: string, decode: Decode = asText): string {
    const semi = value.indexOf(";");
    const head = semi < 0 ? value : value.slice(0, semi);
    const params = semi < 0 ? "" : value.slice(semi)
      .replace(DIALOG_PARAMS, (...args) => this.replace(args[args.length - 1] as Groups, args[0] as string, decode));
    return this.callId(head, decode) + params;
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
    const rewrite = (): string => value.replace(TEXT, (...args) => this.replace(args[args.length - 1] as Groups, args[0] as string, decode));
    return decode === asText ? this.cached("text", value, rewrite) : rewrite();
  }

  private replace(g: Groups, whole: string, decode: Decode): string {
    if (g.v4 !== undefined) return this.ipv4(g.v4, whole);
    if (g.v6 !== undefined) return this.ip(g.v6);
    if (g.user !== undefined) return `${g.scheme}${this.pseudonym("user", decode(g.user))}@`;
    if (g.number !== undefined) return `${g.tel}${this.pseudonym("user", decode(g.number))}`;
    if (g.tagValue !== undefined) return `${g.tagName}=${this.pseudonym("tag", decode(g.tagValue))}`;
    if (g.authUser !== undefined) return `${g.authKey}"${this.pseudonym("user", decode(g.authUser))}"`;
    if (g.quoted !== undefined) return g.quoted === "" ? whole : `"${this.pseudonym("name", decode(g.quoted))}"`;
    if (g.display !== undefined) return `${g.displayLead}${g.displaySpace}${this.pseudonym("name", decode(g.display))}`;
    return whole;
  }

  // Dotted text with octets of at most 255 (leading zeros read as decimal); other digits are left alone.
  private ipv4(text: string, whole: string): string {
    const octets = text.split(".").map(Number);
    return octets.every((o) => o <= 255) ? this.ip(octets.join(".")) : whole;
  }

  private cached(kind: string, value: string, make: () => string): string {
    if (value.length > CACHED_LENGTH) return make();
    const key = kind + "\0" + value;
    let result = this.cache.get(key);
    if (result !== undefined) return result;
    result = make();
    if (this.cache.size >= CACHE_ENTRIES) {
      this.cache.delete(this.cache.keys().next().value as string);
      this.evictions++;
    }
    this.cache.set(key, result);
    return result;
  }
}

