// What the operator sees of a trap in the core (host/core/core.ts survives it): a
// warning log line and, with --keep-traps DIR, the frame that caused it in a
// pcap file of its own, to attach to a bug report.
import { accessSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../exits";
import type { CoreTrap } from "../core";
import type { Logger } from "../log";
import { pcapOf } from "../media/pcap-writer";

// Creates DIR if missing and checks it can be written, before the run starts.
export function trapDirectory(dir: string | undefined): string | undefined {
  return dir === undefined ? undefined : writableDirectory("--keep-traps", dir);
}

// DIR made if missing and checked writable, or a UsageError naming the option.
export function writableDirectory(option: string, dir: string): string {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`${option} ${dir}: cannot create or write the directory (${e.code ?? e.message}); name a directory siphon can write`);
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
      writeFileSync(file, pcapOf({ bytes: trap.frame.data, linkType: trap.frame.linkType, timeSec: trap.frame.tsSec, timeNsec: trap.frame.tsNsec, origLen: trap.frame.origLen }), { flag: "wx", mode: 0o600 });
      log.warn(`${message}; the frame is in ${file}, please attach it to a bug report`, { ...fields, file });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      log.warn(`${message}; --keep-traps could not write ${file} (${e.code ?? e.message})`, fields);
    }
  };
}
