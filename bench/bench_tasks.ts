/** Tasks shared by the pool and the raw-worker baseline in the benchmarks. */

/** A tiny task: the cost measured is the pool's, not the work's. */
export function add(a: number, b: number): number {
  return a + b;
}

/** A CPU-bound task. */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
