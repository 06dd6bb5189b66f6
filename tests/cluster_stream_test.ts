import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { TaskError, WorkerLostError } from "../mod.ts";
import { taskModule } from "../src/core/task.ts";
import { clusterTest, eventually } from "./cluster_helpers.ts";
import type * as Streams from "./fixtures/streams.ts";
import { corpus, describe } from "./value_corpus.ts";

const streams = taskModule<typeof Streams>(new URL("./fixtures/streams.ts", import.meta.url));

clusterTest(
  "ClusterPool.stream() gives a node's values in order and exactly, and a throw after them",
  async ({ pool, node }) => {
    await node();
    const counted: number[] = [];
    for await (const value of pool.stream(streams("count"), [5_000])) counted.push(value);
    deepEqual(counted, [...Array(5_000).keys()]);
    const expected = corpus(9, 100_000);
    let i = 0;
    for await (const value of pool.stream(streams("values"), [9, 100_000])) {
      equal(describe(value), describe(structuredClone(expected[i])), `value ${i}`);
      i++;
    }
    equal(i, 100_000);
    // Short streams that fail: their values always come first (the node's last entry of values
    // may still wait for its first write when the task fails).
    for (let run = 0; run < 20; run++) {
      const reader = pool.stream(streams("failAfter"), [3]).getReader();
      for (const expected of [0, 1, 2]) equal((await reader.read()).value, expected, `run ${run}`);
      await rejects(reader.read(), (error) => {
        ok(error instanceof TaskError && error.cause instanceof RangeError, String(error));
        return true;
      });
    }
  },
);

clusterTest(
  "A ClusterPool stream's task is never more than highWaterMark values ahead of a slow reader, across a node; leaving it stops the task there",
  async ({ pool, node }) => {
    // Two tasks at once on the node's one thread: the stream, and the look at how far it got.
    await node(["--concurrency", "2"]);
    const highWaterMark = 16;
    let read = 0;
    let most = 0;
    for await (const value of pool.stream(streams("counted"), [], { highWaterMark })) {
      equal(value, read);
      read++;
      if (read % 20 === 0) {
        const { made } = await pool.run(streams("countedSoFar"));
        most = Math.max(most, made - read);
        ok(made <= read + highWaterMark, `${made} made on the node, ${read} read`);
      }
      if (read === 400) break;
    }
    ok(most > 0, "the node ran ahead of the reader, within its room");
    // The node's generator ended (its finally ran) on the same thread: not abandoned.
    await eventually(
      async () => (await pool.run(streams("countedSoFar"))).finished,
      "the node's generator ended",
    );
  },
);

clusterTest(
  "A node killed mid-stream errors the stream with WorkerLostError: its values arrive once, and it never runs again",
  async ({ pool, node }) => {
    const first = await node(["--lease", "1000"]);
    const reader = pool.stream(streams("counted"), [], { highWaterMark: 8 }).getReader();
    const values: number[] = [];
    for (let i = 0; i < 20; i++) values.push((await reader.read()).value!);
    await node(["--lease", "1000"]);
    await first.stop("SIGKILL");
    await rejects(
      (async () => {
        for (let next = await reader.read(); !next.done; next = await reader.read()) {
          values.push(next.value);
        }
      })(),
      WorkerLostError,
    );
    deepEqual(values, [...Array(values.length).keys()], "each value once, in order");
    ok(values.length >= 20);
  },
  { lease: 1_000 },
);
