import { deepEqual, equal, ok } from "node:assert/strict";
import type { NodeInfo } from "../cluster.ts";
import { clusterTest, eventually, presentIn, redisCli, waitingIn } from "./cluster_helpers.ts";
import { task } from "./helpers.ts";

clusterTest(
  "nodes() lists the nodes serving the queue: one that stops leaves at once, one killed within its lease",
  async ({ pool, node }) => {
    const first = await node(["--lease", "1000"]);
    const second = await node(["--lease", "1000"]);
    const listed = await pool.nodes();
    deepEqual(listed.map((one) => one.pid).sort(), [first.pid, second.pid].sort());
    for (const one of listed) {
      equal(one.host, Deno.hostname());
      equal(one.workers, 1);
      equal(one.lease, 1000);
      ok(one.started instanceof Date && one.started.getTime() <= Date.now());
      ok(typeof one.id === "string" && one.id.length > 0);
    }
    // Requests on both: the client's own view of the nodes, in stats().
    for (let i = 0; i < 8; i++) equal(await pool.run(task("add"), [i, 1]), i + 1);
    const stats = pool.stats();
    deepEqual(stats.nodes, { live: 2, lost: 0 });
    equal(stats.workers.live, 2);

    await first.stop();
    deepEqual((await pool.nodes()).map((one) => one.pid), [second.pid]);
    await second.stop("SIGKILL");
    await eventually(async () => (await pool.nodes()).length === 0, "the killed node left");
  },
);

clusterTest(
  "A node killed mid-task is a nodelost event and counts in stats(); requests left with no node are an unserved event",
  async ({ pool, node }) => {
    const lost: NodeInfo[] = [];
    const unserved: Date[] = [];
    pool.addEventListener("nodelost", (event) => lost.push((event as CustomEvent).detail.node));
    pool.addEventListener(
      "unserved",
      (event) => unserved.push((event as CustomEvent).detail.since),
    );
    const first = await node(["--lease", "1000"]);
    // A request that waits longer than it takes to say "unserved", with a node serving: not said.
    equal(await pool.run(task("delayed"), ["served", 6_000]), "served");
    equal(unserved.length, 0);

    const waiting = pool.run(task("delayed"), ["again", 3_000]);
    // Should the test fail before it ends, the request's failure is not a second, unhandled one.
    waiting.catch(() => {});
    await eventually(() => pool.stats().running === 1, "the request started");
    await first.stop("SIGKILL");
    await eventually(() => lost.length === 1, "a nodelost event");
    equal(lost[0]!.pid, first.pid);
    const stats = pool.stats();
    deepEqual(stats.nodes, { live: 0, lost: 1 });
    equal(stats.workers.lost, 1);
    await eventually(() => unserved.length === 1, "an unserved event");
    ok(unserved[0] instanceof Date && unserved[0].getTime() <= Date.now());
    // A node comes: the request runs again there.
    const second = await node(["--lease", "1000"]);
    equal(await waiting, "again");
    deepEqual((await pool.nodes()).map((one) => one.pid), [second.pid]);
    equal(unserved.length, 1);
  },
  { lease: 3_000 },
);

/** Starts the dying client (fixtures/scripts/cluster_dying_client.ts). */
function dyingClient(url: string, count: number, ms: number): Deno.ChildProcess {
  const script = new URL("./fixtures/scripts/cluster_dying_client.ts", import.meta.url);
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script.pathname, url, String(count), String(ms)],
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(50_000),
  }).spawn();
}

clusterTest(
  "A client killed with 2,000 requests queued leaves no work: a node started after its lease runs none",
  async ({ redis, node }) => {
    const client = dyingClient(redis.url, 2_000, 1_000);
    await eventually(
      async () => await waitingIn(redis.port) === 2_000,
      "the client's 2,000 jobs queued",
    );
    const [id] = (await redisCli(redis.port, "ZRANGE", "threadpool:threadpool:clients", "0", "-1"))
      .split("\n");
    ok(id, "the client is present");
    client.kill("SIGKILL");
    await client.output();
    await eventually(
      async () => await presentIn(redis.port, "threadpool:threadpool:clients") === 0,
      "the client's lease expired",
    );
    // One worker: 2,000 jobs of 1 s could not end within the test; dropped, they end at once.
    await node();
    await eventually(async () => await waitingIn(redis.port) === 0, "the queue emptied");
    await eventually(
      async () => await redisCli(redis.port, "LLEN", "bull:threadpool:active") === "0",
      "no job active",
    );
    // Not one answered: the client's stream of answers was never made.
    equal(await redisCli(redis.port, "EXISTS", `threadpool:threadpool:answers:${id}`), "0");
  },
);

clusterTest(
  "A client killed while its request runs: the node stops it once the client's lease has passed",
  async ({ redis, pool, node }) => {
    await node();
    const client = dyingClient(redis.url, 1, 120_000);
    await eventually(
      async () => await redisCli(redis.port, "LLEN", "bull:threadpool:active") === "1",
      "the request running",
    );
    client.kill("SIGKILL");
    await client.output();
    // The node's one worker is free again well before the 120 s request would have ended.
    equal(await pool.run(task("add"), [1, 2]), 3);
    const [only] = await pool.nodes();
    equal(only?.workers, 1);
  },
);

clusterTest(
  "A client frozen past its lease: the nodes drop its work, and once thawed it sends it again and gets every value",
  async ({ redis, node }) => {
    await node();
    const client = dyingClient(redis.url, 300, 20);
    const active = () => redisCli(redis.port, "LLEN", "bull:threadpool:active");
    await eventually(async () => Number(await active()) > 0, "the client's requests running");
    Deno.kill(client.pid, "SIGSTOP");
    try {
      await eventually(
        async () => await presentIn(redis.port, "threadpool:threadpool:clients") === 0,
        "the frozen client's lease expired",
      );
      await eventually(
        async () => await waitingIn(redis.port) === 0 && await active() === "0",
        "the node dropped the frozen client's jobs",
      );
    } finally {
      Deno.kill(client.pid, "SIGCONT");
    }
    const { code, stdout } = await client.output();
    equal(new TextDecoder().decode(stdout).trim(), "exact");
    equal(code, 0);
  },
);
