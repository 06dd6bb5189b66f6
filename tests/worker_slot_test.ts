import { deepEqual, equal } from "node:assert/strict";
import type { FromWorker } from "../src/wire/protocol.ts";
import { type SlotHost, type ThreadSettings, WorkerSlot } from "../src/threads/worker_slot.ts";

const settings: ThreadSettings = {
  concurrency: 1,
  name: "test",
  permissions: undefined,
  initializer: null,
  lane: true,
};

// No message that Deno 2.9 fails to deserialise could be found to send
// (WebAssembly.Module, CryptoKey, Blob, File and MessagePort all arrive), so
// the `messageerror` path is driven with a synthetic event on a real worker.
Deno.test("WorkerSlot reports a messageerror as the loss of its thread", async () => {
  const lost: string[] = [];
  const ready = Promise.withResolvers<void>();
  const host: SlotHost = {
    onMessage(_slot, message: FromWorker) {
      if (message.t === "ready") ready.resolve();
    },
    onLost(_slot, how) {
      lost.push(how);
    },
    onLaneResults() {},
  };
  const slot = new WorkerSlot(1);
  slot.start(host, settings);
  await ready.promise;
  slot.thread!.dispatchEvent(new MessageEvent("messageerror"));
  deepEqual(lost, ["a message from it could not be read"]);
  slot.stop();
  equal(slot.thread, null);
});

Deno.test("WorkerSlot ignores events from a thread it has already replaced", async () => {
  const lost: string[] = [];
  const host: SlotHost = {
    onMessage() {},
    onLost: (_slot, how) => lost.push(how),
    onLaneResults() {},
  };
  const slot = new WorkerSlot(2);
  slot.start(host, settings);
  const old = slot.thread!;
  slot.stop();
  slot.start(host, settings);
  old.dispatchEvent(new MessageEvent("messageerror"));
  deepEqual(lost, []);
  slot.stop();
  await Promise.resolve();
});
