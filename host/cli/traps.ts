// What the operator sees of a trap in the core (host/core/core.ts survives it): a
// warning log line and, with --keep-traps DIR, the frame that caused it in a
// pcap file of its own, to attach to a bug report.
import { accessSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../exits";
import type { CoreTrap } from "../core";
import type { Logger } from "../log";

const PCAP_MAGIC_NSEC = 0xa1b23c4d; // classic pcap with nanosecond timestamps
const SNAPLEN = 262144;

// Creates DIR if missing and checks it can be written, before the run starts.
export function trapDirectory(dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined;
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`--keep-traps ${dir}: cannot create or write the directory (${e.code ?? e.message}); name a directory siphon can write`);
  }
  return dir;
}

export function trapReporter(dir: string | undefined, log: Logger): (trap: CoreTrap) => void {
  const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, "");
  return (trap) => {
    const fields = {
      error: trap.error,
      traps: trap.traps,
      frame_time: `${trap.frame.tsSec}.${String(trap.frame.tsNsec).padStart(9, "0")}`, // capture time, seconds since 1970
      link_type: trap.frame.linkType,
      bytes: trap.frame.data.length,
    };
    const message = "core trap: a frame made the core fail; it was skipped, counted (core_traps) and the core rebuilt";
    if (dir === undefined) {
      log.warn(`${message}; --keep-traps DIR keeps such frames for a report`, fields);
      return;
    }
    const file = join(dir, `siphon-trap-${stamp}-${process.pid}-${trap.traps}.pcap`);
    try {
      writeFileSync(file, pcapOf(trap.frame), { flag: "wx", mode: 0o600 });
      log.warn(`${message}; the frame is in ${file}, please attach it to a bug report`, { ...fields, file });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      log.warn(`${message}; --keep-traps could not write ${file} (${e.code ?? e.message})`, fields);
    }
  };
}

// One frame as a classic pcap file: its link type, its capture time to the nanosecond.
export function pcapOf(frame: CoreTrap["frame"]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(PCAP_MAGIC_NSEC, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(SNAPLEN, 16);
  header.writeUInt32LE(frame.linkType, 20);
  const record = Buffer.alloc(16);
  record.writeUInt32LE(frame.tsSec >>> 0, 0);
  record.writeUInt32LE(frame.tsNsec, 4);
  record.writeUInt32LE(frame.data.length, 8);
  record.writeUInt32LE(Math.max(frame.origLen, frame.data.length), 12);
  return Buffer.concat([header, record, frame.data]);
}
