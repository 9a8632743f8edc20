import { strict as assert } from "node:assert";
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import fc from "fast-check";
import {
  backoffMs, batchMetricData, buildEmfLines, buildMetricBatches, buildMetricData, isRetryable, latencyData, putBatches, MAX_DATA_PER_REQUEST, type MetricInput,
} from "../../probe-lambda/metrics";
import { CLOUDWATCH_INTERNAL_ERROR, CLOUDWATCH_THROTTLING, startFakeCloudWatch, type FakeCloudWatch } from "../../fixtures/fake-cloudwatch";

const NOW = new Date("2026-11-24T12:00:00.000Z");

/** A run of `n` deployments, those in `failing` unhealthy, every call answered in `latency` ms. */
const run = (n: number, failing: string[] = [], latency = 4.25): MetricInput => ({
  discoveryFailed: false, probed: n, unhealthy: failing.length, notProbed: 0,
  latenciesMs: Array.from({ length: n }, () => latency), failing,
  tasks: { probed: 2, unhealthy: 0, failing: [], recovered: [] }, endpoint: { reachable: true, connectMs: 1.5 },
});

describe("probe metrics: building", () => {
  it("emits fleet counts without dimensions, latency as one distribution, and a series only for what fails or just recovered", () => {
    const data = buildMetricData({
      discoveryFailed: false, probed: 3, unhealthy: 2, notProbed: 2, latenciesMs: [4.25, 7, 4.21],
      failing: ["b", "c"], recovered: ["z"],
      tasks: { probed: 3, unhealthy: 1, failing: ["10.0.1.9:50051"], recovered: [] },
      endpoint: { reachable: true, connectMs: 2.5 },
    }, NOW);
    const count = (MetricName: string, Value: number) => ({ MetricName, Timestamp: NOW, Value, Unit: "Count" });
    assert.deepEqual(data, [
      count("DeploymentsProbed", 3), count("DeploymentsUnhealthy", 2), count("DeploymentsNotProbed", 2), count("DiscoveryErrors", 0),
      // 4.25 and 4.21 round to 4.3 and 4.2 (0.1 ms): distinct values with their counts.
      { MetricName: "ProbeLatency", Timestamp: NOW, Values: [4.2, 4.3, 7], Counts: [1, 1, 1], Unit: "Milliseconds" },
      count("TasksProbed", 3), count("TasksUnhealthy", 1),
      { MetricName: "EndpointReachable", Timestamp: NOW, Value: 1, Unit: "None" },
      { MetricName: "EndpointConnectTime", Timestamp: NOW, Value: 2.5, Unit: "Milliseconds" },
      { MetricName: "DeploymentFailing", Dimensions: [{ Name: "DeploymentId", Value: "b" }], Timestamp: NOW, Value: 1, Unit: "None" },
      { MetricName: "DeploymentFailing", Dimensions: [{ Name: "DeploymentId", Value: "c" }], Timestamp: NOW, Value: 1, Unit: "None" },
      { MetricName: "DeploymentFailing", Dimensions: [{ Name: "DeploymentId", Value: "z" }], Timestamp: NOW, Value: 0, Unit: "None" },
      { MetricName: "TaskFailing", Dimensions: [{ Name: "Task", Value: "10.0.1.9:50051" }], Timestamp: NOW, Value: 1, Unit: "None" },
    ]);
  });

  it("keeps the number of metric data flat in the fleet size: 10 and 10,000 healthy deployments send the same series", () => {
    const names = (n: number): string[] => [...new Set(buildMetricData(run(n), NOW).map((d) => `${d.MetricName ?? ""}${JSON.stringify(d.Dimensions ?? [])}`))].sort();
    assert.deepEqual(names(10), names(10_000));
    assert.equal(names(10_000).length, 9);
    // Equal latencies collapse into one value with its count: one datum for 10,000 calls.
    assert.equal(buildMetricData(run(10_000), NOW).filter((d) => d.MetricName === "ProbeLatency").length, 1);
  });

  it("splits a wide latency distribution into data of at most 150 values (PutMetricData's Values limit)", () => {
    const data = latencyData(Array.from({ length: 1000 }, (_, i) => i / 10), NOW);
    assert.deepEqual(data.map((d) => d.Values!.length), [150, 150, 150, 150, 150, 150, 100]);
    assert.equal(data.reduce((s, d) => s + d.Counts!.reduce((a, b) => a + b, 0), 0), 1000);
  });

  it("reports a truncated discovery or an unreadable task list as DiscoveryErrors = 1 beside the measured data", () => {
    const data = buildMetricData({ ...run(1), discoveryDegraded: true }, NOW);
    assert.deepEqual(data.filter((d) => d.MetricName === "DiscoveryErrors" || d.MetricName === "DeploymentsProbed").map((d) => [d.MetricName, d.Value]), [["DeploymentsProbed", 1], ["DiscoveryErrors", 1]]);
  });

  it("emits only DiscoveryErrors = 1 when discovery failed", () => {
    assert.deepEqual(buildMetricData({ discoveryFailed: true }, NOW),
      [{ MetricName: "DiscoveryErrors", Timestamp: NOW, Value: 1, Unit: "Count" }]);
  });

  it("reports an unreachable endpoint without a connect time", () => {
    const data = buildMetricData({ ...run(0), endpoint: { reachable: false, connectMs: 3000 } }, NOW);
    assert.deepEqual(data.filter((d) => (d.MetricName ?? "").startsWith("Endpoint")).map((d) => [d.MetricName, d.Value]), [["EndpointReachable", 0]]);
  });

  it("puts 2,000 failing deployments (a platform outage's worth of series) into 3 requests of at most 1000 data, order kept", () => {
    const failing = Array.from({ length: 2000 }, (_, i) => `dep-${i}`);
    const input = run(2000, failing);
    const batches = buildMetricBatches(input, NOW, "Pixell/A2A");
    assert.deepEqual(batches.map((b) => b.MetricData.length), [1000, 1000, 9]);
    assert.ok(batches.every((b) => b.Namespace === "Pixell/A2A"));
    assert.deepEqual(batches.flatMap((b) => b.MetricData), buildMetricData(input, NOW));
    for (const b of batches) assert.ok(JSON.stringify(b).length < 1_000_000);
  });

  it("splits on the byte limit before the count limit", () => {
    const data = buildMetricData(run(50, Array.from({ length: 50 }, (_, i) => `d${i}`)), NOW);
    const oneSize = JSON.stringify(data.at(-1)).length + 1;
    const batches = batchMetricData("N", data, MAX_DATA_PER_REQUEST, 60 + oneSize * 10);
    assert.ok(batches.length > 1);
    for (const b of batches) if (b.MetricData.length > 1) assert.ok(JSON.stringify(b).length <= 60 + oneSize * 10 + 10);
    assert.deepEqual(batches.flatMap((b) => b.MetricData), data);
  });

  it("writes one EMF document for the run and one per failing series, latency as an array of values", () => {
    const batches = buildMetricBatches({ discoveryFailed: false, probed: 2, unhealthy: 1, notProbed: 0, latenciesMs: [3, 3, 5], failing: ["a"] }, NOW, "Pixell/A2A");
    const docs = buildEmfLines(batches).map((l) => JSON.parse(l) as Record<string, unknown>);
    const fleet = ["DeploymentsProbed", "DeploymentsUnhealthy", "DeploymentsNotProbed", "DiscoveryErrors"];
    assert.deepEqual(docs, [
      {
        _aws: {
          Timestamp: NOW.getTime(),
          CloudWatchMetrics: [{
            Namespace: "Pixell/A2A", Dimensions: [[]],
            Metrics: [...fleet.map((Name) => ({ Name, Unit: "Count" })), { Name: "ProbeLatency", Unit: "Milliseconds" }, { Name: "TasksProbed", Unit: "Count" }, { Name: "TasksUnhealthy", Unit: "Count" }],
          }],
        },
        DeploymentsProbed: 2, DeploymentsUnhealthy: 1, DeploymentsNotProbed: 0, DiscoveryErrors: 0, ProbeLatency: [3, 3, 5], TasksProbed: 0, TasksUnhealthy: 0,
      },
      {
        _aws: { Timestamp: NOW.getTime(), CloudWatchMetrics: [{ Namespace: "Pixell/A2A", Dimensions: [["DeploymentId"]], Metrics: [{ Name: "DeploymentFailing", Unit: "None" }] }] },
        DeploymentId: "a", DeploymentFailing: 1,
      },
    ]);
  });
});

describe("probe metrics: retry decisions", () => {
  it("retries throttling, 5xx and network errors but not a bad request", () => {
    assert.equal(isRetryable({ name: "Throttling", $metadata: { httpStatusCode: 400 } }), true);
    assert.equal(isRetryable({ name: "InternalServiceFault", $metadata: { httpStatusCode: 500 } }), true);
    assert.equal(isRetryable(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })), true);
    assert.equal(isRetryable({ name: "InvalidParameterValue", $metadata: { httpStatusCode: 400 } }), false);
    // @smithy/node-http-handler's idle timeout in a stalled body arrives with the 200 it interrupted
    // (measured in test/process/probe-deadline.test.ts): still a network failure, so retried.
    assert.equal(isRetryable({ name: "TimeoutError", $metadata: { httpStatusCode: 200 } }), true);
  });

  it("backs off exponentially with full jitter, capped", () => {
    const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, policy, () => 0.999999)), [99, 199, 399, 799, 999, 999]);
    assert.equal(backoffMs(3, policy, () => 0), 0);
  });
});

describe("probe metrics: PutMetricData against a local CloudWatch endpoint", () => {
  let cw: FakeCloudWatch;
  let client: CloudWatchClient;
  const fastRetry = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 };

  beforeEach(async () => {
    cw = await startFakeCloudWatch();
    client = cw.client();
  });
  afterEach(async () => {
    client.destroy();
    await cw.close();
  });

  it("delivers the exact metric data over AWS JSON 1.0, signed, in 3 requests for 2,000 failing deployments", async () => {
    const failing = Array.from({ length: 2000 }, (_, i) => `dep-${String(i).padStart(4, "0")}`);
    const batches = buildMetricBatches(run(2000, failing, 2.5), NOW, "Pixell/A2A");
    const put = await putBatches(client, batches, fastRetry);
    assert.deepEqual(put, { batches: 3, sent: 3, failed: [] });
    assert.equal(cw.count("PutMetricData"), 3);
    // Requests over 10 KB arrive gzip-compressed (the SDK's request compression); the fake inflates them.
    assert.ok(cw.requests.some((r) => r.contentEncoding === "gzip"));
    assert.ok(cw.requests.every((r) => r.target === "GraniteServiceVersion20100801.PutMetricData" && r.contentType === "application/x-amz-json-1.0" && r.signed));
    const arrived = cw.accepted.flatMap((a) => a.MetricData).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
    // On the wire: timestamps in epoch seconds, every other field as built.
    const expected = batches.flatMap((b) => b.MetricData).map((d) => ({ ...d, Timestamp: NOW.getTime() / 1000 }))
      .sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
    assert.deepEqual(arrived, expected);
    const dep7 = cw.accepted.flatMap((a) => a.MetricData).filter((d) => d.Dimensions?.[0]?.Value === "dep-0007");
    assert.deepEqual(dep7, [{ MetricName: "DeploymentFailing", Dimensions: [{ Name: "DeploymentId", Value: "dep-0007" }], Timestamp: NOW.getTime() / 1000, Value: 1, Unit: "None" }]);
    // Values/Counts survive the wire: 2,000 calls at 2.5 ms as one value with its count.
    const latency = cw.accepted.flatMap((a) => a.MetricData).filter((d) => d.MetricName === "ProbeLatency");
    assert.deepEqual(latency.map((d) => [d.Values, d.Counts]), [[[2.5], [2000]]]);
  });

  it("retries a throttled request and then delivers it", async () => {
    cw.failNext(CLOUDWATCH_THROTTLING, 2);
    const batches = buildMetricBatches(run(1, [], 1), NOW, "Pixell/A2A");
    const put = await putBatches(client, batches, fastRetry);
    assert.deepEqual(put, { batches: 1, sent: 1, failed: [] });
    assert.equal(cw.count("PutMetricData"), 3);
    assert.equal(cw.accepted.length, 1);
    assert.deepEqual(cw.accepted[0]!.MetricData.map((d) => [d.MetricName, d.Value ?? d.Values]), [
      ["DeploymentsProbed", 1], ["DeploymentsUnhealthy", 0], ["DeploymentsNotProbed", 0], ["DiscoveryErrors", 0], ["ProbeLatency", [1]],
      ["TasksProbed", 2], ["TasksUnhealthy", 0], ["EndpointReachable", 1], ["EndpointConnectTime", 1.5],
    ]);
  });

  it("reports a batch that keeps failing with what was lost, and still sends the others", async () => {
    const batches = buildMetricBatches(run(1200, Array.from({ length: 1200 }, (_, i) => `d${i}`)), NOW, "Pixell/A2A");
    assert.equal(batches.length, 2);
    const isFirstBatch = (body: Record<string, unknown>): boolean =>
      (body.MetricData as { MetricName: string }[])[0]?.MetricName === "DeploymentsProbed";
    cw.failNext(CLOUDWATCH_INTERNAL_ERROR, 3, "PutMetricData", isFirstBatch);
    const put = await putBatches(client, batches, fastRetry);
    assert.equal(put.sent, 1);
    assert.equal(put.failed.length, 1);
    const failed = put.failed[0]!;
    assert.equal(failed.index, 0);
    assert.equal(failed.attempts, 3);
    assert.match(failed.error, /InternalServiceFault/);
    assert.equal(failed.lost.length, batches[failed.index]!.MetricData.length);
    assert.deepEqual(failed.lost.at(-1), { metric: "DeploymentFailing", deploymentId: "d990" }, "the lost series are named");
    assert.equal(cw.accepted.length, 1);
    assert.equal(cw.accepted[0]!.MetricData.length, batches[1 - failed.index]!.MetricData.length);
    assert.equal(cw.count("PutMetricData"), 4);
  });

  it("does not retry a rejected request", async () => {
    cw.failNext({ status: 400, type: "InvalidParameterValue", message: "bad", queryError: "InvalidParameterValue;Sender" }, 1);
    const put = await putBatches(client, buildMetricBatches({ discoveryFailed: true }, NOW, "Pixell/A2A"), fastRetry);
    assert.equal(put.failed[0]?.attempts, 1);
    assert.deepEqual(put.failed[0]?.lost, [{ metric: "DiscoveryErrors" }]);
    assert.equal(cw.count("PutMetricData"), 1);
  });
});

describe("probe metrics: batching property", () => {
  it("for any data, every batch is within both limits and the batches concatenate back to the input", () => {
    const datumArb = fc.record({
      MetricName: fc.constantFrom("DeploymentFailing", "TaskFailing"),
      Dimensions: fc.tuple(fc.string({ minLength: 1, maxLength: 128 })).map(([v]) => [{ Name: "DeploymentId", Value: v }]),
      Value: fc.double({ min: 0, max: 1e6, noNaN: true }),
    });
    fc.assert(fc.property(fc.array(datumArb, { maxLength: 300 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 200, max: 5000 }), (data, maxData, maxBytes) => {
      const batches = batchMetricData("Pixell/A2A", data, maxData, maxBytes);
      assert.deepEqual(batches.flatMap((b) => b.MetricData), data);
      for (const b of batches) {
        assert.ok(b.MetricData.length >= 1 && b.MetricData.length <= maxData);
        // A single datum larger than the budget still goes alone (CloudWatch will judge it); otherwise within budget.
        if (b.MetricData.length > 1) assert.ok(JSON.stringify(b).length <= maxBytes, `${JSON.stringify(b).length} > ${maxBytes}`);
      }
    }), { numRuns: 200 });
  });
});
