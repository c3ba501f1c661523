// Timers on capture time: an indexed binary min-heap of entries by deadline.
// Each entry holds at most one place in the heap, so re-arming moves it and
// dropping it removes it: the heap never holds more than the live entries.
// Deadlines are kept in a parallel array: comparing numbers there, rather than
// reading `deadline` off calls, bindings and transactions of different shapes,
// keeps the sift loops monomorphic.

export interface Timed {
  deadline: number;   // microseconds of capture time
  heapIndex: number;  // -1 when not armed
}

export class TimerHeap<T extends Timed> {
  private readonly entries: T[] = [];
  private readonly deadlines: number[] = [];

  get size(): number {
    return this.entries.length;
  }

  arm(entry: T, deadline: number): void {
    entry.deadline = deadline;
    let at = entry.heapIndex;
    if (at < 0) {
      at = this.entries.length;
      this.entries.push(entry);
      this.deadlines.push(deadline);
    } else {
      this.deadlines[at] = deadline;
    }
    this.place(this.siftUp(at, deadline), entry, deadline);
  }

  disarm(entry: T): void {
    const at = entry.heapIndex;
    if (at < 0) return;
    entry.heapIndex = -1;
    const last = this.entries.pop() as T;
    const lastDeadline = this.deadlines.pop() as number;
    if (at === this.entries.length) return;
    this.place(this.siftUp(at, lastDeadline), last, lastDeadline);
  }

  // The earliest entry whose deadline is at or before `now`, taken off the heap.
  due(now: number): T | undefined {
    if (this.entries.length === 0 || this.deadlines[0] > now) return undefined;
    const top = this.entries[0];
    this.disarm(top);
    return top;
  }

  // Moves the hole at `at` up while the parent is later; returns where it stops.
  private siftUp(at: number, deadline: number): number {
    const { entries, deadlines } = this;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (deadlines[parent] <= deadline) break;
      entries[at] = entries[parent];
      deadlines[at] = deadlines[parent];
      entries[at].heapIndex = at;
      at = parent;
    }
    return at;
  }

  // Moves the hole at `at` down while a child is earlier, then puts the entry there.
  private place(at: number, entry: T, deadline: number): void {
    const { entries, deadlines } = this;
    const n = entries.length;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && deadlines[right] < deadlines[left] ? right : left;
      if (deadlines[child] >= deadline) break;
      entries[at] = entries[child];
      deadlines[at] = deadlines[child];
      entries[at].heapIndex = at;
      at = child;
    }
    entries[at] = entry;
    deadlines[at] = deadline;
    entry.heapIndex = at;
  }
}
