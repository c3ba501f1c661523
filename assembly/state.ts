// Regions and counters: the core's only state outside the per-packet globals.
// Every region is allocated once by configure(); nothing is allocated after.
import {
  CFG_IN_BYTES, CFG_MAX_FRAMES, CFG_MAX_RECORDS, CFG_FILTER_BYTES, CFG_FLAGS,
  CFG_OUT_JSON_BYTES, CFG_SIZE, FRAME_SIZE, REC_SIZE, COUNTER_COUNT, REGION_COUNT,
  R_IN_BYTES, R_IN_INDEX, R_OUT_RECORDS, R_COUNTERS, R_FILTER, R_OUT_JSON,
  CONFIGURE_OK, CONFIGURE_BAD_SIZE, CONFIGURE_NO_MEMORY,
} from "./layout";

export const configBase: usize = memory.data(CFG_SIZE, 16);
const regions: usize = memory.data(REGION_COUNT * 8, 8);

export let inBytes: usize = 0;
export let inIndex: usize = 0;
export let records: usize = 0;
export let outJson: usize = 0;
export let counters: usize = 0;
export let filterBase: usize = 0;

export let inBytesCap: u32 = 0;
export let maxFrames: u32 = 0;
export let maxRecords: u32 = 0;
export let outJsonCap: u32 = 0;
export let filterCap: u32 = 0;
export let flags: u32 = 0;

// Per-batch output cursors, reset by push().
export let recordCount: u32 = 0;
export let outJsonUsed: u32 = 0;

let heapTop: usize = 0;
let configured = false;

export function cfg(slot: i32): u32 {
  return load<u32>(configBase + <usize>slot);
}

export function regionAddress(r: i32): usize {
  return load<usize>(regions + <usize>(r << 3));
}

// Bump allocation from __heap_base, growing memory as needed; 16-byte aligned;
// 0 when memory ran out. Sizes come as u64 (count * size computed by the caller in
// 64 bits), so a configured count too large for the 4 GiB of wasm32 is refused, not wrapped.
const ADDRESS_SPACE: u64 = 0x1_0000_0000;

export function reserve(size: u64): usize {
  if (size >= ADDRESS_SPACE) return 0;  // then start + size + 15 below cannot wrap in u64
  if (heapTop == 0) heapTop = (__heap_base + 15) & ~15;
  const start = heapTop;
  const end = (<u64>start + size + 15) & ~15;
  if (end >= ADDRESS_SPACE) return 0;
  const havePages = <u64>memory.size();
  const needPages = (end + 0xffff) >> 16;
  if (needPages > havePages && memory.grow(<i32>(needPages - havePages)) < 0) return 0;
  heapTop = <usize>end;
  return start;
}

// The end of what reserve() handed out: the memory configure() really needs.
export function reservedEnd(): usize {
  return heapTop;
}

export function setRegion(r: i32, at: usize): void {
  store<usize>(regions + <usize>(r << 3), at);
}

export function configureRegions(): i32 {
  if (configured) return CONFIGURE_BAD_SIZE; // sizes are fixed for the life of the instance
  inBytesCap = cfg(CFG_IN_BYTES);
  maxFrames = cfg(CFG_MAX_FRAMES);
  maxRecords = cfg(CFG_MAX_RECORDS);
  outJsonCap = cfg(CFG_OUT_JSON_BYTES);
  filterCap = cfg(CFG_FILTER_BYTES);
  flags = cfg(CFG_FLAGS);
  if (inBytesCap < 65536 || maxFrames == 0 || maxRecords == 0
    || outJsonCap < 65536 || filterCap < 64) return CONFIGURE_BAD_SIZE;
  inBytes = reserve(inBytesCap);
  inIndex = reserve(<u64>maxFrames * FRAME_SIZE);
  records = reserve(<u64>maxRecords * REC_SIZE);
  outJson = reserve(outJsonCap);
  counters = reserve(COUNTER_COUNT * 8);
  filterBase = reserve(filterCap);
  if (inBytes == 0 || inIndex == 0 || records == 0 || outJson == 0
    || counters == 0 || filterBase == 0) return CONFIGURE_NO_MEMORY;
  setRegion(R_IN_BYTES, inBytes);
  setRegion(R_IN_INDEX, inIndex);
  setRegion(R_OUT_RECORDS, records);
  setRegion(R_COUNTERS, counters);
  setRegion(R_FILTER, filterBase);
  setRegion(R_OUT_JSON, outJson);
  memory.fill(counters, 0, COUNTER_COUNT * 8);
  configured = true;
  return CONFIGURE_OK;
}

export function resetOutput(): void {
  recordCount = 0;
  outJsonUsed = 0;
}

export function claimRecord(): usize {
  const at = records + <usize>recordCount * REC_SIZE;
  recordCount++;
  return at;
}

export function jsonCursor(): usize {
  return outJson + <usize>outJsonUsed;
}

export function commitJson(n: u32): void {
  outJsonUsed += n;
}

@inline export function count(counter: i32, n: u64 = 1): void {
  const at = counters + (<usize>counter << 3);
  store<u64>(at, load<u64>(at) + n);
}
