import { deepEqual, equal, match, ok } from "node:assert/strict";
import { ClusterPool } from "../cluster.ts";
import { WorkerLostError } from "../mod.ts";
import { type ClusterContext, clusterTest, redisCli } from "./cluster_helpers.ts";
import { task } from "./helpers.ts";

const root = new URL("../", import.meta.url);

clusterTest(
  "A client blocked for seconds while other clients run 12,000 requests on its queue gets every result",
  async ({ redis, node }) => {
    await node();
    await node();
    const release = await Deno.makeTempFile({ prefix: "threadpool-release-" });
    await Deno.remove(release);
    const script = new URL("./fixtures/scripts/cluster_blocked_client.ts", import.meta.url);
    const blocked = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script.pathname, redis.url, release],
      stdout: "piped",
      stderr: "inherit",
      // A client that never hears its answers fails the test instead of hanging it.
      signal: AbortSignal.timeout(50_000),
    }).spawn();
    const output = blocked.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let printed = "";
    while (!printed.includes("sent\n")) {
      const { done, value } = await output.read();
      if (done) break;
      printed += value;
    }
    equal(printed, "sent\n");
    // Two other clients, one job per request: far more events than BullMQ's event stream keeps.
    const others = [0, 1].map(() => new ClusterPool({ connection: redis.url, root, batch: 1 }));
    try {
      const sums = await Promise.all(
        others.map((other, c) =>
          Promise.all(Array.from({ length: 6_000 }, (_, i) => other.run(task("add"), [i, c])))
        ),
      );
      sums.forEach((list, c) => list.forEach((sum, i) => equal(sum, i + c)));
    } finally {
      for (const other of others) await other.close();
    }
    const events = Number(await redisCli(redis.port, "XLEN", "bull:threadpool:events"));
    ok(events < 4 * 12_000, `the event stream kept ${events} events: it was not trimmed`);
    await Deno.writeTextFile(release, "");
    for (let read = await output.read(); !read.done; read = await output.read()) {
      printed += read.value;
    }
    const { code } = await blocked.status;
    await Deno.remove(release);
    equal(code, 0);
    equal(printed, "sent\na0\na1\na2\na3\n");
  },
);

/**
 * 1,500 requests; Redis SIGKILLed and restarted empty once a third have
 * ended: every request ends, once, and what ends with a value has its own.
 */
async function redisComesBackEmpty({ redis, pool, node }: ClusterContext) {
  await node(["--lease", "2000"]);
  await node(["--lease", "2000"]);
  const dataLost: string[] = [];
  pool.addEventListener("error", (event) => {
    const { message } = event as ErrorEvent;
    if (message.startsWith("Redis lost its data")) dataLost.push(message);
  });
  const ended = new Int32Array(1_500);
  let done = 0;
  let restarted: Promise<void> | undefined;
  const outcomes = await Promise.allSettled(
    Array.from({ length: 1_500 }, (_, i) =>
      pool.run(task("delayed"), [i, i % 7]).finally(() => {
        ended[i]!++;
        if (++done === 500) restarted = redis.restart("SIGKILL");
      })),
  );
  await restarted;
  ok(ended.every((times) => times === 1), "every request ended once");
  equal(dataLost.length, 1, "the pool told that Redis lost its data");
  equal(pool.pending, 0);
  equal(await pool.run(task("add"), [1, 1]), 2, "the pool goes on");
  return outcomes;
}

clusterTest(
  "Redis SIGKILLed and restarted empty mid-run: every request ends once, sent again within maxLosses",
  async (context) => {
    const outcomes = await redisComesBackEmpty(context);
    outcomes.forEach((outcome, i) => deepEqual(outcome, { status: "fulfilled", value: i }));
  },
);

clusterTest(
  "Redis SIGKILLed and restarted empty mid-run, maxLosses: 0: what it lost fails with WorkerLostError",
  async (context) => {
    const outcomes = await redisComesBackEmpty(context);
    let lost = 0;
    outcomes.forEach((outcome, i) => {
      if (outcome.status === "fulfilled") return equal(outcome.value, i);
      lost++;
      ok(outcome.reason instanceof WorkerLostError, String(outcome.reason));
      match(outcome.reason.message, /^Redis lost this request .*'maxLosses' \(0\)/);
    });
    ok(lost > 0, "Redis lost some of the requests");
  },
  { maxLosses: 0 },
);
