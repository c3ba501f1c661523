// The recorder, a Sink: for each call chosen (every call; with --record-filter those whose
// initial INVITE the core marked; and those a started address names, control.ts) it writes the
// call's own pcap, every SIP and RTP/RTCP frame byte for byte as captured, and for G.711 a WAV
// with a channel per direction (wav.ts). Files are named and budgeted by files.ts. A recording
// ends a few seconds of capture time after the call does (its last ACK or 200 still go in), or
// when it has been idle for --record-idle; all are finished when the run ends.
import type { MediaPacket, MessageBatch, SipMessage } from "../core/records";
import type { Sink } from "../sink/sink";
import type { Logger } from "../log";
import type { RecordingRef } from "../calls/events";
import { BLOCK_BYTES, DiskBudget, FilePool, dayFolder, recordingName, type PooledFile } from "./files";
import { pcapHeader, pcapRecord, RECORD_HEADER_BYTES, writeRecordOf } from "./pcap-writer";
import { isG711, PCMA, PCMU } from "./g711";
import type { RecordingControl } from "./control";
import { existsSync } from "node:fs";
import { join } from "node:path";

export interface RecorderOptions {
  dir: string;
  filtered: boolean;          // --record-filter given: only calls whose initial INVITE matched
  maxBytes: number;           // --record-max-mb in bytes; 0: no budget
  openFiles: number;          // --record-open-files
  idleSeconds: number;        // --record-idle
  log: Logger;
  control?: RecordingControl;
  report?: (line: string) => void;
  // --anonymize: files named from the Call-ID's pseudonym, so the paths in events name no original.
  nameOf?: (callId: string) => string;
}

interface Recording {
  callId: string;
  base: string;
  pcap: PooledFile;
  linkType: number | undefined;
  wav: PooledFile | undefined;   // its WAV, written by the writer thread's track (wav.ts)
  otherCodec: number | undefined;
  answered: boolean;
  lastUs: number;
  endUs: number | undefined;
  lastBatch: number;
  lastFrame: number;
  slot: SlotCall | undefined;   // the media call slot whose packets found it, let go when it is finished
}

// What a media call slot holds, for as long as it holds the same call.
interface SlotCall {
  generation: number;
  callId: string;
  recording: Recording | undefined;
}

// Methods of an INVITE dialog: an address started mid-call picks the call up from any of them, never a REGISTER or OPTIONS.
const CALL_METHODS = new Set(["INVITE", "ACK", "BYE", "CANCEL", "PRACK", "UPDATE", "INFO", "REFER", "NOTIFY"]);
const END_LINGER_US = 4_000_000;     // after the call ends: time for the 200 to BYE, an ACK, late RTP
const SWEEP_US = 1_000_000;
const MAX_RECORDINGS = 10_000;       // recordings open at once; beyond, the oldest is finished early (counted)
const FINISHED_HELD = 4096;          // finished recordings' paths kept for events that come after

export class Recorder implements Sink {
  readonly counts = { started: 0, finished: 0, evicted: 0, frames: 0, otherLinkType: 0, errors: 0 };
  private readonly recordings = new Map<string, Recording>();
  private readonly finishedPaths = new Map<string, RecordingRef>();
  private readonly budget: DiskBudget;
  private readonly pool: FilePool;
  private readonly days = new Set<string>();
  // By media call slot (below --media-calls): an array, not a Map, as every media packet looks here.
  private readonly slotCalls: (SlotCall | undefined)[] = [];
  private batchNumber = 0;
  private nowUs = 0;
  private sweptUs = 0;
  private readonly idleUs: number;

  readonly control: RecordingControl | undefined;

  constructor(private readonly options: RecorderOptions) {
    this.control = options.control;
    this.budget = new DiskBudget(options.maxBytes, options.log);
    this.budget.adopt(options.dir);
    this.pool = new FilePool(options.openFiles, this.budget, (err) => this.failed(err));
    this.idleUs = options.idleSeconds * 1e6;
  }

  write(batch: MessageBatch): void {
    this.batchNumber++;
    try {
      this.walk(batch);
      if (this.nowUs - this.sweptUs >= SWEEP_US) this.sweep();
    } catch (err) {
      this.failed(err);
    }
    this.pool.post();
  }

  backlog(): Promise<void> | undefined {
    return this.pool.backlog();
  }

  async close(): Promise<void> {
    for (const recording of [...this.recordings.values()]) this.finish(recording);
    await this.pool.settled();
    const c = this.counters();
    this.options.report?.(`siphon: ${c.recordings_started} calls recorded in ${this.options.dir} (${c.recording_bytes} bytes held), ` +
      `${c.recordings_removed} files removed for --record-max-mb, ${c.recordings_evicted} recordings ended early (more than ${MAX_RECORDINGS} at once), ` +
      `${c.recording_files_reopened} files reopened (more than --record-open-files ${this.options.openFiles} written at once)`);
  }

  // The recording of a call, while it is written and for a while after.
  paths(callId: string): RecordingRef | undefined {
    const recording = this.recordings.get(callId);
    if (recording === undefined) return this.finishedPaths.get(callId);
    return this.pathsOf(recording);
  }

  counters(): Record<string, number> {
    return {
      recordings_started: this.counts.started,
      recordings_finished: this.counts.finished,
      recordings_evicted: this.counts.evicted,
      recordings_removed: this.budget.removed,
      recording_bytes: this.budget.bytes,
      recording_frames: this.counts.frames,
      recording_late_packets: this.pool.wavLate,
      recording_files_reopened: this.pool.reopened,
      recording_errors: this.counts.errors,
      recording_other_link_type: this.counts.otherLinkType,
    };
  }

  // SIP messages and media packets in frame order, so each call's pcap is in capture order.
  private walk(batch: MessageBatch): void {
    const messages = batch.count;
    const packets = batch.mediaCount;
    let m = 0;
    let p = 0;
    let message = messages > 0 ? batch.message(0, true) : undefined;
    let packet = packets > 0 ? batch.media(0) : undefined;
    while (message !== undefined || packet !== undefined) {
      if (packet !== undefined && (message === undefined || packet.frame < message.frame)) {
        this.onMedia(batch, packet);
        packet = ++p < packets ? batch.media(p) : undefined;
      } else if (message !== undefined) {
        this.onMessage(batch, message);
        message = ++m < messages ? batch.message(m, true) : undefined;
      }
    }
  }

  private onMessage(batch: MessageBatch, m: SipMessage): void {
    const callId = m.callId;
    if (callId === "") return;
    const timeUs = m.timeSec * 1e6 + Math.floor(m.timeNsec / 1000);
    this.nowUs = Math.max(this.nowUs, timeUs);
    const recording = this.unlessOver(this.recordings.get(callId), timeUs) ?? (this.chosen(m) ? this.open(callId, timeUs) : undefined);
    if (recording === undefined) return;
    recording.lastUs = timeUs;
    this.writeFrame(recording, batch, m.frame);
    if (m.isRequest || m.status < 200) return;
    if (m.cseqMethod === "INVITE" && m.status < 300) recording.answered = true;
    const ends = m.cseqMethod === "BYE" || (m.cseqMethod === "INVITE" && m.status >= 300 && !recording.answered);
    if (ends) recording.endUs ??= timeUs + END_LINGER_US;
  }

  private chosen(m: SipMessage): boolean {
    const initialInvite = m.isRequest && m.method === "INVITE" && m.toTag === "";
    if (initialInvite && (!this.options.filtered || m.recordMatch)) return true;
    const control = this.options.control;
    if (control === undefined || control.empty || !CALL_METHODS.has(m.cseqMethod)) return false;
    const media = m.sdp?.ip;   // the SDP's connection address: media may flow elsewhere than SIP
    return control.claim(media ? [m.src.ip, m.dst.ip, media] : [m.src.ip, m.dst.ip]) !== undefined;
  }

  private onMedia(batch: MessageBatch, packet: MediaPacket): void {
    const timeUs = packet.timeUs;
    if (timeUs > this.nowUs) this.nowUs = timeUs;
    const recording = this.unlessOver(this.recordingOf(packet), timeUs);
    if (recording === undefined) return;
    recording.lastUs = timeUs;
    this.writeFrame(recording, batch, packet.frame);
    if (packet.rtcp) return;
    const payloadType = packet.payloadType;
    if (!isG711(payloadType)) {
      recording.otherCodec ??= payloadType;
      return;
    }
    if (recording.wav === undefined) {
      recording.wav = this.createFile(`${recording.base}.wav`);
      this.pool.startWav(recording.wav, timeUs, payloadType === PCMA ? PCMA : PCMU);
    }
    this.pool.wavPacket(recording.wav, packet.direction, packet.ssrc, packet.rtpTime, timeUs, payloadType, packet.payload);
  }

  // The recording of a packet's call: the Call-ID of its call slot is read from the core once per
  // call rather than per packet, and its recording looked up once (finish lets it go).
  private recordingOf(packet: MediaPacket): Recording | undefined {
    const generation = packet.generation;
    const call = packet.call;
    let slot = this.slotCalls[call];
    if (slot === undefined || slot.generation !== generation) {
      const callId = packet.callId;
      if (callId === "") return undefined;
      slot = { generation, callId, recording: undefined };
      while (this.slotCalls.length < call) this.slotCalls.push(undefined);   // kept packed: slots need not come in order
      this.slotCalls[call] = slot;
    }
    if (slot.recording === undefined) {
      const found = this.recordings.get(slot.callId);
      // One slot holds a recording at a time (a call that left the media table may come back in
      // another), so finish() lets go of it everywhere: a finished WAV's windows serve other calls.
      if (found?.slot !== undefined && found.slot !== slot) found.slot.recording = undefined;
      if (found !== undefined) found.slot = slot;
      slot.recording = found;
    }
    return slot.recording;
  }

  // A frame holding several of the call's messages (TCP) goes in once.
  private writeFrame(recording: Recording, batch: MessageBatch, index: number): void {
    if (recording.lastBatch === this.batchNumber && recording.lastFrame === index) return;
    recording.lastBatch = this.batchNumber;
    recording.lastFrame = index;
    const frame = batch.frame(index);
    const pcap = recording.pcap;
    if (recording.linkType === undefined) {
      recording.linkType = frame.linkType;
      pcap.append(pcapHeader(frame.linkType));
    } else if (frame.linkType !== recording.linkType) {
      this.counts.otherLinkType++;   // a classic pcap holds one link type
      return;
    }
    const timeUs = frame.timeUs;
    const timeSec = Math.floor(timeUs / 1e6);
    const timeNsec = (timeUs - timeSec * 1e6) * 1000;
    const bytes = frame.bytes;
    const length = RECORD_HEADER_BYTES + bytes.byteLength;
    if (length > BLOCK_BYTES) pcap.append(pcapRecord({ bytes, linkType: frame.linkType, timeSec, timeNsec, origLen: frame.origLen }));
    else {
      const at = pcap.room(length);
      writeRecordOf(pcap.block, pcap.blockView, at, bytes, timeSec, timeNsec, frame.origLen);
    }
    this.counts.frames++;
  }

  private open(callId: string, timeUs: number): Recording {
    if (this.recordings.size >= MAX_RECORDINGS) {
      const [oldest] = this.recordings.values();
      if (oldest !== undefined) {
        this.finish(oldest);
        this.counts.evicted++;
      }
    }
    const { day, base } = recordingName(this.options.nameOf?.(callId) ?? callId, timeUs);
    const folder = dayFolder(this.options.dir, day, this.days);
    // The same Call-ID again (a new call, or a rerun into DIR): the next free name for both files.
    let path = join(folder, base);
    let pcap: PooledFile | undefined;
    for (let n = 2; pcap === undefined; n++) {
      if (!existsSync(`${path}.wav`)) pcap = this.pool.create(`${path}.pcap`);
      if (pcap === undefined) path = join(folder, `${base}-${n}`);
    }
    const recording: Recording = { callId, base: path, pcap, linkType: undefined, wav: undefined, otherCodec: undefined,
      answered: false, lastUs: timeUs, endUs: undefined, lastBatch: 0, lastFrame: -1, slot: undefined };
    this.recordings.set(callId, recording);
    this.counts.started++;
    return recording;
  }

  // The call's WAV: open() saw no file of its name, and the call's pcap, pending in the pool, keeps
  // other recordings of this run off its base name; an existing name is still never written ("wx").
  private createFile(path: string): PooledFile {
    const file = this.pool.create(path, true);
    if (file === undefined) throw new Error(`${path} exists already`);
    return file;
  }

  private sweep(): void {
    this.sweptUs = this.nowUs;
    for (const recording of [...this.recordings.values()]) if (this.over(recording, this.nowUs)) this.finish(recording);
  }

  private over(recording: Recording, timeUs: number): boolean {
    return recording.endUs !== undefined ? timeUs >= recording.endUs : timeUs - recording.lastUs >= this.idleUs;
  }

  // The sweep runs between batches, so a packet whose capture time jumps hours past the last one
  // (a damaged capture) would otherwise reach a recording already over, and its WAV would write
  // the whole gap as silence: 16 kB a second, hundreds of MiB from one packet. It finishes it.
  private unlessOver(recording: Recording | undefined, timeUs: number): Recording | undefined {
    if (recording === undefined || !this.over(recording, timeUs)) return recording;
    this.finish(recording);
    return undefined;
  }

  private finish(recording: Recording): void {
    if (recording.slot?.recording === recording) recording.slot.recording = undefined;
    this.recordings.delete(recording.callId);
    this.counts.finished++;
    const paths = this.pathsOf(recording);
    if (this.finishedPaths.size >= FINISHED_HELD) this.finishedPaths.delete(this.finishedPaths.keys().next().value as string);
    this.finishedPaths.set(recording.callId, paths);
    recording.pcap.close();
    recording.wav?.close();
  }

  private pathsOf(recording: Recording): RecordingRef {
    const paths: RecordingRef = { pcap: `${recording.base}.pcap` };
    if (recording.wav !== undefined) paths.wav = `${recording.base}.wav`;
    else if (recording.otherCodec !== undefined) paths.note = `payload type ${recording.otherCodec} is not G.711 (PCMU, PCMA): no WAV, the media is in the pcap`;
    return paths;
  }

  private failed(err: unknown): void {
    const e = err as NodeJS.ErrnoException;
    if (this.counts.errors++ === 0) {
      this.options.log.error(`--record ${this.options.dir}: a recording could not be written (${e.code ?? e.message}); ` +
        "recording goes on for other calls, check the directory's space and permissions", {});
    }
  }
}
