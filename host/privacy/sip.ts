// A SIP message rewritten for HEP and --anonymize-envelopes: the Request-URI's
// user, the parties' headers (users, display names, tags), Call-IDs wherever a
// header carries one, the digest's username, and every IP address in the
// headers and the body, by the rules of rewrite.ts. The text is read as latin1,
// one character per byte, so bytes that are not touched go out as they came.
// Replacements change lengths: Content-Length is moved by as many bytes as the
// body grew or shrank, so a header that was right stays right.
import { asText, type Anonymizer, type Decode } from "./rewrite";

// Headers whose values name parties (RFC 3261 §20 and the P- headers of RFC 3325, 3455, 5502, 7044).
const IDENTITY = new Set(["from", "f", "to", "t", "contact", "m", "p-asserted-identity", "p-preferred-identity",
  "remote-party-id", "diversion", "refer-to", "r", "referred-by", "b", "reply-to", "history-info", "p-called-party-id",
  "route", "record-route", "path", "service-route", "p-associated-uri", "p-served-user"]);
const CALL_ID = new Set(["call-id", "i", "x-cid"]);
const CALL_ID_LIST = new Set(["in-reply-to"]);
const DIALOG = new Set(["replaces", "join", "target-dialog"]);
const AUTHORIZATION = new Set(["authorization", "proxy-authorization"]);
const CONTENT_LENGTH = new Set(["content-length", "l"]);
// Products and versions: "1.8.32.3" in a User-Agent is a version, not an address.
const UNTOUCHED = new Set(["user-agent", "server"]);

const SDP_ORIGIN_USER = /^o=([^ \r\n]+)(?= )/gm;   // RFC 8866 §5.2: o=<username> <sess-id> ...

// Bytes read as latin1 are re-read as UTF-8 before hashing, as the events decode the same bytes.
// A message of ASCII alone needs no re-reading, and its values are then cached as the events' are.
const fromLatin1: Decode = (raw) => (/[\x80-\xff]/.test(raw) ? Buffer.from(raw, "latin1").toString("utf8") : raw);
const NOT_ASCII = /[\x80-\xff]/;

export function rewriteSip(a: Anonymizer, bytes: Uint8Array): Buffer {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
  const decode = NOT_ASCII.test(text) ? fromLatin1 : asText;
  const headEnd = text.indexOf("\r\n\r\n");
  const head = headEnd < 0 ? text : text.slice(0, headEnd);
  const body = headEnd < 0 ? "" : text.slice(headEnd + 4);
  const newBody = rewriteBody(a, body, decode);
  const lines = head.split("\r\n");
  let name = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (i > 0 && (line[0] === " " || line[0] === "\t")) {
      lines[i] = rewriteValue(a, name, line, newBody.length - body.length, decode);   // a folded line goes on the header above
    } else if (i === 0 || colon < 0) {
      lines[i] = a.text(line, decode);   // the start line: the Request-URI
    } else {
      name = line.slice(0, colon).trim().toLowerCase();
      lines[i] = line.slice(0, colon + 1) + rewriteValue(a, name, line.slice(colon + 1), newBody.length - body.length, decode);
    }
  }
  return Buffer.from(lines.join("\r\n") + (headEnd < 0 ? "" : "\r\n\r\n") + newBody, "latin1");
}

function rewriteValue(a: Anonymizer, name: string, value: string, bodyGrowth: number, decode: Decode): string {
  if (IDENTITY.has(name)) return a.identity(value, decode);
  if (CALL_ID.has(name)) return a.callId(value, decode);
  if (CALL_ID_LIST.has(name)) return a.callIds(value, decode);
  if (DIALOG.has(name)) return a.dialog(value, decode);
  if (AUTHORIZATION.has(name)) return a.authorization(value, decode);
  if (CONTENT_LENGTH.has(name)) return bodyGrowth === 0 ? value : value.replace(/\d+/, (n) => movedLength(n, bodyGrowth));
  if (UNTOUCHED.has(name)) return value;
  return a.text(value, decode);
}

// In BigInt: a hostile length of 23 digits as a Number came out as "1e+23", no longer a number SIP reads.
function movedLength(digits: string, growth: number): string {
  const moved = BigInt(digits) + BigInt(growth);
  return String(moved < 0n ? 0n : moved);
}

function rewriteBody(a: Anonymizer, body: string, decode: Decode): string {
  if (body === "") return body;
  const origins = body.replace(SDP_ORIGIN_USER, (whole, user: string) => (user === "-" ? whole : `o=${a.pseudonym("user", decode(user))}`));
  return a.text(origins, decode);
}
