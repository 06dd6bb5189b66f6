/** Shared by the tests: the fixture tasks, a pool that is always closed, gates. */

import { equal } from "node:assert/strict";
import { type TaskSpec, ThreadPool, type ThreadPoolOptions, WorkRequest } from "../mod.ts";
import type * as Fixtures from "./fixtures/tasks.ts";
import { taskModule } from "../src/core/task.ts";

/** The fixture module's URL. */
export const fixtures: URL = new URL("./fixtures/tasks.ts", import.meta.url);

/** Typed specs for the fixture tasks. */
export const task = taskModule<typeof Fixtures>(fixtures);

/** An untyped spec, for tasks called with deliberately wrong input. */
export function raw(name: string): TaskSpec {
  return { module: fixtures, name };
}

/**
 * Registers a test that fails instead of hanging, runs `body` with a fresh
 * pool, always closes it, and checks that no worker thread is left alive.
 */
export function poolTest(
  name: string,
  options: ThreadPoolOptions & { workers?: number },
  body: (pool: ThreadPool) => Promise<void>,
): void {
  Deno.test({
    name,
    timeout: 30_000,
    async fn() {
      const { workers = 2, ...rest } = options;
      const pool = new ThreadPool(workers, rest);
      let failed = true;
      try {
        await body(pool);
        failed = false;
      } finally {
        // After a failure, work the test left blocked must not hang the close.
        await pool.close({ force: failed });
      }
      equal(pool.liveThreads, 0, "a worker thread is still alive after close()");
    },
  });
}

/** A gate a task can report its start through and wait on until released. */
export class Gate {
  readonly started: Int32Array<SharedArrayBuffer> = new Int32Array(new SharedArrayBuffer(4));
  readonly release: Int32Array<SharedArrayBuffer> = new Int32Array(new SharedArrayBuffer(4));

  /** Resolves once `n` tasks have started on this gate. */
  async whenStarted(n = 1): Promise<void> {
    for (;;) {
      const now = Atomics.load(this.started, 0);
      if (now >= n) return;
      const { async, value } = Atomics.waitAsync(this.started, 0, now);
      if (async) await value;
    }
  }

  /** The arguments of the fixture task `gate`, which returns `value` once the gate opens. */
  args(value: number): [Int32Array<SharedArrayBuffer>, Int32Array<SharedArrayBuffer>, number] {
    return [this.started, this.release, value];
  }

  /** Lets every task waiting on this gate finish. */
  open(): void {
    Atomics.store(this.release, 0, 1);
    Atomics.notify(this.release, 0);
  }
}

/**
 * Runs the fixture task `gate` and waits until it has started: a worker kept
 * busy until `gate.open()`, after which `running` resolves with `value`.
 */
export async function occupy(
  pool: ThreadPool,
  value = 0,
): Promise<{ gate: Gate; running: Promise<number> }> {
  const gate = new Gate();
  const running = pool.run(task("gate"), gate.args(value));
  await gate.whenStarted();
  return { gate, running };
}

/** As {@linkcode occupy}, through `putRequest()`: its result goes to `poll()`. */
export async function occupyWithRequest(pool: ThreadPool, value = 0): Promise<Gate> {
  const gate = new Gate();
  await pool.putRequest(new WorkRequest(task("gate"), gate.args(value)));
  await gate.whenStarted();
  return gate;
}

/** Resolves after the current macrotask: what was ready by now has run. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Shared flags a task raises: [0] it started, [1] it saw the cancellation. */
export function flags(): Int32Array<SharedArrayBuffer> {
  return new Int32Array(new SharedArrayBuffer(8));
}

/** Resolves once flag `index` is set. */
export async function raised(flags: Int32Array<SharedArrayBuffer>, index = 0): Promise<void> {
  while (Atomics.load(flags, index) === 0) {
    const { async, value } = Atomics.waitAsync(flags, index, 0);
    if (async) await value;
  }
}

/** The cancellable fixtures. */
export function cancellable(name: string): { module: URL; name: string } {
  return { module: new URL("./fixtures/cancellable.ts", import.meta.url), name };
}

/** Runs `deno run` with `args` in a new process; a process that hangs fails after `timeout` ms. */
export async function runDeno(
  args: string[],
  options: { cwd?: URL; timeout?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...args],
    ...(options.cwd && { cwd: options.cwd }),
    stdout: "piped",
    stderr: "piped",
    // A process that never exits fails its test instead of hanging it.
    signal: AbortSignal.timeout(options.timeout ?? 60_000),
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

/**
 * Fails unless, in every window of `per` ms, at most `max` of `starts` (ms)
 * fell; says which window held too many.
 */
export function withinRate(starts: number[], max: number, per: number): void {
  const sorted = starts.toSorted((a, b) => a - b);
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + per) j++;
    if (j - i > max) {
      throw new Error(
        `${j - i} starts within ${per} ms from ${sorted[i]! - sorted[0]!} ms, more than ${max}: ` +
          sorted.slice(i, j).map((at) => (at - sorted[0]!).toFixed(1)).join(" "),
      );
    }
  }
}
