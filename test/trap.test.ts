// A trap in the core never ends the process (host/core/core.ts): the frame that
// caused it is counted, reported and skipped, the core is built anew, and the
// frames around it come out as usual; --keep-traps keeps the frame in a pcap.
// And the crash that showed the need (issue 9): a WebSocket frame length of
// 2^64-1, replayed by the command.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Core, instantiateCore, type CoreOptions, type CoreTrap, type Instantiate, type SipMessage } from "../host/core";
import { compileFilter } from "../host/filter/compile";
import { createLogger } from "../host/log";
import { readCapture } from "../host/source";
import { summaryLine } from "../host/cli/summary";
import { trapDirectory, trapReporter } from "../host/cli/traps";
import * as L from "../assembly/layout";
import { wsFrame, WS_UPGRADE, WS_SWITCHING, framesOf, pcapFile, sip, tcpFrame, udpFrame, TCP_SYN, LINKTYPE_ETHERNET } from "./helpers";

const SIPHON = "dist/siphon.mjs";

// The core's push() as if it trapped on every frame holding `marker`: the frames
// before it are decoded by the real core, then, like a runaway write, 0xAA goes
// over all memory from that frame on, and push() throws as the engine would (or
// calls the core's abort() import).
function trapping(marker: string, how: "runtime" | "abort" = "runtime"): Instantiate {
  const needle = Buffer.from(marker);
  return (module, imports) => {
    const real = instantiateCore(module, imports);
    let stoppedAt = -1;
    const memory = (): Buffer => Buffer.from(real.memory.buffer);
    const frameBytes = (i: number): [number, number] => {
      const entry = real.region(L.R_IN_INDEX) + i * L.FRAME_SIZE;
      const at = real.region(L.R_IN_BYTES) + memory().readUInt32LE(entry + L.FRAME_OFFSET);
      return [at, at + memory().readUInt32LE(entry + L.FRAME_CAPLEN)];
    };
    const marked = (n: number): number => {
      for (let i = 0; i < n; i++) if (memory().subarray(...frameBytes(i)).includes(needle)) return i;
      return -1;
    };
    return {
      ...real,
      push(n: number): number {
        const hit = marked(n);
        if (hit < 0) return real.push(n);
        const consumed = real.push(hit);
        if (consumed < hit) return consumed;
        stoppedAt = hit;
        memory().fill(0xaa, frameBytes(hit)[0]);
        if (how === "abort") (imports.env as { abort(m: number, f: number, l: number, c: number): void }).abort(0, 0, 1, 2);
        throw new WebAssembly.RuntimeError("memory access out of bounds");
      },
      currentFrame: () => (stoppedAt >= 0 ? stoppedAt : real.currentFrame()),
    };
  };
}

function message(n: number, method = "MESSAGE", callId = `trap-${n}`): string {
  return sip([`${method} sip:bob@example.com SIP/2.0`, `Call-ID: ${callId}`, `CSeq: ${n} ${method}`, "Content-Length: 0"]);
}

const MARK = "boom";

interface Run {
  texts: string[];
  counters: Record<string, number>;
  traps: CoreTrap[];
}

function run(frames: Uint8Array[], options: Partial<CoreOptions>): Run {
  const messages: SipMessage[] = [];
  const traps: CoreTrap[] = [];
  // A small flow table: each trap goes over all memory from the frame on.
  const small = { tcpFlows: 64, tcpBuffers: 4 };
  const core = new Core({ sensor: "t", agent: "t", onTrap: (t) => traps.push(t), instantiate: trapping(MARK), ...small, ...options }, (batch) => {
    for (let i = 0; i < batch.count; i++) messages.push(batch.message(i));
  });
  frames.forEach((f, i) => core.frame(f, 0, f.length, f.length, LINKTYPE_ETHERNET, 1795428000 + i, 1000 + i, 0));
  core.flush();
  return { texts: messages.map((m) => m.bytes.toString("latin1")), counters: core.counters(), traps };
}

// Six UDP messages; those numbered in `on` carry the mark the core traps on.
function six(on: number[]): { texts: string[]; frames: Uint8Array[] } {
  const texts = [0, 1, 2, 3, 4, 5].map((n) => message(n, "MESSAGE", on.includes(n) ? `${MARK}-${n}` : `trap-${n}`));
  return { texts, frames: texts.map((t) => udpFrame(t)) };
}

test("a trap costs the frame that caused it: the frames before and after come out, the counters go on", () => {
  for (const maxFrames of [16384, 2, 1]) {
    for (const on of [[2], [0], [5], [1, 4], [0, 1, 2, 3, 4, 5]]) {
      const what = `trap on ${on}, batches of ${maxFrames}`;
      const { texts, frames } = six(on);
      const r = run(frames, { maxFrames });
      assert.equal(r.texts, texts.filter((_, n) => !on.includes(n)), what);
      assert.is(r.counters.core_traps, on.length, what);
      assert.is(r.counters.sip_udp, 6 - on.length, `${what}: the counters as before each trap, carried over`);
      assert.is(r.counters.frames, 6 - on.length, what);
      assert.equal(r.traps.map((t) => Buffer.from(t.frame.data).toString("latin1")),
        on.map((n) => Buffer.from(frames[n]).toString("latin1")), `${what}: the frame as it came, not as the trap left it`);
      assert.equal(r.traps.map((t) => [t.frame.linkType, t.frame.tsSec, t.frame.tsNsec, t.error]),
        on.map((n) => [LINKTYPE_ETHERNET, 1795428000 + n, 1000 + n, "memory access out of bounds"]), what);
    }
  }
});

test("abort() in the core takes the same path: counted, skipped, the rest decoded", () => {
  const { texts, frames } = six([3]);
  const r = run(frames, { instantiate: trapping(MARK, "abort") });
  assert.equal(r.texts, texts.filter((_, n) => n !== 3));
  assert.is(r.counters.core_traps, 1);
  assert.match(r.traps[0].error, /^abort: .* at .*:1:2$/);
});

test("TCP in the batch before the trap is decoded again by the new core; a stream from an earlier batch resyncs", () => {
  const invite = message(7, "INVITE");
  const bye = message(8, "BYE");
  const cut = 40;
  const { texts, frames } = six([0]);
  const tcp = [
    tcpFrame("", { seq: 999, flags: TCP_SYN }),
    tcpFrame(invite.slice(0, cut), { seq: 1000 }),
    tcpFrame(invite.slice(cut), { seq: 1000 + cut }),
    frames[0], frames[1],
    tcpFrame(bye, { seq: 1000 + invite.length }),
  ];
  for (const [maxFrames, flows] of [[16384, 1], [3, 2]]) {
    const what = `batches of ${maxFrames}`;
    const r = run(tcp, { maxFrames });
    assert.equal(r.texts, [invite, texts[1], bye], `${what}: the INVITE from a stream buffer, the BYE's start line found`);
    assert.is(r.counters.sip_tcp, 2, what);
    assert.is(r.counters.tcp_flows, flows, `${what}: the flow again in the new core when it began in an earlier batch`);
  }
});

test("a file read into the staging copy (lend): a trap costs its frame, in whichever chunk and batch it falls", async () => {
  // 6,000 messages of about 100 bytes: several 1 MiB chunks, records cut at their ends, several batches.
  const on = [0, 1234, 2999, 5999];
  const texts = Array.from({ length: 6000 }, (_, n) => message(n, "MESSAGE", on.includes(n) ? `${MARK}-${n}` : `trap-${n}`));
  const frames = texts.map((t) => udpFrame(t));
  const file = join(mkdtempSync(join(tmpdir(), "siphon-traps-")), "lent.pcap");
  writeFileSync(file, pcapFile(frames));
  // The core indexes each chunk's records itself (Core.pcapRecords); batches of 7 frames end inside its walk.
  for (const [inputBytes, maxFrames] of [[65536, 16384], [300000, 16384], [2 << 20, 16384], [2 << 20, 7]]) {
    const messages: string[] = [];
    const traps: CoreTrap[] = [];
    const core = new Core({ sensor: "t", agent: "t", inputBytes, maxFrames, tcpFlows: 64, tcpBuffers: 4, onTrap: (t) => traps.push(t), instantiate: trapping(MARK) },
      (batch) => { for (let i = 0; i < batch.count; i++) messages.push(batch.message(i).bytes.toString("latin1")); });
    await readCapture(file, core);
    core.finish();
    assert.equal(messages, texts.filter((_, n) => !on.includes(n)), `input region of ${inputBytes} bytes, batches of ${maxFrames}`);
    assert.equal(traps.map((t) => Buffer.from(t.frame.data).toString("latin1")), on.map((n) => Buffer.from(frames[n]).toString("latin1")));
  }
});

test("the rebuilt core keeps the filter", () => {
  const frames = [udpFrame(message(1, "OPTIONS")), udpFrame(message(2)), udpFrame(message(3, "OPTIONS", MARK)),
    udpFrame(message(4, "OPTIONS")), udpFrame(message(5))];
  const r = run(frames, { filterProgram: compileFilter("(method message)").program });
  assert.equal(r.texts, [message(2), message(5)]);
  assert.is(r.counters.filter_rejected, 2, "OPTIONS before and after the trap");
});

test("--keep-traps: the frame in a pcap of its own, named by a warning; the directory made if missing", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "siphon-traps-")), "new", "dir");
  const lines: string[] = [];
  const log = createLogger({ level: "warn", write: (line) => void lines.push(line) });
  const { frames } = six([1, 4]);
  const r = run(frames, { onTrap: trapReporter(trapDirectory(dir), log) });
  assert.is(r.counters.core_traps, 2);
  assert.match(summaryLine(r.counters, 1), /, 2 packets skipped: the core trapped on them \(see the warnings\)/);
  const files = readdirSync(dir).sort();
  assert.is(files.length, 2, `files in ${dir}: ${files}`);
  const warnings = lines.map((l) => JSON.parse(l) as { level: string; msg: string; file: string; traps: number });
  assert.equal(warnings.map((w) => [w.level, w.file, w.traps]), [["warn", join(dir, files[0]), 1], ["warn", join(dir, files[1]), 2]]);
  assert.match(warnings[0].msg, new RegExp(`the frame is in ${join(dir, files[0])}`));
  for (const [i, n] of [1, 4].entries()) {
    const kept = framesOf(join(dir, files[i]));
    assert.is(kept.length, 1);
    assert.equal(Buffer.from(kept[0].data), Buffer.from(frames[n]));
    assert.equal([kept[0].linkType, kept[0].sec, kept[0].nsec], [LINKTYPE_ETHERNET, 1795428000 + n, 1000 + n]);
  }
});

test("--keep-traps: without it the warning says how to keep the frame; a directory that cannot be made is refused", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "warn", write: (line) => void lines.push(line) });
  run(six([0]).frames, { onTrap: trapReporter(undefined, log) });
  assert.is(lines.length, 1);
  assert.match(lines[0], /"level":"warn","msg":"core trap: .*--keep-traps DIR keeps such frames/);
  const file = join(mkdtempSync(join(tmpdir(), "siphon-traps-")), "a-file");
  writeFileSync(file, "");
  assert.throws(() => trapDirectory(join(file, "sub")), /--keep-traps .*a-file\/sub: cannot create or write the directory \(ENOTDIR\)/);
});

// ---- the crash of issue 9, through `siphon replay` ----

const CLIENT = { src: "192.0.2.1", dst: "198.51.100.7", sport: 40000, dport: 5060 };
const SERVER = { src: "198.51.100.7", dst: "192.0.2.1", sport: 5060, dport: 40000 };


// 0x81 0xFF, the 64-bit length 0xFFFFFFFFFFFFFFFF, a mask, and bytes after it.
const CRASH = Buffer.from([0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef, ...Buffer.from("after")]);

test("replay: a WebSocket frame of length 2^64-1 between valid messages: exit 0, every valid message out, no trap", () => {
  const register = message(1, "REGISTER");
  const ok = sip(["SIP/2.0 200 OK", "Call-ID: trap-1", "CSeq: 1 REGISTER"]);
  const notify = message(2, "NOTIFY");
  const invite = message(3, "INVITE");
  const udp = message(4);
  const client = Buffer.concat([Buffer.from(WS_UPGRADE), wsFrame(Buffer.from(register), 1, true, [1, 2, 3, 4])]);
  const server = Buffer.concat([Buffer.from(WS_SWITCHING), wsFrame(Buffer.from(ok), 1, true)]);
  const other = { src: "192.0.2.2", dst: "198.51.100.7", sport: 40001, dport: 5060 };
  const frames = [
    tcpFrame("", { ...CLIENT, seq: 99, flags: TCP_SYN }),
    tcpFrame("", { ...SERVER, seq: 499, flags: TCP_SYN }),
    tcpFrame(client, { ...CLIENT, seq: 100 }),
    tcpFrame(server, { ...SERVER, seq: 500 }),
    tcpFrame(CRASH, { ...CLIENT, seq: 100 + client.length }),
    tcpFrame(wsFrame(Buffer.from(notify), 1, true), { ...SERVER, seq: 500 + server.length }), // the same connection, the other way
    tcpFrame("", { ...other, seq: 9, flags: TCP_SYN }),
    tcpFrame(invite, { ...other, seq: 10 }), // another connection
    udpFrame(udp),
  ];
  const dir = mkdtempSync(join(tmpdir(), "siphon-crash-"));
  const file = join(dir, "ws-crash.pcap");
  writeFileSync(file, pcapFile(frames));
  const r = spawnSync(process.execPath, [SIPHON, "replay", file, "--keep-traps", join(dir, "traps")], { encoding: "latin1" });
  assert.is(r.status, 0, `exit code; stderr:\n${r.stderr}`);
  const out = r.stdout.trim().split("\n").map((l) => Buffer.from((JSON.parse(l) as { sip: string }).sip, "base64").toString("latin1"));
  assert.equal(out.sort(), [register, ok, notify, invite, udp].sort(), `stderr:\n${r.stderr}`);
  assert.match(r.stderr, /siphon: 9 packets, 5 SIP messages \(udp 1, tcp 1, ws 3\)/, r.stderr);
  assert.not.match(r.stderr, /trap/, "nothing trapped");
  assert.equal(readdirSync(join(dir, "traps")), [], "--keep-traps made the directory and kept nothing");
});

test("replay: --keep-traps naming what cannot be a directory: exit 2, the reason", () => {
  const dir = mkdtempSync(join(tmpdir(), "siphon-crash-"));
  const file = join(dir, "one.pcap");
  writeFileSync(file, pcapFile([udpFrame(message(1))]));
  const r = spawnSync(process.execPath, [SIPHON, "replay", file, "--keep-traps", join(file, "traps")], { encoding: "latin1" });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /siphon: --keep-traps .*one\.pcap\/traps: cannot create or write the directory \(ENOTDIR\); name a directory siphon can write/);
  assert.is(r.stdout, "");
});

test.run();
