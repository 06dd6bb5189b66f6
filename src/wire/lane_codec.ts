/**
 * Both threads: the shared-memory lane's encoding. It carries exactly what
 * it can carry exactly — `undefined`, `null`, booleans, numbers (`-0` and
 * `NaN` included), strings (lone surrogates included: UTF-16 code units as
 * they are), dense arrays and plain objects of those, nested — and says no
 * to anything else (a Date, a Map, a BigInt, a typed array, a class
 * instance, a sparse array, an array with extra properties, an object seen
 * twice, a `__proto__` key, a Proxy), which then travels by message. What comes out
 * equals what structured cloning would give: same types, same values, same
 * key order.
 *
 * @module
 */

import { isProxy } from "node:util/types";

const UNDEFINED = 0;
const NULL = 1;
const FALSE = 2;
const TRUE = 3;
const INT = 4;
const FLOAT = 5;
const STRING = 6;
const ARRAY = 7;
const OBJECT = 8;

/** Objects nest at most this deep in the lane; deeper ones go by message. */
const MAX_DEPTH = 8;

/** Writes encoded values into a byte buffer, from a position; says no when they do not fit. */
export class LaneWriter {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  at = 0;
  readonly #seen: object[] = [];

  /** A writer into `bytes`, a scratch buffer as large as one record may be. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Writes a signed 32-bit integer (a record's header field). */
  int(value: number): boolean {
    if (this.at + 4 > this.view.byteLength) return false;
    this.view.setInt32(this.at, value, true);
    this.at += 4;
    return true;
  }

  /** Writes `value` at `at`; false (and `at` meaningless) if it cannot be carried or does not fit. */
  value(value: unknown): boolean {
    this.#seen.length = 0;
    return this.#value(value, 0);
  }

  /**
   * Writes a task's argument list, read back as an array of its items. The
   * list is only ever spread into a call, where a hole reads as `undefined`
   * and a property beside the items is not seen: so neither is looked for,
   * which spares each task the list of keys `value` would make.
   */
  list(items: readonly unknown[]): boolean {
    this.#seen.length = 0;
    const length = items.length;
    if (!this.#tag(ARRAY) || !this.#length(length)) return false;
    for (let i = 0; i < length; i++) if (!this.#value(items[i], 1)) return false;
    return true;
  }

  #value(value: unknown, depth: number): boolean {
    const view = this.view;
    const at = this.at;
    switch (typeof value) {
      case "undefined":
        return this.#tag(UNDEFINED);
      case "boolean":
        return this.#tag(value ? TRUE : FALSE);
      case "number":
        if ((value | 0) === value && !Object.is(value, -0)) {
          if (at + 5 > view.byteLength) return false;
          view.setUint8(at, INT);
          view.setInt32(at + 1, value, true);
          this.at = at + 5;
          return true;
        }
        if (at + 9 > view.byteLength) return false;
        view.setUint8(at, FLOAT);
        view.setFloat64(at + 1, value, true);
        this.at = at + 9;
        return true;
      case "string":
        return this.#tag(STRING) && this.#string(value);
      case "object": {
        if (value === null) return this.#tag(NULL);
        // A Proxy would be read through its traps; structured cloning refuses it.
        if (depth >= MAX_DEPTH || this.#seen.includes(value) || isProxy(value)) return false;
        this.#seen.push(value);
        const proto = Object.getPrototypeOf(value);
        if (proto === Array.prototype) return this.#array(value as unknown[], depth);
        if (proto === Object.prototype) {
          return this.#object(value as Record<string, unknown>, depth);
        }
        return false;
      }
      default:
        return false;
    }
  }

  #tag(tag: number): boolean {
    if (this.at + 1 > this.view.byteLength) return false;
    this.view.setUint8(this.at++, tag);
    return true;
  }

  #length(length: number): boolean {
    if (this.at + 4 > this.view.byteLength) return false;
    this.view.setUint32(this.at, length, true);
    this.at += 4;
    return true;
  }

  #string(text: string): boolean {
    const length = text.length;
    if (!this.#length(length) || this.at + 2 * length > this.view.byteLength) return false;
    const view = this.view;
    let at = this.at;
    for (let i = 0; i < length; i++, at += 2) view.setUint16(at, text.charCodeAt(i), true);
    this.at = at;
    return true;
  }

  #array(array: unknown[], depth: number): boolean {
    const length = array.length;
    // Holes, and properties beside the indices, are what structured cloning keeps and this cannot.
    if (Object.keys(array).length !== length) return false;
    if (!this.#tag(ARRAY) || !this.#length(length)) return false;
    for (let i = 0; i < length; i++) {
      if (!(i in array) || !this.#value(array[i], depth + 1)) return false;
    }
    return true;
  }

  #object(object: Record<string, unknown>, depth: number): boolean {
    const keys = Object.keys(object);
    if (!this.#tag(OBJECT) || !this.#length(keys.length)) return false;
    for (const key of keys) {
      if (key === "__proto__") return false;
      if (!this.#string(key) || !this.#value(object[key], depth + 1)) return false;
    }
    return true;
  }
}

/** Reads values a {@linkcode LaneWriter} wrote. */
export class LaneReader {
  readonly view: DataView;
  at = 0;

  /** A reader of `bytes` (a ring). */
  constructor(bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Reads a signed 32-bit integer (a record's header field). */
  int(): number {
    const value = this.view.getInt32(this.at, true);
    this.at += 4;
    return value;
  }

  /** Reads the value at `at`. */
  value(): unknown {
    const view = this.view;
    const tag = view.getUint8(this.at++);
    switch (tag) {
      case UNDEFINED:
        return undefined;
      case NULL:
        return null;
      case FALSE:
        return false;
      case TRUE:
        return true;
      case INT: {
        const value = view.getInt32(this.at, true);
        this.at += 4;
        return value;
      }
      case FLOAT: {
        const value = view.getFloat64(this.at, true);
        this.at += 8;
        return value;
      }
      case STRING:
        return this.#string();
      case ARRAY: {
        const length = this.#length();
        const array = new Array(length);
        for (let i = 0; i < length; i++) array[i] = this.value();
        return array;
      }
      case OBJECT: {
        const count = this.#length();
        const object: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const key = this.#string();
          object[key] = this.value();
        }
        return object;
      }
      default:
        throw new Error(`The shared-memory lane read an unknown tag ${tag}`);
    }
  }

  #length(): number {
    const length = this.view.getUint32(this.at, true);
    this.at += 4;
    return length;
  }

  #string(): string {
    const length = this.#length();
    const view = this.view;
    let at = this.at;
    let text = "";
    // In runs: String.fromCharCode keeps lone surrogates as they are.
    const units: number[] = [];
    for (let i = 0; i < length; i++, at += 2) {
      units.push(view.getUint16(at, true));
      if (units.length === 1024) {
        text += String.fromCharCode(...units);
        units.length = 0;
      }
    }
    this.at = at;
    return units.length === 0 ? text : text + String.fromCharCode(...units);
  }
}
