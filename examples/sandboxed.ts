/**
 * Workers with fewer permissions than the program: one pool may do nothing
 * but run its tasks, another may reach one host. The pool grants each worker
 * read access to the task module it imports, and nothing else.
 *
 * Run: deno run --allow-read --allow-net=127.0.0.1 --unstable-worker-options examples/sandboxed.ts
 */
import { TaskError, taskModule, ThreadPool } from "@scope/threadpool";
import type * as Tasks from "./sandboxed_tasks.ts";

const task = taskModule<typeof Tasks>(new URL("./sandboxed_tasks.ts", import.meta.url));
const config = new URL("../deno.json", import.meta.url).pathname;

// A local server stands in for the network, so that the example runs offline.
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  () => new Response("hello from the server"),
);
const host = `127.0.0.1:${server.addr.port}`;

/** What a task refused by its permissions fails with, in one line. */
function refusal(error: unknown): string {
  if (!(error instanceof TaskError) || !(error.cause instanceof Error)) throw error;
  return `refused, ${error.cause.name}: ${error.message.split(",")[0]}`;
}

// Giving workers their own permissions needs Deno's --unstable-worker-options,
// which the command above passes; without --allow-all the pool cannot read the
// command line to see it, so the program says so.
const unstableWorkerOptions = true;

try {
  {
    await using pool = new ThreadPool(1, { permissions: "none", unstableWorkerOptions });
    console.log('permissions "none":');
    console.log("  count words:", await pool.run(task("countWords"), ["the quick brown fox"]));
    console.log("  fetch:", await pool.run(task("fetchText"), [`http://${host}/`]).catch(refusal));
    console.log("  read deno.json:", await pool.run(task("readText"), [config]).catch(refusal));
  }
  {
    await using pool = new ThreadPool(1, { permissions: { net: [host] }, unstableWorkerOptions });
    console.log(`permissions { net: ["${host}"] }:`);
    console.log("  fetch:", await pool.run(task("fetchText"), [`http://${host}/`]));
    console.log("  read deno.json:", await pool.run(task("readText"), [config]).catch(refusal));
  }
} finally {
  await server.shutdown();
}
