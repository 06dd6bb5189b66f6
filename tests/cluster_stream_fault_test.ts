/**
 * ClusterPool streams under faults: Redis restarted empty, nodes frozen and
 * killed, several clients on one queue. Each stream ends once, with its
 * values in order, exact and from one run of its task.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { ClusterPool } from "../cluster.ts";
import { TaskTimeoutError, WorkerLostError } from "../mod.ts";
import { taskModule } from "../src/core/task.ts";
import { clusterTest, eventually, type Node } from "./cluster_helpers.ts";
import { random } from "./fault_injection.ts";
import type * as Streams from "./fixtures/streams.ts";
import { task } from "./helpers.ts";

const streams = taskModule<typeof Streams>(new URL("./fixtures/streams.ts", import.meta.url));

/** Reads what is left of `reader` into `values`; resolves with how it ended. */
async function rest<T>(reader: ReadableStreamDefaultReader<T>, values: T[]): Promise<unknown> {
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      values.push(next.value);
    }
    return "done";
  } catch (error) {
    return error;
  }
}

/** Resolves once the one node thread left is free: a request of its own runs there. */
async function freed(pool: ClusterPool): Promise<void> {
  equal(await pool.run(streams("notIterable")), 42);
}

clusterTest(
  "Redis restarted empty mid-stream: the stream fails with WorkerLostError after its values, once each, and the node stops the task",
  async ({ redis, pool, node }) => {
    await node(["--lease", "1000"]);
    const reader = pool.stream(streams("counted"), [], { highWaterMark: 8 }).getReader();
    const values: number[] = [];
    for (let i = 0; i < 20; i++) values.push((await reader.read()).value!);
    await redis.restart("SIGKILL");
    const ended = await rest(reader, values);
    ok(ended instanceof WorkerLostError, String(ended));
    deepEqual(values, [...Array(values.length).keys()], "each value once, in order");
    // The node's one thread is not held by a stream no one reads any more.
    await freed(pool);
    const { finished } = await pool.run(streams("countedSoFar"));
    ok(finished, "the task's finally ran on the node");
  },
  { lease: 1_000 },
);

clusterTest(
  "A node frozen (SIGSTOP) mid-stream past its lease: the stream fails with WorkerLostError, and once thawed the node stops the task and takes work again",
  async ({ pool, node }) => {
    const frozen = await node(["--lease", "1000"]);
    const reader = pool.stream(streams("counted"), [], { highWaterMark: 8 }).getReader();
    const values: number[] = [];
    for (let i = 0; i < 20; i++) values.push((await reader.read()).value!);
    Deno.kill(frozen.pid, "SIGSTOP");
    const other = await node(["--lease", "1000"]);
    const ended = await rest(reader, values);
    ok(ended instanceof WorkerLostError, String(ended));
    deepEqual(values, [...Array(values.length).keys()], "each value once, in order");
    await other.stop();
    Deno.kill(frozen.pid, "SIGCONT");
    // The only node left is the thawed one: its thread is free again.
    await freed(pool);
    ok((await pool.run(streams("countedSoFar"))).finished, "the task's finally ran on the node");
  },
);

clusterTest(
  "A node frozen before its stream's first value: another node runs the stream whole, and the thawed node's values never mix in",
  async ({ pool, node }) => {
    const frozen = await node(["--lease", "1000"]);
    const stream = pool.stream(streams("tagged"), [3_000, 1_500], { highWaterMark: 64 });
    await eventually(() => pool.stats().running === 1, "the stream started on the node");
    Deno.kill(frozen.pid, "SIGSTOP");
    await node(["--lease", "1000"]);
    const values: { run: string; i: number }[] = [];
    const reader = stream.getReader();
    // The first value comes from the other node; the frozen one thaws as the stream goes on.
    values.push((await reader.read()).value!);
    Deno.kill(frozen.pid, "SIGCONT");
    equal(await rest(reader, values), "done");
    equal(values.length, 3_000);
    const runs = new Set(values.map((value) => value.run));
    equal(runs.size, 1, "every value from one run of the task");
    deepEqual(values.map((value) => value.i), [...Array(3_000).keys()]);
  },
);

for (const how of ["signal", "timeout", "cancel"] as const) {
  clusterTest(
    `A ClusterPool stream ended by its ${how} stops its task on the node: the generator's finally runs and the thread takes the next request`,
    async ({ pool, node }) => {
      // One thread, two tasks at once: the stream and the look at how it ended.
      await node(["--concurrency", "2"]);
      const controller = new AbortController();
      const options = how === "signal"
        ? { signal: controller.signal }
        : how === "timeout"
        ? { timeout: 1_500 }
        : {};
      const reader = pool.stream(streams("counted"), [], { highWaterMark: 16, ...options })
        .getReader();
      for (let i = 0; i < 100; i++) equal((await reader.read()).value, i);
      const reason = new Error("the reader had enough");
      if (how === "cancel") await reader.cancel(reason);
      else {
        if (how === "signal") controller.abort(reason);
        // Left unread, the stream waits for its reader: the abort or the timeout ends it.
        const ended = await rest(reader, []);
        if (how === "signal") equal(ended, reason);
        else ok(ended instanceof TaskTimeoutError, String(ended));
      }
      await eventually(
        async () => (await pool.run(streams("countedSoFar"))).finished,
        "the node's generator ended",
      );
      await freed(pool);
    },
  );
}

const SEED = 20261206;
const STREAMS = 40;
type Kind = "whole" | "break" | "abort" | "fail";

clusterTest(
  `Three clients streaming on one queue, ${STREAMS} streams each with cancels and failures, a node SIGKILLed, another frozen and thawed, and Redis restarted empty mid-run: each stream ends once, its values exact`,
  async ({ pool, node, redis }) => {
    const lease = ["--lease", "1000", "--workers", "2", "--concurrency", "2"];
    const nodes: Node[] = [await node(lease), await node(lease), await node(lease)];
    const root = new URL("../", import.meta.url);
    const others = [1, 2].map(() =>
      new ClusterPool({ connection: redis.url, root, maxLosses: 2, lease: 1_000 })
    );
    try {
      const total = 3 * STREAMS;
      let ended = 0;
      const acting: Promise<unknown>[] = [];
      const milestones = new Map<number, () => Promise<unknown>>([
        [Math.floor(total * 0.2), () => nodes[0]!.stop("SIGKILL")],
        [Math.floor(total * 0.35), async () => {
          Deno.kill(nodes[1]!.pid, "SIGSTOP");
          await new Promise((resolve) => setTimeout(resolve, 2_500));
          Deno.kill(nodes[1]!.pid, "SIGCONT");
        }],
        [Math.floor(total * 0.55), () => redis.restart("SIGKILL")],
      ]);
      const end = () => {
        const act = milestones.get(++ended);
        if (act !== undefined) acting.push(act());
      };
      const outcomes = await Promise.all(
        [pool, ...others].map((client, c) => streamsOf(client, SEED + c, end)),
      );
      await Promise.all(acting);
      equal(acting.length, 3, "the faults happened mid-run");
      const lost = outcomes.flat().filter((outcome) => outcome === "lost").length;
      ok(lost < total / 2, `${lost} of ${total} streams lost`);
    } finally {
      for (const other of others) await other.close({ force: true });
    }
  },
  { maxLosses: 2, lease: 1_000 },
);

/** Opens {@linkcode STREAMS} streams of a seeded mix on `pool`, checks each, and says how each ended. */
function streamsOf(pool: ClusterPool, seed: number, end: () => void): Promise<string[]> {
  const next = random(seed);
  const kinds: Kind[] = ["whole", "whole", "whole", "break", "abort", "fail"];
  return Promise.all(Array.from({ length: STREAMS }, async (_, s) => {
    const kind = kinds[Math.floor(next() * kinds.length)]!;
    const n = 200 + Math.floor(next() * 3_000);
    const where = `stream ${s} of seed ${seed} (${kind}, ${n} values)`;
    const controller = new AbortController();
    const reason = new Error(`aborted: ${where}`);
    const stream = kind === "fail"
      ? pool.stream(streams("failAfter"), [n], { highWaterMark: 64 })
      : pool.stream(streams("tagged"), [n], { highWaterMark: 64, signal: controller.signal });
    const values: unknown[] = [];
    let how = "";
    try {
      for await (const value of stream) {
        values.push(value);
        if (kind === "break" && values.length === n >> 1) break;
        if (kind === "abort" && values.length === n >> 1) controller.abort(reason);
      }
      how = values.length === n ? "whole" : "break";
    } catch (error) {
      if (error instanceof WorkerLostError) how = "lost";
      else if (kind === "abort" && error === reason) how = "abort";
      else if (kind === "fail" && values.length === n) how = "fail";
      else throw new Error(`${where}: ${(error as Error)?.stack ?? error}`);
    } finally {
      end();
    }
    // Exact, in order, from one run, whatever ended it.
    if (kind === "fail") deepEqual(values, [...Array(values.length).keys()], where);
    else {
      const tagged = values as { run: string; i: number }[];
      deepEqual(tagged.map((value) => value.i), [...Array(values.length).keys()], where);
      equal(new Set(tagged.map((value) => value.run)).size, Math.min(1, values.length), where);
    }
    if (how !== "lost") equal(how, kind, where);
    if (how === "break") equal(values.length, n >> 1, where);
    return how;
  }));
}

for (const fault of ["frozen", "gone"] as const) {
  clusterTest(
    `A node told to stop while Redis is ${fault} stops, with a stream and a long task running on it`,
    async ({ redis, pool, node }) => {
      const server = await node(["--workers", "2"]);
      const controller = new AbortController();
      const { signal } = controller;
      const long = pool.run(task("delayed"), [1, 60_000], { signal }).catch((error) => error);
      const reader = pool.stream(streams("counted"), [], { highWaterMark: 8, signal }).getReader();
      for (let i = 0; i < 20; i++) equal((await reader.read()).value, i);
      if (fault === "frozen") redis.kill("SIGSTOP");
      else await redis.stop();
      equal((await server.stop()).code, 0);
      controller.abort(new Error("the test is over"));
      if (fault === "frozen") redis.kill("SIGCONT");
      await rest(reader, []);
      await long;
    },
  );
}

clusterTest(
  "Redis frozen (SIGSTOP) mid-stream and thawed: the stream goes on, each value once and in order",
  async ({ redis, pool, node }) => {
    await node(["--lease", "5000"]);
    const reader = pool.stream(streams("tagged"), [20_000], { highWaterMark: 256 }).getReader();
    const values: { run: string; i: number }[] = [];
    for (let i = 0; i < 1_000; i++) values.push((await reader.read()).value!);
    redis.kill("SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    redis.kill("SIGCONT");
    equal(await rest(reader, values), "done");
    deepEqual(values.map((value) => value.i), [...Array(20_000).keys()]);
    equal(new Set(values.map((value) => value.run)).size, 1, "every value from one run");
  },
  { lease: 5_000 },
);
