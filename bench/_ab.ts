import { taskModule, ThreadPool } from "../mod.ts";
import { ClusterPool } from "../cluster.ts";
import { startNode, startRedis } from "../tests/cluster_helpers.ts";
import type * as Tasks from "./bench_tasks.ts";
const root = new URL("../", import.meta.url);
const tasks = taskModule<typeof Tasks>(new URL("./bench_tasks.ts", import.meta.url));
const lane = Deno.args[0]!;
const redis = await startRedis();
const env = { TP_LANE: lane };
const extra: string[] = [];
const nodes = [await startNode(redis.url, extra, "bench/", env), await startNode(redis.url, extra, "bench/", env)];
const pool = new ClusterPool({ connection: redis.url, root });
const local = new ThreadPool(2);
await Promise.all(Array.from({ length: 200 }, (_, i) => pool.run(tasks("add"), [i, 1])));
let begun = performance.now();
await Promise.all(Array.from({ length: 5000 }, (_, i) => pool.run(tasks("add"), [i, 1])));
const rate = 5000 / ((performance.now() - begun) / 1000);
const out: number[] = [];
for (let r = 0; r < 3; r++) {
  for (const p of [pool, local]) {
    await Promise.all(Array.from({ length: 4 }, () => p.run(tasks("fib"), [27])));
    const begun = performance.now();
    await Promise.all(Array.from({ length: 32 }, () => p.run(tasks("fib"), [27])));
    out.push(performance.now() - begun);
  }
}
const ratios = [0, 2, 4].map((i) => out[i + 1]! / out[i]!);
console.log(out.map(Math.round).join(" "));
console.log(lane, ratios.map((r) => r.toFixed(2)).join(" "), Math.round(rate));
await pool.close(); await local.close();
for (const node of nodes) await node.stop();
await redis.stop();
