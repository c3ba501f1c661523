// The filter language, table by table: expressions that must be refused (with
// what and where), and expressions run by the real core on corpus messages.
// sip-capture's own tables (filters/compile_test.go) are all here, plus the
// selectors and regular expression syntax Siphon adds.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { compileFilter } from "../host/filter/compile";
import { FilterError } from "../host/filter/errors";
import { runFrames, udpFrame, sip, type UdpOptions } from "./helpers";

// ---- refused expressions: [expression, part of the reason, line:column] ----

const ERRORS: [string, string, string][] = [
  // sip-capture's parse failures
  ["()", "empty list: expected a function name after '('", "1:1"],
  ["doit", "unknown function 'doit'", "1:1"],
  ["response request", "unexpected word 'request' after the end of the expression", "1:10"],
  ["(not ())", "empty list", "1:6"],
  ["(methods 100 200", "unbalanced parentheses: this '(' is never closed", "1:1"],
  [")", "unbalanced parentheses: ')' without a matching '('", "1:1"],
  ['(to "blah)', "unbalanced quotes: this '\"' is never closed", "1:5"],
  ["hasheader blah", "unexpected word 'blah'", "1:11"],
  ["(request blah)", "'request' takes no arguments, got 1", "1:10"],
  ["(response blah)", "'response' takes no arguments, got 1", "1:11"],
  ["(100)", "expected a function name after '(', found number 100", "1:2"],
  ["body foo", "unexpected word 'foo'", "1:6"],
  ['(body "foo" "bar")', "'body' takes 1 argument, got 2", "1:13"],
  ["(body 100)", "expected a quoted regular expression, found number 100", "1:7"],
  ['(body "[")', "bad regular expression: missing ']' for this class", "1:8"],
  ["not", "'not' needs 1 argument, got 0", "1:1"],
  ["(not)", "'not' needs 1 argument, got 0", "1:2"],
  ["(not (any response) request)", "'not' takes 1 argument, got 2", "1:21"],
  ["(not 100)", "expected a filter, found number 100", "1:6"],
  ["(not body foo)", "'not' takes 1 argument, got 2", "1:11"],
  ["(any)", "'any' needs at least 1 argument, got 0", "1:2"],
  ["(any doit)", "unknown function 'doit'", "1:6"],
  ["(all body)", "'body' needs 1 argument, got 0", "1:6"],
  ["(all)", "'all' needs at least 1 argument, got 0", "1:2"],
  ["(methods 100)", "expected a method name, found number 100", "1:10"],
  ["(methods foo)", "unknown SIP method 'foo'", "1:10"],
  ["status", "'status' needs at least 1 argument, got 0", "1:1"],
  ["(status foo)", "expected a status code (100 to 699) or a class such as 4xx, found word 'foo'", "1:9"],
  ["(to)", "'to' needs 1 argument, got 0", "1:2"],
  ["(to 18005551212)", "expected a quoted regular expression, found number 18005551212", "1:5"],
  ["(from)", "'from' needs 1 argument, got 0", "1:2"],
  ["(from bob)", "expected a quoted regular expression, found word 'bob'", "1:7"],
  ["(hasheader 100)", "expected a header name, found number 100", "1:12"],
  ['(hasheader "foo" "bar")', "'hasheader' takes 1 argument, got 2", "1:18"],
  ["header", "'header' needs 2 arguments, got 0", "1:1"],
  ['(header "foo")', "'header' needs 2 arguments, got 1", "1:2"],
  ['(header "foo" "bar" "baz")', "'header' takes 2 arguments, got 3", "1:21"],
  ['(header "via" "[")', "bad regular expression: missing ']'", "1:16"],
  ['(header 100, "alice")', "word '100,' is not a header name", "1:9"],
  ['(header "via" 100)', "expected a quoted regular expression, found number 100", "1:15"],
  ['(message "[" "that")', "'message' takes 1 argument, got 2", "1:14"],
  ['(message "[")', "bad regular expression: missing ']'", "1:11"],
  // names, with the nearest known one
  ["(methd invite)", "unknown function 'methd'", "1:2"],
  ["(method invte)", "unknown SIP method 'invte'", "1:9"],
  ["(transport udpp)", "unknown transport 'udpp'", "1:12"],
  ["(transport sctp)", "unknown transport 'sctp'", "1:12"],
  ['("request")', "expected a function name after '(', found string \"request\"", "1:2"],
  ['(method "in vite")', "is not a method name", "1:9"],
  ['(header "a b" "x")', "string \"a b\" is not a header name", "1:9"],
  ["(has-sdp 1)", "'has-sdp' takes no arguments, got 1", "1:10"],
  ["(user-agent)", "'user-agent' needs 1 argument, got 0", "1:2"],
  ["(call-id x)", "expected a quoted regular expression, found word 'x'", "1:10"],
  // numbers, addresses, ports
  ["(status 99)", "status code 99 is outside 100 to 699", "1:9"],
  ["(status 7xx)", "expected a status code", "1:9"],
  ["(src 10.0.0.0/33)", "prefix /33 is longer than an IPv4 address (32 bits)", "1:6"],
  ["(src 300.1.2.3)", "'300.1.2.3' is not an IPv4 or IPv6 address", "1:6"],
  ["(dst 2001:db8:::1)", "'2001:db8:::1' is not an IPv4 or IPv6 address", "1:6"],
  ["(dst 2001:db8::/129)", "prefix /129 is longer than an IPv6 address (128 bits)", "1:6"],
  ["(src 10.0.0.1 5060 5061)", "'src' takes 1 or 2 arguments, got 3", "1:20"],
  ["(dst (request))", "expected an IP address or network, found a list", "1:6"],
  ["(port 70000)", "port 70000 is outside 0 to 65535", "1:7"],
  ["(port http)", "expected a port number, found word 'http'", "1:7"],
  // layout of the expression
  ["(status 200))", "unexpected ')' after the end of the expression", "1:13"],
  ["(status 200) ; a comment\n request", "unexpected word 'request'", "2:2"],
  ["(all request\n  (methd invite))", "unknown function 'methd'", "2:4"],
  ["(not ".repeat(65) + "request" + ")".repeat(65), "lists nest deeper than 64 levels", "1:321"],
  // regular expressions: what an automaton cannot do, and plain mistakes
  ['(message "(a)\\1")', "back-references (\\1) are not supported", "1:14"],
  ['(message "(?P<x>a)\\k<x>")', "back-references (\\k) are not supported", "1:19"],
  ['(message "(?=a)")', "look-ahead (?= and (?! is not supported", "1:11"],
  ['(message "b(?<!a)")', "look-behind (?<= and (?<! is not supported", "1:12"],
  ['(message "\\bword")', "word boundaries (\\b) are not supported", "1:11"],
  ['(message "a**")', "a repetition cannot follow another repetition", "1:13"],
  ['(message "*a")', "nothing to repeat before '*'", "1:11"],
  ['(message "x|^*")', "nothing to repeat: '^' is an anchor", "1:14"],
  ['(message "a{5,2}")', "repetition {5,2} has its minimum above its maximum", "1:12"],
  ['(message "a{1001}")', "repetition count above 1000", "1:12"],
  ['(message "(ab")', "missing ')' for this group", "1:11"],
  ['(message "ab)")', "unbalanced ')' in the regular expression", "1:13"],
  ['(message "[z-a]")', "range out of order: z-a", "1:13"],
  ['(message "(?m)^a")', "flag 'm' is not supported", "1:11"],
  ['(message "(?x)a")', "unknown flag 'x'", "1:11"],
  ['(message "[[:alpha:]]")', "POSIX classes such as [:alpha:] are not supported", "1:12"],
  ['(message "\\q")', "unknown escape '\\q'", "1:11"],
  ['(message "\\x4")', "\\x needs exactly 2 hex digits", "1:11"],
  ['(message "\\p{L}")', "Unicode classes (\\p{...}) are not supported", "1:11"],
  ['(message "[é]")', "non-ASCII character 'é' inside [...]", "1:12"],
  ['(message "a\\")', "unbalanced quotes", "1:10"],
  ['(message "abc\\\\\\")', "unbalanced quotes", "1:10"],
  ['(body "[ab]*a[ab]{12}")', "needs more than 4096 automaton states", "1:7"],
  ['(body "(a{1000}){30}")', "too large once its repetitions are expanded", "1:7"],
];

test(`refused: ${ERRORS.length} expressions, each with its reason and position`, () => {
  assert.ok(ERRORS.length >= 44);
  for (const [source, reason, at] of ERRORS) {
    let error: unknown;
    try {
      compileFilter(source);
    } catch (err) {
      error = err;
    }
    assert.instance(error, FilterError, `expected ${JSON.stringify(source)} to be refused`);
    const message = (error as FilterError).message;
    assert.ok(message.startsWith("filter: "), message);
    assert.ok(message.includes(reason), `${JSON.stringify(source)}: expected "${reason}" in: ${message}`);
    assert.ok(message.includes(` at ${at}`), `${JSON.stringify(source)}: expected position ${at} in: ${message}`);
  }
});

test("refused: the nearest known name is suggested, or the list of names", () => {
  const message = (source: string): string => {
    try {
      compileFilter(source);
    } catch (err) {
      return (err as Error).message;
    }
    return "";
  };
  assert.is(message("(methd invite)"), "filter: unknown function 'methd' at 1:2 (did you mean 'method'?)");
  assert.ok(message("(method invte)").endsWith("(did you mean 'INVITE'? An extension method must be quoted: \"INVTE\")"));
  assert.ok(message("(transport udpp)").endsWith("(did you mean 'udp'?)"));
  assert.ok(message("(transport sctp)").endsWith("(transports: udp, tcp, ws)"));
  assert.ok(message("(has_sdp)").endsWith("(did you mean 'has-sdp'?)"));
  assert.ok(message("frobnicate").includes("(functions: request, response, has-sdp, method,"));
  assert.ok(message("(from bob)").endsWith('(write "bob")'));
});

// ---- accepted expressions, run by the core on real messages ----

const fixture = (path: string): string => readFileSync(path, "latin1");
// sip-capture's two filter inputs. The request's Content-Length (11) ends its
// body at "\r\nHello Wor": Siphon frames by Content-Length, so "World" is not in
// the body (gopacket took the rest of the datagram).
const REQUEST = fixture("fixtures/filter/invite-request.sip");
const RESPONSE = fixture("fixtures/filter/invite-response.sip");
// RFC 4475 §3.1.1.1: folding, compact and long names mixed, Via twice, unknown headers, SDP.
const WSINV = fixture("fixtures/torture/rfc4475/wsinv.dat");
// What operators filter B2BUA legs on.
const LEG = sip([
  "BYE sip:+15551234567@gw.example.net SIP/2.0",
  "Via: SIP/2.0/UDP [2001:db8::5]:5080;branch=z9hG4bK-leg",
  "From: <sip:+15557654321@pbx.example.net>;tag=a1",
  "To: <sip:+15551234567@gw.example.net>;tag=b2",
  "Call-ID: leg-2@pbx",
  "CSeq: 2 BYE",
  "X-CID: 3f2a9c1e-leg-1@pbx",
  "P-Asserted-Identity: \"Alice\" <sip:alice@pbx.example.net>",
  "P-Asserted-Identity: <tel:+15557654321>",
  "Content-Length: 0",
]);

interface Message {
  text: string;
  frame?: UdpOptions;
}

const MESSAGES: Record<string, Message> = {
  request: { text: REQUEST, frame: { src: "172.16.254.66", dst: "8.8.8.8", sport: 5060, dport: 5060 } },
  response: { text: RESPONSE, frame: { src: "8.8.8.8", dst: "172.16.254.66", sport: 5060, dport: 5060 } },
  wsinv: { text: WSINV },
  leg: { text: LEG, frame: { src: "2001:db8::5", dst: "2001:db8:1::9", sport: 5080, dport: 5060 } },
};

const COMPLEX = `(all request
      (methods invite publish)
      (not (body "don't capture"))
      (any (to "alice@.*provider.com")
           (hasheader "magic")
           (message "secrets")))`;

const MATCHES: [string, keyof typeof MESSAGES, boolean][] = [
  // sip-capture's compiler table
  ["", "request", true],
  ["response", "response", true],
  ["response", "request", false],
  ["request", "response", false],
  ["request", "request", true],
  ["(status 200)", "response", true],
  ["(status 403)", "response", false],
  ["(status 100 180 200)", "response", true],
  ["(status 200)", "request", false],
  ['(body "(?i:hello)")', "request", true],
  ["(methods invite)", "request", true],
  ["(methods options)", "request", false],
  ["(methods options invite)", "request", true],
  ['(methods options "invite")', "request", true],
  ['(hasheader "Via")', "request", true],
  ['(hasheader "Not-There")', "request", false],
  ['(to "alice")', "request", true],
  ['(to "luigi")', "request", false],
  ['(from "bob")', "request", true],
  ['(from "luigi")', "request", false],
  ['(header "Contact" "bob")', "request", true],
  ['(header "Contact" "alice")', "request", false],
  ['(message "@172.*6{2,3}")', "request", true],
  ['(message "shazam")', "request", false],
  ["(not request)", "response", true],
  ["(not response)", "response", false],
  ['(any request (hasheader "magic"))', "request", true],
  ["(any request (status 200))", "response", true],
  ['(any request (hasheader "magic"))', "response", false],
  ["(all response (status 200))", "request", false],
  ['(all request (hasheader "magic"))', "request", false],
  ["(all response (status 200))", "response", true],
  [COMPLEX, "request", true],
  // Content-Length frames the body
  ['(body "World")', "request", false],
  ['(body "^\\r\\nHello Wor$")', "request", true],
  ['(message "(?i)HELLO wor$")', "request", true],
  // a response's method is its CSeq method
  ["(method register)", "response", true],
  ["(all (method REGISTER) (status 2xx))", "response", true],
  ["(method invite)", "response", false],
  // status classes
  ["(status 2xx)", "response", true],
  ["(status 1xx 4xx)", "response", false],
  ["(status 4xx)", "request", false],
  // the shorthands
  ['(call-id "^306366781@172_16_254_66$")', "request", true],
  ['(user-agent "^C530 IP/42\\.245")', "request", true],
  ['(user-agent "C530")', "response", false],
  // long and compact names are the same header; every instance counts
  ['(header "i" "^306366781")', "request", true],
  ['(hasheader "m")', "wsinv", true],
  ['(hasheader "Contact")', "wsinv", true],
  ['(header "via" "spindle\\.example\\.com")', "wsinv", true],
  ['(header "v" "192\\.0\\.2\\.2")', "wsinv", true],
  ['(header "VIA" "z9hG4bK30239")', "wsinv", true],
  ['(header "via" "^SIP  /   2\\.0\\r\\n /UDP")', "wsinv", true],
  ['(hasheader "newfangledheader")', "wsinv", true],
  ['(header "NewFangledHeader" "value\\r\\n continued")', "wsinv", true],
  ['(header "s" "^$")', "wsinv", true],
  ['(to "^sip:vivekg@")', "wsinv", true],   // "To :" then a fold: the value begins after it, as tshark reads it
  ['(to "^\\s")', "wsinv", false],
  ["has-sdp", "wsinv", true],
  ["has-sdp", "request", false],
  ['(body "^v=0\\r\\no=mhandley")', "wsinv", true],
  // custom headers, by name in any case
  ['(header "x-cid" "^3f2a9c1e")', "leg", true],
  ['(header "X-CID" "^leg")', "leg", false],
  ['(header "p-asserted-identity" "^<tel:\\+1555")', "leg", true],
  ['(header "P-Asserted-Identity" "(?i)\\"alice\\"")', "leg", true],
  ['(hasheader "X-CIDX")', "leg", false],
  // addresses, ports, transport
  ["(src 172.16.0.0/12)", "request", true],
  ["(src 172.16.254.66 5060)", "request", true],
  ["(src 172.16.254.66 5061)", "request", false],
  ["(dst 172.16.0.0/12)", "request", false],
  ["(dst 8.8.8.8/32)", "request", true],
  ["(src 2001:db8::/32 5080)", "leg", true],
  ["(dst 2001:db8:1::9)", "leg", true],
  ["(dst 2001:db8:2::/48)", "leg", false],
  ["(src 0.0.0.0/0)", "leg", false],
  ["(src ::/0)", "leg", true],
  ["(port 5080)", "leg", true],
  ["(port 5061 5062)", "leg", false],
  ["(transport udp)", "leg", true],
  ["(transport tcp ws)", "leg", false],
  // a pattern that backtracking engines take exponential time over
  ['(message "(a|a)*b")', "request", true],
  // optional ends of a search pattern, and anchors that keep them meaningful
  ['(message ".{0,1000}INVITE.{0,1000}")', "request", true],
  ['(message "^.{0,3}INVITE")', "request", true],
  ['(message "^.{1,3}INVITE")', "request", false],
  ['(message "Wor.*$")', "request", true],
  ['(message "Hello.+$")', "request", true],
  ['(not (not (any (status 486) (method bye))))', "leg", true],
];

function verdict(expression: string, message: Message): boolean {
  const { program } = compileFilter(expression);
  const run = runFrames([{ data: udpFrame(message.text, message.frame) }], { filterProgram: program });
  assert.is(run.counters.filter_matched + run.counters.filter_rejected, 1, `one message filtered for ${expression}`);
  assert.is(run.messages.length, run.counters.filter_matched);
  return run.messages.length === 1;
}

test(`matches: ${MATCHES.length} expressions on corpus messages, through the core`, () => {
  assert.ok(MATCHES.length >= 33);
  for (const [expression, name, expected] of MATCHES) {
    assert.is(verdict(expression, MESSAGES[name]), expected, `${expression} on ${name}`);
  }
});

test("no filter: every message passes and nothing is counted", () => {
  const run = runFrames([{ data: udpFrame(REQUEST) }]);
  assert.is(run.messages.length, 1);
  assert.is(run.counters.filter_matched, 0);
  assert.is(run.counters.filter_rejected, 0);
});

test("counters: matched and rejected over a run", () => {
  const { program } = compileFilter("(status 2xx)");
  const frames = [REQUEST, RESPONSE, RESPONSE, LEG].map((text) => ({ data: udpFrame(text) }));
  const run = runFrames(frames, { filterProgram: program });
  assert.is(run.counters.filter_matched, 2);
  assert.is(run.counters.filter_rejected, 2);
  assert.equal(run.messages.map((m) => m.status), [200, 200]);
});

test.run();
