// workerpool's worker for bench/compare.ts: the same tasks as bench_tasks.ts.
const workerpool = require("workerpool");

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

workerpool.worker({
  add: (a, b) => a + b,
  fib,
  echoBytes: (bytes) => new workerpool.Transfer(bytes, [bytes.buffer]),
});
