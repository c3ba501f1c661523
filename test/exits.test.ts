// How every run ends (host/exits.ts, README "Exit codes"): the summary on stderr,
// then one line naming what failed and what to do, and one exit code per kind of
// failure. Each case is built here: a broker that freezes, a reader that goes away,
// a full device, a path that cannot be created, a capture of an unsupported link type.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { get } from "node:http";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { mkdtempSync, openSync, closeSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./mosquitto";
import { generateWorkload, workloadOptions } from "./support/generate";
import { INVITE, pcapFile, udpFrame } from "./helpers";

const SAMPLE = "fixtures/captures/sip-method.pcap";
const SUMMARY = /^siphon: \d+ packets, \d+ SIP messages \(udp \d+, tcp \d+, ws \d+\), \d+ non-SIP, \d+ malformed[^\n]* in [\d.]+ s$/;
const tmp = mkdtempSync(join(tmpdir(), "siphon-exits-"));

interface Run {
  child: ChildProcess;
  stderr(): string;
  done: Promise<{ code: number | null; stderr: string }>;
}

function siphon(args: string[], stdio: Array<"pipe" | "ignore" | number> = ["ignore", "ignore", "pipe"]): Run {
  const child = spawn(process.execPath, ["dist/siphon.mjs", ...args], { stdio: stdio as ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => { stderr += d.toString(); });
  child.stdin?.on("error", () => {});   // a run that stops may close its stdin first
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on("close", (code) => resolve({ code, stderr })));
  return { child, stderr: () => stderr, done };
}

// The lines a run printed that are not JSON logs.
function plainLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l !== "" && !l.startsWith("{"));
}

// A counter from the run's own /metrics endpoint.
function metric(port: number, name: string): Promise<number> {
  return new Promise((resolve) => {
    get(`http://127.0.0.1:${port}/metrics`, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => { text += d.toString(); });
      res.on("end", () => resolve(Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? -1)));
    }).on("error", () => resolve(-1));
  });
}

async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  let holds = false;
  const check = (): void => void condition().then((h) => { holds = h; });
  check();
  await waitFor(what, () => {
    if (!holds) check();
    return holds;
  });
}

// A CONNECT answered with CONNACK (MQTT 3.1.1, session not present, accepted).
const CONNACK = Buffer.from([0x20, 2, 0, 0]);

// A server that freezes. `answers`: as an MQTT broker it accepts the session, then stops reading and never writes again,
// as a Mosquitto stopped with SIGSTOP does; otherwise it accepts the connection and never answers at all.
async function frozenServer(answers: boolean): Promise<{ port: number; close(): void }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    if (!answers) {
      socket.pause();
      return;
    }
    socket.once("data", () => {
      socket.write(CONNACK);
      socket.pause();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

for (const answers of [true, false]) {
  const what = answers ? "a broker that froze after accepting the session" : "a broker that accepts the connection and never answers";
  test(`SIGTERM with ${what}: the summary, one line naming the broker, exit 3`, async () => {
    const broker = await frozenServer(answers);
    const metrics = await freePort();
    const run = siphon(["replay", "--sensor", "t", "-", "--mqtt", `mqtt://sensor:s3cret@127.0.0.1:${broker.port}`,
      "--flush-timeout", "1", "--metrics", `127.0.0.1:${metrics}`], ["pipe", "ignore", "pipe"]);
    run.child.stdin?.write(readFileSync(SAMPLE));
    try {
      await until("the 81 envelopes queued for the broker", async () => await metric(metrics, "siphon_mqtt_queued_total") === 81);
      if (answers) await waitFor("the session accepted", () => /"msg":"mqtt: connected"/.test(run.stderr()));
      run.child.kill("SIGTERM");
      const r = await run.done;
      const plain = plainLines(r.stderr);
      assert.is(r.code, 3, r.stderr);
      assert.is(plain.length, 2, r.stderr);
      assert.match(plain[0], SUMMARY);
      assert.match(plain[0], /^siphon: 691 packets, 81 SIP messages/);
      assert.match(plain[1], new RegExp(`^siphon: 81 messages could not be delivered within --flush-timeout 1 s, ` +
        `to --mqtt mqtt://sensor:\\*\\*\\*@127\\.0\\.0\\.1:${broker.port} \\(topic siphon/sip\\): 81 not acknowledged`));
      assert.match(plain[1], answers ? /check that the broker is up and keeps up, or raise --flush-timeout$/ : /check that the broker is up and --mqtt names it$/);
      assert.not.match(plain.join("\n"), /s3cret/, "the password is masked");
      assert.not.match(r.stderr, /did not finish within the flush deadline/);
    } finally {
      run.child.kill("SIGKILL");
      broker.close();
    }
  });
}

test("a second SIGTERM while the outputs flush: the run ends at once, with the summary and a line saying so, exit 3", async () => {
  const broker = await frozenServer(true);
  const run = siphon(["replay", "--sensor", "t", "-", "--mqtt", `mqtt://127.0.0.1:${broker.port}`, "--flush-timeout", "600"],
    ["pipe", "ignore", "pipe"]);
  run.child.stdin?.write(readFileSync(SAMPLE));
  try {
    await waitFor("the session accepted", () => /"msg":"mqtt: connected"/.test(run.stderr()));
    run.child.kill("SIGTERM");
    await waitFor("the first signal taken", () => /"msg":"stopping: delivering what is queued"/.test(run.stderr()));
    run.child.kill("SIGTERM");
    const r = await run.done;
    assert.is(r.code, 3, r.stderr);
    const plain = plainLines(r.stderr);
    assert.is(plain.length, 2, r.stderr);
    assert.match(plain[0], SUMMARY);
    assert.match(plain[1], /^siphon: a second SIGTERM: exited without waiting for the outputs to deliver what they held/);
  } finally {
    run.child.kill("SIGKILL");
    broker.close();
  }
});

const WORKLOAD = join(tmp, "workload.pcap");
generateWorkload(workloadOptions({ seed: 9, messages: 3000 }), WORKLOAD);

test("stdout closed by its reader (| head -1): reading stops, the summary, no failure line, exit 141", async () => {
  const run = siphon(["replay", WORKLOAD], ["ignore", "pipe", "pipe"]);
  const first = await new Promise<string>((resolve) => run.child.stdout?.once("data", (d: Buffer) => resolve(d.toString())));
  run.child.stdout?.destroy();
  const r = await run.done;
  assert.ok(JSON.parse(first.split("\n")[0]).v === 1, "an envelope came first");
  assert.is(r.code, 141, r.stderr);
  const plain = plainLines(r.stderr);
  assert.is(plain.length, 1, r.stderr);
  assert.match(plain[0], SUMMARY);
});

test("--out /dev/full: the summary, then the line names --out and the device's error, exit 3", async () => {
  const r = await siphon(["replay", SAMPLE, "--out", "/dev/full"]).done;
  assert.is(r.code, 3, r.stderr);
  const [summary, failure, ...more] = plainLines(r.stderr);
  assert.match(summary, SUMMARY);
  assert.is(failure, "siphon: --out /dev/full: cannot write (ENOSPC, no space left on the device): free space on its device or write elsewhere");
  assert.equal(more, []);
});

test("stdout on /dev/full: the line names stdout, exit 3", async () => {
  const full = openSync("/dev/full", "w");
  const r = await siphon(["replay", SAMPLE], ["ignore", full, "pipe"]).done;
  closeSync(full);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, /\nsiphon: stdout: cannot write \(ENOSPC, no space left on the device\)[^\n]*\n$/);
});

test("an --out and an --events that cannot be created: the same exit code, 3, each named with what to do", async () => {
  const missing = join(tmp, "no-such-dir", "x.ndjson");
  const out = await siphon(["replay", SAMPLE, "--out", missing]).done;
  const events = await siphon(["replay", SAMPLE, "--out", "/dev/null", "--events", missing]).done;
  assert.is(out.code, 3, out.stderr);
  assert.is(events.code, 3, events.stderr);
  assert.is(out.stderr, `siphon: --out ${missing}: cannot create it (ENOENT, its directory does not exist: create the directory or name another file)\n`);
  assert.is(events.stderr, `siphon: --events ${missing}: cannot create it (ENOENT, its directory does not exist: create the directory or name another file)\n`);
});

// A server that accepts and never answers, as a PostgreSQL that froze: the call records'
// writer cannot hold the run past --flush-timeout, in `siphon cdr` or `siphon replay --cdr`.
test("a PostgreSQL that never answers: the summary, one line naming the database (password masked), exit 3", async () => {
  const db = await frozenServer(false);
  const events = join(tmp, "events.ndjson");
  const made = await siphon(["replay", SAMPLE, "--out", "/dev/null", "--events", events]).done;
  assert.is(made.code, 0, made.stderr);
  const url = `postgres://sensor:s3cret@127.0.0.1:${db.port}/calls`;
  const line = `siphon: --cdr postgres://sensor:***@127.0.0.1:${db.port}/calls: PostgreSQL did not take every call record within ` +
    "--flush-timeout";
  try {
    const cdr = await siphon(["cdr", "--events", events, "--cdr", url, "--flush-timeout", "1"]).done;
    assert.is(cdr.code, 3, cdr.stderr);
    const [summary, failure, ...more] = plainLines(cdr.stderr);
    assert.match(summary, /^siphon cdr: \d+ events read, 0 call records written to siphon_calls$/);
    assert.ok(failure.startsWith(`${line} 1 s: `), failure);
    assert.equal(more, []);
    const replay = await siphon(["replay", SAMPLE, "--out", "/dev/null", "--cdr", url, "--flush-timeout", "1"]).done;
    assert.is(replay.code, 3, replay.stderr);
    const plain = plainLines(replay.stderr);
    assert.match(plain[plain.length - 2], SUMMARY);
    assert.ok(plain[plain.length - 1].startsWith(line), plain.join("\n"));
    assert.not.match(cdr.stderr + replay.stderr, /s3cret/);
  } finally {
    db.close();
  }
});

// LINKTYPE_USER0: a link type no capture of SIP uses.
const USER0 = 147;

function captureOfLinkType(frames: Uint8Array[], linkType: number): string {
  const file = Buffer.from(pcapFile(frames));
  file.writeUInt32LE(linkType, 20);
  const path = join(tmp, `link-${linkType}-${frames.length}.pcap`);
  writeFileSync(path, file);
  return path;
}

test("a capture whose every packet is of an unsupported link type: the summary counts them, the line names the type, exit 1", async () => {
  const path = captureOfLinkType([udpFrame(INVITE), udpFrame(INVITE), udpFrame(INVITE)], USER0);
  const r = await siphon(["replay", path]).done;
  assert.is(r.code, 1, r.stderr);
  const [summary, failure, ...more] = plainLines(r.stderr);
  assert.match(summary, /^siphon: 3 packets, 0 SIP messages .*, 3 unsupported link type in/);
  assert.is(failure, `siphon: ${path}: all 3 packets are of link type ${USER0}, which siphon does not decode, so no SIP message could be read from it: ` +
    "capture on an Ethernet, Linux cooked (tcpdump -i any), loopback or raw IP interface");
  assert.equal(more, []);
  const filtered = await siphon(["filter", "test", "request", path], ["ignore", "pipe", "pipe"]).done;
  assert.is(filtered.code, 1, filtered.stderr);
  assert.is(filtered.stderr, `${failure}\n`);
});

test("some packets of an unsupported link type among decoded ones: counted in the summary, exit 0", async () => {
  const path = join(tmp, "mixed.pcapng");
  writeFileSync(path, pcapngOfTwoInterfaces(udpFrame(INVITE), USER0));
  const r = await siphon(["replay", path], ["ignore", "pipe", "pipe"]).done;
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /^siphon: 2 packets, 1 SIP messages .*, 1 unsupported link type in [\d.]+ s\n$/);
});

// A pcapng file with an Ethernet interface and one of `otherLinkType`, one packet (the same bytes) on each.
function pcapngOfTwoInterfaces(frame: Uint8Array, otherLinkType: number): Buffer {
  const block = (type: number, body: Buffer): Buffer => {
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(type, 0);
    head.writeUInt32LE(12 + padded.length, 4);
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(12 + padded.length, 0);
    return Buffer.concat([head, padded, tail]);
  };
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeBigInt64LE(-1n, 8);
  const idb = (linkType: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(linkType, 0);
    b.writeUInt32LE(262144, 4);
    return b;
  };
  const epb = (iface: number): Buffer => {
    const b = Buffer.alloc(20);
    b.writeUInt32LE(iface, 0);
    b.writeUInt32LE(frame.length, 12);
    b.writeUInt32LE(frame.length, 16);
    return Buffer.concat([b, Buffer.from(frame)]);
  };
  return Buffer.concat([block(0x0a0d0d0a, shb), block(1, idb(1)), block(1, idb(otherLinkType)), block(6, epb(0)), block(6, epb(1))]);
}

test.run();
