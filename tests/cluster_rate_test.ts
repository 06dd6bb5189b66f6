import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { ClusterPool } from "../cluster.ts";
import { taskModule } from "../src/core/task.ts";
import type * as Streams from "./fixtures/streams.ts";
import { task, withinRate } from "./helpers.ts";
import { clusterTest, eventually, redisCli, running, waitingIn } from "./cluster_helpers.ts";

const root = new URL("../", import.meta.url);
const streams = taskModule<typeof Streams>(new URL("./fixtures/streams.ts", import.meta.url));

clusterTest(
  "A rate limit holds for the whole queue over more than 5 s, across two nodes and two clients",
  async ({ redis, pool, node }) => {
    await node();
    await node(["--workers", "2"]);
    const other = new ClusterPool({
      connection: redis.url,
      root,
      rateLimit: { max: 10, per: 500 },
    });
    try {
      const calls = [pool, other].flatMap((client) =>
        Array.from({ length: 55 }, () => client.run(task("startedAt")) as Promise<number>)
      );
      const starts = await Promise.all(calls);
      const span = Math.max(...starts) - Math.min(...starts);
      ok(span >= 5_000, `110 starts at 10 per 500 ms took ${span} ms`);
      withinRate(starts, 10, 500);
      deepEqual([pool.stats().completed, other.stats().completed], [55, 55]);
    } finally {
      await other.close();
    }
  },
  { rateLimit: { max: 10, per: 500 } },
);

clusterTest(
  "Limits by key hold across nodes and clients, each independent of the others",
  async ({ redis, pool, node }) => {
    await node();
    await node();
    const limits = { slow: { max: 1, per: 1_000 }, fast: { max: 20, per: 500 } };
    const other = new ClusterPool({ connection: redis.url, root, rateLimits: limits });
    try {
      const slow = [pool, other].flatMap((client) =>
        [1, 2].map(() => client.run(task("startedAt"), [], { rateKey: "slow" }))
      );
      const fast = [pool, other].flatMap((client) =>
        Array.from({ length: 15 }, () => client.run(task("startedAt"), [], { rateKey: "fast" }))
      );
      equal(await other.run(task("add"), [1, 2]), 3, "a request under no limit goes on");
      const [slowStarts, fastStarts] = await Promise.all([Promise.all(slow), Promise.all(fast)]);
      withinRate(slowStarts, 1, 1_000);
      withinRate(fastStarts, 20, 500);
      // Queued behind four slow ones, the fast ones were all done before the slow key's third turn.
      ok(Math.max(...fastStarts) < slowStarts.toSorted((a, b) => a - b)[2]!);
    } finally {
      await other.close();
    }
  },
  { rateLimits: { slow: { max: 1, per: 1_000 }, fast: { max: 20, per: 500 } } },
);

clusterTest(
  "A turn given to a job that then waits for a busy thread counts until the job starts: later turns wait for it",
  async ({ redis, pool, node }) => {
    const gate = `${await Deno.makeTempDir({ prefix: "threadpool-gate-" })}/open`;
    try {
      await node(["--prefetch", "2"]);
      // The first node's one thread is held; the job behind it gets its turn under the key, and
      // waits for the thread.
      const blocker = pool.run(task("waitForFile"), [gate]);
      await running(pool, 1);
      const first = pool.run(task("startedAt"), [], { rateKey: "k" }) as Promise<number>;
      await eventually(async () => await waitingIn(redis.port) === 0, "the node holds it");
      await node(["--prefetch", "1"]);
      const second = await pool.run(task("startedAt"), [], { rateKey: "k" }) as number;
      const third = pool.run(task("startedAt"), [], { rateKey: "k" }) as Promise<number>;
      // Past the spacing of the key's turns, the thread is let go: the first starts inside the
      // second's window, so the third must wait for a window after the first's start.
      await new Promise((resolve) => setTimeout(resolve, second + 700 - Date.now()));
      await Deno.writeTextFile(gate, "");
      await blocker;
      withinRate([await first, second, await third], 2, 1_000);
    } finally {
      await Deno.remove(gate.slice(0, gate.lastIndexOf("/")), { recursive: true });
    }
  },
  { rateLimits: { k: { max: 2, per: 1_000 } }, batch: 1 },
);

clusterTest(
  "Under a rate limit, two clients; a node killed, one frozen, and Redis frozen mid-run: every request is answered once with its value, and the limit holds",
  async ({ redis, pool, node }) => {
    await node(["--lease", "1000"]);
    const doomed = await node(["--lease", "1000", "--workers", "2"]);
    const frozen = await node(["--lease", "1000"]);
    const other = new ClusterPool({
      connection: redis.url,
      root,
      rateLimit: { max: 20, per: 500 },
      maxLosses: 10,
    });
    try {
      const calls = [pool, other].flatMap((client, c) =>
        Array.from(
          { length: 50 },
          (_, i) => client.run(task("startedEcho"), [c * 50 + i]) as Promise<[number, number]>,
        )
      );
      const outcomes: [number, number][] = [];
      const answered = calls.map((call) => call.then((outcome) => outcomes.push(outcome)));
      await Promise.race(answered);
      Deno.kill(frozen.pid, "SIGSTOP");
      await doomed.stop("SIGKILL");
      await eventually(
        () => outcomes.length >= 30,
        "30 answered with a node killed and one frozen",
      );
      // Frozen past the nodes' lease: every job held then counts as lost once more (maxLosses).
      redis.kill("SIGSTOP");
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      redis.kill("SIGCONT");
      await eventually(() => outcomes.length >= 60, "60 answered after Redis thawed");
      Deno.kill(frozen.pid, "SIGCONT");
      await Promise.all(answered);
      deepEqual(
        outcomes.map(([value]) => value).toSorted((a, b) => a - b),
        calls.map((_, i) => i),
        "every value as sent, once",
      );
      withinRate(outcomes.map(([, at]) => at), 20, 500);
      deepEqual([pool.stats().completed, other.stats().completed], [50, 50]);
    } finally {
      await other.close();
    }
  },
  { rateLimit: { max: 20, per: 500 }, maxLosses: 10 },
);

clusterTest(
  "A ClusterPool's rate limits are checked at the call, naming the option and quoting the value",
  async ({ redis, pool }) => {
    throws(
      () => new ClusterPool({ connection: redis.url, rateLimit: { max: 1.5, per: 1_000 } }),
      /'rateLimit.max' must be an integer of at least 1: current value is 1.5/,
    );
    throws(
      () => new ClusterPool({ connection: redis.url, rateLimits: { api: { max: 1, per: 0 } } }),
      /'rateLimits.api.per' must be a number of milliseconds above 0/,
    );
    await rejects(
      pool.run(task("add"), [1, 2], { rateKey: "other" }),
      /'rateKey' must be one of the pool's 'rateLimits' keys \("api"\): current value is "other"/,
    );
    // Nothing was sent for the refused call.
    equal(await redisCli(redis.port, "KEYS", "bull:threadpool:[0-9]*"), "");
  },
  { rateLimits: { api: { max: 5, per: 100 } } },
);

clusterTest(
  "Redis restarted empty under a rate limit: every request is still answered once, with its value",
  async ({ redis, pool, node }) => {
    await node(["--lease", "1000"]);
    await node(["--lease", "1000"]);
    let done = 0;
    let restarted: Promise<void> | undefined;
    const calls = Array.from(
      { length: 40 },
      (_, i) =>
        (pool.run(task("startedEcho"), [i]) as Promise<[number, number]>).then(([value]) => {
          if (++done === 10) restarted = redis.restart("SIGKILL");
          return value;
        }),
    );
    deepEqual(await Promise.all(calls), calls.map((_, i) => i));
    await restarted;
    equal(pool.stats().completed, 40);
  },
  { rateLimit: { max: 20, per: 500 }, maxLosses: 3 },
);

clusterTest(
  "map() and stream() start under a cluster's rate limits too, a map() chunk as one start",
  async ({ pool, node }) => {
    await node();
    await node();
    const starts: number[] = [];
    for await (const at of pool.map(task("startedAt"), [[], [], [], []], { rateKey: "api" })) {
      starts.push(at as number);
    }
    const chunked = [];
    for await (
      const at of pool.map(task("startedAt"), [[], [], [], []], { rateKey: "api", chunkSize: 2 })
    ) {
      chunked.push(at as number);
    }
    const firsts = [chunked[0]!, chunked[2]!];
    const [began, ...values] = await Array.fromAsync(
      pool.stream(streams("startedThenCount"), [3], { rateKey: "api" }),
    );
    deepEqual(values, [1, 2, 3]);
    withinRate([...starts, ...firsts, began!], 1, 300);
  },
  { rateLimits: { api: { max: 1, per: 300 } } },
);
