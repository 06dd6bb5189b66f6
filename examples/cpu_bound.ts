/**
 * A CPU-bound job run on this thread, then through pools of 1 and of
 * `navigator.hardwareConcurrency` workers, printing the speedup. The Python
 * ancestor's threads could not beat sequential here (the GIL); workers can.
 *
 * Run: deno run --allow-read examples/cpu_bound.ts
 */
import { taskModule, ThreadPool } from "@scope/threadpool";
import { fib } from "./cpu_tasks.ts";

const JOBS = 32;
const N = 30;
const tasks = taskModule<typeof import("./cpu_tasks.ts")>(
  new URL("./cpu_tasks.ts", import.meta.url),
);

async function timed(what: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await what();
  return performance.now() - start;
}

const sequential = await timed(() => {
  for (let i = 0; i < JOBS; i++) fib(N);
});
console.log(`sequential, this thread: ${sequential.toFixed(0)} ms for ${JOBS} × fib(${N})`);

for (const workers of new Set([1, navigator.hardwareConcurrency])) {
  await using pool = new ThreadPool(workers);
  await pool.run(tasks("fib"), [10]); // start the threads and load the module first
  const elapsed = await timed(() =>
    Promise.all(Array.from({ length: JOBS }, () => pool.run(tasks("fib"), [N])))
  );
  console.log(
    `pool of ${workers}: ${elapsed.toFixed(0)} ms, speedup ${(sequential / elapsed).toFixed(2)}×`,
  );
}
