/**
 * Both ends of the cluster: Redis clients. `connection` is a Redis URL or
 * the client's options; every client is made with what BullMQ requires.
 * ioredis retries a refused password or an untrusted TLS certificate
 * forever, leaving calls pending: a `WRONGPASS`/`NOAUTH` reply or a
 * certificate error is caught here and ends the client, so that the pool
 * can fail clearly instead of hanging.
 *
 * @module
 */

import { Redis as IORedis, type RedisOptions } from "npm:ioredis@6.0.0";

/**
 * The Redis client's options (ioredis's): the common ones named here, any
 * other passed on as it is.
 *
 * @example A password-protected Redis
 * ```ts
 * import type { RedisConnectionOptions } from "@scope/threadpool/cluster";
 * import { equal } from "node:assert/strict";
 *
 * const options: RedisConnectionOptions = { host: "127.0.0.1", port: 6379, password: "secret" };
 * equal(options.port, 6379);
 * ```
 */
export interface RedisConnectionOptions {
  /** The server's host name. */
  host?: string;
  /** The server's port. */
  port?: number;
  /** The ACL user. */
  username?: string;
  /** The password (of the ACL user, or Redis's `requirepass`). */
  password?: string;
  /** The database number. */
  db?: number;
  /** TLS options: set (even to `{}`) to connect with TLS. */
  tls?: Record<string, unknown>;
  /** Any other ioredis option. */
  [option: string]: unknown;
}

/**
 * A Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for
 * TLS) or the client's options.
 *
 * @example Either form
 * ```ts
 * import type { Connection } from "@scope/threadpool/cluster";
 * import { equal } from "node:assert/strict";
 *
 * const byURL: Connection = "redis://:secret@127.0.0.1:6379/0";
 * const byOptions: Connection = { host: "127.0.0.1", port: 6379 };
 * equal(typeof byURL === "string" && typeof byOptions === "object", true);
 * ```
 */
export type Connection = string | RedisConnectionOptions;

/** A Redis client. */
export type RedisClient = IORedis;

/** What a client does when Redis refuses its credentials. */
export type OnRefused = (error: Error) => void;

/**
 * Checks a `connection` option.
 *
 * @throws {TypeError} When it is neither a Redis URL nor an options object.
 */
export function checkConnection(action: string, connection: unknown): Connection {
  if (typeof connection === "string") {
    if (!/^rediss?:\/\//.test(connection)) {
      throw new TypeError(
        `Cannot ${action} as 'connection' must be a redis:// or rediss:// URL or client options: current value is ${
          JSON.stringify(connection)
        }`,
      );
    }
    return connection;
  }
  if (typeof connection !== "object" || connection === null || Array.isArray(connection)) {
    throw new TypeError(
      `Cannot ${action} as 'connection' must be a redis:// or rediss:// URL or client options: current value is ${
        Deno.inspect(connection)
      }`,
    );
  }
  return connection as RedisConnectionOptions;
}

const REFUSED = /WRONGPASS|NOAUTH|invalid password|ERR AUTH/i;
const UNTRUSTED = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

/**
 * If `error` is Redis refusing this client for good — its credentials, or
 * (with TLS) a certificate this client does not trust — that error as the
 * pool reports it (whichever command met it first); otherwise undefined.
 * Retrying would only repeat it.
 */
export function refusedForGood(error: unknown): Error | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.message.startsWith("Redis refused")) return error;
  if (REFUSED.test(error.message)) {
    return new Error(`Redis refused the credentials: ${error.message}`, { cause: error });
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && UNTRUSTED.test(code)) {
    return new Error(
      `Redis refused: its TLS certificate is not trusted here (${code}: ${error.message}); ` +
        "trust its CA with DENO_CERT=<ca.pem>, or connection: { tls: { ca } }",
      { cause: error },
    );
  }
  return undefined;
}

/** Makes a client; `refused` hears once if Redis refuses it for good (see {@linkcode refusedForGood}). */
export function redisClient(connection: Connection, refused: OnRefused): RedisClient {
  const options: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: false };
  // ioredis's option types do not allow exactOptionalPropertyTypes' undefined: cast.
  const client = typeof connection === "string"
    ? new IORedis(connection, options as never)
    : new IORedis({ ...connection, ...options } as never);
  let told = false;
  client.on("error", (error: Error) => {
    const refusal = refusedForGood(error);
    if (told || refusal === undefined) return;
    told = true;
    client.disconnect();
    refused(refusal);
  });
  return client;
}
