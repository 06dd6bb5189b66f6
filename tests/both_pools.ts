/**
 * Behaviours both pools must show alike, written once: each test file runs
 * them on its own pool (a ThreadPool, or a ClusterPool with a real node).
 */
import { equal, ok } from "node:assert/strict";
import type { ClusterPool } from "../cluster.ts";
import { type ThreadPool, WorkRequest } from "../mod.ts";
import { task } from "./helpers.ts";

type Pool = ThreadPool | ClusterPool;

/**
 * A follower of the result channel, started before any request: takes a
 * first burst of `burst` requests, waits through a pause, takes one more,
 * and ends at close(). Closes the pool.
 */
export async function followsUntilClose(pool: Pool, burst: number): Promise<void> {
  const seen: number[] = [];
  let firstBurst!: () => void;
  const firstBurstSeen = new Promise<void>((resolve) => firstBurst = resolve);
  // Started before any request is put: without follow it would end at once.
  const consumer = (async () => {
    for await (const outcome of pool.results({ follow: true })) {
      ok(outcome.ok);
      seen.push(outcome.value as number);
      if (seen.length === burst) firstBurst();
    }
    return "ended";
  })();
  for (let i = 1; i <= burst; i++) await pool.putRequest(new WorkRequest(task("add"), [i, 0]));
  await firstBurstSeen;
  equal(pool.pending, 0, "the consumer took every outcome and waits on");
  await pool.putRequest(new WorkRequest(task("add"), [burst + 1, 0]));
  await pool.close();
  equal(await consumer, "ended");
  equal(
    seen.toSorted((a, b) => a - b).join(),
    Array.from({ length: burst + 1 }, (_, i) => i + 1).join(),
  );
}

/**
 * A caller slower than its task's progress reports gets the latest values
 * in order, the last before the result, never a backlog.
 */
export async function slowListenerGetsTheLatest(pool: Pool): Promise<void> {
  const heard: number[] = [];
  const result = await pool.run(task("countAloud"), [200_000], {
    onProgress: (value) => {
      heard.push(value as number);
      // A slow listener: the task reports far faster than this takes.
      const until = performance.now() + 1;
      while (performance.now() < until);
    },
  });
  equal(result, 200_000);
  equal(heard.at(-1), 200_000, "the last report arrives before the result");
  ok(heard.every((value, i) => i === 0 || value > heard[i - 1]!), "reports arrive in order");
  ok(heard.length < 2_000, `${heard.length} reports of 200,000 were handed on`);
}

/** `stepAloud(steps)`'s reports as heard: steps in increasing order, the last one among them. */
export function inOrderEndingWith(reports: unknown[], steps: number): void {
  const heard = reports.map((report) => {
    const { step, of } = report as { step: number; of: number };
    equal(of, steps);
    return step;
  });
  ok(heard.every((step, i) => i === 0 || step > heard[i - 1]!), heard.join());
  equal(heard.at(-1), steps, "the last report arrives before the result");
}
