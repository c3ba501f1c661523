// The call tracker's storage in linear memory: a pool of fixed-size entries, keyed
// tables with a capacity (host/calls/bounded.ts's BoundedMap), one timer heap
// (host/calls/timers.ts's TimerHeap) and an arena of byte strings. Each keeps the
// exact order of the JavaScript structure it replaces (which key is evicted, the
// iteration order, which of equal deadlines is due first), so the tracker here
// decides as the JavaScript one did.
//
// Everything is reserved by the *Init and tableReserve functions, called while the
// core is configured: nothing is reserved afterwards (the core's memory must not
// grow after configure). Sizes are computed in u64 so that a configured count too
// large for wasm32 is refused by reserve(), never wrapped to a small allocation.
// What reserve() hands out was never used, so it is zero (wasm memory starts zeroed,
// grown pages are zeroed, and reserve() hands each byte out once): the empty slots,
// the heap's "not armed" places and the headers need no clearing, which for tables of
// a few MiB would cost a write and a page fault per page before the first packet.
import { reserve } from "./state";
import { finalMix } from "./hash";

export const NONE: u32 = 0;

// 16-byte multiples: what reserve() hands out is 16-aligned, so every part carved
// from one reservation stays 16-aligned.
@inline function align16(bytes: u64): u64 {
  return (bytes + 15) & ~(<u64>15);
}

// ---------------------------------------------------------------- entries
//
// Records of `entrySize` bytes, ids 1..entryCount. Freed ids go on a stack (the
// last freed taken first, its link kept in the record's first word), then ids
// never used are handed out in order: a run touches as many records as it holds
// at once, not the whole pool.

let entryBase: usize = 0;
let entryCount: u32 = 0;
let entrySize: u32 = 0;
let entryFresh: u32 = 0;      // ids 1..entryFresh were handed out at least once
let entryFreeTop: u32 = NONE; // the last freed id

export function entriesInit(count: u32, size: u32): bool {
  if (size == 0 || (size & 15) != 0) return false;
  const at = reserve(<u64>count * size);
  if (at == 0) return false;
  entryBase = at;
  entryCount = count;
  entrySize = size;
  entryFresh = 0;
  entryFreeTop = NONE;
  return true;
}

export function entryAlloc(): u32 {
  let id = entryFreeTop;
  if (id != NONE) entryFreeTop = load<u32>(entryAt(id));
  else if (entryFresh < entryCount) id = ++entryFresh;
  else return NONE;
  memory.fill(entryAt(id), 0, entrySize);
  return id;
}

export function entryFree(id: u32): void {
  if (id == NONE) return;
  store<u32>(entryAt(id), entryFreeTop);
  entryFreeTop = id;
}

// count * size was reserved whole, so (id - 1) * size is below 4 GiB: no wrap in usize.
@inline export function entryAt(id: u32): usize {
  return entryBase + <usize>(id - 1) * entrySize;
}

// ---------------------------------------------------------------- keyed tables
//
// One reservation per table: a header, then the slots (open addressing, linear
// probing, a power of two at least twice the keys held: at most half full), then
// one node per key the table can hold. A slot holds the key, its value and its
// node; the nodes hold the insertion order as a doubly linked list (oldest first),
// the slot their key is in, and the key and value again. The slots in use start at
// 16 and double as the keys do, up to twice the capacity, each time rebuilt from
// the nodes: a run touches the memory of what it holds, not of what it may hold
// (a table of 100,000 keys reserves 4 MiB of slots; hashing spreads even a few
// thousand keys over every page of them).
//
// Deletion shifts the following slots of the probe run back (no tombstones), so
// lookups cost the same after any number of adds and deletes; a slot that moves
// tells its node where it went (the order lives in the nodes, so it does not move).
//
// The order is BoundedMap's: a key counts from its (latest) insertion, a changed
// value keeps its place (Map.set on a present key), eviction takes the oldest.

const H_CAPACITY = 0;   // u32, keys held at most (at least 1, see tableReserve)
const H_MASK = 4;       // u32, slots - 1
const H_SIZE = 8;       // u32, keys held
const H_HEAD = 12;      // u32, oldest node, NONE when empty
const H_TAIL = 16;      // u32, newest node
const H_FREE = 20;      // u32, freed nodes' stack (linked through N_NEXT)
const H_FRESH = 24;     // u32, nodes 1..fresh were handed out at least once
const H_MAX_MASK = 28;  // u32, the most slots - 1 (twice the capacity)
const H_EVICTED = 32;   // u64
const H_SLOTS = 40;     // usize
const H_NODES = 48;     // usize
const HEADER: u64 = 64; // a cache line: slots then start on one too (see tableReserve)

const SLOT_SIZE: u64 = 16;
const S_KEY = 0;        // u64
const S_VALUE = 8;      // u32
const S_NODE = 12;      // u32, NONE: the slot is empty

const NODE_SIZE: u64 = 32;
const N_PREV = 0;       // u32, the node inserted before, NONE for the oldest
const N_NEXT = 4;       // u32, the node inserted after, NONE for the newest
const N_SLOT = 8;       // u32, the slot holding the key
const N_VALUE = 12;     // u32, the slot's value again (the slots are rebuilt from the nodes)
const N_KEY = 16;       // u64, the slot's key again

const ABSENT: u32 = 0xffffffff; // no slot: slot counts are at most 2^28 (see tableReserve)

export function tableReserve(capacity: u32): usize {
  // BoundedMap evicts when size >= capacity and adds anyway: with capacity 0 it holds one key.
  const keys: u64 = capacity == 0 ? 1 : capacity;
  const slots = slotsFor(keys);
  const bytes = HEADER + slots * SLOT_SIZE + keys * NODE_SIZE;
  // 48 bytes more so that the header, and with it the slots, start on a cache line.
  const reserved = reserve(bytes + 48);
  if (reserved == 0) return 0;
  const t = (reserved + 63) & ~(<usize>63);
  store<u32>(t + H_CAPACITY, <u32>keys);
  store<u32>(t + H_MASK, <u32>(min<u64>(slots, FIRST_SLOTS) - 1)); // reserve() refuses 4 GiB: slots < 2^28 here
  store<u32>(t + H_MAX_MASK, <u32>(slots - 1));
  store<usize>(t + H_SLOTS, t + <usize>HEADER);
  store<usize>(t + H_NODES, t + <usize>(HEADER + slots * SLOT_SIZE));
  return t;
}

const FIRST_SLOTS: u64 = 16;

// A power of two at least twice `keys` (keys <= 2^32, so at most 2^33: no wrap in u64).
function slotsFor(keys: u64): u64 {
  let slots: u64 = FIRST_SLOTS;
  while (slots < keys * 2) slots <<= 1;
  return slots;
}

// Keys are often sequential numbers or signatures: every bit of the key moves
// every bit of the home slot (finalMix, a bijection on u64).
@inline function home(t: usize, key: u64): u32 {
  return <u32>finalMix(key) & load<u32>(t + H_MASK);
}

@inline function slotAt(t: usize, slot: u32): usize {
  return load<usize>(t + H_SLOTS) + (<usize>slot << 4);
}

@inline function nodeAt(t: usize, node: u32): usize {
  return load<usize>(t + H_NODES) + (<usize>(node - 1) << 5);
}

// The slot holding `key`, ABSENT when none does: the run from its home slot ends at an empty slot.
function find(t: usize, key: u64): u32 {
  const mask = load<u32>(t + H_MASK);
  const slots = load<usize>(t + H_SLOTS);
  let i = home(t, key);
  let s = slots + (<usize>i << 4);
  while (load<u32>(s + S_NODE) != NONE) {
    if (load<u64>(s + S_KEY) == key) return i;
    i = (i + 1) & mask;
    s = slots + (<usize>i << 4);
  }
  return ABSENT;
}

export function tableGet(t: usize, key: u64): u32 {
  const i = find(t, key);
  return i == ABSENT ? NONE : load<u32>(slotAt(t, i) + S_VALUE);
}

export function tableHas(t: usize, key: u64): bool {
  return find(t, key) != ABSENT;
}

// Adds an absent key (callers look it up first, as BoundedMap.add's do: a present key
// would be held twice). A full table first lets its oldest key go: that key's value is
// returned, for the caller to do what BoundedMap's onEvict did (disarm, free the entry).
export function tableAdd(t: usize, key: u64, value: u32): u32 {
  let evicted = NONE;
  if (load<u32>(t + H_SIZE) >= load<u32>(t + H_CAPACITY)) evicted = evictOldest(t);
  const size = load<u32>(t + H_SIZE) + 1;
  if (<u64>size * 2 > <u64>load<u32>(t + H_MASK) + 1 && load<u32>(t + H_MASK) < load<u32>(t + H_MAX_MASK)) grow(t);
  const node = takeNode(t);
  const n = nodeAt(t, node);
  store<u64>(n + N_KEY, key);
  store<u32>(n + N_VALUE, value);
  place(t, node, key, value);
  linkNewest(t, node);
  store<u32>(t + H_SIZE, size);
  return evicted;
}

// The key into the first empty slot of its run; its node told where.
function place(t: usize, node: u32, key: u64, value: u32): void {
  const mask = load<u32>(t + H_MASK);
  let i = home(t, key);
  while (load<u32>(slotAt(t, i) + S_NODE) != NONE) i = (i + 1) & mask;
  const s = slotAt(t, i);
  store<u64>(s + S_KEY, key);
  store<u32>(s + S_VALUE, value);
  store<u32>(s + S_NODE, node);
  store<u32>(nodeAt(t, node) + N_SLOT, i);
}

// Twice the slots, the keys placed again in insertion order (the order lives in the nodes).
function grow(t: usize): void {
  const slots = (<u64>load<u32>(t + H_MASK) + 1) << 1;
  store<u32>(t + H_MASK, <u32>(slots - 1));
  memory.fill(load<usize>(t + H_SLOTS), 0, <usize>(slots * SLOT_SIZE));
  for (let node = load<u32>(t + H_HEAD); node != NONE; node = load<u32>(nodeAt(t, node) + N_NEXT)) {
    const n = nodeAt(t, node);
    place(t, node, load<u64>(n + N_KEY), load<u32>(n + N_VALUE));
  }
}

// The oldest key leaves; its value is returned.
function evictOldest(t: usize): u32 {
  const node = load<u32>(t + H_HEAD);
  const slot = load<u32>(nodeAt(t, node) + N_SLOT);
  const value = load<u32>(slotAt(t, slot) + S_VALUE);
  removeAt(t, slot);
  store<u64>(t + H_EVICTED, load<u64>(t + H_EVICTED) + 1);
  return value;
}

export function tableSet(t: usize, key: u64, value: u32): void {
  const i = find(t, key);
  if (i == ABSENT) return;
  const s = slotAt(t, i);
  store<u32>(s + S_VALUE, value);
  store<u32>(nodeAt(t, load<u32>(s + S_NODE)) + N_VALUE, value);
}

export function tableDelete(t: usize, key: u64): bool {
  const i = find(t, key);
  if (i == ABSENT) return false;
  removeAt(t, i);
  return true;
}

export function tableSize(t: usize): u32 {
  return load<u32>(t + H_SIZE);
}

export function tableEvicted(t: usize): u64 {
  return load<u64>(t + H_EVICTED);
}

export function tableFirst(t: usize): u32 {
  return load<u32>(t + H_HEAD);
}

export function tableNext(t: usize, cursor: u32): u32 {
  return load<u32>(nodeAt(t, cursor) + N_NEXT);
}

export function tableValue(t: usize, cursor: u32): u32 {
  return load<u32>(slotAt(t, load<u32>(nodeAt(t, cursor) + N_SLOT)) + S_VALUE);
}

export function tableKey(t: usize, cursor: u32): u64 {
  return load<u64>(slotAt(t, load<u32>(nodeAt(t, cursor) + N_SLOT)) + S_KEY);
}

// Slots a lookup of `key` looks at (1: found in its home slot, or that slot is empty): for tests and figures.
export function tableProbes(t: usize, key: u64): u32 {
  const mask = load<u32>(t + H_MASK);
  const from = home(t, key);
  let i = from;
  let s = slotAt(t, i);
  while (load<u32>(s + S_NODE) != NONE && load<u64>(s + S_KEY) != key) {
    i = (i + 1) & mask;
    s = slotAt(t, i);
  }
  return ((i - from) & mask) + 1;
}

// Takes the key in slot `i` out of the table: its node leaves the order, the slots after it move back.
function removeAt(t: usize, i: u32): void {
  const node = load<u32>(slotAt(t, i) + S_NODE);
  unlink(t, node);
  freeNode(t, node);
  shiftBack(t, i);
  store<u32>(t + H_SIZE, load<u32>(t + H_SIZE) - 1);
}

// Backward-shift deletion: `hole` is emptied; each later key of the run whose home
// slot is not cyclically in (hole, j] would no longer be found past the hole, so it
// moves into it, and its old slot becomes the hole. The run ends at an empty slot.
function shiftBack(t: usize, hole: u32): void {
  const mask = load<u32>(t + H_MASK);
  let j = hole;
  for (;;) {
    j = (j + 1) & mask;
    const s = slotAt(t, j);
    const node = load<u32>(s + S_NODE);
    if (node == NONE) break;
    const fromHome = (j - home(t, load<u64>(s + S_KEY))) & mask;
    if (fromHome < ((j - hole) & mask)) continue; // its home is after the hole: it stays
    memory.copy(slotAt(t, hole), s, <usize>SLOT_SIZE);
    store<u32>(nodeAt(t, node) + N_SLOT, hole);
    hole = j;
  }
  store<u32>(slotAt(t, hole) + S_NODE, NONE);
}

// A node for a new key. The table holds fewer keys than nodes here (tableAdd evicts first).
function takeNode(t: usize): u32 {
  const free = load<u32>(t + H_FREE);
  if (free != NONE) {
    store<u32>(t + H_FREE, load<u32>(nodeAt(t, free) + N_NEXT));
    return free;
  }
  const fresh = load<u32>(t + H_FRESH) + 1;
  store<u32>(t + H_FRESH, fresh);
  return fresh;
}

function freeNode(t: usize, node: u32): void {
  store<u32>(nodeAt(t, node) + N_NEXT, load<u32>(t + H_FREE));
  store<u32>(t + H_FREE, node);
}

function linkNewest(t: usize, node: u32): void {
  const tail = load<u32>(t + H_TAIL);
  const n = nodeAt(t, node);
  store<u32>(n + N_PREV, tail);
  store<u32>(n + N_NEXT, NONE);
  if (tail != NONE) store<u32>(nodeAt(t, tail) + N_NEXT, node);
  else store<u32>(t + H_HEAD, node);
  store<u32>(t + H_TAIL, node);
}

function unlink(t: usize, node: u32): void {
  const n = nodeAt(t, node);
  const prev = load<u32>(n + N_PREV);
  const next = load<u32>(n + N_NEXT);
  if (prev != NONE) store<u32>(nodeAt(t, prev) + N_NEXT, next);
  else store<u32>(t + H_HEAD, next);
  if (next != NONE) store<u32>(nodeAt(t, next) + N_PREV, prev);
  else store<u32>(t + H_TAIL, prev);
}

// ---------------------------------------------------------------- timer heap
//
// TimerHeap ported line for line: an indexed binary min-heap of entry ids with
// their deadlines in a parallel array, the same sift comparisons (a parent at or
// before the deadline stops the way up, a child strictly before it continues the
// way down, the right child taken only when strictly earlier than the left), so
// equal deadlines come due in the same order. Per id: its place in the heap + 1
// (0: not armed, TimerHeap's heapIndex -1) and the deadline it was last armed with.

let heapIds: usize = 0;        // u32 per place
let heapDeadlines: usize = 0;  // i64 per place
let idPlaces: usize = 0;       // u32 per id (index id - 1)
let idDeadlines: usize = 0;    // i64 per id
let heapCount: u32 = 0;

export function heapInit(count: u32): bool {
  const ids = align16(<u64>count * 4);
  const deadlines = align16(<u64>count * 8);
  const at = reserve(2 * ids + 2 * deadlines);
  if (at == 0) return false;
  heapDeadlines = at;
  idDeadlines = at + <usize>deadlines;
  heapIds = idDeadlines + <usize>deadlines;
  idPlaces = heapIds + <usize>ids;
  heapCount = 0;
  return true;
}

@inline function placeOf(id: u32): u32 {
  return load<u32>(idPlaces + (<usize>(id - 1) << 2));
}

@inline function setPlace(id: u32, place: u32): void {
  store<u32>(idPlaces + (<usize>(id - 1) << 2), place);
}

@inline function deadlineAt(at: u32): i64 {
  return load<i64>(heapDeadlines + (<usize>at << 3));
}

@inline function idAt(at: u32): u32 {
  return load<u32>(heapIds + (<usize>at << 2));
}

// Puts `id` at place `at` and tells it so.
@inline function put(at: u32, id: u32, deadline: i64): void {
  store<u32>(heapIds + (<usize>at << 2), id);
  store<i64>(heapDeadlines + (<usize>at << 3), deadline);
  setPlace(id, at + 1);
}

export function heapArm(id: u32, deadline: i64): void {
  store<i64>(idDeadlines + (<usize>(id - 1) << 3), deadline);
  const place = placeOf(id);
  let at: u32;
  if (place == 0) {
    at = heapCount++; // a hole at the end (TimerHeap pushes there, then moves the hole)
  } else {
    at = place - 1;
    store<i64>(heapDeadlines + (<usize>at << 3), deadline);
  }
  siftDown(siftUp(at, deadline), id, deadline);
}

export function heapDisarm(id: u32): void {
  const place = placeOf(id);
  if (place == 0) return;
  setPlace(id, 0);
  const last = --heapCount;
  if (place - 1 == last) return;
  const lastId = idAt(last);
  const lastDeadline = deadlineAt(last);
  siftDown(siftUp(place - 1, lastDeadline), lastId, lastDeadline);
}

export function heapDue(now: i64): u32 {
  if (heapCount == 0 || deadlineAt(0) > now) return NONE;
  const top = idAt(0);
  heapDisarm(top);
  return top;
}

export function heapSize(): u32 {
  return heapCount;
}

export function heapDeadline(id: u32): i64 {
  return load<i64>(idDeadlines + (<usize>(id - 1) << 3));
}

export function heapArmed(id: u32): bool {
  return placeOf(id) != 0;
}

// Moves the hole at `at` up while the parent is later; returns where it stops.
function siftUp(at: u32, deadline: i64): u32 {
  while (at > 0) {
    const parent = (at - 1) >> 1;
    const parentDeadline = deadlineAt(parent);
    if (parentDeadline <= deadline) break;
    put(at, idAt(parent), parentDeadline);
    at = parent;
  }
  return at;
}

// Moves the hole at `at` down while a child is earlier, then puts the entry there.
// Places are below heapCount <= count < 2^32 / 24 (24 bytes an id were reserved): 2 * at + 2 does not wrap.
function siftDown(at: u32, id: u32, deadline: i64): void {
  const n = heapCount;
  for (;;) {
    const left = (at << 1) + 1;
    if (left >= n) break;
    const right = left + 1;
    const child = right < n && deadlineAt(right) < deadlineAt(left) ? right : left;
    const childDeadline = deadlineAt(child);
    if (childDeadline >= deadline) break;
    put(at, idAt(child), childDeadline);
    at = child;
  }
  put(at, id, deadline);
}

// ---------------------------------------------------------------- text
//
// Byte strings in blocks of 16 << k bytes (the smallest class that holds them),
// carved in order from one arena; a freed block goes on its class's free list (the
// last freed reused first, the link in its first word). Blocks are not split or
// merged: the arena is exhausted when no block of the class is free and the
// uncarved rest is too small, even if other classes have free blocks.

const TEXT_CLASSES: u32 = 29; // 16 << 28 = 4 GiB holds any u32 length
const textFreeHeads: usize = memory.data(TEXT_CLASSES * 8, 8);
let textNext: u64 = 0;  // the uncarved rest: [textNext, textEnd)
let textEnd: u64 = 0;
let textInUse: u64 = 0;

export function textInit(bytes: u64): bool {
  // reserve() adds the size to an address in u64: a size near 2^64 would wrap there.
  if (bytes >= 0x1_0000_0000) return false;
  const at = reserve(bytes);
  if (at == 0) return false;
  textNext = at;
  textEnd = <u64>at + bytes;
  textInUse = 0;
  memory.fill(textFreeHeads, 0, TEXT_CLASSES * 8);
  return true;
}

// The class of `length`: 16 << k >= length, k smallest.
@inline function textClass(length: u32): u32 {
  return length <= 16 ? 0 : 28 - <u32>clz<u32>(length - 1);
}

export function textAlloc(length: u32): usize {
  const k = textClass(length);
  const block = <u64>16 << k;
  const head = textFreeHeads + (<usize>k << 3);
  let at = load<usize>(head);
  if (at != 0) {
    store<usize>(head, load<usize>(at));
  } else {
    if (block > textEnd - textNext) return 0;
    at = <usize>textNext;
    textNext += block;
  }
  textInUse += block;
  return at;
}

export function textFree(at: usize, length: u32): void {
  if (at == 0) return;
  const k = textClass(length);
  const head = textFreeHeads + (<usize>k << 3);
  store<usize>(at, load<usize>(head));
  store<usize>(head, at);
  textInUse -= <u64>16 << k;
}

export function textUsed(): u64 {
  return textInUse;
}
