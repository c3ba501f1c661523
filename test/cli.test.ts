// The command as a user runs it: the bundled dist/siphon.mjs under plain node.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, constants, createReadStream, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { createInterface } from "node:readline";
import { INVITE, pcapFile, pcapngFile, sip, tcpFrame, TCP_SYN, udpFrame } from "./helpers";
import { generateWorkload, workloadOptions } from "./support/generate";
import { loadAddon } from "../host/source/libpcap/addon";
import { boundedLines } from "../host/cli/lines";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SAMPLE = "fixtures/captures/sip-method.pcap";
const tmp = mkdtempSync(join(tmpdir(), "siphon-cli-"));

function siphon(args: string[], input?: Buffer) {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", ...args], { input, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.length > 0);
}

test("replay FILE: NDJSON envelopes on stdout, one summary line on stderr", () => {
  const r = siphon(["replay", "--sensor", "cli", SAMPLE]);
  assert.is(r.code, 0);
  const envelopes = lines(r.stdout).map((l) => JSON.parse(l));
  assert.is(envelopes.length, 81);
  assert.ok(envelopes.every((e) => e.sensor === "cli" && e.v === 1));
  assert.equal(lines(r.stderr).length, 1);
  assert.match(r.stderr, /^siphon: 691 packets, 81 SIP messages \(udp 81, tcp 0, ws 0\), 509 non-SIP, 0 malformed, 44 not IP in [\d.]+ s\n$/);
});

test("replay: media calls evicted from a full table are named in the summary line", () => {
  const file = join(tmp, "media.pcap");
  generateWorkload(workloadOptions({ seed: 3, calls: 20, media: true, meanCallSeconds: 5 }), file);
  const full = siphon(["replay", file, "--media-calls", "2", "--out", "/dev/null"]);
  assert.is(full.code, 0, full.stderr);
  const evicted = Number(/, (\d+) media calls evicted \(--media-calls or --media-endpoints full\)/.exec(full.stderr)?.[1]);
  assert.ok(evicted > 0, full.stderr);
  const roomy = siphon(["replay", file, "--out", "/dev/null"]);
  assert.not.match(roomy.stderr, /evicted/);
});

// The pcap at `path` with every record cut to `snap` bytes, its original length kept (editcap -s).
function snapped(path: string, snap: number): Buffer {
  const file = readFileSync(path);
  const parts = [file.subarray(0, 24)];
  for (let at = 24; at + 16 <= file.length;) {
    const caplen = file.readUInt32LE(at + 8);
    const header = Buffer.from(file.subarray(at, at + 16));
    header.writeUInt32LE(Math.min(caplen, snap), 8);
    parts.push(header, file.subarray(at + 16, at + 16 + Math.min(caplen, snap)));
    at += 16 + caplen;
  }
  return Buffer.concat(parts);
}

test("replay of a capture cut by a small snap length: every message tshark shows, as far as captured, named in the summary", () => {
  const file = join(tmp, "snap300.pcap");
  writeFileSync(file, snapped(SAMPLE, 300));
  const r = siphon(["replay", file]);
  assert.is(r.code, 0, r.stderr);
  const whole = lines(siphon(["replay", SAMPLE]).stdout).map((l) => JSON.parse(l));
  const cut = lines(r.stdout).map((l) => JSON.parse(l));
  assert.equal(cut.map((e) => [e.time, e.src, e.dst]), whole.map((e) => [e.time, e.src, e.dst]));
  // A Call-ID line the snap length reached is whole or cut short; one it did not reach is absent.
  const callIds = cut.filter((e, i) => e.call_id !== whole[i].call_id);
  assert.ok(cut.every((e, i) => e.call_id === null || whole[i].call_id.startsWith(e.call_id)), JSON.stringify(callIds));
  assert.ok(callIds.length < cut.length / 2, `${callIds.length} of ${cut.length} Call-IDs differ`);
  const cutCount = Number(/, (\d+) SIP messages cut by the snap length \(emitted as far as captured\)/.exec(r.stderr)?.[1]);
  assert.ok(cutCount > 0 && cutCount <= 81, r.stderr);
  assert.match(r.stderr, / 81 SIP messages .* 0 malformed/);
});

test("replay of a capture that ends inside a TCP message: the message is counted at the end, not lost silently", () => {
  const syn = tcpFrame("", { seq: 1000, flags: TCP_SYN });
  const first = tcpFrame(INVITE.slice(0, 100), { seq: 1001 });
  const file = join(tmp, "ends-inside.pcap");
  writeFileSync(file, pcapFile([syn, first]));
  const r = siphon(["replay", file]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, "");
  assert.match(r.stderr, /, 1 partial TCP messages at the end of the input \(dropped\)/);
});

test("replay --events: a pcapng whose times lie 285,000 years ahead is clamped and counted, not a stopped run", () => {
  const headers = ["Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", "From: <sip:alice@example.com>;tag=a1",
    "Call-ID: far-future", "CSeq: 1 REGISTER", "Contact: <sip:alice@192.0.2.1>", "Expires: 600", "Content-Length: 0"];
  const register = sip(["REGISTER sip:example.com SIP/2.0", "To: <sip:alice@example.com>", ...headers]);
  const ok = sip(["SIP/2.0 200 OK", "To: <sip:alice@example.com>;tag=r1", ...headers]);
  const file = join(tmp, "far-future.pcapng");
  writeFileSync(file, pcapngFile([udpFrame(register), udpFrame(ok, { src: "198.51.100.7", dst: "192.0.2.1" })], 9_000_000_000_000n));
  const events = join(tmp, "far-future.events.ndjson");
  const r = siphon(["replay", file, "--events", events]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /, 2 capture times outside 1684-2255 \(clamped\) in /);
  const times = lines(r.stdout).map((l) => JSON.parse(l).time);
  assert.equal(times, ["2255-06-05T23:47:33.999999Z", "2255-06-05T23:47:33.999999Z"]);
  const written = lines(readFileSync(events, "utf8")).map((l) => JSON.parse(l)).filter((e) => e.event.type === "reg-new");
  assert.is(written.length, 1, readFileSync(events, "utf8"));
  assert.is(written[0]["@timestamp"], "2255-06-05T23:47:33.999999Z");
});

test("event and record streams are read in lines of bounded length: a longer one is counted, the reading goes on", async () => {
  const chunks = ["a\r\nb", "cd\n", "x".repeat(10), "y".repeat(10), "\nz\xc3", "\xa9\n\nlast"].map((c) => Buffer.from(c, "latin1"));
  const lines: (string | undefined)[] = [];
  for await (const line of boundedLines(Readable.from(chunks), 16)) lines.push(line);
  assert.equal(lines, ["a", "bcd", undefined, "z\u00e9", "", "last"]);

  const key = join(tmp, "lines.key");
  writeFileSync(key, `${"5a".repeat(32)}\n`, { mode: 0o600 });
  const input = Buffer.from(`{"a":1}\n${"a".repeat(17 << 20)}\n{"b":2}\n`);
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", "deanonymize", "--key", key, "-"], { input, maxBuffer: 64 << 20 });
  assert.is(r.status, 1, r.stderr.toString());
  assert.is(r.stdout.toString(), `{"a":1}\n{"b":2}\n`);
  assert.match(r.stderr.toString(), /^siphon deanonymize: 3 lines, 0 restored \(0 fields\) with key [0-9a-f]+; 1 lines longer than 16 MiB were left out\n$/);
});

test("replay -: a pcap stream on stdin gives the same envelopes as the file", () => {
  const fromFile = siphon(["replay", "--sensor", "cli", SAMPLE]).stdout;
  const fromStdin = siphon(["replay", "--sensor", "cli", "-"], readFileSync(SAMPLE));
  assert.is(fromStdin.code, 0);
  assert.is(fromStdin.stdout, fromFile);
});

test("replay --out FILE writes the envelopes there and nothing to stdout", () => {
  const out = join(tmp, "out.ndjson");
  const r = siphon(["replay", "--sensor", "cli", "-o", out, SAMPLE]);
  assert.is(r.code, 0);
  assert.is(r.stdout, "");
  assert.is(readFileSync(out, "utf8"), siphon(["replay", "--sensor", "cli", SAMPLE]).stdout);
});

test("to a pipe whose reader takes a chunk per turn of its event loop: the bytes of --out FILE, in order", async () => {
  // Megabytes of envelopes through a 64 KiB pipe read slowly: the queue fills past its limit,
  // reading pauses and resumes, and the envelopes and the events interleave on one stdout.
  const capture = join(tmp, "many.pcap");
  const generated = spawnSync(process.execPath, ["test/support/generate.mjs", "--seed", "3", "--messages", "4000", "--out", capture, "--truth", join(tmp, "many.truth.json")]);
  assert.is(generated.status, 0, generated.stderr.toString());
  const out = join(tmp, "many.ndjson");
  const events = join(tmp, "many.events.ndjson");
  assert.is(siphon(["replay", "--sensor", "cli", "-o", out, "--events", events, capture]).code, 0);
  const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", "--sensor", "cli", "--out", "-", "--events", "-", capture], { stdio: ["ignore", "pipe", "ignore"] });
  const chunks: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    child.stdout.pause();
    setImmediate(() => child.stdout.resume());
  });
  const code = await new Promise((resolve) => child.on("close", resolve));
  assert.is(code, 0);
  const piped = Buffer.concat(chunks).toString();
  const lines = piped.split("\n").filter((l) => l.length > 0);
  assert.ok(piped.length > 1 << 20, `${piped.length} bytes: too few to fill the queue`);
  assert.is(lines.filter((l) => l.startsWith('{"v":')).join("\n") + "\n", readFileSync(out, "utf8"), "the envelopes, in order");
  assert.is(lines.filter((l) => !l.startsWith('{"v":')).join("\n") + "\n", readFileSync(events, "utf8"), "the events, in order");
});

test("replay - with stdin redirected from a file (< F): read as the file is, to the same envelopes and the same damage", () => {
  const fromStdin = (path: string) => {
    const fd = openSync(path, "r");
    try {
      const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", "--sensor", "cli", "-"], { stdio: [fd, "pipe", "pipe"], maxBuffer: 64 << 20 });
      return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    } finally {
      closeSync(fd);
    }
  };
  const whole = fromStdin(SAMPLE);
  assert.is(whole.code, 0, whole.stderr);
  assert.is(whole.stdout, siphon(["replay", "--sensor", "cli", SAMPLE]).stdout);
  const cut = join(tmp, "cut-stdin.pcap");
  writeFileSync(cut, readFileSync(SAMPLE).subarray(0, 60000));
  const damaged = fromStdin(cut);
  assert.is(damaged.code, 1);
  assert.is(damaged.stdout, siphon(["replay", "--sensor", "cli", cut]).stdout);
  assert.match(damaged.stderr, /siphon: stdin: truncated packet record \(need \d+ bytes, have \d+\) at byte \d+\n$/);
});

test("a truncated capture: everything before the damage, then the file and byte offset, exit 1", () => {
  const whole = readFileSync(SAMPLE);
  const cut = join(tmp, "cut.pcap");
  writeFileSync(cut, whole.subarray(0, 60000));
  const r = siphon(["replay", "--sensor", "cli", cut]);
  assert.is(r.code, 1);
  const got = lines(r.stdout);
  const all = lines(siphon(["replay", "--sensor", "cli", SAMPLE]).stdout);
  assert.ok(got.length > 0 && got.length < all.length);
  assert.equal(got, all.slice(0, got.length));
  assert.match(r.stderr, new RegExp(`siphon: ${cut}: truncated packet record \\(need \\d+ bytes, have \\d+\\) at byte \\d+\\n$`));
  assert.not.match(r.stderr, /\n\s+at /);
});

test("bad input gets one clear line and exit 1, never a stack trace", () => {
  const notPcap = join(tmp, "notes.txt");
  writeFileSync(notPcap, "hello, this is text");
  for (const [file, pattern] of [[join(tmp, "missing.pcap"), /no such file/], [notPcap, /not a pcap or pcapng file/]] as const) {
    const r = siphon(["replay", file]);
    assert.is(r.code, 1, file);
    assert.match(r.stderr, pattern);
    assert.is(lines(r.stderr).length, 1, r.stderr);
    assert.not.match(r.stderr, /\n\s+at /);
  }
});

test("usage errors exit 2 and say what to try", () => {
  for (const args of [["replay"], ["replay", "--bogus", SAMPLE], ["frobnicate"], ["replay", "a", "b"]]) {
    const r = siphon(args);
    assert.is(r.code, 2, args.join(" "));
    assert.match(r.stderr, /siphon --help/);
  }
});

test("dist/siphon.mjs is one file: copied alone elsewhere, it still runs", () => {
  const alone = join(tmp, "siphon.mjs");
  writeFileSync(alone, readFileSync("dist/siphon.mjs"));
  const r = spawnSync(process.execPath, [alone, "replay", "--sensor", "cli", "-"], { input: readFileSync(SAMPLE), cwd: tmp });
  assert.is(r.status, 0, r.stderr.toString());
  assert.is(r.stdout.toString(), siphon(["replay", "--sensor", "cli", SAMPLE]).stdout);
});

test("--help and --version", () => {
  const help = siphon(["--help"]);
  assert.is(help.code, 0);
  assert.match(help.stdout, /siphon replay FILE\|-/);
  assert.match(help.stdout, /Exit codes/);
  const version = siphon(["--version"]);
  assert.is(version.code, 0);
  assert.is(version.stdout.trim(), JSON.parse(readFileSync("package.json", "utf8")).version);
});

test("no progress line when stderr is not a terminal", () => {
  const r = siphon(["replay", SAMPLE]);
  assert.not.match(r.stderr, /packets\/s|\r/);
});

// Issue 9, fault 4: these trapped, wrapped to 0 (reassembly silently off) or spun
// forever ignoring SIGTERM; each is now refused before anything starts. The
// timeout only keeps a regression (a hang) from hanging the suite.
function refusedAtOnce(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["dist/siphon.mjs", ...args], { encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env } });
  assert.is(r.signal, null, `${args.join(" ")}: did not exit by itself; stderr: ${r.stderr}`);
  assert.is(r.status, 2, `${args.join(" ")}: exit ${r.status}; stderr: ${r.stderr}`);
  assert.is(r.stdout, "", "no envelope is written");
  return r.stderr;
}

test("numeric options out of range exit 2 at once with the option, the value, the range and the unit", () => {
  const cases: Array<[string[], string]> = [
    [["--tcp-flows", "50000000"], "--tcp-flows: 50000000 is out of range: an integer from 0 to 1048576 (flows)"],
    [["--tcp-buffers", "1000000000"], "--tcp-buffers: 1000000000 is out of range: an integer from 1 to 5000 (buffers)"],
    [["--tcp-flows", "4294967296"], "--tcp-flows: 4294967296 is out of range: an integer from 0 to 1048576 (flows)"],
    [["--tcp-flows", "1e10"], "--tcp-flows: 1e10 is not an integer: an integer from 0 to 1048576 (flows)"],
    [["--defrag-slots", "4294967296"], "--defrag-slots: 4294967296 is out of range: an integer from 0 to 1024 (datagrams)"],
    [["--vxlan-port", "0x12b5"], "--vxlan-port: 0x12b5 is not an integer: an integer from 1 to 65535 (UDP port)"],
    [["--events", "/dev/null", "--call-limit", "calls=1e10"], "--call-limit calls: 1e10 is not an integer: an integer from 1 to 10000000 (calls)"],
    [["--events", "/dev/null", "--call-timeout", "invite=4294967296"], "--call-timeout invite: 4294967296 is out of range: an integer from 32 to 3600 (seconds)"],
    [["--events", "/dev/null", "--event-rate", "20,1.5,3000"], "--event-rate per minute: 1.5 is not an integer: an integer from 0 to 1000000 (events per minute, 0 for no limit)"],
    [["--metrics", "127.0.0.1:1e3"], "--metrics port: 1e3 is not an integer: an integer from 1 to 65535 (TCP port)"],
    [["--mqtt", "mqtt://127.0.0.1:0"], "--mqtt port: 0 is out of range: an integer from 1 to 65535 (port)"],
    [["--hep", "udp://127.0.0.1:0"], "--hep port: 0 is out of range: an integer from 1 to 65535 (port)"],
    [["--events", "/dev/null", "--cdr", "postgres://u@127.0.0.1:0/x"], "--cdr port: 0 is out of range: an integer from 1 to 65535 (port)"],
  ];
  for (const [args, message] of cases) assert.is(refusedAtOnce(["replay", SAMPLE, ...args]), `siphon: ${message}\n`);
  assert.is(refusedAtOnce(["replay", SAMPLE], { SIPHON_TCP_FLOWS: "1e10" }),
    "siphon: SIPHON_TCP_FLOWS: 1e10 is not an integer: an integer from 0 to 1048576 (flows)\n");
  const file = join(tmp, "fraction.json");
  writeFileSync(file, JSON.stringify({ "tcp-flows": 1.5 }));
  assert.is(refusedAtOnce(["replay", SAMPLE, "--config", file]),
    `siphon: ${file}: "tcp-flows": 1.5 is not an integer: an integer from 0 to 1048576 (flows)\n`);
  assert.is(refusedAtOnce(["cdr", "--events", "t", "--cdr", "postgres://u@h/x", "--mqtt", "mqtt://h:0"]),
    "siphon: --mqtt port: 0 is out of range: an integer from 1 to 65535 (port)\n");
  assert.is(refusedAtOnce(["capture", "-i", "lo", "--sip-port", "65536"]),
    "siphon: --sip-port: 65536 is out of range: an integer from 1 to 65535 (port)\n");
});

test("tables that each fit but together pass the core's memory budget exit 2 with what they would cost", () => {
  const stderr = refusedAtOnce(["replay", SAMPLE, "--tcp-flows", "1048576", "--tcp-buffers", "5000"]);
  assert.match(stderr, /^siphon: the configured tables need (\d+) MiB of core memory, more than the 2048 MiB it may use \(tcp-flows 1048576 x 288 bytes, tcp-buffers 5000 x 2 x 196608 bytes, defrag-slots 64 x 64 KiB\): lower them\n$/);
  assert.ok(Number(/need (\d+) MiB/.exec(stderr)![1]) > 2048, stderr);
  // With media followed (asked for here; an output that reads it does the same) its table counts too.
  const withMedia = refusedAtOnce(["replay", SAMPLE, "--tcp-flows", "1048576", "--tcp-buffers", "5000", "--media-calls", "8192"]);
  assert.match(withMedia, /defrag-slots 64 x 64 KiB, media-calls 8192 x 1 KiB, media-endpoints 32768 x 64 bytes\): lower them\n$/);
  assert.ok(Number(/need (\d+) MiB/.exec(withMedia)![1]) > Number(/need (\d+) MiB/.exec(stderr)![1]), withMedia);
  const alone = siphon(["replay", SAMPLE, "--tcp-buffers", "5000", "--defrag-slots", "1024"]);
  assert.is(alone.code, 0, `each at its maximum with the rest at their defaults fits: ${alone.stderr}`);
});

// Issue 9, fault 6: a FIFO (or /dev/stdin) was read synchronously: nothing came
// out, and SIGTERM was not handled, until the writer closed it.
const hasMkfifo = spawnSync("mkfifo", ["--version"]).status === 0;

// Resolves with `what` once it happens; a hang becomes a failure that says what was awaited
// and what siphon printed (a guard far above any wait, not a timing).
function guarded<T>(what: string, event: Promise<T>, seen: () => string): Promise<T> {
  let guard: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    guard = setTimeout(() => reject(new Error(`no ${what}; siphon's stderr so far: ${seen()}`)), 60_000);
  });
  return Promise.race([event, hang]).finally(() => clearTimeout(guard));
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

if (hasMkfifo) {
  test("a FIFO as the input: read as it becomes readable, envelopes come out while the writer holds it open, and SIGTERM then ends the run with the summary", async () => {
    const fifo = join(tmp, "capture.fifo");
    assert.is(spawnSync("mkfifo", [fifo]).status, 0);
    const bye = sip(["BYE sip:bob@biloxi.example.com SIP/2.0", "Call-ID: fifo-second@example.com", "CSeq: 2 BYE", "Content-Length: 0"]);
    const capture = pcapFile([udpFrame(INVITE), udpFrame(bye)]);
    const firstEnd = 24 + 16 + udpFrame(INVITE).length;
    const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", fifo, "--sensor", "fifo", "--log-level", "debug"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    const exit = exited(child);
    const envelopes = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const nextEnvelope = async (what: string): Promise<{ call_id: string }> => {
      const line = await guarded(what, envelopes.next(), () => stderr);
      assert.not.ok(line.done, `siphon's output ended before ${what}; stderr: ${stderr}`);
      return JSON.parse(line.value as string) as { call_id: string };
    };
    const writer = await guarded("reader on the FIFO", open(fifo, "w"), () => stderr);
    // In pieces that cut the file header and a record: each envelope must come out
    // while the writer still holds the FIFO open.
    await writer.write(capture.subarray(0, 10));
    await writer.write(capture.subarray(10, firstEnd - 5));
    await writer.write(capture.subarray(firstEnd - 5, firstEnd));
    assert.is((await nextEnvelope("envelope of the first record")).call_id, "a84b4c76e66710@pc33.atlanta.example.com");
    await writer.write(capture.subarray(firstEnd));
    assert.is((await nextEnvelope("envelope of the second record")).call_id, "fifo-second@example.com");
    // Idle, the writer still open: SIGTERM must end the run without it.
    child.kill("SIGTERM");
    const code = await guarded("exit after SIGTERM while the FIFO's writer was open and idle", exit, () => stderr);
    await writer.close();
    assert.is(code, 0, stderr);
    assert.match(stderr, /^siphon: 2 packets, 2 SIP messages \(udp 2, tcp 0, ws 0\), 0 non-SIP, 0 malformed in [\d.]+ s$/m);
    assert.ok(stderr.includes(`"${fifo}: read as it becomes readable, from a pipe of 1048576 bytes"`), stderr);
  });

  test("--out and --events on FIFOs read a chunk per turn: the bytes of --out FILE and --events FILE, in order", async () => {
    const capture = join(tmp, "fifo-many.pcap");
    const generated = spawnSync(process.execPath, ["test/support/generate.mjs", "--seed", "4", "--messages", "3000", "--out", capture, "--truth", join(tmp, "fifo-many.truth.json")]);
    assert.is(generated.status, 0, generated.stderr.toString());
    const [out, events] = [join(tmp, "fifo-many.ndjson"), join(tmp, "fifo-many.events.ndjson")];
    assert.is(siphon(["replay", "--sensor", "cli", "-o", out, "--events", events, capture]).code, 0);
    const [outFifo, eventsFifo] = [join(tmp, "out.fifo"), join(tmp, "events.fifo")];
    for (const f of [outFifo, eventsFifo]) assert.is(spawnSync("mkfifo", [f]).status, 0);
    const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", "--sensor", "cli", "--out", outFifo, "--events", eventsFifo, capture], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    const exit = exited(child);
    const slowly = (path: string): Promise<Buffer> => new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const reader = createReadStream(path, { highWaterMark: 16384 });
      reader.on("data", (chunk) => {
        chunks.push(chunk as Buffer);
        reader.pause();
        setImmediate(() => reader.resume());
      });
      reader.on("end", () => resolve(Buffer.concat(chunks)));
      reader.on("error", reject);
    });
    const [gotOut, gotEvents] = await guarded("both FIFOs read to their end", Promise.all([slowly(outFifo), slowly(eventsFifo)]), () => stderr);
    assert.is(await guarded("exit", exit, () => stderr), 0, stderr);
    assert.ok(gotOut.length > 1 << 20, `${gotOut.length} bytes: too few to fill the queue`);
    assert.ok(gotOut.equals(readFileSync(out)), "the envelopes, in order");
    assert.ok(gotEvents.equals(readFileSync(events)), "the events, in order");
  });

  // Through the addon (F_SETPIPE_SZ): a pipe of 64 KiB made siphon replay | cat 1.45 times the
  // replay to /dev/null (docs/performance.md). The pipe is a FIFO here so that this process holds
  // its reading end and can ask the kernel what it holds.
  test("a pipe on stdout and a FIFO given to --out are made to hold 1 MiB", async () => {
    const pipeBytes = 1 << 20;
    for (const via of ["stdout", "--out"]) {
      const fifo = join(tmp, `size-${via.replace(/-/g, "")}.fifo`);
      assert.is(spawnSync("mkfifo", [fifo]).status, 0);
      const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const writer = openSync(fifo, constants.O_WRONLY);
      try {
        const before = loadAddon().pipeSize(reader);
        assert.ok(before < pipeBytes, `the pipe held ${before} bytes before siphon ran`);
        const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", SAMPLE, "--log-level", "debug", ...(via === "--out" ? ["--out", fifo] : [])],
          { stdio: ["ignore", via === "stdout" ? writer : "ignore", "pipe"], encoding: "utf8" });
        assert.is(r.status, 0, r.stderr);
        assert.is(loadAddon().pipeSize(reader), pipeBytes, r.stderr);
        assert.match(r.stderr, `"${via === "stdout" ? "stdout" : `--out ${fifo}`}: a pipe of ${pipeBytes} bytes"`);
      } finally {
        closeSync(writer);
        closeSync(reader);
      }
    }
  });
} else {
  console.log("cli.test: mkfifo is not installed; the FIFO input tests were NOT run");
}

// A pipe on stdin (tcpdump -w - | siphon replay -) is read as it becomes readable, through the
// addon's poll, from a pipe made to hold 1 MiB; it went by 64 KiB stream chunks, a third slower
// than the file (docs/performance.md, "Stdin from a pipe"). A socket (what Node's spawn gives a
// child's stdin) is polled too. The writer here is this process: it writes in pieces that cut
// records and blocks, and holds the socket open when it likes.
function replayPiped(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, ["dist/siphon.mjs", "replay", "--sensor", "cli", "--log-level", "debug", ...args, "-"],
    { stdio: ["pipe", "pipe", "pipe"], env });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
  child.stdin!.on("error", () => {});   // a run that stops may close its stdin first
  const exit = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const write = (bytes: Uint8Array): Promise<void> => new Promise((resolve, reject) => child.stdin!.write(bytes, (err) => (err ? reject(err) : resolve())));
  const writeInPieces = async (bytes: Uint8Array): Promise<void> => {
    for (let at = 0; at < bytes.length; at += 77_777) await write(bytes.subarray(at, at + 77_777));
  };
  const finish = async (bytes: Uint8Array) => {
    await writeInPieces(bytes);
    child.stdin!.end();
    const code = await guarded("exit at the pipe's end", exit, () => stderr);
    return { code, stdout, stderr };
  };
  return { child, exit, write, finish, stdout: () => stdout, stderr: () => stderr };
}

function manyInvites(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => udpFrame(INVITE.replace("a84b4c76e66710", `piped-${i}`)));
}

const pipedAsPolled = /"stdin: read as it becomes readable/;

function catInto(file: string) {
  const r = spawnSync("sh", ["-c", `cat "$1" | exec "${process.execPath}" dist/siphon.mjs replay --sensor cli --log-level debug -`, "sh", file],
    { encoding: "utf8", maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("replay - from a pipe: read as it becomes readable, to the envelopes of the file, pcap and pcapng alike", async () => {
  const pcap = join(tmp, "piped.pcap");
  generateWorkload(workloadOptions({ seed: 5, calls: 300 }), pcap);
  const pcapng = join(tmp, "piped.pcapng");
  writeFileSync(pcapng, pcapngFile(manyInvites(4000), 0n));
  for (const file of [pcap, pcapng, "fixtures/captures/sip-auth-failure.pcapng"]) {
    const fromFile = siphon(["replay", "--sensor", "cli", file]).stdout;
    const piped = catInto(file);
    assert.is(piped.code, 0, piped.stderr);
    assert.match(piped.stderr, /"stdin: read as it becomes readable, from a pipe of 1048576 bytes"/);
    assert.is(piped.stdout, fromFile, `cat ${file} |`);
    const inPieces = await replayPiped([]).finish(readFileSync(file));
    assert.is(inPieces.code, 0, inPieces.stderr);
    assert.match(inPieces.stderr, pipedAsPolled);
    assert.is(inPieces.stdout, fromFile, `${file} in pieces`);
  }
  assert.ok(readFileSync(pcap).length > 1 << 20 && readFileSync(pcapng).length > 1 << 20, "captures of more than a chunk");
});

test("replay - from a pipe, truncated: everything before the damage, the byte offset, exit 1", async () => {
  const cut = readFileSync(SAMPLE).subarray(0, 60000);
  const r = await replayPiped([]).finish(cut);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, pipedAsPolled);
  const file = join(tmp, "cut-piped.pcap");
  writeFileSync(file, cut);
  assert.is(r.stdout, siphon(["replay", "--sensor", "cli", file]).stdout);
  assert.match(r.stderr, /siphon: stdin: truncated packet record \(need \d+ bytes, have \d+\) at byte \d+\n$/);
});

test("replay - from a pipe without the addon: read as a stream, to the same envelopes", async () => {
  const env = { ...process.env, SIPHON_PCAP_ADDON: join(tmp, "no-such-addon.node") };
  const r = await replayPiped([], env).finish(readFileSync(SAMPLE));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /"stdin: read as a stream \(no libpcap addon: /);
  assert.is(r.stdout, siphon(["replay", "--sensor", "cli", SAMPLE]).stdout);
});

test("replay - from a pipe whose writer holds it open and idle: SIGTERM ends the run with the summary", async () => {
  const run = replayPiped([]);
  const envelopes = createInterface({ input: run.child.stdout! })[Symbol.asyncIterator]();
  await run.write(pcapFile([udpFrame(INVITE)]));
  const first = await guarded("envelope of the first record", envelopes.next(), run.stderr);
  assert.is(JSON.parse(first.value as string).call_id, "a84b4c76e66710@pc33.atlanta.example.com");
  run.child.kill("SIGTERM");
  const code = await guarded("exit after SIGTERM while stdin's writer was open and idle", run.exit, run.stderr);
  assert.is(code, 0, run.stderr());
  assert.match(run.stderr(), pipedAsPolled);
  assert.match(run.stderr(), /^siphon: 1 packets, 1 SIP messages \(udp 1, tcp 0, ws 0\), 0 non-SIP, 0 malformed in [\d.]+ s$/m);
  run.child.stdin!.end();
});

test("replay - with stdin closed, or open only for writing: says so and what to do, exit 1", () => {
  const closed = spawnSync("sh", ["-c", `exec "${process.execPath}" dist/siphon.mjs replay - <&-`], { encoding: "utf8" });
  assert.is(closed.status, 1, closed.stderr);
  assert.is(closed.stderr, "siphon: stdin: closed, or /dev/null: nothing to read: give a capture file or pipe one in\n");
  const writeOnly = openSync(join(tmp, "write-only"), "w");
  try {
    const r = spawnSync(process.execPath, ["dist/siphon.mjs", "replay", "-"], { stdio: [writeOnly, "pipe", "pipe"], encoding: "utf8" });
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr, "siphon: stdin: not open for reading (EBADF): give a capture file or pipe one in\n");
  } finally {
    closeSync(writeOnly);
  }
});

// `script` runs the command on a pseudo-terminal, as an operator's shell would.
const hasScript = spawnSync("script", ["--version"]).status === 0;
if (hasScript) {
  test("on a terminal, progress is drawn on stderr and cleared before the summary", () => {
    const r = spawnSync("script", ["-qec", `${process.execPath} dist/siphon.mjs replay ${SAMPLE} > /dev/null`, "/dev/null"]);
    const screen = r.stdout.toString();
    assert.match(screen, /\r\x1b\[Kread 0\.1 MB of 0\.1 MB, [1-9][\d,]* packets\/s, \d+ s left/);
    assert.match(screen, /\r\x1b\[Ksiphon: 691 packets/);
  });
} else {
  console.log("cli.test: 'script' is not installed; the terminal progress test was NOT run");
}

test.run();
