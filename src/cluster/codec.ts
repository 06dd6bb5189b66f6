/**
 * Both ends of the cluster: values as they travel through Redis. BullMQ
 * stores JSON, which loses Map, Set, Date, BigInt, typed arrays,
 * `undefined`, sparse arrays and errors; so each value crosses as V8's
 * structured-serialisation bytes (what `postMessage` uses), in base64, and
 * arrives exactly as it was sent.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { deserialize, serialize } from "node:v8";

/** The largest payload a job's arguments or result may take, by default: 16 MiB. */
export const DEFAULT_MAX_PAYLOAD: number = 16 * 1024 * 1024;

/**
 * Encodes a value to travel through Redis.
 *
 * @throws {TypeError} When it cannot be serialised (a function, a symbol).
 * @throws {RangeError} When it takes more than `limit` bytes.
 */
export function encode(value: unknown, what: string, limit: number): string {
  let bytes: Buffer;
  try {
    bytes = serialize(value);
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
  return deserialize(Buffer.from(text, "base64"));
}
