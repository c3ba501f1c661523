// `siphon capture` run as a user runs it, for the live tests: its output followed as it comes,
// and waits on conditions over it (never on a time window).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createSocket, type Socket } from "node:dgram";
import { loadAddon } from "../../host/source/libpcap/addon";

export const SIPHON = "dist/siphon.mjs";
export const BOUND_MS = 90000;      // last-resort failure bound for a wait, never a condition for passing
const PROBE_EVERY_MS = 100;  // probes are repeated at this pace until one comes out
export const WINDOW = 8;            // messages sent ahead of the envelopes seen: far below what the kernel ring holds
const PROBE_CALL_ID = "siphon-live-probe-";
const CAP_NET_RAW = 13; // bit in /proc/self/status CapEff

export interface Envelope {
  src: string;
  dst: string;
  sip: string;
}

function isProbe(e: Envelope): boolean {
  return sipText(e).includes(`Call-ID: ${PROBE_CALL_ID}`);
}

// Follows a running `siphon capture`: its output as it comes, and waits on conditions over it.
export class Running {
  stderr = "";
  code: number | null | undefined;
  private partial = "";                      // stdout after its last newline: a chunk may end mid-line
  private readonly seen: Envelope[] = [];    // every envelope but the probes, parsed once as it comes
  private probes = 0;
  private readonly child: ChildProcess;
  private readonly watchers = new Set<() => void>();

  // readStdout false: stdout is never read, so its pipe fills as behind a stalled reader.
  constructor(args: string[], prefix: string[] = [], readStdout = true) {
    const [command, ...argv] = [...prefix, process.execPath, SIPHON, "capture", ...args];
    this.child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] });
    if (readStdout) this.child.stdout?.on("data", (d: Buffer) => { this.take(d.toString()); this.notify(); });
    this.child.stderr?.on("data", (d: Buffer) => { this.stderr += d.toString(); this.notify(); });
    this.child.on("close", (code) => { this.code = code; this.notify(); });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  envelopes(): Envelope[] {
    return this.seen;
  }

  get probeCount(): number {
    return this.probes;
  }

  // Sends probes to port until the capture shows one: from then on it sees what is sent there.
  async probe(port: number, host = "127.0.0.1"): Promise<void> {
    const socket = await boundSocket(host.includes(":") ? "udp6" : "udp4");
    let n = 0;
    const sendProbe = (): void => {
      n++;
      const text = `OPTIONS sip:probe@${host} SIP/2.0\r\nCall-ID: ${PROBE_CALL_ID}${n}\r\nCSeq: ${n} OPTIONS\r\nContent-Length: 0\r\n\r\n`;
      send(socket, text, port, host).catch(() => undefined);
    };
    sendProbe();
    const timer = setInterval(sendProbe, PROBE_EVERY_MS);
    try {
      await this.until(() => this.probes > 0, `a probe envelope (${n} probes sent to ${host}:${port})`);
    } finally {
      clearInterval(timer);
      socket.close();
    }
  }

  until(condition: () => boolean, what: string, ms = BOUND_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) {
          if (this.code !== undefined) finish(new Error(`siphon exited (${this.code}) before ${what}; ${this.sawSoFar()}`));
          return;
        }
        finish();
      };
      const timer = setTimeout(() => finish(new Error(`no ${what} after ${ms} ms; ${this.sawSoFar()}`)), ms);
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.watchers.add(check);
      check();
    });
  }

  // What a failure reports: the envelopes so far (other traffic the filter admits, such as
  // SIP on port 5060 from elsewhere on this machine, shows here) and siphon's stderr.
  private sawSoFar(): string {
    const last = this.seen.slice(-3).map((e) => `${e.src} > ${e.dst}: ${sipText(e).split("\r\n")[0]}`);
    return `saw ${this.probes} probes and ${this.seen.length} other envelopes${last.length ? ` (last: ${last.join("; ")})` : ""}; stderr:\n${this.stderr}`;
  }

  private take(text: string): void {
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines.filter((l) => l.length > 0)) {
      const e = JSON.parse(line) as Envelope;
      if (isProbe(e)) this.probes++;
      else this.seen.push(e);
    }
  }

  ready(): Promise<void> {
    return this.until(() => /siphon: capturing on /.test(this.stderr), "ready line");
  }

  async stop(signal: NodeJS.Signals = "SIGINT"): Promise<number | null | undefined> {
    this.child.kill(signal);
    await this.until(() => this.code !== undefined, `exit after ${signal}`);
    return this.code;
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }
}

export function runOnce(args: string[], env: NodeJS.ProcessEnv = process.env, prefix: string[] = []) {
  const command = prefix.length > 0 ? prefix[0] : process.execPath;
  const argv = [...prefix.slice(1), ...(prefix.length > 0 ? [process.execPath] : []), SIPHON, "capture", ...args];
  const r = spawnSync(command, argv, { env, timeout: BOUND_MS });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

// Why the libpcap addon cannot be used here (its first line), or undefined when it loads.
export function addonProblem(): string | undefined {
  try {
    loadAddon().libVersion();
    return undefined;
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  }
}

export function capturePermitted(): boolean {
  if (process.getuid?.() === 0) return true;
  const capEff = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "latin1"))?.[1];
  return capEff !== undefined && (BigInt(`0x${capEff}`) & (1n << BigInt(CAP_NET_RAW))) !== 0n;
}

export function onPath(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
}

export async function freeUdpPort(family: "udp4" | "udp6" = "udp4"): Promise<number> {
  const s = createSocket(family);
  await new Promise<void>((resolve) => s.bind(0, family === "udp4" ? "127.0.0.1" : "::1", resolve));
  const port = s.address().port;
  s.close();
  return port;
}

export async function boundSocket(family: "udp4" | "udp6"): Promise<Socket> {
  const s = createSocket(family);
  await new Promise<void>((resolve) => s.bind(0, family === "udp4" ? "127.0.0.1" : "::1", resolve));
  return s;
}

export function send(s: Socket, text: string, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => s.send(Buffer.from(text, "latin1"), port, host, (err) => (err ? reject(err) : resolve())));
}

export function sipText(e: Envelope): string {
  return Buffer.from(e.sip, "base64").toString("latin1");
}

export function portOf(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(":") + 1));
}

