/**
 * Both ends of the cluster: values as they travel through Redis. BullMQ
 * stores JSON, which loses Map, Set, Date, BigInt, typed arrays,
 * `undefined`, -0, sparse arrays, shared references and errors; so a value
 * crosses as V8's structured-serialisation bytes (what `postMessage` uses),
 * in base64, and arrives exactly as it was sent. A small value that JSON
 * carries exactly (finite numbers other than -0, strings, booleans, null,
 * and plain arrays and objects of them, each met once) crosses as JSON
 * instead, marked, which costs a fraction of the bytes' encoding.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { types } from "node:util";
import { Deserializer, Serializer } from "node:v8";

/** What begins a value sent as JSON: no base64 text begins with it. */
const JSON_MARK = "~";

/** The most objects and array elements a value sent as JSON holds; a larger one goes as bytes. */
const JSON_MAX = 64;

/** The largest payload a job's arguments or result may take, by default: 16 MiB. */
export const DEFAULT_MAX_PAYLOAD: number = 16 * 1024 * 1024;

/**
 * Encodes a value to travel through Redis.
 *
 * @throws {TypeError} When it cannot be serialised (a function, a symbol).
 * @throws {RangeError} When it takes more than `limit` bytes.
 */
export function encode(value: unknown, what: string, limit: number): string {
  if (jsonExact(value, [])) {
    const text = JSON_MARK + JSON.stringify(value);
    // At most 3 bytes a code unit: a text that might be over the limit is measured as bytes.
    if (text.length * 3 <= limit) return text;
  }
  let bytes: Buffer;
  try {
    // V8's own serialiser, as structured cloning uses it: `node:v8`'s default one writes
    // typed arrays its own way, and reads them back as views into the bytes read.
    const writer = new Serializer();
    writer.writeHeader();
    writer.writeValue(value);
    bytes = writer.releaseBuffer();
  } catch (error) {
    throw new TypeError(`Cannot send ${what} to the cluster: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (bytes.length > limit) {
    throw new RangeError(
      `Cannot send ${what} to the cluster as it takes ${bytes.length} bytes, over 'maxPayload' (${limit})`,
    );
  }
  return bytes.toString("base64");
}

/** Decodes a value that travelled through Redis. */
export function decode(text: string): unknown {
  if (text.startsWith(JSON_MARK)) return JSON.parse(text.slice(JSON_MARK.length));
  const reader = new Deserializer(Buffer.from(text, "base64"));
  reader.readHeader();
  return reader.readValue();
}

/**
 * Whether JSON carries `value` exactly, as structured cloning would: a
 * finite number other than -0, a string (JSON escapes lone surrogates), a
 * boolean, null, or a plain array (no holes, no other keys) or plain object
 * of those, none met twice (cloning keeps shared references), none with a
 * `toJSON`, no proxy, and at most {@linkcode JSON_MAX} objects and elements.
 */
function jsonExact(value: unknown, seen: object[]): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      if (seen.length >= JSON_MAX || seen.includes(value) || types.isProxy(value)) return false;
      seen.push(value);
      if ((value as { toJSON?: unknown }).toJSON !== undefined) return false;
      const proto = Object.getPrototypeOf(value);
      if (proto === Array.prototype) {
        const array = value as unknown[];
        if (seen.length + array.length > JSON_MAX) return false;
        if (Object.keys(array).length !== array.length) return false; // holes, or other keys
        return array.every((item) => jsonExact(item, seen));
      }
      if (proto !== Object.prototype) return false;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      if (seen.length + keys.length > JSON_MAX) return false;
      return keys.every((key) => jsonExact(record[key], seen));
    }
    default:
      return false;
  }
}
