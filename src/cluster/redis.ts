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

import { Redis as IORedis, type RedisOptions } from "./npm.ts";

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
/** TLS alerts: the server refused this client's side of the handshake. */
const NO_CLIENT_CERTIFICATE = /CERTIFICATE_REQUIRED/;
const CLIENT_CERTIFICATE_REFUSED =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|DECRYPT_ERROR)/;

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
  if (typeof code === "string" && NO_CLIENT_CERTIFICATE.test(code)) {
    return new Error(
      `Redis refused: it requires a client certificate (mutual TLS) and this client presented ` +
        `none (${code}: ${error.message}); give one with connection: { tls: { cert, key } }, or ` +
        "serve.ts --tls-cert <pem> --tls-key <pem>",
      { cause: error },
    );
  }
  if (typeof code === "string" && CLIENT_CERTIFICATE_REFUSED.test(code)) {
    return new Error(
      `Redis refused this client's TLS certificate (${code}: ${error.message}): it must be ` +
        "signed by a certificate authority that Redis trusts (its --tls-ca-cert-file)",
      { cause: error },
    );
  }
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
  const options: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: true };
  // ioredis's option types do not allow exactOptionalPropertyTypes' undefined: cast.
  const client = typeof connection === "string"
    ? new IORedis(connection, options as never)
    : new IORedis({ ...connection, ...options } as never);
  // ioredis hears only a socket's first error (stream.once): after Redis refuses a TLS
  // handshake, the socket reports a second (write EPIPE), which nothing hears and which ends
  // the process. Each socket it makes gets a listener that keeps such later errors quiet.
  let stream: { on?(event: string, listener: () => void): unknown } | undefined;
  Object.defineProperty(client, "stream", {
    configurable: true,
    get: () => stream,
    set(value) {
      stream = value;
      stream?.on?.("error", () => {});
    },
  });
  // Errors are heard below; the connection is retried by ioredis itself.
  client.connect().catch(() => {});
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

/**
 * `connection` with TLS options added (`ca`, `cert`, `key`: PEM text): the
 * options object, from the URL if it was one.
 */
export function withTls(connection: Connection, tls: Record<string, string>): Connection {
  if (Object.keys(tls).length === 0) return connection;
  const options = typeof connection === "string" ? fromURL(connection) : { ...connection };
  options.tls = { ...options.tls, ...tls };
  return options;
}

/** A Redis URL as client options. */
function fromURL(text: string): RedisConnectionOptions {
  const url = new URL(text);
  const options: RedisConnectionOptions = {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(url.port || 6379),
  };
  if (url.username !== "") options.username = decodeURIComponent(url.username);
  if (url.password !== "") options.password = decodeURIComponent(url.password);
  if (url.pathname.length > 1) options.db = Number(url.pathname.slice(1));
  if (url.protocol === "rediss:") options.tls = {};
  return options;
}
