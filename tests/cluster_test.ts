import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { type Job as BullJob, Worker } from "npm:bullmq@6.7.0";
import { Redis } from "npm:ioredis@6.0.0";
import { ClusterPool, serve } from "../cluster.ts";
import { encode } from "../src/cluster/codec.ts";
import { answersKey } from "../src/cluster/protocol.ts";
import {
  PoolClosedError,
  QueueFullError,
  RetryError,
  TaskError,
  TaskTimeoutError,
  ThreadPool,
  WorkerLostError,
  WorkRequest,
} from "../mod.ts";
import {
  clusterTest,
  eventually,
  freePort,
  lineMatching,
  type Node,
  redisCli,
  redisInstalled,
  running,
  startNode,
  startRedis,
  waitingIn,
} from "./cluster_helpers.ts";
import { followsUntilClose, inOrderEndingWith, slowListenerGetsTheLatest } from "./both_pools.ts";
import { raw, runDeno, task, turn } from "./helpers.ts";

clusterTest(
  "ClusterPool.run() runs a task on a node and resolves with its result",
  async ({ pool, node }) => {
    await node();
    equal(await pool.run(task("add"), [1, 2]), 3);
    equal(await pool.run(task("default"), [21]), 42);
  },
);

clusterTest("Values cross the cluster exactly, both ways", async ({ pool, node }) => {
  await node();
  const value = {
    map: new Map<unknown, unknown>([[1, new Set([2n, "x"])]]),
    date: new Date(0),
    nothing: undefined,
    bytes: new Uint8Array([1, 2, 3]),
    sparse: [1, , 3],
    negativeZero: -0,
    nan: NaN,
    text: "lone \ud800 surrogate",
    error: new RangeError("kept", { cause: { code: 7 } }),
  };
  const back = await pool.run(raw("echo"), [value]) as typeof value;
  deepEqual(back, value);
  ok(Object.is(back.negativeZero, -0));
  ok(!(1 in back.sparse));
  ok(back.error instanceof RangeError);
  // A typed array has a buffer of its own, as structured cloning gives, not a view into the bytes read.
  equal(back.bytes.buffer.byteLength, 3);
});

clusterTest(
  "A task's error crosses as a TaskError with its name, message and cause",
  async ({ pool, node }) => {
    await node();
    const error = await pool.run(raw("fail"), ["Something extraordinary happened!"]).catch((e) =>
      e
    );
    ok(error instanceof TaskError, String(error));
    equal(error.message, "Something extraordinary happened!");
    ok(error.cause instanceof RangeError);
    deepEqual((error.cause as Error).cause, { code: 42 });
    ok(String(error.stack).includes('in task "fail"'), error.stack);
  },
);

clusterTest(
  "A task's error keeps its name, its Deno class and its own fields, as on one machine, whichever way its request went: alone, in a batch, in a map() chunk",
  async ({ pool, node }) => {
    await node(["--permissions", "none"]);
    const sandboxed = {
      module: new URL("./fixtures/sandbox.ts", import.meta.url),
      name: "readText",
    };
    const named = (error: unknown) => {
      ok(error instanceof TaskError, String(error));
      equal((error.cause as Error).name, "ParseFailure");
      equal((error.cause as Error).message, "bad input");
      return true;
    };
    const denied = (error: unknown) => {
      ok(error instanceof TaskError, String(error));
      ok(error.cause instanceof Deno.errors.NotCapable, String(error.cause));
      return true;
    };
    const args: [string, string] = ["ParseFailure", "bad input"];
    await rejects(pool.run(raw("failNamed"), args, { timeout: 30_000 }), named);
    await rejects(pool.run(sandboxed, ["/etc/hostname"], { timeout: 30_000 }), denied);
    // Plain requests queued together: batches of 4 (the client's 'batch' option).
    const batched = await Promise.allSettled([
      ...Array.from({ length: 4 }, () => pool.run(raw("failNamed"), args)),
      ...Array.from({ length: 4 }, () => pool.run(sandboxed, ["/etc/hostname"])),
    ]);
    batched.slice(0, 4).forEach((outcome) => named((outcome as PromiseRejectedResult).reason));
    batched.slice(4).forEach((outcome) => denied((outcome as PromiseRejectedResult).reason));
    const chunk = pool.map(raw("failNamed"), [args, args], { chunkSize: 2 });
    await rejects(Array.fromAsync(chunk), named);
    // Its own fields, in each way too.
    const coded = (error: unknown) => {
      ok(error instanceof TaskError, String(error));
      equal((error.cause as { code?: string }).code, "E_TEST");
      deepEqual((error.cause as { details?: unknown }).details, { value: 42 });
      return true;
    };
    await rejects(pool.run(raw("failWithFields"), [], { timeout: 30_000 }), coded);
    (await Promise.allSettled([1, 2].map(() => pool.run(raw("failWithFields")))))
      .forEach((outcome) => coded((outcome as PromiseRejectedResult).reason));
    // A thrown value that is not an Error: as a ThreadPool gives it.
    const thrown = await pool.run(raw("throwValue"), [{ code: 7 }]).catch((error) => error);
    ok(thrown instanceof TaskError);
    equal((thrown.cause as Error).name, "NonError");
    ok(thrown.message.includes("code: 7"), thrown.message);
  },
  { batch: 4 },
);

clusterTest(
  "map() on the cluster: a failure names its input, and settled: true yields every outcome with its index",
  async ({ pool, node }) => {
    await node();
    for (const chunkSize of [1, 3]) {
      const error = await Array.fromAsync(pool.map(task("evenOnly"), [0, 2, 5, 6], { chunkSize }))
        .catch((e) => e);
      ok(error instanceof TaskError, String(error));
      equal(error.index, 2);
      equal(error.message, "5 is odd (map() input 2)");
      const outcomes = await Array.fromAsync(
        pool.map(task("evenOnly"), [0, 1, 2, 3], { chunkSize, settled: true }),
      );
      deepEqual(
        outcomes.map((o) => o.ok ? [o.index, o.value] : [o.index, (o.error as Error).message]),
        [[0, 0], [1, "1 is odd (map() input 1)"], [2, 2], [3, "3 is odd (map() input 3)"]],
      );
    }
  },
);

clusterTest("map() runs on the cluster, in order, with chunks", async ({ pool, node }) => {
  await node();
  await node();
  const results: unknown[] = [];
  const inputs = Array.from({ length: 50 }, (_, i) => [i, i]);
  for await (const sum of pool.map(task("add"), inputs, { chunkSize: 7 })) results.push(sum);
  deepEqual(results, inputs.map(([a]) => 2 * a!));
});

clusterTest(
  "The ancestor's API works on the cluster: putRequest(), wait(), callbacks",
  async ({ pool, node }) => {
    await node();
    const sums: number[] = [];
    const errors: Error[] = [];
    for (const n of [1, 2, 3]) {
      await pool.putRequest(
        new WorkRequest<number>(task("add"), [n, n], { callback: (_, s) => sums.push(s) }),
      );
    }
    await pool.putRequest(
      new WorkRequest(raw("fail"), ["no"], { excCallback: (_, e) => errors.push(e) }),
    );
    await pool.wait();
    deepEqual(sums.sort(), [2, 4, 6]);
    ok(errors[0] instanceof TaskError);
  },
);

clusterTest(
  "A module outside root is refused at the call, and nothing reaches a node",
  async ({ pool, node }) => {
    await node();
    await rejects(
      pool.run({ module: "file:///elsewhere/tasks.ts", name: "add" }, [1, 1]),
      /not under 'root'/,
    );
    equal(pool.queued, 0);
    equal(await pool.run(task("add"), [1, 1]), 2);
  },
);

clusterTest(
  "A node runs only its allowlist: anything else fails with a TaskError, and it goes on",
  async ({ pool, node }) => {
    await node();
    const outside = { module: new URL("../examples/cpu_tasks.ts", import.meta.url), name: "fib" };
    const error = await pool.run(outside, [10]).catch((e) => e);
    ok(error instanceof TaskError, String(error));
    match(error.message, /allowlist/);
    equal(await pool.run(task("add"), [2, 2]), 4);
  },
);

clusterTest(
  "A node whose root differs from the client's says so when it refuses a module, naming both and the root that would do",
  async ({ pool, node }) => {
    // The node's root is tests/, so the client's "tests/fixtures/tasks.ts" resolves to
    // tests/tests/fixtures/tasks.ts: not what its allowlist (tests/fixtures/) holds.
    await node(["--root", "tests/"]);
    const error = await pool.run(task("add"), [1, 1]).catch((e) => e);
    ok(error instanceof TaskError, String(error));
    const root = new URL("../", import.meta.url).href;
    equal(
      error.message,
      `This node does not run task module "tests/fixtures/tasks.ts": resolved against the ` +
        `node's root (${root}tests/) it is ${root}tests/tests/fixtures/tasks.ts, which is not in ` +
        `its 'modules' allowlist (${root}tests/fixtures/); with the node's root at ${root} ` +
        `(serve.ts --root, serve()'s 'root'), it would be`,
    );
  },
);

clusterTest("A node stops on SIGTERM, exit code 0", async ({ pool, node }) => {
  const started = await node();
  equal(await pool.run(task("add"), [1, 1]), 2);
  equal((await started.stop("SIGTERM")).code, 0);
});

clusterTest(
  "Long jobs are shared among the nodes: a node holds one ahead of what it runs, not a batch",
  async ({ pool, node }) => {
    const nodes = [await node(), await node()];
    const shared = async () => {
      // The first node to wake could take them all if it held many; each runs one at a time.
      const pids = await Promise.all(
        Array.from({ length: 8 }, () => pool.run(task("pidAfter"), [300])),
      );
      for (const { pid } of nodes) {
        const ran = pids.filter((p) => p === pid).length;
        ok(ran >= 3 && ran <= 5, `node ${pid} ran ${ran} of 8: ${pids}`);
      }
    };
    await shared();
  },
);

clusterTest(
  "Requests queued together go as batches, each with its own outcome",
  async ({ redis, pool, node }) => {
    await node();
    await node();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 64 }, (_, n) => pool.run(task("evenOnly"), [n])),
    );
    outcomes.forEach((outcome, n) => {
      if (n % 2 === 0) deepEqual(outcome, { status: "fulfilled", value: n });
      else {
        equal(outcome.status, "rejected");
        const error = (outcome as PromiseRejectedResult).reason;
        ok(error instanceof TaskError && error.cause instanceof RangeError, String(error));
        equal(error.message, `${n} is odd`);
      }
    });
    const events = await redisCli(redis.port, "XRANGE", "bull:threadpool:events", "-", "+");
    equal(events.split("\n").filter((line) => line === "added").length, 64 / 16);
    equal(pool.stats().completed, 32);
  },
  { batch: 16 },
);

clusterTest(
  "A batch answered wrongly still ends each of its requests, once, with a TaskError",
  async ({ redis, pool }) => {
    // Not a node of this version: a bare BullMQ worker that answers every job with one value.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const answer = { ok: true, v: encode(5, "a value", 100) };
    const worker = new Worker("threadpool", (job) => forge(connection, job, answer), {
      connection,
    });
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 4 }, (_, i) => pool.run(task("add"), [i, 1])),
      );
      for (const outcome of outcomes) {
        equal(outcome.status, "rejected");
        const error = (outcome as PromiseRejectedResult).reason;
        ok(error instanceof TaskError, String(error));
        match(error.message, /answered wrongly: a batch of 4 requests got no outcome for each/);
      }
    } finally {
      await worker.close();
      connection.disconnect();
    }
  },
  { batch: 4 },
);

clusterTest(
  "A job answered with something that is not an answer ends its request with a TaskError",
  async ({ redis, pool }) => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const worker = new Worker("threadpool", (job) => forge(connection, job, 5), { connection });
    try {
      const error = await pool.run(task("add"), [1, 1]).catch((e) => e);
      ok(error instanceof TaskError, String(error));
      match(error.message, /answered wrongly/);
    } finally {
      await worker.close();
      connection.disconnect();
    }
  },
);

/** Writes `answer` for `job` where its client reads its answers, as a node would. */
async function forge(connection: Redis, job: BullJob, answer: unknown): Promise<number> {
  const key = answersKey("threadpool", job.data.c);
  await connection.xadd(key, "*", "j", job.id!, "a", JSON.stringify(answer));
  return 0;
}

clusterTest(
  "Aborting one request of a batch cancels only it: its neighbours' outcomes arrive",
  async ({ pool, node }) => {
    await node();
    const controller = new AbortController();
    const runs = Array.from(
      { length: 20 },
      (_, i) =>
        i === 7
          ? pool.run(task("delayed"), ["slow", 60_000], { signal: controller.signal })
          : pool.run(task("delayed"), [i, 0]),
    );
    await running(pool, 1); // one batch (one job), begun on the node
    controller.abort(new Error("only this one"));
    const outcomes = await Promise.allSettled(runs);
    outcomes.forEach((outcome, i) =>
      i === 7
        ? equal((outcome as PromiseRejectedResult).reason.message, "only this one")
        : deepEqual(outcome, { status: "fulfilled", value: i })
    );
    equal(pool.stats().cancelled, 1);
  },
  { batch: 20 },
);

clusterTest(
  "After short jobs a node holds many at once, but not of a task it knows to be long",
  async ({ pool, node }) => {
    const first = await node();
    equal(await pool.run(task("pidAfter"), [10]), first.pid); // the node learns it is long
    await Promise.all(Array.from({ length: 40 }, (_, i) => pool.run(task("add"), [i, 1])));
    const pids = Promise.all(Array.from({ length: 6 }, () => pool.run(task("pidAfter"), [2_000])));
    await running(pool, 1); // one worker: one runs at a time
    // Had the first node taken all six, this one would run none; it starts well within 2 s.
    const second = await node();
    const ran = (await pids).filter((pid) => pid === second.pid).length;
    ok(ran >= 2, `the node started later ran ${ran} of 6`);
  },
);

clusterTest(
  "A node stopping gracefully finishes what its pool runs and hands the jobs it holds back",
  async ({ redis, pool, node }) => {
    // One worker: it runs one job, has one more ahead of it in its pool, and holds six in all.
    const first = await node(["--prefetch", "6"]);
    const pids = Array.from({ length: 6 }, () => pool.run(task("pidAfter"), [1_000]));
    // The node has taken all six from the queue.
    await until(async () =>
      Number(await redisCli(redis.port, "LLEN", "bull:threadpool:active")) === 6
    );
    const stopped = first.stop("SIGTERM");
    const second = await node();
    equal((await stopped).code, 0);
    const ran = await Promise.all(pids);
    const byFirst = ran.filter((pid) => pid === first.pid).length;
    ok(byFirst <= 2, `the stopping node ran ${byFirst} of 6`);
    equal(ran.filter((pid) => pid === second.pid).length, 6 - byFirst);
    equal(pool.stats().completed, 6);
  },
  // One job per request, all in Redis at once (not a few first, to learn the task's duration).
  { batch: 1 },
);

clusterTest(
  "A second SIGTERM cuts what a stopping node runs short, and hands it back to the queue",
  async ({ redis, pool, node }) => {
    const first = await node();
    const controller = new AbortController();
    const outcome = pool.run(task("delayed"), [1, 120_000], { signal: controller.signal })
      .catch((error) => error);
    await running(pool, 1);
    const stopped = first.stop("SIGTERM");
    // The first signal waits for the request (two minutes); the second, sent once the node has
    // begun to stop (it has left the list of nodes), does not.
    await until(async () => (await pool.nodes()).length === 0);
    Deno.kill(first.pid, "SIGTERM");
    equal((await stopped).code, 0);
    equal(await waitingIn(redis.port), 1, "handed back");
    const reason = new Error("no node left to run it");
    controller.abort(reason);
    equal(await outcome, reason);
  },
);

Deno.test("new ClusterPool() refuses a malformed connection at the call", () => {
  throws(() => new ClusterPool({ connection: "http://nope" }), /'connection' must be a redis:\/\//);
  throws(() => new ClusterPool({ connection: 5 as never }), TypeError);
  throws(() => new ClusterPool({ connection: "redis://x", maxQueue: -1 }), RangeError);
  throws(
    () => new ClusterPool({ connection: "redis://x", batch: 0 }),
    /'batch' must be an integer from 1 to 1000.*0/,
  );
  // BullMQ's keys are `bull:<queue>:…`: an empty name, or one with a colon, names no queue.
  throws(() => new ClusterPool({ connection: "redis://x", queue: "" }), /'queue' must be .*""/);
  throws(() => new ClusterPool({ connection: "redis://x", queue: "a:b" }), /'queue'.*"a:b"/);
  throws(() => new ClusterPool({ connection: "redis://x", queue: 5 as never }), TypeError);
  throws(
    () => new ClusterPool({ connection: "redis://x", timeout: 2 ** 31 }),
    /'timeout' must be .*Infinity for no bound: current value is 2147483648/,
  );
});

clusterTest(
  "timeout: Infinity on a ClusterPool, or on its call, is no bound: the request runs to its end on its node",
  async ({ pool, node }) => {
    await node();
    deepEqual(
      await Promise.all([
        pool.run(task("delayed"), ["pool's", 30]),
        pool.run(task("delayed"), ["call's", 30], { timeout: Infinity }),
      ]),
      ["pool's", "call's"],
    );
    equal(pool.stats().timedOut, 0);
  },
  { timeout: Infinity },
);

Deno.test("ClusterPool says createWorkers() and dismissWorkers() have no meaning on a cluster", async () => {
  await using pool = new ClusterPool({ connection: "redis://127.0.0.1:1" });
  throws(() => pool.createWorkers(1), /start a node with serve\(\)/);
  throws(() => pool.dismissWorkers(1), /stop a node/);
  equal(pool.closed, false);
  await pool.close();
  equal(pool.closed, true);
});

clusterTest(
  "A request aborted while it runs on a node is stopped there, and its place freed",
  async ({ pool, node }) => {
    await node(); // one worker: a task that kept running would hold it for a minute
    const controller = new AbortController();
    const reason = new Error("not wanted");
    const long = pool.run(task("delayed"), ["never", 60_000], { signal: controller.signal });
    await running(pool, 1);
    controller.abort(reason);
    await rejects(long, (error) => error === reason);
    equal(await pool.run(task("add"), [1, 1]), 2);
  },
);

clusterTest(
  "A node killed while running a request: another runs it after the lease, one outcome",
  async ({ pool, node }) => {
    const first = await node(["--lease", "1000"]);
    const result = pool.run(task("delayed"), ["survived", 1_500]);
    await running(pool, 1);
    const second = await node(["--lease", "1000"]);
    equal((await first.stop("SIGKILL")).signal, "SIGKILL");
    equal(await result, "survived");
    equal(pool.stats().completed, 1);
    await second.stop();
  },
);

clusterTest(
  "A request lost with its node twice fails with WorkerLostError (maxLosses defaults to 1)",
  async ({ redis, pool, node }) => {
    const stalled: string[] = [];
    pool.addEventListener("stalled", (event) => {
      stalled.push((event as CustomEvent<{ job: string }>).detail.job);
    });
    const first = await node(["--lease", "1000"]);
    let ended = false;
    const outcome = pool.run(task("delayed"), ["never", 60_000]).catch((error) => error)
      .finally(() => ended = true);
    await running(pool, 1);
    const second = await node(["--lease", "1000"]);
    await first.stop("SIGKILL");
    // The second node holds it once BullMQ has counted the first loss and handed it on (on a
    // machine loaded enough, the second node's own lease can lapse too: that is the second loss).
    await until(async () => ended || (await lossesOfActiveJob(redis.port)) >= 1);
    await second.stop("SIGKILL");
    await node(["--lease", "1000"]);
    const error = await outcome;
    ok(error instanceof WorkerLostError, String(error));
    match(error.message, /lost 2 times \(the client's 'maxLosses' is 1\)/);
    equal(pool.stats().failed, 1);
    equal(stalled.length, 2, "a stalled event for each loss");
    equal(stalled[0], stalled[1]);
  },
);

clusterTest(
  "With maxLosses: 0 a request runs at most once: lost with its node, it fails instead",
  async ({ pool, node }) => {
    const first = await node(["--lease", "1000"]);
    const result = pool.run(task("delayed"), ["never", 60_000]).catch((error) => error);
    await running(pool, 1);
    await node(["--lease", "1000"]);
    await first.stop("SIGKILL");
    const error = await result;
    ok(error instanceof WorkerLostError, String(error));
    match(error.message, /lost once \(the client's 'maxLosses' is 0\)/);
  },
  { maxLosses: 0 },
);

Deno.test("new ClusterPool() refuses a maxLosses out of range, quoting it", () => {
  throws(
    () => new ClusterPool({ connection: "redis://x", maxLosses: 101 }),
    /'maxLosses' must be an integer from 0 to 100: current value is 101/,
  );
  throws(() => new ClusterPool({ connection: "redis://x", maxLosses: "1" as never }), TypeError);
});

/** How many times BullMQ has counted the job now active as lost (`-1`: none is active). */
async function lossesOfActiveJob(port: number): Promise<number> {
  const [id] = (await redisCli(port, "LRANGE", "bull:threadpool:active", "0", "0")).split("\n");
  if (!id) return -1;
  return Number(await redisCli(port, "HGET", `bull:threadpool:${id}`, "stc") || 0);
}

/** Resolves once `condition` holds, asking again every 20 ms (Redis has no event for it). */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 20));
}

clusterTest(
  "A script that uses a ClusterPool and forgets close() still exits by itself",
  async ({ redis, node }) => {
    await node();
    const script = new URL("./fixtures/scripts/cluster_forgets_close.ts", import.meta.url);
    const flags = ["--allow-read", "--allow-net", "--allow-env", "--allow-sys"];
    const { code, stdout, stderr } = await runDeno([...flags, script.pathname, redis.url], {
      timeout: 30_000,
    });
    equal(code, 0, stderr);
    equal(stdout, "result 3\nresult 4\n");
  },
);

Deno.test("close({ force: true }) ends while Redis has never been reachable, and the script exits", async () => {
  const port = freePort();
  const script = new URL("./fixtures/scripts/cluster_redis_gone.ts", import.meta.url);
  const flags = ["--allow-read", "--allow-net", "--allow-env", "--allow-sys"];
  const { code, stdout, stderr } = await runDeno(
    [...flags, script.pathname, "unreachable", `redis://127.0.0.1:${port}`],
    { timeout: 30_000 },
  );
  equal(code, 0, stderr);
  equal(stdout, "closed PoolClosedError\n");
});

clusterTest(
  "With Redis gone, a client's close({ force: true }) ends and its script exits, and a node stops",
  async ({ redis, node }) => {
    const server = await node();
    const script = new URL("./fixtures/scripts/cluster_redis_gone.ts", import.meta.url);
    const flags = ["--allow-read", "--allow-net", "--allow-env", "--allow-sys"];
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, script.pathname, "lost", redis.url],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("\n")) {
      const { done, value } = await output.read();
      if (done) break;
      seen += value;
    }
    equal(seen, "ran 3\n");
    await redis.stop();
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    for (let read = await output.read(); !read.done; read = await output.read()) seen += read.value;
    const { code } = await child.status;
    clearTimeout(killer);
    const stderr = await new Response(child.stderr).text();
    equal(code, 0, stderr);
    equal(seen, "ran 3\nclosed PoolClosedError\n");
    // The node too: on SIGTERM it stops without waiting for Redis to return.
    equal((await server.stop()).code, 0);
  },
);

clusterTest(
  "A timeout counts from the start on the node, and ends the request with TaskTimeoutError",
  async ({ pool, node }) => {
    await node();
    await rejects(pool.run(task("delayed"), ["late", 5_000], { timeout: 100 }), TaskTimeoutError);
    equal(await pool.run(task("add"), [1, 1]), 2);
  },
);

clusterTest(
  "Arguments over maxPayload are refused at the call; transfer lists are accepted and copied",
  async ({ pool, node }) => {
    await node();
    await rejects(pool.run(raw("echo"), ["x".repeat(2_000)]), (error: Error) => {
      ok(error instanceof RangeError, String(error));
      match(error.message, /'maxPayload' \(1000\)/);
      return true;
    });
    equal(pool.queued, 0);
    const buffer = new Uint8Array([1, 2, 3]).buffer;
    const back = await pool.run(raw("echo"), [buffer], { transfer: [buffer] }) as ArrayBuffer;
    deepEqual(new Uint8Array(back), new Uint8Array([1, 2, 3]));
  },
  { maxPayload: 1_000 },
);

clusterTest(
  "close({ force: true }) removes this client's waiting jobs and fails what is pending",
  async ({ redis, pool }) => {
    const pending = [1, 2, 3].map((n) => pool.run(task("add"), [n, n]));
    const outcomes = Promise.allSettled(pending);
    // No node serves the queue: the first jobs wait in Redis (the rest here, until a node has
    // said how long the task takes).
    while ((await waitingIn(redis.port)) < 1) await turn();
    await pool.close({ force: true });
    for (const outcome of await outcomes) {
      ok(outcome.status === "rejected" && outcome.reason instanceof PoolClosedError);
    }
    equal(await waitingIn(redis.port), 0);
  },
);

clusterTest(
  "A request aborted while it waits in Redis is removed there and never runs",
  async ({ redis, pool, node }) => {
    const controller = new AbortController();
    const reason = new Error("not wanted");
    // No node yet: it waits in Redis.
    const waiting = pool.run(task("add"), [1, 1], { signal: controller.signal });
    while ((await waitingIn(redis.port)) < 1) await turn();
    controller.abort(reason);
    await rejects(waiting, (error) => error === reason);
    // Gone from Redis before any node could take it.
    await until(async () => (await waitingIn(redis.port)) === 0);
    await node();
    equal(await pool.run(task("add"), [2, 2]), 4);
    const { cancelled, completed } = pool.stats();
    deepEqual({ cancelled, completed }, { cancelled: 1, completed: 1 });
  },
);

clusterTest(
  "maxQueue bounds this client's jobs waiting in Redis: a full queue waits, or refuses when told",
  async ({ redis, pool, node }) => {
    // No node yet: the first two wait in Redis, and the queue is full.
    const first = [1, 2].map((n) => pool.run(task("add"), [n, n]));
    while ((await waitingIn(redis.port)) < 2) await turn();
    equal(pool.queued, 2);
    const refused = new WorkRequest(task("add"), [0, 0]);
    await rejects(pool.putRequest(refused, { block: false }), QueueFullError);
    let third = false;
    const waiting = pool.run(task("add"), [3, 3]).then((sum) => (third = true, sum));
    await turn();
    equal(third, false, "run() waits for room");
    equal(await waitingIn(redis.port), 2, "nothing beyond maxQueue reaches Redis");
    await node();
    deepEqual(await Promise.all([...first, waiting]), [2, 4, 6]);
  },
  { maxQueue: 2 },
);

Deno.test({
  name: "A wrong Redis password fails the request clearly, instead of hanging",
  ignore: !redisInstalled && Deno.env.get("CI") !== "true",
  timeout: 30_000,
  async fn() {
    const redis = await startRedis(["--requirepass", "secret"]);
    const wrong = `redis://:wrong@127.0.0.1:${redis.port}`;
    const pool = new ClusterPool({ connection: wrong });
    try {
      await rejects(pool.run(task("add"), [1, 1]), /refused the credentials.*WRONGPASS/);
      // A node with the wrong password says so and exits, instead of waiting forever.
      const flags = ["--allow-read", "--allow-net", "--allow-env", "--allow-sys"];
      const { code, stderr } = await runDeno(
        [...flags, "serve.ts", "--redis", wrong, "--module", "tests/fixtures/"],
        { cwd: new URL("../", import.meta.url), timeout: 20_000 },
      );
      equal(code, 1);
      match(stderr, /Redis refused the credentials: WRONGPASS/);
      // And with the right one, both work.
      await using good = new ClusterPool({
        connection: `redis://:secret@127.0.0.1:${redis.port}`,
        root: new URL("../", import.meta.url),
      });
      const node = await startNode(`redis://:secret@127.0.0.1:${redis.port}`);
      equal(await good.run(task("add"), [2, 3]), 5);
      await node.stop();
    } finally {
      await pool.close({ force: true });
      await redis.stop();
    }
  },
});

Deno.test({
  name: "Clients and nodes connect over TLS (rediss://); an untrusted certificate fails clearly",
  ignore: !redisInstalled && Deno.env.get("CI") !== "true",
  timeout: 30_000,
  async fn() {
    const redis = await startRedis([], true);
    const ca = redis.ca!;
    const untrusted = new ClusterPool({ connection: redis.url });
    try {
      // The node trusts the test's certificate authority through Deno's DENO_CERT.
      const node = await startNode(redis.url, [], "tests/fixtures/", { DENO_CERT: ca });
      await using pool = new ClusterPool({
        connection: {
          host: "127.0.0.1",
          port: redis.port,
          tls: { ca: await Deno.readTextFile(ca) },
        },
        root: new URL("../", import.meta.url),
      });
      equal(await pool.run(task("add"), [2, 3]), 5);
      // Without that authority, the call fails and says why, instead of retrying forever.
      await rejects(untrusted.run(task("add"), [1, 1]), /TLS certificate is not trusted here/);
      const flags = ["--allow-read", "--allow-net", "--allow-env", "--allow-sys"];
      const { code, stderr } = await runDeno(
        [...flags, "serve.ts", "--redis", redis.url, "--module", "tests/fixtures/"],
        { cwd: new URL("../", import.meta.url), timeout: 20_000 },
      );
      equal(code, 1);
      match(stderr, /^serve\.ts: Redis refused: its TLS certificate is not trusted here/);
      await node.stop();
    } finally {
      await untrusted.close({ force: true });
      await redis.stop();
    }
  },
});

Deno.test("serve.ts refuses bad flags with a usage line and exit code 2", async () => {
  for (
    const args of [
      [],
      ["--module", "x"],
      ["--redis", "redis://x"],
      [
        "--workers",
        "0",
        "--redis",
        "redis://x",
        "--module",
        "m",
      ],
      ["--what"],
      ["--redis", "redis://x", "--module", "m", "--prefetch", "0"],
      ["--redis", "redis://x", "--module", "m", "--queue", "a:b"],
      ["--redis", "redis://x", "--module", "m", "--queue", ""],
      ["--redis", "redis://x", "--module", "m", "--lease", "2500.5"],
      ["--redis", "redis://x", "--module", "no/such/folder/"],
      ["--redis", "http://x", "--module", "tests/fixtures/"],
    ]
  ) {
    const flags = ["--allow-read", "--allow-net", "--allow-env", "--allow-sys"];
    const { code, stderr } = await runDeno([...flags, "serve.ts", ...args], {
      cwd: new URL("../", import.meta.url),
    });
    equal(code, 2, `${args.join(" ")}: ${stderr}`);
    match(stderr, /^serve\.ts: .+\nusage: serve\.ts \[--redis URL\] --module PATH/);
  }
});

Deno.test("serve.ts --help describes every flag with its default, and exits 0", async () => {
  const { code, stdout } = await runDeno(["--allow-read", "--allow-env", "serve.ts", "--help"], {
    cwd: new URL("../", import.meta.url),
  });
  equal(code, 0);
  for (
    const flag of [
      "redis",
      "module",
      "root",
      "workers",
      "concurrency",
      "permissions",
      "queue",
      "lease",
      "prefetch",
      "tls-ca",
      "tls-cert",
      "tls-key",
    ]
  ) {
    match(stdout, new RegExp(`^  --${flag} `, "m"), `--${flag} described`);
  }
  match(stdout, /Default: the THREADPOOL_REDIS_URL environment variable/);
  match(stdout, /--lease MS .+\n.+Default: 30000/);
});

Deno.test({
  name:
    "A node takes Redis's URL from THREADPOOL_REDIS_URL, and its ready line says what it serves, without the password",
  ignore: !redisInstalled && Deno.env.get("CI") !== "true",
  timeout: 30_000,
  async fn() {
    const redis = await startRedis(["--requirepass", "s3cret"]);
    const url = `redis://:s3cret@127.0.0.1:${redis.port}`;
    const root = new URL("../", import.meta.url);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-net", "--allow-env", "--allow-sys", "serve.ts"]
        .concat(["--module", "tests/fixtures/", "--workers", "1", "--queue", "envq"]),
      cwd: root,
      env: { THREADPOOL_REDIS_URL: url },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const lines: string[] = [];
      await lineMatching(child.stdout, /^ready/, lines);
      const ready = lines.find((line) => line.startsWith("ready"))!;
      match(
        ready,
        /queue envq on redis:\/\/127\.0\.0\.1:\d+, 1 workers × 1, modules tests\/fixtures\//,
      );
      ok(!ready.includes("s3cret"), ready);
      await using pool = new ClusterPool({ connection: url, root, queue: "envq" });
      equal(await pool.run(task("add"), [1, 1]), 2);
    } finally {
      child.kill("SIGTERM");
      equal((await child.status).code, 0);
      await redis.stop();
    }
  },
});

clusterTest(
  "A node given --permissions none runs its tasks sandboxed: its modules granted, nothing else",
  async ({ pool, node }) => {
    await node(["--permissions", "none"]);
    const sandboxed = (name: string) => ({
      module: new URL("./fixtures/sandbox.ts", import.meta.url),
      name,
    });
    equal(await pool.run(sandboxed("double"), [21]), 42);
    await rejects(
      pool.run(sandboxed("readText"), ["/etc/hostname"]),
      (error: Error) =>
        error instanceof TaskError &&
        /^Requires read access to "\/etc\/hostname", which the pool's 'permissions' option withheld/
          .test(error.message),
    );
    await rejects(pool.run(sandboxed("env"), ["HOME"]), TaskError);
  },
);

Deno.test("serve() refuses a bad 'lease', 'prefetch' or 'queue' at the call, quoting it", async () => {
  await using pool = new ThreadPool(1);
  const options = { connection: "redis://127.0.0.1:1", modules: ["tests/fixtures/"] };
  await rejects(
    serve(pool, { ...options, prefetch: 0 }),
    /'prefetch' must be an integer from 1 to 1000.*0/,
  );
  await rejects(serve(pool, { ...options, prefetch: 2.5 }), RangeError);
  await rejects(serve(pool, { ...options, prefetch: "4" as never }), TypeError);
  await rejects(
    serve(pool, { ...options, lease: -1 }),
    /'lease' must be an integer from 1 to \d+: current value is -1/,
  );
  await rejects(serve(pool, { ...options, lease: "5" as never }), TypeError);
  await rejects(serve(pool, { ...options, lease: 2500.5 }), RangeError);
  await rejects(serve(pool, { ...options, queue: "" }), /'queue' must be .*""/);
  await rejects(serve(pool, { ...options, queue: "a:b" }), RangeError);
  await rejects(serve(pool, { ...options, queue: 5 as never }), TypeError);
  await rejects(serve(pool, { ...options, modules: [5 as never] }), /'modules\[0\]' must be .*5/);
  await rejects(
    serve(pool, { ...options, modules: ["tests/fixtures/", "no/such/folder/"] }),
    /'modules\[1\]' names no file or folder: current value is "no\/such\/folder\/"/,
  );
  await rejects(serve({} as never, options), /'pool' must be a ThreadPool/);
  await pool.close();
  equal(pool.liveThreads, 0);
  await rejects(serve(pool, options), PoolClosedError);
});

/** A node in this process, serving the fixtures on its own pool of `workers`. */
async function servedHere(url: string, workers: number) {
  const local = new ThreadPool(workers);
  const inProcess = await serve(local, { connection: url, modules: ["tests/fixtures/"] });
  return { local, inProcess };
}

clusterTest(
  "A node whose local pool is closed under it hands its job back for another node, and stops",
  async ({ redis, pool, node }) => {
    const { local, inProcess } = await servedHere(redis.url, 1);
    await local.close();
    equal(local.liveThreads, 0);
    // The only node, it takes the job; its pool closed, it hands it back and stops.
    const ran = pool.run(task("pidAfter"), [0]);
    await inProcess.closed;
    const other = await node();
    equal(await ran, other.pid);
    equal(pool.stats().failed, 0);
  },
);

clusterTest(
  "A node whose local pool is closed with force under a running job hands it back to run again",
  async ({ redis, pool, node }) => {
    const { local, inProcess } = await servedHere(redis.url, 1);
    const ran = pool.run(task("pidAfter"), [1_000]);
    await running(pool, 1);
    await local.close({ force: true });
    equal(local.liveThreads, 0);
    await inProcess.closed;
    const other = await node();
    equal(await ran, other.pid);
    equal(pool.stats().failed, 0);
  },
);

clusterTest(
  "A batch cut short by its node's pool closing with force goes back whole, and runs elsewhere",
  async ({ redis, pool, node }) => {
    const { local, inProcess } = await servedHere(redis.url, 4);
    const ran = Array.from({ length: 4 }, () => pool.run(task("pidAfter"), [1_000]));
    await running(pool, 4);
    await local.close({ force: true });
    equal(local.liveThreads, 0);
    await inProcess.closed;
    const other = await node();
    deepEqual(await Promise.all(ran), [other.pid, other.pid, other.pid, other.pid]);
    equal(pool.stats().failed, 0);
  },
  { batch: 4 },
);

/** Forty short requests, each counting how many times it settled. */
function fortyRequests(
  pool: ClusterPool,
): { runs: Promise<unknown>[]; settled: Map<number, number> } {
  const settled = new Map<number, number>();
  const runs = Array.from(
    { length: 40 },
    (_, i) =>
      pool.run(task("delayed"), [i, 50 + (i % 5) * 40]).then((value) => {
        settled.set(i, (settled.get(i) ?? 0) + 1);
        return value;
      }),
  );
  return { runs, settled };
}

clusterTest(
  "Redis restarted mid-run (with its data kept): clients and nodes reconnect, every request ends once",
  async ({ redis, pool, node }) => {
    // A job a node finished while Redis was down runs again once its lease runs out: short here.
    await node(["--lease", "2000"]);
    await node(["--lease", "2000"]);
    const { runs, settled } = fortyRequests(pool);
    await running(pool, 1);
    await redis.restart();
    deepEqual(await Promise.all(runs), Array.from({ length: 40 }, (_, i) => i));
    ok([...settled.values()].every((times) => times === 1));
    equal(await pool.run(task("add"), [1, 1]), 2, "the pool goes on after the restart");
  },
  {},
  ["--appendonly", "yes"],
);

clusterTest(
  "Every connection to Redis cut mid-run (CLIENT KILL): clients and nodes reconnect, each request ends once",
  async ({ redis, pool, node }) => {
    await node(["--lease", "2000"]);
    await node(["--lease", "2000"]);
    const { runs, settled } = fortyRequests(pool);
    const outages: Error[] = [];
    pool.addEventListener("error", (event) => outages.push((event as ErrorEvent).error));
    await running(pool, 1);
    // Every client's connection: the pool's, the nodes', their blocking reads and subscriptions.
    for (const type of ["normal", "pubsub"]) {
      ok(Number(await redisCli(redis.port, "CLIENT", "KILL", "TYPE", type)) > 0);
    }
    deepEqual(await Promise.all(runs), Array.from({ length: 40 }, (_, i) => i));
    ok([...settled.values()].every((times) => times === 1));
    equal(await pool.run(task("add"), [1, 1]), 2, "the pool goes on");
    ok(outages.length > 0, "the pool told of the outage");
    match(outages[0]!.message, /^Lost the connection to Redis.*; reconnecting$/);
    // A cancel still reaches the node running the task (its subscription came back too):
    // otherwise its one worker stays busy for a minute, and the jobs it takes after wait.
    const controller = new AbortController();
    const long = pool.run(task("delayed"), ["never", 60_000], { signal: controller.signal });
    await running(pool, 1);
    controller.abort();
    await rejects(long);
    const sums = await Promise.all(
      Array.from({ length: 8 }, (_, i) => pool.run(task("add"), [i, i])),
    );
    deepEqual(sums, Array.from({ length: 8 }, (_, i) => 2 * i));
  },
);

clusterTest(
  "A cancel sent while a node's subscription is down still stops its task once it reconnects",
  async ({ redis, pool, node }) => {
    await node(); // one worker: a task that kept running would hold it for a minute
    const controller = new AbortController();
    const long = pool.run(task("delayed"), ["never", 60_000], { signal: controller.signal });
    await running(pool, 1);
    // The node's subscription drops; ioredis waits before reconnecting, so the message is lost.
    ok(Number(await redisCli(redis.port, "CLIENT", "KILL", "TYPE", "pubsub")) > 0);
    controller.abort();
    await rejects(long);
    equal(await pool.run(task("add"), [1, 1]), 2, "the node's worker was freed");
  },
);

clusterTest(
  "A call's arguments are its own from the call: the caller may reuse the array, or an object in it, at once",
  async ({ pool, node }) => {
    await node();
    const args: [{ n: number }] = [{ n: 0 }];
    const runs: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      args[0].n = i;
      runs.push(pool.run(task("echo"), args));
      args[0] = { n: -1 };
    }
    deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4].map((n) => ({ n })));
    function* reused() {
      const input = [0, 0];
      for (let i = 0; i < 5; i++) {
        input[0] = i;
        yield input;
      }
    }
    const mapped: unknown[] = [];
    for await (const sum of pool.map(task("add"), reused(), { chunkSize: 2 })) mapped.push(sum);
    deepEqual(mapped, [0, 1, 2, 3, 4]);
  },
);

Deno.test("new ClusterPool() refuses an option it does not honour, naming it and where it belongs", () => {
  throws(
    () => new ClusterPool({ connection: "redis://x", permissions: "none" } as never),
    (error: Error) =>
      error instanceof TypeError &&
      error.message ===
        "Cannot create the cluster pool as 'permissions' is not an option of a ClusterPool: on a " +
          "cluster it belongs to the nodes (serve.ts --permissions, or serve() with a ThreadPool " +
          "given them)",
  );
  throws(
    () => new ClusterPool({ connection: "redis://x", maxLoss: 2 } as never),
    /^TypeError: Cannot create the cluster pool as 'maxLoss' is not an option of a ClusterPool \(its options: connection, queue, root, .*maxLosses, lease, batch\)$/,
  );
});

clusterTest(
  "ClusterPool.results({ follow: true }) follows the result channel until the pool is closed",
  async ({ pool, node }) => {
    await node();
    await followsUntilClose(pool, 2);
  },
);

clusterTest(
  "Progress crosses a node: run()'s onProgress and a WorkRequest's progressCallback hear the reports, the last before the result",
  async ({ pool, node }) => {
    await node();
    const reports: unknown[] = [];
    equal(
      await pool.run(task("stepAloud"), [4], { onProgress: (value) => reports.push(value) }),
      "done",
    );
    // In order, the last among them; one made while the one before was still on its way to
    // Redis may have been replaced by the next.
    inOrderEndingWith(reports, 4);
    // A slow caller: one report per Redis round trip at most, the latest.
    await slowListenerGetsTheLatest(pool);
    // The ancestor's way: during wait(), before the result's callback.
    const events: string[] = [];
    await pool.putRequest(
      new WorkRequest(task("stepAloud"), [3], {
        progressCallback: (_, value) => events.push(`step ${(value as { step: number }).step}`),
        callback: (_, value) => events.push(String(value)),
      }),
    );
    await pool.wait();
    equal(events.at(-1), "done");
    equal(events.at(-2), "step 3");
  },
);

/**
 * A program written against a ThreadPool: size, run, map, putRequest/poll/wait, results and
 * stats, as its users write them. It must type-check and run against both pools.
 */
async function portedProgram(pool: ThreadPool | ClusterPool): Promise<number[]> {
  const seen: number[] = [];
  const before = pool.stats().completed;
  ok(pool.size >= 1, `size ${pool.size}`);
  seen.push(await pool.run(task("add"), [1, 2]));
  for await (const value of pool.map(task("default"), [1, 2, 3])) seen.push(value);
  const requests = [10, 20].map((n) =>
    new WorkRequest(task("default"), [n], { callback: (_, value) => seen.push(value as number) })
  );
  for (const request of requests) await pool.putRequest(request);
  await pool.wait();
  await pool.putRequest(new WorkRequest(task("add"), [5, 5]));
  for await (const settled of pool.results()) {
    if (settled.ok) seen.push(settled.value as number);
    break;
  }
  const stats = pool.stats();
  equal(stats.completed - before, 7);
  ok(stats.workers.live >= 1);
  return seen;
}

clusterTest(
  "A program written for a ThreadPool runs unchanged on a ClusterPool, size included",
  async ({ pool, node }) => {
    await node();
    await pool.nodes();
    const expected = [3, 2, 4, 6, 20, 40, 10];
    await using local = new ThreadPool(1);
    deepEqual(await portedProgram(local), expected);
    // size counts the workers the client has seen serving: it looks when it connects.
    await pool.run(task("add"), [0, 0]);
    deepEqual(await portedProgram(pool), expected);
  },
);

clusterTest(
  "stats() on a client means what it means on a ThreadPool: runTime is the task's time on its node, waitTime until it started, running at most the workers",
  async ({ pool, node }) => {
    await node();
    // 24 requests of a 30 ms task on one worker: each runs about 30 ms, and waits its turn.
    const runs = Array.from({ length: 24 }, (_, i) => pool.run(task("delayed"), [i, 30]));
    let most = 0;
    const sampling = setInterval(() => most = Math.max(most, pool.stats().running), 5);
    try {
      deepEqual(await Promise.all(runs), Array.from({ length: 24 }, (_, i) => i));
    } finally {
      clearInterval(sampling);
    }
    const { runTime, waitTime, workers, running } = pool.stats();
    ok(most <= 1, `running reached ${most} with one worker`);
    equal(running, 0);
    equal(workers.live, 1);
    equal(runTime.count, 24);
    // On its node each ran its 30 ms (timers fire late, never early), not the client's whole wait.
    ok(runTime.p50 >= 29 && runTime.p50 < 200, `runTime p50 ${runTime.p50}`);
    // One worker in turn: the last waited for the 23 before it.
    ok(waitTime.max >= 23 * 29, `waitTime max ${waitTime.max}`);
  },
  { batch: 1 },
);

clusterTest(
  "Priorities hold across two clients and two nodes: the nodes take the highest first",
  async ({ redis, pool, node }) => {
    const gate = `${await Deno.makeTempDir({ prefix: "threadpool-gate-" })}/open`;
    await node(["--prefetch", "1"]);
    await node(["--prefetch", "1"]);
    const root = new URL("../", import.meta.url);
    const other = new ClusterPool({ connection: redis.url, root, batch: 1 });
    try {
      // Both nodes busy until the gate opens; meanwhile both clients queue, in Redis.
      const blockers = [1, 2].map(() => pool.run(task("waitForFile"), [gate]));
      await running(pool, 2);
      const calls: Promise<[number, number]>[] = [];
      const queue = (client: ClusterPool, priority: number) =>
        calls.push(
          // Each holds its node 30 ms after its ticket: a node slow to start one (a busy core) cannot
          // let the other run two lower ones meanwhile.
          client.run(task("redisTicket"), [redis.port, 30], { priority }).then((
            at,
          ) => [at, priority]),
        );
      for (let i = 0; i < 5; i++) queue(pool, 0);
      for (let i = 0; i < 5; i++) queue(other, 5);
      for (let i = 0; i < 3; i++) queue(pool, -2);
      for (let i = 0; i < 3; i++) queue(other, 9);
      await eventually(
        async () =>
          Number(await redisCli(redis.port, "ZCARD", "bull:threadpool:prioritized")) === 16,
        "every request is in Redis",
      );
      await Deno.writeTextFile(gate, "");
      await Promise.all(blockers);
      const started = (await Promise.all(calls)).toSorted((a, b) => a[0] - b[0]);
      // Two nodes start tasks side by side: a lower one may begin a moment before the last higher
      // one, taken just before it on the other node, and no more.
      started.forEach(([, priority], i) => {
        const lowerBefore = started.slice(0, i).filter(([, p]) => p < priority).length;
        ok(lowerBefore <= 1, `start order: ${started.map(([, p]) => p).join()}`);
      });
    } finally {
      await other.close();
      await Deno.remove(gate.slice(0, gate.lastIndexOf("/")), { recursive: true });
    }
  },
  { batch: 1 },
);

clusterTest(
  "A node hands back a job it holds ahead, not started, when one of higher priority is added: the higher one starts first",
  async ({ redis, pool, node }) => {
    const gate = `${await Deno.makeTempDir({ prefix: "threadpool-gate-" })}/open`;
    try {
      await node();
      const blocker = pool.run(task("waitForFile"), [gate]);
      await running(pool, 1);
      const low = [1, 2, 3].map(() =>
        pool.run(task("redisTicket"), [redis.port], { priority: -1 }) as Promise<number>
      );
      // The node holds one of them ahead of its busy worker; the others wait in Redis.
      await eventually(async () => await waitingIn(redis.port) === 2, "the node holds one");
      const high = pool.run(task("redisTicket"), [redis.port], { priority: 5 }) as Promise<number>;
      // It hands its low one back and takes the high one.
      await eventually(async () => await waitingIn(redis.port) === 3, "the low one handed back");
      await Deno.writeTextFile(gate, "");
      await blocker;
      const lows = await Promise.all(low);
      equal(await high, 0, `the high one first (the low ones: ${lows})`);
      deepEqual(lows.toSorted(), [1, 2, 3]);
    } finally {
      await Deno.remove(gate.slice(0, gate.lastIndexOf("/")), { recursive: true });
    }
  },
  { batch: 1 },
);

clusterTest(
  "A node that held a job past its lease (frozen), then hands it back for a higher priority, leaves it to the node that has it: the request is not failed",
  async ({ redis, pool, node }) => {
    const folder = await Deno.makeTempDir({ prefix: "threadpool-gate-" });
    try {
      const frozen = await node(["--lease", "1000"]);
      const blocker = pool.run(task("waitForFile"), [`${folder}/first`]);
      await running(pool, 1);
      const held = pool.run(task("waitForFile"), [`${folder}/second`], { priority: -1 }).then(
        () => "answered",
        (error) => error,
      );
      await eventually(async () => await waitingIn(redis.port) === 0, "the node holds it");
      let losses = 0;
      pool.addEventListener("stalled", () => losses++);
      Deno.kill(frozen.pid, "SIGSTOP");
      // Past the frozen node's lease, another takes both jobs, and holds no more.
      await node(["--lease", "1000", "--workers", "2", "--prefetch", "1"]);
      await eventually(() => losses === 2, "both jobs taken again");
      Deno.kill(frozen.pid, "SIGCONT");
      // A job no node has room to take: the thawed node takes it once it has handed back the one
      // it holds, which is no longer its own, when told of a higher priority.
      const canary = pool.run(task("add"), [1, 2], { priority: -5 });
      await eventually(async () => await waitingIn(redis.port) === 1, "the canary waits");
      await redisCli(redis.port, "PUBLISH", "threadpool:threadpool:cancel", "prio:0:1");
      await eventually(async () => await waitingIn(redis.port) === 0, "the node handed back");
      await Deno.writeTextFile(`${folder}/first`, "");
      await Deno.writeTextFile(`${folder}/second`, "");
      await blocker;
      equal(await held, "answered");
      equal(await canary, 3);
    } finally {
      await Deno.remove(folder, { recursive: true });
    }
  },
  { batch: 1 },
);

clusterTest(
  "A node frozen past its lease mid-run, then thawed, does not answer a job another node has taken: the answer is the other's",
  async ({ redis, pool, node }) => {
    const folder = await Deno.makeTempDir({ prefix: "threadpool-gate-" });
    let other: Node | undefined;
    try {
      const frozen = await node(["--lease", "1000"]);
      const call = pool.run(task("pidAfterFile"), [`${folder}/open`]);
      await running(pool, 1);
      let losses = 0;
      pool.addEventListener("stalled", () => losses++);
      Deno.kill(frozen.pid, "SIGSTOP");
      // The node that takes it over answers 300 ms after the file: the thawed one would be first.
      other = await startNode(redis.url, ["--lease", "1000"], undefined, {
        THREADPOOL_TEST_SLOW: "300",
      });
      await eventually(() => losses === 1, "the job taken again");
      Deno.kill(frozen.pid, "SIGCONT");
      await Deno.writeTextFile(`${folder}/open`, "");
      equal(await call, other.pid);
    } finally {
      await other?.stop();
      await Deno.remove(folder, { recursive: true });
    }
  },
);

clusterTest(
  "Retries on a ClusterPool: the attempts run on the nodes, and the client sees one outcome per request",
  async ({ redis, pool, node }) => {
    await node();
    await node();
    const retry = { attempts: 3, delay: 10 };
    equal(await pool.run(task("redisFailTimes"), [redis.port, "a", 3], { retry }), 3);
    await rejects(pool.run(task("redisFailTimes"), [redis.port, "b", 9], { retry }), (error) => {
      ok(error instanceof RetryError && error.errors.every((each) => each instanceof TaskError));
      return true;
    });
    equal(await redisCli(redis.port, "GET", "b"), "3", "three attempts, no more");
    const stats = pool.stats();
    deepEqual([stats.completed, stats.failed, stats.retried], [1, 1, 4]);
  },
);

clusterTest(
  "A request whose node is killed is retried under its policy once maxLosses is spent",
  async ({ pool, node }) => {
    const doomed = await node(["--lease", "1000"]);
    const call = pool.run(task("pidAfter"), [1_500], { retry: { attempts: 2, delay: 10 } });
    await running(pool, 1);
    await doomed.stop("SIGKILL");
    const survivor = await node(["--lease", "1000"]);
    equal(await call, survivor.pid);
    equal(pool.stats().retried, 1);
  },
  { maxLosses: 0, lease: 1_000 },
);
