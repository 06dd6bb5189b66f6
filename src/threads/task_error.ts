/**
 * Main thread, the Web Worker engine: a task's error as its caller receives it. The error that
 * crossed from the worker is rebuilt here (its class, message, stack and
 * cause) and wrapped in a `TaskError`, so that callers can tell a task's
 * failure from the pool's own.
 *
 * @module
 */

import { fromWireError, type WireError } from "../wire/error_wire.ts";
import { TaskError } from "../core/errors.ts";
import type { ResolvedTask } from "../core/task.ts";

/** A terminal colour code. */
const COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/**
 * Deno's words for a permission a thread lacks: what, and to what. A task's
 * own call is refused with a `NotCapable` of this message; a module its task
 * module imports, with a `TypeError` that goes on with where it was imported.
 */
const DENIED = /^Requires (\w+) access to (.+?), run again with the --allow-\w+ flag(?=$|\n)/;

/**
 * Rebuilds a task's error on this thread. With `sandboxed`, a permission the
 * worker lacked is said to be the pool's doing (the program itself may have
 * it), with the grant that opens it, instead of Deno's advice to run the
 * program with a flag it may already have.
 */
export function taskError(wire: WireError, task: ResolvedTask, sandboxed: boolean): TaskError {
  const cause = fromWireError(wire);
  if (sandboxed && (cause instanceof Deno.errors.NotCapable || cause instanceof TypeError)) {
    explainDenial(cause);
  }
  const error = new TaskError(cause.message, { cause });
  const frames = cause.stack?.split("\n").slice(1).join("\n");
  error.stack = `TaskError: ${cause.message}\n    in task "${task.name}" of ${task.href}` +
    (frames ? `\n${frames}` : "");
  return error;
}

function explainDenial(error: Error): void {
  const denied = DENIED.exec(error.message);
  if (denied === null) return;
  const [, kind, target] = denied as unknown as [string, string, string];
  const item = target.startsWith('"') ? target : JSON.stringify(target);
  const message = `Requires ${kind} access to ${target}, which the pool's 'permissions' option ` +
    `withheld from its workers; grant it with permissions: { ${kind}: [${item}] }`;
  // Deno colours where an import was made, even when nothing reads it on a terminal.
  const plain = (text: string) => text.replace(denied[0], message).replaceAll(COLOUR, "");
  if (error.stack !== undefined) error.stack = plain(error.stack);
  error.message = plain(error.message);
}
