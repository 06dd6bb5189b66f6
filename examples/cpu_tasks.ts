/** The CPU-bound examples' tasks. */
import { progress } from "@scope/threadpool/task";

/** The n-th Fibonacci number, computed the slow recursive way on purpose. */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** Counts the primes below `limit`, reporting how far it got (a fraction) as it goes. */
export function countPrimes(limit: number): number {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    if (n % 100_000 === 0) progress(n / limit);
    if (isPrime(n)) count++;
  }
  progress(1);
  return count;
}

function isPrime(n: number): boolean {
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
