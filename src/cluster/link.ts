/**
 * Main thread, the cluster client's link to Redis: its two connections (one
 * for commands, one that blocks reading the client's answers) and the BullMQ
 * queue it adds jobs to; made when the first job comes, closed when the
 * client goes idle or closes. Closing never waits for an absent Redis: a
 * connection still being made is given up, and one whose Redis is away is
 * dropped at once.
 *
 * @module
 */

import { Queue } from "./npm.ts";
import { type Connection, type RedisClient, redisClient } from "./redis.ts";

/** What a link tells the engine that owns it. */
export interface LinkNotices {
  /** Redis refused this client for good (credentials, an untrusted certificate). */
  refused(error: Error): void;
  /** A connection was lost, with the error if there was one; it is being retried. */
  connectionLost(error: Error | undefined): void;
  /**
   * Connected, with the command client and the reader: first, or again after
   * a connection was lost (whatever Redis held may be gone).
   */
  connected(command: RedisClient, reader: RedisClient): void;
}

/** Why a connection being made was not: the link was closed meanwhile. */
const GAVE_UP = new Error("The connection was given up before it was made");

/** The client's connections to Redis, and the queue and events on them. */
export class RedisLink {
  /** The connections: commands on the first, the answers read (blocking) on the second. */
  clients: RedisClient[] = [];
  /** The queue, while connected. */
  queue: Queue | null = null;
  readonly #connection: Connection;
  readonly #name: string;
  readonly #notices: LinkNotices;
  #ready: Promise<boolean> | null = null;
  /** Connections being closed, which a new connection waits for. */
  #closing: Promise<void> = Promise.resolve();
  /** Counts closings: a connection begun before the latest one is not made. */
  #generation = 0;
  /** Set while a connection is being made: gives it up. */
  #giveUp: (() => void) | null = null;
  /** Whether a connection has failed since it was last ready. */
  #outage = false;

  /** A link to the queue `name`; it connects on the first {@linkcode ready}. */
  constructor(connection: Connection, name: string, notices: LinkNotices) {
    this.#connection = connection;
    this.#name = name;
    this.#notices = notices;
  }

  /** Whether it is connected, or connecting. */
  get open(): boolean {
    return this.#ready !== null;
  }

  /**
   * Connects, if it is not: true once connected, false if it was closed
   * before it could connect.
   */
  ready(): Promise<boolean> {
    if (this.#ready === null) {
      const generation = this.#generation;
      this.#ready = this.#closing.then(() => this.#connect(generation)).then(
        () => true,
        (error) => {
          if (error === GAVE_UP) return false;
          throw error;
        },
      );
    }
    return this.#ready;
  }

  /** Closes the connections; the next {@linkcode ready} opens new ones. */
  disconnect(): Promise<void> {
    const ready = this.#ready;
    this.#ready = null;
    // A connection still being made (Redis out of reach, perhaps for good) is given up, not
    // waited for: a close() or the idle disconnect would wait as long as Redis is away.
    this.#generation++;
    this.#giveUp?.();
    this.#closing = (async () => {
      const made = await ready?.catch(() => false);
      const [queue, [command, reader]] = [this.queue, this.clients];
      this.queue = null;
      this.clients = [];
      // The reader holds nothing worth finishing: a blocking read would only delay the close.
      reader?.disconnect();
      if (!made || this.#outage) {
        // Redis is away: a graceful close would wait for it to come back.
        queue?.close().catch(() => {});
        command?.disconnect();
        return;
      }
      await queue?.close().catch(() => {});
      // quit() lets commands already sent (a cancel, a removal) finish first.
      await command?.quit().catch(() => command.disconnect());
    })();
    return this.#closing;
  }

  async #connect(generation: number): Promise<void> {
    if (generation !== this.#generation) throw GAVE_UP;
    const refused = (error: Error) => this.#notices.refused(error);
    const clients = [
      redisClient(this.#connection, refused),
      redisClient(this.#connection, refused),
    ];
    this.clients = clients;
    const gaveUp = Promise.withResolvers<never>();
    gaveUp.promise.catch(() => {});
    this.#giveUp = () => {
      this.#giveUp = null;
      for (const client of clients) client.disconnect();
      gaveUp.reject(GAVE_UP);
    };
    const step = <T>(promise: Promise<T>): Promise<T> => Promise.race([promise, gaveUp.promise]);
    const [command, reader] = clients as [RedisClient, RedisClient];
    for (const client of clients) {
      let last: Error | undefined;
      client.on("error", (error: Error) => last = error);
      // ioredis reconnects only after a connection it did not mean to close was lost.
      client.on("reconnecting", () => {
        if (this.#outage || !this.clients.includes(client)) return;
        this.#outage = true;
        this.#notices.connectionLost(last);
      });
      client.on("ready", () => {
        last = undefined;
        if (!this.#outage || !this.clients.includes(client)) return;
        this.#outage = false;
        this.#notices.connected(command, reader);
      });
    }
    const queue = new Queue(this.#name, { connection: command });
    this.queue = queue;
    // Connection errors are the clients' to report (redis.ts): not printed again here.
    queue.on("error", () => {});
    await step(Promise.all([queue.waitUntilReady(), reader.ping()]));
    this.#giveUp = null;
    this.#notices.connected(command, reader);
  }
}
