/**
 * The cluster against raw BullMQ, on one machine: a private redis-server,
 * one client and two nodes (serve.ts, one worker each), several rounds, each
 * in a fresh process with its own Redis and nodes; medians, and each ratio as
 * the median of the rounds' own ratios. Ratios, not absolute figures, are what
 * it is for.
 *
 *   deno run -A bench/cluster.ts [rounds=3]
 *
 * - per request: ClusterPool.run() of N tiny tasks against addBulk of N jobs
 *   and one BullMQ Worker (concurrency 50) calling the same function inline,
 *   and how long the first of those results takes;
 * - map(): 100,000 tiny inputs with chunkSize against raw BullMQ's
 *   one-job-per-input rate;
 * - CPU-bound: 32 × fib(27) on two nodes of one worker against a local
 *   ThreadPool(2).
 */
import { Queue, QueueEvents, Worker } from "npm:bullmq@6.7.0";
import { Redis } from "npm:ioredis@6.0.0";
import { taskModule, ThreadPool } from "../mod.ts";
import { ClusterPool } from "../cluster.ts";
import { startNode, startRedis } from "../tests/cluster_helpers.ts";
import type * as Tasks from "./bench_tasks.ts";

const rounds = Number(Deno.args[0] ?? 3);
const root = new URL("../", import.meta.url);
const tasks = taskModule<typeof Tasks>(new URL("./bench_tasks.ts", import.meta.url));
const N = 5_000;
const MAP_INPUTS = 100_000;
const CPU_REPS = 7;

/**
 * Raw BullMQ: addBulk of `count` jobs, one inline Worker, until every result
 * is back: jobs a second, and milliseconds to the first result.
 */
async function rawBullmq(
  url: string,
  queueName: string,
  count: number,
): Promise<[number, number]> {
  const clients = [0, 1, 2].map(() => new Redis(url, { maxRetriesPerRequest: null }));
  const queue = new Queue(queueName, { connection: clients[0]! });
  const events = new QueueEvents(queueName, { connection: clients[1]!, blockingTimeout: 1_000 });
  await events.waitUntilReady();
  const worker = new Worker(queueName, (job) => Promise.resolve(job.data.a + job.data.b), {
    connection: clients[2]!,
    concurrency: 50,
  });
  await worker.waitUntilReady();
  let completed = 0;
  let first = 0;
  const all = Promise.withResolvers<void>();
  events.on("completed", () => {
    first ||= performance.now() - begun;
    if (++completed === count) all.resolve();
  });
  const begun = performance.now();
  await queue.addBulk(
    Array.from({ length: count }, (_, i) => ({
      name: "add",
      data: { a: i, b: 1 },
      opts: { removeOnComplete: true },
    })),
  );
  await all.promise;
  const rate = count / ((performance.now() - begun) / 1000);
  await worker.close();
  await events.close();
  await queue.close();
  for (const client of clients) client.disconnect();
  return [rate, first];
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1]!;
}

const MEASURES = [
  "raw BullMQ, jobs/s",
  "ClusterPool.run(), requests/s",
  "raw BullMQ, first of 5,000 results, ms",
  "ClusterPool.run(), first of 5,000 results, ms",
  "ClusterPool.map(), chunkSize 1000, inputs/s",
  "two nodes, 32 × fib(27), ms",
  "local ThreadPool(2), 32 × fib(27), ms",
] as const;
type Measure = typeof MEASURES[number];

/** One round, in this process: a fresh Redis and two fresh nodes; each measure once. */
async function round(): Promise<Record<Measure, number>> {
  const redis = await startRedis();
  const { url } = redis;
  const nodes = [await startNode(url, [], "bench/"), await startNode(url, [], "bench/")];
  const result = {} as Record<Measure, number>;
  try {
    [result["raw BullMQ, jobs/s"], result["raw BullMQ, first of 5,000 results, ms"]] =
      await rawBullmq(url, "raw", N);
    {
      await using pool = new ClusterPool({ connection: url, root });
      await Promise.all(Array.from({ length: 200 }, (_, i) => pool.run(tasks("add"), [i, 1])));
      let begun = performance.now();
      let first = 0;
      const firstResult = () => first ||= performance.now() - begun;
      await Promise.all(
        Array.from({ length: N }, (_, i) => pool.run(tasks("add"), [i, 1]).then(firstResult)),
      );
      result["ClusterPool.run(), requests/s"] = N / ((performance.now() - begun) / 1000);
      result["ClusterPool.run(), first of 5,000 results, ms"] = first;
      begun = performance.now();
      const inputs = Array.from({ length: MAP_INPUTS }, (_, i) => [i, 1]);
      for await (const _ of pool.map(tasks("add"), inputs, { chunkSize: 1_000 })) { /* drained */ }
      result["ClusterPool.map(), chunkSize 1000, inputs/s"] = MAP_INPUTS /
        ((performance.now() - begun) / 1000);
      // The CPU-bound pair, interleaved CPU_REPS times (one pass is ~50 ms: one scheduling hiccup
      // would decide it), each side's median kept.
      await using local = new ThreadPool(2);
      const fib32 = async (on: ThreadPool | ClusterPool) => {
        const begun = performance.now();
        await Promise.all(Array.from({ length: 32 }, () => on.run(tasks("fib"), [27])));
        return performance.now() - begun;
      };
      await Promise.all(Array.from({ length: 4 }, () => pool.run(tasks("fib"), [27])));
      await Promise.all(Array.from({ length: 4 }, () => local.run(tasks("fib"), [27])));
      const onNodes: number[] = [];
      const onLocal: number[] = [];
      for (let rep = 0; rep < CPU_REPS; rep++) {
        onNodes.push(await fib32(pool));
        onLocal.push(await fib32(local));
      }
      result["two nodes, 32 × fib(27), ms"] = median(onNodes);
      result["local ThreadPool(2), 32 × fib(27), ms"] = median(onLocal);
    }
  } finally {
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
  return result;
}

if (Deno.args[0] === "--round") {
  console.log(JSON.stringify(await round()));
  Deno.exit(0);
}

const results = Object.fromEntries(MEASURES.map((name) => [name, [] as number[]])) as Record<
  Measure,
  number[]
>;
for (let i = 0; i < rounds; i++) {
  const { success, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--round"],
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`round ${i + 1} failed`);
  const result = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").pop()!);
  for (const name of MEASURES) results[name].push(result[name]);
  console.error(`round ${i + 1} of ${rounds} done`);
}

console.log(
  `Medians of ${rounds} rounds (each a fresh process), ${navigator.hardwareConcurrency} cores:\n`,
);
console.log("| measure | median | rounds |\n| --- | ---: | --- |");
for (const [name, values] of Object.entries(results)) {
  console.log(`| ${name} | ${Math.round(median(values))} | ${values.map(Math.round).join(", ")} |`);
}
// Each ratio is taken within a round (both sides measured minutes apart at most, in one machine
// state), then the median over rounds: steadier than a ratio of medians on a shared machine.
const ratio = (top: Measure, bottom: Measure) =>
  median(results[top].map((value, i) => value / results[bottom][i]!));
const spread = (top: Measure, bottom: Measure) => {
  const ratios = results[top].map((value, i) => value / results[bottom][i]!);
  return `rounds ${ratios.map((r) => r.toFixed(2)).join(", ")}`;
};
const lines: [string, Measure, Measure, number][] = [
  ["run() ÷ raw BullMQ", "ClusterPool.run(), requests/s", "raw BullMQ, jobs/s", 2],
  [
    "run()'s first result, time ÷ raw BullMQ's",
    "ClusterPool.run(), first of 5,000 results, ms",
    "raw BullMQ, first of 5,000 results, ms",
    2,
  ],
  [
    "map() inputs ÷ raw BullMQ jobs",
    "ClusterPool.map(), chunkSize 1000, inputs/s",
    "raw BullMQ, jobs/s",
    1,
  ],
  [
    "CPU-bound, two nodes ÷ local ThreadPool(2) speed",
    "local ThreadPool(2), 32 × fib(27), ms",
    "two nodes, 32 × fib(27), ms",
    2,
  ],
];
console.log("");
for (const [label, top, bottom, digits] of lines) {
  console.log(`${label}: ${ratio(top, bottom).toFixed(digits)}× (${spread(top, bottom)})`);
}
