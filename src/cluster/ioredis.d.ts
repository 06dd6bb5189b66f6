/**
 * What the cluster uses of ioredis 6.0.0 (`npm.ts`), declared as that
 * version's own declarations do, without their references to Node's types.
 *
 * @module
 */

/** A key or an argument of a command. */
type Argument = string | number;

/** The client's options (ioredis's `RedisOptions`): passed on as they are. */
export interface RedisOptions {
  [option: string]: unknown;
}

/** Commands queued to be sent together ({@linkcode Redis.pipeline}). */
export interface Pipeline {
  xadd(key: string, ...args: Argument[]): Pipeline;
  pexpire(key: string, milliseconds: number): Pipeline;
  set(key: string, value: Argument, ...args: Argument[]): Pipeline;
  publish(channel: string, message: string): Pipeline;
  /** Each command's error (or null) and reply; null when the pipeline was discarded. */
  exec(): Promise<[error: Error | null, result: unknown][] | null>;
}

/** A Redis client. */
export declare class Redis {
  constructor(url: string, options?: RedisOptions);
  constructor(options: RedisOptions);
  /** `wait`, `connecting`, `connect`, `ready`, `close`, `reconnecting`, `end`. */
  readonly status: string;
  connect(): Promise<void>;
  disconnect(reconnect?: boolean): void;
  quit(): Promise<"OK">;
  on(event: "error", listener: (error: Error) => void): this;
  on(event: "message", listener: (channel: string, message: string) => void): this;
  on(event: "ready" | "reconnecting" | "end" | "close", listener: () => void): this;
  ping(): Promise<"PONG">;
  eval(script: string, numkeys: number, ...args: Argument[]): Promise<unknown>;
  set(key: string, value: Argument, ...args: Argument[]): Promise<"OK" | null>;
  mget(keys: string[]): Promise<(string | null)[]>;
  get(key: string): Promise<string | null>;
  publish(channel: string, message: string): Promise<number>;
  subscribe(...channels: string[]): Promise<unknown>;
  scan(cursor: number | string, ...args: Argument[]): Promise<[cursor: string, keys: string[]]>;
  xadd(key: string, ...args: Argument[]): Promise<string | null>;
  xread(
    ...args: Argument[]
  ): Promise<[key: string, entries: [id: string, fields: string[]][]][] | null>;
  xtrim(key: string, ...args: Argument[]): Promise<number>;
  pipeline(): Pipeline;
}
