/** Tasks for examples/cancel_and_timeout.ts. */
import { isCancelled, taskSignal } from "@scope/threadpool/task";

/** Waits `ms` milliseconds, or stops early when the pool cancels it. */
export function sleep(ms: number): Promise<string> {
  const signal = taskSignal(); // before the first await
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(`slept ${ms} ms`), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/** Counts primes below `limit` on the CPU, checking for cancellation as it goes. */
export function countPrimes(limit: number): number {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    if (n % 10_000 === 0 && isCancelled()) throw new Error(`stopped at ${n}`);
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

/** Ignores cancellation altogether. */
export function stubborn(): Promise<never> {
  return new Promise(() => {});
}
