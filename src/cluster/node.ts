/**
 * Main thread, a cluster node: takes jobs from the queue and runs them on a
 * local `ThreadPool`, as many at once as that pool can run, and answers each
 * with its outcome. It runs only the modules its allowlist names, resolves
 * module paths against its own `root`, and stops a running task when the
 * client that sent it cancels it.
 *
 * @module
 */

import { type Job as BullJob, WaitingError, Worker } from "./npm.ts";
import { PoolClosedError, TaskError, WorkerLostError } from "../core/errors.ts";
import { integer, quote } from "../pool/validate.ts";
import { ThreadPool } from "../thread_pool.ts";
import { DEFAULT_MAX_PAYLOAD, encode } from "./codec.ts";
import { Cancels } from "./cancels.ts";
import { Allowlist, folderURL, local, refusalOf } from "./modules.ts";
import { answering, CLOSE_GRACE_MS, InFlight, within } from "./node_close.ts";
import { answerFor, crossing, kindOf, refusedByClosing, runOn } from "./node_calls.ts";
import { JobNotHeld, RoomSignals, streamedBefore, streamIO, streamOn } from "./node_stream.ts";
import { ProgressRelay } from "./progress_relay.ts";
import { Replies } from "./replies.ts";
import {
  type AnswerField,
  type BatchOutcome,
  cancelChannel,
  cancelKey,
  type ClusterAnswer,
  type ClusterJobData,
  DEFAULT_LOSSES,
  MAX_LEASE,
  MAX_LOSSES,
  queueOption,
  requestPriority,
  STARTED_AFTER_MS,
} from "./protocol.ts";
import {
  checkConnection,
  type Connection,
  type RedisClient,
  redisClient,
  refusedForGood,
} from "./redis.ts";
import { MAX_PREFETCH, Turns } from "./turns.ts";
import { isJobLimits, type RateTurn, RateTurns } from "./rate_turns.ts";
import { ClientJobs, hostName, NodePresence } from "./presence.ts";

/**
 * Options for {@linkcode serve}.
 *
 * @example A node that runs one folder's task modules
 * ```ts ignore
 * import { ThreadPool } from "@scope/threadpool";
 * import { serve, type ServeOptions } from "@scope/threadpool/cluster";
 *
 * const options: ServeOptions = { connection: "redis://127.0.0.1:6379", modules: ["tasks/"] };
 * await using node = await serve(new ThreadPool(), options);
 * ```
 */
export interface ServeOptions {
  /** The Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS) or client options. */
  connection: Connection;
  /**
   * The queue's name: the same as the clients'. Not empty, and without `:` (BullMQ's key
   * separator).
   *
   * @default {"threadpool"}
   */
  queue?: string;
  /**
   * What task module paths from clients are relative to: a path or a `file:` URL.
   *
   * @default {the working directory}
   */
  root?: string | URL;
  /**
   * The modules this node runs: task module files, or folders of them (every module under each),
   * as paths relative to the working directory, `file:` URLs, or remote specifiers. Each local one
   * must exist when the node starts.
   */
  modules: readonly (string | URL)[];
  /**
   * Milliseconds this node may fall silent before its jobs are given to another node: a whole
   * number, at least 1.
   *
   * @default {30000}
   */
  lease?: number;
  /**
   * How many jobs the node holds per task its pool runs at once, the running
   * one included (1 to 1000): the rest wait in the node, and go to no other
   * node until it has run them or closes. By default it adapts: two while
   * jobs take longer than a few milliseconds, so that jobs go to idle nodes,
   * and up to 16 for shorter ones, so that a worker never waits for Redis.
   */
  prefetch?: number;
}

/**
 * A running node, from {@linkcode serve}.
 *
 * @example Stop taking jobs, and finish those running
 * ```ts ignore
 * const node = await serve(pool, { connection, modules: ["tasks.ts"] });
 * await node.close();
 * ```
 */
export interface ServeHandle extends AsyncDisposable {
  /**
   * Takes no new job, finishes those running, and disconnects. With Redis
   * unreachable (or not answering within 2 s) it stops those running instead:
   * nothing could be answered, and their jobs go to other nodes after the
   * lease.
   */
  close(): Promise<void>;
  /**
   * Resolves once the node has stopped: after `close()`, or by itself once
   * the local pool it serves was closed under it (it then hands each job it
   * is given back to the queue, for another node, and stops).
   */
  readonly closed: Promise<void>;
}

/**
 * Serves a queue: takes its jobs and runs them on `pool`.
 *
 * @param pool The local pool the tasks run on; it stays open after `close()`.
 * @param options Where the queue is, and what this node may run.
 * @returns The running node, once it is connected and waiting for jobs.
 * @throws {TypeError} When `pool` is not a `ThreadPool`, or an option is malformed.
 * @throws {PoolClosedError} When `pool` is closed.
 * @throws {Deno.errors.NotFound} When a local entry of `modules` names no file or folder.
 *
 * @example A node
 * ```ts ignore
 * import { ThreadPool } from "@scope/threadpool";
 * import { serve } from "@scope/threadpool/cluster";
 *
 * await using pool = new ThreadPool(4);
 * await using node = await serve(pool, { connection: "redis://127.0.0.1:6379", modules: ["tasks/"] });
 * ```
 */
export async function serve(pool: ThreadPool, options: ServeOptions): Promise<ServeHandle> {
  const action = "serve";
  if (!(pool instanceof ThreadPool)) {
    throw new TypeError(
      `Cannot ${action} as 'pool' must be a ThreadPool: current value is ${quote(pool)}`,
    );
  }
  if (pool.closed) throw new PoolClosedError(`Cannot ${action}: the pool is closed`);
  const connection = checkConnection(action, options?.connection);
  const queue = queueOption(action, options.queue);
  const root = folderURL(options.root, action);
  if (!Array.isArray(options.modules) || options.modules.length === 0) {
    throw new TypeError(`Cannot ${action} as 'modules' must name at least one module or folder`);
  }
  const allowed = new Allowlist(options.modules, action);
  // Whole milliseconds: BullMQ sets its locks with Redis's PX, which takes no fraction.
  const lease = integer(action, "lease", options.lease ?? 30_000, 1, MAX_LEASE);
  const prefetch = options.prefetch === undefined
    ? undefined
    : integer(action, "prefetch", options.prefetch, 1, MAX_PREFETCH);
  const clients: RedisClient[] = [];
  // Redis refusing the credentials ends the wait for it, instead of a retry forever.
  const refusal = Promise.withResolvers<never>();
  refusal.promise.catch(() => {});
  const client = () => {
    const made = redisClient(connection, (error) => refusal.reject(error));
    clients.push(made);
    return made;
  };
  const connected = async <T>(step: Promise<T>): Promise<T> => {
    try {
      return await Promise.race([step, refusal.promise]);
    } catch (error) {
      for (const made of clients) made.disconnect();
      throw refusedForGood(error) ?? error;
    }
  };
  const control = client();
  /**
   * BullMQ's connection for the node's jobs (fetching, completing), which everything the node
   * writes to a client's stream goes on too: a job's notices and its answer arrive in order.
   */
  const jobs = client();
  const subscriber = client();
  const cancels = new Cancels();
  const rooms = new RoomSignals();
  const channel = cancelChannel(queue);
  // A job's id is a cancel; `pull:<id>` says that a stream's client gave it more room, and
  // `prio:<priority>:<count>` that jobs of that priority were added (priorityMessage).
  subscriber.on("message", (_channel: string, id: string) => {
    if (id.startsWith("pull:")) return rooms.heard(id.slice(5));
    if (!id.startsWith("prio:")) return cancels.hear(id);
    const [, priority, count] = id.split(":");
    turns.yieldTo(Number(priority), Number(count));
  });
  // A cancel published while this node was not subscribed (before it started, or while its
  // connection was down) is still in its key: read them all whenever the subscription starts.
  const catchUp = async () => {
    await subscriber.subscribe(channel).catch((error: Error) => {
      if (!/NOPERM/.test(error.message)) throw error;
      throw new Error(
        `Redis refused to let this node hear cancels on channel ${channel} (${error.message}): ` +
          `its ACL user needs that channel (&${channel}); see the README's Security`,
        { cause: error },
      );
    });
    const prefix = cancelKey(queue, "");
    let cursor = "0";
    do {
      const [next, keys] = await control.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      for (const key of keys) cancels.hear(key.slice(prefix.length));
      cursor = next;
    } while (cursor !== "0");
  };
  await connected(catchUp());
  subscriber.on("ready", () => catchUp().catch(() => {}));

  // What the pool runs at once, and one more each to keep its workers busy; the node's
  // other jobs wait here, where a graceful close can hand them back to the queue.
  const turns = new Turns(() => capacity(), prefetch);
  const processing = new InFlight();
  const id = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  const capacity = () => Math.max(1, pool.size) * pool.concurrency;
  const rates = new RateTurns(queue, control, id, lease);
  // Jobs waiting for their rate limit hold no turn on the pool: BullMQ may fetch others beside
  // them (of other keys, or none), up to a bound.
  const fetching = () => turns.fetching() + Math.min(rates.waiting, MAX_RATE_WAITING);
  const presence = new NodePresence(queue, control, lease, () => ({
    id,
    host: hostName(),
    pid: Deno.pid,
    workers: capacity(),
    running: turns.running,
    lease,
  }));
  // The jobs being processed: those of a client found gone are stopped as if it had cancelled them.
  const clientJobs = new ClientJobs(presence, (id) => cancels.hear(id));
  let closing: Promise<void> | null = null;
  const stopped = Promise.withResolvers<void>();
  const close = (): Promise<void> =>
    closing ??= (async () => {
      clientJobs.stop();
      // Redis away (reconnecting, or frozen: no answer in time): nothing could be handed back or
      // answered, and a graceful close would wait for it to return. What runs here is stopped;
      // the jobs held here go to other nodes after their lease.
      if (!await answering(clients, CLOSE_GRACE_MS)) {
        cancels.abortAll(new Error("The node stopped while Redis was away"));
        rates.close();
        const closed = worker.close(true).catch(() => {});
        for (const made of clients) made.disconnect();
        // BullMQ's own close can wait for connections that will not come back.
        await within(closed, CLOSE_GRACE_MS);
      } else {
        await within(presence.leave(), CLOSE_GRACE_MS);
        const closed = worker.close();
        turns.handBack();
        rates.close();
        // Once this node's own jobs have ended, BullMQ is given a moment to finish closing, and
        // no more: after Redis came back empty, its close was seen waiting for ever.
        await Promise.race([closed, processing.ended().then(() => within(closed, CLOSE_GRACE_MS))]);
        for (const made of clients) made.disconnect();
      }
      stopped.resolve();
    })();
  const replies = new Replies(queue, jobs);
  const tell = (job: BullJob<ClusterJobData>, field: AnswerField, value: string) =>
    replies.tell(job, field, value).catch(() => {});
  const run = async (job: BullJob<ClusterJobData>, token?: string): Promise<number> => {
    processing.begin();
    try {
      // A job whose client is gone (silent past its lease) is not run: no one would hear it.
      const present = presence.present(job.data.c);
      if (present !== true && !await present) {
        tell(job, "g", "0");
        return 0;
      }
      clientJobs.begin(job.id!, job.data.c);
      let answer: ClusterAnswer;
      try {
        answer = await outcome(job, token);
      } finally {
        clientJobs.ending(job.id!);
      }
      // Stopped because its client went: that client, if it comes back, sends it again.
      const gone = clientJobs.end(job.id!, answer.ok);
      if (gone !== undefined) {
        tell(job, "g", gone);
        return 0;
      }
      // Sent on the connection BullMQ completes the job on, before it does: Redis runs the two in
      // that order, so no job is complete without its answer, and the node need not wait for a
      // reply first. (One that fails leaves a job gone without an answer: its client's check
      // finds it lost, and sends it again.) Only while the node holds the job: one that lost it
      // (frozen past its lease, and the job taken again) leaves the answer to the node that has
      // it, whose run may end otherwise.
      if (token === undefined) tell(job, "a", JSON.stringify(answer));
      else replies.tellIfHeld(job, token, "a", JSON.stringify(answer)).catch(() => {});
      // BullMQ's own copy of the answer would only cost Redis time.
      return 0;
    } finally {
      processing.end();
    }
  };
  const outcome = async (
    job: BullJob<ClusterJobData>,
    token?: string,
  ): Promise<ClusterAnswer> => {
    const { data } = job;
    // Each time a node holding the job fell silent past its lease, BullMQ put it back and
    // counted it: the client hears of each loss, and past its bound the job fails here.
    const losses = job.stalledCounter;
    if (losses > 0) tell(job, "l", String(losses));
    const module = local(data.m, root);
    if (!allowed.allows(module)) {
      const error = new TypeError(refusalOf(data.m, module, root, allowed));
      return answerFor(error, "refused");
    }
    if (data.r !== undefined && !isJobLimits(data.r)) {
      const error = new TypeError(
        `This node does not run a job with malformed rate limits: ${quote(data.r)} ` +
          "(each must be [key, max, per], as a ClusterPool sends them)",
      );
      return answerFor(error, "refused");
    }
    if (losses > (data.l ?? DEFAULT_LOSSES)) {
      const error = new WorkerLostError(
        `The node running this request was lost ${losses === 1 ? "once" : `${losses} times`} ` +
          `(the client's 'maxLosses' is ${data.l ?? DEFAULT_LOSSES})`,
      );
      return answerFor(error);
    }
    const id = job.id!;
    const controller = cancels.begin(id);
    const task = `${data.n}@${module}`;
    turns.arrived(task);
    worker.concurrency = fetching();
    let started: ReturnType<typeof setTimeout> | undefined;
    let toldStarted = false;
    // A rate-limited job waits for the pool to be able to start it before its start is counted.
    const running = data.r === undefined ? undefined : Promise.withResolvers<void>();
    // A job still running a moment after the pool could start it is told to its client as
    // started (for its timeout and stats()); a shorter one's answer says so itself.
    const began = () => {
      running?.resolve();
      started = setTimeout(() => {
        toldStarted = true;
        tell(job, "s", "1");
      }, STARTED_AFTER_MS);
    };
    let rate: RateTurn | null = null;
    try {
      if (data.r !== undefined && !pool.closed) {
        const asked = rates.take(data.r, controller.signal);
        worker.concurrency = fetching();
        rate = await asked.finally(() => worker.concurrency = fetching());
        if (rate === null) return await handBack(job, token!);
      }
      // A job given its rate turn keeps it: it starts as soon as the pool can run it.
      // A job without a BullMQ priority (not a ClusterPool's) is as one of priority 0.
      const priority = job.priority > 0 ? requestPriority(job.priority) : 0;
      const bulk = data.k === 1 || data.b !== undefined;
      const turn = pool.closed
        ? null
        : await turns.take(task, { began, keep: rate !== null, priority, bulk });
      if (turn === null) {
        // The node is closing (or its pool was closed under it), or holds more than it now should
        // (BullMQ fetched several before the first showed them long): this one has not started.
        if (rate !== null) rates.unused(rate);
        if (pool.closed) void close();
        return await handBack(job, token!);
      }
      let calls = data.b?.length ?? 1;
      let answer: ClusterAnswer;
      let ms = 0;
      // Reports go to the client's stream while the task runs, the last before its answer.
      const relay = data.p === 1 && data.b === undefined && data.k !== 1
        ? new ProgressRelay((encoded) => tell(job, "p", encoded))
        : undefined;
      try {
        if (rate !== null) {
          // Its start is counted where it happens, on the pool's thread; a turn that waited for
          // the pool past half the lease may no longer count in Redis, and is asked for again.
          await running!.promise;
          if (rates.stale(rate)) {
            rates.unused(rate);
            rate = await rates.take(data.r!, controller.signal);
            if (rate === null) return await handBack(job, token!);
          }
        }
        controller.signal.throwIfAborted();
        clientJobs.started(id);
        const turned = rate;
        const onStart = turned === null ? undefined : () => rates.started(turned);
        const value = data.s !== undefined
          ? await runStream(job, token!, module, losses, controller.signal, relay?.report, onStart)
          : data.b !== undefined
          ? await runBatch(id, data, data.b, module, controller.signal)
          : await runOn(pool, data, module, controller.signal, relay?.report, onStart);
        if (data.k === 1) calls = (value as unknown[]).length;
        if (pool.closed && refusedByClosing(value)) throw new PoolClosedError();
        const sent = data.b !== undefined || data.k === 1 ? crossing(value as unknown[]) : value;
        answer = { ok: true, v: encode(sent, "the result", DEFAULT_MAX_PAYLOAD) };
      } catch (error) {
        // The pool was closed under the node as the job began, or with force as it ran: not the
        // request's doing, so it runs again elsewhere (at least once, as after a node's loss).
        if (error instanceof PoolClosedError && pool.closed) {
          void close();
          clearTimeout(started);
          if (toldStarted) tell(job, "s", "0");
          return await handBack(job, token!);
        }
        // Not this node's to answer any more: BullMQ is told to leave the job as it is.
        if (error instanceof JobNotHeld) throw new WaitingError();
        answer = answerFor(error);
      } finally {
        relay?.flush();
        clearTimeout(started);
        ms = turns.release(turn, task, Math.max(1, calls));
        worker.concurrency = fetching();
      }
      answer.d = ms;
      return answer;
    } catch (error) {
      if (error instanceof WaitingError) throw error;
      return answerFor(error);
    } finally {
      // A turn whose start was not heard (the task never began, or its report was lost) counts as
      // a start: the safe side.
      if (rate !== null) rates.started(rate);
      cancels.end(id);
    }
  };

  /**
   * A stream's job: its values go to the client as it gives room; it ends
   * with no value of its own. One lost after it had sent values fails here.
   */
  const runStream = async (
    job: BullJob<ClusterJobData>,
    token: string,
    module: string,
    losses: number,
    signal: AbortSignal,
    onProgress?: (value: unknown) => void,
    onStart?: () => void,
  ): Promise<undefined> => {
    const id = job.id!;
    if (losses > 0) {
      const refused = await streamedBefore(queue, id, control);
      if (refused !== undefined) throw refused;
    }
    const written = (encoded: string) => replies.tellIfHeld(job, token, "v", encoded);
    const io = streamIO(queue, id, token, control, written, rooms);
    await streamOn(pool, job.data, module, signal, io, onProgress, onStart);
    return undefined;
  };

  /**
   * A batch's calls, each cancelled on its own: a cancel that came before the
   * batch began is read from its key first (one command for the batch).
   */
  const runBatch = async (
    id: string,
    data: ClusterJobData,
    calls: string[],
    module: string,
    whole: AbortSignal,
  ): Promise<BatchOutcome[]> => {
    const ids = calls.map((_, i) => `${id}:${i}`);
    // Without Redis, the messages and the keys read on reconnecting still tell.
    const flags = await control.mget(ids.map((call) => cancelKey(queue, call))).catch(() => []);
    flags.forEach((flag, i) => flag !== null && cancels.hear(ids[i]!));
    return Promise.all(calls.map(async (args, i): Promise<BatchOutcome> => {
      const own = cancels.begin(ids[i]!);
      try {
        const signal = AbortSignal.any([whole, own.signal]);
        return [true, await runOn(pool, { ...data, a: args }, module, signal)];
      } catch (error) {
        return [false, error instanceof TaskError ? error.cause : error, kindOf(error)];
      } finally {
        cancels.end(ids[i]!);
      }
    }));
  };

  const worker = new Worker<ClusterJobData, number>(queue, run, {
    connection: jobs,
    concurrency: fetching(),
    lockDuration: lease,
    stalledInterval: Math.max(500, Math.floor(lease / 2)),
    // The client's own bound (the job's `l`) fails a job first; this only backs it up.
    maxStalledCount: MAX_LOSSES + 1,
  });
  // Connection errors are the clients' to report (redis.ts): not printed again here.
  worker.on("error", () => {});
  await connected(Promise.all([worker.waitUntilReady(), presence.start()])).catch(
    async (error) => {
      clientJobs.stop();
      await worker.close(true).catch(() => {});
      throw error;
    },
  );
  return { close, closed: stopped.promise, [Symbol.asyncDispose]: close };
}

/**
 * The most jobs a node holds waiting for their rate limits beyond what it
 * holds for its pool: so many of one key waiting do not keep the node from
 * taking others.
 */
const MAX_RATE_WAITING = 256;

/**
 * Puts a job this node cannot run back in the queue, for another node,
 * unanswered. One no longer this node's (its lock lapsed while the node was
 * frozen, and another node has it; or Redis lost it) is left as it is: its
 * request is not this node's to fail.
 */
async function handBack(job: BullJob<ClusterJobData>, token: string): Promise<never> {
  await job.moveToWait(token).catch(() => {});
  throw new WaitingError();
}
