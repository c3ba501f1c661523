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
  rewrite?: (m: SipMessage) => HepMessage;   // --anonymize: addresses, Call-ID and SIP text rewritten (host/privacy)
}

// What a HEP packet is made of, read as bytes: a SipMessage, or the rewritten copy of one (host/privacy).
export type HepMessage = Pick<SipMessage, "ipv6" | "transport" | "srcPort" | "dstPort" | "timeSec" | "timeNsec" | "callId" | "size"
  | "callIdLength" | "copyAsciiCallId" | "copyAddress" | "copyBytes">;

export interface HepStats {
  hep_sent: number;        // written to the socket (handed to the kernel)
  hep_dropped: number;     // not sent: collector unreachable, a send error, or still queued at the flush deadline
  hep_too_large: number;   // larger than a UDP datagram (65,507 bytes) or a HEP packet (65,535) can carry
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
const HEP3 = 0x48455033;   // "HEP3", the packet's first four bytes
const AF_INET = 2;
const AF_INET6 = 10;
const MAX_DATAGRAM = 65507;
const SOCKET_HIGH_WATER = 8 << 20;
// Bytes a TCP socket may hold for a collector that does not keep up: a replay waits at the high
// water mark; a live capture cannot wait, and batches beyond this are dropped (hep_dropped).
const SOCKET_MOST = 8 * SOCKET_HIGH_WATER;
const UDP_QUEUE_HIGH_WATER = 4096;
// Datagrams whose send callback has not come. Each holds its batch's encoded buffer, and the
// callbacks only come when the event loop turns, which a replay reading a file does not do by
// itself: without this bound a run held every batch's buffer to the end (133 MiB peak RSS on
// mixed-udp against 66 for NDJSON).
const UDP_IN_FLIGHT_HIGH_WATER = 1024;
const PENDING_MAX = 10000;  // packets held while the UDP socket resolves its address

// One HEP packet, in a buffer of its own (the tests decode it; the sinks use HepEncoder).
export function hepPacket(m: HepMessage, captureId: number, password?: string): Buffer {
  const encoder = new HepEncoder(captureId, password);
  const length = encoder.append(m);
  return Buffer.from(encoder.bytes().subarray(0, length));
}

const CHUNK_HEAD = 6;         // vendor (u16), type (u16), length (u16)
const MAX_HEP_PACKET = 65535; // the packet's and each chunk's length are u16

// Writes a chunk's head for `dataLength` bytes of data at `at`; returns where the data goes.
function chunkHead(b: Buffer, at: number, type: number, dataLength: number): number {
  b.writeUInt16BE(0, at);
  b.writeUInt16BE(type, at + 2);
  b.writeUInt16BE(CHUNK_HEAD + dataLength, at + 4);
  return at + CHUNK_HEAD;
}

// The head of every packet of one address family, from "HEP3" to the payload chunk's head:
// most of its bytes (chunk heads, family, protocol type, capture id, auth key) are the same
// from packet to packet, so a packet starts as a copy of these and then gets its own values
// at the offsets named here. The chunks are in the order HEPv3 senders use.
class PacketHead {
  readonly bytes: Uint8Array;
  readonly length: number;     // where the payload's bytes start
  readonly proto: number;      // IP_PROTO's byte
  readonly src: number;        // the source address's 4 or 16 bytes
  readonly dst: number;
  readonly srcPort: number;    // u16
  readonly dstPort: number;
  readonly timeSec: number;    // u32
  readonly timeUsec: number;
  readonly payloadHead: number;

  constructor(v6: boolean, captureId: number, password: Buffer | undefined) {
    const ipLength = v6 ? 16 : 4;
    const b = Buffer.alloc(6 + 3 * (CHUNK_HEAD + 1) + 2 * (CHUNK_HEAD + ipLength) + 2 * (CHUNK_HEAD + 2)
      + 3 * (CHUNK_HEAD + 4) + (password ? CHUNK_HEAD + password.length : 0) + CHUNK_HEAD);
    b.writeUInt32BE(HEP3, 0);
    const family = chunkHead(b, 6, HEP.IP_FAMILY, 1);
    b[family] = v6 ? AF_INET6 : AF_INET;
    this.proto = chunkHead(b, family + 1, HEP.IP_PROTO, 1);
    this.src = chunkHead(b, this.proto + 1, HEP.SRC_IP4 + (v6 ? 2 : 0), ipLength);
    this.dst = chunkHead(b, this.src + ipLength, HEP.DST_IP4 + (v6 ? 2 : 0), ipLength);
    this.srcPort = chunkHead(b, this.dst + ipLength, HEP.SRC_PORT, 2);
    this.dstPort = chunkHead(b, this.srcPort + 2, HEP.DST_PORT, 2);
    this.timeSec = chunkHead(b, this.dstPort + 2, HEP.TIME_SEC, 4);
    this.timeUsec = chunkHead(b, this.timeSec + 4, HEP.TIME_USEC, 4);
    const protoType = chunkHead(b, this.timeUsec + 4, HEP.PROTO_TYPE, 1);
    b[protoType] = PROTO_SIP;
    const capture = chunkHead(b, protoType + 1, HEP.CAPTURE_ID, 4);
    b.writeUInt32BE(captureId >>> 0, capture);
    let at = capture + 4;
    if (password) at = chunkHead(b, at, HEP.AUTH_KEY, password.length) + password.copy(b, at + CHUNK_HEAD);
    this.payloadHead = at;
    this.length = chunkHead(b, at, HEP.PAYLOAD, 0);
    this.bytes = new Uint8Array(b.buffer, b.byteOffset, b.length);
  }
}

// Builds HEP packets one after another into one buffer that grows as needed and is reused
// from batch to batch (reset()), so a batch costs no allocation per packet or per chunk.
// The packets are written through a plain Uint8Array and a DataView of the buffer: V8 inlines
// their methods, where a Buffer's (Buffer.prototype, made by Node) cost a lookup per call.
export class HepEncoder {
  private buffer: Buffer = Buffer.allocUnsafe(1 << 20);   // for the sockets
  private memory = this.buffer.buffer;
  private u8 = plainBytes(this.buffer);
  private view = viewOf(this.buffer);
  private end = 0;
  private readonly v4: PacketHead;
  private readonly v6: PacketHead;

  constructor(captureId: number, password?: string) {
    const key = password ? Buffer.from(password, "utf8") : undefined;
    this.v4 = new PacketHead(false, captureId, key);
    this.v6 = new PacketHead(true, captureId, key);
  }

  // Starts the next batch: the bytes of the last one may be overwritten.
  reset(): void {
    this.end = 0;
  }

  // Gives up the buffer (still held by sends in flight) and starts the next batch in a new one.
  replace(): void {
    this.setBuffer(Buffer.allocUnsafe(this.buffer.length));
    this.end = 0;
  }

  // How many bytes were appended since reset(): where the next packet starts.
  size(): number {
    return this.end;
  }

  // Everything appended since reset(), packets back to back.
  bytes(): Buffer {
    return this.buffer.subarray(0, this.end);
  }

  // The packet appended at `start`, as a plain Uint8Array made from the buffer's memory: a
  // datagram handed to dgram this way skips its Buffer.from(buffer.buffer, ...) for an
  // offset and length, whose loads from a Buffer are not inlined.
  packet(start: number, length: number): Uint8Array {
    return new Uint8Array(this.memory, this.u8.byteOffset + start, length);
  }

  // Appends m's packet; returns its length, or 0 when it does not fit in HEP's u16 length
  // (nothing appended then).
  append(m: HepMessage): number {
    const length = this.write(m, undefined);
    // The correlation id is the envelope's call_id as bytes: straight from the message while
    // it is ASCII (nearly always), else the envelope's text, invalid UTF-8 made U+FFFD.
    return length >= 0 ? length : this.write(m, m.callId);
  }

  // Writes m's packet at the end, its correlation id `callIdText` or else the Call-ID's bytes;
  // returns its length, 0 when it is too large, -1 when those bytes are not all ASCII (in
  // both cases the packet is not kept: the next one is written over it).
  private write(m: HepMessage, callIdText: string | undefined): number {
    const head = m.ipv6 ? this.v6 : this.v4;
    const payloadLength = m.size;
    const callIdLength = callIdText === undefined ? m.callIdLength : Buffer.byteLength(callIdText, "utf8");
    const length = head.length + payloadLength + (callIdLength > 0 ? CHUNK_HEAD + callIdLength : 0);
    if (length > MAX_HEP_PACKET) return 0;
    this.reserve(length);
    const v = this.view;
    const start = this.end;
    this.u8.set(head.bytes, start);
    v.setUint16(start + 4, length);
    this.u8[start + head.proto] = m.transport === "udp" ? 17 : 6;
    m.copyAddress("src", v, start + head.src);
    m.copyAddress("dst", v, start + head.dst);
    v.setUint16(start + head.srcPort, m.srcPort);
    v.setUint16(start + head.dstPort, m.dstPort);
    v.setUint32(start + head.timeSec, m.timeSec >>> 0);
    v.setUint32(start + head.timeUsec, Math.floor(m.timeNsec / 1000) >>> 0);
    v.setUint16(start + head.payloadHead + 4, CHUNK_HEAD + payloadLength);
    let at = m.copyBytes(this.u8, start + head.length);
    if (callIdLength > 0) {
      v.setUint32(at, HEP.CORRELATION_ID);   // vendor 0, then the type
      v.setUint16(at + 4, CHUNK_HEAD + callIdLength);
      const data = at + CHUNK_HEAD;
      at = callIdText === undefined ? m.copyAsciiCallId(v, data) : data + this.buffer.write(callIdText, data, "utf8");
      if (at < 0) return -1;
    }
    this.end = at;
    return length;
  }

  private reserve(length: number): void {
    if (this.end + length <= this.u8.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.end + length));
    this.buffer.copy(grown, 0, 0, this.end);
    this.setBuffer(grown);
  }

  private setBuffer(buffer: Buffer): void {
    this.buffer = buffer;
    this.memory = buffer.buffer;
    this.u8 = plainBytes(buffer);
    this.view = viewOf(buffer);
  }
}

function plainBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
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
    const udp = url.startsWith("udp:");
    detail.push(`${stats.hep_too_large} larger than ${udp ? "a UDP datagram" : "a HEP packet (64 KiB)"}`);
    if (udp) advice.push("use tcp:// for messages that large");
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
  const encoder = new HepEncoder(o.captureId, o.password);
  let inFlight = 0;   // datagrams handed to send() whose callback has not come: they read the encoder's buffer
  let fewerInFlight: { promise: Promise<void>; resolve: () => void } | undefined;
  const sent = (err: Error | null): void => {
    inFlight--;
    if (err) stats.hep_dropped++;
    else stats.hep_sent++;
    if (fewerInFlight !== undefined && inFlight <= UDP_IN_FLIGHT_HIGH_WATER / 2) {
      fewerInFlight.resolve();
      fewerInFlight = undefined;
    }
  };
  // One wait for every caller until it ends.
  const untilFewerInFlight = (): Promise<void> => {
    if (fewerInFlight === undefined) {
      let resolve = (): void => {};
      const promise = new Promise<void>((r) => { resolve = r; });
      fewerInFlight = { promise, resolve };
    }
    return fewerInFlight.promise;
  };
  const sendOne = (packet: Uint8Array): void => {
    inFlight++;
    socket.send(packet, sent);
  };
  // Settled when every datagram handed to send() has had its callback, so hep_sent counts it:
  // an empty send queue alone comes before the last callbacks do.
  const settled = (): boolean => failed || ready && inFlight === 0;
  const when = (done: () => boolean, deadline = Infinity): Promise<void> => new Promise((resolve) => {
    const check = (): void => {
      if (done() || Date.now() >= deadline) resolve();
      else setTimeout(check, 2);
    };
    check();
  });
  const queueBelow = (limit: number) => (): boolean => failed || ready && socket.getSendQueueCount() < limit;
  // Each datagram is a view into the encoder's buffer; a buffer some send still reads is left to it.
  const rewrite = o.rewrite ?? ((m: SipMessage): HepMessage => m);
  const encode = (m: HepMessage): void => {
    const start = encoder.size();
    const length = encoder.append(m);
    if (length === 0 || length > MAX_DATAGRAM) stats.hep_too_large++;
    else if (failed) stats.hep_dropped++;
    else if (ready) sendOne(encoder.packet(start, length));
    else if (pending.push(Buffer.from(encoder.bytes().subarray(start))) > PENDING_MAX) {
      pending.shift();
      stats.hep_dropped++;
    }
  };
  return {
    write(batch: MessageBatch) {
      if (ready) for (const p of pending.splice(0)) sendOne(p);
      if (inFlight > 0) encoder.replace();
      else encoder.reset();
      const cursor = batch.cursor();
      for (let i = 0; i < batch.count; i++) encode(rewrite(cursor.select(i)));
    },
    backlog() {
      if (ready && inFlight > UDP_IN_FLIGHT_HIGH_WATER) return untilFewerInFlight();
      return failed || ready && socket.getSendQueueCount() <= UDP_QUEUE_HIGH_WATER ? undefined : when(queueBelow(UDP_QUEUE_HIGH_WATER / 2));
    },
    async close(deadline) {
      await when(queueBelow(1), deadline);
      if (ready) for (const p of pending.splice(0)) sendOne(p);
      stats.hep_dropped += pending.length;
      await when(settled, deadline);
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
  const written = (err: Error | null | undefined, packets: number): void => {
    if (closing && socket?.destroyed) return;   // counted by close()
    inSocket -= packets;
    if (err) stats.hep_dropped += packets;
    else stats.hep_sent += packets;
  };
  const encoder = new HepEncoder(o.captureId, o.password);
  const rewrite = o.rewrite ?? ((m: SipMessage): HepMessage => m);
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
    // The batch's packets leave in one write, straight from the encoder's buffer. The next
    // batch reuses that buffer only if the socket holds nothing (the kernel took every byte);
    // while a write is pending the socket keeps the buffer and the encoder takes a new one.
    write(batch: MessageBatch) {
      if (!online || !socket || socket.writableLength > SOCKET_MOST) {
        stats.hep_dropped += batch.count;
        return;
      }
      if (socket.writableLength > 0) encoder.replace();
      else encoder.reset();
      let packets = 0;
      const cursor = batch.cursor();
      for (let i = 0; i < batch.count; i++) {
        if (encoder.append(rewrite(cursor.select(i))) === 0) stats.hep_too_large++;
        else packets++;
      }
      if (packets === 0) return;
      inSocket += packets;
      socket.write(encoder.bytes(), (err) => written(err, packets));
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
