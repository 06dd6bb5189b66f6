/** The CPU-bound example's task. */

/** The n-th Fibonacci number, computed the slow recursive way on purpose. */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
