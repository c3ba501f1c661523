// The web view's bytes in arrival order: each message's record and bytes, and
// each event's JSON, copied into large slabs; the slabs let go oldest first when
// the next one would pass the byte bound, or when the store's oldest call began
// after them; a few numbers per entry in typed arrays (its slab and offset, a
// text's length, a message's call key, and the next entry of its call, which
// store.ts links). A batch's messages go in by runs, as many as fit the newest
// slab: their records in one copy, then their bytes in a few blocks, each record
// rewritten to say where its bytes are (MessageBatch.storeRun).
// No object and no string per message or event is kept: what the window holds
// is out of the JavaScript heap, where the garbage collector does not trace it.
import { STORED_RECORD_BYTES, storedCallId, storedCallKey, storedEnd, storedMessage, type MessageBatch, type SipMessage } from "../core/records";

// One allocation for many messages; the byte bound counts whole slabs. A message larger
// than a slab gets one of its own size.
export const SLAB_BYTES = 64 * 1024;
const FIRST_CAPACITY = 1024;
// Slabs let go are kept for reuse up to this many: a fresh one costs page faults and cold caches.
const SPARE_SLABS = 4;
export const TEXT = -1;     // the key of an entry that is text, not a message
// The index's bytes per entry: three 32-bit and two 64-bit numbers.
const INDEX_BYTES = 4 * 3 + 8 * 2;

export class MessageRing {
  first = 0;                          // the oldest message held (messages are numbered from 0 as they arrive)
  next = 0;                           // the number the next message gets
  bytesHeld = 0;                      // slabs and index
  private slabs: Buffer[] = [];       // oldest first
  private slabView: DataView | undefined;   // the newest slab's
  private slabFirst: number[] = [];   // the first message of each slab
  private slabBase = 0;               // the number of slabs[0]; slabs are numbered as they are made
  private used = 0;                   // bytes used in the newest slab
  private readonly spare: Buffer[] = [];   // slabs let go, made the next ones
  private mask = FIRST_CAPACITY - 1;
  private slabOf = new Int32Array(FIRST_CAPACITY);
  private atOf = new Int32Array(FIRST_CAPACITY);
  private lengthOf = new Int32Array(FIRST_CAPACITY);
  private keyOf = new Float64Array(FIRST_CAPACITY);
  private linkOf = new Float64Array(FIRST_CAPACITY);

  // `letGo(keep)` is told before the messages numbered below `keep` are let go.
  constructor(private readonly bytes: number, private readonly letGo: (keep: number) => void) {
    this.bytesHeld = FIRST_CAPACITY * INDEX_BYTES;
    // Stored again so that V8 takes them for fields that change: else it compiles indexRun with
    // them as the constant 0 and throws that code away when the first slab is let go.
    this.slabBase = this.first = 0;
  }

  // The batch's messages from the i-th on, as many as fit in the newest slab (a new one made if
  // not even the first does), copied in; those with a Call-ID numbered, in order (the others
  // take their bytes but no number). The index of the first message not copied.
  addRun(batch: MessageBatch, i: number): number {
    const slab = this.slabs[this.slabs.length - 1];
    let count = slab === undefined ? 0 : batch.storeRun(i, slab, this.used);
    if (count === 0) count = batch.storeRun(i, this.newSlab(batch.storedLength(i)), 0);
    this.indexRun(count);
    return i + count;
  }

  // The run of `count` messages storeRun just copied at `used`, numbered: one loop, the index
  // grown for them first.
  private indexRun(count: number): void {
    while (this.next + count - this.first > this.mask + 1) this.grow();
    const view = this.slabView as DataView;
    const slab = this.slabBase + this.slabs.length - 1;
    const run = this.used;
    for (let k = 0, at = run; k < count; k++, at += STORED_RECORD_BYTES) {
      const key = storedCallKey(view, at);
      if (key < 0) continue;
      const s = this.next++ & this.mask;
      this.slabOf[s] = slab;
      this.atOf[s] = at;
      this.keyOf[s] = key;
    }
    this.used = storedEnd(view, run + (count - 1) * STORED_RECORD_BYTES);
  }

  // Text (an event's JSON) copied in as UTF-8; its number.
  addText(text: string): number {
    // Written without measuring first when it surely fits (UTF-8 takes at most 3 bytes a UTF-16 unit).
    const slab = this.slabs[this.slabs.length - 1];
    const sure = slab !== undefined && this.used + text.length * 3 <= slab.length;
    const length = sure ? slab.write(text, this.used) : Buffer.byteLength(text);
    if (!sure) this.room(length).write(text, this.used);
    const seq = this.indexText(length);
    this.used += length;
    return seq;
  }

  // An event's line as the core rendered it (EventOutput.writeLine), without its newline and
  // with `extra` members put before its closing brace: the bytes copied, no string made; its number.
  // The copy is a plain view's: Buffer.copy runs Node's JavaScript and property look-ups around the same set.
  addLine(source: Buffer, start: number, end: number, extra: string): number {
    const body = (extra === "" ? end - 1 : end - 2) - start;
    const slab = this.room(body + extra.length * 3 + 1);
    slab.set(new Uint8Array(source.buffer, source.byteOffset + start, body), this.used);
    let at = this.used + body;
    if (extra !== "") {
      at += slab.write(extra, at);
      slab[at++] = 0x7d;
    }
    const seq = this.indexText(at - this.used);
    this.used = at;
    return seq;
  }

  // A message's call key; TEXT for text.
  key(seq: number): number {
    return this.keyOf[seq & this.mask];
  }

  text(seq: number): string {
    const s = seq & this.mask;
    const at = this.atOf[s];
    return this.slabs[this.slabOf[s] - this.slabBase].toString("utf8", at, at + this.lengthOf[s]);
  }

  // The newest slab with `length` bytes free at `used`.
  private room(length: number): Buffer {
    const slab = this.slabs[this.slabs.length - 1];
    return slab === undefined || this.used + length > slab.length ? this.newSlab(length) : slab;
  }

  // The text just copied at `used`, numbered.
  private indexText(length: number): number {
    if (this.next - this.first > this.mask) this.grow();
    const s = this.next & this.mask;
    this.slabOf[s] = this.slabBase + this.slabs.length - 1;
    this.atOf[s] = this.used;
    this.lengthOf[s] = length;
    this.keyOf[s] = TEXT;
    return this.next++;
  }

  // The message after `seq` in its call (-1 for none), as the store linked them.
  link(seq: number): number {
    return this.linkOf[seq & this.mask];
  }

  setLink(seq: number, to: number): void {
    this.linkOf[seq & this.mask] = to;
  }

  // A held message read in place in its slab.
  message(seq: number): SipMessage {
    const s = seq & this.mask;
    return storedMessage(this.slabs[this.slabOf[s] - this.slabBase], this.atOf[s]);
  }

  callId(seq: number): string {
    const s = seq & this.mask;
    return storedCallId(this.slabs[this.slabOf[s] - this.slabBase], this.atOf[s]);
  }

  // The slabs that hold only entries numbered below `seq` let go (the store's oldest call begins
  // at `seq`: nothing before it is shown), so that the ring is no larger than its calls need.
  letGoBefore(seq: number): void {
    while (this.slabs.length > 1 && this.slabFirst[1] <= seq) this.letGoOldest();
  }

  // A slab for a message of `length` bytes, the oldest let go while the bound would be passed.
  private newSlab(length: number): Buffer {
    const size = Math.max(SLAB_BYTES, length);
    while (this.slabs.length > 0 && this.bytesHeld + size > this.bytes) this.letGoOldest();
    const slab = size === SLAB_BYTES && this.spare.length > 0 ? this.spare.pop() as Buffer : Buffer.allocUnsafeSlow(size);
    this.slabs.push(slab);
    this.slabView = new DataView(slab.buffer, slab.byteOffset, slab.length);
    this.slabFirst.push(this.next);
    this.bytesHeld += size;
    this.used = 0;
    return slab;
  }

  private letGoOldest(): void {
    const keep = this.slabs.length > 1 ? this.slabFirst[1] : this.next;
    this.letGo(keep);
    const slab = this.slabs.shift() as Buffer;
    this.slabFirst.shift();
    this.slabBase++;
    this.bytesHeld -= slab.length;
    this.first = keep;
    if (slab.length === SLAB_BYTES && this.spare.length < SPARE_SLABS) this.spare.push(slab);
  }

  // Twice the index, each held entry at its place in the new one; the oldest slabs let go
  // if the larger index passes the bound (never the newest, which the entry going in is in).
  private grow(): void {
    const [mask, slabOf, atOf, lengthOf, keyOf, linkOf] = [this.mask, this.slabOf, this.atOf, this.lengthOf, this.keyOf, this.linkOf];
    const capacity = (mask + 1) * 2;
    this.mask = capacity - 1;
    [this.slabOf, this.atOf, this.lengthOf] = [new Int32Array(capacity), new Int32Array(capacity), new Int32Array(capacity)];
    [this.keyOf, this.linkOf] = [new Float64Array(capacity), new Float64Array(capacity)];
    for (let seq = this.first; seq < this.next; seq++) {
      const from = seq & mask;
      const to = seq & this.mask;
      this.slabOf[to] = slabOf[from];
      this.atOf[to] = atOf[from];
      this.lengthOf[to] = lengthOf[from];
      this.keyOf[to] = keyOf[from];
      this.linkOf[to] = linkOf[from];
    }
    this.bytesHeld += (capacity / 2) * INDEX_BYTES;
    while (this.bytesHeld > this.bytes && this.slabs.length > 1) this.letGoOldest();
  }
}
