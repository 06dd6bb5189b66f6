/**
 * `deno task bench:compare`: this pool, the raw Web Worker floor, and two
 * peers from npm (piscina, workerpool), measured in one run. Every
 * measurement runs in a fresh process per contender, several rounds, the
 * contenders' order rotating each round; the table gives medians and ratios
 * against the floor, and an SVG bar chart is written beside it.
 *
 *   deno run -A bench/compare.ts [rounds=3]
 *   deno run -A bench/compare.ts --from bench/results/compare.json   (render saved numbers)
 *
 * -A: the npm peers read the environment and system facts; the measurements
 * need to start processes and read their own memory use.
 */
import { type ContenderName, CONTENDERS } from "./contenders.ts";

interface Measure {
  id: string;
  title: string;
  unit: string;
  better: "higher" | "lower";
  only?: ContenderName[];
}

const MEASURES: Measure[] = [
  { id: "tiny", title: "tiny tasks (100,000 add)", unit: "tasks/s", better: "higher" },
  { id: "cpu", title: "CPU-bound speedup, 2 workers (32 × fib(27))", unit: "×", better: "higher" },
  { id: "cpu1", title: "CPU-bound speedup, 1 worker", unit: "×", better: "higher" },
  { id: "latency", title: "sequential round trip (median)", unit: "µs", better: "lower" },
  { id: "transfer", title: "64 × 8 MiB transferred both ways", unit: "MiB/s", better: "higher" },
  {
    id: "tinyPriority",
    title: "tiny tasks, each with one of four priorities",
    unit: "tasks/s",
    better: "higher",
    only: ["threadpool"],
  },
  { id: "first", title: "first result after process start", unit: "ms", better: "lower" },
  { id: "rss", title: "peak RSS, 100,000 tiny tasks queued", unit: "MiB", better: "lower" },
  {
    id: "idle",
    title: "CPU time of an idle pool over 5 s (threads alive)",
    unit: "ms",
    better: "lower",
    only: ["threadpool", "threadpool-nolane"],
  },
  {
    id: "stream",
    title: "stream of 1,000,000 small values (raw: a message each)",
    unit: "values/s",
    better: "higher",
    only: ["raw", "threadpool"],
  },
  {
    id: "streamRuns",
    title: "the same values from 1,000,000 run() calls",
    unit: "values/s",
    better: "higher",
    only: ["threadpool"],
  },
  {
    id: "streamRss",
    title: "peak RSS, a stream of 1,000,000 read slowly",
    unit: "MiB",
    better: "lower",
    only: ["threadpool"],
  },
  {
    id: "streamRss100k",
    title: "peak RSS, a stream of 100,000 read slowly",
    unit: "MiB",
    better: "lower",
    only: ["threadpool"],
  },
  {
    id: "io1",
    title: "10 ms async tasks, concurrency 1",
    unit: "tasks/s",
    better: "higher",
    only: ["threadpool"],
  },
  {
    id: "io8",
    title: "10 ms async tasks, concurrency 8",
    unit: "tasks/s",
    better: "higher",
    only: ["threadpool"],
  },
];

const from = Deno.args[0] === "--from" ? Deno.args[1] : undefined;
const rounds = from === undefined ? Number(Deno.args[0] ?? 3) : 0;
const here = new URL(".", import.meta.url);
let results = new Map<string, number[]>();

async function measure(contender: ContenderName, id: string): Promise<number> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("compare_one.ts", here).pathname, contender, id],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  const text = new TextDecoder().decode(stdout).trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !Number.isFinite(Number(text))) {
    throw new Error(`${contender} ${id} failed:\n${new TextDecoder().decode(stderr)}`);
  }
  return Number(text);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Saved {
  date: string;
  machine: string;
  rounds: number;
  results: Record<string, number[]>;
}

let date: string;
let machine: string;
let roundsRun: number;
if (from !== undefined) {
  const saved: Saved = JSON.parse(await Deno.readTextFile(from));
  ({ date, machine } = saved);
  roundsRun = saved.rounds;
  results = new Map(Object.entries(saved.results));
} else {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/model name\s*:\s*(.+)/)?.[1] ?? "unknown CPU";
  machine = `${navigator.hardwareConcurrency} vCPU ${cpu}, ` +
    `${(Deno.systemMemoryInfo().total / 2 ** 30).toFixed(0)} GiB, Deno ${Deno.version.deno}, ` +
    `${Deno.build.os} ${Deno.osRelease()}`;
  date = new Date().toISOString().slice(0, 10);
  roundsRun = rounds;
  console.error(`bench:compare on ${machine}, ${date}: ${rounds} rounds`);
  for (let round = 0; round < rounds; round++) {
    for (const m of MEASURES) {
      const who = m.only ?? [...CONTENDERS];
      // Interleaved: each round starts with a different contender.
      const order = who.map((_, i) => who[(i + round) % who.length]!);
      for (const contender of order) {
        const value = await measure(contender, m.id);
        const key = `${contender} ${m.id}`;
        results.set(key, [...(results.get(key) ?? []), value]);
        console.error(
          `  round ${round + 1}: ${contender.padEnd(10)} ${m.id.padEnd(8)} ${value.toFixed(1)}`,
        );
      }
    }
  }
}

const value = (contender: string, id: string) => {
  const values = results.get(`${contender} ${id}`);
  return values === undefined ? undefined : median(values);
};
const format = (n: number | undefined) =>
  n === undefined
    ? "—"
    : n >= 1000
    ? Math.round(n).toLocaleString("en")
    : n.toFixed(n >= 10 ? 0 : 2);

// Ratio to the floor, oriented so that above 1 is better than the floor.
const ratio = (m: Measure, contender: string) => {
  const v = value(contender, m.id);
  const floor = value("raw", m.id);
  if (v === undefined || floor === undefined) return undefined;
  return m.better === "higher" ? v / floor : floor / v;
};

const lines = [
  `Measured ${date} on ${machine}; ${roundsRun} fresh processes per contender and measure, medians.`,
  `Ratio: against the raw Web Worker floor measured in the same run, oriented so that above 1 is better than the floor.`,
  "",
  `| measure | unit | ${CONTENDERS.join(" | ")} | threadpool ÷ floor | best peer ÷ floor |`,
  `| --- | --- | ${CONTENDERS.map(() => "---:").join(" | ")} | ---: | ---: |`,
];
for (const m of MEASURES.filter((m) => m.only === undefined)) {
  const peers = ["piscina", "workerpool"].map((p) => ratio(m, p)).filter((r) => r !== undefined);
  lines.push(
    `| ${m.title} | ${m.unit} | ${CONTENDERS.map((c) => format(value(c, m.id))).join(" | ")} | ` +
      `${format(ratio(m, "threadpool"))}× | ${format(Math.max(...peers))}× |`,
  );
}
const io1 = value("threadpool", "io1");
const io8 = value("threadpool", "io8");
lines.push(
  "",
  `Async I/O (10 ms sleeps, 2 workers): threadpool ${format(io1)} tasks/s at concurrency 1, ` +
    `${format(io8)} at concurrency 8: ${format(io8! / io1!)}×.`,
  "",
  `Idle, threads alive (\`idleTimeout: Infinity\`), over 5 s: the process spent ` +
    `${format(value("threadpool", "idle"))} ms of CPU with the lane, ` +
    `${format(value("threadpool-nolane", "idle"))} ms without it.`,
);
const table = lines.join("\n");
console.log(table);

// The chart: one group of bars per measure, each bar a contender's ratio to the floor.
const shown = MEASURES.filter((m) => m.only === undefined);
const colors: Record<string, string> = {
  raw: "#9ca3af",
  threadpool: "#2563eb",
  "threadpool-nolane": "#93c5fd",
  piscina: "#f59e0b",
  workerpool: "#10b981",
};
const rowHeight = 16, groupGap = 18, left = 300, width = 760, scaleMax = 4;
const height = 60 + shown.length * ((CONTENDERS.length + 1) * rowHeight + groupGap);
const x = (r: number) => left + Math.min(r, scaleMax) / scaleMax * (width - left - 70);
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
  `font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n` +
  `<text x="10" y="20" font-size="14" font-weight="bold">threadpool vs raw Web Workers and peers (ratio to the floor; right is better)</text>\n` +
  `<text x="10" y="38" fill="#555">${date}, ${machine.replaceAll("&", "&amp;")}</text>\n`;
let y = 56;
for (const m of shown) {
  svg += `<text x="10" y="${y + 12}" font-weight="bold">${m.title}</text>\n`;
  y += rowHeight;
  for (const contender of CONTENDERS) {
    const r = ratio(m, contender) ?? 0;
    svg += `<text x="${left - 8}" y="${y + 12}" text-anchor="end">${contender}</text>` +
      `<rect x="${left}" y="${y + 2}" width="${Math.max(1, x(r) - left)}" height="${
        rowHeight - 4
      }" fill="${colors[contender]}"/>` +
      `<text x="${x(r) + 4}" y="${y + 12}">${r.toFixed(2)}×${r > scaleMax ? " →" : ""}</text>\n`;
    y += rowHeight;
  }
  y += groupGap;
}
svg +=
  `<line x1="${x(1)}" y1="50" x2="${x(1)}" y2="${y}" stroke="#111" stroke-dasharray="4 3"/>\n` +
  `<text x="${x(1) + 4}" y="${y - 4}" fill="#111">floor = 1</text>\n</svg>\n`;
await Deno.mkdir(new URL("results/", here), { recursive: true });
await Deno.writeTextFile(new URL("results/compare.svg", here), svg);
await Deno.writeTextFile(new URL("results/compare.md", here), table + "\n");
if (from === undefined) {
  const saved: Saved = { date, machine, rounds: roundsRun, results: Object.fromEntries(results) };
  await Deno.writeTextFile(
    new URL("results/compare.json", here),
    JSON.stringify(saved, null, 2) + "\n",
  );
}
console.error("wrote bench/results/compare.md, .svg and .json");
