/**
 * The probe end to end on 127.0.0.1: fake Cloud Map (real SDK) lists the deployments,
 * the probe calls Health through the real router in front of real demo agents, and the
 * metrics arrive at a fake CloudWatch (real SDK).
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import type * as grpc from "@grpc/grpc-js";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { discoverFromCloudMap } from "../../probe-lambda/discover";
import { putBatches } from "../../probe-lambda/metrics";
import { createProbeClient } from "../../probe-lambda/probe";
import { runProbe } from "../../probe-lambda/run";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";
import { startFakeCloudMap, type FakeCloudMap, type FakeInstance } from "../../fixtures/fake-cloudmap";
import { startFakeCloudWatch, type FakeCloudWatch, type WireMetricDatum } from "../../fixtures/fake-cloudwatch";

describe("probe through the real router", function () {
  this.timeout(30_000);
  let dir: string;
  let registryPath: string;
  let good: DemoAgent;
  let sick: DemoAgent;
  let hung: DemoAgent;
  let deadPort: number;
  let router: RunningRouter;
  let cloudMap: FakeCloudMap;
  let cloudWatch: FakeCloudWatch;
  let sd: ServiceDiscoveryClient;
  let cw: CloudWatchClient;
  let client: grpc.Client;

  const writeRegistry = (entries: { id: string; port: number }[]): void => {
    writeFileSync(registryPath + ".tmp", JSON.stringify({ deployments: entries }));
    // Rename, so the router never reads half a file.
    renameSync(registryPath + ".tmp", registryPath);
  };
  const asInstances = (entries: { id: string; port: number }[]): FakeInstance[] => entries.map((e) => ({ id: e.id, ipv4: "127.0.0.1", port: e.port }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "probe-router-"));
    registryPath = join(dir, "registry.json");
    good = await startDemoAgent({ deploymentId: "good" });
    sick = await startDemoAgent({ deploymentId: "sick", unhealthy: true });
    hung = await startDemoAgent({ deploymentId: "hung", hang: true });
    const dead = await startDemoAgent({ deploymentId: "dead" });
    deadPort = dead.port;
    await dead.stop(true);
    writeRegistry([{ id: "good", port: good.port }]);
    router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${registryPath}`, logger: silentLogger });
    cloudMap = await startFakeCloudMap();
    cloudWatch = await startFakeCloudWatch();
    sd = cloudMap.client();
    cw = cloudWatch.client();
  });
  after(async () => {
    sd.destroy();
    cw.destroy();
    await router.close();
    await Promise.all([good.stop(true), sick.stop(true), hung.stop(true), cloudMap.close(), cloudWatch.close()]);
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    client = createProbeClient(`127.0.0.1:${router.port}`);
    cloudWatch.accepted.length = 0;
  });
  afterEach(() => { client.close(); });

  /** Points the router and Cloud Map at `entries` (Cloud Map may list extra ids the router does not know). */
  async function register(entries: { id: string; port: number }[], cloudMapOnly: { id: string; port: number }[] = []): Promise<void> {
    writeRegistry(entries);
    cloudMap.setInstances(asInstances([...entries, ...cloudMapOnly]));
    const until = Date.now() + 5000;
    while (router.registry.list().length !== entries.length || !entries.every((e) => router.registry.list().some((d) => d.id === e.id && d.port === e.port))) {
      if (Date.now() > until) throw new Error("router did not load the registry file");
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const run = (timeoutMs: number, concurrency = 64) => runProbe({
    discover: () => discoverFromCloudMap(sd, { namespace: cloudMap.namespace, service: cloudMap.service, serviceId: cloudMap.serviceId }),
    client, timeoutMs, concurrency, metricsNamespace: "Pixell/A2A",
    sink: async (batches) => { await putBatches(cw, batches, { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 }); },
  });

  const arrived = (): WireMetricDatum[] => cloudWatch.accepted.flatMap((a) => a.MetricData);
  const runMetric = (name: string): number | undefined => arrived().find((d) => d.MetricName === name && !d.Dimensions)?.Value;

  it("tells healthy, ok:false, unknown (NOT_FOUND), dead port (UNAVAILABLE) and hung (DEADLINE_EXCEEDED) apart", async () => {
    await register(
      [{ id: "good", port: good.port }, { id: "sick", port: sick.port }, { id: "hung", port: hung.port }, { id: "dead", port: deadPort }],
      [{ id: "ghost", port: 1 }],
    );
    const summary = await run(1500);
    const byId = Object.fromEntries(summary.results.map((r) => [r.deploymentId, r]));
    assert.deepEqual([byId.good!.ok, byId.good!.codeName, byId.good!.message], [true, "OK", "deployment good is healthy"]);
    assert.deepEqual([byId.sick!.ok, byId.sick!.codeName, byId.sick!.message], [false, "OK", "deployment sick is unhealthy"]);
    assert.deepEqual([byId.ghost!.ok, byId.ghost!.code, byId.ghost!.codeName], [false, 5, "NOT_FOUND"]);
    assert.match(byId.ghost!.message, /deployment ghost is not registered/);
    assert.deepEqual([byId.dead!.ok, byId.dead!.code, byId.dead!.codeName], [false, 14, "UNAVAILABLE"]);
    assert.match(byId.dead!.message, /agent for deployment dead at 127\.0\.0\.1:\d+ .*ECONNREFUSED/);
    assert.deepEqual([byId.hung!.ok, byId.hung!.codeName], [false, "DEADLINE_EXCEEDED"]);
    assert.deepEqual([summary.probed, summary.healthy, summary.unhealthy, summary.notProbed], [5, 1, 4, 0]);

    // Failure-only series: the four failing deployments, nothing for the healthy one. (Four of five is a
    // platform-incident share, but five failing deployments are the least that make one.)
    const failing = Object.fromEntries(arrived().filter((d) => d.MetricName === "DeploymentFailing").map((d) => [d.Dimensions![0]!.Value, d.Value]));
    assert.deepEqual(failing, { dead: 1, ghost: 1, hung: 1, sick: 1 });
    const latency = arrived().filter((d) => d.MetricName === "ProbeLatency");
    assert.equal(latency.reduce((n, d) => n + (d.Counts as number[]).reduce((a, b) => a + b, 0), 0), 2, "latency only for the two calls the agent answered");
    assert.deepEqual(["DeploymentsProbed", "DeploymentsUnhealthy", "DiscoveryErrors", "EndpointReachable"].map(runMetric), [5, 4, 0, 1]);
  });

  it("probes 1000 deployments, 20 of them hung, in about one deadline, and emits them in one PutMetricData call", async () => {
    const entries = Array.from({ length: 1000 }, (_, i) => {
      const id = `dep-${String(i).padStart(4, "0")}`;
      return { id, port: i % 50 === 25 ? hung.port : good.port };
    });
    await register(entries);
    const timeoutMs = 3000;
    const summary = await run(timeoutMs);
    assert.deepEqual([summary.probed, summary.healthy, summary.unhealthy, summary.notProbed], [1000, 980, 20, 0]);
    assert.ok(summary.results.filter((r) => !r.ok).every((r) => r.codeName === "DEADLINE_EXCEEDED"));
    // One deadline per hung agent would be 20 x 3 s; concurrent probes finish in a few (the bound is
    // loose because the machine is shared: what it checks is "not one after another").
    assert.ok(summary.durationMs < 8 * timeoutMs, `took ${summary.durationMs} ms: the hung probes ran one after another`);
    if (process.env.PROBE_TEST_REPORT) process.stderr.write(`1000 deployments through the router: ${summary.durationMs} ms\n`);
    assert.equal(cloudMap.count("ListInstances"), 10, "a full DiscoverInstances page was completed with ListInstances");
    // Flat: 9 fleet data (latency as Values/Counts, at most 150 values a datum) + 20 failing series, in one request.
    assert.equal(cloudWatch.accepted.length, 1);
    assert.deepEqual(arrived().filter((d) => d.MetricName === "DeploymentFailing").map((d) => d.Value), Array.from({ length: 20 }, () => 1));
    const latency = arrived().filter((d) => d.MetricName === "ProbeLatency");
    assert.equal(latency.reduce((n, d) => n + (d.Counts as number[]).reduce((a, b) => a + b, 0), 0), 980);
    assert.ok(latency.every((d) => (d.Values as number[]).length <= 150));
    assert.deepEqual(["DeploymentsProbed", "DeploymentsUnhealthy", "DeploymentsNotProbed"].map(runMetric), [1000, 20, 0]);
    const registered = arrived().filter((d) => d.MetricName === "RegisteredInstances");
    assert.deepEqual(registered.map((d) => [d.Dimensions, d.Value]), [[[{ Name: "CloudMapService", Value: "agents" }], 1000]]);
  });
});
