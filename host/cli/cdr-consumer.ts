// `siphon cdr --mqtt URL --events TOPIC`: events from a broker, each QoS 1
// message acknowledged only once the rows its events make are committed in
// PostgreSQL, so a consumer that dies leaves its unacknowledged messages with
// the broker, to be delivered again; the rows are idempotent, so a message
// read twice writes nothing twice. With --share GROUP several consumers split
// one stream ($share/GROUP/TOPIC). MQTT 5: MQTT.js lets a reader decide its
// acknowledgements (customHandleAcks) only on MQTT 5 connections.
import type { Duplex } from "node:stream";
import type { IClientOptions, IPublishPacket, MqttClient } from "mqtt";
import { mqttLibrary } from "../lazy";
import { maskUrlPasswords } from "../redact";
import { checkTopicFilter, sharedFilter } from "./topics";
import type { Committed } from "../sink";

export interface TopicReader {
  url: string;
  topic: string;                // a topic filter: siphon/+/events takes every sensor
  share?: string;               // a shared subscription's group
  clientId?: string;            // stable: a persistent session the broker keeps while the reader is away
  take(line: string, committed: Committed): void;
  flushSoon(): void;            // rows waiting for acknowledgement go to the database without waiting for a full batch
  stopped: Promise<void>;       // SIGINT/SIGTERM, or the database failed
  drain(): Promise<unknown>;    // the last rows committed (or given up) after the stop
}

// How long the broker keeps a named reader's session (its subscription, the
// messages it had not acknowledged and those published meanwhile) while it is away.
export const SESSION_EXPIRY_S = 3600;
// QoS 1 messages the broker may send before the first is acknowledged: several
// INSERT batches' worth, so the database sees full batches under load.
export const RECEIVE_MAXIMUM = 4096;

// MQTT.js handles incoming packets one at a time and reads the next only after
// the acknowledgement callback: holding it until a row is committed would read
// one event per database round trip. So the callback is answered at once with
// this marker, which MQTT.js takes as "send no PUBACK" (it reports it as an
// 'error', ignored below), and the PUBACK is written when the rows are committed.
const ACK_LATER = new Error("siphon cdr acknowledges this message once its rows are committed");

interface Unacked {
  stream: Duplex;     // the connection it came on: a PUBACK on a later one would acknowledge another message
  id: number;
  waiting: number;    // its lines not yet committed, plus one while they are being taken
}

export function subscriptionOf(topic: string, share: string | undefined): string {
  checkTopicFilter(topic, "--events");
  return share === undefined ? topic : sharedFilter(share, topic);
}

export async function readTopic(r: TopicReader): Promise<void> {
  const subscription = subscriptionOf(r.topic, r.share);
  const where = maskUrlPasswords(r.url);
  let unacked: Unacked[] = [];   // from `head` on: a queue without a shift() per acknowledgement
  let head = 0;
  let accepting = true;
  let flushQueued = false;
  let client: MqttClient | undefined;

  // PUBACKs go in the order the messages came (MQTT 5 §4.6), so a message waits for those before it.
  const acknowledgeReady = (): void => {
    while (head < unacked.length && unacked[head].waiting === 0) {
      const { stream, id } = unacked[head++];
      // PUBACK with reason 0 and no properties: the two-byte form (MQTT 5 §3.4.2.1).
      if (stream === client?.stream && !stream.destroyed) stream.write(Buffer.from([0x40, 2, id >> 8, id & 255]));
    }
    if (head > 1024 && head * 2 > unacked.length) {
      unacked = unacked.slice(head);
      head = 0;
    }
  };
  const settle = (entry: Unacked) => (): void => {
    entry.waiting--;
    if (entry === unacked[head]) acknowledgeReady();
  };
  const flushAfterBurst = (): void => {
    if (flushQueued) return;
    flushQueued = true;
    setImmediate(() => {
      flushQueued = false;
      r.flushSoon();
    });
  };
  const takeLines = (payload: Buffer, committed: Committed): void => {
    for (const line of payload.toString("utf8").split("\n")) r.take(line, committed);
  };

  const options: IClientOptions = {
    protocolVersion: 5,
    reconnectPeriod: 1000,
    clean: r.clientId === undefined,
    ...(r.clientId === undefined ? {} : { clientId: r.clientId }),
    properties: { receiveMaximum: RECEIVE_MAXIMUM, ...(r.clientId === undefined ? {} : { sessionExpiryInterval: SESSION_EXPIRY_S }) },
    customHandleAcks: (_topic: string, payload: Buffer, packet: IPublishPacket, done: (error: Error | number, code?: number) => void) => {
      // After the stop nothing more is taken; not acknowledged, it stays with the broker.
      if (accepting && client?.stream) {
        const entry: Unacked = { stream: client.stream, id: packet.messageId ?? 0, waiting: 1 };
        unacked.push(entry);
        const lineDone = settle(entry);
        for (const line of payload.toString("utf8").split("\n")) {
          entry.waiting++;
          r.take(line, lineDone);
        }
        lineDone();
        flushAfterBurst();
      }
      done(ACK_LATER);
    },
  };
  client = mqttLibrary().connect(r.url, options);
  client.on("message", (_topic, payload, packet) => {
    if (packet.qos === 0 && accepting) takeLines(payload, () => undefined);
  });
  client.on("connect", (connack) => {
    // A session the broker kept holds the subscription already; subscribing again is harmless and covers a new one.
    client?.subscribe(subscription, { qos: 1 }, (err, granted) => {
      const code: number = granted?.[0]?.qos ?? 0;
      if (err || code >= 0x80) {
        process.stderr.write(`siphon cdr: cannot subscribe to ${subscription} on ${where}: ${err?.message ?? `reason ${code}${code === 0x9e ? ", the broker does not support shared subscriptions" : ""}`}\n`);
      } else {
        process.stderr.write(`siphon cdr: reading events from ${subscription} on ${where}${connack.sessionPresent ? " (session resumed)" : ""}\n`);
      }
    });
  });
  client.on("error", (err) => {
    if (err !== ACK_LATER) process.stderr.write(`siphon cdr: mqtt ${where}: ${maskUrlPasswords(err.message)}\n`);
  });
  await r.stopped;
  accepting = false;
  await r.drain();
  acknowledgeReady();
  // Forced: a broker that froze would never answer a DISCONNECT. A PUBACK the socket had not sent
  // yet is lost with it; the broker delivers that message again, and its row is written the same.
  await client.endAsync(true);
}
