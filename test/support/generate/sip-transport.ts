// How a SIP message goes on the wire: udpTransport sends it as one datagram; TcpTransport (--tcp)
// as a stream per direction, cut at random places, some segments swapped or sent twice, tails
// held for the next message. Takes rendered message bytes, a flow and a capture time; gives
// frames in the pcap whose stream bytes are exactly the messages, so the truth holds.

import { TOS_SIGNALLING, type Flow } from "./frames";
import { TCP_ACK, TCP_PSH, TCP_SYN, writeTcpFrame, writeUdpFrame, type TcpSegment } from "./packets";
import type { PcapWriter } from "./pcap";
import type { Rng } from "./rng";

/**
 * How one SIP message becomes frames: UDP and TCP; name is the truth's transport key. IP
 * fragments and tunnels are below any transport, in the packet writers (fragments-tunnels.ts).
 */
export interface SipTransport {
  name: string;
  write(out: PcapWriter, timeUs: number, flow: Flow, message: Uint8Array): void;
}

export const udpTransport: SipTransport = {
  name: "udp",
  write: (out, timeUs, flow, message) => writeUdpFrame(out, timeUs, flow, TOS_SIGNALLING, message),
};

interface TcpStream {
  flow: Flow;
  key: string;
  seq: number;              // sequence number of the next byte to send
  held: Buffer;             // the tail of the last message, sent with the next or within a second
  heldSinceUs: number;
}

const TCP_MSS = 1460;
const TCP_HOLD_US = 1_000_000;

/**
 * SIP over TCP. Each direction of a flow is a connection that opens with a SYN. Messages are
 * cut into segments of random size (up to an MSS), and a random tail of a message may be held
 * back and sent in one segment with the start of the next message on the connection (or alone
 * within a second), so segments carry several messages and messages span segments. Some
 * adjacent segments are swapped (out of order) and some sent twice (retransmitted): the bytes
 * of each stream are exactly the messages, so the truth stays the messages written.
 */
export class TcpTransport implements SipTransport {
  readonly name = "tcp";
  private readonly streams = new Map<string, TcpStream>();
  private readonly holding = new Set<TcpStream>();
  private lastUs = 0;
  /** Runs a step at a later capture time (the simulation's queue): a held tail goes out within a second. */
  schedule: (atUs: number, run: () => void) => void = () => undefined;

  constructor(private readonly rng: Rng) {}

  write(out: PcapWriter, timeUs: number, flow: Flow, message: Uint8Array): void {
    this.lastUs = timeUs;
    this.flushHeld(out, timeUs, timeUs - TCP_HOLD_US);
    const stream = this.stream(out, timeUs, flow);
    this.holding.delete(stream);
    const bytes = stream.held.byteLength > 0 ? Buffer.concat([stream.held, message]) : Buffer.from(message);
    const hold = this.rng.chance(0.3) ? this.rng.below(message.byteLength) : 0;
    this.send(out, timeUs, stream, bytes.subarray(0, bytes.byteLength - hold));
    stream.held = bytes.subarray(bytes.byteLength - hold);
    stream.heldSinceUs = timeUs;
    if (hold > 0) {
      this.holding.add(stream);
      this.schedule(timeUs + TCP_HOLD_US, () => this.sendHeld(out, timeUs + TCP_HOLD_US, stream, timeUs));
    }
  }

  /** Sends the tail a stream holds since heldSinceUs, unless a later message took it along already. */
  private sendHeld(out: PcapWriter, timeUs: number, stream: TcpStream, heldSinceUs: number): void {
    if (!this.holding.has(stream) || stream.heldSinceUs !== heldSinceUs) return;
    this.holding.delete(stream);
    this.send(out, timeUs, stream, stream.held);
    stream.held = Buffer.alloc(0);
  }

  /** Sends every tail still held; the workload ends with no byte unsent. */
  finish(out: PcapWriter): void {
    this.flushHeld(out, this.lastUs, Number.POSITIVE_INFINITY);
  }

  private flushHeld(out: PcapWriter, timeUs: number, heldBeforeUs: number): void {
    for (const stream of this.holding) {
      if (stream.heldSinceUs > heldBeforeUs) continue;
      this.holding.delete(stream);
      this.send(out, timeUs, stream, stream.held);
      stream.held = Buffer.alloc(0);
    }
  }

  private stream(out: PcapWriter, timeUs: number, flow: Flow): TcpStream {
    const key = `${flow.src.host.ip.text} ${flow.src.port} ${flow.dst.host.ip.text} ${flow.dst.port}`;
    let stream = this.streams.get(key);
    if (stream === undefined) {
      stream = { flow, key, seq: this.rng.u32(), held: Buffer.alloc(0), heldSinceUs: 0 };
      writeTcpFrame(out, timeUs, flow, { seq: stream.seq, ack: this.ackFor(flow), flags: TCP_SYN | TCP_ACK, payload: new Uint8Array(0) });
      stream.seq = (stream.seq + 1) >>> 0;
      this.streams.set(key, stream);
    }
    return stream;
  }

  /** What the other direction has sent: every byte is written before the peer could acknowledge it. */
  private ackFor(flow: Flow): number {
    const back = this.streams.get(`${flow.dst.host.ip.text} ${flow.dst.port} ${flow.src.host.ip.text} ${flow.src.port}`);
    return back === undefined ? 0 : back.seq;
  }

  private send(out: PcapWriter, timeUs: number, stream: TcpStream, bytes: Uint8Array): void {
    const segments: TcpSegment[] = [];
    const ack = this.ackFor(stream.flow);
    for (let at = 0; at < bytes.byteLength; ) {
      const length = Math.min(bytes.byteLength - at, this.rng.chance(0.5) ? TCP_MSS : 1 + this.rng.below(TCP_MSS));
      segments.push({ seq: (stream.seq + at) >>> 0, ack, flags: TCP_ACK | TCP_PSH, payload: bytes.subarray(at, at + length) });
      at += length;
    }
    stream.seq = (stream.seq + bytes.byteLength) >>> 0;
    for (let i = 0; i < segments.length; i++) {
      if (i + 1 < segments.length && this.rng.chance(0.05)) {
        writeTcpFrame(out, timeUs, stream.flow, segments[i + 1]);
        writeTcpFrame(out, timeUs, stream.flow, segments[i]);
        i++;
        continue;
      }
      writeTcpFrame(out, timeUs, stream.flow, segments[i]);
      if (this.rng.chance(0.03)) writeTcpFrame(out, timeUs, stream.flow, segments[i]);
    }
  }
}
