// The classic pcap file the bench's own generators (invite-flood.mjs, tcp-flows.mjs) write: the file
// header (microsecond timestamps, Ethernet, snap length 262144), then records gathered into 4 MiB
// blocks, one write each: a write per record would be a system call per packet of a million.
import { closeSync, openSync, writeSync } from "node:fs";

const BLOCK_BYTES = 1 << 22;

export function pcapOut(path) {
  const fd = openSync(path, "w");
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(1, 20);
  writeSync(fd, header);
  const block = Buffer.alloc(BLOCK_BYTES);
  let used = 0;
  const flush = () => {
    writeSync(fd, block, 0, used);
    used = 0;
  };
  return {
    // A whole record, its 16-byte header first; copied, so the caller may change it for the next.
    add(record) {
      if (used + record.length > block.length) flush();
      if (record.length > block.length) writeSync(fd, record);
      else used += record.copy(block, used);
    },
    close() {
      flush();
      closeSync(fd);
    },
  };
}
