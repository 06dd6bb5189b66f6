/** The baseline's worker: one message in, one message out, nothing else. */
import { add, fib } from "./bench_tasks.ts";

const functions: Record<string, (...args: number[]) => number> = { add, fib };
const scope = globalThis as unknown as {
  onmessage: (event: MessageEvent<[number, string, number[]]>) => void;
  postMessage(message: [number, number]): void;
};
scope.onmessage = ({ data: [id, name, args] }) => {
  scope.postMessage([id, functions[name]!(...args)]);
};
