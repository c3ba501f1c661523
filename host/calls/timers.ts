// Timers on capture time: an indexed binary min-heap of entries by deadline.
// Each entry holds at most one place in the heap, so re-arming moves it and
// dropping it removes it: the heap never holds more than the live entries.

export interface Timed {
  deadline: number;   // microseconds of capture time
  heapIndex: number;  // -1 when not armed
}

export class TimerHeap<T extends Timed> {
  private readonly heap: T[] = [];

  get size(): number {
    return this.heap.length;
  }

  arm(entry: T, deadline: number): void {
    entry.deadline = deadline;
    if (entry.heapIndex < 0) {
      entry.heapIndex = this.heap.length;
      this.heap.push(entry);
    }
    this.siftUp(entry.heapIndex);
    this.siftDown(entry.heapIndex);
  }

  disarm(entry: T): void {
    const at = entry.heapIndex;
    if (at < 0) return;
    entry.heapIndex = -1;
    const last = this.heap.pop() as T;
    if (at === this.heap.length) return;
    this.heap[at] = last;
    last.heapIndex = at;
    this.siftUp(at);
    this.siftDown(last.heapIndex);
  }

  // The earliest entry whose deadline is at or before `now`, taken off the heap.
  due(now: number): T | undefined {
    const top = this.heap[0];
    if (top === undefined || top.deadline > now) return undefined;
    this.disarm(top);
    return top;
  }

  private siftUp(at: number): void {
    const heap = this.heap;
    const entry = heap[at];
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (heap[parent].deadline <= entry.deadline) break;
      heap[at] = heap[parent];
      heap[at].heapIndex = at;
      at = parent;
    }
    heap[at] = entry;
    entry.heapIndex = at;
  }

  private siftDown(at: number): void {
    const heap = this.heap;
    const entry = heap[at];
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right].deadline < heap[left].deadline ? right : left;
      if (heap[child].deadline >= entry.deadline) break;
      heap[at] = heap[child];
      heap[at].heapIndex = at;
      at = child;
    }
    heap[at] = entry;
    entry.heapIndex = at;
  }
}
