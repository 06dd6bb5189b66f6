/**
 * `deno bench --allow-read bench/`: the pool beside the raw Web Worker floor
 * (one postMessage per task), measured in the same run. Each iteration starts
 * fresh workers and warms them outside the timed part. Read the ratios, not
 * the times: this machine is shared and noisy.
 */
import { makeRequests, taskModule, ThreadPool } from "../mod.ts";
import { RawPool } from "./raw_pool.ts";
import { TimingWindow } from "../src/core/stats.ts";

const WORKERS = 2;
const TINY = 10_000;
const CPU_JOBS = 16;
const CPU_N = 25;
const tasks = taskModule<typeof import("./bench_tasks.ts")>(
  new URL("./bench_tasks.ts", import.meta.url),
);
const options = { n: 10, warmup: 2 };

async function warmPool(): Promise<ThreadPool> {
  const pool = new ThreadPool(WORKERS);
  await Promise.all(Array.from({ length: WORKERS * 2 }, () => pool.run(tasks("add"), [1, 1])));
  return pool;
}

/** 10,000 tiny tasks through `run()`, all submitted at once, on warm workers. */
async function tinyRuns(b: Deno.BenchContext): Promise<void> {
  const pool = await warmPool();
  b.start();
  await Promise.all(Array.from({ length: TINY }, (_, i) => pool.run(tasks("add"), [i, 1])));
  b.end();
  await pool.close();
}

Deno.bench({
  name: "raw workers: 10,000 tiny tasks",
  group: "tiny tasks",
  baseline: true,
  ...options,
  async fn(b) {
    const raw = await RawPool.start(WORKERS);
    b.start();
    await Promise.all(Array.from({ length: TINY }, (_, i) => raw.run("add", [i, 1])));
    b.end();
    raw.close();
  },
});

Deno.bench({
  name: "ThreadPool.run(): 10,000 tiny tasks",
  group: "tiny tasks",
  ...options,
  fn: tinyRuns,
});

Deno.bench({
  name: "ThreadPool.map(chunkSize: 64): 10,000 tiny tasks",
  group: "tiny tasks",
  ...options,
  async fn(b) {
    const pool = await warmPool();
    const inputs = Array.from({ length: TINY }, (_, i) => [i, 1]);
    b.start();
    for await (const _ of pool.map(tasks("add"), inputs, { chunkSize: 64 }));
    b.end();
    await pool.close();
  },
});

Deno.bench({
  name: "putRequest() + wait(): 10,000 tiny tasks with callbacks",
  group: "tiny tasks",
  ...options,
  async fn(b) {
    const pool = await warmPool();
    let sum = 0;
    const requests = makeRequests<number>(
      tasks("add"),
      Array.from({ length: TINY }, (_, i) => [i, 1]),
      (_, result) => sum += result,
    );
    b.start();
    for (const request of requests) await pool.putRequest(request);
    await pool.wait();
    b.end();
    await pool.close();
  },
});

// Statistics are always recorded (about one clock read and two stores per
// request), so every ThreadPool figure above includes them. This group shows
// what reading them adds (a progress display calling stats() after every
// 1,000 results), and what the recording alone costs for as many requests.
Deno.bench({
  name: "ThreadPool.run(): 10,000 tiny tasks, stats() not read",
  group: "stats",
  baseline: true,
  ...options,
  fn: tinyRuns,
});

Deno.bench({
  name: "ThreadPool.run(): 10,000 tiny tasks, stats() read after every 1,000 results",
  group: "stats",
  ...options,
  async fn(b) {
    const pool = await warmPool();
    let done = 0;
    let completed = 0;
    b.start();
    await Promise.all(
      Array.from({ length: TINY }, (_, i) =>
        pool.run(tasks("add"), [i, 1]).then(() => {
          if (++done % 1_000 === 0) completed = pool.stats().completed;
        })),
    );
    b.end();
    if (completed < TINY - 1_000) throw new Error(`stats() saw ${completed} completed`);
    await pool.close();
  },
});

Deno.bench({
  name: "what recording statistics adds to 10,000 requests: 2 × 10,000 timings",
  group: "stats",
  n: 1_000,
  warmup: 100,
  fn() {
    const waits = new TimingWindow();
    const runs = new TimingWindow();
    for (let i = 0; i < TINY; i++) {
      const now = performance.now();
      waits.add(now - i);
      runs.add(now - i);
    }
  },
});

Deno.bench({
  name: `raw workers: ${CPU_JOBS} × fib(${CPU_N})`,
  group: "cpu-bound",
  baseline: true,
  ...options,
  async fn(b) {
    const raw = await RawPool.start(WORKERS);
    b.start();
    await Promise.all(Array.from({ length: CPU_JOBS }, () => raw.run("fib", [CPU_N])));
    b.end();
    raw.close();
  },
});

Deno.bench({
  name: `ThreadPool.run(): ${CPU_JOBS} × fib(${CPU_N})`,
  group: "cpu-bound",
  ...options,
  async fn(b) {
    const pool = await warmPool();
    b.start();
    await Promise.all(Array.from({ length: CPU_JOBS }, () => pool.run(tasks("fib"), [CPU_N])));
    b.end();
    await pool.close();
  },
});
