// Calls found by their call key (the core's 53-bit signature of the Call-ID, as the
// call tracker keys them), each to its number: open addressing with linear probing
// in typed arrays, deletion by shifting back, so that a look-up per message costs a
// few array reads and neither a string nor a hash of one, and the table holds no
// pointer for the garbage collector to follow.
const EMPTY = -1;   // keys are 0 to 2^53 - 1

export class KeyTable {
  private keys = new Float64Array(16).fill(EMPTY);
  private values = new Float64Array(16);
  private mask = 15;
  size = 0;

  // The key's number, -1 when it is not in the table.
  get(key: number): number {
    for (let i = this.home(key); ; i = (i + 1) & this.mask) {
      const k = this.keys[i];
      if (k === key) return this.values[i];
      if (k === EMPTY) return -1;
    }
  }

  // `key` must not be in the table.
  add(key: number, value: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    let i = this.home(key);
    while (this.keys[i] !== EMPTY) i = (i + 1) & this.mask;
    this.keys[i] = key;
    this.values[i] = value;
    this.size++;
  }

  delete(key: number): void {
    let i = this.home(key);
    for (; this.keys[i] !== key; i = (i + 1) & this.mask) if (this.keys[i] === EMPTY) return;
    // Each later entry of the run moves into the hole unless its home lies after the hole.
    for (let j = (i + 1) & this.mask; this.keys[j] !== EMPTY; j = (j + 1) & this.mask) {
      const h = this.home(this.keys[j]);
      const between = i <= j ? i < h && h <= j : i < h || h <= j;
      if (between) continue;
      this.keys[i] = this.keys[j];
      this.values[i] = this.values[j];
      i = j;
    }
    this.keys[i] = EMPTY;
    this.size--;
  }

  // The key's low 32 bits (the signature is mixed throughout) pick its first slot.
  private home(key: number): number {
    return (key >>> 0) & this.mask;
  }

  private grow(): void {
    const [keys, values] = [this.keys, this.values];
    const capacity = keys.length * 2;
    this.keys = new Float64Array(capacity).fill(EMPTY);
    this.values = new Float64Array(capacity);
    this.mask = capacity - 1;
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) this.add(keys[i], values[i]);
  }
}
