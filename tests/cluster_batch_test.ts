import { deepEqual } from "node:assert/strict";
import { clusterTest } from "./cluster_helpers.ts";
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
