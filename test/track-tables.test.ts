// The core's tracker storage (assembly/track-tables.ts) against the JavaScript
// structures it replaces: keyed tables against host/calls/bounded.ts's BoundedMap
// (the same gets, the same evictions in the same order, the same iteration order),
// the timer heap against host/calls/timers.ts's TimerHeap (the same entries due in
// the same order among equal deadlines), on long seeded random runs; the text
// arena against a model of its size classes; the entry pool; refused reservations;
// and a million adds and deletes through a 20,000-key table whose lookups must not
// get longer.
//
// The unit is compiled here from its sources on disk with a small entry that
// re-exports it (given to the compiler as a string: tsc, which checks test/, never
// sees AssemblyScript), with the core's options (runtime stub, -O3, no asserts)
// and a memory maximum, so that memory refused by the host can be tested too.
import { test } from "uvu";
import * as assert from "uvu/assert";
import asc from "assemblyscript/asc";
import { readFileSync } from "node:fs";
import { BoundedMap } from "../host/calls/bounded";
import { TimerHeap, type Timed } from "../host/calls/timers";
import { Rng } from "./support/generate/rng";

const ENTRY = "assembly/track-tables.test-entry.ts";
const ENTRY_SOURCE = `export * from "./track-tables";\nexport { reservedEnd } from "./state";\n`;
const MAX_PAGES = 1024; // 64 MiB: a table of a few million keys is refused by the host

// wasm u32 results arrive as signed i32 and u64 ones as signed BigInt: the tests convert.
interface Unit {
  memory: WebAssembly.Memory;
  reservedEnd(): number;
  entriesInit(count: number, size: number): number;
  entryAlloc(): number;
  entryFree(id: number): void;
  entryAt(id: number): number;
  tableReserve(capacity: number): number;
  tableGet(t: number, key: bigint): number;
  tableHas(t: number, key: bigint): number;
  tableAdd(t: number, key: bigint, value: number): number;
  tableSet(t: number, key: bigint, value: number): void;
  tableDelete(t: number, key: bigint): number;
  tableSize(t: number): number;
  tableEvicted(t: number): bigint;
  tableFirst(t: number): number;
  tableNext(t: number, cursor: number): number;
  tableValue(t: number, cursor: number): number;
  tableKey(t: number, cursor: number): bigint;
  tableProbes(t: number, key: bigint): number;
  heapInit(count: number): number;
  heapArm(id: number, deadline: bigint): void;
  heapDisarm(id: number): void;
  heapDue(now: bigint): number;
  heapSize(): number;
  heapDeadline(id: number): bigint;
  heapArmed(id: number): number;
  textInit(bytes: bigint): number;
  textAlloc(length: number): number;
  textFree(at: number, length: number): void;
  textUsed(): bigint;
}

async function compile(): Promise<WebAssembly.Module> {
  let binary: Uint8Array<ArrayBuffer> | undefined;
  const { error, stderr } = await asc.main([
    ENTRY, "--config", "none", "--runtime", "stub", "--optimizeLevel", "3", "--shrinkLevel", "0", "--noAssert",
    "--maximumMemory", String(MAX_PAGES), "--outFile", "track-tables.wasm",
  ], {
    readFile: (name: string) => {
      if (name === ENTRY) return ENTRY_SOURCE;
      if (!name.startsWith("assembly/")) return null; // no asconfig.json: its entries are the whole core
      try { return readFileSync(name, "utf8"); } catch { return null; }
    },
    writeFile: (_name: string, contents: Uint8Array | string) => { if (typeof contents !== "string") binary = new Uint8Array(contents); },
    listFiles: () => [],
  });
  if (error !== null || binary === undefined) throw new Error(`track-tables did not compile: ${error?.message}\n${stderr.toString()}`);
  return new WebAssembly.Module(binary);
}

const compiled = await compile();

// A fresh instance per test: each starts with nothing reserved.
function unit(): Unit {
  const instance = new WebAssembly.Instance(compiled, { env: { abort: () => { throw new Error("abort"); } } });
  return instance.exports as unknown as Unit;
}

const u32 = (n: number): number => n >>> 0;
const u64 = (n: bigint): bigint => BigInt.asUintN(64, n);
const NONE = 0;

// ---------------------------------------------------------------- keyed tables

// What the tracker's BoundedMaps hold: a fresh object per add (a call, a transaction...), while
// the core's value is an entry id, reused once freed: so values here repeat, and the JS side
// holds `v`, the id, in a new object each time.
interface Held { key: bigint; v: number }

// Keys with every kind of bit pattern: small sequential numbers, 0 and all ones, high halves only.
function randomKey(rng: Rng, space: number): bigint {
  const roll = rng.below(10);
  if (roll < 6) return BigInt(rng.below(space));
  if (roll < 8) return BigInt(rng.below(space)) << 40n;
  if (roll < 9) return u64(-BigInt(1 + rng.below(space)));
  return u64((BigInt(rng.below(space)) << 32n) | BigInt(rng.u32() & 3));
}

interface TablePair { t: number; js: BoundedMap<bigint, Held>; evicted: Held[]; space: number; live: bigint[] }

function makePair(core: Unit, capacity: number): TablePair {
  const evicted: Held[] = [];
  const t = core.tableReserve(capacity);
  assert.ok(t > 0, `table of ${capacity} reserved`);
  return { t, js: new BoundedMap<bigint, Held>(capacity, (h) => evicted.push(h)), evicted, space: Math.max(4, capacity * 3), live: [] };
}

function iterated(core: Unit, t: number): [bigint, number][] {
  const out: [bigint, number][] = [];
  for (let c = core.tableFirst(t); c !== NONE; c = core.tableNext(t, c)) out.push([u64(core.tableKey(t, c)), u32(core.tableValue(t, c))]);
  return out;
}

function jsIterated(js: BoundedMap<bigint, Held>): [bigint, number][] {
  return [...js.values()].map((h): [bigint, number] => [h.key, h.v]);
}

// One random operation on both sides, compared.
function tableStep(core: Unit, p: TablePair, rng: Rng, step: string): void {
  const roll = rng.below(100);
  const key = p.live.length > 0 && rng.chance(0.4) ? rng.pick(p.live) : randomKey(rng, p.space);
  if (roll < 45) {
    if (p.js.has(key)) {
      // The tracker adds only absent keys: present ones are looked up.
      assert.is(u32(core.tableGet(p.t, key)), p.js.get(key)?.v, `${step}: get of a present key`);
      return;
    }
    const v = 1 + rng.below(40);
    p.js.add(key, { key, v });
    const gone = p.evicted.shift();
    assert.is(p.evicted.length, 0);
    assert.is(u32(core.tableAdd(p.t, key, v)), gone?.v ?? NONE, `${step}: value evicted by add`);
    if (gone !== undefined) assert.is(core.tableHas(p.t, gone.key), 0, `${step}: the evicted key left`);
    p.live.push(key);
  } else if (roll < 75) {
    assert.is(core.tableDelete(p.t, key) !== 0, p.js.delete(key), `${step}: delete`);
  } else {
    assert.is(core.tableHas(p.t, key) !== 0, p.js.has(key), `${step}: has`);
    assert.is(u32(core.tableGet(p.t, key)), p.js.get(key)?.v ?? NONE, `${step}: get`);
  }
  if (p.live.length > 4 * p.space) p.live = p.live.filter((k) => p.js.has(k));
  assert.is(u32(core.tableSize(p.t)), p.js.size, `${step}: size`);
  assert.is(core.tableEvicted(p.t), BigInt(p.js.evicted), `${step}: evicted`);
}

test("tables: random adds, deletes and lookups on five tables at once give BoundedMap's gets, evictions and order", () => {
  const core = unit();
  const rng = new Rng(0x7ab1e5);
  // Capacity 0: BoundedMap evicts when size >= capacity and then adds, so it holds one key.
  const pairs = [0, 1, 6, 97, 1500].map((capacity) => makePair(core, capacity));
  let evictions = 0;
  for (let i = 0; i < 150_000; i++) {
    const p = pairs[rng.below(pairs.length)];
    tableStep(core, p, rng, `step ${i}, capacity ${p.js.capacity}`);
    if (i % 997 === 0) assert.equal(iterated(core, p.t), jsIterated(p.js), `step ${i}: iteration order`);
  }
  for (const p of pairs) {
    assert.equal(iterated(core, p.t), jsIterated(p.js), `capacity ${p.js.capacity}: final iteration order`);
    evictions += p.js.evicted;
  }
  assert.ok(evictions > 10_000, `evictions happened (${evictions})`);
  assert.ok(pairs[4].js.size > 1000, "the large table filled up");
});

test("tables: a key deleted and added again counts from its new insertion, with the same value too", () => {
  const core = unit();
  const t = core.tableReserve(3);
  for (const k of [1n, 2n, 3n]) core.tableAdd(t, k, 7);
  core.tableDelete(t, 1n);
  core.tableAdd(t, 1n, 7);                      // the same entry id again: now the newest
  assert.is(u32(core.tableAdd(t, 4n, 9)), 7);   // evicts 2
  assert.is(core.tableHas(t, 2n), 0);
  assert.is(core.tableHas(t, 1n), 1);
  assert.equal(iterated(core, t), [[3n, 7], [1n, 7], [4n, 9]]);
  assert.is(u32(core.tableAdd(t, 5n, 11)), 7);  // evicts 3
  assert.equal(iterated(core, t), [[1n, 7], [4n, 9], [5n, 11]]);
  assert.is(core.tableEvicted(t), 2n);
});

// The per-key counts (a Map<key, number> in the tracker) change values in place: tableSet
// against a JS Map, whose set() on a present key keeps its place; a full table evicts Map's first key.
test("tables: tableSet changes a value in place, as Map.set on a present key; eviction follows Map order", () => {
  const core = unit();
  const rng = new Rng(0x5e7);
  const capacity = 50;
  const t = core.tableReserve(capacity);
  const js = new Map<bigint, number>();
  let evicted = 0n;
  for (let i = 0; i < 60_000; i++) {
    const key = randomKey(rng, 120);
    const v = 1 + rng.below(1000);
    const roll = rng.below(3);
    if (roll === 0 && js.has(key)) {
      js.set(key, v);
      core.tableSet(t, key, v);
    } else if (roll === 0) {
      let gone = NONE;
      if (js.size >= capacity) {
        const [first, value] = js.entries().next().value as [bigint, number];
        js.delete(first);
        gone = value;
        evicted++;
      }
      js.set(key, v);
      assert.is(u32(core.tableAdd(t, key, v)), gone, `step ${i}: evicted value`);
    } else if (roll === 1) {
      assert.is(core.tableDelete(t, key) !== 0, js.delete(key), `step ${i}: delete`);
    } else {
      assert.is(u32(core.tableGet(t, key)), js.get(key) ?? NONE, `step ${i}: get`);
    }
    if (i % 101 === 0) assert.equal(iterated(core, t), [...js.entries()], `step ${i}: order`);
  }
  assert.is(core.tableEvicted(t), evicted);
  assert.ok(evicted > 1000n);
});

// A table as the tracker's calls table runs: every message adds a new call or ends one,
// for a million cycles. With deletions leaving tombstones (or the keys' bits poorly mixed:
// sequential keys), lookups would get longer; with backward shifts they stay as short as
// after the first fill. The order stays BoundedMap's throughout.
test("tables: a million adds and deletes through a 20,000-key table: lookups stay short, order stays BoundedMap's", () => {
  const core = unit();
  const rng = new Rng(0xc0ffee);
  const capacity = 20_000;
  const t = core.tableReserve(capacity);
  const end = core.reservedEnd();
  const evicted: Held[] = [];
  const js = new BoundedMap<bigint, Held>(capacity, (h) => evicted.push(h));
  const live: bigint[] = [];
  const at = new Map<bigint, number>(); // key -> index in live
  const drop = (key: bigint): void => {
    const i = at.get(key) as number;
    const last = live.pop() as bigint;
    if (last !== key) { live[i] = last; at.set(last, i); }
    at.delete(key);
  };
  const probes = (): { found: number; longest: number; absent: number } => {
    let sum = 0;
    let longest = 0;
    for (const key of live) {
      const n = core.tableProbes(t, key);
      sum += n;
      longest = Math.max(longest, n);
    }
    let absent = 0;
    for (let i = 0; i < 2000; i++) absent += core.tableProbes(t, (1n << 62n) + BigInt(i));
    return { found: sum / live.length, longest, absent: absent / 2000 };
  };
  const base = 0x1234_0000_0000n;  // sequential keys, as a counter gives
  let next = 0n;
  let filled: ReturnType<typeof probes> | undefined;
  for (let i = 0; i < 1_000_000 + capacity; i++) {
    if (i >= capacity && rng.chance(0.95)) {
      const key = live[rng.below(live.length)];
      js.delete(key);
      assert.is(core.tableDelete(t, key), 1);
      drop(key);
    }
    const key = base + next++;
    const v = 1 + (i % 5000);
    js.add(key, { key, v });
    const gone = evicted.pop();
    if (u32(core.tableAdd(t, key, v)) !== (gone?.v ?? NONE)) assert.unreachable(`cycle ${i}: evicted value`);
    if (gone !== undefined) drop(gone.key);
    at.set(key, live.length);
    live.push(key);
    if (i === capacity - 1) filled = probes();
  }
  assert.is(u32(core.tableSize(t)), js.size);
  assert.is(core.tableEvicted(t), BigInt(js.evicted));
  assert.ok(js.evicted > 10_000, `evictions happened (${js.evicted})`);
  assert.equal(iterated(core, t), jsIterated(js));
  const after = probes();
  const first = filled as ReturnType<typeof probes>;
  // At most 20,000 keys in 65,536 slots: linear probing looks at ~1.2 slots to find one, ~1.5 to miss.
  assert.ok(first.found < 1.5 && first.absent < 2.5, `after the first fill: ${JSON.stringify(first)}`);
  assert.ok(after.found < 1.5 && after.absent < 2.5 && after.longest < 40, `after a million cycles: ${JSON.stringify(after)}`);
  assert.is(core.reservedEnd(), end, "nothing was reserved after the table");
});

// Keys are sequential numbers, signatures, numbers in the high half only: every pattern spreads over the slots.
test("tables: keys differing only in their low, middle or high bits are spread over the slots", () => {
  const core = unit();
  const patterns: [string, (i: bigint) => bigint][] = [
    ["sequential", (i) => i],
    ["high half", (i) => i << 32n],
    ["top bits", (i) => u64(i << 48n)],
    ["strided", (i) => i * 4096n],
    ["all ones below", (i) => u64(~i)],
  ];
  for (const [name, key] of patterns) {
    const t = core.tableReserve(10_000);
    for (let i = 0n; i < 10_000n; i++) core.tableAdd(t, key(i), 1);
    let found = 0;
    let absent = 0;
    for (let i = 0n; i < 10_000n; i++) {
      found += core.tableProbes(t, key(i));
      absent += core.tableProbes(t, key(i + 10_000n));
    }
    // 10,000 keys in 32,768 slots: ~1.2 slots to find one, ~1.5 to miss.
    assert.ok(found / 10_000 < 1.5 && absent / 10_000 < 2.5, `${name}: ${found / 10_000} to find, ${absent / 10_000} to miss`);
  }
});

// ---------------------------------------------------------------- timer heap

interface Timer extends Timed { id: number }

test("heap: random arms, disarms and dues with many equal deadlines give TimerHeap's order", () => {
  const core = unit();
  const rng = new Rng(0x71e);
  const count = 3000;
  assert.is(core.heapInit(count), 1);
  const js = new TimerHeap<Timer>();
  const timers: Timer[] = [];
  for (let id = 1; id <= count; id++) timers[id] = { id, deadline: 0, heapIndex: -1 };
  let now = -5_000_000;
  let fired = 0;
  let ties = 0;
  // Deadlines on a coarse grid a few steps ahead: most of the heap shares a handful of deadlines.
  const deadline = (): number => rng.chance(0.02) ? now - rng.below(10) * 1000 : now + rng.below(6) * 1000;
  const arm = (id: number, at: number): void => {
    js.arm(timers[id], at);
    core.heapArm(id, BigInt(at));
  };
  for (let i = 0; i < 200_000; i++) {
    const roll = rng.below(100);
    const id = 1 + rng.below(count);
    if (roll < 50) {
      arm(id, deadline());
    } else if (roll < 65) {
      js.disarm(timers[id]);
      core.heapDisarm(id);
    } else if (roll < 70) {
      now += rng.below(3) * 1000;
      let last = -Infinity;
      // The tracker's advance(): each due entry fires; some are armed again, at the same deadline
      // (the counters came first) or later.
      for (let guard = 0; guard < 10 * count; guard++) {
        const due = js.due(now);
        assert.is(u32(core.heapDue(BigInt(now))), due?.id ?? NONE, `step ${i}: due`);
        if (due === undefined) break;
        fired++;
        if (due.deadline === last) ties++;
        last = due.deadline;
        if (rng.chance(0.1)) arm(due.id, due.deadline);
        else if (rng.chance(0.3)) arm(due.id, deadline());
      }
    }
    assert.is(u32(core.heapSize()), js.size, `step ${i}: size`);
    const probe = timers[id];
    assert.is(core.heapArmed(id) !== 0, probe.heapIndex >= 0, `step ${i}: armed`);
    assert.is(core.heapDeadline(id), BigInt(probe.deadline), `step ${i}: deadline`);
  }
  for (let id = 1; id <= count; id++) assert.is(core.heapDeadline(id), BigInt(timers[id].deadline));
  assert.ok(fired > 50_000 && ties > 40_000, `fired ${fired}, ties ${ties}`);
  // Drained to the end, the rest come out in TimerHeap's order too.
  for (;;) {
    const due = js.due(Number.MAX_SAFE_INTEGER);
    assert.is(u32(core.heapDue(BigInt(Number.MAX_SAFE_INTEGER))), due?.id ?? NONE);
    if (due === undefined) break;
  }
  assert.is(core.heapSize(), 0);
});

test("heap: due takes nothing before its deadline; deadlines are i64 microseconds, kept after disarm", () => {
  const core = unit();
  assert.is(core.heapInit(4), 1);
  assert.is(core.heapDue(1n << 62n), NONE, "empty");
  const far = 1n << 60n;                      // beyond 2^53: i64 throughout, not doubles
  core.heapArm(1, far + 1n);
  core.heapArm(2, far);
  core.heapArm(3, -far);
  assert.is(core.heapSize(), 3);
  assert.is(core.heapDue(-far - 1n), NONE);
  assert.is(core.heapDue(-far), 3);
  assert.is(core.heapDue(far - 1n), NONE);
  assert.is(core.heapDue(far + 1n), 2);
  core.heapDisarm(1);
  assert.is(core.heapArmed(1), 0);
  assert.is(core.heapDeadline(1), far + 1n);
  assert.is(core.heapDeadline(3), -far);
  assert.is(core.heapDue(far + 1n), NONE);
  core.heapDisarm(1);                         // not armed: nothing happens
  assert.is(core.heapSize(), 0);
});

// ---------------------------------------------------------------- text

// The arena as documented: classes 16 << k, a free list per class (last freed first), then the uncarved rest.
class TextModel {
  private readonly free: number[][] = [];
  used = 0;
  constructor(private next: number, private readonly end: number) {}

  static block(length: number): number {
    let size = 16;
    while (size < length) size *= 2;
    return size;
  }

  alloc(length: number): number {
    const size = TextModel.block(length);
    const list = this.free[size] ??= [];
    let at = list.pop();
    if (at === undefined) {
      if (size > this.end - this.next) return 0;
      at = this.next;
      this.next += size;
    }
    this.used += size;
    return at;
  }

  release(at: number, length: number): void {
    const size = TextModel.block(length);
    (this.free[size] ??= []).push(at);
    this.used -= size;
  }
}

test("text: random allocations and frees reuse freed blocks per class, last freed first, until the arena is exhausted", () => {
  const core = unit();
  const rng = new Rng(0x7e47);
  const arena = 64 * 1024;
  assert.is(core.textInit(BigInt(arena)), 1);
  const first = u32(core.textAlloc(0));
  assert.ok(first !== 0 && first % 16 === 0, "length 0: a valid address");
  const model = new TextModel(first + 16, first + arena);
  model.used = 16;
  const held: { at: number; length: number; fill: number }[] = [{ at: first, length: 0, fill: 0 }];
  let exhausted = 0;
  for (let i = 0; i < 40_000; i++) {
    if (held.length === 0 || rng.chance(0.55)) {
      const length = rng.chance(0.01) ? 0xffff_ffff : rng.chance(0.05) ? rng.below(5000) : rng.below(200);
      const at = u32(core.textAlloc(length));
      assert.is(at, model.alloc(length), `step ${i}: address for ${length} bytes`);
      if (at === 0) { exhausted++; continue; }
      const fill = 1 + rng.below(255);
      new Uint8Array(core.memory.buffer, at, length).fill(fill);
      held.push({ at, length, fill });
    } else {
      const k = rng.below(held.length);
      const h = held[k];
      held[k] = held[held.length - 1];
      held.pop();
      // No other block wrote over this one.
      assert.ok(new Uint8Array(core.memory.buffer, h.at, h.length).every((b) => b === h.fill), `step ${i}: block intact`);
      core.textFree(h.at, h.length);
      model.release(h.at, h.length);
    }
    assert.is(core.textUsed(), BigInt(model.used), `step ${i}: bytes used`);
  }
  assert.ok(exhausted > 500, `exhausted ${exhausted} times`);
});

test("text: exhaustion, reuse of the last freed block, lengths at the class edges", () => {
  const core = unit();
  assert.is(core.textInit(256n), 1);
  const a = u32(core.textAlloc(16));
  const b = u32(core.textAlloc(17));          // 32 bytes
  const c = u32(core.textAlloc(200));         // 256 bytes: more than is left
  assert.is(c, 0);
  assert.is(b - a, 16);
  const d = u32(core.textAlloc(64));
  assert.is(d - b, 32);
  assert.is(core.textUsed(), 112n);
  const e = u32(core.textAlloc(128));         // 128 + 112 = 240: fits
  assert.is(e - d, 64);
  assert.is(u32(core.textAlloc(32)), 0, "16 bytes left");
  assert.is(u32(core.textAlloc(1)), e + 128, "the last 16");
  assert.is(u32(core.textAlloc(0)), 0, "exhausted");
  core.textFree(a, 3);
  core.textFree(e + 128, 16);
  assert.is(u32(core.textAlloc(0)), e + 128, "the last freed of its class first");
  assert.is(u32(core.textAlloc(12)), a);
  assert.is(u32(core.textAlloc(5)), 0);
  core.textFree(b, 32);
  assert.is(u32(core.textAlloc(16)), 0, "a free 32-byte block is not split for 16 bytes");
  assert.is(u32(core.textAlloc(20)), b);
  assert.is(core.textUsed(), 256n);
  assert.is(u32(core.textAlloc(0xffff_ffff)), 0, "the largest length: no wrap");
});

// ---------------------------------------------------------------- entries

test("entries: ids 1..count, zeroed when handed out, the last freed reused first, NONE when all are taken", () => {
  const core = unit();
  assert.is(core.entriesInit(5, 48), 1);
  assert.equal([core.entryAlloc(), core.entryAlloc(), core.entryAlloc()], [1, 2, 3]);
  core.entryFree(2);
  assert.is(core.entryAlloc(), 2, "a freed id before one never used");
  const ids = [1, 2, 3, core.entryAlloc(), core.entryAlloc()];
  assert.equal(ids, [1, 2, 3, 4, 5]);
  assert.is(core.entryAlloc(), NONE);
  const base = u32(core.entryAt(1));
  assert.ok(base % 16 === 0);
  for (const id of ids) {
    assert.is(u32(core.entryAt(id)), base + (id - 1) * 48);
    new Uint8Array(core.memory.buffer, u32(core.entryAt(id)), 48).fill(0xa0 + id);
  }
  core.entryFree(4);
  core.entryFree(2);
  assert.is(core.entryAlloc(), 2);
  assert.ok(new Uint8Array(core.memory.buffer, base + 48, 48).every((b) => b === 0), "zeroed");
  assert.ok(new Uint8Array(core.memory.buffer, base, 48).every((b) => b === 0xa1), "its neighbours untouched");
  assert.ok(new Uint8Array(core.memory.buffer, base + 96, 48).every((b) => b === 0xa3), "its neighbours untouched");
  assert.is(core.entryAlloc(), 4);
  assert.is(core.entryAlloc(), NONE);
  core.entryFree(NONE);
  assert.is(core.entryAlloc(), NONE);
});

// ---------------------------------------------------------------- reservations

test("reservations: sizes past 4 GiB or the host's memory are refused, not wrapped; refusals reserve nothing", () => {
  const core = unit();
  assert.is(core.entriesInit(4, 24), 0, "not a multiple of 16");
  assert.is(core.entriesInit(4, 0), 0);
  assert.is(core.entriesInit(0, 16), 1, "an empty pool");
  const before = core.reservedEnd();
  assert.is(core.entriesInit(65536, 65536), 0, "2^32 bytes: 0 in u32");
  assert.is(core.entriesInit(0xffff_ffff, 0xffff_fff0), 0);
  assert.is(core.tableReserve(0xffff_ffff), 0);
  assert.is(core.tableReserve(1 << 27), 0, "2^28 slots: 4 GiB");
  assert.is(core.tableReserve(3_000_000), 0, "more than the host gives");
  assert.is(core.heapInit(0xffff_ffff), 0);
  assert.is(core.heapInit(0x0aaa_aaab), 0, "24 bytes an id: just past 4 GiB, a few bytes in u32");
  assert.is(core.textInit(1n << 32n), 0);
  assert.is(core.textInit(u64(-1n)), 0, "near 2^64: would wrap in reserve()");
  assert.is(core.reservedEnd(), before, "nothing reserved by the refusals");
  const t = core.tableReserve(100);
  assert.ok(t > 0 && t % 64 === 0, "slots on a cache line");
  core.tableAdd(t, 0n, 3);
  assert.is(core.tableGet(t, 0n), 3, "key 0 is a key");
  assert.is(core.entriesInit(2, 16), 1);
  assert.is(core.heapInit(2), 1);
  assert.is(core.textInit(0n), 1);
  assert.is(core.textAlloc(0), 0, "an empty arena");
});

test.run();
