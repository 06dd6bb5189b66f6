/**
 * How a rate limit holds: 10,000 tiny tasks under 1,000 starts a second
 * (10 s), their start times taken on the workers, after a first round of
 * 2,000 that is not measured (2 s). Prints the rate achieved
 * over the run, against the limit, and the most starts seen in any 1 s
 * window and in any 100 ms window (the evenness: a burst at each window's
 * start would show as 1,000 in 100 ms). On a ThreadPool of two workers; with
 * `cluster`, on a ClusterPool with a private redis-server and two nodes of
 * one worker each (the limit is the queue's, shared by both nodes).
 *
 *   deno run -A bench/rate.ts [cluster]
 */
import { ThreadPool } from "../mod.ts";
import { ClusterPool } from "../cluster.ts";
import { taskModule } from "../src/core/task.ts";
import { startNode, startRedis } from "../tests/cluster_helpers.ts";

const tasks = taskModule<typeof import("./bench_tasks.ts")>(
  new URL("./bench_tasks.ts", import.meta.url),
);
const MAX = 1_000;
const PER = 1_000;
const N = 10_000;
const WARM_UP = 2_000;

/** The most of `starts` (sorted) in any window of `ms`. */
function most(starts: number[], ms: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < starts.length; i++) {
    while (j < starts.length && starts[j]! < starts[i]! + ms) j++;
    best = Math.max(best, j - i);
  }
  return best;
}

const rateLimit = { max: MAX, per: PER };
const cluster = Deno.args.includes("cluster");
const redis = cluster ? await startRedis() : undefined;
const nodes = redis === undefined
  ? []
  : await Promise.all([1, 2].map(() => startNode(redis.url, [], "bench/")));
const pool = redis === undefined
  ? new ThreadPool(2, { rateLimit })
  : new ClusterPool({ connection: redis.url, root: new URL("../", import.meta.url), rateLimit });
let starts: number[];
try {
  // A first round, not measured: the threads, the nodes and the client warmed up, as they are in
  // a pool that has been running.
  await Promise.all(Array.from({ length: WARM_UP }, () => pool.run(tasks("now"))));
  starts = (await Promise.all(Array.from({ length: N }, () => pool.run(tasks("now")))))
    .toSorted((a, b) => a - b);
} finally {
  await pool.close();
  for (const node of nodes) await node.stop();
  await redis?.stop();
}
const rate = (N - 1) / ((starts.at(-1)! - starts[0]!) / 1000);
console.log(
  `${cluster ? "ClusterPool, two nodes" : "ThreadPool"}: limit ${MAX} per ${PER} ms; ${N} tasks`,
);
console.log(
  `rate achieved: ${rate.toFixed(1)}/s (${((rate / MAX) * 100).toFixed(1)}% of the limit)`,
);
console.log(`most starts in any 1 s window: ${most(starts, 1_000)} (limit ${MAX})`);
const seconds = new Array(Math.ceil((starts.at(-1)! - starts[0]!) / 1_000)).fill(0);
for (const at of starts) seconds[Math.floor((at - starts[0]!) / 1_000)]++;
console.log(`starts in each second from the first: ${seconds.join(" ")}`);
console.log(`most starts in any 100 ms window: ${most(starts, 100)} (even: ${MAX / 10})`);
