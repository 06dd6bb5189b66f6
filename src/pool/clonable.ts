/**
 * Main thread, the front: checks, at the call that receives them, that task arguments can be sent to
 * a worker, so that a function hidden in an argument is reported to the
 * caller with its path instead of failing later, at dispatch.
 *
 * @module
 */

import { isProxy } from "node:util/types";

/**
 * Throws a `TypeError` naming the first function, symbol or Proxy found in `args`.
 * Typed arrays, buffers and other host objects are not walked: structured
 * clone handles them, and what it cannot handle is still caught when the
 * request is sent.
 */
export function assertClonable(args: readonly unknown[], what = "args"): void {
  for (let i = 0; i < args.length; i++) {
    const value = args[i];
    if (typeof value === "object" && value !== null) {
      walk(value, `${what}[${i}]`, new Set());
    } else if (typeof value === "function" || typeof value === "symbol") {
      fail(value, `${what}[${i}]`);
    }
  }
}

function walk(value: object, path: string, seen: Set<object>): void {
  if (isProxy(value)) fail(value, path);
  if (seen.has(value) || ArrayBuffer.isView(value)) return;
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return;
  seen.add(value);
  if (value instanceof Map) {
    for (const [key, item] of value) {
      check(key, `${path}.<key>`, seen);
      check(item, `${path}.get(${String(key)})`, seen);
    }
    return;
  }
  if (value instanceof Set) {
    for (const item of value) check(item, `${path}.<item>`, seen);
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) check(value[i], `${path}[${i}]`, seen);
    return;
  }
  for (const key of Object.keys(value)) {
    check((value as Record<string, unknown>)[key], `${path}.${key}`, seen);
  }
}

function check(value: unknown, path: string, seen: Set<object>): void {
  if (typeof value === "object" && value !== null) walk(value, path, seen);
  else if (typeof value === "function" || typeof value === "symbol") fail(value, path);
}

function fail(value: unknown, path: string): never {
  const kind = typeof value === "function"
    ? "a function"
    : typeof value === "symbol"
    ? "a symbol"
    : "a Proxy";
  throw new TypeError(
    `Cannot send ${path} to a worker: it is ${kind}, which structured clone cannot copy; ` +
      "a task is named by module URL and export, and its arguments must be plain data",
  );
}
