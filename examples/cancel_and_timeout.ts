/**
 * Abort, timeout, and a cooperative CPU loop.
 *
 * Run: deno run --allow-read examples/cancel_and_timeout.ts
 */
import { TaskTimeoutError, ThreadPool } from "@scope/threadpool";

const tasks = new URL("./cancel_tasks.ts", import.meta.url);
const sleep = { module: tasks, name: "sleep" };
const countPrimes = { module: tasks, name: "countPrimes" };
const stubborn = { module: tasks, name: "stubborn" };

await using pool = new ThreadPool(2, { cancelGrace: 100 });

// 1. Abort a running task: the promise rejects at once with the signal's
//    reason; the task hears of it through taskSignal() and stops.
const controller = new AbortController();
const nap = pool.run(sleep, [10_000], { signal: controller.signal });
setTimeout(() => controller.abort(new Error("no longer needed")), 50);
console.log("1. aborted:", await nap.catch((error) => error.message));

// 2. AbortSignal.timeout() works too, measured from the call.
console.log(
  "2. signal timeout:",
  await pool.run(sleep, [10_000], { signal: AbortSignal.timeout(50) }).catch((e) => e.name),
);

// 3. A timeout, measured from the task's start. The CPU loop reads
//    isCancelled(), a flag in shared memory, so it stops although it never
//    yields to its event loop; its worker is kept.
const started = performance.now();
const primes = await pool.run(countPrimes, [50_000_000], { timeout: 100 }).catch((error) => error);
console.log(
  `3. timeout: ${primes instanceof TaskTimeoutError} after ${
    Math.round(performance.now() - started)
  } ms;`,
  `workers abandoned so far: ${pool.abandoned}`,
);

// 4. A task that ignores cancellation is given cancelGrace to stop, then its
//    worker is terminated and replaced; the pool keeps its size. (One worker
//    here, so the next task has to wait for the replacement.)
{
  await using single = new ThreadPool(1, { cancelGrace: 100 });
  const ignored = await single.run(stubborn, [], { timeout: 50 }).catch((error) => error.name);
  console.log(`4. ${ignored}; the pool replaces the worker...`);
  console.log(`   then runs the next task: ${await single.run(sleep, [1])}`);
  console.log(`   workers abandoned: ${single.abandoned}, pool size: ${single.size}`);
}

// 5. The task runs to completion when nothing cancels it.
console.log("5. finished:", await pool.run(countPrimes, [100_000]), "primes below 100,000");
