// The one place URL passwords are hidden. Every URL an option takes (--mqtt,
// --hep, --cdr, ...) may carry user:password@ (RFC 3986 §3.2.1); whatever Siphon
// prints (the start-up configuration, logs, error messages) goes through here,
// so no output path can forget it. The user name stays: it says who connected.

// scheme://user:password@ -> scheme://user:***@. The password runs to the last '@'
// before the path, query, fragment or a space, as a URL parser reads it, so a
// password with an unencoded '@' is hidden whole.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):[^\s/?#]*@/gi;

export function maskUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, "$1:***@");
}

// The same through strings nested in log fields (the configuration is an object).
export function maskUrlPasswordsIn(value: unknown): unknown {
  if (typeof value === "string") return maskUrlPasswords(value);
  if (Array.isArray(value)) return value.map(maskUrlPasswordsIn);
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskUrlPasswordsIn(v)]));
  }
  return value;
}
