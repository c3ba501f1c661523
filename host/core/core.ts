// The WebAssembly core's loader and its input side. With records.ts (the output
// side) and event-lines.ts (call events) the only host code that knows the core's memory map
// (assembly/layout.ts); everything else sees typed records. Frames are copied into a staging copy
// of the core's input region (kept so that a trap cannot lose them; a capture file is read into it
// directly), then into the core, and pushed in batches: one call into the core per batch, never
// per packet. The one other call made often is event-lines.ts's, one per call event.
import * as L from "../../assembly/layout";
import simdWasm from "../../build/core.simd.wasm";
import scalarWasm from "../../build/core.scalar.wasm";
import type { FrameConsumer, PcapFormat } from "../source/frames";
import { DEFAULT_GENEVE_PORTS, DEFAULT_VXLAN_PORTS } from "../source/bpf";
import { defaultOf } from "../options";
import { ResultBatch, type BatchHandler } from "./records";
import { EventLines } from "./event-lines";
import { CoreTracker } from "./tracker-core";

export const MAX_FRAME = 262144; // the largest snap length libpcap and tcpdump use
const TCP_BUFFER_BYTES = 196608;
const TCP_TAIL_ROOM = 65536;     // TAIL_ROOM in assembly/tcp.ts: a buffer holds its size less this
// Frame bytes per batch, by default. 512 KiB: as fast as 2 MiB was (the same instructions to 1%
// on mixed-udp, with and without --events), and every run holds 5 MiB less, the batch's input and
// envelopes being touched anew for each batch; a pipe on stdout queues at most a batch's rest.
const INPUT_BYTES = 512 << 10;
const MAX_FRAMES = 16384;        // frames per batch, by default
const LEND_MIN = 65536;          // the least room lend() offers a reader

// What configure() reserves per entry, as assembly/ reserves it (test/core.test.ts
// checks these against the memory a configured core really has).
const TCP_FLOW_BYTES = 288;      // FLOW_SIZE in assembly/tcp.ts: 64 + two 112-byte directions
const TCP_BUCKET_BYTES = 4;      // a u32 per hash bucket, at least two buckets per flow
const TCP_BUFFER_EXTRA = 12;     // per physical buffer: its push number and free-ring entry
const TCP_SPARE_BUFFERS = 8;     // physical buffers: twice --tcp-buffers and these
const DEFRAG_SLOT_BYTES = 80 + 1024 + 65536; // META_SIZE, BITMAP_BYTES, DATAGRAM_MAX + 1 in assembly/defrag.ts
const DEFRAG_HELD_SLOTS = 16;    // HELD_SLOTS in assembly/defrag.ts
const DEFRAG_SLOTS_MAX = 1024;   // SLOTS_MAX in assembly/defrag.ts
const TRACKER_SLOT_BYTES = 32;   // a table slot of assembly/track-tables.ts, at most
const TRACKER_ENTRY_EXTRA = 32;  // the heap's and the pool's words per entry, at most
const CORE_STATIC_BYTES = 1 << 20; // the core's data and stack before configure() (128 KiB today)
// WebAssembly memory (32-bit) ends at 4 GiB, and the core's offsets are u32: stay at half of it.
export const CORE_MEMORY_BUDGET = 2 ** 31;
const TCP_RESERVE_WINDOWS = 3;   // STREAM_RESERVE_WINDOWS in assembly/tcp.ts
const MEDIA_ENDPOINT_BYTES = 64 + 4; // EP_SIZE in assembly/media.ts and its free-list entry
const MEDIA_CALL_BYTES = L.CALL_SLOT_SIZE + 4 + 1; // a slot, its free-list entry and its phase byte
const MEDIA_FIXED_BYTES = 65536 * 4 + 65536 / 8 + 4096 * L.CALL_STATS_SIZE; // per-port counts and bits, ENDS_MAX stats records

export interface CoreOptions {
  sensor: string;
  agent: string;
  renderJson?: boolean;        // default true
  inputBytes?: number;         // frame bytes per batch
  maxFrames?: number;          // frames per batch
  filterProgram?: Uint8Array;  // compiled by host/filter
  recordFilterProgram?: Uint8Array; // --record-filter, compiled the same way: marks messages (SipMessage.recordMatch)
  build?: "simd" | "scalar";   // default: simd where the engine validates it
  // The table sizes and timeouts: when left out, the command line's defaults
  // (host/cli/config.ts), so a core made without them is sized as a run's is.
  tcpFlows?: number;           // TCP connections followed at once (0 frames each segment alone)
  tcpBuffers?: number;         // stream buffers for partial messages
  tcpBufferBytes?: number;     // bytes of one stream buffer (default 192 KiB: messages up to 128 KiB)
  tcpIdle?: number;            // seconds of capture time a silent TCP flow is kept
  tcpPartialIdle?: number;     // seconds of capture time a stream may hold a partial message without completing one
  maxBody?: number;            // bytes a Content-Length on a stream may claim
  defragSlots?: number;        // IP datagrams in reassembly at once (0 turns it off)
  defragTimeout?: number;      // seconds of capture time a datagram waits for its fragments
  mediaCalls?: number;         // calls whose media is followed at once (0 turns media tracking off)
  mediaEndpoints?: number;     // media endpoints from SDP held at once
  mediaIdle?: number;          // seconds of capture time a call's media may stay silent
  mediaPackets?: boolean;      // a MediaPacket per RTP/RTCP packet of a known call (default false: stats only)
  callKeys?: boolean;          // SipMessage.callKey made for each message (default true; always with `tracker`)
  // SipMessage.fromTag and toTag found (default true; always with `tracker` or media followed)
  dialogSpans?: boolean;
  // Every header field indexed (default true; always with `tracker`, media followed, dialogSpans or a
  // filter): without it only the Call-ID and Content-Length, and SipMessage's other fields are empty.
  allFields?: boolean;
  vxlanPorts?: number[];       // at most two UDP ports read as VXLAN (default: the capture filter's)
  genevePort?: number;         // UDP port read as Geneve (0 for none; default: the capture filter's)
  tracker?: CoreTrackerOptions; // --tracker core: the call tracker runs in the core (assembly/track.ts)
  onTrap?: (trap: CoreTrap) => void; // a frame made the core trap: it was skipped and the core built anew
  instantiate?: Instantiate;   // how the module becomes an instance; tests wrap it to make push() trap
}

// The core's call tracker: host/calls/settings.ts's TrackerSettings and the observer name.
export interface CoreTrackerOptions {
  inviteSeconds: number;
  graceSeconds: number;
  establishedSeconds: number;
  lingerSeconds: number;
  transactionSeconds: number;
  challengeSeconds: number;
  expiryGraceSeconds: number;
  countersSeconds: number;
  maxCalls: number;
  maxBindings: number;
  maxTransactions: number;
  observer?: string;
}

// A frame that made the core trap (a WebAssembly RuntimeError or abort() in the
// core), as it was read: from the host's copy of the batch.
export interface CoreTrap {
  error: string;
  frame: { data: Uint8Array; origLen: number; linkType: number; tsSec: number; tsNsec: number };
  traps: number;               // traps so far, this one included
}

export type Instantiate = (module: WebAssembly.Module, imports: WebAssembly.Imports) => CoreExports;

export function instantiateCore(module: WebAssembly.Module, imports: WebAssembly.Imports): CoreExports {
  return new WebAssembly.Instance(module, imports).exports as unknown as CoreExports;
}

// The bounds the command line sets: TCP streams, fragment reassembly, VXLAN ports.
export type StreamLimits = Pick<CoreOptions, "tcpFlows" | "tcpBuffers" | "tcpIdle" | "tcpPartialIdle" | "maxBody"
  | "defragSlots" | "defragTimeout" | "vxlanPorts" | "mediaCalls" | "mediaEndpoints" | "mediaIdle" | "tracker">;

export interface CoreExports {
  memory: WebAssembly.Memory;
  layoutSignature(): number;
  simd(): number;
  configArea(): number;
  configure(): number;
  region(r: number): number;
  reservedBytes(): number;
  push(n: number): number;
  renderEvent(at: number): number;
  currentFrame(): number;
  resultCount(): number;
  mediaResultCount(): number;
  mediaEndCount(): number;
  releaseMedia(): number;
  endInput(): void;
  reassembledAddress(): number;
  reassembledLength(): number;
  loadFilter(length: number): number;
  loadRecordFilter(offset: number, length: number): number;
  configureTracker(observerBytes: number): number;
  trackPush(count: number, ends: number): void;
  trackFinish(): void;
  trackerCounter(which: number): number;
  indexPcap(start: number, end: number, first: number, room: number, swapped: boolean, nsecPerFraction: number,
    linkType: number, maxRecord: number, maxFrame: number): number;
  pcapStop(): number;
  pcapFramesEnd(): number;
}

type Sized = Required<Pick<CoreOptions, "tcpFlows" | "tcpBuffers" | "tcpBufferBytes" | "tcpIdle" | "tcpPartialIdle"
  | "maxBody" | "defragSlots" | "defragTimeout" | "vxlanPorts" | "genevePort" | "mediaCalls" | "mediaEndpoints"
  | "mediaIdle">>;

// Every size and timeout the core is configured with: the options', or the defaults.
function sized(options: Omit<CoreOptions, "sensor" | "agent">): Sized {
  return {
    tcpFlows: options.tcpFlows ?? defaultOf("tcp-flows"),
    tcpBuffers: options.tcpBuffers ?? defaultOf("tcp-buffers"),
    tcpBufferBytes: options.tcpBufferBytes ?? TCP_BUFFER_BYTES,
    tcpIdle: options.tcpIdle ?? defaultOf("tcp-idle"),
    tcpPartialIdle: options.tcpPartialIdle ?? defaultOf("tcp-partial-idle"),
    maxBody: options.maxBody ?? defaultOf("max-body"),
    defragSlots: options.defragSlots ?? defaultOf("defrag-slots"),
    defragTimeout: options.defragTimeout ?? defaultOf("defrag-timeout"),
    vxlanPorts: options.vxlanPorts ?? DEFAULT_VXLAN_PORTS,
    genevePort: options.genevePort ?? DEFAULT_GENEVE_PORTS[0],
    mediaCalls: options.mediaCalls ?? defaultOf("media-calls"),
    mediaEndpoints: options.mediaEndpoints ?? defaultOf("media-endpoints"),
    mediaIdle: options.mediaIdle ?? defaultOf("media-idle"),
  };
}

export function chooseBuild(requested?: "simd" | "scalar"): "simd" | "scalar" {
  if (requested) return requested;
  const env = process.env.SIPHON_CORE;
  if (env === "simd" || env === "scalar") return env;
  return WebAssembly.validate(simdWasm) ? "simd" : "scalar";
}

// The output must hold one maximal frame's worst case, one message per 15 bytes
// (see frameFits in assembly/emit.ts); a batch that outgrows it is pushed in parts.
// A TCP segment may also frame what three stream buffers hold: its direction's, the
// reverse direction's and one given up for waiting (streamReserve in assembly/tcp.ts).
function outputRegions(inputBytes: number, tcpBufferBytes: number): { records: number; jsonBytes: number } {
  const frameMax = MAX_FRAME + TCP_RESERVE_WINDOWS * (tcpBufferBytes - TCP_TAIL_ROOM);
  const records = Math.ceil(frameMax / 15) + 1;
  const envelopeMax = 480 + L.CFG_SENSOR_MAX + L.CFG_AGENT_MAX + 1;
  return { records, jsonBytes: Math.max(inputBytes * 3, records * envelopeMax + frameMax * 8) };
}

// The bytes of WebAssembly memory a core configured with `options` holds: the
// batch regions, the TCP flow table and stream buffers, the fragment slots.
// Each reservation is rounded up to 16 bytes in the core; the slack covers it.
export function coreMemoryBytes(options: Omit<CoreOptions, "sensor" | "agent">): number {
  const inputBytes = options.inputBytes ?? INPUT_BYTES;
  const size = sized(options);
  const tcpBufferBytes = Math.max(size.tcpBufferBytes, TCP_TAIL_ROOM + 4096);
  const { records, jsonBytes } = outputRegions(inputBytes, tcpBufferBytes);
  const batch = inputBytes + (options.maxFrames ?? MAX_FRAMES) * L.FRAME_SIZE + records * L.REC_SIZE + jsonBytes
    + L.COUNTER_COUNT * 8 + filterBytes(options) + L.EVENT_BYTES + L.EVENT_OUT_BYTES;
  const flows = size.tcpFlows;
  const physicalBuffers = Math.max(size.tcpBuffers, 1) * 2 + TCP_SPARE_BUFFERS;
  const tcp = flows === 0 ? 0
    : flows * TCP_FLOW_BYTES + 2 ** Math.ceil(Math.log2(flows * 2)) * TCP_BUCKET_BYTES
      + physicalBuffers * (tcpBufferBytes + TCP_BUFFER_EXTRA);
  const slots = Math.min(size.defragSlots, DEFRAG_SLOTS_MAX);
  const defrag = slots === 0 ? 0 : (slots + DEFRAG_HELD_SLOTS) * DEFRAG_SLOT_BYTES;
  return CORE_STATIC_BYTES + batch + tcp + defrag + mediaBytes(size, options.maxFrames ?? MAX_FRAMES) + trackerBytes(options);
}

function trackerTerm(options: Omit<CoreOptions, "sensor" | "agent">): string {
  const t = options.tracker;
  if (t === undefined) return "";
  return `, --tracker core's call-limit entries ${t.maxCalls + t.maxBindings + 2 * t.maxTransactions + 4} x ` +
    `${L.TRACK_ENTRY_SIZE + L.TRACK_TEXT_PER_ENTRY + TRACKER_ENTRY_EXTRA} bytes`;
}

// The core's call tracker (assembly/track.ts configureTracker): its entries, their text, the
// timer heap and tables, and four buffers for a message's values (three bytes a byte).
function trackerBytes(options: Omit<CoreOptions, "sensor" | "agent">): number {
  const t = options.tracker;
  if (t === undefined) return 0;
  const entries = t.maxCalls + t.maxBindings + 2 * t.maxTransactions + 4;
  const tables = [t.maxCalls, t.maxTransactions, t.maxTransactions, t.maxTransactions, t.maxBindings, t.maxBindings, 4096];
  const slots = tables.reduce((sum, n) => sum + 2 ** Math.ceil(Math.log2(Math.max(n, 8) * 2)) * TRACKER_SLOT_BYTES, 0);
  const message = Math.max(options.inputBytes ?? INPUT_BYTES, 65535, sized(options).tcpBufferBytes);
  return entries * (L.TRACK_ENTRY_SIZE + L.TRACK_TEXT_PER_ENTRY + TRACKER_ENTRY_EXTRA) + slots + 13 * message + 8192;
}

// The media tables (assembly/media.ts) and the media output regions.
function mediaBytes(size: Sized, maxFrames: number): number {
  if (size.mediaCalls === 0) return 0;
  const endpoints = Math.max(size.mediaEndpoints, 4);
  return size.mediaCalls * MEDIA_CALL_BYTES + endpoints * MEDIA_ENDPOINT_BYTES
    + 4 * (mediaBuckets(size.mediaCalls) + mediaBuckets(endpoints)) + MEDIA_FIXED_BYTES + maxFrames * L.MED_SIZE;
}

// bucketsFor in assembly/media.ts: a power of two, at least 16 and twice the entries.
function mediaBuckets(entries: number): number {
  let n = 16;
  while (n < entries * 2 && n < 0x40000000) n *= 2;
  return n;
}

// Both filter programs in R_FILTER: --filter at its start, --record-filter after it, 4-byte aligned.
function recordFilterOffset(options: Pick<CoreOptions, "filterProgram">): number {
  return ((options.filterProgram?.length ?? 0) + 3) & ~3;
}

function filterBytes(options: Pick<CoreOptions, "filterProgram" | "recordFilterProgram">): number {
  return Math.max(64, recordFilterOffset(options) + (options.recordFilterProgram?.length ?? 0));
}

// Why the core cannot be configured so, or undefined when it fits.
export function coreMemoryProblem(options: Omit<CoreOptions, "sensor" | "agent">): string | undefined {
  const bytes = coreMemoryBytes(options);
  if (bytes <= CORE_MEMORY_BUDGET) return undefined;
  const mib = (n: number): string => `${Math.ceil(n / 2 ** 20)} MiB`;
  const size = sized(options);
  return `the configured tables need ${mib(bytes)} of core memory, more than the ${mib(CORE_MEMORY_BUDGET)} it may use ` +
    `(tcp-flows ${size.tcpFlows} x ${TCP_FLOW_BYTES} bytes, tcp-buffers ${size.tcpBuffers} x 2 x ` +
    `${size.tcpBufferBytes} bytes, defrag-slots ${size.defragSlots} x 64 KiB${mediaTerm(size)}${trackerTerm(options)}): lower them`;
}

// The media table's part, when the run follows media (host/cli/run.ts mediaCalls).
function mediaTerm(size: Sized): string {
  return size.mediaCalls === 0 ? "" : `, media-calls ${size.mediaCalls} x 1 KiB, media-endpoints ${size.mediaEndpoints} x 64 bytes`;
}

export class Core implements FrameConsumer {
  readonly build: "simd" | "scalar";
  private readonly module: WebAssembly.Module;
  // The instance and what is known of its memory: replaced when the core traps.
  private exports!: CoreExports;
  private u8!: Uint8Array;
  private view!: DataView;
  private batch!: ResultBatch;   // what handlers read of each push's results
  private coreTracker: CoreTracker | undefined;
  private inBytes!: number;
  private inIndex!: number;
  private countersAt!: number;
  private traps = 0;
  // The batch as the host wrote it, outside the core: a trap may have overwritten the core's copy.
  private readonly stagedBytes: Uint8Array;
  private readonly stagedIndex: Uint8Array;
  private readonly stagedView: DataView;
  // The same index as words, for frame(): a typed-array store costs less than a DataView call.
  // WebAssembly memory is little-endian, as are the platforms Siphon is built for (x64, arm64).
  private readonly stagedWords: Uint32Array;
  private readonly countersBefore = new Uint8Array(L.COUNTER_COUNT * 8);
  private readonly inCapacity: number;
  private readonly maxFrames: number;
  private frames = 0;
  framesTaken = 0;              // frames handed in so far, pushed or not
  private cursor = 0;           // bytes of the input region in use
  // Bytes of the staging copy pcapRecords copied into the input region already, [from, to): the
  // flush copies the rest, not these again (a chunk is read once and copied once).
  private inCoreFrom = 0;
  private inCoreTo = 0;
  // The same for the index: entries [from, to) that indexPcap wrote in the core and the staging
  // index holds as a copy; the batch's first push copies the others only.
  private indexInCoreFrom = 0;
  private indexInCoreTo = 0;
  private run: Uint8Array | undefined; // the buffer holding frames not yet copied in
  private runStart = 0;         // first byte of the run in that buffer
  private runEnd = 0;           // end of the run's last frame
  private runAt = 0;            // where runStart lands in the input region
  private lastView: Uint8Array | undefined; // the last frame's buffer, and where it lies in the staging copy (-1: outside)
  private lastViewAt = -1;

  constructor(private readonly options: CoreOptions, private readonly onBatch: BatchHandler) {
    this.build = chooseBuild(options.build);
    this.module = new WebAssembly.Module(this.build === "simd" ? simdWasm : scalarWasm);
    this.inCapacity = options.inputBytes ?? INPUT_BYTES;
    this.maxFrames = options.maxFrames ?? MAX_FRAMES;
    const tooLarge = coreMemoryProblem(options);
    if (tooLarge !== undefined) throw new Error(`core: ${tooLarge}`);
    this.stagedBytes = new Uint8Array(this.inCapacity);
    this.stagedIndex = new Uint8Array(this.maxFrames * L.FRAME_SIZE);
    this.stagedView = new DataView(this.stagedIndex.buffer);
    this.stagedWords = new Uint32Array(this.stagedIndex.buffer);
    this.instantiate();
  }

  // A new instance, configured and with the filter loaded: at start, and after a trap.
  private instantiate(): void {
    const abort = (message: number, file: number, line: number, column: number): never => {
      throw new CoreAbort(`abort: ${this.coreString(message)} at ${this.coreString(file)}:${line}:${column}`);
    };
    // Each event of the core's tracker (assembly/track.ts), to the handler trackPush() was given.
    const trackerEvent = (): void => this.coreTracker?.onEvent();
    this.exports = (this.options.instantiate ?? instantiateCore)(this.module, { env: { abort, trackerEvent } });
    if (this.exports.layoutSignature() !== L.LAYOUT_SIGNATURE) {
      throw new Error("core: the WebAssembly core was built from another memory layout; run 'npm run build'");
    }
    this.growToEstimate();
    this.configure(this.options);
    // Memory grows only up to here; the views taken now stay valid for the instance's life.
    this.u8 = new Uint8Array(this.exports.memory.buffer);
    this.view = new DataView(this.exports.memory.buffer);
    this.inBytes = this.exports.region(L.R_IN_BYTES);
    this.inIndex = this.exports.region(L.R_IN_INDEX);
    const lines = this.eventRenderer();
    this.batch = new ResultBatch(this.u8, this.view, {
      records: this.exports.region(L.R_OUT_RECORDS), outJson: this.exports.region(L.R_OUT_JSON),
      media: this.exports.region(L.R_OUT_MEDIA), mediaEnds: this.exports.region(L.R_OUT_MEDIA_ENDS),
      mediaCalls: this.exports.region(L.R_MEDIA_CALLS), inBytes: this.inBytes, inIndex: this.inIndex,
    }, lines, this.options.tracker === undefined ? undefined : this.newCoreTracker(lines));
    this.countersAt = this.exports.region(L.R_COUNTERS);
    if (this.options.filterProgram) this.loadFilter(this.options.filterProgram);
    if (this.options.recordFilterProgram) this.loadRecordFilter(this.options.recordFilterProgram);
  }

  // This instance's event renderer. A trap while rendering leaves the event to the host's
  // serializer (EventLines.render says false), so it costs no event and ends no run.
  private eventRenderer(): EventLines {
    const exports = this.exports;
    return new EventLines(exports.memory.buffer, exports.region(L.R_EVENT), exports.region(L.R_EVENT_OUT), (at) => {
      try {
        return exports.renderEvent(at);
      } catch {
        return 0;
      }
    });
  }

  // A new instance's tracker starts empty: the calls an instance that trapped held are lost (docs/tracker-core.md).
  private newCoreTracker(lines: EventLines): CoreTracker {
    const exports = this.exports;
    this.coreTracker = new CoreTracker(lines, (count, ends) => exports.trackPush(count, ends), () => exports.trackFinish(), (which) => exports.trackerCounter(which));
    return this.coreTracker;
  }

  // Memory grown to the estimate in one step, so configure()'s reservations fit without the
  // step-by-step growth (one grow per table) that V8 answered with up to three more full
  // garbage collections at start-up. Where the engine refuses, configure() grows what it
  // needs itself, or says it cannot.
  private growToEstimate(): void {
    const memory = this.exports.memory;
    const pages = Math.ceil(coreMemoryBytes(this.options) / 65536) - memory.buffer.byteLength / 65536;
    try {
      if (pages > 0) memory.grow(pages);
    } catch {
      // RangeError: configure() reports the shortage.
    }
  }

  // The event renderer of the current instance (batches hand out the same).
  get eventLines(): EventLines | undefined {
    return this.batch.eventLines;
  }

  // Bytes of memory the configuration reserved: what coreMemoryBytes() must cover.
  get reservedBytes(): number {
    return this.exports.reservedBytes();
  }

  // An AssemblyScript string in the core's memory (UTF-16, its byte length in the 4 bytes before it).
  private coreString(at: number): string {
    const bytes = new Uint8Array(this.exports.memory.buffer);
    if (at < 4 || at > bytes.length) return "?";
    const length = new DataView(bytes.buffer).getUint32(at - 4, true);
    return at + length > bytes.length ? "?" : Buffer.from(bytes.buffer, at, length).toString("utf16le");
  }

  // The program was compiled by host/filter from this same layout, so a refusal
  // here is a bug in the compiler, not in the user's expression.
  private loadFilter(program: Uint8Array): void {
    this.u8.set(program, this.exports.region(L.R_FILTER));
    const result = this.exports.loadFilter(program.length);
    if (result !== L.FILTER_OK) {
      throw new Error(`core: the filter program was refused (code ${result}); this is a bug in host/filter, please report the expression`);
    }
  }

  private loadRecordFilter(program: Uint8Array): void {
    const offset = recordFilterOffset(this.options);
    this.u8.set(program, this.exports.region(L.R_FILTER) + offset);
    const result = this.exports.loadRecordFilter(offset, program.length);
    if (result !== L.FILTER_OK) {
      throw new Error(`core: the --record-filter program was refused (code ${result}); this is a bug in host/filter, please report the expression`);
    }
  }

  private configure(options: CoreOptions): void {
    const cfg = this.exports.configArea();
    const view = new DataView(this.exports.memory.buffer);
    const sensor = Buffer.from(JSON.stringify(options.sensor).slice(1, -1));
    const agent = Buffer.from(JSON.stringify(options.agent).slice(1, -1));
    if (sensor.length > L.CFG_SENSOR_MAX) throw new Error(`core: sensor name is ${sensor.length} bytes; at most ${L.CFG_SENSOR_MAX} fit`);
    if (agent.length > L.CFG_AGENT_MAX) throw new Error(`core: agent string is ${agent.length} bytes; at most ${L.CFG_AGENT_MAX} fit`);
    const put = (slot: number, value: number): void => view.setUint32(cfg + slot, value, true);
    const size = sized(options);
    const { records, jsonBytes } = outputRegions(this.inCapacity, size.tcpBufferBytes);
    put(L.CFG_IN_BYTES, this.inCapacity);
    put(L.CFG_MAX_FRAMES, this.maxFrames);
    put(L.CFG_MAX_RECORDS, records);
    put(L.CFG_OUT_JSON_BYTES, jsonBytes);
    put(L.CFG_FILTER_BYTES, filterBytes(options));
    put(L.CFG_FLAGS, (options.renderJson === false ? 0 : L.CFG_FLAG_RENDER_JSON) | (options.mediaPackets ? L.CFG_FLAG_MEDIA_PACKETS : 0)
      | (options.callKeys === false && options.tracker === undefined ? 0 : L.CFG_FLAG_CALL_KEYS)
      | (options.dialogSpans === false && options.tracker === undefined && size.mediaCalls === 0 ? 0 : L.CFG_FLAG_DIALOG_SPANS)
      | (options.allFields === false && options.tracker === undefined && size.mediaCalls === 0 && options.dialogSpans === false
        && options.filterProgram === undefined && options.recordFilterProgram === undefined ? 0 : L.CFG_FLAG_ALL_FIELDS));
    put(L.CFG_MEDIA_CALLS, size.mediaCalls);
    put(L.CFG_MEDIA_ENDPOINTS, size.mediaEndpoints);
    put(L.CFG_MEDIA_IDLE, size.mediaIdle);
    put(L.CFG_TCP_FLOWS, size.tcpFlows);
    put(L.CFG_TCP_BUFFERS, size.tcpBuffers);
    put(L.CFG_TCP_BUFFER_BYTES, size.tcpBufferBytes);
    put(L.CFG_TCP_IDLE, size.tcpIdle);
    put(L.CFG_TCP_PARTIAL_IDLE, size.tcpPartialIdle);
    put(L.CFG_MAX_BODY, size.maxBody);
    put(L.CFG_DEFRAG_SLOTS, size.defragSlots);
    put(L.CFG_DEFRAG_TIMEOUT, size.defragTimeout);
    const vxlan = size.vxlanPorts;
    if (vxlan.length > 2) throw new Error(`core: ${vxlan.length} VXLAN ports given; at most 2 are read`);
    put(L.CFG_VXLAN_PORTS, ((vxlan[0] ?? 0) & 0xffff) | (((vxlan[1] ?? 0) & 0xffff) << 16));
    put(L.CFG_GENEVE_PORT, size.genevePort);
    put(L.CFG_SENSOR_LEN, sensor.length);
    put(L.CFG_AGENT_LEN, agent.length);
    new Uint8Array(this.exports.memory.buffer).set(sensor, cfg + L.CFG_SENSOR);
    new Uint8Array(this.exports.memory.buffer).set(agent, cfg + L.CFG_AGENT);
    const result = this.exports.configure();
    if (result === L.CONFIGURE_NO_MEMORY) throw new Error("core: not enough memory for the configured batch sizes; lower them");
    if (result !== L.CONFIGURE_OK) throw new Error(`core: configuration refused (code ${result})`);
    if (options.tracker !== undefined) this.configureTracker(options.tracker);
  }

  // The tracker's settings at R_EVENT (TRK_*), then configureTracker() sizes its tables.
  private configureTracker(t: CoreTrackerOptions): void {
    const at = this.exports.region(L.R_EVENT) + L.TRK_SETTINGS;
    const view = new DataView(this.exports.memory.buffer);
    const settings: [number, number][] = [
      [L.TRK_INVITE, t.inviteSeconds], [L.TRK_GRACE, t.graceSeconds], [L.TRK_ESTABLISHED, t.establishedSeconds],
      [L.TRK_LINGER, t.lingerSeconds], [L.TRK_TRANSACTION, t.transactionSeconds], [L.TRK_CHALLENGE, t.challengeSeconds],
      [L.TRK_EXPIRY_GRACE, t.expiryGraceSeconds], [L.TRK_COUNTERS, t.countersSeconds], [L.TRK_MAX_CALLS, t.maxCalls],
      [L.TRK_MAX_BINDINGS, t.maxBindings], [L.TRK_MAX_TRANSACTIONS, t.maxTransactions],
    ];
    for (const [offset, value] of settings) view.setFloat64(at + offset, value, true);
    const observer = Buffer.from(t.observer ?? "");
    new Uint8Array(this.exports.memory.buffer).set(observer, at + L.TRK_SETTINGS_END);
    if (!this.exports.configureTracker(observer.length)) {
      throw new Error("core: not enough memory for the call tracker's tables; lower --call-limit");
    }
  }

  // Frames that sit one after another in the reader's buffer are copied into
  // the staging copy in one move when the reader releases the buffer, record
  // headers and all, instead of one copy per frame: the index points between them.
  // A frame the reader read into the staging copy itself (lend()) stays where it is.
  frame(data: Uint8Array, start: number, caplen: number, origLen: number, linkType: number,
    tsSec: number, tsNsec: number, iface: number): void {
    const len = Math.min(caplen, MAX_FRAME, this.inCapacity);
    if (data !== this.run || start < this.runEnd) this.release();
    if (this.frames === this.maxFrames) this.flush();
    let at = this.lentAt(data, start);
    if (at < 0) at = this.place(data, start, len);
    this.cursor = at + len;
    const entry = (this.frames * L.FRAME_SIZE) >> 2;
    const w = this.stagedWords;
    w[entry + (L.FRAME_OFFSET >> 2)] = at;
    w[entry + (L.FRAME_CAPLEN >> 2)] = len;
    w[entry + (L.FRAME_ORIGLEN >> 2)] = Math.max(origLen, caplen);
    w[entry + (L.FRAME_LINKTYPE >> 2)] = linkType;
    // i64 seconds as two u32 halves: no BigInt per frame. Capture times fit 2^53.
    w[entry + (L.FRAME_TS_SEC >> 2)] = tsSec >>> 0;
    w[entry + (L.FRAME_TS_SEC >> 2) + 1] = Math.floor(tsSec / 4294967296);
    w[entry + (L.FRAME_TS_NSEC >> 2)] = tsNsec;
    w[entry + (L.FRAME_IFACE >> 2)] = iface;
    this.frames++;
    this.framesTaken++;
  }

  // Classic pcap records that lie in the staging copy (the chunk lend() gave the reader): the whole
  // ones from `start` to `end` of `data` copied into the input region and indexed there by the core
  // (assembly/pcap.ts), one call for the chunk where frame() is one per record; the index is copied
  // back, as frame() writes it, for the batch's survival of a trap. Where it stopped (`start` at
  // once when `data` is not the staging copy's: the reader calls frame() instead).
  pcapRecords(data: Uint8Array, start: number, end: number, format: PcapFormat): number {
    const at = this.lentAt(data, start);
    if (at < 0) return start;
    this.release();
    const shift = at - start;        // where byte 0 of `data` lies in the staging copy
    const last = shift + end;
    const maxFrame = Math.min(MAX_FRAME, this.inCapacity);
    for (let from = at; ;) {
      if (this.frames === this.maxFrames) this.flush();
      this.u8.set(this.stagedBytes.subarray(from, last), this.inBytes + from);
      [this.inCoreFrom, this.inCoreTo] = [from, last];
      const n = this.exports.indexPcap(from, last, this.frames, this.maxFrames - this.frames, !format.littleEndian,
        format.nsecPerFraction, format.linkType, format.maxRecord, maxFrame);
      if (n > 0) {
        if (this.frames !== this.indexInCoreTo) this.indexInCoreFrom = this.frames;
        this.indexInCoreTo = this.frames + n;
        const index = this.inIndex + this.frames * L.FRAME_SIZE;
        this.stagedIndex.set(this.u8.subarray(index, index + n * L.FRAME_SIZE), this.frames * L.FRAME_SIZE);
        this.frames += n;
        this.framesTaken += n;
        this.cursor = this.exports.pcapFramesEnd();
      }
      from = this.exports.pcapStop();
      if (this.frames < this.maxFrames || from === last) return from - shift;
    }
  }

  // Where a frame at `start` of `data` already lies in the staging copy, past the frames
  // placed so far; or -1 when it must be copied there. Where a view lies is asked once
  // per view (once per chunk), not per frame: `buffer` and `byteOffset` are calls.
  private lentAt(data: Uint8Array, start: number): number {
    if (data !== this.lastView) {
      this.lastView = data;
      this.lastViewAt = data.buffer === this.stagedBytes.buffer ? data.byteOffset - this.stagedBytes.byteOffset : -1;
    }
    const at = this.lastViewAt + start;
    return this.lastViewAt >= 0 && at >= this.cursor ? at : -1;
  }

  // Places a frame to be copied: it joins the current run, or begins one (a batch
  // pushed first when the input region has no room left for it).
  private place(data: Uint8Array, start: number, len: number): number {
    if (this.placeOf(start) + len > this.inCapacity) this.flush();
    const at = this.placeOf(start);
    if (this.run === undefined) {
      this.run = data;
      this.runStart = start;
      this.runAt = at;
    }
    this.runEnd = start + len;
    return at;
  }

  // Where a frame starting at `start` of the current run's buffer lands in the input region.
  private placeOf(start: number): number {
    return this.run === undefined ? this.cursor : this.runAt + (start - this.runStart);
  }

  // The staging copy past the frames placed so far and `keep` bytes for the reader's
  // carried unit, for the reader's next chunk (pushing the batch first when less than
  // `bytes` is left); undefined when not even LEND_MIN bytes fit.
  lend(keep: number, bytes: number): Uint8Array | undefined {
    this.release();
    if (this.cursor + keep + bytes > this.inCapacity) this.flush();
    const at = this.cursor + keep;
    const room = Math.min(bytes, this.inCapacity - at);
    this.inCoreFrom = this.inCoreTo = 0;   // the reader writes the staging copy from here
    return room >= LEND_MIN ? this.stagedBytes.subarray(at, at + room) : undefined;
  }

  release(): void {
    if (this.run === undefined) return;
    this.stagedBytes.set(this.run.subarray(this.runStart, this.runEnd), this.runAt);
    this.run = undefined;
    this.inCoreFrom = this.inCoreTo = 0;
  }

  // The staging copy's bytes in use, into the input region: those pcapRecords copied there
  // already left as they are (the core does not write its input region; a trap copies all again).
  private stagedToCore(): void {
    const [from, to] = [Math.min(this.inCoreFrom, this.cursor), Math.min(this.inCoreTo, this.cursor)];
    this.u8.set(this.stagedBytes.subarray(0, from), this.inBytes);
    if (to < this.cursor) this.u8.set(this.stagedBytes.subarray(to, this.cursor), this.inBytes + to);
  }

  // The staging index from entry `done` on, to the start of the core's index region. Before the
  // batch's first push the entries indexPcap wrote there already are left as they are.
  private stagedIndexToCore(done: number): void {
    const size = L.FRAME_SIZE;
    if (done > 0 || this.indexInCoreTo === 0) {
      this.u8.set(this.stagedIndex.subarray(done * size, this.frames * size), this.inIndex);
      return;
    }
    const [from, to] = [this.indexInCoreFrom, this.indexInCoreTo];
    this.u8.set(this.stagedIndex.subarray(0, from * size), this.inIndex);
    this.u8.set(this.stagedIndex.subarray(to * size, this.frames * size), this.inIndex + to * size);
  }

  // Pushes the pending frames through the core, as many calls as the output needs.
  // A trap costs the frame that caused it, never the process (see survive()).
  flush(): void {
    this.release();
    this.stagedToCore();
    let done = 0;
    while (done < this.frames) {
      const pending = this.frames - done;
      this.stagedIndexToCore(done);
      this.countersBefore.set(this.u8.subarray(this.countersAt, this.countersAt + this.countersBefore.length));
      let consumed: number;
      try {
        consumed = this.exports.push(pending);
      } catch (err) {
        this.survive(err, done + Math.min(this.exports.currentFrame(), pending - 1));
        continue;
      }
      const results = this.exports.resultCount();
      const media = this.exports.mediaResultCount();
      const ends = this.exports.mediaEndCount();
      if (results > 0 || media > 0 || ends > 0) {
        this.batch.open(results, media, ends);
        this.onBatch(this.batch);
        this.batch.open(0, 0, 0);
      }
      done += consumed;
    }
    this.frames = 0;
    this.cursor = 0;
    this.indexInCoreFrom = this.indexInCoreTo = 0;
  }

  // At the end of the input: the pending frames, what the TCP streams still hold of messages and
  // the datagrams still missing fragments counted and dropped, then the stats of every call the media table still holds, handed on
  // as batches of their own.
  finish(): void {
    this.flush();
    this.exports.endInput();
    for (let ends = this.exports.releaseMedia(); ends > 0; ends = this.exports.releaseMedia()) {
      this.batch.open(0, 0, ends);
      this.onBatch(this.batch);
      this.batch.open(0, 0, 0);
    }
  }

  // push() trapped (a WebAssembly RuntimeError, or abort() in the core) on frame
  // `trapped` of the batch. Nothing in the old memory can be trusted after a trap
  // (a runaway write may have gone over any of it), so the core is built anew (same
  // configuration and filter), given the counters as they were before the push and
  // the batch from the host's copy, less that frame; the push goes again from there.
  // Streams and fragments in progress are lost with the old core: they resync as if
  // picked up in the middle.
  private survive(err: unknown, trapped: number): void {
    if (!(err instanceof WebAssembly.RuntimeError || err instanceof RangeError || err instanceof CoreAbort)) throw err;
    const frame = this.stagedFrame(trapped);
    this.instantiate();
    this.u8.set(this.countersBefore, this.countersAt);
    this.u8.set(this.stagedBytes.subarray(0, this.cursor), this.inBytes);
    this.inCoreFrom = this.inCoreTo = 0;   // a new memory holds what was just copied, no more
    this.indexInCoreFrom = this.indexInCoreTo = 0;   // and no index: the next push copies it whole
    this.stagedIndex.copyWithin(trapped * L.FRAME_SIZE, (trapped + 1) * L.FRAME_SIZE, this.frames * L.FRAME_SIZE);
    this.frames--;
    this.traps++;
    this.options.onTrap?.({ error: (err as Error).message, frame, traps: this.traps });
  }

  private stagedFrame(i: number): CoreTrap["frame"] {
    const v = this.stagedView;
    const entry = i * L.FRAME_SIZE;
    const u32 = (at: number): number => v.getUint32(entry + at, true);
    const at = u32(L.FRAME_OFFSET);
    return {
      data: this.stagedBytes.slice(at, at + u32(L.FRAME_CAPLEN)),
      origLen: u32(L.FRAME_ORIGLEN),
      linkType: u32(L.FRAME_LINKTYPE),
      tsSec: u32(L.FRAME_TS_SEC) + v.getInt32(entry + L.FRAME_TS_SEC + 4, true) * 4294967296,
      tsNsec: u32(L.FRAME_TS_NSEC),
    };
  }

  // The IP payload of the last datagram reassembled from fragments, copied; for
  // tests and diagnostics (call after flush(): the next push reuses its buffer).
  lastReassembled(): Uint8Array | undefined {
    const at = this.exports.reassembledAddress();
    return at === 0 ? undefined : this.u8.slice(at, at + this.exports.reassembledLength());
  }

  // Linear memory in bytes: fixed after configure(), which tests check.
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    L.COUNTER_NAMES.forEach((name, i) => {
      out[name] = Number(this.view.getBigUint64(this.countersAt + i * 8, true));
    });
    out.core_traps = this.traps;
    return out;
  }
}

// abort() in the core: a bug, survived like a trap.
class CoreAbort extends Error {}
