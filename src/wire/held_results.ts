/**
 * Both sides of the thread boundary: the results a worker holds back to send
 * in one message, mirrored in memory it shares with the pool. A worker sends
 * results together, and so may hold finished ones while it starts the next
 * tiny task; if that task then never ends, the thread is abandoned and the
 * message never leaves. The mirror is how the pool still gets those results:
 * a worker holds back only results it could write here (numbers, booleans,
 * `null`, `undefined`, short strings, and "skipped"), and sends any other at
 * once.
 *
 * Each entry is guarded like a seqlock: its tag is cleared before the entry
 * is written and set to `seq + 1` after, and a reader takes an entry only if
 * it read the same non-zero tag before and after, so a half-written entry is
 * never taken.
 *
 * @module
 */

/** How many results a worker may hold at once: also the most one message carries. */
export const HELD_CAPACITY = 256;
/** The longest string held back; a longer one is sent at once. */
const MAX_CHARS = 64;

const NUMBER = 1;
const UNDEFINED = 2;
const NULL = 3;
const TRUE = 4;
const FALSE = 5;
const STRING = 6;
const SKIP = 7;

// Int32 words: [0] the count of entries in use, then a tag and a kind per entry.
const COUNT = 0;
const TAGS = 1;
const KINDS = TAGS + HELD_CAPACITY;
const WORDS = KINDS + HELD_CAPACITY;
const VALUES_AT = Math.ceil((WORDS * 4) / 8) * 8;
const CHARS_AT = VALUES_AT + HELD_CAPACITY * 8;
const BYTES = CHARS_AT + HELD_CAPACITY * MAX_CHARS * 2;

/** A result read back from the mirror: its value, or that the task was skipped. */
export type HeldResult = { skipped: false; value: unknown } | { skipped: true };

/** The mirror of one worker thread's held results. */
export class HeldResults {
  /** The shared memory, to send to the worker. */
  readonly buffer: SharedArrayBuffer;
  readonly #words: Int32Array<SharedArrayBuffer>;
  readonly #values: Float64Array<SharedArrayBuffer>;
  readonly #chars: Uint16Array<SharedArrayBuffer>;

  /** Makes a new mirror, or opens the one `buffer` holds. */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(BYTES)) {
    this.buffer = buffer;
    this.#words = new Int32Array(buffer, 0, WORDS);
    this.#values = new Float64Array(buffer, VALUES_AT, HELD_CAPACITY);
    this.#chars = new Uint16Array(buffer, CHARS_AT, HELD_CAPACITY * MAX_CHARS);
  }

  /**
   * Worker side: mirrors the result of task `seq` as entry `index` (its place
   * in the outbox), and says whether it could. `skipped` records a task
   * skipped without running.
   */
  write(index: number, seq: number, value: unknown, skipped = false): boolean {
    const kind = skipped ? SKIP : kindOf(value);
    if (kind === 0 || index >= HELD_CAPACITY) return false;
    const words = this.#words;
    Atomics.store(words, TAGS + index, 0);
    words[KINDS + index] = kind;
    if (kind === NUMBER) this.#values[index] = value as number;
    else if (kind === STRING) {
      const text = value as string;
      this.#values[index] = text.length;
      const at = index * MAX_CHARS;
      for (let i = 0; i < text.length; i++) this.#chars[at + i] = text.charCodeAt(i);
    }
    Atomics.store(words, TAGS + index, seq + 1);
    Atomics.store(words, COUNT, index + 1);
    return true;
  }

  /** Worker side: the held results have been sent. */
  clear(): void {
    Atomics.store(this.#words, COUNT, 0);
  }

  /** Pool side: the results held now, by task sequence number. */
  read(): Map<number, HeldResult> {
    const words = this.#words;
    const held = new Map<number, HeldResult>();
    const count = Math.min(Atomics.load(words, COUNT), HELD_CAPACITY);
    for (let i = 0; i < count; i++) {
      const tag = Atomics.load(words, TAGS + i);
      if (tag === 0) continue;
      const result = this.#entry(i);
      if (Atomics.load(words, TAGS + i) === tag) held.set(tag - 1, result);
    }
    return held;
  }

  #entry(index: number): HeldResult {
    switch (this.#words[KINDS + index]) {
      case SKIP:
        return { skipped: true };
      case NUMBER:
        return { skipped: false, value: this.#values[index] };
      case NULL:
        return { skipped: false, value: null };
      case TRUE:
        return { skipped: false, value: true };
      case FALSE:
        return { skipped: false, value: false };
      case STRING: {
        const at = index * MAX_CHARS;
        const units = this.#chars.slice(at, at + this.#values[index]!);
        return { skipped: false, value: String.fromCharCode(...units) };
      }
      default:
        return { skipped: false, value: undefined };
    }
  }
}

function kindOf(value: unknown): number {
  switch (typeof value) {
    case "number":
      return NUMBER;
    case "undefined":
      return UNDEFINED;
    case "boolean":
      return value ? TRUE : FALSE;
    case "string":
      return value.length <= MAX_CHARS ? STRING : 0;
    case "object":
      return value === null ? NULL : 0;
    default:
      return 0;
  }
}
