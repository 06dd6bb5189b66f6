/**
 * What a queued request costs: puts N tiny requests on a pool with no
 * workers (so every one stays queued) and reports heap and RSS per request.
 *
 *   deno run --allow-read --v8-flags=--expose-gc bench/queue_memory.ts [N=1000000] [run|put]
 *
 * Each way is measured in a process of its own (without a second argument,
 * this script starts one per way), so neither sees the other's garbage.
 */
import { ThreadPool, WorkRequest } from "../mod.ts";

const count = Number(Deno.args[0] ?? 1_000_000);
const only = Deno.args[1];
const task = { module: new URL("./bench_tasks.ts", import.meta.url), name: "add" };
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function measure(): { heap: number; rss: number } {
  gc();
  const { heapUsed, rss } = Deno.memoryUsage();
  return { heap: heapUsed, rss };
}

if (only === undefined) {
  for (const way of ["run", "put"]) {
    const { success } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--v8-flags=--expose-gc",
        import.meta.filename!,
        String(count),
        way,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!success) Deno.exit(1);
  }
  Deno.exit(0);
}

for (const how of only === "run" ? ["run()"] : ["putRequest()"]) {
  const pool = new ThreadPool(0);
  const before = measure();
  const keep: unknown[] = [];
  for (let i = 0; i < count; i++) {
    if (how === "run()") {
      keep.push(pool.run(task, [i, 1]));
    } else {
      const request = new WorkRequest(task, [i, 1], { excCallback: null });
      keep.push(pool.putRequest(request));
    }
  }
  await Promise.resolve();
  const after = measure();
  const perHeap = (after.heap - before.heap) / count;
  const perRss = (after.rss - before.rss) / count;
  console.log(
    `${how}: ${count.toLocaleString("en")} queued requests: ` +
      `${(after.heap / 2 ** 20).toFixed(0)} MiB heap, ${
        (after.rss / 2 ** 20).toFixed(0)
      } MiB RSS; ` +
      `${perHeap.toFixed(0)} bytes of heap and ${perRss.toFixed(0)} of RSS per request ` +
      `(the caller's own promise and argument array included)`,
  );
  // The run() promises are failed by close({ force: true }): handled only now, after the
  // measurement, so that a handler per promise is not counted as the pool's.
  const settled = Promise.allSettled(keep);
  await pool.close({ force: true });
  await settled;
  keep.length = 0;
}
