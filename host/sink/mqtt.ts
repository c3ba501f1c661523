// MQTT sink: each envelope is one PUBLISH on --topic. MQTT.js owns the
// connection (TLS, WebSocket, CONNECT with will and credentials, keepalive,
// presence and telemetry); the envelopes bypass its per-message machinery.
// Each batch is encoded once into whole PUBLISH packets in one buffer, queued
// as views into it, and written as contiguous runs straight to the client's
// stream, so a batch costs a handful of socket writes instead of one publish
// call (and one callback, one store entry) per message. QoS 1 packet ids come
// from our own range; PUBACKs are read from the client's packet events.
import { maskUrlPasswords } from "../redact";
import type { IClientOptions, MqttClient, Packet, IConnackPacket } from "mqtt";
import { mqttLibrary } from "../lazy";
import { readFileSync } from "node:fs";
import type { MessageBatch } from "../core/records";
import { byDeadline, type LineSink, type Shortfall } from "./sink";
import type { Logger } from "../log";
import { DeliveryQueue, type PublishPrefix, type Queued } from "./queue";
import { backoff } from "./backoff";

export interface MqttOptions {
  url: string;
  topic: string;
  clientId: string;
  qos: 0 | 1;
  protocolVersion: 4 | 5;
  username?: string;
  password?: string;
  ca?: string;               // file paths
  cert?: string;
  key?: string;
  insecure?: boolean;
  keepalive: number;         // seconds
  inflight: number;          // QoS 1 window
  queueMessages: number;
  queueBytes: number;
  statusTopic?: string;
  telemetryTopic?: string;
  telemetryInterval?: number; // seconds
  telemetry?: () => Record<string, number>; // counters of the rest of the pipeline
  flushTimeout: number;      // seconds, only for messages: close() is given its deadline
  stop?: AbortSignal;        // a stop signal: nothing waits on the sink any longer
  log: Logger;
}

export interface MqttStats {
  mqtt_queued: number;          // envelopes handed to the sink
  mqtt_sent: number;            // PUBLISH packets written (resends included)
  mqtt_acked: number;           // QoS 1: acknowledged by the broker
  mqtt_rejected: number;        // MQTT 5: acknowledged with an error reason
  mqtt_resent: number;          // QoS 1: sent again after a reconnect (possible duplicates)
  mqtt_dropped: number;         // oldest dropped from a full queue
  mqtt_undelivered: number;     // still queued or unacknowledged when the sink closed
  mqtt_queue_depth: number;
  mqtt_queue_bytes: number;
  mqtt_inflight: number;
  mqtt_reconnects: number;
  mqtt_connected: number;       // 1 or 0
}

export interface MqttSink extends LineSink {
  stats(): MqttStats;
  connected(): boolean;
  // After close: what this output could not deliver, for the run's failure line; undefined when nothing.
  shortfall(): Shortfall | undefined;
}


// Packet ids 1..OWN_IDS are the envelopes'; MQTT.js numbers its own (presence,
// telemetry) above them, so an acknowledgement is never claimed by both.
const OWN_IDS = 60000;
const HIGH_WATER_BYTES = 8 << 20;   // bytes in the socket before we stop writing

class UpperIdProvider {
  private next = OWN_IDS + 1;
  private last = 0;
  allocate(): number {
    this.last = this.next;
    this.next = this.next === 65535 ? OWN_IDS + 1 : this.next + 1;
    return this.last;
  }
  getLastAllocated(): number { return this.last; }
  register(): boolean { return true; }
  deallocate(): void {}
  clear(): void {}
}

export function mqttSink(o: MqttOptions): MqttSink {
  const queue = new DeliveryQueue(o.queueMessages, o.queueBytes);
  const topic = Buffer.from(o.topic, "utf8");
  const prefix = publishPrefix(topic, o.qos, o.protocolVersion);
  const inflight: Array<Queued | undefined> = new Array(OWN_IDS + 1);
  const freeIds: number[] = [];
  for (let id = OWN_IDS; id >= 1; id--) freeIds.push(id);
  const stats: MqttStats = {
    mqtt_queued: 0, mqtt_sent: 0, mqtt_acked: 0, mqtt_rejected: 0, mqtt_resent: 0, mqtt_dropped: 0,
    mqtt_undelivered: 0, mqtt_queue_depth: 0, mqtt_queue_bytes: 0, mqtt_inflight: 0, mqtt_reconnects: 0, mqtt_connected: 0,
  };
  let window = Math.min(o.inflight, OWN_IDS);
  let online = false;
  let closing = false;
  let everConnected = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let pumpQueued = false;
  let waiters: Array<() => void> = [];
  const where = brokerName(o.url);

  const client: MqttClient = mqttLibrary().connect(o.url, clientOptions(o));
  o.stop?.addEventListener("abort", () => wake());

  // How far a source that can wait may run ahead of the broker: a few windows while it
  // keeps up (more only costs memory), half the queue while it is away.
  const readAhead = (): number => (online ? Math.min(queue.capacity / 2, Math.max(4 * window, 8192)) : queue.capacity / 2);

  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const resolve of w) resolve();
  };

  const schedulePump = (): void => {
    if (pumpQueued) return;
    pumpQueued = true;
    queueMicrotask(() => {
      pumpQueued = false;
      pump();
    });
  };

  // Writes queued packets while the window and the socket allow, joining
  // packets that sit next to each other in one batch buffer into one write.
  const pump = (): void => {
    const stream = client.stream;
    if (!online || !stream || stream.destroyed) return;
    let runBuf: Buffer | undefined;
    let runStart = 0;
    let runEnd = 0;
    const writeRun = (): void => {
      if (runBuf) stream.write(runBuf.subarray(runStart, runEnd));
      runBuf = undefined;
    };
    while (queue.length > 0 && stream.writableLength < HIGH_WATER_BYTES) {
      if (o.qos === 1 && stats.mqtt_inflight >= window) break;
      const item = queue.shift();
      if (o.qos === 1) {
        const id = freeIds.pop() as number;
        item.buf.writeUInt16BE(id, item.idAt);
        inflight[id] = item;
        stats.mqtt_inflight++;
      }
      if (runBuf === item.buf && runEnd === item.start) runEnd = item.end;
      else {
        writeRun();
        [runBuf, runStart, runEnd] = [item.buf, item.start, item.end];
      }
      stats.mqtt_sent++;
    }
    writeRun();
    if (o.qos === 0) stats.mqtt_acked = stats.mqtt_sent;
    if (queue.length > 0 && stream.writableLength >= HIGH_WATER_BYTES) stream.once("drain", schedulePump);
    if (queue.length < readAhead()) wake();
  };

  // After a reconnect every unacknowledged packet goes out again, flagged DUP
  // (MQTT 3.1.1 §4.4), ahead of the queue.
  const requeueInflight = (): void => {
    const again: Queued[] = [];
    for (let id = 1; id <= OWN_IDS; id++) {
      const item = inflight[id];
      if (!item) continue;
      inflight[id] = undefined;
      freeIds.push(id);
      item.buf[item.start] |= 0x08;
      again.push(item);
    }
    again.sort((a, b) => a.seq - b.seq);
    stats.mqtt_resent += again.length;
    stats.mqtt_inflight = 0;
    stats.mqtt_dropped += queue.unshiftAll(again);
  };

  client.on("packetreceive", (packet: Packet) => {
    if (packet.cmd !== "puback" || packet.messageId === undefined || packet.messageId > OWN_IDS) return;
    const id = packet.messageId;
    const item = inflight[id];
    if (!item) return;
    inflight[id] = undefined;
    freeIds.push(id);
    stats.mqtt_inflight--;
    stats.mqtt_acked++;
    const reason = packet.reasonCode ?? 0;
    if (reason >= 0x80) {
      if (stats.mqtt_rejected++ === 0) {
        o.log.warn(`mqtt: the broker refuses messages on ${o.topic} (reason ${reason}${reason === 135 ? ", not authorized: check the broker's ACL for this client and topic" : ""})`, { broker: where });
      }
      // The envelope carries the SIP message: shown only with --log-sip.
      const envelope = item.buf.toString("utf8", item.buf.indexOf(0x7b, item.start), item.end);
      o.log.debug("mqtt: the broker refused a message", { broker: where, reason, envelope: o.log.sip(envelope) });
    }
    schedulePump();
  });

  client.on("connect", (connack: IConnackPacket) => {
    online = true;
    lastError = "";
    attempt = 0;
    if (everConnected) stats.mqtt_reconnects++;
    everConnected = true;
    stats.mqtt_connected = 1;
    const receiveMaximum = connack.properties?.receiveMaximum;
    window = Math.min(o.inflight, OWN_IDS, receiveMaximum ?? OWN_IDS);
    o.log.info("mqtt: connected", { broker: where, client_id: o.clientId, window, queued: queue.length + stats.mqtt_inflight });
    if (o.statusTopic) client.publish(o.statusTopic, "online", { qos: 1, retain: true });
    requeueInflight();
    schedulePump();
  });

  client.on("close", () => {
    const wasOnline = online;
    online = false;
    stats.mqtt_connected = 0;
    if (wasOnline && !closing) o.log.warn("mqtt: connection lost; queueing while reconnecting", { broker: where, queued: queue.length });
    wake();
    if (closing) return;
    const delay = backoff(attempt++);
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(() => client.reconnect(), delay);
    o.log.debug("mqtt: reconnecting", { broker: where, in_ms: delay });
  });

  // The same failure again while retrying is logged at debug, not once per attempt.
  let lastError = "";
  client.on("error", (err: Error & { code?: string | number }) => {
    const text = `mqtt: ${explain(err, where)}`;
    if (text === lastError) o.log.debug(text, { broker: where, attempt });
    else o.log.warn(text, { broker: where });
    lastError = text;
  });

  const telemetryTimer = o.telemetryTopic
    ? setInterval(() => {
      if (!online || !o.telemetryTopic) return;
      client.publish(o.telemetryTopic, JSON.stringify(telemetry(o, stats, queue)), { qos: 0 });
    }, (o.telemetryInterval ?? 30) * 1000)
    : undefined;
  telemetryTimer?.unref();

  // Telemetry's last word, `offline` on the status topic, DISCONNECT.
  const goodbye = async (): Promise<void> => {
    if (o.telemetryTopic) client.publish(o.telemetryTopic, JSON.stringify(telemetry(o, stats, queue)), { qos: 0 });
    if (o.statusTopic) {
      await new Promise<void>((resolve) => client.publish(o.statusTopic as string, "offline", { qos: 1, retain: true }, () => resolve()));
    }
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  };

  const drainedOrDeadline = (deadline: number): Promise<void> => new Promise((resolve) => {
    const check = (): void => {
      if (queue.length === 0 && stats.mqtt_inflight === 0 && (client.stream?.writableLength ?? 0) === 0) return resolve();
      if (Date.now() >= deadline) return resolve();
      setTimeout(check, 10);
    };
    check();
  });

  return {
    write(batch: MessageBatch) {
      this.writeLines(batch.ndjsonView(), batch.count);
    },
    writeLines(lines: Uint8Array, count: number) {
      const dropped = queue.addBatch(lines, prefix);
      stats.mqtt_queued += count;
      if (dropped > 0) {
        if (stats.mqtt_dropped === 0) o.log.warn("mqtt: queue full; dropping the oldest envelopes", { broker: where, queue_messages: o.queueMessages, queue_bytes: o.queueBytes });
        stats.mqtt_dropped += dropped;
      }
      if (online) schedulePump();
    },
    // A source that can wait (a file) waits while the queue is half full, for a
    // slow broker or one that is away, until the run is stopped; one that cannot
    // (live capture) goes on, and the bounded queue drops its oldest instead.
    backlog() {
      if (o.stop?.aborted || queue.length < readAhead() && queue.bytes < o.queueBytes / 2) return undefined;
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    // A broker that took everything gets a clean goodbye (offline status, DISCONNECT)
    // if there is time left; any other connection is cut: nothing more would get through.
    async close(deadline) {
      await drainedOrDeadline(deadline);
      closing = true;
      clearTimeout(reconnectTimer);
      if (telemetryTimer) clearInterval(telemetryTimer);
      stats.mqtt_undelivered = queue.length + stats.mqtt_inflight;
      if (stats.mqtt_undelivered > 0) {
        o.log.warn("mqtt: envelopes not delivered before the flush deadline", { broker: where, undelivered: stats.mqtt_undelivered, flush_timeout_s: o.flushTimeout });
      }
      if (!online || stats.mqtt_undelivered > 0 || await byDeadline(goodbye(), deadline) === "late") {
        client.end(true);
        client.stream?.destroy();
      }
    },
    shortfall() {
      const lost = stats.mqtt_undelivered + stats.mqtt_rejected + stats.mqtt_dropped;
      if (lost === 0) return undefined;
      const detail: string[] = [];
      const advice: string[] = [];
      if (stats.mqtt_undelivered > 0) {
        detail.push(`${stats.mqtt_undelivered} not acknowledged${stats.mqtt_sent === 0 ? " (none sent at all)" : ""}`);
        advice.push(everConnected ? "check that the broker is up and keeps up, or raise --flush-timeout" : "check that the broker is up and --mqtt names it");
      }
      if (stats.mqtt_rejected > 0) {
        detail.push(`${stats.mqtt_rejected} refused by the broker`);
        advice.push("check the broker's ACL for this client and topic");
      }
      if (stats.mqtt_dropped > 0) {
        detail.push(`${stats.mqtt_dropped} dropped from the full queue`);
        advice.push("raise --queue-messages and --queue-bytes for longer outages");
      }
      return { output: `--mqtt ${maskUrlPasswords(o.url)} (topic ${o.topic})`, count: lost, detail: detail.join(" and "), advice: advice.join("; ") };
    },
    stats() {
      stats.mqtt_queue_depth = queue.length;
      stats.mqtt_queue_bytes = queue.bytes;
      return { ...stats };
    },
    connected: () => online,
  };
}

function clientOptions(o: MqttOptions): IClientOptions {
  const options: IClientOptions = {
    clientId: o.clientId,
    protocolVersion: o.protocolVersion,
    keepalive: o.keepalive,
    clean: true,
    reconnectPeriod: 0,          // we reconnect ourselves, with backoff and jitter
    connectTimeout: 10000,
    queueQoSZero: false,         // MQTT.js's offline queue has no bound: never use it
    reschedulePings: false,      // not a timer reset per PUBACK; a PINGREQ each keepalive is cheap
    messageIdProvider: new UpperIdProvider(),
    properties: o.protocolVersion === 5 ? { receiveMaximum: 65535 } : undefined,
    rejectUnauthorized: !o.insecure,
  };
  if (o.username !== undefined) options.username = o.username;
  if (o.password !== undefined) options.password = o.password;
  if (o.ca) options.ca = readPem(o.ca, "--mqtt-ca");
  if (o.cert) options.cert = readPem(o.cert, "--mqtt-cert");
  if (o.key) options.key = readPem(o.key, "--mqtt-key");
  if (o.statusTopic) options.will = { topic: o.statusTopic, payload: Buffer.from("offline"), qos: 1, retain: true };
  return options;
}

function readPem(file: string, option: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${option}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function publishPrefix(topic: Buffer, qos: 0 | 1, version: 4 | 5): PublishPrefix {
  const parts = [Buffer.from([topic.length >> 8, topic.length & 255]), topic];
  const idAt = qos === 1 ? 2 + topic.length : -1;
  if (qos === 1) parts.push(Buffer.from([0, 0]));
  if (version === 5) parts.push(Buffer.from([0]));
  return { first: 0x30 | (qos << 1), afterLength: Buffer.concat(parts), idAt };
}

function telemetry(o: MqttOptions, s: MqttStats, queue: DeliveryQueue): Record<string, number | string> {
  const c = o.telemetry?.() ?? {};
  return {
    time: new Date().toISOString(),
    packets: c.frames ?? 0,
    messages: (c.sip_udp ?? 0) + (c.sip_tcp ?? 0) + (c.sip_ws ?? 0),
    filtered: c.filter_rejected ?? 0,
    published: s.mqtt_acked,
    dropped: s.mqtt_dropped,
    queue_depth: queue.length,
    reconnects: s.mqtt_reconnects,
    kernel_drops: c.kernel_drops ?? 0,
  };
}

function brokerName(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return maskUrlPasswords(url);
  }
}

function explain(err: Error & { code?: string | number }, where: string): string {
  const code = err.code;
  if (code === "ECONNREFUSED") return `broker ${where} refused the connection; retrying with backoff`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `cannot resolve the broker's host in ${where}: check --mqtt`;
  if (code === 4 || code === 134) return `broker ${where} refused the connection (bad user name or password): check --username/--password`;
  if (code === 5 || code === 135) return `broker ${where} refused the connection (not authorized): check --username/--password and the broker's ACL`;
  if (/certificate|SSL|TLS|alert/i.test(err.message)) return `TLS with ${where} failed (${err.message}): check --mqtt-ca, --mqtt-cert and --mqtt-key`;
  return `${where}: ${err.message}`;
}
