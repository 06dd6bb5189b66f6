/**
 * A cluster node as a command: takes jobs from a BullMQ queue on Redis and
 * runs them on a local `ThreadPool`. Once connected and waiting for jobs it
 * prints one line that begins with `ready` and says what it serves; on
 * SIGTERM or SIGINT it stops taking jobs, finishes those running, and exits
 * 0 (a second signal cuts them short and hands them back to the queue; with
 * Redis unreachable they are stopped at once). `serve.ts --help` describes
 * every flag.
 *
 * ```sh
 * THREADPOOL_REDIS_URL=redis://:secret@127.0.0.1:6379 \
 *   deno run --allow-read --allow-net --allow-env --allow-sys serve.ts \
 *   --module tasks.ts [--module DIR ...] [--workers N] [--concurrency N] \
 *   [--permissions none|JSON] [--queue NAME] [--root DIR] [--lease MS] \
 *   [--prefetch N] [--tls-ca PEM] [--tls-cert PEM --tls-key PEM]
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

const USAGE = "usage: serve.ts [--redis URL] --module PATH [--module PATH ...] [--workers N] " +
  "[--concurrency N] [--permissions none|JSON] [--queue NAME] [--root DIR] [--lease MS] " +
  "[--prefetch N] [--tls-ca PEM] [--tls-cert PEM --tls-key PEM]  (--help: what each does)";

/** The environment variable a node takes Redis's URL from when `--redis` is not given. */
const REDIS_ENV = "THREADPOOL_REDIS_URL";

const HELP = `serve.ts: a threadpool cluster node. It takes jobs from a BullMQ queue on Redis
and runs them on a local ThreadPool; it prints a line beginning with "ready" once
it waits for jobs, and on SIGTERM or SIGINT finishes what it runs and exits 0
(a second signal cuts it short and hands it back to the queue).

  --redis URL          Redis: redis://[user:password@]host:port[/db], or rediss://
                       for TLS. Default: the ${REDIS_ENV} environment variable,
                       which keeps a password off the command line (and out of ps).
  --module PATH        A task module file, or a folder (every module under it), that
                       the node may run; repeat for more. Required. Relative paths
                       count from the working directory.
  --root DIR           What clients' task module paths are relative to: the same
                       checkout as the clients' root. Default: the working directory.
  --workers N          Worker threads of the local pool. Default: the CPU count (${navigator.hardwareConcurrency} here).
  --concurrency N      Tasks one worker runs at once (async tasks). Default: 1.
  --permissions P      What the tasks may do: "inherit" (the default: what this
                       process may), "none", or Deno's permission object as JSON,
                       e.g. '{"net":["api.example.com"]}'. The task modules are
                       granted to the workers as on one machine. Needs worker
                       options enabled ("unstable": ["worker-options"] in deno.json).
  --queue NAME         The queue's name, the same as the clients'. Default: ${DEFAULT_QUEUE}.
  --lease MS           How long the node may fall silent before its jobs go to
                       another node (and it leaves pool.nodes()). Default: 30000.
  --prefetch N         Jobs held per task the pool runs at once, the running one
                       included (1 to ${MAX_PREFETCH}). Default: adapts (2 for long tasks,
                       up to 16 for short ones).
  --tls-ca PEM         The CA that signed Redis's certificate (instead of DENO_CERT).
  --tls-cert PEM       This node's certificate, for a Redis that requires one
  --tls-key PEM        (mutual TLS); the two go together.
  --help, -h           This text.

Deno permissions the command needs: --allow-read --allow-net --allow-env --allow-sys.`;

const FLAGS = [
  "redis",
  "module",
  "workers",
  "concurrency",
  "permissions",
  "queue",
  "root",
  "lease",
  "prefetch",
];

/** The TLS flags, each a PEM file, and the TLS option each one sets. */
const TLS_FLAGS = { "tls-ca": "ca", "tls-cert": "cert", "tls-key": "key" } as const;

/** The command's flags, parsed; a string says what is wrong with them. */
function parse(args: readonly string[], env: string | undefined): {
  redis: Connection;
  /** Where Redis is, without credentials: what the ready line says. */
  where: string;
  modules: string[];
  workers: number;
  concurrency: number;
  permissions: Deno.PermissionOptions;
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
  const url = one("redis") ?? env;
  if (url === undefined) return `--redis is required (or Redis's URL in ${REDIS_ENV})`;
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
    const from = one("redis") === undefined ? REDIS_ENV : "--redis";
    return `${from} must be a redis:// or rediss:// URL: ${JSON.stringify(redact(url))}`;
  }
  const redis = withTls(url, tls);
  if (!flags.module?.length) return "--module is required";
  const workers = Number(one("workers") ?? navigator.hardwareConcurrency);
  if (!Number.isInteger(workers) || workers < 1) {
    return `--workers must be a positive integer: ${JSON.stringify(one("workers"))}`;
  }
  const concurrency = Number(one("concurrency") ?? 1);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    return `--concurrency must be a positive integer: ${JSON.stringify(one("concurrency"))}`;
  }
  const sandbox = permissionsFlag(one("permissions"));
  if (typeof sandbox === "string") return sandbox;
  const { permissions } = sandbox;
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
    where: redact(url),
    modules: flags.module,
    workers,
    concurrency,
    permissions,
    queue,
    root: one("root"),
    lease,
    prefetch,
  };
}

/** `--permissions`: "inherit", "none", or Deno's permission object as JSON; a string says what is wrong. */
function permissionsFlag(
  value: string | undefined,
): { permissions: Deno.PermissionOptions } | string {
  if (value === undefined || value === "inherit") return { permissions: "inherit" };
  if (value === "none") return { permissions: "none" };
  try {
    const parsed = JSON.parse(value);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      return { permissions: parsed };
    }
  } catch {
    // Said below.
  }
  return `--permissions must be "inherit", "none" or a JSON object such as ` +
    `'{"net":["api.example.com"]}': ${JSON.stringify(value)}`;
}

/** A Redis URL without its password. */
function redact(url: string): string {
  return url.replace(/^(rediss?:\/\/)[^@/]*@/, "$1");
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(HELP);
    Deno.exit(0);
  }
  const parsed = parse(Deno.args, Deno.env.get(REDIS_ENV));
  if (typeof parsed === "string") {
    console.error(`serve.ts: ${parsed}\n${USAGE}`);
    Deno.exit(2);
  }
  let pool: ThreadPool;
  try {
    pool = new ThreadPool(parsed.workers, {
      concurrency: parsed.concurrency,
      permissions: parsed.permissions,
    });
  } catch (error) {
    // Permissions the pool cannot grant, or worker options not enabled: said as the pool says it.
    console.error(`serve.ts: ${(error as Error).message}`);
    Deno.exit(2);
  }
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
    // A second signal does not wait for what runs: it is cut short and handed back to the queue
    // (a stream that has sent values fails instead).
    if (stopping) return void pool.close({ force: true });
    stopping = true;
    await node.close();
    await pool.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  const sandbox = parsed.permissions === "inherit"
    ? ""
    : `, permissions ${JSON.stringify(parsed.permissions)}`;
  console.log(
    `ready: queue ${parsed.queue} on ${parsed.where}, ${parsed.workers} workers × ` +
      `${parsed.concurrency}${sandbox}, modules ${parsed.modules.join(" ")} ` +
      `(root ${Deno.realPathSync(parsed.root ?? ".")}), pid ${Deno.pid}`,
  );
}
