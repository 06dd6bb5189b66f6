/**
 * A cluster node as a command: takes jobs from a BullMQ queue on Redis and
 * runs them on a local `ThreadPool`. Once connected and waiting for jobs it
 * prints one line that begins with `ready`; on SIGTERM or SIGINT it stops
 * taking jobs, finishes those running, and exits 0.
 *
 * ```sh
 * deno run --allow-read --allow-net --allow-env --allow-sys serve.ts \
 *   --redis redis://127.0.0.1:6379 --module tasks.ts [--module DIR ...] \
 *   [--workers N] [--queue NAME] [--root DIR] [--lease MS] [--prefetch N] \
 *   [--tls-ca PEM] [--tls-cert PEM --tls-key PEM]
 * ```
 *
 * @example Start a node from a program instead
 * ```ts ignore
 * import { ThreadPool } from "@scope/threadpool";
 * import { serve } from "@scope/threadpool/serve";
 *
 * await serve(new ThreadPool(), { connection: "redis://127.0.0.1:6379", modules: ["tasks/"] });
 * ```
 *
 * @module
 */

import { ThreadPool } from "./src/thread_pool.ts";
import { serve } from "./src/cluster/node.ts";
import { MAX_PREFETCH } from "./src/cluster/turns.ts";
import { DEFAULT_QUEUE, MAX_LEASE, queueNameProblem } from "./src/cluster/protocol.ts";
import { type Connection, withTls } from "./src/cluster/redis.ts";

export { serve } from "./src/cluster/node.ts";
export type { ServeHandle, ServeOptions } from "./src/cluster/node.ts";

const USAGE = "usage: serve.ts --redis URL --module PATH [--module PATH ...] [--workers N] " +
  "[--queue NAME] [--root DIR] [--lease MS] [--prefetch N] [--tls-ca PEM] " +
  "[--tls-cert PEM --tls-key PEM]";

const FLAGS = ["redis", "module", "workers", "queue", "root", "lease", "prefetch"];

/** The TLS flags, each a PEM file, and the TLS option each one sets. */
const TLS_FLAGS = { "tls-ca": "ca", "tls-cert": "cert", "tls-key": "key" } as const;

/** The command's flags, parsed; a string says what is wrong with them. */
function parse(args: readonly string[]): {
  redis: Connection;
  modules: string[];
  workers: number;
  queue: string;
  root: string | undefined;
  lease: number;
  prefetch: number | undefined;
} | string {
  const flags: Record<string, string[]> = {};
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const [name, inline] = flag.startsWith("--") ? flag.slice(2).split(/=(.*)/s) : [];
    if (name === undefined || !(FLAGS.includes(name) || name in TLS_FLAGS)) {
      return `unknown argument ${JSON.stringify(flag)}`;
    }
    const value = inline ?? args[++i];
    if (value === undefined) return `--${name} needs a value`;
    (flags[name] ??= []).push(value);
  }
  const one = (name: string) => flags[name]?.at(-1);
  const url = one("redis");
  if (url === undefined) return "--redis is required";
  if ((one("tls-cert") === undefined) !== (one("tls-key") === undefined)) {
    return "--tls-cert and --tls-key go together";
  }
  const tls: Record<string, string> = {};
  for (const [flag, option] of Object.entries(TLS_FLAGS)) {
    const path = one(flag);
    if (path === undefined) continue;
    try {
      tls[option] = Deno.readTextFileSync(path);
    } catch (error) {
      return `--${flag} must name a readable PEM file: ${JSON.stringify(path)} (${
        (error as Error).message
      })`;
    }
  }
  if (!/^rediss?:\/\//.test(url)) {
    return `--redis must be a redis:// or rediss:// URL: ${JSON.stringify(url)}`;
  }
  const redis = withTls(url, tls);
  if (!flags.module?.length) return "--module is required";
  const workers = Number(one("workers") ?? navigator.hardwareConcurrency);
  if (!Number.isInteger(workers) || workers < 1) return `--workers must be a positive integer`;
  const lease = Number(one("lease") ?? 30_000);
  if (!Number.isInteger(lease) || lease < 1 || lease > MAX_LEASE) {
    return `--lease must be a whole number of milliseconds from 1 to ${MAX_LEASE}`;
  }
  const queue = one("queue") ?? DEFAULT_QUEUE;
  const badQueue = queueNameProblem(queue);
  if (badQueue !== undefined) return `--queue must be ${badQueue}: ${JSON.stringify(queue)}`;
  const prefetch = one("prefetch") === undefined ? undefined : Number(one("prefetch"));
  const bounded = Number.isInteger(prefetch) && prefetch! >= 1 && prefetch! <= MAX_PREFETCH;
  if (prefetch !== undefined && !bounded) {
    return `--prefetch must be an integer from 1 to ${MAX_PREFETCH}`;
  }
  return {
    redis,
    modules: flags.module,
    workers,
    queue,
    root: one("root"),
    lease,
    prefetch,
  };
}

if (import.meta.main) {
  const parsed = parse(Deno.args);
  if (typeof parsed === "string") {
    console.error(`serve.ts: ${parsed}\n${USAGE}`);
    Deno.exit(2);
  }
  const pool = new ThreadPool(parsed.workers);
  const node = await serve(pool, {
    connection: parsed.redis,
    queue: parsed.queue,
    modules: parsed.modules,
    lease: parsed.lease,
    ...(parsed.prefetch !== undefined && { prefetch: parsed.prefetch }),
    ...(parsed.root !== undefined && { root: parsed.root }),
  }).catch(async (error: Error) => {
    // A flag serve() refused (a URL, a module that is not there) is a usage error, as in parse().
    const badFlag = error instanceof TypeError || error instanceof RangeError ||
      error instanceof Deno.errors.NotFound;
    console.error(`serve.ts: ${error.message}${badFlag ? `\n${USAGE}` : ""}`);
    await pool.close();
    Deno.exit(badFlag ? 2 : 1);
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await node.close();
    await pool.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  console.log(`ready: queue ${parsed.queue}, ${parsed.workers} workers, pid ${Deno.pid}`);
}
