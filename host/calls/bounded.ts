// A Map with a capacity whose oldest entry (by insertion) makes room. The
// insertion order is kept in our own queue: finding a Map's first entry after
// many deletions walks over every deleted slot, which made eviction quadratic.

export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  private order: K[] = [];
  private orderValues: V[] = [];  // what each queued key held when queued: a key re-added later is not the old entry
  private head = 0;
  evicted = 0;

  constructor(readonly capacity: number, private readonly onEvict: (value: V) => void = () => undefined) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  // Adds a new key (callers check it is absent), evicting the oldest when full.
  add(key: K, value: V): void {
    if (this.map.size >= this.capacity) this.evictOldest();
    this.map.set(key, value);
    this.order.push(key);
    this.orderValues.push(value);
    const queued = this.order.length - this.head;
    if (queued > this.map.size + (this.map.size >> 1) + 1024 || this.head > 1024 && this.head * 2 > this.order.length) this.compact();
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  private evictOldest(): void {
    while (this.head < this.order.length) {
      const key = this.order[this.head];
      const queued = this.orderValues[this.head];
      // Passed slots let go of what they held: an evicted entry is garbage at once.
      this.order[this.head] = undefined as K;
      this.orderValues[this.head++] = undefined as V;
      const value = this.map.get(key);
      if (value === undefined || value !== queued) continue;
      this.map.delete(key);
      this.evicted++;
      this.onEvict(value);
      return;
    }
  }

  // Keys deleted without eviction stay queued (holding their entry until then), and
  // emptied slots before the head: rebuild the queue when the deleted ones are half
  // as many as the live ones, or the emptied slots are half the queue.
  private compact(): void {
    this.order = [...this.map.keys()];
    this.orderValues = [...this.map.values()];
    this.head = 0;
  }
}
