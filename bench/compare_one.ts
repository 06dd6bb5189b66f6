/**
 * One measurement of one contender, in a fresh process (bench/compare.ts
 * starts it): prints a JSON number.
 *
 *   deno run -A bench/compare_one.ts <contender> <measure>
 */
import { type Contender, type ContenderName, open } from "./contenders.ts";
import { fib } from "./bench_tasks.ts";
import process from "node:process";

const [name, measure] = Deno.args as [ContenderName, string];
const WORKERS = 2;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/**
 * Opens a pool and has every worker answer once: the state the floor's own
 * start leaves it in (a pool may start its threads as work comes).
 */
async function warmed(
  name: ContenderName,
  workers: number,
  options?: { concurrency?: number },
): Promise<Contender> {
  const pool = await open(name, workers, options);
  await Promise.all(Array.from({ length: 2 * workers }, (_, i) => pool.run("add", [i, 1])));
  return pool;
}

async function measured(): Promise<number> {
  switch (measure) {
    case "first": {
      // Milliseconds from process start to the first result, module loading included.
      const pool = await open(name, WORKERS);
      await pool.run("add", [1, 1]);
      const at = performance.now();
      await pool.close();
      return at;
    }
    case "tiny": {
      // Tiny tasks per second: 100,000 `add` submitted at once.
      const pool = await open(name, WORKERS);
      await Promise.all(Array.from({ length: 1_000 }, (_, i) => pool.run("add", [i, 1])));
      const start = performance.now();
      await Promise.all(Array.from({ length: 100_000 }, (_, i) => pool.run("add", [i, 1])));
      const rate = 100_000 / ((performance.now() - start) / 1000);
      await pool.close();
      return rate;
    }
    case "tinyPriority": {
      // The same, each call with one of four priorities: what the priority queues cost.
      const pool = await open(name, WORKERS);
      await Promise.all(Array.from({ length: 1_000 }, (_, i) => pool.run("add", [i, 1])));
      const start = performance.now();
      await Promise.all(
        Array.from({ length: 100_000 }, (_, i) => pool.addWithPriority!([i, 1], i % 4)),
      );
      const rate = 100_000 / ((performance.now() - start) / 1000);
      await pool.close();
      return rate;
    }
    case "latency": {
      // Microseconds for one request when nothing else runs: the median of 2,000.
      const pool = await open(name, WORKERS);
      for (let i = 0; i < 200; i++) await pool.run("add", [i, 1]);
      const samples: number[] = [];
      for (let i = 0; i < 2_000; i++) {
        const start = performance.now();
        await pool.run("add", [i, 1]);
        samples.push((performance.now() - start) * 1000);
      }
      await pool.close();
      return median(samples);
    }
    case "cpu":
    case "cpu1": {
      // Speedup of 32 × fib(27) on 2 (cpu) or 1 (cpu1) workers over this
      // thread alone. Each side is warmed alike (the JIT, not the pool, rules a
      // cold run) and timed three times; the best time counts.
      const jobs = 32;
      const best = async (run: () => Promise<unknown> | unknown) => {
        let fastest = Infinity;
        for (let i = 0; i < 3; i++) {
          const start = performance.now();
          await run();
          fastest = Math.min(fastest, performance.now() - start);
        }
        return fastest;
      };
      const sequentially = () => {
        for (let i = 0; i < jobs; i++) fib(27);
      };
      sequentially();
      const sequential = await best(sequentially);
      const pool = await open(name, measure === "cpu" ? WORKERS : 1);
      const inParallel = () =>
        Promise.all(Array.from({ length: jobs }, () => pool.run("fib", [27])));
      await inParallel();
      const parallel = await best(inParallel);
      await pool.close();
      return sequential / parallel;
    }
    case "transfer": {
      // MiB/s moving 64 buffers of 8 MiB to a worker and back, by transfer.
      const pool = await warmed(name, WORKERS);
      const buffers = Array.from({ length: 64 }, () => new Uint8Array(8 * 2 ** 20));
      const start = performance.now();
      const back = await Promise.all(
        buffers.map((bytes) => pool.run("echoBytes", [bytes], [bytes.buffer])),
      );
      const elapsed = performance.now() - start;
      await pool.close();
      const moved = (back as Uint8Array[]).every((bytes, i) =>
        bytes.byteLength === 8 * 2 ** 20 && buffers[i]!.byteLength === 0
      );
      if (!moved) throw new Error("the buffers were copied, not moved");
      return (64 * 8 * 2) / (elapsed / 1000);
    }
    case "rss": {
      // Peak resident MiB with 100,000 tiny tasks queued at once.
      const pool = await open(name, WORKERS);
      let peak = Deno.memoryUsage().rss;
      const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 5);
      const runs = Array.from({ length: 100_000 }, (_, i) => pool.run("add", [i, 1]));
      peak = Math.max(peak, Deno.memoryUsage().rss);
      await Promise.all(runs);
      clearInterval(sampler);
      peak = Math.max(peak, Deno.memoryUsage().rss);
      await pool.close();
      return peak / 2 ** 20;
    }
    case "idle": {
      // CPU milliseconds the whole process spends over 5 s with the pool idle, its threads alive.
      const pool = await open(name, WORKERS, { idleTimeout: Infinity });
      await Promise.all(Array.from({ length: 1_000 }, (_, i) => pool.run("add", [i, 1])));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const before = process.cpuUsage();
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      const { user, system } = process.cpuUsage(before);
      await pool.close();
      return (user + system) / 1000;
    }
    case "stream": {
      // Values per second from one stream of 1,000,000 small values (raw: one message each).
      const pool = await warmed(name, WORKERS);
      const start = performance.now();
      const read = await pool.stream!(1_000_000);
      const rate = read / ((performance.now() - start) / 1000);
      await pool.close();
      if (read !== 1_000_000) throw new Error(`${read} values came`);
      return rate;
    }
    case "streamRuns": {
      // The same values from 1,000,000 run() calls, per second.
      const pool = await warmed(name, WORKERS);
      const start = performance.now();
      await Promise.all(Array.from({ length: 1_000_000 }, (_, i) => pool.run("add", [i, 0])));
      const rate = 1_000_000 / ((performance.now() - start) / 1000);
      await pool.close();
      return rate;
    }
    case "streamRss":
    case "streamRss100k": {
      // Peak resident MiB while a stream of 1,000,000 (or 100,000) values is read slowly.
      const pool = await warmed(name, WORKERS);
      let peak = Deno.memoryUsage().rss;
      const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 5);
      await pool.stream!(measure === "streamRss" ? 1_000_000 : 100_000, 100);
      clearInterval(sampler);
      peak = Math.max(peak, Deno.memoryUsage().rss);
      await pool.close();
      return peak / 2 ** 20;
    }
    case "io1":
    case "io8": {
      // Async I/O tasks (a 10 ms sleep) per second, at concurrency 1 or 8 per worker.
      const concurrency = measure === "io8" ? 8 : 1;
      const pool = await warmed(name, WORKERS, { concurrency });
      await pool.run("sleep", [1]);
      const start = performance.now();
      await Promise.all(Array.from({ length: 160 }, () => pool.run("sleep", [10])));
      const rate = 160 / ((performance.now() - start) / 1000);
      await pool.close();
      return rate;
    }
  }
  throw new Error(`unknown measure ${measure}`);
}

console.log(JSON.stringify(await measured()));
// Peers' threads may linger; the measurement is done.
Deno.exit(0);
