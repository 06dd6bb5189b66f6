/**
 * Main thread: `ClusterPool`, the front (the ancestor's API, promises,
 * `map`, the result channel) over the cluster engine — the same requests,
 * run by the nodes that serve a BullMQ queue on Redis.
 *
 * @module
 */

import { DEFAULT_MAX_PAYLOAD } from "./cluster/codec.ts";
import { ClusterEngine } from "./cluster/cluster_engine.ts";
import { folderURL } from "./cluster/modules.ts";
import { DEFAULT_LOSSES, MAX_LEASE, MAX_LOSSES, queueOption } from "./cluster/protocol.ts";
import { DEFAULT_CLIENT_LEASE } from "./cluster/presence.ts";
import { checkConnection, type Connection } from "./cluster/redis.ts";
import type { ThreadPoolStats } from "./core/stats.ts";
import type { NodeInfo } from "./cluster/presence.ts";
import type { MapInput, TaskArgs, TaskResult, TaskSpec, TaskYield } from "./core/task.ts";
import { PoolFront } from "./pool/front.ts";
import type {
  CloseOptions,
  MapOptions,
  MapSettled,
  PollOptions,
  PutOptions,
  ResultsOptions,
  RetryOptions,
  RunOptions,
  StreamOptions,
} from "./pool/options.ts";
import type { Settled } from "./pool/result_channel.ts";
import {
  integer,
  milliseconds,
  optionsArgument,
  priorityOption,
  rateLimitsOption,
  retryOption,
} from "./pool/validate.ts";
import type { RateLimit } from "./core/rate_limit.ts";
import { bound } from "./core/job.ts";
import type { WorkRequest } from "./pool/work_request.ts";

/**
 * Options for {@linkcode ClusterPool}.
 *
 * @example A client of a local Redis
 * ```ts ignore
 * import { ClusterPool, type ClusterPoolOptions } from "@scope/threadpool/cluster";
 *
 * const options: ClusterPoolOptions = { connection: "redis://127.0.0.1:6379", maxQueue: 1_000 };
 * await using pool = new ClusterPool(options);
 * ```
 */
export interface ClusterPoolOptions {
  /** The Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS) or client options. */
  connection: Connection;
  /**
   * The queue's name: the same as the nodes'. Not empty, and without `:` (BullMQ's key
   * separator).
   *
   * @default {"threadpool"}
   */
  queue?: string;
  /**
   * What task module paths are relative to, on this machine and (as each node's own `root`) on
   * the nodes: a path or a `file:` URL. A local task module outside it is refused at the call.
   *
   * @default {the working directory}
   */
  root?: string | URL;
  /**
   * How many of this client's requests may wait to start (in Redis, or here); `0` means no bound.
   *
   * @default {0}
   */
  maxQueue?: number;
  /**
   * How many results of put requests may wait for `poll()`; `0` means no bound.
   *
   * @default {0}
   */
  maxResults?: number;
  /**
   * Milliseconds a task may run on its node, from its start, when its call sets no `timeout`.
   *
   * @default {undefined: no limit}
   */
  timeout?: number;
  /**
   * The priority of a request that sets none (see `CancelOptions.priority`). Priorities hold
   * across every client of the queue: nodes take its highest first.
   *
   * @default {0}
   */
  priority?: number;
  /**
   * The retry policy of a request that sets none (see `RetryOptions`): an attempt may run on any
   * node, and the client still sees one outcome per request.
   *
   * @default {undefined: no retries}
   */
  retry?: RetryOptions;
  /**
   * At most `max` task starts in any window of `per` ms for the whole queue, however many nodes
   * and clients serve and use it: the nodes take turns in Redis, and count each start when the
   * task starts on its thread. Requests wait for their turn (they are not failed), spaced evenly,
   * `per / max` ms apart. Each client of a queue sets the limits its own requests start under;
   * give them all the same.
   *
   * @default {undefined: no limit}
   */
  rateLimit?: RateLimit;
  /**
   * Limits by key, for requests that name one (`rateKey`), each on top of `rateLimit`, for the
   * whole queue as `rateLimit` is: one tenant or one endpoint waiting for its limit does not hold
   * up the others.
   *
   * @default {undefined: none}
   */
  rateLimits?: Record<string, RateLimit>;
  /**
   * The largest encoded arguments of one call, in bytes; a larger call is refused at the call.
   *
   * @default {16777216}
   */
  maxPayload?: number;
  /**
   * How many times a request may be lost with the node running it (killed, cut off for longer
   * than its lease) and run again elsewhere; one more loss fails it with `WorkerLostError`.
   * `0` runs each request at most once. A request counts as lost with its node whether it had
   * started there or was waiting its turn on it. At most 100.
   *
   * @default {1}
   */
  maxLosses?: number;
  /**
   * Milliseconds this client may fall silent (its process frozen or killed, or cut off from
   * Redis) before the nodes take it for gone: they then run none of its requests still waiting,
   * and stop those running. While it has requests in Redis it tells Redis it is there every third
   * of this. A client that was only frozen sends again, when it resumes, what the nodes did not
   * run; one that they stopped running counts as lost (see `maxLosses`). A whole number, at least
   * 1000.
   *
   * @default {30000}
   */
  lease?: number;
  /**
   * The most requests of one task sent as one BullMQ job, a batch (1 to 1000; `1` sends each
   * request as its own job). Only requests queued together, without a `timeout` and under no rate
   * limit, share a job.
   * By default it adapts: as few requests as make 6 ms of work (up to 32) of a task whose calls
   * typically take less than 6 ms on a node, and one request per job for longer tasks.
   *
   * @default {undefined: adapts}
   */
  batch?: number;
}

/** The options a `ClusterPool` takes. */
const OPTIONS = [
  "connection",
  "queue",
  "root",
  "maxQueue",
  "maxResults",
  "timeout",
  "priority",
  "retry",
  "rateLimit",
  "rateLimits",
  "maxPayload",
  "maxLosses",
  "lease",
  "batch",
];

/** `ThreadPool` options that a cluster's nodes take instead, and where. */
const ON_NODES: Record<string, string> = {
  permissions: "serve.ts --permissions, or serve() with a ThreadPool given them",
  unstableWorkerOptions: "serve() with a ThreadPool given it",
  concurrency: "serve.ts --concurrency",
  prefetch: "serve.ts --prefetch",
  initializer: "serve() with a ThreadPool given it",
  finalizer: "serve() with a ThreadPool given it",
  idleTimeout: "serve() with a ThreadPool given it",
  maxTasksPerWorker: "serve() with a ThreadPool given it",
  cancelGrace: "serve() with a ThreadPool given it",
  lane: "serve() with a ThreadPool given it",
  name: "serve() with a ThreadPool given it",
};

/**
 * A snapshot of a {@linkcode ClusterPool}: its requests, as
 * {@linkcode ThreadPoolStats}, and the nodes serving its queue.
 *
 * @example Nodes serving the queue
 * ```ts ignore
 * const { nodes, workers } = pool.stats();
 * console.log(`${nodes.live} nodes, ${workers.live} workers; ${nodes.lost} nodes lost`);
 * ```
 */
export interface ClusterPoolStats extends ThreadPoolStats {
  /** The nodes: present at the client's last check, and lost (silent past their lease) since it was made. */
  nodes: { live: number; lost: number };
}

/**
 * A pool whose workers are other machines: the same requests as
 * {@linkcode ThreadPool}, through a BullMQ queue on Redis, run by the nodes
 * that `serve` it. Execution is at least once (a node that dies mid-task has
 * its task run again elsewhere); the caller sees one outcome per request.
 *
 * Requests of a task whose calls typically take less than 6 ms on a node,
 * queued together and without a `timeout`, go to Redis as batches of up to 32
 * (6 ms of work, or a little more, each): one job each batch, each request
 * with its own outcome and its own cancellation; a batch's outcomes arrive
 * together, when its last call ends.
 *
 * Events: `idle` and `drain` as on `ThreadPool`; `stalled` (a `CustomEvent`,
 * `detail: { job }`, the BullMQ job id, which the requests of a batch share)
 * when a request's node was lost and the request waits for another; `error`
 * (an `ErrorEvent`) when the connection to Redis is lost, once per outage,
 * while it reconnects, when Redis lost its data (its requests there are sent
 * again within `maxLosses`, or fail with `WorkerLostError`), and when Redis
 * refused a cancel; `nodelost` (a `CustomEvent`, `detail: { node }`, its
 * `NodeInfo`) when a node the client saw went silent past its lease; and
 * `unserved` (a `CustomEvent`, `detail: { since }`, a `Date`) when the
 * client's requests have waited 5 s in Redis with no node serving the queue,
 * once, and again after nodes came and went. A request's `timeout` counts
 * from its start on a node: to bound a wait for a node, pass
 * `signal: AbortSignal.timeout(ms)`.
 *
 * @example Run a task on the cluster
 * ```ts ignore
 * import { ClusterPool } from "@scope/threadpool/cluster";
 *
 * await using pool = new ClusterPool({ connection: "redis://127.0.0.1:6379" });
 * const fib = { module: new URL("./tasks.ts", import.meta.url), name: "fib" };
 * console.log(await pool.run(fib, [30]));
 * ```
 */
export class ClusterPool extends EventTarget implements AsyncDisposable {
  readonly #front: PoolFront;
  readonly #engine: ClusterEngine;

  /**
   * Creates a client; it connects when the first request comes.
   *
   * @param options Where the queue is, and the client's bounds.
   * @throws {TypeError} When an option has the wrong type, or is not one a ClusterPool takes
   * (one that belongs to the nodes says where it goes).
   * @throws {RangeError} When a number is out of range.
   */
  constructor(options: ClusterPoolOptions) {
    super();
    const action = "create the cluster pool";
    const given = optionsArgument(action, "options", options);
    for (const name of Object.keys(given)) {
      if (OPTIONS.includes(name)) continue;
      const where = ON_NODES[name];
      throw new TypeError(
        `Cannot ${action} as '${name}' is not an option of a ClusterPool` +
          (where === undefined
            ? ` (its options: ${OPTIONS.join(", ")})`
            : `: on a cluster it belongs to the nodes (${where})`),
      );
    }
    const rateLimits = rateLimitsOption(action, given.rateLimit, given.rateLimits);
    const engine = new ClusterEngine({
      connection: checkConnection(action, given.connection),
      rateLimits,
      queue: queueOption(action, given.queue),
      root: folderURL(given.root, action),
      maxPayload: integer(action, "maxPayload", given.maxPayload ?? DEFAULT_MAX_PAYLOAD, 1),
      window: 4096,
      lease: integer(action, "lease", given.lease ?? DEFAULT_CLIENT_LEASE, 1_000, MAX_LEASE),
      maxLosses: integer(action, "maxLosses", given.maxLosses ?? DEFAULT_LOSSES, 0, MAX_LOSSES),
      batch: given.batch === undefined ? undefined : integer(action, "batch", given.batch, 1, 1000),
      notify: {
        connectionLost: (cause) => {
          const why = cause === undefined ? "" : `: ${cause.message}`;
          const error = new Error(`Lost the connection to Redis${why}; reconnecting`, { cause });
          this.dispatchEvent(new ErrorEvent("error", { error, message: error.message }));
        },
        stalled: (job) => this.dispatchEvent(new CustomEvent("stalled", { detail: { job } })),
        error: (error) => {
          this.dispatchEvent(new ErrorEvent("error", { error, message: error.message }));
        },
        nodeLost: (node) => this.dispatchEvent(new CustomEvent("nodelost", { detail: { node } })),
        unserved: (since) => this.dispatchEvent(new CustomEvent("unserved", { detail: { since } })),
      },
    });
    this.#engine = engine;
    this.#front = new PoolFront(engine, {
      maxQueue: integer(action, "maxQueue", given.maxQueue ?? 0),
      maxResults: integer(action, "maxResults", given.maxResults ?? 0),
      timeout: given.timeout === undefined
        ? undefined
        : bound(milliseconds(action, "timeout", given.timeout)),
      priority: priorityOption(action, given.priority ?? 0),
      retry: retryOption(action, given.retry),
      rateLimits,
      limiter: null,
      noWorkersHint: "start a node with serve()",
      // The way through Redis takes a few milliseconds: more values are on it at once.
      streamHighWaterMark: 4_096,
      events: {
        idle: () => this.dispatchEvent(new Event("idle")),
        drain: () => this.dispatchEvent(new Event("drain")),
      },
    });
  }

  /**
   * The workers serving the queue: those of the nodes the client's last look
   * at Redis found (when it connects, and every third of its `lease` while it
   * has requests there); 0 before. {@linkcode nodes} reads them now.
   */
  get size(): number {
    return this.#engine.nodes.workers;
  }

  /** Whether `close()` has been called: the client then takes no new request. */
  get closed(): boolean {
    return this.#front.closed;
  }

  /** Put requests not yet handed to a callback or to `results()`. */
  get pending(): number {
    return this.#front.pending;
  }

  /** Requests accepted and not yet started on a node. */
  get queued(): number {
    return this.#front.queued;
  }

  /**
   * Not on a cluster: its workers are the nodes.
   *
   * @throws {TypeError} Always: start a node with `serve()` instead.
   */
  createWorkers(_count: number): never {
    throw new TypeError(
      "A ClusterPool has no workers of its own: start a node with serve() (or serve.ts) instead",
    );
  }

  /**
   * Not on a cluster: its workers are the nodes.
   *
   * @throws {TypeError} Always: stop a node (SIGTERM, or its handle's `close()`) instead.
   */
  dismissWorkers(_count: number): never {
    throw new TypeError(
      "A ClusterPool has no workers of its own: stop a node (SIGTERM, or close() on its handle) instead",
    );
  }

  /**
   * Puts a request on the queue; its outcome goes to the result channel.
   *
   * @param request The request; each can be put once.
   * @param options Whether and how long to wait while the queue is full.
   * @returns Resolves once the request is queued.
   */
  putRequest<R>(request: WorkRequest<R>, options: PutOptions = {}): Promise<void> {
    return this.#front.putRequest(request, options);
  }

  /**
   * Hands the results that have arrived to their callbacks.
   *
   * @param options `block: true` first waits for at least one result.
   */
  poll(options: PollOptions = {}): Promise<void> {
    return this.#front.poll(options);
  }

  /** Polls, blocking, until no request is pending. */
  wait(): Promise<void> {
    return this.#front.wait();
  }

  /**
   * The result channel as an async iterator: ends when no request is
   * pending or, with `follow: true`, once the pool is closed and nothing is
   * pending.
   *
   * @param options `follow` (see {@linkcode ResultsOptions}).
   * @returns Each put request's outcome, as it arrives.
   */
  results(options: ResultsOptions = {}): AsyncIterableIterator<Settled> {
    return this.#front.results(options);
  }

  /**
   * Runs one task on a node and resolves with its result.
   *
   * @param task The task to call: its module under `root`, or a remote specifier.
   * @param args Its arguments, encoded at the call: what the caller changes afterwards is not seen.
   * @param options A `signal` and a `timeout`; `transfer` is accepted and the data copied.
   * @returns The task's result, exactly as it returned it.
   */
  run<T extends TaskSpec>(
    task: T,
    args?: TaskArgs<T>,
    options: RunOptions = {},
  ): Promise<TaskResult<T>> {
    return this.#front.run(task, args, options);
  }

  /**
   * Runs a task that makes values on a node and gives them as a
   * `ReadableStream`, as `ThreadPool.stream()` does. The node sends values
   * only as the stream is read, through Redis: the task is never more than
   * `highWaterMark` values ahead of the reader (at least two: one on the
   * node, one here), half of them made ahead on the node, half on their way
   * or waiting here. Cancelling the stream reaches the node as a cancelled
   * `run()` does. A stream whose node is lost after it sent values errors
   * with `WorkerLostError` and is never run again; one lost before, follows
   * `maxLosses`.
   *
   * @param task The task to call: its module under `root`, or a remote specifier.
   * @param args Its arguments, encoded at the call.
   * @param options `highWaterMark` (by default 4,096 here), and as for `run()`.
   * @returns The task's values.
   */
  stream<T extends TaskSpec>(
    task: T,
    args?: TaskArgs<T>,
    options: StreamOptions = {},
  ): ReadableStream<TaskYield<T>> {
    return this.#front.stream(task, args, options) as ReadableStream<TaskYield<T>>;
  }

  /**
   * Runs a task once per input and yields each input's outcome, failures
   * included, and goes on: `{ index, ok: true, value }` or
   * `{ index, ok: false, error }`, `index` the input's place.
   *
   * @param task The task to call.
   * @param inputs One item per call.
   * @param options `settled: true`, and as for the other form.
   * @returns Each input's outcome.
   */
  map<T extends TaskSpec>(
    task: T,
    inputs: Iterable<MapInput<T>> | AsyncIterable<MapInput<T>>,
    options: MapOptions & { settled: true },
  ): AsyncIterableIterator<MapSettled<TaskResult<T>>>;
  /**
   * Runs a task once per input and yields the results.
   *
   * @param task The task to call.
   * @param inputs One item per call.
   * @param options Order, chunking (a chunk is one job), and a `signal` and `timeout`.
   * @returns The results.
   */
  map<T extends TaskSpec>(
    task: T,
    inputs: Iterable<MapInput<T>> | AsyncIterable<MapInput<T>>,
    options?: MapOptions,
  ): AsyncIterableIterator<TaskResult<T>>;
  map<T extends TaskSpec>(
    task: T,
    inputs: Iterable<MapInput<T>> | AsyncIterable<MapInput<T>>,
    options: MapOptions = {},
  ): AsyncIterableIterator<unknown> {
    return this.#front.map(task, inputs, options);
  }

  /**
   * A snapshot of this client's requests, and of the nodes as its last check
   * of Redis saw them (every 5 s while it has requests there): `workers.live`
   * is the nodes' workers, `workers.lost` those of nodes lost.
   *
   * @returns The snapshot.
   */
  stats(): ClusterPoolStats {
    const { live, lost } = this.#engine.nodes;
    return { ...this.#front.stats(), nodes: { live, lost } };
  }

  /**
   * The nodes serving the queue now, read from Redis: each renews its
   * presence every third of its lease; one that stops gracefully leaves at
   * once, one that dies within its lease.
   *
   * @returns The nodes, as each last told.
   */
  nodes(): Promise<NodeInfo[]> {
    return this.#engine.nodesNow();
  }

  /** Resolves when the queue has room under `maxQueue`. */
  waitForRoom(): Promise<void> {
    return this.#front.waitForRoom();
  }

  /**
   * Closes the client: waits for its outstanding requests, then disconnects.
   *
   * @param options `force: true` removes its waiting jobs and fails what is pending.
   */
  close(options: CloseOptions = {}): Promise<void> {
    return this.#front.close(options);
  }

  /** Closes the client, waiting for its outstanding requests. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
