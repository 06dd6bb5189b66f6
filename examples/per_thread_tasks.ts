/** Tasks for examples/per_thread.ts: each thread keeps its own log open from its start to its end. */

let log: Deno.FsFile | undefined;
const encoder = new TextEncoder();

/** The initializer: opens this thread's log, once, before its first task. */
export function openLog(path: string): void {
  log = Deno.openSync(path, { append: true });
}

/** A task: the SHA-256 of a text, written to this thread's open log. */
export async function hash(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  log?.writeSync(encoder.encode(`${hex} ${text}\n`));
  return hex;
}

/** The finalizer: closes the log when the thread stops (idle, dismissed, recycled or closed). */
export function closeLog(): void {
  log?.writeSync(encoder.encode("closed\n"));
  log?.close();
  log = undefined;
}
