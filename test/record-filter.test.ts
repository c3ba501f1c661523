// The core's second filter program (--record-filter): it marks messages (SipMessage.recordMatch)
// without dropping any, beside a --filter program that does drop, each with its own regular
// expressions and addresses read from its own place in the program region.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compileFilter } from "../host/filter";
import { INVITE, runFrames, sip, udpFrame } from "./helpers";

const BYE = sip([
  "BYE sip:alice@pc33.atlanta.example.com SIP/2.0",
  "Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10",
  "From: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf",
  "To: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
  "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
  "CSeq: 231 BYE",
  "Content-Length: 0",
]);
const OPTIONS = sip([
  "OPTIONS sip:carol@chicago.example.com SIP/2.0",
  "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877",
  "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
  "To: <sip:carol@chicago.example.com>",
  "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
  "CSeq: 63104 OPTIONS",
  "Content-Length: 0",
]);
const frames = [INVITE, BYE, OPTIONS].map((text) => ({ data: udpFrame(text) }));
const program = (expression: string): Uint8Array => compileFilter(expression).program;

test("without --record-filter no message is marked", () => {
  const run = runFrames(frames);
  assert.equal(run.messages.map((m) => m.recordMatch), [false, false, false]);
});

test("--record-filter marks what it selects and drops nothing", () => {
  const run = runFrames(frames, { recordFilterProgram: program('(all (method invite) (from "<sip:alice@"))') });
  assert.equal(run.messages.map((m) => [m.method, m.recordMatch]), [["INVITE", true], ["BYE", false], ["OPTIONS", false]]);
});

test("beside --filter each program is its own: one drops, the other marks", () => {
  // The --filter program is longer than the record one, so the second sits past its end.
  const run = runFrames(frames, {
    filterProgram: program('(any (method bye) (all (method invite options) (header "user-agent" "soft.*1[.]0")) (to "carol"))'),
    recordFilterProgram: program('(to "^Bob")'),
  });
  assert.equal(run.messages.map((m) => [m.method, m.recordMatch]), [["INVITE", true], ["BYE", false], ["OPTIONS", false]]);
  assert.is(run.counters.filter_matched, 3);
});

test("a message the record program selects but --filter drops is not emitted", () => {
  const run = runFrames([...frames, ...frames], { filterProgram: program("(method invite bye)"), recordFilterProgram: program("(method bye options)") });
  assert.equal(run.messages.map((m) => [m.method, m.recordMatch]), [["INVITE", false], ["BYE", true], ["INVITE", false], ["BYE", true]]);
});

test.run();
