import { equal, ok } from "node:assert/strict";
import { ClusterPool } from "../cluster.ts";
import { TaskError, TaskTimeoutError } from "../mod.ts";
import { type ClusterContext, clusterTest } from "./cluster_helpers.ts";
import { random } from "./fault_injection.ts";
import { raw, task } from "./helpers.ts";

type Kind = "ok" | "throw" | "timeout" | "queuedAbort" | "runningAbort";
const mix: [Kind, number][] = [["ok", 70], ["throw", 10], ["timeout", 6], ["queuedAbort", 7], [
  "runningAbort",
  7,
]];

const SEED = 20261201;
const COUNT = 500;

for (const batch of [1, 8]) {
  const how = batch === 1 ? "one job each" : `batches of up to ${batch}`;
  clusterTest(
    `Cluster fault run (${how}): ${COUNT} requests with seeded faults, a node SIGKILLed and Redis restarted mid-run, each ends exactly once as it should`,
    (context) => faultRun(context, 1, "SIGTERM"),
    { batch },
    ["--appendonly", "yes"],
  );
}

clusterTest(
  `Cluster fault run, three clients on one queue: ${COUNT} requests each with seeded faults, a node SIGKILLed and Redis restarted empty mid-run, each ends exactly once as it should`,
  // Lost with the killed node and again with Redis's data: twice, within the bound.
  (context) => faultRun(context, 3, "SIGKILL"),
  { maxLosses: 2 },
);

/**
 * `clients` clients (the context's pool and more like it) each send
 * {@linkcode COUNT} requests of the seeded mix; a node is SIGKILLed and
 * Redis restarted (with `signal`) as requests end.
 */
async function faultRun(
  { redis, pool, node }: ClusterContext,
  clients: number,
  signal: Deno.Signal,
) {
  const lease = ["--lease", "1500", "--workers", "2"];
  const doomed = await node(lease);
  await node(lease);
  const root = new URL("../", import.meta.url);
  const others = Array.from(
    { length: clients - 1 },
    () => new ClusterPool({ connection: redis.url, root, maxLosses: 2 }),
  );
  try {
    const at = clients * COUNT;
    const milestones = [
      { at: Math.floor(at * 0.24), act: () => doomed.stop("SIGKILL") },
      { at: Math.floor(at * 0.52), act: () => redis.restart(signal) },
    ];
    let done = 0;
    const acting: Promise<unknown>[] = [];
    const ended = () => {
      done++;
      for (const milestone of milestones) if (done === milestone.at) acting.push(milestone.act());
    };
    await Promise.all([pool, ...others].map((client) => requests(client, ended)));
    await Promise.all(acting);
    ok(acting.length === 2, "the node was killed and Redis restarted mid-run");
  } finally {
    for (const other of others) await other.close({ force: true });
  }
}

/** Sends the seeded mix of requests through `pool`, calling `ended` as each ends, and checks each. */
async function requests(pool: ClusterPool, ended: () => void) {
  const next = random(SEED);
  const reason = new Error("aborted by the cluster fault run");
  const times = new Int32Array(COUNT);
  const checks: Promise<void>[] = [];
  for (let i = 0; i < COUNT; i++) {
    let r = next() * 100;
    let kind: Kind = "ok";
    for (const [k, weight] of mix) if ((r -= weight) < 0 && kind === "ok") kind = k;
    const where = `request ${i} (${kind}, seed ${SEED})`;
    const value = Math.floor(next() * 1000);
    const controller = new AbortController();
    const call = kind === "ok"
      ? pool.run(task("delayed"), [value, 5 + (value % 20)])
      : kind === "throw"
      ? pool.run(raw("fail"), [`fault ${i}`])
      : kind === "timeout"
      ? pool.run(task("delayed"), [value, 3_000], { timeout: 50 })
      : pool.run(task("delayed"), [value, 3_000], { signal: controller.signal });
    if (kind === "queuedAbort") controller.abort(reason);
    if (kind === "runningAbort") setTimeout(() => controller.abort(reason), next() * 200);
    checks.push(
      call.then(
        (result) => {
          times[i]!++;
          equal(kind, "ok", `${where}: resolved with ${result}`);
          equal(result, value, where);
        },
        (error) => {
          times[i]!++;
          if (kind === "throw") ok(error instanceof TaskError, `${where}: ${error}`);
          else if (kind === "timeout") {
            ok(error instanceof TaskTimeoutError, `${where}: ${error}`);
          } else if (kind.endsWith("Abort")) equal(error, reason, where);
          else throw new Error(`${where}: ${error?.stack ?? error}`);
        },
      ).finally(ended),
    );
  }
  await Promise.all(checks);
  for (let i = 0; i < COUNT; i++) equal(times[i], 1, `request ${i} ended ${times[i]} times`);
  equal(pool.pending, 0);
}
