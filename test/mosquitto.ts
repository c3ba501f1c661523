// A Mosquitto of the tests' own on a free port, so a test can stop and restart
// its broker (the machine's 1883 is never touched), with queue limits raised so
// the broker itself never drops QoS 1 messages to a slow subscriber.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient, type IClientOptions } from "mqtt";
import { WebSocketServer, createWebSocketStream } from "ws";

export const MOSQUITTO = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"].find((p) => existsSync(p));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

// Polls `condition` until it holds. `ms` is only a last-resort bound for a test that
// would otherwise hang (a loaded machine is slow, not wrong): the failure says what was
// awaited and, from `seen`, what there was instead.
export async function waitFor(what: string, condition: () => boolean, seen?: () => string, ms = 90000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`no ${what} after ${ms} ms${seen ? `; saw ${seen()}` : ""}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

export interface BrokerTls {
  ca: string; serverCert: string; serverKey: string;
  clientCert: string; clientKey: string;
}

// MQTT over WebSocket in front of a broker's TCP port: each WebSocket (subprotocol
// "mqtt") is piped to its own TCP connection. Used where mosquitto itself cannot open a
// WebSocket listener (this machine's cannot: "Unable to start any listening sockets").
// With `tls`, the proxy speaks wss:// with the server certificate.
export async function webSocketProxy(tcpPort: number, tls?: BrokerTls): Promise<string> {
  const http = tls ? createHttpsServer({ cert: readFileSync(tls.serverCert), key: readFileSync(tls.serverKey) }) : createHttpServer();
  const server = new WebSocketServer({ server: http, handleProtocols: (protocols) => (protocols.has("mqtt") ? "mqtt" : false) });
  server.on("connection", (socket) => {
    const ws = createWebSocketStream(socket);
    const tcp = connect(tcpPort, "127.0.0.1");
    ws.pipe(tcp).pipe(ws);
    ws.on("error", () => tcp.destroy());
    tcp.on("error", () => ws.destroy());
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()));
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const client of server.clients) client.terminate();
    server.close();
    http.close(() => resolve());
  }));
  return `${tls ? "wss" : "ws"}://127.0.0.1:${(http.address() as { port: number }).port}/mqtt`;
}

// A TCP gate in front of a broker: a client behind it loses the broker when the gate closes
// (every connection cut, new ones refused) while clients connected straight to the broker keep
// their sessions, so a subscriber sees everything published once the gate opens again.
export async function tcpGate(brokerPort: number): Promise<{ url: string; close(): Promise<void>; open(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: ReturnType<typeof createServer> | undefined;
  const open = (): Promise<void> => new Promise((resolve) => {
    server = createServer((client) => {
      const upstream = connect(brokerPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const close = (): Promise<void> => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    if (server === undefined) return resolve();
    server.close(() => resolve());
    server = undefined;
  });
  await open();
  cleanups.push(close);
  return { url: `mqtt://127.0.0.1:${port}`, close, open };
}

export interface BrokerOptions {
  // The text of an acl_file. Mosquitto 2.0.11 drops the connection after denying a QoS 1
  // PUBLISH when max_queued_messages is 0, so a broker with an ACL keeps the default limits.
  acl?: string;
  users?: Record<string, string>;             // name -> password; anonymous clients refused
}

export class Broker {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), "siphon-mosquitto-"));
  log = "";

  private constructor(readonly port: number, private readonly tls?: BrokerTls, private readonly options: BrokerOptions = {}) {}

  static async start(tls?: BrokerTls, port?: number, options?: BrokerOptions): Promise<Broker> {
    const broker = new Broker(port ?? await freePort(), tls, options);
    cleanups.push(() => broker.stop());
    await broker.restart();
    return broker;
  }

  get url(): string {
    return `${this.tls ? "mqtts" : "mqtt"}://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    if (!MOSQUITTO) throw new Error("mosquitto is not installed");
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      `allow_anonymous ${this.options.users ? "false" : "true"}`,
      "persistence false",
      ...(this.options.acl === undefined ? ["max_queued_messages 0", "max_queued_bytes 0", "max_inflight_messages 0"] : []),
      "log_dest stderr",
      "log_type error",
    ];
    if (this.tls) {
      lines.push(`cafile ${this.tls.ca}`, `certfile ${this.tls.serverCert}`, `keyfile ${this.tls.serverKey}`,
        "require_certificate true", "tls_version tlsv1.2");
    }
    if (this.options.users) {
      const file = join(this.dir, "passwords");
      writeFileSync(file, "");
      for (const [user, password] of Object.entries(this.options.users)) {
        spawnSync("mosquitto_passwd", ["-b", file, user, password], { stdio: "ignore" });
      }
      chmodSync(this.dir, 0o755);
      chmodSync(file, 0o644);
      lines.push(`password_file ${file}`);
    }
    if (this.options.acl !== undefined) {
      const file = join(this.dir, "acl");
      writeFileSync(file, this.options.acl);
      chmodSync(this.dir, 0o755);
      chmodSync(file, 0o644);
      lines.push(`acl_file ${file}`);
    }
    const conf = join(this.dir, "mosquitto.conf");
    writeFileSync(conf, lines.join("\n") + "\n");
    const child = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.on("data", (d: Buffer) => { this.log += d.toString(); });
    this.child = child;
    const deadline = Date.now() + 10000;
    while (!(await listening(this.port))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}): ${this.log}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.port}: ${this.log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
    this.child = undefined;
  }
}

// What a test started (brokers, clients, children), undone whether it passed or
// failed, so a failing test never leaves the run waiting on open handles.
const cleanups: Array<() => unknown> = [];

export function onCleanup(undo: () => unknown): void {
  cleanups.push(undo);
}

export async function cleanUp(): Promise<void> {
  for (const undo of cleanups.splice(0).reverse()) {
    try {
      await undo();
    } catch {
      // already gone
    }
  }
}

// A subscriber that records every payload it receives on `topic`.
export async function subscriber(url: string, topic: string, extra: IClientOptions = {}): Promise<{ client: MqttClient; payloads: Buffer[]; close(): Promise<void> }> {
  const payloads: Buffer[] = [];
  const client = mqtt.connect(url, { reconnectPeriod: 100, clean: false, clientId: `test-sub-${process.pid}-${Math.random().toString(16).slice(2)}`, ...extra });
  client.on("message", (t, payload) => { if (t === topic) payloads.push(payload); });
  client.on("error", () => {});
  cleanups.push(() => client.endAsync(true));
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => client.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  });
  return { client, payloads, close: () => client.endAsync(true) };
}

// CA, server and client certificates made with openssl for one test run.
export function makeCertificates(dir: string): BrokerTls | undefined {
  const run = (args: string[]): boolean => spawnSync("openssl", args, { cwd: dir, stdio: "ignore" }).status === 0;
  const p = (f: string): string => join(dir, f);
  writeFileSync(p("san.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const ok = run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=siphon test CA", "-keyout", "ca.key", "-out", "ca.crt"])
    && run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"])
    && run(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.crt"])
    && run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=siphon-client", "-keyout", "client.key", "-out", "client.csr"])
    && run(["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "client.crt"]);
  if (!ok) return undefined;
  // The broker drops root for the mosquitto user, which must read them (test keys only).
  chmodSync(dir, 0o755);
  for (const f of ["ca.crt", "server.crt", "server.key", "client.crt", "client.key"]) chmodSync(p(f), 0o644);
  return { ca: p("ca.crt"), serverCert: p("server.crt"), serverKey: p("server.key"), clientCert: p("client.crt"), clientKey: p("client.key") };
}
