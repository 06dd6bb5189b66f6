/**
 * A task that parses a large file and yields its records as it reads them,
 * read here with `for await` and left half-way: the task is never more than
 * `highWaterMark` records ahead, and stops (closing its file) when the loop
 * is left.
 *
 * Run: deno run --allow-read --allow-write examples/stream.ts
 */
import { taskModule, ThreadPool } from "@scope/threadpool";

const tasks = taskModule<typeof import("./stream_tasks.ts")>(
  new URL("./stream_tasks.ts", import.meta.url),
);

// A file of 100,000 records.
const path = await Deno.makeTempFile({ suffix: ".csv" });
const rows = Array.from({ length: 100_000 }, (_, i) => `${i},item ${i},${i % 100}`);
await Deno.writeTextFile(path, ["id,name,amount", ...rows, ""].join("\n"));

await using pool = new ThreadPool(1);
let read = 0;
let total = 0;
for await (const row of pool.stream(tasks("parseCsv"), [path], { highWaterMark: 64 })) {
  total += row.amount;
  if (++read === 50_000) break; // enough: the task stops too
}
console.log(`read ${read} records, amounts summing to ${total}`);

const { parsed, closed } = await pool.run(tasks("lastParse"));
console.log(`the task parsed ${parsed - read} more (at most 64 ahead); its file closed: ${closed}`);
await Deno.remove(path);
