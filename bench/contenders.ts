/**
 * The pools bench/compare.ts measures, behind one small interface: this
 * module's ThreadPool (with its shared-memory lane, and without it: every
 * task by message), the raw Web Worker floor, and two peers from npm.
 */
import { taskModule, ThreadPool } from "../mod.ts";
import { RawPool } from "./raw_pool.ts";

/** A pool as the comparison drives it. */
export interface Contender {
  run(
    name: "add" | "fib" | "echoBytes" | "sleep",
    args: unknown[],
    transfer?: ArrayBuffer[],
  ): Promise<unknown>;
  close(): Promise<void>;
  /**
   * Reads a stream of `n` small values from one task, a turn of the event
   * loop every `pause` values (0: never); resolves with how many came. Only
   * where streams exist.
   */
  stream?(n: number, pause?: number): Promise<number>;
  /** Runs `add` with a priority. Only where priorities exist. */
  addWithPriority?(args: [number, number], priority: number): Promise<unknown>;
}

/** Every contender's name; the first is the floor the others are measured against. */
export const CONTENDERS = [
  "raw",
  "threadpool",
  "threadpool-nolane",
  "piscina",
  "workerpool",
] as const;
export type ContenderName = (typeof CONTENDERS)[number];

const tasks = taskModule<typeof import("./bench_tasks.ts")>(
  new URL("./bench_tasks.ts", import.meta.url),
);

/** Starts `workers` workers of the named pool. */
export async function open(
  name: ContenderName,
  workers: number,
  options: { concurrency?: number; idleTimeout?: number } = {},
): Promise<Contender> {
  switch (name) {
    case "raw": {
      const raw = await RawPool.start(workers);
      return {
        run: (task, args, transfer) => raw.run(task, args, transfer),
        close: () => Promise.resolve(raw.close()),
        stream: (n) => raw.stream(n),
      };
    }
    case "threadpool":
    case "threadpool-nolane": {
      const pool = new ThreadPool(workers, {
        concurrency: options.concurrency ?? 1,
        lane: name === "threadpool",
        ...(options.idleTimeout !== undefined && { idleTimeout: options.idleTimeout }),
      });
      return {
        run: (task, args, transfer) =>
          pool.run(tasks(task), args as never, transfer ? { transfer } : {}),
        close: () => pool.close(),
        addWithPriority: (args, priority) => pool.run(tasks("add"), args, { priority }),
        stream: async (n, pause = 0) => {
          let read = 0;
          for await (const _ of pool.stream(tasks("count"), [n])) {
            if (++read % pause === 0) await new Promise((resolve) => setTimeout(resolve, 0));
          }
          return read;
        },
      };
    }
    case "piscina": {
      const { Piscina } = await import("npm:piscina@5.3.2");
      const pool = new Piscina({
        filename: new URL("./peers/piscina_worker.mjs", import.meta.url).href,
        minThreads: workers,
        maxThreads: workers,
        concurrentTasksPerWorker: options.concurrency ?? 1,
      });
      return {
        run: (task, args, transfer) =>
          pool.run({ name: task, args }, transfer ? { transferList: transfer } : {}),
        close: () => pool.destroy(),
      };
    }
    case "workerpool": {
      const { default: workerpool } = await import("npm:workerpool@10.0.3");
      const pool = workerpool.pool(
        new URL("./peers/workerpool_worker.cjs", import.meta.url).pathname,
        {
          minWorkers: workers,
          maxWorkers: workers,
          workerType: "thread",
        },
      );
      return {
        run: (task, args, transfer) =>
          pool.exec(task, args, transfer ? { transfer } : {}) as Promise<unknown>,
        close: async () => void await pool.terminate(),
      };
    }
  }
}
