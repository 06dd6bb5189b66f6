// piscina's worker for bench/compare.ts: the same tasks as bench_tasks.ts.
import { move } from "npm:piscina@5.3.2";

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

export default function ({ name, args }) {
  if (name === "add") return args[0] + args[1];
  if (name === "fib") return fib(args[0]);
  if (name === "echoBytes") return move(args[0]);
  throw new Error(`unknown task ${name}`);
}
