// HEPv3 sink (--hep udp://host:9060 or tcp://host:port): each SIP message in
// its own HEP packet with the standard chunks, so Homer and other collectors
// take Siphon's messages. Over UDP one datagram per message; over TCP the
// packets follow one another on a connection that is re-made with backoff.
import { checkUrlPort } from "../bounds";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, isIPv6, type Socket as TcpSocket } from "node:net";
import type { MessageBatch, SipMessage } from "../core/records";
import { byDeadline, type Shortfall, type Sink } from "./sink";
import type { Logger } from "../log";
import { backoff } from "./backoff";
import { maskUrlPasswords } from "../redact";

export interface HepOptions {
  url: string;
  captureId: number;
  password?: string;
  flushTimeout: number;   // seconds, only for messages: close() is given its deadline
  log: Logger;
}

export interface HepStats {
  hep_sent: number;        // written to the socket (handed to the kernel)
  hep_dropped: number;     // not sent: collector unreachable, a send error, or still queued at the flush deadline
  hep_too_large: number;   // larger than a UDP datagram can carry
  hep_connected: number;
}

export interface HepSink extends Sink {
  stats(): HepStats;
  connected(): boolean;
  shortfall(): Shortfall | undefined;   // after close, as for MQTT
}

// Chunk types of HEPv3 (the HEP/EEP specification, generic chunks, vendor 0).
export const HEP = {
  IP_FAMILY: 1, IP_PROTO: 2, SRC_IP4: 3, DST_IP4: 4, SRC_IP6: 5, DST_IP6: 6,
  SRC_PORT: 7, DST_PORT: 8, TIME_SEC: 9, TIME_USEC: 10, PROTO_TYPE: 11,
  CAPTURE_ID: 12, AUTH_KEY: 14, PAYLOAD: 15, CORRELATION_ID: 17,
} as const;
const PROTO_SIP = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const MAX_DATAGRAM = 65507;
const SOCKET_HIGH_WATER = 8 << 20;
const UDP_QUEUE_HIGH_WATER = 4096;
const PENDING_MAX = 10000;  // packets held while the UDP socket resolves its address

export function hepPacket(m: SipMessage, captureId: number, password?: string): Buffer {
  const v6 = m.src.ip.includes(":");
  const chunks: Buffer[] = [
    u8Chunk(HEP.IP_FAMILY, v6 ? AF_INET6 : AF_INET),
    u8Chunk(HEP.IP_PROTO, m.transport === "udp" ? 17 : 6),
    chunk(HEP.SRC_IP4 + (v6 ? 2 : 0), Buffer.from(ipBytes(m.src.ip))),
    chunk(HEP.DST_IP4 + (v6 ? 2 : 0), Buffer.from(ipBytes(m.dst.ip))),
    u16Chunk(HEP.SRC_PORT, m.src.port),
    u16Chunk(HEP.DST_PORT, m.dst.port),
    u32Chunk(HEP.TIME_SEC, m.timeSec),
    u32Chunk(HEP.TIME_USEC, Math.floor(m.timeNsec / 1000)),
    u8Chunk(HEP.PROTO_TYPE, PROTO_SIP),
    u32Chunk(HEP.CAPTURE_ID, captureId),
  ];
  if (password) chunks.push(chunk(HEP.AUTH_KEY, Buffer.from(password, "utf8")));
  chunks.push(chunk(HEP.PAYLOAD, m.bytes));
  const callId = m.callId;
  if (callId) chunks.push(chunk(HEP.CORRELATION_ID, Buffer.from(callId, "utf8")));  // the envelope's call_id
  const body = Buffer.concat(chunks);
  const header = Buffer.alloc(6);
  header.write("HEP3", 0, "latin1");
  header.writeUInt16BE(6 + body.length, 4);
  return Buffer.concat([header, body]);
}

function chunk(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt16BE(0, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(6 + data.length, 4);
  return Buffer.concat([head, data]);
}

function u8Chunk(type: number, n: number): Buffer {
  return chunk(type, Buffer.from([n]));
}

function u16Chunk(type: number, n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return chunk(type, b);
}

function u32Chunk(type: number, n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return chunk(type, b);
}

// The core formats addresses as text (RFC 5952 for IPv6); HEP wants the bytes.
export function ipBytes(ip: string): number[] {
  if (!isIPv6(ip)) return ip.split(".").map(Number);
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]);
}

export function parseHepUrl(url: string): { transport: "udp" | "tcp"; host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--hep: '${url}' is not a URL; use udp://host:9060 or tcp://host:9061`);
  }
  const transport = u.protocol.replace(/:$/, "");
  if (transport !== "udp" && transport !== "tcp") throw new Error(`--hep: scheme '${transport}' is not udp or tcp`);
  if (!u.port) throw new Error(`--hep: '${url}' names no port, e.g. udp://${u.hostname || "host"}:9060`);
  checkUrlPort(u, "--hep");
  return { transport, host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port) };
}

export function hepSink(o: HepOptions): HepSink {
  const target = parseHepUrl(o.url);
  const stats: HepStats = { hep_sent: 0, hep_dropped: 0, hep_too_large: 0, hep_connected: 0 };
  return target.transport === "udp" ? udpHep(o, target, stats) : tcpHep(o, target, stats);
}

// `reached`: the collector's address resolved (UDP) or a connection was made (TCP).
function hepShortfall(url: string, stats: HepStats, reached: boolean): Shortfall | undefined {
  const lost = stats.hep_dropped + stats.hep_too_large;
  if (lost === 0) return undefined;
  const detail: string[] = [];
  const advice: string[] = [];
  if (stats.hep_dropped > 0) {
    detail.push(`${stats.hep_dropped} not sent`);
    advice.push(reached ? "check that the collector is up and keeps up, or raise --flush-timeout"
      : "check that the collector is up and that --hep names it (its host resolves, its port listens)");
  }
  if (stats.hep_too_large > 0) {
    detail.push(`${stats.hep_too_large} larger than a UDP datagram`);
    advice.push("use tcp:// for messages that large");
  }
  return { output: `--hep ${maskUrlPasswords(url)}`, count: lost, detail: detail.join(" and "), advice: advice.join("; ") };
}

function udpHep(o: HepOptions, t: { host: string; port: number }, stats: HepStats): HepSink {
  const socket: UdpSocket = createSocket(isIPv6(t.host) ? "udp6" : "udp4");
  const where = `udp://${t.host}:${t.port}`;
  socket.connect(t.port, t.host);
  let ready = false;
  let failed = false;
  socket.on("connect", () => { ready = true; stats.hep_connected = 1; });
  socket.on("error", (err: NodeJS.ErrnoException) => {
    if (!ready) failed = true;
    o.log.warn(`hep: ${where}: ${err.code ?? err.message}${ready ? "" : "; nothing will be sent: check --hep"}`);
  });
  const pending: Buffer[] = [];
  const sendOne = (packet: Buffer): void => socket.send(packet, (err) => {
    if (err) stats.hep_dropped++;
    else stats.hep_sent++;
  });
  const settled = (): boolean => failed || ready && socket.getSendQueueCount() === 0;
  const whenQueueBelow = (limit: number, deadline = Infinity): Promise<void> => new Promise((resolve) => {
    const check = (): void => {
      if (failed || ready && socket.getSendQueueCount() < limit || Date.now() >= deadline) resolve();
      else setTimeout(check, 2);
    };
    check();
  });
  return {
    write(batch: MessageBatch) {
      for (let i = 0; i < batch.count; i++) {
        const packet = hepPacket(batch.message(i), o.captureId, o.password);
        if (packet.length > MAX_DATAGRAM) stats.hep_too_large++;
        else if (failed) stats.hep_dropped++;
        else if (ready) sendOne(packet);
        else if (pending.push(packet) > PENDING_MAX) {
          pending.shift();
          stats.hep_dropped++;
        }
      }
      if (ready) for (const p of pending.splice(0)) sendOne(p);
    },
    backlog() {
      return failed || ready && socket.getSendQueueCount() <= UDP_QUEUE_HIGH_WATER ? undefined : whenQueueBelow(UDP_QUEUE_HIGH_WATER / 2);
    },
    async close(deadline) {
      await whenQueueBelow(1, deadline);
      if (ready) for (const p of pending.splice(0)) sendOne(p);
      stats.hep_dropped += pending.length;
      await whenQueueBelow(1, deadline);
      if (!settled()) o.log.warn("hep: datagrams still queued at the flush deadline", { collector: where, queued: socket.getSendQueueCount() });
      socket.close();
    },
    stats: () => ({ ...stats }),
    connected: () => ready,
    shortfall: () => hepShortfall(o.url, stats, ready),
  };
}

function tcpHep(o: HepOptions, t: { host: string; port: number }, stats: HepStats): HepSink {
  let socket: TcpSocket | undefined;
  let online = false;
  let everConnected = false;
  let closing = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  const where = `tcp://${t.host}:${t.port}`;
  let inSocket = 0;   // packets written to the socket whose write has not completed
  const written = (err?: Error | null): void => {
    if (closing && socket?.destroyed) return;   // counted by close()
    inSocket--;
    if (err) stats.hep_dropped++;
    else stats.hep_sent++;
  };
  const open = (): void => {
    const s = connect(t.port, t.host);
    socket = s;
    s.setNoDelay(true);
    // A collector has nothing to say; what it sends anyway is read and dropped, so that
    // closing with unread bytes does not reset the connection under packets still in flight.
    s.resume();
    s.on("connect", () => {
      online = true;
      everConnected = true;
      attempt = 0;
      stats.hep_connected = 1;
      o.log.info("hep: connected", { collector: where });
    });
    s.on("error", (err: NodeJS.ErrnoException) => {
      if (!closing) o.log.warn(`hep: ${where}: ${err.code ?? err.message}; retrying with backoff`);
    });
    s.on("close", () => {
      online = false;
      stats.hep_connected = 0;
      if (closing) return;
      timer = setTimeout(open, backoff(attempt++));
    });
  };
  open();
  return {
    write(batch: MessageBatch) {
      for (let i = 0; i < batch.count; i++) {
        if (!online || !socket) {
          stats.hep_dropped++;
          continue;
        }
        inSocket++;
        socket.write(hepPacket(batch.message(i), o.captureId, o.password), written);
      }
    },
    backlog() {
      const s = socket;
      if (!online || !s || s.writableLength < SOCKET_HIGH_WATER) return undefined;
      return new Promise<void>((resolve) => s.once("drain", () => resolve()));
    },
    // Our side is finished once every packet has been written and the FIN queued after
    // them ('finish'); the kernel delivers what is in flight. The collector need not
    // close its side (a sink that reads to the end and keeps the socket would hold us in
    // FIN-WAIT-2 forever), so the socket is closed then, or at the deadline at the latest.
    async close(deadline) {
      closing = true;
      clearTimeout(timer);
      const s = socket;
      if (s && online) {
        const finished = new Promise<void>((resolve) => s.end(() => resolve()));
        if (await byDeadline(finished, deadline) === "late") {
          o.log.warn("hep: the collector did not take everything before the flush deadline", { collector: where, queued_bytes: s.writableLength });
        }
      }
      s?.destroy();
      stats.hep_dropped += inSocket;
      inSocket = 0;
    },
    stats: () => ({ ...stats }),
    connected: () => online,
    shortfall: () => hepShortfall(o.url, stats, everConnected),
  };
}
