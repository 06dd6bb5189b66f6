/**
 * Fault injection: many requests through a small pool, a seeded random mix of
 * normal tasks, errors, rejections, worker deaths, unclonable results, aborts
 * (queued and running) and timeouts (async hangs and cooperative spins); with
 * `sandboxed`, workers without permissions and tasks that overstep them.
 * Every request must end exactly once, in the outcome class its fault calls
 * for; every normal result must be right; the pool must keep its size and
 * leave no thread alive after close().
 *
 * The test runs it with a modest count; to run it large:
 *   deno run --allow-read tests/fault_injection_large.ts 100000 [seed] [sandboxed]
 */
import { equal, ok } from "node:assert/strict";
import { TaskError, TaskTimeoutError, ThreadPool, WorkerLostError, WorkRequest } from "../mod.ts";
import type { Fault } from "./fixtures/faults.ts";

const faultTask = { module: new URL("./fixtures/faults.ts", import.meta.url), name: "fault" };

const mix: [Fault, number][] = [
  ["ok", 55],
  ["throw", 8],
  ["reject", 7],
  ["exit", 4],
  ["close", 4],
  ["unclonable", 5],
  ["queuedAbort", 6],
  ["runningAbort", 4],
  ["timeoutAsync", 3],
  ["timeoutSpin", 4],
];

/** A small seeded generator (mulberry32), so a failure can be replayed. */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick(next: () => number, sandboxed: boolean): Fault {
  let r = next() * (sandboxed ? 105 : 100);
  for (const [kind, weight] of sandboxed ? [...mix, ["denied", 5] as const] : mix) {
    if ((r -= weight) < 0) return kind;
  }
  return "ok";
}

/** What the fault-injection run saw. */
export interface FaultReport {
  count: number;
  byKind: Record<string, number>;
  abandoned: number;
  milliseconds: number;
}

/**
 * Runs `count` requests with faults drawn from `seed`, asserting every
 * outcome; `sandboxed` runs them on workers with no permissions, and `lane`
 * says whether the pool uses its shared-memory lane. Only the requests that
 * report their start (to be aborted while running) carry shared memory,
 * which the lane cannot: the others travel by the lane, between them.
 */
export async function runFaultInjection(
  count: number,
  seed: number,
  sandboxed = false,
  lane = true,
): Promise<FaultReport> {
  const start = performance.now();
  const workers = 2;
  const pool = new ThreadPool(workers, {
    cancelGrace: 20,
    maxQueue: 64,
    lane,
    ...(sandboxed && { permissions: "none" as const }),
  });
  const next = random(seed);
  const started = new Int32Array(new SharedArrayBuffer(4 * count));
  const settledTimes = new Int32Array(count);
  const byKind: Record<string, number> = {};
  const reason = new Error("aborted by the fault-injection test");
  const checks: Promise<void>[] = [];

  const expect = (
    i: number,
    kind: Fault,
    value: number,
    outcome: PromiseSettledResult<unknown>,
  ) => {
    settledTimes[i]!++;
    const where = `request ${i} (${kind}, seed ${seed})`;
    if (kind === "ok") {
      equal(
        outcome.status,
        "fulfilled",
        `${where}: ${String((outcome as PromiseRejectedResult).reason)}`,
      );
      equal((outcome as PromiseFulfilledResult<unknown>).value, value * 2, where);
      return;
    }
    equal(outcome.status, "rejected", where);
    const error = (outcome as PromiseRejectedResult).reason;
    switch (kind) {
      case "throw":
      case "reject":
      case "unclonable":
        ok(error instanceof TaskError, `${where}: ${error}`);
        break;
      case "denied":
        ok(
          error instanceof TaskError && error.cause instanceof Deno.errors.NotCapable,
          `${where}: ${error}`,
        );
        break;
      case "exit":
      case "close":
        ok(error instanceof WorkerLostError, `${where}: ${error}`);
        break;
      case "queuedAbort":
      case "runningAbort":
        equal(error, reason, `${where}: ${error}`);
        break;
      case "timeoutAsync":
      case "timeoutSpin":
        ok(error instanceof TaskTimeoutError, `${where}: ${error}`);
        break;
    }
  };

  for (let i = 0; i < count; i++) {
    const kind = pick(next, sandboxed);
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    const value = Math.floor(next() * 1000);
    const controller = kind.endsWith("Abort") ? new AbortController() : undefined;
    const options = {
      ...(controller && { signal: controller.signal }),
      ...(kind.startsWith("timeout") && { timeout: 10 }),
    };
    const args = [kind, value, kind === "runningAbort" ? started : null, i];
    if (next() < 0.3) {
      // Through the ancestor's path: exactly one callback, once.
      const request = new WorkRequest(faultTask, args, {
        ...options,
        callback: (_, result) => expect(i, kind, value, { status: "fulfilled", value: result }),
        excCallback: (_, error) => expect(i, kind, value, { status: "rejected", reason: error }),
      });
      await pool.putRequest(request);
    } else {
      const run = pool.run(faultTask, args, options);
      checks.push(run.then(
        (result) => expect(i, kind, value, { status: "fulfilled", value: result }),
        (error) => expect(i, kind, value, { status: "rejected", reason: error }),
      ));
    }
    if (kind === "queuedAbort") controller!.abort(reason);
    if (kind === "runningAbort") {
      checks.push((async () => {
        while (Atomics.load(started, i) === 0) {
          const { async, value } = Atomics.waitAsync(started, i, 0);
          if (async) await value;
        }
        controller!.abort(reason);
      })());
    }
    // Deliver put requests' outcomes as we go, as a long-running program would.
    if (pool.pending > 32) await pool.poll();
  }
  await Promise.all(checks);
  await pool.wait();
  equal(pool.pending, 0);
  equal(pool.size, workers, "the pool kept its size");
  await pool.close();
  equal(pool.liveThreads, 0, "no thread alive after close()");
  for (let i = 0; i < count; i++) {
    equal(settledTimes[i], 1, `request ${i} settled ${settledTimes[i]} times`);
  }
  return { count, byKind, abandoned: pool.abandoned, milliseconds: performance.now() - start };
}
