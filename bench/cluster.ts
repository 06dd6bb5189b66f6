/**
 * The cluster against raw BullMQ, on one machine: a private redis-server,
 * one client and two nodes (serve.ts, one worker each), several rounds, each
 * in a fresh process with its own Redis and nodes; medians, and each ratio as
 * the median of the rounds' own ratios. Ratios, not absolute figures, are what
 * it is for.
 *
 *   deno run -A bench/cluster.ts [rounds=3]
 *   deno run -A bench/cluster.ts --first [reps=4]   (only the first bursts)
 *
 * - the first burst: 3,000 tiny requests, one per call, from a fresh client to
 *   two fresh nodes, against raw BullMQ's addBulk of 3,000 jobs to two fresh
 *   Worker processes (concurrency 16), each side twice, interleaved;
 * - per request: ClusterPool.run() of N tiny tasks against addBulk of N jobs
 *   and one BullMQ Worker (concurrency 50) calling the same function inline,
 *   and how long the first of those results takes; both warmed, 4 passes each,
 *   interleaved, each side first in turn;
 * - map(): 100,000 tiny inputs with chunkSize against raw BullMQ's
 *   one-job-per-input rate;
 * - CPU-bound: 32 × fib(27) on two nodes of one worker against a local
 *   ThreadPool(2), and against raw BullMQ doing the same work (two processes,
 *   each one BullMQ Worker of concurrency 1 calling fib inline): the floor a
 *   job queue sets on this machine, measured in the same run;
 * - Redis's own time per request (`INFO commandstats`, reset before each
 *   pass) for 3,000 requests: raw BullMQ's jobs, the cluster's one request
 *   per job (`batch: 1`), and its batches; and Redis's instructions per
 *   request for the same three, counted by valgrind's callgrind (not inflated
 *   when other processes take Redis's core, as its microseconds are);
 * - one client's CPU per 1,000 requests (its own process, `batch: 1`) alone
 *   on the queue and beside four other clients busy on it, interleaved.
 */
import { cpuUsage } from "node:process";
import { Queue, QueueEvents, Worker } from "npm:bullmq@6.7.0";
import { Redis } from "npm:ioredis@6.0.0";
import { taskModule, ThreadPool } from "../mod.ts";
import { ClusterPool } from "../cluster.ts";
import { freePort, lineMatching, startNode, startRedis } from "../tests/cluster_helpers.ts";
import type * as Tasks from "./bench_tasks.ts";
import { fib } from "./bench_tasks.ts";

const rounds = Number(Deno.args[0] ?? 3);
const root = new URL("../", import.meta.url);
const tasks = taskModule<typeof Tasks>(new URL("./bench_tasks.ts", import.meta.url));
const N = 5_000;
const MAP_INPUTS = 100_000;
const STREAM_N = 100_000;
const CPU_REPS = 7;
const RUN_REPS = 4;
const WARM = 1_000;
/** Requests of each pass whose Redis time is measured. */
const REDIS_N = 3_000;
/** Requests of each side whose Redis instructions are counted (Redis runs ~50× slower then). */
const COUNTED_N = 1_000;
/** Requests of each pass whose client CPU is measured. */
const CPU_N = 2_000;
/** Other clients busy on the queue beside the measured one. */
const BUSY_CLIENTS = 4;

/** A raw BullMQ queue and its events, on connections of their own. */
async function openRawQueue(url: string, queueName: string) {
  const clients = [0, 1].map(() => new Redis(url, { maxRetriesPerRequest: null }));
  // Each job writes several events; at BullMQ's default of 10,000 kept, a pass of thousands of
  // jobs outruns a reader that falls behind (a 2-core machine's busy moment), and the pass would
  // wait for ever for completions trimmed away.
  const queue = new Queue(queueName, {
    connection: clients[0]!,
    streams: { events: { maxLen: 200_000 } },
  });
  // From the stream's start: by default a reader begins at the end as of its first read, which
  // may come after a pass's first completions (seen: a pass waiting for ever for them). Each
  // queue is new in its Redis, so there is nothing older to read.
  const events = new QueueEvents(queueName, {
    connection: clients[1]!,
    blockingTimeout: 1_000,
    lastEventId: "0-0",
  });
  await events.waitUntilReady();
  return {
    /**
     * addBulk of `count` jobs (`job(i)` each), until every one has completed:
     * milliseconds for all, and to the first.
     */
    async pass(count: number, job: (i: number) => object): Promise<[number, number]> {
      let completed = 0;
      let first = 0;
      const all = Promise.withResolvers<void>();
      const onCompleted = () => {
        first ||= performance.now() - begun;
        if (++completed === count) all.resolve();
      };
      events.on("completed", onCompleted);
      const begun = performance.now();
      await queue.addBulk(
        Array.from({ length: count }, (_, i) => ({
          name: queueName,
          data: job(i),
          opts: { removeOnComplete: true },
        })),
      );
      await all.promise;
      events.off("completed", onCompleted);
      return [performance.now() - begun, first];
    },
    async close() {
      await events.close();
      await queue.close();
      for (const client of clients) client.disconnect();
    },
  };
}

/**
 * A raw BullMQ node in its own process: one inline Worker, of concurrency 1
 * running fib on the queue "fib", or of concurrency 16 adding on `queueName`.
 */
async function rawNode(url: string, kind: "fib" | "add", queueName = "fib"): Promise<void> {
  const worker = new Worker(
    queueName,
    (job) => Promise.resolve(kind === "fib" ? fib(job.data.n) : job.data.a + job.data.b),
    {
      connection: new Redis(url, { maxRetriesPerRequest: null }),
      concurrency: kind === "fib" ? 1 : 16,
    },
  );
  await worker.waitUntilReady();
  Deno.addSignalListener("SIGTERM", async () => {
    await worker.close();
    Deno.exit(0);
  });
  console.log("ready");
}

/**
 * Starts this file as a subprocess in `mode` (`--raw-node`: a raw BullMQ node; `--raw-add-node`:
 * one for tiny jobs; `--busy-client`: a client keeping the queue busy); resolves, once it says it
 * is ready, with how to stop it.
 */
async function startHelper(
  mode: "--raw-node" | "--raw-add-node" | "--busy-client",
  url: string,
  ...extra: string[]
): Promise<() => Promise<Deno.CommandStatus>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, mode, url, ...extra],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  await lineMatching(child.stdout, /^ready/, []);
  return async () => {
    child.kill("SIGTERM");
    // BullMQ's Worker.close() can wait for ever: a helper that has not gone in 5 s is killed.
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    try {
      return await child.status;
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Redis's commands and microseconds of its own time per request, over what `pass` sends. */
async function redisTime(
  url: string,
  requests: number,
  pass: () => Promise<unknown>,
): Promise<{ commands: number; us: number }> {
  const admin = new Redis(url);
  await admin.config("RESETSTAT");
  await pass();
  const info = await admin.info("commandstats");
  // Not counted: the two commands this function sends.
  let calls = 0;
  let usec = 0;
  for (const match of info.matchAll(/^cmdstat_(\w+(?:\|\w+)?):calls=(\d+),usec=(\d+)/gm)) {
    if (match[1] === "config|resetstat" || match[1] === "info") continue;
    calls += Number(match[2]);
    usec += Number(match[3]);
  }
  admin.disconnect();
  return { commands: calls / requests, us: usec / requests };
}

/** Requests of a first burst, and how many first bursts each side runs per round. */
const FIRST_N = 3_000;
const FIRST_REPS = 2;

/** Raw BullMQ's first burst: two fresh Worker processes (concurrency 16), a fresh queue; jobs/s. */
async function firstBurstRaw(url: string, queueName: string): Promise<number> {
  const stops = [
    await startHelper("--raw-add-node", url, queueName),
    await startHelper("--raw-add-node", url, queueName),
  ];
  const raw = await openRawQueue(url, queueName);
  try {
    const [ms] = await raw.pass(FIRST_N, (i) => ({ a: i, b: 1 }));
    return FIRST_N / (ms / 1000);
  } finally {
    await raw.close();
    for (const stop of stops) await stop();
  }
}

/** The cluster's first burst: two fresh nodes and a fresh client, one request per call; requests/s. */
async function firstBurstCluster(url: string, queue: string): Promise<number> {
  const nodes = [
    await startNode(url, ["--queue", queue], "bench/"),
    await startNode(url, ["--queue", queue], "bench/"),
  ];
  try {
    await using pool = new ClusterPool({ connection: url, root, queue });
    const begun = performance.now();
    await Promise.all(Array.from({ length: FIRST_N }, (_, i) => pool.run(tasks("add"), [i, 1])));
    return FIRST_N / ((performance.now() - begun) / 1000);
  } finally {
    for (const node of nodes) await node.stop();
  }
}

/**
 * First bursts, each side cold: fresh nodes and a fresh client (a fresh queue
 * for raw BullMQ), `reps` times each, interleaved, each side first in turn.
 */
async function firstBursts(
  url: string,
  reps: number,
): Promise<{ raw: number[]; cluster: number[] }> {
  const raw: number[] = [];
  const cluster: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    if (rep % 2 === 0) raw.push(await firstBurstRaw(url, `first${rep}`));
    cluster.push(await firstBurstCluster(url, `first${rep}`));
    if (rep % 2 === 1) raw.push(await firstBurstRaw(url, `first${rep}`));
  }
  return { raw, cluster };
}

/**
 * Redis's instructions per request, counted by valgrind's callgrind in a
 * Redis of its own: raw BullMQ's jobs, the cluster's one request per job, and
 * its batches. Redis's microseconds (`redisTime`) grow when the processes
 * beside it take its core, as a client and two nodes' threads do on 2 cores;
 * its instructions do not. Null when valgrind is missing.
 */
async function redisInstructions(): Promise<Record<string, number> | null> {
  const found = await new Deno.Command("valgrind", { args: ["--version"], stdout: "null" })
    .output().then((out) => out.success, () => false);
  if (!found) return null;
  const port = freePort();
  const url = `redis://127.0.0.1:${port}`;
  const dir = await Deno.makeTempDir({ prefix: "threadpool-callgrind-" });
  const server = new Deno.Command("valgrind", {
    args: ["--tool=callgrind", `--callgrind-out-file=${dir}/out.%p`, "redis-server"]
      .concat(["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir]),
    stdout: "null",
    stderr: "null",
  }).spawn();
  const admin = new Redis(url, { retryStrategy: () => 100, lazyConnect: true });
  admin.on("error", () => {});
  const nodes = [];
  try {
    await admin.connect().catch(() => {});
    await admin.ping();
    const pid = /process_id:(\d+)/.exec(await admin.info("server"))![1]!;
    const control = (flag: string) =>
      new Deno.Command("callgrind_control", { args: [flag, pid], stdout: "null", stderr: "null" })
        .output();
    const counted = async (pass: () => Promise<unknown>) => {
      await control("-z");
      await pass();
      await control("-d");
      let instructions = 0;
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.name.startsWith("out.")) continue;
        const text = await Deno.readTextFile(`${dir}/${entry.name}`);
        for (const match of text.matchAll(/^summary: (\d+)/gm)) instructions += Number(match[1]);
        await Deno.remove(`${dir}/${entry.name}`);
      }
      return instructions / COUNTED_N;
    };
    const result: Record<string, number> = {};
    {
      const raw = await openRawQueue(url, "add");
      await using _worker = await rawAddWorker(url);
      await raw.pass(300, (i) => ({ a: i, b: 1 }));
      result.raw = await counted(() => raw.pass(COUNTED_N, (i) => ({ a: i, b: 1 })));
      await raw.close();
    }
    nodes.push(await startNode(url, [], "bench/"), await startNode(url, [], "bench/"));
    const runs = (on: ClusterPool, count: number) =>
      Promise.all(Array.from({ length: count }, (_, i) => on.run(tasks("add"), [i, 1])));
    {
      await using single = new ClusterPool({ connection: url, root, batch: 1 });
      await runs(single, 300);
      result.single = await counted(() => runs(single, COUNTED_N));
      await using batched = new ClusterPool({ connection: url, root });
      await runs(batched, 300);
      result.batched = await counted(() => runs(batched, COUNTED_N));
    }
    return result;
  } finally {
    for (const node of nodes) await node.stop();
    await admin.shutdown("NOSAVE").catch(() => {});
    admin.disconnect();
    await server.status;
    await Deno.remove(dir, { recursive: true });
  }
}

/** Raw BullMQ's worker for tiny jobs: one inline Worker of concurrency 50, in this process. */
async function rawAddWorker(url: string): Promise<AsyncDisposable & { close(): Promise<void> }> {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const worker = new Worker("add", (job) => Promise.resolve(job.data.a + job.data.b), {
    connection,
    concurrency: 50,
  });
  await worker.waitUntilReady();
  const close = async () => {
    await worker.close();
    connection.disconnect();
  };
  return { close, [Symbol.asyncDispose]: close };
}

/**
 * A client in its own process, one request per job: after a warm-up, the
 * CPU it spends (user and system) per 1,000 requests of `count`.
 */
async function cpuClient(url: string, count: number): Promise<void> {
  const pool = new ClusterPool({ connection: url, root, batch: 1 });
  const burst = (n: number) =>
    Promise.all(Array.from({ length: n }, (_, i) => pool.run(tasks("add"), [i, 1])));
  await burst(500);
  const before = cpuUsage();
  await burst(count);
  const { user, system } = cpuUsage(before);
  await pool.close();
  console.log(JSON.stringify({ ms: (user + system) / 1000 / (count / 1000) }));
}

/** A client in its own process that keeps the queue busy (one request per job) until SIGTERM. */
async function busyClient(url: string): Promise<void> {
  const pool = new ClusterPool({ connection: url, root, batch: 1 });
  let stopping = false;
  Deno.addSignalListener("SIGTERM", () => stopping = true);
  const burst = () =>
    Promise.all(Array.from({ length: 200 }, (_, i) => pool.run(tasks("add"), [i, 1])));
  await burst();
  console.log("ready");
  while (!stopping) await burst();
  await pool.close();
  Deno.exit(0);
}

/** Runs this file in a new process with `args`; resolves with its last line of output. */
async function inProcess(args: string[]): Promise<string> {
  const { success, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...args],
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`${args[0]} failed`);
  return new TextDecoder().decode(stdout).trim().split("\n").pop()!;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1]!;
}

const MEASURES = [
  "first burst, raw BullMQ (two fresh processes), jobs/s",
  "first burst, ClusterPool (fresh client and nodes), requests/s",
  "raw BullMQ, jobs/s",
  "ClusterPool.run(), requests/s",
  "raw BullMQ, first of 5,000 results, ms",
  "ClusterPool.run(), first of 5,000 results, ms",
  "ClusterPool.map(), chunkSize 1000, inputs/s",
  "ClusterPool.stream(), 100,000 values, values/s",
  "two nodes, 32 × fib(27), ms",
  "local ThreadPool(2), 32 × fib(27), ms",
  "raw BullMQ, two workers, 32 × fib(27), ms",
  "raw BullMQ, Redis µs per job",
  "raw BullMQ, Redis commands per job",
  "ClusterPool, batch: 1, Redis µs per request",
  "ClusterPool, batch: 1, Redis commands per request",
  "ClusterPool, batched, Redis µs per request",
  "ClusterPool, batched, Redis commands per request",
  "one client alone, CPU ms per 1,000 requests",
  "one client beside four busy ones, CPU ms per 1,000 requests",
] as const;
type Measure = typeof MEASURES[number];

/** One round, in this process: a fresh Redis and two fresh nodes; each measure once. */
async function round(): Promise<Record<Measure, number>> {
  const redis = await startRedis();
  const { url } = redis;
  const result = {} as Record<Measure, number>;
  {
    // Before the other measures' nodes start: each side's first burst has two processes alone.
    const first = await firstBursts(url, FIRST_REPS);
    result["first burst, raw BullMQ (two fresh processes), jobs/s"] = median(first.raw);
    result["first burst, ClusterPool (fresh client and nodes), requests/s"] = median(first.cluster);
  }
  const nodes = [await startNode(url, [], "bench/"), await startNode(url, [], "bench/")];
  const rawNodes: (() => Promise<Deno.CommandStatus>)[] = [];
  try {
    {
      await using pool = new ClusterPool({ connection: url, root });
      const raw = await openRawQueue(url, "add");
      const rawWorker = await rawAddWorker(url);
      const rawPass = async (count: number): Promise<[number, number]> => {
        const [ms, first] = await raw.pass(count, (i) => ({ a: i, b: 1 }));
        return [count / (ms / 1000), first];
      };
      const clusterPass = async (count: number): Promise<[number, number]> => {
        const begun = performance.now();
        let first = 0;
        const firstResult = () => first ||= performance.now() - begun;
        await Promise.all(
          Array.from({ length: count }, (_, i) => pool.run(tasks("add"), [i, 1]).then(firstResult)),
        );
        return [count / ((performance.now() - begun) / 1000), first];
      };
      // Both sides warmed alike, then RUN_REPS passes of each, interleaved, each side's median
      // kept: a single cold pass measures the JIT more than the queue.
      await rawPass(WARM);
      await clusterPass(WARM);
      const passes = { raw: [] as [number, number][], cluster: [] as [number, number][] };
      // Each side goes first in turn: a pass pays for what the pass before left (its garbage, its
      // processes' wake-ups), and seen in one order only, that reads as one side being slower.
      for (let rep = 0; rep < RUN_REPS; rep++) {
        if (rep % 2 === 0) passes.raw.push(await rawPass(N));
        passes.cluster.push(await clusterPass(N));
        if (rep % 2 === 1) passes.raw.push(await rawPass(N));
      }
      // Redis's own time per request, each side warm (the batches' pool knows add is short).
      const rawRedis = await redisTime(url, REDIS_N, () => rawPass(REDIS_N));
      await using single = new ClusterPool({ connection: url, root, batch: 1 });
      await Promise.all(Array.from({ length: 500 }, (_, i) => single.run(tasks("add"), [i, 1])));
      const runs = (on: ClusterPool) =>
        Promise.all(Array.from({ length: REDIS_N }, (_, i) => on.run(tasks("add"), [i, 1])));
      const singleRedis = await redisTime(url, REDIS_N, () => runs(single));
      const batchedRedis = await redisTime(url, REDIS_N, () => runs(pool));
      result["raw BullMQ, Redis µs per job"] = rawRedis.us;
      result["raw BullMQ, Redis commands per job"] = rawRedis.commands;
      result["ClusterPool, batch: 1, Redis µs per request"] = singleRedis.us;
      result["ClusterPool, batch: 1, Redis commands per request"] = singleRedis.commands;
      result["ClusterPool, batched, Redis µs per request"] = batchedRedis.us;
      result["ClusterPool, batched, Redis commands per request"] = batchedRedis.commands;
      await rawWorker.close();
      await raw.close();
      // One client's CPU alone on the queue and beside four busy clients, interleaved twice.
      const alone: number[] = [];
      const beside: number[] = [];
      for (let rep = 0; rep < 2; rep++) {
        alone.push(JSON.parse(await inProcess(["--cpu-client", url, String(CPU_N)])).ms);
        const busy = [];
        for (let i = 0; i < BUSY_CLIENTS; i++) busy.push(await startHelper("--busy-client", url));
        beside.push(JSON.parse(await inProcess(["--cpu-client", url, String(CPU_N)])).ms);
        for (const stop of busy) await stop();
      }
      result["one client alone, CPU ms per 1,000 requests"] = median(alone);
      result["one client beside four busy ones, CPU ms per 1,000 requests"] = median(beside);
      result["raw BullMQ, jobs/s"] = median(passes.raw.map(([rate]) => rate));
      result["raw BullMQ, first of 5,000 results, ms"] = median(passes.raw.map(([, ms]) => ms));
      result["ClusterPool.run(), requests/s"] = median(passes.cluster.map(([rate]) => rate));
      result["ClusterPool.run(), first of 5,000 results, ms"] = median(
        passes.cluster.map(([, ms]) => ms),
      );
      const begun = performance.now();
      const inputs = Array.from({ length: MAP_INPUTS }, (_, i) => [i, 1]);
      for await (const _ of pool.map(tasks("add"), inputs, { chunkSize: 1_000 })) { /* drained */ }
      result["ClusterPool.map(), chunkSize 1000, inputs/s"] = MAP_INPUTS /
        ((performance.now() - begun) / 1000);
      // One task's values through a node, read as fast as they come (against run()'s requests/s).
      const streamed = performance.now();
      let values = 0;
      for await (const _ of pool.stream(tasks("count"), [STREAM_N])) values++;
      result["ClusterPool.stream(), 100,000 values, values/s"] = values /
        ((performance.now() - streamed) / 1000);
      // The CPU-bound trio, interleaved CPU_REPS times (one pass is ~50 ms: one scheduling hiccup
      // would decide it), each side's median kept. The raw nodes are up for every pass, and the
      // cluster's nodes too: each side runs with the same processes idle beside it.
      await using local = new ThreadPool(2);
      for (let i = 0; i < 2; i++) rawNodes.push(await startHelper("--raw-node", url));
      const rawFib = await openRawQueue(url, "fib");
      const rawFibPass = async () => (await rawFib.pass(32, () => ({ n: 27 })))[0];
      const fib32 = async (on: ThreadPool | ClusterPool) => {
        const begun = performance.now();
        await Promise.all(Array.from({ length: 32 }, () => on.run(tasks("fib"), [27])));
        return performance.now() - begun;
      };
      await Promise.all(Array.from({ length: 4 }, () => pool.run(tasks("fib"), [27])));
      await Promise.all(Array.from({ length: 4 }, () => local.run(tasks("fib"), [27])));
      await rawFibPass();
      const onNodes: number[] = [];
      const onLocal: number[] = [];
      const onRaw: number[] = [];
      for (let rep = 0; rep < CPU_REPS; rep++) {
        onNodes.push(await fib32(pool));
        onLocal.push(await fib32(local));
        onRaw.push(await rawFibPass());
      }
      result["two nodes, 32 × fib(27), ms"] = median(onNodes);
      result["local ThreadPool(2), 32 × fib(27), ms"] = median(onLocal);
      result["raw BullMQ, two workers, 32 × fib(27), ms"] = median(onRaw);
      await rawFib.close();
    }
  } finally {
    // The raw nodes first: stopped after Redis, they would log its refused connections.
    for (const stop of rawNodes) await stop();
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
  return result;
}

if (Deno.args[0] === "--raw-node") {
  await rawNode(Deno.args[1]!, "fib");
} else if (Deno.args[0] === "--raw-add-node") {
  await rawNode(Deno.args[1]!, "add", Deno.args[2]!);
} else if (Deno.args[0] === "--cpu-client") {
  await cpuClient(Deno.args[1]!, Number(Deno.args[2]));
  Deno.exit(0);
} else if (Deno.args[0] === "--busy-client") {
  await busyClient(Deno.args[1]!);
} else if (Deno.args[0] === "--instructions") {
  console.log(JSON.stringify(await redisInstructions()));
  Deno.exit(0);
} else if (Deno.args[0] === "--first") {
  await firstOnly(Number(Deno.args[1] ?? 4));
} else if (Deno.args[0] === "--round") {
  console.log(JSON.stringify(await round()));
  Deno.exit(0);
} else {
  await main();
}

/** `--first [reps]`: only the first bursts, each rep's ratio and their median. */
async function firstOnly(reps: number) {
  const redis = await startRedis();
  try {
    const { raw, cluster } = await firstBursts(redis.url, reps);
    const ratios = cluster.map((rate, i) => rate / raw[i]!);
    console.log(`raw BullMQ jobs/s: ${raw.map(Math.round).join(", ")}`);
    console.log(`ClusterPool requests/s: ${cluster.map(Math.round).join(", ")}`);
    console.log(
      `ratios: ${ratios.map((r) => r.toFixed(2)).join(", ")}; median ${median(ratios).toFixed(2)}`,
    );
  } finally {
    await redis.stop();
  }
}

async function main() {
  const results = Object.fromEntries(MEASURES.map((name) => [name, [] as number[]])) as Record<
    Measure,
    number[]
  >;
  for (let i = 0; i < rounds; i++) {
    const { success, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "--round"],
      stderr: "inherit",
    }).output();
    if (!success) throw new Error(`round ${i + 1} failed`);
    const result = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").pop()!);
    for (const name of MEASURES) results[name].push(result[name]);
    console.error(`round ${i + 1} of ${rounds} done`);
  }
  const counted = JSON.parse(await inProcess(["--instructions"])) as Record<string, number> | null;

  console.log(
    `Medians of ${rounds} rounds (each a fresh process), ${navigator.hardwareConcurrency} cores:\n`,
  );
  console.log("| measure | median | rounds |\n| --- | ---: | --- |");
  for (const [name, values] of Object.entries(results)) {
    const shown = (value: number) => value < 100 ? value.toFixed(1) : String(Math.round(value));
    console.log(`| ${name} | ${shown(median(values))} | ${values.map(shown).join(", ")} |`);
  }
  // Each ratio is taken within a round (both sides measured minutes apart at most, in one machine
  // state), then the median over rounds: steadier than a ratio of medians on a shared machine.
  const ratio = (top: Measure, bottom: Measure) =>
    median(results[top].map((value, i) => value / results[bottom][i]!));
  const spread = (top: Measure, bottom: Measure) => {
    const ratios = results[top].map((value, i) => value / results[bottom][i]!);
    return `rounds ${ratios.map((r) => r.toFixed(2)).join(", ")}`;
  };
  const lines: [string, Measure, Measure, number][] = [
    [
      "first burst ÷ raw BullMQ's",
      "first burst, ClusterPool (fresh client and nodes), requests/s",
      "first burst, raw BullMQ (two fresh processes), jobs/s",
      2,
    ],
    ["run() ÷ raw BullMQ", "ClusterPool.run(), requests/s", "raw BullMQ, jobs/s", 2],
    [
      "run()'s first result, time ÷ raw BullMQ's",
      "ClusterPool.run(), first of 5,000 results, ms",
      "raw BullMQ, first of 5,000 results, ms",
      2,
    ],
    [
      "map() inputs ÷ raw BullMQ jobs",
      "ClusterPool.map(), chunkSize 1000, inputs/s",
      "raw BullMQ, jobs/s",
      1,
    ],
    [
      "stream() values ÷ run() requests",
      "ClusterPool.stream(), 100,000 values, values/s",
      "ClusterPool.run(), requests/s",
      1,
    ],
    [
      "CPU-bound, two nodes ÷ local ThreadPool(2) speed",
      "local ThreadPool(2), 32 × fib(27), ms",
      "two nodes, 32 × fib(27), ms",
      2,
    ],
    [
      "CPU-bound, raw BullMQ's two workers ÷ local ThreadPool(2) speed",
      "local ThreadPool(2), 32 × fib(27), ms",
      "raw BullMQ, two workers, 32 × fib(27), ms",
      2,
    ],
    [
      "CPU-bound, two nodes ÷ raw BullMQ's two workers speed",
      "raw BullMQ, two workers, 32 × fib(27), ms",
      "two nodes, 32 × fib(27), ms",
      2,
    ],
    [
      "Redis time per request, batch: 1 ÷ raw BullMQ's per job",
      "ClusterPool, batch: 1, Redis µs per request",
      "raw BullMQ, Redis µs per job",
      2,
    ],
    [
      "Redis time per request, batched ÷ raw BullMQ's per job",
      "ClusterPool, batched, Redis µs per request",
      "raw BullMQ, Redis µs per job",
      2,
    ],
    [
      "one client's CPU, beside four busy clients ÷ alone",
      "one client beside four busy ones, CPU ms per 1,000 requests",
      "one client alone, CPU ms per 1,000 requests",
      2,
    ],
  ];
  console.log("");
  for (const [label, top, bottom, digits] of lines) {
    console.log(`${label}: ${ratio(top, bottom).toFixed(digits)}× (${spread(top, bottom)})`);
  }
  console.log("");
  if (counted === null) {
    console.log("Redis's instructions per request: not counted (no valgrind)");
  } else {
    const k = (side: string) => `${(counted[side]! / 1000).toFixed(1)}k`;
    const to = (side: string) => (counted[side]! / counted.raw!).toFixed(2);
    console.log(
      `Redis's instructions per request (callgrind, ${COUNTED_N} each): raw BullMQ ${k("raw")} ` +
        `per job; batch: 1 ${k("single")} (${to("single")}×); batched ${k("batched")} ` +
        `(${to("batched")}×)`,
    );
  }
}
