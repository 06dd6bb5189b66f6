import { deepEqual, equal, ok } from "node:assert/strict";
import { clusterTest, redisCli } from "./cluster_helpers.ts";
import { task } from "./helpers.ts";

clusterTest(
  "Chunks, timed and plain requests of a short task, interleaved in one burst, each get their own values",
  async ({ pool, node }) => {
    await node();
    await node();
    // The client connects on the first request: all of the burst is queued by then, map()'s
    // chunks among the rest, and taken in one go, plain requests as batches of up to 8.
    const runs: Promise<unknown>[] = [];
    const expected: unknown[] = [];
    const mapped: Promise<unknown[]>[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 11; i++) {
        const value = `r${round}-${i}`;
        // Plain requests on both sides of the timed one and of the map()'s chunks.
        runs.push(
          i % 4 === 1
            ? pool.run(task("echo"), [value], { timeout: 30_000 })
            : pool.run(task("echo"), [value]),
        );
        expected.push(value);
        if (i === 5) {
          const inputs = Array.from({ length: 16 }, (_, n) => [`map${round}-${n}`] as [string]);
          mapped.push(Array.fromAsync(pool.map(task("echo"), inputs, { chunkSize: 4 })));
        }
      }
    }
    deepEqual(await Promise.all(runs), expected);
    const maps = await Promise.all(mapped);
    maps.forEach((values, round) =>
      deepEqual(values, Array.from({ length: 16 }, (_, n) => `map${round}-${n}`))
    );
  },
  { batch: 8 },
);

/** How many jobs were added to the queue, by BullMQ's event stream. */
async function jobsAdded(port: number): Promise<number> {
  const events = await redisCli(port, "XRANGE", "bull:threadpool:events", "-", "+");
  return events.split("\n").filter((line) => line === "added").length;
}

clusterTest(
  "A burst of a task not known yet: a few rounds of jobs learn its duration, then a short one's requests go as full batches, a long one's never",
  async ({ redis, pool, node }) => {
    await node();
    const sums = await Promise.all(
      Array.from({ length: 600 }, (_, i) => pool.run(task("add"), [i, 1])),
    );
    deepEqual(sums, Array.from({ length: 600 }, (_, i) => i + 1));
    const short = await jobsAdded(redis.port);
    // Full batches would be 19 jobs; the rounds that learn the task add a few. Batches of a size
    // learnt from the first single jobs alone (each mostly a job's own cost) were 150 to 300.
    ok(short >= 3 && short <= 100, `600 short requests went as ${short} jobs`);
    const values = await Promise.all(
      Array.from({ length: 6 }, (_, i) => pool.run(task("delayed"), [i, 150])),
    );
    deepEqual(values, [0, 1, 2, 3, 4, 5]);
    equal(await jobsAdded(redis.port) - short, 6);
  },
);
