// The libpcap addon under load and against other tools, on lo: every packet accounted for
// (received + kernel drops == sent), libpcap's timestamps (the same as tcpdump's), and handles
// opened and closed in worker threads without a crash or a leaked descriptor. Each test waits
// on the event it needs (a ready line, a probe seen, a worker's message, an exit).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import type { Socket } from "node:dgram";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { addonPath, loadAddon } from "../host/source/libpcap/addon";
import {
  addonProblem, boundSocket, BOUND_MS, capturePermitted, freeUdpPort, onPath, Running, SIPHON, sipText, type Envelope,
} from "./support/live";

const LOSS_MESSAGES = Number(process.env.SIPHON_LIVE_LOSS_MESSAGES ?? 50000);
const IN_FLIGHT = 256; // sends queued in the socket at once: as fast as one socket goes
const WORKER_ROUNDS = 100;
const NO_EVENT_LIMIT = ["--event-rate", "0,0,0"]; // 25 answered OPTIONS from one source in a few ms

function numbered(i: number, port: number): Buffer {
  return Buffer.from(`OPTIONS sip:loss@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKloss${i}\r\n` +
    `From: <sip:loss@127.0.0.1>;tag=${i}\r\nTo: <sip:loss@127.0.0.1>\r\nCall-ID: loss-${i}\r\n` +
    `CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`, "latin1");
}

// Sends messages 1..count to port as fast as the socket takes them; resolves once all are sent.
function blast(socket: Socket, port: number, count: number, message: (i: number) => Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 1;
    let inFlight = 0;
    const pump = (): void => {
      while (next <= count && inFlight < IN_FLIGHT) {
        inFlight++;
        socket.send(message(next++), port, "127.0.0.1", (err) => {
          inFlight--;
          if (err) reject(err);
          else if (next > count && inFlight === 0) resolve();
          else pump();
        });
      }
    };
    pump();
  });
}

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`http://127.0.0.1:${port}/metrics`, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => { body += d.toString(); });
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

function lossNumbers(envelopes: Envelope[]): number[] {
  return envelopes.map((e) => Number(/Call-ID: loss-(\d+)/.exec(sipText(e))?.[1] ?? NaN)).filter((n) => !Number.isNaN(n));
}

function registerLossTest(bufferMb: number): void {
  test(`${LOSS_MESSAGES} messages at full speed, --buffer-mb ${bufferMb}: received + kernel drops == sent, none twice`, async () => {
    const port = await freeUdpPort();
    const metricsPort = await freeUdpPort(); // a free number; TCP and UDP ports are separate spaces, and it is only a hint
    const run = new Running(["-i", "lo", "-f", `udp dst port ${port}`, "--ignore-outgoing", "--buffer-mb", String(bufferMb),
      "--metrics", `127.0.0.1:${metricsPort}`, "--log-level", "warn"]);
    const socket = await boundSocket("udp4");
    try {
      await run.ready();
      await run.probe(port);
      await blast(socket, port, LOSS_MESSAGES, (i) => numbered(i, socket.address().port));
      const metrics = await scrape(metricsPort);
      assert.match(metrics, /siphon_capture_kernel_drops_total\{interface="lo"\} \d+/);
      assert.is(await run.stop(), 0);
      const received = lossNumbers(run.envelopes());
      const unique = new Set(received);
      assert.is(unique.size, received.length, `no message twice (${received.length - unique.size} repeated)`);
      assert.ok(received.every((n) => n >= 1 && n <= LOSS_MESSAGES), "only numbers that were sent");
      const summary = /siphon: lo: (\d+) packets captured, (\d+) dropped by the kernel/.exec(run.stderr);
      assert.ok(summary, `the interface's summary line; stderr:\n${run.stderr}`);
      const [captured, drops] = [Number(summary[1]), Number(summary[2])];
      assert.is(received.length + drops, LOSS_MESSAGES,
        `received ${received.length} + kernel drops ${drops} = sent ${LOSS_MESSAGES}; stderr:\n${run.stderr}`);
      assert.is(captured, run.envelopes().length + run.probeCount, "every packet captured came out as an envelope");
      if (drops > 0) assert.match(run.stderr, /the kernel is dropping packets/);
    } finally {
      socket.close();
      if (run.code === undefined) await run.stop();
    }
  });
}

// The envelopes of a capture file, through siphon replay.
function replayed(file: string): Envelope[] {
  const r = spawnSync(process.execPath, [SIPHON, "replay", file], { maxBuffer: 1 << 26 });
  assert.is(r.status, 0, `siphon replay ${file}: ${r.stderr}`);
  return r.stdout.toString().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Envelope & { time: string; call_id: string });
}

function replayedEvents(file: string): string {
  const r = spawnSync(process.execPath, [SIPHON, "replay", file, "--out", "/dev/null", "--events", "-", ...NO_EVENT_LIMIT], { maxBuffer: 1 << 26 });
  assert.is(r.status, 0, `siphon replay ${file} --events -: ${r.stderr}`);
  return r.stdout.toString();
}

// The events of our messages (not the probes' or the periodic counters), without their
// sequence numbers (which count the probes' events too), sorted.
function callEvents(ndjson: string): string[] {
  return ndjson.split("\n").filter(Boolean).map((line) => JSON.parse(line))
    .filter((e) => e.event.kind === "event" && String(e.sip?.call_id).startsWith("loss-"))
    .map((e) => { delete e.event.sequence; return JSON.stringify(e); })
    .sort();
}

function answer(i: number, port: number): Buffer {
  return Buffer.from(`SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKloss${i}\r\n` +
    `From: <sip:loss@127.0.0.1>;tag=${i}\r\nTo: <sip:loss@127.0.0.1>;tag=s${i}\r\nCall-ID: loss-${i}\r\n` +
    `CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`, "latin1");
}

function sendTo(socket: Socket, bytes: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(bytes, port, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
}

function microseconds(time: string): number {
  const [whole, fraction = "0"] = time.replace("Z", "").split(".");
  return Date.parse(`${whole}Z`) * 1000 + Number(fraction.padEnd(6, "0").slice(0, 6));
}

function registerTimestampTest(): void {
  test("the time of each message is libpcap's, as tcpdump's; the events equal those of replaying tcpdump's file", async () => {
    const server = await boundSocket("udp4");
    const port = server.address().port;
    const dir = mkdtempSync(join(tmpdir(), "siphon-ts-"));
    const liveEvents = join(dir, "events.ndjson");
    const file = join(mkdtempSync(join(tmpdir(), "siphon-ts-")), "tcpdump.pcap");
    // Immediate mode: without it tcpdump's last block (its block timeout is 1 s) is lost when it
    // stops. With it, each packet takes a 64 KiB slot on lo: -B 65536 (KiB) holds a thousand.
    const tcpdump = spawn("tcpdump", ["-i", "lo", "--immediate-mode", "-B", "65536",
      "--time-stamp-precision", "nano", "-U", "-n", "-w", "-", `udp port ${port}`],
      { stdio: ["ignore", "pipe", "pipe"] });
    let tcpdumpSays = "";
    const written: Buffer[] = [];
    let theirCount = 0;
    const listening = new Promise<void>((resolve, reject) => {
      tcpdump.stderr.on("data", (d: Buffer) => { tcpdumpSays += d.toString(); if (/listening on/.test(tcpdumpSays)) resolve(); });
      tcpdump.on("close", (code) => reject(new Error(`tcpdump exited (${code}): ${tcpdumpSays}`)));
    });
    const tcpdumpDone = new Promise<void>((resolve) => tcpdump.on("close", () => resolve()));
    let tcpdumpSaw: () => void = () => undefined;
    tcpdump.stdout.on("data", (d: Buffer) => {
      written.push(d);
      // Counted over the whole stream: a chunk may end in the middle of a message.
      theirCount = Buffer.concat(written).toString("latin1").split("Call-ID: loss-").length - 1;
      tcpdumpSaw();
    });
    const run = new Running(["-i", "lo", "-f", `udp port ${port}`, "--events", liveEvents, ...NO_EVENT_LIMIT]);
    const socket = await boundSocket("udp4");
    const count = 25; // requests, each answered: 50 messages
    try {
      await Promise.all([run.ready(), listening]);
      await run.probe(port);
      for (let i = 1; i <= count; i++) {
        await sendTo(socket, numbered(i, socket.address().port), port);
        await sendTo(server, answer(i, socket.address().port), socket.address().port);
      }
      const messages = 2 * count;
      await run.until(() => lossNumbers(run.envelopes()).length >= messages, `${messages} envelopes`);
      await new Promise<void>((resolve, reject) => {
        const bound = setTimeout(() => reject(new Error(`tcpdump wrote ${theirCount} of ${2 * count} messages; it said: ${tcpdumpSays}`)), BOUND_MS);
        tcpdumpSaw = () => { if (theirCount >= messages) { clearTimeout(bound); resolve(); } };
        tcpdumpSaw();
      });
      assert.is(await run.stop(), 0);
      tcpdump.kill("SIGINT");
      await tcpdumpDone;
      writeFileSync(file, Buffer.concat(written));
      const key = (e: Envelope & { call_id: string; sip: string }): string => `${e.call_id} ${sipText(e).slice(0, 12)}`;
      const theirs = new Map(replayed(file).map((e) => [key(e as Envelope & { call_id: string }), (e as Envelope & { time: string }).time]));
      let worst = 0;
      for (const e of run.envelopes() as Array<Envelope & { time: string; call_id: string }>) {
        if (!e.call_id.startsWith("loss-")) continue;
        const other = theirs.get(key(e));
        assert.ok(other !== undefined, `tcpdump saw ${key(e)}`);
        worst = Math.max(worst, Math.abs(microseconds(e.time) - microseconds(other)));
      }
      assert.ok(worst < 1000, `the largest difference from tcpdump's time is ${worst} us`);
      const events = callEvents(readFileSync(liveEvents, "utf8"));
      assert.is(events.length, count, `an other-ok event per answered OPTIONS: ${events.slice(0, 2).join("\n")}`);
      assert.equal(events, callEvents(replayedEvents(file)), "the live run's events and those of replaying tcpdump's file");
    } finally {
      socket.close();
      server.close();
      if (run.code === undefined) await run.stop();
      if (tcpdump.exitCode === null) tcpdump.kill("SIGINT");
    }
  });
}

// A worker that opens lo, reads one packet sent to `port`, then closes its handle and ends, or
// (close: false) is terminated by the main thread with the handle open and polling.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const addon = require(workerData.path);
const opened = addon.open("lo", { snaplen: 65535, bufferBytes: 1 << 20, timeoutMs: 1, ignoreOutgoing: true });
addon.setFilter(opened.handle, "udp dst port " + workerData.port);
const target = Buffer.alloc(1 << 20);
addon.start(opened.handle, () => {
  if (addon.read(opened.handle, target) === 0) return;
  if (workerData.close) addon.close(opened.handle);
  parentPort.postMessage("read");
});
parentPort.postMessage("open");
`;

function descriptors(): number {
  return readdirSync("/proc/self/fd").length;
}

// Runs one worker to its end; sends datagrams to port until the worker has read one.
async function workerRound(path: string, port: number, close: boolean, sender: Socket): Promise<void> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, port, close } });
  const ended = new Promise<number>((resolve, reject) => { worker.on("exit", resolve); worker.on("error", reject); });
  let poke: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve, reject) => {
    worker.on("message", (m) => {
      if (m === "open") {
        const send = (): void => void sender.send("x", port, "127.0.0.1");
        send();
        poke = setInterval(send, 20);
      }
      if (m === "read") resolve();
    });
    worker.on("error", reject);
  });
  clearInterval(poke);
  if (!close) await worker.terminate();
  assert.is(await ended, close ? 0 : 1, close ? "the worker ended by itself once its handle was closed" : "terminated");
}

function registerWorkerTest(): void {
  test(`capture in a worker thread, ${WORKER_ROUNDS} times, closed or terminated: no crash, no descriptor left`, async () => {
    const path = addonPath();
    const port = await freeUdpPort();
    const sender = await boundSocket("udp4");
    try {
      await workerRound(path, port, true, sender); // the first worker's one-time descriptors
      const before = descriptors();
      for (let i = 0; i < WORKER_ROUNDS; i++) await workerRound(path, port, i % 2 === 0, sender);
      assert.is(descriptors(), before, "descriptors after the rounds");
    } finally {
      sender.close();
    }
  });
}

function registerArgumentTest(): void {
  test("the addon refuses what would size or aim a copy wrongly, with the reason", () => {
    const addon = loadAddon();
    const throwsCode = (fn: () => unknown, code: string, message: RegExp): void => {
      try {
        fn();
      } catch (err) {
        assert.is((err as NodeJS.ErrnoException).code, code, (err as Error).message);
        assert.match((err as Error).message, message);
        return;
      }
      assert.unreachable(`no ${code}`);
    };
    throwsCode(() => addon.open("lo", { timeoutMs: 0 } as never), "ERR_OUT_OF_RANGE", /timeoutMs must be an integer from 1 to 60000/);
    throwsCode(() => addon.open("lo", { snaplen: 2 ** 40 } as never), "ERR_OUT_OF_RANGE", /snaplen must be an integer from 16 to 262144/);
    throwsCode(() => addon.open("lo", { bufferBytes: 1.5e6 + 0.5 } as never), "ERR_OUT_OF_RANGE", /bufferBytes/);
    throwsCode(() => addon.open("x".repeat(300), {} as never), "ERR_OUT_OF_RANGE", /shorter than 256 bytes/);
    throwsCode(() => addon.open("siphon-nosuch0", {} as never), "PCAP_ERROR_NO_SUCH_DEVICE", /./);
    throwsCode(() => addon.read({} as never, Buffer.alloc(1 << 20)), "ERR_INVALID_ARG_TYPE", /a handle from open/);
    const opened = addon.open("lo", { snaplen: 1000 } as never);
    try {
      assert.is(opened.snaplen, 1000);
      throwsCode(() => addon.read(opened.handle, Buffer.alloc(1015)), "ERR_OUT_OF_RANGE", /holds 1015 bytes, less than one record \(1016\)/);
      throwsCode(() => addon.read(opened.handle, new Uint16Array(4096) as never), "ERR_INVALID_ARG_TYPE", /Uint8Array/);
      throwsCode(() => addon.setFilter(opened.handle, "udp port ("), "PCAP_ERROR", /syntax error/);
      assert.is(addon.read(opened.handle, new Uint8Array(1016)) % 1, 0, "a target of exactly one record is enough");
    } finally {
      addon.close(opened.handle);
    }
    addon.close(opened.handle); // twice: harmless
    throwsCode(() => addon.read(opened.handle, Buffer.alloc(1 << 20)), "ERR_CAPTURE_CLOSED", /closed/);
  });
}

const unavailable = addonProblem();
if (unavailable !== undefined) {
  console.log(`live-addon.test: the libpcap addon does not load here (${unavailable}): not registered`);
} else if (!capturePermitted()) {
  console.log("live-addon.test: no CAP_NET_RAW (not root): not registered");
} else {
  registerLossTest(32);
  registerLossTest(1);
  if (onPath("tcpdump")) registerTimestampTest();
  else console.log("live-addon.test: tcpdump is not installed: the timestamp test is not registered");
  registerWorkerTest();
  registerArgumentTest();
}

test.run();
