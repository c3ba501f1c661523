// Live capture through libpcap, with siphon's own addon (host/source/libpcap/). One handle per
// interface, each with its own link type. The addon fills a buffer with classic pcap records
// carrying libpcap's timestamps, and they go through the same pcap reader as a file's: the live
// path and the replay path differ only in where the records come from.
import { readFileSync } from "node:fs";
import { endianness } from "node:os";
import { CaptureParser } from "./file";
import type { FrameConsumer } from "./frames";
import { UsageError } from "../exits";
import { addonPath, isPcapError, loadAddon, type Opened, type PcapAddon, type PcapStats } from "./libpcap/addon";

/** Live capture could not start: the message says what to do. A bad argument is a UsageError. */
export class LiveCaptureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LiveCaptureError";
  }
}

const INSTALL_LIBPCAP = "install libpcap (Debian/Ubuntu: apt-get install libpcap0.8; " +
  "Fedora/RHEL: dnf install libpcap; Alpine: apk add libpcap)";

/** Loads the addon, or says what is missing. SIPHON_PCAP_ADDON names a .node file to load in
 *  its place (a packager's own build; tests use it to simulate a missing one). */
export function loadPcap(): PcapAddon {
  let addon: PcapAddon;
  try {
    addon = loadAddon();
  } catch (err) {
    throw new LiveCaptureError(explainLoadFailure(err as NodeJS.ErrnoException));
  }
  try {
    addon.libVersion(); // loads libpcap itself: a missing library is told here, not mid-open
  } catch (err) {
    throw new LiveCaptureError(explainPcapFailure(err));
  }
  return addon;
}

function explainLoadFailure(err: NodeJS.ErrnoException): string {
  const message = firstLine(err.message ?? String(err));
  if (/No native build was found/.test(message)) {
    return `live capture needs siphon's libpcap addon, which has no prebuilt binary for ${process.platform}-${process.arch} ` +
      "and was not compiled at install: install a C compiler, make, python3 and the libpcap headers " +
      "(Debian/Ubuntu: apt-get install build-essential python3 libpcap-dev), then run 'npx node-gyp-build' in siphon's " +
      "directory. Replaying files ('siphon replay') needs none of it.";
  }
  if (err.code === "MODULE_NOT_FOUND" || err.code === "ENOENT" || /cannot open shared object/.test(message)) {
    return `live capture: cannot load the libpcap addon ${safeAddonPath()} (${message}): ` +
      "unset SIPHON_PCAP_ADDON or point it at a siphon_pcap.node, or reinstall siphon. " +
      "Replaying files ('siphon replay') needs none of it.";
  }
  return `live capture: cannot load the libpcap addon (${message})`;
}

function safeAddonPath(): string {
  try {
    return addonPath();
  } catch {
    return "";
  }
}

function explainPcapFailure(err: unknown): string {
  if (isPcapError(err) && err.code === "PCAP_LIBRARY_MISSING") {
    return `live capture: libpcap is not installed (${err.message}): ${INSTALL_LIBPCAP}`;
  }
  return `live capture: libpcap does not answer: ${(err as Error).message}`;
}

function firstLine(text: string): string {
  return text.split("\n")[0];
}

// DLT values that are not the LINKTYPE of the same link (tcpdump.org/linktypes.html); the core
// takes LINKTYPEs.
const LINKTYPE_RAW = 101;
const DLT_RAW_ALIASES = [12, 14]; // DLT_RAW on Linux and most BSDs, and on OpenBSD

export function linkTypeOf(dlt: number): number {
  return DLT_RAW_ALIASES.includes(dlt) ? LINKTYPE_RAW : dlt;
}

// The link types the core decodes (assembly/link.ts's dispatch; test/link.test.ts checks the two
// agree): LINKTYPE_* values, and DLT_RAW's 12 and 14, which libpcap reports on some systems.
export const DECODED_LINK_TYPES: readonly number[] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

export function linkTypeName(linkType: number): string {
  const names: Record<number, string> = { 0: "null", 1: "ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP",
    108: "loopback", 113: "Linux SLL", 127: "802.11 radiotap", 228: "raw IPv4", 229: "raw IPv6", 276: "Linux SLL2" };
  return names[linkType] ?? `link type ${linkType}`;
}

export interface LiveOptions {
  interfaces: string[];
  filter: string;           // BPF, compiled by libpcap
  untaggedFilter?: string;  // where libpcap refuses `filter` for want of VLAN support on the link type
  snaplen: number;          // bytes kept of each packet
  bufferBytes: number;      // the kernel ring per interface
  promisc: boolean;
  immediate: boolean;       // TPACKET_V2, a slot per packet: prompt, but the ring holds far fewer
  blockTimeoutMs: number;   // TPACKET_V3 hands a block over when full or this old
  ignoreOutgoing: boolean;  // PACKET_IGNORE_OUTGOING: only packets arriving on the interface
}

/** Counters from the interface (/sys/class/net/IF/statistics): drops before any socket saw the packet. */
export interface InterfaceDrops {
  rxDropped: number;
  rxMissed: number;
  rxFifo: number;
}

export interface InterfaceStats {
  name: string;
  linkType: number;
  packets: number;              // records read
  truncated: number;            // cut to --snaplen
  kernelReceived: number;       // pcap_stats ps_recv since open: what the filter passed, drops included
  kernelDrops: number;          // pcap_stats ps_drop since open: the capture buffer was full
  filter: string;               // the BPF the handle runs
  warning?: string;             // libpcap's, from activation
  interfaceDrops?: InterfaceDrops; // since the handle opened; undefined where /sys has none
}

// One read fills at most this much; a record of the snap length always fits (2 MiB > 16 + 262144).
const READ_BUFFER_BYTES = 2 * 1024 * 1024;
// Reads per interface per loop turn, so a flooded interface cannot starve the outputs and the
// other interfaces; what is left is read on the next turn (the poll is level-triggered).
const READS_PER_TURN = 8;
// On a stop, the kernel hands over a partly filled block one block timeout after it opened it;
// the wait adds a margin for the kernel timer's granularity (a jiffy is up to 10 ms).
const STOP_MARGIN_MS = 20;
// At a stop a busy link could keep the last read going for ever: this many reads per interface.
const STOP_READS = 256;
// pcap_stats counts in 32 bits and wraps; differences are taken modulo 2^32.
const U32 = 2 ** 32;
const RECORD_HEADER_BYTES = 16;
const DROP_CHECK_MS = 1000;

class Interface {
  readonly stats: InterfaceStats;
  private readonly buffer = Buffer.alloc(READ_BUFFER_BYTES);
  private readonly recordMax: number;
  private parser: CaptureParser | undefined;
  private last: PcapStats;
  private readonly dropsAtOpen: InterfaceDrops | undefined;
  closed = false;
  dropsChecked = 0;   // kernelDrops when the drop check last looked (a /metrics scrape updates them too)

  constructor(private readonly addon: PcapAddon, readonly opened: Opened, name: string, filter: string) {
    this.stats = { name, linkType: linkTypeOf(opened.datalink), packets: 0, truncated: 0, kernelReceived: 0,
      kernelDrops: 0, filter, warning: opened.warning };
    this.recordMax = RECORD_HEADER_BYTES + opened.snaplen;
    this.last = addon.stats(opened.handle);
    this.dropsAtOpen = readInterfaceDrops(name);
  }

  /** Frames go to `sink` with this interface's index, as a file's frames would. */
  start(sink: FrameConsumer, index: number, onReadable: (error?: Error) => void): void {
    const stats = this.stats;
    const tagged: FrameConsumer = {
      frame(data, start, caplen, origLen, linkType, tsSec, tsNsec) {
        stats.packets++;
        if (caplen < origLen) stats.truncated++;
        sink.frame(data, start, caplen, origLen, linkType, tsSec, tsNsec, index);
      },
      release: () => sink.release?.(),
    };
    this.parser = new CaptureParser(this.stats.name, tagged);
    this.parser.feed(this.fileHeader());
    this.addon.start(this.opened.handle, onReadable);
  }

  /** Reads up to `reads` buffers; true when libpcap had nothing more. */
  read(reads: number): boolean {
    for (let i = 0; i < reads; i++) {
      const n = this.addon.read(this.opened.handle, this.buffer);
      if (n > 0) this.parser?.feed(this.buffer.subarray(0, n));
      if (this.buffer.length - n >= this.recordMax) return true; // stopped for want of packets
    }
    return false;
  }

  /** Brings kernelReceived and kernelDrops up to date (pcap_stats deltas modulo 2^32). */
  updateCounters(): void {
    const now = this.addon.stats(this.opened.handle);
    const received = (now.received - this.last.received + U32) % U32;
    const dropped = (now.dropped - this.last.dropped + U32) % U32;
    this.stats.truncated += (now.cut - this.last.cut + U32) % U32;
    this.stats.kernelReceived += received;
    this.stats.kernelDrops += dropped;
    this.last = now;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const now = readInterfaceDrops(this.stats.name);
    if (now && this.dropsAtOpen) this.stats.interfaceDrops = dropsBetween(this.dropsAtOpen, now);
    this.addon.close(this.opened.handle);
  }

  // A classic pcap file header in this machine's byte order, as the addon writes its records.
  private fileHeader(): Uint8Array {
    const header = Buffer.alloc(24);
    const le = endianness() === "LE";
    const magic = this.opened.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4;
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    view.setUint32(0, magic, le);
    view.setUint16(4, 2, le);
    view.setUint16(6, 4, le);
    view.setUint32(16, this.opened.snaplen, le);
    view.setUint32(20, this.stats.linkType, le);
    return header;
  }
}

export class LiveCapture {
  private readonly interfaces: Interface[] = [];
  private stopped = false;
  private dropTimer: NodeJS.Timeout | undefined;
  private droppingBefore = false;
  private blockTimeoutMs = 0;
  private failWith: (error: Error) => void = () => undefined;
  /** Rejects when a handle fails while capturing (the interface went away). */
  readonly failure = new Promise<never>((_, reject) => { this.failWith = reject; });

  /** `onDropsStart` is told when the kernel starts dropping after a second without drops. */
  constructor(private readonly addon: PcapAddon, private readonly onDropsStart?: (name: string, drops: number) => void) {
    this.failure.catch(() => undefined); // awaited by whoever races it; never unhandled here
  }

  /** Interfaces libpcap can open, for an error message or --list. */
  deviceNames(): string[] {
    try {
      return this.addon.devices().map((d) => d.name);
    } catch {
      return [];
    }
  }

  libVersion(): string {
    return this.addon.libVersion();
  }

  /** Opens one handle per interface, synchronously; throws LiveCaptureError with what to do. */
  open(options: LiveOptions): InterfaceStats[] {
    const known = this.deviceNames();
    for (const name of options.interfaces) {
      if (known.length > 0 && !known.includes(name)) {
        throw new UsageError(`-i ${name}: no such interface; libpcap can capture on: ${known.join(", ")}`);
      }
    }
    this.blockTimeoutMs = options.blockTimeoutMs;
    try {
      for (const name of options.interfaces) this.interfaces.push(this.openOne(name, options));
    } catch (err) {
      this.close();
      throw err;
    }
    return this.interfaces.map((i) => i.stats);
  }

  private openOne(name: string, options: LiveOptions): Interface {
    let opened: Opened;
    try {
      opened = this.addon.open(name, { snaplen: options.snaplen, promisc: options.promisc, bufferBytes: options.bufferBytes,
        timeoutMs: options.blockTimeoutMs, immediate: options.immediate, nanosecond: true, ignoreOutgoing: options.ignoreOutgoing });
    } catch (err) {
      throw explainOpenFailure(name, "", err);
    }
    let filter = options.filter;
    try {
      this.addon.setFilter(opened.handle, filter);
    } catch (err) {
      if (!/no VLAN support/i.test((err as Error).message) || options.untaggedFilter === undefined) {
        this.addon.close(opened.handle);
        throw explainOpenFailure(name, filter, err);
      }
      filter = options.untaggedFilter;
      this.addon.setFilter(opened.handle, filter);
    }
    return new Interface(this.addon, opened, name, filter);
  }

  /** The BPF every interface runs, as one text (one line per interface when they differ). */
  filter(): string {
    const filters = [...new Set(this.interfaces.map((i) => i.stats.filter))];
    return filters.length === 1 ? filters[0] : this.interfaces.map((i) => `${i.stats.name}: ${i.stats.filter}`).join("\n");
  }

  /** Replaces the BPF of every interface while capturing (the web view's control). When libpcap
   *  refuses it on one, the interfaces already changed get their old filter back, and the error
   *  names the interface and libpcap's reason. */
  setFilter(expression: string): void {
    const changed: Interface[] = [];
    for (const iface of this.interfaces.filter((i) => !i.closed)) {
      try {
        this.addon.setFilter(iface.opened.handle, expression);
      } catch (err) {
        for (const back of changed) this.addon.setFilter(back.opened.handle, back.stats.filter);
        throw new Error(`-i ${iface.stats.name}: libpcap refused the filter (${(err as Error).message}); the capture keeps its filter`);
      }
      changed.push(iface);
    }
    for (const iface of changed) iface.stats.filter = expression;
  }

  /** Starts delivery: each interface's packets go to `sink` with its index; `onPackets` runs
   *  after each turn of reads, the moment to push a batch through the core. */
  start(sink: FrameConsumer, onPackets: () => void): void {
    this.interfaces.forEach((iface, index) => {
      iface.start(sink, index, (error) => {
        if (this.stopped) return;
        if (error) return this.fail(iface, error);
        try {
          iface.read(READS_PER_TURN);
        } catch (err) {
          return this.fail(iface, err as Error);
        }
        onPackets();
      });
    });
    this.dropTimer = setInterval(() => this.checkDrops(), DROP_CHECK_MS);
    this.dropTimer.unref();
  }

  private fail(iface: Interface, error: Error): void {
    this.stopped = true;
    this.failWith(new LiveCaptureError(`-i ${iface.stats.name}: capture failed: ${error.message}`));
  }

  private checkDrops(): void {
    let dropping = false;
    for (const iface of this.interfaces.filter((i) => !i.closed)) {
      iface.updateCounters();
      // From the totals, not updateCounters()'s delta: a scrape of /metrics between two checks
      // takes that delta, and drops that started then would never be warned of.
      const drops = iface.stats.kernelDrops - iface.dropsChecked;
      iface.dropsChecked = iface.stats.kernelDrops;
      if (drops > 0 && !this.droppingBefore) this.onDropsStart?.(iface.stats.name, drops);
      dropping ||= drops > 0;
    }
    this.droppingBefore = dropping;
  }

  /** Per interface: kernel drops (capture_kernel_drops{interface="lo"}) and packets read; and
   *  kernel_drops, their sum, which telemetry reports. */
  counters(): Record<string, number> {
    const out: Record<string, number> = { kernel_drops: 0 };
    for (const iface of this.interfaces) {
      if (!iface.closed) iface.updateCounters();
      out[`capture_kernel_drops{interface="${iface.stats.name}"}`] = iface.stats.kernelDrops;
      out[`capture_packets{interface="${iface.stats.name}"}`] = iface.stats.packets;
      out.kernel_drops += iface.stats.kernelDrops;
    }
    return out;
  }

  /** After a stop: waits one block timeout, so the kernel hands over the block it was filling,
   *  then reads what is left (a bounded number of reads on a busy link). */
  async drain(): Promise<void> {
    // Reading goes on while waiting: a readable poll left unread would fire on every loop turn.
    await new Promise((resolve) => setTimeout(resolve, this.blockTimeoutMs + STOP_MARGIN_MS));
    this.stopped = true;
    for (const iface of this.interfaces) {
      if (!iface.closed) iface.read(STOP_READS);
    }
  }

  /** Closes every handle; returns the final counters. */
  close(): InterfaceStats[] {
    this.stopped = true;
    clearInterval(this.dropTimer);
    this.checkDrops(); // drops since the last check are warned of too, however short the run
    for (const iface of this.interfaces) iface.close();
    return this.interfaces.map((i) => i.stats);
  }
}

function explainOpenFailure(name: string, filter: string, err: unknown): LiveCaptureError | UsageError {
  const message = (err as Error).message;
  const code = isPcapError(err) ? err.code : "";
  if (code === "PCAP_LIBRARY_MISSING") return new LiveCaptureError(explainPcapFailure(err));
  if (code === "PCAP_ERROR_PERM_DENIED" || code === "PCAP_ERROR_PROMISC_PERM_DENIED" || /Operation not permitted|Permission denied/i.test(message)) {
    const missing = code === "PCAP_ERROR_PROMISC_PERM_DENIED" ? "CAP_NET_ADMIN (promiscuous mode)" : "CAP_NET_RAW";
    return new LiveCaptureError(`-i ${name}: capture not permitted (${message}): the process lacks ${missing}. ` +
      `Either give node the capability (setcap cap_net_raw,cap_net_admin+eip "$(readlink -f "$(command -v node)")") ` +
      `or start as root with --user NAME to drop to NAME once the interfaces are open`);
  }
  if (code === "PCAP_ERROR_NO_SUCH_DEVICE") {
    return new UsageError(`-i ${name}: no such interface (${message})`);
  }
  if (code === "PCAP_ERROR_IFACE_NOT_UP") {
    return new LiveCaptureError(`-i ${name}: the interface is down (${message}): bring it up (ip link set ${name} up)`);
  }
  if (filter) {
    return new UsageError(`-f: libpcap refused the filter on ${name} (${message}): ${JSON.stringify(filter)}`);
  }
  return new LiveCaptureError(`-i ${name}: libpcap could not open the interface (${code || "error"}): ${message}`);
}

function readInterfaceDrops(name: string): InterfaceDrops | undefined {
  const read = (counter: string): number => {
    try {
      return Number(readFileSync(`/sys/class/net/${name}/statistics/${counter}`, "latin1").trim());
    } catch {
      return NaN;
    }
  };
  const drops = { rxDropped: read("rx_dropped"), rxMissed: read("rx_missed_errors"), rxFifo: read("rx_fifo_errors") };
  return Number.isNaN(drops.rxDropped) ? undefined : drops;
}

function dropsBetween(a: InterfaceDrops, b: InterfaceDrops): InterfaceDrops {
  return { rxDropped: b.rxDropped - a.rxDropped, rxMissed: b.rxMissed - a.rxMissed, rxFifo: b.rxFifo - a.rxFifo };
}
