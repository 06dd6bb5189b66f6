import { ok } from "node:assert/strict";
import { runFaultInjection } from "./fault_injection.ts";

Deno.test({
  name: "Fault injection: 2,000 requests with seeded faults each end exactly once, as they should",
  timeout: 120_000,
  async fn() {
    const report = await runFaultInjection(2_000, 20261125);
    ok(
      report.byKind.exit! > 0 && report.byKind.timeoutAsync! > 0 && report.byKind.runningAbort! > 0,
    );
  },
});

Deno.test({
  name: "Fault injection on workers without permissions: 1,000 requests, denials among the faults",
  timeout: 120_000,
  async fn() {
    const report = await runFaultInjection(1_000, 20261126, true);
    ok(report.byKind.denied! > 0 && report.byKind.exit! > 0 && report.byKind.timeoutAsync! > 0);
  },
});

Deno.test({
  name: "Fault injection with the lane off: 1,000 requests, every one by message, each ends once",
  timeout: 120_000,
  async fn() {
    const report = await runFaultInjection(1_000, 20261201, false, false);
    ok(
      report.byKind.exit! > 0 && report.byKind.timeoutAsync! > 0 && report.byKind.runningAbort! > 0,
    );
  },
});
