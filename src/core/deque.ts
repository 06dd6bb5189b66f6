/**
 * Main thread, shared: a double-ended queue on a ring buffer: O(1) at both ends, no
 * `Array.shift` copying, and it shrinks back when emptied.
 *
 * @module
 */

const MIN_CAPACITY = 16;

/** A double-ended queue on a growable ring buffer. */
export class Deque<T> {
  #items: (T | undefined)[] = new Array(MIN_CAPACITY);
  #head = 0;
  #length = 0;

  /** How many items are queued. */
  get length(): number {
    return this.#length;
  }

  /** Adds an item at the back. */
  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item;
    this.#length++;
  }

  /** Adds an item at the front. */
  unshift(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#items.length - 1);
    this.#items[this.#head] = item;
    this.#length++;
  }

  /** Removes and returns the front item. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#length--;
    if (this.#length === 0 && this.#items.length > MIN_CAPACITY * 64) {
      this.#items = new Array(MIN_CAPACITY);
      this.#head = 0;
    }
    return item;
  }

  /** The front item, left in place. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  #grow(): void {
    const old = this.#items;
    const items = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.#length; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#items = items;
    this.#head = 0;
  }
}
