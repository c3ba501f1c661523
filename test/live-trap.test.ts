// The remote crash of issue 9 sent over lo while `siphon capture` runs: real
// TCP sockets on 127.0.0.1, a WebSocket upgrade, a valid message, then a frame
// header claiming 2^64-1 bytes; the server answers on the same connection, and
// a second connection carries plain SIP. The sensor stays up, the valid
// messages come out, the frame is counted (ws_bad) and nothing traps
// (core_traps, in /metrics). Run under flock /tmp/siphon-live.lock, as every
// test capturing on lo.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect, type Server, type Socket } from "node:net";
import { get } from "node:http";
import { wsFrame, WS_SWITCHING, WS_UPGRADE } from "./helpers";
import { addonProblem, capturePermitted } from "./support/live";

const SIPHON = "dist/siphon.mjs";
const DEADLINE_MS = 15000;

// 0x81 0xFF, the 64-bit length 0xFFFFFFFFFFFFFFFF, a mask, and bytes that would be its payload.
const CRASH = Buffer.concat([Buffer.from([0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x12, 0x34, 0x56, 0x78]),
  Buffer.from("x".repeat(200))]);

function sipMessage(first: string, n: number): string {
  return `${first}\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bKtrap${n}\r\nFrom: <sip:alice@127.0.0.1>;tag=a${n}\r\n`
    + `To: <sip:bob@127.0.0.1>\r\nCall-ID: live-trap-${n}@test\r\nCSeq: ${n} REGISTER\r\nContent-Length: 0\r\n\r\n`;
}


// Bytes a socket received, and waits on them.
class Received {
  bytes = Buffer.alloc(0);
  private readonly watchers = new Set<() => void>();

  constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.bytes = Buffer.concat([this.bytes, d]);
      for (const w of [...this.watchers]) w();
    });
  }

  until(count: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${DEADLINE_MS} ms: ${this.bytes.length} of ${count} bytes`)), DEADLINE_MS);
      const check = (): void => {
        if (this.bytes.length < count) return;
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve();
      };
      this.watchers.add(check);
      check();
    });
  }
}

// A running `siphon capture`: its output, and waits on conditions over it.
class Capture {
  stdout = "";
  stderr = "";
  code: number | null | undefined;
  private readonly child: ChildProcess;
  private readonly watchers = new Set<() => void>();

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [SIPHON, "capture", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout?.on("data", (d: Buffer) => { this.stdout += d.toString(); this.notify(); });
    this.child.stderr?.on("data", (d: Buffer) => { this.stderr += d.toString(); this.notify(); });
    this.child.on("close", (code) => { this.code = code; this.notify(); });
  }

  sipTexts(port: number): string[] {
    const whole = this.stdout.slice(0, this.stdout.lastIndexOf("\n") + 1);
    return whole.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as { src: string; dst: string; sip: string })
      .filter((e) => e.src.endsWith(`:${port}`) || e.dst.endsWith(`:${port}`))
      .map((e) => Buffer.from(e.sip, "base64").toString("latin1"));
  }

  until(condition: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = (): void => {
        if (condition()) finish();
        else if (this.code !== undefined) finish(new Error(`siphon exited (${this.code}) before ${what}; stderr:\n${this.stderr}`));
      };
      const timer = setTimeout(() => finish(new Error(`no ${what} within ${DEADLINE_MS} ms; stderr:\n${this.stderr}`)), DEADLINE_MS);
      this.watchers.add(check);
      check();
    });
  }

  async stop(): Promise<number | null | undefined> {
    this.child.kill("SIGINT");
    await this.until(() => this.code !== undefined, "exit after SIGINT");
    return this.code;
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }
}

function listening(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  const port = await listening(s);
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function connected(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.once("error", reject);
  });
}

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/metrics" }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

const noAddon = addonProblem();
if (noAddon !== undefined || !capturePermitted()) {
  console.log(`live-trap.test: ${noAddon ?? "no CAP_NET_RAW"}: the live WebSocket crash test is not registered`);
} else {
  test("capture on lo: a WebSocket frame of 2^64-1 bytes; the sensor stays up and the valid messages come out", async () => {
    const accepted: Received[] = [];
    const server = createServer((socket) => void accepted.push(new Received(socket)));
    const sipPort = await listening(server);
    const metricsPort = await freeTcpPort();
    const run = new Capture(["-i", "lo", "--sip-port", String(sipPort), "--metrics", `127.0.0.1:${metricsPort}`]);
    const sockets: Socket[] = [];
    try {
      await run.until(() => /siphon: capturing on /.test(run.stderr), "ready line");
      const register = sipMessage("REGISTER sip:127.0.0.1 SIP/2.0", 1);
      const ok = sipMessage("SIP/2.0 200 OK", 1);
      const invite = sipMessage(`INVITE sip:bob@127.0.0.1:${sipPort} SIP/2.0`, 2);

      const ws = await connected(sipPort);
      sockets.push(ws);
      const fromServer = new Received(ws);
      ws.write(WS_UPGRADE);
      await run.until(() => accepted.length === 1, "the connection accepted");
      const atServer = accepted[0];
      await atServer.until(WS_UPGRADE.length, "the upgrade at the server");
      const clientBytes = Buffer.concat([Buffer.from(WS_UPGRADE), wsFrame(Buffer.from(register), 1, true, [7, 7, 7, 7]), CRASH]);
      ws.write(clientBytes.subarray(WS_UPGRADE.length));
      await atServer.until(clientBytes.length, "the frames at the server");
      // The same connection, the other way, after the bad frame.
      const reply = Buffer.concat([Buffer.from(WS_SWITCHING), wsFrame(Buffer.from(ok), 1, true)]);
      atServer.socket.write(reply);
      await fromServer.until(reply.length, "the server's frame at the client");

      const plain = await connected(sipPort);
      sockets.push(plain);
      plain.write(invite);
      await run.until(() => accepted.length === 2, "the second connection accepted");
      await accepted[1].until(invite.length, "the INVITE at the server");

      await run.until(() => run.sipTexts(sipPort).length >= 3, "the 3 valid messages");
      assert.equal(run.sipTexts(sipPort).sort(), [register, ok, invite].sort());
      const text = await metrics(metricsPort);
      assert.match(text, /^siphon_ws_bad_total 1$/m, "the frame counted");
      assert.match(text, /^siphon_core_traps_total 0$/m, "nothing trapped");
      assert.is(run.code, undefined, "the sensor is still running");
      assert.is(await run.stop(), 0, run.stderr);
      assert.match(run.stderr, /siphon: \d+ packets, \d+ SIP messages \(udp \d+, tcp 1, ws 2\)/);
      assert.not.match(run.stderr, /trap/);
    } finally {
      sockets.forEach((s) => s.destroy());
      server.close();
      if (run.code === undefined) await run.stop();
    }
  });
}

test.run();
