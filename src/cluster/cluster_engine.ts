/**
 * Main thread, the cluster engine (client side): jobs go to a BullMQ queue
 * in Redis, nodes (`serve`) run them on their own pools, and each outcome
 * comes back in this client's own stream of answers (`inbox.ts`), which
 * also tells it of jobs Redis lost. The front above it is the same as
 * `ThreadPool`'s: queue, admission, timeouts and one outcome per request.
 *
 * @module
 */

import type { Engine, EngineHost, EngineWorkers } from "../core/engine.ts";
import { TaskError, WorkerLostError } from "../core/errors.ts";
import type { Job } from "../core/job.ts";
import type { ResolvedTask } from "../core/task.ts";
import { reportProgress, settlements } from "./answers.ts";
import { ClientStreams, nodeWindow } from "./client_streams.ts";
import { JobMaker, type JobOptions } from "./job_maker.ts";
import { Outbox, type OutgoingJob } from "./outbox.ts";
import {
  type AnswerField,
  answersKey,
  bullPriority,
  CANCEL_TTL_S,
  cancelChannel,
  cancelKey,
  type ClusterAnswer,
  epochKey,
  MAX_LOSSES,
  priorityMessage,
  requestPriority,
} from "./protocol.ts";
import { Inbox, type JobsInRedis } from "./inbox.ts";
import {
  clientsKey,
  type NodeInfo,
  nodeKey,
  nodesKey,
  nodesPresent,
  NodesSeen,
} from "./presence.ts";
import { RedisLink } from "./link.ts";
import { type Connection, refusedForGood } from "./redis.ts";

/** What the cluster engine is built with, checked. */
export interface ClusterEngineOptions extends JobOptions {
  connection: Connection;
  queue: string;
  /** How many jobs this client keeps in Redis at once. */
  window: number;
  /** Milliseconds the client may fall silent before nodes take it for gone. */
  lease: number;
  /** What the client hears of beside its requests' outcomes. */
  notify: ClusterNotices;
}

/** What a client hears of that is no one request's outcome. */
export interface ClusterNotices {
  /** The connection to Redis was lost, with the error if there was one; it is being retried. */
  connectionLost(error: Error | undefined): void;
  /** A request's node was lost (it went silent past its lease): the request waits for another. */
  stalled(jobId: string): void;
  /**
   * Something went wrong that ends no request by itself: Redis lost its data
   * (the requests it held were sent again, or failed), or refused a cancel.
   */
  error(error: Error): void;
  /** A node the client saw went silent past its lease. */
  nodeLost(node: NodeInfo): void;
  /** The client's requests have waited in Redis since `since` with no node serving the queue. */
  unserved(since: Date): void;
}

/** A job this client sent: the requests it carries, and what is known of it. */
interface SentJob {
  /** Its requests (several for a batch), a request's place emptied when it ends first. */
  requests: (Job | null)[];
  /** Whether Redis has taken it (it is no longer only in the outbox). */
  added: boolean;
  /** How many times it was lost with a node, as nodes told. */
  losses: number;
  /** Set when its task's duration is learnt from it (`JobMaker.probe`): that task's key. */
  probe: string | undefined;
}

/** How many requests of a task whose duration is unknown go to Redis before a node says it. */
function probeRoom(workers: number): number {
  return Math.min(64, Math.max(2, workers));
}

/** Why a request that may have run was lost, as its `WorkerLostError` says. */
const LOST_BECAUSE = {
  job: "Redis lost this request (its job is gone, with no answer)",
  data: "Redis lost this request (it lost its data: restarted empty, failed over or evicted)",
  client: "Its node stopped this request, taking this client for gone (silent past its " +
    "'lease': its process was frozen, or cut off from Redis)",
};

/** How long a client with nothing in flight keeps its connections. */
const IDLE_MS = 250;

/** Runs jobs on the nodes that serve a BullMQ queue. */
export class ClusterEngine implements Engine {
  readonly size = 1;
  readonly timesRuns = true;
  readonly concurrency: number;
  readonly #options: ClusterEngineOptions;
  /** The jobs sent (in Redis, or in the outbox on their way), by BullMQ id. */
  readonly #jobs = new Map<string, SentJob>();
  /** Requests sent: in the jobs above, not yet ended. */
  #inRedis = 0;
  readonly #active = new Set<Job>();
  /** Jobs made and not yet added to Redis. */
  readonly #outbox = new Outbox({
    wanted: (id) => this.#jobs.has(id),
    added: (id) => {
      const sent = this.#jobs.get(id);
      if (sent !== undefined) sent.added = true;
      this.#inbox.watch();
    },
    unsent: (id, error) => {
      const reason = refusedForGood(error) ?? error;
      for (const job of this.#forget(id)) this.#host.settle(job, false, reason);
    },
    arrived: (jobs) => this.#tellPriority(jobs),
  });
  /** This client's id: its jobs' ids begin with it, and its answers' stream is named after it. */
  readonly #id = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  /** Jobs sent so far: each job's id is this client's, and this count. */
  #sent = 0;
  /** What each request's job carries, and how requests of a short task share one. */
  readonly #maker: JobMaker;
  #host!: EngineHost;
  readonly #link: RedisLink;
  readonly #inbox: Inbox;
  readonly #streams: ClientStreams;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #refused: Error | null = null;
  /** Sending waits for a node's first word on a task whose duration is being learnt. */
  #learning = false;
  /** The nodes serving the queue, as the client's checks saw them. */
  readonly nodes: NodesSeen;

  /** Creates the engine; it connects when the first job comes. */
  constructor(options: ClusterEngineOptions) {
    this.#options = options;
    this.concurrency = options.window;
    this.#maker = new JobMaker(options, this.#id);
    const { queue, notify } = options;
    this.nodes = new NodesSeen({ lost: notify.nodeLost, unserved: notify.unserved });
    const presence = {
      client: this.#id,
      clients: clientsKey(queue),
      nodes: nodesKey(queue),
      nodePrefix: nodeKey(queue, ""),
      lease: options.lease,
    };
    this.#streams = new ClientStreams(queue);
    this.#inbox = new Inbox(answersKey(queue, this.#id), epochKey(queue), presence, {
      heard: (id, field, value) => this.#heard(id, field, value),
      lost: (ids, dataLost) => this.#lost(ids, dataLost ? "data" : "job"),
      broken: (error) => this.#fail(error),
      jobs: () => this.#inRedisNow(),
      waiting: () => this.#inRedis > 0,
      knownNodes: () => this.nodes.known(),
      nodes: (present, left) => this.nodes.saw(present, left, this.#inRedis > 0),
    });
    this.#link = new RedisLink(options.connection, queue, {
      refused: (error) => this.#fail(error),
      connectionLost: notify.connectionLost,
      connected: (command, reader) => this.#inbox.start(command, reader),
    });
  }

  attach(host: EngineHost): void {
    this.#host = host;
  }

  admit(task: ResolvedTask, args: readonly unknown[]): void {
    this.#maker.admit(task, args);
  }

  handedAhead(): number {
    return this.#inRedis - this.running();
  }

  /** Requests a node has started, as many as the nodes serving have workers at most (a batch's run in turn). */
  running(): number {
    const workers = this.nodes.workers;
    return workers > 0 ? Math.min(this.#active.size, workers) : this.#active.size;
  }

  recall(): void {
    // Jobs in Redis are taken by priority there, whenever they were added.
  }

  pull(): void {
    if (this.#refused !== null) {
      for (let job = this.#host.take(0); job !== undefined; job = this.#host.take(0)) {
        this.#host.settle(job, false, this.#refused);
      }
      return;
    }
    clearTimeout(this.#idleTimer);
    if (this.#learning) return;
    this.#link.ready().then((made) => made && this.#send(), (error) => this.#fail(error));
  }

  cancel(job: Job): void {
    const id = job.place as string;
    const jobs = this.#jobs.get(id)?.requests;
    const at = jobs?.indexOf(job) ?? -1;
    if (at < 0) return;
    jobs![at] = null;
    this.#inRedis--;
    this.#active.delete(job);
    // A batch's request with others still pending: only its call is cancelled.
    const whole = jobs!.every((other) => other === null);
    if (whole) this.#ended(id);
    this.#armIdle();
    const { queue, clients: [client] } = this.#link;
    if (queue === null) return;
    // Waiting: removed, it never runs. Running (locked): its node is told.
    if (whole) queue.remove(id).catch(() => {});
    const told = whole ? id : `${id}:${at}`;
    // Two commands, not one transaction: Redis refusing one (an ACL user without the channel)
    // must not take the other with it, and is told, not swallowed.
    const { queue: name } = this.#options;
    client?.set(cancelKey(name, told), "1", "EX", CANCEL_TTL_S).catch((error) =>
      this.#cancelRefused(error, `set the cancel's key ${cancelKey(name, told)}`)
    );
    client?.publish(cancelChannel(name), told).catch((error) =>
      this.#cancelRefused(error, `publish the cancel on channel ${cancelChannel(name)}`)
    );
  }

  /**
   * Tells the nodes that jobs of a priority were added: each hands back as
   * many of the jobs it holds, not started, of a lower one, and takes the
   * higher ones instead.
   */
  #tellPriority(jobs: readonly OutgoingJob[]): void {
    let highest = Infinity;
    let count = 0;
    for (const { opts } of jobs) {
      if (opts.priority < highest) [highest, count] = [opts.priority, 1];
      else if (opts.priority === highest) count++;
    }
    const { clients: [client] } = this.#link;
    const message = priorityMessage(requestPriority(highest), count);
    client?.publish(cancelChannel(this.#options.queue), message).catch(() => {});
  }

  /** Redis refused part of a cancel: whoever runs the request may not hear of it. */
  #cancelRefused(error: Error, what: string): void {
    // Closing: the connection went first, and there is no one left to tell.
    if (!this.#link.open) return;
    this.#options.notify.error(
      new Error(
        `Redis refused to ${what} (${error.message}): a running request may not be stopped on its ` +
          "node; the client's ACL user needs the queue's keys and channel (see the README's Security)",
        { cause: error },
      ),
    );
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

  #disconnect(): Promise<void> {
    this.#inbox.stop();
    return this.#link.disconnect();
  }

  /**
   * With nothing in Redis and nothing queued, disconnects after a moment:
   * open sockets would keep a script that forgot close() from exiting.
   */
  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    if (this.#inRedis > 0 || !this.#link.open) return;
    this.#idleTimer = setTimeout(() => {
      if (this.#inRedis === 0 && this.#host.backlog === 0) this.#disconnect();
    }, IDLE_MS);
    // The timer must not itself keep the process alive.
    Deno.unrefTimer(this.#idleTimer as unknown as number);
  }

  terminate(): Job[] {
    const jobs = [...this.#jobs.values()].flatMap(({ requests }) => requests)
      .filter((job) => job !== null);
    for (const job of jobs) this.cancel(job);
    return jobs;
  }

  workers(): EngineWorkers {
    const { workers, workersLost } = this.nodes;
    return { live: workers, dismissed: 0, lost: workersLost, abandoned: 0, recycled: 0 };
  }

  /** The nodes serving the queue now, read from Redis (connecting for it, if need be). */
  async nodesNow(): Promise<NodeInfo[]> {
    clearTimeout(this.#idleTimer);
    try {
      if (!await this.#link.ready()) return [];
      const [command] = this.#link.clients;
      return command === undefined ? [] : await nodesPresent(this.#options.queue, command);
    } finally {
      this.#armIdle();
    }
  }

  utilisation(): number[] {
    return [];
  }

  /** What a node wrote of a job to this client's stream. */
  #heard(id: string, field: AnswerField, value: string): void {
    const sent = this.#jobs.get(id);
    if (sent === undefined) return; // ended already: heard twice, or cancelled
    if (field === "a") {
      let answer: ClusterAnswer;
      try {
        answer = JSON.parse(value);
      } catch {
        answer = value as never; // not JSON: #answer says it is no answer
      }
      this.#answer(id, answer);
    } else if (field === "g") {
      // A node took this client for gone: it did not run the job, or stopped it running.
      if (value === "1") return this.#lost([id], "client");
      // Not run: sent again, its losses so far still counted.
      for (const job of this.#forget(id)) {
        this.#maker.lost(job, this.#maker.lostBefore(job) + sent.losses);
        this.#host.giveBack(job);
      }
    } else if (field === "p") {
      reportProgress(sent.requests[0], value);
    } else if (field === "v" && !this.#streams.values(id, sent.requests[0], value)) {
      const error = new WorkerLostError(
        "Values of this stream were lost on their way from its node",
      );
      for (const job of sent.requests) {
        if (job === null) continue;
        this.cancel(job);
        this.#host.settle(job, false, error);
      }
    } else if (field === "s" && value === "1") {
      for (const job of sent.requests) {
        if (job === null || this.#active.has(job)) continue;
        this.#active.add(job);
        this.#host.began(job);
      }
    } else {
      // Back in the queue: handed back by a node closing ("s" 0), or lost with its node ("l").
      for (const job of sent.requests) if (job !== null) this.#active.delete(job);
      // At most what BullMQ counts (maxStalledCount): a garbled count cannot flood the events.
      const losses = Math.min(Number(value), MAX_LOSSES + 1);
      // One event per loss: a node killed before it told of the loss before is told of by the next.
      for (; field === "l" && sent.losses < losses; sent.losses++) this.#options.notify.stalled(id);
    }
  }

  /** The jobs Redis holds, as far as this client knows: what a check asks about. */
  #inRedisNow(): JobsInRedis {
    const ids: string[] = [];
    const keys: string[] = [];
    const { queue } = this.#link;
    if (queue === null) return { ids, keys };
    for (const [id, sent] of this.#jobs) {
      if (!sent.added) continue;
      ids.push(id);
      keys.push(queue.toKey(id));
    }
    return { ids, keys };
  }

  /**
   * Redis no longer holds these jobs, and they left no answer: each request
   * may have run, so it counts as lost, as with a node. Within `maxLosses`
   * it is sent again (at least once); past it, it fails.
   */
  #lost(ids: string[], why: "job" | "data" | "client"): void {
    let resent = 0;
    let failed = 0;
    for (const id of ids) {
      const losses = this.#jobs.get(id)?.losses ?? 0;
      // A stream that sent values never runs again: they would arrive twice.
      const streamed = this.#streams.streamed(id);
      for (const job of this.#forget(id)) {
        const lost = this.#maker.lostBefore(job) + losses + 1;
        if (lost > this.#options.maxLosses || streamed) {
          failed++;
          this.#host.settle(
            job,
            false,
            new WorkerLostError(
              streamed
                ? `${LOST_BECAUSE[why]} after its stream had sent values: a stream never runs again`
                : `${LOST_BECAUSE[why]}; it may have run, and 'maxLosses' ` +
                  `(${this.#options.maxLosses}) lets it run no more`,
            ),
          );
        } else {
          resent++;
          this.#maker.lost(job, lost);
          this.#host.giveBack(job);
        }
      }
    }
    if (why === "data") {
      this.#options.notify.error(
        new Error(
          `Redis lost its data (restarted empty, failed over or evicted): ${resent} requests ` +
            `sent again, ${failed} failed`,
        ),
      );
    }
  }

  /**
   * Sends every request there is room for, in one call: a short task's
   * requests queued one after another go as batches.
   */
  #send(): void {
    const { queue } = this.#link;
    if (queue === null) return;
    let batch: Job[] = [];
    const add = (jobs: Job[]) => {
      const data = this.#maker.data(jobs);
      // A request sent again goes as a new job: a late answer to the old one is not mistaken for it.
      const id = `${this.#id}-${++this.#sent}`;
      for (const job of jobs) job.place = id;
      const { stream } = jobs[0]!;
      if (stream !== undefined) {
        data.w = nodeWindow(stream.highWaterMark);
        data.s = this.#streams.open(id, jobs[0]!, data.w, () => this.#link.clients[0]);
      }
      const probe = this.#maker.probe(jobs);
      this.#jobs.set(id, { requests: jobs, added: false, losses: 0, probe });
      this.#outbox.push({
        name: data.n,
        data,
        opts: {
          jobId: id,
          removeOnComplete: true,
          removeOnFail: true,
          attempts: 1,
          priority: bullPriority(jobs[0]!.priority),
        },
      });
    };
    let room = 0;
    while (this.#inRedis < this.#options.window) {
      const job = this.#host.take(performance.now());
      if (job === undefined) break;
      // Some requests never join a batch, whatever queued before them (JobMaker.alone): a batch
      // is run as plain calls, each of one argument list, with no timeout.
      const alone = this.#maker.alone(job);
      const head = batch[0];
      const joins = head !== undefined && !alone && batch.length < room &&
        JobMaker.sameTask(head, job);
      if (!joins) {
        if (head !== undefined) add(batch);
        batch = [];
        // A new job: of a task being learnt, it may have to wait for the answers.
        if (this.#maker.mustWait(job, probeRoom(this.nodes.workers))) {
          this.#host.giveBack(job);
          this.#learning = true;
          break;
        }
        room = alone ? 1 : this.#maker.batchRoom(job);
      }
      this.#inRedis++;
      if (room > 1) batch.push(job);
      else add([job]);
    }
    if (batch.length > 0) add(batch);
    this.#outbox.send(queue);
  }

  #answer(jobId: string, answer: ClusterAnswer): void {
    const jobs = this.#jobs.get(jobId)?.requests;
    if (jobs === undefined) return;
    const { task } = jobs.find((job) => job !== null)!;
    if (typeof answer?.d === "number") this.#maker.learn(task, answer.d, jobs.length);
    const pending = this.#forget(jobId);
    try {
      const ran = typeof answer?.d === "number" ? answer.d : undefined;
      for (const [job, ok, value] of settlements(answer, jobs, task)) {
        this.#host.settle(job, ok, value, undefined, ran);
      }
    } catch (cause) {
      // Not an answer from a node of this version: each request still ends, once.
      const why = (cause as Error)?.message ?? String(cause);
      const error = new TaskError(`The node answered wrongly: ${why}`, { cause });
      for (const job of pending) this.#host.settle(job, false, error);
    }
  }

  /** A job has ended in Redis: the requests it still carried, which the caller settles. */
  #forget(jobId: string): Job[] {
    const jobs = this.#jobs.get(jobId)?.requests;
    if (jobs === undefined) return [];
    this.#ended(jobId);
    const pending = jobs.filter((job) => job !== null);
    this.#inRedis -= pending.length;
    for (const job of pending) this.#active.delete(job);
    this.#host.pull();
    this.#armIdle();
    return pending;
  }

  /**
   * A job has ended, and is forgotten: if its task's duration was being
   * learnt from it, the requests waiting for that may go.
   */
  #ended(jobId: string): void {
    const sent = this.#jobs.get(jobId);
    this.#jobs.delete(jobId);
    this.#streams.forget(jobId);
    if (sent?.probe === undefined) return;
    this.#maker.probed(sent.probe);
    sent.probe = undefined;
    if (!this.#learning) return;
    this.#learning = false;
    this.#host.pull();
  }

  /** Redis refused this client, or could not be reached at all: every job fails with why. */
  #fail(error: Error): void {
    this.#refused ??= refusedForGood(error) ?? error;
    for (const id of [...this.#jobs.keys()]) {
      for (const job of this.#forget(id)) this.#host.settle(job, false, this.#refused);
    }
    this.#host.pull();
  }
}
