/** The baseline's worker: one message in, one message out (one per value for a stream), nothing else. */
import { add, fib } from "./bench_tasks.ts";

const scope = globalThis as unknown as {
  onmessage: (event: MessageEvent<[number, string, unknown[]]>) => void;
  postMessage(message: [number, unknown], transfer?: Transferable[]): void;
};
scope.onmessage = ({ data: [id, name, args] }) => {
  if (name === "count") {
    // A stream by hand: one message per value, as fast as they come, no backpressure.
    for (let i = 0; i < (args[0] as number); i++) scope.postMessage([id, i]);
  } else if (name === "echoBytes") {
    const bytes = args[0] as Uint8Array<ArrayBuffer>;
    scope.postMessage([id, bytes], [bytes.buffer]);
  } else {
    scope.postMessage([
      id,
      name === "add" ? add(args[0] as number, args[1] as number) : fib(args[0] as number),
    ]);
  }
};
