import { equal, ok } from "node:assert/strict";
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
    faultRun,
    { batch },
    ["--appendonly", "yes"],
  );
}

async function faultRun({ redis, pool, node }: ClusterContext) {
  const lease = ["--lease", "1500", "--workers", "2"];
  const doomed = await node(lease);
  await node(lease);
  const next = random(SEED);
  const reason = new Error("aborted by the cluster fault run");
  const ended = new Int32Array(COUNT);
  let done = 0;
  const checks: Promise<void>[] = [];
  const milestones: { at: number; act: () => Promise<unknown> }[] = [
    { at: 120, act: () => doomed.stop("SIGKILL") },
    { at: 260, act: () => redis.restart() },
  ];
  const acting: Promise<unknown>[] = [];
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
          ended[i]!++;
          equal(kind, "ok", `${where}: resolved with ${result}`);
          equal(result, value, where);
        },
        (error) => {
          ended[i]!++;
          if (kind === "throw") ok(error instanceof TaskError, `${where}: ${error}`);
          else if (kind === "timeout") {
            ok(error instanceof TaskTimeoutError, `${where}: ${error}`);
          } else if (kind.endsWith("Abort")) equal(error, reason, where);
          else throw new Error(`${where}: ${error?.stack ?? error}`);
        },
      ).finally(() => {
        done++;
        for (const milestone of milestones) {
          if (done === milestone.at) acting.push(milestone.act());
        }
      }),
    );
  }
  await Promise.all(checks);
  await Promise.all(acting);
  ok(acting.length === 2, "the node was killed and Redis restarted mid-run");
  for (let i = 0; i < COUNT; i++) equal(ended[i], 1, `request ${i} ended ${ended[i]} times`);
  equal(pool.pending, 0);
}
