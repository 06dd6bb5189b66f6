/**
 * How a ThreadPool's rate limit holds: 10,000 tiny tasks under 1,000
 * starts a second (10 s), their start times taken on the workers. Prints
 * the rate achieved over the run, against the limit, and the most starts
 * seen in any 1 s window and in any 100 ms window (the evenness: a burst at
 * each window's start would show as 1,000 in 100 ms).
 *
 *   deno run -A bench/rate.ts
 */
import { ThreadPool } from "../mod.ts";
import { taskModule } from "../src/core/task.ts";

const tasks = taskModule<typeof import("./bench_tasks.ts")>(
  new URL("./bench_tasks.ts", import.meta.url),
);
const MAX = 1_000;
const PER = 1_000;
const N = 10_000;

/** The most of `starts` (sorted) in any window of `ms`. */
function most(starts: number[], ms: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < starts.length; i++) {
    while (j < starts.length && starts[j]! < starts[i]! + ms) j++;
    best = Math.max(best, j - i);
  }
  return best;
}

await using pool = new ThreadPool(2, { rateLimit: { max: MAX, per: PER } });
const starts = (await Promise.all(Array.from({ length: N }, () => pool.run(tasks("now")))))
  .toSorted((a, b) => a - b);
const rate = (N - 1) / ((starts.at(-1)! - starts[0]!) / 1000);
console.log(`limit ${MAX} per ${PER} ms; ${N} tasks`);
console.log(
  `rate achieved: ${rate.toFixed(1)}/s (${((rate / MAX) * 100).toFixed(1)}% of the limit)`,
);
console.log(`most starts in any 1 s window: ${most(starts, 1_000)} (limit ${MAX})`);
console.log(`most starts in any 100 ms window: ${most(starts, 100)} (even: ${MAX / 10})`);
