/** Tasks shared by the pool and the raw-worker baseline in the benchmarks. */
import { transfer } from "../task.ts";

/** A tiny task: the cost measured is the pool's, not the work's. */
export function add(a: number, b: number): number {
  return a + b;
}

/** A CPU-bound task. */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** Returns the buffer it was sent, by transfer: zero copy both ways. */
export function echoBytes(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  return transfer(bytes, [bytes.buffer]);
}

/** An I/O-bound task: waits `ms` milliseconds. */
export function sleep(ms: number): Promise<number> {
  return new Promise((resolve) => setTimeout(() => resolve(ms), ms));
}

/** A stream of `n` small values: 0, 1, … */
export function* count(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

/** When it started: ms since the epoch, as any thread reads it. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
