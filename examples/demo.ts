/**
 * threadpool.py's annotated example, with this module's API: 40 requests,
 * 3 workers, 3 more added mid-run and 2 dismissed later, a poll loop that
 * prints as it goes, then the dismissed workers joined.
 *
 * Run: deno run --allow-read examples/demo.ts
 */
import { makeRequests, NoResultsPending, ThreadPool, type WorkRequest } from "@scope/threadpool";

const doSomething = { module: new URL("./demo_tasks.ts", import.meta.url), name: "doSomething" };

// Called on this thread, during poll(), with each result.
function printResult(request: WorkRequest, result: unknown): void {
  console.log(`**** Result from request #${request.requestID}: ${result}`);
}

// Called on this thread, during poll(), with each failure.
function handleException(request: WorkRequest, error: Error): void {
  console.log(`**** Exception occurred in request #${request.requestID}: ${error.message}`);
}

const randomData = () => 1 + Math.floor(Math.random() * 10);

// 20 requests from plain values (each is the single argument) ...
const requests = makeRequests(
  doSomething,
  Array.from({ length: 20 }, randomData),
  printResult,
  handleException,
);
// ... and 20 from argument lists (each is spread), as the ancestor's ((n,), {}) tuples.
requests.push(
  ...makeRequests(
    doSomething,
    Array.from({ length: 20 }, () => [randomData()]),
    printResult,
    handleException,
  ),
);

console.log("Creating thread pool with 3 worker threads.");
const pool = new ThreadPool(3);

for (const request of requests) {
  await pool.putRequest(request);
  console.log(`Work request #${request.requestID} added.`);
}

let interrupted = false;
const onInterrupt = () => interrupted = true;
Deno.addSignalListener("SIGINT", onInterrupt);

for (let i = 0;; i++) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  try {
    await pool.poll();
  } catch (error) {
    if (!(error instanceof NoResultsPending)) throw error;
    console.log("**** No pending results.");
    break;
  }
  console.log(`Main thread working... (active worker threads: ${pool.size})`);
  if (i === 10) {
    console.log("**** Adding 3 more worker threads...");
    pool.createWorkers(3);
  }
  if (i === 20) {
    console.log("**** Dismissing 2 worker threads...");
    await pool.dismissWorkers(2);
  }
  if (interrupted) {
    console.log("**** Interrupted!");
    break;
  }
}
Deno.removeSignalListener("SIGINT", onInterrupt);

if (pool.dismissed > 0) {
  console.log("Joining all dismissed worker threads...");
  await pool.joinAllDismissedWorkers();
}
await pool.close({ force: interrupted });
console.log(`Done: ${pool.liveThreads} worker threads left alive.`);
