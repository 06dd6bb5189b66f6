/**
 * The same requests on many machines: `ClusterPool` sends them through a
 * BullMQ queue on Redis, and `serve` runs them on a node's own
 * `ThreadPool`. Import it only where you need it: it loads BullMQ and
 * ioredis, which `@scope/threadpool` never does.
 *
 * @example A client and a node, against a Redis server
 * ```ts ignore
 * import { ThreadPool } from "@scope/threadpool";
 * import { ClusterPool, serve } from "@scope/threadpool/cluster";
 *
 * const connection = "redis://127.0.0.1:6379";
 * await using node = await serve(new ThreadPool(2), { connection, modules: ["tasks.ts"] });
 * await using pool = new ClusterPool({ connection });
 * console.log(await pool.run({ module: new URL("./tasks.ts", import.meta.url), name: "fib" }, [25]));
 * ```
 *
 * @module
 */

export { ClusterPool } from "./src/cluster_pool.ts";
export type { ClusterPoolOptions, ClusterPoolStats } from "./src/cluster_pool.ts";
export type { NodeInfo } from "./src/cluster/presence.ts";
export { serve } from "./src/cluster/node.ts";
export type { ServeHandle, ServeOptions } from "./src/cluster/node.ts";
export type { Connection, RedisConnectionOptions } from "./src/cluster/redis.ts";
