// What the core gives back, as the rest of the host reads it: one SipMessage per
// SIP message found (its addresses, its start line, the headers the core indexed,
// each by name), and the MessageBatch that holds one push's messages and
// envelopes. Sinks, the call tracker and the filter import these types from here,
// never the WebAssembly loader (core.ts) or the memory map (assembly/layout.ts):
// this file and core.ts are the only host files that read the core's records.
import * as L from "../../assembly/layout";
import type { EventLines } from "./event-lines";
import type { CoreTracker } from "./tracker-core";

export type Transport = "udp" | "tcp" | "ws";

// Shared between the messages of one address and port (see endpointOf): never changed.
export interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

export type TunnelType = "vxlan" | "geneve" | "gre" | "erspan" | "ip";

// The outermost tunnel a message arrived in: its IP endpoints, its type, and
// the VNI, GRE key or ERSPAN session where the tunnel has one.
export interface OuterTunnel {
  src: string;
  dst: string;
  type: TunnelType;
  id: number | undefined;
  depth: number;               // tunnels around the message, 1 unless nested
}

// What the tokenizer found wrong with a message (SipMessage.problems is a set of these bits).
export const PROBLEM = {
  contentLengthBad: L.PROB_CLEN_BAD,     // Content-Length not a number, or repeated with other values
  contentLengthShort: L.PROB_CLEN_SHORT, // Content-Length larger than the bytes present
  noCallId: L.PROB_NO_CALL_ID,
  noCseq: L.PROB_NO_CSEQ,
  headerOverflow: L.PROB_HEADER_OVERFLOW, // more header fields than the index holds
  truncated: L.PROB_TRUNCATED,           // the frame was cut by the snap length
  uriNotAscii: L.PROB_URI_NOT_ASCII,     // raw bytes 0x80-0xFF in the Request-URI
  statusRange: L.PROB_STATUS_RANGE,      // a status code outside 100-699
  noEmptyLine: L.PROB_NO_EMPTY_LINE,     // a datagram whose header section ran to its end without the empty line
} as const;

// The names of the problem bits set in `bits`, in a fixed order (parse-error events list them;
// L.PROB_NAMES[k] names bit 1 << k, the list the core's event renderer writes from).
export function problemNames(bits: number): string[] {
  return L.PROB_NAMES.filter((_, k) => (bits & (1 << k)) !== 0);
}

// The header fields the core indexes by number, their compact forms aligned (for the filter).
export const INDEXED_HEADERS: readonly string[] = L.HEADER_NAMES;
export const INDEXED_HEADERS_COMPACT: readonly string[] = L.HEADER_COMPACT;

// Where a message's record is read from: the core's memory in place, or a copy of the record.
interface RecordMemory {
  readonly u8: Uint8Array;
  readonly view: DataView;
}

// One SIP message as the core found it. Fields are read from the core's fixed-size
// record when first asked for, so a reader pays only for what it reads. A message
// taken in place (MessageBatch.message(i, true)) is valid only during the batch's
// handler call; a copied one for as long as it is held.
export class SipMessage {
  protected srcEndpoint: Endpoint | undefined;
  protected dstEndpoint: Endpoint | undefined;

  constructor(
    protected readonly memory: RecordMemory,
    protected at: number,            // the record's first byte in memory
    protected store: Buffer,         // holds the message's bytes from `base`
    protected base: number,
    protected length: number,
    readonly envelope: Buffer | undefined, // its JSON envelope, when rendered and copied
    // `store` as a plain Uint8Array where there is one (the core's memory): its subarray is V8's
    // own, where a Buffer's goes through Node's JavaScript (copyBytes).
    private readonly storeBytes: Uint8Array = store,
  ) {}

  // The message as reassembled.
  get bytes(): Buffer {
    return this.base === 0 && this.length === this.store.length ? this.store : this.store.subarray(this.base, this.base + this.length);
  }

  get size(): number {
    return this.length;
  }

  // The message's bytes copied to `target` at `at`, without making a view of them; returns where they end.
  copyBytes(target: Uint8Array, at: number): number {
    const from = this.base;
    target.set(this.storeBytes.subarray(from, from + this.length), at);
    return at + this.length;
  }

  private u32(offset: number): number {
    return this.memory.view.getUint32(this.at + offset, true);
  }

  private get flags(): number {
    return this.u32(L.REC_FLAGS);
  }

  // The core's 64-bit signature of the Call-ID bytes as a number (its low 53 bits), 0 without
  // a Call-ID: equal Call-IDs give equal keys, different ones differ but for a 2^-53 chance.
  // Also 0 from a core made with `callKeys: false` (a run that follows no calls).
  get callKey(): number {
    return (this.u32(L.REC_CALL_KEY + 4) & 0x1fffff) * 0x100000000 + this.u32(L.REC_CALL_KEY);
  }
  // The envelope's id: the core's signature of the message bytes (zeros in a run that renders no envelopes).
  get id(): string {
    return this.memory.view.getBigUint64(this.at + L.REC_HASH, true).toString(16).padStart(16, "0");
  }
  get timeUs(): number {  // capture time in microseconds since the epoch, read without a BigInt
    return this.timeSec * 1_000_000 + Math.floor(this.u32(L.REC_TS_NSEC) / 1000);
  }
  // i64 read as two halves: no BigInt per message (capture times fit 2^53).
  get timeSec(): number { return this.u32(L.REC_TS_SEC) + this.memory.view.getInt32(this.at + L.REC_TS_SEC + 4, true) * 4294967296; }
  get timeNsec(): number { return this.u32(L.REC_TS_NSEC); }
  get src(): Endpoint {
    return this.srcEndpoint ??= this.endpoint(L.REC_SRC_ADDR, L.REC_SRC_PORT);
  }
  get dst(): Endpoint {
    return this.dstEndpoint ??= this.endpoint(L.REC_DST_ADDR, L.REC_DST_PORT);
  }
  get ipv6(): boolean { return (this.flags & L.REC_F_IPV6) !== 0; }   // src and dst alike
  get srcPort(): number { return this.memory.view.getUint16(this.at + L.REC_SRC_PORT, true); }
  get dstPort(): number { return this.memory.view.getUint16(this.at + L.REC_DST_PORT, true); }
  get transport(): Transport { return transportName(this.flags & L.TRANSPORT_MASK); }
  get isRequest(): boolean { return (this.flags & L.REC_F_REQUEST) !== 0; }
  get status(): number { return this.u32(L.REC_STATUS); }          // 0 for a request
  get cseq(): number { return this.u32(L.REC_CSEQ); }
  get expires(): number { return this.memory.view.getInt32(this.at + L.REC_EXPIRES, true); }         // -1 when absent
  get contentLength(): number { return this.memory.view.getInt32(this.at + L.REC_CLEN, true); }      // -1 when absent
  get headerCount(): number { return this.u32(L.REC_HEADER_COUNT); }
  get problems(): number { return this.u32(L.REC_PROBLEMS); }      // PROBLEM bits
  get frame(): number { return this.u32(L.REC_FRAME); }            // the batch's index of the message's last frame
  get recordMatch(): boolean { return (this.flags & L.REC_F_RECORD) !== 0; } // --record-filter selected it
  get outer(): OuterTunnel | undefined { return this.outerTunnel(); }

  // Start line and indexed headers, by name; "" when the message has none. A core made with
  // `allFields: false` (a run that follows and filters nothing) reads only the Call-ID and
  // Content-Length of the header fields: the other fields are "" (a response's method too), cseq 0,
  // expires -1, headerCount counts those two, and problems says nothing of a CSeq.
  get method(): string { return this.text(L.SPAN_METHOD); }        // the request's, or the CSeq method of a response
  get uri(): string { return this.text(L.SPAN_URI); }              // Request-URI
  get reason(): string { return this.text(L.SPAN_REASON); }        // response reason phrase
  get callId(): string { return this.text(L.SPAN_CALL_ID); }
  get cseqMethod(): string { return this.text(L.SPAN_CSEQ_METHOD); }
  get from(): string { return this.text(L.SPAN_FROM); }            // whole From value
  // The tags are found only where dialogs are followed (CoreOptions.dialogSpans): else "".
  get fromTag(): string { return this.text(L.SPAN_FROM_TAG); }
  get to(): string { return this.text(L.SPAN_TO); }
  get toTag(): string { return this.text(L.SPAN_TO_TAG); }
  get contact(): string { return this.text(L.SPAN_CONTACT); }      // first Contact value
  get contentType(): string { return this.text(L.SPAN_CONTENT_TYPE); }
  get userAgent(): string { return this.text(L.SPAN_USER_AGENT); } // User-Agent, or Server in a response
  get body(): string { return this.text(L.SPAN_BODY); }
  get reasonHeader(): string { return this.text(L.SPAN_REASON_HEADER); } // RFC 3326
  get sessionId(): string { return this.text(L.SPAN_SESSION_ID); }  // RFC 7989
  get xCid(): string { return this.text(L.SPAN_X_CID); }
  get chargingVector(): string { return this.text(L.SPAN_P_CHARGING_VECTOR); } // RFC 7315
  get sdpText(): string { return this.text(L.SPAN_SDP); }          // the SDP, alone or the application/sdp part of a multipart body
  get sdp(): Sdp | undefined { return this.readSdp(); }

  private readSdp(): Sdp | undefined {
    const flags = this.u32(L.REC_SDP_FLAGS);
    if (flags === 0) return undefined;
    const v = this.memory.view;
    const pt = this.u32(L.REC_SDP_PT);
    const call = this.u32(L.REC_SDP_CALL);
    return {
      ip: (flags & L.SDP_F_NO_ADDR) !== 0 ? "" : formatIp(this.memory.u8, this.at + L.REC_SDP_ADDR, (flags & L.SDP_F_IPV6) !== 0),
      port: v.getUint16(this.at + L.REC_SDP_PORT, true),
      rtcpPort: v.getUint16(this.at + L.REC_SDP_RTCP_PORT, true),
      payloadType: pt === 0xffffffff ? -1 : pt,
      clockRate: this.u32(L.REC_SDP_CLOCK),
      codec: this.text(L.SPAN_SDP_CODEC) || staticCodec(pt),
      direction: sdpDirection(flags),
      media: this.u32(L.REC_SDP_MEDIA),
      hold: (flags & L.SDP_F_HOLD) !== 0,
      malformed: (flags & L.SDP_F_MALFORMED) !== 0,
      call: call === 0xffffffff ? -1 : call,
    };
  }

  // The source or destination address as bytes (4 for IPv4, 16 for IPv6), written to `target`
  // at `at`, for encoders that write addresses as bytes (HEP); returns where they end. Four
  // bytes a step, big-endian in and out: the bytes in their order.
  copyAddress(side: "src" | "dst", target: DataView, at: number): number {
    const from = this.at + (side === "src" ? L.REC_SRC_ADDR : L.REC_DST_ADDR);
    const end = at + (this.ipv6 ? 16 : 4);
    const view = this.memory.view;
    for (let i = 0; at + i < end; i += 4) target.setUint32(at + i, view.getUint32(from + i));
    return end;
  }

  // The Call-ID's value as bytes, for encoders: its length (0 when there is none), and a copy
  // to `target` at `at` while it is all ASCII (then its bytes are the envelope's call_id).
  get callIdLength(): number { return this.spanWord(L.SPAN_CALL_ID, 1); }

  // Returns where the copy ends, or -1 (some bytes written) when a byte is not ASCII. Four bytes
  // a step where the message is in `memory` (in place: the sinks' case), a byte a step otherwise.
  copyAsciiCallId(target: DataView, at: number): number {
    const length = this.callIdLength;
    const from = this.base + this.spanWord(L.SPAN_CALL_ID, 0);
    let i = 0;
    let high = 0;
    if (this.storeBytes === this.memory.u8) {
      const view = this.memory.view;
      for (; i + 4 <= length; i += 4) {
        const word = view.getUint32(from + i);
        high |= word;
        target.setUint32(at + i, word);
      }
    }
    for (; i < length; i++) {
      const byte = this.storeBytes[from + i];
      high |= byte;
      target.setUint8(at + i, byte);
    }
    return (high & 0x80808080) === 0 ? at + length : -1;
  }

  // A span by its number in assembly/layout.ts (SPAN_*): (offset, length) into `bytes`.
  // For tests and diagnostics that walk every span; readers use the names above.
  span(which: number): [offset: number, length: number] {
    return [this.spanWord(which, 0), this.spanWord(which, 1)];
  }

  // The first of `names` (upper-case ASCII) that the method is in any case, compared in place:
  // nothing decoded, the span read once; undefined when it is none of them.
  methodAmong(names: readonly string[]): string | undefined {
    const length = this.spanWord(L.SPAN_METHOD, 1);
    const at = this.base + this.spanWord(L.SPAN_METHOD, 0);
    const store = this.storeBytes;
    next: for (const name of names) {
      if (name.length !== length) continue;
      for (let i = 0; i < length; i++) if ((store[at + i] & 0xdf) !== name.charCodeAt(i)) continue next;
      return name;
    }
    return undefined;
  }

  has(which: number): boolean {
    return this.spanWord(which, 1) !== 0;
  }

  text(which: number): string {
    const length = this.spanWord(which, 1);
    if (length === 0) return "";
    const offset = this.base + this.spanWord(which, 0);
    return this.store.toString("utf8", offset, offset + length);  // invalid UTF-8: U+FFFD, as the envelope
  }

  private spanWord(which: number, word: 0 | 1): number {
    return this.u32(spanAt(which) + word * 4);
  }

  private endpoint(addr: number, port: number): Endpoint {
    const ipv6 = (this.flags & L.REC_F_IPV6) !== 0;
    const portNumber = this.memory.view.getUint16(this.at + port, true);
    if (ipv6) return { ip: formatIp(this.memory.u8, this.at + addr, true), port: portNumber };
    return endpointOf(this.memory.view.getUint32(this.at + addr, false), portNumber, this.memory.u8, this.at + addr);
  }

  private outerTunnel(): OuterTunnel | undefined {
    const type = this.u32(L.REC_OUTER_TYPE);
    if (type === L.TUNNEL_NONE) return undefined;
    const flags = this.flags;
    const ipv6 = (flags & L.REC_F_OUTER_IPV6) !== 0;
    return {
      src: formatIp(this.memory.u8, this.at + L.REC_OUTER_SRC, ipv6),
      dst: formatIp(this.memory.u8, this.at + L.REC_OUTER_DST, ipv6),
      type: L.TUNNEL_NAMES[type] as TunnelType,
      id: (flags & L.REC_F_OUTER_ID) !== 0 ? this.u32(L.REC_OUTER_ID) : undefined,
      depth: this.u32(L.REC_OUTER_DEPTH),
    };
  }
}

// The SDP of a message: where its first audio stream wants to receive and how.
export interface Sdp {
  ip: string;                  // c= of the first audio m= line (media-level, else session-level); "" when none
  port: number;                // its m= port (0: the stream is refused)
  rtcpPort: number;            // a=rtcp (RFC 3605), else port + 1
  payloadType: number;         // the first format of the m= line, -1 when none
  clockRate: number;           // a=rtpmap's, else the static type's (RFC 3551), 0 when unknown
  codec: string;               // a=rtpmap's encoding name, else the static type's name, "" when unknown
  direction: "sendrecv" | "sendonly" | "recvonly" | "inactive";
  media: number;               // m= lines in the SDP
  hold: boolean;               // c= 0.0.0.0 (RFC 3264 §8.4)
  malformed: boolean;          // a line or address could not be read (the rest was)
  call: number;                // the media call slot it was entered in, -1 when none
}

function sdpDirection(flags: number): Sdp["direction"] {
  if ((flags & L.SDP_F_SENDONLY) !== 0) return "sendonly";
  if ((flags & L.SDP_F_RECVONLY) !== 0) return "recvonly";
  if ((flags & L.SDP_F_INACTIVE) !== 0) return "inactive";
  return "sendrecv";
}

// RFC 3551 Table 4: the encoding names of the static audio payload types.
const STATIC_CODECS: Record<number, string> = {
  0: "PCMU", 3: "GSM", 4: "G723", 5: "DVI4", 6: "DVI4", 7: "LPC", 8: "PCMA", 9: "G722", 10: "L16", 11: "L16",
  12: "QCELP", 13: "CN", 14: "MPA", 15: "G728", 16: "DVI4", 17: "DVI4", 18: "G729",
};

export function staticCodec(pt: number): string {
  return STATIC_CODECS[pt] ?? "";
}

// One RTP or RTCP packet of a known call (MessageBatch.media, only when the core
// was made with mediaPackets). Read in place: valid only during the batch's handler call.
export interface MediaPacket {
  readonly call: number;         // the media call slot
  readonly generation: number;   // the call's serial number: it names one call for the run
  readonly callId: string;       // "" only when the call's slot was taken again in this push and its stats record lost (media_ends_lost)
  readonly direction: 0 | 1;     // 0: sent from the side that made the call's first offer
  readonly rtcp: boolean;
  readonly ssrc: number;
  readonly seq: number;          // 0 for RTCP
  readonly rtpTime: number;      // 0 for RTCP
  readonly payloadType: number;  // RTCP: the first packet's type (200 SR, 201 RR, ...)
  readonly marker: boolean;
  readonly payload: Uint8Array;  // RTP: after the header, CSRCs and extension, padding removed; RTCP: the whole compound packet
  readonly timeUs: number;       // capture time, microseconds since the epoch
  readonly frame: number;        // index in the batch of its frame (MessageBatch.frame)
}

// One frame of the batch exactly as captured: a view valid only during the handler call.
export interface CapturedFrame {
  bytes: Uint8Array;
  linkType: number;
  timeUs: number;
  origLen: number;
}

// A call's media as the core counted it, given when the call leaves the media table; a call ended
// by a BYE is given twice: at the BYE (its figures up to it), and when its endpoints leave 4 s of
// capture time later or at the input's end (afterBye: its final figures, the late RTP included).
export interface CallMedia {
  callId: string;
  reason: "bye" | "failed" | "idle" | "evicted" | "end"; // "end": the input ended with the call held
  afterBye: boolean;
  firstUs: number;               // capture time of its first SDP
  lastUs: number;                // of its last SDP or media packet
  streams: [StreamQuality, StreamQuality]; // direction 0 (from the first offerer), direction 1
}

// One direction's RTP (RFC 3550 A.1, A.3, A.8) and what the receiver's RTCP reported of it.
export interface StreamQuality {
  packets: number;
  expected: number;
  lost: number;                  // expected - packets: negative with duplicates
  duplicates: number;
  outOfOrder: number;
  ssrcChanges: number;
  ssrc: number;
  payloadType: number;           // -1 before the first packet
  codec: string;
  clockRate: number;
  jitterMs: number;              // interarrival jitter at the end
  maxJitterMs: number;
  rtcpPackets: number;           // RTCP packets sent by this direction's sender
  rtcpReports: number;           // report blocks about this stream (from its receiver)
  rtcpFractionLost: number;      // the last one's, 0-1
  rtcpLost: number;              // the last one's cumulative lost
  rtcpJitterMs: number;          // the last one's jitter
}

// A message MessageBatch.storeRun wrote into `from` with its record at `at`, read in place:
// valid while `from` is kept.
export function storedMessage(from: Buffer, at: number): SipMessage {
  const view = new DataView(from.buffer, from.byteOffset, from.byteLength);
  return new SipMessage({ u8: from, view }, at, from, view.getUint32(at + L.REC_MSG_ADDR, true), view.getUint32(at + L.REC_MSG_LEN, true), undefined);
}

// The Call-ID of a message storeRun wrote into `from` with its record at `at`, read without making its SipMessage.
export function storedCallId(from: Buffer, at: number): string {
  const span = at + spanAt(L.SPAN_CALL_ID);
  const length = u32le(from, span + 4);
  if (length === 0) return "";
  const start = u32le(from, at + L.REC_MSG_ADDR) + u32le(from, span);
  return from.toString("utf8", start, start + length);
}

// Four bytes read as a little-endian number: plain element reads, which V8 compiles into its
// callers, where Buffer.readUInt32LE is a function of Node's that it compiles on its own.
function u32le(from: Uint8Array, at: number): number {
  return (from[at] | from[at + 1] << 8 | from[at + 2] << 16 | from[at + 3] << 24) >>> 0;
}

// The bytes of each record storeRun copies: a run's records come first, one after another.
export const STORED_RECORD_BYTES = L.REC_SIZE;

// The end in `from` of the bytes of a message storeRun wrote with its record at `at`.
export function storedEnd(from: DataView, at: number): number {
  return from.getUint32(at + L.REC_MSG_ADDR, true) + from.getUint32(at + L.REC_MSG_LEN, true);
}

// The call key (SipMessage.callKey: the core's signature of the Call-ID, its low 53 bits) of a
// message storeRun wrote into `from` with its record at `at`; -1 when the message has no Call-ID.
// Read through a DataView of the buffer: its getters are built into V8, fast from the first call.
export function storedCallKey(from: DataView, at: number): number {
  if (from.getUint32(at + spanAt(L.SPAN_CALL_ID) + 4, true) === 0) return -1;
  return (from.getUint32(at + L.REC_CALL_KEY + 4, true) & 0x1fffff) * 0x100000000 + from.getUint32(at + L.REC_CALL_KEY, true);
}

// Where a span's (offset, length) words are in a record.
function spanAt(which: number): number {
  return which < L.SPAN_BASE_COUNT ? L.REC_SPANS + which * 8 : L.REC_SPANS_MORE + (which - L.SPAN_BASE_COUNT) * 8;
}

// The results of one push, valid only during the handler call.
export interface MessageBatch {
  readonly count: number;
  readonly mediaCount: number;   // media packets (only when the core was made with mediaPackets)
  readonly mediaEndCount: number; // calls whose media left the table in this push
  media(i: number): MediaPacket; // may be one view moved to packet i: read it before the next media(i)
  mediaEnd(i: number): CallMedia;
  mediaEndAfterBye(i: number): boolean;  // mediaEnd(i).afterBye, without decoding the rest
  mediaEndPackets(i: number): number;    // RTP packets of both of mediaEnd(i)'s streams, without decoding the rest
  frame(i: number): CapturedFrame; // a frame by its index in the batch (REC_FRAME of a message, MediaPacket.frame); as media(i), read it before the next frame(i)
  ndjson(): Buffer;              // every envelope of the batch, newline-terminated, copied
  ndjsonView(): Uint8Array;      // the same bytes in place: valid only during the handler call
  // inPlace: the message and its record are read in the core's memory (valid only during
  // the handler call) and the envelope is left out: no copy, for readers such as the call tracker.
  message(i: number, inPlace?: boolean): SipMessage;
  // One reader moved from message to message (MessageCursor.select): in place, as
  // message(i, true), and nothing allocated per message; valid until the next select.
  cursor(): MessageCursor;
  // For a reader that keeps many messages in a few large buffers (the web view) and reads one
  // back (storedMessage) only when it is asked for: the i-th message's record and bytes take
  // storedLength(i) bytes; storeRun copies the messages from `first` on, as many as fit in
  // `into` from `at` to its end (none when the first does not), and says how many: their
  // records in one block, then their bytes (with the few bytes between two messages that lie
  // close in the core's memory), each copied record's REC_MSG_ADDR made the offset in `into` of
  // its bytes.
  storedLength(i: number): number;
  storeRun(first: number, into: Buffer, at: number): number;
  // The core's renderer of call events (host/core/event-lines.ts), of the instance this batch
  // came from: unlike the rest, it may be kept past the handler call.
  readonly eventLines?: EventLines;
  // The core's call tracker (--tracker core) of that instance, when it has one.
  readonly coreTracker?: CoreTracker;
}

export class MessageCursor extends SipMessage {
  constructor(private readonly batch: ResultBatch, memory: Buffer) {
    super(batch, 0, memory, 0, 0, undefined, batch.u8);
  }

  select(i: number): this {
    this.at = this.batch.recordAt(i);
    this.base = this.batch.view.getUint32(this.at + L.REC_MSG_ADDR, true);
    this.length = this.batch.view.getUint32(this.at + L.REC_MSG_LEN, true);
    this.srcEndpoint = undefined;
    this.dstEndpoint = undefined;
    return this;
  }
}

export type BatchHandler = (batch: MessageBatch) => void;

// Where the core's regions are in its memory.
export interface ResultRegions {
  records: number;
  outJson: number;
  media: number;
  mediaEnds: number;
  mediaCalls: number;
  inBytes: number;
  inIndex: number;
}

// The read-only view of one push's results in the core's memory that handlers
// get; core.ts opens it on each push's record counts.
export class ResultBatch implements MessageBatch, RecordMemory {
  private results = 0;
  private reader: MessageCursor | undefined;
  private memory: Buffer | undefined;
  private mediaResults = 0;
  private endResults = 0;
  private mediaView: MediaView | undefined;
  private frameView: FrameView | undefined;
  private readonly records: number;
  private readonly outJson: number;

  constructor(readonly u8: Uint8Array, readonly view: DataView, readonly regions: ResultRegions,
    readonly eventLines?: EventLines, readonly coreTracker?: CoreTracker) {
    this.records = regions.records;
    this.outJson = regions.outJson;
  }

  get count(): number {
    return this.results;
  }

  get mediaCount(): number {
    return this.mediaResults;
  }

  get mediaEndCount(): number {
    return this.endResults;
  }

  open(count: number, media: number, ends: number): void {
    this.results = count;
    this.mediaResults = media;
    this.endResults = ends;
  }

  // One view of each, moved from record to record: a recorder reads millions of media packets a
  // second, and an object per packet was a tenth of its time in allocation and collection.
  media(i: number): MediaPacket {
    const view = this.mediaView ??= new MediaView(this, 0, this.regions.mediaCalls);
    view.at = this.regions.media + i * L.MED_SIZE;
    return view;
  }

  mediaEnd(i: number): CallMedia {
    return callMedia(this, this.regions.mediaEnds + i * L.CALL_STATS_SIZE);
  }

  // Where the stats record of this push's call `generation` (CALL_GEN) is, or -1.
  endedCall(generation: number): number {
    for (let i = 0; i < this.endResults; i++) {
      const at = this.regions.mediaEnds + i * L.CALL_STATS_SIZE;
      if (this.view.getUint32(at + L.CALL_GEN, true) === generation) return at;
    }
    return -1;
  }

  mediaEndAfterBye(i: number): boolean {
    return this.view.getUint32(this.regions.mediaEnds + i * L.CALL_STATS_SIZE + L.CALL_STATE, true) === L.STATS_AFTER_BYE;
  }

  mediaEndPackets(i: number): number {
    const d = this.regions.mediaEnds + i * L.CALL_STATS_SIZE + L.CALL_DIR + L.DIR_PACKETS;
    return this.view.getUint32(d, true) + this.view.getUint32(d + L.DIR_SIZE, true);
  }

  frame(i: number): CapturedFrame {
    const view = this.frameView ??= new FrameView(this);
    view.at = this.regions.inIndex + i * L.FRAME_SIZE;
    return view;
  }

  ndjson(): Buffer {
    return Buffer.from(this.ndjsonView());
  }

  ndjsonView(): Uint8Array {
    if (this.results === 0) return new Uint8Array(0);
    const last = this.records + (this.results - 1) * L.REC_SIZE;
    const jsonLen = this.view.getUint32(last + L.REC_JSON_LEN, true);
    if (jsonLen === 0) return new Uint8Array(0);   // a core that renders no envelopes (no output reads them)
    const end = this.view.getUint32(last + L.REC_JSON_OFF, true) + jsonLen + 1;
    return this.u8.subarray(this.outJson, this.outJson + end);
  }

  recordAt(i: number): number {
    return this.records + i * L.REC_SIZE;
  }

  cursor(): MessageCursor {
    return this.reader ??= new MessageCursor(this, this.memoryBuffer());
  }

  // The core's memory as one Buffer, made once: in-place messages read their bytes from it.
  private memoryBuffer(): Buffer {
    return this.memory ??= Buffer.from(this.u8.buffer, this.u8.byteOffset, this.u8.byteLength);
  }

  storedLength(i: number): number {
    return L.REC_SIZE + this.view.getUint32(this.records + i * L.REC_SIZE + L.REC_MSG_LEN, true);
  }

  // The records in one copy, and the bytes in as few as the core's memory allows: a message
  // whose bytes begin at most STORE_GAP bytes after the previous one's end (on UDP, the next
  // packet's headers lie between) is copied with the gap, in one block with it. Each copy is a
  // call into V8 and a view made (TypedArray set and subarray are built into V8, fast from the
  // first call; Buffer.copy runs Node's JavaScript around the same): per block, not per message.
  storeRun(first: number, into: Buffer, at: number): number {
    const count = this.fitting(first, into.length - at);
    if (count === 0) return 0;
    const records = this.records + first * L.REC_SIZE;
    into.set(this.u8.subarray(records, records + count * L.REC_SIZE), at);
    const copy = new DataView(into.buffer, into.byteOffset, into.length);
    let blockFrom = 0, blockEnd = 0, blockAt = at + count * L.REC_SIZE;
    for (let k = 0; k < count; k++) {
      const rec = records + k * L.REC_SIZE;
      const msgOff = this.view.getUint32(rec + L.REC_MSG_ADDR, true);
      if (k === 0 || msgOff < blockEnd || msgOff - blockEnd > STORE_GAP) {
        if (k > 0) into.set(this.u8.subarray(blockFrom, blockEnd), blockAt);
        blockAt += blockEnd - blockFrom;
        blockFrom = msgOff;
      }
      blockEnd = msgOff + this.view.getUint32(rec + L.REC_MSG_LEN, true);
      copy.setUint32(at + k * L.REC_SIZE + L.REC_MSG_ADDR, blockAt + msgOff - blockFrom, true);
    }
    into.set(this.u8.subarray(blockFrom, blockEnd), blockAt);
    return count;
  }

  // How many messages from `first` on storeRun can copy into `room` bytes, their blocks as it makes them.
  private fitting(first: number, room: number): number {
    let count = 0, used = 0, blockEnd = 0;
    for (let i = first; i < this.results; i++, count++) {
      const rec = this.records + i * L.REC_SIZE;
      const msgOff = this.view.getUint32(rec + L.REC_MSG_ADDR, true);
      const joins = count > 0 && msgOff >= blockEnd && msgOff - blockEnd <= STORE_GAP;
      const end = msgOff + this.view.getUint32(rec + L.REC_MSG_LEN, true);
      used += L.REC_SIZE + (joins ? end - blockEnd : end - msgOff);
      if (used > room) break;
      blockEnd = end;
    }
    return count;
  }

  message(i: number, inPlace = false): SipMessage {
    const rec = this.recordAt(i);
    const msgOff = this.view.getUint32(rec + L.REC_MSG_ADDR, true);
    const msgLen = this.view.getUint32(rec + L.REC_MSG_LEN, true);
    if (inPlace) return new SipMessage(this, rec, this.memoryBuffer(), msgOff, msgLen, undefined, this.u8);
    const jsonLen = this.view.getUint32(rec + L.REC_JSON_LEN, true);
    const jsonOff = this.outJson + this.view.getUint32(rec + L.REC_JSON_OFF, true);
    const record = this.u8.slice(rec, rec + L.REC_SIZE);
    return new SipMessage({ u8: record, view: new DataView(record.buffer) }, 0,
      Buffer.from(this.u8.subarray(msgOff, msgOff + msgLen)), 0, msgLen,
      jsonLen > 0 ? Buffer.from(this.u8.subarray(jsonOff, jsonOff + jsonLen)) : undefined);
  }
}

// The most bytes between two messages that storeRun copies to keep them in one block: an
// Ethernet, VLAN, IPv6 and UDP header and a tunnel's, with room; a larger gap (a TCP stream's
// other buffer, RTP between) starts a new block.
const STORE_GAP = 256;

// IPv4 endpoints made once and shared: a capture's messages come from few
// addresses, and every call, transaction and binding held keeps two of them.
const ENDPOINTS_HELD = 65536;
const endpoints = new Map<number, Endpoint>();

function endpointOf(ipv4: number, port: number, u8: Uint8Array, at: number): Endpoint {
  const key = ipv4 * 65536 + port;
  let endpoint = endpoints.get(key);
  if (endpoint === undefined) {
    if (endpoints.size >= ENDPOINTS_HELD) endpoints.clear();
    endpoint = { ip: formatIp(u8, at, false), port };
    endpoints.set(key, endpoint);
  }
  return endpoint;
}

// A frame's index entry read in place.
class FrameView implements CapturedFrame {
  at = 0;
  constructor(private readonly batch: ResultBatch) {}

  private u32(offset: number): number {
    return this.batch.view.getUint32(this.at + offset, true);
  }

  get bytes(): Uint8Array {
    const start = this.batch.regions.inBytes + this.u32(L.FRAME_OFFSET);
    return this.batch.u8.subarray(start, start + this.u32(L.FRAME_CAPLEN));
  }
  get linkType(): number { return this.u32(L.FRAME_LINKTYPE); }
  get timeUs(): number {
    const sec = this.u32(L.FRAME_TS_SEC) + this.batch.view.getInt32(this.at + L.FRAME_TS_SEC + 4, true) * 4294967296;
    return sec * 1e6 + Math.floor(this.u32(L.FRAME_TS_NSEC) / 1000);
  }
  get origLen(): number { return this.u32(L.FRAME_ORIGLEN); }
}

// A media packet record read in place.
class MediaView implements MediaPacket {
  constructor(private readonly memory: ResultBatch, public at: number, private readonly callsAt: number) {}

  private u32(offset: number): number {
    return this.memory.view.getUint32(this.at + offset, true);
  }

  get call(): number { return this.u32(L.MED_CALL); }
  get generation(): number { return this.u32(L.MED_GEN); }
  // From the call's slot, or when the slot was taken again in this push (the core reuses freed
  // slots at once), from the stats record the call left in it.
  get callId(): string {
    const slot = this.callsAt + this.call * L.CALL_SLOT_SIZE;
    const generation = this.u32(L.MED_GEN);
    const at = this.memory.view.getUint32(slot + L.CALL_GEN, true) === generation ? slot : this.memory.endedCall(generation);
    return at < 0 ? "" : callIdAt(this.memory, at);
  }
  get direction(): 0 | 1 { return (this.u32(L.MED_FLAGS) & L.MED_F_DIRECTION) as 0 | 1; }
  get rtcp(): boolean { return (this.u32(L.MED_FLAGS) & L.MED_F_RTCP) !== 0; }
  get marker(): boolean { return (this.u32(L.MED_FLAGS) & L.MED_F_MARKER) !== 0; }
  get ssrc(): number { return this.u32(L.MED_SSRC); }
  get seq(): number { return this.u32(L.MED_SEQ); }
  get rtpTime(): number { return this.u32(L.MED_RTP_TS); }
  get payloadType(): number { return this.u32(L.MED_PT); }
  get payload(): Uint8Array {
    const at = this.u32(L.MED_PAYLOAD_ADDR);
    return this.memory.u8.subarray(at, at + this.u32(L.MED_PAYLOAD_LEN));
  }
  get timeUs(): number {
    const sec = this.u32(L.MED_TS_SEC) + this.memory.view.getInt32(this.at + L.MED_TS_SEC + 4, true) * 4294967296;
    return sec * 1e6 + Math.floor(this.u32(L.MED_TS_NSEC) / 1000);
  }
  get frame(): number { return this.u32(L.MED_FRAME); }
}

function callMedia(memory: RecordMemory, at: number): CallMedia {
  const v = memory.view;
  return {
    callId: callIdAt(memory, at),
    reason: L.MEDIA_END_NAMES[v.getUint32(at + L.CALL_END_REASON, true)] as CallMedia["reason"],
    afterBye: v.getUint32(at + L.CALL_STATE, true) === L.STATS_AFTER_BYE,
    firstUs: i64(v, at + L.CALL_FIRST_US),
    lastUs: i64(v, at + L.CALL_LAST_US),
    streams: [streamQuality(memory, at + L.CALL_DIR), streamQuality(memory, at + L.CALL_DIR + L.DIR_SIZE)],
  };
}

// The Call-ID of a media call slot or stats record.
function callIdAt(memory: RecordMemory, at: number): string {
  return Buffer.from(memory.u8.buffer, at + L.CALL_ID, memory.view.getUint32(at + L.CALL_ID_LEN, true)).toString("utf8");
}

// A little-endian signed 64-bit field as the nearest double, as Number(getBigInt64()) gives
// it, without a BigInt: the sum of two exact terms is rounded once.
function i64(v: DataView, at: number): number {
  return v.getUint32(at, true) + v.getInt32(at + 4, true) * 4294967296;
}

function streamQuality(memory: RecordMemory, d: number): StreamQuality {
  const v = memory.view;
  const pt = v.getUint32(d + L.DIR_PT, true);
  const name = codecName(memory.u8, d + L.DIR_CODEC);
  return {
    packets: v.getUint32(d + L.DIR_PACKETS, true),
    expected: v.getUint32(d + L.DIR_EXPECTED, true),
    lost: v.getInt32(d + L.DIR_LOST, true),
    duplicates: v.getUint32(d + L.DIR_DUPLICATES, true),
    outOfOrder: v.getUint32(d + L.DIR_OUT_OF_ORDER, true),
    ssrcChanges: v.getUint32(d + L.DIR_SSRC_CHANGES, true),
    ssrc: v.getUint32(d + L.DIR_SSRC, true),
    payloadType: pt === 0xffffffff ? -1 : pt,
    codec: name || (pt === 0xffffffff ? "" : staticCodec(pt)),
    clockRate: v.getUint32(d + L.DIR_CLOCK, true),
    jitterMs: v.getFloat64(d + L.DIR_JITTER, true),
    maxJitterMs: v.getFloat64(d + L.DIR_MAX_JITTER, true),
    rtcpPackets: v.getUint32(d + L.DIR_RTCP_PACKETS, true),
    rtcpReports: v.getUint32(d + L.DIR_RTCP_REPORTS, true),
    rtcpFractionLost: v.getUint32(d + L.DIR_RTCP_FRACTION, true) / 256,
    rtcpLost: v.getInt32(d + L.DIR_RTCP_LOST, true),
    rtcpJitterMs: v.getFloat64(d + L.DIR_RTCP_JITTER, true),
  };
}

// The codec name the core wrote: up to 16 bytes, NUL-padded. Built a character at a time: every
// call leaving the media table has two, and a Buffer with a regular expression, or a spread of
// the bytes, cost 3 to 5 times as much for names this short.
function codecName(u8: Uint8Array, at: number): string {
  let name = "";
  for (let i = at; i < at + 16 && u8[i] !== 0; i++) name += String.fromCharCode(u8[i]);
  return name;
}

function transportName(t: number): Transport {
  if (t === L.TRANSPORT_TCP) return "tcp";
  if (t === L.TRANSPORT_WS) return "ws";
  return "udp";
}

export function formatIp(u8: Uint8Array, at: number, ipv6: boolean): string {
  if (!ipv6) return `${u8[at]}.${u8[at + 1]}.${u8[at + 2]}.${u8[at + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((u8[at + i] << 8) | u8[at + i + 1]).toString(16));
  return compressIPv6(groups);
}

// RFC 5952 §4.2: the longest run of two or more zero groups becomes "::".
function compressIPv6(groups: string[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  if (bestAt < 0) return groups.join(":");
  return `${groups.slice(0, bestAt).join(":")}::${groups.slice(bestAt + bestLen).join(":")}`;
}
