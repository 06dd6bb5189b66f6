/**
 * Main thread, both ends of the cluster: who is there. Each node and each
 * client with jobs in Redis renews its presence in a sorted set of the queue
 * (scored by when it expires, on Redis's clock); a node also keeps a key
 * with what it is (host, pid, workers), and leaves a mark when it stops
 * gracefully, so that a client tells a node that left from one that died.
 * A node runs no job of a client gone silent past its lease, and stops those
 * it runs.
 *
 * @module
 */

import { hostname } from "node:os";
import type { RedisClient } from "./redis.ts";

/** The sorted set of a queue's nodes, each scored by when its presence expires (ms, Redis's clock). */
export function nodesKey(queue: string): string {
  return `threadpool:${queue}:nodes`;
}

/** What a node is ({@linkcode NodeInfo}, JSON), or `left` once it stopped gracefully. */
export function nodeKey(queue: string, id: string): string {
  return `threadpool:${queue}:node:${id}`;
}

/** The sorted set of a queue's clients with jobs in Redis, each scored by when its presence expires. */
export function clientsKey(queue: string): string {
  return `threadpool:${queue}:clients`;
}

/** Milliseconds a client may fall silent before nodes take it for gone, unless it says otherwise. */
export const DEFAULT_CLIENT_LEASE = 30_000;

/** Milliseconds a node's mark that it left gracefully lasts, at least. */
const LEFT_MARK_MS = 60_000;

/**
 * A node serving a queue, as it last told: from {@linkcode ClusterPool.nodes}.
 *
 * @example List the nodes
 * ```ts ignore
 * for (const node of await pool.nodes()) console.log(node.host, node.pid, node.workers);
 * ```
 */
export interface NodeInfo {
  /** The node's id, new each time a node starts. */
  id: string;
  /** The machine's name. */
  host: string;
  /** The node's process id on that machine. */
  pid: number;
  /** How many tasks its pool runs at once (its workers, times their concurrency). */
  workers: number;
  /** How many jobs it was running when it last told (at most every third of its lease). */
  running: number;
  /** When it started. */
  started: Date;
  /** Milliseconds it may fall silent before its jobs go to another node (and it leaves this list). */
  lease: number;
}

/** A node's presence, renewed: its score, its key, and the expired ones removed. */
const NODE_SCRIPT = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return now
`;

/** A node leaves: its presence removed, and its mark that it left. */
const LEAVE_SCRIPT = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], 'left', 'PX', ARGV[2])
return 1
`;

/** The clients present, with how many milliseconds each has left. */
const CLIENTS_SCRIPT = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local found = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES')
for i = 2, #found, 2 do found[i] = tostring(tonumber(found[i]) - now) end
return found
`;

/**
 * Lua, the first part of a client's check (`inbox.ts`): renews the client's
 * presence and sets `nodes` to the nodes present (their keys' values) and
 * `left` to which of the nodes named in `known` (ids, space-separated) left
 * gracefully. Each argument is the Lua expression of: the clients' set, the
 * nodes' set, the client's id, its time to live (ms), `known`, and the
 * prefix of a node's key.
 */
export function clientPresenceLua(
  clients: string,
  nodes: string,
  client: string,
  ttl: string,
  known: string,
  nodePrefix: string,
): string {
  return `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', ${clients}, now + tonumber(${ttl}), ${client})
local nodes = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', ${nodes}, now, '+inf')) do
  local info = redis.call('GET', ${nodePrefix} .. id)
  if info and info ~= 'left' then nodes[#nodes + 1] = info end
end
local left = {}
for id in string.gmatch(${known}, '%S+') do
  if redis.call('GET', ${nodePrefix} .. id) == 'left' then left[#left + 1] = id end
end
`;
}

/** The nodes present: each one's key's value (JSON). */
const NODES_SCRIPT = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local nodes = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  local info = redis.call('GET', ARGV[1] .. id)
  if info and info ~= 'left' then nodes[#nodes + 1] = info end
end
return nodes
`;

/** The nodes serving `queue` now, as they last told. */
export async function nodesPresent(queue: string, connection: RedisClient): Promise<NodeInfo[]> {
  const found = await connection.eval(
    NODES_SCRIPT,
    1,
    nodesKey(queue),
    nodeKey(queue, ""),
  ) as string[];
  return found.flatMap((json) => nodeInfo(json) ?? []);
}

/** A node's key's value as a {@linkcode NodeInfo}, or undefined if it is not one. */
export function nodeInfo(json: string): NodeInfo | undefined {
  try {
    const { id, host, pid, workers, running, started, lease } = JSON.parse(json);
    if (typeof id !== "string") return undefined;
    return { id, host, pid, workers, running, started: new Date(started), lease };
  } catch {
    return undefined;
  }
}

/** A node's presence in Redis, and what it knows of the clients'. */
export class NodePresence {
  readonly #queue: string;
  readonly #connection: RedisClient;
  readonly #lease: number;
  readonly #info: () => Omit<NodeInfo, "running" | "started"> & { running: number };
  readonly #started = Date.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** For each client known present, until when (on this node's clock). */
  readonly #clients = new Map<string, number>();
  /** The read of the clients' presence under way, when it began, and the one to follow it. */
  #reading: Promise<boolean> | null = null;
  #readAt = -Infinity;
  #next: Promise<boolean> | null = null;

  constructor(
    queue: string,
    connection: RedisClient,
    lease: number,
    info: () => Omit<NodeInfo, "running" | "started"> & { running: number },
  ) {
    this.#queue = queue;
    this.#connection = connection;
    this.#lease = lease;
    this.#info = info;
  }

  /** Tells Redis the node is here, and again every third of its lease, until {@linkcode leave}. */
  async start(): Promise<void> {
    await this.#renew();
    this.#timer = setInterval(() => this.#renew().catch(() => {}), Math.max(50, this.#lease / 3));
  }

  async #renew(): Promise<void> {
    const { id, ...rest } = this.#info();
    const info = JSON.stringify({ id, ...rest, started: this.#started });
    await this.#connection.eval(
      NODE_SCRIPT,
      3,
      nodesKey(this.#queue),
      nodeKey(this.#queue, id),
      clientsKey(this.#queue),
      id,
      this.#lease,
      info,
    );
  }

  /** The node stops gracefully: it leaves the list at once, with a mark that it left. */
  async leave(): Promise<void> {
    clearInterval(this.#timer);
    const { id } = this.#info();
    await this.#connection.eval(
      LEAVE_SCRIPT,
      2,
      nodesKey(this.#queue),
      nodeKey(this.#queue, id),
      id,
      Math.max(this.#lease, LEFT_MARK_MS),
    ).catch(() => {});
  }

  /**
   * Whether `client` is present: at once when the node knows it is, else
   * after a read of the clients' presence that began after this call (one
   * read for all that ask meanwhile). A client's first jobs come after its
   * presence: a new client is never taken for gone. When Redis cannot say,
   * the client is taken as present.
   */
  present(client: string): boolean | Promise<boolean> {
    const now = performance.now();
    if ((this.#clients.get(client) ?? -Infinity) > now) return true;
    return this.#fresh(now).then((read) =>
      !read || (this.#clients.get(client) ?? -Infinity) > performance.now()
    );
  }

  /** Of `clients`, those no longer present, after a fresh read (none when Redis cannot say). */
  async gone(clients: Iterable<string>): Promise<string[]> {
    if (!await this.#fresh(performance.now())) return [];
    const now = performance.now();
    return [...clients].filter((client) => (this.#clients.get(client) ?? -Infinity) <= now);
  }

  /** Resolves, true if it could read, once a read that began at `since` or later has ended. */
  #fresh(since: number): Promise<boolean> {
    if (this.#reading !== null && this.#readAt >= since) return this.#reading;
    if (this.#next !== null) return this.#next;
    if (this.#reading === null) return this.#reading = this.#read();
    const next = this.#reading.then(() => {
      this.#next = null;
      return this.#reading = this.#read();
    });
    this.#next = next;
    return next;
  }

  #read(): Promise<boolean> {
    const began = performance.now();
    this.#readAt = began;
    const reading = (async () => {
      try {
        const found = await this.#connection.eval(
          CLIENTS_SCRIPT,
          1,
          clientsKey(this.#queue),
        ) as string[];
        this.#clients.clear();
        for (let i = 0; i + 1 < found.length; i += 2) {
          this.#clients.set(found[i]!, began + Number(found[i + 1]));
        }
        return true;
      } catch {
        return false;
      }
    })().finally(() => {
      if (this.#reading === reading) this.#reading = null;
    });
    return reading;
  }
}

/**
 * Milliseconds between two looks at the clients of the jobs a node runs: a
 * job whose client is gone is stopped at most this long after the client's
 * lease has passed.
 */
const SWEEP_MS = 5_000;

/**
 * The jobs a node processes, by client: every {@linkcode SWEEP_MS} while
 * there are any, those of a client no longer present are stopped, and each
 * says at its end whether it ran.
 */
export class ClientJobs {
  /** The jobs being processed, with their clients. */
  readonly #clientOf = new Map<string, string>();
  /** Jobs whose calls have begun on the pool, and those stopped because their client went. */
  readonly #begun = new Set<string>();
  readonly #stopped = new Set<string>();
  readonly #timer: ReturnType<typeof setInterval>;

  /** Looks at the clients with `presence`, and stops a job of a gone one with `stop`. */
  constructor(presence: NodePresence, stop: (job: string) => void) {
    this.#timer = setInterval(async () => {
      if (this.#clientOf.size === 0) return;
      const gone = new Set(await presence.gone(new Set(this.#clientOf.values())));
      for (const [job, client] of this.#clientOf) {
        if (!gone.has(client) || this.#stopped.has(job)) continue;
        this.#stopped.add(job);
        stop(job);
      }
    }, SWEEP_MS);
  }

  /** The job `id` of `client` begins. */
  begin(id: string, client: string): void {
    this.#clientOf.set(id, client);
  }

  /** Its calls begin on the pool: stopped now, it may have run. */
  started(id: string): void {
    if (this.#clientOf.has(id)) this.#begun.add(id);
  }

  /** Its outcome is known: no more looks at its client. */
  ending(id: string): void {
    this.#clientOf.delete(id);
  }

  /**
   * It has ended (`ok`: with its value). Undefined when its client is to hear
   * its answer; else, stopped because its client went, `"1"` if it had begun
   * on the pool, `"0"` if not.
   */
  end(id: string, ok: boolean): "0" | "1" | undefined {
    const begun = this.#begun.delete(id);
    if (!this.#stopped.delete(id) || ok) return undefined;
    return begun ? "1" : "0";
  }

  /** The node stops. */
  stop(): void {
    clearInterval(this.#timer);
  }
}

/** What a node is, for {@linkcode NodeInfo}: its machine's name. */
export function hostName(): string {
  try {
    return hostname();
  } catch {
    return "unknown";
  }
}

/**
 * Milliseconds a client's requests wait in Redis with no node present
 * before it says so (its `unserved` event).
 */
export const UNSERVED_MS = 5_000;

/** What a client's checks saw of the nodes. */
export class NodesSeen {
  readonly #notices: {
    lost(node: NodeInfo): void;
    unserved(since: Date): void;
  };
  #nodes = new Map<string, NodeInfo>();
  /** Nodes that went silent past their lease, and their workers, since the client was made. */
  lost = 0;
  workersLost = 0;
  /** Since when the client's requests have waited with no node present, and whether it said so. */
  #noneSince: number | null = null;
  #told = false;

  constructor(notices: { lost(node: NodeInfo): void; unserved(since: Date): void }) {
    this.#notices = notices;
  }

  /** The nodes present at the last check. */
  get live(): number {
    return this.#nodes.size;
  }

  /** Their workers. */
  get workers(): number {
    let workers = 0;
    for (const node of this.#nodes.values()) workers += node.workers;
    return workers;
  }

  /** The ids of the nodes present at the last check. */
  known(): string[] {
    return [...this.#nodes.keys()];
  }

  /**
   * A check found these nodes present (each its JSON), and these of the
   * known ones gone gracefully; `waiting`: the client has requests in Redis.
   */
  saw(present: string[], left: string[], waiting: boolean): void {
    const nodes = new Map<string, NodeInfo>();
    for (const json of present) {
      const node = nodeInfo(json);
      if (node !== undefined) nodes.set(node.id, node);
    }
    const before = this.#nodes;
    this.#nodes = nodes;
    for (const [id, node] of before) {
      if (nodes.has(id) || left.includes(id)) continue;
      this.lost++;
      this.workersLost += node.workers;
      this.#notices.lost(node);
    }
    if (nodes.size > 0 || !waiting) {
      if (nodes.size > 0) this.#told = false;
      this.#noneSince = null;
      return;
    }
    const now = Date.now();
    this.#noneSince ??= now;
    if (!this.#told && now - this.#noneSince >= UNSERVED_MS) {
      this.#told = true;
      this.#notices.unserved(new Date(this.#noneSince));
    }
  }
}
