// What the core gives back, as the rest of the host reads it: one SipMessage per
// SIP message found (its addresses, its start line, the headers the core indexed,
// each by name), and the MessageBatch that holds one push's messages and
// envelopes. Sinks, the call tracker and the filter import these types from here,
// never the WebAssembly loader (core.ts) or the memory map (assembly/layout.ts):
// this file and core.ts are the only host files that read the core's records.
import * as L from "../../assembly/layout";

export type Transport = "udp" | "tcp" | "ws";

export interface Endpoint {
  ip: string;
  port: number;
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
} as const;

const PROBLEM_NAMES: [number, string][] = [
  [L.PROB_CLEN_BAD, "content-length-bad"], [L.PROB_CLEN_SHORT, "content-length-short"],
  [L.PROB_NO_CALL_ID, "no-call-id"], [L.PROB_NO_CSEQ, "no-cseq"],
  [L.PROB_HEADER_OVERFLOW, "header-overflow"], [L.PROB_TRUNCATED, "truncated"],
  [L.PROB_URI_NOT_ASCII, "uri-not-ascii"], [L.PROB_STATUS_RANGE, "status-range"],
];

// The names of the problem bits set in `bits`, in a fixed order (parse-error events list them).
export function problemNames(bits: number): string[] {
  return PROBLEM_NAMES.filter(([bit]) => (bits & bit) !== 0).map(([, name]) => name);
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
  private srcEndpoint: Endpoint | undefined;
  private dstEndpoint: Endpoint | undefined;

  constructor(
    private readonly memory: RecordMemory,
    private readonly at: number,     // the record's first byte in memory
    readonly bytes: Buffer,          // the message as reassembled
    readonly envelope: Buffer | undefined, // its JSON envelope, when rendered and copied
  ) {}

  private u32(offset: number): number {
    return this.memory.view.getUint32(this.at + offset, true);
  }

  private get flags(): number {
    return this.u32(L.REC_FLAGS);
  }

  get id(): string {
    return this.memory.view.getBigUint64(this.at + L.REC_HASH, true).toString(16).padStart(16, "0");
  }
  get timeSec(): number { return Number(this.memory.view.getBigInt64(this.at + L.REC_TS_SEC, true)); }
  get timeNsec(): number { return this.u32(L.REC_TS_NSEC); }
  get src(): Endpoint {
    return this.srcEndpoint ??= this.endpoint(L.REC_SRC_ADDR, L.REC_SRC_PORT);
  }
  get dst(): Endpoint {
    return this.dstEndpoint ??= this.endpoint(L.REC_DST_ADDR, L.REC_DST_PORT);
  }
  get transport(): Transport { return transportName(this.flags & L.TRANSPORT_MASK); }
  get isRequest(): boolean { return (this.flags & L.REC_F_REQUEST) !== 0; }
  get status(): number { return this.u32(L.REC_STATUS); }          // 0 for a request
  get cseq(): number { return this.u32(L.REC_CSEQ); }
  get expires(): number { return this.memory.view.getInt32(this.at + L.REC_EXPIRES, true); }         // -1 when absent
  get contentLength(): number { return this.memory.view.getInt32(this.at + L.REC_CLEN, true); }      // -1 when absent
  get headerCount(): number { return this.u32(L.REC_HEADER_COUNT); }
  get problems(): number { return this.u32(L.REC_PROBLEMS); }      // PROBLEM bits
  get outer(): OuterTunnel | undefined { return this.outerTunnel(); }

  // Start line and indexed headers, by name; "" when the message has none.
  get method(): string { return this.text(L.SPAN_METHOD); }        // the request's, or the CSeq method of a response
  get uri(): string { return this.text(L.SPAN_URI); }              // Request-URI
  get reason(): string { return this.text(L.SPAN_REASON); }        // response reason phrase
  get callId(): string { return this.text(L.SPAN_CALL_ID); }
  get cseqMethod(): string { return this.text(L.SPAN_CSEQ_METHOD); }
  get from(): string { return this.text(L.SPAN_FROM); }            // whole From value
  get fromTag(): string { return this.text(L.SPAN_FROM_TAG); }
  get to(): string { return this.text(L.SPAN_TO); }
  get toTag(): string { return this.text(L.SPAN_TO_TAG); }
  get via(): string { return this.text(L.SPAN_VIA); }              // whole topmost Via value
  get viaBranch(): string { return this.text(L.SPAN_VIA_BRANCH); }
  get contact(): string { return this.text(L.SPAN_CONTACT); }      // first Contact value
  get contentType(): string { return this.text(L.SPAN_CONTENT_TYPE); }
  get userAgent(): string { return this.text(L.SPAN_USER_AGENT); } // User-Agent, or Server in a response
  get body(): string { return this.text(L.SPAN_BODY); }
  get reasonHeader(): string { return this.text(L.SPAN_REASON_HEADER); } // RFC 3326
  get sessionId(): string { return this.text(L.SPAN_SESSION_ID); }  // RFC 7989
  get xCid(): string { return this.text(L.SPAN_X_CID); }
  get chargingVector(): string { return this.text(L.SPAN_P_CHARGING_VECTOR); } // RFC 7315

  // A span by its number in assembly/layout.ts (SPAN_*): (offset, length) into `bytes`.
  // For tests and diagnostics that walk every span; readers use the names above.
  span(which: number): [offset: number, length: number] {
    return [this.spanWord(which, 0), this.spanWord(which, 1)];
  }

  has(which: number): boolean {
    return this.spanWord(which, 1) !== 0;
  }

  text(which: number): string {
    const length = this.spanWord(which, 1);
    if (length === 0) return "";
    const offset = this.spanWord(which, 0);
    return this.bytes.toString("utf8", offset, offset + length);  // invalid UTF-8: U+FFFD, as the envelope
  }

  private spanWord(which: number, word: 0 | 1): number {
    return this.u32(spanAt(which) + word * 4);
  }

  private endpoint(addr: number, port: number): Endpoint {
    const ipv6 = (this.flags & L.REC_F_IPV6) !== 0;
    return { ip: formatIp(this.memory.u8, this.at + addr, ipv6), port: this.memory.view.getUint16(this.at + port, true) };
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

// A message MessageBatch.storeInto wrote into `from` at `at` (`length` bytes), read in place:
// valid while `from` is kept.
export function storedMessage(from: Buffer, at: number, length: number): SipMessage {
  const view = new DataView(from.buffer, from.byteOffset, from.byteLength);
  return new SipMessage({ u8: from, view }, at, from.subarray(at + L.REC_SIZE, at + length), undefined);
}

// The Call-ID of a message storeInto wrote into `from` at `at`, read without making its SipMessage.
export function storedCallId(from: Buffer, at: number): string {
  const span = at + spanAt(L.SPAN_CALL_ID);
  const length = from.readUInt32LE(span + 4);
  if (length === 0) return "";
  const start = at + L.REC_SIZE + from.readUInt32LE(span);
  return from.toString("utf8", start, start + length);
}

// Where a span's (offset, length) words are in a record.
function spanAt(which: number): number {
  return which < L.SPAN_BASE_COUNT ? L.REC_SPANS + which * 8 : L.REC_SPANS_MORE + (which - L.SPAN_BASE_COUNT) * 8;
}

// The results of one push, valid only during the handler call.
export interface MessageBatch {
  readonly count: number;
  ndjson(): Buffer;              // every envelope of the batch, newline-terminated, copied
  ndjsonView(): Uint8Array;      // the same bytes in place: valid only during the handler call
  // inPlace: the message and its record are read in the core's memory (valid only during
  // the handler call) and the envelope is left out: no copy, for readers such as the call tracker.
  message(i: number, inPlace?: boolean): SipMessage;
  // The i-th message's record and bytes copied into `into` at `at` (storedLength(i) bytes): for a
  // reader that keeps many messages in a few large buffers (the web view) and reads one back
  // (storedMessage) only when it is asked for.
  storedLength(i: number): number;
  storeInto(i: number, into: Uint8Array, at: number): void;
}

export type BatchHandler = (batch: MessageBatch) => void;

// The read-only view of one push's results in the core's memory that handlers
// get; core.ts opens it on each push's record count.
export class ResultBatch implements MessageBatch, RecordMemory {
  private results = 0;
  private readonly whole: Buffer;   // the core's memory as a Buffer, for storeInto

  constructor(readonly u8: Uint8Array, readonly view: DataView, private readonly records: number, private readonly outJson: number) {
    this.whole = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  }

  get count(): number {
    return this.results;
  }

  open(count: number): void {
    this.results = count;
  }

  ndjson(): Buffer {
    return Buffer.from(this.ndjsonView());
  }

  ndjsonView(): Uint8Array {
    if (this.results === 0) return new Uint8Array(0);
    const last = this.records + (this.results - 1) * L.REC_SIZE;
    const end = this.view.getUint32(last + L.REC_JSON_OFF, true) + this.view.getUint32(last + L.REC_JSON_LEN, true) + 1;
    return this.u8.subarray(this.outJson, this.outJson + end);
  }

  storedLength(i: number): number {
    return L.REC_SIZE + this.view.getUint32(this.records + i * L.REC_SIZE + L.REC_MSG_LEN, true);
  }

  // Buffer.copy: no view made per copy.
  storeInto(i: number, into: Uint8Array, at: number): void {
    const rec = this.records + i * L.REC_SIZE;
    const msgOff = this.view.getUint32(rec + L.REC_MSG_ADDR, true);
    const msgLen = this.view.getUint32(rec + L.REC_MSG_LEN, true);
    this.whole.copy(into, at, rec, rec + L.REC_SIZE);
    this.whole.copy(into, at + L.REC_SIZE, msgOff, msgOff + msgLen);
  }

  message(i: number, inPlace = false): SipMessage {
    const rec = this.records + i * L.REC_SIZE;
    const msgOff = this.view.getUint32(rec + L.REC_MSG_ADDR, true);
    const msgLen = this.view.getUint32(rec + L.REC_MSG_LEN, true);
    if (inPlace) return new SipMessage(this, rec, Buffer.from(this.u8.buffer, msgOff, msgLen), undefined);
    const jsonLen = this.view.getUint32(rec + L.REC_JSON_LEN, true);
    const jsonOff = this.outJson + this.view.getUint32(rec + L.REC_JSON_OFF, true);
    const record = this.u8.slice(rec, rec + L.REC_SIZE);
    return new SipMessage({ u8: record, view: new DataView(record.buffer) }, 0,
      Buffer.from(this.u8.subarray(msgOff, msgOff + msgLen)),
      jsonLen > 0 ? Buffer.from(this.u8.subarray(jsonOff, jsonOff + jsonLen)) : undefined);
  }
}

function transportName(t: number): Transport {
  if (t === L.TRANSPORT_TCP) return "tcp";
  if (t === L.TRANSPORT_WS) return "ws";
  return "udp";
}

function formatIp(u8: Uint8Array, at: number, ipv6: boolean): string {
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
