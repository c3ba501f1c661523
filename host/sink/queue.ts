// The MQTT sink's queue: whole encoded PUBLISH packets, as views into one
// buffer per batch, bounded in messages and in bytes. When full, the oldest
// go first (a sensor cares most about what is happening now) and are counted.

// Fixed header byte, then (after the remaining length) the topic and, at QoS 1,
// room for the packet id; MQTT 5 adds an empty property list (§3.3.2.3).
export interface PublishPrefix {
  first: number;
  afterLength: Buffer;   // topic length, topic, [packet id], [properties length]
  idAt: number;          // offset of the packet id in afterLength, or -1
}

export interface Queued {
  buf: Buffer;     // the batch's packets
  start: number;   // this packet's bytes in buf
  end: number;
  idAt: number;    // where its packet id goes in buf (QoS 1)
  seq: number;     // arrival order, to resend in order
}

const NEWLINE = 10;

export class DeliveryQueue {
  private items: Queued[] = [];
  private head = 0;
  private seq = 0;
  bytes = 0;

  constructor(readonly capacity: number, readonly capacityBytes: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  // Encodes each newline-terminated envelope of `ndjson` as a PUBLISH packet;
  // returns how many of the oldest were dropped to stay within bounds.
  addBatch(view: Uint8Array, prefix: PublishPrefix): number {
    // Buffer's indexOf is memchr; a plain Uint8Array's is an element-by-element loop.
    const ndjson = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    const ends: number[] = [];
    let size = 0;
    for (let at = 0; at < ndjson.length; ) {
      const nl = ndjson.indexOf(NEWLINE, at);
      const end = nl < 0 ? ndjson.length : nl;
      ends.push(end);
      size += packetSize(end - at, prefix);
      at = end + 1;
    }
    const buf = Buffer.allocUnsafe(size);
    let out = 0;
    let from = 0;
    for (const end of ends) {
      const start = out;
      const payload = end - from;
      buf[out++] = prefix.first;
      out = writeLength(buf, out, prefix.afterLength.length + payload);
      const idAt = prefix.idAt < 0 ? -1 : out + prefix.idAt;
      out += prefix.afterLength.copy(buf, out);
      out += ndjson.copy(buf, out, from, end);
      this.items.push({ buf, start, end: out, idAt, seq: this.seq++ });
      this.bytes += out - start;
      from = end + 1;
    }
    return this.dropOverflow();
  }

  shift(): Queued {
    const item = this.items[this.head];
    this.items[this.head++] = undefined as unknown as Queued;
    this.bytes -= item.end - item.start;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  // Puts packets back at the front (unacknowledged ones after a reconnect).
  unshiftAll(front: Queued[]): number {
    if (front.length === 0) return 0;
    this.items = front.concat(this.items.slice(this.head));
    this.head = 0;
    for (const item of front) this.bytes += item.end - item.start;
    return this.dropOverflow();
  }

  private dropOverflow(): number {
    let dropped = 0;
    while (this.length > 0 && (this.length > this.capacity || this.bytes > this.capacityBytes)) {
      this.shift();
      dropped++;
    }
    return dropped;
  }
}

function packetSize(payload: number, prefix: PublishPrefix): number {
  const remaining = prefix.afterLength.length + payload;
  return 1 + lengthBytes(remaining) + remaining;
}

function lengthBytes(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

// MQTT's variable byte integer (§1.5.5 of MQTT 5, §2.2.3 of 3.1.1).
function writeLength(buf: Buffer, at: number, n: number): number {
  do {
    let byte = n & 127;
    n >>>= 7;
    if (n > 0) byte |= 128;
    buf[at++] = byte;
  } while (n > 0);
  return at;
}
