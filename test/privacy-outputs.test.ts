// --anonymize end to end, on every fixture capture and on a generated workload:
// the originals of a run without it (every address, user, display name and
// Call-ID the capture holds, read from the envelopes' SIP text and the events)
// must appear nowhere in what a run with it writes: events, rewritten envelopes,
// HEP packets, call records in PostgreSQL, log lines. The events are otherwise
// the same events (number, type, timing: each equals the plain run's event
// anonymized), a second process with the same key writes the same pseudonyms,
// and what tshark reads of the rewritten SIP is SIP with a right Content-Length.
import { test } from "uvu";
import * as assert from "uvu/assert";
import pg from "pg";
import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions } from "./support/generate";
import { pcapFile, udpFrame } from "./helpers";
import { freePort, waitFor } from "./mosquitto";
import { postgres } from "./postgres";
import { privacyWithKey } from "../host/privacy";
import type { SipEvent } from "../host/calls/events";

const KEY = Buffer.from("8f3c1e0a9b7d5f2e4c6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a0c2e4b6d8f", "hex");
const directory = mkdtempSync(join(tmpdir(), "siphon-privacy-outputs-"));
const keyFile = join(directory, "siphon.key");
writeFileSync(keyFile, `${KEY.toString("hex")}\n`);
chmodSync(keyFile, 0o600);
const privacy = privacyWithKey(KEY, false);

const generated = join(directory, "generated.pcap");
generateWorkload(workloadOptions({ seed: 23, messages: 1500, tunnel: "vxlan", ipv6Share: 0.3 }), generated);
const CAPTURES = [...readdirSync("fixtures/captures").filter((f) => /\.(pcap|pcapng)$/.test(f)).map((f) => `fixtures/captures/${f}`), generated];

const database = await postgres();
if (typeof database === "string") console.log(`privacy-outputs: call records not checked: ${database}`);

interface Envelope { id: string; time: string; src: string; dst: string; transport: string; call_id: string | null; sip: string;
  outer?: { src: string; dst: string }; anonymized?: { key_check: string } }

const lines = (path: string): string[] => readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
const sipOf = (e: Envelope): string => Buffer.from(e.sip, "base64").toString("latin1");
const ipOf = (endpoint: string): string => endpoint.replace(/^\[?(.*?)\]?:\d+$/, "$1");

// What identifies someone in a capture, read with plain patterns (not the rewriter's).
interface Originals { addresses: Set<string>; users: Set<string>; callIds: Set<string> }

function originalsOf(envelopes: Envelope[], events: SipEvent[]): Originals {
  const o: Originals = { addresses: new Set(), users: new Set(), callIds: new Set() };
  const add = (set: Set<string>, v: string | null | undefined): void => { if (v) set.add(v); };
  for (const e of envelopes) {
    add(o.addresses, ipOf(e.src));
    add(o.addresses, ipOf(e.dst));
    add(o.addresses, e.outer?.src);
    add(o.addresses, e.outer?.dst);
    add(o.callIds, e.call_id);
    // Versions in User-Agent and Server ("Phone 2.0.51.16") are not addresses, and the rewriter keeps them.
    const text = sipOf(e).replace(/^(?:User-Agent|Server)[ \t]*:.*$/gim, "");
    for (const m of text.matchAll(/(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])/g)) if (m[0].split(".").every((x) => Number(x) <= 255)) add(o.addresses, m[0]);
    for (const m of text.matchAll(/\[([0-9a-fA-F:.]+)\]|IP6 ([0-9a-fA-F:.]+)/g)) add(o.addresses, m[1] ?? m[2]);
    for (const m of text.matchAll(/sips?:([^@\s<>":;,]+)(?::[^@\s<>",]*)?@/gi)) add(o.users, m[1]);
    for (const m of text.matchAll(/tel:([^;>\s,"]+)/gi)) add(o.users, m[1]);
    for (const m of text.matchAll(/^(?:From|To|f|t)[ \t]*:[ \t]*"([^"]+)"/gim)) add(o.users, m[1]);
  }
  for (const e of events) {
    add(o.addresses, e.client?.ip);
    add(o.addresses, e.server?.ip);
    add(o.callIds, e.sip?.call_id);
  }
  return o;
}

// A user that is a short number (an extension, 2210) stands as a user only where a user stands: a CSeq,
// a port or an SDP field may hold the same digits.
const SHORT_NUMBER = /^\+?\d{1,6}$/;
const USER_PLACES = (user: string): string[] => [`sip:${user}@`, `sips:${user}@`, `tel:${user}`, `"${user}"`, `o=${user} `, `:${user}@`];

function leaks(haystack: string, kind: string, needle: string): boolean {
  if (kind === "user" && SHORT_NUMBER.test(needle)) return USER_PLACES(needle).some((place) => haystack.includes(place));
  return standsIn(haystack, needle);
}

// Where `needle` stands as a whole word in `haystack` (not inside a longer name, number or address).
function standsIn(haystack: string, needle: string): boolean {
  const word = /[A-Za-z0-9]/;
  const addressy = /^[\d.]+$/.test(needle) ? /[A-Za-z0-9.]/ : word;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
    const before = haystack[at - 1] ?? " ";
    const after = haystack[at + needle.length] ?? " ";
    if (!addressy.test(before) && !(addressy.test(after) && !(after === "." && !/\d/.test(haystack[at + needle.length + 1] ?? "")))) return true;
  }
  return false;
}

// HEP chunks 15 (the SIP payload) and 17 (the correlation id) of a packet, as text.
function hepTexts(packet: Buffer): string[] {
  const texts: string[] = [];
  for (let at = 6; at + 6 <= packet.length; ) {
    const type = packet.readUInt16BE(at + 2);
    const length = packet.readUInt16BE(at + 4);
    if (type === 15 || type === 17) texts.push(packet.toString("latin1", at + 6, at + length));
    at += Math.max(length, 6);
  }
  return texts;
}

const siphon = (args: string[]): Promise<{ code: number | null; stderr: string }> => new Promise((resolve) => {
  const child = spawn(process.execPath, ["dist/siphon.mjs", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
  child.on("close", (code) => resolve({ code, stderr }));
});

// An event without its sealed fields (random IVs) and without the call records' counters (only the anonymized run writes them).
function withoutSealed(e: SipEvent): SipEvent {
  const counters = e.counters && Object.fromEntries(Object.entries(e.counters).filter(([name]) => !name.startsWith("cdr_")));
  return { ...e, ...(counters ? { counters } : {}), ...(e.anonymized ? { anonymized: { key_check: e.anonymized.key_check } } : {}) };
}

interface Anonymized { envelopes: Envelope[]; events: SipEvent[]; hep: Buffer[]; stderr: string; log: string; rows: string[]; code: number | null }

// The log less what the test itself gave: the configuration line (option names, the key file's path),
// the collector's and the database's addresses, and the table's name (it holds "test", a user in
// pcapplusplus-sip-reqs).
function logOf(stderr: string, own: string[]): string {
  const lines = stderr.split("\n").filter((l) => !l.includes('"msg":"configuration"')).join("\n");
  return own.reduce((text, url) => text.replaceAll(url, ""), lines);
}

async function anonymizedRun(capture: string, name: string): Promise<Anonymized> {
  const socket = createSocket({ type: "udp4", recvBufferSize: 16 << 20 });
  const hep: Buffer[] = [];
  socket.on("message", (m) => hep.push(m));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const collector = `udp://127.0.0.1:${socket.address().port}`;
  const table = `siphon_test_privacy_${process.pid}_${name.replace(/\W/g, "_")}`.slice(0, 63);
  const cdr = typeof database === "string" ? [] : ["--cdr", `${database.url}?table=${table}`];
  let r: { code: number | null; stderr: string };
  try {
    r = await siphon(["replay", capture, "--out", join(directory, `${name}.anon.ndjson`), "--events", join(directory, `${name}.anon.events`),
      "--sensor", "t", "--no-progress", "--anonymize", keyFile, "--encrypt-fields", "--anonymize-envelopes",
      "--hep", collector, "--log-level", "debug", ...cdr]);
    const sent = Number(/"hep_sent":(\d+)/.exec(r.stderr)?.[1] ?? 0);
    await waitFor("every HEP datagram sent", () => hep.length >= sent, () => `${hep.length} of ${sent}`);
  } finally {
    socket.close();
  }
  return {
    envelopes: lines(join(directory, `${name}.anon.ndjson`)).map((l) => JSON.parse(l) as Envelope),
    events: lines(join(directory, `${name}.anon.events`)).map((l) => JSON.parse(l) as SipEvent),
    hep, stderr: r.stderr, code: r.code, rows: await rowsOf(table),
    log: logOf(r.stderr, [collector, typeof database === "string" ? "" : database.url.replace(/^.*@/, ""), table].filter((u) => u !== "")),
  };
}

// The call records the run wrote, each row as JSON; the table is dropped.
async function rowsOf(table: string): Promise<string[]> {
  if (typeof database === "string") return [];
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const result = await client.query(`SELECT row_to_json(t)::text AS j FROM ${table} t`).catch(() => ({ rows: [] as { j: string }[] }));
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    return (result.rows as { j: string }[]).map((x) => x.j);
  } finally {
    await client.end();
  }
}

for (const capture of CAPTURES) {
  const name = capture === generated ? "generated" : capture.replace(/^.*\/|\.(pcap|pcapng)$/g, "");
  test(`--anonymize on ${name}: no original address, user or Call-ID in any output; the same events otherwise`, async () => {
    const plain = await siphon(["replay", capture, "--out", join(directory, `${name}.ndjson`), "--events", join(directory, `${name}.events`),
      "--sensor", "t", "--no-progress"]);
    const envelopes = lines(join(directory, `${name}.ndjson`)).map((l) => JSON.parse(l) as Envelope);
    const events = lines(join(directory, `${name}.events`)).map((l) => JSON.parse(l) as SipEvent);
    const anon = await anonymizedRun(capture, name);
    const tooLarge = /larger than a UDP datagram/.test(anon.stderr);
    assert.ok(anon.code === plain.code || anon.code === 3 && tooLarge, `exit ${anon.code} (without --anonymize ${plain.code}):\n${anon.stderr}`);

    assert.equal(anon.events.map(withoutSealed), events.map((e) => withoutSealed(privacy.event(e))),
      "each event is the plain run's event anonymized: same number, types, times and durations");
    assert.is(anon.envelopes.length, envelopes.length);
    anon.envelopes.forEach((a, i) => {
      const e = envelopes[i];
      assert.equal([a.id, a.time, a.transport, a.anonymized], [e.id, e.time, e.transport, { key_check: privacy.keyCheck }]);
      assert.is(sipOf(a), privacy.sip(Buffer.from(e.sip, "base64")).toString("latin1"));
    });

    const originals = originalsOf(envelopes, events);
    const outputs: [string, string][] = [
      ["events", anon.events.map((e) => JSON.stringify(withoutSealed(e))).join("\n")],
      ["envelopes", anon.envelopes.map((e) => `${JSON.stringify({ ...e, sip: "" })}\n${sipOf(e)}`).join("\n")],
      ["HEP", anon.hep.flatMap(hepTexts).join("\n")],
      ["call records", anon.rows.map((r) => JSON.stringify({ ...JSON.parse(r), encrypted: null })).join("\n")],
      ["the log", anon.log],
    ];
    const found: string[] = [];
    for (const [kind, values] of [["address", originals.addresses], ["user", originals.users], ["Call-ID", originals.callIds]] as const) {
      for (const value of values) for (const [output, text] of outputs) if (leaks(text, kind, value)) found.push(`${kind} ${JSON.stringify(value)} in ${output}`);
    }
    assert.equal(found, [], `originals left in the outputs (${originals.addresses.size} addresses, ${originals.users.size} users, ${originals.callIds.size} Call-IDs looked for)`);
    if (envelopes.length > 0 && !tooLarge) assert.is(anon.hep.length, envelopes.length, "a HEP packet per message");
    const finishing = events.filter((e) => ["call-end", "call-attempt"].includes(e.event.type) || e.event.type === "auth-failed" && e.sip?.call !== undefined);
    if (typeof database !== "string") {
      assert.ok(anon.rows.length <= finishing.length && (finishing.length === 0) === (anon.rows.length === 0), `${anon.rows.length} call records`);
      for (const row of anon.rows) assert.is(JSON.parse(row).key_check, privacy.keyCheck);
    }
  });
}

test("a second process with the same key writes the same pseudonyms and addresses", async () => {
  const again = await anonymizedRun("fixtures/captures/sip-register.pcap", "again");
  const first = lines(join(directory, "sip-register.anon.events")).map((l) => JSON.parse(l) as SipEvent);
  assert.ok(first.length > 0);
  assert.equal(again.events.map(withoutSealed), first.map(withoutSealed));
});

test("deanonymize gives back the plain run's events from the anonymized run's", () => {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "deanonymize", "--key", keyFile, join(directory, "generated.anon.events")], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const plain = lines(join(directory, "generated.events")).map((l) => JSON.parse(l) as SipEvent);
  const restored = r.stdout.split("\n").filter((l) => l).map((l) => JSON.parse(l) as SipEvent);
  assert.equal(restored.map(withoutSealed), plain.map((e) => withoutSealed({ ...e, anonymized: { key_check: privacy.keyCheck } })));
  assert.match(r.stderr, new RegExp(`${plain.length} lines, \\d+ restored \\(\\d+ fields\\) with key ${privacy.keyCheck}`));
});

test("deanonymize with another key: every line passed as it came, counted, exit 1", () => {
  const otherKey = join(directory, "other.key");
  writeFileSync(otherKey, `${"7e".repeat(32)}\n`, { mode: 0o600 });
  chmodSync(otherKey, 0o600);
  const input = join(directory, "sip-tcp.anon.events");
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "deanonymize", "--key", otherKey, input], { encoding: "utf8" });
  assert.is(r.status, 1, r.stderr);
  assert.is(r.stdout, readFileSync(input, "utf8"));
  const sealed = lines(input).filter((l) => (JSON.parse(l) as SipEvent).anonymized?.encrypted !== undefined).length;
  assert.ok(sealed > 0);
  assert.match(r.stderr, new RegExp(`${sealed} made with key ${privacy.keyCheck}, not this one: give that key's file`));
});

test("/metrics of an anonymized run: no label but the process's own, no original of the capture", async () => {
  const capture = "fixtures/captures/sip-method.pcap";
  const port = await freePort();
  const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", "-", "--anonymize", keyFile, "--events", "/dev/null", "--out", "/dev/null",
    "--metrics", `127.0.0.1:${port}`], { stdio: ["pipe", "ignore", "ignore"] });
  child.stdin.write(readFileSync(capture));   // stdin stays open: the run goes on until it is closed
  let body = "";
  const deadline = Date.now() + 60000;
  try {
    const frames = (JSON.parse(readFileSync(capture.replace(/\.pcap$/, ".summary.json"), "utf8")) as { frames: number }).frames;
    while (!new RegExp(`^siphon_frames_total ${frames}$`, "m").test(body)) {
      if (Date.now() > deadline) throw new Error(`not every frame counted in /metrics after 60 s; saw:\n${body}`);
      body = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => "");
    }
  } finally {
    child.stdin.end();
  }
  const series = body.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  const labelled = series.filter((l) => l.includes("{") && !/^siphon_(process|nodejs)_/.test(l));
  assert.equal(labelled, [], "series with labels");
  assert.match(body, /^siphon_anonymize_cache_evicted_total 0$/m);
  const originals = originalsOf(lines(join(directory, "sip-method.ndjson")).map((l) => JSON.parse(l) as Envelope), []);
  const found = [...originals.addresses, ...originals.users, ...originals.callIds].filter((v) => standsIn(body, v));
  assert.equal(found, []);
});

const tshark = spawnSync("tshark", ["--version"]).status === 0;

// tshark's reading of each message, sent as one UDP datagram: its Call-ID, Content-Length and any malformed mark.
function tsharkReads(name: string, messages: Buffer[]): string[][] {
  const file = join(directory, `${name}.rewritten.pcap`);
  writeFileSync(file, pcapFile(messages.map((m) => udpFrame(m))));
  const t = spawnSync("tshark", ["-r", file, "-T", "fields", "-E", "occurrence=f", "-e", "sip.Call-ID", "-e", "sip.Content-Length", "-e", "_ws.malformed"],
    { encoding: "utf8" });
  const rows = t.stdout.split("\n").filter((l) => l).map((l) => l.split("\t"));
  assert.is(rows.length, messages.length, `${name}: tshark read ${rows.length} of ${messages.length} messages; ${t.stderr}`);
  return rows;
}

function checkSip(name: string, messages: Buffer[], callIds: string[]): void {
  tsharkReads(name, messages).forEach(([callId, length, malformed], i) => {
    const text = messages[i].toString("latin1");
    assert.is(callId, callIds[i], `${name} message ${i}`);
    assert.is(malformed ?? "", "", `${name} message ${i}: tshark calls it malformed`);
    if (length !== "") assert.is(Number(length), text.length - text.indexOf("\r\n\r\n") - 4, `${name} message ${i}: Content-Length`);
  });
}

// HEP chunk `type` of a packet.
function hepChunk(packet: Buffer, type: number): Buffer | undefined {
  for (let at = 6; at + 6 <= packet.length; at += Math.max(packet.readUInt16BE(at + 4), 6)) {
    if (packet.readUInt16BE(at + 2) === type) return packet.subarray(at + 6, at + packet.readUInt16BE(at + 4));
  }
  return undefined;
}

// Captures whose messages' Content-Length was right to begin with, each message small enough for one datagram.
const WELL_FORMED = ["sip-method", "sip-tcp", "sip-register", "generated", "sip-auth-failure", "wireshark", "sip-websocket"];

if (!tshark) console.log("privacy-outputs: tshark is not installed; the rewritten SIP was NOT decoded by tshark");
else {
  test("tshark reads every rewritten envelope's SIP: the pseudonymous Call-ID, a Content-Length equal to its body", () => {
    for (const name of WELL_FORMED) {
      const envelopes = lines(join(directory, `${name}.anon.ndjson`)).map((l) => JSON.parse(l) as Envelope);
      assert.ok(envelopes.length > 0, name);
      checkSip(`${name} envelopes`, envelopes.map((e) => Buffer.from(e.sip, "base64")), envelopes.map((e) => e.call_id ?? ""));
    }
  });

  test("tshark reads every anonymized HEP packet's payload as SIP with the packet's correlation id and a right Content-Length", async () => {
    for (const name of ["sip-method", "generated"]) {
      const anon = await anonymizedRun(name === "generated" ? generated : `fixtures/captures/${name}.pcap`, `hep-${name}`);
      assert.is(anon.hep.length, anon.envelopes.length);
      const payloads = anon.hep.map((p) => hepChunk(p, 15) ?? Buffer.alloc(0));
      assert.equal(payloads.map((p) => p.toString("base64")), anon.envelopes.map((e) => e.sip), "HEP carries the envelope's rewritten text");
      checkSip(`${name} HEP`, payloads, anon.hep.map((p) => hepChunk(p, 17)?.toString("utf8") ?? ""));
    }
  });
}

test.run();
