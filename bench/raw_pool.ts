/**
 * The naive floor every pool is measured against: raw Web Workers, one
 * `postMessage` per task, round-robin, no queue, no bookkeeping beyond a map
 * of promises.
 */
export class RawPool {
  readonly #workers: Worker[];
  readonly #waiting = new Map<number, (value: unknown) => void>();
  /** For each stream, how many values it still has to send, and who waits for the last. */
  readonly #streams = new Map<number, { left: number; resolve: (count: number) => void }>();
  #next = 0;
  #id = 0;

  private constructor(size: number) {
    this.#workers = Array.from({ length: size }, () => {
      const worker = new Worker(new URL("./raw_worker.ts", import.meta.url), { type: "module" });
      worker.onmessage = ({ data: [id, value] }: MessageEvent<[number, unknown]>) => {
        const stream = this.#streams.get(id);
        if (stream !== undefined) {
          if (--stream.left === 0) {
            this.#streams.delete(id);
            stream.resolve(value as number + 1);
          }
          return;
        }
        this.#waiting.get(id)!(value);
        this.#waiting.delete(id);
      };
      return worker;
    });
  }

  /** Starts `size` workers and waits until each has answered once. */
  static async start(size: number): Promise<RawPool> {
    const pool = new RawPool(size);
    await Promise.all(pool.#workers.map((_, i) => pool.#on(i, "add", [1, 1])));
    return pool;
  }

  /** Runs one task on the next worker in turn. */
  run(name: string, args: unknown[], transfer: Transferable[] = []): Promise<unknown> {
    const index = this.#next;
    this.#next = (index + 1) % this.#workers.length;
    return this.#on(index, name, args, transfer);
  }

  #on(
    index: number,
    name: string,
    args: unknown[],
    transfer: Transferable[] = [],
  ): Promise<unknown> {
    const id = this.#id++;
    const { promise, resolve } = Promise.withResolvers<unknown>();
    this.#waiting.set(id, resolve);
    this.#workers[index]!.postMessage([id, name, args], transfer);
    return promise;
  }

  /** Has the next worker send `n` values, one message each; resolves with how many came. */
  stream(n: number): Promise<number> {
    const index = this.#next;
    this.#next = (index + 1) % this.#workers.length;
    const id = this.#id++;
    const { promise, resolve } = Promise.withResolvers<number>();
    this.#streams.set(id, { left: n, resolve });
    this.#workers[index]!.postMessage([id, "count", [n]]);
    return promise;
  }

  /** Terminates every worker. */
  close(): void {
    for (const worker of this.#workers) worker.terminate();
  }
}
