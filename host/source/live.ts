// Live capture through libpcap, with the optional `cap` addon. One handle per interface, each
// with its own link type; every packet goes to the FrameConsumer as it arrives. cap is loaded only
// here, at run time, so the bundle runs (and replays files) on machines without it.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import type { FrameConsumer } from "./frames";
import { UsageError } from "../exits";

// What we use of cap 0.2.1 (node_modules/cap/src/binding.cc).
interface CapHandle {
  // Returns the link type's name ("ETHERNET", "NULL", "RAW", "LINKTYPE_LINUX_SLL",
  // "IEEE802_11_RADIO") or "Unknown linktype N" with the DLT number.
  open(device: string, filter: string, bufferBytes: number, buffer: Buffer): string;
  close(): boolean;
  on(event: "packet", listener: (bytes: number, truncated: boolean) => void): void;
}

interface Device {
  name: string;
  description?: string;
}

export interface CapModule {
  Cap: { new (): CapHandle; deviceList(): Device[] };
}

/** Live capture could not start: the message says what to do. A bad argument is a UsageError. */
export class LiveCaptureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LiveCaptureError";
  }
}

const INSTALL_LIBPCAP = "install libpcap (Debian/Ubuntu: apt-get install libpcap0.8 libpcap-dev; " +
  "Fedora/RHEL: dnf install libpcap libpcap-devel; Alpine: apk add libpcap libpcap-dev)";

/** Loads cap, or says what is missing. SIPHON_CAP_MODULE names another module to load in its
 *  place (a packager's own build of the addon; tests use it to simulate a missing one). */
export function loadCap(): CapModule {
  const name = process.env.SIPHON_CAP_MODULE || "cap";
  try {
    return createRequire(import.meta.url)(name) as CapModule;
  } catch (err) {
    throw new LiveCaptureError(explainLoadFailure(name, err as NodeJS.ErrnoException));
  }
}

function explainLoadFailure(name: string, err: NodeJS.ErrnoException): string {
  const message = err.message ?? String(err);
  if (/libpcap[^:]*: cannot open shared object/.test(message)) {
    return `live capture: libpcap is not installed (${firstLine(message)}): ${INSTALL_LIBPCAP}`;
  }
  if (err.code === "MODULE_NOT_FOUND" && message.includes(`'${name}'`)) {
    return `live capture needs the optional package '${name}', which is not installed or did not build: ` +
      `run 'npm install cap' in siphon's directory. Building it needs make, a C++ compiler, python3 and ` +
      `the libpcap headers (Debian/Ubuntu: apt-get install build-essential python3 libpcap-dev), and ` +
      `Node's headers (without internet access: npm config set nodedir /usr, or wherever include/node is). ` +
      `Replaying files ('siphon replay') needs none of it.`;
  }
  if (/NODE_MODULE_VERSION|different Node\.js version/.test(message)) {
    return `live capture: the '${name}' addon was built for another Node.js version: run 'npm rebuild cap'`;
  }
  return `live capture: cannot load '${name}': ${firstLine(message)}`;
}

function firstLine(text: string): string {
  return text.split("\n")[0];
}

/** libpcap.so (no version suffix, from libpcap-dev) is what cap dlopen()s to turn on immediate
 *  mode; without it packets still arrive, but in blocks, up to a second late. */
export function immediateModeAvailable(): boolean {
  try {
    process.dlopen({ exports: {} }, "libpcap.so");
    return true;
  } catch (err) {
    // A library that loads but is no Node addon says so; only a missing one is a problem.
    return !/cannot open shared object/.test((err as Error).message);
  }
}

// cap reports DLT names; the core takes LINKTYPE numbers (tcpdump.org/linktypes.html).
const LINK_TYPES: Record<string, number> = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINKTYPE_LINUX_SLL: 113,
  IEEE802_11_RADIO: 127,
};
const DLT_RAW_LINUX = 12; // DLT_RAW on Linux; its LINKTYPE is 101

export function linkTypeOf(capName: string): number {
  if (capName in LINK_TYPES) return LINK_TYPES[capName];
  const dlt = Number(/Unknown linktype (\d+)/.exec(capName)?.[1] ?? -1);
  return dlt === DLT_RAW_LINUX ? LINK_TYPES.RAW : dlt;
}

export function linkTypeName(linkType: number): string {
  const names: Record<number, string> = { 0: "null", 1: "ethernet", 101: "raw IP", 113: "Linux SLL",
    127: "802.11 radiotap", 276: "Linux SLL2" };
  return names[linkType] ?? `link type ${linkType}`;
}

export interface LiveOptions {
  interfaces: string[];
  filter: string;       // BPF, compiled by libpcap
  untaggedFilter?: string; // where libpcap refuses `filter` for want of VLAN support on the link type
  snaplen: number;      // bytes kept of each packet
  bufferBytes: number;  // the kernel ring per interface
}

/** Counters from the interface (/sys/class/net/IF/statistics): drops before any socket saw the
 *  packet. The socket ring's own drops (PACKET_STATISTICS) are out of reach: cap has no pcap_stats. */
export interface InterfaceDrops {
  rxDropped: number;
  rxMissed: number;
  rxFifo: number;
}

export interface InterfaceStats {
  name: string;
  linkType: number;
  packets: number;
  truncated: number;           // cut to --snaplen
  filter: string;              // the BPF the handle runs
  interfaceDrops?: InterfaceDrops; // since the handle opened; undefined where /sys has none
}

interface OpenHandle {
  stats: InterfaceStats;
  handle: CapHandle;
  // cap keeps only a raw pointer to this buffer: dropping our reference lets the GC free
  // it under the addon, which then writes into freed memory.
  buffer: Buffer;
  dropsAtOpen?: InterfaceDrops;
}

// A handle whose open() failed keeps its pcap_t but never set up its poll watcher; when the
// collector destroys it, cap's destructor stops that watcher anyway and libuv aborts the process.
// Holding such handles until exit keeps the destructor from running.
const failedHandles: CapHandle[] = [];

export class LiveCapture {
  private readonly handles: OpenHandle[] = [];
  private stopped = false;
  private lastPacketAt = 0; // performance.now() of the latest packet

  constructor(private readonly cap: CapModule) {}

  /** Interfaces libpcap can open, for an error message or --list. */
  deviceNames(): string[] {
    try {
      return this.cap.Cap.deviceList().map((d) => d.name);
    } catch {
      return [];
    }
  }

  /** Opens one handle per interface, synchronously; throws LiveCaptureError with what to do. */
  open(options: LiveOptions): InterfaceStats[] {
    const known = this.deviceNames();
    for (const name of options.interfaces) {
      if (known.length > 0 && !known.includes(name)) {
        throw new UsageError(`-i ${name}: no such interface; libpcap can capture on: ${known.join(", ")}`);
      }
    }
    for (const name of options.interfaces) this.openOne(name, options);
    return this.handles.map((h) => h.stats);
  }

  private openOne(name: string, options: LiveOptions): void {
    let filter = options.filter;
    for (;;) {
      const handle = new this.cap.Cap();
      const buffer = Buffer.alloc(options.snaplen);
      try {
        const linkType = linkTypeOf(handle.open(name, filter, options.bufferBytes, buffer));
        const stats: InterfaceStats = { name, linkType, packets: 0, truncated: 0, filter };
        this.handles.push({ stats, handle, buffer, dropsAtOpen: readInterfaceDrops(name) });
        return;
      } catch (err) {
        failedHandles.push(handle);
        const message = (err as Error).message;
        if (/no VLAN support/i.test(message) && options.untaggedFilter !== undefined && filter !== options.untaggedFilter) {
          filter = options.untaggedFilter;
          continue;
        }
        this.close();
        throw explainOpenFailure(name, filter, message);
      }
    }
  }

  /** Starts delivery: each packet goes to `sink` with the index of its interface, then the sink
   *  is told to copy it (cap reuses the buffer for the next packet). `onPackets` runs once
   *  after each burst the kernel handed over, the moment to push a batch through the core. */
  start(sink: FrameConsumer, onPackets: () => void): void {
    let scheduled = false;
    const afterBurst = (): void => {
      scheduled = false;
      if (!this.stopped) onPackets();
    };
    this.handles.forEach(({ stats, handle, buffer }, iface) => {
      handle.on("packet", (bytes, truncated) => {
        // cap passes no pcap_pkthdr, so no kernel timestamp: the time is taken on delivery,
        // which immediate mode keeps within the burst's processing time of the kernel's.
        this.lastPacketAt = performance.now();
        const ms = performance.timeOrigin + this.lastPacketAt;
        const sec = Math.floor(ms / 1000);
        const nsec = Math.floor((ms - sec * 1000) * 1e6);
        stats.packets++;
        if (truncated) stats.truncated++;
        sink.frame(buffer, 0, bytes, bytes, stats.linkType, sec, nsec, iface);
        sink.release?.();
        if (!scheduled) {
          scheduled = true;
          setImmediate(afterBurst);
        }
      });
    });
  }

  /** Resolves once no packet has arrived for `quietMs` (or after `maxMs`): what is already in
   *  the kernel's buffer when a stop is asked for still comes out. */
  drain(quietMs: number, maxMs: number): Promise<void> {
    const deadline = performance.now() + maxMs;
    return new Promise((resolve) => {
      const check = (): void => {
        const now = performance.now();
        if (now - this.lastPacketAt >= quietMs || now >= deadline) resolve();
        else setTimeout(check, quietMs);
      };
      check();
    });
  }

  /** Closes every handle; returns the final counters. */
  close(): InterfaceStats[] {
    this.stopped = true;
    for (const h of this.handles) {
      const now = readInterfaceDrops(h.stats.name);
      if (now && h.dropsAtOpen) h.stats.interfaceDrops = dropsBetween(h.dropsAtOpen, now);
      h.handle.close();
    }
    return this.handles.map((h) => h.stats);
  }
}

function explainOpenFailure(name: string, filter: string, message: string): Error {
  if (/Operation not permitted|Permission denied|permission/i.test(message)) {
    const missing = /promisc/i.test(message) ? "CAP_NET_ADMIN (promiscuous mode)" : "CAP_NET_RAW";
    return new LiveCaptureError(`-i ${name}: capture not permitted (${message}): the process lacks ${missing}. ` +
      `Either give node the capability (setcap cap_net_raw,cap_net_admin+eip "$(readlink -f "$(command -v node)")") ` +
      `or start as root with --user NAME to drop to NAME once the interfaces are open`);
  }
  if (/No such device/i.test(message)) {
    return new UsageError(`-i ${name}: no such interface (${message})`);
  }
  if (/is not up|network is down/i.test(message)) {
    return new LiveCaptureError(`-i ${name}: the interface is down (${message}): bring it up (ip link set ${name} up)`);
  }
  if (filter && /can't parse|syntax|unknown|invalid|illegal|not supported|expression/i.test(message)) {
    return new UsageError(`-f: libpcap refused the filter on ${name} (${message}): ${JSON.stringify(filter)}`);
  }
  return new LiveCaptureError(`-i ${name}: libpcap could not open the interface: ${message}`);
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
