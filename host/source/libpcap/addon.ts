// The typed face of siphon's libpcap addon (addon.c beside this file) and its loader. The
// binary comes from prebuilds/<platform>-<arch>/ (made with prebuildify) or from a compile at
// install (build/Release), found by node-gyp-build; it is loaded only for live capture, so the
// bundle runs, and replays files, where it is missing.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import nodeGypBuild from "node-gyp-build";

/** An open libpcap handle: only the addon's functions can use it. */
export type PcapHandle = { readonly __brand: "PcapHandle" };

/** A poll of one descriptor's readability (addon.c, "a descriptor's readiness"). */
export type ReadableWatch = { readonly __brand: "ReadableWatch" };

export interface OpenOptions {
  snaplen: number;        // 16 to 262144
  promisc: boolean;
  bufferBytes: number;    // the kernel ring, 64 KiB to 2 GiB - 1
  timeoutMs: number;      // TPACKET_V3's block timeout, 1 to 60000 (0, "never", is refused)
  immediate: boolean;     // TPACKET_V2, a packet per slot: prompt, but a ring holds far fewer
  nanosecond: boolean;    // libpcap's timestamps in nanoseconds where the device has them
  ignoreOutgoing: boolean; // PACKET_IGNORE_OUTGOING (Linux 4.20)
}

export interface Opened {
  handle: PcapHandle;
  datalink: number;       // DLT_ value (pcap_datalink)
  datalinkName: string;
  snaplen: number;        // what libpcap settled on: no record is longer
  nanosecond: boolean;    // records carry nanoseconds (else microseconds)
  warning?: string;       // pcap_activate's warning (e.g. promiscuous mode not supported)
}

/** pcap_stats: 32-bit counters that wrap; `cut` counts records the addon shortened to fit. */
export interface PcapStats {
  received: number;
  dropped: number;
  ifDropped: number;
  cut: number;
}

export interface PcapAddon {
  open(device: string, options: OpenOptions): Opened;
  setFilter(handle: PcapHandle, expression: string): void;
  /** onReadable runs in this thread's loop while packets wait; it calls read(). */
  start(handle: PcapHandle, onReadable: (error?: Error) => void): void;
  /** Whole classic pcap records (this machine's byte order) written from target[0]; their bytes. */
  read(handle: PcapHandle, target: Uint8Array): number;
  stats(handle: PcapHandle): PcapStats;
  close(handle: PcapHandle): void;
  devices(): Array<{ name: string; description: string; flags: number }>;
  libVersion(): string;
  /** F_SETPIPE_SZ (when bytes is given) and F_GETPIPE_SZ on a pipe's descriptor: the bytes it holds now.
   *  Throws (code ERR_PIPE_SIZE, the kernel's words) where fd is no pipe or the size is refused. */
  pipeSize(fd: number, bytes?: number): number;
  // An addon built before these (a packager's own, SIPHON_PCAP_ADDON) lacks them: a pipe on
  // stdin is then read as a stream.
  /** A watch over fd, which it makes non-blocking. Throws (libuv's code) where fd cannot be polled. */
  watchReadable?(fd: number): ReadableWatch;
  /** onReadable() once, in this thread's loop, when a read of the descriptor would not wait
   *  (data, its end, or an error); onReadable(error) if polling fails. */
  whenReadable?(watch: ReadableWatch, onReadable: (error?: Error) => void): void;
  /** Stops watching: a pending onReadable is never called. Twice is harmless. */
  unwatch?(watch: ReadableWatch): void;
}

/** An error from the addon: `code` is libpcap's status name (PCAP_ERROR_PERM_DENIED ...) or
 *  PCAP_LIBRARY_MISSING, and the message is libpcap's own text. */
export interface PcapError extends Error {
  code: string;
  status?: number;
}

export function isPcapError(err: unknown): err is PcapError {
  return err instanceof Error && typeof (err as PcapError).code === "string";
}

/** Where the addon's binary is looked for: the package directory, found from this file (the
 *  bundle in dist/, a test bundle in build/test-N/, or siphon.mjs beside prebuilds/ in an image). */
export function packageDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [here, dirname(here), dirname(dirname(here))];
  const found = candidates.find((dir) => existsSync(join(dir, "prebuilds")) || existsSync(join(dir, "binding.gyp")));
  return found ?? dirname(here);
}

/** The addon's file: SIPHON_PCAP_ADDON when set (a packager's own build), else node-gyp-build's pick. */
export function addonPath(): string {
  return process.env.SIPHON_PCAP_ADDON || nodeGypBuild.resolve(packageDirectory());
}

export function loadAddon(): PcapAddon {
  return createRequire(import.meta.url)(addonPath()) as PcapAddon;
}
