// RFC 4475 and RFC 5118 torture messages, each in its own UDP datagram.
// fixtures/torture/INDEX.tsv gives each message's verdict, method or status
// and Call-ID. Valid (V), well-formed but semantically odd (S), transaction (T)
// and RFC 2543 (B) messages must give exactly one envelope with the right
// method or status and Call-ID; invalid ones (I) must be survived and counted.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync } from "node:fs";
import * as L from "../assembly/layout";
import { runFrames, udpFrame } from "./helpers";

interface Row {
  rfc: string;
  name: string;
  verdict: string;
  methodOrStatus: string;
  callId: string;
}

const rows: Row[] = readFileSync("fixtures/torture/INDEX.tsv", "latin1").trim().split("\n").slice(1).map((line) => {
  const f = line.split("\t");
  return { rfc: f[0], name: f[1], verdict: f[4], methodOrStatus: f[5], callId: f[6] };
});

function messageFile(row: Row): string {
  return row.rfc === "4475" ? `fixtures/torture/rfc4475/${row.name}.dat` : `fixtures/torture/rfc5118/${row.name}`;
}

// Where Siphon differs from the RFC's advice on purpose, and why.
const DELIBERATE: Record<string, string> = {
  // RFC 4475 §3.1.1.8: a UA discards the INVITE after the REGISTER's Content-Length.
  // A sensor shows every message the datagram carries, and counts the datagram in udp_multi.
  dblreq: "REGISTER then the trailing INVITE",
};

const wellFormed = rows.filter((r) => ["V", "S", "T", "B"].includes(r.verdict) && existsSync(messageFile(r)));
const invalid = rows.filter((r) => r.verdict === "I" && existsSync(messageFile(r)));

test("the index and the fixtures agree", () => {
  assert.ok(wellFormed.length >= 35, `well-formed messages: ${wellFormed.length}`);
  assert.ok(invalid.length >= 20, `invalid messages: ${invalid.length}`);
});

for (const row of wellFormed) {
  test(`RFC ${row.rfc} ${row.name} (${row.verdict}): one envelope, ${row.methodOrStatus}`, () => {
    const bytes = readFileSync(messageFile(row));
    const run = runFrames([{ data: udpFrame(bytes) }]);
    const first = run.messages[0];
    assert.ok(first, `no envelope; counters ${JSON.stringify(run.counters)}`);
    if (DELIBERATE[row.name]) {
      assert.is(run.messages.length, 2, DELIBERATE[row.name]);
      assert.is(run.counters.udp_multi, 1);
    } else {
      assert.is(run.messages.length, 1);
    }
    if (first.isRequest) assert.is(first.method, row.methodOrStatus);
    else assert.is(String(first.status), row.methodOrStatus);
    // multi01 carries two Call-IDs; the index lists both, the first one names the message.
    const expectedCallId = row.callId.split("|")[0];
    assert.is(first.callId, expectedCallId);
    const env = JSON.parse(run.ndjson.split("\n")[0]);
    assert.is(env.call_id, expectedCallId === "" ? null : expectedCallId);
    assert.equal(Buffer.from(env.sip, "base64"), bytes.subarray(0, first.bytes.length));
  });
}

for (const row of invalid) {
  test(`RFC ${row.rfc} ${row.name} (invalid): survived and counted`, () => {
    const run = runFrames([{ data: udpFrame(readFileSync(messageFile(row))) }]);
    const c = run.counters;
    const accounted = run.messages.length + c.non_sip + c.sip_malformed;
    assert.ok(accounted >= 1, `not accounted for: ${JSON.stringify(c)}`);
    for (const m of run.messages) {
      if (m.isRequest) assert.is(m.method, row.methodOrStatus);
    }
  });
}

test("invalid framing is counted where the message is still shown", () => {
  const counters = (name: string) => runFrames([{ data: udpFrame(readFileSync(`fixtures/torture/rfc4475/${name}.dat`)) }]);
  assert.is(counters("clerr").counters.clen_short, 1);
  assert.is(counters("ncl").counters.clen_bad, 1);
  const mcl = counters("mcl01");
  assert.is(mcl.counters.clen_bad, 1);
  assert.is(mcl.messages[0].problems & L.PROB_CLEN_BAD, L.PROB_CLEN_BAD);
});

test("start lines that are not SIP are counted as non-SIP, never emitted", () => {
  for (const name of ["badvers", "bigcode", "lwsstart", "lwsruri", "trws"]) {
    const run = runFrames([{ data: udpFrame(readFileSync(`fixtures/torture/rfc4475/${name}.dat`)) }]);
    assert.is(run.messages.length, 0, name);
    assert.is(run.counters.non_sip, 1, name);
  }
});

test.run();
