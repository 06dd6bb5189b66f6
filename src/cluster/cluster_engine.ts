/**
 * Main thread, the cluster engine (client side): jobs go to a BullMQ queue
 * in Redis, nodes (`serve`) run them on their own pools, and each outcome
 * comes back through the queue's events. The front above it is the same as
 * `ThreadPool`'s: queue, admission, timeouts and one outcome per request.
 *
 * @module
 */

import { Queue, QueueEvents } from "npm:bullmq@6.7.0";
import type { Engine, EngineHost, EngineWorkers } from "../core/engine.ts";
import { TaskError, TaskTimeoutError, WorkerLostError } from "../core/errors.ts";
import type { CallOutcome, Job } from "../core/job.ts";
import type { ResolvedTask } from "../core/task.ts";
import { decode, encode } from "./codec.ts";
import { portable } from "./modules.ts";
import { type ClusterAnswer, type ClusterJobData, DEFAULT_LOSSES } from "./protocol.ts";
import { type Connection, type RedisClient, redisClient, refusedForGood } from "./redis.ts";

/** What the cluster engine is built with, checked. */
export interface ClusterEngineOptions {
  connection: Connection;
  queue: string;
  /** What task module paths are relative to, as a folder URL. */
  root: URL;
  /** The largest encoded arguments or result, in bytes. */
  maxPayload: number;
  /** How many jobs this client keeps in Redis at once. */
  window: number;
  /** How many times a job may be lost with its node and run again. */
  maxLosses: number;
  /** What the client hears of beside its requests' outcomes. */
  notify: ClusterNotices;
}

/** What a client hears of that is no one request's outcome. */
export interface ClusterNotices {
  /** The connection to Redis was lost, with the error if there was one; it is being retried. */
  connectionLost(error: Error | undefined): void;
  /** A request's node was lost (it went silent past its lease): the request waits for another. */
  stalled(jobId: string): void;
}

/** How long a client with nothing in flight keeps its connections. */
const IDLE_MS = 250;

/** The channel on which a client tells nodes to stop a job. */
export function cancelChannel(queue: string): string {
  return `threadpool:${queue}:cancel`;
}

/** The key that says a job was cancelled, for nodes that missed the message. */
export function cancelKey(queue: string, jobId: string): string {
  return `threadpool:${queue}:cancelled:${jobId}`;
}

/** Seconds a cancel's key lives. */
export const CANCEL_TTL_S = 3600;

/** Runs jobs on the nodes that serve a BullMQ queue. */
export class ClusterEngine implements Engine {
  readonly size = 1;
  readonly concurrency: number;
  readonly #options: ClusterEngineOptions;
  /** The jobs in Redis, by BullMQ id. */
  readonly #jobs = new Map<string, Job>();
  readonly #active = new Set<Job>();
  /** Encoded arguments, made once when the call is admitted. */
  readonly #encoded = new WeakMap<readonly unknown[], string>();
  readonly #id = crypto.randomUUID().slice(0, 8);
  #host!: EngineHost;
  #clients: RedisClient[] = [];
  #queue: Queue | null = null;
  #events: QueueEvents | null = null;
  #ready: Promise<void> | null = null;
  /** Connections being closed, which a new connection waits for. */
  #closing: Promise<void> = Promise.resolve();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #refused: Error | null = null;
  /** Whether the connection has failed since it was last ready. */
  #outage = false;

  /** Creates the engine; it connects when the first job comes. */
  constructor(options: ClusterEngineOptions) {
    this.#options = options;
    this.concurrency = options.window;
  }

  attach(host: EngineHost): void {
    this.#host = host;
  }

  admit(task: ResolvedTask, args: readonly unknown[]): void {
    portable(task.href, this.#options.root);
    this.#encoded.set(args, encode(args, "the arguments", this.#options.maxPayload));
  }

  handedAhead(): number {
    return this.#jobs.size - this.#active.size;
  }

  running(): number {
    return this.#active.size;
  }

  pull(): void {
    if (this.#refused !== null) {
      for (let job = this.#host.take(0); job !== undefined; job = this.#host.take(0)) {
        this.#host.settle(job, false, this.#refused);
      }
      return;
    }
    clearTimeout(this.#idleTimer);
    if (this.#ready === null) this.#ready = this.#closing.then(() => this.#connect());
    this.#ready.then(() => this.#send(), (error) => this.#fail(error));
  }

  cancel(job: Job): void {
    const id = this.#bullId(job);
    this.#jobs.delete(id);
    this.#active.delete(job);
    this.#armIdle();
    const queue = this.#queue;
    if (queue === null) return;
    // Waiting: removed, it never runs. Running (locked): its node is told.
    queue.remove(id).catch(() => {});
    const [client] = this.#clients;
    client?.multi()
      .set(cancelKey(this.#options.queue, id), "1", "EX", CANCEL_TTL_S)
      .publish(cancelChannel(this.#options.queue), id)
      .exec()
      .catch(() => {});
  }

  canDeliver(): boolean {
    return true;
  }

  reportStarts(): void {}

  windingDown(): boolean {
    return false;
  }

  shutdown(): Promise<void> {
    clearTimeout(this.#idleTimer);
    return this.#disconnect();
  }

  /** Closes the connections; the next job opens new ones. */
  #disconnect(): Promise<void> {
    const ready = this.#ready;
    const events = () => this.#events;
    this.#ready = null;
    this.#closing = (async () => {
      await ready?.catch(() => {});
      const [queue, stream, clients] = [this.#queue, events(), this.#clients];
      this.#queue = null;
      this.#events = null;
      this.#clients = [];
      await stream?.close().catch(() => {});
      await queue?.close().catch(() => {});
      // quit() lets commands already sent (a cancel, a removal) finish first.
      for (const client of clients) await client.quit().catch(() => client.disconnect());
    })();
    return this.#closing;
  }

  /**
   * With nothing in Redis and nothing queued, disconnects after a moment:
   * open sockets would keep a script that forgot close() from exiting.
   */
  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    if (this.#jobs.size > 0 || this.#ready === null) return;
    this.#idleTimer = setTimeout(() => {
      if (this.#jobs.size === 0 && this.#host.backlog === 0) this.#disconnect();
    }, IDLE_MS);
    // The timer must not itself keep the process alive.
    Deno.unrefTimer(this.#idleTimer as unknown as number);
  }

  terminate(): Job[] {
    const jobs = [...this.#jobs.values()];
    for (const job of jobs) this.cancel(job);
    return jobs;
  }

  workers(): EngineWorkers {
    return { live: 0, dismissed: 0, lost: 0, abandoned: 0, recycled: 0 };
  }

  utilisation(): number[] {
    return [];
  }

  async #connect(): Promise<void> {
    const { connection, queue: name } = this.#options;
    const refused = (error: Error) => this.#fail(error);
    const clients = [redisClient(connection, refused), redisClient(connection, refused)];
    this.#clients = clients;
    for (const client of clients) {
      let last: Error | undefined;
      client.on("error", (error: Error) => last = error);
      // ioredis reconnects only after a connection it did not mean to close was lost.
      client.on("reconnecting", () => {
        if (this.#outage || !this.#clients.includes(client)) return;
        this.#outage = true;
        this.#options.notify.connectionLost(last);
      });
      client.on("ready", () => {
        this.#outage = false;
        last = undefined;
      });
    }
    const queue = new Queue(name, { connection: clients[0]! });
    this.#queue = queue;
    // Connection errors are the clients' to report (redis.ts): not printed again here.
    queue.on("error", () => {});
    // QueueEvents starts reading at "$" when it first polls, which may be after
    // this client's first jobs have begun: it reads from the stream's last
    // event now instead, so that no event of ours is missed.
    const last = await clients[0]!.xrevrange(queue.keys.events!, "+", "-", "COUNT", 1);
    const lastEventId = last[0]?.[0] ?? "0-0";
    // Its own connection: it blocks reading the event stream.
    const events = new QueueEvents(name, {
      connection: clients[1]!,
      blockingTimeout: 1_000,
      lastEventId,
    });
    this.#events = events;
    events.on("error", () => {});
    events.on("active", ({ jobId }) => {
      const job = this.#jobs.get(jobId);
      if (job === undefined || this.#active.has(job)) return;
      this.#active.add(job);
      this.#host.began(job);
    });
    // Back in the queue (its node was lost, or handed it back closing): not running any more.
    events.on("waiting", ({ jobId, prev }) => {
      const job = prev === "active" ? this.#jobs.get(jobId) : undefined;
      if (job !== undefined) this.#active.delete(job);
    });
    events.on("stalled", ({ jobId }) => {
      if (this.#jobs.has(jobId)) this.#options.notify.stalled(jobId);
    });
    events.on("completed", ({ jobId, returnvalue }) => {
      this.#answer(jobId, returnvalue as unknown as ClusterAnswer);
    });
    events.on("failed", ({ jobId, failedReason }) => {
      const job = this.#forget(jobId);
      if (job === undefined) return;
      const error = new WorkerLostError(`The node running this request was lost: ${failedReason}`);
      this.#host.settle(job, false, error);
    });
    await events.waitUntilReady();
  }

  /** Sends every job there is room for, in one call. */
  #send(): void {
    const queue = this.#queue;
    if (queue === null) return;
    const bulk: { name: string; data: ClusterJobData; opts: Record<string, unknown> }[] = [];
    const sent: Job[] = [];
    while (this.#jobs.size < this.#options.window) {
      const job = this.#host.take(performance.now());
      if (job === undefined) break;
      const data: ClusterJobData = {
        m: portable(job.task.href, this.#options.root),
        n: job.task.name,
        a: this.#encoded.get(job.args) ?? encode(job.args, "the arguments", Infinity),
      };
      if (job.timeout !== undefined) data.t = job.timeout;
      if (job.chunk) data.k = 1;
      if (this.#options.maxLosses !== DEFAULT_LOSSES) data.l = this.#options.maxLosses;
      const id = this.#bullId(job);
      job.place = this;
      this.#jobs.set(id, job);
      sent.push(job);
      bulk.push({
        name: job.task.name,
        data,
        opts: { jobId: id, removeOnComplete: true, removeOnFail: true, attempts: 1 },
      });
    }
    if (bulk.length === 0) return;
    queue.addBulk(bulk).catch((error: Error) => {
      const reason = refusedForGood(error) ?? error;
      for (const job of sent) {
        if (this.#jobs.delete(this.#bullId(job))) this.#host.settle(job, false, reason);
      }
    });
  }

  #answer(jobId: string, answer: ClusterAnswer): void {
    const job = this.#forget(jobId);
    if (job === undefined) return;
    if (answer.ok) {
      const value = decode(answer.v);
      this.#host.settle(job, true, job.chunk ? this.#calls(value, job.task) : value);
      return;
    }
    this.#host.settle(job, false, rebuild(answer.kind, decode(answer.v), job.task));
  }

  /** A chunk's outcomes, errors rebuilt. */
  #calls(value: unknown, task: ResolvedTask): CallOutcome[] {
    return (value as [boolean, unknown][]).map(([ok, item]) =>
      ok ? [true, item] : [false, rebuild("task", item, task)]
    );
  }

  #forget(jobId: string): Job | undefined {
    const job = this.#jobs.get(jobId);
    if (job === undefined) return undefined;
    this.#jobs.delete(jobId);
    this.#active.delete(job);
    this.#host.pull();
    this.#armIdle();
    return job;
  }

  /** Redis refused this client, or could not be reached at all: every job fails with why. */
  #fail(error: Error): void {
    this.#refused ??= refusedForGood(error) ?? error;
    for (const [id, job] of this.#jobs) {
      this.#jobs.delete(id);
      this.#active.delete(job);
      this.#host.settle(job, false, this.#refused);
    }
    this.#host.pull();
  }

  #bullId(job: Job): string {
    return `${this.#id}-${job.id}`;
  }
}

/** A node's error as the caller receives it. */
function rebuild(kind: string, cause: unknown, task: ResolvedTask): Error {
  const error = cause instanceof Error ? cause : new Error(String(cause));
  switch (kind) {
    case "timeout":
      return new TaskTimeoutError(error.message, { cause: error });
    case "lost":
      return new WorkerLostError(error.message, { cause: error });
    default: {
      const wrapped = new TaskError(error.message, { cause: error });
      const frames = error.stack?.split("\n").slice(1).join("\n");
      wrapped.stack = `TaskError: ${error.message}\n    in task "${task.name}" of ${task.href}` +
        (frames ? `\n${frames}` : "");
      return wrapped;
    }
  }
}
