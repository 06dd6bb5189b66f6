/** Tasks for examples/stream.ts: a CSV file parsed as it is read, one record at a time. */

/** One row of the example's file. */
export interface Row {
  id: number;
  name: string;
  amount: number;
}

/** How far the last parse got on this thread, and whether it closed its file. */
const last = { parsed: 0, closed: false };

/** Yields the file's records as it reads it; stopped early, it closes the file. */
export async function* parseCsv(path: string): AsyncGenerator<Row> {
  last.parsed = 0;
  last.closed = false;
  const file = await Deno.open(path);
  try {
    let header = true;
    for await (const line of lines(file.readable)) {
      if (header || line === "") {
        header = false;
        continue;
      }
      const [id, name, amount] = line.split(",");
      last.parsed++;
      yield { id: Number(id), name: name!, amount: Number(amount) };
    }
  } finally {
    // Leaving the loop above cancelled the file's stream, which closes the file.
    last.closed = true;
  }
}

/** What the last parse on this thread did. */
export function lastParse(): { parsed: number; closed: boolean } {
  return last;
}

async function* lines(bytes: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const text of bytes.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + text).split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest !== "") yield rest;
}
