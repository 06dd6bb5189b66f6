/**
 * A resource per thread: each worker's thread opens a log in the pool's
 * initializer, its tasks write to it, and the finalizer closes it when the
 * thread stops.
 *
 * Run: deno run --allow-read --allow-write examples/per_thread.ts
 */
import { taskModule, ThreadPool } from "@scope/threadpool";

const tasks = taskModule<typeof import("./per_thread_tasks.ts")>(
  new URL("./per_thread_tasks.ts", import.meta.url),
);
const path = await Deno.makeTempFile({ suffix: ".log" });

const pool = new ThreadPool(2, {
  initializer: { ...tasks("openLog"), args: [path] },
  finalizer: tasks("closeLog"),
});
for await (const hex of pool.map(tasks("hash"), ["a", "b", "c", "d"])) {
  console.log(hex.slice(0, 16));
}
await pool.close(); // when this resolves, every thread's finalizer has run

const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
const closed = lines.filter((line) => line === "closed").length;
console.log(`${lines.length - closed} hashes logged; the log closed by ${closed} threads`);
await Deno.remove(path);
