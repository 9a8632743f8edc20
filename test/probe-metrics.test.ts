import { strict as assert } from "node:assert";
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import fc from "fast-check";
import {
  backoffMs, batchMetricData, buildEmfLines, buildMetricBatches, buildMetricData, isRetryable, putBatches, MAX_DATA_PER_REQUEST,
} from "../probe-lambda/metrics";
import type { ProbeResult } from "../probe-lambda/probe";
import { CLOUDWATCH_INTERNAL_ERROR, CLOUDWATCH_THROTTLING, startFakeCloudWatch, type FakeCloudWatch } from "../fixtures/fake-cloudwatch";

const NOW = new Date("2026-11-24T12:00:00.000Z");
const result = (deploymentId: string, ok: boolean, code = 0, latencyMs = 4.25): ProbeResult =>
  ({ deploymentId, ok, code, codeName: code === 0 ? "OK" : code === 5 ? "NOT_FOUND" : "UNAVAILABLE", message: "m", latencyMs });

describe("probe metrics: building", () => {
  it("emits ProbeSuccess per deployment, ProbeLatency only for answered calls, and the run counts without dimensions", () => {
    const data = buildMetricData({ results: [result("a", true), result("b", false, 0, 7), result("c", false, 5)], notProbed: 2, discoveryFailed: false }, NOW);
    const dim = (id: string) => [{ Name: "DeploymentId", Value: id }];
    assert.deepEqual(data, [
      { MetricName: "ProbeSuccess", Dimensions: dim("a"), Timestamp: NOW, Value: 1, Unit: "None" },
      { MetricName: "ProbeLatency", Dimensions: dim("a"), Timestamp: NOW, Value: 4.25, Unit: "Milliseconds" },
      { MetricName: "ProbeSuccess", Dimensions: dim("b"), Timestamp: NOW, Value: 0, Unit: "None" },
      { MetricName: "ProbeLatency", Dimensions: dim("b"), Timestamp: NOW, Value: 7, Unit: "Milliseconds" },
      { MetricName: "ProbeSuccess", Dimensions: dim("c"), Timestamp: NOW, Value: 0, Unit: "None" },
      { MetricName: "DeploymentsProbed", Timestamp: NOW, Value: 3, Unit: "Count" },
      { MetricName: "DeploymentsHealthy", Timestamp: NOW, Value: 1, Unit: "Count" },
      { MetricName: "DeploymentsUnhealthy", Timestamp: NOW, Value: 2, Unit: "Count" },
      { MetricName: "DeploymentsNotProbed", Timestamp: NOW, Value: 2, Unit: "Count" },
      { MetricName: "DiscoveryErrors", Timestamp: NOW, Value: 0, Unit: "Count" },
    ]);
  });

  it("reports a truncated discovery as DiscoveryErrors = 1 beside the measured data", () => {
    const data = buildMetricData({ results: [result("a", true)], notProbed: 0, discoveryFailed: false, discoveryTruncated: true }, NOW);
    assert.deepEqual(data.filter((d) => d.MetricName === "DiscoveryErrors" || d.MetricName === "ProbeSuccess").map((d) => [d.MetricName, d.Value]), [["ProbeSuccess", 1], ["DiscoveryErrors", 1]]);
  });

  it("emits only DiscoveryErrors = 1 when discovery failed", () => {
    assert.deepEqual(buildMetricData({ results: [], notProbed: 0, discoveryFailed: true }, NOW),
      [{ MetricName: "DiscoveryErrors", Timestamp: NOW, Value: 1, Unit: "Count" }]);
  });

  it("puts 1000 deployments (2005 data) into 3 requests of at most 1000 data, order kept", () => {
    const results = Array.from({ length: 1000 }, (_, i) => result(`dep-${i}`, i % 10 !== 0));
    const batches = buildMetricBatches({ results, notProbed: 0, discoveryFailed: false }, NOW, "Pixell/A2A");
    assert.deepEqual(batches.map((b) => b.MetricData.length), [1000, 1000, 5]);
    assert.ok(batches.every((b) => b.Namespace === "Pixell/A2A"));
    assert.deepEqual(batches.flatMap((b) => b.MetricData), buildMetricData({ results, notProbed: 0, discoveryFailed: false }, NOW));
    for (const b of batches) assert.ok(JSON.stringify(b).length < 1_000_000);
  });

  it("splits on the byte limit before the count limit", () => {
    const data = buildMetricData({ results: Array.from({ length: 50 }, (_, i) => result(`d${i}`, true)), notProbed: 0, discoveryFailed: false }, NOW);
    const oneSize = JSON.stringify(data[0]).length + 1;
    const batches = batchMetricData("N", data, MAX_DATA_PER_REQUEST, 60 + oneSize * 10);
    assert.ok(batches.length > 1);
    for (const b of batches) assert.ok(JSON.stringify(b).length <= 60 + oneSize * 10 + 10);
    assert.deepEqual(batches.flatMap((b) => b.MetricData), data);
  });

  it("writes one EMF document per deployment and one for the run", () => {
    const batches = buildMetricBatches({ results: [result("a", true, 0, 3)], notProbed: 0, discoveryFailed: false }, NOW, "Pixell/A2A");
    const docs = buildEmfLines(batches).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(docs, [
      {
        _aws: { Timestamp: NOW.getTime(), CloudWatchMetrics: [{ Namespace: "Pixell/A2A", Dimensions: [["DeploymentId"]], Metrics: [{ Name: "ProbeSuccess", Unit: "None" }, { Name: "ProbeLatency", Unit: "Milliseconds" }] }] },
        DeploymentId: "a", ProbeSuccess: 1, ProbeLatency: 3,
      },
      {
        _aws: {
          Timestamp: NOW.getTime(),
          CloudWatchMetrics: [{
            Namespace: "Pixell/A2A", Dimensions: [[]],
            Metrics: ["DeploymentsProbed", "DeploymentsHealthy", "DeploymentsUnhealthy", "DeploymentsNotProbed", "DiscoveryErrors"].map((Name) => ({ Name, Unit: "Count" })),
          }],
        },
        DeploymentsProbed: 1, DeploymentsHealthy: 1, DeploymentsUnhealthy: 0, DeploymentsNotProbed: 0, DiscoveryErrors: 0,
      },
    ]);
  });

  it("retries throttling, 5xx and network errors but not a bad request", () => {
    assert.equal(isRetryable({ name: "Throttling", $metadata: { httpStatusCode: 400 } }), true);
    assert.equal(isRetryable({ name: "InternalServiceFault", $metadata: { httpStatusCode: 500 } }), true);
    assert.equal(isRetryable(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })), true);
    assert.equal(isRetryable({ name: "InvalidParameterValue", $metadata: { httpStatusCode: 400 } }), false);
    // @smithy/node-http-handler's idle timeout in a stalled body arrives with the 200 it interrupted
    // (measured in test/probe-deadline.test.ts): still a network failure, so retried.
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

  it("delivers the exact metric data over AWS JSON 1.0, signed, in 3 requests for 1000 deployments", async () => {
    const results = Array.from({ length: 1000 }, (_, i) => result(`dep-${String(i).padStart(4, "0")}`, i !== 7, i === 7 ? 14 : 0, 2.5));
    const batches = buildMetricBatches({ results, notProbed: 0, discoveryFailed: false }, NOW, "Pixell/A2A");
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
    assert.deepEqual(dep7, [{ MetricName: "ProbeSuccess", Dimensions: [{ Name: "DeploymentId", Value: "dep-0007" }], Timestamp: NOW.getTime() / 1000, Value: 0, Unit: "None" }]);
  });

  it("retries a throttled request and then delivers it", async () => {
    cw.failNext(CLOUDWATCH_THROTTLING, 2);
    const batches = buildMetricBatches({ results: [result("a", true, 0, 1)], notProbed: 0, discoveryFailed: false }, NOW, "Pixell/A2A");
    const put = await putBatches(client, batches, fastRetry);
    assert.deepEqual(put, { batches: 1, sent: 1, failed: [] });
    assert.equal(cw.count("PutMetricData"), 3);
    assert.equal(cw.accepted.length, 1);
    assert.deepEqual(cw.accepted[0]!.MetricData.map((d) => [d.MetricName, d.Value]), [
      ["ProbeSuccess", 1], ["ProbeLatency", 1], ["DeploymentsProbed", 1], ["DeploymentsHealthy", 1], ["DeploymentsUnhealthy", 0], ["DeploymentsNotProbed", 0], ["DiscoveryErrors", 0],
    ]);
  });

  it("reports a batch that keeps failing with what was lost, and still sends the others", async () => {
    const results = Array.from({ length: 600 }, (_, i) => result(`d${i}`, true));
    const batches = buildMetricBatches({ results, notProbed: 0, discoveryFailed: false }, NOW, "Pixell/A2A");
    assert.equal(batches.length, 2);
    const isFirstBatch = (body: Record<string, unknown>): boolean =>
      (body.MetricData as { Dimensions?: { Value: string }[] }[])[0]?.Dimensions?.[0]?.Value === "d0";
    cw.failNext(CLOUDWATCH_INTERNAL_ERROR, 3, "PutMetricData", isFirstBatch);
    const put = await putBatches(client, batches, fastRetry);
    assert.equal(put.sent, 1);
    assert.equal(put.failed.length, 1);
    const failed = put.failed[0]!;
    assert.equal(failed.index, 0);
    assert.equal(failed.attempts, 3);
    assert.match(failed.error, /InternalServiceFault/);
    assert.equal(failed.lost.length, batches[failed.index]!.MetricData.length);
    assert.equal(cw.accepted.length, 1);
    assert.equal(cw.accepted[0]!.MetricData.length, batches[1 - failed.index]!.MetricData.length);
    assert.equal(cw.count("PutMetricData"), 4);
  });

  it("does not retry a rejected request", async () => {
    cw.failNext({ status: 400, type: "InvalidParameterValue", message: "bad", queryError: "InvalidParameterValue;Sender" }, 1);
    const put = await putBatches(client, buildMetricBatches({ results: [], notProbed: 0, discoveryFailed: true }, NOW, "Pixell/A2A"), fastRetry);
    assert.equal(put.failed[0]?.attempts, 1);
    assert.deepEqual(put.failed[0]?.lost, [{ metric: "DiscoveryErrors" }]);
    assert.equal(cw.count("PutMetricData"), 1);
  });
});

describe("probe metrics: batching property", () => {
  it("for any data, every batch is within both limits and the batches concatenate back to the input", () => {
    const datumArb = fc.record({
      MetricName: fc.constantFrom("ProbeSuccess", "ProbeLatency"),
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
