// Captures with known calls give the expected events. The expectations come
// from the captures themselves (read with tshark when they were chosen) and,
// for wireshark.pcap, from Zeek's sip.log of it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { Core } from "../host/core";
import { readCapture } from "../host/source";
import { Tracker } from "../host/calls/tracker";
import { observe } from "../host/calls/message";
import { parseIsoTime, type SipEvent } from "../host/calls/events";

async function events(path: string): Promise<SipEvent[]> {
  const found: SipEvent[] = [];
  const tracker = new Tracker((e) => found.push(e), { countersSeconds: 0 });
  const core = new Core({ sensor: "test", agent: "test", renderJson: false }, (batch) => {
    for (let i = 0; i < batch.count; i++) tracker.observe(observe(batch.message(i)));
  });
  await readCapture(path, core, () => undefined);
  core.flush();
  tracker.finish();
  return found;
}

const line = (e: SipEvent): string =>
  [e.event.type, e.sip?.call_id, e.sip?.request?.method, e.sip?.response?.status ?? "-", e.sip?.call?.outcome ?? e.sip?.binding?.aor ?? e.sip?.to].join(" ");

test("register-invite-reinvite-bye: a binding, then one call; the re-INVITE is absorbed", async () => {
  const found = await events("fixtures/calls/register-invite-reinvite-bye.pcap");
  assert.equal(found.map((e) => e.event.type), ["reg-new", "call-start", "call-end"]);
  const [reg, start, end] = found;
  assert.equal(reg.sip?.binding, { aor: "sip:alice@example.com", contact: "sip:alice@127.0.0.1:5082", expires: 3600 });
  assert.is(start.sip?.call_id, "1-3812687@127.0.0.1");
  // INVITE at +0.222346 s, 180 at +0.223871, 200 at +0.225055, BYE from the caller at +2.335848
  assert.is(start.sip?.pdd, 1.525);
  assert.is(start.sip?.ring_time, 1.184);
  assert.is(end.sip?.originator, "caller");
  assert.is(end.event.duration, 2_110_793_000);
  assert.is(parseIsoTime(end["@timestamp"]) - parseIsoTime(start["@timestamp"]), 2_110_793);
});

test("sip-auth-failure: REGISTER and SUBSCRIBE refused after their credentials", async () => {
  const found = await events("fixtures/captures/sip-auth-failure.pcapng");
  assert.equal(found.map(line), [
    "auth-failed YzAwMDllYjUyNmVlZWFhZjE0NDViMWRkNDUyNzJmZDU. REGISTER 403 sip:telephone1@172.16.98.101;transport=UDP",
    "auth-failed MGJmNzkwZTBmYjg4NDAyMjM2ODRmMDMyYTdkNjZiNDU. SUBSCRIBE 403 sip:telephone1@172.16.98.101;transport=UDP",
  ]);
});

// Per Zeek's sip.log of the same capture: REGISTER 68 401 then 69 403 "Wrong password"
// (voi18063); 72-73 401 twice with stale=false (voi18062), then 74 401 and 75 200;
// 76-77 and 78-79 challenged twice more, 29858147's 1 401 then 2 200, 3-4 challenged
// twice, 5 401 then 6 200 (a refresh); INVITEs: 105090259 cancelled and answered 408,
// 85216695 and 24487391 407 then 403 to the retry, 11894297 407 then 183 and 480.
const WIRESHARK_EVENTS = [
  "auth-failed 578222729-4665d775@578222732-4665d772 REGISTER 403 sip:voi18063@sip.cybercity.dk",
  "auth-failed 578222729-4665d775@578222732-4665d772 REGISTER 401 sip:voi18063@sip.cybercity.dk",
  "auth-failed 578222729-4665d775@578222732-4665d772 REGISTER 401 sip:voi18062@sip.cybercity.dk",
  "reg-new 578222729-4665d775@578222732-4665d772 REGISTER - sip:voi18062@sip.cybercity.dk",
  "call-attempt 105090259-446faf7a@192.168.1.2 INVITE 408 cancelled",
  "auth-failed 85216695-42dcdb1d@192.168.1.2 INVITE 403 auth-failed",
  "auth-failed 578222729-4665d775@578222732-4665d772 REGISTER 401 sip:voi18062@sip.cybercity.dk",
  "auth-failed 578222729-4665d775@578222732-4665d772 REGISTER 401 sip:35104723@sip.cybercity.dk",
  "reg-new 29858147-465b0752@29858051-465b07b2 REGISTER - sip:35104723@sip.cybercity.dk",
  "auth-failed 29858147-465b0752@29858051-465b07b2 REGISTER 401 sip:35104723@sip.cybercity.dk",
  "auth-failed 24487391-449bf2a0@192.168.1.2 INVITE 403 auth-failed",
  "call-attempt 11894297-4432a9f8@192.168.1.2 INVITE 480 failed",
];

test("wireshark.pcap: registrations and challenged calls as Zeek saw them", async () => {
  const found = await events("fixtures/captures/wireshark.pcap");
  assert.equal(found.map(line), WIRESHARK_EVENTS);
});

// Zeek's sip.log of the same capture (fixtures/SOURCES.md): a second implementation's view.
const ZEEK_LOG = "fixtures/calls/wireshark.zeek-sip.tsv";
test("wireshark.pcap: every INVITE Call-ID in Zeek's sip.log ends in exactly one call event, with Zeek's final status", async () => {
  const rows = readFileSync(ZEEK_LOG, "utf8").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("\t"));
  const finalOfInvite = new Map<string, number>();
  for (const r of rows) {
    const [method, callId, status] = [r[7], r[15], Number(r[21])];
    if (method === "INVITE" && status >= 200) finalOfInvite.set(callId, status);
  }
  const found = await events("fixtures/captures/wireshark.pcap");
  const callEvents = found.filter((e) => e.sip?.request?.method === "INVITE");
  for (const [callId, status] of finalOfInvite) {
    const mine = callEvents.filter((e) => e.sip?.call_id === callId);
    assert.is(mine.length, 1, callId);
    assert.is(mine[0].sip?.response?.status, status, callId);
  }
});

const SIPP = "../shared/corpus/pcaps/sipnab/sipp-branch-scenario.pcapng";
if (existsSync(SIPP)) {
  // tshark counts in this capture: 1,334 INVITEs; 102 answered 200; 1,148 refused 403
  // (each then sent a BYE on the refused branch, which ends no dialog); 9 ended by the
  // caller's BYE in the early dialog; 3 ACKed and hung up with no 2xx (a missed 2xx);
  // 72 never finished within the 133 s capture; 6 of the answered not hung up by its end.
  test("sipp-branch-scenario (3.7 MB, from the shared corpus): every branch as its messages say", async () => {
    const found = await events(SIPP);
    const counts: Record<string, number> = {};
    for (const e of found) {
      const key = [e.event.type, e.sip?.call?.outcome, e.sip?.response?.status, e.sip?.call?.implied ? "implied" : undefined]
        .filter((part) => part !== undefined).join(" ");
      counts[key] = (counts[key] ?? 0) + 1;
    }
    assert.equal(counts, {
      "reg-new": 1,
      "call-start answered 200": 102,
      "call-end answered 200": 96,
      "call-start answered implied": 3,
      "call-end answered implied": 3,
      "call-attempt cancelled": 9,
      "call-attempt failed 403": 1148,
    });
  });
} else {
  console.log(`calls-corpus: ${SIPP} not here; the sipp-branch-scenario check is not registered`);
}

test.run();
