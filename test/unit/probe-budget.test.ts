import { strict as assert } from "node:assert";
import fc from "fast-check";
import { DeadlineReached, deadlineSignal, FINAL_MARGIN_MS, invocationBudget, isTimeout, withDeadline } from "../../probe-lambda/budget";
import { AWS_HTTP_TIMEOUTS, CLOUDWATCH_HTTP_TIMEOUTS } from "../../probe-lambda/aws-clients";
import { PROBE_DEFAULTS } from "../../probe-lambda/config";
import { PROBE_RESERVE_MS } from "../../infra/config";

describe("probe budget: each step's share of the Lambda's time", () => {
  it("keeps the reserve for PutMetricData and the final margin for returning", () => {
    assert.deepEqual(invocationBudget(1_000_000, 30_000, 5000), { endsAt: 1_030_000, probesBy: 1_025_000, metricsBy: 1_029_500 });
  });

  it("keeps the steps in order for any remaining time and reserve (probes, then metrics, then the limit)", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 900_000 }), fc.integer({ min: 0, max: 600_000 }), (remaining, reserve) => {
      const b = invocationBudget(0, remaining, reserve);
      assert.ok(b.probesBy <= b.metricsBy && b.metricsBy < b.endsAt);
      assert.equal(b.endsAt - b.metricsBy, FINAL_MARGIN_MS);
    }));
  });

  it("the stack's reserve matches the probe's default, and a timed-out PutMetricData attempt can be retried inside it", () => {
    assert.equal(PROBE_RESERVE_MS, PROBE_DEFAULTS.reserveMs);
    const perAttempt = CLOUDWATCH_HTTP_TIMEOUTS.connectionTimeoutMs + CLOUDWATCH_HTTP_TIMEOUTS.requestTimeoutMs;
    assert.ok(perAttempt <= PROBE_DEFAULTS.reserveMs - FINAL_MARGIN_MS, "a connect that takes its whole cap plus a request that takes its whole cap still fit");
    assert.ok(CLOUDWATCH_HTTP_TIMEOUTS.requestTimeoutMs * 2 <= PROBE_DEFAULTS.reserveMs - FINAL_MARGIN_MS, "two attempts on a connected socket fit");
    assert.ok(AWS_HTTP_TIMEOUTS.requestTimeoutMs > 0 && AWS_HTTP_TIMEOUTS.socketTimeoutMs > 0 && AWS_HTTP_TIMEOUTS.connectionTimeoutMs > 0);
  });
});

describe("probe budget: deadline signals", () => {
  it("aborts at the deadline with DeadlineReached as the reason", async () => {
    const d = deadlineSignal(Date.now() + 50);
    assert.equal(d.signal.aborted, false);
    await new Promise((r) => d.signal.addEventListener("abort", r, { once: true }));
    assert.ok(d.signal.reason instanceof DeadlineReached);
    d.dispose();
  });

  it("is aborted at once when the deadline has passed", () => {
    const d = deadlineSignal(Date.now() - 1);
    assert.equal(d.signal.aborted, true);
    assert.ok(isTimeout(new Error("x"), d.signal));
  });

  it("withDeadline clears its timer when the step ends first, whether it resolved or threw", async () => {
    // A cleared timer never fires: the signal of a finished step stays un-aborted past its deadline.
    let resolved: AbortSignal | undefined;
    let thrown: AbortSignal | undefined;
    assert.equal(await withDeadline(Date.now() + 40, async (signal) => { resolved = signal; return 7; }), 7);
    await assert.rejects(withDeadline(Date.now() + 40, async (signal) => { thrown = signal; throw new Error("step failed"); }), /step failed/);
    await new Promise((r) => setTimeout(r, 120));
    assert.deepEqual([resolved?.aborted, thrown?.aborted], [false, false]);
  });

  it("tells timeouts (the SDK's AbortError and TimeoutError) from other failures", () => {
    const named = (name: string): Error => Object.assign(new Error("m"), { name });
    assert.deepEqual(["AbortError", "TimeoutError", "AccessDeniedException", "ServiceNotFound"].map((n) => isTimeout(named(n))), [true, true, false, false]);
  });
});
